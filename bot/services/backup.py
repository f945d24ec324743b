"""Backups: one ``.tar.gz`` archive holding the database, the received photos and a manifest.

* SQLite is copied through SQLite's online backup API (``sqlite3.Connection.backup``), which
  is safe while the bot runs and writes (WAL: readers never block the writer); PostgreSQL
  through ``pg_dump -Fc`` (needs the ``postgresql-client`` package of the server's major
  version or newer).
* ``manifest.json`` names the schema revision, the time, the database kind and every file
  with its size and SHA-256; a ``<archive>.sha256`` file beside the archive (``sha256sum -c``
  format) covers the archive as a whole.
* ``restore_backup`` checks both, refuses an archive whose schema revision this code does not
  know (made by a newer Duban), replaces the database's content (SQLite: the backup API
  again; PostgreSQL: drop our tables, ``pg_restore --single-transaction``), puts the photos
  back, and migrates to this code's head when the archive is older.

Archives contain personal data (names, phone-book ids, progress notes, photos): they are
written with mode 0600.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Optional

from sqlalchemy import Engine, MetaData

from bot import __version__
from bot.config import Config
from bot.db import current_revision, known_revisions, migrate, migration_lock

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "duban-backup-"
SUFFIX = ".tar.gz"
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"
PHOTOS = "photos"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in plain words."""


