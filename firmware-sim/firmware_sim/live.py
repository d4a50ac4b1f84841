"""Play simulated homes live over MQTT, each home its own agent with its own credentials."""

from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from anxin.broker import SIM_CONTROL_ROOT
from anxin.mqtt import connect_and_wait, make_client
from edge.link import AgentLink
from edge.seqstore import SeqStore
from firmware_sim.config import SimSettings
from firmware_sim.homes import SimHome, SimHomes
from firmware_sim.routine import Resident, SimEvent

log = logging.getLogger(__name__)
PRESS_TOPIC = f"{SIM_CONTROL_ROOT}/press"


def press_topic(home: str) -> str:
    """Control topic on which `anxin sim press HOME` asks the running simulator to press a panic button."""
    return f"{PRESS_TOPIC}/{home}"


class SimRunner:
    """Runs every home's resident against the wall clock and publishes through each home's agent link."""

    def __init__(self, settings: SimSettings, homes: list[SimHome]) -> None:
        self.settings = settings
        self.homes = {h.home: h for h in homes}
        self.tz = ZoneInfo(settings.sim.timezone)
        self.seqs = SeqStore(settings.state_dir / "sim" / "seq.sqlite")
        self.links: dict[str, AgentLink] = {}
        self.presses: queue.Queue[str] = queue.Queue()
        self._control: mqtt.Client | None = None

    def now(self) -> datetime:
        """Wall-clock time in the homes' timezone."""
        return datetime.now(self.tz)

    def _link(self, h: SimHome) -> AgentLink:
        mq = self.settings.mqtt.model_copy(update={"username": h.home, "password": SecretStr(h.password)})
        return AgentLink(mq, h.home, h.agent, self.seqs, self.now())

    def _start_control(self) -> None:
        if not self.settings.mqtt.username or not self.settings.mqtt.password:
            log.info("no sim control account configured: `anxin sim press` will not reach this simulator")
            return
        client = make_client(self.settings.mqtt, "anxin-sim-control")

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                c.subscribe(f"{PRESS_TOPIC}/+", qos=1)

        client.on_connect = on_connect
        client.on_message = lambda _c, _u, msg: self.presses.put(msg.topic.rsplit("/", 1)[-1])
        connect_and_wait(client, self.settings.mqtt, clean_start=False, session_expiry_s=3600)
        self._control = client

    def press(self, home: str) -> bool:
        """Press a home's panic button now."""
        h, link = self.homes.get(home), self.links.get(home)
        if h is None or link is None:
            log.warning("press for unknown simulated home %s", home)
            return False
        button = next((s for s in h.sensors if s.kind == "button"), None)
        if button is None:
            log.warning("home %s has no panic button", home)
            return False
        link.publish_event(self.now(), button.id, "button", "press", room=button.room)
        log.info("panic button pressed in %s", home)
        return True

    def run(self, stop: threading.Event) -> None:
        """Play until `stop` is set, then say offline and disconnect every home."""
        opts = self.settings.sim
        rng = random.Random(opts.seed)
        start = self.now() - timedelta(seconds=opts.backfill_s)
        heap: list[tuple[datetime, str, SimEvent]] = []
        gens = {}
        for home_id, h in self.homes.items():
            link = self.links[home_id] = self._link(h)
            link.start()
            gens[home_id] = Resident(h.sensors, random.Random(rng.random())).events(start)
            e = next(gens[home_id])
            heapq.heappush(heap, (e.ts, home_id, e))
        self._start_control()
        log.info("simulating %d homes (backfill %.0f min)", len(self.homes), opts.backfill_s / 60)
        next_hb = time.monotonic()
        try:
            while not stop.is_set():
                while True:
                    try:
                        self.press(self.presses.get_nowait())
                    except queue.Empty:
                        break
                now = self.now()
                while heap and heap[0][0] <= now:
                    _, home_id, e = heapq.heappop(heap)
                    self.links[home_id].publish_event(e.ts, e.sensor, e.kind, e.value, room=e.room)
                    nxt = next(gens[home_id])
                    heapq.heappush(heap, (nxt.ts, home_id, nxt))
                if time.monotonic() >= next_hb:
                    for link in self.links.values():
                        link.heartbeat(now)
                    next_hb = time.monotonic() + opts.heartbeat_s
                wait = (heap[0][0] - now).total_seconds() if heap else 1.0
                stop.wait(min(max(wait, 0.0), 0.5))
        finally:
            for link in self.links.values():
                link.stop(self.now())
            if self._control is not None:
                self._control.disconnect()
                self._control.loop_stop()
            self.seqs.close()


def run_service(settings: SimSettings, stop: threading.Event) -> None:
    """Entry point of `anxin sim run`."""
    SimRunner(settings, SimHomes.load(settings.homes_path()).homes).run(stop)


def send_press(settings: SimSettings, home: str) -> None:
    """Ask the running simulator to press a home's panic button (QoS 1, held for it if it is away)."""
    client = make_client(settings.mqtt, f"anxin-sim-press-{random.randrange(1 << 30):x}")
    connect_and_wait(client, settings.mqtt)
    client.publish(press_topic(home), b"press", qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
