"""Excel ledger export (台账): tasks and indicators to .xlsx.

Export streams rows with openpyxl's write-only mode, reading tasks from the database in
batches (``yield_per``), so 10,000 tasks never sit in memory as objects. The task sheet has
the columns offices keep (序号, 类别, 项目/事项 ... 更新时间) plus a hidden 编号 column (the
task key) so a re-import matches rows exactly; the light is a cell fill.
"""
from __future__ import annotations

import logging
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from bot.models import Indicator, IndicatorValue, Person, Task, TaskUpdate, Team
from bot.services.indicators import IndicatorAnswer
from bot.services.lights import (
    DONE,
    GREEN,
    GREY,
    LIGHT_NAMES,
    PAUSED,
    RED,
    YELLOW,
    light_sql,
)
from bot.services.task_lists import filter_tasks

logger = logging.getLogger(__name__)

BATCH = 1000
TASK_SHEET = "事项台账"
INDICATOR_SHEET = "指标"

# (header, width); the last column (编号) is hidden and carries the task key.
TASK_COLUMNS = [
    ("序号", 6), ("类别", 10), ("项目/事项", 30), ("牵头单位", 16), ("责任人", 9),
    ("时间节点", 12), ("完成进度", 9), ("状态", 8), ("最新进展", 40), ("更新时间", 16), ("编号", 10),
]
INDICATOR_COLUMNS = [
    ("指标", 28), ("单位", 9), ("期间", 16), ("数值", 11), ("同比", 9), ("目标", 11),
    ("完成率", 9), ("序时进度差", 11), ("编号", 10),
]
LIGHT_FILLS = {
    RED: "FFC7CE", YELLOW: "FFEB9C", GREEN: "C6EFCE", GREY: "E7E6E6", DONE: "BDD7EE", PAUSED: "D9D9D9",
}
HEADER_FILL = "DDEBF7"
PERCENT_FORMAT = "0%"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


@dataclass
class ExportResult:
    path: Path
    tasks: int
    indicators: int
    title: str


