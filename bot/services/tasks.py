"""Tasks: traffic lights, lists, cards and progress updates.

Lights (红黄绿), with thresholds from config.yaml (``lights:``):
  red     overdue (past its deadline and not done), or behind 序时进度 by >= behind_red_pp
  yellow  behind by >= behind_yellow_pp, due within due_soon_days, or no report for stale_days
  green   on track
  grey    no progress reported yet and nothing else to flag
  done / paused
序时进度 of a task is the elapsed share of its own start-to-deadline span. Because that grows
linearly, the day a task turns yellow or red can be computed when it changes; these days are
stored (``behind_yellow_on`` ...), so lights and lists are indexed comparisons with today.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, insert, or_, select
from sqlalchemy.orm import Session

from bot.config import LightsConfig
from bot.models import (
    STATUS_ACTIVE,
    STATUS_DONE,
    STATUS_PAUSED,
    Milestone,
    Person,
    Task,
    TaskUpdate,
    Team,
)
from bot.services import audit
from bot.services.errors import InvalidInput, NeedsConfirmation, NotFound
from bot.services.lookup import KIND_TASK, NAMES
from bot.services.people import find_team, require_can_update
from bot.services.text import fmt_number

RED, YELLOW, GREEN, GREY, DONE, PAUSED = "red", "yellow", "green", "grey", "done", "paused"
LIGHT_ICONS = {RED: "🔴", YELLOW: "🟡", GREEN: "🟢", GREY: "⚪", DONE: "✅", PAUSED: "⏸"}
LIGHT_NAMES = {RED: "红灯", YELLOW: "黄灯", GREEN: "绿灯", GREY: "未报", DONE: "已完成", PAUSED: "暂停"}
LIGHT_RANK = {RED: 0, YELLOW: 1, GREY: 2, GREEN: 3, PAUSED: 4, DONE: 5}


# ---------------------------------------------------------------- lights

def schedule_progress(task: Task, today: date) -> Optional[float]:
    """序时进度 of the task on ``today``, in percent (None without start and deadline)."""
    if task.start_date is None or task.deadline is None or task.deadline <= task.start_date:
        return None
    span = (task.deadline - task.start_date).days
    elapsed = (today - task.start_date).days
    return max(0.0, min(100.0, elapsed * 100.0 / span))


def _behind_on(task: Task, gap_pp: float) -> Optional[date]:
    """First day on which 序时进度 minus progress reaches ``gap_pp`` points."""
    if task.progress is None or task.start_date is None or task.deadline is None:
        return None
    if task.deadline <= task.start_date or task.progress + gap_pp > 100:
        return None
    span = (task.deadline - task.start_date).days
    return task.start_date + timedelta(days=math.ceil((task.progress + gap_pp) * span / 100.0))


def refresh_light_dates(task: Task, rules: LightsConfig) -> None:
    """Recompute the stored days on which the task's light changes."""
    task.behind_yellow_on = _behind_on(task, rules.behind_yellow_pp)
    task.behind_red_on = _behind_on(task, rules.behind_red_pp)
    task.due_soon_on = task.deadline - timedelta(days=rules.due_soon_days) if task.deadline else None
    task.stale_on = task.last_activity_at.date() + timedelta(days=rules.stale_days)


def _red(today: date) -> ColumnElement[bool]:
    return or_(Task.deadline < today, Task.behind_red_on <= today)


def _yellow(today: date) -> ColumnElement[bool]:
    return or_(Task.behind_yellow_on <= today, Task.due_soon_on <= today, Task.stale_on <= today)


def _light_case(today: date, value_of: dict[str, object]) -> ColumnElement:
    """One CASE over the light rules (the order ``light_of`` applies them), mapping each light
    to ``value_of[light]``: its name for ``light_sql``, its urgency for ``light_rank_sql``."""
    return case(
        (Task.status == STATUS_DONE, value_of[DONE]),
        (Task.status == STATUS_PAUSED, value_of[PAUSED]),
        (_red(today), value_of[RED]),
        (_yellow(today), value_of[YELLOW]),
        (Task.progress.is_(None), value_of[GREY]),
        else_=value_of[GREEN],
    )


