//! Fault injection on real loopback sockets: a misbehaving peer made of
//! plain std sockets (socket2 for resets) against our `WebSocketServer` and
//! `WebSocket` on the real event loop, on the same thread.
//!
//! Each case asserts the end state, the error and its text, the close code
//! the peer received where there is one, that nothing hangs (every wait has a
//! deadline) and that nothing is left behind (`live_connections()` back to
//! zero). docs/RELIABILITY.md lists the cases and their outcomes.

mod common;

use common::raw_frame;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::protocol::handshake::accept_key;
use qwebsocket::protocol::{FrameHeader, OpCode};
use qwebsocket::testing::SignalLog;
use qwebsocket::{CloseCode, SocketError, SocketState, SslMode, WebSocket, WebSocketServer};
use socket2::SockRef;
use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The longest any wait may last.
const LIMIT: Duration = Duration::from_secs(10);
const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

// ----- running the loop ------------------------------------------------------

/// Runs `ev` until `done()` holds or `limit` passed; true if `done()` held.
fn spin(ev: &EventLoop, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        ev.process_events(Some((deadline - now).min(Duration::from_millis(5))))
            .unwrap();
    }
}

fn settle(ev: &EventLoop, d: Duration) {
    spin(ev, d, || false);
}

// ----- the misbehaving peer --------------------------------------------------

/// How the raw peer ends its side.
#[derive(Clone, Copy, Debug)]
enum End {
    /// FIN: an orderly TCP close (shutdown of both directions).
    Fin,
    /// RST: SO_LINGER 0, then close.
    Rst,
}

/// A raw TCP peer: non-blocking, everything it reads is kept.
struct Raw {
    s: TcpStream,
    input: Vec<u8>,
    /// It read the end of the stream (or a reset).
    ended: bool,
    reset: bool,
}

impl Raw {
    fn new(s: TcpStream) -> Raw {
        s.set_nonblocking(true).unwrap();
        s.set_nodelay(true).unwrap();
        Raw {
            s,
            input: Vec::new(),
            ended: false,
            reset: false,
        }
    }

    fn connect(port: u16) -> Raw {
        Raw::new(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// Reads what is there.
    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        while !self.ended {
            match self.s.read(&mut buf) {
                Ok(0) => self.ended = true,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.ended = true;
                    self.reset = true;
                }
            }
        }
    }

    /// Writes all of `bytes`, running the loop while the socket is full.
    fn send(&mut self, ev: &EventLoop, bytes: &[u8]) {
        let mut at = 0;
        let ok = spin(ev, LIMIT, || {
            while at < bytes.len() {
                match self.s.write(&bytes[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                    Err(e) => panic!("raw peer write: {e}"),
                }
            }
            true
        });
        assert!(ok, "the raw peer could not write {} bytes", bytes.len());
    }

    /// Runs the loop until the input holds `needle`.
    fn wait_for(&mut self, ev: &EventLoop, needle: &[u8]) -> bool {
        spin(ev, LIMIT, || {
            self.pump();
            self.input.windows(needle.len()).any(|w| w == needle)
        })
    }

    /// Runs the loop until the other side ended the stream.
    fn wait_end(&mut self, ev: &EventLoop) -> bool {
        spin(ev, LIMIT, || {
            self.pump();
            self.ended
        })
    }

    fn end(self, how: End) {
        match how {
            End::Fin => {
                let _ = self.s.shutdown(Shutdown::Both);
            }
            End::Rst => SockRef::from(&self.s)
                .set_linger(Some(Duration::ZERO))
                .unwrap(),
        }
        drop(self.s);
    }

    /// The frames read so far after the HTTP head (if any): (opcode, payload).
    fn frames(&self) -> Vec<(OpCode, Vec<u8>)> {
        let start = match self.input.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) if self.input.starts_with(b"HTTP/") => at + 4,
            _ => 0,
        };
        let mut out = Vec::new();
        let mut at = start;
        while let Ok(Some((h, n))) = FrameHeader::parse(&self.input[at..], 0) {
            let len = h.payload_len as usize;
            if self.input.len() < at + n + len {
                break;
            }
            let mut payload = self.input[at + n..at + n + len].to_vec();
            if let Some(key) = h.mask {
                qwebsocket::protocol::mask::apply_mask(&mut payload, key, 0);
            }
            out.push((h.opcode, payload));
            at += n + len;
        }
        out
    }

    /// The code of the first close frame read, if any.
    fn close_code(&self) -> Option<u16> {
        self.frames()
            .into_iter()
            .find(|(op, _)| *op == OpCode::Close)
            .map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
    }

    /// Runs the loop until a close frame came; its code.
    fn wait_close(&mut self, ev: &EventLoop) -> Option<u16> {
        spin(ev, LIMIT, || {
            self.pump();
            self.close_code().is_some() || self.ended
        });
        self.close_code()
    }
}

fn upgrade_request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A raw client that completed the opening handshake with `srv`.
fn raw_client(ev: &EventLoop, srv: &Srv) -> Raw {
    let port = srv.server.server_port();
    let before = srv.sockets.borrow().len();
    let mut raw = Raw::connect(port);
    raw.send(ev, upgrade_request(port).as_bytes());
    assert!(raw.wait_for(ev, b"\r\n\r\n"), "no handshake answer");
    assert!(raw.input.starts_with(b"HTTP/1.1 101"));
    assert!(spin(ev, LIMIT, || srv.sockets.borrow().len() > before));
    raw
}

/// A masked frame as a client sends it.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, MASK, payload)
}

/// An unmasked frame as a server sends it.
fn server_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, None, payload)
}

// ----- our server --------------------------------------------------------------

/// Our echo server; every socket it handed out, with its signal log.
struct Srv {
    server: WebSocketServer,
    sockets: Rc<RefCell<Vec<(WebSocket, SignalLog)>>>,
}

