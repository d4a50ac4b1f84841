"""Time zones by name, with the one fallback every reader of a stored zone uses."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def tz_of(name: str | None) -> tzinfo:
    """A time zone by name, UTC when the name is empty or unknown (a stored zone must never break a page or a send)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
