"""The simulator's files: format, determinism, labels that match the event streams, statistics and quirk rates."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from firmware_sim.files import generate
from firmware_sim.model import DAY, HOUR, INCIDENT_TYPES, PROFILES, HomeSim
from firmware_sim.plan import plan_home
from firmware_sim.sensors import FIXTURE_KINDS

from tests.support.sim_fixtures import SimHomeData, between, sim_dir, sim_homes

__all__ = ["sim_dir", "sim_homes"]
MS = timedelta(milliseconds=2)
BOUNCE = timedelta(seconds=1)
VALUES = {
    "motion": {"0", "1"},
    "door": {"open", "closed"},
    "pressure": {"0", "1"},
    "button": {"press"},
    "contact": {"open", "closed"},
    "power": {"0", "1"},
    "flush": {"0", "1"},
}


def test_format_is_as_documented(sim_dir: Path, sim_homes: list[SimHomeData]) -> None:
    first = next(p for p in sorted(sim_dir.iterdir()) if p.is_dir())
    assert (first / "events.csv").read_text().splitlines()[0] == "ts,sensor,kind,value,room"
    assert (first / "labels.csv").read_text().splitlines()[0] == "type,start,end,note"
    assert len(sim_homes) == 20
    for h in sim_homes:
        assert h.home.startswith("h-") and h.doc["home"] == h.home and h.doc["profile"] in PROFILES
        assert {"layout", "sensors", "kit"} <= set(h.doc)
        rooms = set(h.doc["layout"]["rooms"])
        assert [r.ts for r in h.events] == sorted(r.ts for r in h.events)
        for r in h.events:
            assert r.ts.tzinfo is None
            if r.kind in VALUES:
                assert r.value in VALUES[r.kind], r
                assert r.room in rooms
            if r.kind == "door":
                assert r.room == "entrance"
            if r.kind == "battery":
                assert 1 <= int(r.value) <= 100
            if r.kind == "status":
                assert r.sensor == "agent" and r.value in ("online", "offline")


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 3, 10, 5, date(2025, 1, 1), jobs=1)
    generate(b, 3, 10, 5, date(2025, 1, 1), jobs=2)
    generate(c, 3, 10, 6, date(2025, 1, 1), jobs=1)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 3 * 3 + 1
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / files[1]).read_bytes() != (c / sorted(c.rglob("events.csv"))[0].relative_to(c)).read_bytes()


def test_every_incident_type_appears(sim_homes: list[SimHomeData]) -> None:
    seen = Counter(lb[0] for h in sim_homes for lb in h.labels)
    assert set(seen) == set(INCIDENT_TYPES), seen
    for h in sim_homes:
        for _t, a, b, _n in h.labels:
            assert a <= b


def _motion_on(rows: list) -> list:  # type: ignore[type-arg]
    return [r for r in rows if r.kind == "motion" and r.value == "1"]


def test_labels_cover_what_the_events_show(sim_homes: list[SimHomeData]) -> None:
    checked: Counter[str] = Counter()
    for h in sim_homes:
        sensors = {s["id"]: s for s in h.doc["sensors"]}
        spurious_per_s = sum(s.get("spurious_per_day", 0) for s in sensors.values()) / DAY
        for typ, a, b, note in h.labels:
            inside = list(between(h.events, a + MS, b - MS))
            slack = 3 + 3 * spurious_per_s * (b - a).total_seconds()
            if typ in ("long_lie", "fall_short"):
                assert not _motion_on(inside), (h.home, typ, a, b, note)
                # A long lie is an hour or more on the floor (unless the data ends first); a short fall a few minutes.
                if typ == "long_lie" and b < h.events[-1].ts:
                    assert b - a >= timedelta(hours=1) - MS, (h.home, a, b)
                if typ == "fall_short":
                    assert b - a <= timedelta(minutes=5) + MS, (h.home, a, b)
                assert not [r for r in inside if r.kind in ("door", "pressure", "button", *FIXTURE_KINDS)], (
                    h.home,
                    typ,
                    a,
                )
            elif typ == "night_exit":
                assert len(_motion_on(inside)) <= slack, (h.home, typ, a, b)
                doors = [r for r in h.events if r.kind == "door" and r.value == "open"]
                if any(s["kind"] == "door" for s in sensors.values()):  # homes without a door sensor exist
                    assert any(abs(r.ts - a) < MS for r in doors) and any(abs(r.ts - b) < MS for r in doors)
            elif typ == "door_left_open":
                assert [r.value for r in h.events if r.kind == "door" and abs(r.ts - a) < MS] == ["open"]
                assert [r.value for r in h.events if r.kind == "door" and abs(r.ts - b) < MS] == ["closed"]
                assert not [r for r in inside if r.kind == "door" and a + BOUNCE < r.ts < b - BOUNCE]
            elif typ == "panic":
                assert [r.kind for r in h.events if r.sensor == "panic" and abs(r.ts - a) < MS] == ["button"]
            elif typ == "sensor_dead":
                sensor = note.split()[0].removeprefix("sensor=")
                assert sensor in sensors
                assert not [r for r in inside if r.sensor == sensor], (h.home, note)
            elif typ == "agent_offline":
                status = [(r.ts, r.value) for r in h.events if r.sensor == "agent"]
                assert (a, "offline") in status
                if "cause=power" in note:
                    assert not [r for r in inside if r.sensor != "agent"]
                if b < h.events[-1].ts:
                    assert (b, "online") in status
            elif typ == "late_wakeup":
                away = [r for r in _motion_on(inside) if r.room != "bedroom"]
                assert len(away) <= slack, (h.home, a, b, away)
                assert b - a >= timedelta(hours=2)
            elif typ == "night_wandering":
                assert len({r.room for r in _motion_on(inside)}) >= 2 or len(sensors) <= 4
            checked[typ] += 1
    assert len(checked) == len(INCIDENT_TYPES), checked


def _daily_activity(h: SimHomeData) -> dict[int, float]:
    """Seconds per day that some motion sensor reports occupied: report counts are no measure of activity, since a
    PIR retriggered by a busy resident stays occupied and reports less often."""
    start = h.events[0].ts.replace(hour=0, minute=0, second=0, microsecond=0)
    per: dict[int, float] = defaultdict(float)
    on: dict[str, datetime] = {}
    for r in h.events:
        if r.kind == "motion" and r.value == "1":
            on[r.sensor] = r.ts
        elif r.kind == "motion" and r.sensor in on:
            per[(r.ts - start).days] += (r.ts - on.pop(r.sensor)).total_seconds()
    return per


def test_illness_cuts_motion_time_by_a_third(sim_homes: list[SimHomeData]) -> None:
    ratios = []
    for h in sim_homes:
        ill_days: set[int] = set()
        start = h.events[0].ts.replace(hour=0, minute=0, second=0, microsecond=0)
        for typ, a, b, _n in h.labels:
            if typ == "illness":
                ill_days |= set(range((a - start).days, (b - start).days))
        if not ill_days:
            continue
        skip = {
            d for typ, a, b, _n in h.labels if typ != "illness" for d in range((a - start).days, (b - start).days + 1)
        }
        for away in h.doc.get("absences", []):  # trips away: nobody home
            a, b = datetime.fromisoformat(away["start"]), datetime.fromisoformat(away["end"])
            skip |= set(range((a - start).days, (b - start).days + 1))
        per = _daily_activity(h)
        normal = [per[d] for d in range(1, 59) if d not in ill_days and d not in skip]
        ill = [per[d] for d in ill_days]
        ratios.append(statistics.mean(ill) / statistics.mean(normal))
    assert ratios and max(ratios) <= 2 / 3, ratios


def test_wake_up_times_keep_to_the_profile() -> None:
    for name, p in PROFILES.items():
        plan = plan_home(3, 0, 60, date(2025, 3, 3), 0.0, (), guarantee=False)
        spec = plan.spec.__class__(**{**plan.spec.__dict__, "profile": name})
        sim = HomeSim(spec, [], end=60 * DAY)
        weekday = [(sim.wake(d) - d * DAY) / HOUR for d in range(60) if sim.weekday(d) < 5]
        assert abs(statistics.mean(weekday) - p.wake_h) < 0.4 * p.wake_sd / 60 + 0.05, name
        assert 0.6 * p.wake_sd / 60 < statistics.stdev(weekday) < 1.3 * p.wake_sd / 60, name
        assert all(abs(w - p.wake_h) <= 2.5 * p.wake_sd / 60 + 1e-9 for w in weekday), name


def test_night_restlessness_doubles_night_toilet_visits() -> None:
    plan = plan_home(4, 3, 60, date(2025, 3, 3), 0.0, (), guarantee=False)
    from firmware_sim.model import IncidentPlan

    sim = HomeSim(plan.spec, [IncidentPlan("night_restlessness", day=20, days=7)], end=60 * DAY)
    for k in range(60):
        sim.day_events(k)
    restless = [sim.nights[d] for d in range(20, 27)]
    normal = [sim.nights[d] for d in range(0, 58) if not 19 <= d <= 27]
    assert statistics.mean(restless) >= 2 * statistics.mean(normal)


def test_quirks_happen_at_their_configured_rates(sim_homes: list[SimHomeData]) -> None:
    attempts = missed = spurious = bounces = transitions = 0
    expected_missed = expected_spurious = expected_bounce = 0.0
    for h in sim_homes:
        q = h.doc["quirks"]
        pirs = [s for s in h.doc["sensors"] if s["kind"] == "motion"]
        door: dict[str, float] = next((s for s in h.doc["sensors"] if s["kind"] == "door"), {})
        attempts += q.get("attempts", 0)
        missed += q.get("missed", 0)
        spurious += q.get("spurious", 0)
        bounces += q.get("bounce", 0)
        transitions += q.get("door_transitions", 0)
        mean_miss = statistics.mean(s.get("miss_p", 0) for s in pirs)
        expected_missed += q.get("attempts", 0) * mean_miss
        expected_spurious += sum(s.get("spurious_per_day", 0) for s in pirs) * 60
        expected_bounce += q.get("door_transitions", 0) * door.get("bounce_p", 0)
    assert 0.7 < missed / expected_missed < 1.4, (missed, expected_missed)
    # Spurious triggers while the PIR is already occupied or blind go unseen: fewer than drawn, not more.
    assert 0.3 < spurious / expected_spurious < 1.15, (spurious, expected_spurious)
    assert 0.7 < bounces / expected_bounce < 1.3, (bounces, expected_bounce)
