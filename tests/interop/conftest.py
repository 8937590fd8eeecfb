"""Fixtures for the interop tests between our `interop_peer` example and Python
`websockets` (sync API).

The peer contract (examples/interop_peer.rs):

* `interop_peer server --port 0 [--tls CERT KEY]` prints `LISTENING <port>`
  first, then serves (`wss://` with `--tls`).
* `interop_peer client <url> [--ca CA] [--ignore-ssl-errors]` connects, prints
  `SSL_ERRORS <kind,...>` if the server's certificate has problems (ignoring
  them with `--ignore-ssl-errors`), `CONNECTED [<tls version> <cipher>]` once
  connected, runs until the connection closes, then prints
  `CLOSED <code> <reason>` as its last line and exits 0 (non-zero if it never
  connected).
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
import ssl  # noqa: E402
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

import tlscerts  # noqa: E402
from tlscerts import Certs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("QWS_EXAMPLES_DIR") or REPO / "target" / "release" / "examples")

#: Seconds for anything small: startup, one message, a ping, a close.
TIMEOUT = 10.0
#: Seconds for the biggest messages (16 MiB each way).
BIG_TIMEOUT = 60.0
#: Python's share of a closing handshake.
CLOSE_TIMEOUT = 5.0

#: Our peer's roles, as the test ids show them: each over ws:// and wss://.
ROLES = ["our-server", "our-client", "our-server-wss", "our-client-wss"]


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


#: The peers started by the current test, whose output a failure report shows.
_STARTED: list[Peer] = []


@pytest.fixture(autouse=True)
def _forget_peers() -> Iterator[None]:
    _STARTED.clear()
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Adds what each peer of a failed test printed to its report."""
    report = yield
    if report.failed:
        for peer in _STARTED:
            report.sections.append((f"output of {peer.name}", peer.output()))
    return report


class Peer:
    """A running peer process whose output is collected line by line."""

    def __init__(self, args: list[str], name: str) -> None:
        _STARTED.append(self)
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


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    """A private CA, a server certificate it signed, and a self-signed one
    (see tlscerts.py), made once per test run in pytest's temporary folder."""
    try:
        return tlscerts.make(tmp_path_factory.mktemp("certs"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


class SettledTlsContext(ssl.SSLContext):
    """A client context whose sockets have read the server's TLS 1.3 session
    tickets before websockets uses them.

    websockets' sync client reads in a background thread while it writes the
    upgrade request from the calling thread, but Python's SSL sockets are not
    safe for a concurrent SSL_read and SSL_write: when the reader processes
    the server's NewSessionTicket messages (sent right after the handshake)
    at the moment the request is written, the request can be lost, never
    leaving the client (seen in about 1 of 400 connections under load: the
    client then times out "waiting for handshake response"). Reading the
    tickets here, before any thread starts, closes that window."""

    #: Longest wait for the tickets; a server that sends none costs this much.
    SETTLE_LIMIT = 1.0

    def wrap_socket(self, sock, *args, **kwargs):
        tls = super().wrap_socket(sock, *args, **kwargs)
        if tls.version() == "TLSv1.3":
            before = tls.gettimeout()
            deadline = time.monotonic() + self.SETTLE_LIMIT
            tls.settimeout(0.01)
            try:
                while time.monotonic() < deadline:
                    try:
                        data = tls.recv(1)
                    except (TimeoutError, ssl.SSLWantReadError):
                        if tls.session is not None and tls.session.has_ticket:
                            break
                        continue
                    # Nothing but tickets comes before the upgrade request is sent.
                    raise ConnectionError(f"the server sent {data!r} before the upgrade request")
            finally:
                tls.settimeout(before)
        return tls


def client_context(certs: Certs | None) -> ssl.SSLContext:
    """A Python TLS client context (see SettledTlsContext) that trusts the test
    CA and nothing else, or the system's default trust when `certs` is None."""
    context = SettledTlsContext(ssl.PROTOCOL_TLS_CLIENT)
    if certs is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile=certs.ca)
    return context


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A Python TLS server context with that certificate, offering ALPN http/1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


def start_peer_server(certs: Certs | None = None, extra: list[str] | None = None) -> tuple[Peer, int]:
    """Starts our server, serving wss:// with the CA-signed certificate when
    `certs` is given; `extra` arguments go to `interop_peer server`."""
    args = ["server", "--port", "0"] + (extra or [])
    if certs is not None:
        args += ["--tls", str(certs.server), str(certs.server_key)]
    peer = Peer(args, "interop_peer server" + (" --tls" if certs else ""))
    try:
        line = peer.wait_for_line(lambda l: l.startswith("LISTENING "), "`LISTENING <port>`")
        if peer.lines[0] != line:
            pytest.fail(f"`LISTENING <port>` must be the first line\n{peer.output()}", pytrace=False)
        return peer, int(line.split()[1])
    except BaseException:
        peer.stop()
        raise


def connect_to(
    port: int, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", **kwargs
) -> contextlib.AbstractContextManager[ClientConnection]:
    """Connects a Python client to our server (over wss:// with the `tls`
    context): use it in a `with`."""
    scheme = "ws" if tls is None else "wss"
    if tls is not None:
        kwargs["ssl"] = tls
    options = dict(
        max_size=None,
        compression=None,
        ping_interval=None,
        open_timeout=TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        proxy=None,
    )
    options.update(kwargs)
    return connect(f"{scheme}://{host}:{port}/", **options)


class PythonServer:
    """A websockets server on an ephemeral port; each accepted connection is
    handed to the test and kept open until the test ends. With a TLS context
    it serves wss://; `requests` lists every upgrade request received."""

    def __init__(self, tls: ssl.SSLContext | None = None, compression: str | None = None) -> None:
        self.accepted: queue.Queue[ServerConnection] = queue.Queue()
        self.requests: list[str] = []
        self.release = threading.Event()
        self.server = serve(
            self._handler,
            "127.0.0.1",
            0,
            ssl=tls,
            process_request=self._request,
            max_size=None,
            compression=compression,
            ping_interval=None,
            open_timeout=TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        )
        self.port = self.server.socket.getsockname()[1]
        self.url = f"{'ws' if tls is None else 'wss'}://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _request(self, connection: ServerConnection, request) -> None:
        self.requests.append(request.path)
        return None  # go on with the handshake

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

    role: str  # one of ROLES
    ws: Connection  # the Python end
    peer: Peer

    @property
    def ours_is_server(self) -> bool:
        return self.role.startswith("our-server")

    @property
    def secure(self) -> bool:
        return self.role.endswith("-wss")


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
    certs = request.getfixturevalue("certs") if role.endswith("-wss") else None
    stack = contextlib.ExitStack()
    with stack:
        if role.startswith("our-server"):
            peer, port = start_peer_server(certs)
            stack.callback(peer.stop)
            ws = stack.enter_context(connect_to(port, client_context(certs) if certs else None))
        else:
            tls = server_context(certs.server, certs.server_key) if certs else None
            server = PythonServer(tls)
            stack.callback(server.stop)
            args = ["client", server.url]
            if certs:
                args += ["--ca", str(certs.ca)]
            peer = Peer(args, "interop_peer client")
            stack.callback(peer.stop)
            ws = server.accept(peer)
            stack.callback(ws.close)
        yield Link(role, ws, peer)
        # The peer must not have died during the test.
        status = peer.proc.poll()
        if role.startswith("our-server") and status is not None:
            pytest.fail(f"{peer.name} exited during the test with {status}\n{peer.output()}", pytrace=False)
        if role.startswith("our-client") and status not in (None, 0):
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
