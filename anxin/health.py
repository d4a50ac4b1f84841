"""Health checks every service's /healthz shares: the broker, SQL and InfluxDB reachable, and one JSON shape.

The endpoints are unauthenticated, so a failed check names the component and the error's class, never a URL, a
host name or a driver's message (which can carry user names or paths).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from anxin.influxql import InfluxQL, InfluxQueryError


@dataclass(frozen=True)
class Check:
    """One dependency: whether it answered, whether the process is useless without it, and why not."""

    name: str
    ok: bool
    essential: bool = True
    error: str = ""


def _reason(err: BaseException) -> str:
    # The innermost cause is the telling one (ConnectionRefusedError under InfluxQueryError under ...).
    while err.__cause__ is not None:
        err = err.__cause__
    return type(err).__name__


def broker_check(host: str, port: int, timeout_s: float = 1.0) -> Check:
    """Whether the broker accepts TCP connections (for a process that holds no MQTT session of its own)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return Check("broker", True)
    except OSError as err:
        return Check("broker", False, error=_reason(err))


def session_check(connected: bool) -> Check:
    """Whether the process's own MQTT session is connected now."""
    return Check("broker", connected, error="" if connected else "not connected")


def sql_check(session_factory: Callable[[], Session]) -> Check:
    """Whether the SQL database answers SELECT 1."""
    try:
        with session_factory() as session:
            session.execute(text("SELECT 1"))
        return Check("database", True)
    except Exception as err:  # any failure means the same to a health check: not usable now
        return Check("database", False, error=_reason(err))


def influx_check(influx: InfluxQL) -> Check:
    """Whether InfluxDB answers a cheap query on the configured database (so auth and database are checked too)."""
    try:
        influx.query("SHOW MEASUREMENTS LIMIT 1")
        return Check("influxdb", True)
    except InfluxQueryError as err:
        return Check("influxdb", False, error=_reason(err))


def age_s(monotonic_at: float | None) -> float | None:
    """Seconds since a time.monotonic() reading, rounded; None when there was none."""
    return None if monotonic_at is None else round(time.monotonic() - monotonic_at, 1)


def report(checks: list[Check], **facts: Any) -> tuple[int, dict[str, Any]]:
    """HTTP status (503 when an essential check failed) and the body: status, what is down, each check, facts."""
    down = [c.name for c in checks if not c.ok and c.essential]
    body: dict[str, Any] = {
        "status": "unavailable" if down else "ok",
        "down": down,
        "checks": {c.name: {"ok": c.ok, **({"error": c.error} if c.error else {})} for c in checks},
        **facts,
    }
    return (503 if down else 200), body
