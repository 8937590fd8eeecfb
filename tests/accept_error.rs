//! `accept_error` from a real accept(2) failure: the process runs out of
//! file descriptors (RLIMIT_NOFILE lowered to what is open), the server
//! reports `SocketResource`, and once descriptors are available again it
//! accepts the connections that waited in the backlog.
//!
//! Alone in its own test binary (so its own process): the descriptor limit
//! is process-wide.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{SocketError, SslMode, WebSocketServer};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The lowest descriptor number not in use: the kernel gives new
/// descriptors the lowest free number, and RLIMIT_NOFILE bounds that number,
/// so with the limit set to this, nothing new can be opened.
fn lowest_free_descriptor() -> u64 {
    let listing = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd is readable");
    let mut open: Vec<u64> = listing
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is closed again by now: it does not count.
    open.sort_unstable();
    let mut free = 0;
    for fd in open {
        if fd == free && is_open(fd) {
            free += 1;
        }
    }
    free
}

fn is_open(fd: u64) -> bool {
    // SAFETY: F_GETFD only queries the descriptor's flags.
    unsafe { libc::fcntl(fd as i32, libc::F_GETFD) != -1 }
}

fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

fn set_nofile_limit(limit: &libc::rlimit) {
    // SAFETY: setrlimit only reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) }, 0);
}

#[test]
fn running_out_of_descriptors_is_reported_then_recovered_from() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "fd test", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    server
        .accept_error()
        .connect(move |_, err| e.borrow_mut().push(err));
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let a = accepted.clone();
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            a.borrow_mut().push(ws);
        }
    });
    let addr = server.server_socket_addr().unwrap();

    // Two clients wait in the kernel's backlog (connect completes without accept).
    let mut clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut clients {
        c.write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }

    let saved = nofile_limit();
    let full = libc::rlimit {
        rlim_cur: lowest_free_descriptor(),
        rlim_max: saved.rlim_max,
    };
    set_nofile_limit(&full);
    let deadline = Instant::now() + Duration::from_secs(10);
    while errors.borrow().is_empty() && Instant::now() < deadline {
        ev.process_events(Some(Duration::from_millis(50))).unwrap();
    }
    set_nofile_limit(&saved);
    assert_eq!(errors.borrow().first(), Some(&SocketError::SocketResource));
    assert!(accepted.borrow().is_empty());
    assert!(server.is_listening(), "the server keeps listening");

    // Descriptors are back: the waiting clients are accepted and upgraded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.borrow().len() < 2 && Instant::now() < deadline {
        ev.process_events(Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(accepted.borrow().len(), 2);
    for c in &mut clients {
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 101");
    }
    let reported = errors.borrow().len();
    assert!(
        reported <= 200,
        "retries are paced, not a busy loop: {reported} reports"
    );
}
