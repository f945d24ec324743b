#!/usr/bin/env python3
"""Duban (督办) — the one entry point and composition root of the command line.

    python run.py console --demo            chat in the terminal on the report's data
    python run.py import data/FILE.yaml     load a dataset (idempotent)
    python run.py telegram                  run the Telegram bot (long polling)
    python run.py serve                     webhook server for Telegram and WeCom, and reminders
    python run.py remind --now ISO          which reminders are due at a moment
    python run.py export-xlsx / import-xlsx Excel ledgers (台账)
    python run.py chart / brief             an indicator chart, the weekly brief
    python run.py migrate [--backup-first]  create or upgrade the database schema (locked)
    python run.py backup / restore FILE     one archive: database, photos, manifest, checksums
    python run.py health                    the /healthz checks; exit 0 healthy, 1 not
    python run.py --version

The sub-commands live in ``cli/`` (one list, ``cli.SUBCOMMAND_MODULES``). ``--config PATH``
and ``-v`` may come before or after the sub-command.

Exit codes: 0 done, 1 a runtime error (database unreachable, a failed backup, unhealthy),
2 a usage error (unknown option, a broken config or input file). Expected errors print one
plain message, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Optional

from sqlalchemy.exc import OperationalError

from bot import __version__
from bot.config import load_config
from bot.db import SchemaTooNew
from bot.services.backup import BackupError
from bot.services.errors import ServiceError
from bot.yamlfile import FileError
from cli import SUBCOMMAND_MODULES
from cli.logs import setup_logging

logger = logging.getLogger("duban")

USAGE_ERROR, RUNTIME_ERROR = 2, 1


def common_options() -> argparse.ArgumentParser:
    """Options every sub-command accepts, before or after its name. SUPPRESS keeps a value
    given before the sub-command from being reset by the sub-parser's default."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", help="配置文件 config file (default: config.yaml)")
    common.add_argument("-v", "--verbose", action="store_true", help="更多日志 more logging")
    common.add_argument("--version", action="version", version=f"duban {__version__}")
    return common


class _SubCommands:
    """Hands each sub-command module an ``add_parser`` that adds the common options."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [self._common])
        return self._sub.add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(prog="run.py", parents=[common],
                                     description="督办助手 Duban — 雕庄街道工作督办机器人")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wrapped = _SubCommands(sub, common)
    for module in SUBCOMMAND_MODULES:
        module.add_parser(wrapped)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits 2
    if not args.command:
        parser.print_help()
        return USAGE_ERROR
    verbose = getattr(args, "verbose", False)
    setup_logging(verbose=verbose)
    try:
        config = load_config(getattr(args, "config", None))
    except FileError as error:
        print(f"错误 error: {error}", file=sys.stderr)
        return USAGE_ERROR
    setup_logging(config.logging, verbose)
    try:
        return args.handler(config, args) or 0
    except FileError as error:  # an input file named on the command line
        print(f"错误 error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (ServiceError, BackupError, SchemaTooNew) as error:
        print(f"错误 error: {error}", file=sys.stderr)
        return RUNTIME_ERROR
    except OperationalError as error:
        print(f"错误 error: 数据库连不上 (database unreachable): {str(error.orig).strip()}", file=sys.stderr)
        return RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
