//! Using every core: one event loop per thread, each with its own listening
//! socket on the same port (`SO_REUSEPORT`), each serving an echo.
//!
//! An event loop is single-threaded by design; a server uses more cores by
//! running more loops. With `SO_REUSEPORT` (Linux 3.9+, and the BSDs with
//! different balancing) every loop binds its own listener to the same address
//! and port, and the kernel spreads incoming connections over them by a hash
//! of the connection's addresses and ports. Loops share nothing: no lock, no
//! queue between them, and a connection stays on the loop that accepted it.
//! The sockets are made with socket2 (`SO_REUSEPORT` must be set before
//! `bind`, which std cannot do) and handed to
//! [`WebSocketServer::set_listener`].
//!
//! The demo starts the loops (one per CPU by default), runs a client load
//! from other threads (200 connections × 100 messages of 32 bytes by
//! default, each connection sending its next message when the last one came
//! back), prints how many connections and messages each loop served and the
//! messages per second, stops every loop through its [`Handle`] and exits 0.
//! Everything stays on 127.0.0.1. See `docs/scaling.md` for measurements.
//!
//! ```sh
//! cargo run --release --example multi_loop_server
//! cargo run --release --example multi_loop_server -- --loops 1 --connections 200 --messages 2000
//! ```
//!
//! Options: `--loops N` (default: CPUs), `--client-threads N` (default 1),
//! `--connections N` (200), `--messages N` per connection (100),
//! `--size BYTES` (32), `--work-us N`: CPU time the server spends on each
//! message before echoing it, standing in for the application's work (0).

