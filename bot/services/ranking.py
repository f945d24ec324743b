"""考核 and 排名 of the 专班: per-team figures computed in SQL (GROUP BY team), scored by the
rule and weights in config (``ranking:``), also written in the README.

Per team (tasks with no team are not ranked):
  tasks      all its tasks
  due        tasks closed, plus open tasks past their (original) deadline
  on_time    tasks closed on or before their original deadline (原时限 when it moved)
  overdue    open tasks past their deadline
  red        open tasks red today (overdue or ≥ behind_red_pp behind 序时进度)
  unsigned   交办 tasks not signed (signed_at empty, assigned_at set)
  gap_days   average days between reports over the last 30 days: 30 × open tasks ÷ reports
  urges      催办 received (sum of urge_count)
Score = 100 + on-time rate × on_time_weight − overdue × overdue_penalty
        − (red − overdue) × red_penalty − unsigned × unsigned_penalty − urges × urge_penalty
        − max(0, gap_days − report_gap_days) × report_gap_penalty
A team with nothing due counts as 100% on time; a team with no report in 30 days counts as a
30-day gap. Ties: more tasks first, then the team's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from bot.clock import OFFICE_TZ
from bot.config import RankingConfig
from bot.models import STATUS_ACTIVE, STATUS_DONE, Task, TaskUpdate, Team
from bot.services.cache import list_cache, tasks_version
from bot.services.lights import light_filter

GAP_WINDOW_DAYS = 30


@dataclass
class TeamScore:
    team_id: int
    name: str
    tasks: int
    due: int
    on_time: int
    overdue: int
    red: int
    unsigned: int
    gap_days: Optional[float]
    urges: int
    score: float = 0.0
    rank: int = 0

    @property
    def on_time_rate(self) -> Optional[float]:
        return self.on_time / self.due if self.due else None

    def line(self, mark: bool = False) -> str:
        rate = f"{self.on_time_rate * 100:.0f}%" if self.on_time_rate is not None else "—"
        gap = f"{self.gap_days:.0f}天" if self.gap_days is not None else "无报送"
        head = ("👉" if mark else "") + f"{self.rank}. {self.name} {self.score:.1f}分"
        return (f"{head}\n   {self.tasks}项 按期{rate} 逾期{self.overdue} 红灯{self.red} "
                f"未签收{self.unsigned} 报送间隔{gap} 催办{self.urges}")


def _closed_day(session: Session):
    """The office-time day a closed task's last report was made, as SQL (on-time check)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", Task.last_update_at))
    return func.date(Task.last_update_at, "+8 hours")


def compute(session: Session, now: datetime, rules: RankingConfig) -> list[TeamScore]:
    """Every team's figures and score, best first. Kept in the app's list cache until a task
    changes (every input moves tasks_version: updates, 催办, 签收, deadlines) or the day does."""
    key = ("ranking", tasks_version(session), now.astimezone(OFFICE_TZ).date(), rules.model_dump_json())
    return list(list_cache(session).derived(key, lambda: compute_fresh(session, now, rules)))


def compute_fresh(session: Session, now: datetime, rules: RankingConfig) -> list[TeamScore]:
    today = now.astimezone(OFFICE_TZ).date()
    active = Task.status == STATUS_ACTIVE
    done = Task.status == STATUS_DONE
    limit = func.coalesce(Task.original_deadline, Task.deadline)
    on_time = and_(done, or_(limit.is_(None), _closed_day(session) <= limit))
    overdue = and_(active, Task.deadline < today)

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    since = now - timedelta(days=GAP_WINDOW_DAYS)
    reports = dict(session.execute(
        select(Task.team_id, func.count()).select_from(TaskUpdate).join(Task, Task.id == TaskUpdate.task_id)
        .where(TaskUpdate.created_at >= since, Task.team_id.is_not(None))
        .group_by(Task.team_id)).all())
    rows = session.execute(
        select(Task.team_id, Team.name, func.count(),
               count(or_(done, and_(active, limit < today))),
               count(on_time), count(overdue), count(light_filter("red", today)),
               count(and_(active, Task.signed_at.is_(None), Task.assigned_at.is_not(None))),
               count(active), cast(func.coalesce(func.sum(Task.urge_count), 0), Integer))
        .join(Team, Team.id == Task.team_id)
        .group_by(Task.team_id, Team.name)
    ).all()
    scores = []
    for team_id, name, tasks, due, timely, late, red, unsigned, open_, urges in rows:
        n_reports = reports.get(team_id, 0)
        gap = GAP_WINDOW_DAYS * open_ / n_reports if n_reports else None
        score = TeamScore(team_id, name, tasks, int(due or 0), int(timely or 0), int(late or 0),
                          int(red or 0), int(unsigned or 0), gap, int(urges or 0))
        score.score = _score(score, rules, open_)
        scores.append(score)
    scores.sort(key=lambda s: (-s.score, -s.tasks, s.name))
    for index, score in enumerate(scores, start=1):
        score.rank = index
    return scores


def _score(team: TeamScore, rules: RankingConfig, open_tasks: int) -> float:
    # nothing due yet earns no on-time points: a team must not rank first by saying nothing
    rate = team.on_time_rate if team.on_time_rate is not None else 0.0
    gap = team.gap_days if team.gap_days is not None else (GAP_WINDOW_DAYS if open_tasks else 0.0)
    value = (100 + rate * rules.on_time_weight
             - team.overdue * rules.overdue_penalty
             - max(0, team.red - team.overdue) * rules.red_penalty
             - team.unsigned * rules.unsigned_penalty
             - team.urges * rules.urge_penalty
             - max(0.0, gap - rules.report_gap_days) * rules.report_gap_penalty)
    return round(value, 1)


def ranking_text(scores: list[TeamScore], today: date, rules: RankingConfig,
                 mine: Optional[int] = None) -> str:
    """The table for chat: one team per two short lines; ``mine`` (a team id) is marked 👉."""
    if not scores:
        return "还没有可排名的专班(事项都没有分配专班)。"
    lines = [f"🏆 专班考核排名({today.month}月{today.day}日,共{len(scores)}个专班)"]
    lines += [score.line(mark=score.team_id == mine) for score in scores]
    lines.append(rule_text(rules))
    return "\n".join(lines)


def rule_text(rules: RankingConfig) -> str:
    return (f"得分=100+按期办结率×{rules.on_time_weight:g}−逾期×{rules.overdue_penalty:g}"
            f"−红灯×{rules.red_penalty:g}−未签收×{rules.unsigned_penalty:g}−催办×{rules.urge_penalty:g}"
            f"−报送间隔超{rules.report_gap_days:g}天每天×{rules.report_gap_penalty:g}")
