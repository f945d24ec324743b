"""The Telegram channel in-process: real python-telegram-bot long-polling the fake Bot API over
real HTTP, real handlers, a real SQLite file. Updates go in in Telegram's JSON shape; the tests
assert on what the bot sent back and on what the database holds."""
from __future__ import annotations

import logging
import socket
import struct
import zlib
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import ClientSession, web
from sqlalchemy import func, select

from bot.messages import Button, Reply
from bot.models import ChatIdentity, GroupBinding, Person, Task, TaskUpdate
from bot.notify import DeliveryError
from bot.services.people import bind_identity
from channels.server import NOTIFIERS_KEY, build_web_app
from channels.telegram.bot import EDITED_REPLY, TelegramBot, split_text, utf16_units
from channels.telegram.notifier import TelegramNotifier
from testing.fake_telegram import FakeTelegramAPI, RateLimits

TOKEN = "123:ABC"
ZHANG, WANG, CHEN, ZHAO, STRANGER = 9000, 1001, 1002, 1003, 1999
GROUP_ID = -1001234567890


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x7f" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Harness:
    """The fake server plus the running bot. ``await h.send(push)`` pushes one update and
    returns exactly what the bot sent for it (a sentinel message marks the end)."""

    def __init__(self, fake: FakeTelegramAPI, duban) -> None:
        self.fake = fake
        self.duban = duban
        self.channel = TelegramBot(duban)
        self.application = None

    async def start(self) -> None:
        self.application = self.channel.build_application()
        await self.channel.start(self.application)

    async def stop(self) -> None:
        await self.channel.stop(self.application)

    async def settle(self) -> None:
        before = len(self.fake._matching_sent(None, ZHANG))
        self.fake.push_text(ZHANG, "/whoami")
        await self.fake.wait_for_sent(before + 1, chat_id=ZHANG, timeout=10)

    async def send(self, push) -> list[dict]:
        start = len(self.fake.sent)
        update_id = push()
        await self.settle()
        self.last_update_id = update_id
        return [s for s in self.fake.sent[start:] if not (s.get("chat_id") == ZHANG and (s.get("text") or "").startswith("张主任:"))]

    async def say(self, user_id: int, text: str, **kwargs) -> list[dict]:
        return await self.send(lambda: self.fake.push_text(user_id, text, **kwargs))

    async def press(self, user_id: int, data: str, **kwargs) -> list[dict]:
        return await self.send(lambda: self.fake.push_callback(user_id, data, **kwargs))

    def db(self):
        return self.duban.sessions.begin()


def texts(sent: list[dict]) -> str:
    return "\n".join(s.get("text") or s.get("caption") or "" for s in sent)


def buttons(sent: list[dict]) -> dict[str, str]:
    out = {}
    for record in sent:
        for row in (record.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                out[button["text"]] = button["callback_data"]
    return out


def button(sent: list[dict], label: str) -> str:
    found = {k: v for k, v in buttons(sent).items() if label in k}
    assert found, f"no button {label!r} in {list(buttons(sent))}"
    return next(iter(found.values()))


def update_count(h: Harness) -> int:
    with h.db() as session:
        return session.scalar(select(func.count()).select_from(TaskUpdate))


@pytest_asyncio.fixture
async def h(sqlite_app):
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False) as fake:
        sqlite_app.config.telegram.token = TOKEN
        sqlite_app.config.telegram.base_url = f"{fake.base_url}/bot"
        # one update at a time, so the sentinel in Harness.settle marks the end of the previous
        sqlite_app.config.telegram.concurrent_chats = 1
        with sqlite_app.sessions.begin() as session:
            zhang = session.scalar(select(Person).where(Person.name == "张主任"))
            bind_identity(session, sqlite_app.clock.now(), zhang, "telegram", str(ZHANG), str(ZHANG), "张主任")
        harness = Harness(fake, sqlite_app)
        await harness.start()
        try:
            yield harness
        finally:
            await harness.stop()


async def bind(h: Harness, user_id: int, code: str) -> None:
    sent = await h.say(user_id, f"/start {code}")
    assert "绑定成功" in texts(sent)


# ------------------------------------------------------------------ invite and menu


