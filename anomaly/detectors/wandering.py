"""night_wandering: a night episode moving between rooms for longer than this resident's usual episodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anomaly.const import EPISODE_GAP, MIN, fmt_hm
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


def limit(m: HomeMonitor) -> float:
    """1.5 times the learned long episode (after five), scaled by feedback, between the floor and two hours."""
    base = 40 * MIN
    s = m.sleep
    if s.n_episode >= 5:
        base = max(base, float(s.episodes.get(0.9) or 0.0) * 1.5)
    base *= m.scale.get(FindingKind.NIGHT_WANDERING, 1.0)
    return min(max(base, m.limits.wander_floor_min * MIN), 120 * MIN)


def check(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Raise night_wandering once per episode."""
    s = m.sleep
    start = s.episode_start
    if not s.asleep or start is None or s.episode_reported:
        return
    lim = limit(m)
    # Still up and still changing rooms: an episode that settled, or ended back on the bed mat, is over.
    up = now - m.where.run_last < EPISODE_GAP and not m.where.in_bed
    if now - start >= lim and s.episode_rooms >= 6 and up and s.restless(now):
        s.episode_reported = True
        ev = {
            "up_min": round((now - start) / MIN),
            "room_changes": s.episode_rooms,
            "limit_min": round(lim / MIN),
            "usual_bed": fmt_hm(s.bed_nb()),
        }
        out.append(m.finding(FindingKind.NIGHT_WANDERING, Severity.WARNING, now, start, ev))
    else:
        nxt.append(max(start + lim, now + 5 * MIN))
