"""Constants and population priors of the anomaly engine: times, thresholds no home learns, value vocabularies."""

from __future__ import annotations

from contracts.messages import KNOWN_VALUES
from contracts.vocabulary import ROOM_TYPES

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
# Wandering is still moving between rooms, not having moved once: an alarm needs WANDER_RECENT_MOVES room changes,
# each leaving a room stayed in WANDER_DWELL or more, in the episode's later half (at least its last WANDER_RECENT).
# The peer's early riser walked bedroom -> toilet -> kitchen at 04:14, sat at breakfast, and was alarmed at 04:56; a
# sparse kit sees a wandering night change rooms every quarter of an hour, a rich one every few minutes.
WANDER_RECENT = 20 * MIN
WANDER_RECENT_MOVES = 3
WANDER_DWELL = MIN  # a room left this soon after entering it was a doorway (its PIRs flickering), not a room
# A lone trigger after this long without movement, away from where the resident was last seen, is a stray until a
# second movement this soon confirms it: while away with the front door unused, a return (presence.py); at home, the
# resident having walked there unseen (strays.py `is_stray`, detectors/inactivity.py `_settle`).
STRAY_CONFIRM = 10 * MIN
VISIT_STILL = 10 * MIN  # the front door opening after this long without movement inside: someone came in
# Within this long of the resident seen in another room, with nothing since, the sensor they left switching again is
# its echo (a cistern refilling behind a flush, a cupboard door swinging to), not them back (detectors/inactivity.py).
ECHO_S = 30.0
# ... a sensor that was repeating itself when left: this many switchings in a row, each within ECHO_S of the last
ECHO_RUN = 3
MAT_STALE = 12 * HOUR  # a bed mat not heard from for this long, with the resident in the bedroom at night: ignored
STIR_S = 5.0  # ... or opening within seconds of the first movement after such stillness (no time to walk there)
VISIT_LEAVE = 4 * HOUR  # ... and the door opening again within this long at night is them leaving
# The clock's small hours: a door opening in them is a night exit whatever the resident's own night (a late riser out
# at 01:00 for hours is at risk all the same; presence.night_for_exit).
SMALL_HOURS_END = 5 * HOUR
UP_SPAN = 10 * MIN  # triggers outside the bedroom this far apart after the early wake time: up, if not in a 20-min run

PRIOR_BED_NB = 22 * HOUR - NOON  # 22:00, as seconds after noon
PRIOR_WAKE_NB = 6.5 * HOUR + NOON  # 06:30, as seconds after noon
# Wake times from noon to 18:00 are a late riser's mornings: learned as seconds after the *previous* noon (past DAY),
# so that 11:50 and 12:50 are an hour apart, not 23 (a resident asleep 01:00-12:50 read every waking as the end of an
# evening nap, never learned a morning, and raised missed_morning at noon on the prior).
WAKE_WRAP = 6 * HOUR
SLEEP_ROOMS = frozenset({"bedroom", IN_BED})
DEVICE_KINDS = frozenset({"battery", "status", "agent", "heartbeat"})
# Values that are an action (something switched on or off), not a reading such as a temperature: only these are
# movement, and only "on" values start a held state (a mat pressed, a PIR reporting an interval).
ON_VALUES = frozenset(
    {"1", "on", "open", "opened", "true", "yes", "press", "pressed", "long_press", "active", "occupied", "detected"}
)
OFF_VALUES = frozenset(
    {"0", "off", "closed", "close", "false", "no", "idle", "inactive", "clear", "vacant", "unoccupied", "released"}
)
# Kinds whose same value again is a new event (a PIR's 1 is fresh movement, a button pressed twice is two presses);
# for any other switch the state it is already in, reported again, is no one moving.
REPEATING_KINDS = frozenset({"motion", "button"})
# A door reported closed again this soon after movement in its room is someone going out whose `open` was lost.
DOOR_NEAR_S = 2 * MIN
# The role an installer gives the front door, and the one for any other door out (a back door, a garage's): each is
# watched as the front door is.
FRONT_ROLE, EXIT_ROLE = "front", "exit"
# Kinds the wire contract gives switch values: never a meter, whatever they report.
SWITCH_KINDS = frozenset(KNOWN_VALUES)
# Kinds that measure: a number they report is a reading, 0 and 1 included (a light level of 0 or 1 lux in the dark is
# no switch); a word (a light switched `on`) is still a switch. Any kind's number other than 0 and 1 is a reading.
METER_KINDS = frozenset({"temperature", "humidity", "light", "illuminance", "lux", "co2", "noise", "sound"})
# Kinds whose "on" state says someone is there (a mat pressed): only these hold a state a silence's moment remembers.
# A cupboard, an appliance or an inner door left open says nothing of where the resident is; taken as held, each
# split the moments it outlasted into rarely seen ones that borrowed the long silences of mats
# (see docs/anomaly-history.md).
HOLDING_KINDS = frozenset({"pressure"})
# A motion sensor reporting `1` this long with no `0` is activity in progress (an interval PIR); longer, it is stuck.
MOTION_HELD_MAX = 2 * HOUR
# Held sensors a context remembers: a home's kit has a few mats, not dozens.
MAX_HELD = 8
# A quiet episode that raised an alarm ends (re-arms) only with this much activity: a stray trigger during a long
# absence in a home without a door sensor is not the resident back.
REARM_EVENTS, REARM_SENSORS, REARM_WINDOW = 4, 2, 10 * MIN
# ... and one whose alarm a responder found false ends when the resident walks from one place to the next this soon.
FINE_REARM_S = 30 * MIN
# A pressure mat held this long in the night is a bed; this long otherwise, a seat (learned roles, see docs).
BED_HOLD, SEAT_HOLD = 3 * HOUR, 45 * MIN
# A pressure mat's roles (given by the installer, or learned), and those someone rests on rather than steps on.
BED_ROLE, SEAT_ROLE, FLOOR_ROLE = "bed", "seat", "floor"
MAT_ROLES = frozenset({BED_ROLE, SEAT_ROLE, FLOOR_ROLE})
MAT_RESTING_ROLES = frozenset({BED_ROLE, SEAT_ROLE})
# A mat of no given role pressed this many times for less than STEP_HOLD each (a step lasts seconds: the peer
# simulator's floor mats 1-4 s; a sitting, minutes), and never for a sitting's length, is stepped on.
MAT_STEPS, STEP_HOLD = 3, 1 * MIN


