"""MQTT topic names of the wire contract."""

from __future__ import annotations

import re
from enum import StrEnum

ROOT = "anxin/v1"
HOME_ID_PATTERN = r"h-[a-z0-9]{6,32}"
_HOME_RE = re.compile(rf"^{HOME_ID_PATTERN}$")


class TopicKind(StrEnum):
    """What a topic under the root carries."""

    EVENTS = "events"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    FINDINGS = "findings"
    FEEDBACK = "feedback"


def _check_home(home: str) -> str:
    if not _HOME_RE.match(home):
        raise ValueError(f"not an opaque home id: {home!r} (expected h- and 6-32 of [a-z0-9])")
    return home


def events_topic(home: str) -> str:
    """Topic of a home's sensor events (QoS 1, not retained)."""
    return f"{ROOT}/homes/{_check_home(home)}/events"


def status_topic(home: str) -> str:
    """Topic of a home agent's availability (QoS 1, retained; offline is the last will)."""
    return f"{ROOT}/homes/{_check_home(home)}/status"


def heartbeat_topic(home: str) -> str:
    """Topic of a home agent's periodic health report."""
    return f"{ROOT}/homes/{_check_home(home)}/heartbeat"


def findings_topic(home: str) -> str:
    """Topic on which anomaly publishes a home's findings for alerts."""
    return f"{ROOT}/findings/{_check_home(home)}"


def home_filter(kind: TopicKind) -> str:
    """Subscription filter for one kind of home message across all homes."""
    return f"{ROOT}/homes/+/{kind.value}"


FINDINGS_FILTER = f"{ROOT}/findings/+"
FEEDBACK_FILTER = f"{ROOT}/feedback/+"


def feedback_topic(home: str) -> str:
    """Topic on which alerts tells anomaly how a home's alert ended (responders' verdicts)."""
    return f"{ROOT}/feedback/{_check_home(home)}"


def parse_topic(topic: str) -> tuple[TopicKind, str] | None:
    """Split a contract topic into (kind, home); None when the topic is not one of ours."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] + "/" + parts[1] == ROOT and parts[2] == "homes":
        home, leaf = parts[3], parts[4]
        if _HOME_RE.match(home) and leaf in ("events", "status", "heartbeat"):
            return TopicKind(leaf), home
    elif (
        len(parts) == 4
        and parts[0] + "/" + parts[1] == ROOT
        and parts[2] in ("findings", "feedback")
        and _HOME_RE.match(parts[3])
    ):
        return TopicKind(parts[2]), parts[3]
    return None
