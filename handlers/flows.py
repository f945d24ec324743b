"""Multi-step dialogues whose state lives in the ``conversations`` table.

- ``confirm``: a progress lower than the last report waits for 确定 / 取消.
- ``guided``: 报进展 step by step — pick a task, type the percentage, type a note or send a
  photo, confirm. The confirm step asks for 存在问题 / 下步计划 (skippable: "问题:…",
  "下步:…" add them, 确定 submits without), and a note may carry them inline. A restart in the
  middle loses nothing; /cancel or 取消 stops at any step.
- ``choices``: numbered choices on channels without buttons (see handlers.core).
- ``extend``: 申请延期 — new date, then reason (handlers.reminders.continue_extend).
"""
from __future__ import annotations

from typing import Optional

from bot.messages import Reply
from bot.models import Conversation, Milestone, Task
from bot.services import people as people_service
from bot.services import task_lists
from bot.services import tasks as task_service
from bot.services.errors import NeedsConfirmation
from bot.services.pending_instructions import open_instructions
from bot.services.text import clip, fmt_number, parse_percent
from handlers import render
from handlers.context import Ctx

YES = {"确定", "确认", "是", "是的", "对", "好", "好的", "ok", "y", "yes", "提交", "确认提交"}
NO = {"取消", "否", "不", "不是", "算了", "n", "no", "/cancel"}
SKIP = {"跳过", "无", "没有", "不写", "skip", "-"}
CANCELLED = "已取消,什么也没改。"


def submit_update(ctx: Ctx, task: Task, progress: Optional[float], note: Optional[str],
                  milestone_id: Optional[int] = None, photo: Optional[dict] = None,
                  confirmed: bool = False, problems: Optional[str] = None,
                  next_steps: Optional[str] = None) -> Reply:
    """Log the update, or ask to confirm a lower progress (kept in a ``confirm`` dialogue)."""
    milestone = ctx.session.get(Milestone, milestone_id) if milestone_id else None
    photo = photo or {}
    try:
        result = task_service.record_update(
            ctx.session, ctx.now, ctx.person, task, ctx.app.config.lights, progress=progress,
            note=note, milestone=milestone, photo_file_id=photo.get("file_id"),
            photo_path=photo.get("local_path"), channel=ctx.msg.channel,
            source_ref=ctx.msg.message_ref, confirm_lower=confirmed, problems=problems,
            next_steps=next_steps, review_required=ctx.app.config.workflow.review_required)
    except NeedsConfirmation as question:
        data = {"task_id": task.id, "progress": progress, "note": note,
                "milestone_id": milestone_id, "photo": photo,
                "problems": problems, "next_steps": next_steps}
        ctx.start_conversation("confirm", "lower", data)
        return Reply(question.message + "\n回复“确定”提交,“取消”放弃。",
                     buttons=[[ctx.button("确定", "c", "yes"), ctx.button("取消", "c", "no")]])
    ctx.end_conversation()
    receipt = render.update_receipt(task, result.update, ctx.now, result.completed, result.pending_review)
    pending = open_instructions(ctx.session, task)
    if pending:
        receipt += (f"\n📝 还有{len(pending)}条批示待反馈:{clip(pending[0].text, 30)}"
                    f"\n办理后请发:反馈 {task.name} 内容")
    return Reply(receipt)


def start_guided(ctx: Ctx, task: Optional[Task] = None) -> Reply:
    if task is not None:
        people_service.require_can_update(ctx.person, task)
        return _ask_progress(ctx, task)
    page = task_lists.list_tasks(ctx.session, ctx.now, ctx.person, "mine",
                                 page_size=ctx.app.config.lists.page_size)
    rows = [(t, light) for t, light in page.rows if people_service.can_update(ctx.person, t)]
    if not rows and not ctx.person.is_admin:
        return Reply("你名下没有可报进展的事项。如有疑问请找专班负责人。")
    conv = ctx.start_conversation("guided", "task", {})
    text = ("报进展:选一个事项,或直接发事项名称。(发“取消”退出)" if rows
            else "报进展:请发事项名称,例如:纳图电气。(发“取消”退出)")
    buttons = [[ctx.button(f"{light.icon}{t.name[:14]}", "g", conv.id, "pick", t.id)] for t, light in rows]
    return Reply(text, buttons=buttons)


def _ask_progress(ctx: Ctx, task: Task) -> Reply:
    last = "未报" if task.progress is None else f"{fmt_number(task.progress)}%"
    ctx.start_conversation("guided", "progress", {"task_id": task.id})
    return Reply(f"📌 {task.name}(上次:{last})\n请发现在的进度,0-100,例如 65%。不改进度发“跳过”。")


