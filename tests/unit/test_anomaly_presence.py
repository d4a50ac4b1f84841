"""The engine's detectors other than stillness: panic, presence and the front door, night exits, visitors, devices,
replayed backlogs, mornings and sleep state (unchanged by the stillness model; see test_anomaly_engine.py for it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from anomaly.engine import Engine, HomeLimits, HomeMonitor, Options, Presence
from anomaly.replay import ReplayResult
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
    assert eng.homes[HOME].presence is Presence.HOME and m.where.last_room == m.kit.room("kitchen")


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


def test_a_replayed_backlog_raises_no_inactivity_while_it_drains() -> None:
    eng, ev = _engine(), Agent()
    wall = T0 + timedelta(hours=6)
    eng.observe(ev(T0, "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(seconds=5)) == []
    eng.observe(ev(wall - timedelta(seconds=30), "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(minutes=5)) == []


def _ticks_until(m: HomeMonitor, to: datetime) -> list[tuple[str, datetime]]:
    """Run every check due up to `to`; the findings with their times."""
    found: list[tuple[str, datetime]] = []
    while m.next_check <= to.timestamp():
        found += [(f.kind, f.ts) for f in m.tick_at(m.next_check)]
    return found


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
    assert "long_inactivity" not in kinds and m.where.in_bed


def test_a_bed_mat_silent_since_morning_is_not_believed_at_night() -> None:
    def asleep_at_midnight(mat_last_h: float) -> bool:
        eng, ev = _engine(), Agent()
        day = datetime(2026, 11, 26, tzinfo=TZ)
        eng.observe(ev(day + timedelta(hours=1), "bed_mat", "pressure", 1, "bedroom"))  # in bed since 01:00
        eng.observe(ev(day + timedelta(hours=mat_last_h), "bed_mat", "pressure", 0, "bedroom"))
        eng.observe(ev(day + timedelta(hours=mat_last_h, seconds=30), "pir_bedroom", "motion", 1, "bedroom"))
        eng.observe(ev(day + timedelta(hours=21, minutes=50), "pir_bedroom", "motion", 1, "bedroom"))
        _run(eng, day + timedelta(hours=24))
        return eng.homes[HOME].asleep

    # Out of bed at 07:00 and not a word from the mat since: at bedtime, stillness in the bedroom is sleep.
    assert asleep_at_midnight(7.0)
    # Out of bed at 21:45, then still in the bedroom: the mat is believed, the bed is empty, that is no sleep.
    assert not asleep_at_midnight(21.75)


DAY0 = datetime(2026, 11, 1, tzinfo=TZ)


def _routine(
    eng: Engine, ev: Agent, days: int, up_h: float, bed_h: float, out_at_h: float | None = None, out_min: float = 40.0
) -> list[str]:
    """Days up at `up_h`, about the flat every 10 min, to bed at `bed_h` (past 24: after midnight); out at `out_at_h`
    hours after each day's midnight (past 24: the night after), back `out_min` later; the findings raised."""
    found: list[str] = []
    for d in range(days):
        day = DAY0 + timedelta(days=d)
        moves = [(day + timedelta(hours=up_h), "pir_bedroom", "motion", 1, "bedroom")]
        n = int((bed_h - up_h) * 6) - 1
        moves += [
            (day + timedelta(hours=up_h, minutes=10 * k + 5), "pir_living", "motion", 1, "living") for k in range(n)
        ]
        if out_at_h is not None:
            out = day + timedelta(hours=out_at_h)
            back = out + timedelta(minutes=out_min)
            moves = [mv for mv in moves if not out - timedelta(minutes=1) <= mv[0] <= back + timedelta(minutes=1)]
            for at in (out, back):
                moves += [(at, "front", "door", "open", "entrance")]
                moves += [(at + timedelta(seconds=7), "front", "door", "closed", "entrance")]
        moves.append((day + timedelta(hours=bed_h), "pir_bedroom", "motion", 1, "bedroom"))
        for at, sensor, kind, value, room in sorted(moves, key=lambda mv: mv[0]):
            if eng.homes:
                found += _run(eng, at - timedelta(seconds=1))
            eng.observe(ev(at, sensor, kind, value, room))
        found += _run(eng, day + timedelta(hours=24 + up_h - 0.02))
    return found


