"""TelegramNotifier: pushes (reminders, digests, escalations) to Telegram chats.

Sends through the same Application bot as the replies, so the same rate limiter applies. A
Telegram failure becomes a ``DeliveryError`` the outbox understands:
RetryAfter (still 429 after the limiter's retries) -> ``retry_after``; a 429 asking for a
longer wait than the push's ``max_wait`` (its outbox lease) -> ``WaitExceedsLease`` at once,
without sleeping; blocked by the user or unknown chat -> ``permanent``; network errors and
timeouts -> retryable.
"""
from __future__ import annotations

import logging
from typing import Optional

from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.messages import Reply
from bot.notify import DeliveryError, WaitExceedsLease
from channels.telegram.bot import (
    PushAwareRateLimiter,
    PushDeadline,
    PushWaitTooLong,
    retry_after_seconds,
    send_reply,
)

logger = logging.getLogger(__name__)

def delivery_error(error: TelegramError) -> DeliveryError:
    """The Notifier-contract error for a Telegram error."""
    if isinstance(error, PushWaitTooLong):
        return WaitExceedsLease(f"telegram flood control: {error}", retry_after=error.retry_after)
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return DeliveryError(f"telegram flood control: retry after {seconds}s", retry_after=seconds)
    if isinstance(error, Forbidden):
        return DeliveryError(f"telegram refused: {error}", permanent=True)
    if isinstance(error, BadRequest):
        # chat not found, user deactivated, and any other 400: retrying the same call cannot help
        return DeliveryError(f"telegram bad request: {error}", permanent=True)
    if isinstance(error, NetworkError):  # includes TimedOut
        return DeliveryError(f"telegram network error: {error}")
    return DeliveryError(f"telegram error: {error}")


class TelegramNotifier:
    """``Notifier`` for channel 'telegram'; ``chat_id`` is the private chat id (a string)."""

    def __init__(self, bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        try:
            target: int | str = int(chat_id)
        except ValueError:
            target = chat_id
        deadline = None
        if max_wait is not None and isinstance(getattr(self.bot, "rate_limiter", None), PushAwareRateLimiter):
            deadline = PushDeadline.after(max_wait)
        try:
            await send_reply(self.bot, target, reply, push_deadline=deadline)
        except TelegramError as error:
            logger.warning("telegram push to %s failed: %s", chat_id, error)
            raise delivery_error(error) from error
