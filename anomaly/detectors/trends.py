"""The slow detectors: a decline in daily activity and restless nights, as CUSUMs over learned daily values."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from anomaly.const import HOUR
from anomaly.estimators import Cusum
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


class Trends:
    """Today's tallies, the days learned, and the two CUSUMs."""

    __slots__ = ("activity", "days_learned", "restless", "restless_due", "today_active", "today_away_s")

    def __init__(self) -> None:
        self.activity = Cusum(direction=-1, slack=0.5, threshold=5.0)
        self.restless = Cusum(direction=+1, slack=0.5, threshold=4.0)
        self.restless_due: float | None = None
        self.today_active = 0
        self.today_away_s = 0.0
        self.days_learned = 0

    def night(self, t: float, visits: int) -> None:
        """A night is over with `visits` episodes: learn it; a drift is reported at the next check."""
        self.restless.learn_one(float(visits))
        if self.restless.drift_detected:
            self.restless_due = t


def day_over(m: HomeMonitor, out: list[Finding]) -> None:
    """The day ended: learn its activity (a day mostly at home) and report a decline."""
    tr = m.trends
    if tr.today_active > 0 and tr.today_away_s < 6 * HOUR:
        tr.days_learned += 1
        tr.activity.learn_one(math.log1p(tr.today_active))
        if tr.activity.drift_detected:
            ev = {
                "active_events": tr.today_active,
                "baseline_events": round(math.expm1(tr.activity.mean)),
                "days_learned": tr.days_learned,
            }
            out.append(m.finding(FindingKind.ACTIVITY_DECLINE, Severity.INFO, m.day_end, m.day_start, ev))
    tr.today_active = 0
    tr.today_away_s = 0.0


def check_restless(m: HomeMonitor, now: float, out: list[Finding]) -> None:
    """Report restless nights once, at the first check after the night that tipped the CUSUM."""
    tr = m.trends
    if tr.restless_due is not None:
        ev = {"night_visits_mean": round(tr.restless.mean, 1), "days_learned": tr.days_learned}
        out.append(m.finding(FindingKind.NIGHT_RESTLESSNESS, Severity.INFO, now, tr.restless_due, ev))
        tr.restless_due = None
