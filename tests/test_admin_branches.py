"""Many branches in one deployment: configs through the admin API, live without a restart, fully isolated."""

from __future__ import annotations

import json

import pytest

from tests.serverkit import auth, client, stored_events

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL
ADMIN = "/api/v1/admin/branches"
NORTH = {
    "name": "北区支行", "timezone": "Asia/Shanghai",
    "services": [{"id": "A", "name": "现金", "prefix": "A"}, {"id": "B", "name": "个人", "prefix": "B"}],
    "counters": [{"id": "1", "name": "1号窗口", "services": ["A", "B"]}],
}
NORTH_TOML = """
name = "北区支行"
[[services]]
id = "A"
name = "现金"
prefix = "A"
[[counters]]
id = "1"
name = "1号窗口"
services = ["A"]
"""


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock) as c:
        yield c


def _recv(ws):
    return json.loads(ws.receive_text())


def test_a_branch_added_through_the_api_is_live_at_once_and_after_a_restart(tmp_path, clock):
    """PUT a new branch: 201, it takes tickets right away, and it is loaded again at the next start-up."""
    with client(tmp_path, clock) as c:
        created = c.put(f"{ADMIN}/north", json=NORTH)
        assert created.status_code == 201 and created.json()["source"] == "database"
        assert c.post("/api/v1/branches/north/tickets", json={"service": "B"}).json()["ticket"] == "B001"
        assert {b["branch"]: b["source"] for b in c.get(ADMIN).json()} == {"demo": "file", "north": "database"}
    with client(tmp_path, clock) as c:
        assert c.get(f"{ADMIN}/north").json()["config"]["name"] == "北区支行"
        assert c.post("/api/v1/branches/north/tickets", json={"service": "B"}).json()["ticket"] == "B002"


def test_a_changed_config_is_in_force_and_in_the_log(c):
    """PUT again (as TOML): 200, the new set-up is what the branch serves, and its log records it at once."""
    assert c.put(f"{ADMIN}/north", json=NORTH).status_code == 201
    c.post("/api/v1/branches/north/tickets", json={"service": "B"})
    changed = c.put(f"{ADMIN}/north", content=NORTH_TOML.encode(), headers={"Content-Type": "application/toml"})
    assert changed.status_code == 200, changed.text
    assert [s["id"] for s in c.get("/api/v1/branches/north/services").json()] == ["A"]
    types = [json.loads(line)["type"] for line in stored_events(c, "north")]
    assert types == ["branch_config", "ticket_issued", "branch_config"]


@pytest.mark.parametrize(("body", "headers", "says"), [
    ({**NORTH, "counters": [{"id": "1", "name": "1", "services": ["Z"]}]}, None, "Z"),
    ({**NORTH, "branch": "south"}, None, "must match"),
    ({**NORTH, "services": []}, None, "at least one service"),
    (b"name = ", {"Content-Type": "application/toml"}, "not valid TOML"),
    (b"{not json", None, "not valid JSON"),
    (b"[1, 2]", None, "must be a table"),
    ({**NORTH, "name": "北区\u0000支行"}, None, "no control characters"),
    ({**NORTH, "counters": [{"id": "1", "name": "1号\n窗口", "services": ["A"]}]}, None, "Counter '1'"),
    ({**NORTH, "counters": [{"id": "1/2", "name": "1", "services": ["A"]}]}, None, "Counter id '1/2' is not allowed"),
    ({**NORTH, "services": [{"id": "A", "name": "现" * 65, "prefix": "A"}]}, None, "up to 64 printable"),
])
def test_a_bad_config_is_a_clear_422_and_changes_nothing(c, body, headers, says):
    """Each kind of bad config gets a 422 saying what is wrong; no branch appears."""
    if isinstance(body, dict):
        r = c.put(f"{ADMIN}/north", json=body)
    else:
        r = c.put(f"{ADMIN}/north", content=body, headers=headers or {"Content-Type": "application/json"})
    assert r.status_code == 422 and says in r.json()["message"], r.text
    assert c.get(f"{ADMIN}/north").status_code == 404
    assert c.get("/api/v1/branches/north/state").status_code == 404


def test_a_file_configured_branch_is_read_only_here(c):
    """The demo branch comes from a file: the API shows its config but refuses to change it (409)."""
    assert c.get(f"{ADMIN}/demo").json()["config"]["branch"] == "demo"
    r = c.put(f"{ADMIN}/demo", json={**NORTH, "branch": "demo"})
    assert r.status_code == 409 and "file" in r.json()["message"]


def test_only_an_admin_may_manage_branches(c):
    """A branch manager is refused (403) both reading and saving branch configs; nothing is created."""
    manager = auth(c, "manager")
    assert c.get(ADMIN, headers=manager).status_code == 403
    assert c.put(f"{ADMIN}/north", json=NORTH, headers=manager).status_code == 403
    assert c.get(f"{ADMIN}/north").status_code == 404


def test_one_branchs_events_never_reach_another_branchs_screens_state_or_export(c):
    """Actions at north reach north's screen only; demo's screen, state, numbering and export never see them."""
    assert c.put(f"{ADMIN}/north", json=NORTH).status_code == 201
    with c.websocket_connect("/ws/v1/branches/demo") as demo_ws, \
            c.websocket_connect("/ws/v1/branches/north") as north_ws:
        assert (_recv(demo_ws)["seq"], _recv(north_ws)["branch"]) == (0, "north")
        for _ in range(3):
            c.post("/api/v1/branches/north/tickets", json={"service": "A"})
        c.post("/api/v1/branches/north/counters/1/open")
        c.post("/api/v1/branches/north/counters/1/call-next")
        c.post("/api/v1/branches/demo/tickets", json={"service": "A"})
        demo_msgs = [_recv(demo_ws) for _ in range(2)]  # demo's own: its set-up and its ticket
        north_msgs = [_recv(north_ws) for _ in range(6)]
    assert [(m["seq"], m["event"]["type"]) for m in demo_msgs] == [(1, "branch_config"), (2, "ticket_issued")]
    assert demo_msgs[0]["event"]["branch"] == "demo" and demo_msgs[1]["event"]["ticket"] == "A001"
    assert [m["event"]["type"] for m in north_msgs][-2:] == ["counter_opened", "called"]
    assert all(m["view"] is None or m["view"]["branch"] == "north" for m in north_msgs)
    demo_state = c.get("/api/v1/branches/demo/state").json()
    assert [t["ticket"] for t in demo_state["services"][0]["tickets"]] == ["A001"]
    assert all(counter["status"] == "closed" for counter in demo_state["counters"])
    demo_log = [json.loads(line) for line in stored_events(c, "demo")]
    assert [e["type"] for e in demo_log] == ["branch_config", "ticket_issued"] and demo_log[0]["branch"] == "demo"
    north_log = stored_events(c, "north")
    assert len(north_log) == 6 and not any('"demo"' in line for line in north_log)
