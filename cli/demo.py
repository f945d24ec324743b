"""Shared pieces of the command line: the clock from ``--now`` and the throwaway demo database."""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from bot.clock import Clock, FixedClock, SystemClock, parse_now
from bot.config import Config

DEMO_NOW = "2025-07-15T09:00"


def make_clock(now: Optional[str], demo: bool = False, ticking: bool = False) -> Clock:
    """``--now`` when given; the report's time for a demo; otherwise the system clock."""
    if now:
        return FixedClock(parse_now(now), ticking=ticking)
    if demo:
        return FixedClock(parse_now(DEMO_NOW), ticking=ticking)
    return SystemClock()


def demo_config(config: Config) -> Config:
    """A copy of the config pointing at a fresh throwaway SQLite database and output folder,
    both removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="duban-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    demo = config.model_copy(deep=True)
    demo.database.url = f"sqlite:///{folder / 'demo.sqlite3'}"
    demo.data.out_dir = str(folder / "out")
    return demo
