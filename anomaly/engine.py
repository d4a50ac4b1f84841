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

from anomaly.estimators import Cusum
from anomaly.stillness import SLOT_S as QUARTER_S
from anomaly.stillness import SLOTS as QUARTERS
from anomaly.stillness import Context, StillnessModel
from contracts import Feedback, Finding, FindingKind, SensorEvent, Severity

DETECTOR = "anxin-routine-v1"
# An event this far behind the clock comes from an agent replaying its queue; inactivity waits until it has settled.
REPLAY_LAG = 120.0
REPLAY_SETTLE = 60.0

MAX_ROOMS = 12  # rooms a home's model keeps apart; more fold into the last one
IN_BED, IN_CHAIR = "in_bed", "in_chair"  # pseudo-rooms while a pressure mat says someone lies or sits
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

PRIOR_BED_NB = 22 * HOUR - NOON  # 22:00, as seconds after noon
PRIOR_WAKE_NB = 6.5 * HOUR + NOON  # 06:30, as seconds after noon
SLEEP_ROOMS = frozenset({"bedroom", IN_BED})
DEVICE_KINDS = frozenset({"battery", "status", "agent", "heartbeat"})
# Values that are an action (something switched on or off), not a reading such as a temperature: only these are
# movement, and only "on" values start a held state (a mat pressed, a cupboard open, a PIR reporting an interval).
ON_VALUES = frozenset({"1", "on", "open", "true", "press", "long_press", "active", "occupied"})
OFF_VALUES = frozenset({"0", "off", "closed", "close", "false", "idle", "inactive", "clear"})
# A motion sensor reporting `1` this long with no `0` is activity in progress (an interval PIR); longer, it is stuck.
MOTION_HELD_MAX = 2 * HOUR
# Held sensors a context remembers: a home's kit has a few mats and contacts, not dozens.
MAX_HELD = 8
# A quiet episode that raised an alarm ends (re-arms) only with this much activity: a stray trigger during a long
# absence in a home without a door sensor is not the resident back.
REARM_EVENTS, REARM_SENSORS, REARM_WINDOW = 4, 2, 10 * MIN
# A pressure mat held this long in the night is a bed; this long otherwise, a seat (learned roles, see docs).
BED_HOLD, SEAT_HOLD = 3 * HOUR, 45 * MIN


def room_class(room: str) -> str:
    """The prior class of a room name, from words any installer is likely to use."""
    r = room.lower()
    if r in (IN_BED, IN_CHAIR):
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
    false_alarm_budget_per_60d: float = 1.0  # expected false long_inactivity alarms this home may raise in 60 days


