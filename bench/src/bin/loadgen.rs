//! The load generator of `cargo xtask bench`: one thread, one mio loop.
//!
//! ```text
//! loadgen --port P [--connections N] [--window W] [--size BYTES] [--text]
//!         [--warmup SECS] [--duration SECS] [--server-pid PID] [--raw]
//!         [--idle] [--settle SECS] [--connect-parallel N]
//! ```
//!
//! Opens N connections to `ws://127.0.0.1:P/`, upgrades them, then keeps W
//! messages in flight on each: W = 1 is the closed loop (the next message
//! leaves only after the echo of the previous one came back), W > 1 is
//! pipelined. Every frame is masked once, before the run, and the same bytes
//! are sent again and again; every echoed byte is compared with what was
//! sent. After `--warmup` seconds the measured window of `--duration` seconds
//! begins: messages/s, MiB/s (payload bytes echoed per second), round-trip
//! latency (p50/p99/max), our own CPU time and, with `--server-pid`, the
//! server's (`/proc/PID/stat`) per message. One line of JSON is printed.
//!
//! `--raw` is for the raw TCP ceiling (`raw_tcp_echo`): no upgrade, and the
//! echo must be byte-identical to the masked frames we sent, since the ceiling
//! only reads what arrives and writes it back.
//!
//! `--idle` measures memory instead: each connection upgrades, exchanges one
//! message, then all stay idle for `--settle` seconds, and the server's RSS
//! growth (`/proc/PID/status`) is divided by the number of connections.

use bench::args::Args;
use bench::hist::Histogram;
use bench::json::Object;
use bench::{payload, sys, upgrade};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const READ_BUFFER: usize = 1 << 20;
const BURST_BYTES: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

struct Config {
    addr: SocketAddr,
    connections: usize,
    window: usize,
    size: usize,
    text: bool,
    raw: bool,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    idle: bool,
    settle: Duration,
    connect_parallel: usize,
}

fn config() -> Result<Config, String> {
    let mut a = Args::from_env();
    let port: u16 = a.opt("--port")?.ok_or("--port is required")?;
    let secs = |v: f64| Duration::from_secs_f64(v);
    let c = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        connections: a.get("--connections", 1usize)?,
        window: a.get("--window", 1usize)?,
        size: a.get("--size", 16usize)?,
        text: a.flag("--text"),
        raw: a.flag("--raw"),
        warmup: secs(a.get("--warmup", 0.5f64)?),
        duration: secs(a.get("--duration", 2.0f64)?),
        server_pid: a.opt("--server-pid")?,
        idle: a.flag("--idle"),
        settle: secs(a.get("--settle", 1.0f64)?),
        connect_parallel: a.get("--connect-parallel", 128usize)?,
    };
    a.finish()?;
    if c.connections == 0 || c.window == 0 || c.connect_parallel == 0 {
        return Err("--connections, --window and --connect-parallel must be positive".into());
    }
    Ok(c)
}

/// What each connection expects back, shared by all of them.
struct Expect {
    /// The masked frame we send, repeated so that many frames go out in one write.
    burst: Vec<u8>,
    frame_len: usize,
    /// The payload the echo must carry (WebSocket mode).
    payload: Vec<u8>,
    opcode: u8,
    raw: bool,
}

#[derive(Debug)]
enum State {
    Connecting,
    Handshake { written: usize, head: Vec<u8> },
    Running,
    Closing,
    Closed,
}

/// Receive side: where we are in the expected echo.
#[derive(Default)]
struct Rx {
    /// Raw mode: offset in the frame; WebSocket mode: offset in the message.
    off: usize,
    hdr: [u8; 14],
    hdr_len: usize,
    in_payload: bool,
    remaining: usize,
    fin: bool,
    started: bool,
}

