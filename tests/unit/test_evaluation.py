"""`anxin eval`: scoring rules on tiny hand-made labels and findings, sensor metadata, and the command itself."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from firmware_sim.files import generate

from anomaly.engine import HomeMonitor
from anomaly.limits import HomeLimits
from anomaly.recording import read_rows, read_sensor_meta
from anomaly.replay import replay
from evaluation.homes import evaluate, evaluate_many, home_dirs, kit_label, predicted_false
from evaluation.misses import WHY_TEXT, LieWatch, misses_line, summarise_misses
from evaluation.scoring import SHORT_LIE, Found, HomeScore, Label, score
from evaluation.summary import calibration, summarise

T0 = datetime(2025, 1, 6, 4, 0).timestamp()
MIN = 60.0


def _score(labels: list[Label], found: list[Found], days: float = 60.0) -> HomeScore:
    return score(HomeScore("h-test", days, 0), labels, found)


def _lie(minutes: float) -> Label:
    return Label("long_lie", T0, T0 + minutes * MIN)


def test_a_long_lie_under_30_min_is_neither_required_nor_false_when_found() -> None:
    found = _score([_lie(20)], [Found(T0 + 15 * MIN, "long_inactivity", "critical")])
    assert found.hits == [(SHORT_LIE, "", 15.0)] and not found.false_alarms
    missed = _score([_lie(29.9)], [])
    s = summarise([missed])
    assert "long_lie" not in s["types"] and s["types"][SHORT_LIE]["n"] == 1 and s["types"][SHORT_LIE]["found"] == 0


def test_a_long_lie_is_found_only_by_a_critical_non_panic_person_finding_while_on_the_floor() -> None:
    lie = _lie(40)
    not_finding = [
        Found(T0 + 5 * MIN, "panic", "critical"),  # a button: the resident called, the detector did not find
        Found(T0 + 6 * MIN, "missed_morning", "warning"),  # a warning sends nobody at once
        Found(T0 + 7 * MIN, "agent_offline", "critical"),  # a device finding says nothing of the person
        Found(T0 + 41 * MIN, "long_inactivity", "critical"),  # after the resident got up
    ]
    assert _score([lie], not_finding).hits == [("long_lie", "", None)]
    early = _score([lie], [Found(T0 - 59, "long_inactivity", "critical")])  # within the 1-min lead
    assert early.hits == [("long_lie", "", -59 / 60)]
    other = _score([lie], [Found(T0 + 39 * MIN, "night_exit", "critical")])
    assert other.hits == [("long_lie", "", 39.0)] and not other.false_alarms


def test_a_finding_is_false_only_past_30_min_after_the_window_that_explains_it() -> None:
    lie = _lie(40)
    end = lie.end
    s = _score([lie], [Found(end + 29 * MIN, "long_inactivity", "critical")])
    assert not s.false_alarms
    s = _score([lie], [Found(end + 31 * MIN, "long_inactivity", "critical"), Found(T0 - 2 * MIN, "x", "warning")])
    assert [k for k, _ in s.false_alarms] == ["long_inactivity", "x"]  # unknown kinds are person findings
    # A night exit explains a door left open, not a stillness alarm.
    exit_ = Label("night_exit", T0, T0 + 20 * MIN)
    s = _score([exit_], [Found(T0 + 5 * MIN, "door_left_open", "warning"), Found(T0, "long_inactivity", "critical")])
    assert [k for k, _ in s.false_alarms] == ["long_inactivity"]


def test_peer_label_windows_excuse_only_the_findings_they_explain() -> None:
    day = 86400.0
    labels = [
        Label("wandering", T0, T0 + 5 * MIN),
        Label("housebound", T0 + day, T0 + 10 * day),
        Label("forgetting", T0 + 20 * day, T0 + 20 * day + 3 * 3600),
    ]
    found = [
        Found(T0 + 2 * MIN, "night_wandering", "warning"),  # wandering: explained
        Found(T0 + 3 * MIN, "long_inactivity", "critical"),  # wandering is movement, not stillness: false
        Found(T0 + 2 * day, "missed_morning", "warning"),  # housebound: a slow kind, explained
        Found(T0 + 3 * day, "long_inactivity", "critical"),  # housebound does not excuse a stillness alarm
        Found(T0 + 20 * day + 3600, "long_inactivity", "critical"),  # an appliance left on explains nothing
    ]
    s = _score(labels, found)
    assert [k for k, _ in s.false_alarms] == ["long_inactivity"] * 3
    assert s.windows == {"forgetting": 1, "housebound": 1}
    assert s.hits == [("wandering", "", 2.0)]
    # The peer README counts any labelled window but the state windows as an excuse: only the housebound one stays.
    assert s.false_any_window == 1


def test_device_findings_are_counted_apart_and_low_battery_not_at_all() -> None:
    dead = Label("sensor_dead", T0, T0 + 3600)
    found = [
        Found(T0 + 2 * 3600 - 60, "sensor_silent", "warning"),  # within the label's hour after: explained
        Found(T0 + 10 * 3600, "sensor_silent", "warning"),
        Found(T0, "low_battery", "warning"),
        Found(T0, "activity_decline", "info"),
    ]
    s = _score([dead], found)
    assert not s.false_alarms and [k for k, _ in s.device_false] == ["sensor_silent"] and s.info == 1
    summary = summarise([s])
    assert summary["device_false_per_home_per_60_days"] == 1.0 and summary["false_per_home_per_60_days"] == 0.0


def test_calibration_weighs_predictions_by_days_and_says_nothing_without_them() -> None:
    a = _score([], [Found(T0, "long_inactivity", "critical")] * 2, days=60.0)
    b = _score([], [], days=30.0)
    c = _score([], [Found(T0, "missed_morning", "warning")], days=60.0)
    a.predicted_false_60d, b.predicted_false_60d = 1.0, 4.0
    cal = calibration([a, b, c])
    # Predicted: (1 x 60 + 4 x 30) / 90 = 2.0; observed on the same homes: 2 alerts in 90 days = 1.333 per 60.
    assert cal == {"homes_predicting": 2, "predicted_per_home_per_60_days": 2.0, "observed_per_home_per_60_days": 1.333}
    assert calibration([c])["predicted_per_home_per_60_days"] is None


def test_the_predicted_rate_is_read_from_whatever_the_monitor_offers() -> None:
    class Attr:
        expected_false_alarms_per_60d = 0.5

    class Method:
        def expected_false_alarms_per_60d(self) -> float:
            return 0.8

    class NeedsArgs:
        def expected_false_alarms_per_60d(self, budget: float) -> float:
            return budget

    class Flag:
        expected_false_alarms_per_60d = True

    assert predicted_false(Attr()) == 0.5 and predicted_false(Method()) == 0.8
    assert (
        predicted_false(NeedsArgs()) is None and predicted_false(Flag()) is None and predicted_false(object()) is None
    )


PEER_SENSORS = """sensor,kind,room,sim_index,sim_class,sim_name,geometry
pir00,motion,Bedroom,0,CircularPIRSensor,PIR bed area,"circle r=105cm centre=(-115,105)"
press10,pressure,Bedroom,10,SquarePressureSensor,bed mat,"rect 60x120cm from (-145,45)"
door11,door,Entrance,11,DoorSensor,door,"door Entrance at (190,210)"
power_tv14,appliance,Livingroom,14,CostSensor,electric energy meter of TV,"at (320,190)"
"""


def test_sensor_metadata_from_sensors_csv_or_home_json_and_the_kit_it_gives(tmp_path: Path) -> None:
    (tmp_path / "sensors.csv").write_text(PEER_SENSORS)
    meta = read_sensor_meta(tmp_path)
    assert meta["pir00"] == {"kind": "motion", "room": "Bedroom"}  # simulator geometry is not passed on
    assert kit_label(meta, {"pir00", "press10", "door11"}) == "pir+mat+door"  # the meter never reports in events
    assert kit_label({k: v for k, v in meta.items() if k != "press10"}, {"pir00", "door11"}) == "pir+door"
    (tmp_path / "sensors.csv").write_text(
        "sensor,kind,room,role,hold_s\nmat1,pressure,bedroom,floor,\npir1,motion,hall,,30\n"
    )
    assert read_sensor_meta(tmp_path) == {
        "mat1": {"kind": "pressure", "room": "bedroom", "role": "floor"},
        "pir1": {"kind": "motion", "room": "hall", "hold_s": "30"},
    }
    (tmp_path / "sensors.csv").write_text(
        "sensor,kind,room,role,hold_s,room_type\npir2,motion,r2,,,Schlafzimmer\npir3,motion,r3,,,kitchen\n"
    )
    assert read_sensor_meta(tmp_path) == {
        "pir2": {"kind": "motion", "room": "r2", "room_type": "bedroom"},  # (a word for one: its class)
        "pir3": {"kind": "motion", "room": "r3", "room_type": "kitchen"},
    }
    bad_rows = (
        "mat1,pressure,bedroom,sideboard,,\n",
        "pir1,motion,hall,,-5,\n",
        "pir1,motion,r1,,,attic\n",  # no room type
        "pir1,motion,r1,,,in_bed\n",  # the engine's own pseudo-room, not a type
        "pir1,motion,,,,bedroom\n",  # a type of no room
        "pir1,motion,r1,,,bedroom\npir2,motion,R1,,,kitchen\n",  # one room, two types
    )
    for bad in bad_rows:
        (tmp_path / "sensors.csv").write_text("sensor,kind,room,role,hold_s,room_type\n" + bad)
        with pytest.raises(ValueError, match=r"mat1|pir1"):
            read_sensor_meta(tmp_path)
    (tmp_path / "sensors.csv").unlink()
    (tmp_path / "home.json").write_text(json.dumps({"sensors": [{"id": "pir_x", "kind": "motion", "room": "x",
                                                                 "hold_s": 60.0, "miss_p": 0.05}]}))  # fmt: skip
    assert read_sensor_meta(tmp_path) == {"pir_x": {"kind": "motion", "room": "x", "hold_s": "60.0"}}
    (tmp_path / "home.json").write_text(json.dumps({"sensors": [{"id": "pir_x", "room": "x",
                                                                 "room_type": ["bedroom", "kitchen"]}]}))  # fmt: skip
    with pytest.raises(ValueError, match="pir_x"):  # (a list is no type, though its text says bedroom)
        read_sensor_meta(tmp_path)
    (tmp_path / "home.json").unlink()
    assert read_sensor_meta(tmp_path) == {}


def test_replay_hands_sensor_metadata_to_a_monitor_that_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[dict[str, dict[str, str]]] = []
    monkeypatch.setattr(HomeMonitor, "set_sensor_meta", lambda self, meta: got.append(meta), raising=False)
    rows = list(read_rows(iter(["ts,sensor,kind,value,room", "2025-01-06T08:00:00,pir1,motion,1,hall"])))
    replay(rows, sensors={"pir1": {"kind": "motion", "role": "floor"}})
    assert got == [{"pir1": {"kind": "motion", "role": "floor"}}]


def test_eval_prints_one_table_per_source_and_one_json_for_all(tmp_path: Path) -> None:
    a, b = tmp_path / "own-sim", tmp_path / "other"
    generate(a, 2, 3, 5, date(2025, 3, 3), jobs=1)
    generate(b, 2, 3, 6, date(2025, 3, 3), jobs=1)
    run = [sys.executable, "-m", "anxin", "eval", str(a), str(b), "--jobs", "1"]
    out = subprocess.run(run, check=True, timeout=120, capture_output=True, text=True).stdout
    heads = [line.split(",")[0] for line in out.splitlines() if line.startswith("## ")]
    assert heads == ["## own-sim: 2 homes", "## other: 2 homes"]
    assert out.count("calibration: predicted") == 2
    doc = json.loads(subprocess.run([*run, "--json"], check=True, timeout=120, capture_output=True, text=True).stdout)
    assert list(doc["sources"]) == ["own-sim", "other"]
    for src in doc["sources"].values():
        assert src["summary"]["homes"] == 2 and sum(k["homes"] for k in src["kits"].values()) == 2
    empty = subprocess.run([*run[:4], str(tmp_path)], timeout=60, capture_output=True, text=True)
    assert empty.returncode == 2 and "no DIR/<home>/events.csv" in empty.stderr
    assert f"(hint: anxin eval {b} {a})" in empty.stderr  # the sources one level down, named
    one = sorted(p for p in b.iterdir() if (p / "events.csv").exists())[0]  # a home's own folder: a source of one
    alone = subprocess.run([*run[:4], str(one), "--jobs", "1"], check=True, timeout=120, capture_output=True, text=True)
    assert alone.stdout.startswith(f"## {one.name}: 1 homes")
    answered = subprocess.run([*run, "--verdicts"], check=True, timeout=120, capture_output=True, text=True).stdout
    assert answered.startswith("(--verdicts: every long_inactivity alarm answered") and answered.count("## ") == 2
    spent = subprocess.run([*run, "--budget", "4"], check=True, timeout=120, capture_output=True, text=True).stdout
    assert spent.startswith("(--budget 4: each home's false long_inactivity alarms") and spent.count("## ") == 2
    for bad, why in (("0", "greater than or equal to 0.01"), ("31", "less than or equal to 30"), ("nan", "")):
        refused = subprocess.run([*run, "--budget", bad], timeout=60, capture_output=True, text=True)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and why in lines[0] and "hint: --budget" in lines[0], bad


def test_the_operators_budget_reaches_every_homes_limits(tmp_path: Path) -> None:
    # The knob along the recall / false-alarm frontier (docs/anomaly.md, "Choosing the budget"): a larger budget lowers
    # the level, so limits shorten and the model predicts more false alarms, home by home.
    generate(tmp_path, 2, 10, 7, date(2025, 3, 3), jobs=1)
    tight, loose = ([s.predicted_false_60d for s in evaluate_many([tmp_path], jobs=1, limits=HomeLimits(
        false_alarm_budget_per_60d=b))[0]] for b in (0.25, 8.0))  # fmt: skip
    assert all(t is not None and u is not None and u > t for t, u in zip(tight, loose, strict=True)), (tight, loose)


def test_a_home_folder_that_is_no_home_id_replays_and_takes_its_kit_from_sensors_csv(tmp_path: Path) -> None:
    home = tmp_path / "peer" / "DEV_1"
    home.mkdir(parents=True)
    (home / "sensors.csv").write_text(PEER_SENSORS)
    events = []
    for h in range(7, 22):  # a day of movement, then nothing: the resident lies on the floor from 21:00
        events += [
            f"2025-01-06T{h:02d}:00:00,pir00,motion,1,Bedroom",
            f"2025-01-06T{h:02d}:00:05,pir00,motion,0,Bedroom",
        ]
    events.append("2025-01-06T08:00:00,door11,door,open,Entrance")
    (home / "events.csv").write_text("ts,sensor,kind,value,room\n" + "\n".join(sorted(events)) + "\n")
    (home / "labels.csv").write_text("type,start,end,note\nlong_lie,2025-01-06T21:00:10,2025-01-07T09:00:00,\n")
    (s,) = evaluate(tmp_path / "peer", jobs=1)
    assert s.home == "DEV_1" and s.kit == "pir+door" and s.hits[0][0] == "long_lie"


def test_a_mistyped_option_is_one_line_with_a_hint() -> None:
    # Typer's own wording is a boxed panel of many lines; a user who mistyped an option gets one line and exit 2.
    for argv in (["eval", "/tmp", "--jobs", "x"], ["bench", "anomaly", "--homes", "x"], ["no-such-command"]):
        run = subprocess.run(
            [sys.executable, "-m", "shell", *argv], capture_output=True, text=True, timeout=120, check=False
        )
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1, (argv, run.stderr)
        assert lines[0].startswith("anxin") and "--help" in lines[0] and "Traceback" not in run.stderr


def test_each_missed_long_lie_says_where_the_engine_stood(tmp_path: Path) -> None:
    # The answers come from the engine at its last check during the lie (evaluation/misses.py), one per missed lie.
    generate(tmp_path, 3, 20, 780, date(2025, 3, 3), incident_rate=6.0, types=("long_lie",), jobs=1)
    scores = evaluate(tmp_path, jobs=1)
    missed = [d for s in scores for typ, _w, d in s.hits if typ == "long_lie" and d is None]
    assert sum(len(s.misses) for s in scores) == len(missed) == 4
    answers = sorted((why, None if lim is None else round(lim)) for s in scores for why, lim in s.misses)
    assert answers == [("away", None), ("ceiling", 300), ("limit", 120), ("limit", 137)]
    assert all(why in WHY_TEXT for s in scores for why, _ in s.misses)
    summary = summarise_misses(scores)
    assert sum(v["lies"] for v in summary.values()) == len(missed)
    line = misses_line(summary)
    assert line.startswith("missed long lies >= 30 min") and all(WHY_TEXT[w] in line for w in summary)


def test_every_lie_a_check_falls_in_gets_its_answer_overlapping_or_repeated() -> None:
    m = HomeMonitor("h-misses00001", UTC)  # no movement yet: every answer is `no_moment`
    t0 = datetime(2025, 3, 3, tzinfo=UTC).timestamp()
    lie = Label("long_lie", t0, t0 + 5 * 3600)
    inner = Label("long_lie", t0 + 3600, t0 + 2 * 3600)
    labels = [lie, Label("panic", t0, t0 + 60), inner, lie, Label("long_lie", t0 + 9 * 3600, t0 + 10 * 3600)]
    watch = LieWatch(labels)
    for hours in (1.5, 3.0):
        watch(m, t0 + hours * 3600)
    s = score(HomeScore("h", 1.0, 0), labels, [])
    assert watch.misses(labels, s) == [("no_moment", None)] * 3 + [("unchecked", None)]


def test_misses_are_summed_by_answer_with_the_median_limit() -> None:
    s = HomeScore("h", 60.0, 0)
    s.misses = [("ceiling", 300.0), ("limit", 100.0), ("limit", 140.0), ("limit", 120.0), ("quiet", None)]
    assert summarise_misses([s]) == {
        "limit": {"lies": 3, "median_limit_min": 120},
        "ceiling": {"lies": 1, "median_limit_min": 300},
        "quiet": {"lies": 1, "median_limit_min": None},
    }


def test_a_button_held_is_the_residents_own_call_as_a_press_is() -> None:
    labels = [Label("panic", T0, T0 + 60)]
    held = [Found(T0 + 2, "help_request", "warning"), Found(T0 + 86400, "help_request", "warning")]
    s = _score(labels, held)
    assert [kind for kind, _ts in s.false_alarms] == ["help_request"]  # the one no press explains


def test_a_source_is_its_homes_folders_else_a_home_folder_itself(tmp_path: Path) -> None:
    for home in ("h1", "h2"):
        (tmp_path / home).mkdir()
        (tmp_path / home / "events.csv").write_text("ts,sensor,kind,value,room\n")
    (tmp_path / "events.csv").write_text("ts,sensor,kind,value,room\n")  # (homes below it come first: none dropped)
    assert home_dirs(tmp_path) == [tmp_path / "h1", tmp_path / "h2"]
    assert home_dirs(tmp_path / "h1") == [tmp_path / "h1"] and home_dirs(tmp_path / "nothing") == []
