"""Shared fixtures: a real database (SQLite file, and PostgreSQL when reachable), the
report's dataset loaded, a clock set to the report's time, and a chat helper.

PostgreSQL: ``DUBAN_TEST_PG_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Tests that take the ``app`` fixture run once per backend; PostgreSQL runs are skipped with a
reason when the server is not reachable (``.ci/run`` starts it, so CI runs both).
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

import pytest
from sqlalchemy import create_engine, text

from bot.app import Duban
from bot.clock import FixedClock, parse_now
from bot.composition import build_app, load_data_files
from bot.config import PROJECT_ROOT, Config, load_config
from handlers import handle
from handlers.messages import Incoming, Reply

PG_URL = os.environ.get("DUBAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPORT_NOW = "2025-07-15T09:00"
DATASET = PROJECT_ROOT / "data" / "diaozhuang-2025.yaml"
DEMO_PEOPLE = PROJECT_ROOT / "data" / "demo-people.yaml"

_pg_state: dict[str, Optional[str]] = {}


def pg_unavailable() -> Optional[str]:
    """None when PostgreSQL answers, else the reason (checked once per run)."""
    if "reason" not in _pg_state:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_state["reason"] = None
        except Exception as exc:  # noqa: BLE001
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
    return _pg_state["reason"]


def reset_pg() -> None:
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_config(db_url: str, tmp_path: Path, **sections) -> Config:
    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    config.database.url = db_url
    config.data.out_dir = str(tmp_path / "out")
    for section, values in sections.items():
        target = getattr(config, section)
        for key, value in values.items():
            setattr(target, key, value)
    return config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or the real PostgreSQL with a clean schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'duban.sqlite3'}"
        return
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    reset_pg()
    yield PG_URL


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'duban.sqlite3'}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(parse_now(REPORT_NOW))


def make_app(db_url: str, tmp_path: Path, clock: FixedClock, load: bool = True, **sections) -> Duban:
    app = build_app(make_config(db_url, tmp_path, **sections), clock)
    if load:
        load_data_files(app, [DATASET, DEMO_PEOPLE])
    return app


@pytest.fixture
def app(db_url, tmp_path, clock) -> Iterator[Duban]:
    """The report's data in a real database (both backends), clock at 2025-07-15 09:00."""
    application = make_app(db_url, tmp_path, clock)
    yield application
    application.engine.dispose()


@pytest.fixture
def sqlite_app(sqlite_url, tmp_path, clock) -> Iterator[Duban]:
    """Same as ``app`` on SQLite only, for tests about channels rather than storage."""
    application = make_app(sqlite_url, tmp_path, clock)
    yield application
    application.engine.dispose()


class Chat:
    """Talk to the handlers as one person, the way the console does."""

    def __init__(self, app: Duban, person_name: str, channel: str = "console") -> None:
        from bot.channels.console import pick_person

        self.app = app
        self.person = pick_person(app, person_name)
        self.channel = channel
        self.sent = 0

    def replies(self, text: str = "", callback: Optional[str] = None, **fields) -> list[Reply]:
        self.sent += 1
        msg = Incoming(channel="console", chat_id=self.person.name, user_id=self.person.name,
                       text=text, callback_data=callback, user_name=self.person.name,
                       buttons_supported=fields.pop("buttons_supported", True), **fields)
        return handle(self.app, msg)

    def say(self, text: str, **fields) -> str:
        return "\n".join(r.text for r in self.replies(text, **fields))

    def press(self, label: str, replies: list[Reply]) -> list[Reply]:
        for reply in replies:
            for row in reply.buttons:
                for button in row:
                    if button.label == label or label in button.label:
                        return self.replies(callback=button.data)
        raise AssertionError(f"no button {label!r} in {[b.label for r in replies for row in r.buttons for b in row]}")


@pytest.fixture
def chat_as(app):
    return lambda name: Chat(app, name)
