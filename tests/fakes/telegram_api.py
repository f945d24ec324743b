"""A fake Telegram Bot API server, spoken to over real HTTP (aiohttp.web on 127.0.0.1).

Point python-telegram-bot (PTB 22) at it with::

    async with FakeTelegramAPI(token="123:ABC", bot_username="duban_bot") as fake:
        app = (
            Application.builder()
            .token(fake.token)
            .base_url(f"{fake.base_url}/bot")
            .base_file_url(f"{fake.base_url}/file/bot")
            .build()
        )

PTB builds ``<base_url><token>/<method>`` (``base_url`` is concatenated with the token, no
separator) and, for downloads, ``<base_file_url><token>/<file_path>``.  This server therefore
routes ``/bot<token>/<method>`` (GET or POST; query string, JSON, form-urlencoded and
multipart/form-data bodies) and ``GET /file/bot<token>/<file_path>``.  Method names are matched
case-insensitively, as Telegram does.

What is modelled (enough for PTB's ``de_json`` and for a bot's own tests):

* getMe, getUpdates (long polling, offset / limit / timeout / allowed_updates, 409 when a
  webhook is set or when a second poller takes over), sendMessage, sendPhoto, sendDocument,
  editMessageText, editMessageReplyMarkup, answerCallbackQuery, set/get/deleteMyCommands,
  getFile (+ file download), set/delete/getWebhookInfo, close, logOut.
* Telegram-shaped errors: unknown method -> 404, wrong token -> 401, flood control -> 429 with
  ``parameters.retry_after``, and the common 400s (empty text, text too long, bad HTML /
  MarkdownV2, callback_data > 64 bytes, message to edit not found / not modified, stale
  callback query, unknown file_id).
* Flood limits after the Bot FAQ (configurable, ``rate_limits=False`` turns them off), and
  ``flood(chat_id, retry_after)``: Telegram asking one chat for a long wait, whatever the limits:
  its next message is refused with 429 ``retry_after``, and so is every message in the
  ``retry_after`` seconds after that refusal (with the seconds left).

Update delivery rule (getUpdates): updates are returned in ascending ``update_id`` order;
calling getUpdates with ``offset=N`` forgets every update with ``update_id < N`` that has already
been delivered (Telegram's "confirm").  An update that was never delivered is always returned,
even if its id is below the confirmed offset -- that is what lets ``push_raw`` redeliver an old
``update_id`` to a bot that has already confirmed it.  A negative offset keeps only the last
``-offset`` queued updates, as Telegram documents.

Thread model: the server runs either in the caller's event loop (``async with``) or in a
background thread with its own loop (``start_in_thread()`` / ``stop()``), for tests that run the
bot as a separate process.  All state is guarded by a lock, so ``push_*`` and the recorded
lists can be used from any thread.
"""
from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import math
import re
import secrets
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["ApiError", "FakeTelegramAPI", "RateLimits", "utf16_len"]

JSON = dict[str, Any]

# Update types Telegram delivers when allowed_updates was never given / given as [].
_NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters whose form / multipart value is a JSON-serialised object.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
    }
)
_INT_FIELDS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "user_id",
        "cache_time",
        "max_connections",
        "message_thread_id",
        "reply_to_message_id",
    }
)
_FLOAT_FIELDS = frozenset({"timeout"})
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
    }
)

_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,32})?(?![A-Za-z0-9_])")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_HTML_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji", "tg-time",
    }
)
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_SIZE = 50 * 1024 * 1024

_MESSAGE_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
_RECORDED_IN_SENT = frozenset(
    {"sendmessage", "sendphoto", "senddocument", "editmessagetext", "editmessagereplymarkup"}
)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units -- the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JSON]:
    """``bot_command`` entities for every ``/command`` (optionally ``@botname``) in ``text``.

    Offsets and lengths are in UTF-16 code units, as Telegram sends them.
    """
    entities = []
    for match in _COMMAND_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities


class ApiError(Exception):
    """A Telegram-shaped error answer: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None):
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass
class RateLimits:
    """Flood limits after https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this.

    * ``global_per_second`` messages per second over all chats (sliding 1 s window);
    * ``private_per_second`` sustained per private chat, with a token bucket of
      ``private_burst`` messages;
    * ``group_per_minute`` per group / supergroup / channel (negative or ``@name`` chat_id,
      sliding 60 s window).

    Only the methods in ``methods`` (lower-case) count.  Rejected calls do not use up quota.
    """

    global_per_second: int = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20
    methods: frozenset[str] = field(default_factory=lambda: _MESSAGE_METHODS)


class _RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float]):
        self.limits = limits
        self.clock = clock
        self._global: deque[float] = deque()
        self._groups: dict[Any, deque[float]] = {}
        self._buckets: dict[Any, tuple[float, float]] = {}

    def check(self, chat_id: Any) -> int | None:
        """Return ``retry_after`` seconds if the message must be refused, else record it."""
        limits = self.limits
        now = self.clock()
        waits: list[float] = []

        window = self._global
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limits.global_per_second:
            waits.append(window[0] + 1.0 - now)

        is_group = isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)
        tokens = 0.0
        if is_group:
            group = self._groups.setdefault(chat_id, deque())
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= limits.group_per_minute:
                waits.append(group[0] + 60.0 - now)
        else:
            tokens, last = self._buckets.get(chat_id, (float(limits.private_burst), now))
            tokens = min(float(limits.private_burst), tokens + (now - last) * limits.private_per_second)
            if tokens < 1.0:
                waits.append((1.0 - tokens) / limits.private_per_second)

        if waits:
            return max(1, math.ceil(max(waits)))

        window.append(now)
        if is_group:
            self._groups[chat_id].append(now)
        else:
            self._buckets[chat_id] = (tokens - 1.0, now)
        return None


@dataclass
class _Queued:
    update_id: int
    update: JSON
    delivered: bool = False
    seq: int = 0

    @property
    def kind(self) -> str:
        for key in self.update:
            if key != "update_id":
                return key
        return ""


@dataclass
class _Poll:
    conflict: bool = False


@dataclass
class StoredFile:
    """A file the fake can hand out through getFile and the download route."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None


