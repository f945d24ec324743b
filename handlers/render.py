"""Short, phone-sized Chinese text for cards and lists (shared by every command)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.models import Person, ReviewStatus, Task, TaskUpdate
from bot.services.assign import rollup
from bot.services.extensions import decisions as extension_decisions
from bot.services.lights import LIGHT_ICONS, light_of, schedule_progress
from bot.services.pending_instructions import open_instructions
from bot.services.task_lists import TaskPage, recent_updates
from bot.services.tasks import team_name
from bot.services.text import clip, fmt_number
from bot.services.timeline import KIND_LABELS, TimelinePage


def when(at: datetime, today: date) -> str:
    if at.date() == today:
        return f"今天{at:%H:%M}"
    if at.year == today.year:
        return f"{at:%m-%d %H:%M}"
    return f"{at:%Y-%m-%d}"


def progress_text(task: Task) -> str:
    return "未报" if task.progress is None else f"{fmt_number(task.progress)}%"


def update_line(update: TaskUpdate, today: date) -> str:
    who = update.author.name if update.author else "系统"
    parts = [when(update.created_at, today), who]
    if update.progress is not None:
        parts.append(f"{fmt_number(update.progress)}%")
    if update.milestone is not None:
        parts.append(f"完成节点“{update.milestone.name}”")
    text = " ".join(parts)
    if update.note:
        text += ":" + clip(update.note, 40)
    if update.photo_path or update.photo_file_id:
        text += " 📷"
    return "· " + text


def task_card(session: Session, task: Task, now: datetime, updates: int = 3) -> str:
    today = now.date()
    light = light_of(task, today)
    lines = [f"{light.icon} {task.name}【{task.category}{'·' + task.subcategory if task.subcategory else ''}】"]
    owner = task.owner.name if task.owner else "未指定"
    lines.append(f"专班:{team_name(task)}  责任人:{owner}")
    if task.lead_unit:
        lines.append(f"牵头单位:{task.lead_unit}")
    lines.extend(_assignment_lines(session, task, today))
    if task.target_text:
        lines.append(f"目标:{task.target_text}")
    deadline = task.deadline.isoformat() if task.deadline else "报告未定时间节点"
    moved = []  # 原时限 when the date moved, 延期次数 when extensions moved it
    if task.original_deadline is not None and task.original_deadline != task.deadline:
        moved.append(f"原时限{task.original_deadline.isoformat()}")
    if task.extension_count:
        moved.append(f"延期{task.extension_count}次")
    lines.append(f"时间节点:{deadline}" + (f"({','.join(moved)})" if moved else ""))
    for at, _who, what in extension_decisions(session, task):
        lines.append(f"· {when(at, today)} {what}")
    expected = schedule_progress(task, today)
    progress = f"进度:{progress_text(task)}"
    if expected is not None and task.status == "active":
        progress += f"(序时进度{expected:.0f}%)"
    lines.append(progress)
    status = f"状态:{light.label}"
    if task.review_status == "approved" and task.status == "done":
        status = "状态:已销号(审核通过)"
    elif task.review_status == ReviewStatus.PENDING:
        status = "状态:待审核(已报完成,等专班负责人审核)"
    elif light.reasons:
        status += "," + ",".join(light.reasons)
    lines.append(status)
    if task.review_status == "returned" and task.return_reason:
        lines.append(f"退回理由:{clip(task.return_reason, 60)}")
    pending = [m for m in task.milestones if m.done_at is None]
    done = [m for m in task.milestones if m.done_at is not None]
    if task.milestones:
        marks = [f"✔{m.name}" for m in done] + [
            f"○{m.name}{'(' + m.due.strftime('%m-%d') + ')' if m.due else ''}" for m in pending]
        lines.append("节点:" + " ".join(marks))
    lines.extend(_cycle_lines(session, task, today))
    history = recent_updates(session, task, updates)
    if history:
        lines.append("最近进展:")
        lines.extend(update_line(u, today) for u in history)
    else:
        lines.append("最近进展:暂无。")
        if task.description:
            lines.append(f"报告摘要:{clip(task.description, 60)}")
    return "\n".join(lines)


def _assignment_lines(session: Session, task: Task, today: date) -> list[str]:
    """上级事项, 来源, 交办 and 签收 (only for tasks that have them)."""
    lines = []
    if task.parent_id is not None:
        parent = session.get(Task, task.parent_id)
        if parent is not None:
            lines.append(f"上级事项:{parent.name}")
    parts = []
    if task.origin:
        parts.append(f"来源:{task.origin}")
    if task.assigned_at is not None:
        by = session.get(Person, task.assigned_by_id) if task.assigned_by_id else None
        parts.append(f"交办:{by.name if by else ''}{when(task.assigned_at, today)}")
        if task.signed_at is None:
            parts.append("签收:待签收")
        else:
            signer = session.get(Person, task.signed_by_id) if task.signed_by_id else None
            parts.append(f"签收:{signer.name if signer else ''}{when(task.signed_at, today)}")
    if parts:
        lines.append("  ".join(parts))
    return lines


def _cycle_lines(session: Session, task: Task, today: date) -> list[str]:
    """分解 roll-up, open 批示, 催办, 存在问题 and 下步计划."""
    lines = []
    children = rollup(session, task, today)
    if children is not None:
        lights = " ".join(f"{LIGHT_ICONS[c]}{n}" for c, n in sorted(children.by_light.items(),
                                                                   key=lambda item: list(LIGHT_ICONS).index(item[0])))
        lines.append(f"分解:{children.count}项 {lights} 平均进度{fmt_number(round(children.average))}%")
    pending = open_instructions(session, task)
    if pending:
        latest = pending[-1]
        leader = session.get(Person, latest.leader_id) if latest.leader_id else None
        more = f",共{len(pending)}条" if len(pending) > 1 else ""
        lines.append(f"📝 批示({leader.name if leader else ''} {when(latest.created_at, today)}):"
                     f"{clip(latest.text, 40)}(待反馈{more})")
    if task.urge_count:
        last = f",最近{when(task.last_urged_at, today)}" if task.last_urged_at else ""
        lines.append(f"催办:{task.urge_count}次{last}")
    if task.problems:
        lines.append(f"存在问题:{clip(task.problems, 40)}")
    if task.next_steps:
        lines.append(f"下步计划:{clip(task.next_steps, 40)}")
    return lines


def timeline_text(page: TimelinePage, today: date) -> str:
    """A page of the timeline: one line per entry, newest first."""
    task = page.task
    if not page.total:
        return f"🕘 {task.name} 时间轴:还没有记录。"
    head = f"🕘 {task.name} 时间轴(共{page.total}条"
    head += f",第{page.page}/{page.pages}页)" if page.pages > 1 else ")"
    lines = [head]
    for entry in page.entries:
        label = KIND_LABELS.get(entry.kind, entry.kind)
        text = f"· {when(entry.at, today)} {label}"
        if entry.who:
            text += f" {entry.who}"
        if entry.text:
            text += ":" + clip(entry.text, 50)
        lines.append(text)
    return "\n".join(lines)


def task_row(task: Task, light, today: date) -> str:
    parts = [f"{light.icon} {clip(task.name, 16)}", progress_text(task)]
    if task.deadline:
        parts.append(f"截止{task.deadline:%m-%d}" if task.deadline.year == today.year
                     else f"截止{task.deadline.isoformat()}")
    if light.reasons:
        parts.append(light.reasons[0])
    return " ".join(parts)


def task_page(page: TaskPage, today: date, empty: Optional[str] = None) -> str:
    if not page.total:
        return empty or f"{page.title}:没有。"
    head = f"{page.title}(共{page.total}项"
    head += f",第{page.page}/{page.pages}页)" if page.pages > 1 else ")"
    return "\n".join([head, *(task_row(t, light, today) for t, light in page.rows)])


def update_receipt(task: Task, update: TaskUpdate, now: datetime, completed: bool,
                   pending_review: bool = False) -> str:
    """The short answer to a progress report: what was logged, by whom, when, and the light."""
    today = now.date()
    if update.progress is not None:
        lines = [f"✅ 已记录:{task.name} {progress_text(task)}"]
    else:  # a note-only update shows no figure: it would read as the progress just reported
        lines = [f"✅ 已记录:{task.name} 进展说明(未改进度)"]
    who = f"{update.author.name if update.author else '系统'} · {when(update.created_at, today)}"
    if update.milestone is not None:
        who += f" · 完成节点“{update.milestone.name}”"
    if update.note:
        who += f" · {clip(update.note, 40)}"
    if update.photo_path or update.photo_file_id:
        who += " 📷"
    lines.append(who)
    if update.problems:
        lines.append(f"存在问题:{clip(update.problems, 40)}")
    if update.next_steps:
        lines.append(f"下步计划:{clip(update.next_steps, 40)}")
    if completed:
        lines.append("进度100%,事项已标记完成(销号)。")
    elif pending_review:
        lines.append("进度100%,已提交审核(待审核),审核通过后销号。")
    else:
        light = light_of(task, today)
        status = f"{light.icon} {light.label}"
        expected = schedule_progress(task, today)
        if expected is not None:
            status += f"(序时进度{expected:.0f}%)"
        if light.reasons:
            status += "," + ",".join(light.reasons)
        lines.append(status)
    return "\n".join(lines)
