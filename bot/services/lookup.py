"""Find an indicator or a task from what a leader types.

Order: exact name or alias, then pinyin (full or initials: ``sl`` -> 社零), then a name
contained in the question or the question contained in a name, then fuzzy matching
(rapidfuzz) on names and on pinyin, so typos and homophones (纳图电器) still land.
One clear winner answers directly; close candidates become a short "did you mean" list.

The keys each row is matched on (``search_keys``) are computed when the row is written,
so building the in-memory index is a plain read, and it is rebuilt only when the
``names_version`` in the meta table moves.
"""
from __future__ import annotations

import logging
import secrets
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import NAMES_VERSION_KEY, forget_meta_versions, meta_version
from bot.models import Indicator, MetaEntry, Task
from bot.services.text import normalize_name, normalize_query

logger = logging.getLogger(__name__)

KIND_INDICATOR = "indicator"
KIND_TASK = "task"

Ref = tuple[str, int]  # (kind, id)

_PINYIN_PREFIX = "py:"
_INITIALS_PREFIX = "pi:"
_SEPARATOR = "\x00"


# pypinyin (about 0.3 s to import: its phrase dictionary) and rapidfuzz are imported where
# they are used, not at module import: start-up and exact-name answers never need them.

def lazy_pinyin(text: str, **kwargs) -> list[str]:
    import pypinyin

    return pypinyin.lazy_pinyin(text, **kwargs)


def search_keys_for(name: str, aliases: Iterable[str]) -> list[str]:
    """Normalised names plus their full pinyin and pinyin initials."""
    from pypinyin import Style

    keys: list[str] = []
    for raw in [name, *aliases]:
        norm = normalize_name(raw)
        if not norm or norm in keys:
            continue
        keys.append(norm)
        if not norm.isascii():
            keys.append(_PINYIN_PREFIX + "".join(lazy_pinyin(norm)))
            keys.append(_INITIALS_PREFIX + "".join(p[0] for p in lazy_pinyin(norm, style=Style.FIRST_LETTER) if p))
    return keys


def bump_names_version(session: Session) -> None:
    """Call after any name or alias changes, so every process rebuilds its index.

    The value is a counter plus a random tag: a cached index is keyed by database URL and
    version, and two databases at one URL (a restored copy, a test's fresh copy of one
    template) could otherwise reach the same counter with different names."""
    entry = session.get(MetaEntry, NAMES_VERSION_KEY)
    if entry is None:
        session.add(MetaEntry(key=NAMES_VERSION_KEY, value=f"1.{secrets.token_hex(4)}"))
    else:
        counter = entry.value.split(".", 1)[0]
        entry.value = f"{int(counter) + 1 if counter.isdigit() else 1}.{secrets.token_hex(4)}"
    forget_meta_versions(session)


@dataclass
class Match:
    """What a lookup found: ``best`` when one answer is clear, else ``candidates``."""

    best: Optional[Ref] = None
    candidates: list[Ref] = field(default_factory=list)
    how: str = "none"  # exact | pinyin | contains | fuzzy | ambiguous | none


