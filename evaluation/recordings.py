"""Public recordings of real homes -> replay folders (`events.csv`, `labels.csv`), with long lies injected.

Two published formats of binary sensors reported as intervals (one row from a sensor's first to its last firing):
- UCI "Activities of Daily Living (ADL) Recognition Using Binary Sensors" (Ordonez, de Toledo, Sanchis 2013):
  `OrdonezA_Sensors.txt`, `OrdonezB_Sensors.txt`: start, end, location, type, place, tab-separated.
- van Kasteren et al., "Accurate activity recognition in a home setting" (UbiComp 2008), house A:
  `kasterenSenseData.txt`: start, end, sensor id, value; the ids are named in the file's header.
Neither is copied into this repository; `anxin recording import` reads a downloaded copy.

A real recording has no falls, so falls are made: the injection removes every event inside a window that begins a
few seconds after an ordinary moment of activity (`inject_lies`). That is what a resident lying on the floor looks
like to a home's sensors: nothing, until someone helps them up.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from anomaly.const import ON_VALUES

FORMATS = ("ordonez", "kasteren")
HOLDING = ("pressure", "motion")  # a body on a mat, a PIR still seeing movement: no moment for a fall
# When lies may begin (local hours, start inclusive): by day, as the judged lies are placed; or up at night, out of bed
# (the engine's hardest hours, measured apart: docs/anomaly.md, "Results").
DAY = (7, 23)
NIGHT = (23, 7)
WHEN = {"day": DAY, "night": NIGHT}

# UCI ADL sensor types -> our kinds (`to_rows` gives each kind its values).
_UCI_KINDS = {"pir": "motion", "pressure": "pressure", "electric": "power", "flush": "flush", "magnetic": "contact"}
# Kasteren names its sensors only; the room is read from the name (first match wins; the rest are kitchen things; the
# washing machine's room is our assumption).
_KASTEREN_ROOMS = (("toilet", "toilet"), ("bathroom", "bathroom"), ("washing", "bathroom"), ("bedroom", "bedroom"))


@dataclass(frozen=True)
class Interval:
    """One sensor's firing from start to end (a door open, a mat pressed, a PIR seeing movement)."""

    start: datetime
    end: datetime
    sensor: str
    kind: str
    room: str


Row = tuple[datetime, str, str, str, str]  # ts, sensor, kind, value, room


def read_ordonez(lines: Iterable[str]) -> list[Interval]:
    """Intervals of UCI ADL `Ordonez*_Sensors.txt` lines (header lines, then tab-separated rows)."""
    rows: list[tuple[int, list[str]]] = []
    for n, line in enumerate(lines, 1):
        fields = [f.strip() for f in line.rstrip("\r\n").split("\t") if f.strip()]
        if fields and not fields[0].lower().startswith("start") and not set(fields[0]) <= {"-"}:
            rows.append((n, fields))
    places: dict[str, set[str]] = {}
    for n, r in rows:
        if len(r) != 5:
            raise ValueError(f"line {n}: expected start, end, location, type, place; got {len(r)} fields")
        if r[3].lower() not in _UCI_KINDS:
            raise ValueError(f"line {n}: unknown sensor type {r[3]!r} (known: {', '.join(sorted(_UCI_KINDS))})")
        places.setdefault(r[2], set()).add(r[4])
    out = []
    for _n, (start, end, location, typ, place) in rows:
        front = location.lower() == "maindoor"
        # Home B names three PIRs "Door" (living, kitchen, bedroom): one name per place keeps them apart.
        name = location if len(places[location]) == 1 else f"{location}_{place}"
        out.append(
            Interval(
                _time(start, "%Y-%m-%d %H:%M:%S"),
                _time(end, "%Y-%m-%d %H:%M:%S"),
                _name(name),
                "door" if front else _UCI_KINDS[typ.lower()],
                "entrance" if front else place.lower(),
            )
        )
    return out


