"""A tiny echo bot (the logic of python-telegram-bot's examples/echobot.py) for benchmarks.

Run against the fake Bot API (or any Bot API server)::

    python -m testing.echobot --base-url http://127.0.0.1:PORT --token 123:ABC

``--base-url`` is the server root; ``/bot`` and ``/file/bot`` are appended (a URL already
ending in ``/bot`` is accepted too).  It long-polls with ``poll_interval=0`` and a small
getUpdates ``timeout`` and prints ``echobot ready`` (flushed) once initialised, so a harness can
wait for that line.  SIGINT / SIGTERM stop it cleanly (PTB's run_polling handles them).
"""
from __future__ import annotations

import argparse
import logging
import sys

from telegram import ForceReply, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

logger = logging.getLogger("echobot")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: greet the user by name and ask for a reply."""
    user = update.effective_user
    await update.message.reply_html(
        f"Hi {user.mention_html()}!", reply_markup=ForceReply(selective=True)
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help."""
    await update.message.reply_text("Help!")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any non-command text: send it back unchanged."""
    await update.message.reply_text(update.message.text)


def api_urls(base_url: str) -> tuple[str, str]:
    """(base_url, base_file_url) for ApplicationBuilder from a server root URL."""
    root = base_url.rstrip("/")
    if root.endswith("/bot"):
        root = root[: -len("/bot")]
    return f"{root}/bot", f"{root}/file/bot"


def add_handlers(application: Application) -> Application:
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return application


def build_application(token: str, base_url: str, *, concurrent_updates: int | bool = False,
                      rate_limiter: bool = False, post_init=None) -> Application:
    """The echo bot's Application, talking to the Bot API at ``base_url`` (server root)."""
    api, files = api_urls(base_url)
    builder = (
        Application.builder()
        .token(token)
        .base_url(api)
        .base_file_url(files)
        .concurrent_updates(concurrent_updates)
    )
    if rate_limiter:
        from telegram.ext import AIORateLimiter

        builder = builder.rate_limiter(AIORateLimiter())
    if post_init is not None:
        builder = builder.post_init(post_init)
    return add_handlers(builder.build())


async def _announce_ready(application: Application) -> None:
    print("echobot ready", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.echobot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="Bot API server root, e.g. http://127.0.0.1:8081")
    parser.add_argument("--token", required=True)
    parser.add_argument("--poll-timeout", type=int, default=1,
                        help="getUpdates long-poll timeout in seconds (default 1)")
    parser.add_argument("--concurrent-updates", type=int, default=0,
                        help="handle up to N updates concurrently (default: sequential)")
    parser.add_argument("--rate-limiter", action="store_true", help="use PTB's AIORateLimiter")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        level=getattr(logging, args.log_level.upper(), logging.WARNING))
    application = build_application(
        args.token, args.base_url,
        concurrent_updates=args.concurrent_updates or False,
        rate_limiter=args.rate_limiter,
        post_init=_announce_ready,
    )
    application.run_polling(poll_interval=0, timeout=args.poll_timeout,
                            allowed_updates=Update.ALL_TYPES, close_loop=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
