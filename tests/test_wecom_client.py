"""WeComClient, RobotSender and the notifiers against the fake WeCom API over real HTTP:
token caching and refresh, 40014/42001, 45009 back-off, errors reported, limits kept."""
from __future__ import annotations

import pytest
import pytest_asyncio

from bot.messages import Button, OutFile, Reply
from bot.notify import DeliveryError
from channels.wecom.client import (
    MEMBER_LIMITS,
    ROBOT_LIMITS,
    RateLimited,
    SlidingLimiter,
    WeComAPIError,
    WeComClient,
)
from channels.wecom.notifier import WeComNotifier, WeComRobotNotifier
from channels.wecom.robot import RobotSender
from testing.fake_wecom import FakeWeComAPI
from tests.wecom_helpers import AGENT, CORP, ROBOT_KEY, SECRET

pytestmark = pytest.mark.asyncio


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    """Shared by the client and the fake, so the fake's rate windows see the same time."""
    return Clock()


@pytest_asyncio.fixture
async def api(clock):
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT, robot_keys={ROBOT_KEY},
                            known_users={"wang", "chen"}, clock=clock) as fake:
        yield fake


@pytest_asyncio.fixture
async def env(api, clock):
    errors: list[WeComAPIError] = []

    async def on_error(error):
        errors.append(error)

    client = WeComClient(api.base_url, CORP, SECRET, AGENT, on_error=on_error, clock=clock, sleep=clock.sleep)
    robot = RobotSender(api.base_url, on_error=on_error, clock=clock, sleep=clock.sleep)
    yield client, robot, clock, errors
    await client.aclose()
    await robot.aclose()


async def test_token_is_cached_and_refreshed_near_expiry(api, env):
    client, _, clock, _ = env
    await client.send_text("wang", "一")
    await client.send_text("wang", "二")
    assert api.token_requests == 1
    clock.t += 7200 - 299  # inside the safety margin before expiry
    await client.send_text("wang", "三")
    assert api.token_requests == 2
    assert [m["content"] for m in api.sent] == ["一", "二", "三"]


async def test_expired_token_42001_refreshes_once_and_retries(api, env):
    client, _, _, errors = env
    await client.send_text("wang", "一")
    api.expire_token()
    await client.send_text("wang", "二")
    assert api.token_requests == 2 and [m["content"] for m in api.sent] == ["一", "二"]
    assert errors == []


async def test_invalid_token_40014_once(api, env):
    client, _, _, errors = env
    await client.send_text("wang", "一")
    api.fail_next(40014, endpoint="message")
    await client.send_text("wang", "二")
    assert api.token_requests == 2 and len(api.sent) == 2 and errors == []


async def test_token_refused_twice_is_an_error(api, env):
    client, _, _, errors = env
    api.fail_next(40014, endpoint="message")
    api.fail_next(40014, endpoint="message")
    with pytest.raises(WeComAPIError) as info:
        await client.send_text("wang", "一")
    assert info.value.errcode == 40014 and [e.errcode for e in errors] == [40014]
    assert api.sent == []


async def test_rate_limit_45009_backs_off_and_retries(api, env):
    client, _, clock, errors = env
    api.fail_next(45009, endpoint="message")
    await client.send_text("wang", "一")
    assert clock.sleeps == [1.0] and len(api.sent) == 1 and errors == []


async def test_concurrent_callers_fetch_one_token(api, env):
    import asyncio
    client, _, _, _ = env
    await asyncio.gather(*(client.send_text("wang", str(i)) for i in range(5)))
    assert api.token_requests == 1 and len(api.sent) == 5


async def test_other_errors_are_reported_not_retried(api, env):
    client, _, clock, errors = env
    api.fail_next(60020, "not allow to access from your ip", endpoint="message")
    with pytest.raises(WeComAPIError):
        await client.send_text("wang", "一")
    assert [e.errcode for e in errors] == [60020]
    assert "not allow to access from your ip" in errors[0].errmsg
    assert clock.sleeps == [] and api.sent == []


