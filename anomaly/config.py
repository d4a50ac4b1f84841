"""Anomaly settings."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from anomaly.engine import HomeLimits, Options
from anxin.settings import DatabaseSettings, MqttSettings, NatsSettings, Section, ServiceSettings
from contracts.vocabulary import DEFAULT_TIMEZONE, FALSE_ALARM_BUDGET, FALSE_ALARM_BUDGET_MAX, FALSE_ALARM_BUDGET_MIN


class LimitsSection(Section):
    """Safety floors and ceilings (minutes) an operator sets for one home; learned limits stay between them."""

    false_alarm_budget_per_60d: float = Field(
        FALSE_ALARM_BUDGET,
        ge=FALSE_ALARM_BUDGET_MIN,
        le=FALSE_ALARM_BUDGET_MAX,
        description="Expected false long_inactivity alarms in 60 normal days; sets the level",
    )
    inactivity_floor_min: float = Field(20.0, ge=5, le=600)
    inactivity_ceiling_day_min: float = Field(300.0, ge=10, le=1440)
    inactivity_ceiling_night_min: float = Field(720.0, ge=10, le=1440)
    night_exit_floor_min: float = Field(3.0, ge=1, le=120)
    night_exit_ceiling_min: float = Field(30.0, ge=1, le=240)
    door_open_floor_min: float = Field(10.0, ge=1, le=240)
    door_open_ceiling_min: float = Field(60.0, ge=1, le=1440)
    missed_morning_margin_min: float = Field(120.0, ge=0, le=600)
    wander_floor_min: float = Field(25.0, ge=5, le=240)
    agent_offline_grace_min: float = Field(10.0, ge=1, le=1440)

    def limits(self) -> HomeLimits:
        """As the engine's value object."""
        return HomeLimits(**self.model_dump())


class AnomalyOptions(Section):
    """Detection options and how the service subscribes, checkpoints and summarises."""

    client_id: str = "anxin-anomaly"
    session_expiry_s: int = Field(86_400, ge=60)
    timezone: str = DEFAULT_TIMEZONE
    tick_s: float = Field(10.0, gt=0, le=300)
    checkpoint_s: float = Field(300.0, ge=1, le=86_400, description="Write changed homes' state this often")
    summary_s: float = Field(900.0, ge=1, le=86_400, description="Write routine summaries for the console this often")
    defaults: LimitsSection = LimitsSection()
    homes: dict[str, LimitsSection] = Field(default_factory=dict, description="Per-home floors and ceilings")

    def engine_options(self) -> Options:
        """The engine's options from these settings."""
        return Options(tz=ZoneInfo(self.timezone), limits=self.defaults.limits())


class AnomalySettings(ServiceSettings):
    """Everything `anxin anomaly` reads."""

    service_account = "anomaly"

    mqtt: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    anomaly: AnomalyOptions = AnomalyOptions()
    # "mqtt": the embedded default; "nats": the cluster topology of docs/scale.md.
    bus: Literal["mqtt", "nats"] = "mqtt"
    nats: NatsSettings = NatsSettings()
