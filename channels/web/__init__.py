"""The 督办驾驶舱 (web dashboard) channel: server-rendered pages under /dashboard/ on the
shared ``run.py serve`` server. ``install`` is its channel installer (see channels.server)."""
from __future__ import annotations

from channels.web.pages import install

__all__ = ["install"]