@pytest.mark.asyncio
async def test_command_menu_and_invite_flow(h):
    names = [c["command"] for c in h.fake.commands]
    assert {"start", "help", "tasks", "update", "due"} <= set(names)
    assert "invite" not in names and "cancel" not in names

    assert "请向管理员要邀请码" in texts(await h.say(STRANGER, "财政收入 📊"))
    assert "邀请码不对" in texts(await h.say(STRANGER, "/start NOPE1234"))
    sent = await h.say(WANG, "/start DEMOWXM1", first_name="小王")
    assert sent[0]["chat_id"] == WANG
    assert "绑定成功:王干部(干部,项目一专班)" in sent[0]["text"]
    with h.db() as session:
        identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == "telegram",
                                                             ChatIdentity.external_user_id == str(WANG)))
        assert identity.person.name == "王干部" and identity.chat_id == str(WANG)
    assert "已经用过" in texts(await h.say(STRANGER, "/start DEMOWXM1"))
    assert "王干部:干部" in texts(await h.say(WANG, "/whoami"))


# ------------------------------------------------------------------ leader


@pytest.mark.asyncio
async def test_leader_query_list_buttons_and_pages(h):
    await bind(h, CHEN, "DEMOCHEN")
    sent = await h.say(CHEN, "财政收入")
    assert "一般公共预算收入" in texts(sent) and "3.5亿元" in texts(sent)
    assert "原文:预计半年度一般公共预算收入完成3.5亿元,同比增长18%" in texts(sent)
    sent = await h.say(CHEN, "规上产值")
    opened = await h.press(CHEN, button(await h.say(CHEN, "纠纷"), "矛盾纠纷调处成功率"))
    assert "99.2%" in texts(opened)
    assert h.fake.answered_callbacks[-1]["text"] is None

    sent = await h.say(CHEN, "/tasks")
    assert len(sent) == 1 and "全部事项(共94项,第1/12页)" in sent[0]["text"]
    data = buttons(sent)
    assert all(len(d.encode()) <= 64 for d in data.values())
    listing = sent

    # next page: the list message is edited in place, not sent again
    sent = await h.press(CHEN, button(sent, "下一页"))
    assert sent[0]["method"] == "editMessageText" and "第2/12页" in sent[0]["text"]
    # filter by light
    sent = await h.press(CHEN, button(listing, "只看红灯"))
    assert sent[0]["method"] == "editMessageText" and "红灯" in sent[0]["text"]
    # open a task from the list
    sent = await h.press(CHEN, data[next(k for k in data if "中德电力" in k)])
    assert "中德电力装备产业园" in texts(sent) and sent[0]["method"] == "sendMessage"


# ------------------------------------------------------------------ cadre


@pytest.mark.asyncio
async def test_one_line_update_is_logged_once_even_when_redelivered(h):
    await bind(h, WANG, "DEMOWXM1")
    sent = await h.say(WANG, "/update 纳图电气 65% 主体厂房封顶 🎉")
    assert "✅ 已记录:纳图电气 65%" in texts(sent) and "王干部 · 今天09:00 · 主体厂房封顶 🎉" in texts(sent)
    assert update_count(h) == 1
    update_id = h.last_update_id

    # Telegram delivers the same update again (e.g. after a crash before the offset was confirmed)
    sent = await h.send(lambda: h.fake.push_raw(h.fake.pushed[update_id]))
    assert sent == []
    assert update_count(h) == 1
    with h.db() as session:
        update = session.scalar(select(TaskUpdate))
        assert update.progress == 65 and update.channel == "telegram"
        assert update.source_ref == f"telegram:update:{update_id}"


