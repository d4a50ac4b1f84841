"""Where the anomaly service keeps state: per-home checkpoints on local disk, routine summaries in SQL."""

from __future__ import annotations

import logging
import pickle
import sqlite3
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from anomaly.engine import HomeMonitor
from anomaly.roles import rooms_typed_twice
from contracts.vocabulary import HOLD_S_MAX, ROOM_TYPES

log = logging.getLogger(__name__)
# 6: HomeMonitor split into parts (anomaly/monitor.py); a format-5 checkpoint is stale and that home starts afresh.
CHECKPOINT_FORMAT = 6


class StaleCheckpoint(ValueError):
    """A checkpoint written by an older engine (another format or class layout): its home starts afresh."""


def freeze(monitor: HomeMonitor) -> bytes:
    """A home's whole state as compressed bytes (what a checkpoint stores; its length is the state size)."""
    return zlib.compress(pickle.dumps((CHECKPOINT_FORMAT, monitor), protocol=pickle.HIGHEST_PROTOCOL), 6)


def thaw(blob: bytes) -> HomeMonitor:
    """A home's state back from `freeze`."""
    try:
        fmt, monitor = pickle.loads(zlib.decompress(blob))  # our own file in the service's state folder
    except (AttributeError, TypeError, ImportError) as err:
        # Classes moved or their slots changed since the checkpoint was written (an engine upgrade).
        raise StaleCheckpoint(f"checkpoint from an older engine ({type(err).__name__}: {err})") from err
    if fmt != CHECKPOINT_FORMAT or not isinstance(monitor, HomeMonitor):
        raise StaleCheckpoint(f"checkpoint format {fmt} is not {CHECKPOINT_FORMAT}")
    return monitor


