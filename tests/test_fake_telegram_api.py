"""The fake Telegram Bot API (testing/fake_telegram.py), driven by real PTB and raw HTTP."""
from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from testing.echobot import build_application
from testing.fake_telegram import FakeTelegramAPI, RateLimits, command_entities

TOKEN = "123:ABC"
REPO_ROOT = Path(__file__).resolve().parents[1]


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    """A real (tiny-payload) PNG of the given size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ptb_bot(fake: FakeTelegramAPI, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{fake.base_url}/bot", base_file_url=f"{fake.base_url}/file/bot")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def start_polling(app: Application) -> None:
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)


async def stop_polling(app: Application) -> None:
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


# ------------------------------------------------------------------------------- echobot


@pytest.mark.asyncio
async def test_echobot_round_trip_over_polling():
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot") as fake:
        app = build_application(TOKEN, fake.base_url)
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            first = fake.push_text(42, "你好，街道办 👋", first_name="张三")
            sent = await fake.wait_for_sent(1, timeout=5)
            assert sent[0]["method"] == "sendMessage"
            assert sent[0]["chat_id"] == 42
            assert sent[0]["text"] == "你好，街道办 👋"

            fake.push_text(42, "/start")
            sent = await fake.wait_for_sent(2, timeout=5)
            assert sent[1]["text"] == 'Hi <a href="tg://user?id=42">张三</a>!'
            assert sent[1]["parse_mode"] == "HTML"
            assert sent[1]["reply_markup"] == {"force_reply": True, "selective": True}
            assert sent[1]["result"]["text"] == sent[1]["text"]  # the fake does not render HTML

            await app.updater.stop()
            await app.stop()

        assert fake.delivered_update_ids[0] == first
        assert fake.pending_updates == 0  # PTB's last getUpdates on stop confirmed everything
        methods = [c["method"] for c in fake.calls]
        assert methods[:1] == ["getMe"] and "deleteWebhook" in methods
        assert len(fake.sent) == 2


@pytest.mark.asyncio
async def test_group_commands_need_the_right_bot_username():
    async with FakeTelegramAPI(token=TOKEN, bot_username="duban_bot") as fake:
        app = build_application(TOKEN, fake.base_url)
        await start_polling(app)
        try:
            fake.push_text(7, "/help@other_bot", chat_id=-1001000, chat_type="supergroup")
            fake.push_text(7, "/help@duban_bot", chat_id=-1001000, chat_type="supergroup")
            fake.push_text(7, "群里的普通消息", chat_id=-1001000, chat_type="supergroup")
            sent = await fake.wait_for_sent(2, timeout=5)
            await asyncio.sleep(0.2)
        finally:
            await stop_polling(app)
        assert [s["text"] for s in fake.sent] == ["Help!", "群里的普通消息"]
        assert {s["chat_id"] for s in sent} == {-1001000}
        update = fake.pushed[fake.delivered_update_ids[1]]
        assert update["message"]["chat"] == {"id": -1001000, "type": "supergroup", "title": "Group -1001000"}
        assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 15}]


def test_command_entities_use_utf16_offsets():
    # 👍 is two UTF-16 code units; 你好 are one each.
    assert command_entities("👍 /start@duban_bot 你好 /help") == [
        {"type": "bot_command", "offset": 3, "length": 16},
        {"type": "bot_command", "offset": 23, "length": 5},
    ]
    assert command_entities("no/command here") == []
    assert command_entities("/报修") == []


# ----------------------------------------------------------------------- HTTP error shapes


@pytest.mark.asyncio
async def test_unknown_method_wrong_token_and_bad_paths():
    async with FakeTelegramAPI(token=TOKEN) as fake, httpx.AsyncClient() as client:
        response = await client.post(fake.method_url("sendSticker"), data={"chat_id": "1"})
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404,
                                   "description": "Not Found: method not found"}

        for method in ("getMe", "sendMessage", "noSuchMethod"):
            response = await client.post(fake.method_url(method, token="123:WRONG"))
            assert response.status_code == 401
            assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

        response = await client.get(f"{fake.base_url}/botnot-a-token/getMe")
        assert response.status_code == 404
        response = await client.get(f"{fake.base_url}/somewhere/else")
        assert response.status_code == 404 and response.json()["ok"] is False

        # method names are case-insensitive, GET works too
        response = await client.get(fake.method_url("getme"))
        assert response.status_code == 200 and response.json()["result"]["username"] == "duban_bot"

        with pytest.raises(InvalidToken):
            async with ptb_bot(fake, token="123:WRONG"):
                pass


# ---------------------------------------------------------------------------- flood control


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter int/timedelta
async def test_rate_limits_answer_429_with_retry_after():
    clock = FakeClock()
    async with FakeTelegramAPI(token=TOKEN, clock=clock) as fake, httpx.AsyncClient() as client:
        url = fake.method_url("sendMessage")

        # private chat: burst of 3, then 1/s
        codes = [(await client.post(url, data={"chat_id": "42", "text": f"m{i}"})).status_code
                 for i in range(4)]
        assert codes == [200, 200, 200, 429]
        response = await client.post(url, json={"chat_id": 42, "text": "again"})
        assert response.status_code == 429
        assert response.json() == {"ok": False, "error_code": 429,
                                   "description": "Too Many Requests: retry after 1",
                                   "parameters": {"retry_after": 1}}
        clock.now += 1.0
        assert (await client.post(url, json={"chat_id": 42, "text": "later"})).status_code == 200

        # group: 20 per minute
        for i in range(20):
            ok = await client.post(url, json={"chat_id": -100777, "text": f"g{i}"})
            assert ok.status_code == 200, ok.text
        response = await client.post(url, json={"chat_id": -100777, "text": "g20"})
        assert response.status_code == 429
        assert 59 <= response.json()["parameters"]["retry_after"] <= 60

        # overall: 30 per second
        clock.now += 100
        codes = [(await client.post(url, json={"chat_id": 1000 + i, "text": "x"})).status_code
                 for i in range(31)]
        assert codes.count(200) == 30 and codes[-1] == 429

        assert fake.rejected_429 == 4
        assert len(fake.rejected) == 4 and all(r["retry_after"] >= 1 for r in fake.rejected)
        assert len(fake.sent) == 3 + 1 + 20 + 30  # refused calls are not recorded as sent

        # PTB turns it into RetryAfter
        async with ptb_bot(fake) as bot:
            with pytest.raises(RetryAfter, match="(?i)Flood control exceeded"):
                await bot.send_message(-100777, "one more")


@pytest.mark.asyncio
async def test_rate_limits_are_configurable_and_can_be_switched_off():
    async with FakeTelegramAPI(token=TOKEN, rate_limits=False) as fake, httpx.AsyncClient() as client:
        for i in range(40):
            response = await client.post(fake.method_url("sendMessage"), json={"chat_id": 42, "text": str(i)})
            assert response.status_code == 200
        assert fake.rejected_429 == 0

    limits = RateLimits(private_burst=1, private_per_second=0.5)
    async with FakeTelegramAPI(token=TOKEN, rate_limits=limits, clock=FakeClock()) as fake, \
            httpx.AsyncClient() as client:
        first = await client.post(fake.method_url("sendMessage"), json={"chat_id": 5, "text": "a"})
        second = await client.post(fake.method_url("sendMessage"), json={"chat_id": 5, "text": "b"})
        assert first.status_code == 200
        assert second.status_code == 429 and second.json()["parameters"]["retry_after"] == 2


# ---------------------------------------------------------------------- bodies and files


@pytest.mark.asyncio
async def test_request_encodings_json_form_multipart_and_query():
    async with FakeTelegramAPI(token=TOKEN, rate_limits=False) as fake, httpx.AsyncClient() as client:
        keyboard = {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]}
        r1 = await client.post(fake.method_url("sendMessage"),
                               json={"chat_id": 42, "text": "json", "reply_markup": keyboard})
        r2 = await client.post(fake.method_url("sendMessage"),
                               data={"chat_id": "42", "text": "form",
                                     "reply_markup": '{"inline_keyboard": [[{"text": "否", "callback_data": "no"}]]}'})
        r3 = await client.post(fake.method_url("sendMessage"),
                               data={"chat_id": "-100123", "text": "multipart"},
                               files={"unused": ("x.txt", b"x", "text/plain")})
        r4 = await client.get(fake.method_url("sendMessage"), params={"chat_id": "42", "text": "query"})
        for response in (r1, r2, r3, r4):
            assert response.status_code == 200, response.text
        assert r1.json()["result"]["reply_markup"] == keyboard
        assert r1.json()["result"]["from"]["is_bot"] is True
        assert r3.json()["result"]["chat"]["type"] == "supergroup"
        assert [s["text"] for s in fake.sent] == ["json", "form", "multipart", "query"]
        assert fake.sent[1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "no"
        assert [s["chat_id"] for s in fake.sent] == [42, 42, -100123, 42]
        message_ids = [s["message_id"] for s in fake.sent if s["chat_id"] == 42]
        assert message_ids == [1, 2, 3]

        document = await client.post(fake.method_url("sendDocument"),
                                     data={"chat_id": "42", "caption": "报表"},
                                     files={"document": ("report.xlsx", b"PK\x03\x04data",
                                                         "application/vnd.ms-excel")})
        assert document.status_code == 200, document.text
        doc = document.json()["result"]["document"]
        assert doc["file_name"] == "report.xlsx" and doc["file_size"] == 8
        assert fake.sent[-1]["document"] == b"PK\x03\x04data"
        assert fake.sent[-1]["caption"] == "报表"

        # validation errors look like Telegram's
        empty = await client.post(fake.method_url("sendMessage"), json={"chat_id": 42, "text": ""})
        assert empty.status_code == 400
        assert empty.json()["description"] == "Bad Request: message text is empty"
        too_long = await client.post(fake.method_url("sendMessage"), json={"chat_id": 42, "text": "字" * 4097})
        assert too_long.json()["description"] == "Bad Request: message is too long"
        big_data = await client.post(fake.method_url("sendMessage"), json={
            "chat_id": 42, "text": "x",
            "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "数" * 22}]]}})
        assert big_data.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
        html = await client.post(fake.method_url("sendMessage"),
                                 json={"chat_id": 42, "text": "<b>粗体</b>", "parse_mode": "HTML"})
        assert html.status_code == 200 and html.json()["result"]["text"] == "<b>粗体</b>"  # not rendered


@pytest.mark.asyncio
async def test_send_photo_multipart_is_recorded_and_downloadable():
    photo = png_bytes(640, 480)
    async with FakeTelegramAPI(token=TOKEN) as fake:
        async with ptb_bot(fake) as bot:
            message = await bot.send_photo(42, photo=photo, caption="现场照片")
            assert message.caption == "现场照片"
            assert [(p.width, p.height) for p in message.photo] == [(90, 68), (640, 480)]

            record = fake.sent[-1]
            assert record["method"] == "sendPhoto"
            assert record["photo"] == photo  # uploaded bytes
            assert record["chat_id"] == 42 and record["caption"] == "现场照片"
            assert fake.calls[-1]["files"] == {"photo": record["filename"]}

            telegram_file = await bot.get_file(message.photo[-1].file_id)
            # PTB prefixes the relative file_path with base_file_url + token
            assert telegram_file.file_path.startswith(f"{fake.base_url}/file/bot{TOKEN}/photos/file_")
            assert bytes(await telegram_file.download_as_bytearray()) == photo

            # resend by file_id: no upload, recorded as the id
            again = await bot.send_photo(43, photo=message.photo[-1].file_id)
            assert fake.sent[-1]["photo"] == message.photo[-1].file_id
            assert again.photo[-1].width == 640

            with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
                await bot.send_photo(42, photo="AgACno-such-id")
            with pytest.raises(BadRequest, match="(?i)invalid file_id"):
                await bot.get_file("nope")

        async with httpx.AsyncClient() as client:
            missing = await client.get(f"{fake.base_url}/file/bot{TOKEN}/photos/none.jpg")
            assert missing.status_code == 404
            wrong = await client.get(f"{fake.base_url}/file/bot123:WRONG/{telegram_file.file_path.split('/bot' + TOKEN + '/')[1]}")
            assert wrong.status_code == 401


@pytest.mark.asyncio
async def test_pushed_photo_get_file_and_download_inside_a_handler():
    photo = png_bytes(1600, 1200)

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        telegram_file = await update.message.photo[-1].get_file()
        data = await telegram_file.download_as_bytearray()
        await update.message.reply_text(f"{update.message.caption}: {len(data)} bytes, "
                                        f"{update.message.photo[-1].width}x{update.message.photo[-1].height}")

    async with FakeTelegramAPI(token=TOKEN) as fake:
        app = (Application.builder().token(TOKEN).base_url(f"{fake.base_url}/bot")
               .base_file_url(f"{fake.base_url}/file/bot").build())
        app.add_handler(MessageHandler(filters.PHOTO, on_photo))
        await start_polling(app)
        try:
            fake.push_photo(42, "井盖破损", photo)
            sent = await fake.wait_for_sent(1, timeout=5)
        finally:
            await stop_polling(app)
        assert sent[0]["text"] == f"井盖破损: {len(photo)} bytes, 1280x960"
        assert [c["method"] for c in fake.calls].count("getFile") == 1


# --------------------------------------------------------------------------- getUpdates


@pytest.mark.asyncio
async def test_redelivered_update_id_reaches_the_bot_again():
    async with FakeTelegramAPI(token=TOKEN) as fake:
        app = build_application(TOKEN, fake.base_url)
        await start_polling(app)
        try:
            update_id = fake.push_text(42, "一次")
            await fake.wait_for_sent(1, timeout=5)
            again = fake.push_raw(fake.pushed[update_id])
            assert again == update_id
            sent = await fake.wait_for_sent(2, timeout=5)
        finally:
            await stop_polling(app)
        assert [s["text"] for s in sent] == ["一次", "一次"]
        assert fake.delivered_update_ids.count(update_id) == 2


@pytest.mark.asyncio
async def test_get_updates_offset_limit_timeout_and_allowed_updates():
    async with FakeTelegramAPI(token=TOKEN) as fake, httpx.AsyncClient(timeout=10) as client:
        url = fake.method_url("getUpdates")
        ids = [fake.push_text(1, f"m{i}") for i in range(3)]
        assert ids == [ids[0], ids[0] + 1, ids[0] + 2]

        batch = (await client.post(url, json={"limit": 2})).json()["result"]
        assert [u["update_id"] for u in batch] == ids[:2]
        assert batch[0]["message"]["text"] == "m0" and batch[0]["message"]["chat"]["type"] == "private"
        # not confirmed yet: the same updates come again
        batch = (await client.post(url, data={"offset": str(ids[0])})).json()["result"]
        assert [u["update_id"] for u in batch] == ids
        # confirming drops earlier ones
        batch = (await client.post(url, json={"offset": ids[1] + 1})).json()["result"]
        assert [u["update_id"] for u in batch] == [ids[2]]

        # long poll: returns as soon as an update arrives
        fake.max_poll_timeout = 5.0

        async def push_later():
            await asyncio.sleep(0.2)
            return fake.push_text(1, "late")

        started = time.monotonic()
        response, late_id = await asyncio.gather(
            client.post(url, json={"offset": ids[2] + 1, "timeout": 5}), push_later())
        assert 0.15 < time.monotonic() - started < 4.0
        assert [u["update_id"] for u in response.json()["result"]] == [late_id]

        # ... without updates it waits for `timeout`, capped at max_poll_timeout (default 1 s)
        fake.max_poll_timeout = 0.5
        started = time.monotonic()
        response = await client.get(url, params={"offset": late_id + 1, "timeout": 30})
        elapsed = time.monotonic() - started
        assert response.json() == {"ok": True, "result": []}
        assert 0.45 < elapsed < 4.0
        fake.max_poll_timeout = 5.0
        started = time.monotonic()
        await client.get(url, params={"offset": late_id + 1, "timeout": "0.3"})
        assert 0.25 < time.monotonic() - started < 4.0
        fake.max_poll_timeout = 1.0

        # allowed_updates filters (and is remembered); edited messages and callbacks have shapes PTB parses
        fake.push_edited_text(1, "m2 (edited)")
        callback_id = fake.push_callback(1, "ok")
        batch = (await client.post(url, json={"offset": late_id + 1,
                                              "allowed_updates": ["callback_query"]})).json()["result"]
        assert [u["update_id"] for u in batch] == [callback_id]
        parsed = Update.de_json(batch[0], None)
        assert parsed.callback_query.data == "ok" and parsed.callback_query.message.from_user.is_bot

        # negative offset keeps only the newest
        more = [fake.push_text(1, f"n{i}") for i in range(3)]
        batch = (await client.post(url, json={"offset": -1, "allowed_updates": []})).json()["result"]
        assert [u["update_id"] for u in batch] == [more[-1]]


@pytest.mark.asyncio
async def test_edited_message_and_callback_query_through_ptb():
    async with FakeTelegramAPI(token=TOKEN) as fake:
        async with ptb_bot(fake) as bot:
            fake.push_text(42, "原文")
            fake.push_edited_text(42, "改过的")
            menu = await bot.send_message(42, "请选择", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("是", callback_data="yes"), InlineKeyboardButton("否", callback_data="no")]]))
            fake.push_callback(42, "yes", menu.message_id)

            updates = await bot.get_updates(timeout=0)
            assert updates[0].message.text == "原文"
            assert updates[1].edited_message.text == "改过的"
            assert updates[1].edited_message.message_id == updates[0].message.message_id
            query = updates[2].callback_query
            assert query.data == "yes" and query.message.message_id == menu.message_id
            assert query.message.reply_markup.inline_keyboard[0][1].callback_data == "no"

            assert await bot.answer_callback_query(query.id, text="已登记")
            assert fake.answered_callbacks[-1]["text"] == "已登记"
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await bot.answer_callback_query(query.id)

            edited = await bot.edit_message_text("已选择：是", chat_id=42, message_id=menu.message_id)
            assert edited.text == "已选择：是" and edited.reply_markup is None
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text("已选择：是", chat_id=42, message_id=menu.message_id)
            with pytest.raises(BadRequest, match="(?i)message to edit not found"):
                await bot.edit_message_text("x", chat_id=42, message_id=9999)
            with pytest.raises(BadRequest, match="(?i)message can't be edited"):
                await bot.edit_message_text("x", chat_id=42, message_id=updates[0].message.message_id)
            assert [s["method"] for s in fake.sent] == ["sendMessage", "editMessageText"]


@pytest.mark.asyncio
async def test_commands_and_webhook():
    async with FakeTelegramAPI(token=TOKEN) as fake:
        async with ptb_bot(fake) as bot:
            await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("report", "报修")])
            assert fake.commands == [{"command": "start", "description": "开始"},
                                     {"command": "report", "description": "报修"}]
            with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
                await bot.set_my_commands([BotCommand("Bad-Name", "x")])

            fake.push_text(1, "pending")
            assert await bot.set_webhook("https://duban.example.org/tg", secret_token="s3cr3t_-X",
                                         allowed_updates=["message", "callback_query"], max_connections=5)
            assert fake.webhook["url"] == "https://duban.example.org/tg"
            assert fake.webhook["secret_token"] == "s3cr3t_-X"
            assert fake.webhook["max_connections"] == 5 and fake.pending_updates == 1
            with pytest.raises(Conflict, match="(?i)webhook is active"):
                await bot.get_updates()
            with pytest.raises(BadRequest, match="(?i)secret token"):
                await bot.set_webhook("https://duban.example.org/tg", secret_token="has space")
            assert await bot.delete_webhook(drop_pending_updates=True)
            assert fake.pending_updates == 0
            assert fake.webhook["secret_token"] == "s3cr3t_-X"  # last setWebhook args are kept



@pytest.mark.asyncio
async def test_post_to_webhook_sends_the_secret_header():
    received = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/tg", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with FakeTelegramAPI(token=TOKEN) as fake, ptb_bot(fake) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="abc")
            update_id = fake.push_text(42, "via webhook")
            assert await fake.post_to_webhook(update_id) == 200
    finally:
        await runner.cleanup()
    assert received[0][0] == "abc" and received[0][1]["message"]["text"] == "via webhook"


# ---------------------------------------------------------------- thread runner / subprocess


@pytest.mark.slow
def test_thread_runner_with_echobot_as_a_separate_process():
    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot").start_in_thread()
    process = None
    try:
        me = httpx.get(fake.method_url("getMe")).json()
        assert me["result"]["username"] == "duban_bot"

        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            [sys.executable, "-m", "testing.echobot", "--base-url", fake.base_url, "--token", TOKEN],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = []
        for line in process.stdout:  # warnings may precede the ready line; EOF means it died
            output.append(line)
            if line.strip() == "echobot ready":
                break
        assert output and output[-1].strip() == "echobot ready", "".join(output)
        fake.push_text(42, "进程外的回声")
        fake.push_text(43, "第二个用户")
        sent = fake.wait_for_sent_sync(2, timeout=10)
        assert {(s["chat_id"], s["text"]) for s in sent} == {(42, "进程外的回声"), (43, "第二个用户")}
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        fake.stop()
    assert process.returncode == 0
    assert fake.pending_updates == 0
