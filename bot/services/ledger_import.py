"""Excel ledger import (台账): read a workbook back, validate every row, then apply.

Import reads a workbook in the export's layout (or a similar office table: the header row is
found by its column names, title rows and merged header cells above it are skipped), validates
EVERY row first and only then applies the changes in the caller's session. One bad row means
nothing is applied; the report lists each bad row with its reason. Progress is recorded as a
TaskUpdate by the importing admin (``record_update``), so history and the audit trail stay
right. A progress lower than the last report is a bad row: that needs a confirmation in chat.

A file cannot bomb the reader (``config.ledger``): before openpyxl opens it, the zip's
directory is checked — the unzipped total (``max_unzipped_mb``) and each large member's
compression ratio (``max_ratio``); then every sheet is streamed (read-only mode, stated
dimensions ignored) with caps on rows and columns and a time limit checked every
``BATCH_ROWS`` rows. Each refusal is a clear Chinese InvalidInput; nothing is written.
"""
from __future__ import annotations

import logging
import re
import time
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

from defusedxml import ElementTree
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.config import LedgerConfig, LightsConfig
from bot.models import (
    ORIGINS,
    ROLE_LEADER,
    Indicator,
    IndicatorValue,
    Person,
    Task,
    TaskUpdate,
    Team,
)
from bot.services import audit
from bot.services.errors import InvalidInput
from bot.services.ledger_cells import (
    Sheet,
    cell_text,
    find_header,
    parse_date,
    parse_number,
    parse_percent_cell,
    parse_value_cell,
    parse_yoy,
    period_end_of,
    row_is_empty,
    value_cell,
)
from bot.services.lights import DONE, refresh_light_dates
from bot.services.people import require_admin
from bot.services.tasks import record_update
from bot.services.text import fmt_number, normalize_name

logger = logging.getLogger(__name__)

MB = 1024 * 1024
MAX_IMPORT_BYTES = 5 * MB
#: members smaller than this unzipped are not held to the compression ratio (tiny XML parts
#: of a normal workbook compress very well)
RATIO_FLOOR = 1 * MB
#: the time limit is checked every this many rows
BATCH_ROWS = 200
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MERGE_TAG = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]+\d+:[A-Za-z]+\d+)\"")

# Header names an office table may use, mapped to our fields (compared after normalising).
TASK_HEADER_ALIASES = {
    "key": ("编号",),
    "name": ("项目/事项", "项目事项", "项目", "事项", "项目名称", "事项名称", "工作任务", "任务"),
    "progress": ("完成进度", "进度", "进度(%)", "完成进度(%)", "形象进度"),
    "note": ("最新进展", "进展情况", "推进情况", "工作进展", "进展"),
    "deadline": ("时间节点", "完成时限", "完成时间", "截止时间"),
    "owner": ("责任人",),
    "team": ("牵头专班", "责任专班", "专班"),
    "leader": ("分管领导", "责任领导"),
    "origin": ("来源", "事项来源"),
    "problems": ("存在问题", "问题"),
    "next_steps": ("下步计划", "下一步计划", "下步打算"),
}
INDICATOR_HEADER_ALIASES = {
    "key": ("编号",),
    "name": ("指标", "指标名称", "项目"),
    "period": ("期间", "时期", "统计期", "月份"),
    "value": ("数值", "本期", "累计", "本年累计", "绝对值", "完成值"),
    "yoy": ("同比", "同比增长", "同比(%)", "同比增长(%)", "增速", "增幅"),
    "target": ("目标", "全年目标", "年度目标"),
}


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
    team: Optional[Team] = None
    leader: Optional[Person] = None
    origin: Optional[str] = None
    problems: Optional[str] = None
    next_steps: Optional[str] = None

    @property
    def any(self) -> bool:
        return bool(self.progress is not None or self.note or self.set_deadline or self.owner or self.team
                    or self.leader or self.origin or self.problems or self.next_steps)


@dataclass
class _IndicatorChange:
    row: int
    indicator: Indicator
    period: str
    period_end: Optional[date]
    value_row: Optional[IndicatorValue]
    value: Optional[float] = None
    qualifier: Optional[str] = None
    set_value: bool = False
    yoy: Optional[float] = None
    set_yoy: bool = False
    target: Optional[float] = None
    set_target: bool = False


