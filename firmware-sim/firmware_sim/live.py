"""Play simulated homes live over MQTT, each home its own agent with its own credentials."""

from __future__ import annotations

import heapq
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from anxin.broker import SIM_CONTROL_ROOT, sim_incident_topic
from anxin.mqtt import connect_and_wait, make_client
from edge.link import AgentLink
from edge.queue import DiskQueue
from firmware_sim.config import SimSettings
from firmware_sim.homes import SimHome, SimHomes
from firmware_sim.model import DAY, LAYOUTS, PROFILES, Event, HomeSim, HomeSpec, IncidentPlan, SensorModel, kit_sensors
from firmware_sim.plan import micro_rates
from firmware_sim.sensors import INT_KINDS

log = logging.getLogger(__name__)
PRESS_TOPIC = f"{SIM_CONTROL_ROOT}/press"
INCIDENT_TOPIC = f"{SIM_CONTROL_ROOT}/incident"
# `anxin sim incident` names: the model's incident types, and the words a demo visitor would use for two of them.
INCIDENT_ALIASES = {"missed_morning": "late_wakeup", "fall": "long_lie"}


def press_topic(home: str) -> str:
    """Control topic on which `anxin sim press HOME` asks the running simulator to press a panic button."""
    return f"{PRESS_TOPIC}/{home}"


