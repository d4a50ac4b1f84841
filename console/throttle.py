"""Log-in throttling by (typed username, client address): a short, growing wait, never a lock-out.

Keyed by the name as typed, known or not, so the answer and its timing are the same for every name and say nothing
of which accounts exist. Keyed by the client's address too, so failures from one place never keep the real operator
out from another. Kept in memory: the console is one process, and a restart only forgives a few wrong passwords.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_KEYS = 10_000  # bounded: random names cannot grow it without limit
FIRST_WAIT_S = 2.0


@dataclass
class _Entry:
    failures: int
    until: datetime | None


class LoginThrottle:
    """After `free` failures in a row for one (name, address), each further try waits 2 s, 4 s, ... up to `cap_s`."""

    def __init__(self, free: int, cap_s: float) -> None:
        self.free = free
        self.cap = timedelta(seconds=cap_s)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def wait(self, name: str, address: str, now: datetime) -> float:
        """Seconds this name from this address must still wait before a password is checked (0: go ahead)."""
        with self._lock:
            entry = self._entries.get((name, address))
            if entry is None or entry.until is None or entry.until <= now:
                return 0.0
            return (entry.until - now).total_seconds()

    def failed(self, name: str, address: str, now: datetime) -> None:
        """Count a wrong password (or an unknown name) and set the wait before the next try."""
        with self._lock:
            entry = self._entries.pop((name, address), None) or _Entry(0, None)
            entry.failures += 1
            over = entry.failures - self.free
            if over >= 0:
                wait = min(timedelta(seconds=FIRST_WAIT_S * 2 ** min(over, 30)), self.cap)
                entry.until = now + wait
            self._entries[(name, address)] = entry
            while len(self._entries) > MAX_KEYS:
                self._entries.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of this name from this address."""
        with self._lock:
            self._entries.pop((name, address), None)

    def unlock(self, name: str) -> int:
        """Forget every wait of this name, from every address (an admin's unlock); how many there were."""
        with self._lock:
            keys = [k for k in self._entries if k[0] == name]
            for k in keys:
                del self._entries[k]
            return len(keys)
