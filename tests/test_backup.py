"""Backups: an archive taken while the bot writes is one consistent snapshot, restores to
exactly that state (database and photos) on SQLite and PostgreSQL, and a damaged archive or
one from a newer schema is refused without changing anything."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select

from bot.db import head_revision, migration_lock
from bot.models import InboundSeen, Task, TaskUpdate
from bot.services.backup import (
    MANIFEST,
    BackupError,
    create_backup,
    prune_backups,
    read_manifest,
    restore_backup,
    sha256_file,
)
from tests.conftest import Chat


@pytest.fixture(autouse=True)
def pg_tools(request):
    """PostgreSQL backups need pg_dump/pg_restore (`make pg-client`); without them the
    PostgreSQL cases are skipped with the reason."""
    if "postgres" in request.node.name and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed: run `make pg-client` (apt-get install postgresql-client)")


def snapshot(app) -> dict:
    with app.sessions() as session:
        return {
            "tasks": session.scalar(select(func.count()).select_from(Task)),
            "updates": sorted(session.execute(select(TaskUpdate.id, TaskUpdate.progress, TaskUpdate.note)).all()),
            "seen": sorted(session.scalars(select(InboundSeen.external_id)).all()),
        }


def test_backup_while_writing_is_one_consistent_snapshot(app, clock, tmp_path):
    stop = threading.Event()
    written: list[int] = []

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            with app.sessions.begin() as session:
                session.execute(insert(InboundSeen).values(channel="test", external_id=f"w{i:06d}",
                                                           seen_at=clock.now()))
            written.append(i)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            pass
        before = len(written)
        archive = create_backup(app.config, app.engine, tmp_path / "backups", clock.now())
        after = len(written)
    finally:
        stop.set()
        thread.join()
    assert after > before  # the writer kept writing during the backup
    restore_backup(app.config, app.engine, archive)
    ids = snapshot(app)["seen"]
    # everything committed before the backup began is there, and the rows form one unbroken prefix
    assert len(ids) >= before
    assert ids == [f"w{i:06d}" for i in range(1, len(ids) + 1)]
    assert len(ids) <= after


def test_restore_round_trip_database_and_photos(app, clock, tmp_path):
    chat = Chat(app, "王干部")
    assert chat.say("/update 纳图电气 70% 设备进场").startswith("✅ 已记录:纳图电气 70%")
    photos = app.config.photo_path
    (photos / "2025").mkdir(parents=True)
    (photos / "2025" / "site.jpg").write_bytes(b"\xff\xd8jpeg-bytes")
    saved = snapshot(app)

    archive = create_backup(app.config, app.engine, tmp_path / "backups", clock.now())
    manifest = read_manifest(archive)
    assert manifest["database"]["kind"] == app.engine.dialect.name
    assert manifest["schema_revision"] == head_revision()
    assert manifest["created_at"] == clock.now().isoformat()
    paths = {entry["path"] for entry in manifest["files"]}
    assert "photos/2025/site.jpg" in paths
    assert archive.with_name(archive.name + ".sha256").read_text().split()[0] == sha256_file(archive)

    # things change after the backup ...
    assert chat.say("/update 纳图电气 90% 装修").startswith("✅ 已记录:纳图电气 90%")
    with app.sessions.begin() as session:
        session.execute(delete(InboundSeen))
    (photos / "2025" / "site.jpg").unlink()
    assert snapshot(app) != saved

    # ... and the restore brings back exactly the backup's state
    report = restore_backup(app.config, app.engine, archive)
    assert report.photos == 1 and report.migrated is False
    assert snapshot(app) == saved
    assert (photos / "2025" / "site.jpg").read_bytes() == b"\xff\xd8jpeg-bytes"
    assert chat.say("/update 纳图电气 80% 收尾").startswith("✅ 已记录:纳图电气 80%")  # still usable


def rewrite_archive(archive: Path, target: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            data = change(member.name, data)
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return target


def test_damaged_or_newer_archives_are_refused_and_change_nothing(sqlite_app, clock, tmp_path):
    app = sqlite_app
    archive = create_backup(app.config, app.engine, tmp_path / "backups", clock.now())
    with app.sessions.begin() as session:
        session.execute(insert(InboundSeen).values(channel="test", external_id="after", seen_at=clock.now()))
    saved = snapshot(app)

    flipped = tmp_path / "flipped.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    flipped.with_name(flipped.name + ".sha256").write_text(
        archive.with_name(archive.name + ".sha256").read_text().split()[0] + "  flipped.tar.gz\n")
    with pytest.raises(BackupError, match="校验和不符"):
        restore_backup(app.config, app.engine, flipped)

    # no .sha256 beside it: the manifest's per-file checksums still catch a changed database
    def corrupt(name, data):
        return data[:-10] + b"0123456789" if name == "database.sqlite3" else data
    changed = rewrite_archive(archive, tmp_path / "changed.tar.gz", corrupt)
    with pytest.raises(BackupError, match="database.sqlite3 校验和不符"):
        restore_backup(app.config, app.engine, changed)

    def future(name, data):
        if name != MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["schema_revision"] = "0099_from_the_future"
        return json.dumps(manifest).encode()
    newer = rewrite_archive(archive, tmp_path / "newer.tar.gz", future)
    with pytest.raises(BackupError, match="0099_from_the_future 比本程序新"):
        restore_backup(app.config, app.engine, newer)

    assert snapshot(app) == saved


def test_old_archives_are_pruned_but_the_newest_is_kept(tmp_path, clock):
    folder = tmp_path / "backups"
    folder.mkdir()
    now = clock.now()
    names = []
    for days in (40, 20, 10, 1):
        stamp = now - timedelta(days=days)
        name = f"duban-backup-{stamp:%Y%m%d-%H%M%S}.tar.gz"
        (folder / name).write_bytes(b"x")
        (folder / (name + ".sha256")).write_text("x")
        names.append(name)
    removed = prune_backups(folder, 14, now)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in folder.iterdir()) == sorted([names[2], names[2] + ".sha256",
                                                               names[3], names[3] + ".sha256"])
    # everything older than the limit: the newest one still stays
    assert [p.name for p in prune_backups(folder, 0, now + timedelta(days=100))] == []
    assert [p.name for p in prune_backups(folder, 5, now + timedelta(days=100))] == [names[2]]


def test_migration_lock_makes_a_second_migrator_wait(app):
    order: list[str] = []
    holding = threading.Event()

    def first():
        with migration_lock(app.engine):
            holding.set()
            threading.Event().wait(0.5)
            order.append("first done")

    def second():
        holding.wait()
        with migration_lock(app.engine):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order == ["first done", "second in"]

