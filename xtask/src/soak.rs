//! `cargo xtask soak --minutes N`: everything at once against one server
//! loop, for N minutes, on 127.0.0.1 only (not in CI).
//!
//! The server (this process's main thread, one event loop) echoes. Around
//! it, each on its own thread: persistent echo clients measuring round
//! trips, a churn of connects and closes, quick faults (RST and FIN in the
//! handshake and in frames, huge lengths, endless continuations, bad UTF-8,
//! unmasked frames, reserved opcodes, bad requests) and slow ones (slowloris
//! on the handshake and on a frame, unanswered closes, ping floods from a
//! peer that never reads). Each fault checks the outcome it must have; any
//! other outcome is counted as unexpected and fails the run. The summary
//! (printed, and written to target/soak/summary.md) has messages,
//! connections, faults by kind, errors by kind on the server, RSS and
//! descriptors at the start and the end, and the worst round trip.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::{FrameHeader, OpCode};
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Paths;

/// `cargo xtask soak`: builds and runs `soak-run` from a release build.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut cmd = crate::cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "xtask",
        "--",
        "soak-run",
    ])
    .args(args);
    crate::proc::run(&mut cmd)
}

/// Counters shared by every thread.
#[derive(Default)]
struct Stats {
    faults: Mutex<BTreeMap<&'static str, u64>>,
    unexpected: Mutex<Vec<String>>,
    echo_messages: AtomicU64,
    churn_connections: AtomicU64,
    worst_trip_us: AtomicU64,
    trips_over_100ms: AtomicU64,
    stop: AtomicBool,
}

impl Stats {
    fn fault(&self, kind: &'static str) {
        *self.faults.lock().unwrap().entry(kind).or_default() += 1;
    }

    fn unexpected(&self, what: String) {
        eprintln!("soak: UNEXPECTED: {what}");
        self.unexpected.lock().unwrap().push(what);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Resident memory in KiB, after the allocator gave back what is free
/// (glibc keeps freed blocks in per-thread arenas otherwise).
fn rss_kib() -> u64 {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() - 1)
}

// ----- the server ------------------------------------------------------------------

/// Limits of the soak server, small enough that the faults reach them.
const MAX_MESSAGE: u64 = 1 << 20;
const QUEUE_LIMIT: usize = 256 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
const FRAME_TIMEOUT: Duration = Duration::from_secs(3);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct ServerCounts {
    connections: u64,
    messages: u64,
    errors: BTreeMap<String, u64>,
}

fn start_server(ev: &EventLoop, counts: &Rc<RefCell<ServerCounts>>) -> WebSocketServer {
    let server = WebSocketServer::new(ev, "soak", SslMode::NonSecureMode);
    server.set_listen_backlog_size(1024);
    server.set_max_pending_connections(1024);
    server.set_handshake_timeout(Some(HANDSHAKE_TIMEOUT));
    server.set_max_allowed_incoming_message_size(MAX_MESSAGE);
    server
        .listen("127.0.0.1".parse().unwrap(), 0)
        .expect("listen on 127.0.0.1");
    let c = counts.clone();
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            c.borrow_mut().connections += 1;
            ws.set_send_queue_limit(Some(QUEUE_LIMIT));
            ws.set_frame_timeout(Some(FRAME_TIMEOUT));
            ws.set_close_timeout(CLOSE_TIMEOUT);
            let c2 = c.clone();
            ws.text_message_received().connect(move |ws, text| {
                c2.borrow_mut().messages += 1;
                if text == "please close" {
                    let _ = ws.close(CloseCode::Normal, "asked to");
                } else {
                    ws.send_text_message(text);
                }
            });
            ws.binary_message_received().connect(|ws, data| {
                ws.send_binary_message(data);
            });
            let c3 = c.clone();
            ws.error_occurred().connect(move |_, e| {
                *c3.borrow_mut().errors.entry(format!("{e:?}")).or_default() += 1;
            });
        }
    });
    server
}

// ----- well-behaved clients --------------------------------------------------------

