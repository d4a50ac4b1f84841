"""The agent's on-disk event queue (SQLite, WAL): seq given at enqueue, rows leave once the broker acked them."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS seqs (agent TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    safety INTEGER NOT NULL,
    enq_at REAL NOT NULL,
    payload BLOB,
    draft TEXT,
    boot_id TEXT,
    boot_s REAL,
    PRIMARY KEY (agent, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_sensor ON queue (agent, sensor, seq);
CREATE INDEX IF NOT EXISTS queue_safety ON queue (agent, safety, seq);
CREATE TABLE IF NOT EXISTS drops (agent TEXT PRIMARY KEY, total INTEGER NOT NULL, unreported INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    agent TEXT NOT NULL, sensor TEXT NOT NULL, at REAL NOT NULL, battery INTEGER, detail TEXT,
    PRIMARY KEY (agent, sensor)
);
"""


class QueueLimits(BaseModel):
    """How much the queue may hold per agent before it drops the oldest non-safety events."""

    model_config = ConfigDict(extra="forbid")

    max_events: int = Field(200_000, ge=10, description="Most events kept per agent")
    max_age_s: float = Field(30 * 86400, gt=0, description="Non-safety events older than this are dropped")


@dataclass(frozen=True)
class Row:
    """One queued event ready to send."""

    seq: int
    sensor: str
    safety: bool
    enq_at: float
    payload: bytes


@dataclass(frozen=True)
class Held:
    """One queued event waiting for a sane clock to be stamped."""

    seq: int
    draft: str
    boot_id: str | None
    boot_s: float | None


