"""Why a long lie went unraised: the engine's own answer (`inactivity.explain`) at its last check during the lie.

`--bound` says how far any stillness rule could go; this says where the engine itself stood, one of
`inactivity.WHY_*` (worded in WHY_TEXT): a limit past the lie (the model's), the operator's ceiling (the model finds
such silences ordinary beyond it), the ceiling for a silent sensor or a first night asleep, an earlier alarm's quiet
episode not re-armed, the resident taken as out, the agent offline, a PIR still on.
"""

from __future__ import annotations

import bisect
from collections import Counter
from statistics import median
from typing import TYPE_CHECKING, Any

from anomaly.detectors import inactivity
from evaluation.scoring import DETECTS, HomeScore, Label, scored_type

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor

UNCHECKED = "unchecked"  # no check ran during the lie (none was due)
# The report's words for each answer, in the order it lists them.
WHY_TEXT = {
    inactivity.WHY_LIMIT: "a limit past the lie's end",
    inactivity.WHY_CEILING: "limit at the operator's ceiling",
    inactivity.WHY_BLIND: "the ceiling, a sensor there being silent",
    inactivity.WHY_ASLEEP: "the ceiling, asleep in a first night",
    inactivity.WHY_QUIET: "an earlier alarm not yet re-armed",
    inactivity.WHY_AWAY: "taken as out",
    inactivity.WHY_OFFLINE: "the home's agent offline",
    inactivity.WHY_HELD: "a PIR still on",
    inactivity.WHY_NO_MOMENT: "no movement seen yet",
    UNCHECKED: "no check during the lie",
}


class LieWatch:
    """A replay probe: the engine's last `explain` answer during each long lie (30 min or more) of a home."""

    def __init__(self, labels: list[Label]) -> None:
        lies = sorted((lab.start, lab.end, i) for i, lab in enumerate(labels) if scored_type(lab) == "long_lie")
        self.starts = [a for a, _b, _i in lies]
        self.lies = lies
        # The latest end among the lies begun so far: the walk back from `now` stops where no earlier lie reaches it.
        self.reach: list[float] = []
        for _a, b, _i in lies:
            self.reach.append(max(b, self.reach[-1]) if self.reach else b)
        self.answers: dict[int, tuple[str, float | None]] = {}  # label position -> the last answer during it

    def __call__(self, m: HomeMonitor, now: float) -> None:
        """Note the engine's answer for every lie `now` falls in (lies may overlap, or repeat one another)."""
        j = bisect.bisect_right(self.starts, now) - 1
        answer: tuple[str, float | None] | None = None
        while j >= 0 and self.reach[j] >= now:
            _a, b, i = self.lies[j]
            if now <= b:
                answer = answer or inactivity.explain(m, now)
                self.answers[i] = answer
            j -= 1

    def misses(self, labels: list[Label], score: HomeScore) -> list[tuple[str, float | None]]:
        """(why, limit in minutes or None) for each long lie `score` did not find, in label order."""
        scored = [i for i, lab in enumerate(labels) if scored_type(lab) in DETECTS]  # one `score.hits` entry each
        out = []
        for i, (typ, _when, delay) in zip(scored, score.hits, strict=True):
            if typ == "long_lie" and delay is None:
                out.append(self.answers.get(i, (UNCHECKED, None)))
        return out


def summarise_misses(scores: list[HomeScore]) -> dict[str, Any]:
    """How many missed long lies each answer accounts for, with the median limit where there was one."""
    by: Counter[str] = Counter(why for s in scores for why, _ in s.misses)
    limits: dict[str, list[float]] = {}
    for s in scores:
        for why, limit in s.misses:
            if limit is not None:
                limits.setdefault(why, []).append(limit)
    return {
        why: {"lies": by[why], "median_limit_min": round(median(limits[why])) if why in limits else None}
        for why in WHY_TEXT
        if by[why]
    }


def misses_line(missed: dict[str, Any]) -> str:
    """One line of the report: the missed long lies by the engine's answer."""
    parts = []
    for why, v in missed.items():
        lim = f" (median limit {v['median_limit_min']} min)" if v["median_limit_min"] is not None else ""
        parts.append(f"{WHY_TEXT[why]}: {v['lies']}{lim}")
    return "missed long lies >= 30 min, by where the engine stood at its last check during the lie: " + "; ".join(parts)
