"""Extension requests (申请延期): who decides, asking, deciding, and the audit of a moved deadline."""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.clock import OFFICE_TZ
from bot.models import (
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    ExtensionRequest,
    Milestone,
    Person,
    Task,
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
                     approve: bool, lights, note: str = "") -> ExtensionRequest:
    """Approve (the deadline moves) or refuse; the requester is told either way."""
    request = session.get(ExtensionRequest, request_id)
    if request is None:
        raise NotFound(f"没有编号{request_id}的延期申请。")
    task = session.get_one(Task, request.task_id)
    if not can_decide(session, person, task):
        raise PermissionDenied("只有本专班负责人或分管领导可以审批这条延期申请。")
    if request.status != "pending":
        word = "已同意" if request.status == "approved" else "已不同意"
        raise InvalidInput(f"这条延期申请{word},不用再处理。")
    request.status = "approved" if approve else "refused"
    request.decided_by_id = person.id
    request.decided_at = now
    milestone = session.get(Milestone, request.milestone_id) if request.milestone_id else None
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
    d = request.new_deadline
    what = task.name + (f" · {milestone.name}" if milestone else "")
    if approve:
        text = f"✅ 延期已同意({person.name})\n📌 {what}\n新截止:{d.year}年{d.month}月{d.day}日"
    else:
        text = f"❌ 延期未同意({person.name})\n📌 {what}\n仍按原截止日期办理。" + (f"\n说明:{note}" if note else "")
    push(session, now, f"ext:{request.id}:decided", "extension", request.requester_id, text,
         [PushAction.UPDATE] if not approve else [], task.id)
    return request
