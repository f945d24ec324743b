"""The one registration point for commands, button actions and attachments.

Each ``Command`` declares its help line, its usage, the Chinese words that also start it,
and the ``Action`` it needs (``bot.permissions``): dispatch checks that once, before the
command runs, so no command checks roles itself. /help and a channel's command menu are
built from this table.

Order of handling (see ``handlers.core.route``), and why:
1. duplicates (same message_ref) are dropped first, so a redelivered update does nothing;
2. in groups, only commands and mentions, and only in groups bound to a team;
3. unknown users may only run commands whose action is ANYONE (/start, /help);
4. button presses, checked against their signature before anything else is read;
5. a dialogue in progress takes plain text (``handlers.dialogues``); a command ends it;
6. commands, by /name or by their Chinese word at the start of the message;
7. an attachment with a handler in ATTACHMENTS (an .xlsx ledger from an admin) goes there;
8. anything else is a question: an indicator or a task by name.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.buttons import Cb
from bot.messages import Reply
from bot.permissions import Action, allowed
from handlers import acts as ac
from handlers import commands as c
from handlers import cycle as cy
from handlers import dashboard as dsh
from handlers import flows as f
from handlers import ledgers as lg
from handlers import proposals as pp
from handlers import ranks as rk
from handlers import reminders as r
from handlers import reviews as rv
from handlers.context import Ctx


@dataclass(frozen=True)
class Command:
    name: str
    func: Callable
    help: str
    usage: str = ""
    words: tuple[str, ...] = ()
    action: Action = Action.READ
    #: hidden from /help and the command menu (still works)
    hidden: bool = False

    def help_line(self) -> str:
        return f"{self.usage or '/' + self.name} — {self.help}"


def cmd_help(ctx: Ctx, args: str) -> Reply:
    """The commands this person may use (by role), each with its usage and Chinese word."""
    lines = ["督办助手用法:"]
    for entry in COMMANDS.values():
        if entry.hidden or not allowed(ctx.person, entry.action):
            continue
        if ctx.person is not None and entry.action is Action.ANYONE and entry.name != "help":
            continue  # /start is for people not bound yet
        words = f"(也可说“{entry.words[0]}”)" if entry.words else ""
        lines.append(f"{entry.help_line()}{words}")
    lines.append("直接发名称也行:财政收入多少、社零、纳图电气进展")
    return Reply("\n".join(lines))


_COMMAND_LIST = [
    Command("start", c.cmd_start, "绑定身份(管理员给的邀请码)", "/start 邀请码", ("绑定",), Action.ANYONE),
    Command("help", cmd_help, "看全部用法", "/help", ("帮助", "用法"), Action.ANYONE),
    Command("q", c.cmd_query, "查指标或事项,如 /q 财政收入", "/q 名称", ("查询", "查")),
    Command("kpi", c.cmd_kpi, "指标一览,如 /kpi 经济运行", "/kpi [类别]", ("指标",)),
    Command("tasks", c.cmd_tasks, "事项清单,最急的在前", "/tasks [mine|overdue|red|week|专班]",
            ("任务", "事项", "清单")),
    Command("task", c.cmd_task, "事项卡片:责任人、时间节点、进度、红黄绿灯", "/task 名称", ("事项卡",)),
    Command("update", c.cmd_update, "报进展;只发“报进展”则一步步引导", "/update 事项 65% 进展说明",
            ("报进展", "报进度", "进展", "更新"), Action.REPORT),
    Command("due", c.cmd_due, "N天内到期的事项(默认7天)", "/due [天数]", ("临期", "到期")),
    Command("export", lg.cmd_export, "导出 Excel 台账(事项和指标)", "/export [mine|red|专班]",
            ("导出台账", "导出", "台账")),
    Command("chart", lg.cmd_chart, "指标趋势图,如 /chart 规上工业总产值", "/chart 指标", ("趋势", "趋势图")),
    Command("brief", lg.cmd_brief, "督办周报:各专班红黄绿、本周转红、下周到期、指标更新", "/brief", ("周报",)),
    Command("dashboard", dsh.cmd_dashboard, "督办驾驶舱:手机上看红黄绿矩阵、逾期、排名、指标(个人登录链接)",
            "/dashboard", ("驾驶舱", "大屏", "看板")),
    Command("screen", dsh.cmd_screen, "会议室大屏链接(管理员):new 生成,revoke 撤销", "/screen [new 名称|revoke 编号]",
            ("大屏链接",), Action.ADMIN),
    Command("cancel", c.cmd_cancel, "取消正在进行的操作", "/cancel", ("取消",), hidden=True),
    Command("whoami", c.cmd_whoami, "我的身份和专班", "/whoami", ("我是谁",)),
    Command("remind", r.cmd_remind, "看和改我的提醒设置(时间、免打扰、关闭一周)", "/remind", ("提醒设置",)),
    Command("extend", r.cmd_extend, "申请延期(写新日期和理由,专班负责人审批)", "/extend 事项名",
            ("申请延期", "延期"), Action.REPORT),
    Command("approve", r.cmd_approve, "同意延期申请(专班负责人)", "/approve 编号", ("同意延期", "批准延期"),
            Action.DECIDE_EXTENSION),
    Command("refuse", r.cmd_refuse, "不同意延期申请(专班负责人)", "/refuse 编号 [说明]",
            ("不同意延期", "驳回延期"), Action.DECIDE_EXTENSION),
    Command("approve_done", rv.cmd_approve_done, "审核通过,事项销号(专班负责人、领导)", "/approve_done 事项",
            ("通过", "审核通过"), Action.REVIEW),
    Command("return", rv.cmd_return, "退回,写明理由(专班负责人、领导)", "/return 事项 理由", ("退回",),
            Action.REVIEW),
    Command("rank", rk.cmd_rank, "专班考核排名:按期办结率、逾期、红灯、未签收、报送间隔、催办", "/rank",
            ("排名", "考核", "专班排名"), Action.RANK),
    Command("assign", cy.cmd_assign, "交办新事项(领导、管理员);只发“交办”则一步步填写",
            "/assign 名称 专班 [责任人] 时间节点 [来源]", ("交办", "立项"), Action.ASSIGN),
    Command("split", cy.cmd_split, "分解交办给几个专班,各有日期和责任人", "/split 事项 专班:日期[:责任人] ...",
            ("分解交办", "分解"), Action.ASSIGN),
    Command("sign", cy.cmd_sign, "签收交办给我的事项", "/sign 事项", ("签收",), Action.REPORT),
    Command("set", cy.cmd_set, "修改台账:责任人、专班、时间节点、来源(专班负责人、管理员)",
            "/set 事项 责任人|专班|截止|来源 新值", ("修改台账", "修改"), Action.EDIT),
    Command("node", cy.cmd_node, "节点:添加、改名、改期、完成(专班负责人、管理员)",
            "/node 事项 add|rename|date|done 节点 [日期]", ("节点",), Action.EDIT),
    Command("instruct", ac.cmd_instruct, "领导批示,推送给责任人并跟踪反馈", "/instruct 事项 内容", ("批示",),
            Action.INSTRUCT),
    Command("feedback", cy.cmd_feedback, "反馈领导批示的办理情况", "/feedback 事项 内容", ("反馈",), Action.REPORT),
    Command("urge", cy.cmd_urge, "催办责任人(专班负责人、领导)", "/urge 事项 [要说的话]", ("催办",), Action.URGE),
    Command("timeline", cy.cmd_timeline, "事项时间轴:交办、签收、进展、批示、催办……", "/timeline 事项",
            ("时间轴",)),
    Command("snooze", r.cmd_snooze, "最近一条提醒稍后再提醒", "/snooze [1小时|明早]", ("稍后提醒",)),
    Command("invite", c.cmd_invite, "给某人生成邀请码(管理员)", "/invite 姓名", ("邀请",), Action.ADMIN),
    Command("adduser", c.cmd_adduser, "新增人员并生成邀请码(管理员)", "/adduser 姓名 角色 [专班]", ("新增人员",),
            Action.ADMIN),
    Command("role", c.cmd_role, "调整角色或专班(管理员)", "/role 姓名 角色 [专班]", ("调整角色",), Action.ADMIN),
    Command("bindgroup", c.cmd_bindgroup, "把本群绑定到专班(管理员,在群里发)", "/bindgroup 专班", ("绑定群",),
            Action.ADMIN),
]

COMMANDS: dict[str, Command] = {cmd.name: cmd for cmd in _COMMAND_LIST}
WORDS: dict[str, str] = {word: cmd.name for cmd in _COMMAND_LIST for word in cmd.words}
#: commands that work in a group not yet bound to a team
GROUP_UNBOUND_COMMANDS = {"bindgroup", "help"}

# Attachments by kind (Attachment.kind), when the message is not a command and no dialogue
# took it: documents are ledgers to import (admins only; photos belong to 报进展).
ATTACHMENTS: dict[str, tuple[Callable, Action]] = {
    "document": (lg.on_document, Action.ADMIN),
}

# Button actions: the first part of the signed button data, and the action each needs.
CALLBACKS: dict[str, tuple[Callable, Action]] = {
    Cb.TASK: (c.cb_task, Action.READ),
    Cb.INDICATOR: (c.cb_indicator, Action.READ),
    Cb.SOURCE: (c.cb_source, Action.READ),
    Cb.LIST: (c.cb_list, Action.READ),
    Cb.KPI: (c.cb_kpi, Action.READ),
    Cb.UPDATE: (f.cb_update, Action.REPORT),
    Cb.GUIDED: (f.cb_guided, Action.REPORT),
    Cb.CONFIRM: (f.cb_confirm, Action.REPORT),
    Cb.REMIND: (r.cb_remind, Action.READ),
    Cb.SNOOZE: (r.cb_snooze, Action.READ),
    Cb.EXTEND: (r.cb_extend, Action.REPORT),
    Cb.DECIDE: (r.cb_decide, Action.DECIDE_EXTENSION),
    Cb.DASHBOARD: (dsh.cb_dashboard, Action.READ),
    Cb.PROPOSE: (pp.cb_propose, Action.REPORT),
    Cb.REVIEW: (rv.cb_review, Action.REVIEW),
    Cb.SIGN: (cy.cb_sign, Action.REPORT),
    Cb.ASSIGN: (cy.cb_assign, Action.ASSIGN),
    Cb.URGE: (cy.cb_urge, Action.URGE),
    Cb.TIMELINE: (cy.cb_timeline, Action.READ),
    Cb.INSTRUCT: (cy.cb_instruct, Action.INSTRUCT),
    Cb.FEEDBACK: (cy.cb_feedback, Action.REPORT),
    Cb.ACT: (ac.cb_act, Action.READ),  # each act checks its own action (handlers.acts.ACTIONS)
}


def bot_commands() -> list[tuple[str, str]]:
    """(name, description) for a channel's command menu (Telegram setMyCommands); admin
    commands are left out."""
    return [(cmd.name, cmd.help[:256]) for cmd in _COMMAND_LIST
            if not cmd.hidden and cmd.action is not Action.ADMIN]
