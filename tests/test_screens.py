"""The screens in a real browser: Debian's Chromium driven by Playwright, against a
real `branchq serve` process on a free port with its own data directory.

Screenshots of every page at its intended size go to test-artifacts/ (gitignored);
with BRANCHQ_DOCS_SCREENSHOT=1 the lobby's also replaces docs/lobby.png.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import segno

from tests.serverkit import demo_credentials, sign_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")  # Debian's (scripts/test.sh installs it); Playwright's download is not used
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
        "--js-flags=--expose-gc", "--enable-precise-memory-info"]
SIZES = {"lobby": (1920, 1080), "counter": (800, 480), "kiosk": (1080, 1920), "ticket": (390, 844),
         "teller": (1366, 768), "manager": (1920, 1080)}
TZ = ZoneInfo("Asia/Shanghai")
TICKET = re.compile(r"\b[A-Z]{1,2}\d{3}\b")

sync_api = pytest.importorskip("playwright.sync_api")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)", allow_module_level=True)
expect = sync_api.expect


# Headless Chromium has no voices: a stand-in Chinese voice records what the lobby says,
# and the chime's oscillators are counted (two tones per chime).
FAKE_VOICE = """
window.__spoken = []; window.__chimes = 0;
Object.defineProperty(window, "speechSynthesis", {value: {
  getVoices: () => [{name: "test-zh", lang: "zh-CN"}],
  speak: (u) => { window.__spoken.push(u.text); setTimeout(() => u.onend && u.onend(), 10); },
}});
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...a) { window.__chimes += 0.5; return start.apply(this, a); };
"""


# ----------------------------------------------------------------- the server
class Server:
    """`branchq serve --demo` in a subprocess; restartable on the same port and data."""

    def __init__(self, data_dir: Path, canned_estimator: bool = False, config: Path | None = None) -> None:
        self.data_dir = data_dir
        # the real `branchq serve`, or the same app with tests/screens_server.py's canned estimator
        self.module = ["tests.screens_server"] if canned_estimator else ["server.cli", "serve", "--demo"]
        if config is not None:
            self.module = ["tests.screens_server", "--config", str(config)]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def start(self) -> None:
        env = {**os.environ, "BRANCHQ_DATA_DIR": str(self.data_dir), "BRANCHQ_REFRESH_SECONDS": "2"}
        env.pop("DATABASE_URL", None)
        self.log = self.data_dir.parent / "server.log"  # a file: an unread pipe could block the server
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", *self.module, "--port", str(self.port)],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"branchq serve exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1):
                self.headers = self.headers or sign_in(self.base, self.data_dir, "admin")
                return
            time.sleep(0.1)
        raise RuntimeError("branchq serve did not answer within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        req = urllib.request.Request(f"{self.base}/api/v1/branches/demo/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.load(r)  # type: ignore[no-any-return]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode()}") from None

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        return self.api("POST", path, body or {})

    def token(self, device: str) -> str:
        return str(demo_credentials(self.data_dir)["devices"][device]["token"])

    def session(self, user: str) -> str:
        """A demo user's session token (what the sign-in form puts in the bq_session cookie)."""
        return sign_in(self.base, self.data_dir, user)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    kind = getattr(request, "param", None)  # None: `serve --demo`; "canned": canned estimates; "twelve": 12 counters
    config = _twelve_counter_branch(tmp_path) if kind == "twelve" else None
    s = Server(tmp_path / "data", canned_estimator=kind == "canned", config=config)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _twelve_counter_branch(tmp_path: Path) -> Path:
    """The demo's services at a big branch: three cash windows, eight mixed, one corporate."""
    demo = (ROOT / "server" / "branches" / "demo.toml").read_text(encoding="utf-8")
    text = demo[:demo.index("[[counters]]")]
    for i in range(1, 13):
        services = '["A"]' if i <= 3 else '["C"]' if i == 12 else '["B", "A", "V"]'
        text += f'[[counters]]\nid = "{i}"\nname = "{i}号窗口"\nname_en = "Counter {i}"\nservices = {services}\n\n'
    path = tmp_path / "twelve.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Any, server: Server) -> Iterator[Any]:
    """open_page(kind, path) -> a page at its kind's intended size, connected to the live feed."""
    contexts = []

    def opener(kind: str, path: str, connected: bool = True, init_script: str | None = None,
               signed_in: bool = True) -> Any:
        """Screens get their demo device token once (?token=), as a manager's link gives it; the teller
        console and manager page a signed-in manager's session cookie (signed_in=False: neither)."""
        w, h = SIZES[kind]
        ctx = browser.new_context(viewport={"width": w, "height": h}, device_scale_factor=1)
        contexts.append(ctx)
        if signed_in:
            path = _with_credentials(server, ctx, kind, path)
        if init_script:
            ctx.add_init_script(init_script)
        page = ctx.new_page()
        page.set_default_timeout(10000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "warning" and "branchq" in m.text else None)
        page.errors = errors
        page.goto(server.base + path)
        if connected:
            expect(page.locator("#bq-stamp")).to_contain_text(re.compile(r"\d\d:\d\d:\d\d"), timeout=5000)
        return page

    yield opener
    for ctx in contexts:
        for page in ctx.pages:
            assert not page.errors, page.errors
        ctx.close()


