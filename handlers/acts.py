"""Instructions in words — 催办, 批示, 审核 通过/退回, 交办 — each confirmed before it acts.

``handlers.understand`` reads the words; the functions here check at once what can be
checked (may this person urge or review this task, who the 催办 reaches, is the 交办 complete),
then answer with what will be done — "将催办:纳图电气(王干部)?" — and [确定] [取消].
Only 确定 acts, through the same services and replies the commands use (``handlers.cycle``,
``handlers.reviews``). A refusal or bad input is answered at once and nothing is recorded.

The state is an ``act`` dialogue (``handlers.dialogues``): data = {"act": urge | instruct |
approve | return | assign, and what the act needs}. The role is checked again at 确定.

Also here: the 批示 command with the chat's topic — "批示 加快招商进度" right after a task's
card has no task name in it; it is asked as "将批示:<that task>“加快招商进度”?".
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from bot.buttons import Cb
from bot.messages import Reply
from bot.models import Conversation, Person, Task, Team
from bot.permissions import Action, allowed, refusal
from bot.services import assign as assign_service
from bot.services import instructions as instruction_service
from bot.services import review
from bot.services import urge as urge_service
from bot.services.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from bot.services.text import clip, nfkc
from handlers import cycle, reviews
from handlers.context import Ctx
from handlers.flows import YES

FLOW = "act"
#: the permission each act needs (checked by dispatch when asked, again at 确定)
ACTIONS = {"urge": Action.URGE, "instruct": Action.INSTRUCT, "approve": Action.REVIEW,
           "return": Action.REVIEW, "assign": Action.ASSIGN}
CANCELLED = "已取消,什么也没做。"
EXPIRED = "按钮已过期,请重新发。"


def ask(ctx: Ctx, question: str, data: dict) -> Reply:
    """Hold ``data`` in an ``act`` dialogue and ask ``question`` with [确定] [取消]."""
    conv = ctx.start_conversation(FLOW, "confirm", data)
    return Reply(question, buttons=[[ctx.button("确定", Cb.ACT, conv.id, "y"),
                                     ctx.button("取消", Cb.ACT, conv.id, "n")]])


# ---------------------------------------------------------------- the questions

def propose_urge(ctx: Ctx, task: Task, to: Optional[Person] = None, words: str = "") -> Reply:
    target = urge_service.urge_target(ctx.session, ctx.now, ctx.person, task, to)
    return ask(ctx, f"将催办:{task.name}({target.name})?",
               {"act": "urge", "task_ids": [task.id], "to": to.id if to else None, "words": words})


def propose_urge_many(ctx: Ctx, tasks: list[Task]) -> Reply:
    """都催一下: the tasks of the last list that can be urged; the others are named with why not."""
    ready: list[tuple[Task, Person]] = []
    skipped: list[str] = []
    for task in tasks:
        try:
            ready.append((task, urge_service.urge_target(ctx.session, ctx.now, ctx.person, task)))
        except ServiceError as error:
            skipped.append(error.message.split("。")[0])
    if not ready:
        raise InvalidInput("清单上没有能催办的事项:" + (skipped[0] if skipped else "清单是空的") + "。")
    lines = [f"将催办{len(ready)}项:" + "、".join(f"{t.name}({p.name})" for t, p in ready) + "?"]
    if skipped:
        lines.append(f"另有{len(skipped)}项不能催办,例如:{skipped[0]}。")
    return ask(ctx, "\n".join(lines), {"act": "urge", "task_ids": [t.id for t, _ in ready], "to": None, "words": ""})


def propose_instruct(ctx: Ctx, task: Task, text: str) -> Reply:
    text = (text or "").strip()
    if task.status == "done" or task.review_status == review.APPROVED:
        raise InvalidInput(f"“{task.name}”已销号。如需继续办理,请重新交办。")
    if not text:  # the text is asked for; what is typed next is the 批示 (the command's dialogue)
        ctx.start_conversation("instruct", "text", {"task_id": task.id})
        return Reply(f"批示:📌 {task.name}\n请写批示内容。(发“取消”退出)")
    if len(text) > instruction_service.TEXT_MAX:
        raise InvalidInput(f"批示太长({len(text)}字),请控制在{instruction_service.TEXT_MAX}字以内。")
    return ask(ctx, f"将批示:{task.name}“{clip(text, 60)}”?", {"act": "instruct", "task_id": task.id, "text": text})


def propose_review(ctx: Ctx, task: Task, decision: str, reason: str = "") -> Reply:
    review.check_decision(ctx.session, ctx.person, task)
    if decision == "通过":
        return ask(ctx, f"将审核通过:{task.name}(销号)?", {"act": "approve", "task_id": task.id})
    reason = (reason or "").strip()
    if not reason:
        return reviews.ask_reason(ctx, task)
    if len(reason) > review.MAX_REASON:
        raise InvalidInput(f"理由太长({len(reason)}字),请控制在{review.MAX_REASON}字以内。")
    return ask(ctx, f"将退回:{task.name} 理由:{reason}?", {"act": "return", "task_id": task.id, "reason": reason})


def propose_assign(ctx: Ctx, name: str, team: Optional[str], owner: Optional[str],
                   deadline: Optional[str]) -> Reply:
    spec = assign_service.AssignSpec(name=name.strip())
    person = assign_service.require_person(ctx.session, owner) if owner else None
    if team:
        spec.team_id = assign_service.require_team(ctx.session, team).id
    elif person is not None:
        spec.team_id = person.team_id  # the owner's team leads
    spec.owner_id = person.id if person else None
    if deadline:
        spec.deadline = assign_service.AssignSpec.from_data({"deadline": deadline}).deadline
    assign_service.check_spec(ctx.session, spec, ctx.now.date())
    # check_spec has refused a 交办 without a team or a deadline
    assert spec.team_id is not None and spec.deadline is not None
    team_name = ctx.session.get_one(Team, spec.team_id).name
    line = (f"{spec.name},{team_name}" + (f",责任人:{person.name}" if person else "")
            + f",截止{spec.deadline.isoformat()}")
    return ask(ctx, f"将交办:{line}?", {"act": "assign", "specs": [spec.to_data()]})


# ---------------------------------------------------------------- 确定

def _do(ctx: Ctx, data: dict) -> Reply:
    act = data.get("act")
    if act not in ACTIONS:
        ctx.end_conversation()
        return Reply(EXPIRED, notice="已过期")
    if not allowed(ctx.person, ACTIONS[act]):
        ctx.end_conversation()
        raise PermissionDenied(refusal(ACTIONS[act]))
    if act == "assign":
        return cycle.create_assigned(ctx, data)
    ctx.end_conversation()
    if act == "urge":
        to = ctx.session.get(Person, data["to"]) if data.get("to") else None
        tasks = [t for t in (ctx.session.get(Task, i) for i in data.get("task_ids") or []) if t is not None]
        if not tasks:
            return Reply("这个事项已不存在。")
        if len(tasks) == 1:
            return cycle.urge_reply(ctx, tasks[0], data.get("words") or "", to)
        lines = []
        for task in tasks:
            try:
                target = urge_service.urge(ctx.session, ctx.now, ctx.person, task)
            except ServiceError as error:
                lines.append(f"· {error.message}")
                continue
            lines.append(f"· {task.name}:已通知{target.name}")
        return Reply("📣 催办:\n" + "\n".join(lines), notice="已催办")
    found = ctx.session.get(Task, data.get("task_id"))
    if found is None:
        return Reply("这个事项已不存在。")
    task = found
    if act == "instruct":
        return cycle.instruct_reply(ctx, task, data.get("text") or "")
    if act == "approve":
        return reviews.approved_reply(ctx, task)
    return reviews.returned_reply(ctx, task, data.get("reason") or "")


def continue_act(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """Inside the question: 确定 acts (取消 is handled for every dialogue); anything else is a
    fresh message and the question is dropped."""
    if text.lower().strip() in YES:
        return _do(ctx, dict(conv.data or {}))
    ctx.end_conversation()
    return None


def cb_act(ctx: Ctx, parts: list[str]) -> Reply:
    conv = ctx.conversation()
    if conv is None or conv.flow != FLOW or not parts or parts[0] != str(conv.id):
        return Reply(EXPIRED, notice="已过期")
    if len(parts) > 1 and parts[1] == "y":
        return _do(ctx, dict(conv.data or {}))
    ctx.end_conversation()
    return Reply(CANCELLED, notice="已取消")


# ---------------------------------------------------------------- 批示 with the chat's topic

def cmd_instruct(ctx: Ctx, args: str) -> Reply:
    """/instruct 事项 内容 — 领导批示(推送给责任人和专班负责人,跟踪反馈)"""
    try:
        return cycle.cmd_instruct(ctx, args)
    except NotFound as error:
        text = nfkc(args).strip()
        task_id = ctx.topic_task()
        if task_id is not None and text:
            task = ctx.session.get(Task, task_id)
            if task is not None:
                return propose_instruct(ctx, task, text)
        if error.suggestions:
            raise
        raise InvalidInput(error.message + "\n批示哪个事项?请写:批示 事项名 内容,例如:批示 纳图电气 抓紧推进二期。"
                           "什么也没记录。") from None


def person_named(ctx: Ctx, name: Optional[str]) -> Optional[Person]:
    if not name:
        return None
    return ctx.session.scalar(select(Person).where(Person.name == name, Person.active.is_(True)))
