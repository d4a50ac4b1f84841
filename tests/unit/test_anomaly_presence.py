"""The engine's detectors other than stillness: panic, presence and the front door, night exits, visitors, devices,
replayed backlogs, mornings and sleep state (stillness: test_anomaly_engine.py; doors out and night outings at
night: test_anomaly_doors.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from anomaly.engine import Engine, HomeLimits, HomeMonitor, Options, Presence, room_class
from anomaly.store import freeze, thaw
from tests.support.anomaly_fixtures import HOME, TZ, Agent, engine, monitor, routine_day, run_ticks

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
MIN = timedelta(minutes=1)


def _walk_out(eng: Engine, ev: Agent) -> None:
    """Through the entrance at T0 and out of the front door, closed behind at T0 + 30 s."""
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=30), "front", "door", "closed", "entrance"))


def test_panic_is_a_critical_finding_at_once() -> None:
    ev = Agent()
    (f,) = engine().observe(ev(T0, "panic", "button", "press", "bedroom"))
    assert (f.kind, f.severity, f.home, f.since) == ("panic", "critical", HOME, T0)


def test_away_after_the_front_door_raises_nothing_and_a_return_is_home() -> None:
    eng, ev = engine(), Agent()
    _walk_out(eng, ev)
    assert run_ticks(eng, T0 + timedelta(hours=6)) == []
    assert eng.homes[HOME].presence is Presence.AWAY
    eng.observe(ev(T0 + timedelta(hours=6), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(hours=6, seconds=20), "pir_living", "motion", 1, "living"))
    assert eng.homes[HOME].presence is Presence.HOME


def test_a_lone_trigger_while_away_is_no_return_but_two_without_the_door_are() -> None:
    eng, ev = engine(), Agent()
    _walk_out(eng, ev)
    assert run_ticks(eng, T0 + timedelta(hours=1)) == []
    m = eng.homes[HOME]
    eng.observe(ev(T0 + timedelta(hours=1), "pir_bath", "motion", 1, "bathroom"))  # a PIR's false trigger
    assert m.presence is Presence.AWAY
    assert run_ticks(eng, T0 + timedelta(hours=6)) == []  # no "inactivity" after a trigger nobody made
    back = T0 + timedelta(hours=6)
    eng.observe(ev(back, "pir_living", "motion", 1, "living"))
    eng.observe(ev(back + timedelta(minutes=3), "pir_kitchen", "motion", 1, "kitchen"))  # the door sensor missed
    assert eng.homes[HOME].presence is Presence.HOME and m.where.last_room == m.kit.room("kitchen")


def test_door_left_open_is_a_warning() -> None:
    eng, ev = engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front", "door", "open", "entrance"))
    kinds = run_ticks(eng, T0 + timedelta(minutes=25))
    assert kinds == ["door_left_open"]


def test_a_night_exit_is_critical_within_minutes_and_a_day_exit_is_not() -> None:
    eng, ev = engine(), Agent()
    night = datetime(2026, 11, 27, 2, 0, tzinfo=TZ)
    eng.observe(ev(night, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(night + timedelta(seconds=10), "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=25), "front", "door", "closed", "entrance"))
    found = run_ticks(eng, night + timedelta(minutes=10))
    assert found == ["night_exit"]
    day, eng2 = T0, engine()
    eng2.observe(ev(day, "pir_entrance", "motion", 1, "entrance"))
    eng2.observe(ev(day + timedelta(seconds=10), "front", "door", "open", "entrance"))
    eng2.observe(ev(day + timedelta(seconds=25), "front", "door", "closed", "entrance"))
    assert run_ticks(eng2, day + timedelta(minutes=30)) == []


def test_a_night_door_followed_by_movement_inside_is_no_exit() -> None:
    eng, ev = engine(), Agent()
    night = datetime(2026, 11, 27, 2, 0, tzinfo=TZ)
    eng.observe(ev(night, "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=20), "front", "door", "closed", "entrance"))
    eng.observe(ev(night + timedelta(minutes=2), "pir_kitchen", "motion", 1, "kitchen"))
    eng.observe(ev(night + timedelta(minutes=3), "pir_kitchen", "motion", 1, "kitchen"))
    assert "night_exit" not in run_ticks(eng, night + timedelta(minutes=30))
    # One trigger alone after the door closed may be a PIR's false one: the resident may still be out.
    eng2 = engine()
    eng2.observe(ev(night - timedelta(seconds=30), "pir_entrance", "motion", 1, "entrance"))
    eng2.observe(ev(night, "front", "door", "open", "entrance"))
    eng2.observe(ev(night + timedelta(seconds=20), "front", "door", "closed", "entrance"))
    eng2.observe(ev(night + timedelta(minutes=2), "pir_kitchen", "motion", 1, "kitchen"))
    assert "night_exit" in run_ticks(eng2, night + timedelta(minutes=30))


def test_a_visitor_leaving_at_night_is_no_night_exit() -> None:
    eng, ev = engine(), Agent()
    night = datetime(2026, 11, 27, 1, 0, tzinfo=TZ)
    eng.observe(ev(night - timedelta(hours=2), "pir_bedroom", "motion", 1, "bedroom"))
    run_ticks(eng, night)
    # Someone comes in with nobody stirring inside first (a neighbour with a key, a carer), stays, and leaves.
    eng.observe(ev(night, "front", "door", "open", "entrance"))
    eng.observe(ev(night + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    for k in range(1, 30, 3):
        eng.observe(ev(night + timedelta(minutes=k), "pir_bedroom", "motion", 1, "bedroom"))
    left = night + timedelta(minutes=31)
    eng.observe(ev(left, "front", "door", "open", "entrance"))
    eng.observe(ev(left + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    assert "night_exit" not in run_ticks(eng, left + timedelta(minutes=30))
    # The resident's own exit, getting up after two hours' stillness and walking to the door, is still one.
    eng2 = engine()
    eng2.observe(ev(night - timedelta(hours=2), "pir_bedroom", "motion", 1, "bedroom"))
    run_ticks(eng2, night)
    eng2.observe(ev(night - timedelta(seconds=40), "pir_bedroom", "motion", 1, "bedroom"))
    eng2.observe(ev(night, "front", "door", "open", "entrance"))
    eng2.observe(ev(night + timedelta(seconds=15), "front", "door", "closed", "entrance"))
    assert "night_exit" in run_ticks(eng2, night + timedelta(minutes=30))


def test_a_lone_trigger_just_after_the_front_door_closed_does_not_keep_the_resident_home() -> None:
    eng, ev = engine(), Agent()
    _walk_out(eng, ev)
    eng.observe(ev(T0 + timedelta(minutes=3), "pir_bath", "motion", 1, "bathroom"))  # sunlight on a PIR
    assert run_ticks(eng, T0 + timedelta(hours=3)) == []
    assert eng.homes[HOME].presence is Presence.AWAY
    # Two triggers after the door closed: the resident only saw someone out, and stayed.
    eng2 = engine()
    _walk_out(eng2, ev)
    eng2.observe(ev(T0 + timedelta(minutes=1), "pir_living", "motion", 1, "living"))
    eng2.observe(ev(T0 + timedelta(minutes=2), "pir_living", "motion", 1, "living"))
    assert run_ticks(eng2, T0 + timedelta(hours=4)) == ["long_inactivity"]
    assert eng2.homes[HOME].presence is Presence.HOME


def test_a_mat_pressed_just_after_the_front_door_closed_is_someone_sitting_down_at_home() -> None:
    # Ordonez A: up from the seat, the door opened and closed (someone let out), and back on the seat for hours.
    eng, ev = engine(), Agent()
    eng.observe(ev(T0, "seat", "pressure", 0, "living"))
    eng.observe(ev(T0 + timedelta(seconds=8), "front", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=26), "front", "door", "closed", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=34), "seat", "pressure", 1, "living"))  # no sunlight presses a mat
    run_ticks(eng, T0 + timedelta(hours=3))
    assert eng.homes[HOME].presence is Presence.HOME
    # Up from the seat at last, and nothing after: a fall on getting up, judged at home, not an empty home.
    up = T0 + timedelta(hours=3)
    eng.observe(ev(up, "seat", "pressure", 0, "living"))
    assert run_ticks(eng, up + timedelta(hours=6)) == ["long_inactivity"]
    # A press delivered late, from before the door closed, says nothing of after: she went out.
    eng2 = engine()
    _walk_out(eng2, ev)
    eng2.observe(ev(T0 - timedelta(minutes=5), "seat", "pressure", 1, "living"))  # queued on the agent
    run_ticks(eng2, T0 + timedelta(hours=2))
    assert eng2.homes[HOME].presence is Presence.AWAY


def test_an_offline_agent_is_a_device_problem_not_a_fall() -> None:
    eng, ev = engine(), Agent()
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
    eng, ev = engine(), Agent()
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


# Stillness alarms out of the way: one raised first (the night's 12-h ceiling at 10:00) makes a missed morning the
# same quiet episode's second alert, which is not raised (test_anomaly_mornings.py).
NO_STILLNESS = Options(
    tz=TZ, limits=HomeLimits(inactivity_floor_min=900, inactivity_ceiling_day_min=900, inactivity_ceiling_night_min=900)
)


def test_missed_morning_in_a_new_home_waits_for_a_late_risers_wake_time() -> None:
    m = monitor(NO_STILLNESS)
    day0 = datetime(2026, 11, 1, tzinfo=TZ)
    for d in range(2):
        routine_day(m, day0 + timedelta(days=d))
    morning = day0 + timedelta(days=2)
    assert _kinds_until(m, morning + timedelta(hours=11, minutes=55), "missed_morning") == []  # was 09:30
    assert _kinds_until(m, morning + timedelta(hours=12, minutes=5), "missed_morning")
    learned = monitor(NO_STILLNESS)
    for d in range(10):
        routine_day(learned, day0 + timedelta(days=d))
    found = _kinds_until(learned, day0 + timedelta(days=10, hours=12), "missed_morning")
    assert found and found[0] < day0 + timedelta(days=10, hours=9, minutes=30)  # ten mornings: its own time


def test_missed_morning_is_silent_once_the_resident_was_seen_up_without_a_long_run() -> None:
    day0 = datetime(2026, 11, 1, tzinfo=TZ)

    def morning(events: Sequence[tuple[float, str, str, int | str, str]]) -> list[datetime]:
        m = monitor(NO_STILLNESS)
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
        eng, ev = engine(), Agent()
        day = datetime(2026, 11, 26, tzinfo=TZ)
        eng.observe(ev(day + timedelta(hours=1), "bed_mat", "pressure", 1, "bedroom"))  # in bed since 01:00
        eng.observe(ev(day + timedelta(hours=mat_last_h), "bed_mat", "pressure", 0, "bedroom"))
        eng.observe(ev(day + timedelta(hours=mat_last_h, seconds=30), "pir_bedroom", "motion", 1, "bedroom"))
        eng.observe(ev(day + timedelta(hours=21, minutes=50), "pir_bedroom", "motion", 1, "bedroom"))
        run_ticks(eng, day + timedelta(hours=24))
        return eng.homes[HOME].asleep

    # Out of bed at 07:00 and not a word from the mat since: at bedtime, stillness in the bedroom is sleep.
    assert asleep_at_midnight(7.0)
    # Out of bed at 21:45, then still in the bedroom: the mat is believed, the bed is empty, that is no sleep.
    assert not asleep_at_midnight(21.75)


def test_a_rooms_class_is_read_from_its_name_in_the_recordings_language() -> None:
    # Sleep is read only in a sleeping room (`SLEEP_ROOMS`): a bedroom the engine cannot name is a room where every
    # night is a long silence out of bed. (A replayed recording keeps its own room names.)
    names = {
        "bedroom": ("Bedroom 2", "卧室", "主卧", "睡房", "寝室", "Schlafzimmer", "slaapkamer", "chambre", "dormitorio"),
        "bathroom": ("卫生间", "浴室", "厕所", "洗手间", "Badezimmer", "badkamer", "baño", "salle de bain"),
        "kitchen": ("厨房", "Küche", "keuken", "cocina", "cuisine"),
        "living": ("客厅", "餐厅", "Wohnzimmer", "woonkamer", "salon"),
        "hall": ("玄关", "门厅", "走廊", "Flur", "pasillo", "entrée", "Hallway"),
        "other": ("书房", "阳台", "study"),
    }
    assert {cls: {room_class(n) for n in ns} for cls, ns in names.items()} == {cls: {cls} for cls in names}
    assert {room_class(n) for n in ("urbano", "书房门", "阳台门")} == {"other"}
    # A checkpoint keeps the classes of its time: a home restored reads its rooms by today's words.
    m = monitor()
    m.observe_at(T0.timestamp(), "pir_s", "motion", 1, "schlafzimmer")
    m.kit.sleepy = [False] * len(m.kit.rooms)  # (as an engine before these words classified it)
    assert thaw(freeze(m)).kit.is_sleepy(m.kit.room("schlafzimmer"))