@pytest.mark.asyncio
async def test_guided_update_with_photo_survives_restart(h):
    await bind(h, WANG, "DEMOWXM1")
    sent = await h.say(WANG, "报进展")
    assert "选一个事项" in texts(sent)
    sent = await h.press(WANG, button(sent, "纳图电气"))
    assert "纳图电气(上次:未报)" in texts(sent)
    assert "说明" in texts(await h.say(WANG, "65%"))

    # the bot restarts in the middle: the dialogue is in the database
    await h.stop()
    await h.start()

    photo = png_bytes()
    sent = await h.send(lambda: h.fake.push_photo(WANG, caption="主体厂房封顶,现场照片 📷", file_bytes=photo))
    summary = texts(sent)
    assert "请确认:📌 纳图电气" in summary and "照片:1张" in summary and "未报 → 65%" in summary
    sent = await h.press(WANG, button(sent, "确定提交"))
    assert "✅ 已记录" in texts(sent)
    with h.db() as session:
        update = session.scalar(select(TaskUpdate))
        assert update.progress == 65 and update.note == "主体厂房封顶,现场照片 📷"
        assert update.photo_file_id
        assert Path(update.photo_path).read_bytes() == photo
        assert Path(update.photo_path).parent == h.duban.out_dir.parent / "photos"
    assert "📷" in texts(await h.say(WANG, "纳图电气"))


@pytest.mark.asyncio
async def test_photo_with_update_caption_keeps_the_photo(h):
    await bind(h, WANG, "DEMOWXM1")
    photo = png_bytes(20, 10)
    sent = await h.send(lambda: h.fake.push_photo(WANG, caption="/update 纳图电气 70% 设备进场", file_bytes=photo))
    assert "✅ 已记录" in texts(sent) and "📷" in texts(sent)
    with h.db() as session:
        update = session.scalar(select(TaskUpdate))
        assert update.progress == 70 and update.note == "设备进场"
        assert Path(update.photo_path).read_bytes() == photo


@pytest.mark.asyncio
async def test_guided_update_can_be_cancelled(h):
    await bind(h, WANG, "DEMOWXM1")
    sent = await h.say(WANG, "报进展")
    await h.press(WANG, button(sent, "纳图电气"))
    await h.say(WANG, "80")
    assert "已取消,什么也没改" in texts(await h.say(WANG, "取消"))
    assert update_count(h) == 0
    # stale buttons of the finished dialogue expire politely
    sent = await h.press(WANG, button(h.fake.sent, "纳图电气"))
    assert "已过期" in texts(sent) and h.fake.answered_callbacks[-1]["text"] == "已过期"


@pytest.mark.asyncio
async def test_permission_refused_and_bad_input_change_nothing(h):
    await bind(h, ZHAO, "DEMOZZS2")
    sent = await h.say(ZHAO, "/update 纳图电气 50% 测试")
    assert texts(sent) == "“纳图电气”不属于你的专班,不能报进展。"
    await bind(h, WANG, "DEMOWXM1")
    sent = await h.say(WANG, "/update 纳图电气 150%")
    assert "✅" not in texts(sent)
    assert update_count(h) == 0
    assert "只有管理员可以这样做" in texts(await h.say(WANG, "/invite 赵干部"))
    await bind(h, CHEN, "DEMOCHEN")
    assert "领导账号只能查看" in texts(await h.say(CHEN, "/update 纳图电气 50%"))
    with h.db() as session:
        assert session.scalar(select(Task).where(Task.name == "纳图电气")).progress is None


@pytest.mark.asyncio
async def test_forged_and_malformed_button_data_expire(h):
    await bind(h, WANG, "DEMOWXM1")
    for data in ("t|1~aaaaaa", "u|1", "x" * 64, "t|1|" + "9" * 20 + "~zzzzzz"):
        sent = await h.press(WANG, data)
        assert "按钮已过期" in texts(sent)
        assert h.fake.answered_callbacks[-1]["text"] == "已过期"
    assert update_count(h) == 0


@pytest.mark.asyncio
async def test_edited_message_is_not_handled_again(h):
    await bind(h, WANG, "DEMOWXM1")
    await h.say(WANG, "/update 纳图电气 65% 封顶")
    sent = await h.send(lambda: h.fake.push_edited_text(WANG, "/update 纳图电气 70% 封顶"))
    assert texts(sent) == EDITED_REPLY
    with h.db() as session:
        assert session.scalar(select(Task).where(Task.name == "纳图电气")).progress == 65
    assert update_count(h) == 1


# ------------------------------------------------------------------ groups


