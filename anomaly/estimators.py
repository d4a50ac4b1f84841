"""Small online estimators in river's style: parameters as attributes, `learn_one`/`score_one`, `clone()`.

They are kept tiny on purpose: one home holds dozens of them and its whole state must stay below 32 KB.
"""

from __future__ import annotations

import math
from array import array

from river import base

# Log-spaced gap bins, in minutes: 5 min x 1.3^i, i = 0..19 (5 min to ~2 days), plus an overflow bin.
GAP_MIN_S = 300.0
GAP_RATIO = 1.3
GAP_BINS = 21
_LOG_RATIO = math.log(GAP_RATIO)


def gap_bin(gap_s: float) -> int:
    """The histogram bin of a gap of `gap_s` seconds (gaps below GAP_MIN_S are not binned: -1)."""
    if gap_s < GAP_MIN_S:
        return -1
    return min(int(math.log(gap_s / GAP_MIN_S) / _LOG_RATIO), GAP_BINS - 1)


def bin_low(i: int) -> float:
    """Lower edge of bin `i`, in seconds."""
    return GAP_MIN_S * GAP_RATIO**i


def tail_of(row: list[float], weight: float, interp: bool = True) -> float | None:
    """`GapQuantiles.tail` of a histogram row already summed over contexts."""
    if sum(row) <= 0:
        return None
    above = 0.0
    for b in range(GAP_BINS - 1, -1, -1):
        if above + row[b] >= weight:
            if not interp:
                return float(bin_low(b + 1))
            # Log-uniform within the bin: the point above which `weight` of the counted gaps lie.
            return float(bin_low(b + 1) / GAP_RATIO ** ((weight - above) / row[b]))
        above += row[b]
    return float(GAP_MIN_S)


class GapQuantiles(base.Base):
    """Decaying log-histograms of gaps, one row per context, in one flat float32 array.

    `learn_one(ctx, gap)` counts a gap; `quantile(ctx, q)` reads a high quantile back; `decay()` forgets slowly so
    a changed routine takes over within weeks. Gaps shorter than 5 minutes carry no information about a long lie and
    are not counted.
    """

    def __init__(self, contexts: int = 1, half_life_days: float = 30.0) -> None:
        self.contexts = contexts
        self.half_life_days = half_life_days
        self.counts = array("f", bytes(4 * contexts * GAP_BINS))
        self.visits = array("f", bytes(4 * contexts))  # gaps of a minute or more, long or not: the opportunities

    def grow(self, contexts: int) -> None:
        """Make room for more contexts (a home whose kit shows a new room)."""
        if contexts > self.contexts:
            self.counts.extend(array("f", bytes(4 * (contexts - self.contexts) * GAP_BINS)))
            self.visits.extend(array("f", bytes(4 * (contexts - self.contexts))))
            self.contexts = contexts

    def learn_one(self, ctx: int, gap_s: float, w: float = 1.0) -> None:
        """Count one gap in context `ctx`."""
        if gap_s >= 60.0:
            self.visits[ctx] += w
        b = gap_bin(gap_s)
        if b >= 0:
            self.counts[ctx * GAP_BINS + b] += w

    def total(self, ctx: int) -> float:
        """Weight of gaps counted in a context."""
        i = ctx * GAP_BINS
        return float(sum(self.counts[i : i + GAP_BINS]))

    def quantile(self, ctx: int, q: float) -> float | None:
        """The q-quantile of the gaps counted in `ctx`, in seconds (log-interpolated in its bin); None if empty."""
        i = ctx * GAP_BINS
        row = self.counts[i : i + GAP_BINS]
        total = float(sum(row))
        if total <= 0:
            return None
        target = q * total
        acc = 0.0
        for b, c in enumerate(row):
            if c > 0 and acc + c >= target:
                frac = (target - acc) / c
                return float(bin_low(b) * GAP_RATIO**frac)
            acc += c
        return bin_low(GAP_BINS)

    def opportunities(self, contexts: list[tuple[int, float]]) -> float:
        """Weighted count of gaps of a minute or more over contexts: how much a tail estimate there rests on."""
        return float(sum(w * self.visits[ctx] for ctx, w in contexts))

    def row(self, contexts: list[tuple[int, float]]) -> list[float]:
        """The weighted sum of the histograms of `contexts`, bin by bin."""
        row = [0.0] * GAP_BINS
        for ctx, w in contexts:
            i = ctx * GAP_BINS
            row = [r + w * c for r, c in zip(row, self.counts[i : i + GAP_BINS], strict=True)]
        return row

    def tail(self, contexts: list[tuple[int, float]], weight: float, interp: bool = True) -> float | None:
        """The gap that `weight` counted gaps exceeded, over weighted contexts (None if empty).

        This bounds the expected number of exceedances directly, which a quantile of a few gaps cannot: a limit at
        the tail weight 0.5 was passed by no gap seen (decayed) except at most half of one. `interp` places it
        log-uniformly inside its bin; without, it is the bin's upper edge (the shortest gap that fewer exceeded).
        """
        return tail_of(self.row(contexts), weight, interp)

    def score_one(self, ctx: int, gap_s: float) -> float:
        """Share of counted gaps in `ctx` at least as long as `gap_s` (1.0 when nothing is known)."""
        total = self.total(ctx)
        if total <= 0:
            return 1.0
        b = gap_bin(gap_s)
        if b < 0:
            return 1.0
        i = ctx * GAP_BINS
        return float(sum(self.counts[i + b : i + GAP_BINS])) / total

    def decay(self, days: float = 1.0) -> None:
        """Forget a little: counts lose half their weight every `half_life_days`."""
        f = 0.5 ** (days / self.half_life_days)
        for c in (self.counts, self.visits):
            for i in range(len(c)):
                if c[i]:
                    c[i] *= f


class Cusum(base.Base):
    """One-sided CUSUM of standardised values against a slowly learned baseline (Page 1954).

    `learn_one(x)` updates the baseline (only while no change is suspected) and the cumulative sum; `score_one()`
    is the current sum, and `drift_detected` turns true once it passes `threshold` after `grace` values.
    `direction=-1` watches for a drop (activity decline), `+1` for a rise (night restlessness).
    """

    def __init__(
        self, direction: int = -1, slack: float = 0.5, threshold: float = 4.0, alpha: float = 0.05, grace: int = 7
    ) -> None:
        self.direction = direction
        self.slack = slack
        self.threshold = threshold
        self.alpha = alpha
        self.grace = grace
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.sum = 0.0
        self.drift_detected = False

    def learn_one(self, x: float) -> None:
        """Take one value (e.g. one day's activity)."""
        self.n += 1
        if self.n == 1:
            self.mean = x
            return
        sd = math.sqrt(self.var) if self.var > 0 else max(abs(self.mean) * 0.1, 1e-6)
        z = (x - self.mean) / sd
        if self.n > self.grace:
            self.sum = max(0.0, self.sum + self.direction * z - self.slack)
        self.drift_detected = self.sum > self.threshold
        if self.drift_detected:
            self.sum = 0.0
        if self.sum < self.threshold / 2 or self.n <= self.grace:
            # The baseline learns only from values that do not look like the change being watched for.
            a = 1.0 / self.n if self.n <= self.grace else self.alpha
            d = x - self.mean
            self.mean += a * d
            self.var = (1 - a) * (self.var + a * d * d)

    def score_one(self) -> float:
        """The current cumulative sum."""
        return self.sum
