"""``python run.py telegram`` as a real process, long-polling the fake Bot API over HTTP: one
full session as a cadre and one as a leader, checked on what was sent and what the database
holds. Run with ``-s`` to see the transcript."""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.config import PROJECT_ROOT
from bot.models import Task, TaskUpdate
from testing.fake_telegram import FakeTelegramAPI

TOKEN = "123:ABC"
WANG, CHEN = 1001, 1002


def png_bytes(width: int = 32, height: int = 24) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x40" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Session_:
    """Drives one user through the fake and keeps a transcript."""

    def __init__(self, fake: FakeTelegramAPI, user_id: int, name: str, transcript: list[str]) -> None:
        self.fake, self.user_id, self.name, self.transcript = fake, user_id, name, transcript

    def _wait(self, push, n: int = 1) -> list[dict]:
        before = len(self.fake._matching_sent(None, self.user_id))
        push()
        sent = self.fake.wait_for_sent_sync(before + n, chat_id=self.user_id, timeout=15)[before:]
        for record in sent:
            tag = "(改写上一条) " if record["method"] == "editMessageText" else ""
            self.transcript.append(f"🤖 {tag}{record.get('text') or record.get('caption')}")
            rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
            if rows:
                self.transcript.append("   按钮:" + " | ".join(b["text"] for row in rows for b in row))
        return sent

    def say(self, text: str) -> list[dict]:
        self.transcript.append(f"👤 {self.name}:{text}")
        return self._wait(lambda: self.fake.push_text(self.user_id, text))

    def photo(self, caption: str, data: bytes) -> list[dict]:
        self.transcript.append(f"👤 {self.name}:[照片] {caption}")
        return self._wait(lambda: self.fake.push_photo(self.user_id, caption=caption, file_bytes=data))

    def press(self, sent: list[dict], label: str) -> list[dict]:
        for record in sent:
            for row in (record.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        self.transcript.append(f"👤 {self.name}:[按下“{button['text']}”]")
                        return self._wait(lambda data=button["callback_data"]:
                                          self.fake.push_callback(self.user_id, data))
        raise AssertionError(f"no button {label!r}")


def text_of(sent: list[dict]) -> str:
    return "\n".join(s.get("text") or "" for s in sent)


pytestmark = pytest.mark.slow  # the bot as a real process (run.py) against fake servers


@pytest.fixture
def bot_process(tmp_path):
    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False).start_in_thread()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'duban.sqlite3'}'}}\n"
        f"data: {{out_dir: '{tmp_path / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', poll_timeout: 1}}\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    python = sys.executable
    subprocess.run([python, "run.py", "--config", str(config), "import", "data/diaozhuang-2025.yaml",
                    "data/demo-people.yaml"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    process = subprocess.Popen([python, "run.py", "--config", str(config), "telegram", "--now", "2025-07-15T09:00"],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert "telegram bot ready @duban_bot" in line, process.stderr.read() if process.poll() is not None else line
        yield fake, tmp_path, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        fake.stop()


def test_cadre_and_leader_sessions_through_the_bot_process(bot_process):
    fake, tmp_path, process = bot_process
    transcript: list[str] = ["—— 干部 王干部 ——"]
    assert {c["command"] for c in fake.commands} >= {"start", "update", "tasks"}

    cadre = Session_(fake, WANG, "王干部", transcript)
    assert "绑定成功:王干部" in text_of(cadre.say("/start DEMOWXM1"))
    assert "纳图电气" in text_of(cadre.say("/tasks mine"))
    first = cadre.say("/update 纳图电气 65% 主体厂房封顶 🎉")
    assert "✅ 已记录" in text_of(first)
    sent = cadre.say("报进展")
    sent = cadre.press(sent, "纳图电气")
    assert "上次:65%" in text_of(sent)
    cadre.say("80%")
    photo = png_bytes()
    sent = cadre.photo("设备进场安装 🏗️", photo)
    assert "照片:1张" in text_of(sent)
    assert "✅ 已记录" in text_of(cadre.press(sent, "确定提交"))
    card = text_of(cadre.say("纳图电气"))
    assert "进度:80%" in card and "📷" in card

    # a redelivered update (same update_id) changes nothing and is not answered
    first_update = next(uid for uid, u in fake.pushed.items()
                        if (u.get("message") or {}).get("text", "").startswith("/update 纳图电气 65%"))
    fake.push_raw(fake.pushed[first_update])

    transcript.append("—— 领导 陈主任 ——")
    leader = Session_(fake, CHEN, "陈主任", transcript)
    assert "绑定成功:陈主任" in text_of(leader.say("/start DEMOCHEN"))
    assert "一般公共预算收入" in text_of(leader.say("财政收入"))
    sent = leader.say("/tasks")
    assert "第1/12页" in text_of(sent)
    page2 = leader.press(sent, "下一页")
    assert page2[0]["method"] == "editMessageText" and "第2/12页" in page2[0]["text"]
    task = leader.press(page2, "🔴")  # the year-end targets nobody reported: red
    assert "专班:" in text_of(task)
    assert "领导账号只能查看" in text_of(leader.say("/update 纳图电气 90%"))
    print("\n" + "\n".join(transcript))

    engine = create_engine(f"sqlite:///{tmp_path / 'duban.sqlite3'}")
    with Session(engine) as session:
        updates = session.scalars(select(TaskUpdate).order_by(TaskUpdate.id)).all()
        assert [u.progress for u in updates] == [65, 80]
        assert updates[1].photo_file_id and Path(updates[1].photo_path).read_bytes() == photo
        assert session.scalar(select(Task).where(Task.name == "纳图电气")).progress == 80
    engine.dispose()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert "Traceback" not in process.stderr.read()


def test_telegram_help_and_missing_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    shown = subprocess.run([sys.executable, "run.py", "telegram", "--help"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True)
    assert shown.returncode == 0
    for words in ("TELEGRAM_BOT_TOKEN", "telegram.token", "base_url", "邀请码", "webhook_secret", "反向代理"):
        assert words in shown.stdout
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'd.sqlite3'}'}}\n", encoding="utf-8")
    missing = subprocess.run([sys.executable, "run.py", "--config", str(config), "telegram"], cwd=PROJECT_ROOT,
                             env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "TELEGRAM_BOT_TOKEN" in missing.stderr


def test_polling_process_also_pushes_reminders(tmp_path):
    """`python run.py telegram` alone (no `serve`) runs the reminder jobs and sends through
    the bot: 李组长's team has a target due 2025-12-31, so on Fri 12-26 (T-3 working days)
    he gets the deadline reminder in his Telegram chat, once."""
    from bot.clock import FixedClock, parse_now
    from bot.composition import build_app
    from bot.config import load_config
    from bot.models import Person
    from bot.services.people import bind_identity

    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False).start_in_thread()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'duban.sqlite3'}'}}\n"
        f"data: {{out_dir: '{tmp_path / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', poll_timeout: 1}}\n"
        "reminders: {tick_seconds: 1, deliver_seconds: 1}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    subprocess.run([sys.executable, "run.py", "--config", str(config), "import", "data/diaozhuang-2025.yaml",
                    "data/demo-people.yaml"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    duban = build_app(load_config(config, environ={}), FixedClock(parse_now("2025-12-26T09:00")))
    with duban.sessions.begin() as session:
        lead = session.scalar(select(Person).where(Person.name == "李组长"))
        bind_identity(session, duban.clock.now(), lead, "telegram", "3001", "3001", "李组长")
    duban.engine.dispose()
    process = subprocess.Popen([sys.executable, "run.py", "--config", str(config), "telegram",
                                "--now", "2025-12-26T09:05"], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "telegram bot ready" in process.stdout.readline()
        sent = fake.wait_for_sent_sync(2, timeout=20, chat_id=3001)
        texts = [s["text"] or "" for s in sent]
        # started at 09:05: the 08:30 digest is caught up (marked 补发), then the 09:00 reminder
        assert texts[0].startswith("(补发)📋 项目一专班今日督办(12月26日)"), texts
        reminder = next(s for s in sent if "到期提醒" in (s["text"] or ""))
        assert "还有3个工作日到期" in reminder["text"] and "中德电力装备产业园" in reminder["text"]
        assert sent
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        fake.stop()
    assert [s["text"] for s in fake.sent if s["chat_id"] == 3001].count(reminder["text"]) == 1