impl Srv {
    /// Serves on 127.0.0.1; `setup` configures each socket as it is taken.
    fn new(ev: &EventLoop, setup: impl Fn(&WebSocket) + 'static) -> Srv {
        let server = WebSocketServer::new(ev, "faults", SslMode::NonSecureMode);
        server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
        let sockets: Rc<RefCell<Vec<(WebSocket, SignalLog)>>> = Rc::default();
        let s = sockets.clone();
        server.new_connection().connect(move |server| {
            while let Some(ws) = server.next_pending_connection() {
                setup(&ws);
                let log = SignalLog::record(&ws);
                ws.text_message_received().connect(|ws, t| {
                    ws.send_text_message(t);
                });
                s.borrow_mut().push((ws, log));
            }
        });
        Srv { server, sockets }
    }

    fn socket(&self, i: usize) -> WebSocket {
        self.sockets.borrow()[i].0.clone()
    }

    fn log(&self, i: usize) -> Vec<String> {
        self.sockets.borrow()[i].1.entries()
    }

    fn disconnected(&self, i: usize) -> bool {
        self.log(i).iter().any(|e| e == "disconnected")
    }
}

/// Runs until no connection is left on the loop.
fn no_leak(ev: &EventLoop, what: &str) {
    assert!(
        spin(ev, LIMIT, || ev.live_connections() == 0),
        "{what}: {} connection(s) left on the loop",
        ev.live_connections()
    );
}

// ----- RST and FIN, server side ------------------------------------------------

#[test]
fn server_side_rst_and_fin_mid_handshake_leave_nothing() {
    for how in [End::Fin, End::Rst] {
        let ev = EventLoop::new().unwrap();
        let srv = Srv::new(&ev, |_| {});
        let server_log = SignalLog::record_server(&srv.server);
        let port = srv.server.server_port();
        let mut raw = Raw::connect(port);
        let request = upgrade_request(port);
        raw.send(&ev, &request.as_bytes()[..request.len() / 2]);
        assert!(spin(&ev, LIMIT, || ev.live_connections() == 1));
        raw.end(how);
        no_leak(&ev, &format!("{how:?} mid-handshake"));
        assert!(srv.sockets.borrow().is_empty(), "{how:?}: nothing upgraded");
        assert_eq!(server_log.entries(), Vec::<String>::new(), "{how:?}");
        // The server still serves.
        let raw = raw_client(&ev, &srv);
        drop(raw);
    }
}

/// Where in the stream the peer goes away.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Within a frame header (1 of its 6 bytes).
    Header,
    /// Within a payload (10 of its 100 bytes).
    Payload,
}

/// The bytes of a masked text message "before", then a cut frame.
fn message_then_cut(cut: Cut) -> Vec<u8> {
    let mut bytes = client_frame(true, OpCode::Text, b"before");
    let cut_frame = client_frame(true, OpCode::Text, &[b'x'; 100]);
    let keep = match cut {
        Cut::Header => 1,
        Cut::Payload => 2 + 4 + 10,
    };
    bytes.extend_from_slice(&cut_frame[..keep]);
    bytes
}

#[test]
fn server_side_rst_and_fin_mid_frame_deliver_what_came_and_report_the_loss() {
    for how in [End::Fin, End::Rst] {
        for cut in [Cut::Header, Cut::Payload] {
            let case = format!("{how:?} mid-{cut:?}");
            let ev = EventLoop::new().unwrap();
            let srv = Srv::new(&ev, |_| {});
            let mut raw = raw_client(&ev, &srv);
            raw.send(&ev, &message_then_cut(cut));
            // The whole message is echoed before the cut arrives.
            assert!(raw.wait_for(&ev, b"before"), "{case}");
            raw.end(how);
            assert!(spin(&ev, LIMIT, || srv.disconnected(0)), "{case}");
            let ws = srv.socket(0);
            assert_eq!(ws.state(), SocketState::Unconnected, "{case}");
            assert_eq!(ws.error(), SocketError::RemoteHostClosed, "{case}");
            assert_eq!(
                ws.error_string(),
                "The remote host closed the connection",
                "{case}"
            );
            assert_eq!(ws.close_code(), CloseCode::AbnormalDisconnection, "{case}");
            let log = srv.log(0);
            assert_eq!(
                log.iter()
                    .filter(|e| e.starts_with("text:"))
                    .collect::<Vec<_>>(),
                ["text:before"],
                "{case}: the cut frame is never delivered"
            );
            assert!(log.contains(&"error:RemoteHostClosed".to_owned()), "{case}");
            no_leak(&ev, &case);
        }
    }
}

// ----- RST and FIN, client side ------------------------------------------------

/// Our client, connected over TCP to a raw server that read its request
/// (and has not answered).
struct Cli {
    ws: WebSocket,
    log: SignalLog,
    raw: Raw,
}

impl Cli {
    fn new(ev: &EventLoop, setup: impl FnOnce(&WebSocket)) -> Cli {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let ws = WebSocket::new(ev);
        setup(&ws);
        let log = SignalLog::record(&ws);
        ws.open(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let mut accepted = None;
        assert!(spin(ev, LIMIT, || {
            accepted = listener.accept().ok();
            accepted.is_some()
        }));
        let mut raw = Raw::new(accepted.unwrap().0);
        assert!(raw.wait_for(ev, b"\r\n\r\n"), "no request");
        Cli { ws, log, raw }
    }

    /// The 101 answer to the request read.
    fn answer(&self) -> Vec<u8> {
        let head = String::from_utf8_lossy(&self.raw.input).into_owned();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a key");
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.trim().as_bytes())
        )
        .into_bytes()
    }

    /// Completes the handshake; the client is connected.
    fn open(ev: &EventLoop, setup: impl FnOnce(&WebSocket)) -> Cli {
        let mut c = Cli::new(ev, setup);
        let answer = c.answer();
        c.raw.input.clear();
        c.raw.send(ev, &answer);
        assert!(spin(ev, LIMIT, || c.ws.state() == SocketState::Connected));
        c
    }
}

/// The log holds this entry.
fn has(log: &SignalLog, entry: &str) -> bool {
    log.entries().iter().any(|e| e == entry)
}

