"""TLS between our peer and Python's `ssl` (through websockets, and raw):
versions, ALPN, SNI, certificate errors, and the rule that makes it safe:
no WebSocket byte (not even the upgrade request) reaches a server whose
certificate failed verification, unless the errors were ignored.

The echo, ping and close tests over wss:// are the `-wss` roles of
test_messages.py and test_control.py."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Certs,
    Peer,
    PythonServer,
    client_context,
    connect_to,
    server_context,
    start_peer_server,
)
from websockets.exceptions import InvalidMessage

VERSIONS = {"TLSv1_2": ssl.TLSVersion.TLSv1_2, "TLSv1_3": ssl.TLSVersion.TLSv1_3}
VERSION_IDS = list(VERSIONS)
#: Python's names for them (`SSLSocket.version()`).
PYTHON_NAMES = {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}


def pinned(context: ssl.SSLContext, version: str) -> ssl.SSLContext:
    context.minimum_version = context.maximum_version = VERSIONS[version]
    return context


def client(args: list[str]) -> Peer:
    return Peer(["client", *args], "interop_peer client")


def ssl_errors_line(peer: Peer) -> list[str]:
    """The kinds in the `SSL_ERRORS` line, which must be the first line."""
    line = peer.wait_for_line(lambda l: l.startswith("SSL_ERRORS "), "`SSL_ERRORS <kinds>`")
    assert peer.lines[0] == line, f"SSL_ERRORS must come first\n{peer.output()}"
    return line.split(" ", 1)[1].split(",")


def expect_refused(peer: Peer) -> None:
    """Our client gave up without connecting: exit 1, no CONNECTED line."""
    status = peer.wait_exit(TIMEOUT)
    assert status == 1, f"expected exit status 1 (never connected)\n{peer.output()}"
    assert not any(l.startswith(("CONNECTED", "CLOSED")) for l in peer.lines), peer.output()


# ----- our client, Python server ---------------------------------------------------


@pytest.mark.parametrize("version", VERSION_IDS)
def test_our_client_negotiates_version_and_alpn(certs: Certs, version: str) -> None:
    server = PythonServer(pinned(server_context(certs.server, certs.server_key), version))
    peer = client([server.url, "--ca", str(certs.ca)])
    try:
        ws = server.accept(peer)
        line = peer.wait_for_line(lambda l: l.startswith("CONNECTED"), "`CONNECTED ...`")
        assert peer.lines[0] == line, f"no SSL_ERRORS expected for a trusted server\n{peer.output()}"
        assert line.split()[1] == version, peer.output()
        assert ws.socket.version() == PYTHON_NAMES[version]
        assert ws.socket.selected_alpn_protocol() == "http/1.1", "our client must offer ALPN http/1.1"
        ws.send("over TLS")
        assert ws.recv(timeout=TIMEOUT) == "over TLS"
        ws.close(1000, "done")
        assert peer.wait_exit(TIMEOUT) == 0, peer.output()
        assert peer.last_line() == "CLOSED 1000 done"
    finally:
        peer.stop()
        server.stop()


@pytest.mark.parametrize(
    "host, sni",
    [("localhost", "localhost"), ("127.0.0.1", None)],
    ids=["host-name", "ip-address"],
)
def test_our_client_sends_sni_only_for_host_names(certs: Certs, host: str, sni: str | None) -> None:
    """RFC 6066: SNI carries host names, never IP addresses; the IP address is
    checked against the certificate's IP SANs instead."""
    seen: list[str | None] = []
    context = server_context(certs.server, certs.server_key)
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    server = PythonServer(context)
    peer = client([f"wss://{host}:{server.port}/", "--ca", str(certs.ca)])
    try:
        ws = server.accept(peer)
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        assert seen == [sni], f"SNI seen by the server: {seen}"
        assert not any(l.startswith("SSL_ERRORS") for l in peer.lines), peer.output()
    finally:
        peer.stop()
        server.stop()


@pytest.mark.parametrize(
    "which, ca, kind",
    [
        ("self-signed", None, "SelfSignedCertificate"),
        ("ca-signed", None, "UnableToGetLocalIssuerCertificate"),
        ("self-signed", "ca", "SelfSignedCertificate"),
    ],
    ids=["self-signed", "unknown-ca", "self-signed-with-other-ca"],
)
def test_our_client_refuses_an_untrusted_python_server(certs: Certs, which: str, ca: str | None, kind: str) -> None:
    cert, key = (certs.self_signed, certs.self_signed_key) if which == "self-signed" else (certs.server, certs.server_key)
    server = PythonServer(server_context(cert, key))
    args = [server.url] + (["--ca", str(certs.ca)] if ca else [])
    peer = client(args)
    try:
        assert kind in ssl_errors_line(peer), peer.output()
        expect_refused(peer)
        assert server.requests == [], "an upgrade request reached a server whose certificate was refused"
        assert server.accepted.empty(), "the Python handler was called"
    finally:
        peer.stop()
        server.stop()


