"""A fast path for well-formed sensor events: one regex instead of a pydantic model, straight to line protocol.

It only ever answers "this event is valid, here is its line" or "not sure". It accepts a strict subset of what the
contract accepts: the compact key order `contracts.dump` writes, ASCII only, no escapes, no whitespace, integers,
short plain decimals and plain strings as values, and RFC 3339 times with `Z` or an offset. It returns None for
everything else, including every event the full validator would reject or flag (out of range, from the future,
another home), so that the pydantic model still decides those and rejection reasons stay exactly as they were.
`tests/unit/test_ingest_fastpath.py` checks that every event it accepts gets the same line from the full path.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

from contracts.messages import KNOWN_VALUES, MAX_PAYLOAD_BYTES
from contracts.vocabulary import Measurement
from ingest.lineprotocol import TEXT_NUMERIC

_NAME = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
_KIND = r"[a-z][a-z0-9_]{0,31}"
# Groups: home, agent, seq, minute ("YYYY-MM-DDTHH:MM"), second, fraction, zone, sensor, kind,
# text value, integer value, decimal value, battery, room, epoch.
_EVENT = re.compile(
    r'\{(?:"v":1,)?"home":"(h-[a-z0-9]{6,32})","agent":"(' + _NAME + r')","seq":([1-9][0-9]{0,15}),'
    r'"ts":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2})",'
    r'"sensor":"(' + _NAME + r')","kind":"(' + _KIND + r')",'
    # Printable ASCII without quote or backslash; integers below 1e12 without leading zeros or -0; decimals of at
    # most 15 significant digits without exponent, which every correct parser turns into the same float.
    r'"value":(?:"([ !#-\[\]-~]{0,512})"|(0|-?[1-9][0-9]{0,11})|(-?(?:0|[1-9][0-9]{0,7})\.[0-9]{1,7}))'
    r'(?:,"battery":(100|[1-9]?[0-9]))?(?:,"room":"(' + _KIND + r')")?(?:,"epoch":"([A-Za-z0-9_-]{1,32})")?\}'
)
_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_MINUTES_CACHED = 4096


class FastEvent(NamedTuple):
    """A valid event's identity (for dedupe and the series bound) and its line."""

    agent: str
    seq: int
    line: str
    sensor: str
    kind: str
    room: str | None
    epoch: str | None


class FastEvents:
    """Validates well-formed events by regex and builds their lines; None means "ask the full validator"."""

    def __init__(self, min_ts_ns: int) -> None:
        self.min_ts_ns = min_ts_ns
        # "YYYY-MM-DDTHH:MM" + zone -> ns of that minute in UTC, or None when the date is not valid.
        self._minutes: dict[tuple[str, str], int | None] = {}

    def event(self, home: str, payload: bytes, latest_ns: int) -> FastEvent | None:
        """A valid event of `home` at or before `latest_ns` (ns since epoch), or None."""
        if len(payload) > MAX_PAYLOAD_BYTES or not payload.isascii():
            return None
        m = _EVENT.fullmatch(payload.decode("ascii"))
        if m is None:
            return None
        p_home, agent, seq_s, minute, second, frac, zone, sensor, kind, text, int_s, dec_s, battery, room, epoch = (
            m.groups()
        )
        if p_home != home:
            return None
        seq = int(seq_s)
        if seq > 2**53:
            return None
        base = self._minutes.get((minute, zone), -1)
        if base == -1:
            base = self._minute_ns(minute, zone)
        sec = int(second)
        if base is None or sec > 59:
            return None
        ts_ns = base + sec * 1_000_000_000
        if frac is not None:
            ts_ns += int(frac) * 10 ** (9 - len(frac))
        if ts_ns < self.min_ts_ns or ts_ns > latest_ns:
            return None
        allowed = KNOWN_VALUES.get(kind)
        if text is not None:
            if allowed is not None and text not in allowed:
                return None
            fields = f'value={TEXT_NUMERIC.get(text, 0.0)!r},text="{text}",seq={seq}i'
        elif int_s is not None:
            value = int(int_s)
            if allowed is not None and value not in allowed:
                return None
            fields = f"value={float(value)!r},seq={seq}i"
        else:
            if allowed is not None:
                return None
            fields = f"value={float(dec_s)!r},seq={seq}i"
        if battery is not None:
            fields += f",battery={battery}i"
        # Every tag matched a contract pattern without ",", " " or "=": nothing to escape.
        tags = f"{Measurement.SENSOR_EVENT},home={home},agent={agent},sensor={sensor},kind={kind}"
        if room is not None:
            tags += f",room={room}"
        return FastEvent(agent, seq, f"{tags} {fields} {ts_ns + seq % 1000}", sensor, kind, room, epoch)

    def _minute_ns(self, minute: str, zone: str) -> int | None:
        if len(self._minutes) >= _MINUTES_CACHED:
            self._minutes.clear()
        try:
            days = date(int(minute[0:4]), int(minute[5:7]), int(minute[8:10])).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            days = -1
        hour, mins = int(minute[11:13]), int(minute[14:16])
        offset: int | None = 0
        if zone != "Z":
            oh, om = int(zone[1:3]), int(zone[4:6])
            # Real offsets lie within +-14:00; "-00:00" and anything odd go to the full validator.
            odd = oh > 18 or om > 59 or zone == "-00:00"
            offset = None if odd else (oh * 60 + om) * (1 if zone[0] == "+" else -1)
        ns: int | None = None
        if days >= 0 and hour <= 23 and mins <= 59 and offset is not None:
            ns = ((days * 1440 + hour * 60 + mins) - offset) * 60_000_000_000
        self._minutes[(minute, zone)] = ns
        return ns
