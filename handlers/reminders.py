"""Reminder commands and buttons: /remind settings, 申请延期 (a dialogue: date, then reason),
延期审批 (approve / refuse by button or reply), and 稍后提醒 (snooze)."""
from __future__ import annotations

from datetime import date
from typing import Optional

from bot.dateparse import DateParseError, parse_date
from bot.messages import Reply
from bot.models import Conversation, Milestone, Task
from bot.numerals import parse_progress
from bot.services import extensions, personal, reminder_rules
from bot.services import tasks as task_service
from bot.services.errors import InvalidInput
from bot.services.people import require_can_update
from handlers.context import Ctx

FLOW = "extend"


def _calendar(ctx: Ctx):
    return reminder_rules.make_calendar(ctx.app.config)


def cmd_remind(ctx: Ctx, args: str) -> Reply:
    """/remind — 看和改我的提醒设置(时间、免打扰、关闭一周)"""
    rc = ctx.app.config.reminders
    if args.strip():
        done = personal.change_settings(ctx.session, ctx.now, ctx.person, args)
        return Reply("✅ " + done + "\n" + personal.settings_text(ctx.person, rc, ctx.now))
    return Reply(personal.settings_text(ctx.person, rc, ctx.now),
                 buttons=[[ctx.button("关闭一周", "rm", "off"), ctx.button("开启", "rm", "on")]])


def cb_remind(ctx: Ctx, parts: list[str]) -> Reply:
    words = {"off": "关闭一周", "on": "开启"}
    if not parts or parts[0] not in words:
        return Reply("按钮已过期,请重新发 /remind。", notice="已过期")
    done = personal.change_settings(ctx.session, ctx.now, ctx.person, words[parts[0]])
    return Reply("✅ " + done, notice="已设置")


# ---------------------------------------------------------------- snooze

def cmd_snooze(ctx: Ctx, args: str) -> Reply:
    """/snooze [1小时|明早] — 最近一条提醒稍后再提醒"""
    row, when = personal.snooze(ctx.session, ctx.now, ctx.person, None, args.strip() or "1小时", _calendar(ctx))
    return Reply(f"🔔 好的,{when:%m-%d %H:%M} 再提醒你。")


def cb_snooze(ctx: Ctx, parts: list[str]) -> Reply:
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in personal.SNOOZE_CHOICES:
        return Reply("按钮已过期。", notice="已过期")
    row, when = personal.snooze(ctx.session, ctx.now, ctx.person, int(parts[0]), parts[1], _calendar(ctx))
    return Reply(f"🔔 好的,{when:%m-%d %H:%M} 再提醒你。", notice="稍后提醒")


# ---------------------------------------------------------------- extension requests

def _ask_date(ctx: Ctx, task: Task, milestone: Optional[Milestone]) -> Reply:

    require_can_update(ctx.person, task)
    if task.status != "active":
        raise InvalidInput("这个事项不在进行中,不需要延期。")
    old = milestone.due if milestone is not None else task.deadline
    ctx.start_conversation(FLOW, "date", {"task_id": task.id, "milestone_id": milestone.id if milestone else None})
    what = task.name + (f" · {milestone.name}" if milestone else "")
    old_text = reminder_rules.fmt_day(old) if old else "未定"
    return Reply(f"申请延期:📌 {what}\n现截止:{old_text}\n请发新的日期,如 2026-01-15、1月15日、"
                 "1.15、下周五。(发“取消”退出)")


def start_extension(ctx: Ctx, task: Task, new_iso: Optional[str]) -> Reply:
    """申请延期 from a sentence (handlers.understand): with the new date already given, go
    straight to the reason; a date not later than today or the old deadline is asked again."""
    reply = _ask_date(ctx, task, None)
    if not new_iso:
        return reply
    new = date.fromisoformat(new_iso)
    old = task.deadline
    if new <= ctx.now.date() or (old is not None and new <= old):
        return Reply(f"申请延期:📌 {task.name}\n新日期({new:%Y-%m-%d})要晚于今天和原截止日期"
                     f"({reminder_rules.fmt_day(old) if old else '未定'})。请发新的日期,或发“取消”。")
    conv = ctx.conversation()
    assert conv is not None  # _ask_date has just started it
    data = {**(conv.data or {}), "new_deadline": new.isoformat()}
    ctx.start_conversation(FLOW, "reason", data)
    return Reply(f"申请延期:📌 {task.name}\n新日期:{new:%Y-%m-%d}({new.year}年{new.month}月{new.day}日)。\n"
                 "请写一句延期理由。(发“取消”退出)")