def read_kasteren(lines: Iterable[str]) -> list[Interval]:
    """Intervals of van Kasteren's `kasterenSenseData.txt` (sensor names in its header, rows after a dashed line)."""
    names: dict[int, str] = {}
    out: list[Interval] = []
    body = False
    for line in lines:
        text = line.rstrip("\r\n")
        named = re.match(r"\s*\[\s*(\d+)\]\s*'([^']+)'", text)
        if named:
            names[int(named.group(1))] = named.group(2).strip()
        elif text.startswith("---"):
            body = True
        elif body and text.strip() and not text.startswith("Length"):
            fields = text.split("\t")
            if len(fields) != 4:
                raise ValueError(f"expected start, end, id, value; got {text!r}")
            sid = int(fields[2])
            if sid not in names:
                raise ValueError(f"sensor id {sid} is not named in the file's header")
            out.append(_kasteren_interval(fields, names[sid]))
    if not body:
        raise ValueError("no dashed line before the rows: not a kasterenSenseData.txt")
    return out


def _kasteren_interval(fields: list[str], label: str) -> Interval:
    low = label.lower()
    room = next((r for key, r in _KASTEREN_ROOMS if key in low), "kitchen")
    # All of house A's sensors are reed switches on doors and appliance doors, and a float in the toilet's cistern.
    kind = "door" if "front" in low else "flush" if "flush" in low else "contact"
    return Interval(
        _time(fields[0], "%d-%b-%Y %H:%M:%S"),
        _time(fields[1], "%d-%b-%Y %H:%M:%S"),
        _name(label.replace("Hall-", "")),
        kind,
        "entrance" if kind == "door" else room,
    )


def _time(text: str, fmt: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), fmt)
    except ValueError as err:
        raise ValueError(f"time {text!r} is not {fmt}") from err


def _name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def to_rows(intervals: Iterable[Interval]) -> list[Row]:
    """Two events per interval, its start and its end (an interval of no length lasts a second), in time order."""
    values = {"contact": ("open", "closed"), "door": ("open", "closed")}
    rows: list[Row] = []
    for iv in intervals:
        on, off = values.get(iv.kind, ("1", "0"))
        end = max(iv.end, iv.start + timedelta(seconds=1))
        rows.append((iv.start, iv.sensor, iv.kind, on, iv.room))
        rows.append((end, iv.sensor, iv.kind, off, iv.room))
    rows.sort(key=lambda r: r[0])
    return rows


@dataclass(frozen=True)
class Lie:
    """An injected long lie: the window nothing happens in."""

    start: datetime
    end: datetime


def within(hour: int, hours: tuple[int, int]) -> bool:
    """Whether `hour` is in [start, end) of `hours`, which may run past midnight (23-7)."""
    start, end = hours
    return start <= hour < end if start < end else hour >= start or hour < end


def lie_moments(
    rows: Sequence[Row], taken: Sequence[Lie], settle_days: float = 3.0, hours: tuple[int, int] = DAY
) -> list[int]:
    """Rows after which a fall is plausible: a moment of activity in `hours`, with nothing held on, resident at home.

    Activity: the next event follows within 10 min (the resident is up and about, not settling for a nap). Nothing
    held: no mat pressed, no PIR still on (a door or cupboard left open holds nobody: in a home whose doors stand
    open for days, counting them left almost no moment). By day (07-23 h; `hours=NIGHT`: up at night, out of bed),
    after the first `settle_days` (a model has something to go on) and 4 h from other lies. At home: the front door
    does not move for the next 3 h, so the window never hides a departure (which would leave a home that looks
    occupied and silent for a whole absence).
    """
    held: set[str] = set()
    doors = [r[0] for r in rows if r[2] == "door"]
    first = rows[0][0] + timedelta(days=settle_days) if rows else datetime.max
    out = []
    for i, (t, sensor, kind, value, _room) in enumerate(rows):
        if kind in HOLDING and value in ON_VALUES:
            held.add(sensor)
        else:
            held.discard(sensor)
        if held or not within(t.hour, hours) or t <= first or i + 1 >= len(rows):
            continue
        if (rows[i + 1][0] - t).total_seconds() >= 600:
            continue
        if any(abs((t - lie.start).total_seconds()) <= 4 * 3600 for lie in taken):
            continue
        if any(t < d <= t + timedelta(hours=3) for d in doors):
            continue
        out.append(i)
    return out


