"""The edge agent: sensors in, disk queue, broker out. Orchestration only; device I/O lives in the adapters."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.config import EdgeSettings
from edge.link import AgentLink
from edge.queue import DiskQueue
from edge.sensors import Reading

log = logging.getLogger(__name__)
# The agent refuses to stamp events with a clock earlier than this: no real event can predate the build.
BUILD_DATE = datetime(2025, 1, 1, tzinfo=UTC)
THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def clock_sane(now: datetime) -> bool:
    """Whether the wall clock can be trusted to stamp events (not before this build)."""
    return now >= BUILD_DATE


def boot_clock() -> tuple[str, float]:
    """This boot's id and seconds since boot, which keep counting while the wall clock is wrong."""
    try:
        boot_id = BOOT_ID.read_text().strip()
    except OSError:
        boot_id = f"process-{uuid.uuid4()}"  # not Linux: held events stay valid only within this process
    return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


def cpu_temp(path: Path = THERMAL) -> float | None:
    """The SoC temperature in °C where the kernel reports one."""
    try:
        return round(int(path.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


class EdgeAgent:
    """Runs one home's sensors into its link; `now` is injectable so tests can set a broken clock."""

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        pin_factory: Any = None,
    ) -> None:
        self.settings = settings
        self.now = now
        self.queue = DiskQueue(settings.queue_path(), settings.queue)
        self.link = AgentLink(
            settings.mqtt,
            settings.home,
            settings.agent,
            self.queue,
            now(),
            drain_rate=settings.queue.drain_rate,
            max_inflight=settings.queue.max_inflight,
            cpu_temp=cpu_temp,
        )
        self.clock_ok = True
        self.held = 0
        self._pin_factory = pin_factory
        self._lock = threading.Lock()
        self.gpio: list[Any] = []
        self.zigbee: Any = None

    def accept(self, r: Reading) -> None:
        """Queue one reading: stamped if the clock is sane, held for stamping otherwise."""
        with self._lock:
            now = self.now()
            if clock_sane(now) and clock_sane(r.ts):
                self.link.publish_event(r.ts, r.sensor, r.kind, r.value, room=r.room, battery=r.battery)
            else:
                if self.clock_ok:
                    log.error(
                        "clock reads %s, before this build (%s): holding events until it is set",
                        now.isoformat(),
                        BUILD_DATE.date(),
                    )
                self.clock_ok = False
                self.link.hold_event(boot_clock(), r.sensor, r.kind, r.value, room=r.room, battery=r.battery)
                self.held += 1
            self.queue.record_seen(self.settings.agent, r.sensor, time.time(), r.battery, None)

    def check_clock(self) -> None:
        """Notice a clock that became sane and stamp what was held."""
        with self._lock:
            now = self.now()
            if not clock_sane(now):
                self.clock_ok = False
                return
            if not self.clock_ok:
                log.info("clock is sane again (%s)", now.isoformat())
            self.clock_ok = True
            n = self.link.stamp_held(now, boot_clock())
            if n:
                log.info("stamped %d held event(s)", n)
                self.held = 0

    def start(self) -> None:
        """Open the inputs and connect."""
        from edge.gpio import open_inputs

        self.link.start()
        if self.settings.gpio:
            self.gpio = open_inputs(self.settings.gpio, self.accept, self.now, self._pin_factory)
        z = self.settings.zigbee
        if z is not None and z.enabled and z.devices:
            from edge.zigbee import ZigbeeSource

            def seen(_name: str, cfg: Any, st: Any) -> None:
                detail = f"linkquality {st.linkquality}" if st.linkquality is not None else None
                self.queue.record_seen(self.settings.agent, cfg.sensor, time.time(), st.battery, detail)

            self.zigbee = ZigbeeSource(z, f"anxin-edge-{self.settings.home}", self.accept, self.now, on_seen=seen)
            self.zigbee.start()
        self.check_clock()

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set: heartbeats, clock checks, queue housekeeping."""
        self.start()
        log.info(
            "edge agent for %s running: %d GPIO input(s), %d zigbee device(s)",
            self.settings.home,
            len(self.settings.gpio),
            len(self.settings.zigbee.devices) if self.settings.zigbee else 0,
        )
        next_hb = 0.0
        try:
            while not stop.is_set():
                self.check_clock()
                if time.monotonic() >= next_hb:
                    self.link.heartbeat(self.now())
                    next_hb = time.monotonic() + self.settings.heartbeat_s
                stop.wait(1.0)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the inputs, say offline and close the queue (unsent events stay on disk)."""
        for g in self.gpio:
            g.close()
        if self.zigbee is not None:
            self.zigbee.stop()
        self.link.stop(self.now())
        self.queue.close()
