"""Role-specific behaviour of the peer processes: a server with several
clients, a client with nothing to connect to, handshake options."""

from __future__ import annotations

from conftest import TIMEOUT, Peer, PythonServer, connect_to, free_port, start_peer_server


def test_server_serves_several_clients_at_once() -> None:
    peer, port = start_peer_server()
    try:
        with connect_to(port) as a, connect_to(port) as b:
            a.send("from a")
            b.send(b"from b")
            assert b.recv(timeout=TIMEOUT) == b"from b"
            assert a.recv(timeout=TIMEOUT) == "from a"
            a.close()
            b.send("b still works")
            assert b.recv(timeout=TIMEOUT) == "b still works"
        # and a new client after those two have gone
        with connect_to(port) as c:
            c.send("from c")
            assert c.recv(timeout=TIMEOUT) == "from c"
        assert peer.proc.poll() is None, f"the server exited\n{peer.output()}"
    finally:
        peer.stop()


def test_server_echoes_when_python_offers_permessage_deflate() -> None:
    peer, port = start_peer_server()
    try:
        with connect_to(port, compression="deflate") as ws:
            ws.send("compressible " * 100)
            assert ws.recv(timeout=TIMEOUT) == "compressible " * 100
            ws.send(b"\x00" * 1000)
            assert ws.recv(timeout=TIMEOUT) == b"\x00" * 1000
    finally:
        peer.stop()


def test_client_exits_with_error_when_nothing_listens() -> None:
    peer = Peer(["client", f"ws://127.0.0.1:{free_port()}/"], "interop_peer client")
    try:
        status = peer.wait_exit(3 * TIMEOUT)
        assert status != 0, f"exit status 0 without a connection\n{peer.output()}"
    finally:
        peer.stop()


def test_client_sends_the_path_of_its_url(python_server: PythonServer) -> None:
    peer = Peer(["client", f"{python_server.url}some/path?x=1"], "interop_peer client")
    try:
        ws = python_server.accept(peer)
        assert ws.request is not None
        assert ws.request.path == "/some/path?x=1"
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        ws.close()
        assert peer.wait_exit(TIMEOUT) == 0, peer.output()
    finally:
        peer.stop()