class DiskQueue:
    """Per-agent sequence numbers and unacknowledged events in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path, limits: QueueLimits | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limits = limits or QueueLimits()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut may lose the last commits but never corrupts; see docs/edge.md.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        # The queue's identity, chosen once when the file is created (or first opened by a version that has it):
        # a re-created queue (a re-flashed SD card) restarts seq at 1 under a new epoch, so ingest keeps its events
        # instead of taking them for duplicates of the old queue's.
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', ?)", (secrets.token_hex(8),))
        self.epoch: str = str(self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
        self._counts: dict[str, int] = {}
        self._owners: dict[str, str] = {}

    def claim(self, agent: str, home: str) -> None:
        """Register the home an agent's rows belong to: two homes must not share an agent name in one queue."""
        with self._lock:
            owner = self._owners.setdefault(agent, home)
        if owner != home:
            raise ValueError(f"agent name {agent!r} is used by homes {owner} and {home} in one queue {self.path}")

    def next(self, agent: str) -> int:
        """The next sequence number of `agent`, starting at 1 (for callers that keep no queue)."""
        with self._lock:
            return self._next_seq(agent)

    def _next_seq(self, agent: str) -> int:
        row = self._db.execute(
            "INSERT INTO seqs(agent, seq) VALUES (?, 1) ON CONFLICT(agent) DO UPDATE SET seq = seq + 1 RETURNING seq",
            (agent,),
        ).fetchone()
        return int(row[0])

    def last_seq(self, agent: str) -> int:
        """The last sequence number handed out (0 if none)."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM seqs WHERE agent = ?", (agent,)).fetchone()
            return int(row[0]) if row else 0

    def _count(self, agent: str) -> int:
        if agent not in self._counts:
            self._counts[agent] = int(
                self._db.execute("SELECT COUNT(*) FROM queue WHERE agent = ?", (agent,)).fetchone()[0]
            )
        return self._counts[agent]

    def enqueue(
        self,
        agent: str,
        sensor: str,
        safety: bool,
        now: float,
        build: Callable[[int], bytes] | None = None,
        draft: str | None = None,
        boot: tuple[str, float] | None = None,
    ) -> int:
        """Store one event under the next seq (`build(seq)` gives its payload, or `draft` holds it unstamped)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = self._count(agent) + 1
                seq = self._next_seq(agent)
                payload = build(seq) if build is not None else None
                self._db.execute(
                    "INSERT INTO queue(agent, seq, sensor, safety, enq_at, payload, draft, boot_id, boot_s) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (agent, seq, sensor, int(safety), now, payload, draft, *(boot or (None, None))),
                )
                dropped = 0
                if count > self.limits.max_events:
                    dropped = self._drop_oldest(agent, count - self.limits.max_events)
                self._counts[agent] = count - dropped
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._counts.pop(agent, None)
                raise
            return seq

    def _drop_oldest(self, agent: str, n: int) -> int:
        cur = self._db.execute(
            "DELETE FROM queue WHERE agent = ? AND seq IN "
            "(SELECT seq FROM queue WHERE agent = ? AND safety = 0 ORDER BY seq LIMIT ?)",
            (agent, agent, n),
        )
        self._count_drops(agent, cur.rowcount)
        return cur.rowcount

    def _count_drops(self, agent: str, n: int) -> None:
        if n > 0:
            self._db.execute(
                "INSERT INTO drops(agent, total, unreported) VALUES (?, ?, ?) ON CONFLICT(agent) DO UPDATE "
                "SET total = total + excluded.total, unreported = unreported + excluded.unreported",
                (agent, n, n),
            )

    def expire(self, agent: str, now: float) -> int:
        """Drop non-safety events older than the age limit; returns how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "DELETE FROM queue WHERE agent = ? AND safety = 0 AND payload IS NOT NULL AND enq_at < ?",
                (agent, now - self.limits.max_age_s),
            )
            self._count_drops(agent, cur.rowcount)
            self._db.execute("COMMIT")
            self._counts.pop(agent, None)
            return cur.rowcount

    def ack(self, agent: str, seqs: list[int]) -> None:
        """Forget events the broker acknowledged."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN")
            cur = self._db.executemany("DELETE FROM queue WHERE agent = ? AND seq = ?", [(agent, s) for s in seqs])
            self._db.execute("COMMIT")
            if agent in self._counts:
                self._counts[agent] -= cur.rowcount

    def head(self, agent: str, below: int | None, limit: int, safety_only: bool = False) -> list[Row]:
        """Oldest stamped events first (seq < `below` when given)."""
        sql = "SELECT seq, sensor, safety, enq_at, payload FROM queue WHERE agent = ? AND payload IS NOT NULL"
        args: list[object] = [agent]
        if below is not None:
            sql += " AND seq < ?"
            args.append(below)
        if safety_only:
            sql += " AND safety = 1"
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Row(int(s), str(n), bool(f), float(t), bytes(p)) for s, n, f, t, p in rows]

    def after(self, agent: str, from_seq: int, limit: int) -> list[Row]:
        """Stamped events with seq >= `from_seq`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, sensor, safety, enq_at, payload FROM queue WHERE agent = ? AND seq >= ? "
                "AND payload IS NOT NULL ORDER BY seq LIMIT ?",
                (agent, from_seq, limit),
            ).fetchall()
        return [Row(int(s), str(n), bool(f), float(t), bytes(p)) for s, n, f, t, p in rows]

    def backlog_sensors(self, agent: str, below: int) -> set[str]:
        """Sensors with unsent events older than `below`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT sensor FROM queue WHERE agent = ? AND seq < ?", (agent, below)
            ).fetchall()
        return {str(r[0]) for r in rows}

    def held(self, agent: str) -> list[Held]:
        """Events waiting for a sane clock, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, draft, boot_id, boot_s FROM queue WHERE agent = ? AND payload IS NULL ORDER BY seq",
                (agent,),
            ).fetchall()
        return [Held(int(s), str(d), b, f) for s, d, b, f in rows]

    def stamp(self, agent: str, payloads: dict[int, bytes], now: float) -> None:
        """Give held events their payloads (once the clock is sane)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE queue SET payload = ?, draft = NULL, enq_at = ? WHERE agent = ? AND seq = ?",
                [(p, now, agent, s) for s, p in payloads.items()],
            )
            self._db.execute("COMMIT")

    def depth(self, agent: str, now: float) -> tuple[int, float | None]:
        """How many events wait, and the age in seconds of the oldest."""
        with self._lock:
            n, oldest = self._db.execute("SELECT COUNT(*), MIN(enq_at) FROM queue WHERE agent = ?", (agent,)).fetchone()
            self._counts[agent] = int(n)
        return int(n), (max(0.0, now - float(oldest)) if oldest is not None else None)

    def drops(self, agent: str) -> tuple[int, int]:
        """Events dropped in total, and not yet reported."""
        with self._lock:
            row = self._db.execute("SELECT total, unreported FROM drops WHERE agent = ?", (agent,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def mark_drops_reported(self, agent: str, n: int) -> None:
        """Record that `n` drops were reported."""
        with self._lock:
            self._db.execute("UPDATE drops SET unreported = MAX(0, unreported - ?) WHERE agent = ?", (n, agent))

    def record_seen(self, agent: str, sensor: str, at: float, battery: int | None, detail: str | None) -> None:
        """Remember when a sensor last reported (for heartbeats across restarts and for `doctor`)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO seen(agent, sensor, at, battery, detail) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(agent, sensor) DO UPDATE SET at = excluded.at, "
                "battery = COALESCE(excluded.battery, battery), detail = COALESCE(excluded.detail, detail)",
                (agent, sensor, at, battery, detail),
            )

    def seen(self, agent: str) -> dict[str, tuple[float, int | None, str | None]]:
        """Each sensor's last report: (unix time, battery, detail)."""
        with self._lock:
            rows = self._db.execute("SELECT sensor, at, battery, detail FROM seen WHERE agent = ?", (agent,)).fetchall()
        return {str(s): (float(a), b, d) for s, a, b, d in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
