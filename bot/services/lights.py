"""Traffic lights (红黄绿) of tasks, in Python for one task and in SQL for lists.

Lights (红黄绿), with thresholds from config.yaml (``lights:``):
  red     overdue (past its deadline and not done), or behind 序时进度 by >= behind_red_pp
  yellow  behind by >= behind_yellow_pp, due within due_soon_days, or no report for stale_days
  green   on track
  grey    no progress reported yet and nothing else to flag
  done / paused
A task never reported counts as 0% against 序时进度: silence is never greener than an honest
low report (a never-reported task behind by 30 points is as red as one reported 30 behind).
序时进度 of a task is the elapsed share of its own start-to-deadline span. Because that grows
linearly, the day a task turns yellow or red can be computed when it changes; these days are
stored (``behind_yellow_on`` ...), so lights and lists are indexed comparisons with today.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Optional

from sqlalchemy import ColumnElement, and_, case, or_

from bot.config import LightsConfig
from bot.models import (
    STATUS_ACTIVE,
    STATUS_DONE,
    STATUS_PAUSED,
    Task,
)

RED, YELLOW, GREEN, GREY, DONE, PAUSED = "red", "yellow", "green", "grey", "done", "paused"
LIGHT_ICONS = {RED: "🔴", YELLOW: "🟡", GREEN: "🟢", GREY: "⚪", DONE: "✅", PAUSED: "⏸"}
LIGHT_NAMES = {RED: "红灯", YELLOW: "黄灯", GREEN: "绿灯", GREY: "未报", DONE: "已完成", PAUSED: "暂停"}
#: bumped when the rules themselves change (not only the thresholds): databases are relit once
RULES_VERSION = 2
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
    """First day on which 序时进度 minus progress reaches ``gap_pp`` points (never reported
    counts as 0%)."""
    if task.start_date is None or task.deadline is None:
        return None
    progress = task.progress or 0.0
    if task.deadline <= task.start_date or progress + gap_pp > 100:
        return None
    span = (task.deadline - task.start_date).days
    return task.start_date + timedelta(days=math.ceil((progress + gap_pp) * span / 100.0))


def refresh_light_dates(task: Task, rules: LightsConfig) -> None:
    """Recompute the stored days on which the task's light changes."""
    task.behind_yellow_on = _behind_on(task, rules.behind_yellow_pp)
    task.behind_red_on = _behind_on(task, rules.behind_red_pp)
    task.due_soon_on = task.deadline - timedelta(days=rules.due_soon_days) if task.deadline else None
    task.stale_on = task.last_activity_at.date() + timedelta(days=rules.stale_days)


def _red(today: date) -> ColumnElement[bool]:
    return or_(Task.deadline < today, Task.behind_red_on <= today)


def _not_red(today: date) -> ColumnElement[bool]:
    """NOT red, written so a NULL date counts as "not reached" (``~_red`` would be NULL there
    and drop the row from a filter)."""
    return and_(or_(Task.deadline.is_(None), Task.deadline >= today),
                or_(Task.behind_red_on.is_(None), Task.behind_red_on > today))


def _yellow(today: date) -> ColumnElement[bool]:
    return or_(Task.behind_yellow_on <= today, Task.due_soon_on <= today, Task.stale_on <= today)


def _light_case(today: date, value_of: Mapping[str, object]) -> ColumnElement:
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
        return and_(active, _not_red(today), _yellow(today))
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
    if expected is not None and expected - (task.progress or 0.0) >= 0.05:
        behind = expected - (task.progress or 0.0)
        if (task.behind_yellow_on and task.behind_yellow_on <= today) or color == RED:
            never = "未报进度," if task.progress is None else ""
            reasons.append(f"{never}慢于序时进度{behind:.0f}个百分点")
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
