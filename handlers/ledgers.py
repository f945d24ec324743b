"""Ledger and picture commands: /export (导出台账), /chart (趋势), /brief (周报), and an admin
sending an .xlsx ledger to import. Files are written under the app's out_dir and returned as
``Reply.files``; the channel sends them (the console prints their paths)."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path

from bot.messages import Attachment, OutFile, Reply
from bot.models import Indicator
from bot.services import charts, ledger_export, ledger_import, reports, task_lists
from bot.services.errors import InvalidInput, NotFound
from bot.services.lookup import KIND_INDICATOR, NAMES
from handlers.context import Ctx

logger = logging.getLogger(__name__)


def _out_path(ctx: Ctx, prefix: str, suffix: str) -> Path:
    return ctx.app.out_dir / f"{prefix}-{ctx.now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}{suffix}"


def cmd_export(ctx: Ctx, args: str) -> Reply:
    """/export [mine|red|专班] — 导出 Excel 台账(事项和指标)"""
    which, arg = task_lists.parse_list_filter(ctx.session, args)
    path = _out_path(ctx, "ledger", ".xlsx")
    result = ledger_export.export_ledger(ctx.session, ctx.now, path, ctx.person, which, arg)
    caption = f"{ctx.app.config.office}台账·{result.title}"
    text = f"📎 {caption}:事项{result.tasks}项,指标{result.indicators}行。"
    if result.tasks == 0:
        text += "\n(这个筛选下没有事项,表里只有表头。)"
    return Reply(text, files=[OutFile(str(path), "document", caption)])


def cmd_chart(ctx: Ctx, args: str) -> Reply:
    """/chart 指标 — 指标趋势图,如 /chart 规上工业总产值"""
    name = args.strip()
    if not name:
        return Reply("请写指标名称,例如:/chart 规上工业总产值")
    match = NAMES.find(ctx.session, name, kinds={KIND_INDICATOR})
    if not match.best:
        names = [NAMES.name_of(ctx.session, ref) for ref in match.candidates[:5]]
        if names and match.how == "ambiguous":
            raise NotFound(f"“{name}”对应多个指标,请写全名:", names)
        raise NotFound(f"没有找到指标“{name}”。" + ("相近的有:" if names else "发 /kpi 看全部指标。"), names[:3])
    indicator = ctx.session.get(Indicator, match.best[1])
    path, series = charts.indicator_chart(ctx.session, indicator, _out_path(ctx, "chart", ".png"))
    caption = f"{indicator.name}趋势"
    if series.has_derived:
        caption += "(上年同期为推算)"
    elif not series.points:
        caption += "(暂无数值)"
    return Reply(files=[OutFile(str(path), "photo", caption)])


def cmd_brief(ctx: Ctx, args: str) -> Reply:
    """/brief — 督办周报:各专班红黄绿、本周转红、下周到期、指标更新"""
    brief = reports.weekly_brief(ctx.session, ctx.now, ctx.app.config)
    text = brief.as_text()
    if ctx.msg.channel.startswith("wecom"):
        return Reply(text)
    path = charts.render_brief(brief, _out_path(ctx, "brief", ".png"))
    return Reply(text, files=[OutFile(str(path), "photo", f"{ctx.app.config.office}督办周报")])


def on_document(ctx: Ctx, attachment: Attachment) -> Reply:
    """An admin sends an .xlsx ledger: validate every row, import all or nothing."""
    name = attachment.file_name or Path(attachment.local_path or "").name
    if not name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        return Reply("收到文件。目前只能导入 Excel 台账(.xlsx)。")
    if attachment.size is not None and attachment.size > ledger_import.MAX_IMPORT_BYTES:
        raise InvalidInput(f"文件太大({attachment.size / 1024 / 1024:.1f} MB),"
                           f"上限 {ledger_import.MAX_IMPORT_BYTES // 1024 // 1024} MB。")
    if not attachment.local_path:
        return Reply("文件没有下载成功,请重新发送。")
    report = ledger_import.import_ledger(ctx.session, ctx.now, ctx.person, Path(attachment.local_path),
                                         ctx.app.config.lights, channel=ctx.msg.channel,
                                         limits=ctx.app.config.ledger)
    if not report.ok:
        logger.info("ledger import refused: %d bad rows", len(report.bad_rows))
    return Reply(report.as_text())