/// Persistent connections, one message in flight each, round trips measured.
fn echo_clients(port: u16, count: usize, stats: Arc<Stats>) {
    let ev = EventLoop::new().unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let mut sockets: Vec<(WebSocket, Rc<RefCell<Option<Instant>>>)> = Vec::new();
    for _ in 0..count {
        let ws = WebSocket::new(&ev);
        let sent: Rc<RefCell<Option<Instant>>> = Rc::default();
        let (s, st) = (sent.clone(), stats.clone());
        ws.text_message_received().connect(move |ws, text| {
            if let Some(at) = s.borrow_mut().take() {
                let us = at.elapsed().as_micros() as u64;
                st.worst_trip_us.fetch_max(us, Ordering::Relaxed);
                if us > 100_000 {
                    st.trips_over_100ms.fetch_add(1, Ordering::Relaxed);
                }
                st.echo_messages.fetch_add(1, Ordering::Relaxed);
            }
            *s.borrow_mut() = Some(Instant::now());
            ws.send_text_message(text);
        });
        let s = sent.clone();
        ws.connected().connect(move |ws| {
            *s.borrow_mut() = Some(Instant::now());
            ws.send_text_message("a message of the echo load, 48 bytes long......");
        });
        ws.open(&url).unwrap();
        sockets.push((ws, sent));
    }
    while !stats.stopped() {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
        for (ws, sent) in &sockets {
            if ws.state() == qwebsocket::SocketState::Unconnected {
                stats.unexpected(format!(
                    "an echo client lost its connection: {:?} {}",
                    ws.error(),
                    ws.error_string()
                ));
                *sent.borrow_mut() = None;
                ws.open(&url).unwrap();
            }
        }
    }
    for (ws, _) in &sockets {
        let _ = ws.close(CloseCode::Normal, "");
    }
    let end = Instant::now() + Duration::from_secs(5);
    while ev.live_connections() > 0 && Instant::now() < end {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
}

/// Connect, handshake, one message, close: `in_flight` at a time.
fn churn(port: u16, in_flight: usize, stats: Arc<Stats>) {
    let ev = EventLoop::new().unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let live = Rc::new(RefCell::new(0usize));
    while !stats.stopped() {
        while *live.borrow() < in_flight {
            let ws = WebSocket::new(&ev);
            ws.connected().connect(|ws| {
                ws.send_text_message("churn");
            });
            ws.text_message_received().connect(|ws, _| {
                let _ = ws.close(CloseCode::Normal, "");
            });
            let (l, st) = (live.clone(), stats.clone());
            ws.disconnected().connect(move |ws| {
                *l.borrow_mut() -= 1;
                if ws.close_code() == CloseCode::Normal {
                    st.churn_connections.fetch_add(1, Ordering::Relaxed);
                } else {
                    st.unexpected(format!(
                        "a churn connection failed: {:?} {}",
                        ws.error(),
                        ws.error_string()
                    ));
                }
            });
            *live.borrow_mut() += 1;
            ws.open(&url).unwrap();
        }
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(5);
    while ev.live_connections() > 0 && Instant::now() < end {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
}

// ----- the misbehaving peers ---------------------------------------------------------

fn frame(fin: bool, opcode: OpCode, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mask = masked.then_some([0x12, 0x34, 0x56, 0x78]);
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut buf = [0u8; 14];
    let n = header.encode(&mut buf);
    let mut out = buf[..n].to_vec();
    let at = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[at..], key, 0);
    }
    out
}

fn request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A raw client past the opening handshake.
fn upgraded(port: u16) -> std::io::Result<TcpStream> {
    let mut s = connect(port)?;
    s.write_all(request(port).as_bytes())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other("no upgrade"));
    }
    Ok(s)
}

fn rst(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
}

/// Reads until the end of the stream; the first close code seen, or the
/// HTTP status if the answer is an HTTP head.
fn read_to_end(s: &mut TcpStream) -> (Option<u16>, Vec<u8>) {
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    let mut at = 0;
    while let Ok(Some((h, n))) = FrameHeader::parse(&all[at..], 0) {
        let len = h.payload_len as usize;
        if all.len() < at + n + len {
            break;
        }
        if h.opcode == OpCode::Close && len >= 2 {
            return (
                Some(u16::from_be_bytes([all[at + n], all[at + n + 1]])),
                all,
            );
        }
        at += n + len;
    }
    (None, all)
}

