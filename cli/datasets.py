"""``python run.py import`` and ``migrate``: load YAML datasets, create or upgrade the schema."""
from __future__ import annotations

from pathlib import Path

from bot.composition import build_app, load_data_files
from bot.config import Config
from bot.db import current_revision, make_engine, migrate
from cli.backup import run_backup


def add_parser(sub) -> None:
    imp = sub.add_parser("import", help="导入数据文件 load a YAML dataset (idempotent)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.set_defaults(handler=cmd_import)

    migrate_parser = sub.add_parser(
        "migrate", help="建立或升级数据库 create or upgrade the schema",
        description="把数据库结构升级到本程序的版本。有锁:几个实例同时运行时只有一个迁移,其余等它完成。")
    migrate_parser.add_argument("--backup-first", "--backup", dest="backup_first", action="store_true",
                                help="迁移前先备份(到 backup.dir)back up before migrating")
    migrate_parser.set_defaults(handler=cmd_migrate)


def cmd_import(config: Config, args) -> int:
    app = build_app(config)
    print(load_data_files(app, [Path(f) for f in args.files]))
    return 0


def cmd_migrate(config: Config, args) -> int:
    engine = make_engine(config.database_url)
    try:
        before = current_revision(engine)
        if getattr(args, "backup_first", False) and before is not None:
            archive, _ = run_backup(config)
            print(f"迁移前已备份 backed up first: {archive}")
        migrated = migrate(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    build_app(config)  # the start-up work after a migration (light rules, signing key)
    if migrated:
        print(f"数据库已升级 migrated: {before or '(空 empty)'} -> {after}  {config.database_url_safe}")
    else:
        print(f"数据库已是最新 up to date: {after}  {config.database_url_safe}")
    return 0
