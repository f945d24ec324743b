"""Understanding plain Chinese: a typed message -> an intent with slots -> one handler.

Deterministic and local: rules over the words people use in the office, the name index
(``bot.services.lookup.NAMES``: names, aliases, pinyin, typos), strict numbers
(``bot.numerals``) and dates (``bot.dateparse``). No model, no scan over all tasks: names are
found by dictionary lookups of the message's substrings.

``classify(ctx, text)`` returns an ``Understanding`` (intent + slots) or None;
``answer(ctx, text)`` runs the intent's handler from the one table ``INTENTS``
(intent -> handler, the permission ``Action`` it needs). Dispatch (``handlers.core``) calls
``answer`` for free text after commands and dialogues, before the plain name lookup.

Memory per chat (``ChatMemory`` via ``Ctx.memory``): the last list (filter, page, ids) for
"下一页 / 第3页 / 第二个", and the last topic (task, indicator, team, list) with its time, so a
short follow-up ("那去年呢", "谁负责", "催一下") refers to it for ``TOPIC_MINUTES``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional

from sqlalchemy import func, select

from bot.messages import Reply
from bot.models import (
    ROLE_CADRE,
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    ExtensionRequest,
    Indicator,
    Instruction,
    Person,
    Task,
    Team,
)
from bot.numerals import parse_progress, strip_span
from bot.permissions import Action, allowed, refusal
from bot.services import indicators as indicator_service
from bot.services import personal, ranking, reminder_rules, task_lists
from bot.services import tasks as task_service
from bot.services.charts import indicator_series
from bot.services.errors import NotFound, PermissionDenied
from bot.services.lookup import KIND_INDICATOR, KIND_TASK, NAMES
from bot.services.text import fmt_number, fmt_signed
from handlers import acts, commands, proposals, ranks, reminders, reviews
from handlers import nlu_text as T
from handlers.context import Ctx


@dataclass
class Understanding:
    intent: str
    slots: dict = field(default_factory=dict)


# ---------------------------------------------------------------- word lists

_PAGE = re.compile(
    r"^(?:再|那)?(?P<next>下一?页|下页|更多|还有吗|还有呢|后面的?|往后翻|继续|再来)吧?$"
    r"|^(?P<prev>上一?页|上页|前一页|往前翻|前面的?)吧?$"
    r"|^(?:翻到|回到|看|去)?第\s*(?P<n>\d+|[一二三四五六七八九十]+)\s*页吧?$")
_HELP = re.compile(r"^(?:帮助|help|用法|怎么用|这个怎么用|能查哪些东西?|能查什么|能干什么|能做什么|"
                   r"不会用.*|.*教一下|怎么(?:报|审核|申请|查|催|用|交办|批示)\S*|[?？]+)$", re.I)
_REMIND_SET = re.compile(r"(?:每天|每日|提醒时间|提醒改|改到|改成|推送|关闭提醒|关掉提醒|别提醒|不要提醒|"
                         r"恢复提醒|开启提醒|打开提醒|别给我发提醒|周末)")
_SNOOZE = re.compile(r"稍后|等会|等一会|过会|晚点|再提醒|提醒我|再说")
_MY_DAY = re.compile(r"(?:今天|今日|早上好|一早).*(?:要我|我要|我有啥|我有什么|干啥|干什么|处理|关注|看的|待办|要报)"
                     r"|待办|需要我处理|要我处理|批示给我|今天干啥|今天我")
_RANK = re.compile(r"排名|排行|排个名|排第几|最落后|进度最慢|最慢的|倒数")
_URGE = re.compile(r"催办|催一下|催促|催他|催她|催|督促|抓紧")
_INSTRUCT = re.compile(r"批示")
_REVIEW = re.compile(r"审核通过|通过吧?$|^通过|不通过|退回|驳回|同意.*办结|办结.*同意")
_ASSIGN = re.compile(r"^(?:交办|新建事项|新任务|新建任务|安排|派)")
_EXTEND = re.compile(r"延期|延到|延至|往后推|推迟|推到|延后")
_EXTENSION_LIST = re.compile(r"延期申请|申请延期的|延期的申请")
_COUNT = re.compile(r"几个|几项|几件|多少个|多少项|多少件|多少|一共|总共|有几|几条")
_CARD_WORDS = re.compile(r"进展|进度$|情况|怎么样|咋样|如何|到哪|谁|负责|卡片|节点(?![::])|截止|到期|什么时候|上次|"
                         r"推进得|准备得|[?？吗呢]|什么|哪|怎么|多少了|看看|看下")
_UPDATE_MARK = re.compile(r"问题|下一步|下步|说明[::]|已经|在做|在铺|施工|完成|调试|报审|在办|在谈|起草|协调|"
                          r"对接|拜访|入驻|腾空|查处|联调|公示|进场|封顶|确定|意向|新增")
_TEAM_OWN = re.compile(r"我们专班|咱们专班|咱专班|本专班|我们组|咱们组|咱组|组里|我们的专班")
_MINE = re.compile(r"我还有|我的任务|我的事项|我的事|我手上|我负责的|我自己负责|我名下|我的红灯|我的黄灯|"
                   r"我有啥|我有哪些|我的")
_SUMMARY = re.compile(r"情况|汇总|咋样|怎么样|整体|红黄绿|排第几|最近|概况|总体")
_LIST_NOUN = re.compile(r"事项|任务|清单|手上|有哪些|列一下")

LIST_RULES: list[tuple[str, re.Pattern]] = [
    ("extension", _EXTENSION_LIST),
    ("awaiting_review", re.compile(r"待审核|待审|要我审|需要审核|待我审核|等审核")),
    ("unsigned", re.compile(r"没签收|未签收|还没签收|待签收|签收")),
    ("unreported", re.compile(r"没报|未报|还没报|没有报|不报")),
    ("behind", re.compile(r"落后.{0,3}序时|慢于序时|序时进度.{0,4}(?:落后|慢)")),
    ("red", re.compile(r"红灯|亮红|红色")),
    ("yellow", re.compile(r"黄灯|亮黄|黄色")),
    ("green", re.compile(r"绿灯|亮绿")),
    ("overdue", re.compile(r"逾期|超期|过期|拖了|拖期|延误|超时")),
    ("nextweek", re.compile(r"(?:下周|下礼拜|下星期|下个星期).{0,4}(?:到期|要交|截止|要报|的)")),
    ("week", re.compile(r"(?:这周|本周|这礼拜|本礼拜|这星期|这个星期).{0,4}(?:到期|要交|截止|要报|的)")),
    ("done", re.compile(r"^(?:已经|已)?(?:完成|办结|销号)的")),
]


def _now_iso(ctx: Ctx) -> str:
    return ctx.now.isoformat()


def fresh_topic(ctx: Ctx) -> Optional[dict]:
    return ctx.fresh_topic()


def _topic_task(ctx: Ctx) -> Optional[int]:
    return ctx.topic_task()


_TEAMS = select(Team.id, Team.name)  # built once
_PEOPLE = select(Person.id, Person.name).where(Person.active.is_(True))


def _team_by_name(ctx: Ctx, text: str) -> Optional[Team]:
    if "专班" not in text and "组" not in text:
        return None
    text = T.team_words(text)
    for id_, name in ctx.session.execute(_TEAMS):
        if name in text:
            return ctx.session.get(Team, id_)
    return None


def _people_in(ctx: Ctx, text: str) -> list[Person]:
    cached = ctx._people_names
    if cached is None:
        cached = ctx._people_names = [(id_, name) for id_, name in ctx.session.execute(_PEOPLE)]
    return [ctx.session.get_one(Person, id_) for id_, name in cached if name in text]


# ---------------------------------------------------------------- classify

def classify(ctx: Ctx, raw: str) -> Optional[Understanding]:
    text = T.clean(raw)
    if not text:
        return None
    flat = text.replace(" ", "")
    role = ctx.person.role if ctx.person else ROLE_CADRE
    if re.search(r"出处|来源|原文", flat):
        return None  # the plain lookup shows the source sentence in full

    m = _PAGE.match(flat)
    if m:
        if m.group("next"):
            return Understanding("page", {"page": "next"})
        if m.group("prev"):
            return Understanding("page", {"page": "prev"})
        return Understanding("page", {"page": T.small_number(m.group("n")) or 1})
    if _HELP.match(flat):
        return Understanding("help", {"topic": flat})
    if ("提醒" in flat or "推送" in flat) and _REMIND_SET.search(flat) and not _people_in(ctx, flat):
        return Understanding("remind_settings", {"text": flat})
    if _SNOOZE.search(flat) and not _URGE.search(flat) and not _people_in(ctx, flat):
        when = T.find_snooze(text, ctx.now, reminder_rules.make_calendar(ctx.app.config))
        if when is not None or "提醒" in flat:
            return Understanding("snooze", {"until": when[0].isoformat() if when else None,
                                            "phrase": when[1] if when else None})
    if _MY_DAY.search(flat) and not _INSTRUCT.search(flat.replace("批示给我", "")):
        return Understanding("my_day", {})

    index = NAMES.get(ctx.session)
    found = T.mentions(index, text)
    tasks = T.of_kind(found, KIND_TASK)
    indicators = T.of_kind(found, KIND_INDICATOR)
    team = _team_by_name(ctx, flat)
    people = _people_in(ctx, flat)

    def task_slot() -> Optional[int]:
        refs = T.distinct_refs(tasks)
        if len(refs) == 1:
            return refs[0][1]
        if not refs:
            match = NAMES.find(ctx.session, _strip_words(flat, people, team), kinds={KIND_TASK})
            if match.best:
                return match.best[1]
        return None

    # instructions for the 督办 cycle: confirmed before they act (handlers.acts)
    if _INSTRUCT.search(flat):
        body = (re.sub(r"^.*?批示(?:一下)?[::]?\s*", "", text) if not flat.startswith("批示")
                else re.sub(r"^批示\s*", "", text))
        for m2 in tasks:
            body = body.replace(text[m2.start:m2.end], "")
        body = re.sub(r"作为批示发下去|发下去|^[::\s]+", "", body).strip(" ::")
        if flat.endswith("作为批示发下去") and tasks:
            body = text[tasks[-1].end:].replace("作为批示发下去", "").strip()
        return Understanding("instruct", {"task": task_slot() or _topic_task(ctx), "text": body})
    if _RANK.search(flat) and not (team and "排第几" in flat):
        what = "tasks" if re.search(r"事项|任务", flat) else "teams"
        kind = "项目专班" if "项目专班" in flat else "招商专班" if "招商专班" in flat else None
        return Understanding("ranking", {"what": what, "kind": kind,
                                         "position": bool(re.search(r"排第几|我们|咱们|本专班", flat))})
    if _URGE.search(flat) or ("提醒" in flat and people):
        return Understanding("urge", {"task": task_slot() or _topic_task(ctx),
                                      "person": people[0].name if people else None,
                                      "all": flat.startswith("都")})
    if _REVIEW.search(flat) and not re.search(r"待审|要我审|怎么审", flat):
        decision = "退回" if re.search(r"退回|不通过|驳回", flat) else "通过"
        reason = ""
        if decision == "退回":
            rest = text
            for m2 in tasks:
                rest = rest.replace(text[m2.start:m2.end], " ")
            rest = re.sub(r"退回|不通过|驳回|审核", " ", rest)
            reason = re.sub(r"^[\s,,::。]+|[\s,,。]+$", "", rest)
            reason = re.sub(r"^(?:理由|原因)[是::\s]*", "", reason)
        pick = re.match(r"^第(\d+|[一二三四五六七八九十])个", flat)
        task_id = task_slot()
        number = None
        if task_id is None and pick:
            ids = ctx.memory().get("list", {}).get("ids", [])
            number = T.small_number(pick.group(1)) or 0
            task_id = ids[number - 1] if 0 < number <= len(ids) else None
        return Understanding("review", {"task": task_id, "decision": decision, "reason": reason,
                                        "pick": f"清单第{number}个" if number and task_id is None else None})
    if _ASSIGN.match(flat):
        return Understanding("assign", _assign_slots(ctx, text, people, team))
    if _EXTENSION_LIST.search(flat) and not tasks:
        return Understanding("list", {"which": "extension", "scope": "mine" if "我" in flat else None,
                                      "count": bool(_COUNT.search(flat))})
    if _EXTEND.search(flat):
        task_id = task_slot() or _topic_task(ctx)
        day = T.find_date(text, ctx.now, reminder_rules.make_calendar(ctx.app.config))
        return Understanding("extend", {"task": task_id, "date": day[0].isoformat() if day else None})

    # lists
    which = None
    for name, pattern in LIST_RULES:
        if pattern.search(flat):
            which = name
            break
    days = T.day_window(flat)
    if which is None and not tasks and re.search(r"快到期|临期|即将到期|马上到期", flat):
        which, days = "due", days or ctx.app.config.lists.due_days_default
    if which is None and days is None and not tasks and re.search(r"到期|要交|截止", flat):
        found_day = T.find_date(text, ctx.now, reminder_rules.make_calendar(ctx.app.config))
        if found_day and found_day[0] >= ctx.now.date():
            which, days = "due", (found_day[0] - ctx.now.date()).days
    if which is None and days is not None and re.search(r"到期|要交|截止|要报|的|事项|任务", flat):
        which = "due"
    if which == "done" and tasks:
        which = None
    if which is not None and not tasks:
        scope = None
        if _TEAM_OWN.search(flat):
            scope = "team"
        elif _MINE.search(flat) and role != ROLE_LEADER:
            scope = "mine"
        return Understanding("list", {"which": which, "days": days, "scope": scope,
                                      "team": team.name if team else None,
                                      "count": bool(_COUNT.search(flat))})
    if team is not None or _TEAM_OWN.search(flat):
        if team is None:
            team = ctx.person.team if ctx.person else None
        if team is not None and _LIST_NOUN.search(flat) and not _SUMMARY.search(flat):
            return Understanding("list", {"which": "team", "team": team.name, "count": bool(_COUNT.search(flat))})
        if team is not None and not tasks:
            return Understanding("team_summary", {"team": team.name})
    if _MINE.search(flat) and not tasks and not indicators:
        return Understanding("list", {"which": "mine", "count": bool(_COUNT.search(flat))})

    # a follow-up on the last list: "第二个 报六成", "一共几个"
    last_list = ctx.memory().get("list")
    pick = re.match(r"^第(\d+|[一二三四五六七八九十])个", flat)
    if pick and last_list:
        k = T.small_number(pick.group(1)) or 0
        ids = last_list.get("ids", [])
        if 0 < k <= len(ids):
            rest = flat[pick.end():]
            return _update_or_card(ctx, rest, ids[k - 1], role, explicit=True)
    topic = fresh_topic(ctx)
    if not found and topic and topic.get("kind") == "list" and _COUNT.search(flat) and len(flat) <= 8:
        return Understanding("list", {"which": topic["which"], "arg": topic.get("arg"), "count": True})

    early = parse_progress(text)
    strong = early.ok and early.kind in ("percent", "cheng") or early.reason in ("malformed", "not_a_number",
                                                                               "out_of_range", "decimal")
    if strong and not tasks:
        return _no_name(ctx, text, index, role)
    if indicators and not tasks and re.search(r"到哪|推进|进展", flat):
        around = _around(index, indicators[0].key)
        if len(around) > 1:
            return Understanding("ambiguous", {"ask": "task", "candidates": around, "head": indicators[0].key})
        if around:
            return Understanding("task_card", {"task": around[0]})

    # figures: comparisons and questions
    comparing = re.search(r"同比|去年|比去年|增长|增幅|涨|多了|增加|几个点|哪个.*快|最快|上年", flat)
    if indicators and not tasks or (indicators and comparing):
        refs = T.distinct_refs(indicators)
        if comparing:
            return Understanding("indicator_compare", {"indicators": [r[1] for r in refs],
                                                       "fastest": bool(re.search(r"哪个|最快", flat)),
                                                       "key": indicators[0].key})
        return Understanding("indicator_query", {"indicator": refs[0][1], "key": indicators[0].key,
                                                 "also": [r[1] for r in refs[1:]]})
    if comparing and re.search(r"哪个.*(?:快|高)|最快", flat):
        return Understanding("indicator_compare", {"indicators": [], "fastest": True,
                                                   "category": "经济运行" if "经济" in flat else None})

    # tasks: a report in words or a question about one
    refs = T.distinct_refs(tasks)
    if refs:
        if len(refs) > 1:
            return Understanding("ambiguous", {"ask": "task", "candidates": [r[1] for r in refs]})
        return _update_or_card(ctx, _rest(text, tasks), refs[0][1], role, name_part=_name_part(text, tasks))
    # no name written exactly: a typo, pinyin or part of a name, or the last topic
    if early.reason != "none" or early.ok:
        return _no_name(ctx, text, index, role)
    task_id = _topic_task(ctx)
    if task_id is not None:
        if re.search(r"谁|负责|截止|到期|哪天|什么时候|节点|跟", flat) and len(flat) <= 10:
            return Understanding("task_card", {"task": task_id})
        if re.match(r"^(?:说明|问题|下一?步)", flat):
            return _update_or_card(ctx, text, task_id, role, explicit=True)
    if topic and topic.get("kind") == "indicator" and len(flat) <= 10 and re.search(
            r"去年|同比|增长|多了|涨|上年", flat):
        return Understanding("indicator_compare", {"indicators": [topic["id"]], "fastest": False})
    # the words may be part of several names: "制药那个项目", "那个安全的事"
    core = re.sub(r"那个|这个|项目|的|事情?|怎么样了?|咋样|到哪了?|进展|情况|什么", "", flat)
    if 2 <= len(core) <= 6 and not index.exact.get(core):
        around = _around(index, core)
        if len(around) > 1:
            return Understanding("ambiguous", {"ask": "task", "candidates": around, "head": core})
    return None


def _no_name(ctx: Ctx, text: str, index, role: str) -> Understanding:
    """A figure but no task written exactly: the topic, a typo or pinyin, or candidates."""
    body = re.sub(r"^(?:报进展|报一下|报个进度|报个|报|进展|更新)\s*", "", text)
    parsed = parse_progress(body)
    head = _head(body, parsed)
    if not head:
        task_id = _topic_task(ctx)
        if task_id is not None:
            return _update_or_card(ctx, body, task_id, role, explicit=True)
        return Understanding("ambiguous", {"ask": "task", "candidates": []})
    ref = T.exact_task(index, head)
    if ref is not None:
        return _update_or_card(ctx, body[len(head):], ref[1], role)
    match = NAMES.find(ctx.session, head, kinds={KIND_TASK})
    candidates = [r[1] for r in (match.candidates if match.how == "ambiguous" else [])] or _around(index, head)
    if not candidates:
        candidates = _around(index, head[:2]) if len(head) > 2 else []
    if match.best and match.best[1] not in candidates:
        candidates.append(match.best[1])
    return Understanding("ambiguous", {"ask": "task", "candidates": candidates, "head": head,
                                       "draft": _draft(body[len(head):], parse_progress(body[len(head):]), role)})


def _strip_words(flat: str, people: list[Person], team: Optional[Team]) -> str:
    for p in people:
        flat = flat.replace(p.name, "")
    if team is not None:
        flat = flat.replace(team.name, "")
    return re.sub(r"^@|给|发个|让|催办|催一下|催|抓紧|提醒|报一下|那个|的进度|进度|目标$", "", flat) or flat


def _around(index, head: str) -> list[int]:
    """Tasks whose names contain ``head`` (also a single character like 浜), at most 8."""
    comp, _ = T.compact(head)
    comp = re.sub(r"(?:整治|项目|进度|那个)$", "", comp) or comp
    if not comp:
        return []
    refs = index.names_around(comp, kind=KIND_TASK, limit=9)  # 9: one more than can be offered
    ids: dict[int, None] = {}  # in order, without repeats
    for kind, id_ in refs:
        if kind == KIND_TASK:
            ids[id_] = None
            if len(ids) > 8:  # too many to offer: stop scanning
                return []
    return list(ids)


_NAME_CUT = re.compile(r"\s|进度|进展|现在|目前|百分之|问题|下一?步|今天|由|从|不是|约|大概|已|\d|"
                       r"[一二两三四五六七八九十]+成|[一二三四五六七八九]十")


def _head(text: str, parsed) -> str:
    """The words before the figure or the first space: where the task's name is written."""
    end = len(text)
    if parsed.span:
        end = min(end, parsed.span[0])
    m = _NAME_CUT.search(text, 1)
    if m:
        end = min(end, m.start())
    return text[:end].strip()