class CheckpointStore:
    """Per-home checkpoints in one SQLite file: a row per home (state, recent message digests)."""

    def __init__(self, path: Path, busy_timeout_s: float = 1.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # A short busy timeout: a locked file fails this attempt fast and the service retries later, instead of
        # holding up every home's messages for the default 5 s per attempt.
        self._db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Survives a killed process (the WAL is in the OS's hands at commit); a power cut may lose the last
            # commits, as it may the broker's own unsynced state. Saves an fsync per batch of messages.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS homes (home TEXT PRIMARY KEY, saved REAL, state BLOB)")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(homes)")}
            if "seen" not in columns:  # checkpoints written before message digests were kept
                self._db.execute("ALTER TABLE homes ADD COLUMN seen BLOB")
            self._db.commit()
        except sqlite3.Error:
            self._db.close()
            raise

    def save(self, monitors: dict[str, HomeMonitor], seen: dict[str, bytes], at: datetime) -> int:
        """Write these homes' state and seen-message digests; returns the largest checkpoint in bytes."""
        rows = [(home, at.timestamp(), freeze(m), seen.get(home, b"")) for home, m in monitors.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO homes (home, saved, state, seen) VALUES (?, ?, ?, ?)", rows)
        return max((len(r[2]) for r in rows), default=0)

    def load(self) -> tuple[dict[str, HomeMonitor], dict[str, bytes]]:
        """Every home's last checkpoint and digests; one that cannot be read is skipped (that home starts afresh)."""
        out: dict[str, HomeMonitor] = {}
        seen: dict[str, bytes] = {}
        stale: list[str] = []
        for home, blob, digests in self._db.execute("SELECT home, state, seen FROM homes"):
            try:
                out[home] = thaw(blob)
            except StaleCheckpoint:
                stale.append(home)  # after an upgrade every home is stale: one line for all, not one per home
                continue
            except Exception as err:  # a bad checkpoint must not keep the other homes from resuming
                log.warning("checkpoint of %s unreadable (%s): starting it afresh", home, err)
                continue
            seen[home] = bytes(digests or b"")
        if stale:
            log.warning(
                "%d checkpoints written by an older engine (e.g. %s): those homes start afresh",
                len(stale),
                ", ".join(stale[:3]),
            )
        return out, seen

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def home_timezones(db_url: str, keep: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Each home's IANA time zone name, as the `homes` table has it (`keep`: of these homes only)."""
    from sqlalchemy import select

    from anxin.db.engine import url_session
    from anxin.db.models import Home

    with url_session(db_url) as session:
        rows = session.execute(select(Home.id, Home.timezone))
        return {home: tz for home, tz in rows if keep is None or keep(home)}


def home_kits(db_url: str, keep: Callable[[str], bool] | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """Each registered home's kit as the installer gave it: sensor -> {kind, room, role, room_type, hold_s} (`keep`:
    of these homes only). What the console would refuse (written past it) is left out, as is the type of a room
    given two: neither is believed."""
    from sqlalchemy import select

    from anxin.db.engine import url_session
    from anxin.db.models import HomeSensor

    kits: dict[str, dict[str, dict[str, str]]] = {}
    cols = (HomeSensor.home_id, HomeSensor.sensor, HomeSensor.kind, HomeSensor.room, HomeSensor.role)
    more = (HomeSensor.room_type, HomeSensor.hold_s)
    with url_session(db_url) as session:
        rows = session.execute(select(*cols, *more).order_by(HomeSensor.home_id, HomeSensor.sensor))
        for home, sensor, kind, room, role, room_type, hold in rows:
            if keep is not None and not keep(home):
                continue
            meta = {"kind": kind} | ({"room": room} if room else {}) | ({"role": role} if role else {})
            if room and room_type in ROOM_TYPES:
                meta["room_type"] = room_type
            if kind == "motion" and hold is not None and 0 <= hold <= HOLD_S_MAX:  # (NaN compares false)
                meta["hold_s"] = repr(float(hold))
            kits.setdefault(home, {})[sensor] = meta
    for kit in kits.values():
        clashed = rooms_typed_twice(kit)  # (neither type believed)
        for meta in kit.values():
            if meta.get("room", "").lower() in clashed:
                meta.pop("room_type", None)
    return kits


def home_budgets(db_url: str, keep: Callable[[str], bool] | None = None) -> dict[str, float]:
    """Each home's false-alarm budget an operator set in the console (`keep`: of these homes only)."""
    from sqlalchemy import select

    from anxin.db.engine import url_session
    from anxin.db.models import Home

    q = select(Home.id, Home.false_alarm_budget).where(Home.false_alarm_budget.is_not(None))
    with url_session(db_url) as session:
        return {home: float(b) for home, b in session.execute(q) if b is not None and (keep is None or keep(home))}


def summary_rows(monitors: Mapping[str, HomeMonitor]) -> dict[str, dict[str, Any]]:
    """Each home's `routine_summaries` values (no I/O: a worker works them out on its loop, then writes in a thread)."""
    return {
        home: {"days_learned": m.days_learned, "confidence": m.confidence(), "summary": m.summary()}
        for home, m in monitors.items()
    }


def write_summaries(db_url: str, rows: Mapping[str, dict[str, Any]], at: datetime) -> int:
    """Upsert `routine_summaries` rows (`summary_rows`), worked out at `at`, for homes the SQL database knows; returns
    how many.

    One statement per home, INSERT ... ON CONFLICT DO UPDATE: during a takeover two cluster workers may write one
    home's, and the first insert of a new home must not fail the other's batch. The last write wins, whichever worked
    it out: a worker that lost the home may put back a summary minutes old until the owner's next (`summary_s`). A
    guard on `updated_at` would compare the clocks of two hosts, and one running fast froze the owner's summaries
    until its own clock caught up (review).
    """
    from sqlalchemy import select

    from anxin.db.engine import upsert_into, url_session
    from anxin.db.models import Home, RoutineSummary

    with url_session(db_url) as session:
        known = set(session.scalars(select(Home.id).where(Home.id.in_(list(rows)))))
        for home in sorted(known):  # (one order in every writer: no deadlock between two batches)
            values: dict[str, Any] = {"updated_at": at, **rows[home]}
            stmt = upsert_into(session, RoutineSummary).values(home_id=home, **values)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[RoutineSummary.home_id],
                    set_={k: getattr(stmt.excluded, k) for k in values},
                )
            )
        session.commit()
    return len(known)