def continue_confirm(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """The one-step dialogue after /update with a lower progress: 确定 submits it."""
    data = dict(conv.data or {})
    task = ctx.session.get(Task, data.get("task_id")) if data.get("task_id") else None
    if text.lower() in YES and task is not None:
        return submit_update(ctx, task, data.get("progress"), data.get("note"),
                             data.get("milestone_id"), data.get("photo"), confirmed=True,
                             problems=data.get("problems"), next_steps=data.get("next_steps"))
    return Reply("请回复“确定”提交,或“取消”放弃。")


def continue_guided(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """The guided 报进展 dialogue: task → progress → note or photo → confirm."""
    lowered = text.lower()
    data = dict(conv.data or {})
    task = ctx.session.get(Task, data.get("task_id")) if data.get("task_id") else None
    if conv.step == "task":
        task = task_service.find_task(ctx.session, text)
        people_service.require_can_update(ctx.person, task)
        return _ask_progress(ctx, task)
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    if conv.step == "progress":
        if lowered in SKIP:
            data["progress"] = None
        else:
            value = parse_percent(text)
            if value is None or not 0 <= value <= 100:
                return Reply("请发0-100的数字,例如 65%;不改进度发“跳过”。")
            data["progress"] = value
        ctx.start_conversation("guided", "note", data)
        return Reply("请写一句进展说明,也可以发现场照片;不写发“跳过”。")
    if conv.step == "note":
        photo = next((a for a in ctx.msg.attachments if a.kind == "photo"), None)
        if photo is not None:
            data["photo"] = {"file_id": photo.file_id, "local_path": photo.local_path}
        if text and lowered not in SKIP:
            if len(text) > 1000:
                return Reply(f"说明太长({len(text)}字),请控制在1000字以内。")
            note, problems, next_steps = task_service.split_problems(text)
            data["note"] = note
            if problems:
                data["problems"] = problems
            if next_steps:
                data["next_steps"] = next_steps
        if (data.get("progress") is None and not data.get("note") and not data.get("photo")
                and not data.get("problems") and not data.get("next_steps")):
            return Reply("进度和说明都空着,没有可提交的。请写一句说明,或发“取消”。")
        ctx.start_conversation("guided", "confirm", data)
        return _summary(ctx, task, data)
    if conv.step == "confirm":
        if lowered in YES:
            return submit_update(ctx, task, data.get("progress"), data.get("note"),
                                 photo=data.get("photo"), confirmed=True,
                                 problems=data.get("problems"), next_steps=data.get("next_steps"))
        # 存在问题 / 下步计划 may be added here: "问题:…" or "下步:…"
        _, problems, next_steps = task_service.split_problems(text)
        if problems or next_steps:
            if problems:
                data["problems"] = problems
            if next_steps:
                data["next_steps"] = next_steps
            ctx.start_conversation("guided", "confirm", data)
            return _summary(ctx, task, data)
        return Reply("请回复“确定”提交,或“取消”放弃;补充问题发“问题:…”,下步计划发“下步:…”。")
    ctx.end_conversation()
    return None


def _summary(ctx: Ctx, task: Task, data: dict) -> Reply:
    lines = [f"请确认:📌 {task.name}"]
    progress = data.get("progress")
    if progress is not None:
        lines.append(f"进度:{render.progress_text(task)} → {fmt_number(progress)}%")
        if task.progress is not None and progress < task.progress:
            lines.append("⚠️ 比上次报的低,确认即按此提交。")
    if data.get("note"):
        lines.append(f"说明:{data['note']}")
    if data.get("photo"):
        lines.append("照片:1张")
    if data.get("problems"):
        lines.append(f"存在问题:{data['problems']}")
    if data.get("next_steps"):
        lines.append(f"下步计划:{data['next_steps']}")
    if not (data.get("problems") and data.get("next_steps")):
        lines.append("有存在问题或下步计划吗?发“问题:…”“下步:…”补充(可跳过)。")
    conv = ctx.conversation()
    if conv is None:
        return Reply("这次报进展已结束,请重新发“报进展”。")
    conv_id = conv.id
    return Reply("\n".join(lines) + "\n回复“确定”提交,“取消”放弃。",
                 buttons=[[ctx.button("确定提交", "g", conv_id, "ok"),
                           ctx.button("取消", "g", conv_id, "no")]])


def cb_guided(ctx: Ctx, parts: list[str]) -> Reply:
    """Buttons of the guided flow carry the dialogue id: an old dialogue's buttons expire."""
    conv = ctx.conversation()
    if conv is None or conv.flow != "guided" or not parts or parts[0] != str(conv.id):
        return Reply("按钮已过期,请重新发“报进展”。", notice="已过期")
    action = parts[1] if len(parts) > 1 else ""
    if action == "pick" and conv.step == "task" and len(parts) > 2 and parts[2].isdigit():
        task = ctx.session.get(Task, int(parts[2]))
        if task is None:
            return Reply("这个事项已不存在。", notice="已过期")
        people_service.require_can_update(ctx.person, task)
        return _ask_progress(ctx, task)
    if action in ("ok", "no") and conv.step == "confirm":
        if action == "no":
            ctx.end_conversation()
            return Reply(CANCELLED)
        return continue_guided(ctx, conv, "确定") or Reply("按钮已过期,请重新发“报进展”。", notice="已过期")
    return Reply("按钮已过期,请重新发“报进展”。", notice="已过期")


def cb_confirm(ctx: Ctx, parts: list[str]) -> Reply:
    conv = ctx.conversation()
    if conv is None or conv.flow != "confirm":
        return Reply("按钮已过期,请重新提交。", notice="已过期")
    if not parts or parts[0] != "yes":
        ctx.end_conversation()
        return Reply(CANCELLED)
    return continue_confirm(ctx, conv, "确定") or Reply("按钮已过期,请重新提交。", notice="已过期")


def cb_update(ctx: Ctx, parts: list[str]) -> Reply:
    task = ctx.session.get(Task, int(parts[0])) if parts and parts[0].isdigit() else None
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    return start_guided(ctx, task)
