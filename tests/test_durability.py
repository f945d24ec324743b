"""Commits are durable: a reply saying "recorded" follows a commit that survives an OS crash.

SQLite must run every app connection with ``synchronous=FULL`` (2) in WAL mode, PostgreSQL
with ``synchronous_commit=on``; and the same message delivered twice is logged once.
"""
from __future__ import annotations

from sqlalchemy import func, select

from bot.messages import Incoming
from bot.models import AuditEntry, InboundSeen, TaskUpdate
from handlers.core import handle
from tests.conftest import Chat


def test_every_connection_commits_durably(app):
    # two connections at once: the pool's second connection gets the same settings
    with app.engine.connect() as first, app.engine.connect() as second:
        for connection in (first, second):
            if app.engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            else:
                assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_the_session_of_a_message_commits_durably(app):
    with app.sessions() as session:
        if app.engine.dialect.name == "sqlite":
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2
        else:
            assert session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def _update(app, person, ref: str, text: str):
    return handle(app, Incoming(channel="console", chat_id=person.name, user_id=person.name,
                                text=text, message_ref=ref))


def test_a_redelivered_update_is_logged_once(app):
    chat = Chat(app, "王干部")
    first = _update(app, chat.person, "console:1", "/update 纳图电气 66% 主体封顶")
    assert first[0].text.startswith("✅ 已记录:纳图电气")
    assert _update(app, chat.person, "console:1", "/update 纳图电气 66% 主体封顶") == []
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TaskUpdate)
                              .where(TaskUpdate.source_ref == "console:1")) == 1
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "update")) == 1


def test_a_redelivered_query_is_answered_once_and_a_redelivered_update_after_it(app):
    chat = Chat(app, "王干部")
    assert _update(app, chat.person, "console:7", "财政收入多少")[0].text
    assert _update(app, chat.person, "console:7", "财政收入多少") == []
    # a different message kind with the same reference is still a repeat
    assert _update(app, chat.person, "console:7", "/update 纳图电气 66% 主体封顶") == []
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TaskUpdate)
                              .where(TaskUpdate.source_ref == "console:7")) == 0
        assert session.scalar(select(func.count()).select_from(InboundSeen)
                              .where(InboundSeen.external_id == "console:7")) == 1
