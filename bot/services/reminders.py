"""Reminders: what is due at a moment, the outbox, snoozes, extensions and settings.

Everything here is derived from database state at ``now`` (the injectable clock), so a
changed deadline or a completed task is reflected at the next tick without re-registering
anything. ``due_reminders`` answers "what should have been pushed by ``now``" with a few
set-based queries (tasks whose deadline falls in the handful of date ranges that matter
today), never a Python loop over every task. ``enqueue`` records each occasion in the
``outbox`` table with ``INSERT .. ON CONFLICT (dedupe_key) DO NOTHING``, so a restart or a
second process can never create the same reminder twice.

Kinds and their dedupe keys (who, what, which occasion):

* ``deadline``   T-3 / T-1 / on the day (working days) of a task's deadline, at the
  recipient's remind time: ``dl:<task>:<deadline>:<k>:<person>``;
* ``milestone``  same for an open milestone's ``due``: ``ms:<milestone>:<due>:<k>:<person>``;
* ``stale``      no update for N working days, on the nudge weekday, one message per
  person listing their quiet tasks: ``st:<person>:<day>``;
* ``digest``     a team lead's daily digest: ``dg:<person>:<day>``;
* ``robot_digest`` the same digest into the team's WeCom group chat, when the team has a
  group robot (``teams.robot_key``): ``digest-robot:<team>:<day>`` (no person; the outbox
  row is addressed to channel ``wecom_robot`` at send time);
* ``brief``      a leader's weekly brief (``bot.services.reports.weekly_brief``, the same as
  /brief; the picture is drawn at send time): ``wb:<person>:<iso week>``;
* ``escalation`` overdue by N working days: ``es:<task>:<deadline>:<N>:<person>``;
* ``snooze``, ``extension``, ``admin`` — written directly by the actions below.

The recipient of a task's reminders is its owner (责任人); a task without an owner goes to
the team lead of its team (专班负责人). Tasks with neither get none.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Optional, Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.clock import OFFICE_TZ
from bot.config import Config, RemindersConfig
from bot.models import (
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    ExtensionRequest,
    MetaEntry,
    Milestone,
    OutboxMessage,
    Person,
    Task,
    Team,
)
from bot.services import audit, reports
from bot.services.errors import InvalidInput, NotFound, PermissionDenied
from bot.services.tasks import (
    LIGHT_ICONS,
    RED,
    YELLOW,
    light_rank_sql,
    light_sql,
    refresh_light_dates,
)
from bot.workdays import WorkCalendar

logger = logging.getLogger(__name__)

WEEKDAYS = "一二三四五六日"
LAST_TICK_KEY = "reminders_last_tick"

# outbox statuses
PENDING, SENT, FAILED, SKIPPED, SUPERSEDED, NO_ADDRESS = (
    "pending", "sent", "failed", "skipped", "superseded", "no_address")

ROBOT_DIGEST = "robot_digest"
ROBOT_CHANNEL = "wecom_robot"

# kinds a muted person does not get (extension decisions and admin notices still arrive)
MUTABLE_KINDS = {"deadline", "milestone", "stale", "digest", "brief", "escalation", "snooze"}
DIGEST_KINDS = {"digest", "brief", ROBOT_DIGEST}
SNOOZABLE_KINDS = {"deadline", "milestone", "stale", "escalation", "snooze"}


@dataclass
class Due:
    """One occasion to push: what ``enqueue`` writes to the outbox."""

    dedupe_key: str
    kind: str
    person_id: Optional[int]
    due_at: datetime
    text: str = ""
    task_id: Optional[int] = None
    actions: list[str] = field(default_factory=list)
    late: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "actions": list(self.actions), **self.extra}


# ---------------------------------------------------------------- calendar and helpers

def make_calendar(config: Config, on_missing_year=None) -> WorkCalendar:
    """The office calendar: config overrides, then chinesecalendar, then Monday-Friday."""
    return WorkCalendar(config.reminders.calendar_overrides, on_missing_year=on_missing_year)


def at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=OFFICE_TZ)


def fmt_day(d: date) -> str:
    return f"{d.month}月{d.day}日(周{WEEKDAYS[d.weekday()]})"


def _deadline_range(calendar: WorkCalendar, effective: date) -> tuple[date, date]:
    """Raw deadlines whose effective deadline is ``effective``: (previous workday, effective]."""
    return calendar.add_workdays(effective, -1), effective


def in_quiet_hours(moment: datetime, quiet: Optional[tuple[time, time]]) -> Optional[datetime]:
    """When ``moment`` falls in quiet hours, the end of them; else None."""
    if not quiet:
        return None
    start, end = quiet
    if start == end:
        return None
    t = moment.timetz().replace(tzinfo=None)
    day = moment.date()
    if start < end:  # e.g. 12:00-13:30
        return at(day, end) if start <= t < end else None
    if t >= start:  # e.g. 22:00-07:30, late evening
        return at(day + timedelta(days=1), end)
    if t < end:  # early morning
        return at(day, end)
    return None


def quiet_of(person: Person, config: RemindersConfig) -> Optional[tuple[time, time]]:
    if person.quiet_start is not None and person.quiet_end is not None:
        return (person.quiet_start, person.quiet_end)
    return config.quiet_hours


def remind_time_of(person: Person, config: RemindersConfig) -> time:
    return person.remind_time or config.remind_time


@dataclass
class _Directory:
    """People and team leads, read once per computation (small tables)."""

    people: dict[int, Person]
    team_leads: dict[int, int]
    team_names: dict[int, str]
    team_leaders: dict[int, Optional[int]]
    team_robots: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> "_Directory":
        people = {p.id: p for p in session.scalars(select(Person).where(Person.active.is_(True)))}
        leads: dict[int, int] = {}
        for p in sorted(people.values(), key=lambda p: p.id):
            if p.role == ROLE_TEAM_LEAD and p.team_id is not None:
                leads.setdefault(p.team_id, p.id)
        names, leaders, robots = {}, {}, {}
        for team_id, name, leader_id, robot_key in session.execute(
                select(Team.id, Team.name, Team.leader_id, Team.robot_key)):
            names[team_id] = name
            leaders[team_id] = leader_id
            if robot_key:
                robots[team_id] = robot_key
        return cls(people, leads, names, leaders, robots)

    def responsible(self, owner_id: Optional[int], team_id: Optional[int]) -> Optional[int]:
        if owner_id is not None and owner_id in self.people:
            return owner_id
        if team_id is not None:
            return self.team_leads.get(team_id)
        return None


# ---------------------------------------------------------------- what is due

def due_reminders(
    session: Session,
    now: datetime,
    config: Config | RemindersConfig,
    calendar: WorkCalendar,
    since: Optional[datetime] = None,
) -> list[Due]:
    """Every occasion whose moment is at or before ``now``, from the start of today (or from
    ``since`` after downtime, at most ``catchup_days`` back). Already-recorded occasions are
    included too; ``enqueue`` drops them by their dedupe key.

    Deadline and escalation occasions exist only on working days; digests only today.
    When downtime hid several occasions of one deadline, only the latest is kept.
    """
    rc = config.reminders if isinstance(config, Config) else config
    now = now.astimezone(OFFICE_TZ)
    today = now.date()
    start = today
    if since is not None:
        start = max(min(since.astimezone(OFFICE_TZ).date(), today), today - timedelta(days=rc.catchup_days))
    days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    people = _Directory.load(session)
    grace = timedelta(minutes=rc.late_grace_minutes)
    out: list[Due] = []
    if not rc.enabled:
        return out
    for day in days:
        if calendar.is_workday(day):
            out.extend(_deadline_dues(session, day, now, rc, calendar, people))
            out.extend(_escalation_dues(session, day, now, rc, calendar, people))
            if day.weekday() == rc.stale_nudge_weekday:
                stale_days = config.lights.stale_days if isinstance(config, Config) else None
                out.extend(_stale_dues(session, day, now, rc, calendar, people, stale_days))
    out.extend(_digest_dues(session, today, now, rc, calendar, people))
    out.extend(_brief_dues(session, today, now, rc, calendar, people))
    out = [d for d in out if d.due_at <= now]
    # after downtime: one deadline's earlier occasions are superseded by its latest one
    latest: dict[tuple, Due] = {}
    rest: list[Due] = []
    for d in out:
        group = d.extra.get("group")
        if group is None:
            rest.append(d)
            continue
        if group not in latest or d.due_at > latest[group].due_at:
            latest[group] = d
    out = rest + list(latest.values())
    for d in out:
        d.late = now - d.due_at > grace
        d.extra.pop("group", None)
    out.sort(key=lambda d: (d.due_at, d.dedupe_key))
    return out


def _offset_words(k: int) -> str:
    return "今天到期" if k == 0 else f"还有{k}个工作日到期"


def _deadline_dues(session, day, now, rc, calendar, people) -> list[Due]:
    ranges: list[tuple[int, date, date]] = []
    for k in sorted(set(rc.deadline_offsets_workdays)):
        effective = calendar.add_workdays(day, k) if k > 0 else day
        lo, hi = _deadline_range(calendar, effective)
        ranges.append((k, lo, hi))
    if not ranges:
        return []

    def which(d: date) -> Optional[int]:
        for k, lo, hi in ranges:
            if lo < d <= hi:
                return k
        return None

    out: list[Due] = []
    cond = or_(*[and_(Task.deadline > lo, Task.deadline <= hi) for _, lo, hi in ranges])
    rows = session.execute(
        select(Task.id, Task.name, Task.deadline, Task.owner_id, Task.team_id)
        .where(Task.status == STATUS_ACTIVE, cond)
    ).all()
    for task_id, name, deadline, owner_id, team_id in rows:
        k = which(deadline)
        person_id = people.responsible(owner_id, team_id)
        if k is None or person_id is None:
            continue
        person = people.people[person_id]
        effective = calendar.effective_deadline(deadline)
        team = people.team_names.get(team_id, "")
        text = (f"⏰ 到期提醒:{_offset_words(k)}\n📌 {name}" + (f"({team})" if team else "")
                + f"\n截止:{fmt_day(effective)}"
                + ("" if effective == deadline else f"(原定{deadline.month}月{deadline.day}日逢休息日顺延)")
                + "\n请及时报进展;来不及请申请延期。")
        out.append(Due(f"dl:{task_id}:{deadline}:{k}:{person_id}", "deadline", person_id,
                       at(day, remind_time_of(person, rc)), text, task_id,
                       ["update", f"extend:{task_id}:0", "snooze"],
                       extra={"group": ("dl", task_id, deadline, person_id)}))
    mrows = session.execute(
        select(Milestone.id, Milestone.name, Milestone.due, Task.id, Task.name, Task.owner_id, Task.team_id)
        .join(Task, Milestone.task_id == Task.id)
        .where(Task.status == STATUS_ACTIVE, Milestone.done_at.is_(None),
               or_(*[and_(Milestone.due > lo, Milestone.due <= hi) for _, lo, hi in ranges]))
    ).all()
    for ms_id, ms_name, due, task_id, task_name, owner_id, team_id in mrows:
        k = which(due)
        person_id = people.responsible(owner_id, team_id)
        if k is None or person_id is None:
            continue
        person = people.people[person_id]
        effective = calendar.effective_deadline(due)
        text = (f"⏰ 节点提醒:{_offset_words(k)}\n📌 {task_name} · {ms_name}"
                f"\n节点日期:{fmt_day(effective)}\n完成后请报进展。")
        out.append(Due(f"ms:{ms_id}:{due}:{k}:{person_id}", "milestone", person_id,
                       at(day, remind_time_of(person, rc)), text, task_id,
                       ["update", f"extend:{task_id}:{ms_id}", "snooze"],
                       extra={"group": ("ms", ms_id, due, person_id)}))
    return out


def _escalation_dues(session, day, now, rc, calendar, people) -> list[Due]:
    out: list[Due] = []
    steps = sorted(rc.escalation, key=lambda s: s.overdue_workdays)
    for step in steps:
        effective = calendar.add_workdays(day, -step.overdue_workdays)
        lo, hi = _deadline_range(calendar, effective)
        rows = session.execute(
            select(Task.id, Task.name, Task.deadline, Task.owner_id, Task.team_id)
            .where(Task.status == STATUS_ACTIVE, Task.deadline > lo, Task.deadline <= hi)
        ).all()
        for task_id, name, deadline, owner_id, team_id in rows:
            if step.notify == "team_lead":
                person_id = people.team_leads.get(team_id) if team_id else None
            else:
                person_id = people.team_leaders.get(team_id) if team_id else None
            if person_id is None or person_id not in people.people:
                continue
            person = people.people[person_id]
            owner = people.people.get(owner_id) if owner_id else None
            team = people.team_names.get(team_id, "")
            text = (f"⚠️ 逾期提醒:已逾期{step.overdue_workdays}个工作日\n📌 {name}"
                    + (f"({team})" if team else "")
                    + f"\n截止:{fmt_day(calendar.effective_deadline(deadline))}"
                    + (f"\n责任人:{owner.name}" if owner else "")
                    + "\n请督促报进展或办理延期。")
            out.append(Due(f"es:{task_id}:{deadline}:{step.overdue_workdays}:{person_id}", "escalation",
                           person_id, at(day, remind_time_of(person, rc)), text, task_id,
                           [f"task:{task_id}", "snooze"],
                           extra={"group": ("es", task_id, deadline, step.overdue_workdays, person_id)}))
    return out


def _stale_dues(session, day, now, rc, calendar, people, stale_days=None) -> list[Due]:
    """One nudge per person listing their tasks with no update for N working days."""
    cutoff = calendar.add_workdays(day, -rc.stale_nudge_workdays)
    if stale_days is not None:
        # stale_on = day of the last activity + stale_days (a plain, indexed date column)
        rows = session.execute(
            select(Task.id, Task.name, Task.stale_on, Task.owner_id, Task.team_id)
            .where(Task.status == STATUS_ACTIVE, Task.stale_on <= cutoff + timedelta(days=stale_days))
            .order_by(Task.stale_on, Task.id)
        ).all()
        shift = timedelta(days=stale_days)
        rows = [(i, n, d - shift, o, t) for i, n, d, o, t in rows]
    else:
        limit = at(cutoff + timedelta(days=1), time(0, 0))
        rows = session.execute(
            select(Task.id, Task.name, Task.last_activity_at, Task.owner_id, Task.team_id)
            .where(Task.status == STATUS_ACTIVE, Task.last_activity_at < limit)
            .order_by(Task.last_activity_at, Task.id)
        ).all()
        rows = [(i, n, d.date(), o, t) for i, n, d, o, t in rows]
    mine: dict[int, list[tuple[int, str, date]]] = {}
    for task_id, name, last_day, owner_id, team_id in rows:
        person_id = people.responsible(owner_id, team_id)
        if person_id is not None:
            mine.setdefault(person_id, []).append((task_id, name, last_day))
    out: list[Due] = []
    quiet_for: dict[date, int] = {}
    for person_id, items in mine.items():
        person = people.people[person_id]
        lines = [f"📝 该报进展了:{len(items)}个事项超过{rc.stale_nudge_workdays}个工作日没有更新"]
        for task_id, name, last_day in items[:10]:
            n = quiet_for.get(last_day)
            if n is None:
                n = quiet_for[last_day] = calendar.workdays_between(last_day, day)
            lines.append(f"📌 {name}({n}个工作日,上次 {last_day.month}月{last_day.day}日)")
        if len(items) > 10:
            lines.append(f"…另有{len(items) - 10}项,发 /tasks mine 查看")
        lines.append("请发“报进展”说一句现在的情况。")
        single = items[0][0] if len(items) == 1 else None
        out.append(Due(f"st:{person_id}:{day}", "stale", person_id, at(day, remind_time_of(person, rc)),
                       "\n".join(lines), single, ["update", "snooze"] if single else ["snooze"]))
    return out


def _sends_on(day: date, rc: RemindersConfig, calendar: WorkCalendar) -> bool:
    return rc.send_on_non_workdays or calendar.is_workday(day)


def _digest_dues(session, today, now, rc, calendar, people) -> list[Due]:
    if not _sends_on(today, rc, calendar):
        return []
    moment = at(today, rc.digest_time)
    if moment > now:
        return []
    out = []
    for person in people.people.values():
        if person.role == ROLE_TEAM_LEAD and person.team_id is not None:
            out.append(Due(f"dg:{person.id}:{today}", "digest", person.id, moment,
                           extra={"team_id": person.team_id}))
    # the same digest into the team's group chat, when the team has a group robot
    for team_id in sorted(people.team_robots):
        out.append(Due(f"digest-robot:{team_id}:{today}", ROBOT_DIGEST, None, moment,
                       extra={"team_id": team_id}))
    return out


def brief_day(day: date, rc: RemindersConfig, calendar: WorkCalendar) -> Optional[date]:
    """The day of ``day``'s week on which the weekly brief goes out: the configured weekday,
    or the first working day after it in the same week when it is a holiday."""
    monday = day - timedelta(days=day.weekday())
    for offset in range(rc.weekly_brief_weekday, 7):
        candidate = monday + timedelta(days=offset)
        if _sends_on(candidate, rc, calendar):
            return candidate
    return None


def _brief_dues(session, today, now, rc, calendar, people) -> list[Due]:
    if brief_day(today, rc, calendar) != today:
        return []
    moment = at(today, rc.weekly_brief_time)
    if moment > now:
        return []
    year, week, _ = today.isocalendar()
    return [Due(f"wb:{p.id}:{year}-W{week:02d}", "brief", p.id, moment)
            for p in people.people.values() if p.role == ROLE_LEADER]


# ---------------------------------------------------------------- digest and brief content

def digest_texts(session: Session, now: datetime, team_ids: Iterable[int],
                 due_days: int = 7) -> dict[int, str]:
    """Team leads' digests (one query for all the teams): overdue, red, yellow and due-soon
    items, most urgent first. Teams with nothing to say are left out."""
    team_ids = sorted(set(team_ids))
    if not team_ids:
        return {}
    today = now.astimezone(OFFICE_TZ).date()
    light = light_sql(today)
    soon = today + timedelta(days=due_days)
    rows = session.execute(
        select(Task.team_id, Task.name, Task.deadline, light)
        .where(Task.team_id.in_(team_ids), Task.status == STATUS_ACTIVE,
               or_(light.in_((RED, YELLOW)), and_(Task.deadline >= today, Task.deadline <= soon)))
        .order_by(Task.team_id, light_rank_sql(today), Task.deadline.is_(None), Task.deadline, Task.id)
    ).all()
    by_team: dict[int, list] = {}
    for team_id, name, deadline, color in rows:
        by_team.setdefault(team_id, []).append((name, deadline, color))
    names = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(list(by_team)))).all())
    return {team_id: _digest_body(names.get(team_id, ""), items, today, due_days)
            for team_id, items in by_team.items()}


def digest_text(session: Session, now: datetime, team_id: int, due_days: int = 7) -> Optional[str]:
    """One team lead's digest; None when there is nothing to say."""
    return digest_texts(session, now, [team_id], due_days).get(team_id)


