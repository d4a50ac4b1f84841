"""Where the anomaly service keeps state: per-home checkpoints on local disk, routine summaries in SQL."""

from __future__ import annotations

import logging
import pickle
import sqlite3
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from anomaly.engine import HomeMonitor

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 5


def freeze(monitor: HomeMonitor) -> bytes:
    """A home's whole state as compressed bytes (what a checkpoint stores; its length is the state size)."""
    return zlib.compress(pickle.dumps((CHECKPOINT_FORMAT, monitor), protocol=pickle.HIGHEST_PROTOCOL), 6)


def thaw(blob: bytes) -> HomeMonitor:
    """A home's state back from `freeze`."""
    fmt, monitor = pickle.loads(zlib.decompress(blob))  # our own file in the service's state folder
    if fmt != CHECKPOINT_FORMAT or not isinstance(monitor, HomeMonitor):
        raise ValueError(f"checkpoint format {fmt} is not {CHECKPOINT_FORMAT}")
    return monitor


class CheckpointStore:
    """Per-home checkpoints in one SQLite file: a row per home, replaced in one transaction per save."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS homes (home TEXT PRIMARY KEY, saved REAL, state BLOB)")
        self._db.commit()

    def save(self, monitors: dict[str, HomeMonitor], at: datetime) -> int:
        """Write these homes' state; returns the largest checkpoint in bytes."""
        rows = [(home, at.timestamp(), freeze(m)) for home, m in monitors.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO homes VALUES (?, ?, ?)", rows)
        return max((len(r[2]) for r in rows), default=0)

    def load(self) -> dict[str, HomeMonitor]:
        """Every home's last checkpoint; one that cannot be read is skipped (that home starts afresh)."""
        out: dict[str, HomeMonitor] = {}
        for home, blob in self._db.execute("SELECT home, state FROM homes"):
            try:
                out[home] = thaw(blob)
            except Exception as err:  # a bad checkpoint must not keep the other homes from resuming
                log.warning("checkpoint of %s unreadable (%s): starting it afresh", home, err)
        return out

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def home_timezones(db_url: str) -> dict[str, str]:
    """Each home's IANA time zone name, as the `homes` table has it."""
    from sqlalchemy import select

    from anxin.db.engine import url_session
    from anxin.db.models import Home

    with url_session(db_url) as session:
        return {home: tz for home, tz in session.execute(select(Home.id, Home.timezone))}


def write_summaries(db_url: str, monitors: dict[str, HomeMonitor], at: datetime) -> int:
    """Upsert `routine_summaries` rows for homes the SQL database knows; returns how many were written."""
    from sqlalchemy import select

    from anxin.db.engine import url_session
    from anxin.db.models import Home, RoutineSummary

    with url_session(db_url) as session:
        known = set(session.scalars(select(Home.id).where(Home.id.in_(list(monitors)))))
        for home in known:
            m = monitors[home]
            row = session.get(RoutineSummary, home)
            values: dict[str, Any] = {
                "updated_at": at,
                "days_learned": m.days_learned,
                "confidence": m.confidence(),
                "summary": m.summary(),
            }
            if row is None:
                session.add(RoutineSummary(home_id=home, **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
        session.commit()
    return len(known)
