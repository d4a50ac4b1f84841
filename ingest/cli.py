"""`anxin ingest` and the ingest package's other commands."""

from __future__ import annotations

import sys

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging

GIL_SWITCH_INTERVAL_S = 0.0005


def run_ingest(config: ConfigOpt = None) -> None:
    """Run the ingest service: MQTT events into InfluxDB."""
    use_config(config)
    from ingest.config import IngestSettings
    from ingest.service import run_service

    settings = settings_or_exit(IngestSettings)
    setup_logging(settings.log_level)
    # The validating thread is CPU-bound; with the default 5 ms switch interval the store thread waits that long for
    # the GIL at each step of an HTTP write (measured: about a quarter of the write time). The process runs only ingest.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    run_until_signalled("ingest", lambda stop: run_service(settings, stop))


def register(app: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("ingest")(run_ingest)
