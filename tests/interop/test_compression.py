"""permessage-deflate (RFC 7692) with Python websockets, which compresses by
default, in both roles: the negotiated extension, messages of several sizes
and types in both directions, parameters, and the inflated size limit."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import pytest
from conftest import TIMEOUT, Link, Peer, PythonServer, connect_to, start_peer_server
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate

KiB = 1 << 10
MiB = 1 << 20
SIZES = [0, 10, 200, 4 * KiB, 70 * KiB, MiB]
SIZE_IDS = ["0", "10", "200", "4KiB", "70KiB", "1MiB"]


def json_of(size: int) -> str:
    """A realistic JSON stream: compresses well, as chat or telemetry does."""
    rng = random.Random(size)
    parts = []
    n = 0
    while n < size:
        part = (
            f'{{"id":{n},"user":"user{rng.randrange(50)}","temp":{rng.uniform(10, 30):.2f},'
            f'"tags":["a","b","{rng.choice("xyz")}"],"ok":{str(rng.random() < 0.5).lower()}}},'
        )
        parts.append(part)
        n += len(part)
    return "".join(parts)[:size]


@pytest.fixture(params=["our-server", "our-client"])
def deflate_link(request) -> Iterator[Link]:
    """A connection with permessage-deflate negotiated: our peer with
    `--compress` against Python websockets with its default compression."""
    stack = contextlib.ExitStack()
    with stack:
        if request.param == "our-server":
            peer, port = start_peer_server(extra=["--compress"])
            stack.callback(peer.stop)
            ws = stack.enter_context(connect_to(port, compression="deflate"))
        else:
            server = PythonServer(compression="deflate")
            stack.callback(server.stop)
            peer = Peer(["client", server.url, "--compress"], "interop_peer client --compress")
            stack.callback(peer.stop)
            ws = server.accept(peer)
            stack.callback(ws.close)
        yield Link(request.param, ws, peer)
        status = peer.proc.poll()
        if request.param == "our-server" and status is not None:
            pytest.fail(f"{peer.name} exited during the test with {status}\n{peer.output()}", pytrace=False)


def deflate_of(link: Link) -> PerMessageDeflate:
    extensions = link.ws.protocol.extensions
    assert len(extensions) == 1, extensions
    assert isinstance(extensions[0], PerMessageDeflate)
    return extensions[0]


def test_extension_is_negotiated(deflate_link: Link) -> None:
    deflate_of(deflate_link)
    if deflate_link.ours_is_server:
        # websockets offers `permessage-deflate; client_max_window_bits`; ours
        # accepts it as it is.
        assert deflate_link.ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
    else:
        offer = deflate_link.ws.request.headers["Sec-WebSocket-Extensions"]
        assert offer == "permessage-deflate; client_max_window_bits"
        answer = deflate_link.ws.response.headers["Sec-WebSocket-Extensions"]
        line = deflate_link.peer.wait_for_line(lambda l: l.startswith("COMPRESSION "), "`COMPRESSION ...`")
        # websockets' server limits both windows to 12 bits by default (its
        # memory): our client then compresses messages of at most 4 KiB.
        assert answer == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        assert line == f"COMPRESSION {answer}"


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_text_is_echoed_compressed(deflate_link: Link, size: int) -> None:
    message = json_of(size)
    for _ in range(3):  # context takeover across messages
        deflate_link.ws.send(message)
        assert deflate_link.ws.recv(timeout=TIMEOUT) == message


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_binary_is_echoed_compressed(deflate_link: Link, size: int) -> None:
    # Half random (does not compress), half repeated (compresses).
    rng = random.Random(size)
    message = rng.randbytes(size // 2) + bytes(size - size // 2)
    for _ in range(2):
        deflate_link.ws.send(message)
        assert deflate_link.ws.recv(timeout=TIMEOUT) == message


def test_fragmented_compressed_message_is_echoed(deflate_link: Link) -> None:
    parts = [json_of(3000)[i * 1000 : (i + 1) * 1000] for i in range(3)]
    deflate_link.ws.send(parts)  # one message, three frames (RSV1 on the first)
    assert deflate_link.ws.recv(timeout=TIMEOUT) == "".join(parts)


def test_echo_is_compressed_on_the_wire(deflate_link: Link) -> None:
    """The echo of a compressible message arrives in far fewer bytes than
    its size: our end compressed it (4 KiB: websockets' server limits our
    client's window to 12 bits, and a larger message would go uncompressed)."""
    size = 4 * KiB if not deflate_link.ours_is_server else MiB
    message = json_of(size)
    protocol = deflate_link.ws.protocol
    received = []
    original = protocol.receive_data

    def counting(data: bytes) -> None:
        received.append(len(data))
        original(data)

    protocol.receive_data = counting
    try:
        deflate_link.ws.send(message)
        assert deflate_link.ws.recv(timeout=TIMEOUT) == message
    finally:
        protocol.receive_data = original
    assert 0 < sum(received) < size // 2, f"{sum(received)} bytes on the wire for {size}"


@pytest.mark.parametrize(
    "factory, answer",
    [
        (
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=10,
                client_max_window_bits=12,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12",
        ),
        (
            ClientPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=None),
            "permessage-deflate; server_max_window_bits=9",
        ),
    ],
    ids=["every-parameter", "small-server-window"],
)
def test_our_server_honours_the_client_parameters(factory, answer: str) -> None:
    peer, port = start_peer_server(extra=["--compress"])
    try:
        with connect_to(port, compression=None, extensions=[factory]) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"] == answer
            for size in [100, 400, 600, 70 * KiB]:
                message = json_of(size)
                for _ in range(2):
                    ws.send(message)
                    assert ws.recv(timeout=TIMEOUT) == message
    finally:
        peer.stop()


@pytest.mark.parametrize("inflated", [100_000, 100_001], ids=["at-limit", "one-over"])
def test_inflated_size_limit_closes_with_1009(inflated: int) -> None:
    """A message that compresses to almost nothing still counts with its
    inflated size: one byte over the limit closes with 1009."""
    peer, port = start_peer_server(extra=["--compress", "--max-message", "100000"])
    try:
        with connect_to(port, compression="deflate") as ws:
            message = bytes(inflated)  # about 100 bytes compressed
            ws.send(message)
            if inflated <= 100_000:
                assert ws.recv(timeout=TIMEOUT) == message
            else:
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=TIMEOUT)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1009
    finally:
        peer.stop()


def test_our_client_limit_closes_with_1009() -> None:
    server = PythonServer(compression="deflate")
    peer = Peer(
        ["client", server.url, "--compress", "--max-message", "100000"],
        "interop_peer client --compress --max-message 100000",
    )
    try:
        ws = server.accept(peer)
        ws.send("x" * 100_001)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        line = peer.wait_for_line(lambda l: l.startswith("CLOSED "), "`CLOSED ...`")
        assert line.startswith("CLOSED 1009")
    finally:
        peer.stop()
        server.stop()
