"""A minimal headless-Chromium driver over the DevTools protocol (for test_ui.py).

Debian's `chromium` runs with `--headless --remote-debugging-port=0`; the port is read from
DevToolsActivePort in its profile directory, and one page target is driven over a websocket
(pip `websocket-client`). No browser download, no WebDriver.
"""
from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.request
from pathlib import Path

import websocket

import harness


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class JSError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page, started through `procs` (killed at teardown)."""

    def __init__(self, procs: harness.Processes, profile: Path, width: int = 1280, height: int = 900):
        binary = chromium_binary()
        if binary is None:
            raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
        profile.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--mute-audio", "--no-proxy-server", "--remote-allow-origins=*",
                f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}",
                "about:blank"]
        self.proc = procs.start("chromium", argv, wait=False)
        port_file = profile / "DevToolsActivePort"
        if not harness.wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 30):
            raise RuntimeError(f"chromium did not open its DevTools port:\n{self.proc.log_tail()}")
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = []
        deadline = time.monotonic() + 10
        while not targets and time.monotonic() < deadline:
            with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = [t for t in json.load(r) if t.get("type") == "page"]
            if not targets:
                time.sleep(0.1)
        if not targets:
            raise RuntimeError("chromium has no page target")
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True, http_no_proxy=["127.0.0.1"])
        self._id = 0
        self.events: list[dict] = []
        self.errors: list[str] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.set_viewport(width, height)

    # -- protocol
    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self._id += 1
        mid = self._id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
            if time.monotonic() > deadline:
                raise TimeoutError(method)

    def _event(self, msg: dict) -> None:
        self.events.append(msg)
        method = msg.get("method")
        if method == "Runtime.exceptionThrown":
            d = msg["params"]["exceptionDetails"]
            self.errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in msg["params"]["args"]))

    def pump(self, seconds: float = 0.05) -> None:
        """Reads pending events for a moment (console errors, load events)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._event(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                return

    # -- page
    def set_viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        self.width = width

    def navigate(self, url: str, timeout: float = 20) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            self.pump(0.1)

    def eval(self, expression: str, timeout: float = 30):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise JSError(d.get("exception", {}).get("description") or d.get("text"))
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 20, what: str | None = None):
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what or expression}")
            self.pump(0.1)

    def click(self, selector: str) -> None:
        ok = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                       f" if (!e || e.disabled) return false; e.scrollIntoView({{block: 'center'}}); e.click(); return true; }})()")
        assert ok, f"cannot click {selector}"

    def fill(self, selector: str, value: str) -> None:
        ok = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
                       f" e.focus(); e.value = {json.dumps(value)};"
                       f" e.dispatchEvent(new Event('input', {{bubbles: true}}));"
                       f" e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()")
        assert ok, f"no element {selector}"

    def text(self, selector: str) -> str:
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")

    def visible(self, selector: str) -> bool:
        return bool(self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                              f" if (!e) return false; const r = e.getBoundingClientRect();"
                              f" return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; }})()"))

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            size = self.eval("({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})")
            params["clip"] = {"x": 0, "y": 0, "width": max(size["w"], self.width), "height": size["h"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
