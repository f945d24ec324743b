"""The one injectable clock. Everything asks a Clock for the time; nothing calls datetime.now().

Asia/Shanghai is the office's time zone. Tests and the console's ``--now`` use a FixedClock
(or ``SystemClock.pinned``) instead of patching modules.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    """Source of the current time, always aware and in the office's time zone."""

    tz = OFFICE_TZ

    def now(self) -> datetime:  # pragma: no cover - overridden
        raise NotImplementedError

    def today(self) -> date:
        return self.now().date()


class SystemClock(Clock):
    """The wall clock, in Asia/Shanghai."""

    def now(self) -> datetime:
        return datetime.now(UTC).astimezone(self.tz)


class FixedClock(Clock):
    """A clock that shows a set time until told otherwise (tests, demo, ``--now``).

    With ``ticking=True`` it starts at the given time and then advances with the wall clock,
    so a demo set to 2025-07-15 09:00 still moves forward while someone types.
    """

    def __init__(self, at: datetime, ticking: bool = False) -> None:
        self._at = ensure_aware(at)
        self._ticking = ticking
        self._started = datetime.now(UTC)

    def now(self) -> datetime:
        if self._ticking:
            return self._at + (datetime.now(UTC) - self._started)
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_aware(at)
        self._started = datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def ensure_aware(value: datetime) -> datetime:
    """Naive datetimes are taken as office time; aware ones are converted to it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=OFFICE_TZ)
    return value.astimezone(OFFICE_TZ)


def parse_now(text: str) -> datetime:
    """Parse ``--now`` values such as 2025-07-15T09:00 or 2025-07-15 (midnight)."""
    try:
        return ensure_aware(datetime.fromisoformat(text.strip()))
    except ValueError as exc:
        raise ValueError(f"--now 需要 ISO 时间,如 2025-07-15T09:00,收到:{text!r}") from exc
