//! Helpers shared by the state machine tests: a signal recorder, raw frame
//! builders and the usual connection set-ups on the fake reactor.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod certs;
pub mod examples;
pub mod proxies;

use qwebsocket::event_loop::EventLoop;
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::{FrameHeader, OpCode};
use qwebsocket::testing::{FakeReactor, Peer, ReceivedFrame, SignalLog};
use qwebsocket::{CloseCode, SocketState, SslMode, WebSocket, WebSocketServer};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every signal a socket or server emitted, in order, as short strings
/// (the library's own recorder, `qwebsocket::testing::SignalLog`).
pub type Log = SignalLog;

/// Runs a real event loop until `done()` holds or `limit` passed; true if
/// `done()` held.
pub fn spin(ev: &EventLoop, limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        ev.process_events(Some((deadline - now).min(Duration::from_millis(10))))
            .unwrap();
    }
}

/// A wss:// server on a real loop, listening on 127.0.0.1 (a free port) and
/// presenting `leaf`.
pub fn wss_server(ev: &EventLoop, leaf: &certs::Leaf) -> WebSocketServer {
    let server = WebSocketServer::new(ev, "", SslMode::SecureMode);
    server.set_ssl_configuration(leaf.server_config());
    server
        .listen(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        .expect("listen on 127.0.0.1");
    server
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `qws-WHAT-PID-N`, made now.
    pub fn new(what: &str) -> ScratchDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("qws-{what}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return ScratchDir(dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", dir.display()),
            }
        }
    }

    /// The path of `name` in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in it; returns the file's path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path.to_str().expect("a UTF-8 temporary path").to_owned()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lower-case hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records every signal of `ws` except `bytes_written`.
pub fn record(ws: &WebSocket) -> Log {
    SignalLog::record(ws)
}

/// Records every signal of `server`.
pub fn record_server(server: &WebSocketServer) -> Log {
    SignalLog::record_server(server)
}

/// Empties the log and returns what it held.
pub fn take(log: &Log) -> Vec<String> {
    log.take()
}

/// The encoded bytes of one frame, exactly as given (no checks): the way to
/// send what `Peer::send_raw_frame` cannot (a masked frame from a server, an
/// unmasked one from a client).
pub fn raw_frame(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut bytes = frame_header(fin, rsv, opcode, mask, payload.len() as u64);
    let at = bytes.len();
    bytes.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut bytes[at..], key, 0);
    }
    bytes
}

/// Only the header of a frame announcing `len` payload bytes.
pub fn frame_header(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    len: u64,
) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: len,
    };
    let mut buf = [0u8; 14];
    let n = header.encode(&mut buf);
    buf[..n].to_vec()
}

/// A close frame payload: code then reason bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Decodes whole frames from raw bytes (what `Peer::frames` does, for bytes
/// already taken with `Peer::take_bytes`). Panics on trailing partial bytes.
pub fn decode_frames(mut bytes: &[u8]) -> Vec<ReceivedFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, hl) = FrameHeader::parse(bytes, 0b111)
            .expect("a valid frame header")
            .expect("a whole frame header");
        let len = h.payload_len as usize;
        assert!(
            bytes.len() >= hl + len,
            "a partial frame was left: {bytes:?}"
        );
        let mut payload = bytes[hl..hl + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push(ReceivedFrame {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            masked: h.mask.is_some(),
            payload,
        });
        bytes = &bytes[hl + len..];
    }
    out
}

/// A short, comparable description of a frame: `Text:hello`, `Close:1000:bye`,
/// `Ping:abc`, `Binary:0102`, with `(masked)` and `(more)` (FIN clear) marks.
pub fn describe(f: &ReceivedFrame) -> String {
    let body = match f.opcode {
        OpCode::Close => match f.close_status() {
            Some((code, reason)) if !f.payload.is_empty() => format!("{}:{reason}", code.code()),
            Some(_) => "empty".to_owned(),
            None => format!("bad:{}", hex(&f.payload)),
        },
        OpCode::Binary => hex(&f.payload),
        _ => String::from_utf8_lossy(&f.payload).into_owned(),
    };
    let mut s = format!("{:?}:{body}", f.opcode);
    if !f.fin {
        s.push_str("(more)");
    }
    if f.masked {
        s.push_str("(masked)");
    }
    s
}

/// `describe` for every frame the peer got since the last call.
pub fn frames(peer: &Peer) -> Vec<String> {
    peer.frames().iter().map(describe).collect()
}

// ----- client side ---------------------------------------------------------

/// The host name the client tests connect to.
pub const HOST: &str = "server.test";
/// The URL the client tests open.
pub const URL: &str = "ws://server.test:8080/chat?room=1";

/// A client socket on a fake reactor and the test's end of its connection.
pub struct Client {
    pub reactor: FakeReactor,
    pub ws: WebSocket,
    pub log: Log,
    pub peer: Peer,
}

