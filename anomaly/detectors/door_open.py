"""door_left_open: the front door open longer than this home's limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anomaly.const import MIN
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


def limit(m: HomeMonitor) -> float:
    """The prior, scaled by feedback, clipped to the operator's floor and ceiling."""
    lim = m.limits
    base = m.tuning.door_open_prior_min * MIN * m.scale.get(FindingKind.DOOR_LEFT_OPEN, 1.0)
    return min(max(base, lim.door_open_floor_min * MIN), lim.door_open_ceiling_min * MIN)


def check(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Raise door_left_open once per opening."""
    w = m.where
    since = w.door_open_since
    if since is None or w.door_reported == since:
        return
    lim = limit(m)
    if now < since + lim:
        nxt.append(since + lim)
        return
    w.door_reported = since
    ev = {
        "sensor": min(m.kit.open_exits, key=m.kit.open_exits.__getitem__, default=m.kit.front_door),  # open longest
        "open_min": round((now - since) / MIN),
        "limit_min": round(lim / MIN),
        "presence": w.presence.value,
    }
    out.append(m.finding(FindingKind.DOOR_LEFT_OPEN, Severity.WARNING, now, since, ev))
