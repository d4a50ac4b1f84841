"""`anxin sim load`: thousands of homes from a few processes, each home its own MQTT identity.

Over 400 lines: the selector loop, the per-home connection state and the control messages share one hot path per
worker process; split across files they would be one loop read in pieces.

Each worker process drives its share of the homes' paho clients from one thread with paho's external-loop API
(`selectors` on `client.socket()`, `loop_read`, `loop_write`, `loop_misc`): a thread per client does not scale to 10k
homes on two cores. Every home connects with its own account (username = home id, client id `agent-{home}`), which the
broker's ACL confines to `anxin/v1/homes/{home}/`, publishes a retained `online` status with an `offline` last will,
sequence-numbered events at QoS 1 and heartbeats.

Events come from the model: a few template homes (`plan_home`, no incidents) are simulated in each worker and every
load home plays one of them, shifted by its own few minutes so homes sharing a template do not report in step. With
`rate` 0 they report at the model's own cadence (a few hundred reports per home and day); with `rate` R the homes
together publish R events per second, cycling through their template's reports at a synthetic cadence.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import multiprocessing as mp
import os
import queue
import random
import resource
import selectors
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from anxin.broker import Credentials, agent_client_id, new_password, reload_running_broker
from anxin.mqtt import make_client
from anxin.procfs import rss_kib
from anxin.settings import MqttSettings
from contracts import Heartbeat, SensorEvent, SensorHealth, Status, dump, events_topic, heartbeat_topic, status_topic
from contracts.vocabulary import DEFAULT_TIMEZONE
from firmware_sim.model import DAY, Event, HomeSim
from firmware_sim.plan import plan_home
from firmware_sim.sensors import INT_KINDS

log = logging.getLogger(__name__)
LOAD_VERSION = "0.2.0-load"
DISTRICT = "负载测试"


@dataclass(frozen=True)
class LoadHome:
    """One load-test home as its agent knows it: id, agent name, broker password."""

    home: str
    agent: str
    password: str


@dataclass(frozen=True)
class LoadOptions:
    """What the workers play and how."""

    rate: float = 0.0  # events per second over all homes; 0: the model's own cadence
    heartbeat_s: float = 60.0
    seed: int = 1
    templates: int = 32  # model homes simulated per worker; load homes play them with a time shift
    shift_s: float = 900.0  # homes sharing a template are shifted by up to this much
    timezone: str = DEFAULT_TIMEZONE
    connecting: int = 200  # connections per worker waiting for CONNACK at once
    stats_every_s: float = 1.0


@dataclass
class LoadStats:
    """Totals over all workers (cumulative since the start)."""

    homes: int = 0
    connected: int = 0
    ever_connected: int = 0
    refused: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0
    heartbeats: int = 0
    cpu_s: float = 0.0
    rss_kb: int = 0
    seconds: float = 0.0
    all_connected_s: float | None = None
    per_worker: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LoadResult:
    """What a load run did: totals, per-home last seq and acked events, and the snapshots taken on the way."""

    stats: LoadStats
    seqs: dict[str, int]
    acked_by_home: dict[str, int]
    snapshots: list[tuple[float, LoadStats]]


# --- registering many homes at once ------------------------------------------------------------------------------


def load_homes_path(state_dir: Path) -> Path:
    """Where `anxin sim load` keeps its homes (apart from the demo's homes file, which `anxin sim run` plays)."""
    return state_dir / "sim" / "load-homes.json"


def read_load_homes(path: Path) -> list[LoadHome]:
    """The load homes file, or none."""
    if not path.exists():
        return []
    return [LoadHome(*row) for row in json.loads(path.read_text())["homes"]]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def register_load_homes(
    creds: Credentials,
    homes_file: Path,
    count: int,
    *,
    broker_state: Path | None = None,
    db_url: str | None = None,
) -> list[LoadHome]:
    """Make sure `count` load homes exist: broker accounts, one broker reload, SQL rows in one insert; returns them."""
    from anxin.registry import new_home_id

    homes = read_load_homes(homes_file)
    fresh: list[LoadHome] = []
    while len(homes) < count:
        h = LoadHome(new_home_id(), f"ld-{len(homes) + 1:05d}", new_password())
        homes.append(h)
        fresh.append(h)
    missing = [h for h in homes if creds.users.get(h.home) != h.password]
    for h in homes:
        creds.users[h.home] = h.password
    if fresh:
        _write_private(homes_file, json.dumps({"homes": [[h.home, h.agent, h.password] for h in homes]}))
    if missing:
        creds.save()
        if broker_state is not None:
            reload_running_broker(broker_state, creds.users)
    if db_url is not None:
        _insert_homes(db_url, homes)
    return homes[:count]


def _insert_homes(db_url: str, homes: list[LoadHome]) -> None:
    from sqlalchemy import insert, select

    from anxin.db.engine import upgrade, url_session
    from anxin.db.models import Home

    upgrade(db_url)
    now = datetime.now(UTC)
    with url_session(db_url) as s, s.begin():
        known = set(s.scalars(select(Home.id)))
        rows = [
            {"id": h.home, "label": f"L-{h.agent[3:]}", "district": DISTRICT, "created_at": now}
            for h in homes
            if h.home not in known
        ]
        if rows:
            s.execute(insert(Home), rows)


def read_seqs(path: Path) -> dict[str, int]:
    """Last published seq per home (seq survives restarts, as an agent's does)."""
    return {str(k): int(v) for k, v in json.loads(path.read_text()).items()} if path.exists() else {}


def write_seqs(path: Path, seqs: dict[str, int]) -> None:
    """Save the last seq per home."""
    _write_private(path, json.dumps(seqs, separators=(",", ":")))


# --- one worker: many homes on one thread ------------------------------------------------------------------------


class _Template:
    """A model home whose report stream several load homes play; days are generated as they are needed."""

    def __init__(self, seed: int, index: int, start: date) -> None:
        plan = plan_home(seed, index, 3660, start, 0.0, (), guarantee=False)
        self.sim = HomeSim(plan.spec, [])
        self.days: dict[int, list[Event]] = {}
        self.battery: dict[str, int] = {}

    def day(self, k: int) -> list[Event]:
        """The sensor reports of day `k` (battery and agent rows left out; battery rides on the events)."""
        if k not in self.days:
            for old in [d for d in self.days if d < k - 1]:
                del self.days[old]
            while len(self.days) == 0 or max(self.days) < k:
                nk = max(self.days) + 1 if self.days else k
                events = self.sim.day_events(nk)
                for e in events:
                    if e.kind == "battery":
                        self.battery[e.sensor] = int(e.value)
                self.days[nk] = [e for e in events if e.kind not in ("battery", "status")]
        return self.days[k]


class _Home:
    """One home's client and counters."""

    __slots__ = (
        "acked",
        "agent",
        "attempts",
        "client",
        "connected",
        "connecting_since",
        "day",
        "events_topic",
        "ever",
        "home",
        "idx",
        "inflight",
        "pos",
        "sensors",
        "seq",
        "shift",
        "template",
    )  # fmt: skip

    def __init__(self, idx: int, h: LoadHome, client: mqtt.Client, seq: int, template: int, shift: float) -> None:
        self.idx, self.home, self.agent, self.client = idx, h.home, h.agent, client
        self.seq, self.acked, self.template, self.shift = seq, 0, template, shift
        self.inflight: dict[int, int] = {}
        self.connected = self.ever = False
        self.day, self.pos, self.attempts = 0, 0, 0
        self.connecting_since: float | None = None
        self.sensors: dict[str, datetime] = {}
        self.events_topic = events_topic(h.home)


EVENT, HEARTBEAT, CONNECT = 0, 1, 2


class LoadWorker:
    """Plays a share of the homes: connects them, publishes their events and heartbeats, says offline at the end."""

    def __init__(
        self,
        settings: MqttSettings,
        homes: list[LoadHome],
        opts: LoadOptions,
        total_homes: int,
        seqs: dict[str, int] | None = None,
        worker: int = 0,
    ) -> None:
        self.settings, self.opts, self.worker = settings, opts, worker
        self.tz = ZoneInfo(opts.timezone)
        self.sel = selectors.DefaultSelector()
        self.rng = random.Random(f"{opts.seed}:load:{worker}")
        today = datetime.now(self.tz).date()
        self.midnight = datetime.combine(today, datetime.min.time(), tzinfo=self.tz).timestamp()
        self.templates = [_Template(opts.seed, i, today) for i in range(max(1, opts.templates))]
        self.interval = total_homes / opts.rate if opts.rate > 0 else 0.0
        self.heap: list[tuple[float, int, int]] = []
        self.homes: list[_Home] = []
        seqs = seqs or {}
        for i, h in enumerate(homes):
            s = settings.model_copy(update={"username": h.home, "password": SecretStr(h.password)})
            offline = Status(state="offline", agent=h.agent, version=LOAD_VERSION, ts=datetime.now(self.tz))
            client = make_client(s, agent_client_id(h.home), will=(status_topic(h.home), dump(offline)))
            template = zlib.crc32(h.home.encode()) % len(self.templates)
            shift = self.rng.uniform(-opts.shift_s, opts.shift_s)
            home = _Home(i, h, client, seqs.get(h.home, 0), template, shift)
            client.user_data_set(home)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.on_socket_open = self._on_socket_open
            client.on_socket_close = self._on_socket_close
            client.on_socket_register_write = self._on_register_write
            client.on_socket_unregister_write = self._on_unregister_write
            self.homes.append(home)
        self.pending = list(reversed(range(len(self.homes))))  # first connections, in order
        self.connecting = 0
        self.connected = self.ever_connected = self.refused = 0
        self.published = self.acked = self.rejected = self.heartbeats = 0
        self.started = time.monotonic()
        self.all_connected_s: float | None = None
        self.stopping = False

    # --- paho callbacks (all on this thread)

    def _on_socket_open(self, client: mqtt.Client, home: _Home, sock: Any) -> None:
        self.sel.register(sock, selectors.EVENT_READ, home)

    def _on_socket_close(self, client: mqtt.Client, home: _Home, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)

    def _on_register_write(self, client: mqtt.Client, home: _Home, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, home)

    def _on_unregister_write(self, client: mqtt.Client, home: _Home, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(sock, selectors.EVENT_READ, home)

    def _on_connect(self, client: mqtt.Client, home: _Home, _f: Any, reason: Any, _p: Any) -> None:
        if home.connecting_since is not None:
            home.connecting_since = None
            self.connecting -= 1
        if reason.is_failure:
            self.refused += 1
            if self.refused <= 5:
                log.warning("broker refused home %s: %s", home.home, reason)
            return  # paho closes the socket; _on_disconnect schedules the retry
        home.connected = True
        home.attempts = 0
        self.connected += 1
        online = Status(state="online", agent=home.agent, version=LOAD_VERSION, ts=datetime.now(self.tz))
        client.publish(status_topic(home.home), dump(online), qos=1, retain=True)
        if not home.ever:
            home.ever = True
            self.ever_connected += 1
            if self.ever_connected == len(self.homes):
                self.all_connected_s = time.monotonic() - self.started
            now = time.monotonic()
            heapq.heappush(self.heap, (now + self.rng.uniform(0, self.opts.heartbeat_s), HEARTBEAT, home.idx))
            heapq.heappush(self.heap, (self._first_due(home, now), EVENT, home.idx))

    def _on_disconnect(self, client: mqtt.Client, home: _Home, _f: Any, reason: Any, _p: Any) -> None:
        if home.connecting_since is not None:
            home.connecting_since = None
            self.connecting -= 1
        if home.connected:
            home.connected = False
            self.connected -= 1
        if not self.stopping:
            home.attempts += 1
            delay = min(30.0, 0.5 * 2 ** min(home.attempts, 6)) * self.rng.uniform(0.5, 1.5)
            heapq.heappush(self.heap, (time.monotonic() + delay, CONNECT, home.idx))

    def _on_publish(self, _c: mqtt.Client, home: _Home, mid: int, reason: Any, _p: Any) -> None:
        if home.inflight.pop(mid, None) is None:
            return  # status or heartbeat
        if reason.is_failure:
            self.rejected += 1
        else:
            self.acked += 1
            home.acked += 1

    # --- scheduling

    def _first_due(self, home: _Home, now: float) -> float:
        if self.interval:
            home.pos = self.rng.randrange(max(1, len(self.templates[home.template].day(0))))
            return now + self.rng.uniform(0, self.interval)
        # Model cadence: the next report of the template at or after the wall clock, shifted for this home.
        since = time.time() - self.midnight - home.shift
        home.day = max(0, int(since // DAY))
        events = self.templates[home.template].day(home.day)
        home.pos = next((i for i, e in enumerate(events) if e.t >= since), len(events))
        return self._model_due(home, now)

    def _model_due(self, home: _Home, now: float) -> float:
        tpl = self.templates[home.template]
        while home.pos >= len(tpl.day(home.day)):
            home.day, home.pos = home.day + 1, 0
        e = tpl.day(home.day)[home.pos]
        return now + (self.midnight + e.t + home.shift - time.time())

    def _next_event(self, home: _Home) -> Event:
        tpl = self.templates[home.template]
        events = tpl.day(home.day)
        if home.pos >= len(events):
            home.day, home.pos = (home.day + 1, 0) if not self.interval else (home.day, 0)
            events = tpl.day(home.day)
        e = events[home.pos]
        home.pos += 1
        return e

    def _publish_event(self, home: _Home, now: float) -> None:
        e = self._next_event(home)
        ts = datetime.now(self.tz)
        if not self.interval:
            ts = datetime.fromtimestamp(min(time.time(), self.midnight + e.t + home.shift), self.tz)
        value: int | str = int(e.value) if e.kind in INT_KINDS else e.value
        home.seq += 1
        event = SensorEvent(
            home=home.home,
            agent=home.agent,
            seq=home.seq,
            ts=ts,
            sensor=e.sensor,
            kind=e.kind,
            value=value,
            room=e.room or None,
            battery=self.templates[home.template].battery.get(e.sensor),
        )
        info = home.client.publish(home.events_topic, dump(event), qos=1)
        home.inflight[info.mid] = home.seq
        home.sensors[e.sensor] = ts
        self.published += 1

    def _publish_heartbeat(self, home: _Home) -> None:
        tpl = self.templates[home.template]
        hb = Heartbeat(
            home=home.home,
            agent=home.agent,
            ts=datetime.now(self.tz),
            queue_depth=len(home.inflight),
            uptime_s=round(time.monotonic() - self.started, 1),
            sensors={s: SensorHealth(last_seen=t, battery=tpl.battery.get(s)) for s, t in home.sensors.items()},
        )
        home.client.publish(heartbeat_topic(home.home), dump(hb), qos=1)
        self.heartbeats += 1

    def _connect(self, home: _Home, now: float) -> None:
        home.connecting_since = now
        self.connecting += 1
        try:
            if home.attempts == 0 and not home.ever:
                home.client.connect(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
            else:
                home.client.reconnect()
        except OSError as err:
            home.connecting_since = None
            self.connecting -= 1
            home.attempts += 1
            if home.attempts <= 2:
                log.warning("home %s cannot reach the broker: %s", home.home, err)
            heapq.heappush(self.heap, (now + min(30.0, 0.5 * 2 ** min(home.attempts, 6)), CONNECT, home.idx))

    # --- the loop

    def step(self, max_wait: float) -> None:
        """Serve sockets for at most `max_wait` seconds, then do what is due."""
        now = time.monotonic()
        started = 0
        # A few new connections per turn, so CONNACKs and due events are served in between.
        while self.pending and self.connecting < self.opts.connecting and started < 50:
            self._connect(self.homes[self.pending.pop()], now)
            started += 1
        wait = max_wait
        if self.heap:
            wait = min(wait, max(0.0, self.heap[0][0] - now))
        for key, mask in self.sel.select(wait):
            home: _Home = key.data
            if mask & selectors.EVENT_READ:
                home.client.loop_read(100)
            if mask & selectors.EVENT_WRITE and home.client.socket() is not None:
                home.client.loop_write()
        now = time.monotonic()
        while self.heap and self.heap[0][0] <= now:
            due, what, idx = heapq.heappop(self.heap)
            home = self.homes[idx]
            if what == CONNECT:
                if not home.connected and home.connecting_since is None:
                    self._connect(home, now)
            elif what == HEARTBEAT:
                if home.connected:
                    self._publish_heartbeat(home)
                heapq.heappush(self.heap, (due + self.opts.heartbeat_s, HEARTBEAT, idx))
            else:
                self._publish_event(home, now)  # paho holds it while the home reconnects
                nxt = due + self.interval if self.interval else self._model_due(home, now)
                heapq.heappush(self.heap, (nxt, EVENT, idx))

    def misc(self) -> None:
        """Keepalive pings and timeouts of every client."""
        for home in self.homes:
            if home.client.socket() is not None:
                home.client.loop_misc()

    def snapshot(self, with_seqs: bool = False) -> dict[str, Any]:
        """Counters, CPU and memory of this worker."""
        r = resource.getrusage(resource.RUSAGE_SELF)
        snap: dict[str, Any] = {
            "worker": self.worker,
            "homes": len(self.homes),
            "connected": self.connected,
            "ever_connected": self.ever_connected,
            "refused": self.refused,
            "published": self.published,
            "acked": self.acked,
            "rejected": self.rejected,
            "heartbeats": self.heartbeats,
            "cpu_s": r.ru_utime + r.ru_stime,
            "rss_kb": rss_kib() or 0,
            "all_connected_s": self.all_connected_s,
        }
        if with_seqs:
            snap["seqs"] = {h.home: h.seq for h in self.homes}
            snap["acked_by_home"] = {h.home: h.acked for h in self.homes}
        return snap

    def run(self, stop: Callable[[], bool], report: Callable[[dict[str, Any]], None]) -> None:
        """Play until `stop()` is true, reporting a snapshot every `stats_every_s`; then say offline and leave."""
        next_misc = next_stats = time.monotonic()
        next_seqs = next_stats + 10
        while not stop():
            self.step(0.05)
            now = time.monotonic()
            if now >= next_misc:
                self.misc()
                next_misc = now + 1.0
            if now >= next_stats:
                report(self.snapshot(with_seqs=now >= next_seqs))
                if now >= next_seqs:
                    next_seqs = now + 10
                next_stats = now + self.opts.stats_every_s
        self.close()
        report({**self.snapshot(with_seqs=True), "final": True})

    def close(self, timeout: float = 10.0) -> None:
        """Publish offline (a clean disconnect does not fire the will), wait for the acks, then disconnect."""
        self.stopping = True
        self.pending.clear()
        now = datetime.now(self.tz)
        waiting: list[mqtt.MQTTMessageInfo] = []
        for home in self.homes:
            if home.connected:
                offline = Status(state="offline", agent=home.agent, version=LOAD_VERSION, ts=now)
                waiting.append(home.client.publish(status_topic(home.home), dump(offline), qos=1, retain=True))
        deadline = time.monotonic() + timeout
        self.heap = []
        while time.monotonic() < deadline and not all(w.is_published() for w in waiting):
            self.step(0.05)
        for home in self.homes:
            if home.client.socket() is not None:
                home.client.disconnect()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(h.client.want_write() for h in self.homes if h.client.socket()):
            self.step(0.02)
        for home in self.homes:
            sock = home.client.socket()
            if sock is not None:
                self._on_socket_close(home.client, home, sock)
                if isinstance(sock, socket.socket):
                    sock.close()
        self.sel.close()


def raise_own_fd_limit(need: int) -> None:
    """Raise this process's open-file limit to fit `need` sockets (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            log.warning("open-file limit %d is below the %d sockets this worker needs (raise `ulimit -Hn`)", new, need)


def _worker_main(
    worker: int,
    settings: MqttSettings,
    homes: list[LoadHome],
    opts: LoadOptions,
    total: int,
    seqs: dict[str, int],
    out: Any,
    stop: Any,
    log_level: int,
) -> None:
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s load[{worker}]: %(message)s")
    raise_own_fd_limit(len(homes))
    w = LoadWorker(settings, homes, opts, total, seqs, worker)
    w.run(stop.is_set, out.put)


# --- the parent: split the homes over worker processes, sum their reports -----------------------------------------


def _sum(snaps: dict[int, dict[str, Any]], started: float) -> LoadStats:
    s = LoadStats(seconds=time.monotonic() - started, per_worker=list(snaps.values()))
    for snap in snaps.values():
        s.homes += snap["homes"]
        s.connected += snap["connected"]
        s.ever_connected += snap["ever_connected"]
        s.refused += snap["refused"]
        s.published += snap["published"]
        s.acked += snap["acked"]
        s.rejected += snap["rejected"]
        s.heartbeats += snap["heartbeats"]
        s.cpu_s += snap["cpu_s"]
        s.rss_kb += snap["rss_kb"]
    times = [snap["all_connected_s"] for snap in snaps.values()]
    if snaps and all(t is not None for t in times):
        s.all_connected_s = max(times)
    return s


def run_load(
    settings: MqttSettings,
    homes: list[LoadHome],
    opts: LoadOptions,
    *,
    workers: int = 2,
    duration_s: float = 0.0,
    stop: threading.Event | None = None,
    seqs: dict[str, int] | None = None,
    on_stats: Callable[[LoadStats], None] | None = None,
    seq_file: Path | None = None,
) -> LoadResult:
    """Play `homes` from `workers` processes until `duration_s` passes (0: until `stop` is set); returns what it did."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    stop_evt = ctx.Event()
    workers = max(1, min(workers, len(homes)))
    seqs = dict(seqs or {})
    procs = []
    for k in range(workers):
        share = homes[k::workers]
        p = ctx.Process(
            target=_worker_main,
            args=(k, settings, share, opts, len(homes), {h.home: seqs.get(h.home, 0) for h in share}, out, stop_evt,
                  logging.getLogger().getEffectiveLevel()),
            name=f"anxin-sim-load-{k}",
            daemon=True,
        )  # fmt: skip
        p.start()
        procs.append(p)
    started = time.monotonic()
    snaps: dict[int, dict[str, Any]] = {}
    history: list[tuple[float, LoadStats]] = []
    final: dict[int, dict[str, Any]] = {}
    acked_by_home: dict[str, int] = {}
    last_report = 0.0

    def take(snap: dict[str, Any]) -> None:
        nonlocal last_report
        k = snap["worker"]
        if "seqs" in snap:
            seqs.update(snap.pop("seqs"))
            acked_by_home.update(snap.pop("acked_by_home"))
            if seq_file is not None:
                write_seqs(seq_file, seqs)
        snaps[k] = snap
        if snap.get("final"):
            final[k] = snap
        now = time.monotonic()
        if len(snaps) == workers and now - last_report >= opts.stats_every_s * 0.9:
            last_report = now
            total = _sum(snaps, started)
            history.append((now - started, total))
            if on_stats is not None:
                on_stats(total)

    try:
        while len(final) < workers:
            elapsed = time.monotonic() - started
            if not stop_evt.is_set() and (
                (duration_s and elapsed >= duration_s) or (stop is not None and stop.is_set())
            ):
                stop_evt.set()
            if not any(p.is_alive() for p in procs) and out.empty():
                break
            try:
                take(out.get(timeout=0.2))
            except queue.Empty:
                continue
    finally:
        stop_evt.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    if seq_file is not None:
        write_seqs(seq_file, seqs)
    missing = workers - len(final)
    if missing:
        log.error("%d load worker(s) ended without a final report", missing)
    return LoadResult(_sum(snaps, started), seqs, acked_by_home, history)