/// Send times of the messages in flight (a ring of `window` entries).
struct Ring {
    slots: Box<[Instant]>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(cap: usize, t: Instant) -> Ring {
        Ring {
            slots: vec![t; cap].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }
    fn push(&mut self, t: Instant) {
        let i = (self.head + self.len) % self.slots.len();
        self.slots[i] = t;
        self.len += 1;
    }
    fn pop(&mut self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let t = self.slots[self.head];
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        Some(t)
    }
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// Frames issued but not completely written yet.
    pending: usize,
    /// Bytes of the current frame already written.
    send_off: usize,
    write_blocked: bool,
    in_flight: Ring,
    /// How many more messages this connection may issue.
    budget: u64,
    rx: Rx,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Connecting,
    Warmup,
    Measure,
    Drain,
    Closing,
}

struct Snapshot {
    at: Instant,
    completed: u64,
    own_cpu: u64,
    server_cpu: Option<u64>,
}

struct Gen {
    cfg: Config,
    poll: Poll,
    conns: Vec<Conn>,
    expect: Expect,
    rbuf: Vec<u8>,
    hist: Histogram,
    request: Vec<u8>,
    phase: Phase,
    sending: bool,
    opened: usize,
    opening: usize,
    ready: usize,
    closed: usize,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

fn masked_close_frame() -> Vec<u8> {
    payload::masked_frame(0x8, &1000u16.to_be_bytes())
}

impl Gen {
    fn new(cfg: Config) -> io::Result<Gen> {
        let body = payload::make(cfg.size, cfg.text);
        let opcode = if cfg.text { 0x1 } else { 0x2 };
        let frame = payload::masked_frame(opcode, &body);
        let copies = (BURST_BYTES / frame.len()).clamp(1, cfg.window);
        let request = upgrade::client_request(&cfg.addr.to_string());
        Ok(Gen {
            poll: Poll::new()?,
            conns: Vec::with_capacity(cfg.connections),
            expect: Expect {
                burst: frame.repeat(copies),
                frame_len: frame.len(),
                payload: body,
                opcode,
                raw: cfg.raw,
            },
            rbuf: vec![0; READ_BUFFER],
            hist: Histogram::new(),
            request,
            phase: Phase::Connecting,
            sending: true,
            opened: 0,
            opening: 0,
            ready: 0,
            closed: 0,
            completed: 0,
            errors: 0,
            first_error: None,
            cfg,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            completed: self.completed,
            own_cpu: sys::self_cpu_us(),
            server_cpu: self
                .cfg
                .server_pid
                .and_then(|p| sys::process_cpu_us(p).ok()),
        }
    }

    fn fail(&mut self, i: usize, why: String) {
        let c = &mut self.conns[i];
        if matches!(c.state, State::Closed) {
            return;
        }
        if matches!(c.state, State::Connecting | State::Handshake { .. }) {
            self.opening -= 1;
        }
        let _ = self.poll.registry().deregister(&mut c.stream);
        let _ = c.stream.shutdown(Shutdown::Both);
        c.state = State::Closed;
        c.in_flight = Ring::new(1, Instant::now());
        c.pending = 0;
        self.closed += 1;
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("connection {i}: {why}"));
        }
    }

    fn open_more(&mut self) {
        while self.opened < self.cfg.connections && self.opening < self.cfg.connect_parallel {
            self.opened += 1;
            let token = Token(self.conns.len());
            let registered = TcpStream::connect(self.cfg.addr).and_then(|mut stream| {
                self.poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .map(|()| stream)
            });
            match registered {
                Ok(stream) => {
                    self.conns.push(Conn {
                        stream,
                        state: State::Connecting,
                        pending: 0,
                        send_off: 0,
                        write_blocked: false,
                        in_flight: Ring::new(self.cfg.window, Instant::now()),
                        budget: if self.cfg.idle { 1 } else { u64::MAX },
                        rx: Rx::default(),
                    });
                    self.opening += 1;
                }
                Err(e) => {
                    self.errors += 1;
                    self.first_error.get_or_insert(format!("connect: {e}"));
                }
            }
        }
    }

    /// Issues as many new messages as the window and the budget allow.
    fn top_up(conn: &mut Conn, window: usize, now: Instant) {
        while conn.in_flight.len < window && conn.budget > 0 {
            conn.in_flight.push(now);
            conn.pending += 1;
            conn.budget -= 1;
        }
    }