def _with_credentials(server: Server, ctx: Any, kind: str, path: str) -> str:
    if kind in ("teller", "manager"):
        ctx.add_cookies([{"name": "bq_session", "value": server.session("manager"), "url": server.base}])
        return path
    device = {"lobby": "lobby-demo", "kiosk": "kiosk-demo"}.get(kind)
    if kind == "counter":
        device = "counter-demo-" + path.split("?")[0].rstrip("/").split("/")[-1]
    if device is None:  # the ticket page is public
        return path
    return path + ("&" if "?" in path else "?") + "token=" + server.token(device)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_function("() => !document.querySelector('.flash')", timeout=5000)  # a settled frame, not mid-flash
    page.screenshot(path=str(path))
    return path


def tile(page: Any, counter: str) -> Any:
    return page.locator(f'#tiles .tile[data-key="{counter}"]')


# ----------------------------------------------------------------- the tests
def test_teller_call_next_shows_on_lobby_and_counter_display_within_a_second(server: Server, open_page: Any) -> None:
    """A call from the teller console reaches the lobby banner, its tile and the counter display within 1 s;
    a double click calls one ticket."""
    server.post("tickets", {"service": "B"})
    server.post("tickets", {"service": "B"})
    lobby = open_page("lobby", "/display/demo", init_script=FAKE_VOICE)
    counter = open_page("counter", "/display/demo/counter/2")
    teller = open_page("teller", "/teller/demo?counter=2")
    teller.keyboard.press("o")  # open
    expect(teller.locator("#badge")).to_have_text("空闲")
    expect(tile(lobby, "2")).to_have_attribute("data-status", "free", timeout=1000)

    start = time.monotonic()
    teller.locator('button[data-action="call"]').dblclick()
    expect(lobby.locator("#now-line")).to_have_text("请B001号到2号窗口", timeout=1000)
    expect(tile(lobby, "2").locator(".number")).to_have_text("B001", timeout=1000)
    expect(counter.locator("#number")).to_have_text("B001", timeout=1000)
    assert time.monotonic() - start < 1.5  # the three checks together, each within its 1 s
    expect(lobby.locator("#calling .now")).to_have_class(re.compile("flash"))
    expect(counter.locator("#face")).to_have_class(re.compile("flash"))
    expect(teller.locator("#cur-number")).to_have_text("B001")
    assert server.api("GET", "tickets/B002")["status"] == "waiting"  # the double click called one ticket

    teller.keyboard.press("r")  # recall: announced again
    lobby.wait_for_function("() => window.__spoken.length >= 2", timeout=5000)
    assert lobby.evaluate("window.__spoken") == ["请B001号到2号窗口办理", "请B001号到2号窗口办理"]
    assert lobby.evaluate("window.__chimes") == 2

    teller.keyboard.press("s")  # start
    expect(counter.locator("#state")).to_have_text("正在办理", timeout=1000)
    shot(counter, "counter")
    shot(teller, "teller")


