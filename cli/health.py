"""``python run.py health``: the checks of ``/healthz`` (database, last reminder tick, outbox
backlog) from the command line, for polling mode, the systemd watchdog and Docker's
HEALTHCHECK. Exit 0 healthy, 1 not; the reasons are printed."""
from __future__ import annotations

import json

from bot.clock import SystemClock
from bot.config import Config
from bot.db import make_engine, make_session_factory
from bot.services.health import check_health


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "health", help="健康检查 health check (exit 0 = healthy)",
        description="检查数据库、提醒节拍和发件箱积压,同 /healthz。正常退出码 0,否则 1 并写明原因。")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.set_defaults(handler=cmd_health)


def cmd_health(config: Config, args) -> int:
    engine = make_engine(config.database_url)
    try:
        health = check_health(make_session_factory(engine), config, SystemClock().now())
    finally:
        engine.dispose()
    if getattr(args, "json", False):
        print(json.dumps(health.as_dict(), ensure_ascii=False))
    elif health.ok:
        print(f"ok (last tick {health.last_tick:%Y-%m-%d %H:%M:%S})" if health.last_tick else "ok")
    else:
        for reason in health.reasons:
            print(f"unhealthy: {reason}")
    return 0 if health.ok else 1
