"""A partition's messages through the engine, and the wall clock of a worker's homes (docs/scale.md, wall-clock ticks).

A home's partition holds its events, its agent's status and heartbeats, and ticks, in one order. Rules that fire on
silence (long inactivity, a missed morning, the agent offline) need the home's clock to move without an event: the
worker owning the home publishes a tick into the partition once the home's next check (`HomeMonitor.next_check`, a
due time the engine computed itself) has passed on the wall clock. The tick carries that due time (`Anxin-At`), is run
at it and never at the wall time, and its id is `tick/<home>/<due>`. The wall clock only decides when a tick is
published, not what it does: a home's findings are a pure function of its partition's messages in stream order. A
worker replaying after a takeover runs the same messages to the same findings (deduplicated by finding id), two
workers publishing the same due tick store it once, and a reference run over the stream reproduces the workers.
No I/O here: the worker publishes and consumes, these functions compute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from anomaly.engine import Engine, HomeMonitor
from anomaly.finding_ids import with_epoch
from anxin.bus import AT, FEEDBACK, HEARTBEAT, KIND, STATUS, TICK, home_of, subject_kind
from contracts import ContractError, Finding, SensorEvent, parse_event, parse_feedback, parse_heartbeat, parse_status

EVENT = ""  # an event has no kind header
TICK_LAG_S = 1.0  # tick a due time this long after it passed: an event in flight usually comes first
TICK_RETRY_S = 10.0  # a tick published and not consumed back after this long (lost with a node): publish it again


@dataclass(frozen=True)
class PartitionMessage:
    """One message of a home's partition: an event, a status, a heartbeat, a tick or a responder's verdict, with the
    time it speaks for."""

    home: str
    kind: str
    data: bytes
    at: float | None = None  # event, status, heartbeat: when ingest received it (optional for events); tick: due time

    @classmethod
    def of(cls, subject: str, headers: Mapping[str, str] | None, data: bytes) -> PartitionMessage:
        """From a JetStream message's subject and headers; a kind we do not know or a bad time is a ContractError."""
        headers = headers or {}
        kind = headers.get(KIND, EVENT)
        if kind not in (EVENT, STATUS, HEARTBEAT, TICK, FEEDBACK):
            raise ContractError("kind", f"unknown partition message kind {kind[:40]!r}")
        carried = subject_kind(subject)
        if carried != (kind if kind in (TICK, FEEDBACK) else None):
            # A tick or a verdict only on a worker's own subject, which ingest may not publish to; anything else
            # only on an agent's, which the workers may not (anxin.bus.control_subject).
            where = f"the {carried} subject" if carried else "an agent's subject"
            raise ContractError("kind", f"a {kind[:40]} message on {where}")
        at = None
        if kind != EVENT or AT in headers:
            try:
                at = float(headers[AT])
            except (KeyError, ValueError) as err:
                raise ContractError("at", f"{kind or 'event'} without a valid {AT} header") from err
            if not math.isfinite(at):
                raise ContractError("at", f"{kind or 'event'} with a non-finite {AT}")
        return cls(home_of(subject), kind, data, at)


def step(engine: Engine, event: SensorEvent, received: float | None = None) -> list[Finding]:
    """One event in event time: tick its home up to the event, then observe it (pure: no clock, no I/O).

    `received` (ingest's receipt) lets the home tell a queue being replayed from live events, as the embedded service
    does with its clock: while an agent replays, the home's checks wait until the replay settled, so an hour of
    history arriving in a minute is not an hour of stillness.
    """
    monitor = engine.monitor(event.home)
    t = event.ts.timestamp()
    out = monitor.tick_at(t) if t >= monitor.next_check else []
    at = None if received is None else datetime.fromtimestamp(received, UTC)
    return out + [with_epoch(f, event) for f in engine.observe(event, at)]


def run_tick(monitor: HomeMonitor, due: float) -> list[Finding]:
    """A tick at its due time: the checks due by then, none when an event already moved the home past it."""
    return monitor.tick_at(due) if due >= monitor.next_check else []


def apply(engine: Engine, msg: PartitionMessage) -> list[Finding]:
    """One partition message through its home; a payload that breaks the contract raises ContractError."""
    if msg.kind == EVENT:
        event = parse_event(msg.data)
        if event.home != msg.home:
            raise ContractError("home", f"an event of {event.home} in the partition subject of {msg.home}")
        return step(engine, event, msg.at)
    assert msg.at is not None  # PartitionMessage.of checked it
    if msg.kind == TICK:
        monitor = engine.homes.get(msg.home)
        return [] if monitor is None else run_tick(monitor, msg.at)
    if msg.kind == FEEDBACK:  # (anomaly/feedback_bridge.py)
        fb = parse_feedback(msg.data)
        if fb.home != msg.home:
            raise ContractError("home", f"feedback of {fb.home} in the partition subject of {msg.home}")
        engine.feedback(fb, datetime.fromtimestamp(msg.at, UTC))  # (its check is due at receipt, on this clock)
        return []
    if msg.kind == STATUS:
        online = parse_status(msg.data).state == "online"
    else:
        hb = parse_heartbeat(msg.data)
        if hb.home != msg.home:
            raise ContractError("home", f"a heartbeat of {hb.home} in the partition subject of {msg.home}")
        online = True
    engine.monitor(msg.home).agent_status(msg.at, online)
    return []


def quiet(engine: Engine, msg: PartitionMessage) -> bool:
    """A heartbeat of an agent already online changes nothing: its home's checkpoint can wait (as the embedded
    service's does), which matters since heartbeats come every minute from every home."""
    monitor = engine.homes.get(msg.home)
    if msg.kind != HEARTBEAT or monitor is None:
        return False
    d = monitor.devices
    return d.agent_offline_since is None and not d.agent_reported


def reference(engine: Engine, messages: Iterable[PartitionMessage | SensorEvent]) -> list[Finding]:
    """The findings of these messages (each home's in stream order) on `engine`: what the workers must publish."""
    out: list[Finding] = []
    for m in messages:
        out.extend(step(engine, m) if isinstance(m, SensorEvent) else apply(engine, m))
    return out


class Clock:
    """Which of a worker's homes are due a tick by the wall clock, and the ticks published but not consumed yet."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[float, float]] = {}  # home -> (due time ticked, monotonic time published)

    def due(self, homes: Iterable[tuple[str, HomeMonitor]], now: float, mono: float) -> list[tuple[str, float]]:
        """(home, due time) of every home whose next check passed `now`, unless its tick is on its way."""
        out = []
        for home, m in homes:
            d = m.next_check
            if not math.isfinite(d) or d + TICK_LAG_S > now:
                continue
            sent = self.pending.get(home)
            if sent is not None and sent[0] == d and mono - sent[1] < TICK_RETRY_S:
                continue
            out.append((home, d))
        return out

    def sent(self, home: str, due: float, mono: float) -> None:
        """A tick of `home` at `due` is in the stream."""
        self.pending[home] = (due, mono)

    def seen(self, home: str, due: float) -> None:
        """The tick came back through the partition and ran."""
        if self.pending.get(home, (None,))[0] == due:
            del self.pending[home]

    def forget(self, homes: Iterable[str]) -> None:
        """Homes we no longer hold (partition dropped, state to be read again)."""
        for home in homes:
            self.pending.pop(home, None)
