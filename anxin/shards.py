"""Mosquitto shards: which broker a home's agent connects to. A home is given a shard once, when it is registered.

By default there is one shard, the broker of `[mqtt]` with today's files (`state_dir/mosquitto`,
`state_dir/credentials.json`): the embedded default is unchanged. A city lists its brokers as `[[shards]]`
(docs/scale.md). A new home goes to the shard holding the fewest homes (listed order breaks ties, so a new shard
fills first) and its row keeps the choice (`homes.shard`): adding a shard never moves a home, whose agent would keep
dialling its old broker. A row without a shard (registered before sharding) is on the first shard.

Each shard's Mosquitto has its own accounts file holding the services and only its own homes, so a home's password
opens its own shard and no other. The wire contract is the same on every shard.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from anxin.db.models import Home
from anxin.settings import MqttSettings, Section

FIRST = "main"  # the name of the one shard of the default


class Shard(Section):
    """One Mosquitto: its name, where agents reach it, and its files on the host that adds accounts."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    # What the home's installer bundle names: the address agents connect to.
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    # This broker's state folder and accounts file (default: today's for the first shard, `-<name>` for others).
    broker_state: Path | None = None
    credentials: Path | None = None


class ShardError(LookupError):
    """A home's recorded shard is not configured (a shard was removed from `[[shards]]`)."""


def configured(shards: list[Shard], mqtt: MqttSettings | None) -> list[Shard]:
    """The shards in force: the listed ones, else one shard that is the `[mqtt]` broker."""
    if shards:
        return shards
    return [Shard(name=FIRST, host=mqtt.host if mqtt else "127.0.0.1", port=mqtt.port if mqtt else 1883)]


def files(shards: list[Shard], shard: Shard, state_dir: Path) -> tuple[Path, Path]:
    """(accounts file, broker state folder) of a shard: the first keeps today's paths."""
    first = shard.name == shards[0].name
    creds = shard.credentials or state_dir / ("credentials.json" if first else f"credentials-{shard.name}.json")
    state = shard.broker_state or state_dir / ("mosquitto" if first else f"mosquitto-{shard.name}")
    return creds, state


def pick(counts: dict[str, int], shards: list[Shard]) -> Shard:
    """The shard for a new home: the one with the fewest homes, the first listed on a tie."""
    return min(shards, key=lambda s: (counts.get(s.name, 0), shards.index(s)))


def counts(session: Session, shards: list[Shard], besides: str | None = None) -> dict[str, int]:
    """Homes per shard name (rows without one count for the first shard), leaving out the home `besides`."""
    out: dict[str, int] = {}
    rows = select(Home.shard, func.count()).where(Home.id != (besides or "")).group_by(Home.shard)
    for name, n in session.execute(rows):
        key = name or shards[0].name
        out[key] = out.get(key, 0) + n
    return out


def shard_of(session: Session, home: str, shards: list[Shard]) -> Shard:
    """The shard a registered home is on; ShardError when its recorded shard is not configured."""
    name = session.scalar(select(Home.shard).where(Home.id == home))
    if name is None:
        return shards[0]
    for s in shards:
        if s.name == name:
            return s
    raise ShardError(f"home {home} is on shard {name!r}, which is not in [[shards]] ({', '.join(_names(shards))})")


def assign(session: Session, home: str, shards: list[Shard]) -> Shard:
    """The home's shard, choosing and recording one when it has none yet (the caller commits)."""
    name = session.scalar(select(Home.shard).where(Home.id == home))
    if name is not None:
        return shard_of(session, home, shards)
    chosen = pick(counts(session, shards, besides=home), shards)
    # Only a row still without a shard is written: two concurrent registrations cannot move a home.
    session.execute(update(Home).where(Home.id == home, Home.shard.is_(None)).values(shard=chosen.name))
    session.flush()
    return shard_of(session, home, shards)


def _names(shards: list[Shard]) -> list[str]:
    return [s.name for s in shards]