class _Index:
    def __init__(self, rows: list[tuple[Ref, str, list[str]]]) -> None:
        self.display: dict[Ref, str] = {}
        self.exact: dict[str, set[Ref]] = {}
        self.pinyin: dict[str, set[Ref]] = {}
        self.plain_keys: list[str] = []
        self.plain_owner: list[Ref] = []
        self.pinyin_keys: list[str] = []
        self.pinyin_owner: list[Ref] = []
        for ref, name, keys in rows:
            self.display[ref] = name
            for key in keys:
                if key.startswith((_PINYIN_PREFIX, _INITIALS_PREFIX)):
                    self.pinyin.setdefault(key, set()).add(ref)
                    if key.startswith(_PINYIN_PREFIX):
                        self.pinyin_keys.append(key[len(_PINYIN_PREFIX):])
                        self.pinyin_owner.append(ref)
                else:
                    self.exact.setdefault(key, set()).add(ref)
                    self.plain_keys.append(key)
                    self.plain_owner.append(ref)
        # For the "contains" steps without a Python loop over every key (10,000+ tasks):
        # the longest key bounds the substrings of a question worth looking up, and all keys
        # joined by a separator no key contains can be searched in one str.find pass.
        self.longest_key = max(map(len, self.plain_keys), default=0)
        self.joined = _SEPARATOR.join(self.plain_keys)
        self.starts: list[int] = []
        at = 0
        for key in self.plain_keys:
            self.starts.append(at)
            at += len(key) + len(_SEPARATOR)

    def find(self, text: str, kinds: Optional[set[str]] = None, limit: int = 5) -> Match:
        query = normalize_query(text)
        if not query:
            return Match()

        def allowed(refs: Iterable[Ref]) -> list[Ref]:
            return sorted({r for r in refs if kinds is None or r[0] in kinds}, key=self._order)

        for candidate in (query, normalize_name(text)):
            hits = allowed(self.exact.get(candidate, ()))
            if len(hits) == 1:
                return Match(best=hits[0], how="exact")
            if hits:
                return Match(candidates=hits[:limit], how="ambiguous")

        if query.isascii() and query.isalpha():
            hits = allowed(self.pinyin.get(_PINYIN_PREFIX + query, set())
                           | self.pinyin.get(_INITIALS_PREFIX + query, set()))
            if len(hits) == 1:
                return Match(best=hits[0], how="pinyin")
            if hits:
                return Match(candidates=hits[:limit], how="ambiguous")

        if not query.isascii():
            full = "".join(lazy_pinyin(query))
            hits = allowed(self.pinyin.get(_PINYIN_PREFIX + full, ()))
            if len(hits) == 1:
                return Match(best=hits[0], how="pinyin")

            # a known name inside the question ("纳图电气项目最新情况"), longest name wins
            inside = {r: n for r, n in self._names_inside(query).items() if kinds is None or r[0] in kinds}
            if inside:
                top = max(inside.values())
                best = allowed(r for r, n in inside.items() if n == top)
                if len(best) == 1:
                    return Match(best=best[0], how="contains")
                return Match(candidates=best[:limit], how="ambiguous")
            # the question inside names ("外资" -> several), only for 2+ characters
            if len(query) >= 2:
                around = allowed(self.names_around(query))
                if len(around) == 1:
                    return Match(best=around[0], how="contains")
                if around:
                    return Match(candidates=around[:limit], how="ambiguous")

        return self._fuzzy(query, kinds, limit)

    def _names_inside(self, query: str) -> dict[Ref, int]:
        """Names (2+ characters) contained in the query -> the longest such name's length."""
        inside: dict[Ref, int] = {}
        longest = min(len(query), self.longest_key)
        if (len(query) - 1) * longest > len(self.plain_keys):
            # a very long question: scanning the keys is cheaper than its substrings
            for key, ref in zip(self.plain_keys, self.plain_owner, strict=True):
                if len(key) >= 2 and key in query:
                    inside[ref] = max(inside.get(ref, 0), len(key))
            return inside
        for length in range(2, longest + 1):
            for start in range(len(query) - length + 1):
                for ref in self.exact.get(query[start:start + length], ()):
                    inside[ref] = max(inside.get(ref, 0), length)
        return inside

    def names_around(self, query: str, kind: Optional[str] = None, limit: Optional[int] = None) -> list[Ref]:
        """Owners of the names that contain the query (of one kind when given), in index order;
        with ``limit``, the scan stops once that many different owners are found."""
        if _SEPARATOR in query:  # cannot happen after normalising; kept exact anyway
            return [ref for key, ref in zip(self.plain_keys, self.plain_owner, strict=True) if query in key]
        found: list[Ref] = []
        distinct: set[Ref] = set()
        at = self.joined.find(query)
        while at != -1:
            index = bisect_right(self.starts, at) - 1  # the key this occurrence lies in
            ref = self.plain_owner[index]
            if kind is None or ref[0] == kind:
                found.append(ref)
                distinct.add(ref)
                if limit is not None and len(distinct) >= limit:
                    break
            if index + 1 == len(self.starts):
                break
            at = self.joined.find(query, self.starts[index + 1])
        return found

    def _fuzzy(self, query: str, kinds: Optional[set[str]], limit: int) -> Match:
        from rapidfuzz import fuzz, process

        scores: dict[Ref, float] = {}
        for _choice, score, idx in process.extract(
            query, self.plain_keys, scorer=fuzz.ratio, limit=limit * 4, score_cutoff=50
        ):
            ref = self.plain_owner[idx]
            scores[ref] = max(scores.get(ref, 0), score)
        if not query.isascii():
            pinyin_query = "".join(lazy_pinyin(query))
            for _choice, score, idx in process.extract(
                pinyin_query, self.pinyin_keys, scorer=fuzz.ratio, limit=limit * 4, score_cutoff=80
            ):
                ref = self.pinyin_owner[idx]
                scores[ref] = max(scores.get(ref, 0), score)
        if kinds is not None:
            scores = {r: s for r, s in scores.items() if r[0] in kinds}
        ranked = sorted(scores, key=lambda r: (-scores[r], self._order(r)))
        if not ranked:
            return Match()
        top = scores[ranked[0]]
        second = scores[ranked[1]] if len(ranked) > 1 else 0
        if top >= 75 and top - second >= 8:
            return Match(best=ranked[0], how="fuzzy")
        return Match(candidates=ranked[:limit], how="ambiguous" if top >= 66 else "none")

    def _order(self, ref: Ref) -> tuple:
        return (0 if ref[0] == KIND_INDICATOR else 1, ref[1])


