"""`anxin anomaly` and the anomaly package's other commands."""

from __future__ import annotations

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging


def run_anomaly(config: ConfigOpt = None) -> None:
    """Run the anomaly service: events in, findings out."""
    use_config(config)
    from anomaly.config import AnomalySettings
    from anomaly.service import run_service

    settings = settings_or_exit(AnomalySettings)
    setup_logging(settings.log_level)
    run_until_signalled("anomaly", lambda stop: run_service(settings, stop))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("anomaly")(run_anomaly)