@dataclass
class RestoreReport:
    archive: Path
    schema_revision: Optional[str]
    database: str
    photos: int
    migrated: bool

    def summary(self) -> str:
        text = (f"已恢复 {self.archive.name}:数据库({self.database},结构版本 {self.schema_revision}),"
                f"照片 {self.photos} 个")
        return text + (",并已升级到本程序的结构版本" if self.migrated else "")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def database_kind(engine: Engine) -> str:
    return engine.dialect.name


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("内存数据库没法备份 (an in-memory database cannot be backed up)")
    return Path(database)


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore (no driver, no password) and an environment with the
    password in PGPASSWORD, so it never shows in the process list."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"找不到 {tool}:请安装 postgresql-client (apt-get install postgresql-client)")
    result = subprocess.run([tool, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{tool} 失败 (failed): {result.stderr.strip()[:500]}")


def photo_files(photo_dir: Path) -> list[Path]:
    if not photo_dir.is_dir():
        return []
    return sorted(p for p in photo_dir.rglob("*") if p.is_file() and not p.is_symlink())


def archive_name(now: datetime) -> str:
    return f"{PREFIX}{now:%Y%m%d-%H%M%S}{SUFFIX}"


def create_backup(config: Config, engine: Engine, dest_dir: Path, now: datetime) -> Path:
    """Write one archive into ``dest_dir`` (created if missing) and its ``.sha256``; returns its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / archive_name(now)
    if target.exists():
        raise BackupError(f"{target} 已存在 (exists)")
    kind = database_kind(engine)
    with tempfile.TemporaryDirectory(prefix="duban-backup-", dir=dest_dir) as work:
        work_dir = Path(work)
        if kind == "sqlite":
            db_name = SQLITE_NAME
            source = sqlite3.connect(str(_sqlite_path(engine)), timeout=30)
            copy = sqlite3.connect(str(work_dir / db_name))
            try:
                with copy:
                    source.backup(copy)  # one consistent snapshot, also while others write
            finally:
                copy.close()
                source.close()
            check = sqlite3.connect(str(work_dir / db_name))
            try:
                check.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                row = check.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.DatabaseError:
                row = None
            finally:
                check.close()
            revision = row[0] if row else None
        elif kind == "postgresql":
            db_name = PG_NAME
            revision = current_revision(engine)
            url, env = _libpq(engine)
            _run("pg_dump", ["-Fc", "--no-owner", "--no-acl", "-f", str(work_dir / db_name), "-d", url], env)
        else:
            raise BackupError(f"不支持的数据库 (unsupported database): {kind}")
        photo_dir = config.photo_path
        photos = photo_files(photo_dir)
        entries = [(db_name, work_dir / db_name)]
        entries += [(str(PurePosixPath(PHOTOS, *p.relative_to(photo_dir).parts)), p) for p in photos]
        files = [{"path": name, "size": path.stat().st_size, "sha256": sha256_file(path)}
                 for name, path in entries]
        manifest = {"format": FORMAT, "app_version": __version__, "schema_revision": revision,
                    "created_at": now.isoformat(), "database": {"kind": kind, "file": db_name},
                    "photo_dir": str(photo_dir), "files": files}
        partial = work_dir / (target.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            for name, path in entries:
                tar.add(str(path), arcname=name, recursive=False)
        os.chmod(partial, 0o600)
        digest = sha256_file(partial)
        os.replace(partial, target)
    checksum = target.with_name(target.name + ".sha256")
    checksum.write_text(f"{digest}  {target.name}\n", encoding="utf-8")
    os.chmod(checksum, 0o600)
    logger.info("backup written: %s (%s, schema %s, %d photos)", target, kind, revision, len(photos))
    return target


def read_manifest(archive: Path) -> dict:
    """The manifest, after checking the archive's own checksum file when it is present."""
    if not archive.is_file():
        raise BackupError(f"{archive}: 文件不存在 (not found)")
    checksum = archive.with_name(archive.name + ".sha256")
    if checksum.exists():
        expected = checksum.read_text(encoding="utf-8").split()[0]
        if sha256_file(archive) != expected:
            raise BackupError(f"{archive.name}: 校验和不符,归档已损坏 (checksum mismatch)")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.getmember(MANIFEST)
            handle = tar.extractfile(member)
            manifest = json.loads(handle.read().decode()) if handle else None
    except (tarfile.TarError, KeyError, OSError, ValueError) as error:
        raise BackupError(f"{archive.name}: 不是督办备份归档 (not a Duban backup): {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive.name}: 清单格式不认识 (unknown manifest format)")
    return manifest


def _safe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not PurePosixPath(name).is_absolute() and ".." not in parts


def extract_verified(archive: Path, manifest: dict, into: Path) -> dict[str, Path]:
    """Extract the files the manifest lists into ``into``, checking each one's SHA-256 and
    size; anything else in the archive is ignored. Returns archive name -> extracted path."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    out: dict[str, Path] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name not in expected:
                continue
            if not member.isfile() or not _safe_name(member.name):
                raise BackupError(f"{archive.name}: 不安全的条目 (unsafe entry) {member.name}")
            target = into / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            source = tar.extractfile(member)
            if source is None:  # isfile() was checked above, so tarfile always gives a reader
                raise BackupError(f"{archive.name}: 读不出条目 (unreadable entry) {member.name}")
            with open(target, "wb") as handle:
                for block in iter(partial(source.read, CHUNK), b""):
                    digest.update(block)
                    handle.write(block)
            entry = expected[member.name]
            if digest.hexdigest() != entry["sha256"] or target.stat().st_size != entry["size"]:
                raise BackupError(f"{archive.name}: {member.name} 校验和不符 (checksum mismatch)")
            out[member.name] = target
    missing = sorted(set(expected) - set(out))
    if missing:
        raise BackupError(f"{archive.name}: 缺少文件 (missing) {', '.join(missing[:5])}")
    return out


def check_restorable(manifest: dict, engine: Engine) -> None:
    revision = manifest.get("schema_revision")
    if revision is not None and revision not in known_revisions():
        raise BackupError(f"归档的数据库结构版本 {revision} 比本程序新(由更新版本的督办备份),"
                          f"请先升级程序再恢复 (archive schema is newer than this code)")
    kind = manifest["database"]["kind"]
    if kind != database_kind(engine):
        raise BackupError(f"归档是 {kind} 数据库,当前配置的是 {database_kind(engine)}"
                          f"(跨数据库迁移请用 export-xlsx/import) (database kinds differ)")


def _drop_our_tables(engine: Engine) -> None:
    meta = MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)


def restore_backup(config: Config, engine: Engine, archive: Path, work_dir: Optional[Path] = None) -> RestoreReport:
    """Replace the database's content and put the photos back from ``archive`` (stop the bot
    first). Everything is checked before anything is changed."""
    manifest = read_manifest(archive)
    check_restorable(manifest, engine)
    db_file = manifest["database"]["file"]
    with tempfile.TemporaryDirectory(prefix="duban-restore-", dir=work_dir) as work:
        files = extract_verified(archive, manifest, Path(work))
        with migration_lock(engine):
            if manifest["database"]["kind"] == "sqlite":
                source = sqlite3.connect(str(files[db_file]))
                target = sqlite3.connect(str(_sqlite_path(engine)), timeout=30)
                try:
                    with target:
                        source.backup(target)
                finally:
                    target.close()
                    source.close()
            else:
                _drop_our_tables(engine)
                url, env = _libpq(engine)
                _run("pg_restore", ["--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
                                    "-d", url, str(files[db_file])], env)
        engine.dispose()  # pooled connections still see the old file / tables
        photo_dir = config.photo_path
        photos = 0
        for name, path in files.items():
            if name.startswith(PHOTOS + "/"):
                target_path = photo_dir.joinpath(*PurePosixPath(name).parts[1:])
                target_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target_path)
                photos += 1
    migrated = migrate(engine)
    return RestoreReport(archive, manifest.get("schema_revision"), manifest["database"]["kind"], photos, migrated)


def prune_backups(dest_dir: Path, keep_days: int, now: datetime) -> list[Path]:
    """Remove archives (and their ``.sha256``) older than ``keep_days`` by the time in their
    name; the newest archive is always kept. 0 keeps everything."""
    if keep_days <= 0 or not dest_dir.is_dir():
        return []
    dated = []
    for path in dest_dir.glob(f"{PREFIX}*{SUFFIX}"):
        stamp = path.name[len(PREFIX):-len(SUFFIX)]
        try:
            dated.append((datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=now.tzinfo), path))
        except ValueError:
            continue
    dated.sort()
    removed = []
    for when, path in dated[:-1]:
        if now - when > timedelta(days=keep_days):
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
            removed.append(path)
    return removed


def backup_dir(config: Config) -> Path:
    return config.resolve(config.backup.dir)



def verify_archive(engine: Engine, archive: Path) -> dict:
    """Check an archive completely (checksums, schema, database kind) without restoring."""
    manifest = read_manifest(archive)
    check_restorable(manifest, engine)
    with tempfile.TemporaryDirectory(prefix="duban-verify-") as work:
        extract_verified(archive, manifest, Path(work))
    return manifest
