"""Start and stop the real servers (Mosquitto, InfluxDB, VictoriaMetrics) as the user's own processes."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from anxin.broker import SERVICE_ACL, Credentials, write_broker_files
from anxin.settings import MqttSettings
from shell.supervisor import die_with_parent


class ServerError(RuntimeError):
    """A server could not be started; the message says which and where its log is."""


_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 10000  # below: well-known and registered services a machine may run
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out as a connection's own (source) port; 32768 on Linux by default."""
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, and not one this process handed out before.

    A port handed out is not bound until its server starts; meanwhile the kernel may offer it again (two servers
    set up one after the other both got it, and the second to bind failed). It is drawn below the kernel's
    ephemeral range, which outgoing connections take their own ports from: a CI run's demo console could not bind
    a port `bind(0)` had offered moments before ("address already in use"), most likely taken meanwhile as a client
    connection's source port. The draw is random (each process hands out its own ports).
    """
    span = _ephemeral_floor() - _LOWEST_PORT  # too narrow on a machine whose ephemeral range starts low: bind(0)
    for _ in range(200):
        port = _LOWEST_PORT + secrets.randbelow(span) if span >= 1000 else 0  # not `random`: children share a seed
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free TCP port on loopback that was not handed out already")


def preferred_port(port: int) -> int:
    """`port` if nothing listens on it and this process has not handed it out, else a free one; handed out either way.

    The demo's fixed ports (18830, 18086, ...) lie in the range `free_port` draws from: one handed to a NATS node that
    has not started yet must not be taken again by the broker.
    """
    if port and port not in _HANDED_OUT and not port_open(port):
        _HANDED_OUT.add(port)
        return port
    return free_port()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on the port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def find_binary(name: str, *extra: str) -> str:
    """Path of a server binary, looking in sbin too (Debian puts mosquitto there)."""
    for candidate in (shutil.which(name), *extra):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServerError(f"{name} is not installed; run the README's setup (it installs it with apt-get)")


@dataclass
class ManagedProcess:
    """A child server process with its log file."""

    name: str
    cmd: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    preexec: Callable[[], None] | None = field(default=None, repr=False)
    # Linux sends the process SIGTERM when ours dies, even by SIGKILL: a supervisor's children never outlive it.
    die_with_parent: bool = False
    env: dict[str, str] | None = field(default=None, repr=False)
    started_at: float = field(default=0.0, repr=False)  # time.monotonic() of the last spawn

    def spawn(self) -> None:
        """Start the process (in its own session, output appended to its log) without waiting for it."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        hooks = [h for h in (self.preexec, die_with_parent() if self.die_with_parent else None) if h is not None]

        def preexec() -> None:
            for hook in hooks:
                hook()

        self.started_at = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec if hooks else None,
            )

    def start(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Start the process and wait until `ready()` is true."""
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}")

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send a signal (SIGHUP reloads Mosquitto's password and ACL files)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully, then kill."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def raise_fd_limit() -> None:
    """Raise this process's open-file limit to its hard limit (a broker holds one descriptor per client)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


@dataclass
class Mosquitto:
    """A private Mosquitto broker under a state folder."""

    state: Path
    port: int
    users: dict[str, str]
    process: ManagedProcess | None = None
    die_with_parent: bool = False

    def start(self) -> Mosquitto:
        """Write the generated config and start the broker."""
        conf = write_broker_files(self.state, self.port, self.users)
        binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
        self.process = ManagedProcess(
            "mosquitto",
            [binary, "-c", str(conf)],
            self.state / "mosquitto.out",
            preexec=raise_fd_limit,
            die_with_parent=self.die_with_parent,
        )
        self.process.start(lambda: port_open(self.port))
        return self

    def reload(self, users: dict[str, str]) -> None:
        """Rewrite the password and ACL files and make the running broker reload them."""
        self.users = users
        write_broker_files(self.state, self.port, users)
        if self.process:
            self.process.signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop the broker."""
        if self.process:
            self.process.stop()


@dataclass
class Broker:
    """A running Mosquitto with its credentials, for tests and benchmarks that add accounts as they go."""

    server: Mosquitto
    creds: Credentials

    @classmethod
    def start(cls, state: Path) -> Broker:
        """Start a broker with every service account."""
        creds = Credentials.load(state / "credentials.json")
        for user in SERVICE_ACL:
            creds.ensure(user)
        server = Mosquitto(state, free_port(), dict(creds.users)).start()
        return cls(server, creds)

    @property
    def port(self) -> int:
        """The broker's port."""
        return self.server.port

    def add_user(self, username: str) -> str:
        """Create an account (a home id or a service) and make the broker load it; returns the password."""
        known = username in self.creds.users
        password = self.creds.ensure(username)
        if not known:
            self.server.reload(dict(self.creds.users))
            time.sleep(0.3)  # SIGHUP reload is asynchronous
        return password

    def settings(self, username: str) -> MqttSettings:
        """Client settings for an account, creating it when new."""
        return MqttSettings(host="127.0.0.1", port=self.port, username=username, password=self.add_user(username))


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(200 <= r.status < 300)
    except OSError:
        return False


INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{state}/meta"
[data]
  dir = "{state}/data"
  wal-dir = "{state}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


@dataclass
class _HttpServer:
    """A private server with an HTTP API on loopback, under a state folder."""

    state: Path
    port: int
    process: ManagedProcess | None = None
    die_with_parent: bool = False

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server."""
        if self.process:
            self.process.stop()


@dataclass
class InfluxD(_HttpServer):
    """A private InfluxDB 1.x (Debian's influxd) under a state folder."""

    def start(self, database: str = "anxin") -> InfluxD:
        """Start influxd and create the database."""
        self.state.mkdir(parents=True, exist_ok=True)
        conf = self.state / "influxdb.conf"
        conf.write_text(INFLUXD_CONF.format(state=self.state, port=self.port, rpc_port=free_port()))
        binary = find_binary("influxd")
        self.process = ManagedProcess(
            "influxd", [binary, "-config", str(conf)], self.state / "influxd.log", die_with_parent=self.die_with_parent
        )
        self.process.start(lambda: _http_ok(f"{self.url}/ping"), timeout=60)
        body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{database}"'}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=10) as r:
            r.read()
        return self


@dataclass
class VictoriaMetrics(_HttpServer):
    """A private VictoriaMetrics (Debian's victoria-metrics), a real server for the v2 write path."""

    def start(self) -> VictoriaMetrics:
        """Start victoria-metrics."""
        self.state.mkdir(parents=True, exist_ok=True)
        binary = find_binary("victoria-metrics")
        cmd = [
            binary,
            f"-storageDataPath={self.state}/data",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
            "-dedup.minScrapeInterval=1ms",
        ]  # same series and time: one sample, like InfluxDB
        self.process = ManagedProcess("victoria-metrics", cmd, self.state / "vm.log")
        self.process.start(lambda: _http_ok(f"{self.url}/health"), timeout=60)
        return self
