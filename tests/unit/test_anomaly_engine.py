"""Stillness in the engine: one alert per quiet episode, silent sensors, operator limits, summaries and
checkpoints (mats and motion sensors: test_anomaly_mats_and_pirs.py; verdicts: test_anomaly_feedback.py; other
detectors: test_anomaly_presence.py; the model alone: test_anomaly_stillness.py)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from anomaly.engine import Engine, HomeLimits, Options
from anomaly.store import freeze, thaw
from contracts import Finding
from tests.support.anomaly_fixtures import HOME, TZ
from tests.support.engine_home import DAY0, MIN, SEC, Home, learned, live_day, num


def _absence(h: Home, start: datetime, strays: list[tuple[float, str]]) -> None:
    """Out for three days in a home with no door sensor: the last movement at `start`, then stray triggers."""
    h.pir(start, "kitchen")
    for hours, room in strays:
        h.pir(start + timedelta(hours=hours), room)
    h.until(start + timedelta(days=3))


def test_one_quiet_episode_gives_one_alarm_and_real_activity_rearms_it() -> None:
    h = learned(stop_last=9.0)
    start = DAY0 + timedelta(days=14, hours=9)
    _absence(h, start, [(6.0, "living"), (19.0, "living"), (30.0, "living"), (50.0, "living")])
    assert [f.since for f in h.alarms(start)] == [start + 5 * SEC]  # one alarm, however many stray triggers
    back = start + timedelta(days=3)
    for k in range(4):  # home again: several events from two sensors
        h.pir(back + timedelta(minutes=2 * k), ("kitchen", "living")[k % 2])
    assert h.m.idle.quiet_since is None
    h.until(back + timedelta(hours=3))
    assert len(h.alarms(back)) == 1  # and a new stillness is a new alarm


def test_lone_strays_from_different_sensors_days_apart_do_not_rearm() -> None:
    h = learned(stop_last=9.0)
    start = DAY0 + timedelta(days=14, hours=9)
    _absence(h, start, [(6.0, "living"), (19.0, "bathroom"), (30.0, "kitchen"), (50.0, "living")])
    assert len(h.alarms(start)) == 1


def test_a_silent_sensor_lifts_limits_only_for_silences_that_began_in_its_room() -> None:
    h = learned(5)
    for d in range(5, 8):  # the bedroom PIR dies; the resident lives on
        live_day(h, DAY0 + timedelta(days=d), bedroom_pir=False)
    assert "pir_bedroom" in [f.evidence["sensor"] for f in h.found if f.kind == "sensor_silent"]
    eng = Engine(Options(tz=TZ))
    eng.homes[HOME] = h.m
    eng.set_limits(HOME, HomeLimits(inactivity_ceiling_day_min=480))
    t = DAY0 + timedelta(days=8, hours=10)
    live_day(h, DAY0 + timedelta(days=8), bedroom_pir=False, stop=10.0)
    h.ev(t, "wardrobe", "open", "bedroom", "contact")
    h.ev(t + 30 * SEC, "wardrobe", "closed", "bedroom", "contact")  # then still, maybe unseen in the bedroom
    assert h.m.idle.ctx is not None and h.m.idle.model.limit(h.m.idle.ctx) < 400 * 60  # its own limit is shorter
    h.until(t + timedelta(minutes=479))
    assert h.alarms(t) == []  # the ceiling: she may be in the bedroom, unseen
    h.until(t + timedelta(minutes=490))
    (f,) = h.alarms(t)
    assert f.evidence["room"] == "bedroom" and "pir_bedroom" in str(f.evidence["silent_sensors"])
    t = DAY0 + timedelta(days=9, hours=10)
    live_day(h, DAY0 + timedelta(days=9), bedroom_pir=False, stop=10.0)
    h.pir(t, "kitchen")
    assert h.m.idle.ctx is not None
    own = max(h.m.idle.model.limit(h.m.idle.ctx), 20 * 60)
    h.until(t + timedelta(hours=3))
    (f,) = h.alarms(t)  # a silence in the kitchen keeps the kitchen's own limit
    assert f.evidence["room"] == "kitchen" and num(f, "limit_min") == round(own / 60) < 120


def test_a_room_still_watched_by_a_working_motion_sensor_is_not_blind() -> None:
    # A shower PIR used every morning goes unused for two days and is reported silent; the basin PIR in the same
    # bathroom still works and has just seen the resident: a fall there keeps the bathroom's own limit.
    h = Home()
    for d in range(8):
        live_day(h, DAY0 + timedelta(days=d))
        if d < 5:
            t = DAY0 + timedelta(days=d, hours=8)
            h.ev(t, "shower_pir", 1, "bathroom")
            h.ev(t + 5 * SEC, "shower_pir", 0, "bathroom")
    assert "shower_pir" in [f.evidence["sensor"] for f in h.found if f.kind == "sensor_silent"]
    t = DAY0 + timedelta(days=8, hours=10)
    live_day(h, DAY0 + timedelta(days=8), stop=10.0)
    h.pir(t, "bathroom")
    assert h.m.idle.ctx is not None
    own = max(h.m.idle.model.limit(h.m.idle.ctx), 20 * 60)
    h.until(t + timedelta(hours=6))
    (f,) = h.alarms(t)
    assert f.evidence["room"] == "bathroom" and "shower_pir" in str(f.evidence["silent_sensors"])
    assert num(f, "limit_min") == round(own / 60) < 120


def test_a_dead_bed_mat_blinds_the_bedroom_though_its_pir_works() -> None:
    # A PIR sees the resident come into the bedroom and leave it, not lie still on the bed: with the bed mat dead
    # (released, never pressed again) every night reads as stillness out of bed. Once the mat is reported silent,
    # the bedroom waits for the night's ceiling again.
    h = Home()
    for d in range(21):
        live_day(h, DAY0 + timedelta(days=d), bed_mat=d < 14, bedroom_pir=False)
        h.pir(DAY0 + timedelta(days=d, hours=22, seconds=5), "bedroom")  # (the PIR sees her go to bed, and no more)
    assert "bed_mat" in [f.evidence["sensor"] for f in h.found if f.kind == "sensor_silent"]
    silent_at = next(f.ts for f in h.found if f.kind == "sensor_silent" and f.evidence["sensor"] == "bed_mat")
    assert h.alarms(silent_at) == []


def test_operator_floor_ceiling_and_budget_move_limits_the_right_way() -> None:
    floor = learned(10, HomeLimits(inactivity_floor_min=90), stop_last=10.0)
    t = DAY0 + timedelta(days=10, hours=10)
    floor.pir(t, "kitchen")
    floor.until(t + timedelta(hours=2))
    assert [f.evidence["limit_min"] for f in floor.alarms(t)] == [90]  # a brisk kitchen's own limit is shorter
    ceiling = Home(HomeLimits(inactivity_ceiling_day_min=60))  # a new home's prior is longer than that by day
    ceiling.pir(DAY0 + timedelta(hours=10), "bathroom")
    ceiling.until(DAY0 + timedelta(hours=14))
    assert [f.evidence["limit_min"] for f in ceiling.alarms()] == [60]
    loose, strict = learned(10, bed_mat=True, night_up=True), learned(10, HomeLimits(false_alarm_budget_per_60d=0.1),
                                                                       bed_mat=True, night_up=True)  # fmt: skip
    ctxs = list(loose.m.idle.model.contexts())
    lo, st = [loose.m.idle.model.limit(c) for c in ctxs], [strict.m.idle.model.limit(c) for c in ctxs]
    assert all(b >= a for a, b in zip(lo, st, strict=True)) and any(b > a * 1.1 for a, b in zip(lo, st, strict=True))
    assert strict.m.expected_false_alarms_per_60d() < loose.m.expected_false_alarms_per_60d()
    eng = Engine(Options(tz=TZ))  # an operator's change reaches a running home at once
    eng.homes[HOME] = loose.m
    eng.set_limits(HOME, HomeLimits(false_alarm_budget_per_60d=0.01))
    now = [loose.m.idle.model.limit(c) for c in ctxs]
    assert all(b >= a for a, b in zip(lo, now, strict=True)) and any(b > a for a, b in zip(st, now, strict=True))
    assert loose.m.expected_false_alarms_per_60d() < strict.m.expected_false_alarms_per_60d()


def test_mat_roles_come_from_the_kit_else_from_how_long_and_when_a_mat_is_held() -> None:
    def night_on_mat(meta: dict[str, dict[str, str]] | None) -> Home:
        h = Home()
        if meta is not None:
            h.m.set_sensor_meta(meta)
        night = DAY0 + timedelta(hours=23)
        h.pir(night - MIN, "bedroom")
        h.ev(night, "m", 1, "bedroom", "pressure")
        h.ev(night + timedelta(hours=7), "m", 0, "bedroom", "pressure")  # held from 23:00 through dawn
        h.pir(night + timedelta(hours=7, seconds=5), "bedroom")
        return h

    assert night_on_mat(None).m.summary()["mat_roles"] == {"m": "bed"}
    armchair = Home()  # an evening in the armchair runs past midnight, not through dawn: a seat, not a bed
    armchair.ev(DAY0 + timedelta(hours=20), "m", 1, "living", "pressure")
    armchair.ev(DAY0 + timedelta(hours=26), "m", 0, "living", "pressure")
    assert armchair.m.summary()["mat_roles"] == {"m": "seat"}
    seat = night_on_mat({"m": {"role": "seat"}}).m  # an armchair in the bedroom, as the installer says
    assert seat.summary()["mat_roles"] == {"m": "seat"} and not seat.kit.mat and not seat.where.in_bed
    short = Home()
    short.ev(DAY0 + timedelta(hours=15), "m", 1, "living", "pressure")
    short.ev(DAY0 + timedelta(hours=16), "m", 0, "living", "pressure")
    assert short.m.summary()["mat_roles"] == {"m": "seat"}  # an hour by day: a seat


def test_a_daily_nap_is_learned_and_the_summary_shows_the_moments() -> None:
    h = Home()
    for d in range(21):
        live_day(h, DAY0 + timedelta(days=d), nap_h=2.5)
    assert h.alarms(DAY0 + timedelta(days=7)) == []
    s = h.m.summary()
    assert h.m.confidence() > 0.7
    nap = [r for r in s["stillness"] if r["sensor"] == "pir_living" and r["hours"] == "12-18" and r["value"] == "0"]
    assert nap and nap[0]["longest_min"] >= 150 * 0.7 and nap[0]["limit_min"] > 150
    assert 0 < s["expected_false_alarms_per_60d"] <= 1.0


def test_a_checkpoint_resumes_the_same_state_and_stays_small() -> None:
    h = learned(30, bed_mat=True, floor_mat=True, tv_h=3.0, night_up=True)
    blob = freeze(h.m)  # what the service's checkpoint store writes: pickle + zlib
    assert len(blob) <= 32 * 1024
    copy = Home()
    copy.m = thaw(blob)
    assert copy.m.summary() == h.m.summary()
    nxt = DAY0 + timedelta(days=30)
    h.found, copy.found = [], []
    for x in (h, copy):
        live_day(x, nxt, bed_mat=True)
        x.ev(nxt + timedelta(days=1, hours=10), "bed_mat", 0, "bedroom", "pressure")
        x.until(nxt + timedelta(days=1, hours=12))
    assert [f.model_dump() for f in copy.found] == [f.model_dump() for f in h.found] != []


def test_a_bed_mat_released_after_a_nap_empties_the_bed() -> None:
    h = Home()
    h.ev(DAY0 + timedelta(hours=14), "bed_mat", 1, "bedroom", "pressure")
    h.ev(DAY0 + timedelta(hours=15), "bed_mat", 0, "bedroom", "pressure")
    h.pir(DAY0 + timedelta(hours=15, minutes=1), "kitchen")
    assert not h.m.where.in_bed and h.m.kit.rooms[h.m.where.last_room] == "kitchen"


def test_a_mat_press_reported_seconds_late_is_still_held() -> None:
    h = Home()
    h.pir(DAY0 + timedelta(hours=17, seconds=1), "living")  # the PIR's `0` at 17:00:06 arrives first
    h.ev(DAY0 + timedelta(hours=17, seconds=3), "seat_mat", 1, "living", "pressure")
    assert h.m.kit.held == ["seat_mat"]


def test_a_check_follows_a_move_soon_only_around_the_front_door_or_in_a_night_episode() -> None:
    # A check 46 s after every movement was most of a replay's checks; by day nothing is decided that soon.
    h = learned(stop_last=12.0)
    noon = DAY0 + timedelta(days=14, hours=12)
    for k in range(3):
        h.pir(noon + timedelta(minutes=2 * k), "living")
    assert h.m.next_check > (noon + timedelta(minutes=4 + 2)).timestamp()  # (the stillness floor, the hourly checks)
    h.ev(noon + timedelta(minutes=5), "front_door", "open", "entrance", "door")
    assert h.m.next_check <= (noon + timedelta(minutes=5, seconds=46)).timestamp()  # presence settles after the door


def test_with_a_floor_above_half_an_hour_falling_asleep_is_still_read_on_time() -> None:
    # Sleep is read 30 min after the last move (sleep.check); the check that reads it must not wait for the floor,
    # or a night exit soon after is not one (it needs the resident taken as asleep). An operator's floor: 45 min.
    h = learned(limits=HomeLimits(inactivity_floor_min=45.0), stop_last=21 + 46 / 60)
    bed = DAY0 + timedelta(days=14, hours=21, minutes=46)
    h.pir(bed, "bedroom")  # to bed, and still
    up = bed + timedelta(minutes=35)
    h.pir(up, "bedroom")
    h.pir(up + MIN, "living")
    h.ev(up + 2 * MIN, "front_door", "open", "entrance", "door")  # out, and nobody moves inside again
    h.ev(up + 2 * MIN + 20 * SEC, "front_door", "closed", "entrance", "door")
    h.until(up + timedelta(hours=2))
    assert [f.kind for f in h.found if f.ts > bed and f.kind == "night_exit"] == ["night_exit"]


def test_a_new_home_whose_first_events_are_readings_is_still_checked() -> None:
    h = Home()
    h.ev(DAY0 + timedelta(hours=9), "plug_tv", 150.0, "living", "power")  # a reading: no movement, no stillness clock
    assert h.m.next_check < math.inf


def test_one_homes_failing_checks_do_not_stop_every_homes_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded service ticks every home in one call: one that raised used to end it (and the service) for all.
    from anomaly.monitor import HomeMonitor

    eng = Engine()
    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=TZ)
    for home in ("h-000bad", "h-000ok1"):
        eng.monitor(home).observe_at(t0.timestamp(), "pir_hall", "motion", 1, "hall")
    real = HomeMonitor.tick_at

    def tick_at(self: HomeMonitor, now: float) -> list[Finding]:
        if self.home == "h-000bad":
            raise ZeroDivisionError("float division by zero")
        return real(self, now)

    monkeypatch.setattr(HomeMonitor, "tick_at", tick_at)
    found = [f for m in range(1, 600, 5) for f in eng.tick(t0 + timedelta(minutes=m))]
    assert {f.home for f in found if f.kind == "long_inactivity"} == {"h-000ok1"}
    bad = eng.homes["h-000bad"]
    assert bad.next_check > (t0 + timedelta(minutes=596)).timestamp()  # tried again a minute later, not every tick
