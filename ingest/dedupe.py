"""Drop duplicate events by (home, agent, epoch, seq), count gaps and seq resets, with bounded memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Seen(Enum):
    """What a sequence number means for its agent."""

    NEW = "new"
    DUPLICATE = "duplicate"


class Reset(Enum):
    """How an agent's seq restarted: a new queue epoch, or (agents without one) a seq far behind the window."""

    EPOCH = "epoch"
    FAR_BACK = "far_back"


@dataclass
class _Agent:
    high: int = 0
    # Bit i set: seq (high - i) was seen. Python ints make this an unbounded-looking but masked bitset.
    bits: int = 0
    gaps: int = 0


# Epochs remembered per (home, agent): the current one and a few before it, for late redeliveries of old events.
_EPOCHS_KEPT = 4


@dataclass
class SeqTracker:
    """Per-agent, per-epoch high-water mark with a sliding window of recently seen sequence numbers.

    An agent's epoch is the identity of its disk queue (edge/queue.py); a re-created queue (a re-flashed SD card)
    restarts seq at 1 under a new epoch, so its events are new, not duplicates of the old queue's. A seq further
    behind the high-water mark than the window is kept too (an old backlog or, for agents that send no epoch, a
    reset): InfluxDB writes are idempotent, so keeping a true duplicate costs nothing, and dropping it lost events.
    """

    window: int = 4096
    agents: dict[tuple[str, str, str], _Agent] = field(default_factory=dict)
    # (home, agent) -> its epochs, newest last.
    epochs: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    on_reset: Callable[[str, str, Reset, str], None] | None = None

    def check(self, home: str, agent: str, seq: int, epoch: str | None = None) -> Seen:
        """Record `seq` and say whether it is new; counts a reset (new epoch, or seq far back) through `on_reset`."""
        key = (home, agent, epoch or "")
        a = self.agents.get(key)
        if a is None:
            self._new_epoch(home, agent, epoch or "")
            a = self.agents[key] = _Agent(high=seq, bits=1)
            return Seen.NEW
        if seq > a.high:
            shift = seq - a.high
            a.gaps += shift - 1
            a.bits = ((a.bits << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            a.high = seq
            return Seen.NEW
        back = a.high - seq
        if back >= self.window:
            if self.on_reset is not None:
                self.on_reset(home, agent, Reset.FAR_BACK, f"seq {seq} is {back} behind {a.high}")
            return Seen.NEW
        mask = 1 << back
        if a.bits & mask:
            return Seen.DUPLICATE
        # A late event filling an earlier gap: new after all.
        a.bits |= mask
        a.gaps = max(0, a.gaps - 1)
        return Seen.NEW

    def _new_epoch(self, home: str, agent: str, epoch: str) -> None:
        known = self.epochs.setdefault((home, agent), [])
        # From no epoch to one is an agent upgraded in place (its seq goes on), not a reset.
        if known and known[-1] and self.on_reset is not None:
            self.on_reset(home, agent, Reset.EPOCH, f"epoch {known[-1]} -> {epoch or '(none)'}")
        known.append(epoch)
        while len(known) > _EPOCHS_KEPT:
            self.agents.pop((home, agent, known.pop(0)), None)

    def gaps(self) -> dict[tuple[str, str], int]:
        """Missing sequence numbers per (home, agent) so far, over its epochs: events lost upstream."""
        out: dict[tuple[str, str], int] = {}
        for (home, agent, _epoch), a in self.agents.items():
            if a.gaps:
                out[(home, agent)] = out.get((home, agent), 0) + a.gaps
        return out
