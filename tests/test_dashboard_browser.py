"""The 驾驶舱 in a real headless browser (the system's Chromium) against a real
``run.py serve`` process on the demo data at 2026-01-05 09:00: overview, a task page and the
大屏, at phone width (390 px) and at 1920×1080. No console errors or CSP violations, every
chart drawn, and the Chinese text drawn with a CJK font (no missing-glyph boxes).

Screenshots go to the test's tmp dir, and are copied to $DUBAN_SAMPLES_DIR (or
/work/samples/dashboard when that folder exists). Skipped, with the reason, when no
Chromium is installed (``make browser`` installs it; CI does).
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.clock import FixedClock, parse_now
from bot.composition import build_app, load_data_files
from bot.config import PROJECT_ROOT
from bot.models import Person, Task
from bot.services import web_access
from tests.cdp import Browser, find_browser
from tests.conftest import DATASET, DEMO_PEOPLE, Chat, make_config, requires_cjk_font

NOW = "2026-01-05T09:00"
PHONE = (390, 844, True)
SCREEN = (1920, 1080, False)
CJK_FONT = re.compile(r"(wenquanyi|wqy|noto sans cjk|noto sans sc|source han|droid sans fallback|"
                      r"pingfang|microsoft yahei|simhei|ar pl)", re.I)
HAN = re.compile(r"[\u4e00-\u9fff]")

BROWSER = find_browser()
pytestmark = [
    pytest.mark.skipif(BROWSER is None, reason="no Chromium installed: `make browser` "
                       "(apt-get install chromium; needs root) — CI installs it"),
    requires_cjk_font,
]


def samples_dir() -> Path | None:
    wanted = os.environ.get("DUBAN_SAMPLES_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    default = Path("/work/samples/dashboard")
    return default if default.is_dir() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """The demo data in a SQLite file, login links and a screen token made in it, and
    ``run.py serve`` on it as a real process."""
    db = tmp_path / "duban.sqlite3"
    config = make_config(f"sqlite:///{db}", tmp_path)
    app = build_app(config, FixedClock(parse_now(NOW)))
    load_data_files(app, [DATASET, DEMO_PEOPLE])
    # two reports by 王干部 on his task (the chat's own path), so a timeline and a progress
    # line are there to see
    for at, text in (("2025-11-20T10:00", "/update 纳图电气 60% 主体厂房封顶"),
                     ("2025-12-29T16:30", "/update 纳图电气 85% 设备进场调试")):
        app.clock.set(parse_now(at))
        assert "已记录" in Chat(app, "王干部").say(text)
    app.clock.set(parse_now(NOW))
    with app.sessions.begin() as session:
        now = app.clock.now()
        people = {p.name: p for p in session.scalars(select(Person))}
        links = {name: web_access.new_link(session, now, app.web_key(), people[name], 60)
                 for name in ("张主任", "王干部")}
        screen, _ = web_access.new_screen(session, now, app.web_key(), people["张主任"], "会议室")
        task = session.scalar(select(Task.id).where(Task.name == "中德电力装备产业园"))
        foreign = session.scalar(select(Task.id).where(Task.name == "外资突破2000万美元"))  # 招商三专班
        natu = session.scalar(select(Task.id).where(Task.name == "纳图电气"))
    app.engine.dispose()
    port = _free_port()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{db}"},
                                           "data": {"out_dir": str(tmp_path / "out")},
                                           "reminders": {"enabled": False}}, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "run.py", "--config", str(config_file), "serve", "--port", str(port),
                             "--now", NOW], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + 30
    output = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        output.append(line)
        if "serving on" in line:
            break
    else:
        proc.kill()
        pytest.fail("run.py serve did not start:\n" + "".join(output))
    base = f"http://127.0.0.1:{port}"
    yield {"base": base, "links": links, "screen": screen, "task": task, "natu": natu, "foreign": foreign}
    proc.terminate()
    proc.wait(timeout=10)


async def _login(browser: Browser, base: str, token: str) -> None:
    await browser.open(f"{base}/dashboard/login?t={token}", settle=0.2)
    await browser.evaluate("document.getElementById('enter').click()")
    await browser.wait_event("Page.loadEventFired")
    assert await browser.evaluate("location.pathname") == "/dashboard/"


async def _check(browser: Browser, name: str, selectors: list[str]) -> None:
    assert browser.errors == [], f"{name}: {browser.errors}"
    charts = await browser.evaluate(
        "[document.querySelectorAll('[data-chart]:not(details:not([open]) [data-chart])').length,"
        " document.querySelectorAll('[data-drawn] canvas').length]")
    assert charts[1] >= charts[0], f"{name}: {charts[0]} charts, {charts[1]} drawn"
    for selector in selectors:
        text = await browser.evaluate(f"document.querySelector({selector!r}).innerText")
        han = len(HAN.findall(text))
        fonts = await browser.fonts_for(selector)
        drawn_by_cjk = sum(count for family, count in fonts if CJK_FONT.search(family))
        assert han and drawn_by_cjk >= han, f"{name} {selector}: {text!r} drawn with {fonts}"


async def _shoot(browser: Browser, out: Path, name: str, size: tuple[int, int, bool], full: bool) -> Path:
    return await browser.screenshot(out / f"{name}.png", full, *size)


@pytest.mark.asyncio
async def test_overview_task_and_screen_in_chromium(server, tmp_path):
    out = tmp_path / "shots"
    out.mkdir()
    base = server["base"]
    shots = []
    async with Browser(BROWSER) as browser:
        await browser.size(*PHONE)
        await _login(browser, base, server["links"]["张主任"])
        for size, tag in ((PHONE, "phone"), (SCREEN, "1920")):
            await browser.size(*size)
            await browser.open(f"{base}/dashboard/")
            await _check(browser, f"overview-{tag}", ["header .brand", ".card h2", ".matrix tbody th"])
            body = await browser.evaluate("document.body.innerText")
            assert "全部事项 94 项" in body and "逾期事项" in body and "专班排名" in body
            shots.append(await _shoot(browser, out, f"overview-{tag}", size, full=True))

            await browser.open(f"{base}/dashboard/task/{server['task']}")
            await _check(browser, f"task-{tag}", ["h1", ".facts", ".lightline"])
            assert "逾期5天" in await browser.evaluate("document.body.innerText")
            shots.append(await _shoot(browser, out, f"task-{tag}", size, full=True))

            await browser.open(f"{base}/dashboard/indicators")
            await browser.evaluate("document.querySelector('details.ind').open = true")
            await browser.evaluate("new Promise(r => setTimeout(r, 1200))")
            await _check(browser, f"indicators-{tag}", [".card h2", "details.ind summary"])
            shots.append(await _shoot(browser, out, f"indicators-{tag}", size, full=False))

            await browser.open(f"{base}/dashboard/screen?k={server['screen']}")
            await _check(browser, f"screen-{tag}", [".screen-top h1", ".panel h2", ".srows li"])
            assert "雕庄街道督办驾驶舱" in await browser.evaluate("document.body.innerText")
            shots.append(await _shoot(browser, out, f"screen-{tag}", size, full=False))
        # the 大屏 fits 1920×1080 without scrolling
        assert await browser.evaluate("document.documentElement.scrollHeight") <= 1080

    async with Browser(BROWSER) as browser:  # a cadre: own team only; another team's task is 403
        await browser.size(*PHONE)
        await _login(browser, base, server["links"]["王干部"])
        await browser.open(f"{base}/dashboard/")
        await _check(browser, "cadre-overview", [".card h2"])
        assert "全部事项 2 项" in await browser.evaluate("document.body.innerText")
        shots.append(await _shoot(browser, out, "cadre-overview-phone", PHONE, full=True))
        await browser.open(f"{base}/dashboard/task/{server['natu']}")
        await _check(browser, "cadre-task", ["h1"])
        shots.append(await _shoot(browser, out, "cadre-task-phone", PHONE, full=True))
        await browser.open(f"{base}/dashboard/task/{server['foreign']}", settle=0.2)
        assert "没有权限" in await browser.evaluate("document.body.innerText")
        browser.errors.clear()  # the 403 itself is logged by the browser as a failed load

    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
    target = samples_dir()
    if target is not None:
        for shot in shots:
            shutil.copy(shot, target / shot.name)
