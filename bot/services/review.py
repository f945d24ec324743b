"""办结审核 (review) of a task reported 100%: 待审核 → 通过 (已销号) or 退回 (back in progress).

Who reviews: the team lead of the task's team; when the team lead is the task's owner, the
admins; a leader (街道领导) may always review. Nobody approves or returns their own 100%.
Two reviewers acting at once: the decision is one conditional UPDATE (``WHERE review_status
= 'pending'``); the one whose UPDATE changed no row is told who decided first.
Every step writes a ``task_events`` row (kind "review") and an audit entry.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.config import LightsConfig
from bot.models import (
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    STATUS_DONE,
    Person,
    ReviewStatus,
    Task,
    TaskEvent,
)
from bot.services import audit
from bot.services.errors import InvalidInput, PermissionDenied
from bot.services.lights import refresh_light_dates
from bot.services.outbox_store import push
from bot.services.people import team_lead_of

PENDING, APPROVED, RETURNED = ReviewStatus.PENDING, ReviewStatus.APPROVED, ReviewStatus.RETURNED
EVENT_KIND = "review"
STATUS_WORDS = {PENDING: "待审核", APPROVED: "已销号", RETURNED: "已退回"}
MAX_REASON = 500


def event(session: Session, now: datetime, task: Task, actor: Optional[Person], step: str,
          text: str, **data) -> TaskEvent:
    """One review step on the timeline; its id keys the pushes it causes (one per step, even
    two steps within the same second)."""
    row = TaskEvent(task_id=task.id, kind=EVENT_KIND, actor_id=actor.id if actor else None,
                    text=text, data={"step": step, **data}, created_at=now)
    session.add(row)
    session.flush()
    return row


def submitter_id(session: Session, task: Task) -> Optional[int]:
    """Who reported the 100% now waiting for review."""
    return session.scalar(
        select(TaskEvent.actor_id).where(TaskEvent.task_id == task.id, TaskEvent.kind == EVENT_KIND)
        .order_by(TaskEvent.created_at.desc(), TaskEvent.id.desc()).limit(1))


def reviewers(session: Session, task: Task, submitter: Optional[Person] = None) -> list[Person]:
    """Who is asked to review: the team lead, or the admins when the lead owns the task (or
    reported it, or the task has no team lead)."""
    lead = team_lead_of(session, task.team_id)
    excluded = {task.owner_id, submitter.id if submitter else None}
    if lead is not None and lead.id not in excluded:
        return [lead]
    admins = session.scalars(select(Person).where(Person.is_admin.is_(True), Person.active.is_(True))
                             .order_by(Person.id)).all()
    return [p for p in admins if p.id not in excluded] or list(admins)


def can_review(session: Session, person: Person, task: Task) -> bool:
    if person.is_admin or person.role == ROLE_LEADER:
        return True
    return (person.role == ROLE_TEAM_LEAD and person.team_id is not None
            and person.team_id == task.team_id and task.owner_id != person.id)


def submit(session: Session, now: datetime, person: Person, task: Task, note: Optional[str]) -> None:
    """A 100% report: the task waits for review and the reviewers get [通过][退回]."""
    task.review_status = PENDING
    task.return_reason = None
    submitted = event(session, now, task, person, "submitted", "报完成,提交审核", note=note)
    audit.record(session, now, person, "submit_review", "task", task.key, None, {"review_status": PENDING})
    session.flush()
    text = (f"🧾 待审核:{task.name}\n{person.name}报完成100%" + (f":{note}" if note else "")
            + "\n点“通过”销号,或“退回”并写理由。也可回复:通过 事项名 / 退回 事项名 理由")
    for reviewer in reviewers(session, task, person):
        push(session, now, f"review:{task.id}:{submitted.id}:{reviewer.id}", "review", reviewer.id, text,
             [push_action(PushAction.PASS, task.id), push_action(PushAction.RETURN, task.id)], task.id)


def withdraw(session: Session, now: datetime, person: Person, task: Task) -> None:
    """Progress went below 100% while waiting: nothing to review any more."""
    task.review_status = None
    event(session, now, task, person, "withdrawn", "进度改回100%以下,撤回审核")


def check_decision(session: Session, person: Person, task: Task) -> None:
    """Refuse (PermissionDenied / InvalidInput) when ``person`` may not decide ``task`` now."""
    if not can_review(session, person, task):
        if person.role == ROLE_TEAM_LEAD and task.owner_id == person.id:
            raise PermissionDenied(f"“{task.name}”的责任人是你,请由管理员或领导审核。")
        raise PermissionDenied(f"“{task.name}”不是你专班的事项,不能审核。")
    if task.review_status != PENDING:
        raise InvalidInput(not_pending_text(task))
    if submitter_id(session, task) == person.id:
        raise PermissionDenied("不能审核自己报的完成,请由专班负责人或领导审核。")


def not_pending_text(task: Task) -> str:
    if task.review_status == APPROVED:
        return f"“{task.name}”已通过审核(已销号),不用再审。"
    if task.review_status == RETURNED:
        return f"“{task.name}”已被退回,等重新报100%后再审核。"
    return f"“{task.name}”没有待审核的完成申请(报100%后才需要审核)。"


def _lost(session: Session, task: Task) -> InvalidInput:
    """The other reviewer's decision committed first: say who and what."""
    session.refresh(task)
    last = session.execute(
        select(TaskEvent, Person).outerjoin(Person, Person.id == TaskEvent.actor_id)
        .where(TaskEvent.task_id == task.id, TaskEvent.kind == EVENT_KIND)
        .order_by(TaskEvent.created_at.desc(), TaskEvent.id.desc()).limit(1)).first()
    who = last[1].name if last and last[1] else "别人"
    what = {APPROVED.value: "通过(已销号)", RETURNED.value: "退回"}.get(task.review_status or "", "处理")
    return InvalidInput(f"“{task.name}”刚刚已被{who}{what},你的操作没有生效。")


