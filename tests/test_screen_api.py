"""The screens' extra routes: the day's figures and alerts, ticket QR codes, receipt printing."""

from __future__ import annotations

import pytest
from escpos.printer import Dummy

from server.printer import Receipt, print_receipt
from tests.serverkit import API, client

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


def _serve_one(c, clock, counter: str, service: str, wait_s: float, service_s: float) -> str:
    number = c.post(f"{API}/tickets", json={"service": service}).json()["ticket"]
    clock.advance(wait_s)
    assert c.post(f"{API}/counters/{counter}/call-next").status_code == 200
    clock.advance(10)
    c.post(f"{API}/counters/{counter}/start")
    clock.advance(service_s)
    c.post(f"{API}/counters/{counter}/finish")
    return number


def test_figures_count_waits_service_and_share_within_ten_minutes(tmp_path, clock):
    """Figures give per-counter served and mean service, and the share of last hour's calls within 10 min."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/counters/1/open")
        _serve_one(c, clock, "1", "A", wait_s=120, service_s=300)
        _serve_one(c, clock, "1", "A", wait_s=900, service_s=100)
        f = c.get(f"{API}/figures").json()
    one = next(x for x in f["counters"] if x["id"] == "1")
    assert (one["served"], one["mean_service_s"], one["mean_wait_s"]) == (2, 200.0, 510.0)
    assert (f["called_last_hour"], f["within_10_min_share"]) == (2, 0.5)
    assert [s["status"] for s in one["timeline"]] == ["free", "calling", "serving", "free", "calling", "serving", "free"]
    assert one["timeline"][-1]["to"] is None


def test_staffed_but_not_calling_alert(tmp_path, clock):
    """An open, free counter whose service has someone waiting over N minutes raises an alert; a call clears it."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/counters/2/open")
        c.post(f"{API}/tickets", json={"service": "B"})
        clock.advance(4 * 60)
        assert c.get(f"{API}/figures?alert_after=5").json()["alerts"] == []
        clock.advance(2 * 60)
        f = c.get(f"{API}/figures?alert_after=5").json()
        assert [(a["counter"], a["oldest_ticket"], a["status"]) for a in f["alerts"]] == [("2", "B001", "free")]
        assert f["longest_wait_s"] == 360.0
        c.post(f"{API}/counters/2/call-next")
        assert c.get(f"{API}/figures?alert_after=5").json()["alerts"] == []


def test_ticket_qr_is_an_svg_for_issued_tickets_only(tmp_path, clock):
    """The QR route answers an SVG for an issued ticket and 404 for one never issued."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        r = c.get(f"{API}/tickets/A001/qr.svg")
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in r.content
        assert c.get(f"{API}/tickets/A999/qr.svg").status_code == 404


def test_print_without_printer_is_404_and_with_one_writes_escpos(tmp_path, clock):
    """Without BRANCHQ_PRINTER the kiosk is told to print itself; with one, the receipt goes to the printer."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "B"})
        assert c.post(f"{API}/tickets/B001/print").status_code == 404
    dummy = Dummy()
    with client(tmp_path, clock, printer="10.0.0.9:9100", public_url="http://queue.branch.lan") as c:
        c.app.state.printer_factory = lambda: dummy
        r = c.post(f"{API}/tickets/B001/print", json={"lang": "zh"})
        assert r.status_code == 200, r.json()
    out = dummy.output
    assert b"B001" in out and "个人综合业务".encode("gb18030") in out
    assert b"http://queue.branch.lan/t/demo/B001" in out
    assert b"\x1dV" in out  # cut


def test_receipt_in_english():
    """An English receipt says how many are ahead in English."""
    d = Dummy()
    print_receipt(d, Receipt("Demo", "A003", "Cash", 2, "About 5-10 min", "09:12", "http://x/t/demo/A003", "en"))
    assert b"2 ahead of you" in d.output and b"About 5-10 min" in d.output


def test_estimates_without_a_number_are_still_json():
    """An estimate with NaN bounds (no counter serves the class) becomes null, so browsers can parse the view."""
    import json
    import math

    from server.core.estimates import WaitEstimate
    from server.core.view import estimate_dict

    d = estimate_dict(WaitEstimate(math.nan, math.nan, math.inf, "暂无窗口办理此业务", "No counter", available=False,
                                   p_soon=math.nan))
    assert (d["expected_s"], d["low_s"], d["high_s"], d["p_soon"]) == (None, None, None, 0.0)
    json.dumps(d, allow_nan=False)


def test_simulator_reports_are_served_for_the_manager_page(tmp_path, clock):
    """The manager page's link /reports/ serves the simulator's report folder, and 404s while there is none."""
    with client(tmp_path, clock, reports_dir=tmp_path / "missing") as c:
        assert c.get("/reports/").status_code == 404
    (tmp_path / "reports" / "busy").mkdir(parents=True)
    (tmp_path / "reports" / "busy" / "index.html").write_text("<h1>busy</h1>", encoding="utf-8")
    with client(tmp_path, clock, reports_dir=tmp_path / "reports") as c:
        r = c.get("/reports/busy/")
        assert r.status_code == 200 and "busy" in r.text
        assert 'href="busy/index.html"' in c.get("/reports/").text  # a list when the folder has no index
