"""Excel ledgers: /export opens in openpyxl with the office layout, fills and print set-up; a
re-import of an export changes nothing; bad rows import nothing and are listed; formulas,
merged headers, empty rows, full-width digits and percents in every form import correctly."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot.messages import Attachment
from bot.models import AuditEntry, Indicator, IndicatorValue, Person, Task, TaskUpdate
from bot.services import ledger_import
from tests.conftest import Chat

TASK_HEADERS = ["序号", "类别", "项目/事项", "牵头单位", "责任人", "时间节点", "完成进度", "状态",
                "最新进展", "更新时间", "编号"]
INDICATOR_HEADERS = ["指标", "单位", "期间", "数值", "同比", "目标", "完成率", "序时进度差", "编号"]


def snapshot(app) -> tuple:
    """What an import may change: every task's progress/deadline/owner, updates, audit, values."""
    with app.sessions() as s:
        tasks = tuple(s.execute(select(Task.key, Task.progress, Task.deadline, Task.owner_id, Task.status)
                                .order_by(Task.key)))
        values = tuple(s.execute(select(IndicatorValue.indicator_id, IndicatorValue.period_label,
                                        IndicatorValue.value, IndicatorValue.yoy_pct)
                                 .order_by(IndicatorValue.id)))
        targets = tuple(s.scalars(select(Indicator.target).order_by(Indicator.id)))
        return (tasks, values, targets, s.scalar(select(func.count(TaskUpdate.id))),
                s.scalar(select(func.count(AuditEntry.id))))


def export(chat: Chat, args: str = "") -> Path:
    replies = chat.replies(f"/export {args}".strip())
    assert len(replies) == 1 and len(replies[0].files) == 1, [r.text for r in replies]
    out = replies[0].files[0]
    assert out.kind == "document" and out.path.endswith(".xlsx")
    return Path(out.path)


def send_file(chat: Chat, path: Path, name: str | None = None) -> str:
    attachment = Attachment(kind="document", local_path=str(path), file_name=name or path.name,
                            size=path.stat().st_size)
    return "\n".join(r.text for r in chat.replies("", attachments=[attachment]))


def task_row(ws, name: str) -> list:
    for row in ws.iter_rows(min_row=2, values_only=True):
        if row[2] == name:
            return list(row)
    raise AssertionError(f"no row for {name}")


# ---------------------------------------------------------------- export

def test_export_has_the_office_layout_fills_and_print_setup(app):
    admin = Chat(app, "张主任")
    assert "已记录" in admin.say("/update 纳图电气 65% 主体厂房封顶")
    path = export(admin)
    wb = load_workbook(path)
    assert wb.sheetnames == ["事项台账", "指标"]
    ws = wb["事项台账"]
    assert [c.value for c in ws[1]] == TASK_HEADERS
    assert ws.max_row == 1 + 94
    assert ws.freeze_panes == "A2"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.column_dimensions["C"].width >= 25 and ws.column_dimensions["K"].hidden
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb.endswith("DDEBF7")

    row = next(r for r in ws.iter_rows(min_row=2) if r[2].value == "纳图电气")
    values = [c.value for c in row]
    assert values[1] == "重点项目" and values[3] == "项目一专班" and values[4] == "王干部"
    assert values[6] == pytest.approx(0.65) and row[6].number_format == "0%"
    assert values[7] == "绿灯" and row[7].fill.fgColor.rgb.endswith("C6EFCE")
    assert values[8] == "主体厂房封顶"
    assert values[9].strftime("%Y-%m-%d %H:%M") == "2025-07-15 09:00"
    assert values[10] == "natu_electric"
    # a task due 2025-12-31 with nothing reported: a date cell, grey light
    park = next(r for r in ws.iter_rows(min_row=2) if r[2].value == "中德电力装备产业园")
    assert park[5].value.date().isoformat() == "2025-12-31" and park[5].number_format == "yyyy-mm-dd"
    assert park[7].value == "未报" and park[7].fill.fgColor.rgb.endswith("E7E6E6")
    assert [r[0].value for r in ws.iter_rows(min_row=2)] == list(range(1, 95))

    wi = wb["指标"]
    assert [c.value for c in wi[1]] == INDICATOR_HEADERS
    assert wi.freeze_panes == "A2" and wi.page_setup.orientation == "landscape"
    output = next(r for r in wi.iter_rows(min_row=2) if r[0].value == "规上工业总产值")
    assert [output[1].value, output[2].value, output[3].value] == ["亿元", "2025年1-6月", 135.7]
    assert output[4].value == pytest.approx(0.084) and "%" in output[4].number_format
    assert output[5].value is None and output[8].value == "industrial_output"


