"""`anxin anomaly`, `anxin replay`, `anxin eval` and `anxin bench anomaly`."""

from __future__ import annotations

import json
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
        Path, typer.Argument(metavar="EVENTS.csv", help="CSV: ts,sensor,kind,value,room (naive local ISO times)")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write findings here (default: stdout)")] = None,
) -> None:
    """Replay one home's events through the live engine; one JSON object per finding."""
    from anomaly.replay import replay_file, write_jsonl

    if not events.exists():
        typer.echo(f"anxin replay: {events} does not exist", err=True)
        raise typer.Exit(2)
    try:
        res = replay_file(events)
    except ValueError as err:
        typer.echo(f"anxin replay: {events}: {err}", err=True)
        raise typer.Exit(2) from err
    if out is None:
        write_jsonl(res.findings, sys.stdout)
    else:
        with open(out, "w") as fh:
            n = write_jsonl(res.findings, fh)
        typer.echo(f"{res.events} events, {n} findings -> {out}", err=True)


def eval_cmd(
    root: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of homes: DIR/<home>/events.csv and labels.csv")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    png: Annotated[Path | None, typer.Option(help="Write a PNG of delays and false alarms here [DIR/eval.png]")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: one per CPU)")] = 0,
    bound: Annotated[
        bool, typer.Option("--bound", help="Also compare each long lie with the same home's ordinary stillness")
    ] = False,
) -> None:
    """Replay every home under DIR and score findings against its labels (see docs/anomaly.md)."""
    from anomaly.evaluate import bound_summary, evaluate, home_dirs, plot, stillness_bound, summarise, table

    scores = evaluate(root, jobs=jobs)
    if not scores:
        typer.echo(f"anxin eval: no DIR/<home>/events.csv under {root}", err=True)
        raise typer.Exit(2)
    summary = summarise(scores)
    if bound:
        summary["stillness_bound"] = bound_summary(b for h in home_dirs(root) for b in stillness_bound(h))
    png = png if png is not None else root / "eval.png"
    plot(scores, summary, png)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    else:
        typer.echo(table(summary))
        for kit, row in summary.get("stillness_bound", {}).items():
            typer.echo(
                f"long lies, {kit}: {row['lies']}; outlasted by 1+ / 2+ ordinary stillnesses in the same place and"
                f" hour: {row['outlasted_1']:.2f} / {row['outlasted_2']:.2f}; a 30-min find needs a limit ordinary"
                f" stillness passed: {row['passed_30_min']:.2f}"
            )
        typer.echo(f"plot: {png}")


def bench_anomaly(
    homes: Annotated[int, typer.Option(help="Homes whose state is measured")] = 10_000,
    replay_days: Annotated[int, typer.Option(help="Days of events replayed for throughput")] = 60,
) -> None:
    """Replay events/s (one core) against a plain CSV parse loop, and state bytes per home over many homes."""
    from anomaly.bench import run

    for line in run(homes=homes, replay_days=replay_days).lines():
        typer.echo(line)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin`."""
    app.command("anomaly")(run_anomaly)
    app.command("replay")(replay_cmd)
    app.command("eval")(eval_cmd)
    bench.command("anomaly")(bench_anomaly)
