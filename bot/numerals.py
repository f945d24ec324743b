"""Strict reading of a progress figure (0–100 %) in a message typed by a person.

``parse_progress(text, mask=()) -> ProgressParse`` finds exactly one clear progress value in a
message, or says why not. It never guesses: anything that is not one clear whole number from
0 to 100 gives ``ok == False`` and a ``reason`` code so the caller asks back and records
nothing. Pure functions; nothing here reads the clock or the database.

Accepted forms (after a per-character NFKC, so full-width ``６５％`` is ``65%``):

* digits with a percent sign: ``65%``, ``65 ％``, ``６５％``; ``65.0%`` is 65;
* ``百分之六十``, ``百分之60``, ``百分百``/``百分之百`` (100);
* ``成``: ``六成`` 60, ``6成`` 60, ``六成五`` 65, ``七成半`` 75, ``十成`` 100;
* Chinese numerals: ``七十五``, ``八十五%``, ``九十九``, ``一百``. A bare Chinese numeral counts
  only with 十 or 百 in it and at least two characters (``七十五`` yes; ``三``, ``十`` no —
  they occur in too many words);
* a bare ASCII number 0–100 not attached to a unit (``纳图电气 65``);
* ``一半`` = 50;
* completion words (完成/已完成/全部完成/完工/竣工/办结, optional 了/啦) standing as a clause
  of their own, e.g. ``纳图电气 已完成`` = 100 (kind ``done``). Glued to other words in the same
  clause (``主体厂房已完成``) they may describe a sub-step: reason ``vague`` (ask "整项完成?").
  Negated (没完成), planned (争取完成) or asked (完成了吗) they are not progress. An explicit
  number elsewhere in the message wins over a completion word (``80%,一期已完成`` = 80).
* a change: ``从60%到70%``, ``由六成提到七成``, ``60提到70``, ``60改成70``, ``60→70``,
  ``不是60是70`` — the new value (70).
* a hedge around a clear number is accepted and flagged ``approximate``: ``约70%``,
  ``大概七成``, ``70%左右``, ``差不多80``.

Decisions (document for the caller):

* decimals (``65.5%``, ``六成点五``) are **asked**, never rounded: reason ``decimal``;
* bounds (``80%以上``, ``超过六成``, ``六成多``, ``不到一半``, ``接近70%``) and remainders
  (``还剩30%``, ``还差一成``, ``剩下一半``: what is left, not what is done) are asked: ``vague``;
* vague words without a number (过半, 大半, 一大半, 差不多, 基本完成, 快完成, 大部分, 接近尾声):
  ``vague``;
* two different candidate values (``60或70``, ``60还是70``, ``60-70``, ``60到70``, ``60、70``,
  ``目前六成,下周七成``): ``several``. Only an explicit change word (从/由…到, 提到, 改成…) picks one;
* digit groups or odd notations (``12,80%``, ``65,5%``, ``1e2%``, ``0x41%``, ``1.2.3``):
  ``malformed``; ``NaN``/``inf``/``∞``: ``not_a_number``; ``-5%``, ``负5%``, ``120%``,
  ``百分之一百二``: ``out_of_range``. A bare number over 100 (``2025``, ``5188``) is simply not a
  progress candidate;
* numbers that are clearly something else are skipped: followed by a unit or classifier
  (3.5亿元, 5个, 27家, 9点, 2025年, 3月15日, 15号, 二期, 3栋, 2号楼), after 第/周/星期/礼拜,
  dates and times (2025-12-31, 12/31, 12.31前, 9:30), identifiers glued to letters (A3, HW40),
  Chinese numerals before 前/后/假/节 (十一前 = National Day).

``mask`` lists strings (task names, aliases) blanked before parsing, so the ``75%`` in
``建筑垃圾资源化处置率达75%以上`` or the 14 in ``14件民生实事`` never count. Spans always refer to
the original ``text``; ``strip_span(text, span)`` gives the rest of the message (the note).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional

__all__ = [
    "ProgressParse", "parse_progress", "strip_span", "cn_to_int", "ASK_TEXT",
    "NONE", "VAGUE", "SEVERAL", "DECIMAL", "OUT_OF_RANGE", "MALFORMED", "NOT_A_NUMBER",
]

# reason codes
NONE = "none"                  # no progress figure at all (a note-only message, or a question)
VAGUE = "vague"                # 过半 / 差不多 / 80%以上 / 主体已完成: ask for a figure
SEVERAL = "several"            # two different values: ask which
DECIMAL = "decimal"            # 65.5%: ask for a whole number
OUT_OF_RANGE = "out_of_range"  # -5%, 120%
MALFORMED = "malformed"        # 12,80% 1e2% 0x41%
NOT_A_NUMBER = "not_a_number"  # NaN, inf

ASK_TEXT = {
    NONE: "没看到进度数字。请写 0–100 的整数,如 65%。",
    VAGUE: "进度说得不够具体,请给一个数字,如 65%。",
    SEVERAL: "有几个数字,不知道哪个是进度。请只写一个,如 65%。",
    DECIMAL: "进度请写整数,如 65%。",
    OUT_OF_RANGE: "进度要在 0–100% 之间。",
    MALFORMED: "这个数字看不懂,请写 0–100 的整数,如 65%。",
    NOT_A_NUMBER: "这不是一个数字,请写 0–100 的整数,如 65%。",
}

_PROBLEM_ORDER = (NOT_A_NUMBER, MALFORMED, OUT_OF_RANGE, DECIMAL)


@dataclass(frozen=True)
class ProgressParse:
    """Outcome of ``parse_progress``.

    ``ok`` → ``value`` (0–100) and ``span`` (start, end) into the original text are set and
    ``reason`` is None. Not ok → ``value``/``span`` are None and ``reason`` is one of the codes;
    ``candidates`` lists the values seen (for a "60 还是 70?" question).
    ``kind``: ``percent`` (%, 百分之), ``cheng`` (成), ``bare`` (number alone), ``half`` (一半),
    ``done`` (完成 words).
    """

    value: Optional[int]
    span: Optional[tuple[int, int]]
    reason: Optional[str]
    kind: Optional[str] = None
    approximate: bool = False
    candidates: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def ask(self) -> Optional[str]:
        """Short Chinese text to send back when not ok (None when ok)."""
        return None if self.reason is None else ASK_TEXT[self.reason]


def strip_span(text: str, span: Optional[tuple[int, int]]) -> str:
    """The message without the progress figure, whitespace and stray separators trimmed."""
    if span is None:
        return text.strip()
    rest = text[: span[0]] + " " + text[span[1]:]
    rest = re.sub(r"\s+", " ", rest)
    return rest.strip(" ,，、;；:：。")


# ------------------------------------------------------------------ Chinese numerals

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_CHARS = "零〇一二两三四五六七八九十百"


def cn_to_int(token: str) -> int:
    """Chinese numeral up to 999 → int: 七十五 75, 十五 15, 一百 100, 百 100, 一百零五 105,
    一百二 120, 二〇 20 (digit by digit). ValueError for anything else."""
    if not token or any(ch not in _CN_CHARS for ch in token):
        raise ValueError(token)
    if "十" not in token and "百" not in token:
        value = 0
        for ch in token:
            value = value * 10 + _CN_DIGITS[ch]
        return value
    total = 0
    rest = token
    if "百" in rest:
        before, _, rest = rest.partition("百")
        if len(before) > 1 or (before and before not in _CN_DIGITS) or "百" in rest:
            raise ValueError(token)
        total += (_CN_DIGITS[before] if before else 1) * 100
        if rest and "十" not in rest:  # 一百二 = 120, 一百零五 = 105
            if rest[0] in "零〇":
                rest = rest[1:]
                if len(rest) != 1 or rest not in _CN_DIGITS:
                    raise ValueError(token)
                return total + _CN_DIGITS[rest]
            if len(rest) != 1 or rest not in _CN_DIGITS:
                raise ValueError(token)
            return total + _CN_DIGITS[rest] * 10
        if rest.startswith(("零", "〇")):
            rest = rest[1:]
    if "十" in rest:
        before, _, after = rest.partition("十")
        if len(before) > 1 or len(after) > 1 or "十" in after:
            raise ValueError(token)
        if before and (before not in _CN_DIGITS or _CN_DIGITS[before] == 0):
            raise ValueError(token)
        if after and after not in _CN_DIGITS:
            raise ValueError(token)
        total += (_CN_DIGITS[before] if before else 1) * 10 + (_CN_DIGITS[after] if after else 0)
    elif rest:
        raise ValueError(token)
    return total


# ------------------------------------------------------------------ patterns

_UNITS = (
    "亿|万|千|元|块钱|美元|平方米|平米|平方|平|方|亩|公里|公顷|米|吨|㎡|"
    "个|家|人|名|位|件|项|条|篇|场|次|户|座|处|栋|幢|层|间|套|台|辆|批|轮|期|届|组|支|只|"
    "张|份|页|所|起|宗|块|节|课|倍|岁|年|月|日|号|天|周|星期|礼拜|季度|季|小时|点|时|分|秒|"
    "大|号楼|楼|标|类|种|k|K|m|km|kg"
)
_RE_UNIT_AFTER = re.compile(rf"\s?(?:{_UNITS})")
_RE_BEFORE_SKIP = re.compile(r"(?:第|周|星期|礼拜|No\.?|NO\.?|no\.?|#|编号)$")

_RE_NAN = re.compile(r"(?<![A-Za-z])(?:nan|inf|infinity|∞|无穷大?)(?![A-Za-z])", re.I)

_DATE_PATTERNS = [
    re.compile(r"\d{4}\s?[-/.年]\s?\d{1,2}(?:\s?[-/.月]\s?\d{1,2}\s?[日号]?)?"),
    re.compile(r"\d{1,2}\s?/\s?\d{1,2}"),
    re.compile(r"\d{1,2}[-.]\d{1,2}(?=\s?(?:前|之前|以前|日|号|截止|到期))"),
    re.compile(r"(?<=到|至|于)\s?\d{1,2}[-.]\d{1,2}(?!\d)"),
    re.compile(r"(?<=截止|截至)\s?\d{1,2}[-.]\d{1,2}(?!\d)"),
    re.compile(r"\d{1,2}\s?[:]\s?\d{2}"),
]

_NUM = rf"(?:0[xX][0-9A-Fa-f]+|\d+(?:[.,]\d+)*(?:[eE][+-]?\d+)?|[{_CN_CHARS}]+(?:点[{_CN_CHARS}]+)?)"
_RE_CANDIDATE = re.compile(
    rf"(?P<pre>百分之|百分)?\s?(?P<neg>[-−]|负)?(?P<num>{_NUM})"
    rf"(?:(?P<cheng>成)(?P<cheng2>半|[零一二三四五六七八九]|\d)?)?"
    rf"(?P<more>多)?\s?(?P<pct>%|‰)?(?P<more2>多)?"
)

_CHANGE_WORDS = (
    r"提到|提高到|提升到|升到|涨到|增加到|增长到|推进到|推到|达到|变为|变成|改为|改成|"
    r"调为|调到|调整为|调整到|更正为|更新为|->|→|=>"
)
_NUM_LOOSE = rf"(?:百分之|百分)?[\d{_CN_CHARS}.,]+(?:成[半零一二三四五六七八九]?)?\s?%?"
_RE_CHANGE_FROM_TO = re.compile(rf"(?:从|由)\s?(?P<a>{_NUM_LOOSE})\s?(?:到|至|{_CHANGE_WORDS})")
_RE_CHANGE = re.compile(rf"(?P<a>{_NUM_LOOSE})\s?(?:{_CHANGE_WORDS})")
_RE_NOT_BUT = re.compile(rf"不是\s?(?P<a>{_NUM_LOOSE})\s?[,;]?\s?(?:而是|是|应该是|应为)")

_APPROX_BEFORE = re.compile(r"(?:大约|约|大概|差不多|估计|预计|基本上|接近于)\s?$")
_APPROX_AFTER = re.compile(r"\s?(?:左右|上下)")
_BOUND_BEFORE = re.compile(r"(?:超过|超出|超|不到|不足|接近|将近|(?<!最)近|至少|最少|高于|低于|少于|多于|过)\s?$")
# "还剩30%" / "还差一成" give what is left, not what is done: ask
_REMAINDER_BEFORE = re.compile(r"(?:剩下|剩余|还剩|剩|还差|尚余|未完成|没完成)\s?$")
_BOUND_AFTER = re.compile(r"\s?(?:以上|以下|之上|之下|出头|不到|多点|还多)")

_RE_VAGUE = re.compile(
    r"过半|大半|多半|小半|一大半|差不多|基本完成|基本完工|基本结束|快完成|快完了|快好了|"
    r"接近完成|即将完成|将近完成|接近尾声|收尾阶段|进入收尾|大部分|一部分|部分完成|差一点|还差一点"
)
_RE_HALF = re.compile(r"一半")
_RE_DONE = re.compile(
    r"(?P<lead>已经全部|已全部|全部|全面|已经|已|都|均已|均)?(?P<word>完成|完工|竣工|办结|结项|销号)"
    r"(?P<tail>了|啦|咯|啰|喽)?"
)
_RE_DONE_NEG = re.compile(
    r"(?:没有?|未|还没有?|尚未|不能|无法|能否|是否|何时|什么时候|啥时候|几时|能不能|"
    r"计划|预计|争取|力争|确保|要|将|需|需要|准备|有望|可以|可望|基本|快|即将|接近|将近|差不多)\s?$"
)
_RE_DONE_PLANNED = re.compile(
    r"没|未|尚未|计划|预计|争取|力争|确保|要|将|需|准备|有望|可望|能否|是否|何时|什么时候|啥时候|"
    r"月底|年底|月末|年末|下周|下个?月|明天|后天|前|之前|以前|内|以内"
)
_RE_DONE_QUESTION = re.compile(r"\s?(?:吗|没有|没|否|么|\?)")
_CLAUSE_SPLIT = re.compile(r"[\s,.;:!?、。，；：！？~]+")
_DONE_FILLER = re.compile(r"^(?:项目|任务|事项|工作|整体|全部|都|该项|这项|这个|此项|已|已经|均|目前|现在|今天)*$")


def _normalise(text: str) -> str:
    """Per-character NFKC so indices stay aligned with the original text."""
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch)
        out.append(n if len(n) == 1 else ch)
    return "".join(out)


def _blank(s: str, start: int, end: int, fill: str = " ") -> str:
    return s[:start] + fill * (end - start) + s[end:]


@dataclass
class _Hit:
    value: Optional[int]
    span: tuple[int, int]
    kind: str
    approximate: bool = False
    problem: Optional[str] = None


def parse_progress(text: str, mask: Iterable[str] = ()) -> ProgressParse:
    """Find one clear progress value 0–100 in ``text``; see the module docstring."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    s = _normalise(text)
    for name in mask:
        name = _normalise(name)
        if not name:
            continue
        for m in re.finditer(re.escape(name), s):
            s = _blank(s, m.start(), m.end())

    problems: list[str] = []
    if _RE_NAN.search(s):
        problems.append(NOT_A_NUMBER)
        s = _RE_NAN.sub(lambda m: " " * len(m.group()), s)
    for pattern in _DATE_PATTERNS:
        s = pattern.sub(lambda m: "#" * len(m.group()), s)
    # the old value in a change ("从60到70", "60改成70", "不是60是70") is not a candidate
    for pattern in (_RE_CHANGE_FROM_TO, _RE_CHANGE, _RE_NOT_BUT):
        s = pattern.sub(lambda m: _blank(m.group(), m.start("a") - m.start(), m.end("a") - m.start(), "#"), s)

    hits: list[_Hit] = []
    bound = False
    for m in _RE_CANDIDATE.finditer(s):
        hit = _read_candidate(s, m)
        if hit is None:
            continue
        if hit.problem == VAGUE:
            bound = True
            continue
        hits.append(hit)

    for problem in _PROBLEM_ORDER:
        if problem in problems or any(h.problem == problem for h in hits):
            return ProgressParse(None, None, problem,
                                 candidates=tuple(h.value for h in hits if h.value is not None))

    for m in _RE_HALF.finditer(s):
        start, end = m.start(), m.end()
        if _BOUND_BEFORE.search(s[:start]) or _BOUND_AFTER.match(s, end) or s[end:end + 1] == "多" \
                or _REMAINDER_BEFORE.search(s[:start]) \
                or s[max(0, start - 1):start] in ("大", "小", "过"):
            bound = True
            continue
        approx = bool(_APPROX_BEFORE.search(s[:start]) or _APPROX_AFTER.match(s, end))
        hits.append(_Hit(50, (start, end), "half", approx))

    values = sorted({h.value for h in hits if h.value is not None})  # problems returned above
    if len(values) > 1:
        return ProgressParse(None, None, SEVERAL, candidates=tuple(values))
    if values:
        if bound:
            return ProgressParse(None, None, VAGUE, candidates=tuple(values))
        hit = hits[-1]
        value = values[0] if hit.value is None else hit.value
        return ProgressParse(value, hit.span, None, hit.kind,
                             any(h.approximate for h in hits), (value,))

    if bound or _RE_VAGUE.search(s):
        return ProgressParse(None, None, VAGUE)
    done = _read_done(s)
    if done == VAGUE:
        return ProgressParse(None, None, VAGUE)
    if done is not None:
        return ProgressParse(100, done, None, "done", False, (100,))
    return ProgressParse(None, None, NONE)


