"""TelegramNotifier: pushes (reminders, digests, escalations) to Telegram chats.

Sends through the same Application bot as the replies, so the same rate limiter applies. A
Telegram failure becomes a ``DeliveryError`` the outbox understands:
RetryAfter (still 429 after the limiter's retries) -> ``retry_after``; blocked by the user or
unknown chat -> ``permanent``; network errors and timeouts -> retryable.
"""
from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.messages import Reply
from bot.notify import DeliveryError
from channels.telegram.bot import send_reply

logger = logging.getLogger(__name__)

def delivery_error(error: TelegramError) -> DeliveryError:
    """The Notifier-contract error for a Telegram error."""
    if isinstance(error, RetryAfter):
        with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta later
            warnings.simplefilter("ignore")
            given = error.retry_after
        seconds = given.total_seconds() if isinstance(given, timedelta) else float(given)
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

    can_send_photos = True

    def __init__(self, bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, reply: Reply) -> None:
        try:
            target: int | str = int(chat_id)
        except ValueError:
            target = chat_id
        try:
            await send_reply(self.bot, target, reply)
        except TelegramError as error:
            logger.warning("telegram push to %s failed: %s", chat_id, error)
            raise delivery_error(error) from error
