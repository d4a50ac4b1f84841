"""Sleep: whether the resident is asleep, their usual wake and bed times (recent quantiles), night episodes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from anomaly.const import (
    DAY,
    EPISODE_GAP,
    HOUR,
    MIN,
    NOON,
    PRIOR_BED_NB,
    PRIOR_WAKE_NB,
    SLEEP_STILL,
    UP_SPAN,
    WAKE_RUN,
    WAKE_WRAP,
    WANDER_DWELL,
    WANDER_RECENT,
    WANDER_RECENT_MOVES,
)
from anomaly.quantile import WindowQuantiles, carried_over

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor

CAP = 1_000_000  # counts of learned values stop here


def wake_value(m: HomeMonitor, t: float) -> float:
    """Epoch `t` as seconds after noon on the wake quantiles' scale: noon to 18:00 counts after the night."""
    nb = m.nb(t)
    return nb + DAY if nb < WAKE_WRAP else nb


class Sleep:
    """The sleep state and the learned night of one resident."""

    __slots__ = (
        "asleep",
        "bed_at",
        "beds",
        "episode_entered",
        "episode_moves",
        "episode_reported",
        "episode_rooms",
        "episode_start",
        "episodes",
        "morning_reported",
        "n_bed",
        "n_episode",
        "n_wake",
        "night_visits",
        "sleep_onset",
        "up_at",
        "up_day",
        "up_first",
        "wake_day",
        "wakes",
    )

    def __init__(self) -> None:
        self.asleep = False
        self.sleep_onset: float | None = None
        self.wake_day = -1.0
        self.bed_at = PRIOR_BED_NB  # the usual bedtime, cached (seconds after noon)
        self.up_first = -math.inf  # today's first trigger outside the bedroom after the early wake time
        self.up_day = -math.inf  # the day (its local midnight) the resident was seen up without a 20-minute run
        self.up_at = -math.inf  # ... and since when
        self.morning_reported = -1.0
        self.episode_start: float | None = None
        self.episode_rooms = 0
        # When the episode last left a room it had stayed in a minute or more (the last WANDER_RECENT_MOVES).
        self.episode_moves: list[float] = []
        self.episode_entered = -math.inf  # ... and when it entered the room it is in
        self.episode_reported = False
        self.night_visits = 0
        self.wakes = WindowQuantiles()  # wake times, seconds after noon (`wake_value`)
        self.beds = WindowQuantiles()  # sleep onsets, seconds after noon
        self.episodes = WindowQuantiles()  # night episodes' lengths, seconds
        self.n_wake = self.n_bed = self.n_episode = 0  # how many values the quantiles above have seen

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # Checkpoints written before `episode_moves`, `episode_entered` and `up_at` lack them: an episode in progress
        # then has no recent room changes, and a morning already seen up is learned from its run (`up_at` unset).
        self.episode_moves = []
        self.episode_entered = -math.inf
        self.up_at = -math.inf
        values = dict(state[1])
        # Checkpoints written before the windows kept river's P-square Quantiles: their estimates seed the windows.
        old = {name: values.pop(name, None) for name in ("wake_lo", "wake_q", "wake_hi", "bed_q", "bed_lo", "bed_hi")}
        wander = values.pop("wander_q", None)
        if "wakes" not in values:
            self.wakes = carried_over(old["wake_lo"], old["wake_q"], old["wake_hi"])
            self.beds = carried_over(old["bed_lo"], old["bed_q"], old["bed_hi"])
            self.episodes = carried_over(wander)
        for name, value in values.items():
            setattr(self, name, value)

    def restless(self, now: float) -> bool:
        """Whether the night episode still changes rooms: WANDER_RECENT_MOVES in its later half (or WANDER_RECENT)."""
        moves, start = self.episode_moves, self.episode_start
        if len(moves) < WANDER_RECENT_MOVES or start is None:
            return False
        # Half the episode so far: a sparse kit sees a wandering night change rooms every quarter of an hour, a rich
        # one every few minutes; an early riser's walk to breakfast is all at its start.
        return now - moves[-WANDER_RECENT_MOVES] <= max(WANDER_RECENT, (now - start) / 2)

    def wake_nb(self) -> float:
        """The usual wake time, seconds after noon (past DAY for a riser after noon: compare `wake_value` of a time)."""
        return float(self.wakes.get(0.5) or 0.0) if self.n_wake >= 3 and self.wakes else PRIOR_WAKE_NB

    def wake_hi_nb(self) -> float:
        """A late wake time (90th percentile)."""
        return float(self.wakes.get(0.9) or 0.0) if self.n_wake >= 5 and self.wakes else PRIOR_WAKE_NB + HOUR

    def wake_lo_nb(self) -> float:
        """An early wake time (10th percentile)."""
        return float(self.wakes.get(0.1) or 0.0) if self.n_wake >= 5 and self.wakes else PRIOR_WAKE_NB - HOUR

    def bed_nb(self) -> float:
        """The usual bed time, seconds after noon."""
        return float(self.beds.get(0.5) or 0.0) if self.n_bed >= 3 and self.beds else PRIOR_BED_NB

    def end_episode(self, last_act: float | None) -> None:
        """A night episode is over: learn its length."""
        if self.episode_start is not None and last_act is not None:
            self.n_episode = min(self.n_episode + 1, CAP)
            self.episodes.update(max(last_act - self.episode_start, 0.0))
        self.episode_start = None
        self.episode_rooms = 0
        self.episode_moves = []
        self.episode_reported = False


