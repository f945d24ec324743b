"""Read-side queries of the 督办驾驶舱 (web view): what a page shows, never a change.

Every function takes a ``Scope`` (whose tasks the viewer may see, decided like the chat:
leaders, team leads and admins read the whole street; a cadre reads their own and their
team's tasks, the chat's "我的事项") and ``Filters`` (专班, light, category, owner). The
lights are the chat's lights (``bot.services.lights.light_sql``), so a number on the web and
in chat always agree. Lists come back as ``TaskRow`` (plain values, no ORM objects) so the
pages render without lazy loads.

The ranking is the 考核排名 of bot.services.ranking, the same as /rank in chat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Optional

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.config import RankingConfig
from bot.models import (
    ROLE_CADRE,
    STATUS_ACTIVE,
    ExtensionRequest,
    Indicator,
    IndicatorValue,
    Instruction,
    Milestone,
    Person,
    Task,
    TaskEvent,
    TaskUpdate,
    Team,
)
from bot.services import ranking
from bot.services.charts import indicator_series
from bot.services.indicators import IndicatorAnswer, categories, fmt_value
from bot.services.lights import (
    DONE,
    GREEN,
    GREY,
    LIGHT_NAMES,
    PAUSED,
    RED,
    YELLOW,
    Light,
    light_of,
    light_rank_sql,
    light_sql,
    schedule_progress,
)

LIGHT_ORDER = (RED, YELLOW, GREEN, GREY, DONE, PAUSED)
NO_TEAM = 0  # the matrix row and filter value of tasks without a 专班 (未分配)
PENDING = "pending"

#: the lists of the overview; each has a page of its own (``task_list``)
LISTS = {
    "all": "全部事项",
    "turned_red": "本周转红",
    "due7": "7天内到期",
    "overdue": "逾期事项",
    "unsigned": "未签收交办",
    "instructions": "未反馈批示",
    "reviews": "待审核",
    "extensions": "待审批延期",
}

#: timeline kinds (task_events.kind) in words; unknown kinds are shown as they are
EVENT_NAMES = {
    "assign": "交办", "assigned": "交办", "交办": "交办",
    "sign": "签收", "signed": "签收", "签收": "签收",
    "instruct": "批示", "instruction": "批示", "批示": "批示",
    "answer": "反馈", "feedback": "反馈", "反馈": "反馈",
    "urge": "催办", "催办": "催办",
    "extend": "延期", "extension": "延期", "延期": "延期",
    "review": "审核", "approve": "审核通过", "approved": "审核通过", "return": "退回", "returned": "退回",
    "审核": "审核", "edit": "修改", "修改": "修改",
}


# ---------------------------------------------------------------- who sees what

@dataclass(frozen=True)
class Scope:
    """Whose tasks a viewer may see. ``person_id`` None: the 大屏 (the whole street)."""

    person_id: Optional[int] = None
    team_id: Optional[int] = None
    own_only: bool = False

    @property
    def whole_street(self) -> bool:
        return not self.own_only

    def tasks(self) -> Optional[ColumnElement[bool]]:
        if not self.own_only:
            return None
        mine = Task.owner_id == self.person_id
        return or_(mine, Task.team_id == self.team_id) if self.team_id is not None else mine

    def allows(self, task: Task) -> bool:
        if not self.own_only:
            return True
        return task.owner_id == self.person_id or (self.team_id is not None and task.team_id == self.team_id)


def scope_of(person: Optional[Person]) -> Scope:
    """As in chat: cadres read their own and their team's tasks, everyone else the street."""
    if person is None:
        return Scope()
    if person.role == ROLE_CADRE and not person.is_admin:
        return Scope(person.id, person.team_id, own_only=True)
    return Scope(person.id, person.team_id)