def light_sql(today: date) -> ColumnElement[str]:
    """The light as a SQL expression, for filters and ordering (mirrors ``light_of``)."""
    return _light_case(today, {color: color for color in LIGHT_RANK})


def light_rank_sql(today: date) -> ColumnElement[int]:
    """Urgency for ordering: red 0, yellow 1, grey 2, green 3, paused 4, done 5."""
    return _light_case(today, LIGHT_RANK)


def light_filter(color: str, today: date) -> ColumnElement[bool]:
    """Indexed predicate for one light (the red and yellow lists use these)."""
    active = Task.status == STATUS_ACTIVE
    if color == RED:
        return and_(active, _red(today))
    if color == YELLOW:
        return and_(active, ~_red(today), _yellow(today))
    return light_sql(today) == color


@dataclass
class Light:
    color: str
    reasons: list[str] = field(default_factory=list)

    @property
    def icon(self) -> str:
        return LIGHT_ICONS[self.color]

    @property
    def label(self) -> str:
        return LIGHT_NAMES[self.color]


def light_of(task: Task, today: date) -> Light:
    """The task's light and why, in words for the card."""
    if task.status == STATUS_DONE:
        return Light(DONE)
    if task.status == STATUS_PAUSED:
        return Light(PAUSED)
    reasons: list[str] = []
    color = None
    if task.deadline and task.deadline < today:
        color = RED
        reasons.append(f"逾期{(today - task.deadline).days}天")
    expected = schedule_progress(task, today)
    if task.behind_red_on and task.behind_red_on <= today:
        color = RED
    if task.progress is not None and expected is not None and expected - task.progress >= 0.05:
        behind = expected - task.progress
        if (task.behind_yellow_on and task.behind_yellow_on <= today) or color == RED:
            reasons.append(f"慢于序时进度{behind:.0f}个百分点")
    if color is None and (
        (task.behind_yellow_on and task.behind_yellow_on <= today)
        or (task.due_soon_on and task.due_soon_on <= today)
        or task.stale_on <= today
    ):
        color = YELLOW
    if task.deadline and task.due_soon_on and task.due_soon_on <= today <= task.deadline:
        left = (task.deadline - today).days
        reasons.append("今天到期" if left == 0 else f"{left}天后到期")
    if task.stale_on <= today:
        days = (today - task.last_activity_at.date()).days
        reasons.append(f"{days}天未报进展")
    if color is None:
        color = GREY if task.progress is None else GREEN
    return Light(color, reasons)


# ---------------------------------------------------------------- finding tasks

def get_task_by_key(session: Session, key: str) -> Optional[Task]:
    return session.scalar(select(Task).where(Task.key == key))


# Hot read statements are built once, with bound parameters: building an ORM select costs
# more than running it on SQLite (~0.5 ms a message). The task comes with its team and owner
# in one row; that puts them in the session, so ``task.team`` / ``task.owner`` are then
# resolved from the session without another query.
_TASK_WITH_TEAM_OWNER = (
    select(Task, Team, Person)
    .outerjoin(Team, Task.team_id == Team.id)
    .outerjoin(Person, Task.owner_id == Person.id)
)
_TASK = select(Task).where(Task.id == bindparam("task_id"))
_CARD_TASK = _TASK_WITH_TEAM_OWNER.where(Task.id == bindparam("task_id"))
_PAGE_TASKS = _TASK_WITH_TEAM_OWNER.where(Task.id.in_(bindparam("ids", expanding=True)))


def _with_team_owner(rows) -> list[Task]:
    tasks = []
    for task, _team, _owner in rows:
        task.team, task.owner  # noqa: B018 - resolved from the row's objects now, no query
        tasks.append(task)
    return tasks