#[test]
fn client_side_rst_and_fin_mid_handshake_fail_the_connection() {
    for how in [End::Fin, End::Rst] {
        let ev = EventLoop::new().unwrap();
        let mut c = Cli::new(&ev, |_| {});
        let answer = c.answer();
        c.raw.send(&ev, &answer[..answer.len() / 2]);
        settle(&ev, Duration::from_millis(20));
        c.raw.end(how);
        assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")), "{how:?}");
        assert_eq!(c.ws.state(), SocketState::Unconnected);
        assert_eq!(c.ws.error(), SocketError::RemoteHostClosed, "{how:?}");
        assert_eq!(
            c.ws.error_string(),
            "The remote host closed the connection",
            "{how:?}"
        );
        let log = c.log.entries();
        assert!(!log.contains(&"connected".to_owned()), "{how:?}: {log:?}");
        assert!(
            log.contains(&"error:RemoteHostClosed".to_owned()),
            "{how:?}"
        );
        no_leak(&ev, &format!("client {how:?} mid-handshake"));
    }
}

#[test]
fn client_side_rst_and_fin_mid_frame_deliver_what_came_and_report_the_loss() {
    for how in [End::Fin, End::Rst] {
        for cut in [Cut::Header, Cut::Payload] {
            let case = format!("client {how:?} mid-{cut:?}");
            let ev = EventLoop::new().unwrap();
            let mut c = Cli::open(&ev, |_| {});
            let mut bytes = server_frame(true, OpCode::Text, b"before");
            let cut_frame = server_frame(true, OpCode::Text, &[b'x'; 100]);
            bytes.extend_from_slice(match cut {
                Cut::Header => &cut_frame[..1],
                Cut::Payload => &cut_frame[..12],
            });
            c.raw.send(&ev, &bytes);
            assert!(
                spin(&ev, LIMIT, || c
                    .log
                    .entries()
                    .contains(&"text:before".to_owned())),
                "{case}"
            );
            c.raw.end(how);
            assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")), "{case}");
            assert_eq!(c.ws.state(), SocketState::Unconnected, "{case}");
            assert_eq!(c.ws.error(), SocketError::RemoteHostClosed, "{case}");
            assert_eq!(
                c.ws.error_string(),
                "The remote host closed the connection",
                "{case}"
            );
            assert_eq!(
                c.ws.close_code(),
                CloseCode::AbnormalDisconnection,
                "{case}"
            );
            let texts: Vec<String> = c
                .log
                .entries()
                .into_iter()
                .filter(|e| e.starts_with("text:"))
                .collect();
            assert_eq!(texts, ["text:before"], "{case}");
            no_leak(&ev, &case);
        }
    }
}

// ----- slowloris -------------------------------------------------------------------

/// Sends `bytes` one a second (`every`), running the loop meanwhile, until
/// `stop()` or the bytes run out; how many were sent.
fn trickle(
    ev: &EventLoop,
    raw: &mut Raw,
    bytes: &[u8],
    every: Duration,
    mut stop: impl FnMut(&mut Raw) -> bool,
) -> usize {
    for (i, b) in bytes.iter().enumerate() {
        let next = Instant::now() + every;
        // A peer that closed or reset ends the trickle.
        if raw.s.write(&[*b]).is_err() {
            return i;
        }
        while Instant::now() < next {
            ev.process_events(Some(Duration::from_millis(5))).unwrap();
            raw.pump();
            if stop(raw) {
                return i + 1;
            }
        }
    }
    bytes.len()
}

#[test]
fn server_side_slowloris_handshake_is_cut_by_the_handshake_timeout() {
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |_| {});
    srv.server
        .set_handshake_timeout(Some(Duration::from_millis(2500)));
    let port = srv.server.server_port();
    let mut raw = Raw::connect(port);
    let t0 = Instant::now();
    let request = upgrade_request(port);
    let sent = trickle(
        &ev,
        &mut raw,
        request.as_bytes(),
        Duration::from_secs(1),
        |r| r.ended,
    );
    let took = t0.elapsed();
    assert!(raw.ended, "the server ended the connection");
    assert!(sent < request.len(), "cut before the request was complete");
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_secs(5),
        "cut by the 2.5 s timeout, after {took:?}"
    );
    assert!(raw.input.is_empty(), "nothing answered: {:?}", raw.input);
    assert!(srv.sockets.borrow().is_empty());
    no_leak(&ev, "slowloris handshake");
}

#[test]
fn client_side_slowloris_handshake_is_cut_by_the_handshake_timeout() {
    let ev = EventLoop::new().unwrap();
    let mut c = Cli::new(&ev, |ws| {
        ws.set_handshake_timeout(Some(Duration::from_millis(2500)));
    });
    let answer = c.answer();
    let t0 = Instant::now();
    let log = c.log.clone();
    let sent = trickle(&ev, &mut c.raw, &answer, Duration::from_secs(1), |_| {
        has(&log, "disconnected")
    });
    assert!(sent < answer.len());
    assert!(has(&c.log, "disconnected"));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(c.ws.error(), SocketError::SocketTimeout);
    assert_eq!(
        c.ws.error_string(),
        "The server did not complete the opening handshake in time."
    );
    assert!(!has(&c.log, "connected"));
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    no_leak(&ev, "client slowloris handshake");
}

#[test]
fn server_side_slowloris_frame_is_cut_by_the_frame_timeout_with_1001() {
    let ev = EventLoop::new().unwrap();
    // The incomplete-frame timeout (5 s by default) restarts with every
    // byte: only the frame timeout stops a byte-a-second peer.
    let srv = Srv::new(&ev, |ws| {
        ws.set_frame_timeout(Some(Duration::from_millis(2500)))
    });
    let mut raw = raw_client(&ev, &srv);
    raw.input.clear();
    let frame = client_frame(true, OpCode::Text, b"a slow message");
    let t0 = Instant::now();
    let sent = trickle(&ev, &mut raw, &frame, Duration::from_secs(1), |r| {
        r.close_code().is_some()
    });
    let took = t0.elapsed();
    assert!(sent < frame.len());
    assert_eq!(raw.close_code(), Some(1001), "GoingAway to the peer");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let ws = srv.socket(0);
    assert_eq!(ws.error(), SocketError::SocketTimeout);
    assert_eq!(ws.error_string(), "Timeout when reading data from socket.");
    assert_eq!(ws.close_code(), CloseCode::GoingAway);
    // The peer never answers the close: the close timeout ends it.
    assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
    assert!(!srv.log(0).iter().any(|e| e.starts_with("text:")));
    no_leak(&ev, "slowloris frame");
}