class _Described:
    """A successful result that Telegram accompanies with a ``description``."""

    def __init__(self, result: Any, description: str):
        self.result = result
        self.description = description


# --------------------------------------------------------------------------- formatting checks


def _html_to_plain(text: str) -> str:
    """Validate Telegram-HTML like the Bot API does (roughly) and return the visible text."""
    stack: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "<":
            out.append(char)
            i += 1
            continue
        offset = len(text[:i].encode("utf-8"))
        match = _HTML_TAG_RE.match(text, i)
        if not match:
            name = re.match(r"/?([^\s<>]*)", text[i + 1 :]).group(1)  # type: ignore[union-attr]
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
            )
        closing, name = match.group(1), match.group(2).lower()
        if name not in _HTML_TAGS:
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
            )
        if closing:
            if not stack:
                raise _bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if stack[-1] != name:
                raise _bad_request(
                    f"can't parse entities: Can't find end tag corresponding to start tag "
                    f'"{stack[-1]}"'
                )
            stack.pop()
        else:
            stack.append(name)
        i = match.end()
    if stack:
        raise _bad_request(
            f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"'
        )
    return html.unescape("".join(out))


def _markdown_v2_to_plain(text: str) -> str:
    """Validate MarkdownV2 (reserved characters, unclosed entities) and return the visible text."""
    out: list[str] = []
    open_at: dict[str, int] = {}
    names = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}
    link_open: int | None = None
    n = len(text)
    i = 0

    def offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    def reserved(char: str) -> ApiError:
        return _bad_request(
            f"can't parse entities: Character '{char}' is reserved and must be escaped with the "
            "preceding '\\'"
        )

    def find_unescaped(token: str, start: int) -> int:
        j = start
        while j < n:
            if text[j] == "\\":
                j += 2
                continue
            if text.startswith(token, j):
                return j
            j += 1
        return -1

    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 < n and 1 <= ord(text[i + 1]) <= 126:
                out.append(text[i + 1])
                i += 2
                continue
            raise reserved("\\")
        if text.startswith("```", i):
            end = find_unescaped("```", i + 3)
            if end < 0:
                raise _bad_request(f"can't parse entities: Can't find end of Pre entity at byte offset {offset(i)}")
            body = text[i + 3 : end]
            if "\n" in body and re.match(r"^[A-Za-z0-9_+-]*\n", body):
                body = body.split("\n", 1)[1]
            out.append(re.sub(r"\\(.)", r"\1", body))
            i = end + 3
            continue
        if char == "`":
            end = find_unescaped("`", i + 1)
            if end < 0:
                raise _bad_request(f"can't parse entities: Can't find end of Code entity at byte offset {offset(i)}")
            out.append(re.sub(r"\\(.)", r"\1", text[i + 1 : end]))
            i = end + 1
            continue
        token = None
        if text.startswith("__", i):
            token = "__"
        elif text.startswith("||", i):
            token = "||"
        elif char in "*_~":
            token = char
        if token is not None:
            if token in open_at:
                del open_at[token]
            else:
                open_at[token] = offset(i)
            i += len(token)
            continue
        if char == "[":
            if link_open is not None:
                raise reserved("[")
            link_open = offset(i)
            i += 1
            continue
        if char == "]":
            if link_open is None:
                raise reserved("]")
            link_open = None
            if i + 1 < n and text[i + 1] == "(":
                end = find_unescaped(")", i + 2)
                if end < 0:
                    raise _bad_request(f"can't parse entities: Can't find end of a URL at byte offset {offset(i + 1)}")
                i = end + 1
            else:
                i += 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if char == "!" and i + 1 < n and text[i + 1] == "[":
            i += 1
            continue
        if char in _MDV2_RESERVED:
            raise reserved(char)
        out.append(char)
        i += 1
    if link_open is not None:
        raise _bad_request(f"can't parse entities: Can't find end of TextUrl entity at byte offset {link_open}")
    if open_at:
        token, pos = min(open_at.items(), key=lambda item: item[1])
        raise _bad_request(f"can't parse entities: Can't find end of {names[token]} entity at byte offset {pos}")
    return "".join(out)


def _markdown_to_plain(text: str) -> str:
    """Legacy Markdown: unbalanced ``* _ ` `` markers are an error."""
    for marker in ("*", "_", "`"):
        unescaped = [m.start() for m in re.finditer(r"(?<!\\)" + re.escape(marker), text)]
        if len(unescaped) % 2:
            pos = len(text[: unescaped[-1]].encode("utf-8"))
            raise _bad_request(f"can't parse entities: Can't find end of the entity starting at byte offset {pos}")
    return re.sub(r"\\([*_`\[])", r"\1", re.sub(r"(?<!\\)[*_`]", "", text))


