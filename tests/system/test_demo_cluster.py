"""`anxin demo --cluster` as a user runs it: events of both Mosquitto shards stored, a panic paged once, clean stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.homes import SimHomes

from anxin.influxql import InfluxQL
from shell.postgres import server_folder
from shell.twilio_standin import TwilioStandin
from tests.support.demo_env import demo_env
from tests.support.waiting import wait_for

# Every wait below is bounded (about 460 s in all): they, not pytest-timeout, should end a slow run, with the logs.
pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` now (children of children too), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _api(config: dict[str, Any], state: Path, path: str) -> Any:
    token = json.loads((state / "console-admin.json").read_text())["token"]
    url = f"http://127.0.0.1:{config['console']['port']}{path}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _log_tails(state: Path, lines: int = 12) -> str:
    """The last lines of every service's log: what a failure in CI needs to be understood."""
    tails = []
    for f in sorted((state / "logs").glob("*.log")):
        tails.append(f"== {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(tails)


def test_cluster_demo_stores_both_shards_pages_a_panic_once_and_stops_cleanly(tmp_path: Path) -> None:
    t0 = time.monotonic()
    state = tmp_path / "state"
    state.mkdir()
    twilio = TwilioStandin.start()
    env = demo_env(state, twilio)
    log = tmp_path / "demo.out"
    with open(log, "wb") as out:
        cmd = [sys.executable, "-m", "anxin", "demo", "--cluster", "--homes", "4", "--console-port", "0"]
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Console: http" in log.read_text() or proc.poll() is not None, timeout=90, what="the console")
        assert proc.poll() is None, log.read_text()
        config = tomllib.loads((state / "anxin.toml").read_text())
        assert config["bus"] == "nats" and len(config["nats"]["servers"]) == 3
        shard_b = tomllib.loads((state / "shard-b.toml").read_text())
        assert shard_b["mqtt"]["port"] != config["mqtt"]["port"]
        homes = {s: SimHomes.load(state / "sim" / f"homes-{s}.json").homes for s in ("a", "b")}
        assert homes["a"] and homes["b"], "the homes are split over both shards"
        children = _descendants(proc.pid)
        argvs = [Path(f"/proc/{p}/cmdline").read_text().split("\0") for p in children if _alive(p)]
        binaries = [Path(a[0]).name for a in argvs]
        assert binaries.count("nats-server") == 3 and binaries.count("mosquitto") == 2 and "postgres" in binaries
        services = [a[3] for a in argvs if a[1:3] == ["-m", "anxin"]]
        assert services.count("anomaly") == 2 and services.count("ingest") == 2 and services.count("alerts") == 1

        # Events of every home of both shards stored (each shard's ingest bridges to JetStream after InfluxDB).
        q = InfluxQL(config["influx"]["url"], "anxin")
        every = {h.home for hs in homes.values() for h in hs}
        wait_for(
            lambda: {s.tags["home"] for s in q.query('SELECT count("seq") FROM sensor_event GROUP BY "home"')} >= every,
            timeout=60,
            what="events of every home of both shards",
        )

        # A panic pressed on the second shard: through its ingest, JetStream, a worker, the relay, alerts, an SMS.
        target = homes["b"][0]
        pressed = subprocess.run(
            [sys.executable, "-m", "anxin", "sim", "press", target.label, "-c", str(state / "shard-b.toml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pressed.returncode == 0, pressed.stderr

        def panic_alerts() -> list[dict[str, Any]]:
            found = _api(config, state, "/api/alerts")["alerts"]
            return [a for a in found if a["home_id"] == target.home and a["kind"] == "panic"]

        # The press waits behind the replayed history twice: the simulator plays its 8 days before it reads presses,
        # and the press's partition holds those days ahead of it for a worker. On this 2-core machine press to alert
        # took 14-36 s (7 runs, 2 of them with the CPU kept busy); CI once waited 45 s in vain, with no logs to say
        # why (a failure now prints them). What this test asserts is one alert and one page, not the latency.
        pressed_at = time.monotonic()
        (alert,) = wait_for(panic_alerts, timeout=150, what="the panic's alert")
        print(f"cluster demo: panic press to alert {time.monotonic() - pressed_at:.0f}s (behind the replayed history)")
        assert twilio.wait_for(lambda reqs: any(alert["code"] in (r.body or "") for r in reqs), timeout=30)
        time.sleep(2)  # a second page of the same press would be here by now
        assert len(panic_alerts()) == 1
        assert sum(alert["code"] in (r.body or "") for r in twilio.requests) == 1

        # SIGTERM: the demo stops every child (simulators, services, servers) and exits 0.
        children = {p for p in _descendants(proc.pid) if _alive(p)}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        assert "anxin demo: stopped" in log.read_text()
        left = wait_for(lambda: not any(_alive(p) for p in children), timeout=10, what="every child gone")
        assert left
        print(f"cluster demo: started, paged and stopped in {time.monotonic() - t0:.0f}s")
    except Exception as failed:  # a timeout, an HTTP error from the console, a process that would not stop
        raise AssertionError(f"{type(failed).__name__}: {failed}\n{_log_tails(state)}") from failed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        twilio.stop()
        shutil.rmtree(server_folder(state / "postgres"), ignore_errors=True)  # in /tmp when run as root
