"""Task lists: filters (mine, red, overdue, team ...), pages, counts and the next deadline."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Optional

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from bot.clock import OFFICE_TZ
from bot.models import (
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    STATUS_DONE,
    ExtensionRequest,
    Milestone,
    Person,
    ReviewStatus,
    Task,
    TaskUpdate,
)
from bot.services.cache import list_cache, tasks_version
from bot.services.errors import InvalidInput, NotFound
from bot.services.lights import (
    GREEN,
    RED,
    YELLOW,
    Light,
    light_filter,
    light_of,
    light_rank_sql,
    light_sql,
)
from bot.services.people import find_team
from bot.services.tasks import PAGE_TASKS, with_team_owner

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
    "green": "绿灯事项",
    "nextweek": "下周到期",
    "unreported": "7天以上未报进展",
    "behind": "落后序时进度",
    "extension": "待审批的延期申请",
    "awaiting_review": "待审核事项",
    "unsigned": "未签收的交办",
}
#: filters whose rows depend on who asks (by role), besides "mine" and scoped ones
PERSONAL_FILTERS = {"mine", "awaiting_review", "unsigned"}
#: a scope after "+" narrows any filter: "red+mine", "overdue+team"
SCOPE_TITLES = {"mine": "我的", "team": "本专班"}
UNREPORTED_DAYS = 7


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
    personal = which in PERSONAL_FILTERS or "+" in which
    cache = list_cache(session)
    cache_key = (tasks_version(session), today, which, arg,
                 person.id if personal and person else None, page, page_size)
    # A hit means the same filter was checked and built before, and for these filters the
    # query and title depend only on the key. A team list still looks its team up, so a
    # renamed or removed team is seen at once (teams do not move tasks_version).
    uncached = which.startswith("extension")  # requests do not move tasks_version
    cached = cache.get(cache_key) if which != "team" and not uncached else None
    if cached is None:
        query, title = filter_tasks(session, now, person, which, arg, select(Task.id))
        cached = cache.get(cache_key) if not uncached else None
    if cached is not None:
        title, total, page, ids = cached
        return TaskPage(title, _load_page(session, ids, today), total, page, page_size, which, arg)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order: tuple[Any, ...]
    if which.partition("+")[0] in ("overdue", RED, YELLOW, "week", "due", "nextweek"):
        # one light or a date window: the earliest deadline is the most urgent (index order)
        order = (Task.deadline.asc(), Task.id)
    else:
        order = (light_rank_sql(today), Task.deadline.is_(None), Task.deadline.asc(), Task.id)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    # ids first: the filter, count and order read only the lights index; then one page of rows
    ids = list(session.scalars(query.order_by(*order).offset((page - 1) * page_size).limit(page_size)))
    cache.put(cache_key, (title, total, page, list(ids)))
    return TaskPage(title, _load_page(session, ids, today), total, page, page_size, which, arg)


def _load_page(session: Session, ids: list[int], today: date) -> list[tuple[Task, Light]]:
    by_id = {t.id: t for t in with_team_owner(session.execute(PAGE_TASKS, {"ids": list(ids)}))}
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
    which, _, scope = which.partition("+")
    if scope:
        if person is None or scope not in SCOPE_TITLES:
            raise InvalidInput(f"不认识的范围“{scope}”。")
        if scope == "team" and person.team_id is None:
            raise InvalidInput("你不在任何专班,没有“本专班”的清单。")
        query = query.where(Task.team_id == person.team_id) if scope == "team" else query.where(
            or_(Task.owner_id == person.id, Task.team_id == person.team_id) if person.team_id is not None
            else Task.owner_id == person.id)
    query, title = _filter(session, today, person, which, arg, query)
    if scope:
        title = SCOPE_TITLES[scope] + title.removeprefix("我的")
    return query, title


def _filter(session: Session, today: date, person: Optional[Person], which: str, arg: Optional[str],
            query: Select) -> tuple[Select, str]:
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
    elif which == "green":
        query = query.where(Task.status == STATUS_ACTIVE, light_sql(today) == GREEN)
    elif which == "nextweek":
        monday = today + timedelta(days=7 - today.weekday())
        query = query.where(Task.status == STATUS_ACTIVE, Task.deadline >= monday,
                            Task.deadline <= monday + timedelta(days=6))
    elif which == "unreported":
        since = datetime.combine(today - timedelta(days=UNREPORTED_DAYS), datetime.min.time())
        query = query.where(Task.status == STATUS_ACTIVE,
                            or_(Task.last_update_at.is_(None), Task.last_update_at < since.replace(
                                tzinfo=OFFICE_TZ)))
    elif which == "behind":
        query = query.where(Task.status == STATUS_ACTIVE, Task.behind_yellow_on <= today)
    elif which == "extension":
        pending = select(ExtensionRequest.task_id).where(ExtensionRequest.status == "pending")
        query = query.where(Task.id.in_(pending))
    elif which == "awaiting_review":
        # 待审核: what this person may review (their team's, not their own; leaders and admins
        # all); a cadre sees their own and their team's tasks waiting for review
        query = query.where(Task.review_status == ReviewStatus.PENDING)
        if person is None:
            raise InvalidInput("请先绑定身份。")
        if not (person.is_admin or person.role == ROLE_LEADER):
            if person.role == ROLE_TEAM_LEAD:
                query = query.where(Task.team_id == person.team_id, Task.owner_id.is_distinct_from(person.id))
            else:
                query = query.where(or_(Task.owner_id == person.id, Task.team_id == person.team_id)
                                    if person.team_id is not None else Task.owner_id == person.id)
    elif which == "unsigned":
        # 交办 not yet signed: a cadre's own, a team lead's team's, all for leaders and admins
        query = query.where(Task.assigned_at.is_not(None), Task.signed_at.is_(None),
                            Task.status == STATUS_ACTIVE)
        if person is None:
            raise InvalidInput("请先绑定身份。")
        if not (person.is_admin or person.role == ROLE_LEADER):
            query = query.where(Task.team_id == person.team_id if person.role == ROLE_TEAM_LEAD
                                else Task.owner_id == person.id)
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


LIST_WORDS = {
    "mine": "mine", "我的": "mine", "我": "mine",
    "overdue": "overdue", "逾期": "overdue", "超期": "overdue",
    "red": "red", "红灯": "red", "红": "red",
    "yellow": "yellow", "黄灯": "yellow", "黄": "yellow",
    "week": "week", "本周": "week", "这周": "week",
    "all": "all", "全部": "all", "所有": "all",
    "done": "done", "已完成": "done", "完成": "done",
}


def parse_list_filter(session: Session, args: str) -> tuple[str, Optional[str]]:
    """A list filter typed after /tasks or /export: (which, arg) for ``list_tasks``."""
    word = args.strip()
    if not word:
        return "all", None
    if word in LIST_WORDS:
        return LIST_WORDS[word], None
    days = word.rstrip("天")
    if days.isdigit():  # "/tasks 30": due within 30 days, like /due 30
        return "due", days
    if find_team(session, word):
        return "team", word
    categories = {c for (c,) in session.execute(select(Task.category).distinct())}
    if word in categories:
        return "category", word
    raise InvalidInput(f"看不懂“{word}”。可用:mine/我的、overdue/逾期、red/红灯、yellow/黄灯、"
                       "week/本周、done/已完成、专班名或类别(如 重点项目、民生实事)。")
