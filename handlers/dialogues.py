"""Dialogues (guided steps) in one table: which function continues which dialogue.

A dialogue's state is a ``Conversation`` row (flow, step, data), so a restart loses nothing.
Each entry takes the plain text typed inside the dialogue and returns the reply, or None when
the text is not part of the dialogue (it is then answered as a fresh message). Cancel words
end any dialogue. ``choices`` is the numbered-choice state of channels without buttons.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from bot.messages import Reply
from bot.models import Conversation
from handlers import acts, cycle, flows, proposals, reminders, reviews
from handlers.context import Ctx

Step = Callable[[Ctx, Conversation, str], Optional[Reply]]

DIALOGUES: dict[str, Step] = {
    "guided": flows.continue_guided,      # 报进展: task → progress → note/photo → confirm
    "confirm": flows.continue_confirm,    # /update with a lower progress: 确定 or 取消
    "extend": reminders.continue_extend,  # 申请延期: task → new date → reason
    "propose": proposals.continue_propose,  # a report in words: 确定 / 改一下 / 取消
    reviews.FLOW: reviews.continue_return,   # [退回]: the reason
    # 交办: cycle.ASSIGN_STEPS (name → team → owner → deadline → 节点 → 来源) → 确定
    "assign": cycle.continue_assign,
    "instruct": cycle.continue_instruct,  # 批示: the text
    "feedback": cycle.continue_feedback,  # 反馈: the text
    acts.FLOW: acts.continue_act,         # 催办/批示/审核/交办 in words: 确定 (取消 as everywhere)
}

NAMES = {"guided": "进展填报", "confirm": "进展确认", "extend": "延期申请", "propose": "进展草稿",
         reviews.FLOW: "退回理由", "assign": "交办", "instruct": "批示", "feedback": "反馈",
         acts.FLOW: "待确认的操作"}


def describe(conv: Conversation) -> str:
    return NAMES.get(conv.flow, "操作")


def continue_dialogue(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """Handle a plain message inside a dialogue; None means it is not part of one."""
    step = DIALOGUES.get(conv.flow)
    if step is None:  # "choices" or a dialogue of an older version: forget it
        ctx.end_conversation()
        return None
    if text.lower() in flows.NO:
        ctx.end_conversation()
        return Reply(flows.CANCELLED)
    return step(ctx, conv, text)
