"""A home's events written the way other sources write them replay exactly as in the contract's own words.

Over 400 lines on purpose: every spelling is checked against the same two simulated homes (`homes`, generated once
for the module), whose replay in the contract's words is the reference.

CASAS writes ON/OFF and OPEN/CLOSE, pandas 1.0/0.0 for an integer column with a gap, others times with their UTC offset
or the front door as a plain contact sensor. Before `anomaly.synonyms` and `recording.zone_of`, each of these changed
what the engine found: our simulator's lies found went 50/76 -> 0/76 with 1.0/0.0, and its false alerts 1.0 -> 48
per home per 60 days with +08:00 times (docs/anomaly-history.md, "Ninth round").
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from anomaly.recording import any_time, in_order, read_events, read_rows, read_sensor_meta
from anomaly.replay import replay_file
from anomaly.synonyms import kind_of, role_of, value_of

CASAS = {"1": "ON", "0": "OFF", "open": "OPEN", "closed": "CLOSE"}


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from firmware_sim.files import generate

    root = tmp_path_factory.mktemp("spellings")
    generate(root, 2, 21, 9, date(2025, 3, 3), jobs=1, variety="rich")
    return sorted(p for p in root.iterdir() if (p / "events.csv").exists())


def _kit(src: Path, dst: Path) -> None:
    """The home's kit beside its rewritten events: only how the events are written varies."""
    if (src / "home.json").exists():
        (dst / "home.json").write_bytes((src / "home.json").read_bytes())


