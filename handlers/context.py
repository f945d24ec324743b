"""The per-message context handlers work with: the app, one session, now, who is asking."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.app import Duban, owner_of
from bot.messages import GROUP, Button, Incoming
from bot.models import ChatMemory, Conversation, Person, Team
from bot.services.people import group_team

_UNKNOWN = object()
#: a short follow-up ("催一下", "批示 加快进度") refers to the last topic for this long
TOPIC_MINUTES = 10
# built once (see bot.services.tasks on why): every free-text message reads the chat's memory
_MEMORY = select(ChatMemory).where(ChatMemory.channel == bindparam("channel"),
                                   ChatMemory.chat_id == bindparam("chat_id"),
                                   ChatMemory.person_id == bindparam("person_id"))


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
    _memory: Any = field(default=None, repr=False)
    #: what handlers.understand made of the message (for tests and the corpus report)
    last_understanding: Any = field(default=None, repr=False)
    _group_team: Any = field(default=None, repr=False)
    #: (id, name) of every person, read once per message (handlers.understand)
    _people_names: Optional[list[tuple[int, str]]] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._conversation = _UNKNOWN
        self._memory = _UNKNOWN
        self._group_team = _UNKNOWN

    def group_team(self) -> Optional[Team]:
        """The team this group chat is bound to (None in a private chat or an unbound group)."""
        if self._group_team is _UNKNOWN:
            self._group_team = (group_team(self.session, self.msg.channel, self.msg.chat_id)
                                if self.msg.chat_type == GROUP else None)
        return self._group_team

    def known_conversation(self, conv: Optional[Conversation]) -> None:
        """The dialogue was read already (with the person, see people.identify_in_chat)."""
        if self.person is not None:
            self._conversation = conv

    def button(self, label: str, *parts: object) -> Button:
        """A button for this chat: stamped now, for this person (in a team's group: the team)."""
        team = self.group_team()
        owner = owner_of(team_id=team.id) if team is not None else owner_of(
            person_id=self.person.id if self.person is not None else None)
        return Button(label, self.app.sign(*parts, issued=self.now, owner=owner))

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

    # -- what this chat talked about last (handlers.understand): one small row per chat
    def _memory_row(self) -> Optional[ChatMemory]:
        if self.person is None:
            return None
        if self._memory is _UNKNOWN:
            self._memory = self.session.scalar(_MEMORY, {"channel": self.msg.channel, "chat_id": self.msg.chat_id,
                                                         "person_id": self.person.id})
        return self._memory

    def fresh_topic(self) -> Optional[dict]:
        """The chat's last topic (task, indicator, team, list) if it is at most TOPIC_MINUTES old."""
        topic = self.memory().get("topic")
        if not topic:
            return None
        try:
            at = datetime.fromisoformat(topic["at"])
        except (KeyError, ValueError):
            return None
        return topic if self.now - at <= timedelta(minutes=TOPIC_MINUTES) else None

    def topic_task(self) -> Optional[int]:
        """The task the chat was last about (fresh), or None."""
        topic = self.fresh_topic()
        return topic["id"] if topic and topic.get("kind") == "task" else None

    def memory(self) -> dict[str, Any]:
        row = self._memory_row()
        return dict(row.data or {}) if row is not None else {}

    def remember(self, **values: Any) -> None:
        """Merge ``values`` into the chat's memory (None removes a key)."""
        if self.person is None:
            return
        row = self._memory_row()
        data = dict(row.data or {}) if row is not None else {}
        for key, value in values.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        if row is not None and data == row.data:
            return  # nothing new: no write
        if row is None:
            row = ChatMemory(channel=self.msg.channel, chat_id=self.msg.chat_id,
                             person_id=self.person.id, data=data, updated_at=self.now)
            self.session.add(row)
            self._memory = row
        else:
            row.data, row.updated_at = data, self.now