def get_task_for_card(session: Session, task_id: int) -> Optional[Task]:
    """The task with its team and owner loaded (what a card and a list row show)."""
    tasks = _with_team_owner(session.execute(_CARD_TASK, {"task_id": task_id}))
    return tasks[0] if tasks else None


def find_task(session: Session, text: str, for_card: bool = False) -> Task:
    """One task from a name, alias, pinyin or typo; NotFound lists close candidates.
    ``for_card`` loads its team and owner with it (see get_task_for_card)."""
    match = NAMES.find(session, text, kinds={KIND_TASK})
    if match.best:
        if for_card:
            return get_task_for_card(session, match.best[1])
        return session.scalar(_TASK, {"task_id": match.best[1]})
    names = [NAMES.name_of(session, ref) for ref in match.candidates]
    if names and match.how == "ambiguous":
        raise NotFound(f"“{text.strip()}”对应多个事项,请写全名:", names)
    if names:
        raise NotFound(f"没有找到事项“{text.strip()}”。相近的有:", names[:3])
    raise NotFound(f"没有找到事项“{text.strip()}”。发 /tasks 看全部事项。")


# ---------------------------------------------------------------- lists

LIST_FILTERS = {
    "all": "全部事项",
    "mine": "我的事项",
    "overdue": "逾期事项",
    "red": "红灯事项",
    "yellow": "黄灯事项",
    "week": "本周内到期",
    "due": "临期事项",
    "done": "已完成事项",
}