@dataclass(frozen=True)
class Tuning:
    """How learned statistics become thresholds (the same for every home; tuned on held-out simulated data)."""

    # The stillness model (anomaly/stillness.py): pooling strength, the prior's weight in days, the warm-up, the tail.
    prior_strength: float = 0.5
    prior_days: float = 3.0
    warmup_days: float = 1.5
    tail_k: float = 4.0
    min_spread: float = 0.15
    # The model's tails are fitted through a handful of long silences and run optimistic on data it was not tuned on
    # (peer simulator: 1.9 observed for 1.0 predicted); it aims at this share of the operator's budget.
    budget_share: float = 0.5
    half_life_days: float = 30.0  # learned gaps lose half their weight in this many days
    reported_weight: float = 0.25  # a silence that raised an alarm is learned at this weight (a fall must not teach)
    # missed_morning before this many mornings are learned waits for a wide population late wake time (night owls).
    missed_morning_min_days: float = 7.0
    missed_morning_prior_late_h: float = 10.0
    exit_stray: bool = True  # a lone trigger after the front door closed does not keep the resident at home
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
        "day_end",
        "day_start",
        "days_learned",
        "door_closed_at",
        "door_open_since",
        "door_reported",
        "episode_reported",
        "episode_rooms",
        "episode_start",
        "exit_pending",
        "exit_reported",
        "front_door",
        "front_entrance",
        "held",
        "home",
        "in_bed",
        "inactivity_reported",
        "last_act",
        "last_front_event",
        "last_room",
        "limits",
        "mat",
        "mat_roles",
        "mat_seen",
        "morning_reported",
        "motion_on",
        "next_check",
        "night_episodes",
        "night_out_q",
        "night_visits",
        "nobs",
        "outing_q",
        "presence",
        "quiet_events",
        "quiet_sensors",
        "quiet_since",
        "recent",
        "replaying_at",
        "restless",
        "restless_due",
        "rooms",
        "run_last",
        "run_start",
        "scale",
        "sees_bed",
        "sensor_check",
        "sensor_meta",
        "sensors",
        "sleep_onset",
        "sleepy",
        "still",
        "still_ctx",
        "still_last",
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
        # Stillness: the moments silences begin after, and how long this home's silences last after each.
        self.still = StillnessModel(
            prior_strength=self.tuning.prior_strength,
            prior_days=self.tuning.prior_days,
            warmup_days=self.tuning.warmup_days,
            tail_k=self.tuning.tail_k,
            min_spread=self.tuning.min_spread,
            half_life_days=self.tuning.half_life_days,
        )
        self.still_last: float | None = None  # the last movement of any kind (any sensor switching)
        self.still_ctx: Context | None = None  # ... and the moment it made
        self.held: list[str] = []  # sensors holding an "on" state (mats, contacts), oldest first
        self.motion_on: dict[str, float] = {}  # motion sensors reporting 1, since when
        self.quiet_since: float | None = None  # a quiet episode that raised long_inactivity, until activity resumes
        self.quiet_events = 0
        self.quiet_sensors: list[str] = []
        self.sensor_meta: dict[str, dict[str, str]] = {}  # installer's kit: sensor -> role, room, hold time
        self.mat_roles: dict[str, str] = {}  # pressure mat -> bed / seat, as given or learned from its holds
        self.wake_q = stats.Quantile(0.5)
        self.wake_hi = stats.Quantile(0.9)
        self.wake_lo = stats.Quantile(0.1)
        self.bed_q = stats.Quantile(0.5)
        self.bed_lo = stats.Quantile(0.1)
        self.bed_hi = stats.Quantile(0.9)
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
        self.recent: dict[str, str] = {}  # finding id -> the moment its silence began after, for feedback
        self.sensors: dict[str, list[Any]] = {}  # sensor -> [kind, first_seen, last_seen, max_gap, battery_low, silent]
        self.sensor_check = -math.inf
        self.agent_offline_since: float | None = None
        self.agent_reported = False
        self.replaying_at: float | None = None
        self.next_check = math.inf
        self._apply_limits()

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
            return len(self.rooms) - 1

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

    def _count(self, key: str) -> None:
        self.nobs[key] = min(self.nobs.get(key, 0) + 1, 1_000_000)

    def _apply_limits(self) -> None:
        """Hand the operator's floor, ceiling and false-alarm budget to the stillness model."""
        lim = self.limits
        self.still.floor_s = lim.inactivity_floor_min * MIN
        self.still.ceiling_s = max(lim.inactivity_ceiling_day_min, lim.inactivity_ceiling_night_min) * MIN
        budget = lim.false_alarm_budget_per_60d * self.tuning.budget_share
        if self.still.budget_per_60d != budget:
            self.still.budget_per_60d = budget
            self.still.level = self.still._calibrate()
        self.still._limits.clear()

    def _ceiling(self, t: float) -> float:
        """The operator's inactivity ceiling for stillness that began at `t`, in seconds (18-06 h: the night one)."""
        lim = self.limits
        night = not 6 * HOUR <= self._local_s(t) < 18 * HOUR
        return (lim.inactivity_ceiling_night_min if night else lim.inactivity_ceiling_day_min) * MIN

    def _sees_bed(self) -> bool:
        return any(room_class(r) in ("bedroom", IN_BED) for r in self.rooms)

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
            self.still.new_day()
            self.today_active = 0
            self.today_away_s = 0.0
        d = self._dt(t)
        midnight = d.replace(hour=0, minute=0, second=0, microsecond=0)
        self.day_start = midnight.timestamp()
        self.day_end = (midnight + timedelta(days=1)).timestamp()

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
            # kind, first seen, last seen, longest gap, battery low, reported silent, room, held since, reports 0
            s = self.sensors[sensor] = [kind, t, t, 0.0, False, False, (room or "").lower(), t, False]
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
        self._still_event(t, sensor, kind, value, room)
        if kind == "button":
            if value in ("press", "long_press"):
                # A long press is one-click help (一键呼叫, issue 15): ordinary help, routed to volunteers, not a panic.
                helps = value == "long_press"
                kind_raised = FindingKind.HELP_REQUEST if helps else FindingKind.PANIC
                out.append(
                    self._finding(
                        kind_raised,
                        Severity.WARNING if helps else Severity.CRITICAL,
                        t,
                        t,
                        {"sensor": sensor, "room": room, "press": str(value)},
                    )
                )
                if ref:
                    out[-1] = out[-1].model_copy(update={"id": f"{self.home}:{kind_raised.value}:{ref}"})
                self._activity(t, room)
            return out
        if kind == "door":
            if self._is_front(sensor, room):
                self._front_door(t, str(value))
            else:
                self._activity(t, room)
            return out
        if kind == "pressure":
            bed = self._mat_role(sensor) == "bed"
            if bed and not self.mat:
                self.mat = True
            if bed:
                self.mat_seen = t
            if value == 1:
                self.in_bed = bed
                self._activity(t, IN_BED if bed else IN_CHAIR)
            else:
                # Off a mat: up, whatever its role turned out to be (a role learned on this release included).
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

    def _still_event(self, t: float, sensor: str, kind: str, value: int | float | str, room: str | None) -> None:
        """Any sensor switching is movement: learn the silence it ends, then note the moment it makes."""
        v = str(value).lower()
        on = v in ON_VALUES
        if not on and v not in OFF_VALUES:
            return  # a reading (a temperature, a power level), not something a person did
        last = self.still_last
        late = last is not None and t < last  # a late event: its silence was counted, its state still counts
        if (
            not late
            and last is not None
            and self.still_ctx is not None
            and self.presence is Presence.HOME
            and self.replaying_at is None
        ):
            # A silence that raised an alarm, and what follows until the resident is about again, is learned at a
            # low weight: one real fall must not teach the model that such stillness is normal.
            w = self.tuning.reported_weight if self.quiet_since is not None else 1.0
            self.still.learn_one(self.still_ctx, t - last, w)
        if self.quiet_since is not None and not late:
            if last is not None and t - last > REARM_WINDOW:
                self.quiet_events, self.quiet_sensors = 0, []  # lone strays hours apart are not the resident back
            self.quiet_events += 1
            if sensor not in self.quiet_sensors:
                self.quiet_sensors.append(sensor)
            if self.quiet_events >= REARM_EVENTS and len(self.quiet_sensors) >= REARM_SENSORS:
                self.quiet_since = None
        if kind == "motion":
            if on and self.sensors[sensor][8]:
                self.motion_on[sensor] = t  # a PIR that reports its clears: 1 means movement still going on
            elif not on:
                self.sensors[sensor][8] = True
                self.motion_on.pop(sensor, None)
        elif kind != "button" and not (kind == "door" and self._is_front(sensor, room)):
            # (A button press is a moment, never a held state.)
            was = sensor in self.held
            if was:
                self.held.remove(sensor)
            if on:
                self.held.append(sensor)
                if len(self.held) > MAX_HELD:
                    del self.held[0]
                self.sensors[sensor][7] = t
            elif was and kind == "pressure":
                self._learn_mat(sensor, self.sensors[sensor][7], t)
        if room is not None:
            self.sensors[sensor][6] = room.lower()
        if late:
            return
        held = self.held[-1] if self.held else ""
        slot = int(self._local_s(t) // QUARTER_S) % QUARTERS
        self.still_ctx = Context(sensor, v, held, slot)
        self.still_last = t

    def _learn_mat(self, sensor: str, since: float, t: float) -> None:
        """A mat released after `t - since`: hours at night make it a bed, most of an hour otherwise a seat."""
        if sensor in self.sensor_meta and self.sensor_meta[sensor].get("role"):
            return  # the installer said
        hold = t - since
        night = not 6 * HOUR <= self._local_s(since) < 18 * HOUR
        if hold >= BED_HOLD and night:
            self.mat_roles[sensor] = "bed"
        elif hold >= SEAT_HOLD and self.mat_roles.get(sensor) != "bed":
            self.mat_roles[sensor] = "seat"

    def _mat_role(self, sensor: str) -> str:
        """A pressure mat's role: as the kit says, else as learned, else `bed` only if its id says so."""
        given = self.sensor_meta.get(sensor, {}).get("role")
        if given:
            return given
        return self.mat_roles.get(sensor) or ("bed" if "bed" in sensor.lower() else "")

    def _sensor_room(self, sensor: str) -> str:
        s = self.sensors.get(sensor)
        return str(s[6]) if s is not None and s[6] else "unknown"

    def set_sensor_meta(self, meta: dict[str, dict[str, str]]) -> None:
        """The installer's description of the kit: sensor -> {kind, room, role (bed/seat/floor), hold_s}."""
        self.sensor_meta = {k: dict(v) for k, v in meta.items()}
        if any(v.get("role") == "bed" for v in self.sensor_meta.values()):
            self.mat = True

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
            if t - self.run_last > RUN_GAP:
                self.run_start = t
            self.run_last = t
        if last is None or t >= last:
            self.last_act = t
            self.last_room = room

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
        if self.still_last is not None and self.presence is Presence.HOME:
            # No limit is below the floor: the real one is worked out (and cached) only for silences that get there.
            self.next_check = min(self.next_check, self.still_last + self.still.floor_s)
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
            not (self.last_room < len(self.sleepy) and self.sleepy[self.last_room])
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
        last, ctx = self.still_last, self.still_ctx
        if last is None or ctx is None or self.quiet_since is not None:
            return  # one alert per quiet episode: it re-arms once the resident is moving about again
        floor = self.limits.inactivity_floor_min * MIN
        if now < last + floor:
            nxt.append(last + floor)  # no limit is below the floor: nothing to work out yet (most checks end here)
            return
        busy = [since for since in self.motion_on.values() if now - since < MOTION_HELD_MAX]
        if busy:
            # A motion sensor still reporting 1 is movement in progress (a PIR that reports intervals), not silence.
            nxt.append(min(busy) + MOTION_HELD_MAX)
            return
        key = ctx.describe()
        scale = self.scale.get(FindingKind.LONG_INACTIVITY, 1.0) * self.scale.get(f"ctx:{key}", 1.0)
        ceiling = self._ceiling(last)
        if ctx.held and self.sensors.get(ctx.held, [""])[0] == "pressure":
            # Someone is sitting or lying on a mat: a whole afternoon of television is not a day-time stillness, and
            # only the night's ceiling bounds how long a held mat can go unremarked.
            ceiling = max(ceiling, self.limits.inactivity_ceiling_night_min * MIN)
        limit = min(max(self.still.limit(ctx) * scale, floor), ceiling)
        room = self._sensor_room(ctx.sensor)
        if now >= last + limit and any(
            v[5] and v[0] in ("motion", "pressure") and v[6] == room for v in self.sensors.values()
        ):
            # A silent sensor in the room the resident was last seen in: they may simply be there, unseen. A quiet
            # sensor says something about its own room only, so other rooms keep their limits.
            limit = ceiling
        if now < last + limit:
            nxt.append(last + limit)
            return
        self.inactivity_reported = last
        self.quiet_since, self.quiet_events, self.quiet_sensors = last, 0, []
        still = now - last
        ev: dict[str, Any] = {
            "last_motion": self._dt(last).isoformat(),
            "room": room,
            "sensor": ctx.sensor,
            "moment": key,
            "still_min": round(still / MIN),
            "limit_min": round(limit / MIN),
            # What a responder weighs: the longest ordinary stillness after such a moment, and how often one as long
            # as this happens in 60 normal days here (the model's calibrated rate; the budget is 1).
            "longest_ordinary_min": round(self.still.longest(ctx) / MIN),
            "normal_per_60d": round(60.0 * self.still.score_one(ctx, still), 4),
            "asleep": self.asleep,
        }
        if ctx.held:
            ev["held"] = ctx.held
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
        self.recent[f.id] = key
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
            kind, first, last, max_gap, _low, reported = s[:6]
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
                moment = self.recent.get(fid)
                if moment is not None:
                    key = f"ctx:{moment}"
                    self.scale[key] = min(self.scale.get(key, 1.0) * 1.25, 3.0)
        self.next_check = -math.inf

    def summary(self) -> dict[str, Any]:
        """What the console shows of this home's learned routine."""
        return {
            "usual_wake": _fmt_hm(self._wake_nb()),
            "late_wake": _fmt_hm(self._wake_hi_nb()),
            "usual_bed": _fmt_hm(self._bed_nb()),
            "stillness": self._stillness_summary(),
            "expected_false_alarms_per_60d": round(self.expected_false_alarms_per_60d(), 2),
            "mat_roles": {k: self._mat_role(k) for k, v in self.sensors.items() if v[0] == "pressure"},
            "night_exit_limit_min": round(self._night_exit_limit() / MIN),
            "door_open_limit_min": round(self._door_limit() / MIN),
            "usual_outing_min": round(float(self.outing_q.get() or 0) / MIN),
            "presence": self.presence.value,
            "asleep": self.asleep,
            "feedback_scale": {k: round(v, 2) for k, v in self.scale.items()},
        }

    def _stillness_summary(self, top: int = 12) -> list[dict[str, Any]]:
        """The most frequent moments that start a silence of a minute or more, with what is usual after each."""
        rows = []
        for c in self.still.contexts():
            node = self.still.nodes.get((c.sensor, c.value, c.held, c.slot))
            if node is None or node.hist is None:
                continue
            rows.append((float(sum(node.hist)), c))
        rows.sort(key=lambda r: -r[0])
        return [
            {
                "sensor": c.sensor,
                "value": c.value,
                "held": c.held,
                "room": self._sensor_room(c.sensor),
                "hours": f"{c.slot * 6:02d}-{c.slot * 6 + 6:02d}",
                "per_day": round(n / max(self.still.days, 1.0), 2),
                "longest_min": round(self.still.longest(c) / MIN),
                "limit_min": round(min(self.still.limit(c), self.still.ceiling_s) / MIN),
            }
            for n, c in rows[:top]
        ]

    def expected_false_alarms_per_60d(self) -> float:
        """The stillness model's own prediction of its false alarms in 60 normal days (for calibration checks)."""
        return self.still.expected_false_alarms_per_60d()


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
            m._apply_limits()

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
