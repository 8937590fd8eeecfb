//! Driving the loop from a foreign loop: only `poll(2)` on `poll_fd()` with
//! a timeout from `next_deadline()`, then `process_events(Some(ZERO))`. A
//! server and a client on the loop exchange messages over loopback, a
//! timer fires, and a worker thread's post arrives, all without `run()`.

use qwebsocket::event_loop::{EventLoop, Timer};
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One iteration of a hand-written foreign loop. Returns whether the
/// descriptor was readable.
fn foreign_turn(ev: &EventLoop) -> bool {
    let fd = ev.poll_fd().unwrap();
    let timeout_ms = match ev.next_deadline() {
        Some(at) => at
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(1000) as i32,
        None => 1000,
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that we own, for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    assert!(n >= 0, "poll failed: {}", std::io::Error::last_os_error());
    let started = Instant::now();
    ev.process_events(Some(Duration::ZERO)).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "process_events(ZERO) must not block"
    );
    n == 1
}

#[test]
fn a_poll_loop_drives_server_client_timers_and_posts() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "embedded", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    server.new_connection().connect(|server| {
        while let Some(ws) = server.next_pending_connection() {
            ws.text_message_received().connect(|ws, text| {
                ws.send_text_message(&text.to_uppercase());
            });
        }
    });
    let client = WebSocket::new(&ev);
    let got = Rc::new(RefCell::new(Vec::new()));
    client.connected().connect(|ws| {
        ws.send_text_message("one");
        ws.send_text_message("two");
    });
    let g = got.clone();
    client.text_message_received().connect(move |ws, text| {
        g.borrow_mut().push(text.to_owned());
        if g.borrow().len() == 2 {
            ws.close(CloseCode::Normal, "").unwrap();
        }
    });
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    client.disconnected().connect(move |_| d.set(true));
    client.open(server.server_url().unwrap().as_str()).unwrap();

    let ticks = Rc::new(Cell::new(0));
    let timer = Timer::new(&ev);
    let t = ticks.clone();
    timer.timeout().connect(move |_| t.set(t.get() + 1));
    timer.start_with(Duration::from_millis(20));

    // The worker's post arrives through the descriptor (the loop's waker).
    let posted = Arc::new(AtomicBool::new(false));
    let (handle, p) = (ev.handle(), posted.clone());
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        handle.post(move |_| p.store(true, Ordering::SeqCst));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut readable_turns = 0;
    while !(done.get() && ticks.get() >= 3 && posted.load(Ordering::SeqCst))
        && Instant::now() < deadline
    {
        if foreign_turn(&ev) {
            readable_turns += 1;
        }
    }
    worker.join().unwrap();
    assert_eq!(*got.borrow(), ["ONE", "TWO"]);
    assert!(done.get(), "the closing handshake completed");
    assert!(ticks.get() >= 3, "the timer fired through next_deadline()");
    assert!(posted.load(Ordering::SeqCst), "the worker's closure ran");
    assert!(
        readable_turns > 0,
        "socket work made the descriptor readable"
    );
}

#[test]
fn the_descriptor_is_readable_when_a_thread_posts() {
    let ev = EventLoop::new().unwrap();
    ev.process_events(Some(Duration::ZERO)).unwrap();
    let ran = Rc::new(Cell::new(false));
    let handle = ev.handle();
    std::thread::spawn(move || handle.post(|ev| ev.quit()))
        .join()
        .unwrap();
    let mut pfd = libc::pollfd {
        fd: ev.poll_fd().unwrap(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that we own.
    let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
    assert_eq!(n, 1, "readable after a cross-thread post");
    let r = ran.clone();
    ev.post(move |_| r.set(true));
    ev.process_events(Some(Duration::ZERO)).unwrap();
    assert!(ran.get());
}
