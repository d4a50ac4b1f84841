"""`anxin sim ...`: simulated homes."""

from __future__ import annotations

import threading
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
        from firmware_sim.enrol import register_demo_homes

        loaded = register_demo_homes(settings.database.url, settings.state_dir, homes)
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
    from firmware_sim.live import send_press

    settings = settings_or_exit(SimSettings)
    home = _known_home(settings.homes_path(), home, "press")
    send_press(settings, home)
    typer.echo(f"pressed the panic button of {home}")


def sim_incident(
    home: Annotated[str, typer.Argument(help="Home id (h-...) or its label")],
    kind: Annotated[
        str, typer.Argument(help="long_lie (or fall), night_exit, door_left_open, missed_morning, panic, ...")
    ],
    minutes: Annotated[
        float | None, typer.Option(min=0.1, max=1440, help="How long it lasts (default: as the model draws it)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Play an incident in a running simulated home now (the running `anxin sim run` or `anxin demo` does it).

    The simulator replans the home's future from now with the incident in it: a long lie is a fall and no movement
    after it; a missed morning is tomorrow's (or this morning's, before the usual time); night incidents play when
    asked, but the engine flags them only at night."""
    use_config(config)
    from firmware_sim.config import SimSettings
    from firmware_sim.live import incident_kind, send_incident

    try:
        incident_kind(kind)
    except ValueError as err:
        typer.echo(f"anxin: {err}", err=True)
        raise typer.Exit(2) from err
    settings = settings_or_exit(SimSettings)
    home = _known_home(settings.homes_path(), home, "incident")
    send_incident(settings, home, kind, minutes)
    typer.echo(f"asked the simulator to play {kind} in {home} now; watch the console")


def _known_home(path: Path, home: str, verb: str) -> str:
    """The id of a simulated home named by id or label; a home nobody simulates ends the command (exit 2)."""
    from firmware_sim.homes import SimHomes

    if not path.exists():
        typer.echo(
            f"anxin: no simulated homes in {path}; pass the running demo's config with -c "
            f"(e.g. `anxin sim {verb} {home} -c .anxin-state/anxin.toml`)",
            err=True,
        )
        raise typer.Exit(2)
    homes = SimHomes.load(path).homes
    for h in homes:
        if home in (h.home, h.label):
            return h.home
    labels = [h.label for h in homes]
    shown = ", ".join(labels[:5]) + (f" ... ({len(labels)} homes)" if len(labels) > 5 else "")
    typer.echo(f"anxin: no simulated home {home!r} in {path}; known: {shown or 'none'}", err=True)
    raise typer.Exit(2)


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
    variety: Annotated[
        str, typer.Option(help="rich: every kit, profile and habit; classic: the first simulator's homes, same bytes")
    ] = "rich",
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
    from firmware_sim.plan import VARIETIES

    types = _incident_types(incidents, INCIDENT_TYPES)
    if variety not in VARIETIES:
        raise typer.BadParameter(f"--variety must be one of {', '.join(VARIETIES)}, got {variety!r}")
    t0 = time.perf_counter()
    results = generate(out, homes, days, seed, first, incident_rate, types, jobs or None, variety)
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


def sim_load(
    config: ConfigOpt = None,
    homes: Annotated[int, typer.Option(min=1, help="How many homes, registering any that are missing")] = 1000,
    rate: Annotated[
        float, typer.Option(min=0, help="Events per second over all homes (0: each home at the model's own cadence)")
    ] = 0.0,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run (0: until Ctrl-C)")] = 0.0,
    workers: Annotated[int, typer.Option(min=1, help="Processes; each drives its homes from one thread")] = 2,
    heartbeat_s: Annotated[float, typer.Option(min=1, help="Seconds between a home's heartbeats")] = 60.0,
    db: Annotated[bool, typer.Option(help="Also register the homes in the SQL database (one bulk insert)")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the model homes the load homes play")] = 1,
) -> None:
    """Play many homes from few processes for load tests, each home its own MQTT account and client id."""
    import time

    use_config(config)
    from anxin.broker import Credentials
    from anxin.registry import credentials_path
    from firmware_sim.config import SimSettings
    from firmware_sim.load import LoadOptions, LoadStats, load_homes_path, read_seqs, register_load_homes, run_load

    settings = settings_or_exit(SimSettings)
    setup_logging(settings.log_level)
    db_url = settings.database.url if db else None
    t0 = time.perf_counter()
    creds = Credentials.load(credentials_path(settings.state_dir))
    chosen = register_load_homes(
        creds, load_homes_path(settings.state_dir), homes, broker_state=settings.state_dir / "mosquitto", db_url=db_url
    )
    typer.echo(f"{len(chosen)} load homes ready in {time.perf_counter() - t0:.1f} s (accounts, broker reload, SQL)")
    time.sleep(0.5)  # the broker reloads its password file asynchronously after SIGHUP
    opts = LoadOptions(rate=rate, heartbeat_s=heartbeat_s, seed=seed, timezone=settings.sim.timezone)
    seq_file = settings.state_dir / "sim" / "load-seq.json"
    last: list[tuple[float, int]] = [(0.0, 0)]

    def show(s: LoadStats) -> None:
        t, acked = last[0]
        if s.seconds - t < 5.0:
            return
        speed = (s.acked - acked) / max(s.seconds - t, 1e-6)
        last[0] = (s.seconds, s.acked)
        typer.echo(
            f"{s.seconds:7.1f} s  connected {s.connected}/{s.homes}  published {s.published}  acked {s.acked} "
            f"({speed:.0f}/s)  refused {s.refused}  CPU {s.cpu_s:.1f} s  RSS {s.rss_kb / 1024:.0f} MiB"
        )

    def play(stop_event: threading.Event) -> None:
        result = run_load(
            settings.mqtt.model_copy(update={"username": None, "password": None}),
            chosen,
            opts,
            workers=workers,
            duration_s=duration,
            stop=stop_event,
            seqs=read_seqs(seq_file),
            on_stats=show,
            seq_file=seq_file,
        )
        s = result.stats
        typer.echo(
            f"done: {s.ever_connected}/{s.homes} homes connected (all in {s.all_connected_s or float('nan'):.1f} s), "
            f"{s.published} events published, {s.acked} acknowledged, {s.rejected} refused by the broker, "
            f"{s.heartbeats} heartbeats"
        )

    run_until_signalled("sim-load", play)


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


def register(app: typer.Typer) -> None:
    """Add `anxin sim ...` to `anxin`."""
    sim = typer.Typer(help="Simulated homes.", no_args_is_help=True)
    sim.command("run")(sim_run)
    sim.command("press")(sim_press)
    sim.command("incident")(sim_incident)
    sim.command("generate")(sim_generate)
    sim.command("import")(sim_import)
    sim.command("report")(sim_report)
    sim.command("load")(sim_load)
    app.add_typer(sim, name="sim")
