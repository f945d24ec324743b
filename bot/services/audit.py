"""The audit trail (留痕): every change records who, when, and what it replaced."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

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
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor_id=actor.id if actor else None,
        action=action,
        entity=entity,
        entity_key=entity_key,
        before=_jsonable(before),
        after=_jsonable(after),
    )
    session.add(entry)
    return entry


def _jsonable(values: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out