def _name_part(text: str, tasks) -> str:
    """The word the task name sits in (for leftover words: 纳图电气项目二期)."""
    m = tasks[0]
    start, end = m.start, m.end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    cut = _NAME_CUT.search(text, end)
    end = cut.start() if cut else len(text)
    return text[start:end]


def _rest(text: str, tasks) -> str:
    for m in sorted(tasks, key=lambda m: -m.start):
        text = text[:m.start] + " " + text[m.end:]
    return text


_ORPHANS = {"了", "的", "到了", "完成", "进度", "百分之", "进度提到", "提到", "达到", "已达", "进度到了"}
_FILLER_NOTE = re.compile(r"^(?:报进展|报一下|报个进度|报|进展|更新|项目|进度|现在|目前|那个)\s*")
# free text is looser than the one-line /update form (bot.services.tasks.split_problems):
# "问题 人手不够", "下一步验收" without a colon are read too
_PROBLEM = re.compile(r"(?:问题|困难)\s*[::是]?\s*(?P<t>.+?)(?=\s*(?:下一?步|$))")
_NEXT = re.compile(r"(?:下一步|下步)(?:计划)?\s*[::]?\s*(?P<t>.+)$")


def _draft(rest: str, parsed, role: str) -> dict:
    note_text = strip_span(rest, parsed.span) if parsed.ok and parsed.span and parsed.span[1] <= len(rest) else rest
    draft: dict = {"progress": parsed.value if parsed.ok else None}
    m = _NEXT.search(note_text)
    if m:
        draft["next_steps"] = m.group("t").strip()
        note_text = note_text[:m.start()]
    m = _PROBLEM.search(note_text)
    if m:
        draft["problems"] = m.group("t").strip()
        note_text = note_text[:m.start()]
    note = note_text.strip()
    for _ in range(3):
        note = _FILLER_NOTE.sub("", note).strip(" ,,::")
    note = re.sub(r"\s*(?:进度|百分之)\s*$", "", note).strip()
    note = re.sub(r"^(?:进度|进展)\s*", "", note).strip()
    # words left over around the figure ("进度到了八成", "完成百分之八十", "一半了")
    words = [w for w in note.split() if w not in _ORPHANS]
    note = " ".join(words)
    note = re.sub(r"^(?:了|的|到了)\s*|\s*(?:进度提到|提到|进度|百分之)$", "", note).strip()
    if note:
        draft["note"] = note
    return draft


