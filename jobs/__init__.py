"""Scheduled work: reminder ticks and outbox delivery (APScheduler 3, see jobs.scheduler)."""
