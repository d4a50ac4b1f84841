"""Ingest's pure parts: dedupe by (home, agent, seq), line protocol, validation reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from contracts import parse_event
from ingest.dedupe import Seen, SeqTracker
from ingest.lineprotocol import event_line, event_timestamp_ns
from ingest.pipeline import Rejected, Validator

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def _event(seq: int, **kw: object) -> bytes:
    data = {
        "home": "h-aaaaaa",
        "agent": "pi-1",
        "seq": seq,
        "ts": "2026-11-26T07:00:00.000001+08:00",
        "sensor": "door1",
        "kind": "door",
        "value": "open",
        "room": "entrance",
        **kw,
    }
    return json.dumps(data).encode()


def test_seq_tracker_drops_duplicates_and_counts_gaps() -> None:
    t = SeqTracker(window=64)
    assert [t.check("h", "a", s) for s in (1, 2, 2, 5)] == [Seen.NEW, Seen.NEW, Seen.DUPLICATE, Seen.NEW]
    assert t.gaps() == {("h", "a"): 2}
    assert t.check("h", "a", 3) is Seen.NEW  # a late one fills a gap
    assert t.check("h", "a", 3) is Seen.DUPLICATE
    assert t.gaps() == {("h", "a"): 1}
    assert t.check("h", "b", 3) is Seen.NEW  # agents are independent
    assert t.check("h", "a", 1000) is Seen.NEW
    # Older than the window: kept (a far-back backlog, or a reset of an agent without an epoch); writes are
    # idempotent, so a true duplicate stored again costs nothing.
    assert t.check("h", "a", 4) is Seen.NEW


def test_line_protocol_is_deterministic_and_exact() -> None:
    e = parse_event(_event(7))
    line = event_line(e)
    assert line.startswith("sensor_event,home=h-aaaaaa,agent=pi-1,sensor=door1,kind=door,room=entrance ")
    assert 'value=1.0,text="open",seq=7i' in line
    # 2026-11-25T23:00:00.000001Z in ns, with seq in the sub-microsecond digits.
    expected = int(datetime(2026, 11, 25, 23, 0, tzinfo=UTC).timestamp()) * 10**9 + 1000 + 7
    assert event_timestamp_ns(e) == expected and line.endswith(f" {expected}")
    assert event_line(parse_event(_event(7))) == line


def test_validator_reasons() -> None:
    v = Validator(known_homes=frozenset({"h-aaaaaa"}))
    topic = "anxin/v1/homes/h-aaaaaa/events"
    assert isinstance(v.handle(topic, _event(1), NOW), str)
    assert v.handle(topic, _event(1), NOW) is None
    cases = {
        "unknown_home": ("anxin/v1/homes/h-bbbbbb/events", _event(2, home="h-bbbbbb")),
        "home_mismatch": (topic, _event(3, home="h-cccccc")),
        "future_ts": (topic, _event(4, ts=(NOW + timedelta(hours=1)).isoformat())),
        "not_json": (topic, b"\x00garbage"),
        "too_large": (topic, b" " * 5000),
        "schema": (topic, _event(5, value="ajar")),
        "bad_topic": ("anxin/v1/homes/h-aaaaaa/../events", _event(6)),
    }
    for reason, (t, payload) in cases.items():
        out = v.handle(t, payload, NOW)
        assert isinstance(out, Rejected) and out.reason == reason, (reason, out)
    assert v.counts["duplicate"] == 1 and v.counts["invalid:schema"] == 1 and v.counts["received"] == 9


def test_values_out_of_range_have_their_own_reason() -> None:
    v = Validator()
    topic = "anxin/v1/homes/h-aaaaaa/events"
    temp = {"kind": "temp", "sensor": "t1", "value": 21.5}
    for payload in (
        _event(1, battery=150),
        _event(0),
        _event(2**60),
        _event(4, **{**temp, "value": 1e20}),
        _event(5, ts="1970-01-01T00:00:00+00:00"),
    ):
        out = v.handle(topic, payload, NOW)
        assert isinstance(out, Rejected) and out.reason == "out_of_range", out
    late = v.handle(topic, _event(6, ts=(NOW - timedelta(days=1)).isoformat()), NOW)  # a day-old replay: stored
    assert isinstance(late, str) and late.endswith(f" {int((NOW - timedelta(days=1)).timestamp()) * 10**9 + 6}")
