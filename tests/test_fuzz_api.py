"""schemathesis against the OpenAPI schema of a real `branchq serve --demo`: no request produces a 5xx.

Every operation of the schema gets valid and invalid inputs (positive and
negative generation), a bounded number per operation and mode, derandomized
so CI runs the same cases each time and stays within a minute or two
(BRANCHQ_FUZZ_EXAMPLES raises the number for a longer hunt). A 5xx fails
with the request that caused it; the server's log must hold no traceback.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.serverkit import API, Server, free_port, pg_schema_url

EXAMPLES = int(os.environ.get("BRANCHQ_FUZZ_EXAMPLES", "20"))
calls: Counter[str] = Counter()  # requests sent, by status class ("2xx", "4xx", "5xx")
statuses: Counter[tuple[str, int]] = Counter()  # (run, status): shows what each run reached


@schemathesis.serializer("application/x-ndjson")
def _jsonl(ctx, value):
    """A log import's body: text as it is; anything else the fuzzer makes, as JSON text."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A real server on each storage engine: PostgreSQL refuses some text SQLite stores (a NUL character)."""
    data = tmp_path_factory.mktemp("fuzz") / "data"
    database = None
    if request.param == "postgresql":
        database = pg_schema_url(request.getfixturevalue("pg_test_database"), data)
    s = Server(data, free_port(), database=database)
    s.start()
    yield s
    s.kill()


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


# Random path names mostly meet "unknown branch" (404): besides the free runs,
# the demo branch and two of its counters are fixed so the routes behind them
# are reached with generated bodies, actions and ticket numbers. Requests go
# signed in as the demo admin (every route is reachable), and one run goes
# without credentials (the guards themselves must not fail).
SIGNS_OUT = {"DELETE /api/v1/session"}  # would end the fuzzer's own session: fuzzed in the anonymous run only
RUNS = {
    "positive": (GenerationMode.POSITIVE, {}, True),
    "negative": (GenerationMode.NEGATIVE, {}, True),
    "demo": (GenerationMode.POSITIVE, {"branch": "demo"}, True),
    "demo-counter-4": (GenerationMode.POSITIVE, {"branch": "demo", "counter": "4"}, True),
    "negative-demo": (GenerationMode.NEGATIVE, {"branch": "demo", "counter": "1"}, True),
    "anonymous": (GenerationMode.POSITIVE, {"branch": "demo"}, False),
}


@pytest.mark.parametrize("run", RUNS)
def test_no_input_makes_a_server_error(api_schema, server, run):
    """Whatever schemathesis sends to any operation, valid or not, signed in or not, the answer is not a 5xx."""
    mode, fixed, signed_in = RUNS[run]
    headers = server.auth() if signed_in else {}
    _seed(server)
    failures: list[str] = []
    skipped: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        if not fixed.keys() <= names or (signed_in and f"{operation.method.upper()} {operation.path}" in SIGNS_OUT):
            continue

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
        def call(case):
            response = case.call(headers=headers, timeout=10)
            calls[f"{response.status_code // 100}xx"] += 1
            statuses[(run, response.status_code)] += 1
            if response.status_code >= 500:
                failures.append(f"{response.status_code} for {case.method} {case.formatted_path}: "
                                f"{response.text[:300]}\n  reproduce: {case.as_curl_command()}")

        try:
            call()
        except Unsatisfiable:  # nothing to get wrong (e.g. no parameters in negative mode)
            skipped.append(operation.label)
    assert not failures, "\n".join(failures[:20])


def _seed(server):
    """Tickets waiting and counters open, so generated actions meet a living branch."""
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=10) as c:
        for service in "AABCV":
            c.post(f"{API}/tickets", json={"service": service})
        for counter in "1234":
            c.post(f"{API}/counters/{counter}/open")


def test_the_fuzzed_server_logged_no_traceback(server):
    """After the fuzzing the server is still up and its log holds no unhandled exception."""
    print("\n" + ", ".join(f"{run} {status}: {n}" for (run, status), n in sorted(statuses.items())))
    print(f"\nschemathesis: {sum(calls.values())} requests, by status class: {dict(sorted(calls.items()))}")
    assert sum(calls.values()) > 0, "the fuzzing above ran no request"
    assert calls["5xx"] == 0
    assert server.proc.poll() is None
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback"):][:3000]
