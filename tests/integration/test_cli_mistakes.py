"""A mistake at the `anxin` command ends in one line with a hint and exit 2, never a traceback (issue 15, item 8).

Each case runs the real command as a subprocess, against a real Mosquitto where one is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shell.servers import Broker, free_port


def _anxin(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 40) -> tuple[int, str]:
    """Run `anxin ARGS` in `cwd` with a clean ANXIN_ environment; returns (exit code, stderr)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    done = subprocess.run(
        [sys.executable, "-m", "anxin", *args],
        cwd=cwd,
        env={**clean, "ANXIN_STATE_DIR": str(cwd / "state"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stderr


def _one_clear_line(code: int, stderr: str, *words: str) -> str:
    """Exit 2, no traceback, and exactly one `anxin:` line (services may log before it) naming `words`."""
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("anxin:")]
    assert len(lines) == 1, stderr
    assert stderr.strip().splitlines()[-1] == lines[0], "the mistake is the last thing said"
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_ingest_without_a_broker_says_so_and_how(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    env = {"ANXIN_MQTT__PORT": str(port), "ANXIN_INGEST__METRICS_PORT": "0", "ANXIN_DATABASE__URL": db_url}
    code, err = _anxin(["ingest"], tmp_path, env)
    _one_clear_line(code, err, f"127.0.0.1:{port}", "broker", "-c")


def test_a_database_without_tables_points_at_db_upgrade(tmp_path: Path, broker: Broker) -> None:
    env = {
        "ANXIN_MQTT__PORT": str(broker.port),
        "ANXIN_MQTT__USERNAME": "alerts",
        "ANXIN_MQTT__PASSWORD": broker.add_user("alerts"),
        "ANXIN_DATABASE__URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "ANXIN_ALERTS__HTTP_PORT": str(free_port()),
    }
    code, err = _anxin(["alerts"], tmp_path, env)
    assert "no such table" not in err.replace("no table homes", ""), "said once, not logged on"
    _one_clear_line(code, err, "anxin db upgrade", "no Anxin tables")


def test_sim_press_without_the_demo_config(tmp_path: Path) -> None:
    code, err = _anxin(["sim", "press", "1-101"], tmp_path)
    _one_clear_line(code, err, "-c", "anxin.toml")


def test_sim_press_of_a_home_nobody_simulates(tmp_path: Path) -> None:
    homes = tmp_path / "state" / "sim" / "homes.json"
    homes.parent.mkdir(parents=True)
    one = {"home": "h-aaaaaaaaaaaa", "label": "1-101", "agent": "pi-1", "password": "x", "district": "d", "sensors": []}
    homes.write_text(json.dumps({"homes": [one]}))
    code, err = _anxin(["sim", "press", "9-999"], tmp_path)
    line = _one_clear_line(code, err, "9-999", "1-101")
    assert "pressed" not in line
