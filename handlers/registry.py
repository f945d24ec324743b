"""The one registration point for commands and button actions.

Order of handling (see handlers.core._route), and why:
1. duplicates (same message_ref) are dropped first, so a redelivered update does nothing;
2. in groups, only commands and mentions, and only in groups bound to a team;
3. unknown users may only /start (bind with an invite code) and /help;
4. button presses, checked against their signature before anything else is read;
5. a dialogue in progress takes plain text (a command ends the dialogue instead);
6. commands, by /name or by their Chinese word at the start of the message;
7. an attachment with a handler in ATTACHMENTS (an .xlsx ledger from an admin) goes there;
8. anything else is a question: an indicator or a task by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from handlers import commands as c
from handlers import flows as f
from handlers import ledgers as lg
from handlers import reminders as r


@dataclass(frozen=True)
class Command:
    name: str
    func: Callable
    words: tuple[str, ...] = ()
    admin_only: bool = False
    hidden: bool = False


_COMMAND_LIST = [
    Command("start", c.cmd_start, ("绑定",)),
    Command("help", c.cmd_help, ("帮助", "用法")),
    Command("q", c.cmd_query, ("查询", "查")),
    Command("kpi", c.cmd_kpi, ("指标",)),
    Command("tasks", c.cmd_tasks, ("任务", "事项", "清单")),
    Command("task", c.cmd_task, ("事项卡",)),
    Command("update", c.cmd_update, ("报进展", "进展", "更新")),
    Command("due", c.cmd_due, ("临期", "到期")),
    Command("export", lg.cmd_export, ("导出台账", "导出", "台账")),
    Command("chart", lg.cmd_chart, ("趋势", "趋势图")),
    Command("brief", lg.cmd_brief, ("周报",)),
    Command("cancel", c.cmd_cancel, ("取消",), hidden=True),
    Command("whoami", c.cmd_whoami, ("我是谁",)),
    Command("remind", r.cmd_remind, ("提醒设置",)),
    Command("extend", r.cmd_extend, ("申请延期", "延期")),
    Command("approve", r.cmd_approve, ("同意延期", "批准延期")),
    Command("refuse", r.cmd_refuse, ("不同意延期", "驳回延期")),
    Command("snooze", r.cmd_snooze, ("稍后提醒",)),
    Command("invite", c.cmd_invite, ("邀请",), admin_only=True),
    Command("adduser", c.cmd_adduser, ("新增人员",), admin_only=True),
    Command("role", c.cmd_role, ("调整角色",), admin_only=True),
    Command("bindgroup", c.cmd_bindgroup, ("绑定群",), admin_only=True),
]

COMMANDS: dict[str, Command] = {cmd.name: cmd for cmd in _COMMAND_LIST}
WORDS: dict[str, str] = {word: cmd.name for cmd in _COMMAND_LIST for word in cmd.words}
PUBLIC_COMMANDS = {"start", "help"}
GROUP_UNBOUND_COMMANDS = {"bindgroup", "help"}

# Attachments by kind (Attachment.kind), when the message is not a command and no dialogue
# took it: documents are ledgers to import (admins only; photos belong to 报进展).
ATTACHMENTS: dict[str, Callable] = {
    "document": lg.on_document,
}

# Button actions: the first part of the signed button data.
CALLBACKS: dict[str, Callable] = {
    "t": c.cb_task,        # open a task card
    "i": c.cb_indicator,   # answer an indicator
    "src": c.cb_source,    # an indicator's source sentence
    "l": c.cb_list,        # a list page: filter, arg, page
    "k": c.cb_kpi,         # a KPI category
    "u": f.cb_update,      # start reporting progress on a task
    "g": f.cb_guided,      # guided update steps: dialogue id, action, arg
    "c": f.cb_confirm,     # confirm a lower progress
    "rm": r.cb_remind,     # reminder settings: off for a week / on
    "sz": r.cb_snooze,     # snooze a pushed reminder: outbox id, 1h | am
    "ex": r.cb_extend,     # ask for an extension: task id, milestone id (0 = the task)
    "ea": r.cb_decide,     # decide an extension request: request id, y | n
}


def register_command(command: Command) -> None:
    """For channel- or feature-specific commands added at start-up (e.g. reminders)."""
    COMMANDS[command.name] = command
    for word in command.words:
        WORDS[word] = command.name


def bot_commands() -> list[tuple[str, str]]:
    """(name, description) for a channel's command menu (Telegram setMyCommands)."""
    out = []
    for cmd in COMMANDS.values():
        if cmd.hidden or cmd.admin_only:
            continue
        doc = (cmd.func.__doc__ or "").strip().splitlines()[0]
        out.append((cmd.name, doc.split("—", 1)[-1].strip()[:256]))
    return out
