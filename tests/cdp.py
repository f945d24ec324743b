"""A small Chrome DevTools Protocol client for the browser tests: starts the system's headless
Chromium, opens pages at a given size, collects console errors, CSP violations and uncaught
exceptions, reports which fonts drew a node's text, and takes screenshots.

Only aiohttp's websocket client is used (no Playwright: it would download its own browser).
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import aiohttp

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> Optional[str]:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page (tab), driven over the DevTools websocket."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.profile = Path(tempfile.mkdtemp(prefix="duban-chromium-"))
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: list[tuple[str, dict]] = []
        self._event_seen = asyncio.Event()

    async def __aenter__(self) -> Browser:
        self.proc = subprocess.Popen(
            [self.executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             "--disable-background-networking", "--disable-dev-shm-usage", "--lang=zh-CN",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise CDPError("Chromium did not start (no DevToolsActivePort)")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM", "CSS"):
            await self.send(f"{domain}.enable", session=True)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                future = self._waiting.pop(data["id"])
                if "error" in data:
                    future.set_exception(CDPError(str(data["error"])))
                else:
                    future.set_result(data.get("result", {}))
            elif "method" in data:
                self._on_event(data["method"], data.get("params", {}))

    def _on_event(self, method: str, params: dict) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                      for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        self._events.append((method, params))
        self._event_seen.set()

    async def send(self, method: str, params: Optional[dict] = None, session: bool = False) -> dict:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        future = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self.ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, (name, params) in enumerate(self._events):
                if name == method:
                    del self._events[: i + 1]
                    return params
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"timed out waiting for {method}")
            self._event_seen.clear()
            try:
                await asyncio.wait_for(self._event_seen.wait(), remaining)
            except TimeoutError:
                pass

    # -- what a test does
    async def size(self, width: int, height: int, mobile: bool) -> None:
        await self.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=True)

    async def open(self, url: str, settle: float = 1.5) -> None:
        self._events.clear()
        await self.send("Page.navigate", {"url": url}, session=True)
        await self.wait_event("Page.loadEventFired")
        await asyncio.sleep(settle)  # charts animate in

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise CDPError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    async def fonts_for(self, selector: str) -> list[tuple[str, int]]:
        """(family, glyph count) of the fonts that drew the first node matching ``selector``
        (its own text only), as the renderer reports them."""
        document = await self.send("DOM.getDocument", {"depth": 0}, session=True)
        found = await self.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector},
                                session=True)
        if not found.get("nodeId"):
            raise CDPError(f"no element {selector}")
        fonts = await self.send("CSS.getPlatformFontsForNode", {"nodeId": found["nodeId"]}, session=True)
        return [(f["familyName"], f["glyphCount"]) for f in fonts["fonts"]]

    async def screenshot(self, path: Path, full_page: bool, width: int, height: int, mobile: bool) -> Path:
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics", session=True)
            content = metrics.get("cssContentSize") or metrics["contentSize"]
            await self.size(width, min(6000, max(height, int(content["height"]))), mobile)
            await asyncio.sleep(0.5)
        shot = await self.send("Page.captureScreenshot", {"format": "png"}, session=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        if full_page:
            await self.size(width, height, mobile)
        return path
