"""An imported ledger cannot bomb the bot: a zip bomb (a small .xlsx whose sheet XML unzips
to hundreds of MB), an unusual compression ratio, too many rows or columns, and a file that
takes too long to read are each refused with a clear Chinese reply, and nothing changes.

The bombs are generated here, in tmp_path (never kept in the repository)."""
from __future__ import annotations

import zipfile
from pathlib import Path

from openpyxl import Workbook

from tests.conftest import Chat
from tests.test_ledger import send_file, snapshot

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET = "xl/worksheets/sheet1.xml"


def _cell(col: int, row: int, text: str) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f'<c r="{letters}{row}" t="inlineStr"><is><t>{text}</t></is></c>'


def workbook_with_sheet_xml(path: Path, rows_xml, dimension: str = "A1:C2") -> Path:
    """A valid .xlsx (made by openpyxl) whose first sheet's XML is replaced by a streamed one:
    a header row (项目/事项, 完成进度, 最新进展), then whatever ``rows_xml`` yields."""
    template = path.with_suffix(".template.xlsx")
    workbook = Workbook()
    workbook.active.title = "事项台账"
    workbook.active.append(["项目/事项", "完成进度", "最新进展"])
    workbook.save(template)
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != SHEET:
                target.writestr(item, source.read(item.filename))
        with target.open(SHEET, "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}">'
                        f'<dimension ref="{dimension}"/><sheetData>'.encode())
            sheet.write(("<row r=\"1\">" + _cell(1, 1, "项目/事项") + _cell(2, 1, "完成进度")
                         + _cell(3, 1, "最新进展") + "</row>").encode())
            for chunk in rows_xml:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    template.unlink()
    return path


def repeated_rows(megabytes: int):
    """About ``megabytes`` MB of identical task rows (they compress to almost nothing)."""
    row = ("<row>" + _cell(1, 2, "纳图电气") + _cell(2, 2, "99%") + _cell(3, 2, "x" * 200) + "</row>").encode()
    block = row * (1024 * 1024 // len(row) + 1)
    for _ in range(megabytes):
        yield block


def task_rows(count: int, start: int = 2, columns: int = 3):
    for index in range(count):
        row = start + index
        cells = _cell(1, row, "纳图电气") + _cell(2, row, "70%") + _cell(3, row, "主体厂房封顶")
        cells += "".join(_cell(col, row, "备注") for col in range(4, columns + 1))
        yield f'<row r="{row}">{cells}</row>'.encode()


def test_a_zip_bomb_is_refused_before_it_is_opened(sqlite_app, tmp_path):
    bomb = workbook_with_sheet_xml(tmp_path / "台账.xlsx", repeated_rows(400))
    assert bomb.stat().st_size < 5 * 1024 * 1024  # small on disk: passes the file-size check
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo(SHEET).file_size > 400 * 1024 * 1024
    before = snapshot(sqlite_app)
    reply = send_file(Chat(sqlite_app, "张主任"), bomb)
    assert reply == "文件解压后超过 50 MB,不能导入。请删去多余的表或图片后再发。"
    assert snapshot(sqlite_app) == before


def test_a_high_compression_ratio_is_refused(sqlite_app, tmp_path):
    dense = workbook_with_sheet_xml(tmp_path / "台账.xlsx", repeated_rows(20))  # 20 MB: under 50
    before = snapshot(sqlite_app)
    reply = send_file(Chat(sqlite_app, "张主任"), dense)
    assert reply.startswith("文件压缩比异常(解压后是原来的 ") and reply.endswith("上限 100 倍),不能导入。")
    assert snapshot(sqlite_app) == before


def test_the_unzipped_limit_comes_from_config(sqlite_app, tmp_path):
    sqlite_app.config.ledger.max_unzipped_mb = 1
    sqlite_app.config.ledger.max_ratio = 10_000
    path = workbook_with_sheet_xml(tmp_path / "台账.xlsx", repeated_rows(2))
    before = snapshot(sqlite_app)
    assert send_file(Chat(sqlite_app, "张主任"), path) == "文件解压后超过 1 MB,不能导入。请删去多余的表或图片后再发。"
    assert snapshot(sqlite_app) == before


def test_too_many_rows_are_refused_even_below_blank_rows(sqlite_app, tmp_path):
    sqlite_app.config.ledger.max_rows = 50
    admin = Chat(sqlite_app, "张主任")
    before = snapshot(sqlite_app)
    path = workbook_with_sheet_xml(tmp_path / "多行.xlsx", task_rows(60), dimension="A1:C61")
    assert send_file(admin, path) == "表“事项台账”超过 50 行,不能导入。请分成几个文件再发。"
    # a row far below (after formatted blank rows) is still seen
    far = workbook_with_sheet_xml(tmp_path / "远.xlsx", [*task_rows(1), *task_rows(1, start=5000)])
    assert send_file(admin, far) == "表“事项台账”超过 50 行,不能导入。请分成几个文件再发。"
    assert snapshot(sqlite_app) == before


def test_too_many_columns_are_refused_whatever_the_stated_dimension(sqlite_app, tmp_path):
    before = snapshot(sqlite_app)
    path = workbook_with_sheet_xml(tmp_path / "宽.xlsx", task_rows(3, columns=70), dimension="A1:C4")
    assert send_file(Chat(sqlite_app, "张主任"), path) == "表“事项台账”超过 64 列,不能导入。请删去多余的列后再发。"
    assert snapshot(sqlite_app) == before


def test_a_file_that_takes_too_long_to_read_is_refused(sqlite_app, tmp_path):
    sqlite_app.config.ledger.time_limit_seconds = 0.000001  # already over at the first row batch
    before = snapshot(sqlite_app)
    path = workbook_with_sheet_xml(tmp_path / "慢.xlsx", task_rows(500))
    reply = send_file(Chat(sqlite_app, "张主任"), path)
    assert reply == "文件太复杂,1e-06 秒内没有读完,没有导入。请分成几个小文件再发。"
    assert snapshot(sqlite_app) == before


def test_a_huge_stated_dimension_with_a_few_real_rows_imports(sqlite_app, tmp_path):
    """Excel may state A1:XFD1048576; the reader goes by the rows really stored."""
    path = workbook_with_sheet_xml(tmp_path / "正常.xlsx", task_rows(1), dimension="A1:XFD1048576")
    reply = send_file(Chat(sqlite_app, "张主任"), path)
    assert reply == "✅ 已导入:核对事项1行,改动1处:\n· 纳图电气:进度 未报 → 70%,新进展"
