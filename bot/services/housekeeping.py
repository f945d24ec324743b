"""Housekeeping: keep tables that only guard against repeats from growing without bound."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.models import InboundSeen

#: Telegram keeps undelivered updates for 24 hours and WeCom retries within seconds, so a
#: message id older than this can no longer come back.
SEEN_KEEP = timedelta(days=3)


def prune_inbound_seen(session: Session, now: datetime, keep: timedelta = SEEN_KEEP) -> int:
    """Forget incoming-message ids older than ``keep``; returns how many were removed."""
    result = session.execute(delete(InboundSeen).where(InboundSeen.seen_at < now - keep))
    return getattr(result, "rowcount", 0) or 0  # a DELETE's CursorResult