class _Styles:
    """Styled write-only cells. Styles are registered once per look and their style array is
    copied to each new cell: assigning Font/Fill objects per cell is what makes openpyxl slow."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self._protos: dict[tuple, Any] = {}

    def cell(self, value, *, fill: Optional[str] = None, bold: bool = False,
             number_format: Optional[str] = None, wrap: bool = False):
        from openpyxl.cell import WriteOnlyCell

        look = (fill, bold, number_format, wrap)
        proto = self._protos.get(look)
        if proto is None:
            from openpyxl.styles import Alignment, Font, PatternFill

            proto = WriteOnlyCell(self.ws)
            if fill:
                proto.fill = PatternFill("solid", start_color=fill, end_color=fill)
            if bold:
                proto.font = Font(bold=True)
            if number_format:
                proto.number_format = number_format
            if wrap:
                proto.alignment = Alignment(wrap_text=True, vertical="top")
            self._protos[look] = proto
        cell = WriteOnlyCell(self.ws, value=value)
        cell._style = copy(proto._style)
        return cell


def _setup_sheet(ws, columns: list[tuple[str, int]], hide_last: bool = True) -> None:
    """Widths, frozen header, A4 landscape fit to one page wide: set before any row."""
    from openpyxl.utils import get_column_letter

    for index, (_, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    if hide_last:
        ws.column_dimensions[get_column_letter(len(columns))].hidden = True
    ws.freeze_panes = "A2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def _naive(value: Optional[datetime]) -> Optional[datetime]:
    """Excel has no time zones: office time (Asia/Shanghai), without tzinfo."""
    return value.replace(tzinfo=None) if value is not None else None


def task_rows(session: Session, now: datetime, person: Optional[Person], which: str = "all",
              arg: Optional[str] = None) -> tuple[str, Iterator[tuple]]:
    """(title, rows) for the task sheet; rows are streamed from the database in batches."""
    query, title = filter_tasks(session, now, person, which, arg)
    tasks = query.subquery()
    owner = aliased(Person)
    latest_note = (
        select(TaskUpdate.note)
        .where(TaskUpdate.task_id == tasks.c.id, TaskUpdate.note.is_not(None))
        .order_by(TaskUpdate.created_at.desc(), TaskUpdate.id.desc())
        .limit(1).correlate(tasks).scalar_subquery()
    )
    light = light_sql(now.date())
    # light_sql is written against Task's columns: apply it to the filtered rows by id
    rows = (
        select(Task.id, Task.key, Task.category, Task.name, Task.lead_unit, Team.name, owner.name,
               Task.deadline, Task.progress, light, latest_note, Task.last_update_at)
        .join(tasks, tasks.c.id == Task.id)
        .outerjoin(Team, Team.id == Task.team_id)
        .outerjoin(owner, owner.id == Task.owner_id)
        .order_by(Task.id)
        .execution_options(yield_per=BATCH)
    )
    return title, (tuple(row) for row in session.execute(rows))


def export_ledger(session: Session, now: datetime, out_path: Path, person: Optional[Person] = None,
                  which: str = "all", arg: Optional[str] = None,
                  include_indicators: bool = True) -> ExportResult:
    """Write the ledger workbook (tasks sheet, indicators sheet) to ``out_path``."""
    from openpyxl import Workbook

    title, rows = task_rows(session, now, person, which, arg)
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(TASK_SHEET)
    _setup_sheet(ws, TASK_COLUMNS)
    styles = _Styles(ws)
    _cell = styles.cell
    ws.append([_cell(name, fill=HEADER_FILL, bold=True) for name, _ in TASK_COLUMNS])
    count = 0
    for (_id, key, category, name, lead_unit, team, owner, deadline, progress, light, note,
         updated) in rows:
        count += 1
        ws.append([
            count, category, name, lead_unit or team, owner,
            _cell(deadline, number_format=DATE_FORMAT) if deadline else None,
            _cell(progress / 100.0, number_format=PERCENT_FORMAT) if progress is not None else None,
            _cell(LIGHT_NAMES[light], fill=LIGHT_FILLS[light]),
            _cell(note, wrap=True) if note else None,
            _cell(_naive(updated), number_format=DATETIME_FORMAT) if updated else None,
            key,
        ])
    indicators = 0
    if include_indicators:
        indicators = _write_indicators(workbook, session)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out_path)
    logger.info("ledger exported: %d tasks, %d indicator rows -> %s", count, indicators, out_path)
    return ExportResult(out_path, count, indicators, title)


def _write_indicators(workbook, session: Session) -> int:
    ws = workbook.create_sheet(INDICATOR_SHEET)
    _setup_sheet(ws, INDICATOR_COLUMNS)
    _cell = _Styles(ws).cell
    ws.append([_cell(name, fill=HEADER_FILL, bold=True) for name, _ in INDICATOR_COLUMNS])
    query = (select(Indicator, IndicatorValue)
             .outerjoin(IndicatorValue, IndicatorValue.indicator_id == Indicator.id)
             .order_by(Indicator.sort_order, Indicator.id, IndicatorValue.period_end)
             .execution_options(yield_per=BATCH))
    count = 0
    for indicator, value in session.execute(query):
        answer = IndicatorAnswer(indicator, value)
        completion = answer.completion_pct
        gap = answer.gap_pp
        ws.append([
            indicator.name, indicator.unit,
            value.period_label if value else None,
            value.value if value else None,
            _cell(value.yoy_pct / 100.0, number_format="0.0%") if value and value.yoy_pct is not None else None,
            indicator.target if indicator.target is not None else None,
            _cell(completion / 100.0, number_format="0.0%") if completion is not None else None,
            round(gap, 1) if gap is not None else None,
            indicator.key,
        ])
        count += 1
    return count
