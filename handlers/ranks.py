"""/rank (排名, 考核, 专班排名): the 专班 ranking; a team lead's own row is marked 👉."""
from __future__ import annotations

from bot.messages import Reply
from bot.models import ROLE_TEAM_LEAD
from bot.services import ranking
from handlers.context import Ctx


def cmd_rank(ctx: Ctx, args: str) -> Reply:
    """/rank — 专班考核排名(领导、专班负责人)"""
    rules = ctx.app.config.ranking
    scores = ranking.compute(ctx.session, ctx.now, rules)
    mine = ctx.person.team_id if ctx.person.role == ROLE_TEAM_LEAD else None
    return Reply(ranking.ranking_text(scores, ctx.now.date(), rules, mine))
