"""Database engine, sessions and migrations.

SQLite by default (a file under ``var/``, WAL journal, foreign keys on); any SQLAlchemy URL
works. The schema is created and upgraded only through Alembic migrations.

Durable by default: a reply saying "recorded" is sent only after its commit, so the commit
must survive an OS crash or power loss, not only a crash of the process. SQLite therefore
runs ``synchronous=FULL`` (WAL: every commit fsyncs the log), and PostgreSQL sessions run
``synchronous_commit=on`` (set explicitly, so a server default of ``off`` cannot weaken it).
"""
from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional
from typing import cast as cast_type

from sqlalchemy import (
    Engine,
    Integer,
    String,
    Table,
    cast,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import PROJECT_ROOT
from bot.models import MetaEntry, Task, TaskUpdate

TASKS_VERSION_KEY = "tasks_version"
NAMES_VERSION_KEY = "names_version"
VERSION_KEYS = (TASKS_VERSION_KEY, NAMES_VERSION_KEY)
_VERSIONS_INFO = "meta_versions"  # session.info key: this transaction's version values

logger = logging.getLogger(__name__)

ALEMBIC_DIR = PROJECT_ROOT / "alembic"


#: SQLite's ``synchronous`` level on every connection: FULL (2) fsyncs the WAL at each commit
SQLITE_SYNCHRONOUS = "FULL"
#: PostgreSQL connections older than this are replaced at checkout (instead of a pre-ping
#: round trip on every checkout: a dropped connection then fails one message, which the
#: channel's redelivery or the user's retry answers)
POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str, echo: bool = False) -> Engine:
    """Build the engine; SQLite files get WAL, synchronous=FULL, foreign keys and a busy
    timeout; PostgreSQL gets synchronous_commit=on and recycled (not pre-pinged) connections."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cursor.close()

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, echo=echo, pool_recycle=POOL_RECYCLE_SECONDS,
                             connect_args={"options": "-c synchronous_commit=on"})
    return create_engine(url, echo=echo, pool_recycle=POOL_RECYCLE_SECONDS)


def make_session_factory(engine: Engine, info: Optional[dict[str, Any]] = None) -> sessionmaker[Session]:
    """The app's sessions: its shared state (``info``, copied into every ``session.info``) and
    the version listeners hang off this factory, not off the ``Session`` class, so two apps
    in one process (tests) never see each other's sessions."""
    factory = sessionmaker(engine, expire_on_commit=False, info=dict(info or {}))
    event.listen(factory, "before_flush", _bump_tasks_version)
    event.listen(factory, "after_transaction_end", _reset_bump_flag)
    return factory


