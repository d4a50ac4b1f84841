"""Fixtures of the cluster topology (bus = "nats"): a 3-node JetStream cluster and anomaly workers as processes."""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from anxin.bus import MSG_ID, credentials
from anxin.settings import NatsSettings
from bench.cluster_e2e import lease_table
from shell.natsd import NatsCluster
from tests.support.processes import ChildProcess


def state_tree(o: Any) -> Any:
    """A home's state as plain data, to compare two states: pickle's bytes differ between a live and a thawed one."""
    if isinstance(o, float):
        return "nan" if math.isnan(o) else o
    if o is None or isinstance(o, bool | int | str | bytes):
        return o
    if isinstance(o, dict):
        return {repr(k): state_tree(v) for k, v in o.items()}
    if isinstance(o, list | tuple | deque):
        return [state_tree(v) for v in o]
    if isinstance(o, set | frozenset):
        return sorted(repr(state_tree(v)) for v in o)
    fields = dict(getattr(o, "__dict__", {}))
    for name in (s for c in type(o).__mro__ for s in getattr(c, "__slots__", ())):
        if hasattr(o, name):
            fields[name] = getattr(o, name)
    if not fields:  # a native object (river's Rust quantiles): its pickled state
        return pickle.dumps(o)
    return type(o).__name__, {k: state_tree(v) for k, v in fields.items() if not k.startswith("__")}


@pytest.fixture(scope="module")
def nats_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three nats-server nodes (the `cluster` extra's binary) with JetStream, on free ports, never shared.

    Logins required (shell/nats_auth.py): `nats_cluster.settings()` is the admin, `as_role` a service's. A module's
    NATS_BUCKETS names the KV buckets of its own its anomaly workers may use.
    """
    buckets = tuple(getattr(request.module, "NATS_BUCKETS", ()))
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"), buckets=buckets).start()
    yield cluster
    cluster.stop()


def nats_env(settings: NatsSettings) -> dict[str, str]:
    """The variables that put a service on the cluster bus with these settings (and their login)."""
    env = {"ANXIN_BUS": "nats", "ANXIN_NATS__SERVERS": json.dumps(settings.servers)}
    if settings.user is not None and settings.password is not None:
        env["ANXIN_NATS__USER"] = settings.user
        env["ANXIN_NATS__PASSWORD"] = settings.password.get_secret_value()
    env["ANXIN_NATS__FINDINGS_TO_MQTT"] = str(settings.findings_to_mqtt).lower()
    env["ANXIN_NATS__FEEDBACK_FROM_MQTT"] = str(settings.feedback_from_mqtt).lower()
    for key in ("partitions", "replicas", "ack_timeout_s", "lease_s", "state_bucket", "lease_bucket"):
        env[f"ANXIN_NATS__{key.upper()}"] = str(getattr(settings, key))
    return env


@dataclass
class WorkerProcess(ChildProcess):
    """`python -m anxin anomaly` with bus = "nats", as deployed."""

    log_name = "worker.log"

    name: str
    state: Path
    settings: NatsSettings
    proc: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = field(default_factory=dict)  # e.g. detection limits of a test's homes

    def start(self) -> WorkerProcess:
        """Start it (its log goes to STATE/worker.log)."""
        self.state.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        env.update(nats_env(self.settings))
        env.update(
            {"ANXIN_STATE_DIR": str(self.state), "ANXIN_ANOMALY__CLIENT_ID": self.name, "ANXIN_LOG_LEVEL": "INFO"}
        )
        # Its own (empty) registry, not the checkout's demo database: the registry's part is tested in-process.
        env.setdefault("ANXIN_DATABASE__URL", f"sqlite:///{self.state / 'registry.db'}")
        env.update(self.env_extra)
        log = open(self.state / "worker.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "anxin", "anomaly"], env=env, stdout=log, stderr=log)
        return self


@dataclass(frozen=True)
class StoredMsg:
    """One message of a stream, as stored."""

    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


async def _stream_messages(settings: NatsSettings, stream: str) -> list[StoredMsg]:
    import nats

    nc = await nats.connect(servers=settings.servers, **credentials(settings))
    try:
        js = nc.jetstream(timeout=5)
        state = (await js.stream_info(stream)).state
        if not state.messages:
            return []
        out = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append(StoredMsg(seq, msg.subject or "", dict(msg.headers or {}), msg.data or b""))
        return out
    finally:
        await nc.close()


def stream_messages(settings: NatsSettings, stream: str) -> list[StoredMsg]:
    """Every message of the stream in order (none while it is empty), with its subject and headers."""
    return asyncio.run(_stream_messages(settings, stream))


def stream_contents(settings: NatsSettings, stream: str) -> tuple[Counter[str], list[bytes]]:
    """How many times each Nats-Msg-Id is stored in the stream, and every payload in stream order."""
    msgs = stream_messages(settings, stream)
    return Counter(m.headers.get(MSG_ID, "") for m in msgs), [m.data for m in msgs]


def leases(settings: NatsSettings) -> dict[str, str]:
    """The lease bucket: `p.<n>` -> owning worker, `w.<id>` -> live worker; empty while it does not answer."""
    try:
        return asyncio.run(lease_table(settings))
    except Exception as err:  # not created yet, or electing a leader after a node died
        print(f"lease bucket: {type(err).__name__}: {err}")
        return {}


async def _stream_leader(settings: NatsSettings, stream: str) -> str:
    import nats

    nc = await nats.connect(servers=settings.servers, **credentials(settings))
    try:
        info = await nc.jetstream(timeout=5).stream_info(stream)
        return info.cluster.leader if info.cluster and info.cluster.leader else ""
    finally:
        await nc.close()


def stream_leader(settings: NatsSettings, stream: str) -> str:
    """The server name of the stream's leader."""
    return asyncio.run(_stream_leader(settings, stream))
