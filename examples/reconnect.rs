//! A client that stays connected: reconnects with exponential backoff and full
//! jitter when the server goes away, and watches the connection with a
//! ping/pong heartbeat, all with [`qwebsocket::event_loop::Timer`]s.
//!
//! * **Backoff**: after a disconnection the next attempt waits a random time
//!   between 0 and `min(cap, base × 2^attempt)` ("full jitter": clients cut off
//!   together do not come back together). The attempt count goes back to 0
//!   once a connection has proved itself with a pong, not merely on connect,
//!   so a server that accepts and drops at once still meets growing delays.
//! * **Heartbeat**: every `interval` the client pings (one ping outstanding at
//!   a time) and starts a pong timer; if no pong arrives within `timeout` the
//!   connection is taken as dead, aborted, and the reconnect logic takes over.
//!   (For a plain keepalive, `WebSocket::set_keepalive` does this inside the
//!   socket; this example shows how to build it, and to act on it, yourself.)
//!
//! The default demo (no arguments, or `--demo`) runs a server on the same loop,
//! on 127.0.0.1, and scripts its failures:
//!
//! 1. the client connects and exchanges heartbeats;
//! 2. the server goes away (it stops listening and aborts its sockets): the
//!    client retries, refused, with growing random delays;
//! 3. the server comes back on the same port: the client reconnects;
//! 4. the server stalls (stops reading, so pongs stop): the heartbeat times
//!    out, the client aborts and reconnects;
//! 5. after a few pongs on that connection the client closes and the program
//!    exits 0, in about four seconds.
//!
//! ```sh
//! cargo run --example reconnect                       # the demo
//! cargo run --example reconnect -- ws://127.0.0.1:9001/  # your server; Ctrl-C to stop
//! ```

use qwebsocket::event_loop::{EventLoop, Timer};
use qwebsocket::{CloseCode, SocketState, SslMode, WeakWebSocket, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The client's timing. A real application would use seconds to a minute;
/// the demo's numbers are short so that it runs in a few seconds.
#[derive(Clone, Copy, Debug)]
struct Settings {
    /// The first retry waits up to this long.
    backoff_base: Duration,
    /// No retry waits longer than this.
    backoff_cap: Duration,
    /// Time between pings.
    heartbeat_interval: Duration,
    /// How long to wait for a pong before giving the connection up.
    pong_timeout: Duration,
}

const DEMO: Settings = Settings {
    backoff_base: Duration::from_millis(100),
    backoff_cap: Duration::from_millis(800),
    heartbeat_interval: Duration::from_millis(250),
    pong_timeout: Duration::from_millis(400),
};

const REAL_WORLD: Settings = Settings {
    backoff_base: Duration::from_millis(500),
    backoff_cap: Duration::from_secs(30),
    heartbeat_interval: Duration::from_secs(15),
    pong_timeout: Duration::from_secs(10),
};

/// xorshift64*: plenty for jitter (not for secrets), seeded by the OS.
struct Rng(u64);

impl Rng {
    fn from_os() -> Rng {
        // A zero state would stay zero; getrandom failing is as unlikely.
        Rng(getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15).max(1))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform duration in `[0, max]`.
    fn below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128 - 1) as u64;
        Duration::from_nanos(self.next_u64() % (nanos + 1))
    }
}

/// Exponential backoff with full jitter.
struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: Rng,
}

