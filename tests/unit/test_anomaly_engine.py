"""Minimal detection: panic at once; inactivity at home past a fixed limit, not while away or asleep."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.engine import Engine, NightRule, Presence
from contracts import SensorEvent

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
HOME = "h-aaaaaa"


class Agent:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, ts: datetime, sensor: str, kind: str, value: int | str, room: str) -> SensorEvent:
        self.seq += 1
        return SensorEvent(
            home=HOME, agent="pi-1", seq=self.seq, ts=ts, sensor=sensor, kind=kind, value=value, room=room
        )


def _engine() -> Engine:
    night = NightRule(timedelta(hours=10), 21, 9, TZ)
    return Engine(timedelta(hours=2), timedelta(minutes=10), night)


def test_panic_is_a_critical_finding_at_once() -> None:
    ev = Agent()
    (f,) = _engine().observe(ev(T0, "panic", "button", "press", "bedroom"))
    assert (f.kind, f.severity, f.home, f.since) == ("panic", "critical", HOME, T0)


def test_inactivity_at_home_once_per_stillness() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_kitchen", "motion", 1, "kitchen"))
    assert eng.tick(T0 + timedelta(hours=1, minutes=59)) == []
    (f,) = eng.tick(T0 + timedelta(hours=2, minutes=1))
    assert f.kind == "long_inactivity" and f.since == T0 and f.evidence["room"] == "kitchen"
    assert eng.tick(T0 + timedelta(hours=3)) == []  # not again for the same stillness
    eng.observe(ev(T0 + timedelta(hours=4), "pir_kitchen", "motion", 1, "kitchen"))
    assert len(eng.tick(T0 + timedelta(hours=6, minutes=1))) == 1


def test_away_after_door_raises_nothing() -> None:
    eng, ev = _engine(), Agent()
    eng.observe(ev(T0, "pir_entrance", "motion", 1, "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=20), "front_door", "door", "open", "entrance"))
    eng.observe(ev(T0 + timedelta(seconds=30), "front_door", "door", "closed", "entrance"))
    assert eng.tick(T0 + timedelta(minutes=15)) == []
    assert eng.homes[HOME].presence is Presence.AWAY
    assert eng.tick(T0 + timedelta(hours=5)) == []
    eng.observe(ev(T0 + timedelta(hours=5), "pir_entrance", "motion", 1, "entrance"))
    assert eng.homes[HOME].presence is Presence.HOME


def test_sleep_gets_the_night_limit() -> None:
    eng, ev = _engine(), Agent()
    bedtime = datetime(2026, 11, 26, 22, 30, tzinfo=TZ)
    eng.observe(ev(bedtime, "pir_bedroom", "motion", 1, "bedroom"))
    assert eng.tick(bedtime + timedelta(hours=8)) == []
    assert len(eng.tick(bedtime + timedelta(hours=10, minutes=1))) == 1


def test_a_replayed_backlog_raises_no_inactivity_while_it_drains() -> None:
    eng, ev = _engine(), Agent()
    wall = T0 + timedelta(hours=6)
    eng.observe(ev(T0, "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(seconds=5)) == []  # more of the backlog may still be on its way
    eng.observe(ev(wall - timedelta(seconds=30), "pir_kitchen", "motion", 1, "kitchen"), received=wall)
    assert eng.tick(wall + timedelta(minutes=5)) == []
    assert len(eng.tick(wall + timedelta(hours=2, minutes=1))) == 1
