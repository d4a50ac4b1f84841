"""`anxin registry import|export`: a district's spreadsheet in and out of the registry, as CSV.

Either a folder with one file per table (districts.csv, homes.csv, sensors.csv, residents.csv, responders.csv,
assignments.csv, policies.csv), or one sheet-like CSV whose `table` column names each row's table. Rows go through
console/queries/registry.py, as the console's forms do, in one transaction: one bad row (named with its file and line)
and nothing is written. Mistakes end in one line with a hint and exit code 2.

Just over 400 lines: import and export read and write the same seven tables, kept beside the TABLES they share.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from anxin.cli_common import ConfigOpt, use_config

registry_app = typer.Typer(
    help="Import or export the registry (districts, homes, people) as CSV.", no_args_is_help=True
)

TABLES: dict[str, tuple[str, ...]] = {
    "districts": ("name",),
    "homes": ("id", "label", "district", "address", "timezone", "latitude", "longitude"),
    "sensors": ("home", "sensor", "kind", "room", "role", "room_type", "hold_s"),
    "residents": ("home", "name", "phone", "notes", "consent", "contacts"),
    "responders": (
        "name",
        "phone",
        "role",
        "district",
        "lang",
        "skills",
        "availability",
        "vetted",
        "opted_in",
        "latitude",
        "longitude",
    ),
    "assignments": ("home", "phone", "priority"),
    "policies": ("district", "home", "spec"),
}
_HOME_ID = re.compile(r"^h-[a-z0-9]{6,32}$")
_YES = {"yes", "y", "true", "1", "是", "x"}


class Mistake(Exception):
    """A user's mistake: one line, with a hint."""


@dataclass(frozen=True)
class Row:
    """One CSV row with where it came from."""

    table: str
    where: str  # "homes.csv line 4"
    values: dict[str, str]


def _db_url() -> str:
    from anxin.runtime import settings_or_exit
    from anxin.settings import DatabaseSettings, ServiceSettings

    class _DbSettings(ServiceSettings):
        database: DatabaseSettings = DatabaseSettings()

    return settings_or_exit(_DbSettings).database.url


@contextmanager
def _session(url: str) -> Iterator[Session]:
    from sqlalchemy.exc import OperationalError

    from anxin.db.engine import make_engine, session_factory

    engine = make_engine(url)
    try:
        try:
            ready = inspect(engine).has_table("districts")
        except OperationalError as err:
            raise Mistake(f"cannot open the database {url}; pass the right config with -c FILE") from err
        if not ready:
            raise Mistake(f"the database {url} has no registry tables yet; run `anxin db upgrade -c FILE` first")
        with session_factory(engine)() as s:
            yield s
    finally:
        engine.dispose()


