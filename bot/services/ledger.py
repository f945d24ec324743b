"""Excel ledgers (台账): export tasks and indicators to .xlsx, import a ledger back.

Export streams rows with openpyxl's write-only mode, reading tasks from the database in
batches (``yield_per``), so 10,000 tasks never sit in memory as objects. The task sheet has
the columns offices keep (序号, 类别, 项目/事项 ... 更新时间) plus a hidden 编号 column (the
task key) so a re-import matches rows exactly; the light is a cell fill.

Import reads a workbook in that layout (or a similar office table: the header row is found by
its column names, title rows and merged header cells above it are skipped), validates EVERY
row first and only then applies the changes in the caller's session. One bad row means
nothing is applied; the report lists each bad row with its reason. Progress is recorded as a
TaskUpdate by the importing admin (``record_update``), so history and the audit trail stay
right. A progress lower than the last report is a bad row: that needs a confirmation in chat.
"""
from __future__ import annotations

import logging
import re
import zipfile
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator, Optional

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, selectinload

from bot.config import LightsConfig
from bot.models import Indicator, IndicatorValue, Person, Task, TaskUpdate, Team
from bot.services import audit
from bot.services.errors import InvalidInput
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
    refresh_light_dates,
)
from bot.services.people import require_admin
from bot.services.task_lists import filter_tasks
from bot.services.tasks import record_update
from bot.services.text import fmt_number, nfkc, normalize_name

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5 * 1024 * 1024
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

# Header names an office table may use, mapped to our fields (compared after normalising).
TASK_HEADER_ALIASES = {
    "key": ("编号",),
    "name": ("项目/事项", "项目事项", "项目", "事项", "项目名称", "事项名称", "工作任务", "任务"),
    "progress": ("完成进度", "进度", "进度(%)", "完成进度(%)", "形象进度"),
    "note": ("最新进展", "进展情况", "推进情况", "工作进展", "进展"),
    "deadline": ("时间节点", "完成时限", "完成时间", "截止时间"),
    "owner": ("责任人",),
}
INDICATOR_HEADER_ALIASES = {
    "key": ("编号",),
    "name": ("指标", "指标名称", "项目"),
    "period": ("期间", "时期", "统计期", "月份"),
    "value": ("数值", "本期", "累计", "本年累计", "绝对值", "完成值"),
    "yoy": ("同比", "同比增长", "同比(%)", "同比增长(%)", "增速", "增幅"),
    "target": ("目标", "全年目标", "年度目标"),
}


def _norm_header(text: Any) -> str:
    return re.sub(r"[\s()（）%％/、]", "", nfkc(str(text or ""))).lower()


# ================================================================ export

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
              arg: Optional[str] = None, tasks_query: Optional[Select] = None,
              title: Optional[str] = None) -> tuple[str, Iterator[tuple]]:
    """(title, rows) for the task sheet; rows are streamed from the database in batches.
    ``tasks_query`` (a ``select(Task)``, e.g. a 驾驶舱 list) replaces the chat's filter."""
    if tasks_query is not None:
        query, title = tasks_query, title or "事项"
    else:
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
                  include_indicators: bool = True, tasks_query: Optional[Select] = None,
                  title: Optional[str] = None) -> ExportResult:
    """Write the ledger workbook (tasks sheet, indicators sheet) to ``out_path``."""
    from openpyxl import Workbook

    title, rows = task_rows(session, now, person, which, arg, tasks_query, title)
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


# ================================================================ import

@dataclass
class BadRow:
    sheet: str
    row: int
    reason: str

    def __str__(self) -> str:
        return f"{self.sheet} 第{self.row}行:{self.reason}"


