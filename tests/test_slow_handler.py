"""One slow export does not stall anyone else: handlers run in the app's worker threads
(bot.workers) on every channel, so while one chat waits 5 s for its export, another chat's
answer comes as fast as with nobody exporting (within 100 ms).

The slow export is a command registered for this test only and reached through the normal
dispatch (handlers.registry.COMMANDS): it reads the tasks in its own transaction and then
waits 5 s, as an export on a large ledger or a slow database does."""
from __future__ import annotations

import asyncio
import statistics
import threading
import time

import pytest
from sqlalchemy import func, select

from bot.messages import Reply
from bot.models import Person, Task
from bot.permissions import Action
from bot.services.people import bind_identity
from channels.telegram.bot import TelegramBot
from handlers.registry import COMMANDS, Command
from testing.fake_telegram import FakeTelegramAPI
from testing.fake_wecom import FakeWeComAPI
from tests.conftest import make_app
from tests.wecom_helpers import AGENT, CORP, SECRET, Harness, wecom_section

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

TOKEN = "123:ABC"
EXPORT_SECONDS = 5.0
ALLOWED_DELAY = 0.100
SAMPLES = 3


class SlowExport:
    """``/slowexport``: counts the tasks, then takes 5 s; ``started`` is set once it runs."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def __call__(self, ctx, args: str) -> Reply:
        count = ctx.session.scalar(select(func.count()).select_from(Task))
        self.started.set()
        time.sleep(EXPORT_SECONDS)
        return Reply(f"导出完成:{count}项")


@pytest.fixture
def slow_export(monkeypatch) -> SlowExport:
    export = SlowExport()
    monkeypatch.setitem(COMMANDS, "slowexport", Command("slowexport", export, "慢导出(测试)",
                                                         action=Action.READ, hidden=True))
    return export


async def wait_started(export: SlowExport) -> None:
    for _ in range(500):
        if export.started.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the slow export did not start")


# ------------------------------------------------------------------ Telegram

ZHANG, WANG = 9000, 1001


async def telegram_answer_time(fake: FakeTelegramAPI, user_id: int) -> float:
    before = len(fake._matching_sent(None, user_id))
    started = time.perf_counter()
    fake.push_text(user_id, "/whoami")
    await fake.wait_for_sent(before + 1, chat_id=user_id, timeout=10)
    return time.perf_counter() - started


async def test_telegram_slow_export_does_not_delay_another_chat(app, slow_export):
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False) as fake:
        app.config.telegram.token = TOKEN
        app.config.telegram.base_url = f"{fake.base_url}/bot"
        with app.sessions.begin() as session:
            for user_id, name in ((ZHANG, "张主任"), (WANG, "王干部")):
                person = session.scalar(select(Person).where(Person.name == name))
                bind_identity(session, app.clock.now(), person, "telegram", str(user_id), str(user_id), name)
            tasks = session.scalar(select(func.count()).select_from(Task))
        channel = TelegramBot(app)
        application = channel.build_application()
        await channel.start(application)
        try:
            await telegram_answer_time(fake, WANG)  # warm up
            alone = [await telegram_answer_time(fake, WANG) for _ in range(SAMPLES)]
            fake.push_text(ZHANG, "/slowexport")
            await wait_started(slow_export)
            exporting_since = time.perf_counter()
            during = [await telegram_answer_time(fake, WANG) for _ in range(SAMPLES)]
            assert time.perf_counter() - exporting_since < EXPORT_SECONDS  # measured while it ran
            await fake.wait_for_sent(1, chat_id=ZHANG, timeout=EXPORT_SECONDS + 10)
        finally:
            await channel.stop(application)
        assert [s["text"] for s in fake.sent if s["chat_id"] == ZHANG] == [f"导出完成:{tasks}项"]
        assert [s["text"] for s in fake.sent if s["chat_id"] == WANG] == ["王干部:干部,专班:项目一专班"] * 7
        assert statistics.median(during) - statistics.median(alone) < ALLOWED_DELAY, (alone, during)


# ------------------------------------------------------------------ WeCom


async def wecom_answer_time(bot: Harness, user: str) -> float:
    before = len([m for m in bot.api.sent if m["touser"] == user])
    started = time.perf_counter()
    response = await bot.post_inner(bot.text_xml(user, "/whoami"))
    assert response.status == 200
    while len([m for m in bot.api.sent if m["touser"] == user]) <= before:
        assert time.perf_counter() - started < 10, "no answer"
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def test_wecom_slow_export_does_not_delay_another_chat(tmp_path, clock, slow_export):
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT) as api:
        app = make_app(f"sqlite:///{tmp_path / 'duban.sqlite3'}", tmp_path, clock,
                       wecom=wecom_section(api.base_url, use_template_cards=False))
        with app.sessions.begin() as session:
            for user, name in (("zhang", "张主任"), ("wang", "王干部")):
                person = session.scalar(select(Person).where(Person.name == name))
                bind_identity(session, app.clock.now(), person, "wecom", user, user, name)
            tasks = session.scalar(select(func.count()).select_from(Task))
        async with Harness(app, api) as bot:
            await wecom_answer_time(bot, "wang")  # warm up (access token)
            alone = [await wecom_answer_time(bot, "wang") for _ in range(SAMPLES)]
            response = await bot.post_inner(bot.text_xml("zhang", "/slowexport"))
            assert response.status == 200
            await wait_started(slow_export)
            exporting_since = time.perf_counter()
            during = [await wecom_answer_time(bot, "wang") for _ in range(SAMPLES)]
            assert time.perf_counter() - exporting_since < EXPORT_SECONDS
            await bot.channel.drain(timeout=EXPORT_SECONDS + 10)
        app.engine.dispose()
        assert [m["content"] for m in api.sent if m["touser"] == "zhang"] == [f"导出完成:{tasks}项"]
        assert [m["content"] for m in api.sent if m["touser"] == "wang"] == ["王干部:干部,专班:项目一专班"] * 7
        assert statistics.median(during) - statistics.median(alone) < ALLOWED_DELAY, (alone, during)
