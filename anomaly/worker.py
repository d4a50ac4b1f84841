"""An anomaly worker of `bus = "nats"`: the same engine, fed from JetStream partitions it leases (docs/scale.md).

Over 400 lines on purpose: lease, consume, checkpoint with compare-and-set and acknowledge are one ordering
argument (what may be acked when), easier to check in one file than across several. What a message does to its home,
and when a silent home is due a tick, is pure and lives in anomaly/ticks.py.

Ownership: each partition `p` has one durable pull consumer `anomaly-p<p>` (filter `anxin.events.<p>.>`: the agents'
messages and the workers' ticks and verdicts) and one lease key `p.<p>` in a KV bucket whose entries expire `lease_s`
after their last write. A worker renews its leases every `lease_s / 3`, takes free partitions up to its fair share
(partitions / live workers, each worker announcing itself as `w.<id>`), and releases extras. A worker killed stops
renewing: its leases expire and the others take its partitions within about `lease_s`. One consumer per partition with
one owner gives every home's events to one worker, in stream order; a consumer shared by several pullers (work-queue
style) would hand a home's consecutive events to two workers at once.

Taking a partition: read the consumer's ack floor, delete it and create it again from floor + 1, so the events the
dead owner had in hand come again in order before newer ones (a redelivery after ack_wait would come after them).
Each home's checkpoint (KV key `h.<partition>.<home>`) holds the stream sequence of the last message it includes:
messages at or below it are acknowledged without processing. Taking a partition also reads every checkpoint under
`h.<partition>.*`: a home gone silent has no message to bring it in, yet its clock must run. A checkpoint is written
with compare-and-set on the revision read, so a stale worker (paused past its lease) cannot overwrite a newer state:
its write fails and it drops the partition.

Per batch: process in order, publish the findings with `Nats-Msg-Id = finding.id` (a replay after a takeover is
deduplicated by JetStream) and await their acks. Every `worker_checkpoint_s` (or when the unacked events near the
consumer's limit) checkpoint the changed homes, then ack the events: one KV write per home per interval instead of
one per event, and a takeover replays at most that interval of the partition.
The engine runs in event time here (a home is ticked at each event's time). A home whose next check passed on the wall
clock gets a tick message in its partition, run at the engine's due time (anomaly/ticks.py); with agent status and
heartbeats bridged by ingest, a home's findings are a pure function of its partition's messages (and of the registry's
word on the home, read as the service reads it: `routine`), and a reference run (`anomaly.ticks.reference`) over the
stream reproduces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from anomaly.config import AnomalySettings
from anomaly.engine import Engine, HomeMonitor
from anomaly.feedback_bridge import CLIENT_ID as BRIDGE_CLIENT_ID
from anomaly.feedback_bridge import PARTITION as BRIDGE_PARTITION
from anomaly.feedback_bridge import FeedbackBridge
from anomaly.registry import Registry, Word
from anomaly.relay import FindingsRelay
from anomaly.store import freeze, summary_rows, thaw, write_summaries
from anomaly.ticks import Clock, PartitionMessage, apply, quiet
from anxin.bus import (
    AT,
    KIND,
    MSG_ID,
    TICK,
    connect,
    control_subject,
    ensure_bus,
    findings_subject,
    partition,
    partition_filter,
    state_filter,
    state_key,
    tick_msg_id,
)
from contracts import ContractError, Finding, dump

log = logging.getLogger(__name__)
_R = TypeVar("_R")
BATCH = 200
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = BATCH * 5
RETRY_MAX_S = 5.0
TICK_BEHIND_S = 10.0  # how often a partition that is behind still ticks its homes
# A home's message stored in the stream this long after ingest received it is part of a late burst (ingest's bridge
# catching up): the rest of it may not be in the stream yet, so a tick published now could land before it and judge a
# partial history (a silence the remaining events end). Such a home is not ticked until its burst has been quiet for
# LATE_QUIET_S. Measured on the stream's clock against ingest's, never the worker's: a worker behind its stream is
# harmless (the messages are stored already, a tick lands after them), and clocks seconds apart only delay ticks.
LATE_S = 5.0
LATE_QUIET_S = 2.0
_SEQ = struct.Struct(">Q")
YIELD_EVERY = 200  # homes worked on between two turns of the loop (a summary is ~0.5 ms: 0.1 s at most)
REGISTRY_WAIT_S = 10.0  # how long a partition taken waits for the registry's word on its homes before consuming


async def off_loop(fn: Callable[..., _R], *args: Any) -> _R:
    """`fn(*args)` in a daemon thread: a database that never answers must hold neither the loop nor the exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_R] = loop.create_future()

    def settle(result: _R | None, err: BaseException | None) -> None:
        if done.done():
            return  # (cancelled: nobody waits any more)
        if err is not None:
            done.set_exception(err)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, err = fn(*args), None
        except BaseException as e:  # handed to the awaiting coroutine
            result, err = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, result, err)

    threading.Thread(target=run, name=f"off-loop-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await done


class Stale(Exception):
    """Another worker wrote a newer state of a home of ours: we lost the partition."""


def pack(seq: int, monitor: HomeMonitor) -> bytes:
    """A home's checkpoint: the stream sequence of its last event, then its frozen state."""
    return _SEQ.pack(seq) + freeze(monitor)


def unpack(blob: bytes) -> tuple[int, HomeMonitor]:
    """The checkpoint back from `pack`."""
    return _SEQ.unpack_from(blob)[0], thaw(blob[_SEQ.size :])


@dataclass
class Unsaved:
    """A partition's events processed and their findings published, waiting for their homes' checkpoint and ack."""

    msgs: list[Msg] = field(default_factory=list)
    homes: set[str] = field(default_factory=set)
    since: float = 0.0


@dataclass
class HomeState:
    """Where a home's state stands: the last event in it and the KV revision it was read or written at."""

    seq: int = 0
    rev: int = 0


def _same_consumer(have: ConsumerConfig, want: ConsumerConfig) -> bool:
    """Whether an existing consumer is a pull consumer that delivers, waits for acks and is replicated as `want` would
    be (where it starts aside): one kept at R1 after `replicas` went to 3 would stall while its one node is down."""
    fields = ("filter_subject", "ack_policy", "ack_wait", "max_ack_pending", "num_replicas")
    return have.deliver_subject is None and all(getattr(have, f) == getattr(want, f) for f in fields)


class Worker:
    """Leases partitions, consumes them in order, checkpoints homes with compare-and-set, publishes findings."""

    def __init__(self, settings: AnomalySettings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.nats = settings.nats
        opts = settings.anomaly
        self.id = worker_id or f"{opts.client_id}-{socket.gethostname()}-{os.getpid()}"
        configured = {h: s.limits() for h, s in opts.homes.items()}
        self.engine = Engine(opts.engine_options(), configured)
        self.registry = Registry(self.engine, settings.database.url, configured)
        self.homes: dict[str, HomeState] = {}
        self.parts: dict[int, set[str]] = {}  # partition -> its homes in `homes`, for the clock
        self._preloaded: set[int] = set()  # partitions whose checkpointed homes were all read since we took them
        self.clock = Clock()
        self.late: dict[str, float] = {}  # home -> when (monotonic) its last late message came (see LATE_S)
        self.owned: dict[int, tuple[int, asyncio.Task[None]]] = {}  # partition -> (lease revision, consumer task)
        self.counts = {
            "processed": 0,
            "skipped": 0,
            "invalid": 0,
            "findings": 0,
            "ticks": 0,
            "takeovers": 0,
            "stale": 0,
            "feedback": 0,  # verdicts the feedback bridge stored (while we run it)
            "feedback_invalid": 0,  # ... and dropped as invalid
        }
        self._js: JetStreamContext | None = None
        self._state: KeyValue | None = None
        self._leases: KeyValue | None = None
        self._bridge: asyncio.Task[None] | None = None  # the feedback bridge, while we hold its partition
        self._covered: set[int] = set()  # partitions whose homes the registry's last read covered, in full
        self._read_homes: dict[int, set[str]] = {}  # partition -> homes the registry's word was applied to
        self._held_since: dict[int, int] = {}  # partition -> which taking of it this is (a read spans no retaking)
        self._takes = 0
        self._renewed: dict[int, float] = {}  # partition -> when (monotonic) its lease was last written
        self._floors: dict[int, int] = {}  # partition -> its consumer's ack floor, as last read
        self._read_now = asyncio.Event()  # a partition was taken: read the registry now, not at the next summary

    # --- leases ------------------------------------------------------------------------------------------------

    async def balance(self) -> None:
        """Announce ourselves, renew our leases, release extras and take free partitions up to our fair share."""
        assert self._leases is not None
        leases = self._leases
        await leases.put(f"w.{self.id}", b"1")
        try:
            keys = await leases.keys()
        except NoKeysError:
            keys = []
        alive = max(1, sum(1 for k in keys if k.startswith("w.")))
        fair = math.ceil(self.nats.partitions / alive)
        for p, (rev, task) in list(self.owned.items()):
            if task.done():  # gave up (stale): forget its homes, let whoever holds the lease have it
                await self.drop(p, release=True)
                continue
            try:
                self.owned[p] = (await leases.update(f"p.{p}", self.id.encode(), last=rev), self.owned[p][1])
                self._renewed[p] = time.monotonic()
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                log.warning("lease of partition %d lost (expired or taken): dropping it", p)
                await self.drop(p, release=False)
        for p in sorted(self.owned, reverse=True)[: max(0, len(self.owned) - fair)]:
            await self.drop(p, release=True)
        taken = {k for k in keys if k.startswith("p.")}
        start = partition(self.id, self.nats.partitions)  # workers try different partitions first
        for i in range(self.nats.partitions):
            if len(self.owned) >= fair:
                break
            p = (start + i) % self.nats.partitions
            if p in self.owned or f"p.{p}" in taken:
                continue
            try:
                rev = await leases.create(f"p.{p}", self.id.encode())
            except KeyWrongLastSequenceError:
                continue
            self._renewed[p] = time.monotonic()
            self._takes += 1
            self._held_since[p] = self._takes
            self.owned[p] = (rev, asyncio.create_task(self.consume(p), name=f"partition-{p}"))

    async def drop(self, p: int, *, release: bool) -> None:
        """Stop consuming partition p, forget its homes (reread from KV if it comes back), release its lease."""
        rev, task = self.owned.pop(p)
        task.cancel()
        # nats-py turns a cancellation inside a request into its own TimeoutError: consume() checks cancelling().
        await asyncio.wait({task}, timeout=10)
        self._forget(self.parts.pop(p, set()))
        self._preloaded.discard(p)
        self._covered.discard(p)
        self._held_since.pop(p, None)
        self._renewed.pop(p, None)
        self._floors.pop(p, None)
        self.registry.forget(self._read_homes.pop(p, set()))  # (read again if it comes back)
        if release and self._leases is not None:
            with contextlib.suppress(Exception):
                await self._leases.delete(f"p.{p}", last=rev)

    # --- one partition -----------------------------------------------------------------------------------------

    async def _consumer(self, p: int) -> JetStreamContext.PullSubscription:
        """Bind the partition's durable consumer, recreated at its ack floor if anything is in flight on it.

        Events delivered and not acked (a dead owner's batch) would come again only after the ack wait, behind newer
        ones: recreating the consumer at its ack floor delivers them again first, in order. A consumer with nothing
        delivered unacked and no pull waiting is kept as it is: it delivers from its ack floor anyway. Keeping it
        also ends a loop seen while a node was down: a create whose reply timed out (its leader took 5-7 s to
        elect) had landed, and each retry deleted that consumer and created it again, for over a minute.
        """
        assert self._js is not None
        want = self._consumer_config(p, 0)
        js, stream, durable = self._js, self.nats.events_stream, want.durable_name
        assert durable is not None
        keep = False
        try:
            info = await js.consumer_info(stream, durable)
            self._floors[p] = info.ack_floor.stream_seq if info.ack_floor else 0
            keep = not info.num_ack_pending and not info.num_waiting and _same_consumer(info.config, want)
            if not keep:
                await js.delete_consumer(stream, durable)
        except NotFoundError:  # (or deleted by our last try, whose create then failed: the floor read then holds)
            pass
        floor = self._floors.get(p, 0)
        if not keep:
            await js.add_consumer(stream, self._consumer_config(p, floor))
        self.counts["takeovers"] += 1
        known = 0
        if p not in self._preloaded:  # once per ownership: a retry's forgotten homes come back with their messages
            known = await self._preload(p)
            self._preloaded.add(p)
        how = "kept" if keep else "taken"
        log.info("partition %d %s from stream sequence %d, %d checkpointed homes read", p, how, floor + 1, known)
        return await js.pull_subscribe_bind(durable, stream)

    def _consumer_config(self, p: int, floor: int) -> ConsumerConfig:
        """Partition p's durable consumer, delivering from the stream sequence after `floor` (0: from the start)."""
        return ConsumerConfig(
            durable_name=f"anomaly-p{p}",
            filter_subject=partition_filter(p),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=MAX_ACK_PENDING,
            num_replicas=self.nats.replicas,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if floor else DeliverPolicy.ALL,
            opt_start_seq=floor + 1 if floor else None,
        )

    async def _preload(self, p: int) -> int:
        """Read every checkpointed home of partition p: a silent home has no message to bring it in, only ticks.

        The keys are the bucket stream's subjects under `h.<p>.*` (one page: up to 100k homes a partition), not a KV
        watch: nats-py's watch can signal its end before entries already on their way (seen losing a silent home).
        """
        assert self._js is not None and self._state is not None
        kv, prefix = self._state, f"$KV.{self.nats.state_bucket}."
        info = await self._js.stream_info(f"KV_{self.nats.state_bucket}", subjects_filter=prefix + state_filter(p))
        keys = [s[len(prefix) :] for s in info.state.subjects or {}]
        keys = [k for k in keys if k.split(".", 2)[2] not in self.homes]

        async def get(key: str) -> KeyValue.Entry | None:
            with contextlib.suppress(KeyNotFoundError):  # deleted since
                return await kv.get(key)
            return None

        n = 0
        for i in range(0, len(keys), 64):
            for key, entry in zip(keys[i : i + 64], await asyncio.gather(*map(get, keys[i : i + 64])), strict=True):
                if entry is not None:
                    self._adopt(key.split(".", 2)[2], entry)
                    n += 1
        return n

    async def consume(self, p: int) -> None:
        """Fetch and commit batches of partition p until cancelled; errors (a node died) are retried."""
        sub = None
        delay = 0.2
        me = asyncio.current_task()
        unsaved = Unsaved()
        ticked = time.monotonic()
        waited = False  # for the registry, once: a retry that waits again only delays detection (it asks again)
        while me is None or not me.cancelling():
            try:
                if sub is None:
                    if p not in self._covered:
                        await self._registry_ready(p, wait=not waited)
                        waited = True
                    sub = await self._consumer(p)
                try:
                    msgs = await sub.fetch(BATCH, timeout=1.0)
                except (NatsTimeout, TimeoutError):  # nothing new in a second (or cancelled: the loop checks)
                    await self.flush(unsaved, due_only=True)
                    ticked = time.monotonic()
                    await self.tick(p)
                    continue
                await self.commit(msgs, unsaved)
                if me is not None and me.cancelling():  # dropped: not ours to tick
                    return
                # A full batch: the partition is behind (a takeover's replay, a burst) and so are its homes' clocks;
                # ticking them from that state would only publish ticks the backlog makes moot. Still, now and then.
                if len(msgs) < BATCH or time.monotonic() - ticked > TICK_BEHIND_S:
                    ticked = time.monotonic()
                    await self.tick(p)
                delay = 0.2
            except Stale:
                self.counts["stale"] += 1
                log.error("partition %d: a newer checkpoint exists (another worker owns it): giving it up", p)
                return  # the next lease round drops the partition
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the cluster is electing a leader or a node died: try again
                if me is not None and me.cancelling():
                    return
                log.warning("partition %d: %s: %s; retrying in %.1fs", p, type(err).__name__, err, delay)
                # Events are acked only once checkpointed, so unsaved ones are still pending: the consumer is then
                # recreated at its ack floor and they come again, so their homes' unsaved state is forgotten (else
                # they would be skipped as processed).
                self._forget(unsaved.homes)
                unsaved = Unsaved()
                sub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _home(self, home: str) -> HomeState:
        """A home's state: cached, else its checkpoint from KV (installed in the engine), else fresh."""
        st = self.homes.get(home)
        if st is not None:
            return st
        assert self._state is not None
        try:
            entry = await self._state.get(state_key(home, self.nats.partitions))
        except KeyNotFoundError:
            return self._adopt(home, None)
        return self._adopt(home, entry)

    def _adopt(self, home: str, entry: KeyValue.Entry | None) -> HomeState:
        """Hold a home from its checkpoint (installed in the engine); fresh without one, or when it is unreadable."""
        if entry is None:
            st = HomeState()
        else:
            try:
                seq, monitor = unpack(entry.value or b"")
            except Exception as err:  # an older engine's checkpoint (StaleCheckpoint) or a damaged one
                # Start the home afresh but keep the revision, so our next write replaces it (compare-and-set).
                log.warning("home %s: checkpoint unreadable (%s): starting it afresh", home, err)
                self.engine.homes.pop(home, None)
                st = HomeState(0, entry.revision or 0)
            else:
                # Under the registry's word now, not the checkpoint's; while it could not be read, the checkpoint's
                # limits (the last word a worker had) stand rather than the TOML's.
                covered = partition(home, self.nats.partitions) in self._covered
                self.engine.install(home, monitor, limits=covered)
                st = HomeState(seq, entry.revision or 0)
        self.homes[home] = st
        self.parts.setdefault(partition(home, self.nats.partitions), set()).add(home)
        return st

    async def _apply(self, msg: Msg, findings: list[Finding], touched: set[str], dirty: set[str]) -> None:
        """Run one partition message through its home (unless its checkpoint has it already), collecting findings.

        `touched`: homes read (forgotten if the batch fails); `dirty`: homes whose state changed (to checkpoint).
        """
        seq = msg.metadata.sequence.stream
        try:
            pm = PartitionMessage.of(msg.subject, msg.headers, msg.data)
        except ContractError as err:  # not ours to run (an unknown kind, a bad time): count and skip
            self.counts["invalid"] += 1
            log.warning("partition message %d skipped: %s", seq, err)
            return
        if pm.kind != TICK and pm.at is not None and msg.metadata.timestamp.timestamp() - pm.at > LATE_S:
            self.late[pm.home] = time.monotonic()  # (see LATE_S)
        touched.add(pm.home)  # before the read: a failed read forgets the home too
        st = await self._home(pm.home)
        if seq <= st.seq:  # already in the home's checkpoint: its findings went out before
            self.counts["skipped"] += 1
            return
        if not quiet(self.engine, pm):
            dirty.add(pm.home)
        try:
            findings.extend(apply(self.engine, pm))
        except ContractError as err:  # ingest validated it; count and skip what does not parse
            self.counts["invalid"] += 1
            log.warning("partition message %d of %s skipped: %s", seq, pm.home, err.reason)
        except Exception:
            log.exception("home %s: message %d failed; other homes go on", pm.home, seq)
        if pm.kind == TICK and pm.at is not None:
            self.clock.seen(pm.home, pm.at)
        st.seq = seq
        self.counts["processed"] += 1

    def _forget(self, homes: Iterable[str]) -> None:
        """Drop homes' in-memory state: the next message reads their checkpoint again."""
        homes = list(homes)
        for home in homes:
            self.homes.pop(home, None)
            self.engine.homes.pop(home, None)
            self.parts.get(partition(home, self.nats.partitions), set()).discard(home)
        self.clock.forget(homes)
        for home in homes:
            self.late.pop(home, None)

    async def tick(self, p: int) -> None:
        """Publish a tick into partition p for each of its homes whose next check passed on the wall clock.

        The tick runs when it comes back through the partition, in order with the home's other messages, at the due
        time it carries (anomaly/ticks.py). A publish that fails is published again by a later round.
        """
        engine = self.engine.homes
        homes = [(h, engine[h]) for h in self.parts.get(p, ()) if h in engine and not self._in_late_burst(h)]
        due = self.clock.due(homes, time.time(), time.monotonic())
        if not due:
            return
        assert self._js is not None
        js, parts, timeout = self._js, self.nats.partitions, self.nats.ack_timeout_s
        sent = await asyncio.gather(
            *(
                js.publish(
                    control_subject(h, parts, TICK),
                    b"",
                    timeout=timeout,
                    headers={MSG_ID: tick_msg_id(h, d), KIND: TICK, AT: repr(d)},
                )
                for h, d in due
            ),
            return_exceptions=True,
        )
        mono = time.monotonic()
        for (h, d), result in zip(due, sent, strict=True):
            if isinstance(result, BaseException):
                log.debug("tick of %s not published: %s", h, result)
                continue
            self.clock.sent(h, d, mono)
            self.counts["ticks"] += 1

    def _in_late_burst(self, home: str) -> bool:
        """Whether a late burst of the home's messages may still be coming in (see LATE_S)."""
        at = self.late.get(home)
        if at is None:
            return False
        if time.monotonic() - at < LATE_QUIET_S:
            return True
        del self.late[home]
        return False

    async def commit(self, msgs: list[Msg], unsaved: Unsaved) -> None:
        """Process a batch in order and publish its findings; checkpoint and ack (with earlier batches) when due."""
        findings: list[Finding] = []
        touched: set[str] = set()
        dirty: set[str] = set()
        try:
            for msg in msgs:
                await self._apply(msg, findings, touched, dirty)
        except BaseException:
            # A state could not be read (KV away): forget what this batch changed, so the homes are read again from
            # their checkpoints and the events (not acked) come again from the consumer, recreated at its ack floor.
            self._forget(touched)
            raise
        me = asyncio.current_task()
        if me is not None and me.cancelling():  # dropped: the next owner processes these events again
            return
        await self._retry("publish findings", lambda: self._publish(findings))
        self.counts["findings"] += len(findings)
        if not unsaved.msgs:
            unsaved.since = time.monotonic()
        unsaved.msgs.extend(msgs)
        unsaved.homes |= dirty
        await self.flush(unsaved, due_only=True)

    async def flush(self, unsaved: Unsaved, *, due_only: bool) -> None:
        """Checkpoint the homes of the unsaved events (compare-and-set), then ack the events."""
        if not unsaved.msgs:
            return
        full = len(unsaved.msgs) >= MAX_ACK_PENDING * 4 // 5
        if due_only and not full and time.monotonic() - unsaved.since < self.nats.worker_checkpoint_s:
            return
        await self._retry("checkpoint", lambda: self._checkpoint(unsaved.homes))
        for msg in unsaved.msgs:
            await msg.ack()
        unsaved.msgs, unsaved.homes = [], set()

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        """Retry until it works: the batch is already applied in memory, so it must be persisted, not redone."""
        delay = 0.2
        while True:
            try:
                await attempt()
                return
            except Stale:
                raise
            except Exception as err:  # a node died mid-request: same ids, same revisions, so retrying is safe
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError from err
                log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(err).__name__, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _publish(self, findings: list[Finding]) -> None:
        assert self._js is not None
        js, timeout = self._js, self.nats.ack_timeout_s
        for f in findings:
            log.info("finding %s for %s (%s)", f.kind, f.home, f.severity)
        await asyncio.gather(
            *(js.publish(findings_subject(f.home), dump(f), timeout=timeout, headers={MSG_ID: f.id}) for f in findings)
        )

    async def _checkpoint(self, homes: set[str]) -> None:
        assert self._state is not None
        kv = self._state

        async def one(home: str) -> None:
            st = self.homes[home]
            blob = pack(st.seq, self.engine.homes[home])
            key = state_key(home, self.nats.partitions)
            try:
                if st.rev:
                    st.rev = await kv.update(key, blob, last=st.rev)
                else:
                    st.rev = await kv.create(key, blob)
            except KeyWrongLastSequenceError as err:
                raise Stale(home) from err

        pending = sorted(homes)
        await asyncio.gather(*(one(h) for h in pending))

    # --- the loop ----------------------------------------------------------------------------------------------

    async def routine(self) -> None:
        """Read the registry's word on the homes of our partitions into the engine, then write our homes' summaries."""
        await self.read_registry()
        at = datetime.now(UTC)
        await self.write_summaries(await self.summaries(), at)

    async def read_registry(self) -> None:
        """The registry's word on the homes of the partitions we hold (anomaly/registry.py), as the service reads it.

        Read in a thread (with each home's partition worked out there); applied here on the loop a few hundred homes
        at a time, so between two of a home's messages and never holding up the leases. A partition counts as covered
        only when every part was read and it was held throughout; a database problem is logged and leaves every home
        as it was.
        """
        held = dict(self._held_since)
        word, by_partition = await off_loop(self._read_for, frozenset(held))
        for i, _ in enumerate(self.registry.steps(word)):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        kept = {p for p, take in held.items() if self._held_since.get(p) == take}  # (not dropped nor retaken since)
        for p in kept:
            self._read_homes.setdefault(p, set()).update(by_partition.get(p, ()))
        if word.complete():
            self._covered |= kept

    def _read_for(self, owned: frozenset[int]) -> tuple[Word, dict[int, set[str]]]:
        """(In a thread.) The registry's word on the homes of `owned`, and those homes by partition."""
        parts = self.nats.partitions
        where: dict[str, int] = {}

        def keep(home: str) -> bool:
            p = where.get(home)
            if p is None:
                p = where[home] = partition(home, parts)
            return p in owned

        word = self.registry.read(keep)
        by_partition: dict[int, set[str]] = {}
        for home, p in where.items():
            if p in owned:
                by_partition.setdefault(p, set()).add(home)
        return word, by_partition

    async def summaries(self) -> dict[str, dict[str, Any]]:
        """The routine summaries of the homes we hold, worked out a few hundred at a time."""
        held = self.engine.homes
        homes = list(self.homes)
        rows: dict[str, dict[str, Any]] = {}
        for i in range(0, len(homes), YIELD_EVERY):
            rows |= summary_rows({h: held[h] for h in homes[i : i + YIELD_EVERY] if h in held})
            await asyncio.sleep(0)
        return rows

    async def write_summaries(self, rows: dict[str, dict[str, Any]], at: datetime) -> None:
        """Upsert routine summaries worked out at `at` for the console; a database problem is logged."""
        if not rows:
            return
        try:
            await off_loop(write_summaries, self.settings.database.url, rows, at)
        except Exception as err:
            log.warning("routine summaries not written: %s: %s", type(err).__name__, err)

    async def _registry_ready(self, p: int, wait: bool = True) -> None:
        """Before consuming partition p, let the registry's word on its homes be read (bounded: detection goes on)."""
        self._read_now.set()
        deadline = time.monotonic() + (REGISTRY_WAIT_S if wait else 0.0)
        while p not in self._covered and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _run_bridge(self) -> None:
        """Run the feedback bridge while we hold its partition's lease (one per cluster: anomaly/feedback_bridge.py)."""
        # Held and renewed within lease_s: a worker cut off from NATS keeps partition 0 in `owned` until a round
        # succeeds, while another takes its lease and starts the bridge under the same client id.
        fresh = time.monotonic() - self._renewed.get(BRIDGE_PARTITION, -math.inf) < self.nats.lease_s
        want = self.nats.feedback_from_mqtt and BRIDGE_PARTITION in self.owned and fresh
        running = self._bridge is not None and not self._bridge.done()
        if want and not running:
            assert self._js is not None
            client_id = BRIDGE_CLIENT_ID.format(stream=self.nats.events_stream)  # the session follows the lease
            bridge = FeedbackBridge(self._js, self.nats, self.settings.mqtt, client_id, self.counts)
            self._bridge = asyncio.create_task(bridge.run(), name="feedback-bridge")
        elif running and not want:
            assert self._bridge is not None
            self._bridge.cancel()

    async def _routines(self) -> None:
        """`routine` every `summary_s`; the registry alone also as soon as a partition is taken."""
        next_summary = time.monotonic() + self.settings.anomaly.summary_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._read_now.wait(), max(0.0, next_summary - time.monotonic()))
            self._read_now.clear()
            try:
                if time.monotonic() >= next_summary:
                    next_summary = time.monotonic() + self.settings.anomaly.summary_s
                    await self.routine()
                else:
                    await self.read_registry()
            except Exception as err:  # (each part logs its own; this is anything else)
                log.warning("routine failed: %s: %s", type(err).__name__, err)

    async def open(self) -> Client:
        """Connect, create the streams and buckets if missing, and open the buckets."""
        nc = await connect(self.nats, self.id)
        self._js = nc.jetstream(timeout=self.nats.ack_timeout_s)
        await ensure_bus(self._js, self.nats)
        self._state = await self._bucket(self.nats.state_bucket)
        self._leases = await self._bucket(self.nats.lease_bucket)
        return nc

    async def _bucket(self, name: str) -> KeyValue:
        """Open a bucket ensure_bus made: one just created (here or by a worker starting beside us) is replicated
        to three nodes and may not be found for a moment (a demo's two workers raced and one exited)."""
        assert self._js is not None
        for wait in (0.1, 0.2, 0.4, 0.8, 1.6, 3.2):
            try:
                return await self._js.key_value(name)
            except BucketNotFoundError:
                log.info("bucket %s not found yet; again in %.1fs", name, wait)
                await asyncio.sleep(wait)
        return await self._js.key_value(name)

    async def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set; then release our leases so the others take over at once."""
        nc = await self.open()
        log.info("anomaly worker %s running on %s", self.id, ", ".join(self.nats.servers))
        assert self._js is not None
        tasks = [asyncio.create_task(self._routines(), name="routines")]  # (apart: leases never wait on SQL)
        if self.nats.findings_to_mqtt:  # until alerts consumes JetStream itself (docs/scale.md)
            relayer = FindingsRelay(self._js, self.nats, self.settings.mqtt, f"{self.id}-relay")
            tasks.append(asyncio.create_task(relayer.run(), name="findings-relay"))
        period, report = self.nats.lease_s / 3, 0.0
        try:
            while not stop.is_set():
                try:
                    await self.balance()
                except Exception as err:  # the lease bucket is electing a leader: our leases hold for lease_s
                    log.warning("lease round failed: %s: %s", type(err).__name__, err)
                self._run_bridge()
                report += period
                if report >= 10:
                    report = 0.0
                    log.info("worker %s: partitions %s, counts %s", self.id, sorted(self.owned), self.counts)
                await asyncio.sleep(period)
        finally:
            if self._bridge is not None:
                tasks.append(self._bridge)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            rows: dict[str, dict[str, Any]] = {}
            at = datetime.now(UTC)
            try:
                rows = await self.summaries()  # (worked out before our homes go with their partitions)
            except Exception as err:  # never in the way of releasing the leases
                log.warning("last routine summaries not worked out: %s: %s", type(err).__name__, err)
            for p in list(self.owned):
                await self.drop(p, release=True)  # first: the others take over at once
            with contextlib.suppress(Exception):  # a last summary, as the service writes on stop; never holds it
                await asyncio.wait_for(self.write_summaries(rows, at), timeout=5)
            await nc.close()  # not drain: unacked events are redelivered anyway, and drain waits up to 30 s


def run_worker(settings: AnomalySettings, stop: threading.Event) -> None:
    """Entry point of `anxin anomaly` with `bus = "nats"`."""
    asyncio.run(Worker(settings).run(stop))
