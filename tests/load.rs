//! Load on loopback: one event-loop thread (this test's) serving 10 000
//! concurrent WebSocket connections, each exchanging a message; and a churn
//! of connects, handshakes and closes. Our own client drives both, on a
//! second thread with its own event loop. Memory (VmRSS) and descriptors
//! (/proc/self/fd) must come back to their baseline afterwards.
//!
//! Sizes: `QWS_LOAD_CONNECTIONS` (default 10 000) and `QWS_CHURN` (default
//! 20 000 in `cargo test`; the 100 000 run for docs/RELIABILITY.md is
//! `QWS_CHURN=100000 cargo test --release --test load -- --nocapture`).
//!
//! Churn and TIME_WAIT: the server ends TCP first (RFC 6455 §7.1.1, and what
//! our server does after the closing handshake), so the TIME_WAIT entries
//! stay on the server's side, keyed by the server's port: the client's
//! ephemeral ports (28 000 of them here) are free again at once and 100 000
//! connections never run out of them.
//!
//! The tests take turns (they measure the whole process).

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of the process, in KiB, after giving freed memory back
/// to the system (glibc keeps freed blocks in its arenas otherwise).
fn rss_kib() -> usize {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Open file descriptors of the process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1 // the listing's own
}

/// Makes room for `needed` descriptors: the soft limit up to the hard one,
/// and the hard one too if we may (root). Fails the test if impossible.
fn raise_fd_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= needed {
        return;
    }
    let wanted = libc::rlimit {
        rlim_cur: needed,
        rlim_max: limit.rlim_max.max(needed),
    };
    // SAFETY: setrlimit only reads the struct.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0;
    assert!(
        ok,
        "RLIMIT_NOFILE: {needed} descriptors needed, the hard limit is {} and cannot be raised \
         (run as root, or raise it with ulimit -Hn)",
        limit.rlim_max
    );
}

/// Our echo server on 127.0.0.1; with `close_after_echo` it closes each
/// connection after echoing its first message (the server ends TCP first).
fn echo_server(ev: &EventLoop, close_after_echo: bool) -> WebSocketServer {
    let server = WebSocketServer::new(ev, "load", SslMode::NonSecureMode);
    server.set_listen_backlog_size(4096);
    server.set_max_pending_connections(usize::MAX);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            ws.text_message_received().connect(move |ws, text| {
                ws.send_text_message(text);
                if close_after_echo {
                    let _ = ws.close(CloseCode::Normal, "");
                }
            });
        }
    });
    server
}

/// What the client thread reports to the server's thread.
#[derive(Default)]
struct Progress {
    /// Connections whose echo came back.
    echoed: AtomicUsize,
    /// Connections that ended.
    finished: AtomicUsize,
    /// Connections that failed (error before the echo).
    failed: AtomicUsize,
    /// The server thread saw them all at once: close now.
    close_all: AtomicBool,
}

/// Opens `total` connections to `port`, `in_flight` handshakes at a time;
/// each sends one message and waits for its echo. With `hold`, every
/// connection stays open until `close_all`, then closes; otherwise the
/// server closes it after the echo.
fn clients(
    port: u16,
    total: usize,
    in_flight: usize,
    hold: bool,
    p: Arc<Progress>,
    mut all_echoed: impl FnMut(&Progress),
) {
    let mut told = false;
    let ev = EventLoop::new().unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let opened = Rc::new(Cell::new(0usize));
    let pending = Rc::new(Cell::new(0usize)); // not echoed yet
    let mut held = Vec::with_capacity(if hold { total } else { 0 });
    let deadline = Instant::now() + Duration::from_secs(600);
    while (p.finished.load(Ordering::SeqCst) < total) && Instant::now() < deadline {
        while opened.get() < total && pending.get() < in_flight {
            let ws = WebSocket::new(&ev);
            let i = opened.get();
            ws.connected().connect(move |ws| {
                ws.send_text_message(&format!("hello {i}"));
            });
            let (pe, pr) = (pending.clone(), p.clone());
            ws.text_message_received().connect(move |_, _| {
                pe.set(pe.get() - 1);
                pr.echoed.fetch_add(1, Ordering::SeqCst);
            });
            let (pe, pr) = (pending.clone(), p.clone());
            ws.disconnected().connect(move |ws| {
                if ws.error() != qwebsocket::SocketError::Unknown
                    && ws.close_code() != CloseCode::Normal
                {
                    pr.failed.fetch_add(1, Ordering::SeqCst);
                    pe.set(pe.get() - 1);
                }
                pr.finished.fetch_add(1, Ordering::SeqCst);
            });
            ws.open(&url).unwrap();
            pending.set(pending.get() + 1);
            opened.set(i + 1);
            if hold {
                held.push(ws);
            }
        }
        if !told && p.echoed.load(Ordering::SeqCst) + p.failed.load(Ordering::SeqCst) >= total {
            told = true;
            all_echoed(&p);
        }
        if hold && p.close_all.load(Ordering::SeqCst) {
            for ws in held.drain(..) {
                let _ = ws.close(CloseCode::Normal, "done");
            }
        }
        ev.process_events(Some(Duration::from_millis(5))).unwrap();
    }
    // Let the last closes finish.
    let end = Instant::now() + Duration::from_secs(10);
    while ev.live_connections() > 0 && Instant::now() < end {
        ev.process_events(Some(Duration::from_millis(5))).unwrap();
    }
    assert_eq!(ev.live_connections(), 0, "client connections left");
}

/// Runs the server loop until `done()` or the deadline; true if done.
fn serve_until(ev: &EventLoop, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        ev.process_events(Some(Duration::from_millis(5))).unwrap();
    }
    done()
}

