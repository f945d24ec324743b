"""Short, phone-sized Chinese text for cards and lists (shared by every command)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.models import Task, TaskUpdate
from bot.services.lights import light_of, schedule_progress
from bot.services.task_lists import TaskPage, recent_updates
from bot.services.tasks import team_name
from bot.services.text import clip, fmt_number


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
    if task.target_text:
        lines.append(f"目标:{task.target_text}")
    deadline = task.deadline.isoformat() if task.deadline else "报告未定时间节点"
    lines.append(f"时间节点:{deadline}")
    expected = schedule_progress(task, today)
    progress = f"进度:{progress_text(task)}"
    if expected is not None and task.status == "active":
        progress += f"(序时进度{expected:.0f}%)"
    lines.append(progress)
    status = f"状态:{light.label}"
    if light.reasons:
        status += "," + ",".join(light.reasons)
    lines.append(status)
    pending = [m for m in task.milestones if m.done_at is None]
    done = [m for m in task.milestones if m.done_at is not None]
    if task.milestones:
        marks = [f"✔{m.name}" for m in done] + [
            f"○{m.name}{'(' + m.due.strftime('%m-%d') + ')' if m.due else ''}" for m in pending]
        lines.append("节点:" + " ".join(marks))
    history = recent_updates(session, task, updates)
    if history:
        lines.append("最近进展:")
        lines.extend(update_line(u, today) for u in history)
    else:
        lines.append("最近进展:暂无。")
        if task.description:
            lines.append(f"报告摘要:{clip(task.description, 60)}")
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


def update_receipt(task: Task, update: TaskUpdate, now: datetime, completed: bool) -> str:
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
        lines.append(f"问题:{clip(update.problems, 40)}")
    if update.next_steps:
        lines.append(f"下一步:{clip(update.next_steps, 40)}")
    if completed:
        lines.append("进度100%,事项已标记完成(销号)。")
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