def _rewrite(src: Path, dst: Path, row: Callable[[list[str]], list[str]]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    _kit(src, dst)
    with open(src / "events.csv", newline="") as fi, open(dst / "events.csv", "w", newline="") as fo:
        reader, writer = csv.reader(fi), csv.writer(fo)
        writer.writerow(next(reader))
        for rec in reader:
            writer.writerow(row(list(rec)))
    return dst


def _casas(rec: list[str]) -> list[str]:
    ts, sensor, kind, value, room = rec
    return [ts, sensor, "PIR" if kind == "motion" else kind, CASAS.get(value, value), room]


def _pandas(rec: list[str]) -> list[str]:
    ts, sensor, kind, value, room = rec
    return [ts, sensor, kind, value + ".0" if value in ("0", "1") else value, room]


def _aware(rec: list[str]) -> list[str]:
    return [rec[0] + "+08:00", *rec[1:]]


def _epoch(rec: list[str]) -> list[str]:
    """Epoch milliseconds (the simulator's naive times are replayed as UTC, so the same instants)."""
    return [str(round(datetime.fromisoformat(rec[0] + "+00:00").timestamp() * 1000)), *rec[1:]]


def _slashes(rec: list[str]) -> list[str]:
    return [rec[0].replace("-", "/").replace("T", " "), *rec[1:]]


def _contact_door(rec: list[str]) -> list[str]:
    ts, sensor, kind, value, room = rec
    return [ts, sensor, "contact" if kind == "door" else kind, value, room]


KIND_WORDS = {"motion": "Motion Sensor", "door": "door-sensor", "pressure": "Pressure Mat", "contact": "Contact Sensor"}
Z2M = {"1": "true", "0": "false", "open": "true", "closed": "false"}


def _kind_words(rec: list[str]) -> list[str]:
    """Kinds as a converted dataset names them ("Motion Sensor", "door-sensor")."""
    ts, sensor, kind, value, room = rec
    return [ts, sensor, KIND_WORDS.get(kind, kind), value, room]


def _force(rec: list[str]) -> list[str]:
    """Mats as ARAS names them: a "Force Sensor" under the mattress or the cushion."""
    ts, sensor, kind, value, room = rec
    return [ts, sensor, "Force Sensor" if kind == "pressure" else kind, value, room]


def _zigbee2mqtt(rec: list[str]) -> list[str]:
    """zigbee2mqtt's words: `occupancy` true/false, and the front door as a `contact` whose true is shut."""
    ts, sensor, kind, value, room = rec
    if kind == "motion":
        return [ts, sensor, "occupancy", Z2M.get(value, value), room]
    if kind == "door":
        return [ts, sensor, "contact", {"open": "false", "closed": "true"}.get(value, value), room]
    return rec


def _fired(rec: list[str]) -> list[str]:
    """A boolean column of "fired": the front door as a `contact` whose true is open."""
    ts, sensor, kind, value, room = rec
    if kind == "door":
        return [ts, sensor, "contact", {"open": "true", "closed": "false"}.get(value, value), room]
    return rec


def _by_sensor(rows: list[list[str]]) -> list[list[str]]:
    """A file per sensor, concatenated: in order within each sensor only."""
    return sorted(rows, key=lambda r: (r[1], r[0]))


def _doubled(rows: list[list[str]]) -> list[list[str]]:
    """Every seventh event written twice."""
    return [r for i, row in enumerate(rows) for r in ([row, row] if i % 7 == 0 else [row])]


def _rewrite_all(src: Path, dst: Path, body: Callable[[list[list[str]]], list[list[str]]]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    _kit(src, dst)
    with open(src / "events.csv", newline="") as fi, open(dst / "events.csv", "w", newline="") as fo:
        reader, writer = csv.reader(fi), csv.writer(fo)
        writer.writerow(next(reader))
        writer.writerows(body([list(r) for r in reader]))
    return dst


def _with_meters(rows: list[list[str]]) -> list[list[str]]:
    """A thermometer and a light meter reporting every 5 min (the light 0 or 1 lux in the dark, as real ones do)."""
    start, end = datetime.fromisoformat(rows[0][0]), datetime.fromisoformat(rows[-1][0])
    meters, i = [], 0
    while start + timedelta(minutes=5 * i) < end:
        ts = (start + timedelta(minutes=5 * i)).isoformat(timespec="milliseconds")
        meters.append([ts, "T001", "temperature", f"{19 + i % 7 * 0.5:.1f}", "kitchen"])
        meters.append([ts, "L002", "light", str((0, 1, 250, 1, 0, 80)[i % 6]), "living"])
        i += 1
    return sorted(rows + meters, key=lambda r: r[0])


def _hourly_states(rows: list[list[str]]) -> list[list[str]]:
    """Every switch but the PIRs and buttons reports the state it is in every hour, as some zigbee devices do."""
    state: dict[str, list[str]] = {}
    extra: list[list[str]] = []

    def again(sensor: str, upto: datetime) -> None:
        ts, _s, kind, value, room = state[sensor]
        t = datetime.fromisoformat(ts) + timedelta(hours=1)
        while t < upto:
            extra.append([t.isoformat(timespec="milliseconds"), sensor, kind, value, room])
            t += timedelta(hours=1)

    for row in rows:
        if row[2] in ("contact", "door", "pressure", "power", "flush"):
            if row[1] in state:
                again(row[1], datetime.fromisoformat(row[0]))
            state[row[1]] = row
    for sensor in state:
        again(sensor, datetime.fromisoformat(rows[-1][0]))
    return sorted(rows + extra, key=lambda r: r[0])


def _findings(home: Path) -> list[tuple[str, str, datetime]]:
    """(kind, severity, local wall time) of every finding: what a responder would read."""
    res = replay_file(home / "events.csv", sensors=read_sensor_meta(home))
    return [(str(f.kind), f.severity.value, f.ts.astimezone(res.tz).replace(tzinfo=None)) for f in res.findings]


@pytest.mark.parametrize(
    "spelling",
    [_casas, _pandas, _aware, _epoch, _slashes, _contact_door, _kind_words, _force, _zigbee2mqtt, _fired],
    ids=lambda f: f.__name__[1:],
)
def test_a_home_spelled_otherwise_gives_the_same_findings(
    homes: list[Path], tmp_path: Path, spelling: Callable[[list[str]], list[str]]
) -> None:
    for home in homes:
        expected = _findings(home)
        assert any(kind == "long_inactivity" for kind, _s, _t in expected)  # a home that says something
        assert _findings(_rewrite(home, tmp_path / home.name, spelling)) == expected


@pytest.mark.parametrize("body", [_by_sensor, _doubled, _with_meters, _hourly_states], ids=lambda f: f.__name__[1:])
def test_rows_out_of_order_or_twice_give_the_same_findings(
    homes: list[Path], tmp_path: Path, body: Callable[[list[list[str]]], list[list[str]]]
) -> None:
    for home in homes:
        assert _findings(_rewrite_all(home, tmp_path / home.name, body)) == _findings(home)
    res = replay_file(tmp_path / homes[-1].name / "events.csv")
    assert (res.reordered > 0) == (body is _by_sensor) and (res.duplicates > 0) == (body is _doubled)
    # (Meters' reports are events: `res.events` counts them, and the engine takes none of them for anyone's doing.)


def test_eval_says_what_it_put_in_order_and_dropped(homes: list[Path], tmp_path: Path) -> None:
    from evaluation.report import run, text

    home = homes[0]
    _rewrite_all(home, tmp_path / "src" / home.name, lambda rows: _doubled(_by_sensor(rows)))
    (tmp_path / "src" / home.name / "labels.csv").write_bytes((home / "labels.csv").read_bytes())
    result, _scores = run([tmp_path / "src"], jobs=1)
    summary = next(iter(result["sources"].values()))["summary"]
    assert summary["input_rows_reordered"] > 0 and summary["input_rows_duplicated"] > 0
    assert f"{summary['input_rows_duplicated']} rows repeating an event (dropped)" in text(result)


def test_synonyms_map_to_the_contract() -> None:
    assert kind_of(" PIR ") == "motion" and kind_of("Occupancy") == "motion" and kind_of("contact") == "contact"
    assert [kind_of(k) for k in ("Magnetic", "reed_switch", "SOS", "motion_sensor")] == [
        "contact",
        "contact",
        "button",
        "motion",
    ]
    assert [value_of("motion", v) for v in ("ON", "off", "1.0", "0.0", "true", "1", "0")] == [1, 0, 1, 0, 1, 1, 0]
    assert [value_of("door", v) for v in ("OPEN", "CLOSE", "1", "0", "closed")] == ["open", "closed"] * 2 + ["closed"]
    assert value_of("button", "1") == "press" and value_of("button", "long_press") == "long_press"
    # Readings stay readings; a word nothing maps is left (lower case) for the engine to take as one.
    assert value_of("temperature", "21.5") == 21.5 and value_of("battery", "52") == 52
    assert value_of("motion", "Tampered") == "tampered" and value_of("contact", "OPEN") == "open"
    assert [role_of(r) for r in ("Bed", "sofa", "bedside", "fridge")] == ["bed", "seat", "floor", "fridge"]
    # Kinds in other words: spaces and hyphens, a generic last word dropped when a kind of ours is left.
    words = ("Motion Sensor", "door-sensor", "door_sensor", "pressure sensor", "Pressure Mat", "motion_detector")
    assert [kind_of(k) for k in words] == ["motion", "door", "door", "pressure", "pressure", "motion"]
    assert [kind_of(k) for k in ("Force Sensor", "FSR", "force-sensitive resistor")] == ["pressure"] * 3
    assert kind_of("light switch") == "light_switch" and kind_of("presence") == "presence"  # not a kind of ours
    # Any mat is a mat (a door mat is no door); a bed, a chair or a window is not a kind of ours (a bed's load cell
    # in kg read as a mat's 0 and 1 was a resident in bed; a window taken for a contact could be the front door).
    assert [kind_of(k) for k in ("Door Mat", "floor-mat", "Bed Sensor", "window")] == [
        "pressure",
        "pressure",
        "bed_sensor",
        "window",
    ]


def test_another_header_and_separator_give_the_same_findings(homes: list[Path], tmp_path: Path) -> None:
    for home in homes:
        other = tmp_path / home.name
        other.mkdir()
        _kit(home, other)
        with open(home / "events.csv", newline="") as fi, open(other / "events.csv", "w", newline="") as fo:
            rows = list(csv.reader(fi))[1:]
            writer = csv.writer(fo, delimiter=";")
            writer.writerow(["Timestamp", "Device", "Type", "State", "Location"])
            writer.writerows(rows)
        assert _findings(other) == _findings(home)


def test_without_a_room_column_the_sensor_list_says_where_each_sensor_is(homes: list[Path], tmp_path: Path) -> None:
    for home in homes:
        bare = tmp_path / home.name
        bare.mkdir()
        (bare / "home.json").write_bytes((home / "home.json").read_bytes())  # its `sensors` list gives each room
        with open(home / "events.csv", newline="") as fi, open(bare / "events.csv", "w", newline="") as fo:
            csv.writer(fo).writerows(rec[:4] for rec in csv.reader(fi))
        assert _findings(bare) == _findings(home)


def test_in_order_keeps_a_bounce_and_drops_only_a_repeat() -> None:
    t = 1_741_000_000.0
    bounce = [(t, "door1", "door", "open", "entrance"), (t, "door1", "door", "closed", "entrance")]
    bounce.append((t, "door1", "door", "open", "entrance"))  # left open after bouncing: three events
    rows, moved, dropped = in_order([*bounce, (t, "door1", "door", "open", "entrance"), (t, "pir", "motion", 1, None)])
    assert rows == [*bounce, (t, "pir", "motion", 1, None)] and (moved, dropped) == (0, 1)
    status = [(t, "pi", "status", s, None) for s in ("offline", "online", "offline")]
    assert in_order(status) == (status, 0, 0)
    late = [(t + 5, "a", "motion", 1, None), (t + 6, "a", "motion", 0, None), (t, "b", "motion", 1, None)]
    assert in_order(late) == ([late[2], late[0], late[1]], 3, 0)


def test_labels_and_later_naive_rows_are_read_in_the_files_zone(homes: list[Path], tmp_path: Path) -> None:
    from evaluation.homes import score_home

    home = homes[0]
    aware = _rewrite(home, tmp_path / home.name, _aware)  # labels.csv stays naive, as a simulator writes it
    (aware / "labels.csv").write_bytes((home / "labels.csv").read_bytes())
    assert score_home(aware).hits == score_home(home).hits
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "ts,sensor,kind,value,room\n2025-03-03T08:00:00+08:00,p,motion,1,a\n2025-03-03T09:00:00,p,motion,0,a\n"
    )
    rows, tz = read_events(mixed)
    assert rows[1][0] - rows[0][0] == 3600.0 and str(tz) == "UTC+08:00"


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("folder", None, "is a folder"),
        ("binary.csv", b"ts,sensor,kind,value\n\xd0\xff\xfe\n", "not a readable CSV"),
        ("short.csv", b"ts,sensor,kind,value\n2025-03-03T08:00:00,p\n", "line 2: 2 fields"),
        ("badtime.csv", b"ts,sensor,kind,value\nyesterday,p,motion,1\n", "line 2: Invalid isoformat"),
        ("huge.csv", b'ts,sensor,kind,value\n2025-03-03T08:00:00,p,motion,"' + b"x" * 200_000 + b'"\n', "line 2"),
    ],
)
def test_a_file_replay_cannot_read_ends_in_one_line(
    tmp_path: Path, name: str, content: bytes | None, says: str
) -> None:
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "anxin", "replay", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and says in done.stderr and str(path) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("1741000000", datetime(2025, 3, 3, 11, 6, 40, tzinfo=UTC)),
        ("1741000000123", datetime(2025, 3, 3, 11, 6, 40, 123000, tzinfo=UTC)),
        ("2025/03/03 08:00:00", datetime(2025, 3, 3, 8)),
        ("2025/3/3 8:00", datetime(2025, 3, 3, 8)),  # a zh-CN spreadsheet's, year first: not a guess
        ("25-Feb-2008 00:20:14", datetime(2008, 2, 25, 0, 20, 14)),
        ("20250303T080000", datetime(2025, 3, 3, 8)),  # ISO, basic format
    ],
)
def test_times_in_other_forms(written: str, read: datetime) -> None:
    assert any_time(written) == read


