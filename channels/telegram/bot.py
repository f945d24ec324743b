"""The Telegram Application: builds it, turns updates into ``Incoming`` and renders ``Reply``.

No business logic lives here. Every update goes to ``handlers.handle`` with
``message_ref = telegram:update:<update_id>``, so an update Telegram delivers again (after a
crash or restart) is answered once and logs nothing twice.

Decisions:
- edited messages are not handled again (that could log an update twice); in a private chat
  the user is told to send the corrected text as a new message;
- in groups a message is ``addressed`` when it is a command for this bot (``/cmd`` or
  ``/cmd@botname``), mentions ``@botname``, or replies to one of the bot's messages; the
  handlers then answer only in groups an admin bound with /bindgroup;
- replies are plain text (no parse mode), split at 4096 UTF-16 units on line boundaries;
  buttons go on the last part; a button press's ``edit`` reply replaces the pressed message;
- sending goes through PTB's AIORateLimiter, built by ``rate_limiter``: overall a smooth
  pace of one message every 1/(rate - 0.5) s (PTB's default 30-per-second bucket lets a burst
  of 30 through and then 30/s, which trips Telegram's sliding one-second window with 429s),
  20/min per group; a 429's RetryAfter is waited out and retried ``telegram.max_retries``
  times; network errors are retried twice; anything else is logged with the update id and
  the bot goes on; a push (``push_deadline``) never sleeps past its outbox lease: a 429 asking
  for longer raises ``PushWaitTooLong`` at once (``PushAwareRateLimiter``), so the row is
  released instead of held while another process could claim and send it too;
- requests go over aiohttp (``request.AiohttpRequest``, same contract as PTB's httpx backend at
  a third of its CPU per call), and text replies are sent with ``send_text`` (the keyboard as
  plain JSON, Telegram's answer not parsed into a ``Message``): a bot is CPU-bound on one
  event loop, and these two were a third of it per update (bench/telegram_bench.py).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.app import Duban
from bot.clock import OFFICE_TZ
from bot.config import TelegramConfig
from bot.messages import GROUP, PRIVATE, Attachment, Incoming, Reply
from channels.telegram.request import AiohttpRequest, proxy_for
from handlers.core import handle
from handlers.registry import bot_commands

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_MESSAGE_UNITS = 4096
MAX_CAPTION_UNITS = 1024
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
EDITED_REPLY = "修改过的消息不会重新处理。请把改好的内容重新发一条。"
EMPTY_TEXT_WITH_BUTTONS = "请选择:"
NETWORK_RETRIES = 2
DEFAULT_API_URL = "https://api.telegram.org/bot"


def redact(url: str) -> str:
    """A proxy URL for the log: the password replaced by ***."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def overall_pace(max_per_second: float) -> float:
    """Messages a second actually paced for a configured limit: a little under it (half a
    message a second, or 5 % when the limit is one a second or less); 0 = no limit."""
    if max_per_second <= 0:
        return 0.0
    return max(max_per_second - 0.5, max_per_second * 0.95)


def retry_after_seconds(error: RetryAfter) -> float:
    """A RetryAfter's wait in seconds (PTB 22 warns that the attribute becomes a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seconds = error.retry_after
    return seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)


@dataclass(frozen=True)
class PushDeadline:
    """``rate_limit_args`` of a push: the ``time.monotonic()`` by which its waits must end
    (the outbox lease, less a margin)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> PushDeadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


class PushWaitTooLong(TelegramError):
    """A push that would have to wait past its deadline: nothing was sent by this call; send it
    again after ``retry_after`` seconds. Not a RetryAfter, so the limiter does not sleep on it."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"flood control: retry after {retry_after:g}s is past the push's lease")
        self.retry_after = retry_after


class PushAwareRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter; for a request whose ``rate_limit_args`` is a ``PushDeadline``, a
    429 is waited out (and retried) only when its ``retry_after`` ends before the deadline, and
    nothing is sent once the deadline has passed (e.g. after queueing behind another 429)."""

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if not isinstance(rate_limit_args, PushDeadline):
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        deadline = rate_limit_args

        async def guarded(*call_args, **call_kwargs):
            if deadline.remaining() <= 0:
                raise PushWaitTooLong(0.0)
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                if seconds + 0.1 >= deadline.remaining():
                    raise PushWaitTooLong(seconds) from error
                raise

        return await super().process_request(guarded, args, kwargs, endpoint, data, None)


def rate_limiter(config: TelegramConfig) -> AIORateLimiter:
    """PTB's limiter with a smooth overall pace (a bucket of one message, refilled every
    1/pace s) and the per-group limit (messages a minute); a 0 turns a limit off."""
    pace = overall_pace(config.max_messages_per_second)
    if pace > 0:
        overall = {"overall_max_rate": 1, "overall_time_period": 1 / pace}
    else:
        overall = {"overall_max_rate": 0}
    return PushAwareRateLimiter(**overall, group_max_rate=config.max_messages_per_minute_per_group,
                          group_time_period=60, max_retries=config.max_retries)


