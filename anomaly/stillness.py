"""The stillness model: how long this resident's home is normally quiet after each kind of moment.

A moment is the *context* of a silence: which sensor fired last and with what value (a PIR clearing, a bed mat
released, the front door closing), which mat is still pressed (a seat or a bed; a cupboard left open holds no one),
and the quarter of the day. For every context the model keeps a decayed count of how often it occurred and a
log-histogram of the silences (gaps to the next event) that followed it. From these it answers one question: *how
often, per day, does this home normally go quiet for at least `t` after such a moment?* (`rate`). A silence is
reported when that rate drops below the home's level (`level`), which is set once per day so that the expected number
of false alarms over all contexts equals the home's budget (`budget_per_60d`, default 1 per 60 days).

Why contexts rather than rooms: a quiet sensor says something about its own place only. After a bed mat is released
at night the resident is always walking within seconds, so ten quiet minutes there are already improbable; after the
bedside PIR blips during sleep, an hour is ordinary. A mat pressed far longer than it ever is (a body on a floor mat)
is a context whose silences are always short. A seat mat pressed for hours is a context whose silences are long.
None of this needs the mat's role: it is learned from how the home behaves, and given roles only name contexts.

Sparse contexts borrow from broader ones (hierarchical shrinkage, as in empirical Bayes): the share of silences longer
than `t` in a context is `(x + a * p_parent) / (n + a)`, with `x` the (decayed) silences longer than `t`, `n` all of
the context's silences and `a` = `prior_strength`. A context has two parents, crossed: the same sensor and value at
any hour, and every silence of the home in that quarter of the day, in three families (someone resting on a mat,
someone on a mat they step on, nothing held). Their effects on the odds of a long silence are taken as independent, a
log-linear model: the parent's share is the sensor's share times how much longer this quarter's silences run than the
home's whole day's (after the kitchen PIR clears, the kitchen says "seconds"; at 03:00 the quarter says "longer than
by day"). Both lean on the home's whole day, which leans on a population prior, so a new home is usable on day one and
a context seen a week of nights no longer borrows much. Beyond the longest silences seen, a context's tail is a power
law (Pareto) through its longest and its `tail_k`-th longest silence (peaks over threshold; Pickands 1975), so a
context with naps an hour apart gets a wide margin and a bathroom a narrow one.

River conventions: parameters are constructor attributes; `learn_one` / `score_one`; `clone()` from `river.base`.

Over 400 lines on purpose: the counts (`Node`), their reading (share, tail, limit) and the budget that sets the level
are one model, whose parts only make sense together.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from river import base

MIN_GAP_S = 60.0  # silences shorter than this are counted (they are most of a context's evidence) but not binned
RATIO = 1.4  # log-histogram bins: MIN_GAP_S x 1.4^i, i = 0..21 (1 min to ~27 h), plus an overflow bin
BINS = 23
_LOG_RATIO = math.log(RATIO)
SLOTS = 4  # quarters of the local day: 00-06, 06-12, 12-18, 18-24
NIGHT_SLOTS = (0, SLOTS - 1)  # the night's quarters, 00-06 and 18-24
SLOT_S = 86400.0 / SLOTS
DAY = 86400.0
# Evidence names the longest ordinary silence of about the last month: a silence learned in full counts as seen while
# its decayed weight is what one half-life leaves of it (30 days at the default). A silence alarmed on, learned at a
# quarter until a verdict, never counts on its own; several old ones add up only while recent enough between them.
SEEN_WEIGHT = 0.5
# The prior weighs at least as much as this many moments in a family's pools, whatever the family's pace: a family
# seen once a week (a chair) weighed its prior as a fraction of one moment, and its one 30-min silence set the next
# sitting's limit at the 20-min floor.
PRIOR_MIN_MOMENTS = 3.0
# The families a moment's quarter and day pools are kept in (`StillnessModel._family`).
FAMILY_RESTING, FAMILY_STEPPED = "held", "stepped"
LIMIT_GRID = 8  # steps from floor to ceiling on which a limit is first looked for (x1.56 each at 20 min - 12 h)


def bin_of(gap_s: float) -> int:
    """The histogram bin of a silence of `gap_s` seconds (-1 below MIN_GAP_S)."""
    if gap_s < MIN_GAP_S:
        return -1
    return min(int(math.log(gap_s / MIN_GAP_S) / _LOG_RATIO), BINS - 1)


def _harmonic(k: float) -> float:
    """H_k, how many spreads the longest of `k` Pareto exceedances of a threshold lies above it, on average.

    The divisor of the spread's estimate when a tail is anchored at the minute itself (`tail_k` or fewer silences of
    a minute or more); here ln(k + 1/2) + Euler's gamma, within 2 % for k >= 1. Dividing by ln k there, as for an
    order statistic, made the spread blow up as k fell towards 1: a fridge opened 13 times, twice held a minute or
    two, read a silence of 20 min after it as one opening in 130. Anchored at the `tail_k`-th longest (an order
    statistic), the divisor stays ln k, about 24 % under H_(k-1): a heavier tail than the longest's expectation, a
    margin the budget share relies on (made consistent there too, false alarms rose by a third to nearly double on
    every source; docs/anomaly-history.md). (`Node.exceed` blends the two from `tail_k` to twice as many silences,
    so they meet without a step.)
    """
    return math.log(k + 0.5) + 0.5772156649015329


def _pareto(t: float, k: float, anchor: float, top: float, spacing: float, min_spread: float) -> float:
    """`k` silences past `anchor`, the longest at `top`: how many a power law through them puts past `t`."""
    spread = max(math.log(top / anchor) / spacing, min_spread) if k > 1.0 else min_spread
    return float(k * (anchor / t) ** (1.0 / spread))


def bin_low(i: int) -> float:
    """The lower edge of bin `i`, in seconds."""
    return MIN_GAP_S * RATIO**i


@dataclass(frozen=True, slots=True)
class Context:
    """The moment a silence began: the last event's sensor and value, the sensor still held on, the day quarter."""

    sensor: str
    value: str
    held: str
    slot: int

    def describe(self) -> str:
        """A short human-readable form for evidence and summaries."""
        held = f" (held: {self.held})" if self.held and self.held != self.sensor else ""
        return f"{self.sensor}={self.value}{held} {self.slot * 6:02d}-{self.slot * 6 + 6:02d}h"


