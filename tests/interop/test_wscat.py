"""Issue #4: `wscat` (examples/wscat.rs) works against Python websockets as a
person would use it: lines typed on its stdin, one `--json` line per signal
read from its stdout.

* as a client, against a Python echo server: text, `/binary N`, `/ping`,
  `/close code reason`, `--header` and `--subprotocol`;
* as an echoing server (`listen --echo`), for a Python client, over ws://
  and wss:// (`--cert`/`--key` from tlscerts.py, the client trusting the CA).

Every wait is bounded by conftest.TIMEOUT, everything listens on 127.0.0.1
only, and every wscat started is killed when its test ends."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import (
    _STARTED,
    CLOSE_TIMEOUT,
    EXAMPLES,
    TIMEOUT,
    Certs,
    Peer,
    client_context,
    connect_to,
)
from websockets.sync.server import ServerConnection, serve


class Wscat(Peer):
    """A running `wscat` whose stdin the test types into and whose output is
    collected line by line (the reading, waiting and stopping of Peer)."""

    def __init__(self, args: list[str]) -> None:
        binary = EXAMPLES / "wscat"
        if not binary.is_file():
            pytest.fail(
                f"{binary} does not exist: run `cargo build --release --examples`",
                pytrace=False,
            )
        command = [str(binary), *args]
        # Let the kernel kill wscat if this test process dies without cleaning up.
        setpriv = shutil.which("setpriv")
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        _STARTED.append(self)
        self.name = "wscat " + " ".join(args[:1])
        self.command = command
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def type(self, line: str) -> None:
        """Types one line on wscat's stdin, as a person pressing Enter."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def signal(self, name: str, what: str | None = None, **match: Any) -> dict[str, Any]:
        """Waits for the first JSON line of that signal whose fields equal
        `match` (e.g. args=["hello"]) and returns it as a dict."""

        def matches(line: str) -> bool:
            try:
                obj = json.loads(line)
            except ValueError:
                pytest.fail(f"{self.name} printed a line that is not JSON: {line!r}\n{self.output()}", pytrace=False)
            return obj.get("signal") == name and all(obj.get(k) == v for k, v in match.items())

        line = self.wait_for_line(matches, what or f"a {name!r} line with {match}")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        super().stop()


@pytest.fixture
def wscat() -> Iterator[Callable[[list[str]], Wscat]]:
    """Starts wscat processes (`wscat([...])`), all stopped at the end."""
    started: list[Wscat] = []

    def start(args: list[str]) -> Wscat:
        process = Wscat(args)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


class EchoServer:
    """A Python websockets echo server on 127.0.0.1 that offers the `chat`
    subprotocol and records each connection's request headers and the
    negotiated subprotocol."""

    def __init__(self) -> None:
        self.connections: list[dict[str, Any]] = []
        self.handled = threading.Event()
        self.server = serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=["chat"],
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
        assert connection.request is not None
        self.connections.append(
            {
                "x-test": connection.request.headers.get_all("X-Test"),
                "subprotocol": connection.subprotocol,
            }
        )
        self.handled.set()
        for message in connection:  # ends when the connection closes
            connection.send(message)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(TIMEOUT)


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.stop()


def test_client_typed_lines_against_python_echo_server(wscat, echo_server: EchoServer) -> None:
    client = wscat(
        ["connect", echo_server.url, "--header", "X-Test:1", "--subprotocol", "chat", "--json"]
    )
    assert client.signal("connected")["args"] == ["chat"]
    # What the Python server saw of the upgrade request (its handler may run
    # just after wscat read the handshake response).
    assert echo_server.handled.wait(TIMEOUT), "the server handler never ran"
    assert echo_server.connections == [{"x-test": ["1"], "subprotocol": "chat"}]

    client.type("hello world")
    client.signal("text", args=["hello world"])

    client.type("/binary 3")
    client.signal("binary", args=[3, "000102"])

    client.type("/ping hi")
    pong = client.signal("pong")
    milliseconds, payload = pong["args"]
    assert payload == "hi"
    assert isinstance(milliseconds, (int, float)) and milliseconds >= 0

    client.type("/close 4000 done")
    assert client.signal("disconnected")["args"] == [4000, "done"]
    assert client.wait_exit() == 0
    assert json.loads(client.last_line() or "{}")["signal"] == "disconnected"
    # One connection, and the only lines were answers to what was typed.
    assert len(echo_server.connections) == 1
    assert [json.loads(l)["signal"] for l in client.lines] == [
        "connected",
        "text",
        "binary",
        "pong",
        "disconnected",
    ]


def start_listener(wscat, extra: list[str], scheme: str) -> tuple[Wscat, int]:
    server = wscat(["listen", "--port", "0", "--echo", "--json", *extra])
    first = server.wait_for_line(lambda l: bool(l), "its first line")
    listening = json.loads(first)
    assert listening["signal"] == "listening", first
    url = listening["args"][0]
    assert url.startswith(f"{scheme}://127.0.0.1:"), url
    return server, int(url.rsplit(":", 1)[1].rstrip("/"))


def echo_session(server: Wscat, port: int, tls=None) -> None:
    """A Python client sends text and binary, gets both echoed, closes with
    1000; wscat must have printed the client's messages and the close."""
    with connect_to(port, tls) as ws:
        host, client_port = ws.local_address[:2]
        peer = f"{host}:{client_port}"
        ws.send("hello wscat")
        assert ws.recv(timeout=TIMEOUT) == "hello wscat"
        ws.send(b"\x00\x01\x02\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\x02\xff"
        ws.close(1000)
        assert ws.close_code == 1000
    server.signal("connected", peer=peer)
    server.signal("text", peer=peer, args=["hello wscat"])
    server.signal("binary", peer=peer, args=[4, "000102ff"])
    server.signal("disconnected", peer=peer, args=[1000, ""])
    assert server.proc.poll() is None, "the server must go on serving"


def test_listen_echo_for_python_client(wscat) -> None:
    server, port = start_listener(wscat, [], "ws")
    echo_session(server, port)


def test_listen_echo_over_wss(wscat, certs: Certs) -> None:
    server, port = start_listener(
        wscat, ["--cert", str(certs.server), "--key", str(certs.server_key)], "wss"
    )
    echo_session(server, port, client_context(certs))
