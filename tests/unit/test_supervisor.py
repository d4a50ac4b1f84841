"""The demo's supervisor with real processes: backoff, restart after SIGKILL, a folder lock, death with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shell.servers import ManagedProcess
from shell.supervisor import Backoff, FolderBusy, Supervisor, describe_exit, lock_folder, stop_all
from tests.support.processes import alive
from tests.support.waiting import wait_for


def test_backoff_doubles_to_its_ceiling_and_resets_after_a_good_run() -> None:
    b = Backoff(first_s=1, max_s=30, reset_after_s=60)
    assert [b.delay(2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert b.delay(61) == 1 and b.delay(5) == 2


def test_exit_descriptions() -> None:
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"


def test_a_killed_child_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    lines: list[str] = []
    sup = Supervisor(say=lines.append, backoff=lambda: Backoff(first_s=0.2, max_s=1))
    a = ManagedProcess("a", ["sleep", "60"], tmp_path / "a.log")
    b = ManagedProcess("b", ["sleep", "60"], tmp_path / "b.log")
    for p in (a, b):
        p.spawn()
        sup.watch(p)
    assert a.proc and b.proc
    old_a, old_b = a.proc.pid, b.proc.pid
    try:
        a.proc.kill()
        wait_for(lambda: polled(sup) and sup.restarts("a") == 1, timeout=5, what="a restarted")
        assert a.running() and a.proc.pid != old_a and b.proc.pid == old_b and b.running()
        assert lines[0].startswith("a was killed by SIGKILL after 0 s; restarting in 0 s (log: ")
        assert lines[1].startswith("a restarted (pid ")
        a.proc.kill()  # crashing again soon: the delay doubles
        wait_for(lambda: polled(sup) and len(lines) >= 3, timeout=5, what="second death noticed")
        assert "restarting in 0 s" in lines[2]  # 0.4 s, printed rounded
    finally:
        stop_all([a, b], timeout=5)
    assert not a.running() and not b.running()


def test_a_second_lock_on_the_folder_is_refused_until_the_first_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "demo.lock"
    fd = lock_folder(path)
    with pytest.raises(FolderBusy) as busy:
        lock_folder(path)
    assert busy.value.pid == os.getpid()
    os.close(fd)  # what the kernel does when the holder dies
    os.close(lock_folder(path))


PARENT = """
import sys, time
from shell.servers import ManagedProcess
p = ManagedProcess("child", ["sleep", "60"], __import__("pathlib").Path(sys.argv[1]), die_with_parent=True)
p.spawn()
print(p.proc.pid, flush=True)
time.sleep(60)
"""


def test_children_die_with_a_sigkilled_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "c.log")], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not alive(child):
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child outlived its SIGKILLed parent")


def polled(sup: Supervisor) -> bool:
    sup.poll()
    return True
