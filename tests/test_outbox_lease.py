"""A claim never outlives its send: two ``python run.py telegram`` processes on one PostgreSQL
database deliver the same outbox while the fake Bot API asks some chats to wait (429
``retry_after``) longer than the lease (``reminders.claim_seconds``). Every recipient gets
each message exactly once, and none is lost."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.clock import FixedClock, parse_now
from bot.composition import build_app
from bot.config import PROJECT_ROOT, load_config
from bot.models import OutboxMessage, Person
from bot.notify import NotifierRouter, WaitExceedsLease
from bot.services import outbox_store
from bot.services.people import bind_identity
from jobs.outbox import ReminderRunner
from testing.fake_telegram import FakeTelegramAPI
from tests.conftest import fresh_pg_database, pg_unavailable

TOKEN = "123:ABC"
NOW = "2025-12-26T09:05"
CLAIM_SECONDS = 10
RETRY_AFTER = 16  # longer than the lease


def start_bot(config, env, now: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "run.py", "--config", str(config), "telegram", "--now", now],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    line = process.stdout.readline()
    assert "telegram bot ready" in line, line + process.stderr.read()
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.postgres
def test_two_processes_send_each_push_once_when_telegram_asks_to_wait_past_the_lease(tmp_path):
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    url = fresh_pg_database(f"duban_lease_{os.getpid()}")
    fake = FakeTelegramAPI(token=TOKEN, rate_limits=False, conflict_on_concurrent_poll=False).start_in_thread()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        f"data: {{out_dir: '{tmp_path / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', poll_timeout: 1}}\n"
        f"reminders: {{tick_seconds: 1, deliver_seconds: 1, claim_seconds: {CLAIM_SECONDS}}}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    subprocess.run([sys.executable, "run.py", "--config", str(config), "import", "data/diaozhuang-2025.yaml",
                    "data/demo-people.yaml"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)

    # everyone bound to a Telegram chat, and one direct message each (besides the day's reminders)
    duban = build_app(load_config(config, environ={}), FixedClock(parse_now(NOW)))
    chats: dict[str, int] = {}
    with duban.sessions.begin() as session:
        now = duban.clock.now()
        for index, person in enumerate(session.scalars(select(Person).where(Person.active.is_(True))
                                                      .order_by(Person.id))):
            chats[person.name] = 5000 + index
            bind_identity(session, now, person, "telegram", str(5000 + index), str(5000 + index), person.name)
            outbox_store.push(session, now, f"lease-test:{person.id}", "admin", person.id, f"租约测试:{person.name}")
    duban.engine.dispose()
    assert len(chats) >= 5
    # Telegram asks three chats to wait 16 s (lease: 10 s) before their first message
    slow = [chats["李组长"], chats["王干部"], chats["陈主任"]]
    for chat_id in slow:
        fake.flood(chat_id, RETRY_AFTER)

    # A starts alone, claims everything and meets the 429s; then B starts, its clock set to A's
    started = time.monotonic()
    processes = [start_bot(config, env, NOW)]
    try:
        fake.wait_for_rejected_sync(1, timeout=30)
        later = parse_now(NOW) + timedelta(seconds=time.monotonic() - started)
        processes.append(start_bot(config, env, later.replace(tzinfo=None).isoformat(timespec="seconds")))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with duban.sessions() as session:
                rows = session.scalars(select(OutboxMessage)).all()
            if len(rows) >= len(chats) and all(r.status == "sent" for r in rows):
                break
            time.sleep(0.5)
        time.sleep(RETRY_AFTER / 2)  # a process still sleeping on its 429 would send its copy now
    finally:
        for process in processes:
            stop(process)
        fake.stop()

    with duban.sessions() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        owners = {p.id: p.name for p in session.scalars(select(Person))}
    duban.engine.dispose()
    assert sorted(r.status for r in rows) == ["sent"] * len(rows)
    assert len(rows) > len(chats)  # the day's digests and deadline reminders went out too
    sent = Counter((s["chat_id"], s["text"]) for s in fake.sent)
    assert [key for key, count in sent.items() if count > 1] == []  # 0 duplicates
    for name, chat_id in chats.items():
        assert sent[(chat_id, f"租约测试:{name}")] == 1, name
    # every row reached its person's chat (none lost): one message per row, per chat
    per_chat = Counter(chats[owners[r.person_id]] for r in rows)
    assert Counter(chat_id for chat_id, _ in sent.elements()) == per_chat
    # and the slow chats really were asked to wait past the lease
    assert {r["chat_id"] for r in fake.rejected} == set(slow)
    assert max(r["retry_after"] for r in fake.rejected) == RETRY_AFTER


# ---------------------------------------------------------------- the same rules in one process (SQLite)

class Transport:
    """A console notifier that records ``max_wait`` and can act during a send."""

    def __init__(self, during=None) -> None:
        self.sent: list[str] = []
        self.max_waits: list[float] = []
        self.during = during

    async def send(self, chat_id, reply, max_wait=None) -> None:
        self.max_waits.append(max_wait)
        if self.during is not None:
            self.during()
        self.sent.append(reply.text)


def one_push(app, text: str = "租约测试") -> int:
    with app.sessions.begin() as session:
        person = session.scalar(select(Person).where(Person.name == "王干部"))
        outbox_store.push(session, app.clock.now(), "lease-unit", "admin", person.id, text)
        return session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == "lease-unit"))


def runner_with(app, transport) -> ReminderRunner:
    router = NotifierRouter()
    router.register("console", transport)
    return ReminderRunner(app, router, worker="unit")


def test_a_wait_past_the_lease_releases_the_row_without_counting_an_attempt(sqlite_app):
    app = sqlite_app
    row_id = one_push(app)
    transport = Transport()

    def refuse() -> None:
        transport.during = None
        raise WaitExceedsLease("telegram flood control", retry_after=300)

    transport.during = refuse
    runner = runner_with(app, transport)
    report = asyncio.run(runner.deliver())
    assert report.postponed == [row_id] and transport.sent == []
    # the notifier may wait only while the lease lasts, less the margin
    assert transport.max_waits == [app.config.reminders.claim_seconds - runner.lease_margin()]
    with app.sessions() as session:
        row = session.get(OutboxMessage, row_id)
        assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, None)
        assert row.next_attempt_at == app.clock.now() + timedelta(seconds=300)
    assert asyncio.run(runner.deliver()).handled == 0  # not before retry_after
    app.clock.advance(timedelta(seconds=301))
    assert asyncio.run(runner.deliver()).sent == [row_id]
    assert transport.sent == ["租约测试"]


def test_an_outcome_after_the_claim_was_lost_is_not_counted(sqlite_app):
    app = sqlite_app
    row_id = one_push(app)

    def steal() -> None:  # the lease ran out and another worker claimed the row meanwhile
        with app.sessions.begin() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                            .values(claimed_by="other:1"))

    runner = runner_with(app, Transport(during=steal))
    report = asyncio.run(runner.deliver())
    assert report.sent == [] and report.skipped == [row_id]
    with app.sessions() as session:
        row = session.get(OutboxMessage, row_id)
        assert (row.status, row.claimed_by, row.sent_at) == ("pending", "other:1", None)


def test_a_row_claimed_by_another_worker_is_not_sent_after_a_long_queue(sqlite_app):
    app = sqlite_app
    row_id = one_push(app)
    transport = Transport()
    runner = runner_with(app, transport)
    token, ids = runner.claim(app.clock.now())
    assert ids == [row_id]
    # its lease ran out while it queued; another worker took the row
    with app.sessions.begin() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(claimed_by="other:1"))
    assert runner.renew(token, row_id) is None
    with app.sessions.begin() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(claimed_by=token))
    assert runner.renew(token, row_id) == app.clock.now() + timedelta(seconds=app.config.reminders.claim_seconds)
