"""`anxin recording import`: public recordings of real homes read right, and long lies injected as silence."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from evaluation.recordings import (
    DAY,
    NIGHT,
    inject_lies,
    lie_moments,
    read_kasteren,
    read_ordonez,
    to_rows,
    within,
)

# Hand-made rows in the two published layouts (not taken from the data sets).
UCI = """Start time\t\tEnd time\t\tLocation\tType\t\tPlace
----------\t\t--------\t\t--------\t----\t\t-----
2020-01-01 08:00:00\t\t2020-01-01 08:00:30\t\tDoor\t\tPIR\t\tLiving
2020-01-01 08:01:00\t\t2020-01-01 08:01:00\t\tDoor\t\tPIR\t\tKitchen
2020-01-01 08:02:00\t\t2020-01-01 08:02:09\t\tFridge\t\tMagnetic\tKitchen
2020-01-01 08:05:00\t\t2020-01-01 08:05:20\t\tMaindoor\tMagnetic\tEntrance
2020-01-01 08:06:00\t\t2020-01-01 09:30:00\t\tSeat\t\tPressure\tLiving
"""
KASTEREN = """Sensor IDs are:
    [ 5]    'Hall-Toilet door'
    [12]    'Frontdoor'
    [14]    'ToiletFlush'
    [18]    'Pans Cupboard'

