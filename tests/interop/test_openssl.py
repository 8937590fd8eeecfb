"""The TLS handshake and alert paths against OpenSSL's own tools:
`openssl s_client` against our wss:// server, and `openssl s_server` as the
server our client connects to. The WebSocket bytes are written by hand."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import threading
import time

import pytest
from conftest import TIMEOUT, Certs, Peer, client_context, connect_to, start_peer_server
from tlscerts import openssl

VERSIONS = {"TLSv1_2": "-tls1_2", "TLSv1_3": "-tls1_3"}
VERSION_IDS = list(VERSIONS)
KEY = base64.b64encode(os.urandom(16)).decode()
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(key: str = KEY) -> bytes:
    return (
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked), payload under 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class Tool:
    """An openssl subcommand whose combined output is collected as bytes."""

    def __init__(self, args: list[str]) -> None:
        self.command = [openssl(), *args]
        self.output = bytearray()
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(65536):
            with self.changed:
                self.output += chunk
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return self.output.decode("latin-1")

    def describe(self) -> str:
        return f"{' '.join(self.command)}:\n{self.text()[-3000:]}"

    def wait_for(self, pattern: bytes, timeout: float = TIMEOUT) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                match = re.search(pattern, self.output)
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.reader.is_alive():
                    break
                self.changed.wait(min(remaining, 0.1))
        pytest.fail(f"no {pattern!r} within {timeout}s from {self.describe()}", pytrace=False)

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not exit within {timeout}s: {self.describe()}", pytrace=False)
        self.reader.join(TIMEOUT)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def s_client(port: int, *args: str) -> Tool:
    return Tool(["s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof", "-nocommands", *args])


# ----- openssl s_client -> our server ----------------------------------------------


@pytest.mark.parametrize("version", VERSION_IDS)
def test_s_client_handshake_alpn_and_upgrade(certs: Certs, version: str) -> None:
    peer, port = start_peer_server(certs)
    tool = s_client(
        port, VERSIONS[version], "-CAfile", str(certs.ca), "-verify_return_error",
        "-verify_ip", "127.0.0.1", "-servername", "localhost", "-alpn", "http/1.1",
    )  # fmt: skip
    try:
        tool.wait_for(rb"Verify return code: 0 \(ok\)")
        tool.wait_for(rb"ALPN protocol: http/1\.1")
        negotiated = tool.wait_for(rb"New, (TLSv1\.[23]), Cipher is").group(1).decode()
        assert negotiated == version.replace("_", "."), tool.describe()

        tool.write(upgrade_request())
        head = tool.wait_for(rb"HTTP/1\.1 101 [^\r]*\r\n(?:[^\r]+\r\n)*\r\n").group(0).decode()
        assert f"Sec-WebSocket-Accept: {accept_for(KEY)}\r\n" in head, head
        tool.write(masked(0x1, b"hello over TLS"))
        tool.wait_for(re.escape(b"\x81\x0ehello over TLS"))
        tool.write(masked(0x8, b"\x03\xe8bye"))
        tool.wait_for(re.escape(b"\x88\x05\x03\xe8bye"))
        # Our server closes the connection after the closing handshake.
        assert tool.wait_exit() == 0, tool.describe()
    finally:
        tool.stop()
        peer.stop()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["-alpn", "h2"], rb"alert no application protocol.*SSL alert number 120"),
        (["-tls1_1"], rb"SSL alert number (40|70)"),
        (["-CAfile", "{self_signed}", "-verify_return_error"], rb"certificate verify failed"),
    ],
    ids=["alpn-h2-only", "tls1.1", "client-distrusts-server"],
)
def test_s_client_alerts_leave_the_server_serving(certs: Certs, args: list[str], expected: bytes) -> None:
    """A handshake that ends with a TLS alert (sent by our server, or by
    s_client) fails alone: an open connection and new ones go on working."""
    args = [a.format(self_signed=certs.self_signed) for a in args]
    peer, port = start_peer_server(certs)
    try:
        with connect_to(port, client_context(certs)) as before:
            tool = s_client(port, *args)
            try:
                status = tool.wait_exit()
                assert re.search(expected, tool.output, re.S), tool.describe()
                assert status != 0, tool.describe()
            finally:
                tool.stop()
            before.send("still here")
            assert before.recv(timeout=TIMEOUT) == "still here"
        with connect_to(port, client_context(certs)) as after:
            after.send(b"new connection")
            assert after.recv(timeout=TIMEOUT) == b"new connection"
        assert peer.proc.poll() is None, peer.output()
    finally:
        peer.stop()


# ----- our client -> openssl s_server ----------------------------------------------


@pytest.mark.parametrize("version", VERSION_IDS)
@pytest.mark.parametrize("mode", ["refused", "ignored", "trusted"])
def test_our_client_against_s_server(certs: Certs, mode: str, version: str) -> None:
    """`refused`: a self-signed s_server; our client reports the error and
    sends nothing, not even the upgrade request. `ignored`: the same server
    with --ignore-ssl-errors. `trusted`: a certificate from our CA. In the
    last two, the WebSocket handshake and a close are answered by hand."""
    cert, key = (certs.server, certs.server_key) if mode == "trusted" else (certs.self_signed, certs.self_signed_key)
    # s_server quits when its stdin ends: the pipe stays open until stop().
    server = Tool(
        ["s_server", VERSIONS[version], "-accept", "127.0.0.1:0", "-naccept", "1", "-cert", str(cert), "-key", str(key)]
    )
    peer = None
    try:
        port = int(server.wait_for(rb"ACCEPT 127\.0\.0\.1:(\d+)").group(1))
        args = ["client", f"wss://127.0.0.1:{port}/"]
        args += {"refused": [], "ignored": ["--ignore-ssl-errors"], "trusted": ["--ca", str(certs.ca)]}[mode]
        peer = Peer(args, "interop_peer client")
        if mode != "trusted":
            line = peer.wait_for_line(lambda l: l.startswith("SSL_ERRORS "), "`SSL_ERRORS ...`")
            assert peer.lines[0] == line and "SelfSignedCertificate" in line.split(" ", 1)[1].split(","), peer.output()

        if mode == "refused":
            assert peer.wait_exit(TIMEOUT) == 1, peer.output()
            assert server.wait_exit() == 0, server.describe()
            assert b"CIPHER is " in server.output, f"the TLS handshake did not complete\n{server.describe()}"
            assert b"GET " not in server.output, f"the upgrade request reached a refused server\n{server.describe()}"
            return

        request = server.wait_for(rb"GET / HTTP/1\.1\r\n(?:[^\r]+\r\n)*\r\n").group(0).decode()
        key_header = re.search(r"(?i)^sec-websocket-key: *(\S+)\r$", request, re.M)
        assert key_header, request
        server.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_for(key_header.group(1))}\r\n\r\n"
            ).encode()
        )
        line = peer.wait_for_line(lambda l: l.startswith("CONNECTED"), "`CONNECTED ...`")
        assert line.split()[1] == version, peer.output()
        if mode == "trusted":
            assert peer.lines[0] == line, f"no SSL_ERRORS expected\n{peer.output()}"
        server.write(b"\x88\x02\x03\xe8")  # close 1000, unmasked (from a server)
        # Our client answers with a masked close frame of 2 bytes, then waits
        # for the server to end the TCP connection (RFC 6455, 7.1.1).
        server.wait_for(re.escape(b"\r\n\r\n") + rb"\x88\x82")
        server.stop()
        assert peer.wait_exit(TIMEOUT) == 0, peer.output()
        assert peer.last_line() == "CLOSED 1000 ", peer.output()
    finally:
        if peer is not None:
            peer.stop()
        server.stop()
