"""The 督办 cycle in chat: 交办 (one line or guided), 分解, 签收, 台账 edits (/set, /node),
批示 and 反馈, 催办, and the timeline (时间轴).

Every creation waits for 确定 (a ``assign`` dialogue holding the spec); every bad input is
answered in Chinese and changes nothing (services raise, dispatch rolls back). The domain
rules live in the services: ``bot.services.assign``, ``task_edit``, ``instructions``,
``urge`` and ``timeline``.

Dialogues (see ``handlers.dialogues``):
- ``assign``: the guided 交办, one step per row of ``ASSIGN_STEPS`` (name → team → owner →
  deadline → 节点 → 来源), then ``confirm``; the one-line /assign and /split go straight
  to ``confirm``.
- ``instruct`` / ``feedback``: one step — the text of the 批示 or the 反馈.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Optional

from sqlalchemy import select

from bot.buttons import Cb
from bot.messages import Reply
from bot.models import Conversation, Person, Task, Team
from bot.permissions import Action, allowed
from bot.services import assign as assign_service
from bot.services import instructions as instruction_service
from bot.services import (
    pending_instructions,
    reminder_rules,
    review,
    task_edit,
    timeline,
)
from bot.services import tasks as task_service
from bot.services import urge as urge_service
from bot.services.errors import InvalidInput, NotFound
from bot.services.people import can_update
from bot.services.text import nfkc
from handlers import render
from handlers.context import Ctx
from handlers.flows import SKIP, YES

ASSIGN_FLOW = "assign"
AGAIN = "\n请重新发,或发“取消”退出。"


def _calendar(ctx: Ctx):
    return reminder_rules.make_calendar(ctx.app.config)


def split_task(ctx: Ctx, text: str, usage: str) -> tuple[Task, str]:
    """The task named by the shortest leading words, and the rest of the text.
    A colon right after the name also ends it: "批示 纳图电气:本月底前完成主体封顶"."""
    text = nfkc(text).strip()
    head, colon, rest = text.partition(":")
    if colon and head and " " not in head and rest.strip():
        text = f"{head} {rest.strip()}"
    tokens = text.split()
    if not tokens:
        raise InvalidInput(usage)
    first: Optional[NotFound] = None
    for cut in range(1, len(tokens) + 1):
        try:
            task = task_service.find_task(ctx.session, " ".join(tokens[:cut]), for_card=True)
        except NotFound as error:
            first = first or error
            continue
        return task, " ".join(tokens[cut:])
    assert first is not None  # tokens is not empty, and every try that found nothing kept its error
    raise first  # what the first word alone found (or not): it names the task


def card(ctx: Ctx, task: Task, prefix: str = "") -> Reply:
    """The task card with the buttons this person may press."""
    return Reply(prefix + render.task_card(ctx.session, task, ctx.now), buttons=card_buttons(ctx, task))


def card_buttons(ctx: Ctx, task: Task) -> list[list]:
    person = ctx.person
    if person is None:
        return []
    active = task.status != "done" and task.review_status != "approved"
    row = []
    if active and task.assigned_at is not None and task.signed_at is None \
            and assign_service.can_sign(ctx.session, person, task):
        row.append(ctx.button("签收", Cb.SIGN, task.id))
    if active and can_update(person, task):
        row.append(ctx.button("报进展", Cb.UPDATE, task.id))
        if pending_instructions.open_instructions(ctx.session, task):
            row.append(ctx.button("反馈", Cb.FEEDBACK, task.id))
    if task.review_status == review.PENDING and review.can_review(ctx.session, person, task):
        row += [ctx.button("通过", Cb.REVIEW, task.id, "y"), ctx.button("退回", Cb.REVIEW, task.id, "n")]
    second = []
    if active and allowed(person, Action.URGE) and urge_service.can_urge(person, task):
        second.append(ctx.button("催办", Cb.URGE, task.id))
    if active and allowed(person, Action.INSTRUCT):
        second.append(ctx.button("批示", Cb.INSTRUCT, task.id))
    second.append(ctx.button("时间轴", Cb.TIMELINE, task.id, 1))
    return [r for r in (row, second) if r]


# ---------------------------------------------------------------- 交办

def _summary(ctx: Ctx, conv: Conversation, title: str, body: str) -> Reply:
    return Reply(f"{title}\n{body}\n回复“确定”交办,“取消”放弃。",
                 buttons=[[ctx.button("确定交办", Cb.ASSIGN, conv.id, "y"),
                           ctx.button("取消", Cb.ASSIGN, conv.id, "n")]])


def cmd_assign(ctx: Ctx, args: str) -> Reply:
    """/assign 名称 专班 [责任人] 时间节点 [来源] — 交办新事项;只发“交办”则一步步填写"""
    if not args.strip():
        ctx.start_conversation(ASSIGN_FLOW, ASSIGN_STEPS[0][0], {"spec": {}})
        return Reply("交办新事项。" + ASSIGN_STEPS[0][1])
    spec = assign_service.parse_assign(ctx.session, args, ctx.now, _calendar(ctx))
    assign_service.check_spec(ctx.session, spec, ctx.now.date())
    conv = ctx.start_conversation(ASSIGN_FLOW, "confirm", {"specs": [spec.to_data()]})
    return _summary(ctx, conv, "请确认交办:", assign_service.describe(ctx.session, spec))


def cmd_split(ctx: Ctx, args: str) -> Reply:
    """/split 事项 专班:日期[:责任人] ... — 分解交办给几个专班"""
    usage = ("请写:/split 事项 专班:日期[:责任人] ...\n"
             "例如:/split 老旧小区改造 项目一专班:2026-03-31 项目二专班:3月底:王干部")
    text = nfkc(args).strip()
    first_item = re.search(r"\S+[:=]\S+", text)
    if not text or first_item is None or first_item.start() == 0:
        raise InvalidInput(usage)
    parent = task_service.find_task(ctx.session, text[:first_item.start()].strip(), for_card=True)
    specs = assign_service.split_specs(ctx.session, parent, text[first_item.start():], ctx.now, _calendar(ctx))
    conv = ctx.start_conversation(ASSIGN_FLOW, "confirm",
                                  {"specs": [s.to_data() for s in specs], "parent_id": parent.id})
    body = "\n".join(assign_service.describe(ctx.session, s) for s in specs)
    return _summary(ctx, conv, f"请确认分解“{parent.name}”为{len(specs)}项:", body)


def _create(ctx: Ctx, conv: Conversation) -> Reply:
    return create_assigned(ctx, dict(conv.data or {}))


def create_assigned(ctx: Ctx, data: dict) -> Reply:
    """Create what a confirmed 交办 / 分解 holds (``{"specs": [...], "parent_id"?}``); ends the dialogue."""
    specs = [assign_service.AssignSpec.from_data(d) for d in data.get("specs") or []]
    rules = ctx.app.config.lights
    ctx.end_conversation()
    if data.get("parent_id"):
        parent = ctx.session.get(Task, data["parent_id"])
        if parent is None:
            return Reply("上级事项已不存在,已退出。")
        children = assign_service.create_split(ctx.session, ctx.now, ctx.person, parent, specs, rules)
        lines = [f"✅ 已分解“{parent.name}”为{len(children)}项:"]
        lines += [f"· {c.name} 截止{c.deadline.isoformat() if c.deadline else '未定'}" for c in children]
        lines.append("已通知各专班负责人和责任人签收。")
        return Reply("\n".join(lines))
    task = assign_service.create_task(ctx.session, ctx.now, ctx.person, specs[0], rules)
    told = "、".join(p.name for p in assign_service.recipients(ctx.session, task)) or "无人(该专班没有负责人)"
    return Reply(f"✅ 已交办:{task.name}\n已通知{told}签收。")


def _step_name(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    name = text.strip()
    if not name:
        raise InvalidInput("请写事项名称。")
    if len(name) > assign_service.NAME_MAX:
        raise InvalidInput(f"事项名称太长({len(name)}字),请控制在{assign_service.NAME_MAX}字以内。")
    if ctx.session.scalar(select(Task.id).where(Task.name == name)) is not None:
        raise InvalidInput(f"已有同名事项“{name}”。请换个名称。")
    spec.name = name


def _step_team(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    spec.team_id = assign_service.require_team(ctx.session, text).id


def _step_owner(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    if text.lower() in SKIP:
        spec.owner_id = None
        return
    person = assign_service.require_person(ctx.session, text)
    if person.team_id != spec.team_id:
        team = ctx.session.get_one(Team, spec.team_id)  # the team step came first and found it
        raise InvalidInput(f"{person.name}不是{team.name}的人员,不能做责任人。")
    spec.owner_id = person.id


def _step_deadline(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    spec.deadline = assign_service.parse_deadline(text, ctx.now, _calendar(ctx))


def _step_nodes(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    spec.nodes = []
    if text.lower() in SKIP:
        return
    assert spec.deadline is not None  # the deadline step comes before this one (ASSIGN_STEPS)
    for item in nfkc(text).replace(",", " ").replace(";", " ").split():
        name, due = assign_service.parse_node(item, ctx.now, _calendar(ctx))
        if due > spec.deadline:
            raise InvalidInput(f"节点“{name}”的日期 {due.isoformat()} 晚于时间节点 {spec.deadline.isoformat()}。")
        spec.nodes.append((name, due))


def _step_origin(ctx: Ctx, spec: assign_service.AssignSpec, text: str) -> None:
    if text.lower() in SKIP:
        spec.origin = None
        return
    origin = assign_service.parse_origin(text)
    if origin is None:
        raise InvalidInput(f"来源请写:{'、'.join(assign_service.ORIGINS)},或发“跳过”。")
    spec.origin = origin


_Step = Callable[[Ctx, assign_service.AssignSpec, str], None]

#: the guided 交办: (step, question, what reads the answer)
ASSIGN_STEPS: tuple[tuple[str, str, _Step], ...] = (
    ("name", "事项名称是?(发“取消”退出)", _step_name),
    ("team", "牵头专班是?例如:项目二专班", _step_team),
    ("owner", "责任人是?写本专班人员的姓名;不指定发“跳过”(由专班负责人签收)", _step_owner),
    ("deadline", "时间节点是?例如:2026-03-31、3月底、下周五", _step_deadline),
    ("nodes", "有节点吗?写 名称@日期,多个用空格隔开,例如:开工@1月10日 封顶@3月1日;没有发“跳过”", _step_nodes),
    ("origin", "来源是?会议、批示、上级交办、报告;不写发“跳过”", _step_origin),
)
_STEP_INDEX = {name: i for i, (name, _, _) in enumerate(ASSIGN_STEPS)}


def continue_assign(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    """The 交办 dialogue: the steps of ASSIGN_STEPS, then 确定."""
    data = dict(conv.data or {})
    if conv.step == "confirm":
        if text.lower() in YES:
            return _create(ctx, conv)
        return Reply("请回复“确定”交办,或“取消”放弃。")
    index = _STEP_INDEX.get(conv.step)
    if index is None:
        ctx.end_conversation()
        return None
    spec = assign_service.AssignSpec.from_data(data.get("spec") or {})
    try:
        ASSIGN_STEPS[index][2](ctx, spec, text.strip())
    except InvalidInput as error:
        return Reply(error.message + AGAIN)
    if index + 1 < len(ASSIGN_STEPS):
        step, question, _ = ASSIGN_STEPS[index + 1]
        ctx.start_conversation(ASSIGN_FLOW, step, {"spec": spec.to_data()})
        buttons = []
        if step == "origin":
            buttons = [[ctx.button(o, Cb.ASSIGN, conv.id, "o", i) for i, o in enumerate(assign_service.ORIGINS)]]
        return Reply(question, buttons=buttons)
    try:
        assign_service.check_spec(ctx.session, spec, ctx.now.date())
    except InvalidInput as error:
        ctx.end_conversation()
        return Reply(error.message + "\n已退出,请重新发“交办”。")
    conv = ctx.start_conversation(ASSIGN_FLOW, "confirm", {"specs": [spec.to_data()]})
    return _summary(ctx, conv, "请确认交办:", assign_service.describe(ctx.session, spec))


def cb_assign(ctx: Ctx, parts: list[str]) -> Reply:
    conv = ctx.conversation()
    if conv is None or conv.flow != ASSIGN_FLOW or not parts or parts[0] != str(conv.id):
        return Reply("按钮已过期,请重新发“交办”。", notice="已过期")
    action = parts[1] if len(parts) > 1 else ""
    if action == "n":
        ctx.end_conversation()
        return Reply("已取消,什么也没交办。")
    if action == "y" and conv.step == "confirm":
        return _create(ctx, conv)
    if action == "o" and conv.step == "origin" and len(parts) > 2 and parts[2].isdigit() \
            and int(parts[2]) < len(assign_service.ORIGINS):
        reply = continue_assign(ctx, conv, assign_service.ORIGINS[int(parts[2])])
        if reply is not None:  # None only for a step the dialogue does not know
            return reply
    return Reply("按钮已过期,请重新发“交办”。", notice="已过期")


# ---------------------------------------------------------------- 签收

def _sign(ctx: Ctx, task: Task) -> Reply:
    assign_service.sign_task(ctx.session, ctx.now, ctx.person, task)
    return Reply(f"✅ 已签收:{task.name}\n时间节点:{task.deadline.isoformat() if task.deadline else '未定'}。"
                 "办理中请及时报进展。", notice="已签收")


def cmd_sign(ctx: Ctx, args: str) -> Reply:
    """/sign 事项 — 签收交办给我的事项"""
    if not args.strip():
        raise InvalidInput("请写要签收的事项,例如:签收 老旧小区改造")
    return _sign(ctx, task_service.find_task(ctx.session, args))


def _task_from(ctx: Ctx, parts: list[str]) -> Optional[Task]:
    return task_service.get_task_for_card(ctx.session, int(parts[0])) if parts and parts[0].isdigit() else None


def cb_sign(ctx: Ctx, parts: list[str]) -> Reply:
    task = _task_from(ctx, parts)
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    return _sign(ctx, task)


# ---------------------------------------------------------------- 台账 edits

def cmd_set(ctx: Ctx, args: str) -> Reply:
    """/set 事项 责任人|专班|截止|来源 新值 — 修改台账(专班负责人、管理员)"""
    usage = ("请写:/set 事项 责任人 王干部、/set 事项 截止 2026-03-31、/set 事项 专班 项目二专班、"
             "/set 事项 来源 会议")
    tokens = nfkc(args).split()
    at = next((i for i, t in enumerate(tokens) if i and t in task_edit.FIELDS), None)
    if at is None or at + 1 >= len(tokens):
        raise InvalidInput(usage)
    task = task_service.find_task(ctx.session, " ".join(tokens[:at]), for_card=True)
    line = task_edit.set_field(ctx.session, ctx.now, ctx.person, task, task_edit.FIELDS[tokens[at]],
                               " ".join(tokens[at + 1:]), ctx.app.config.lights, _calendar(ctx))
    return Reply(f"✅ 已修改“{task.name}”\n{line}")


def cmd_node(ctx: Ctx, args: str) -> Reply:
    """/node 事项 add|rename|date|done 节点 [日期] — 节点:添加、改名、改期、完成"""
    usage = ("请写:/node 事项 add 开工 2026-01-10、/node 事项 rename 开工 正式开工、"
             "/node 事项 date 开工 2026-01-20、/node 事项 done 开工")
    tokens = nfkc(args).split()
    at = next((i for i, t in enumerate(tokens) if i and t.lower() in task_edit.NODE_OPS), None)
    if at is None:
        raise InvalidInput(usage)
    task = task_service.find_task(ctx.session, " ".join(tokens[:at]), for_card=True)
    line = task_edit.edit_node(ctx.session, ctx.now, ctx.person, task, task_edit.NODE_OPS[tokens[at].lower()],
                               tokens[at + 1:], _calendar(ctx))
    return Reply(f"✅ 已修改“{task.name}”\n{line}")


# ---------------------------------------------------------------- 批示 and 反馈

def instruct_reply(ctx: Ctx, task: Task, text: str) -> Reply:
    """Record a 批示 now (the command, its dialogue, and a 批示 in words after 确定)."""
    instruction_service.instruct(ctx.session, ctx.now, ctx.person, task, text)
    ctx.end_conversation()
    told = "、".join(p.name for p in assign_service.recipients(ctx.session, task)) or "无人(没有责任人和专班负责人)"
    return Reply(f"✅ 批示已记录:{task.name}\n已推送给{told},反馈后会告诉你。")


def cmd_instruct(ctx: Ctx, args: str) -> Reply:
    """/instruct 事项 内容 — 领导批示(推送给责任人和专班负责人,跟踪反馈)"""
    task, text = split_task(ctx, args, "请写事项和批示内容,例如:批示 纳图电气 抓紧推进二期")
    if not text:
        ctx.start_conversation("instruct", "text", {"task_id": task.id})
        return Reply(f"批示:📌 {task.name}\n请写批示内容。(发“取消”退出)")
    return instruct_reply(ctx, task, text)


def cb_instruct(ctx: Ctx, parts: list[str]) -> Reply:
    task = _task_from(ctx, parts)
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    ctx.start_conversation("instruct", "text", {"task_id": task.id})
    return Reply(f"批示:📌 {task.name}\n请写批示内容。(发“取消”退出)")


def continue_instruct(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    task = ctx.session.get(Task, (conv.data or {}).get("task_id"))
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    return instruct_reply(ctx, task, text)


def _feedback(ctx: Ctx, task: Task, text: str) -> Reply:
    row = instruction_service.feedback(ctx.session, ctx.now, ctx.person, task, text)
    ctx.end_conversation()
    leader = ctx.session.get(Person, row.leader_id) if row.leader_id else None
    return Reply(f"✅ 已反馈:{task.name}\n批示:{row.text}\n已告诉{leader.name if leader else '批示领导'}。")


def _ask_feedback(ctx: Ctx, task: Task) -> Reply:
    pending = pending_instructions.open_instructions(ctx.session, task)
    if not can_update(ctx.person, task):
        raise InvalidInput(f"“{task.name}”不属于你的专班,不能反馈。")
    if not pending:
        raise InvalidInput(f"“{task.name}”没有待反馈的批示。报进展请发:报进展")
    ctx.start_conversation("feedback", "text", {"task_id": task.id})
    return Reply(f"反馈:📌 {task.name}\n批示:{pending[0].text}\n请写办理情况。(发“取消”退出)")


def cmd_feedback(ctx: Ctx, args: str) -> Reply:
    """/feedback 事项 内容 — 反馈领导批示的办理情况"""
    task, text = split_task(ctx, args, "请写事项和反馈内容,例如:反馈 纳图电气 已召开协调会")
    if not text:
        return _ask_feedback(ctx, task)
    return _feedback(ctx, task, text)


def cb_feedback(ctx: Ctx, parts: list[str]) -> Reply:
    task = _task_from(ctx, parts)
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    return _ask_feedback(ctx, task)


def continue_feedback(ctx: Ctx, conv: Conversation, text: str) -> Optional[Reply]:
    task = ctx.session.get(Task, (conv.data or {}).get("task_id"))
    if task is None:
        ctx.end_conversation()
        return Reply("这个事项已不存在,已退出。")
    return _feedback(ctx, task, text)


# ---------------------------------------------------------------- 催办

def urge_reply(ctx: Ctx, task: Task, words: str, to: Optional[Person] = None) -> Reply:
    """催办 now (the command, the button, and a 催办 in words after 确定)."""
    target = urge_service.urge(ctx.session, ctx.now, ctx.person, task, words, to)
    return Reply(f"📣 已催办:{task.name}\n已通知{target.name}(第{task.urge_count}次催办)。", notice="已催办")


def cmd_urge(ctx: Ctx, args: str) -> Reply:
    """/urge 事项 [要说的话] — 催办责任人(专班负责人、领导)"""
    task, words = split_task(ctx, args, "请写要催办的事项,例如:催办 纳图电气 请本周报进展")
    return urge_reply(ctx, task, words)


def cb_urge(ctx: Ctx, parts: list[str]) -> Reply:
    task = _task_from(ctx, parts)
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    return urge_reply(ctx, task, "")


# ---------------------------------------------------------------- 时间轴

_PAGE = re.compile(r"\s*第?(\d+)页?\s*$")


def timeline_reply(ctx: Ctx, task: Task, page: int, edit: bool = False) -> Reply:
    result = timeline.timeline_page(ctx.session, task, page, ctx.app.config.lists.page_size)
    text = render.timeline_text(result, ctx.now.date())
    buttons = []
    nav = []
    if result.page > 1:
        nav.append(ctx.button("上一页", Cb.TIMELINE, task.id, result.page - 1))
    if result.page < result.pages:
        nav.append(ctx.button("下一页", Cb.TIMELINE, task.id, result.page + 1))
    if nav:
        buttons.append(nav)
    if not ctx.msg.buttons_supported and result.page < result.pages:
        text += f"\n下一页:/timeline {task.name} 第{result.page + 1}页"
        buttons = []
    return Reply(text, buttons=buttons, edit=edit)


def cmd_timeline(ctx: Ctx, args: str) -> Reply:
    """/timeline 事项 [第N页] — 时间轴:交办、签收、进展、批示、催办……最新的在前"""
    text = nfkc(args).strip()
    page = 1
    match = _PAGE.search(text)
    if match and match.start() > 0:
        page, text = int(match.group(1)), text[:match.start()]
    if not text:
        raise InvalidInput("请写事项名称,例如:/timeline 纳图电气")
    return timeline_reply(ctx, task_service.find_task(ctx.session, text, for_card=True), page)


def cb_timeline(ctx: Ctx, parts: list[str]) -> Reply:
    task = _task_from(ctx, parts)
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    page = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
    return timeline_reply(ctx, task, page, edit=page > 1)
