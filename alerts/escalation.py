"""Escalation policies and the ladder, as pure functions of the alert's state and `now`. No I/O here."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

# Re-exported (the `as` form) for the ladder's callers, which read them from here.
from contracts.vocabulary import ACTIVE_STATES as ACTIVE_STATES
from contracts.vocabulary import CLOSED_STATES as CLOSED_STATES
from contracts.vocabulary import OUTCOMES as OUTCOMES
from contracts.vocabulary import SEVERITIES, AlertState, FindingKind

# Alert states, their meaning and the closed and active groups are the shared vocabulary (contracts/vocabulary.py);
# the short names stay for the ladder's callers.
STATE_OPEN = AlertState.OPEN
STATE_NOTIFYING = AlertState.NOTIFYING
STATE_ACKNOWLEDGED = AlertState.ACKNOWLEDGED
STATE_RESOLVED = AlertState.RESOLVED
STATE_EXPIRED = AlertState.EXPIRED
STATE_SILENCED = AlertState.SILENCED

# Who a step pages: counts of new people per group.
GROUPS = ("assigned", "nearby", "grid_worker", "operator")
# The policy table of help requests (one-click help), beside the severities.
HELP_KEY = "help"

DEFAULT_POLICY: dict[str, Any] = {
    "critical": {
        "steps": [
            {"wait_s": 120, "assigned": 2},
            {"wait_s": 180, "assigned": 3, "nearby": 2, "grid_worker": 1},
            {"wait_s": 300, "operator": 1},
        ],
        "ack_timeout_s": 1800,
        "remind_every_s": 600,
        "reminders": 1,
    },
    "warning": {
        "steps": [
            {"wait_s": 300, "assigned": 2},
            {"wait_s": 600, "assigned": 3, "nearby": 1, "grid_worker": 1},
            {"wait_s": 900, "operator": 1},
        ],
        "ack_timeout_s": 3600,
        "remind_every_s": 1800,
        "reminders": 1,
    },
    # Info-level (a low battery, say): no SMS by default; it shows on the console and expires unless someone acts.
    "info": {"steps": [], "ack_timeout_s": 86400, "remind_every_s": 86400, "reminders": 0, "expire_after_s": 86400},
    # One-click help (issue 15), whatever its severity: volunteers only; the operator is paged only when nobody took
    # it within the district's limit, the sum of the volunteer steps' waits (25 min here; a district's "help" row
    # changes the waits). Helping takes longer than checking on someone, hence the longer ack timeout.
    HELP_KEY: {
        "steps": [
            {"wait_s": 600, "assigned": 2},
            {"wait_s": 900, "assigned": 3, "nearby": 2},
            {"wait_s": 1800, "operator": 1},
        ],
        "ack_timeout_s": 4 * 3600,
        "remind_every_s": 3600,
        "reminders": 1,
    },
}


class PolicyError(ValueError):
    """A policy spec that cannot be used, with a message naming the field."""


@dataclass(frozen=True)
class StepSpec:
    """One rung: wait this long for an acknowledgement after paging these many new people per group."""

    wait_s: float
    counts: Mapping[str, int]


@dataclass(frozen=True)
class SeverityPolicy:
    """The ladder of one severity, and what happens once acknowledged."""

    steps: tuple[StepSpec, ...]
    ack_timeout_s: float
    remind_every_s: float
    reminders: int
    expire_after_s: float | None = None


def merge_spec(base: Mapping[str, Any], *overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy spec with each override's per-severity fields laid over the base (district, then home)."""
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for over in overrides:
        if not over:
            continue
        for sev, fields in over.items():
            if not isinstance(fields, Mapping):
                raise PolicyError(f"policy.{sev}: expected a table of fields")
            out.setdefault(sev, {}).update(copy.deepcopy(dict(fields)))
    return out


