"""Prometheus metrics, in a ``CollectorRegistry`` owned by the app (never the global default,
so every test's app counts on its own). ``/metrics`` serves ``render()``.

Counted as things happen: messages handled (by channel and outcome), handler latency, sends
(by channel and outcome), send retries and 429s. Read from the database at scrape time (cheap
queries, see ``bot.services.health``): outbox rows by kind and status, the oldest due pending
row, the last reminder tick.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Optional

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session, sessionmaker

from bot.services.health import outbox_counts
from bot.services.outbox_store import last_tick

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _DatabaseCollector:
    """Outbox and tick numbers, read when Prometheus scrapes."""

    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.now = now

    def collect(self):
        outbox = GaugeMetricFamily("duban_outbox_messages", "Outbox rows by kind and status",
                                   labels=["kind", "status"])
        tick = GaugeMetricFamily("duban_last_tick_timestamp_seconds",
                                 "Unix time of the last reminder tick (any instance)")
        up = GaugeMetricFamily("duban_database_up", "1 when the scrape could read the database")
        try:
            with self.sessions() as session:
                for kind, status, count in outbox_counts(session):
                    outbox.add_metric([kind, status], count)
                last = last_tick(session)
            if last is not None:
                tick.add_metric([], last.timestamp())
            up.add_metric([], 1)
        except Exception:  # a scrape must answer even when the database does not
            logger.warning("metrics: database not readable", exc_info=True)
            up.add_metric([], 0)
        yield outbox
        yield tick
        yield up


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.messages = Counter("duban_messages_handled", "Incoming messages handled",
                                ["channel", "outcome"], registry=self.registry)
        self.latency = Histogram("duban_handler_seconds", "Time to handle one incoming message",
                                 ["channel"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.sends = Counter("duban_sends", "Outbox pushes by channel and outcome (sent, retry, failed)",
                             ["channel", "outcome"], registry=self.registry)
        self.retries = Counter("duban_send_retries", "Pushes to be tried again", ["channel"],
                               registry=self.registry)
        self.rate_limited = Counter("duban_send_rate_limited", "Sends refused for flood control (429)",
                                    ["channel"], registry=self.registry)
        self._database: Optional[_DatabaseCollector] = None

    def watch_database(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        """Add the scrape-time database numbers (once)."""
        if self._database is None:
            self._database = _DatabaseCollector(sessions, now)
            self.registry.register(self._database)

    def message_handled(self, channel: str, outcome: str, seconds: float) -> None:
        self.messages.labels(channel, outcome).inc()
        self.latency.labels(channel).observe(seconds)

    def send_finished(self, channel: str, outcome: str, error: Optional[BaseException]) -> None:
        self.sends.labels(channel, outcome).inc()
        if outcome == "retry":
            self.retries.labels(channel).inc()
        if error is not None and getattr(error, "retry_after", None):
            self.rate_limited.labels(channel).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
