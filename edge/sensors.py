"""What the sensor adapters hand the agent: one reading, and the sink they hand it to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reading:
    """One sensor reading, stamped when the adapter saw it."""

    sensor: str
    kind: str
    value: int | str
    ts: datetime
    room: str | None = None
    battery: int | None = None


Sink = Callable[[Reading], None]
Clock = Callable[[], datetime]
