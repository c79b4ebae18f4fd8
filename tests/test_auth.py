"""Roles and credentials: who may use which route family, and clear 401/403 answers otherwise."""

from __future__ import annotations

import io
import json
import re

import pytest
from starlette.websockets import WebSocketDisconnect

from server.core.access import Permission, Principal, Role, check
from server.core.errors import Forbidden
from tests.serverkit import API, auth, bearer, client, token, use_data_dir

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL

WS = "/ws/v1/branches/demo"


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock, role=None) as c:
        admin = auth(c, "admin")
        c.post(f"{API}/counters/2/open", headers=admin)
        c.post(f"{API}/counters/3/open", headers=admin)
        c.post(f"{API}/tickets", json={"service": "B"}, headers=admin)
        yield c


# One request per route family; a role's headers decide the answer.
ROUTES = {
    "state": ("GET", f"{API}/state", None),
    "services": ("GET", f"{API}/services", None),
    "issue": ("POST", f"{API}/tickets", {"service": "B"}),
    "act": ("POST", f"{API}/counters/2/recall", None),
    "figures": ("GET", f"{API}/figures", None),
    "screens": ("GET", f"{API}/screens", None),
    "events": ("GET", f"{API}/events", None),
    "audit": ("GET", f"{API}/audit", None),
    "devices": ("GET", f"{API}/devices", None),
    "users": ("GET", "/api/v1/users", None),
}
ALLOWED = {
    "admin": set(ROUTES),
    "manager": set(ROUTES) - {"users"},
    "teller": {"state", "services", "issue", "act", "figures"},
    "kiosk": {"state", "services", "issue"},
    "display": {"state", "services"},
}


def _call(c, family, headers):
    method, path, body = ROUTES[family]
    return c.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_role_reaches_its_route_families_and_no_others(c, role):
    """Every route family answers a role it allows and refuses the others with 403 and a sentence naming the role."""
    c.post(f"{API}/counters/2/call-next", headers=auth(c, "admin"))
    headers = auth(c, role, counter="2") if role == "teller" else auth(c, role)
    for family in ROUTES:
        r = _call(c, family, headers)
        if family in ALLOWED[role]:
            assert r.status_code in (200, 201), (role, family, r.text)
        else:
            assert r.status_code == 403, (role, family, r.status_code)
            assert r.json()["error"] == "forbidden" and f"A {role} may not" in r.json()["message"]


def test_without_credentials_every_route_but_the_public_ones_is_401(c):
    """No credentials: 401 with WWW-Authenticate and a sentence saying how to sign in; health and
    a ticket's own status stay public."""
    for family in ROUTES:
        r = _call(c, family, {})
        assert r.status_code == 401, family
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "Sign in first" in r.json()["message"]
    assert c.get("/api/v1/health").status_code == 200
    public = c.get(f"{API}/tickets/B001").json()
    assert (public["ticket"], public["service_name_en"], public["branch_name"]) == ("B001", "Personal banking", "演示支行")
    assert c.get(f"{API}/tickets/B001/qr.svg").status_code == 200


def test_a_teller_acts_only_on_the_counter_they_are_signed_in_to(c):
    """A teller signed in to counter 2 calls there; on counter 3 gets a 403 naming counter 2."""
    teller = auth(c, "teller", counter="2")
    assert c.post(f"{API}/counters/2/call-next", headers=teller).json()["ticket"] == "B001"
    r = c.post(f"{API}/counters/3/call-next", headers=teller)
    assert r.status_code == 403
    assert r.json()["message"].startswith("You are signed in to counter 2; a teller may act only on that counter")


def test_a_teller_moves_to_another_counter_by_signing_in_to_it(c):
    """PUT /session/counter moves the teller's session; then the new counter is theirs and the old one is not."""
    tok = token(c, "teller")
    r = c.post(f"{API}/counters/3/call-next", headers=bearer(tok))
    assert r.status_code == 403 and "not signed in to a counter" in r.json()["message"]
    moved = c.put("/api/v1/session/counter", json={"branch": "demo", "counter": "3"}, headers=bearer(tok))
    assert moved.status_code == 200 and moved.json()["counter"] == "3"
    assert c.get("/api/v1/session", headers=bearer(tok)).json()["counter"] == "3"
    assert c.post(f"{API}/counters/3/call-next", headers=bearer(tok)).json()["ticket"] == "B001"
    assert c.post(f"{API}/counters/2/call-next", headers=bearer(tok)).status_code == 403
    bad = c.put("/api/v1/session/counter", json={"branch": "demo", "counter": "99"}, headers=bearer(tok))
    assert bad.status_code == 404