@pytest.mark.asyncio
async def test_group_answers_only_commands_and_mentions_once_bound(h):
    await bind(h, WANG, "DEMOWXM1")
    group = dict(chat_id=GROUP_ID, chat_type="supergroup")
    assert await h.say(ZHANG, "财政收入", **group) == []
    assert await h.say(ZHANG, "/q@duban_bot 财政收入", **group) == []  # not bound yet
    assert "只有管理员可以这样做" in texts(await h.say(WANG, "/bindgroup@duban_bot 项目一专班", **group))
    with h.db() as session:
        assert session.scalar(select(func.count()).select_from(GroupBinding)) == 0

    sent = await h.say(ZHANG, "/bindgroup@duban_bot 项目一专班", **group)
    assert "本群已绑定到项目一专班" in texts(sent) and sent[0]["chat_id"] == GROUP_ID
    assert await h.say(WANG, "财政收入", **group) == []  # not addressed
    assert await h.say(WANG, "/q@other_bot 财政收入", **group) == []  # another bot's command
    assert await h.say(WANG, "@duban_bot2 财政收入", **group) == []  # another bot's mention
    assert "一般公共预算收入" in texts(await h.say(WANG, "/q@duban_bot 财政收入", **group))
    mention = [{"type": "mention", "offset": 3, "length": 10}]
    sent = await h.say(WANG, "请问 @duban_bot 财政收入 📈", entities=mention, **group)
    assert "一般公共预算收入" in texts(sent)


# ------------------------------------------------------------------ failures


@pytest.mark.asyncio
async def test_one_bad_update_does_not_stop_the_bot(h, caplog):
    await bind(h, WANG, "DEMOWXM1")
    h.fake.block(WANG)
    caplog.set_level(logging.WARNING)
    sent = await h.say(WANG, "财政收入")
    assert sent == []
    assert any(f"telegram update {h.last_update_id}" in r.getMessage() for r in caplog.records)
    # an update with a shape the bot does not handle, then normal service continues
    await h.send(lambda: h.fake.push_raw({"my_chat_member": {"chat": {"id": 5, "type": "private"}}}))
    await bind(h, CHEN, "DEMOCHEN")
    assert "一般公共预算收入" in texts(await h.say(CHEN, "财政收入"))


def test_split_text_on_line_boundaries_never_mid_character():
    line = "纳图电气 主体厂房封顶 🎉\n"
    text = line * 400
    parts = split_text(text)
    assert len(parts) > 1
    assert all(utf16_units(p) <= 4096 for p in parts)
    assert "\n".join(parts) + "\n" == text
    long_line = "🎉" * 3000  # 6000 UTF-16 units, no newline
    parts = split_text(long_line)
    assert "".join(parts) == long_line and all(utf16_units(p) <= 4096 for p in parts)


@pytest.mark.asyncio
async def test_notifier_splits_long_replies_and_maps_errors(h):
    notifier = TelegramNotifier(h.application.bot)
    lines = [f"{i:03d} 纳图电气 主体厂房封顶 进度65% 🎉" for i in range(300)]
    start = len(h.fake.sent)
    await notifier.send(str(WANG), Reply("\n".join(lines), buttons=[[Button("看", h.duban.sign("t", 1))]]))
    sent = h.fake.sent[start:]
    assert len(sent) >= 2 and "\n".join(s["text"] for s in sent) == "\n".join(lines)
    assert sent[-1]["reply_markup"] and not any(s.get("reply_markup") for s in sent[:-1])

    h.fake.block(CHEN)
    with pytest.raises(DeliveryError) as refused:
        await notifier.send(str(CHEN), Reply("提醒"))
    assert refused.value.permanent


@pytest.mark.asyncio
async def test_rate_limited_send_reports_retry_after(sqlite_app):
    limits = RateLimits(private_per_second=0.01, private_burst=1)
    async with FakeTelegramAPI(token=TOKEN, rate_limits=limits) as fake:
        sqlite_app.config.telegram.token = TOKEN
        sqlite_app.config.telegram.base_url = f"{fake.base_url}/bot"
        sqlite_app.config.telegram.max_retries = 0
        application = TelegramBot(sqlite_app).build_application(with_updater=False)
        async with application:
            notifier = TelegramNotifier(application.bot)
            await notifier.send("42", Reply("第一条"))
            with pytest.raises(DeliveryError) as flood:
                await notifier.send("42", Reply("第二条"))
            assert flood.value.retry_after and flood.value.retry_after >= 1 and not flood.value.permanent
        assert fake.sent_texts(42) == ["第一条"]


