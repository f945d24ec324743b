"""Logging for every sub-command: one line per event on stderr (journald and ``docker logs``
collect it), as text or as JSON lines (``logging.format: json``).

Events that concern a message carry its reference (``message_ref``: the platform's update or
message id) in the text; pass it as ``extra={"ref": ...}`` too and the JSON line gets a
``ref`` field a log collector can search.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from bot.config import LoggingConfig

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore", "apscheduler", "telegram.ext", "aiohttp.access")
#: LogRecord attributes that are not ``extra`` fields
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO), level, logger, message, any ``extra``
    fields, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(config: LoggingConfig | None = None, verbose: bool = False) -> None:
    """Configure the root logger once: stderr, the configured format, ``-v`` = INFO at least."""
    config = config or LoggingConfig()
    level = getattr(logging, config.level)
    if verbose:
        level = min(level, logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # WenQuanYi has no bold face; matplotlib says so on every bold title: not worth a line
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
