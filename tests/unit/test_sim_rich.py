"""The rich simulated world: kits and mat roles, interval PIRs, fixtures, long sittings, trips away, falls onto a
floor mat, micro-activity at rest; and `--variety classic` still writing the first simulator's bytes."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from firmware_sim.files import generate
from firmware_sim.model import DAY, HOUR, KITS, LAYOUTS, PROFILES, HomeSim, HomeSpec, IncidentPlan, kit_sensors
from firmware_sim.plan import plan_home
from firmware_sim.world import Seg

from tests.support.sim_fixtures import SimHomeData, between, sim_dir, sim_homes

__all__ = ["sim_dir", "sim_homes"]
MS = timedelta(milliseconds=2)
TWO_STATE = {"motion": "1", "pressure": "1", "door": "open", "contact": "open", "power": "1", "flush": "1"}
# sha256 over the sha256 of each events.csv, then each labels.csv (homes sorted), written by the simulator before
# the rich world existed (commit c5d33b7): 11 homes x 30 days, seed 5.
CLASSIC_DIGEST = "c7813f6734b1d78da756fcee7fe0ade5f3e0e1002bd385f4f95e261304b0b01b"


def test_classic_variety_writes_the_first_simulators_bytes(tmp_path: Path) -> None:
    generate(tmp_path, 11, 30, 5, date(2025, 3, 3), jobs=1, variety="classic")
    homes = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    files = [h / "events.csv" for h in homes] + [h / "labels.csv" for h in homes]
    lines = "".join(hashlib.sha256(f.read_bytes()).hexdigest() + "\n" for f in files)
    assert hashlib.sha256(lines.encode()).hexdigest() == CLASSIC_DIGEST


def _intervals(h: SimHomeData, sensor: str) -> list[tuple[datetime, datetime]]:
    """(on, off) pairs of a two-state sensor."""
    out, on = [], None
    for r in h.events:
        if r.sensor == sensor and r.kind in TWO_STATE:
            if r.value == TWO_STATE[r.kind]:
                on = r.ts
            elif on is not None:
                out.append((on, r.ts))
                on = None
    return out


def test_every_kit_and_profile_and_mat_roles_in_home_json(sim_homes: list[SimHomeData]) -> None:
    assert {h.doc["kit"] for h in sim_homes} == set(KITS)
    assert {h.doc["profile"] for h in sim_homes} == set(PROFILES)
    for h in sim_homes:
        kinds = Counter(s["kind"] for s in h.doc["sensors"])
        roles = {s["role"] for s in h.doc["sensors"] if s["kind"] == "pressure"}
        assert all(s.get("role") in ("bed", "seat", "floor") for s in h.doc["sensors"] if s["kind"] == "pressure")
        kit = h.doc["kit"]
        assert ("door" in kinds) == (kit != "nodoor"), h.doc["sensors"]
        if kit == "ordonez":
            assert roles == {"bed", "seat"} and {"contact", "power", "flush"} <= set(kinds)
            assert {s["room"] for s in h.doc["sensors"] if s["kind"] == "motion"} == {"bathroom", "kitchen"}
            assert all(s["mode"] == "interval" for s in h.doc["sensors"] if s["kind"] == "motion")
        if kit == "floor_mat":
            assert roles == {"floor"}


def test_two_state_sensors_alternate(sim_homes: list[SimHomeData]) -> None:
    breaks = 0
    for h in sim_homes:
        last: dict[str, bool] = {}
        for r in h.events:
            if r.kind in TWO_STATE:
                on = r.value == TWO_STATE[r.kind]
                breaks += last.get(r.sensor) == on
                last[r.sensor] = on
    outages = sum(1 for h in sim_homes for lb in h.labels if lb[0] in ("sensor_dead", "agent_offline"))
    assert breaks <= outages  # a sensor that dies or an agent that loses power loses the other half


def test_mats_by_role_interval_pirs_and_fixtures(sim_homes: list[SimHomeData]) -> None:
    seen: Counter[str] = Counter()
    for h in sim_homes:
        long_sits = h.doc.get("habits", {}).get("long_sit_p", 0)
        for s in h.doc["sensors"]:
            spans = [(b - a).total_seconds() for a, b in _intervals(h, s["id"])]
            if s.get("role") == "floor":  # a step at each getting in or out of bed, no falls in this set
                assert spans and max(spans) < 2, h.home
                seen["floor"] += 1
            elif s.get("role") == "seat" and long_sits >= 0.5:
                assert max(spans) >= 4 * HOUR, (h.home, max(spans) / HOUR)
                seen["seat"] += 1
            elif s.get("mode") == "interval":  # no fixed hold: short blips and long stretches
                assert min(spans) < 15 and max(spans) > 5 * 60, (h.home, s["id"])
                seen["interval"] += 1
            elif s["kind"] in ("contact", "power", "flush"):
                assert spans and max(spans) <= 5 * 60 + 1, (h.home, s["id"])
                seen[s["kind"]] += 1
    assert {"floor", "seat", "interval", "contact", "power", "flush"} <= set(seen), seen


def test_trips_away_leave_the_home_quiet(sim_homes: list[SimHomeData]) -> None:
    trips = 0
    for h in sim_homes:
        spurious = sum(s.get("spurious_per_day", 0) for s in h.doc["sensors"])
        for away in h.doc.get("absences", []):
            a, b = datetime.fromisoformat(away["start"]), datetime.fromisoformat(away["end"])
            assert timedelta(days=1) < b - a < timedelta(days=6), away
            inside = list(between(h.events, a + timedelta(seconds=20), b - timedelta(seconds=1)))
            assert not [r for r in inside if r.kind not in ("motion", "battery", "status")], (h.home, away)
            ons = [r for r in inside if r.kind == "motion" and r.value == "1"]
            assert len(ons) <= 3 + 3 * spurious * (b - a).total_seconds() / DAY, (h.home, away, len(ons))
            trips += 1
    assert trips >= 5


def test_falls_onto_a_floor_mat_keep_it_pressed_and_nothing_else_reports(tmp_path: Path) -> None:
    layout = LAYOUTS["one_bedroom"]
    sensors = tuple(kit_sensors("floor_mat", layout, random.Random("t")))
    spec = HomeSpec("h-00000000f100", "regular", "one_bedroom", sensors, "floor:1", date(2025, 3, 3))
    sim = HomeSim(spec, [IncidentPlan("long_lie", day=d) for d in range(1, 58, 3)], end=60 * DAY)
    events = [e for k in range(60) for e in sim.day_events(k)]
    under = [lb for lb in sim.labels if "under=floor_mat" in lb.note]
    assert len(under) >= 3, [lb.note for lb in sim.labels]
    for lb in sim.labels:
        if lb.type != "long_lie":
            continue
        inside = [e for e in events if lb.start + 0.002 < e.t < lb.end - 0.002 and e.kind not in ("battery", "status")]
        assert all(e.kind == "motion" and e.value == "0" for e in inside), (lb, inside)
        mat = [e for e in events if e.kind == "pressure" and lb.start - 3 < e.t < lb.end + 3]
        if lb in under:  # pressed as the body lands, released as the resident gets up
            assert [e.value for e in mat] == ["1", "0"] and mat[0].t < lb.start and mat[1].t > lb.end
            assert lb.end - lb.start >= HOUR


def test_micro_activity_at_rest_and_stillness_asleep() -> None:
    plan = plan_home(8, 2, 60, date(2025, 3, 3), 0.0, ())
    sim = HomeSim(plan.spec, [], end=60 * DAY)
    assert sim.rates["rest"] >= 0.6 and sim.rates["nap"] >= 0.3 and sim.rates["sleep"] <= 0.08
    main = sim.layout.main
    sim._movements(Seg(0, 10 * HOUR, main, "rest", sim.rates["rest"], entry=False), random.Random(1))
    per_min = len(sim.moves[main]) / 600
    assert 0.5 < per_min < 1.7  # a resting resident stirs about once a minute, seen by the room's PIR
    classic = plan_home(8, 2, 60, date(2025, 3, 3), 0.0, (), variety="classic")
    assert not classic.spec.rates and not classic.spec.trips


def test_late_risers_and_night_owls_keep_late_hours() -> None:
    for name, up, down in (("late_riser", 10.0, 24.75), ("night_owl_extreme", 11.0, 26.0)):
        plan = plan_home(3, 0, 60, date(2025, 3, 3), 0.0, (), guarantee=False)
        sim = HomeSim(HomeSpec(**{**plan.spec.__dict__, "profile": name}), [], end=60 * DAY)
        wakes = sorted((sim.wake(d) - d * DAY) / HOUR for d in range(60))
        beds = sorted((sim.bedtime(d) - d * DAY) / HOUR for d in range(60))
        assert wakes[30] >= up and beds[30] >= down, (name, wakes[30], beds[30])
