"""Pushing replies out on WeCom, for the callback's answers and for jobs (reminders, digests).

* ``WeComNotifier`` — channel ``wecom``: ``chat_id`` is the member's WeCom userid; sends
  through the app's message/send (text split at 2048 bytes, template cards for buttons,
  files and pictures via media/upload).
* ``WeComRobotNotifier`` — channel ``wecom_robot``: ``chat_id`` is a group robot key.

Errors become ``bot.notify.DeliveryError``: a rate limit carries ``retry_after``; a member
WeCom does not know or who is outside the app's visible range (81013, 60111, 40003) and an
unknown robot key (93000) are ``permanent``; anything else may be retried. A push waits on the
member quota at most ``PUSH_MAX_WAIT_S`` and never longer than its ``max_wait`` (the lease
left on its outbox row); the client-side limiter's refusal then becomes ``WaitExceedsLease``.
"""
from __future__ import annotations

import logging
import secrets
from typing import Optional

from bot.messages import Reply
from bot.notify import DeliveryError, WaitExceedsLease
from channels.wecom.client import RATE_LIMITED, RateLimited, WeComAPIError, WeComClient
from channels.wecom.render import reply_payloads
from channels.wecom.robot import RobotSender, mask_key

logger = logging.getLogger(__name__)

PERMANENT = frozenset({81013, 60111, 40003, 93000, 60020})
PUSH_MAX_WAIT_S = 5.0   # a job's push does not sit waiting on the per-member quota


def delivery_error(error: WeComAPIError) -> DeliveryError:
    if isinstance(error, RateLimited):  # our own limiter refused to wait: nothing was sent
        return WaitExceedsLease(str(error), retry_after=error.retry_after)
    if error.retry_after is not None or error.errcode in RATE_LIMITED:
        return DeliveryError(str(error), retry_after=error.retry_after or 60.0)
    return DeliveryError(str(error), permanent=error.errcode in PERMANENT)


class WeComNotifier:
    """Sends replies to members of the self-built app (``chat_id`` = userid)."""

    def __init__(self, client: WeComClient, use_cards: bool = True) -> None:
        self.client = client
        self.use_cards = use_cards

    async def deliver(self, userid: str, reply: Reply, max_wait: float = 60.0) -> None:
        """Send one reply; raises WeComAPIError."""
        salt = secrets.token_hex(4)
        for payload in reply_payloads(reply, userid, self.use_cards, salt):
            await self.client.send_message(userid, payload, max_wait)
        for out in reply.files:
            kind = "image" if out.kind == "photo" else "file"
            if out.caption:
                await self.client.send_message(userid, {"msgtype": "text", "text": {"content": out.caption}},
                                               max_wait)
            media_id = await self.client.upload_media(out.path, kind)
            await self.client.send_message(userid, {"msgtype": kind, kind: {"media_id": media_id}}, max_wait)

    async def send(self, chat_id: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        wait = PUSH_MAX_WAIT_S if max_wait is None else max(0.0, min(PUSH_MAX_WAIT_S, max_wait))
        try:
            await self.deliver(chat_id, reply, wait)
        except WeComAPIError as error:
            raise delivery_error(error) from None
        except OSError as error:  # a file that is gone
            raise DeliveryError(f"file: {error}", permanent=True) from None


class WeComRobotNotifier:
    """Sends replies into a group chat through its robot (``chat_id`` = robot key)."""

    def __init__(self, robot: RobotSender, markdown: bool = False) -> None:
        self.robot = robot
        self.markdown = markdown

    async def send(self, chat_id: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        wait = 60.0 if max_wait is None else max(0.0, max_wait)
        try:
            await self.robot.send_reply(chat_id, reply, markdown=self.markdown, max_wait=wait)
        except WeComAPIError as error:
            logger.warning("robot %s: %s", mask_key(chat_id), error.errmsg)
            raise delivery_error(error) from None
        except OSError as error:
            raise DeliveryError(f"file: {error}", permanent=True) from None
