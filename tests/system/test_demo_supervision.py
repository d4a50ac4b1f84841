"""`anxin demo` supervises its children: SIGKILLed services and servers come back, health says what is down,
SIGHUP (a closed terminal) and SIGKILL of the demo leave no process behind, one demo per state folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.homes import SimHomes

from shell.twilio_standin import TwilioStandin
from tests.support.demo_env import demo_env
from tests.support.processes import alive, children_of, get_health
from tests.support.waiting import wait_for

pytestmark = pytest.mark.system


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    state: Path
    env: dict[str, str]
    log: Path
    twilio: TwilioStandin

    @property
    def config(self) -> dict[str, Any]:
        return tomllib.loads((self.state / "anxin.toml").read_text())

    @property
    def console_health(self) -> str:
        return f"http://127.0.0.1:{self.config['console']['port']}/healthz"

    @property
    def alerts_health(self) -> str:
        return f"http://127.0.0.1:{self.config['alerts']['http_port']}/healthz"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_demo(state: Path, twilio: TwilioStandin, homes: int = 2) -> Demo:
    env = demo_env(state, twilio)
    log = state / "demo.out"
    state.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "anxin", "demo", "--homes", str(homes), "--console-port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    demo = Demo(proc, state, env, log, twilio)
    wait_for(lambda: "Console: http" in demo.output() or proc.poll() is not None, timeout=120, what="the demo up")
    assert proc.poll() is None, demo.output()
    return demo


def stop_demo(demo: Demo) -> None:
    if demo.proc.poll() is None:
        demo.proc.send_signal(signal.SIGINT)
        try:
            demo.proc.wait(60)
        except subprocess.TimeoutExpired:
            demo.proc.kill()


@pytest.fixture(scope="module")
def twilio() -> Iterator[TwilioStandin]:
    standin = TwilioStandin.start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, twilio: TwilioStandin) -> Iterator[Demo]:
    d = start_demo(tmp_path_factory.mktemp("supervised") / "state", twilio)
    try:
        yield d
    finally:
        stop_demo(d)


def test_killed_services_come_back_and_a_panic_press_still_alerts(demo: Demo) -> None:
    before = children_of(demo.proc.pid)
    assert set(before) == {"mosquitto", "influxd", "console", "ingest", "anomaly", "alerts", "sim"}, before
    for name in ("anomaly", "alerts"):
        os.kill(before[name], signal.SIGKILL)

    def restarted() -> dict[str, int] | None:
        now = children_of(demo.proc.pid)
        fresh = all(now.get(n, before[n]) != before[n] for n in ("anomaly", "alerts"))
        return now if fresh else None

    after = wait_for(restarted, timeout=15, what="anomaly and alerts restarted")
    assert {k: after[k] for k in before if k not in ("anomaly", "alerts")} == {
        k: v for k, v in before.items() if k not in ("anomaly", "alerts")
    }, "the other children must keep running"
    out = demo.output()
    assert "anxin demo: alerts was killed by SIGKILL after" in out and "restarting in 1 s" in out, out[-2000:]
    wait_for(lambda: get_health(demo.alerts_health)[0] == 200, timeout=30, what="alerts healthy again")

    target = SimHomes.load(demo.state / "sim" / "homes.json").homes[0]
    press = subprocess.run(
        [sys.executable, "-m", "anxin", "sim", "press", target.label, "-c", str(demo.state / "anxin.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo.env,
    )
    assert press.returncode == 0, press.stderr
    assert demo.twilio.wait_for(lambda reqs: any(target.label in (r.body or "") for r in reqs), timeout=30), out[-3000:]


class HealthWatch:
    """Polls a /healthz in its own thread and keeps every answer, so a short outage is seen even on a busy machine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.seen.append(get_health(self.url))

    def named(self, what: str) -> dict[str, Any] | None:
        """The first 503 body that names `what` as down."""
        return next((b for s, b in list(self.seen) if s == 503 and what in b.get("down", [])), None)

    def healthy_after(self, body: dict[str, Any]) -> bool:
        """Whether a 200 came after that 503 body."""
        answers = list(self.seen)
        first = next(i for i, (_s, b) in enumerate(answers) if b is body)
        return any(s == 200 for s, _b in answers[first:])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_a_dead_broker_is_named_by_healthz_until_it_is_restarted(demo: Demo) -> None:
    assert get_health(demo.console_health)[0] == 200
    wait_for(lambda: get_health(demo.alerts_health)[0] == 200, timeout=30, what="alerts healthy")
    broker = children_of(demo.proc.pid)["mosquitto"]
    watches = {"console": HealthWatch(demo.console_health), "alerts": HealthWatch(demo.alerts_health)}
    try:
        os.kill(broker, signal.SIGKILL)
        # The supervisor waits a second before the restart: both must say so meanwhile, then recover.
        for name, watch in watches.items():
            body = wait_for(partial(watch.named, "broker"), timeout=10, what=f"{name} naming the broker")
            assert body["checks"]["broker"]["ok"] is False
            wait_for(partial(watch.healthy_after, body), timeout=40, what=f"{name} healthy again")
    finally:
        for watch in watches.values():
            watch.stop()
    assert "anxin demo: mosquitto was killed by SIGKILL" in demo.output()
    assert children_of(demo.proc.pid)["mosquitto"] != broker


def test_a_second_demo_on_the_same_state_is_refused_in_one_line(demo: Demo) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "anxin", "demo", "--homes", "2", "--console-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo.env,
    )
    lines = (second.stdout + second.stderr).strip().splitlines()
    assert second.returncode != 0 and len(lines) == 1, lines
    assert f"another demo (pid {demo.proc.pid}) is running on {demo.state}" in lines[0]
    assert "ANXIN_STATE_DIR" in lines[0] and "Traceback" not in lines[0]
    assert demo.proc.poll() is None


def test_sighup_stops_every_child(demo: Demo) -> None:
    kids = children_of(demo.proc.pid)
    assert len(kids) == 7, kids
    demo.proc.send_signal(signal.SIGHUP)  # what closing the terminal sends
    assert demo.proc.wait(60) == 0, demo.output()[-3000:]
    assert "anxin demo: stopping on SIGHUP" in demo.output()
    assert [name for name, pid in kids.items() if alive(pid)] == []


def test_children_die_with_a_sigkilled_demo(tmp_path: Path, twilio: TwilioStandin) -> None:
    d = start_demo(tmp_path / "state", twilio, homes=1)
    kids = children_of(d.proc.pid)
    assert len(kids) == 7, kids
    d.proc.kill()
    d.proc.wait(10)
    try:
        wait_for(lambda: not any(alive(p) for p in kids.values()), timeout=20, what="every child gone")
    finally:
        for pid in kids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    # The kernel released the folder's lock with the dead demo: a new one may start there.
    from shell.supervisor import lock_folder

    os.close(lock_folder(d.state / "demo.lock"))
