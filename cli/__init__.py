"""The command line: ``run.py`` dispatches to the sub-commands listed here.

Each module in ``SUBCOMMAND_MODULES`` has ``add_parser(sub)``, which adds its sub-commands
and sets ``handler(config, args) -> int`` as the parser default. The order of the list is
the order of ``run.py --help``. This is the top layer: it may import every other package.
"""
from __future__ import annotations

from cli import backup, console, datasets, health, remind, reports, serve, telegram

SUBCOMMAND_MODULES = (console, datasets, telegram, serve, remind, reports, backup, health)
