"""Where blocking database work runs: the one policy every channel and job follows.

Handlers (``handlers.handle``) and the outbox's database steps are synchronous SQLAlchemy
code. Run on the event loop, one slow export or import would stall polling, webhooks, other
chats and pushes for its whole duration; so they always run in the app's ``Workers``, a small
thread pool owned by the running ``Duban`` (``duban.workers``):

- PostgreSQL and SQLite files: ``database.workers`` threads (default 4). SQLite in WAL mode
  reads concurrently with its one writer, and its busy timeout queues writers;
- an in-memory SQLite database (one connection, one thread): a single worker.

A chat's messages still run one after the other (the channels chain them per chat).
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_WORKERS = 4


def worker_count(database_url: str, configured: int = 0) -> int:
    """Threads for a database: 1 where SQLite needs it (in memory), else ``configured`` or 4."""
    if database_url.startswith("sqlite"):
        target = database_url.split("///", 1)[-1] if "///" in database_url else ""
        if not target or target == ":memory:" or "mode=memory" in database_url:
            return 1
    return configured if configured > 0 else DEFAULT_WORKERS


class Workers:
    """A thread pool for blocking work, started lazily and closed with the app."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="duban-db")
        return self._executor

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a worker thread, awaited from the event loop."""
        loop = asyncio.get_running_loop()
        call = functools.partial(func, *args) if args else func
        return await loop.run_in_executor(self._pool(), call)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
