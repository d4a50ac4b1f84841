"""The pipelined service: validation runs ahead, but every ack follows its batch's write, in arrival order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.ingest_bench import make_events
from ingest.config import IngestOptions, IngestSettings
from ingest.mqttlink import Message
from ingest.service import IngestService
from ingest.writer import WriteError


class _SlowWriter:
    api = "test"

    def __init__(self, fail_first: int = 0) -> None:
        self.written: list[str] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def write(self, lines: list[str]) -> None:
        time.sleep(0.01)  # long enough for the validator to run ahead
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                raise WriteError("down", retryable=True)
            self.written += lines

    def close(self) -> None:
        pass


def _service(tmp_path: Path, writer: _SlowWriter) -> tuple[IngestService, list[list[int]]]:
    settings = IngestSettings(
        state_dir=tmp_path,
        ingest=IngestOptions(check_homes=False, metrics_port=None, batch_size=50, batch_interval_s=0.01),
    )
    svc = IngestService(settings)
    svc._writer = writer
    acked: list[list[int]] = []

    def ack(msgs: list[Message]) -> int:
        seqs = [int(m.payload.split(b'"seq":')[1].split(b",")[0]) for m in msgs]
        with writer.lock:
            stored = {int(line.split(",seq=")[1].split("i")[0]) for line in writer.written}
        assert set(seqs) <= stored or svc.spill.events, "acknowledged before stored or spilled"
        acked.append(seqs)
        return len(msgs)

    svc.link.ack = ack  # type: ignore[method-assign]
    return svc, acked


def _run(svc: IngestService, n: int) -> None:
    items = make_events(["h-aaaaaa"], n)
    stop = threading.Event()
    worker = threading.Thread(target=svc._worker, args=(stop,))
    worker.start()
    for i in range(0, n, 7):
        svc._deliver([Message(t, p, 1, k % 65535 + 1, 1) for k, (t, p) in enumerate(items[i : i + 7], start=i)])
    deadline = time.monotonic() + 20
    while svc.metrics.acked._value.get() < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    svc._inbox_ready.set()
    worker.join(10)
    assert not worker.is_alive()


def test_acks_follow_writes_in_arrival_order(tmp_path: Path) -> None:
    writer = _SlowWriter()
    svc, acked = _service(tmp_path, writer)
    _run(svc, 1000)
    flat = [s for batch in acked for s in batch]
    assert flat == list(range(1, 1001))
    assert len(writer.written) == 1000 and len(acked) > 5


def test_spilled_batches_keep_order_and_are_acked(tmp_path: Path) -> None:
    writer = _SlowWriter(fail_first=1)
    svc, acked = _service(tmp_path, writer)
    _run(svc, 500)
    assert [s for batch in acked for s in batch] == list(range(1, 501))
    # The first batch went to the spill, and every later one followed it there while it was not drained.
    record = svc.spill.peek()
    assert record is not None and int(record.lines[0].split(",seq=")[1].split("i")[0]) == 1
    spilled = []
    while (record := svc.spill.peek()) is not None:
        spilled += [int(x.split(",seq=")[1].split("i")[0]) for x in record.lines]
        svc.spill.commit(record)
    assert spilled + [int(x.split(",seq=")[1].split("i")[0]) for x in writer.written] == list(range(1, 501))
    svc.spill.close()
