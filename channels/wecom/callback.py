"""WeCom callback endpoint ``/wecom/callback`` on the shared aiohttp server.

GET is WeCom's URL verification (回调URL验证): the echostr is decrypted and echoed back.
POST is a member's message or an event. Every request is checked before anything is done:
size limit, timestamp window (``wecom.max_timestamp_skew_s``; 0 turns it off), the
msg_signature (constant-time), AES decryption with the CorpID check, XML parsed with
defusedxml (no DTDs, no entities), and the AgentID. A failure answers 4xx and changes nothing.

WeCom gives up on an answer after 5 seconds and sends the same callback again, so a
message is answered at once with an empty 200 and handled in an asyncio task:
``handlers.handle`` in a worker thread, then the replies through message/send. Repeats are
dropped twice over: while a MsgId is still being handled no second task starts, and
``handle`` drops a ``message_ref`` it has already seen (``wecom:msg:{MsgId}``), in the same
transaction as the message's effects.

The member is found by ``ChatIdentity(channel='wecom', external_user_id=userid)``; an
unknown member gets the how-to-register reply and binds with ``/start 邀请码`` or
``绑定 邀请码``. Events: ``enter_agent``/``subscribe`` greet members who are not bound yet;
``template_card_event`` (a card button) and menu ``click`` carry the signed button data in
their EventKey (a menu key may also be a command such as ``/tasks mine``).

The timestamp window is checked against the real wall clock (``time.time``): it guards
against replayed callbacks, which is about transport, not the business date the bot's
clock (``--now``) may be set to.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import web
from sqlalchemy import select

from bot.app import Duban
from bot.messages import Attachment, Incoming, Reply
from bot.models import ChatIdentity, Person
from bot.notify import DeliveryError, NotifierRouter
from bot.services.people import identify
from channels.wecom.client import WeComAPIError, WeComClient
from channels.wecom.crypto import (
    DEFAULT_MAX_XML_BYTES,
    WeComCrypto,
    WeComCryptoError,
    check_timestamp,
    parse_xml,
)
from channels.wecom.notifier import WeComNotifier, WeComRobotNotifier
from channels.wecom.robot import RobotSender, sync_team_robots
from handlers.core import handle

logger = logging.getLogger(__name__)

CHANNEL = "wecom"
PATH = "/wecom/callback"
MAX_BODY_BYTES = DEFAULT_MAX_XML_BYTES
ALERT_EVERY_S = 3600.0
GREET_EVENTS = {"enter_agent", "subscribe"}
_REFUSED = {"bad_signature": 403, "bad_receive_id": 403, "stale_timestamp": 403, "too_large": 413}
_alerting: contextvars.ContextVar[bool] = contextvars.ContextVar("wecom_alerting", default=False)


@dataclass
class Job:
    incoming: Incoming
    #: enter_agent / subscribe: answer only members who are not bound yet
    greet_only: bool = False


class AdminAlerts:
    """Tells the admins about WeCom API errors (``WeComClient.on_error``): a short message to
    every bound identity of every active admin, through the notifier of its channel, at most
    once an hour per errcode. Errors while alerting are only logged (no loops)."""

    def __init__(self, duban: Duban, notifiers: NotifierRouter, clock: Callable[[], float] = time.monotonic):
        self.duban = duban
        self.notifiers = notifiers
        self.clock = clock
        self._last: dict[Optional[int], float] = {}
        self.sent: list[tuple[str, str, str]] = []

    def _admin_addresses(self) -> list[tuple[str, str]]:
        with self.duban.sessions() as session:
            rows = session.execute(
                select(ChatIdentity.channel, ChatIdentity.chat_id)
                .join(Person, Person.id == ChatIdentity.person_id)
                .where(Person.is_admin.is_(True), Person.active.is_(True))
                .order_by(ChatIdentity.id)).all()
        return [(channel, chat_id) for channel, chat_id in rows]

    async def __call__(self, error: WeComAPIError) -> None:
        if _alerting.get():
            return
        now = self.clock()
        last = self._last.get(error.errcode)
        if last is not None and now - last < ALERT_EVERY_S:
            return
        self._last[error.errcode] = now
        text = (f"⚠️ 企业微信接口出错\n接口:{error.path}\n错误码:{error.errcode}\n说明:{error.errmsg[:200]}\n"
                "请检查企业微信配置(Secret、可信IP、应用可见范围)。")
        token = _alerting.set(True)
        try:
            for channel, chat_id in await self.duban.workers.run(self._admin_addresses):
                if channel not in self.notifiers.channels():
                    continue
                try:
                    await self.notifiers.send(channel, chat_id, Reply(text))
                    self.sent.append((channel, chat_id, text))
                except (DeliveryError, WeComAPIError) as exc:
                    logger.warning("could not alert admin on %s: %s", channel, exc)
        finally:
            _alerting.reset(token)


def _ref(*parts: str) -> str:
    ref = ":".join(parts)
    if len(ref) > 120:
        ref = "wecom:h:" + hashlib.sha1(ref.encode()).hexdigest()
    return ref


class WeComChannel:
    """The callback endpoint and its background work for one self-built app."""

    def __init__(self, duban: Duban, crypto: WeComCrypto, notifier: WeComNotifier, *,
                 agent_id: Optional[int], max_skew_s: int, use_cards: bool = True,
                 wall: Callable[[], float] = time.time) -> None:
        self.duban = duban
        self.crypto = crypto
        self.notifier = notifier
        self.agent_id = agent_id
        self.max_skew_s = max_skew_s
        self.use_cards = use_cards
        self.wall = wall
        self.inflight: set[str] = set()
        self.tasks: set[asyncio.Task] = set()
        self._user_locks: dict[str, asyncio.Lock] = {}
        self.handled = 0

    # -- HTTP ----------------------------------------------------------------
    def _refuse(self, error: WeComCryptoError, request: web.Request) -> web.Response:
        status = _REFUSED.get(error.reason, 400)
        logger.warning("WeCom callback refused (%s) from %s", error.reason, request.remote)
        return web.Response(status=status, text=error.reason)

    def _check_query(self, request: web.Request, *names: str) -> list[str]:
        values = [request.query.get(name, "") for name in names]
        if not all(values):
            raise WeComCryptoError("bad_request", "missing query parameter")
        check_timestamp(values[1], int(self.wall()), self.max_skew_s)
        return values

    async def verify(self, request: web.Request) -> web.Response:
        """GET: URL verification; answers the decrypted echostr."""
        try:
            signature, timestamp, nonce, echostr = self._check_query(
                request, "msg_signature", "timestamp", "nonce", "echostr")
            # base64 has no spaces: a '+' a proxy left unencoded was decoded as a space
            echostr = echostr.replace(" ", "+")
            plain = self.crypto.verify_url(signature, timestamp, nonce, echostr, max_bytes=MAX_BODY_BYTES)
        except WeComCryptoError as error:
            return self._refuse(error, request)
        return web.Response(text=plain)

    async def receive(self, request: web.Request) -> web.Response:
        """POST: a message or event; answered at once, handled in the background."""
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413, text="too_large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too_large")
        try:
            if len(body) > MAX_BODY_BYTES:
                raise WeComCryptoError("too_large", "body over the limit")
            signature, timestamp, nonce = self._check_query(request, "msg_signature", "timestamp", "nonce")
            inner = self.crypto.decrypt_message(signature, timestamp, nonce, body, max_bytes=MAX_BODY_BYTES)
            fields = parse_xml(inner, max_bytes=MAX_BODY_BYTES)
            if fields.get("ToUserName") and fields["ToUserName"] != self.crypto.receive_id:
                raise WeComCryptoError("bad_receive_id", "ToUserName is not our CorpID")
            agent = fields.get("AgentID", "").strip()
            if agent and self.agent_id is not None and agent != str(self.agent_id):
                raise WeComCryptoError("bad_agent", f"AgentID {agent} is not ours")
        except WeComCryptoError as error:
            return self._refuse(error, request)
        job = self.to_job(fields)
        if job is not None:
            self.start(job)
        return web.Response(text="")

    # -- translating -----------------------------------------------------------
    def to_job(self, fields: dict[str, str]) -> Optional[Job]:
        user = fields.get("FromUserName", "").strip()
        if not user:
            return None
        kind = fields.get("MsgType", "").strip().lower()
        msg_id = fields.get("MsgId", "").strip()
        base: dict[str, Any] = dict(channel=CHANNEL, chat_id=user, user_id=user,
                                    buttons_supported=self.use_cards, can_send_photos=False)
        msg_ref = f"wecom:msg:{msg_id}" if msg_id else _ref(
            "wecom:ev", user, fields.get("CreateTime", ""), fields.get("Event", ""),
            hashlib.sha1(fields.get("EventKey", "").encode()).hexdigest()[:12])
        if kind == "text":
            return Job(Incoming(text=fields.get("Content", ""), message_ref=msg_ref, **base))
        if kind == "image":
            photo = Attachment(kind="photo", file_id=f"wecom:{fields.get('MediaId', '')}")
            return Job(Incoming(attachments=[photo], message_ref=msg_ref, **base))
        if kind != "event":
            return Job(Incoming(text="", message_ref=msg_ref, **base))  # voice, video, location...
        event = fields.get("Event", "").strip().lower()
        key = fields.get("EventKey", "")
        if event == "template_card_event":
            code = fields.get("ResponseCode", "").strip()
            ref = _ref("wecom:card", code) if code else msg_ref
            return Job(Incoming(callback_data=key, message_ref=ref, **base))
        if event == "click" and key:
            if "~" in key:
                return Job(Incoming(callback_data=key, message_ref=msg_ref, **base))
            return Job(Incoming(text=key, message_ref=msg_ref, **base))
        if event in GREET_EVENTS:
            return Job(Incoming(text="/start", message_ref=msg_ref, **base), greet_only=True)
        logger.debug("WeCom event %s ignored", event)
        return None

    # -- background work ---------------------------------------------------------
    def start(self, job: Job) -> bool:
        """Launch the work for a message unless the same message is already in flight."""
        ref = job.incoming.message_ref or ""
        if ref in self.inflight:
            logger.info("WeCom retry of %s while in flight: ignored", ref)
            return False
        self.inflight.add(ref)
        task = asyncio.get_running_loop().create_task(self._work(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def _handle(self, job: Job) -> list[Reply]:
        if job.greet_only:
            with self.duban.sessions() as session:
                if identify(session, CHANNEL, job.incoming.user_id) is not None:
                    return []
        return handle(self.duban, job.incoming)

    async def _work(self, job: Job) -> None:
        msg = job.incoming
        try:
            lock = self._user_locks.setdefault(msg.user_id, asyncio.Lock())
            async with lock:
                replies = await self.duban.workers.run(self._handle, job)
                for reply in replies:
                    try:
                        await self.notifier.deliver(msg.user_id, reply)
                    except WeComAPIError as error:
                        logger.warning("reply to %s for %s not sent: %s", msg.user_id, msg.message_ref, error)
                        break
                self.handled += 1
        except Exception:  # one message must not break the server
            logger.exception("WeCom message %s failed", msg.message_ref)
        finally:
            self.inflight.discard(msg.message_ref or "")

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the messages being handled (tests; shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                logger.warning("%d WeCom messages still being handled", len(self.tasks))
                return
            await asyncio.wait(set(self.tasks), timeout=left)


CHANNEL_KEY = web.AppKey("wecom_channel", WeComChannel)
ALERTS_KEY = web.AppKey("wecom_alerts", AdminAlerts)


def _configured(duban: Duban) -> bool:
    cfg = duban.config.wecom
    needed = {"corp_id": cfg.corp_id, "agent_id": cfg.agent_id, "secret": cfg.secret,
              "token": cfg.token, "encoding_aes_key": cfg.encoding_aes_key}
    missing = [name for name, value in needed.items() if not value]
    if len(missing) == len(needed):
        return False
    if missing:
        logger.error("WeCom not started: wecom.%s missing in config.yaml (secrets may come from "
                     "WECOM_SECRET / WECOM_TOKEN / WECOM_ENCODING_AES_KEY)", ", wecom.".join(missing))
        return False
    return True


def install(web_app: web.Application, duban: Duban, notifiers: NotifierRouter) -> bool:
    """Add /wecom/callback and the wecom / wecom_robot notifiers when WeCom is configured."""
    if not _configured(duban):
        return False
    cfg = duban.config.wecom
    try:
        crypto = WeComCrypto(cfg.token, cfg.encoding_aes_key, cfg.corp_id)  # type: ignore[arg-type]
    except ValueError as exc:
        logger.error("WeCom not started: %s", exc)
        return False
    alerts = AdminAlerts(duban, notifiers)
    client = WeComClient(cfg.api_base, cfg.corp_id, cfg.secret, cfg.agent_id,  # type: ignore[arg-type]
                         on_error=alerts, proxy=cfg.proxy)
    robot = RobotSender(cfg.api_base, on_error=alerts, proxy=cfg.proxy)
    notifier = WeComNotifier(client, use_cards=cfg.use_template_cards)
    channel = WeComChannel(duban, crypto, notifier, agent_id=cfg.agent_id,
                           max_skew_s=cfg.max_timestamp_skew_s, use_cards=cfg.use_template_cards)
    web_app[CHANNEL_KEY] = channel
    web_app[ALERTS_KEY] = alerts
    web_app.router.add_get(PATH, channel.verify)
    web_app.router.add_post(PATH, channel.receive)
    notifiers.register("wecom", notifier)
    notifiers.register("wecom_robot", WeComRobotNotifier(robot))

    async def on_startup(app: web.Application) -> None:
        if cfg.team_robots:
            def sync() -> list[str]:
                with duban.sessions.begin() as session:
                    return sync_team_robots(session, cfg.team_robots)
            for code in await duban.workers.run(sync):
                logger.warning("wecom.team_robots: no team with code %s", code)

    async def on_cleanup(app: web.Application) -> None:
        await channel.drain(timeout=10.0)
        await client.aclose()
        await robot.aclose()

    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.append(on_cleanup)
    return True
