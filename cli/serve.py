"""``python run.py serve``: the webhook server for Telegram and WeCom, the 驾驶舱 under
/dashboard/, plus the scheduler. ``--demo`` serves the report's data from a throwaway
database and prints a login link and a 大屏 link."""
from __future__ import annotations

import asyncio
import sys

from sqlalchemy import select

from bot.composition import build_app, load_data_files
from bot.models import Person
from bot.services import web_access
from channels.server import serve
from cli.demo import demo_config, make_clock


def add_parser(sub) -> None:
    parser = sub.add_parser("serve", help="运行 webhook 服务 (Telegram + WeCom) webhook server",
                            description="运行 HTTP 服务:Telegram webhook、企业微信回调 /wecom/callback、"
                                        "督办驾驶舱 /dashboard/、定时提醒。"
                                        "监听地址见 config.yaml 的 server.host / server.port。")
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--now", help="设定时间 (tests/demo), e.g. 2025-12-26T08:30")
    parser.add_argument("--demo", action="store_true",
                        help="用报告数据和临时数据库演示,并打印驾驶舱登录链接和大屏链接 (throwaway demo database)")
    parser.set_defaults(handler=run)


def run(config, args) -> int:
    if args.demo:
        config = demo_config(config)
    clock = make_clock(args.now, demo=args.demo, ticking=True)
    duban = build_app(config, clock)
    host, port = args.host or config.server.host, args.port or config.server.port
    if args.demo:
        load_data_files(duban, [config.resolve(config.data.dataset), config.resolve(config.data.demo_people)])
        base = (config.dashboard.public_url or f"http://{host}:{port}").rstrip("/")
        with duban.sessions.begin() as session:
            admin = session.scalar(select(Person).where(Person.is_admin.is_(True)).order_by(Person.id))
            if admin is None:
                print("演示人员名单里没有管理员,无法生成登录链接 (no admin in the demo people)", file=sys.stderr)
                return 1
            now = clock.now()
            link = web_access.new_link(session, now, duban.web_key(), admin, config.dashboard.link_minutes)
            screen, _ = web_access.new_screen(session, now, duban.web_key(), admin, "演示大屏")
        print(f"驾驶舱登录 ({admin.name}, {config.dashboard.link_minutes}分钟内有效,只能用一次): "
              f"{base}/dashboard/login?t={link}", flush=True)
        print(f"大屏: {base}/dashboard/screen?k={screen}", flush=True)
    asyncio.run(serve(duban, host, port))
    return 0
