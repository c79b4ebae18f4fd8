"""Reading event logs: the spec's shape, clear errors with line numbers, the demo day."""

from __future__ import annotations

import json

import pytest

from server.core.errors import InconsistentEvent, LogError
from server.core.events import LogReader, read_events
from server.core.state import BranchState, TicketStatus

OK = [
    '{"ts": "2026-12-01T09:00:00.000+08:00", "type": "ticket_issued", "ticket": "A001", "service": "A"}',
    '{"ts": "2026-12-01T09:01:00.000+08:00", "type": "called", "ticket": "A001", "counter": "c1"}',
]


def test_demo_day_folds_to_every_ticket_final(demo_day_log):
    """The shared demo day replays and every ticket ends done, no-show or abandoned."""
    state = BranchState().apply_all(read_events(demo_day_log.open(encoding="utf-8")))
    assert len(state.tickets) == 238
    assert all(t.final for t in state.tickets.values())
    statuses = [t.status for t in state.tickets.values()]
    assert statuses.count(TicketStatus.NO_SHOW) == 10 and statuses.count(TicketStatus.ABANDONED) == 5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"ts": "2026-12-01T09:00:00", "type": "abandoned", "ticket": "A001"}', "line 2: '2026-12-01T09:00:00' has no UTC offset"),
        ('{"ts": "2026-12-01T09:00:00+08:00", "type": "called", "ticket": "A001"}', "line 2: 'called' needs counter"),
        ('{"ts": "yesterday", "type": "abandoned", "ticket": "A001"}', "line 2: 'yesterday' is not an ISO 8601 time"),
        ('[1, 2]', "line 2: an event must be a JSON object"),
        ('{"ts": "2026-12-01T08:00:00+08:00", "type": "abandoned", "ticket": "A001"}', "line 2: events out of order"),
        ('{"ts": "2026-12-01T09:00:00+08:00", "type": "abandoned", "ticket": "A001", "x": "' + "y" * 70000 + '"}', "line 2: line is longer"),
    ],
)
def test_malformed_lines_name_their_line(line, message):
    """Each kind of malformed line is refused with its line number and what is wrong."""
    with pytest.raises(LogError) as err:
        read_events([OK[0], line])
    assert str(err.value).startswith(message)


def test_unknown_types_are_skipped_with_a_warning_and_unknown_fields_kept():
    """Forward compatibility: a new event type is skipped, a new field is carried along."""
    reader = LogReader()
    lines = [OK[0].replace('"A"}', '"A", "mood": "calm"}'),
             '{"ts": "2026-12-01T09:00:30+08:00", "type": "coffee_break", "counter": "c1"}', OK[1]]
    events = [e for _, e in reader.read(lines)]
    assert [e.type for e in events] == ["ticket_issued", "called"]
    assert events[0].data["mood"] == "calm"
    assert reader.warnings == ["line 2: skipped unknown event type 'coffee_break'"]


def test_whole_number_ids_are_read_as_their_text():
    """An export's numeric ids (agent 1034, call 5521) mean the same as "1034", "5521"."""
    events = read_events(['{"ts": "2026-12-01T09:00:00+08:00", "type": "ticket_issued", "ticket": 5521, "service": 1}',
                          '{"ts": "2026-12-01T09:00:05+08:00", "type": "called", "ticket": 5521, "counter": 1034}'])
    assert [(e.data["ticket"], e.data.get("service"), e.data.get("counter")) for e in events] == \
        [("5521", "1", None), ("5521", None, "1034")]
    assert BranchState().apply_all(events).tickets["5521"].status is TicketStatus.CALLED


def test_unknown_ticket_is_inconsistent():
    """An event about a ticket never issued contradicts the history."""
    with pytest.raises(InconsistentEvent, match="unknown ticket B007"):
        BranchState().apply_all(read_events([OK[0].replace("A001", "B007").replace("ticket_issued", "abandoned")]))


def test_events_round_trip_through_json():
    """Writing an event and reading it back gives the same event."""
    events = read_events(OK)
    again = read_events(e.to_json() for e in events)
    assert events == again
    assert json.loads(events[0].to_json())["ts"] == "2026-12-01T09:00:00.000+08:00"


def test_numbers_repeat_across_days_without_config():
    """A number may be issued again once its earlier ticket is final (a new day in a long log)."""
    lines = OK + [
        '{"ts": "2026-12-01T09:02:00+08:00", "type": "service_started", "ticket": "A001", "counter": "c1"}',
        '{"ts": "2026-12-01T09:05:00+08:00", "type": "service_finished", "ticket": "A001", "counter": "c1"}',
        '{"ts": "2026-12-02T09:00:00+08:00", "type": "ticket_issued", "ticket": "A001", "service": "A"}',
    ]
    state = BranchState().apply_all(read_events(lines))
    assert state.tickets["A001"].status is TicketStatus.WAITING
    with pytest.raises(InconsistentEvent, match="issued twice"):
        state.apply(read_events([lines[-1].replace("02T09", "02T10")])[0])
