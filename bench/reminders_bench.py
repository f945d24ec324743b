"""Reminder benchmark: ``python -m bench.reminders_bench`` (``main()``).

1. Computing what is due at one moment for 100,000 tasks (SQLite file; target < 1 s):
   ``due_reminders`` at a Wednesday 09:00 and at a Friday 09:00 (the stale-nudge day), and
   the whole tick (compute + INSERT .. ON CONFLICT DO NOTHING into the outbox).
2. Delivering 1,000 reminders to 1,000 Telegram chats through the fake Telegram server
   (testing/fake_telegram.py, with Telegram's flood limits) through the real path: the
   channel's ``TelegramNotifier`` on an ``ExtBot`` with the bot's own ``rate_limiter``
   (config ``telegram.max_messages_per_second``: one message every 1/(30-0.5) s);
   target: within 10 % of the 30-a-second limit
   (1000/30 ≈ 33.3 s, so ≤ ~36.7 s), no 429 answers, none lost.

``--quick`` runs 10,000 tasks and 100 messages (a smoke run).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time as wall
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bot.clock import FixedClock, parse_now
from bot.composition import build_app
from bot.config import PROJECT_ROOT, load_config
from bot.models import ChatIdentity, Milestone, OutboxMessage, Person, Task, Team
from bot.notify import NotifierRouter
from bot.services import outbox_store, reminder_rules
from jobs.outbox import ReminderRunner

TEAMS = 100
PEOPLE = 1000


def _app(folder: Path, now: str):
    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{folder / 'bench.sqlite3'}"
    config.data.out_dir = str(folder / "out")
    return build_app(config, FixedClock(parse_now(now)))


def populate(app, tasks: int, seed: int = 7) -> None:
    """Teams with a lead each, cadres, and ``tasks`` tasks with deadlines over two years."""
    rng = random.Random(seed)
    now = app.clock.now()
    with app.sessions.begin() as session:
        session.execute(insert(Team), [dict(id=t + 1, code=f"t{t}", name=f"专班{t}", kind="", leader_id=None)
                                       for t in range(TEAMS)])
        people = [dict(id=p + 1, name=f"干部{p}", role="team_lead" if p < TEAMS else "cadre",
                       is_admin=p == 0, team_id=(p % TEAMS) + 1, active=True, created_at=now)
                  for p in range(PEOPLE)]
        session.execute(insert(Person), people)
        base = date(2025, 1, 1)
        rows = []
        for i in range(tasks):
            deadline = base + timedelta(days=rng.randrange(730)) if rng.random() < 0.8 else None
            # most tasks are reported on within a week; one in ten has been quiet for weeks
            quiet_days = rng.randrange(7) if rng.random() < 0.9 else rng.randrange(7, 60)
            last = now - timedelta(days=quiet_days, hours=rng.randrange(24))
            status = "active" if rng.random() < 0.85 else rng.choice(["done", "paused"])
            rows.append(dict(key=f"k{i}", name=f"事项{i}", aliases=[], search_keys=[], category="重点项目",
                             team_id=rng.randrange(TEAMS) + 1,
                             owner_id=rng.randrange(TEAMS, PEOPLE) + 1 if rng.random() < 0.7 else None,
                             start_date=date(2025, 1, 1), deadline=deadline, status=status,
                             progress=rng.choice([None, 10.0, 50.0, 80.0]),
                             last_activity_at=last, created_at=now,
                             due_soon_on=deadline - timedelta(days=3) if deadline else None,
                             stale_on=(last + timedelta(days=14)).date()))
        for i in range(0, len(rows), 5000):
            session.execute(insert(Task), rows[i:i + 5000])
        ms = [dict(task_id=rng.randrange(tasks) + 1, name="节点", due=base + timedelta(days=rng.randrange(730)),
                   sort_order=1) for _ in range(tasks // 10)]
        session.execute(insert(Milestone), ms)


def bench_compute(tasks: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    app = _app(folder, "2025-12-12T08:00")  # data as of Friday morning
    t0 = wall.perf_counter()
    populate(app, tasks)
    print(f"  populated {tasks:,} tasks in {wall.perf_counter() - t0:.1f} s")
    calendar = reminder_rules.make_calendar(app.config)
    results = {}
    for label, moment in (("Wed 2025-12-10 09:00", "2025-12-10T09:00"),
                          ("Fri 2025-12-12 09:00", "2025-12-12T09:00")):
        now = parse_now(moment)
        best = float("inf")
        for _ in range(3):
            with app.sessions() as session:
                start = wall.perf_counter()
                dues = reminder_rules.due_reminders(session, now, app.config, calendar)
                best = min(best, wall.perf_counter() - start)
        kinds: dict[str, int] = {}
        for d in dues:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        print(f"  due_reminders at {label}: {len(dues):,} due {kinds} in {best * 1000:.0f} ms")
        results[f"compute {label}"] = best
    app.clock.set(parse_now("2025-12-12T09:00"))
    runner = ReminderRunner(app, NotifierRouter(), worker="bench")
    start = wall.perf_counter()
    new = runner.tick()
    first = wall.perf_counter() - start
    start = wall.perf_counter()
    again = runner.tick()
    second = wall.perf_counter() - start
    print(f"  full tick (compute + digests + outbox insert): {len(new):,} recorded in {first:.2f} s; "
          f"repeat tick {len(again)} new in {second:.2f} s")
    results["tick first"] = first
    results["tick repeat"] = second
    app.engine.dispose()
    return results


# ---------------------------------------------------------------- delivery through the fake Telegram

async def _deliver(messages: int) -> dict[str, float]:
    from telegram.ext import ExtBot
    from telegram.request import HTTPXRequest

    from channels.telegram.bot import overall_pace, rate_limiter
    from channels.telegram.notifier import TelegramNotifier
    from testing.fake_telegram import FakeTelegramAPI

    folder = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    app = _app(folder, "2025-12-10T10:00")
    now = app.clock.now()
    with app.sessions.begin() as session:
        session.execute(insert(Person), [dict(id=p + 1, name=f"收件人{p}", role="cadre", is_admin=False,
                                              active=True, created_at=now) for p in range(messages)])
        session.execute(insert(ChatIdentity), [dict(person_id=p + 1, channel="telegram",
                                                    external_user_id=str(500_000 + p), chat_id=str(500_000 + p),
                                                    bound_at=now) for p in range(messages)])
        dues = [reminder_rules.Due(f"bench:{p}", "deadline", p + 1, now, f"⏰ 到期提醒:今天到期\n📌 事项{p}")
                for p in range(messages)]
        outbox_store.enqueue(session, dues, now)
    async with FakeTelegramAPI(token="123:ABC") as fake:
        bot = ExtBot(fake.token, base_url=f"{fake.base_url}/bot",
                     request=HTTPXRequest(connection_pool_size=16, pool_timeout=60),
                     rate_limiter=rate_limiter(app.config.telegram))
        await bot.initialize()
        router = NotifierRouter()
        router.register("telegram", TelegramNotifier(bot))
        runner = ReminderRunner(app, router, worker="bench", concurrency=30)
        start = wall.perf_counter()
        report = await runner.deliver_all(limit=messages)
        while True:  # retries (if any) go out when due: move the clock to the next one
            with app.sessions() as session:
                pending = session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                         .where(OutboxMessage.status == "pending"))
            if pending is None:
                break
            await asyncio.sleep(max(0.0, (pending - app.clock.now()).total_seconds()))
            app.clock.set(pending)
            report = report + await runner.deliver_all(limit=messages)
        elapsed = wall.perf_counter() - start
        await bot.shutdown()
        with app.sessions() as session:
            sent = session.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status == "sent"))
        delivered = len(fake.sent)
        rejected = fake.rejected_429
    ideal = messages / 30
    pace = overall_pace(app.config.telegram.max_messages_per_second)
    print(f"  delivered {delivered}/{messages} to {messages} chats in {elapsed:.1f} s, paced at {pace:g}/s "
          f"(30/s limit allows {ideal:.1f} s; +10% = {ideal * 1.1:.1f} s); 429 answers: {rejected}; "
          f"outbox sent: {sent}; retries: {len(report.retried)}")
    app.engine.dispose()
    return {"deliver seconds": elapsed, "delivered": delivered, "429": rejected, "outbox sent": sent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders_bench")
    parser.add_argument("--quick", action="store_true", help="10,000 tasks and 100 messages")
    parser.add_argument("--skip-delivery", action="store_true")
    args = parser.parse_args(argv)
    tasks, messages = (10_000, 100) if args.quick else (100_000, 1_000)
    print(f"1. reminders due at one moment, {tasks:,} tasks (target < 1 s)")
    compute = bench_compute(tasks)
    ok = all(v < 1.0 for k, v in compute.items() if k.startswith("compute"))
    if not args.skip_delivery:
        print(f"2. delivering {messages:,} reminders to {messages:,} chats via the fake Telegram API")
        result = asyncio.run(_deliver(messages))
        ok = ok and result["429"] == 0 and result["delivered"] == messages \
            and result["deliver seconds"] <= messages / 30 * 1.1 + 0.5
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
