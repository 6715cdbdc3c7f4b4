"""A headless Chromium driven over the DevTools protocol, to look at the Prefect UI in tests.

Why not Selenium or Playwright: the protocol is a websocket that Chromium opens itself, and the
venv already has ``websockets`` (a Prefect dependency), so the only extra is Debian's ``chromium``
(no chromedriver, no npm, no pins). The Prefect UI is a JavaScript app, so a static
``--dump-dom`` is not enough: tabs must be clicked and data waited for.

Also a command for a person: ``python tests/ui_check.py URL --click Artifacts --expect TEXT
--screenshot out.png`` prints the page's visible text.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

# From the environment notes: without the background-networking flags Chromium floods the
# closed network with update/sync requests; --no-sandbox because tests may run as root.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with a fresh profile and one page, closed on exit."""

    def __init__(self, binary: str, width: int = 1440, height: int = 1100, timeout_s: float = 60):
        self.binary, self.width, self.height, self.timeout_s = binary, width, height, timeout_s
        self._next_id = 0

    def __enter__(self) -> Browser:
        self._profile = Path(tempfile.mkdtemp(prefix="mmindex-chromium-"))
        self._log = open(self._profile.parent / f"{self._profile.name}.log", "wb")
        self._proc = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            port = self._devtools_port()
            self._ws = connect(self._page_ws_url(port), max_size=None, open_timeout=30)
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=15)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)
        Path(self._log.name).unlink(missing_ok=True)

    def _devtools_port(self) -> int:
        # With port 0 Chromium picks a free port and writes it to DevToolsActivePort.
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}: "
                                   + Path(self._log.name).read_text(errors="replace")[-2000:])
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError(f"chromium did not open its DevTools port in {self.timeout_s}s")

    def _page_ws_url(self, port: int) -> str:
        deadline = time.monotonic() + self.timeout_s
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                raise TimeoutError("chromium opened no page")
            time.sleep(0.1)

    def call(self, method: str, **params: Any) -> dict:
        """Send one DevTools command and return its result (events in between are dropped)."""
        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def text(self) -> str:
        """The page's visible text (what a person can read)."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, needles: list[str], timeout_s: float | None = None) -> str:
        """Poll until every needle is in the visible text; return the text, or raise with it."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            text = self.text()
            missing = [n for n in needles if n not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"not shown on the page: {missing}\n--- page text ---\n{text}")
            time.sleep(0.5)

    def click_text(self, label: str, timeout_s: float | None = None) -> None:
        """Click the innermost visible element whose whole text is ``label`` (a tab, a button)."""
        script = """(() => {
          const want = __WANT__;
          const hits = [...document.querySelectorAll('button, a, [role=tab], li, span, div')]
            .filter(e => e.offsetParent !== null && e.innerText && e.innerText.trim() === want);
          const inner = hits.filter(e => !hits.some(o => o !== e && e.contains(o)));
          if (!inner.length) return false;
          (inner[0].closest('button, a, [role=tab]') || inner[0]).click();
          return true;
        })()""".replace("__WANT__", json.dumps(label))
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while not self.evaluate(script):
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing to click labelled {label!r}\n{self.text()}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--click", action="append", default=[], help="labels to click, in order")
    ap.add_argument("--expect", action="append", default=[], help="text that must be shown")
    ap.add_argument("--screenshot", type=Path)
    args = ap.parse_args(argv)
    binary = find_chromium()
    if binary is None:
        print("chromium not found. Help: apt-get install -y chromium", file=sys.stderr)
        return 2
    with Browser(binary) as browser:
        browser.goto(args.url)
        for label in args.click:
            browser.click_text(label)
        print(browser.wait_for_text(args.expect))
        if args.screenshot:
            print(f"screenshot: {browser.screenshot(args.screenshot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