def _visible_text(text: str, parse_mode: str | None, check: bool) -> str:
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode not in ("html", "markdown", "markdownv2"):
        raise _bad_request("unsupported parse_mode")
    if not check:
        return text
    if mode == "html":
        return _html_to_plain(text)
    if mode == "markdownv2":
        return _markdown_v2_to_plain(text)
    return _markdown_to_plain(text)


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG, or None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    i += 1 if marker == 0xFF else 2
                    continue
                length = struct.unpack(">H", data[i + 2 : i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                    return width, height
                i += 2 + length
    except struct.error:
        return None
    return None


# --------------------------------------------------------------------------------- the server


class FakeTelegramAPI:
    """In-memory Telegram Bot API over real HTTP.  See the module docstring."""

    def __init__(
        self,
        token: str = "123:ABC",
        bot_username: str = "duban_bot",
        *,
        bot_first_name: str = "Duban",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: bool | RateLimits = True,
        max_poll_timeout: float = 1.0,
        check_parse_mode: bool = True,
        strict_webhook_url: bool = False,
        conflict_on_concurrent_poll: bool = True,
        first_update_id: int = 100_000_001,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123
        self.host = host
        self.port = port
        self.max_poll_timeout = max_poll_timeout
        self.check_parse_mode = check_parse_mode
        self.strict_webhook_url = strict_webhook_url
        self.conflict_on_concurrent_poll = conflict_on_concurrent_poll
        self._clock = clock
        if rate_limits is True:
            rate_limits = RateLimits()
        self.rate_limits: RateLimits | None = rate_limits or None
        self._limiter = _RateLimiter(self.rate_limits, clock) if self.rate_limits else None

        self._lock = threading.RLock()
        self._queue: list[_Queued] = []
        self._seq = itertools.count()
        self._next_update_id = first_update_id
        self._next_message_id: dict[Any, int] = {}
        self._file_counter = itertools.count(1)
        self._allowed_updates: frozenset[str] | None = None
        self._active_poll: _Poll | None = None
        self._pending_callbacks: set[str] = set()
        self._closing = False

        # -- recorded, test-facing state (read it, or clear it with clear_recorded()) --
        self.sent: list[JSON] = []
        """Outbound messages: sendMessage/sendPhoto/sendDocument/editMessageText/editMessageReplyMarkup."""
        self.calls: list[JSON] = []
        """Every routed API call except getUpdates (also ones then refused): {method, params, files, time}."""
        self.rejected: list[JSON] = []
        """Calls refused with 429: {method, chat_id, retry_after, time}."""
        self.rejected_429 = 0
        self.answered_callbacks: list[JSON] = []
        self.commands: list[JSON] | None = None
        """``commands`` of the most recent setMyCommands (None if never called)."""
        self.commands_payload: JSON | None = None
        """The whole most recent setMyCommands payload: {commands, scope, language_code}."""
        self.commands_by_scope: dict[tuple[str, str], list[JSON]] = {}
        self.webhook: JSON | None = None
        """Arguments of the most recent setWebhook (kept after deleteWebhook)."""
        self.webhook_url = ""
        self.get_updates_calls = 0
        self.delivered_update_ids: list[int] = []
        self.pushed: dict[int, JSON] = {}
        self.messages: dict[tuple[Any, int], JSON] = {}
        self.files: dict[str, StoredFile] = {}
        self.users: dict[int, JSON] = {}
        self.chats: dict[Any, JSON] = {}
        self.blocked_chats: set[Any] = set()
        self.floods: dict[Any, list[Any]] = {}
        """chat_id -> [retry_after, refused until (clock) or None] (set with ``flood``)."""
        self.closed = False
        self.logged_out = False

        self._methods: dict[str, Callable[..., Any]] = {
            "getme": self._m_get_me,
            "getupdates": self._m_get_updates,
            "sendmessage": self._m_send_message,
            "sendphoto": self._m_send_photo,
            "senddocument": self._m_send_document,
            "editmessagetext": self._m_edit_message_text,
            "editmessagereplymarkup": self._m_edit_message_reply_markup,
            "answercallbackquery": self._m_answer_callback_query,
            "setmycommands": self._m_set_my_commands,
            "getmycommands": self._m_get_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "getfile": self._m_get_file,
            "setwebhook": self._m_set_webhook,
            "deletewebhook": self._m_delete_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "close": self._m_close,
            "logout": self._m_log_out,
        }

        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_updates: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None

    # ------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` -- append ``/bot`` / ``/file/bot`` for PTB."""
        if not self.port:
            raise RuntimeError("FakeTelegramAPI is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``<base_url>/bot<token>`` -- append ``/<method>``."""
        return f"{self.base_url}/bot{self.token}"

    def method_url(self, method: str, token: str | None = None) -> str:
        return f"{self.base_url}/bot{self.token if token is None else token}/{method}"

    def file_url(self, file_path: str) -> str:
        return f"{self.base_url}/file/bot{self.token}/{file_path}"

    async def start(self) -> FakeTelegramAPI:
        """Start serving in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.get_running_loop()
        self._new_updates = asyncio.Event()
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        """Stop serving (long polls in flight return at once)."""
        self._closing = True
        self._pulse()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 10.0) -> FakeTelegramAPI:
        """Serve from a daemon thread with its own event loop (for sync tests / subprocess bots)."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                self._thread_error = exc
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="FakeTelegramAPI", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("FakeTelegramAPI thread did not start")
        if self._thread_error is not None:
            raise RuntimeError("FakeTelegramAPI failed to start") from self._thread_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            raise RuntimeError("stop() is for start_in_thread(); use aclose() / async with")
        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeTelegramAPI:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------- test helpers

    def _pulse(self) -> None:
        """Wake long polls.  Runs in the server loop."""
        event = self._new_updates
        if event is not None:
            self._new_updates = asyncio.Event()
            event.set()

    def _wake_pollers(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._pulse)
        except RuntimeError:  # loop closed between the check and the call
            pass

    def _now_date(self) -> int:
        return int(time.time())

    def _new_message_id(self, chat_id: Any) -> int:
        with self._lock:
            message_id = self._next_message_id.get(chat_id, 1)
            self._next_message_id[chat_id] = message_id + 1
            return message_id

    def _note_message_id(self, chat_id: Any, message_id: int) -> None:
        with self._lock:
            if self._next_message_id.get(chat_id, 1) <= message_id:
                self._next_message_id[chat_id] = message_id + 1

    def _user(self, user_id: int, first_name: str | None, username: str | None,
              last_name: str | None, language_code: str | None) -> JSON:
        with self._lock:
            user = dict(self.users.get(user_id) or {"id": user_id, "is_bot": False,
                                                    "first_name": f"User{user_id}"})
            if first_name is not None:
                user["first_name"] = first_name
            if username is not None:
                user["username"] = username
            if last_name is not None:
                user["last_name"] = last_name
            if language_code is not None:
                user["language_code"] = language_code
            self.users[user_id] = user
            return dict(user)

    def _chat_for(self, user: JSON, chat_id: Any, chat_type: str, chat_title: str | None) -> JSON:
        if chat_type == "private":
            cid = user["id"] if chat_id is None else chat_id
            chat = {"id": cid, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        else:
            if chat_id is None:
                chat_id = -123456789 if chat_type == "group" else -1001234567890
            with self._lock:
                known = self.chats.get(chat_id, {})
            chat = {"id": chat_id, "type": chat_type,
                    "title": chat_title or known.get("title") or f"Group {chat_id}"}
            if chat_type == "supergroup" and known.get("is_forum"):
                chat["is_forum"] = True
        with self._lock:
            self.chats[chat["id"]] = dict(chat)
        return chat

    def _chat_object(self, chat_id: Any) -> JSON:
        """The Chat object for an outbound message to ``chat_id``."""
        with self._lock:
            known = self.chats.get(chat_id)
        if known is not None:
            return dict(known)
        if isinstance(chat_id, str):
            return {"id": -1000000000000 - (abs(hash(chat_id)) % 10**9), "type": "channel",
                    "title": chat_id.lstrip("@"), "username": chat_id.lstrip("@")}
        if chat_id > 0:
            user = self.users.get(chat_id, {})
            chat = {"id": chat_id, "type": "private",
                    "first_name": user.get("first_name", f"User{chat_id}")}
            if "username" in user:
                chat["username"] = user["username"]
            return chat
        chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": chat_type, "title": f"Group {chat_id}"}

    def bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    def _base_message(self, user_id: int, chat_id: Any, chat_type: str, first_name: str | None,
                      username: str | None, last_name: str | None, language_code: str | None,
                      chat_title: str | None, reply_to_message_id: int | None,
                      message_thread_id: int | None) -> JSON:
        user = self._user(user_id, first_name, username, last_name, language_code)
        chat = self._chat_for(user, chat_id, chat_type, chat_title)
        message: JSON = {
            "message_id": self._new_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": self._now_date(),
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if reply_to_message_id is not None:
            with self._lock:
                original = self.messages.get((chat["id"], reply_to_message_id))
            if original is not None:
                message["reply_to_message"] = copy.deepcopy(original)
        return message

    def _enqueue(self, update: JSON) -> int:
        with self._lock:
            update = copy.deepcopy(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            update_id = int(update["update_id"])
            self._next_update_id = max(self._next_update_id, update_id + 1)
            self._register_update(update)
            self._queue.append(_Queued(update_id, update, seq=next(self._seq)))
            self.pushed[update_id] = update
        self._wake_pollers()
        return update_id

    def _register_update(self, update: JSON) -> None:
        """Remember messages / callback ids an update carries (for edits, replies, answers)."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict):
                self._store_message(message)
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            if "id" in callback:
                self._pending_callbacks.add(str(callback["id"]))
            if isinstance(callback.get("message"), dict):
                chat_id = callback["message"].get("chat", {}).get("id")
                if (chat_id, callback["message"].get("message_id")) not in self.messages:
                    self._store_message(callback["message"])

    def _store_message(self, message: JSON) -> None:
        chat = message.get("chat") or {}
        chat_id, message_id = chat.get("id"), message.get("message_id")
        if chat_id is None or not isinstance(message_id, int):
            return
        with self._lock:
            self.messages[(chat_id, message_id)] = copy.deepcopy(message)
            self._note_message_id(chat_id, message_id)
            self.chats.setdefault(chat_id, dict(chat))
            sender = message.get("from")
            if isinstance(sender, dict) and not sender.get("is_bot") and "id" in sender:
                self.users.setdefault(sender["id"], dict(sender))

    def push_raw(self, update: JSON) -> int:
        """Queue an update exactly as given (a missing ``update_id`` is assigned).

        Pushing an update whose ``update_id`` was already delivered and confirmed makes the
        fake deliver it again -- for testing a bot's de-duplication.
        """
        return self._enqueue(update)

    def push_message(self, user_id: int, *, chat_id: Any = None, chat_type: str = "private",
                     first_name: str | None = None, username: str | None = None,
                     last_name: str | None = None, language_code: str | None = "zh-hans",
                     chat_title: str | None = None, reply_to_message_id: int | None = None,
                     message_thread_id: int | None = None, **fields: Any) -> int:
        """Queue a ``message`` update with arbitrary extra Message fields (location, contact...)."""
        message = self._base_message(user_id, chat_id, chat_type, first_name, username, last_name,
                                     language_code, chat_title, reply_to_message_id,
                                     message_thread_id)
        message.update(fields)
        return self._enqueue({"message": message})

    def push_text(self, user_id: int, text: str, chat_id: Any = None, chat_type: str = "private",
                  first_name: str | None = None, username: str | None = None, *,
                  last_name: str | None = None, language_code: str | None = "zh-hans",
                  entities: list[JSON] | None = None, chat_title: str | None = None,
                  reply_to_message_id: int | None = None,
                  message_thread_id: int | None = None) -> int:
        """Queue a text message from ``user_id``; ``bot_command`` entities are computed
        (UTF-16 offsets) unless ``entities`` is given.  For groups pass ``chat_type="group"`` or
        ``"supergroup"`` and a negative ``chat_id``; write ``/cmd@<bot_username>`` yourself."""
        fields: JSON = {"text": text}
        ents = command_entities(text) if entities is None else entities
        if ents:
            fields["entities"] = ents
        return self.push_message(user_id, chat_id=chat_id, chat_type=chat_type,
                                 first_name=first_name, username=username, last_name=last_name,
                                 language_code=language_code, chat_title=chat_title,
                                 reply_to_message_id=reply_to_message_id,
                                 message_thread_id=message_thread_id, **fields)

    def push_edited_text(self, user_id: int, text: str, message_id: int | None = None,
                         chat_id: Any = None, chat_type: str = "private", *,
                         entities: list[JSON] | None = None) -> int:
        """Queue an ``edited_message`` update.  ``message_id`` defaults to the user's last
        message in that chat (one is invented if there is none)."""
        user = self._user(user_id, None, None, None, None)
        cid = self._chat_for(user, chat_id, chat_type, None)["id"]
        with self._lock:
            original = None
            if message_id is None:
                own = [m for (c, _), m in self.messages.items()
                       if c == cid and m.get("from", {}).get("id") == user_id]
                original = own[-1] if own else None
            else:
                original = self.messages.get((cid, message_id))
        if original is None:
            message = {"message_id": message_id if message_id is not None else self._new_message_id(cid),
                       "from": user, "chat": self._chat_object(cid), "date": self._now_date()}
        else:
            message = copy.deepcopy(original)
        message["text"] = text
        message.pop("entities", None)
        ents = command_entities(text) if entities is None else entities
        if ents:
            message["entities"] = ents
        message["edit_date"] = self._now_date()
        return self._enqueue({"edited_message": message})

    def push_callback(self, user_id: int, data: str, message_id: int | None = None,
                      chat_id: Any = None, chat_type: str = "private", *,
                      first_name: str | None = None, username: str | None = None,
                      callback_query_id: str | None = None, message_text: str = "…") -> int:
        """Queue a ``callback_query`` for an inline button with ``callback_data=data`` on
        message ``message_id`` (default: the bot's last message in that chat; a stand-in bot
        message with ``message_text`` is created if the fake has never seen one)."""
        user = self._user(user_id, first_name, username, None, "zh-hans")
        chat = self._chat_for(user, chat_id, chat_type, None)
        cid = chat["id"]
        with self._lock:
            message = None
            if message_id is None:
                mine = [m for (c, _), m in self.messages.items()
                        if c == cid and m.get("from", {}).get("id") == self.bot_id]
                message = mine[-1] if mine else None
            else:
                message = self.messages.get((cid, message_id))
        if message is None:
            message = {
                "message_id": message_id if message_id is not None else self._new_message_id(chat["id"]),
                "from": self.bot_user(),
                "chat": chat,
                "date": self._now_date(),
                "text": message_text,
            }
            self._store_message(message)
        callback_id = callback_query_id or str(secrets.randbits(63))
        update = {
            "callback_query": {
                "id": callback_id,
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(hash((self.bot_id, message["chat"]["id"]))) % 10**18),
                "data": data,
            }
        }
        return self._enqueue(update)

    def register_file(self, data: bytes, *, kind: str = "photos", file_name: str | None = None,
                      mime_type: str | None = None, file_id: str | None = None) -> StoredFile:
        """Make ``data`` available through getFile + download; returns the StoredFile."""
        number = next(self._file_counter)
        prefix = {"photos": "AgACAgUAAxkBAAI", "documents": "BQACAgUAAxkBAAI"}.get(kind, "CAACAgUAAxkBAAI")
        if file_id is None:
            file_id = f"{prefix}{number:06d}{secrets.token_hex(8)}"
        ext = ".jpg" if kind == "photos" else ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(file_id=file_id, file_unique_id=f"AQAD{number:06d}{secrets.token_hex(4)}",
                            data=bytes(data), file_path=f"{kind}/file_{number}{ext}",
                            file_name=file_name, mime_type=mime_type)
        with self._lock:
            self.files[file_id] = stored
        return stored

    def _photo_sizes(self, data: bytes) -> list[JSON]:
        width, height = _image_size(data) or (320, 320)
        big = self.register_file(data, kind="photos")
        scale = min(1.0, 1280 / max(width, height, 1))
        sizes = []
        if max(width, height) > 90:
            small = self.register_file(data, kind="photos")
            thumb_scale = 90 / max(width, height)
            sizes.append({"file_id": small.file_id, "file_unique_id": small.file_unique_id,
                          "file_size": len(data), "width": max(1, round(width * thumb_scale)),
                          "height": max(1, round(height * thumb_scale))})
        sizes.append({"file_id": big.file_id, "file_unique_id": big.file_unique_id,
                      "file_size": len(data), "width": max(1, round(width * scale)),
                      "height": max(1, round(height * scale))})
        return sizes

    def push_photo(self, user_id: int, caption: str | None = None,
                   file_bytes: bytes = b"\x89PNG\r\n\x1a\n", chat_id: Any = None,
                   chat_type: str = "private", **kwargs: Any) -> int:
        """Queue a photo message; its PhotoSizes are registered for getFile + download."""
        fields: JSON = {"photo": self._photo_sizes(file_bytes)}
        if caption is not None:
            fields["caption"] = caption
            ents = command_entities(caption)
            if ents:
                fields["caption_entities"] = ents
        return self.push_message(user_id, chat_id=chat_id, chat_type=chat_type, **kwargs, **fields)

    def push_document(self, user_id: int, file_bytes: bytes, file_name: str = "file.pdf",
                      mime_type: str = "application/pdf", caption: str | None = None,
                      chat_id: Any = None, chat_type: str = "private", **kwargs: Any) -> int:
        """Queue a document message; the file is registered for getFile + download."""
        stored = self.register_file(file_bytes, kind="documents", file_name=file_name,
                                    mime_type=mime_type)
        fields: JSON = {"document": {"file_id": stored.file_id,
                                     "file_unique_id": stored.file_unique_id,
                                     "file_name": file_name, "mime_type": mime_type,
                                     "file_size": len(file_bytes)}}
        if caption is not None:
            fields["caption"] = caption
        return self.push_message(user_id, chat_id=chat_id, chat_type=chat_type, **kwargs, **fields)

    def block(self, chat_id: Any) -> None:
        """Make sends to ``chat_id`` fail with 403, as after a user blocks the bot."""
        with self._lock:
            self.blocked_chats.add(chat_id)

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed."""
        with self._lock:
            return len(self._queue)

    def sent_texts(self, chat_id: Any = None) -> list[str | None]:
        with self._lock:
            return [s.get("text") for s in self.sent if chat_id is None or s.get("chat_id") == chat_id]

    def flood(self, chat_id: Any, retry_after: int) -> None:
        """Refuse the next message to ``chat_id`` with 429 ``retry_after``, and every message to
        it for ``retry_after`` seconds after that."""
        with self._lock:
            self.floods[chat_id] = [int(retry_after), None]

    def clear_recorded(self) -> None:
        with self._lock:
            self.sent.clear()
            self.calls.clear()
            self.rejected.clear()
            self.answered_callbacks.clear()
            self.rejected_429 = 0

    def _matching_sent(self, method: str | None, chat_id: Any) -> list[JSON]:
        with self._lock:
            return [
                s for s in self.sent
                if (method is None or s["method"].lower() == method.lower())
                and (chat_id is None or s.get("chat_id") == chat_id)
            ]

    async def wait_for_sent(self, n: int = 1, timeout: float = 5.0, *, method: str | None = None,
                            chat_id: Any = None) -> list[JSON]:
        """Wait until at least ``n`` matching records are in :attr:`sent`; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching_sent(method, chat_id)
            if len(found) >= n:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {n} sent message(s), got {len(found)}: {found!r}")
            await asyncio.sleep(0.005)

    def wait_for_sent_sync(self, n: int = 1, timeout: float = 5.0, *, method: str | None = None,
                           chat_id: Any = None) -> list[JSON]:
        """Blocking variant of :meth:`wait_for_sent` (server must run in a thread / process)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching_sent(method, chat_id)
            if len(found) >= n:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {n} sent message(s), got {len(found)}: {found!r}")
            time.sleep(0.005)

    def wait_for_rejected_sync(self, n: int = 1, timeout: float = 5.0) -> list[JSON]:
        """Wait until at least ``n`` calls were refused with 429; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = list(self.rejected)
            if len(found) >= n:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {n} refused call(s), got {len(found)}")
            time.sleep(0.005)

    async def post_to_webhook(self, update: JSON | int, timeout: float = 10.0) -> int:
        """POST an update (dict, or the update_id of a pushed one) to the webhook set with
        setWebhook, with the ``X-Telegram-Bot-Api-Secret-Token`` header; returns the HTTP status."""
        if not self.webhook_url:
            raise RuntimeError("no webhook is set")
        body = self.pushed[update] if isinstance(update, int) else update
        headers = {}
        if self.webhook and self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        async with ClientSession(timeout=ClientTimeout(total=timeout)) as session:
            async with session.post(self.webhook_url, json=body, headers=headers) as response:
                return response.status

    # ------------------------------------------------------------------------ HTTP layer

    @staticmethod
    def _json_response(body: JSON, status: int = 200) -> web.Response:
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return self._json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    def _check_token(self, token: str) -> web.Response | None:
        if token == self.token:
            return None
        if ":" not in token:
            return self._json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return self._json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        refused = self._check_token(request.match_info["token"])
        if refused is not None:
            return refused
        path = request.match_info["file_path"]
        with self._lock:
            stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return self._json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return web.Response(body=stored.data,
                            content_type=stored.mime_type or "application/octet-stream")

    async def _handle_method(self, request: web.Request) -> web.Response:
        refused = self._check_token(request.match_info["token"])
        if refused is not None:
            return refused
        method_name = request.match_info["method"]
        handler = self._methods.get(method_name.lower())
        if handler is None:
            return self._json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, 404)
        try:
            params, files = await self._parse_request(request)
            key = method_name.lower()
            if key != "getupdates":
                with self._lock:
                    self.calls.append({"method": method_name, "params": params,
                                       "files": {k: v["filename"] for k, v in files.items()},
                                       "time": self._clock()})
            self._gate(key, method_name, params)
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return self._json_response(exc.body(), exc.code)
        body: JSON = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.result
            body["description"] = result.description
        else:
            body["result"] = result
        return self._json_response(body)

    async def _parse_request(self, request: web.Request) -> tuple[JSON, dict[str, JSON]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, JSON] = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise _bad_request("can't parse JSON object")
                raw.update(body)
            elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        files[name] = {"filename": value.filename,
                                       "content_type": value.content_type,
                                       "data": value.file.read()}
                    else:
                        raw[name] = value
        params = {name: self._normalize(name, value) for name, value in raw.items()}
        return params, files

    @staticmethod
    def _normalize(name: str, value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            return value
        if name in _JSON_FIELDS:
            try:
                return json.loads(value)
            except ValueError:
                if name == "reply_markup":
                    raise _bad_request("can't parse reply keyboard markup JSON object") from None
                raise _bad_request(f"can't parse {name} JSON object") from None
        if name == "chat_id" or name == "from_chat_id":
            return int(value) if re.fullmatch(r"-?\d+", value.strip()) else value
        if name in _INT_FIELDS:
            try:
                return int(value)
            except ValueError:
                raise _bad_request(f"invalid {name} specified") from None
        if name in _FLOAT_FIELDS:
            try:
                return float(value)
            except ValueError:
                raise _bad_request(f"invalid {name} specified") from None
        if name in _BOOL_FIELDS:
            return value.strip().lower() in ("true", "1")
        return value

    def _gate(self, key: str, method: str, params: JSON) -> None:
        """Blocked chats (403) and flood control (429) for message-sending methods."""
        chat_id = params.get("chat_id")
        if key not in _MESSAGE_METHODS or chat_id is None or chat_id == "":
            return
        with self._lock:
            if chat_id in self.blocked_chats:
                if isinstance(chat_id, int) and chat_id > 0:
                    raise ApiError(403, "Forbidden: bot was blocked by the user")
                raise ApiError(403, "Forbidden: bot was kicked from the group chat")
            flood = self.floods.get(chat_id)
            if flood is not None and flood[1] is None:
                flood[1] = self._clock() + flood[0]
                retry_after = flood[0]
            elif flood is not None and self._clock() < flood[1]:
                retry_after = max(1, math.ceil(flood[1] - self._clock()))
            elif self._limiter is None or key not in self.rate_limits.methods:  # type: ignore[union-attr]
                return
            else:
                retry_after = self._limiter.check(chat_id)
            if retry_after is None:
                return
            self.rejected_429 += 1
            self.rejected.append({"method": method, "chat_id": chat_id,
                                  "retry_after": retry_after, "time": self._clock()})
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}",
                       {"retry_after": retry_after})

    # ------------------------------------------------------------------------- methods

    def _m_get_me(self, params: JSON, files: dict) -> JSON:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            keep = sorted(self._queue, key=lambda q: (q.update_id, q.seq))[offset:]
            keep_ids = {id(q) for q in keep}
            self._queue = [q for q in self._queue if id(q) in keep_ids]
            return
        self._queue = [q for q in self._queue if not (q.delivered and q.update_id < offset)]

    def _take(self, limit: int) -> list[JSON]:
        with self._lock:
            allowed = self._allowed_updates
            if allowed is None:
                self._queue = [q for q in self._queue if q.kind not in _NOT_DELIVERED_BY_DEFAULT]
            else:
                self._queue = [q for q in self._queue if q.kind in allowed]
            ordered = sorted(self._queue, key=lambda q: (q.update_id, q.seq))[:limit]
            for queued in ordered:
                queued.delivered = True
                self.delivered_update_ids.append(queued.update_id)
            return [copy.deepcopy(q.update) for q in ordered]

    async def _m_get_updates(self, params: JSON, files: dict) -> list[JSON]:
        with self._lock:
            self.get_updates_calls += 1
            if self.webhook_url:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                    "active; use deleteWebhook to delete the webhook first")
            limit = params.get("limit") or 100
            limit = max(1, min(100, int(limit)))
            timeout = float(params.get("timeout") or 0)
            timeout = max(0.0, min(timeout, self.max_poll_timeout))
            if "allowed_updates" in params:
                allowed = params["allowed_updates"]
                if isinstance(allowed, str):
                    allowed = [allowed]
                self._allowed_updates = frozenset(allowed) if allowed else None
            self._confirm(params.get("offset"))
        ticket = _Poll()
        previous, self._active_poll = self._active_poll, ticket
        if previous is not None and self.conflict_on_concurrent_poll:
            previous.conflict = True
            self._pulse()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if ticket.conflict:
                    raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                        "sure that only one bot instance is running")
                event = self._new_updates
                batch = self._take(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing or event is None:
                    return batch
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            if self._active_poll is ticket:
                self._active_poll = None

    # -- sending

    def _require_chat(self, params: JSON) -> Any:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and not chat_id.startswith("@"):
            raise _bad_request("chat not found")
        return chat_id

    @staticmethod
    def _check_reply_markup(markup: Any) -> JSON | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request("can't parse inline keyboard button: InlineKeyboardButtons must be an Array")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad_request("BUTTON_DATA_INVALID")
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_to(self, chat_id: Any, params: JSON) -> JSON | None:
        reply_id = params.get("reply_to_message_id")
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            reply_id = reply.get("message_id", reply_id)
        if reply_id is None:
            return None
        with self._lock:
            original = self.messages.get((chat_id, int(reply_id)))
        return copy.deepcopy(original) if original is not None else None

    def _bot_message(self, chat_id: Any, params: JSON, **content: Any) -> JSON:
        chat = self._chat_object(chat_id)
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user(),
            "chat": chat,
            "date": self._now_date(),
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
        reply_to = self._reply_to(chat_id, params)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update({k: v for k, v in content.items() if v is not None})
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Telegram only echoes inline keyboards in the returned Message.
            message["reply_markup"] = markup
        with self._lock:
            self.messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
        return message

    def _record_sent(self, method: str, params: JSON, message: JSON | bool, **extra: Any) -> None:
        record: JSON = {
            "method": method,
            "chat_id": params.get("chat_id"),
            "text": params.get("text"),
            "caption": params.get("caption"),
            "parse_mode": params.get("parse_mode"),
            "reply_markup": params.get("reply_markup"),
            "message_id": message["message_id"] if isinstance(message, dict) else params.get("message_id"),
            "params": params,
            "result": message,
            "time": self._clock(),
        }
        record.update(extra)
        with self._lock:
            self.sent.append(record)

    def _m_send_message(self, params: JSON, files: dict) -> JSON:
        chat_id = self._require_chat(params)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _bad_request("message text is empty")
        text = str(text)
        visible = _visible_text(text, params.get("parse_mode"), self.check_parse_mode)
        if not visible.strip():
            raise _bad_request("message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        self._check_reply_markup(params.get("reply_markup"))
        message = self._bot_message(chat_id, params, text=visible)
        self._record_sent("sendMessage", params, message)
        return message

    def _caption(self, params: JSON) -> str | None:
        caption = params.get("caption")
        if caption is None:
            return None
        visible = _visible_text(str(caption), params.get("parse_mode"), self.check_parse_mode)
        if len(visible) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return visible or None

    def _input_file(self, params: JSON, files: dict, field_name: str) -> tuple[Any, JSON | None, StoredFile | None]:
        """Returns (what was sent: bytes / file_id / URL, the upload part, known StoredFile)."""
        value = params.get(field_name)
        part = files.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            part = files.get(value[len("attach://"):])
            value = None
        if part is not None:
            if len(part["data"]) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            return part["data"], part, None
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                return value, None, None
            with self._lock:
                stored = self.files.get(value)
            if stored is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            return value, None, stored
        raise _bad_request(f"there is no {field_name} in the request")

    def _m_send_photo(self, params: JSON, files: dict) -> JSON:
        chat_id = self._require_chat(params)
        caption = self._caption(params)
        self._check_reply_markup(params.get("reply_markup"))
        sent, part, stored = self._input_file(params, files, "photo")
        data = part["data"] if part else (stored.data if stored else b"")
        sizes = self._photo_sizes(data)
        message = self._bot_message(chat_id, params, photo=sizes, caption=caption)
        self._record_sent("sendPhoto", params, message, photo=sent, file_id=sizes[-1]["file_id"],
                          filename=part["filename"] if part else None)
        return message

    def _m_send_document(self, params: JSON, files: dict) -> JSON:
        chat_id = self._require_chat(params)
        caption = self._caption(params)
        self._check_reply_markup(params.get("reply_markup"))
        sent, part, stored = self._input_file(params, files, "document")
        if stored is not None:
            new = stored
        else:
            data = part["data"] if part else b""
            name = part["filename"] if part else (str(sent).rsplit("/", 1)[-1] or "file")
            mime = part["content_type"] if part else "application/octet-stream"
            new = self.register_file(data, kind="documents", file_name=name, mime_type=mime)
        document = {"file_id": new.file_id, "file_unique_id": new.file_unique_id,
                    "file_size": len(new.data)}
        if new.file_name:
            document["file_name"] = new.file_name
        if new.mime_type:
            document["mime_type"] = new.mime_type
        message = self._bot_message(chat_id, params, document=document, caption=caption)
        self._record_sent("sendDocument", params, message, document=sent, file_id=new.file_id,
                          filename=new.file_name)
        return message

    # -- editing

    def _message_to_edit(self, params: JSON) -> tuple[Any, JSON | None]:
        if params.get("inline_message_id"):
            return None, None
        chat_id = self._require_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        with self._lock:
            message = self.messages.get((chat_id, int(message_id)))
        if message is None:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return chat_id, message

    def _not_modified(self) -> ApiError:
        return _bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _m_edit_message_text(self, params: JSON, files: dict) -> JSON | bool:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _bad_request("message text is empty")
        visible = _visible_text(str(text), params.get("parse_mode"), self.check_parse_mode)
        if len(visible) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._check_reply_markup(params.get("reply_markup"))
        inline_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        chat_id, message = self._message_to_edit(params)
        if message is None:
            self._record_sent("editMessageText", params, True)
            return True
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        if message.get("text") == visible and message.get("reply_markup") == inline_markup:
            raise self._not_modified()
        message = copy.deepcopy(message)
        message["text"] = visible
        message.pop("entities", None)
        message["edit_date"] = self._now_date()
        if inline_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline_markup
        with self._lock:
            self.messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
        self._record_sent("editMessageText", params, message)
        return message

    def _m_edit_message_reply_markup(self, params: JSON, files: dict) -> JSON | bool:
        markup = self._check_reply_markup(params.get("reply_markup"))
        inline_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        chat_id, message = self._message_to_edit(params)
        if message is None:
            self._record_sent("editMessageReplyMarkup", params, True)
            return True
        if message.get("reply_markup") == inline_markup:
            raise self._not_modified()
        message = copy.deepcopy(message)
        message["edit_date"] = self._now_date()
        if inline_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline_markup
        with self._lock:
            self.messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
        self._record_sent("editMessageReplyMarkup", params, message)
        return message

    def _m_answer_callback_query(self, params: JSON, files: dict) -> bool:
        callback_id = str(params.get("callback_query_id") or "")
        with self._lock:
            if callback_id not in self._pending_callbacks:
                raise _bad_request("query is too old and response timeout expired or query ID is invalid")
            self._pending_callbacks.discard(callback_id)
            self.answered_callbacks.append({
                "callback_query_id": callback_id,
                "text": params.get("text"),
                "show_alert": bool(params.get("show_alert", False)),
                "url": params.get("url"),
                "cache_time": params.get("cache_time"),
                "time": self._clock(),
            })
        return True

    # -- commands

    @staticmethod
    def _scope_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_set_my_commands(self, params: JSON, files: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_NAME_RE.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            self.commands = copy.deepcopy(commands)
            self.commands_payload = {"commands": copy.deepcopy(commands),
                                     "scope": params.get("scope"),
                                     "language_code": params.get("language_code")}
            self.commands_by_scope[self._scope_key(params)] = copy.deepcopy(commands)
        return True

    def _m_get_my_commands(self, params: JSON, files: dict) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self.commands_by_scope.get(self._scope_key(params), []))

    def _m_delete_my_commands(self, params: JSON, files: dict) -> bool:
        with self._lock:
            self.commands_by_scope.pop(self._scope_key(params), None)
        return True

    # -- files

    def _m_get_file(self, params: JSON, files: dict) -> JSON:
        file_id = str(params.get("file_id") or "")
        with self._lock:
            stored = self.files.get(file_id)
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.file_path}

    # -- webhook & lifecycle

    def _drop_pending(self) -> None:
        with self._lock:
            self._queue.clear()

    def _m_set_webhook(self, params: JSON, files: dict) -> _Described:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if url and self.strict_webhook_url:
            match = re.match(r"^https://[^/:]+(?::(\d+))?(/|$)", url)
            if not match:
                raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            if match.group(1) and int(match.group(1)) not in (80, 88, 443, 8443):
                raise _bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        allowed = params.get("allowed_updates")
        with self._lock:
            self.webhook = {
                "url": url,
                "secret_token": secret,
                "allowed_updates": allowed,
                "max_connections": params.get("max_connections"),
                "drop_pending_updates": bool(params.get("drop_pending_updates", False)),
                "ip_address": params.get("ip_address"),
                "has_custom_certificate": "certificate" in files,
                "time": self._clock(),
            }
            if "allowed_updates" in params:
                self._allowed_updates = frozenset(allowed) if allowed else None
            previous = self.webhook_url
            self.webhook_url = url
            if params.get("drop_pending_updates"):
                self._drop_pending()
        if not url:
            return _Described(True, "Webhook was deleted" if previous else "Webhook is already deleted")
        return _Described(True, "Webhook is already set" if previous == url else "Webhook was set")

    def _m_delete_webhook(self, params: JSON, files: dict) -> _Described:
        with self._lock:
            previous, self.webhook_url = self.webhook_url, ""
            if params.get("drop_pending_updates"):
                self._drop_pending()
        return _Described(True, "Webhook was deleted" if previous else "Webhook is already deleted")

    def _m_get_webhook_info(self, params: JSON, files: dict) -> JSON:
        with self._lock:
            info: JSON = {"url": self.webhook_url,
                          "has_custom_certificate": bool(self.webhook_url and self.webhook
                                                         and self.webhook["has_custom_certificate"]),
                          "pending_update_count": len(self._queue)}
            if self.webhook_url and self.webhook:
                info["max_connections"] = self.webhook.get("max_connections") or 40
                if self.webhook.get("ip_address"):
                    info["ip_address"] = self.webhook["ip_address"]
                if self._allowed_updates is not None:
                    info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _m_close(self, params: JSON, files: dict) -> bool:
        self.closed = True
        return True

    def _m_log_out(self, params: JSON, files: dict) -> bool:
        self.logged_out = True
        return True
