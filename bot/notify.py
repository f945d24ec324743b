"""Pushing messages out (reminders, digests, escalations): the contract between jobs and
channels. Jobs hand a Reply and an address to a Notifier; channels implement the sending.

Addresses are (channel, chat_id): ``telegram`` + private chat id, ``wecom`` + userid,
``wecom_robot`` + a group robot key, ``console`` + a name.
"""
from __future__ import annotations

import logging
from typing import Optional, Protocol

from bot.messages import Reply

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send that failed. ``retry_after`` (seconds) when the platform said when to retry;
    ``permanent`` when retrying cannot help (blocked by the user, unknown chat)."""

    def __init__(self, message: str, retry_after: Optional[float] = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Notifier(Protocol):
    #: False when pictures are not worth sending there (the push goes out as text only)
    can_send_photos: bool

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver one reply to one chat, or raise DeliveryError."""


class NotifierRouter:
    """Routes a push to the notifier of its channel."""

    def __init__(self) -> None:
        self._by_channel: dict[str, Notifier] = {}

    def register(self, channel: str, notifier: Notifier) -> None:
        self._by_channel[channel] = notifier

    def channels(self) -> set[str]:
        return set(self._by_channel)

    def can_send_photos(self, channel: str) -> bool:
        notifier = self._by_channel.get(channel)
        return notifier is not None and getattr(notifier, "can_send_photos", True)

    async def send(self, channel: str, chat_id: str, reply: Reply) -> None:
        notifier = self._by_channel.get(channel)
        if notifier is None:
            raise DeliveryError(f"no notifier for channel {channel}", permanent=True)
        await notifier.send(chat_id, reply)
