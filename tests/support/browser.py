"""Headless Chromium (the Debian package, /usr/bin/chromium) driven over the DevTools protocol.

`load(path)` opens a local file in a fresh profile and returns what a person's browser would show
and complain about: failed loads, console errors, uncaught exceptions, DOM facts, a PNG screenshot.
Nothing is downloaded; the browser's background networking is off.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1280,2000")


def load(path: Path, probe_js: str, timeout_s: float = 60) -> dict[str, Any]:
    # Chromium's helpers (renderer, crashpad) may still write to the profile after the browser exits:
    # they share its process group, which is ended as a whole; a late file cannot fail the cleanup.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            url = _devtools_url(proc)
            return asyncio.run(asyncio.wait_for(_visit(url, path.resolve().as_uri(), probe_js), timeout_s))
        finally:
            _end_group(proc)


def _end_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
    except ProcessLookupError:
        pass
    proc.wait()


def _devtools_url(proc: subprocess.Popen) -> str:
    for line in proc.stderr:
        match = re.search(r"DevTools listening on (ws://\S+)", line)
        if match:
            return match.group(1)
    raise RuntimeError(f"chromium exited ({proc.wait()}) without a DevTools endpoint")


async def _visit(ws_url: str, page_url: str, probe_js: str) -> dict[str, Any]:
    import aiohttp
    events: list[dict[str, Any]] = []
    loaded = asyncio.Event()
    pending: dict[int, asyncio.Future] = {}
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:
        counter = iter(range(1, 10**9))

        async def reader():
            async for msg in ws:
                data = json.loads(msg.data)
                if "id" in data and data["id"] in pending:
                    pending.pop(data["id"]).set_result(data)
                elif "method" in data:
                    events.append(data)
                    if data["method"] == "Page.loadEventFired":
                        loaded.set()

        task = asyncio.create_task(reader())

        async def send(method: str, session: str | None = None, **params):
            ident = next(counter)
            pending[ident] = asyncio.get_running_loop().create_future()
            await ws.send_str(json.dumps({"id": ident, "method": method, "params": params,
                                          **({"sessionId": session} if session else {})}))
            reply = await pending[ident]
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})

        target = await send("Target.createTarget", url="about:blank")
        session = (await send("Target.attachToTarget", targetId=target["targetId"], flatten=True))["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            await send(f"{domain}.enable", session)
        await send("Page.navigate", session, url=page_url)
        await loaded.wait()
        await asyncio.sleep(0.5)  # late console messages
        probe = await send("Runtime.evaluate", session, expression=probe_js, returnByValue=True)
        shot = await send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
        small = await send("Page.captureScreenshot", session, format="png",
                           clip={"x": 0, "y": 0, "width": 1280, "height": 2000, "scale": 0.25})
        task.cancel()
    return {"events": events, "probe": probe["result"].get("value"), "png": base64.b64decode(shot["data"]),
            "thumbnail": base64.b64decode(small["data"])}


def problems(events: list[dict[str, Any]]) -> list[str]:
    """Failed resource loads, console errors, uncaught exceptions and error log entries."""
    found = []
    for e in events:
        method, params = e["method"], e.get("params", {})
        if method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(f"console {params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(f"log error: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found


def requested_urls(events: list[dict[str, Any]]) -> list[str]:
    return [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]


def png_pixels(png: bytes) -> tuple[int, int, set[bytes]]:
    """(width, height, distinct RGB(A) pixel values) of an 8-bit RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    previous, seen = bytearray(stride), set()
    for row in range(height):
        line = raw[row * (stride + 1):(row + 1) * (stride + 1)]
        current = _unfilter(line[0], bytearray(line[1:]), previous, channels)
        seen.update(bytes(current[i:i + 3]) for i in range(0, stride, channels))
        previous = current
    return width, height, seen


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, up_left = prev[i], prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
    return line