@dataclass(frozen=True)
class Filters:
    team_id: Optional[int] = None      # NO_TEAM: tasks without a 专班
    light: Optional[str] = None
    category: Optional[str] = None
    owner_id: Optional[int] = None

    def where(self, today: date) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.team_id == NO_TEAM:
            out.append(Task.team_id.is_(None))
        elif self.team_id is not None:
            out.append(Task.team_id == self.team_id)
        if self.light:
            out.append(light_sql(today) == self.light)
        if self.category:
            out.append(Task.category == self.category)
        if self.owner_id is not None:
            out.append(Task.owner_id == self.owner_id)
        return out

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.team_id, self.light, self.category, self.owner_id))

    def as_query(self) -> dict[str, str]:
        out = {}
        for name, value in (("team", self.team_id), ("light", self.light), ("category", self.category),
                            ("owner", self.owner_id)):
            if value is not None:
                out[name] = str(value)
        return out


def _restrict(query: Select, scope: Scope, filters: Filters, today: date) -> Select:
    conditions = filters.where(today)
    own = scope.tasks()
    if own is not None:
        conditions.append(own)
    return query.where(*conditions) if conditions else query


# ---------------------------------------------------------------- rows

@dataclass
class TaskRow:
    id: int
    name: str
    team: str
    owner: Optional[str]
    deadline: Optional[date]
    progress: Optional[float]
    light: str
    category: str
    note: str = ""        # what the list is about: 逾期12天, 批示 text, 延期至 ...
    when: Optional[datetime] = None

    @property
    def light_name(self) -> str:
        return LIGHT_NAMES[self.light]


_OWNER = aliased(Person)


def _row_query(today: date, *extra) -> Select:
    return (select(Task.id, Task.name, Team.name, _OWNER.name, Task.deadline, Task.progress,
                   light_sql(today), Task.category, *extra)
            .select_from(Task).outerjoin(Team, Team.id == Task.team_id).outerjoin(_OWNER, _OWNER.id == Task.owner_id))


def _rows(session: Session, query: Select, note=None) -> list[TaskRow]:
    out = []
    for row in session.execute(query):
        item = TaskRow(row[0], row[1], row[2] or "未分配", row[3], row[4], row[5], row[6], row[7])
        if note is not None:
            note(item, row[8:])
        out.append(item)
    return out


def _count(session: Session, query: Select) -> int:
    # the rows query's FROM and WHERE with count() for columns: no light CASE per row, and
    # SQLite drops the unused outer joins to the team and owner
    return session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)) or 0


# ---------------------------------------------------------------- the lists

def _list_query(which: str, today: date) -> tuple[Select, Any, tuple]:
    """(rows query, note maker, order) of one overview list, before scope and filters."""
    week_start = today - timedelta(days=7)
    active = Task.status == STATUS_ACTIVE
    if which == "turned_red":
        # red today, and the red began within the past 7 days (as the weekly brief counts it):
        # it began the day after the deadline or on behind_red_on, whichever came first
        overdue_began = and_(Task.deadline < today, Task.deadline >= week_start)
        behind_began = and_(Task.behind_red_on <= today, Task.behind_red_on > week_start)
        not_before = and_(or_(Task.deadline.is_(None), Task.deadline >= week_start),
                          or_(Task.behind_red_on.is_(None), Task.behind_red_on > week_start))
        query = _row_query(today, Task.deadline, Task.behind_red_on).where(
            active, or_(overdue_began, behind_began), not_before)

        def note(item: TaskRow, extra) -> None:
            item.note = "逾期" if extra[0] is not None and extra[0] < today else "进度滞后"
        return query, note, (Task.deadline.asc(), Task.id)
    if which == "due7":
        query = _row_query(today).where(active, Task.deadline >= today, Task.deadline <= today + timedelta(days=7))

        def note(item: TaskRow, extra) -> None:
            assert item.deadline is not None  # the query keeps only tasks with a deadline
            left = (item.deadline - today).days
            item.note = "今天到期" if left == 0 else f"{left}天后到期"
        return query, note, (Task.deadline.asc(), Task.id)
    if which == "overdue":
        query = _row_query(today).where(active, Task.deadline < today)

        def note(item: TaskRow, extra) -> None:
            assert item.deadline is not None  # the query keeps only tasks with a deadline
            item.note = f"逾期{(today - item.deadline).days}天"
        return query, note, (Task.deadline.asc(), Task.id)
    if which == "unsigned":
        query = _row_query(today, Task.assigned_at).where(
            active, Task.assigned_at.is_not(None), Task.signed_at.is_(None))

        def note(item: TaskRow, extra) -> None:
            item.when = extra[0]
            item.note = f"{extra[0]:%m-%d}交办,未签收"
        return query, note, (Task.assigned_at.asc(), Task.id)
    if which == "instructions":
        leader = aliased(Person)
        query = (_row_query(today, Instruction.text, Instruction.created_at, leader.name)
                 .join(Instruction, Instruction.task_id == Task.id)
                 .outerjoin(leader, leader.id == Instruction.leader_id)
                 .where(Instruction.answered_at.is_(None)))

        def note(item: TaskRow, extra) -> None:
            item.when = extra[1]
            item.note = f"{extra[2] or '领导'}批示:{extra[0]}"
        return query, note, (Instruction.created_at.asc(), Instruction.id)
    if which == "reviews":
        query = _row_query(today, Task.last_update_at).where(Task.review_status == PENDING)

        def note(item: TaskRow, extra) -> None:
            item.when = extra[0]
            item.note = "报100%,待审核"
        return query, note, (Task.last_update_at.asc(), Task.id)
    if which == "extensions":
        query = (_row_query(today, ExtensionRequest.new_deadline, ExtensionRequest.stage, ExtensionRequest.created_at)
                 .join(ExtensionRequest, ExtensionRequest.task_id == Task.id)
                 .where(ExtensionRequest.status == PENDING))

        def note(item: TaskRow, extra) -> None:
            item.when = extra[2]
            who = "分管领导" if extra[1] == "leader" else "专班负责人"
            item.note = f"申请延期至{extra[0]:%m-%d},待{who}审批"
        return query, note, (ExtensionRequest.created_at.asc(), ExtensionRequest.id)
    if which == "all":
        return _row_query(today), None, (light_rank_sql(today), Task.deadline.is_(None), Task.deadline.asc(), Task.id)
    raise ValueError(which)