Start time          \tEnd time            \tID\tVal
--------------------\t--------------------\t--\t---
01-Jan-2020 08:00:00\t01-Jan-2020 08:00:20\t5\t1
01-Jan-2020 08:01:00\t01-Jan-2020 08:01:02\t14\t1
01-Jan-2020 08:03:00\t01-Jan-2020 08:03:30\t18\t1
01-Jan-2020 09:00:00\t01-Jan-2020 09:00:05\t12\t1
Length: 4
"""


def test_uci_adl_rows_become_start_and_end_events_with_the_front_door_apart() -> None:
    rows = to_rows(read_ordonez(UCI.splitlines(keepends=True)))
    assert len(rows) == 10 and rows == sorted(rows, key=lambda r: r[0])
    names = {(r[1], r[2], r[4]) for r in rows}
    # Two PIRs share a name in different places (as in home B): kept apart by place.
    assert ("door_living", "motion", "living") in names and ("door_kitchen", "motion", "kitchen") in names
    assert ("maindoor", "door", "entrance") in names and ("fridge", "contact", "kitchen") in names
    kitchen = [r for r in rows if r[1] == "door_kitchen"]
    assert [r[3] for r in kitchen] == ["1", "0"] and kitchen[1][0] - kitchen[0][0] == timedelta(seconds=1)


def test_kasteren_sensors_are_named_from_the_header_and_placed_by_name() -> None:
    rows = to_rows(read_kasteren(KASTEREN.splitlines(keepends=True)))
    kinds = {r[1]: (r[2], r[4]) for r in rows}
    assert kinds == {
        "toilet_door": ("contact", "toilet"),
        "toiletflush": ("flush", "toilet"),
        "pans_cupboard": ("contact", "kitchen"),
        "frontdoor": ("door", "entrance"),
    }
    assert [r[3] for r in rows if r[1] == "frontdoor"] == ["open", "closed"]


@pytest.mark.parametrize(
    ("reader", "text", "says"),
    [
        (read_ordonez, "2020-01-01 08:00:00\t2020-01-01 08:00:01\tDoor\tLaser\tLiving\n", "unknown sensor type"),
        (read_ordonez, "2020-01-01 08:00:00\tDoor\tPIR\tLiving\n", "expected start, end, location, type, place"),
        (read_kasteren, "---\n01-Jan-2020 08:00:00\t01-Jan-2020 08:00:01\t7\t1\n", "not named in the file's header"),
        (read_kasteren, "01-Jan-2020 08:00:00\t01-Jan-2020 08:00:01\t7\t1\n", "no dashed line"),
    ],
)
def test_a_file_in_another_layout_is_refused_with_the_reason(reader: object, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        reader(text.splitlines(keepends=True))  # type: ignore[operator]


def _day_of_walks(days: int = 5) -> list[tuple[datetime, str, str, str, str]]:
    """A PIR every 5 min from 07:00 to 22:00, a cupboard opened for a minute at every hour, the front door at 18:00."""
    rows = []
    for d in range(days):
        day = datetime(2020, 1, 1) + timedelta(days=d)
        for k in range(15 * 12):
            t = day + timedelta(hours=7, minutes=5 * k)
            rows += [(t, "pir", "motion", "1", "hall"), (t + timedelta(seconds=20), "pir", "motion", "0", "hall")]
            if k % 12 == 0:
                rows += [
                    (t + timedelta(seconds=60), "cup", "contact", "open", "kitchen"),
                    (t + timedelta(seconds=120), "cup", "contact", "closed", "kitchen"),
                ]
        rows += [(day + timedelta(hours=18, seconds=30), "front", "door", "open", "entrance")]
        rows += [(day + timedelta(hours=18, seconds=40), "front", "door", "closed", "entrance")]
    return sorted(rows, key=lambda r: r[0])


def test_a_lie_is_a_window_with_no_events_after_ordinary_activity_at_home() -> None:
    rows = _day_of_walks()
    with_lies, lies = inject_lies(rows, 3, seed=7)
    assert len(lies) == 3 and (with_lies, lies) == inject_lies(rows, 3, seed=7)  # deterministic in its seed
    start = rows[0][0] + timedelta(days=3)
    for lie in lies:
        assert lie.start > start and 7 <= lie.start.hour < 23
        assert timedelta(minutes=30) <= lie.end - lie.start <= timedelta(minutes=90)
        assert not [r for r in with_lies if lie.start < r[0] <= lie.end]  # nothing happens on the floor
        assert not [r for r in rows if r[2] == "door" and lie.start < r[0] <= lie.start + timedelta(hours=3)]
        before = [r for r in rows if r[0] <= lie.start][-1]
        assert before[3] not in ("1", "open")  # nothing held: the resident was up and about, not seated
    assert all(abs(a.start - b.start) > timedelta(hours=4) for a in lies for b in lies if a is not b)
    kept = set(with_lies)
    outside = [r for r in rows if not any(x.start < r[0] <= x.end for x in lies)]
    assert kept < set(rows) and all(r in kept for r in outside if r[3] in ("1", "open"))


def test_an_interval_begun_inside_a_lie_loses_its_end_and_none_is_held_through_it() -> None:
    rows = _day_of_walks()
    # A cupboard opened 2 s after every PIR clear: a fall 5 s after the clear would keep it "open" through the lie.
    rows = sorted(
        rows
        + [
            (r[0] + timedelta(seconds=2), "drawer", "contact", "open", "kitchen")
            for r in rows
            if r[1:4] == ("pir", "motion", "0")
        ]
        + [
            (r[0] + timedelta(seconds=50), "drawer", "contact", "closed", "kitchen")
            for r in rows
            if r[1:4] == ("pir", "motion", "0")
        ],
        key=lambda r: r[0],
    )
    with_lies, lies = inject_lies(rows, 3, seed=11)
    assert len(lies) == 3
    for lie in lies:
        on: set[str] = set()
        for t, sensor, _kind, value, _room in with_lies:
            if t > lie.start:
                break
            (on.add if value in ("1", "open") else on.discard)(sensor)
        assert not on, (lie, on)  # nothing switched on between the moment and the fall
        after = [r for r in with_lies if r[0] > lie.end]
        # An interval begun inside the lie lost its end: the first event after it is never a lone "off".
        assert not after or after[0][3] in ("1", "open"), after[0]


def test_a_door_left_open_holds_nobody_and_seeds_give_other_lies() -> None:
    rows = _day_of_walks()
    t0 = rows[0][0]
    rows = sorted([*rows, (t0, "bedroom_door", "contact", "open", "bedroom")], key=lambda r: r[0])  # open all along
    assert lie_moments(rows, [])  # as in a recording whose doors stand open for days
    assert inject_lies(rows, 3, seed=1)[1] != inject_lies(rows, 3, seed=2)[1]


def test_lies_at_night_begin_out_of_bed_between_23_and_07() -> None:
    # Up at night: the bed mat released, then a walk; no lie while the mat is pressed (asleep), none by day.
    rows = _day_of_walks()
    for d in range(5):
        night = datetime(2020, 1, 1, 23) + timedelta(days=d)
        rows += [
            (night, "bed", "pressure", "1", "bedroom"),
            (night + timedelta(hours=3), "bed", "pressure", "0", "bedroom"),
        ]
        rows += [(night + timedelta(hours=3, minutes=k), "pir", "motion", str(1 - k % 2), "hall") for k in range(1, 7)]
        rows += [(night + timedelta(hours=3, minutes=8), "bed", "pressure", "1", "bedroom")]
        rows += [(night + timedelta(hours=7, minutes=59), "bed", "pressure", "0", "bedroom")]
    rows.sort(key=lambda r: r[0])
    _with_lies, lies = inject_lies(rows, 2, seed=3, hours=NIGHT)
    assert len(lies) == 2
    for lie in lies:
        assert within(lie.start.hour, NIGHT) and lie.start.hour == 2  # 02:01-02:06, between the bed's two sleeps
    assert all(within(rows[i][0].hour, DAY) for i in lie_moments(rows, []))


def test_no_lie_hides_a_departure() -> None:
    rows = _day_of_walks()
    moments = lie_moments(rows, [])
    doors = [r[0] for r in rows if r[2] == "door"]
    assert moments and not any(rows[i][0] < d <= rows[i][0] + timedelta(hours=3) for i in moments for d in doors)


def test_the_command_writes_replay_folders_and_says_a_mistake_in_one_line(tmp_path: Path) -> None:
    raw = tmp_path / "OrdonezX_Sensors.txt"
    raw.write_text(UCI)
    run = [sys.executable, "-m", "shell", "recording", "import"]
    ok = subprocess.run(
        [*run, "ordonez", str(raw), "--out", str(tmp_path / "x"), "--home", "hx", "--lies", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "hx: 10 events" in ok.stdout
    with open(tmp_path / "x" / "real" / "hx" / "events.csv", newline="") as fh:
        assert next(csv.reader(fh)) == ["ts", "sensor", "kind", "value", "room"] and len(list(fh)) == 10
    for argv, says in (
        (["nosuch", str(raw)], "unknown format 'nosuch'"),
        (["ordonez", str(tmp_path / "missing.txt")], "no such file"),
        (["kasteren", str(raw)], "expected start, end, id, value"),
        (["ordonez", str(raw), "--at", "noon"], "--at 'noon' is not one of day, night"),
    ):
        bad = subprocess.run([*run, *argv, "--out", str(tmp_path / "y")], capture_output=True, text=True, timeout=120)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in bad.stderr
