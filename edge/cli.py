"""`anxin edge ...`: the agent on a home's Raspberry Pi. Imports stay light: a Pi has only the `edge` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EdgeConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Edge TOML config (default: $ANXIN_EDGE_CONFIG or /etc/anxin/edge.toml)"),
]
edge_app = typer.Typer(help="The edge agent on a home's Raspberry Pi.", no_args_is_help=True)


def _path(config: Path | None) -> Path:
    from edge.config import config_file

    return config_file(config)


@edge_app.command("run")
def edge_run(config: EdgeConfigOpt = None) -> None:
    """Run the agent: GPIO and Zigbee sensors into the disk queue, and on to the broker."""
    from anxin.runtime import run_until_signalled, setup_logging
    from anxin.settings import ConfigError
    from edge.agent import EdgeAgent
    from edge.config import load_edge_settings

    try:
        settings = load_edge_settings(_path(config))
    except ConfigError as err:
        typer.echo(f"anxin edge: {err}", err=True)
        raise typer.Exit(2) from err
    setup_logging(settings.log_level)
    agent = EdgeAgent(settings)
    run_until_signalled("edge", agent.run)


@edge_app.command("doctor")
def edge_doctor(
    config: EdgeConfigOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each broker")] = 5.0,
) -> None:
    """Check config, broker and credentials, clock, each GPIO input and Zigbee device; print what to fix."""
    from edge.doctor import run_doctor

    checks = run_doctor(_path(config), timeout=timeout)
    for c in checks:
        typer.echo(c.render())
    failed = sum(c.level == "fail" for c in checks)
    warned = sum(c.level == "warn" for c in checks)
    typer.echo(f"\n{failed} problem(s), {warned} warning(s)" if failed or warned else "\nall good")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    """Add `anxin edge run|doctor`."""
    app.add_typer(edge_app, name="edge")
