"""Sub-commands for ledgers and pictures (discovered by run.py):

    python run.py export-xlsx [--filter red|mine|专班名|类别] [--as NAME] OUT.xlsx
    python run.py import-xlsx [--as NAME] FILE.xlsx
    python run.py chart NAME OUT.png
    python run.py brief [OUT.png]

``--as`` names the person (default: the first admin); an import is recorded as their update.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from bot.composition import build_app
from bot.config import Config
from bot.models import Person
from bot.services import charts, ledger_export, ledger_import, reports, task_lists
from bot.services.errors import NotFound
from bot.services.indicators import find_indicator
from cli.demo import make_clock


def add_parser(sub) -> None:
    export = sub.add_parser("export-xlsx", help="导出 Excel 台账 export the ledger (.xlsx)")
    export.add_argument("--filter", default="", help="筛选:red / mine / overdue / 专班名 / 类别 (default all)")
    export.add_argument("--as", dest="as_who", help="以谁的身份(mine 筛选用),默认管理员")
    export.add_argument("out", metavar="OUT", help="输出文件 .xlsx")
    export.set_defaults(handler=cmd_export)

    imp = sub.add_parser("import-xlsx", help="从 Excel 台账导入进度 import a ledger (.xlsx)")
    imp.add_argument("--as", dest="as_who", help="导入人(须为管理员),默认第一个管理员")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(handler=cmd_import)

    chart = sub.add_parser("chart", help="画指标趋势图 indicator chart (.png)")
    chart.add_argument("name", metavar="NAME", help="指标名称,如 规上工业总产值")
    chart.add_argument("out", metavar="OUT", help="输出文件 .png")
    chart.set_defaults(handler=cmd_chart)

    brief = sub.add_parser("brief", help="督办周报 weekly brief (text, and .png if OUT given)")
    brief.add_argument("out", metavar="OUT", nargs="?", help="输出图片 .png")
    brief.add_argument("--now", help="设定时间 set the clock, e.g. 2025-07-15T09:00")
    brief.set_defaults(handler=cmd_brief)


def _app(config: Config, now: Optional[str] = None):
    return build_app(config, make_clock(now))


def _person(session, who: Optional[str]):
    query = select(Person).where(Person.active.is_(True)).order_by(Person.id)
    person = session.scalar(query.where(Person.name == who) if who else query.where(Person.is_admin.is_(True)))
    if person is None:
        raise NotFound(f"没有找到人员“{who}”。" if who else "数据库里没有管理员,请先导入人员名单。")
    return person


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    app = _app(config)
    with app.sessions() as session:
        person = _person(session, args.as_who)
        which, arg = task_lists.parse_list_filter(session, args.filter)
        result = ledger_export.export_ledger(session, app.clock.now(), Path(args.out), person, which, arg)
    print(f"已导出 {result.path}:事项{result.tasks}项,指标{result.indicators}行({result.title})")
    return 0


def cmd_import(config: Config, args: argparse.Namespace) -> int:
    app = _app(config)
    with app.sessions.begin() as session:
        person = _person(session, args.as_who)
        report = ledger_import.import_ledger(session, app.clock.now(), person, Path(args.file),
                                             config.lights, channel="cli", limits=config.ledger)
        print(report.as_text(limit=200))
        if not report.ok:
            session.rollback()
            return 1
    return 0


def cmd_chart(config: Config, args: argparse.Namespace) -> int:
    app = _app(config)
    with app.sessions() as session:
        indicator = find_indicator(session, args.name)
        if indicator is None:
            print(f"没有找到指标“{args.name}”。")
            return 2
        path, _ = charts.indicator_chart(session, indicator, Path(args.out))
    print(f"已生成 {path}")
    return 0


def cmd_brief(config: Config, args: argparse.Namespace) -> int:
    app = _app(config, args.now)
    with app.sessions() as session:
        brief = reports.weekly_brief(session, app.clock.now(), config)
    print(brief.as_text())
    if args.out:
        print(f"已生成 {charts.render_brief(brief, Path(args.out))}")
    return 0
