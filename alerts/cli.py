"""`anxin alerts` and the alerts package's other commands."""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("alerts")(run_alerts)
