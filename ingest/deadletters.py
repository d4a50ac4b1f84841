"""Bounded dead letters: every rejection counted per (home, reason), only a rate-limited sample kept.

One home's credentials used to be enough to write 123 MB of dead letters in 0.4 s. Now each rejected message is
counted in `dead_letter_counts` (one row per home and reason, with the latest message's topic, detail and payload
start), and a row in `dead_letters` is kept only when all of these allow it: the first `samples` of that home and
reason, a token from the home's bucket (`rate_per_min`, `burst`), and the table under `max_rows` (the oldest rows
are deleted beyond it). Payloads are cut to `payload_bytes`. Logging is at most one line per home and reason per
`log_every_s`, with how many came since. Nothing is silently lost: what is not sampled is still counted, logged and
exported as `anxin_ingest_dead_letters_unsampled_total{why}`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Executable

from anxin.db.engine import upsert_into
from anxin.db.models import DeadLetter, DeadLetterCount
from contracts import parse_topic
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)

# Keys for messages without a home of ours: a bad topic, and homes past the bound on distinct keys.
NO_HOME, OTHER_HOMES = "-", "*"


@dataclass(frozen=True)
class DeadLetterLimits:
    """How much of the rejected traffic is kept as samples."""

    samples: int = 5
    payload_bytes: int = 2048
    max_rows: int = 10_000
    rate_per_min: float = 6.0
    burst: int = 20
    log_every_s: float = 60.0
    max_homes: int = 10_000


@dataclass
class Tally:
    """What one batch adds to one (home, reason): how many, and the latest message."""

    count: int = 0
    sampled: int = 0
    at: datetime | None = None
    topic: str = ""
    detail: str = ""
    payload: bytes = b""


@dataclass(frozen=True)
class Sample:
    """A dead letter to keep as a row."""

    home: str
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Triage:
    """One batch's rejections sorted: counts per key, rows to keep, and why the others were not kept."""

    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    unsampled: Counter[str] = field(default_factory=Counter)


@dataclass
class DeadLetterBook:
    """Remembers per (home, reason) how many were sampled, and per home its token bucket and last log line."""

    limits: DeadLetterLimits = field(default_factory=DeadLetterLimits)
    sampled: dict[tuple[str, str], int] = field(default_factory=dict)
    _homes: set[str] = field(default_factory=set, repr=False)
    _buckets: dict[str, _Bucket] = field(default_factory=dict, repr=False)
    _logged_at: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)
    _unlogged: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)

    def home_of(self, topic: str) -> str:
        """The home a rejected message counts against (bounded: unknown keys beyond `max_homes` share one)."""
        parsed = parse_topic(topic)
        if parsed is None:
            return NO_HOME
        home = parsed[1]
        if home in self._homes:
            return home
        if len(self._homes) < self.limits.max_homes:
            self._homes.add(home)
            return home
        return OTHER_HOMES

    def triage(self, dead: list[tuple[str, bytes, str, str, bool]], at: datetime, mono: float) -> Triage:
        """Count every (topic, payload, reason, detail, keep) and pick the few worth a row."""
        out = Triage()
        lim = self.limits
        for topic, payload, reason, detail, keep in dead:
            home = self.home_of(topic)
            key = (home, reason)
            tally = out.tallies.get(key)
            if tally is None:
                tally = out.tallies[key] = Tally()
            tally.count += 1
            tally.at, tally.topic, tally.detail = at, topic[:256], detail[:2000]
            tally.payload = payload[: lim.payload_bytes]
            self._unlogged[key] += 1
            why = self._why_not(home, key, keep, mono)
            if why:
                out.unsampled[why] += 1
                continue
            self.sampled[key] = self.sampled.get(key, 0) + 1
            tally.sampled += 1
            out.samples.append(Sample(home, topic[:256], reason, detail[:2000], payload[: lim.payload_bytes]))
        return out

    def _why_not(self, home: str, key: tuple[str, str], keep: bool, mono: float) -> str | None:
        """Why this message gets no row of its own, or None when it does (and takes a token)."""
        if not keep:
            return "repeat"
        if self.sampled.get(key, 0) >= self.limits.samples:
            return "sample_full"
        bucket = self._buckets.get(home)
        if bucket is None:
            bucket = self._buckets[home] = _Bucket(float(self.limits.burst), mono)
        bucket.tokens = min(
            float(self.limits.burst), bucket.tokens + (mono - bucket.at) * self.limits.rate_per_min / 60
        )
        bucket.at = mono
        if bucket.tokens < 1.0:
            return "rate_limited"
        bucket.tokens -= 1.0
        return None

    def log_lines(self, tallies: dict[tuple[str, str], Tally], mono: float) -> int:
        """Log each (home, reason) at most once per `log_every_s`, with the count since its last line."""
        lines = 0
        for key, tally in tallies.items():
            last = self._logged_at.get(key)
            if last is not None and mono - last < self.limits.log_every_s:
                continue
            n = self._unlogged.pop(key, 0)
            self._logged_at[key] = mono
            log.warning(
                "rejected %d message(s) from %s as %s since the last report; latest on %s: %s",
                n,
                key[0],
                key[1],
                tally.topic[:120],
                tally.detail[:200],
            )
            lines += 1
        return lines


