"""The audit trail, rate limits, CORS and security headers."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.serverkit import API, auth, bearer, client, stored_events, token

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


def test_every_event_names_who_caused_it_in_the_export_and_the_audit(tmp_path, clock):
    """A kiosk's ticket, a teller's call and the day's close-out carry their actors, in the JSONL export
    (an extra field) and in the CSV audit."""
    with client(tmp_path, clock) as c:
        kiosk = token(c, "kiosk", name="kiosk-1")
        c.post(f"{API}/counters/2/open")
        c.post(f"{API}/tickets", json={"service": "B"}, headers=bearer(kiosk))
        c.post(f"{API}/counters/2/call-next", headers=auth(c, "teller", counter="2", name="li"))
        events = [json.loads(line) for line in stored_events(c)]
        admin = c.get("/api/v1/session").json()["actor"]
        assert [(e["type"], e["actor"]) for e in events] == [
            ("branch_config", admin), ("counter_opened", admin), ("ticket_issued", "device:kiosk-1"),
            ("called", "user:li")]
        r = c.get(f"{API}/audit", params={"format": "csv"}, headers=auth(c, "manager"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [(row["seq"], row["type"], row["actor"], row["ticket"]) for row in rows[2:]] == [
            ("3", "ticket_issued", "device:kiosk-1", "B001"), ("4", "called", "user:li", "B001")]
        jsonl = c.get(f"{API}/audit").text.splitlines()
        assert [json.loads(line)["actor"] for line in jsonl] == [e["actor"] for e in events]


def test_no_api_edits_or_deletes_events(tmp_path, clock):
    """PUT, PATCH and DELETE on the event log (or one event) are refused, and the log is unchanged."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        before = stored_events(c)
        for method in ("PUT", "PATCH", "DELETE"):
            for path in (f"{API}/events", f"{API}/events/1", f"{API}/audit"):
                r = c.request(method, path, json={"type": "ticket_issued"})
                assert r.status_code in (404, 405), (method, path, r.status_code)
        assert stored_events(c) == before


def test_a_kiosk_is_rate_limited_with_a_clear_429(tmp_path, clock):
    """Past its per-minute allowance a kiosk gets 429 with Retry-After; a minute later it issues again;
    another kiosk is not affected."""
    with client(tmp_path, clock, kiosk_tickets_per_minute=3) as c:
        kiosk, other = bearer(token(c, "kiosk")), bearer(token(c, "kiosk"))
        codes = [c.post(f"{API}/tickets", json={"service": "A"}, headers=kiosk).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        r = c.post(f"{API}/tickets", json={"service": "A"}, headers=kiosk)
        assert r.json()["error"] == "rate_limited" and "at most 3 a minute" in r.json()["message"]
        assert r.headers["retry-after"] == "20"
        assert c.post(f"{API}/tickets", json={"service": "A"}, headers=other).status_code == 201
        clock.advance(20)
        assert c.post(f"{API}/tickets", json={"service": "A"}, headers=kiosk).status_code == 201
        assert len([e for e in stored_events(c) if '"ticket_issued"' in e]) == 5  # nothing issued by a 429


def test_the_mobile_page_is_closed_by_default_and_limited_per_address(tmp_path, clock):
    """Without sign-in a ticket is refused unless mobile tickets are on; then each address gets its allowance."""
    with client(tmp_path, clock, role=None) as c:
        assert c.post(f"{API}/tickets", json={"service": "A", "channel": "mobile"}).status_code == 401
    with client(tmp_path / "open", clock, role=None, mobile_tickets=True, mobile_tickets_per_minute=2) as c:
        assert c.post(f"{API}/tickets", json={"service": "A"}).status_code == 401  # only channel mobile
        codes = [c.post(f"{API}/tickets", json={"service": "A", "channel": "mobile"}).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        last = c.post(f"{API}/tickets", json={"service": "A", "channel": "mobile"})
        assert last.headers["retry-after"] == "30"
        c.headers.update(auth(c, "admin"))
        events = [json.loads(e) for e in stored_events(c)]
        assert [e.get("actor") for e in events if e["type"] == "ticket_issued"] == ["public:mobile"] * 2


def test_sign_in_attempts_are_rate_limited_per_address(tmp_path, clock):
    """Guessing passwords: after the per-minute allowance the next attempt is a 429, right or wrong."""
    with client(tmp_path, clock, role=None, sign_ins_per_minute=3) as c:
        c.app.state.accounts.add_user("li", "teller", ["demo"], "right-password")
        codes = [c.post("/api/v1/session", json={"name": "li", "password": "guess-guess"}).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 401]
        r = c.post("/api/v1/session", json={"name": "li", "password": "right-password"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_cors_is_closed_unless_an_origin_is_listed(tmp_path, clock):
    """A preflight from another origin gets no Access-Control-Allow-Origin by default; a listed origin does."""
    preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
    with client(tmp_path, clock) as c:
        r = c.options(f"{API}/tickets", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.get(f"{API}/state", headers={"Origin": preflight["Origin"]}).headers
    with client(tmp_path, clock, cors_origins=["http://elsewhere.example"]) as c:
        r = c.options(f"{API}/tickets", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://elsewhere.example"
        other = c.options(f"{API}/tickets", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_pages_carry_security_headers_and_a_strict_csp(tmp_path, clock):
    """Every page says nosniff, no framing and same-origin referrers; the screens' CSP allows no inline code."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        for path in ("/display/demo", "/kiosk/demo", "/t/demo/A001", "/teller/demo", "/login"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "same-origin"
            csp = r.headers["content-security-policy"]
            assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert c.get(f"{API}/state").headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in c.get("/docs").headers["content-security-policy"]
