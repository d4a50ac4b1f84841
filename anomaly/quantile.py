"""Exact quantiles of a stream's recent values: a home's mornings, bedtimes, night episodes and outings.

river's `stats.Quantile` (the P-square algorithm, Jain & Chlamtac 1985) is made for long streams: it keeps five
markers, starts them from its first five values, and moves each a step per value. A home learns one morning a day, so
for its first weeks the markers are still near where they started, the median: after eight mornings between 10:07 and
12:37 (Ordonez A) its 10th percentile, the "early wake time", was 11:31, and a resident out of bed at 10:07 was
still taken to be asleep. With thirty values or fewer, exact quantiles cost less than the markers do to be wrong.

River conventions: parameters are constructor attributes (`window`); `clone()` from `river.base`.
"""

from __future__ import annotations

import math

from river import base

# About a month of mornings, the stillness model's half-life (anomaly/stillness.py): a routine that moves (winter
# mornings, a new medication) is followed within weeks, and a home's values stay a few hundred bytes of its state.
WINDOW = 30


class WindowQuantiles(base.Base):
    """Quantiles of the last `window` values, exact (linear between order statistics, numpy's default)."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._values: list[float] = []
        self._sorted: list[float] | None = None  # (read far more often than updated: the wake time at every event)

    @property
    def values(self) -> tuple[float, ...]:
        """The values kept, oldest first (changed only by `update`, which keeps the sorted copy in step)."""
        return tuple(self._values)

    def update(self, x: float) -> None:
        """Take one value; the oldest leaves once `window` are kept."""
        self._values.append(float(x))
        if len(self._values) > self.window:
            del self._values[: len(self._values) - self.window]
        self._sorted = None

    def get(self, q: float) -> float | None:
        """The `q` quantile (0..1) of the values kept, None before any."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is between 0 and 1, not {q}")
        if not self._values:
            return None
        s = self._sorted
        if s is None:
            s = self._sorted = sorted(self._values)
        at = q * (len(s) - 1)
        lo = math.floor(at)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (at - lo)

    def __len__(self) -> int:
        return len(self._values)

    def __getstate__(self) -> dict[str, object]:
        return {"window": self.window, "values": self._values}

    def __setstate__(self, state: dict[str, object]) -> None:
        window, values = state["window"], state["values"]
        assert isinstance(window, int) and isinstance(values, list)
        self.window, self._values, self._sorted = window, values, None


def carried_over(*estimators: object) -> WindowQuantiles:
    """A window seeded with the estimates of river Quantiles from a checkpoint written before these windows.

    Their values are not kept, only the markers. Given a low, a middle and a high quantile's (an early, usual and
    late wake time), the ends are seeded twice, so the window's 10th, 50th and 90th percentiles are those three
    until the home's own values replace them.
    """
    found: list[float] = []
    for old in estimators:
        get = getattr(old, "get", None)
        value = get() if callable(get) else None
        if isinstance(value, int | float) and math.isfinite(value):
            found.append(float(value))
    if len(found) >= 3:
        found = [found[0], *found, found[-1]]
    window = WindowQuantiles()
    for value in found:
        window.update(value)
    return window
