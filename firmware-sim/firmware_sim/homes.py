"""Simulated homes: their sensors and the credentials their agents were flashed with."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SimSensor(BaseModel):
    """One sensor of a simulated home."""

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str
    room: str


class SimHome(BaseModel):
    """One simulated home as its agent knows it."""

    model_config = ConfigDict(extra="forbid")
    home: str
    agent: str
    password: str
    label: str
    district: str
    sensors: list[SimSensor]
    profile: str = "regular"


class SimHomes(BaseModel):
    """The file `anxin demo` writes and `anxin sim run` reads."""

    model_config = ConfigDict(extra="forbid")
    homes: list[SimHome] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> SimHomes:
        """Read the homes file."""
        return cls.model_validate_json(path.read_text())

    def save(self, path: Path) -> None:
        """Write the homes file with owner-only permissions (it holds MQTT passwords)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.model_dump(), indent=1, ensure_ascii=False))
        os.replace(tmp, path)


ROOMS = ("bedroom", "living", "kitchen", "bathroom", "entrance")


def standard_kit(with_panic: bool = True) -> list[SimSensor]:
    """Front door, a motion sensor per room, and a panic button by the bed."""
    kit = [SimSensor(id="front_door", kind="door", room="entrance")]
    kit += [SimSensor(id=f"pir_{room}", kind="motion", room=room) for room in ROOMS]
    if with_panic:
        kit.append(SimSensor(id="panic", kind="button", room="bedroom"))
    return kit
