//! Our client side under load: one process, one qwebsocket `EventLoop`,
//! N `WebSocket` clients, each keeping W messages in flight.
//!
//! ```text
//! qws_client_load --port P [--connections N] [--window W] [--size BYTES]
//!                 [--text] [--warmup SECS] [--duration SECS]
//!                 [--server-pid PID] [--idle] [--settle SECS]
//! ```
//!
//! The same protocol and the same JSON report as `loadgen`, but every byte
//! goes through qwebsocket's client: `send_*_message` (which masks) from the
//! slots, `*_message_received` checked against the message sent. Run against
//! `raw_tcp_echo --mode ws`, the cheapest server that answers a WebSocket
//! client, its `client_cpu_us_per_msg` is the cost of our client side, to be
//! read next to `loadgen`'s own against the same server.
//!
//! `--idle` reports the growth of our own RSS per idle connection (after one
//! message each).

use bench::args::Args;
use bench::hist::Histogram;
use bench::json::Object;
use bench::{payload, sys};
use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, WebSocket};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

struct Config {
    port: u16,
    connections: usize,
    window: usize,
    size: usize,
    text: bool,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    idle: bool,
    settle: Duration,
}

fn config() -> Result<Config, String> {
    let mut a = Args::from_env();
    let secs = |v: f64| Duration::from_secs_f64(v);
    let c = Config {
        port: a.opt("--port")?.ok_or("--port is required")?,
        connections: a.get("--connections", 1usize)?,
        window: a.get("--window", 1usize)?,
        size: a.get("--size", 16usize)?,
        text: a.flag("--text"),
        warmup: secs(a.get("--warmup", 0.5f64)?),
        duration: secs(a.get("--duration", 2.0f64)?),
        server_pid: a.opt("--server-pid")?,
        idle: a.flag("--idle"),
        settle: secs(a.get("--settle", 1.0f64)?),
    };
    a.finish()?;
    if c.connections == 0 || c.window == 0 {
        return Err("--connections and --window must be positive".into());
    }
    Ok(c)
}

#[derive(Default)]
struct Shared {
    sending: bool,
    measuring: bool,
    closing: bool,
    connected: usize,
    disconnected: usize,
    completed: u64,
    in_flight: usize,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram,
}

impl Shared {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// What one socket does when a message comes back.
struct Echo {
    shared: Rc<RefCell<Shared>>,
    sent: RefCell<VecDeque<Instant>>,
    budget: std::cell::Cell<u64>,
    window: usize,
    payload: Rc<[u8]>,
    text: bool,
}

impl Echo {
    /// Issues messages up to the window; called from the slots.
    fn top_up(&self, ws: &WebSocket) {
        let mut n = 0;
        {
            let mut sh = self.shared.borrow_mut();
            if !sh.sending {
                return;
            }
            let mut sent = self.sent.borrow_mut();
            let now = Instant::now();
            while sent.len() < self.window && self.budget.get() > 0 {
                sent.push_back(now);
                self.budget.set(self.budget.get() - 1);
                n += 1;
            }
            sh.in_flight += n;
        }
        for _ in 0..n {
            if self.text {
                // Valid UTF-8 by construction (payload::make).
                let text = std::str::from_utf8(&self.payload).unwrap_or_default();
                ws.send_text_message(text);
            } else {
                ws.send_binary_message(&self.payload);
            }
        }
    }

    fn received(&self, ws: &WebSocket, data: &[u8]) {
        let now = Instant::now();
        {
            let mut sh = self.shared.borrow_mut();
            if data != &self.payload[..] {
                sh.error(format!(
                    "an echo of {} bytes differs from the {} bytes sent",
                    data.len(),
                    self.payload.len()
                ));
            }
            let sent = self.sent.borrow_mut().pop_front();
            match sent {
                Some(t) => {
                    sh.in_flight -= 1;
                    sh.completed += 1;
                    if sh.measuring {
                        sh.hist.record(now.duration_since(t).as_nanos() as u64);
                    }
                }
                None => sh.error("an echo of a message never sent".into()),
            }
        }
        self.top_up(ws);
    }
}

struct Snapshot {
    at: Instant,
    completed: u64,
    own_cpu: u64,
    server_cpu: Option<u64>,
}

fn snapshot(shared: &RefCell<Shared>, server_pid: Option<u32>) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        completed: shared.borrow().completed,
        own_cpu: sys::self_cpu_us(),
        server_cpu: server_pid.and_then(|p| sys::process_cpu_us(p).ok()),
    }
}

fn turn_until(ev: &EventLoop, end: Instant, mut done: impl FnMut() -> bool) -> Result<(), String> {
    while !done() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        ev.process_events(Some((end - now).min(Duration::from_millis(50))))
            .map_err(|e| format!("event loop: {e}"))?;
    }
    Ok(())
}

