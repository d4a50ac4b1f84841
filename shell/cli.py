"""The `anxin` command. Each package adds its own commands through `<package>.cli.register(app)`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anxin.cli_common import ConfigOpt, use_config
from anxin.runtime import settings_or_exit


class _Anxin(typer.Typer):
    """The `anxin` app: a known mistake (no broker, no tables) ends in one line with a hint and exit 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; see shell/mistakes.py for what counts as a mistake rather than a bug."""
        import sys

        from shell.mistakes import preflight, report

        first = preflight(sys.argv[1:])
        if first is not None:
            print(f"anxin: {first}", file=sys.stderr, flush=True)
            raise SystemExit(2)
        try:
            return run_words(self, sys.argv[1:], "anxin")
        except Exception as err:
            code = report(err)
            if code is None:
                raise
            raise SystemExit(code) from None


def run_words(app: typer.Typer, argv: list[str], prog: str) -> Any:
    """Click's main without its standalone mode, so a usage mistake is worded here: one line, a hint, exit 2.

    (Typer's own wording is a boxed, many-line panel; a user who mistyped an option deserves one line.)
    """
    import sys

    from typer import Abort
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    command = typer.main.get_command(app)
    try:
        result = command.main(argv, prog_name=prog, standalone_mode=False)
    except NoArgsIsHelpError as err:
        err.show()  # no arguments: the help, as in standalone mode
        raise SystemExit(2) from None
    except UsageError as err:
        where = err.ctx.command_path if err.ctx is not None else prog
        print(f"{where}: {err.format_message()} (see {where} --help)", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except ClickException as err:
        print(f"{prog}: {err.format_message()}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code) from None
    except Abort:
        print(f"{prog}: aborted", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    # Out of standalone mode, click returns an exit code (typer.Exit, --help) instead of exiting with it.
    raise SystemExit(result if isinstance(result, int) else 0)


app = _Anxin(
    help="Anxin (安心): elderly-safety monitoring and alerting.", no_args_is_help=True, pretty_exceptions_enable=False
)
contracts_app = typer.Typer(help="The wire contract.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
recording_app = typer.Typer(help="Public recordings of real homes, for `anxin eval`.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(db_app, name="db")
app.add_typer(recording_app, name="recording")

# Packages whose CLI module is importable with the extras installed; a Pi with only .[edge] gets the edge commands.
PACKAGES = ("edge", "ingest", "anomaly", "alerts", "console", "firmware_sim")


def _register_packages() -> None:
    import importlib

    for name in PACKAGES:
        try:
            module = importlib.import_module(f"{name}.cli")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith(f"{name}.cli"):
                continue
            raise
        module.register(app)
    from shell.registry_cli import register as register_registry  # the shell's own: `anxin registry`

    register_registry(app)


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
    use_config(config)
    from anxin.db.engine import upgrade
    from anxin.settings import DatabaseSettings, ServiceSettings

    class _DbSettings(ServiceSettings):
        database: DatabaseSettings = DatabaseSettings()

    upgrade(settings_or_exit(_DbSettings).database.url)
    typer.echo("database schema is up to date")


@app.command()
def demo(
    config: ConfigOpt = None,
    homes: Annotated[int, typer.Option(help="How many simulated homes")] = 10,
    console_port: Annotated[int, typer.Option(help="Console port (a free one if taken; 0: any free port)")] = 8080,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster", help="The distributed topology: 3 NATS nodes, 2 Mosquitto shards, PostgreSQL (docs/scale.md)"
        ),
    ] = False,
) -> None:
    """Run everything on this machine: Mosquitto, InfluxDB, every service and simulated homes."""
    use_config(config)
    from shell.demo import run_demo

    raise typer.Exit(run_demo(homes=homes, console_port=console_port, cluster=cluster))


@app.command(
    "bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
)
def bench(ctx: typer.Context) -> None:
    """Benchmarks, printed as ratios against a baseline measured in the same run (`anxin bench --help`)."""
    import importlib

    # By name, at call time: bench/ sits above the shell, and importing `anxin` must not load it (nor tests/).
    try:
        module = importlib.import_module("bench.cli")
    except ModuleNotFoundError as err:
        if err.name not in ("bench", "bench.cli"):
            raise
        typer.echo("anxin bench: the bench package is not installed here (run it from a clone)", err=True)
        raise typer.Exit(2) from err
    run_words(module.app, ctx.args, "anxin bench")


def _eval_hint(root: Path) -> str:
    """What to type instead of a DIR that holds no homes: the sources one level down, or a file's folder."""
    import shlex

    from anomaly.recording import EVENTS_FILES

    if root.is_file():
        return f"anxin eval {shlex.quote(str(root.parent))}  (a folder, not a file)"
    below = sorted({str(p.parent.parent) for name in EVENTS_FILES for p in root.glob(f"*/*/{name}")})
    if not below:
        return "anxin eval FOLDER, with FOLDER/<home>/events.csv"
    more = f" ... ({len(below)} sources)" if len(below) > 4 else ""
    return "anxin eval " + " ".join(shlex.quote(b) for b in below[:4]) + more


@app.command("eval")
def eval_cmd(
    roots: Annotated[
        list[Path],
        typer.Argument(metavar="DIR...", help="Sources: folders of homes, DIR/<home>/events.csv[.gz] + labels.csv"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print every source's summary as one JSON document")] = False,
    png: Annotated[Path | None, typer.Option(help="Also write a PNG of delays and false alerts here")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: one per CPU)")] = 0,
    bound: Annotated[
        bool, typer.Option("--bound", help="Also compare each long lie with the same home's ordinary stillness")
    ] = False,
    verdicts: Annotated[
        bool,
        typer.Option(
            "--verdicts", help="Answer every long_inactivity alarm as a responder would (from the labels), as feedback"
        ),
    ] = False,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            metavar="ALARMS",
            help="False long_inactivity alarms per home per 60 days the engine may spend (the operator's knob; 1)",
        ),
    ] = None,
) -> None:
    """Replay every home of every source through the engine and score it against its labels (docs/anomaly.md)."""
    from anomaly.limits import HomeLimits
    from evaluation.homes import home_dirs
    from evaluation.report import run, text, to_json

    limits: HomeLimits | None = None
    if budget is not None:
        from pydantic import ValidationError

        from anomaly.config import LimitsSection

        try:  # the service's own bounds on the knob
            limits = LimitsSection(false_alarm_budget_per_60d=budget).limits()
        except ValidationError as err:
            why = err.errors()[0]["msg"].lower()
            typer.echo(f"anxin eval: --budget {budget:g}: {why} (hint: --budget 2)", err=True)
            raise typer.Exit(2) from None
    for root in roots:
        if not home_dirs(root):
            typer.echo(f"anxin eval: no DIR/<home>/events.csv under {root} (hint: {_eval_hint(root)})", err=True)
            raise typer.Exit(2)
    try:
        result, scores = run(roots, jobs=jobs, bound=bound, verdicts=verdicts, limits=limits)
    except ValueError as err:  # a malformed events.csv, labels.csv or sensors.csv: say which
        typer.echo(f"anxin eval: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(to_json(result) if as_json else text(result))
    if png is not None:
        from evaluation.plot import plot

        plot(list(zip(result["sources"], scores, strict=True)), png)
        typer.echo(f"plot: {png}", err=True)


@recording_app.command("import")
def recording_import(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="ordonez (UCI ADL Ordonez A/B) or kasteren (house A)")],
    raw: Annotated[list[Path], typer.Argument(metavar="FILE...", help="The downloaded file(s) of one home")],
    out: Annotated[Path, typer.Option(help="Writes OUT/real/HOME and, with --lies, OUT/lies/HOME_SEED")],
    home: Annotated[str, typer.Option(help="The home's folder name")] = "home",
    lies: Annotated[int, typer.Option(help="Long lies injected per copy (0: the recording only)")] = 6,
    copies: Annotated[int, typer.Option(help="Copies with lies, one per seed")] = 6,
    seed: Annotated[int, typer.Option(help="The first copy's seed (then +1 each)")] = 101,
    at: Annotated[
        str, typer.Option(help="day: lies from 07 to 23 h, in OUT/lies; night: 23 to 07 h, out of bed, in OUT/night")
    ] = "day",
) -> None:
    """Convert one home's public recording to replay folders, with long lies injected (docs/anomaly.md)."""
    from evaluation.recordings import WHEN, inject_lies, read_recording, write_home

    if at not in WHEN:
        typer.echo(f"anxin recording import: --at {at!r} is not one of {', '.join(WHEN)} (hint: --at night)", err=True)
        raise typer.Exit(2)

    missing = [str(p) for p in raw if not p.is_file()]
    if missing:
        typer.echo(f"anxin recording import: no such file: {missing[0]}", err=True)
        raise typer.Exit(2)
    try:
        rows = read_recording(fmt, raw)
    except ValueError as err:
        typer.echo(f"anxin recording import: {err}", err=True)
        raise typer.Exit(2) from err
    name = f"{fmt} {' '.join(p.name for p in raw)}"
    folder = "lies" if at == "day" else at  # (OUT/lies, as before there was a choice)
    try:
        write_home(out / "real" / home, rows, [], name)
        placed: list[str] = []
        for s in range(seed, seed + (copies if lies > 0 else 0)):
            with_lies, made = inject_lies(rows, lies, s, WHEN[at])
            write_home(out / folder / f"{home}_{s}", with_lies, made, name)
            placed += [lie.start.isoformat() for lie in made]
    except OSError as err:
        typer.echo(f"anxin recording import: cannot write under {out}: {err.strerror or err}", err=True)
        raise typer.Exit(2) from err
    days = (rows[-1][0] - rows[0][0]).total_seconds() / 86400.0
    typer.echo(f"{home}: {len(rows)} events over {days:.1f} days -> {out}/real")
    if placed:
        # Few moments qualify in some homes (doors left open for days): copies then share lies; say how many differ.
        typer.echo(f"{out}/{folder}: {len(placed)} lies in {copies} copies, {len(set(placed))} distinct")
        if len(placed) < lies * copies:
            typer.echo(f"anxin recording import: only {len(placed)} of {lies * copies} lies found a moment", err=True)


_register_packages()