def check_file(path: Path, limits: Optional[LedgerConfig] = None) -> None:
    """Refuse what is not an .xlsx workbook, is too big, or would unzip to too much (a zip
    bomb), with a clear reason; only the zip's directory is read."""
    limits = limits or LedgerConfig()
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
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidInput("这不是 Excel 工作簿(.xlsx),或文件已损坏,无法导入。") from None
    # zipfile never inflates a member past its declared size, so these sizes bound the reading
    if sum(m.file_size for m in members) > limits.max_unzipped_mb * MB:
        raise InvalidInput(f"文件解压后超过 {limits.max_unzipped_mb} MB,不能导入。请删去多余的表或图片后再发。")
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > limits.max_ratio * max(member.compress_size, 1):
            raise InvalidInput(f"文件压缩比异常(解压后是原来的 {member.file_size // max(member.compress_size, 1)} 倍,"
                               f"上限 {limits.max_ratio} 倍),不能导入。")


class _Reading:
    """The reader's bounds while it streams rows: the time limit (checked every BATCH_ROWS)."""

    def __init__(self, limits: LedgerConfig) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.time_limit_seconds
        self.rows = 0

    def tick(self) -> None:
        self.rows += 1
        if self.rows % BATCH_ROWS == 0 and time.monotonic() > self.deadline:
            raise InvalidInput(f"文件太复杂,{self.limits.time_limit_seconds:g} 秒内没有读完,没有导入。"
                               "请分成几个小文件再发。")


