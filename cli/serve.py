"""``python run.py serve``: the webhook server for Telegram and WeCom, plus the scheduler."""
from __future__ import annotations

import asyncio

from bot.composition import build_app
from channels.server import serve
from cli.demo import make_clock


def add_parser(sub) -> None:
    parser = sub.add_parser("serve", help="运行 webhook 服务 (Telegram + WeCom) webhook server",
                            description="运行 HTTP 服务:Telegram webhook、企业微信回调 /wecom/callback、定时提醒。"
                                        "监听地址见 config.yaml 的 server.host / server.port。")
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--now", help="设定时间 (tests/demo), e.g. 2025-12-26T08:30")
    parser.set_defaults(handler=run)


def run(config, args) -> int:
    clock = make_clock(args.now, ticking=True)
    duban = build_app(config, clock)
    asyncio.run(serve(duban, args.host or config.server.host, args.port or config.server.port))
    return 0
