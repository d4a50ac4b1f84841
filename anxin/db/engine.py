"""Engine and sessions, with SQLite set up for several processes at once, and migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so services can share the file."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
            # Residents' personal data: readable by the services' user only (SQLite would create it 0644). Only when
            # missing: closing any descriptor of an open database drops every SQLite lock this process holds on it,
            # and another process closing the file then deletes the WAL under our connections ("disk I/O error").
            if not path.exists():
                os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    # hide_parameters: a database error quoted in a log must not carry an SMS body, a signed link or a number.
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upsert_into(session: Session, model: Any) -> PgInsert | SqliteInsert:
    """An INSERT into `model`'s table that can take ON CONFLICT DO UPDATE, in the session's SQL dialect."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


@contextmanager
def url_session(url: str) -> Iterator[Session]:
    """One session on a database of its own, for a one-off job: the engine is disposed of afterwards."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database schema to the newest migration."""
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder
    # "heads": packages add migrations on their own branches from 0001; all of them apply.
    command.upgrade(_alembic_config(url), "heads")
