"""The engine: every home's `HomeMonitor` (anomaly/monitor.py), created on a home's first message.

`HomeMonitor`, `HomeLimits`, `Tuning`, `Options` and `Presence` are re-exported here so existing imports keep working.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from anomaly.const import DETECTOR, room_class
from anomaly.limits import HomeLimits, Options, Tuning
from anomaly.monitor import HomeMonitor
from anomaly.presence import Presence
from contracts import Feedback, Finding, SensorEvent

__all__ = ["DETECTOR", "Engine", "HomeLimits", "HomeMonitor", "Options", "Presence", "Tuning", "room_class"]
log = logging.getLogger(__name__)
TICK_FAILED_S = 60.0  # a home whose checks raised is tried again this much later (not at every tick: one log a minute)


class Engine:
    """All homes' monitors; a home is created on its first message."""

    def __init__(self, options: Options | None = None, home_limits: dict[str, HomeLimits] | None = None) -> None:
        self.options = options or Options()
        self.home_limits = dict(home_limits or {})
        self.home_tz: dict[str, tzinfo] = {}  # homes whose time zone is not the engine's
        self.home_kits: dict[str, dict[str, dict[str, str]]] = {}  # the installer's kit per home (roles, rooms)
        self.homes: dict[str, HomeMonitor] = {}

    def monitor(self, home: str) -> HomeMonitor:
        """The monitor of a home, created on first use."""
        m = self.homes.get(home)
        if m is None:
            o = self.options
            tz = self.home_tz.get(home, o.tz)
            m = self.homes[home] = HomeMonitor(home, tz, self.home_limits.get(home, o.limits), o.tuning)
            kit = self.home_kits.get(home)
            if kit:
                m.set_sensor_meta(kit)
        return m

    def install(self, home: str, monitor: HomeMonitor, *, limits: bool = True) -> None:
        """Run a monitor restored from a checkpoint under what is said of its home now (limits, zone, kit).

        The checkpoint holds what was in effect when it was written: a budget cleared, a zone or a kit changed in the
        registry while the service was down (or while another worker held the home) must not come back with it.
        `limits=False` (the registry's budgets could not be read): the checkpoint's limits, the last word known, stand.
        """
        self.homes[home] = monitor
        if limits:
            self.apply_limits(home)
        tz = self.home_tz.get(home)
        if tz is not None:
            self.set_timezone(home, tz)
        kit = self.home_kits.get(home)
        if kit is not None:
            self.set_kit(home, kit)

    def set_kit(self, home: str, kit: dict[str, dict[str, str]]) -> None:
        """One home's kit as the installer gave it (sensor -> kind, room, role, room_type, hold_s), for its monitor."""
        self.home_kits[home] = kit
        m = self.homes.get(home)
        if m is not None and m.kit.meta != kit:  # (the monitor's own: one restored from a checkpoint may hold another)
            m.set_sensor_meta(kit)

    def set_timezone(self, home: str, tz: tzinfo) -> None:
        """Read one home's clock in `tz` (routine, nights, slots); a running monitor moves at its next midnight."""
        self.home_tz[home] = tz
        m = self.homes.get(home)
        if m is not None and str(m._tz) != str(tz):
            m._tz = tz

    def set_limits(self, home: str, limits: HomeLimits) -> None:
        """Set an operator's floors and ceilings for one home."""
        self.home_limits[home] = limits
        self.apply_limits(home)

    def apply_limits(self, home: str) -> None:
        """Hand a running home the limits in effect now (its own, else the engine's): after a checkpoint was read."""
        m = self.homes.get(home)
        want = self.home_limits.get(home, self.options.limits)
        if m is not None and m.limits != want:
            m.limits = want
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

    def feedback(self, fb: Feedback, at: datetime) -> None:
        """A responder's verdict on an alert of this home, received at `at`."""
        self.monitor(fb.home).apply_feedback(fb.kind, fb.outcome, at.timestamp(), fb.finding_ids, fb.alert_id)

    def tick(self, now: datetime) -> list[Finding]:
        """Advance every home's clock; a home with nothing due costs one comparison."""
        t = now.timestamp()
        out: list[Finding] = []
        for m in self.homes.values():
            if t >= m.next_check:
                try:
                    out.extend(m.tick_at(t))
                except Exception:  # one home's failure must not stop every home's clock (nor crash the service)
                    log.exception("home %s: its checks failed at %s; other homes go on", m.home, now.isoformat())
                    m.next_check = t + TICK_FAILED_S
        return out