class SimRunner:
    """Runs every home's resident against the wall clock and publishes through each home's agent link."""

    def __init__(
        self,
        settings: SimSettings,
        homes: list[SimHome],
        incidents: list[tuple[str, float, float | None, str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.scheduled = incidents or []
        self.sims: dict[str, HomeSim] = {}
        self.streams: dict[str, Iterator[Event]] = {}
        self.held: dict[str, list[Event]] = {}
        self.replayed: dict[str, int] = {}
        self.battery: dict[tuple[str, str], int] = {}
        self.base = datetime.now(ZoneInfo(settings.sim.timezone))
        self.sim_start = self.wall0 = 0.0
        self.homes = {h.home: h for h in homes}
        self.tz = ZoneInfo(settings.sim.timezone)
        self.queue = DiskQueue(settings.state_dir / "sim" / "seq.sqlite")
        self.links: dict[str, AgentLink] = {}
        self.presses: queue.Queue[str] = queue.Queue()
        self.injected: queue.Queue[tuple[str, bytes]] = queue.Queue()  # (home, payload) from the control topic
        self.specs: dict[str, HomeSpec] = {}
        self.wanted: dict[str, list[IncidentPlan]] = {}
        self.gen: dict[str, int] = {}  # bumped when a home's stream is replanned: older heap entries are dropped
        self._control: mqtt.Client | None = None

    def now(self) -> datetime:
        """Wall-clock time in the homes' timezone."""
        return datetime.now(self.tz)

    def _link(self, h: SimHome) -> AgentLink:
        mq = self.settings.mqtt.model_copy(update={"username": h.home, "password": SecretStr(h.password)})
        return AgentLink(mq, h.home, h.agent, self.queue, self.now())

    def _start_control(self) -> None:
        if not self.settings.mqtt.username or not self.settings.mqtt.password:
            log.info("no sim control account configured: `anxin sim press` will not reach this simulator")
            return
        client = make_client(self.settings.mqtt, "anxin-sim-control")

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                c.subscribe([(f"{PRESS_TOPIC}/+", 1), (f"{INCIDENT_TOPIC}/+", 1)])

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            home = msg.topic.rsplit("/", 1)[-1]
            if msg.topic.startswith(INCIDENT_TOPIC + "/"):
                self.injected.put((home, bytes(msg.payload)))
            else:
                self.presses.put(home)

        client.on_connect = on_connect
        client.on_message = on_message
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
        wall0 = self.now()
        t_start = wall0 - timedelta(seconds=opts.backfill_s)
        self.base = datetime.combine(t_start.date(), datetime.min.time(), tzinfo=self.tz)
        self.sim_start = (t_start - self.base).total_seconds()
        self.wall0 = (wall0 - self.base).total_seconds()
        seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
        heap: list[tuple[float, int, str, Event, int]] = []
        order = 0
        for home_id, h in self.homes.items():
            link = self.links[home_id] = self._link(h)
            link.start()
            spec = self.specs[home_id] = spec_for(h, f"{seed}:{home_id}", t_start.date())
            wanted = [inc for home, inc in self.incidents(self.wall0) if home in (None, home_id, h.label)]
            self.wanted[home_id] = list(wanted)
            sim = self.sims[home_id] = HomeSim(spec, wanted)
            self.streams[home_id] = stream(sim, self.sim_start)
            self.gen[home_id] = 0
            e = next(self.streams[home_id])
            heapq.heappush(heap, (e.t, order, home_id, e, 0))
            order += 1
            for lb in sim.labels:
                log.info("home %s: %s planned at %s", home_id, lb.type, self.base + timedelta(seconds=lb.start))
        self._start_control()
        log.info("simulating %d homes (backfill %.0f min, speed %s)", len(self.homes), opts.backfill_s / 60,
                 opts.speed or "max")  # fmt: skip
        next_hb = time.monotonic()
        caught_up, t_run = False, time.monotonic()
        try:
            while not stop.is_set():
                while True:
                    try:
                        self.press(self.presses.get_nowait())
                    except queue.Empty:
                        break
                order = self._take_incidents(heap, order)
                now = self.sim_now()
                while heap and heap[0][0] <= now:
                    _, _, home_id, e, gen = heapq.heappop(heap)
                    if gen != self.gen[home_id]:
                        continue  # planned before an injected incident changed this home's future
                    self._play(home_id, e)
                    nxt = next(self.streams[home_id])
                    heapq.heappush(heap, (nxt.t, order, home_id, nxt, gen))
                    order += 1
                if not caught_up and now >= self.wall0:
                    caught_up = True
                    log.info("the past (%.0f min) is played: live from now on (took %.1f s)", opts.backfill_s / 60,
                             time.monotonic() - t_run)  # fmt: skip
                if time.monotonic() >= next_hb:
                    wall = self.now()
                    for home_id, link in self.links.items():
                        if home_id not in self.held:
                            link.heartbeat(wall)
                    next_hb = time.monotonic() + opts.heartbeat_s
                wait = self.wall_wait(heap[0][0] - now) if heap else 1.0
                stop.wait(min(max(wait, 0.0), 0.5))
        finally:
            for link in self.links.values():
                link.stop(self.now())
            if self._control is not None:
                self._control.disconnect()
                self._control.loop_stop()
            self.queue.close()

    def _take_incidents(self, heap: list[tuple[float, int, str, Event, int]], order: int) -> int:
        """Play the incidents asked for on the control topic; returns the heap's next insertion number."""
        while True:
            try:
                home, payload = self.injected.get_nowait()
            except queue.Empty:
                return order
            try:
                kind, dur = parse_injected(payload)
            except ValueError as err:
                log.warning("incident for %s refused: %s", home, err)
                continue
            if kind == "panic":
                self.press(home)
                continue
            first = self.inject(home, kind, dur)
            if first is not None:
                heapq.heappush(heap, (first.t, order, home, first, self.gen[home]))
                order += 1

    def inject(self, home: str, kind: str, dur: float | None) -> Event | None:
        """Replan a home's future with `kind` starting now (the model is seeded: its past replays the same), and
        return its next event; None for a home this runner does not play."""
        if home not in self.specs:
            log.warning("incident %s for unknown simulated home %s", kind, home)
            return None
        now = self.sim_now()
        plan = IncidentPlan(kind, at=now + 5.0, dur=dur)
        self.wanted[home].append(plan)
        sim = self.sims[home] = HomeSim(self.specs[home], [replace(p) for p in self.wanted[home]])
        self.streams[home] = stream(sim, now)
        self.gen[home] += 1
        first = next(self.streams[home])  # plans the day, which places the incident and writes its label
        placed = [lb for lb in sim.labels if lb.type == kind and lb.end >= now]
        for lb in placed:
            log.info("home %s: %s injected, playing from %s", home, kind, self.base + timedelta(seconds=lb.start))
        if not placed:
            log.info("home %s: %s asked for, but the resident's day has no place for it now", home, kind)
        return first

    def sim_now(self) -> float:
        """Model time now: the past window played at `speed`, never ahead of the wall clock."""
        wall = (self.now() - self.base).total_seconds()
        speed = self.settings.sim.speed
        if not speed:
            return wall
        return min(wall, self.sim_start + speed * (wall - self.wall0))

    def wall_wait(self, model_s: float) -> float:
        """Wall seconds until `model_s` more model time has passed."""
        speed = self.settings.sim.speed
        if speed and self.sim_now() < (self.now() - self.base).total_seconds():
            return model_s / speed
        return model_s

    def incidents(self, wall0: float) -> list[tuple[str | None, IncidentPlan]]:
        """The scheduled incidents as model-time plans."""
        return [(home, IncidentPlan(kind, at=wall0 + offset, dur=dur)) for kind, offset, dur, home in self.scheduled]

    def _play(self, home_id: str, e: Event) -> None:
        """Publish one model event through the home's agent, as an agent that loses power or network would."""
        h = self.homes[home_id]
        ts = self.base + timedelta(seconds=e.t)
        if e.kind == "battery":
            self.battery[(home_id, e.sensor)] = int(e.value)
            return
        if e.kind == "status":
            if e.value == "offline" and home_id not in self.held:
                log.info("home %s: agent offline (as planned)", home_id)
                self.links[home_id].kill()
                self.held[home_id] = []
            elif e.value == "online" and home_id in self.held:
                link = self.links[home_id] = self._link(h)
                link.start()
                backlog = self.held.pop(home_id)
                log.info("home %s: agent back online, replaying %d events", home_id, len(backlog))
                self.replayed[home_id] = self.replayed.get(home_id, 0) + len(backlog)
                for old in backlog:
                    self._publish(home_id, old)
            return
        if home_id in self.held:
            self.held[home_id].append(e)  # a power cut loses them in the model already; network: replay later
            return
        self._publish(home_id, e, ts)

    def _publish(self, home_id: str, e: Event, ts: datetime | None = None) -> None:
        value: int | str = int(e.value) if e.kind in INT_KINDS else e.value
        self.links[home_id].publish_event(
            ts or self.base + timedelta(seconds=e.t),
            e.sensor,
            e.kind,
            value,
            room=e.room,
            battery=self.battery.get((home_id, e.sensor)),
        )


def spec_for(h: SimHome, seed: str, start: date) -> HomeSpec:
    """The model of a registered home: layout from its sensors' rooms, hardware quirks drawn from the seed."""
    rooms = {s.room for s in h.sensors}
    layout = "two_bedroom" if "study" in rooms else "one_bedroom" if "living" in rooms else "studio"
    r = random.Random(f"{seed}:sensors")
    drawn = {s.id: s for s in kit_sensors("rich", LAYOUTS[layout], r)}
    sensors = []
    for s in h.sensors:
        like = drawn.get(s.id) or next((d for d in drawn.values() if d.kind == s.kind), None)
        base = replace(like, id=s.id, room=s.room) if like is not None else SensorModel(s.id, s.kind, s.room)
        sensors.append(base)
    profile = h.profile if h.profile in PROFILES else "regular"
    return HomeSpec(h.home, profile, layout, tuple(sensors), seed, start, rates=micro_rates(r))


def stream(sim: HomeSim, t0: float) -> Iterator[Event]:
    """The home's events from model time `t0` on, forever."""
    k = int(t0 // DAY)
    for d in range(k):
        sim.day_events(d)  # keeps the model's state (PIRs, plans) as it would be
    while True:
        for e in sim.day_events(k):
            if e.t >= t0:
                yield e
        k += 1


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


def send_incident(settings: SimSettings, home: str, kind: str, minutes: float | None) -> None:
    """Ask the running simulator to play an incident in a home now (QoS 1, held for it if it is away)."""
    payload = json.dumps({"kind": kind, "minutes": minutes}).encode()
    client = make_client(settings.mqtt, f"anxin-sim-incident-{random.randrange(1 << 30):x}")
    connect_and_wait(client, settings.mqtt)
    client.publish(sim_incident_topic(home), payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def incident_kind(name: str) -> str:
    """The model's incident type for a name `anxin sim incident` accepts; ValueError names the choices."""
    from firmware_sim.model import INCIDENT_TYPES

    kind = INCIDENT_ALIASES.get(name, name)
    if kind not in INCIDENT_TYPES:
        names = sorted({*INCIDENT_TYPES, *INCIDENT_ALIASES})
        raise ValueError(f"no incident {name!r}; one of {', '.join(names)}")
    return kind


def parse_injected(payload: bytes) -> tuple[str, float | None]:
    """An incident asked for on the control topic: its model type and duration in seconds (None: the model's)."""
    try:
        data = json.loads(payload[:512])
        minutes = data.get("minutes")
        kind = incident_kind(str(data["kind"]))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"bad incident request: {err}") from err
    if minutes is not None and (not isinstance(minutes, int | float) or not 0 < minutes <= 24 * 60):
        raise ValueError(f"minutes must be between 0 and 1440, got {minutes!r}")
    return kind, float(minutes) * 60 if minutes is not None else None


def parse_incident(text: str) -> tuple[str, float, float | None, str | None]:
    """`TYPE@WHEN[~DURATION][:HOME]`, e.g. `long_lie@+5m`, `agent_offline@+2m~10m:1-103`; WHEN is relative to the
    start of the run (`+90s`, `+5m`, `+1h`, or negative within the backfilled past)."""
    from firmware_sim.model import INCIDENT_TYPES

    home = None
    if ":" in text:
        text, home = text.split(":", 1)
    kind, sep, when = text.partition("@")
    if not sep or kind not in INCIDENT_TYPES:
        raise ValueError(f"incident {text!r}: expected TYPE@+5m with TYPE one of {', '.join(INCIDENT_TYPES)}")
    when, _, dur = when.partition("~")
    return kind, _duration(when), _duration(dur) if dur else None, home


def _duration(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError as err:
        raise ValueError(f"bad duration {text!r}: use e.g. +90s, 5m, 2h") from err
