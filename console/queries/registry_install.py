"""Installing a home: its installer bundle (edge.toml with the broker password, the CA, what to run) and its progress.

The password exists only inside the bundle: the broker's credentials file keeps its hash, the console keeps nothing,
and the bundle is handed out once (a second download would need a new password, so it is refused).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from anxin.db.models import Home, HomeSensor
from anxin.influxql import InfluxQL, InfluxQueryError
from console.queries.homes import routine_table_exists

EDGE_CONFIG = "/etc/anxin/edge.toml"
EDGE_CA = "/etc/anxin/ca.pem"
DOCTOR = f"anxin edge doctor -c {EDGE_CONFIG}"
ZIGBEE_KINDS = ("door", "motion", "button")


@dataclass(frozen=True)
class BrokerTarget:
    """Where a home's agent connects: the broker's public name and port, TLS and its CA's PEM."""

    host: str
    port: int
    tls: bool
    ca_pem: str | None


def _q(value: str) -> str:
    # TOML basic strings are JSON strings for what a home id, host or sensor name can hold.
    return json.dumps(value, ensure_ascii=False)


def edge_toml(home: str, password: str, target: BrokerTarget, kit: list[HomeSensor]) -> str:
    """The agent's edge.toml: the home, the broker with its password, and the kit as zigbee2mqtt devices."""
    lines = [
        "# Anxin edge agent of this home; keep it at " + EDGE_CONFIG + " with mode 0600 (it holds the password).",
        f"# Check it with: {DOCTOR}",
        "",
        f"home = {_q(home)}",
        'agent = "pi"',
        'state_dir = "/var/lib/anxin-edge"',
        "",
        "[mqtt]",
        f"host = {_q(target.host)}",
        f"port = {target.port}",
        f"username = {_q(home)}",
        f"password = {_q(password)}",
        f"tls = {'true' if target.tls else 'false'}",
    ]
    if target.tls and target.ca_pem:
        lines.append(f"ca_file = {_q(EDGE_CA)}")
    devices = [k for k in kit if k.kind in ZIGBEE_KINDS]
    if devices:
        lines += ["", "[zigbee]", 'host = "127.0.0.1"', "port = 1883", 'base_topic = "zigbee2mqtt"']
        for k in devices:
            lines += ["", "[[zigbee.devices]]", f"friendly_name = {_q(k.sensor)}", f"sensor = {_q(k.sensor)}"]
            lines.append(f"kind = {_q(k.kind)}")
            if k.room:
                lines.append(f"room = {_q(k.room)}")
    others = [k for k in kit if k.kind not in ZIGBEE_KINDS]
    if others:
        lines += ["", "# Wire these as [[gpio]] inputs (see edge/deploy/edge.example.toml):"]
        lines += [f"#   {k.sensor}: {k.kind} ({k.role or '-'}) in {k.room or '?'}" for k in others]
    return "\n".join(lines) + "\n"


def readme(home: str, label: str, target: BrokerTarget) -> str:
    """What the installer does with the bundle, step by step."""
    ca = f"  sudo install -m 0644 ca.pem {EDGE_CA}\n" if target.tls and target.ca_pem else ""
    return (
        f"Anxin installer bundle for {label} ({home})\n\n"
        "1. On the home's Raspberry Pi, as root:\n"
        f"  sudo install -d -m 0755 /etc/anxin\n  sudo install -m 0600 edge.toml {EDGE_CONFIG}\n{ca}"
        f"2. Check everything (broker, password, clock, sensors):\n  {DOCTOR}\n"
        "3. Start the agent:\n  sudo systemctl enable --now anxin-edge\n\n"
        "The password in edge.toml is shown only in this bundle; if it is lost, an operator issues a new one.\n"
    )


def bundle_zip(home: Home, password: str, target: BrokerTarget, kit: list[HomeSensor]) -> bytes:
    """The installer bundle as a zip: edge.toml, README.txt, and ca.pem when the broker uses TLS."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("edge.toml", edge_toml(home.id, password, target, kit))
        z.writestr("README.txt", readme(home.id, home.label, target))
        if target.tls and target.ca_pem:
            z.writestr("ca.pem", target.ca_pem)
    return buf.getvalue()


def read_ca(path: Path | None) -> str | None:
    """The CA's PEM the bundle carries, or None."""
    return path.read_text() if path is not None and path.is_file() else None


class SensorProgress(BaseModel):
    """A kit sensor and when its first message arrived (None: not yet)."""

    sensor: str
    kind: str
    room: str | None
    role: str | None
    room_type: str | None = None
    hold_s: float | None = None
    first_seen: datetime | None


class InstallProgress(BaseModel):
    """A home coming online: bundle handed out, agent status, each sensor's first message, learning progress."""

    home: str
    bundle_issued_at: datetime | None
    online: bool | None
    status_at: datetime | None
    sensors: list[SensorProgress]
    activity_available: bool
    days_learned: int | None
    confidence: float | None


def _ms(value: object) -> datetime | None:
    return datetime.fromtimestamp(float(value) / 1000, UTC) if isinstance(value, int | float) else None


def install_progress(s: Session, influx: InfluxQL, home: Home) -> InstallProgress:
    """Where a home's installation stands; InfluxDB down leaves status and first messages unknown."""
    kit = list(s.scalars(select(HomeSensor).where(HomeSensor.home_id == home.id).order_by(HomeSensor.sensor)))
    first: dict[str, datetime | None] = {}
    online: bool | None = None
    status_at: datetime | None = None
    available = True
    try:
        # The home id matches HOME_ID_PATTERN (letters, digits, a dash): safe inside the quotes.
        for series in influx.query(
            f'SELECT first("seq") FROM "sensor_event" WHERE "home" = \'{home.id}\' GROUP BY "sensor"'
        ):
            if series.values:
                first[series.tags.get("sensor", "")] = _ms(series.values[0][0])
        for series in influx.query(f'SELECT last("online") FROM "agent_status" WHERE "home" = \'{home.id}\''):
            if series.values:
                status_at, online = _ms(series.values[0][0]), bool(series.values[0][1])
    except (InfluxQueryError, OSError):
        available = False
    days = conf = None
    if routine_table_exists(s):
        row = s.execute(
            text("SELECT days_learned, confidence FROM routine_summaries WHERE home_id = :h"), {"h": home.id}
        ).first()
        if row is not None:
            days, conf = int(row[0]), float(row[1])
    sensors = [
        SensorProgress(
            sensor=k.sensor,
            kind=k.kind,
            room=k.room,
            role=k.role,
            room_type=k.room_type,
            hold_s=k.hold_s if k.hold_s is not None and math.isfinite(k.hold_s) else None,
            first_seen=first.get(k.sensor),
        )
        for k in kit
    ]
    return InstallProgress(
        home=home.id,
        bundle_issued_at=home.bundle_issued_at,
        online=online,
        status_at=status_at,
        sensors=sensors,
        activity_available=available,
        days_learned=days,
        confidence=conf,
    )
