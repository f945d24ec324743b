"""WeCom server API client (httpx): access token, app messages, media upload.

* The access token is cached until ``TOKEN_MARGIN_S`` before it expires, and refreshed by
  one caller at a time (an ``asyncio.Lock``); when the API says the token is invalid
  (40014, 42001, 41001) it is refreshed once more and the call retried once.
* Rate-limit and busy answers (45009, 45033, 45047, -1) back off exponentially and retry.
* Any other error is logged with errcode and errmsg and handed to ``on_error`` (``serve``
  wires that to a message to the admins, see ``callback.AdminAlerts``); then
  ``WeComAPIError`` is raised.
* A client-side limiter keeps to WeCom's documented per-member quota for app messages
  (发送应用消息: 每应用对同一个成员不可超过30次/分钟, 1000次/小时 — the excess is silently
  dropped by WeCom, so we must not rely on an error).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Optional

import httpx

logger = logging.getLogger(__name__)

TOKEN_INVALID = frozenset({40014, 42001, 41001})
RATE_LIMITED = frozenset({45009, 45033, 45047, -1})
TOKEN_MARGIN_S = 300
MEMBER_LIMITS = ((30, 60.0), (1000, 3600.0))   # per app, per member
ROBOT_LIMITS = ((20, 60.0),)                   # per group robot


class WeComAPIError(Exception):
    """An error answer (errcode != 0) or a transport failure (errcode None)."""

    def __init__(self, errcode: Optional[int], errmsg: str, path: str = "", retry_after: Optional[float] = None):
        super().__init__(f"WeCom {path}: errcode={errcode} errmsg={errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path
        self.retry_after = retry_after


class RateLimited(WeComAPIError):
    """Our own limiter says: not now (the wait would be longer than the caller allows)."""

    retry_after: float  # always given here (optional on the base class)

    def __init__(self, key: str, retry_after: float):
        super().__init__(45009, f"client-side limit for {key}", "limiter", retry_after)


class SlidingLimiter:
    """Sliding-window limits per key, e.g. ((30, 60), (1000, 3600)) = 30/min and 1000/hour.

    ``acquire`` waits when the wait is at most ``max_wait`` seconds, else raises
    ``RateLimited`` with the wait as ``retry_after``. Transport timing, so a monotonic clock.
    """

    def __init__(self, limits: tuple[tuple[int, float], ...],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = asyncio.Lock()

    def wait_for(self, key: str) -> float:
        now = self.clock()
        hits = self._hits[key]
        longest = max(window for _, window in self.limits)
        while hits and now - hits[0] >= longest:
            hits.popleft()
        wait = 0.0
        for count, window in self.limits:
            recent = [t for t in hits if now - t < window]
            if len(recent) >= count:
                wait = max(wait, recent[-count] + window - now)
        return wait

    async def acquire(self, key: str, max_wait: float = 60.0) -> None:
        while True:
            async with self._lock:
                wait = self.wait_for(key)
                if wait <= 0:
                    self._hits[key].append(self.clock())
                    return
            if wait > max_wait:
                raise RateLimited(key, wait)
            logger.info("WeCom limit for %s: waiting %.1fs", key, wait)
            await self.sleep(wait)


ErrorHook = Callable[[WeComAPIError], Awaitable[None]]


def wecom_http(timeout_s: float, proxy: Optional[str] = None) -> httpx.AsyncClient:
    """The HTTP client for WeCom: direct unless ``wecom.proxy`` is set. The environment's
    HTTPS_PROXY / ALL_PROXY are ignored (``trust_env=False``): offices set them for Telegram,
    and WeCom's servers are reached directly from the government network."""
    return httpx.AsyncClient(timeout=timeout_s, proxy=proxy or None, trust_env=False)


