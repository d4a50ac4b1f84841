"""InfluxDB line protocol built by hand: several times cheaper than influxdb-client Point objects."""

from __future__ import annotations

from datetime import datetime

from contracts import Heartbeat, Measurement, SensorEvent, Status

_TAG_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": ""})
_STR_ESCAPE = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " "})

# Text values of known kinds as numbers, so `value` is one float field across kinds (InfluxDB 1.x refuses a field
# whose type differs between series of a measurement in one shard).
TEXT_NUMERIC = {"open": 1.0, "closed": 0.0, "press": 1.0, "long_press": 2.0}


def _escape_tag(v: str) -> str:
    """A tag value with line protocol's separators (comma, equals, space) escaped."""
    return v.translate(_TAG_ESCAPE)


def _quoted(v: str) -> str:
    """A string field value: quoted, its quotes and backslashes escaped, newlines as spaces."""
    return '"' + v.translate(_STR_ESCAPE) + '"'


def epoch_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly (no float)."""
    # Integer arithmetic: float seconds would lose the microseconds the contract may carry.
    return (
        (ts.toordinal() - 719163) * 86_400_000_000_000
        - _offset_ns(ts)
        + (ts.hour * 3600 + ts.minute * 60 + ts.second) * 1_000_000_000
        + ts.microsecond * 1000
    )


def _offset_ns(ts: datetime) -> int:
    off = ts.utcoffset()
    return 0 if off is None else (off.days * 86400 + off.seconds) * 1_000_000_000 + off.microseconds * 1000


def event_timestamp_ns(event: SensorEvent) -> int:
    """The point's time: the sensor's time, with seq in the sub-microsecond digits.

    Two events of one sensor in the same microsecond stay two points, and a redelivered event lands on the same
    series and time, so writes are idempotent.
    """
    return epoch_ns(event.ts) + event.seq % 1000


def event_line(event: SensorEvent) -> str:
    """One sensor event as a `sensor_event` point."""
    tags = (
        f"{Measurement.SENSOR_EVENT},home={_escape_tag(event.home)},agent={_escape_tag(event.agent)},"
        f"sensor={_escape_tag(event.sensor)},kind={_escape_tag(event.kind)}"
    )
    if event.room:
        tags += f",room={_escape_tag(event.room)}"
    value = event.value
    if isinstance(value, str):
        fields = f"value={TEXT_NUMERIC.get(value, 0.0)!r},text={_quoted(value)}"
    else:
        fields = f"value={float(value)!r}"
    fields += f",seq={event.seq}i"
    if event.battery is not None:
        fields += f",battery={event.battery}i"
    return f"{tags} {fields} {event_timestamp_ns(event)}"


def status_line(home: str, status: Status) -> str:
    """An agent's availability as an `agent_status` point."""
    return (
        f"{Measurement.AGENT_STATUS},home={_escape_tag(home)},agent={_escape_tag(status.agent)} "
        f"online={1 if status.state == 'online' else 0}i,state={_quoted(status.state)},"
        f"version={_quoted(status.version)} "
        f"{epoch_ns(status.ts)}"
    )


def heartbeat_line(hb: Heartbeat) -> str:
    """A heartbeat as a `heartbeat` point."""
    fields = f"queue_depth={hb.queue_depth}i,uptime_s={float(hb.uptime_s)!r},sensors={len(hb.sensors)}i"
    if hb.oldest_unsent_s is not None:
        fields += f",oldest_unsent_s={float(hb.oldest_unsent_s)!r}"
    if hb.cpu_temp_c is not None:
        fields += f",cpu_temp_c={float(hb.cpu_temp_c)!r}"
    low = [b.battery for b in hb.sensors.values() if b.battery is not None]
    if low:
        fields += f",min_battery={min(low)}i"
    tags = f"{Measurement.HEARTBEAT},home={_escape_tag(hb.home)},agent={_escape_tag(hb.agent)}"
    return f"{tags} {fields} {epoch_ns(hb.ts)}"