def _digest_body(team: str, rows: list, today: date, due_days: int) -> str:
    soon = today + timedelta(days=due_days)
    overdue = sum(1 for _, d, _ in rows if d is not None and d < today)
    reds = sum(1 for _, _, c in rows if c == RED)
    yellows = sum(1 for _, _, c in rows if c == YELLOW)
    head = f"📋 {team}今日督办({today.month}月{today.day}日)"
    counts = f"逾期{overdue} · 红灯{reds} · 黄灯{yellows} · {due_days}天内到期" \
             f"{sum(1 for _, d, _ in rows if d is not None and today <= d <= soon)}"
    lines = [head, counts]
    for name, deadline, color in rows[:12]:
        if deadline is not None and deadline < today:
            when = f"逾期{(today - deadline).days}天"
        elif deadline is not None:
            left = (deadline - today).days
            when = "今天到期" if left == 0 else f"{deadline.month}月{deadline.day}日到期"
        else:
            when = ""
        lines.append(f"{LIGHT_ICONS.get(color, '')}{name}" + (f" {when}" if when else ""))
    if len(rows) > 12:
        lines.append(f"…另有{len(rows) - 12}项,发 /tasks mine 查看")
    return "\n".join(lines)


def brief_of(session: Session, now: datetime, config: Config | RemindersConfig) -> Optional[reports.WeeklyBrief]:
    """The leaders' weekly brief at ``now`` (the same as /brief); None when it has nothing to say."""
    full = config if isinstance(config, Config) else Config(reminders=config)
    brief = reports.weekly_brief(session, now.astimezone(OFFICE_TZ), full)
    return None if brief.is_empty else brief


