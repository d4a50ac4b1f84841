"""Strays: a lone PIR trigger away from where the resident was is held apart until what follows settles it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from anomaly.const import MOTION_HELD_MAX
from anomaly.detectors import inactivity
from anomaly.detectors.inactivity import Inactivity
from anomaly.engine import HomeMonitor
from anomaly.limits import Tuning
from anomaly.stillness import Context
from contracts import Finding

DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
NIGHT_GAPS = (15, 45, 30)  # minutes between bedroom blips while asleep: a 45-minute still spell every night


class Home:
    """A monitor fed by hand (one PIR per room, 10-s hold, or PIRs that only ever say `1`), ticked as the service."""

    def __init__(self, clears: bool = True) -> None:
        self.m = HomeMonitor("h-strays00001", UTC)
        self.found: list[Finding] = []
        self.clears = clears
        self.learned: list[tuple[str, float]] = []  # (moment, minutes) of every silence learned, once `spy` is called

    def until(self, at: datetime) -> None:
        """Run every check due up to `at`."""
        while self.m.next_check <= at.timestamp():
            self.found += self.m.tick_at(self.m.next_check)

    def ev(self, at: datetime, sensor: str, kind: str, value: int | str, room: str) -> None:
        """One event at `at`."""
        self.until(at)
        self.found += self.m.observe_at(at.timestamp(), sensor, kind, value, room)

    def pir(self, at: datetime, room: str, hold: timedelta = timedelta(seconds=10)) -> None:
        """A PIR's `1`, and its `0` when its hold ends (if it reports clears)."""
        self.ev(at, f"pir_{room}", "motion", 1, room)
        if self.clears:
            self.ev(at + hold, f"pir_{room}", "motion", 0, room)

    def spy(self) -> None:
        """From now on, note every silence the stillness model learns."""
        model = self.m.idle.model
        learn = model.learn_one

        def noted(ctx: Context, gap_s: float, w: float = 1.0) -> None:
            self.learned.append((ctx.describe(), round(gap_s / 60, 1)))
            learn(ctx, gap_s, w)

        model.learn_one = noted  # type: ignore[method-assign]

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
        return [(f.ts, str(f.evidence["moment"])) for f in self.found if f.kind == "long_inactivity" and f.ts > after]


def _learned(days: int = 14, clears: bool = True) -> Home:
    """A home after `days` of the same routine, and the next night until 00:55."""
    h = Home(clears)
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


def test_a_stray_dismissed_leaves_the_silence_whole_and_one_confirmed_splits_it() -> None:
    dismissed = _learned()
    dismissed.spy()
    _one_am(dismissed, (12, "kitchen"), (40, "bedroom"))
    assert ("pir_bedroom=0 00-06h", 39.8) in dismissed.learned  # whole, and nothing of the kitchen
    assert not any("kitchen" in moment for moment, _ in dismissed.learned)
    confirmed = _learned()
    confirmed.spy()
    _one_am(confirmed, (12, "kitchen"), (14, "kitchen"))
    assert confirmed.learned[-4:] == [
        ("pir_bedroom=0 00-06h", 11.8),  # up to the stray, then its own moments, as if taken at their word
        ("pir_kitchen=1 00-06h", 0.2),
        ("pir_kitchen=0 00-06h", 1.8),
        ("pir_kitchen=1 00-06h", 0.2),
    ]


def test_the_resident_seen_again_where_they_were_soon_after_dismisses_the_stray() -> None:
    # A walk to the kitchen and back would be two walks no sensor saw; a PIR firing on its own, none.
    h = _learned()
    h.spy()
    _one_am(h, (12, "kitchen"), (15, "bedroom"))
    assert ("pir_bedroom=0 00-06h", 14.8) in h.learned
    assert not any("kitchen" in moment for moment, _ in h.learned)


def test_movement_elsewhere_soon_after_confirms_the_stray() -> None:
    h = _learned()
    h.spy()
    _one_am(h, (12, "kitchen"), (15, "bathroom"))
    assert ("pir_kitchen=0 00-06h", 2.8) in h.learned and h.m.idle.stray is None
    assert h.m.idle.ctx is not None and h.m.idle.ctx.sensor == "pir_bathroom"


