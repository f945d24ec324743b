"""Telegram benchmark: updates handled a second, end to end through the fake Bot API.

Two bots long-poll the same fake server (testing/fake_telegram.py, rate limits off), one
after the other, each as its own process:

* python-telegram-bot's echobot example (testing/echobot.py): one reply per text;
* Duban (``python run.py telegram``): a mix of a query (财政收入), a list with buttons
  (/tasks) and a one-line progress update (/update 纳图电气 65% …), each logged in SQLite.

Both get the same number of updates from several users; the time runs from the first push to
the last reply. Duban runs twice: one update at a time and 8 chats at a time (handlers always
in the app's worker threads, bot.workers). Target: Duban >= 80% of the echobot.

    python -m bench.telegram_bench [--updates 300]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from testing.fake_telegram import FakeTelegramAPI

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "123:ABC"
TARGET = 0.80
#: telegram user id -> demo person (bound before the run)
USERS = {2001: "陈主任", 2002: "王干部", 2003: "张主任", 2004: "李组长"}
WARMUP = 30


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}


def _start(args: list[str], ready: str, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                               stderr=log.open("w"), text=True)
    line = process.stdout.readline()
    if ready not in line:
        process.kill()
        raise RuntimeError(f"{args[2:4]} did not start: {line!r}; see {log}")
    return process


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _drive(fake: FakeTelegramAPI, messages: list[tuple[int, str]], replies_each: int = 1) -> float:
    """Push ``messages`` at once; seconds until every one has been answered."""
    start_sent = len(fake.sent)
    started = time.perf_counter()
    for user_id, text in messages:
        fake.push_text(user_id, text)
    fake.wait_for_sent_sync(start_sent + len(messages) * replies_each, timeout=300)
    return time.perf_counter() - started


def duban_messages(n: int, offset: int = 0) -> list[tuple[int, str]]:
    """A query, a list with buttons and a one-line update, round-robin."""
    out = []
    for i in range(offset, offset + n):
        kind = i % 3
        if kind == 0:
            out.append((2001, "财政收入"))
        elif kind == 1:
            out.append((2003, "/tasks"))
        else:
            out.append((2002, f"/update 纳图电气 65% 进展{i}"))
    return out


def echo_messages(n: int) -> list[tuple[int, str]]:
    users = list(USERS)
    return [(users[i % len(users)], f"你好 {i} 👋") for i in range(n)]


def prepare_database(folder: Path) -> Path:
    from sqlalchemy import select

    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app, load_data_files
    from bot.config import load_config
    from bot.models import Person
    from bot.services.people import bind_identity

    db = folder / "duban.sqlite3"
    config = load_config(ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db}"
    config.data.out_dir = str(folder / "out")
    app = build_app(config, FixedClock(parse_now("2025-07-15T09:00")))
    load_data_files(app, [ROOT / "data" / "diaozhuang-2025.yaml", ROOT / "data" / "demo-people.yaml"])
    with app.sessions.begin() as session:
        for user_id, name in USERS.items():
            person = session.scalar(select(Person).where(Person.name == name))
            bind_identity(session, app.clock.now(), person, "telegram", str(user_id), str(user_id), name)
    app.engine.dispose()
    return db


def run_echobot(fake: FakeTelegramAPI, n: int, folder: Path) -> float:
    process = _start([sys.executable, "-m", "testing.echobot", "--base-url", fake.base_url,
                      "--token", TOKEN, "--poll-timeout", "1"], "echobot ready", folder / "echobot.log")
    try:
        _drive(fake, echo_messages(WARMUP))
        return n / _drive(fake, echo_messages(n))
    finally:
        _stop(process)


def run_duban(fake: FakeTelegramAPI, n: int, folder: Path, concurrent: int = 1) -> float:
    sub = folder / f"chats-{concurrent}"
    sub.mkdir(parents=True)
    db = prepare_database(sub)
    config = db.parent / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{db}'}}\n"
        f"data: {{out_dir: '{db.parent / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', poll_timeout: 1,\n"
        f"           max_messages_per_second: 0,\n"
        f"           concurrent_chats: {concurrent}}}\n",
        encoding="utf-8")
    process = _start([sys.executable, "run.py", "--config", str(config), "telegram", "--now", "2025-07-15T09:00"],
                     "telegram bot ready", db.parent / "duban.log")
    try:
        _drive(fake, duban_messages(WARMUP, offset=10_000))
        return n / _drive(fake, duban_messages(n))
    finally:
        _stop(process)


def handlers_only(n: int, folder: Path) -> float:
    """The same mix through ``handlers.handle`` alone, no Telegram: the ceiling for any channel."""
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import load_config
    from bot.messages import Incoming
    from handlers.core import handle

    sub = folder / "handlers-only"
    sub.mkdir(parents=True)
    db = prepare_database(sub)
    config = load_config(ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db}"
    config.data.out_dir = str(sub / "out")
    app = build_app(config, FixedClock(parse_now("2025-07-15T09:00")))

    def one(ref: str, user_id: int, text: str) -> None:
        handle(app, Incoming(channel="telegram", chat_id=str(user_id), user_id=str(user_id), text=text,
                             message_ref=ref))

    for i, (user_id, text) in enumerate(duban_messages(WARMUP, offset=10_000)):
        one(f"w{i}", user_id, text)
    started = time.perf_counter()
    for i, (user_id, text) in enumerate(duban_messages(n)):
        one(f"m{i}", user_id, text)
    elapsed = time.perf_counter() - started
    app.engine.dispose()
    return n / elapsed


VARIANTS = [  # (label, concurrent_chats)
    ("one update at a time", 1),
    ("8 chats at a time (default)", 8),
]


def run(report: Callable[[str], None] = print, updates: int = 300, rounds: int = 2) -> dict:
    """Run the comparison, report lines through ``report``; returns the figures."""
    folder = Path(tempfile.mkdtemp(prefix="duban-tg-bench-"))
    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False).start_in_thread()
    results: dict = {}
    try:
        # rounds interleave the bots so a busy machine slows both alike; the best round counts
        for round_ in range(rounds):
            rate = run_echobot(fake, updates, folder)
            results["echobot"] = max(results.get("echobot", 0.0), rate)
            for label, concurrent in VARIANTS:
                rate = run_duban(fake, updates, folder / f"r{round_}", concurrent)
                results[label] = max(results.get(label, 0.0), rate)
            rate = handlers_only(updates, folder / f"r{round_}")
            results["handlers_only"] = max(results.get("handlers_only", 0.0), rate)
    finally:
        fake.stop()
    echo = results["echobot"]
    report(f"telegram: {updates} updates per bot through the fake Bot API (rate limits off), "
           f"best of {rounds} interleaved rounds")
    report(f"  python-telegram-bot echobot: {echo:7.1f} updates/s")
    report("  Duban (query, list with buttons, one-line update; SQLite):")
    for label, *_ in VARIANTS:
        report(f"    {label:<58} {results[label]:7.1f} updates/s ({results[label] / echo:.0%})")
    report(f"    {'(handlers.handle alone, no Telegram, same mix: the ceiling)':<58} "
           f"{results['handlers_only']:7.1f} updates/s ({results['handlers_only'] / echo:.0%})")
    best_label = max((label for label, *_ in VARIANTS), key=lambda label: results[label])
    ratio = results[best_label] / echo
    results["ratio"] = ratio
    report(f"  ratio Duban/echobot (best: {best_label}): {ratio:.2f} "
           f"(target >= {TARGET:.2f}) {'OK' if ratio >= TARGET else 'BELOW TARGET'}")
    return results


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=300, help="updates per bot (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds, best counts (default 2)")
    args = parser.parse_args(argv)
    result = run(print, args.updates, args.rounds)
    return 0 if result["ratio"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
