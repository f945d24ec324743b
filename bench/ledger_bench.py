"""Benchmark: export a ledger of 10,000 tasks, re-import it, render charts.

    python -m bench.ledger_bench [--tasks 10000]

Builds a throwaway SQLite database with the report's data plus generated tasks (each with a
progress update and a note), then times the export (streamed, batched), the validation of a
re-import of that file (which must change nothing), an indicator chart and the weekly brief
picture. Prints one line per figure; peak memory is the process's maximum resident size.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder: Path, count: int):
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app, load_data_files
    from bot.config import PROJECT_ROOT, load_config
    from bot.models import Person, Task, TaskUpdate, Team

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
        categories = ["重点项目", "招商引资", "民生实事", "城市建设", "社会治理"]
        rows = []
        for i in range(count):
            deadline = date(2025, 7, 1) + timedelta(days=i % 300)
            rows.append(dict(
                key=f"bench_{i:05d}", name=f"测试事项{i:05d}号道路改造提升工程", aliases=[], search_keys=[],
                category=categories[i % 5], team_id=teams[i % len(teams)], owner_id=people[i % len(people)],
                lead_unit=None if i % 3 else "城建办", start_date=date(2025, 1, 1), deadline=deadline,
                status="active", progress=float(i % 100), last_update_at=now, last_activity_at=now,
                created_at=now, stale_on=date(2025, 7, 29),
                behind_red_on=date(2025, 1, 1) + timedelta(days=(i % 100 + 30) * 3),
                behind_yellow_on=date(2025, 1, 1) + timedelta(days=(i % 100 + 10) * 3),
                due_soon_on=deadline - timedelta(days=3)))
        s.execute(insert(Task), rows)
        ids = dict(s.execute(select(Task.key, Task.id).where(Task.key.like("bench_%"))).all())
        s.execute(insert(TaskUpdate), [dict(
            task_id=ids[r["key"]], author_id=people[0], created_at=now, progress=r["progress"],
            note=f"第{n}周:完成路基施工,正在铺设管网,预计下月完成面层", channel="bench")
            for n, r in enumerate(rows)])
        total = s.scalar(select(func.count(Task.id)))
    return app, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args(argv)
    from bot.models import Indicator, Person
    from bot.services import charts, ledger_export, ledger_import, reports

    folder = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    started = time.perf_counter()
    app, total = build(folder, args.tasks)
    print(f"setup: {total} tasks in {time.perf_counter() - started:.1f} s")
    rss_before = _rss_mb()

    path = folder / "ledger.xlsx"
    with app.sessions() as s:
        started = time.perf_counter()
        result = ledger_export.export_ledger(s, app.clock.now(), path, None)
        export_s = time.perf_counter() - started
    print(f"export: {result.tasks} tasks + {result.indicators} indicator rows in {export_s:.2f} s, "
          f"{path.stat().st_size / 1024:.0f} KiB, max RSS {rss_before:.0f} -> {_rss_mb():.0f} MB")

    with app.sessions() as s:
        admin = s.scalar(select(Person).where(Person.is_admin.is_(True)))
        started = time.perf_counter()
        report = ledger_import.import_ledger(s, app.clock.now(), admin, path, app.config.lights,
                                             limits=app.config.ledger)
        import_s = time.perf_counter() - started
        s.rollback()
    print(f"re-import check: {report.task_rows} task rows in {import_s:.2f} s, "
          f"{len(report.changes)} changes, {len(report.bad_rows)} bad rows")

    with app.sessions() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "industrial_output"))
        charts.indicator_chart(s, indicator, folder / "warm.png")  # font lookup, imports
        times = []
        for n in range(5):
            started = time.perf_counter()
            charts.indicator_chart(s, indicator, folder / f"chart{n}.png")
            times.append(time.perf_counter() - started)
        print(f"chart: {min(times) * 1000:.0f} ms best, {max(times) * 1000:.0f} ms worst of 5 (after warm-up)")
        started = time.perf_counter()
        brief = reports.weekly_brief(s, app.clock.now(), app.config)
        data_s = time.perf_counter() - started
        started = time.perf_counter()
        charts.render_brief(brief, folder / "brief.png")
        print(f"brief: data {data_s * 1000:.0f} ms, picture {(time.perf_counter() - started) * 1000:.0f} ms "
              f"({len(brief.turned_red)} turned red, {len(brief.due_next)} due)")
    app.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
