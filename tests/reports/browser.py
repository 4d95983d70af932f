"""A real browser for the report tests: Debian's headless Chromium driven over the DevTools
protocol (a websocket), with no test tool that downloads a browser of its own.

:meth:`Chromium.visit` loads a page and returns what a reader would get: console errors and
uncaught exceptions, requests that left the machine (a self-contained page makes none), counts of
rendered elements, the visible text length and a PNG screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)
# What the page has drawn: SVG elements (ours and Plotly's), Plotly plots, Evidently's
# Material-UI cards, and the text length (a page that renders nothing has none).
RENDERED = """JSON.stringify({
  svg: document.querySelectorAll('svg').length,
  svg_shapes: document.querySelectorAll('svg rect, svg path, svg polygon, svg circle').length,
  plotly: document.querySelectorAll('.js-plotly-plot').length,
  widgets: document.querySelectorAll('.MuiPaper-root').length,
  tables: document.querySelectorAll('table').length,
  text: document.body ? document.body.innerText.length : 0,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))
})"""


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Visit:
    """What loading one page produced."""

    url: str
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    rendered: dict = field(default_factory=dict)
    screenshot: bytes = b""


class Chromium:
    """One headless Chromium process (context manager) with a fresh, empty profile."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self._ids = itertools.count(1)

    def __enter__(self) -> Chromium:
        from websockets.sync.client import connect

        # Chromium's helper processes may still write to the profile for a moment after the
        # browser exits; a leftover file there must not fail the test that used the browser.
        self._profile = tempfile.TemporaryDirectory(
            prefix="orderlens-chromium-", ignore_cleanup_errors=True
        )
        self._process = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port = self._debugging_port(Path(self._profile.name) / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable")
        return self

    def __exit__(self, *exc: object) -> None:
        self._ws.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._profile.cleanup()

    def _debugging_port(self, active_port: Path, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if active_port.is_file() and active_port.read_text().strip():
                return int(active_port.read_text().split()[0])
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._process.returncode}")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    # --- protocol ------------------------------------------------------------------------
    def _call(self, method: str, params: dict | None = None, events: list | None = None) -> dict:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if events is not None and "method" in message:
                events.append(message)

    def _drain(self, events: list, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self._ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in message:
                events.append(message)

    def evaluate(self, expression: str, events: list | None = None):
        result = self._call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, events
        )
        return result["result"].get("value")

    def visit(self, url: str, *, settle_seconds: float = 2.0, timeout: float = 60.0) -> Visit:
        """Load ``url``, wait for the load event and for rendering to settle, then collect."""
        events: list[dict] = []
        self._call("Page.navigate", {"url": url}, events)
        deadline = time.monotonic() + timeout
        while not any(e["method"] == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            self._drain(events, 0.5)
        # Evidently draws its React/Plotly widgets after the load event: wait until the count
        # of rendered elements stops changing.
        previous = None
        while time.monotonic() < deadline:
            self._drain(events, settle_seconds)
            current = self.evaluate(RENDERED, events)
            if current == previous:
                break
            previous = current
        shot = self._call("Page.captureScreenshot", {"format": "png"}, events)
        return Visit(
            url=url,
            errors=_errors(events),
            external_requests=[
                e["params"]["request"]["url"]
                for e in events
                if e["method"] == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith(
                    ("file:", "data:", "blob:", "about:")
                )
            ],
            rendered=json.loads(previous or "{}"),
            screenshot=base64.b64decode(shot["data"]),
        )


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        params = e.get("params", {})
        if e["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif e["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            )
        elif e["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
    return errors


def distinct_pixel_bytes(png: bytes) -> int:
    """How many distinct byte values the decoded image data holds: a blank (one-colour) page
    gives a handful (the colour's bytes and the row filter types), a rendered page dozens."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, data = 8, b""
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    return len(set(zlib.decompress(data)))