def test_a_fall_after_a_walk_no_sensor_saw_is_still_raised_at_the_later_of_the_two_limits() -> None:
    h = _learned()
    one = _one_am(h, (12, "kitchen"))
    h.until(one + timedelta(hours=5))
    (f,) = [f for f in h.found if f.kind == "long_inactivity" and f.ts > one]
    assert f.ts > one + timedelta(minutes=12 + 25)  # not at the kitchen's floor alone: the bedroom's limit too
    assert f.evidence["moment"] == "pir_bedroom=0 00-06h" and f.evidence["stray_sensor"] == "pir_kitchen"


def test_a_pir_held_on_while_the_resident_moves_is_movement_until_it_clears() -> None:
    # The bedroom PIR on 01:20-01:29 (someone moving under it), the kitchen two minutes after it cleared: a walk.
    h = _learned()
    one = _one_am(h, (20, "bedroom"))
    h.ev(one + timedelta(minutes=30), "pir_bedroom", "motion", 1, "bedroom")
    h.ev(one + timedelta(minutes=39), "pir_bedroom", "motion", 0, "bedroom")
    h.pir(one + timedelta(minutes=41), "kitchen")
    assert h.m.idle.stray is None and h.m.idle.ctx is not None and h.m.idle.ctx.sensor == "pir_kitchen"


def test_activity_after_an_alarm_rearms_it_though_a_pir_was_on_for_minutes() -> None:
    h = _learned()
    one = _one_am(h)
    h.until(one + timedelta(hours=6))  # no blip all night: an alarm, its quiet episode open
    assert h.alarms(one) and h.m.idle.quiet_since is not None
    up = one + timedelta(hours=6)
    h.ev(up, "pir_bedroom", "motion", 1, "bedroom")
    h.ev(up + timedelta(minutes=9), "pir_bedroom", "motion", 0, "bedroom")
    h.ev(up + timedelta(minutes=11), "wardrobe", "contact", "open", "bedroom")
    h.ev(up + timedelta(minutes=11, seconds=30), "wardrobe", "contact", "closed", "bedroom")
    assert h.m.idle.quiet_since is None  # four events from two sensors, none ten minutes after the last movement


def test_a_lone_trigger_in_a_kit_whose_pirs_only_say_one_is_a_stray_too() -> None:
    # A PIR that never reports `0` is never "movement in progress": it must not stop every other trigger being a stray.
    h = _learned(clears=False)
    one = _one_am(h, (12, "kitchen"), (40, "bedroom"))
    assert h.alarms(one - timedelta(hours=1)) == []


def test_an_event_stamped_before_a_pending_stray_is_late() -> None:
    h = _learned()
    one = _one_am(h, (30, "kitchen"))
    counts = {k: v.n for k, v in h.m.idle.model.nodes.items()}
    h.ev(one + timedelta(minutes=20), "pir_bedroom", "motion", 1, "bedroom")  # delivered after the stray
    assert {k: v.n for k, v in h.m.idle.model.nodes.items()} == counts and h.m.idle.stray is not None


def test_a_stray_after_the_floor_has_passed_asks_for_no_check_in_the_past() -> None:
    # A stray keeps the moment where the silence began, so "the floor after that moment" may already be behind its
    # trigger. A replay takes the next check as its clock: asked for a check then, it ran the clock back 70 minutes.
    h = _learned()
    one = _one_am(h)
    trigger = one + timedelta(minutes=90)
    h.until(trigger)
    h.ev(trigger, "pir_kitchen", "motion", 1, "kitchen")
    assert h.m.idle.stray is not None
    assert h.m.next_check == trigger.timestamp()  # now, not in the past, nor later than the floor would allow


