"""Delivery bookkeeping of the anomaly service: broker acknowledgements of findings, messages seen, health figures."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DIGEST_BYTES = 8
# Digests kept per home. A redelivery repeats at most the messages not yet acknowledged, which are the newest few of
# a home (one batch); 64 is far more than one home sends in a batch.
SEEN_PER_HOME = 64


def digest(topic: str, payload: bytes) -> bytes:
    """A short fingerprint of one message: a redelivery carries the same topic and the same bytes."""
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=DIGEST_BYTES).digest()


class Seen:
    """The last messages processed per home, so a message the broker redelivers is not fed to the engine twice."""

    def __init__(self) -> None:
        self._rings: dict[str, deque[bytes]] = {}

    def has(self, home: str, d: bytes) -> bool:
        """Whether this message of this home was processed already."""
        ring = self._rings.get(home)
        return ring is not None and d in ring

    def add(self, home: str, d: bytes) -> None:
        """Remember one processed message."""
        ring = self._rings.get(home)
        if ring is None:
            ring = self._rings[home] = deque(maxlen=SEEN_PER_HOME)
        ring.append(d)

    def blob(self, home: str) -> bytes:
        """One home's digests as stored with its checkpoint."""
        return b"".join(self._rings.get(home, ()))

    def load(self, home: str, blob: bytes) -> None:
        """Restore one home's digests from its checkpoint."""
        ring: deque[bytes] = deque(maxlen=SEEN_PER_HOME)
        ring.extend(blob[i : i + DIGEST_BYTES] for i in range(0, len(blob) - DIGEST_BYTES + 1, DIGEST_BYTES))
        self._rings[home] = ring


class PubAcks:
    """Packet ids of our QoS 1 publishes the broker acknowledged (PUBACK), as paho's on_publish reports them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._answered: dict[int, bool] = {}  # mid -> accepted; filled on the network thread
        self.refused = 0

    def on_publish(self, _client: Any, _userdata: Any, mid: int, reason: Any, _props: Any) -> None:
        """paho's on_publish (callback API 2): the broker answered this publish."""
        with self._cond:
            self._answered[mid] = not getattr(reason, "is_failure", False)
            self._cond.notify_all()

    def wait(self, mids: list[int], timeout: float) -> bool:
        """Wait until the broker answered every one of `mids` (they are then forgotten); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(m in self._answered for m in mids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            for m in mids:
                if not self._answered.pop(m):
                    # Refused (not authorised): retrying cannot help, so it is counted and logged, not retried.
                    self.refused += 1
                    log.error("broker refused a finding (packet %d): check the anomaly account's ACL", m)
            return True


@dataclass
class Health:
    """What `STATE_DIR/anomaly/health.json` says about the service; written atomically every few seconds."""

    connected: bool = False
    last_message_at: float | None = None
    findings_published: int = 0
    findings_refused: int = 0
    findings_unconfirmed: int = 0
    acks_pending: int = 0
    acks_stale: int = 0
    redelivered_skipped: int = 0
    checkpoint_ok: bool = True
    checkpoint_failures: int = 0
    checkpoint_failing_since: float | None = None
    checkpoint_last_ok_at: float | None = None
    checkpoints_restored: bool = True
    updated_at: float = 0.0

    def write(self, path: Path) -> bool:
        """Replace the health file; False when it cannot be written (health must not stop detection)."""
        self.updated_at = time.time()
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(asdict(self), sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            return False
        return True