class NameIndex:
    """The app's cache of the lookup index, rebuilt when names change (``names_version``).

    One per running app (``Duban.names``), reached from a session through the sessionmaker's
    shared ``info`` (``name_index(session)``). ``on_rebuilt`` runs after each rebuild: the app
    passes ``gc.freeze`` there (see ``bot.composition``)."""

    def __init__(self, on_rebuilt: Optional[Callable[[], None]] = None) -> None:
        self._lock = threading.Lock()
        self._cached: Optional[tuple[str, _Index]] = None
        self._on_rebuilt = on_rebuilt

    def get(self, session: Session) -> _Index:
        version = meta_version(session, NAMES_VERSION_KEY)
        cached = self._cached
        if cached and cached[0] == version:
            return cached[1]
        with self._lock:
            rows: list[tuple[Ref, str, list[str]]] = []
            for id_, name, keys in session.execute(select(Indicator.id, Indicator.name, Indicator.search_keys)):
                rows.append(((KIND_INDICATOR, id_), name, keys or []))
            for id_, name, keys in session.execute(select(Task.id, Task.name, Task.search_keys)):
                rows.append(((KIND_TASK, id_), name, keys or []))
            index = _Index(rows)
            self._cached = (version, index)
            if self._on_rebuilt is not None:
                self._on_rebuilt()
            logger.debug("name index rebuilt: %d entries, version %s", len(rows), version)
            return index

    def find(self, session: Session, text: str, kinds: Optional[set[str]] = None) -> Match:
        return self.get(session).find(text, kinds)

    def name_of(self, session: Session, ref: Ref) -> str:
        return self.get(session).display.get(ref, "?")


NAMES_INFO = "duban.names"  # session.info key (set by the app's sessionmaker)


def name_index(session: Session) -> NameIndex:
    """The name index of the app this session belongs to. A session made outside the app's
    sessionmaker gets its own index for its lifetime (correct, only not shared)."""
    index = session.info.get(NAMES_INFO)
    if index is None:
        index = session.info[NAMES_INFO] = NameIndex()
    return index


class _SessionNames:
    """``NAMES.find(session, ...)``: the older call form, kept for call sites written
    against it; it holds no state and forwards to the session's app (``name_index``)."""

    def get(self, session: Session) -> _Index:
        return name_index(session).get(session)

    def find(self, session: Session, text: str, kinds: Optional[set[str]] = None) -> Match:
        return name_index(session).find(session, text, kinds)

    def name_of(self, session: Session, ref: Ref) -> str:
        return name_index(session).name_of(session, ref)


NAMES = _SessionNames()
