"""Tasks: finding one by name or key, recent updates, recording a progress update."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from bot.config import LightsConfig
from bot.models import (
    STATUS_ACTIVE,
    STATUS_DONE,
    Milestone,
    Person,
    Task,
    TaskUpdate,
    Team,
)
from bot.services import audit
from bot.services.errors import InvalidInput, NeedsConfirmation, NotFound
from bot.services.lights import refresh_light_dates
from bot.services.lookup import KIND_TASK, NAMES
from bot.services.people import require_can_update
from bot.services.text import fmt_number

# ---------------------------------------------------------------- finding tasks

def get_task_by_key(session: Session, key: str) -> Optional[Task]:
    return session.scalar(select(Task).where(Task.key == key))


# Hot read statements are built once, with bound parameters: building an ORM select costs
# more than running it on SQLite (~0.5 ms a message). The task comes with its team and owner
# in one row; that puts them in the session, so ``task.team`` / ``task.owner`` are then
# resolved from the session without another query.
_TASK_WITH_TEAM_OWNER = (
    select(Task, Team, Person)
    .outerjoin(Team, Task.team_id == Team.id)
    .outerjoin(Person, Task.owner_id == Person.id)
)
_TASK = select(Task).where(Task.id == bindparam("task_id"))
_CARD_TASK = _TASK_WITH_TEAM_OWNER.where(Task.id == bindparam("task_id"))
PAGE_TASKS = _TASK_WITH_TEAM_OWNER.where(Task.id.in_(bindparam("ids", expanding=True)))


def with_team_owner(rows) -> list[Task]:
    tasks = []
    for task, _team, _owner in rows:
        task.team, task.owner  # noqa: B018 - resolved from the row's objects now, no query
        tasks.append(task)
    return tasks


def get_task_for_card(session: Session, task_id: int) -> Optional[Task]:
    """The task with its team and owner loaded (what a card and a list row show)."""
    tasks = with_team_owner(session.execute(_CARD_TASK, {"task_id": task_id}))
    return tasks[0] if tasks else None


def find_task(session: Session, text: str, for_card: bool = False) -> Task:
    """One task from a name, alias, pinyin or typo; NotFound lists close candidates.
    ``for_card`` loads its team and owner with it (see get_task_for_card)."""
    match = NAMES.find(session, text, kinds={KIND_TASK})
    if match.best:
        if for_card:
            return get_task_for_card(session, match.best[1])
        return session.scalar(_TASK, {"task_id": match.best[1]})
    names = [NAMES.name_of(session, ref) for ref in match.candidates]
    if names and match.how == "ambiguous":
        raise NotFound(f"“{text.strip()}”对应多个事项,请写全名:", names)
    if names:
        raise NotFound(f"没有找到事项“{text.strip()}”。相近的有:", names[:3])
    raise NotFound(f"没有找到事项“{text.strip()}”。发 /tasks 看全部事项。")


# ---------------------------------------------------------------- updates

@dataclass
class UpdateResult:
    task: Task
    update: TaskUpdate
    completed: bool


def record_update(
    session: Session,
    now: datetime,
    person: Person,
    task: Task,
    rules: LightsConfig,
    progress: Optional[float] = None,
    note: Optional[str] = None,
    milestone: Optional[Milestone] = None,
    photo_file_id: Optional[str] = None,
    photo_path: Optional[str] = None,
    channel: Optional[str] = None,
    source_ref: Optional[str] = None,
    confirm_lower: bool = False,
    problems: Optional[str] = None,
    next_steps: Optional[str] = None,
) -> UpdateResult:
    """Log one progress report (append-only) and move the task's card and light.

    Raises InvalidInput for a progress outside 0-100 or an empty report, NeedsConfirmation
    when the progress goes down (call again with ``confirm_lower=True``), and
    PermissionDenied when the person may not update this task. ``source_ref`` is unique in
    the database, so the same incoming message can never be logged twice.
    """
    require_can_update(person, task)
    note = (note or "").strip() or None
    if note and len(note) > 1000:
        raise InvalidInput(f"进展说明太长({len(note)}字),请控制在1000字以内。")
    if progress is not None and not (0 <= progress <= 100) or progress is not None and math.isnan(progress):
        raise InvalidInput("进度要在 0% 到 100% 之间,例如:65%。")
    problems = (problems or "").strip() or None
    next_steps = (next_steps or "").strip() or None
    if progress is None and note is None and milestone is None and photo_file_id is None \
            and problems is None and next_steps is None:
        raise InvalidInput("请写上进度或进展说明,例如:/update 纳图电气 65% 主体厂房封顶")
    if task.status == STATUS_DONE and progress is not None and progress < 100 and not confirm_lower:
        raise NeedsConfirmation(
            f"“{task.name}”已标记完成。确定把进度改回 {fmt_number(progress)}% 吗?",
            {"task_key": task.key, "progress": progress, "note": note},
        )
    if (progress is not None and task.progress is not None and progress < task.progress
            and not confirm_lower):
        raise NeedsConfirmation(
            f"“{task.name}”上次报的是 {fmt_number(task.progress)}%,这次 {fmt_number(progress)}% 更低。确定吗?",
            {"task_key": task.key, "progress": progress, "note": note},
        )
    before = {"progress": task.progress, "status": task.status}
    values = dict(task_id=task.id, author_id=person.id, created_at=now, progress=progress,
                  previous_progress=task.progress, note=note,
                  milestone_id=milestone.id if milestone else None, photo_file_id=photo_file_id,
                  photo_path=photo_path, channel=channel, source_ref=source_ref,
                  problems=problems, next_steps=next_steps)
    # Written with one Core INSERT rather than as an ORM object: updates are append-only and
    # never read back in this transaction; this skips the ORM unit of work (see bench/).
    session.connection().execute(insert(TaskUpdate.__table__), [values])
    update = TaskUpdate(**values)  # transient, for the receipt; not added to the session
    update.author, update.milestone = person, milestone
    if milestone is not None and milestone.done_at is None:
        milestone.done_at = now
        milestone.done_by_id = person.id
    if progress is not None:
        task.progress = progress
    if problems is not None:
        task.problems = problems
    if next_steps is not None:
        task.next_steps = next_steps
    completed = progress is not None and progress >= 100 and task.status != STATUS_DONE
    if completed:
        task.status = STATUS_DONE
    elif progress is not None and progress < 100 and task.status == STATUS_DONE:
        task.status = STATUS_ACTIVE
    task.last_update_at = now
    task.last_activity_at = now
    refresh_light_dates(task, rules)
    audit.record(session, now, person, "update", "task", task.key, before,
                 {"progress": task.progress, "status": task.status, "note": note,
                  "milestone": milestone.name if milestone else None})
    return UpdateResult(task, update, completed)


def find_milestone(task: Task, text: str) -> Optional[Milestone]:
    text = text.strip()
    for milestone in task.milestones:
        if milestone.name == text or text in milestone.name:
            return milestone
    return None


def team_name(task: Task) -> str:
    return task.team.name if task.team else "未分配"


def relight_all(session: Session, rules: LightsConfig) -> int:
    """Recompute every task's light days (after the thresholds in config.yaml change)."""
    count = 0
    for task in session.scalars(select(Task)).yield_per(1000):
        refresh_light_dates(task, rules)
        count += 1
    return count


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.id)))