@dataclass
class RowList:
    which: str
    title: str
    total: int
    rows: list[TaskRow]
    page: int = 1
    page_size: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size)) if self.page_size else 1


def task_list(session: Session, now: datetime, scope: Scope, which: str, filters: Filters = Filters(),
              page: int = 1, page_size: int = 30) -> RowList:
    """One list of the overview, a page at a time (raises ValueError for an unknown list)."""
    today = now.date()
    query, note, order = _list_query(which, today)
    query = _restrict(query, scope, filters, today)
    total = _count(session, query)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = _rows(session, query.order_by(*order).offset((page - 1) * page_size).limit(page_size), note)
    return RowList(which, LISTS[which], total, rows, page, page_size)


def task_ids(session: Session, now: datetime, scope: Scope, which: str, filters: Filters = Filters()) -> Select:
    """``select(Task)`` of a whole list (for the Excel 台账 export)."""
    today = now.date()
    query, _, _ = _list_query(which, today)
    ids = _restrict(query, scope, filters, today).with_only_columns(Task.id).subquery()
    return select(Task).where(Task.id.in_(select(ids.c.id)))


# ---------------------------------------------------------------- overview

@dataclass
class TeamRow:
    team_id: int          # NO_TEAM for 未分配
    name: str
    counts: dict[str, int]
    mine: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class RankRow:
    rank: int
    team_id: int
    name: str
    tasks: int
    on_time: str  # 按期办结率, or — when nothing was due
    red: int
    overdue: int
    unsigned: int
    urged: int
    score: float
    mine: bool = False


