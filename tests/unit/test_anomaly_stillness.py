"""The stillness model on its own: survival counts per context, pooling towards broader moments, limits, budget."""

from __future__ import annotations

import itertools
import math
import pickle
import random

import pytest

from anomaly.stillness import BINS, MIN_GAP_S, Context, Node, StillnessModel, bin_low, bin_of

MIN = 60.0
HOUR = 3600.0
KITCHEN = Context("pir_kitchen", "1", "", 1)  # a kitchen PIR firing between 06:00 and 12:00


def _node(gaps: list[float]) -> Node:
    n = Node()
    for g in gaps:
        n.learn(g, 1.0)
    return n


def _days(m: StillnessModel, days: int, per_day: dict[Context, list[float]]) -> StillnessModel:
    """Teach `m` the same silences after each context for `days` days, closing every day as the engine does."""
    for _ in range(days):
        for ctx, gaps in per_day.items():
            for g in gaps:
                m.learn_one(ctx, g)
        m.new_day()
    return m


def test_bins_are_logarithmic_from_a_minute_with_an_overflow() -> None:
    assert bin_of(MIN_GAP_S - 1) == -1 and bin_of(MIN_GAP_S) == 0
    for i in range(BINS - 1):
        assert bin_of(bin_low(i) * 1.0001) == i
    assert bin_of(10 * 86400.0) == BINS - 1


def test_exceed_is_monotone_and_counts_silences_at_bin_edges() -> None:
    gaps = [5.0] * 40 + [90.0, 150, 300, 420, 600, 900, 1500, 2400, 3600, 5400, 7200]
    n = _node(gaps)
    binned = sum(1 for g in gaps if g >= MIN_GAP_S)
    assert n.n == len(gaps) and n.exceed(30.0, 4.0, 0.15) == binned  # short silences count in n only
    ts = [MIN_GAP_S * 1.07**i for i in range(120)]
    values = [n.exceed(t, 4.0, 0.15) for t in ts]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(values))
    anchor = n.longest(4.0)
    for b in range(BINS):
        edge = bin_low(b) * 1.0001
        if edge < anchor:  # below the fitted tail, the histogram itself: silences in this bin and above
            assert n.exceed(edge, 4.0, 0.15) == pytest.approx(sum(n.hist[b:]) if n.hist else 0.0, rel=1e-3)
    # Past the longest silence the tail falls off but never to zero: a longer silence is rarer, not impossible.
    assert 0 < n.exceed(4 * HOUR, 4.0, 0.15) < n.exceed(2 * HOUR, 4.0, 0.15) < 1.0
    assert Node().exceed(600.0, 4.0, 0.15) == 0.0


def test_a_limit_lies_within_floor_and_ceiling() -> None:
    r = random.Random(3)
    m = StillnessModel(floor_s=20 * MIN, ceiling_s=6 * HOUR)
    ctxs = [Context(f"s{i}", "1", "", q) for i in range(5) for q in range(4)]
    _days(m, 10, {c: [r.expovariate(1 / (60 * 2**i)) for _ in range(15)] for i, c in enumerate(ctxs)})
    for c in [*ctxs, Context("never", "1", "", 2)]:
        assert 20 * MIN <= m.limit(c) <= 6 * HOUR


def test_long_ordinary_silences_lengthen_a_limit_and_short_ones_in_their_place_shorten_it() -> None:
    base = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 10})
    naps = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 10 + [90 * MIN]})
    assert naps.limit(KITCHEN) > 90 * MIN > base.limit(KITCHEN) == 20 * MIN  # a daily 90-min nap is no alarm
    # The same moments a day, fewer of them followed by a long silence: a shorter limit.
    often = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 8 + [50 * MIN] * 4})
    seldom = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 11 + [50 * MIN]})
    assert often.limit(KITCHEN) > seldom.limit(KITCHEN) > 20 * MIN


