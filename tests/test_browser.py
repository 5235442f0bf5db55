"""map.html in a real browser: headless Chromium (Debian's ``chromium``) over the DevTools
protocol, the page opened from a file with networking disabled.

Skipped when Chromium or ``websocket-client`` is missing, except under CI (``CI`` set),
where ``.ci/run`` installs Chromium and a skip would hide a broken map.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import exchange_plan

from planner.render import (
    chromium_base_args,
    chromium_executable,
    layer_names,
    render_map,
    render_png,
)

pytestmark = pytest.mark.slow

XSS_NAMES = [
    '"><img src=x onerror=alert(1)><script>alert(2)</script>',
    "${alert(3)}`+alert(4)+`",
    "</script><script>alert(5)</script>",
]


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
        args = [
            exe,
            *chromium_base_args(self._profile.name),
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--window-size=1400,900",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
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
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

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
                    self.ws.send(
                        json.dumps(
                            {
                                "id": next(self._ids),
                                "sessionId": self.session,
                                "method": "Page.handleJavaScriptDialog",
                                "params": {"accept": True},
                            }
                        )
                    )

    def page(self, method: str, **params: object) -> dict:
        return self.call(method, session=True, **params)

    def js(self, expression: str) -> object:
        res = self.page(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
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
    browser.page(
        "Network.emulateNetworkConditions",
        offline=True,
        latency=0,
        downloadThroughput=-1,
        uploadThroughput=-1,
    )
    browser.page(
        "Page.addScriptToEvaluateOnNewDocument",
        source="window.__xss = []; window.alert = function (x) { window.__xss.push(String(x)); };",
    )
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
            out.append(
                f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}"
            )
        elif m == "Runtime.exceptionThrown":
            out.append(
                f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails'].get('text')}"
            )
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Page.javascriptDialogOpening":
            out.append(f"dialog: {p.get('message')}")
        elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith(
            ("file:", "data:", "about:")
        ):
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
    return plan_evacuation(
        sc, network=prepare_network(sc, graph=grid_graph()), workers=1, budget=100
    )


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
    plan.exchange = exchange_plan(
        [
            {
                "start": "2022-03-16T10:00:00+02:00",
                "end": "2022-03-16T11:00:00+02:00",
                "point": "cp1",
                "counts": {
                    "A<script>alert(6)</script>": {"f1": {"civilians": 5}},
                    "B": {"f2": {"civilians": 5}},
                },
            },
            {
                "start": "2022-03-17T10:00:00+02:00",
                "end": "2022-03-17T11:00:00+02:00",
                "counts": {"A": {"f1": {"civilians": 3}}, "B": {"f2": {"civilians": 3}}},
            },
        ]
    )
    folder = tmp_path_factory.mktemp("browser")
    render_map(sc, plan, load_layers(sc), folder / "map.html")
    return folder / "map.html", plan


def test_offline_map_in_chromium(browser, xss_map):
    page, plan = xss_map
    started = time.monotonic()
    html = page.read_text(encoding="utf-8")
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?:', html), (
        "map.html links to the network"
    )
    open_offline(browser, page)

    assert browser.js("typeof L === 'object' && L.version") == "1.9.3"
    assert browser.js("window.plannerMap instanceof L.Map")
    assert browser.js(
        "Object.keys(window).some(k => k.startsWith('map_') && window[k] instanceof L.Map)"
    )
    labels = browser.js(
        "Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(l => l.textContent.trim())"
    )
    assert sorted(labels) == sorted(layer_names(plan))
    assert "Exchanges" in labels and "Vehicles" in labels
    assert browser.js("document.querySelectorAll('.leaflet-control-scale').length") == 1
    assert browser.js("document.querySelector('.pl-legend') !== null")
    assert browser.js("document.querySelectorAll('.pl-win').length") == len(plan.windows)
    # no tile was asked for: background tiles start switched off
    assert browser.js("document.querySelectorAll('.leaflet-tile').length") == 0

    # the slider moves, and the vehicles with it
    before = browser.js(
        "[window.plannerTimeline.time(), document.querySelector('.pl-time').textContent, "
        "JSON.stringify(window.plannerTimeline.positions())]"
    )
    browser.js(
        "(() => { const r = document.querySelector('.pl-range'); r.value = String(Math.round(Number(r.max) * 0.1)); "
        "r.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    after = browser.js(
        "[window.plannerTimeline.time(), document.querySelector('.pl-time').textContent, "
        "JSON.stringify(window.plannerTimeline.positions())]"
    )
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
    browser.js(
        "void window.plannerMap.eachLayer(l => { if (l.getPopup && l.getPopup()) { l.openPopup(); } })"
    )
    browser.js(
        "void window.plannerMap.eachLayer(l => { if (l.getTooltip && l.getTooltip()) { l.openTooltip(); } })"
    )
    time.sleep(0.2)
    assert browser.js("window.__xss") == []
    assert browser.js("document.querySelectorAll('img').length") == 0
    assert (
        browser.js(
            "Array.from(document.scripts).filter(s => /^alert\\(\\d\\)$/.test(s.textContent.trim())).length"
        )
        == 0
    )
    assert browser.js("document.body.innerText.includes('alert(2)')")  # shown as text, not run
    assert problems(browser) == []
    print(f"browser test: {time.monotonic() - started:.1f} s")


REPORT = Path(
    os.environ.get("PLANNER_TEST_REPORT", Path(__file__).resolve().parents[1] / "test-report")
)
"""Where the browser test leaves its screenshots (``$PLANNER_TEST_REPORT``, default ``test-report/``)."""

BOXES = """(() => {
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const named = sel => Array.from(document.querySelectorAll(sel)).filter(e => e.offsetWidth > 0).map(r);
  const controls = Array.from(document.querySelectorAll('.leaflet-control'))
    .filter(e => e.offsetWidth > 0 && !e.classList.contains('pl-legend') && !e.classList.contains('pl-summary'))
    .map(e => [e.className, r(e)]);
  return {legend: named('.pl-legend'), summary: named('.pl-summary'), controls: controls,
          size: [window.innerWidth, window.innerHeight]};
})()"""


def overlapping(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_map_reads_offline_at_1400_by_900(browser, planned, tmp_path):
    """What a coordinator sees offline: names, a closed layer list, a legend clear of every
    control, a vehicle picker, people left behind at the end, and a screenshot of it all."""
    from conftest import GRID_SCENARIO

    from planner.network import load_layers
    from planner.scenario import parse_scenario

    sc = parse_scenario(GRID_SCENARIO)
    page = tmp_path / "map.html"
    render_map(sc, planned, load_layers(sc), page)
    browser.page(
        "Emulation.setDeviceMetricsOverride",
        width=1400,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    open_offline(browser, page)
    assert browser.js("[window.innerWidth, window.innerHeight]") == [1400, 900]
    _check_controls_and_legend(browser)
    _check_names(browser, planned)
    _check_slider_and_picker(browser, planned)

    # a screenshot for the test report, the vehicles on their way
    REPORT.mkdir(parents=True, exist_ok=True)
    out = REPORT / "map-1400x900.png"
    out.write_bytes(base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"]))
    assert out.stat().st_size > 10_000
    print(f"screenshot: {out}")


def _check_controls_and_legend(browser) -> None:
    """A closed layer list with one Vehicles entry; legend and summary clear of every control."""
    # the layer control is collapsed, with one Vehicles entry instead of one per vehicle
    assert browser.js("document.querySelector('.leaflet-control-layers-expanded') === null")
    labels = browser.js(
        "Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(l => l.textContent.trim())"
    )
    assert labels.count("Vehicles") == 1 and not any(x.startswith("Vehicle ") for x in labels)

    # legend and summary overlap no control (nor each other), inside the window
    boxes = browser.js(BOXES)
    assert len(boxes["legend"]) == 1 and len(boxes["summary"]) == 1
    for mine in boxes["legend"] + boxes["summary"]:
        assert 0 <= mine[0] < mine[2] <= 1400 and 0 <= mine[1] < mine[3] <= 900
        for cls, other in boxes["controls"]:
            assert not overlapping(mine, other), f"{mine} overlaps {cls} {other}"
    assert not overlapping(boxes["legend"][0], boxes["summary"][0])


def _check_names(browser, planned) -> None:
    """Town names of the area and every site's name on the page, no two town labels overlapping."""
    # town names of the area and every site's name are on the page
    towns = browser.js("window.plannerLabels.shown('pl-town')")
    assert towns and all(isinstance(t, str) and t for t in towns)
    shown = browser.js(
        "Array.from(document.querySelectorAll('.pl-lbl.pl-town span')).map(s => s.textContent)"
    )
    assert set(towns) <= set(shown)
    site_names = {s.name or s.id for s in planned.sites if s.kind in ("assembly", "reception")}
    assert site_names <= set(browser.js("window.plannerLabels.shown('pl-site')"))
    # no two town labels overlap
    rects = browser.js(
        "Array.from(document.querySelectorAll('.pl-lbl.pl-town span')).map(e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })"
    )
    assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if overlapping(a, b)]