def _door_at(eng: Engine, ev: Agent, up: datetime, out: datetime) -> list[str]:
    """The resident about from `up` until `out`, then out through the front door and not back within half an hour."""
    t = up
    while t < out - timedelta(minutes=5):
        eng.observe(ev(t, "pir_living", "motion", 1, "living"))
        t += timedelta(minutes=10)
    _run(eng, out - timedelta(minutes=1))
    assert not eng.homes[HOME].sleep.asleep
    eng.observe(ev(out - timedelta(seconds=20), "pir_living", "motion", 1, "living"))
    eng.observe(ev(out, "front", "door", "open", "entrance"))
    eng.observe(ev(out + timedelta(seconds=7), "front", "door", "closed", "entrance"))
    return _run(eng, out + timedelta(minutes=30))


def test_a_door_in_the_small_hours_is_a_night_exit_whatever_the_residents_own_night() -> None:
    # Our simulator's late riser, to bed at 03:00 most nights, went out at 01:01 and stayed out 165 min: before her
    # own night, so no night exit. In the small hours, however late the resident's night, it is one.
    eng, ev = _engine(), Agent()
    _routine(eng, ev, 10, up_h=11, bed_h=27)
    day = DAY0 + timedelta(days=10)
    assert "night_exit" in _door_at(eng, ev, day + timedelta(hours=11), day + timedelta(hours=25))
    # An early riser (to bed at 20:00, up at 04:00) out at 04:50 is in the small hours; at 05:10 she is not.
    for h, exit_expected in ((4 + 50 / 60, True), (5 + 10 / 60, False)):
        eng, ev = _engine(), Agent()
        _routine(eng, ev, 10, up_h=4, bed_h=20)
        day = DAY0 + timedelta(days=10)
        found = _door_at(eng, ev, day + timedelta(hours=4), day + timedelta(hours=h))
        assert ("night_exit" in found) is exit_expected, h


def test_night_walks_in_the_small_hours_are_learned_as_night_outings() -> None:
    # Out at 01:00 for 15 min every night: the first nights are night exits, then their length sets the limit (1.5 x
    # their 90th percentile, within the operator's ceiling) and they are hers.
    eng, ev = _engine(), Agent()
    found = _routine(eng, ev, 10, up_h=11, bed_h=27, out_at_h=25, out_min=15)
    assert found.count("night_exit") == 3
    assert eng.homes[HOME].where.n_night_out == 10


def _out_the_back(exits_by: str) -> tuple[list[str], Presence, str | None]:
    """Out through the back door for 6 h; back the same way, leaving it open 40 min. (findings, presence, its door)"""
    from anomaly.recording import Row
    from anomaly.replay import replay

    door = "back_door" if exits_by == "name" else "d2"
    t0, h = T0.timestamp(), 3600.0
    rows: list[Row] = [
        (t0, "front_door", "door", "open", "entrance"),  # (a visitor earlier: the front door is known)
        (t0 + 10, "front_door", "door", "closed", "entrance"),
        (t0 + 60, "pir_living", "motion", 1, "living"),
        (t0 + 120, "pir_kitchen", "motion", 1, "kitchen"),
        (t0 + 140, door, "door", "open", "kitchen"),
        (t0 + 150, door, "door", "closed", "kitchen"),
        (t0 + 6 * h, door, "door", "open", "kitchen"),
        (t0 + 6 * h + 10, "pir_kitchen", "motion", 1, "kitchen"),
        (t0 + 6 * h + 40 * 60, door, "door", "closed", "kitchen"),
        (t0 + 6 * h + 41 * 60, "pir_living", "motion", 1, "living"),
        (t0 + 6 * h + 42 * 60, "pir_kitchen", "motion", 1, "kitchen"),  # (two moves: still in, not out again)
    ]
    meta = {"d2": {"kind": "door", "room": "kitchen", "role": "exit"}} if exits_by == "role" else None
    res = replay(rows, sensors=meta, until=t0 + 7 * h, tz=TZ)
    named = [f.evidence["sensor"] for f in res.findings if f.kind == "door_left_open"]
    return [str(f.kind) for f in res.findings], res.monitor.presence, named[0] if named else None


