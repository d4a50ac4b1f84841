"""What Linux's /proc says of a process: its resident memory (benchmarks, the simulator's load and tests read it)."""

from __future__ import annotations

from pathlib import Path


def rss_kib(pid: int | str = "self") -> int | None:
    """A process's resident memory in KiB (`VmRSS`); None when it is gone or has none (a zombie)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