def test_pause_shows_return_time_and_close_shows_no_number(server: Server, open_page: Any) -> None:
    """A pause with an expected return shows paused with its reason and time; a closed counter shows
    the closed sign and no ticket number, on the lobby and on the counter display."""
    lobby = open_page("lobby", "/display/demo")
    counter = open_page("counter", "/display/demo/counter/4")
    teller = open_page("teller", "/teller/demo?counter=4")
    server.post("counters/4/open")
    server.post("tickets", {"service": "V"})
    server.post("counters/4/call-next")
    server.post("counters/4/start")
    # Serving, then free again: the console has seen the finish (a "free" from before the call
    # would let the pause key be pressed while the console still shows a customer, and ignored).
    expect(teller.locator("#badge")).not_to_have_text("空闲")
    server.post("counters/4/finish")
    expect(teller.locator("#badge")).to_have_text("空闲")

    teller.keyboard.press("p")
    teller.locator("#reasons .chip").first.click()  # 午餐
    teller.locator("#returns .chip", has_text="15分钟").click()
    teller.locator("#pause-ok").click()
    t4 = tile(lobby, "4")
    expect(t4).to_have_attribute("data-status", "paused", timeout=1000)
    four = server.api("GET", "state")["counters"][3]
    hhmm = datetime.fromisoformat(four["expected_return"]).astimezone(TZ).strftime("%H:%M")
    expect(t4.locator(".state")).to_have_text("临时暂停")
    expect(t4.locator(".info")).to_have_text("午餐")
    # The teller's time, or the estimator's (corrected for how pauses overrun here) when it gives one.
    est = four["estimate"] or {}
    back = est["text_zh"] if est.get("kind") == "pause" else f"预计{hhmm}恢复"
    assert re.fullmatch(r"预计\d\d:\d\d恢复", back), back
    expect(t4.locator(".info2")).to_have_text(back)
    expect(counter.locator("#info2")).to_have_text(back)

    teller.keyboard.press("u")  # resume
    expect(t4).to_have_attribute("data-status", "free", timeout=1000)
    expect(teller.locator("#badge")).to_have_text("空闲")
    teller.once("dialog", lambda d: d.accept())
    teller.keyboard.press("c")  # close, confirmed
    expect(t4).to_have_attribute("data-status", "closed", timeout=1000)
    expect(t4.locator(".closed-sign")).to_be_visible()
    expect(t4.locator(".closed-sign")).to_have_text("暂停服务")
    assert not TICKET.search(t4.inner_text()), t4.inner_text()
    expect(counter.locator("#sign")).to_be_visible()
    assert not TICKET.search(counter.locator("#face").inner_text())
    grey = t4.evaluate("e => getComputedStyle(e).backgroundColor")
    assert grey == "rgb(26, 31, 36)"  # greyed: the closed look, unlike any working tile


def test_kiosk_ticket_with_qr_and_live_status_page(server: Server, open_page: Any, browser: Any) -> None:
    """The kiosk shows number, people ahead, range and a QR code to the status page; that page
    updates live when the ticket is called."""
    server.post("counters/3/open")
    server.post("tickets", {"service": "B"})
    kiosk = open_page("kiosk", "/kiosk/demo")
    expect(kiosk.locator('.svc-btn[data-service="B"] .count')).to_have_text("等候 1 人")
    kiosk.locator('.svc-btn[data-service="B"]').click()
    expect(kiosk.locator("#result")).to_be_visible()
    expect(kiosk.locator("#r-number")).to_have_text("B002")
    expect(kiosk.locator("#r-ahead")).to_have_text("前面还有 1 人")
    wait = server.api("GET", "tickets/B002").get("wait") or {}
    expect(kiosk.locator("#r-wait")).to_have_text(wait.get("text_zh") or "")
    qr = kiosk.locator("#r-qr")
    expect(qr).to_have_js_property("complete", True)
    assert qr.evaluate("img => img.naturalWidth") > 100
    # The QR code encodes the status page's address.
    svg = urllib.request.urlopen(server.base + qr.get_attribute("src")).read()
    buf = io.BytesIO()
    segno.make(f"{server.base}/t/demo/B002", error="m").save(buf, kind="svg", scale=10, border=2,
                                                             xmldecl=False, svgns=True)
    assert svg == buf.getvalue()
    shot(kiosk, "kiosk-ticket")
    kiosk.emulate_media(media="print")  # the 80 mm receipt: only the ticket, at most 80 mm wide
    expect(kiosk.locator("#screen")).to_be_hidden()
    assert kiosk.locator("#receipt").bounding_box()["width"] <= 80 / 25.4 * 96
    kiosk.pdf(path=str(ARTIFACTS / "kiosk-receipt.pdf"), width="80mm", height="150mm")
    kiosk.emulate_media(media="screen")

    phone = open_page("ticket", "/t/demo/B002")
    expect(phone.locator("#status")).to_have_text("排队中")
    expect(phone.locator("#ahead")).to_have_text("前面还有 1 人")
    shot(phone, "ticket")
    server.post("counters/3/call-next")  # B001
    expect(phone.locator("#ahead")).to_have_text("您是下一位", timeout=1000)
    server.post("counters/3/no-show")
    server.post("counters/3/call-next")  # B002
    expect(phone.locator("#card")).to_have_attribute("data-status", "called", timeout=1000)
    expect(phone.locator("#status")).to_have_text("请到3号窗口办理")
    shot(phone, "ticket-called")
    kiosk.locator("#done").click()
    expect(kiosk.locator("#result")).to_be_hidden()
    shot(kiosk, "kiosk")