def _read(path: Path, table: str | None) -> list[Row]:
    """The rows of one CSV file; `table` None: a sheet whose `table` column says which."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            known = set(TABLES[table]) if table else {"table"} | {c for cols in TABLES.values() for c in cols}
            unknown = [c for c in reader.fieldnames or [] if c and c.strip() not in known]
            if unknown:
                raise Mistake(f"{path.name}: unknown column {unknown[0]!r}; columns are {', '.join(sorted(known))}")
            rows = []
            for values in reader:
                clean = {k.strip(): (v or "").strip() for k, v in values.items() if k}
                name = table or clean.pop("table", "")
                where = f"{path.name} line {reader.line_num}"
                if name not in TABLES:
                    raise Mistake(f"{where}: unknown table {name!r}; one of {', '.join(TABLES)}")
                if any(clean.values()):
                    rows.append(Row(name, where, clean))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise Mistake(f"cannot read {path}: {err}") from err


def read_rows(source: Path) -> list[Row]:
    """Every row of a folder of per-table files, or of one sheet, in the order the tables depend on each other."""
    if source.is_dir():
        files = {t: source / f"{t}.csv" for t in TABLES if (source / f"{t}.csv").exists()}
        if not files:
            raise Mistake(f"no {', '.join(f'{t}.csv' for t in TABLES)} in {source}")
        rows = [r for t, p in files.items() for r in _read(p, t)]
    elif source.is_file():
        rows = _read(source, None)
    else:
        raise Mistake(f"no such file or folder: {source}")
    order = list(TABLES)
    return sorted(rows, key=lambda r: order.index(r.table))


def _opt(v: dict[str, str], key: str) -> str | None:
    return v.get(key) or None


def _yes(v: dict[str, str], key: str, default: bool = False) -> bool:
    return v[key].lower() in _YES if v.get(key) else default


def _num(v: dict[str, str], key: str) -> str | None:
    return v.get(key) or None  # pydantic parses (and refuses) the number, naming the column


class Importer:
    """Applies rows through the registry's checks; homes may be named by id or by a unique label."""

    def __init__(self, s: Session, actor: str) -> None:
        from datetime import UTC, datetime

        self.s, self.actor, self.now = s, actor, datetime.now(UTC)
        self.counts: dict[str, int] = {}

    def home(self, ref: str) -> str:
        """A home id from an id or a label."""
        from anxin.db.models import Home
        from console.queries.registry import RegistryError

        if _HOME_ID.match(ref) and self.s.get(Home, ref) is not None:
            return ref
        ids = list(self.s.scalars(select(Home.id).where(Home.label == ref)))
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise Mistake(f"home label {ref!r} is not unique; use the home's id (anxin registry export lists them)")
        raise RegistryError("registry.error.unknown_home", home=ref)

    def apply(self, row: Row) -> None:
        """Apply one row."""
        handler: Callable[[dict[str, str]], object] = getattr(self, f"_{row.table}")
        handler(row.values)
        self.s.flush()
        self.counts[row.table] = self.counts.get(row.table, 0) + 1

    def _districts(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg

        reg.add_district(self.s, reg.DistrictIn(name=v.get("name", "")), self.actor, self.now)

    def _homes(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg

        data = {k: _opt(v, k) for k in TABLES["homes"] if _opt(v, k) is not None}
        reg.save_home(self.s, reg.HomeIn.model_validate({"label": "", "district": "", **data}), self.actor, self.now)

    def _sensors(self, v: dict[str, str]) -> None:
        from anxin.db.models import HomeSensor
        from console.queries import registry as reg

        home = self.home(v.get("home", ""))
        # A column the sheet lacks changes nothing: an older sheet imported again keeps a room type given since.
        row = self.s.get(HomeSensor, (home, v.get("sensor", "")))
        kept = {k: getattr(row, k) for k in ("room", "role", "room_type", "hold_s")} if row else {}
        given = {k: _opt(v, k) if k in v else kept.get(k) for k in ("room", "role", "room_type")}
        given["hold_s"] = reg.typed_number(v["hold_s"]) if "hold_s" in v else kept.get("hold_s")
        # (Not if the row moves the sensor, or makes it no PIR: a type or a hold kept would then be said wrongly.)
        if "room_type" not in v and given["room"] != kept.get("room"):
            given["room_type"] = None
        if "hold_s" not in v and v.get("kind") != "motion":
            given["hold_s"] = None
        sensor = reg.SensorIn.model_validate({"sensor": v.get("sensor", ""), "kind": v.get("kind", ""), **given})
        reg.add_sensor(self.s, home, sensor, self.actor, self.now)

    def _residents(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg
        from console.routers.registry import parse_contacts

        data = {
            "home": self.home(v.get("home", "")),
            "name": v.get("name", ""),
            "phone": _opt(v, "phone"),
            "notes": _opt(v, "notes"),
            "consent": _yes(v, "consent"),
            "contacts": parse_contacts(v.get("contacts", "").replace(";", "\n")),
        }
        reg.add_resident(self.s, reg.ResidentIn.model_validate(data), self.actor, self.now)

    def _responders(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg
        from console.routers.registry import parse_windows

        data = {
            "name": v.get("name", ""),
            "phone": v.get("phone", "").replace(" ", ""),
            "role": v.get("role") or "volunteer",
            "district": _opt(v, "district"),
            "lang": v.get("lang") or "zh-CN",
            "skills": [x.strip() for x in v.get("skills", "").split(";") if x.strip()],
            "availability": parse_windows(v.get("availability", "")),
            "vetted": _yes(v, "vetted"),
            "opted_in": _yes(v, "opted_in", default=True),
            "latitude": _num(v, "latitude"),
            "longitude": _num(v, "longitude"),
        }
        reg.save_responder(self.s, reg.ResponderIn.model_validate(data), self.actor, self.now)

    def _assignments(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg

        data = {"home": self.home(v.get("home", "")), "phone": v.get("phone", ""), "priority": v.get("priority") or 1}
        reg.assign(self.s, reg.AssignmentIn.model_validate(data), self.actor, self.now)

    def _policies(self, v: dict[str, str]) -> None:
        from console.queries import registry as reg

        try:
            spec = json.loads(v.get("spec") or "")
        except ValueError as err:
            raise Mistake(f"spec is not JSON ({err})") from err
        home = self.home(v["home"]) if v.get("home") else None
        policy = reg.PolicyIn.model_validate({"district": _opt(v, "district"), "home": home, "spec": spec})
        reg.set_policy(self.s, policy, self.actor, self.now)


def import_rows(s: Session, rows: list[Row], actor: str) -> dict[str, int]:
    """Apply every row in one transaction; the first bad row raises Mistake naming its file and line."""
    from console.queries.registry import RegistryError, problem

    importer = Importer(s, actor)
    for row in rows:
        try:
            importer.apply(row)
        except (RegistryError, ValidationError) as err:
            s.rollback()
            raise Mistake(f"{row.where} ({row.table}): {problem(err, 'en')}; nothing was imported") from err
        except Mistake as err:
            s.rollback()
            raise Mistake(f"{row.where} ({row.table}): {err}; nothing was imported") from err
    s.commit()
    return importer.counts


def export_tables(s: Session) -> dict[str, list[dict[str, str]]]:
    """Every table's rows, in the columns import reads back (phone numbers included: keep the files private)."""
    from anxin.db.models import Assignment, District, EscalationPolicy, Home, HomeSensor, Resident, Responder

    def windows(ws: list[dict[str, Any]] | None) -> str:
        return "; ".join(f"{','.join(map(str, w.get('days', range(7))))} {w['start']}-{w['end']}" for w in ws or [])

    def num(x: float | None) -> str:
        return "" if x is None else repr(x)

    homes = list(s.scalars(select(Home).order_by(Home.district, Home.label)))
    phones = {r.id: r.phone for r in s.scalars(select(Responder))}
    return {
        "districts": [{"name": d} for d in s.scalars(select(District.name).order_by(District.name))],
        "homes": [
            {
                "id": h.id,
                "label": h.label,
                "district": h.district,
                "address": h.address or "",
                "timezone": h.timezone,
                "latitude": num(h.latitude),
                "longitude": num(h.longitude),
            }
            for h in homes
        ],
        "sensors": [
            {"home": k.home_id, "sensor": k.sensor, "kind": k.kind, "room": k.room or "", "role": k.role or ""}
            | {"room_type": k.room_type or "", "hold_s": num(k.hold_s)}
            for k in s.scalars(select(HomeSensor).order_by(HomeSensor.home_id, HomeSensor.sensor))
        ],
        "residents": [
            {
                "home": r.home_id,
                "name": r.full_name,
                "phone": r.phone or "",
                "notes": r.notes or "",
                "consent": "yes" if r.consent else "no",
                "contacts": "; ".join(
                    f"{c.get('name')}, {c.get('relation') or ''}, {c.get('phone')}{', sms' if c.get('sms') else ''}"
                    for c in r.contacts or []
                ),
            }
            for r in s.scalars(select(Resident).order_by(Resident.id))
        ],
        "responders": [
            {
                "name": r.name,
                "phone": r.phone,
                "role": r.role,
                "district": r.district or "",
                "lang": r.lang,
                "skills": "; ".join(r.skills or []),
                "availability": windows(r.availability),
                "vetted": "yes" if r.verified else "no",
                "opted_in": "no" if r.opted_out else "yes",
                "latitude": num(r.latitude),
                "longitude": num(r.longitude),
            }
            for r in s.scalars(select(Responder).order_by(Responder.role, Responder.name))
        ],
        "assignments": [
            {"home": a.home_id, "phone": phones[a.responder_id], "priority": str(a.priority)}
            for a in s.scalars(select(Assignment).order_by(Assignment.home_id, Assignment.priority))
        ],
        "policies": [
            {"district": p.district or "", "home": p.home_id or "", "spec": json.dumps(p.spec, ensure_ascii=False)}
            for p in s.scalars(select(EscalationPolicy))
        ],
    }


def _write_private(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _fail(err: Mistake) -> typer.Exit:
    typer.echo(f"anxin registry: {err}", err=True)
    return typer.Exit(2)


@registry_app.command("import")
def registry_import(
    source: Annotated[Path, typer.Argument(help="A folder of per-table CSV files, or one CSV with a `table` column")],
    config: ConfigOpt = None,
) -> None:
    """Import districts, homes, kits, residents, responders, assignments and policies from CSV, all or nothing."""
    use_config(config)
    try:
        rows = read_rows(source)
        with _session(_db_url()) as s:
            counts = import_rows(s, rows, f"cli:{getpass.getuser()}")
    except Mistake as err:
        raise _fail(err) from None
    done = ", ".join(f"{n} {t}" for t, n in counts.items()) or "nothing"
    typer.echo(f"imported {done}; install each new home from the console (Registry, Download installer bundle)")


@registry_app.command("export")
def registry_export(
    target: Annotated[Path, typer.Argument(help="A folder (one file per table) or a .csv file (one sheet)")],
    config: ConfigOpt = None,
) -> None:
    """Export the registry as CSV (mode 0600: it holds phone numbers), in the columns import reads."""
    use_config(config)
    try:
        with _session(_db_url()) as s:
            tables = export_tables(s)
        if target.suffix.lower() == ".csv":
            columns = tuple(dict.fromkeys(c for cols in TABLES.values() for c in cols))
            rows = [{"table": t, **r} for t, rs in tables.items() for r in rs]
            _write_private(target, ("table", *columns), rows)
        else:
            target.mkdir(parents=True, exist_ok=True)
            for t, rs in tables.items():
                _write_private(target / f"{t}.csv", TABLES[t], rs)
    except OSError as err:
        raise _fail(Mistake(f"cannot write {target}: {err}")) from None
    except Mistake as err:
        raise _fail(err) from None
    typer.echo(f"exported {', '.join(f'{len(r)} {t}' for t, r in tables.items())} to {target}")


def register(app: typer.Typer) -> None:
    """Add `anxin registry import|export`."""
    app.add_typer(registry_app, name="registry")
