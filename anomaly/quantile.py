"""Exact quantiles of a stream's recent values: a home's mornings, bedtimes, night episodes and outings.

river's `stats.Quantile` (the P-square algorithm, Jain & Chlamtac 1985) is made for long streams: it keeps five
markers, starts them from its first five values, and moves each a step per value. A home learns one morning a day, so
for its first weeks the markers are still near where they started, the median: after six mornings between 10:07 and
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
        self.values: list[float] = []
        self._sorted: list[float] | None = None  # (read far more often than updated: the wake time at every event)

    def update(self, x: float) -> None:
        """Take one value; the oldest leaves once `window` are kept."""
        self.values.append(float(x))
        if len(self.values) > self.window:
            del self.values[: len(self.values) - self.window]
        self._sorted = None

    def get(self, q: float) -> float | None:
        """The `q` quantile (0..1) of the values kept, None before any."""
        if not self.values:
            return None
        s = self._sorted
        if s is None:
            s = self._sorted = sorted(self.values)
        at = q * (len(s) - 1)
        lo = math.floor(at)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (at - lo)

    def __len__(self) -> int:
        return len(self.values)

    def __getstate__(self) -> dict[str, object]:
        return {"window": self.window, "values": self.values}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._sorted = None


def carried_over(*estimators: object) -> WindowQuantiles:
    """A window seeded with the estimates of river Quantiles from a checkpoint written before these windows.

    Their values are not kept, only the markers: an early, usual and late wake time carried over as three values
    keep a learned routine's quantiles near where they were until the home's own values replace them.
    """
    window = WindowQuantiles()
    for old in estimators:
        get = getattr(old, "get", None)
        value = get() if callable(get) else None
        if isinstance(value, int | float) and math.isfinite(value):
            window.update(value)
    return window