def fill_content(session: Session, dues: Sequence[Due], now: datetime,
                 config: Config | RemindersConfig) -> list[Due]:
    """Digests and briefs get their text now; empty ones are dropped (nothing to say).
    A robot digest keeps its ``team_id`` in the payload (its address is found at send time)."""
    rc = config.reminders if isinstance(config, Config) else config
    out = []
    digests = digest_texts(session, now, [d.extra["team_id"] for d in dues if d.kind in ("digest", ROBOT_DIGEST)],
                           rc.digest_due_days)
    brief: Optional[str] = None
    for d in dues:
        if d.kind == "digest":
            d.text = digests.get(d.extra.pop("team_id"), "")
        elif d.kind == ROBOT_DIGEST:
            d.text = digests.get(d.extra["team_id"], "")
        elif d.kind == "brief":
            if brief is None:
                weekly = brief_of(session, now, config)
                brief = weekly.as_text() if weekly is not None else ""
            d.text = brief
        if d.text:
            out.append(d)
    return out


# ---------------------------------------------------------------- the outbox

def _insert(session: Session, target=OutboxMessage):
    """INSERT for the session's dialect, which knows ON CONFLICT DO NOTHING."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(target)


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        found.update(session.scalars(select(OutboxMessage.dedupe_key)
                                     .where(OutboxMessage.dedupe_key.in_(chunk))))
    return found


def enqueue(session: Session, dues: Sequence[Due], now: datetime,
            config: Config | RemindersConfig | None = None) -> list[Due]:
    """Record occasions in the outbox; those already there are left alone. Returns the new ones.

    With ``config``, digests and briefs get their text (those already recorded are skipped
    before it is computed; those with nothing to say are dropped).
    """
    if not dues:
        return []
    known = existing_keys(session, (d.dedupe_key for d in dues))
    fresh = [d for d in dues if d.dedupe_key not in known]
    if config is not None:
        fresh = fill_content(session, fresh, now, config)
    inserted: list[Due] = []
    for i in range(0, len(fresh), 500):
        chunk = fresh[i:i + 500]
        rows = [dict(dedupe_key=d.dedupe_key, kind=d.kind, person_id=d.person_id, task_id=d.task_id,
                     payload=d.payload(), due_at=d.due_at, created_at=now, status=PENDING,
                     attempts=0, next_attempt_at=d.due_at, late=d.late) for d in chunk]
        table = OutboxMessage.__table__
        stmt = _insert(session, table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        stmt = stmt.returning(table.c.dedupe_key)
        # Core executemany ("insertmanyvalues"): one round trip per batch, only inserted keys return
        keys = set(session.connection().execute(stmt, rows).scalars())
        inserted.extend(d for d in chunk if d.dedupe_key in keys)
    return inserted


def push(session: Session, now: datetime, key: str, kind: str, person_id: int, text: str,
         actions: Sequence[str] = (), task_id: Optional[int] = None,
         due_at: Optional[datetime] = None) -> bool:
    """Record one message for a person (extension notices, admin warnings); False if present."""
    return bool(enqueue(session, [Due(key, kind, person_id, due_at or now, text, task_id, list(actions))], now))


def warn_admins(session: Session, now: datetime, key: str, text: str) -> int:
    admins = session.scalars(select(Person.id).where(Person.is_admin.is_(True), Person.active.is_(True))).all()
    return len(enqueue(session, [Due(f"{key}:{pid}", "admin", pid, now, text) for pid in admins], now))


def warn_missing_years(session: Session, now: datetime, years: Iterable[int]) -> int:
    count = 0
    for year in sorted(set(years)):
        count += warn_admins(session, now, f"calendar-missing:{year}",
                             f"⚠️ 日历提醒:节假日数据没有{year}年,暂按周一至周五算工作日。"
                             f"\n请升级 chinesecalendar,或在 config.yaml 的 reminders.calendar_overrides 里补上{year}年的节假日和调休。")
    return count


def last_tick(session: Session) -> Optional[datetime]:
    entry = session.get(MetaEntry, LAST_TICK_KEY)
    return datetime.fromisoformat(entry.value) if entry else None


def set_last_tick(session: Session, now: datetime) -> None:
    """Remember the latest tick (an upsert, so two processes starting together are fine)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    previous = last_tick(session)
    if previous is not None and previous >= now:
        return
    stmt = insert(MetaEntry).values(key=LAST_TICK_KEY, value=now.isoformat())
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": now.isoformat()}))
    session.expire_all()