def test_a_back_door_named_or_given_as_an_exit_is_a_way_out() -> None:
    for by in ("name", "role"):
        kinds, presence, last = _out_the_back(by)
        assert "long_inactivity" not in kinds and presence is Presence.HOME, (by, kinds)
        assert "door_left_open" in kinds and last in ("back_door", "d2"), (by, kinds)  # the door that was open
    kinds, _presence, _last = _out_the_back("neither")  # an inner door: the 6-h outing is 6 h of stillness
    assert "long_inactivity" in kinds


def _replay_doors(
    rows_in: list[tuple[float, str, str, int | str, str]], meta: dict[str, dict[str, str]] | None = None
) -> ReplayResult:
    from anomaly.replay import replay

    t0 = T0.timestamp()
    return replay([(t0 + dt, s, k, v, r) for dt, s, k, v, r in rows_in], sensors=meta, until=t0 + 8 * 3600, tz=TZ)


def test_an_inner_door_is_never_taken_for_the_way_out_when_the_doors_out_are_known() -> None:
    """A fall behind the bathroom door (6 h still) is found whether the front door is given, or a back door named."""
    fall = [(0.0, "pir_living", "motion", 1, "living"), (60.0, "bathroom_door", "door", "open", "bathroom")]
    fall += [(70.0, "bathroom_door", "door", "closed", "bathroom")]
    given = _replay_doors([(-60.0, "fd", "door", "closed", "hall"), *fall], {"fd": {"kind": "door", "role": "front"}})
    assert given.monitor.kit.front_door == "fd" and "long_inactivity" in [f.kind for f in given.findings]
    named = _replay_doors([(-60.0, "back_door", "door", "closed", "kitchen"), *fall])
    assert named.monitor.kit.front_door != "bathroom_door" and "long_inactivity" in [f.kind for f in named.findings]


def test_doors_out_by_their_whole_name() -> None:
    from anomaly.synonyms import doors_out

    names = ["back_door", "Back Door 2", "backdoor", "rear", "garage_door", "FrontDoor", "main_door", "entrance"]
    inner = ["back_bedroom_door", "rear_bathroom_door", "front_room_door", "main_bedroom_door", "hall_closet", "D001"]
    assert doors_out(dict.fromkeys(names + inner)) == names


def test_one_door_out_closing_leaves_the_other_open_and_named() -> None:
    rows: list[tuple[float, str, str, int | str, str]] = [
        (0.0, "pir_kitchen", "motion", 1, "kitchen"),
        (30.0, "back_door", "door", "open", "kitchen"),  # left open
        (60.0, "front_door", "door", "open", "entrance"),
        (70.0, "front_door", "door", "closed", "entrance"),
        (90.0, "pir_kitchen", "motion", 1, "kitchen"),
        (100.0, "pir_living", "motion", 1, "living"),
    ]
    res = _replay_doors(rows)
    (f,) = [f for f in res.findings if f.kind == "door_left_open"]
    assert f.evidence["sensor"] == "back_door" and f.since == datetime.fromtimestamp(T0.timestamp() + 30.0, TZ)


def test_a_door_open_delivered_after_its_close_does_not_leave_the_home_open() -> None:
    m = monitor()
    t0 = T0.timestamp()
    m.observe_at(t0, "pir_hall", "motion", 1, "entrance")
    m.observe_at(t0 + 20, "front", "door", "closed", "entrance", received=t0 + 20)
    m.observe_at(t0 + 10, "front", "door", "open", "entrance", received=t0 + 21)  # late, from a buffer
    assert m.where.door_open_since is None


def test_an_old_checkpoint_takes_its_doors_out_from_the_kit() -> None:
    from anomaly.roles import Kit

    kit = Kit()
    kit.set_meta({"d2": {"kind": "door", "role": "exit"}, "fd": {"kind": "door", "role": "front"}})
    state = {k: getattr(kit, k) for k in Kit.__slots__ if k not in ("exits", "open_exits")}
    old = Kit.__new__(Kit)
    old.__setstate__((None, state))
    assert old.exits == ["d2"] and old.front_door == "fd"
