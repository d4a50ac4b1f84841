"""Finding ids that stay unique across an agent's queue epochs (a re-flashed card starts its seq at 1 again)."""

from __future__ import annotations

import hashlib

from contracts import Finding, SensorEvent

FINDING_ID_MAX = 96  # contracts.Finding.id


def with_epoch(finding: Finding, event: SensorEvent) -> Finding:
    """A button finding's id (panic, help request) names the agent's queue epoch too: after a seq reset (a
    re-flashed card) a new press with an old seq must not share its id with an old finding, which alerts would take
    for a duplicate and never page."""
    kind = str(finding.kind)
    if event.epoch is None or finding.id != f"{event.home}:{kind}:{event.agent}:{event.seq}":
        return finding
    fid = f"{event.home}:{kind}:{event.agent}:{event.epoch}:{event.seq}"
    if len(fid) > FINDING_ID_MAX:
        ref = hashlib.blake2b(f"{event.agent}:{event.epoch}:{event.seq}".encode(), digest_size=12).hexdigest()
        fid = f"{event.home}:{kind}:{ref}"
    return finding.model_copy(update={"id": fid})
