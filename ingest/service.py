"""The ingest service: MQTT QoS 1 in, InfluxDB out, acknowledged only once stored."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import DeadLetter, Home
from anxin.mqtt import connect_and_wait, make_client
from contracts.topics import TopicKind, home_filter
from ingest.config import IngestSettings
from ingest.pipeline import Rejected, Validator
from ingest.writer import LineWriter, WriteError, make_writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Msg:
    mid: int
    qos: int
    topic: str
    payload: bytes


class _Stopping(Exception):
    """Raised inside the writer loop when the service stops before a batch could be stored."""


class IngestService:
    """Subscribes, validates, batches, writes and only then acknowledges."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        opts = settings.ingest
        self.validator = Validator(max_future=timedelta(seconds=opts.max_future_s))
        self.validator.seqs.window = opts.dedupe_window
        self._inbox: queue.Queue[_Msg] = queue.Queue()
        self._engine = make_engine(settings.database.url) if opts.check_homes else None
        self._sessions = session_factory(self._engine) if self._engine else None
        self._homes_loaded_at = 0.0
        self._writer: LineWriter | None = None
        self._client = make_client(settings.mqtt, opts.client_id, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.stored = 0

    def _filters(self) -> list[str]:
        group = self.settings.ingest.shared_group
        tops = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
        return [f"$share/{group}/{t}" for t in tops] if group else tops

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused ingest: %s", reason)
            return
        client.subscribe([(t, 1) for t in self._filters()])
        log.info("ingest connected (session present: %s)", getattr(flags, "session_present", "?"))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Msg(msg.mid, msg.qos, msg.topic, bytes(msg.payload)))

    def _refresh_homes(self) -> None:
        if self._sessions is None or time.monotonic() - self._homes_loaded_at < self.settings.ingest.homes_refresh_s:
            return
        try:
            with self._sessions() as s:
                self.validator.known_homes = frozenset(s.scalars(select(Home.id)))
            self._homes_loaded_at = time.monotonic()
        except Exception as err:  # keep the last known list; a DB blip must not stop ingest
            log.warning("could not refresh the home registry: %s", err)

    def _store_dead_letters(self, dead: list[tuple[_Msg, Rejected]]) -> None:
        now = datetime.now(UTC)
        for msg, rej in dead:
            log.warning("rejected message on %s: %s (%s)", msg.topic[:120], rej.reason, rej.detail[:200])
        rows = [
            DeadLetter(
                received_at=now,
                topic=msg.topic[:256],
                reason=rej.reason,
                detail=rej.detail[:2000],
                payload=msg.payload[:65536],
            )
            for msg, rej in dead
        ]
        try:
            assert self._sessions is not None
            with self._sessions() as s, s.begin():
                s.add_all(rows)
        except Exception as err:
            # The database is down or not configured: keep them on disk instead, never drop them.
            path = self.settings.state_dir / "dead-letters.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                for msg, rej in dead:
                    fh.write(
                        json.dumps(
                            {
                                "at": now.isoformat(),
                                "topic": msg.topic,
                                "reason": rej.reason,
                                "detail": rej.detail,
                                "payload": msg.payload.decode(errors="replace"),
                            }
                        )
                        + "\n"
                    )
            log.warning("dead letters kept in %s (database: %s)", path, err)

    def _write(self, lines: list[str], stop: threading.Event) -> list[str]:
        """Write until stored; returns lines the server refused permanently (kept as dead letters)."""
        delay = 0.5
        while True:
            try:
                if self._writer is None:
                    self._writer = make_writer(self.settings.influx)
                self._writer.write(lines)
                return []
            except WriteError as err:
                if not err.retryable:
                    if len(lines) == 1:
                        log.error("InfluxDB refused a point: %s", err)
                        return lines
                    # Find the bad point(s) by halving; the rest is stored.
                    mid = len(lines) // 2
                    return self._write(lines[:mid], stop) + self._write(lines[mid:], stop)
                log.warning("InfluxDB write failed, retrying in %.1fs: %s", delay, err)
                if stop.wait(delay):
                    # Shutting down: leave the batch unacknowledged, the broker redelivers it next start.
                    raise _Stopping from err
                delay = min(delay * 2, 10.0)

    def process_batch(self, batch: list[_Msg], stop: threading.Event) -> None:
        """Validate, store and acknowledge one batch."""
        self._refresh_homes()
        now = datetime.now(UTC)
        lines: list[str] = []
        source: dict[str, _Msg] = {}
        dead: list[tuple[_Msg, Rejected]] = []
        for m in batch:
            out = self.validator.handle(m.topic, m.payload, now)
            if isinstance(out, str):
                lines.append(out)
                source[out] = m
            elif isinstance(out, Rejected):
                dead.append((m, out))
        if lines:
            refused = self._write(lines, stop)
            self.stored += len(lines) - len(refused)
            self.validator.counts["stored"] += len(lines) - len(refused)
            dead += [(source[r], Rejected("db_refused", "InfluxDB refused the point")) for r in refused]
        if dead:
            self._store_dead_letters(dead)
        for m in batch:
            if m.qos:
                self._client.ack(m.mid, m.qos)

    def _worker(self, stop: threading.Event) -> None:
        opts = self.settings.ingest
        last_report = time.monotonic()
        while not (stop.is_set() and self._inbox.empty()):
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + opts.batch_interval_s
            while len(batch) < opts.batch_size:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(
                        self._inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self._inbox.get_nowait()
                    )
                except queue.Empty:
                    break
            try:
                self.process_batch(batch, stop)
            except _Stopping:
                return
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                log.info(
                    "ingest counts: %s; seq gaps: %d",
                    dict(self.validator.counts),
                    sum(self.validator.seqs.gaps().values()),
                )

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set, then finish the batch in hand and disconnect."""
        self._refresh_homes()
        opts = self.settings.ingest
        connect_and_wait(self._client, self.settings.mqtt, clean_start=False, session_expiry_s=opts.session_expiry_s)
        worker_stop = threading.Event()
        worker = threading.Thread(target=self._worker, args=(worker_stop,), name="ingest-writer", daemon=True)
        worker.start()
        log.info("ingest running: %s -> %s", ", ".join(self._filters()), self.settings.influx.url)
        try:
            stop.wait()
        finally:
            worker_stop.set()
            worker.join(timeout=30)
            self._client.disconnect()
            self._client.loop_stop()
            if self._writer:
                self._writer.close()


def run_service(settings: IngestSettings, stop: threading.Event) -> None:
    """Entry point of `anxin ingest`."""
    IngestService(settings).run(stop)
