"""Who may do what on the cluster bus (bus = "nats"): one NATS user per service role, least-privilege permissions.

NatsCluster (shell/natsd.py) writes this into every node's nats.conf; an operator running their own nats-server
copies `authorization_block` (docs/scale.md, "Security"). User and password, not nkeys: nats-py sends them with no
extra package, and nats-server checks bcrypt hashes, so a node's config holds no usable client password (nkeys would
add the nkeys and PyNaCl packages to every service and a seed file each). The passwords are random (144 bits), made
per cluster, so the bcrypt cost guards nothing a guess could find: it is kept low (every connect pays it).

Subjects (docs/scale.md): events, agents' status and heartbeats on `anxin.events.<p>.<home>` and the workers' ticks
and verdicts on `anxin.events.<p>.<home>.tick|feedback` (stream ANXIN_EVENTS), findings on `anxin.findings.<home>`
(ANXIN_FINDINGS), checkpoints and leases in two KV buckets. Each role subscribes to its own inbox only
(`_INBOX.<role>.>`; anxin.bus.connect sets the prefix): JetStream delivers pulled messages and API answers there, so a
shared `_INBOX.>` would let any user read every home's events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import bcrypt

from alerts.jetstream import DURABLE as ALERTS_DURABLE
from anomaly.relay import DURABLE as RELAY_DURABLE
from anxin.bus import EVENTS_PREFIX, FEEDBACK, FINDINGS_PREFIX, TICK
from anxin.settings import NatsSettings

ROLES = ("ingest", "anomaly", "alerts", "admin")
ROUTE_USER = "route"
BCRYPT_COST = 6  # see the docstring: random passwords; nats-server accepts any cost bcrypt does
API = "$JS.API"


def password_hash(password: str) -> str:
    """The bcrypt hash nats-server checks a password against."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def _stream(stream: str, *, create: bool = True) -> list[str]:
    """Look up a stream (and create it if missing, as anxin.bus.ensure_bus does); never update, purge or delete it."""
    return [f"{API}.STREAM.INFO.{stream}", *([f"{API}.STREAM.CREATE.{stream}"] if create else [])]


def _consumer(stream: str, name: str) -> list[str]:
    """Create, look up and pull from one durable consumer (`*`: any of the stream's), and ack what it delivers."""
    return [
        f"{API}.CONSUMER.INFO.{stream}.{name}",
        f"{API}.CONSUMER.CREATE.{stream}.{name}",
        f"{API}.CONSUMER.CREATE.{stream}.{name}.>",
        f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{name}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    ]


def _bucket(bucket: str) -> list[str]:
    """Everything nats-py's KeyValue does on one bucket: put/create/update/delete, get, keys and watch."""
    stream = f"KV_{bucket}"
    return [
        f"$KV.{bucket}.>",
        *_stream(stream),
        f"{API}.DIRECT.GET.{stream}",
        f"{API}.DIRECT.GET.{stream}.>",
        f"{API}.STREAM.MSG.GET.{stream}",
        # keys() and watch() run an ordered push consumer into the inbox, with flow control
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.>",
        f"{API}.CONSUMER.INFO.{stream}.>",
        f"{API}.CONSUMER.DELETE.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def publish_allowed(role: str, s: NatsSettings, buckets: Iterable[str] = ()) -> list[str]:
    """The subjects a role may publish to (requests to JetStream's API included); nothing else."""
    events, findings = s.events_stream, s.findings_stream
    if role == "ingest":  # the bridge: agents' messages into their home's partition, on the agents' subjects only
        return [f"{EVENTS_PREFIX}.*.*", *_stream(events)]
    if role == "anomaly":
        # Ticks and verdicts go into the partitions on the workers' own subjects (`anxin.bus.control_subject`), never
        # an agent's; findings out; each worker recreates its partitions' consumers (`anomaly-p<n>`, any name on the
        # events stream) and runs the relay's consumer.
        control = [f"{EVENTS_PREFIX}.*.*.{TICK}", f"{EVENTS_PREFIX}.*.*.{FEEDBACK}"]
        out = [*control, f"{FINDINGS_PREFIX}.>", *_stream(events), *_stream(findings)]
        out += [*_consumer(events, "*"), f"{API}.CONSUMER.DELETE.{events}.*"]
        out += _consumer(findings, RELAY_DURABLE)
        for b in dict.fromkeys([s.state_bucket, s.lease_bucket, *buckets]):
            out += _bucket(b)
        return out
    if role == "alerts":  # reads findings through its one durable consumer
        return [*_stream(findings), *_consumer(findings, ALERTS_DURABLE)]
    if role == "admin":  # the operator (and tests' probes): everything
        return [">"]
    raise ValueError(f"unknown NATS role {role!r}; known: {', '.join(ROLES)}")


def subscribe_allowed(role: str) -> list[str]:
    """The subjects a role may subscribe to: its own inbox (the admin: anything)."""
    return [">"] if role == "admin" else [f"_INBOX.{role}.>"]


def authorization_block(passwords: dict[str, str], s: NatsSettings, buckets: Iterable[str] = ()) -> str:
    """nats.conf's `authorization` block: every role with its bcrypt hash and permissions; no anonymous user."""
    users = []
    for role in ROLES:
        perms = {
            "publish": {"allow": publish_allowed(role, s, buckets)},
            "subscribe": {"allow": subscribe_allowed(role)},
        }
        user = {"user": role, "password": password_hash(passwords[role]), "permissions": perms}
        users.append("    " + json.dumps(user))
    return "authorization {\n  timeout: 2\n  users: [\n" + ",\n".join(users) + "\n  ]\n}\n"
