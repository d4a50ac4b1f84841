"""Exact quantiles over a window (anomaly/quantile.py): what a home's first weeks of mornings need."""

from __future__ import annotations

import math
import pickle

import pytest
from river import stats

from anomaly.quantile import WINDOW, WindowQuantiles, carried_over

# Ordonez A's first eight mornings out of bed, hours.
MORNINGS = [10.3, 11.52, 10.12, 10.83, 12.25, 11.93, 12.62, 11.8]


def test_a_few_values_give_their_exact_quantiles_where_p_square_still_reads_the_median() -> None:
    w, lo, hi = WindowQuantiles(), stats.Quantile(0.1), stats.Quantile(0.9)
    for x in MORNINGS:
        w.update(x)
        lo.update(x)
        hi.update(x)
    s = sorted(MORNINGS)
    assert w.get(0.0) == s[0] and w.get(1.0) == s[-1]
    assert math.isclose(w.get(0.5) or 0.0, (s[3] + s[4]) / 2)
    assert math.isclose(w.get(0.1) or 0.0, s[0] + 0.7 * (s[1] - s[0]))  # 10:13
    # What the markers made of the same mornings: an early wake time at the third of the eight mornings.
    assert (lo.get() or 0.0) >= s[2] and (w.get(0.1) or 0.0) < s[1]
    assert (hi.get() or 0.0) < s[6] < (w.get(0.9) or 0.0)


def test_the_window_keeps_the_latest_values_and_is_empty_before_any() -> None:
    w = WindowQuantiles(window=3)
    assert w.get(0.5) is None and len(w) == 0 and not w
    for x in (1.0, 2.0, 3.0, 10.0, 20.0):
        w.update(x)
    assert w.values == (3.0, 10.0, 20.0) and w.get(0.5) == 10.0
    assert WindowQuantiles().window == WINDOW and w.clone().window == 3 and w.clone().values == ()
    with pytest.raises(ValueError, match="between 0 and 1"):
        w.get(1.5)


def test_the_sorted_copy_follows_updates_and_is_not_pickled() -> None:
    w = WindowQuantiles(window=4)
    for x in (5.0, 1.0, 3.0):
        w.update(x)
    assert w.get(1.0) == 5.0
    w.update(9.0)
    assert w.get(1.0) == 9.0
    back = pickle.loads(pickle.dumps(w))
    assert back.values == w.values and back.window == 4 and "_sorted" not in w.__getstate__()
    back.update(0.5)  # (the oldest, 5.0, leaves)
    assert back.values == (1.0, 3.0, 9.0, 0.5) and back.get(0.0) == 0.5 and back.get(1.0) == 9.0


def test_carried_over_keeps_the_old_quantiles_and_skips_those_without_an_estimate() -> None:
    old = [stats.Quantile(q) for q in (0.1, 0.5, 0.9)]
    for x in MORNINGS:
        for q in old:
            q.update(x)
    w = carried_over(*old, stats.Quantile(0.5), None)
    assert [w.get(q) for q in (0.1, 0.5, 0.9)] == [q.get() for q in old]
    assert carried_over(stats.Quantile(0.9)).values == () and carried_over(old[1]).values == (old[1].get(),)
