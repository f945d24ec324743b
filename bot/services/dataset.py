"""Load a YAML dataset (the report's figures and tasks, or people and invites) idempotently.

Importing the same file twice changes nothing. A changed value is updated in place and the
audit log records what it replaced. The file is validated as a whole first: a bad file
names the file, the line and the key, and nothing is written.

Tasks' progress and status are taken from the file only when a task is created; after that
they move only through progress reports, so a re-import never undoes what cadres logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import LightsConfig
from bot.models import (
    ROLES,
    STATUSES,
    Indicator,
    IndicatorValue,
    Invite,
    Milestone,
    Person,
    Task,
    Team,
)
from bot.services import audit
from bot.services.lights import refresh_light_dates
from bot.services.lookup import bump_names_version, search_keys_for
from bot.services.people import create_invite
from bot.yamlfile import FileError, describe_validation_error, line_of, load_yaml

logger = logging.getLogger(__name__)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamIn(Item):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    kind: str = ""


class PeriodIn(Item):
    period: str
    period_start: date
    period_end: date
    value: Optional[float] = None
    qualifier: Optional[str] = None
    yoy_pct: Optional[float] = None
    source: Optional[str] = None

    @model_validator(mode="after")
    def _dates(self) -> PeriodIn:
        if self.period_end < self.period_start:
            raise ValueError("period_end 早于 period_start")
        return self


class IndicatorIn(PeriodIn):
    key: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    name: str = Field(min_length=1, max_length=128)
    aliases: list[str] = []
    category: str = Field(min_length=1)
    unit: str = ""
    target: Optional[float] = None
    target_text: Optional[str] = None
    target_source: Optional[str] = None
    history: list[PeriodIn] = []
    note: Optional[str] = None


class MilestoneIn(Item):
    name: str = Field(min_length=1, max_length=128)
    due: Optional[date] = None


class TaskIn(Item):
    key: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    name: str = Field(min_length=1, max_length=128)
    aliases: list[str] = []
    category: str = Field(min_length=1)
    subcategory: Optional[str] = None
    team: Optional[str] = None
    owner: Optional[str] = None
    lead_unit: Optional[str] = None
    description: Optional[str] = None
    target_text: Optional[str] = None
    target_value: Optional[float] = None
    target_unit: Optional[str] = None
    start: Optional[date] = None
    deadline: Optional[date] = None
    progress: Optional[float] = Field(None, ge=0, le=100)
    status: Literal[STATUSES] = "active"  # type: ignore[valid-type]
    milestones: list[MilestoneIn] = []
    source: Optional[str] = None

    @model_validator(mode="after")
    def _dates(self) -> TaskIn:
        if self.start and self.deadline and self.deadline < self.start:
            raise ValueError("deadline 早于 start")
        return self


class PersonIn(Item):
    name: str = Field(min_length=1, max_length=64)
    role: str
    team: Optional[str] = None
    is_admin: bool = False

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"role 只能是 {', '.join(ROLES)}")
        return value


class DatasetIn(Item):
    version: int = 1
    office: Optional[str] = None
    source: Optional[str] = None
    report_date: Optional[date] = None
    teams: list[TeamIn] = []
    indicators: list[IndicatorIn] = []
    tasks: list[TaskIn] = []
    people: list[PersonIn] = []
    team_leaders: dict[str, str] = {}
    invites: dict[str, str] = {}
    owners: dict[str, str] = {}
    notes: Optional[Any] = None

    @model_validator(mode="after")
    def _unique(self) -> DatasetIn:
        sections: tuple[tuple[str, list[Any]], ...] = (
            ("teams", self.teams), ("indicators", self.indicators), ("tasks", self.tasks))
        for section, items in sections:
            seen: set[str] = set()
            for item in items:
                key = getattr(item, "code", None) or item.key
                if key in seen:
                    raise ValueError(f"{section} 中的 {key} 重复")
                seen.add(key)
        return self


def read_dataset(path: Path) -> DatasetIn:
    """Parse and validate; raises FileError naming file, line and key."""
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise FileError(f"{path}:1: 数据文件顶层应为键值对 (top level must be a mapping)")
    try:
        dataset = DatasetIn.model_validate(data)
    except ValidationError as exc:
        raise FileError(describe_validation_error(path, lines, exc)) from None
    _check_references(path, lines, dataset)
    return dataset


def _check_references(path: Path, lines: dict, dataset: DatasetIn) -> None:
    team_codes = {t.code for t in dataset.teams}
    errors = []
    for i, task in enumerate(dataset.tasks):
        if task.team and team_codes and task.team not in team_codes:
            errors.append((("tasks", i, "team"), f"未知专班代码 {task.team}"))
    for i, person in enumerate(dataset.people):
        if person.team and team_codes and person.team not in team_codes:
            errors.append((("people", i, "team"), f"未知专班代码 {person.team}"))
    if errors:
        raise FileError("\n".join(
            f"{path}:{line_of(lines, loc) or '?'}: {'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def count(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        if not self.changed:
            return "导入完成:没有变化。"
        names = {"team": "专班", "indicator": "指标", "value": "指标数值", "task": "事项",
                 "milestone": "节点", "person": "人员", "invite": "邀请码"}
        parts = [f"新增{names.get(k, k)}{v}" for k, v in self.created.items()]
        parts += [f"更新{names.get(k, k)}{v}" for k, v in self.updated.items()]
        return "导入完成:" + ",".join(parts) + "。"


def _apply(obj: Any, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set attributes that differ; return {name: (old, new)} for what changed."""
    changed = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changed[name] = (old, new)
            setattr(obj, name, new)
    return changed


