"""What reminders are due at a moment: deadlines, milestones, stale tasks, digests, briefs, escalations.


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
* ``unsigned``   a 交办 task not signed (签收) within ``SIGN_WITHIN_WORKDAYS`` working days of
  its 交办, told once to the 交办人 and to the team lead: ``us:<task>:<person>``;
* ``snooze``, ``extension``, ``admin`` — written directly by the actions below (and
  ``assign``, ``signed``, ``instruction``, ``feedback``, ``urge`` by the 督办-cycle services).

The recipient of a task's reminders is its owner (责任人); a task without an owner goes to
the team lead of its team (专班负责人). Tasks with neither get none.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.buttons import PushAction, push_action
from bot.clock import OFFICE_TZ
from bot.config import Config, RemindersConfig
from bot.models import (
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    STATUS_ACTIVE,
    Milestone,
    OutboxKind,
    OutboxStatus,
    Person,
    Task,
    Team,
)
from bot.workdays import WorkCalendar

logger = logging.getLogger(__name__)


WEEKDAYS = "一二三四五六日"
LAST_TICK_KEY = "reminders_last_tick"
#: 签收 is due within this many working days of the 交办 (the supervision note's default)
SIGN_WITHIN_WORKDAYS = 1
#: unsigned tasks older than this are not looked at any more (they were reported long ago)
UNSIGNED_LOOKBACK_DAYS = 60

# outbox statuses
PENDING, SENT, FAILED, SKIPPED, SUPERSEDED, NO_ADDRESS = (
    OutboxStatus.PENDING, OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.SKIPPED,
    OutboxStatus.SUPERSEDED, OutboxStatus.NO_ADDRESS)

ROBOT_DIGEST = OutboxKind.ROBOT_DIGEST
ROBOT_CHANNEL = "wecom_robot"

# kinds a muted person does not get (extension decisions and admin notices still arrive)
MUTABLE_KINDS = {"deadline", "milestone", "stale", "digest", "brief", "escalation", "snooze"}
DIGEST_KINDS = {"digest", "brief", ROBOT_DIGEST}
#: messages people's actions push at once (not scheduled occasions): never marked "(补发)",
#: also when quiet hours held them back
DIRECT_KINDS = {"admin", "extension", "assign", "signed", "instruction", "feedback", "urge"}
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
    def load(cls, session: Session) -> _Directory:
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
    out.extend(_unsigned_dues(session, now, calendar, people))
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
                       [PushAction.UPDATE, push_action(PushAction.EXTEND, task_id, 0), PushAction.SNOOZE],
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
                       [PushAction.UPDATE, push_action(PushAction.EXTEND, task_id, ms_id), PushAction.SNOOZE],
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
        for _task_id, name, last_day in items[:10]:
            n = quiet_for.get(last_day)
            if n is None:
                n = quiet_for[last_day] = calendar.workdays_between(last_day, day)
            lines.append(f"📌 {name}({n}个工作日,上次 {last_day.month}月{last_day.day}日)")
        if len(items) > 10:
            lines.append(f"…另有{len(items) - 10}项,发 /tasks mine 查看")
        lines.append("请发“报进展”说一句现在的情况。")
        single = items[0][0] if len(items) == 1 else None
        out.append(Due(f"st:{person_id}:{day}", "stale", person_id, at(day, remind_time_of(person, rc)),
                       "\n".join(lines), single,
                       [PushAction.UPDATE, PushAction.SNOOZE] if single else [PushAction.SNOOZE]))
    return out


def _unsigned_dues(session, now, calendar, people) -> list[Due]:
    """交办 tasks still not signed one working day (SIGN_WITHIN_WORKDAYS) after the 交办:
    the 交办人 and the team lead are told, once each."""
    rows = session.execute(
        select(Task.id, Task.name, Task.assigned_at, Task.assigned_by_id, Task.owner_id, Task.team_id)
        .where(Task.assigned_at.is_not(None), Task.signed_at.is_(None), Task.status == STATUS_ACTIVE,
               Task.assigned_at >= now - timedelta(days=UNSIGNED_LOOKBACK_DAYS))
    ).all()
    out: list[Due] = []
    for task_id, name, assigned_at, by_id, owner_id, team_id in rows:
        assigned_at = assigned_at.astimezone(OFFICE_TZ)
        limit_day = calendar.add_workdays(assigned_at.date(), SIGN_WITHIN_WORKDAYS)
        moment = at(limit_day, assigned_at.time())
        if moment > now:
            continue
        owner = people.people.get(owner_id) if owner_id else None
        team = people.team_names.get(team_id, "")
        text = (f"⏳ 未签收:交办超过{SIGN_WITHIN_WORKDAYS}个工作日还没有签收\n📌 {name}"
                + (f"({team})" if team else "")
                + f"\n责任人:{owner.name if owner else '未指定'}"
                + f"\n交办:{assigned_at.month}月{assigned_at.day}日 {assigned_at:%H:%M}\n请督促签收。")
        targets = []
        for person_id in (by_id, people.team_leads.get(team_id) if team_id else None):
            if person_id is not None and person_id in people.people and person_id not in targets:
                targets.append(person_id)
        for person_id in targets:
            out.append(Due(f"us:{task_id}:{person_id}", OutboxKind.UNSIGNED, person_id, moment, text, task_id,
                           [push_action(PushAction.TASK, task_id)]))
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
    return [Due(f"wb:{p.id}:{year}-W{week:02d}", "brief", p.id, moment, actions=[PushAction.DASHBOARD.value])
            for p in people.people.values() if p.role == ROLE_LEADER]