impl Backoff {
    /// The wait before the next attempt; each call doubles the ceiling, up
    /// to the cap.
    fn next_delay(&mut self) -> (Duration, Duration) {
        let ceiling = self
            .base
            .checked_mul(1 << self.attempt.min(20))
            .map_or(self.cap, |d| d.min(self.cap));
        self.attempt += 1;
        (self.rng.below(ceiling), ceiling)
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A WebSocket that reconnects by itself. Connect to the signals of
/// [`ReconnectingClient::socket`] to use the connection as usual; they are
/// emitted for every connection in turn.
struct ReconnectingClient {
    ws: WebSocket,
    stopping: Rc<Cell<bool>>,
    retry: Timer,
    heartbeat: Timer,
    pong_timer: Timer,
    started: Instant,
}

impl ReconnectingClient {
    fn new(ev: &EventLoop, url: &str, settings: Settings) -> ReconnectingClient {
        let started = Instant::now();
        let ws = WebSocket::new(ev);
        let stopping = Rc::new(Cell::new(false));
        let backoff = Rc::new(RefCell::new(Backoff {
            base: settings.backoff_base,
            cap: settings.backoff_cap,
            attempt: 0,
            rng: Rng::from_os(),
        }));

        // The retry timer opens the socket again. Timer slots hold weak
        // handles of the socket; the socket's slots own the timers.
        let retry = Timer::new(ev);
        retry.set_single_shot(true);
        let (socket, url) = (ws.downgrade(), url.to_owned());
        retry.timeout().connect(move |_| {
            if let Some(ws) = socket.upgrade() {
                if let Err(e) = ws.open(&url) {
                    // A bad URL: no point retrying.
                    eprintln!("{} cannot open {url}: {e:?}", stamp(started));
                }
            }
        });

        // The pong timer: no pong in time, the connection is dead.
        let pong_timer = Timer::new(ev);
        pong_timer.set_single_shot(true);
        pong_timer.set_interval(settings.pong_timeout);
        let socket = ws.downgrade();
        pong_timer.timeout().connect(move |timer| {
            if let Some(ws) = socket.upgrade() {
                println!(
                    "{} heartbeat: no pong within {:?}, aborting",
                    stamp(started),
                    timer.interval()
                );
                ws.abort(); // emits `disconnected`, which schedules a retry
            }
        });

        // The heartbeat: a ping, unless one is still unanswered.
        let heartbeat = Timer::new(ev);
        heartbeat.set_interval(settings.heartbeat_interval);
        let (socket, waiting) = (ws.downgrade(), pong_timer.clone());
        heartbeat.timeout().connect(move |_| {
            if let Some(ws) = socket.upgrade() {
                if !waiting.is_active() && ws.ping(b"heartbeat") {
                    waiting.start();
                }
            }
        });

        let was_connected = Rc::new(Cell::new(false));
        let (b, beat, up) = (backoff.clone(), heartbeat.clone(), was_connected.clone());
        ws.connected().connect(move |ws| {
            up.set(true);
            let retries = match b.borrow().attempt {
                0 => "first try".to_owned(),
                n => format!("retry {n}"),
            };
            println!(
                "{} connected to {} ({retries})",
                stamp(started),
                ws.request_url().unwrap()
            );
            beat.start();
        });
        let (b, waiting) = (backoff.clone(), pong_timer.clone());
        ws.pong().connect(move |_, rtt, _| {
            waiting.stop();
            b.borrow_mut().reset(); // this connection works
            println!("{} heartbeat: pong after {rtt:?}", stamp(started));
        });
        ws.error_occurred().connect(move |ws, e| {
            println!("{}   ({e:?}: {})", stamp(started), ws.error_string());
        });
        let (beat, waiting, again, stop) = (
            heartbeat.clone(),
            pong_timer.clone(),
            retry.clone(),
            stopping.clone(),
        );
        ws.disconnected().connect(move |ws| {
            beat.stop();
            waiting.stop();
            let what = if was_connected.replace(false) {
                "disconnected"
            } else {
                "could not connect"
            };
            if stop.get() {
                println!(
                    "{} {what} ({}), not retrying",
                    stamp(started),
                    ws.close_code()
                );
                return;
            }
            let (delay, ceiling) = backoff.borrow_mut().next_delay();
            println!(
                "{} {what}; retry in {delay:.0?} (random in 0..={ceiling:.0?})",
                stamp(started)
            );
            again.start_with(delay);
        });

        ReconnectingClient {
            ws,
            stopping,
            retry,
            heartbeat,
            pong_timer,
            started,
        }
    }

    /// The first connection attempt (at once).
    fn start(&self) {
        self.stopping.set(false);
        self.retry.start_with(Duration::ZERO);
    }

    /// Closes for good: no heartbeat, no retry.
    fn stop(&self) {
        self.stopping.set(true);
        self.retry.stop();
        self.heartbeat.stop();
        self.pong_timer.stop();
        match self.ws.state() {
            SocketState::Connected => {
                let _ = self.ws.close(CloseCode::Normal, "client done");
            }
            SocketState::Unconnected | SocketState::Closing => {}
            _ => self.ws.abort(),
        }
    }

    fn socket(&self) -> &WebSocket {
        &self.ws
    }
}

/// Seconds since `started`, for the log.
fn stamp(started: Instant) -> String {
    format!("[{:6.3}s]", started.elapsed().as_secs_f64())
}

/// The demo's server: echo, with a way to go away and to stall.
struct DemoServer {
    server: WebSocketServer,
    sockets: Rc<RefCell<Vec<WeakWebSocket>>>,
}

impl DemoServer {
    fn new(ev: &EventLoop) -> DemoServer {
        let server = WebSocketServer::new(ev, "flaky", SslMode::NonSecureMode);
        let sockets: Rc<RefCell<Vec<WeakWebSocket>>> = Rc::default();
        let s = sockets.clone();
        server.new_connection().connect(move |server| {
            while let Some(ws) = server.next_pending_connection() {
                ws.text_message_received().connect(|ws, text| {
                    ws.send_text_message(text);
                });
                s.borrow_mut().retain(|w| w.upgrade().is_some());
                s.borrow_mut().push(ws.downgrade());
            }
        });
        DemoServer { server, sockets }
    }

    fn listen(&self, addr: SocketAddr) -> Result<SocketAddr, String> {
        self.server
            .listen(addr.ip(), addr.port())
            .map_err(|e| format!("cannot listen ({e:?}): {}", self.server.error_string()))?;
        Ok(self.server.server_socket_addr().unwrap())
    }

    /// Gone: no listener, every connection dropped without a goodbye.
    fn go_away(&self) {
        self.server.close();
        self.drop_connections();
    }

    fn drop_connections(&self) {
        for ws in self.sockets.borrow_mut().drain(..) {
            if let Some(ws) = ws.upgrade() {
                ws.abort();
            }
        }
    }

    /// Still connected but no longer reading: pings go unanswered.
    fn stall(&self) {
        for ws in self
            .sockets
            .borrow()
            .iter()
            .filter_map(WeakWebSocket::upgrade)
        {
            ws.set_reading_paused(true);
        }
    }
}

/// The steps of the demo, driven by what the client sees.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    FirstConnection,
    ServerAway,
    BackAgain,
    Stalled,
    AfterStall,
    Done,
}

/// Pongs to see on a connection before the next step.
const PONGS_PER_STEP: u32 = 2;

fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;
    let server = Rc::new(DemoServer::new(&ev));
    let addr = server.listen("127.0.0.1:0".parse()?)?;
    println!("server: listening on {addr}");

