"""Responders' verdicts in the engine: what a false alarm, a fall and a device fault change, once, fading."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import pytest

from anomaly.engine import Engine, HomeLimits, Options
from anomaly.limits import Tuning
from anomaly.stillness import Context, bin_of
from anomaly.store import freeze, thaw
from contracts import Feedback, Finding
from tests.support.anomaly_fixtures import HOME, TZ, Agent, monitor
from tests.support.engine_home import DAY0, MIN, SEC, Home, learned, live_day, num

Outcome = Literal["needed_help", "false_alarm", "device_fault"]


def _bath_limits(outcome: Outcome | None) -> tuple[float, float]:
    """limit_min of a bathroom alarm and of a kitchen one after a first bathroom alarm got `outcome` as feedback."""
    eng, ev = Engine(Options(tz=TZ, limits=HomeLimits(inactivity_ceiling_day_min=720))), Agent()
    found: list[Finding] = []

    def pulse(t: datetime, room: str) -> None:
        eng.observe(ev(t, f"pir_{room}", "motion", 1, room))
        eng.observe(ev(t + 5 * SEC, f"pir_{room}", "motion", 0, room))

    def run(t: datetime, until: datetime) -> None:
        while t <= until:
            found.extend(f for f in eng.tick(t) if f.kind == "long_inactivity")
            t += MIN

    t0 = DAY0 + timedelta(hours=10)
    pulse(t0, "bathroom")
    run(t0, t0 + timedelta(hours=4))
    if outcome is not None:
        first = found[0]
        eng.feedback(Feedback(home=HOME, alert_id=1, kind=first.kind, finding_ids=[first.id], since=first.since,
                              outcome=outcome, ts=first.ts), first.ts)  # fmt: skip
    limits = []
    for k, room in ((1, "bathroom"), (2, "kitchen")):
        t = t0 + timedelta(days=k)
        for i in range(4):
            pulse(t - timedelta(minutes=8 - 2 * i), ("living", "hall")[i % 2])  # about again: re-armed
        pulse(t, room)
        run(t, t + timedelta(hours=13))
        (f,) = [f for f in found if f.since == t + 5 * SEC]
        limits.append(num(f, "limit_min"))
    return limits[0], limits[1]


def test_feedback_false_alarm_loosens_that_moment_and_needed_help_tightens() -> None:
    bath, kitchen = _bath_limits(None)
    loose_bath, loose_kitchen = _bath_limits("false_alarm")
    tight_bath, tight_kitchen = _bath_limits("needed_help")
    # A false alarm's silence (a whole day here, in a home a day old) is learned in full: that moment loosens, and,
    # through the home's pools, the kitchen it has not seen yet (a scale alone gave it 1.25x). A call that was needed
    # takes the silence back (exactly: test_a_verdict_on_an_alarm_sets_how_much_its_silence_teaches) and loosens
    # nothing (here the bathroom's limit is still the new home's prior, 1 day in, and the kitchen's the floor).
    assert loose_bath > 1.5 * bath and loose_kitchen > 1.5 * kitchen
    assert tight_bath <= bath and tight_kitchen <= kitchen
    assert _bath_limits("device_fault") == (bath, kitchen)  # the thresholds were not the problem


def test_a_fall_does_not_tighten_every_stillness_limit_of_the_home_but_other_kinds_do() -> None:
    # A fall says how long this resident lay after that moment (the model weighs its silence nothing), not that
    # their other silences are shorter: a kind-wide 0.9 per fall alarmed on ordinary nights. A night exit that
    # needed help still tightens night exits.
    h, f = _alarmed_bathroom(None, "needed_help")
    now = f.ts.timestamp()
    h.m.apply_feedback(f.kind, "needed_help", now, [f.id])
    h.m.apply_feedback("night_exit", "needed_help", now)
    assert h.m.summary()["feedback_scale"] == {"night_exit": 0.9}
    h.m.apply_feedback(f.kind, "false_alarm", now, [f.id])  # (a false alarm still loosens the kind and its moment)
    assert h.m.summary()["feedback_scale"] == {
        "night_exit": 0.9,
        "long_inactivity": 1.25,
        f"ctx:{f.evidence['moment']}": 1.25,
    }


def test_a_verdict_delivered_twice_counts_once_and_old_checkpoints_still_take_verdicts() -> None:
    # The cluster path deduplicates a verdict by the stream's window only (a copy stored later is a second message):
    # the home remembers the alerts it applied the verdict of.
    eng = Engine()
    at = datetime(2026, 12, 7, 9, tzinfo=TZ)
    fb = Feedback(home=HOME, alert_id=9, kind="door_left_open", finding_ids=[], since=at, outcome="false_alarm", ts=at)
    eng.feedback(fb, at)
    eng.feedback(fb, at)
    assert eng.homes[HOME].scale == {"door_left_open": 1.25}
    eng.feedback(fb.model_copy(update={"alert_id": 10}), at)  # another alert's verdict does count
    assert eng.homes[HOME].scale == {"door_left_open": 1.25 * 1.25}
    # A checkpoint written before verdicts were remembered (no `verdicts`) loads and takes them.
    old = monitor()
    del old.verdicts
    restored = thaw(freeze(old))
    restored.apply_feedback("door_left_open", "false_alarm", at.timestamp(), (), 3)
    restored.apply_feedback("door_left_open", "false_alarm", at.timestamp(), (), 3)
    assert restored.scale == {"door_left_open": 1.25} and restored.verdicts == [3]


def test_feedback_fades_as_the_model_forgets_instead_of_ratcheting() -> None:
    # Five false alarms took a kind's limits to the 3x cap; with falls no longer pulling the other way, a factor
    # that never faded would judge a fall months later at 3x. It halves its distance to 1 in the model's half-life.
    h = learned(1)
    now = (DAY0 + timedelta(days=1)).timestamp()
    for _ in range(5):
        h.m.apply_feedback("long_inactivity", "false_alarm", now)
    h.found += h.m.tick_at(now)  # (feedback asks for a check now)
    assert h.m.summary()["feedback_scale"] == {"long_inactivity": 3.0}
    h.m.scale["ctx:pir_kitchen=0 06-12h"] = 1.005
    for d in range(1, 31):
        live_day(h, DAY0 + timedelta(days=d))
    assert h.m.summary()["feedback_scale"] == {"long_inactivity": pytest.approx(2.0, abs=0.05)}  # (1.005: gone)


def _alarmed_bathroom(verdict_at: float | None, outcome: Outcome) -> tuple[Home, Finding]:
    """14 days learned; at 10:00 the bathroom, 3 h still (an alarm), about again; a verdict `verdict_at` h in."""
    h = learned(stop_last=10.0)
    t = DAY0 + timedelta(days=14, hours=10)
    h.pir(t, "bathroom")
    h.until(t + timedelta(hours=1))
    (f,) = h.alarms(t)
    if verdict_at == 1.0:  # while the silence lasts (a responder on the doorstep)
        now = (t + timedelta(hours=1)).timestamp()
        h.m.apply_feedback(f.kind, outcome, now, [f.id])
        h.found += h.m.tick_at(now)  # feedback asks for a check now, as a tick does
    for i in range(4):
        h.pir(t + timedelta(hours=3, minutes=i), ("living", "kitchen")[i % 2])
    if verdict_at == 4.0:  # after it
        now = (t + timedelta(hours=4)).timestamp()
        h.m.apply_feedback(f.kind, outcome, now, [f.id])
        h.found += h.m.tick_at(now)
    return h, f


def _weight_after_bathroom(h: Home, gap_s: float) -> float:
    node = h.m.idle.model.nodes[("pir_bathroom", "0", "", 1)]
    assert node.hist is not None
    return float(node.hist[bin_of(gap_s)])


def test_a_verdict_on_an_alarm_sets_how_much_its_silence_teaches() -> None:
    gap = 3 * 3600.0 - 5.0  # from the bathroom's 0 to the living room's 1
    base = _weight_after_bathroom(learned(stop_last=10.0), gap)  # what 14 ordinary days put there (nothing)
    for verdict_at in (None, 1.0, 4.0):
        for outcome, weight in (("false_alarm", 1.0), ("needed_help", 0.0)):
            h, _ = _alarmed_bathroom(verdict_at, outcome)
            learned_w = _weight_after_bathroom(h, gap) - base
            expected = Tuning().reported_weight if verdict_at is None else weight
            assert learned_w == pytest.approx(expected, abs=1e-6), (verdict_at, outcome)
    # A false alarm's 3 h is now ordinary after that moment; the same stillness again is not raised at 20 min.
    h, _ = _alarmed_bathroom(4.0, "false_alarm")
    assert h.m.idle.model.limit(Context("pir_bathroom", "0", "", 1)) > 3 * 3600.0
