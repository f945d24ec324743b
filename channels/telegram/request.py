"""PTB's networking backend on aiohttp (PTB's own ``HTTPXRequest`` uses httpx).

Same contract as ``HTTPXRequest``: form-encoded parameters (JSON values) or multipart when
files are attached, the ``User-Agent`` PTB sends, the default timeouts (read/write/connect 5 s,
pool 1 s, media upload 20 s), a pool of 256 connections for ordinary calls (1 for getUpdates),
HTTP/1.1 keep-alive; a timeout becomes ``TimedOut``, any other transport failure
``NetworkError``. Why: per request httpx + httpcore + anyio cost about three times as much
CPU as aiohttp's client (C HTTP parser), and a bot is CPU-bound on one event loop; aiohttp is
already part of the stack (the shared HTTP server).

A proxy (``telegram.proxy``, else ``HTTPS_PROXY`` / ``ALL_PROXY`` from the environment, see
``proxy_for``) carries every Bot API call: ``http://`` / ``https://`` proxies through aiohttp
itself, ``socks5://`` / ``socks4://`` through aiohttp-socks' connector. Only Telegram's
requests read these variables; the WeCom client ignores them (``wecom.proxy``).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Optional
from urllib.parse import urlencode, urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # public, untyped in typeshed

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")
DEFAULT = BaseRequest.DEFAULT_NONE  # PTB's marker for "no value given": use this request's own


def proxy_for(configured: Optional[str], api_url: str,
              environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The proxy for Telegram: ``telegram.proxy`` when set (``""`` or ``none`` = never), else
    ``HTTPS_PROXY`` or ``ALL_PROXY`` unless ``NO_PROXY`` lists the Bot API host."""
    if configured is not None:
        return None if configured.strip().lower() in ("", "none", "direct") else configured.strip()
    env = os.environ if environ is None else environ
    found = next((env[name] for name in PROXY_VARIABLES if env.get(name)), None)
    if not found:
        return None
    host = urlsplit(api_url).hostname or ""
    no_proxy = env.get("NO_PROXY", env.get("no_proxy", ""))
    if no_proxy and host and proxy_bypass_environment(host, {"no": no_proxy}):
        return None
    return found


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one ``aiohttp.ClientSession`` (created in ``initialize``)."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: Optional[float] = 5.0,
                 write_timeout: Optional[float] = 5.0, connect_timeout: Optional[float] = 5.0,
                 pool_timeout: Optional[float] = 1.0, media_write_timeout: Optional[float] = 20.0,
                 proxy: Optional[str] = None) -> None:
        scheme = urlsplit(proxy).scheme.lower() if proxy else ""
        if proxy and scheme not in ("http", "https", *SOCKS_SCHEMES):
            raise ValueError(f"telegram.proxy: unsupported proxy scheme {scheme!r} "
                             "(http://, https://, socks5://, socks4://)")
        self.proxy = proxy
        self._socks = scheme in SOCKS_SCHEMES
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: Optional[aiohttp.ClientSession] = None
        self._headers = {"User-Agent": self.USER_AGENT}

    @property
    def read_timeout(self) -> Optional[float]:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self._socks and self.proxy:
                # optional dependency, needed only for a SOCKS proxy
                from aiohttp_socks import ProxyConnector

                connector = ProxyConnector.from_url(self.proxy, limit=self._pool_size, limit_per_host=0)
            else:
                connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0,
                                                 enable_cleanup_closed=False)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  cookie_jar=aiohttp.DummyCookieJar())

    async def shutdown(self) -> None:
        if self._session is None or self._session.closed:
            return
        await self._session.close()

    def _timeout(self, read_timeout, write_timeout, connect_timeout, pool_timeout,
                 has_files: bool) -> aiohttp.ClientTimeout:
        read = self._read_timeout if read_timeout is DEFAULT else read_timeout
        connect = self._connect_timeout if connect_timeout is DEFAULT else connect_timeout
        pool = self._pool_timeout if pool_timeout is DEFAULT else pool_timeout
        if write_timeout is DEFAULT:
            write_timeout = self._media_write_timeout if has_files else self._write_timeout
        # aiohttp has no separate write timeout: sending the body counts towards sock_read's
        # wait for the answer, so the longer of the two bounds it
        if read is not None and write_timeout is not None:
            read = max(read, write_timeout)
        else:
            read = None
        wait = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(total=None, connect=wait, sock_connect=connect, sock_read=read)

    async def do_request(self, url: str, method: str, request_data: Optional[RequestData] = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE,
                         pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        data: aiohttp.FormData | bytes | None
        headers: Optional[dict[str, str]]
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        if files:
            data = aiohttp.FormData(quote_fields=False)
            for name, value in (params or {}).items():
                data.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
            headers = None
        elif params:
            # what aiohttp's FormData would send, without building a FormData (and its unused
            # multipart writer) for every call
            data = urlencode(params).encode()
            headers = FORM_HEADERS
        else:
            data = headers = None
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, bool(files))
        try:
            async with self._session.request(method, url, data=data, headers=headers, timeout=timeout,
                                             proxy=None if self._socks else self.proxy) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's connect/read timeouts included
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error
