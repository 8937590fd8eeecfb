"""Control frames between our peer and Python websockets, in both roles:
pings and pongs each way, and the closing handshake started by either end."""

from __future__ import annotations

import pytest
from conftest import TIMEOUT, Link
from websockets.exceptions import ConnectionClosed


@pytest.mark.parametrize(
    "payload",
    [b"", b"hello", bytes(range(125))],
    ids=["empty", "hello", "125-bytes"],
)
def test_python_ping_gets_pong_with_same_payload(link: Link, payload: bytes) -> None:
    # websockets only acknowledges a ping when a pong with the same payload arrives.
    pong_received = link.ws.ping(payload)
    assert pong_received.wait(TIMEOUT), f"no pong with payload {payload!r} within {TIMEOUT}s"


def test_ping_command_makes_peer_ping_and_report_pong(link: Link) -> None:
    payload = "hello" if link.ours_is_server else "hi"
    link.ws.send(f"ping {payload}")
    assert link.ws.recv(timeout=TIMEOUT) == f"pong {payload}"


def test_messages_still_flow_around_pings(link: Link) -> None:
    link.ws.send("before")
    pong_received = link.ws.ping(b"in between")
    link.ws.send(b"after")
    assert link.ws.recv(timeout=TIMEOUT) == "before"
    assert link.ws.recv(timeout=TIMEOUT) == b"after"
    assert pong_received.wait(TIMEOUT)


def expect_client_closed_line(link: Link, code: int, reason: str) -> None:
    """Our client exits 0 after the close, its last line naming the close."""
    status = link.peer.wait_exit(TIMEOUT)
    assert status == 0, f"interop_peer client exited with {status}\n{link.peer.output()}"
    assert link.peer.last_line() == f"CLOSED {code} {reason}", link.peer.output()


def test_close_started_by_python_is_echoed(link: Link) -> None:
    code, reason = (4000, "bye") if link.ours_is_server else (4003, "server done")
    link.ws.close(code, reason)
    assert link.ws.wait_closed(TIMEOUT), "the TCP connection did not end"
    protocol = link.ws.protocol
    assert protocol.close_rcvd is not None, "the peer sent no close frame (connection dropped)"
    assert protocol.close_rcvd_then_sent is False
    assert (link.ws.close_code, link.ws.close_reason) == (code, reason)
    if not link.ours_is_server:
        expect_client_closed_line(link, code, reason)


def test_close_command_makes_peer_close(link: Link) -> None:
    code, reason = (4001, "server bye") if link.ours_is_server else (4002, "client bye")
    link.ws.send(f"close {code} {reason}")
    with pytest.raises(ConnectionClosed):
        link.ws.recv(timeout=TIMEOUT)
    assert link.ws.wait_closed(TIMEOUT), "the TCP connection did not end"
    protocol = link.ws.protocol
    assert protocol.close_rcvd is not None, "the peer sent no close frame (connection dropped)"
    assert protocol.close_rcvd_then_sent is True, "the peer did not start the closing handshake"
    assert (link.ws.close_code, link.ws.close_reason) == (code, reason)
    if not link.ours_is_server:
        expect_client_closed_line(link, code, reason)