@dataclass
class Overview:
    today: date
    totals: dict[str, int]
    matrix: list[TeamRow]
    lists: dict[str, RowList]
    overdue_buckets: list[tuple[str, int]]
    ranking: list[RankRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


OVERDUE_BUCKETS = ((1, 7, "1-7天"), (8, 30, "8-30天"), (31, 90, "31-90天"), (91, None, "90天以上"))


def overview(session: Session, now: datetime, scope: Scope, filters: Filters = Filters(),
             list_size: int = 8, with_ranking: bool = True, rules: Optional[RankingConfig] = None) -> Overview:
    """Everything the overview page shows, in a handful of indexed queries."""
    today = now.date()
    light = light_sql(today)
    totals: dict[str, int] = {}
    per_team: dict[int, dict[str, int]] = {}
    counts = _restrict(select(Task.team_id, light, func.count()).group_by(Task.team_id, light), scope, filters, today)
    for team_id, color, count in session.execute(counts):
        per_team.setdefault(team_id or NO_TEAM, {})[color] = count
        totals[color] = totals.get(color, 0) + count
    names = dict(session.execute(select(Team.id, Team.name).order_by(Team.id)).all())
    matrix = [TeamRow(team_id, name, per_team[team_id], team_id == scope.team_id)
              for team_id, name in names.items() if team_id in per_team]
    if NO_TEAM in per_team:
        matrix.append(TeamRow(NO_TEAM, "未分配", per_team[NO_TEAM]))
    lists = {which: task_list(session, now, scope, which, filters, 1, list_size)
             for which in LISTS if which != "all"}
    buckets = []
    overdue = _restrict(select(Task.deadline).where(Task.status == STATUS_ACTIVE, Task.deadline < today),
                        scope, filters, today).subquery()
    per_deadline: dict[date, int] = dict(session.execute(
        select(overdue.c.deadline, func.count()).group_by(overdue.c.deadline)).all())
    for low, high, label in OVERDUE_BUCKETS:
        buckets.append((label, sum(n for d, n in per_deadline.items()
                                   if (today - d).days >= low and (high is None or (today - d).days <= high))))
    ranking = (team_ranking(session, now, rules or RankingConfig(), scope)
               if with_ranking and scope.whole_street else [])
    return Overview(today, totals, matrix, lists, buckets, ranking)


def team_ranking(session: Session, now: datetime, rules: RankingConfig, scope: Scope = Scope()) -> list[RankRow]:
    """The 考核排名 of the 专班, the same as /rank in chat (bot.services.ranking)."""
    out = []
    for team in ranking.compute(session, now, rules):
        rate = team.on_time_rate
        out.append(RankRow(team.rank, team.team_id, team.name, team.tasks,
                           f"{rate * 100:.0f}%" if rate is not None else "—", team.red, team.overdue,
                           team.unsigned, team.urges, team.score, team.team_id == scope.team_id))
    return out


def _sum_of(condition: ColumnElement[bool]):
    return func.sum(case((condition, 1), else_=0))


# ---------------------------------------------------------------- one task

@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    who: Optional[str]
    text: str
    progress: Optional[float] = None
    photo_update_id: Optional[int] = None
    has_chat_photo: bool = False


@dataclass
class TaskPage:
    task: Task
    light: Light
    team: str
    owner: Optional[str]
    leader: Optional[str]
    schedule_pct: Optional[float]
    milestones: list[Milestone]
    timeline: list[TimelineEntry]
    open_instructions: list[tuple[str, Optional[str], datetime]]
    pending_extensions: list[ExtensionRequest]
    progress_points: list[tuple[date, float]]


def task_page(session: Session, now: datetime, task_id: int, timeline_limit: int = 100) -> Optional[TaskPage]:
    """The card, timeline (交办, updates, 批示, 催办, 延期, 审核 …, newest first) and the
    progress history of one task; None when there is no such task. The caller checks scope."""
    task = session.get(Task, task_id)
    if task is None:
        return None
    today = now.date()
    names = {pid: name for pid, name in session.execute(select(Person.id, Person.name))}

    def name_of(person_id: Optional[int]) -> Optional[str]:
        return names.get(person_id) if person_id is not None else None
    entries: list[TimelineEntry] = []
    for event in session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id)
                                 .order_by(TaskEvent.created_at.desc(), TaskEvent.id.desc()).limit(timeline_limit)):
        entries.append(TimelineEntry(event.created_at, EVENT_NAMES.get(event.kind, event.kind),
                                     name_of(event.actor_id), event.text or ""))
    points: list[tuple[date, float]] = []
    for upd in session.scalars(select(TaskUpdate).where(TaskUpdate.task_id == task_id)
                               .order_by(TaskUpdate.created_at.desc(), TaskUpdate.id.desc()).limit(timeline_limit)):
        parts = []
        if upd.progress is not None:
            parts.append(f"进度{upd.progress:g}%")
        if upd.note:
            parts.append(upd.note)
        if upd.problems:
            parts.append(f"存在问题:{upd.problems}")
        if upd.next_steps:
            parts.append(f"下步计划:{upd.next_steps}")
        entries.append(TimelineEntry(upd.created_at, "进展", name_of(upd.author_id), ";".join(parts),
                                     upd.progress, upd.id if upd.photo_path else None,
                                     bool(upd.photo_file_id and not upd.photo_path)))
        if upd.progress is not None:
            points.append((upd.created_at.date(), upd.progress))
    entries.sort(key=lambda e: e.at, reverse=True)
    instructions = [(text, name_of(leader_id), at) for text, leader_id, at in session.execute(
        select(Instruction.text, Instruction.leader_id, Instruction.created_at)
        .where(Instruction.task_id == task_id, Instruction.answered_at.is_(None)).order_by(Instruction.created_at))]
    extensions = list(session.scalars(select(ExtensionRequest).where(
        ExtensionRequest.task_id == task_id, ExtensionRequest.status == PENDING)))
    milestones = list(session.scalars(select(Milestone).where(Milestone.task_id == task_id)
                                      .order_by(Milestone.sort_order, Milestone.id)))
    team = session.get_one(Team, task.team_id).name if task.team_id else "未分配"
    return TaskPage(task, light_of(task, today), team, name_of(task.owner_id), name_of(task.leader_id),
                    schedule_progress(task, today), milestones, entries[:timeline_limit], instructions, extensions,
                    sorted(points))