class WeComClient:
    """One self-built app (CorpID + Secret + AgentId) of one WeCom server (``api_base``)."""

    def __init__(self, api_base: str, corp_id: str, secret: str, agent_id: int, *,
                 http: Optional[httpx.AsyncClient] = None, on_error: Optional[ErrorHook] = None,
                 limiter: Optional[SlidingLimiter] = None, retries: int = 3,
                 backoff_s: float = 1.0, timeout_s: float = 10.0, proxy: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.api_base = api_base.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = int(agent_id)
        self.http = http or wecom_http(timeout_s, proxy)
        self._own_http = http is None
        self.on_error = on_error
        self.limiter = limiter or SlidingLimiter(MEMBER_LIMITS, clock=clock, sleep=sleep)
        self.retries = retries
        self.backoff_s = backoff_s
        self.clock = clock
        self.sleep = sleep
        self._token: Optional[str] = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"WeComClient(api_base={self.api_base!r}, corp_id={self.corp_id!r}, agent_id={self.agent_id})"

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    # -- token ---------------------------------------------------------------
    async def access_token(self, stale: Optional[str] = None) -> str:
        """The cached token; fetched anew when missing, near expiry, or equal to ``stale``
        (a token the API just refused). One refresh at a time."""
        async with self._token_lock:
            fresh = self._token and self._token != stale and self.clock() < self._token_expires
            if fresh:
                return self._token  # type: ignore[return-value]
            data = await self._request("GET", "/cgi-bin/gettoken",
                                       params={"corpid": self.corp_id, "corpsecret": self._secret},
                                       with_token=False)
            self._token = str(data["access_token"])
            expires_in = float(data.get("expires_in") or 7200)
            margin = min(TOKEN_MARGIN_S, expires_in / 10)
            self._token_expires = self.clock() + expires_in - margin
            logger.info("WeCom access token refreshed (expires in %ss)", int(expires_in))
            return self._token

    # -- requests ------------------------------------------------------------
    async def call(self, method: str, path: str, *, params: Optional[dict] = None,
                   json: Any = None, files: Any = None) -> dict:
        """Call an API that needs the access token; returns the decoded answer (errcode 0)."""
        return await self._request(method, path, params=params, json=json, files=files, with_token=True)

    async def _request(self, method: str, path: str, *, params: Optional[dict] = None, json: Any = None,
                       files: Any = None, with_token: bool) -> dict:
        refreshed = False
        attempt = 0
        stale: Optional[str] = None
        while True:
            query = dict(params or {})
            if with_token:
                query["access_token"] = await self.access_token(stale)
            try:
                response = await self.http.request(method, self.api_base + path, params=query,
                                                   json=json, files=files)
                response.raise_for_status()
                data = response.json()
                errcode = int(data.get("errcode", 0))
                errmsg = str(data.get("errmsg", ""))
            except (httpx.HTTPError, ValueError) as exc:
                errcode, errmsg, data = None, f"{exc.__class__.__name__}: {exc}", {}
            if errcode == 0:
                return data
            if with_token and errcode in TOKEN_INVALID and not refreshed:
                logger.info("WeCom %s: token refused (errcode %s), refreshing once", path, errcode)
                refreshed, stale = True, query["access_token"]
                continue
            if (errcode is None or errcode in RATE_LIMITED) and attempt < self.retries:
                delay = self.backoff_s * 2 ** attempt
                attempt += 1
                logger.warning("WeCom %s: errcode=%s errmsg=%s; retry %d in %.1fs",
                               path, errcode, errmsg, attempt, delay)
                await self.sleep(delay)
                continue
            error = WeComAPIError(errcode, errmsg, path)
            logger.error("WeCom %s failed: errcode=%s errmsg=%s", path, errcode, errmsg)
            if self.on_error is not None:
                try:
                    await self.on_error(error)
                except Exception:  # reporting must not hide the error itself
                    logger.exception("reporting a WeCom error failed")
            raise error

    # -- messages ------------------------------------------------------------
    async def send_message(self, touser: str, payload: dict, max_wait: float = 60.0) -> dict:
        """message/send one payload ({"msgtype": ..., msgtype: {...}}) to one member."""
        await self.limiter.acquire(touser, max_wait)
        body = {"touser": touser, "agentid": self.agent_id, **payload}
        data = await self.call("POST", "/cgi-bin/message/send", json=body)
        invalid = str(data.get("invaliduser") or "")
        if invalid:
            raise WeComAPIError(81013, f"invaliduser {invalid}", "/cgi-bin/message/send")
        return data

    async def send_text(self, touser: str, content: str) -> dict:
        return await self.send_message(touser, {"msgtype": "text", "text": {"content": content}})

    async def send_markdown(self, touser: str, content: str) -> dict:
        return await self.send_message(touser, {"msgtype": "markdown", "markdown": {"content": content}})

    async def send_textcard(self, touser: str, title: str, description: str, url: str,
                            btntxt: str = "详情") -> dict:
        return await self.send_message(touser, {"msgtype": "textcard", "textcard": {
            "title": title, "description": description, "url": url, "btntxt": btntxt}})

    async def upload_media(self, path: Path | str, media_type: str = "file") -> str:
        """media/upload a local file (image <= 10 MB, file <= 20 MB); returns the media_id."""
        path = Path(path)
        with path.open("rb") as handle:
            content = handle.read()
        data = await self.call("POST", "/cgi-bin/media/upload", params={"type": media_type},
                               files={"media": (path.name, content, "application/octet-stream")})
        return str(data["media_id"])
