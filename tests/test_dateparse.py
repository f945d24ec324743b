"""Tests for bot.dateparse: deadline dates and snooze times typed by people."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import OFFICE_TZ
from bot.dateparse import DateParseError, normalize, parse_date, parse_snooze
from bot.workdays import WorkCalendar


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=OFFICE_TZ)


NOW = at(2025, 12, 17)  # a Wednesday, 10:30 Shanghai


# ---------------------------------------------------------------- absolute dates


@pytest.mark.parametrize(
    "text",
    [
        "2025-12-31",
        "2025/12/31",
        "2025.12.31",
        "20251231",
        "2025年12月31日",
        "2025年12月31号",
        "2025年12月31",
        "12月31日",
        "12月31号",
        "12月31",
        "12-31",
        "12.31",
        "12/31",
        "十二月三十一日",
        "十二月卅一号",
        "今年12月31日",
        " 2025-12-31 ",
        "12月31日。",
    ],
)
def test_absolute_forms(text):
    assert parse_date(text, NOW) == date(2025, 12, 31)


@pytest.mark.parametrize(
    "text",
    ["２０２５－１２－３１", "１２月３１日", "２０２５／１２／３１", "\u3000１２．３１\u3000", "２０２５年 １２月 ３１日"],
)
def test_full_width_and_spaces(text):
    assert parse_date(text, NOW) == date(2025, 12, 31)


def test_normalize():
    assert normalize("２０２５－１２－３１\u3000") == "2025-12-31"
    assert normalize(" 下 周 五 。") == "下周五"


def test_single_digit_and_other_years():
    assert parse_date("2026-1-5", NOW) == date(2026, 1, 5)
    assert parse_date("2026年1月5日", NOW) == date(2026, 1, 5)
    assert parse_date("二〇二六年一月五日", NOW) == date(2026, 1, 5)
    assert parse_date("明年1月5日", NOW) == date(2026, 1, 5)
    # an explicit year is taken literally, even if past; callers decide about past deadlines
    assert parse_date("2024-03-01", NOW) == date(2024, 3, 1)


# ---------------------------------------------------------------- future bias


def test_future_bias_without_year():
    now = at(2025, 12, 20)
    assert parse_date("1月5日", now) == date(2026, 1, 5)
    assert parse_date("1-5", now) == date(2026, 1, 5)
    assert parse_date("1.5", now) == date(2026, 1, 5)
    assert parse_date("12月20日", now) == date(2025, 12, 20)  # today is not past
    assert parse_date("12月19日", now) == date(2026, 12, 19)
    assert parse_date("12月21日", now) == date(2025, 12, 21)


def test_feb_29_without_year():
    assert parse_date("2月29日", at(2027, 6, 1)) == date(2028, 2, 29)
    with pytest.raises(DateParseError, match="2026年2月没有29日"):
        parse_date("2月29日", at(2025, 6, 1))


def test_day_of_month():
    assert parse_date("20号", NOW) == date(2025, 12, 20)
    assert parse_date("17号", NOW) == date(2025, 12, 17)  # today
    assert parse_date("5号", NOW) == date(2026, 1, 5)  # past this month -> next month
    assert parse_date("五日", NOW) == date(2026, 1, 5)
    assert parse_date("本月20号", NOW) == date(2025, 12, 20)
    assert parse_date("下个月5号", NOW) == date(2026, 1, 5)
    assert parse_date("下月5日", NOW) == date(2026, 1, 5)
    assert parse_date("下月十五号", NOW) == date(2026, 1, 15)
    # the next month that has a 30th
    assert parse_date("30号", at(2026, 2, 10)) == date(2026, 3, 30)


# ---------------------------------------------------------------- relative words


@pytest.mark.parametrize(
    "text, expected",
    [
        ("今天", date(2025, 12, 17)),
        ("今日", date(2025, 12, 17)),
        ("明天", date(2025, 12, 18)),
        ("后天", date(2025, 12, 19)),
        ("大后天", date(2025, 12, 20)),
        ("3天后", date(2025, 12, 20)),
        ("三天后", date(2025, 12, 20)),
        ("3天以后", date(2025, 12, 20)),
        ("3天内", date(2025, 12, 20)),
        ("过3天", date(2025, 12, 20)),
        ("十天后", date(2025, 12, 27)),
        ("两周后", date(2025, 12, 31)),
        ("1个星期后", date(2025, 12, 24)),
        ("一个月后", date(2026, 1, 17)),
    ],
)
def test_relative_days(text, expected):
    assert parse_date(text, NOW) == expected


def test_month_later_is_clamped():
    assert parse_date("1个月后", at(2026, 1, 31)) == date(2026, 2, 28)


# ---------------------------------------------------------------- weekdays


@pytest.mark.parametrize(
    "text, expected",
    [
        # bare weekday: next occurrence strictly after today (today is Wednesday 12-17)
        ("周五", date(2025, 12, 19)),
        ("星期五", date(2025, 12, 19)),
        ("礼拜五", date(2025, 12, 19)),
        ("周三", date(2025, 12, 24)),  # today is Wednesday -> next week's
        ("周一", date(2025, 12, 22)),
        ("周日", date(2025, 12, 21)),
        ("星期天", date(2025, 12, 21)),
        ("周5", date(2025, 12, 19)),
        # this week (Monday-based), may be in the past
        ("本周五", date(2025, 12, 19)),
        ("这周五", date(2025, 12, 19)),
        ("这个星期五", date(2025, 12, 19)),
        ("本周一", date(2025, 12, 15)),
        # next week and the one after
        ("下周五", date(2025, 12, 26)),
        ("下星期五", date(2025, 12, 26)),
        ("下个礼拜五", date(2025, 12, 26)),
        ("下周三", date(2025, 12, 24)),
        ("下周日", date(2025, 12, 28)),
        ("下下周一", date(2025, 12, 29)),
        ("下下周五", date(2026, 1, 2)),
    ],
)
def test_weekdays(text, expected):
    assert parse_date(text, NOW) == expected


def test_weekday_on_sunday_uses_monday_based_weeks():
    sunday = at(2025, 12, 21)
    assert parse_date("本周五", sunday) == date(2025, 12, 19)
    assert parse_date("下周一", sunday) == date(2025, 12, 22)
    assert parse_date("周一", sunday) == date(2025, 12, 22)
    assert parse_date("周日", sunday) == date(2025, 12, 28)


# ---------------------------------------------------------------- month / year ends


@pytest.mark.parametrize(
    "text, expected",
    [
        ("月底", date(2025, 12, 31)),
        ("本月底", date(2025, 12, 31)),
        ("月末", date(2025, 12, 31)),
        ("下月底", date(2026, 1, 31)),
        ("下个月底", date(2026, 1, 31)),
        ("年底", date(2025, 12, 31)),
        ("年末", date(2025, 12, 31)),
        ("今年年底", date(2025, 12, 31)),
        ("明年年底", date(2026, 12, 31)),
    ],
)
def test_month_and_year_ends(text, expected):
    assert parse_date(text, NOW) == expected


def test_month_end_in_february():
    assert parse_date("下月底", at(2026, 1, 30)) == date(2026, 2, 28)
    assert parse_date("月底", at(2028, 2, 3)) == date(2028, 2, 29)


# ---------------------------------------------------------------- deadline phrasing


def test_before_and_until_words():
    assert parse_date("周五前", NOW) == date(2025, 12, 19)
    assert parse_date("12月31日之前", NOW) == date(2025, 12, 31)
    assert parse_date("截至12月31日", NOW) == date(2025, 12, 31)
    assert parse_date("到下周五", NOW) == date(2025, 12, 26)
    with pytest.raises(DateParseError):
        parse_date("3天前", NOW)  # three days ago is no deadline


# ---------------------------------------------------------------- working days


def test_workdays_around_national_day():
    friday = at(2025, 9, 26)
    cal = WorkCalendar()
    # 09-28 (Sunday) is a make-up working day; 10-01..08 are off
    assert parse_date("1个工作日后", friday, calendar=cal) == date(2025, 9, 28)
    assert parse_date("3个工作日后", friday, calendar=cal) == date(2025, 9, 30)
    assert parse_date("4个工作日内", friday, calendar=cal) == date(2025, 10, 9)
    assert parse_date("三个工作日", friday, calendar=cal) == date(2025, 9, 30)


def test_workdays_default_calendar_and_overrides():
    assert parse_date("3个工作日后", NOW) == date(2025, 12, 22)  # official calendar
    cal = WorkCalendar(overrides={date(2025, 12, 18): False})
    assert parse_date("3个工作日后", NOW, calendar=cal) == date(2025, 12, 23)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text",
    ["2月30日", "13月1日", "2025-13-01", "2025-02-29", "0月5日", "32号", "12-32",
     "2026年2月29日", "abc", "", "   ", "下周", "周八", "明年", "3天前", "十十月一日"],
)
def test_errors(text):
    with pytest.raises(DateParseError) as info:
        parse_date(text, NOW)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


def test_error_messages_are_short_chinese():
    with pytest.raises(DateParseError, match="看不懂这个日期:abc。可以写 2025-12-31、12月31日、12.31 或 下周五"):
        parse_date("abc", NOW)
    with pytest.raises(DateParseError, match="没有13月"):
        parse_date("13月1日", NOW)
    with pytest.raises(DateParseError, match="2月没有30日"):
        parse_date("2月30日", NOW)
    with pytest.raises(DateParseError, match="2026年2月没有31日"):
        parse_date("下月31号", at(2026, 1, 10))
    with pytest.raises(DateParseError) as info:
        parse_date("x" * 500, NOW)
    assert len(str(info.value)) < 100


# ---------------------------------------------------------------- the clock is passed in


def test_now_is_converted_to_office_time():
    utc = datetime(2025, 12, 20, 17, 0, tzinfo=UTC)  # 2025-12-21 01:00 in Shanghai
    assert parse_date("今天", utc) == date(2025, 12, 21)
    assert parse_date("明天", utc) == date(2025, 12, 22)
    assert parse_snooze("1小时", utc) == at(2025, 12, 21, 2, 0)
    assert parse_snooze("1小时", utc).tzinfo is OFFICE_TZ


def test_naive_now_is_office_time():
    assert parse_date("明天", datetime(2025, 12, 17, 23, 59)) == date(2025, 12, 18)


def test_modules_never_read_the_wall_clock():
    root = Path(__file__).resolve().parent.parent / "bot"
    for name in ("dateparse.py", "workdays.py"):
        source = (root / name).read_text(encoding="utf-8")
        for forbidden in ("datetime.now(", "date.today(", "time.time(", ".utcnow("):
            assert forbidden not in source, (name, forbidden)


# ---------------------------------------------------------------- snooze


@pytest.mark.parametrize(
    "text, delta",
    [
        ("1小时", timedelta(hours=1)),
        ("一小时后", timedelta(hours=1)),
        ("2小时", timedelta(hours=2)),
        ("２小时", timedelta(hours=2)),
        ("2个小时以后", timedelta(hours=2)),
        ("两个钟头", timedelta(hours=2)),
        ("1.5小时", timedelta(hours=1, minutes=30)),
        ("半小时", timedelta(minutes=30)),
        ("半个小时后", timedelta(minutes=30)),
        ("一个半小时", timedelta(hours=1, minutes=30)),
        ("30分钟", timedelta(minutes=30)),
        ("十分钟后", timedelta(minutes=10)),
        ("1小时后再提醒我", timedelta(hours=1)),
    ],
)
def test_snooze_durations(text, delta):
    assert parse_snooze(text, NOW) == NOW + delta


@pytest.mark.parametrize("text", ["明早", "明天上午", "明天早上", "明天", "明天9点", "明早9点"])
def test_snooze_tomorrow_morning(text):
    assert parse_snooze(text, NOW) == at(2025, 12, 18, 9, 0)
    assert parse_snooze(text, at(2025, 12, 17, 23, 50)) == at(2025, 12, 18, 9, 0)


def test_snooze_afternoon_future_biased():
    assert parse_snooze("下午", at(2025, 12, 17, 10, 0)) == at(2025, 12, 17, 14, 0)
    assert parse_snooze("下午", at(2025, 12, 17, 14, 0)) == at(2025, 12, 18, 14, 0)
    assert parse_snooze("下午", at(2025, 12, 17, 16, 0)) == at(2025, 12, 18, 14, 0)
    assert parse_snooze("明天下午", NOW) == at(2025, 12, 18, 14, 0)
    assert parse_snooze("上午", at(2025, 12, 17, 8, 0)) == at(2025, 12, 17, 9, 0)
    assert parse_snooze("中午", NOW) == at(2025, 12, 17, 12, 0)
    assert parse_snooze("明晚", NOW) == at(2025, 12, 18, 20, 0)


@pytest.mark.parametrize(
    "text, now, expected",
    [
        ("15:30", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 30)),
        ("15：30", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 30)),
        ("１５：３０", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 30)),
        ("15:30", at(2025, 12, 17, 16, 0), at(2025, 12, 18, 15, 30)),
        ("3点半", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 30)),  # office hours: 15:30
        ("三点半", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 30)),
        ("3点一刻", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 15)),
        ("9点", at(2025, 12, 17, 8, 0), at(2025, 12, 17, 9, 0)),
        ("9点", at(2025, 12, 17, 23, 0), at(2025, 12, 18, 9, 0)),  # future bias
        ("9点", at(2025, 12, 17, 9, 0), at(2025, 12, 18, 9, 0)),  # not "now" itself
        ("九点", at(2025, 12, 17, 23, 0), at(2025, 12, 18, 9, 0)),
        ("9点15分", at(2025, 12, 17, 8, 0), at(2025, 12, 17, 9, 15)),
        ("9点15", at(2025, 12, 17, 8, 0), at(2025, 12, 17, 9, 15)),
        ("10点钟", at(2025, 12, 17, 8, 0), at(2025, 12, 17, 10, 0)),
        ("下午3点", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 15, 0)),
        ("晚上8点", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 20, 0)),
        ("凌晨3点", at(2025, 12, 17, 10, 0), at(2025, 12, 18, 3, 0)),
        ("上午11点", at(2025, 12, 17, 10, 0), at(2025, 12, 17, 11, 0)),
        ("明天下午3点", at(2025, 12, 17, 10, 0), at(2025, 12, 18, 15, 0)),
        ("周五下午3点", at(2025, 12, 17, 10, 0), at(2025, 12, 19, 15, 0)),
        ("12月31日15:00", at(2025, 12, 17, 10, 0), at(2025, 12, 31, 15, 0)),
    ],
)
def test_snooze_clock_times(text, now, expected):
    assert parse_snooze(text, now) == expected


def test_snooze_dates_default_to_nine():
    assert parse_snooze("周五", NOW) == at(2025, 12, 19, 9, 0)
    assert parse_snooze("下周一", NOW) == at(2025, 12, 22, 9, 0)
    assert parse_snooze("3天后", NOW) == at(2025, 12, 20, 9, 0)


def test_snooze_results_are_aware_and_after_now():
    for text in ["1小时", "明早", "下午", "15:30", "3点半", "9点", "周五"]:
        result = parse_snooze(text, NOW)
        assert result.tzinfo is OFFICE_TZ
        assert result > NOW


@pytest.mark.parametrize(
    "text",
    ["", "abc", "0小时", "个小时", "25点", "9点61分", "今天9点", "今天下午3点之后的之后", "凌晨", "2月30日9点"],
)
def test_snooze_errors(text):
    with pytest.raises(DateParseError):
        parse_snooze(text, NOW)


def test_snooze_error_messages():
    with pytest.raises(DateParseError, match="看不懂这个时间:abc"):
        parse_snooze("abc", NOW)
    with pytest.raises(DateParseError, match="已经过去"):
        parse_snooze("今天9点", NOW)


# ---------------------------------------------------------------- dates in words (issue 11)

JULY = at(2025, 7, 15, 9, 0)  # a Tuesday


@pytest.mark.parametrize(
    "text, expected",
    [
        ("明年3月底", date(2026, 3, 31)),
        ("明年三月底", date(2026, 3, 31)),
        ("到明年3月底", date(2026, 3, 31)),
        ("明年3月底前", date(2026, 3, 31)),
        ("明年一月底", date(2026, 1, 31)),
        ("2026年3月底", date(2026, 3, 31)),
        ("今年9月底", date(2025, 9, 30)),
        ("9月底", date(2025, 9, 30)),
        ("9月底前", date(2025, 9, 30)),
        ("九月份底", date(2025, 9, 30)),
        ("十月末", date(2025, 10, 31)),
        ("7月底", date(2025, 7, 31)),       # still ahead this month
        ("三月底", date(2026, 3, 31)),      # past this year: next year
        ("2月底", date(2026, 2, 28)),
        ("8月上旬", date(2025, 8, 10)),
        ("3月中旬", date(2026, 3, 20)),
        ("8月中旬前", date(2025, 8, 20)),
        ("8月下旬", date(2025, 8, 31)),
        ("下个月15号", date(2025, 8, 15)),
        ("下月15日前", date(2025, 8, 15)),
        ("月底前", date(2025, 7, 31)),
        ("年底前", date(2025, 12, 31)),
        ("下周五", date(2025, 7, 25)),
        ("下下周一", date(2025, 7, 28)),
        ("本周内", date(2025, 7, 18)),
        ("这周内", date(2025, 7, 18)),
        ("周内", date(2025, 7, 18)),
        ("下周内", date(2025, 7, 25)),
        ("本月内", date(2025, 7, 31)),
        ("下个月内", date(2025, 8, 31)),
        ("年内", date(2025, 12, 31)),
        ("今年内", date(2025, 12, 31)),
        ("明年内", date(2026, 12, 31)),
        ("两周内", date(2025, 7, 29)),
        ("十天内", date(2025, 7, 25)),
        ("十五天之内", date(2025, 7, 30)),
        ("三个工作日内", date(2025, 7, 18)),
    ],
)
def test_dates_in_words(text, expected):
    assert parse_date(text, JULY) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # 2025 National Day + Mid-autumn: Oct 1–8 off, Oct 9 is the first working day
        ("国庆后", date(2025, 10, 9)),
        ("国庆节后", date(2025, 10, 9)),
        ("国庆假期后", date(2025, 10, 9)),
        ("国庆以后", date(2025, 10, 9)),
        ("国庆前", date(2025, 9, 30)),
        ("国庆节之前", date(2025, 9, 30)),
        # 2026 Spring Festival: Feb 15–23 off (Feb 14, a Saturday, is a make-up working day)
        ("春节前", date(2026, 2, 14)),
        ("春节后", date(2026, 2, 24)),
        ("明年春节后", date(2026, 2, 24)),
        ("春节过后", date(2026, 2, 24)),
        ("到春节前", date(2026, 2, 14)),
        ("元旦前", date(2025, 12, 31)),
        ("端午后", date(2026, 6, 22)),
    ],
)
def test_holidays(text, expected):
    assert parse_date(text, JULY) == expected


def test_holiday_this_year_may_be_past_and_next_one_is_meant_otherwise():
    assert parse_date("今年春节后", JULY) == date(2025, 2, 5)  # the caller decides about the past
    assert parse_date("国庆后", at(2025, 10, 20)) == date(2026, 10, 8)
    assert parse_date("春节前", at(2026, 2, 16)) == date(2027, 2, 4)  # during the holiday: next year (no 2027 data: 除夕 Feb 5 off)


def test_holidays_without_official_data_use_fixed_rules():
    # chinesecalendar 1.11.0 has no 2027 data: 春节 = 除夕..初七 off, 国庆 Oct 1–7
    march = at(2027, 3, 1)
    assert parse_date("春节后", march) == date(2028, 2, 2)   # LNY 2028-01-26, off Jan 25–Feb 1
    assert parse_date("春节前", march) == date(2028, 1, 24)
    assert parse_date("国庆后", march) == date(2027, 10, 8)
    assert parse_date("国庆前", march) == date(2027, 9, 30)
    with pytest.raises(DateParseError, match="没有数据"):
        parse_date("端午后", march)


@pytest.mark.parametrize(
    "text", ["13月底", "明年", "下周", "本周", "春节", "国庆", "3月中", "月底后", "春节前后"],
)
def test_words_errors(text):
    with pytest.raises(DateParseError):
        parse_date(text, JULY)


def test_snooze_accepts_the_new_dates():
    assert parse_snooze("国庆后", JULY) == datetime(2025, 10, 9, 9, 0, tzinfo=OFFICE_TZ)
    assert parse_snooze("下个月15号", JULY) == datetime(2025, 8, 15, 9, 0, tzinfo=OFFICE_TZ)
