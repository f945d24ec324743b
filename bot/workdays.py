"""China's official working-day calendar (工作日), for deadlines and reminders.

Whether a date is a working day is decided, in order, by

1. the office's own overrides from config (``reminders.calendar_overrides``:
   ``True`` = working day, ``False`` = day off), then
2. the ``chinesecalendar`` package, which knows the State Council's yearly holiday
   notices including 调休 make-up working days on weekends, then
3. for a year that package has no data for (it raises ``NotImplementedError``, e.g. 2027
   with chinesecalendar 1.11.0), the ``holidays`` package's China calendar: the statutory
   holidays (元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆) from its built-in rules and tables,
   weekends off, and the make-up working days it knows (it only knows them once the year's
   notice is in the package, so for a year ahead there are usually none: add them to
   ``calendar_overrides``, e.g. ``2027-02-20: true``). Nothing is fetched over the network.
   ``on_missing_year(year)`` is then called once per year per calendar so the caller can
   warn the admins (``missing_year_notice`` is the text); the default just logs a warning.
   Nothing here crashes for a missing year. A year neither package covers is Monday–Friday.

Conventions (all functions take ``date`` objects; nothing here reads the clock):

* ``effective_deadline(d)``: a deadline on a non-working day counts as the next working day
  (民法典 第二百零三条 style: 期间的最后一日是法定休假日的,以法定休假日结束的次日为期间的最后一日).
* ``add_workdays(d, n)``: the n-th working day after ``d`` (before it when ``n < 0``); ``d``
  itself is never counted, so "T-3 working days" is ``add_workdays(effective_deadline(d), -3)``.
* ``workdays_between(a, b)``: working days in ``(a, b]`` — after ``a``, up to and including
  ``b``; negative when ``b < a``. "Overdue by N working days" is
  ``workdays_between(effective_deadline(deadline), today)``.
* ``workdays_in_range(a, b)``: the working days in ``[a, b]``, both ends included.

Answers are cached per calendar instance (a dict keyed by date, plus per-month working-day
counts for ``workdays_between``), so the reminder job can ask about the same few hundred
dates for 100,000 tasks cheaply. A calendar is safe to share between threads.
"""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta
from typing import Callable, Iterator, Mapping, Optional

import chinese_calendar
import holidays

logger = logging.getLogger(__name__)

__all__ = ["WorkCalendar", "logger", "missing_year_notice"]

_ONE_DAY = timedelta(days=1)


def missing_year_notice(year: int) -> str:
    """The admins' warning (Chinese, phone-sized) for a year chinesecalendar does not cover."""
    return (f"⚠️ 日历提醒:chinesecalendar 还没有{year}年的放假安排,暂按法定节假日(holidays 包)"
            f"和周一至周五算工作日,调休上班的周末不知道。\n"
            f"请升级 chinesecalendar,或在 config.yaml 的 reminders.calendar_overrides 里"
            f"补上{year}年的调休上班日(如 {year}-02-20: true)。")


def _check_date(d: object) -> date:
    # datetime is a subclass of date but would hash differently from the override keys and
    # carries a time zone question (which day is it in Shanghai?); callers convert first.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}: {d!r}")
    return d


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_end(d: date) -> date:
    year, month = _next_month(d.year, d.month)
    return date(year, month, 1) - _ONE_DAY