def _alembic_config(engine: Engine):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(?:None|['\"]([^'\"]+)['\"])\s*$", re.M)


def _head_from_files() -> Optional[str]:
    """The newest revision, read from the migration files without importing Alembic (about
    0.2 s of start-up). None unless every file is a plain step of one chain; then Alembic
    decides, as always."""
    revisions, parents = set(), set()
    for path in (ALEMBIC_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at_revision(engine: Engine, revision: str) -> bool:
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [revision]
    except DBAPIError:  # no schema yet
        return False


#: the PostgreSQL advisory-lock key migrations hold (any fixed number; "duban" in ASCII)
MIGRATION_LOCK_KEY = 0x647562616E


@contextmanager
def migration_lock(engine: Engine, timeout: float = 600) -> Iterator[None]:
    """Held while migrating, so two instances starting (or ``run.py migrate``) at once never
    migrate together: the second waits, then finds the schema at head. PostgreSQL: a
    session-level advisory lock on a connection of its own; SQLite: an exclusive ``flock``
    on ``<database file>.migrate-lock`` (SQLite's own locks do not cover Alembic's several
    transactions)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text(f"SET lock_timeout = {int(timeout * 1000)}"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> Optional[str]:
    """The schema revision the database is at (None: no schema yet)."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def known_revisions() -> set[str]:
    """Every revision this code's migrations know (a database or backup at another one is
    from a newer version of Duban)."""
    from alembic.script import (
        ScriptDirectory,  # Alembic is slow to import; only when asked
    )

    script = ScriptDirectory(str(ALEMBIC_DIR))
    return {rev.revision for rev in script.walk_revisions()}


def head_revision() -> str:
    from alembic.script import ScriptDirectory  # as above

    head = ScriptDirectory(str(ALEMBIC_DIR)).get_current_head()
    if head is None:  # alembic/versions ships with the code: only a broken install has none
        raise RuntimeError(f"no Alembic migrations in {ALEMBIC_DIR}")
    return head


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest migration (a no-op when it is already there); returns
    whether it migrated. Holds ``migration_lock`` while it checks and upgrades."""
    head = _head_from_files()
    if head is not None and _at_revision(engine, head):
        return False  # the usual start: already at head, checked without importing Alembic
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from alembic import command

    cfg = _alembic_config(engine)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with migration_lock(engine):
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return False  # another instance migrated while we waited
        if current is not None and current not in known_revisions():
            raise SchemaTooNew(current)
        logger.warning("migrating database from %s to %s", current, head)
        command.upgrade(cfg, "head")
    return True


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Duban than this one."""

    def __init__(self, revision: str) -> None:
        super().__init__(f"数据库结构版本 {revision} 比本程序新(由更新版本的督办升级过),请用新版本运行,"
                         f"或恢复升级前的备份 (database schema {revision} is newer than this code)")
        self.revision = revision


_VERSIONS = select(MetaEntry.key, MetaEntry.value).where(MetaEntry.key.in_(VERSION_KEYS))  # built once


def meta_version(session: Session, key: str) -> str:
    """A version counter from the meta table (``tasks_version``, ``names_version``).

    Both are read in one query, once per transaction, and kept in ``session.info`` until
    the transaction ends; our own bumps drop the kept values, so the next read sees them.
    Other processes' bumps are seen by the next message (the next transaction), exactly as
    when each caller read its row: the versions exist so that every process notices.
    """
    versions = session.info.get(_VERSIONS_INFO)
    if versions is None:
        versions = session.info[_VERSIONS_INFO] = {key: value for key, value in session.execute(_VERSIONS)}
    return versions.get(key, "0")


def version_columns():
    """The version values as scalar subqueries, for a query every message runs anyway
    (people.identify_in_chat); hand its values to ``remember_meta_versions``."""
    return tuple(select(MetaEntry.value).where(MetaEntry.key == key).scalar_subquery().label(key)
                 for key in VERSION_KEYS)


def remember_meta_versions(session: Session, values) -> None:
    """Versions read by another query of this transaction (see ``version_columns``)."""
    session.info[_VERSIONS_INFO] = {key: value for key, value in zip(VERSION_KEYS, values, strict=True)
                                    if value is not None}


def forget_meta_versions(session: Session) -> None:
    """After a bump in this transaction: read the versions again next time."""
    session.info.pop(_VERSIONS_INFO, None)


_META = cast_type(Table, MetaEntry.__table__)
_BUMP_TASKS_VERSION = (update(_META).where(_META.c.key == TASKS_VERSION_KEY)
                       .values(value=cast(cast(_META.c.value, Integer) + 1, String)))
_FIRST_TASKS_VERSION = insert(_META).values(key=TASKS_VERSION_KEY, value="1")


def _bump_tasks_version(session: Session, _context, _instances) -> None:
    """Any change to tasks moves ``tasks_version``, so every process's cached lists expire."""
    touched = (*session.new, *session.dirty, *session.deleted)
    if not any(isinstance(obj, (Task, TaskUpdate)) for obj in touched):
        return
    if session.info.get("tasks_version_bumped"):
        return
    session.info["tasks_version_bumped"] = True
    forget_meta_versions(session)
    # One UPDATE instead of SELECT + UPDATE (this runs on every progress report); it is
    # also atomic when two processes bump at once. Core on the session's connection, so it
    # joins this transaction without triggering another flush.
    connection = session.connection()
    if connection.execute(_BUMP_TASKS_VERSION).rowcount == 0:
        connection.execute(_FIRST_TASKS_VERSION)


def _reset_bump_flag(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("tasks_version_bumped", None)
        forget_meta_versions(session)