def api_urls(config: TelegramConfig) -> tuple[Optional[str], Optional[str]]:
    """(base_url, base_file_url) for PTB; the file URL is derived from ``…/bot`` when unset."""
    base = config.base_url.rstrip("/") if config.base_url else None
    files = config.base_file_url.rstrip("/") if config.base_file_url else None
    if base and not files and base.endswith("/bot"):
        files = base[: -len("/bot")] + "/file/bot"
    return base, files


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut after a newline where possible and never
    inside a character (a too-long line is cut between characters)."""
    if utf16_units(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        units = utf16_units(line)
        if size + units > limit and current:
            parts.append("".join(current))
            current, size = [], 0
        if units > limit:
            for char in line:
                char_units = utf16_units(char)
                if size + char_units > limit:
                    parts.append("".join(current))
                    current, size = [], 0
                current.append(char)
                size += char_units
            continue
        current.append(line)
        size += units
    if current:
        parts.append("".join(current))
    parts = [part.rstrip("\n") for part in parts]
    return [part for part in parts if part.strip()]


def keyboard(reply: Reply) -> Optional[InlineKeyboardMarkup]:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                                 for row in reply.buttons if row])


def keyboard_json(reply: Reply) -> Optional[dict]:
    """``keyboard(reply).to_dict()`` built directly (no PTB objects to build and serialise)."""
    if not reply.buttons:
        return None
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.data} for b in row]
                                for row in reply.buttons if row]}


#: Bot API method names are case-insensitive (core.telegram.org/bots/api#making-requests);
#: the lower-case spelling is not a ``Bot`` attribute, so ``do_api_request`` does not warn
#: that ``send_message`` exists
SEND_MESSAGE = "sendmessage"


async def send_text(bot, chat_id: int | str, text: str, markup: Optional[dict] = None) -> None:
    """``bot.send_message(chat_id, text, reply_markup=markup)`` without turning Telegram's answer
    into a ``Message`` (nothing reads it; for a list with buttons that parse was ~6 % of the
    bot's CPU). Same request (the defaults Duban sets add no parameters), same rate limiter,
    same errors: PTB's public ``Bot.do_api_request`` with no return type."""
    data: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if markup is not None:
        data["reply_markup"] = markup
    await bot.do_api_request(SEND_MESSAGE, api_kwargs=data)


def _display_name(user) -> Optional[str]:
    return user.full_name if user else None


def _is_addressed(message: Message, text: str, entities: dict, bot_username: str, bot_id: int) -> bool:
    name = bot_username.lower()
    for entity, value in entities.items():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            _, _, target = value.partition("@")
            return not target or target.lower() == name
        if entity.type == MessageEntity.MENTION and value.lower() == f"@{name}":
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    if text.startswith("/") and "@" not in text.split(maxsplit=1)[0]:
        return True
    if name and re.search(rf"@{re.escape(name)}(?!\w)", text, re.I):  # a mention without its entity
        return True
    reply_to = message.reply_to_message
    return bool(reply_to and reply_to.from_user and reply_to.from_user.id == bot_id)


def to_incoming(update: Update, bot_username: str = "", bot_id: int = 0) -> Optional[Incoming]:
    """The neutral message for an update; None for updates the bot does not handle."""
    ref = f"telegram:update:{update.update_id}"
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message else None
        return Incoming(channel=CHANNEL, chat_id=str(chat.id if chat else query.from_user.id),
                        user_id=str(query.from_user.id), user_name=_display_name(query.from_user),
                        chat_type=PRIVATE if chat is None or chat.type == "private" else GROUP,
                        callback_data=query.data or "", message_ref=ref)
    message = update.message
    if message is None or message.from_user is None:
        return None
    text = message.text or message.caption or ""
    chat_type = PRIVATE if message.chat.type == "private" else GROUP
    addressed = True
    if chat_type == GROUP:
        entities = message.parse_entities() if message.text else message.parse_caption_entities()
        addressed = _is_addressed(message, text, entities, bot_username, bot_id)
        if bot_username and not text.startswith("/"):
            text = re.sub(rf"@{re.escape(bot_username)}(?!\w)", " ", text, flags=re.I).strip()
    attachments = []
    if message.photo:
        largest = message.photo[-1]
        attachments.append(Attachment(kind="photo", file_id=largest.file_id, size=largest.file_size))
    elif message.document:
        doc = message.document
        attachments.append(Attachment(kind="document", file_id=doc.file_id, file_name=doc.file_name,
                                      size=doc.file_size))
    return Incoming(channel=CHANNEL, chat_id=str(message.chat.id), user_id=str(message.from_user.id),
                    text=text, user_name=_display_name(message.from_user), chat_type=chat_type,
                    attachments=attachments, message_ref=ref, addressed=addressed)


async def with_network_retries(call, what: str):
    """Await ``call()``; NetworkError/TimedOut (not a 400) is retried twice with a short pause."""
    for attempt in range(NETWORK_RETRIES + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except NetworkError as error:
            if attempt == NETWORK_RETRIES:
                raise
            logger.warning("%s: %s; retry %d", what, error, attempt + 1)
            await asyncio.sleep(0.5 * (attempt + 1))


async def send_reply(bot, chat_id: int | str, reply: Reply, edit_message: Optional[Message] = None,
                     push_deadline: Optional[PushDeadline] = None) -> None:
    """Send one Reply: text parts, the keyboard on the last part, then its files. With
    ``edit_message`` and ``reply.edit`` the pressed message is replaced instead. With
    ``push_deadline`` (a push holding an outbox lease) every call carries it to the limiter."""
    limits = {"rate_limit_args": push_deadline} if push_deadline is not None else {}
    markup = keyboard_json(reply)
    text = reply.text or ("" if markup is None else EMPTY_TEXT_WITH_BUTTONS)
    parts = split_text(text)
    if edit_message is not None and reply.edit and len(parts) == 1:
        try:
            await with_network_retries(lambda: bot.edit_message_text(
                parts[0], chat_id=edit_message.chat_id, message_id=edit_message.message_id,
                reply_markup=keyboard(reply)), "editMessageText")
            parts = []
        except BadRequest as error:
            if "not modified" in str(error).lower():
                parts = []
            else:
                logger.info("edit failed (%s); sending a new message instead", error)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if limits:  # the public call, which passes rate_limit_args on to the limiter
            await with_network_retries(lambda part=part, last=last: bot.send_message(
                chat_id, part, reply_markup=keyboard(reply) if last else None, **limits), "sendMessage")
        else:
            await with_network_retries(lambda part=part, last=last: send_text(bot, chat_id, part,
                                                                              markup if last else None),
                                       "sendMessage")
    for out_file in reply.files:
        path = Path(out_file.path)
        caption = out_file.caption
        if caption and utf16_units(caption) > MAX_CAPTION_UNITS:
            caption = split_text(caption, MAX_CAPTION_UNITS)[0]

        async def send_file(path=path, caption=caption, kind=out_file.kind):
            with path.open("rb") as handle_:
                if kind == "photo":
                    return await bot.send_photo(chat_id, handle_, caption=caption, **limits)
                return await bot.send_document(chat_id, handle_, caption=caption, filename=path.name, **limits)

        await with_network_retries(send_file, "sendFile")


def chat_key(update: object) -> object:
    """The chat an update belongs to (updates of one chat are handled strictly in order)."""
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None:
            return chat.id
        user = update.effective_user
        if user is not None:
            return ("user", user.id)
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Handles updates of different chats concurrently and those of one chat one after the
    other, in arrival order (a guided dialogue must see its messages in order).

    PTB's own bound (``max_concurrent_updates``) is set high and only caps the backlog; the
    real bound, ``concurrent`` chats at a time, is taken after an update has queued behind
    its chat's previous one, so a chat with many updates waiting holds no slot others need.
    """

    BACKLOG = 4096

    def __init__(self, concurrent: int) -> None:
        super().__init__(max(self.BACKLOG, concurrent))
        self.concurrent = concurrent
        self._chains: dict[object, asyncio.Future] = {}
        self._slots: Optional[asyncio.Semaphore] = None

    async def do_process_update(self, update: object, coroutine) -> None:
        # Chain on the previous update of the same chat *before* any await, so the order is the
        # order PTB created the tasks in (the fetch order): PTB's semaphore, far from full, is
        # taken without yielding to the event loop.
        key = chat_key(update)
        previous = self._chains.get(key)
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._chains[key] = done
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrent)
        try:
            if previous is not None:
                await asyncio.shield(previous)
            async with self._slots:
                await coroutine
        finally:
            done.set_result(None)
            if self._chains.get(key) is done:
                del self._chains[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


Hook = Callable[[Application], Coroutine[Any, Any, None]]


class TelegramBot:
    """Connects one Application to the handlers."""

    def __init__(self, duban: Duban) -> None:
        self.duban = duban
        self.config = duban.config.telegram
        self.photo_dir = duban.config.photo_path

    # -- building
    def build_application(self, token: Optional[str] = None, with_updater: bool = True,
                          announce: bool = False, post_init: Optional[Hook] = None,
                          post_stop: Optional[Hook] = None) -> Application:
        """The Application, with PTB's builder hooks: after initialisation the command menu is
        registered, then ``post_init`` runs (e.g. the reminder jobs); ``post_stop`` on stop."""
        token = token or self.config.token
        if not token:
            raise ValueError("telegram.token is not set (TELEGRAM_BOT_TOKEN)")
        base_url, base_file_url = api_urls(self.config)
        proxy = proxy_for(self.config.proxy, base_url or DEFAULT_API_URL)
        if proxy:
            logger.info("telegram: Bot API calls go through the proxy %s", redact(proxy))
        builder = (Application.builder().token(token)
                   .defaults(Defaults(tzinfo=OFFICE_TZ))
                   .rate_limiter(rate_limiter(self.config))
                   .request(AiohttpRequest(proxy=proxy))
                   .get_updates_request(AiohttpRequest(connection_pool_size=1, proxy=proxy)))
        if base_url:
            builder = builder.base_url(base_url)
        if base_file_url:
            builder = builder.base_file_url(base_file_url)
        if self.config.concurrent_chats > 1:
            builder = builder.concurrent_updates(PerChatUpdateProcessor(self.config.concurrent_chats))
        if not with_updater:
            builder = builder.updater(None)

        async def initialized(application: Application) -> None:
            await self.register_commands(application)
            if post_init is not None:
                await post_init(application)
            if announce:
                print(f"telegram bot ready @{application.bot.username}", flush=True)

        builder = builder.post_init(initialized)
        if post_stop is not None:
            builder = builder.post_stop(post_stop)
        application = builder.build()
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self.on_error)
        return application

    async def start(self, application: Application, polling: bool = True, poll_timeout: int = 1) -> None:
        """Start an Application built here without ``run_polling`` (tests, benchmark, webhook)."""
        await application.initialize()
        await self.register_commands(application)
        await application.start()
        if polling and application.updater is not None:
            await application.updater.start_polling(poll_interval=0, timeout=poll_timeout,
                                                    allowed_updates=ALLOWED_UPDATES)

    @staticmethod
    async def stop(application: Application) -> None:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    async def register_commands(self, application: Application) -> None:
        """The command menu from handlers.registry (setMyCommands); a failure is only logged."""
        commands = [BotCommand(name, description or name) for name, description in bot_commands()]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as error:
            logger.warning("setMyCommands failed: %s", error)

    # -- handling
    async def run_handlers(self, incoming: Incoming) -> list[Reply]:
        """The handlers in the app's worker threads (bot.workers): never on the event loop."""
        return await self.duban.workers.run(handle, self.duban, incoming)

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = context.bot
        if update.edited_message is not None:
            await self.on_edited(update, bot)
            return
        incoming = to_incoming(update, bot.username or self.config.bot_username or "", bot.id)
        if incoming is None:
            return
        if incoming.attachments and incoming.addressed:
            await self.download_photos(bot, incoming)
        replies = await self.run_handlers(incoming)
        query = update.callback_query
        if query is not None:
            notice = next((r.notice for r in replies if r.notice), None)
            try:
                await query.answer(notice)
            except TelegramError as error:  # stale query: the reply below still goes out
                logger.info("update %s: answerCallbackQuery failed: %s", update.update_id, error)
        chat_id = int(incoming.chat_id)
        pressed = query.message if query is not None and isinstance(query.message, Message) else None
        for reply in replies:
            await send_reply(bot, chat_id, reply, edit_message=pressed)

    async def on_edited(self, update: Update, bot) -> None:
        message = update.edited_message
        logger.info("update %s: edited message ignored", update.update_id)
        if message is not None and message.chat.type == "private":
            await send_reply(bot, message.chat_id, Reply(EDITED_REPLY))

    async def download_photos(self, bot, incoming: Incoming) -> None:
        """Keep a local copy of each photo (the file id is kept in any case)."""
        for attachment in incoming.attachments:
            if attachment.kind != "photo" or not attachment.file_id:
                continue
            try:
                tg_file = await bot.get_file(attachment.file_id)
                suffix = Path(tg_file.file_path or "").suffix or ".jpg"
                self.photo_dir.mkdir(parents=True, exist_ok=True)
                target = self.photo_dir / f"{tg_file.file_unique_id}{suffix}"
                await tg_file.download_to_drive(target)
                attachment.local_path = str(target)
            except (TelegramError, OSError) as error:
                logger.warning("%s: photo download failed: %s", incoming.message_ref, error)

    async def on_error(self, update: Any, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every failure with its update id; the bot carries on with the next update."""
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        if isinstance(error, (Forbidden, RetryAfter, NetworkError)):
            logger.warning("telegram update %s: %s: %s", update_id, type(error).__name__, error)
        else:
            logger.error("telegram update %s failed", update_id, exc_info=error)
