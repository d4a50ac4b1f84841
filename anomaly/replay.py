"""`anxin replay`: the live engine run over a CSV of one home's events, with the clock ticking in between."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from anomaly.engine import HomeLimits, HomeMonitor, Tuning
from anomaly.recording import REPLAY_TZ, Row, contact_words, front_door_of, in_order, read_events
from anomaly.roles import NO_FRONT_DOOR
from anomaly.synonyms import doors_out, value_of
from contracts import Finding

REPLAY_HOME = "h-replay0"


@dataclass
class ReplayResult:
    """The findings of one replay, with the first and last event times (epoch seconds)."""

    findings: list[Finding]
    events: int
    start: float
    end: float
    monitor: HomeMonitor
    tz: tzinfo = REPLAY_TZ  # the zone its times were written in
    reordered: int = 0  # rows moved into time order (`in_order`)
    duplicates: int = 0  # rows dropped as the same event written twice


def replay(
    rows: list[Row],
    home: str = REPLAY_HOME,
    limits: HomeLimits | None = None,
    tuning: Tuning | None = None,
    until: float | None = None,
    sensors: Mapping[str, Mapping[str, str]] | None = None,
    respond: Callable[[Finding], str | None] | None = None,
    probe: Callable[[HomeMonitor, float], None] | None = None,
    tz: tzinfo = REPLAY_TZ,
) -> ReplayResult:
    """Run one home's events through a fresh monitor, ticking at every check it asks for between events.

    While the agent is offline (a `status` row with value `offline`) the events it buffered are held back and
    delivered when it is online again, as a real agent replays its queue. `sensors` (see `read_sensor_meta`) is given
    to the monitor's `set_sensor_meta` when it has one. `respond`, when given, is a responder: the outcome it returns
    for a finding (`false_alarm`, `needed_help`, ...) is fed back at once, as the service's feedback would be. `probe`,
    when given, is called with the monitor and the time after every tick (evaluation reads why a fall went unraised).
    `tz` is the home's zone (`zone_of`): where its nights and mornings are.

    The clock never runs back: a tick is at the check asked for or at the latest delivery, whichever is later (events
    delivered late from an agent's buffer ask for checks at their own, earlier, times).
    """
    rows, reordered, duplicates = in_order(rows)
    m = HomeMonitor(home, tz, limits, tuning)
    set_meta = getattr(m, "set_sensor_meta", None)
    if sensors and callable(set_meta):
        set_meta({s: dict(v) for s, v in sensors.items()})
    rooms = {s: v["room"] for s, v in (sensors or {}).items() if v.get("room")}
    if rooms and any(r[4] is None for r in rows):
        # A recording without a room column: each sensor is where the home's sensor list says (as a live agent's
        # events carry the room its config gives).
        rows = [(t, s, k, v, rooms.get(s) if r is None else r) for t, s, k, v, r in rows]
    front, recorded_as = front_door_of(rows)
    if recorded_as == "contact":
        # No `door` kind: the entrance is a plain contact sensor. Taken as the door it is, or nobody ever goes out
        # (van Kasteren A with its front door as a contact: false alerts 9.4 -> 57 per 60 days).
        words = contact_words(rows, front)
        rows = [
            (t, s, "door", words.get(str(v)) or value_of("door", str(v)), r)
            if s == front and k == "contact"
            else (t, s, k, v, r)
            for t, s, k, v, r in rows
        ]  # (its battery reports stay what they are)
    doors = {r[1]: r[4] for r in rows if r[2] == "door"}
    if front is not None:
        m.kit.front_door, m.kit.front_entrance = front, True
    elif m.kit.front_door is None and len(doors) > 1:
        # Several doors and none says it is the front one: none is taken for it. The first door seen may be the
        # bathroom's, and taken for the way out it hid a fall behind it (a resident gone out, unwatched).
        m.kit.front_door = NO_FRONT_DOOR
    # Other doors out, by name or room (a back door, a garage's): an outing through one is an outing. Read as inner
    # doors, 40 % of outings through a back door raised van Kasteren's false alerts 9.4 -> 30 per 60 days.
    m.kit.exits = sorted({*m.kit.exits, *(d for d in doors_out(doors) if d != front)})
    out: list[Finding] = []

    def emit(found: list[Finding], now: float) -> None:
        out.extend(found)
        if respond is None:
            return
        for f in found:
            outcome = respond(f)
            if outcome:
                m.apply_feedback(f.kind, outcome, now, [f.id])
                emit(m.tick_at(now), now)  # feedback asks for a check now, as the service's tick does

    def tick(now: float) -> None:
        emit(m.tick_at(now), now)
        if probe is not None:
            probe(m, now)

    held: list[Row] = []
    offline = False
    clock = -math.inf  # the latest time delivered
    for row in rows:
        t = row[0]
        while m.next_check <= t:
            tick(max(m.next_check, clock))
        clock = max(clock, t)
        if row[2] == "status":
            offline = str(row[3]) == "offline"
            emit(m.observe_at(*row), t)
            if not offline:
                for h in held:
                    emit(m.observe_at(*h, received=t), t)
                held.clear()
            continue
        if offline:
            held.append(row)
            continue
        emit(m.observe_at(*row), t)
    start = rows[0][0] if rows else 0.0
    end = rows[-1][0] if rows else 0.0
    # A recording ends at its last row: what followed was not recorded, so by default the clock stops there (a
    # recording cut mid-morning is not a resident who stopped moving). `until` runs it on, when the caller knows the
    # home was watched longer (a simulation to midnight, a lie labelled past the last row).
    stop = end if until is None else max(until, end)
    while m.next_check <= stop:
        tick(max(m.next_check, clock))
    return ReplayResult(out, len(rows), start, end, m, tz, reordered, duplicates)


def naive(ts: datetime, tz: tzinfo = REPLAY_TZ) -> str:
    """A finding time as ISO text as the input wrote its times: naive in the replay's zone, else with its offset."""
    local = ts.astimezone(tz)
    return (local.replace(tzinfo=None) if tz is REPLAY_TZ else local).isoformat(timespec="seconds")


def describe(f: Finding) -> str:
    """One line a responder understands."""
    e = f.evidence
    if f.kind == "panic":
        return f"panic button pressed ({e.get('sensor')})"
    if f.kind == "long_inactivity":
        return (
            f"no movement for {e.get('still_min')} min, last in {e.get('room')} (usual limit {e.get('limit_min')} min)"
        )
    if f.kind == "night_exit":
        return f"front door opened at night, nobody back inside for {e.get('gone_min')} min"
    if f.kind == "door_left_open":
        return f"front door open for {e.get('open_min')} min"
    if f.kind == "missed_morning":
        return f"not up yet, usually up by {e.get('usual_wake')}; last movement in {e.get('room')}"
    if f.kind == "night_wandering":
        return f"up at night for {e.get('up_min')} min through {e.get('room_changes')} room changes"
    if f.kind == "activity_decline":
        return f"activity {e.get('active_events')} events a day, usually about {e.get('baseline_events')}"
    if f.kind == "night_restlessness":
        return f"night visits rising, now about {e.get('night_visits_mean')} a night"
    if f.kind == "sensor_silent":
        return f"sensor {e.get('sensor')} silent for {e.get('silent_h')} h"
    if f.kind == "low_battery":
        return f"sensor {e.get('sensor')} battery at {e.get('battery')}%"
    if f.kind == "agent_offline":
        extra = ", possible inactivity since " + str(e.get("last_motion")) if e.get("possible_inactivity") else ""
        return f"home agent offline for {e.get('offline_min')} min{extra}"
    return f.kind


def to_record(f: Finding, tz: tzinfo = REPLAY_TZ) -> dict[str, Any]:
    """The JSON object `anxin replay` writes for one finding (times as the input wrote them, `naive`)."""
    naive_in = tz is REPLAY_TZ
    return {
        "ts": naive(f.ts, tz),
        "kind": f.kind,
        "severity": f.severity.value,
        "summary": describe(f),
        # Times in the evidence follow the input's zone too (the monitor's): naive in, naive out.
        "evidence": {
            k: v[:-6] if naive_in and isinstance(v, str) and v.endswith("+00:00") else v for k, v in f.evidence.items()
        },
    }


def replay_file(
    path: Path,
    home: str = REPLAY_HOME,
    tuning: Tuning | None = None,
    until: float | None = None,
    sensors: Mapping[str, Mapping[str, str]] | None = None,
) -> ReplayResult:
    """Replay one events CSV, in its own zone (`zone_of`)."""
    rows, tz = read_events(path)
    return replay(rows, home, tuning=tuning, until=until, sensors=sensors, tz=tz)


def write_jsonl(findings: Iterable[Finding], out: TextIO, tz: tzinfo = REPLAY_TZ) -> int:
    """Write one JSON object per finding, its times in `tz` (`to_record`); returns how many."""
    n = 0
    for f in findings:
        out.write(json.dumps(to_record(f, tz), ensure_ascii=False) + "\n")
        n += 1
    return n
