"""`anxin console` and the console package's other commands."""

from __future__ import annotations

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import settings_or_exit, setup_logging


def run_console(config: ConfigOpt = None) -> None:
    """Run the operators' web console."""
    use_config(config)
    from console.config import ConsoleSettings
    from console.service import run_service

    settings = settings_or_exit(ConsoleSettings)
    setup_logging(settings.log_level)
    run_service(settings)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("console")(run_console)
