#!/usr/bin/env python3
"""Duban (督办) — the one entry point.

    python run.py console --demo            chat in the terminal on the report's data
    python run.py import data/FILE.yaml     load a dataset (idempotent)
    python run.py telegram                  run the Telegram bot (long polling)
    python run.py serve                     webhook server for Telegram and WeCom, and reminders
    python run.py remind --now ISO          which reminders are due at a moment
    python run.py export-xlsx / import-xlsx Excel ledgers (台账)
    python run.py chart / brief             an indicator chart, the weekly brief
    python run.py migrate                   create or upgrade the database schema

``--config PATH`` picks another config file (default config.yaml).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Optional

from bot.clock import FixedClock, SystemClock, parse_now
from bot.config import PROJECT_ROOT, Config, load_config
from bot.yamlfile import FileError

logger = logging.getLogger("duban")

DEMO_NOW = "2025-07-15T09:00"


def setup_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="督办助手 Duban — 雕庄街道工作督办机器人")
    parser.add_argument("--config", default=str(PROJECT_ROOT / "config.yaml"),
                        help="配置文件 config file (default: config.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="更多日志 more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = sub.add_parser("console", help="在终端里对话 chat in the terminal",
                             description="在终端里对话。标准输入不是终端时,逐行回放并打印对话记录。")
    console.add_argument("--demo", action="store_true",
                         help="用报告数据和临时数据库演示 (throwaway database with the report's data)")
    console.add_argument("--as", dest="as_who", metavar="ROLE_OR_NAME",
                         help="以谁的身份:leader / team_lead / cadre 或姓名 (default: an admin)")
    console.add_argument("--now", help=f"设定时间 set the clock, e.g. {DEMO_NOW} (demo default)")

    imp = sub.add_parser("import", help="导入数据文件 load a YAML dataset (idempotent)")
    imp.add_argument("files", nargs="+", metavar="FILE")

    sub.add_parser("migrate", help="建立或升级数据库 create or upgrade the schema")
    return parser


def register_channel_commands(sub) -> None:
    """Channels add their own sub-commands (telegram, serve) when their modules exist."""
    from bot.optional import import_optional

    for module_name in ("bot.channels.telegram.cli", "bot.channels.serve_cli", "jobs.cli", "bot.reports_cli"):
        module = import_optional(module_name)
        if module is not None:
            module.add_parser(sub)


def make_clock(now: Optional[str], demo: bool):
    if now:
        return FixedClock(parse_now(now))
    if demo:
        return FixedClock(parse_now(DEMO_NOW))
    return SystemClock()


def demo_config(config: Config) -> Config:
    """A copy of the config pointing at a fresh throwaway SQLite database."""
    folder = Path(tempfile.mkdtemp(prefix="duban-demo-"))
    demo = config.model_copy(deep=True)
    demo.database.url = f"sqlite:///{folder / 'demo.sqlite3'}"
    return demo


def cmd_console(config: Config, args) -> int:
    from bot.channels.console import ConsoleChat, pick_person
    from bot.composition import build_app, load_data_files

    if args.demo:
        config = demo_config(config)
    app = build_app(config, make_clock(args.now, args.demo))
    if args.demo:
        load_data_files(app, [config.resolve(config.data.dataset), config.resolve(config.data.demo_people)])
    person = pick_person(app, args.as_who)
    if args.demo and args.now:
        from bot.channels.console import show_due_pushes

        show_due_pushes(app)
    chat = ConsoleChat(app, person)
    if sys.stdin.isatty():
        chat.interactive()
    else:
        chat.transcript(sys.stdin)
    return 0


def cmd_import(config: Config, args) -> int:
    from bot.composition import build_app, load_data_files

    app = build_app(config)
    print(load_data_files(app, [Path(f) for f in args.files]))
    return 0


def cmd_migrate(config: Config, args) -> int:
    from bot.composition import build_app

    build_app(config)
    print(f"数据库已是最新:{config.database_url}")
    return 0


HANDLERS = {"console": cmd_console, "import": cmd_import, "migrate": cmd_migrate}


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    register_channel_commands(parser._subparsers._group_actions[0])
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        config = load_config(args.config)
        handler = HANDLERS.get(args.command) or args.handler
        return handler(config, args) or 0
    except FileError as error:
        print(f"错误 error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a clear line instead of a stack trace
        from bot.services.errors import ServiceError

        if isinstance(error, ServiceError):
            print(f"错误 error: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
