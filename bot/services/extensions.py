"""Extension requests (申请延期): who decides, asking, deciding, and the audit of a moved deadline.

延期 up the chain: the team lead decides first (stage "lead"). A second extension of the same
task, one longer than ``workflow.extension_leader_days``, or one on a year-end target (年度目标:
category 下半年目标, or a deadline of 12-31) also needs the 分管领导 (the task's leader, else
the team's, else any leader) once the lead has agreed (stage "leader"). A leader deciding at
the first stage decides both. The first approved move keeps 原时限 (``original_deadline``);
every decision is a ``task_events`` row (kind "extension") with who and when.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.clock import OFFICE_TZ
from bot.models import (
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    ExtensionRequest,
    Milestone,
    Person,
    Task,
    TaskEvent,
)
from bot.services import audit
from bot.services.errors import InvalidInput, NotFound, PermissionDenied
from bot.services.lights import refresh_light_dates
from bot.services.outbox_store import push
from bot.services.people import can_update, team_lead_of

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- extensions

def deciders(session: Session, task: Task) -> list[Person]:
    """Who may approve an extension: the team lead, else the leader in charge."""
    lead = team_lead_of(session, task.team_id)
    if lead is not None:
        return [lead]
    if task.team is not None and task.team.leader is not None:
        return [task.team.leader]
    return list(session.scalars(select(Person).where(Person.is_admin.is_(True), Person.active.is_(True))))


YEAR_END_CATEGORY = "下半年目标"
STAGE_LEAD, STAGE_LEADER = "lead", "leader"
EVENT_KIND = "extension"


def is_year_end_target(task: Task) -> bool:
    """年度目标: the report's 下半年目标 (全年目标), or any task due on 12-31."""
    deadline = task.original_deadline or task.deadline
    return task.category == YEAR_END_CATEGORY or (deadline is not None and (deadline.month, deadline.day) == (12, 31))


def leader_reasons(session: Session, task: Task, request: ExtensionRequest, leader_days: int) -> list[str]:
    """Why this request also needs the 分管领导 (empty: the team lead decides alone)."""
    reasons = []
    earlier = session.scalar(select(ExtensionRequest.id).where(
        ExtensionRequest.task_id == task.id, ExtensionRequest.status == "approved",
        ExtensionRequest.id != request.id).limit(1))
    if task.extension_count or earlier is not None:
        reasons.append(f"第{(task.extension_count or 1) + 1}次延期")
    if request.old_deadline is not None and (request.new_deadline - request.old_deadline).days > leader_days:
        reasons.append(f"延期{(request.new_deadline - request.old_deadline).days}天,超过{leader_days}天")
    if is_year_end_target(task):
        reasons.append("年度目标")
    return reasons


def task_leaders(session: Session, task: Task) -> list[Person]:
    """The 分管领导 of a task: its own, else its team's, else every active leader."""
    for person_id in (task.leader_id, task.team.leader_id if task.team is not None else None):
        if person_id is not None:
            person = session.get(Person, person_id)
            if person is not None and person.active:
                return [person]
    return list(session.scalars(select(Person).where(Person.role == ROLE_LEADER, Person.active.is_(True))
                                .order_by(Person.id)))


def can_decide_as_leader(session: Session, person: Person, task: Task) -> bool:
    if person.is_admin:
        return True
    if person.role != ROLE_LEADER:
        return False
    named = task.leader_id or (task.team.leader_id if task.team is not None else None)
    return named is None or named == person.id


def _event(session: Session, now: datetime, task: Task, person: Person, step: str, text: str,
           request: ExtensionRequest, note: str = "") -> None:
    session.add(TaskEvent(task_id=task.id, kind=EVENT_KIND, actor_id=person.id, text=text, created_at=now,
                          data={"step": step, "request": request.id, "note": note,
                                "old": request.old_deadline.isoformat() if request.old_deadline else None,
                                "new": request.new_deadline.isoformat()}))