class WorkCalendar:
    """Working-day calendar: config overrides, then chinesecalendar, then ``holidays`` (China).

    ``overrides`` maps dates to ``True`` (working day) / ``False`` (day off) and beats the
    package. ``on_missing_year`` is called (once per year for this instance) when a date's
    year is not covered by chinesecalendar and the ``holidays`` fallback was used.
    """

    def __init__(
        self,
        overrides: Optional[Mapping[date, bool]] = None,
        on_missing_year: Optional[Callable[[int], None]] = None,
    ) -> None:
        self._overrides: dict[date, bool] = {}
        for key, value in (overrides or {}).items():
            self._overrides[_check_date(key)] = bool(value)
        self._on_missing_year = on_missing_year or self._log_missing_year
        self._cache: dict[date, bool] = {}
        self._month_cache: dict[tuple[int, int], int] = {}
        self._missing_years: set[int] = set()
        #: year -> (days off, weekend working days) from the holidays package
        self._fallback: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lookups

    @staticmethod
    def _log_missing_year(year: int) -> None:
        logger.warning(
            "chinesecalendar %s has no holiday data for %d; using the statutory holidays of "
            "the holidays package %s and Monday–Friday otherwise (make-up working days on "
            "weekends are not known). Upgrade chinesecalendar or add calendar_overrides for %d.",
            getattr(chinese_calendar, "__version__", "?"),
            year,
            holidays.__version__,
            year,
        )

    @property
    def missing_years(self) -> frozenset[int]:
        """Years for which the ``holidays`` fallback has been used so far."""
        with self._lock:
            return frozenset(self._missing_years)

    @property
    def overrides(self) -> Mapping[date, bool]:
        return dict(self._overrides)

    def clear_cache(self) -> None:
        """Forget cached answers (missing-year warnings are not repeated)."""
        self._cache.clear()
        self._month_cache.clear()

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is a working day (overrides, then chinesecalendar, then ``holidays``)."""
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        answer = self._compute(_check_date(d))
        self._cache[d] = answer
        return answer

    def _compute(self, d: date) -> bool:
        override = self._overrides.get(d)
        if override is not None:
            return override
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            self._note_missing_year(d.year)
            days_off, weekend_workdays = self._fallback_year(d.year)
            if d in weekend_workdays:
                return True
            return d.weekday() < 5 and d not in days_off

    def _fallback_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """China's statutory days off and known weekend working days of ``year`` (holidays package)."""
        with self._lock:
            known = self._fallback.get(year)
            if known is None:
                # public holidays only (not the half days for women / youth); built once per
                # year under the lock because the package fills its dict lazily
                china = holidays.China(years=year)
                days_off = frozenset(day for day in china if day.year == year)
                weekend_workdays = frozenset(day for day in china.weekend_workdays if day.year == year)
                known = self._fallback[year] = (days_off, weekend_workdays)
            return known

    def _note_missing_year(self, year: int) -> None:
        with self._lock:
            if year in self._missing_years:
                return
            self._missing_years.add(year)
        try:
            self._on_missing_year(year)
        except Exception:  # a broken warning hook must not break deadlines
            logger.exception("on_missing_year callback failed for %d", year)

    def is_holiday(self, d: date) -> bool:
        """True if ``d`` is not a working day (weekend, public holiday or override)."""
        return not self.is_workday(d)

    # ------------------------------------------------------------------ arithmetic

    def next_workday_on_or_after(self, d: date) -> date:
        """``d`` if it is a working day, otherwise the first working day after it."""
        d = _check_date(d)
        while not self.is_workday(d):
            d += _ONE_DAY
        return d

    def previous_workday_on_or_before(self, d: date) -> date:
        """``d`` if it is a working day, otherwise the last working day before it."""
        d = _check_date(d)
        while not self.is_workday(d):
            d -= _ONE_DAY
        return d

    def effective_deadline(self, d: date) -> date:
        """A deadline on a non-working day moves to the next working day (民法典 art. 203)."""
        return self.next_workday_on_or_after(d)

    def add_workdays(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (before it if ``n < 0``); ``d`` itself is not counted.

        ``add_workdays(d, 0)`` returns ``d`` unchanged, working day or not.
        Examples (2025): ``add_workdays(2025-09-30, 1) == 2025-10-09`` (National Day);
        ``add_workdays(2025-10-09, -3) == 2025-09-28`` (a Sunday make-up working day).
        """
        d = _check_date(d)
        n = int(n)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_workday(d):
                remaining -= 1
        return d

    def workdays_between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b``; negative if ``b < a``.

        ``workdays_between(deadline, today)`` is how many working days a task is overdue
        (0 on the deadline itself or before any working day has passed).
        """
        a = _check_date(a)
        b = _check_date(b)
        if b < a:
            return -self.workdays_between(b, a)
        if a == b:
            return 0
        start = a + _ONE_DAY
        if (start.year, start.month) == (b.year, b.month):
            return self._count_days(start, b)
        # partial first month + whole months (cached counts) + partial last month
        count = self._count_days(start, _month_end(start))
        year, month = _next_month(start.year, start.month)
        while (year, month) != (b.year, b.month):
            count += self._month_count(year, month)
            year, month = _next_month(year, month)
        return count + self._count_days(date(b.year, b.month, 1), b)

    def _count_days(self, first: date, last: date) -> int:
        count = 0
        d = first
        while d <= last:
            if self.is_workday(d):
                count += 1
            d += _ONE_DAY
        return count

    def _month_count(self, year: int, month: int) -> int:
        key = (year, month)
        cached = self._month_cache.get(key)
        if cached is None:
            cached = self._count_days(date(year, month, 1), _month_end(date(year, month, 1)))
            self._month_cache[key] = cached
        return cached

    def workdays_in_range(self, a: date, b: date) -> Iterator[date]:
        """Yield the working days from ``a`` to ``b``, both included (nothing if ``b < a``)."""
        a = _check_date(a)
        b = _check_date(b)
        d = a
        while d <= b:
            if self.is_workday(d):
                yield d
            d += _ONE_DAY

    def __repr__(self) -> str:
        return f"WorkCalendar(overrides={len(self._overrides)}, cached={len(self._cache)})"
