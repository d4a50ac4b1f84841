"""Edge agent benchmark: steady memory and CPU per event rate, as ratios to an idle paho client in the same run.

`python bench/edge_bench.py [--seconds S] [--rates 10,100,1000] [--homes N]` (= `anxin bench edge`). Each case runs
in its own process against a private Mosquitto: the baseline is a connected paho client that publishes nothing; the
agent case is an `AgentLink` with its SQLite disk queue publishing at the given rate. A "homes" case compares N links
sharing one queue file (as the simulator runs them) with N plain paho clients.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(mode: str, rate: float, seconds: float, homes: int, port: int, state: Path) -> dict[str, float]:
    """One measured case; prints JSON."""
    from anxin.broker import agent_client_id
    from anxin.mqtt import connect_and_wait, make_client
    from anxin.procfs import rss_kib
    from anxin.settings import MqttSettings
    from edge.link import AgentLink
    from edge.queue import DiskQueue

    pw = json.loads(os.environ["EDGE_BENCH_USERS"])
    names = sorted(pw)[:homes]
    now = datetime.now().astimezone()
    clients, links = [], []
    queue = None
    if mode == "paho":
        for h in names:
            s = MqttSettings(port=port, username=h, password=pw[h])
            c = make_client(s, agent_client_id(h))
            connect_and_wait(c, s)
            clients.append(c)
    else:
        queue = DiskQueue(state / f"q-{os.getpid()}.sqlite")
        for h in names:
            link = AgentLink(
                MqttSettings(port=port, username=h, password=pw[h]),
                h,
                f"pi-{h[2:]}",
                queue,
                now,
                drain_rate=1000.0,
                max_inflight=50,
            )
            link.start()
            links.append(link)
        for link in links:
            link.connected.wait(10)
    time.sleep(1.0)  # settle, then measure the steady state
    rss0, cpu0, t0 = rss_kib() or 0, _cpu_s(), time.monotonic()
    sent = 0
    interval = 1.0 / rate if rate > 0 else None
    next_at = t0
    while time.monotonic() - t0 < seconds:
        if interval is None or mode == "paho":
            time.sleep(0.05)
            continue
        for link in links:
            link.publish_event(datetime.now().astimezone(), "pir_hall", "motion", sent % 2, room="hall")
            sent += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    drained = all(link.flush(10) for link in links)
    wall = time.monotonic() - t0
    out = {
        "rss_kb": max(rss_kib() or 0, rss0),
        "cpu_s": _cpu_s() - cpu0,
        "wall_s": wall,
        "sent": sent,
        "acked": sum(link.acked for link in links),
        "drained": drained,
    }
    for link in links:
        link.stop(datetime.now().astimezone())
    for c in clients:
        c.disconnect()
        c.loop_stop()
    if queue is not None:
        queue.close()
    print(json.dumps(out))
    return out


def _run(mode: str, rate: float, seconds: float, homes: int, port: int, state: Path, env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--homes",
        str(homes),
        "--port",
        str(port),
        "--state",
        str(state),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Start a broker, measure each case, print ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rates", default="10,100,1000")
    ap.add_argument("--homes", type=int, default=100)
    ap.add_argument("--worker")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state", default="")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.rate, a.seconds, a.homes, a.port, Path(a.state))
        return
    from anxin.broker import Credentials
    from shell.servers import Mosquitto, free_port

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        creds = Credentials.load(state / "credentials.json")
        for i in range(max(a.homes, 1)):
            creds.ensure(f"h-bench{i:05d}")
        broker = Mosquitto(state / "broker", free_port(), dict(creds.users)).start()
        env = {**os.environ, "EDGE_BENCH_USERS": json.dumps(creds.users)}
        try:
            base = _run("paho", 0, a.seconds, 1, broker.port, state, env)
            cpu_base = base["cpu_s"] / base["wall_s"]
            print(
                f"baseline: idle paho client, RSS {base['rss_kb'] / 1024:.1f} MiB, CPU {100 * cpu_base:.2f}% of a core"
            )
            print(
                f"{'events/s':>9} {'RSS MiB':>8} {'RSS x':>6} {'CPU %':>7} {'CPU x':>7} {'CPU ms/event':>12} acked/sent"
            )
            for rate in (float(r) for r in a.rates.split(",")):
                r = _run("agent", rate, a.seconds, 1, broker.port, state, env)
                cpu = r["cpu_s"] / r["wall_s"]
                print(
                    f"{rate:9.0f} {r['rss_kb'] / 1024:8.1f} {r['rss_kb'] / base['rss_kb']:6.2f} "
                    f"{100 * cpu:7.2f} {cpu / max(cpu_base, 1e-4):7.1f} "
                    f"{1000 * r['cpu_s'] / max(r['sent'], 1):12.3f} {r['acked']}/{r['sent']}"
                )
            if a.homes > 1:
                pb = _run("paho", 0, a.seconds, a.homes, broker.port, state, env)
                ag = _run("agent", 1.0, a.seconds, a.homes, broker.port, state, env)
                print(
                    f"{a.homes} homes at 1 event/s each (simulator shape, one shared queue file): "
                    f"RSS {ag['rss_kb'] / 1024:.1f} MiB = {ag['rss_kb'] / pb['rss_kb']:.2f} x {a.homes} idle paho "
                    f"clients; CPU {100 * ag['cpu_s'] / ag['wall_s']:.1f}% vs "
                    f"{100 * pb['cpu_s'] / pb['wall_s']:.1f}% of a core; acked {ag['acked']}/{ag['sent']}"
                )
        finally:
            broker.process.stop() if broker.process else None


if __name__ == "__main__":
    main()
