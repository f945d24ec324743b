"""A forwarding HTTP proxy on loopback that records what went through it (tests only).

Understands what HTTP clients send a proxy: ``CONNECT host:port`` (a tunnel, e.g. for https)
and absolute-form requests (``POST http://host:port/path HTTP/1.1``) for plain http. Each
client connection carries one request, answered with ``Connection: close``.

    proxy = ForwardProxy(); await proxy.start()   # proxy.url -> http://127.0.0.1:<port>
    ... proxy.requests -> [("POST", "http://127.0.0.1:8081/bot123:ABC/getMe"), ...]
    await proxy.stop()
"""
from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class ForwardProxy:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        self.requests.append((method, target))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = [line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() not in HOP_HEADERS]
        length = next((int(line.split(":", 1)[1]) for line in headers
                       if line.split(":", 1)[0].strip().lower() == "content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        request = "\r\n".join([f"{method} {path or '/'} {version}", *headers, "Connection: close", "", ""])
        up_writer.write(request.encode("latin-1") + body)
        await up_writer.drain()
        await _pipe(up_reader, writer)
        up_writer.close()