@pytest.mark.parametrize("written", ["20250303080000", "1741000000123456", "99999999999999999999999", "03/04/2025"])
def test_times_not_guessed(written: str) -> None:
    with pytest.raises(ValueError):  # a compact local time is not an epoch; a day or month first is not guessed
        any_time(written)
    rows = f"ts,sensor,kind,value\n2025-03-03T08:00:00,p,motion,1\n{written},p,motion,0\n"
    with pytest.raises(ValueError, match="line 3"):
        list(read_rows(rows.splitlines(keepends=True)))


def test_an_error_names_the_file_line_past_a_quoted_newline() -> None:
    rows = 'ts,sensor,kind,value,room\n2025-03-03T08:00:00,p,motion,1,"living\nroom"\nbad,p,motion,0,x\n'
    with pytest.raises(ValueError, match="line 4"):
        list(read_rows(rows.splitlines(keepends=True)))


def _utc(rec: list[str]) -> list[str]:
    """The home's local times (Shanghai's, say) exported in UTC, as Home Assistant's history keeps them."""
    local = datetime.fromisoformat(rec[0])
    return [(local - timedelta(hours=8)).isoformat(timespec="milliseconds") + "Z", *rec[1:]]


def test_a_home_exported_in_utc_is_watched_on_the_clock_home_json_names(homes: list[Path], tmp_path: Path) -> None:
    import json

    for home in homes:
        utc = _rewrite(home, tmp_path / home.name, _utc)
        assert _findings(utc) != _findings(home)  # on UTC's clock: nights in the afternoon
        doc = json.loads((utc / "home.json").read_text())
        (utc / "home.json").write_text(json.dumps({**doc, "timezone": "Asia/Shanghai"}))
        assert _findings(utc) == _findings(home)
    (utc / "home.json").write_text(json.dumps({**doc, "timezone": "Mars/Olympus_Mons"}))
    done = subprocess.run(
        [sys.executable, "-m", "anxin", "replay", str(utc / "events.csv")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "Mars/Olympus_Mons" in done.stderr and "home.json" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_sensor_list_saved_by_a_spreadsheet_is_read(tmp_path: Path) -> None:
    (tmp_path / "sensors.csv").write_bytes(
        "sensor,kind,room,role\r\nmat1,Pressure Mat,卧室,bed\r\n".encode("utf-8-sig")
    )
    assert read_sensor_meta(tmp_path) == {"mat1": {"kind": "pressure", "room": "卧室", "role": "bed"}}
    (tmp_path / "sensors.csv").write_bytes("sensor,kind,room\nmat1,pressure,卧室\n".encode("gbk"))
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'sensors.csv'}: not a readable CSV"):
        read_sensor_meta(tmp_path)


def test_labels_in_other_words_are_read_and_a_type_not_known_is_said(tmp_path: Path) -> None:
    from evaluation.scoring import Label, read_labels, score
    from evaluation.summary import source_table, summarise

    path = tmp_path / "labels.csv"
    rows = [
        "Type;Begin;End;Comment",
        "Fall;2025-03-03T15:05:00;2025-03-03T16:05:00;injected",
        "long lie;2025/03/04 10:00:00;2025/03/04 10:40:00;",
        "snoring;2025-03-05T01:00:00;2025-03-05T02:00:00;",
        "Lie;2025-03-05T13:00:00;2025-03-05T14:00:00;a nap, in an activity data set",
        "跌倒;2025-03-06T09:00:00;2025-03-06T10:00:00;",
    ]
    path.write_bytes("\r\n".join(rows).encode("utf-8-sig"))
    labels = read_labels(path)
    assert [lab.type for lab in labels] == ["long_lie", "long_lie", "snoring", "lie", "long_lie"]
    assert labels[0].note == "injected"
    assert labels[0] == Label("long_lie", 1741014300.0, 1741017900.0, "injected")
    from evaluation.scoring import HomeScore

    scored = score(HomeScore("h", 3.0, 0), labels, [])
    summary = summarise([scored])
    assert summary["labels_not_scored"] == {"lie": 1, "snoring": 1} and summary["types"]["long_lie"]["n"] == 3
    assert "not scored: {'lie': 1, 'snoring': 1}" in source_table("src", summary, {})
    path.write_text("type,start,end\nlong_lie,yesterday,2025-03-03T16:05:00\n")
    with pytest.raises(ValueError, match=rf"^{path}: line 2: "):
        read_labels(path)
    path.write_text("what,when\nfall,2025-03-03T16:05:00\n")
    with pytest.raises(ValueError, match="header must have type,start,end"):
        read_labels(path)


def test_of_several_doors_none_named_none_is_taken_for_the_front_one() -> None:
    from anomaly.presence import Presence
    from anomaly.recording import Row
    from anomaly.replay import replay
    from anomaly.roles import NO_FRONT_DOOR

    # Two `Door Sensor`s, the entrance a "hall": the bathroom's, seen first, was the way out, and a resident who
    # closed it behind them and fell was gone out, unwatched.
    t0 = 1_741_000_000.0
    rows: list[Row] = [
        (t0, "pir_hall", "motion", 1, "hall"),
        (t0 + 5, "D001", kind_of("Door Sensor"), "open", "bathroom"),
        (t0 + 10, "D002", kind_of("Door Sensor"), "closed", "hall"),
        (t0 + 60, "D001", kind_of("Door Sensor"), "closed", "bathroom"),
    ]
    res = replay(rows, until=t0 + 7200)
    assert res.monitor.kit.front_door == NO_FRONT_DOOR and res.monitor.where.presence is Presence.HOME


@pytest.mark.parametrize(
    ("written", "offset_h"),
    [("Asia/Shanghai", 8.0), ("UTC+8", 8.0), ("+08:00", 8.0), ("+0800", 8.0), ("GMT-05:30", -5.5), ("utc", 0.0)],
)
def test_a_homes_zone_in_the_words_people_write(written: str, offset_h: float) -> None:
    from anomaly.recording import zone_named

    zone = zone_named(written)
    assert zone is not None and zone.utcoffset(datetime(2025, 1, 15)) == timedelta(hours=offset_h)


@pytest.mark.parametrize("written", ["Mars/Olympus_Mons", "+25:00", "8", "../etc/passwd"])
def test_a_zone_not_known_is_none(written: str) -> None:
    from anomaly.recording import zone_named

    assert zone_named(written) is None
