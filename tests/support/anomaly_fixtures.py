"""Helpers for anomaly tests: a home's events built by hand, and the service as a real process to stop and kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from anomaly.engine import Engine, HomeLimits, HomeMonitor, Options
from anxin.settings import MqttSettings
from contracts import SensorEvent
from tests.support.processes import ChildProcess
from tests.support.waiting import wait_for

TZ = ZoneInfo("Asia/Shanghai")
HOME = "h-aaaaaa"


class Agent:
    """Makes a home's events with increasing seq numbers."""

    def __init__(self, home: str = HOME) -> None:
        self.home = home
        self.seq = 0

    def __call__(self, ts: datetime, sensor: str, kind: str, value: int | str, room: str | None) -> SensorEvent:
        self.seq += 1
        return SensorEvent(
            home=self.home, agent="pi-1", seq=self.seq, ts=ts, sensor=sensor, kind=kind, value=value, room=room
        )


def routine_day(m: HomeMonitor, midnight: datetime, *, afternoon_nap_h: float = 0.0) -> list[str]:
    """Feed one ordinary day (wake 07:00, bed 22:00, a toilet visit at 03:00) to a monitor; returns finding kinds."""
    kinds: list[str] = []

    def at(h: float, room: str) -> None:
        t = (midnight + timedelta(hours=h)).timestamp()
        while m.next_check <= t:
            kinds.extend(f.kind for f in m.tick_at(m.next_check))
        kinds.extend(f.kind for f in m.observe_at(t, f"pir_{room}", "motion", 1, room))

    at(3.0, "bedroom")
    at(3.02, "bathroom")
    at(3.1, "bathroom")
    at(3.15, "bedroom")
    h = 7.0
    rooms = ("kitchen", "living", "bathroom", "living")
    i = 0
    while h < 22.0:
        if afternoon_nap_h and 14.0 <= h < 14.1:
            at(h, "living")
            h += afternoon_nap_h
            continue
        at(h, rooms[i % len(rooms)])
        i += 1
        h += 0.1
    at(22.0, "bedroom")
    return kinds


def engine(**limits: float) -> Engine:
    """An engine in TZ under these operator limits."""
    return Engine(Options(tz=TZ, limits=HomeLimits(**limits)))


def run_ticks(eng: Engine, until: datetime, step: timedelta = timedelta(minutes=1)) -> list[str]:
    """Tick every home minute by minute (as the live service does every few seconds); the kinds found."""
    out: list[str] = []
    t = min(m.next_check for m in eng.homes.values())
    now = datetime.fromtimestamp(t, TZ)
    while now <= until:
        out.extend(f.kind for f in eng.tick(now))
        now += step
    return out


def monitor(options: Options | None = None) -> HomeMonitor:
    """A fresh monitor for HOME in TZ."""
    o = options or Options(tz=TZ)
    return HomeMonitor(HOME, o.tz, o.limits, o.tuning)


@dataclass
class AnomalyProcess(ChildProcess):
    """`python -m anxin anomaly` as deployed (settings from ANXIN_* variables), which tests may SIGSTOP and SIGKILL."""

    log_name = "anomaly.log"

    mqtt: MqttSettings
    db_url: str
    state: Path
    client_id: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def checkpoint_file(self) -> Path:
        """Where it checkpoints homes."""
        return self.state / "anomaly" / "checkpoints.sqlite"

    def start(self) -> AnomalyProcess:
        """Start it and wait until it says it is connected."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        password = self.mqtt.password.get_secret_value() if self.mqtt.password else ""
        env.update(
            {
                "ANXIN_MQTT__HOST": self.mqtt.host,
                "ANXIN_MQTT__PORT": str(self.mqtt.port),
                "ANXIN_MQTT__USERNAME": self.mqtt.username or "anomaly",
                "ANXIN_MQTT__PASSWORD": password,
                "ANXIN_DATABASE__URL": self.db_url,
                "ANXIN_STATE_DIR": str(self.state),
                "ANXIN_ANOMALY__CLIENT_ID": self.client_id,
                "ANXIN_ANOMALY__CHECKPOINT_S": "1",
                "ANXIN_ANOMALY__TICK_S": "1",
                "ANXIN_LOG_LEVEL": "INFO",
            }
        )
        logfile = self.state / "anomaly.log"
        before = logfile.stat().st_size if logfile.exists() else 0
        log = open(logfile, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anxin", "anomaly"], env=env, stdout=log, stderr=log, cwd=self.state
        )

        def up() -> bool:
            with open(logfile, "rb") as fh:
                fh.seek(before)
                return b"anomaly running" in fh.read() or self._died()

        wait_for(up, timeout=30, what="anomaly connected")
        assert not self._died(), self.log()
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def alive(self) -> bool:
        """Still running."""
        return self.proc is not None and self.proc.poll() is None

    def checkpointed(self, home: str) -> bool:
        """Whether the checkpoint file holds this home."""
        try:
            db = sqlite3.connect(f"file:{self.checkpoint_file}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return False
        try:
            return bool(db.execute("SELECT count(*) FROM homes WHERE home = ?", (home,)).fetchone()[0] > 0)
        except sqlite3.Error:
            return False
        finally:
            db.close()

    def health(self) -> dict[str, Any]:
        """Its health file (empty until first written)."""
        try:
            data: dict[str, Any] = json.loads((self.state / "anomaly" / "health.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal (SIGSTOP, SIGCONT, SIGKILL)."""
        assert self.proc is not None
        self.proc.send_signal(sig)


@contextmanager
def write_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock on `path` (as a stuck backup or a second writer would) until the block ends."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    finally:
        db.execute("ROLLBACK")
        db.close()