def merge(into: dict[tuple[str, str], Tally], more: dict[tuple[str, str], Tally]) -> None:
    """Add one batch's tallies to tallies not yet written (the database was down)."""
    for key, t in more.items():
        old = into.get(key)
        if old is None:
            into[key] = t
            continue
        old.count += t.count
        old.sampled += t.sampled
        old.at, old.topic, old.detail, old.payload = t.at, t.topic, t.detail, t.payload


class DeadLetterStore:
    """Writes tallies (upserted) and samples to SQL, keeping `dead_letters` under its row cap."""

    def __init__(self, sessions: sessionmaker[Session], limits: DeadLetterLimits) -> None:
        self.sessions = sessions
        self.limits = limits
        self.rows = 0
        self.pending: dict[tuple[str, str], Tally] = {}

    def load(self, book: DeadLetterBook) -> None:
        """Read back how many were sampled per key and how many rows exist, so bounds hold across restarts."""
        with self.sessions() as s:
            book.sampled.update(
                {
                    (h, r): n
                    for h, r, n in s.execute(
                        select(DeadLetterCount.home, DeadLetterCount.reason, DeadLetterCount.sampled)
                    )
                }
            )
            self.rows = int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)

    def write(self, tallies: dict[tuple[str, str], Tally], samples: list[Sample]) -> int:
        """Upsert the tallies (and any pending from a database outage), add the samples; returns rows deleted."""
        merge(self.pending, tallies)
        with self.sessions() as s, s.begin():
            for (home, reason), t in self.pending.items():
                s.execute(_upsert(s, home, reason, t))
            s.add_all(
                DeadLetter(
                    received_at=_tally_time(self.pending, x),
                    topic=x.topic,
                    reason=x.reason,
                    detail=x.detail,
                    payload=x.payload,
                )
                for x in samples
            )
            self.rows += len(samples)
            pruned = self._prune(s) if self.rows > self.limits.max_rows else 0
        self.pending = {}
        return pruned

    def _prune(self, s: Session) -> int:
        """Delete the oldest rows down to 90% of the cap (in one statement, not one per insert)."""
        keep = int(self.limits.max_rows * 0.9)
        self.rows = int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)
        if self.rows <= self.limits.max_rows:
            return 0
        cut = s.scalar(select(DeadLetter.id).order_by(DeadLetter.id.desc()).offset(keep).limit(1))
        if cut is None:
            return 0
        done = cast(CursorResult[Any], s.execute(delete(DeadLetter).where(DeadLetter.id <= cut)))
        n = done.rowcount or 0
        self.rows -= n
        return n


def _tally_time(tallies: dict[tuple[str, str], Tally], sample: Sample) -> datetime:
    at = tallies[(sample.home, sample.reason)].at
    assert at is not None
    return at


