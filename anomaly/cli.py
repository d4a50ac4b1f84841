"""`anxin anomaly` and `anxin replay` (`anxin eval` is in the evaluation package, `anxin bench anomaly` in bench)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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


def replay_cmd(
    events: Annotated[
        Path,
        typer.Argument(
            metavar="EVENTS.csv", help="CSV: ts,sensor,kind,value,room (naive local ISO times); may be gzipped (.gz)"
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write findings here (default: stdout)")] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="ISO-TIME",
            help="Run the clock on to this time (naive local, like the CSV); default: stop at the last row",
        ),
    ] = None,
) -> None:
    """Replay one home's events through the live engine; one JSON object per finding."""
    from anomaly.recording import events_zone, input_fixes, parse_time, read_sensor_meta
    from anomaly.replay import replay_file, write_jsonl

    if not events.is_file():
        what = "is a folder" if events.is_dir() else "does not exist"
        typer.echo(f"anxin replay: {events} {what} (hint: anxin replay HOME/events.csv)", err=True)
        raise typer.Exit(2)
    try:
        tz = events_zone(events)
    except (OSError, UnicodeDecodeError) as err:  # (a file that is not text)
        typer.echo(f"anxin replay: {events}: not a readable CSV ({err})", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:  # (home.json's zone; the error names the file)
        typer.echo(f"anxin replay: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        stop = None if until is None else parse_time(until, tz)
    except ValueError:
        typer.echo(f"anxin replay: --until {until!r} is not an ISO time (hint: 2025-03-06T23:59:59)", err=True)
        raise typer.Exit(2) from None
    try:
        res = replay_file(events, sensors=read_sensor_meta(events.parent), until=stop)
    except OSError as err:
        typer.echo(f"anxin replay: {events}: {err}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:  # (a malformed events.csv or sensor list: the error names the file)
        typer.echo(f"anxin replay: {err}", err=True)
        raise typer.Exit(2) from None
    if res.reordered or res.duplicates:
        typer.echo(f"anxin replay: {events}: {input_fixes(res.reordered, res.duplicates)}", err=True)
    if out is None:
        write_jsonl(res.findings, sys.stdout, res.tz)
    else:
        with open(out, "w") as fh:
            n = write_jsonl(res.findings, fh, res.tz)
        typer.echo(f"{res.events} events, {n} findings -> {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("anomaly")(run_anomaly)
    app.command("replay")(replay_cmd)
