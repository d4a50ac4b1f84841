"""The ingest service: MQTT QoS 1 in, InfluxDB out, acknowledged only once stored or durably spilled.

Over 400 lines: its one loop (receive, validate, write or spill, acknowledge) reads best in one place; what it calls
lives in pipeline.py, writer.py, spill.py, deadletters.py, series.py and jetstream.py.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Home, HomeSensor
from contracts.topics import TopicKind, home_filter
from contracts.vocabulary import DeadLetterReason
from ingest.config import IngestSettings
from ingest.deadletters import DeadLetterLimits, DeadLetters
from ingest.dedupe import Reset
from ingest.metrics import IngestMetrics
from ingest.mqttlink import Message, Subscriber
from ingest.pipeline import Rejected, Validator
from ingest.series import KitSensor
from ingest.spill import Spill, SpillFull
from ingest.writer import LineWriter, WriteError, ensure_retention, make_writer

log = logging.getLogger(__name__)

# At most this many lag observations per batch: a histogram observation costs about a microsecond.
_LAG_SAMPLES = 256


class _Stopping(Exception):
    """Raised inside the writer loop when the service stops before a batch could be stored or spilled."""


@dataclass
class Prepared:
    """A validated batch on its way to storage: its lines (with their messages), rejections and duplicates."""

    batch: list[Message]
    lines: list[str] = field(default_factory=list)
    line_source: list[Message] = field(default_factory=list)
    dead: list[tuple[str, bytes, Rejected]] = field(default_factory=list)
    duplicates: int = 0


class IngestService:
    """Subscribes, validates, batches, writes (or spills) and only then acknowledges."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        opts = settings.ingest
        self.validator = Validator(max_future=timedelta(seconds=opts.max_future_s))
        self.validator.seqs.window = opts.dedupe_window
        self.validator.seqs.on_reset = self._on_reset
        self.validator.series.cap = opts.max_series_per_home
        self._resets_logged: dict[tuple[str, str], float] = {}
        self.metrics = IngestMetrics(self.validator.seqs.gaps)
        self.metrics_port: int | None = None
        self.spill = Spill(
            opts.spill_dir or settings.state_dir / "ingest-spill",
            opts.spill_max_bytes,
            opts.spill_alarm_fraction,
            opts.spill_segment_bytes,
        )
        self.metrics.spill_limit.set(opts.spill_max_bytes)
        self._inbox: deque[list[Message]] = deque()
        self._inbox_ready = threading.Event()
        self._replay_wake = threading.Event()
        self._engine = make_engine(settings.database.url) if opts.check_homes else None
        self._sessions = session_factory(self._engine) if self._engine else None
        self._homes_loaded_at = 0.0
        limits = DeadLetterLimits(
            samples=opts.dead_letter_samples,
            payload_bytes=opts.dead_letter_payload_bytes,
            max_rows=opts.dead_letter_max_rows,
            rate_per_min=opts.dead_letter_rate_per_min,
            burst=opts.dead_letter_burst,
        )
        self.dead = DeadLetters(limits, self._sessions, settings.state_dir / "dead-letters.jsonl", self.metrics)
        self._writer: LineWriter | None = None
        self._writer_lock = threading.Lock()
        self._retention_done = opts.retention is None
        self.link = Subscriber(
            settings.mqtt,
            opts.client_id,
            self._filters(),
            self._deliver,
            session_expiry_s=opts.session_expiry_s,
            receive_maximum=opts.receive_maximum,
        )
        self.link.on_state = lambda up: self.metrics.mqtt_up.set(1 if up else 0)
        # bus = "nats" (docs/scale.md): stored events, status and heartbeats go to JetStream before their MQTT ack;
        # nats-py is loaded only then.
        self.bridge = None
        if settings.bus == "nats":
            from ingest.jetstream import JetStreamBridge

            self.bridge = JetStreamBridge(settings.nats, opts.client_id)
        self.link.on_takeover = self.metrics.session_takeovers.inc
        self.stored = 0
        self._update_spill_gauges()

    # -- inputs ------------------------------------------------------------------------------------------------------

    def _filters(self) -> list[str]:
        group = self.settings.ingest.shared_group
        tops = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
        return [f"$share/{group}/{t}" for t in tops] if group else tops

    def _deliver(self, msgs: list[Message]) -> None:
        self._inbox.append(msgs)
        self._inbox_ready.set()

    def _refresh_homes(self) -> None:
        if self._sessions is None or time.monotonic() - self._homes_loaded_at < self.settings.ingest.homes_refresh_s:
            return
        try:
            with self._sessions() as s:
                self.validator.known_homes = frozenset(s.scalars(select(Home.id)))
            self._homes_loaded_at = time.monotonic()
        except Exception as err:  # keep the last known list; a DB blip must not stop ingest
            log.warning("could not refresh the home registry: %s", err)
            return
        try:
            kits: dict[str, dict[str, KitSensor]] = {}
            with self._sessions() as s:
                # Only the columns ingest reads: one a later migration adds must not need it first.
                cols = (HomeSensor.home_id, HomeSensor.sensor, HomeSensor.kind, HomeSensor.room, HomeSensor.agent)
                for home, sensor, kind, room, agent in s.execute(select(*cols)):
                    kits.setdefault(home, {})[sensor] = KitSensor(kind, room, agent)
            self.validator.series.set_kits(kits)
        except Exception as err:  # an unmigrated database: homes without a kit get the series cap
            log.warning("could not read the homes' registered kits: %s", err)

    def _on_reset(self, home: str, agent: str, kind: Reset, detail: str) -> None:
        """Count an agent's seq restart and log it, at most once a minute per agent: its events are kept."""
        self.metrics.seq_resets.labels(kind.value).inc()
        self.validator.counts[f"seq_reset:{kind.value}"] += 1
        now = time.monotonic()
        if now - self._resets_logged.get((home, agent), -1e9) >= 60:
            self._resets_logged[(home, agent)] = now
            log.warning("agent %s/%s restarted its seq (%s: %s): its events are kept", home, agent, kind.value, detail)

    def healthy(self) -> bool:
        """Connected to the broker, and InfluxDB taking writes (nothing waiting in the spill)."""
        return self.link.connected.is_set() and self.spill.empty()

    # -- outputs -----------------------------------------------------------------------------------------------------

    def _store_dead_letters(self, dead: list[tuple[str, bytes, Rejected]]) -> None:
        """Count every rejected message, keep a bounded sample (ingest/deadletters.py)."""
        self.dead.keep([(t, p, str(r.reason), r.detail, r.keep) for t, p, r in dead])

    def _get_writer(self) -> LineWriter:
        with self._writer_lock:
            if not self._retention_done:
                assert self.settings.ingest.retention is not None
                log.info("%s", ensure_retention(self.settings.influx, self.settings.ingest.retention))
                self._retention_done = True
            if self._writer is None:
                self._writer = make_writer(self.settings.influx)
            return self._writer

    def _write(self, lines: list[str]) -> list[str]:
        """Write once; returns lines the server refused permanently. Raises WriteError when worth retrying."""
        t0 = time.perf_counter()
        try:
            self._get_writer().write(lines)
        except WriteError as err:
            self.metrics.write_errors.labels(str(err.retryable).lower()).inc()
            if err.retryable:
                self.metrics.influx_up.set(0)
                raise
            if len(lines) == 1:
                log.error("InfluxDB refused a point: %s", err)
                return lines
            # Find the bad point(s) by halving; the rest is stored.
            mid = len(lines) // 2
            return self._write(lines[:mid]) + self._write(lines[mid:])
        self.metrics.write_latency.observe(time.perf_counter() - t0)
        self.metrics.influx_up.set(1)
        self.metrics.stored.inc(len(lines))
        self.stored += len(lines)
        self.validator.counts["stored"] += len(lines)
        self._observe_lag(lines)
        return []

    def _observe_lag(self, lines: list[str]) -> None:
        now_ns = time.time_ns()
        step = max(1, len(lines) // _LAG_SAMPLES)
        observe = self.metrics.event_lag.observe
        for line in lines[::step]:
            observe((now_ns - int(line[line.rindex(" ") + 1 :])) / 1e9)

    def _store(self, lines: list[str], stop: threading.Event) -> list[str]:
        """Write to InfluxDB, or spill when it is unreachable or the spill is not drained yet (order)."""
        warned = False
        while True:
            if self.spill.empty():
                try:
                    return self._write(lines)
                except WriteError as err:
                    log.warning("InfluxDB unreachable (%s): spilling to %s", err, self.spill.folder)
            try:
                self.spill.append(lines)
            except (SpillFull, OSError) as err:
                if not warned:
                    log.error("cannot spill, holding acknowledgements: %s", err)
                    warned = True
                self._update_spill_gauges()
                if stop.wait(1.0):
                    # Shutting down: leave the batch unacknowledged, the broker redelivers it next start.
                    raise _Stopping from err
                continue
            self.metrics.spilled.inc(len(lines))
            self._update_spill_gauges()
            self._replay_wake.set()
            return []

    def _update_spill_gauges(self) -> None:
        self.metrics.spill_events.set(self.spill.events)
        self.metrics.spill_bytes.set(self.spill.bytes_used)
        self.metrics.spill_alarm.set(1 if self.spill.alarm else 0)

    # -- the pipeline ------------------------------------------------------------------------------------------------

    def validate_batch(self, batch: list[Message]) -> Prepared:
        """Validate one batch: lines to store, duplicates and rejections; no I/O but the home registry refresh."""
        self._refresh_homes()
        now = datetime.now(UTC)
        prep = Prepared(batch)
        lines, line_source, dead = prep.lines, prep.line_source, prep.dead
        handle = self.validator.handle
        for m in batch:
            out = handle(m.topic, m.payload, now)
            if isinstance(out, str):
                lines.append(out)
                line_source.append(m)
            elif out is None:
                prep.duplicates += 1
            else:
                dead.append((m.topic, m.payload, out))
        return prep

    def store_batch(self, prep: Prepared, stop: threading.Event) -> None:
        """Store (or spill) a validated batch, keep its dead letters, and only then acknowledge it."""
        dead = prep.dead
        refused: set[str] = set()
        if prep.lines:
            refused = set(self._store(prep.lines, stop))
            if refused:
                for line, m in zip(prep.lines, prep.line_source, strict=True):
                    if line in refused:
                        dead.append(
                            (m.topic, m.payload, Rejected(DeadLetterReason.DB_REFUSED, "InfluxDB refused the point"))
                        )
        if dead:
            self._store_dead_letters(dead)
            for _t, _p, rej in dead:
                self.metrics.invalid.labels(rej.reason).inc()
        self.metrics.received.inc(len(prep.batch))
        self.metrics.duplicates.inc(prep.duplicates)
        self.metrics.batch_size.observe(len(prep.batch))
        if self.bridge is not None:  # bus = "nats": JetStream acked the stored messages before we PUBACK them
            stored = [m for line, m in zip(prep.lines, prep.line_source, strict=True) if line not in refused]
            if not self.bridge.publish(stored, stop):
                raise _Stopping
        self.metrics.acked.inc(self.link.ack(prep.batch))
        self.metrics.processed()

    def process_batch(self, batch: list[Message], stop: threading.Event) -> None:
        """Validate, store (or spill) and acknowledge one batch."""
        self.store_batch(self.validate_batch(batch), stop)

    def _worker(self, stop: threading.Event) -> None:
        """Batch and validate; the storer writes the previous batch meanwhile (its HTTP wait releases the GIL)."""
        opts = self.settings.ingest
        # Four batches may be unacknowledged at once: being written, queued, validated, and arriving.
        flush_at = min(opts.batch_size, max(1, opts.receive_maximum // 4))
        last_report = time.monotonic()
        batch: list[Message] = []
        deadline = 0.0
        storer_stop = threading.Event()
        # One batch waiting while one is written: memory stays bounded and back pressure reaches the broker's window.
        prepared: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        storer = threading.Thread(
            target=self._storer, args=(prepared, stop, storer_stop), name="ingest-store", daemon=True
        )
        storer.start()

        def hand_over(item: Prepared | None) -> bool:
            while not storer_stop.is_set():
                try:
                    prepared.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            while True:
                while self._inbox and len(batch) < flush_at:
                    if not batch:
                        deadline = time.monotonic() + opts.batch_interval_s
                    batch.extend(self._inbox.popleft())
                now = time.monotonic()
                stopping = stop.is_set()
                if batch and (len(batch) >= flush_at or now >= deadline or stopping):
                    # Full batches only; a remainder (messages arrive in chunks) starts the next batch, unless due.
                    cut = len(batch) if now >= deadline or stopping else len(batch) - len(batch) % flush_at
                    for i in range(0, cut, flush_at):
                        if not hand_over(self.validate_batch(batch[i : min(cut, i + flush_at)])):
                            return  # the storer gave up (stopping with nowhere to put a batch): leave the rest unacked
                    batch = batch[cut:]
                    deadline = now + opts.batch_interval_s
                    continue
                if stopping and not self._inbox:
                    return
                if not self._inbox:
                    self._inbox_ready.clear()
                    if not self._inbox:
                        self._inbox_ready.wait(max(0.001, deadline - now) if batch else 0.5)
                if now - last_report > 60:
                    last_report = now
                    gaps = self.validator.seqs.gaps()
                    log.info(
                        "ingest counts: %s; seq gaps: %d in %d agents",
                        dict(self.validator.counts),
                        sum(gaps.values()),
                        len(gaps),
                    )
        finally:
            hand_over(None)
            storer.join()

    def _storer(
        self, prepared: queue.Queue[Prepared | None], stop: threading.Event, storer_stop: threading.Event
    ) -> None:
        """Store batches in the order they were validated, so acks and spill records keep arrival order."""
        try:
            while (prep := prepared.get()) is not None:
                self.store_batch(prep, stop)
        except _Stopping:
            pass
        except Exception:
            log.exception("ingest store thread failed; stopping without acknowledging the batches in hand")
        finally:
            storer_stop.set()

    def _replayer(self, stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                record = self.spill.peek()
            except OSError as err:
                log.error("cannot read the spill: %s", err)
                stop.wait(5)
                continue
            if record is None:
                self._replay_wake.wait(1.0)
                self._replay_wake.clear()
                continue
            try:
                refused = self._write(record.lines)
            except WriteError as err:
                log.info("spill replay waiting for InfluxDB (%d events spilled): %s", self.spill.events, err)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            if refused:
                self._store_dead_letters(
                    [
                        (
                            "(spill replay)",
                            r.encode(),
                            Rejected(DeadLetterReason.DB_REFUSED, "InfluxDB refused the point"),
                        )
                        for r in refused
                    ]
                )
                self.metrics.invalid.labels(DeadLetterReason.DB_REFUSED).inc(len(refused))
            self.spill.commit(record)
            self._update_spill_gauges()
            if self.spill.empty():
                log.info("spill drained: InfluxDB is taking writes again")

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set, then finish the batches in hand and disconnect."""
        opts = self.settings.ingest
        if opts.metrics_port is not None:
            self.metrics_port = self.metrics.serve(opts.metrics_host, opts.metrics_port)
        self._refresh_homes()
        self.dead.load()
        if not self.spill.empty():
            log.info("spill holds %d events from before: replaying them first", self.spill.events)
        try:
            self._get_writer()
        except WriteError as err:
            log.warning("InfluxDB not reachable at start (%s): events go to the spill until it is", err)
        worker_stop, replay_stop = threading.Event(), threading.Event()
        worker = threading.Thread(target=self._worker, args=(worker_stop,), name="ingest-validate", daemon=True)
        replayer = threading.Thread(target=self._replayer, args=(replay_stop,), name="ingest-replay", daemon=True)
        worker.start()
        replayer.start()
        self.link.start()
        log.info("ingest running: %s -> %s", ", ".join(self._filters()), self.settings.influx.url)
        try:
            stop.wait()
        finally:
            worker_stop.set()
            self._inbox_ready.set()
            worker.join(timeout=30)
            replay_stop.set()
            self._replay_wake.set()
            replayer.join(timeout=30)
            self.link.stop()
            if self.bridge is not None:
                self.bridge.close()
            self.spill.close()
            self.metrics.shutdown()
            if self._writer:
                self._writer.close()


def run_service(settings: IngestSettings, stop: threading.Event) -> None:
    """Entry point of `anxin ingest`."""
    IngestService(settings).run(stop)