    let client = ReconnectingClient::new(&ev, &format!("ws://{addr}/"), DEMO);
    let step = Rc::new(Cell::new(Step::FirstConnection));
    let pongs = Rc::new(Cell::new(0));
    let started = client.started;

    // The script: the application's own slots on the client's socket.
    client.socket().connected().connect({
        let pongs = pongs.clone();
        move |_| pongs.set(0)
    });
    let weak_server = Rc::downgrade(&server);
    let (st, p) = (step.clone(), pongs.clone());
    let stopper = client.stopping.clone();
    client.socket().pong().connect(move |ws, _, _| {
        p.set(p.get() + 1);
        if p.get() < PONGS_PER_STEP {
            return;
        }
        let Some(server) = weak_server.upgrade() else {
            return;
        };
        let ev = ws.event_loop().unwrap();
        match st.get() {
            Step::FirstConnection => {
                println!("{} server: going away for a while", stamp(started));
                st.set(Step::ServerAway);
                server.go_away();
                let (st, weak_server) = (st.clone(), Rc::downgrade(&server));
                ev.add_timer(Duration::from_millis(1200), move |ev| {
                    if let Some(server) = weak_server.upgrade() {
                        match server.listen(addr) {
                            Ok(_) => {
                                println!("{} server: back on {addr}", stamp(started));
                                st.set(Step::BackAgain);
                            }
                            Err(e) => {
                                eprintln!("server: {e}"); // the port was taken meanwhile
                                ev.quit();
                            }
                        }
                    }
                });
            }
            Step::BackAgain => {
                println!("{} server: stalling (no more reads)", stamp(started));
                st.set(Step::Stalled);
                server.stall();
            }
            Step::AfterStall => {
                println!("{} demo: all steps seen, closing", stamp(started));
                st.set(Step::Done);
                stopper.set(true);
                let _ = ws.close(CloseCode::Normal, "demo done");
            }
            Step::ServerAway | Step::Stalled | Step::Done => {}
        }
    });
    let (st, s) = (step.clone(), Rc::downgrade(&server));
    client
        .socket()
        .disconnected()
        .connect(move |ws| match st.get() {
            Step::Stalled => {
                // The heartbeat gave up on the stalled connection; the server
                // drops its end too, as its own timeouts would.
                if let Some(server) = s.upgrade() {
                    server.drop_connections();
                }
                st.set(Step::AfterStall);
            }
            Step::Done => ws.event_loop().unwrap().quit(),
            _ => {}
        });

    // Never hang.
    let timed_out = Rc::new(Cell::new(false));
    let t = timed_out.clone();
    ev.add_timer(Duration::from_secs(20), move |ev| {
        eprintln!("timed out");
        t.set(true);
        ev.quit();
    });

    client.start();
    ev.run();
    client.stop();
    server.go_away();

    if timed_out.get() || step.get() != Step::Done {
        return Err(format!("the demo stopped at {:?}", step.get()).into());
    }
    println!("{} done", stamp(started));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => demo(),
        [flag] if flag == "--demo" => demo(),
        [url] if !url.starts_with('-') => {
            let ev = EventLoop::new()?;
            let client = ReconnectingClient::new(&ev, url, REAL_WORLD);
            client.start();
            ev.run(); // until killed
            Ok(())
        }
        _ => Err("usage: reconnect [--demo | ws://HOST:PORT/PATH]".into()),
    }
}
