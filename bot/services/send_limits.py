"""Send rate limits shared by several instances on one PostgreSQL: token buckets in the
``send_buckets`` table, one per channel and one per chat, taken under ``SELECT ... FOR UPDATE``
so two instances never spend the same token. Time is the database's clock
(``clock_timestamp()``), so the hosts' clocks do not matter.

``take`` either spends one token from both buckets (the channel's and the chat's) and returns
0, or spends nothing and returns how many seconds to wait before trying again.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bot.config import SendingConfig
from bot.models import SendBucket

_NOW = text("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")


def buckets_for(config: SendingConfig, channel: str, chat_id: str) -> list[tuple[str, float, float]]:
    """(key, tokens a second, capacity) of the buckets a send to ``chat_id`` must pass."""
    found = []
    per_second = config.per_second.get(channel, 0)
    if per_second > 0:
        found.append((channel, per_second, 1.0))
    per_minute = config.per_chat_per_minute.get(channel, 0)
    if per_minute > 0:
        found.append((f"{channel}:{chat_id}"[:160], per_minute / 60.0, float(config.chat_burst)))
    return found


def take(session: Session, buckets: list[tuple[str, float, float]], now: Optional[float] = None) -> float:
    """Spend one token from every bucket, or none; returns 0 or the seconds to wait.
    Buckets are locked in key order (no deadlock between instances)."""
    if not buckets:
        return 0.0
    if now is None:
        now = float(session.execute(_NOW).scalar_one())
    ordered = sorted(buckets)
    session.execute(insert(SendBucket).values([{"key": key, "tokens": capacity, "updated_at": now}
                                               for key, _, capacity in ordered])
                    .on_conflict_do_nothing(index_elements=["key"]))
    rows = {row.key: row for row in session.scalars(
        select(SendBucket).where(SendBucket.key.in_([key for key, _, _ in ordered]))
        .order_by(SendBucket.key).with_for_update())}
    wait = 0.0
    levels = {}
    for key, rate, capacity in ordered:
        row = rows[key]
        level = min(capacity, row.tokens + max(0.0, now - row.updated_at) * rate)
        levels[key] = level
        if level < 1:
            wait = max(wait, (1 - level) / rate)
    for key, _, _ in ordered:
        rows[key].tokens = levels[key] - (1 if wait == 0 else 0)
        rows[key].updated_at = now
    return wait