fn run(cfg: Config) -> Result<String, String> {
    let ev = EventLoop::new().map_err(|e| format!("event loop: {e}"))?;
    let shared = Rc::new(RefCell::new(Shared {
        sending: true,
        ..Shared::default()
    }));
    let payload: Rc<[u8]> = payload::make(cfg.size, cfg.text).into();
    let url = format!("ws://127.0.0.1:{}/", cfg.port);
    let own_rss_before = sys::vm_rss_kib(sys::own_pid()).ok();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        let ws = WebSocket::new(&ev);
        let echo = Rc::new(Echo {
            shared: shared.clone(),
            sent: RefCell::new(VecDeque::with_capacity(cfg.window)),
            budget: std::cell::Cell::new(if cfg.idle { 1 } else { u64::MAX }),
            window: cfg.window,
            payload: payload.clone(),
            text: cfg.text,
        });
        let e = echo.clone();
        ws.connected().connect(move |ws| {
            e.shared.borrow_mut().connected += 1;
            e.top_up(ws);
        });
        let e = echo.clone();
        ws.text_message_received()
            .connect(move |ws, text| e.received(ws, text.as_bytes()));
        let e = echo.clone();
        ws.binary_message_received()
            .connect(move |ws, data| e.received(ws, data));
        let e = echo;
        ws.error_occurred().connect(move |ws, err| {
            let mut sh = e.shared.borrow_mut();
            if !sh.closing {
                sh.error(format!("{err:?}: {}", ws.error_string()));
            }
        });
        let sh = shared.clone();
        ws.disconnected().connect(move |_| {
            let mut sh = sh.borrow_mut();
            sh.disconnected += 1;
            if !sh.closing {
                sh.error("disconnected during the run".into());
            }
        });
        ws.open(&url).map_err(|e| format!("open {url}: {e:?}"))?;
        sockets.push(ws);
    }
    let n = cfg.connections;
    turn_until(&ev, started + CONNECT_TIMEOUT, || {
        let sh = shared.borrow();
        sh.connected + sh.disconnected >= n
    })?;
    let connect_time = started.elapsed();
    let connected = shared.borrow().connected;
    if connected < n {
        let sh = shared.borrow();
        return Err(format!(
            "only {connected} of {n} connections were up after {:.1}s: {}",
            connect_time.as_secs_f64(),
            sh.first_error.clone().unwrap_or_default()
        ));
    }

    let mut o = Object::new();
    if cfg.idle {
        turn_until(&ev, Instant::now() + DRAIN_TIMEOUT, || {
            shared.borrow().in_flight == 0
        })?;
        turn_until(&ev, Instant::now() + cfg.settle, || false)?;
        let own_rss_after = sys::vm_rss_kib(sys::own_pid()).ok();
        let per_conn = match (own_rss_before, own_rss_after) {
            (Some(a), Some(b)) => Some((b as f64 - a as f64) * 1024.0 / n as f64),
            _ => None,
        };
        let sh = shared.borrow();
        o.set("mode", "qws_client")
            .set("idle_connections", &n)
            .set("messages", &sh.completed)
            .set("size", &cfg.size)
            .set("client_rss_before_kib", &own_rss_before)
            .set("client_rss_after_kib", &own_rss_after)
            .set("client_rss_bytes_per_conn", &per_conn)
            .set("connect_s", &connect_time.as_secs_f64())
            .set("errors", &sh.errors)
            .set("first_error", &sh.first_error);
    } else {
        turn_until(&ev, Instant::now() + cfg.warmup, || false)?;
        shared.borrow_mut().measuring = true;
        let begin = snapshot(&shared, cfg.server_pid);
        turn_until(&ev, begin.at + cfg.duration, || false)?;
        let end = snapshot(&shared, cfg.server_pid);
        {
            let mut sh = shared.borrow_mut();
            sh.measuring = false;
            sh.sending = false;
        }
        turn_until(&ev, Instant::now() + DRAIN_TIMEOUT, || {
            shared.borrow().in_flight == 0
        })?;
        let sh = shared.borrow();
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
        lat.set("p50", &us(sh.hist.quantile(0.5)))
            .set("p99", &us(sh.hist.quantile(0.99)))
            .set("max", &us(sh.hist.max()));
        let server_cpu = match (begin.server_cpu, end.server_cpu) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let own_cpu = end.own_cpu - begin.own_cpu;
        o.set("mode", "qws_client")
            .set("connections", &n)
            .set("connected", &connected)
            .set("window", &cfg.window)
            .set("size", &cfg.size)
            .set("text", &cfg.text)
            .set("seconds", &secs)
            .set("messages", &messages)
            .set("messages_per_s", &(messages as f64 / secs))
            .set(
                "mib_per_s",
                &(messages as f64 * cfg.size as f64 / secs / 1_048_576.0),
            )
            .set("latency_us", &lat)
            .set("server_cpu_us", &server_cpu)
            .set("server_cpu_us_per_msg", &server_cpu.map(per_msg))
            .set("client_cpu_us", &own_cpu)
            .set("client_cpu_us_per_msg", &per_msg(own_cpu))
            .set("client_cpu_share", &(own_cpu as f64 / 1e6 / secs))
            .set("connect_s", &connect_time.as_secs_f64())
            .set("drained", &(sh.in_flight == 0))
            .set("errors", &sh.errors)
            .set("first_error", &sh.first_error);
    }
    shared.borrow_mut().closing = true;
    for ws in &sockets {
        let _ = ws.close(CloseCode::Normal, "");
    }
    turn_until(&ev, Instant::now() + CLOSE_TIMEOUT, || {
        shared.borrow().disconnected >= n
    })?;
    Ok(o.finish())
}

fn main() -> ExitCode {
    sys::raise_fd_limit();
    let result = config().and_then(run);
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qws_client_load: {e}");
            ExitCode::FAILURE
        }
    }
}
