"""Buttons in one typed place: callback codes, push actions and their Chinese labels.

A button's data is signed (``Duban.sign``): ``code|arg|arg|@stamp~sig``, the stamp saying
when and for whom it was issued (see ``bot.app``). ``Cb`` names the codes the
handlers answer (``handlers.registry.CALLBACKS``). Pushes written by the reminder jobs carry
``PushAction`` strings in their payload; ``push_buttons`` turns them into buttons when the
outbox sends them, so a reminder and a chat reply build the same button the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Optional

from bot.messages import Button


class Cb(StrEnum):
    """The first part of signed button data: which handler answers the press."""

    TASK = "t"            # open a task card: task id
    INDICATOR = "i"       # answer an indicator: indicator id
    SOURCE = "src"        # an indicator's source sentence
    LIST = "l"            # a list page: filter, arg, page
    KPI = "k"             # a KPI category
    UPDATE = "u"          # start reporting progress on a task: task id
    GUIDED = "g"          # guided update steps: dialogue id, action, arg
    CONFIRM = "c"         # confirm a lower progress
    REMIND = "rm"         # reminder settings: off for a week / on
    SNOOZE = "sz"         # snooze a pushed reminder: outbox id, 1h | am
    EXTEND = "ex"         # ask for an extension: task id, milestone id (0 = the task)
    DECIDE = "ea"         # decide an extension request: request id, y | n
    DASHBOARD = "db"      # a personal 驾驶舱 login link (under the weekly brief)
    PROPOSE = "pp"        # a proposed update in words: dialogue id, ok | edit | no | pick, task id
    DROP = "dd"           # a command typed inside a dialogue: dialogue id, y (drop the draft) | n
    REVIEW = "rv"         # 办结审核: task id, y (通过) | n (退回: asks the reason)
    SIGN = "sg"           # 签收 a task assigned to me: task id
    ASSIGN = "as"         # confirm or cancel a pending 交办 / 分解: dialogue id, y | n | origin word
    URGE = "ug"           # 催办 a task: task id
    TIMELINE = "tl"       # a task's timeline page: task id, page
    INSTRUCT = "is"       # write a 批示 on a task (one-step dialogue): task id
    FEEDBACK = "fb"       # answer a 批示 with a 反馈 (one-step dialogue): task id
    ACT = "ac"            # confirm an instruction in words (催办/批示/审核/交办): dialogue id, y | n


#: what to send instead of an expired button, per code ("按钮已过期,请发 … 重新操作。")
EXPIRED_HINTS: dict[str, str] = {
    Cb.TASK: "/task 名称",
    Cb.INDICATOR: "/q 指标名称",
    Cb.SOURCE: "/q 指标名称",
    Cb.LIST: "/tasks",
    Cb.KPI: "/kpi",
    Cb.UPDATE: "报进展",
    Cb.GUIDED: "报进展",
    Cb.CONFIRM: "/update 事项 进度",
    Cb.REMIND: "/remind",
    Cb.SNOOZE: "/snooze",
    Cb.EXTEND: "/extend 事项名",
    Cb.DECIDE: "/approve 编号 或 /refuse 编号",
    Cb.PROPOSE: "/update 事项 进度",
    Cb.DROP: "/cancel",
    Cb.REVIEW: "/approve_done 事项 或 /return 事项 理由",
    Cb.SIGN: "/sign 事项",
    Cb.ASSIGN: "交办",
    Cb.URGE: "/urge 事项",
    Cb.TIMELINE: "/timeline 事项",
    Cb.INSTRUCT: "/instruct 事项 内容",
    Cb.FEEDBACK: "/feedback 事项 内容",
    Cb.DASHBOARD: "驾驶舱",
    Cb.ACT: "/urge、/instruct、/approve_done、/return 或 /assign",
}


class PushAction(StrEnum):
    """Buttons a pushed reminder offers, stored as ``action[:arg[:arg]]`` in its payload."""

    UPDATE = "update"
    EXTEND = "extend"     # extend:<task>:<milestone or 0>
    TASK = "task"         # task:<task>
    SNOOZE = "snooze"
    APPROVE = "approve"   # approve:<request>
    REFUSE = "refuse"     # refuse:<request>
    PASS = "pass"         # pass:<task> — 审核通过
    RETURN = "return"     # return:<task> — 退回 (asks the reason)
    SIGN = "sign"         # sign:<task>
    FEEDBACK = "feedback"  # feedback:<task>
    TIMELINE = "timeline"  # timeline:<task>
    DASHBOARD = "dashboard"  # a personal 驾驶舱 login link


LABELS: dict[str, str] = {
    PushAction.UPDATE: "报进展",
    PushAction.EXTEND: "申请延期",
    PushAction.TASK: "看事项",
    PushAction.APPROVE: "同意延期",
    PushAction.REFUSE: "不同意",
    PushAction.PASS: "通过",
    PushAction.RETURN: "退回",
    PushAction.SIGN: "签收",
    PushAction.FEEDBACK: "反馈",
    PushAction.TIMELINE: "时间轴",
    PushAction.DASHBOARD: "打开驾驶舱",
}
SNOOZE_LABELS = {"1h": "1小时后提醒", "am": "明早提醒"}


def push_action(action: PushAction, *args: object) -> str:
    """The payload string of one push action, e.g. ``push_action(PushAction.EXTEND, 7, 0)``."""
    return ":".join([action.value, *(str(a) for a in args)])


Signer = Callable[..., str]


def push_buttons(actions: Sequence[str], sign: Signer, task_id: Optional[int],
                 outbox_id: int) -> list[list[Button]]:
    """The buttons of a pushed message, two per row."""
    row: list[Button] = []
    for action in actions:
        name, _, arg = action.partition(":")
        if name == PushAction.UPDATE and task_id:
            row.append(Button(LABELS[PushAction.UPDATE], sign(Cb.UPDATE, task_id)))
        elif name == PushAction.EXTEND:
            task, _, milestone = arg.partition(":")
            row.append(Button(LABELS[PushAction.EXTEND], sign(Cb.EXTEND, task, milestone or 0)))
        elif name == PushAction.TASK:
            row.append(Button(LABELS[PushAction.TASK], sign(Cb.TASK, arg)))
        elif name == PushAction.SNOOZE:
            row.extend(Button(label, sign(Cb.SNOOZE, outbox_id, code)) for code, label in SNOOZE_LABELS.items())
        elif name == PushAction.APPROVE:
            row.append(Button(LABELS[PushAction.APPROVE], sign(Cb.DECIDE, arg, "y")))
        elif name == PushAction.REFUSE:
            row.append(Button(LABELS[PushAction.REFUSE], sign(Cb.DECIDE, arg, "n")))
        elif name == PushAction.PASS:
            row.append(Button(LABELS[PushAction.PASS], sign(Cb.REVIEW, arg, "y")))
        elif name == PushAction.RETURN:
            row.append(Button(LABELS[PushAction.RETURN], sign(Cb.REVIEW, arg, "n")))
        elif name == PushAction.SIGN:
            row.append(Button(LABELS[PushAction.SIGN], sign(Cb.SIGN, arg)))
        elif name == PushAction.FEEDBACK:
            row.append(Button(LABELS[PushAction.FEEDBACK], sign(Cb.FEEDBACK, arg)))
        elif name == PushAction.TIMELINE:
            row.append(Button(LABELS[PushAction.TIMELINE], sign(Cb.TIMELINE, arg, 1)))
        elif name == PushAction.DASHBOARD:
            row.append(Button(LABELS[PushAction.DASHBOARD], sign(Cb.DASHBOARD)))
    return [row[i:i + 2] for i in range(0, len(row), 2)]
