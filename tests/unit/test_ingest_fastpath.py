"""The event fast path answers exactly like the full pydantic validator, or not at all."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bench.ingest_bench import make_events
from contracts import ContractError, SensorEvent, dump, parse_event
from ingest.fastpath import FastEvent, FastEvents
from ingest.lineprotocol import epoch_ns, event_line
from ingest.pipeline import MIN_TS, Validator, _out_of_range

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MAX_FUTURE = timedelta(minutes=5)
HOME = "h-aaaaaa"


def _full(home: str, payload: bytes) -> FastEvent | None:
    """What the full validator stores for a payload, with its identity; None when it rejects it."""
    try:
        e = parse_event(payload)
    except ContractError:
        return None
    if e.home != home or e.ts - NOW > MAX_FUTURE or _out_of_range(e.seq, e.value, e.ts):
        return None
    return FastEvent(e.agent, e.seq, event_line(e), e.sensor, e.kind, e.room, e.epoch)


def _fast(payload: bytes, home: str = HOME) -> FastEvent | None:
    return FastEvents(epoch_ns(MIN_TS)).event(home, payload, epoch_ns(NOW + MAX_FUTURE))


def _agrees(payload: bytes, home: str = HOME) -> bool:
    fast = _fast(payload, home)
    return fast is None or fast == _full(home, payload)


def _canonical(rng: random.Random) -> bytes:
    choices: list[tuple[str, int | float | str]] = [
        ("motion", rng.choice([0, 1])),
        ("pressure", 1),
        ("door", rng.choice(["open", "closed"])),
        ("button", rng.choice(["press", "long_press"])),
        ("temp", round(rng.uniform(-40, 60), rng.randint(0, 6))),
        ("lux", rng.randint(-(10**12) + 1, 10**12 - 1)),
        ("state", rng.choice(["on", "off", "", "a b=c,d"])),
    ]
    kind, value = rng.choice(choices)
    ts = NOW - timedelta(seconds=rng.uniform(0, 86400 * 400), microseconds=rng.randint(0, 999_999))
    tz = rng.choice([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=3, minutes=30))])
    event = SensorEvent(
        home=HOME,
        agent=rng.choice(["pi-1", "A.b_c:d-9"]),
        seq=rng.randint(1, 2**53),
        ts=ts.astimezone(tz),
        sensor=rng.choice(["pir_living", "door1"]),
        kind=kind,
        value=value,
        battery=rng.choice([None, 0, 7, 100]),
        room=rng.choice([None, "living", "bed_2"]),
        epoch=rng.choice([None, "q7f3a9c2e1b4d6f8", "A_b-9"]),
    )
    return dump(event)


def test_accepts_what_edge_and_the_bench_send() -> None:
    rng = random.Random(1)
    payloads = [_canonical(rng) for _ in range(2000)]
    payloads += [p for _t, p in make_events(["h-bench000001"], 50, ts=NOW)]
    for p in payloads:
        home = json.loads(p)["home"]
        fast = _fast(p, home)
        assert fast is not None and fast == _full(home, p), p


@pytest.mark.parametrize(
    "ts",
    [
        "2024-02-29T23:59:59.999999+14:00",
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z",
        "2026-01-01T00:00:00.1Z",
        "2026-01-01T00:00:00.1234567Z",
        "2026-01-01T00:00:00.123456789Z",
        "2026-01-01T00:00:00-00:00",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00-00:01",
        "2026-01-01T00:00:00+23:59",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+05:60",
        "2026-01-01T00:00:00+0500",
        "2026-01-01t00:00:00z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00Z",
        "2026-01-01T00:00:00",
        "1999-12-31T23:59:59Z",
        "2000-01-01T00:00:00+14:00",
        "1970-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-11-26T12:05:00Z",
        "2026-11-26T12:05:00.000001Z",
        "2026-11-26T20:05:00+08:00",
        "2026-11-26T20:05:00.000001+08:00",
    ],
)
def test_times_agree(ts: str) -> None:
    p = f'{{"v":1,"home":"{HOME}","agent":"pi-1","seq":9,"ts":"{ts}","sensor":"s","kind":"motion","value":1}}'
    assert _agrees(p.encode())


@pytest.mark.parametrize(
    "body",
    [
        '"kind":"motion","value":-0',
        '"kind":"motion","value":1.0',
        '"kind":"motion","value":"1"',
        '"kind":"motion","value":true',
        '"kind":"motion","value":2',
        '"kind":"door","value":"ajar"',
        '"kind":"door","value":1',
        '"kind":"temp","value":-0',
        '"kind":"temp","value":-0.0',
        '"kind":"temp","value":0.1000000',
        '"kind":"temp","value":12345678.1234567',
        '"kind":"temp","value":0.30000000000000004',
        '"kind":"temp","value":1e3',
        '"kind":"temp","value":01',
        '"kind":"temp","value":999999999999',
        '"kind":"temp","value":1000000000000',
        '"kind":"temp","value":-999999999999',
        '"kind":"temp","value":null',
        '"kind":"temp","value":"caf\\u00e9"',
        '"kind":"temp","value":"a\\"b"',
        '"kind":"temp","value":"tab\there"',
        '"kind":"Temp","value":1',
        '"kind":"motion","value":1,"battery":100',
        '"kind":"motion","value":1,"battery":101',
        '"kind":"motion","value":1,"battery":007',
        '"kind":"motion","value":1,"battery":-1',
        '"kind":"motion","value":1,"battery":null',
        '"kind":"motion","value":1,"room":"Living"',
        '"kind":"motion","value":1,"room":""',
        '"kind":"motion","value":1,"room":"living","battery":5',
        '"kind":"motion","value":1,"extra":1',
        '"kind":"motion","value":1,"value":0',
    ],
)
def test_values_agree(body: str) -> None:
    p = f'{{"v":1,"home":"{HOME}","agent":"pi-1","seq":9,"ts":"2026-01-01T00:00:00Z","sensor":"s",{body}}}'
    assert _agrees(p.encode())


@pytest.mark.parametrize(
    "head",
    [
        '"v":2,"home":"h-aaaaaa","agent":"pi-1","seq":9',
        '"home":"h-aaaaaa","agent":"pi-1","seq":9',
        '"v":1,"home":"h-bbbbbb","agent":"pi-1","seq":9',
        '"v":1,"home":"h-aaaaa","agent":"pi-1","seq":9',
        '"v":1,"home":"h-aaaaaa","agent":"-pi","seq":9',
        '"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":0',
        '"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":09',
        f'"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":{2**53}',
        f'"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":{2**53 + 1}',
        '"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":9.0',
        '"v":1, "home":"h-aaaaaa","agent":"pi-1","seq":9',
    ],
)
def test_heads_agree(head: str) -> None:
    p = f'{{{head},"ts":"2026-01-01T00:00:00Z","sensor":"s","kind":"motion","value":1}}'
    assert _agrees(p.encode())


def test_random_mutations_agree() -> None:
    rng = random.Random(7)
    alphabet = '{}[]",:.-+0123456789eEZTtz \\aAh_\x00\xe9'
    checked = 0
    for _ in range(4000):
        p = _canonical(rng).decode()
        for _m in range(rng.randint(1, 3)):
            i = rng.randrange(len(p))
            op = rng.randrange(3)
            if op == 0:
                p = p[:i] + rng.choice(alphabet) + p[i + 1 :]
            elif op == 1:
                p = p[:i] + p[i + 1 :]
            else:
                p = p[:i] + rng.choice(alphabet) + p[i:]
        raw = p.encode()
        assert _agrees(raw), raw
        checked += _fast(raw) is not None
    assert checked > 100  # some mutants stay valid and take the fast path


def test_validator_uses_the_fast_path_and_keeps_reasons() -> None:
    v = Validator()
    topic = f"anxin/v1/homes/{HOME}/events"
    good = b'{"v":1,"home":"h-aaaaaa","agent":"pi-1","seq":3,"ts":"2026-11-26T12:00:00Z","sensor":"s","kind":"door"'
    line = v.handle(topic, good + b',"value":"open"}', NOW)
    assert line == event_line(parse_event(good + b',"value":"open"}'))
    assert v.handle(topic, good + b',"value":"open"}', NOW) is None  # dedupe still applies
    out = v.handle(topic, good.replace(b":3,", b":4,") + b',"value":"ajar"}', NOW)
    assert not isinstance(out, str) and out is not None and out.reason == "schema"
