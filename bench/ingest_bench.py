"""`anxin bench ingest`: end-to-end ingest throughput against `mosquitto_sub` on the same broker, in one run.

Over 400 lines: the baseline, the measured run and the servers they share are set up together so that both are
measured on the same broker in the same run; its helpers (ingest_env, FastPublisher) are shared with the tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script (`python bench/NAME.py`), the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anxin.broker import new_password, write_broker_files
from anxin.influxql import InfluxQL
from contracts.topics import ROOT
from contracts.vocabulary import Measurement
from ingest.mqttlink import _U16, _packet, _utf8, connect_packet, parse_packets
from shell.servers import InfluxD, ManagedProcess, find_binary, free_port, port_open

EVENTS_FILTER = f"{ROOT}/homes/+/events"


class FastPublisher:
    """A raw-socket MQTT 5 QoS 1 publisher: one write per many PUBLISHes, PUBACKs counted on a reader thread."""

    def __init__(
        self, host: str, port: int, username: str, password: str, window: int = 1000, connect_timeout: float = 10.0
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(
            connect_packet(f"bench-pub-{os.getpid()}-{time.monotonic_ns()}", username, password, 60, 0, 65535)
        )
        buf = bytearray()
        while True:
            buf += self.sock.recv(65536)
            others = parse_packets(buf, 0, [])
            if others:
                if others[0][0] != 0x20 or others[0][1][1] != 0:
                    raise RuntimeError(f"broker refused the bench publisher: {others[0]!r}")
                break
        # The timeout was for connecting: the reader must wait for acks however long the broker is quiet (a
        # timeout in recv ended the reader, and every later ack went uncounted: a cluster test waited on them).
        self.sock.settimeout(None)
        self.window = window  # Mosquitto's max_inflight_messages applies to what we send too
        self.sent = 0
        self.acked = 0
        self._cond = threading.Condition()
        self._pid = 0
        self._reader = threading.Thread(target=self._read, args=(buf,), daemon=True)
        self._reader.start()

    def _read(self, buf: bytearray) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            buf += data
            acks = sum(1 for first, _b in parse_packets(buf, 0, []) if first == 0x40)
            if acks:
                with self._cond:
                    self.acked += acks
                    self._cond.notify_all()

    def publish_many(self, items: list[tuple[str, bytes]], chunk: int = 250) -> None:
        """Publish at QoS 1, never more than `window` unacknowledged."""
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            with self._cond:
                while self.sent + len(part) - self.acked > self.window:
                    self._cond.wait(5)
            out = []
            for topic, payload in part:
                self._pid = self._pid % 65535 + 1
                out.append(_packet(0x32, _utf8(topic) + _U16.pack(self._pid) + b"\x00" + payload))
            self.sent += len(part)
            self.sock.sendall(b"".join(out))

    def wait_acked(self, timeout: float = 120) -> None:
        """Wait until every PUBLISH is acknowledged by the broker."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.acked < self.sent:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"broker acknowledged {self.acked} of {self.sent} publishes")

    def close(self) -> None:
        """Disconnect."""
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


def home_ids(n: int) -> list[str]:
    """Opaque ids of simulated homes."""
    return [f"h-bench{i:06d}" for i in range(n)]


def make_events(
    homes: list[str], per_home: int, first_seq: int = 1, ts: datetime | None = None
) -> list[tuple[str, bytes]]:
    """Round-robin events from every home: (topic, payload), seq first_seq.. per home, ts one ms apart."""
    base = ts or datetime.now(UTC)
    base_us = int(base.timestamp()) * 1_000_000 + base.microsecond
    out = []
    for k in range(per_home):
        seq = first_seq + k
        stamp = datetime.fromtimestamp((base_us + k * 1000) / 1e6, UTC).isoformat()
        for h in homes:
            out.append(
                (
                    f"{ROOT}/homes/{h}/events",
                    (
                        f'{{"v":1,"home":"{h}","agent":"pi-1","seq":{seq},"ts":"{stamp}","sensor":"pir_living",'
                        f'"kind":"motion","value":{seq & 1},"battery":87,"room":"living"}}'
                    ).encode(),
                )
            )
    return out


def start_bench_broker(state: Path) -> tuple[ManagedProcess, int, dict[str, str]]:
    """Mosquitto with the project's generated config plus one `bench` account that may publish for every home."""
    port = free_port()
    users = {"ingest": new_password(), "bench": new_password()}
    conf = write_broker_files(state, port, users, extra_acl={"bench": [f"topic write {ROOT}/homes/#"]})
    proc = ManagedProcess(
        "mosquitto", [find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)], state / "mq.out"
    )
    proc.start(lambda: port_open(port))
    return proc, port, users


