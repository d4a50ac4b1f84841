"""`anxin replay` and `anxin eval` on hand-made homes, and the estimators they rest on."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anomaly.estimators import Cusum
from anomaly.recording import front_door_of, read_rows
from anomaly.replay import replay, replay_file
from contracts import Finding
from evaluation.bound import bound_rooms, bound_summary, stillness_bound
from evaluation.homes import evaluate
from evaluation.summary import summarise

HEADER = "ts,sensor,kind,value,room\n"


def _csv(rows: list[tuple[datetime, str, str, str, str]]) -> str:
    return HEADER + "".join(f"{t.isoformat()},{s},{k},{v},{r}\n" for t, s, k, v, r in sorted(rows))


def _quiet_home(days: int, hold: bool, rooms: tuple[str, ...]) -> list[tuple[datetime, str, str, str, str]]:
    """A home whose resident moves every 7 minutes from 07:00 to 22:00 through odd room names."""
    rows = []
    for d in range(days):
        t = datetime(2025, 3, 3, 7) + timedelta(days=d)
        i = 0
        while t.hour < 22:
            room = rooms[i % len(rooms)]
            rows.append((t, f"pir_{room}", "motion", "1", room))
            if hold:
                rows.append((t + timedelta(seconds=60), f"pir_{room}", "motion", "0", room))
            t += timedelta(minutes=7)
            i += 1
        rows.append((t, f"pir_{rooms[0]}", "motion", "1", rooms[0]))
    return rows


def test_any_home_replays_unknown_rooms_no_mats_pirs_with_or_without_hold() -> None:
    for hold in (True, False):
        rows = _quiet_home(3, hold, ("Salon", "cuisine", "wc_1"))
        # The resident collapses in the afternoon of the last day: nothing more after 15:00.
        rows = [r for r in rows if not (r[0].day == 5 and r[0].hour >= 15)]
        # The home was watched to midnight: the clock runs on past the last row (by default it stops there).
        res = replay(list(read_rows(io.StringIO(_csv(rows)))), until=datetime(2025, 3, 6, tzinfo=UTC).timestamp())
        crit = [
            f
            for f in res.findings
            if f.kind == "long_inactivity" and f.since.replace(tzinfo=None) > datetime(2025, 3, 5, 12)
        ]
        assert crit, f"hold={hold}: no long_inactivity"
        first = crit[0]
        assert first.since.replace(tzinfo=None) < datetime(2025, 3, 5, 15)
        assert first.ts.replace(tzinfo=None) - first.since.replace(tzinfo=None) <= timedelta(hours=3)


def test_a_recording_cut_mid_morning_is_not_a_resident_who_stopped_moving() -> None:
    rows = _quiet_home(3, True, ("living", "kitchen"))
    rows = [r for r in rows if not (r[0].day == 5 and r[0].hour >= 10)]  # the recorder was switched off at 10:00
    events = list(read_rows(io.StringIO(_csv(rows))))
    last = events[-1][0]
    assert not [f for f in replay(events).findings if f.ts.timestamp() > last]
    # Told the home was watched to midnight, the same silence is a finding.
    later = replay(events, until=datetime(2025, 3, 6, tzinfo=UTC).timestamp()).findings
    assert [f for f in later if f.kind == "long_inactivity" and f.ts.timestamp() > last]


def test_replay_cli_writes_one_naive_json_object_per_finding(tmp_path: Path) -> None:
    night = datetime(2025, 3, 4, 2, 30)
    rows = [
        (datetime(2025, 3, 3, 21, 50), "pir_bedroom", "motion", "1", "bedroom"),
        (night - timedelta(seconds=30), "pir_hall", "motion", "1", "Hallway"),
        (night, "main_door", "door", "open", "Entrance"),
        (night + timedelta(seconds=20), "main_door", "door", "closed", "Entrance"),
        (datetime(2025, 3, 3, 21, 55), "panic_btn", "button", "press", "bedroom"),
        (night + timedelta(hours=2), "pir_bedroom", "motion", "1", "bedroom"),
    ]
    src = tmp_path / "events.csv"
    src.write_text(_csv(rows))
    out = tmp_path / "alerts.jsonl"
    subprocess.run([sys.executable, "-m", "anxin", "replay", str(src), "--out", str(out)], check=True, timeout=60)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert "panic" in kinds and "night_exit" in kinds
    for r in records:
        assert set(r) == {"ts", "kind", "severity", "summary", "evidence"}
        assert "+" not in r["ts"] and datetime.fromisoformat(r["ts"]).tzinfo is None
    exit_ = next(r for r in records if r["kind"] == "night_exit")
    assert exit_["severity"] == "critical"
    assert datetime.fromisoformat(exit_["ts"]) - night <= timedelta(minutes=10)


def _front(*sensors: tuple[str, str, str | None]) -> tuple[str | None, str | None]:
    t = datetime(2025, 3, 3).timestamp()
    return front_door_of([(t, sensor, kind, 1, room) for sensor, kind, room in sensors])


def test_the_front_door_is_the_entrance_door_or_the_only_one() -> None:
    assert _front(("d1", "door", "kitchen"), ("d2", "door", "ENTRANCE")) == ("d2", "door")
    assert _front(("d1", "door", "porch")) == ("d1", "door")
    assert _front(("d1", "door", "a"), ("d2", "door", "b")) == (None, None)
    # Several doors, none in a room called entrance: the one named so, before the one in an entry (CASAS-like homes).
    assert _front(("back", "door", None), ("main_door", "door", None)) == ("main_door", "door")
    assert _front(("bathroom_door", "door", "Foyer"), ("FrontDoor", "door", "hall")) == ("FrontDoor", "door")
    assert _front(("d1", "door", "bedroom"), ("d2", "door", "Foyer")) == ("d2", "door")
    # Not any door onto a hallway, nor a main bedroom's.
    assert _front(("bathroom_door", "door", "Hallway"), ("kitchen_door", "door", "kitchen")) == (None, None)
    assert _front(("main_bedroom_door", "door", None), ("kitchen_door", "door", None)) == (None, None)
    # No door at all: a contact named so or in the entrance is the front door (its rows are replayed as the door's).
    assert _front(("fridge", "contact", "kitchen"), ("c2", "contact", "Entrance")) == ("c2", "contact")
    assert _front(("fridge", "contact", "kitchen"), ("frontdoor", "contact", None)) == ("frontdoor", "contact")
    assert _front(("c1", "contact", "kitchen"), ("c2", "contact", "bathroom")) == (None, None)
    assert _front(("c1", "contact", "entrance"), ("c2", "contact", "entrance")) == (None, None)  # which one? no guess
    # A cupboard in the hall, a main bedroom's window: not the way out (each close would read as the resident leaving).
    assert _front(("cupboard", "contact", "hallway"), ("fridge", "contact", "kitchen")) == (None, None)
    assert _front(("main_bedroom_window", "contact", "bedroom")) == (None, None)


def test_eval_scores_recall_delay_and_false_alarms(tmp_path: Path) -> None:
    home = tmp_path / "h-evalhome1"
    home.mkdir()
    rows = _quiet_home(3, True, ("living", "kitchen"))
    rows = [r for r in rows if not (r[0].day == 5 and r[0].hour >= 15)]
    rows.append((datetime(2025, 3, 4, 11, 0, 30), "panic", "button", "press", "living"))
    (home / "events.csv").write_text(_csv(rows))
    lie_start = max(r[0] for r in rows if r[0].day == 5)
    (home / "labels.csv").write_text(
        "type,start,end,note\n"
        f"long_lie,{lie_start.isoformat()},{(lie_start + timedelta(hours=5)).isoformat()},room=living when=day\n"
        "panic,2025-03-04T11:00:30,2025-03-04T11:00:30,\n"
        "night_exit,2025-03-04T02:00:00,2025-03-04T03:00:00,\n"
    )
    s = summarise(evaluate(tmp_path, jobs=1))
    assert s["types"]["panic"]["recall"] == 1.0 and s["types"]["panic"]["median_delay_min"] == 0.0
    assert s["types"]["long_lie"]["recall"] == 1.0 and s["types"]["long_lie"]["median_delay_min"] <= 180
    assert s["types"]["night_exit"]["recall"] == 0.0  # labelled but never happened in the events: a miss
    assert s["homes"] == 1 and s["false_per_home_per_60_days"] is not None


def test_a_gzipped_events_file_replays_and_scores_as_the_plain_one(tmp_path: Path) -> None:
    """events.csv.gz (a busy home's year is ~80 MB as text): replay, eval and the bound read it as events.csv."""
    rows = _quiet_home(3, True, ("living", "kitchen"))
    rows = [r for r in rows if not (r[0].day == 5 and r[0].hour >= 15)]
    lie_start = max(r[0] for r in rows if r[0].day == 5)
    labels = f"type,start,end,note\nlong_lie,{lie_start.isoformat()},{(lie_start + timedelta(hours=5)).isoformat()},\n"
    for source, name in (("plain", "events.csv"), ("zipped", "events.csv.gz")):
        home = tmp_path / source / "h-gzhome01"
        home.mkdir(parents=True)
        data = _csv(rows).encode()
        (home / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        (home / "labels.csv").write_text(labels)
    plain, zipped = (tmp_path / s / "h-gzhome01" for s in ("plain", "zipped"))
    assert replay_file(zipped / "events.csv.gz").findings == replay_file(plain / "events.csv").findings
    assert summarise(evaluate(tmp_path / "zipped", jobs=1)) == summarise(evaluate(tmp_path / "plain", jobs=1))
    assert stillness_bound(zipped) == stillness_bound(plain)
    # Gzip is told by its first bytes, not its name.
    (plain / "events.csv").write_bytes((zipped / "events.csv.gz").read_bytes())
    assert replay_file(plain / "events.csv").findings == replay_file(zipped / "events.csv.gz").findings
    # Cut short in a copy, damaged inside, or failing its checksum: one line that says so, no traceback.
    whole = (zipped / "events.csv.gz").read_bytes()
    mid = len(whole) // 2
    damaged = whole[:mid] + bytes(b ^ 0xFF for b in whole[mid : mid + 16]) + whole[mid + 16 :]
    bad_crc = whole[:-8] + bytes(b ^ 0xFF for b in whole[-8:-4]) + whole[-4:]
    cases = ((whole[:mid], "ends early"), (damaged, "damaged gzip"), (bad_crc, "damaged gzip"))
    for broken, why in cases:
        (zipped / "events.csv.gz").write_bytes(broken)
        for cmd in (["replay", str(zipped / "events.csv.gz")], ["eval", str(tmp_path / "zipped"), "--jobs", "1"]):
            _one_line_error(cmd, why)
    # Both files in one home: which is current? Said, not guessed.
    (zipped / "events.csv.gz").write_bytes(whole)
    (zipped / "events.csv").write_bytes(_csv(rows).encode())
    _one_line_error(["eval", str(tmp_path / "zipped"), "--jobs", "1"], "keep one")


def _one_line_error(cmd: list[str], why: str) -> None:
    """`anxin CMD` ends with exit code 2 and one line on stderr that says `why`, no traceback."""
    run = subprocess.run([sys.executable, "-m", "anxin", *cmd], timeout=60, capture_output=True, text=True)
    assert run.returncode == 2 and why in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_stillness_bound_counts_ordinary_stillness_that_outlasts_a_lie(tmp_path: Path) -> None:
    home = tmp_path / "h-boundhome1"
    home.mkdir()
    # One room, a trigger every 7 minutes; a two-hour nap from 14:00 on the first two days.
    rows = [r for r in _quiet_home(4, False, ("living",)) if not (r[0].day in (3, 4) and 14 <= r[0].hour < 16)]
    rows = [r for r in rows if not (r[0].day == 5 and (14 <= r[0].hour < 16 or 10 <= r[0].hour < 13))]
    (home / "events.csv").write_text(_csv(rows))
    (home / "home.json").write_text(json.dumps({"kit": "basic"}))
    nap_lie = max(r[0] for r in rows if r[0].day == 5 and r[0].hour < 14)
    day_lie = max(r[0] for r in rows if r[0].day == 5 and r[0].hour < 10)
    (home / "labels.csv").write_text(
        "type,start,end,note\n"
        f"long_lie,{(nap_lie + timedelta(minutes=2)).isoformat()},{(nap_lie + timedelta(minutes=90)).isoformat()},\n"
        f"long_lie,{(day_lie + timedelta(minutes=2)).isoformat()},{(day_lie + timedelta(hours=3)).isoformat()},\n"
    )
    nap, day = stillness_bound(home)
    assert nap.kit == "basic" and nap.outlasted == 2 and nap.passed_30  # the two naps at that hour were longer
    assert day.outlasted == 0 and not day.passed_30  # mornings are never still for long: a limit can be short
    run = [sys.executable, "-m", "anxin", "eval", str(tmp_path), "--json", "--bound", "--jobs", "1"]
    out = json.loads(subprocess.run(run, check=True, timeout=120, capture_output=True, text=True).stdout)
    assert out["sources"][tmp_path.name]["stillness_bound"]["basic"]["lies"] == 2
    assert bound_summary([nap, day])["all"] == {"lies": 2, "outlasted_1": 0.5, "outlasted_2": 0.5, "passed_30_min": 0.5}


def test_cusum_notices_a_sustained_drop_but_not_noise() -> None:
    c = Cusum(direction=-1, slack=0.5, threshold=5.0)
    days = [6.0 + (0.2 if d % 2 else -0.2) for d in range(30)]
    alarms = []
    for x in days:
        c.learn_one(x)
        alarms.append(c.drift_detected)
    assert not any(alarms)
    for _ in range(6):
        c.learn_one(4.5)
        alarms.append(c.drift_detected)
    assert any(alarms[30:])


def test_the_bound_reads_every_switching_as_movement_and_names_the_room_of_each_lie(tmp_path: Path) -> None:
    # A kit of contacts only (as in real recordings): a cupboard opened and closed every 7 minutes by day. Read as
    # "no trigger", the bound had nothing to compare the lie with; each switching is movement, as the engine reads it.
    home = tmp_path / "h-contacts01"
    home.mkdir()
    rows: list[tuple[datetime, str, str, str, str]] = []
    for d in range(5):
        t = datetime(2025, 3, 3, 7) + timedelta(days=d)
        while t.hour < 22 and not (d == 4 and t.hour >= 12):
            rows += [(t, "cupboard", "contact", "open", "kitchen")]
            rows += [(t + timedelta(seconds=20), "cupboard", "contact", "closed", "kitchen")]
            t += timedelta(minutes=7)
    (home / "events.csv").write_text(_csv(rows))
    last = max(r[0] for r in rows)
    (home / "labels.csv").write_text(
        f"type,start,end,note\nlong_lie,{(last + timedelta(seconds=5)).isoformat()},"
        f"{(last + timedelta(minutes=60)).isoformat()},\n"
    )
    (lie,) = stillness_bound(home)
    assert (lie.room, lie.sensors, lie.outlasted, lie.passed_30) == ("kitchen", "contact", 0, False)
    assert bound_rooms([lie]) == {"kitchen": {"lies": 1, "outlasted_1": 0.0, "outlasted_2": 0.0, "sensors": "contact"}}


def test_the_text_names_the_rooms_no_stillness_rule_can_cover() -> None:
    from evaluation.report import text
    from evaluation.summary import summarise

    def room(lies: int, twice: float, sensors: str) -> dict[str, object]:
        return {"lies": lies, "outlasted_1": twice, "outlasted_2": twice, "sensors": sensors}

    rooms = {
        "living": room(18, 0.5, "motion+pressure"),  # half its lies outlasted twice: named
        "kitchen": room(11, 0.45, "contact+motion"),  # under half: not named
        "hall": room(4, 1.0, "door"),  # seen only through a door: the advice is a sensor in the room
        "entrance": room(1, 1.0, "door"),  # one lie says little
    }
    out = text({"sources": {"s": {"summary": summarise([]), "kits": {}, "stillness_bound_rooms": rooms}}})
    named = {line.split(":")[0]: line for line in out.splitlines() if "outlasted twice" in line}
    assert set(named) == {"living", "hall"}
    assert "sees the floor" in named["living"] and "motion sensor in the room itself" in named["hall"]


def test_a_seat_mat_held_elsewhere_does_not_put_a_bedroom_lie_in_bed(tmp_path: Path) -> None:
    home = tmp_path / "h-seatmat001"
    home.mkdir()
    t = datetime(2025, 3, 3, 9)
    rows = [
        (t, "seat_mat", "pressure", "1", "living"),  # someone else's weight, or a cushion: the seat stays pressed
        (t + timedelta(minutes=5), "pir_bedroom", "motion", "1", "bedroom"),
        (t + timedelta(minutes=6), "pir_bedroom", "motion", "0", "bedroom"),
        (t + timedelta(hours=3), "pir_bedroom", "motion", "1", "bedroom"),
    ]
    (home / "events.csv").write_text(_csv(rows))
    (home / "labels.csv").write_text(
        f"type,start,end,note\nlong_lie,{(t + timedelta(minutes=7)).isoformat()},"
        f"{(t + timedelta(minutes=60)).isoformat()},\n"
    )
    (lie,) = stillness_bound(home)
    assert (lie.room, lie.sensors) == ("bedroom", "motion")


def test_a_responder_answers_each_alarm_at_once_and_the_engine_learns_from_it() -> None:
    from bench.anomaly_bench import synth_csv
    from contracts import FindingKind

    rows = list(read_rows(io.StringIO(synth_csv(30, 7))))
    plain = [f.id for f in replay(rows).findings if f.kind == FindingKind.LONG_INACTIVITY]
    asked: list[str] = []
    answered: list[float] = []

    def respond(f: Finding) -> str | None:
        if f.kind != FindingKind.LONG_INACTIVITY:
            return None
        asked.append(f.id)
        answered.append(f.ts.timestamp())
        return "false_alarm"

    res = replay(rows, respond=respond)
    assert plain and asked[0] == plain[0]  # the first alarm is the same; what follows has learned from the verdict
    assert asked == [f.id for f in res.findings if f.kind == FindingKind.LONG_INACTIVITY]
    # Every verdict was counted (x1.25 each, up to 3), and the factor faded half-way back to 1 in 30 days, at each
    # midnight since (HomeMonitor._fade_feedback; the replay's clock is UTC).
    day, fade = 86400.0, 0.5 ** (1 / 30)
    steps = [(t, "verdict") for t in answered]
    steps += [(m * day, "midnight") for m in range(int(answered[0] // day) + 1, int(res.monitor.day_start // day) + 1)]
    expected = 1.0
    for _, step in sorted(steps):
        expected = min(expected * 1.25, 3.0) if step == "verdict" else 1.0 + (expected - 1.0) * fade
    assert len(asked) >= 2 and res.monitor.scale[FindingKind.LONG_INACTIVITY] == pytest.approx(expected)
