"""A private PostgreSQL (Debian's binaries) under a state folder, for `anxin demo --cluster`: alerts and the console
on PostgreSQL as in a city, the user's own process like Mosquitto and InfluxDB (shell/servers.py).

Run in the foreground (not pg_ctl) so the demo's supervisor sees it die and restarts it. As root it runs as the
`postgres` account (or `nobody`), since PostgreSQL refuses root; the data folder is handed to that account.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shell.servers import ManagedProcess, ServerError, port_open


def pg_bindir() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ServerError("PostgreSQL is not installed: apt-get install -y postgresql (needed by --cluster)")
    return Path(found[-1]).parent


def _unprivileged() -> pwd.struct_passwd | None:
    """The account to run as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerError("running as root and neither a postgres nor a nobody account exists")


def _reachable(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may enter every folder above `path` (pytest's and many home folders are 0700 root)."""
    for folder in path.resolve().parents:
        st = folder.stat()
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def server_folder(state: Path) -> Path:
    """Where the server's files go: `state`, unless we are root and its account cannot reach `state`; then a
    folder of its own in /tmp, named after `state` so the next run finds it again."""
    user = _unprivileged()
    state.mkdir(parents=True, exist_ok=True)
    if user is None or _reachable(state, user):
        return state
    tag = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"anxin-demo-pg-{tag}"


def _as_user(entry: pwd.struct_passwd | None) -> Callable[[], None] | None:
    if entry is None:
        return None

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop


@dataclass
class Postgres:
    """PostgreSQL on 127.0.0.1:`port`, data under `state`, trust authentication for the local user `postgres`."""

    state: Path
    port: int
    die_with_parent: bool = False
    process: ManagedProcess | None = None

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, database: str = "anxin") -> Postgres:
        """initdb on first use, start the server, create `database` if missing."""
        bindir, user = pg_bindir(), _unprivileged()
        self.state = server_folder(self.state)
        self.state.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = self.state / "data"
        if user is not None:
            os.chown(self.state, user.pw_uid, user.pw_gid)
        if not (data / "PG_VERSION").exists():
            cmd = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_as_user(user), check=False)
            if done.returncode != 0:
                raise ServerError(f"initdb failed: {done.stderr[-500:]}")
        cmd = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.state)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"]
        self.process = ManagedProcess(
            "postgres", cmd, self.state / "postgres.log", preexec=_as_user(user), die_with_parent=self.die_with_parent
        )
        self.process.start(lambda: port_open(self.port) and self._accepts(), timeout=60)
        self._create(database)
        return self

    def _accepts(self) -> bool:
        """Whether the server takes queries (it listens before recovery is over)."""
        return self._query("postgres", "SELECT 1") is not None

    def _query(self, database: str, sql: str) -> list[tuple[object, ...]] | None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import OperationalError

        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        except OperationalError:
            return None
        finally:
            engine.dispose()

    def _create(self, database: str) -> None:
        found = self._query("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        if not found:
            self._query("postgres", f'CREATE DATABASE "{database}"')

    def stop(self) -> None:
        """Stop the server (SIGTERM, then kill)."""
        if self.process:
            self.process.stop(timeout=20)
