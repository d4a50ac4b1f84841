"""The alerts' send and retry policy, defined once: backoff, attempts, lease, per-number rate, database waits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

# Outbox sends: a retryable failure (5xx, 429, timeout, network) comes back after the n-th delay (the last repeats),
# up to MAX_SEND_ATTEMPTS attempts in all; settings `retry_backoff_s` and `max_send_attempts` override both.
SEND_BACKOFF_S: tuple[float, ...] = (5.0, 30.0, 120.0, 300.0, 600.0)
MAX_SEND_ATTEMPTS = 6
# The database away or locked while a finding waits: doubling from the first delay up to the cap, until it answers.
DB_RETRY_FIRST_S = 0.5
DB_RETRY_MAX_S = 30.0
# A claimed row is the sender's for this long; past it, a crash is assumed and the provider is asked.
SEND_LEASE_S = 60.0
# At most this many SMS to one number in the window; the rest wait their turn.
RATE_PER_NUMBER = 5
RATE_WINDOW_S = 60.0


def retry_at(now: datetime, attempts: int, backoff_s: Sequence[float] = SEND_BACKOFF_S) -> datetime:
    """When a row that just failed its `attempts`-th try is due again (the last delay repeats)."""
    return now + timedelta(seconds=backoff_s[min(max(attempts, 1), len(backoff_s)) - 1])


def db_delays() -> Iterator[float]:
    """Waits between tries while the database is unavailable: 0.5 s, 1 s, 2 s, ... up to 30 s, forever."""
    delay = DB_RETRY_FIRST_S
    while True:
        yield delay
        delay = min(delay * 2, DB_RETRY_MAX_S)


@dataclass(frozen=True)
class SendPolicy:
    """How the outbox sends: retry timing and attempts, the sender's name and lease, the per-number rate limit."""

    backoff_s: Sequence[float] = SEND_BACKOFF_S
    max_attempts: int = MAX_SEND_ATTEMPTS
    worker: str = "alerts"
    lease_s: float = SEND_LEASE_S
    rate_per_number: int = RATE_PER_NUMBER
    rate_window_s: float = RATE_WINDOW_S


class SendOptions(TypedDict, total=False):
    """SendPolicy's fields as keyword arguments (`**send: Unpack[SendOptions]`), for the pipeline's callers."""

    backoff_s: Sequence[float]
    max_attempts: int
    worker: str
    lease_s: float
    rate_per_number: int
    rate_window_s: float
