"""Core benchmark: a synthetic office of 10,000 tasks, 500 indicators and 100,000 updates.

Prints answer latency through the handlers for 1,000 mixed queries and list commands (p50,
p99), logged updates a second (each committed before its reply), start-up time from launch
to the first answer, and peak memory. Run: ``python -m bench.core_bench`` (or ``python -m bench``).
"""
from __future__ import annotations

import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

TASKS = 10_000
INDICATORS = 500
UPDATES = 100_000
QUERIES = 1_000
LOGGED_UPDATES = 1_000
NOW = "2025-07-15T09:00"

CATEGORIES = ["重点项目", "招商引资", "下半年目标", "民生实事", "城市建设", "社会治理"]
PLACES = ["雕庄", "凤凰", "采菱", "前浪", "柏树", "中村", "运河", "新城", "丽华", "青龙"]
THINGS = ["电气", "新材料", "制药", "物流园", "商业中心", "科创园", "河道整治", "社区食堂",
          "智能工厂", "产业园", "文创馆", "停车场", "绿道", "幼儿园", "公园"]


def _name(i: int) -> str:
    return f"{PLACES[i % len(PLACES)]}{THINGS[(i // len(PLACES)) % len(THINGS)]}{i}号"


def generate(db_path: str) -> None:
    """Build the synthetic office in a SQLite file (in a child process: not measured)."""
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app, load_data_files
    from bot.config import PROJECT_ROOT, load_config
    from bot.models import Indicator, IndicatorValue, Task, TaskUpdate, Team
    from bot.services.lookup import bump_names_version, search_keys_for
    from bot.services.tasks import refresh_light_dates

    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db_path}"
    clock = FixedClock(parse_now(NOW))
    app = build_app(config, clock)
    load_data_files(app, [PROJECT_ROOT / "data/diaozhuang-2025.yaml", PROJECT_ROOT / "data/demo-people.yaml"])
    rng = random.Random(7)
    now = clock.now()
    with app.sessions.begin() as session:
        # 30 teams in all (the ranking's target is stated for 30 teams)
        existing_teams = session.scalar(select(func.count()).select_from(Team))
        session.execute(insert(Team), [dict(code=f"bench{i}", name=f"基准专班{i}", kind="")
                                       for i in range(30 - existing_teams)])
        team_ids = [t for (t,) in session.execute(select(Team.id))]
        existing = session.scalar(select(func.count()).select_from(Indicator))
        rows = []
        for i in range(INDICATORS - existing):
            name = f"{PLACES[i % 10]}指标{i}"
            rows.append(dict(key=f"synthetic_{i}", name=name, aliases=[], search_keys=search_keys_for(name, []),
                             category=CATEGORIES[i % 6], unit="万元", sort_order=1000 + i, updated_at=now))
        session.execute(insert(Indicator), rows)
        ids = [i for (i,) in session.execute(select(Indicator.id).where(Indicator.key.like("synthetic_%")))]
        session.execute(insert(IndicatorValue), [
            dict(indicator_id=i, period_label="2025年1-6月", period_start=date(2025, 1, 1),
                 period_end=date(2025, 6, 30), value=rng.uniform(1, 100), yoy_pct=rng.uniform(-10, 20),
                 source="合成数据", recorded_at=now) for i in ids])
        existing_tasks = session.scalar(select(func.count()).select_from(Task))
        task_rows = []
        for i in range(TASKS - existing_tasks):
            name = _name(i)
            task = Task(key=f"t{i}", name=name, aliases=[], search_keys=search_keys_for(name, []),
                        category=CATEGORIES[i % 6], team_id=rng.choice(team_ids), status="active",
                        progress=rng.choice([None, round(rng.uniform(0, 50))]),
                        start_date=date(2025, 1, 1),
                        deadline=date(2025, 7, 1) + timedelta(days=rng.randint(-60, 200)),
                        last_activity_at=now - timedelta(days=rng.randint(0, 30)), created_at=now)
            refresh_light_dates(task, config.lights)
            task_rows.append({c: getattr(task, c) for c in (
                "key", "name", "aliases", "search_keys", "category", "team_id", "status", "progress",
                "start_date", "deadline", "last_activity_at", "created_at", "behind_yellow_on",
                "behind_red_on", "due_soon_on", "stale_on")})
        session.execute(insert(Task), task_rows)
        task_ids = [t for (t,) in session.execute(select(Task.id))]
        for start in range(0, UPDATES, 20_000):
            session.execute(insert(TaskUpdate), [
                dict(task_id=rng.choice(task_ids), author_id=1, progress=rng.uniform(0, 100),
                     note="合成进展", created_at=now - timedelta(minutes=rng.randint(1, 200_000)))
                for _ in range(start, min(UPDATES, start + 20_000))])
        bump_names_version(session)
    app.engine.dispose()