def test_one_teller_per_counter_the_newcomer_takes_it_over(c):
    """A second teller signing in to counter 2 takes it over: named in the answer, the first is refused there."""
    first = token(c, "teller", counter="2", name="zhang")
    second = token(c, "teller", name="li")
    moved = c.put("/api/v1/session/counter", json={"branch": "demo", "counter": "2"}, headers=bearer(second))
    assert (moved.status_code, moved.json()["took_over_from"]) == (200, ["zhang"])
    refused = c.post(f"{API}/counters/2/call-next", headers=bearer(first))
    assert refused.status_code == 403 and "not signed in to a counter" in refused.json()["message"]
    assert c.get("/api/v1/session", headers=bearer(first)).json()["counter"] is None
    assert c.post(f"{API}/counters/2/call-next", headers=bearer(second)).json()["ticket"] == "B001"
    other = c.put("/api/v1/session/counter", json={"branch": "demo", "counter": "3"}, headers=bearer(first))
    assert other.json()["took_over_from"] == []  # counter 3 was nobody's


def test_a_manager_reaches_only_their_branches(c):
    """A manager of another branch gets 403 on this one, naming the branches they have."""
    r = c.get(f"{API}/state", headers=auth(c, "manager", branch="north"))
    assert r.status_code == 403
    assert "has no access to branch 'demo' (theirs: north)" in r.json()["message"]
    assert c.get(f"{API}/state", headers=auth(c, "manager", branch=["north", "demo"])).status_code == 200
    assert c.get("/api/v1/branches", headers=auth(c, "display", branch="north")).json() == []


def test_a_revoked_device_token_is_refused_at_once(c):
    """A manager revokes the kiosk: its next request is a 401 saying the token was revoked."""
    manager = auth(c, "manager")
    made = c.post(f"{API}/devices", json={"id": "kiosk-7", "role": "kiosk"}, headers=manager).json()
    assert made["open"] == f"/kiosk/demo?token={made['token']}"
    kiosk = bearer(made["token"])
    assert c.post(f"{API}/tickets", json={"service": "A"}, headers=kiosk).status_code == 201
    assert c.delete(f"{API}/devices/kiosk-7", headers=manager).status_code == 204
    r = c.post(f"{API}/tickets", json={"service": "A"}, headers=kiosk)
    assert r.status_code == 401
    assert r.json()["message"].startswith("This device token was revoked at ")
    assert [d["revoked_at"] is not None for d in c.get(f"{API}/devices", headers=manager).json()] == [True]


def test_sessions_expire_and_a_revoked_user_is_signed_out(tmp_path, clock):
    """After session_hours a session is a 401 saying it expired; revoking a user ends their sessions."""
    with client(tmp_path, clock, role=None, session_hours=8) as c:
        tok = token(c, "manager")
        assert c.get(f"{API}/state", headers=bearer(tok)).status_code == 200
        clock.advance(hours=8)
        r = c.get(f"{API}/state", headers=bearer(tok))
        assert r.status_code == 401 and r.json()["message"].startswith("This session expired at ")
        other = token(c, "teller", name="li")
        assert c.delete("/api/v1/users/li", headers=auth(c, "admin")).status_code == 204
        r = c.get(f"{API}/state", headers=bearer(other))
        assert r.status_code == 401 and "revoked" in r.json()["message"]
        assert c.get(f"{API}/state", headers=bearer("bqs_made-up")).json()["message"].startswith("Unknown session")