class Node:
    """Decayed counts of one context: all its silences, and a log-histogram of those of a minute or more."""

    __slots__ = ("_tail", "hist", "n")

    def __init__(self) -> None:
        self.n = 0.0
        self.hist: array[float] | None = None
        # (tail_k, total, anchor, top) of the last tail read: limits are read far more often than long silences
        # arrive, so the histogram walk is done once per change (not part of the state).
        self._tail: tuple[float, float, float, float] | None = None

    def __getstate__(self) -> tuple[float, bytes | None]:
        return (self.n, None if self.hist is None else self.hist.tobytes())

    def __setstate__(self, state: tuple[float, bytes | None]) -> None:
        self.n = state[0]
        self.hist = None
        self._tail = None
        if state[1] is not None:
            self.hist = array("f")
            self.hist.frombytes(state[1])

    def learn(self, gap_s: float, w: float, b: int | None = None) -> None:
        """Count one silence at weight `w` (a negative weight takes back one counted before, never below none).

        `b` is its bin when the caller already knows it (a silence is counted in four nodes at once).
        """
        self.n = max(self.n + w, 0.0)
        if gap_s >= MIN_GAP_S:
            if self.hist is None:
                self.hist = array("f", bytes(4 * BINS))
            b = bin_of(gap_s) if b is None else b
            self.hist[b] = max(self.hist[b] + w, 0.0)
            self._tail = None

    def decay(self, f: float) -> None:
        """Multiply every count by `f`."""
        self.n *= f
        if self.hist is not None:
            for i in range(BINS):
                self.hist[i] *= f
            self._tail = None

    def longest(self, weight: float = 1.0) -> float:
        """The silence that `weight` (decayed) silences exceeded, log-interpolated in its bin (0 if none)."""
        h = self.hist
        if h is None:
            return 0.0
        above = 0.0
        for b in range(BINS - 1, -1, -1):
            c = h[b]
            if c > 0 and above + c >= weight:
                return float(bin_low(b + 1) / RATIO ** ((weight - above) / c))
            above += c
        return 0.0

    def top_seen(self, weight: float) -> float:
        """The middle (in log time) of the highest bin that silences weighing `weight` together reach (0 if none).

        The histogram keeps no more than a silence's bin: its middle is within 18 % of the silence.
        """
        h = self.hist
        if h is None:
            return 0.0
        above = 0.0
        for b in range(BINS - 1, -1, -1):
            above += h[b]
            if h[b] > 0 and above >= weight:
                return bin_low(b) * math.sqrt(RATIO)
        return 0.0

    def exceed(self, t: float, tail_k: float, min_spread: float) -> float:
        """Decayed number of silences longer than `t` seconds, with a heavy tail past the longest ones.

        Past the `tail_k`-th longest silence (or, with fewer, past one minute) the count falls as a power of `t`
        through the longest one, with a spread (log-time scale) of at least `min_spread`: a silence of hours varies
        by tens of minutes from one day to the next, one of minutes by seconds.
        """
        h = self.hist
        if h is None:
            return 0.0
        tail = self._tail
        if tail is None or tail[0] != tail_k:
            total = float(sum(h))
            k = min(tail_k, total)
            anchor = self.longest(k) if k < total else MIN_GAP_S
            top = self.longest(1.0) if k > 1.0 else anchor
            tail = self._tail = (tail_k, total, anchor, top)
        _, total, anchor, top = tail
        if t < MIN_GAP_S or total <= 0:
            return total
        # A heavy tail, exponential in log time (Pareto): human inter-event times are heavy-tailed (Barabasi, "The
        # origin of bursts and heavy tails in human dynamics", Nature 2005); an exponential tail through a context's
        # few longest silences read a nap now and then as impossible and alarmed on the next one.
        from_minute = _pareto(t, total, MIN_GAP_S, top, _harmonic(total), min_spread) if total < 2.0 * tail_k else 0.0
        if total <= tail_k:
            return from_minute
        if t >= anchor:
            x = _pareto(t, tail_k, anchor, top, math.log(tail_k), min_spread)
        else:
            b = bin_of(t)
            # Log-uniform within the bin holding t.
            x = float(sum(h[b + 1 :])) + h[b] * math.log(bin_low(b + 1) / t) / _LOG_RATIO
        if total < 2.0 * tail_k:
            # The two readings differ in anchor and divisor: from `tail_k` to twice as many silences, blend from the
            # minute's into the order statistic's, so a moment whose counts decay across `tail_k` does not see its
            # limit jump (the count past an hour of one moment went 0.32 -> 0.72 at a hair over 4 silences).
            w = (total - tail_k) / tail_k
            x = (1.0 - w) * from_minute + w * x
        return x