def test_screens_reconnect_after_a_server_restart(server: Server, open_page: Any) -> None:
    """With the server down the lobby says so after 10 s; once it is back the lobby reconnects by itself
    and shows the current state, with no reload."""
    server.post("counters/1/open")
    server.post("tickets", {"service": "A"})
    lobby = open_page("lobby", "/display/demo")
    counter = open_page("counter", "/display/demo/counter/1")
    lobby.evaluate("window.__marker = 1")
    server.stop()
    expect(lobby.locator("#bq-lost")).to_be_visible(timeout=14000)
    expect(lobby.locator("#bq-lost")).to_contain_text("连接中断")
    shot(lobby, "lobby-connection-lost")
    server.start()
    server.post("counters/1/call-next")  # a change made after the restart
    expect(lobby.locator("#now-line")).to_have_text("请A001号到1号窗口", timeout=12000)
    expect(lobby.locator("#bq-lost")).to_be_hidden()
    expect(counter.locator("#number")).to_have_text("A001", timeout=12000)
    expect(counter.locator("#bq-lost")).to_be_hidden()
    assert lobby.evaluate("window.__marker") == 1  # same page: reconnected, not reloaded


def test_english_mode(server: Server, open_page: Any) -> None:
    """?lang=en shows the screens in English, with the counters' English names."""
    server.post("counters/2/open")
    server.post("tickets", {"service": "A"})
    server.post("counters/2/call-next")
    lobby = open_page("lobby", "/display/demo?lang=en")
    expect(lobby.locator("html")).to_have_attribute("lang", "en")
    expect(lobby.locator("#now-label")).to_have_text("Now calling")
    expect(lobby.locator("#now-line")).to_have_text("Ticket A001 to Counter 2")
    expect(tile(lobby, "5").locator(".closed-sign")).to_have_text("Closed")
    expect(lobby.locator("#bq-stamp")).to_contain_text("Data as of")
    shot(lobby, "lobby-en")
    kiosk = open_page("kiosk", "/kiosk/demo?lang=en")
    expect(kiosk.locator("#choose")).to_have_text("Choose a service")
    expect(kiosk.locator('.svc-btn[data-service="B"] .nm')).to_have_text("Personal banking")
    teller = open_page("teller", "/teller/demo?counter=2&lang=en")
    expect(teller.locator('button[data-action="start"] span')).to_have_text("Start")


def test_a_long_day_does_not_grow_the_lobby(server: Server, open_page: Any) -> None:
    """An accelerated day (hundreds of customers through five counters) leaves the lobby's DOM the size it was."""
    for c in "12345":
        server.post(f"counters/{c}/open")
    lobby = open_page("lobby", "/display/demo")

    def day(customers: int) -> None:
        for i in range(customers):
            service, counter = [("A", "1"), ("B", "2"), ("V", "4"), ("C", "5"), ("B", "3")][i % 5]
            server.post("tickets", {"service": service})
            server.post(f"counters/{counter}/call-next")
            server.post(f"counters/{counter}/start")
            server.post(f"counters/{counter}/finish", {"wrapup": i % 3 == 0})
            if i % 3 == 0:
                server.post(f"counters/{counter}/wrapup-done")

    count = "() => document.getElementsByTagName('*').length"
    heap = "() => { window.gc(); window.gc(); return performance.memory.usedJSHeapSize; }"
    day(20)
    expect(lobby.locator("#recent li")).to_have_count(3, timeout=3000)
    lobby.wait_for_timeout(300)
    before, heap_before = lobby.evaluate(count), lobby.evaluate(heap)
    day(150)
    expect(tile(lobby, "3").locator(".state")).to_have_text("空闲", timeout=3000)
    lobby.wait_for_timeout(300)
    after, heap_after = lobby.evaluate(count), lobby.evaluate(heap)
    assert after == before, (before, after)
    assert lobby.locator("#recent li").count() == 3
    assert heap_after - heap_before < 1_000_000, (heap_before, heap_after)  # 700 more events: no leak to speak of


