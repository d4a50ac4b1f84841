"""Device health: a silent sensor, a low battery, the home's agent offline (told apart from a still resident)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from anomaly.const import DAY, DEVICE_KINDS, HOUR, MIN
from anomaly.presence import Presence
from anomaly.roles import SensorState
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


class Devices:
    """The agent's state and when sensors are next checked for silence."""

    __slots__ = ("agent_offline_since", "agent_reported", "sensor_check")

    def __init__(self) -> None:
        self.sensor_check = -math.inf
        self.agent_offline_since: float | None = None
        self.agent_reported = False


def battery(m: HomeMonitor, t: float, sensor: str, level: int, s: SensorState, out: list[Finding]) -> None:
    """Low battery once per fall under 15 %, re-armed over 30 %."""
    if level <= 15 and not s.low:
        s.low = True
        f = m.finding(
            FindingKind.LOW_BATTERY, Severity.WARNING, t, t, {"sensor": sensor, "battery": level, "threshold": 15}
        )
        out.append(f.model_copy(update={"id": f"{m.home}:low_battery:{sensor[:40]}:{int(t)}"}))
    elif level >= 30:
        s.low = False


def agent_status(m: HomeMonitor, t: float, online: bool) -> None:
    """The agent said it is online (status, heartbeat) or went offline (status, last will)."""
    d = m.devices
    if online:
        d.agent_offline_since = None
        d.agent_reported = False
    elif d.agent_offline_since is None:
        d.agent_offline_since = t
        m.next_check = min(m.next_check, t + m.limits.agent_offline_grace_min * MIN)


def check_agent(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Agent offline past its grace: a device problem, with where the resident was last seen."""
    d, w = m.devices, m.where
    if d.agent_offline_since is None:
        return
    due = d.agent_offline_since + m.limits.agent_offline_grace_min * MIN
    if now >= due and not d.agent_reported:
        d.agent_reported = True
        ev: dict[str, Any] = {"offline_min": round((now - d.agent_offline_since) / MIN)}
        if w.last_act is not None:
            ev.update(
                last_motion=m.dt(w.last_act).isoformat(),
                room=m.kit.room_name(w.last_room),
                possible_inactivity=w.presence is Presence.HOME,
            )
        out.append(m.finding(FindingKind.AGENT_OFFLINE, Severity.WARNING, now, d.agent_offline_since, ev))
    elif not d.agent_reported:
        nxt.append(due)


def check_sensors(m: HomeMonitor, now: float, out: list[Finding]) -> None:
    """A sensor silent for much longer than its longest gap, while others show someone at home."""
    w = m.where
    if w.presence is not Presence.HOME or w.last_act is None or now - w.last_act > 3 * HOUR:
        return  # a silent sensor is only telling while others show someone at home
    for name, s in m.kit.sensors.items():
        kind = s.kind
        if s.silent or kind in DEVICE_KINDS or kind == "button" or now - s.first < 3 * DAY or s.max_gap > 30 * HOUR:
            continue
        limit = min(max(2.5 * s.max_gap, 12 * HOUR), 48 * HOUR)
        if now - s.last >= limit:
            s.silent = True
            ev = {"sensor": name, "kind": kind, "silent_h": round((now - s.last) / HOUR, 1)}
            out.append(m.finding(FindingKind.SENSOR_SILENT, Severity.WARNING, now, s.last, ev))