def _upsert(s: Session, home: str, reason: str, t: Tally) -> Executable:
    """INSERT ... ON CONFLICT DO UPDATE: several ingest processes may count the same home and reason."""
    values = {
        "home": home,
        "reason": reason,
        "count": t.count,
        "sampled": t.sampled,
        "first_at": t.at,
        "last_at": t.at,
        "last_topic": t.topic,
        "last_detail": t.detail,
        "last_payload": t.payload,
    }
    stmt = upsert_into(s, DeadLetterCount).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=[DeadLetterCount.home, DeadLetterCount.reason],
        set_={
            "count": DeadLetterCount.count + stmt.excluded.count,
            "sampled": DeadLetterCount.sampled + stmt.excluded.sampled,
            "last_at": stmt.excluded.last_at,
            "last_topic": stmt.excluded.last_topic,
            "last_detail": stmt.excluded.last_detail,
            "last_payload": stmt.excluded.last_payload,
        },
    )


class DeadLetters:
    """Ingest's dead-letter sink: triage, rate-limited logging, metrics, SQL, and a bounded file when SQL is down."""

    def __init__(
        self,
        limits: DeadLetterLimits,
        sessions: sessionmaker[Session] | None,
        fallback: Path,
        metrics: IngestMetrics,
        fallback_max_bytes: int = 16 << 20,
    ) -> None:
        self.book = DeadLetterBook(limits)
        self.store = DeadLetterStore(sessions, limits) if sessions is not None else None
        self.fallback = fallback
        self.fallback_max_bytes = fallback_max_bytes
        self.metrics = metrics

    def load(self) -> None:
        """Read back the sample counts and the row count (a database blip leaves the bounds fresh)."""
        if self.store is None:
            return
        try:
            self.store.load(self.book)
            self.metrics.dead_rows.set(self.store.rows)
        except Exception as err:
            log.warning("could not read the dead-letter counts (bounds start fresh): %s", err)

    def keep(self, dead: list[tuple[str, bytes, str, str, bool]]) -> None:
        """Count every rejected message; keep the sampled ones in SQL, or in the file when SQL is unavailable."""
        at, mono = datetime.now(UTC), time.monotonic()
        tri = self.book.triage(dead, at, mono)
        self.book.log_lines(tri.tallies, mono)
        for why, n in tri.unsampled.items():
            self.metrics.dead_unsampled.labels(why).inc(n)
        try:
            if self.store is None:
                raise RuntimeError("no database configured (check_homes off)")
            pruned = self.store.write(tri.tallies, tri.samples)
            self.metrics.dead_kept.inc(len(tri.samples))
            self.metrics.dead_rows.set(self.store.rows)
            if pruned:
                self.metrics.dead_unsampled.labels("pruned").inc(pruned)
                log.warning(
                    "dead letters at their cap of %d rows: deleted the %d oldest", self.book.limits.max_rows, pruned
                )
        except Exception as err:
            self._to_file(tri.samples, at, err)

    def _to_file(self, samples: list[Sample], at: datetime, err: Exception) -> None:
        """Keep the samples in a JSON-lines file, itself bounded; beyond it they are counted only."""
        self.fallback.parent.mkdir(parents=True, exist_ok=True)
        size = self.fallback.stat().st_size if self.fallback.exists() else 0
        if size >= self.fallback_max_bytes:
            self.metrics.dead_unsampled.labels("file_full").inc(len(samples))
            log.error("dead-letter file %s is full (%d bytes) and SQL is unavailable (%s)", self.fallback, size, err)
            return
        with open(self.fallback, "a") as fh:
            for x in samples:
                record = {
                    "at": at.isoformat(),
                    "topic": x.topic,
                    "reason": x.reason,
                    "detail": x.detail,
                    "payload": x.payload.decode(errors="replace"),
                }
                fh.write(json.dumps(record) + "\n")
        self.metrics.dead_kept.inc(len(samples))
        if samples:
            log.warning("dead letters kept in %s (database: %s)", self.fallback, err)
