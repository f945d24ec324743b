"""``python run.py import`` and ``migrate``: load YAML datasets, create or upgrade the schema."""
from __future__ import annotations

from pathlib import Path

from bot.composition import build_app, load_data_files
from bot.config import Config


def add_parser(sub) -> None:
    imp = sub.add_parser("import", help="导入数据文件 load a YAML dataset (idempotent)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.set_defaults(handler=cmd_import)

    migrate = sub.add_parser("migrate", help="建立或升级数据库 create or upgrade the schema")
    migrate.set_defaults(handler=cmd_migrate)


def cmd_import(config: Config, args) -> int:
    app = build_app(config)
    print(load_data_files(app, [Path(f) for f in args.files]))
    return 0


def cmd_migrate(config: Config, args) -> int:
    build_app(config)
    print(f"数据库已是最新:{config.database_url}")
    return 0
