"""Pushing messages out (reminders, digests, escalations): the contract between jobs and
channels. Jobs hand a Reply and an address to a Notifier; channels implement the sending.

Addresses are (channel, chat_id): ``telegram`` + private chat id, ``wecom`` + userid,
``wecom_robot`` + a group robot key, ``console`` + a name.

A push holds a lease on its outbox row while it is sent; ``max_wait`` tells the notifier how
long it may wait on the platform's rate limits (a 429's ``retry_after``, a client-side quota)
before it must give the row back: a longer wait raises ``WaitExceedsLease`` at once instead of
sleeping, and the outbox releases the row to be sent after ``retry_after`` (by whichever
process claims it then), so a claim never outlives its send.
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


class WaitExceedsLease(DeliveryError):
    """The platform asked to wait ``retry_after`` seconds, longer than the push may hold its
    claim (``max_wait``): nothing was sent (of this part); send it again after ``retry_after``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class Notifier(Protocol):
    async def send(self, chat_id: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        """Deliver one reply to one chat, or raise DeliveryError. With ``max_wait`` (seconds),
        a rate-limit wait longer than that raises WaitExceedsLease instead of sleeping."""


class NotifierRouter:
    """Routes a push to the notifier of its channel."""

    def __init__(self) -> None:
        self._by_channel: dict[str, Notifier] = {}

    def register(self, channel: str, notifier: Notifier) -> None:
        self._by_channel[channel] = notifier

    def channels(self) -> set[str]:
        return set(self._by_channel)

    async def send(self, channel: str, chat_id: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        notifier = self._by_channel.get(channel)
        if notifier is None:
            raise DeliveryError(f"no notifier for channel {channel}", permanent=True)
        await notifier.send(chat_id, reply, max_wait=max_wait)
