"""A durable, bounded, ordered spill of line-protocol batches for when InfluxDB is unreachable.

Layout: segment files `NNNNNNNNNNNN.spill` in one folder, each a run of records
`[length u32][count u32][crc32 u32][zlib(lines joined by newline)]`. Appends go to the newest segment and are
fsynced before `append` returns, because the caller acknowledges the events to the broker right after: an event
acknowledged and then lost in a power cut would be lost for good. A torn record at the tail (a crash mid-append) is
cut off on open; its events were never acknowledged, so the broker redelivers them. Replay reads the oldest record
first; the read position is kept in `cursor` without fsync, since replaying a record twice is harmless (writes are
idempotent: same series, same timestamp).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">III")


class SpillFull(RuntimeError):
    """The spill reached its size bound; the caller must stop acknowledging (the broker keeps queueing)."""


@dataclass(frozen=True)
class Record:
    """One spilled batch and where it ends, for `commit`."""

    lines: list[str]
    segment: int
    end: int


class Spill:
    """Append-and-fsync batches; read and commit them back oldest first."""

    def __init__(self, folder: Path, max_bytes: int, alarm_fraction: float = 0.8, segment_bytes: int = 16 << 20):
        self.folder = folder
        self.max_bytes = max_bytes
        self.alarm_bytes = int(max_bytes * alarm_fraction)
        self.segment_bytes = segment_bytes
        self.alarm = False
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(int(p.stem) for p in folder.glob("*.spill") if p.stem.isdigit())
        self._sizes = {n: self._repair(n) for n in self._segments}
        self._read_seg, self._read_pos = self._load_cursor()
        self._events = self._count_events()
        self._fh: int | None = None

    # -- state -------------------------------------------------------------------------------------------------------

    def _path(self, n: int) -> Path:
        return self.folder / f"{n:012d}.spill"

    def _repair(self, n: int) -> int:
        """Cut a torn tail off a segment; returns its valid size."""
        path = self._path(n)
        data = path.read_bytes()
        pos = 0
        while pos + _HEADER.size <= len(data):
            length, _count, crc = _HEADER.unpack_from(data, pos)
            body = data[pos + _HEADER.size : pos + _HEADER.size + length]
            if len(body) < length or zlib.crc32(body) != crc:
                break
            pos += _HEADER.size + length
        if pos != len(data):
            log.warning("spill segment %s: cut %d torn bytes at its end (never acknowledged)", path, len(data) - pos)
            with open(path, "r+b") as fh:
                fh.truncate(pos)
                os.fsync(fh.fileno())
        return pos

    def _load_cursor(self) -> tuple[int, int]:
        try:
            seg, pos = (int(x) for x in (self.folder / "cursor").read_text().split())
        except (OSError, ValueError):
            return (self._segments[0], 0) if self._segments else (0, 0)
        if seg not in self._sizes:
            return (self._segments[0], 0) if self._segments else (0, 0)
        return seg, min(pos, self._sizes[seg])

    def _count_events(self) -> int:
        total = 0
        for n in self._segments:
            if n < self._read_seg:
                continue
            data = self._path(n).read_bytes()[: self._sizes[n]]
            pos = self._read_pos if n == self._read_seg else 0
            while pos + _HEADER.size <= len(data):
                length, count, _crc = _HEADER.unpack_from(data, pos)
                total += count
                pos += _HEADER.size + length
        return total

    @property
    def bytes_used(self) -> int:
        """Bytes on disk not yet replayed."""
        with self._lock:
            return self._bytes_used()

    def _bytes_used(self) -> int:
        return sum(self._sizes.values()) - (self._read_pos if self._read_seg in self._sizes else 0)

    @property
    def events(self) -> int:
        """Events waiting to be replayed."""
        return self._events

    def empty(self) -> bool:
        """Whether nothing waits for replay."""
        return self._events == 0

    # -- append ------------------------------------------------------------------------------------------------------

    def append(self, lines: list[str]) -> None:
        """Store a batch durably (fsync) or raise SpillFull."""
        body = zlib.compress("\n".join(lines).encode(), 1)
        record = _HEADER.pack(len(body), len(lines), zlib.crc32(body)) + body
        with self._lock:
            if self._bytes_used() + len(record) > self.max_bytes:
                raise SpillFull(
                    f"spill in {self.folder} is full ({self._bytes_used()} of {self.max_bytes} bytes): "
                    "not acknowledging until InfluxDB is back; the broker keeps queueing"
                )
            if not self._segments or self._sizes[self._segments[-1]] >= self.segment_bytes:
                self._new_segment()
            elif self._fh is None:
                self._fh = os.open(self._path(self._segments[-1]), os.O_WRONLY | os.O_APPEND)
            assert self._fh is not None
            n = self._segments[-1]
            os.write(self._fh, record)
            os.fsync(self._fh)
            self._sizes[n] += len(record)
            self._events += len(lines)
            self._check_alarm()

    def _new_segment(self) -> None:
        if self._fh is not None:
            os.close(self._fh)
        n = self._segments[-1] + 1 if self._segments else 1
        self._fh = os.open(self._path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        dfd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the new file's name must survive a crash too
        finally:
            os.close(dfd)
        if not self._segments:
            self._read_seg, self._read_pos = n, 0
        self._segments.append(n)
        self._sizes[n] = 0

    def _check_alarm(self) -> None:
        used = self._bytes_used()
        if not self.alarm and used >= self.alarm_bytes:
            self.alarm = True
            log.error(
                "ALARM: ingest spill at %d of %d bytes (%.0f%%): InfluxDB has been unreachable for long; "
                "when full, ingest stops acknowledging and the broker's queue grows",
                used,
                self.max_bytes,
                100 * used / self.max_bytes,
            )
        elif self.alarm and used < self.alarm_bytes * 0.9:
            self.alarm = False
            log.warning("spill back below its alarm level (%d bytes)", used)

    # -- replay ------------------------------------------------------------------------------------------------------

    def peek(self) -> Record | None:
        """The oldest batch not yet replayed, or None."""
        with self._lock:
            while self._read_seg in self._sizes:
                size = self._sizes[self._read_seg]
                if self._read_pos + _HEADER.size <= size:
                    with open(self._path(self._read_seg), "rb") as fh:
                        fh.seek(self._read_pos)
                        length, _count, crc = _HEADER.unpack(fh.read(_HEADER.size))
                        body = fh.read(length)
                    if zlib.crc32(body) != crc:  # cannot happen after _repair unless the disk lies
                        raise OSError(f"spill segment {self._read_seg} is corrupt at {self._read_pos}")
                    lines = zlib.decompress(body).decode().split("\n")
                    return Record(lines, self._read_seg, self._read_pos + _HEADER.size + length)
                if self._read_seg == self._segments[-1]:
                    return None
                self._drop_segment(self._read_seg)
                self._read_seg, self._read_pos = self._segments[0], 0
            return None

    def commit(self, record: Record) -> None:
        """Mark a peeked batch as stored in InfluxDB."""
        with self._lock:
            self._read_seg, self._read_pos = record.segment, record.end
            self._events -= len(record.lines)
            if self._events == 0:
                # Drained: remove every segment so an empty spill is an empty folder.
                for n in list(self._segments):
                    self._drop_segment(n)
                self._read_seg, self._read_pos = 0, 0
                with contextlib.suppress(OSError):
                    (self.folder / "cursor").unlink()
            else:
                (self.folder / "cursor").write_text(f"{self._read_seg} {self._read_pos}\n")
            self._check_alarm()

    def _drop_segment(self, n: int) -> None:
        if n == (self._segments[-1] if self._segments else None) and self._fh is not None:
            os.close(self._fh)
            self._fh = None
        with contextlib.suppress(OSError):
            self._path(n).unlink()
        self._segments.remove(n)
        del self._sizes[n]

    def close(self) -> None:
        """Close the open segment."""
        with self._lock:
            if self._fh is not None:
                os.close(self._fh)
                self._fh = None
