"""The text of a team lead's digest and the weekly brief a push carries."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.clock import OFFICE_TZ
from bot.config import Config, RemindersConfig
from bot.models import (
    STATUS_ACTIVE,
    ReviewStatus,
    Task,
    Team,
)
from bot.services import reports
from bot.services.lights import LIGHT_ICONS, RED, YELLOW, light_rank_sql, light_sql
from bot.services.pending_instructions import open_by_team
from bot.services.reminder_rules import ROBOT_DIGEST, Due
from bot.services.text import clip

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- digest and brief content

def digest_texts(session: Session, now: datetime, team_ids: Iterable[int],
                 due_days: int = 7) -> dict[int, str]:
    """Team leads' digests (one query for all the teams): tasks waiting for their review
    (待审核), then overdue, red, yellow and due-soon items, most urgent first. Teams with
    nothing to say are left out."""
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
        assert team_id is not None  # in_(team_ids) matches no NULL
        by_team.setdefault(team_id, []).append((name, deadline, color))
    reviews: dict[int, list[str]] = {}
    for team_id, name in session.execute(
            select(Task.team_id, Task.name)
            .where(Task.team_id.in_(team_ids), Task.review_status == ReviewStatus.PENDING)
            .order_by(Task.team_id, Task.id)):
        assert team_id is not None  # in_(team_ids) matches no NULL
        reviews.setdefault(team_id, []).append(name)
    pending = open_by_team(session, team_ids)
    problems = _recent_problems(session, now, team_ids)
    wanted = set(by_team) | set(pending) | set(problems) | set(reviews)
    names = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(list(wanted)))).all())
    out = {}
    for team_id in sorted(wanted):
        body = _digest_body(names.get(team_id, ""), by_team.get(team_id, []), today, due_days,
                            reviews.get(team_id, []))
        out[team_id] = body + _cycle_part(pending.get(team_id, []), problems.get(team_id, []))
    return out


PROBLEM_DAYS = 7  # 存在问题 reported within this many days appear in the digest


def _recent_problems(session: Session, now: datetime, team_ids: list[int]) -> dict[int, list]:
    """Active tasks whose latest 存在问题/下步计划 came with an update in the past week."""
    since = now - timedelta(days=PROBLEM_DAYS)
    out: dict[int, list] = {}
    for team_id, name, problems, steps in session.execute(
            select(Task.team_id, Task.name, Task.problems, Task.next_steps)
            .where(Task.team_id.in_(team_ids), Task.status == STATUS_ACTIVE,
                   or_(Task.problems.is_not(None), Task.next_steps.is_not(None)),
                   Task.last_update_at >= since)
            .order_by(Task.last_update_at.desc(), Task.id)):
        assert team_id is not None  # in_(team_ids) matches no NULL
        out.setdefault(team_id, []).append((name, problems, steps))
    return out


def _cycle_part(pending: list, problems: list) -> str:
    """Open 批示 (until answered) and recent 存在问题 / 下步计划 of a team's digest."""
    lines = []
    if pending:
        lines.append(f"📝 待反馈批示{len(pending)}条:")
        lines += [f"· {name}:{clip(text, 30)}({at.month}月{at.day}日)" for name, text, at in pending[:5]]
    if problems:
        lines.append("⚠️ 存在问题 / 下步计划:")
        for name, text, steps in problems[:5]:
            line = f"· {name}"
            if text:
                line += f" 问题:{clip(text, 30)}"
            if steps:
                line += f" 下步:{clip(steps, 30)}"
            lines.append(line)
    return ("\n" + "\n".join(lines)) if lines else ""


def digest_text(session: Session, now: datetime, team_id: int, due_days: int = 7) -> Optional[str]:
    """One team lead's digest; None when there is nothing to say."""
    return digest_texts(session, now, [team_id], due_days).get(team_id)


def _digest_body(team: str, rows: list, today: date, due_days: int,
                 pending: Sequence[str] = ()) -> str:
    soon = today + timedelta(days=due_days)
    overdue = sum(1 for _, d, _ in rows if d is not None and d < today)
    reds = sum(1 for _, _, c in rows if c == RED)
    yellows = sum(1 for _, _, c in rows if c == YELLOW)
    head = f"📋 {team}今日督办({today.month}月{today.day}日)"
    counts = f"逾期{overdue} · 红灯{reds} · 黄灯{yellows} · {due_days}天内到期" \
             f"{sum(1 for _, d, _ in rows if d is not None and today <= d <= soon)}"
    lines = [head, counts]
    if pending:
        shown = "、".join(pending[:5]) + (f"等{len(pending)}项" if len(pending) > 5 else "")
        lines.append(f"待审核{len(pending)}项:{shown}(发“通过 事项名”或“退回 事项名 理由”)")
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