# ---------------------------------------------------------------- snooze

SNOOZE_CHOICES = {"1h": "1小时", "am": "明早"}


def snooze(session: Session, now: datetime, person: Person, outbox_id: Optional[int],
           when_text: str, calendar: Optional[WorkCalendar] = None) -> tuple[OutboxMessage, datetime]:
    """Remind again later: copy a reminder the person got into a new outbox row at ``when``.

    Without ``outbox_id`` the person's latest reminder is snoozed.
    """
    from bot.dateparse import DateParseError, parse_snooze

    if outbox_id is not None:
        original = session.get(OutboxMessage, outbox_id)
    else:
        original = session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == person.id,
                                        OutboxMessage.kind.in_(SNOOZABLE_KINDS),
                                        OutboxMessage.status == SENT)
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1)).first()
    if original is None or original.person_id != person.id:
        raise NotFound("没有可以稍后再提醒的消息。")
    try:
        when = parse_snooze(SNOOZE_CHOICES.get(when_text, when_text), now, calendar)
    except DateParseError as error:
        raise InvalidInput(str(error)) from None
    if when <= now:
        raise InvalidInput("稍后的时间要在现在之后。")
    if when - now > timedelta(days=31):
        raise InvalidInput("最多推迟31天。")
    text = original.payload.get("text", "")
    if not text.startswith("🔔"):
        text = "🔔 稍后提醒\n" + text
    key = f"sz:{original.id}:{when:%Y%m%d%H%M}"
    push(session, now, key, "snooze", person.id, text,
         original.payload.get("actions", []), original.task_id, due_at=when)
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    return row, when


