"""missed_morning: still asleep (no sign of being up) well past this resident's late wake time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anomaly.const import DAY, HOUR, MIN, NOON, fmt_hm
from anomaly.detectors import inactivity
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor

LONG_SLEEP = 9 * HOUR  # a long night: beyond the usual 7-8 h of older adults (Ohayon et al., Sleep 2004)


def check(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Raise missed_morning at most once a day."""
    s = m.sleep
    if not s.asleep or s.morning_reported == m.day_start or s.up_day == m.day_start:
        return
    if inactivity.episode_alarmed(m):
        # The stillness it would report already raised long_inactivity, and the resident has not been about since:
        # one quiet episode, one alert (a stray trigger during an unseen absence looked like going to bed). After
        # agent_offline the morning is still watched, and after an alarm found false once the resident walks about.
        return
    if m.local_s(now) > 15 * HOUR:
        return
    if m.devices.agent_offline_since is not None:
        nxt.append(now + 10 * MIN)  # a silent home is agent_offline's to report, not a missed morning
        return
    late = s.wake_hi_nb()
    if s.n_wake < m.tuning.missed_morning_min_days:
        # Too few mornings to know this resident's: wait for a late riser's late wake time.
        late = max(late, m.tuning.missed_morning_prior_late_h * HOUR + NOON)
    margin = m.limits.missed_morning_margin_min
    due_nb = late + margin * MIN * m.scale.get(FindingKind.MISSED_MORNING, 1.0)
    due = m.day_start + (due_nb + NOON) % DAY
    if s.sleep_onset is not None:
        # Nobody has missed a morning after less than a long night's sleep: a late riser who went to bed at 03:00 is
        # not late at noon, however few mornings are learned yet.
        due = max(due, s.sleep_onset + LONG_SLEEP + margin * MIN)
    last = m.where.last_act
    assert last is not None
    if now >= due and now - last < HOUR:
        nxt.append(last + HOUR)  # moved within the hour: up after all, whatever the sleep state says
    elif now >= due:
        s.morning_reported = m.day_start
        ev = {
            "last_motion": m.dt(last).isoformat(),
            "room": m.kit.room_name(m.where.last_room),
            "usual_wake": fmt_hm(s.wake_nb()),
            "late_min": round((now - due) / MIN + margin),
        }
        out.append(m.finding(FindingKind.MISSED_MORNING, Severity.WARNING, now, last, ev))
    else:
        nxt.append(due)