#[test]
fn server_side_stalled_frame_is_cut_by_the_incomplete_frame_timeout_with_1001() {
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |ws| {
        ws.set_incomplete_frame_timeout(Some(Duration::from_millis(500)));
        ws.set_close_timeout(Duration::from_millis(500));
    });
    let mut raw = raw_client(&ev, &srv);
    raw.input.clear();
    let frame = client_frame(true, OpCode::Binary, &[7; 50]);
    raw.send(&ev, &frame[..20]);
    assert_eq!(raw.wait_close(&ev), Some(1001));
    let ws = srv.socket(0);
    assert_eq!(ws.error(), SocketError::SocketTimeout);
    assert_eq!(ws.error_string(), "Timeout when reading data from socket.");
    // The peer stays silent: closed within the close timeout.
    assert!(spin(&ev, Duration::from_secs(3), || srv.disconnected(0)));
    assert_eq!(ws.state(), SocketState::Unconnected);
    no_leak(&ev, "stalled frame");
}

#[test]
fn client_side_slowloris_frame_is_cut_by_the_frame_timeout_with_1001() {
    let ev = EventLoop::new().unwrap();
    let mut c = Cli::open(&ev, |ws| {
        ws.set_frame_timeout(Some(Duration::from_millis(2500)));
        ws.set_close_timeout(Duration::from_millis(500));
    });
    let frame = server_frame(true, OpCode::Text, b"a slow message");
    let sent = trickle(&ev, &mut c.raw, &frame, Duration::from_secs(1), |r| {
        r.close_code().is_some()
    });
    assert!(sent < frame.len());
    assert_eq!(c.raw.close_code(), Some(1001));
    assert_eq!(c.ws.error(), SocketError::SocketTimeout);
    assert_eq!(
        c.ws.error_string(),
        "Timeout when reading data from socket."
    );
    assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")));
    no_leak(&ev, "client slowloris frame");
}

// ----- lengths, endless messages ---------------------------------------------------

#[test]
fn server_side_huge_lengths_close_before_any_payload_is_buffered() {
    // 2^63 - 1 passes the header check and breaks the frame size limit
    // (1009); 2^64 - 1 has its most significant bit set (1002).
    for (len, code, text) in [
        (1u64 << 63, 1002, "Highest bit of payload length is not 0."),
        ((1u64 << 63) - 1, 1009, "Maximum framesize exceeded."),
        (u64::MAX, 1002, "Highest bit of payload length is not 0."),
    ] {
        let ev = EventLoop::new().unwrap();
        let srv = Srv::new(&ev, |_| {});
        let mut raw = raw_client(&ev, &srv);
        raw.input.clear();
        let mut bytes = vec![0x82, 0xff];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&MASK.unwrap());
        bytes.extend_from_slice(&[0; 64]);
        raw.send(&ev, &bytes);
        assert_eq!(raw.wait_close(&ev), Some(code), "length {len:#x}");
        let ws = srv.socket(0);
        assert_eq!(ws.close_code().code(), code, "length {len:#x}");
        assert_eq!(ws.error(), SocketError::Protocol);
        assert_eq!(ws.error_string(), text);
        assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
        no_leak(&ev, "huge length");
    }
}

#[test]
fn client_side_huge_lengths_close_with_1009_or_1002() {
    for (len, code) in [
        ((1u64 << 63) - 1, 1009),
        (1u64 << 63, 1002),
        (u64::MAX, 1002),
    ] {
        let ev = EventLoop::new().unwrap();
        let mut c = Cli::open(&ev, |ws| ws.set_close_timeout(Duration::from_millis(300)));
        let mut bytes = vec![0x82, 0x7f];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&[0; 64]);
        c.raw.send(&ev, &bytes);
        assert_eq!(c.raw.wait_close(&ev), Some(code), "length {len:#x}");
        assert_eq!(c.ws.close_code().code(), code);
        assert_eq!(c.ws.error(), SocketError::Protocol);
        assert!(!c.ws.error_string().is_empty());
        assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")));
        no_leak(&ev, "client huge length");
    }
}

#[test]
fn endless_continuation_frames_end_at_the_message_limit_with_1009() {
    let ev = EventLoop::new().unwrap();
    let limit = 1u64 << 20;
    let srv = Srv::new(&ev, move |ws| {
        ws.set_max_allowed_incoming_message_size(limit)
    });
    let mut raw = raw_client(&ev, &srv);
    raw.input.clear();
    raw.send(&ev, &client_frame(false, OpCode::Text, b"start"));
    let chunk = client_frame(false, OpCode::Continuation, &[b'a'; 65536]);
    let mut sent = 0u64;
    // Without the limit this would go on forever: at most 4x the limit.
    while raw.close_code().is_none() && !raw.ended && sent < 4 * limit {
        if raw.s.write_all(&chunk).is_err() {
            break;
        }
        sent += 65536;
        ev.process_events(Some(Duration::ZERO)).unwrap();
        raw.pump();
    }
    assert_eq!(raw.wait_close(&ev), Some(1009));
    assert!(
        sent <= limit + 2 * 65536,
        "stopped soon after the limit: {sent}"
    );
    let ws = srv.socket(0);
    assert_eq!(ws.close_code(), CloseCode::TooMuchData);
    assert_eq!(ws.error(), SocketError::Protocol);
    assert_eq!(ws.error_string(), "Received message is too big.");
    assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
    assert!(!srv.log(0).iter().any(|e| e.starts_with("text:")));
    no_leak(&ev, "endless continuation");
}

// ----- closing ----------------------------------------------------------------------

