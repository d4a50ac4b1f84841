"""The wire contract: every message that crosses MQTT, as strict pydantic models (DESIGN.md section 3)."""

from contracts.messages import (
    MAX_PAYLOAD_BYTES,
    ContractError,
    Finding,
    Heartbeat,
    SensorEvent,
    SensorHealth,
    Severity,
    Status,
    dump,
    parse_event,
    parse_finding,
    parse_heartbeat,
    parse_status,
)
from contracts.topics import (
    ROOT,
    TopicKind,
    events_topic,
    findings_topic,
    heartbeat_topic,
    parse_topic,
    status_topic,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "ROOT",
    "ContractError",
    "Finding",
    "Heartbeat",
    "SensorEvent",
    "SensorHealth",
    "Severity",
    "Status",
    "TopicKind",
    "dump",
    "events_topic",
    "findings_topic",
    "heartbeat_topic",
    "parse_event",
    "parse_finding",
    "parse_heartbeat",
    "parse_status",
    "parse_topic",
    "status_topic",
]
