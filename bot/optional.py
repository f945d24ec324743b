"""Import a part of Duban that may be absent from a build (a channel, a feature's CLI)."""
from __future__ import annotations

from types import ModuleType
from typing import Optional


def import_optional(module_name: str) -> Optional[ModuleType]:
    """The module, or None when it (or its package) does not exist; other import errors,
    including a missing third-party dependency inside it, are raised as usual."""
    try:
        return __import__(module_name, fromlist=["_"])
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
