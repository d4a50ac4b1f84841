"""`anxin sim load` benchmark: homes held, events/s published and acknowledged, CPU and RSS per 1k homes.

`python bench/sim_load.py [--homes 10000] [--rate 2000] [--seconds 15] [--workers 2]` (= `anxin bench sim`). Starts
its own Mosquitto with the generated config (password file, ACLs, persistence), registers the homes in bulk, then
measures in the same run:

- baseline: one plain paho client (network thread, `loop_start`) publishing the same events at the same total rate,
  QoS 1, from its own process;
- load: `--homes` homes from `--workers` processes, each its own account and client id, at the same total rate,
  measured over `--seconds` once every home is connected; then again at 4x the rate to see what holds.

CPU is user + system time of the publishing processes (and of the broker, separately) over the measured window.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline_worker(port: int, user: str, password: str, rate: float, seconds: float) -> None:
    """One paho client publishing `rate` events/s at QoS 1; prints JSON with its counts, CPU and RSS."""
    from zoneinfo import ZoneInfo

    from pydantic import SecretStr

    from anxin.mqtt import connect_and_wait, make_client
    from anxin.procfs import rss_kib
    from anxin.settings import MqttSettings
    from contracts import DEFAULT_TIMEZONE, SensorEvent, dump, events_topic

    settings = MqttSettings(port=port, username=user, password=SecretStr(password))
    client = make_client(settings, f"agent-{user}")
    acked = [0]
    client.on_publish = lambda _c, _u, _m, reason, _p: acked.__setitem__(0, acked[0] + (not reason.is_failure))
    connect_and_wait(client, settings)
    tz = ZoneInfo(DEFAULT_TIMEZONE)
    topic = events_topic(user)
    time.sleep(1.0)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    sent = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        due = int((now - t0) * rate)
        while sent < due:
            sent += 1
            event = SensorEvent(home=user, agent="pi-base", seq=sent, ts=datetime.now(tz), sensor="pir_kitchen",
                                kind="motion", value=sent % 2, room="kitchen")  # fmt: skip
            client.publish(topic, dump(event), qos=1)
        time.sleep(0.002)
    wall = time.monotonic() - t0
    acked_in_window = acked[0]
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    deadline = time.monotonic() + 10
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    print(json.dumps({"sent": sent, "acked": acked[0], "acked_in_window": acked_in_window, "cpu_s": cpu,
                      "wall_s": wall, "rss_kb": rss_kib() or 0}))  # fmt: skip


def run_baseline(port: int, user: str, password: str, rate: float, seconds: float, broker_pid: int) -> dict[str, Any]:
    """The baseline in its own process, with the broker's CPU over the same time."""
    b0, t0 = _proc_cpu_s(broker_pid), time.monotonic()
    cmd = [sys.executable, __file__, "--baseline", str(port), user, password, str(rate), str(seconds)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    out["broker_cpu_s"] = _proc_cpu_s(broker_pid) - b0  # over the whole process: connect, settle, publish, drain
    out["broker_wall_s"] = time.monotonic() - t0
    return out


def run_load_case(
    settings: Any, homes: list[Any], rate: float, seconds: float, workers: int, broker_pid: int
) -> dict[str, Any]:
    """Connect every home, measure `seconds` of steady publishing, stop; returns the window's numbers."""
    from firmware_sim.load import LoadOptions, LoadStats, run_load

    from anxin.procfs import rss_kib

    stop = threading.Event()
    marks: dict[str, tuple[LoadStats, float, int]] = {}

    def on_stats(s: LoadStats) -> None:
        if s.all_connected_s is None or stop.is_set():
            return
        settled = s.published - s.acked < max(100.0, 0.2 * rate)  # no backlog left from the connect phase
        if "start" not in marks and s.seconds >= s.all_connected_s + 2.0 and settled:
            marks["start"] = (s, _proc_cpu_s(broker_pid), rss_kib(broker_pid) or 0)
        elif "start" in marks and s.seconds - marks["start"][0].seconds >= seconds:
            marks["end"] = (s, _proc_cpu_s(broker_pid), rss_kib(broker_pid) or 0)
            stop.set()

    result = run_load(settings, homes, LoadOptions(rate=rate), workers=workers, stop=stop, on_stats=on_stats)
    s = result.stats
    out: dict[str, Any] = {"homes": s.homes, "ever_connected": s.ever_connected, "all_connected_s": s.all_connected_s,
                           "published": s.published, "acked": s.acked, "rejected": s.rejected}  # fmt: skip
    if "end" in marks:
        (a, ca, _), (b, cb, rss_b) = marks["start"], marks["end"]
        wall = b.seconds - a.seconds
        out.update(
            wall_s=wall,
            pub_per_s=(b.published - a.published) / wall,
            ack_per_s=(b.acked - a.acked) / wall,
            cpu_s=b.cpu_s - a.cpu_s,
            rss_kb=b.rss_kb,
            broker_cpu_s=cb - ca,
            broker_rss_kb=rss_b,
        )
    return out


def main() -> None:
    """Start a broker, register the homes, measure baseline and load, print ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--homes", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", nargs=5)
    a = ap.parse_args()
    if a.baseline:
        port, user, password, rate, seconds = a.baseline
        baseline_worker(int(port), user, password, float(rate), float(seconds))
        return
    from firmware_sim.load import register_load_homes

    from anxin.broker import SERVICE_ACL, Credentials
    from anxin.settings import MqttSettings
    from shell.servers import Mosquitto, free_port

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        creds = Credentials.load(state / "credentials.json")
        for user in SERVICE_ACL:
            creds.ensure(user)
        base_user = "h-base00000001"
        creds.ensure(base_user)
        broker = Mosquitto(state / "broker", free_port(), dict(creds.users)).start()
        assert broker.process is not None and broker.process.proc is not None
        pid = broker.process.proc.pid
        try:
            t0 = time.perf_counter()
            homes = register_load_homes(creds, state / "load-homes.json", a.homes, broker_state=state / "broker",
                                        db_url=f"sqlite:///{state / 'anxin.db'}")  # fmt: skip
            reg = time.perf_counter() - t0
            time.sleep(1.0)  # SIGHUP reload is asynchronous
            print(f"sim load: Mosquitto {broker.port}, {a.homes} homes registered in {reg:.2f} s "
                  f"(accounts, PBKDF2 password file, one SIGHUP, one SQL insert)")  # fmt: skip
            settings = MqttSettings(port=broker.port)
            rows = []
            for rate in (a.rate, 4 * a.rate):
                base = run_baseline(broker.port, base_user, creds.users[base_user], rate, a.seconds, pid)
                load = run_load_case(settings, homes, rate, a.seconds, a.workers, pid)
                rows.append((rate, base, load))
        finally:
            broker.stop()
    k = a.homes / 1000
    for rate, base, load in rows:
        b_ack = base["acked_in_window"] / base["wall_s"]
        b_us = 1e6 * base["cpu_s"] / max(base["sent"], 1)
        print(f"\noffered {rate:.0f} events/s (QoS 1)")
        print(f"  baseline, 1 paho client:   acked {b_ack:8.0f}/s  CPU {100 * base['cpu_s'] / base['wall_s']:5.1f}% "
              f"of a core = {b_us:5.1f} us/event  RSS {base['rss_kb'] / 1024:6.1f} MiB")  # fmt: skip
        if "wall_s" not in load:
            print(f"  load: no steady window ({load['ever_connected']}/{load['homes']} homes connected)")
            continue
        l_us = 1e6 * load["cpu_s"] / max(load["pub_per_s"] * load["wall_s"], 1)
        print(f"  load, {load['homes']} homes / {a.workers} processes: connected {load['ever_connected']} "
              f"(all in {load['all_connected_s']:.1f} s)")  # fmt: skip
        print(f"    published {load['pub_per_s']:8.0f}/s  acked {load['ack_per_s']:8.0f}/s "
              f"({load['ack_per_s'] / max(b_ack, 1):.2f} x baseline)")  # fmt: skip
        cpu = 100 * load["cpu_s"] / load["wall_s"]
        print(f"    CPU {cpu:5.1f}% of a core = {l_us:5.1f} us/event ({l_us / max(b_us, 1e-9):.1f} x baseline), "
              f"{cpu / k:.2f}% of a core per 1k homes")  # fmt: skip
        print(f"    RSS {load['rss_kb'] / 1024:.0f} MiB = {load['rss_kb'] / 1024 / k:.1f} MiB per 1k homes "
              f"({load['rss_kb'] / base['rss_kb']:.1f} x the single client's process)")  # fmt: skip
        b_cpu = 100 * base["broker_cpu_s"] / base["broker_wall_s"]
        brss = load["broker_rss_kb"] / 1024
        print(f"    broker: CPU {100 * load['broker_cpu_s'] / load['wall_s']:5.1f}% of a core (baseline {b_cpu:.1f}%), "
              f"RSS {brss:.0f} MiB = {brss / k:.1f} MiB per 1k homes")  # fmt: skip


if __name__ == "__main__":
    main()
