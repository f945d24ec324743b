"""Reads of open 批示 (no writes, no pushes): for the card, the lead's digest and the brief.

Kept apart from ``bot.services.instructions`` (which pushes through the outbox) so the digest
and brief code the outbox itself uses can read them without an import cycle.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.models import Instruction, Person, Task, Team

# built once with a bound parameter: every task card runs it
_OPEN = (select(Instruction).where(Instruction.task_id == bindparam("task_id"), Instruction.answered_at.is_(None))
         .order_by(Instruction.created_at, Instruction.id))


def open_instructions(session: Session, task: Task) -> list[Instruction]:
    """Unanswered 批示 on a task, oldest first (the ``ix_instructions_open`` index)."""
    return list(session.scalars(_OPEN, {"task_id": task.id}))


def open_by_team(session: Session, team_ids: list[int]) -> dict[int, list[tuple[str, str, datetime]]]:
    """Open 批示 of the given teams' tasks: team -> [(task name, 批示, when)], oldest first."""
    if not team_ids:
        return {}
    out: dict[int, list[tuple[str, str, datetime]]] = {}
    for team_id, name, text, at in session.execute(
            select(Task.team_id, Task.name, Instruction.text, Instruction.created_at)
            .join(Task, Instruction.task_id == Task.id)
            .where(Instruction.answered_at.is_(None), Task.team_id.in_(team_ids))
            .order_by(Instruction.created_at, Instruction.id)):
        assert team_id is not None  # in_(team_ids) matches no NULL
        out.setdefault(team_id, []).append((name, text, at))
    return out


def open_all(session: Session) -> list[tuple[str, str, Optional[str], str, datetime]]:
    """Every open 批示: (task, team, leader, 批示, when), oldest first — for the brief."""
    rows = session.execute(
        select(Task.name, Team.name, Person.name, Instruction.text, Instruction.created_at)
        .join(Task, Instruction.task_id == Task.id)
        .outerjoin(Team, Task.team_id == Team.id)
        .outerjoin(Person, Instruction.leader_id == Person.id)
        .where(Instruction.answered_at.is_(None))
        .order_by(Instruction.created_at, Instruction.id))
    return [(task, team or "未分配", leader, text, at) for task, team, leader, text, at in rows]
