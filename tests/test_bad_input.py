"""Bad input gets a clear error and changes nothing stored."""

from __future__ import annotations

import pytest

from tests.serverkit import API, client, stored_events

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        yield c


def _unchanged(c, before):
    assert stored_events(c) == before


def test_unknown_service_is_422_naming_the_offered_services(c):
    """A ticket for a service the branch does not offer names the ones it does."""
    before = stored_events(c)
    r = c.post(f"{API}/tickets", json={"service": "Z"})
    assert r.status_code == 422
    assert r.json() == {"error": "invalid_input", "message": "Unknown service 'Z'; this branch offers: A, B, C, V.",
                        "message_zh": "没有'Z'这项业务;本网点可办理: A, B, C, V。"}
    _unchanged(c, before)


def test_unknown_channel_names_the_allowed_values(c):
    """FastAPI's own validation error becomes a sentence listing the allowed channels."""
    r = c.post(f"{API}/tickets", json={"service": "A", "channel": "fax"})
    assert r.status_code == 422
    assert "'kiosk', 'mobile', 'staff' or 'appointment'" in r.json()["message"]


def test_action_on_a_closed_counter_is_409_with_a_sentence(c):
    """Calling at a closed counter tells the teller to open it first."""
    before = stored_events(c)
    r = c.post(f"{API}/counters/3/call-next")
    assert r.status_code == 409
    assert r.json()["message"] == "Counter 3 is closed; open it before calling the next ticket."
    assert r.json()["message_zh"] == "3号窗口已关闭,请先开窗。"
    _unchanged(c, before)