@pytest.mark.asyncio
async def test_rate_limiter_waits_out_retry_after_and_delivers(sqlite_app):
    limits = RateLimits(private_per_second=1.0, private_burst=1)
    async with FakeTelegramAPI(token=TOKEN, rate_limits=limits) as fake:
        sqlite_app.config.telegram.token = TOKEN
        sqlite_app.config.telegram.base_url = f"{fake.base_url}/bot"
        application = TelegramBot(sqlite_app).build_application(with_updater=False)
        async with application:
            notifier = TelegramNotifier(application.bot)
            await notifier.send("42", Reply("第一条"))
            await notifier.send("42", Reply("第二条"))  # refused once with 429, then sent
        assert fake.sent_texts(42) == ["第一条", "第二条"]
        assert len(fake.rejected) == 1 and fake.rejected[0]["retry_after"] >= 1


# ------------------------------------------------------------------ webhook


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.asyncio
async def test_webhook_checks_secret_token(sqlite_app):
    port = free_port()
    async with FakeTelegramAPI(token=TOKEN, rate_limits=False) as fake:
        config = sqlite_app.config.telegram
        config.token, config.base_url = TOKEN, f"{fake.base_url}/bot"
        config.webhook_secret = "s3cret-Token_1"
        config.webhook_url = f"http://127.0.0.1:{port}/telegram/webhook"
        web_app, installed = build_web_app(sqlite_app)
        assert "telegram" in installed and "telegram" in web_app[NOTIFIERS_KEY].channels()
        runner = web.AppRunner(web_app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            assert fake.webhook_url == config.webhook_url
            assert fake.webhook["secret_token"] == "s3cret-Token_1"
            assert fake.commands
            update_id = fake.push_text(STRANGER, "/start DEMOWXM1")
            update = fake.pushed[update_id]
            async with ClientSession() as http:
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                    async with http.post(config.webhook_url, json=update, headers=headers) as response:
                        assert response.status == 403
            assert fake.sent == []
            with sqlite_app.sessions.begin() as session:
                assert session.scalar(select(func.count()).select_from(ChatIdentity)
                                      .where(ChatIdentity.channel == "telegram")) == 0

            assert await fake.post_to_webhook(update_id) == 200
            assert "绑定成功:王干部" in fake.sent[-1]["text"]
            assert await fake.post_to_webhook(update_id) == 200  # redelivery: answered once
            assert len(fake.sent) == 1
        finally:
            await runner.cleanup()


@pytest.mark.asyncio
async def test_concurrent_chats_keep_each_chats_order(h):
    """With several chats handled at once, each chat's messages are still handled in order:
    two guided dialogues typed quickly, interleaved, both end up logged correctly."""
    await bind(h, WANG, "DEMOWXM1")
    await bind(h, 1004, "DEMOLXM1")  # 李组长, team lead of 项目一专班
    await h.stop()
    h.duban.config.telegram.concurrent_chats = 8
    await h.start()
    steps = {WANG: ["报进展", "纳图电气", "65", "主体厂房封顶", "确定"],
             1004: ["报进展", "中德电力装备产业园", "30", "完成土地预审", "确定"]}
    start = {uid: len(h.fake._matching_sent(None, uid)) for uid in steps}
    for i in range(5):
        for uid, texts_ in steps.items():
            h.fake.push_text(uid, texts_[i])
    for uid in steps:
        sent = (await h.fake.wait_for_sent(start[uid] + 5, chat_id=uid, timeout=20))[start[uid]:]
        assert "✅ 已记录" in sent[-1]["text"], [s["text"] for s in sent]
    with h.db() as session:
        logged = {(u.task.name, u.progress, u.note) for u in session.scalars(select(TaskUpdate))}
    assert logged == {("纳图电气", 65, "主体厂房封顶"), ("中德电力装备产业园", 30, "完成土地预审")}
