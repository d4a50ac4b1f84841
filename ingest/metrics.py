"""Prometheus metrics of the ingest service, on their own registry so several services can share a process."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_NS = "anxin_ingest"
# Seconds: batches are formed within batch_interval_s, writes take milliseconds; replays of old events take days.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 3600, 86400)


class _GapCollector(Collector):
    """Seq gaps: the total, and per agent for the agents with the most (bounded label cardinality)."""

    def __init__(self, source: Callable[[], dict[tuple[str, str], int]], top: int = 20) -> None:
        self._source = source
        self._top = top

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gaps = self._source()
        yield GaugeMetricFamily(
            f"{_NS}_seq_gaps", "Missing seq numbers (events lost upstream), all agents", sum(gaps.values())
        )
        yield GaugeMetricFamily(f"{_NS}_seq_gap_agents", "Agents with at least one missing seq number", len(gaps))
        worst = GaugeMetricFamily(
            f"{_NS}_seq_gaps_by_agent",
            f"Missing seq numbers of the {self._top} agents missing most",
            labels=["home", "agent"],
        )
        for (home, agent), n in sorted(gaps.items(), key=lambda kv: -kv[1])[: self._top]:
            worst.add_metric([home, agent], n)
        yield worst


class IngestMetrics:
    """Every metric ingest exports."""

    def __init__(self, gaps: Callable[[], dict[tuple[str, str], int]]) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter(f"{_NS}_received", "Messages received from the broker", registry=r)
        self.stored = Counter(f"{_NS}_stored", "Points written to InfluxDB (directly or from the spill)", registry=r)
        self.spilled = Counter(
            f"{_NS}_spilled", "Points appended to the spill while InfluxDB was unreachable", registry=r
        )
        self.duplicates = Counter(f"{_NS}_duplicates", "Events dropped as duplicates of (home, agent, seq)", registry=r)
        self.invalid = Counter(
            f"{_NS}_invalid", "Messages rejected, by reason (kept as dead letters)", ["reason"], registry=r
        )
        self.acked = Counter(f"{_NS}_acked", "Messages acknowledged to the broker", registry=r)
        self.dead_kept = Counter(
            f"{_NS}_dead_letters_kept", "Rejected messages kept as a dead-letter row (a sample)", registry=r
        )
        self.dead_unsampled = Counter(
            f"{_NS}_dead_letters_unsampled",
            "Rejected messages counted but not kept as a row, by why (sample_full, rate_limited, repeat, pruned, ...)",
            ["why"],
            registry=r,
        )
        self.dead_rows = Gauge(f"{_NS}_dead_letter_rows", "Rows in the dead_letters table (bounded)", registry=r)
        self.seq_resets = Counter(
            f"{_NS}_seq_resets", "Agents whose seq restarted: new queue epoch, or seq far back", ["kind"], registry=r
        )
        self.spill_events = Gauge(f"{_NS}_spill_events", "Events in the spill waiting for replay", registry=r)
        self.spill_bytes = Gauge(f"{_NS}_spill_bytes", "Bytes of the spill not yet replayed", registry=r)
        self.spill_limit = Gauge(f"{_NS}_spill_limit_bytes", "The spill's size bound", registry=r)
        self.spill_alarm = Gauge(f"{_NS}_spill_alarm", "1 when the spill is past its alarm level", registry=r)
        self.write_latency = Histogram(
            f"{_NS}_write_latency_seconds",
            "Time of one successful InfluxDB write",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.write_errors = Counter(f"{_NS}_write_errors", "Failed InfluxDB writes", ["retryable"], registry=r)
        self.batch_size = Histogram(
            f"{_NS}_batch_size",
            "Messages per batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000),
            registry=r,
        )
        self.event_lag = Histogram(
            f"{_NS}_event_lag_seconds", "From the event's ts to its point being stored", buckets=LAG_BUCKETS, registry=r
        )
        self.mqtt_up = Gauge(f"{_NS}_mqtt_connected", "1 while connected to the broker", registry=r)
        self.session_takeovers = Counter(
            f"{_NS}_session_takeovers", "Times another connection took ingest's client id and session", registry=r
        )
        self.influx_up = Gauge(f"{_NS}_influx_up", "1 while the last InfluxDB write succeeded", registry=r)
        # Since start until the first batch: a stuck ingest shows a growing age, not a missing series.
        self._processed_at = time.monotonic()
        self.last_processed_age = Gauge(
            f"{_NS}_last_processed_age_seconds", "Seconds since a batch was last stored and acknowledged", registry=r
        )
        self.last_processed_age.set_function(lambda: time.monotonic() - self._processed_at)
        r.register(_GapCollector(gaps))

    def processed(self) -> None:
        """A batch was stored (or spilled) and acknowledged just now."""
        self._processed_at = time.monotonic()

    def serve(self, host: str, port: int) -> int | None:
        """Expose /metrics; returns the port, or None when it cannot listen (logged, ingest keeps running)."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as err:
            log.error("metrics endpoint on %s:%d unavailable: %s (ingest continues without it)", host, port, err)
            return None
        bound = int(server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, bound)
        self._server = server
        return bound

    def shutdown(self) -> None:
        """Stop the endpoint."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
