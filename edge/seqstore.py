"""Per-agent event sequence numbers that survive restarts (SQLite, WAL)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SeqStore:
    """Hands out seq = previous + 1 per agent, committed before the event leaves."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seqs (agent TEXT PRIMARY KEY, seq INTEGER NOT NULL)")

    def next(self, agent: str) -> int:
        """The next sequence number of `agent`, starting at 1."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO seqs(agent, seq) VALUES (?, 1) ON CONFLICT(agent) DO UPDATE SET seq = seq + 1 "
                "RETURNING seq",
                (agent,),
            ).fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