/// One quick fault; checks its outcome.
fn quick_fault(port: u16, i: u64, stats: &Stats) -> std::io::Result<()> {
    let kinds = 10;
    match i % kinds {
        0 | 1 => {
            let kind = if i.is_multiple_of(kinds) {
                "RST mid-handshake"
            } else {
                "FIN mid-handshake"
            };
            let mut s = connect(port)?;
            let r = request(port);
            s.write_all(&r.as_bytes()[..r.len() / 2])?;
            stats.fault(kind);
            if i.is_multiple_of(kinds) {
                rst(s);
            } else {
                s.shutdown(Shutdown::Write)?;
                let (_, rest) = read_to_end(&mut s);
                if !rest.is_empty() {
                    stats.unexpected(format!("{kind}: the server answered {} bytes", rest.len()));
                }
            }
        }
        2 | 3 => {
            let kind = if i % kinds == 2 {
                "RST mid-frame"
            } else {
                "FIN mid-payload"
            };
            let mut s = upgraded(port)?;
            let f = frame(true, OpCode::Text, true, &[b'x'; 300]);
            s.write_all(&f[..if i % kinds == 2 { 1 } else { 100 }])?;
            stats.fault(kind);
            if i % kinds == 2 {
                rst(s);
            } else {
                s.shutdown(Shutdown::Write)?;
                read_to_end(&mut s);
            }
        }
        4 => {
            let mut s = upgraded(port)?;
            let mut bytes = vec![0x82, 0xff];
            bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
            bytes.extend_from_slice(&[0; 8]);
            s.write_all(&bytes)?;
            stats.fault("2^63 length");
            expect_close(&mut s, 1002, "2^63 length", stats);
        }
        5 => {
            let mut s = upgraded(port)?;
            s.write_all(&frame(false, OpCode::Text, true, b"endless"))?;
            let chunk = frame(false, OpCode::Continuation, true, &[b'a'; 65536]);
            stats.fault("endless continuation");
            let mut sent = 0u64;
            // The server closes at 1 MiB; writes fail or it stops reading.
            while sent < 4 * MAX_MESSAGE && s.write_all(&chunk).is_ok() {
                sent += chunk.len() as u64;
            }
            expect_close(&mut s, 1009, "endless continuation", stats);
        }
        6 => {
            let mut s = upgraded(port)?;
            s.write_all(&frame(true, OpCode::Text, true, &[0xc3, 0x28, 0xff]))?;
            stats.fault("invalid UTF-8");
            expect_close(&mut s, 1007, "invalid UTF-8", stats);
        }
        7 => {
            let mut s = upgraded(port)?;
            s.write_all(&frame(true, OpCode::Text, false, b"unmasked"))?;
            stats.fault("unmasked client frame");
            expect_close(&mut s, 1002, "unmasked client frame", stats);
        }
        8 => {
            let mut s = upgraded(port)?;
            let mut f = frame(true, OpCode::Binary, true, b"x");
            f[0] = 0x80 | 0x3; // reserved opcode
            s.write_all(&f)?;
            stats.fault("reserved opcode");
            expect_close(&mut s, 1002, "reserved opcode", stats);
        }
        _ => {
            let mut s = connect(port)?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            stats.fault("bad upgrade request");
            let (_, all) = read_to_end(&mut s);
            if !all.starts_with(b"HTTP/1.1 400") {
                stats.unexpected(format!(
                    "bad upgrade request: {:?}",
                    String::from_utf8_lossy(&all[..all.len().min(40)])
                ));
            }
        }
    }
    Ok(())
}

fn expect_close(s: &mut TcpStream, code: u16, kind: &str, stats: &Stats) {
    let _ = s.shutdown(Shutdown::Write);
    let (got, _) = read_to_end(s);
    if got != Some(code) {
        stats.unexpected(format!("{kind}: close code {got:?}, expected {code}"));
    }
}

