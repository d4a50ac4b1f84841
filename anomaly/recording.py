"""One home's recording as a file: its rows, times, zone, front door and sensor list, read as the contract's words.

What a replay reads before the engine runs (`anomaly.replay`): a recording written by another tool, in its own words
(`anomaly.synonyms`), separators, times and zones, is put in the contract's terms here, so the engine sees what the
live wire would have carried.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anomaly.const import MAT_ROLES, ROOM_CLASSES, room_class
from anomaly.roles import rooms_typed_twice
from anomaly.synonyms import columns_of, front_among, kind_of, role_of, value_of

if TYPE_CHECKING:
    import _csv


# A naive CSV is replayed as if it were UTC: local time then equals the naive time, and no DST shifts anything.
REPLAY_TZ = UTC

Row = tuple[float, str, str, int | float | str, str | None]
# A home folder's events, as written or gzipped: a busy home's year is ~80 MB as text, a tenth as gzip (the peer's
# DEV_1: 13.6 MB in 60 days, 1.4 MB gzipped).
EVENTS_FILES = ("events.csv", "events.csv.gz")
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file (RFC 1952)


def events_file(home_dir: Path) -> Path:
    """The home folder's events file, whichever of `EVENTS_FILES` it holds (events.csv, for the error to name, if
    none); ValueError if it holds both (which is current?)."""
    found = [home_dir / n for n in EVENTS_FILES if (home_dir / n).is_file()]
    if len(found) > 1:
        raise ValueError(f"{home_dir}: holds both events.csv and events.csv.gz (hint: keep one)")
    return found[0] if found else home_dir / EVENTS_FILES[0]


def open_events(path: Path) -> TextIO:
    """An events CSV opened as text, gunzipped on the way if it is gzip (told by its first bytes, whatever its name)."""
    with open(path, "rb") as fh:
        zipped = fh.read(2) == GZIP_MAGIC
    if zipped:
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


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
    with open_events(path) as fh:
        try:
            table = csv_table(fh)
            i = columns_of(table[1]).get("ts") if table is not None else None
            if table is None or i is None:
                return REPLAY_TZ
            first = next((rec[i] for rec in table[0] if len(rec) > i), None)
        except (csv.Error, EOFError, gzip.BadGzipFile, zlib.error):
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


def read_events(path: Path) -> tuple[list[Row], tzinfo]:
    """An events CSV's rows (`read_rows`) and its home's zone, naive times read in that zone.

    The zone is the home's own when home.json beside the file names it (`timezone`, an IANA name, as the homes
    table's), else the file's (`zone_of`). A home exported in UTC (as Home Assistant's history and most databases keep
    time) was otherwise watched on UTC's clock: a Shanghai resident's 09:30 walk out was a night exit at 01:30.
    """
    tz = events_zone(path)  # (its errors name home.json)
    with open_events(path) as fh:
        try:
            return list(read_rows(fh, tz)), tz
        except ValueError as err:  # (a row's error names its line; which file, with many homes, is said here)
            raise ValueError(f"{path}: {err}") from None
        except EOFError:  # (gzip: the file was cut short, in a copy or a download)
            raise ValueError(f"{path}: the gzip file ends early (cut short in a copy?)") from None
        except (gzip.BadGzipFile, zlib.error) as err:  # (a bad header, a failed checksum, damaged data)
            raise ValueError(f"{path}: a damaged gzip file ({err})") from None


def events_zone(path: Path) -> tzinfo:
    """The zone an events CSV's home is watched in: home.json's `timezone` beside it, else the file's (`zone_of`)."""
    return home_zone(path.parent) or zone_of(path)


def home_zone(home_dir: Path) -> tzinfo | None:
    """The zone home.json names for the home (`timezone`), or None; ValueError for a zone this machine does not know."""
    name = home_doc(home_dir).get("timezone")
    if name in (None, ""):
        return None
    zone = zone_named(str(name))
    if zone is None:
        raise ValueError(
            f"{home_dir / 'home.json'}: timezone {name!r} is not a zone this machine knows (hint: Asia/Shanghai)"
        )
    return zone