/// A reactor where `HOST` resolves, and a recorded socket on it (not opened).
pub fn client_socket() -> (FakeReactor, WebSocket, Log) {
    let reactor = FakeReactor::new();
    reactor.add_host(HOST, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
    let ws = WebSocket::new(reactor.event_loop());
    let log = record(&ws);
    (reactor, ws, log)
}

/// Runs the loop until the socket's TCP connect is pending and takes it.
pub fn pending_tcp(reactor: &FakeReactor) -> Peer {
    reactor.run_until_idle();
    reactor
        .next_connection()
        .expect("the socket started a TCP connection")
}

/// Completes the TCP connect and returns the whole upgrade request as text.
pub fn accept_tcp(reactor: &FakeReactor, peer: &Peer) -> String {
    peer.accept();
    reactor.run_until_idle();
    let bytes = peer.take_bytes();
    let text = String::from_utf8(bytes).expect("the request is UTF-8");
    assert!(text.ends_with("\r\n\r\n"), "incomplete request: {text:?}");
    text
}

/// The value of header `name` in an HTTP head (first match, case-insensitive).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The accept value the server must answer to `key`.
pub fn accept_for(key: &str) -> String {
    qwebsocket::protocol::handshake::accept_key(key.as_bytes())
}

/// A `101 Switching Protocols` answer for `key` with extra header lines
/// (each without its CRLF).
pub fn switching_protocols(key: &str, extra: &[&str]) -> String {
    let mut s = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_for(key)
    );
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s
}

/// Opens `URL` on `ws`, completes the TCP connect, answers the upgrade
/// request with `response(key)` and runs the loop until idle; returns the
/// test's end of the connection.
pub fn open_and_answer<R: AsRef<[u8]>>(
    reactor: &FakeReactor,
    ws: &WebSocket,
    response: impl FnOnce(&str) -> R,
) -> Peer {
    ws.open(URL).expect("open accepted");
    let peer = pending_tcp(reactor);
    let request = accept_tcp(reactor, &peer);
    let key = header(&request, "Sec-WebSocket-Key").expect("a key");
    peer.write(response(key).as_ref());
    reactor.run_until_idle();
    peer
}

/// Opens `URL`, completes TCP and the handshake; the log is emptied.
pub fn connected_client() -> Client {
    let (reactor, ws, log) = client_socket();
    let peer = open_and_answer(&reactor, &ws, |key| switching_protocols(key, &[]));
    assert_eq!(ws.state(), SocketState::Connected);
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
    Client {
        reactor,
        ws,
        log,
        peer,
    }
}

/// A client's signals when its opening handshake fails (Qt's order).
pub const HANDSHAKE_FAILED: [&str; 5] = [
    "state:Connecting",
    "error:ConnectionRefused",
    "state:Unconnected",
    "disconnected",
    "read_channel_finished",
];

/// A client socket, set up by `configure`, opens `URL` and gets
/// `response(key)`, which must fail the handshake: checks the signals
/// (`HANDSHAKE_FAILED`, the log is emptied) and that the library closed
/// the TCP connection.
pub fn fail_handshake(
    configure: impl FnOnce(&WebSocket),
    response: impl FnOnce(&str) -> String,
) -> Client {
    let (reactor, ws, log) = client_socket();
    configure(&ws);
    let peer = open_and_answer(&reactor, &ws, response);
    assert_eq!(take(&log), HANDSHAKE_FAILED);
    assert!(peer.is_closed_by_library(), "the TCP connection is closed");
    Client {
        reactor,
        ws,
        log,
        peer,
    }
}

// ----- server side ---------------------------------------------------------

/// The key of RFC 6455 §1.3 and its accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request for `/chat` with extra header lines.
pub fn upgrade_request(extra: &[&str]) -> String {
    let mut s = format!(
        "GET /chat HTTP/1.1\r\nHost: server.test\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s
}

/// A server listening on 127.0.0.1 (free port) on a fresh reactor.
pub fn listening_server() -> (FakeReactor, WebSocketServer, SocketAddr, Log) {
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server
        .listen(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        .expect("listen on the fake network");
    let addr = SocketAddr::new(
        server.server_address().expect("listening"),
        server.server_port(),
    );
    let log = record_server(&server);
    (reactor, server, addr, log)
}

/// Splits what the server wrote into its HTTP head (without the blank line)
/// and the bytes after it.
pub fn split_response(bytes: &[u8]) -> (String, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete HTTP head in {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    let head = String::from_utf8(bytes[..end].to_vec()).expect("an ASCII head");
    (head, bytes[end + 4..].to_vec())
}

/// A client peer that upgraded, the server-side socket taken from the queue
/// (recorded from then on) and its log.
pub struct Upgraded {
    pub peer: Peer,
    pub ws: WebSocket,
    pub log: Log,
}

/// Connects a client peer, upgrades, takes the socket from the queue.
pub fn upgrade(reactor: &FakeReactor, server: &WebSocketServer, addr: SocketAddr) -> Upgraded {
    let peer = reactor.connect(addr).expect("the server listens");
    peer.write(upgrade_request(&[]).as_bytes());
    reactor.run_until_idle();
    let (head, rest) = split_response(&peer.take_bytes());
    assert!(head.starts_with("HTTP/1.1 101 "), "not upgraded: {head}");
    assert!(rest.is_empty(), "bytes after the 101: {rest:?}");
    let ws = server
        .next_pending_connection()
        .expect("the upgraded socket is queued");
    let log = record(&ws);
    reactor.run_until_idle();
    Upgraded { peer, ws, log }
}

/// Asserts a close code by number (readable failures for `Other` codes).
pub fn assert_close_code(ws: &WebSocket, code: u16, reason: &str) {
    assert_eq!(
        (ws.close_code().code(), ws.close_reason().as_str()),
        (code, reason),
        "close_code()/close_reason()"
    );
}

/// A close code from its number.
pub fn code(n: u16) -> CloseCode {
    CloseCode::from(n)
}
