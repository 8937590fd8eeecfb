"""Fixtures for the interop tests between our `interop_peer` example and Python
`websockets` (sync API).

The peer contract (examples/interop_peer.rs):

* `interop_peer server --port 0` prints `LISTENING <port>` first, then serves.
* `interop_peer client <url>` connects, runs until the connection closes, then
  prints `CLOSED <code> <reason>` as its last line and exits 0 (non-zero if it
  never connected).
* Once connected, both echo every text/binary message, and obey the text
  commands `close <code> <reason...>`, `ping <payload>` (answered with
  `pong <payload>` once the pong arrives) and `frag <n> <text>` (send <text> in
  frames of n bytes).

`QWS_INTEROP_PEER` replaces the peer binary with any command line (for example
`python3 /tmp/fakepeer.py`); `QWS_EXAMPLES_DIR` says where the built examples
are (default: target/release/examples).
"""

from __future__ import annotations

import contextlib
import os

# websockets refuses messages of more than 4096 frames by default, a Python
# side limit that is not what these tests are about. It is read at import.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

import queue  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import ClientConnection, connect  # noqa: E402
from websockets.sync.connection import Connection  # noqa: E402
from websockets.sync.server import ServerConnection, serve  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("QWS_EXAMPLES_DIR") or REPO / "target" / "release" / "examples")

#: Seconds for anything small: startup, one message, a ping, a close.
TIMEOUT = 10.0
#: Seconds for the biggest messages (16 MiB each way).
BIG_TIMEOUT = 60.0
#: Python's share of a closing handshake.
CLOSE_TIMEOUT = 5.0

#: Our peer's roles, as the test ids show them.
ROLES = ["our-server", "our-client"]


def pytest_sessionstart(session) -> None:
    """Stops at once, with one message, when there is no peer to test."""
    if not os.environ.get("QWS_INTEROP_PEER") and not (EXAMPLES / "interop_peer").is_file():
        pytest.exit(
            f"{EXAMPLES / 'interop_peer'} does not exist: run `cargo build --release --examples` "
            "(or point QWS_INTEROP_PEER at a peer command)",
            returncode=3,
        )


def peer_command() -> list[str]:
    override = os.environ.get("QWS_INTEROP_PEER")
    if override:
        command = shlex.split(override)
    else:
        binary = EXAMPLES / "interop_peer"
        if not binary.is_file():
            pytest.fail(
                f"{binary} does not exist: run `cargo build --release --examples` "
                "(or point QWS_INTEROP_PEER at a peer command)",
                pytrace=False,
            )
        command = [str(binary)]
    # Let the kernel kill the peer if this test process dies without cleaning up.
    setpriv = shutil.which("setpriv")
    if setpriv:
        command = [setpriv, "--pdeathsig", "KILL", "--", *command]
    return command


class Peer:
    """A running peer process whose output is collected line by line."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.command = [*peer_command(), *args]
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, into: list[str]) -> None:
        for raw in stream:
            with self.changed:
                into.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def output(self) -> str:
        """Everything the peer printed so far, for failure messages."""
        with self.changed:
            out = "\n".join(self.lines) or "(nothing)"
            err = "\n".join(self.stderr[-50:]) or "(nothing)"
        return f"{self.name} ({shlex.join(self.command)}):\n  stdout: {out}\n  stderr (last lines): {err}"

    def wait_for_line(self, predicate: Callable[[str], bool], what: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._readers_alive()):
                    break
                self.changed.wait(min(remaining, 0.1))
        status = self.proc.poll()
        state = "is still running" if status is None else f"exited with {status}"
        pytest.fail(f"{self.name} did not print {what} within {timeout}s and {state}\n{self.output()}", pytrace=False)

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self.readers)

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        """Waits for the peer to exit by itself and for its output to be read."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout}s\n{self.output()}", pytrace=False)
        for reader in self.readers:
            reader.join(TIMEOUT)
        return code

    def last_line(self) -> str | None:
        with self.changed:
            return self.lines[-1] if self.lines else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self.readers:
            reader.join(TIMEOUT)