# Words in a room's name that say its class; the first class whose word appears wins. The wire contract's rooms are
# ascii identifiers (`bedroom`, `schlafzimmer`); a recording replayed keeps its own (卧室, Slaapkamer), hence the
# Chinese and the European recordings' words.
ROOM_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bathroom", ("bath", "toilet", "wc", "shower", "restroom", "badez", "badk", "baño", "bain")),
    ("bathroom", ("卫", "浴", "厕", "洗手")),
    ("hall", ("antichambre",)),  # (an anteroom, before the bedroom's "chambre")
    ("bedroom", ("bed", "sleep", "schlaf", "slaap", "dormitor", "chambre", "卧", "睡", "寝")),
    ("kitchen", ("kitchen", "cook", "küche", "kuche", "keuken", "cocina", "cuisine", "厨")),
    ("living", ("living", "lounge", "sitting", "tv", "dining", "family", "wohn", "woonkamer", "salon", "客", "餐")),
    ("hall", ("entr", "hall", "corridor", "foyer", "door", "porch", "stair", "flur", "pasillo")),
    ("hall", ("玄", "门厅", "入户", "走廊", "过道")),
)
# The classes are the registry's room types (a kit sensor's `room_type`, contracts.vocabulary): an installer's word
# and the engine's reading of a name are one vocabulary (tests/unit/test_vocabulary.py checks ROOM_WORDS uses it).
ROOM_CLASSES = frozenset(ROOM_TYPES)

# Rooms a front door opens into, as installers and recordings name them (not any hall: inner doors open onto one).
ENTRANCE_ROOMS = frozenset({"entrance", "entry", "entryway", "foyer", "vestibule", "玄关", "门厅"})


def is_entrance(room: str | None) -> bool:
    """Whether a room's name says it is the entrance (ENTRANCE_ROOMS)."""
    return (room or "").strip().lower() in ENTRANCE_ROOMS


def room_class(room: str) -> str:
    """The prior class of a room name, from words any installer is likely to use (ROOM_WORDS)."""
    r = room.lower()
    if r in (IN_BED, IN_CHAIR):
        return r
    for cls, words in ROOM_WORDS:
        if any(w in r for w in words):
            return cls
    return "other"


def fmt_hm(nb: float) -> str:
    """Seconds after noon as local HH:MM."""
    s = int((nb + NOON) % DAY)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


# Alerts a home remembers having applied the verdict of: one delivered twice counts once (`apply_feedback`).
VERDICTS_KEPT = 32
