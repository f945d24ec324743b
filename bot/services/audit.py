"""The audit trail (留痕): every change records who, when, and what it replaced."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from bot.models import AuditEntry, Person


def record(
    session: Session,
    now: datetime,
    actor: Optional[Person],
    action: str,
    entity: str,
    entity_key: Optional[str],
    before: Optional[dict[str, Any]] = None,
    after: Optional[dict[str, Any]] = None,
) -> None:
    """Append one entry. A Core INSERT (the log is append-only and never read back here),
    executed at once in the caller's transaction; ``actor`` must already have an id."""
    session.connection().execute(insert(cast(Table, AuditEntry.__table__)), [dict(
        at=now,
        actor_id=actor.id if actor else None,
        action=action,
        entity=entity,
        entity_key=entity_key,
        before=_jsonable(before),
        after=_jsonable(after),
    )])


def _jsonable(values: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out