class StillnessModel(base.Base):
    """Per-home survival of silences by context, pooled towards broader contexts; see the module docstring.

    `learn_one(ctx, gap_s)` counts a silence that followed context `ctx`; `score_one(ctx, still_s)` is the normal
    rate (per day) of silences at least that long after such a moment; `limit(ctx)` is the silence at which that
    rate falls to the home's level; `new_day()` decays the counts and resets the level from the budget.
    """

    def __init__(
        self,
        budget_per_60d: float = 1.0,
        prior_strength: float = 0.5,
        prior_days: float = 3.0,
        tail_k: float = 4.0,
        min_spread: float = 0.15,
        half_life_days: float = 30.0,
        prior_share_day: float = 0.05,
        prior_share_night: float = 0.2,
        prior_scale_day_s: float = 3600.0,
        prior_scale_night_s: float = 9000.0,
        warmup_days: float = 2.0,
        floor_s: float = 1200.0,
        ceiling_s: float = 12 * 3600.0,
    ) -> None:
        self.budget_per_60d = budget_per_60d
        self.prior_strength = prior_strength
        # The population prior weighs as much as this many days of the home's own silences in a quarter of the day:
        # a first night's few long silences must not set the tail, while a month of them mostly does.
        self.prior_days = prior_days
        self.tail_k = tail_k
        self.min_spread = min_spread
        self.half_life_days = half_life_days
        # Population prior for a silence after a random event of a home: this share of events is followed by a
        # minute or more of silence, and its tail falls off exponentially; at night both are larger (sleep).
        self.prior_share_day = prior_share_day
        self.prior_share_night = prior_share_night
        self.prior_scale_day_s = prior_scale_day_s
        self.prior_scale_night_s = prior_scale_night_s
        # For a home's first days, no limit is shorter than the population prior's alone: a first night's handful of
        # short silences says little about how long its silences can be.
        self.warmup_days = warmup_days
        self.floor_s = floor_s
        self.ceiling_s = ceiling_s
        self.nodes: dict[tuple[str, str, str, int], Node] = {}
        self.stepped: set[str] = set()  # mats the resident steps on rather than rests on (`Kit.rests`)
        self.days = 0.0  # decayed days of history: turns counts into rates
        self.level = self.budget_per_60d / 60.0  # rate per context at which a silence is reported (set by new_day)
        self._limits: dict[Context, float] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.stepped = set()  # (checkpoints from before mats were told apart: every held mat rests until stepped on)
        self.__dict__.update(state)

    # --- learning ------------------------------------------------------------------------------------------------

    def _keys(self, ctx: Context) -> tuple[tuple[str, str, str, int], ...]:
        # The context, the same moment at any hour, and the home's quarter of the day, in the moment's family: with
        # someone resting on a mat (silences of hours are ordinary), stepping on one, or nothing held (after a fridge
        # door closes the resident is usually somewhere else within minutes). One family's long silences must not
        # make another's look ordinary.
        family = self._family(ctx)
        return (
            (ctx.sensor, ctx.value, ctx.held, ctx.slot),
            (ctx.sensor, ctx.value, ctx.held, -1),
            ("", "", family, ctx.slot),
            ("", "", family, -1),
        )

    def _family(self, ctx: Context) -> str:
        """Whose long silences a moment's pools hold: someone resting on a mat, someone stepping on one, nobody."""
        if not ctx.held:
            return ""
        return FAMILY_STEPPED if ctx.held in self.stepped else FAMILY_RESTING

    def resting(self, ctx: Context) -> bool:
        """Whether the moment has someone resting on a mat (a bed, a seat): the night's prior and ceiling apply."""
        return self._family(ctx) == FAMILY_RESTING

    def learn_one(self, ctx: Context, gap_s: float, w: float = 1.0) -> None:
        """Count one silence of `gap_s` seconds that followed a moment of context `ctx`."""
        if w <= 0.0:
            return  # teaches nothing, and a node with no weight would have no share to read
        b = bin_of(gap_s)
        for key in self._keys(ctx):
            node = self.nodes.get(key)
            if node is None:
                node = self.nodes[key] = Node()
            node.learn(gap_s, w, b)
        if b >= 0:
            # A silence of a minute or more moves the tails of its context, its sensor, its quarter and the whole
            # day: limits worked out before it are stale. Kept for the day, a home's fourth afternoon alarmed on its
            # kitchen at 26 min, a length the model by then expected 12 times in 60 days.
            self._limits.clear()

    def relearn(self, ctx: Context, gap_s: float, dw: float) -> None:
        """Weigh a silence learned before by `dw` more (a responder's verdict on it), at once."""
        b = bin_of(gap_s)
        for key in self._keys(ctx):
            node = self.nodes.get(key)
            if node is None:
                if dw <= 0.0:
                    continue
                node = self.nodes[key] = Node()
            node.learn(gap_s, dw, b)
        self._limits.clear()  # (limits are otherwise kept until a long silence is learned or the day ends)

    def day_factor(self) -> float:
        """What is left of a count after a day: half of it after `half_life_days`."""
        return float(0.5 ** (1.0 / self.half_life_days))

    def new_day(self) -> None:
        """A day has passed: forget a little, then set the level that spends the budget over every context."""
        f = self.day_factor()
        self.days = self.days * f + 1.0
        for node in self.nodes.values():
            node.decay(f)
        self._limits.clear()
        self.level = self._calibrate()

    # --- reading -------------------------------------------------------------------------------------------------

    def _prior_params(self, slot: int, held: bool) -> tuple[float, float]:
        """(share, scale) of the population prior: at night, or with someone on a mat at any hour, the night's."""
        if held or slot in NIGHT_SLOTS:
            return self.prior_share_night, self.prior_scale_night_s
        return self.prior_share_day, self.prior_scale_day_s

    def _prior(self, t: float, slot: int, held: bool = False) -> float:
        share, scale = self._prior_params(slot, held)
        return share * math.exp(-max(t - MIN_GAP_S, 0.0) / scale)

    def _share(self, key: tuple[str, str, str, int], t: float, parent: float) -> float:
        """Shrunk share of silences longer than `t` after a moment of `key`, towards `parent`'s share."""
        node = self.nodes.get(key)
        if node is None:
            return parent
        # The home's quarter-day pool leans on the population prior by days of history; contexts on their pool by
        # a fixed number of moments (a context seen a few dozen times without a long silence is trusted).
        a = (
            max(self.prior_days * node.n / max(self.days, 1.0), PRIOR_MIN_MOMENTS)
            if not key[0]
            else self.prior_strength
        )
        x = node.exceed(t, self.tail_k, self.min_spread)
        return (x + a * parent) / (node.n + a)

    def share(self, ctx: Context, t: float) -> float:
        """The probability that a moment of context `ctx` is followed by a silence longer than `t` seconds."""
        own, sensor, quarter, day = self._keys(ctx)
        whole = self._share(day, t, self._prior(t, ctx.slot, self.resting(ctx)))
        if whole <= 0.0:
            parent = self._share(sensor, t, whole)
        else:
            # Crossed parents (see the module docstring): the sensor's share, times the quarter's against the day's.
            parent = min(self._share(sensor, t, whole) * self._share(quarter, t, whole) / whole, 1.0)
        # (Counts are float32 in the histograms: a share may land a hair above 1.)
        return min(self._share(own, t, parent), 1.0)

    def occurrences(self, ctx: Context) -> float:
        """How many times a day such a moment occurs (decayed count over decayed days)."""
        node = self.nodes.get((ctx.sensor, ctx.value, ctx.held, ctx.slot))
        n = node.n if node is not None else 0.0
        # A moment never seen still happens now: count it once, so its first silences are judged, not waved through.
        return max(n, 1.0) / max(self.days, 1.0)

    def score_one(self, ctx: Context, still_s: float) -> float:
        """The normal rate, per day, of silences at least `still_s` long after moments of context `ctx`."""
        return self.occurrences(ctx) * self.share(ctx, still_s)

    def limit(self, ctx: Context, keep: bool = True) -> float:
        """The silence (seconds) after which `ctx`'s normal rate falls below the level, within floor and ceiling.

        A limit is kept once worked out, until the model learns a silence of a minute or more or the day ends (the
        level is set daily); `keep=False` works it out without keeping it (a look that must not fix what later
        checks read).
        """
        cached = self._limits.get(ctx)
        if cached is not None:
            return cached
        value = self._first_below_level(ctx)
        if self.days < self.warmup_days:
            value = max(value, self._prior_limit(ctx))
        if not keep:
            return value
        if len(self._limits) > 256:
            self._limits.clear()
        self._limits[ctx] = value
        return value

    def _first_below_level(self, ctx: Context) -> float:
        """The shortest silence, from floor to ceiling, at which `ctx`'s normal rate has fallen to the level.

        The first, not any: the crossed parents (sensor x quarter / day) are a ratio of tails that need not fall
        together, so far out the rate can rise again. Taken at the ceiling, such a rise put a bathroom's limit at 12 h
        though the rate had fallen below the level by 34 min (docs/anomaly-history.md "Seventh round"). Scanned on a
        coarse grid in log time, then bisected within the step that crosses (to 0.1 % of the ceiling/floor ratio).
        """
        lo, hi = self.floor_s, self.ceiling_s
        if self.score_one(ctx, lo) <= self.level:
            return lo
        step = (hi / lo) ** (1.0 / LIMIT_GRID)
        for _ in range(LIMIT_GRID):
            t = min(lo * step, hi)
            if self.score_one(ctx, t) <= self.level:
                hi = t
                break
            lo = t
        else:
            return hi
        for _ in range(10):
            mid = math.sqrt(lo * hi)
            if self.score_one(ctx, mid) > self.level:
                lo = mid
            else:
                hi = mid
        return hi

    def _prior_limit(self, ctx: Context) -> float:
        """Where the population prior alone puts the limit of `ctx` (closed form of its exponential)."""
        resting = self.resting(ctx)
        if resting and ctx.slot in NIGHT_SLOTS:
            return self.ceiling_s  # someone on a mat at night, before a night of theirs is known: asleep, however long
        share, scale = self._prior_params(ctx.slot, resting)
        rate = self.occurrences(ctx) * share
        t = MIN_GAP_S + scale * math.log(rate / self.level) if rate > self.level else self.floor_s
        return min(max(t, self.floor_s), self.ceiling_s)

    def longest(self, ctx: Context) -> float:
        """The longest silence seen lately after such a moment (its own context, else the same sensor at any hour).

        Its bin's middle (`Node.top_seen`). Not `Node.longest(1.0)`: decay takes a silence below a weight of
        one at the first midnight, and the longest ordinary silence then read as the next one down (a basin's 21-min
        silence of the evening before became 4 min).
        """
        for key in self._keys(ctx)[:2]:
            node = self.nodes.get(key)
            if node is not None and node.hist is not None:
                return node.top_seen(SEEN_WEIGHT)
        return 0.0

    def contexts(self) -> Iterator[Context]:
        """Every context learned so far."""
        for sensor, value, held, slot in self.nodes:
            if sensor and slot >= 0:
                yield Context(sensor, value, held, slot)

    def _calibrate(self) -> float:
        """The level at which the expected false alarms over all contexts equal the budget.

        Each context whose normal rate at the floor exceeds the level contributes exactly the level at its limit;
        the others contribute their rate at the floor. Solved by a few fixed-point steps from the whole budget.
        """
        budget = self.budget_per_60d / 60.0
        at_floor = [self.score_one(c, self.floor_s) for c in self.contexts()]
        level = budget
        for _ in range(8):
            above = sum(1 for r in at_floor if r > level)
            below = sum(r for r in at_floor if r <= level)
            if above == 0:
                return budget
            level = max(budget - below, budget * 0.1) / above
        return level

    def expected_false_alarms_per_60d(self) -> float:
        """What the model predicts it will raise in 60 normal days, at today's level, floor and ceiling."""
        total = 0.0
        for c in self.contexts():
            total += min(self.score_one(c, self.floor_s), max(self.level, self.score_one(c, self.ceiling_s)))
        return 60.0 * total
