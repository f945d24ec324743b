"""``python run.py remind``: run the reminder tick at a moment and print what it would send.

    python run.py remind --now 2025-12-26T09:00            dry run on the configured database
    python run.py remind --now 2025-12-26T09:00 --send     record them in the outbox (the
                                                           running bot delivers them)
    python run.py remind --demo --now 2025-12-26T09:00     on a throwaway copy of the demo data
    python run.py remind --demo --now 2025-12-01T00:00 --until 2025-12-31T23:59
                                                           simulate a month, count per week
"""
from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import select

from bot.clock import FixedClock, parse_now
from bot.composition import build_app, load_data_files
from bot.config import Config
from bot.models import OutboxMessage, Person
from bot.notify import NotifierRouter
from cli.demo import demo_config
from jobs.outbox import ReminderRunner


def add_parser(sub) -> None:
    parser = sub.add_parser("remind", help="提醒:算出某时刻到点的提醒 run one reminder tick",
                            description="算出某时刻到点的提醒和摘要并打印;默认只演算不记录。")
    parser.add_argument("--now", required=True, help="时刻 the moment, e.g. 2025-12-26T09:00")
    parser.add_argument("--send", action="store_true",
                        help="写入发件箱,由运行中的机器人发送 record them in the outbox")
    parser.add_argument("--demo", action="store_true", help="用演示数据的临时数据库 throwaway demo database")
    parser.add_argument("--until", help="模拟到此时刻并按周统计 simulate up to this moment (with --demo)")
    parser.add_argument("--step", type=int, default=30, help="模拟步长(分钟) simulation step in minutes")
    parser.set_defaults(handler=cmd_remind)


def _names(app) -> dict[int, str]:
    with app.sessions() as session:
        return dict(session.execute(select(Person.id, Person.name)).all())


def cmd_remind(config: Config, args) -> int:
    clock = FixedClock(parse_now(args.now))
    if args.demo:
        config = demo_config(config)
    app = build_app(config, clock)
    if args.demo:
        load_data_files(app, [config.resolve(config.data.dataset), config.resolve(config.data.demo_people)])
    if args.until:
        if not args.demo:
            print("--until 只能和 --demo 一起用 (simulation needs --demo)")
            return 2
        return _simulate(app, clock, parse_now(args.until), args.step)
    runner = ReminderRunner(app, NotifierRouter(), worker="cli")
    dues = runner.tick(record=args.send)
    names = _names(app)
    verb = "已写入发件箱" if args.send else "将发送(演算,未记录)"
    print(f"{clock.now():%Y-%m-%d %H:%M} {verb}:{len(dues)}条")
    for due in dues:
        first = due.text.splitlines()[0] if due.text else ""
        late = "(补发)" if due.late else ""
        who = names.get(due.person_id, due.person_id) if due.person_id is not None else "专班群机器人"
        print(f"· {due.due_at:%m-%d %H:%M} {due.kind:<10} → {who}{late} {first}")
    return 0


class _Counting:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, chat_id: str, reply, max_wait=None) -> None:
        self.sent.append((chat_id, reply.text))


def _simulate(app, clock: FixedClock, until, step_minutes: int) -> int:
    """Step the clock, tick and deliver each step; print pushes per ISO week and kind."""
    router = NotifierRouter()
    router.register("console", _Counting())
    runner = ReminderRunner(app, router, worker="simulate")
    per_week: dict[str, Counter] = defaultdict(Counter)
    names = _names(app)
    step = timedelta(minutes=step_minutes)
    lines = []

    async def run() -> None:
        while clock.now() <= until:
            runner.tick()
            report = await runner.deliver_all()
            if report.sent:
                with app.sessions() as session:
                    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(report.sent))
                                           .order_by(OutboxMessage.id)).all()
                    for row in rows:
                        year, week, _ = row.sent_at.isocalendar()
                        per_week[f"{year}-W{week:02d}"][row.kind] += 1
                        first = (row.payload or {}).get("text", "").splitlines()[0]
                        lines.append(f"{row.sent_at:%m-%d %a %H:%M} {row.kind:<10} → "
                                     f"{names.get(row.person_id)} {first}")
            clock.advance(step)

    asyncio.run(run())
    print("\n".join(lines))
    print("\n每周推送数 pushes per ISO week:")
    total = 0
    for week in sorted(per_week):
        counts = per_week[week]
        total += sum(counts.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"{week}: {sum(counts.values())} ({detail})")
    print(f"合计 total: {total}")
    return 0
