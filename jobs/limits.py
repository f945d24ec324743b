"""The outbox's shared send limits (bot.services.send_limits) as an awaitable gate: one
``acquire(channel, chat_id)`` before each push. Only on PostgreSQL with
``sending.shared_limits`` on: that is where several instances can run; on SQLite there is
one instance and each channel's own limiter is enough."""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from bot.app import Duban
from bot.notify import WaitExceedsLease
from bot.services.send_limits import buckets_for, take

logger = logging.getLogger(__name__)

#: never sleep longer than this between tries (another instance may have freed tokens)
MAX_NAP = 2.0


class SharedLimits:
    def __init__(self, app: Duban) -> None:
        self.app = app
        self.config = app.config.sending

    def _take(self, buckets) -> float:
        with self.app.sessions.begin() as session:
            return take(session, buckets)

    async def acquire(self, channel: str, chat_id: str, max_wait: Optional[float] = None) -> float:
        """Wait for a token of the channel's and the chat's buckets; returns the seconds
        waited. Raises WaitExceedsLease when the wait would outlast ``max_wait`` (the push's
        claim): nothing is spent, and the outbox sends it again later."""
        buckets = buckets_for(self.config, channel, chat_id)
        waited = 0.0
        while buckets:
            wait = await asyncio.to_thread(self._take, buckets)
            if wait <= 0:
                break
            if max_wait is not None and waited + wait > max_wait:
                raise WaitExceedsLease(f"shared send limit for {channel}: wait {wait:.1f}s", retry_after=wait)
            nap = min(wait, MAX_NAP)
            await asyncio.sleep(nap)
            waited += nap
        return waited


def shared_limits_for(app: Duban) -> Optional[SharedLimits]:
    if app.config.sending.shared_limits and app.engine.dialect.name == "postgresql":
        return SharedLimits(app)
    return None
