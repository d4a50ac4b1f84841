"""Strays: a lone PIR trigger away from where the resident was is held apart until what follows settles it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from anomaly.detectors.inactivity import Inactivity
from anomaly.engine import HomeMonitor
from anomaly.limits import Tuning

DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
NIGHT_GAPS = (15, 45, 30)  # minutes between bedroom blips while asleep: a 45-minute still spell every night


class Home:
    """A monitor fed by hand (one PIR per room, 10-s hold), ticked as the service would tick it."""

    def __init__(self) -> None:
        self.m = HomeMonitor("h-strays00001", UTC)
        self.found: list[tuple[str, datetime, str]] = []

    def until(self, at: datetime) -> None:
        """Run every check due up to `at`."""
        while self.m.next_check <= at.timestamp():
            self.found += [(f.kind, f.ts, str(f.evidence.get("moment", ""))) for f in self.m.tick_at(self.m.next_check)]

    def pir(self, at: datetime, room: str) -> None:
        """A PIR pulse: `1`, and `0` when its hold ends."""
        t = at.timestamp()
        self.until(at)
        for value, dt in ((1, 0.0), (0, 10.0)):
            found = self.m.observe_at(t + dt, f"pir_{room}", "motion", value, room)
            self.found += [(f.kind, f.ts, str(f.evidence.get("moment", ""))) for f in found]

    def day(self, day: datetime, stop: float = 31.0) -> None:
        """Up at 07:00, about the flat every 6 min until 22:00; asleep with bedroom blips; water at 03:00.

        The night ends at 07:00, or at hour `stop` after that midnight (up to 31): the night an incident happens on.
        """
        t = day + timedelta(hours=7)
        i = 0
        while t < day + timedelta(hours=22):
            self.pir(t, ("kitchen", "living", "bathroom", "living")[i % 4])
            t, i = t + timedelta(minutes=6), i + 1
        t = day + timedelta(hours=22)
        while t < day + timedelta(hours=stop):
            if day + timedelta(hours=27) <= t < day + timedelta(hours=27, minutes=45):
                # Up for a glass of water: seen leaving the bedroom, in the kitchen, and back within minutes.
                for k, room in enumerate(("bedroom", "living", "kitchen", "kitchen", "living", "bedroom")):
                    self.pir(day + timedelta(hours=27, seconds=40 * k), room)
                t = day + timedelta(hours=27, minutes=45)
                continue
            self.pir(t, "bedroom")
            t += timedelta(minutes=NIGHT_GAPS[i % 3])
            i += 1

    def alarms(self, after: datetime) -> list[tuple[datetime, str]]:
        """long_inactivity findings raised after `after`: when, and the moment the silence began after."""
        return [(ts, moment) for kind, ts, moment in self.found if kind == "long_inactivity" and ts > after]


def _learned(days: int = 14) -> Home:
    """A home after `days` of the same routine, and the next night until 00:55."""
    h = Home()
    for d in range(days):
        h.day(DAY0 + timedelta(days=d))
    h.day(DAY0 + timedelta(days=days), stop=24.9)
    return h


def _one_am(h: Home, *pulses: tuple[int, str]) -> datetime:
    """The learned home's next night: the bedroom PIR at 01:00, then `pulses` (minutes after, room); 01:00."""
    one = DAY0 + timedelta(days=15, hours=1)
    h.pir(one, "bedroom")
    for minutes, room in pulses:
        h.pir(one + timedelta(minutes=minutes), room)
    return one


def test_a_lone_trigger_in_another_room_while_asleep_is_a_stray_not_a_fall() -> None:
    # Our simulator's PIRs fire on their own a few times a week. A kitchen PIR at 01:12 while the resident slept, with
    # nobody seen leaving the bedroom, was taken as "the kitchen at night", whose silences end within minutes as the
    # resident walks back to bed: it raised long_inactivity at 01:32.
    h = _learned()
    one = _one_am(h, (12, "kitchen"), (40, "bedroom"))  # nobody walked there; 40 min of sleep: an ordinary night
    assert h.alarms(one - timedelta(hours=1)) == []
    assert h.m.idle.ctx is not None and h.m.idle.ctx.sensor == "pir_bedroom"


def test_a_second_movement_soon_after_confirms_a_lone_trigger_as_the_resident() -> None:
    # The resident did walk to the kitchen unseen this time, moved there again, and fell: judged as the kitchen.
    h = _learned()
    one = _one_am(h, (12, "kitchen"), (14, "kitchen"))
    h.until(one + timedelta(hours=2))
    ((ts, moment),) = h.alarms(one - timedelta(hours=1))
    assert moment == "pir_kitchen=0 00-06h"
    assert ts - (one + timedelta(minutes=14)) < timedelta(minutes=25)  # the floor, not sleep's limits


def test_a_lone_trigger_that_is_the_residents_last_of_the_day_is_judged_there_too() -> None:
    # Every evening: the kitchen at 21:40, the living room and the bedroom at 21:41, then nothing all night (the
    # resident sleeps still). One evening the walk to bed goes unseen: the bedroom PIR's one trigger at 21:55 is a stray
    # until the morning settles it. Meanwhile the night is judged both ways; by the kitchen's evening silences alone it
    # was an alarm at 22:00.
    h = Home()
    for d in range(15):
        day = DAY0 + timedelta(days=d)
        t = day + timedelta(hours=7)
        while t < day + timedelta(hours=21, minutes=40):
            h.pir(t, ("kitchen", "living")[int((t - day).total_seconds() // 360) % 2])
            t += timedelta(minutes=6)
        h.pir(day + timedelta(hours=21, minutes=40), "kitchen")
        if d < 14:
            h.pir(day + timedelta(hours=21, minutes=41), "living")
            h.pir(day + timedelta(hours=21, minutes=41, seconds=20), "bedroom")
        else:
            h.pir(day + timedelta(hours=21, minutes=55), "bedroom")
    h.until(DAY0 + timedelta(days=15, hours=6, minutes=59))
    assert h.alarms(DAY0 + timedelta(days=3)) == []
    assert h.m.idle.stray is not None and h.m.idle.stray.place == "bedroom"


def test_a_lone_trigger_where_the_resident_was_is_taken_at_its_word() -> None:
    # After a long quiet the bedroom PIR fires again: that is the resident, wherever any stray fired in between.
    h = _learned()
    one = _one_am(h, (12, "kitchen"), (30, "bedroom"))
    assert h.m.idle.stray is None and h.m.idle.last == (one + timedelta(minutes=30, seconds=10)).timestamp()


def test_an_inactivity_checkpointed_before_strays_were_kept_takes_the_next_trigger_at_its_word() -> None:
    old = Inactivity(Tuning())
    del old.stirred, old.stray  # what a checkpoint written before the fields existed holds
    back = pickle.loads(pickle.dumps(old))
    assert back.stirred is None and back.stray is None