@dataclass
class ImportReport:
    bad_rows: list[BadRow] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    task_rows: int = 0
    indicator_rows: int = 0
    applied: bool = False

    @property
    def checked(self) -> str:
        parts = []
        if self.task_rows:
            parts.append(f"事项{self.task_rows}行")
        if self.indicator_rows:
            parts.append(f"指标{self.indicator_rows}行")
        return "、".join(parts) or "0行"

    @property
    def ok(self) -> bool:
        return not self.bad_rows

    def as_text(self, limit: int = 15) -> str:
        if self.bad_rows:
            lines = [f"❌ 有{len(self.bad_rows)}行有问题,整个文件都没有导入。请改好后重发:"]
            lines += [f"· {bad}" for bad in self.bad_rows[:limit]]
            if len(self.bad_rows) > limit:
                lines.append(f"……另有{len(self.bad_rows) - limit}行")
            return "\n".join(lines)
        if not self.changes:
            return f"✅ 已核对{self.checked},与系统一致,没有改动。"
        lines = [f"✅ 已导入:核对{self.checked},改动{len(self.changes)}处:"]
        lines += [f"· {change}" for change in self.changes[:limit]]
        if len(self.changes) > limit:
            lines.append(f"……另有{len(self.changes) - limit}处")
        return "\n".join(lines)


@dataclass
class _TaskChange:
    row: int
    task: Task
    progress: Optional[float] = None
    note: Optional[str] = None
    deadline: Optional[date] = None
    set_deadline: bool = False
    owner: Optional[Person] = None


@dataclass
class _IndicatorChange:
    row: int
    indicator: Indicator
    period: str
    period_end: Optional[date]
    value_row: Optional[IndicatorValue]
    value: Optional[float] = None
    set_value: bool = False
    yoy: Optional[float] = None
    set_yoy: bool = False
    target: Optional[float] = None
    set_target: bool = False


class _Sheet:
    """One worksheet as plain rows: cached values, formula flags and number formats."""

    def __init__(self, title: str, values: list[list[Any]], formulas: list[list[bool]],
                 formats: list[list[str]], merged: list[tuple[int, int]] = ()) -> None:
        self.title = title
        self.values = values
        self.formulas = formulas
        self.formats = formats
        #: (first row, last row), 0-based, of each merged range
        self.merged = list(merged)


def check_file(path: Path) -> None:
    """Refuse what is not an .xlsx workbook or is too big, with a clear reason."""
    try:
        size = path.stat().st_size
    except OSError:
        raise InvalidInput("文件读不到,请重新发送。") from None
    if size > MAX_IMPORT_BYTES:
        raise InvalidInput(f"文件太大({size / 1024 / 1024:.1f} MB),上限 {MAX_IMPORT_BYTES // 1024 // 1024} MB。"
                           "请删去多余的表或图片后再发。")
    if size == 0:
        raise InvalidInput("文件是空的,请重新发送。")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput("这是旧版 .xls 文件。请在 Excel/WPS 里另存为 .xlsx 后再发。")
    if not zipfile.is_zipfile(path):
        raise InvalidInput("这不是 Excel 工作簿(.xlsx),无法导入。")


def _read_workbook(path: Path) -> list[_Sheet]:
    from openpyxl import load_workbook

    check_file(path)
    try:
        cached = load_workbook(path, data_only=True)
        raw = load_workbook(path, data_only=False, read_only=True)  # only to see formulas
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a workbook"
        logger.info("not a workbook %s: %s", path, exc)
        raise InvalidInput("这不是 Excel 工作簿(.xlsx),或文件已损坏,无法导入。") from None
    sheets = []
    for ws in cached.worksheets:
        raw_rows = raw[ws.title].iter_rows(min_row=1, values_only=True)
        values, formulas, formats = [], [], []
        for cached_row in ws.iter_rows(min_row=1):
            raw_row = next(raw_rows, ()) or ()
            values.append([c.value for c in cached_row])
            formulas.append([c < len(raw_row) and isinstance(raw_row[c], str) and raw_row[c].startswith("=")
                             for c in range(len(cached_row))])
            formats.append([c.number_format or "" for c in cached_row])
        merged = [(r.min_row - 1, r.max_row - 1) for r in ws.merged_cells.ranges]
        sheets.append(_Sheet(ws.title, values, formulas, formats, merged))
    raw.close()
    return sheets


