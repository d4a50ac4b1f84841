"""Issue 13's bounds on what one home can make ingest store: the contract's checks, series, dedupe epochs, samples."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.i18n import MESSAGES
from contracts import ContractError, DeadLetterReason, SensorEvent, dump, parse_event, parse_heartbeat
from contracts.messages import json_schemas
from edge.queue import DiskQueue
from ingest.deadletters import DeadLetterBook, DeadLetterLimits
from ingest.dedupe import Reset, Seen, SeqTracker
from ingest.pipeline import Rejected, Validator
from ingest.series import KitSensor, SeriesGuard

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
HOME = "h-aaaaaa"


def _heartbeat(**kw: object) -> bytes:
    data = {"home": HOME, "agent": "pi-1", "ts": NOW.isoformat(), "queue_depth": 0, "uptime_s": 5.0, **kw}
    return json.dumps(data).encode()


def _status(ts: str) -> bytes:
    return json.dumps({"state": "online", "agent": "pi-1", "version": "0.2.0", "ts": ts}).encode()


def _event(seq: int, sensor: str = "pir_living", **kw: object) -> bytes:
    data = {"home": HOME, "agent": "pi-1", "seq": seq, "ts": NOW.isoformat(), "sensor": sensor, "kind": "motion"}
    return json.dumps(data | {"value": 1, **kw}).encode()


# The contract refuses non-finite numbers in every float field, with reason `schema`.


@pytest.mark.parametrize(
    "payload",
    [
        b'{"home":"h-aaaaaa","agent":"pi-1","ts":"2026-11-26T00:00:00Z","queue_depth":0,"uptime_s":NaN}',
        b'{"home":"h-aaaaaa","agent":"pi-1","ts":"2026-11-26T00:00:00Z","queue_depth":0,"uptime_s":1,"cpu_temp_c":Infinity}',
        b'{"home":"h-aaaaaa","agent":"pi-1","ts":"2026-11-26T00:00:00Z","queue_depth":0,"uptime_s":1,"oldest_unsent_s":1e400}',
    ],
)
def test_heartbeat_with_a_non_finite_number_breaks_the_contract(payload: bytes) -> None:
    with pytest.raises(ContractError) as err:
        parse_heartbeat(payload)
    assert err.value.reason == "schema"


def test_event_with_a_non_finite_value_breaks_the_contract() -> None:
    for raw in (b"NaN", b"-Infinity", b"1e999"):
        with pytest.raises(ContractError) as err:
            parse_event(_event(1).replace(b'"value": 1', b'"value": ' + raw))
        assert err.value.reason == "schema", raw


def test_validator_rejects_a_nan_heartbeat_and_stores_a_good_one() -> None:
    v = Validator()
    topic = f"anxin/v1/homes/{HOME}/heartbeat"
    bad = v.handle(topic, _heartbeat(cpu_temp_c=1).replace(b'"cpu_temp_c": 1', b'"cpu_temp_c": NaN'), NOW)
    assert isinstance(bad, Rejected) and bad.reason == "schema"
    assert isinstance(v.handle(topic, _heartbeat(cpu_temp_c=41.5), NOW), str)


# Status and heartbeats get the events' time checks.


def test_status_and_heartbeat_from_the_future_or_1970_are_rejected() -> None:
    v = Validator()
    status, hb = f"anxin/v1/homes/{HOME}/status", f"anxin/v1/homes/{HOME}/heartbeat"
    for topic, payload, reason in (
        (status, _status("2200-01-01T00:00:00+00:00"), "future_ts"),
        (hb, _heartbeat(ts="2200-01-01T00:00:00+00:00"), "future_ts"),
        (status, _status("1970-01-01T00:00:00+00:00"), "out_of_range"),
    ):
        out = v.handle(topic, payload, NOW)
        assert isinstance(out, Rejected) and out.reason == reason, (payload, out)
    assert isinstance(v.handle(status, _status(NOW.isoformat()), NOW), str)


# Series: the registered kit, or a cap.


def test_unknown_sensors_of_a_home_with_a_kit_are_refused_and_dead_lettered_once() -> None:
    v = Validator()
    v.series.set_kits({HOME: {"pir_living": KitSensor("motion", "living")}})
    topic = f"anxin/v1/homes/{HOME}/events"
    assert isinstance(v.handle(topic, _event(1, room="living"), NOW), str)
    first = v.handle(topic, _event(2, sensor="made_up"), NOW)
    again = v.handle(topic, _event(3, sensor="made_up"), NOW)
    assert isinstance(first, Rejected) and first.reason == "unknown_sensor" and first.keep
    assert isinstance(again, Rejected) and again.reason == "unknown_sensor" and not again.keep
    for payload in (_event(4, room="kitchen"), _event(5, kind="temp", value=3.5)):  # wrong room, wrong kind
        out = v.handle(topic, payload, NOW)
        assert isinstance(out, Rejected) and out.reason == "unknown_sensor", out
    # The agent's own queue-drop reports are not in any kit and still get through.
    assert isinstance(v.handle(topic, _event(6, sensor="agent", kind="queue_drop", value=3), NOW), str)
    assert v.series.series(HOME) == 2


def test_a_home_without_a_kit_gets_a_cap_of_distinct_series() -> None:
    g = SeriesGuard(cap=3, remember=2)
    keys = [("pi-1", f"s{i}", "motion", None) for i in range(6)]
    assert [g.check(HOME, k) for k in keys[:3]] == [None, None, None]
    refusals = [g.check(HOME, k) for k in keys[3:]]
    assert all(r is not None and r.reason is DeadLetterReason.TOO_MANY_SERIES for r in refusals)
    assert [r.first for r in refusals if r] == [True, True, False]  # `remember` bounds the refused set too
    assert g.check(HOME, keys[0]) is None  # admitted series stay admitted
    assert g.check("h-bbbbbb", keys[5]) is None  # per home


def test_made_up_agents_in_status_messages_count_against_the_cap() -> None:
    v = Validator()
    v.series.cap = 2
    topic = f"anxin/v1/homes/{HOME}/status"
    outs = [v.handle(topic, _status(NOW.isoformat()).replace(b"pi-1", f"pi-{i}".encode()), NOW) for i in range(4)]
    assert [isinstance(o, str) for o in outs] == [True, True, False, False]


# Dedupe by epoch: a re-created queue restarts seq at 1 and its events are kept.


def test_a_new_epoch_restarts_seq_and_is_counted() -> None:
    resets: list[tuple[str, Reset]] = []
    t = SeqTracker(window=64, on_reset=lambda _h, agent, kind, _d: resets.append((agent, kind)))
    assert all(t.check("h", "a", s, "e1") is Seen.NEW for s in range(1, 51))
    assert t.check("h", "a", 7, "e1") is Seen.DUPLICATE
    assert all(t.check("h", "a", s, "e2") is Seen.NEW for s in range(1, 51))
    assert resets == [("a", Reset.EPOCH)]
    assert t.check("h", "a", 7, "e2") is Seen.DUPLICATE


def test_epochs_kept_per_agent_are_bounded() -> None:
    t = SeqTracker(window=64)
    for i in range(100):
        t.check("h", "a", 1, f"e{i}")
    assert len(t.agents) <= 4 and len(t.epochs[("h", "a")]) <= 4


def test_validator_keeps_all_events_of_a_recreated_queue() -> None:
    v = Validator()
    topic = f"anxin/v1/homes/{HOME}/events"
    old = [v.handle(topic, _event(s, epoch="oldqueue"), NOW) for s in range(1, 51)]
    new = [v.handle(topic, _event(s, epoch="newqueue"), NOW) for s in range(1, 51)]
    assert all(isinstance(x, str) for x in old + new)
    assert v.counts["duplicate"] == 0


def test_epoch_on_the_fast_path_agrees_with_the_model() -> None:
    e = SensorEvent(home=HOME, agent="pi-1", seq=9, ts=NOW, sensor="s", kind="motion", value=1, epoch="abc123")
    raw = dump(e)
    assert raw.endswith(b',"epoch":"abc123"}')
    assert parse_event(raw).epoch == "abc123"
    assert "epoch" in json_schemas()["sensor_event"]["properties"]
    with pytest.raises(ContractError):
        parse_event(raw.replace(b"abc123", b"a b"))


def test_the_disk_queue_keeps_its_epoch_and_a_new_queue_gets_a_new_one(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    epoch = q.epoch
    q.close()
    assert DiskQueue(tmp_path / "q.db").epoch == epoch
    assert DiskQueue(tmp_path / "other.db").epoch != epoch


# Dead letters: all counted, few kept.


def test_a_flood_from_one_home_is_counted_in_full_and_sampled_little() -> None:
    book = DeadLetterBook(DeadLetterLimits(samples=5, payload_bytes=100, burst=20, rate_per_min=6))
    topic = f"anxin/v1/homes/{HOME}/events"
    dead = [(topic, b"x" * 5000, ("too_large", "schema", "not_json")[i % 3], "d", True) for i in range(10_000)]
    tri = book.triage(dead, NOW, mono=0.0)
    assert sum(t.count for t in tri.tallies.values()) == 10_000
    assert {k: t.count for k, t in tri.tallies.items()}[(HOME, "too_large")] == 3334
    assert len(tri.samples) == 15 and all(len(s.payload) == 100 for s in tri.samples)
    assert tri.unsampled["sample_full"] == 10_000 - 15
    # A minute later the bucket has refilled, but each (home, reason) has had its first five: still no rows.
    assert book.triage(dead[:30], NOW + timedelta(minutes=1), mono=60.0).samples == []


def test_the_token_bucket_limits_rows_across_reasons() -> None:
    book = DeadLetterBook(DeadLetterLimits(samples=5, burst=4, rate_per_min=60))
    topic = f"anxin/v1/homes/{HOME}/events"
    dead = [(topic, b"{", f"r{i}", "d", True) for i in range(10)]
    assert len(book.triage(dead, NOW, mono=0.0).samples) == 4
    tri = book.triage(dead, NOW, mono=2.0)  # two tokens back after two seconds
    assert len(tri.samples) == 2 and tri.unsampled["rate_limited"] == 8


# Every reason has a label in both console languages.


@pytest.mark.parametrize("reason", list(DeadLetterReason))
def test_every_dead_letter_reason_has_a_console_label(reason: DeadLetterReason) -> None:
    for lang in ("zh-CN", "en"):
        assert f"reason.{reason.value}" in MESSAGES[lang], (lang, reason)


def test_every_reason_ingest_gives_is_in_the_list() -> None:
    source = "".join(p.read_text() for p in Path(__file__).parents[2].joinpath("ingest").glob("*.py"))
    source += Path(__file__).parents[2].joinpath("contracts", "messages.py").read_text()
    given = set(re.findall(r'(?:Rejected|ContractError)\(\s*"([a-z_]+)"', source))
    assert given <= {r.value for r in DeadLetterReason}, given