def deep_night(m: HomeMonitor, t: float) -> bool:
    """Whether `t` lies in the core of this resident's usual night."""
    s = m.sleep
    nb = wake_value(m, t)
    return s.bed_nb() + 30 * MIN <= nb <= min(s.wake_lo_nb(), s.wake_nb() - HOUR) - 30 * MIN


def up_sign(m: HomeMonitor, t: float, room: int | None) -> None:
    """A sign of being up that a 20-minute run may miss: the front door, or moving about outside the bedroom."""
    s = m.sleep
    if wake_value(m, t) < s.wake_lo_nb():
        return
    if room is None:
        _up(m, t)
    elif not m.kit.is_sleepy(room):
        if s.up_first < m.day_start:
            s.up_first = t
        elif t - s.up_first >= UP_SPAN:
            _up(m, s.up_first)


def _up(m: HomeMonitor, since: float) -> None:
    """Up today since `since`, with or without a 20-minute run: when the morning is learned, it is learned from here."""
    s = m.sleep
    s.up_day = m.day_start
    if s.up_at < m.day_start:
        s.up_at = since


def back_in_bed(m: HomeMonitor) -> None:
    """The bed mat pressed again while asleep: a sign of being up seen before was a trip (the toilet at 05:45)."""
    m.sleep.up_at = -math.inf


def night_activity(m: HomeMonitor, t: float, moved_room: bool) -> None:
    """Movement while asleep: a night episode (toilet, wandering) or, outside the deep night, getting up."""
    s = m.sleep
    if t - m.where.run_start >= WAKE_RUN and not deep_night(m, t):
        if _nights_sleep(m, t):
            woke(m, t)  # the morning, however late
        else:
            s.asleep = False  # an evening nap is over
            s.sleep_onset = None
            s.end_episode(m.where.last_act)
        return
    if s.episode_start is None:
        s.episode_start = t
        s.episode_rooms = 0
        s.episode_moves = []
        s.episode_entered = -math.inf  # (the room slept in: its stay is the night's)
        s.night_visits += 1
    if moved_room:
        s.episode_rooms += 1
        if t - s.episode_entered >= WANDER_DWELL:
            # (PIRs either side of a doorway flicker for minutes as someone stands in it: a room left within seconds
            # was never entered, and the walk counts once.)
            s.episode_moves = [*s.episode_moves, t][-WANDER_RECENT_MOVES:]
        s.episode_entered = t


def _nights_sleep(m: HomeMonitor, t: float) -> bool:
    """Whether the sleep ending at `t` was the night's: it ends in the small hours or the morning, or it began
    before the last midnight or in the small hours after it (a sleep begun this afternoon or evening is a nap).
    """
    if m.nb(t) > NOON:
        return True
    onset = m.sleep.sleep_onset
    return onset is not None and (onset < m.day_start or m.nb(onset) > NOON)


def woke(m: HomeMonitor, t: float) -> None:
    """The resident got up for the day: learn the wake and bed times and the night's visits."""
    s = m.sleep
    s.asleep = False
    day = m.day_start
    if s.wake_day != day:
        s.wake_day = day
        wake = m.where.run_start
        if s.up_at >= day:
            # Seen up before the run: an interval kit's bed released at 11:31 and its first 20-minute run at 15:12
            # (learned from the run, a late riser's mornings drifted past noon and hid the next real ones).
            wake = min(wake, s.up_at)
        at = wake_value(m, wake)
        if at >= NOON:
            # Between midnight and 18:00. A day in bed until the evening ends the night, but is no morning: learned
            # as one, it dragged the early wake time to 03:00 and the night (and its exits) ended there.
            s.n_wake = min(s.n_wake + 1, CAP)
            s.wakes.update(at)
        if s.sleep_onset is not None:
            s.n_bed = min(s.n_bed + 1, CAP)
            s.beds.update(m.nb(s.sleep_onset))
            s.bed_at = s.bed_nb()
        m.trends.night(t, s.night_visits)
    s.sleep_onset = None
    s.night_visits = 0
    s.end_episode(m.where.last_act)


def check(m: HomeMonitor, now: float, nxt: list[float]) -> None:
    """Fall asleep after long enough stillness in a sleeping place in the evening or night; end quiet episodes."""
    s, w, kit = m.sleep, m.where, m.kit
    last = w.last_act
    assert last is not None
    if s.asleep:
        if s.episode_start is not None and now - last >= EPISODE_GAP:
            s.end_episode(w.last_act)
        elif s.episode_start is not None:
            nxt.append(last + EPISODE_GAP)
        return
    if m.mat_ok(now) and not w.in_bed:
        return  # a home with a bed mat to believe: asleep is in bed (an evening in the armchair is not sleep)
    if not kit.is_sleepy(w.last_room) and kit.sees_bed and not deep_night(m, last):
        # With no bedroom sensor, sleep is stillness wherever the resident was last seen; in the core of the
        # night it is too (a bedroom PIR that missed them going to bed).
        return
    if m.mat_ok(now) and not w.in_bed and w.last_room < len(kit.rooms) and kit.sleepy[w.last_room]:
        return  # an empty bed: stillness in the bedroom is not sleep (a fall on getting up looks like this)
    nb = wake_value(m, last)
    if not (s.bed_nb() - 2 * HOUR <= nb <= s.wake_nb()):
        return
    if now - last >= SLEEP_STILL:
        s.asleep = True
        s.sleep_onset = last
        s.episode_start = None
    else:
        nxt.append(last + SLEEP_STILL)
