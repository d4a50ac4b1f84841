"""`anxin replay`: the live engine run over a CSV of one home's events, with the clock ticking in between."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anomaly.const import MAT_ROLES
from anomaly.engine import HomeLimits, HomeMonitor, Tuning
from anomaly.roles import NO_FRONT_DOOR
from anomaly.synonyms import columns_of, doors_out, front_among, kind_of, role_of, value_of
from contracts import Finding

if TYPE_CHECKING:
    import _csv

REPLAY_HOME = "h-replay0"
# A naive CSV is replayed as if it were UTC: local time then equals the naive time, and no DST shifts anything.
REPLAY_TZ = UTC

Row = tuple[float, str, str, int | float | str, str | None]


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


def parse_time(text: str, tz: tzinfo = REPLAY_TZ) -> float:
    """Epoch seconds of an ISO time as the events CSV writes it (naive: in `tz`, the replay's zone or the CSV's)."""
    ts = any_time(text)
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=tz)).timestamp()


DELIMITERS = ";\t|"  # a CSV's separator other than the comma, when its header has no comma


def csv_table(lines: Iterable[str]) -> tuple[_csv.Reader, list[str]] | None:
    """A CSV reader positioned after the header, and the header; the separator is the header's (`DELIMITERS`)."""
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return None
    sep = "," if "," in first else max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
    return csv.reader(it, delimiter=sep), next(csv.reader([first], delimiter=sep), [])


def read_rows(fh: Iterable[str], tz: tzinfo = REPLAY_TZ) -> Iterator[Row]:
    """Rows of an events CSV (`ts,sensor,kind,value,room`; naive times are local, in `tz`) as epoch-second tuples.

    Kinds, values and column names are read as ours (`anomaly.synonyms`): ON/OFF, true/false, 1.0/0.0, OPEN/CLOSE,
    `timestamp` for `ts`; a `;`, tab or `|` separated file too. A row that cannot be read raises ValueError naming its
    line.
    """
    line = 1
    try:
        table = csv_table(fh)
        if table is None:
            return
        reader, header = table
        cols = columns_of(header)
        try:
            i_ts, i_s, i_k, i_v = (cols[c] for c in ("ts", "sensor", "kind", "value"))
        except KeyError as err:
            raise ValueError(f"CSV header must have ts,sensor,kind,value[,room]; got {header}") from err
        i_r = cols.get("room", -1)
        need = max(i_ts, i_s, i_k, i_v) + 1
        for rec in reader:
            line = reader.line_num + 1  # (the header was read apart: `csv_table`)
            if not rec:
                continue
            if len(rec) < need:
                raise ValueError(f"line {line}: {len(rec)} fields, the header names {need} or more")
            try:
                ts = any_time(rec[i_ts])
            except ValueError as err:
                raise ValueError(f"line {line}: {err} (hint: 2025-03-06T23:59:59)") from None
            t = (ts if ts.tzinfo is not None else ts.replace(tzinfo=tz)).timestamp()  # parse_time, inlined: hot
            room = rec[i_r] if i_r >= 0 and i_r < len(rec) and rec[i_r] else None
            kind = kind_of(rec[i_k])
            yield t, rec[i_s], kind, value_of(kind, rec[i_v]), room
    except csv.Error as err:
        raise ValueError(f"line {line + 1}: {err}") from None  # (the line after the last one read whole)


# Times other tools write, tried when a time is not ISO 8601 (CASAS-like slashes, van Kasteren's raw files).
# (`%Y/%m/%d %H:%M`: a spreadsheet's year-first date without seconds, as zh-CN Excel writes it.)
OTHER_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d-%b-%Y %H:%M:%S",
    "%d-%b-%Y %H:%M:%S.%f",
)
EPOCH_MS = 1e11  # an epoch number above this is in milliseconds (1e11 s is the year 5138)


# Epoch seconds (10 digits) or milliseconds (13), a fraction allowed: fromisoformat would read 1741000000123 as the
# year 1741. Other runs of digits are compact local times (20250303080000), not guessed. ASCII digits only.
EPOCH = re.compile(r"\s*(?:[0-9]{10}|[0-9]{13})(?:\.[0-9]*)?\s*$")
EPOCH_YEARS = (1990, 2100)  # an epoch time outside these is a misread column, not a recording


