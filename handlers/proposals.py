"""Proposed updates: a progress report in words becomes "记为:… ?" with [确定] [改一下] [取消].

Nothing is recorded until the person confirms. When the task is not certain (a typo matched
by pinyin or fuzzily, extra words in the name, several tasks fit), the person first picks or
confirms the task. The state is a ``propose`` dialogue (``handlers.dialogues``):
data = {task_id | candidates, progress, note, problems, next_steps}.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from bot.buttons import Cb
from bot.messages import Reply
from bot.models import Conversation, Task
from bot.numerals import parse_progress, strip_span
from bot.services import people as people_service
from bot.services.lookup import NAMES
from bot.services.text import clip, fmt_number
from handlers import flows
from handlers.context import Ctx

FLOW = "propose"
EDIT_WORDS = {"改一下", "改", "修改", "改改", "不对", "重新写"}


def propose(ctx: Ctx, task: Optional[Task], draft: dict, candidates: Sequence[int] = (),
            asked: str = "") -> Reply:
    """Show the proposal for ``task``, or ask which of ``candidates`` is meant."""
    if task is None:
        data = {**draft, "candidates": list(candidates)}
        conv = ctx.start_conversation(FLOW, "pick", data)
        buttons = [[ctx.button("📌 " + NAMES.name_of(ctx.session, ("task", tid)), Cb.PROPOSE, conv.id, "pick", tid)]
                   for tid in candidates[:8]]
        buttons.append([ctx.button("取消", Cb.PROPOSE, conv.id, "no")])
        return Reply((asked or "是哪个事项?") + "\n选一个,或发“取消”。", buttons=buttons)
    people_service.require_can_update(ctx.person, task)
    if task.status == "done" and draft.get("progress") is None and not any(
            draft.get(k) for k in ("note", "problems", "next_steps")):
        return Reply(f"“{task.name}”已完成。")
    data = {**draft, "task_id": task.id}
    data.pop("candidates", None)
    conv = ctx.start_conversation(FLOW, "confirm", data)
    ctx.remember(topic={"kind": "task", "id": task.id, "at": ctx.now.isoformat()})
    return Reply(summary(task, data) + "?",
                 buttons=[[ctx.button("确定", Cb.PROPOSE, conv.id, "ok"),
                           ctx.button("改一下", Cb.PROPOSE, conv.id, "edit"),
                           ctx.button("取消", Cb.PROPOSE, conv.id, "no")]])


def summary(task: Task, data: dict) -> str:
    parts = [f"记为:{task.name}"]
    if data.get("progress") is not None:
        parts[0] += f" {fmt_number(data['progress'])}%"
        if task.progress is not None and data["progress"] < task.progress:
            parts.append(f"(比上次的{fmt_number(task.progress)}%低)")
    if data.get("note"):
        parts.append(f"说明:{clip(data['note'], 60)}")
    if data.get("problems"):
        parts.append(f"问题:{clip(data['problems'], 60)}")
    if data.get("next_steps"):
        parts.append(f"下一步:{clip(data['next_steps'], 60)}")
    if data.get("progress") is None:
        parts.append("(不改进度)")
    return ",".join(parts)


def _submit(ctx: Ctx, task: Task, data: dict) -> Reply:
    return flows.submit_update(ctx, task, data.get("progress"), data.get("note"), confirmed=True,
                               problems=data.get("problems"), next_steps=data.get("next_steps"))


_NOTE_PREFIX = re.compile(r"^(?:说明|备注|进展说明|进展)\s*[::]?\s*")
_PROBLEM_PREFIX = re.compile(r"^(?:问题|困难)\s*[::是]?\s*")
_NEXT_PREFIX = re.compile(r"^(?:下一步|下步|下步计划|下一步计划)\s*[::]?\s*")


def _edit(ctx: Ctx, task: Task, data: dict, text: str) -> Reply:
    """A change typed after 改一下 (or straight in the proposal): a number, a note, a problem."""
    labelled = _NOTE_PREFIX.match(text) or _PROBLEM_PREFIX.match(text) or _NEXT_PREFIX.match(text)
    parsed = parse_progress("" if labelled else text, mask=[task.name])
    if parsed.ok:
        data["progress"] = parsed.value
        text = strip_span(text, parsed.span)
    elif parsed.reason not in (None, "none"):
        return Reply(f"{parsed.ask} 发“取消”放弃。")  # not ok: ask is set
    text = text.strip()
    if text:
        if _PROBLEM_PREFIX.match(text):
            data["problems"] = _PROBLEM_PREFIX.sub("", text)
        elif _NEXT_PREFIX.match(text):
            data["next_steps"] = _NEXT_PREFIX.sub("", text)
        else:
            data["note"] = _NOTE_PREFIX.sub("", text)
    return propose(ctx, task, data)


def continue_propose(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    data = dict(conv.data or {})
    lowered = text.lower().strip()
    if conv.step == "pick":
        if lowered.isdigit() and 0 < int(lowered) <= len(data.get("candidates", [])):
            task = ctx.session.get(Task, data["candidates"][int(lowered) - 1])
            return propose(ctx, task, data)
        ctx.end_conversation()
        return None  # something else: answered as a fresh message
    task = ctx.session.get(Task, data.get("task_id")) if data.get("task_id") else None
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    if lowered in flows.YES:
        return _submit(ctx, task, data)
    if lowered in EDIT_WORDS:
        ctx.start_conversation(FLOW, "edit", data)
        return Reply("请发改后的内容,例如:65% 主体封顶;或 问题:… / 下一步:…")
    if conv.step == "edit" or _NOTE_PREFIX.match(text) or _PROBLEM_PREFIX.match(text) \
            or _NEXT_PREFIX.match(text) or parse_progress(text).ok:
        return _edit(ctx, task, data, text)
    ctx.end_conversation()
    return None  # not about this draft: a fresh message (the draft is dropped)


def cb_propose(ctx: Ctx, parts: list[str]) -> Reply:
    conv = ctx.conversation()
    if conv is None or conv.flow != FLOW or not parts or parts[0] != str(conv.id):
        return Reply("按钮已过期,请重新发。", notice="已过期")
    action = parts[1] if len(parts) > 1 else ""
    data = dict(conv.data or {})
    if action == "no":
        ctx.end_conversation()
        return Reply(flows.CANCELLED)
    if action == "pick" and len(parts) > 2 and parts[2].isdigit() and int(parts[2]) in data.get("candidates", []):
        return propose(ctx, ctx.session.get(Task, int(parts[2])), data)
    task = ctx.session.get(Task, data.get("task_id")) if data.get("task_id") else None
    if task is None:
        return Reply("按钮已过期,请重新发。", notice="已过期")
    if action == "ok":
        return _submit(ctx, task, data)
    if action == "edit":
        ctx.start_conversation(FLOW, "edit", data)
        return Reply("请发改后的内容,例如:65% 主体封顶;或 问题:… / 下一步:…")
    return Reply("按钮已过期,请重新发。", notice="已过期")
