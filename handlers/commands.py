"""Chat commands. Each docstring's first line is that command's /help text."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from bot.buttons import Cb
from bot.messages import GROUP, Reply
from bot.models import Indicator, Task
from bot.numerals import parse_progress, strip_span
from bot.permissions import Action, allowed
from bot.services import indicators as indicator_service
from bot.services import people as people_service
from bot.services import task_lists
from bot.services import tasks as task_service
from bot.services import urge as urge_service
from bot.services.errors import InvalidInput, NotFound
from bot.services.lookup import KIND_INDICATOR, KIND_TASK, NAMES
from bot.services.people import ROLE_WORDS, role_label
from bot.services.text import nfkc
from handlers import cycle, flows, nlu_text, proposals, render
from handlers.context import Ctx

SOURCE_WORDS = ("出处", "来源", "原文")
#: lists whose rows carry a [催办] button for team leads and leaders
URGE_LISTS = ("red", "overdue")


def cmd_start(ctx: Ctx, args: str) -> Reply:
    """/start 邀请码 — 绑定身份(管理员给的邀请码)"""
    msg = ctx.msg
    if not args:
        if ctx.person is None:
            return Reply("你好,我是督办助手。\n请向管理员要邀请码,然后发:/start 邀请码")
        return Reply(f"你好,{ctx.person.name}({role_label(ctx.person)})。\n"
                     "可以直接问:财政收入多少、纳图电气进展;发 /help 看全部用法。")
    if msg.chat_type == GROUP:
        return Reply("请在与我的私聊里发 /start 邀请码,邀请码不要发在群里。")
    person = people_service.redeem_invite(ctx.session, ctx.now, args.split()[0], msg.channel,
                                          msg.user_id, msg.chat_id, msg.user_name)
    team = f",{person.team.name}" if person.team else ""
    return Reply(f"绑定成功:{person.name}({role_label(person)}{team})。\n"
                 "试试:财政收入多少、/tasks mine、报进展。发 /help 看全部用法。")


def cmd_whoami(ctx: Ctx, args: str) -> Reply:
    """/whoami — 我的身份和专班"""
    person = ctx.person
    team = person.team.name if person.team else "无"
    return Reply(f"{person.name}:{role_label(person)},专班:{team}")


def cmd_query(ctx: Ctx, args: str) -> list[Reply] | Reply:
    """/q 名称 — 查指标或事项,如 /q 财政收入"""
    text = args.strip()
    if not text:
        return Reply("请写要查的名称,例如:/q 财政收入、/q 纳图电气")
    if wanted_page(text, 1) is not None:
        return Reply("要翻页请先发清单命令,如 /tasks red 或 /due 30,再发“第2页”。")
    with_source = any(word in text for word in SOURCE_WORDS)
    for word in SOURCE_WORDS:
        text = text.replace(word, "")
    match = ctx.app.names.find(ctx.session, text or args)
    if match.best:
        kind, id_ = match.best
        if kind == KIND_INDICATOR:
            answer = indicator_service.answer_by_id(ctx.session, id_)
            if answer is None:
                raise NotFound("这个指标刚被删除了。")
            return indicator_reply(ctx, answer.indicator, with_source, answer)
        task = task_service.get_task_for_card(ctx.session, id_)
        if task is None:
            raise NotFound("这个事项刚被删除了。")
        return task_reply(ctx, task)
    if match.candidates and match.how == "ambiguous":
        buttons = [[candidate_button(ctx, ref)] for ref in match.candidates]
        return Reply(f"“{args.strip()}”可能是下面几个,是哪个?", buttons=buttons)
    reply = f"没找到“{args.strip()}”。"
    if match.candidates:
        return Reply(reply + "发 /kpi 看全部指标,/tasks 看全部事项。相近的有:",
                     buttons=[[candidate_button(ctx, ref)] for ref in match.candidates[:3]])
    return Reply(reply + "\n可以问:财政收入、社零、固投、纳图电气进展;\n"
                 "或发 /kpi 看全部指标,/tasks 看全部事项。")


def candidate_button(ctx: Ctx, ref):
    kind, id_ = ref
    label = ctx.app.names.name_of(ctx.session, ref)
    return ctx.button(("📊 " if kind == KIND_INDICATOR else "📌 ") + label,
                      "i" if kind == KIND_INDICATOR else "t", id_)


def indicator_reply(ctx: Ctx, indicator: Indicator, with_source: bool = False,
                    answer: Optional[indicator_service.IndicatorAnswer] = None) -> Reply:
    answer = answer or indicator_service.answer_for(ctx.session, indicator)
    source = answer.latest.source if answer.latest else None
    more_to_show = (source and len(source) > indicator_service.SOURCE_PREVIEW) or indicator.target_source
    buttons = [[ctx.button("看原文", "src", indicator.id)]] if more_to_show and not with_source else []
    return Reply("\n".join(answer.lines(with_source=with_source)), buttons=buttons)


def task_reply(ctx: Ctx, task: Task, prefix: str = "") -> Reply:
    """The task card and the buttons this person may press (handlers.cycle.card)."""
    return cycle.card(ctx, task, prefix)


def cmd_kpi(ctx: Ctx, args: str) -> Reply:
    """/kpi [类别] — 指标一览,如 /kpi 经济运行"""
    categories = indicator_service.categories(ctx.session)
    if not categories:
        return Reply("还没有指标数据。请管理员导入:python run.py import 文件")
    wanted = args.strip()
    names = [c for c, _ in categories]
    if not wanted:
        wanted = names[0]
        footer = "其他类别:" + "、".join(f"{c}({n})" for c, n in categories[1:])
    else:
        footer = ""
        match = [c for c in names if wanted in c or c in wanted]
        if not match:
            return Reply(f"没有“{wanted}”这个类别。可选:" + "、".join(names))
        wanted = match[0]
    answers = indicator_service.by_category(ctx.session, wanted)
    lines = [f"【{wanted}】"] + [indicator_service.one_line(a) for a in answers]
    if footer:
        lines.append(footer)
    buttons = [[ctx.button(c, "k", c)] for c in names if c != wanted][:6] if ctx.msg.buttons_supported else []
    return Reply("\n".join(lines), buttons=buttons)


def list_reply(ctx: Ctx, which: str, arg: Optional[str], page: int = 1, edit: bool = False) -> Reply:
    result = task_lists.list_tasks(ctx.session, ctx.now, ctx.person, which, arg, page,
                                     ctx.app.config.lists.page_size)
    text = render.task_page(result, ctx.now.date())
    if which == "overdue" and not result.total:
        upcoming = task_lists.next_deadline(ctx.session, ctx.now.date())
        if upcoming:
            day, count = upcoming
            days = (day - ctx.now.date()).days
            text += f"\n最近的时间节点:{day.isoformat()}({count}项,{days}天后)。发 /due {days} 查看。"
    ctx.remember(list={"which": which, "arg": arg, "page": result.page, "pages": result.pages,
                       "total": result.total, "title": result.title,
                       "ids": [t.id for t, _ in result.rows]},
                 topic={"kind": "list", "which": which, "arg": arg, "at": ctx.now.isoformat()})
    buttons = []
    if ctx.msg.buttons_supported:
        buttons = [[ctx.button(f"{light.icon}{t.name[:12]}", "t", t.id)] for t, light in result.rows]
        if which in URGE_LISTS and allowed(ctx.person, Action.URGE):
            # red and overdue lists: a [催办] next to each row the person may urge
            for row, (t, _light) in zip(buttons, result.rows, strict=True):
                if urge_service.worth_a_button(ctx.person, t):
                    row.append(ctx.button("催办", Cb.URGE, t.id))
        nav = []
        if result.page > 1:
            nav.append(ctx.button("上一页", "l", which, arg or "", result.page - 1))
        if result.page < result.pages:
            nav.append(ctx.button("下一页", "l", which, arg or "", result.page + 1))
        if nav:
            buttons.append(nav)
        if which == "all":
            buttons.append([ctx.button("只看红灯", "l", "red", "", 1),
                            ctx.button("只看逾期", "l", "overdue", "", 1)])
    elif result.pages > 1 and result.page < result.pages:
        text += f"\n下一页:发“第{result.page + 1}页”或 {page_command(which, arg, result.page + 1)}"
    return Reply(text, buttons=buttons, edit=edit)


def page_command(which: str, arg: Optional[str], page: int) -> str:
    """The command that shows that page of that list (what a paging hint tells the user)."""
    if which == "due":
        return f"/due {arg or ''} 第{page}页".replace("  ", " ")
    if which in ("team", "category"):
        return f"/tasks {arg} 第{page}页"
    return f"/tasks {which} 第{page}页"


_PAGE = re.compile(r"\s*第?(\d+)页?\s*$")
_PAGE_ONLY = re.compile(r"^\s*第\s*(\d+)\s*页\s*$")
NEXT_PAGE_WORDS = {"下一页", "下页", "翻页"}
PREVIOUS_PAGE_WORDS = {"上一页", "上页"}


def wanted_page(text: str, current: int) -> Optional[int]:
    """“第3页” → 3, “下一页” → current + 1; None when the text is not about pages."""
    text = nfkc(text).strip()
    match = _PAGE_ONLY.match(text)
    if match:
        return int(match.group(1))
    if text in NEXT_PAGE_WORDS:
        return current + 1
    if text in PREVIOUS_PAGE_WORDS:
        return max(1, current - 1)
    return None


def cmd_tasks(ctx: Ctx, args: str) -> Reply:
    """/tasks [mine|overdue|red|week|专班] — 事项清单,最急的在前"""
    page = 1
    match = _PAGE.search(args) if args.strip() and not args.strip().isdigit() else None
    if match and match.start() > 0:
        page, args = int(match.group(1)), args[: match.start()]
    elif match and _PAGE_ONLY.match(args):  # "/tasks 第2页": the list shown last, else all
        last = ctx.memory().get("list") or {}
        return list_reply(ctx, last.get("which", "all"), last.get("arg"), int(match.group(1)))
    which, arg = task_lists.parse_list_filter(ctx.session, args)
    return list_reply(ctx, which, arg, page)


def cmd_due(ctx: Ctx, args: str) -> Reply:
    """/due [天数] — N天内到期的事项(默认7天)"""
    text = nfkc(args).strip()
    page = 1
    match = re.search(r"\s*第\s*(\d+)\s*页\s*$", text)
    if match:
        page, text = int(match.group(1)), text[: match.start()].strip()
    text = text.rstrip("天")
    if not text:
        days = ctx.app.config.lists.due_days_default
    elif text.isdigit():
        days = int(text)
    else:
        raise InvalidInput("天数请写数字,例如:/due 7")
    if days > 366:
        raise InvalidInput("天数要在 0 到 366 之间。")
    return list_reply(ctx, "due", str(days), page)


def cmd_task(ctx: Ctx, args: str) -> Reply:
    """/task 名称 — 事项卡片:责任人、时间节点、进度、红黄绿灯"""
    if not args.strip():
        return Reply("请写事项名称,例如:/task 纳图电气")
    return task_reply(ctx, task_service.find_task(ctx.session, args, for_card=True))


_MILESTONE = re.compile(r"(?:^|\s)节点[::=](?P<name>\S+)")
_PERCENT_WORD = re.compile(r"\S*[%％]\S*")
_FIGURE_START = re.compile(r"[\d%]|百分|[一二两三四五六七八九十]+成|[一二三四五六七八九十]+%|"
                           r"[一二三四五六七八九]?十[一二三四五六七八九]?|"
                           r"一半|已?完成|完工|竣工|节点[::]")


@dataclass
class UpdateTarget:
    """What /update names: one clear task, or candidates to confirm (typo, part of a name,
    extra words), and the rest of the text (figure and note)."""

    task: Optional[Task]
    rest: str
    candidates: list[int]
    written: str = ""


def update_target(ctx: Ctx, text: str) -> UpdateTarget:
    """A task is clear only when its name, an alias or its pinyin is written exactly; any
    other match (fuzzy, a part of a name, a name with extra words) is a candidate to confirm."""
    tokens = text.split()
    index = NAMES.get(ctx.session)
    for cut in range(min(len(tokens), 4), 0, -1):
        name = " ".join(tokens[:cut])
        ref = nlu_text.exact_task(index, name)
        if ref is not None:
            return UpdateTarget(ctx.session.get(Task, ref[1]), " ".join(tokens[cut:]), [])
    found = [m for m in nlu_text.mentions(index, text, nlu_text.TASKS)]
    if found and found[0].start == 0:
        refs = nlu_text.distinct_refs(found)
        head = text[: found[0].end]
        after = text[found[0].end:]
        glued_words = re.match(r"\S*", after)  # 纳图电气项目二期: words glued to the name
        chunk = glued_words.group(0) if glued_words else ""
        glued = re.match(r"\S+", chunk) if chunk and not _FIGURE_START.match(chunk) else None
        if len(refs) == 1 and not glued:
            return UpdateTarget(ctx.session.get(Task, refs[0][1]), after.strip(), [])
        written = head + (glued.group(0) if glued else "")
        return UpdateTarget(None, text[len(written):].strip(), [refs[0][1]], written)
    first = tokens[0] if tokens else ""
    head = re.split(r"[\d%]", first, maxsplit=1)[0] or first
    match = NAMES.find(ctx.session, head, kinds={KIND_TASK})
    rest = text[len(head):].strip()
    if match.best:
        return UpdateTarget(None, rest, [match.best[1]], head)
    if match.candidates and match.how == "ambiguous":
        return UpdateTarget(None, rest, [ref[1] for ref in match.candidates], head)
    names = [NAMES.name_of(ctx.session, ref) for ref in match.candidates]
    if names:
        raise NotFound(f"没有找到事项“{head}”。相近的有:", names[:3])
    raise NotFound(f"没有找到事项“{head}”。发 /tasks 看全部事项。")


def _has_figure(name: str) -> bool:
    return bool(re.search(r"\d\s*%|%", name))


def parse_figure(task_names: list[str], rest: str) -> tuple[Optional[float], Optional[str]]:
    """The progress (one clear number 0–100, or none) and the note; anything unclear is
    refused with a question and records nothing."""
    parsed = parse_progress(rest, mask=task_names)
    if not parsed.ok:
        if parsed.reason == "out_of_range":
            raise InvalidInput("进度要在 0% 到 100% 之间,例如:65%。")
        if parsed.reason != "none":
            raise InvalidInput(f"{parsed.ask} 什么也没记录。")  # not ok: ask is set
        if _PERCENT_WORD.search(rest) and not _MILESTONE.search(rest):
            raise InvalidInput("进度要写成数字加%,例如:65%。")
        return None, rest.strip() or None
    assert parsed.value is not None  # ok: the value is set
    note = strip_span(rest, parsed.span)
    return float(parsed.value), note or None


def cmd_update(ctx: Ctx, args: str) -> Reply:
    """/update 事项 65% 进展说明 [问题:…] [下步:…] — 报进展;只发“报进展”则一步步引导"""
    if not args.strip():
        return flows.start_guided(ctx)
    target = update_target(ctx, nfkc(args).strip())
    if target.task is None:
        tasks = [ctx.session.get_one(Task, i) for i in target.candidates]
        progress, note = parse_figure([n for t in tasks for n in (t.name, *t.aliases)], target.rest)
        draft = {"progress": progress, "note": note}
        if len(tasks) == 1:
            asked = f"没有事项叫“{target.written}”。是“{tasks[0].name}”吗?什么也还没记录。"
        else:
            asked = f"“{target.written}”对应{len(tasks)}个事项,是哪个?什么也还没记录。"
        return proposals.propose(ctx, None, draft, target.candidates, asked)
    task = target.task
    progress, note = parse_figure([task.name, *task.aliases], target.rest)
    milestone = None
    if note:
        found = _MILESTONE.search(note)
        if found:
            milestone = task_service.find_milestone(task, found.group("name"))
            if milestone is None:
                names = "、".join(m.name for m in task.milestones) or "无"
                raise InvalidInput(f"“{task.name}”没有节点“{found.group('name')}”。已有节点:{names}")
            note = (note[: found.start()] + note[found.end():]).strip() or None
    note, problems, next_steps = task_service.split_problems(note)
    photo = next((a for a in ctx.msg.attachments if a.kind == "photo"), None)  # a photo's caption
    return flows.submit_update(ctx, task, progress, note, milestone_id=milestone.id if milestone else None,
                               photo={"file_id": photo.file_id, "local_path": photo.local_path} if photo else None,
                               problems=problems, next_steps=next_steps)


def cmd_cancel(ctx: Ctx, args: str) -> Reply:
    """/cancel — 取消正在进行的操作"""
    if ctx.conversation() is None:
        return Reply("没有进行中的操作。")
    ctx.end_conversation()
    return Reply("已取消,什么也没改。")


def cmd_invite(ctx: Ctx, args: str) -> Reply:
    """/invite 姓名 — 给某人生成邀请码(管理员)"""
    name = args.strip()
    if not name:
        raise InvalidInput("请写姓名,例如:/invite 王干部")
    person = people_service.find_person(ctx.session, name)
    invite = people_service.create_invite(ctx.session, ctx.now, ctx.person, person)
    return Reply(f"{person.name}的邀请码:{invite.code}\n"
                 f"{people_service.INVITE_DAYS}天内有效,只能用一次。请对方私聊我发:/start {invite.code}")


def cmd_bindgroup(ctx: Ctx, args: str) -> Reply:
    """/bindgroup 专班 — 把本群绑定到专班(管理员,在群里发)"""
    if ctx.msg.chat_type != GROUP:
        return Reply("请在要绑定的群里发这个命令。")
    team = people_service.find_team(ctx.session, args)
    if team is None:
        names = "、".join(t.name for t in task_service.teams(ctx.session))
        raise InvalidInput(f"没有专班“{args.strip()}”。可选:{names}")
    people_service.bind_group(ctx.session, ctx.now, ctx.person, ctx.msg.channel, ctx.msg.chat_id, team)
    return Reply(f"本群已绑定到{team.name}。群里@我或发命令即可使用。")


# ---------------------------------------------------------------- button presses

def cb_task(ctx: Ctx, parts: list[str]) -> Reply:
    task = task_service.get_task_for_card(ctx.session, int(parts[0])) if parts and parts[0].isdigit() else None
    if task is None:
        return Reply("这个事项已不存在。", notice="已过期")
    return task_reply(ctx, task)


def cb_indicator(ctx: Ctx, parts: list[str]) -> Reply:
    indicator = ctx.session.get(Indicator, int(parts[0])) if parts and parts[0].isdigit() else None
    if indicator is None:
        return Reply("这个指标已不存在。", notice="已过期")
    return indicator_reply(ctx, indicator)


def cb_source(ctx: Ctx, parts: list[str]) -> Reply:
    indicator = ctx.session.get(Indicator, int(parts[0])) if parts and parts[0].isdigit() else None
    if indicator is None:
        return Reply("这个指标已不存在。", notice="已过期")
    return indicator_reply(ctx, indicator, with_source=True)


def cb_list(ctx: Ctx, parts: list[str]) -> Reply:
    if len(parts) != 3 or not parts[2].isdigit():
        return Reply("按钮已过期,请重新发命令。", notice="已过期")
    return list_reply(ctx, parts[0], parts[1] or None, int(parts[2]), edit=True)


def cb_kpi(ctx: Ctx, parts: list[str]) -> Reply:
    return cmd_kpi(ctx, parts[0] if parts else "")


def _role_and_team(ctx: Ctx, words: list[str]):
    if not words or words[0] not in ROLE_WORDS:
        raise InvalidInput("角色写:领导、专班负责人 或 干部。")
    team = None
    if len(words) > 1:
        team = people_service.find_team(ctx.session, words[1])
        if team is None:
            raise InvalidInput(f"没有专班“{words[1]}”。")
    return ROLE_WORDS[words[0]], team


def cmd_adduser(ctx: Ctx, args: str) -> Reply:
    """/adduser 姓名 角色 [专班] — 新增人员并生成邀请码(管理员)"""
    words = args.split()
    if len(words) < 2:
        raise InvalidInput("例如:/adduser 钱干部 干部 项目二专班")
    role, team = _role_and_team(ctx, words[1:])
    person = people_service.create_person(ctx.session, ctx.now, ctx.person, words[0], role, team)
    invite = people_service.create_invite(ctx.session, ctx.now, ctx.person, person)
    return Reply(f"已新增 {person.name}({role_label(person)}{',' + team.name if team else ''})。\n"
                 f"邀请码:{invite.code},请对方私聊我发:/start {invite.code}")


def cmd_role(ctx: Ctx, args: str) -> Reply:
    """/role 姓名 角色 [专班] — 调整角色或专班(管理员)"""
    words = args.split()
    if len(words) < 2:
        raise InvalidInput("例如:/role 王干部 专班负责人 项目一专班")
    person = people_service.find_person(ctx.session, words[0])
    role, team = _role_and_team(ctx, words[1:])
    people_service.set_role(ctx.session, ctx.now, ctx.person, person, role, team)
    return Reply(f"{person.name} 现为{role_label(person)}{',' + person.team.name if person.team else ''}。")
