"""The outbox table as a store: record due pushes once (dedupe key), direct pushes, admin warnings, the last tick."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config, RemindersConfig
from bot.models import (
    MetaEntry,
    OutboxMessage,
    Person,
)
from bot.services.digests import fill_content
from bot.services.reminder_rules import LAST_TICK_KEY, PENDING, SENT, Due
from bot.workdays import missing_year_notice

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- the outbox

def _insert(session: Session, target=OutboxMessage):
    """INSERT for the session's dialect, which knows ON CONFLICT DO NOTHING."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(target)


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        found.update(session.scalars(select(OutboxMessage.dedupe_key)
                                     .where(OutboxMessage.dedupe_key.in_(chunk))))
    return found


def enqueue(session: Session, dues: Sequence[Due], now: datetime,
            config: Config | RemindersConfig | None = None) -> list[Due]:
    """Record occasions in the outbox; those already there are left alone. Returns the new ones.

    With ``config``, digests and briefs get their text (those already recorded are skipped
    before it is computed; those with nothing to say are dropped).
    """
    if not dues:
        return []
    known = existing_keys(session, (d.dedupe_key for d in dues))
    fresh = [d for d in dues if d.dedupe_key not in known]
    if config is not None:
        fresh = fill_content(session, fresh, now, config)
    inserted: list[Due] = []
    for i in range(0, len(fresh), 500):
        chunk = fresh[i:i + 500]
        rows = [dict(dedupe_key=d.dedupe_key, kind=d.kind, person_id=d.person_id, task_id=d.task_id,
                     payload=d.payload(), due_at=d.due_at, created_at=now, status=PENDING,
                     attempts=0, next_attempt_at=d.due_at, late=d.late) for d in chunk]
        table = OutboxMessage.__table__
        stmt = _insert(session, table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        stmt = stmt.returning(table.c.dedupe_key)
        # Core executemany ("insertmanyvalues"): one round trip per batch, only inserted keys return
        keys = set(session.connection().execute(stmt, rows).scalars())
        inserted.extend(d for d in chunk if d.dedupe_key in keys)
    return inserted


def push(session: Session, now: datetime, key: str, kind: str, person_id: int, text: str,
         actions: Sequence[str] = (), task_id: Optional[int] = None,
         due_at: Optional[datetime] = None) -> bool:
    """Record one message for a person (extension notices, admin warnings); False if present."""
    return bool(enqueue(session, [Due(key, kind, person_id, due_at or now, text, task_id, list(actions))], now))


def warn_admins(session: Session, now: datetime, key: str, text: str) -> int:
    admins = session.scalars(select(Person.id).where(Person.is_admin.is_(True), Person.active.is_(True))).all()
    return len(enqueue(session, [Due(f"{key}:{pid}", "admin", pid, now, text) for pid in admins], now))


def warn_missing_years(session: Session, now: datetime, years: Iterable[int]) -> int:
    count = 0
    for year in sorted(set(years)):
        count += warn_admins(session, now, f"calendar-missing:{year}", missing_year_notice(year))
    return count


def is_current_push(session: Session, row_id: int, person_id: Optional[int]) -> bool:
    """Whether a pushed reminder is still current, so its buttons stay valid past their age:
    the row exists, went to ``person_id``, and no later push of the same kind for the same task
    was sent to that person since."""
    row = session.get(OutboxMessage, row_id)
    if row is None or person_id is None or row.person_id != person_id:
        return False
    same_task = (OutboxMessage.task_id == row.task_id if row.task_id is not None
                 else OutboxMessage.task_id.is_(None))
    newer = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.person_id == person_id, OutboxMessage.kind == row.kind, same_task,
        OutboxMessage.id > row.id, OutboxMessage.status == SENT).limit(1))
    return newer is None


def last_tick(session: Session) -> Optional[datetime]:
    entry = session.get(MetaEntry, LAST_TICK_KEY)
    return datetime.fromisoformat(entry.value) if entry else None


def set_last_tick(session: Session, now: datetime) -> None:
    """Remember the latest tick (an upsert, so two processes starting together are fine)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    previous = last_tick(session)
    if previous is not None and previous >= now:
        return
    stmt = insert(MetaEntry).values(key=LAST_TICK_KEY, value=now.isoformat())
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": now.isoformat()}))
    session.expire_all()
