"""Anomaly settings."""

from __future__ import annotations

from pydantic import Field

from anxin.settings import MqttSettings, Section, ServiceSettings


class AnomalyOptions(Section):
    """Detection limits and how the service subscribes."""

    client_id: str = "anxin-anomaly"
    session_expiry_s: int = Field(86_400, ge=60)
    inactivity_limit_s: float = Field(4 * 3600, ge=60, description="No motion this long while at home: a finding")
    night_limit_s: float = Field(
        11 * 3600, ge=60, description="The limit while asleep: last seen in the bedroom at night"
    )
    night_hours: tuple[int, int] = Field((21, 9), description="Local hours [start, end) that count as night")
    timezone: str = "Asia/Shanghai"
    exit_grace_s: float = Field(600, ge=30, description="No motion this long after the front door closed: away")
    tick_s: float = Field(10.0, gt=0, le=300)


class AnomalySettings(ServiceSettings):
    """Everything `anxin anomaly` reads."""

    service_account = "anomaly"

    mqtt: MqttSettings = MqttSettings()
    anomaly: AnomalyOptions = AnomalyOptions()