# ---------------------------------------------------------------- extensions

def deciders(session: Session, task: Task) -> list[Person]:
    """Who may approve an extension: the team lead, else the leader in charge."""
    from bot.services.people import team_lead_of

    lead = team_lead_of(session, task.team_id)
    if lead is not None:
        return [lead]
    if task.team is not None and task.team.leader is not None:
        return [task.team.leader]
    return list(session.scalars(select(Person).where(Person.is_admin.is_(True), Person.active.is_(True))))


def can_decide(session: Session, person: Person, task: Task) -> bool:
    if person.is_admin:
        return True
    if task.team is not None and task.team.leader_id == person.id:
        return True
    return person.role == ROLE_TEAM_LEAD and person.team_id is not None and person.team_id == task.team_id


def request_extension(session: Session, now: datetime, person: Person, task: Task,
                      new_deadline: date, reason: str, milestone: Optional[Milestone] = None) -> ExtensionRequest:
    """A cadre asks for a later deadline; the team lead is told (with approve / refuse)."""
    from bot.services.people import can_update

    if not can_update(person, task):
        raise PermissionDenied("只有责任人或本专班人员可以为这个事项申请延期。")
    if task.status != STATUS_ACTIVE:
        raise InvalidInput("这个事项不在进行中,不需要延期。")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请写延期理由。")
    if len(reason) > 500:
        raise InvalidInput(f"理由太长({len(reason)}字),请控制在500字以内。")
    old = milestone.due if milestone is not None else task.deadline
    today = now.astimezone(OFFICE_TZ).date()
    if new_deadline <= today or (old is not None and new_deadline <= old):
        raise InvalidInput("新日期要晚于今天和原截止日期。")
    same = (ExtensionRequest.milestone_id == milestone.id if milestone is not None
            else ExtensionRequest.milestone_id.is_(None))
    pending = session.scalar(select(ExtensionRequest).where(
        ExtensionRequest.task_id == task.id, ExtensionRequest.status == "pending", same))
    if pending is not None:
        raise InvalidInput(f"这个事项已有一条待审批的延期申请(编号{pending.id})。")
    request = ExtensionRequest(task_id=task.id, milestone_id=milestone.id if milestone else None,
                               requester_id=person.id, reason=reason, old_deadline=old,
                               new_deadline=new_deadline, status="pending", created_at=now)
    session.add(request)
    session.flush()
    audit.record(session, now, person, "request", "extension", task.key,
                 {"deadline": old}, {"deadline": new_deadline, "reason": reason})
    what = task.name + (f" · {milestone.name}" if milestone else "")
    old_text = f"{old.month}月{old.day}日" if old else "未定"
    text = (f"🕒 延期申请(编号{request.id})\n📌 {what}\n{person.name}申请:{old_text} → "
            f"{new_deadline.year}年{new_deadline.month}月{new_deadline.day}日\n理由:{reason}"
            f"\n点按钮,或回复“同意延期 {request.id}”/“不同意延期 {request.id}”。")
    for decider in deciders(session, task):
        push(session, now, f"ext:{request.id}:ask:{decider.id}", "extension", decider.id, text,
             [f"approve:{request.id}", f"refuse:{request.id}"], task.id)
    return request


