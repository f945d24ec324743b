"""The one HTTP server ``python run.py serve`` runs (aiohttp): Telegram's webhook and WeCom's
callback share it, and the reminder scheduler runs in the same process.

Each channel contributes an installer ``install(web_app, duban, notifiers) -> bool`` that adds
its routes and start-up/clean-up hooks when it is configured, and returns whether it did.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Optional

from aiohttp import web

from bot.app import Duban
from bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.notify import NotifierRouter
from bot.optional import import_optional
from bot.services.health import check_health

logger = logging.getLogger(__name__)

Installer = Callable[[web.Application, Duban, NotifierRouter], bool]

DUBAN_KEY = web.AppKey("duban", Duban)
NOTIFIERS_KEY = web.AppKey("notifiers", NotifierRouter)


def channel_installers() -> list[tuple[str, Installer]]:
    """Installers of the channels present in this build, in a fixed order."""
    found: list[tuple[str, Installer]] = []
    for name, module_name in (("telegram", "channels.telegram.webhook"),
                              ("wecom", "channels.wecom.callback"),
                              ("dashboard", "channels.web")):
        module = import_optional(module_name)
        if module is not None:
            found.append((name, module.install))
    return found


async def healthz(request: web.Request) -> web.Response:
    """200 when healthy, else 503; the body names the reasons (bot.services.health)."""
    duban = request.app[DUBAN_KEY]
    # its own thread, not the workers: health must answer while every worker is busy
    health = await asyncio.to_thread(check_health, duban.sessions, duban.config, duban.clock.now())
    return web.json_response(health.as_dict(), status=200 if health.ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the outbox and tick numbers are read from the database now."""
    duban = request.app[DUBAN_KEY]
    body = await asyncio.to_thread(duban.metrics.render)
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


def build_web_app(duban: Duban, notifiers: Optional[NotifierRouter] = None) -> tuple[web.Application, list[str]]:
    notifiers = notifiers or NotifierRouter()
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app[DUBAN_KEY] = duban
    web_app[NOTIFIERS_KEY] = notifiers
    web_app.router.add_get("/healthz", healthz)
    duban.metrics.watch_database(duban.sessions, duban.clock.now)
    web_app.router.add_get("/metrics", metrics)
    installed = [name for name, install in channel_installers() if install(web_app, duban, notifiers)]
    return web_app, installed


def start_reminder_jobs(duban: Duban, notifiers: NotifierRouter):
    """Start the reminder jobs (jobs.scheduler) in the running event loop, when that package
    is present and reminders are on; returns the scheduler or None. Every long-running entry
    point (``serve``, ``telegram``) calls this once its notifiers are registered."""
    scheduling = import_optional("jobs.scheduler")
    return scheduling.install(duban, notifiers) if scheduling is not None else None


async def serve(duban: Duban, host: str, port: int, on_started: Optional[Callable] = None) -> None:
    """Run until SIGINT/SIGTERM."""
    web_app, installed = build_web_app(duban)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    scheduler = start_reminder_jobs(duban, web_app[NOTIFIERS_KEY])
    site = web.TCPSite(runner, host, port)
    await site.start()
    logger.warning("serving on http://%s:%s (channels: %s)", host, port, ", ".join(installed) or "none")
    print(f"serving on http://{host}:{port} channels={','.join(installed) or 'none'}", flush=True)
    if on_started:
        await on_started(web_app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await runner.cleanup()
