"""Group robot (群机器人) webhook sender: team digests into a team's WeCom group chat.

A robot is addressed by the ``key`` of its webhook URL
(``{api_base}/cgi-bin/webhook/send?key=KEY``). WeCom's limits for robots: text content at
most 2048 bytes, markdown at most 4096 bytes, and 20 messages a minute per robot — a
client-side limiter keeps to that, and a 45009 answer still backs off and retries.

Which key a team uses: ``wecom.team_robots`` in config.yaml (team code -> key) wins; at
start-up ``serve`` writes those keys into ``teams.robot_key`` (see ``sync_team_robots``),
so jobs only read ``Team.robot_key``; teams not named in the config keep the key stored in
the database (set by an import or by hand).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable, Optional

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Reply
from bot.models import Team
from channels.wecom.client import (
    RATE_LIMITED,
    ROBOT_LIMITS,
    ErrorHook,
    SlidingLimiter,
    WeComAPIError,
)
from channels.wecom.render import robot_payloads

logger = logging.getLogger(__name__)


def mask_key(key: str) -> str:
    """A robot key is a secret: logs show only its end."""
    return f"…{key[-4:]}" if len(key) > 4 else "…"


class RobotSender:
    def __init__(self, api_base: str, *, http: Optional[httpx.AsyncClient] = None,
                 on_error: Optional[ErrorHook] = None, limiter: Optional[SlidingLimiter] = None,
                 retries: int = 3, backoff_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.api_base = api_base.rstrip("/")
        self.http = http or httpx.AsyncClient(timeout=10.0)
        self._own_http = http is None
        self.on_error = on_error
        self.limiter = limiter or SlidingLimiter(ROBOT_LIMITS, clock=clock, sleep=sleep)
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def _post(self, path: str, key: str, *, json=None, files=None, params=None) -> dict:
        attempt = 0
        while True:
            try:
                response = await self.http.post(self.api_base + path, params={"key": key, **(params or {})},
                                                 json=json, files=files)
                response.raise_for_status()
                data = response.json()
                errcode, errmsg = int(data.get("errcode", 0)), str(data.get("errmsg", ""))
            except (httpx.HTTPError, ValueError) as exc:
                errcode, errmsg, data = None, f"{exc.__class__.__name__}: {exc}", {}
            if errcode == 0:
                return data
            if (errcode is None or errcode in RATE_LIMITED) and attempt < self.retries:
                delay = self.backoff_s * 2 ** attempt
                attempt += 1
                logger.warning("WeCom robot %s: errcode=%s errmsg=%s; retry %d in %.1fs",
                               mask_key(key), errcode, errmsg, attempt, delay)
                await self.sleep(delay)
                continue
            error = WeComAPIError(errcode, errmsg, path)
            logger.error("WeCom robot %s failed: errcode=%s errmsg=%s", mask_key(key), errcode, errmsg)
            if self.on_error is not None:
                try:
                    await self.on_error(error)
                except Exception:  # noqa: BLE001
                    logger.exception("reporting a WeCom robot error failed")
            raise error

    async def send_payload(self, key: str, payload: dict, max_wait: float = 60.0) -> dict:
        await self.limiter.acquire(key, max_wait)
        return await self._post("/cgi-bin/webhook/send", key, json=payload)

    async def send_text(self, key: str, text: str) -> None:
        for payload in robot_payloads(Reply(text)):
            await self.send_payload(key, payload)

    async def send_markdown(self, key: str, text: str) -> None:
        for payload in robot_payloads(Reply(text), markdown=True):
            await self.send_payload(key, payload)

    async def send_file(self, key: str, path: Path | str) -> None:
        path = Path(path)
        data = await self._post("/cgi-bin/webhook/upload_media", key, params={"type": "file"},
                                files={"media": (path.name, path.read_bytes(), "application/octet-stream")})
        await self.send_payload(key, {"msgtype": "file", "file": {"media_id": data["media_id"]}})

    async def send_reply(self, key: str, reply: Reply, markdown: bool = False, max_wait: float = 60.0) -> None:
        for payload in robot_payloads(reply, markdown=markdown):
            await self.send_payload(key, payload, max_wait)
        for out in reply.files:
            if out.caption:
                await self.send_text(key, out.caption)
            await self.send_file(key, out.path)


def sync_team_robots(session: Session, team_robots: dict[str, str]) -> list[str]:
    """Write config's team code -> robot key into ``teams.robot_key`` (config wins).
    Returns the team codes in the config that match no team (to warn about)."""
    unknown = []
    for code, key in team_robots.items():
        team = session.scalar(select(Team).where(Team.code == code))
        if team is None:
            unknown.append(code)
        elif team.robot_key != key:
            team.robot_key = key
    return unknown