def _update_or_card(ctx: Ctx, rest: str, task_id: int, role: str, explicit: bool = False,
                    name_part: str = "") -> Understanding:
    task = ctx.session.get(Task, task_id)
    mask = [task.name, *task.aliases] if task else []
    parsed = parse_progress(rest, mask=mask)
    flat = rest.replace(" ", "")
    can_report = role in (ROLE_TEAM_LEAD, ROLE_CADRE) or (ctx.person is not None and ctx.person.is_admin
                                                           and role != ROLE_LEADER)
    if not parsed.ok and parsed.reason != "none":
        return Understanding("ambiguous", {"ask": "number", "task": task_id, "why": parsed.ask})
    question = bool(_CARD_WORDS.search(flat)) and not re.search(r"问题|下一?步|说明[::]", flat)
    leftover = _leftover(name_part, task)
    if leftover and T.exact_task(NAMES.get(ctx.session), name_part) == (KIND_TASK, task_id):
        leftover = ""  # 纳图电器: the same pinyin as the name
    if parsed.ok and not question or (can_report and not question and (
            _UPDATE_MARK.search(flat) or explicit) and flat.strip()):
        draft = _draft(rest, parsed, role)
        if leftover:
            return Understanding("ambiguous", {"ask": "task", "candidates": [task_id], "head": name_part,
                                               "draft": draft})
        return Understanding("update", {"task": task_id, **draft})
    if leftover and not question and flat.strip():
        return Understanding("ambiguous", {"ask": "task", "candidates": [task_id], "head": name_part})
    return Understanding("task_card", {"task": task_id})