def inject_lies(rows: list[Row], count: int, seed: int, hours: tuple[int, int] = DAY) -> tuple[list[Row], list[Lie]]:
    """Remove every event inside `count` lies of 30-90 min, each just after a moment from `lie_moments`.

    The fall comes before the next event (5 s after the moment, or half-way to the next event if sooner), so nothing
    switches on between the moment and the fall to be held through the lie. An interval begun inside a lie loses its
    end too (its start never happened). Deterministic in `seed`; fewer than `count` when the moments run out.
    """
    rng = random.Random(seed)
    lies: list[Lie] = []
    for _ in range(count):
        moments = lie_moments(rows, lies, hours=hours)
        if not moments:
            break
        i = rng.choice(moments)
        t0 = rows[i][0] + min(timedelta(seconds=5), (rows[i + 1][0] - rows[i][0]) / 2)
        lie = Lie(t0, t0 + timedelta(minutes=rng.uniform(30.0, 90.0)))
        rows = _remove(rows, lie)
        lies.append(lie)
    return rows, sorted(lies, key=lambda x: x.start)


def _remove(rows: list[Row], lie: Lie) -> list[Row]:
    gone = {r[1] for r in rows if lie.start < r[0] <= lie.end and r[3] in ON_VALUES}
    keep = []
    for row in rows:
        t, sensor, _kind, value, _room = row
        if lie.start < t <= lie.end:
            continue
        if t > lie.end and sensor in gone:
            gone.discard(sensor)
            if value not in ON_VALUES:
                continue  # the end of an interval whose start is gone
        keep.append(row)
    return keep


def write_home(home_dir: Path, rows: Sequence[Row], lies: Sequence[Lie], recording: str) -> None:
    """Write one replay folder: events.csv, labels.csv (the injected lies) and home.json naming the recording."""
    home_dir.mkdir(parents=True, exist_ok=True)
    with open(home_dir / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["ts", "sensor", "kind", "value", "room"])
        for t, sensor, kind, value, room in rows:
            w.writerow([t.isoformat(timespec="milliseconds"), sensor, kind, value, room])
    with open(home_dir / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["type", "start", "end", "note"])
        for lie in lies:
            w.writerow(
                [
                    "long_lie",
                    lie.start.isoformat(timespec="milliseconds"),
                    lie.end.isoformat(timespec="milliseconds"),
                    "injected: events removed",
                ]
            )
    (home_dir / "home.json").write_text(json.dumps({"recording": recording}, indent=1) + "\n")


def read_recording(fmt: str, paths: Sequence[Path]) -> list[Row]:
    """The events of one home from its raw files in format `fmt` (several files are one recording, in order)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    intervals: list[Interval] = []
    if fmt == "ordonez":
        # One recording in several files is read as one, so a sensor's name (by its places) is the same in each.
        lines: list[str] = []
        for path in paths:
            lines += path.read_text(encoding="utf-8-sig").splitlines()
        where = ", ".join(map(str, paths))
        try:
            intervals = read_ordonez(lines)
        except ValueError as err:
            more = " (lines counted over the files in order)" if len(paths) > 1 else ""
            raise ValueError(f"{where}: {err}{more}") from err
    for path in paths if fmt == "kasteren" else []:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            try:
                intervals += read_kasteren(fh)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from err
    if not intervals:
        raise ValueError(f"no sensor rows in {', '.join(map(str, paths))}")
    return to_rows(intervals)
