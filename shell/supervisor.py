"""Keep child processes running: restart with backoff, stop them all cleanly, die with the parent, one per folder."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# From <linux/prctl.h>: deliver a signal to this process when the thread that forked it exits.
_PR_SET_PDEATHSIG = 1


class Child(Protocol):
    """What the supervisor needs of a child: its name, log, process, and a way to start it again."""

    name: str
    log: Path
    proc: subprocess.Popen[bytes] | None
    started_at: float  # time.monotonic() of the last spawn

    def running(self) -> bool:
        """Whether the process is alive."""

    def spawn(self) -> None:
        """Start the process again, without waiting for it to be ready."""


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that makes Linux send `sig` to the child when this process dies (even by SIGKILL).

    Built in the parent: libc is loaded and the parent's pid read before the fork, so the child only calls prctl.
    The signal follows the *thread* that started the child, so start children from the main thread. None off Linux.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def _preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect: nobody would ever stop us
            os.kill(os.getpid(), sig)

    return _preexec


def describe_exit(returncode: int | None) -> str:
    """'was killed by SIGKILL' or 'exited with code 1'."""
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Backoff:
    """Restart delays: first_s, doubling to max_s while a child keeps crashing; reset once it ran reset_after_s."""

    first_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0
    _next: float = 0.0

    def delay(self, ran_s: float) -> float:
        """The wait before restarting a child that ran `ran_s` seconds before it died."""
        if self._next <= 0 or ran_s >= self.reset_after_s:
            self._next = self.first_s
        current = self._next
        self._next = min(current * 2, self.max_s)
        return current


@dataclass
class _Watched:
    child: Child
    backoff: Backoff
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    """Restarts dead children with backoff and says so, one line per death, through `say`."""

    say: Callable[[str], None]
    backoff: Callable[[], Backoff] = Backoff
    clock: Callable[[], float] = time.monotonic
    _watched: list[_Watched] = field(default_factory=list)

    def watch(self, child: Child) -> None:
        """Supervise a child that is running now."""
        self._watched.append(_Watched(child, self.backoff()))

    def restarts(self, name: str) -> int:
        """How often the child of that name was restarted."""
        return sum(w.restarts for w in self._watched if w.child.name == name)

    def poll(self) -> None:
        """Notice deaths and schedule restarts; restart the children whose delay is over. Call every ~0.5 s."""
        now = self.clock()
        for w in self._watched:
            if w.restart_at is None:
                if not w.child.running():
                    self._schedule(w, now)
            elif now >= w.restart_at:
                self._restart(w, now)

    def _schedule(self, w: _Watched, now: float) -> None:
        ran = now - w.child.started_at
        delay = w.backoff.delay(ran)
        w.restart_at = now + delay
        code = w.child.proc.returncode if w.child.proc else None
        self.say(
            f"{w.child.name} {describe_exit(code)} after {ran:.0f} s; restarting in {delay:.0f} s (log: {w.child.log})"
        )

    def _restart(self, w: _Watched, now: float) -> None:
        w.restart_at = None
        try:
            w.child.spawn()
        except OSError as err:  # e.g. the binary vanished: counts as a crash, retried with the longer delay
            w.child.started_at = now
            self.say(f"{w.child.name} could not be started: {err}")
            return
        w.restarts += 1
        pid = w.child.proc.pid if w.child.proc else "?"
        self.say(f"{w.child.name} restarted (pid {pid}, restart {w.restarts})")


def stop_all(children: Iterable[Child], timeout: float) -> None:
    """SIGTERM every child at once, wait up to `timeout` seconds in total, then SIGKILL what is left."""
    procs = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class FolderBusy(Exception):
    """Another process holds the folder's lock; `pid` is what it wrote there, if readable."""

    def __init__(self, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is locked by pid {pid}")
        self.path, self.pid = path, pid


def lock_folder(path: Path) -> int:
    """Take an exclusive flock on `path` (created 0600) and write our pid there; returns the fd to keep open.

    The kernel releases the lock when the process dies, however it dies, so a stale file never blocks a new start.
    The fd is not inherited by children (Python opens it close-on-exec), so an orphan cannot hold it either.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise FolderBusy(path, int(text) if text.isdigit() else None) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
