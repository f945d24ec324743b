"""/healthz, ``run.py health`` and /metrics: what an admin's monitoring sees."""
from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from datetime import timedelta

from aiohttp.test_utils import TestClient, TestServer

from bot.app import Duban
from bot.composition import build_app
from bot.config import PROJECT_ROOT
from bot.db import make_engine, make_session_factory
from bot.notify import DeliveryError, NotifierRouter
from bot.services import outbox_store
from channels.server import build_web_app
from jobs.outbox import ReminderRunner
from tests.conftest import Chat, make_config
from tests.test_reminders import Recorder


async def get(duban: Duban, path: str) -> tuple[int, str]:
    web_app, _ = build_web_app(duban)
    async with TestClient(TestServer(web_app)) as client:
        response = await client.get(path)
        return response.status, await response.text()


def tick_at(app, when) -> None:
    with app.sessions.begin() as session:
        outbox_store.set_last_tick(session, when)


def test_healthz_ok_then_503_when_the_tick_is_stale(app, clock):
    tick_at(app, clock.now() - timedelta(seconds=30))
    status, body = asyncio.run(get(app, "/healthz"))
    assert status == 200 and '"ok": true' in body and '"reasons": []' in body
    clock.advance(timedelta(minutes=10))  # no tick for 10 min; the limit is 3 x 60 s
    status, body = asyncio.run(get(app, "/healthz"))
    assert status == 503
    assert "reminders: last tick 630s ago (limit 180s)" in body


def test_healthz_503_on_an_outbox_backlog(sqlite_app, clock):
    app = sqlite_app
    tick_at(app, clock.now())
    with app.sessions.begin() as session:
        outbox_store.push(session, clock.now() - timedelta(hours=2), "stuck:1", "admin", 1, "积压",
                          due_at=clock.now() - timedelta(hours=2))
    status, body = asyncio.run(get(app, "/healthz"))
    assert status == 503
    assert "outbox: a pending message has been due for 120 min (limit 30 min)" in body


def test_a_catch_up_just_recorded_is_not_a_backlog(sqlite_app, clock):
    """At start-up the tick records occasions missed while down (due hours ago); they are
    only a backlog once they have waited the limit since being recorded."""
    app = sqlite_app
    tick_at(app, clock.now())
    with app.sessions.begin() as session:
        outbox_store.push(session, clock.now() - timedelta(minutes=5), "caught-up:1", "admin", 1, "补发",
                          due_at=clock.now() - timedelta(hours=2))
    status, body = asyncio.run(get(app, "/healthz"))
    assert status == 200, body
    clock.advance(timedelta(minutes=26))
    tick_at(app, clock.now())
    status, body = asyncio.run(get(app, "/healthz"))
    assert status == 503 and "outbox: a pending message has been due for 146 min" in body


def down_app(tmp_path, clock, url: str) -> Duban:
    config = make_config(url, tmp_path, health={"db_timeout_seconds": 1.0})
    engine = make_engine(url)
    return Duban(config=config, clock=clock, engine=engine, sessions=make_session_factory(engine),
                 out_dir=tmp_path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_503_when_the_database_is_down_or_hangs(tmp_path, clock):
    refused = down_app(tmp_path, clock, f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    status, body = asyncio.run(get(refused, "/healthz"))
    assert status == 503 and '"reasons": ["database: OperationalError' in body
    # a server that accepts the connection and never answers: the check gives up in time
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        hung = down_app(tmp_path, clock, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
        status, body = asyncio.run(get(hung, "/healthz"))
    assert status == 503 and "database: no answer within 1s" in body


def test_metrics_count_messages_sends_retries_and_read_the_outbox(sqlite_app, clock):
    app = sqlite_app
    chat = Chat(app, "王干部")
    chat.say("/update 纳图电气 70% 设备进场")
    chat.say("/update 不存在的事项 50%")
    tick_at(app, clock.now())
    recorder = Recorder(fail=[DeliveryError("flood", retry_after=7)])
    router = NotifierRouter()
    router.register("console", recorder)
    with app.sessions.begin() as session:
        for n in (1, 2):
            outbox_store.push(session, clock.now(), f"m:{n}", "admin", chat.person.id, f"消息{n}")
    runner = ReminderRunner(app, router)
    report = asyncio.run(runner.deliver())
    assert len(report.sent) == 1 and len(report.retried) == 1

    status, body = asyncio.run(get(app, "/metrics"))
    assert status == 200
    assert 'duban_messages_handled_total{channel="console",outcome="ok"} 1.0' in body
    assert 'duban_messages_handled_total{channel="console",outcome="refused"} 1.0' in body
    assert 'duban_handler_seconds_count{channel="console"} 2.0' in body
    assert 'duban_sends_total{channel="console",outcome="sent"} 1.0' in body
    assert 'duban_send_retries_total{channel="console"} 1.0' in body
    assert 'duban_send_rate_limited_total{channel="console"} 1.0' in body
    assert 'duban_outbox_messages{kind="admin",status="sent"} 1.0' in body
    assert 'duban_outbox_messages{kind="admin",status="pending"} 1.0' in body
    tick = re.search(r"^duban_last_tick_timestamp_seconds (\S+)$", body, re.M)
    assert tick and float(tick.group(1)) == clock.now().timestamp()
    assert "duban_database_up 1.0" in body


def test_each_app_has_its_own_metrics(sqlite_app, clock, tmp_path):
    other = build_app(make_config(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "o"), clock)
    Chat(sqlite_app, "王干部").say("/help")
    assert b'duban_messages_handled_total{channel="console"' in sqlite_app.metrics.render()
    assert b'duban_messages_handled_total{channel="console"' not in other.metrics.render()


def test_run_py_health_exit_codes(tmp_path):
    db = tmp_path / "h.sqlite3"
    env = {"PATH": "/usr/bin:/bin", "DUBAN__DATABASE__URL": f"sqlite:///{db}",
           "DUBAN__DATA__OUT_DIR": str(tmp_path / "out")}

    def run(*args):
        return subprocess.run([sys.executable, "run.py", *args], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    assert run("migrate").returncode == 0
    unhealthy = run("health")
    assert unhealthy.returncode == 1
    assert unhealthy.stdout.strip() == "unhealthy: reminders: no tick recorded yet"
    app = build_app(make_config(f"sqlite:///{db}", tmp_path))
    tick_at(app, app.clock.now())
    app.engine.dispose()
    healthy = run("health")
    assert healthy.returncode == 0 and healthy.stdout.startswith("ok (last tick ")
    env["DUBAN__DATABASE__URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"
    down = run("health")
    assert down.returncode == 1 and down.stdout.startswith("unhealthy: database: OperationalError")
    assert "Traceback" not in down.stderr

