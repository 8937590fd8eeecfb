//! Driving qwebsocket from a hand-written `poll(2)` loop that also reads stdin.
//!
//! The program's own loop owns the thread: it waits with `poll(2)` on two
//! descriptors, standard input and qwebsocket's [`EventLoop::poll_fd`], for at
//! most the time until [`EventLoop::next_deadline`], and then calls
//! [`EventLoop::process_events`] with a zero timeout, which runs what is ready
//! and never blocks. `EventLoop::run` is never called.
//!
//! On the qwebsocket side, an echo server and a client share the loop. Every
//! line read from stdin is sent by the client and the server's echo is
//! printed. When stdin ends (EOF: Ctrl-D on a terminal, or the end of a pipe)
//! the client waits for the last echoes, closes, and the program exits 0.
//!
//! ```sh
//! printf 'one\ntwo\nthree\n' | cargo run --example poll_loop
//! cargo run --example poll_loop < /dev/null   # no lines: connects, closes, exits 0
//! cargo run --example poll_loop               # type lines, end with Ctrl-D
//! ```

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the client has to send and what came back.
#[derive(Default)]
struct Lines {
    /// Lines read while the client was not connected yet.
    queued: VecDeque<String>,
    sent: usize,
    echoed: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;

    // An echo server on the same loop.
    let server = WebSocketServer::new(&ev, "poll-loop echo", SslMode::NonSecureMode);
    server
        .listen("127.0.0.1".parse()?, 0)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    server.new_connection().connect(|server| {
        while let Some(socket) = server.next_pending_connection() {
            socket.text_message_received().connect(|ws, text| {
                ws.send_text_message(text);
            });
        }
    });

    // The client: sends what stdin gives, prints the echoes.
    let lines = Rc::new(RefCell::new(Lines::default()));
    let failed = Rc::new(Cell::new(false));
    let client = WebSocket::new(&ev);
    let l = lines.clone();
    client.connected().connect(move |ws| {
        eprintln!("connected to {}", ws.request_url().unwrap());
        let mut lines = l.borrow_mut();
        while let Some(line) = lines.queued.pop_front() {
            ws.send_text_message(&line);
            lines.sent += 1;
        }
    });
    let l = lines.clone();
    client.text_message_received().connect(move |_, text| {
        println!("echo: {text}");
        l.borrow_mut().echoed += 1;
    });
    let f = failed.clone();
    client.error_occurred().connect(move |ws, e| {
        eprintln!("client error {e:?}: {}", ws.error_string());
        f.set(true);
    });
    client.open(server.server_url().unwrap().as_str())?;

    // Standard input, read with plain read(2) calls (no buffering that poll
    // could not see): a duplicate of descriptor 0 as a File.
    let mut stdin = Some(File::from(io::stdin().as_fd().try_clone_to_owned()?));
    let mut partial = Vec::new();
    let mut buf = [0u8; 4096];
    let mut closing = false;

    let qws_fd = ev.poll_fd().expect("a real event loop has a descriptor");
    loop {
        // Done: the client has closed (or could not connect).
        if client.state() == SocketState::Unconnected && (closing || failed.get()) {
            break;
        }

        // 1. Wait: for stdin (while it is open), for qwebsocket's descriptor,
        //    and at most until qwebsocket's next deadline (rounded up to a
        //    whole millisecond, so that we never wake up just before it).
        let timeout_ms: libc::c_int = match ev.next_deadline() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
            None => -1,
        };
        let mut fds = [
            libc::pollfd {
                fd: qws_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // A negative descriptor is ignored by poll(2): stdin has ended.
                fd: stdin.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is an array of initialized pollfd that outlives the
        // call, and its length is passed with it.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err.into());
        }

        // 2. Our own work: stdin. One read(2) per wake-up never blocks, as
        //    poll said the descriptor was ready (POLLHUP: the writer left).
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let file = stdin.as_mut().expect("polled only while open");
            let got = match file.read(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if got == 0 {
                stdin = None; // EOF: a last line without a newline counts too
                if !partial.is_empty() {
                    partial.push(b'\n');
                }
            } else {
                partial.extend_from_slice(&buf[..got]);
            }
            let mut lines = lines.borrow_mut();
            while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..end]);
                let text = text.strip_suffix('\r').unwrap_or(&text).to_owned();
                if client.state() == SocketState::Connected {
                    client.send_text_message(&text);
                    lines.sent += 1;
                } else {
                    lines.queued.push_back(text);
                }
            }
        }

        // 3. qwebsocket's work: whatever is ready (sockets, timers, posts).
        //    Sends made above were only queued; this writes them.
        ev.process_events(Some(Duration::ZERO))?;

        // 4. Once stdin has ended and every line came back, close.
        let all_back = {
            let lines = lines.borrow();
            lines.queued.is_empty() && lines.echoed == lines.sent
        };
        if stdin.is_none() && !closing && all_back && client.state() == SocketState::Connected {
            let sent = lines.borrow().sent;
            eprintln!("stdin ended; {sent} line(s) echoed; closing");
            client.close(CloseCode::Normal, "stdin ended")?;
            closing = true;
        }
    }

    let lines = lines.borrow();
    if failed.get() || lines.echoed != lines.sent || !lines.queued.is_empty() {
        return Err(format!(
            "{} line(s) sent, {} echoed, {} never sent",
            lines.sent,
            lines.echoed,
            lines.queued.len()
        )
        .into());
    }
    eprintln!("closed with {}; bye", client.close_code());
    Ok(())
}
