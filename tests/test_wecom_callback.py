"""The /wecom/callback endpoint in-process (aiohttp TestServer) against the fake WeCom API:
security refusals change nothing, binding, conversations, buttons, retries."""
from __future__ import annotations

import base64
import struct
import time

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from bot.models import ChatIdentity, InboundSeen
from channels.server import NOTIFIERS_KEY
from channels.wecom.crypto import WeComCrypto
from testing.fake_wecom import FakeWeComAPI, make_verify_params
from tests.conftest import make_app
from tests.wecom_helpers import (
    AES_KEY,
    AGENT,
    CORP,
    ROBOT_KEY,
    SECRET,
    TOKEN,
    Harness,
    card_buttons,
    db_snapshot,
    texts,
    wecom_section,
)

pytestmark = pytest.mark.asyncio

BOMB = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<xml><ToUserName>x</ToUserName><Encrypt>&c;</Encrypt></xml>"""


@pytest_asyncio.fixture
async def api():
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT) as fake:
        yield fake


async def _harness(tmp_path, clock, api, **extra):
    app = make_app(f"sqlite:///{tmp_path / 'duban.sqlite3'}", tmp_path, clock,
                   wecom=wecom_section(api.base_url, **extra))
    return app, Harness(app, api)


@pytest_asyncio.fixture
async def bot(tmp_path, clock, api):
    app, harness = await _harness(tmp_path, clock, api)
    async with harness:
        yield harness
    app.engine.dispose()


async def _bind(bot: Harness, user: str, code: str) -> str:
    return texts(await bot.say(user, f"/start {code}"))


# -- URL verification -----------------------------------------------------------------

async def test_url_verification_echoes_plaintext(bot):
    assert bot.installed == ["wecom", "dashboard"]  # the 驾驶舱 is on by default (dashboard.enabled)
    params = make_verify_params(bot.crypto, "echo-1234567890", int(time.time()), "5555")
    response = await bot.client.get("/wecom/callback", params=params)
    assert response.status == 200
    assert await response.text() == "echo-1234567890"


async def test_url_verification_forged_or_stale_is_refused(bot):
    params = make_verify_params(bot.crypto, "echo", int(time.time()), "5555")
    forged = dict(params, msg_signature="0" * 40)
    assert (await bot.client.get("/wecom/callback", params=forged)).status == 403
    other = make_verify_params(WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse0001"), "echo", int(time.time()), "1")
    assert (await bot.client.get("/wecom/callback", params=other)).status == 403
    stale = make_verify_params(bot.crypto, "echo", int(time.time()) - 3600, "5555")
    assert (await bot.client.get("/wecom/callback", params=stale)).status == 403
    missing = {k: v for k, v in params.items() if k != "echostr"}
    assert (await bot.client.get("/wecom/callback", params=missing)).status == 400


# -- refused POSTs change nothing ---------------------------------------------------

def _raw_encrypt(frame: bytes) -> str:
    key = base64.b64decode(AES_KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(frame) + enc.finalize()).decode()


def _signed(bot: Harness, encrypt: str, ts: int) -> tuple[dict, bytes]:
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    params = {"msg_signature": bot.crypto.signature(str(ts), "77", encrypt), "timestamp": str(ts), "nonce": "77"}
    return params, body.encode()


async def test_hostile_callbacks_get_4xx_and_change_nothing(bot):
    assert "绑定成功" in await _bind(bot, "wangxm", "DEMOWXM1")
    before = db_snapshot(bot.app)
    sent_before = len(bot.api.sent)
    now = int(time.time())
    good_inner = bot.text_xml("lizz", "/start DEMOLXM1")

    cases = {}
    # forged signature
    from testing.fake_wecom import make_callback
    params, body = make_callback(bot.crypto, good_inner, now, "1")
    cases["forged"] = (dict(params, msg_signature="f" * 40), body, 403)
    # encrypted for another CorpID (same token and key)
    other = WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse0001")
    cases["wrong_corp"] = (*make_callback(other, good_inner, now, "2"), 403)
    # truncated ciphertext, re-signed so only the decryption can catch it
    encrypt = bot.crypto.encrypt(good_inner)
    raw = base64.b64decode(encrypt)
    cases["truncated"] = (*_signed(bot, base64.b64encode(raw[:-16]).decode(), now), 400)
    cases["not_block"] = (*_signed(bot, base64.b64encode(raw[:-5]).decode(), now), 400)
    # bad padding
    msg = good_inner.encode()
    frame = b"R" * 16 + struct.pack(">I", len(msg)) + msg + CORP.encode()
    frame += b"\x00" * (32 - len(frame) % 32)
    cases["bad_padding"] = (*_signed(bot, _raw_encrypt(frame), now), 400)
    # an entity bomb as the body, and as the decrypted inner XML
    cases["bomb_body"] = (params, BOMB.encode(), 400)
    cases["bomb_inner"] = (*make_callback(bot.crypto, BOMB, now, "3"), 400)
    # malformed and oversized bodies
    cases["malformed"] = (params, b"<xml><Encrypt>abc", 400)
    cases["oversized"] = (params, b"<xml><Encrypt>" + b"A" * 70_000 + b"</Encrypt></xml>", 413)
    # outside the timestamp window, either way
    cases["stale"] = (*make_callback(bot.crypto, good_inner, now - 400, "4"), 403)
    cases["future"] = (*make_callback(bot.crypto, good_inner, now + 400, "5"), 403)
    # another app's AgentID
    cases["other_agent"] = (*make_callback(bot.crypto, good_inner.replace(f"<AgentID>{AGENT}", "<AgentID>999"),
                                           now, "6"), 400)

    for name, (params_, body_, status) in cases.items():
        response = await bot.post_raw(params_, body_)
        assert response.status == status, (name, response.status, await response.text())
    await bot.channel.drain()
    assert db_snapshot(bot.app) == before
    assert len(bot.api.sent) == sent_before
    # the invite the hostile requests carried is still unused: the real member can bind with it
    assert "绑定成功" in await _bind(bot, "lizz", "DEMOLXM1")


async def test_timestamp_window_zero_disables_the_check(tmp_path, clock, api):
    app, harness = await _harness(tmp_path, clock, api, max_timestamp_skew_s=0)
    async with harness as bot:
        response = await bot.post_inner(bot.text_xml("u1", "你好"), timestamp=1_000_000_000)
        assert response.status == 200
        await bot.channel.drain()
        assert "没有绑定身份" in texts([m for m in api.sent if m["touser"] == "u1"])
    app.engine.dispose()


# -- members --------------------------------------------------------------------------

async def test_unknown_member_is_told_how_to_register_then_binds(bot):
    reply = texts(await bot.say("chenzr", "财政收入多少"))
    assert "还没有绑定身份" in reply and "/start" in reply
    assert "邀请码不对" in texts(await bot.say("chenzr", "绑定 WRONG123"))
    reply = await _bind(bot, "chenzr", "DEMOCHEN")
    assert "绑定成功:陈主任" in reply
    with bot.app.sessions() as session:
        identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == "wecom"))
        assert (identity.external_user_id, identity.chat_id, identity.person.name) == ("chenzr", "chenzr", "陈主任")
    reply = texts(await bot.say("chenzr", "/whoami"))
    assert "陈主任" in reply


async def test_bind_with_chinese_word(bot):
    assert "绑定成功:王干部" in texts(await bot.say("wang", "绑定 DEMOWXM1"))


async def test_enter_agent_greets_only_unbound_members(bot):
    assert "邀请码" in texts(await bot.event("newbie", "enter_agent"))
    await _bind(bot, "wang", "DEMOWXM1")
    assert await bot.event("wang", "enter_agent") == []


async def test_leader_question_is_answered(bot):
    await _bind(bot, "chenzr", "DEMOCHEN")
    reply = texts(await bot.say("chenzr", "纳图电气进展"))
    assert "纳图电气" in reply


async def test_same_msgid_is_answered_once(bot):
    await _bind(bot, "chenzr", "DEMOCHEN")
    single = len(await bot.say("chenzr", "纳图电气进展"))  # how many messages one answer takes
    assert single >= 1
    inner = bot.text_xml("chenzr", "纳图电气进展", msg_id=4242)
    before = len(bot.api.sent)
    # WeCom's retry arrives while the first is still being handled (the second POST does
    # not start a second task), and again after it was answered
    first, second = await bot.post_inner(inner), await bot.post_inner(inner)
    assert first.status == second.status == 200
    assert len(bot.channel.tasks) <= 1
    await bot.channel.drain()
    third = await bot.post_inner(inner)
    assert third.status == 200
    await bot.channel.drain()
    answered = bot.api.sent[before:]
    assert len(answered) == single and "纳图电气" in texts(answered)
    with bot.app.sessions() as session:
        refs = session.scalars(select(InboundSeen.external_id).where(
            InboundSeen.external_id == "wecom:msg:4242")).all()
    assert refs == ["wecom:msg:4242"]


# -- buttons ------------------------------------------------------------------------

async def test_template_card_buttons_round_trip(bot):
    await _bind(bot, "wang", "DEMOWXM1")
    messages = await bot.say("wang", "报进展")
    buttons = card_buttons(messages)
    assert buttons, texts(messages)
    assert all(len(b["key"].encode()) < 64 and "~" in b["key"] for b in buttons)
    natu = next(b for b in buttons if "纳图" in b["text"]) if any("纳图" in b["text"] for b in buttons) else buttons[0]
    reply = await bot.event("wang", "template_card_event", natu["key"], TaskId="t1", CardType="button_interaction",
                            ResponseCode="rc-001")
    assert reply, "button press got no answer"
    # a forged key is refused politely
    reply = texts(await bot.event("wang", "template_card_event", "t|1~forged", ResponseCode="rc-002"))
    assert "按钮已过期" in reply
    # the same click delivered twice (same ResponseCode) is handled once
    assert await bot.event("wang", "template_card_event", natu["key"], ResponseCode="rc-001") == []


async def test_numbered_choices_without_cards(tmp_path, clock, api):
    app, harness = await _harness(tmp_path, clock, api, use_template_cards=False)
    async with harness as bot:
        await _bind(bot, "wang", "DEMOWXM1")
        messages = await bot.say("wang", "报进展")
        assert all(m["msgtype"] == "text" for m in messages)
        shown = texts(messages)
        assert "回复数字选择" in shown and "1. " in shown
        follow = texts(await bot.say("wang", "1"))
        assert "请发现在的进度" in follow
    app.engine.dispose()


async def test_long_reply_is_split_by_bytes(bot):
    await _bind(bot, "zhang", "DEMOCHEN")
    messages = await bot.say("zhang", "/tasks all")
    assert messages
    for m in messages:
        if m["msgtype"] == "text":
            assert len(m["content"].encode()) <= 2048


# -- errors reach the admins; pushes --------------------------------------------------

async def test_api_errors_are_reported_to_admins(bot):
    from bot.services.people import bind_identity, find_person

    with bot.app.sessions.begin() as session:
        bind_identity(session, bot.app.clock.now(), find_person(session, "张主任"), "wecom", "zhangzr", "zhangzr")
    await _bind(bot, "wang", "DEMOWXM1")
    bot.api.fail_next(60020, "not allow to access from your ip", endpoint="message")
    await bot.say("wang", "/whoami")
    alerts = [m for m in bot.api.sent if m["touser"] == "zhangzr"]
    assert len(alerts) == 1 and "60020" in alerts[0]["content"] and "企业微信接口出错" in alerts[0]["content"]
    # the same error again within the hour is not repeated
    bot.api.fail_next(60020, "not allow to access from your ip", endpoint="message")
    await bot.say("wang", "/whoami")
    assert len([m for m in bot.api.sent if m["touser"] == "zhangzr"]) == 1


async def test_reminder_push_through_the_notifier_router(bot):
    from bot.messages import Button, Reply
    from bot.notify import DeliveryError

    await _bind(bot, "wang", "DEMOWXM1")
    router = bot.web_app[NOTIFIERS_KEY]
    assert {"wecom", "wecom_robot"} <= router.channels()
    reminder = Reply("⏰ 提醒:纳图电气 明天截止,当前进度未报。",
                     buttons=[[Button("报进展", bot.app.sign("u", 1)), Button("稍后提醒", bot.app.sign("u", 1))]])
    before = len(bot.api.sent)
    await router.send("wecom", "wang", reminder)
    [card] = bot.api.sent[before:]
    assert card["msgtype"] == "template_card"
    assert [b["text"] for b in card["content"]["button_list"]] == ["报进展", "稍后提醒"]
    # the member presses 报进展 on the card: the update dialogue starts
    reply = texts(await bot.event("wang", "template_card_event", card["content"]["button_list"][0]["key"],
                                  ResponseCode="rc-push-1"))
    assert "进度" in reply
    await router.send("wecom_robot", ROBOT_KEY, Reply("项目一专班 今日简报:2项临期"))
    assert bot.api.robot_sent[-1]["content"] == "项目一专班 今日简报:2项临期"
    with pytest.raises(DeliveryError):
        await router.send("wecom", "", Reply("x"))