#[test]
fn unanswered_close_ends_at_the_close_timeout_on_both_sides() {
    // Server side: our server closes, the raw client never answers.
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |ws| ws.set_close_timeout(Duration::from_millis(400)));
    let mut raw = raw_client(&ev, &srv);
    raw.input.clear();
    let t0 = Instant::now();
    srv.socket(0).close(CloseCode::Normal, "bye").unwrap();
    assert_eq!(raw.wait_close(&ev), Some(1000));
    assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(raw.wait_end(&ev), "the server ended TCP");
    assert_eq!(srv.socket(0).state(), SocketState::Unconnected);
    no_leak(&ev, "unanswered close (server)");

    // Client side: our client closes, the raw server never answers.
    let ev = EventLoop::new().unwrap();
    let mut c = Cli::open(&ev, |ws| ws.set_close_timeout(Duration::from_millis(400)));
    let t0 = Instant::now();
    c.ws.close(CloseCode::Normal, "bye").unwrap();
    assert_eq!(c.raw.wait_close(&ev), Some(1000));
    assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(c.raw.wait_end(&ev), "the client dropped TCP");
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    no_leak(&ev, "unanswered close (client)");
}

#[test]
fn half_closed_peer_every_message_before_its_fin_is_delivered() {
    // Server side: the raw client sends 3 messages and FIN, and reads on.
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |_| {});
    let mut raw = raw_client(&ev, &srv);
    let mut bytes = Vec::new();
    for i in 0..3 {
        bytes.extend(client_frame(true, OpCode::Text, format!("m{i}").as_bytes()));
    }
    bytes.extend(client_frame(true, OpCode::Binary, &[9; 70_000]));
    raw.send(&ev, &bytes);
    raw.s.shutdown(Shutdown::Write).unwrap();
    assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
    let log = srv.log(0);
    let texts: Vec<&String> = log.iter().filter(|e| e.starts_with("text:")).collect();
    assert_eq!(texts, ["text:m0", "text:m1", "text:m2"]);
    assert!(log.iter().any(|e| e.starts_with("binary:0909")));
    assert_eq!(srv.socket(0).error(), SocketError::RemoteHostClosed);
    // What the server echoed before the end reached the half-closed peer.
    assert!(raw.wait_for(&ev, b"m2"));
    no_leak(&ev, "half-closed (server)");

    // Client side: the raw server sends 3 messages and FIN.
    let ev = EventLoop::new().unwrap();
    let mut c = Cli::open(&ev, |_| {});
    let mut bytes = Vec::new();
    for i in 0..3 {
        bytes.extend(server_frame(true, OpCode::Text, format!("m{i}").as_bytes()));
    }
    c.raw.send(&ev, &bytes);
    c.raw.s.shutdown(Shutdown::Write).unwrap();
    assert!(spin(&ev, LIMIT, || has(&c.log, "disconnected")));
    let texts: Vec<String> = c
        .log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("text:"))
        .collect();
    assert_eq!(texts, ["text:m0", "text:m1", "text:m2"]);
    assert_eq!(c.ws.error(), SocketError::RemoteHostClosed);
    no_leak(&ev, "half-closed (client)");
}

// ----- floods from a peer that never reads -------------------------------------

/// Our client on the same loop, echoing through the server: the round trip
/// of one message at a time (`tick` sends the next once the last came back).
struct Probe {
    ws: WebSocket,
    sent_at: Rc<Cell<Option<Instant>>>,
    trips: Rc<RefCell<Vec<Duration>>>,
}

impl Probe {
    fn new(ev: &EventLoop, port: u16) -> Probe {
        let ws = WebSocket::new(ev);
        let sent_at: Rc<Cell<Option<Instant>>> = Rc::default();
        let trips: Rc<RefCell<Vec<Duration>>> = Rc::default();
        let (s, t) = (sent_at.clone(), trips.clone());
        ws.text_message_received().connect(move |_, _| {
            if let Some(at) = s.take() {
                t.borrow_mut().push(at.elapsed());
            }
        });
        ws.open(&format!("ws://127.0.0.1:{port}/")).unwrap();
        assert!(spin(ev, LIMIT, || ws.state() == SocketState::Connected));
        Probe { ws, sent_at, trips }
    }

    fn tick(&self) {
        if self.sent_at.get().is_none() {
            self.sent_at.set(Some(Instant::now()));
            self.ws.send_text_message("probe");
        }
    }
}

/// Floods with `frame` without reading, while a probe measures round
/// trips: at least `how_long`, and on until the writes have blocked for
/// 300 ms (at most 20 s: a busy machine reads slowly). Returns (bytes
/// flooded, largest queue seen on `victim`, whether writes blocked at the
/// end).
fn flood(
    ev: &EventLoop,
    raw: &mut Raw,
    frame: &[u8],
    how_long: Duration,
    victim: &WebSocket,
    probe: &Probe,
) -> (usize, usize, bool) {
    let (mut flooded, mut most, mut blocked_since) = (0usize, 0usize, None::<Instant>);
    let t0 = Instant::now();
    let blocked_long =
        |since: Option<Instant>| since.is_some_and(|t| t.elapsed() > Duration::from_millis(300));
    // Whole frames, 64 KiB or so at a time.
    let chunk = frame.repeat((65536 / frame.len()).max(1));
    let mut at = 0;
    while t0.elapsed() < how_long
        || (!blocked_long(blocked_since) && t0.elapsed() < Duration::from_secs(20))
    {
        for _ in 0..16 {
            match raw.s.write(&chunk[at..]) {
                Ok(n) => {
                    flooded += n;
                    at = (at + n) % chunk.len();
                    blocked_since = None;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    blocked_since.get_or_insert(Instant::now());
                    break;
                }
                Err(e) => panic!("flood write: {e}"),
            }
        }
        probe.tick();
        ev.process_events(Some(Duration::from_millis(1))).unwrap();
        most = most.max(victim.bytes_to_write());
    }
    (flooded, most, blocked_long(blocked_since))
}

/// The slowest round trip allowed to another client during a flood. Small
/// frames cost the most per byte: the loop's read budget is 1 MiB per turn,
/// half a million 2-byte pings (0.2 s in a release build, 1.2 s in a debug
/// one, measured); the floods here use larger frames.
const FAST: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(2500)
} else {
    Duration::from_millis(500)
};

