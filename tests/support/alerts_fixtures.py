"""Fixtures for the alert tests: a real PostgreSQL server (Debian's postgresql) and a database on each backend."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from anxin.db.engine import upgrade
from shell.servers import free_port


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster on a free port of 127.0.0.1, trust auth, in a temp dir."""

    bindir: Path
    datadir: Path
    port: int
    user: str | None  # the unprivileged account it runs as when the tests run as root
    _template: bool = False

    def _run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120, check=False)

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb and start; runs as `postgres` (or `nobody`) when root, since initdb refuses root."""
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql")
        root = Path(tempfile.mkdtemp(prefix="anxin-pg-"))
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pwd.getpwnam(user)
            except KeyError:
                user = "nobody"
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(bindir, root / "data", free_port(), user)
        done = server._run(
            str(bindir / "initdb"), "-D", str(server.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-500:]}")
        opts = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        log = root / "postgres.log"
        done = server._run(str(bindir / "pg_ctl"), "-D", str(server.datadir), "-l", str(log), "-o", opts, "-w", "start")
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed: {done.stderr[-500:]} {log.read_text()[-500:] if log.exists() else ''}"
            )
        return server

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh database with the schema migrated (copied from a template migrated once); returns its URL."""
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if not self._template:
                    conn.execute(text('CREATE DATABASE "migrated"'))
                    upgrade(self.url("migrated"))
                    self._template = True
                name = "t_" + secrets.token_hex(6)
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "migrated"'))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its files."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session."""
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'anxin.db'}"
        upgrade(url)
        return url
    return str(request.getfixturevalue("postgres").create_database())


@dataclass
class World:
    """A home with its people, as the ladder tests use it; phone numbers by role."""

    home_id: str
    near: str  # assigned volunteer 300 m away
    far: str  # assigned volunteer 2 km away
    third: str  # assigned volunteer, no location
    nearby: str  # district volunteer, not assigned
    grid: str  # the district's grid worker
    operator: str  # operator on duty (always)
    off_duty: str  # assigned volunteer whose window never includes the test's times
    unverified: str  # assigned, not vetted


def seed_world(db_url: str, *, district: str = "东湖社区", address: str | None = "东湖路 8 号 3-501") -> World:
    """Create one home and everyone around it; numbers are unique per call."""
    from datetime import UTC, datetime

    from anxin.db.engine import make_engine, session_factory
    from anxin.db.models import Assignment, Home, Responder

    base = 10_000_000 + secrets.randbelow(80_000_000)
    num = iter(f"+86139{base + i:08d}" for i in range(20))
    home_id = "h-" + secrets.token_hex(6)
    world = World(home_id, *(next(num) for _ in range(8)))
    lat, lon = 30.5000, 114.3000
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with session_factory(engine)() as s:
        s.add(
            Home(
                id=home_id,
                label="7-305",
                district=district,
                created_at=now,
                latitude=lat,
                longitude=lon,
                address=address,
            )
        )

        def person(phone: str, name: str, role: str = "volunteer", **kw: object) -> Responder:
            r = Responder(name=name, phone=phone, lang=kw.pop("lang", "zh-CN"), role=role, verified=True, active=True)
            for k, v in kw.items():
                setattr(r, k, v)
            s.add(r)
            return r

        near = person(world.near, "Near Neighbour", latitude=lat + 0.0027, longitude=lon, district=district)
        far = person(world.far, "Far Neighbour", lang="en", latitude=lat + 0.018, longitude=lon, district=district)
        third = person(world.third, "Third Neighbour", district=district)
        person(world.nearby, "District Volunteer", latitude=lat, longitude=lon + 0.004, district=district)
        person(world.grid, "Grid Worker", role="grid_worker", district=district)
        person(world.operator, "Operator On Duty", role="operator", lang="en")
        # Never on duty: a window of one minute on a day of the week far from the tests' clock is still a window, so
        # an empty weekday list is used: this person is never available.
        off = person(world.off_duty, "Off Duty", availability=[{"days": [], "start": "00:00", "end": "23:59"}])
        unverified = person(world.unverified, "Not Vetted", verified=False, latitude=lat, longitude=lon)
        s.flush()
        for prio, r in enumerate((near, far, third, off, unverified), start=1):
            s.add(Assignment(home_id=home_id, responder_id=r.id, priority=prio if r is not unverified else 0))
        s.commit()
    engine.dispose()
    return world