@pytest.mark.parametrize("server", ["canned"], indirect=True)
def test_estimate_texts_reach_every_screen(server: Server, open_page: Any) -> None:
    """Whatever the estimator says is shown: the serving and wrap-up texts on the tiles, the join range
    per service on the lobby and kiosk, the ticket's range, why and "turn soon" on the phone."""
    server.post("counters/1/open")
    server.post("counters/2/open")
    for s in "AAB":
        server.post("tickets", {"service": s})
    server.post("counters/1/call-next")
    server.post("counters/1/start")
    server.post("counters/2/call-next")
    server.post("counters/2/start")
    server.post("counters/2/finish", {"wrapup": True})
    lobby = open_page("lobby", "/display/demo")
    expect(tile(lobby, "1").locator(".info")).to_have_text("该客户办理时长大约为5–15分钟")
    expect(tile(lobby, "2").locator(".info")).to_have_text("上笔业务还未办结,仍需3分钟")
    join = {s["id"]: s["join"]["text_zh"] for s in server.api("GET", "state")["services"]}
    expect(lobby.locator('#services [data-key="B"] .wait')).to_have_text(join["B"])
    expect(lobby.locator('#services [data-key="C"] .wait')).to_have_text("暂无窗口办理此业务")
    kiosk = open_page("kiosk", "/kiosk/demo")
    expect(kiosk.locator('.svc-btn[data-service="A"] .wait')).to_have_text(join["A"])
    kiosk.locator('.svc-btn[data-service="A"]').click()
    expect(kiosk.locator("#r-number")).to_have_text("A003")
    wait = server.api("GET", "tickets/A003")["wait"]
    expect(kiosk.locator("#r-wait")).to_have_text(wait["text_zh"])
    phone = open_page("ticket", "/t/demo/B001")
    expect(phone.locator("#wait")).to_have_text(server.api("GET", "tickets/B001")["wait"]["text_zh"])
    expect(phone.locator("#why")).to_have_text("前面还有0人,1个窗口办理")
    expect(phone.locator("#soon")).to_be_visible()  # p_soon 0.9
    counter = open_page("counter", "/display/demo/counter/1?lang=en")
    expect(counter.locator("#info")).to_have_text("This customer: about 5–15 min")