def _find_header(sheet: _Sheet, aliases: dict[str, tuple[str, ...]], required: str,
                 scan: int = 10) -> Optional[tuple[int, dict[str, int]]]:
    """The header row (0-based) and column of each field, looking through the first rows."""
    wanted = {field_: {_norm_header(a) for a in names} for field_, names in aliases.items()}
    for index, row in enumerate(sheet.values[:scan]):
        columns: dict[str, int] = {}
        for col, value in enumerate(row):
            name = _norm_header(value)
            if not name:
                continue
            for field_, names in wanted.items():
                if name in names and field_ not in columns:
                    columns[field_] = col
                    break
        if required in columns and len(columns) >= 2:
            # a header over several rows (merged cells downwards): data starts below all of it
            end = max([last for first, last in sheet.merged if first == index] + [index])
            for sub in sheet.values[index + 1:end + 1]:
                for col, value in enumerate(sub):
                    name = _norm_header(value)
                    for field_, names in wanted.items():
                        if name and name in names and field_ not in columns and col not in columns.values():
                            columns[field_] = col
            return end, columns
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfkc(str(value)).strip()


_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def parse_percent_cell(value: Any, number_format: str = "") -> float:
    """65% / 0.65 in a percent cell / "65" / "６５％" / 0.65 -> 65.0; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        number = float(value)
        if "%" in (number_format or "") or 0 < number < 1:
            number *= 100
        return round(number, 4)
    text = nfkc(str(value)).strip().replace(" ", "").replace("百分之", "")
    percent = text.endswith("%")
    text = text.rstrip("%")
    if not _NUMBER.match(text):
        raise ValueError
    number = float(text)
    if not percent and 0 < number < 1:
        number *= 100
    return number


def _parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        return float(value)
    text = nfkc(str(value)).strip().replace(",", "").replace(" ", "")
    if not _NUMBER.match(text):
        raise ValueError
    return float(text)


def _parse_yoy(value: Any, number_format: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value) * 100, 4) if "%" in number_format else float(value)
    text = nfkc(str(value)).strip().replace(" ", "").rstrip("%")
    if text.startswith("增长"):
        text = text[2:]
    elif text.startswith("下降"):
        text = "-" + text[2:]
    if not _NUMBER.match(text):
        raise ValueError
    return float(text)


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = nfkc(str(value)).strip()
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if not match:
        raise ValueError
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


_MONTHLY = re.compile(r"^(\d{4})年(?:1-|1—|1~)?(\d{1,2})月")


def _period_end_of(label: str) -> Optional[date]:
    """'2025年1-7月' / '2025年7月' -> 2025-07-31 (a statistics office's monthly table)."""
    import calendar

    match = _MONTHLY.match(nfkc(label).replace(" ", ""))
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return date(year, month, calendar.monthrange(year, month)[1])


def _row_is_empty(row: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


class _Validator:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.report = ImportReport()
        self.task_changes: list[_TaskChange] = []
        self.indicator_changes: list[_IndicatorChange] = []
        self._tasks_by_key: Optional[dict[str, int]] = None
        self._tasks_by_name: Optional[dict[str, list[int]]] = None

    def bad(self, sheet: _Sheet, row: int, reason: str) -> None:
        self.report.bad_rows.append(BadRow(sheet.title, row + 1, reason))

    # -- tasks
    def _task_index(self) -> None:
        """Every task, its owner and its latest note, each in one query (not one per row)."""
        if self._tasks_by_key is not None:
            return
        self._tasks_by_key, self._tasks_by_name, self._tasks = {}, {}, {}
        for task in self.session.scalars(select(Task).options(selectinload(Task.owner))):
            self._tasks[task.id] = task
            self._tasks_by_key[task.key] = task.id
            self._tasks_by_name.setdefault(normalize_name(task.name), []).append(task.id)
        self._notes: dict[int, str] = {}
        for task_id, note in self.session.execute(
                select(TaskUpdate.task_id, TaskUpdate.note).where(TaskUpdate.note.is_not(None))
                .order_by(TaskUpdate.task_id, TaskUpdate.created_at, TaskUpdate.id)):
            self._notes[task_id] = note
        self._people = {p.name: p for p in self.session.scalars(select(Person))}

    def _cell(self, sheet: _Sheet, r: int, c: Optional[int]) -> tuple[Any, bool, str]:
        if c is None or c >= len(sheet.values[r]):
            return None, False, ""
        return sheet.values[r][c], sheet.formulas[r][c], sheet.formats[r][c]

    def tasks(self, sheet: _Sheet, header: int, cols: dict[str, int]) -> None:
        self._task_index()
        seen: dict[int, int] = {}
        for r in range(header + 1, len(sheet.values)):
            row = sheet.values[r]
            if _row_is_empty(row):
                continue
            # a formula without a cached value reads as None: say so rather than skip it
            formula_cols = [c for c in cols.values() if self._cell(sheet, r, c)[1]
                            and self._cell(sheet, r, c)[0] is None]
            if formula_cols:
                self.bad(sheet, r, "有公式但没有计算结果,请在 Excel/WPS 里打开并保存后再发(或改成数值)")
                continue
            name = _text(self._cell(sheet, r, cols.get("name"))[0])
            key = _text(self._cell(sheet, r, cols.get("key"))[0])
            if not name and not key:
                if any(self._cell(sheet, r, cols.get(f))[0] not in (None, "") for f in ("progress", "note")):
                    self.bad(sheet, r, "缺少项目/事项名称")
                continue
            self.report.task_rows += 1
            task_id = self._tasks_by_key.get(key) if key else None
            if task_id is None and name:
                ids = self._tasks_by_name.get(normalize_name(name), [])
                if len(ids) > 1:
                    self.bad(sheet, r, f"“{name}”对应多个事项,请加上编号列")
                    continue
                task_id = ids[0] if ids else None
            if task_id is None:
                self.bad(sheet, r, f"系统里没有事项“{name or key}”")
                continue
            if task_id in seen:
                self.bad(sheet, r, f"与第{seen[task_id]}行是同一事项")
                continue
            seen[task_id] = r + 1
            task = self._tasks[task_id]
            change = _TaskChange(r + 1, task)
            ok = True
            value, _, fmt = self._cell(sheet, r, cols.get("progress"))
            if value not in (None, ""):
                try:
                    progress = parse_percent_cell(value, fmt)
                except ValueError:
                    self.bad(sheet, r, f"进度“{_text(value)}”看不懂,请写成 65% 这样")
                    ok = False
                else:
                    if not 0 <= progress <= 100:
                        self.bad(sheet, r, f"进度 {fmt_number(progress)}% 不在 0%-100% 之间")
                        ok = False
                    elif task.progress is None or abs(progress - task.progress) > 1e-6:
                        if task.progress is not None and progress < task.progress or (
                                task.status == DONE and progress < 100):
                            self.bad(sheet, r, f"进度 {fmt_number(progress)}% 比上次"
                                     f"({fmt_number(task.progress)}%)低,请在对话中确认")
                            ok = False
                        else:
                            change.progress = progress
            note = _text(self._cell(sheet, r, cols.get("note"))[0])
            if note:
                if len(note) > 1000:
                    self.bad(sheet, r, f"最新进展太长({len(note)}字),请控制在1000字以内")
                    ok = False
                elif note != self._notes.get(task.id, ""):
                    change.note = note
            value = self._cell(sheet, r, cols.get("deadline"))[0]
            if value not in (None, "") and _text(value) not in ("未定", "—", "-"):
                try:
                    deadline = _parse_date(value)
                except ValueError:
                    self.bad(sheet, r, f"时间节点“{_text(value)}”看不懂,请写成 2025-12-31")
                    ok = False
                else:
                    if deadline != task.deadline:
                        change.deadline, change.set_deadline = deadline, True
            owner_name = _text(self._cell(sheet, r, cols.get("owner"))[0])
            current_owner = task.owner.name if task.owner else ""
            if owner_name and owner_name != current_owner:
                person = self._people.get(owner_name)
                if person is None:
                    self.bad(sheet, r, f"责任人“{owner_name}”不在人员名单里")
                    ok = False
                else:
                    change.owner = person
            if ok and (change.progress is not None or change.note or change.set_deadline or change.owner):
                self.task_changes.append(change)

    # -- indicators
    def indicators(self, sheet: _Sheet, header: int, cols: dict[str, int]) -> None:
        by_key = {i.key: i for i in self.session.scalars(select(Indicator))}
        by_name: dict[str, list[Indicator]] = {}
        for indicator in by_key.values():
            by_name.setdefault(normalize_name(indicator.name), []).append(indicator)
        seen: dict[tuple[int, str], int] = {}
        targets: dict[int, int] = {}
        for r in range(header + 1, len(sheet.values)):
            if _row_is_empty(sheet.values[r]):
                continue
            if [c for c in cols.values() if self._cell(sheet, r, c)[1] and self._cell(sheet, r, c)[0] is None]:
                self.bad(sheet, r, "有公式但没有计算结果,请在 Excel/WPS 里打开并保存后再发(或改成数值)")
                continue
            name = _text(self._cell(sheet, r, cols.get("name"))[0])
            key = _text(self._cell(sheet, r, cols.get("key"))[0])
            if not name and not key:
                continue
            self.report.indicator_rows += 1
            indicator = by_key.get(key) if key else None
            if indicator is None:
                found = by_name.get(normalize_name(name), [])
                indicator = found[0] if len(found) == 1 else None
            if indicator is None:
                self.bad(sheet, r, f"系统里没有指标“{name or key}”")
                continue
            period = _text(self._cell(sheet, r, cols.get("period"))[0])
            values = list(indicator.values)
            value_row = next((v for v in values if v.period_label == period), None) if period else (
                values[-1] if values else None)
            period_end = value_row.period_end if value_row else (_period_end_of(period) if period else None)
            change = _IndicatorChange(r + 1, indicator, period or (value_row.period_label if value_row else ""),
                                      period_end, value_row)
            ok = True
            raw, _, fmt = self._cell(sheet, r, cols.get("value"))
            if raw not in (None, "") and _text(raw) not in ("—", "-"):
                try:
                    number = _parse_number(raw)
                except ValueError:
                    self.bad(sheet, r, f"数值“{_text(raw)}”不是数字")
                    ok = False
                else:
                    if value_row is None or value_row.value is None or abs(number - value_row.value) > 1e-9:
                        change.value, change.set_value = number, True
            raw, _, fmt = self._cell(sheet, r, cols.get("yoy"))
            if raw not in (None, "") and _text(raw) not in ("—", "-"):
                try:
                    yoy = _parse_yoy(raw, fmt)
                except ValueError:
                    self.bad(sheet, r, f"同比“{_text(raw)}”看不懂,请写成 8.4% 这样")
                    ok = False
                else:
                    if value_row is None or value_row.yoy_pct is None or abs(yoy - value_row.yoy_pct) > 1e-6:
                        change.yoy, change.set_yoy = yoy, True
            raw = self._cell(sheet, r, cols.get("target"))[0]
            if raw not in (None, "") and _text(raw) not in ("—", "-"):
                try:
                    target = _parse_number(raw)
                except ValueError:
                    self.bad(sheet, r, f"目标“{_text(raw)}”不是数字")
                    ok = False
                else:
                    if target <= 0:
                        self.bad(sheet, r, "目标要大于0")
                        ok = False
                    elif indicator.target is None or abs(target - indicator.target) > 1e-9:
                        if indicator.id in targets:
                            pass  # the same target repeated on each period's row
                        else:
                            change.target, change.set_target = target, True
                    targets.setdefault(indicator.id, r + 1)
            if (change.set_value or change.set_yoy) and value_row is None:
                if not period:
                    self.bad(sheet, r, "缺少期间,例如:2025年1-7月")
                    ok = False
                elif period_end is None:
                    self.bad(sheet, r, f"期间“{period}”看不懂,请写成 2025年1-7月")
                    ok = False
            slot = (indicator.id, change.period)
            if ok and slot in seen:
                self.bad(sheet, r, f"与第{seen[slot]}行是同一指标同一期间")
                ok = False
            seen.setdefault(slot, r + 1)
            if ok and (change.set_value or change.set_yoy or change.set_target):
                self.indicator_changes.append(change)


def read_ledger(session: Session, now: datetime, path: Path) -> _Validator:
    """Read and validate a ledger file; nothing is changed. Raises InvalidInput for a file
    that is not a workbook, too big, or without a recognisable sheet."""
    sheets = _read_workbook(path)
    validator = _Validator(session, now)
    recognised = 0
    for sheet in sheets:
        found = _find_header(sheet, TASK_HEADER_ALIASES, "name")
        if found and "progress" in found[1] or found and "note" in found[1]:
            recognised += 1
            validator.tasks(sheet, *found)
            continue
        found = _find_header(sheet, INDICATOR_HEADER_ALIASES, "name")
        if found and ("value" in found[1] or "yoy" in found[1] or "target" in found[1]):
            recognised += 1
            validator.indicators(sheet, *found)
    if not recognised:
        raise InvalidInput("没有找到台账表头。事项表需要“项目/事项”和“完成进度”列,"
                           "指标表需要“指标”和“数值”列。可先发 /export 拿一份模板。")
    return validator


def import_ledger(session: Session, now: datetime, actor: Person, path: Path, rules: LightsConfig,
                  channel: Optional[str] = None) -> ImportReport:
    """Validate every row, then (only if all are good) apply the changes in ``session``.

    The caller owns the transaction: commit on success; a report with bad rows has changed
    nothing. Raises PermissionDenied for a non-admin and InvalidInput for a bad file.
    """
    require_admin(actor)
    validator = read_ledger(session, now, Path(path))
    report = validator.report
    if report.bad_rows:
        return report
    for change in validator.task_changes:
        task = change.task
        if change.owner is not None:
            before = {"owner": task.owner.name if task.owner else None}
            task.owner = change.owner
            audit.record(session, now, actor, "import", "task", task.key, before, {"owner": change.owner.name})
            report.changes.append(f"{task.name}:责任人 {before['owner'] or '无'} → {change.owner.name}")
        if change.set_deadline:
            before = {"deadline": task.deadline}
            task.deadline = change.deadline
            refresh_light_dates(task, rules)
            audit.record(session, now, actor, "import", "task", task.key, before, {"deadline": change.deadline})
            old = before["deadline"].isoformat() if before["deadline"] else "未定"
            report.changes.append(f"{task.name}:时间节点 {old} → {change.deadline.isoformat()}")
        if change.progress is not None or change.note:
            old = task.progress
            record_update(session, now, actor, task, rules, progress=change.progress, note=change.note,
                          channel=channel or "import")
            parts = []
            if change.progress is not None:
                parts.append(f"进度 {fmt_number(old) + '%' if old is not None else '未报'} → "
                             f"{fmt_number(change.progress)}%")
            if change.note:
                parts.append("新进展")
            report.changes.append(f"{task.name}:" + ",".join(parts))
    for change in validator.indicator_changes:
        _apply_indicator(session, now, actor, change, report)
    session.flush()
    report.applied = True
    return report


def _apply_indicator(session: Session, now: datetime, actor: Person, change: _IndicatorChange,
                     report: ImportReport) -> None:
    indicator = change.indicator
    parts = []
    if change.set_target:
        before = {"target": indicator.target}
        indicator.target = change.target
        audit.record(session, now, actor, "import", "indicator", indicator.key, before, {"target": change.target})
        parts.append(f"目标 {fmt_number(before['target'])} → {fmt_number(change.target)}")
    if change.set_value or change.set_yoy:
        row = change.value_row
        before = {"value": row.value, "yoy_pct": row.yoy_pct} if row else None
        if row is None:
            end = change.period_end
            row = IndicatorValue(indicator=indicator, period_label=change.period,
                                 period_start=date(end.year, 1, 1), period_end=end, recorded_at=now,
                                 source=f"台账导入({actor.name})")
            session.add(row)
            parts.append(f"新增{change.period}")
        if change.set_value:
            if before:
                parts.append(f"{row.period_label}数值 {fmt_number(row.value)} → {fmt_number(change.value)}")
            row.value = change.value
        if change.set_yoy:
            if before:
                parts.append(f"同比 {fmt_number(row.yoy_pct)}% → {fmt_number(change.yoy)}%")
            row.yoy_pct = change.yoy
        row.recorded_at = now
        audit.record(session, now, actor, "import", "indicator", indicator.key, before,
                     {"period": row.period_label, "value": row.value, "yoy_pct": row.yoy_pct})
    indicator.updated_at = now
    report.changes.append(f"{indicator.name}:" + ",".join(parts))