def cmd_extend(ctx: Ctx, args: str) -> Reply:
    """/extend 事项名 — 申请延期(写新日期和理由,专班负责人审批)"""
    if not args.strip():
        ctx.start_conversation(FLOW, "task", {})
        return Reply("申请延期:请发事项名称,例如:纳图电气。(发“取消”退出)")
    return _ask_date(ctx, task_service.find_task(ctx.session, args), None)


def cb_extend(ctx: Ctx, parts: list[str]) -> Reply:
    task = ctx.session.get(Task, int(parts[0])) if parts and parts[0].isdigit() else None
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    milestone = None
    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]):
        milestone = ctx.session.get(Milestone, int(parts[1]))
    return _ask_date(ctx, task, milestone)


def continue_extend(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """The 申请延期 dialogue: task (if not given) → new date → reason → request sent."""
    data = dict(conv.data or {})
    if conv.step == "task":
        return _ask_date(ctx, task_service.find_task(ctx.session, text), None)
    task = ctx.session.get(Task, data.get("task_id")) if data.get("task_id") else None
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    milestone = ctx.session.get(Milestone, data["milestone_id"]) if data.get("milestone_id") else None
    if conv.step == "date":
        try:
            new = parse_date(text, ctx.now, _calendar(ctx))
        except DateParseError as error:
            return Reply(f"{error}\n请重新发新的日期,或发“取消”。")
        old = milestone.due if milestone is not None else task.deadline
        if new <= ctx.now.date() or (old is not None and new <= old):
            return Reply(f"新日期({new:%Y-%m-%d})要晚于今天和原截止日期。请重新发,或发“取消”。")
        data["new_deadline"] = new.isoformat()
        ctx.start_conversation(FLOW, "reason", data)
        return Reply(f"新日期:{new.year}年{new.month}月{new.day}日。\n请写一句延期理由。")
    if conv.step == "reason":
        figure = parse_progress(text)
        if figure.value is not None or figure.reason not in (None, "none"):
            # "纳图电气 65%" typed here is a progress report, not a reason: never file it as one
            return Reply("这像是报进展,不像延期理由。请写一句延期理由;"
                         "要报进展请先发“取消”,再发“报进展”。")
        request = extensions.request_extension(ctx.session, ctx.now, ctx.person, task,
                                        date.fromisoformat(data["new_deadline"]), text, milestone)
        ctx.end_conversation()
        return Reply(f"✅ 延期申请已提交(编号{request.id}),等专班负责人审批,结果会通知你。")
    ctx.end_conversation()
    return None


def _decide(ctx: Ctx, args: str, approve: bool) -> Reply:
    head, _, note = args.strip().partition(" ")
    head = head.lstrip("#")
    if not head.isdigit():
        word = "同意延期" if approve else "不同意延期"
        return Reply(f"请写申请编号,例如:{word} 12")
    request = extensions.decide_extension(ctx.session, ctx.now, ctx.person, int(head), approve,
                                          ctx.app.config.lights, note.strip(),
                                          ctx.app.config.workflow.extension_leader_days)
    task = ctx.session.get_one(Task, request.task_id)
    d = request.new_deadline
    if approve and request.status == "pending":  # went up to the 分管领导
        leaders = "、".join(p.name for p in extensions.task_leaders(ctx.session, task))
        return Reply(f"✅ 已同意(编号{request.id}):{task.name} 延至 {d.year}年{d.month}月{d.day}日,"
                     f"还需分管领导审批,已转{leaders}。", notice="已转分管领导")
    if approve:
        return Reply(f"✅ 已同意延期(编号{request.id}):{task.name} "
                     f"截止改为 {d.year}年{d.month}月{d.day}日,已通知申请人。",
                     notice="已同意")
    return Reply(f"已不同意延期(编号{request.id}):{task.name},已通知申请人。", notice="已不同意")


def cmd_approve(ctx: Ctx, args: str) -> Reply:
    """/approve 编号 — 同意延期申请(专班负责人)"""
    return _decide(ctx, args, True)


def cmd_refuse(ctx: Ctx, args: str) -> Reply:
    """/refuse 编号 [说明] — 不同意延期申请(专班负责人)"""
    return _decide(ctx, args, False)


def cb_decide(ctx: Ctx, parts: list[str]) -> Reply:
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("y", "n"):
        return Reply("按钮已过期。", notice="已过期")
    return _decide(ctx, parts[0], parts[1] == "y")