def home_doc(home_dir: Path) -> dict[str, Any]:
    """The home's description beside its events (`home.json`): {} when absent or not an object; ValueError naming it
    when it is not JSON."""
    path = home_dir / "home.json"
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as err:  # (UnicodeDecodeError and JSONDecodeError both)
        raise ValueError(f"{path}: not JSON ({err})") from None
    return doc if isinstance(doc, dict) else {}


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
SENSOR_META_KEYS = ("kind", "room", "role", "hold_s", "room_type")
SENSOR_ROLES = MAT_ROLES
MAX_SENSORS = 1000


def _sensor_entry(sensor: str, rec: Mapping[str, object], where: Path) -> dict[str, str]:
    """One sensor's metadata, checked: a mat's role among SENSOR_ROLES, a hold time in seconds >= 0, a room type
    among ROOM_CLASSES (or a word for one: `Schlafzimmer`, 卧室), for a room whose name says nothing (`r2`).

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
    if "room_type" in entry:
        entry["room_type"] = _room_type(sensor, rec["room_type"], entry, where)
    hold = entry.get("hold_s")
    if hold is not None:
        try:
            ok = math.isfinite(float(hold)) and float(hold) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}: sensor {sensor!r}: hold_s {hold!r} is not a number of seconds >= 0")
    return entry


def _room_type(sensor: str, given: object, entry: Mapping[str, str], where: Path) -> str:
    """A sensor's `room_type`, as one of ROOM_CLASSES: the class itself, or a word for one (`Schlafzimmer`, 卧室)."""
    text = given.strip().lower() if isinstance(given, str) else ""
    cls = text if text in ROOM_CLASSES else room_class(text)
    if cls not in ROOM_CLASSES or (cls == "other" and text != "other"):
        known = ", ".join(sorted(ROOM_CLASSES))
        raise ValueError(f"{where}: sensor {sensor!r}: room_type {given!r} is not one of {known} (or a word for one)")
    if not entry.get("room"):
        raise ValueError(f"{where}: sensor {sensor!r}: room_type {given!r} without a room to say it of")
    return cls


def _room_types_agree(meta: Mapping[str, Mapping[str, str]], where: Path) -> None:
    """One type per room (`roles.rooms_typed_twice`): two sensors of one room given two types is a mistake to say."""
    for given in rooms_typed_twice(meta).values():
        (first, first_type), (sensor, room_type) = given[0], next(g for g in given if g[1] != given[0][1])
        raise ValueError(
            f"{where}: room {meta[sensor]['room']!r} is a {first_type} for sensor {first!r} and a "
            f"{room_type} for sensor {sensor!r}"
        )


def read_sensor_meta(home_dir: Path) -> dict[str, dict[str, str]]:
    """Per-sensor metadata beside events.csv, from `sensors.csv` (sensor,kind,room[,role,hold_s,room_type]) or else
    home.json's `sensors` list (id,kind,room,...); {} when neither exists. Only SENSOR_META_KEYS are kept."""
    csv_path, json_path = home_dir / "sensors.csv", home_dir / "home.json"
    records: list[tuple[str, Mapping[str, object]]] = []
    where = csv_path
    if csv_path.exists():
        # (utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, as events.csv may.)
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            try:
                reader = csv.DictReader(fh)
                header = reader.fieldnames or []
                records = [(str(r["sensor"]).strip(), r) for r in reader] if "sensor" in header else []
            except (UnicodeDecodeError, csv.Error) as err:
                raise ValueError(f"{csv_path}: not a readable CSV ({err})") from None
        if "sensor" not in header:
            got = reader.fieldnames
            raise ValueError(f"{csv_path}: header must have sensor,kind,room[,role,hold_s,room_type]; got {got}")
    elif json_path.exists():
        where = json_path
        listed = home_doc(home_dir).get("sensors", [])
        if not isinstance(listed, list) or not all(isinstance(s, dict) and s.get("id") for s in listed):
            raise ValueError(f"{json_path}: `sensors` must be a list of objects with an `id`")
        records = [(str(s["id"]), s) for s in listed]
    if len(records) > MAX_SENSORS:
        raise ValueError(f"{where}: {len(records)} sensors, more than {MAX_SENSORS}")
    meta = {sensor: _sensor_entry(sensor, rec, where) for sensor, rec in records if sensor}
    _room_types_agree(meta, where)
    return meta