def _merged_rows(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Sheet title -> (first row, last row), 0-based, of each merged range. Read-only mode has
    no merged cells, so the ``<mergeCell ref=…>`` tags are found in each sheet's XML (already
    bounded by ``check_file``), scanning the bytes in chunks."""
    from openpyxl.utils.cell import range_boundaries

    found: dict[str, list[tuple[int, int]]] = {}
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
            return found
        rels = {rel.get("Id"): rel.get("Target", "") for rel in ElementTree.fromstring(
            archive.read("xl/_rels/workbook.xml.rels")) if rel.get("Id")}
        for sheet in ElementTree.fromstring(archive.read("xl/workbook.xml")).iter(f"{{{MAIN_NS}}}sheet"):
            target = rels.get(sheet.get(f"{{{REL_NS}}}id"), "")
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            if member not in names:
                continue
            ranges = []
            with archive.open(member) as stream:
                tail = b""
                while chunk := stream.read(1 << 20):
                    data = tail + chunk
                    ranges += [m.group(1).decode() for m in MERGE_TAG.finditer(data)]
                    tail = data[-200:]  # a tag cut at the chunk's end is seen whole with the next
                ranges = list(dict.fromkeys(ranges))
            rows = []
            for ref in ranges:
                try:
                    _, min_row, _, max_row = range_boundaries(ref)
                except ValueError:
                    continue
                rows.append((min_row - 1, max_row - 1))
            found[sheet.get("name", "")] = rows
    return found


def _read_workbook(path: Path, limits: Optional[LedgerConfig] = None) -> list[Sheet]:
    """Every sheet as plain rows, read in openpyxl's streaming (read-only) mode, within the
    limits: rows, columns and time are checked as the rows come."""
    from openpyxl import load_workbook

    limits = limits or LedgerConfig()
    check_file(path, limits)
    try:
        cached = load_workbook(path, data_only=True, read_only=True)
        raw = load_workbook(path, data_only=False, read_only=True)  # only to see formulas
        merged = _merged_rows(path)
    except Exception as exc:  # any parse failure means "not a workbook"
        logger.info("not a workbook %s: %s", path, exc)
        raise InvalidInput("这不是 Excel 工作簿(.xlsx),或文件已损坏,无法导入。") from None
    reading = _Reading(limits)
    sheets = []
    try:
        for ws in cached.worksheets:
            sheets.append(_read_sheet(ws, raw[ws.title], merged.get(ws.title, []), reading))
    except InvalidInput:
        raise
    except Exception as exc:
        logger.info("unreadable sheet in %s: %s", path, exc)
        raise InvalidInput("这不是 Excel 工作簿(.xlsx),或文件已损坏,无法导入。") from None
    finally:
        cached.close()
        raw.close()
    return sheets


def _filled_width(row) -> int:
    """Cells up to the last one with something in it."""
    for index in range(len(row) - 1, -1, -1):
        value = row[index]
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return index + 1
    return 0


def _read_sheet(ws, raw_ws, merged: list[tuple[int, int]], reading: _Reading) -> Sheet:
    limits = reading.limits
    # the stated dimension may be anything (A1:XFD1048576): read rows as they are stored
    ws.reset_dimensions()
    raw_ws.reset_dimensions()
    raw_rows = raw_ws.iter_rows(values_only=True)
    values, formulas, formats = [], [], []
    for index, cached_row in enumerate(ws.iter_rows()):
        reading.tick()
        raw_row = next(raw_rows, ()) or ()
        row = [c.value for c in cached_row]
        # trailing blanks dropped (a formula without a cached value is not blank)
        width = max(_filled_width(row), _filled_width(raw_row))
        row = row[:width] + [None] * (width - len(row))
        if len(row) > limits.max_columns:
            raise InvalidInput(f"表“{ws.title}”超过 {limits.max_columns} 列,不能导入。请删去多余的列后再发。")
        if index >= limits.max_rows:
            if row:
                raise InvalidInput(f"表“{ws.title}”超过 {limits.max_rows} 行,不能导入。请分成几个文件再发。")
            continue  # formatted but empty rows below the data
        values.append(row)
        formulas.append([c < len(raw_row) and isinstance(raw_row[c], str) and raw_row[c].startswith("=")
                         for c in range(len(row))])
        formats.append([(getattr(cached_row[c], "number_format", None) if c < len(cached_row) else None) or ""
                        for c in range(len(row))])
    return Sheet(ws.title, values, formulas, formats, merged)


class _Validator:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.report = ImportReport()
        self.task_changes: list[_TaskChange] = []
        self.indicator_changes: list[_IndicatorChange] = []
        self._tasks_by_key: dict[str, int] = {}
        self._tasks_by_name: dict[str, list[int]] = {}
        self._indexed = False

    def bad(self, sheet: Sheet, row: int, reason: str) -> None:
        self.report.bad_rows.append(BadRow(sheet.title, row + 1, reason))

    # -- tasks
    def _task_index(self) -> None:
        """Every task, its owner and its latest note, each in one query (not one per row)."""
        if self._indexed:
            return
        self._indexed = True
        self._tasks_by_key, self._tasks_by_name, self._tasks = {}, {}, {}
        for task in self.session.scalars(select(Task).options(selectinload(Task.owner), selectinload(Task.team))):
            self._tasks[task.id] = task
            self._tasks_by_key[task.key] = task.id
            self._tasks_by_name.setdefault(normalize_name(task.name), []).append(task.id)
        self._notes: dict[int, str] = {}
        for task_id, note in self.session.execute(
                select(TaskUpdate.task_id, TaskUpdate.note).where(TaskUpdate.note.is_not(None))
                .order_by(TaskUpdate.task_id, TaskUpdate.created_at, TaskUpdate.id)):
            self._notes[task_id] = note or ""  # never None: the query skips empty notes
        self._people = {p.name: p for p in self.session.scalars(select(Person))}
        self._teams: dict[str, Team] = {}
        for team in self.session.scalars(select(Team)):
            self._teams[team.name] = team
            self._teams.setdefault(team.code, team)

    def _cell(self, sheet: Sheet, r: int, c: Optional[int]) -> tuple[Any, bool, str]:
        if c is None or c >= len(sheet.values[r]):
            return None, False, ""
        return sheet.values[r][c], sheet.formulas[r][c], sheet.formats[r][c]

    def tasks(self, sheet: Sheet, header: int, cols: dict[str, int]) -> None:
        self._task_index()
        seen: dict[int, int] = {}
        for r in range(header + 1, len(sheet.values)):
            row = sheet.values[r]
            if row_is_empty(row):
                continue
            # a formula without a cached value reads as None: say so rather than skip it
            formula_cols = [c for c in cols.values() if self._cell(sheet, r, c)[1]
                            and self._cell(sheet, r, c)[0] is None]
            if formula_cols:
                self.bad(sheet, r, "有公式但没有计算结果,请在 Excel/WPS 里打开并保存后再发(或改成数值)")
                continue
            name = cell_text(self._cell(sheet, r, cols.get("name"))[0])
            key = cell_text(self._cell(sheet, r, cols.get("key"))[0])
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
                    self.bad(sheet, r, f"进度“{cell_text(value)}”看不懂,请写成 65% 这样")
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
            note = cell_text(self._cell(sheet, r, cols.get("note"))[0])
            if note:
                if len(note) > 1000:
                    self.bad(sheet, r, f"最新进展太长({len(note)}字),请控制在1000字以内")
                    ok = False
                elif note != self._notes.get(task.id, ""):
                    change.note = note
            value = self._cell(sheet, r, cols.get("deadline"))[0]
            if value not in (None, "") and cell_text(value) not in ("未定", "—", "-"):
                try:
                    deadline = parse_date(value)
                except ValueError:
                    self.bad(sheet, r, f"时间节点“{cell_text(value)}”看不懂,请写成 2025-12-31")
                    ok = False
                else:
                    if deadline != task.deadline:
                        change.deadline, change.set_deadline = deadline, True
            owner_name = cell_text(self._cell(sheet, r, cols.get("owner"))[0])
            current_owner = task.owner.name if task.owner else ""
            if owner_name and owner_name != current_owner:
                person = self._people.get(owner_name)
                if person is None:
                    self.bad(sheet, r, f"责任人“{owner_name}”不在人员名单里")
                    ok = False
                else:
                    change.owner = person
            ok = self._cycle_fields(sheet, r, cols, task, change) and ok
            if ok and change.any:
                self.task_changes.append(change)

    def _cycle_fields(self, sheet: Sheet, r: int, cols: dict[str, int], task: Task, change: _TaskChange) -> bool:
        """牵头专班, 分管领导, 来源, 存在问题, 下步计划: an empty cell changes nothing."""
        ok = True
        team_name = cell_text(self._cell(sheet, r, cols.get("team"))[0])
        if team_name and team_name != (task.team.name if task.team else "") and team_name != "未分配":
            team = self._teams.get(team_name)
            if team is None:
                self.bad(sheet, r, f"牵头专班“{team_name}”不存在")
                ok = False
            elif team.id != task.team_id:
                change.team = team
        leader_name = cell_text(self._cell(sheet, r, cols.get("leader"))[0])
        current = self.session.get_one(Person, task.leader_id).name if task.leader_id else ""
        if leader_name and leader_name != current:
            person = self._people.get(leader_name)
            if person is None:
                self.bad(sheet, r, f"分管领导“{leader_name}”不在人员名单里")
                ok = False
            elif person.role != ROLE_LEADER:
                self.bad(sheet, r, f"分管领导“{leader_name}”不是街道领导")
                ok = False
            else:
                change.leader = person
        origin = cell_text(self._cell(sheet, r, cols.get("origin"))[0])
        if origin and origin != (task.origin or ""):
            if origin not in ORIGINS:
                self.bad(sheet, r, f"来源“{origin}”看不懂,请写:{'、'.join(ORIGINS)}")
                ok = False
            else:
                change.origin = origin
        for field_, label in (("problems", "存在问题"), ("next_steps", "下步计划")):
            text = cell_text(self._cell(sheet, r, cols.get(field_))[0])
            if text and len(text) > 1000:
                self.bad(sheet, r, f"{label}太长({len(text)}字),请控制在1000字以内")
                ok = False
            elif text and text != (getattr(task, field_) or ""):
                setattr(change, field_, text)
        return ok

    # -- indicators
    def indicators(self, sheet: Sheet, header: int, cols: dict[str, int]) -> None:
        by_key = {i.key: i for i in self.session.scalars(select(Indicator))}
        by_name: dict[str, list[Indicator]] = {}
        for known in by_key.values():
            by_name.setdefault(normalize_name(known.name), []).append(known)
        seen: dict[tuple[int, str], int] = {}
        targets: dict[int, int] = {}
        for r in range(header + 1, len(sheet.values)):
            if row_is_empty(sheet.values[r]):
                continue
            if [c for c in cols.values() if self._cell(sheet, r, c)[1] and self._cell(sheet, r, c)[0] is None]:
                self.bad(sheet, r, "有公式但没有计算结果,请在 Excel/WPS 里打开并保存后再发(或改成数值)")
                continue
            name = cell_text(self._cell(sheet, r, cols.get("name"))[0])
            key = cell_text(self._cell(sheet, r, cols.get("key"))[0])
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
            period = cell_text(self._cell(sheet, r, cols.get("period"))[0])
            values = list(indicator.values)
            value_row = next((v for v in values if v.period_label == period), None) if period else (
                values[-1] if values else None)
            period_end = value_row.period_end if value_row else (period_end_of(period) if period else None)
            change = _IndicatorChange(r + 1, indicator, period or (value_row.period_label if value_row else ""),
                                      period_end, value_row)
            ok = True
            raw, _, fmt = self._cell(sheet, r, cols.get("value"))
            if raw not in (None, "") and cell_text(raw) not in ("—", "-"):
                try:
                    number, qualifier = parse_value_cell(raw)
                except ValueError:
                    self.bad(sheet, r, f"数值“{cell_text(raw)}”不是数字(可带 超、近、约、预计、以上)")
                    ok = False
                else:
                    if (value_row is None or value_row.value is None or abs(number - value_row.value) > 1e-9
                            or (qualifier or None) != (value_row.qualifier or None)):
                        change.value, change.qualifier, change.set_value = number, qualifier, True
            raw, _, fmt = self._cell(sheet, r, cols.get("yoy"))
            if raw not in (None, "") and cell_text(raw) not in ("—", "-"):
                try:
                    yoy = parse_yoy(raw, fmt)
                except ValueError:
                    self.bad(sheet, r, f"同比“{cell_text(raw)}”看不懂,请写成 8.4% 这样")
                    ok = False
                else:
                    if value_row is None or value_row.yoy_pct is None or abs(yoy - value_row.yoy_pct) > 1e-6:
                        change.yoy, change.set_yoy = yoy, True
            raw = self._cell(sheet, r, cols.get("target"))[0]
            if raw not in (None, "") and cell_text(raw) not in ("—", "-"):
                try:
                    target = parse_number(raw)
                except ValueError:
                    self.bad(sheet, r, f"目标“{cell_text(raw)}”不是数字")
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


def read_ledger(session: Session, now: datetime, path: Path,
                limits: Optional[LedgerConfig] = None) -> _Validator:
    """Read and validate a ledger file; nothing is changed. Raises InvalidInput for a file
    that is not a workbook, too big, or without a recognisable sheet."""
    sheets = _read_workbook(path, limits)
    validator = _Validator(session, now)
    recognised = 0
    for sheet in sheets:
        found = find_header(sheet, TASK_HEADER_ALIASES, "name")
        if found and "progress" in found[1] or found and "note" in found[1]:
            recognised += 1
            validator.tasks(sheet, *found)
            continue
        found = find_header(sheet, INDICATOR_HEADER_ALIASES, "name")
        if found and ("value" in found[1] or "yoy" in found[1] or "target" in found[1]):
            recognised += 1
            validator.indicators(sheet, *found)
    if not recognised:
        raise InvalidInput("没有找到台账表头。事项表需要“项目/事项”和“完成进度”列,"
                           "指标表需要“指标”和“数值”列。可先发 /export 拿一份模板。")
    return validator


def import_ledger(session: Session, now: datetime, actor: Person, path: Path, rules: LightsConfig,
                  channel: Optional[str] = None, limits: Optional[LedgerConfig] = None,
                  review_required: bool = False) -> ImportReport:
    """Validate every row, then (only if all are good) apply the changes in ``session``.

    The caller owns the transaction: commit on success; a report with bad rows has changed
    nothing. Raises PermissionDenied for a non-admin and InvalidInput for a bad file.
    """
    require_admin(actor)
    validator = read_ledger(session, now, Path(path), limits)
    report = validator.report
    if report.bad_rows:
        return report
    for change in validator.task_changes:
        task = change.task
        before: dict[str, Any]
        if change.owner is not None:
            before = {"owner": task.owner.name if task.owner else None}
            task.owner = change.owner
            audit.record(session, now, actor, "import", "task", task.key, before, {"owner": change.owner.name})
            report.changes.append(f"{task.name}:责任人 {before['owner'] or '无'} → {change.owner.name}")
        _apply_cycle_fields(session, now, actor, change, report)
        if change.set_deadline:
            before = {"deadline": task.deadline}
            if task.original_deadline is None and task.deadline is not None:
                task.original_deadline = task.deadline  # 原时限: the date before the first move
            task.deadline = change.deadline
            refresh_light_dates(task, rules)
            audit.record(session, now, actor, "import", "task", task.key, before, {"deadline": change.deadline})
            old = before["deadline"].isoformat() if before["deadline"] else "未定"
            new = change.deadline.isoformat() if change.deadline else "未定"
            report.changes.append(f"{task.name}:时间节点 {old} → {new}")
        if change.progress is not None or change.note:
            old = task.progress
            record_update(session, now, actor, task, rules, progress=change.progress, note=change.note,
                          channel=channel or "import", review_required=review_required)
            parts = []
            if change.progress is not None:
                parts.append(f"进度 {fmt_number(old) + '%' if old is not None else '未报'} → "
                             f"{fmt_number(change.progress)}%")
            if change.note:
                parts.append("新进展")
            report.changes.append(f"{task.name}:" + ",".join(parts))
    for indicator_change in validator.indicator_changes:
        _apply_indicator(session, now, actor, indicator_change, report)
    session.flush()
    report.applied = True
    return report


def _apply_cycle_fields(session: Session, now: datetime, actor: Person, change: _TaskChange,
                        report: ImportReport) -> None:
    task = change.task
    if change.team is not None:
        before = task.team.name if task.team else None
        task.team_id = change.team.id
        task.team = change.team
        audit.record(session, now, actor, "import", "task", task.key, {"team": before}, {"team": change.team.name})
        report.changes.append(f"{task.name}:牵头专班 {before or '未分配'} → {change.team.name}")
    if change.leader is not None:
        before = session.get_one(Person, task.leader_id).name if task.leader_id else None
        task.leader_id = change.leader.id
        audit.record(session, now, actor, "import", "task", task.key, {"leader": before},
                     {"leader": change.leader.name})
        report.changes.append(f"{task.name}:分管领导 {before or '无'} → {change.leader.name}")
    if change.origin is not None:
        before = task.origin
        task.origin = change.origin
        audit.record(session, now, actor, "import", "task", task.key, {"origin": before}, {"origin": change.origin})
        report.changes.append(f"{task.name}:来源 {before or '无'} → {change.origin}")
    for field_, label in (("problems", "存在问题"), ("next_steps", "下步计划")):
        value = getattr(change, field_)
        if value is not None:
            before = getattr(task, field_)
            setattr(task, field_, value)
            audit.record(session, now, actor, "import", "task", task.key, {field_: before}, {field_: value})
            report.changes.append(f"{task.name}:{label}已更新")


def _apply_indicator(session: Session, now: datetime, actor: Person, change: _IndicatorChange,
                     report: ImportReport) -> None:
    indicator = change.indicator
    parts = []
    before: Optional[dict[str, Any]]
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
            if end is None:  # the validator refuses a new value without a period
                raise InvalidInput(f"{indicator.name}:缺少时期,无法新增数值。")
            row = IndicatorValue(indicator=indicator, period_label=change.period,
                                 period_start=date(end.year, 1, 1), period_end=end, recorded_at=now,
                                 source=f"台账导入({actor.name})")
            session.add(row)
            parts.append(f"新增{change.period}")
        if change.set_value:
            if before:
                parts.append(f"{row.period_label}数值 {value_cell(row.value, row.qualifier)} → "
                             f"{value_cell(change.value, change.qualifier)}")
            row.value = change.value
            row.qualifier = change.qualifier
        if change.set_yoy:
            if before:
                parts.append(f"同比 {fmt_number(row.yoy_pct)}% → {fmt_number(change.yoy)}%")
            row.yoy_pct = change.yoy
        row.recorded_at = now
        audit.record(session, now, actor, "import", "indicator", indicator.key, before,
                     {"period": row.period_label, "value": row.value, "yoy_pct": row.yoy_pct})
    indicator.updated_at = now
    report.changes.append(f"{indicator.name}:" + ",".join(parts))
