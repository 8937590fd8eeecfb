//! Nothing is left allocated: 10 000 WebSocket connections over loopback,
//! opened, used with slots that capture other handles (the server, the loop,
//! the peer's socket, weak handles), closed from either side or aborted, and
//! then the loop itself dropped, leave the heap exactly as it was.
//!
//! A counting global allocator tracks the bytes allocated by this test's
//! thread (the test harness's own threads are not counted). One test only,
//! so that nothing else runs on the loop thread.

use qwebsocket::event_loop::{EventLoop, Timer};
use qwebsocket::{CloseCode, SocketState, SslMode, WebSocket, WebSocketServer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn tracked() -> bool {
    TRACKED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if tracked() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if tracked() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if tracked() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counter is global: the tests of this file take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TOTAL: usize = 10_000;
/// Connections at a time: below the kernel's accept backlog (somaxconn, often
/// 128), so that no SYN is dropped and retried a second later.
const BATCH: usize = 100;

/// Runs `BATCH` connections to the end; returns how many messages came back.
fn one_batch(ev: &EventLoop, server: &WebSocketServer, batch: usize) -> usize {
    let echoed = Rc::new(Cell::new(0usize));
    let finished = Rc::new(Cell::new(0usize));
    let url = server.server_url().unwrap();
    let mut clients = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let ws = WebSocket::new(ev);
        // Slots capturing other handles: the server, the loop, a counter.
        let srv = server.clone();
        ws.connected().connect(move |ws| {
            assert!(srv.is_listening());
            ws.send_text_message(&format!("hello {i}"));
            ws.send_binary_message(&[i as u8; 100]);
        });
        let e = echoed.clone();
        let loop_handle = ev.clone();
        ws.text_message_received().connect(move |ws, _| {
            e.set(e.get() + 1);
            let _ = loop_handle.now();
            match i % 3 {
                0 => {
                    ws.close(CloseCode::Normal, "bye").unwrap();
                }
                1 => {} // the server closes
                _ => ws.abort(),
            }
        });
        let f = finished.clone();
        ws.disconnected().connect(move |_| f.set(f.get() + 1));
        ws.open(url.as_str()).unwrap();
        clients.push(ws);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.get() < BATCH && Instant::now() < deadline {
        ev.process_events(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(
        finished.get(),
        BATCH,
        "every connection of batch {batch} ended"
    );
    // Let the server side finish its closing handshakes.
    while ev.live_connections() > 0 && Instant::now() < deadline {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(ev.live_connections(), 0);
    for ws in &clients {
        assert_eq!(ws.state(), SocketState::Unconnected);
    }
    drop(clients);
    // Objects released by the loop are dropped on its next turn.
    ev.process_events(Some(Duration::ZERO)).unwrap();
    echoed.get()
}

fn serve(ev: &EventLoop) -> WebSocketServer {
    let server = WebSocketServer::new(ev, "leak test", SslMode::NonSecureMode);
    server.set_max_pending_connections(BATCH);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let loop_handle = ev.clone();
    server.new_connection().connect(move |server| {
        while let Some(socket) = server.next_pending_connection() {
            // The server side's slots capture the server (which owns none of
            // the sockets it handed out: no cycle), the loop and a timer.
            let srv = server.clone();
            let timer = Timer::new(&loop_handle);
            socket.text_message_received().connect(move |ws, text| {
                assert!(srv.is_listening());
                ws.send_text_message(text);
                if text.ends_with(['1', '4', '7']) {
                    timer.start_with(Duration::from_secs(60));
                }
            });
            socket.binary_message_received().connect(|ws, data| {
                ws.send_binary_message(data);
            });
            let peer = socket.downgrade();
            socket.disconnected().connect(move |_| {
                assert!(peer.upgrade().is_some());
            });
            socket.text_message_received().connect(|ws, text| {
                let i: usize = text.trim_start_matches("hello ").parse().unwrap();
                if i % 3 == 1 {
                    ws.close(CloseCode::GoingAway, "server closes").unwrap();
                }
            });
        }
    });
    server
}

#[test]
fn ten_thousand_connections_leave_nothing_allocated() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    TRACKED.with(|t| t.set(true));
    let before_everything = LIVE.load(Ordering::Relaxed);
    {
        let ev = EventLoop::new().unwrap();
        let server = serve(&ev);
        // The first batches size the loop's tables (tokens, timers, buffers).
        let mut echoed = one_batch(&ev, &server, 0) + one_batch(&ev, &server, 1);
        let after_warm_up = LIVE.load(Ordering::Relaxed);
        for b in 2..TOTAL / BATCH {
            echoed += one_batch(&ev, &server, b);
        }
        let after_all = LIVE.load(Ordering::Relaxed);
        assert!(echoed >= TOTAL, "messages came back: {echoed}");
        // Nothing grows with the number of connections once warm. The loop's
        // tables keep their high-water capacity, which a busier batch can
        // still raise a little; a leak of even 4 bytes per connection would
        // exceed this bound.
        let growth = after_all - after_warm_up;
        assert!(
            growth.abs() < (4 * TOTAL) as isize,
            "{TOTAL} connections left {growth} bytes behind (after the first batch)"
        );
        server.close();
        drop(server);
        ev.process_events(Some(Duration::ZERO)).unwrap();
    }
    let leaked = LIVE.load(Ordering::Relaxed) - before_everything;
    TRACKED.with(|t| t.set(false));
    assert_eq!(leaked, 0, "bytes still allocated after dropping the loop");
}

/// An application that drops its loop (and its handles) while connections
/// are still open gets all of their memory back: the loop owns open
/// connections, and nothing they hold owns the loop.
#[test]
fn dropping_the_loop_with_open_connections_frees_them() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    TRACKED.with(|t| t.set(true));
    let before = LIVE.load(Ordering::Relaxed);
    {
        let ev = EventLoop::new().unwrap();
        // Slots that follow the guide's rules: no strong handle to the loop
        // or to the server inside them.
        let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
        server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
        server.new_connection().connect(|server| {
            while let Some(socket) = server.next_pending_connection() {
                socket.text_message_received().connect(|ws, text| {
                    ws.send_text_message(text);
                });
            }
        });
        let url = server.server_url().unwrap();
        let connected = Rc::new(Cell::new(0usize));
        for _ in 0..50 {
            let ws = WebSocket::new(&ev);
            let c = connected.clone();
            ws.connected().connect(move |ws| {
                c.set(c.get() + 1);
                ws.send_text_message("hello 0");
            });
            ws.open(url.as_str()).unwrap();
            // The handle is dropped: the loop keeps the connection.
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while connected.get() < 50 && Instant::now() < deadline {
            ev.process_events(Some(Duration::from_millis(10))).unwrap();
        }
        assert_eq!(connected.get(), 50);
        assert!(ev.live_connections() >= 50);
        // Dropped with 100 connections open.
    }
    let leaked = LIVE.load(Ordering::Relaxed) - before;
    TRACKED.with(|t| t.set(false));
    assert_eq!(leaked, 0, "bytes still allocated after dropping the loop");
}
