"""map.html in a real browser: headless Chromium (Debian's ``chromium``) over the DevTools
protocol, the page opened from a file with networking disabled.

Skipped when Chromium or ``websocket-client`` is missing, except under CI (``CI`` set),
where ``.ci/run`` installs Chromium and a skip would hide a broken map.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from planner.render import (
    chromium_base_args,
    chromium_executable,
    layer_names,
    render_map,
    render_png,
)

pytestmark = pytest.mark.slow

XSS_NAMES = ['"><img src=x onerror=alert(1)><script>alert(2)</script>', "${alert(3)}`+alert(4)+`", "</script><script>alert(5)</script>"]


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must install it: see .ci/run)")
        pytest.skip(reason)


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page, flat session)."""

    def __init__(self, exe: str) -> None:
        import websocket  # websocket-client

        self._profile = tempfile.TemporaryDirectory(prefix="planner-cdp-")
        args = [exe, *chromium_base_args(self._profile.name), "--remote-debugging-port=0",
                "--remote-allow-origins=*", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=http://127.0.0.1:9", "--window-size=1400,900", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
                break
            if not line and self.proc.poll() is not None:
                break
        if url is None:
            self.close()
            raise RuntimeError("Chromium did not open its DevTools port")
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: bool = False, **params: object) -> dict:
        msg_id = next(self._ids)
        msg: dict = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == "Page.javascriptDialogOpening":
                    self.ws.send(json.dumps({"id": next(self._ids), "sessionId": self.session,
                                             "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}))

    def page(self, method: str, **params: object) -> dict:
        return self.call(method, session=True, **params)

    def js(self, expression: str) -> object:
        res = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.js("1")  # pumps events
            time.sleep(0.05)
        raise AssertionError(f"no {method} within {timeout} s")

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self._profile.cleanup()


def open_offline(browser: Browser, page: Path) -> None:
    """Open a file with the network cut off, recording console, exceptions and requests."""
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.page(f"{domain}.enable")
    browser.page("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1)
    browser.page("Page.addScriptToEvaluateOnNewDocument",
                 source="window.__xss = []; window.alert = function (x) { window.__xss.push(String(x)); };")
    browser.events.clear()
    browser.page("Page.navigate", url=page.resolve().as_uri())
    browser.wait_for("Page.loadEventFired")
    time.sleep(0.3)
    browser.js("1")


def problems(browser: Browser) -> list[str]:
    """Console errors, uncaught exceptions, dialogs and requests that are not to the file."""
    out = []
    for e in browser.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
        elif m == "Runtime.exceptionThrown":
            out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails'].get('text')}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Page.javascriptDialogOpening":
            out.append(f"dialog: {p.get('message')}")
        elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:", "about:")):
            out.append(f"request: {p['request']['url']}")
    return out


@pytest.fixture(scope="module")
def planned():
    """The grid scenario's plan (budgeted search, one worker: the same every run)."""
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    sc = parse_scenario(GRID_SCENARIO)
    return plan_evacuation(sc, network=prepare_network(sc, graph=grid_graph()), workers=1, budget=100)


@pytest.fixture(scope="module")
def browser():
    exe = chromium_executable()
    _need(exe is not None, "Chromium is not installed (apt-get install chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        _need(False, "websocket-client is not installed")
    b = Browser(exe)
    yield b
    b.close()


@pytest.fixture(scope="module")
def xss_map(tmp_path_factory, planned):
    """The grid plan with hostile site names and an exchange, drawn offline."""
    from conftest import GRID_SCENARIO

    from planner.network import load_layers
    from planner.scenario import parse_scenario

    data = json.loads(json.dumps(GRID_SCENARIO))
    data["evacuation"]["assembly_points"][0]["name"] = XSS_NAMES[0]
    data["evacuation"]["assembly_points"][1]["name"] = XSS_NAMES[1]
    data["evacuation"]["reception_centres"][0]["name"] = XSS_NAMES[2]
    sc = parse_scenario(data)
    plan = planned.model_copy(deep=True)
    for s in plan.sites:
        s.name = {"a1": XSS_NAMES[0], "a2": XSS_NAMES[1], "r1": XSS_NAMES[2]}.get(s.id, s.name)
    plan.exchange = {"status": "complete", "events": [
        {"start": "2022-03-16T10:00:00+02:00", "end": "2022-03-16T11:00:00+02:00", "crossing": "cp1",
         "counts": {"A<script>alert(6)</script>": {"f1": {"civilians": 5}}, "B": {"f2": {"civilians": 5}}}},
        {"start": "2022-03-17T10:00:00+02:00", "end": "2022-03-17T11:00:00+02:00",
         "counts": {"A": {"f1": {"civilians": 3}}, "B": {"f2": {"civilians": 3}}}},
    ]}
    folder = tmp_path_factory.mktemp("browser")
    render_map(sc, plan, load_layers(sc), folder / "map.html")
    return folder / "map.html", plan


def test_offline_map_in_chromium(browser, xss_map):
    page, plan = xss_map
    started = time.monotonic()
    html = page.read_text(encoding="utf-8")
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?:', html), "map.html links to the network"
    open_offline(browser, page)

    assert browser.js("typeof L === 'object' && L.version") == "1.9.3"
    assert browser.js("window.plannerMap instanceof L.Map")
    assert browser.js("Object.keys(window).some(k => k.startsWith('map_') && window[k] instanceof L.Map)")
    labels = browser.js(
        "Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(l => l.textContent.trim())"
    )
    assert sorted(labels) == sorted(layer_names(plan))
    assert "Exchanges" in labels and any(x.startswith("Vehicle ") for x in labels)
    assert browser.js("document.querySelectorAll('.leaflet-control-scale').length") == 1
    assert browser.js("document.querySelector('.pl-legend') !== null")
    assert browser.js("document.querySelectorAll('.pl-win').length") == len(plan.windows)
    # no tile was asked for: background tiles start switched off
    assert browser.js("document.querySelectorAll('.leaflet-tile').length") == 0

    # the slider moves, and the vehicles with it
    before = browser.js("[window.plannerTimeline.time(), document.querySelector('.pl-time').textContent, "
                        "JSON.stringify(window.plannerTimeline.positions())]")
    browser.js("(() => { const r = document.querySelector('.pl-range'); r.value = String(Math.round(Number(r.max) * 0.1)); "
               "r.dispatchEvent(new Event('input', {bubbles: true})); })()")
    after = browser.js("[window.plannerTimeline.time(), document.querySelector('.pl-time').textContent, "
                       "JSON.stringify(window.plannerTimeline.positions())]")
    assert after[0] > before[0] and after[1] != before[1] and after[2] != before[2]
    # playing moves it on by itself
    browser.js("document.querySelector('.pl-play').click()")
    time.sleep(0.6)
    assert browser.js("window.plannerTimeline.time()") > after[0]
    browser.js("window.plannerTimeline.pause()")
    # at the end every assembly point has emptied by what was evacuated and events have appeared
    browser.js("window.plannerTimeline.setTime(window.plannerTimeline.end)")
    status = browser.js("document.querySelector('.pl-status').textContent")
    waiting_left = plan.totals.requested["total"] - plan.evacuated_total()
    assert f"{waiting_left} waiting" in status
    assert browser.js("document.querySelectorAll('path.leaflet-interactive').length") > 0

    # open every popup: text shows, nothing runs
    browser.js("void window.plannerMap.eachLayer(l => { if (l.getPopup && l.getPopup()) { l.openPopup(); } })")
    browser.js("void window.plannerMap.eachLayer(l => { if (l.getTooltip && l.getTooltip()) { l.openTooltip(); } })")
    time.sleep(0.2)
    assert browser.js("window.__xss") == []
    assert browser.js("document.querySelectorAll('img').length") == 0
    assert browser.js("Array.from(document.scripts).filter(s => /^alert\\(\\d\\)$/.test(s.textContent.trim())).length") == 0
    assert browser.js("document.body.innerText.includes('alert(2)')")  # shown as text, not run
    assert problems(browser) == []
    print(f"browser test: {time.monotonic() - started:.1f} s")


def test_map_png(xss_map, tmp_path):
    _need(chromium_executable() is not None, "Chromium is not installed (apt-get install chromium)")
    page, _plan = xss_map
    png = render_png(page, tmp_path / "map.png", width=800, height=500)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_map_png_without_chromium_is_one_clear_error(xss_map, tmp_path, monkeypatch):
    from planner.errors import PlannerError

    monkeypatch.setenv("PLANNER_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PlannerError, match=r"needs Chromium \(apt-get install chromium\); map.html was written"):
        render_png(xss_map[0], tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()
