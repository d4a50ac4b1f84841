"""`anxin ingest` and the ingest package's other commands."""

from __future__ import annotations

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging


def run_ingest(config: ConfigOpt = None) -> None:
    """Run the ingest service: MQTT events into InfluxDB."""
    use_config(config)
    from ingest.config import IngestSettings
    from ingest.service import run_service

    settings = settings_or_exit(IngestSettings)
    setup_logging(settings.log_level)
    run_until_signalled("ingest", lambda stop: run_service(settings, stop))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("ingest")(run_ingest)