const QUEUE_LIMIT: usize = 256 * 1024;
/// What one read can add past the limit: a 64 KiB read of pings, each
/// answered by a pong at most 3 times its size (a 2-byte empty ping from a
/// server costs a masked 6-byte pong).
const QUEUE_SLACK: usize = 3 * 64 * 1024;

#[test]
fn server_side_ping_flood_from_a_peer_that_never_reads_is_bounded_and_others_stay_fast() {
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |ws| ws.set_send_queue_limit(Some(QUEUE_LIMIT)));
    let mut raw = raw_client(&ev, &srv);
    let victim = srv.socket(0);
    let probe = Probe::new(&ev, srv.server.server_port());
    let ping = client_frame(true, OpCode::Ping, &[b'p'; 125]);
    let (flooded, most, blocked) = flood(
        &ev,
        &mut raw,
        &ping,
        Duration::from_secs(3),
        &victim,
        &probe,
    );
    assert!(
        most <= QUEUE_LIMIT + QUEUE_SLACK,
        "queued pongs grew to {most} bytes (limit {QUEUE_LIMIT})"
    );
    // Reading stops once the pongs queued since the output was last empty
    // reach the limit; some of them may have been written by then.
    assert!(
        most >= QUEUE_LIMIT / 2,
        "the flood reached the limit: {most}"
    );
    assert!(blocked, "we stopped reading: the flooder's writes block");
    let trips = probe.trips.borrow().clone();
    assert!(
        trips.len() >= 20,
        "the other client went on: {} round trips",
        trips.len()
    );
    let slowest = *trips.iter().max().unwrap();
    assert!(slowest < FAST, "round trip during the flood: {slowest:?}");
    // The flooder reads at last: every ping it sent is answered, in order.
    let pings = flooded / ping.len();
    assert!(
        spin(&ev, LIMIT, || {
            raw.pump();
            raw.input.len() >= raw_head_len(&raw.input) + pings * 127
        }),
        "{pings} pongs expected"
    );
    let pongs = raw.frames();
    assert_eq!(pongs.len(), pings);
    assert!(
        pongs
            .iter()
            .all(|(op, p)| *op == OpCode::Pong && p[..] == [b'p'; 125])
    );
    assert_eq!(victim.state(), SocketState::Connected);
    assert_eq!(victim.bytes_to_write(), 0);
    raw.end(End::Fin);
    probe.ws.abort();
    no_leak(&ev, "ping flood");
}

/// The length of an HTTP head at the start of `input` (0 if none).
fn raw_head_len(input: &[u8]) -> usize {
    match input.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) if input.starts_with(b"HTTP/") => at + 4,
        _ => 0,
    }
}

#[test]
fn server_side_message_flood_from_a_peer_that_never_reads_is_bounded_and_others_stay_fast() {
    let ev = EventLoop::new().unwrap();
    let srv = Srv::new(&ev, |ws| ws.set_send_queue_limit(Some(QUEUE_LIMIT)));
    let mut raw = raw_client(&ev, &srv);
    let victim = srv.socket(0);
    let refused = Rc::new(Cell::new(0usize));
    let r = refused.clone();
    // The echo slot learns that its send was refused.
    victim.text_message_received().connect(move |ws, _| {
        if ws.error() == SocketError::Temporary {
            r.set(r.get() + 1);
        }
    });
    let probe = Probe::new(&ev, srv.server.server_port());
    let message = client_frame(true, OpCode::Text, &[b'm'; 1000]);
    let (_, most, _) = flood(
        &ev,
        &mut raw,
        &message,
        Duration::from_secs(3),
        &victim,
        &probe,
    );
    // Each echo is accepted while the queue is under the limit: at most one
    // message beyond it, plus what one read brought in. The echoes past it
    // are refused and the slot is told (`Temporary`); reading goes on, since
    // what stops it is only what the peer's input queued by itself (pongs):
    // two peers sending large messages to each other never wait on each other.
    assert!(
        most <= QUEUE_LIMIT + QUEUE_SLACK,
        "queued echoes grew to {most} bytes"
    );
    assert!(
        refused.get() > 0,
        "the slot was told its echoes were refused"
    );
    let trips = probe.trips.borrow().clone();
    assert!(trips.len() >= 20, "{} round trips", trips.len());
    let slowest = *trips.iter().max().unwrap();
    assert!(slowest < FAST, "round trip during the flood: {slowest:?}");
    assert_eq!(victim.state(), SocketState::Connected);
    raw.end(End::Rst);
    assert!(spin(&ev, LIMIT, || srv.disconnected(0)));
    probe.ws.abort();
    no_leak(&ev, "message flood");
}

#[test]
fn client_side_ping_flood_from_a_server_that_never_reads_is_bounded() {
    let ev = EventLoop::new().unwrap();
    // A well-behaved server on the same loop for the probe.
    let srv = Srv::new(&ev, |_| {});
    let probe = Probe::new(&ev, srv.server.server_port());
    let mut c = Cli::open(&ev, |ws| ws.set_send_queue_limit(Some(QUEUE_LIMIT)));
    // Small pings: each 18-byte ping costs the client a 22-byte masked
    // pong. (Empty ones cost more per byte, but half a million of them per
    // loop turn make a debug build on a busy machine too slow for a test.)
    let ping = server_frame(true, OpCode::Ping, &[b'q'; 16]);
    let (flooded, most, blocked) = flood(
        &ev,
        &mut c.raw,
        &ping,
        Duration::from_secs(3),
        &c.ws,
        &probe,
    );
    assert!(most <= QUEUE_LIMIT + QUEUE_SLACK, "queued pongs: {most}");
    // Reading stops once the pongs queued since the output was last empty
    // reach the limit; some of them may have been written by then.
    assert!(
        most >= QUEUE_LIMIT / 2,
        "the flood reached the limit: {most} ({flooded} bytes flooded, blocked {blocked})"
    );
    assert!(blocked);
    let trips = probe.trips.borrow().clone();
    assert!(trips.len() >= 20, "{} round trips", trips.len());
    let slowest = *trips.iter().max().unwrap();
    assert!(slowest < FAST, "round trip during the flood: {slowest:?}");
    // Drained: every ping answered.
    let pings = flooded / ping.len();
    assert!(spin(&ev, LIMIT, || {
        c.raw.pump();
        c.raw.input.len() >= pings * 22
    }));
    assert_eq!(c.raw.frames().len(), pings);
    assert_eq!(c.ws.state(), SocketState::Connected);
    c.ws.abort();
    probe.ws.abort();
    no_leak(&ev, "client ping flood");
}

