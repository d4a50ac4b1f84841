"""Attacks on the console and the alerts web server (issue 13), each against real servers: a viewer reading secrets
and using them, a 100 MB webhook body, oversized pages and ids, missing browser headers, and log-in lockout abuse."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.replies import verify_link
from alerts.service import process_finding
from alerts.store import LinkMaker
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, SmsOutbox
from anxin.servers import InfluxD, free_port
from console.app import create_app
from tests.support.alerts_fixtures import seed_world
from tests.support.console_fixtures import PASSWORD, Seeded, bearer, console_settings, login, seeded  # noqa: F401
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

MB = 1024 * 1024
# The alerts HTTP app alone, under uvicorn in its own process, so its memory can be read from /proc.
ALERTS_SERVER = """
import sys
import uvicorn
from alerts.config import AlertsOptions, AlertsSettings
from alerts.web.app import create_app
from anxin.db.engine import make_engine, session_factory
from anxin.settings import DatabaseSettings

url, port = sys.argv[1], int(sys.argv[2])
settings = AlertsSettings(database=DatabaseSettings(url=url), alerts=AlertsOptions(public_url="http://127.0.0.1"))
app = create_app(settings, session_factory(make_engine(url)))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def alerts_server(db_url: str) -> Iterator[tuple[int, int]]:
    """(pid, port) of a real uvicorn serving the alerts app."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ALERTS_SERVER, db_url, str(port)])
    try:
        wait_for(lambda: _connects(port) or None, timeout=30, what="alerts web server")
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _post_big(port: int, total: int, *, chunked: bool) -> tuple[int, bytes]:
    """POST `total` bytes to /twilio/sms; (bytes the server took before it stopped us, what it answered)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        f"POST /twilio/sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"{length}\r\n\r\n".encode()
    )
    block = b"Body=" + b"A" * (MB - 5)
    sent = 0
    try:
        while sent < total:
            data = (f"{len(block):x}\r\n".encode() + block + b"\r\n") if chunked else block
            sock.sendall(data)
            sent += len(block)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed the connection: it read no more
        pass
    answer = b""
    try:
        sock.settimeout(5)
        answer = sock.recv(4096)
    except OSError:
        pass
    sock.close()
    return sent, answer


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_webhook_refuses_a_100_mb_body_without_reading_it(alerts_server: tuple[int, int], chunked: bool) -> None:
    pid, port = alerts_server
    before = _rss_kib(pid)
    sent, answer = _post_big(port, 100 * MB, chunked=chunked)
    after = _rss_kib(pid)
    # Stopped long before the end (the old code read all 100 MB, then checked the signature: +350 MB RSS).
    assert sent < 20 * MB, f"server read {sent // MB} MB"
    assert after - before < 20 * 1024, f"RSS grew {(after - before) // 1024} MB"
    if answer:  # the 413 may be lost when the close resets the connection first
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    # The server is still there and answers a normal request.
    assert _connects(port)
