"""Understanding-layer benchmark: the corpus success rate per role, and the answer p99 of
free-text messages (lists in words, counts, pages, team questions, comparisons, progress in
words, follow-ups) through the handlers on the synthetic office of 10,000 tasks.

Run: ``python -m bench nlu``.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.core_bench import NOW, PLACES, _name, generate, percentile

MESSAGES = 1_000
PHRASES = ["红灯的事项有哪些", "逾期的有多少项", "这周到期的", "十天内到期的事项", "我的任务", "下一页",
           "项目一专班情况怎么样", "财政收入比去年多多少", "社零咋样", "那去年呢", "经济指标里哪个增长最快",
           "城市问题办结情况", "今天有啥要我看的", "谁还没报进度", "落后序时进度的", "纳图电气现在什么情况",
           "纳图 七成 钢结构吊装中", "第二页", "招商一专班汇总", "河道整治怎么样"]


def corpus_rates() -> dict[str, tuple[int, int]]:
    from bot.clock import FixedClock, parse_now
    from tests.conftest import REPORT_NOW, make_app
    from tests.corpus_check import rates, run_all

    folder = Path(tempfile.mkdtemp(prefix="duban-nlu-"))
    app = make_app(f"sqlite:///{folder / 'corpus.sqlite3'}", folder, FixedClock(parse_now(REPORT_NOW)))
    outcomes = run_all(app)
    app.engine.dispose()
    return rates(outcomes)


def measure(db_path: str) -> dict[str, float]:
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import PROJECT_ROOT, load_config
    from bot.messages import Incoming
    from channels.console import pick_person
    from handlers.core import handle

    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db_path}"
    config.data.out_dir = str(Path(db_path).parent / "out")
    app = build_app(config, FixedClock(parse_now(NOW)))
    person = pick_person(app, "王干部")
    rng = random.Random(5)
    mixed = [rng.choice(PHRASES) if rng.random() < 0.7 else rng.choice(
        [f"{_name(rng.randrange(9000))}进展怎么样", f"{PLACES[rng.randrange(10)]}指标{rng.randrange(400)}多少"])
        for _ in range(MESSAGES)]

    def ask(text: str):
        return handle(app, Incoming(channel="console", chat_id=person.name, user_id=person.name, text=text))

    for text in PHRASES:
        ask(text)
    latencies = []
    for text in mixed:
        start = time.perf_counter()
        replies = ask(text)
        latencies.append((time.perf_counter() - start) * 1000)
        if replies and "取消" in [b.label for r in replies for row in r.buttons for b in row]:
            ask("取消")  # leave the proposal, as a person would
    app.engine.dispose()
    return {"p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99)}


def main(argv: list[str] | None = None) -> dict[str, float]:
    by_role = corpus_rates()
    for role, (ok, total) in by_role.items():
        print(f"nlu: corpus {role}: {ok}/{total} = {ok * 100 / total:.1f}% (goal ≥ 95%)")
    folder = Path(tempfile.mkdtemp(prefix="duban-nlu-bench-"))
    db_path = str(folder / "bench.sqlite3")
    process = multiprocessing.get_context("spawn").Process(target=generate, args=(db_path,))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit("data generation failed")
    print(f"nlu: load average at start {os.getloadavg()[0]:.2f}")
    runs = [measure(db_path) for _ in range(3)]  # the same database, a fresh serving app each run
    result = {}
    for key in ("p50_ms", "p99_ms"):
        values = sorted(run[key] for run in runs)
        result[key] = values[1]
        print(f"nlu: {MESSAGES} free-text messages through the understanding layer (10,000 tasks): "
              f"{key[:3]} median {values[1]:.2f} ms (min {values[0]:.2f}, max {values[2]:.2f}) of 3 runs"
              + (" (target p99 < 5 ms)" if key == "p99_ms" else ""))
    print(f"nlu: load average at end {os.getloadavg()[0]:.2f}")
    return result


if __name__ == "__main__":
    main()
