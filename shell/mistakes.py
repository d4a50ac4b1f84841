"""A user's mistake at the `anxin` command ends in one clear line with a hint and exit code 2, never a traceback.

Known failures (no broker, a database without Anxin's tables, a wrong config) are recognised by type here, at the
top floor, so no service needs to know how the command line words them. Anything else is a bug: its traceback
stays."""

from __future__ import annotations

import os
import sys

from sqlalchemy.exc import OperationalError, ProgrammingError

from anxin.mqtt import MqttConnectError

CONFIG_HINT = "pass the config of the servers you mean with -c FILE (the demo's: -c .anxin-state/anxin.toml)"


def explain(err: BaseException) -> str | None:
    """The one line (with its hint) for a known mistake, or None for a bug whose traceback must show."""
    if isinstance(err, MqttConnectError) or _is_ingest_link_error(err):
        return f"{_first_line(err)}; is the broker running? {CONFIG_HINT}"
    if type(err).__name__ == "LoginRefused" and type(err).__module__ == "anxin.bus":  # by name: nats-py is optional
        return _first_line(err)
    if isinstance(err, OperationalError | ProgrammingError):
        text = str(err.orig) if err.orig is not None else str(err)
        if "no such table" in text or "does not exist" in text:
            return (
                f"the database has no Anxin tables ({_first_line(text)}); create them with "
                "`anxin db upgrade -c FILE`, or point at the right database with -c FILE"
            )
        if "unable to open database file" in text or "could not connect" in text or "Connection refused" in text:
            return f"cannot open the database ({_first_line(text)}); {CONFIG_HINT}"
    return None


def _is_ingest_link_error(err: BaseException) -> bool:
    # By name: the shell may run without ingest installed (a Pi with only .[edge]).
    return type(err).__name__ == "LinkError" and type(err).__module__ == "ingest.mqttlink"


def _first_line(err: object) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def report(err: BaseException) -> int | None:
    """Print a known mistake as `anxin: <line>` on stderr and return exit code 2; None when it is not one."""
    line = explain(err)
    if line is None:
        return None
    print(f"anxin: {line}", file=sys.stderr, flush=True)
    return 2


# Services that read the SQL registry but, by design, keep running through a database error (a blip must not stop
# them): started on a database nobody created, they would log "no such table" forever instead of saying so.
SQL_SERVICES = ("ingest", "alerts")


def preflight(argv: list[str]) -> str | None:
    """Before a SQL service starts: the one line to print when its database has no Anxin tables, else None."""
    if not argv or argv[0] not in SQL_SERVICES or any(a in ("--help", "-h") for a in argv):
        return None
    config = _option(argv, "-c", "--config")
    if config is not None:
        os.environ["ANXIN_CONFIG"] = config  # as the command's own use_config() will
    url = _database_url(argv[0])
    if url is None:
        return None  # the command itself reports what is wrong with its settings
    from sqlalchemy import inspect

    from anxin.db.engine import make_engine

    engine = make_engine(url)
    try:
        if inspect(engine).has_table("homes"):
            return None
    except OperationalError as err:
        return explain(err)
    finally:
        engine.dispose()
    return (
        "the database has no Anxin tables (no table homes); create them with `anxin db upgrade -c FILE`, "
        "or point at the right database with -c FILE"
    )


def _database_url(service: str) -> str | None:
    from anxin.settings import ConfigError, load_settings

    try:
        if service == "ingest":
            from ingest.config import IngestSettings

            ingest = load_settings(IngestSettings)
            return ingest.database.url if ingest.ingest.check_homes else None
        from alerts.config import AlertsSettings

        return load_settings(AlertsSettings).database.url
    except (ConfigError, ImportError):
        return None


def _option(argv: list[str], short: str, long: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in (short, long) and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"{long}="):
            return arg.split("=", 1)[1]
    return None