def ingest_env(
    mqtt_port: int, password: str, influx_url: str, state: Path, metrics_port: int, **ingest: Any
) -> dict[str, str]:
    """Environment for `python -m anxin ingest` against the given servers, with a migrated SQL database in `state`."""
    from anxin.db.engine import upgrade

    db_url = f"sqlite:///{state / 'anxin.db'}"
    state.mkdir(parents=True, exist_ok=True)
    upgrade(db_url)  # ingest refuses to start on a database without Anxin's tables (it would reject every home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        {
            "ANXIN_DATABASE__URL": db_url,
            "ANXIN_MQTT__PORT": str(mqtt_port),
            "ANXIN_MQTT__USERNAME": "ingest",
            "ANXIN_MQTT__PASSWORD": password,
            "ANXIN_MQTT__KEEPALIVE_S": "120",
            "ANXIN_INFLUX__URL": influx_url,
            "ANXIN_STATE_DIR": str(state),
            "ANXIN_INGEST__METRICS_PORT": str(metrics_port),
            "ANXIN_LOG_LEVEL": "WARNING",
        }
    )
    for k, v in ingest.items():
        env[f"ANXIN_INGEST__{k.upper()}"] = str(v)
    return env


def scrape(port: int) -> dict[str, float]:
    """Samples of the ingest metrics endpoint, by name with labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def try_scrape(port: int) -> dict[str, float]:
    """Like scrape, but empty while the endpoint is not up."""
    try:
        return scrape(port)
    except OSError:
        return {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus-style quantile from cumulative (upper bound, count) buckets, linear within a bucket."""
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_count) / max(count - prev_count, 1e-9))
        prev_le, prev_count = le, count
    return prev_le


def lag_buckets(samples: dict[str, float]) -> list[tuple[float, float]]:
    """The event-lag histogram's cumulative buckets from a scrape."""
    out = []
    for name, v in samples.items():
        m = re.match(r'anxin_ingest_event_lag_seconds_bucket\{le="([^"]+)"\}', name)
        if m:
            out.append((float(m.group(1)), v))
    return sorted(out)