use qwebsocket::event_loop::{EventLoop, Handle};
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::Cell;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Options {
    loops: usize,
    client_threads: usize,
    connections: usize,
    messages: u32,
    size: usize,
    /// CPU time the server spends on each message, standing in for the
    /// application's own work (parsing, a lookup, a database call's
    /// bookkeeping...), in microseconds.
    work_us: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        loops: thread::available_parallelism().map_or(1, |n| n.get()),
        client_threads: 1,
        connections: 200,
        messages: 100,
        size: 32,
        work_us: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--demo" {
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: usize = value
            .parse()
            .ok()
            .filter(|&n| n > 0 || flag == "--size" || flag == "--work-us")
            .ok_or_else(|| format!("{flag} {value}: expected a positive number"))?;
        match flag.as_str() {
            "--loops" => options.loops = n,
            "--client-threads" => options.client_threads = n,
            "--connections" => options.connections = n,
            "--messages" => options.messages = u32::try_from(n).map_err(|e| e.to_string())?,
            "--size" => options.size = n,
            "--work-us" => options.work_us = n as u64,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    options.client_threads = options.client_threads.min(options.connections);
    Ok(options)
}

/// A listener on `addr` that shares its port with the others (`SO_REUSEPORT`).
fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own, and nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Keeps the CPU busy for `work` (the application's work on a message).
fn busy(work: Duration) {
    if work.is_zero() {
        return;
    }
    let start = thread_cpu_time();
    let mut x = 1u64;
    while thread_cpu_time() - start < work {
        for _ in 0..64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
    }
}

/// What one server loop did.
#[derive(Debug, Default)]
struct LoopReport {
    connections: usize,
    messages: u64,
    /// CPU time the loop's thread used while serving.
    cpu: Duration,
}

/// One server loop on its own thread: sends its Handle back, serves echo
/// until told to quit, and returns what it did.
fn server_loop(
    listener: TcpListener,
    handles: mpsc::Sender<std::io::Result<Handle>>,
    work: Duration,
) -> std::io::Result<LoopReport> {
    let ev = EventLoop::new()?;
    let server = WebSocketServer::new(&ev, "multi-loop echo", SslMode::NonSecureMode);
    if let Err(e) = server.set_listener(listener) {
        let _ = handles.send(Err(std::io::Error::new(e.kind(), e.to_string())));
        return Err(e);
    }
    let connections = Rc::new(Cell::new(0));
    let messages = Rc::new(Cell::new(0u64));
    let (c, m) = (connections.clone(), messages.clone());
    server.new_connection().connect(move |server| {
        while let Some(socket) = server.next_pending_connection() {
            c.set(c.get() + 1);
            let m = m.clone();
            socket.binary_message_received().connect(move |ws, data| {
                m.set(m.get() + 1);
                busy(work);
                ws.send_binary_message(data);
            });
        }
    });
    let _ = handles.send(Ok(ev.handle()));
    let cpu_before = thread_cpu_time();
    ev.run();
    let cpu = thread_cpu_time() - cpu_before;
    server.close();
    Ok(LoopReport {
        connections: connections.get(),
        messages: messages.get(),
        cpu,
    })
}

/// One client thread: `connections` sockets, each sending `messages`
/// messages one after another. Returns how many echoes came back and the
/// thread's CPU time.
fn client_load(
    url: String,
    connections: usize,
    options: Options,
) -> Result<(u64, Duration), String> {
    let cpu_before = thread_cpu_time();
    let ev = EventLoop::new().map_err(|e| e.to_string())?;
    let payload = vec![0x5a; options.size];
    let open = Rc::new(Cell::new(connections));
    let echoes = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0usize));
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        let ws = WebSocket::new(&ev);
        let p = payload.clone();
        ws.connected().connect(move |ws| {
            ws.send_binary_message(&p);
        });
        let (p, e, left) = (payload.clone(), echoes.clone(), Cell::new(options.messages));
        ws.binary_message_received().connect(move |ws, _| {
            e.set(e.get() + 1);
            left.set(left.get() - 1);
            if left.get() > 0 {
                ws.send_binary_message(&p);
            } else {
                let _ = ws.close(CloseCode::Normal, "");
            }
        });
        let err = errors.clone();
        ws.error_occurred().connect(move |ws, e| {
            err.set(err.get() + 1);
            eprintln!("client: {e:?}: {}", ws.error_string());
        });
        let o = open.clone();
        ws.disconnected().connect(move |ws| {
            o.set(o.get() - 1);
            if o.get() == 0 {
                ws.event_loop().unwrap().quit();
            }
        });
        ws.open(&url).map_err(|e| format!("open: {e:?}"))?;
        sockets.push(ws);
    }
    let timed_out = Rc::new(Cell::new(false));
    let t = timed_out.clone();
    ev.add_timer(Duration::from_secs(60), move |ev| {
        t.set(true);
        ev.quit();
    });
    ev.run();
    if timed_out.get() {
        return Err(format!("timed out with {} connection(s) open", open.get()));
    }
    if errors.get() > 0 {
        return Err(format!("{} connection error(s)", errors.get()));
    }
    Ok((echoes.get(), thread_cpu_time() - cpu_before))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;

    // N listeners on one port: the first picks a free port, the others join it.
    let mut addr: SocketAddr = "127.0.0.1:0".parse()?;
    let mut listeners = Vec::new();
    for _ in 0..options.loops {
        let listener = reuse_port_listener(addr)?;
        addr = listener.local_addr()?;
        listeners.push(listener);
    }

    // One loop per thread.
    let (tx, rx) = mpsc::channel();
    let servers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let tx = tx.clone();
            thread::Builder::new()
                .name(format!("loop-{i}"))
                .spawn(move || server_loop(listener, tx, Duration::from_micros(options.work_us)))
        })
        .collect::<Result<_, _>>()?;
    drop(tx);
    // Each loop sends its Handle once running (it keeps its Sender until it
    // ends, so count them rather than wait for the channel to close).
    let mut handles: Vec<Handle> = Vec::with_capacity(servers.len());
    for _ in 0..servers.len() {
        handles.push(rx.recv_timeout(Duration::from_secs(10))??);
    }
    println!(
        "{} event loop(s) on {} threads, all listening on {addr} (SO_REUSEPORT)",
        handles.len(),
        servers.len()
    );

    // The load, from other threads.
    let url = format!("ws://{addr}/");
    let started = Instant::now();
    let clients: Vec<_> = (0..options.client_threads)
        .map(|i| {
            let share = options.connections / options.client_threads
                + usize::from(i < options.connections % options.client_threads);
            let url = url.clone();
            thread::spawn(move || client_load(url, share, options))
        })
        .collect();
    let mut echoes = 0;
    let mut client_cpu = Duration::ZERO;
    let mut failure = None;
    for client in clients {
        match client.join().map_err(|_| "a client thread panicked")? {
            Ok((n, cpu)) => {
                echoes += n;
                client_cpu += cpu;
            }
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = started.elapsed();

    // Stop every loop from this thread, through its Handle.
    for handle in &handles {
        handle.quit();
    }
    let reports = servers
        .into_iter()
        .map(|t| t.join().map_err(|_| "a loop thread panicked"))
        .collect::<Result<Vec<_>, _>>()?;

    println!(
        "load: {} connection(s) × {} message(s) of {} bytes from {} client thread(s), \
         {} µs of server work per message",
        options.connections,
        options.messages,
        options.size,
        options.client_threads,
        options.work_us
    );
    let per_message = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1e6 / n.max(1) as f64;
    for (i, report) in reports.iter().enumerate() {
        match report {
            Ok(r) => println!(
                "  loop-{i}: {:5} connections, {:9} messages, {:.3} s CPU ({:.2} µs/message)",
                r.connections,
                r.messages,
                r.cpu.as_secs_f64(),
                per_message(r.cpu, r.messages)
            ),
            Err(e) => println!("  loop-{i}: failed: {e}"),
        }
    }
    let server_cpu: Duration = reports.iter().flatten().map(|r| r.cpu).sum();
    let rate = echoes as f64 / elapsed.as_secs_f64();
    println!(
        "{echoes} messages echoed in {:.3} s: {rate:.0} messages/s (round trips, handshakes included)",
        elapsed.as_secs_f64()
    );
    println!(
        "CPU: servers {:.3} s ({:.2} µs/message), clients {:.3} s ({:.2} µs/message)",
        server_cpu.as_secs_f64(),
        per_message(server_cpu, echoes),
        client_cpu.as_secs_f64(),
        per_message(client_cpu, echoes)
    );

    if let Some(e) = failure {
        return Err(e.into());
    }
    let expected = options.connections as u64 * u64::from(options.messages);
    let served: u64 = reports.iter().flatten().map(|r| r.messages).sum();
    let accepted: usize = reports.iter().flatten().map(|r| r.connections).sum();
    if echoes != expected || served != expected || accepted != options.connections {
        return Err(format!(
            "expected {expected} echoes over {} connections; got {echoes} echoes, \
             {served} served, {accepted} accepted",
            options.connections
        )
        .into());
    }
    Ok(())
}