def _read_candidate(s: str, m: re.Match) -> Optional[_Hit]:
    num = m.group("num")
    pre, neg, cheng, pct = m.group("pre"), m.group("neg"), m.group("cheng"), m.group("pct")
    start, end = m.start(), m.end()
    if pre is None and s[start] in " ":
        start += 1
    num_start, num_end = m.start("num"), m.end("num")
    after_num = s[m.end():]
    is_cn = num[0] in _CN_CHARS
    # a minus sign only after start/space/punctuation or a verb; "纳图电气-65%" is a separator
    if neg in ("-", "−"):
        prev = s[m.start("neg") - 1] if m.start("neg") > 0 else ""
        if prev and not (prev.isspace() or prev in ",;:、(（为是到报至" or prev == "#"):
            neg = None
            start = num_start if pre is None else start
    strong = bool(pre or pct or cheng)
    if pct == "‰":
        return _Hit(None, (start, end), "percent", problem=MALFORMED)

    # glued to letters: identifiers (A3, HW40) are skipped; 0x41 / 1e2 are malformed
    left = s[num_start - 1] if num_start > 0 else ""
    right = s[num_end] if num_end < len(s) else ""
    if not is_cn:
        if re.fullmatch(r"0[xX][0-9A-Fa-f]+|\d+(?:\.\d+)?[eE][+-]?\d+", num):
            return _Hit(None, (start, end), "percent", problem=MALFORMED)
        if (left.isascii() and left.isalpha()) or (right.isascii() and right.isalpha()):
            return None
        if left == "#" or right == "#":
            return None
    elif "点" in num:
        whole, _, frac = num.partition("点")
        if not strong:
            return None
        try:
            cn_to_int(whole)
            cn_to_int(frac)
        except ValueError:
            return None
        return _Hit(None, (start, end), "percent", problem=DECIMAL)

    if cheng is None and pct is None:
        # followed by a unit or classifier: money, counts, dates, times, phases
        unit_after = _RE_UNIT_AFTER.match(s, num_end) or _RE_UNIT_AFTER.match(s, m.end())
        if unit_after and not (pre and s.startswith("百", num_end)):
            return None
        if _RE_BEFORE_SKIP.search(s[:num_start]):
            return None
    elif cheng is not None and re.match(r"[本员果立功绩交熟效型品为就]", s[m.end("cheng"):m.end("cheng") + 1] or " ") \
            and m.group("cheng2") is None:
        return None

    # the value
    if is_cn:
        if not strong:
            if len(num) < 2 or not any(ch in num for ch in "十百"):
                return None
            if re.match(r"\s?(?:前|后|假|节|长假|黄金周)", after_num) or s.startswith("分", num_end):
                return None
        try:
            value = cn_to_int(num)
        except ValueError:
            return None if not strong else _Hit(None, (start, end), "percent", problem=MALFORMED)
    else:
        if "," in num or num.count(".") > 1:
            return _Hit(None, (start, end), "percent", problem=MALFORMED)
        if "." in num:
            whole, _, frac = num.partition(".")
            if set(frac) != {"0"}:
                return _Hit(None, (start, end), "percent", problem=DECIMAL)
            value = int(whole)
        else:
            value = int(num)

    kind = "percent" if (pre or pct) else "bare"
    if cheng is not None:
        if is_cn and len(num) == 2 and all(ch in _CN_DIGITS for ch in num):
            return _Hit(None, (start, end), "cheng", problem=VAGUE)  # 六七成
        if pre or pct or value > 10:
            return _Hit(None, (start, end), "cheng", problem=MALFORMED)
        extra = m.group("cheng2")
        value *= 10
        if extra == "半":
            value += 5
        elif extra:
            value += int(extra) if extra.isdigit() else _CN_DIGITS[extra]
        kind = "cheng"
    if neg:
        return _Hit(None, (start, end), kind, problem=OUT_OF_RANGE)
    if value > 100:
        if strong:
            return _Hit(None, (start, end), kind, problem=OUT_OF_RANGE)
        return None
    if m.group("more") or m.group("more2"):
        return _Hit(value, (start, end), kind, problem=VAGUE)
    if _BOUND_BEFORE.search(s[:start]) or _BOUND_AFTER.match(s, end) \
            or _REMAINDER_BEFORE.search(s[:start]):
        return _Hit(value, (start, end), kind, problem=VAGUE)
    approx = bool(_APPROX_BEFORE.search(s[:start]) or _APPROX_AFTER.match(s, end))
    return _Hit(value, (start, end), kind, approx)


def _read_done(s: str):
    """Span of a completion phrase standing as its own clause; VAGUE when glued to other
    words; None when absent, negated, planned or asked."""
    result = None
    for m in _RE_DONE.finditer(s):
        start, end = m.start(), m.end()
        if _RE_DONE_NEG.search(s[:start]):
            continue
        if _RE_DONE_QUESTION.match(s, end):
            continue
        rest = s[end:]
        nxt = _CLAUSE_SPLIT.match(rest)
        if rest and not nxt and not re.match(r"[了啦的哈呀哦]", rest):
            continue  # 完成主体厂房… : the word has an object, it is not a status
        clause_start = max((x.end() for x in _CLAUSE_SPLIT.finditer(s[:start])), default=0)
        head = s[clause_start:start]
        if _RE_DONE_PLANNED.search(head):
            continue  # 争取月底完成, 计划下周完成: a plan, not a status
        if _DONE_FILLER.match(head.replace("#", "")):
            result = (clause_start + (len(head) - len(head.lstrip())), end)
        else:
            return VAGUE
    return result
