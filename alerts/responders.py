"""Who to page: availability windows, distance and reliability, as pure functions. No I/O here."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Any

from contracts.vocabulary import FindingKind

HELP_REQUEST = FindingKind.HELP_REQUEST.value

ROLE_VOLUNTEER = "volunteer"
ROLE_GRID_WORKER = "grid_worker"
ROLE_OPERATOR = "operator"

# Distance used when the home or the responder has no coordinates: ranked behind anyone known to be close.
UNKNOWN_DISTANCE_KM = 5.0
# How many km one unit of unreliability is worth when ranking (a never-answering neighbour next door ranks
# behind a reliable one 2 km away).
RELIABILITY_WEIGHT_KM = 2.0
PRIORITY_WEIGHT_KM = 0.5
# Credit (信用积分, issue 15): a point for each page answered (acknowledged), three for each help given (an alert
# they closed, or took and someone closed, as needing help; any closed help request they took). In ranking, credit
# counts up to CREDIT_CAP points and is worth at most CREDIT_WEIGHT_KM: it orders near-equals, never sends someone far.
CREDIT_PER_ANSWER = 1
CREDIT_PER_HELP = 3
CREDIT_CAP = 30
CREDIT_WEIGHT_KM = 0.5
# A help request may say what it needs (evidence "need", e.g. from a second button: "call_back", "payment"); someone
# who lists that skill is worth this many km nearer. Without a need or skills, ranking is unchanged.
SKILL_WEIGHT_KM = 1.0


@dataclass(frozen=True)
class Person:
    """A responder as dispatch sees them; `assigned_priority` is None when not assigned to the home."""

    responder_id: int
    name: str
    phone: str
    lang: str
    role: str
    verified: bool
    active: bool
    opted_out: bool
    district: str | None
    assigned_priority: int | None
    distance_km: float | None
    available: bool
    reliability: float
    credit: int = 0
    skills: frozenset[str] = frozenset()  # lower-cased, as the registry lists them


def window_error(window: Any) -> str | None:
    """Why an availability window is malformed, or None; a window is {"days": [0-6, Monday=0], "start", "end"}."""
    if not isinstance(window, Mapping):
        return "expected a table"
    days = window.get("days", list(range(7)))
    if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        return "days: expected a list of 0 (Monday) to 6"
    for key in ("start", "end"):
        try:
            time.fromisoformat(str(window.get(key)))
        except ValueError:
            return f"{key}: expected HH:MM"
    return None


def is_available(windows: Sequence[Mapping[str, Any]] | None, now: datetime, tz: tzinfo) -> bool:
    """True when `now`, in the responder's timezone, falls in one of the windows; no windows means always."""
    if not windows:
        return True
    local = now.astimezone(tz)
    t, day = local.time().replace(tzinfo=None), local.weekday()
    for w in windows:
        if window_error(w) is not None:
            continue  # a bad window never makes someone on duty
        days = w.get("days", list(range(7)))
        start, end = time.fromisoformat(str(w["start"])), time.fromisoformat(str(w["end"]))
        if start <= end:
            if day in days and start <= t < end:
                return True
        elif (day in days and t >= start) or ((day - 1) % 7 in days and t < end):  # crosses midnight
            return True
    return False


def distance_km(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    """Great-circle distance between two (lat, lon) points, None when either is unknown."""
    if a is None or b is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(h)))


def reliability(notified: int, acknowledged: int) -> float:
    """Share of pages acknowledged, smoothed so a newcomer starts at one half."""
    return (acknowledged + 1) / (notified + 2)


def credit(answered: int, helped: int) -> int:
    """A responder's credit points: CREDIT_PER_ANSWER per page answered, CREDIT_PER_HELP per help given."""
    return CREDIT_PER_ANSWER * max(answered, 0) + CREDIT_PER_HELP * max(helped, 0)


def counts_as_help(kind: str, outcome: str) -> bool:
    """Whether closing an alert with this outcome means its taker gave help (and earns the help credit)."""
    if outcome in ("needed_help", "emergency_services"):
        return True
    # A help request closed as anything but a false alarm or a device fault was help given.
    return kind == HELP_REQUEST and outcome == "resident_fine"


def pageable(p: Person) -> bool:
    """Verified, on the roster, not unsubscribed, on duty now, with a number: never page anyone else."""
    return p.verified and p.active and not p.opted_out and p.available and bool(p.phone)


def rank_key(p: Person, need: str | None = None) -> tuple[float, int]:
    """Lower is better: distance, unreliability and assignment priority, as km, less credit and skill bonuses."""
    dist = UNKNOWN_DISTANCE_KM if p.distance_km is None else p.distance_km
    if need and need.lower() in p.skills:
        dist -= SKILL_WEIGHT_KM
    prio = 0 if p.assigned_priority is None else max(p.assigned_priority - 1, 0)
    bonus = CREDIT_WEIGHT_KM * min(max(p.credit, 0), CREDIT_CAP) / CREDIT_CAP
    score = dist + RELIABILITY_WEIGHT_KM * (1 - p.reliability) + PRIORITY_WEIGHT_KM * prio - bonus
    return score, p.responder_id


def group_of(p: Person, home_district: str) -> str | None:
    """The ladder group a person belongs to for a home, if any."""
    if p.role == ROLE_VOLUNTEER:
        if p.assigned_priority is not None:
            return "assigned"
        return "nearby" if p.district == home_district else None
    if p.role == ROLE_GRID_WORKER and (p.assigned_priority is not None or p.district == home_district):
        return "grid_worker"
    if p.role == ROLE_OPERATOR and (p.district in (None, home_district) or p.assigned_priority is not None):
        return "operator"
    return None


def select(
    people: Iterable[Person],
    counts: Mapping[str, int],
    home_district: str,
    exclude: Collection[int] = (),
    need: str | None = None,
) -> list[Person]:
    """The people a ladder step pages: per group, the best-ranked pageable ones not in `exclude`."""
    by_group: dict[str, list[Person]] = {}
    for p in people:
        g = group_of(p, home_district)
        if g is not None and pageable(p) and p.responder_id not in exclude:
            by_group.setdefault(g, []).append(p)
    chosen: dict[int, Person] = {}
    for group, n in counts.items():
        for p in sorted(by_group.get(group, []), key=lambda q: rank_key(q, need))[: max(n, 0)]:
            chosen.setdefault(p.responder_id, p)
    return list(chosen.values())


def next_in_line(
    people: Iterable[Person],
    counts: Mapping[str, int],
    home_district: str,
    exclude: Collection[int],
    need: str | None = None,
) -> Person | None:
    """The best pageable person of the step's groups not yet paged: who to try when a send failed for good."""
    groups = {g for g, n in counts.items() if n > 0}
    ranked = sorted(
        (p for p in people if group_of(p, home_district) in groups and pageable(p) and p.responder_id not in exclude),
        key=lambda q: rank_key(q, need),
    )
    return ranked[0] if ranked else None