_HARMLESS = re.compile(r"项目|进度|进展|整治|工作|任务|事项|那个|的|目标|计划|建设|情况|这个")


def _leftover(name_part: str, task: Optional[Task]) -> str:
    """Words in the written name that no name or alias of the task explains ("二期")."""
    if not name_part or task is None:
        return ""
    comp, _ = T.compact(name_part)
    for key in sorted([task.name, *task.aliases], key=len, reverse=True):
        kc, _ = T.compact(key)
        if kc and kc in comp:
            comp = comp.replace(kc, "", 1)
            break
    return _HARMLESS.sub("", comp)


def _assign_slots(ctx: Ctx, text: str, people: list[Person], team: Optional[Team]) -> dict:
    body = re.sub(r"^(?:交办给|交办一个事|交办个事情?|交办|新建事项|新建任务|新任务|安排)\s*[::]?\s*", "", text)
    found = T.find_date(body, ctx.now, reminder_rules.make_calendar(ctx.app.config))
    window = T.day_window(body.replace(" ", ""))
    deadline = found[0] if found else (ctx.now.date() + timedelta(days=window) if window else None)
    if found:
        body = body[:found[1]] + " " + body[found[2]:]
    for p in people:
        body = body.replace(p.name, " ")
    body = T.team_words(body)
    if team is not None:
        body = body.replace(team.name, " ")
    body = re.sub(r"[\d一二三四五六七八九十两]+天内|本周内|牵头|完成|给|之?前(?=\s|$)", " ", body)
    name = max(re.split(r"[\s,,]+", body.strip()), key=len, default="").strip()
    return {"name": name or None, "owner": people[0].name if people else None,
            "team": team.name if team else None, "deadline": deadline.isoformat() if deadline else None}


