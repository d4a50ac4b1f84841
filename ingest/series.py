"""Per-home bound on the InfluxDB series ingest creates: the home's registered kit, or a cap of distinct series.

Every distinct (agent, sensor, kind, room) of a home is a new InfluxDB series (and a row on the console). A home's
credentials are enough to invent thousands of them in a second, so ingest admits only what the home's registered
kit (SQL `home_sensors`) names, or, for a home without a registered kit, the first `cap` distinct series it sends.
Everything else is rejected (`unknown_sensor` or `too_many_series`), counted every time and dead-lettered once per
distinct series (up to `remember` per home), so a flood of made-up names costs bounded memory and bounded rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import DeadLetterReason

# The agent reports its own queue drops as events of this pseudo-sensor and kind (edge/link.py); not in any kit.
AGENT_SENSOR, QUEUE_DROP = "agent", "queue_drop"

# (agent, sensor, kind, room); sensor and kind are "" for an agent's status and heartbeat series.
SeriesKey = tuple[str, str, str, str | None]


@dataclass(frozen=True)
class KitSensor:
    """One registered sensor of a home: its kind, and its room and agent when the registry names them."""

    kind: str
    room: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a series was refused, and whether this is the first time (only the first is kept as a dead letter)."""

    reason: DeadLetterReason
    detail: str
    first: bool


@dataclass
class SeriesGuard:
    """Admits a home's series by its registered kit or up to a cap; remembers what it admitted and refused."""

    cap: int = 64
    remember: int = 256
    kits: dict[str, dict[str, KitSensor]] = field(default_factory=dict)
    # home -> the series admitted so far; read directly on ingest's hot path (a set lookup, no call).
    admitted: dict[str, set[SeriesKey]] = field(default_factory=dict, repr=False)
    _refused: dict[str, set[SeriesKey]] = field(default_factory=dict, repr=False)

    def set_kits(self, kits: dict[str, dict[str, KitSensor]]) -> None:
        """Replace the registered kits (from the registry); admissions so far are forgotten for changed homes."""
        for home in set(self.kits) | set(kits):
            if self.kits.get(home) != kits.get(home):
                self.admitted.pop(home, None)
                self._refused.pop(home, None)
        self.kits = kits

    def check(self, home: str, key: SeriesKey) -> Refusal | None:
        """None when the series may be stored; otherwise why not."""
        admitted = self.admitted.get(home)
        if admitted is not None and key in admitted:
            return None  # the hot path: a series seen before
        kit = self.kits.get(home)
        why = self._outside_kit(kit, key) if kit else None
        if why is None:
            cap = max(self.cap, 4 * len(kit)) if kit else self.cap
            if admitted is None:
                admitted = self.admitted[home] = set()
            if len(admitted) < cap:
                admitted.add(key)
                return None
            return self._refuse(home, key, DeadLetterReason.TOO_MANY_SERIES, f"home already has {cap} series")
        return self._refuse(home, key, DeadLetterReason.UNKNOWN_SENSOR, why)

    def _outside_kit(self, kit: dict[str, KitSensor], key: SeriesKey) -> str | None:
        agent, sensor, kind, room = key
        agents = {s.agent for s in kit.values() if s.agent is not None}
        if agents and agent not in agents:
            return f"agent {agent!r} is not registered for this home"
        if not sensor or (sensor == AGENT_SENSOR and kind == QUEUE_DROP):
            return None
        spec = kit.get(sensor)
        if spec is None:
            return f"sensor {sensor!r} is not in the home's registered kit"
        if spec.kind != kind:
            return f"sensor {sensor!r} is registered as {spec.kind!r}, not {kind!r}"
        if room is not None and spec.room is not None and room != spec.room:
            return f"sensor {sensor!r} is registered in room {spec.room!r}, not {room!r}"
        return None

    def _refuse(self, home: str, key: SeriesKey, reason: DeadLetterReason, detail: str) -> Refusal:
        refused = self._refused.setdefault(home, set())
        first = key not in refused and len(refused) < self.remember
        if first:
            refused.add(key)
        return Refusal(reason, detail[:300], first)

    def series(self, home: str) -> int:
        """How many series of `home` were admitted since start."""
        return len(self.admitted.get(home, ()))
