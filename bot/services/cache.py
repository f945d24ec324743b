"""The app's cache of what is derived from the tasks alone (list pages, the 专班 ranking),
keyed by the database's ``tasks_version`` (moved by every task change, in any process, see
bot.db) and today's date: nothing is recomputed until something changed."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.db import TASKS_VERSION_KEY, meta_version


class ListCache:
    """The app's cache of list pages (``Duban.lists``), keyed by the database's tasks_version
    (moved by every task change, in any process, see bot.db) and today's date: a list is
    recomputed only after something changed."""

    MAX_ENTRIES = 512

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[str, int, int, list[int]]] = {}
        #: other figures derived from the tasks alone (the 专班 ranking), on the same key
        self._derived: dict[tuple, Any] = {}

    def get(self, key: tuple) -> Optional[tuple[str, int, int, list[int]]]:
        return self._entries.get(key)

    def put(self, key: tuple, value: tuple[str, int, int, list[int]]) -> None:
        if len(self._entries) > self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = value

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key (the key carries tasks_version, so a change recomputes)."""
        if key not in self._derived:
            if len(self._derived) > self.MAX_ENTRIES:
                self._derived.clear()
            self._derived[key] = compute()
        return self._derived[key]


LISTS_INFO = "duban.lists"  # session.info key (set by the app's sessionmaker)


def list_cache(session: Session) -> ListCache:
    """The list cache of the app this session belongs to (a session made elsewhere gets its own)."""
    cache = session.info.get(LISTS_INFO)
    if cache is None:
        cache = session.info[LISTS_INFO] = ListCache()
    return cache


def tasks_version(session: Session) -> str:
    # flush first: pending task changes bump the version (bot.db), and a list must not be
    # served from a cache entry older than them (the version is read once per transaction)
    session.flush()
    return meta_version(session, TASKS_VERSION_KEY)