@dataclass
class TaskPage:
    title: str
    rows: list[tuple[Task, Light]]
    total: int
    page: int
    page_size: int
    filter: str
    arg: Optional[str] = None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def list_tasks(
    session: Session,
    now: datetime,
    person: Optional[Person],
    which: str = "all",
    arg: Optional[str] = None,
    page: int = 1,
    page_size: int = 8,
) -> TaskPage:
    """Tasks for a list command, most urgent first, one page at a time."""
    today = now.date()
    cache_key = (str(session.get_bind().url), tasks_version(session), today, which, arg,
                 person.id if which == "mine" and person else None, page, page_size)
    # A hit means the same filter was checked and built before, and for these filters the
    # query and title depend only on the key. A team list still looks its team up, so a
    # renamed or removed team is seen at once (teams do not move tasks_version).
    cached = _LIST_CACHE.get(cache_key) if which != "team" else None
    if cached is None:
        query, title = filter_tasks(session, now, person, which, arg, select(Task.id))
        cached = _LIST_CACHE.get(cache_key)
    if cached is not None:
        title, total, page, ids = cached
        return TaskPage(title, _load_page(session, ids, today), total, page, page_size, which, arg)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if which in ("overdue", RED, YELLOW, "week", "due"):
        # one light or a date window: the earliest deadline is the most urgent (index order)
        order = (Task.deadline.asc(), Task.id)
    else:
        order = (light_rank_sql(today), Task.deadline.is_(None), Task.deadline.asc(), Task.id)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    # ids first: the filter, count and order read only the lights index; then one page of rows
    ids = session.scalars(query.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    if len(_LIST_CACHE) > 512:
        _LIST_CACHE.clear()
    _LIST_CACHE[cache_key] = (title, total, page, list(ids))
    return TaskPage(title, _load_page(session, ids, today), total, page, page_size, which, arg)


# Lists cached per process, keyed by the database's tasks_version (moved by every task
# change, see bot.db) and today's date: a list is recomputed only after something changed.
_LIST_CACHE: dict[tuple, tuple[str, int, int, list[int]]] = {}


def tasks_version(session: Session) -> str:
    from bot.db import TASKS_VERSION_KEY, meta_version

    # flush first: pending task changes bump the version (bot.db), and a list must not be
    # served from a cache entry older than them (the version is read once per transaction)
    session.flush()
    return meta_version(session, TASKS_VERSION_KEY)


def _load_page(session: Session, ids: list[int], today: date) -> list[tuple[Task, "Light"]]:
    by_id = {t.id: t for t in _with_team_owner(session.execute(_PAGE_TASKS, {"ids": list(ids)}))}
    return [(by_id[i], light_of(by_id[i], today)) for i in ids if i in by_id]


def filter_tasks(
    session: Session,
    now: datetime,
    person: Optional[Person],
    which: str = "all",
    arg: Optional[str] = None,
    query: Optional[Select] = None,
) -> tuple[Select, str]:
    """The query and title for a list filter (all, mine, red, team ...), shared by lists and
    the Excel ledger export; raises InvalidInput/NotFound for a bad filter."""
    today = now.date()
    query = select(Task) if query is None else query
    title = LIST_FILTERS.get(which, "事项")
    if which == "mine":
        if person is None:
            raise InvalidInput("请先绑定身份。")
        mine = Task.owner_id == person.id
        if person.team_id is not None:
            mine = or_(mine, Task.team_id == person.team_id)
        query = query.where(mine, Task.status != STATUS_DONE)
    elif which == "overdue":
        query = query.where(Task.status == STATUS_ACTIVE, Task.deadline < today)
    elif which in (RED, YELLOW):
        query = query.where(light_filter(which, today))
    elif which in ("week", "due"):
        days = int(arg) if arg else 7
        if days < 0 or days > 366:
            raise InvalidInput("天数要在 0 到 366 之间。")
        query = query.where(Task.status == STATUS_ACTIVE, Task.deadline >= today,
                            Task.deadline <= today + timedelta(days=days))
        title = f"{days}天内到期" if which == "due" else title
    elif which == "done":
        query = query.where(Task.status == STATUS_DONE)
    elif which == "team":
        team = find_team(session, arg or "")
        if team is None:
            raise NotFound(f"没有找到专班“{arg}”。")
        query = query.where(Task.team_id == team.id)
        title = f"{team.name}事项"
    elif which == "category":
        query = query.where(Task.category == arg)
        title = f"{arg}"
    elif which != "all":
        raise InvalidInput(f"不认识的筛选“{which}”。")
    return query, title


def next_deadline(session: Session, today: date) -> Optional[tuple[date, int]]:
    """The nearest deadline still ahead among active tasks, and how many tasks share it."""
    day = session.scalar(select(func.min(Task.deadline))
                         .where(Task.status == STATUS_ACTIVE, Task.deadline >= today))
    if day is None:
        return None
    count = session.scalar(select(func.count()).select_from(Task)
                           .where(Task.status == STATUS_ACTIVE, Task.deadline == day))
    return day, count or 0


def light_counts(session: Session, now: datetime, team_id: Optional[int] = None) -> dict[str, int]:
    light = light_sql(now.date())
    query = select(light, func.count()).group_by(light)
    if team_id is not None:
        query = query.where(Task.team_id == team_id)
    return {color: count for color, count in session.execute(query)}


# Built once (see _TASK_WITH_TEAM_OWNER): each update with its author and milestone in one row.
_RECENT_UPDATES = (
    select(TaskUpdate, Person, Milestone)
    .outerjoin(Person, TaskUpdate.author_id == Person.id)
    .outerjoin(Milestone, TaskUpdate.milestone_id == Milestone.id)
    .where(TaskUpdate.task_id == bindparam("task_id"))
    .order_by(TaskUpdate.created_at.desc(), TaskUpdate.id.desc())
    .limit(bindparam("limit"))
)


def recent_updates(session: Session, task: Task, limit: int = 3) -> list[TaskUpdate]:
    updates = []
    for update, _author, _milestone in session.execute(_RECENT_UPDATES, {"task_id": task.id, "limit": limit}):
        update.author, update.milestone  # noqa: B018 - resolved from the row's objects, no query
        updates.append(update)
    return updates


# ---------------------------------------------------------------- updates

@dataclass
class UpdateResult:
    task: Task
    update: TaskUpdate
    completed: bool


def record_update(
    session: Session,
    now: datetime,
    person: Person,
    task: Task,
    rules: LightsConfig,
    progress: Optional[float] = None,
    note: Optional[str] = None,
    milestone: Optional[Milestone] = None,
    photo_file_id: Optional[str] = None,
    photo_path: Optional[str] = None,
    channel: Optional[str] = None,
    source_ref: Optional[str] = None,
    confirm_lower: bool = False,
) -> UpdateResult:
    """Log one progress report (append-only) and move the task's card and light.

    Raises InvalidInput for a progress outside 0-100 or an empty report, NeedsConfirmation
    when the progress goes down (call again with ``confirm_lower=True``), and
    PermissionDenied when the person may not update this task. ``source_ref`` is unique in
    the database, so the same incoming message can never be logged twice.
    """
    require_can_update(person, task)
    note = (note or "").strip() or None
    if note and len(note) > 1000:
        raise InvalidInput(f"进展说明太长({len(note)}字),请控制在1000字以内。")
    if progress is not None and not (0 <= progress <= 100) or progress is not None and math.isnan(progress):
        raise InvalidInput("进度要在 0% 到 100% 之间,例如:65%。")
    if progress is None and note is None and milestone is None and photo_file_id is None:
        raise InvalidInput("请写上进度或进展说明,例如:/update 纳图电气 65% 主体厂房封顶")
    if task.status == STATUS_DONE and progress is not None and progress < 100 and not confirm_lower:
        raise NeedsConfirmation(
            f"“{task.name}”已标记完成。确定把进度改回 {fmt_number(progress)}% 吗?",
            {"task_key": task.key, "progress": progress, "note": note},
        )
    if (progress is not None and task.progress is not None and progress < task.progress
            and not confirm_lower):
        raise NeedsConfirmation(
            f"“{task.name}”上次报的是 {fmt_number(task.progress)}%,这次 {fmt_number(progress)}% 更低。确定吗?",
            {"task_key": task.key, "progress": progress, "note": note},
        )
    before = {"progress": task.progress, "status": task.status}
    values = dict(task_id=task.id, author_id=person.id, created_at=now, progress=progress,
                  previous_progress=task.progress, note=note,
                  milestone_id=milestone.id if milestone else None, photo_file_id=photo_file_id,
                  photo_path=photo_path, channel=channel, source_ref=source_ref)
    # Written with one Core INSERT rather than as an ORM object: updates are append-only and
    # never read back in this transaction; this skips the ORM unit of work (see bench/).
    session.connection().execute(insert(TaskUpdate.__table__), [values])
    update = TaskUpdate(**values)  # transient, for the receipt; not added to the session
    update.author, update.milestone = person, milestone
    if milestone is not None and milestone.done_at is None:
        milestone.done_at = now
        milestone.done_by_id = person.id
    if progress is not None:
        task.progress = progress
    completed = progress is not None and progress >= 100 and task.status != STATUS_DONE
    if completed:
        task.status = STATUS_DONE
    elif progress is not None and progress < 100 and task.status == STATUS_DONE:
        task.status = STATUS_ACTIVE
    task.last_update_at = now
    task.last_activity_at = now
    refresh_light_dates(task, rules)
    audit.record(session, now, person, "update", "task", task.key, before,
                 {"progress": task.progress, "status": task.status, "note": note,
                  "milestone": milestone.name if milestone else None})
    return UpdateResult(task, update, completed)


def find_milestone(task: Task, text: str) -> Optional[Milestone]:
    text = text.strip()
    for milestone in task.milestones:
        if milestone.name == text or text in milestone.name:
            return milestone
    return None


def team_name(task: Task) -> str:
    return task.team.name if task.team else "未分配"


def relight_all(session: Session, rules: LightsConfig) -> int:
    """Recompute every task's light days (after the thresholds in config.yaml change)."""
    count = 0
    for task in session.scalars(select(Task)).yield_per(1000):
        refresh_light_dates(task, rules)
        count += 1
    return count


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.id)))