# ---------------------------------------------------------------- handlers

def do_page(ctx: Ctx, u: Understanding) -> Reply:
    last = ctx.memory().get("list")
    if not last:
        return Reply("还没有打开清单。先问一个清单,例如:红灯有哪些、逾期的、我的任务。")
    page = last.get("page", 1)
    target = page + 1 if u.slots["page"] == "next" else page - 1 if u.slots["page"] == "prev" else u.slots["page"]
    if target < 1:
        return Reply("已经是第一页了。")
    pages = last.get("pages", 1)
    if target > pages:
        return Reply(f"已经是最后一页了(共{pages}页)。")
    return commands.list_reply(ctx, last["which"], last.get("arg"), target)


def do_list(ctx: Ctx, u: Understanding) -> Reply:
    s = u.slots
    which, arg = s["which"], s.get("arg")
    if which == "due":
        arg = str(s.get("days") or 7)
    if which in ("team",) or (s.get("team") and which not in ("team",)):
        if which == "team":
            arg = s.get("team")
        elif s.get("team"):
            # a named team with a filter: the team's list (the filter words are shown first)
            team = s["team"]
            result = task_lists.list_tasks(ctx.session, ctx.now, ctx.person, which, None, 1, 10_000)
            rows = [t for t, _ in result.rows if t.team is not None and t.team.name == team]
            return Reply(f"{team}的{result.title}:共{len(rows)}项。" + ("\n" + "\n".join(
                f"· {t.name}" for t in rows[:8]) if rows else ""))
    if s.get("scope") and which not in ("mine", "team"):
        which = f"{which}+{s['scope']}"
    reply = commands.list_reply(ctx, which, arg, 1)
    if s.get("count"):
        last = ctx.memory().get("list", {})
        total, title = last.get("total", 0), last.get("title", "事项")
        reply.text = f"{title}:一共{total}项。\n" + reply.text
    return reply


def do_team(ctx: Ctx, u: Understanding) -> Reply:
    team = ctx.session.scalars(select(Team).where(Team.name == u.slots["team"])).one()  # a name classify found
    counts = task_lists.light_counts(ctx.session, ctx.now, team.id)
    lead = ctx.session.scalar(select(Person).where(Person.team_id == team.id, Person.role == ROLE_TEAM_LEAD))
    total = sum(counts.values())
    names = {"red": "🔴红", "yellow": "🟡黄", "green": "🟢绿", "grey": "⚪未报", "done": "✅完成", "paused": "⏸暂停"}
    lines = [f"【{team.name}】共{total}项事项" + (f",负责人:{lead.name}" if lead else "")]
    if total:
        lines.append(" ".join(f"{names[c]}{counts[c]}" for c in names if counts.get(c)))
    today = ctx.now.date()
    overdue = ctx.session.scalar(select(func.count()).select_from(Task).where(
        Task.team_id == team.id, Task.status == "active", Task.deadline < today)) or 0
    lines.append(f"逾期:{overdue}项")
    upcoming = ctx.session.execute(select(Task.name, Task.deadline).where(
        Task.team_id == team.id, Task.status == "active", Task.deadline >= today)
        .order_by(Task.deadline).limit(3)).all()
    if upcoming:
        lines.append("最近节点:" + ";".join(f"{n} {d:%m-%d}" for n, d in upcoming))
    scores = ranking.compute(ctx.session, ctx.now, ctx.app.config.ranking)
    place = next((sc for sc in scores if sc.team_id == team.id), None)
    if place is not None:
        lines.append(f"考核排名:第{place.rank}名(共{len(scores)}个专班),{place.score:.1f}分")
    lines.append(f"看清单发:/tasks {team.name}")
    ctx.remember(topic={"kind": "team", "id": team.id, "at": _now_iso(ctx)})
    return Reply("\n".join(lines))


