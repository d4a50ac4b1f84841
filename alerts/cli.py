"""`anxin alerts` and the alerts package's other commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging


def run_alerts(config: ConfigOpt = None) -> None:
    """Run the alerts service: findings in, SMS out, Twilio webhooks and the mobile page on its own port."""
    use_config(config)
    from alerts.config import AlertsSettings
    from alerts.service import run_service

    settings = settings_or_exit(AlertsSettings)
    setup_logging(settings.log_level)
    run_until_signalled("alerts", lambda stop: run_service(settings, stop))


def bench_alerts(
    findings: Annotated[int, typer.Option(help="How many panic findings")] = 200,
    rate: Annotated[float, typer.Option(help="Findings per second")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Finding to SMS request p50/p99 through MQTT, SQL and the twilio client, against the bare client (checkout)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "alerts.py").exists():
        typer.echo("anxin bench alerts runs from a source checkout (bench/ and tests/support/)", err=True)
        raise typer.Exit(2)
    sys.path.insert(0, str(root))
    from bench.alerts import main

    raise typer.Exit(main(findings, rate, as_json))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("alerts")(run_alerts)
    bench.command("alerts")(bench_alerts)