@dataclass
class BenchResult:
    """What one run measured."""

    events: int
    homes: int
    baseline_per_s: float
    baseline_cpu_s: float
    ingest_per_s: float
    ingest_cpu_s: float
    latency_events: int
    latency_rate: float
    p50_ms: float
    p99_ms: float
    stored_points: int
    exactly_once: bool
    problems: list[str]

    @property
    def ratio(self) -> float:
        """Ingest throughput over the plain subscriber's."""
        return self.ingest_per_s / self.baseline_per_s

    def report(self) -> str:
        """Human-readable summary."""
        per100k = 100_000 / self.events
        lines = [
            f"ingest benchmark: {self.events} events from {self.homes} homes, QoS 1, one broker, one InfluxDB 1.6",
            f"  mosquitto_sub (QoS 1) baseline : {self.baseline_per_s:10.0f} events/s, "
            f"{self.baseline_cpu_s * per100k:.2f} CPU s per 100k",
            f"  anxin ingest, stored end to end: {self.ingest_per_s:10.0f} events/s, "
            f"{self.ingest_cpu_s * per100k:.2f} CPU s per 100k",
            f"  ratio ingest / mosquitto_sub   : {self.ratio:.2f}  (target >= 0.5)",
            f"  publish -> stored latency      : p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms "
            f"({self.latency_events} events paced at {self.latency_rate:.0f}/s; from the lag histogram)",
            f"  exactly once in InfluxDB       : {'yes' if self.exactly_once else 'NO'} "
            f"({self.stored_points} points for {self.events + self.latency_events} events)",
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def run_bench(
    events: int = 200_000, homes: int = 1000, latency_rate: float = 5000, latency_s: float = 4.0
) -> BenchResult:
    """Start Mosquitto and InfluxDB, measure mosquitto_sub and ingest on the same queued events, check the counts."""
    per_home = max(1, events // homes)
    events = per_home * homes
    ids = home_ids(homes)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="anxin-bench-ingest-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "mq").mkdir()
        broker, port, users = start_bench_broker(tmp / "mq")
        influx = InfluxD(tmp / "influx", free_port()).start()
        ingest_proc: subprocess.Popen[bytes] | None = None
        try:
            sub_base = [
                find_binary("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "-u", "ingest", "-P", users["ingest"],
                "-q", "1", "-t", EVENTS_FILTER, "-V", "mqttv5", "-c", "-x", "3600", "-i", "bench-baseline",
            ]  # fmt: skip
            subprocess.run([*sub_base, "-E"], check=True, timeout=30)  # its persistent session, queued from now on
            metrics_port = free_port()
            env = ingest_env(port, users["ingest"], influx.url, tmp / "ingest", metrics_port, check_homes="false")
            log = open(tmp / "ingest.log", "wb")  # noqa: SIM115 - lives as long as the process
            ingest_proc = subprocess.Popen([sys.executable, "-m", "anxin", "ingest"], env=env, stdout=log, stderr=log)
            deadline = time.monotonic() + 60
            while try_scrape(metrics_port).get("anxin_ingest_mqtt_connected") != 1.0:
                if ingest_proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest did not start; see {tmp / 'ingest.log'}")
                time.sleep(0.1)
            # Both consumers hold a session with the same events queued: the baseline offline, ingest stopped.
            ingest_proc.send_signal(signal.SIGSTOP)
            items = make_events(ids, per_home)
            pub = FastPublisher("127.0.0.1", port, "bench", users["bench"])
            t0 = time.perf_counter()
            pub.publish_many(items)
            pub.wait_acked()
            publish_rate = events / (time.perf_counter() - t0)
            print(f"published {events} events at {publish_rate:.0f}/s", file=sys.stderr)
            del items

            t0 = time.perf_counter()
            base = subprocess.Popen([*sub_base, "-C", str(events)], stdout=subprocess.DEVNULL)
            _pid, status, usage = os.wait4(base.pid, 0)
            baseline_s = time.perf_counter() - t0
            base.returncode = os.waitstatus_to_exitcode(status)
            baseline_cpu = usage.ru_utime + usage.ru_stime

            cpu0 = cpu_seconds(ingest_proc.pid)
            t0 = time.perf_counter()
            ingest_proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 600
            while try_scrape(metrics_port).get("anxin_ingest_stored_total", 0) < events:
                if ingest_proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest stopped storing; see {tmp / 'ingest.log'}")
                time.sleep(0.02)
            ingest_s = time.perf_counter() - t0
            ingest_cpu = cpu_seconds(ingest_proc.pid) - cpu0

            # Latency: paced live traffic, ts = publish time, lag histogram difference over the phase.
            before = lag_buckets(scrape(metrics_port))
            n_lat = int(latency_rate * latency_s) // homes * homes or homes
            per_tick = max(1, int(latency_rate / 100))
            sent = 0
            seq = per_home + 1
            t_start = time.perf_counter()
            while sent < n_lat:
                batch = []
                for _ in range(per_tick):
                    h = ids[sent % homes]
                    batch.append(make_events([h], 1, first_seq=seq + sent // homes)[0])
                    sent += 1
                    if sent >= n_lat:
                        break
                pub.publish_many(batch)
                ahead = t_start + sent / latency_rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            pub.wait_acked()
            pub.close()
            total = events + n_lat
            deadline = time.monotonic() + 60
            while scrape(metrics_port).get("anxin_ingest_stored_total", 0) < total and time.monotonic() < deadline:
                time.sleep(0.05)
            after_samples = scrape(metrics_port)
            after = lag_buckets(after_samples)
            delta = [(le, a - b) for (le, a), (_le, b) in zip(after, before, strict=True)]
            p50 = histogram_quantile(0.5, delta) * 1000
            p99 = histogram_quantile(0.99, delta) * 1000

            q = InfluxQL(influx.url, "anxin")
            stored_points = int(q.query(f"SELECT count(seq) FROM {Measurement.SENSOR_EVENT}")[0].values[0][1])
            rows = [
                r
                for s in q.query(
                    f'SELECT count(seq), min(seq), max(seq) FROM {Measurement.SENSOR_EVENT} GROUP BY "home"'
                )
                for r in s.records()
            ]
            expect_per_home = per_home + n_lat // homes
            wrong = [
                r for r in rows if not (r["count"] == expect_per_home and r["min"] == 1 and r["max"] == expect_per_home)
            ]
            exactly_once = stored_points == total and len(rows) == homes and not wrong
            if not exactly_once:
                problems.append(f"{len(wrong)} homes with missing or extra points; {stored_points} of {total} stored")
            if after_samples.get("anxin_ingest_stored_total", 0) != total:
                problems.append(
                    f"ingest wrote {after_samples.get('anxin_ingest_stored_total')} points for {total} events"
                )
            return BenchResult(
                events=events,
                homes=homes,
                baseline_per_s=events / baseline_s,
                baseline_cpu_s=baseline_cpu,
                ingest_per_s=events / ingest_s,
                ingest_cpu_s=ingest_cpu,
                latency_events=n_lat,
                latency_rate=latency_rate,
                p50_ms=p50,
                p99_ms=p99,
                stored_points=stored_points,
                exactly_once=exactly_once,
                problems=problems,
            )
        finally:
            if ingest_proc is not None and ingest_proc.poll() is None:
                ingest_proc.send_signal(signal.SIGCONT)
                ingest_proc.terminate()
                try:
                    ingest_proc.wait(20)
                except subprocess.TimeoutExpired:
                    ingest_proc.kill()
            influx.stop()
            broker.stop()


def main(events: int = 200_000, homes: int = 1000, as_json: bool = False) -> int:
    """Run the benchmark and print the report; exit status 1 when the count check fails."""
    result = run_bench(events, homes)
    if as_json:
        print(json.dumps({**result.__dict__, "ratio": result.ratio}, indent=2))
    else:
        print(result.report())
    return 0 if result.exactly_once and not result.problems else 1


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Ingest benchmark (= `anxin bench ingest`)")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--homes", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sys.exit(main(a.events, a.homes, a.json))
