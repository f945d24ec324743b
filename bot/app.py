"""The running bot's shared parts, built once by ``bot.composition`` and handed to handlers,
jobs and channels: config, clock, database sessions, the button-data signer, and the state
that lives as long as the app: the name index, the list cache (both also reachable from
any of its sessions, through the sessionmaker's ``info``) and the worker threads that run
database work off the event loop.

Button data is ``code|arg|…|@stamp~sig``: the stamp says when it was issued and for whom,
compactly (Telegram allows 64 bytes): ``@<minutes since 2024-01-01 UTC, base36>.<owner>[.<push>]``
— owner ``p<person id>`` (a private chat) or ``g<team id>`` (a team's group chat, where any
member of the group may press it), push ``<outbox row id>`` for a pushed reminder's buttons
(all ids base36). Data without a stamp (signed before buttons carried one) reads as expired.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Optional

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.metrics import Metrics
from bot.models import MetaEntry
from bot.services.cache import ListCache
from bot.services.lookup import NameIndex
from bot.workers import Workers

CALLBACK_SECRET_KEY = "callback_secret"
SIGNATURE_CHARS = 6
MAX_CALLBACK_BYTES = 64
BUTTON_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
STAMP = "@"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("base36 of a negative number")
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = _DIGITS[digit] + text
        if not number:
            return text


@dataclass(frozen=True)
class ButtonData:
    """Verified button data: the parts (``code``, args…), when and for whom it was issued."""

    parts: list[str]
    #: None for data signed before buttons carried their time (always expired)
    issued: Optional[datetime] = None
    #: "p<id>" a person, "g<id>" a team's group chat, "" anyone (tools and tests)
    owner: str = ""
    #: the outbox row of a pushed reminder the button came with
    push_id: Optional[int] = None

    @property
    def person_id(self) -> Optional[int]:
        return int(self.owner[1:]) if self.owner.startswith("p") else None

    @property
    def team_id(self) -> Optional[int]:
        return int(self.owner[1:]) if self.owner.startswith("g") else None


def owner_of(person_id: Optional[int] = None, team_id: Optional[int] = None) -> str:
    """The owner field of a stamp: a team's group wins over a person."""
    if team_id is not None:
        return f"g{base36(team_id)}"
    if person_id is not None:
        return f"p{base36(person_id)}"
    return ""


def _stamp(issued: datetime, owner: str, push_id: Optional[int]) -> str:
    minutes = int((issued - BUTTON_EPOCH).total_seconds() // 60)
    text = f"{STAMP}{base36(max(minutes, 0))}.{owner}"
    return text + (f".{base36(push_id)}" if push_id is not None else "")


def _read_stamp(text: str) -> Optional[tuple[datetime, str, Optional[int]]]:
    try:
        minutes, owner, *rest = text[len(STAMP):].split(".")
        issued = BUTTON_EPOCH + timedelta(minutes=int(minutes, 36))
        if owner:
            owner = owner[0] + str(int(owner[1:], 36))
            if owner[0] not in "pg":
                return None
        push_id = int(rest[0], 36) if rest else None
    except (ValueError, IndexError):
        return None
    return issued, owner, push_id


@dataclass
class Duban:
    config: Config
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    out_dir: Path
    names: NameIndex = field(default_factory=NameIndex)
    lists: ListCache = field(default_factory=ListCache)
    workers: Workers = field(default_factory=lambda: Workers(1))
    metrics: Metrics = field(default_factory=Metrics)
    _secret: Optional[bytes] = field(default=None, repr=False)

    def session(self) -> Session:
        return self.sessions()

    # -- button data: "action|arg|arg~sig", signed so forged data is refused
    def load_secret(self) -> None:
        """Read (or create once) the button-signing key; called at start-up."""
        with self.sessions.begin() as session:
            entry = session.get(MetaEntry, CALLBACK_SECRET_KEY)
            if entry is None:
                entry = MetaEntry(key=CALLBACK_SECRET_KEY, value=secrets.token_hex(16))
                session.add(entry)
            self._secret = entry.value.encode()

    def _key(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("Duban.load_secret() was not called at start-up")
        return self._secret

    def web_key(self) -> bytes:
        """The key that signs 驾驶舱 links and tokens (derived from the button key)."""
        return hmac.new(self._key(), b"duban-web-access", hashlib.sha256).digest()

    def sign(self, *parts: object, issued: Optional[datetime] = None, owner: str = "",
             push_id: Optional[int] = None) -> str:
        """Signed button data for ``parts``, stamped with its issue time (default: now), its
        owner (``owner_of(...)``) and, for a pushed reminder, its outbox row."""
        stamp = _stamp(issued or self.clock.now(), owner, push_id)
        payload = "|".join([*(str(p) for p in parts), stamp])
        data = f"{payload}~{self._signature(payload)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"button data too long: {data!r}")
        return data

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key(), payload.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:SIGNATURE_CHARS].lower()

    def verify(self, data: str) -> Optional[ButtonData]:
        """The verified button data, or None when it is forged or malformed."""
        if not data or "~" not in data or len(data.encode()) > MAX_CALLBACK_BYTES:
            return None
        payload, _, signature = data.rpartition("~")
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        parts = payload.split("|")
        if len(parts) > 1 and parts[-1].startswith(STAMP):
            stamp = _read_stamp(parts[-1])
            if stamp is None:
                return None
            return ButtonData(parts[:-1], *stamp)
        return ButtonData(parts)  # signed before buttons carried their time: expired
