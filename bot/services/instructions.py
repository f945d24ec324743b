"""批示 (a leader's instruction on a task) and its 反馈 (the owner's answer).

A 批示 is an ``instructions`` row: shown on the card while open, pushed to the task's owner
and team lead with a [反馈] button, listed in the team lead's digest and the leaders' weekly
brief until answered.

Decision: only an explicit 反馈 (``/feedback 事项 内容``, the [反馈] button, or the word
反馈) answers a 批示 — the oldest open one on the task. A routine progress update does not
answer it silently (the update might not address the 批示; nothing is recorded that the
person did not clearly mean); the update receipt reminds the person that a 批示 is waiting.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.models import STATUS_DONE, Instruction, OutboxKind, Person, Task
from bot.services import audit
from bot.services.assign import recipients
from bot.services.errors import InvalidInput, PermissionDenied
from bot.services.outbox_store import push
from bot.services.pending_instructions import open_instructions
from bot.services.people import can_update
from bot.services.text import clip
from bot.services.timeline import KIND_FEEDBACK, KIND_INSTRUCT, add_event

TEXT_MAX = 500


def _clean(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(f"请写{what}内容。")
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"{what}太长({len(text)}字),请控制在{TEXT_MAX}字以内。")
    return text


def instruct(session: Session, now: datetime, leader: Person, task: Task, text: str) -> Instruction:
    """Record a 批示 and push it to the owner and the team lead."""
    text = _clean(text, "批示")
    if task.status == STATUS_DONE or task.review_status == "approved":
        raise InvalidInput(f"“{task.name}”已销号。如需继续办理,请重新交办。")
    row = Instruction(task_id=task.id, leader_id=leader.id, text=text, created_at=now)
    session.add(row)
    session.flush()
    task.last_activity_at = now
    add_event(session, now, task, KIND_INSTRUCT, leader, text, {"instruction": row.id})
    audit.record(session, now, leader, "instruct", "task", task.key, None, {"instruction": row.id, "text": text})
    message = (f"📝 领导批示({leader.name})\n📌 {task.name}\n{text}"
               f"\n办理后请点“反馈”,或回复“反馈 {task.name} 内容”。")
    for person in recipients(session, task):
        push(session, now, f"in:{row.id}:{person.id}", OutboxKind.INSTRUCTION, person.id, message,
             [push_action(PushAction.FEEDBACK, task.id), push_action(PushAction.TASK, task.id)], task.id)
    return row


def feedback(session: Session, now: datetime, person: Person, task: Task, text: str) -> Instruction:
    """反馈: answer the oldest open 批示 on the task; the leader who wrote it is told."""
    if not can_update(person, task):
        raise PermissionDenied(f"“{task.name}”不属于你的专班,不能反馈。")
    pending = open_instructions(session, task)
    if not pending:
        raise InvalidInput(f"“{task.name}”没有待反馈的批示。报进展请发:报进展")
    text = _clean(text, "反馈")
    row = pending[0]
    row.answered_at, row.answered_by_id, row.answer = now, person.id, text
    task.last_activity_at = now
    add_event(session, now, task, KIND_FEEDBACK, person, text, {"instruction": row.id})
    audit.record(session, now, person, "feedback", "instruction", f"{task.key}:{row.id}",
                 {"answered_at": None}, {"answer": text})
    if row.leader_id and row.leader_id != person.id:
        push(session, now, f"fb:{row.id}", OutboxKind.FEEDBACK, row.leader_id,
             f"📨 批示反馈({person.name})\n📌 {task.name}\n批示:{clip(row.text, 40)}\n反馈:{text}",
             [push_action(PushAction.TASK, task.id)], task.id)
    return row