def test_short_silences_make_a_context_trust_itself_rather_than_its_parents() -> None:
    # Silences under a minute are counted (not binned): a moment seen often without a long silence after it stops
    # borrowing the broader moments' long ones, which is what tells a resting resident from a motionless one.
    t = 30 * MIN
    parents = {Context("pir_bed", "1", "", 1): [2 * HOUR] * 3}
    few = _days(StillnessModel(), 14, {**parents, KITCHEN: [30.0] * 2})
    many = _days(StillnessModel(), 14, {**parents, KITCHEN: [30.0] * 200})
    assert many.share(KITCHEN, t) < few.share(KITCHEN, t) / 50
    # The rate is per day, though: ten times the moments with the same long silences a day keep the same limit.
    one = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 10 + [40 * MIN]})
    ten = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 10 + [40 * MIN] + [40.0] * 100})
    assert ten.limit(KITCHEN) == pytest.approx(one.limit(KITCHEN), rel=0.01)


def test_a_context_never_seen_borrows_from_the_same_sensor_and_the_quarter_of_the_day() -> None:
    napper = _days(StillnessModel(), 14, {KITCHEN: [120.0] * 10, Context("sofa", "1", "", 2): [3 * HOUR] * 2})
    # The sofa at 18-24 h was never seen: it leans on the sofa at any hour, so it is not the kitchen's short limit.
    evening = Context("sofa", "1", "", 3)
    assert napper.limit(evening) > napper.limit(Context("pir_kitchen", "1", "", 3))
    # A sensor never seen at all leans on the home's whole quarter of the day: longer where this home naps.
    unknown = Context("new_pir", "1", "", 2)
    brisk = _days(StillnessModel(), 14, {Context("pir_kitchen", "1", "", 2): [120.0] * 10})
    assert napper.limit(unknown) > brisk.limit(unknown)
    # A new home: the prior alone, longer at night (sleep) than by day.
    fresh = StillnessModel()
    assert fresh.limit(Context("x", "1", "", 0)) > fresh.limit(Context("x", "1", "", 2))


def test_new_day_decays_counts_and_counts_days() -> None:
    m = StillnessModel(half_life_days=10.0)
    m.learn_one(KITCHEN, 600.0)
    m.learn_one(KITCHEN, 30.0)
    m.new_day()
    f = 0.5 ** (1 / 10)
    node = m.nodes[("pir_kitchen", "1", "", 1)]
    assert node.n == pytest.approx(2 * f) and node.hist is not None and sum(node.hist) == pytest.approx(f)
    assert m.days == pytest.approx(1.0)
    for _ in range(10):
        m.new_day()
    assert node.n == pytest.approx(2 * f**11, rel=1e-4)
    assert m.days == pytest.approx(sum(f**i for i in range(11)))  # decayed days: the rate's denominator


def test_the_longest_ordinary_silence_is_remembered_for_a_month_not_a_day() -> None:
    # The evidence's "longest ordinary" once read a weight of one: the first midnight's decay hid a silence seen
    # once, and the next one down was shown instead (21 min became 4).
    m = StillnessModel()  # half-life 30 days
    for _ in range(20):
        m.learn_one(KITCHEN, 3 * MIN)
    m.learn_one(KITCHEN, 21 * MIN)
    for day in range(1, 32):
        m.new_day()
        longest = m.longest(KITCHEN)
        if day < 30:
            assert 21 * MIN / 1.2 < longest < 21 * MIN * 1.2, day  # within its bin's spread
        elif day > 30:
            assert longest < 4 * MIN, day  # a month on, the 21-min silence is no longer what this home does
    # A silence alarmed on (learned at a quarter until a verdict) is not ordinary, even on its first day.
    m.learn_one(KITCHEN, 180 * MIN, w=0.25)
    assert m.longest(KITCHEN) < 30 * MIN


def test_a_limit_worked_out_earlier_in_the_day_follows_what_was_learned_since() -> None:
    m = _days(StillnessModel(), 3, {KITCHEN: [20.0] * 30 + [3 * MIN] * 3})
    before = m.limit(KITCHEN)
    for _ in range(6):  # an afternoon of long sittings after the kitchen, the same day
        m.learn_one(KITCHEN, 50 * MIN)
    assert m.limit(KITCHEN) > before
    kept = m.limit(KITCHEN)
    m.learn_one(KITCHEN, 20.0)  # seconds of quiet move no tail: the limit worked out is kept
    assert m._limits[KITCHEN] == kept


def test_a_silence_of_no_weight_teaches_nothing() -> None:
    # (An alarmed silence is learned at `reported_weight`; at 0 a new moment's node had no count, and its share 0 / 0.)
    night = Context("pir_hall", "0", "", 0)
    m = _days(StillnessModel(), 5, {KITCHEN: [30.0] * 20})
    before = m.limit(night)
    m.learn_one(night, 4 * HOUR, 0.0)
    m.new_day()
    assert ("pir_hall", "0", "", 0) not in m.nodes and ("", "", "", 0) not in m.nodes
    assert m.limit(night) == pytest.approx(before, rel=0.2)