def test_export_red_and_overdue_fills_and_filters(sqlite_app, clock):
    with sqlite_app.sessions.begin() as s:
        park = s.scalar(select(Task).where(Task.name == "中德电力装备产业园"))
        park.progress = 10.0
    clock.set(clock.now().replace(year=2026, month=1, day=5))
    admin = Chat(sqlite_app, "张主任")
    ws = load_workbook(export(admin, "red"))["事项台账"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 18  # the 18 tasks due 2025-12-31 are overdue now
    assert all(r[7].value == "红灯" and r[7].fill.fgColor.rgb.endswith("FFC7CE") for r in rows)
    mine = load_workbook(export(Chat(sqlite_app, "王干部"), "mine"))["事项台账"]
    assert "纳图电气" in [r[2] for r in mine.iter_rows(min_row=2, values_only=True)]
    assert all(r[3] == "项目一专班" for r in mine.iter_rows(min_row=2, values_only=True))
    assert "看不懂" in admin.say("/export 不存在的筛选")


# ---------------------------------------------------------------- round trip

def test_reimport_of_an_unchanged_export_changes_nothing(app):
    admin = Chat(app, "张主任")
    admin.say("/update 纳图电气 65% 主体厂房封顶")
    path = export(admin)
    before = snapshot(app)
    reply = send_file(admin, path)
    assert "已核对事项94行、指标62行,与系统一致,没有改动" in reply
    assert snapshot(app) == before


def test_import_edited_ledger_records_updates_by_the_admin(app):
    admin = Chat(app, "张主任")
    admin.say("/update 纳图电气 65% 主体厂房封顶")
    path = export(admin)
    wb = load_workbook(path)
    ws = wb["事项台账"]
    for row in ws.iter_rows(min_row=2):
        if row[2].value == "纳图电气":
            row[6].value = "８０％"           # full-width text
            row[8].value = "设备进场调试"
        elif row[2].value == "中德电力装备产业园":
            row[6].value = 0.3                 # percent-formatted cell (0%)
            row[5].value = "2026-03-31"
        elif row[2].value == "祺胜新材料":
            row[6].value = "45"
            row[6].number_format = "General"
    wb.save(path)
    reply = send_file(admin, path)
    assert "已导入" in reply and "改动4处" in reply, reply
    assert "纳图电气:进度 65% → 80%,新进展" in reply
    assert "中德电力装备产业园:时间节点 2025-12-31 → 2026-03-31" in reply
    with app.sessions() as s:
        natu = s.scalar(select(Task).where(Task.key == "natu_electric"))
        assert natu.progress == 80
        update = s.scalars(select(TaskUpdate).where(TaskUpdate.task_id == natu.id)
                           .order_by(TaskUpdate.id.desc())).first()
        assert update.author.name == "张主任" and update.previous_progress == 65
        assert update.note == "设备进场调试" and update.channel == "console"
        park = s.scalar(select(Task).where(Task.name == "中德电力装备产业园"))
        assert park.progress == 30 and park.deadline.isoformat() == "2026-03-31"
        assert s.scalar(select(Task.progress).where(Task.name == "祺胜新材料")) == 45
        actions = {(a.action, a.entity_key) for a in s.scalars(select(AuditEntry))}
        assert ("update", "natu_electric") in actions and ("import", park.key) in actions
    # and a second import of the same file changes nothing more
    before = snapshot(app)
    assert "没有改动" in send_file(admin, path)
    assert snapshot(app) == before


def test_bad_rows_import_nothing_and_each_is_listed(app):
    admin = Chat(app, "张主任")
    admin.say("/update 纳图电气 65%")
    path = export(admin)
    wb = load_workbook(path)
    ws = wb["事项台账"]
    rows = {r[2].value: r for r in ws.iter_rows(min_row=2)}
    rows["中德电力装备产业园"][6].value = "50%"          # good on its own
    rows["纳图电气"][6].value = "40%"                      # lower than 65%
    rows["祺胜新材料"][6].value = "大约一半"               # unreadable
    rows["昱智尔"][6].value = "120%"                       # out of range
    rows["常州制药厂多肽药物"][5].value = "明年"           # bad date
    rows["常州制药厂多肽药物"][4].value = "不认识的人"     # unknown owner: one row, first reason wins too
    ws.append([None, "重点项目", "不存在的项目", None, None, None, "10%"])
    wb.save(path)
    before = snapshot(app)
    reply = send_file(admin, path)
    assert "整个文件都没有导入" in reply
    natu_row = rows["纳图电气"][0].row
    assert f"第{natu_row}行:进度 40% 比上次(65%)低,请在对话中确认" in reply
    assert "“大约一半”看不懂" in reply and "120% 不在 0%-100% 之间" in reply
    assert "时间节点“明年”看不懂" in reply and "责任人“不认识的人”不在人员名单里" in reply
    assert f"第{ws.max_row}行:系统里没有事项“不存在的项目”" in reply
    assert snapshot(app) == before


# ---------------------------------------------------------------- office tables

def _office_table(path: Path, formula_cached: bool = True) -> None:
    """A title row merged across, a two-row header with merged cells, empty rows, no key
    column, progress as 65% text / 0.65 / full-width / a formula."""
    wb = Workbook()
    ws = wb.active
    ws.title = "二季度"
    ws.append(["雕庄街道2025年重点工作推进台账"])
    ws.merge_cells("A1:F1")
    ws.append(["序号", "项目/事项", "责任人", "推进情况", "完成进度", None])
    ws.append([None, None, None, None, "(%)", "备注"])
    ws.merge_cells("A2:A3")
    ws.merge_cells("B2:B3")
    ws.merge_cells("C2:C3")
    ws.merge_cells("D2:D3")
    ws.append([])
    ws.append([1, "纳图电气", "王干部", "主体厂房封顶", "=50+15", None])
    ws.append([None, None, None, None, None, None])
    ws.append([2, "祺胜新材料", None, None, 0.25, None])
    ws["E7"].number_format = "0%"
    ws.append([3, "昱智尔", None, None, "３０", None])
    ws.append([4, "常州制药厂多肽药物", None, None, "10 %", None])
    wb.save(path)
    if formula_cached:
        # openpyxl cannot write a formula's cached result; put one in as Excel would
        tmp = path.with_suffix(".tmp")
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "xl/worksheets/sheet1.xml":
                    data = re.sub(rb"<f>50\+15</f>(<v ?/>|<v></v>)?", b"<f>50+15</f><v>65</v>", data)
                    assert b"<v>65</v>" in data
                dst.writestr(item, data)
        shutil.move(tmp, path)


def test_office_table_with_merged_headers_formulas_and_empty_rows(sqlite_app, tmp_path):
    path = tmp_path / "二季度台账.xlsx"
    _office_table(path)
    admin = Chat(sqlite_app, "张主任")
    reply = send_file(admin, path)
    assert "已导入" in reply and "核对事项4行" in reply, reply
    with sqlite_app.sessions() as s:
        progress = dict(s.execute(select(Task.name, Task.progress).where(
            Task.name.in_(["纳图电气", "祺胜新材料", "昱智尔", "常州制药厂多肽药物"]))).all())
        assert progress == {"纳图电气": 65, "祺胜新材料": 25, "昱智尔": 30, "常州制药厂多肽药物": 10}
        note = s.scalar(select(TaskUpdate.note).join(Task).where(Task.name == "纳图电气"))
        assert note == "主体厂房封顶"


def test_formula_without_a_cached_value_is_a_bad_row(sqlite_app, tmp_path):
    path = tmp_path / "公式.xlsx"
    _office_table(path, formula_cached=False)
    before = snapshot(sqlite_app)
    reply = send_file(Chat(sqlite_app, "张主任"), path)
    assert "二季度 第5行:有公式但没有计算结果" in reply and "没有导入" in reply
    assert snapshot(sqlite_app) == before


def test_indicator_sheet_sets_targets_and_adds_a_monthly_period(sqlite_app, tmp_path):
    path = tmp_path / "统计月报.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = "7月"
    ws.append(["指标", "期间", "数值", "同比增长(%)", "全年目标"])
    ws.append(["规上工业总产值", "2025年1-7月", 160.2, "9.1", 280])
    ws.append(["规上工业总产值", "2025年1-6月", 135.7, 0.084, None])
    ws["D3"].number_format = "0.0%"
    wb.save(path)
    admin = Chat(sqlite_app, "张主任")
    reply = send_file(admin, path)
    assert "已导入" in reply and "目标 — → 280" in reply and "新增2025年1-7月" in reply, reply
    with sqlite_app.sessions() as s:
        ind = s.scalar(select(Indicator).where(Indicator.key == "industrial_output"))
        assert ind.target == 280
        assert [(v.period_label, v.value, v.yoy_pct, v.period_end.isoformat()) for v in ind.values] == [
            ("2025年1-6月", 135.7, 8.4, "2025-06-30"), ("2025年1-7月", 160.2, 9.1, "2025-07-31")]
    ws2 = load_workbook(export(admin))["指标"]
    rows = [r for r in ws2.iter_rows(min_row=2, values_only=True) if r[0] == "规上工业总产值"]
    assert [r[2] for r in rows] == ["2025年1-6月", "2025年1-7月"]
    assert rows[1][5] == 280 and rows[1][6] == pytest.approx(160.2 / 280)
    assert rows[1][7] == pytest.approx(round(160.2 / 280 * 100 - 7 * 100 / 12, 1))
    assert "没有改动" in send_file(admin, path)


# ---------------------------------------------------------------- refused files and people

def test_not_a_workbook_too_big_and_old_xls_are_refused(sqlite_app, tmp_path):
    admin = Chat(sqlite_app, "张主任")
    before = snapshot(sqlite_app)
    fake = tmp_path / "台账.xlsx"
    fake.write_text("序号,项目\n1,纳图电气\n", encoding="utf-8")
    assert "这不是 Excel 工作簿" in send_file(admin, fake)
    broken = tmp_path / "坏.xlsx"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("hello.txt", "not excel")
    assert "这不是 Excel 工作簿" in send_file(admin, broken)
    old = tmp_path / "旧.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert "另存为 .xlsx" in send_file(admin, old)
    big = tmp_path / "大.xlsx"
    big.write_bytes(b"PK" + b"\0" * (ledger_import.MAX_IMPORT_BYTES + 10))
    assert "文件太大" in send_file(admin, big)
    empty = tmp_path / "表.xlsx"
    Workbook().save(empty)
    assert "没有找到台账表头" in send_file(admin, empty)
    assert "只能导入 Excel" in send_file(admin, fake, name="说明.pdf")
    assert snapshot(sqlite_app) == before


def test_only_admins_import(sqlite_app):
    admin = Chat(sqlite_app, "张主任")
    path = export(admin)
    before = snapshot(sqlite_app)
    assert "只有管理员" in send_file(Chat(sqlite_app, "王干部"), path)
    assert snapshot(sqlite_app) == before


def test_cli_export_and_import(sqlite_app, tmp_path, capsys):
    import run

    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {sqlite_app.config.database.url}\n", encoding="utf-8")
    out = tmp_path / "红灯.xlsx"
    assert run.main(["--config", str(config), "export-xlsx", "--filter", "项目一专班", str(out)]) == 0
    assert "事项2项" in capsys.readouterr().out
    wb = load_workbook(out)
    assert [r[2] for r in wb["事项台账"].iter_rows(min_row=2, values_only=True)] == ["纳图电气", "中德电力装备产业园"]
    wb["事项台账"]["G2"] = "20%"
    wb.save(out)
    assert run.main(["--config", str(config), "import-xlsx", str(out)]) == 0
    assert "纳图电气:进度 未报 → 20%" in capsys.readouterr().out
    wb["事项台账"]["G2"] = "10%"
    wb.save(out)
    assert run.main(["--config", str(config), "import-xlsx", str(out)]) == 1
    assert "比上次(20%)低" in capsys.readouterr().out
    with sqlite_app.sessions() as s:
        natu = s.scalar(select(Task).where(Task.key == "natu_electric"))
        assert natu.progress == 20
        author = s.scalar(select(Person.name).join(TaskUpdate, TaskUpdate.author_id == Person.id))
        assert author == "张主任"
