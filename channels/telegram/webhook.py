"""Telegram's webhook on the shared aiohttp server (``python run.py serve``).

``install`` adds ``POST telegram.webhook_path`` (default /telegram/webhook) when a token is
configured. Telegram sends ``X-Telegram-Bot-Api-Secret-Token``; a request without the header
or with a wrong one gets 403 and is not handled (compared with ``hmac.compare_digest``). With
no ``telegram.webhook_secret`` configured the route refuses everything, so an open endpoint is
never exposed by mistake. On start-up the command menu is registered and, when
``telegram.webhook_url`` is set, ``setWebhook`` tells Telegram where to post (with the secret).
Updates are processed before the answer, so Telegram redelivers one that failed mid-way; the
``telegram:update:<id>`` reference makes that safe.
"""
from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update

from bot.app import Duban
from bot.notify import NotifierRouter
from channels.telegram.bot import ALLOWED_UPDATES, TelegramBot
from channels.telegram.notifier import TelegramNotifier

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
APP_KEY = web.AppKey("telegram_application", object)


def install(web_app: web.Application, duban: Duban, notifiers: NotifierRouter) -> bool:
    config = duban.config.telegram
    if not config.token:
        return False
    channel = TelegramBot(duban)
    application = channel.build_application(with_updater=False)
    web_app[APP_KEY] = application
    notifiers.register("telegram", TelegramNotifier(application.bot))
    secret = (config.webhook_secret or "").encode()
    if not secret:
        logger.warning("telegram.webhook_secret is not set: %s refuses every request", config.webhook_path)

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            logger.warning("telegram webhook: wrong or missing secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json(loads=json.loads)
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as error:
            logger.warning("telegram webhook: unreadable update: %s", error)
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        # through the update processor: one chat's updates in arrival order, chats in parallel
        await application.update_processor.process_update(update, application.process_update(update))
        return web.Response(text="ok")

    async def on_startup(_: web.Application) -> None:
        await channel.start(application, polling=False)
        if config.webhook_url:
            await application.bot.set_webhook(config.webhook_url, secret_token=config.webhook_secret,
                                              allowed_updates=ALLOWED_UPDATES)
            logger.warning("telegram webhook set to %s", config.webhook_url)

    async def on_cleanup(_: web.Application) -> None:
        await channel.stop(application)

    web_app.router.add_post(config.webhook_path, receive)
    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.append(on_cleanup)
    return True
