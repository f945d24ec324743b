"""The per-message context handlers work with: the app, one session, now, who is asking."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import Duban
from bot.messages import Button, Incoming
from bot.models import Conversation, Person

_UNKNOWN = object()


@dataclass
class Ctx:
    app: Duban
    session: Session
    now: datetime
    msg: Incoming
    #: the person asking. Typed as always present because dispatch guarantees it for every
    #: handler that needs one (handlers.core: an unbound user reaches only Action.ANYONE
    #: commands, and those, like /start, test ``ctx.person is None`` themselves)
    person: Person
    _conversation: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._conversation = _UNKNOWN

    def known_conversation(self, conv: Optional[Conversation]) -> None:
        """The dialogue was read already (with the person, see people.identify_in_chat)."""
        if self.person is not None:
            self._conversation = conv

    def button(self, label: str, *parts: object) -> Button:
        return Button(label, self.app.sign(*parts))

    # -- conversation state, kept in the database so a restart loses nothing
    def conversation(self) -> Optional[Conversation]:
        if self.person is None:
            return None
        if self._conversation is _UNKNOWN:
            self._conversation = self.session.scalar(select(Conversation).where(
                Conversation.channel == self.msg.channel, Conversation.chat_id == self.msg.chat_id,
                Conversation.person_id == self.person.id))
        return self._conversation

    def start_conversation(self, flow: str, step: str, data: dict[str, Any]) -> Conversation:
        assert self.person is not None
        conv = self.conversation()
        if conv is None:
            conv = Conversation(channel=self.msg.channel, chat_id=self.msg.chat_id,
                                person_id=self.person.id, flow=flow, step=step, data=data,
                                updated_at=self.now)
            self.session.add(conv)
            self._conversation = conv
        else:
            conv.flow, conv.step, conv.data, conv.updated_at = flow, step, dict(data), self.now
        self.session.flush()
        return conv

    def end_conversation(self) -> None:
        conv = self.conversation()
        if conv is not None:
            self.session.delete(conv)
            self.session.flush()
        self._conversation = None
