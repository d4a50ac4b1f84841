"""Attacks on the alerts web server (issue 13), against a real uvicorn in its own process: a 100 MB webhook body,
and pages without the browser's security headers."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shell.servers import free_port, port_open
from tests.support.processes import rss_kib
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
MB = 1024 * 1024
# The alerts HTTP app alone, under uvicorn in its own process, so its memory can be read from /proc.
ALERTS_SERVER = """
import sys
import time
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


@pytest.fixture
def alerts_server(db_url: str) -> Iterator[tuple[int, int]]:
    """(pid, port) of a real uvicorn serving the alerts app."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", ALERTS_SERVER, db_url, str(port)])
    try:
        wait_for(lambda: port_open(port) or None, timeout=30, what="alerts web server")
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
    before = rss_kib(pid)
    sent, answer = _post_big(port, 100 * MB, chunked=chunked)
    after = rss_kib(pid)
    # Stopped long before the end (the old code read all 100 MB, then checked the signature: +350 MB RSS).
    assert sent < 20 * MB, f"server read {sent // MB} MB"
    assert after - before < 20 * 1024, f"RSS grew {(after - before) // 1024} MB"
    if answer:  # the 413 may be lost when the close resets the connection first
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    # The server is still there and answers a normal request.
    assert port_open(port)


# --- a viewer reads the console: no link, no reply code, no phone number, nothing to act with -----------------------


def test_alerts_pages_carry_security_headers(alerts_server: tuple[int, int]) -> None:
    import urllib.error
    import urllib.request

    _pid, port = alerts_server
    for path in ("/l/not-a-token", "/healthz"):
        try:
            resp = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
            headers = resp.headers
        except urllib.error.HTTPError as err:
            headers = err.headers
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), path
        assert headers.get("x-frame-options") == "DENY" and headers.get("x-content-type-options") == "nosniff"
