"""催办: a team lead or a leader presses a task's owner to act.

The owner gets a push at once (the outbox postpones it past the person's quiet hours); a
task without an owner goes to its team lead. The task counts its 催办 (``urge_count``,
``last_urged_at``, both on the card), the timeline gets an entry, the audit a line.
At most one 催办 per task per day (the supervision rule of thumb: no 催办 storms).
A team lead may urge only their own team's tasks; leaders and admins any task.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.models import ROLE_TEAM_LEAD, STATUS_DONE, OutboxKind, Person, Task
from bot.services import audit
from bot.services.errors import InvalidInput, PermissionDenied
from bot.services.outbox_store import push
from bot.services.people import team_lead_of
from bot.services.timeline import KIND_URGE, add_event

WORDS_MAX = 200


def can_urge(person: Person, task: Task) -> bool:
    if person.is_admin or person.role == "leader":
        return True
    return person.role == ROLE_TEAM_LEAD and person.team_id is not None and person.team_id == task.team_id


def worth_a_button(person: Person, task: Task) -> bool:
    """For list rows: may urge, and the push would reach someone else (an owner who is not
    the person; without an owner, the team lead — not when the person is that lead)."""
    if not can_urge(person, task):
        return False
    if task.owner_id is not None:
        return task.owner_id != person.id
    return person.role != ROLE_TEAM_LEAD


def urge_target(session: Session, now: datetime, person: Person, task: Task,
                to: Optional[Person] = None) -> Person:
    """Who a 催办 by ``person`` on ``task`` would reach, or the reason it cannot be done
    (InvalidInput / PermissionDenied). ``to``: a person named by the urger — the owner, or
    someone of the task's team; without it the owner (or, with no owner, the team lead)."""
    if not can_urge(person, task):
        raise PermissionDenied(f"“{task.name}”不是你专班的事项,不能催办。")
    if task.status == STATUS_DONE or task.review_status == "approved":
        raise InvalidInput(f"“{task.name}”已完成,不用催办。")
    if task.last_urged_at is not None and task.last_urged_at.date() == now.date():
        raise InvalidInput(f"“{task.name}”今天{task.last_urged_at:%H:%M}已催办过,明天再催。")
    if to is not None:
        if to.id == person.id:
            raise InvalidInput("不能催办自己。")
        if not to.active or (to.id != task.owner_id and (task.team_id is None or to.team_id != task.team_id)):
            team = task.team.name if task.team else "未分配专班"
            raise InvalidInput(f"{to.name}不是“{task.name}”的责任人,也不是{team}的人员,不能催{to.name}。")
        return to
    target = session.get(Person, task.owner_id) if task.owner_id else None
    if target is None or not target.active:
        target = team_lead_of(session, task.team_id)
    if target is None:
        raise InvalidInput(f"“{task.name}”没有责任人,也没有专班负责人,无人可催。请先指定责任人:"
                           f"/set {task.name} 责任人 姓名")
    if target.id == person.id:
        raise InvalidInput(f"“{task.name}”还没有责任人,催办会发给你自己。请先指定责任人:"
                           f"/set {task.name} 责任人 姓名")
    return target


def urge(session: Session, now: datetime, person: Person, task: Task, words: str = "",
         to: Optional[Person] = None) -> Person:
    """催办 the task's owner (or team lead, or the person named ``to``); returns who was urged."""
    words = (words or "").strip()
    if len(words) > WORDS_MAX:
        raise InvalidInput(f"催办的话太长({len(words)}字),请控制在{WORDS_MAX}字以内。")
    target = urge_target(session, now, person, task, to)
    before = {"urge_count": task.urge_count or 0, "last_urged_at": task.last_urged_at}
    task.urge_count = (task.urge_count or 0) + 1
    task.last_urged_at = now
    add_event(session, now, task, KIND_URGE, person, words or None, {"to": target.name, "n": task.urge_count})
    audit.record(session, now, person, "urge", "task", task.key, before,
                 {"urge_count": task.urge_count, "to": target.name, "words": words})
    progress = "未报" if task.progress is None else f"{task.progress:g}%"
    deadline = f"\n截止:{task.deadline.isoformat()}" if task.deadline else ""
    text = (f"📣 催办({person.name},第{task.urge_count}次)\n📌 {task.name}{deadline}\n进度:{progress}"
            + (f"\n{words}" if words else "") + "\n请尽快办理并报进展。")
    push(session, now, f"ug:{task.id}:{task.urge_count}", OutboxKind.URGE, target.id, text,
         [PushAction.UPDATE, push_action(PushAction.TASK, task.id)], task.id)
    return target
