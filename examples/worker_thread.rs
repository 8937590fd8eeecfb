//! A worker thread computes results and sends them through a WebSocket that
//! lives on the event loop's thread.
//!
//! Sockets are `!Send`: a `WebSocket` cannot be moved or shared across threads
//! (the compiler refuses; see the crate docs, "Threads"). The worker gets the
//! loop's [`Handle`] instead, which is `Send`, and posts closures that carry
//! only data. Each closure runs on the loop thread, finds the socket in a
//! `thread_local!` and sends. Qt calls this a queued invocation.
//!
//! Here the worker counts the primes below two million, one block of 100 000
//! numbers at a time, and reports each block as soon as it is done. A server
//! on the same loop (standing in for the service that collects the results)
//! receives them, checks the total, and closes the connection; the program
//! then exits 0.
//!
//! ```sh
//! cargo run --example worker_thread
//! ```

use qwebsocket::event_loop::{EventLoop, Handle};
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

const LIMIT: u64 = 2_000_000;
const BLOCK: u64 = 100_000;
/// π(2 000 000): how many primes the server must hear about.
const PRIMES_BELOW_LIMIT: u64 = 148_933;

thread_local! {
    /// The reporting socket, reachable by closures posted to this thread.
    static REPORTER: RefCell<Option<WebSocket>> = const { RefCell::new(None) };
}

/// Runs on the loop thread: sends through the thread's reporting socket.
fn send_report(text: &str) {
    REPORTER.with(|reporter| match reporter.borrow().as_ref() {
        Some(ws) => {
            ws.send_text_message(text);
        }
        None => eprintln!("no connection, dropped: {text}"),
    });
}

/// The worker: a segmented sieve of Eratosthenes, one report per block.
fn count_primes(handle: Handle) {
    let root = (LIMIT as f64).sqrt() as u64 + 1;
    let mut small = vec![true; root as usize + 1];
    let mut base = Vec::new();
    for n in 2..=root {
        if small[n as usize] {
            base.push(n);
            (n * n..=root)
                .step_by(n as usize)
                .for_each(|m| small[m as usize] = false);
        }
    }
    let mut total = 0;
    let mut blocks = 0;
    for start in (0..LIMIT).step_by(BLOCK as usize) {
        let end = (start + BLOCK).min(LIMIT);
        let mut is_prime = vec![true; (end - start) as usize];
        for n in start..end.min(2) {
            is_prime[(n - start) as usize] = false; // 0 and 1
        }
        for &p in &base {
            let first = (p * p).max(start.div_ceil(p) * p);
            for m in (first..end).step_by(p as usize) {
                is_prime[(m - start) as usize] = false;
            }
        }
        let count = is_prime.iter().filter(|&&b| b).count() as u64;
        let largest = match is_prime.iter().rposition(|&b| b) {
            Some(i) => (start + i as u64).to_string(),
            None => "none".into(),
        };
        total += count;
        blocks += 1;
        // Only data crosses the thread boundary: the String is moved into a
        // `Send` closure; the socket stays on the loop thread.
        let report = format!("{start}..{end}: {count} primes, largest {largest}");
        handle.post(move |_ev| send_report(&report));
    }
    handle.post(move |_ev| send_report(&format!("done: {blocks} blocks, {total} primes")));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;

    // The collecting side.
    let server = WebSocketServer::new(&ev, "collector", SslMode::NonSecureMode);
    server
        .listen("127.0.0.1".parse()?, 0)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    let received = Rc::new(Cell::new(0u64));
    let verified = Rc::new(Cell::new(false));
    let (r, v) = (received.clone(), verified.clone());
    server.new_connection().connect(move |server| {
        while let Some(socket) = server.next_pending_connection() {
            let (r, v) = (r.clone(), v.clone());
            socket.text_message_received().connect(move |ws, text| {
                println!("collector: {text}");
                if let Some(summary) = text.strip_prefix("done: ") {
                    let expected = format!("{} blocks, {} primes", LIMIT / BLOCK, r.get());
                    v.set(summary == expected && r.get() == PRIMES_BELOW_LIMIT);
                    let _ = ws.close(CloseCode::Normal, "all results in");
                } else if let Some(count) = text.split(": ").nth(1) {
                    let count = count.split(' ').next().and_then(|n| n.parse().ok());
                    r.set(r.get() + count.unwrap_or(0));
                }
            });
        }
    });

    // The reporting socket, on this (the loop's) thread; the worker starts
    // once it is connected.
    let reporter = WebSocket::new(&ev);
    let worker: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
    let w = worker.clone();
    reporter.connected().connect(move |ws| {
        REPORTER.with(|r| *r.borrow_mut() = Some(ws.clone()));
        let handle = ws.event_loop().unwrap().handle();
        println!("reporter: connected; starting the worker");
        *w.borrow_mut() = Some(std::thread::spawn(move || count_primes(handle)));
    });
    reporter.disconnected().connect(|ws| {
        println!(
            "reporter: closed ({} {:?})",
            ws.close_code(),
            ws.close_reason()
        );
        REPORTER.with(|r| r.borrow_mut().take());
        ws.event_loop().unwrap().quit();
    });
    reporter
        .error_occurred()
        .connect(|ws, e| eprintln!("reporter: error {e:?}: {}", ws.error_string()));
    reporter.open(server.server_url().unwrap().as_str())?;

    // Never hang.
    ev.add_timer(Duration::from_secs(20), |ev| {
        eprintln!("timed out");
        ev.quit();
    });
    ev.run();
    REPORTER.with(|r| r.borrow_mut().take());

    let worker = worker.borrow_mut().take();
    if let Some(worker) = worker {
        worker.join().map_err(|_| "the worker panicked")?;
    }
    if !verified.get() {
        return Err(format!(
            "the collector counted {} primes, expected {PRIMES_BELOW_LIMIT}",
            received.get()
        )
        .into());
    }
    println!("done: {PRIMES_BELOW_LIMIT} primes below {LIMIT}, counted on a worker thread");
    Ok(())
}
