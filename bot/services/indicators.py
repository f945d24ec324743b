"""Indicators: one short, exact answer to "财政收入多少" and lists by category.

序时进度 for an annual target is the share of the year elapsed at the end of the data period
(January–June = 50%); the gap is completion minus that, in percentage points.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Optional

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from bot.models import Indicator, IndicatorValue
from bot.services.lookup import KIND_INDICATOR, name_index
from bot.services.text import fmt_number, fmt_pp, fmt_signed

PREFIX_QUALIFIERS = ("预计", "约", "超", "近", "超过", "逾")
SOURCE_PREVIEW = 60  # characters of the source sentence shown with every answer


def year_elapsed_pct(period_end: date) -> float:
    """序时进度 at ``period_end``: whole months / 12 at a month's end, else days / days in year."""
    if period_end.day == calendar.monthrange(period_end.year, period_end.month)[1]:
        return period_end.month * 100.0 / 12
    start = date(period_end.year, 1, 1)
    days_in_year = 366 if calendar.isleap(period_end.year) else 365
    return ((period_end - start).days + 1) * 100.0 / days_in_year


def fmt_value(value: Optional[float], unit: str, qualifier: Optional[str] = None) -> str:
    if value is None:
        return "报告未给出数值"
    text = fmt_number(value) + unit
    if not qualifier:
        return text
    if qualifier in PREFIX_QUALIFIERS:
        return qualifier + text
    return fmt_number(value) + qualifier + unit if qualifier == "余" else text + qualifier


@dataclass
class IndicatorAnswer:
    indicator: Indicator
    latest: Optional[IndicatorValue]

    @property
    def completion_pct(self) -> Optional[float]:
        ind, val = self.indicator, self.latest
        if ind.target and val is not None and val.value is not None:
            return val.value * 100.0 / ind.target
        return None

    @property
    def schedule_pct(self) -> Optional[float]:
        if self.latest is None or self.indicator.target is None:
            return None
        return year_elapsed_pct(self.latest.period_end)

    @property
    def gap_pp(self) -> Optional[float]:
        if self.completion_pct is None or self.schedule_pct is None:
            return None
        return self.completion_pct - self.schedule_pct

    def lines(self, with_source: bool = False) -> list[str]:
        ind, val = self.indicator, self.latest
        out = [f"📊 {ind.name}"]
        if val is None:
            out.append("暂无数据。")
            return out
        head = f"{fmt_value(val.value, ind.unit, val.qualifier)}({val.period_label})"
        if val.yoy_pct is not None:
            head += f",同比{fmt_signed(val.yoy_pct)}"
        out.append(head)
        if ind.target is not None:
            target = f"全年目标{fmt_number(ind.target)}{ind.unit}"
            if self.completion_pct is not None:
                target += f",完成{fmt_number(self.completion_pct, 1)}%"
                out.append(target)
                out.append(f"序时进度{fmt_number(self.schedule_pct, 1)}%,{fmt_pp(self.gap_pp or 0.0)}")
            else:
                out.append(target)
        if val.source:
            limit = None if with_source else SOURCE_PREVIEW
            source = val.source if limit is None or len(val.source) <= limit else val.source[: limit - 1] + "…"
            out.append(f"原文:{source}")
        if with_source and ind.target_source:
            out.append(f"目标出处:{ind.target_source}")
        return out


# built once: every indicator answer runs it
_LATEST_VALUE = (select(IndicatorValue).where(IndicatorValue.indicator_id == bindparam("indicator_id"))
                 .order_by(IndicatorValue.period_end.desc()).limit(1))


def latest_value(session: Session, indicator_id: int) -> Optional[IndicatorValue]:
    return session.scalar(_LATEST_VALUE, {"indicator_id": indicator_id})


def answer_for(session: Session, indicator: Indicator) -> IndicatorAnswer:
    return IndicatorAnswer(indicator, latest_value(session, indicator.id))


_NEWER = aliased(IndicatorValue)
# The indicator and its latest value (periods are unique per indicator) in one row, built once.
_WITH_LATEST = (
    select(Indicator, IndicatorValue)
    .outerjoin(IndicatorValue, and_(
        IndicatorValue.indicator_id == Indicator.id,
        IndicatorValue.period_end == select(func.max(_NEWER.period_end))
        .where(_NEWER.indicator_id == Indicator.id).scalar_subquery()))
    .where(Indicator.id == bindparam("indicator_id"))
)


def answer_by_id(session: Session, indicator_id: int) -> Optional[IndicatorAnswer]:
    """``answer_for`` from an id in one query (the question path); None if it is gone."""
    row = session.execute(_WITH_LATEST, {"indicator_id": indicator_id}).first()
    return IndicatorAnswer(row[0], row[1]) if row is not None else None


def find_indicator(session: Session, text: str) -> Optional[Indicator]:
    match = name_index(session).find(session, text, kinds={KIND_INDICATOR})
    return session.get(Indicator, match.best[1]) if match.best else None


def get_by_key(session: Session, key: str) -> Optional[Indicator]:
    return session.scalar(select(Indicator).where(Indicator.key == key))


# /kpi statements, built once (see bot.services.tasks on why)
_CATEGORIES = (select(Indicator.category, func.count(), func.min(Indicator.sort_order))
               .group_by(Indicator.category).order_by(func.min(Indicator.sort_order)))
_IN_CATEGORY = (select(Indicator).where(Indicator.category == bindparam("category"))
                .order_by(Indicator.sort_order))
_VALUES_OF = (select(IndicatorValue).where(IndicatorValue.indicator_id.in_(bindparam("ids", expanding=True)))
              .order_by(IndicatorValue.period_end))


def categories(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(_CATEGORIES)
    return [(category, count) for category, count, _ in rows]


def by_category(session: Session, category: str) -> list[IndicatorAnswer]:
    indicators = session.scalars(_IN_CATEGORY, {"category": category}).all()
    latest: dict[int, IndicatorValue] = {}
    for value in session.scalars(_VALUES_OF, {"ids": [i.id for i in indicators]}):
        latest[value.indicator_id] = value  # ordered by period_end: the last one wins
    return [IndicatorAnswer(i, latest.get(i.id)) for i in indicators]


def one_line(answer: IndicatorAnswer) -> str:
    ind, val = answer.indicator, answer.latest
    if val is None:
        return f"· {ind.name}:暂无"
    text = f"· {ind.name} {fmt_value(val.value, ind.unit, val.qualifier)}"
    if val.yoy_pct is not None:
        text += f" {fmt_signed(val.yoy_pct)}"
    if answer.gap_pp is not None:
        text += f"(目标完成{fmt_number(answer.completion_pct, 1)}%)"
    return text
