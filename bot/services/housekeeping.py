"""Housekeeping: keep what only guards against repeats, generated files and finished pushes
from growing without bound (``retention:`` in config.yaml; what is kept where: docs/data.md).

* incoming-message ids (``inbound_seen``): 3 days;
* generated files in ``data.out_dir`` (Excel exports, charts, weekly-brief pictures; they hold
  names and progress): ``retention.out_files_days``;
* outbox rows that are finished (sent, skipped, superseded, no address):
  ``retention.sent_outbox_days`` after they were sent or created; failed ones:
  ``retention.failed_outbox_days``. Never sooner than ``reminders.catchup_days`` + 1, so a
  catch-up after downtime cannot record a deleted occasion again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import and_, delete, func, insert, or_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Config
from bot.models import InboundSeen, MetaEntry, OutboxMessage, OutboxStatus

#: Telegram keeps undelivered updates for 24 hours and WeCom retries within seconds, so a
#: message id older than this can no longer come back.
SEEN_KEEP = timedelta(days=3)
FINISHED = (OutboxStatus.SENT, OutboxStatus.SKIPPED, OutboxStatus.SUPERSEDED, OutboxStatus.NO_ADDRESS)


@dataclass
class Swept:
    seen: int = 0
    outbox: int = 0
    files: int = 0

    def __bool__(self) -> bool:
        return bool(self.seen or self.outbox or self.files)


def prune_inbound_seen(session: Session, now: datetime, keep: timedelta = SEEN_KEEP) -> int:
    """Forget incoming-message ids older than ``keep``; returns how many were removed."""
    result = cast(CursorResult, session.execute(delete(InboundSeen).where(InboundSeen.seen_at < now - keep)))
    return result.rowcount or 0


def prune_outbox(session: Session, now: datetime, config: Config) -> int:
    """Delete finished outbox rows past their retention; returns how many."""
    floor = config.reminders.catchup_days + 1
    sent_before = now - timedelta(days=max(config.retention.sent_outbox_days, floor))
    failed_before = now - timedelta(days=max(config.retention.failed_outbox_days, floor))
    finished_at = func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at)
    result = cast(CursorResult, session.execute(delete(OutboxMessage).where(or_(
        and_(OutboxMessage.status.in_(FINISHED), finished_at < sent_before),
        and_(OutboxMessage.status == OutboxStatus.FAILED, OutboxMessage.created_at < failed_before),
    )).execution_options(synchronize_session=False)))
    return result.rowcount or 0


def prune_files(folder: Path, now: datetime, days: int) -> int:
    """Remove regular files under ``folder`` last changed more than ``days`` ago."""
    if not folder.is_dir():
        return 0
    cutoff = (now - timedelta(days=days)).timestamp()
    removed = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue  # removed by another instance meanwhile, or not ours
    return removed


def sweep(session: Session, now: datetime, config: Config, out_dir: Path) -> Swept:
    """One housekeeping round (the hourly job)."""
    return Swept(seen=prune_inbound_seen(session, now), outbox=prune_outbox(session, now, config),
                 files=prune_files(out_dir, now, config.retention.out_files_days))


def claim_daily(session: Session, key: str, day: str) -> bool:
    """True for the first caller of the day across all instances (the daily backup runs once):
    a conditional UPDATE of one meta row, inserted the first time."""
    moved = cast(CursorResult, session.execute(
        update(MetaEntry).where(MetaEntry.key == key, MetaEntry.value < day)
        .values(value=day).execution_options(synchronize_session=False)))
    if moved.rowcount:
        return True
    if session.get(MetaEntry, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.execute(insert(MetaEntry).values(key=key, value=day))
        return True
    except IntegrityError:  # another instance inserted it first
        return False
