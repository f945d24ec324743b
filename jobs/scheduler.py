"""The APScheduler 3 set-up: an AsyncIOScheduler in Asia/Shanghai with two jobs.

* ``reminders-tick`` (every ``reminders.tick_seconds``, default a minute): decide from the
  database what is due now and record it in the outbox (``ReminderRunner.tick``);
* ``outbox-deliver`` (every ``reminders.deliver_seconds``): claim due outbox rows and send
  them through the ``NotifierRouter``;
* ``housekeeping`` (hourly): forget incoming-message ids too old to be redelivered.

Both first run at start-up, which is the catch-up: occasions missed while the bot was down
are recorded (marked late) and sent once. Job arguments hold no reminder state; everything
lives in database rows, so jobs never need re-registering when deadlines change.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Optional

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import Duban
from bot.notify import NotifierRouter
from bot.services.housekeeping import prune_inbound_seen
from jobs.outbox import ReminderRunner

logger = logging.getLogger(__name__)

TIMEZONE = "Asia/Shanghai"


def build_scheduler(app: Duban, notifiers: NotifierRouter,
                    runner: Optional[ReminderRunner] = None) -> tuple[AsyncIOScheduler, ReminderRunner]:
    """A scheduler (not started) with the reminder jobs; start it inside the running loop."""
    runner = runner or ReminderRunner(app, notifiers)
    rc = app.config.reminders
    scheduler = AsyncIOScheduler(timezone=TIMEZONE)
    first = datetime.now(UTC)  # scheduling only; business time comes from app.clock
    scheduler.add_job(runner.tick_async, "interval", seconds=rc.tick_seconds, id="reminders-tick",
                      next_run_time=first, max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(runner.deliver_async, "interval", seconds=rc.deliver_seconds, id="outbox-deliver",
                      next_run_time=first, max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(housekeeping, "interval", args=[app], hours=1, id="housekeeping",
                      next_run_time=first, max_instances=1, coalesce=True, replace_existing=True)
    return scheduler, runner


def _prune(app: Duban) -> int:
    with app.sessions.begin() as session:
        return prune_inbound_seen(session, app.clock.now())


async def housekeeping(app: Duban) -> None:
    try:
        removed = await app.workers.run(_prune, app)
        if removed:
            logger.info("housekeeping: forgot %d old incoming-message ids", removed)
    except Exception:  # housekeeping must not stop the scheduler
        logger.exception("housekeeping failed")


def install(app: Duban, notifiers: NotifierRouter) -> Optional[AsyncIOScheduler]:
    """Start the reminder jobs in the current event loop when reminders are enabled
    (channels call this once their notifiers are registered)."""
    if not app.config.reminders.enabled:
        logger.info("reminders disabled in config")
        return None
    scheduler, _ = build_scheduler(app, notifiers)
    scheduler.start()
    return scheduler
