"""`anxin sim ...`: simulated homes."""

from __future__ import annotations

from typing import Annotated

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging


def sim_run(
    config: ConfigOpt = None,
    homes: Annotated[int | None, typer.Option(help="Play this many homes, registering any that are missing")] = None,
    backfill_min: Annotated[float, typer.Option(help="First replay this many minutes of past routine")] = 0.0,
) -> None:
    """Play simulated homes live over MQTT, each with its own credentials."""
    use_config(config)
    from firmware_sim.config import SimSettings
    from firmware_sim.homes import SimHomes
    from firmware_sim.live import SimRunner

    settings = settings_or_exit(SimSettings)
    setup_logging(settings.log_level)
    path = settings.homes_path()
    loaded = SimHomes.load(path) if path.exists() else SimHomes()
    if homes is not None and len(loaded.homes) < homes:
        from anxin.registry import register_demo_homes
        from console.config import ConsoleSettings

        loaded = register_demo_homes(settings_or_exit(ConsoleSettings).database.url, settings.state_dir, homes)
    chosen = loaded.homes[:homes] if homes is not None else loaded.homes
    if not chosen:
        typer.echo(f"no simulated homes in {path}: pass --homes N or run `anxin demo`", err=True)
        raise typer.Exit(2)
    if backfill_min:
        settings.sim.backfill_s = backfill_min * 60
    runner = SimRunner(settings, chosen)
    run_until_signalled("sim", runner.run)


def sim_press(
    home: Annotated[str, typer.Argument(help="Home id (h-...) or its label")], config: ConfigOpt = None
) -> None:
    """Press a simulated home's panic button (the running `anxin sim run` or `anxin demo` does it)."""
    use_config(config)
    from firmware_sim.config import SimSettings
    from firmware_sim.homes import SimHomes
    from firmware_sim.live import send_press

    settings = settings_or_exit(SimSettings)
    path = settings.homes_path()
    if path.exists():
        for h in SimHomes.load(path).homes:
            if home in (h.home, h.label):
                home = h.home
                break
    send_press(settings, home)
    typer.echo(f"pressed the panic button of {home}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add `anxin sim ...` to `anxin`."""
    sim = typer.Typer(help="Simulated homes.", no_args_is_help=True)
    sim.command("run")(sim_run)
    sim.command("press")(sim_press)
    app.add_typer(sim, name="sim")