def _decide(session: Session, task: Task, values: dict) -> bool:
    """The conditional UPDATE: True when this call moved the task out of 待审核."""
    result = cast(CursorResult, session.execute(
        update(Task).where(Task.id == task.id, Task.review_status == PENDING).values(**values)
        .execution_options(synchronize_session=False)))
    return result.rowcount == 1


def approve(session: Session, now: datetime, person: Person, task: Task, lights: LightsConfig) -> Task:
    """通过: the task is closed (已销号); the owner and the submitter are told."""
    check_decision(session, person, task)
    if not _decide(session, task, {"review_status": APPROVED, "status": STATUS_DONE, "return_reason": None}):
        raise _lost(session, task)
    session.refresh(task)
    task.last_activity_at = now  # a change the ORM sees: moves tasks_version for cached lists
    refresh_light_dates(task, lights)
    step = event(session, now, task, person, APPROVED, "审核通过,已销号")
    audit.record(session, now, person, "approve", "task", task.key, {"review_status": PENDING},
                 {"review_status": APPROVED, "status": STATUS_DONE})
    _tell(session, now, task, person, f"review:{task.id}:approved:{step.id}",
          f"✅ {task.name} 已通过审核({person.name}),已销号。", [])
    return task


def return_task(session: Session, now: datetime, person: Person, task: Task, reason: str,
                lights: LightsConfig) -> Task:
    """退回 with a reason: back in progress, the reason on the card, the owner told."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("退回要写理由,例如:退回 纳图电气 验收材料不全")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"理由太长({len(reason)}字),请控制在{MAX_REASON}字以内。")
    check_decision(session, person, task)
    if not _decide(session, task, {"review_status": RETURNED, "status": STATUS_ACTIVE, "return_reason": reason}):
        raise _lost(session, task)
    session.refresh(task)
    task.last_activity_at = now
    refresh_light_dates(task, lights)
    step = event(session, now, task, person, RETURNED, f"退回:{reason}", reason=reason)
    audit.record(session, now, person, "return", "task", task.key, {"review_status": PENDING},
                 {"review_status": RETURNED, "reason": reason})
    _tell(session, now, task, person, f"review:{task.id}:returned:{step.id}",
          f"↩️ {task.name} 被退回({person.name})\n理由:{reason}\n请继续办理,办好后再报100%。",
          [PushAction.UPDATE])
    return task


def _tell(session: Session, now: datetime, task: Task, actor: Person, key: str, text: str,
          actions: list) -> None:
    told = {actor.id}
    for person_id in (task.owner_id, submitter_before(session, task)):
        if person_id is None or person_id in told:
            continue
        told.add(person_id)
        push(session, now, f"{key}:{person_id}", "review", person_id, text, actions, task.id)


def submitter_before(session: Session, task: Task) -> Optional[int]:
    """Who submitted the 100% that was just decided (the latest "submitted" event)."""
    return session.scalar(
        select(TaskEvent.actor_id).where(TaskEvent.task_id == task.id, TaskEvent.kind == EVENT_KIND,
                                         TaskEvent.data["step"].as_string() == "submitted")
        .order_by(TaskEvent.created_at.desc(), TaskEvent.id.desc()).limit(1))


def pending_for(session: Session, person: Person) -> list[Task]:
    """Tasks waiting for this person's review (their team's; all for leaders and admins)."""
    query = select(Task).where(Task.review_status == PENDING).order_by(Task.id)
    if not (person.is_admin or person.role == ROLE_LEADER):
        query = query.where(Task.team_id == person.team_id, Task.owner_id.is_distinct_from(person.id))
    return list(session.scalars(query))
