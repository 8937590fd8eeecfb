"""Messages between our peer and Python websockets, in both roles: echo of
every size and type, fragmentation in both directions."""

from __future__ import annotations

import random

import pytest
from conftest import BIG_TIMEOUT, TIMEOUT, Link, recv_frames

MiB = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB]
SIZE_IDS = ["0", "1", "125", "126", "65535", "65536", "1MiB", "16MiB"]


def timeout_for(size: int) -> float:
    return BIG_TIMEOUT if size > MiB else TIMEOUT


def text_of(size: int) -> str:
    pattern = "The quick brown fox jumps over the lazy dog 0123456789. "
    return (pattern * (size // len(pattern) + 1))[:size]


def assert_same(got, want) -> None:
    """Compares messages without dumping megabytes into the failure report."""
    assert type(got) is type(want), f"got a {type(got).__name__} message, sent a {type(want).__name__}"
    if got == want:
        return
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    pytest.fail(
        f"echo differs: got {len(got)} items, sent {len(want)}; first difference at index {first}: "
        f"got {got[first:first + 16]!r}, sent {want[first:first + 16]!r}",
        pytrace=False,
    )


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_text_message_is_echoed(link: Link, size: int) -> None:
    message = text_of(size)
    link.ws.send(message)
    assert_same(link.ws.recv(timeout=timeout_for(size)), message)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_binary_message_is_echoed(link: Link, size: int) -> None:
    message = random.Random(size).randbytes(size)
    link.ws.send(message)
    assert_same(link.ws.recv(timeout=timeout_for(size)), message)


@pytest.mark.parametrize(
    "message",
    [
        "héllo wörld — κόσμε ✓ 中文 𝄞 🚀",
        "κόσμε𝄞 ✓ " * 10_000,  # over 64 KiB: the 64-bit length form
    ],
    ids=["short", "long"],
)
def test_non_ascii_text_is_echoed(link: Link, message: str) -> None:
    link.ws.send(message)
    assert_same(link.ws.recv(timeout=TIMEOUT), message)


def test_messages_are_echoed_in_order(link: Link) -> None:
    messages = [f"message {i}" if i % 2 else f"message {i}".encode() for i in range(50)]
    for message in messages:
        link.ws.send(message)
    for message in messages:
        assert_same(link.ws.recv(timeout=TIMEOUT), message)


def test_text_fragmented_by_python_is_echoed_whole(link: Link) -> None:
    text = "fragmented héllo 𝄞 wörld"
    data = text.encode()
    # Cut inside the two-byte é and the four-byte 𝄞, and include an empty
    # fragment: the peer must validate UTF-8 across frames.
    cut_e = data.index("é".encode()) + 1
    cut_clef = data.index("𝄞".encode()) + 2
    fragments = [data[:cut_e], data[cut_e:cut_clef], b"", data[cut_clef:]]
    link.ws.send(fragments, text=True)
    assert_same(link.ws.recv(timeout=TIMEOUT), text)


def test_binary_fragmented_by_python_is_echoed_whole(link: Link) -> None:
    fragments = [b"\x00\x01", b"", bytes(range(256)) * 300, b"\xff"]
    link.ws.send(fragments)
    assert_same(link.ws.recv(timeout=TIMEOUT), b"".join(fragments))


def test_frag_command_sends_text_in_frames_of_n_bytes(link: Link) -> None:
    n = 7 if link.ours_is_server else 5
    text = "héllo wörld: this text is sent by the peer in tiny frames ✓ 𝄞"
    data = text.encode()
    link.ws.send(f"frag {n} {text}")
    frames = recv_frames(link.ws)
    expected = [data[i : i + n] for i in range(0, len(data), n)]
    assert b"".join(frames) == data, "the frames do not add up to the text"
    assert [len(f) for f in frames] == [len(f) for f in expected], f"frame sizes for n={n}"
    # The same command again, received as one message: a text message that
    # is valid UTF-8 although frames split characters.
    link.ws.send(f"frag {n} {text}")
    assert_same(link.ws.recv(timeout=TIMEOUT), text)


def test_frame_size_is_restored_after_frag_command(link: Link) -> None:
    link.ws.send("frag 3 abcdefghij")
    assert_same(link.ws.recv(timeout=TIMEOUT), "abcdefghij")
    message = "x" * 100
    link.ws.send(message)
    frames = recv_frames(link.ws)
    assert frames == [message.encode()], f"expected one frame, got {len(frames)}"
