"""The `anxin` command: one subcommand per service, plus the demo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging

app = typer.Typer(
    help="Anxin (安心): elderly-safety monitoring and alerting.", no_args_is_help=True, pretty_exceptions_enable=False
)
contracts_app = typer.Typer(help="The wire contract.", no_args_is_help=True)
sim_app = typer.Typer(help="Simulated homes.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(sim_app, name="sim")
app.add_typer(db_app, name="db")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file (or ANXIN_CONFIG)")]


def _use_config(config: Path | None) -> None:
    if config is not None:
        os.environ["ANXIN_CONFIG"] = str(config)


@contracts_app.command("schema")
def contracts_schema(
    out: Annotated[Path | None, typer.Option(help="Write one NAME.schema.json per message")] = None,
) -> None:
    """Print (or write) the JSON Schema of every message of the wire contract."""
    from contracts.messages import json_schemas

    schemas = json_schemas()
    if out is None:
        typer.echo(json.dumps(schemas, indent=2, ensure_ascii=False))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {len(schemas)} schemas to {out}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Create or migrate the SQL schema."""
    _use_config(config)
    from anxin.db.engine import upgrade
    from console.config import ConsoleSettings

    settings = settings_or_exit(ConsoleSettings)
    upgrade(settings.database.url)
    typer.echo("database schema is up to date")


@app.command()
def ingest(config: ConfigOpt = None) -> None:
    """Run the ingest service: MQTT events into InfluxDB."""
    _use_config(config)
    from ingest.config import IngestSettings
    from ingest.service import run_service

    settings = settings_or_exit(IngestSettings)
    setup_logging(settings.log_level)
    run_until_signalled("ingest", lambda stop: run_service(settings, stop))


@app.command()
def anomaly(config: ConfigOpt = None) -> None:
    """Run the anomaly service: events in, findings out."""
    _use_config(config)
    from anomaly.config import AnomalySettings
    from anomaly.service import run_service

    settings = settings_or_exit(AnomalySettings)
    setup_logging(settings.log_level)
    run_until_signalled("anomaly", lambda stop: run_service(settings, stop))


@app.command()
def alerts(config: ConfigOpt = None) -> None:
    """Run the alerts service: findings in, SMS out."""
    _use_config(config)
    from alerts.config import AlertsSettings
    from alerts.service import run_service

    settings = settings_or_exit(AlertsSettings)
    setup_logging(settings.log_level)
    run_until_signalled("alerts", lambda stop: run_service(settings, stop))


@app.command()
def console(config: ConfigOpt = None) -> None:
    """Run the operators' web console."""
    _use_config(config)
    from console.config import ConsoleSettings
    from console.service import run_service

    settings = settings_or_exit(ConsoleSettings)
    setup_logging(settings.log_level)
    run_service(settings)


@sim_app.command("run")
def sim_run(
    config: ConfigOpt = None,
    homes: Annotated[int | None, typer.Option(help="Play this many homes, registering any that are missing")] = None,
    backfill_min: Annotated[float, typer.Option(help="First replay this many minutes of past routine")] = 0.0,
) -> None:
    """Play simulated homes live over MQTT, each with its own credentials."""
    _use_config(config)
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


@sim_app.command("press")
def sim_press(
    home: Annotated[str, typer.Argument(help="Home id (h-...) or its label")], config: ConfigOpt = None
) -> None:
    """Press a simulated home's panic button (the running `anxin sim run` or `anxin demo` does it)."""
    _use_config(config)
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


@app.command()
def demo(
    config: ConfigOpt = None,
    homes: Annotated[int, typer.Option(help="How many simulated homes")] = 10,
    console_port: Annotated[int, typer.Option(help="Console port (a free one if taken)")] = 8080,
) -> None:
    """Run everything on this machine: Mosquitto, InfluxDB, every service and simulated homes."""
    _use_config(config)
    from anxin.demo import run_demo

    raise typer.Exit(run_demo(homes=homes, console_port=console_port))
