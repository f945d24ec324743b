"""Tests for the fake WeCom server API (testing/fake_wecom.py), exercised over real HTTP with httpx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from channels.wecom.crypto import WeComCrypto, parse_xml
from testing.fake_wecom import (
    FakeWeComAPI,
    make_callback,
    make_event_xml,
    make_text_xml,
    make_verify_params,
)

CORP = "wwtestcorp0000001"
SECRET = "s3cret"
AGENT = 1000002
ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def _token(c: httpx.AsyncClient) -> str:
    r = await c.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET})
    body = r.json()
    assert r.status_code == 200 and body["errcode"] == 0, body
    return body["access_token"]


def _text(to: str, content: str = "hi") -> dict:
    return {"touser": to, "msgtype": "text", "agentid": AGENT, "text": {"content": content}}


@pytest.mark.asyncio
async def test_token_and_send() -> None:
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET) as api:
        assert api.base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            r = await c.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET})
            body = r.json()
            assert body["errcode"] == 0 and body["errmsg"] == "ok" and body["expires_in"] == 7200
            token = body["access_token"]
            assert api.token_requests == 1
            # Same token while valid, like the real API.
            assert await _token(c) == token and api.token_requests == 2

            r = await c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("zhangsan|lisi", "督办提醒"))
            body = r.json()
            assert body["errcode"] == 0 and body["errmsg"] == "ok" and body["msgid"]
            assert body["invaliduser"] == ""
            [rec] = api.sent
            assert rec["touser"] == "zhangsan|lisi" and rec["msgtype"] == "text" and rec["content"] == "督办提醒"
            assert rec["msgid"] == body["msgid"] and rec["agentid"] == AGENT and rec["time"] > 0


@pytest.mark.asyncio
async def test_bad_credentials() -> None:
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            bad = await c.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": "nope"})
            assert bad.json()["errcode"] == 40001 and "access_token" not in bad.json()
            assert (await c.get("/cgi-bin/gettoken", params={"corpid": "wwother", "corpsecret": SECRET})).json()[
                "errcode"
            ] == 40013
            assert (await c.get("/cgi-bin/gettoken", params={"corpid": CORP})).json()["errcode"] == 41004
            r = await c.post("/cgi-bin/message/send", params={"access_token": "made-up"}, json=_text("a"))
            assert r.json()["errcode"] == 40014
            r = await c.post("/cgi-bin/message/send", json=_text("a"))
            assert r.json()["errcode"] == 41001
            assert api.sent == []


@pytest.mark.asyncio
async def test_payload_shapes() -> None:
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            token = await _token(c)
            q = {"access_token": token}
            up = await c.post(
                "/cgi-bin/media/upload",
                params={**q, "type": "file"},
                files={"media": ("周报.xlsx", b"PK\x03\x04fake", "application/octet-stream")},
            )
            upb = up.json()
            assert upb["errcode"] == 0 and upb["type"] == "file" and upb["media_id"] and upb["created_at"].isdigit()
            assert api.uploads[upb["media_id"]]["filename"] == "周报.xlsx"
            img = (await c.post("/cgi-bin/media/upload", params={**q, "type": "image"}, files={"media": ("a.png", b"\x89PNG..")})).json()
            ok_payloads = [
                {"touser": "u1", "msgtype": "markdown", "agentid": AGENT, "markdown": {"content": "**逾期** 2 项"}},
                {"touser": "u1", "msgtype": "textcard", "agentid": AGENT,
                 "textcard": {"title": "t", "description": "d", "url": "https://example.invalid/x", "btntxt": "详情"}},
                {"touser": "u1", "msgtype": "template_card", "agentid": AGENT,
                 "template_card": {"card_type": "button_interaction", "main_title": {"title": "t"}, "task_id": "t1",
                                   "button_list": [{"text": "完成", "key": "done"}]}},
                {"touser": "u1", "msgtype": "image", "agentid": str(AGENT), "image": {"media_id": img["media_id"]}},
                {"toparty": "2", "msgtype": "file", "agentid": AGENT, "file": {"media_id": upb["media_id"]}},
            ]
            for p in ok_payloads:
                body = (await c.post("/cgi-bin/message/send", params=q, json=p)).json()
                assert body["errcode"] == 0, (p["msgtype"], body)
                if p["msgtype"] == "template_card":
                    assert body["response_code"]
            assert [s["msgtype"] for s in api.sent] == ["markdown", "textcard", "template_card", "image", "file"]
            assert api.sent[0]["content"] == "**逾期** 2 项"
            assert api.sent[1]["content"]["title"] == "t"
            assert api.sent[4]["content"] == upb["media_id"] and api.sent[4]["toparty"] == "2"

            bad = [
                ({"touser": "u1", "msgtype": "video", "agentid": AGENT, "video": {}}, 40008),
                ({"touser": "u1", "msgtype": "text", "text": {"content": "x"}}, 41011),
                ({"touser": "u1", "msgtype": "text", "agentid": 1, "text": {"content": "x"}}, 40056),
                ({"msgtype": "text", "agentid": AGENT, "text": {"content": "x"}}, 40035),
                ({"touser": "u1", "msgtype": "text", "agentid": AGENT, "text": {"content": ""}}, 44004),
                ({"touser": "u1", "msgtype": "image", "agentid": AGENT, "image": {"media_id": "nope"}}, 40007),
                ({"touser": "u1", "msgtype": "template_card", "agentid": AGENT, "template_card": {"card_type": "x"}}, 40035),
            ]
            for p, code in bad:
                assert (await c.post("/cgi-bin/message/send", params=q, json=p)).json()["errcode"] == code, p
            r = await c.post("/cgi-bin/message/send", params=q, content=b"{not json")
            assert r.json()["errcode"] == 47001
            r = await c.post("/cgi-bin/media/upload", params={**q, "type": "pdf"}, files={"media": ("a", b"x")})
            assert r.json()["errcode"] == 40004
            assert len(api.sent) == 5


@pytest.mark.asyncio
async def test_expire_token() -> None:
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            old = await _token(c)
            api.expire_token()
            r = await c.post("/cgi-bin/message/send", params={"access_token": old}, json=_text("u1"))
            assert r.json()["errcode"] == 42001
            new = await _token(c)
            assert new != old and api.token_requests == 2
            r = await c.post("/cgi-bin/message/send", params={"access_token": new}, json=_text("u1"))
            assert r.json()["errcode"] == 0
            assert (await c.post("/cgi-bin/message/send", params={"access_token": old}, json=_text("u1"))).json()[
                "errcode"
            ] == 42001


@pytest.mark.asyncio
async def test_token_ttl_by_clock() -> None:
    clock = FakeClock()
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, clock=clock) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            token = await _token(c)
            clock.t += 7000
            r = await c.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET})
            assert r.json()["access_token"] == token and r.json()["expires_in"] == 200
            clock.t += 200
            r = await c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1"))
            assert r.json()["errcode"] == 42001
            assert await _token(c) != token


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [40014, 45009])
async def test_fail_next(code: int) -> None:
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            token = await _token(c)
            api.fail_next(errcode=code)
            r = await c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1"))
            body = r.json()
            assert body["errcode"] == code and "msgid" not in body
            assert api.sent == []
            # One failure only; the same token keeps working.
            r = await c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1"))
            assert r.json()["errcode"] == 0 and len(api.sent) == 1
            # Robot sends can be failed too ("send" covers both).
            api.fail_next(errcode=code)
            r = await c.post("/cgi-bin/webhook/send", params={"key": "k"}, json={"msgtype": "text", "text": {"content": "x"}})
            assert r.json()["errcode"] == code and api.robot_sent == []
            # Endpoint-specific injection leaves other endpoints alone.
            api.fail_next(errcode=code, endpoint="webhook")
            assert (await c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1"))).json()[
                "errcode"
            ] == 0
            assert [x["errcode"] for x in api.requests[-1:]] == [0]


@pytest.mark.asyncio
async def test_user_rate_limit() -> None:
    clock = FakeClock()
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, clock=clock) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            q = {"access_token": await _token(c)}
            for i in range(30):
                assert (await c.post("/cgi-bin/message/send", params=q, json=_text("u1", f"m{i}"))).json()["errcode"] == 0
            r = await c.post("/cgi-bin/message/send", params=q, json=_text("u1", "m30"))
            assert r.json()["errcode"] == 45009
            r = await c.post("/cgi-bin/message/send", params=q, json=_text("u2|u1", "both"))
            assert r.json()["errcode"] == 45009  # whole request refused if any recipient is over
            assert (await c.post("/cgi-bin/message/send", params=q, json=_text("u2"))).json()["errcode"] == 0
            assert len(api.sent) == 31
            clock.t += 60  # window slides
            assert (await c.post("/cgi-bin/message/send", params=q, json=_text("u1"))).json()["errcode"] == 0


@pytest.mark.asyncio
async def test_robot_rate_limit_and_keys() -> None:
    clock = FakeClock()
    async with FakeWeComAPI(corp_id=CORP, secret=SECRET, robot_keys={"k1", "k2"}, clock=clock) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as c:
            msg = {"msgtype": "markdown", "markdown": {"content": "今日逾期 **3** 项"}}
            for _ in range(20):
                assert (await c.post("/cgi-bin/webhook/send", params={"key": "k1"}, json=msg)).json() == {
                    "errcode": 0,
                    "errmsg": "ok",
                }
            assert (await c.post("/cgi-bin/webhook/send", params={"key": "k1"}, json=msg)).json()["errcode"] == 45009
            assert (await c.post("/cgi-bin/webhook/send", params={"key": "k2"}, json=msg)).json()["errcode"] == 0
            assert (await c.post("/cgi-bin/webhook/send", params={"key": "zz"}, json=msg)).json()["errcode"] == 93000
            assert len(api.robot_sent) == 21
            assert api.robot_sent[0] == {**api.robot_sent[0], "key": "k1", "msgtype": "markdown", "content": "今日逾期 **3** 项"}
            clock.t += 59.9
            assert (await c.post("/cgi-bin/webhook/send", params={"key": "k1"}, json=msg)).json()["errcode"] == 45009
            clock.t += 0.1
            assert (await c.post("/cgi-bin/webhook/send", params={"key": "k1"}, json=msg)).json()["errcode"] == 0
            up = await c.post(
                "/cgi-bin/webhook/upload_media", params={"key": "k1", "type": "file"}, files={"media": ("r.txt", b"data")}
            )
            assert up.json()["errcode"] == 0 and api.uploads[up.json()["media_id"]]["scope"] == "robot"


def test_threaded_sync_usage() -> None:
    api = FakeWeComAPI(corp_id=CORP, secret=SECRET)
    url = api.start_in_thread()
    try:
        with httpx.Client(base_url=url) as c:
            token = c.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET}).json()["access_token"]
            api.fail_next(errcode=45009)
            assert c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1")).json()["errcode"] == 45009
            assert c.post("/cgi-bin/message/send", params={"access_token": token}, json=_text("u1")).json()["errcode"] == 0
            assert api.sent[-1]["touser"] == "u1"
    finally:
        api.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/cgi-bin/gettoken", timeout=2)
    with FakeWeComAPI(corp_id=CORP, secret=SECRET) as api2:
        assert httpx.get(api2.base_url + "/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET}).json()[
            "errcode"
        ] == 0


@pytest.mark.slow
def test_standalone_process() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "testing.fake_wecom", "--corp-id", CORP, "--secret", SECRET],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proc:
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["base_url"]
            r = httpx.get(url + "/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET}, timeout=5)
            assert r.json()["errcode"] == 0
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


def test_make_callback_roundtrip() -> None:
    crypto = WeComCrypto("tok", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", CORP)
    inner = make_text_xml(CORP, "zhangsan", "查询 逾期 ]]> 事项", AGENT, msg_id=1, create_time=1700000000)
    params, body = make_callback(crypto, inner, 1700000000, "1372623149")
    assert set(params) == {"msg_signature", "timestamp", "nonce"}
    outer = parse_xml(body)
    assert outer["ToUserName"] == CORP and outer["AgentID"] == str(AGENT) and outer["Encrypt"]
    plain = crypto.decrypt_message(params["msg_signature"], params["timestamp"], params["nonce"], body)
    assert plain == inner
    fields = parse_xml(plain)
    assert fields["Content"] == "查询 逾期 ]]> 事项" and fields["FromUserName"] == "zhangsan"

    ev = make_event_xml(CORP, "lisi", "click", AGENT, event_key="menu_todo")
    p2, b2 = make_callback(crypto, ev, "1700000001", "n2")
    f2 = parse_xml(crypto.decrypt_message(p2["msg_signature"], p2["timestamp"], p2["nonce"], b2))
    assert f2["Event"] == "click" and f2["EventKey"] == "menu_todo"

    vp = make_verify_params(crypto, "1616140317555161061", 1700000000, "263014780")
    # Through a real URL encoding round trip, as the HTTP layer would see it.
    decoded = dict(httpx.URL("http://x/cb", params=vp).params)
    assert crypto.verify_url(decoded["msg_signature"], decoded["timestamp"], decoded["nonce"], decoded["echostr"]) == (
        "1616140317555161061"
    )
