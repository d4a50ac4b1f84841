"""Message models of the wire contract; every parse is strict, bounded to 4 KiB and refuses non-finite numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.topics import HOME_ID_PATTERN
from contracts.vocabulary import DeadLetterReason, OutcomeCode, Severity

MAX_PAYLOAD_BYTES = 4096

HomeId = Annotated[str, Field(pattern=rf"^{HOME_ID_PATTERN}$")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Kind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Room = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Battery = Annotated[int, Field(ge=0, le=100)]
# An agent queue's identity: chosen at random when the queue is created and kept with it (edge/queue.py).
Epoch = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]

# Values each known kind may carry; other kinds are allowed (the contract is extensible) with any scalar.
KNOWN_VALUES: dict[str, frozenset[int | str]] = {
    "motion": frozenset({0, 1}),
    "pressure": frozenset({0, 1}),
    "door": frozenset({"open", "closed"}),
    "button": frozenset({"press", "long_press"}),
}


class ContractError(ValueError):
    """A payload that breaks the contract; `reason` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Message(BaseModel):
    # allow_inf_nan=False: NaN and +-Infinity (and 1e400) in any float field are `schema` errors, here at the
    # contract, instead of lines InfluxDB refuses later.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class SensorEvent(_Message):
    """One reading from one sensor, stamped at the sensor."""

    v: Literal[1] = 1
    home: HomeId
    agent: Name
    seq: Annotated[int, Field(ge=1, description="Per-agent sequence, +1 per event, survives restarts")]
    ts: AwareDatetime
    sensor: Name
    kind: Kind
    value: int | float | str
    battery: Battery | None = None
    room: Room | None = None
    # Optional, so agents from before it stay valid; last, so `dump` writes it after everything else.
    epoch: Epoch | None = Field(
        None, description="The agent queue's identity; a new epoch means seq restarted (a re-created queue)"
    )

    @model_validator(mode="after")
    def _value_fits_kind(self) -> SensorEvent:
        allowed = KNOWN_VALUES.get(self.kind)
        if allowed is not None and (isinstance(self.value, float) or self.value not in allowed):
            raise ValueError(
                f"value {self.value!r} is not valid for kind {self.kind!r}: one of {sorted(map(str, allowed))}"
            )
        return self


class Status(_Message):
    """A home agent's availability; retained, with offline as the MQTT last will."""

    v: Literal[1] = 1
    state: Literal["online", "offline"]
    agent: Name
    version: Annotated[str, Field(max_length=32)]
    ts: AwareDatetime


class SensorHealth(_Message):
    """What the agent knows of one sensor: when it last reported and its battery."""

    last_seen: AwareDatetime | None = None
    battery: Battery | None = None


class Heartbeat(_Message):
    """A home agent's periodic health report."""

    v: Literal[1] = 1
    home: HomeId
    agent: Name
    ts: AwareDatetime
    queue_depth: Annotated[int, Field(ge=0)]
    oldest_unsent_s: Annotated[float, Field(ge=0)] | None = None
    uptime_s: Annotated[float, Field(ge=0)]
    cpu_temp_c: float | None = None
    sensors: dict[Name, SensorHealth] = Field(default_factory=dict, max_length=64)


Scalar = int | float | str | bool | None


class Finding(_Message):
    """Something anomaly found about a home, with the evidence a responder needs."""

    v: Literal[1] = 1
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,96}$")]
    home: HomeId
    kind: Kind
    severity: Severity
    ts: AwareDatetime
    since: AwareDatetime
    detector: Annotated[str, Field(max_length=64)]
    evidence: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict, max_length=32)


class Feedback(_Message):
    """How an alert ended, sent by alerts to anomaly so a home's thresholds learn from responders' verdicts."""

    v: Literal[1] = 1
    home: HomeId
    alert_id: Annotated[int, Field(ge=1)]
    kind: Kind
    finding_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,96}$")]] = Field(max_length=64)
    since: AwareDatetime
    outcome: OutcomeCode
    ts: AwareDatetime


M = TypeVar("M", bound=_Message)


def _parse(model: type[M], payload: bytes | str) -> M:
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(DeadLetterReason.TOO_LARGE.value, f"{len(raw)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        # From JSON text, so strict mode still takes RFC 3339 strings for datetimes; one pass, no json.loads.
        return model.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "json_invalid":
            raise ContractError(
                DeadLetterReason.NOT_JSON.value, str(first.get("ctx", {}).get("error", first["msg"]))[:200]
            ) from err
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ContractError(DeadLetterReason.SCHEMA.value, f"{where}: {first['msg']}"[:300]) from err


def parse_event(payload: bytes | str) -> SensorEvent:
    """Parse and validate a sensor event, raising ContractError with a reason."""
    return _parse(SensorEvent, payload)


def parse_status(payload: bytes | str) -> Status:
    """Parse and validate an agent status message."""
    return _parse(Status, payload)


def parse_heartbeat(payload: bytes | str) -> Heartbeat:
    """Parse and validate a heartbeat."""
    return _parse(Heartbeat, payload)


def parse_finding(payload: bytes | str) -> Finding:
    """Parse and validate a finding."""
    return _parse(Finding, payload)


def parse_feedback(payload: bytes | str) -> Feedback:
    """Parse and validate an alert outcome."""
    return _parse(Feedback, payload)


def dump(message: BaseModel) -> bytes:
    """Serialise a message compactly, refusing to emit one over the size limit."""
    raw = message.model_dump_json(exclude_none=True).encode()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(DeadLetterReason.TOO_LARGE.value, f"{len(raw)} bytes, limit {MAX_PAYLOAD_BYTES}")
    return raw


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each message of the contract, by name."""
    return {
        "sensor_event": SensorEvent.model_json_schema(),
        "status": Status.model_json_schema(),
        "heartbeat": Heartbeat.model_json_schema(),
        "finding": Finding.model_json_schema(),
        "feedback": Feedback.model_json_schema(),
    }


def utc_iso(ts: datetime) -> str:
    """RFC 3339 text of an aware datetime, as the contract writes it."""
    return ts.isoformat()
