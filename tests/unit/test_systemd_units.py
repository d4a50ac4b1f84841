"""The shipped systemd units: every server service restarts always, is hardened, and runs a command that exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = ("ingest", "anomaly", "alerts", "console", "mosquitto", "influxd")
HARDENING = {
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "ReadWritePaths": "/var/lib/anxin",
    "CapabilityBoundingSet": "",
}


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / f"anxin-{name}.service").read_text())
    return parser["Service"]


@pytest.mark.parametrize("name", SERVICES)
def test_unit_restarts_always_and_is_hardened(name: str) -> None:
    s = service(name)
    assert s["Restart"] == "always" and float(s["RestartSec"]) > 0
    assert {k: s.get(k) for k in HARDENING} == HARDENING
    assert s["User"] == "anxin"


def test_every_python_service_runs_an_existing_command() -> None:
    from typer.main import get_command

    from shell.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name in ("ingest", "anomaly", "alerts", "console"):
        assert service(name)["ExecStart"] == f"/opt/anxin/venv/bin/anxin {name}"
        assert name in commands


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_parse_without_warnings() -> None:
    units = [str(UNITS / "anxin.target"), *(str(UNITS / f"anxin-{n}.service") for n in SERVICES)]
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # The binaries are not installed where the units expect them on a build machine; anything else is a fault.
    problems = [line for line in done.stderr.splitlines() if "is not executable" not in line and line.strip()]
    assert problems == []