def import_dataset(
    session: Session,
    now: datetime,
    dataset: DatasetIn,
    rules: LightsConfig,
    actor: Optional[Person] = None,
    origin: str = "dataset",
) -> ImportReport:
    """Upsert everything in the dataset; the caller commits."""
    report = ImportReport()
    names_changed = False

    teams = {t.code: t for t in session.scalars(select(Team))}
    for team_in in dataset.teams:
        team = teams.get(team_in.code)
        if team is None:
            team = Team(code=team_in.code, name=team_in.name, kind=team_in.kind)
            session.add(team)
            teams[team_in.code] = team
            report.count(report.created, "team")
            audit.record(session, now, actor, "import", "team", team_in.code, None, team_in.model_dump())
        else:
            changed = _apply(team, {"name": team_in.name, "kind": team_in.kind})
            if changed:
                _note(session, now, actor, report, "team", team_in.code, changed)
    session.flush()

    people = {p.name: p for p in session.scalars(select(Person))}
    for person_in in dataset.people:
        person = people.get(person_in.name)
        team = teams.get(person_in.team) if person_in.team else None
        if person is None:
            person = Person(name=person_in.name, role=person_in.role, team=team, is_admin=person_in.is_admin,
                            created_at=now)
            session.add(person)
            people[person_in.name] = person
            report.count(report.created, "person")
            audit.record(session, now, actor, "import", "person", person_in.name, None, person_in.model_dump())
        else:
            changed = _apply(person, {"role": person_in.role, "team_id": team.id if team else None,
                                      "is_admin": person_in.is_admin})
            if changed:
                _note(session, now, actor, report, "person", person_in.name, changed)
    session.flush()
    for code, leader_name in dataset.team_leaders.items():
        team, leader = teams.get(code), people.get(leader_name)
        if team is None or leader is None:
            raise FileError(f"{origin}: team_leaders.{code}: 未知专班或人员 {leader_name}")
        changed = _apply(team, {"leader_id": leader.id})
        if changed:
            _note(session, now, actor, report, "team", code, changed)
    for person_name, code in dataset.invites.items():
        person = people.get(person_name)
        if person is None:
            raise FileError(f"{origin}: invites.{person_name}: 未知人员")
        if session.scalar(select(Invite.id).where(Invite.code == code.upper())) is None:
            create_invite(session, now, None, person, code)
            report.count(report.created, "invite")

    indicators = {i.key: i for i in session.scalars(select(Indicator))}
    for order, indicator_in in enumerate(dataset.indicators):
        indicator = indicators.get(indicator_in.key)
        fields: dict[str, Any] = {
            "name": indicator_in.name, "aliases": list(indicator_in.aliases), "category": indicator_in.category,
            "unit": indicator_in.unit, "target": indicator_in.target, "target_text": indicator_in.target_text,
            "target_source": indicator_in.target_source, "sort_order": order,
            "search_keys": search_keys_for(indicator_in.name, indicator_in.aliases),
        }
        if indicator is None:
            indicator = Indicator(key=indicator_in.key, updated_at=now, **fields)
            session.add(indicator)
            session.flush()
            indicators[indicator_in.key] = indicator
            report.count(report.created, "indicator")
            audit.record(session, now, actor, "import", "indicator", indicator_in.key, None,
                         {"name": indicator_in.name, "target": indicator_in.target})
            names_changed = True
        else:
            changed = _apply(indicator, fields)
            if changed:
                indicator.updated_at = now
                names_changed |= bool({"name", "aliases"} & changed.keys())
                _note(session, now, actor, report, "indicator", indicator_in.key, changed)
        periods = [*indicator_in.history, PeriodIn(**indicator_in.model_dump(include=set(PeriodIn.model_fields)))]
        existing = {v.period_end: v for v in session.scalars(
            select(IndicatorValue).where(IndicatorValue.indicator_id == indicator.id))}
        for period in periods:
            value_fields = {"period_label": period.period, "period_start": period.period_start,
                            "value": period.value, "qualifier": period.qualifier,
                            "yoy_pct": period.yoy_pct, "source": period.source}
            row = existing.get(period.period_end)
            if row is None:
                session.add(IndicatorValue(indicator_id=indicator.id, period_end=period.period_end,
                                           recorded_at=now, **value_fields))
                report.count(report.created, "value")
            else:
                changed = _apply(row, value_fields)
                if changed:
                    row.recorded_at = now
                    indicator.updated_at = now
                    _note(session, now, actor, report, "value",
                          f"{indicator_in.key}@{period.period_end.isoformat()}", changed)

    tasks = {t.key: t for t in session.scalars(select(Task))}
    for task_in in dataset.tasks:
        task = tasks.get(task_in.key)
        owner = people.get(task_in.owner) if task_in.owner else None
        if task_in.owner and owner is None:
            raise FileError(f"{origin}: tasks.{task_in.key}.owner: 未知人员 {task_in.owner}")
        team = teams.get(task_in.team) if task_in.team else None
        fields = {
            "name": task_in.name, "aliases": list(task_in.aliases), "category": task_in.category,
            "subcategory": task_in.subcategory, "team_id": team.id if team else None,
            "lead_unit": task_in.lead_unit,
            "description": task_in.description, "target_text": task_in.target_text,
            "target_value": task_in.target_value, "target_unit": task_in.target_unit,
            "source": task_in.source, "start_date": task_in.start, "deadline": task_in.deadline,
            "search_keys": search_keys_for(task_in.name, task_in.aliases),
        }
        if owner is not None:  # an owner is set by the file that names one, never cleared by another
            fields["owner_id"] = owner.id
        if task is None:
            task = Task(key=task_in.key, status=task_in.status, progress=task_in.progress,
                        created_at=now, last_activity_at=now, **fields)
            refresh_light_dates(task, rules)
            session.add(task)
            tasks[task_in.key] = task
            report.count(report.created, "task")
            audit.record(session, now, actor, "import", "task", task_in.key, None,
                         {"name": task_in.name, "deadline": task_in.deadline, "team": task_in.team})
            names_changed = True
        else:
            changed = _apply(task, fields)
            if changed:
                refresh_light_dates(task, rules)
                names_changed |= bool({"name", "aliases"} & changed.keys())
                _note(session, now, actor, report, "task", task_in.key, changed)
        session.flush()
        current = {m.name: m for m in task.milestones}
        for order, milestone_in in enumerate(task_in.milestones):
            milestone = current.get(milestone_in.name)
            if milestone is None:
                session.add(Milestone(task_id=task.id, name=milestone_in.name, due=milestone_in.due,
                                      sort_order=order))
                report.count(report.created, "milestone")
            else:
                changed = _apply(milestone, {"due": milestone_in.due, "sort_order": order})
                if changed:
                    _note(session, now, actor, report, "milestone", f"{task_in.key}/{milestone.name}", changed)
    for task_key, owner_name in dataset.owners.items():
        task = tasks.get(task_key) or session.scalar(select(Task).where(Task.key == task_key))
        owner = people.get(owner_name)
        if task is None or owner is None:
            raise FileError(f"{origin}: owners.{task_key}: 未知事项或人员 {owner_name}")
        changed = _apply(task, {"owner_id": owner.id})
        if changed:
            _note(session, now, actor, report, "task", task_key, changed)
    if names_changed:
        bump_names_version(session)
    session.flush()
    return report


def _note(session: Session, now: datetime, actor: Optional[Person], report: ImportReport,
          kind: str, key: str, changed: dict[str, tuple[Any, Any]]) -> None:
    shown = {k: v for k, v in changed.items() if k != "search_keys"}
    report.count(report.updated, kind)
    if shown:
        report.changes.append(f"{kind} {key}: " + "; ".join(f"{k} {o!r} -> {n!r}" for k, (o, n) in shown.items()))
    audit.record(session, now, actor, "import", kind, key,
                 {k: o for k, (o, _) in shown.items()}, {k: n for k, (_, n) in shown.items()})
