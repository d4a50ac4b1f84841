"""night_wandering: a night episode still moving between rooms, not one that moved once and settled."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

from anomaly.engine import HomeMonitor
from anomaly.sleep import Sleep

DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
ROOMS = ("living", "kitchen", "bathroom", "living", "kitchen", "living", "bedroom")


class Home:
    """A monitor fed by hand (one PIR per room, 10-s hold), ticked as the service would tick it."""

    def __init__(self) -> None:
        self.m = HomeMonitor("h-wander00001", UTC)
        self.found: list[tuple[str, datetime]] = []

    def pir(self, at: datetime, room: str) -> None:
        t = at.timestamp()
        while self.m.next_check <= t:
            self.found += [(f.kind, f.ts) for f in self.m.tick_at(self.m.next_check)]
        for value, dt in ((1, 0.0), (0, 10.0)):
            self.found += [(f.kind, f.ts) for f in self.m.observe_at(t + dt, f"pir_{room}", "motion", value, room)]

    def mat(self, at: datetime, value: int) -> None:
        t = at.timestamp()
        while self.m.next_check <= t:
            self.found += [(f.kind, f.ts) for f in self.m.tick_at(self.m.next_check)]
        self.found += [(f.kind, f.ts) for f in self.m.observe_at(t, "bed_mat", "pressure", value, "bedroom")]

    def day(self, day: datetime, mat: bool = False) -> None:
        """Up at 07:00, about the flat every few minutes until 22:30, then to bed."""
        if mat:
            self.mat(day + timedelta(hours=7), 0)
        t = day + timedelta(hours=7)
        i = 0
        while t < day + timedelta(hours=22, minutes=30):
            self.pir(t, ROOMS[i % 3])
            t += timedelta(minutes=4)
            i += 1
        self.pir(day + timedelta(hours=22, minutes=40), "bedroom")
        if mat:
            self.mat(day + timedelta(hours=22, minutes=42), 1)


def _settled_nights(h: Home, nights: int, mat: bool = False) -> None:
    for d in range(nights):
        h.day(DAY0 + timedelta(days=d), mat)


def _wandering(h: Home) -> list[datetime]:
    return [ts for kind, ts in h.found if kind == "night_wandering"]


def test_a_walk_at_three_that_settles_in_the_kitchen_is_no_wandering() -> None:
    # The peer's DEV_1 at 04:14: out of bed, through the living room and the toilet to the kitchen, a doorway PIR
    # flickering on the way, then half an hour at the kitchen table. Eight room changes, all in its first minutes.
    h = Home()
    _settled_nights(h, 6)
    night = DAY0 + timedelta(days=6, hours=3)
    for i, room in enumerate(("living", "bathroom", "living", "bedroom", "living", "kitchen", "living", "kitchen")):
        h.pir(night + timedelta(minutes=2 * i), room)
    for k in range(25):  # at the table: the kitchen PIR every two minutes until 04:05
        h.pir(night + timedelta(minutes=16 + 2 * k), "kitchen")
    h.pir(night + timedelta(minutes=70), "bedroom")  # back to bed
    h.pir(night + timedelta(hours=4), "bedroom")
    assert _wandering(h) == []


def test_a_night_moving_between_rooms_every_quarter_hour_is_wandering() -> None:
    # A sparse kit sees a wandering night as a room change every 12 minutes, the PIR of the room retriggering
    # between; it goes on for an hour and a half.
    h = Home()
    _settled_nights(h, 6)
    night = DAY0 + timedelta(days=6, hours=1)
    for k in range(24):
        h.pir(night + timedelta(minutes=4 * k), ("kitchen", "bathroom", "living")[(k // 3) % 3])
    h.pir(night + timedelta(minutes=100), "bedroom")
    found = _wandering(h)
    assert len(found) == 1
    assert found[0] < night + timedelta(minutes=100)  # while still up


def test_a_doorway_flickering_for_minutes_is_one_walk_not_wandering() -> None:
    # The peer's DEV_4 at 04:53: up since 03:23 in one room, then standing in a doorway, its two PIRs taking turns
    # for three minutes: fourteen "room changes", none of them into a room.
    h = Home()
    _settled_nights(h, 6)
    night = DAY0 + timedelta(days=6, hours=3)
    h.pir(night, "bedroom")
    for k in range(8):  # up, in the living room, its PIR every five minutes
        h.pir(night + timedelta(minutes=1 + 5 * k), "living")
    for k in range(18):  # in the kitchen doorway: the living room's and the kitchen's PIRs in turn, 20 s apart
        h.pir(night + timedelta(minutes=41, seconds=20 * k), ("kitchen", "living")[k % 2])
    for k in range(6):
        h.pir(night + timedelta(minutes=48 + 5 * k), "living")
    h.pir(night + timedelta(minutes=80), "bedroom")
    h.pir(night + timedelta(hours=4), "bedroom")
    assert _wandering(h) == []


def test_a_restless_night_that_ends_back_on_the_bed_mat_is_not_raised_there() -> None:
    # Forty minutes between the kitchen, the bathroom and the living room, then back to bed: the limit falls due a
    # minute after the mat is pressed again, and an alarm then would send a neighbour to a resident asleep.
    h = Home()
    _settled_nights(h, 6, mat=True)
    night = DAY0 + timedelta(days=6, hours=1)
    h.mat(night, 0)
    for k in range(10):
        h.pir(night + timedelta(minutes=1 + 4 * k), ("kitchen", "bathroom", "living")[k % 3])
    h.pir(night + timedelta(minutes=39), "bedroom")
    h.mat(night + timedelta(minutes=39, seconds=30), 1)
    h.mat(night + timedelta(hours=6), 0)
    assert _wandering(h) == []


def test_a_sleep_checkpointed_before_restlessness_was_kept_has_no_recent_moves() -> None:
    old = Sleep()
    old.episode_rooms = 7
    del old.episode_moves, old.episode_entered, old.up_at  # what a checkpoint written before the fields existed holds
    back = pickle.loads(pickle.dumps(old))
    assert back.episode_moves == [] and back.episode_entered == back.up_at == -math.inf and back.episode_rooms == 7
    assert not back.restless(0.0)
