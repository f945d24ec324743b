"""/rank (排名, 考核, 专班排名): the 专班 ranking; a team lead's own row is marked 👉.
Also the ranking asked in words: only 项目专班 or 招商专班, and "我们排第几"."""
from __future__ import annotations

from typing import Optional

from bot.messages import Reply
from bot.models import ROLE_TEAM_LEAD
from bot.services import ranking
from handlers.context import Ctx


def cmd_rank(ctx: Ctx, args: str) -> Reply:
    """/rank — 专班考核排名(领导、专班负责人)"""
    return ranking_reply(ctx)


def ranking_reply(ctx: Ctx, kind: Optional[str] = None, position: bool = False) -> Reply:
    """The table; ``kind`` (项目专班 / 招商专班) keeps only those teams (their overall rank kept);
    ``position``: the person's team's place first."""
    rules = ctx.app.config.ranking
    scores = ranking.compute(ctx.session, ctx.now, rules)
    mine = ctx.person.team_id if ctx.person.role == ROLE_TEAM_LEAD else None
    shown = [s for s in scores if s.name.startswith(kind.removesuffix("专班"))] if kind else scores
    text = ranking.ranking_text(shown, ctx.now.date(), rules, mine)
    if kind and shown:
        text = text.replace(f"共{len(shown)}个专班", f"{kind}{len(shown)}个,共{len(scores)}个专班", 1)
    own = next((s for s in scores if s.team_id == ctx.person.team_id), None)
    if position and own is not None:
        text = f"{own.name}排第{own.rank}名(共{len(scores)}个专班),{own.score:.1f}分。\n" + text
    return Reply(text)
