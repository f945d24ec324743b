"""驾驶舱 benchmark: the overview page for 10,000 tasks, through the real aiohttp server.

The core benchmark's synthetic office (10,000 tasks, 100,000 updates) plus 督办-cycle rows
(unsigned 交办, open 批示, pending reviews and extensions, 催办 counts), so every list of
the overview has work to do. Prints the server time of GET /dashboard/ (a leader: the whole
street, ranking included), a cadre's overview, a filtered list and the 大屏 page, each the
median of 3 runs with min and max, and the page weight a phone downloads (HTML, CSS, JS;
the chart library is cached once, shown apart). Run: ``python -m bench dashboard``.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from bench.core_bench import NOW, TASKS, generate

RUNS = 3
TARGET_MS = 200


def add_cycle_rows(db_path: str) -> None:
    """督办-cycle rows on the synthetic office (in a child process: not measured)."""
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import PROJECT_ROOT, load_config
    from bot.models import ExtensionRequest, Instruction, Task

    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db_path}"
    app = build_app(config, FixedClock(parse_now(NOW)))
    now = app.clock.now()
    rng = random.Random(5)
    with app.sessions.begin() as session:
        ids = [i for (i,) in session.execute(select(Task.id))]
        sample = rng.sample(ids, 2000)
        session.execute(update(Task).where(Task.id.in_(sample[:500])).values(assigned_at=now - timedelta(days=2)))
        session.execute(update(Task).where(Task.id.in_(sample[500:800])).values(review_status="pending"))
        session.execute(update(Task).where(Task.id.in_(sample[800:2000])).values(urge_count=2))
        session.execute(insert(Instruction), [dict(task_id=rng.choice(ids), leader_id=1, text="请加快推进",
                                                   created_at=now - timedelta(days=rng.randint(0, 30)))
                                              for _ in range(1000)])
        session.execute(insert(ExtensionRequest), [dict(task_id=rng.choice(ids), requester_id=1, reason="合成",
                                                        new_deadline=now.date() + timedelta(days=30),
                                                        status="pending", created_at=now) for _ in range(200)])
    app.engine.dispose()


async def measure(db_path: str) -> dict[str, tuple[float, float, float]]:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import PROJECT_ROOT, load_config
    from bot.models import Person, Team
    from bot.services import web_access
    from channels.server import build_web_app

    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = f"sqlite:///{db_path}"
    config.data.out_dir = str(Path(db_path).parent / "out")
    app = build_app(config, FixedClock(parse_now(NOW)))
    with app.sessions.begin() as session:
        now = app.clock.now()
        leader = session.scalar(select(Person).where(Person.name == "张主任"))
        cadre = session.scalar(select(Person).where(Person.name == "王干部"))
        links = {who: web_access.new_link(session, now, app.web_key(), person, 60)
                 for who, person in (("leader", leader), ("cadre", cadre))}
        screen, _ = web_access.new_screen(session, now, app.web_key(), leader, "bench")
        team_id = session.scalar(select(Team.id).order_by(Team.id))
    web_app, _ = build_web_app(app)
    results: dict[str, tuple[float, float, float]] = {}
    clients = {}
    for who, token in links.items():
        client = TestClient(TestServer(web_app)) if not clients else TestClient(clients["leader"].server)
        await client.start_server()
        response = await client.post("/dashboard/login", data={"t": token}, allow_redirects=False)
        assert response.status == 303
        clients[who] = client

    async def timed(name: str, client, path: str) -> None:
        times = []
        for _ in range(RUNS + 1):  # the first run warms statement caches; not counted
            start = time.perf_counter()
            response = await client.get(path)
            body = await response.read()
            times.append((time.perf_counter() - start) * 1000)
            assert response.status == 200, (path, response.status, body[:200])
        times = times[1:]
        results[name] = (statistics.median(times), min(times), max(times))

    await timed("overview (leader, whole street)", clients["leader"], "/dashboard/")
    await timed("overview (cadre, own team)", clients["cadre"], "/dashboard/")
    await timed("list red, one team, page 1", clients["leader"], f"/dashboard/list/all?light=red&team={team_id}")
    await timed("大屏 (screen token)", clients["leader"], f"/dashboard/screen?k={screen}")

    html = await (await clients["leader"].get("/dashboard/", headers={"Accept-Encoding": "identity"})).read()
    gz = await clients["leader"].get("/dashboard/", headers={"Accept-Encoding": "gzip"})
    await gz.read()
    css = await (await clients["leader"].get("/dashboard/static/dash.css")).read()
    js = await (await clients["leader"].get("/dashboard/static/dash.js")).read()
    lib = await (await clients["leader"].get("/dashboard/static/echarts-5.6.0.common.min.js")).read()
    results["_weight"] = (len(html), len(css) + len(js), len(lib))
    for client in clients.values():
        await client.close()
    app.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="duban-bench-dash-"))
    db_path = str(folder / "bench.sqlite3")
    print(f"dashboard: building a synthetic office ({TASKS} tasks) with 督办-cycle rows…", flush=True)
    spawn = multiprocessing.get_context("spawn")
    for target in (generate, add_cycle_rows):
        process = spawn.Process(target=target, args=(db_path,))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit("data generation failed")
    results = asyncio.run(measure(db_path))
    html, own, lib = results.pop("_weight")
    for name, (median, low, high) in results.items():
        print(f"dashboard: {name}: median {median:.1f} ms (min {low:.1f}, max {high:.1f}) of {RUNS}"
              + (f" (target < {TARGET_MS} ms)" if name.startswith("overview (leader") else ""))
    print(f"dashboard: page weight on a phone: HTML {html / 1024:.0f} KB + CSS/JS {own / 1024:.0f} KB "
          f"= {(html + own) / 1024:.0f} KB (target < 500 KB); chart library {lib / 1024:.0f} KB, cached a year")
    return results


if __name__ == "__main__":
    main()
