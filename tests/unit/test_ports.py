"""Ports the shell hands its servers: never one handed out already, never one a client connection may take."""

from __future__ import annotations

import socket

from shell.servers import _ephemeral_floor, free_port, preferred_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    # A client connection's own port comes from the ephemeral range: one drawn there could be taken before it is bound.
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(10000 <= p < _ephemeral_floor() for p in ports)


def test_a_preferred_port_is_kept_only_if_free_and_not_handed_out() -> None:
    handed = free_port()  # e.g. a NATS node's, not listening yet
    assert preferred_port(handed) != handed
    with socket.socket() as s:  # something listens there
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert preferred_port(busy) != busy
    wanted = free_port() + 1
    while True:  # a port nothing listens on and nobody was given
        got = preferred_port(wanted)
        if got == wanted:
            break
        wanted += 1
    assert preferred_port(wanted) != wanted  # handed out now: a second server preferring it gets another
