"""Two ``python run.py serve`` processes on one PostgreSQL, sending through the fake Bot API:
every push goes out once, each person's pushes arrive in order, and the two together keep to
the configured send rate (the token bucket in the database), although both send."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FixedClock, parse_now
from bot.composition import build_app
from bot.config import PROJECT_ROOT, load_config
from bot.models import OutboxMessage, Person
from bot.services import outbox_store
from bot.services.people import bind_identity
from testing.fake_telegram import FakeTelegramAPI
from tests.conftest import fresh_pg_database, pg_unavailable

pytestmark = pytest.mark.postgres

TOKEN = "123:ABC"
RATE = 5          # pushes a second over both instances
PER_PERSON = 8
NOW = "2025-12-26T10:00"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_serve_instances_share_limits_and_send_each_push_once(tmp_path):
    if pg_unavailable():
        pytest.skip(pg_unavailable())
    url = fresh_pg_database(f"duban_instances_{os.getpid()}")
    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False).start_in_thread()
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"database: {{url: '{url}'}}\n"
        f"data: {{out_dir: '{tmp_path / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', max_messages_per_second: 0}}\n"
        "reminders: {tick_seconds: 1, deliver_seconds: 0.5, enabled: true}\n"
        f"sending: {{per_second: {{telegram: {RATE}}}, per_chat_per_minute: {{telegram: 600}}}}\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN__", "TELEGRAM_", "DATABASE_"))}
    subprocess.run([sys.executable, "run.py", "--config", str(config_path), "import", "data/diaozhuang-2025.yaml",
                    "data/demo-people.yaml"],
                   cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    duban = build_app(load_config(config_path, environ={}), FixedClock(parse_now(NOW)))
    now = duban.clock.now()
    expected: dict[str, list[str]] = {}
    with duban.sessions.begin() as session:
        people = session.scalars(select(Person).order_by(Person.id)).all()
        for i, person in enumerate(people):
            chat = str(7000 + i)
            bind_identity(session, now, person, "telegram", chat, chat, person.name)
            expected[chat] = [f"第{n:02d}条 给{person.name}" for n in range(1, PER_PERSON + 1)]
            for n, message in enumerate(expected[chat], start=1):
                outbox_store.push(session, now, f"load:{person.id}:{n}", "admin", person.id, message,
                                  due_at=now - timedelta(minutes=1) + timedelta(seconds=n))
    total = sum(len(v) for v in expected.values())
    duban.engine.dispose()

    processes = [subprocess.Popen([sys.executable, "run.py", "serve", "--config", str(config_path), "-v",
                                   "--port", str(free_port()), "--now", NOW],
                                  cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    logs = []
    try:
        for process in processes:
            assert "serving on http://" in process.stdout.readline()
        ours = set(m for v in expected.values() for m in v)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if len([s for s in list(fake.sent) if s["text"] in ours]) >= total:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # a duplicate would show up now
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                logs.append(process.communicate(timeout=20)[1])
            except subprocess.TimeoutExpired:
                process.kill()
                logs.append(process.communicate()[1])
        fake.stop()

    sent = [s for s in fake.sent if s["method"] == "sendMessage"]
    load = [s for s in sent if s["text"] in ours]
    # every push once, nothing twice (also the reminders the ticks recorded)
    assert sorted(s["text"] for s in load) == sorted(ours)
    pairs = [(s["chat_id"], s["text"]) for s in sent]
    assert len(pairs) == len(set(pairs))
    # each person's pushes arrived in order, although two instances sent them
    for chat, messages in expected.items():
        assert [s["text"] for s in load if str(s["chat_id"]) == chat] == messages
    # both instances sent some ...
    counts = [sum(int(n) for n in re.findall(r"outbox: (\d+) sent", log)) for log in logs]
    assert all(c > 0 for c in counts), (counts, logs)
    assert sum(counts) == len(sent)
    # ... and together kept to RATE a second (a token bucket holding 1: at most 1 + RATE x T in
    # any T seconds when the tokens are taken; +1 for the HTTP jitter between taking and arriving)
    times = sorted(s["time"] for s in sent)

    def busiest(window: float) -> int:
        return max(sum(1 for t in times if start <= t < start + window) for start in times)

    assert busiest(1.0) <= RATE + 2, busiest(1.0)
    assert busiest(3.0) <= 3 * RATE + 2, busiest(3.0)
    assert (len(times) - 1) / (times[-1] - times[0]) <= RATE * 1.05
    with duban.sessions() as session:
        pending = session.scalars(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.like("load:%"), OutboxMessage.status != "sent")).all()
    assert pending == []
