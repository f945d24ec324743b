"""Telegram goes through the configured proxy (``telegram.proxy`` or HTTPS_PROXY/ALL_PROXY);
WeCom does not, whatever the environment says, unless ``wecom.proxy`` is set. A real
forwarding proxy on loopback (testing/proxy.py) records what passed through it."""
from __future__ import annotations

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.models import Person
from bot.services.people import bind_identity
from channels.telegram.bot import TelegramBot
from channels.telegram.request import proxy_for
from channels.wecom.client import WeComClient
from channels.wecom.robot import RobotSender
from testing.fake_telegram import FakeTelegramAPI
from testing.fake_wecom import FakeWeComAPI
from testing.proxy import ForwardProxy
from tests.wecom_helpers import AGENT, CORP, ROBOT_KEY, SECRET

TOKEN = "123:ABC"
ZHANG = 9000
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy",
                   "NO_PROXY", "no_proxy")


@pytest.fixture
def clean_env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest_asyncio.fixture
async def proxy():
    server = await ForwardProxy().start()
    yield server
    await server.stop()


async def ask_whoami(duban, fake: FakeTelegramAPI) -> str:
    duban.config.telegram.token = TOKEN
    duban.config.telegram.base_url = f"{fake.base_url}/bot"
    with duban.sessions.begin() as session:
        zhang = session.scalar(select(Person).where(Person.name == "张主任"))
        bind_identity(session, duban.clock.now(), zhang, "telegram", str(ZHANG), str(ZHANG), "张主任")
    channel = TelegramBot(duban)
    application = channel.build_application()
    await channel.start(application)
    try:
        fake.push_text(ZHANG, "/whoami")
        await fake.wait_for_sent(1, chat_id=ZHANG, timeout=15)
    finally:
        await channel.stop(application)
    return fake.sent[0]["text"]


def methods(proxy: ForwardProxy, fake_base: str) -> set[str]:
    return {target.rsplit("/", 1)[-1].lower() for _, target in proxy.requests if target.startswith(fake_base)}


@pytest.mark.asyncio
async def test_telegram_goes_through_the_configured_proxy(sqlite_app, clean_env, proxy):
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False) as fake:
        sqlite_app.config.telegram.proxy = proxy.url
        text = await ask_whoami(sqlite_app, fake)
        assert text.startswith("张主任:")
        assert {"getme", "getupdates", "sendmessage", "setmycommands"} <= methods(proxy, fake.base_url)
        assert {method for method, _ in proxy.requests} == {"POST"}


@pytest.mark.asyncio
async def test_telegram_takes_the_proxy_from_https_proxy(sqlite_app, clean_env, proxy):
    clean_env.setenv("HTTPS_PROXY", proxy.url)
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False) as fake:
        text = await ask_whoami(sqlite_app, fake)
        assert text.startswith("张主任:")
        assert "sendmessage" in methods(proxy, fake.base_url)


@pytest.mark.asyncio
async def test_telegram_goes_direct_without_a_proxy(sqlite_app, clean_env, proxy):
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False) as fake:
        text = await ask_whoami(sqlite_app, fake)
        assert text.startswith("张主任:")
        assert proxy.requests == []


def test_proxy_choice():
    api = "https://api.telegram.org/bot"
    assert proxy_for("socks5://127.0.0.1:1080", api, {"HTTPS_PROXY": "http://p:1"}) == "socks5://127.0.0.1:1080"
    assert proxy_for("none", api, {"HTTPS_PROXY": "http://p:1"}) is None
    assert proxy_for(None, api, {"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "socks5://q:2"}) == "http://p:1"
    assert proxy_for(None, api, {"ALL_PROXY": "socks5://q:2"}) == "socks5://q:2"
    assert proxy_for(None, api, {"ALL_PROXY": "socks5://q:2", "NO_PROXY": "api.telegram.org"}) is None
    assert proxy_for(None, api, {}) is None


@pytest.mark.asyncio
async def test_wecom_ignores_the_environment_proxy(clean_env, proxy):
    clean_env.setenv("HTTPS_PROXY", proxy.url)
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("ALL_PROXY", proxy.url)
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT, robot_keys={ROBOT_KEY},
                            known_users={"wang"}) as api:
        client = WeComClient(api.base_url, CORP, SECRET, AGENT)
        robot = RobotSender(api.base_url)
        try:
            await client.send_text("wang", "一")
            await robot.send_text(ROBOT_KEY, "二")
        finally:
            await client.aclose()
            await robot.aclose()
        assert [m["content"] for m in api.sent] == ["一"]
        assert [m["content"] for m in api.robot_sent] == ["二"]
    assert proxy.requests == []


@pytest.mark.asyncio
async def test_wecom_uses_its_own_proxy_when_configured(clean_env, proxy):
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT, known_users={"wang"}) as api:
        client = WeComClient(api.base_url, CORP, SECRET, AGENT, proxy=proxy.url)
        try:
            await client.send_text("wang", "一")
        finally:
            await client.aclose()
        assert [m["content"] for m in api.sent] == ["一"]
        paths = [target.split("?")[0].removeprefix(api.base_url) for _, target in proxy.requests]
    assert paths == ["/cgi-bin/gettoken", "/cgi-bin/message/send"]