def _check_slider_and_picker(browser, planned) -> None:
    """People waiting at each assembly point; the slider moves vehicles; the picker filters them."""
    # people waiting are written at each assembly point, and fall as the slider moves
    first = planned.sites[0]
    note = f"Array.from(document.querySelectorAll('.pl-lbl.pl-site span')).find(s => s.firstChild.textContent === {json.dumps(first.name or first.id)}).querySelector('small').textContent"
    start_note = browser.js(note)
    assert start_note.endswith("waiting")

    # the slider moves a vehicle
    before = browser.js("JSON.stringify(window.plannerTimeline.positions())")
    browser.js(
        "(() => { const r = document.querySelector('.pl-range'); r.value = String(Math.round(Number(r.max) * 0.1)); "
        "r.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    assert browser.js("JSON.stringify(window.plannerTimeline.positions())") != before

    # the picker shows one type of vehicle, then all again
    options = browser.js("window.plannerVehicles.options")
    types = sorted({v.type for v in planned.vehicles if v.legs})
    assert [o.split(" (")[0] for o in options if o.startswith("type: ")] == [
        f"type: {t}" for t in types
    ]
    pick = next(i for i, o in enumerate(options) if o.startswith(f"type: {types[0]}"))
    browser.js(f"window.plannerVehicles.pick({pick})")
    drawn = [v for v in planned.vehicles if v.legs]
    assert browser.js("window.plannerVehicles.shown()") == [v.type == types[0] for v in drawn]
    browser.js("window.plannerVehicles.pick(0)")
    assert all(browser.js("window.plannerVehicles.shown()"))

    # at the end the people not served are drawn, the reason in the popup
    browser.js("window.plannerTimeline.setTime(window.plannerTimeline.end)")
    sites_left = {u.site for u in planned.unserved}
    assert planned.unserved, "the grid plan leaves people behind (the test needs some)"
    assert browser.js("window.plannerTimeline.unservedShown()") == len(sites_left)
    assert browser.js(note) != start_note
    browser.js(
        "void window.plannerMap.eachLayer(l => { if (l.getPopup && l.getPopup() && l.options.dashArray) { l.openPopup(); } })"
    )
    popup = browser.js(
        "Array.from(document.querySelectorAll('.leaflet-popup-content')).map(e => e.textContent).join(' ')"
    )
    assert "not served" in popup and any(u.detail.split(":")[0] in popup for u in planned.unserved)
    browser.js("void window.plannerMap.closePopup()")
    browser.js("window.plannerTimeline.setTime(window.plannerTimeline.start)")
    assert problems(browser) == []


def test_corridors_page_offline(browser, tmp_path):
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.corridors import choose_corridors, corridors_map
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    sc = parse_scenario(GRID_SCENARIO)
    net = prepare_network(sc, graph=grid_graph())
    page = tmp_path / "corridors.html"
    corridors_map(choose_corridors(sc, net, 1), sc, net, page)
    open_offline(browser, page)
    assert browser.js("typeof L === 'object' && L.version") == "1.9.3"
    assert browser.js("document.querySelectorAll('path.leaflet-interactive').length") > 0
    assert browser.js("window.plannerLabels.shown('pl-town').length") > 0
    boxes = browser.js(BOXES)
    for mine in boxes["legend"] + boxes["summary"]:
        for cls, other in boxes["controls"]:
            assert not overlapping(mine, other), f"{mine} overlaps {cls} {other}"
    assert problems(browser) == []


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
    with pytest.raises(
        PlannerError, match=r"needs Chromium \(apt-get install chromium\); map.html was written"
    ):
        render_png(xss_map[0], tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()