async def test_wrong_secret_is_reported(api):
    errors = []

    async def on_error(e):
        errors.append(e)

    client = WeComClient(api.base_url, CORP, "wrong", AGENT, on_error=on_error)
    with pytest.raises(WeComAPIError):
        await client.send_text("wang", "一")
    await client.aclose()
    assert errors[0].errcode == 40001 and errors[0].path == "/cgi-bin/gettoken"


async def test_member_limit_30_a_minute_and_1000_an_hour(clock):
    limiter = SlidingLimiter(MEMBER_LIMITS, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        await limiter.acquire("wang")
    assert clock.sleeps == []
    await limiter.acquire("wang")  # the 31st waits for the minute to pass
    assert clock.sleeps == [60.0]
    await limiter.acquire("chen")  # other members are not held up
    assert clock.sleeps == [60.0]
    hour = SlidingLimiter(MEMBER_LIMITS, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        await hour.acquire("zhao", max_wait=3600)
    with pytest.raises(RateLimited) as info:
        await hour.acquire("zhao", max_wait=60)
    assert 0 < info.value.retry_after <= 3600


async def test_client_keeps_member_limit_so_the_fake_never_refuses(api, env):
    client, _, clock, _ = env
    for i in range(35):
        await client.send_text("wang", str(i))
    assert len(api.sent) == 35 and 60.0 in clock.sleeps
    assert all(r["errcode"] == 0 for r in api.requests if "message" in r.get("endpoint", "message"))


async def test_robot_limit_20_a_minute(api, env):
    _, robot, clock, _ = env
    for i in range(21):
        await robot.send_text(ROBOT_KEY, f"简报{i}")
    assert len(api.robot_sent) == 21 and clock.sleeps == [60.0]
    assert ROBOT_LIMITS == ((20, 60.0),)


async def test_robot_45009_backs_off(api, env):
    _, robot, clock, _ = env
    api.fail_next(45009, endpoint="webhook")
    await robot.send_text(ROBOT_KEY, "简报")
    assert clock.sleeps == [1.0] and [m["content"] for m in api.robot_sent] == ["简报"]


async def test_robot_long_markdown_split(api, env):
    _, robot, _, _ = env
    await robot.send_markdown(ROBOT_KEY, "\n".join(["**项目一专班** 🔴 纳图电气 逾期3天"] * 300))
    assert len(api.robot_sent) >= 2
    assert all(len(m["content"].encode()) <= 4096 for m in api.robot_sent)


async def test_notifiers_map_errors_to_delivery_errors(api, env, tmp_path):
    client, robot, _, _ = env
    notifier = WeComNotifier(client)
    await notifier.send("wang", Reply("明天截止:纳图电气", buttons=[[Button("报进展", "u|1~abcdef"),
                                                                     Button("稍后提醒", "s|1~abcdef")]]))
    card = api.sent[-1]
    assert card["msgtype"] == "template_card"
    assert [b["text"] for b in card["content"]["button_list"]] == ["报进展", "稍后提醒"]
    with pytest.raises(DeliveryError) as info:
        await notifier.send("nobody", Reply("提醒"))
    assert info.value.permanent
    api.fail_next(45009, endpoint="message")
    api.fail_next(45009, endpoint="message")
    api.fail_next(45009, endpoint="message")
    api.fail_next(45009, endpoint="message")
    with pytest.raises(DeliveryError) as info:
        await notifier.send("wang", Reply("提醒"))
    assert info.value.retry_after and not info.value.permanent
    robot_notifier = WeComRobotNotifier(robot)
    with pytest.raises(DeliveryError) as info:
        await robot_notifier.send("unknown-key", Reply("简报"))
    assert info.value.permanent
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG fake")
    await notifier.send("wang", Reply("图表", files=[OutFile(str(picture), kind="photo", caption="完成率")]))
    assert [m["msgtype"] for m in api.sent[-3:]] == ["text", "text", "image"]
    await robot_notifier.send(ROBOT_KEY, Reply("本周简报"))
    assert api.robot_sent[-1]["content"] == "本周简报"
