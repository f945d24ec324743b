"""Parse the dates and times people type for a new deadline (``parse_date``) or a snooze
(``parse_snooze``).

Everything is relative to a ``now`` passed in by the caller (from the injectable clock in
``bot.clock``); nothing here reads the wall clock. ``now`` is converted to office time
(Asia/Shanghai); a naive ``now`` is taken as office time, like ``bot.clock.ensure_aware``.

Input is first normalised with Unicode NFKC (full-width ``２０２５－１２－３１``, ``１２月３１日``,
``15：30`` and the ideographic space become ASCII), then all whitespace is removed and
trailing punctuation dropped. Month, day and count numbers may be written in Chinese
numerals (十二月三十一日, 三天后, 两小时, 廿五号).

``parse_date(text, now, calendar=None) -> date`` accepts

* with a year: ``2025-12-31``, ``2025/12/31``, ``2025.12.31``, ``20251231``,
  ``2025年12月31日`` (日/号/nothing), ``今年12月31日``, ``明年1月5日``;
* without a year: ``12月31日``, ``12月31号``, ``12月31``, ``12-31``, ``12.31``, ``12/31`` —
  **future-biased**: a month/day already past this year means next year (typing 1月5日 on
  2025-12-20 gives 2026-01-05); today itself stays today;
* day of month: ``5号``/``5日`` (this month if not past, else the next month that has that
  day), ``本月5号``, ``下个月5号``/``下月5日``;
* relative: ``今天``/``今日``, ``明天``/``明日``, ``后天``, ``大后天``; ``N天后``/``N天内``/``过N天``
  (calendar days), ``N周后``/``N个星期后``, ``N个月后`` (clamped to the month's last day),
  ``N个工作日后``/``N个工作日内``/``N个工作日`` (working days via ``bot.workdays.WorkCalendar``:
  pass ``calendar`` so config overrides apply; without one the official calendar is used);
* weekdays (Monday-based weeks; 周/星期/礼拜, 一…六, 日/天): ``周五`` alone means the **next
  occurrence strictly after today** (on a Friday, ``周五`` is a week later — say ``今天`` for
  today); ``本周五``/``这周五`` is Friday of the current week (may be in the past);
  ``下周五``/``下星期五`` is Friday of next week; ``下下周一`` two weeks on;
* ends: ``月底``/``本月底``/``月末``, ``下月底``/``下个月底``, ``年底``/``年末``/``今年年底`` (12-31),
  ``明年年底``;
* a named month's end or third (旬): ``3月底``/``三月底``/``3月末``/``3月份底``, ``3月上旬`` (the 10th),
  ``3月中旬`` (the 20th), ``3月下旬`` (the month's last day) — the end of the period, since a
  deadline "3月中旬" means "by mid-March is over". Without a year **future-biased** like
  ``12月31日`` (三月底 said in July is next March); ``今年``/``明年``/``2026年`` may lead
  (``明年3月底`` = next year's 03-31);
* "within": ``本周内``/``这周内``/``周内`` = Friday of this week (the last office day; may be in
  the past on a weekend), ``下周内`` = next week's Friday; ``本月内``/``月内`` = month end,
  ``下个月内`` = next month's end; ``年内``/``今年内`` = 12-31, ``明年内`` = next year's 12-31;
* holidays: ``春节前``/``春节后``, ``国庆前``/``国庆节后``/``国庆假期后``, ``元旦``, ``五一``/``劳动节``,
  ``清明``, ``端午``, ``中秋`` with ``前``/``之前``/``以前`` or ``后``/``以后``/``之后``/``过后``,
  optionally after ``今年``/``明年``. ``X前`` is the day before the official holiday block starts
  (2026 春节前 = 2026-02-14, a make-up working Saturday); ``X后`` is the first working day after
  the block ends (2025 国庆后 = 2025-10-09). Blocks come from the ``chinesecalendar`` package
  (the State Council's notices). Without a year the next block not yet over is meant (for
  ``前``: whose start is after today). For a year the package has no data: 春节 assumes
  除夕 to 正月初七 off (lunar new year dates built in up to 2035), 国庆 October 1–7, 元旦
  January 1, 五一 May 1–5, with Monday–Friday working days; 清明/端午/中秋 then give an error
  asking for a date.

Also tolerated: a trailing ``前``/``之前``/``以前`` ("周五前" = by Friday; but ``3天前`` is
refused, it means three days ago) and a leading ``截至``/``截止``/``到``.

Dates with an explicit year, ``本周X`` and the like are returned even if already past; the
caller decides whether a past deadline is acceptable. Invalid dates (2月30日, 13月1日) and
anything else raise ``DateParseError`` (a ``ValueError``) whose message is short Chinese
suitable to show to the user.

``parse_snooze(text, now, calendar=None) -> datetime`` (aware, office time) accepts

* durations: ``1小时``, ``一小时后``, ``2个小时``, ``1.5小时``, ``半小时``, ``一个半小时``,
  ``30分钟``, ``两个钟头`` — added to ``now``;
* a part of day, future-biased when no day is named: ``上午``/``早上`` 09:00, ``中午`` 12:00,
  ``下午`` 14:00 (today if still ahead, else tomorrow), ``傍晚`` 18:00, ``晚上`` 20:00;
* ``明早``/``明天上午``/``明天早上`` → next day 09:00; ``明天``/``后天``/any date from
  ``parse_date`` alone → that day 09:00; ``明天下午`` → 14:00, ``明晚`` → 20:00;
* clock times: ``15:30``, ``3点半``, ``9点``, ``9点15``, ``9点15分``, ``3点一刻``, ``十点``,
  optionally after a part of day (``下午3点`` = 15:00, ``晚上8点`` = 20:00) and/or a date
  (``明天9点``, ``周五下午3点``, ``12月31日15:00``). Without a part of day, hours 1–6 are read
  as afternoon (13:00–18:00: nobody in the office means 3 a.m.), other hours as written.
  With no day named the time is future-biased: ``9点`` said at 23:00 means tomorrow 09:00.
  With a day named, a time that is not after ``now`` is an error.
"""
from __future__ import annotations