    fn on_event(&mut self, i: usize, readable: bool, writable: bool) {
        if let Err(e) = self.drive(i, readable, writable) {
            self.fail(i, e);
        }
    }

    fn drive(&mut self, i: usize, readable: bool, writable: bool) -> Result<(), String> {
        let now = Instant::now();
        let window = self.cfg.window;
        let conn = &mut self.conns[i];
        if writable {
            conn.write_blocked = false;
        }
        if let State::Connecting = conn.state {
            if let Some(e) = conn.stream.take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect: {e}"));
            }
            match conn.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("connect: {e}")),
            }
            let _ = conn.stream.set_nodelay(true);
            if self.expect.raw {
                conn.state = State::Running;
                self.opening -= 1;
                self.ready += 1;
                if self.sending {
                    Gen::top_up(conn, window, now);
                }
            } else {
                conn.state = State::Handshake {
                    written: 0,
                    head: Vec::new(),
                };
            }
        }
        if let State::Handshake { written, head } = &mut conn.state {
            while *written < self.request.len() && !conn.write_blocked {
                match conn.stream.write(&self.request[*written..]) {
                    Ok(n) => *written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.write_blocked = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("writing the upgrade request: {e}")),
                }
            }
            let mut chunk = [0u8; 1024];
            let leftover = loop {
                match conn.stream.read(&mut chunk) {
                    Ok(0) => return Err("the server closed during the upgrade".into()),
                    Ok(n) => {
                        head.extend_from_slice(&chunk[..n]);
                        if let Some(len) = upgrade::head_len(head) {
                            upgrade::check_response(&head[..len])?;
                            break Some(head[len..].to_vec());
                        }
                        if head.len() > 16 * 1024 {
                            return Err("upgrade answer too long".into());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("reading the upgrade answer: {e}")),
                }
            };
            let Some(leftover) = leftover else {
                return Ok(());
            };
            conn.state = State::Running;
            self.opening -= 1;
            self.ready += 1;
            if self.sending {
                Gen::top_up(conn, window, now);
            }
            if !leftover.is_empty() {
                let done = receive(&mut conn.rx, &leftover, &self.expect)?;
                self.completed += done;
                complete(conn, done, now, self.phase, &mut self.hist);
            }
            // The socket may hold more: read below as if readable.
            return self.drive_running(i, true, now);
        }
        self.drive_running(i, readable, now)
    }

    fn drive_running(&mut self, i: usize, readable: bool, now: Instant) -> Result<(), String> {
        let window = self.cfg.window;
        let conn = &mut self.conns[i];
        match conn.state {
            State::Running => {}
            State::Closing => {
                loop {
                    match conn.stream.read(&mut self.rbuf) {
                        Ok(0) => {
                            let _ = self.poll.registry().deregister(&mut conn.stream);
                            conn.state = State::Closed;
                            self.closed += 1;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            let _ = self.poll.registry().deregister(&mut conn.stream);
                            conn.state = State::Closed;
                            self.closed += 1;
                            break;
                        }
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
        if readable {
            loop {
                match conn.stream.read(&mut self.rbuf) {
                    Ok(0) => return Err("the server closed the connection".into()),
                    Ok(n) => {
                        let done = receive(&mut conn.rx, &self.rbuf[..n], &self.expect)?;
                        if done > 0 {
                            self.completed += done;
                            complete(conn, done, now, self.phase, &mut self.hist);
                            if self.sending {
                                Gen::top_up(conn, window, now);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        }
        write_pending(conn, &self.expect).map_err(|e| format!("write: {e}"))
    }

    fn in_flight(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| matches!(c.state, State::Running))
            .map(|c| c.in_flight.len)
            .sum()
    }

    fn start_closing(&mut self) {
        self.phase = Phase::Closing;
        let close = masked_close_frame();
        for c in &mut self.conns {
            match c.state {
                State::Closed => continue,
                State::Running if !self.expect.raw => {
                    // Best effort: a close frame, then our FIN.
                    let _ = c.stream.write(&close);
                }
                _ => {}
            }
            let _ = c.stream.shutdown(Shutdown::Write);
            c.state = State::Closing;
        }
        self.opening = 0;
    }

    fn turn(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            self.on_event(ev.token().0, ev.is_readable(), ev.is_writable());
        }
        Ok(())
    }

    fn run(mut self) -> Result<String, String> {
        let mut events = Events::with_capacity(1024);
        let started = Instant::now();
        let rss_before = self.cfg.server_pid.and_then(|p| sys::vm_rss_kib(p).ok());
        // Connect and upgrade, at most `connect_parallel` at a time.
        while self.opened < self.cfg.connections || self.opening > 0 {
            self.open_more();
            if started.elapsed() > CONNECT_TIMEOUT {
                return Err(format!(
                    "only {} of {} connections were up after {}s",
                    self.ready,
                    self.cfg.connections,
                    CONNECT_TIMEOUT.as_secs()
                ));
            }
            self.turn(&mut events, Duration::from_millis(100))?;
        }
        let connect_time = started.elapsed();
        if self.ready == 0 {
            return Err(format!(
                "no connection could be made: {}",
                self.first_error.clone().unwrap_or_default()
            ));
        }
        if self.cfg.idle {
            return self.run_idle(events, rss_before, connect_time);
        }

        self.phase = Phase::Warmup;
        let warm_end = Instant::now() + self.cfg.warmup;
        while Instant::now() < warm_end {
            self.turn(
                &mut events,
                warm_end.saturating_duration_since(Instant::now()),
            )?;
        }
        self.phase = Phase::Measure;
        let begin = self.snapshot();
        let end_at = begin.at + self.cfg.duration;
        while Instant::now() < end_at {
            self.turn(
                &mut events,
                end_at.saturating_duration_since(Instant::now()),
            )?;
        }
        let end = self.snapshot();
        self.phase = Phase::Drain;
        self.sending = false;
        let drain_end = Instant::now() + DRAIN_TIMEOUT;
        while self.in_flight() > 0 && Instant::now() < drain_end {
            self.turn(&mut events, Duration::from_millis(50))?;
        }
        let drained = self.in_flight() == 0;
        self.close_all(&mut events)?;

        let secs = (end.at - begin.at).as_secs_f64();
        let messages = end.completed - begin.completed;
        let per_msg = |us: u64| {
            if messages > 0 {
                us as f64 / messages as f64
            } else {
                f64::NAN
            }
        };
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut lat = Object::new();
        lat.set("p50", &us(self.hist.quantile(0.5)))
            .set("p99", &us(self.hist.quantile(0.99)))
            .set("max", &us(self.hist.max()));
        let server_cpu = match (begin.server_cpu, end.server_cpu) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let own_cpu = end.own_cpu - begin.own_cpu;
        let mut o = Object::new();
        o.set("mode", if self.cfg.raw { "raw" } else { "ws" })
            .set("connections", &self.cfg.connections)
            .set("connected", &self.ready)
            .set("window", &self.cfg.window)
            .set("size", &self.cfg.size)
            .set("text", &self.cfg.text)
            .set("seconds", &secs)
            .set("messages", &messages)
            .set("messages_per_s", &(messages as f64 / secs))
            .set(
                "mib_per_s",
                &(messages as f64 * self.cfg.size as f64 / secs / 1_048_576.0),
            )
            .set("latency_us", &lat)
            .set("server_cpu_us", &server_cpu)
            .set("server_cpu_us_per_msg", &server_cpu.map(per_msg))
            .set("client_cpu_us", &own_cpu)
            .set("client_cpu_us_per_msg", &per_msg(own_cpu))
            .set("client_cpu_share", &(own_cpu as f64 / 1e6 / secs))
            .set("connect_s", &connect_time.as_secs_f64())
            .set("drained", &drained)
            .set("errors", &self.errors)
            .set("first_error", &self.first_error);
        Ok(o.finish())
    }

    fn run_idle(
        mut self,
        mut events: Events,
        rss_before: Option<u64>,
        connect_time: Duration,
    ) -> Result<String, String> {
        // Every connection exchanged one message (budget 1); wait for the echoes.
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.in_flight() > 0 || self.conns.iter().any(|c| c.pending > 0) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} echoes still missing after {}s",
                    self.in_flight(),
                    DRAIN_TIMEOUT.as_secs()
                ));
            }
            self.turn(&mut events, Duration::from_millis(50))?;
        }
        let settle_end = Instant::now() + self.cfg.settle;
        while Instant::now() < settle_end {
            self.turn(
                &mut events,
                settle_end.saturating_duration_since(Instant::now()),
            )?;
        }
        let rss_after = self.cfg.server_pid.and_then(|p| sys::vm_rss_kib(p).ok());
        let idle = self
            .conns
            .iter()
            .filter(|c| matches!(c.state, State::Running))
            .count();
        let errors = self.errors;
        let first_error = self.first_error.clone();
        let completed = self.completed;
        self.close_all(&mut events)?;
        let per_conn = match (rss_before, rss_after) {
            (Some(a), Some(b)) if idle > 0 => Some((b as f64 - a as f64) * 1024.0 / idle as f64),
            _ => None,
        };
        let mut o = Object::new();
        o.set("mode", if self.cfg.raw { "raw" } else { "ws" })
            .set("idle_connections", &idle)
            .set("messages", &completed)
            .set("size", &self.cfg.size)
            .set("server_rss_before_kib", &rss_before)
            .set("server_rss_after_kib", &rss_after)
            .set("server_rss_bytes_per_conn", &per_conn)
            .set("connect_s", &connect_time.as_secs_f64())
            .set("errors", &errors)
            .set("first_error", &first_error);
        Ok(o.finish())
    }

    fn close_all(&mut self, events: &mut Events) -> Result<(), String> {
        self.start_closing();
        let end = Instant::now() + CLOSE_TIMEOUT;
        while self.closed < self.conns.len() && Instant::now() < end {
            self.turn(events, Duration::from_millis(50))?;
        }
        Ok(())
    }
}

/// Records `done` completed round trips on `conn`.
fn complete(conn: &mut Conn, done: u64, now: Instant, phase: Phase, hist: &mut Histogram) {
    for _ in 0..done {
        if let Some(sent) = conn.in_flight.pop()
            && phase == Phase::Measure
        {
            hist.record(now.duration_since(sent).as_nanos() as u64);
        }
    }
}

/// Writes the frames issued on `conn`, many per system call.
fn write_pending(conn: &mut Conn, expect: &Expect) -> io::Result<()> {
    let frame_len = expect.frame_len;
    while conn.pending > 0 && !conn.write_blocked {
        let left = conn.pending * frame_len - conn.send_off;
        let end = (conn.send_off + left).min(expect.burst.len());
        match conn.stream.write(&expect.burst[conn.send_off..end]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let total = conn.send_off + n;
                conn.pending -= total / frame_len;
                conn.send_off = total % frame_len;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.write_blocked = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Checks received bytes against the expected echo; returns how many
/// messages they completed.
fn receive(rx: &mut Rx, data: &[u8], expect: &Expect) -> Result<u64, String> {
    if expect.raw {
        receive_raw(rx, data, &expect.burst[..expect.frame_len])
    } else {
        receive_ws(rx, data, &expect.payload, expect.opcode)
    }
}

fn receive_raw(rx: &mut Rx, mut data: &[u8], frame: &[u8]) -> Result<u64, String> {
    let mut done = 0;
    while !data.is_empty() {
        let n = data.len().min(frame.len() - rx.off);
        if data[..n] != frame[rx.off..rx.off + n] {
            return Err(format!(
                "the echo differs from the frame sent (frame byte {})",
                rx.off
            ));
        }
        rx.off += n;
        data = &data[n..];
        if rx.off == frame.len() {
            rx.off = 0;
            done += 1;
        }
    }
    Ok(done)
}

fn header_len(hdr: &[u8; 14], have: usize) -> usize {
    if have < 2 {
        return 2;
    }
    2 + match hdr[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

fn receive_ws(rx: &mut Rx, mut data: &[u8], payload: &[u8], opcode: u8) -> Result<u64, String> {
    let mut done = 0;
    while !data.is_empty() {
        if !rx.in_payload {
            let need = header_len(&rx.hdr, rx.hdr_len);
            let take = (need - rx.hdr_len).min(data.len());
            rx.hdr[rx.hdr_len..rx.hdr_len + take].copy_from_slice(&data[..take]);
            rx.hdr_len += take;
            data = &data[take..];
            if rx.hdr_len >= 2 && rx.hdr[1] & 0x80 != 0 {
                return Err("the server sent a masked frame".into());
            }
            if rx.hdr_len < header_len(&rx.hdr, rx.hdr_len) {
                continue;
            }
            let h = &rx.hdr[..rx.hdr_len];
            let len = match h[1] & 0x7f {
                126 => usize::from(u16::from_be_bytes([h[2], h[3]])),
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&h[2..10]);
                    usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
                }
                n => usize::from(n),
            };
            let op = h[0] & 0x0f;
            if h[0] & 0x70 != 0 {
                return Err("RSV bits set in a server frame".into());
            }
            let want = if rx.started { 0 } else { opcode };
            if op != want {
                return Err(format!("opcode {op:#x} where {want:#x} was expected"));
            }
            if len > payload.len() - rx.off {
                return Err("the echo is longer than the message sent".into());
            }
            rx.fin = h[0] & 0x80 != 0;
            rx.started = true;
            rx.remaining = len;
            rx.in_payload = true;
            rx.hdr_len = 0;
        }
        let n = rx.remaining.min(data.len());
        if data[..n] != payload[rx.off..rx.off + n] {
            return Err(format!(
                "the echo differs from the message sent (byte {})",
                rx.off
            ));
        }
        rx.off += n;
        rx.remaining -= n;
        data = &data[n..];
        if rx.remaining == 0 {
            rx.in_payload = false;
            if rx.fin {
                if rx.off != payload.len() {
                    return Err("the echo is shorter than the message sent".into());
                }
                rx.off = 0;
                rx.started = false;
                done += 1;
            }
        }
    }
    Ok(done)
}

fn main() -> ExitCode {
    sys::raise_fd_limit();
    let cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = Gen::new(cfg)
        .map_err(|e| format!("cannot create the poller: {e}"))
        .and_then(Gen::run);
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_echo_is_checked_across_any_split_and_fragmentation() {
        let payload = payload::make(300, true);
        // The echo as two frames (text + continuation), twice.
        let mut wire = payload::header(0x1, 100, None);
        wire[0] &= 0x7f; // not FIN
        wire.extend_from_slice(&payload[..100]);
        wire.extend(payload::header(0x0, 200, None));
        wire.extend_from_slice(&payload[100..]);
        let wire = wire.repeat(2);
        for split in 1..wire.len() {
            let mut rx = Rx::default();
            let a = receive_ws(&mut rx, &wire[..split], &payload, 0x1).unwrap();
            let b = receive_ws(&mut rx, &wire[split..], &payload, 0x1).unwrap();
            assert_eq!(a + b, 2, "split at {split}");
        }
        let mut bad = wire.clone();
        bad[150] ^= 1;
        assert!(receive_ws(&mut Rx::default(), &bad, &payload, 0x1).is_err());
        let masked = payload::masked_frame(0x1, &payload);
        assert!(receive_ws(&mut Rx::default(), &masked, &payload, 0x1).is_err());
        let binary = [payload::header(0x2, 300, None), payload.clone()].concat();
        assert!(receive_ws(&mut Rx::default(), &binary, &payload, 0x1).is_err());
    }

    #[test]
    fn raw_echo_must_be_byte_identical() {
        let frame = payload::masked_frame(0x2, &payload::make(40, false));
        let wire = frame.repeat(3);
        let mut rx = Rx::default();
        assert_eq!(receive_raw(&mut rx, &wire[..7], &frame), Ok(0));
        assert_eq!(receive_raw(&mut rx, &wire[7..], &frame), Ok(3));
        let mut bad = wire;
        bad[50] ^= 0x80;
        assert!(receive_raw(&mut Rx::default(), &bad, &frame).is_err());
    }
}