def test_our_client_ignoring_errors_connects_to_a_self_signed_server(certs: Certs) -> None:
    server = PythonServer(server_context(certs.self_signed, certs.self_signed_key))
    peer = client([server.url, "--ignore-ssl-errors"])
    try:
        ws = server.accept(peer)
        assert "SelfSignedCertificate" in ssl_errors_line(peer)
        line = peer.wait_for_line(lambda l: l.startswith("CONNECTED"), "`CONNECTED ...`")
        assert line.startswith("CONNECTED TLSv1_3 ") and peer.lines.index(line) == 1, peer.output()
        assert server.requests == ["/"]
        ws.send(b"\x00binary\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00binary\xff"
        ws.close(4000, "bye")
        assert peer.wait_exit(TIMEOUT) == 0, peer.output()
        assert peer.last_line() == "CLOSED 4000 bye"
    finally:
        peer.stop()
        server.stop()


@dataclass
class RawTlsServer:
    """A bare TLS server: it completes the TLS handshake with one client and
    records every application byte received, until the client closes."""

    cert: Path
    key: Path
    version: str
    handshake_done: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    received: bytearray = field(default_factory=bytearray)
    ending: str = "?"

    def __post_init__(self) -> None:
        self.context = pinned(server_context(self.cert, self.key), self.version)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.listener.settimeout(TIMEOUT)
            raw, _ = self.listener.accept()
            raw.settimeout(TIMEOUT)
            with self.context.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as tls:
                self.handshake_done.set()
                while b"\r\n\r\n" not in self.received:
                    data = tls.recv(65536)
                    if not data:
                        self.ending = "close_notify"
                        break
                    self.received += data
                else:
                    self.ending = "request complete"
        except ssl.SSLEOFError:
            self.ending = "TCP closed without close_notify"
        except (OSError, ssl.SSLError) as e:
            self.ending = f"{type(e).__name__}: {e}"
        finally:
            self.finished.set()

    def stop(self) -> None:
        self.listener.close()
        self.thread.join(TIMEOUT)


@pytest.mark.parametrize("version", VERSION_IDS)
@pytest.mark.parametrize("ignore", [False, True], ids=["refused", "ignored"])
def test_no_byte_reaches_a_refused_server(certs: Certs, version: str, ignore: bool) -> None:
    """The safety rule, watched from the server side at the byte level."""
    server = RawTlsServer(certs.self_signed, certs.self_signed_key, version)
    peer = client([f"wss://127.0.0.1:{server.port}/"] + (["--ignore-ssl-errors"] if ignore else []))
    try:
        assert "SelfSignedCertificate" in ssl_errors_line(peer)
        assert server.finished.wait(TIMEOUT), f"the client did not end or send its request\n{peer.output()}"
        assert server.handshake_done.is_set(), f"no TLS handshake: {server.ending}\n{peer.output()}"
        if ignore:
            assert bytes(server.received).startswith(b"GET / HTTP/1.1\r\n"), bytes(server.received[:200])
        else:
            expect_refused(peer)
            assert bytes(server.received) == b"", (
                f"{len(server.received)} bytes reached a refused server: {bytes(server.received[:200])!r}"
            )
    finally:
        peer.stop()
        server.stop()


# ----- Python client, our server ---------------------------------------------------


@pytest.mark.parametrize("version", VERSION_IDS)
def test_python_client_negotiates_version_and_alpn(certs: Certs, version: str) -> None:
    peer, port = start_peer_server(certs)
    try:
        context = pinned(client_context(certs), version)
        context.set_alpn_protocols(["http/1.1"])
        with connect_to(port, context) as ws:
            assert ws.socket.version() == PYTHON_NAMES[version]
            assert ws.socket.selected_alpn_protocol() == "http/1.1"
            ws.send("hello")
            assert ws.recv(timeout=TIMEOUT) == "hello"
        # The host name is checked too: localhost is in the certificate.
        with connect_to(port, client_context(certs), host="localhost") as ws:
            ws.send(b"by name")
            assert ws.recv(timeout=TIMEOUT) == b"by name"
    finally:
        peer.stop()


def test_server_keeps_serving_after_failed_handshakes(certs: Certs) -> None:
    """Clients that do not trust our certificate, or speak plain HTTP to the
    TLS port, fail; a connection already open and new ones go on working."""
    peer, port = start_peer_server(certs)
    try:
        with connect_to(port, client_context(certs)) as before:
            before.send("before")
            assert before.recv(timeout=TIMEOUT) == "before"
            # The system's default trust does not include our private CA.
            with pytest.raises(ssl.SSLCertVerificationError):
                with connect_to(port, client_context(None)):
                    pass
            # Trusting only the self-signed certificate is no better.
            with pytest.raises(ssl.SSLCertVerificationError):
                with connect_to(port, ssl.create_default_context(cafile=str(certs.self_signed))):
                    pass
            # Plain ws:// to the wss:// port.
            with pytest.raises((InvalidMessage, OSError, EOFError)):
                with connect_to(port):
                    pass
            before.send(b"still open")
            assert before.recv(timeout=TIMEOUT) == b"still open"
            with connect_to(port, client_context(certs)) as after:
                after.send("after")
                assert after.recv(timeout=TIMEOUT) == "after"
        assert peer.proc.poll() is None, f"the server exited\n{peer.output()}"
    finally:
        peer.stop()
