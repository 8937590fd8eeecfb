//! Driving qwebsocket from a [calloop](https://docs.rs/calloop) event loop, as
//! a toolkit built on calloop (Smithay's Wayland compositors and clients) would.
//!
//! calloop owns the thread and `EventLoop::run` is never called. Two calloop
//! sources drive qwebsocket:
//!
//! * a `Generic` source on qwebsocket's [`EventLoop::poll_fd`] (level-triggered,
//!   readable): whenever it is readable, [`EventLoop::process_events`] runs
//!   with a zero timeout (it never blocks);
//! * a calloop `Timer` kept armed at [`EventLoop::next_deadline`]: after every
//!   dispatch the deadline is read again and the timer re-armed if it moved,
//!   so qwebsocket's own timers (and closures posted for "now") run on time.
//!
//! On that, an echo server and a client talk over 127.0.0.1, and a
//! calloop-native repeating timer sends a message through the client on each
//! tick. After three echoed ticks the client closes, its `disconnected` slot
//! stops calloop, and the program exits 0.
//!
//! ```sh
//! cargo run --example calloop --features calloop
//! ```

use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer as CalloopTimer};
use calloop::{Dispatcher, Interest, LoopSignal, Mode, PostAction};
use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

const TICKS: u32 = 3;
const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// The data every calloop callback gets.
struct App {
    signal: LoopSignal,
    /// Set when the demo gives up.
    timed_out: bool,
}

/// How far away "no deadline" is put: the re-arm after every dispatch brings
/// the timer back as soon as qwebsocket has one.
const FAR: Duration = Duration::from_secs(3600);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;
    let mut event_loop: calloop::EventLoop<'static, App> = calloop::EventLoop::try_new()?;
    let handle = event_loop.handle();
    let mut app = App {
        signal: event_loop.get_signal(),
        timed_out: false,
    };

    // qwebsocket's descriptor as a calloop source. calloop takes ownership of
    // the descriptor it is given, so it gets a duplicate (the same epoll
    // instance; qwebsocket keeps its own).
    let fd = ev.poll_fd().expect("a real event loop has a descriptor");
    // SAFETY: `fd` is open for as long as `ev` lives, and is only borrowed
    // here for the time it takes to duplicate it.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    let io_ev = ev.clone();
    handle.insert_source(
        Generic::new(fd, Interest::READ, Mode::Level),
        move |_readiness, _fd, _app| {
            io_ev.process_events(Some(Duration::ZERO))?;
            Ok(PostAction::Continue)
        },
    )?;

    // qwebsocket's deadline as a calloop timer, kept in a Dispatcher so that
    // it can be re-armed from outside its callback.
    let timer_ev = ev.clone();
    let deadline_timer = Dispatcher::new(
        CalloopTimer::from_deadline(Instant::now() + FAR),
        move |_due, _, _app: &mut App| {
            if let Err(e) = timer_ev.process_events(Some(Duration::ZERO)) {
                eprintln!("qwebsocket: {e}");
            }
            // Parked; the re-arm after this dispatch sets the real deadline.
            TimeoutAction::ToInstant(Instant::now() + FAR)
        },
    );
    let deadline_token = handle.register_dispatcher(deadline_timer.clone())?;
    let mut armed: Option<Instant> = None;
    let mut rearm = |handle: &calloop::LoopHandle<'static, App>| -> calloop::Result<()> {
        let next = ev.next_deadline();
        if next != armed {
            armed = next;
            let at = next.unwrap_or_else(|| Instant::now() + FAR);
            deadline_timer.as_source_mut().set_deadline(at);
            handle.update(&deadline_token)?;
        }
        Ok(())
    };

    // The qwebsocket side: an echo server and a client, on `ev` as usual.
    let server = WebSocketServer::new(&ev, "calloop echo", SslMode::NonSecureMode);
    server
        .listen("127.0.0.1".parse()?, 0)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    server.new_connection().connect(|server| {
        while let Some(socket) = server.next_pending_connection() {
            socket.text_message_received().connect(|ws, text| {
                ws.send_text_message(&format!("echo: {text}"));
            });
        }
    });
    let client = WebSocket::new(&ev);
    let echoed = Rc::new(Cell::new(0));
    client
        .connected()
        .connect(|ws| println!("qwebsocket: connected to {}", ws.request_url().unwrap()));
    let e = echoed.clone();
    client.text_message_received().connect(move |ws, text| {
        println!("qwebsocket: {text}");
        e.set(e.get() + 1);
        if e.get() == TICKS {
            ws.close(CloseCode::Normal, "enough ticks").unwrap();
        }
    });
    client
        .error_occurred()
        .connect(|ws, e| eprintln!("qwebsocket: error {e:?}: {}", ws.error_string()));
    let signal = app.signal.clone();
    client.disconnected().connect(move |ws| {
        println!("qwebsocket: disconnected ({})", ws.close_code());
        signal.stop();
    });
    client.open(server.server_url().unwrap().as_str())?;

    // A calloop-native timer that uses the socket: each tick sends a message.
    let ticker = client.downgrade();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    handle.insert_source(
        CalloopTimer::from_duration(TICK_INTERVAL),
        move |_due, _, _app| {
            let Some(ws) = ticker.upgrade() else {
                return TimeoutAction::Drop;
            };
            if ws.state() != SocketState::Connected {
                return TimeoutAction::ToDuration(TICK_INTERVAL); // not yet
            }
            t.set(t.get() + 1);
            println!("calloop: tick {}", t.get());
            ws.send_text_message(&format!("tick {}", t.get()));
            if t.get() == TICKS {
                TimeoutAction::Drop
            } else {
                TimeoutAction::ToDuration(TICK_INTERVAL)
            }
        },
    )?;

    // Never hang: a calloop timer that gives up after ten seconds.
    handle.insert_source(
        CalloopTimer::from_duration(Duration::from_secs(10)),
        |_, _, app: &mut App| {
            eprintln!("timed out");
            app.timed_out = true;
            app.signal.stop();
            TimeoutAction::Drop
        },
    )?;

    // calloop runs; between dispatches, qwebsocket's deadline is re-armed.
    rearm(&handle)?;
    let mut rearm_failed = None;
    event_loop.run(None, &mut app, |_app| {
        if let Err(e) = rearm(&handle) {
            rearm_failed = Some(e);
        }
    })?;
    if let Some(e) = rearm_failed {
        return Err(e.into());
    }

    if app.timed_out || echoed.get() != TICKS || client.close_code() != CloseCode::Normal {
        return Err(format!(
            "the demo did not complete: {} tick(s), {} echo(es), close code {}",
            ticks.get(),
            echoed.get(),
            client.close_code()
        )
        .into());
    }
    println!("done: {TICKS} ticks sent from calloop and echoed through qwebsocket");
    Ok(())
}
