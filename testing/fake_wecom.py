"""A fake WeCom (企业微信) server API over real HTTP, for tests and for running the bot against.

:class:`FakeWeComAPI` is an ``aiohttp.web`` server bound to 127.0.0.1 on an
ephemeral port. Use it

* in-process from async tests: ``async with FakeWeComAPI(corp_id=..., secret=...) as api: api.base_url``;
* from sync tests / a bot running as a separate process: ``url = api.start_in_thread()`` ... ``api.stop()``
  (or ``with FakeWeComAPI(...) as api:``);
* standalone: ``python -m testing.fake_wecom --corp-id ww1 --secret s`` prints one JSON line
  ``{"base_url": ...}`` on stdout and serves until SIGINT/SIGTERM.

Point the bot's API base (normally ``https://qyapi.weixin.qq.com``) at ``api.base_url``.

Endpoints (shapes follow developer.work.weixin.qq.com; every response is HTTP 200 with
``errcode``/``errmsg``, as the real API does):

``GET /cgi-bin/gettoken?corpid=&corpsecret=``
    ``{errcode:0, errmsg:"ok", access_token, expires_in}``. Like the real API, the same
    token is returned while it is valid (``expires_in`` = remaining seconds, 7200 when
    fresh); a new one after it expires or after :meth:`FakeWeComAPI.expire_token`.
    Wrong corpid -> 40013, wrong secret -> 40001, missing -> 41002/41004.
``POST /cgi-bin/message/send?access_token=``
    App message. Accepted ``msgtype``: text, markdown, textcard, template_card, image,
    file (others -> 40008). Needs ``agentid`` (41011; 40056 if it differs from
    ``agent_id`` when one is configured), one of touser/toparty/totag (40035), a
    non-empty ``content`` for text/markdown (44004), title/description/url for textcard
    and a known ``card_type`` for template_card (40035), a ``media_id`` obtained from
    this fake's upload for image/file (40007). Token: missing 41001, unknown 40014,
    expired 42001. Success -> ``{errcode:0, errmsg:"ok", invaliduser, invalidparty,
    invalidtag, unlicenseduser, msgid}`` (+ ``response_code`` for template_card).
    If ``known_users`` is given, unknown ``touser`` entries are reported in
    ``invaliduser`` (81013 if nobody is left).
``POST /cgi-bin/webhook/send?key=``
    Group robot. Unknown key (when ``robot_keys`` is given) or missing key -> 93000.
    msgtype text/markdown/markdown_v2/image/news/file/voice/template_card.
    -> ``{errcode:0, errmsg:"ok"}``.
``POST /cgi-bin/media/upload?access_token=&type=`` (multipart field ``media``)
    type image/voice/video/file (40004), size limits 10/2/10/20 MB (40006), empty -> 44001.
    -> ``{errcode:0, errmsg:"", type, media_id, created_at}`` (created_at is a string, as real).
``POST /cgi-bin/webhook/upload_media?key=&type=`` robot upload (file/voice), same reply shape.

Rate limits (a simplification of WeCom's documented quotas, sliding 60 s window on
``clock``; requests rejected for any reason do not count):

* group robot: more than ``robot_limit`` (20) messages per key per minute -> 45009;
* app messages: a message to a user who already received ``user_limit`` (30) messages
  in the last minute -> 45009 for the whole request (``@all`` counts as one user).
  (The real API silently drops the excess per member; the fake refuses so tests see it.)

Test controls: :meth:`expire_token`, :meth:`fail_next` (queue one injected errcode on
the next matching request, consumed before any other check), :meth:`reset`.
Records: ``token_requests`` (int), ``sent`` (app messages: dicts with touser, toparty,
totag, agentid, msgtype, content, payload, msgid, time), ``robot_sent`` (key, msgtype,
content, payload, time), ``uploads`` (media_id -> info), ``requests`` (every request with
its errcode). State is guarded by a lock so a sync test may read it while the server
runs in its own thread.

Callback helpers: :func:`make_callback` (encrypted POST exactly as WeCom sends it),
:func:`make_verify_params` (the GET URL-verification query), :func:`make_text_xml`,
:func:`make_event_xml`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import secrets
import signal
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from channels.wecom.crypto import WeComCrypto, WeComCryptoError, parse_xml

__all__ = [
    "FakeWeComAPI",
    "make_callback",
    "make_event_xml",
    "make_text_xml",
    "make_verify_params",
]

ERRMSG: dict[int, str] = {
    0: "ok",
    40001: "invalid credential",
    40004: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40035: "invalid parameter",
    40056: "invalid agentid",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41005: "media data missing",
    41011: "missing agentid",
    42001: "access_token expired",
    44001: "empty media data",
    44004: "empty content",
    45009: "api freq out of limit",
    47001: "data format error",
    81013: "user & party & tag all invalid",
    93000: "invalid webhook url",
}

APP_MSG_TYPES = frozenset({"text", "markdown", "textcard", "template_card", "image", "file"})
ROBOT_MSG_TYPES = frozenset({"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"})
TEMPLATE_CARD_TYPES = frozenset(
    {"text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"}
)
MEDIA_LIMITS = {"image": 10 * 2**20, "voice": 2 * 2**20, "video": 10 * 2**20, "file": 20 * 2**20}
ROBOT_MEDIA_TYPES = frozenset({"file", "voice"})
FAIL_ENDPOINTS = frozenset({"send", "message", "webhook", "upload", "gettoken", "any"})


class _Reject(Exception):
    def __init__(self, errcode: int, detail: str = "") -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.detail = detail


def _errmsg(errcode: int, detail: str = "") -> str:
    if errcode == 0:
        return "ok"
    base = ERRMSG.get(errcode, "error")
    if detail:
        base = f"{base}: {detail}"
    return f"{base}, hint: [fake-wecom], more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class FakeWeComAPI:
    """Fake WeCom server API; see the module docstring for endpoints and behaviour."""

    def __init__(
        self,
        corp_id: str = "wwfakecorp0000001",
        secret: str = "fake-corp-secret",
        *,
        agent_id: int | None = None,
        robot_keys: set[str] | frozenset[str] | None = None,
        known_users: set[str] | frozenset[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_s: int = 7200,
        robot_limit: int = 20,
        user_limit: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.robot_keys = frozenset(robot_keys) if robot_keys is not None else None
        self.known_users = frozenset(known_users) if known_users is not None else None
        self.host = host
        self.port = port
        self.token_ttl_s = token_ttl_s
        self.robot_limit = robot_limit
        self.user_limit = user_limit
        self.window_s = window_s
        self.clock = clock

        self._lock = threading.RLock()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._msgids = itertools.count(1)
        self.reset()

    # -- state & test controls ----------------------------------------------

    def reset(self) -> None:
        """Forget tokens, records, injected failures and rate-limit windows."""
        with self._lock:
            self.token_requests = 0
            self.sent: list[dict[str, Any]] = []
            self.robot_sent: list[dict[str, Any]] = []
            self.uploads: dict[str, dict[str, Any]] = {}
            self.requests: list[dict[str, Any]] = []
            self._tokens: dict[str, float] = {}  # token -> issued at (clock)
            self._revoked: set[str] = set()
            self._current: str | None = None
            self._failures: deque[tuple[str, int, str]] = deque()
            self._robot_hits: dict[str, deque[float]] = defaultdict(deque)
            self._user_hits: dict[str, deque[float]] = defaultdict(deque)

    @property
    def current_token(self) -> str | None:
        """The token gettoken would hand out now (None before the first request / after expiry)."""
        with self._lock:
            return self._current

    def expire_token(self) -> None:
        """Expire the current token: its next use gets 42001; the next gettoken issues a new one."""
        with self._lock:
            if self._current is not None:
                self._revoked.add(self._current)
                self._current = None

    def fail_next(self, errcode: int = 40014, errmsg: str | None = None, *, endpoint: str = "send") -> None:
        """Make the next matching request answer ``errcode`` (queued; one failure per call).

        ``endpoint``: "send" (message/send or webhook/send), "message", "webhook",
        "upload", "gettoken" or "any". Nothing is recorded for the failed request and
        token state is unchanged.
        """
        if endpoint not in FAIL_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(FAIL_ENDPOINTS)}")
        with self._lock:
            self._failures.append((endpoint, int(errcode), errmsg or ""))

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._robot_hits.clear()
            self._user_hits.clear()

    # -- lifecycle ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeWeComAPI is not running")
        return self._base_url

    async def astart(self) -> str:
        """Start serving on the current event loop; return the base URL."""
        if self._runner is not None:
            raise RuntimeError("FakeWeComAPI already started")
        app = web.Application(client_max_size=max(MEDIA_LIMITS.values()) + 2**20)
        app.add_routes(
            [
                web.get("/cgi-bin/gettoken", self._h_gettoken),
                web.post("/cgi-bin/message/send", self._h_message_send),
                web.post("/cgi-bin/webhook/send", self._h_webhook_send),
                web.post("/cgi-bin/media/upload", self._h_media_upload),
                web.post("/cgi-bin/webhook/upload_media", self._h_webhook_upload),
            ]
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        return self._base_url

    async def aclose(self) -> None:
        """Stop serving (in-process mode)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._base_url = None

    async def __aenter__(self) -> FakeWeComAPI:
        await self.astart()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 10.0) -> str:
        """Serve from a background thread with its own event loop; return the base URL."""
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("FakeWeComAPI already started")
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.astart())
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.close()

        self._thread = threading.Thread(target=run, name="FakeWeComAPI", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("FakeWeComAPI did not start in time")
        if errors:
            self._thread.join(timeout)
            self._thread = None
            raise errors[0]
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            raise RuntimeError("stop() is for start_in_thread(); use aclose() / 'async with' in-process")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeWeComAPI:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------

    def _reply(
        self,
        request: web.Request,
        endpoint: str,
        errcode: int,
        detail: str = "",
        *,
        errmsg: str | None = None,
        **extra: Any,
    ) -> web.Response:
        with self._lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "endpoint": endpoint,
                    "errcode": errcode,
                    "time": time.time(),
                }
            )
        body: dict[str, Any] = {"errcode": errcode, "errmsg": _errmsg(errcode, detail) if errmsg is None else errmsg}
        if errcode == 0:
            body.update(extra)
        return web.json_response(body)

    def _take_failure(self, endpoint: str) -> tuple[int, str] | None:
        with self._lock:
            for i, (ep, code, msg) in enumerate(self._failures):
                if ep == endpoint or ep == "any" or (ep == "send" and endpoint in ("message", "webhook")):
                    del self._failures[i]
                    return code, msg
        return None

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise _Reject(41001)
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None:
                raise _Reject(40014)
            if token in self._revoked or self.clock() - issued >= self.token_ttl_s:
                raise _Reject(42001)

    def _prune(self, hits: deque[float], now: float) -> None:
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise _Reject(47001, "body is not JSON") from None
        if not isinstance(data, dict):
            raise _Reject(47001, "body is not a JSON object")
        return data

    @staticmethod
    def _section(payload: dict[str, Any], msgtype: str) -> dict[str, Any]:
        section = payload.get(msgtype)
        if not isinstance(section, dict):
            raise _Reject(40035, f"missing '{msgtype}' object")
        return section

    # -- handlers -----------------------------------------------------------------

    async def _h_gettoken(self, request: web.Request) -> web.Response:
        with self._lock:
            self.token_requests += 1
        failure = self._take_failure("gettoken")
        if failure:
            return self._reply(request, "gettoken", failure[0], failure[1])
        corpid = request.query.get("corpid", "")
        corpsecret = request.query.get("corpsecret", "")
        if not corpid:
            return self._reply(request, "gettoken", 41002)
        if not corpsecret:
            return self._reply(request, "gettoken", 41004)
        if corpid != self.corp_id:
            return self._reply(request, "gettoken", 40013)
        if not secrets.compare_digest(corpsecret.encode(), self.secret.encode()):
            return self._reply(request, "gettoken", 40001)
        with self._lock:
            now = self.clock()
            token = self._current
            if token is None or now - self._tokens[token] >= self.token_ttl_s:
                token = "fake-at-" + secrets.token_urlsafe(48)
                self._tokens[token] = now
                self._current = token
            remaining = math.ceil(self.token_ttl_s - (now - self._tokens[token]))
        return self._reply(request, "gettoken", 0, access_token=token, expires_in=remaining)

    async def _h_message_send(self, request: web.Request) -> web.Response:
        failure = self._take_failure("message")
        if failure:
            return self._reply(request, "message", failure[0], failure[1])
        try:
            self._check_token(request.query.get("access_token"))
            payload = await self._json_body(request)
            record, extra = self._validate_app_message(payload)
            with self._lock:
                now = self.clock()
                users = [u for u in record["touser"].split("|") if u]
                for user in users:
                    hits = self._user_hits[user]
                    self._prune(hits, now)
                    if len(hits) >= self.user_limit:
                        raise _Reject(45009, f"user {user} over {self.user_limit} messages/min")
                for user in users:
                    self._user_hits[user].append(now)
                msgid = f"fake-msgid-{next(self._msgids)}"
                record.update(msgid=msgid, time=time.time())
                self.sent.append(record)
        except _Reject as rej:
            return self._reply(request, "message", rej.errcode, rej.detail)
        return self._reply(request, "message", 0, msgid=msgid, **extra)

    def _validate_app_message(self, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        msgtype = payload.get("msgtype")
        if msgtype not in APP_MSG_TYPES:
            raise _Reject(40008, f"msgtype {msgtype!r}")
        agentid = payload.get("agentid")
        if agentid is None or agentid == "":
            raise _Reject(41011)
        try:
            agentid_int = int(agentid)
        except (TypeError, ValueError):
            raise _Reject(40056) from None
        if self.agent_id is not None and agentid_int != self.agent_id:
            raise _Reject(40056)
        touser = str(payload.get("touser") or "")
        toparty = str(payload.get("toparty") or "")
        totag = str(payload.get("totag") or "")
        if not (touser or toparty or totag):
            raise _Reject(40035, "touser, toparty and totag are all empty")
        invaliduser = ""
        if self.known_users is not None and touser and touser != "@all":
            users = touser.split("|")
            bad = [u for u in users if u not in self.known_users]
            good = [u for u in users if u in self.known_users]
            if bad and not good and not toparty and not totag:
                raise _Reject(81013)
            invaliduser, touser = "|".join(bad), "|".join(good)

        section = self._section(payload, msgtype)
        content: Any
        extra: dict[str, Any] = {}
        if msgtype in ("text", "markdown"):
            content = section.get("content")
            if not isinstance(content, str) or not content:
                raise _Reject(44004)
        elif msgtype == "textcard":
            for field in ("title", "description", "url"):
                if not isinstance(section.get(field), str) or not section[field]:
                    raise _Reject(40035, f"textcard.{field} missing")
            content = dict(section)
        elif msgtype == "template_card":
            if section.get("card_type") not in TEMPLATE_CARD_TYPES:
                raise _Reject(40035, f"template_card.card_type {section.get('card_type')!r}")
            content = dict(section)
            extra["response_code"] = "fake-rc-" + secrets.token_urlsafe(16)
        else:  # image, file
            media_id = section.get("media_id")
            with self._lock:
                known = isinstance(media_id, str) and media_id in self.uploads
            if not known:
                raise _Reject(40007)
            content = media_id
        record = {
            "touser": touser,
            "toparty": toparty,
            "totag": totag,
            "agentid": agentid_int,
            "msgtype": msgtype,
            "content": content,
            "payload": payload,
        }
        extra.update(invaliduser=invaliduser, invalidparty="", invalidtag="", unlicenseduser="")
        return record, extra

    def _check_robot_key(self, key: str | None) -> str:
        if not key or (self.robot_keys is not None and key not in self.robot_keys):
            raise _Reject(93000)
        return key

    async def _h_webhook_send(self, request: web.Request) -> web.Response:
        failure = self._take_failure("webhook")
        if failure:
            return self._reply(request, "webhook", failure[0], failure[1])
        try:
            key = self._check_robot_key(request.query.get("key"))
            payload = await self._json_body(request)
            msgtype = payload.get("msgtype")
            if msgtype not in ROBOT_MSG_TYPES:
                raise _Reject(40008, f"msgtype {msgtype!r}")
            section = self._section(payload, msgtype)
            content: Any = dict(section)
            if msgtype in ("text", "markdown", "markdown_v2"):
                content = section.get("content")
                if not isinstance(content, str) or not content:
                    raise _Reject(44004)
            with self._lock:
                now = self.clock()
                hits = self._robot_hits[key]
                self._prune(hits, now)
                if len(hits) >= self.robot_limit:
                    raise _Reject(45009, f"robot over {self.robot_limit} messages/min")
                hits.append(now)
                self.robot_sent.append(
                    {"key": key, "msgtype": msgtype, "content": content, "payload": payload, "time": time.time()}
                )
        except _Reject as rej:
            return self._reply(request, "webhook", rej.errcode, rej.detail)
        return self._reply(request, "webhook", 0)

    async def _read_media(self, request: web.Request, media_type: str) -> tuple[str, bytes, str]:
        if not request.content_type.startswith("multipart/"):
            raise _Reject(41005)
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise _Reject(41005)
            if getattr(part, "name", None) == "media":
                data = await part.read()  # type: ignore[union-attr]
                filename = getattr(part, "filename", None) or ""
                ctype = part.headers.get("Content-Type", "")
                break
        if not data:
            raise _Reject(44001)
        if len(data) > MEDIA_LIMITS[media_type]:
            raise _Reject(40006, f"{len(data)} bytes over {MEDIA_LIMITS[media_type]}")
        return filename, bytes(data), ctype

    async def _store_media(self, request: web.Request, endpoint: str, scope: str, media_type: str) -> web.Response:
        filename, data, ctype = await self._read_media(request, media_type)
        media_id = "fake-media-" + secrets.token_urlsafe(24)
        created_at = str(int(time.time()))
        with self._lock:
            self.uploads[media_id] = {
                "scope": scope,
                "type": media_type,
                "filename": filename,
                "content_type": ctype,
                "size": len(data),
                "data": data,
                "created_at": created_at,
            }
        # Real upload replies carry errmsg "" on success.
        return self._reply(
            request, endpoint, 0, errmsg="", type=media_type, media_id=media_id, created_at=created_at
        )

    async def _h_media_upload(self, request: web.Request) -> web.Response:
        failure = self._take_failure("upload")
        if failure:
            return self._reply(request, "upload", failure[0], failure[1])
        try:
            self._check_token(request.query.get("access_token"))
            media_type = request.query.get("type", "")
            if media_type not in MEDIA_LIMITS:
                raise _Reject(40004)
            return await self._store_media(request, "upload", "app", media_type)
        except _Reject as rej:
            return self._reply(request, "upload", rej.errcode, rej.detail)

    async def _h_webhook_upload(self, request: web.Request) -> web.Response:
        failure = self._take_failure("upload")
        if failure:
            return self._reply(request, "upload", failure[0], failure[1])
        try:
            self._check_robot_key(request.query.get("key"))
            media_type = request.query.get("type", "")
            if media_type not in ROBOT_MEDIA_TYPES:
                raise _Reject(40004)
            return await self._store_media(request, "upload", "robot", media_type)
        except _Reject as rej:
            return self._reply(request, "upload", rej.errcode, rej.detail)


# -- callback helpers ------------------------------------------------------------------


def make_callback(
    crypto: WeComCrypto, inner_xml: str, timestamp: str | int, nonce: str
) -> tuple[dict[str, str], bytes]:
    """Build the (query params, body) WeCom POSTs to the bot's callback URL for ``inner_xml``.

    The body is ``<xml><ToUserName/><Encrypt/><AgentID/></xml>`` (AgentID copied from the
    inner XML when it has one); the params are msg_signature/timestamp/nonce. The
    ciphertext and signature come from ``crypto.encrypt_message``.
    """
    timestamp = str(timestamp)
    envelope = parse_xml(crypto.encrypt_message(inner_xml, nonce=nonce, timestamp=timestamp))
    try:
        agent_id = parse_xml(inner_xml, max_bytes=0).get("AgentID")
    except WeComCryptoError:
        agent_id = None  # deliberately malformed inner XML is allowed (to test the bot's handling)
    body = (
        "<xml>"
        f"<ToUserName>{_cdata(crypto.receive_id)}</ToUserName>"
        f"<Encrypt>{_cdata(envelope['Encrypt'])}</Encrypt>"
        + (f"<AgentID>{_cdata(agent_id)}</AgentID>" if agent_id else "")
        + "</xml>"
    )
    params = {"msg_signature": envelope["MsgSignature"], "timestamp": timestamp, "nonce": nonce}
    return params, body.encode("utf-8")


def make_verify_params(
    crypto: WeComCrypto, echo_plain: str, timestamp: str | int, nonce: str
) -> dict[str, str]:
    """Query params of WeCom's GET URL-verification probe (unencoded; the HTTP client encodes)."""
    timestamp = str(timestamp)
    echostr = crypto.encrypt(echo_plain)
    return {
        "msg_signature": crypto.signature(timestamp, nonce, echostr),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }


def make_text_xml(
    corp_id: str,
    from_user: str,
    content: str,
    agent_id: int | str,
    *,
    msg_id: int | str | None = None,
    create_time: int | None = None,
) -> str:
    """Inner (plaintext) XML of a user's text message to the app."""
    create_time = int(time.time()) if create_time is None else create_time
    msg_id = secrets.randbelow(10**19) if msg_id is None else msg_id
    return (
        "<xml>"
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        f"<MsgId>{msg_id}</MsgId>"
        f"<AgentID>{agent_id}</AgentID>"
        "</xml>"
    )


def make_event_xml(
    corp_id: str,
    from_user: str,
    event: str,
    agent_id: int | str,
    *,
    event_key: str = "",
    create_time: int | None = None,
) -> str:
    """Inner (plaintext) XML of an event (e.g. ``click`` with an EventKey, ``enter_agent``)."""
    create_time = int(time.time()) if create_time is None else create_time
    return (
        "<xml>"
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType>{_cdata('event')}</MsgType>"
        f"<Event>{_cdata(event)}</Event>"
        f"<EventKey>{_cdata(event_key)}</EventKey>"
        f"<AgentID>{agent_id}</AgentID>"
        "</xml>"
    )


# -- standalone ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the fake as its own process; print ``{"base_url": ...}`` then serve until signalled."""
    parser = argparse.ArgumentParser(description="Fake WeCom server API (tests only).")
    parser.add_argument("--corp-id", default="wwfakecorp0000001")
    parser.add_argument("--secret", default="fake-corp-secret")
    parser.add_argument("--agent-id", type=int, default=None)
    parser.add_argument("--robot-key", action="append", default=None, help="allowed robot key (repeatable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        api = FakeWeComAPI(
            corp_id=args.corp_id,
            secret=args.secret,
            agent_id=args.agent_id,
            robot_keys=set(args.robot_key) if args.robot_key else None,
            host=args.host,
            port=args.port,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with api:
            print(json.dumps({"base_url": api.base_url}), flush=True)
            await stop.wait()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
