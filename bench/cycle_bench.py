"""Benchmark: the timeline (时间轴) of a task with 500 entries among 20,000 cycle events.

    python -m bench.cycle_bench [--events 20000] [--runs 300]

Builds a throwaway SQLite database with the report's data, 2,000 generated tasks, 20,000
task events (批示/催办/审核 ...) spread over them, and one task with 250 events and 250
updates. Times ``timeline_page`` for that task (page 1 and the last page), the whole
``/timeline`` message through ``handlers.handle``, and its task card (with an open 批示).
Prints the median and p99 in milliseconds; the target is < 10 ms for the timeline.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from bot.clock import FixedClock, parse_now
from bot.composition import build_app, load_data_files
from bot.config import PROJECT_ROOT, load_config
from bot.messages import Incoming
from bot.models import Instruction, Person, Task, TaskEvent, TaskUpdate, Team
from bot.services.timeline import timeline_page
from channels.console import pick_person
from handlers.core import handle

KINDS = ["instruct", "feedback", "urge", "edit", "review", "sign"]


def build(folder: Path, events: int):
    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{folder / 'bench.sqlite3'}"
    config.data.out_dir = str(folder / "out")
    app = build_app(config, FixedClock(parse_now("2025-07-15T09:00")))
    load_data_files(app, [PROJECT_ROOT / "data" / "diaozhuang-2025.yaml",
                          PROJECT_ROOT / "data" / "demo-people.yaml"])
    now = app.clock.now()
    with app.sessions.begin() as s:
        teams = list(s.scalars(select(Team.id)))
        people = list(s.scalars(select(Person.id)))
        s.execute(insert(Task), [dict(
            key=f"cy_{i:05d}", name=f"周期事项{i:05d}", aliases=[], search_keys=[], category="交办事项",
            team_id=teams[i % len(teams)], owner_id=people[i % len(people)], start_date=date(2025, 1, 1),
            deadline=date(2025, 12, 31), status="active", last_activity_at=now, created_at=now,
            stale_on=date(2025, 7, 29), urge_count=0, extension_count=0) for i in range(2000)])
        ids = list(s.scalars(select(Task.id).where(Task.key.like("cy_%"))))
        s.execute(insert(TaskEvent), [dict(
            task_id=ids[i % len(ids)], kind=KINDS[i % len(KINDS)], actor_id=people[i % len(people)],
            text=f"第{i}条记录:请加快推进", data={}, created_at=now - timedelta(minutes=i)) for i in range(events)])
        target = s.scalar(select(Task).where(Task.key == "natu_electric"))
        s.execute(insert(TaskEvent), [dict(
            task_id=target.id, kind=KINDS[i % len(KINDS)], actor_id=people[i % len(people)],
            text=f"第{i}条:请加快推进", data={}, created_at=now - timedelta(hours=i)) for i in range(250)])
        s.execute(insert(TaskUpdate), [dict(
            task_id=target.id, author_id=people[0], created_at=now - timedelta(hours=i, minutes=30),
            progress=float(i % 100), note="完成路基施工,正在铺设管网", channel="bench") for i in range(250)])
        s.add(Instruction(task_id=target.id, leader_id=people[0], text="抓紧推进", created_at=now))
        return app, target.id


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="duban-cycle-bench-"))
    app, task_id = build(folder, args.events)
    person = pick_person(app, "张主任")
    with app.sessions() as s:
        task = s.get(Task, task_id)
        for label, page in (("timeline page 1 (500 entries)", 1), ("timeline last page", 63)):
            median, p99 = timed(lambda page=page: timeline_page(s, task, page, 8), args.runs)
            print(f"{label}: median {median:.2f} ms, p99 {p99:.2f} ms")

    def message(text):
        return lambda: handle(app, Incoming(channel="console", chat_id=person.name, user_id=person.name,
                                            text=text, user_name=person.name))

    for label, text in (("/timeline message", "/timeline 纳图电气"), ("task card with 批示", "纳图电气")):
        message(text)()  # warm the name index
        median, p99 = timed(message(text), args.runs)
        print(f"{label}: median {median:.2f} ms, p99 {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