def do_indicator(ctx: Ctx, u: Understanding) -> Reply:
    answer = indicator_service.answer_by_id(ctx.session, u.slots["indicator"])
    if answer is None:
        return Reply("这个指标已不存在。发 /kpi 看全部指标。")
    reply = commands.indicator_reply(ctx, answer.indicator, False, answer)
    related = [i for i in u.slots.get("also", []) if i != answer.indicator.id]
    key = u.slots.get("key") or ""
    if len(key) >= 3:
        index = NAMES.get(ctx.session)
        for kind, id_ in index.names_around(key, kind=KIND_INDICATOR, limit=4):
            if kind == KIND_INDICATOR and id_ != answer.indicator.id and id_ not in related:
                related.append(id_)
    for id_ in related[:3]:
        other = indicator_service.answer_by_id(ctx.session, id_)
        if other and other.latest is not None:
            reply.text += "\n同一事还有:" + indicator_service.one_line(other).lstrip("· ")
    ctx.remember(topic={"kind": "indicator", "id": answer.indicator.id, "at": _now_iso(ctx)})
    return reply


def _compare_lines(ctx: Ctx, indicator: Indicator) -> list[str]:
    answer = indicator_service.answer_by_id(ctx.session, indicator.id)
    val = answer.latest if answer is not None else None
    lines = [f"📊 {indicator.name}"]
    if val is None or val.value is None:
        lines.append("报告没有给出数值,无法比较。")
        return lines
    head = f"{indicator_service.fmt_value(val.value, indicator.unit, val.qualifier)}({val.period_label})"
    if val.yoy_pct is None:
        lines.append(head + ";报告没有给出同比,算不出去年的数。")
        return lines
    lines.append(head + f",同比{fmt_signed(val.yoy_pct)}")
    series = indicator_series(ctx.session, indicator)
    earlier = next((p for p in series.points if p.derived), None)
    if earlier is not None and indicator.unit not in ("%",):
        diff = val.value - earlier.value
        lines.append(f"上年同期约{fmt_number(earlier.value)}{indicator.unit},"
                     f"{'多了' if diff >= 0 else '少了'}约{fmt_number(abs(diff))}{indicator.unit}(推算)")
        lines.append(series.derived_note or "")
    if indicator.target:
        lines.append(f"占全年目标{fmt_number(indicator.target)}{indicator.unit}的"
                     f"{fmt_number(val.value * 100 / indicator.target, 1)}%")
    return [line for line in lines if line]


def do_compare(ctx: Ctx, u: Understanding) -> Reply:
    ids = u.slots.get("indicators") or []
    if u.slots.get("fastest") or len(ids) > 1:
        if len(ids) > 1:
            pool = [a for i in ids if (a := indicator_service.answer_by_id(ctx.session, i)) is not None]
            title = "同比增长比较"
        else:
            category = u.slots.get("category") or "经济运行"
            pool = indicator_service.by_category(ctx.session, category)
            title = f"{category}指标同比增长,从快到慢"
        rows = [(a.indicator, a.latest, a.latest.yoy_pct) for a in pool
                if a and a.latest is not None and a.latest.yoy_pct is not None]
        rows.sort(key=lambda row: -row[2])
        if not rows:
            return Reply("报告没有给出这些指标的同比,比不了。")
        lines = [title + ":"] + [f"{i + 1}. {ind.name} {fmt_signed(yoy)}"
                                 f"({indicator_service.fmt_value(val.value, ind.unit, val.qualifier)})"
                                 for i, (ind, val, yoy) in enumerate(rows[:8])]
        lines.append(f"增长最快:{rows[0][0].name}")
        return Reply("\n".join(lines))
    if not ids:
        return Reply("比哪个指标?例如:财政收入比去年多多少。")
    indicator = ctx.session.get_one(Indicator, ids[0])
    ctx.remember(topic={"kind": "indicator", "id": indicator.id, "at": _now_iso(ctx)})
    return Reply("\n".join(_compare_lines(ctx, indicator)))


def do_card(ctx: Ctx, u: Understanding) -> Reply:
    task = task_service.get_task_for_card(ctx.session, u.slots["task"])
    if task is None:
        return Reply("这个事项已不存在。发 /tasks 看全部事项。")
    ctx.remember(topic={"kind": "task", "id": task.id, "at": _now_iso(ctx)})
    return commands.task_reply(ctx, task)


def do_update(ctx: Ctx, u: Understanding) -> Reply:
    task = ctx.session.get_one(Task, u.slots["task"])
    draft = {k: u.slots.get(k) for k in ("progress", "note", "problems", "next_steps") if u.slots.get(k) is not None}
    if not draft:
        ctx.remember(topic={"kind": "task", "id": task.id, "at": _now_iso(ctx)})
        return Reply(f"📌 {task.name}:要报什么?请写进度(如 65%)或一句进展说明。")
    try:
        return proposals.propose(ctx, task, draft)
    except PermissionDenied as error:
        team = task.team.name if task.team else "未分配专班"
        return Reply(f"“{task.name}”({team}):{error.message}")


