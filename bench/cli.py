"""`anxin bench ...`: every benchmark, printed as ratios against a baseline measured in the same run.

The shell loads this module only when `anxin bench` runs, so the `anxin` command never imports bench/ otherwise.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(
    help="Benchmarks, printed as ratios against a baseline measured in the same run.",
    no_args_is_help=True,
    add_completion=False,
)


def _run_script(module: str, argv: list[str]) -> None:
    """Run one of the argparse benchmark scripts as its own command line would."""
    import importlib

    sys.argv = [f"bench/{module}.py", *argv]
    importlib.import_module(f"bench.{module}").main()


@app.command("edge")
def bench_edge(
    seconds: Annotated[float, typer.Option(help="Seconds per measured rate")] = 5.0,
    rates: Annotated[str, typer.Option(help="Event rates per second, comma separated")] = "10,100,1000",
) -> None:
    """The agent's steady memory and CPU per event rate, as ratios to an idle paho client in the same run."""
    _run_script("edge_bench", ["--seconds", str(seconds), "--rates", rates])


@app.command("ingest")
def bench_ingest(
    events: Annotated[int, typer.Option(help="Events to publish (rounded to a multiple of --homes)")] = 200_000,
    homes: Annotated[int, typer.Option(help="Simulated homes")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Ingest end to end against mosquitto_sub on the same broker: throughput ratio, latency, CPU, exactly once."""
    from bench.ingest_bench import main

    raise typer.Exit(main(events, homes, as_json))


@app.command("anomaly")
def bench_anomaly(
    homes: Annotated[int, typer.Option(help="Homes whose state is measured")] = 10_000,
    replay_days: Annotated[int, typer.Option(help="Days of events replayed for throughput")] = 60,
) -> None:
    """Replay events/s (one core) against a plain CSV parse loop, and state bytes per home over many homes."""
    from bench.anomaly_bench import run

    for line in run(homes=homes, replay_days=replay_days).lines():
        typer.echo(line)


@app.command("alerts")
def bench_alerts(
    findings: Annotated[int, typer.Option(help="How many panic findings")] = 200,
    rate: Annotated[float, typer.Option(help="Findings per second")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Finding to SMS request p50/p99 through MQTT, SQL and the twilio client, against the bare client."""
    from bench.alerts import main

    raise typer.Exit(main(findings, rate, as_json))


@app.command("console")
def bench_console(
    homes: Annotated[int, typer.Option(help="How many homes")] = 10_000,
    events: Annotated[int, typer.Option(help="Sensor events per home written to InfluxDB")] = 20,
    rounds: Annotated[int, typer.Option(help="Timed requests per variant")] = 5,
) -> None:
    """Serve the overview of N homes: the spine's per-request InfluxQL against the snapshot, same run, same data."""
    from bench.console_overview import main

    raise typer.Exit(main(homes=homes, events=events, rounds=rounds))


@app.command("sim")
def bench_sim(
    homes: Annotated[int, typer.Option(min=1, help="Load homes to connect")] = 10000,
    rate: Annotated[float, typer.Option(min=1, help="Events per second over all homes")] = 2000.0,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds measured once every home is connected")] = 15.0,
    workers: Annotated[int, typer.Option(min=1, help="Load processes")] = 2,
    what: Annotated[str, typer.Option(help="load, generate or all")] = "all",
) -> None:
    """Load mode (homes held, events/s, CPU and RSS per 1k homes) and `sim generate`, against same-run baselines."""
    if what not in ("load", "generate", "all"):
        raise typer.BadParameter(f"--what is load, generate or all, not {what!r}")
    if what in ("load", "all"):
        args = ["--homes", str(homes), "--rate", str(rate), "--seconds", str(seconds), "--workers", str(workers)]
        _run_script("sim_load", args)
    if what in ("generate", "all"):
        _run_script("sim_generate", [])


@app.command("cluster")
def bench_cluster(
    events: Annotated[int, typer.Option(min=100, help="Events per path (rounded to a multiple of --homes)")] = 40_000,
    homes: Annotated[int, typer.Option(min=1, help="Simulated homes per path, each ending in a panic press")] = 1000,
    workers: Annotated[int, typer.Option(min=2, help="Anomaly workers of the cluster path (one is killed)")] = 2,
    partitions: Annotated[int, typer.Option(min=2, help="JetStream partitions")] = 16,
    lease_s: Annotated[
        float, typer.Option(min=1, help="Worker lease: how long a dead worker keeps its partitions")
    ] = 3.0,
    figures: Annotated[
        bool, typer.Option("--figures", help="Also the bridge, drain and KV figures of docs/scale.md (slower)")
    ] = False,
) -> None:
    """Agent publish to stored + finding: the cluster path against the embedded one in the same run; worker takeover."""
    from bench.cluster_e2e import main

    code = main(events, homes, workers, partitions, lease_s)
    if figures:
        from bench.cluster_bench import main as more

        code = code or more(events, homes)
    raise typer.Exit(code)


@app.command("cluster-alerts")
def bench_cluster_alerts(
    findings: Annotated[int, typer.Option(min=10, help="Critical findings per round, each paging once")] = 600,
    rounds: Annotated[int, typer.Option(min=1, help="Alternating pairs of rounds (1 replica, then 2)")] = 2,
) -> None:
    """Alerts on JetStream and PostgreSQL: findings/s with 2 replicas against 1 in the same run."""
    from bench.cluster_alerts import main

    raise typer.Exit(main(findings, rounds))