def _epoch_time(text: str) -> datetime:
    n = float(text)
    try:
        ts = datetime.fromtimestamp(n / 1000.0 if n > EPOCH_MS else n, UTC)
    except (OverflowError, OSError) as err:
        raise ValueError(f"epoch time {text.strip()!r}: {err}") from None
    if not EPOCH_YEARS[0] <= ts.year < EPOCH_YEARS[1]:
        raise ValueError(f"epoch time {text.strip()!r} is {ts:%Y-%m-%d}, not a plausible recording time")
    return ts


def any_time(text: str) -> datetime:
    """A time as recordings write it: ISO 8601, epoch seconds or milliseconds, or OTHER_TIME_FORMATS (ValueError)."""
    if EPOCH.match(text):
        return _epoch_time(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        other = other_time(text)
        if other is None:
            raise
        return other


def other_time(text: str) -> datetime | None:
    """A time in one of OTHER_TIME_FORMATS, naive; None if none fits.

    Day-first and month-first dates with slashes are not guessed (03/04 is March or April).
    """
    t = text.strip()
    for fmt in OTHER_TIME_FORMATS:
        try:
            return datetime.strptime(t, fmt)
        except ValueError:
            continue
    return None


def zone_of(path: Path) -> tzinfo:
    """The zone of an events CSV: its first time's UTC offset when written with one, else the replay's (naive: UTC).

    Detection reads the local time of day (nights, mornings). Read as UTC, a CSV written with +08:00 put every night in
    the afternoon: our simulator's false alerts went 1.0 -> 48 per home per 60 days. (One offset for the whole file: a
    recording across a daylight-saving change is an hour off for part of it.)
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            table = csv_table(fh)
            i = columns_of(table[1]).get("ts") if table is not None else None
            if table is None or i is None:
                return REPLAY_TZ
            first = next((rec[i] for rec in table[0] if len(rec) > i), None)
        except csv.Error:
            return REPLAY_TZ  # (read_rows says what is wrong with it)
    try:
        offset = None if first is None else datetime.fromisoformat(first).utcoffset()
    except ValueError:
        return REPLAY_TZ  # (read_rows says what is wrong with it)
    return REPLAY_TZ if offset is None else timezone(offset)


def front_door_of(rows: Iterable[Row]) -> tuple[str | None, str | None]:
    """The front door and the kind it is recorded as: a `door` in a room named entrance, else the only `door`, else
    the one `door` (or, with no `door` at all, the one `contact`) that `synonyms.front_among` picks; (None, None)."""
    doors: dict[str, str | None] = {}
    contacts: dict[str, str | None] = {}
    for _t, sensor, kind, _v, room in rows:
        if kind == "door" and sensor not in doors:
            doors[sensor] = room
        elif kind == "contact" and sensor not in contacts:
            contacts[sensor] = room
    for sensor, room in doors.items():
        if (room or "").strip().lower() == "entrance":
            return sensor, "door"
    if len(doors) == 1:
        return next(iter(doors)), "door"
    if doors:
        front = front_among(doors)
        return (front, "door") if front is not None else (None, None)
    front = front_among(contacts)
    return (front, "contact") if front is not None else (None, None)


def contact_words(rows: Sequence[Row], sensor: str | None) -> dict[str, str]:
    """How a front door recorded as a contact says open and closed, when it says `true` / `false`.

    zigbee2mqtt's `contact: true` is the circuit made (shut); a boolean column of "fired" is true when open. A front
    door is shut far more than it is open, so the state it spends longer in is closed. {} for other words (read as
    `synonyms.value_of` reads a door's).
    """
    held = {"true": 0.0, "false": 0.0}
    state, since = None, 0.0
    for t, s, k, v, _r in rows:
        if s != sensor or k != "contact" or str(v) not in held:
            continue
        if state is not None:
            held[state] += t - since
        state, since = str(v), t
    if not any(held.values()):
        return {}
    shut = max(held, key=held.__getitem__)
    return {shut: "closed", ("false" if shut == "true" else "true"): "open"}


def in_order(rows: Sequence[Row]) -> tuple[list[Row], int, int]:
    """The rows in time order, each event once: (rows, how many were moved into order, how many repeated one before).

    A recording is a record of what happened, not of how it was delivered: one written sensor by sensor (a file per
    sensor, concatenated) replayed as written ran the clock back at every sensor and found nothing (every source's
    lies, 0 of all). The sort is stable, so rows of the same time keep their order. An event written twice (a row
    repeating the same sensor's state just before, at the same time) is one event, as ingest takes a redelivery: a
    tenth of rows doubled raised van Kasteren's false alerts 9.4 -> 13 per 60 days. A switch that bounced (open,
    closed, open in the same second) is three events, and kept.
    """
    ordered = sorted(rows, key=lambda r: r[0]) if any(b[0] < a[0] for a, b in pairwise(rows)) else rows
    moved = sum(1 for a, b in zip(ordered, rows, strict=True) if a is not b) if ordered is not rows else 0
    kept: list[Row] = []
    last: dict[tuple[str, str], object] = {}  # each sensor's state at the present time
    now = None
    for r in ordered:
        if r[0] != now:
            now, last = r[0], {}
        key = (r[1], r[2])
        if key in last and last[key] == r[3]:
            continue
        last[key] = r[3]
        kept.append(r)
    return kept, moved, len(ordered) - len(kept)


def input_fixes(moved: int, dropped: int) -> str:
    """What `in_order` did to a recording, in the words `anxin replay` and `anxin eval` print."""
    return f"{moved} rows moved into time order, {dropped} rows repeating an event (dropped)"


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
    if front is not None:
        m.kit.front_door, m.kit.front_entrance = front, True
    elif m.kit.front_door is None and len({r[1] for r in rows if r[2] == "door"}) > 1:
        # Several doors and none says it is the front one: none is taken for it. The first door seen may be the
        # bathroom's, and taken for the way out it hid a fall behind it (a resident gone out, unwatched).
        m.kit.front_door = NO_FRONT_DOOR
    # Other doors out, by name or room (a back door, a garage's): an outing through one is an outing. Read as inner
    # doors, 40 % of outings through a back door raised van Kasteren's false alerts 9.4 -> 30 per 60 days.
    doors = {r[1]: r[4] for r in rows if r[2] == "door"}
    m.kit.exits = sorted({*m.kit.exits, *(d for d in doors_out(doors) if d != front)})
    out: list[Finding] = []

    def emit(found: list[Finding], now: float) -> None:
        out.extend(found)
        if respond is None:
            return
        for f in found:
            outcome = respond(f)
            if outcome:
                m.apply_feedback(f.kind, outcome, [f.id])
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


def read_events(path: Path) -> tuple[list[Row], tzinfo]:
    """An events CSV's rows (`read_rows`) and its home's zone, naive times read in that zone.

    The zone is the home's own when home.json beside the file names it (`timezone`, an IANA name, as the homes
    table's), else the file's (`zone_of`). A home exported in UTC (as Home Assistant's history and most databases keep
    time) was otherwise watched on UTC's clock: a Shanghai resident's 09:30 walk out was a night exit at 01:30.
    """
    tz = events_zone(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(read_rows(fh, tz)), tz


def events_zone(path: Path) -> tzinfo:
    """The zone an events CSV's home is watched in: home.json's `timezone` beside it, else the file's (`zone_of`)."""
    return home_zone(path.parent) or zone_of(path)


def home_zone(home_dir: Path) -> tzinfo | None:
    """The zone home.json names for the home (`timezone`), or None; ValueError for a zone this machine does not know."""
    path = home_dir / "home.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    name = doc.get("timezone") if isinstance(doc, dict) else None
    if name in (None, ""):
        return None
    zone = zone_named(str(name))
    if zone is None:
        raise ValueError(f"{path}: timezone {name!r} is not a zone this machine knows (hint: Asia/Shanghai)")
    return zone


# A fixed offset as people write one: +08:00, +0800, UTC+8, GMT-05:30 (UTC, GMT and Z alone: UTC).
OFFSET_ZONE = re.compile(r"(?:utc|gmt)?\s*([+-])([0-9]{1,2})(?::?([0-9]{2}))?", re.IGNORECASE)


def zone_named(name: str) -> tzinfo | None:
    """The zone an IANA name (`Asia/Shanghai`) or a fixed offset (`UTC+8`, `+08:00`) names; None if neither."""
    text = name.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return UTC
    fixed = OFFSET_ZONE.fullmatch(text)
    if fixed is not None:
        sign, hours, minutes = fixed.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-offset if sign == "-" else offset) if offset < timedelta(hours=15) else None
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# What an installer can say about a sensor. A simulator's hardware quirks (miss rates, spurious triggers) are left out:
# a detector must not learn what no real home would tell it.
SENSOR_META_KEYS = ("kind", "room", "role", "hold_s")
SENSOR_ROLES = MAT_ROLES
MAX_SENSORS = 1000


def _sensor_entry(sensor: str, rec: Mapping[str, object], where: Path) -> dict[str, str]:
    """One sensor's metadata, checked: a mat's role among SENSOR_ROLES, a hold time in seconds >= 0.

    Other kinds may carry any role as a label (a contact's `fridge`, `cupboard`): only a mat's role changes detection.
    """
    entry = {k: str(rec[k]).strip() for k in SENSOR_META_KEYS if rec.get(k) not in (None, "")}
    if "kind" in entry:
        entry["kind"] = kind_of(entry["kind"])  # (in the events' words, `synonyms`)
    if "role" in entry:
        entry["role"] = role_of(entry["role"])
    role = entry.get("role")
    if role is not None and entry.get("kind") == "pressure" and role not in SENSOR_ROLES:
        raise ValueError(f"{where}: sensor {sensor!r}: role {role!r} is not one of {', '.join(sorted(SENSOR_ROLES))}")
    hold = entry.get("hold_s")
    if hold is not None:
        try:
            ok = math.isfinite(float(hold)) and float(hold) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}: sensor {sensor!r}: hold_s {hold!r} is not a number of seconds >= 0")
    return entry


