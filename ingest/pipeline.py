"""Pure ingest logic: one MQTT message in, a point to store or a reason to reject out."""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import ContractError, TopicKind, parse_event, parse_heartbeat, parse_status, parse_topic
from ingest.dedupe import Seen, SeqTracker
from ingest.fastpath import FastEvents
from ingest.lineprotocol import epoch_ns, event_line, heartbeat_line, status_line


@dataclass(frozen=True)
class Rejected:
    """A message that breaks the contract, with a stable reason code and a human detail."""

    reason: str
    detail: str


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
            return Rejected("bad_topic", f"not a home topic of the contract: {topic[:120]}")
        kind, home = parsed
        if self.known_homes is not None and home not in self.known_homes:
            return Rejected("unknown_home", f"home {home} is not registered")
        if kind is TopicKind.EVENTS:
            if now is not self._now:
                self._now, self._latest_ns = now, epoch_ns(now + self.max_future)
            fast = self.fast.event(home, payload, self._latest_ns)
            if fast is not None:
                agent, seq, line = fast
                return None if self.seqs.check(home, agent, seq) is Seen.DUPLICATE else line
        try:
            if kind is TopicKind.EVENTS:
                event = parse_event(payload)
                if event.home != home:
                    return Rejected("home_mismatch", f"topic says {home}, payload says {event.home}")
                if event.ts - now > self.max_future:
                    return Rejected("future_ts", f"ts {event.ts.isoformat()} is ahead of now {now.isoformat()}")
                out_of_range = _out_of_range(event.seq, event.value, event.ts)
                if out_of_range:
                    return Rejected("out_of_range", out_of_range)
                if self.seqs.check(home, event.agent, event.seq) is Seen.DUPLICATE:
                    return None
                return event_line(event)
            if kind is TopicKind.STATUS:
                return status_line(home, parse_status(payload))
            hb = parse_heartbeat(payload)
            if hb.home != home:
                return Rejected("home_mismatch", f"topic says {home}, payload says {hb.home}")
            return heartbeat_line(hb)
        except ContractError as err:
            if err.reason == "schema" and err.detail.startswith(_RANGE_FIELDS) and "than" in err.detail:
                # Within the schema but outside the field's bounds (battery 0-100, seq >= 1): its own reason.
                return Rejected("out_of_range", err.detail)
            return Rejected(err.reason, err.detail)


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