def do_ambiguous(ctx: Ctx, u: Understanding) -> Reply:
    s = u.slots
    if s["ask"] == "number":
        task = ctx.session.get_one(Task, s["task"])
        ctx.remember(topic={"kind": "task", "id": task.id, "at": _now_iso(ctx)})
        return Reply(f"📌 {task.name}:进度是多少?{s['why']} 什么也没记录。")
    candidates = s.get("candidates") or []
    head = s.get("head")
    draft = s.get("draft") or {}
    if len(candidates) == 1 and head:
        name = NAMES.name_of(ctx.session, (KIND_TASK, candidates[0]))
        asked = f"没有事项叫“{head}”。是“{name}”吗?"
        if draft and ctx.person and allowed(ctx.person, Action.REPORT):
            return proposals.propose(ctx, None, draft, candidates, asked)
        return Reply(asked, buttons=[[ctx.button("📌 " + name, "t", candidates[0])]])
    if candidates:
        names = [NAMES.name_of(ctx.session, (KIND_TASK, c)) for c in candidates]
        asked = f"“{head or ''}”对应{len(names)}个事项,是哪个?" if head else "是哪个事项?"
        if draft and ctx.person and allowed(ctx.person, Action.REPORT):
            return proposals.propose(ctx, None, draft, candidates, asked)
        return Reply(asked, buttons=[[ctx.button("📌 " + n, "t", c)] for n, c in zip(names, candidates, strict=True)])
    if head:
        return Reply(f"没找到事项“{head}”,什么也没记录。请写事项全名,发 /tasks 看全部事项。")
    return Reply("是哪个事项?请写上事项名称,例如:纳图电气 65%。什么也没记录。")


def do_extend(ctx: Ctx, u: Understanding) -> Reply:
    if u.slots.get("task") is None:
        return Reply("申请哪个事项延期?请写:申请延期 事项名,例如:申请延期 纳图电气。")
    task = ctx.session.get_one(Task, u.slots["task"])
    reply = reminders.start_extension(ctx, task, u.slots.get("date"))
    return reply


def do_my_day(ctx: Ctx, u: Understanding) -> Reply:
    person = ctx.person
    today = ctx.now.date()
    lines = [f"📅 {person.name},今天({today:%m-%d})要看的:"]
    if person.role == ROLE_LEADER:
        counts = task_lists.light_counts(ctx.session, ctx.now)
        lines.append(f"🔴红灯{counts.get('red', 0)}项 · 🟡黄灯{counts.get('yellow', 0)}项")
        red = task_lists.list_tasks(ctx.session, ctx.now, person, "red", None, 1, 5)
        lines += [f"· {t.name}" for t, _ in red.rows]
        since = ctx.now - timedelta(days=7)
        changed = ctx.session.scalar(select(func.count()).select_from(Task).where(
            Task.last_update_at >= since)) or 0
        lines.append(f"本周有进展的事项:{changed}项。看周报发 /brief")
    elif person.role == ROLE_TEAM_LEAD:
        pending = ctx.session.scalar(select(func.count()).select_from(ExtensionRequest).join(
            Task, Task.id == ExtensionRequest.task_id).where(
            ExtensionRequest.status == "pending", Task.team_id == person.team_id)) or 0
        lines.append(f"待审批延期:{pending}项" + ("(发 延期申请 查看)" if pending else ""))
        silent = task_lists.list_tasks(ctx.session, ctx.now, person, "unreported+team", None, 1, 5)
        lines.append(f"7天以上未报进展:{silent.total}项")
        lines += [f"· {t.name}" + (f"({t.owner.name})" if t.owner else "") for t, _ in silent.rows]
    else:
        mine = task_lists.list_tasks(ctx.session, ctx.now, person, "due+mine", "7", 1, 5)
        overdue = task_lists.list_tasks(ctx.session, ctx.now, person, "overdue+mine", None, 1, 5)
        lines.append(f"7天内到期:{mine.total}项 · 已逾期:{overdue.total}项")
        lines += [f"· {t.name} 截止{t.deadline:%m-%d}" for t, _ in (overdue.rows + mine.rows) if t.deadline]
        open_instructions = ctx.session.scalar(select(func.count()).select_from(Instruction).join(
            Task, Task.id == Instruction.task_id).where(
            Instruction.answered_at.is_(None),
            (Task.owner_id == person.id) | (Task.team_id == person.team_id))) or 0
        lines.append(f"待回复的领导批示:{open_instructions}条")
        lines.append("报进展直接发:事项名 65% 说明")
    return Reply("\n".join(lines))


def do_help(ctx: Ctx, u: Understanding) -> Reply:
    role = ctx.person.role if ctx.person else ROLE_CADRE
    examples = {
        ROLE_LEADER: "财政收入多少、比去年多多少、红灯有哪些、逾期几个、项目一专班情况、今天有啥要我看的",
        ROLE_TEAM_LEAD: "我们专班的事项、谁还没报、延期申请、纳图电气 70% 设备进场、下一页",
        ROLE_CADRE: "纳图电气 65% 主体封顶、我的任务、这周到期的、纳图电气申请延期到9月底",
    }[role if role in (ROLE_LEADER, ROLE_TEAM_LEAD, ROLE_CADRE) else ROLE_CADRE]
    return Reply("怎么说都行,例如:" + examples + "\n发 /help 看全部命令。")


def do_remind(ctx: Ctx, u: Understanding) -> Reply:
    text = u.slots["text"]
    if re.search(r"关闭|关掉|别提醒|不要提醒", text):
        args = "关闭一周"
    elif re.search(r"恢复|开启|打开", text):
        args = "开启"
    elif "周末" in text:
        return Reply("周末和节假日本来就不发提醒(按工作日历)。\n" + personal.settings_text(
            ctx.person, ctx.app.config.reminders, ctx.now))
    else:
        when = T.find_snooze(re.sub(r"每天|每日|提醒时间|提醒|改到|改成|给我|推送|摘要|报进度|我", " ", text),
                             ctx.now, reminder_rules.make_calendar(ctx.app.config))
        if when is None:
            return Reply("几点提醒?例如:提醒时间改成8:30。")
        args = f"时间 {when[0]:%H:%M}"
    done = personal.change_settings(ctx.session, ctx.now, ctx.person, args)
    return Reply("✅ " + done)