import calendar as _calendar
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Optional

import chinese_calendar

from bot.clock import OFFICE_TZ
from bot.workdays import WorkCalendar

__all__ = ["DateParseError", "parse_date", "parse_snooze", "normalize"]

DATE_HELP = "可以写 2025-12-31、12月31日、12.31 或 下周五"
SNOOZE_HELP = "可以写 1小时、明早、下午、15:30 或 3点半"

MORNING_DEFAULT = time(9, 0)

_MAX_ECHO = 30


class DateParseError(ValueError):
    """The text is not a date/time we understand; ``str(exc)`` is a short Chinese message."""


# ---------------------------------------------------------------------------- helpers


def _echo(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "…"


def _date_error(text: str) -> DateParseError:
    return DateParseError(f"看不懂这个日期:{_echo(text)}。{DATE_HELP}")


def _snooze_error(text: str) -> DateParseError:
    return DateParseError(f"看不懂这个时间:{_echo(text)}。{SNOOZE_HELP}")


_TRAILING_PUNCT = re.compile(r"[。.,，、!！?？~～;；]+$")


def normalize(text: str) -> str:
    """NFKC, drop all whitespace and trailing punctuation."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "", text)
    return _TRAILING_PUNCT.sub("", text)


_CN_DIGIT = {
    "〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
_CN_DIGIT.update({str(i): i for i in range(10)})

# a number: ASCII digits (after NFKC) or Chinese numerals up to 99 (十, 十二, 二十五, 廿五, 三十一)
_N = r"(?:\d{1,4}|[〇零一二两三四五六七八九十廿卅]{1,4})"


def _to_int(token: str) -> int:
    """'12' -> 12, '十二' -> 12, '二十' -> 20, '廿五' -> 25, '二〇二五' -> 2025, '零5' -> 5."""
    if token.isascii() and token.isdigit():
        return int(token)
    if token[0] in "廿卅":
        tens, rest = (2 if token[0] == "廿" else 3), token[1:]
        if len(rest) > 1 or (rest and rest not in _CN_DIGIT):
            raise ValueError(token)
        return tens * 10 + (_CN_DIGIT[rest] if rest else 0)
    if "十" in token:
        before, _, after = token.partition("十")
        if len(before) > 1 or len(after) > 1:
            raise ValueError(token)
        tens = _CN_DIGIT[before] if before else 1
        ones = _CN_DIGIT[after] if after else 0
        if (before and tens == 0) or "十" in after:
            raise ValueError(token)
        return tens * 10 + ones
    value = 0
    for ch in token:
        if ch not in _CN_DIGIT:
            raise ValueError(token)
        value = value * 10 + _CN_DIGIT[ch]
    return value


def _office_now(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None:
        return now.replace(tzinfo=OFFICE_TZ)
    return now.astimezone(OFFICE_TZ)


def _last_day(year: int, month: int) -> int:
    return _calendar.monthrange(year, month)[1]


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _make_date(year: int, month: int, day: int, original: str, show_year: bool = True) -> date:
    if not 1 <= month <= 12:
        raise DateParseError(f"没有{month}月:{_echo(original)}")
    if not 1 <= day <= 31:
        raise DateParseError(f"没有{day}日:{_echo(original)}")
    if not 1 <= year <= 9999:
        raise _date_error(original)
    try:
        return date(year, month, day)
    except ValueError:
        where = f"{year}年{month}月" if show_year else f"{month}月"
        raise DateParseError(f"{where}没有{day}日:{_echo(original)}") from None


def _future_month_day(today: date, month: int, day: int, original: str) -> date:
    """Month/day without a year: this year unless already past, then next year."""
    _make_date(2000, month, day, original, show_year=False)  # 2000 is a leap year
    year = today.year if (month, day) >= (today.month, today.day) else today.year + 1
    if month == 2 and day == 29 and not _calendar.isleap(year):
        raise DateParseError(f"{year}年2月没有29日:{_echo(original)}")
    return date(year, month, day)


def _default_calendar() -> WorkCalendar:
    global _DEFAULT_CALENDAR
    if _DEFAULT_CALENDAR is None:
        _DEFAULT_CALENDAR = WorkCalendar()
    return _DEFAULT_CALENDAR


_DEFAULT_CALENDAR: Optional[WorkCalendar] = None


# ---------------------------------------------------------------------------- dates

_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY.update({str(i): i - 1 for i in range(1, 8)})

_SIMPLE_DAYS = {
    "今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3,
}

_RE_YMD_SEP = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})", re.ASCII)
_RE_YMD_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_RE_YMD_CN = re.compile(
    rf"(?:(\d{{4}}|[〇零一二三四五六七八九]{{4}})年|(今年|本年|明年))({_N})月({_N})[日号]?", re.ASCII
)
_RE_MD_SEP = re.compile(r"(\d{1,2})([-/.])(\d{1,2})", re.ASCII)
_RE_MD_CN = re.compile(rf"({_N})月({_N})[日号]?", re.ASCII)
_RE_DAY_OF_MONTH = re.compile(rf"(?:(本|这个?|下个?|下下个?)月)?({_N})[日号]", re.ASCII)
_RE_WEEKDAY = re.compile(
    r"(本|这个?|下个?|下下个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])", re.ASCII
)
_RE_MONTH_END = re.compile(r"(?:(本|这个?|下个?|下下个?)月|月)[底末]")
_RE_YEAR_END = re.compile(r"(?:(今|本|明)年年?|年)[底末]")
_RE_RELATIVE = re.compile(
    rf"(过)?({_N})(天|日|个?工作日|周|个?星期|个?礼拜|个月)(后|以后|之后|内|以内|之内)?", re.ASCII
)
_RE_BEFORE_SUFFIX = re.compile(r"(.+?)(?:之前|以前|前)")
_RE_LEADING = re.compile(r"(?:截至|截止到?|到)(.+)")


_RE_MONTH_PART = re.compile(
    rf"(?:(\d{{4}}|[〇零一二三四五六七八九]{{4}})年|(今年|本年|明年))?({_N})月份?(底|末|上旬|中旬|下旬)",
    re.ASCII,
)
_RE_WEEK_WITHIN = re.compile(r"(本|这个?|下个?|下下个?)?(?:周|星期|礼拜)(?:内|之内|以内)")
_RE_MONTH_WITHIN = re.compile(r"(本|这个?|下个?|下下个?)?月(?:内|之内|以内)")
_RE_YEAR_WITHIN = re.compile(r"(今|本|明)?年(?:内|之内|以内)")
_RE_HOLIDAY = re.compile(
    r"(今年|明年)?(春节|国庆节?|元旦|五一|劳动节|清明节?|端午节?|中秋节?)"
    r"(?:假期|长假|小长假|放假|节假日)?(前|之前|以前|后|以后|之后|过后)"
)

# chinesecalendar's holiday names
_HOLIDAY_NAMES = {
    "春节": "Spring Festival", "国庆": "National Day", "国庆节": "National Day",
    "元旦": "New Year's Day", "五一": "Labour Day", "劳动节": "Labour Day",
    "清明": "Tomb-sweeping Day", "清明节": "Tomb-sweeping Day",
    "端午": "Dragon Boat Festival", "端午节": "Dragon Boat Festival",
    "中秋": "Mid-autumn Festival", "中秋节": "Mid-autumn Festival",
}
# 正月初一, for years chinesecalendar has no data for
_LUNAR_NEW_YEAR = {
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11),
    2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}
_HOLIDAY_BLOCKS: dict[tuple[int, str], Optional[tuple[date, date, bool]]] = {}


def _holiday_block(year: int, name: str) -> Optional[tuple[date, date, bool]]:
    """(first day off, last day off, from official data) of a holiday in ``year``."""
    key = (year, name)
    if key not in _HOLIDAY_BLOCKS:
        _HOLIDAY_BLOCKS[key] = _compute_holiday_block(year, name)
    return _HOLIDAY_BLOCKS[key]


def _compute_holiday_block(year: int, name: str) -> Optional[tuple[date, date, bool]]:
    english = _HOLIDAY_NAMES[name]
    days: list[date] = []
    try:
        day = date(year, 1, 1)
        while day.year == year:
            on_holiday, holiday = chinese_calendar.get_holiday_detail(day)
            if on_holiday and holiday == english:
                days.append(day)
            day += timedelta(days=1)
        if english == "New Year's Day":
            # the block may start on Dec 30/31 of the year before
            day = date(year, 1, 1) - timedelta(days=1)
            while chinese_calendar.get_holiday_detail(day) == (True, english):
                days.insert(0, day)
                day -= timedelta(days=1)
    except NotImplementedError:
        days = []
    if days:
        return days[0], days[-1], True
    # fixed rules for a year without official data
    if english == "Spring Festival" and year in _LUNAR_NEW_YEAR:
        first = _LUNAR_NEW_YEAR[year] - timedelta(days=1)
        return first, first + timedelta(days=7), False
    fixed = {
        "National Day": (date(year, 10, 1), date(year, 10, 7)),
        "New Year's Day": (date(year, 1, 1), date(year, 1, 1)),
        "Labour Day": (date(year, 5, 1), date(year, 5, 5)),
    }.get(english)
    return (fixed[0], fixed[1], False) if fixed else None


def _holiday_date(
    name: str, year: int, before: bool, calendar: Optional[WorkCalendar], original: str
) -> date:
    block = _holiday_block(year, name)
    if block is None:
        raise DateParseError(f"{year}年的{name}假期安排还没有数据,请写具体日期:{_echo(original)}")
    first, last, official = block
    if before:
        return first - timedelta(days=1)
    day = last + timedelta(days=1)
    if official:
        cal = calendar if calendar is not None else _default_calendar()
        return cal.next_workday_on_or_after(day)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _month_offset(prefix: Optional[str]) -> int:
    if not prefix or prefix[0] in "本这":
        return 0
    return 2 if prefix.startswith("下下") else 1


def parse_date(
    text: str, now: datetime, calendar: Optional[WorkCalendar] = None
) -> date:
    """Parse a deadline date typed by a person; see the module docstring for the forms."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    today = _office_now(now).date()
    cleaned = normalize(text)
    if not cleaned or len(cleaned) > 40:
        raise _date_error(text)
    result = _parse_date_core(cleaned, today, calendar, text)
    if result is None:
        stripped = _RE_LEADING.fullmatch(cleaned)
        if stripped:
            cleaned = stripped.group(1)
            result = _parse_date_core(cleaned, today, calendar, text)
    if result is None:
        before = _RE_BEFORE_SUFFIX.fullmatch(cleaned)
        # "周五前" = by Friday; "3天前" means three days ago, which is no deadline.
        if before and not _RE_RELATIVE.fullmatch(before.group(1)):
            result = _parse_date_core(before.group(1), today, calendar, text)
    if result is None:
        raise _date_error(text)
    return result


def _parse_date_core(
    s: str, today: date, calendar: Optional[WorkCalendar], original: str
) -> Optional[date]:
    try:
        return _parse_date_forms(s, today, calendar, original)
    except DateParseError:
        raise
    except (ValueError, OverflowError, KeyError):
        # bad Chinese numeral, or arithmetic beyond year 9999
        raise _date_error(original) from None


def _parse_date_forms(
    s: str, today: date, calendar: Optional[WorkCalendar], original: str
) -> Optional[date]:
    if s in _SIMPLE_DAYS:
        return today + timedelta(days=_SIMPLE_DAYS[s])

    m = _RE_YMD_SEP.fullmatch(s) or _RE_YMD_COMPACT.fullmatch(s)
    if m:
        groups = [g for g in m.groups() if g not in ("-", "/", ".")]
        year, month, day = (int(g) for g in groups)
        return _make_date(year, month, day, original)

    m = _RE_YMD_CN.fullmatch(s)
    if m:
        year_digits, year_word, month_text, day_text = m.groups()
        if year_digits:
            year = _to_int(year_digits)
        else:
            year = today.year + (1 if year_word == "明年" else 0)
        return _make_date(year, _to_int(month_text), _to_int(day_text), original)

    m = _RE_MD_SEP.fullmatch(s) or _RE_MD_CN.fullmatch(s)
    if m:
        month_text, day_text = m.group(1), m.groups()[-1]
        return _future_month_day(today, _to_int(month_text), _to_int(day_text), original)

    m = _RE_DAY_OF_MONTH.fullmatch(s)
    if m:
        prefix, day_token = m.groups()
        day = _to_int(day_token)
        if not 1 <= day <= 31:
            raise DateParseError(f"没有{day}日:{_echo(original)}")
        if prefix:
            year, month = _shift_month(today.year, today.month, _month_offset(prefix))
            return _make_date(year, month, day, original)
        # bare "5号": this month unless past, else the next month that has that day
        year, month = today.year, today.month
        if day < today.day:
            year, month = _shift_month(year, month, 1)
        while day > _last_day(year, month):
            year, month = _shift_month(year, month, 1)
        return date(year, month, day)

    m = _RE_WEEKDAY.fullmatch(s)
    if m:
        prefix, wd_token = m.groups()
        weekday = _WEEKDAY[wd_token]
        if prefix is None:  # next occurrence strictly after today
            ahead = (weekday - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(weeks=_month_offset(prefix), days=weekday)

    m = _RE_MONTH_END.fullmatch(s)
    if m:
        year, month = _shift_month(today.year, today.month, _month_offset(m.group(1)))
        return date(year, month, _last_day(year, month))

    m = _RE_YEAR_END.fullmatch(s)
    if m:
        return date(today.year + (1 if m.group(1) == "明" else 0), 12, 31)

    m = _RE_MONTH_PART.fullmatch(s)
    if m:
        year_digits, year_word, month_token, part = m.groups()
        month = _to_int(month_token)
        if not 1 <= month <= 12:
            raise DateParseError(f"没有{month}月:{_echo(original)}")

        def part_day(year: int) -> date:
            last = _last_day(year, month)
            return date(year, month, {"上旬": 10, "中旬": 20}.get(part, last))

        if year_digits:
            return part_day(_to_int(year_digits))
        if year_word:
            return part_day(today.year + (1 if year_word == "明年" else 0))
        result = part_day(today.year)
        return result if result >= today else part_day(today.year + 1)

    m = _RE_WEEK_WITHIN.fullmatch(s)
    if m:
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(weeks=_month_offset(m.group(1)), days=4)

    m = _RE_MONTH_WITHIN.fullmatch(s)
    if m:
        year, month = _shift_month(today.year, today.month, _month_offset(m.group(1)))
        return date(year, month, _last_day(year, month))

    m = _RE_YEAR_WITHIN.fullmatch(s)
    if m:
        return date(today.year + (1 if m.group(1) == "明" else 0), 12, 31)

    m = _RE_HOLIDAY.fullmatch(s)
    if m:
        year_word, name, side = m.groups()
        before = side in ("前", "之前", "以前")
        if year_word:
            return _holiday_date(name, today.year + (1 if year_word == "明年" else 0),
                                 before, calendar, original)
        result = _holiday_date(name, today.year, before, calendar, original)
        if result < today:
            result = _holiday_date(name, today.year + 1, before, calendar, original)
        return result

    m = _RE_RELATIVE.fullmatch(s)
    if m:
        past_word, n_token, unit, suffix = m.groups()
        if unit == "日" and not (suffix or past_word):
            return None  # "5日" is a day of month, handled above; "3天" = in three days
        n = _to_int(n_token)
        if unit in ("天", "日"):
            return today + timedelta(days=n)
        if unit.endswith("工作日"):
            cal = calendar if calendar is not None else _default_calendar()
            return cal.add_workdays(today, n)
        if unit == "个月":
            year, month = _shift_month(today.year, today.month, n)
            return date(year, month, min(today.day, _last_day(year, month)))
        return today + timedelta(weeks=n)  # 周 / 星期 / 礼拜

    return None


# ---------------------------------------------------------------------------- snooze

_RE_DURATION = re.compile(
    rf"过?(\d{{1,4}}(?:\.\d{{1,2}})?|{_N})?(个半|半)?个?(小时|钟头|分钟)(?:后|以后|之后)?",
    re.ASCII,
)

_PERIODS = "凌晨|早上|早晨|清早|上午|早|中午|下午|傍晚|晚上|夜里|晚"
_PERIOD_DEFAULT = {
    "早上": time(9), "早晨": time(9), "清早": time(9), "上午": time(9), "早": time(9),
    "中午": time(12), "下午": time(14), "傍晚": time(18), "晚上": time(20), "晚": time(20),
}
_EVENING = {"下午", "傍晚", "晚上", "夜里", "晚"}
_TIME = (
    r"(?:(\d{1,2}):(\d{2})"
    rf"|({_N})(?:点|时)钟?(?:(半)|([一三])刻|({_N})分?)?)"
)
_RE_DAY_TIME = re.compile(rf"(.*?)({_PERIODS})?(?:{_TIME})?", re.ASCII)
_RE_SNOOZE_TAIL = re.compile(r"(.+?)(?:再提醒我?|提醒我?|再说|叫我)")


def parse_snooze(
    text: str, now: datetime, calendar: Optional[WorkCalendar] = None
) -> datetime:
    """Parse when to remind again; returns an aware datetime in office time after ``now``."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    now = _office_now(now)
    cleaned = normalize(text)
    tail = _RE_SNOOZE_TAIL.fullmatch(cleaned)
    if tail:
        cleaned = tail.group(1)
    if not cleaned or len(cleaned) > 40:
        raise _snooze_error(text)
    try:
        result = _parse_snooze_core(cleaned, now, calendar, text)
    except DateParseError:
        raise
    except (ValueError, OverflowError, KeyError):
        raise _snooze_error(text) from None
    if result is None:
        raise _snooze_error(text)
    return result


def _parse_snooze_core(
    s: str, now: datetime, calendar: Optional[WorkCalendar], original: str
) -> Optional[datetime]:
    m = _RE_DURATION.fullmatch(s)
    if m:
        n_token, half, unit = m.groups()
        if n_token is None and half is None:
            return None
        if n_token is None:
            amount = 0.0
        elif re.fullmatch(r"\d+(?:\.\d+)?", n_token, re.ASCII):
            amount = float(n_token)
        else:
            amount = float(_to_int(n_token))
        if half:
            amount += 0.5
        if amount <= 0:
            raise DateParseError(f"时间要大于0:{_echo(original)}")
        delta = timedelta(minutes=amount) if unit == "分钟" else timedelta(hours=amount)
        return now + delta

    m = _RE_DAY_TIME.fullmatch(s)
    if not m:
        return None
    day_text, period = m.group(1), m.group(2)
    colon_h, colon_m, h_token, half, quarter, m_token = m.groups()[2:]
    has_time = colon_h is not None or h_token is not None
    if not (period or has_time):
        day_text = s  # a date alone: that day at 09:00
    if day_text in ("今", "明", "后"):
        day_text += "天"

    explicit_day: Optional[date] = None
    if day_text:
        try:
            explicit_day = parse_date(day_text, now, calendar)
        except DateParseError:
            return None

    if has_time:
        if colon_h is not None:
            hour, minute = int(colon_h), int(colon_m)
        else:
            hour = _to_int(h_token)
            if half:
                minute = 30
            elif quarter:
                minute = 15 if quarter == "一" else 45
            elif m_token:
                minute = _to_int(m_token)
            else:
                minute = 0
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise DateParseError(f"没有这个时间:{_echo(original)}")
        extra_days = 0
        if period in _EVENING and 1 <= hour <= 11:
            hour += 12
        elif period in _EVENING and hour == 12 and period != "下午":
            hour, extra_days = 0, 1  # 晚上12点 = midnight
        elif period == "中午" and 1 <= hour <= 2:
            hour += 12
        elif period is None and 1 <= hour <= 6:
            hour += 12  # office hours: 3点半 means 15:30
        if hour == 24:
            hour, extra_days = 0, 1
        at = time(hour, minute)
    else:
        extra_days = 0
        if period is None:
            at = MORNING_DEFAULT
        elif period in _PERIOD_DEFAULT:
            at = _PERIOD_DEFAULT[period]
        else:
            return None  # 凌晨/夜里 without a time

    if explicit_day is not None:
        result = datetime.combine(explicit_day + timedelta(days=extra_days), at, tzinfo=now.tzinfo)
        if result <= now:
            raise DateParseError(f"这个时间已经过去了:{_echo(original)}")
        return result
    result = datetime.combine(now.date() + timedelta(days=extra_days), at, tzinfo=now.tzinfo)
    if result <= now:
        result += timedelta(days=1)
    return result