def test_clone_is_an_empty_model_with_the_same_parameters() -> None:
    m = StillnessModel(budget_per_60d=0.3, prior_strength=2.0, floor_s=900.0, ceiling_s=9 * HOUR)
    _days(m, 3, {KITCHEN: [600.0, 30.0]})
    c = m.clone()
    assert isinstance(c, StillnessModel) and c._get_params() == m._get_params()
    assert c.nodes == {} and c.days == 0.0 and c.level == pytest.approx(0.3 / 60)


def _rich(budget: float, ceiling_s: float = 3000 * HOUR) -> StillnessModel:  # heavy tails reach far
    """A month of a home with moments of every kind: brisk, napping, sleeping, rare."""
    r = random.Random(11)
    m = StillnessModel(budget_per_60d=budget, ceiling_s=ceiling_s)
    for _ in range(30):
        for q in range(4):
            for s, mean, count in (("pir_a", 200.0, 30), ("pir_b", 900.0, 8), ("mat", 3 * HOUR, 1), ("cup", 40.0, 2)):
                for _ in range(count):
                    m.learn_one(Context(s, "1", "", q), r.expovariate(1 / mean))
        m.new_day()
    return m


def test_the_level_spends_the_budget_over_all_contexts_when_limits_are_not_clipped() -> None:
    for budget in (1.0, 0.5, 0.1):
        m = _rich(budget)
        assert m.expected_false_alarms_per_60d() == pytest.approx(budget, rel=0.05)
    # A smaller budget: a lower level, and no limit shorter.
    loose, strict = _rich(1.0), _rich(0.1)
    assert strict.level < loose.level
    ctxs = list(loose.contexts())
    assert all(strict.limit(c) >= loose.limit(c) for c in ctxs)
    assert any(strict.limit(c) > loose.limit(c) * 1.1 for c in ctxs)


def test_a_ceiling_that_clips_is_seen_in_the_prediction() -> None:
    m = _rich(1.0, ceiling_s=2 * HOUR)  # the nightly 3-hour mat silences are longer than the ceiling
    assert m.limit(Context("mat", "1", "", 0)) == 2 * HOUR
    assert m.expected_false_alarms_per_60d() > 1.0 * 1.5  # the operator's ceiling costs false alarms; it says so


def test_score_is_the_normal_daily_rate_of_such_a_silence() -> None:
    m = _days(StillnessModel(), 20, {KITCHEN: [120.0] * 9 + [45 * MIN]})
    # Ten kitchen moments a day, one followed by 45 minutes' quiet: about once a day for 30 min, rarely for 3 h.
    assert m.occurrences(KITCHEN) == pytest.approx(10.0, rel=0.05)
    assert m.score_one(KITCHEN, 30 * MIN) == pytest.approx(1.0, rel=0.2)
    assert m.score_one(KITCHEN, 3 * HOUR) < m.level < m.score_one(KITCHEN, m.limit(KITCHEN) * 0.9)
    assert m.longest(KITCHEN) == pytest.approx(45 * MIN, rel=RATIO_TOL)
    assert math.isclose(m.limit(KITCHEN), m.limit(KITCHEN))  # cached, the same


RATIO_TOL = 0.4  # a silence is known to within its log-histogram bin (x1.4)


def test_share_is_a_survival_function_of_the_silence() -> None:
    m = _rich(1.0)
    ts = [MIN_GAP_S * 1.15**i for i in range(80)]
    for c in [*m.contexts(), Context("never", "1", "", 0)]:
        shares = [m.share(c, t) for t in ts]
        assert all(0.0 <= p <= 1.0 for p in shares)
        assert all(b <= a + 1e-12 for a, b in itertools.pairwise(shares)), c


def test_a_pickled_model_answers_the_same() -> None:
    m = _rich(1.0)
    copy = pickle.loads(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL))  # as a checkpoint stores it
    for c in m.contexts():
        assert copy.limit(c) == m.limit(c) and copy.score_one(c, 1800.0) == m.score_one(c, 1800.0)


