"""Pieces of a typed sentence the understanding layer reads (handlers.understand): fillers,
names of tasks / indicators / teams / people inside a sentence, day counts, dates inside a
sentence. Pure functions over the text and the name index; no replies here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from bot.dateparse import DateParseError, parse_date, parse_snooze
from bot.numerals import cn_to_int
from bot.services.lookup import KIND_INDICATOR, KIND_TASK, Ref, lazy_pinyin
from bot.services.text import nfkc, normalize_name, normalize_query, strip_emoji

_LEAD_FILLERS = re.compile(
    r"^(?:嗯+|呃+|额+|啊+|哎+|喂+|哦+|那个|这个|那|麻烦|请问|请|帮我|帮忙|给我|早上好|早安|早|你好|您好|"
    r"我想|想|我看看|我看下|看下|看看|看一下|查一下|查下|查查|帮我查一下|帮我看下|帮我看看)[\s,，。!！]*")
_PUNCT_SPACE = re.compile(r"[\s\u3000,，。!！;；、~～…]+")
_KEY_CHARS = re.compile(r"[\s\u3000,，。.!！?？;；:：、\"'“”‘’()（）\[\]【】《》<>~～…·|/\\-]")

CN_DIGIT = {"1": "一", "2": "二", "3": "三", "4": "四", "5": "五", "6": "六", "7": "七", "8": "八", "9": "九"}


def clean(text: str) -> str:
    """NFKC, no emoji, single spaces, leading fillers (嗯 那个 帮我看下 …) removed."""
    text = _PUNCT_SPACE.sub(" ", strip_emoji(nfkc(text))).strip()
    text = re.sub(r"^@\S+\s*", lambda m: m.group(0), text)
    while True:
        new = _LEAD_FILLERS.sub("", text, count=1).strip()
        if new == text or not new:
            return text
        text = new


def compact(text: str) -> tuple[str, list[int]]:
    """The text as the name index keys are written (lower case, no spaces or punctuation),
    and for each character its position in ``text``."""
    out, where = [], []
    for i, ch in enumerate(text.lower()):
        if not _KEY_CHARS.match(ch):
            out.append(ch)
            where.append(i)
    return "".join(out), where


@dataclass
class Mention:
    ref: Ref
    start: int  # in the original text
    end: int
    key: str

    @property
    def kind(self) -> str:
        return self.ref[0]


def mentions(index, text: str, kinds: Optional[set[str]] = None, min_len: int = 2) -> list[Mention]:
    """Known names and aliases written inside ``text``, longest first, not overlapping.
    Cost: one dict lookup per substring up to the longest key (no scan over all names)."""
    comp, where = compact(text)
    n = len(comp)
    longest = min(n, index.longest_key)
    found: list[Mention] = []
    taken = [False] * n
    for length in range(longest, min_len - 1, -1):
        for start in range(0, n - length + 1):
            if any(taken[start:start + length]):
                continue
            refs = index.exact.get(comp[start:start + length])
            if not refs:
                continue
            refs = sorted(r for r in refs if kinds is None or r[0] in kinds)
            if not refs:
                continue
            for ref in refs:
                found.append(Mention(ref, where[start], where[start + length - 1] + 1, comp[start:start + length]))
            for i in range(start, start + length):
                taken[i] = True
    found.sort(key=lambda m: m.start)
    return found


def of_kind(found: Iterable[Mention], kind: str) -> list[Mention]:
    return [m for m in found if m.kind == kind]


def distinct_refs(found: Iterable[Mention]) -> list[Ref]:
    refs: list[Ref] = []
    for m in found:
        if m.ref not in refs:
            refs.append(m.ref)
    return refs


TASKS = {KIND_TASK}
INDICATORS = {KIND_INDICATOR}

# ---------------------------------------------------------------- numbers and days

_CN_NUM = "零〇一二两三四五六七八九十百"


def small_number(token: str) -> Optional[int]:
    """'10' / '十' / '两' / '三' -> int; None when it is not a number."""
    token = nfkc(token)
    if token.isdigit():
        return int(token)
    try:
        return cn_to_int(token)
    except ValueError:
        return None


_DAYS = re.compile(rf"(?P<n>\d+|[{_CN_NUM}]+)\s*(?:个)?(?P<unit>天|日|周|星期|礼拜)(?:之内|以内|内)")
_LAST_DAYS = re.compile(rf"(?:最近|未来|近)(?P<n>\d+|[{_CN_NUM}]+)\s*(?:个)?(?P<unit>天|日|周|星期)")


def day_window(text: str) -> Optional[int]:
    """'十天内' -> 10, '两周内' -> 14, '最近七天' -> 7; None when absent."""
    for pattern in (_DAYS, _LAST_DAYS):
        m = pattern.search(text)
        if m:
            n = small_number(m.group("n"))
            if n is None:
                continue
            return n * 7 if m.group("unit") in ("周", "星期", "礼拜") else n
    return None


def team_words(text: str) -> str:
    """'项目6专班' -> '项目六专班' (teams are named with Chinese numerals)."""
    return re.sub(r"(\d)(?=\s*(?:专班|组))", lambda m: CN_DIGIT.get(m.group(1), m.group(1)), text)


def find_date(text: str, now: datetime, calendar=None) -> Optional[tuple[date, int, int]]:
    """The longest piece of ``text`` that is a date (明年3月底, 国庆后, 下个月15号), with its span."""
    best = None
    n = len(text)
    for start in range(n):
        if text[start].isspace():
            continue
        for end in range(min(n, start + 12), start, -1):
            if best and end - start <= best[2] - best[1]:
                break
            piece = text[start:end]
            try:
                day = parse_date(piece, now, calendar)
            except (DateParseError, ValueError):
                continue
            best = (day, start, end)
            break
    return best


def find_snooze(text: str, now: datetime, calendar=None) -> Optional[tuple[datetime, str]]:
    """A time to remind again inside ``text`` (一个小时后, 下午三点, 明早) and the words that
    gave it, or None."""
    body = re.sub(r"稍后|等会儿?|等一会儿?|过会儿?|晚点|再提醒我?|提醒我|再说|再发|后再|再|吧|一下", " ", text)
    body = body.strip()
    pieces = [body] + body.split()
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        for candidate in (piece, piece + "后"):
            try:
                return parse_snooze(candidate, now, calendar), candidate
            except (DateParseError, ValueError):
                continue
    return None


def exact_task(index, name: str) -> Optional[Ref]:
    """The one task whose name or alias is ``name`` exactly, or whose pinyin (full or
    initials) it is; None otherwise. Dictionary lookups only (no fuzzy matching)."""
    if re.search(r"\d\s*%|%", name):
        return None
    for key in (normalize_name(name), normalize_query(name)):
        refs = [r for r in index.exact.get(key, ()) if r[0] == KIND_TASK]
        if len(refs) == 1:
            return refs[0]
        if refs:
            return None
    query = normalize_query(name)
    if not query:
        return None
    if query.isascii() and query.isalpha():
        keys: tuple[str, ...] = ("py:" + query, "pi:" + query)
    elif not query.isascii():
        keys = ("py:" + "".join(lazy_pinyin(query)),)
    else:
        return None
    by_pinyin = {r for k in keys for r in index.pinyin.get(k, ()) if r[0] == KIND_TASK}
    return next(iter(by_pinyin)) if len(by_pinyin) == 1 else None