def decisions(session: Session, task: Task) -> list[tuple[datetime, str, str]]:
    """(when, who, what) of every extension decision on the task, oldest first."""
    rows = session.execute(
        select(TaskEvent.created_at, Person.name, TaskEvent.text)
        .outerjoin(Person, Person.id == TaskEvent.actor_id)
        .where(TaskEvent.task_id == task.id, TaskEvent.kind == EVENT_KIND)
        .order_by(TaskEvent.created_at, TaskEvent.id)).all()
    return [(at, name or "", text or "") for at, name, text in rows]


def can_decide(session: Session, person: Person, task: Task) -> bool:
    if person.is_admin:
        return True
    if task.team is not None and task.team.leader_id == person.id:
        return True
    return person.role == ROLE_TEAM_LEAD and person.team_id is not None and person.team_id == task.team_id


def request_extension(session: Session, now: datetime, person: Person, task: Task,
                      new_deadline: date, reason: str, milestone: Optional[Milestone] = None) -> ExtensionRequest:
    """A cadre asks for a later deadline; the team lead is told (with approve / refuse)."""
    if not can_update(person, task):
        raise PermissionDenied("只有责任人或本专班人员可以为这个事项申请延期。")
    if task.status != STATUS_ACTIVE:
        raise InvalidInput("这个事项不在进行中,不需要延期。")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请写延期理由。")
    if len(reason) > 500:
        raise InvalidInput(f"理由太长({len(reason)}字),请控制在500字以内。")
    old = milestone.due if milestone is not None else task.deadline
    today = now.astimezone(OFFICE_TZ).date()
    if new_deadline <= today or (old is not None and new_deadline <= old):
        raise InvalidInput("新日期要晚于今天和原截止日期。")
    same = (ExtensionRequest.milestone_id == milestone.id if milestone is not None
            else ExtensionRequest.milestone_id.is_(None))
    pending = session.scalar(select(ExtensionRequest).where(
        ExtensionRequest.task_id == task.id, ExtensionRequest.status == "pending", same))
    if pending is not None:
        raise InvalidInput(f"这个事项已有一条待审批的延期申请(编号{pending.id})。")
    request = ExtensionRequest(task_id=task.id, milestone_id=milestone.id if milestone else None,
                               requester_id=person.id, reason=reason, old_deadline=old,
                               new_deadline=new_deadline, status="pending", created_at=now)
    session.add(request)
    session.flush()
    audit.record(session, now, person, "request", "extension", task.key,
                 {"deadline": old}, {"deadline": new_deadline, "reason": reason})
    what = task.name + (f" · {milestone.name}" if milestone else "")
    old_text = f"{old.month}月{old.day}日" if old else "未定"
    text = (f"🕒 延期申请(编号{request.id})\n📌 {what}\n{person.name}申请:{old_text} → "
            f"{new_deadline.year}年{new_deadline.month}月{new_deadline.day}日\n理由:{reason}"
            f"\n点按钮,或回复“同意延期 {request.id}”/“不同意延期 {request.id}”。")
    for decider in deciders(session, task):
        push(session, now, f"ext:{request.id}:ask:{decider.id}", "extension", decider.id, text,
             [push_action(PushAction.APPROVE, request.id), push_action(PushAction.REFUSE, request.id)], task.id)
    return request


