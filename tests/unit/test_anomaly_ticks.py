"""The cluster path's clock (anomaly/ticks.py): ticks at the engine's due times, pure, replayable, deduplicable."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from anomaly.config import AnomalyOptions, LimitsSection
from anomaly.engine import Engine
from anomaly.store import freeze, thaw
from anomaly.ticks import EVENT, TICK_LAG_S, TICK_RETRY_S, Clock, PartitionMessage, apply, quiet, reference
from anxin.bus import FEEDBACK, HEARTBEAT, STATUS, TICK, events_subject
from contracts import ContractError, Feedback, FindingKind, Heartbeat, SensorEvent, Status

HOME = "h-tick0001"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC).timestamp()  # 10:00 in Asia/Shanghai: a day's limits
LIMITS = LimitsSection(inactivity_floor_min=30, inactivity_ceiling_day_min=30, inactivity_ceiling_night_min=30)


def _engine() -> Engine:
    return Engine(AnomalyOptions(defaults=LIMITS).engine_options())


def _event(seq: int, t: float, received: float | None = None) -> PartitionMessage:
    room = ("living", "kitchen", "bathroom")[seq % 3]
    e = SensorEvent(
        home=HOME,
        agent="pi-1",
        seq=seq,
        ts=datetime.fromtimestamp(t, UTC),
        sensor=f"pir_{room}",
        kind="motion",
        value=1,
        room=room,
    )
    return PartitionMessage(HOME, EVENT, e.model_dump_json().encode(), t + 0.5 if received is None else received)


def _tick(due: float) -> PartitionMessage:
    return PartitionMessage(HOME, TICK, b"", due)


def _clock_run(engine: Engine, msgs: list[PartitionMessage], until: float) -> list[PartitionMessage]:
    """What a worker does: after the messages, tick the home at each due time the wall clock (`until`) has passed."""
    out = list(msgs)
    reference(engine, msgs)
    m = engine.homes[HOME]
    for _ in range(1000):  # (bounded: a clock that never moves on fails the test instead of hanging it)
        if not m.next_check + TICK_LAG_S <= until:
            break
        t = _tick(m.next_check)
        out.append(t)
        apply(engine, t)
    return out


def test_a_silent_home_raises_long_inactivity_at_its_due_time_from_ticks_alone() -> None:
    live = [_event(k, T0 + k * 60) for k in range(1, 21)]
    engine = _engine()
    stream = _clock_run(engine, live, until=T0 + 20 * 60 + 31 * 60)
    found = [f for f in reference(_engine(), stream) if f.kind == FindingKind.LONG_INACTIVITY]
    assert len(found) == 1
    assert found[0].ts.timestamp() == T0 + 20 * 60 + 30 * 60  # the due time, not the wall clock's
    assert found[0].id == f"{HOME}:long_inactivity:{int(T0 + 20 * 60)}"


def test_a_replayed_queue_holds_the_checks_until_it_settled() -> None:
    # The same hour arriving in a second, an hour late (an agent back from an outage): no alarm while it replays.
    late = T0 + 3 * 3600
    replayed = [_event(k, T0 + k * 60, received=late + k / 100) for k in range(1, 21)]
    engine = _engine()
    stream = _clock_run(engine, replayed, until=late + 30)
    assert all(f.kind != FindingKind.LONG_INACTIVITY for f in reference(_engine(), stream))
    assert engine.homes[HOME].next_check >= late + 60  # then the silence is judged (and it is long by then)
    stream = _clock_run(_engine(), replayed, until=late + 70)
    assert [f.kind for f in reference(_engine(), stream)] == [FindingKind.LONG_INACTIVITY]


def test_a_takeover_replaying_from_a_checkpoint_and_a_tick_published_twice_change_nothing() -> None:
    live = [_event(k, T0 + k * 60) for k in range(1, 21)]
    stream = _clock_run(_engine(), live, until=T0 + 3 * 3600)
    whole = _engine()
    want = [f.model_dump() for f in reference(whole, stream)]
    # A worker checkpointed after any message, died, and the next owner runs the rest from the thawed state; the last
    # owner's ticks reach the stream twice (a republish after the dedupe window): the second is a no-op.
    for cut in range(1, len(stream)):
        first = _engine()
        got = reference(first, stream[:cut])
        second = _engine()
        second.homes[HOME] = thaw(freeze(first.homes[HOME]))
        got += reference(second, [*stream[cut:], *(m for m in stream[cut:] if m.kind == TICK)])
        assert [f.model_dump() for f in got] == want, cut


def test_a_verdict_keeps_the_homes_clock_running() -> None:
    """A responder's verdict asks for a check at its receipt, on the partition's clock, so a silence after it is
    still ticked and raised (as -inf, "at once", it was no due time there and stopped the home's clock)."""
    at = datetime.fromtimestamp(T0 + 20 * 60, UTC)
    fb = Feedback(
        home=HOME, alert_id=7, kind=FindingKind.DOOR_LEFT_OPEN, finding_ids=[], since=at, outcome="false_alarm", ts=at
    )
    verdict = PartitionMessage(HOME, FEEDBACK, fb.model_dump_json().encode(), T0 + 20 * 60 + 1)
    live = [_event(k, T0 + k * 60) for k in range(1, 21)] + [verdict]
    stream = _clock_run(_engine(), live, until=T0 + 20 * 60 + 31 * 60)
    assert any(m.kind == TICK for m in stream)
    found = [f for f in reference(_engine(), stream) if f.kind == FindingKind.LONG_INACTIVITY]
    assert [f.ts.timestamp() for f in found] == [T0 + 20 * 60 + 30 * 60]


def test_clock_publishes_each_due_tick_once_until_it_comes_back_or_is_lost() -> None:
    engine = _engine()
    reference(engine, [_event(1, T0)])
    m = engine.homes[HOME]
    clock = Clock()
    due = m.next_check
    assert clock.due([(HOME, m)], due, 0.0) == []  # not before the lag: an event in flight usually comes first
    assert clock.due([(HOME, m)], due + TICK_LAG_S, 0.0) == [(HOME, due)]
    clock.sent(HOME, due, 0.0)
    assert clock.due([(HOME, m)], due + 5, 1.0) == []  # on its way
    assert clock.due([(HOME, m)], due + 5, TICK_RETRY_S) == [(HOME, due)]  # lost (a node died): again, same id
    clock.seen(HOME, due)
    assert clock.pending == {}
    m.next_check = math.inf  # nothing scheduled
    assert clock.due([(HOME, m)], due + 3600, 0.0) == []


def test_heartbeats_of_an_online_agent_are_quiet_status_is_not() -> None:
    engine = _engine()
    at = datetime.fromtimestamp(T0, UTC)
    hb = Heartbeat(home=HOME, agent="pi-1", ts=at, queue_depth=0, uptime_s=1.0).model_dump_json().encode()
    off = Status(state="offline", agent="pi-1", version="1", ts=at).model_dump_json().encode()
    beat = PartitionMessage(HOME, HEARTBEAT, hb, T0)
    assert not quiet(engine, beat)  # a home not seen yet: its first message is state
    apply(engine, beat)
    assert quiet(engine, beat)
    apply(engine, PartitionMessage(HOME, STATUS, off, T0 + 1))
    assert not quiet(engine, beat)  # this one brings the agent back online
    apply(engine, beat)
    assert quiet(engine, beat)


def test_a_message_of_another_home_in_a_partition_subject_is_refused() -> None:
    other = _event(1, T0)
    msg = PartitionMessage.of(events_subject("h-other001", 8), {}, other.data)
    with pytest.raises(ContractError):
        apply(_engine(), msg)