def test_manager_page_alerts_and_screenshots(server: Server, open_page: Any) -> None:
    """The manager page lists connected screens and raises "staffed but not calling"; then every page
    is photographed at its size in a busy branch (the lobby also for the README)."""
    for c in "1234":
        server.post(f"counters/{c}/open")
    for s in "AAAAABBBBBBCVV":
        server.post("tickets", {"service": s})
    server.post("counters/1/call-next")
    server.post("counters/1/start")
    server.post("counters/2/call-next")
    server.post("counters/2/start")
    server.post("counters/2/finish", {"wrapup": True})
    server.post("counters/3/call-next")
    ret = (datetime.now(UTC) + timedelta(minutes=25)).isoformat()
    server.post("counters/4/pause", {"reason": "午餐", "expected_return": ret})
    server.post("counters/3/recall")

    lobby = open_page("lobby", "/display/demo")
    manager = open_page("manager", "/manager/demo?alert=0")  # any wait counts: the paused counter 4 is flagged
    expect(manager.locator("#alerts li").first).to_contain_text("4号窗口", timeout=8000)
    waiting = sum(s["waiting"] for s in server.api("GET", "state")["services"])
    expect(manager.locator("#k-waiting")).to_have_text(str(waiting))
    expect(manager.locator("#screens tr", has_text="大厅屏")).to_have_count(1, timeout=8000)
    expect(manager.locator("#rows .row")).to_have_count(5)
    shot(manager, "manager")
    shot(lobby, "lobby")
    path = shot(lobby, "lobby")
    if os.environ.get("BRANCHQ_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(path, ROOT / "docs" / "lobby.png")


@pytest.mark.parametrize("server", ["twelve"], indirect=True)
def test_a_twelve_counter_lobby_fits_the_screen(server: Server, open_page: Any) -> None:
    """Twelve windows go into two rows: every tile, number and text stays inside the 1920×1080 screen, unclipped."""
    for c in range(1, 12):
        server.post(f"counters/{c}/open")
    for i in range(14):
        server.post("tickets", {"service": "A" if i % 2 else "B"})
    for c in range(1, 10):
        server.post(f"counters/{c}/call-next")
    for c in (1, 2, 4, 5):
        server.post(f"counters/{c}/start")
    server.post("counters/10/pause", {"reason": "午餐", "expected_return": (datetime.now(TZ) + timedelta(minutes=30)).isoformat()})
    server.post("counters/11/close")
    lobby = open_page("lobby", "/display/demo")
    expect(tile(lobby, "9").locator(".number")).to_have_text(TICKET)
    shot(lobby, "lobby-12")
    boxes = lobby.evaluate("""() => [...document.querySelectorAll('#tiles .tile')].map(t => ({
        top: t.getBoundingClientRect().top, bottom: t.getBoundingClientRect().bottom,
        right: t.getBoundingClientRect().right,
        clipped: [...t.querySelectorAll('.name, .number, .state, .closed-sign')].some(e => e.scrollWidth > e.clientWidth + 1)
                 || t.scrollHeight > t.clientHeight + 1}))""")
    services_top = lobby.evaluate("() => document.getElementById('services').getBoundingClientRect().top")
    assert len(boxes) == 12
    assert len({round(b["top"]) for b in boxes}) == 2, "two rows of tiles"
    assert all(b["bottom"] <= services_top and b["right"] <= 1920 for b in boxes), boxes
    assert not any(b["clipped"] for b in boxes), [i + 1 for i, b in enumerate(boxes) if b["clipped"]]
    recent = lobby.evaluate("""() => { const p = document.querySelector('.calling .recent').getBoundingClientRect();
        return [...document.querySelectorAll('#recent li')].every(li => li.getBoundingClientRect().bottom <= p.bottom); }""")
    assert recent, "the earlier calls fit beside the banner"


def test_teller_signs_in_through_the_form_and_acts(server: Server, open_page: Any) -> None:
    """Not signed in, the teller console sends the teller to the sign-in form; once signed in they are back
    on the console with an HttpOnly session, their call reaches the counter display, and the audit names them."""
    server.post("tickets", {"service": "B"})
    counter = open_page("counter", "/display/demo/counter/2")
    teller = open_page("teller", "/teller/demo?counter=2", connected=False, signed_in=False)
    expect(teller).to_have_url(re.compile(r"/login\?next="))
    teller.fill("#name", "teller2")
    teller.fill("#password", "not-the-password")
    teller.click("#submit")
    expect(teller.locator(".err")).to_contain_text("Wrong user name or password")
    teller.fill("#password", demo_credentials(server.data_dir)["users"]["teller2"]["password"])
    teller.click("#submit")
    expect(teller).to_have_url(re.compile(r"/teller/demo\?counter=2$"))
    expect(teller.locator("#bq-stamp")).to_contain_text(re.compile(r"\d\d:\d\d:\d\d"), timeout=5000)
    assert teller.evaluate("document.cookie") == ""  # the session cookie is out of scripts' reach
    expect(teller.locator("#who")).to_have_text("teller2")
    teller.keyboard.press("o")
    expect(teller.locator("#badge")).to_have_text("空闲")
    teller.keyboard.press("n")
    expect(counter.locator("#number")).to_have_text("B001", timeout=2000)
    req = urllib.request.Request(f"{server.base}/api/v1/branches/demo/audit?format=jsonl", headers=server.headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        calls = [json.loads(line) for line in r.read().decode().splitlines()]
    called = [e for e in calls if e["type"] == "called"]
    assert [(e["ticket"], e["actor"]) for e in called] == [("B001", "user:teller2")]


def test_a_screen_keeps_its_device_token_and_says_when_it_has_none(server: Server, open_page: Any) -> None:
    """A lobby opened once with ?token= drops it from the address bar and still connects after a reload;
    one opened without a token shows why it stays empty."""
    lobby = open_page("lobby", "/display/demo")
    assert "token" not in lobby.url
    lobby.reload()
    expect(lobby.locator("#bq-stamp")).to_contain_text(re.compile(r"\d\d:\d\d:\d\d"), timeout=5000)
    bare = open_page("lobby", "/display/demo", connected=False, signed_in=False)
    expect(bare.locator("#bq-lost")).to_be_visible(timeout=5000)
    expect(bare.locator("#bq-lost")).to_contain_text("设备令牌")
