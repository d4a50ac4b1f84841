"""The detection engine: panic, learned inactivity limits, presence, night exits, devices, feedback, checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from anomaly.engine import Engine, HomeLimits, HomeMonitor, Options, Presence, Tuning
from anomaly.store import freeze, thaw
from contracts import Feedback
from tests.support.anomaly_fixtures import HOME, TZ, Agent, monitor, routine_day

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
MIN = timedelta(minutes=1)


def _engine(**limits: float) -> Engine:
    return Engine(Options(tz=TZ, limits=HomeLimits(**limits)))


def _run(eng: Engine, until: datetime, step: timedelta = MIN) -> list[str]:
    """Tick minute by minute, as the live service does every few seconds."""
    out: list[str] = []
    t = min(m.next_check for m in eng.homes.values())
    now = datetime.fromtimestamp(t, TZ)
    while now <= until:
        out.extend(f.kind for f in eng.tick(now))
        now += step
    return out


def test_panic_is_a_critical_finding_at_once() -> None:
    ev = Agent()
    (f,) = _engine().observe(ev(T0, "panic", "button", "press", "bedroom"))
    assert (f.kind, f.severity, f.home, f.since) == ("panic", "critical", HOME, T0)


def test_inactivity_fires_once_past_the_prior_limit_after_confirmation() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_bath", "motion", 1, "bathroom"))
    limit = eng.homes[HOME].limit_cache[eng.homes[HOME]._ctx(T0.timestamp(), 0)]
    assert limit == 30 * 60  # the population prior for a bathroom by day
    assert _run(eng, T0 + timedelta(minutes=29)) == []
    assert eng.tick(T0 + timedelta(minutes=31)) == []  # past the limit once: confirm at the next check
    found = eng.tick(T0 + timedelta(minutes=33))
    assert [f.kind for f in found] == ["long_inactivity"]
    f = found[0]
    assert f.severity == "critical" and f.since == T0
    assert f.evidence["room"] == "bathroom" and f.evidence["limit_min"] == 30 and f.evidence["still_min"] == 33
    assert _run(eng, T0 + timedelta(hours=3)) == []  # once per stillness


def test_away_after_the_front_door_raises_nothing_and_a_return_is_home() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=30), "front", "door", "closed", "entrance"))
    assert _run(eng, T0 + timedelta(hours=6)) == []
    assert eng.homes[HOME].presence is Presence.AWAY
    eng.observe(ev(T0 + timedelta(hours=6), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(hours=6, seconds=20), "pir_living", "motion", 1, "living"))
    assert eng.homes[HOME].presence is Presence.HOME


def test_a_lone_trigger_while_away_is_no_return_but_two_without_the_door_are() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=30), "front", "door", "closed", "entrance"))
    assert _run(eng, T0 + timedelta(hours=1)) == []
    m = eng.homes[HOME]
    eng.observe(ev(T0 + timedelta(hours=1), "pir_bath", "motion", 1, "bathroom"))  # a PIR's false trigger
    assert m.presence is Presence.AWAY
    assert _run(eng, T0 + timedelta(hours=6)) == []  # no "inactivity" after a trigger nobody made
    back = T0 + timedelta(hours=6)
    eng.observe(ev(back, "pir_living", "motion", 1, "living"))
    eng.observe(ev(back + timedelta(minutes=3), "pir_kitchen", "motion", 1, "kitchen"))  # the door sensor missed
    assert m.presence is Presence.HOME and m.last_room == m._room("kitchen")


def test_door_left_open_is_a_warning() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    kinds = _run(eng, T0 + timedelta(minutes=25))
    assert kinds == ["door_left_open"]


def test_a_night_exit_is_critical_within_minutes_and_a_day_exit_is_not() -> None:
    eng, ev = _engine(), Agent()
    night = datetime(2026, 11, 27, 2, 0, tzinfo=TZ)
    eng.observe(ev(night, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(night + timedelta(seconds=10), "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=25), "front", "door", "closed", "entrance"))
    found = _run(eng, night + timedelta(minutes=10))
    assert found == ["night_exit"]
    day, eng2 = T0, _engine()
    eng2.observe(ev(day, "pir_entrance", "motion", 1, "entrance"))
    eng2.observe(ev(day + timedelta(seconds=10), "front", "door", "open", "entrance"))
    eng2.observe(ev(day + timedelta(seconds=25), "front", "door", "closed", "entrance"))
    assert _run(eng2, day + timedelta(minutes=30)) == []


def test_a_night_door_followed_by_movement_inside_is_no_exit() -> None:
    eng, ev = _engine(), Agent()
    night = datetime(2026, 11, 27, 2, 0, tzinfo=TZ)
    eng.observe(ev(night, "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=20), "front", "door", "closed", "entrance"))
    eng.observe(ev(night + timedelta(minutes=2), "pir_kitchen", "motion", 1, "kitchen"))
    eng.observe(ev(night + timedelta(minutes=3), "pir_kitchen", "motion", 1, "kitchen"))
    assert "night_exit" not in _run(eng, night + timedelta(minutes=30))
    # One trigger alone after the door closed may be a PIR's false one: the resident may still be out.
    eng2 = _engine()
    eng2.observe(ev(night - timedelta(seconds=30), "pir_entrance", "motion", 1, "entrance"))
    eng2.observe(ev(night, "front", "door", "open", "entrance"))
    eng2.observe(ev(night + timedelta(seconds=20), "front", "door", "closed", "entrance"))
    eng2.observe(ev(night + timedelta(minutes=2), "pir_kitchen", "motion", 1, "kitchen"))
    assert "night_exit" in _run(eng2, night + timedelta(minutes=30))


def test_an_offline_agent_is_a_device_problem_not_a_fall() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_bath", "motion", 1, "bathroom"))
    eng.agent_status(HOME, T0 + timedelta(minutes=5), online=False)
    found = []
    now = T0 + timedelta(minutes=6)
    while now < T0 + timedelta(minutes=70):
        found.extend(eng.tick(now))
        now += MIN
    kinds = [f.kind for f in found]
    assert "long_inactivity" not in kinds and kinds[0] == "agent_offline"
    assert any(f.evidence.get("possible_inactivity") for f in found)


def test_a_silent_sensor_and_a_low_battery_are_warnings() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(4):
        routine_day(m, day0 + timedelta(days=d))
    # The kitchen PIR dies: the resident keeps moving elsewhere.
    kinds: list[str] = []
    t = (day0 + timedelta(days=4, hours=7)).timestamp()
    for i in range(200):
        now = t + i * 360
        kinds += [f.kind for f in m.tick_at(now)]
        kinds += [f.kind for f in m.observe_at(now, "pir_living", "motion", 1, "living", battery=50)]
    assert "sensor_silent" in kinds
    low = m.observe_at(t + 200 * 360, "pir_living", "motion", 1, "living", battery=9)
    assert [f.kind for f in low] == ["low_battery"]


def test_learning_a_resident_who_naps_raises_their_limit_and_confidence() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    ctx = 4 * 12 + 0  # 12-15h slot; the first room seen is the bedroom (index 0)
    m.observe_at(day0.timestamp(), "pir_bedroom", "motion", 1, "bedroom")
    living = m._room("living")
    ctx = 4 * 12 + living
    before = m.limit_cache[ctx]
    first_days: list[str] = []
    for d in range(21):
        kinds = routine_day(m, day0 + timedelta(days=d), afternoon_nap_h=3.5)
        if d < 3:
            first_days += kinds
    after = m.limit_cache[ctx]
    assert before == 180 * 60 and after > 3.5 * 3600  # the prior flagged a 3.5 h nap; the learned limit does not
    assert "long_inactivity" in first_days
    assert m.confidence() > 0.7 and m.days_learned == 20
    late = routine_day(m, day0 + timedelta(days=21), afternoon_nap_h=3.5)
    assert "long_inactivity" not in late
    s = m.summary()
    assert s["usual_wake"].startswith("07:") and s["usual_bed"].startswith("2")


def test_operator_floor_and_ceiling_clip_learned_limits() -> None:
    m = monitor(Options(tz=TZ, limits=HomeLimits(inactivity_floor_min=90, inactivity_ceiling_day_min=100)))
    m._room("bathroom")
    m._room("living")
    m._refresh_limits()
    day_slots = [m.limit_cache[s * 12 + r] for s in (3, 4, 5) for r in (0, 1)]
    assert all(90 * 60 <= v <= 100 * 60 for v in day_slots)


def test_feedback_false_alarm_loosens_and_needed_help_tightens_that_home() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_bath", "motion", 1, "bathroom"))
    assert eng.tick(T0 + timedelta(minutes=61)) == []
    (f,) = eng.tick(T0 + timedelta(minutes=63))
    m = eng.homes[HOME]
    ctx = m._ctx(T0.timestamp(), m.last_room)
    before = m.limit_cache[ctx]
    fb = Feedback(
        home=HOME,
        alert_id=1,
        kind="long_inactivity",
        finding_ids=[f.id],
        since=f.since,
        outcome="false_alarm",
        ts=T0 + timedelta(hours=2),
    )
    eng.feedback(fb)
    loosened = m.limit_cache[ctx]
    assert loosened > before * 1.5  # the kind and the place of that alarm both loosen
    other = eng.monitor("h-bbbbbb")
    assert other.scale == {}  # another home is untouched
    eng.feedback(fb.model_copy(update={"outcome": "needed_help"}))
    assert m.limit_cache[ctx] < loosened
    eng.feedback(fb.model_copy(update={"outcome": "device_fault"}))
    assert m.scale["long_inactivity"] == m.scale["long_inactivity"]


def test_a_replayed_backlog_raises_no_inactivity_while_it_drains() -> None:
    eng, ev = _engine(), Agent()
    wall = T0 + timedelta(hours=6)
    eng.observe(ev(T0, "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(seconds=5)) == []
    eng.observe(ev(wall - timedelta(seconds=30), "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(minutes=5)) == []


def test_a_checkpoint_resumes_the_same_state_and_stays_small() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(30):
        routine_day(m, day0 + timedelta(days=d))
    blob = freeze(m)
    assert len(blob) <= 32 * 1024
    copy = thaw(blob)
    assert copy.summary() == m.summary() and copy.limit_cache == m.limit_cache
    nxt = day0 + timedelta(days=30)
    assert routine_day(copy, nxt) == routine_day(m, nxt)


def test_a_silent_motion_sensor_holds_inactivity_to_the_ceiling() -> None:
    m = monitor(Options(tz=TZ, limits=HomeLimits(inactivity_ceiling_day_min=240)))
    t0 = datetime(2026, 11, 1, 10, tzinfo=TZ).timestamp()
    m.observe_at(t0, "pir_bedroom", "motion", 1, "bedroom")
    m.observe_at(t0 + 60, "pir_kitchen", "motion", 1, "kitchen")
    m.sensors["pir_bedroom"][5] = True  # reported silent: the resident may be in the bedroom, unseen
    kinds = []
    t = t0 + 120
    while t < t0 + 4 * 3600:
        kinds += [f.kind for f in m.tick_at(t)]
        t += 60
    assert kinds == []
    t += 300
    found = m.tick_at(t) + m.tick_at(t + 180)
    assert [f.kind for f in found] == ["long_inactivity"] and found[0].evidence["silent_sensors"] == "pir_bedroom"


def test_night_stillness_out_of_bed_waits_for_morning_once_this_home_misses_returns() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(3):
        routine_day(m, day0 + timedelta(days=d))
    night = day0 + timedelta(days=3, hours=2)

    def advance(to: float) -> list[str]:
        kinds: list[str] = []
        while m.next_check <= to:
            kinds += [f.kind for f in m.tick_at(m.next_check)]
        return kinds

    def visit_bathroom(at: datetime) -> list[str]:
        t = at.timestamp()
        kinds = advance(t)
        assert m.asleep
        m.observe_at(t, "pir_bedroom", "motion", 1, "bedroom")
        m.observe_at(t + 60, "pir_bathroom", "motion", 1, "bathroom")
        return kinds

    visit_bathroom(night)  # and back to bed, unseen: the bedroom PIR missed the return
    first = [f.kind for f in m.tick_at(night.timestamp() + 2 * 3600) + m.tick_at(night.timestamp() + 2 * 3600 + 180)]
    assert first == ["long_inactivity"]  # the first time, a night fall is the safer reading
    m.observe_at((night + timedelta(hours=5)).timestamp(), "pir_bedroom", "motion", 1, "bedroom")
    for d in (4, 5):
        routine_day(m, day0 + timedelta(days=d))
        visit_bathroom(day0 + timedelta(days=d + 1, hours=2))
        later = [m.tick_at((day0 + timedelta(days=d + 1, hours=h)).timestamp()) for h in (3, 4, 5)]
        assert not any(later)  # now this home's stillness out of bed at night waits for its late wake time
        m.observe_at((day0 + timedelta(days=d + 1, hours=6)).timestamp(), "pir_bedroom", "motion", 1, "bedroom")


def _mat_day(m: HomeMonitor, midnight: datetime, *, fall_on_getting_up: bool = False) -> list[str]:
    """One day of a home with a bed mat: out of bed at 07:00, dressing in the bedroom, the day, in bed at 22:00."""
    kinds: list[str] = []

    def at(h: float, sensor: str, kind: str, value: int, room: str) -> None:
        t = (midnight + timedelta(hours=h)).timestamp()
        while m.next_check <= t:
            kinds.extend(f.kind for f in m.tick_at(m.next_check))
        kinds.extend(f.kind for f in m.observe_at(t, sensor, kind, value, room))

    at(7.0, "bed_mat", "pressure", 0, "bedroom")
    at(7.0 + 5 / 3600, "pir_bedroom", "motion", 1, "bedroom")
    if fall_on_getting_up:
        at(12.0, "pir_kitchen", "motion", 1, "kitchen")  # the clock runs on to noon with nobody moving
        return kinds
    h = 7.025
    while h < 7.3:  # dressing: the bedroom PIR every minute and a half
        at(h, "pir_bedroom", "motion", 1, "bedroom")
        h += 0.025
    rooms = ("bathroom", "kitchen", "living", "kitchen")
    i = 0
    while h < 22.0:
        at(h, f"pir_{rooms[i % 4]}", "motion", 1, rooms[i % 4])
        i += 1
        h += 0.1
    at(22.0, "pir_bedroom", "motion", 1, "bedroom")
    at(22.01, "bed_mat", "pressure", 1, "bedroom")
    for h in (1.0, 4.0):  # turning over in bed
        at(24 + h, "pir_bedroom", "motion", 1, "bedroom")
    return kinds


def test_a_fall_right_after_leaving_a_bed_with_a_mat_is_found_within_half_an_hour() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    m.observe_at((day0 - timedelta(hours=2)).timestamp(), "bed_mat", "pressure", 1, "bedroom")
    learned = [_mat_day(m, day0 + timedelta(days=d)) for d in range(21)]
    assert not [k for day in learned[7:] for k in day if k != "low_battery"]  # nights in bed are sleep
    fall = day0 + timedelta(days=21, hours=7)
    found: list[tuple[str, datetime]] = []
    t = fall.timestamp()
    m.observe_at(t, "bed_mat", "pressure", 0, "bedroom")
    m.observe_at(t + 5, "pir_bedroom", "motion", 1, "bedroom")
    while t < (fall + timedelta(hours=2)).timestamp():
        t = max(m.next_check, t + 1)
        found += [(f.kind, f.ts) for f in m.tick_at(t)]
    assert found and found[0][0] == "long_inactivity"
    assert found[0][1] - fall <= timedelta(minutes=30)
    assert not m.asleep or m.in_bed is False


def test_a_stray_trigger_elsewhere_while_the_mat_is_pressed_is_still_sleep() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    m.observe_at((day0 - timedelta(hours=2)).timestamp(), "bed_mat", "pressure", 1, "bedroom")
    for d in range(7):
        _mat_day(m, day0 + timedelta(days=d))
    night = day0 + timedelta(days=7, hours=2)
    m.observe_at(night.timestamp(), "pir_kitchen", "motion", 1, "kitchen")  # sunlight, a neighbour's cat
    kinds: list[str] = []
    t = night.timestamp()
    while t < (night + timedelta(hours=5)).timestamp():
        t = max(m.next_check, t + 1)
        kinds += [f.kind for f in m.tick_at(t)]
    assert "long_inactivity" not in kinds and m.in_bed


def test_a_still_tv_evening_is_not_an_alarm() -> None:
    import random

    m = monitor()
    r = random.Random(7)
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    kinds: list[str] = []
    for d in range(15):
        midnight = day0 + timedelta(days=d)
        routine = [(h / 10, "kitchen" if h % 2 else "bathroom") for h in range(70, 190)]
        tv, h = [], 19.0
        while h < 22.0:  # a still viewer: the living-room PIR every 2-12 minutes
            tv.append((h, "living"))
            h += r.uniform(2, 12) / 60
        for hh, room in [*routine, *tv, (22.0, "bedroom")]:
            t = (midnight + timedelta(hours=hh)).timestamp()
            while m.next_check <= t:
                kinds += [f.kind for f in m.tick_at(m.next_check)]
            kinds += [f.kind for f in m.observe_at(t, f"pir_{room}", "motion", 1, room)]
    assert "long_inactivity" not in kinds


def test_stillness_right_after_walking_in_uses_the_residents_settling_habit() -> None:
    eng = Engine(Options(tz=TZ, tuning=Tuning(entry_min_visits=8)))  # the rule is off by default
    ev = Agent()
    m = eng.monitor(HOME)
    day = datetime(2026, 11, 2, 13, 0, tzinfo=TZ)
    for d in range(14):
        t = day + timedelta(days=d)
        # Each afternoon: pottering in the kitchen (short gaps), then walking into the living room for an 80-min nap.
        for k in range(10):
            eng.observe(ev(t + k * 4 * MIN, "pir_kitchen", "motion", 1, "kitchen"))
        eng.observe(ev(t + 40 * MIN, "pir_living", "motion", 1, "living"))
        eng.observe(ev(t + 120 * MIN, "pir_living", "motion", 1, "living"))
        eng.observe(ev(t + 124 * MIN, "pir_kitchen", "motion", 1, "kitchen"))
        eng.observe(ev(t + 128 * MIN, "pir_bed", "motion", 1, "bedroom"))
    slot = 13 // 3
    kitchen = m.limit_cache[slot * 12 + m._room("kitchen")]
    assert kitchen < 60 * 60 < 85 * 60 < m.entry_cache[slot]  # the habit is the resident's, not the kitchen's
    t = day + timedelta(days=14)
    eng.observe(ev(t, "pir_living", "motion", 1, "living"))
    eng.observe(ev(t + 3 * MIN, "pir_kitchen", "motion", 1, "kitchen"))  # walked in and sat down
    assert _run(eng, t + 70 * MIN) == []
    t = day + timedelta(days=15)
    for k in range(6):  # busy in the kitchen, then sudden stillness: the kitchen's own short limit
        eng.observe(ev(t + k * 3 * MIN, "pir_kitchen", "motion", 1, "kitchen"))
    still = t + 15 * MIN
    assert _run(eng, still + timedelta(seconds=kitchen) + 5 * MIN) == ["long_inactivity"]


def _ticks_until(m: HomeMonitor, to: datetime) -> list[tuple[str, datetime]]:
    """Run every check due up to `to`; the findings with their times."""
    found: list[tuple[str, datetime]] = []
    while m.next_check <= to.timestamp():
        found += [(f.kind, f.ts) for f in m.tick_at(m.next_check)]
    return found


def test_a_whole_night_asleep_in_the_bedroom_waits_for_the_late_wake_time() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(40):
        routine_day(m, day0 + timedelta(days=d))  # to bed at 22:00, up for the toilet at 03:00
    # No toilet visit tonight: nine hours still in the bedroom, far longer than any gap learned there.
    night = day0 + timedelta(days=40)
    assert m.limit_cache[m._ctx(night.timestamp() - 7200, m.last_room)] < 9 * 3600
    assert _ticks_until(m, night + timedelta(hours=7)) == []
    assert m.asleep
    m.observe_at((night + timedelta(hours=7)).timestamp(), "pir_kitchen", "motion", 1, "kitchen")


def test_still_in_the_bedroom_long_after_the_usual_wake_time_is_a_fall_on_getting_up() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(20):
        routine_day(m, day0 + timedelta(days=d))  # up at 07:00 every day
    morning = day0 + timedelta(days=20, hours=6, minutes=55)
    assert _ticks_until(m, morning) == []
    m.observe_at(morning.timestamp(), "pir_bedroom", "motion", 1, "bedroom")  # getting up, then nothing
    found = _ticks_until(m, morning + timedelta(hours=3))
    assert found and found[0][0] == "long_inactivity"
    assert found[0][1] - morning <= timedelta(minutes=55)  # usual wake + 45 min, not the bedroom's 4-hour limit


def test_the_getting_up_check_waits_for_two_weeks_of_mornings_and_never_uses_a_bed_mat_home() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(10):
        routine_day(m, day0 + timedelta(days=d))
    morning = day0 + timedelta(days=10, hours=6, minutes=55)
    _ticks_until(m, morning)
    m.observe_at(morning.timestamp(), "pir_bedroom", "motion", 1, "bedroom")
    assert _ticks_until(m, morning + timedelta(hours=2)) == []  # ten mornings are not yet a habit
    t = morning.timestamp()
    assert m._morning_due(m._ctx(t, m.last_room), t, t) is None
    m.mat = True
    m.nobs["wake"] = 30
    assert m._morning_due(m._ctx(t, m.last_room), t, t) is None


def _kinds_until(m: HomeMonitor, to: datetime, kind: str) -> list[datetime]:
    return [ts for k, ts in _ticks_until(m, to) if k == kind]


def test_missed_morning_in_a_new_home_waits_for_a_late_risers_wake_time() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(2):
        routine_day(m, day0 + timedelta(days=d))
    morning = day0 + timedelta(days=2)
    assert _kinds_until(m, morning + timedelta(hours=11, minutes=55), "missed_morning") == []  # was 09:30
    assert _kinds_until(m, morning + timedelta(hours=12, minutes=5), "missed_morning")
    learned = monitor()
    for d in range(10):
        routine_day(learned, day0 + timedelta(days=d))
    found = _kinds_until(learned, day0 + timedelta(days=10, hours=12), "missed_morning")
    assert found and found[0] < day0 + timedelta(days=10, hours=9, minutes=30)  # ten mornings: its own time


def test_missed_morning_is_silent_once_the_resident_was_seen_up_without_a_long_run() -> None:
    day0 = datetime(2026, 11, 1, tzinfo=TZ)

    def morning(events: Sequence[tuple[float, str, str, int | str, str]]) -> list[datetime]:
        m = monitor()
        for d in range(10):
            routine_day(m, day0 + timedelta(days=d))
        day = day0 + timedelta(days=10)
        for h, sensor, kind, value, room in events:
            _ticks_until(m, day + timedelta(hours=h))
            m.observe_at((day + timedelta(hours=h)).timestamp(), sensor, kind, value, room)
        return _kinds_until(m, day + timedelta(hours=13), "missed_morning")

    toilet = [(7.5, "pir_bathroom", "motion", 1, "bathroom"), (7.55, "pir_bathroom", "motion", 1, "bathroom")]
    assert morning(toilet)  # a short toilet visit is not getting up
    assert not morning([(7.5, "pir_kitchen", "motion", 1, "kitchen"), (7.75, "pir_kitchen", "motion", 1, "kitchen")])
    door = [(7.5, "front_door", "door", "open", "entrance"), (7.52, "front_door", "door", "closed", "entrance")]
    assert not morning([*door, (7.53, "pir_living", "motion", 1, "living")])
    offline = monitor()
    for d in range(10):
        routine_day(offline, day0 + timedelta(days=d))
    offline.agent_status((day0 + timedelta(days=10, hours=5)).timestamp(), False)
    assert _kinds_until(offline, day0 + timedelta(days=10, hours=13), "missed_morning") == []  # agent_offline's


def _walk_to_bed_days(m: HomeMonitor, day0: datetime, days: int, last_room: str) -> None:
    """Days like `routine_day`, to bed between 21:30 and 22:30 straight from the living room; the last day ends with
    a movement in `last_room` at 21:50 and nothing more."""
    for d in range(days):
        midnight = day0 + timedelta(days=d)
        bed = 21.5 + (d % 5) * 0.25

        def at(h: float, room: str, midnight: datetime = midnight) -> None:
            t = (midnight + timedelta(hours=h)).timestamp()
            while m.next_check <= t:
                m.tick_at(m.next_check)
            m.observe_at(t, f"pir_{room}", "motion", 1, room)

        at(3.0, "bedroom")
        at(3.02, "bathroom")
        at(3.15, "bedroom")
        h = 7.0
        while h < bed - 0.1:
            at(h, ("kitchen", "living")[int(h * 10) % 2])
            h += 0.1
        if d == days - 1:
            at(21 + 50 / 60, last_room)
            return
        at(bed - 0.02, "living")
        at(bed, "bedroom")


def test_bedtime_stillness_in_the_room_the_resident_walks_to_bed_from_is_taken_for_sleep() -> None:
    day0 = datetime(2026, 11, 1, tzinfo=TZ)

    def evening(room: str) -> list[datetime]:
        m = monitor()
        _walk_to_bed_days(m, day0, 13, room)
        return _kinds_until(m, day0 + timedelta(days=13, hours=6), "long_inactivity")

    assert evening("kitchen")  # not on the way to bed: stillness there keeps its limit
    assert evening("living") == []  # gone to bed unseen, most likely: waits for the late wake time


def test_a_room_never_still_for_long_gets_the_floor_and_a_napping_room_a_wide_margin() -> None:
    m = monitor()
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    m.observe_at(day0.timestamp(), "pir_bedroom", "motion", 1, "bedroom")
    bath, living = m._room("bathroom"), m._room("living")
    assert m.limit_cache[3 * 12 + bath] == 30 * 60  # the population prior for a bathroom
    for d in range(21):
        routine_day(m, day0 + timedelta(days=d), afternoon_nap_h=1.5)
    assert m.limit_cache[3 * 12 + bath] == 20 * 60  # never still there for more than minutes: the operator's floor
    # Naps of 1.5 h every day: the fitted tail puts the limit well past the longest nap, not at a fixed margin.
    assert m.limit_cache[4 * 12 + living] > 1.5 * 3600 + 15 * 60


def test_the_night_does_not_lengthen_the_morning_limits() -> None:
    m = monitor()
    bed = m._room("bedroom")
    for _ in range(5):
        m.gaps.learn_one(1 * 12 + bed, 4 * 3600.0)  # long stillness in the bedroom between 03:00 and 06:00
    m._refresh_limits()
    before_morning = monitor().limit_cache[2 * 12 + bed]
    assert m.limit_cache[2 * 12 + bed] == before_morning  # 06-09h: a fall on getting up is not hidden by sleep
    assert m.limit_cache[0 * 12 + bed] > monitor().limit_cache[0 * 12 + bed]  # 00-03h learns from its neighbour


def test_a_visitor_leaving_at_night_is_no_night_exit() -> None:
    eng, ev = _engine(), Agent()
    night = datetime(2026, 11, 27, 1, 0, tzinfo=TZ)
    eng.observe(ev(night - timedelta(hours=2), "pir_bedroom", "motion", 1, "bedroom"))
    _run(eng, night)
    # Someone comes in with nobody stirring inside first (a neighbour with a key, a carer), stays, and leaves.
    eng.observe(ev(night, "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    for k in range(1, 30, 3):
        eng.observe(ev(night + timedelta(minutes=k), "pir_bedroom", "motion", 1, "bedroom"))
    left = night + timedelta(minutes=31)
    eng.observe(ev(left, "front", "door", "open", "entrance"))
    eng.observe(ev(left + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    assert "night_exit" not in _run(eng, left + timedelta(minutes=30))
    # The resident's own exit, getting up after two hours' stillness and walking to the door, is still one.
    eng2 = _engine()
    eng2.observe(ev(night - timedelta(hours=2), "pir_bedroom", "motion", 1, "bedroom"))
    _run(eng2, night)
    eng2.observe(ev(night - timedelta(seconds=40), "pir_bedroom", "motion", 1, "bedroom"))
    eng2.observe(ev(night, "front", "door", "open", "entrance"))
    eng2.observe(ev(night + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    assert "night_exit" in _run(eng2, night + timedelta(minutes=30))


def test_a_lone_trigger_just_after_the_front_door_closed_does_not_keep_the_resident_home() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=30), "front", "door", "closed", "entrance"))
    eng.observe(ev(T0 + timedelta(minutes=3), "pir_bath", "motion", 1, "bathroom"))  # sunlight on a PIR
    assert _run(eng, T0 + timedelta(hours=3)) == []
    assert eng.homes[HOME].presence is Presence.AWAY
    # Two triggers after the door closed: the resident only saw someone out, and stayed.
    eng2 = _engine()
    eng2.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng2.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    eng2.observe(ev(T0 + timedelta(seconds=30), "front", "door", "closed", "entrance"))
    eng2.observe(ev(T0 + timedelta(minutes=1), "pir_living", "motion", 1, "living"))
    eng2.observe(ev(T0 + timedelta(minutes=2), "pir_living", "motion", 1, "living"))
    assert _run(eng2, T0 + timedelta(hours=4)) == ["long_inactivity"]
    assert eng2.homes[HOME].presence is Presence.HOME


def test_a_bed_mat_silent_since_morning_is_not_believed_at_night() -> None:
    def night(mat_last_h: float) -> list[str]:
        eng, ev = _engine(), Agent()
        day = datetime(2026, 11, 26, tzinfo=TZ)
        eng.observe(ev(day + timedelta(hours=6), "bed_mat", "pressure", 1, "bedroom"))
        eng.observe(ev(day + timedelta(hours=mat_last_h), "bed_mat", "pressure", 0, "bedroom"))
        eng.observe(ev(day + timedelta(hours=mat_last_h, seconds=30), "pir_bedroom", "motion", 1, "bedroom"))
        eng.observe(ev(day + timedelta(hours=21, minutes=50), "pir_bedroom", "motion", 1, "bedroom"))
        return _run(eng, day + timedelta(hours=29))

    # Out of bed at 07:00 and not a word from the mat since: at bedtime, stillness in the bedroom is sleep.
    assert "long_inactivity" not in night(7.0)
    # Out of bed at 21:45, then still on the bedroom floor: the mat is believed, and that is a fall.
    assert "long_inactivity" in night(21.75)
