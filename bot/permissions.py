"""Who may do what: the one table of actions and the roles allowed to take them.

Handlers declare the action a command needs (``handlers.registry``); dispatch checks it once,
before the command runs. Checks about a particular task (is it your team's?) stay in the
services, which know the task.
"""
from __future__ import annotations

from enum import StrEnum

from bot.models import ROLE_CADRE, ROLE_LEADER, ROLE_TEAM_LEAD, Person


class Action(StrEnum):
    ANYONE = "anyone"          # also people who are not bound yet (/start, /help)
    READ = "read"              # ask, list, open cards: every bound person
    REPORT = "report"          # report progress, ask for an extension
    ASSIGN = "assign"          # 交办: create a task
    EDIT = "edit"              # change 责任人, 专班, 时间节点, 节点
    INSTRUCT = "instruct"      # 批示
    URGE = "urge"              # 催办
    REVIEW = "review"          # 办结审核: 通过 / 退回
    DECIDE_EXTENSION = "decide_extension"
    RANK = "rank"              # 考核排名
    ADMIN = "admin"            # people, invites, groups, ledger import


#: roles allowed per action; admins may do everything.
ALLOWED: dict[Action, frozenset[str]] = {
    Action.READ: frozenset({ROLE_LEADER, ROLE_TEAM_LEAD, ROLE_CADRE}),
    Action.REPORT: frozenset({ROLE_TEAM_LEAD, ROLE_CADRE}),
    Action.ASSIGN: frozenset({ROLE_LEADER}),
    Action.EDIT: frozenset({ROLE_TEAM_LEAD}),
    Action.INSTRUCT: frozenset({ROLE_LEADER}),
    Action.URGE: frozenset({ROLE_LEADER, ROLE_TEAM_LEAD}),
    Action.REVIEW: frozenset({ROLE_LEADER, ROLE_TEAM_LEAD}),
    Action.DECIDE_EXTENSION: frozenset({ROLE_LEADER, ROLE_TEAM_LEAD}),
    Action.RANK: frozenset({ROLE_LEADER, ROLE_TEAM_LEAD}),
    Action.ADMIN: frozenset(),
}

#: what a refused person is told, per action
REFUSALS: dict[Action, str] = {
    Action.REPORT: "领导账号只能查看。报进展请由责任专班填写。",
    Action.ASSIGN: "只有街道领导或管理员可以交办事项。",
    Action.EDIT: "只有专班负责人或管理员可以修改台账。",
    Action.INSTRUCT: "只有街道领导可以批示。",
    Action.URGE: "只有专班负责人或领导可以催办。",
    Action.REVIEW: "只有专班负责人或领导可以审核。",
    Action.DECIDE_EXTENSION: "只有本专班负责人或领导可以审批延期。",
    Action.RANK: "排名只对专班负责人和领导开放。",
    Action.ADMIN: "只有管理员可以这样做。",
}


def allowed(person: Person | None, action: Action) -> bool:
    if action is Action.ANYONE:
        return True
    if person is None:
        return False
    if person.is_admin:
        return True
    return person.role in ALLOWED.get(action, frozenset())


def refusal(action: Action) -> str:
    return REFUSALS.get(action, "你没有权限这样做。")