def percentile(values: list[float], pct: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


def measure(db_path: str, run: int = 0) -> dict[str, float]:
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import PROJECT_ROOT, load_config
    from bot.messages import Incoming
    from bot.services import ranking
    from channels.console import pick_person
    from handlers.core import handle

    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db_path}"
    config.data.out_dir = str(Path(db_path).parent / "out")
    app = build_app(config, FixedClock(parse_now(NOW)))
    person = pick_person(app, None)
    rng = random.Random(11)
    questions = ["财政收入多少", "社零", "固投", "外贸", "纳图电气进展", "规上产值", "纳图电器",
                 "/tasks overdue", "/tasks red", "/due 7", "/tasks 项目一专班", "/kpi 经济运行",
                 "/tasks mine", "sl", "纠纷"]
    mixed = [rng.choice(questions) if rng.random() < 0.6 else rng.choice([_name(rng.randrange(9000)),
             f"/task {_name(rng.randrange(9000))}", f"{PLACES[rng.randrange(10)]}指标{rng.randrange(400)}"])
             for _ in range(QUERIES)]

    def ask(text: str, ref=None):
        return handle(app, Incoming(channel="console", chat_id=person.name, user_id=person.name,
                                    text=text, message_ref=ref))

    for text in questions:  # warm the name index and caches once
        ask(text)
    latencies = []
    for text in mixed:
        start = time.perf_counter()
        replies = ask(text)
        latencies.append((time.perf_counter() - start) * 1000)
        assert replies and replies[0].text, text
    start = time.perf_counter()
    for i in range(LOGGED_UPDATES):
        replies = ask(f"/update {_name(i)} {51 + i % 48}% 合成进展", ref=f"bench:{run}:{i}")
        assert replies[0].text.startswith("✅"), replies[0].text
    update_rate = LOGGED_UPDATES / (time.perf_counter() - start)
    rank_runs = []  # the 专班 ranking: 30 teams, 10k tasks, 100k updates
    for _ in range(5):
        with app.sessions() as session:
            start = time.perf_counter()
            ranking.compute_fresh(session, app.clock.now(), app.config.ranking)  # not the cached one
            rank_runs.append((time.perf_counter() - start) * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    app.engine.dispose()
    return {"p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99),
            "updates_per_s": update_rate, "peak_mb": peak_mb, "rank_ms": statistics.median(rank_runs)}


def startup_seconds(db_path: str) -> float:
    """Launch the console on the big database and wait for the first answer."""
    from bot.config import PROJECT_ROOT

    config = Path(db_path).parent / "config.yaml"
    config.write_text(f"database:\n  url: sqlite:///{db_path}\n", encoding="utf-8")
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "run.py", "--config", str(config), "console", "--now", NOW],
                                input="财政收入多少\n", capture_output=True, text=True, cwd=PROJECT_ROOT)
        runs.append(time.perf_counter() - start)
        assert "3.5亿元" in result.stdout, result.stdout + result.stderr
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    db_path = str(folder / "bench.sqlite3")
    print(f"core: building a synthetic office ({TASKS} tasks, {INDICATORS} indicators, {UPDATES} updates)…", flush=True)
    start = time.perf_counter()
    process = multiprocessing.get_context("spawn").Process(target=generate, args=(db_path,))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit("data generation failed")
    print(f"core: built in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"core: load average at start {os.getloadavg()[0]:.2f}", flush=True)
    runs = [measure(db_path, run) for run in range(3)]  # one app per run, the same database
    result = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    result["startup_s"] = startup_seconds(db_path)

    def spread(key: str, fmt: str) -> str:
        values = sorted(r[key] for r in runs)
        return f"median {values[1]:{fmt}} (min {values[0]:{fmt}}, max {values[2]:{fmt}})"
    print(f"core: {QUERIES} mixed queries and lists, 3 runs: p50 {spread('p50_ms', '.2f')} ms, "
          f"p99 {spread('p99_ms', '.2f')} ms (target p99 < 5 ms)")
    print(f"core: logged updates, each committed (SQLite synchronous=FULL): {spread('updates_per_s', '.0f')} "
          f"per second (target ≥ 1000)")
    print(f"core: start-up to first answer (run.py console, median of 3): {result['startup_s']:.2f} s "
          f"(target < 1.5 s)")
    print(f"core: 专班 ranking (30 teams, computed afresh): {spread('rank_ms', '.1f')} ms (target < 50 ms)")
    print(f"core: peak memory of the answering process: {max(r['peak_mb'] for r in runs):.0f} MB (target < 150 MB)")
    print(f"core: load average at end {os.getloadavg()[0]:.2f}")
    return result


if __name__ == "__main__":
    main()
