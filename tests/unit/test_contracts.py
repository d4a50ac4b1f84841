"""The wire contract accepts what DESIGN.md section 3 describes and rejects everything else with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import (
    MAX_PAYLOAD_BYTES,
    ContractError,
    Finding,
    Severity,
    TopicKind,
    dump,
    events_topic,
    findings_topic,
    parse_event,
    parse_finding,
    parse_heartbeat,
    parse_status,
    parse_topic,
    status_topic,
)
from contracts.messages import json_schemas

GOOD: dict[str, Any] = {
    "v": 1,
    "home": "h-3f9a2c1b",
    "agent": "pi-0001",
    "seq": 42,
    "ts": "2026-11-26T07:15:02.120+08:00",
    "sensor": "pir_kitchen",
    "kind": "motion",
    "value": 1,
    "battery": 87,
    "room": "kitchen",
}


def _raw(**changes: Any) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def test_good_event_round_trips() -> None:
    event = parse_event(_raw())
    assert event.seq == 42 and event.ts.utcoffset() is not None
    assert parse_event(dump(event)) == event


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("door", "open"),
        ("door", "closed"),
        ("button", "press"),
        ("button", "long_press"),
        ("pressure", 0),
        ("temperature", 21.5),
        ("water_leak", "wet"),
    ],
)
def test_known_and_extension_kinds(kind: str, value: Any) -> None:
    assert parse_event(_raw(kind=kind, value=value)).value == value


@pytest.mark.parametrize(
    ("payload", "reason", "mentions"),
    [
        (b"{not json", "not_json", ""),
        (b"\xff\xfe", "not_json", ""),
        (b"[1, 2]", "schema", "object"),
        (_raw(ts="2026-11-26T07:15:02"), "schema", "ts"),
        (_raw(seq="42"), "schema", "seq"),
        (_raw(seq=0), "schema", "seq"),
        (_raw(home="alice-smith"), "schema", "home"),
        (_raw(kind="door", value=1), "schema", "door"),
        (_raw(kind="motion", value=2), "schema", "motion"),
        (_raw(kind="motion", value=True), "schema", ""),
        (_raw(battery=140), "schema", "battery"),
        (_raw(extra="x"), "schema", "extra"),
        (_raw(sensor=...), "schema", "sensor"),
        (_raw(v=2), "schema", "v"),
    ],
)
def test_bad_events_have_reasons(payload: bytes, reason: str, mentions: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_event(payload)
    assert err.value.reason == reason
    assert mentions in str(err.value)


def test_size_limit_is_4_kib() -> None:
    padded = _raw(kind="note", value="x" * (MAX_PAYLOAD_BYTES - 200))
    assert len(padded) <= MAX_PAYLOAD_BYTES
    parse_event(padded)
    with pytest.raises(ContractError) as err:
        parse_event(_raw(kind="note", value="x" * MAX_PAYLOAD_BYTES))
    assert err.value.reason == "too_large"


def test_status_heartbeat_finding() -> None:
    assert parse_status(b'{"state":"offline","agent":"pi-1","version":"0.1.0","ts":"2026-11-26T08:00:00Z"}').state == (
        "offline"
    )
    hb = parse_heartbeat(
        json.dumps(
            {
                "home": "h-3f9a2c1b",
                "agent": "pi-1",
                "ts": "2026-11-26T08:00:00Z",
                "queue_depth": 3,
                "uptime_s": 12.5,
                "sensors": {"pir_kitchen": {"last_seen": "2026-11-26T07:59:00Z", "battery": 80}},
            }
        )
    )
    assert hb.sensors["pir_kitchen"].battery == 80
    f = Finding(
        id="h-3f9a2c1b:panic:pi-1:9",
        home="h-3f9a2c1b",
        kind="panic",
        severity=Severity.CRITICAL,
        ts=datetime(2026, 11, 26, tzinfo=UTC),
        since=datetime(2026, 11, 26, tzinfo=UTC),
        detector="t",
        evidence={"room": "bedroom"},
    )
    assert parse_finding(dump(f)) == f
    with pytest.raises(ContractError):
        parse_status(b'{"state":"maybe","agent":"pi-1","version":"0.1.0","ts":"2026-11-26T08:00:00Z"}')


def test_topics() -> None:
    assert events_topic("h-3f9a2c1b") == "anxin/v1/homes/h-3f9a2c1b/events"
    assert parse_topic(status_topic("h-3f9a2c1b")) == (TopicKind.STATUS, "h-3f9a2c1b")
    assert parse_topic(findings_topic("h-3f9a2c1b")) == (TopicKind.FINDINGS, "h-3f9a2c1b")
    assert parse_topic("anxin/v1/homes/h-3f9a2c1b/other") is None
    assert parse_topic("anxin/v1/homes/Alice/events") is None
    with pytest.raises(ValueError):
        events_topic("alice")


def test_every_message_has_a_json_schema() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"sensor_event", "status", "heartbeat", "finding", "feedback"}
    assert schemas["sensor_event"]["additionalProperties"] is False