def test_malformed_json_body_is_422(c):
    """A body that is not JSON is a 422 that says so, never a 500."""
    before = stored_events(c)
    r = c.post(f"{API}/tickets", content=b'{"service": "A"', headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["message"].startswith("The body is not valid JSON")
    _unchanged(c, before)


@pytest.mark.parametrize("body, message", [
    (None, "A JSON body is required."),
    ([1, 2], "The body must be a JSON object."),
    ({"service": "A", "colour": "red"}, "Unknown field 'colour'."),
])
def test_wrong_body_shapes_are_422(c, body, message):
    """Missing, non-object and over-complete bodies each get their own sentence."""
    r = c.post(f"{API}/tickets", json=body)
    assert (r.status_code, r.json()["message"]) == (422, message)


def test_action_parameters_are_checked_against_the_action(c):
    """transfer needs a service; call-next takes none; unknown actions list the allowed ones."""
    c.post(f"{API}/counters/1/open")
    assert c.post(f"{API}/counters/1/transfer").json()["message"] == "'transfer' needs service."
    r = c.post(f"{API}/counters/1/call-next", json={"reason": "x"})
    assert (r.status_code, r.json()["message"]) == (422, "'call-next' does not take reason; its parameters: none.")
    r = c.post(f"{API}/counters/1/dance")
    assert r.status_code == 422 and "allowed: open, close, pause" in r.json()["message"]


def test_pause_return_needs_a_utc_offset(c):
    """An expected return time without an offset is refused with an example."""
    c.post(f"{API}/counters/1/open")
    before = stored_events(c)
    r = c.post(f"{API}/counters/1/pause", json={"expected_return": "2026-12-01T10:30:00"})
    assert r.status_code == 422 and "UTC offset" in r.json()["message"]
    _unchanged(c, before)


@pytest.mark.parametrize("url, message", [
    ("/api/v1/branches/nowhere/state", "Unknown branch 'nowhere'; this server runs: demo."),
    (f"{API}/tickets/A999", "Ticket A999 was not issued today."),
])
def test_unknown_branch_and_ticket_are_404(c, url, message):
    """Unknown names in the path are 404 with a sentence."""
    r = c.get(url)
    assert (r.status_code, r.json()["message"]) == (404, message)


def test_unknown_counter_is_404(c):
    """An action at a counter the branch does not have names its counters."""
    r = c.post(f"{API}/counters/9/open")
    assert (r.status_code, r.json()["message"]) == (404, "Unknown counter '9'; this branch has counters: 1, 2, 3, 4, 5.")


def test_oversized_body_is_413(c):
    """A body over the cap is refused before it is read."""
    before = stored_events(c)
    r = c.post(f"{API}/tickets", content=b'{"service": "' + b"A" * 100_000 + b'"}',
               headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")
    _unchanged(c, before)


def test_broken_log_line_imports_nothing_and_names_the_line(c, clock):
    """A log with a malformed line stores none of its lines; the error names the line."""
    before = stored_events(c)
    log = ('{"ts": "2026-12-01T09:10:00+08:00", "type": "ticket_issued", "ticket": "A002", "service": "A"}\n'
           '{"ts": "2026-12-01T09:11:00+08:00", "type": "called", "ticket": "A002"\n')
    r = c.post(f"{API}/events", content=log.encode())
    assert r.status_code == 422
    assert (r.json()["line"], r.json()["message"].split(":")[0]) == (2, "line 2")
    _unchanged(c, before)


def test_log_contradicting_the_history_imports_nothing(c, clock):
    """A log calling a ticket that was never issued is refused at that line."""
    before = stored_events(c)
    clock.advance(minutes=15)  # the log's events have happened
    log = ('{"ts": "2026-12-01T09:10:00+08:00", "type": "counter_opened", "counter": "1"}\n'
           '{"ts": "2026-12-01T09:11:00+08:00", "type": "called", "ticket": "A777", "counter": "1"}\n')
    r = c.post(f"{API}/events", content=log.encode())
    assert r.status_code == 422 and r.json()["message"] == "line 2: unknown ticket A777: it was never issued"
    _unchanged(c, before)


def test_double_click_with_an_idempotency_key_calls_one_ticket(c):
    """The same Idempotency-Key twice gives the same answer and one stored call."""
    c.post(f"{API}/tickets", json={"service": "A"})
    c.post(f"{API}/counters/1/open")
    first = c.post(f"{API}/counters/1/call-next", headers={"Idempotency-Key": "click-1"})
    before = stored_events(c)
    second = c.post(f"{API}/counters/1/call-next", headers={"Idempotency-Key": "click-1"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    _unchanged(c, before)


def test_idempotency_key_survives_a_restart(tmp_path, clock):
    """The stored answer comes from the database after a restart, not only from memory."""
    with client(tmp_path, clock) as c:
        first = c.post(f"{API}/tickets", json={"service": "B"}, headers={"Idempotency-Key": "kiosk-7"})
    with client(tmp_path, clock) as c:
        again = c.post(f"{API}/tickets", json={"service": "B"}, headers={"Idempotency-Key": "kiosk-7"})
        assert (again.status_code, again.json()) == (201, first.json())
        assert len(stored_events(c)) == 2


def test_idempotency_key_reused_for_another_request_is_422(c):
    """A key already used for another action is refused rather than answering the wrong thing."""
    c.post(f"{API}/tickets", json={"service": "A"}, headers={"Idempotency-Key": "k"})
    r = c.post(f"{API}/tickets", json={"service": "B"}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 422 and "already used for another request" in r.json()["message"]


def test_idempotency_key_with_a_control_character_is_422_not_a_storage_error(c):
    """A key with a NUL or a line break is refused as input (PostgreSQL could not store it: it answered 503)."""
    before = stored_events(c)
    for key in ["k\u0000", "tab\tbetween"]:
        r = c.post(f"{API}/tickets", json={"service": "A"}, headers={"Idempotency-Key": key})
        assert r.status_code == 422, (key, r.text)
        assert "printable characters" in r.json()["message"]
    assert c.post(f"{API}/tickets", json={"service": "A"}, headers={"Idempotency-Key": "x" * 129}).status_code == 422
    _unchanged(c, before)


def test_a_key_too_old_for_memory_is_caught_by_the_store(c):
    """A repeated key the service no longer remembers still returns the stored answer and stores nothing."""
    c.post(f"{API}/counters/1/open")
    first = c.post(f"{API}/counters/1/call-next", headers={"Idempotency-Key": "old-click"})
    c.app.state.services["demo"]._remembered.clear()  # as if a thousand newer keys had pushed it out
    c.post(f"{API}/counters/1/no-show")  # the counter is free again: a new call would succeed
    c.post(f"{API}/tickets", json={"service": "A"})
    before, state = stored_events(c), c.get(f"{API}/state").json()
    again = c.post(f"{API}/counters/1/call-next", headers={"Idempotency-Key": "old-click"})
    assert (again.status_code, again.json()) == (200, first.json())
    _unchanged(c, before)
    assert c.get(f"{API}/state").json()["counters"][0] == state["counters"][0]


@pytest.mark.parametrize("line, reason", [
    (b"\xff\xfe{}", "line 1: not UTF-8"),
    (b'{"ts": "2026-12-01T09:00:00+08:00", "type": "counter_opened", "counter": "1", "services": 5}',
     "line 1: 'services' of 'counter_opened' must be a list of service ids"),
    (b'{"ts": "9999-12-31T23:59:59-12:00", "type": "abandoned", "ticket": "A001"}', "line 1: '9999-12-31T23:59:59-12:00' is out of range"),
])
def test_odd_log_lines_are_named_not_500(c, line, reason):
    """Bytes that are not UTF-8, a field of the wrong type and an unrepresentable time each name the line."""
    before = stored_events(c)
    r = c.post(f"{API}/events", content=line + b"\n")
    assert r.status_code == 422 and r.json()["message"].startswith(reason)
    _unchanged(c, before)


def test_counter_screen_of_an_unknown_counter_is_404(c):
    """The counter display URL checks the counter exists."""
    r = c.get("/display/demo/counter/99")
    assert r.status_code == 404 and "this branch has counters: 1, 2, 3, 4, 5" in r.json()["message"]