// ----- TLS: alerts and truncation ------------------------------------------------

mod tls {
    use super::*;
    use crate::common::certs::{Ca, Leaf};
    use qwebsocket::ssl::SslConfiguration;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    /// A fatal handshake_failure alert in a plaintext TLS record.
    const ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

    fn pki() -> (Ca, Leaf) {
        let ca = Ca::new("faults CA");
        let leaf = ca.leaf(&["127.0.0.1"]);
        (ca, leaf)
    }

    fn trusting(ca: &Ca) -> SslConfiguration {
        let mut c = SslConfiguration::default();
        c.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
        c
    }

    fn rustls_server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(leaf.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap(),
        )
    }

    /// How the TLS peer ends the stream after its complete message.
    #[derive(Clone, Copy, Debug)]
    enum TlsEnd {
        /// Half of the next record, then TCP FIN: no close_notify.
        Truncate,
        /// The first half of the next frame in a whole record, then
        /// close_notify (a clean TLS end in the middle of a frame).
        CloseNotify,
    }

    /// Sends `frame` in one record, then `next` ended as `how`.
    fn send_and_end(
        conn: &mut rustls::Connection,
        stream: &mut TcpStream,
        frame: &[u8],
        next: &[u8],
        how: TlsEnd,
    ) {
        conn.writer().write_all(frame).unwrap();
        while conn.wants_write() {
            conn.write_tls(stream).unwrap();
        }
        match how {
            TlsEnd::Truncate => {
                conn.writer().write_all(next).unwrap();
                let mut record = Vec::new();
                while conn.wants_write() {
                    conn.write_tls(&mut record).unwrap();
                }
                stream.write_all(&record[..record.len() / 2]).unwrap();
            }
            TlsEnd::CloseNotify => {
                conn.writer().write_all(&next[..next.len() / 2]).unwrap();
                conn.send_close_notify();
                while conn.wants_write() {
                    conn.write_tls(stream).unwrap();
                }
            }
        }
        let _ = stream.shutdown(Shutdown::Write);
        // Wait for the other side to go away (bounded).
        let mut sink = [0u8; 4096];
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Reads plaintext until `needle`, driving the TLS handshake (blocking
    /// socket with a timeout).
    fn read_until(conn: &mut rustls::Connection, stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + LIMIT;
        while !got.windows(needle.len()).any(|w| w == needle) {
            assert!(Instant::now() < deadline, "TLS peer: timed out");
            conn.complete_io(stream).unwrap();
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        got
    }

    /// A rustls server in a thread: it answers the upgrade, sends the text
    /// message "complete", then the message "cut short" ended as `how`.
    fn ending_server(leaf: &Leaf, how: TlsEnd) -> (u16, JoinHandle<()>) {
        let config = rustls_server_config(leaf);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let mut conn: rustls::Connection =
                rustls::ServerConnection::new(config).unwrap().into();
            let head = read_until(&mut conn, &mut stream, b"\r\n\r\n");
            let head = String::from_utf8_lossy(&head).into_owned();
            let key = crate::common::header(&head, "Sec-WebSocket-Key").unwrap();
            let reply = crate::common::switching_protocols(key, &[]);
            conn.writer().write_all(reply.as_bytes()).unwrap();
            let frame = server_frame(true, OpCode::Text, b"complete");
            let next = server_frame(true, OpCode::Text, &[b'c'; 2000]);
            send_and_end(&mut conn, &mut stream, &frame, &next, how);
        });
        (port, thread)
    }

    #[test]
    fn client_side_tls_truncation_and_close_notify_mid_message_deliver_nothing_of_the_cut() {
        for how in [TlsEnd::Truncate, TlsEnd::CloseNotify] {
            let (ca, leaf) = pki();
            let ev = EventLoop::new().unwrap();
            let (port, thread) = ending_server(&leaf, how);
            let ws = WebSocket::new(&ev);
            ws.set_ssl_configuration(trusting(&ca));
            let log = SignalLog::record(&ws);
            ws.open(&format!("wss://127.0.0.1:{port}/")).unwrap();
            assert!(
                spin(&ev, LIMIT, || has(&log, "disconnected")),
                "{how:?}: {:?}",
                log.entries()
            );
            let texts: Vec<String> = log
                .entries()
                .into_iter()
                .filter(|e| e.starts_with("text"))
                .collect();
            assert_eq!(
                texts,
                ["text_frame:complete:true", "text:complete"],
                "{how:?}: nothing of the cut message, not even a frame of it"
            );
            assert_eq!(ws.error(), SocketError::RemoteHostClosed, "{how:?}");
            assert_eq!(ws.error_string(), "The remote host closed the connection");
            assert_eq!(ws.close_code(), CloseCode::AbnormalDisconnection);
            assert_eq!(ws.state(), SocketState::Unconnected);
            no_leak(&ev, "TLS end");
            assert!(spin(&ev, LIMIT, || thread.is_finished()));
            thread.join().unwrap();
        }
    }

    #[test]
    fn client_side_tls_alert_in_the_handshake_fails_with_ssl_handshake_failed() {
        let (ca, _) = pki();
        let ev = EventLoop::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let ws = WebSocket::new(&ev);
        ws.set_ssl_configuration(trusting(&ca));
        let log = SignalLog::record(&ws);
        let alerts = Rc::new(RefCell::new(Vec::new()));
        let a = alerts.clone();
        ws.alert_received()
            .connect(move |_, alert| a.borrow_mut().push(format!("{alert:?}")));
        ws.open(&format!("wss://127.0.0.1:{port}/")).unwrap();
        let mut accepted = None;
        assert!(spin(&ev, LIMIT, || {
            accepted = listener.accept().ok();
            accepted.is_some()
        }));
        let mut raw = Raw::new(accepted.unwrap().0);
        // The ClientHello arrives; the answer is a fatal alert.
        assert!(spin(&ev, LIMIT, || {
            raw.pump();
            raw.input.len() > 5
        }));
        assert_eq!(raw.input[0], 0x16, "a TLS handshake record");
        raw.send(&ev, &ALERT);
        assert!(spin(&ev, LIMIT, || has(&log, "disconnected")));
        assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
        assert_eq!(
            ws.error_string(),
            "TLS handshake failed: received fatal alert: HandshakeFailure"
        );
        assert!(!has(&log, "connected"));
        assert_eq!(
            alerts.borrow().len(),
            1,
            "alert_received: {:?}",
            alerts.borrow()
        );
        assert!(
            alerts.borrow()[0]
                .to_ascii_lowercase()
                .contains("handshake"),
            "{:?}",
            alerts.borrow()
        );
        no_leak(&ev, "TLS alert (client)");
    }

    /// Our secure echo server presenting `leaf`.
    fn secure_server(ev: &EventLoop, leaf: &Leaf) -> Srv {
        let server = WebSocketServer::new(ev, "faults", SslMode::SecureMode);
        let mut config = SslConfiguration::default();
        config
            .set_local_certificate_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
            .unwrap();
        server.set_ssl_configuration(config);
        server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
        let sockets: Rc<RefCell<Vec<(WebSocket, SignalLog)>>> = Rc::default();
        let s = sockets.clone();
        server.new_connection().connect(move |server| {
            while let Some(ws) = server.next_pending_connection() {
                let log = SignalLog::record(&ws);
                s.borrow_mut().push((ws, log));
            }
        });
        Srv { server, sockets }
    }

    #[test]
    fn server_side_tls_alert_instead_of_a_client_hello_leaves_nothing() {
        let (_, leaf) = pki();
        let ev = EventLoop::new().unwrap();
        let srv = secure_server(&ev, &leaf);
        let server_log = SignalLog::record_server(&srv.server);
        let mut raw = Raw::connect(srv.server.server_port());
        raw.send(&ev, &ALERT);
        assert!(raw.wait_end(&ev), "the server ends the connection");
        no_leak(&ev, "TLS alert (server)");
        assert!(srv.sockets.borrow().is_empty());
        assert!(
            !server_log.entries().iter().any(|e| e == "new_connection"),
            "{:?}",
            server_log.entries()
        );
    }

    #[test]
    fn server_side_tls_truncation_and_close_notify_mid_message_deliver_nothing_of_the_cut() {
        for how in [TlsEnd::Truncate, TlsEnd::CloseNotify] {
            let (ca, leaf) = pki();
            let ev = EventLoop::new().unwrap();
            let srv = secure_server(&ev, &leaf);
            let port = srv.server.server_port();
            let ca_der = ca.der.clone();
            let thread = std::thread::spawn(move || {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca_der.into()).unwrap();
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let mut conn: rustls::Connection =
                    rustls::ClientConnection::new(Arc::new(config), name)
                        .unwrap()
                        .into();
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_read_timeout(Some(LIMIT)).unwrap();
                conn.writer()
                    .write_all(upgrade_request(port).as_bytes())
                    .unwrap();
                let head = read_until(&mut conn, &mut stream, b"\r\n\r\n");
                assert!(head.starts_with(b"HTTP/1.1 101"));
                let frame = client_frame(true, OpCode::Text, b"complete");
                let next = client_frame(true, OpCode::Text, &[b'c'; 2000]);
                send_and_end(&mut conn, &mut stream, &frame, &next, how);
            });
            assert!(
                spin(&ev, LIMIT, || !srv.sockets.borrow().is_empty()),
                "{how:?}"
            );
            assert!(spin(&ev, LIMIT, || srv.disconnected(0)), "{how:?}");
            let texts: Vec<String> = srv
                .log(0)
                .into_iter()
                .filter(|e| e.starts_with("text"))
                .collect();
            assert_eq!(
                texts,
                ["text_frame:complete:true", "text:complete"],
                "{how:?}: nothing of the cut message"
            );
            let ws = srv.socket(0);
            assert_eq!(ws.error(), SocketError::RemoteHostClosed, "{how:?}");
            assert_eq!(ws.error_string(), "The remote host closed the connection");
            assert_eq!(ws.close_code(), CloseCode::AbnormalDisconnection);
            no_leak(&ev, "TLS end (server)");
            assert!(spin(&ev, LIMIT, || thread.is_finished()));
            thread.join().unwrap();
        }
    }
}

