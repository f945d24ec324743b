"""Tests for bot.workdays.

Calendar facts are hard-coded from the State Council notices, and were checked against
chinesecalendar 1.11.0:

* 国办发明电〔2024〕12号 (2025): 国庆节、中秋节 10月1日(周三)至8日(周三)放假调休,共8天;
  9月28日(周日)、10月11日(周六)上班。
* 国办发明电〔2025〕7号 (2026): 春节 2月15日(周日)至23日(周一)放假调休,共9天;
  2月14日(周六)、2月28日(周六)上班。

2027 is not in chinesecalendar 1.11.0: those days come from the ``holidays`` package (0.109):
元旦 1月1日(周五); 春节 2月5日(除夕,周五)至10日(周三); 国庆 10月1日(周五)至5日(周二).
The State Council notice for 2027 (with its 调休 make-up days) was not out when this was written.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from bot.workdays import WorkCalendar, missing_year_notice

NATIONAL_DAY_2025_OFF = [date(2025, 10, d) for d in range(1, 9)]
NATIONAL_DAY_2025_MAKEUP = [date(2025, 9, 28), date(2025, 10, 11)]
SPRING_2026_OFF = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
SPRING_2026_MAKEUP = [date(2026, 2, 14), date(2026, 2, 28)]


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# ---------------------------------------------------------------- the package agrees


def test_package_matches_2025_notice():
    for d in NATIONAL_DAY_2025_OFF:
        assert not chinese_calendar.is_workday(d), d
    for d in NATIONAL_DAY_2025_MAKEUP:
        assert d.weekday() >= 5
        assert chinese_calendar.is_workday(d), d


def test_package_matches_2026_notice():
    for d in SPRING_2026_OFF:
        assert not chinese_calendar.is_workday(d), d
    for d in SPRING_2026_MAKEUP:
        assert d.weekday() == 5
        assert chinese_calendar.is_workday(d), d


# ---------------------------------------------------------------- is_workday


def test_national_day_2025(cal):
    assert [cal.is_workday(d) for d in NATIONAL_DAY_2025_OFF] == [False] * 8
    assert cal.is_workday(date(2025, 9, 28))  # Sunday make-up day
    assert cal.is_workday(date(2025, 10, 11))  # Saturday make-up day
    assert cal.is_workday(date(2025, 9, 30))
    assert cal.is_workday(date(2025, 10, 9))
    assert not cal.is_workday(date(2025, 9, 27))  # ordinary Saturday
    assert not cal.is_workday(date(2025, 10, 12))  # ordinary Sunday
    assert cal.is_holiday(date(2025, 10, 1))


def test_spring_festival_2026(cal):
    assert not any(cal.is_workday(d) for d in SPRING_2026_OFF)
    assert all(cal.is_workday(d) for d in SPRING_2026_MAKEUP)
    assert cal.is_workday(date(2026, 2, 13))
    assert cal.is_workday(date(2026, 2, 24))
    # 2026-02-13 (Fri) -> next working day is the 14th (make-up Saturday) -> then the 24th
    assert cal.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_workdays(date(2026, 2, 14), 1) == date(2026, 2, 24)


def test_ordinary_weekend(cal):
    assert not cal.is_workday(date(2025, 11, 15))  # Saturday
    assert not cal.is_workday(date(2025, 11, 16))  # Sunday
    assert cal.is_workday(date(2025, 11, 14))
    assert cal.is_workday(date(2025, 11, 17))
    assert cal.next_workday_on_or_after(date(2025, 11, 15)) == date(2025, 11, 17)
    assert cal.effective_deadline(date(2025, 11, 16)) == date(2025, 11, 17)
    assert cal.add_workdays(date(2025, 11, 14), 1) == date(2025, 11, 17)
    assert cal.previous_workday_on_or_before(date(2025, 11, 16)) == date(2025, 11, 14)


# ---------------------------------------------------------------- deadlines


def test_effective_deadline_in_national_day(cal):
    assert cal.effective_deadline(date(2025, 10, 3)) == date(2025, 10, 9)
    assert cal.effective_deadline(date(2025, 10, 9)) == date(2025, 10, 9)
    assert cal.effective_deadline(date(2025, 9, 28)) == date(2025, 9, 28)  # make-up day


def test_t_minus_3_right_after_national_day(cal):
    deadline = cal.effective_deadline(date(2025, 10, 9))
    # 10-08..10-01 are off; 09-30 is T-1, 09-29 T-2, and Sunday 09-28 (make-up) T-3.
    assert cal.add_workdays(deadline, -1) == date(2025, 9, 30)
    assert cal.add_workdays(deadline, -2) == date(2025, 9, 29)
    assert cal.add_workdays(deadline, -3) == date(2025, 9, 28)
    # A deadline set inside the holiday behaves the same once made effective.
    assert cal.add_workdays(cal.effective_deadline(date(2025, 10, 5)), -3) == date(2025, 9, 28)


def test_add_workdays_edges(cal):
    assert cal.add_workdays(date(2025, 10, 4), 0) == date(2025, 10, 4)
    assert cal.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert cal.add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)  # make-up Saturday
    assert cal.add_workdays(date(2025, 10, 11), -1) == date(2025, 10, 10)
    d = date(2025, 9, 1)
    assert cal.add_workdays(cal.add_workdays(d, 25), -25) == d


def test_workdays_between(cal):
    deadline = date(2025, 10, 9)
    assert cal.workdays_between(deadline, deadline) == 0
    assert cal.workdays_between(date(2025, 10, 31), date(2025, 10, 31)) == 0  # month end
    assert cal.workdays_between(date(2025, 12, 31), date(2025, 12, 31)) == 0  # year end
    assert cal.workdays_between(date(2025, 10, 31), date(2025, 11, 3)) == 1
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 11, 3)) == 19
    assert cal.workdays_between(deadline, date(2025, 10, 10)) == 1
    assert cal.workdays_between(deadline, date(2025, 10, 11)) == 2  # make-up Saturday
    assert cal.workdays_between(deadline, date(2025, 10, 12)) == 2  # Sunday off
    assert cal.workdays_between(deadline, date(2025, 10, 13)) == 3
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 8)) == 0
    assert cal.workdays_between(date(2025, 10, 13), deadline) == -3
    # a deadline inside the holiday: not overdue until after its effective day
    assert cal.workdays_between(cal.effective_deadline(date(2025, 10, 3)), date(2025, 10, 9)) == 0


def test_workdays_between_matches_day_by_day_count():
    cal = WorkCalendar(overrides={date(2025, 10, 8): True, date(2026, 3, 2): False})
    start = date(2024, 12, 1)
    days = [start + timedelta(days=i) for i in range(0, 900, 7)] + [date(2025, 10, 31), date(2026, 2, 28)]
    for a in days[::5]:
        for b in days:
            lo, hi = min(a, b), max(a, b)
            naive = sum(
                1 for i in range(1, (hi - lo).days + 1) if cal.is_workday(lo + timedelta(days=i))
            )
            assert cal.workdays_between(a, b) == (naive if b >= a else -naive), (a, b)


def test_workdays_in_range(cal):
    days = list(cal.workdays_in_range(date(2025, 9, 27), date(2025, 10, 12)))
    assert days == [
        date(2025, 9, 28),
        date(2025, 9, 29),
        date(2025, 9, 30),
        date(2025, 10, 9),
        date(2025, 10, 10),
        date(2025, 10, 11),
    ]
    assert list(cal.workdays_in_range(date(2025, 10, 12), date(2025, 10, 1))) == []
    assert list(cal.workdays_in_range(date(2025, 10, 9), date(2025, 10, 9))) == [date(2025, 10, 9)]
    a, b = date(2025, 1, 1), date(2025, 12, 31)
    assert len(list(cal.workdays_in_range(a, b))) == cal.workdays_between(a - timedelta(1), b)


# ---------------------------------------------------------------- missing year


def test_missing_year_falls_back_to_the_holidays_package_and_warns_once():
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))  # premise: the package lacks 2027
    calls: list[int] = []
    cal = WorkCalendar(on_missing_year=calls.append)
    deadline = date(2027, 1, 4)  # a Monday
    for _ in range(50):
        assert cal.is_workday(deadline)
        assert cal.effective_deadline(deadline) == deadline
    assert not cal.is_workday(date(2027, 1, 1))  # 元旦, a Friday: statutory holiday
    assert not cal.is_workday(date(2027, 1, 2))  # Saturday
    assert not cal.is_workday(date(2027, 1, 3))  # Sunday
    assert cal.effective_deadline(date(2027, 1, 1)) == deadline
    assert cal.add_workdays(deadline, 5) == date(2027, 1, 11)
    cal.clear_cache()
    assert cal.is_workday(date(2027, 6, 1))
    assert calls == [2027]
    assert cal.missing_years == frozenset({2027})
    # crossing back into a known year: 2027-01-01 is off, so T-1 is Thursday 2026-12-31
    # and T-3 is 2026-12-29 (2026 data from chinesecalendar)
    assert cal.add_workdays(deadline, -1) == date(2026, 12, 31)
    assert cal.add_workdays(deadline, -3) == date(2026, 12, 29)
    assert calls == [2027]


def test_national_day_2027_is_a_holiday_through_the_holidays_package():
    cal = WorkCalendar(on_missing_year=lambda year: None)
    assert not cal.is_workday(date(2027, 10, 1))  # Friday, 国庆节
    # 10-02/03 weekend, 10-04/05 the package's days off for the weekend overlap
    assert [cal.is_workday(date(2027, 10, d)) for d in range(1, 8)] == [
        False, False, False, False, False, True, True]
    assert cal.effective_deadline(date(2027, 10, 1)) == date(2027, 10, 6)
    assert cal.add_workdays(date(2027, 9, 30), 1) == date(2027, 10, 6)
    assert cal.workdays_between(date(2027, 9, 30), date(2027, 10, 8)) == 3


def test_spring_festival_2027_days_off():
    cal = WorkCalendar(on_missing_year=lambda year: None)
    # 除夕 2027-02-05 (Friday) to 2027-02-10 (Wednesday): all off; Thursday 02-11 works
    off = [date(2027, 2, 5) + timedelta(days=i) for i in range(6)]
    assert [cal.is_workday(d) for d in off] == [False] * 6
    assert cal.is_workday(date(2027, 2, 4))
    assert cal.is_workday(date(2027, 2, 11))
    assert cal.add_workdays(date(2027, 2, 4), 1) == date(2027, 2, 11)
    # February 2027: 20 weekdays, 4 of them (Feb 5, 8, 9, 10) holidays
    assert cal.workdays_between(date(2027, 1, 31), date(2027, 2, 28)) == 16


def test_make_up_workdays_of_a_missing_year_come_from_overrides():
    calls: list[int] = []
    saturday = date(2027, 2, 20)  # a make-up working day the office adds once the notice is out
    cal = WorkCalendar(overrides={saturday: True, date(2027, 2, 11): False}, on_missing_year=calls.append)
    assert cal.is_workday(saturday)
    assert not cal.is_workday(date(2027, 2, 11))  # override beats the package's guess
    assert not cal.is_workday(date(2027, 2, 21))  # ordinary Sunday
    assert cal.add_workdays(date(2027, 2, 19), 1) == saturday
    assert cal.add_workdays(date(2027, 2, 4), 1) == date(2027, 2, 12)
    assert calls == [2027]  # the package was still asked about the other days: warned


def test_missing_year_notice_says_what_to_do():
    text = missing_year_notice(2027)
    assert "2027年" in text and "calendar_overrides" in text and "调休" in text
    assert "holidays" in text


def test_missing_year_is_per_instance():
    first: list[int] = []
    second: list[int] = []
    WorkCalendar(on_missing_year=first.append).is_workday(date(2027, 1, 4))
    WorkCalendar(on_missing_year=second.append).is_workday(date(2027, 1, 5))
    assert first == [2027] and second == [2027]


def test_missing_year_default_logs_one_warning(caplog):
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="bot.workdays"):
        for day in range(1, 31):
            cal.is_workday(date(2027, 3, day))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage() and "holidays" in warnings[0].getMessage()


def test_broken_callback_does_not_crash(caplog):
    def boom(year: int) -> None:
        raise RuntimeError("admin channel down")

    cal = WorkCalendar(on_missing_year=boom)
    with caplog.at_level(logging.ERROR, logger="bot.workdays"):
        assert cal.is_workday(date(2027, 1, 4))
        assert cal.is_workday(date(2027, 1, 5))
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


def test_known_year_does_not_warn():
    calls: list[int] = []
    cal = WorkCalendar(on_missing_year=calls.append)
    list(cal.workdays_in_range(date(2025, 1, 1), date(2026, 12, 31)))
    assert calls == []


# ---------------------------------------------------------------- overrides


def test_overrides_beat_the_package():
    cal = WorkCalendar(
        overrides={
            date(2025, 10, 8): True,  # package: holiday; office says duty day
            date(2025, 10, 11): False,  # package: make-up workday; office gives it off
            date(2027, 1, 4): False,  # a missing year: override still wins, no warning
        },
        on_missing_year=lambda year: pytest.fail(f"unexpected warning for {year}"),
    )
    assert cal.is_workday(date(2025, 10, 8))
    assert not cal.is_workday(date(2025, 10, 11))
    assert not cal.is_workday(date(2027, 1, 4))
    assert cal.effective_deadline(date(2025, 10, 3)) == date(2025, 10, 8)
    assert cal.add_workdays(date(2025, 10, 10), 1) == date(2025, 10, 13)
    assert cal.overrides[date(2025, 10, 8)] is True


def test_rejects_datetimes(cal):
    with pytest.raises(TypeError):
        cal.is_workday(datetime(2025, 10, 9, 9, 0))
    with pytest.raises(TypeError):
        WorkCalendar(overrides={datetime(2025, 10, 9): True})


def test_cache_makes_repeat_lookups_cheap(monkeypatch):
    cal = WorkCalendar()
    calls = 0
    real = chinese_calendar.is_workday

    def counting(d):
        nonlocal calls
        calls += 1
        return real(d)

    monkeypatch.setattr(chinese_calendar, "is_workday", counting)
    for _ in range(1000):
        cal.add_workdays(date(2025, 10, 9), -3)
    assert calls == 11  # 10-08 back to 09-28, each looked up once
