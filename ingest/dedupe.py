"""Drop duplicate events by (home, agent, seq) and count gaps, cheaply and with bounded memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Seen(Enum):
    """What a sequence number means for its agent."""

    NEW = "new"
    DUPLICATE = "duplicate"


@dataclass
class _Agent:
    high: int = 0
    # Bit i set: seq (high - i) was seen. Python ints make this an unbounded-looking but masked bitset.
    bits: int = 0
    gaps: int = 0


@dataclass
class SeqTracker:
    """Per-agent high-water mark with a sliding window of recently seen sequence numbers."""

    window: int = 4096
    agents: dict[tuple[str, str], _Agent] = field(default_factory=dict)

    def check(self, home: str, agent: str, seq: int) -> Seen:
        """Record `seq` and say whether it is new; a seq older than the window counts as seen."""
        a = self.agents.get((home, agent))
        if a is None:
            a = self.agents[(home, agent)] = _Agent(high=seq, bits=1)
            return Seen.NEW
        if seq > a.high:
            shift = seq - a.high
            a.gaps += shift - 1
            a.bits = ((a.bits << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            a.high = seq
            return Seen.NEW
        back = a.high - seq
        if back >= self.window:
            return Seen.DUPLICATE
        mask = 1 << back
        if a.bits & mask:
            return Seen.DUPLICATE
        # A late event filling an earlier gap: new after all.
        a.bits |= mask
        a.gaps = max(0, a.gaps - 1)
        return Seen.NEW

    def gaps(self) -> dict[tuple[str, str], int]:
        """Missing sequence numbers per (home, agent) so far: events lost upstream."""
        return {k: a.gaps for k, a in self.agents.items() if a.gaps}