def read_sensor_meta(home_dir: Path) -> dict[str, dict[str, str]]:
    """Per-sensor metadata beside events.csv, from `sensors.csv` (sensor,kind,room[,role,hold_s]) or else home.json's
    `sensors` list (id,kind,room,...); {} when neither exists. Only SENSOR_META_KEYS are kept."""
    csv_path, json_path = home_dir / "sensors.csv", home_dir / "home.json"
    records: list[tuple[str, Mapping[str, object]]] = []
    where = csv_path
    if csv_path.exists():
        # (utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, as events.csv may.)
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if "sensor" not in (reader.fieldnames or []):
                raise ValueError(
                    f"{csv_path}: header must have sensor,kind,room[,role,hold_s]; got {reader.fieldnames}"
                )
            records = [(str(r["sensor"]).strip(), r) for r in reader]
    elif json_path.exists():
        where = json_path
        doc = json.loads(json_path.read_text())
        listed = doc.get("sensors", []) if isinstance(doc, dict) else []
        if not isinstance(listed, list) or not all(isinstance(s, dict) and s.get("id") for s in listed):
            raise ValueError(f"{json_path}: `sensors` must be a list of objects with an `id`")
        records = [(str(s["id"]), s) for s in listed]
    if len(records) > MAX_SENSORS:
        raise ValueError(f"{where}: {len(records)} sensors, more than {MAX_SENSORS}")
    return {sensor: _sensor_entry(sensor, rec, where) for sensor, rec in records if sensor}


def write_jsonl(findings: Iterable[Finding], out: TextIO, tz: tzinfo = REPLAY_TZ) -> int:
    """Write one JSON object per finding, its times in `tz` (`to_record`); returns how many."""
    n = 0
    for f in findings:
        out.write(json.dumps(to_record(f, tz), ensure_ascii=False) + "\n")
        n += 1
    return n