def do_snooze(ctx: Ctx, u: Understanding) -> Reply:
    if not u.slots.get("phrase"):
        return Reply("几点再提醒?可以写 1小时、明早、下午3点。")
    row, when = personal.snooze(ctx.session, ctx.now, ctx.person, None, u.slots["phrase"],
                                reminder_rules.make_calendar(ctx.app.config))
    return Reply(f"🔔 好的,{when:%m-%d %H:%M} 再提醒你。")


# -- the 督办 cycle in words: checked now, confirmed with [确定] before acting (handlers.acts)

def _task(ctx: Ctx, task_id: int) -> Task:
    task = task_service.get_task_for_card(ctx.session, task_id)
    if task is None:  # removed since it was named (the ids come from the name index or a list)
        raise NotFound("这个事项已不存在。发 /tasks 看全部事项。")
    return task


def do_urge(ctx: Ctx, u: Understanding) -> Reply:
    s = u.slots
    if s.get("all"):
        ids = ctx.memory().get("list", {}).get("ids") or []
        if not ids:
            return Reply("催办哪些事项?先打开一个清单(例如:谁还没报),再发“都催一下”。")
        tasks = [task_service.get_task_for_card(ctx.session, i) for i in ids]
        return acts.propose_urge_many(ctx, [t for t in tasks if t is not None])
    if not s.get("task"):
        return Reply("催办哪个事项?请写事项名称,例如:催办 纳图电气。什么也没做。")
    to = acts.person_named(ctx, s.get("person"))
    return acts.propose_urge(ctx, _task(ctx, s["task"]), to)


def do_instruct(ctx: Ctx, u: Understanding) -> Reply:
    if not u.slots.get("task"):
        return Reply("批示哪个事项?请写:批示 事项名 内容,例如:批示 纳图电气 抓紧推进二期。什么也没记录。")
    return acts.propose_instruct(ctx, _task(ctx, u.slots["task"]), u.slots.get("text") or "")


def do_review(ctx: Ctx, u: Understanding) -> Reply:
    s = u.slots
    if not s.get("task"):
        if s.get("pick"):
            return Reply(f"清单上没有{s['pick']}。发“待审核的”看要审核的事项。")
        return reviews.pending_list(ctx, s["decision"])
    return acts.propose_review(ctx, _task(ctx, s["task"]), s["decision"], s.get("reason") or "")


def do_assign(ctx: Ctx, u: Understanding) -> Reply:
    s = u.slots
    return acts.propose_assign(ctx, s["name"], s.get("team"), s.get("owner"), s.get("deadline"))


def do_ranking(ctx: Ctx, u: Understanding) -> Reply:
    if u.slots.get("what") == "tasks":  # the slowest tasks: those most behind 序时进度
        return commands.list_reply(ctx, "behind", None, 1)
    return ranks.ranking_reply(ctx, u.slots.get("kind"), u.slots.get("position", False))


@dataclass(frozen=True)
class Intent:
    func: Callable[[Ctx, Understanding], Reply]
    action: Action


#: THE table: intent -> handler and the permission it needs (checked here, once).
INTENTS: dict[str, Intent] = {
    "page": Intent(do_page, Action.READ),
    "list": Intent(do_list, Action.READ),
    "team_summary": Intent(do_team, Action.READ),
    "indicator_query": Intent(do_indicator, Action.READ),
    "indicator_compare": Intent(do_compare, Action.READ),
    "task_card": Intent(do_card, Action.READ),
    "update": Intent(do_update, Action.REPORT),
    "ambiguous": Intent(do_ambiguous, Action.READ),
    "extend": Intent(do_extend, Action.REPORT),
    "my_day": Intent(do_my_day, Action.READ),
    "help": Intent(do_help, Action.ANYONE),
    "remind_settings": Intent(do_remind, Action.READ),
    "snooze": Intent(do_snooze, Action.READ),
    # 督办 cycle: each confirmed with [确定] before it acts (handlers.acts)
    "urge": Intent(do_urge, Action.URGE),
    "instruct": Intent(do_instruct, Action.INSTRUCT),
    "review": Intent(do_review, Action.REVIEW),
    "assign": Intent(do_assign, Action.ASSIGN),
    "ranking": Intent(do_ranking, Action.RANK),
}


def answer(ctx: Ctx, text: str) -> Optional[Reply]:
    """Understand ``text`` and answer it; None when nothing was understood."""
    understood = classify(ctx, text)
    if understood is None:
        return None
    intent = INTENTS[understood.intent]
    if not allowed(ctx.person, intent.action):
        raise PermissionDenied(refusal(intent.action))
    if understood.intent == "assign" and not understood.slots.get("name"):
        return Reply("交办什么事项?请写:交办 事项名 专班或责任人 截止日期,例如:交办 防汛物资清点 王干部 下周五前。")
    ctx.last_understanding = understood
    return intent.func(ctx, understood)


def side_request(ctx: Ctx, text: str) -> Optional[Reply]:
    """Inside a dialogue: a reminder-time or snooze phrase ("明早提醒我", "提醒时间改成8点")
    is answered as such and the dialogue stays open; None for anything else."""
    flat = T.clean(text).replace(" ", "")
    if "提醒" not in flat and "再说" not in flat:
        return None
    understood = classify(ctx, text)
    if understood is None or understood.intent not in ("snooze", "remind_settings"):
        return None
    reply = INTENTS[understood.intent].func(ctx, understood)
    reply.text += "\n(刚才的操作还在,可以接着发。)"
    return reply
