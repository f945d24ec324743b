"""立项 / 交办, 签收 and 分解交办: creating tasks in chat and accepting them.

A leader or admin describes a task (``parse_assign`` reads one line; the guided dialogue in
``handlers.cycle`` fills the same ``AssignSpec`` step by step). ``check_spec`` refuses what
cannot be recorded (unknown 专班 or 责任人, a 时间节点 in the past, a 节点 after it, a
duplicate name); nothing is written until the person confirms, then ``create_tasks``
writes the task(s), their 节点, a 交办 timeline entry and the audit, and pushes the task to
its 责任人 and the team lead with a [签收] button.

签收 (``sign_task``): only the task's 责任人 or its team lead may sign, once. A task not
signed within ``reminder_rules.SIGN_WITHIN_WORKDAYS`` working days is reported to the
交办人 and the team lead by the reminder tick (kind ``unsigned``).

分解交办 (``split_specs``): one parent, several sub-tasks, each for a team with its own date
(not after the parent's) and optional 责任人; the parent's card shows their roll-up.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.config import LightsConfig
from bot.dateparse import DateParseError, parse_date
from bot.models import (
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    STATUS_DONE,
    Milestone,
    OutboxKind,
    Person,
    Task,
    Team,
)
from bot.services import audit
from bot.services.errors import InvalidInput, PermissionDenied
from bot.services.lights import light_sql, refresh_light_dates
from bot.services.lookup import bump_names_version, search_keys_for
from bot.services.outbox_store import push
from bot.services.people import team_lead_of
from bot.services.text import nfkc
from bot.services.timeline import KIND_ASSIGN, KIND_SIGN, KIND_SPLIT, add_event
from bot.workdays import WorkCalendar

ORIGINS = ("会议", "批示", "上级交办", "报告")
ORIGIN_WORDS = {"会议": "会议", "开会": "会议", "会议纪要": "会议", "纪要": "会议", "批示": "批示",
                "领导批示": "批示", "上级交办": "上级交办", "上级": "上级交办", "交办": "上级交办",
                "报告": "报告", "工作报告": "报告"}
DEFAULT_CATEGORY = "交办事项"
NAME_MAX = 60

FIELD_ALIASES = {
    "专班": "team", "牵头专班": "team", "牵头": "team",
    "责任人": "owner", "负责人": "owner",
    "截止": "deadline", "时间节点": "deadline", "时限": "deadline", "期限": "deadline", "完成时限": "deadline",
    "来源": "origin",
    "节点": "node",
}
_KEY_VALUE = re.compile(r"^(?P<key>[^:=]+)[:=](?P<value>.+)$")


@dataclass
class AssignSpec:
    """What a 交办 will create; plain data so a dialogue can keep it in its JSON state."""

    name: str = ""
    team_id: Optional[int] = None
    owner_id: Optional[int] = None
    deadline: Optional[date] = None
    origin: Optional[str] = None
    nodes: list[tuple[str, date]] = field(default_factory=list)
    parent_id: Optional[int] = None
    category: Optional[str] = None

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "team_id": self.team_id, "owner_id": self.owner_id,
                "deadline": self.deadline.isoformat() if self.deadline else None, "origin": self.origin,
                "nodes": [[n, d.isoformat()] for n, d in self.nodes], "parent_id": self.parent_id,
                "category": self.category}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AssignSpec:
        return cls(name=data.get("name") or "", team_id=data.get("team_id"), owner_id=data.get("owner_id"),
                   deadline=date.fromisoformat(data["deadline"]) if data.get("deadline") else None,
                   origin=data.get("origin"),
                   nodes=[(n, date.fromisoformat(d)) for n, d in data.get("nodes") or []],
                   parent_id=data.get("parent_id"), category=data.get("category"))


# ---------------------------------------------------------------- reading what people type

def find_team_loose(session: Session, text: str) -> Optional[Team]:
    """A team by code or name; also without the 专班 suffix (项目一 → 项目一专班)."""
    text = text.strip()
    if not text:
        return None
    for candidate in (text, text + "专班"):
        team = session.scalar(select(Team).where((Team.code == candidate.lower()) | (Team.name == candidate)))
        if team is not None:
            return team
    return None


def find_person_exact(session: Session, name: str) -> Optional[Person]:
    return session.scalar(select(Person).where(Person.name == name.strip(), Person.active.is_(True)))


def require_team(session: Session, text: str) -> Team:
    team = find_team_loose(session, text)
    if team is None:
        names = "、".join(session.scalars(select(Team.name).order_by(Team.id)))
        raise InvalidInput(f"没有专班“{text.strip()}”。可选:{names}")
    return team


def require_person(session: Session, name: str) -> Person:
    person = find_person_exact(session, name)
    if person is None:
        raise InvalidInput(f"没有找到人员“{name.strip()}”。请写系统里已有的姓名。")
    return person


def parse_origin(text: str) -> Optional[str]:
    return ORIGIN_WORDS.get(text.strip())


def parse_deadline(text: str, now: datetime, calendar: Optional[WorkCalendar]) -> date:
    """A 时间节点: a date people type, not before today."""
    try:
        day = parse_date(text, now, calendar)
    except DateParseError as error:
        raise InvalidInput(f"{error}\n时间节点请写日期,例如 2026-03-31、3月底、下周五。") from None
    if day < now.date():
        raise InvalidInput(f"时间节点 {day.isoformat()} 已经过去了,请写今天或以后的日期。")
    return day


def parse_node(text: str, now: datetime, calendar: Optional[WorkCalendar]) -> tuple[str, date]:
    """'开工@2026-01-10', '开工 2026-01-10' or '开工:1月10日' -> (name, date)."""
    text = text.strip()
    match = re.match(r"^(?P<name>.+?)\s*[@:=\s]\s*(?P<day>[^@:=\s]+)$", text)
    if not match:
        raise InvalidInput(f"节点“{text}”请写成 名称@日期,例如 节点:开工@2026-01-10")
    return match.group("name").strip(), parse_deadline(match.group("day"), now, calendar)


def parse_assign(session: Session, text: str, now: datetime,
                 calendar: Optional[WorkCalendar] = None) -> AssignSpec:
    """One line: ``名称 专班 [责任人] 截止 [来源] [节点:名称@日期 ...]``, in any order after the
    name; ``专班:…``/``责任人:…``/``截止:…``/``来源:…`` spell a part out."""
    tokens = nfkc(text).replace(",", " ").replace(",", " ").split()
    if not tokens:
        raise InvalidInput("请写:/assign 事项名称 牵头专班 [责任人] 时间节点 [来源]\n"
                           "例如:/assign 老旧小区改造 项目二专班 王干部 2026-03-31 会议\n"
                           "或只发“交办”,一步步填写。")
    spec = AssignSpec()
    name_parts = [tokens[0]]  # the first word is always the name
    recognised = False
    for token in tokens[1:]:
        kind, value = _classify(session, token, now, calendar, spec)
        if kind is None:
            if recognised:
                raise InvalidInput(f"看不懂“{token}”:没有这个专班或人员,也不是日期或来源"
                                   f"({'/'.join(ORIGINS)})。")
            if token.endswith("专班"):
                raise InvalidInput(f"没有专班“{token}”。")
            name_parts.append(token)
            continue
        recognised = True
        _apply(spec, kind, value)
    spec.name = " ".join(name_parts)
    return spec


def _apply(spec: AssignSpec, kind: str, value: Any) -> None:
    current = {"team": spec.team_id, "owner": spec.owner_id, "deadline": spec.deadline,
               "origin": spec.origin}.get(kind)
    if kind == "node":
        spec.nodes.append(value)
        return
    if current is not None:
        raise InvalidInput("同一项写了两次(专班、责任人、时间节点或来源),请只写一个。")
    if kind == "team":
        spec.team_id = value.id
    elif kind == "owner":
        spec.owner_id = value.id
    elif kind == "deadline":
        spec.deadline = value
    elif kind == "origin":
        spec.origin = value


def _classify(session: Session, token: str, now: datetime, calendar, spec: AssignSpec):
    """What one token is: (kind, value) or (None, None) when it is none of them."""
    match = _KEY_VALUE.match(token)
    if match and match.group("key") in FIELD_ALIASES:
        kind = FIELD_ALIASES[match.group("key")]
        value = match.group("value")
        if kind == "team":
            return kind, require_team(session, value)
        if kind == "owner":
            return kind, require_person(session, value)
        if kind == "deadline":
            return kind, parse_deadline(value, now, calendar)
        if kind == "origin":
            origin = parse_origin(value)
            if origin is None:
                raise InvalidInput(f"来源“{value}”不认识,可写:{'、'.join(ORIGINS)}。")
            return kind, origin
        return kind, parse_node(value, now, calendar)
    team = find_team_loose(session, token) if spec.team_id is None else None
    if team is not None:
        return "team", team
    person = find_person_exact(session, token)
    if person is not None:
        return "owner", person
    origin = parse_origin(token)
    if origin is not None:
        return "origin", origin
    try:
        day = parse_date(token, now, calendar)
    except DateParseError:
        return None, None
    if day < now.date():
        raise InvalidInput(f"时间节点 {day.isoformat()} 已经过去了,请写今天或以后的日期。")
    return "deadline", day


# ---------------------------------------------------------------- checking and creating

def may_assign_to(person: Person) -> bool:
    return person.is_admin or person.role == "leader"


def check_spec(session: Session, spec: AssignSpec, today: date) -> None:
    """Refuse what cannot be recorded; the message says what to fix."""
    name = spec.name.strip()
    if not name:
        raise InvalidInput("请写事项名称。")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"事项名称太长({len(name)}字),请控制在{NAME_MAX}字以内。")
    if session.scalar(select(Task.id).where(Task.name == name)) is not None:
        raise InvalidInput(f"已有同名事项“{name}”。请换个名称,或直接打开它:/task {name}")
    if spec.team_id is None:
        raise InvalidInput("请写牵头专班,例如:项目二专班。")
    team = session.get(Team, spec.team_id)
    if team is None:
        raise InvalidInput("没有找到这个牵头专班,请重新写专班名称,例如:项目二专班。")
    if spec.deadline is None:
        raise InvalidInput("请写时间节点,例如 2026-03-31、3月底、下周五。")
    if spec.deadline < today:
        raise InvalidInput(f"时间节点 {spec.deadline.isoformat()} 已经过去了,请写今天或以后的日期。")
    if spec.owner_id is not None:
        owner = session.get(Person, spec.owner_id)
        if owner is None or owner.team_id != spec.team_id:
            raise InvalidInput(f"{owner.name if owner else '该人员'}不是{team.name}的人员,不能做责任人。"
                               "请写本专班的人员,或不写责任人(由专班负责人签收)。")
    for node, due in spec.nodes:
        if due > spec.deadline:
            raise InvalidInput(f"节点“{node}”的日期 {due.isoformat()} 晚于时间节点 {spec.deadline.isoformat()}。")
    if spec.parent_id is not None:
        parent = session.get(Task, spec.parent_id)
        if parent is not None and parent.deadline is not None and spec.deadline > parent.deadline:
            raise InvalidInput(f"分解事项的日期 {spec.deadline.isoformat()} 晚于上级事项的时间节点 "
                               f"{parent.deadline.isoformat()}。")


def describe(session: Session, spec: AssignSpec) -> str:
    team = session.get(Team, spec.team_id) if spec.team_id else None
    owner = session.get(Person, spec.owner_id) if spec.owner_id else None
    lines = [f"📌 {spec.name}", f"牵头专班:{team.name if team else '未写'}  责任人:{owner.name if owner else '未指定'}",
             f"时间节点:{spec.deadline.isoformat() if spec.deadline else '未写'}"]
    if spec.origin:
        lines.append(f"来源:{spec.origin}")
    if spec.nodes:
        lines.append("节点:" + " ".join(f"○{n}({d:%m-%d})" for n, d in spec.nodes))
    return "\n".join(lines)


def _new_key(session: Session) -> str:
    while True:
        key = f"jb-{secrets.token_hex(4)}"
        if session.scalar(select(Task.id).where(Task.key == key)) is None:
            return key


def create_task(session: Session, now: datetime, actor: Person, spec: AssignSpec,
                rules: LightsConfig) -> Task:
    """Write one 交办 task (after ``check_spec``) and push it to its owner and team lead."""
    check_spec(session, spec, now.date())
    parent = session.get(Task, spec.parent_id) if spec.parent_id else None
    team = session.get_one(Team, spec.team_id)  # check_spec made sure it exists
    task = Task(key=_new_key(session), name=spec.name.strip(), aliases=[],
                search_keys=search_keys_for(spec.name.strip(), []),
                category=spec.category or (parent.category if parent else DEFAULT_CATEGORY),
                team_id=team.id, owner_id=spec.owner_id, start_date=now.date(), deadline=spec.deadline,
                status=STATUS_ACTIVE, last_activity_at=now, created_at=now, origin=spec.origin,
                parent_id=parent.id if parent else None, leader_id=team.leader_id,
                assigned_by_id=actor.id, assigned_at=now, extension_count=0, urge_count=0)
    refresh_light_dates(task, rules)
    session.add(task)
    session.flush()
    for order, (name, due) in enumerate(spec.nodes):
        session.add(Milestone(task_id=task.id, name=name, due=due, sort_order=order))
    session.flush()
    bump_names_version(session)
    add_event(session, now, task, KIND_ASSIGN, actor, _assign_text(session, spec),
              {"team": team.name, "deadline": spec.deadline, "origin": spec.origin,
               "parent": parent.name if parent else None})
    audit.record(session, now, actor, "assign", "task", task.key, None,
                 {"name": task.name, "team": team.name, "owner_id": task.owner_id,
                  "deadline": task.deadline, "origin": task.origin,
                  "parent": parent.key if parent else None,
                  "nodes": [[n, d.isoformat()] for n, d in spec.nodes]})
    _push_assigned(session, now, actor, task, team)
    return task


def _assign_text(session: Session, spec: AssignSpec) -> str:
    owner = session.get(Person, spec.owner_id) if spec.owner_id else None
    team = session.get_one(Team, spec.team_id)
    assert spec.deadline is not None  # check_spec refuses a spec without a deadline
    text = f"{team.name}" + (f"·{owner.name}" if owner else "") + f",截止{spec.deadline.isoformat()}"
    return text + (f",来源:{spec.origin}" if spec.origin else "")


def recipients(session: Session, task: Task) -> list[Person]:
    """The owner and the team lead of a task (each once; either may be missing)."""
    out: list[Person] = []
    owner = session.get(Person, task.owner_id) if task.owner_id else None
    if owner is not None and owner.active:
        out.append(owner)
    lead = team_lead_of(session, task.team_id)
    if lead is not None and lead not in out:
        out.append(lead)
    return out


def _push_assigned(session: Session, now: datetime, actor: Person, task: Task, team: Team) -> None:
    owner = session.get(Person, task.owner_id) if task.owner_id else None
    assert task.deadline is not None  # a 交办 task always has one (check_spec)
    text = (f"📥 新交办({actor.name})\n📌 {task.name}\n专班:{team.name}  责任人:{owner.name if owner else '未指定'}"
            f"\n时间节点:{task.deadline.isoformat()}" + (f"\n来源:{task.origin}" if task.origin else "")
            + "\n请点“签收”,或回复“签收 " + task.name + "”。")
    for person in recipients(session, task):
        push(session, now, f"as:{task.id}:{person.id}", OutboxKind.ASSIGN, person.id, text,
             [push_action(PushAction.SIGN, task.id), push_action(PushAction.TASK, task.id)], task.id)


# ---------------------------------------------------------------- 签收

def can_sign(session: Session, person: Person, task: Task) -> bool:
    if task.owner_id == person.id:
        return True
    return person.role == ROLE_TEAM_LEAD and person.team_id is not None and person.team_id == task.team_id


def sign_task(session: Session, now: datetime, person: Person, task: Task) -> Task:
    """签收: the owner or the team lead accepts a 交办 task, once."""
    if task.assigned_at is None:
        raise InvalidInput(f"“{task.name}”不是交办事项,不需要签收。")
    if not can_sign(session, person, task):
        raise PermissionDenied(f"“{task.name}”不是交办给你的,只有责任人或本专班负责人可以签收。")
    if task.signed_at is not None:
        who = session.get(Person, task.signed_by_id) if task.signed_by_id else None
        raise InvalidInput(f"“{task.name}”已由{who.name if who else '他人'}于"
                           f"{task.signed_at:%m-%d %H:%M}签收,不用再签。")
    task.signed_by_id, task.signed_at = person.id, now
    task.last_activity_at = now
    add_event(session, now, task, KIND_SIGN, person)
    audit.record(session, now, person, "sign", "task", task.key, {"signed_at": None}, {"signed_at": now})
    if task.assigned_by_id and task.assigned_by_id != person.id:
        push(session, now, f"sg:{task.id}", OutboxKind.SIGNED, task.assigned_by_id,
             f"✅ {person.name}已签收:{task.name}", [push_action(PushAction.TASK, task.id)], task.id)
    return task


# ---------------------------------------------------------------- 分解交办

_SPLIT_ITEM = re.compile(r"^(?P<team>[^:=]+)[:=](?P<rest>.+)$")


def split_specs(session: Session, parent: Task, text: str, now: datetime,
                calendar: Optional[WorkCalendar] = None) -> list[AssignSpec]:
    """``专班:日期[:责任人] ...`` -> one sub-task spec per team (checked, not yet written)."""
    if parent.status == STATUS_DONE or parent.review_status == "approved":
        raise InvalidInput(f"“{parent.name}”已销号,不能再分解。")
    items = nfkc(text).replace(",", " ").replace(",", " ").replace(";", " ").split()
    if not items:
        raise InvalidInput("请写每个专班和日期,例如:/split 老旧小区改造 项目一专班:2026-03-31 项目二专班:3月底:王干部")
    specs: list[AssignSpec] = []
    for item in items:
        match = _SPLIT_ITEM.match(item)
        if not match:
            raise InvalidInput(f"“{item}”请写成 专班:日期 或 专班:日期:责任人。")
        team = require_team(session, match.group("team"))
        if any(s.team_id == team.id for s in specs):
            raise InvalidInput(f"{team.name}写了两次。")
        parts = re.split(r"[:=]", match.group("rest"))
        spec = AssignSpec(name=f"{parent.name}({team.name})", team_id=team.id, parent_id=parent.id,
                          origin=parent.origin, category=parent.category)
        for part in parts:
            person = find_person_exact(session, part)
            if person is not None and spec.owner_id is None:
                spec.owner_id = person.id
            elif spec.deadline is None:
                spec.deadline = parse_deadline(part, now, calendar)
            else:
                raise InvalidInput(f"看不懂“{part}”:没有这个人员。")
        if spec.deadline is None:
            raise InvalidInput(f"{team.name}请写日期,例如 {team.name}:2026-03-31。")
        check_spec(session, spec, now.date())
        specs.append(spec)
    return specs


def create_split(session: Session, now: datetime, actor: Person, parent: Task, specs: list[AssignSpec],
                 rules: LightsConfig) -> list[Task]:
    children = [create_task(session, now, actor, spec, rules) for spec in specs]
    add_event(session, now, parent, KIND_SPLIT, actor,
              "分解给" + "、".join(c.team.name if c.team else "" for c in children),
              {"children": [c.id for c in children]})
    return children


@dataclass
class Rollup:
    count: int
    by_status: dict[str, int]
    by_light: dict[str, int]
    average: float


_HAS_CHILDREN = select(Task.id).where(Task.parent_id == bindparam("parent_id")).limit(1)  # built once


def rollup(session: Session, parent: Task, today: date) -> Optional[Rollup]:
    """The sub-tasks of a parent: counts by status and light, average progress (one query)."""
    if session.scalar(_HAS_CHILDREN, {"parent_id": parent.id}) is None:
        return None  # most tasks: one indexed probe, no grouping
    light = light_sql(today)
    rows = session.execute(select(Task.status, light, func.count(), func.avg(func.coalesce(Task.progress, 0)))
                           .where(Task.parent_id == parent.id).group_by(Task.status, light)).all()
    if not rows:
        return None
    count = sum(r[2] for r in rows)
    by_status: dict[str, int] = {}
    by_light: dict[str, int] = {}
    total = 0.0
    for status, color, n, avg in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_light[color] = by_light.get(color, 0) + n
        total += float(avg or 0) * n
    return Rollup(count, by_status, by_light, total / count)
