"""``python run.py console``: chat with the bot in the terminal (the demo's channel)."""
from __future__ import annotations

import sys

from bot.composition import build_app, load_data_files
from bot.config import Config
from channels.console import ConsoleChat, pick_person, show_due_pushes
from cli.demo import DEMO_NOW, demo_config, make_clock


def add_parser(sub) -> None:
    console = sub.add_parser("console", help="在终端里对话 chat in the terminal",
                             description="在终端里对话。标准输入不是终端时,逐行回放并打印对话记录。")
    console.add_argument("--demo", action="store_true",
                         help="用报告数据和临时数据库演示 (throwaway database with the report's data)")
    console.add_argument("--as", dest="as_who", metavar="ROLE_OR_NAME",
                         help="以谁的身份:leader / team_lead / cadre 或姓名 (default: an admin)")
    console.add_argument("--now", help=f"设定时间 set the clock, e.g. {DEMO_NOW} (demo default)")
    console.set_defaults(handler=cmd_console)


def cmd_console(config: Config, args) -> int:
    if args.demo:
        config = demo_config(config)
    app = build_app(config, make_clock(args.now, args.demo))
    if args.demo:
        load_data_files(app, [config.resolve(config.data.dataset), config.resolve(config.data.demo_people)])
    person = pick_person(app, args.as_who)
    if args.demo and args.now:
        show_due_pushes(app)
    chat = ConsoleChat(app, person)
    if sys.stdin.isatty():
        chat.interactive()
    else:
        chat.transcript(sys.stdin)
    return 0