def _num(where: str, value: Any, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise PolicyError(f"{where}: expected a number >= {minimum}, got {value!r}")
    return float(value)


def severity_policy(spec: Mapping[str, Any], severity: str) -> SeverityPolicy:
    """The validated policy of one severity from a (merged, frozen) spec; unknown severities use critical."""
    sev = severity if severity in spec else "critical"
    raw = spec.get(sev)
    if not isinstance(raw, Mapping):
        raise PolicyError(f"policy.{sev}: missing")
    steps = []
    for i, step in enumerate(raw.get("steps", [])):
        where = f"policy.{sev}.steps[{i}]"
        if not isinstance(step, Mapping):
            raise PolicyError(f"{where}: expected a table")
        unknown = set(step) - {"wait_s", *GROUPS}
        if unknown:
            raise PolicyError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        counts = {g: int(_num(f"{where}.{g}", step.get(g, 0))) for g in GROUPS}
        steps.append(StepSpec(_num(f"{where}.wait_s", step.get("wait_s"), minimum=1), counts))
    expire = raw.get("expire_after_s")
    return SeverityPolicy(
        steps=tuple(steps),
        ack_timeout_s=_num(f"policy.{sev}.ack_timeout_s", raw.get("ack_timeout_s", 1800), minimum=1),
        remind_every_s=_num(f"policy.{sev}.remind_every_s", raw.get("remind_every_s", 600), minimum=1),
        reminders=int(_num(f"policy.{sev}.reminders", raw.get("reminders", 1))),
        expire_after_s=None if expire is None else _num(f"policy.{sev}.expire_after_s", expire, minimum=1),
    )


def policy_key(kind: str, severity: str) -> str:
    """The table of a policy spec an alert follows: "help" for a help request, else its severity."""
    return HELP_KEY if kind == FindingKind.HELP_REQUEST else severity


def operator_after_s(policy: SeverityPolicy) -> float | None:
    """How long a ladder runs before its first step that pages an operator (the district's limit), or None."""
    waited = 0.0
    for step in policy.steps:
        if step.counts.get("operator", 0) > 0:
            return waited
        waited += step.wait_s
    return None


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Raise PolicyError when any severity of a spec is unusable."""
    unknown = set(spec) - {*SEVERITIES, HELP_KEY}
    if unknown:
        raise PolicyError(f"policy: unknown severity {sorted(unknown)[0]!r}")
    for sev in spec:
        severity_policy(spec, sev)


@dataclass(frozen=True)
class LadderState:
    """Where one alert's escalation stands."""

    state: str
    opened_at: datetime
    step: int = 0
    round: int = 1
    next_at: datetime | None = None
    acknowledged_at: datetime | None = None
    reminders_sent: int = 0


@dataclass(frozen=True)
class Page:
    """Page the people of ladder step `step` (1-based) in round `round`."""

    step: int
    round: int


@dataclass(frozen=True)
class Remind:
    """Remind the acknowledger that the alert is still not resolved."""

    number: int


@dataclass(frozen=True)
class Reescalate:
    """Acknowledged but not resolved in time, reminders spent: run the ladder again from step 1."""

    round: int


@dataclass(frozen=True)
class Expire:
    """An info-level alert nobody acted on: close it."""


Effect = Page | Remind | Reescalate | Expire


def opened(now: datetime) -> LadderState:
    """The ladder of a new alert: step 1 is due at once."""
    return LadderState(state=STATE_OPEN, opened_at=now, next_at=now)


def acknowledged(s: LadderState, policy: SeverityPolicy, now: datetime) -> LadderState:
    """The ladder once someone took the alert: the clock now runs towards the reminder."""
    return replace(
        s, state=STATE_ACKNOWLEDGED, acknowledged_at=now, next_at=now + _s(policy.ack_timeout_s), reminders_sent=0
    )


def skip_empty_step(s: LadderState, now: datetime) -> LadderState:
    """A step that found nobody to page: the next one is due at once."""
    return replace(s, next_at=now)


def advance(s: LadderState, policy: SeverityPolicy, now: datetime) -> tuple[LadderState, Effect | None]:
    """One transition due at `now`, if any; call again until it returns no effect."""
    if s.state in CLOSED_STATES or s.state == STATE_SILENCED:
        return s, None
    if (
        policy.expire_after_s is not None
        and s.state != STATE_ACKNOWLEDGED
        and now >= s.opened_at + _s(policy.expire_after_s)
    ):
        return replace(s, state=STATE_EXPIRED, next_at=None), Expire()
    if s.next_at is None or now < s.next_at:
        return s, None
    if s.state == STATE_ACKNOWLEDGED:
        if s.reminders_sent < policy.reminders:
            n = s.reminders_sent + 1
            return replace(s, reminders_sent=n, next_at=now + _s(policy.remind_every_s)), Remind(n)
        again = replace(s, state=STATE_NOTIFYING, step=0, round=s.round + 1, reminders_sent=0, next_at=now)
        return again, Reescalate(again.round)
    if not policy.steps:
        expiry = None if policy.expire_after_s is None else s.opened_at + _s(policy.expire_after_s)
        return replace(s, next_at=expiry), None
    step, rnd = s.step + 1, s.round
    if step > len(policy.steps):
        step, rnd = 1, rnd + 1
    wait = policy.steps[step - 1].wait_s
    return replace(s, state=STATE_NOTIFYING, step=step, round=rnd, next_at=now + _s(wait)), Page(step, rnd)


def run_until(
    s: LadderState,
    policy: SeverityPolicy,
    now: datetime,
    limit: int = 16,
    *,
    apply: Callable[[LadderState, Effect], bool] | None = None,
) -> tuple[LadderState, list[Effect]]:
    """Every transition due at `now` (bounded, so a bad policy cannot spin), each carried out by `apply` if given.

    `apply` returns False when a page found nobody on duty: the next step is then due at once, but the ladder never
    wraps into a new round without the wait.
    """
    effects: list[Effect] = []
    empty = 0
    for _ in range(limit):
        s, eff = advance(s, policy, now)
        if eff is None:
            break
        effects.append(eff)
        if apply is None or apply(s, eff) or not isinstance(eff, Page):
            continue
        empty += 1
        if empty < len(policy.steps) and eff.step < len(policy.steps):
            s = skip_empty_step(s, now)
    return s, effects


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
