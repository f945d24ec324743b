"""The APScheduler 3 set-up: an AsyncIOScheduler in Asia/Shanghai with two jobs.

* ``reminders-tick`` (every ``reminders.tick_seconds``, default a minute): decide from the
  database what is due now and record it in the outbox (``ReminderRunner.tick``);
* ``outbox-deliver`` (every ``reminders.deliver_seconds``): claim due outbox rows and send
  them through the ``NotifierRouter``;
* ``housekeeping`` (hourly): forget incoming-message ids too old to be redelivered, remove
  generated files and finished outbox rows past ``retention`` (bot.services.housekeeping);
* ``backup`` (daily at ``backup.time``): one archive into ``backup.dir``, archives older than
  ``backup.keep_days`` removed; with several instances only the first of the day backs up.

Both first run at start-up, which is the catch-up: occasions missed while the bot was down
are recorded (marked late) and sent once. Job arguments hold no reminder state; everything
lives in database rows, so jobs never need re-registering when deadlines change.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Optional

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import Duban
from bot.notify import NotifierRouter
from bot.services.backup import backup_dir, create_backup, prune_backups
from bot.services.housekeeping import claim_daily, sweep
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
    at = app.config.backup.time
    if at is not None:
        scheduler.add_job(daily_backup, "cron", args=[app], hour=at.hour, minute=at.minute, id="backup",
                          max_instances=1, coalesce=True, replace_existing=True, misfire_grace_time=3600)
    return scheduler, runner


def _sweep(app: Duban):
    with app.sessions.begin() as session:
        return sweep(session, app.clock.now(), app.config, app.out_dir)


async def housekeeping(app: Duban) -> None:
    try:
        swept = await app.workers.run(_sweep, app)
        if swept:
            logger.info("housekeeping: forgot %d incoming-message ids, removed %d outbox rows and %d files",
                        swept.seen, swept.outbox, swept.files)
    except Exception:  # housekeeping must not stop the scheduler
        logger.exception("housekeeping failed")


BACKUP_DAY_KEY = "backup_day"


def run_daily_backup(app: Duban) -> list:
    """Back up once a day across instances; returns [archive, *removed] or [] when another
    instance already did today's."""
    now = app.clock.now()
    with app.sessions.begin() as session:
        if not claim_daily(session, BACKUP_DAY_KEY, now.date().isoformat()):
            return []
    folder = backup_dir(app.config)
    archive = create_backup(app.config, app.engine, folder, now)
    return [archive, *prune_backups(folder, app.config.backup.keep_days, now)]


async def daily_backup(app: Duban) -> None:
    try:
        done = await asyncio.to_thread(run_daily_backup, app)
        if done:
            logger.warning("daily backup: %s (%d old archives removed)", done[0], len(done) - 1)
    except Exception:  # a failed backup is logged loudly; the bot carries on
        logger.exception("daily backup failed")


def install(app: Duban, notifiers: NotifierRouter) -> Optional[AsyncIOScheduler]:
    """Start the reminder jobs in the current event loop when reminders are enabled
    (channels call this once their notifiers are registered)."""
    if not app.config.reminders.enabled:
        logger.info("reminders disabled in config")
        return None
    scheduler, _ = build_scheduler(app, notifiers)
    scheduler.start()
    return scheduler
