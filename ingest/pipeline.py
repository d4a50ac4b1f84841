"""Pure ingest logic: one MQTT message in, a point to store or a reason to reject out."""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import (
    ContractError,
    DeadLetterReason,
    TopicKind,
    parse_event,
    parse_heartbeat,
    parse_status,
    parse_topic,
)
from ingest.dedupe import Seen, SeqTracker
from ingest.fastpath import FastEvents
from ingest.lineprotocol import epoch_ns, event_line, heartbeat_line, status_line
from ingest.series import SeriesGuard, SeriesKey


@dataclass(frozen=True)
class Rejected:
    """A message that breaks the contract, with a stable reason code and a human detail.

    `keep` False: counted, but not worth another dead letter (a series already refused once).
    """

    reason: str
    detail: str
    keep: bool = True


# A seq beyond this cannot be stored as an InfluxDB integer field and would poison the agent's dedupe window.
MAX_SEQ = 2**53
# Numeric values beyond this are sensor garbage (and ±inf/NaN are refused by InfluxDB).
MAX_ABS_VALUE = 1e12
# Events older than this are not late but wrong (a Pi without RTC booting at 1970).
MIN_TS = datetime(2000, 1, 1).astimezone()
_RANGE_FIELDS = ("battery:", "seq:")
# A pure function of the topic, and a home's topics repeat: remember the answers (bounded).
_parse_topic = functools.lru_cache(maxsize=1 << 16)(parse_topic)


@dataclass
class Validator:
    """Turns messages into line protocol, dropping duplicates and rejecting bad input; counts everything."""

    known_homes: frozenset[str] | None = None
    max_future: timedelta = timedelta(minutes=5)
    seqs: SeqTracker = field(default_factory=SeqTracker)
    series: SeriesGuard = field(default_factory=SeriesGuard)
    counts: Counter[str] = field(default_factory=Counter)
    fast: FastEvents = field(default_factory=lambda: FastEvents(epoch_ns(MIN_TS)))
    _now: datetime | None = field(default=None, init=False, repr=False)
    _latest_ns: int = field(default=0, init=False, repr=False)

    def handle(self, topic: str, payload: bytes, now: datetime) -> str | Rejected | None:
        """A line to store, a rejection, or None for a duplicate."""
        self.counts["received"] += 1
        result = self._handle(topic, payload, now)
        if isinstance(result, Rejected):
            self.counts[f"invalid:{result.reason}"] += 1
        elif result is None:
            self.counts["duplicate"] += 1
        return result

    def _handle(self, topic: str, payload: bytes, now: datetime) -> str | Rejected | None:
        parsed = _parse_topic(topic)
        if parsed is None or parsed[0] in (TopicKind.FINDINGS, TopicKind.FEEDBACK):
            return Rejected(DeadLetterReason.BAD_TOPIC, f"not a home topic of the contract: {topic[:120]}")
        kind, home = parsed
        if self.known_homes is not None and home not in self.known_homes:
            return Rejected(DeadLetterReason.UNKNOWN_HOME, f"home {home} is not registered")
        if kind is TopicKind.EVENTS:
            if now is not self._now:
                self._now, self._latest_ns = now, epoch_ns(now + self.max_future)
            fast = self.fast.event(home, payload, self._latest_ns)
            if fast is not None:
                agent, seq, line, sensor, kind_, room, epoch = fast
                key = (agent, sensor, kind_, room)
                admitted = self.series.admitted.get(home)
                if admitted is None or key not in admitted:  # the guard decides only series not seen before
                    return self._admit(home, key, seq, epoch, line)
                return None if self.seqs.check(home, agent, seq, epoch) is Seen.DUPLICATE else line
        try:
            if kind is TopicKind.EVENTS:
                event = parse_event(payload)
                if event.home != home:
                    return Rejected(DeadLetterReason.HOME_MISMATCH, f"topic says {home}, payload says {event.home}")
                if event.ts - now > self.max_future:
                    return Rejected(
                        DeadLetterReason.FUTURE_TS, f"ts {event.ts.isoformat()} is ahead of now {now.isoformat()}"
                    )
                out_of_range = _out_of_range(event.seq, event.value, event.ts)
                if out_of_range:
                    return Rejected(DeadLetterReason.OUT_OF_RANGE, out_of_range)
                key = (event.agent, event.sensor, event.kind, event.room)
                return self._admit(home, key, event.seq, event.epoch, event_line(event))
            if kind is TopicKind.STATUS:
                status = parse_status(payload)
                return self._check_ts(status.ts, now) or self._agent_line(home, status.agent, status_line(home, status))
            hb = parse_heartbeat(payload)
            if hb.home != home:
                return Rejected(DeadLetterReason.HOME_MISMATCH, f"topic says {home}, payload says {hb.home}")
            return self._check_ts(hb.ts, now) or self._agent_line(home, hb.agent, heartbeat_line(hb))
        except ContractError as err:
            if err.reason == "schema" and err.detail.startswith(_RANGE_FIELDS) and "than" in err.detail:
                # Within the schema but outside the field's bounds (battery 0-100, seq >= 1): its own reason.
                return Rejected(DeadLetterReason.OUT_OF_RANGE, err.detail)
            return Rejected(err.reason, err.detail)

    def _admit(self, home: str, key: SeriesKey, seq: int, epoch: str | None, line: str) -> str | Rejected | None:
        """An event's line, unless its series is refused (Rejected) or it is a duplicate (None)."""
        refused = self.series.check(home, key)
        if refused is not None:
            return Rejected(refused.reason, refused.detail, refused.first)
        return None if self.seqs.check(home, key[0], seq, epoch) is Seen.DUPLICATE else line

    def _agent_line(self, home: str, agent: str, line: str) -> str | Rejected:
        """A status or heartbeat line, unless its agent would be a series the home may not create."""
        refused = self.series.check(home, (agent, "", "", None))
        return line if refused is None else Rejected(refused.reason, refused.detail, refused.first)

    def _check_ts(self, ts: datetime, now: datetime) -> Rejected | None:
        """Status and heartbeats get the events' time checks: a status dated 2200 must not pin a home online."""
        if ts - now > self.max_future:
            return Rejected(DeadLetterReason.FUTURE_TS, f"ts {ts.isoformat()} is ahead of now {now.isoformat()}")
        if ts < MIN_TS:
            return Rejected(DeadLetterReason.OUT_OF_RANGE, f"ts {ts.isoformat()} is before {MIN_TS.date()}")
        return None


def _out_of_range(seq: int, value: object, ts: datetime) -> str | None:
    if seq > MAX_SEQ:
        return f"seq {seq} is beyond {MAX_SEQ}"
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_ABS_VALUE):
        return f"value {value!r} is out of range (finite, at most {MAX_ABS_VALUE:g} in magnitude)"
    if isinstance(value, int) and abs(value) > MAX_ABS_VALUE:
        return f"value {value} is out of range (at most {MAX_ABS_VALUE:g} in magnitude)"
    if ts < MIN_TS:
        return f"ts {ts.isoformat()} is before {MIN_TS.date()}"
    return None