/// The client side of the 10 000 connections runs in a child process (this
/// same test, run again with `QWS_LOAD_CLIENT` set): with both ends in one
/// process, 20 000 descriptors would exceed the usual hard limit (20 000
/// here, and raising it needs CAP_SYS_RESOURCE). The child says
/// `ALL_ECHOED <echoed> <failed>` on its stdout, closes everything when it
/// reads a line on its stdin, and says `DONE` when nothing is left.
#[test]
fn one_loop_serves_ten_thousand_concurrent_connections() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let total = env_size("QWS_LOAD_CONNECTIONS", 10_000);
    if let Ok(port) = std::env::var("QWS_LOAD_CLIENT") {
        // The child: our clients.
        raise_fd_limit(total as u64 + 500);
        let port: u16 = port.parse().unwrap();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            p.close_all.store(true, Ordering::SeqCst);
        });
        clients(port, total, 1000, true, progress, |p| {
            println!(
                "ALL_ECHOED {} {}",
                p.echoed.load(Ordering::SeqCst),
                p.failed.load(Ordering::SeqCst)
            );
            std::io::stdout().flush().unwrap();
        });
        println!("DONE");
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit(total as u64 + 500);
    let ev = EventLoop::new().unwrap();
    let server = echo_server(&ev, false);
    serve_until(&ev, Duration::from_millis(50), || false);
    let (fds_before, rss_before) = (open_fds(), rss_kib());
    let t0 = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "one_loop_serves_ten_thousand_concurrent_connections",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("QWS_LOAD_CLIENT", server.server_port().to_string())
        .env("QWS_LOAD_CONNECTIONS", total.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The child's lines, read on a thread (the loop must keep running).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    // The harness prints its own words before ours on the same line.
    let heard = |marker: &str, said: &mut Vec<String>| {
        said.extend(rx.try_iter());
        said.iter()
            .find_map(|l| l.find(marker).map(|at| l[at..].to_owned()))
    };
    let mut echoed_line = None;
    let ok = serve_until(&ev, Duration::from_secs(300), || {
        echoed_line = heard("ALL_ECHOED", &mut said);
        echoed_line.is_some()
    });
    let up = t0.elapsed();
    if !ok {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the clients did not all get their echo: {said:?}");
    }
    let words: Vec<usize> = echoed_line
        .unwrap()
        .split(' ')
        .skip(1)
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(words, [total, 0], "echoed and failed");
    // Every connection is open at once on the server's loop.
    assert_eq!(ev.live_connections(), total);
    let (fds_peak, rss_peak) = (open_fds(), rss_kib());
    writeln!(child.stdin.as_mut().unwrap(), "close").unwrap();
    let closed = serve_until(&ev, Duration::from_secs(120), || {
        ev.live_connections() == 0 && heard("DONE", &mut said).is_some()
    });
    let status = child.wait().unwrap();
    assert!(
        closed,
        "{} server connections left; {said:?}",
        ev.live_connections()
    );
    assert!(status.success(), "the client process: {status}");
    serve_until(&ev, Duration::from_millis(50), || false);
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    println!(
        "load: {total} concurrent connections up and echoed in {up:?}; \
         server fds {fds_before} -> {fds_peak} -> {fds_after}; \
         server VmRSS {rss_before} -> {rss_peak} -> {rss_after} KiB"
    );
    assert!(fds_peak >= fds_before + total, "all were open");
    // Descriptors: exactly back.
    assert!(
        fds_after <= fds_before + 2,
        "descriptors {fds_before} before, {fds_after} after"
    );
    // Memory: the loop keeps some high-water tables (tokens, timers, a few
    // pooled buffers: a few hundred bytes per connection of the peak at
    // most); 8 MiB is far below what the connections held at the peak and
    // far above the allocator's noise.
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "VmRSS {rss_before} KiB before, {rss_after} KiB after (peak {rss_peak})"
    );
    server.close();
}

#[test]
fn churn_of_connects_handshakes_and_closes_leaves_nothing_behind() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let total = env_size("QWS_CHURN", 20_000);
    raise_fd_limit(4096);
    let ev = EventLoop::new().unwrap();
    let server = echo_server(&ev, true);
    serve_until(&ev, Duration::from_millis(50), || false);
    let (fds_before, rss_before) = (open_fds(), rss_kib());
    let progress = Arc::new(Progress::default());
    let port = server.server_port();
    let p = progress.clone();
    let t0 = Instant::now();
    let client = std::thread::spawn(move || clients(port, total, 200, false, p, |_| {}));
    // Bounded in time: 100 000 take about a minute in a release build.
    let limit = Duration::from_secs(60 + total as u64 / 250);
    let done = serve_until(&ev, limit, || client.is_finished());
    let took = t0.elapsed();
    assert!(
        done,
        "churn: {} of {total} finished in {took:?}",
        progress.finished.load(Ordering::SeqCst)
    );
    client.join().unwrap();
    assert!(serve_until(&ev, Duration::from_secs(10), || ev
        .live_connections()
        == 0));
    serve_until(&ev, Duration::from_millis(50), || false);
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    let echoed = progress.echoed.load(Ordering::SeqCst);
    let failed = progress.failed.load(Ordering::SeqCst);
    println!(
        "churn: {total} connects+handshakes+messages+closes in {took:?} ({:.0}/s), \
         {failed} failed; fds {fds_before} -> {fds_after}; VmRSS {rss_before} -> {rss_after} KiB",
        total as f64 / took.as_secs_f64()
    );
    assert_eq!(failed, 0);
    assert_eq!(echoed, total);
    assert!(
        fds_after <= fds_before + 2,
        "descriptors {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "VmRSS {rss_before} KiB -> {rss_after} KiB"
    );
    server.close();
}
