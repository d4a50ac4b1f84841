"""The spill (order, durability across reopen, torn tails, bound and alarm) and the MQTT packet parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.mqttlink import _U16, Message, _packet, _utf8, parse_packets, puback_packets
from ingest.spill import Spill, SpillFull


def _lines(start: int, n: int) -> list[str]:
    return [f"m,t=a v={i}i {i}" for i in range(start, start + n)]


def test_spill_replays_in_order_and_resumes_after_reopen(tmp_path: Path) -> None:
    s = Spill(tmp_path, max_bytes=1 << 20, segment_bytes=200)  # tiny segments: several files
    for k in range(5):
        s.append(_lines(k * 10, 10))
    assert s.events == 50 and len(list(tmp_path.glob("*.spill"))) > 1
    first = s.peek()
    assert first is not None and first.lines == _lines(0, 10)
    s.commit(first)
    s.close()
    s = Spill(tmp_path, max_bytes=1 << 20, segment_bytes=200)  # a restart: the cursor survives
    assert s.events == 40
    got = []
    while (r := s.peek()) is not None:
        got += r.lines
        s.commit(r)
    assert got == [line for k in range(1, 5) for line in _lines(k * 10, 10)]
    assert s.empty() and not list(tmp_path.glob("*.spill"))
    s.append(_lines(100, 3))  # usable again after draining
    r = s.peek()
    assert r is not None and r.lines == _lines(100, 3)


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    s = Spill(tmp_path, max_bytes=1 << 20)
    s.append(_lines(0, 5))
    s.append(_lines(5, 5))
    s.close()
    seg = next(tmp_path.glob("*.spill"))
    data = seg.read_bytes()
    seg.write_bytes(data[:-3])  # a crash in the middle of the second append
    s = Spill(tmp_path, max_bytes=1 << 20)
    assert s.events == 5
    r = s.peek()
    assert r is not None and r.lines == _lines(0, 5)
    s.commit(r)
    assert s.peek() is None


def test_bound_and_alarm(tmp_path: Path) -> None:
    s = Spill(tmp_path, max_bytes=1 << 16, alarm_fraction=0.5)
    assert not s.alarm
    with pytest.raises(SpillFull):
        for k in range(10_000):
            s.append([f'm,t=a v={k * 7919 % 1000003}i,x="{k * 104729}" {k}'] * 20)
    assert s.alarm and s.bytes_used <= 1 << 16
    while (r := s.peek()) is not None:
        s.commit(r)
    assert not s.alarm and s.bytes_used == 0


def test_parse_packets_handles_split_reads() -> None:
    def publish(topic: str, pid: int, payload: bytes) -> bytes:
        return _packet(0x32, _utf8(topic) + _U16.pack(pid) + b"\x00" + payload)

    stream = publish("a/b", 1, b"x" * 300) + b"\xd0\x00" + publish("c", 2, b"{}") + publish("d", 3, b"y" * 20000)
    buf = bytearray()
    msgs: list[Message] = []
    others = []
    for i in range(0, len(stream), 7):  # worst case: tiny reads, varints and headers split
        buf += stream[i : i + 7]
        others += parse_packets(buf, 1, msgs)
    assert [(m.topic, m.pid, len(m.payload)) for m in msgs] == [("a/b", 1, 300), ("c", 2, 2), ("d", 3, 20000)]
    assert others == [(0xD0, b"")] and not buf
    assert puback_packets([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
