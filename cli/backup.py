"""``python run.py backup`` and ``restore``: one archive with the database, the photos, a
manifest and checksums (bot.services.backup). Failures raise ``BackupError`` (exit 1)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from bot.clock import SystemClock
from bot.config import Config
from bot.db import make_engine
from bot.services.backup import (
    backup_dir,
    create_backup,
    prune_backups,
    restore_backup,
    verify_archive,
)


def add_parser(sub) -> None:
    backup = sub.add_parser("backup", help="备份数据库和照片 back up the database and photos",
                            description="写一个归档(数据库 + 照片 + 清单和校验和)。运行中也可以备份。")
    backup.add_argument("--to", metavar="DIR", help="归档目录 (default: backup.dir, var/backups)")
    backup.add_argument("--prune", action="store_true",
                        help="之后删除超过 backup.keep_days 天的旧归档 remove old archives afterwards")
    backup.set_defaults(handler=cmd_backup)

    restore = sub.add_parser("restore", help="从归档恢复 restore from an archive (stop the bot first)",
                             description="核对校验和后,用归档替换数据库内容并放回照片。先停止服务。"
                                         "比本程序新的数据库结构版本的归档会被拒绝。")
    restore.add_argument("archive", metavar="ARCHIVE")
    restore.add_argument("--check", action="store_true", help="只核对,不恢复 verify only")
    restore.set_defaults(handler=cmd_restore)


def run_backup(config: Config, to: Optional[str] = None, prune: bool = False) -> tuple[Path, list[Path]]:
    """Write an archive (and prune old ones when asked); returns it and the removed ones."""
    engine = make_engine(config.database_url)
    try:
        target = Path(to) if to else backup_dir(config)
        now = SystemClock().now()
        archive = create_backup(config, engine, target, now)
        removed = prune_backups(target, config.backup.keep_days, now) if prune else []
        return archive, removed
    finally:
        engine.dispose()


def cmd_backup(config: Config, args) -> int:
    archive, removed = run_backup(config, getattr(args, "to", None), getattr(args, "prune", False))
    for old in removed:
        print(f"已删除旧归档 removed: {old.name}")
    print(f"备份完成 backup written: {archive}")
    return 0


def cmd_restore(config: Config, args) -> int:
    engine = make_engine(config.database_url)
    archive = Path(args.archive)
    try:
        if args.check:
            manifest = verify_archive(engine, archive)
            print(f"归档完好 archive OK: {archive.name}, {manifest['database']['kind']}, "
                  f"结构版本 schema {manifest.get('schema_revision')}, {len(manifest['files'])} 个文件, "
                  f"创建于 {manifest.get('created_at')}")
        else:
            print(restore_backup(config, engine, archive).summary())
    finally:
        engine.dispose()
    return 0
