"""night_exit: the front door opened in the resident's night and nobody has moved inside since."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anomaly.const import MIN, fmt_hm
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


def limit(m: HomeMonitor) -> float:
    """How long after the door the resident may be gone at night: learned night outings, clipped to the limits."""
    lim, tu, w = m.limits, m.tuning, m.where
    base = tu.night_exit_prior_min * MIN
    if w.n_night_out >= 3:
        base = max(base, float(w.night_outs.get(0.9) or 0.0) * 1.5)
    base *= m.scale.get(FindingKind.NIGHT_EXIT, 1.0)
    return min(max(base, lim.night_exit_floor_min * MIN), lim.night_exit_ceiling_min * MIN)


def check(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Raise night_exit once per exit when the limit has passed."""
    w = m.where
    if w.exit_pending is None or w.exit_reported is not None:
        return
    ref = w.door_open_since if w.door_open_since is not None else w.door_closed_at
    ref = w.exit_pending if ref is None else ref
    lim = limit(m)
    if now < ref + lim:
        nxt.append(ref + lim)
        return
    w.exit_reported = w.exit_pending
    ev = {
        "door_opened": m.dt(w.exit_pending).isoformat(),
        "door_open": w.door_open_since is not None,
        "gone_min": round((now - w.exit_pending) / MIN),
        "limit_min": round(lim / MIN),
        "usual_bed": fmt_hm(m.sleep.bed_nb()),
        "usual_wake": fmt_hm(m.sleep.wake_nb()),
    }
    out.append(m.finding(FindingKind.NIGHT_EXIT, Severity.CRITICAL, now, w.exit_pending, ev))
