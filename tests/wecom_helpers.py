"""Shared helpers for the WeCom channel tests (in-process harness over real HTTP)."""
from __future__ import annotations

import base64
import itertools
import time
from typing import Optional

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import Duban
from bot.models import (
    AuditEntry,
    ChatIdentity,
    Conversation,
    InboundSeen,
    Invite,
    TaskUpdate,
)
from channels.server import build_web_app
from channels.wecom.callback import CHANNEL_KEY
from channels.wecom.crypto import WeComCrypto
from testing.fake_wecom import (
    FakeWeComAPI,
    make_callback,
    make_event_xml,
    make_text_xml,
)

CORP = "wwtestcorp0000001"
AGENT = 1000002
SECRET = "app-secret-123"
TOKEN = "cbtoken123"
AES_KEY = base64.b64encode(bytes(range(32))).decode()[:43]
ROBOT_KEY = "robot-key-xm1-0001"

_msg_ids = itertools.count(7_000_000_000_000_000_001)


def wecom_section(api_base: str, **extra) -> dict:
    section = dict(corp_id=CORP, agent_id=AGENT, secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
                   api_base=api_base, max_timestamp_skew_s=300)
    section.update(extra)
    return section


def db_snapshot(app: Duban) -> dict:
    """Row counts a refused callback must leave as they were."""
    with app.sessions() as session:
        counts = {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                  for model in (InboundSeen, ChatIdentity, Conversation, AuditEntry, TaskUpdate)}
        counts["invites_used"] = session.scalar(
            select(func.count()).select_from(Invite).where(Invite.used_at.is_not(None)))
    return counts


class Harness:
    """The bot's aiohttp app (build_web_app) on a TestServer, talking to a FakeWeComAPI."""

    def __init__(self, app: Duban, api: FakeWeComAPI) -> None:
        self.app = app
        self.api = api
        self.crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
        self.nonces = itertools.count(1000)

    async def __aenter__(self) -> Harness:
        self.web_app, self.installed = build_web_app(self.app)
        self.channel = self.web_app[CHANNEL_KEY]
        self.channel.notifier.client.backoff_s = 0.01
        self.client = TestClient(TestServer(self.web_app))
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.close()

    async def post_inner(self, inner: str, *, timestamp: Optional[int] = None, crypto: Optional[WeComCrypto] = None):
        ts = int(time.time()) if timestamp is None else timestamp
        params, body = make_callback(crypto or self.crypto, inner, ts, str(next(self.nonces)))
        return await self.client.post("/wecom/callback", params=params, data=body)

    async def post_raw(self, params: dict, body: bytes):
        return await self.client.post("/wecom/callback", params=params, data=body)

    def text_xml(self, user: str, text: str, msg_id: Optional[int] = None) -> str:
        return make_text_xml(CORP, user, text, AGENT, msg_id=next(_msg_ids) if msg_id is None else msg_id)

    def event_xml(self, user: str, event: str, key: str = "", **extra: str) -> str:
        xml = make_event_xml(CORP, user, event, AGENT, event_key=key)
        more = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
        return xml.replace("</xml>", more + "</xml>")

    async def say(self, user: str, text: str, msg_id: Optional[int] = None) -> list[dict]:
        """Send a text message as ``user``; the app messages the fake received for it."""
        before = len(self.api.sent)
        response = await self.post_inner(self.text_xml(user, text, msg_id))
        assert response.status == 200, await response.text()
        assert await response.text() == ""
        await self.channel.drain()
        return [m for m in self.api.sent[before:] if m["touser"] == user]

    async def event(self, user: str, event: str, key: str = "", **extra: str) -> list[dict]:
        before = len(self.api.sent)
        response = await self.post_inner(self.event_xml(user, event, key, **extra))
        assert response.status == 200, await response.text()
        await self.channel.drain()
        return [m for m in self.api.sent[before:] if m["touser"] == user]


def texts(messages: list[dict]) -> str:
    """What the member sees, as text (cards shown as title + buttons)."""
    out = []
    for m in messages:
        if m["msgtype"] in ("text", "markdown"):
            out.append(m["content"])
        elif m["msgtype"] == "template_card":
            card = m["content"]
            line = card["main_title"]["title"]
            if card.get("sub_title_text"):
                line += "\n" + card["sub_title_text"]
            line += "\n" + " ".join(f"[{b['text']}]" for b in card.get("button_list", []))
            out.append(line)
        else:
            out.append(f"<{m['msgtype']}>")
    return "\n".join(out)


def card_buttons(messages: list[dict]) -> list[dict]:
    return [b for m in messages if m["msgtype"] == "template_card" for b in m["content"]["button_list"]]
