"""PTB's networking backend on aiohttp (PTB's own ``HTTPXRequest`` uses httpx).

Same contract as ``HTTPXRequest``: form-encoded parameters (JSON values) or multipart when
files are attached, the ``User-Agent`` PTB sends, the default timeouts (read/write/connect 5 s,
pool 1 s, media upload 20 s), a pool of 256 connections for ordinary calls (1 for getUpdates),
HTTP/1.1 keep-alive; a timeout becomes ``TimedOut``, any other transport failure
``NetworkError``. Why: per request httpx + httpcore + anyio cost about three times as much
CPU as aiohttp's client (C HTTP parser), and a bot is CPU-bound on one event loop; aiohttp is
already part of the stack (the shared HTTP server).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one ``aiohttp.ClientSession`` (created in ``initialize``)."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: Optional[float] = 5.0,
                 write_timeout: Optional[float] = 5.0, connect_timeout: Optional[float] = 5.0,
                 pool_timeout: Optional[float] = 1.0, media_write_timeout: Optional[float] = 20.0) -> None:
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
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
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
            async with self._session.request(method, url, data=data, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as error:  # aiohttp's connect/read timeouts included
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error
