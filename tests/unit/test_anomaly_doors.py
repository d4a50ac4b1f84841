"""Doors out in the engine: a door in the small hours, night outings learned, back doors, inner doors never taken
for the way out, doors delivered out of order, checkpoints from before doors out were kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from anomaly.engine import Engine, Presence
from anomaly.replay import ReplayResult
from tests.support.anomaly_fixtures import HOME, TZ, Agent, engine, monitor, run_ticks

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
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
                found += run_ticks(eng, at - timedelta(seconds=1))
            eng.observe(ev(at, sensor, kind, value, room))
        found += run_ticks(eng, day + timedelta(hours=24 + up_h - 0.02))
    return found


def _door_at(eng: Engine, ev: Agent, up: datetime, out: datetime) -> list[str]:
    """The resident about from `up` until `out`, then out through the front door and not back within half an hour."""
    t = up
    while t < out - timedelta(minutes=5):
        eng.observe(ev(t, "pir_living", "motion", 1, "living"))
        t += timedelta(minutes=10)
    run_ticks(eng, out - timedelta(minutes=1))
    assert not eng.homes[HOME].sleep.asleep
    eng.observe(ev(out - timedelta(seconds=20), "pir_living", "motion", 1, "living"))
    eng.observe(ev(out, "front", "door", "open", "entrance"))
    eng.observe(ev(out + timedelta(seconds=7), "front", "door", "closed", "entrance"))
    return run_ticks(eng, out + timedelta(minutes=30))


def test_a_door_in_the_small_hours_is_a_night_exit_whatever_the_residents_own_night() -> None:
    # Our simulator's late riser, to bed at 03:00 most nights, went out at 01:01 and stayed out 165 min: before her
    # own night, so no night exit. In the small hours, however late the resident's night, it is one.
    eng, ev = engine(), Agent()
    _routine(eng, ev, 10, up_h=11, bed_h=27)
    day = DAY0 + timedelta(days=10)
    assert "night_exit" in _door_at(eng, ev, day + timedelta(hours=11), day + timedelta(hours=25))
    # An early riser (to bed at 20:00, up at 04:00) out at 04:50 is in the small hours; at 05:10 she is not.
    for h, exit_expected in ((4 + 50 / 60, True), (5 + 10 / 60, False)):
        eng, ev = engine(), Agent()
        _routine(eng, ev, 10, up_h=4, bed_h=20)
        day = DAY0 + timedelta(days=10)
        found = _door_at(eng, ev, day + timedelta(hours=4), day + timedelta(hours=h))
        assert ("night_exit" in found) is exit_expected, h


def test_night_walks_in_the_small_hours_are_learned_as_night_outings() -> None:
    # Out at 01:00 for 15 min every night: the first nights are night exits, then their length sets the limit (1.5 x
    # their 90th percentile, within the operator's ceiling) and they are hers.
    eng, ev = engine(), Agent()
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
    names += ["House Door", "apartment_door", "street-door"]  # (ARAS names its front door "House Door")
    inner = ["back_bedroom_door", "rear_bathroom_door", "front_room_door", "main_bedroom_door", "hall_closet", "D001"]
    inner += ["house_plant_door", "Bathroom Door", "Shower Cabinet Door"]
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


def test_a_door_in_an_entrance_by_any_of_its_names_is_the_front_door_not_the_first_door_seen() -> None:
    # The bathroom door is seen first; the door in the foyer (or entry) is the way out, as a door in "entrance" is.
    for entrance in ("entrance", "foyer", "entry"):
        eng, ev = engine(), Agent()
        eng.observe(ev(T0, "pir_bath", "motion", 1, "bathroom"))
        eng.observe(ev(T0 + timedelta(seconds=10), "bath_door", "door", "open", "bathroom"))
        eng.observe(ev(T0 + timedelta(minutes=3), "bath_door", "door", "closed", "bathroom"))
        eng.observe(ev(T0 + timedelta(minutes=5), "pir_hall", "motion", 1, entrance))
        eng.observe(ev(T0 + timedelta(minutes=5, seconds=20), "door_1", "door", "open", entrance))
        eng.observe(ev(T0 + timedelta(minutes=5, seconds=30), "door_1", "door", "closed", entrance))
        assert run_ticks(eng, T0 + timedelta(hours=6)) == [], entrance
        m = eng.homes[HOME]
        assert m.kit.front_door == "door_1" and m.presence is Presence.AWAY, entrance


def test_an_inner_door_left_open_when_the_front_door_is_found_does_not_hold_the_home_open() -> None:
    # The bathroom door, seen first, was taken for the way out and is open when the door in the entry shows which is
    # the front one. It must leave the doors out: closing later it is an inner door, and the home is not left open.
    m = monitor()
    t0 = T0.timestamp()
    m.observe_at(t0, "pir_living", "motion", 1, "living")
    m.observe_at(t0 + 60, "bath_door", "door", "open", "bathroom")
    m.observe_at(t0 + 300, "door_1", "door", "open", "entry")
    m.observe_at(t0 + 320, "door_1", "door", "closed", "entry")
    m.observe_at(t0 + 600, "bath_door", "door", "closed", "bathroom")
    found: list[str] = []
    for h in range(1, 6):
        found += [f.kind for f in m.tick_at(t0 + 600 + h * 3600 - 1)]
        found += [f.kind for f in m.observe_at(t0 + 600 + h * 3600, "pir_living", "motion", 1, "living")]
    assert m.kit.open_exits == {} and "door_left_open" not in found