def test_sign_in_gives_a_token_and_wrong_passwords_are_one_vague_401(c):
    """POST /session with the right password gives a bearer token; a wrong password and an unknown
    name get the same answer; sign-out ends the token."""
    admin = auth(c, "admin")
    assert c.post("/api/v1/users", json={"name": "wang", "role": "teller", "branches": ["demo"],
                                         "password": "counter-two-pw"}, headers=admin).status_code == 201
    wrong = c.post("/api/v1/session", json={"name": "wang", "password": "nope-nope"})
    nobody = c.post("/api/v1/session", json={"name": "zhao", "password": "nope-nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["message"] == nobody.json()["message"] == "Wrong user name or password."
    r = c.post("/api/v1/session", json={"name": "wang", "password": "counter-two-pw"})
    assert r.status_code == 201 and (r.json()["role"], r.json()["actor"]) == ("teller", "user:wang")
    tok = bearer(r.json()["token"])
    assert c.delete("/api/v1/session", headers=tok).status_code == 204
    assert c.get("/api/v1/session", headers=tok).status_code == 401
    stored = c.app.state.accounts.users()
    assert [u["name"] for u in stored if u["name"] == "wang"] == ["wang"]
    assert "counter-two-pw" not in json.dumps(stored)


def test_pages_for_people_redirect_to_sign_in_and_the_form_sets_a_strict_cookie(c):
    """The teller console without a session goes to /login?next=…; signing in there sets an HttpOnly,
    SameSite=Strict cookie and returns to the console; signing out ends it; screens' pages load without one."""
    r = c.get("/teller/demo?counter=2", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fteller%2Fdemo%3Fcounter%3D2")
    assert c.get("/manager/demo", follow_redirects=False).status_code == 303
    assert c.get("/display/demo").status_code == 200 and c.get("/t/demo/B001").status_code == 200
    c.app.state.accounts.add_user("chen", "teller", ["demo"], "teller-pass-1")
    bad = c.post("/login", data={"name": "chen", "password": "wrong-pass", "next": "/teller/demo"})
    assert bad.status_code == 401 and "Wrong user name or password." in bad.text
    ok = c.post("/login", data={"name": "chen", "password": "teller-pass-1", "next": "/teller/demo?counter=2"},
                follow_redirects=False)
    assert (ok.status_code, ok.headers["location"]) == (303, "/teller/demo?counter=2")
    cookie = ok.headers["set-cookie"].lower()
    assert "bq_session=bqs_" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert c.get("/teller/demo", follow_redirects=False).status_code == 200  # the client keeps the cookie
    session = c.cookies.get("bq_session")
    out = c.post("/logout", follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert c.get("/teller/demo", follow_redirects=False).status_code == 303  # that session is over
    assert c.get("/api/v1/session", headers=bearer(session)).status_code == 401
    offsite = c.post("/login", data={"name": "chen", "password": "teller-pass-1", "next": "//evil.example/"},
                     follow_redirects=False)
    assert offsite.headers["location"] == "/"
    forged = c.post("/login", data={"name": "chen", "password": "teller-pass-1"},
                    headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert forged.status_code == 403 and "another site" in forged.json()["message"]


def test_the_feed_needs_a_token_and_a_phone_sees_only_its_ticket(c):
    """The WebSocket refuses a screen without credentials (4401) and one of another branch (4403); a display
    token gets the branch; a phone with ?ticket= gets only that ticket's status."""
    with c.websocket_connect(WS) as ws, pytest.raises(WebSocketDisconnect) as refused:
        ws.receive_text()
    assert refused.value.code == 4401
    north = token(c, "display", branch="north")
    with c.websocket_connect(f"{WS}?token={north}") as ws, pytest.raises(WebSocketDisconnect) as other:
        ws.receive_text()
    assert other.value.code == 4403
    with c.websocket_connect(f"{WS}?token={token(c, 'display')}") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
    c.post(f"{API}/tickets", json={"service": "B"}, headers=auth(c, "admin"))  # B002: someone else
    with c.websocket_connect(f"{WS}?ticket=B002") as phone:
        first = json.loads(phone.receive_text())
        assert (first["type"], first["ticket"]["ticket"], first["ticket"]["people_ahead"]) == ("ticket", "B002", 1)
        assert set(first) == {"type", "ticket"}
        c.post(f"{API}/counters/2/call-next", headers=auth(c, "admin"))  # calls B001
        update = json.loads(phone.receive_text())
        assert (update["type"], update["ticket"]["people_ahead"]) == ("ticket", 0)
        assert "B001" not in json.dumps(update)


def test_roles_rules_in_the_core():
    """The core's check: a display may view but not issue; an admin reaches every branch."""
    display = Principal("device", "lobby", Role.DISPLAY, frozenset({"demo"}))
    check(display, Permission.VIEW, "demo")
    with pytest.raises(Forbidden, match="A display may not issue tickets"):
        check(display, Permission.ISSUE, "demo")
    check(Principal("user", "root", Role.ADMIN, None), Permission.ADMIN, "anywhere")


def test_the_cli_adds_lists_and_revokes_users_and_devices(tmp_path, clock, monkeypatch, capsys):
    """branchq users/devices write the server's database: a CLI-made admin signs in, a CLI-made kiosk
    token issues tickets, and a CLI revocation stops it."""
    from server.cli import main

    use_data_dir(monkeypatch, tmp_path)  # the CLI writes the same database as the server below
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["users", "add", "alice", "--role", "admin"]) == 0
    assert main(["devices", "add", "kiosk-1", "--role", "kiosk", "--branch", "demo"]) == 0
    out = capsys.readouterr().out
    kiosk = next(line for line in out.splitlines() if line.startswith("bqd_"))
    assert f"/kiosk/demo?token={kiosk}" in out
    assert main(["users", "add", "bob", "--role", "teller"]) == 2  # a teller needs a branch
    assert "A teller needs at least one branch." in capsys.readouterr().err
    with client(tmp_path, clock, role=None) as c:
        r = c.post("/api/v1/session", json={"name": "alice", "password": "a-long-password"})
        assert r.status_code == 201 and r.json()["role"] == "admin"
        assert c.post(f"{API}/tickets", json={"service": "A"}, headers=bearer(kiosk)).status_code == 201
    assert main(["devices", "revoke", "kiosk-1"]) == 0
    assert main(["users", "list"]) == 0 and "alice\tadmin\t*" in capsys.readouterr().out
    with client(tmp_path, clock, role=None) as c:
        r = c.post(f"{API}/tickets", json={"service": "A"}, headers=bearer(kiosk))
        assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_demo_accounts_are_made_once_printed_and_kept(tmp_path, capsys):
    """serve --demo's accounts: an admin, a manager, a teller per counter and the screens' tokens; a second
    start keeps the same secrets; without --demo an empty server says how to make the first admin."""
    from server.commands.serve import _accounts_at_start
    from server.demo import prepare
    from server.settings import DEMO_CONFIG, Settings

    settings = Settings(data_dir=tmp_path, branch_configs=[DEMO_CONFIG])
    first, again = prepare(settings), prepare(settings)
    assert sorted(first.users) == ["admin", "manager", "teller1", "teller2", "teller3", "teller4", "teller5"]
    assert sorted(first.devices)[:3] == ["counter-demo-1", "counter-demo-2", "counter-demo-3"]
    assert {"kiosk-demo", "lobby-demo"} <= set(first.devices)
    assert again == first
    assert oct((tmp_path / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"
    _accounts_at_start(settings, "http://127.0.0.1:8000", demo=True)
    out = capsys.readouterr().out
    lobby = first.devices["lobby-demo"]["token"]
    assert f"http://127.0.0.1:8000/display/demo?token={lobby}" in out
    assert re.search(rf"teller +teller2 +password {re.escape(first.users['teller2']['password'])} ", out)
    _accounts_at_start(Settings(data_dir=tmp_path / "fresh"), "http://127.0.0.1:8000", demo=False)
    assert "Create the first admin:  branchq users add NAME --role admin" in capsys.readouterr().out


def test_simulator_reports_need_a_manager(tmp_path, clock):
    """/reports/ sends a visitor without a session to sign in, refuses a display, and serves a manager."""
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").write_text("<h1>report</h1>")
    with client(tmp_path, clock, role=None, reports_dir=tmp_path / "reports") as c:
        r = c.get("/reports/", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Freports%2F")
        assert c.get("/reports/", headers=auth(c, "display")).status_code == 403
        assert "report" in c.get("/reports/", headers=auth(c, "manager")).text


def test_sessions_long_expired_are_deleted_at_the_next_sign_in(tmp_path, clock):
    """A week after expiry a session's row goes at the next sign-in; a live one stays."""
    from sqlalchemy import func, select

    from server.accounts import SESSIONS

    with client(tmp_path, clock, role=None, session_hours=8) as c:
        old = token(c, "teller", name="li")
        clock.advance(days=8)
        fresh = token(c, "teller", name="wu")
        with c.app.state.accounts.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(SESSIONS)).scalar() == 1
        assert c.get("/api/v1/session", headers=bearer(fresh)).status_code == 200
        assert c.get("/api/v1/session", headers=bearer(old)).json()["message"].startswith("Unknown session")


def test_a_screen_whose_token_is_revoked_is_cut_off_at_its_next_ping(c):
    """A connected lobby keeps its feed until its token is revoked; its next heartbeat closes the socket
    with 4401 and the reason."""
    manager = auth(c, "manager")
    lobby = c.post(f"{API}/devices", json={"id": "lobby-1", "role": "display"}, headers=manager).json()["token"]
    with c.websocket_connect(f"{WS}?token={lobby}") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        ws.send_text(json.dumps({"type": "ping"}))
        assert json.loads(ws.receive_text())["type"] == "pong"
        assert c.delete(f"{API}/devices/lobby-1", headers=manager).status_code == 204
        ws.send_text(json.dumps({"type": "ping"}))
        with pytest.raises(WebSocketDisconnect) as cut:
            ws.receive_text()
    assert cut.value.code == 4401 and cut.value.reason.startswith("This device token was revoked")
