"""Shared fixtures: a real database (SQLite file, and PostgreSQL when reachable), the
report's dataset loaded, a clock set to the report's time, and a chat helper.

PostgreSQL: ``DUBAN_TEST_PG_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Tests that take the ``app`` fixture run once per backend; PostgreSQL runs are skipped with a
reason when the server is not reachable (``.ci/run`` starts it, so CI runs both).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
from sqlalchemy import create_engine, text

from bot.app import Duban
from bot.clock import FixedClock, parse_now
from bot.composition import build_app, load_data_files
from bot.config import PROJECT_ROOT, Config, load_config
from bot.messages import Incoming, Reply
from bot.services import charts
from handlers.core import handle

PG_URL = os.environ.get("DUBAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPORT_NOW = "2025-07-15T09:00"
DATASET = PROJECT_ROOT / "data" / "diaozhuang-2025.yaml"
DEMO_PEOPLE = PROJECT_ROOT / "data" / "demo-people.yaml"

_pg_state: dict[str, Optional[str]] = {}


# ---------------------------------------------------------------- CJK font (picture tests)

#: ``@requires_cjk_font`` (or ``@pytest.mark.requires_cjk_font``): the test checks that
#: charts draw Chinese with a real CJK font; without one installed it is skipped with the
#: reason, and the rest of the suite still runs (``make fonts`` installs it, needs root).
requires_cjk_font = pytest.mark.requires_cjk_font
NO_CJK_FONT = ("no CJK font installed, so charts would draw Chinese as boxes: "
               "run `make fonts` (apt-get install fonts-wqy-microhei; needs root or sudo)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "requires_cjk_font: skipped (with the reason) when no CJK font is installed")


def pytest_runtest_setup(item) -> None:
    # checked only when a marked test runs: finding fonts loads matplotlib (charts imports it lazily)
    if item.get_closest_marker("requires_cjk_font") is not None:
        if charts.cjk_font() is None:
            pytest.skip(NO_CJK_FONT)


def pg_unavailable() -> Optional[str]:
    """None when PostgreSQL answers, else the reason (checked once per run)."""
    if "reason" not in _pg_state:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
    return _pg_state["reason"]


def fresh_pg_database(name: str) -> str:
    """Drop and create an empty database of that name on the test server; return its URL."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def make_config(db_url: str, tmp_path: Path, **sections) -> Config:
    config = load_config(files=[PROJECT_ROOT / "config.yaml"], environ={})
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
    yield fresh_pg_database(f"duban_empty_{os.getpid()}")


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """The report's data loaded once into a SQLite file; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    application = make_app(f"sqlite:///{path}", path.parent, FixedClock(parse_now(REPORT_NOW)))
    with application.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    application.engine.dispose()
    return path


# per test run, so that several runs (worktrees, CI) on one server do not collide
PG_TEMPLATE_DB = f"duban_template_{os.getpid()}"
PG_CASE_DB = f"duban_case_{os.getpid()}"


def _pg_admin_url() -> str:
    return PG_URL


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory) -> Iterator[Optional[str]]:
    """The report's data loaded once into a PostgreSQL template database (dropped at the end)."""
    if pg_unavailable():
        yield None
        return
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in (PG_CASE_DB, PG_TEMPLATE_DB):
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE_DB}"))
    admin.dispose()
    url = PG_URL.rsplit("/", 1)[0] + "/" + PG_TEMPLATE_DB
    application = make_app(url, tmp_path_factory.mktemp("pgtemplate"), FixedClock(parse_now(REPORT_NOW)))
    application.engine.dispose()
    yield url
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in (PG_CASE_DB, PG_TEMPLATE_DB):
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def app(request, tmp_path, clock) -> Iterator[Duban]:
    """The report's data in a real database (SQLite and PostgreSQL), clock at 2025-07-15 09:00."""
    backend = request.param if hasattr(request, "param") else "sqlite"
    if backend == "postgres":
        template = request.getfixturevalue("pg_template")
        if template is None:
            pytest.skip(pg_unavailable())
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_CASE_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {PG_CASE_DB} TEMPLATE {PG_TEMPLATE_DB}"))
        admin.dispose()
        url = PG_URL.rsplit("/", 1)[0] + "/" + PG_CASE_DB
    else:
        path = tmp_path / "duban.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    application = build_app(make_config(url, tmp_path), clock)
    yield application
    application.engine.dispose()


def pytest_generate_tests(metafunc):
    """Tests that use ``app`` run on SQLite and on PostgreSQL."""
    if "app" in metafunc.fixturenames:
        metafunc.parametrize("app", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                             indirect=True)


@pytest.fixture
def sqlite_app(request, tmp_path, clock) -> Iterator[Duban]:
    """Same as ``app`` on SQLite only, for tests about channels rather than storage."""
    path = tmp_path / "duban.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    application = build_app(make_config(f"sqlite:///{path}", tmp_path), clock)
    yield application
    application.engine.dispose()


class Chat:
    """Talk to the handlers as one person, the way the console does."""

    def __init__(self, app: Duban, person_name: str, channel: str = "console") -> None:
        from channels.console import pick_person

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


@pytest.fixture(scope="session", autouse=True)
def _drop_empty_pg_database():
    """Remove the per-run empty database ``db_url`` may have created."""
    yield
    if "reason" in _pg_state and _pg_state["reason"] is None:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS duban_empty_{os.getpid()} WITH (FORCE)"))
        admin.dispose()