@pytest.mark.xfail(
    strict=True,
    reason="known limitation, kept on purpose: with a node's total weight <= 1 (one silence, or alarms learned at "
    "weight 0.25) Node.exceed anchors the tail at MIN_GAP_S. Reading such a silence at its length made one past fall "
    "hide the next in the same moment (peer-sim 34 -> 16 of 44 lies found); see docs/anomaly-history.md",
)
def test_one_long_silence_is_evidence_of_long_silences() -> None:
    for gaps, w in (([5 * HOUR], 1.0), ([5 * HOUR] * 3, 0.25)):
        n = Node()
        for g in gaps:
            n.learn(g, w)
        assert n.exceed(20 * MIN, 4.0, 0.15) >= 0.5 * n.n  # most of what was seen lasted longer than 20 min


def test_a_rare_night_moment_borrows_its_sensor_and_its_hour_both() -> None:
    # By day the kitchen PIR clears 40 times a day, followed within a minute by the next room, and every third day
    # by an hour at the table; at night this home is quiet for hours (no bed mat). The kitchen at 03:00, seen once,
    # is read as "the kitchen's long silences, made longer by the night", not as the kitchen by day.
    m = StillnessModel()
    for day in range(30):
        for _ in range(40):
            m.learn_one(Context("pir_kitchen", "0", "", 2), 40.0)
            m.learn_one(Context("pir_living", "0", "", 2), 90.0)
        if day % 3 == 0:
            m.learn_one(Context("pir_kitchen", "0", "", 2), 3600.0)
        for _ in range(6):
            m.learn_one(Context("pir_bedroom", "0", "", 0), 3 * 3600.0)
        m.new_day()
    night, day_ctx = Context("pir_kitchen", "0", "", 0), Context("pir_kitchen", "0", "", 2)
    m.learn_one(night, 40.0)
    assert m.share(night, 1800.0) > 2 * m.share(day_ctx, 1800.0)


def test_a_moment_with_a_silence_or_two_of_a_minute_does_not_read_a_heavy_tail() -> None:
    # A fridge opened a dozen times, twice held a minute or two (decayed a little): nothing says 20 min of silence
    # after it is common. Dividing the spread by ln k (k = 1.1 silences here) read it as one opening in 15.
    node = _node([5.0] * 10)
    node.learn(90.0, 0.55)
    node.learn(120.0, 0.55)
    assert node.exceed(1200.0, 4.0, 0.15) < 0.02
    # ... and more weight on the same silences (k = 2, not 1.1) reads a little more tail, not less.
    more = _node([5.0] * 10)
    more.learn(90.0, 1.0)
    more.learn(120.0, 1.0)
    assert node.exceed(1200.0, 4.0, 0.15) < more.exceed(1200.0, 4.0, 0.15) < 0.05


def test_the_tail_has_no_step_where_a_moment_reaches_four_silences_of_a_minute() -> None:
    # Below four silences of a minute the tail runs from the minute itself; above, from the 4th-longest. Decayed
    # counts cross four all the time: a hair more weight must not move the count past an hour 2x.
    def past_an_hour(w: float) -> float:
        n = Node()
        for gap in (90.0, 180.0, 600.0, 1800.0):
            n.learn(gap, w)
        return n.exceed(3600.0, 4.0, 0.15)

    assert past_an_hour(1.001) == pytest.approx(past_an_hour(1.0), rel=0.01)
    assert past_an_hour(1.0) < past_an_hour(1.5) < past_an_hour(2.0)  # more of the same silences, more tail


class _Dipping(StillnessModel):
    """A model whose normal rate falls below the level by 34 min and rises above it again past 5 h."""

    def score_one(self, ctx: Context, still_s: float) -> float:
        return 1.0 if still_s < 34 * MIN or still_s > 5 * HOUR else 0.0


def test_a_limit_is_where_the_rate_first_falls_to_the_level_not_the_ceiling() -> None:
    # The crossed parents (sensor x quarter / day) are a ratio of tails that need not fall together: a 778 bathroom's
    # rate fell below the level by 34 min and rose again far out, and its limit was the 12-h ceiling.
    m = _Dipping(floor_s=20 * MIN, ceiling_s=12 * HOUR)
    m.days = 10.0
    m.level = 0.5
    assert 34 * MIN <= m.limit(KITCHEN) <= 34.1 * MIN
