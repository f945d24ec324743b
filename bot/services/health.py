"""Health: is the bot able to do its job? ``/healthz`` and ``run.py health`` both ask this.

Three checks, each with a plain reason when it fails:

* the database answers ``SELECT 1`` within ``health.db_timeout_seconds``;
* the reminder tick (``outbox_store.last_tick``, shared by all instances) is at most
  ``health.tick_stale_factor`` × ``reminders.tick_seconds`` old (skipped when reminders are off);
* no pending outbox row has been due for longer than ``health.outbox_max_age_minutes``
  (rows waiting for quiet hours or a retry are not due yet, so they do not count; nor do rows
  recorded less than that long ago, e.g. the catch-up at start-up of occasions missed while down).

Also the cheap numbers ``/metrics`` reads at scrape time (outbox counts by kind and status).
"""
from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.models import OutboxMessage, OutboxStatus
from bot.services.outbox_store import last_tick

#: one worker for the database check, so a hung connection attempt cannot block the caller
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


@dataclass
class Health:
    ok: bool = True
    reasons: list[str] = field(default_factory=list)
    last_tick: Optional[datetime] = None
    oldest_due: Optional[datetime] = None

    def fail(self, reason: str) -> None:
        self.ok = False
        self.reasons.append(reason)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "reasons": self.reasons,
                "last_tick": self.last_tick.isoformat() if self.last_tick else None,
                "oldest_pending_due": self.oldest_due.isoformat() if self.oldest_due else None}


def _probe(sessions: sessionmaker[Session], recorded_before: datetime) -> tuple[Optional[datetime], Optional[datetime]]:
    """The last tick, and the oldest due time of pending rows recorded before
    ``recorded_before`` (a catch-up at start records rows due hours ago: not a backlog yet)."""
    with sessions() as session:
        session.execute(text("SELECT 1"))
        tick = last_tick(session)
        oldest = session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                .where(OutboxMessage.status == OutboxStatus.PENDING,
                                       OutboxMessage.created_at <= recorded_before))
        return tick, oldest


def check_health(sessions: sessionmaker[Session], config: Config, now: datetime) -> Health:
    """Run the checks (blocking; at most about ``db_timeout_seconds``)."""
    health = Health()
    hc = config.health
    backlog = timedelta(minutes=hc.outbox_max_age_minutes)
    future = _POOL.submit(_probe, sessions, now - backlog)
    try:
        tick, oldest = future.result(timeout=hc.db_timeout_seconds)
    except concurrent.futures.TimeoutError:
        health.fail(f"database: no answer within {hc.db_timeout_seconds:g}s")
        return health
    except Exception as error:  # any database failure is the reason
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        health.fail(f"database: {type(error).__name__}: {detail[0] if detail else ''}"[:300])
        return health
    health.last_tick, health.oldest_due = tick, oldest
    if config.reminders.enabled:
        limit = timedelta(seconds=config.reminders.tick_seconds * hc.tick_stale_factor)
        if tick is None:
            health.fail("reminders: no tick recorded yet")
        elif now - tick > limit:
            health.fail(f"reminders: last tick {int((now - tick).total_seconds())}s ago "
                        f"(limit {int(limit.total_seconds())}s)")
    if oldest is not None:
        age = now - oldest
        if age > backlog:
            health.fail(f"outbox: a pending message has been due for {int(age.total_seconds() // 60)} min "
                        f"(limit {hc.outbox_max_age_minutes:g} min)")
    return health


def outbox_counts(session: Session) -> list[tuple[str, str, int]]:
    """(kind, status, count) for the whole outbox: one GROUP BY (the table is kept short by
    the retention job)."""
    rows = session.execute(select(OutboxMessage.kind, OutboxMessage.status, func.count())
                           .group_by(OutboxMessage.kind, OutboxMessage.status))
    return [(kind, status, count) for kind, status, count in rows]
