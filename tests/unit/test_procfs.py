"""What /proc says of a process (anxin/procfs.py), read by benchmarks, the simulator's load and tests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from anxin.procfs import rss_kib


def test_resident_memory_of_a_live_process_a_zombie_and_none() -> None:
    own = rss_kib()
    assert own is not None and own > 1024  # this interpreter holds more than a MiB
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while " Z " not in Path(f"/proc/{child.pid}/stat").read_text() and time.monotonic() < deadline:
            time.sleep(0.01)  # exited, not yet reaped: a zombie has a status file but no memory
        assert rss_kib(child.pid) is None
    finally:
        child.wait()
    assert rss_kib(child.pid) is None  # reaped: gone