def decide_extension(session: Session, now: datetime, person: Person, request_id: int,
                     approve: bool, lights, note: str = "") -> ExtensionRequest:
    """Approve (the deadline moves) or refuse; the requester is told either way."""
    request = session.get(ExtensionRequest, request_id)
    if request is None:
        raise NotFound(f"没有编号{request_id}的延期申请。")
    task = session.get(Task, request.task_id)
    if not can_decide(session, person, task):
        raise PermissionDenied("只有本专班负责人或分管领导可以审批这条延期申请。")
    if request.status != "pending":
        word = "已同意" if request.status == "approved" else "已不同意"
        raise InvalidInput(f"这条延期申请{word},不用再处理。")
    request.status = "approved" if approve else "refused"
    request.decided_by_id = person.id
    request.decided_at = now
    milestone = session.get(Milestone, request.milestone_id) if request.milestone_id else None
    if approve:
        if milestone is not None:
            before = {"due": milestone.due}
            milestone.due = request.new_deadline
            audit.record(session, now, person, "extend", "milestone", f"{task.key}:{milestone.id}",
                         before, {"due": milestone.due})
        else:
            before = {"deadline": task.deadline}
            task.deadline = request.new_deadline
            refresh_light_dates(task, lights)
            audit.record(session, now, person, "extend", "task", task.key, before,
                         {"deadline": task.deadline})
    else:
        audit.record(session, now, person, "refuse", "extension", task.key, None,
                     {"request": request.id, "note": note})
    session.flush()
    d = request.new_deadline
    what = task.name + (f" · {milestone.name}" if milestone else "")
    if approve:
        text = f"✅ 延期已同意({person.name})\n📌 {what}\n新截止:{d.year}年{d.month}月{d.day}日"
    else:
        text = f"❌ 延期未同意({person.name})\n📌 {what}\n仍按原截止日期办理。" + (f"\n说明:{note}" if note else "")
    push(session, now, f"ext:{request.id}:decided", "extension", request.requester_id, text,
         ["update"] if not approve else [], task.id)
    return request