fn quick_faults(port: u16, stats: Arc<Stats>) {
    let mut i = 0;
    while !stats.stopped() {
        if let Err(e) = quick_fault(port, i, &stats) {
            stats.unexpected(format!("quick fault {}: {e}", i % 10));
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One slow fault; checks its outcome.
fn slow_fault(port: u16, i: u64, stats: &Stats) -> std::io::Result<()> {
    match i % 4 {
        0 => {
            // One byte every 300 ms: cut by the 2 s handshake timeout.
            let mut s = connect(port)?;
            stats.fault("slowloris handshake");
            let t0 = Instant::now();
            for b in request(port).bytes() {
                if s.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
                // Generous: on a busy machine the server's turn comes late.
                if t0.elapsed() > HANDSHAKE_TIMEOUT + Duration::from_secs(10) {
                    stats.unexpected("slowloris handshake: not cut in time".into());
                    break;
                }
            }
        }
        1 => {
            // A frame at one byte every 300 ms: the 3 s frame timeout, 1001.
            let mut s = upgraded(port)?;
            stats.fault("slowloris frame");
            let f = frame(true, OpCode::Text, true, &[b's'; 100]);
            s.set_nonblocking(true)?;
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            for b in f {
                if s.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
                if let Ok(n) = s.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                    if n == 0 || got.len() >= 4 {
                        break;
                    }
                }
            }
            s.set_nonblocking(false)?;
            let (code, _) = read_to_end(&mut s);
            let code =
                code.or_else(|| (got.len() >= 4).then(|| u16::from_be_bytes([got[2], got[3]])));
            if code != Some(1001) {
                stats.unexpected(format!("slowloris frame: close code {code:?}"));
            }
        }
        2 => {
            // The server closes (asked to); the peer never answers and
            // never ends TCP: the server drops it after its close timeout.
            let mut s = upgraded(port)?;
            s.write_all(&frame(true, OpCode::Text, true, b"please close"))?;
            stats.fault("unanswered close");
            let t0 = Instant::now();
            let (code, _) = read_to_end(&mut s);
            if code != Some(1000) || t0.elapsed() > CLOSE_TIMEOUT + Duration::from_secs(10) {
                stats.unexpected(format!(
                    "unanswered close: code {code:?} after {:?}",
                    t0.elapsed()
                ));
            }
        }
        _ => {
            // Pings without reading, until the writes have blocked for
            // 300 ms (the server stops reading at its send queue limit),
            // 2 s at least and 30 s at most: the kernel's socket buffers
            // (several MB each way on loopback) fill first, and a busy
            // machine gives the server its turns late.
            let s = upgraded(port)?;
            stats.fault("ping flood, never reading");
            s.set_nonblocking(true)?;
            let chunk = frame(true, OpCode::Ping, true, &[b'p'; 125]).repeat(500);
            let t0 = Instant::now();
            let mut blocked_since = None;
            let mut s = s;
            let (mut flooded, mut failed, mut at) = (0usize, None, 0usize);
            let blocked_long =
                |b: Option<Instant>| b.is_some_and(|t| t.elapsed() >= Duration::from_millis(300));
            while t0.elapsed() < Duration::from_secs(2)
                || (!blocked_long(blocked_since) && t0.elapsed() < Duration::from_secs(30))
            {
                // Whole frames: a partial write goes on where it stopped.
                match s.write(&chunk[at..]) {
                    Ok(n) => {
                        flooded += n;
                        at = (at + n) % chunk.len();
                        blocked_since = None;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        blocked_since.get_or_insert(Instant::now());
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if !blocked_long(blocked_since) {
                stats.unexpected(format!(
                    "ping flood: the server kept reading ({flooded} bytes in {:?}, {failed:?})",
                    t0.elapsed()
                ));
            }
            rst(s);
        }
    }
    Ok(())
}

fn slow_faults(port: u16, stats: Arc<Stats>) {
    let mut i = 0;
    while !stats.stopped() {
        if let Err(e) = slow_fault(port, i, &stats) {
            stats.unexpected(format!("slow fault {}: {e}", i % 4));
        }
        i += 1;
    }
}

// ----- the run ------------------------------------------------------------------------

pub fn run(paths: &Paths, args: &[String]) -> Result<(), String> {
    let mut minutes = 1.0f64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                minutes = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--minutes needs a number")?;
            }
            other => return Err(format!("soak: unknown argument {other:?}")),
        }
    }
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let ev = EventLoop::new().map_err(|e| e.to_string())?;
    let counts = Rc::new(RefCell::new(ServerCounts::default()));
    let server = start_server(&ev, &counts);
    let port = server.server_port();
    ev.process_events(Some(Duration::from_millis(10))).unwrap();
    let (rss_start, fds_start) = (rss_kib(), open_fds());
    println!(
        "soak: {minutes} min against ws://127.0.0.1:{port}/ (RSS {rss_start} KiB, {fds_start} fds)"
    );
    let stats = Arc::new(Stats::default());
    let mut threads = Vec::new();
    let s = stats.clone();
    threads.push(std::thread::spawn(move || echo_clients(port, 100, s)));
    let s = stats.clone();
    threads.push(std::thread::spawn(move || churn(port, 20, s)));
    for _ in 0..2 {
        let s = stats.clone();
        threads.push(std::thread::spawn(move || quick_faults(port, s)));
    }
    for _ in 0..3 {
        let s = stats.clone();
        threads.push(std::thread::spawn(move || slow_faults(port, s)));
    }
    let t0 = Instant::now();
    let mut next_report = t0 + Duration::from_secs(60);
    let (mut rss_max, mut fds_max) = (rss_start, fds_start);
    while t0.elapsed() < duration {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            let (rss, fds) = (rss_kib(), open_fds());
            rss_max = rss_max.max(rss);
            fds_max = fds_max.max(fds);
            let faults: u64 = stats.faults.lock().unwrap().values().sum();
            println!(
                "soak: {:>4.0}s: {} echoes, {} churned, {faults} faults, {} unexpected, \
                 {} live, RSS {rss} KiB, {fds} fds, worst trip {} ms",
                t0.elapsed().as_secs_f64(),
                stats.echo_messages.load(Ordering::Relaxed),
                stats.churn_connections.load(Ordering::Relaxed),
                stats.unexpected.lock().unwrap().len(),
                ev.live_connections(),
                stats.worst_trip_us.load(Ordering::Relaxed) / 1000,
            );
        }
    }
    stats.stop.store(true, Ordering::Relaxed);
    // The peers finish their current case; the loop keeps serving them.
    let end = Instant::now() + Duration::from_secs(60);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < end {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
    let all_joined = threads.iter().all(|t| t.is_finished());
    for t in threads {
        if t.is_finished() && t.join().is_err() {
            stats.unexpected("a peer thread panicked".into());
        }
    }
    let end = Instant::now() + Duration::from_secs(10);
    while ev.live_connections() > 0 && Instant::now() < end {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
    let live_end = ev.live_connections();
    let (rss_end, fds_end) = (rss_kib(), open_fds());
    let took = t0.elapsed();
    let counts = counts.borrow();
    let faults = stats.faults.lock().unwrap().clone();
    let unexpected = stats.unexpected.lock().unwrap().clone();
    let mut md = String::new();
    md.push_str(&format!(
        "# Soak summary\n\n`cargo xtask soak --minutes {minutes}`: {:.1} min.\n\n",
        took.as_secs_f64() / 60.0
    ));
    md.push_str("| figure | value |\n| --- | --- |\n");
    let rows = [
        (
            "server connections accepted (upgraded)",
            counts.connections.to_string(),
        ),
        (
            "messages received by the server",
            counts.messages.to_string(),
        ),
        (
            "echo round trips (100 persistent clients)",
            stats.echo_messages.load(Ordering::Relaxed).to_string(),
        ),
        (
            "worst echo round trip",
            format!("{} ms", stats.worst_trip_us.load(Ordering::Relaxed) / 1000),
        ),
        (
            "echo round trips over 100 ms",
            stats.trips_over_100ms.load(Ordering::Relaxed).to_string(),
        ),
        (
            "churned connections (connect, handshake, message, close)",
            stats.churn_connections.load(Ordering::Relaxed).to_string(),
        ),
        ("faults injected", faults.values().sum::<u64>().to_string()),
        ("unexpected outcomes", unexpected.len().to_string()),
        (
            "RSS at start / max / end",
            format!("{rss_start} / {rss_max} / {rss_end} KiB"),
        ),
        (
            "open fds at start / max / end",
            format!("{fds_start} / {fds_max} / {fds_end}"),
        ),
        (
            "connections left on the loop at the end",
            live_end.to_string(),
        ),
    ];
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    md.push_str("\n| fault injected | count |\n| --- | --- |\n");
    for (k, v) in &faults {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    md.push_str("\n| server error_occurred | count |\n| --- | --- |\n");
    for (k, v) in &counts.errors {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    if !unexpected.is_empty() {
        md.push_str("\nUnexpected outcomes (first 20):\n\n");
        for u in unexpected.iter().take(20) {
            md.push_str(&format!("- {u}\n"));
        }
    }
    println!("\n{md}");
    let dir = paths.target.join("soak");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.md"), &md).map_err(|e| e.to_string())?;
    println!("soak: wrote {}", dir.join("summary.md").display());
    server.close();
    let mut problems = Vec::new();
    if !unexpected.is_empty() {
        problems.push(format!("{} unexpected outcomes", unexpected.len()));
    }
    if !all_joined {
        problems.push("a peer thread did not stop".into());
    }
    if live_end > 0 {
        problems.push(format!("{live_end} connections left"));
    }
    if fds_end > fds_start + 2 {
        problems.push(format!("descriptors {fds_start} -> {fds_end}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