def photo_of(session: Session, update_id: int) -> Optional[tuple[int, str]]:
    """(task id, file path) of an update's photo kept on this server."""
    row = session.execute(select(TaskUpdate.task_id, TaskUpdate.photo_path)
                          .where(TaskUpdate.id == update_id, TaskUpdate.photo_path.is_not(None))).first()
    if row is None or row[1] is None:  # the query keeps only rows with a path
        return None
    return row[0], row[1]


# ---------------------------------------------------------------- indicators

@dataclass
class IndicatorCard:
    answer: IndicatorAnswer
    value_text: str
    points: list[tuple[str, float, bool]]      # label, value, derived (推算)
    derived_note: Optional[str]


def indicator_groups(session: Session) -> list[tuple[str, list[IndicatorCard]]]:
    """Indicators grouped by category in the report's order, each with its trend points."""
    groups = []
    names = [name for name, _ in categories(session)]
    values: dict[int, list[IndicatorValue]] = {}
    for value in session.scalars(select(IndicatorValue).order_by(IndicatorValue.period_end)):
        values.setdefault(value.indicator_id, []).append(value)
    by_category: dict[str, list[Indicator]] = {}
    for indicator in session.scalars(select(Indicator).order_by(Indicator.sort_order, Indicator.id)):
        by_category.setdefault(indicator.category, []).append(indicator)
    for name in names:
        cards = []
        for indicator in by_category.get(name, []):
            series = indicator_series(session, indicator)
            own = values.get(indicator.id, [])
            latest = own[-1] if own else None
            answer = IndicatorAnswer(indicator, latest)
            text = fmt_value(latest.value, indicator.unit, latest.qualifier) if latest else "暂无数据"
            cards.append(IndicatorCard(answer, text, [(p.label, p.value, p.derived) for p in series.points],
                                       series.derived_note))
        groups.append((name, cards))
    return groups


# ---------------------------------------------------------------- filter choices

@dataclass
class Choices:
    teams: list[tuple[int, str]]
    categories: list[str]
    owners: list[tuple[int, str]]


def filter_choices(session: Session, scope: Scope) -> Choices:
    teams: list[tuple[int, str]] = [(tid, name) for tid, name in
                                    session.execute(select(Team.id, Team.name).order_by(Team.id))]
    own = scope.tasks()
    cats = select(Task.category).distinct().order_by(Task.category)
    owners = (select(Person.id, Person.name).join(Task, Task.owner_id == Person.id).distinct().order_by(Person.name))
    if own is not None:
        cats, owners = cats.where(own), owners.where(own)
        teams = [(tid, name) for tid, name in teams if tid == scope.team_id]
    return Choices([(t, n) for t, n in teams], [c for (c,) in session.execute(cats)],
                   list(session.execute(owners).all()))
