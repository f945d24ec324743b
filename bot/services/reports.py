"""The weekly leader brief (督办周报): what a leader reads at a glance on Monday morning.

``weekly_brief(session, now, config)`` is a pure data function (the reminders' weekly job,
``jobs/outbox.py``, and /brief both call it; the job renders the picture at send time):
lights by team, tasks that turned red during the past week, tasks due in the week ahead,
indicators updated during the past week, and the top and bottom of the 专班 ranking
(bot.services.ranking). ``.as_text()`` is a short markdown-ish card for WeCom and the
console; ``bot.services.charts.render_brief`` draws it.

"Turned red this week": a task red today whose red started within the past 7 days. A task
turns red the day after its deadline, or on its stored ``behind_red_on`` day (the day its
progress falls 30 points behind 序时进度); both are kept up to date on every report, so the
earlier of the two is the day its current red began.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.config import Config
from bot.models import STATUS_ACTIVE, Indicator, IndicatorValue, Task, Team
from bot.services import ranking
from bot.services.indicators import fmt_value
from bot.services.lights import (
    DONE,
    GREEN,
    GREY,
    LIGHT_NAMES,
    PAUSED,
    RED,
    YELLOW,
    light_sql,
)
from bot.services.pending_instructions import open_all
from bot.services.text import clip, fmt_signed

LIGHT_ORDER = (RED, YELLOW, GREEN, GREY, DONE, PAUSED)
LIST_LIMIT = 8


@dataclass
class TeamLights:
    name: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class TaskItem:
    name: str
    team: str
    owner: Optional[str]
    when: Optional[date]
    why: str = ""

    def line(self) -> str:
        who = f"{self.team}" + (f"·{self.owner}" if self.owner else "")
        when = f"{self.when:%m-%d}" if self.when else ""
        return clip(f"{when} {self.name}({who}){self.why}".strip(), 40)


@dataclass
class IndicatorItem:
    name: str
    value: str
    period: str
    yoy_pct: Optional[float]

    def line(self) -> str:
        yoy = f",同比{fmt_signed(self.yoy_pct)}" if self.yoy_pct is not None else ""
        return clip(f"{self.name} {self.value}{yoy}({self.period})", 40)


@dataclass
class WeeklyBrief:
    office: str
    start: date
    end: date
    due_from: date
    due_to: date
    teams: list[TeamLights] = field(default_factory=list)
    turned_red: list[TaskItem] = field(default_factory=list)
    due_next: list[TaskItem] = field(default_factory=list)
    indicators: list[IndicatorItem] = field(default_factory=list)
    #: the 专班 ranking (best first) and how many to name at each end
    ranking: list[ranking.TeamScore] = field(default_factory=list)
    ranking_top: int = 3
    #: 批示 not yet answered with a 反馈 (listed every week until answered)
    open_instructions: list[TaskItem] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for team in self.teams:
            for color, count in team.counts.items():
                out[color] = out.get(color, 0) + count
        return out

    @property
    def is_empty(self) -> bool:
        """Nothing to say: no tasks at all, nothing turned red or due, no indicator updated
        (the weekly reminder job then sends nothing)."""
        return not (self.teams or self.turned_red or self.due_next or self.indicators or self.open_instructions)

    @property
    def due_label(self) -> str:
        return f"下周到期 {self.due_from:%m-%d}~{self.due_to:%m-%d}"

    def light_names(self) -> list[tuple[str, str]]:
        return [(color, LIGHT_NAMES[color]) for color in LIGHT_ORDER]

    def as_text(self) -> str:
        """A short card: markdown-ish (bold titles) that WeCom renders and a console reads."""
        totals = self.totals
        lines = [f"📊 {self.office}督办周报({self.start:%m-%d}~{self.end:%m-%d})",
                 "全部事项:" + " ".join(f"{name}{totals[c]}" for c, name in self.light_names() if totals.get(c))]
        reds = [t for t in self.teams if t.counts.get(RED)]
        if reds:
            reds.sort(key=lambda t: -t.counts[RED])
            lines.append("红灯较多:" + "、".join(f"{t.name}{t.counts[RED]}" for t in reds[:5]))
        for title, items in ((f"本周转红({len(self.turned_red)})", self.turned_red),
                             (f"{self.due_label}({len(self.due_next)})", self.due_next),
                             (f"指标更新({len(self.indicators)})", self.indicators)):
            lines.append(f"【{title}】")
            if not items:
                lines.append("无")
                continue
            lines += [f"- {item.line()}" for item in items[:LIST_LIMIT]]
            if len(items) > LIST_LIMIT:
                lines.append(f"- ……等{len(items)}项")
        lines += self.ranking_lines()
        if self.open_instructions:
            lines.append(f"【待反馈批示({len(self.open_instructions)})】")
            lines += [f"- {item.line()}" for item in self.open_instructions[:LIST_LIMIT]]
            if len(self.open_instructions) > LIST_LIMIT:
                lines.append(f"- ……等{len(self.open_instructions)}项")
        return "\n".join(lines)

    def ranking_lines(self) -> list[str]:
        """The top and the bottom of the 专班 ranking (the whole table is /rank)."""
        n = self.ranking_top
        if not self.ranking or not n:
            return []
        def names(scores):
            return "、".join(f"{s.rank}.{s.name}{s.score:.1f}" for s in scores)
        lines = [f"【专班排名({len(self.ranking)}个)】", f"前{min(n, len(self.ranking))}:{names(self.ranking[:n])}"]
        bottom = [s for s in self.ranking[-n:] if s.rank > n]
        if bottom:
            lines.append(f"后{len(bottom)}:{names(bottom)}")
        return lines


def weekly_brief(session: Session, now: datetime, config: Config) -> WeeklyBrief:
    """The brief for the 7 days up to ``now`` and the 7 days after it."""
    today = now.date()
    start = today - timedelta(days=7)
    brief = WeeklyBrief(office=config.office, start=start, end=today,
                        due_from=today + timedelta(days=1), due_to=today + timedelta(days=7))
    light = light_sql(today)
    brief.ranking = ranking.compute(session, now, config.ranking)
    brief.ranking_top = config.ranking.brief_top

    teams = {team.id: team.name for team in session.scalars(select(Team).order_by(Team.id))}
    counts: dict[Optional[int], dict[str, int]] = {}
    for team_id, color, count in session.execute(
            select(Task.team_id, light, func.count()).group_by(Task.team_id, light)):
        counts.setdefault(team_id, {})[color] = count
    for team_id, name in teams.items():
        if team_id in counts:
            brief.teams.append(TeamLights(name, counts[team_id]))
    if None in counts:
        brief.teams.append(TeamLights("未分配", counts[None]))

    # red today, and its red began after the week's start
    candidates = session.scalars(
        select(Task).where(light == RED).options(selectinload(Task.team), selectinload(Task.owner))
        .order_by(Task.id))
    for task in candidates:
        since = []
        if task.deadline is not None and task.deadline < today:
            since.append(task.deadline + timedelta(days=1))
        if task.behind_red_on is not None and task.behind_red_on <= today:
            since.append(task.behind_red_on)
        began = min(since) if since else None
        if began is not None and start < began <= today:
            overdue = task.deadline is not None and task.deadline < today
            brief.turned_red.append(TaskItem(task.name, task.team.name if task.team else "未分配",
                                             task.owner.name if task.owner else None, began,
                                             ",逾期" if overdue else ",进度滞后"))

    for task in session.scalars(
            select(Task).where(Task.status == STATUS_ACTIVE, Task.deadline >= brief.due_from,
                               Task.deadline <= brief.due_to)
            .options(selectinload(Task.team), selectinload(Task.owner))
            .order_by(Task.deadline, Task.id)):
        progress = f",进度{task.progress:g}%" if task.progress is not None else ",未报进度"
        brief.due_next.append(TaskItem(task.name, task.team.name if task.team else "未分配",
                                       task.owner.name if task.owner else None, task.deadline, progress))

    since_at = now - timedelta(days=7)
    rows = session.execute(
        select(Indicator, IndicatorValue).join(IndicatorValue, IndicatorValue.indicator_id == Indicator.id)
        .where(IndicatorValue.recorded_at > since_at, IndicatorValue.recorded_at <= now)
        .order_by(Indicator.sort_order, Indicator.id, IndicatorValue.period_end.desc()))
    seen: set[int] = set()
    for indicator, value in rows:
        if indicator.id in seen:
            continue
        seen.add(indicator.id)
        brief.indicators.append(IndicatorItem(indicator.name, fmt_value(value.value, indicator.unit, value.qualifier),
                                              value.period_label, value.yoy_pct))
    for task_name, team, leader, text, at in open_all(session):
        brief.open_instructions.append(TaskItem(task_name, team, None, at.date(),
                                                f":{leader or ''}批示“{clip(text, 12)}”"))
    return brief