def test_explain_gives_the_limit_the_alarm_is_raised_at_then_the_quiet_episode_it_opens() -> None:
    # Evaluation asks the engine why a fall went unraised (evaluation/misses.py): its answer must be the limit `check`
    # uses, the later of the two while a stray is pending, and after the alarm the quiet episode, not a limit.
    h = _learned()
    one = _one_am(h, (12, "kitchen"))
    h.until(one + timedelta(minutes=30))
    why, limit = inactivity.explain(h.m, (one + timedelta(minutes=30)).timestamp())
    assert why in (inactivity.WHY_LIMIT, inactivity.WHY_CEILING) and limit is not None
    h.until(one + timedelta(hours=5))
    (f,) = [f for f in h.found if f.kind == "long_inactivity" and f.ts > one]
    assert f.evidence["limit_min"] == round(limit)
    assert inactivity.explain(h.m, (one + timedelta(hours=5)).timestamp()) == (inactivity.WHY_QUIET, None)


def test_explain_says_a_pir_still_on_is_movement_in_progress() -> None:
    h = _learned()
    one = _one_am(h)
    h.ev(one + timedelta(minutes=5), "pir_living", "motion", 1, "living")  # on, and no clear yet
    assert inactivity.explain(h.m, (one + timedelta(minutes=30)).timestamp()) == (inactivity.WHY_HELD, None)


def test_explain_takes_a_pending_strays_limit_when_it_is_the_later() -> None:
    # The kitchen's stray at 02:50 (its limit the 20-min floor) ends later than the bedroom's 122 min from 01:00.
    h = _learned()
    one = _one_am(h, (110, "kitchen"))
    at = one + timedelta(minutes=111)
    h.until(at)
    assert h.m.idle.stray is not None
    assert inactivity.explain(h.m, at.timestamp()) == (inactivity.WHY_LIMIT, 130.0)
    h.until(one + timedelta(hours=5))
    (f,) = [f for f in h.found if f.kind == "long_inactivity" and f.ts > one]
    assert f.evidence["limit_min"] == 130 and f.ts == one + timedelta(minutes=130, seconds=10)


def test_explain_keeps_no_limit_it_works_out() -> None:
    # The model keeps a limit for the day once worked out: had explain kept one before check first asked, check would
    # have read that day-old value after the silences learned since.
    h = _learned()
    one = _one_am(h)
    h.until(one + timedelta(minutes=5))
    h.m.idle.model._limits.clear()  # (as after midnight: nothing worked out yet today)
    assert inactivity.explain(h.m, (one + timedelta(minutes=5)).timestamp())[0] == inactivity.WHY_LIMIT
    assert h.m.idle.model._limits == {}


def test_explain_says_a_stuck_pir_holds_the_stillness_off_until_its_credit_and_the_floor_pass() -> None:
    h = _learned()
    one = _one_am(h)
    h.ev(one + timedelta(minutes=5), "pir_living", "motion", 1, "living")  # on, and never cleared
    free = one + timedelta(minutes=5) + timedelta(seconds=MOTION_HELD_MAX) + timedelta(minutes=20)
    assert inactivity.explain(h.m, (free - timedelta(minutes=1)).timestamp()) == (inactivity.WHY_HELD, None)
    assert inactivity.explain(h.m, (free + timedelta(minutes=1)).timestamp())[0] == inactivity.WHY_LIMIT


def test_explain_gives_a_blind_rooms_ceiling_however_early_it_is_asked() -> None:
    h = _learned()
    one = _one_am(h)
    h.m.kit.sensors["pir_bedroom"].silent = True  # its only PIR reported silent: the resident may be there unseen
    why, limit = inactivity.explain(h.m, (one + timedelta(minutes=5)).timestamp())
    assert (why, limit) == (inactivity.WHY_BLIND, h.m.limits.inactivity_ceiling_night_min)


def test_explain_says_the_agent_is_offline_before_anything_else() -> None:
    h = _learned()
    one = _one_am(h)
    h.m.agent_status(one.timestamp() + 60, online=False)
    assert inactivity.explain(h.m, (one + timedelta(minutes=30)).timestamp()) == (inactivity.WHY_OFFLINE, None)
