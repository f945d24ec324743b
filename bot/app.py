"""The running bot's shared parts, built once by ``bot.composition`` and handed to handlers,
jobs and channels: config, clock, database sessions, and the button-data signer."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.metrics import Metrics
from bot.models import MetaEntry

CALLBACK_SECRET_KEY = "callback_secret"
SIGNATURE_CHARS = 6
MAX_CALLBACK_BYTES = 64


@dataclass
class Duban:
    config: Config
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    out_dir: Path
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

    def sign(self, *parts: object) -> str:
        payload = "|".join(str(p) for p in parts)
        digest = hmac.new(self._key(), payload.encode(), hashlib.sha256).digest()
        data = f"{payload}~{base64.b32encode(digest).decode()[:SIGNATURE_CHARS].lower()}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"button data too long: {data!r}")
        return data

    def verify(self, data: str) -> Optional[list[str]]:
        """The parts of signed button data, or None when it is forged or malformed."""
        if not data or "~" not in data or len(data.encode()) > MAX_CALLBACK_BYTES:
            return None
        payload, _, signature = data.rpartition("~")
        digest = hmac.new(self._key(), payload.encode(), hashlib.sha256).digest()
        expected = base64.b32encode(digest).decode()[:SIGNATURE_CHARS].lower()
        if not hmac.compare_digest(signature, expected):
            return None
        return payload.split("|")
