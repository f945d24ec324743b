#!/usr/bin/env python3
"""Duban (督办) — the one entry point and composition root of the command line.

    python run.py console --demo            chat in the terminal on the report's data
    python run.py import data/FILE.yaml     load a dataset (idempotent)
    python run.py telegram                  run the Telegram bot (long polling)
    python run.py serve                     webhook server for Telegram and WeCom, and reminders
    python run.py remind --now ISO          which reminders are due at a moment
    python run.py export-xlsx / import-xlsx Excel ledgers (台账)
    python run.py chart / brief             an indicator chart, the weekly brief
    python run.py migrate                   create or upgrade the database schema

The sub-commands live in ``cli/`` (one list, ``cli.SUBCOMMAND_MODULES``). ``--config PATH``
and ``-v`` may come before or after the sub-command.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Optional

from bot.config import PROJECT_ROOT, load_config
from bot.services.errors import ServiceError
from bot.yamlfile import FileError
from cli import SUBCOMMAND_MODULES

logger = logging.getLogger("duban")


def setup_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # WenQuanYi has no bold face; matplotlib says so on every bold title: not worth a line
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def common_options() -> argparse.ArgumentParser:
    """Options every sub-command accepts, before or after its name. SUPPRESS keeps a value
    given before the sub-command from being reset by the sub-parser's default."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", help="配置文件 config file (default: config.yaml)")
    common.add_argument("-v", "--verbose", action="store_true", help="更多日志 more logging")
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
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    try:
        config = load_config(getattr(args, "config", None) or PROJECT_ROOT / "config.yaml")
        return args.handler(config, args) or 0
    except (FileError, ServiceError) as error:
        print(f"错误 error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