def start_peer_server() -> tuple[Peer, int]:
    peer = Peer(["server", "--port", "0"], "interop_peer server")
    try:
        line = peer.wait_for_line(lambda l: l.startswith("LISTENING "), "`LISTENING <port>`")
        if peer.lines[0] != line:
            pytest.fail(f"`LISTENING <port>` must be the first line\n{peer.output()}", pytrace=False)
        return peer, int(line.split()[1])
    except BaseException:
        peer.stop()
        raise


def connect_to(port: int, **kwargs) -> contextlib.AbstractContextManager[ClientConnection]:
    """Connects a Python client to our server: use it in a `with`."""
    options = dict(
        max_size=None,
        compression=None,
        ping_interval=None,
        open_timeout=TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        proxy=None,
    )
    options.update(kwargs)
    return connect(f"ws://127.0.0.1:{port}/", **options)


class PythonServer:
    """A websockets server on an ephemeral port; each accepted connection is
    handed to the test and kept open until the test ends."""

    def __init__(self) -> None:
        self.accepted: queue.Queue[ServerConnection] = queue.Queue()
        self.release = threading.Event()
        self.server = serve(
            self._handler,
            "127.0.0.1",
            0,
            max_size=None,
            compression=None,
            ping_interval=None,
            open_timeout=TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        )
        self.port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self, connection: ServerConnection) -> None:
        self.accepted.put(connection)
        self.release.wait()

    def accept(self, peer: Peer, timeout: float = TIMEOUT) -> ServerConnection:
        try:
            return self.accepted.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{peer.name} did not connect within {timeout}s\n{peer.output()}", pytrace=False)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.thread.join(TIMEOUT)


@dataclass
class Link:
    """One connection between our peer and Python."""

    role: str  # "our-server" or "our-client"
    ws: Connection  # the Python end
    peer: Peer

    @property
    def ours_is_server(self) -> bool:
        return self.role == "our-server"


@pytest.fixture
def python_server() -> Iterator[PythonServer]:
    server = PythonServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=ROLES)
def link(request) -> Iterator[Link]:
    """A connection to our peer, which is the server or the client."""
    role = request.param
    stack = contextlib.ExitStack()
    with stack:
        if role == "our-server":
            peer, port = start_peer_server()
            stack.callback(peer.stop)
            ws = stack.enter_context(connect_to(port))
        else:
            server = PythonServer()
            stack.callback(server.stop)
            peer = Peer(["client", server.url], "interop_peer client")
            stack.callback(peer.stop)
            ws = server.accept(peer)
            stack.callback(ws.close)
        yield Link(role, ws, peer)
        # The peer must not have died during the test.
        status = peer.proc.poll()
        if role == "our-server" and status is not None:
            pytest.fail(f"{peer.name} exited during the test with {status}\n{peer.output()}", pytrace=False)
        if role == "our-client" and status not in (None, 0):
            pytest.fail(f"{peer.name} failed with {status}\n{peer.output()}", pytrace=False)


@contextlib.contextmanager
def watchdog(ws: Connection, seconds: float, what: str) -> Iterator[None]:
    """Aborts the connection if the block takes longer than `seconds`, for the
    websockets calls that take no timeout (recv_streaming)."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        with contextlib.suppress(OSError):
            ws.socket.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except ConnectionClosed:
        if fired.is_set():
            pytest.fail(f"timed out after {seconds}s waiting for {what}", pytrace=False)
        raise
    finally:
        timer.cancel()


def recv_frames(ws: Connection, timeout: float = TIMEOUT) -> list[bytes]:
    """The payloads of the frames of the next message, one item per frame."""
    with watchdog(ws, timeout, "a message"):
        return list(ws.recv_streaming(decode=False))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
