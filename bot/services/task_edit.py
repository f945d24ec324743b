"""Completing the 台账 in chat: 责任人, 专班, 时间节点, 来源 and 节点 of a task.

Team leads edit their own team's tasks, admins any task (the role check is the EDIT action
at dispatch; the team check is here). A 销号 task (done, or review approved) is not edited.
Every change writes an audit line with the old value and a ``修改``/``节点`` timeline entry.
The first time the deadline moves, ``Task.original_deadline`` keeps the old one (原时限).
A 节点 date may not fall after the task's 时间节点, and the 时间节点 may not move before an
open 节点's date.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.config import LightsConfig
from bot.models import ROLE_TEAM_LEAD, STATUS_DONE, Milestone, Person, Task
from bot.services import audit
from bot.services.assign import (
    ORIGINS,
    find_person_exact,
    parse_deadline,
    parse_origin,
    require_team,
)
from bot.services.errors import InvalidInput, PermissionDenied
from bot.services.lights import refresh_light_dates
from bot.services.timeline import KIND_EDIT, KIND_NODE, add_event
from bot.workdays import WorkCalendar

FIELDS = {"责任人": "owner", "负责人": "owner", "专班": "team", "牵头专班": "team",
          "截止": "deadline", "时间节点": "deadline", "时限": "deadline", "期限": "deadline",
          "来源": "origin"}
FIELD_NAMES = {"owner": "责任人", "team": "专班", "deadline": "时间节点", "origin": "来源"}
CLEAR_WORDS = {"无", "空", "清空", "未指定", "不指定"}
NODE_OPS = {"add": "add", "添加": "add", "新增": "add", "加": "add", "增加": "add",
            "rename": "rename", "改名": "rename", "重命名": "rename",
            "date": "date", "改期": "date", "日期": "date", "改日期": "date",
            "done": "done", "完成": "done", "已完成": "done"}


def require_can_edit(person: Person, task: Task) -> None:
    if task.status == STATUS_DONE or task.review_status == "approved":
        raise InvalidInput(f"“{task.name}”已销号,不能再修改。")
    if person.is_admin:
        return
    if person.role == ROLE_TEAM_LEAD and person.team_id is not None and person.team_id == task.team_id:
        return
    raise PermissionDenied(f"“{task.name}”不是你专班的事项,不能修改。")


def _name(person: Optional[Person]) -> Optional[str]:
    return person.name if person else None


def set_field(session: Session, now: datetime, person: Person, task: Task, field: str, value: str,
              rules: LightsConfig, calendar: Optional[WorkCalendar] = None) -> str:
    """Change one field; returns the short Chinese line saying what changed."""
    require_can_edit(person, task)
    value = value.strip()
    if not value:
        raise InvalidInput(f"请写新的{FIELD_NAMES[field]}。")
    notes: list[str] = []
    before: Optional[str | date]
    after: Optional[str | date]
    if field == "owner":
        new_owner = None if value in CLEAR_WORDS else find_person_exact(session, value)
        if new_owner is None and value not in CLEAR_WORDS:
            raise InvalidInput(f"没有找到人员“{value}”。请写系统里已有的姓名。")
        if new_owner is not None and new_owner.team_id != task.team_id:
            team_name = task.team.name if task.team else "未分配"
            raise InvalidInput(f"{new_owner.name}不是{team_name}的人员,不能做责任人。")
        old = session.get(Person, task.owner_id) if task.owner_id else None
        if (old.id if old else None) == (new_owner.id if new_owner else None):
            raise InvalidInput(f"责任人已经是{_name(old) or '未指定'},没有改动。")
        task.owner_id = new_owner.id if new_owner else None
        task.owner = new_owner
        before, after = _name(old), _name(new_owner)
    elif field == "team":
        team = require_team(session, value)
        if team.id == task.team_id:
            raise InvalidInput(f"专班已经是{team.name},没有改动。")
        before, after = (task.team.name if task.team else None), team.name
        old_owner = session.get(Person, task.owner_id) if task.owner_id else None
        task.team_id, task.team = team.id, team
        task.leader_id = team.leader_id
        if old_owner is not None and old_owner.team_id != team.id:
            task.owner_id, task.owner = None, None
            notes.append(f"原责任人{old_owner.name}不在{team.name},责任人改为未指定。")
            add_event(session, now, task, KIND_EDIT, person, f"责任人:{old_owner.name} → 未指定",
                      {"field": "owner", "old": old_owner.name, "new": None})
            audit.record(session, now, person, "edit", "task", task.key, {"owner": old_owner.name}, {"owner": None})
    elif field == "deadline":
        new = parse_deadline(value, now, calendar)
        if new == task.deadline:
            raise InvalidInput(f"时间节点已经是{new.isoformat()},没有改动。")
        late = [(m.name, m.due) for m in task.milestones if m.done_at is None and m.due is not None and m.due > new]
        if late:
            raise InvalidInput(f"节点“{late[0][0]}”的日期 {late[0][1].isoformat()} 晚于新的时间节点 "
                               f"{new.isoformat()}。请先改节点日期。")
        before, after = task.deadline, new
        if task.original_deadline is None and task.deadline is not None:
            task.original_deadline = task.deadline
        task.deadline = new
        refresh_light_dates(task, rules)
    elif field == "origin":
        origin = parse_origin(value)
        if origin is None:
            raise InvalidInput(f"来源“{value}”不认识,可写:{'、'.join(ORIGINS)}。")
        if origin == task.origin:
            raise InvalidInput(f"来源已经是{origin},没有改动。")
        before, after = task.origin, origin
        task.origin = origin
    else:  # pragma: no cover - FIELDS maps only the four
        raise InvalidInput("只能改:责任人、专班、时间节点、来源。")
    task.last_activity_at = now
    refresh_light_dates(task, rules)
    label = FIELD_NAMES[field]
    line = f"{label}:{_show(before)} → {_show(after)}"
    add_event(session, now, task, KIND_EDIT, person, line, {"field": field, "old": before, "new": after})
    audit.record(session, now, person, "edit", "task", task.key, {field: before}, {field: after})
    return "\n".join([line, *notes])


def _show(value) -> str:
    if value is None:
        return "未指定"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _find_node(task: Task, name: str) -> Milestone:
    name = name.strip()
    for milestone in task.milestones:
        if milestone.name == name:
            return milestone
    for milestone in task.milestones:
        if name and name in milestone.name:
            return milestone
    names = "、".join(m.name for m in task.milestones) or "无"
    raise InvalidInput(f"“{task.name}”没有节点“{name}”。已有节点:{names}")


def _node_date(task: Task, text: str, now: datetime, calendar) -> date:
    due = parse_deadline(text, now, calendar)
    if task.deadline is not None and due > task.deadline:
        raise InvalidInput(f"节点日期 {due.isoformat()} 晚于事项的时间节点 {task.deadline.isoformat()},不能这样设。"
                           "如确需调整,请先改时间节点。")
    return due


def edit_node(session: Session, now: datetime, person: Person, task: Task, op: str, args: list[str],
              calendar: Optional[WorkCalendar] = None) -> str:
    """add 名称 [日期] | rename 旧名 新名 | date 名称 日期 | done 名称; returns what changed."""
    require_can_edit(person, task)
    before: Optional[dict[str, Any]]
    after: dict[str, Any]
    if op == "add":
        if not args:
            raise InvalidInput("请写节点名称和日期,例如:/node 事项 add 开工 2026-01-10")
        name = args[0]
        if any(m.name == name for m in task.milestones):
            raise InvalidInput(f"已有节点“{name}”。")
        due = _node_date(task, args[1], now, calendar) if len(args) > 1 else None
        if len(args) > 2:
            raise InvalidInput("节点名称不要带空格,例如:/node 事项 add 主体封顶 2026-01-10")
        order = max((m.sort_order for m in task.milestones), default=-1) + 1
        milestone = Milestone(task_id=task.id, name=name, due=due, sort_order=order)
        session.add(milestone)
        task.milestones.append(milestone)
        session.flush()
        line = f"新增节点“{name}”" + (f"({due.isoformat()})" if due else "")
        before, after = None, {"name": name, "due": due}
    elif op == "rename":
        if len(args) != 2:
            raise InvalidInput("请写旧名和新名,例如:/node 事项 rename 开工 正式开工")
        milestone = _find_node(task, args[0])
        if any(m.name == args[1] for m in task.milestones):
            raise InvalidInput(f"已有节点“{args[1]}”。")
        before, after = {"name": milestone.name}, {"name": args[1]}
        line = f"节点改名:“{milestone.name}” → “{args[1]}”"
        milestone.name = args[1]
    elif op == "date":
        if len(args) != 2:
            raise InvalidInput("请写节点名称和日期,例如:/node 事项 date 开工 2026-01-10")
        milestone = _find_node(task, args[0])
        due = _node_date(task, args[1], now, calendar)
        if milestone.done_at is not None:
            raise InvalidInput(f"节点“{milestone.name}”已完成,不能改日期。")
        before, after = {"due": milestone.due}, {"due": due}
        line = f"节点“{milestone.name}”日期:{_show(milestone.due)} → {due.isoformat()}"
        milestone.due = due
    elif op == "done":
        if len(args) != 1:
            raise InvalidInput("请写节点名称,例如:/node 事项 done 开工")
        milestone = _find_node(task, args[0])
        if milestone.done_at is not None:
            raise InvalidInput(f"节点“{milestone.name}”已于{milestone.done_at:%m-%d}完成。")
        milestone.done_at, milestone.done_by_id = now, person.id
        before, after = {"done_at": None}, {"done_at": now}
        line = f"节点“{milestone.name}”已完成"
    else:
        raise InvalidInput("节点操作写:add(添加)、rename(改名)、date(改期)、done(完成)。")
    task.last_activity_at = now
    add_event(session, now, task, KIND_NODE, person, line, {"op": op})
    audit.record(session, now, person, f"node_{op}", "milestone", task.key, before, after)
    return line