# ---------------------------------------------------------------- settings (/remind)

def settings_text(person: Person, rc: RemindersConfig, now: datetime) -> str:
    remind = person.remind_time or rc.remind_time
    quiet = quiet_of(person, rc)
    lines = [f"⏰ {person.name}的提醒设置",
             f"提醒时间:{remind:%H:%M}" + ("" if person.remind_time else "(默认)"),
             "免打扰:" + (f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}" if quiet else "无")
             + ("" if person.quiet_start is not None else "(默认)")]
    if person.muted_until is not None and person.muted_until > now:
        lines.append(f"状态:已关闭,到 {person.muted_until:%m-%d %H:%M} 恢复")
    else:
        lines.append("状态:开启")
    lines.append("改法:/remind 时间 8:30 · /remind 免打扰 22:00-7:30 · /remind 关闭一周 · "
                 "/remind 开启 · /remind 默认")
    return "\n".join(lines)


def _parse_clock(text: str) -> time:
    import re

    from bot.services.text import nfkc

    s = nfkc(text).strip().replace("点半", ":30").replace("点", ":").rstrip(":")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{1,2}))?", s)
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise InvalidInput(f"看不懂时间“{text}”,请写 8:30 这样的时间。")
    return time(int(m.group(1)), int(m.group(2) or 0))


