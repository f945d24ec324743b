"""The corpus of realistic messages (tests/corpus/messages.yaml) and a loader for it.

``load()`` returns the parsed file (``intents``, ``now``, ``messages``); ``entries()`` the list
of messages, each a dict ``{role, user, text, intent, expect[, context]}``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

CORPUS_FILE = Path(__file__).with_name("messages.yaml")

ROLES = ("leader", "team_lead", "cadre")

LIST_FILTERS = (
    "red", "yellow", "green", "overdue", "due_week", "due_next_week", "mine", "team",
    "unreported", "behind", "awaiting_review", "unsigned", "pending_extension", "done",
)  # plus "due_days:N" and "team:NAME"


@lru_cache(maxsize=1)
def load() -> dict:
    with CORPUS_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def entries() -> list[dict]:
    return list(load()["messages"])


def intents() -> dict[str, str]:
    return dict(load()["intents"])
