"""Time zones by name, with the one fallback every reader of a stored zone uses."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.vocabulary import DEFAULT_TIMEZONE


def tz_of(name: str | None) -> tzinfo:
    """A time zone by name, UTC when the name is empty or unknown (a stored zone must never break a page or a send)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def known_zone(value: str) -> str:
    """`value` when it names a time zone, else a ValueError saying so (for settings and registry validators)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r}, e.g. {DEFAULT_TIMEZONE}") from err
    return value
