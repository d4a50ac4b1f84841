"""Per-agent event sequence numbers that survive restarts: the agent's disk queue (SQLite, WAL) hands them out."""

from __future__ import annotations

from edge.queue import DiskQueue, QueueLimits


class SeqStore(DiskQueue):
    """Hands out seq = previous + 1 per agent, committed with the queued event before it leaves."""


__all__ = ["QueueLimits", "SeqStore"]