def change_settings(session: Session, now: datetime, person: Person, args: str) -> str:
    """Apply one /remind change; returns a short confirmation. Bad input changes nothing."""
    import re

    from bot.services.text import nfkc

    text = nfkc(args).strip()
    before = {"remind_time": person.remind_time, "quiet_start": person.quiet_start,
              "quiet_end": person.quiet_end, "muted_until": person.muted_until}
    if text in ("关闭一周", "关一周", "暂停一周", "off", "关闭"):
        person.muted_until = now + timedelta(days=7)
        done = f"已关闭提醒一周,到 {person.muted_until:%m-%d %H:%M} 自动恢复。"
    elif text in ("开启", "打开", "恢复", "on"):
        person.muted_until = None
        done = "提醒已开启。"
    elif text in ("默认", "恢复默认", "reset"):
        person.remind_time = person.quiet_start = person.quiet_end = None
        person.muted_until = None
        done = "已恢复默认设置。"
    else:
        m = re.fullmatch(r"(时间|提醒时间|time)\s*(.+)", text)
        q = re.fullmatch(r"(免打扰|quiet)\s*(.+)", text)
        if m:
            person.remind_time = _parse_clock(m.group(2))
            done = f"提醒时间改为 {person.remind_time:%H:%M}。"
        elif q:
            value = q.group(2).strip()
            if value in ("无", "关闭", "off"):
                person.quiet_start = person.quiet_end = time(0, 0)
                done = "已取消免打扰。"
            else:
                parts = re.split(r"\s*(?:-|~|到|至)\s*", value)
                if len(parts) != 2:
                    raise InvalidInput("免打扰请写成 22:00-7:30 这样。")
                person.quiet_start, person.quiet_end = _parse_clock(parts[0]), _parse_clock(parts[1])
                done = f"免打扰改为 {person.quiet_start:%H:%M}-{person.quiet_end:%H:%M}。"
        else:
            raise InvalidInput("看不懂这个设置。可以写:/remind 时间 8:30、/remind 免打扰 22:00-7:30、"
                               "/remind 关闭一周、/remind 开启、/remind 默认")
    after = {"remind_time": person.remind_time, "quiet_start": person.quiet_start,
             "quiet_end": person.quiet_end, "muted_until": person.muted_until}
    audit.record(session, now, person, "settings", "reminders", person.name,
                 {k: str(v) if v is not None else None for k, v in before.items()},
                 {k: str(v) if v is not None else None for k, v in after.items()})
    session.flush()
    return done
