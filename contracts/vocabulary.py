"""The shared words, each defined once: codes one part writes and another reads, stores, counts or shows.

Severities, finding kinds and dead-letter reasons cross MQTT, so they are enums of the wire contract. Alert states,
outcomes, timeline actions and measurement names are stored in SQL or InfluxDB as plain text, so they are plain
`str` constants grouped in a namespace class (or a Literal, for a request body to check): an Enum member would reach
a database driver as an Enum (psycopg writes an Enum's *name*), and the text in the tables must stay what it is.
Every code here has a label in zh-CN and en in the console's catalogues (tests/unit/test_vocabulary.py walks this
module to check it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args


def _codes(namespace: type) -> tuple[str, ...]:
    """The values of a namespace class's UPPER_CASE attributes, in the order written."""
    return tuple(value for name, value in vars(namespace).items() if name.isupper() and isinstance(value, str))


class Severity(StrEnum):
    """How urgent a finding is; written most urgent first, and that order is the ranking everywhere."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
# Rank of a severity, 0 the most urgent: sort ascending to put the worst first; compare `<` for "more urgent".
SEVERITY_ORDER: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


class FindingKind(StrEnum):
    """The kinds of finding anomaly raises (issue 6's table); alerts and the console name them the same way."""

    PANIC = "panic"
    LONG_INACTIVITY = "long_inactivity"
    NIGHT_EXIT = "night_exit"
    DOOR_LEFT_OPEN = "door_left_open"
    MISSED_MORNING = "missed_morning"
    NIGHT_WANDERING = "night_wandering"
    ACTIVITY_DECLINE = "activity_decline"
    NIGHT_RESTLESSNESS = "night_restlessness"
    SENSOR_SILENT = "sensor_silent"
    LOW_BATTERY = "low_battery"
    AGENT_OFFLINE = "agent_offline"
    # One-click help (一键呼叫, issue 15): a long press asks for ordinary help, not an emergency.
    HELP_REQUEST = "help_request"


class DeadLetterReason(StrEnum):
    """Why ingest rejected a message: the one list of reasons (metrics, dead letters, the console's labels)."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_HOME = "unknown_home"
    HOME_MISMATCH = "home_mismatch"
    NOT_JSON = "not_json"
    TOO_LARGE = "too_large"
    SCHEMA = "schema"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TS = "future_ts"
    DB_REFUSED = "db_refused"
    # A sensor, kind, room or agent outside the home's registered kit: it would become a new InfluxDB series.
    UNKNOWN_SENSOR = "unknown_sensor"
    # A home without a registered kit past its cap of distinct (agent, sensor, kind, room) series.
    TOO_MANY_SERIES = "too_many_series"


# How an alert ended, chosen by whoever closed it; a Literal so request bodies and the feedback message refuse others.
OutcomeCode = Literal["resident_fine", "needed_help", "emergency_services", "false_alarm", "device_fault"]
OUTCOMES: tuple[str, ...] = get_args(OutcomeCode)


class AlertState:
    """An alert's state (the `alerts.state` column)."""

    OPEN: Final = "open"  # not paged yet
    NOTIFYING: Final = "notifying"  # the escalation ladder is running
    ACKNOWLEDGED: Final = "acknowledged"  # someone took it
    RESOLVED: Final = "resolved"  # done, with an outcome
    EXPIRED: Final = "expired"  # an info-level alert nobody needed to act on
    SILENCED: Final = "silenced"  # a silence or an inhibition held it


ALERT_STATES = _codes(AlertState)
CLOSED_STATES: tuple[str, ...] = (AlertState.RESOLVED, AlertState.EXPIRED)
# What counts as "the alert of this home and kind" for dedupe: silenced ones too, so a finding joins them.
ACTIVE_STATES: tuple[str, ...] = (AlertState.OPEN, AlertState.NOTIFYING, AlertState.ACKNOWLEDGED, AlertState.SILENCED)


class TimelineAction:
    """What an entry of an alert's timeline records (the `alert_events.action` column)."""

    OPENED: Final = "opened"
    JOINED: Final = "joined"  # the same home and kind found again
    SILENCED: Final = "silenced"
    UNSILENCED: Final = "unsilenced"
    SILENCE_ENDED: Final = "silence_ended"
    PAGED: Final = "paged"
    NO_ONE_AVAILABLE: Final = "no_one_available"
    STEP_EXHAUSTED: Final = "step_exhausted"
    REMINDED: Final = "reminded"
    REESCALATED: Final = "reescalated"
    EXPIRED: Final = "expired"
    SMS_SENT: Final = "sms_sent"
    SMS_FAILED: Final = "sms_failed"
    SMS_STATUS: Final = "sms_status"
    ACKNOWLEDGED: Final = "acknowledged"
    RESOLVED: Final = "resolved"
    NOTE: Final = "note"
    RATED: Final = "rated"  # a short 1-5 rating of how a help request went
    FAMILY_TOLD: Final = "family_told"  # the home's next-of-kin SMS'd that the alert opened or ended


TIMELINE_ACTIONS = _codes(TimelineAction)


class Measurement:
    """InfluxDB measurements ingest writes and the console reads."""

    SENSOR_EVENT: Final = "sensor_event"
    AGENT_STATUS: Final = "agent_status"
    HEARTBEAT: Final = "heartbeat"


MEASUREMENTS = _codes(Measurement)


# What a room is for, where its name does not say so (`r2`, `room 3`): a kit sensor's `room_type` (the
# `home_sensors.room_type` column, a recording's sensors.csv), which the anomaly engine reads as the room's class. A
# Literal, as outcomes are, so request bodies refuse others.
RoomTypeCode = Literal["bedroom", "bathroom", "kitchen", "living", "hall", "other"]
ROOM_TYPES: tuple[str, ...] = get_args(RoomTypeCode)
# A motion sensor's hold time an installer can give (`home_sensors.hold_s`), in seconds: PIRs hold for seconds to a
# few minutes; an hour is a mistake. The console refuses more, and the anomaly service leaves more out.
HOLD_S_MAX: Final = 3600.0


# The zone of a home, a service or the simulator when none is configured.
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"

# A home's false-alarm budget: the false long_inactivity alarms an operator accepts per home in 60 normal days (the
# knob along the recall / false-alarm frontier, docs/anomaly.md "Choosing the budget"). The anomaly service's default,
# and the range its config, the console and `anxin eval --budget` accept. The least is one false alarm in 16 years: a
# budget of 5e-324 set the model's level to exactly 0 and its limits divided by it.
FALSE_ALARM_BUDGET: Final = 1.0
FALSE_ALARM_BUDGET_MIN: Final = 0.01
FALSE_ALARM_BUDGET_MAX: Final = 30.0
