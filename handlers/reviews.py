"""办结审核 in chat: /approve_done (通过), /return (退回, with a reason), the [通过][退回]
buttons, and the one-step dialogue asking the reason after [退回]."""
from __future__ import annotations

from typing import Optional

from bot.messages import Reply
from bot.models import Conversation, Task
from bot.services import review
from bot.services import tasks as task_service
from bot.services.errors import InvalidInput, NotFound, PermissionDenied
from bot.services.text import nfkc
from handlers.context import Ctx

FLOW = "return"


def _split_task(ctx: Ctx, text: str) -> tuple[Task, str]:
    """“纳图电气 验收材料不全” → (task, reason): the shortest leading words naming a task."""
    tokens = nfkc(text).split()
    if not tokens:
        raise InvalidInput("请写事项名称,例如:通过 纳图电气")
    for cut in range(1, len(tokens) + 1):
        try:
            task = task_service.find_task(ctx.session, " ".join(tokens[:cut]))
        except NotFound:
            if cut == len(tokens):
                raise
            continue
        return task, " ".join(tokens[cut:])
    raise InvalidInput("请写事项名称,例如:通过 纳图电气")


def approved_reply(ctx: Ctx, task: Task) -> Reply:
    review.approve(ctx.session, ctx.now, ctx.person, task, ctx.app.config.lights)
    return Reply(f"✅ 已审核通过:{task.name},已销号。已通知责任人。", notice="已通过")


def returned_reply(ctx: Ctx, task: Task, reason: str) -> Reply:
    review.return_task(ctx.session, ctx.now, ctx.person, task, reason, ctx.app.config.lights)
    owner = task.owner.name if task.owner else "报送人"
    return Reply(f"↩️ 已退回:{task.name}\n理由:{reason.strip()}\n已通知{owner},事项回到办理中。",
                 notice="已退回")


def cmd_approve_done(ctx: Ctx, args: str) -> Reply:
    """/approve_done 事项 — 审核通过,事项销号(专班负责人、领导)"""
    if not args.strip():
        return pending_list(ctx, "通过")
    task, rest = _split_task(ctx, args)
    return approved_reply(ctx, task)


def cmd_return(ctx: Ctx, args: str) -> Reply:
    """/return 事项 理由 — 退回,写明理由(专班负责人、领导)"""
    if not args.strip():
        return pending_list(ctx, "退回")
    task, reason = _split_task(ctx, args)
    if not reason.strip():
        raise InvalidInput(f"退回要写理由,例如:退回 {task.name} 验收材料不全")
    return returned_reply(ctx, task, reason)


def pending_list(ctx: Ctx, word: str) -> Reply:
    tasks = review.pending_for(ctx.session, ctx.person)
    if not tasks:
        return Reply("没有待审核的事项。")
    example = f"{word} {tasks[0].name}" + (" 理由" if word == "退回" else "")
    lines = [f"待审核({len(tasks)}项):"] + [f"· {t.name}" for t in tasks[:10]]
    lines.append(f"请写事项名称,例如:{example}")
    buttons = [[ctx.button(f"通过 {t.name[:10]}", "rv", t.id, "y"), ctx.button("退回", "rv", t.id, "n")]
               for t in tasks[:5]]
    return Reply("\n".join(lines), buttons=buttons)


def cb_review(ctx: Ctx, parts: list[str]) -> Reply:
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("y", "n"):
        return Reply("按钮已过期。", notice="已过期")
    task = task_service.get_task_for_card(ctx.session, int(parts[0]))
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    if parts[1] == "y":
        return approved_reply(ctx, task)
    return ask_reason(ctx, task)


def ask_reason(ctx: Ctx, task: Task) -> Reply:
    """退回 without a reason yet: check now (so a stale button says so at once), then ask it."""
    if not review.can_review(ctx.session, ctx.person, task):
        raise PermissionDenied(f"“{task.name}”不是你专班的事项,不能审核。")
    if task.review_status != review.PENDING:
        raise InvalidInput(review.not_pending_text(task))
    ctx.start_conversation(FLOW, "reason", {"task_id": task.id})
    return Reply(f"退回“{task.name}”:请写退回理由(一句话)。发“取消”放弃。")


def continue_return(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """The one step after [退回]: the reason."""
    task = task_service.get_task_for_card(ctx.session, (conv.data or {}).get("task_id") or 0)
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    if not text.strip():
        return Reply("退回要写理由。请写一句理由,或发“取消”。")
    ctx.end_conversation()
    if task.review_status != review.PENDING:  # decided meanwhile: say so, leave the dialogue
        return Reply(review.not_pending_text(task) + "(你的退回没有生效)")
    return returned_reply(ctx, task, text)
