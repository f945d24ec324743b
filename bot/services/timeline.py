"""A task's timeline (时间轴): writing events and reading them back merged with the updates.

Every step of the 督办 cycle that is not a progress report is one ``task_events`` row
(``add_event``): 交办, 签收, 分解, 批示, 反馈, 催办, 修改 (台账 edits, with old and new
values), 节点, and whatever later steps (延期, 审核) write. Progress reports stay in
``task_updates``. ``timeline_page`` merges both, newest first, one page at a time: per table
one UNION ALL of the two tables' keys (each side on its ``(task_id, created_at)`` index)
ordered and cut with LIMIT/OFFSET in SQL, then the page's rows by id, plus one COUNT per
table: a task with 500 events costs about what one with ten does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, cast

from sqlalchemy import Table, bindparam, func, insert, literal, select, text, union_all
from sqlalchemy.orm import Session, aliased

from bot.models import Milestone, Person, Task, TaskEvent, TaskUpdate

#: event kinds and how the timeline names them
KIND_ASSIGN = "assign"
KIND_SIGN = "sign"
KIND_SPLIT = "split"
KIND_INSTRUCT = "instruct"
KIND_FEEDBACK = "feedback"
KIND_URGE = "urge"
KIND_EDIT = "edit"
KIND_NODE = "node"
KIND_UPDATE = "update"   # rows of task_updates

KIND_LABELS = {
    KIND_ASSIGN: "交办", KIND_SIGN: "签收", KIND_SPLIT: "分解", KIND_INSTRUCT: "批示",
    KIND_FEEDBACK: "反馈", KIND_URGE: "催办", KIND_EDIT: "修改", KIND_NODE: "节点",
    KIND_UPDATE: "进展", "extend": "延期", "extension": "延期", "review": "审核",
    "approve": "审核通过", "return": "退回",
}


def add_event(session: Session, now: datetime, task: Task, kind: str, actor: Optional[Person],
              text: Optional[str] = None, data: Optional[dict[str, Any]] = None) -> None:
    """Append one timeline entry (a Core INSERT: append-only, never read back here)."""
    session.connection().execute(insert(cast(Table, TaskEvent.__table__)), [dict(
        task_id=task.id, kind=kind, actor_id=actor.id if actor else None, text=text,
        data=_jsonable(data or {}), created_at=now)])


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


@dataclass
class Entry:
    at: datetime
    kind: str
    who: Optional[str]
    text: str
    order: int  # tie-break: the row id (events after updates at the same moment)


@dataclass
class TimelinePage:
    task: Task
    entries: list[Entry]
    total: int
    page: int
    pages: int


_Actor = aliased(Person)
_Author = aliased(Person)
# The page's keys: both tables' (created_at, id) for the task, merged and cut in SQL, each
# side read from its (task_id, created_at) index. Events sort after updates of the same moment.
_KEYS = (union_all(
    select(TaskEvent.created_at.label("at"), literal(1).label("src"), TaskEvent.id.label("id"))
    .where(TaskEvent.task_id == bindparam("task_id")),
    select(TaskUpdate.created_at.label("at"), literal(0).label("src"), TaskUpdate.id.label("id"))
    .where(TaskUpdate.task_id == bindparam("task_id")))
    .order_by(text("at DESC, src DESC, id DESC"))
    .limit(bindparam("limit")).offset(bindparam("offset")))
_EVENTS = (select(TaskEvent.id, TaskEvent.created_at, TaskEvent.kind, _Actor.name, TaskEvent.text)
           .outerjoin(_Actor, TaskEvent.actor_id == _Actor.id)
           .where(TaskEvent.id.in_(bindparam("ids", expanding=True))))
_UPDATES = (select(TaskUpdate.id, TaskUpdate.created_at, _Author.name, TaskUpdate.progress, TaskUpdate.note,
                   TaskUpdate.problems, TaskUpdate.next_steps, Milestone.name,
                   TaskUpdate.photo_file_id, TaskUpdate.photo_path)
            .outerjoin(_Author, TaskUpdate.author_id == _Author.id)
            .outerjoin(Milestone, TaskUpdate.milestone_id == Milestone.id)
            .where(TaskUpdate.id.in_(bindparam("ids", expanding=True))))
_COUNT_EVENTS = select(func.count()).select_from(TaskEvent).where(TaskEvent.task_id == bindparam("task_id"))
_COUNT_UPDATES = select(func.count()).select_from(TaskUpdate).where(TaskUpdate.task_id == bindparam("task_id"))


def _fmt(value: Optional[float]) -> str:
    return f"{value:g}"


def update_text(progress, note, problems, next_steps, milestone, photo) -> str:
    parts = []
    if progress is not None:
        parts.append(f"{_fmt(progress)}%")
    if milestone:
        parts.append(f"完成节点“{milestone}”")
    if note:
        parts.append(note)
    text = " ".join(parts)
    if problems:
        text += f";问题:{problems}"
    if next_steps:
        text += f";下步:{next_steps}"
    return text + (" 📷" if photo else "")


def timeline_page(session: Session, task: Task, page: int = 1, page_size: int = 8) -> TimelinePage:
    """One page of the task's timeline, newest first (page 1 = the latest entries)."""
    params = {"task_id": task.id}
    total = (session.scalar(_COUNT_EVENTS, params) or 0) + (session.scalar(_COUNT_UPDATES, params) or 0)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    keys = session.execute(_KEYS, {"task_id": task.id, "limit": page_size,
                                   "offset": (page - 1) * page_size}).all()
    event_ids = [id_ for _, src, id_ in keys if src == 1]
    update_ids = [id_ for _, src, id_ in keys if src == 0]
    found: dict[tuple[int, int], Entry] = {}
    if event_ids:
        for id_, at, kind, who, text_ in session.execute(_EVENTS, {"ids": event_ids}):
            found[(1, id_)] = Entry(at, kind, who, text_ or "", id_)
    if update_ids:
        for id_, at, who, progress, note, problems, steps, milestone, file_id, path in session.execute(
                _UPDATES, {"ids": update_ids}):
            found[(0, id_)] = Entry(at, KIND_UPDATE, who,
                                    update_text(progress, note, problems, steps, milestone, file_id or path), id_)
    entries = [found[(src, id_)] for _, src, id_ in keys if (src, id_) in found]
    return TimelinePage(task, entries, total, page, pages)
