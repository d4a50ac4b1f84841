"""Real processes from tests: children of a pid, alive or not, /healthz as JSON, a service run as a child."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from anxin import procfs


def rss_kib(pid: int) -> int:
    """A process's resident memory, KiB, from /proc; a process gone (or a zombie) fails the test."""
    kib = procfs.rss_kib(pid)
    if kib is None:
        raise AssertionError(f"no VmRSS for pid {pid}")
    return kib


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a reaper (a container's pid 1 may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> dict[str, int]:
    """Live direct children by name: `anxin X` is X, anything else its program's name (mosquitto, influxd)."""
    out: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if int(fields[1]) != pid or fields[0] == "Z" or not argv:
            continue
        name = argv[argv.index("anxin") + 1] if "anxin" in argv[:-1] else Path(argv[0]).name
        out[name] = int(proc.name)
    return out


def get_health(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a /healthz; (0, {}) while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}


class ChildProcess:
    """What every service fixture does with its process; subclasses start `proc` and name their log file."""

    log_name = "service.log"
    proc: subprocess.Popen[bytes] | None = None
    state: Path

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final checkpoint or acknowledgement, no lease released."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait (SIGCONT first, in case a test stopped it; SIGKILL if it hangs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        """Its log so far, for assertion messages."""
        return (self.state / self.log_name).read_text(errors="replace")[-4000:]
