"""`anxin sim ...`: simulated homes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import run_until_signalled, settings_or_exit, setup_logging


def sim_run(
    config: ConfigOpt = None,
    homes: Annotated[int | None, typer.Option(help="Play this many homes, registering any that are missing")] = None,
    backfill_min: Annotated[float, typer.Option(help="First replay this many minutes of past routine")] = 0.0,
    speed: Annotated[
        float, typer.Option(min=0, help="Replay the past at this many times real time (0: at once); then real time")
    ] = 0.0,
    incident: Annotated[
        list[str] | None,
        typer.Option(help="Schedule TYPE@WHEN[~DURATION][:HOME], e.g. long_lie@+5m, agent_offline@+1m~10m:1-103"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the residents' routines")] = None,
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
    from firmware_sim.live import parse_incident

    try:
        scheduled = [parse_incident(text) for text in incident or []]
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--incident") from err
    if backfill_min:
        settings.sim.backfill_s = backfill_min * 60
    if speed:
        settings.sim.speed = speed
    if seed is not None:
        settings.sim.seed = seed
    runner = SimRunner(settings, chosen, scheduled)
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


def sim_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write DIR/<home>/{events,labels}.csv, home.json")],
    homes: Annotated[int, typer.Option(min=1, help="How many homes")] = 20,
    days: Annotated[int, typer.Option(min=1, max=3660, help="How many days per home")] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes")] = 1,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD, local time)")] = "2025-03-03",
    incident_rate: Annotated[float, typer.Option(min=0, help="Extra incidents per home per 30 days")] = 2.0,
    incidents: Annotated[
        str, typer.Option(help="Comma-separated incident types to play (default all; 'none' for none)")
    ] = "all",
    jobs: Annotated[int, typer.Option(min=0, help="Worker processes (0: one per CPU)")] = 0,
) -> None:
    """Write simulated homes with ground-truth incident labels to files."""
    import time
    from datetime import date

    from firmware_sim.files import generate
    from firmware_sim.model import INCIDENT_TYPES

    try:
        first = date.fromisoformat(start)
    except ValueError as err:
        raise typer.BadParameter(f"--start must be YYYY-MM-DD, got {start!r}") from err
    types = _incident_types(incidents, INCIDENT_TYPES)
    t0 = time.perf_counter()
    results = generate(out, homes, days, seed, first, incident_rate, types, jobs or None)
    took = time.perf_counter() - t0
    events = sum(r.events for r in results)
    labels = sum(r.labels for r in results)
    typer.echo(
        f"wrote {homes} homes x {days} days to {out}: {events} events, {labels} labelled incidents in {took:.1f}s"
    )


def sim_import(
    src: Annotated[Path, typer.Argument(help="CASAS text file: `date time sensor value [annotation]` per line")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write <name>/events.csv into")],
    name: Annotated[str | None, typer.Option(help="Home folder name (default: the file's stem)")] = None,
    front_door: Annotated[
        str | None, typer.Option(help="The CASAS sensor that is the front door (room `entrance`)")
    ] = None,
    room: Annotated[list[str] | None, typer.Option(help="SENSOR=ROOM, e.g. M003=bedroom (repeatable)")] = None,
) -> None:
    """Convert a CASAS recording into the simulator's CSV format, so real homes can be replayed and evaluated."""
    from firmware_sim.casas import import_casas

    if not src.exists():
        raise typer.BadParameter(f"{src} does not exist")
    rooms = dict(r.split("=", 1) for r in room or [] if "=" in r)
    result = import_casas(src, out, name or src.stem, front_door, rooms)
    skipped = sum(result.skipped.values())
    typer.echo(f"imported {result.events} events into {out / (name or src.stem)}; skipped {skipped} lines")
    for reason, n in result.skipped.items():
        typer.echo(f"  {n} lines: {reason} (e.g. {result.examples[reason]!r})")


def sim_report(
    folder: Annotated[Path, typer.Argument(help="A folder written by `anxin sim generate` or `anxin sim import`")],
) -> None:
    """Draw an activity heat map per home (hour by day, incidents marked) as <home>/activity.png."""
    from firmware_sim.report import report

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    written = report(folder)
    typer.echo(f"wrote {len(written)} heat maps (<home>/activity.png) under {folder}")


def _incident_types(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if text == "all":
        return known
    if text in ("none", ""):
        return ()
    chosen = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise typer.BadParameter(f"unknown incident type(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add `anxin sim ...` to `anxin`."""
    sim = typer.Typer(help="Simulated homes.", no_args_is_help=True)
    sim.command("run")(sim_run)
    sim.command("press")(sim_press)
    sim.command("generate")(sim_generate)
    sim.command("import")(sim_import)
    sim.command("report")(sim_report)
    app.add_typer(sim, name="sim")
