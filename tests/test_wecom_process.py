"""End to end: ``python run.py serve`` as a real process, driven through /wecom/callback with
httpx, answering through the fake WeCom API over real HTTP (token expiry, 40014 once, 45009
once, WeCom's 5-second retry of the same callback). Asserts on what the fake received and
on the SQLite database."""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.models import ChatIdentity, InboundSeen, Team
from channels.wecom.crypto import WeComCrypto
from testing.fake_wecom import (
    FakeWeComAPI,
    make_callback,
    make_text_xml,
    make_verify_params,
)
from tests.wecom_helpers import (
    AES_KEY,
    AGENT,
    CORP,
    ROBOT_KEY,
    SECRET,
    TOKEN,
    db_snapshot,
    texts,
)

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bot:
    def __init__(self, tmp_path: Path, api: FakeWeComAPI) -> None:
        self.api = api
        self.db = tmp_path / "duban.sqlite3"
        self.config = tmp_path / "config.yaml"
        self.config.write_text(yaml.safe_dump({
            "database": {"url": f"sqlite:///{self.db}"},
            "data": {"out_dir": str(tmp_path / "out")},
            "wecom": {"corp_id": CORP, "agent_id": AGENT, "api_base": api.base_url,
                      "max_timestamp_skew_s": 300, "team_robots": {"xm1": ROBOT_KEY}},
        }, allow_unicode=True), encoding="utf-8")
        self.env = dict(os.environ, WECOM_SECRET=SECRET, WECOM_TOKEN=TOKEN, WECOM_ENCODING_AES_KEY=AES_KEY,
                        PYTHONUNBUFFERED="1")
        self.crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/wecom/callback"
        self.nonce = 100

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "run.py", "--config", str(self.config), *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "run.py", "--config", str(self.config), "serve", "--port", str(self.port),
             "--now", "2025-07-15T09:00"], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue = queue.Queue()
        self.output: list[str] = []

        def pump() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.output.append(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.output)
                continue
            if line.startswith("serving on"):
                assert "wecom" in line, line
                return
        raise AssertionError("serve did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def callback(self, inner: str, timestamp: int | None = None) -> tuple[dict, bytes]:
        self.nonce += 1
        return make_callback(self.crypto, inner, int(time.time()) if timestamp is None else timestamp,
                             str(self.nonce))

    def post(self, http: httpx.Client, inner: str) -> httpx.Response:
        params, body = self.callback(inner)
        return http.post(self.url, params=params, content=body)

    def wait_sent(self, count: int) -> list[dict]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if len(self.api.sent) >= count:
                time.sleep(0.3)  # let any (unwanted) extra message arrive too
                return list(self.api.sent)
            assert self.proc.poll() is None, "".join(self.output)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, fake got {len(self.api.sent)}:\n"
                             + texts(self.api.sent) + "\n" + "".join(self.output[-30:]))


pytestmark = pytest.mark.slow  # the bot as a real process (run.py) against fake servers


@pytest.fixture
def bot(tmp_path):
    api = FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT, robot_keys={ROBOT_KEY})
    api.start_in_thread()
    bot = Bot(tmp_path, api)
    result = bot.run("import", "data/diaozhuang-2025.yaml", "data/demo-people.yaml")
    assert result.returncode == 0, result.stderr
    bot.start()
    yield bot
    bot.stop()
    api.stop()


def _db(bot: Bot):
    return create_engine(f"sqlite:///{bot.db}")


def test_wecom_conversation_end_to_end(bot):
    msg_ids = iter(range(9_100_000_000_000_000_001, 9_200_000_000_000_000_000))

    def text(user: str, content: str, msg_id: int | None = None) -> str:
        return make_text_xml(CORP, user, content, AGENT, msg_id=msg_id or next(msg_ids))

    with httpx.Client(timeout=10) as http:
        # WeCom's URL verification
        params = make_verify_params(bot.crypto, "verify-echo-42", int(time.time()), "9")
        response = http.get(bot.url, params=params)
        assert (response.status_code, response.text) == (200, "verify-echo-42")

        # an unknown member is told how to register
        assert bot.post(http, text("chenzr", "财政收入多少")).status_code == 200
        sent = bot.wait_sent(1)
        assert sent[0]["touser"] == "chenzr" and "还没有绑定身份" in sent[0]["content"]
        assert bot.api.token_requests == 1

        # the token expires: refreshed, and the binding reply still arrives
        bot.api.expire_token()
        assert bot.post(http, text("chenzr", "/start DEMOCHEN")).status_code == 200
        sent = bot.wait_sent(2)
        assert "绑定成功:陈主任" in sent[1]["content"]
        assert bot.api.token_requests == 2

        # 40014 once: refreshed once more and retried
        bot.api.fail_next(40014, endpoint="message")
        bot.post(http, text("chenzr", "纳图电气进展"))
        sent = bot.wait_sent(3)
        assert "纳图电气" in texts(sent[2:])
        assert bot.api.token_requests == 3

        # 45009 once: backs off and retries
        bot.api.fail_next(45009, endpoint="message")
        before = len(bot.api.sent)
        bot.post(http, text("chenzr", "/due 200"))
        sent = bot.wait_sent(before + 1)
        assert any(r["errcode"] == 45009 for r in bot.api.requests)

        # WeCom got no answer within 5 s and sends the same message again (same MsgId, new
        # nonce and signature), while it is being handled and after: answered once
        before = len(bot.api.sent)
        inner = text("chenzr", "财政收入多少", msg_id=9_999_000_000_000_000_001)
        first, again = bot.post(http, inner), bot.post(http, inner)
        assert first.status_code == again.status_code == 200 and first.text == again.text == ""
        sent = bot.wait_sent(before + 1)
        assert bot.post(http, inner).status_code == 200
        time.sleep(1.0)
        answered = bot.api.sent[before:]
        assert len(answered) == 1 and "一般公共预算收入" in texts(answered), texts(answered)

        # a forged callback is refused and changes nothing
        engine = _db(bot)
        snapshot = db_snapshot_engine(engine)
        params, body = bot.callback(text("intruder", "/start DEMOWXM1"))
        response = http.post(bot.url, params=dict(params, msg_signature="0" * 40), content=body)
        assert response.status_code == 403
        time.sleep(0.5)
        assert db_snapshot_engine(engine) == snapshot

    with Session(engine) as session:
        identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == "wecom"))
        assert (identity.external_user_id, identity.person.name) == ("chenzr", "陈主任")
        assert session.scalar(select(func.count()).select_from(InboundSeen).where(
            InboundSeen.external_id == "wecom:msg:9999000000000000001")) == 1
        # config's team_robots was written into the team at start-up
        assert session.scalar(select(Team.robot_key).where(Team.code == "xm1")) == ROBOT_KEY
    engine.dispose()


def db_snapshot_engine(engine) -> dict:
    class _App:
        from sqlalchemy.orm import sessionmaker
        sessions = sessionmaker(engine)
    return db_snapshot(_App)  # type: ignore[arg-type]