def decide_extension(session: Session, now: datetime, person: Person, request_id: int,
                     approve: bool, lights, note: str = "", leader_days: int = 30) -> ExtensionRequest:
    """Approve (the deadline moves, or the request goes up to the 分管领导) or refuse; the
    requester is told either way."""
    request = session.get(ExtensionRequest, request_id)
    if request is None:
        raise NotFound(f"没有编号{request_id}的延期申请。")
    task = session.get_one(Task, request.task_id)
    if request.status != "pending":
        word = "已同意" if request.status == "approved" else "已不同意"
        raise InvalidInput(f"这条延期申请{word},不用再处理。")
    if request.stage == STAGE_LEADER:
        if not can_decide_as_leader(session, person, task):
            raise PermissionDenied(f"这条延期申请(编号{request.id})专班负责人已同意,正等分管领导审批。")
    elif not can_decide(session, person, task):
        raise PermissionDenied("只有本专班负责人或分管领导可以审批这条延期申请。")
    milestone = session.get(Milestone, request.milestone_id) if request.milestone_id else None
    what = task.name + (f" · {milestone.name}" if milestone else "")
    d = request.new_deadline
    if approve and request.stage == STAGE_LEAD and not (person.role == ROLE_LEADER or person.is_admin):
        reasons = leader_reasons(session, task, request, leader_days)
        if reasons:
            request.stage = STAGE_LEADER
            request.lead_decided_by_id = person.id
            request.lead_decided_at = now
            request.decision_note = note or None
            _event(session, now, task, person, "lead_approved", f"{person.name}同意延期至{d:%Y-%m-%d},转分管领导",
                   request, note)
            audit.record(session, now, person, "lead_approve", "extension", task.key, None,
                         {"request": request.id, "reasons": reasons})
            session.flush()
            why = "、".join(reasons)
            old = request.old_deadline
            old_text = f"{old.month}月{old.day}日" if old else "未定"
            ask = (f"🕒 延期申请(编号{request.id})待分管领导审批\n📌 {what}\n"
                   f"{old_text} → {d.year}年{d.month}月{d.day}日"
                   f"\n理由:{request.reason}\n专班负责人{person.name}已同意;需分管领导审批:{why}"
                   f"\n点按钮,或回复“同意延期 {request.id}”/“不同意延期 {request.id}”。")
            for leader in task_leaders(session, task):
                push(session, now, f"ext:{request.id}:ask-leader:{leader.id}", "extension", leader.id, ask,
                     [push_action(PushAction.APPROVE, request.id), push_action(PushAction.REFUSE, request.id)],
                     task.id)
            push(session, now, f"ext:{request.id}:lead", "extension", request.requester_id,
                 f"🕒 延期申请(编号{request.id})专班负责人{person.name}已同意,已转分管领导审批({why})。\n📌 {what}",
                 [], task.id)
            return request
    request.status = "approved" if approve else "refused"
    request.decided_by_id = person.id
    request.decided_at = now
    if note:
        request.decision_note = note
    role = "分管领导" if request.stage == STAGE_LEADER or person.role == ROLE_LEADER else "专班负责人"
    if approve:
        _event(session, now, task, person, "approved", f"{person.name}({role})同意延期至{d:%Y-%m-%d}", request, note)
        if milestone is None:
            if task.original_deadline is None:
                task.original_deadline = request.old_deadline
            task.extension_count = (task.extension_count or 0) + 1
    else:
        _event(session, now, task, person, "refused", f"{person.name}({role})不同意延期" + (f":{note}" if note else ""),
               request, note)
    if approve:
        if milestone is not None:
            before = {"due": milestone.due}
            milestone.due = request.new_deadline
            audit.record(session, now, person, "extend", "milestone", f"{task.key}:{milestone.id}",
                         before, {"due": milestone.due})
        else:
            before = {"deadline": task.deadline}
            task.deadline = request.new_deadline
            refresh_light_dates(task, lights)
            audit.record(session, now, person, "extend", "task", task.key, before,
                         {"deadline": task.deadline})
    else:
        audit.record(session, now, person, "refuse", "extension", task.key, None,
                     {"request": request.id, "note": note})
    session.flush()
    if approve:
        text = f"✅ 延期已同意({person.name})\n📌 {what}\n新截止:{d.year}年{d.month}月{d.day}日"
    else:
        text = f"❌ 延期未同意({person.name})\n📌 {what}\n仍按原截止日期办理。" + (f"\n说明:{note}" if note else "")
    push(session, now, f"ext:{request.id}:decided", "extension", request.requester_id, text,
         [PushAction.UPDATE] if not approve else [], task.id)
    return request
