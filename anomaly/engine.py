"""Per-home detection as pure state machines: `observe(event)` and `tick(now)` return findings, no I/O.

One `HomeMonitor` per home learns that resident's routine (inactivity gaps by time slot and place, wake and bed
times, night outings and night episodes, daily activity) and raises findings when the present departs from it. Time
is always a parameter, as epoch seconds inside and aware datetimes at the edges, so a replay runs faster than real
time and gives the same answer every run. The live service (`anomaly.service`) and `anxin replay` use this same code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from river import stats

from anomaly.estimators import GAP_BINS, GAP_MIN_S, Cusum, GapQuantiles, gap_bin, tail_of
from contracts import Feedback, Finding, FindingKind, SensorEvent, Severity

DETECTOR = "anxin-routine-v1"
# An event this far behind the clock comes from an agent replaying its queue; inactivity waits until it has settled.
REPLAY_LAG = 120.0
REPLAY_SETTLE = 60.0

SLOT_S = 3 * 3600  # eight 3-hour slots a day
SLOTS = 8
NIGHT_SLOTS = frozenset({0, 1, 6, 7})  # 18:00 to 06:00: the night ceiling applies
MORNING_EDGE = frozenset({1, 2})  # the slots either side of 06:00
MAX_ROOMS = 12  # rooms a home's model keeps apart; more fold into the last one
IN_BED, IN_CHAIR = "in_bed", "in_chair"  # pseudo-rooms while a pressure mat says someone lies or sits
NIGHT_UP = "night_up"  # pseudo-room: out of the bedroom while asleep (a night episode), every room and hour pooled
BEDTIME = "bedtime"  # pseudo-room: out of the bedroom around the usual bedtime, not yet asleep, every room pooled
NOON = 12 * 3600.0
DAY = 86400.0
MIN = 60.0
HOUR = 3600.0
SETTLE = 45.0  # motion in the entrance this soon after a front-door event is the resident passing through it
RUN_GAP = 15 * MIN  # activity with pauses shorter than this is one run
WAKE_RUN = 20 * MIN  # a run this long in the morning means the resident is up
SLEEP_STILL = 30 * MIN  # still this long in the bedroom at night: asleep
EPISODE_GAP = 10 * MIN  # a night episode ends after this long without movement
STRAY_CONFIRM = 10 * MIN  # while away with the front door unused, a second trigger this soon confirms a return
VISIT_STILL = 10 * MIN  # the front door opening after this long without movement inside: someone came in
MAT_STALE = 12 * HOUR  # a bed mat not heard from for this long, with the resident in the bedroom at night: ignored
STIR_S = 5.0  # ... or opening within seconds of the first movement after such stillness (no time to walk there)
VISIT_LEAVE = 4 * HOUR  # ... and the door opening again within this long at night is them leaving
UP_SPAN = 10 * MIN  # triggers outside the bedroom this far apart after the early wake time: up, if not in a 20-min run

# Population priors: inactivity limit in minutes by room class and slot (0-3h, 3-6h, ..., 21-24h).
PRIOR_LIMIT_MIN: dict[str, tuple[float, ...]] = {
    "bathroom": (30, 30, 30, 30, 30, 30, 30, 30),
    "hall": (25, 25, 25, 25, 25, 25, 25, 25),
    "kitchen": (60, 60, 90, 90, 90, 90, 90, 75),
    "living": (180, 180, 150, 180, 180, 180, 180, 180),
    "bedroom": (660, 600, 240, 180, 180, 180, 600, 660),
    "other": (90, 90, 120, 120, 120, 120, 120, 120),
    IN_BED: (720, 660, 300, 240, 240, 240, 300, 720),
    IN_CHAIR: (240, 240, 240, 240, 240, 240, 240, 240),
    NIGHT_UP: (90, 90, 90, 90, 90, 90, 90, 90),
    BEDTIME: (90, 90, 90, 90, 90, 90, 90, 90),
}
# Without a bedroom sensor, sleep is stillness wherever the resident was last seen in the evening.
PRIOR_UNSEEN_BED_MIN: tuple[float, ...] = (600, 540, 240, 0, 0, 0, 480, 660)
PRIOR_BED_NB = 22 * HOUR - NOON  # 22:00, as seconds after noon
PRIOR_WAKE_NB = 6.5 * HOUR + NOON  # 06:30, as seconds after noon
SLEEP_ROOMS = frozenset({"bedroom", IN_BED})
DEVICE_KINDS = frozenset({"battery", "status", "agent", "heartbeat"})


def room_class(room: str) -> str:
    """The prior class of a room name, from words any installer is likely to use."""
    r = room.lower()
    if r in (IN_BED, IN_CHAIR, NIGHT_UP, BEDTIME):
        return r
    for words, cls in (
        (("bath", "toilet", "wc", "shower", "restroom", "卫"), "bathroom"),
        (("bed", "sleep", "卧"), "bedroom"),
        (("kitchen", "cook", "厨"), "kitchen"),
        (("living", "lounge", "sitting", "tv", "dining", "family", "客"), "living"),
        (("entr", "hall", "corridor", "foyer", "door", "porch", "stair"), "hall"),
    ):
        if any(w in r for w in words):
            return cls
    return "other"


class Presence(StrEnum):
    """Where the resident is, as far as the sensors tell."""

    HOME = "home"
    AWAY = "away"


@dataclass(frozen=True)
class HomeLimits:
    """Safety floors and ceilings an operator can set per home; learned thresholds are clipped between them."""

    inactivity_floor_min: float = 20.0
    inactivity_ceiling_day_min: float = 300.0
    inactivity_ceiling_night_min: float = 720.0
    night_exit_floor_min: float = 3.0
    night_exit_ceiling_min: float = 30.0
    door_open_floor_min: float = 10.0
    door_open_ceiling_min: float = 60.0
    missed_morning_margin_min: float = 120.0
    wander_floor_min: float = 25.0
    agent_offline_grace_min: float = 10.0


@dataclass(frozen=True)
class Tuning:
    """How learned statistics become thresholds (the same for every home; tuned on held-out simulated data)."""

    # A context's limit is where the exponential tail fitted through its longest gaps is passed this often a day.
    exceed_per_day: float = 0.0003
    tail_top: float = 1.0  # the tail's anchor: the gap that this (decayed) weight of past gaps exceeded
    tail_fit: float = 4.0  # ... and the gap this weight exceeded, which fixes the tail's scale
    tail_min_scale_min: float = 1.0
    neighbour_weight: float = 0.5  # gaps of the neighbouring slots count this much in a slot's limit
    # Homes without a bathroom sensor, and the entry floor: the gap that less than tail_weight of past gaps exceeded,
    # x gap_margin + gap_margin_add_min.
    tail_weight: float = 0.5
    gap_margin: float = 1.15
    gap_margin_add_min: float = 10.0
    prior_visits: float = 20.0  # gaps of a minute or more in a context that weigh as much as the population prior
    prior_days: float = 5.0  # ... and days learned that weigh as much
    misses_bed_weight: float = 0.05  # (decayed) long night gaps out of bed after which night stillness may be sleep
    half_life_days: float = 30.0  # learned gaps lose half their weight in this many days
    reported_weight: float = 0.25  # a gap that raised an alarm is learned at this weight (a real fall must not teach)
    entry_dwell_s: float = 120.0  # stillness that began this soon after entering a room is "walked in, sat down"
    # Entry gaps (pooled over a slot and its neighbours) needed before their tail is used. Off by default: on held-back
    # data it removed 0.2 false alarms per home per 60 days but missed one more long lie and added 3 min of delay.
    entry_min_visits: float = math.inf
    # Without a bed mat, still in the bedroom at the usual wake time + k x (late - usual wake time), at least + 45 min,
    # is a long_inactivity: only once 14 mornings are learned, on at least this share of days, with a narrow spread.
    morning_spread_k: float = 2.0
    morning_min_late_min: float = 45.0
    morning_min_still_min: float = 30.0
    morning_min_days: float = 14.0
    morning_max_spread_min: float = 150.0  # late minus early wake time (90th - 10th percentile)
    morning_share: float = 0.9
    # missed_morning before this many mornings are learned waits for a wide population late wake time (night owls).
    missed_morning_min_days: float = 7.0
    missed_morning_prior_late_h: float = 10.0
    # Stillness out of the bedroom that began within the bedtime spread (10th-90th percentile), in a room the resident
    # walked straight to bed from this (decayed) often, waits for the morning.
    bed_way_min: float = 3.0
    exit_stray: bool = True  # a lone trigger after the front door closed does not keep the resident at home
    confirm_s: float = 120.0  # a limit passed must still be passed at the next check this much later
    exit_grace_s: float = 600.0  # no movement this long after the front door closed: away
    night_exit_prior_min: float = 6.0
    door_open_prior_min: float = 20.0


@dataclass(frozen=True)
class Options:
    """What an engine needs to build monitors."""

    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    limits: HomeLimits = HomeLimits()
    tuning: Tuning = Tuning()


def _fmt_hm(nb: float) -> str:
    s = int((nb + NOON) % DAY)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


class HomeMonitor:
    """One home's state and learned routine; every method is pure computation on given times."""

    __slots__ = (
        "_tz",
        "activity",
        "agent_offline_since",
        "agent_reported",
        "asleep",
        "away_since",
        "bed_at",
        "bed_hi",
        "bed_lo",
        "bed_q",
        "bed_way",
        "day_end",
        "day_start",
        "days_learned",
        "door_closed_at",
        "door_open_since",
        "door_reported",
        "entry_cache",
        "entry_gaps",
        "episode_reported",
        "episode_rooms",
        "episode_start",
        "exit_pending",
        "exit_reported",
        "front_door",
        "front_entrance",
        "gaps",
        "home",
        "in_bed",
        "inactivity_reported",
        "last_act",
        "last_front_event",
        "last_room",
        "limit_cache",
        "limits",
        "mat",
        "mat_seen",
        "morning_reported",
        "next_check",
        "night_episodes",
        "night_out_q",
        "night_visits",
        "nobs",
        "outing_q",
        "pending_inactivity",
        "presence",
        "recent",
        "replaying_at",
        "restless",
        "restless_due",
        "room_at",
        "rooms",
        "run_last",
        "run_start",
        "scale",
        "sees_bed",
        "sensor_check",
        "sensors",
        "sleep_onset",
        "sleepy",
        "stirred_at",
        "stray_at",
        "today_active",
        "today_away_s",
        "tuning",
        "up_day",
        "up_first",
        "visitor_at",
        "wake_day",
        "wake_hi",
        "wake_lo",
        "wake_q",
        "wander_q",
    )

    def __init__(self, home: str, tz: tzinfo, limits: HomeLimits | None = None, tuning: Tuning | None = None):
        self.home = home
        self._tz = tz
        self.limits = limits or HomeLimits()
        self.tuning = tuning or Tuning()
        self.presence = Presence.HOME
        self.away_since: float | None = None
        self.stray_at: float | None = None  # a lone trigger while away with the front door unused: not yet a return
        self.last_act: float | None = None
        self.last_room = 0
        self.rooms: list[str] = []
        self.sees_bed = False
        self.sleepy: list[bool] = []  # per room: a place where the resident sleeps (bedroom, bed mat)
        self.bed_at = PRIOR_BED_NB  # the usual bedtime, cached (seconds after noon)
        self.in_bed = False
        self.mat = False  # the kit has a bed pressure mat: in bed or not is then known, not guessed
        self.mat_seen = -math.inf  # its last report
        self.front_door: str | None = None
        self.front_entrance = False
        self.door_open_since: float | None = None
        self.door_closed_at: float | None = None
        self.last_front_event = -math.inf
        self.exit_pending: float | None = None
        self.visitor_at: float | None = None
        self.stirred_at = -math.inf  # when the last stillness of VISIT_STILL or more ended
        self.exit_reported: float | None = None
        self.door_reported: float | None = None
        self.inactivity_reported: float | None = None
        self.pending_inactivity: float | None = None
        self.morning_reported = -1.0
        self.up_first = -math.inf  # today's first trigger outside the bedroom after the early wake time
        self.up_day = -math.inf  # the day (its local midnight) the resident was seen up without a 20-minute run
        self.asleep = False
        self.sleep_onset: float | None = None
        self.run_start = -math.inf
        self.run_last = -math.inf
        self.wake_day = -1.0
        self.episode_start: float | None = None
        self.episode_rooms = 0
        self.episode_reported = False
        self.night_episodes = 0
        self.gaps = GapQuantiles(SLOTS * MAX_ROOMS, self.tuning.half_life_days)
        # Stillness right after walking into a room (sat down, lay down for a nap), pooled over rooms per slot.
        self.entry_gaps = GapQuantiles(SLOTS, self.tuning.half_life_days)
        self.entry_cache: list[float] = [0.0] * SLOTS
        self.room_at = -math.inf  # when the resident was first seen in the current room
        self.limit_cache: list[float] = []
        self.wake_q = stats.Quantile(0.5)
        self.wake_hi = stats.Quantile(0.9)
        self.wake_lo = stats.Quantile(0.1)
        self.bed_q = stats.Quantile(0.5)
        self.bed_lo = stats.Quantile(0.1)
        self.bed_hi = stats.Quantile(0.9)
        self.bed_way: list[float] = [0.0] * MAX_ROOMS  # per room: decayed count of walks from it straight to bed
        self.night_out_q = stats.Quantile(0.9)
        self.outing_q = stats.Quantile(0.5)
        self.wander_q = stats.Quantile(0.9)
        self.activity = Cusum(direction=-1, slack=0.5, threshold=5.0)
        self.restless = Cusum(direction=+1, slack=0.5, threshold=4.0)
        self.night_visits = 0
        self.nobs: dict[str, int] = {}  # how many values each quantile above has seen
        self.restless_due: float | None = None
        self.today_active = 0
        self.today_away_s = 0.0
        self.days_learned = 0
        self.day_start = -math.inf
        self.day_end = -math.inf
        self.scale: dict[str, float] = {}
        self.recent: dict[str, int] = {}  # finding id -> gap context, for feedback on inactivity findings
        self.sensors: dict[str, list[Any]] = {}  # sensor -> [kind, first_seen, last_seen, max_gap, battery_low, silent]
        self.sensor_check = -math.inf
        self.agent_offline_since: float | None = None
        self.agent_reported = False
        self.replaying_at: float | None = None
        self.next_check = math.inf
        self._refresh_limits()

    # --- helpers -------------------------------------------------------------------------------------------------

    def _dt(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self._tz)

    def _local_s(self, t: float) -> float:
        """Seconds since local midnight (the day boundaries are cached, so this is one subtraction)."""
        return t - self.day_start if self.day_start <= t < self.day_end else self._dt(t).hour * HOUR

    def _nb(self, t: float) -> float:
        """Local time as seconds after noon (so a night is one interval)."""
        return (self._local_s(t) - NOON) % DAY

    def _room(self, name: str | None) -> int:
        name = (name or "unknown").lower()
        try:
            return self.rooms.index(name)
        except ValueError:
            if len(self.rooms) >= MAX_ROOMS:
                return MAX_ROOMS - 1
            self.rooms.append(name)
            self.sleepy.append(room_class(name) in SLEEP_ROOMS)
            self.sees_bed = self._sees_bed()
            self._refresh_limits()
            return len(self.rooms) - 1

    def _ctx(self, t: float, room: int) -> int:
        if room < len(self.sleepy) and not self.sleepy[room]:
            if self.asleep:
                # Out of the bedroom in the night: one pooled context, so a home learns quickly how often its sensors
                # miss the way back to bed (stillness then is sleep, not a fall).
                return self._room(NIGHT_UP)
            if self.sees_bed and -1.5 * HOUR <= (self._nb(t) - self.bed_at) <= 3 * HOUR:
                # Around bedtime, out of the bedroom: pooled, so a home whose bedroom PIR misses the resident going
                # to bed learns that stillness now may be sleep.
                return self._room(BEDTIME)
        return int(self._local_s(t) // SLOT_S) % SLOTS * MAX_ROOMS + room

    def _entry_gap(self, ctx: int) -> bool:
        """Whether the stillness now began right after the resident walked into an ordinary room (not to sleep)."""
        r = ctx % MAX_ROOMS
        return (
            self.last_act is not None
            and self.last_act - self.room_at < self.tuning.entry_dwell_s
            and not self.asleep
            and r < len(self.sleepy)
            and not self.sleepy[r]
            and self.rooms[r] not in (NIGHT_UP, BEDTIME)
        )

    def _in_bed_room(self, ctx: int, now: float) -> bool:
        """Whether the stillness of context `ctx` is in the bed (mat pressed) or, without a mat, in the bedroom."""
        r = ctx % MAX_ROOMS
        return r < len(self.sleepy) and self.sleepy[r] and (not self._mat_ok(now) or self.in_bed)

    def _mat_ok(self, now: float) -> bool:
        """Whether this home has a bed mat to believe: not one unheard of since long before the resident's bed time.

        A mat that died released would make every night an empty bed; the home is then read as one without a mat
        (stillness in the bedroom at night is sleep) until it reports again, well before `sensor_silent` fires.
        """
        if not self.mat:
            return False
        if now - self.mat_seen < MAT_STALE or self.last_room >= len(self.sleepy) or not self.sleepy[self.last_room]:
            return True
        nb = self._nb(now)
        return not (self._bed_nb() - HOUR <= nb <= self._wake_nb())

    def _morning_due(self, ctx: int, last: float, now: float) -> float | None:
        """The limit ending well past the time a resident without a bed mat is up nearly every day, or None."""
        # A fall on getting up looks like sleeping in; only where sleeping in is rare is stillness then telling.
        tu = self.tuning
        n = self.nobs.get("wake", 0)
        if self.mat or not self.asleep or n < tu.morning_min_days or n < tu.morning_share * self.days_learned:
            return None
        if not self._in_bed_room(ctx, now):
            return None
        wake, hi, lo = self._wake_nb(), self._wake_hi_nb(), self._wake_lo_nb()
        if hi - lo > tu.morning_max_spread_min * MIN:
            return None  # no usual wake time to speak of: sleeping in is not telling
        due = wake + max(tu.morning_spread_k * (hi - wake), tu.morning_min_late_min * MIN)
        nb = self._nb(last)
        if not (lo - 2 * HOUR <= nb <= due):
            return None
        return max(due - nb, tu.morning_min_still_min * MIN)

    def _count(self, key: str) -> None:
        self.nobs[key] = min(self.nobs.get(key, 0) + 1, 1_000_000)

    def _refresh_limits(self) -> None:
        """Recompute each context's inactivity limit: learned tail, blended with the prior, scaled, clipped."""
        tu, lim = self.tuning, self.limits
        out: list[float] = []
        s_all = self.scale.get(FindingKind.LONG_INACTIVITY, 1.0)
        sees_bed = self._sees_bed()
        sees_bath = any(room_class(r) == "bathroom" for r in self.rooms)
        # Days of (decayed) history behind a context and its neighbours, to turn counts of gaps into rates.
        f = 0.5 ** (1.0 / tu.half_life_days)
        days = max((1.0 - f ** max(self.days_learned, 1)) / (1.0 - f), 1.0) * (1.0 + 2 * tu.neighbour_weight)
        for slot in range(SLOTS):
            ceiling = self._ceiling(slot)
            for r in range(MAX_ROOMS):
                room = self.rooms[r] if r < len(self.rooms) else "other"
                cls = room_class(room)
                # With a bed mat, the bedroom outside the bed is a room like any other (sleep is `in_bed`).
                prior = PRIOR_LIMIT_MIN["other" if self.mat and cls == "bedroom" else cls][slot] * MIN
                if not sees_bed:
                    prior = max(prior, PRIOR_UNSEEN_BED_MIN[slot] * MIN)
                ctx = slot * MAX_ROOMS + r
                # This slot and, at half weight, its neighbours: a bedtime at 20:55 or 21:05 is the same habit.
                # Not across 06:00, though: a night's sleep must not lengthen the morning's limits (a fall on getting
                # up would go unseen, and teach the model that such stillness is normal).
                near = [(ctx, 1.0)] + [
                    (n * MAX_ROOMS + r, tu.neighbour_weight)
                    for n in ((slot - 1) % SLOTS, (slot + 1) % SLOTS)
                    if {n, slot} != MORNING_EDGE
                ]
                personal = self._personal_limit(near, days, blind=not sees_bath)
                n = self.gaps.opportunities(near)
                w = n / (n + tu.prior_visits)
                # ... and a home's first days: a context may see its long gaps (a nap) only every other day.
                w = min(w, self.days_learned / (self.days_learned + tu.prior_days))
                value = w * personal + (1 - w) * prior
                value *= s_all * self.scale.get(f"ctx{ctx}", 1.0)
                out.append(min(max(value, lim.inactivity_floor_min * MIN), ceiling))
        self.limit_cache = out
        entry: list[float] = []
        for slot in range(SLOTS):
            near = [(slot, 1.0), ((slot - 1) % SLOTS, tu.neighbour_weight), ((slot + 1) % SLOTS, tu.neighbour_weight)]
            top = self.entry_gaps.tail(near, tu.tail_weight, interp=False)
            if top is None or self.entry_gaps.opportunities(near) < tu.entry_min_visits:
                entry.append(0.0)
                continue
            value = (top * tu.gap_margin + tu.gap_margin_add_min * MIN) * s_all
            entry.append(min(value, self._ceiling(slot)))
        self.entry_cache = entry

    def _ceiling(self, slot: int) -> float:
        """The operator's inactivity ceiling for a slot, in seconds (slots 18-06 use the night one)."""
        lim = self.limits
        return (lim.inactivity_ceiling_night_min if slot in NIGHT_SLOTS else lim.inactivity_ceiling_day_min) * MIN

    def _personal_limit(self, near: list[tuple[int, float]], days: float, blind: bool) -> float:
        """The gap a context's learned tail says is passed `exceed_per_day` times a day (seconds)."""
        tu = self.tuning
        row = self.gaps.row(near)
        top = tail_of(row, tu.tail_top)
        if top is None:
            return GAP_MIN_S
        # Peaks over threshold with exponential excesses: the gaps exceeded by `tail_top` and `tail_fit` (decayed)
        # gaps fix the tail's scale, which is then followed out to the rate wanted. A context whose long gaps are
        # naps (minutes to an hour apart) gets a wide margin; a bathroom (never still for long) a narrow one.
        fit = tail_of(row, tu.tail_fit) or GAP_MIN_S
        scale = max((top - fit) / math.log(tu.tail_fit / tu.tail_top), tu.tail_min_scale_min * MIN)
        limit = top + scale * max(math.log(tu.tail_top / (days * tu.exceed_per_day)), 0.0)
        if blind:
            # Without a bathroom sensor a fall there shows only as stillness in the room seen last, whose tail (trips
            # to unseen rooms) is wide: keep its limit at the plain tail with a margin, accepting more false alarms.
            plain = tail_of(row, tu.tail_weight, interp=False) or GAP_MIN_S
            limit = min(limit, plain * tu.gap_margin + tu.gap_margin_add_min * MIN)
        return limit

    def _bed_unseen(self, last: float) -> bool:
        """Whether stillness out of the bedroom that began at `last` may be the resident gone to bed unseen."""
        if self.nobs.get("bed", 0) < 5:
            return False
        d = self._dt(last)  # to the second: `_nb` rounds a time before today's midnight down to its hour
        nb = (d.hour * HOUR + d.minute * MIN + d.second - NOON) % DAY
        lo, hi = float(self.bed_lo.get() or 0.0), float(self.bed_hi.get() or 0.0)
        if not (lo <= nb <= hi):
            return False
        return self.bed_way[self.last_room] >= self.tuning.bed_way_min

    def _sees_bed(self) -> bool:
        return any(room_class(r) in ("bedroom", IN_BED) for r in self.rooms)

    def _misses_bed(self, ctx: int, gap_s: float) -> bool:
        """Whether stillness out of the bedroom in this pooled context has lasted `gap_s` or more before."""
        i = ctx * GAP_BINS
        return float(sum(self.gaps.counts[i + gap_bin(gap_s) : i + GAP_BINS])) >= self.tuning.misses_bed_weight

    def _wake_nb(self) -> float:
        return float(self.wake_q.get() or 0.0) if self.nobs.get("wake", 0) >= 3 else PRIOR_WAKE_NB

    def _wake_hi_nb(self) -> float:
        return float(self.wake_hi.get() or 0.0) if self.nobs.get("wake", 0) >= 5 else PRIOR_WAKE_NB + HOUR

    def _wake_lo_nb(self) -> float:
        return float(self.wake_lo.get() or 0.0) if self.nobs.get("wake", 0) >= 5 else PRIOR_WAKE_NB - HOUR

    def _bed_nb(self) -> float:
        return float(self.bed_q.get() or 0.0) if self.nobs.get("bed", 0) >= 3 else PRIOR_BED_NB

    def deep_night(self, t: float) -> bool:
        """Whether `t` lies in the core of this resident's usual night."""
        nb = self._nb(t)
        return self._bed_nb() + 30 * MIN <= nb <= min(self._wake_lo_nb(), self._wake_nb() - HOUR) - 30 * MIN

    def _night_exit_limit(self) -> float:
        lim, tu = self.limits, self.tuning
        n = self.nobs.get("night_out", 0)
        base = tu.night_exit_prior_min * MIN
        if n >= 3:
            base = max(base, float(self.night_out_q.get() or 0.0) * 1.5)
        base *= self.scale.get(FindingKind.NIGHT_EXIT, 1.0)
        return min(max(base, lim.night_exit_floor_min * MIN), lim.night_exit_ceiling_min * MIN)

    def _door_limit(self) -> float:
        lim = self.limits
        base = self.tuning.door_open_prior_min * MIN * self.scale.get(FindingKind.DOOR_LEFT_OPEN, 1.0)
        return min(max(base, lim.door_open_floor_min * MIN), lim.door_open_ceiling_min * MIN)

    def _wander_limit(self) -> float:
        base = 40 * MIN
        if self.nobs.get("episode", 0) >= 5:
            base = max(base, float(self.wander_q.get() or 0.0) * 1.5)
        base *= self.scale.get(FindingKind.NIGHT_WANDERING, 1.0)
        return min(max(base, self.limits.wander_floor_min * MIN), 120 * MIN)

    def confidence(self) -> float:
        """How personal this home's model is, 0 (population priors only) to 1."""
        return round(self.days_learned / (self.days_learned + 7.0), 3)

    def _finding(self, kind: FindingKind, sev: Severity, now: float, since: float, evidence: dict[str, Any]) -> Finding:
        evidence.setdefault("confidence", self.confidence())
        return Finding(
            id=f"{self.home}:{kind}:{int(since)}",
            home=self.home,
            kind=kind,
            severity=sev,
            ts=self._dt(now),
            since=self._dt(since),
            detector=DETECTOR,
            evidence=evidence,
        )

    # --- the day -------------------------------------------------------------------------------------------------

    def _rollover(self, t: float, out: list[Finding]) -> None:
        """Cross into a new local day: daily learning, decay, and the slow trend detectors."""
        first = self.day_start == -math.inf
        if not first:
            if self.today_active > 0 and self.today_away_s < 6 * HOUR:
                self.days_learned += 1
                self.activity.learn_one(math.log1p(self.today_active))
                if self.activity.drift_detected:
                    out.append(
                        self._finding(
                            FindingKind.ACTIVITY_DECLINE,
                            Severity.INFO,
                            self.day_end,
                            self.day_start,
                            {
                                "active_events": self.today_active,
                                "baseline_events": round(math.expm1(self.activity.mean)),
                                "days_learned": self.days_learned,
                            },
                        )
                    )
            self.gaps.decay()
            self.entry_gaps.decay()
            f = 0.5 ** (1.0 / self.tuning.half_life_days)
            self.bed_way = [x * f for x in self.bed_way]
            self.today_active = 0
            self.today_away_s = 0.0
        d = self._dt(t)
        midnight = d.replace(hour=0, minute=0, second=0, microsecond=0)
        self.day_start = midnight.timestamp()
        self.day_end = (midnight + timedelta(days=1)).timestamp()
        self._refresh_limits()

    # --- events --------------------------------------------------------------------------------------------------

    def observe_at(
        self,
        t: float,
        sensor: str,
        kind: str,
        value: int | float | str,
        room: str | None,
        battery: int | None = None,
        received: float | None = None,
        ref: str | None = None,
    ) -> list[Finding]:
        """Update state from one event at epoch `t`; returns findings it raises at once (panic, battery)."""
        out: list[Finding] = []
        if t >= self.day_end:
            self._rollover(t, out)
        if received is not None and received - t > REPLAY_LAG:
            self.replaying_at = received
        s = self.sensors.get(sensor)
        if s is None:
            s = self.sensors[sensor] = [kind, t, t, 0.0, False, False]
        else:
            gap = t - s[2]
            if gap > s[3]:
                s[3] = gap
            if t > s[2]:
                s[2] = t
            s[5] = False
        if kind == "battery" and isinstance(value, int | float):
            battery = int(value)
        if battery is not None:
            self._battery(t, sensor, battery, s, out)
        if kind in DEVICE_KINDS:
            if kind in ("status", "agent"):
                self.agent_status(t, str(value) != "offline")
            elif kind == "heartbeat":
                self.agent_status(t, True)
            return out
        if kind == "button":
            if value in ("press", "long_press"):
                out.append(
                    self._finding(
                        FindingKind.PANIC,
                        Severity.CRITICAL,
                        t,
                        t,
                        {"sensor": sensor, "room": room, "press": str(value)},
                    )
                )
                if ref:
                    out[-1] = out[-1].model_copy(update={"id": f"{self.home}:panic:{ref}"})
                self._activity(t, room)
            return out
        if kind == "door":
            if self._is_front(sensor, room):
                self._front_door(t, str(value))
            else:
                self._activity(t, room)
            return out
        if kind == "pressure":
            bed = "bed" in sensor.lower() or "bed" in (room or "").lower()
            if bed and not self.mat:
                self.mat = True
                self._refresh_limits()
            if bed:
                self.mat_seen = t
            if value == 1:
                self.in_bed = bed
                self._activity(t, IN_BED if bed else IN_CHAIR)
            else:
                if bed:
                    self.in_bed = False
                self._activity(t, room)
            return out
        if kind == "motion":
            if value == 1 or value == "1":
                if self.in_bed and (self.mat or room_class(room or "") == "bedroom"):
                    # Moving in bed, the mat still pressed; a trigger elsewhere meanwhile is a stray one or someone
                    # else: the resident's stillness stays that of a person in bed.
                    self._activity(t, IN_BED)
                else:
                    self.in_bed = False
                    self._activity(t, room)
            elif self.last_act is not None and t > self.last_act and self._room(room) == self.last_room:
                # A PIR clears its hold time after the last movement it saw: the resident moved until about now.
                self.last_act = t
                self._schedule(t)
            return out
        if value not in (0, "0", "off", "idle", "false"):
            self._activity(t, room)
        return out

    def _is_front(self, sensor: str, room: str | None) -> bool:
        entrance = (room or "").lower() == "entrance"
        if self.front_door is None or (entrance and not self.front_entrance):
            self.front_door, self.front_entrance = sensor, entrance
        return sensor == self.front_door

    def _battery(self, t: float, sensor: str, level: int, s: list[Any], out: list[Finding]) -> None:
        if level <= 15 and not s[4]:
            s[4] = True
            out.append(
                self._finding(
                    FindingKind.LOW_BATTERY,
                    Severity.WARNING,
                    t,
                    t,
                    {"sensor": sensor, "battery": level, "threshold": 15},
                )
            )
            out[-1] = out[-1].model_copy(update={"id": f"{self.home}:low_battery:{sensor[:40]}:{int(t)}"})
        elif level >= 30:
            s[4] = False

    def _front_door(self, t: float, value: str) -> None:
        self.last_front_event = t
        if value == "open":
            if self.door_open_since is None:
                self.door_open_since = t
                if (
                    self.presence is Presence.HOME
                    and self.last_act is not None
                    and (t - self.last_act > VISIT_STILL or t - self.stirred_at < STIR_S)
                ):
                    # Opened with nobody stirring inside first: someone came in from outside (a carer, a neighbour).
                    self.visitor_at = t
            if self.exit_pending is not None and t - self.exit_pending > SETTLE:
                self.exit_pending = None  # opened again: coming back in
            elif (
                self.presence is Presence.HOME
                and self.exit_pending is None
                and self._night_for_exit(t)
                and not (self.visitor_at is not None and 0 <= t - self.visitor_at < VISIT_LEAVE)
            ):
                # Not someone coming in, nor, within hours of that, the door opening again: them leaving.
                self.exit_pending = t
        else:
            self.door_open_since = None
            self.door_closed_at = t
        # Someone is at the door: that is movement, though maybe on the way out.
        if self.presence is Presence.HOME:
            if self.asleep:
                self._up_sign(t, None)
            self._touch(t, self._room("entrance") if self.front_entrance else self.last_room)
        self._schedule(t)

    def _night_for_exit(self, t: float) -> bool:
        if self.deep_night(t):
            return True
        nb = self._nb(t)
        return self.asleep and self._bed_nb() - HOUR <= nb <= self._wake_lo_nb() - 30 * MIN

    def _touch(self, t: float, room: int) -> None:
        """Movement at `t` in `room`: learn the gap that just ended and restart the stillness clock."""
        last = self.last_act
        if last is not None and t > last:
            if t - last > VISIT_STILL:
                self.stirred_at = t  # (a resident on the floor may stir the moment help comes through the door)
            if self.presence is Presence.HOME and self.replaying_at is None:
                w = self.tuning.reported_weight if self.inactivity_reported == last else 1.0
                ctx = self._ctx(last, self.last_room)
                self.gaps.learn_one(ctx, t - last, w)
                if self._entry_gap(ctx):
                    self.entry_gaps.learn_one(ctx // MAX_ROOMS, t - last, w)
                if (
                    t - last <= 2 * MIN
                    and room < len(self.sleepy)
                    and self.sleepy[room]
                    and not self.sleepy[self.last_room]
                ):
                    self.bed_way[self.last_room] += 1.0
            if t - self.run_last > RUN_GAP:
                self.run_start = t
            self.run_last = t
        if last is None or t >= last:
            if room != self.last_room or last is None:
                self.room_at = t
            self.last_act = t
            self.last_room = room
            self.pending_inactivity = None

    def _activity(self, t: float, room_name: str | None) -> None:
        room = self._room(room_name)
        if t - self.last_front_event < SETTLE and (room_name or "").lower() == "entrance":
            # Passing through the entrance around a door event: movement, but not yet proof of who is inside.
            if self.presence is Presence.HOME:
                self._touch(t, room)
            return
        if self.presence is Presence.AWAY:
            if self.away_since is not None and self.last_front_event <= self.away_since + SETTLE:
                # Nobody came through the front door: one trigger is more likely a PIR's false one than the resident
                # back (a return opens the door); a second within STRAY_CONFIRM confirms it.
                if self.stray_at is None or t - self.stray_at > STRAY_CONFIRM:
                    self.stray_at = t
                    return
                t0 = self.stray_at
                self.stray_at = None
                self._returned(t0)
                self._touch(t0, room)
            else:
                self._returned(t)
        elif self.door_closed_at is not None and self.door_open_since is None and self.tuning.exit_stray:
            # The front door just closed: one trigger inside may be a PIR's false one rather than the resident still
            # at home; a second before the resident would be taken for gone confirms they stayed in.
            if self.stray_at is None or self.stray_at < self.door_closed_at:
                self.stray_at = t
                return
            self.stray_at = None
        self.today_active += 1
        self.door_closed_at = None
        self.exit_pending = None
        self.exit_reported = None
        prev_room = self.last_room
        self._touch(t, room)
        if self.asleep:
            self._up_sign(t, room)
            self._night_activity(t, room != prev_room)
        self._schedule(t)

    def _up_sign(self, t: float, room: int | None) -> None:
        """A sign of being up that a 20-minute run may miss: the front door, or moving about outside the bedroom."""
        if self._nb(t) < self._wake_lo_nb():
            return
        if room is None:
            self.up_day = self.day_start
        elif room >= len(self.sleepy) or not self.sleepy[room]:
            if self.up_first < self.day_start:
                self.up_first = t
            elif t - self.up_first >= UP_SPAN:
                self.up_day = self.day_start

    def _returned(self, t: float) -> None:
        if self.away_since is not None:
            length = t - self.away_since
            self.today_away_s += length
            self.outing_q.update(length)
            if self._night_for_exit(self.away_since):
                self._count("night_out")
                self.night_out_q.update(length)
        self.presence = Presence.HOME
        self.away_since = None
        self.stray_at = None
        self.last_act = t

    def _night_activity(self, t: float, moved_room: bool) -> None:
        """Movement while asleep: a night episode (toilet, wandering) or, outside the deep night, getting up."""
        if t - self.run_start >= WAKE_RUN and not self.deep_night(t):
            if self._nb(t) > NOON:
                self._woke(t)  # after midnight: the morning
            else:
                self.asleep = False  # an evening nap is over
                self.sleep_onset = None
                self._end_episode()
            return
        if self.episode_start is None:
            self.episode_start = t
            self.episode_rooms = 0
            self.night_visits += 1
        if moved_room:
            self.episode_rooms += 1

    def _woke(self, t: float) -> None:
        self.asleep = False
        day = self.day_start
        if self.wake_day != day:
            self.wake_day = day
            wake = self.run_start
            self._count("wake")
            self.wake_q.update(self._nb(wake))
            self.wake_hi.update(self._nb(wake))
            self.wake_lo.update(self._nb(wake))
            if self.sleep_onset is not None:
                self._count("bed")
                self.bed_q.update(self._nb(self.sleep_onset))
                self.bed_lo.update(self._nb(self.sleep_onset))
                self.bed_hi.update(self._nb(self.sleep_onset))
                self.bed_at = self._bed_nb()
            self.restless.learn_one(float(self.night_visits))
            if self.restless.drift_detected:
                self.restless_due = t
        self.sleep_onset = None
        self.night_visits = 0
        self._end_episode()

    def _end_episode(self) -> None:
        if self.episode_start is not None and self.last_act is not None:
            self._count("episode")
            self.wander_q.update(max(self.last_act - self.episode_start, 0.0))
        self.episode_start = None
        self.episode_rooms = 0
        self.episode_reported = False

    def _schedule(self, t: float) -> None:
        if self.last_act is not None and self.presence is Presence.HOME:
            ctx = self._ctx(self.last_act, self.last_room)
            self.next_check = min(self.next_check, self.last_act + self.limit_cache[ctx])
        self.next_check = min(self.next_check, t + SETTLE + 1)

    # --- device health ---------------------------------------------------------------------------------------

    def agent_status(self, t: float, online: bool) -> None:
        """The agent said it is online (status, heartbeat) or went offline (status, last will)."""
        if online:
            self.agent_offline_since = None
            self.agent_reported = False
        elif self.agent_offline_since is None:
            self.agent_offline_since = t
            self.next_check = min(self.next_check, t + self.limits.agent_offline_grace_min * MIN)

    # --- the clock -----------------------------------------------------------------------------------------------

    def tick_at(self, now: float) -> list[Finding]:
        """Advance the clock to epoch `now`: run whatever checks are due and return their findings."""
        if now < self.next_check:
            return []
        out: list[Finding] = []
        if now >= self.day_end:
            self._rollover(now, out)
        tu = self.tuning
        nxt = [self.day_end, now + 6 * HOUR]
        # Agent offline: a device problem, told apart from a still resident.
        if self.agent_offline_since is not None:
            due = self.agent_offline_since + self.limits.agent_offline_grace_min * MIN
            if now >= due and not self.agent_reported:
                self.agent_reported = True
                ev: dict[str, Any] = {"offline_min": round((now - self.agent_offline_since) / MIN)}
                if self.last_act is not None:
                    ev.update(
                        last_motion=self._dt(self.last_act).isoformat(),
                        room=self._room_name(self.last_room),
                        possible_inactivity=self.presence is Presence.HOME,
                    )
                out.append(
                    self._finding(FindingKind.AGENT_OFFLINE, Severity.WARNING, now, self.agent_offline_since, ev)
                )
            elif not self.agent_reported:
                nxt.append(due)
        # Presence: away once the front door closed and nobody moved inside since.
        if self.door_closed_at is not None and self.presence is Presence.HOME and self.door_open_since is None:
            if now - self.door_closed_at >= tu.exit_grace_s:
                self.presence = Presence.AWAY
                self.away_since = self.door_closed_at
                self.door_closed_at = None
                self.pending_inactivity = None
                self.asleep = False
                self._end_episode()
            else:
                nxt.append(self.door_closed_at + tu.exit_grace_s)
        self._check_door(now, out, nxt)
        if self.restless_due is not None:
            out.append(
                self._finding(
                    FindingKind.NIGHT_RESTLESSNESS,
                    Severity.INFO,
                    now,
                    self.restless_due,
                    {"night_visits_mean": round(self.restless.mean, 1), "days_learned": self.days_learned},
                )
            )
            self.restless_due = None
        replaying = self.replaying_at is not None and now - self.replaying_at < REPLAY_SETTLE
        if self.replaying_at is not None and not replaying:
            self.replaying_at = None
        if self.presence is Presence.HOME and self.last_act is not None:
            if replaying:
                nxt.append(self.replaying_at + REPLAY_SETTLE)  # type: ignore[operator]
            else:
                self._check_sleep(now, nxt)
                self._check_inactivity(now, out, nxt)
                self._check_morning(now, out, nxt)
                self._check_wandering(now, out, nxt)
        if now >= self.sensor_check:
            self._check_sensors(now, out)
            self.sensor_check = now + HOUR
        nxt.append(self.sensor_check)
        self.next_check = max(min(nxt), now + 1)
        return out

    def _room_name(self, r: int) -> str:
        return self.rooms[r] if r < len(self.rooms) else "unknown"

    def _check_door(self, now: float, out: list[Finding], nxt: list[float]) -> None:
        # A night exit: the door opened in the resident's night and nobody has moved inside since.
        if self.exit_pending is not None and self.exit_reported is None:
            ref = self.door_open_since if self.door_open_since is not None else self.door_closed_at
            ref = self.exit_pending if ref is None else ref
            limit = self._night_exit_limit()
            if now >= ref + limit:
                self.exit_reported = self.exit_pending
                out.append(
                    self._finding(
                        FindingKind.NIGHT_EXIT,
                        Severity.CRITICAL,
                        now,
                        self.exit_pending,
                        {
                            "door_opened": self._dt(self.exit_pending).isoformat(),
                            "door_open": self.door_open_since is not None,
                            "gone_min": round((now - self.exit_pending) / MIN),
                            "limit_min": round(limit / MIN),
                            "usual_bed": _fmt_hm(self._bed_nb()),
                            "usual_wake": _fmt_hm(self._wake_nb()),
                        },
                    )
                )
            else:
                nxt.append(ref + limit)
        if self.door_open_since is not None and self.door_reported != self.door_open_since:
            limit = self._door_limit()
            if now >= self.door_open_since + limit:
                self.door_reported = self.door_open_since
                out.append(
                    self._finding(
                        FindingKind.DOOR_LEFT_OPEN,
                        Severity.WARNING,
                        now,
                        self.door_open_since,
                        {
                            "sensor": self.front_door,
                            "open_min": round((now - self.door_open_since) / MIN),
                            "limit_min": round(limit / MIN),
                            "presence": self.presence.value,
                        },
                    )
                )
            else:
                nxt.append(self.door_open_since + limit)

    def _check_sleep(self, now: float, nxt: list[float]) -> None:
        last = self.last_act
        assert last is not None
        if self.asleep:
            if self.episode_start is not None and now - last >= EPISODE_GAP:
                self._end_episode()
            elif self.episode_start is not None:
                nxt.append(last + EPISODE_GAP)
            return
        if (
            room_class(self._room_name(self.last_room)) not in SLEEP_ROOMS
            and self.sees_bed
            and not self.deep_night(last)
        ):
            # With no bedroom sensor, sleep is stillness wherever the resident was last seen; in the core of the
            # night it is too (a bedroom PIR that missed them going to bed).
            return
        if self._mat_ok(now) and not self.in_bed and self.last_room < len(self.rooms) and self.sleepy[self.last_room]:
            return  # an empty bed: stillness in the bedroom is not sleep (a fall on getting up looks like this)
        nb = self._nb(last)
        if not (self._bed_nb() - 2 * HOUR <= nb <= self._wake_nb()):
            return
        if now - last >= SLEEP_STILL:
            self.asleep = True
            self.sleep_onset = last
            self.episode_start = None
        else:
            nxt.append(last + SLEEP_STILL)

    def _check_inactivity(self, now: float, out: list[Finding], nxt: list[float]) -> None:
        last = self.last_act
        assert last is not None
        if self.inactivity_reported == last:
            return
        ctx = self._ctx(last, self.last_room)
        limit = self.limit_cache[ctx]
        pooled = self.rooms[ctx % MAX_ROOMS] if ctx % MAX_ROOMS < len(self.rooms) else ""
        night_up = pooled == NIGHT_UP
        if self._mat_ok(now):
            pass  # the mat tells whether the resident went back to bed: no need to guess from missed sensors
        elif (night_up and self._misses_bed(ctx, 45 * MIN)) or (pooled == BEDTIME and self._misses_bed(ctx, 3 * HOUR)):
            # This home's sensors have missed the way back to bed before: stillness out of the bedroom at night is
            # then most likely sleep, so it waits for the resident's late wake time (missed_morning's moment).
            nb = self._nb(last)
            due = self._wake_hi_nb() + 30 * MIN
            limit = max(limit, due - nb if due > nb else due + DAY - nb)
        nb = self._nb(last)
        if pooled == BEDTIME and not self._mat_ok(now) and self._bed_unseen(last):
            # Most likely gone to bed unseen: stillness that began at this resident's bedtime in a room they often
            # walk straight to bed from (the bedroom PIR missed them arriving).
            due = self._wake_hi_nb() + 30 * MIN
            limit = max(limit, due - nb if due > nb else due + DAY - nb)
        if self.asleep and nb < self._wake_lo_nb() and self._in_bed_room(ctx, now):
            # Asleep in bed before even an early morning: stillness is sleep until the late wake time. Stillness
            # that began later (after a movement at the usual wake time) keeps its limit: getting up, maybe a fall.
            due = self._wake_hi_nb() + 30 * MIN
            limit = max(limit, due - nb if due > nb else due + DAY - nb)
        morning = self._morning_due(ctx, last, now)
        if morning is not None:
            limit = min(limit, morning)
        if self._entry_gap(ctx):
            # Walked in and went still: sat down or lay down for a nap, as this resident often does at this hour.
            limit = max(limit, self.entry_cache[ctx // MAX_ROOMS])
        blind = [k for k, v in self.sensors.items() if v[5] and v[0] in ("motion", "pressure")]
        if blind:
            # A silent motion sensor leaves a room unseen: the resident may simply be there. Only the ceiling holds.
            limit = max(limit, self._ceiling(int(self._local_s(last) // SLOT_S) % SLOTS))
        if now < last + limit:
            nxt.append(last + limit)
            return
        if self.pending_inactivity != last:
            self.pending_inactivity = last  # first check past the limit; confirm at the next one
            nxt.append(now + self.tuning.confirm_s)
            return
        self.inactivity_reported = last
        still = now - last
        room = self._room_name(self.last_room)
        ev: dict[str, Any] = {
            "last_motion": self._dt(last).isoformat(),
            "room": room,
            "still_min": round(still / MIN),
            "limit_min": round(limit / MIN),
            "slot": pooled
            if pooled in (NIGHT_UP, BEDTIME)
            else f"{ctx // MAX_ROOMS * 3:02d}-{ctx // MAX_ROOMS * 3 + 3:02d}h",
            "asleep": self.asleep,
        }
        silent = [k for k, s in self.sensors.items() if s[5]]
        if silent:
            ev["silent_sensors"] = ",".join(silent)[:120]
        if self.agent_offline_since is not None:
            # Not a still person but a silent home: say so rather than raise a fall.
            ev.update(offline_min=round((now - self.agent_offline_since) / MIN), possible_inactivity=True)
            out.append(self._finding(FindingKind.AGENT_OFFLINE, Severity.WARNING, now, self.agent_offline_since, ev))
            self.agent_reported = True
            return
        f = self._finding(FindingKind.LONG_INACTIVITY, Severity.CRITICAL, now, last, ev)
        self.recent[f.id] = ctx
        while len(self.recent) > 4:
            del self.recent[next(iter(self.recent))]
        out.append(f)

    def _check_morning(self, now: float, out: list[Finding], nxt: list[float]) -> None:
        if not self.asleep or self.morning_reported == self.day_start or self.up_day == self.day_start:
            return
        if self._local_s(now) > 15 * HOUR:
            return
        if self.agent_offline_since is not None:
            nxt.append(now + 10 * MIN)  # a silent home is agent_offline's to report, not a missed morning
            return
        late = self._wake_hi_nb()
        if self.nobs.get("wake", 0) < self.tuning.missed_morning_min_days:
            # Too few mornings to know this resident's: wait for a late riser's late wake time.
            late = max(late, self.tuning.missed_morning_prior_late_h * HOUR + NOON)
        due_nb = late + self.limits.missed_morning_margin_min * MIN * self.scale.get(FindingKind.MISSED_MORNING, 1.0)
        due = self.day_start + (due_nb + NOON) % DAY
        last = self.last_act
        assert last is not None
        if now >= due and now - last < HOUR:
            nxt.append(last + HOUR)  # moved within the hour: up after all, whatever the sleep state says
        elif now >= due:
            self.morning_reported = self.day_start
            out.append(
                self._finding(
                    FindingKind.MISSED_MORNING,
                    Severity.WARNING,
                    now,
                    last,
                    {
                        "last_motion": self._dt(last).isoformat(),
                        "room": self._room_name(self.last_room),
                        "usual_wake": _fmt_hm(self._wake_nb()),
                        "late_min": round((now - due) / MIN + self.limits.missed_morning_margin_min),
                    },
                )
            )
        else:
            nxt.append(due)

    def _check_wandering(self, now: float, out: list[Finding], nxt: list[float]) -> None:
        if not self.asleep or self.episode_start is None or self.episode_reported:
            return
        limit = self._wander_limit()
        if now - self.episode_start >= limit and self.episode_rooms >= 6 and now - self.run_last < EPISODE_GAP:
            self.episode_reported = True
            out.append(
                self._finding(
                    FindingKind.NIGHT_WANDERING,
                    Severity.WARNING,
                    now,
                    self.episode_start,
                    {
                        "up_min": round((now - self.episode_start) / MIN),
                        "room_changes": self.episode_rooms,
                        "limit_min": round(limit / MIN),
                        "usual_bed": _fmt_hm(self._bed_nb()),
                    },
                )
            )
        else:
            nxt.append(max(self.episode_start + limit, now + 5 * MIN))

    def _check_sensors(self, now: float, out: list[Finding]) -> None:
        if self.presence is not Presence.HOME or self.last_act is None or now - self.last_act > 3 * HOUR:
            return  # a silent sensor is only telling while others show someone at home
        for name, s in self.sensors.items():
            kind, first, last, max_gap, _low, reported = s
            if reported or kind in DEVICE_KINDS or kind == "button" or now - first < 3 * DAY or max_gap > 30 * HOUR:
                continue
            limit = min(max(2.5 * max_gap, 12 * HOUR), 48 * HOUR)
            if now - last >= limit:
                s[5] = True
                out.append(
                    self._finding(
                        FindingKind.SENSOR_SILENT,
                        Severity.WARNING,
                        now,
                        last,
                        {"sensor": name, "kind": kind, "silent_h": round((now - last) / HOUR, 1)},
                    )
                )

    # --- feedback and summaries ----------------------------------------------------------------------------------

    def apply_feedback(self, kind: str, outcome: str, finding_ids: Iterable[str] = ()) -> None:
        """A responder's verdict: false alarms loosen this home's limit for that kind (and place), help tightens."""
        if outcome in ("false_alarm", "resident_fine"):
            factor = 1.25
        elif outcome in ("needed_help", "emergency_services"):
            factor = 0.9
        else:
            return  # device_fault: the thresholds were not the problem
        self.scale[kind] = min(max(self.scale.get(kind, 1.0) * factor, 0.6), 3.0)
        if kind == FindingKind.LONG_INACTIVITY and factor > 1:
            for fid in finding_ids:
                ctx = self.recent.get(fid)
                if ctx is not None:
                    key = f"ctx{ctx}"
                    self.scale[key] = min(self.scale.get(key, 1.0) * 1.25, 3.0)
        self._refresh_limits()
        self.next_check = -math.inf

    def summary(self) -> dict[str, Any]:
        """What the console shows of this home's learned routine."""
        limits: dict[str, dict[str, int]] = {}
        for r, room in enumerate(self.rooms[:MAX_ROOMS]):
            limits[room] = {f"{s * 3:02d}": round(self.limit_cache[s * MAX_ROOMS + r] / MIN) for s in range(SLOTS)}
        return {
            "usual_wake": _fmt_hm(self._wake_nb()),
            "late_wake": _fmt_hm(self._wake_hi_nb()),
            "usual_bed": _fmt_hm(self._bed_nb()),
            "inactivity_limit_min": limits,
            "night_exit_limit_min": round(self._night_exit_limit() / MIN),
            "door_open_limit_min": round(self._door_limit() / MIN),
            "usual_outing_min": round(float(self.outing_q.get() or 0) / MIN),
            "presence": self.presence.value,
            "asleep": self.asleep,
            "feedback_scale": {k: round(v, 2) for k, v in self.scale.items()},
        }


class Engine:
    """All homes' monitors; a home is created on its first message."""

    def __init__(self, options: Options | None = None, home_limits: dict[str, HomeLimits] | None = None) -> None:
        self.options = options or Options()
        self.home_limits = dict(home_limits or {})
        self.home_tz: dict[str, tzinfo] = {}  # homes whose time zone is not the engine's
        self.homes: dict[str, HomeMonitor] = {}

    def monitor(self, home: str) -> HomeMonitor:
        """The monitor of a home, created on first use."""
        m = self.homes.get(home)
        if m is None:
            o = self.options
            tz = self.home_tz.get(home, o.tz)
            m = self.homes[home] = HomeMonitor(home, tz, self.home_limits.get(home, o.limits), o.tuning)
        return m

    def set_timezone(self, home: str, tz: tzinfo) -> None:
        """Read one home's clock in `tz` (routine, nights, slots); a running monitor moves at its next midnight."""
        self.home_tz[home] = tz
        m = self.homes.get(home)
        if m is not None and str(m._tz) != str(tz):
            m._tz = tz

    def set_limits(self, home: str, limits: HomeLimits) -> None:
        """Set an operator's floors and ceilings for one home."""
        self.home_limits[home] = limits
        m = self.homes.get(home)
        if m is not None:
            m.limits = limits
            m._refresh_limits()

    def observe(self, event: SensorEvent, received: datetime | None = None) -> list[Finding]:
        """Feed one event to its home."""
        return self.monitor(event.home).observe_at(
            event.ts.timestamp(),
            event.sensor,
            event.kind,
            event.value,
            event.room,
            event.battery,
            None if received is None else received.timestamp(),
            ref=f"{event.agent}:{event.seq}",
        )

    def agent_status(self, home: str, at: datetime, online: bool) -> None:
        """An agent's status or heartbeat."""
        self.monitor(home).agent_status(at.timestamp(), online)

    def feedback(self, fb: Feedback) -> None:
        """A responder's verdict on an alert of this home."""
        self.monitor(fb.home).apply_feedback(fb.kind, fb.outcome, fb.finding_ids)

    def tick(self, now: datetime) -> list[Finding]:
        """Advance every home's clock; a home with nothing due costs one comparison."""
        t = now.timestamp()
        out: list[Finding] = []
        for m in self.homes.values():
            if t >= m.next_check:
                out.extend(m.tick_at(t))
        return out