/// Two peers that send each other a message far larger than their send
/// queue limit, at the same time, both get theirs: the limit refuses sends
/// but never stops a socket reading because of its own output (only pongs
/// and close echoes that the peer's input queued count for that), so
/// neither waits for the other. 16 MiB each way is more than loopback's
/// socket buffers hold.
#[test]
fn two_peers_sending_large_messages_to_each_other_never_wait_on_each_other() {
    const BIG: usize = 16 << 20;
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let keep = Rc::new(RefCell::new(Vec::new()));
    let (g, k) = (got.clone(), keep.clone());
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            ws.set_send_queue_limit(Some(64 * 1024));
            let g = g.clone();
            ws.binary_message_received()
                .connect(move |_, m| g.borrow_mut().push(("server", m.len())));
            assert_eq!(ws.send_binary_message(&vec![1u8; BIG]), BIG);
            k.borrow_mut().push(ws);
        }
    });
    let client = WebSocket::new(&ev);
    client.set_send_queue_limit(Some(64 * 1024));
    let g = got.clone();
    client
        .binary_message_received()
        .connect(move |_, m| g.borrow_mut().push(("client", m.len())));
    client.connected().connect(|ws| {
        assert_eq!(ws.send_binary_message(&vec![2u8; BIG]), BIG);
    });
    client
        .open(&format!("ws://127.0.0.1:{}/", server.server_port()))
        .unwrap();
    let both = spin(&ev, Duration::from_secs(60), || got.borrow().len() == 2);
    let mut seen = got.borrow().clone();
    seen.sort();
    assert!(both, "only {seen:?} arrived: the peers wait on each other");
    assert_eq!(seen, [("client", BIG), ("server", BIG)]);
}
