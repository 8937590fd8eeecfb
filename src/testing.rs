//! The fake reactor: test code that uses sockets, servers and timers, with
//! no network and no sleeping.
//!
//! A [`FakeReactor`] gives you an [`EventLoop`] whose clock moves only when
//! you say so and whose network is in memory. A [`WebSocket`](crate::WebSocket),
//! [`WebSocketServer`](crate::WebSocketServer) or
//! [`Timer`](crate::event_loop::Timer) created on it is the real one, state
//! machine and all; only the bytes and the time are scripted. On the other
//! end of each connection is a [`Peer`] that your test plays: it accepts or
//! refuses, reads what the library wrote, writes messages or any frame,
//! closes, resets or vanishes.
//!
//! * Run the code: [`FakeReactor::run_until_idle`] (what is ready now),
//!   [`FakeReactor::advance`] (move the clock, firing the timers on the way).
//! * Play the server of your client: [`FakeReactor::accept_websocket`] (TCP
//!   and handshake in one call), or step by step
//!   [`FakeReactor::next_connection`], [`Peer::accept`] / [`Peer::refuse`],
//!   [`Peer::accept_handshake`]. [`FakeReactor::pending_connections`] tells
//!   whether your client tried to connect.
//! * Play a client of your server: [`FakeReactor::connect_websocket`], or
//!   [`FakeReactor::connect`] and [`Peer::send_upgrade_request`].
//! * Check what your code sent, `assert_eq!`-style: [`Peer::expect_text`],
//!   [`Peer::expect_binary`], [`Peer::expect_ping`], [`Peer::expect_close`],
//!   [`Peer::expect_no_frame`]…
//! * Send to your code: [`Peer::send_text`], [`Peer::send_pong`],
//!   [`Peer::close`], [`Peer::send_frame`]…; end the connection with
//!   [`Peer::close`], [`Peer::shutdown`], [`Peer::reset`] or by dropping the
//!   peer (see [`Peer`]).
//! * See the order of a socket's signals: [`SignalLog`].
//!
//! The guide `docs/testing.md` (in the repository) tests a chat client's
//! reconnect-with-backoff and heartbeat logic this way, step by step; its
//! code runs as a doctest.
//!
//! ```
//! use qwebsocket::testing::FakeReactor;
//! use qwebsocket::{CloseCode, WebSocket};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! // The code under test: greets, and keeps what the server says.
//! let reactor = FakeReactor::new();
//! let ws = WebSocket::new(reactor.event_loop());
//! let got = Rc::new(RefCell::new(Vec::new()));
//! let g = got.clone();
//! ws.text_message_received().connect(move |_, text| g.borrow_mut().push(text.to_owned()));
//! ws.connected().connect(|ws| {
//!     ws.send_text_message("hi, I am ann");
//! });
//! reactor.add_host("chat.example", "10.0.0.7".parse().unwrap());
//! ws.open("ws://chat.example/room").unwrap();
//!
//! // The test plays the server.
//! let server = reactor.accept_websocket();
//! assert_eq!(server.upgrade_request().unwrap().target, "/room");
//! assert_eq!(server.expect_text(), "hi, I am ann");
//! server.send_text("welcome");
//! reactor.run_until_idle();
//! assert_eq!(*got.borrow(), ["welcome"]);
//! server.close(CloseCode::Normal, "bye");
//! assert_eq!(server.expect_close(), (CloseCode::Normal, "bye".to_owned()));
//! ```

use crate::event_loop::{EventLoop, LoopInner};
use crate::protocol::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use crate::protocol::handshake::server::{ServerRequest, accept_response, parse_request};
use crate::protocol::handshake::{HandshakeError, MAX_HEADER_BLOCK, accept_key};
use crate::protocol::mask::apply_mask;
use crate::protocol::{CloseCode, Role};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    Connecting,
    Established,
    Refused,
}

/// One in-memory TCP connection with two ends (0 = opener, 1 = acceptor).
struct Pipe {
    bufs: [RefCell<VecDeque<u8>>; 2],
    tokens: [Cell<Option<mio::Token>>; 2],
    shut: [Cell<bool>; 2],
    closed: [Cell<bool>; 2],
    reset: [Cell<bool>; 2],
    addrs: [SocketAddr; 2],
    state: Cell<ConnState>,
    refused_reported: Cell<bool>,
    /// How many bytes each end may have in flight toward the other.
    window: Cell<usize>,
}

/// The library's end of a fake connection.
pub(crate) struct FakeStream {
    pipe: Rc<Pipe>,
    side: usize,
    net: Weak<FakeNet>,
}

/// The in-memory network behind a fake loop.
pub(crate) struct FakeNet {
    ev: RefCell<Weak<LoopInner>>,
    hosts: RefCell<HashMap<String, IpAddr>>,
    pending: RefCell<VecDeque<(Rc<Pipe>, SocketAddr)>>,
    listeners: RefCell<HashMap<SocketAddr, Rc<ListenerState>>>,
    next_port: Cell<u16>,
}

struct ListenerState {
    addr: SocketAddr,
    queue: RefCell<VecDeque<FakeStream>>,
    token: mio::Token,
    closed: Cell<bool>,
}

/// The library's end of a fake listening socket.
pub(crate) struct FakeListener {
    state: Rc<ListenerState>,
    net: Weak<FakeNet>,
}

impl FakeNet {
    fn event_loop(&self) -> Option<EventLoop> {
        self.ev.borrow().upgrade().map(|inner| EventLoop { inner })
    }

    /// Posts a readiness notification for `token` on the next loop turn.
    fn notify(&self, token: Option<mio::Token>) {
        let (Some(token), Some(ev)) = (token, self.event_loop()) else {
            return;
        };
        ev.post(move |ev| {
            if let Some(h) = ev.handler(token) {
                h.ready(ev, true, true);
            }
        });
    }

    fn ephemeral(&self) -> u16 {
        let p = self.next_port.get();
        self.next_port
            .set(if p == u16::MAX { 40000 } else { p + 1 });
        p
    }

    pub(crate) fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match self.hosts.borrow().get(host) {
            Some(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "Host not found")),
        }
    }

    pub(crate) fn connect(
        self: &Rc<Self>,
        _ev: &EventLoop,
        addr: SocketAddr,
        token: mio::Token,
    ) -> FakeStream {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), self.ephemeral());
        let pipe = Rc::new(Pipe {
            bufs: Default::default(),
            tokens: [Cell::new(Some(token)), Cell::new(None)],
            shut: Default::default(),
            closed: Default::default(),
            reset: Default::default(),
            addrs: [local, addr],
            state: Cell::new(ConnState::Connecting),
            refused_reported: Cell::new(false),
            window: Cell::new(usize::MAX),
        });
        let listener = self.listeners.borrow().get(&addr).cloned();
        match listener {
            Some(l) if !l.closed.get() => {
                pipe.state.set(ConnState::Established);
                l.queue.borrow_mut().push_back(FakeStream {
                    pipe: pipe.clone(),
                    side: 1,
                    net: Rc::downgrade(self),
                });
                self.notify(Some(l.token));
                self.notify(Some(token));
            }
            _ => self.pending.borrow_mut().push_back((pipe.clone(), addr)),
        }
        FakeStream {
            pipe,
            side: 0,
            net: Rc::downgrade(self),
        }
    }

    pub(crate) fn listen(
        self: &Rc<Self>,
        addr: SocketAddr,
        token: mio::Token,
    ) -> io::Result<FakeListener> {
        let addr = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), self.ephemeral())
        } else {
            addr
        };
        let mut listeners = self.listeners.borrow_mut();
        if listeners.get(&addr).is_some_and(|l| !l.closed.get()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "The bound address is already in use",
            ));
        }
        let state = Rc::new(ListenerState {
            addr,
            queue: RefCell::new(VecDeque::new()),
            token,
            closed: Cell::new(false),
        });
        listeners.insert(addr, state.clone());
        Ok(FakeListener {
            state,
            net: Rc::downgrade(self),
        })
    }
}

impl FakeStream {
    /// A stream connected to nothing, used only while swapping streams.
    pub(crate) fn placeholder() -> FakeStream {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        FakeStream {
            pipe: Rc::new(Pipe {
                bufs: Default::default(),
                tokens: Default::default(),
                shut: Default::default(),
                closed: Default::default(),
                reset: Default::default(),
                addrs: [addr, addr],
                state: Cell::new(ConnState::Refused),
                refused_reported: Cell::new(true),
                window: Cell::new(0),
            }),
            side: 0,
            net: Weak::new(),
        }
    }

    fn other(&self) -> usize {
        1 - self.side
    }

    fn notify_other(&self) {
        if let Some(net) = self.net.upgrade() {
            net.notify(self.pipe.tokens[self.other()].get());
        }
    }

    pub(crate) fn set_token(&self, token: mio::Token) {
        self.pipe.tokens[self.side].set(Some(token));
        if let Some(net) = self.net.upgrade() {
            net.notify(Some(token));
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let p = &self.pipe;
        match p.state.get() {
            ConnState::Connecting => return Err(io::ErrorKind::WouldBlock.into()),
            ConnState::Refused => return Err(io::ErrorKind::ConnectionRefused.into()),
            ConnState::Established => {}
        }
        if p.reset[self.other()].get() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let mut q = p.bufs[self.side].borrow_mut();
        if q.is_empty() {
            return if p.shut[self.other()].get() || p.closed[self.other()].get() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(q.len());
        for (dst, src) in buf.iter_mut().zip(q.drain(..n)) {
            *dst = src;
        }
        drop(q);
        // Room freed in the window: the writer may continue.
        self.notify_other();
        Ok(n)
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let p = &self.pipe;
        match p.state.get() {
            ConnState::Connecting => return Err(io::ErrorKind::WouldBlock.into()),
            ConnState::Refused => return Err(io::ErrorKind::ConnectionRefused.into()),
            ConnState::Established => {}
        }
        if p.shut[self.side].get() || p.closed[self.side].get() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if p.reset[self.other()].get() || p.closed[self.other()].get() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let mut q = p.bufs[self.other()].borrow_mut();
        let room = p.window.get().saturating_sub(q.len());
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut written = 0;
        for b in bufs {
            let take = b.len().min(room - written);
            q.extend(&b[..take]);
            written += take;
            if written == room {
                break;
            }
        }
        drop(q);
        if written > 0 {
            self.notify_other();
        }
        Ok(written)
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.pipe.shut[self.side].set(true);
        self.notify_other();
        Ok(())
    }

    pub(crate) fn close_from_library(&mut self) {
        self.pipe.closed[self.side].set(true);
        self.pipe.tokens[self.side].set(None);
        self.notify_other();
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self.pipe.state.get() {
            ConnState::Established => Ok(self.pipe.addrs[self.other()]),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.pipe.addrs[self.side])
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        if self.pipe.state.get() == ConnState::Refused && !self.pipe.refused_reported.replace(true)
        {
            return Ok(Some(io::ErrorKind::ConnectionRefused.into()));
        }
        Ok(None)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.pipe.state.get() == ConnState::Established
    }
}

impl FakeListener {
    pub(crate) fn accept(&self) -> io::Result<(FakeStream, SocketAddr)> {
        let s = self
            .state
            .queue
            .borrow_mut()
            .pop_front()
            .ok_or(io::Error::from(io::ErrorKind::WouldBlock))?;
        let addr = s.pipe.addrs[0];
        Ok((s, addr))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.state.addr
    }

    pub(crate) fn close(&self) {
        self.state.closed.set(true);
        if let Some(net) = self.net.upgrade() {
            net.listeners.borrow_mut().remove(&self.state.addr);
        }
    }
}

/// Runs `ev` until nothing is left to do right now (time does not move).
fn run_until_idle(ev: &EventLoop) -> usize {
    let mut total = 0;
    for _ in 0..100_000 {
        let ran = ev.run_ready_work();
        if ran == 0 {
            return total;
        }
        total += ran;
    }
    panic!("the fake reactor never became idle: something re-posts itself forever");
}

/// A deterministic stand-in for the network and the clock.
///
/// Create the code under test on [`event_loop`](FakeReactor::event_loop),
/// run it with [`run_until_idle`](FakeReactor::run_until_idle) (everything
/// that is ready now) and [`advance`](FakeReactor::advance) (move the clock,
/// firing the timers on the way), and play the other end of each connection
/// with a [`Peer`]:
///
/// * a client of yours connects to a peer that you take with
///   [`accept_websocket`](FakeReactor::accept_websocket) (TCP and opening
///   handshake done in one call) or, step by step, with
///   [`next_connection`](FakeReactor::next_connection);
/// * a server of yours is reached by a peer made with
///   [`connect_websocket`](FakeReactor::connect_websocket) (handshake done)
///   or [`connect`](FakeReactor::connect) (TCP only).
///
/// ```
/// use qwebsocket::testing::FakeReactor;
/// use qwebsocket::WebSocket;
///
/// let reactor = FakeReactor::new();
/// let ws = WebSocket::new(reactor.event_loop());
/// ws.connected().connect(|ws| {
///     ws.send_text_message("hello");
/// });
/// ws.open("ws://127.0.0.1/").unwrap();
/// let server = reactor.accept_websocket();
/// assert_eq!(server.expect_text(), "hello");
/// ```
///
/// See the [module documentation](self) for more.
pub struct FakeReactor {
    ev: EventLoop,
    net: Rc<FakeNet>,
}

impl fmt::Debug for FakeReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeReactor")
            .field("now", &self.ev.now())
            .finish_non_exhaustive()
    }
}

impl Default for FakeReactor {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeReactor {
    /// A fake network with no hosts and a clock that starts now and only
    /// moves with [`FakeReactor::advance`].
    ///
    /// ```
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// assert!(reactor.event_loop().is_fake());
    /// ```
    pub fn new() -> FakeReactor {
        let net = Rc::new(FakeNet {
            ev: RefCell::new(Weak::new()),
            hosts: RefCell::new(HashMap::new()),
            pending: RefCell::new(VecDeque::new()),
            listeners: RefCell::new(HashMap::new()),
            next_port: Cell::new(40000),
        });
        let ev = EventLoop::new_fake(Instant::now(), net.clone());
        *net.ev.borrow_mut() = Rc::downgrade(&ev.inner);
        FakeReactor { ev, net }
    }

    /// The loop to create sockets, servers and timers on: the code under
    /// test takes it where it would take a real [`EventLoop`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert!(ws.event_loop().unwrap().is_fake());
    /// ```
    pub fn event_loop(&self) -> &EventLoop {
        &self.ev
    }

    /// The fake clock's current time (also [`EventLoop::now`] on its loop).
    ///
    /// ```
    /// use std::time::Duration;
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// let start = reactor.now();
    /// reactor.run_until_idle();
    /// assert_eq!(reactor.now(), start); // only advance() moves the clock
    /// reactor.advance(Duration::from_millis(1));
    /// assert_eq!(reactor.now() - start, Duration::from_millis(1));
    /// ```
    pub fn now(&self) -> Instant {
        self.ev.now()
    }

    /// Makes `name` resolve to `ip` (every other name fails with
    /// `HostNotFound`; IP literals need no entry).
    ///
    /// ```
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// reactor.add_host("example.com", "127.0.0.1".parse().unwrap());
    /// ```
    pub fn add_host(&self, name: &str, ip: IpAddr) {
        self.net.hosts.borrow_mut().insert(name.to_owned(), ip);
    }

    /// Runs the loop until nothing is left to do right now; returns how many
    /// callbacks ran. Time does not move.
    ///
    /// ```
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// assert_eq!(reactor.run_until_idle(), 0);
    /// ```
    pub fn run_until_idle(&self) -> usize {
        run_until_idle(&self.ev)
    }

    /// Moves the clock forward by `by`, firing every timer that falls due on
    /// the way (in order, each at its own deadline) and running until idle.
    /// A timer due exactly at the end fires; one due later does not.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// let fired = Rc::new(Cell::new(false));
    /// let f = fired.clone();
    /// reactor.event_loop().add_timer(Duration::from_secs(3), move |_| f.set(true));
    /// reactor.advance(Duration::from_millis(2999));
    /// assert!(!fired.get());
    /// reactor.advance(Duration::from_millis(1));
    /// assert!(fired.get());
    /// ```
    pub fn advance(&self, by: Duration) {
        let target = self.ev.now() + by;
        self.run_until_idle();
        while let Some(deadline) = self.ev.next_timer_deadline() {
            if deadline > target {
                break;
            }
            if deadline > self.ev.now() {
                self.ev.set_manual_time(deadline);
            }
            self.run_until_idle();
        }
        self.ev.set_manual_time(target);
        self.run_until_idle();
    }

    /// How many connections the library opened that no test took yet: the
    /// way to assert that a client did (or did not yet) try to connect.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(reactor.pending_connections(), 0);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(reactor.pending_connections(), 1);
    /// ```
    pub fn pending_connections(&self) -> usize {
        self.net.pending.borrow().len()
    }

    /// The oldest connection the library opened that no test took yet, still
    /// connecting: call [`Peer::accept`] or [`Peer::refuse`] on it. For a
    /// connection that simply succeeds, [`FakeReactor::accept_websocket`]
    /// does every step.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1:8080/chat").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().expect("a connection attempt");
    /// assert_eq!(server.addr(), "127.0.0.1:8080".parse().unwrap());
    /// server.accept(); // TCP is up: the library sends its upgrade request
    /// reactor.run_until_idle();
    /// let request = server.accept_handshake().unwrap();
    /// assert_eq!(request.target, "/chat");
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn next_connection(&self) -> Option<Peer> {
        let (pipe, _) = self.net.pending.borrow_mut().pop_front()?;
        Some(Peer::new(
            FakeStream {
                pipe,
                side: 1,
                net: Rc::downgrade(&self.net),
            },
            Role::Server,
        ))
    }

    /// Runs the loop, takes the next connection the library opened, accepts
    /// it, answers its upgrade request with `101 Switching Protocols` and
    /// runs the loop again: the socket is connected and its `connected`
    /// slots have run. The request is kept in [`Peer::upgrade_request`].
    ///
    /// # Panics
    ///
    /// If no connection is being opened (the panic message says what to
    /// check) or the upgrade request is malformed.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.connected().connect(|ws| {
    ///     ws.send_text_message("hello");
    /// });
    /// ws.open("ws://127.0.0.1/chat").unwrap();
    /// let server = reactor.accept_websocket();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// assert_eq!(server.upgrade_request().unwrap().target, "/chat");
    /// assert_eq!(server.expect_text(), "hello");
    /// ```
    #[track_caller]
    pub fn accept_websocket(&self) -> Peer {
        self.accept_websocket_with(None)
    }

    /// Like [`FakeReactor::accept_websocket`], choosing `subprotocol` (one
    /// the client requested) in the response.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_requested_subprotocols(&["chat.v2", "chat.v1"]);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket_with(Some("chat.v1"));
    /// assert_eq!(server.upgrade_request().unwrap().subprotocols, ["chat.v2", "chat.v1"]);
    /// assert_eq!(ws.subprotocol(), "chat.v1");
    /// ```
    #[track_caller]
    pub fn accept_websocket_with(&self, subprotocol: Option<&str>) -> Peer {
        self.run_until_idle();
        let Some(peer) = self.next_connection() else {
            panic!(
                "expected a connection attempt, but no socket is connecting on this reactor \
                 (did the code under test call open() on a socket of reactor.event_loop()? \
                 a host name needs reactor.add_host())"
            );
        };
        peer.accept();
        self.run_until_idle();
        if let Err(e) = peer.accept_handshake_with(subprotocol) {
            panic!("could not answer the upgrade request: {e}");
        }
        self.run_until_idle();
        peer
    }

    /// Connects to a server listening on the fake network at `addr`, as a
    /// client whose frames are masked. The server sees a connection from an
    /// ephemeral port on 127.0.0.1. Only TCP: send the upgrade request
    /// yourself ([`Peer::send_upgrade_request`] or [`Peer::write`]), or use
    /// [`FakeReactor::connect_websocket`]. Fails with `ConnectionRefused`
    /// if nothing listens at `addr`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// client.send_upgrade_request("/chat", &[]);
    /// reactor.run_until_idle();
    /// assert_eq!(client.read_handshake_response().unwrap().status, 101);
    /// assert!(server.has_pending_connections());
    /// assert!(reactor.connect("127.0.0.1:81".parse().unwrap()).is_err());
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> io::Result<Peer> {
        let l = self
            .net
            .listeners
            .borrow()
            .get(&addr)
            .cloned()
            .ok_or(io::Error::from(io::ErrorKind::ConnectionRefused))?;
        let local = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            self.net.ephemeral(),
        );
        let pipe = Rc::new(Pipe {
            bufs: Default::default(),
            tokens: Default::default(),
            shut: Default::default(),
            closed: Default::default(),
            reset: Default::default(),
            addrs: [local, addr],
            state: Cell::new(ConnState::Established),
            refused_reported: Cell::new(false),
            window: Cell::new(usize::MAX),
        });
        l.queue.borrow_mut().push_back(FakeStream {
            pipe: pipe.clone(),
            side: 1,
            net: Rc::downgrade(&self.net),
        });
        self.net.notify(Some(l.token));
        Ok(Peer::new(
            FakeStream {
                pipe,
                side: 0,
                net: Rc::downgrade(&self.net),
            },
            Role::Client,
        ))
    }

    /// Connects to the server listening at `addr`, sends an upgrade request
    /// for `target` and runs the loop until the server answered: the server
    /// emitted `new_connection` and its slots have run. The response is kept
    /// in [`Peer::upgrade_response`].
    ///
    /// # Panics
    ///
    /// If nothing listens at `addr`, or the server does not answer with a
    /// valid `101 Switching Protocols` (the message quotes its answer).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// server.new_connection().connect(|server| {
    ///     while let Some(ws) = server.next_pending_connection() {
    ///         ws.text_message_received().connect(|ws, text| {
    ///             ws.send_text_message(&text.to_uppercase());
    ///         });
    ///     }
    /// });
    /// let client = reactor.connect_websocket("127.0.0.1:80".parse().unwrap(), "/shout");
    /// client.send_text("hi");
    /// assert_eq!(client.expect_text(), "HI");
    /// ```
    #[track_caller]
    pub fn connect_websocket(&self, addr: SocketAddr, target: &str) -> Peer {
        self.connect_websocket_with(addr, target, &[])
    }

    /// Like [`FakeReactor::connect_websocket`], with extra request headers
    /// (`Origin`, `Sec-WebSocket-Protocol`, cookies…).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.set_supported_subprotocols(&["chat.v1"]);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect_websocket_with(
    ///     "127.0.0.1:80".parse().unwrap(),
    ///     "/",
    ///     &[("Origin", "https://app.example"), ("Sec-WebSocket-Protocol", "chat.v2, chat.v1")],
    /// );
    /// let response = client.upgrade_response().unwrap();
    /// assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("chat.v1"));
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.origin(), "https://app.example");
    /// ```
    #[track_caller]
    pub fn connect_websocket_with(
        &self,
        addr: SocketAddr,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Peer {
        let peer = match self.connect(addr) {
            Ok(peer) => peer,
            Err(e) => panic!(
                "could not connect to {addr}: {e} (is a server listening there, on this reactor?)"
            ),
        };
        peer.send_upgrade_request(target, headers);
        self.run_until_idle();
        let Some(response) = peer.read_handshake_response() else {
            panic!("the server at {addr} did not answer the upgrade request for {target:?}");
        };
        let expected = accept_key(CLIENT_KEY.as_bytes());
        if response.status != 101 || response.header("Sec-WebSocket-Accept") != Some(&expected) {
            panic!(
                "the server at {addr} refused the upgrade request for {target:?}: {} {:?}",
                response.status, response.headers
            );
        }
        peer
    }
}

/// The key a client [`Peer`] sends in its upgrade request (RFC 6455's
/// example key).
const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The status and headers of a handshake response, as a client peer read it.
///
/// ```
/// use qwebsocket::testing::HandshakeResponse;
/// let r = HandshakeResponse { status: 101, headers: vec![("Upgrade".into(), "websocket".into())] };
/// assert_eq!(r.header("upgrade"), Some("websocket"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// The HTTP status code (0 if the head could not be parsed).
    pub status: u16,
    /// The headers in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl HandshakeResponse {
    /// The first header with this name (case-insensitive).
    ///
    /// ```
    /// use qwebsocket::testing::HandshakeResponse;
    /// let r = HandshakeResponse { status: 503, headers: vec![("Retry-After".into(), "5".into())] };
    /// assert_eq!(r.header("retry-after"), Some("5"));
    /// assert_eq!(r.header("Upgrade"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A frame the library wrote, as the peer decoded it.
///
/// ```
/// use qwebsocket::testing::ReceivedFrame;
/// use qwebsocket::protocol::OpCode;
/// let f = ReceivedFrame { fin: true, rsv: 0, opcode: OpCode::Text, masked: true, payload: b"hi".to_vec() };
/// assert_eq!(f.text(), Some("hi"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV bits.
    pub rsv: u8,
    /// Opcode.
    pub opcode: OpCode,
    /// Whether the frame was masked.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl ReceivedFrame {
    /// The payload as text, if it is UTF-8.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::ReceivedFrame};
    /// let f = ReceivedFrame { fin: true, rsv: 0, opcode: OpCode::Binary, masked: false, payload: vec![0xff] };
    /// assert_eq!(f.text(), None);
    /// ```
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// For a close frame: its code (1005 if empty) and reason.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::ReceivedFrame, CloseCode};
    /// let mut f = ReceivedFrame { fin: true, rsv: 0, opcode: OpCode::Close, masked: false, payload: vec![] };
    /// assert_eq!(f.close_status(), Some((CloseCode::MissingStatusCode, String::new())));
    /// f.payload = b"\x03\xe8bye".to_vec();
    /// assert_eq!(f.close_status(), Some((CloseCode::Normal, "bye".to_owned())));
    /// ```
    pub fn close_status(&self) -> Option<(CloseCode, String)> {
        if self.opcode != OpCode::Close {
            return None;
        }
        match self.payload.as_slice() {
            [] => Some((CloseCode::MissingStatusCode, String::new())),
            [a, b, rest @ ..] => Some((
                CloseCode::from(u16::from_be_bytes([*a, *b])),
                String::from_utf8_lossy(rest).into_owned(),
            )),
            _ => None,
        }
    }

    /// A short description for panic messages: the opcode, the payload
    /// (quoted text or hex, cut after 64 bytes), "not final" if FIN is unset.
    fn describe(&self) -> String {
        let shown = &self.payload[..self.payload.len().min(64)];
        let cut = if shown.len() < self.payload.len() {
            "…"
        } else {
            ""
        };
        let mut s = match (self.opcode, std::str::from_utf8(shown)) {
            (OpCode::Close, _) => match self.close_status() {
                Some((code, reason)) => format!("a close frame ({code}, {reason:?})"),
                None => format!("a malformed close frame [{}]", hex(&self.payload)),
            },
            (OpCode::Binary, _) | (_, Err(_)) => format!(
                "a {:?} frame of {} bytes [{}{cut}]",
                self.opcode,
                self.payload.len(),
                hex(shown)
            ),
            (_, Ok(text)) => format!("a {:?} frame {text:?}{cut}", self.opcode),
        };
        if !self.fin {
            s.push_str(", not final");
        }
        s
    }
}

/// Decodes the whole frame at the start of `buf`, if there is one: the frame
/// and its length on the wire.
fn decode_frame(buf: &[u8]) -> Option<(ReceivedFrame, usize)> {
    let (h, hl) = FrameHeader::parse(buf, 0b111).ok()??;
    let len = usize::try_from(h.payload_len).ok()?;
    if buf.len() - hl < len {
        return None;
    }
    let mut payload = buf[hl..hl + len].to_vec();
    if let Some(k) = h.mask {
        apply_mask(&mut payload, k, 0);
    }
    let frame = ReceivedFrame {
        fin: h.fin,
        rsv: h.rsv,
        opcode: h.opcode,
        masked: h.mask.is_some(),
        payload,
    };
    Some((frame, hl + len))
}

/// The test's end of a fake connection: the server your client talks to, or
/// a client of your server.
///
/// A peer taken with [`FakeReactor::accept_websocket`] or
/// [`FakeReactor::next_connection`] plays a server (its frames are not
/// masked); one made with [`FakeReactor::connect_websocket`] or
/// [`FakeReactor::connect`] plays a client (its frames are masked with a
/// fixed key).
///
/// # Reading what the library sent
///
/// The `expect_*` methods ([`expect_text`](Peer::expect_text),
/// [`expect_binary`](Peer::expect_binary), [`expect_ping`](Peer::expect_ping),
/// [`expect_pong`](Peer::expect_pong), [`expect_close`](Peer::expect_close),
/// [`expect_frame`](Peer::expect_frame),
/// [`expect_no_frame`](Peer::expect_no_frame)) are assertions: each first
/// runs the loop until it is idle (without moving the clock), then returns
/// the next message or frame, or panics with a message that says what came
/// instead, at the line of the test that called it. Call them from the
/// test's code, not from a slot. [`frames`](Peer::frames) and
/// [`take_bytes`](Peer::take_bytes) return what was written so far, without
/// running the loop.
///
/// # Sending
///
/// [`send_text`](Peer::send_text), [`send_binary`](Peer::send_binary),
/// [`send_ping`](Peer::send_ping), [`send_pong`](Peer::send_pong) and
/// [`close`](Peer::close) send one well-formed frame;
/// [`send_frame`](Peer::send_frame) and
/// [`send_raw_frame_masked`](Peer::send_raw_frame_masked) send any frame,
/// valid or not; [`write`](Peer::write) sends raw bytes. The library reads
/// them the next time the loop runs.
///
/// # Ending the connection
///
/// | The test calls | The library sees |
/// |---|---|
/// | [`close(code, reason)`](Peer::close) | the closing handshake: it answers with a close frame (read it with [`expect_close`](Peer::expect_close)) and, once TCP ends, emits `disconnected`, with the peer's code in `close_code()` |
/// | [`shutdown()`](Peer::shutdown) | TCP FIN: the end of the stream, without a close frame; the peer can still read |
/// | [`reset()`](Peer::reset) | TCP RST: the connection was reset |
/// | `drop(peer)` | the peer is gone: the end of the stream, and its writes fail |
///
/// In the last three cases the socket reports `RemoteHostClosed` and
/// disconnects with close code 1006 (`AbnormalDisconnection`): the usual
/// way to test "the server went away".
///
/// ```
/// use qwebsocket::testing::FakeReactor;
/// use qwebsocket::{CloseCode, SocketState, WebSocket};
/// let reactor = FakeReactor::new();
/// let ws = WebSocket::new(reactor.event_loop());
/// ws.text_message_received().connect(|ws, text| {
///     ws.send_text_message(&format!("echo: {text}"));
/// });
/// ws.open("ws://127.0.0.1/").unwrap();
/// let server = reactor.accept_websocket();
/// server.send_text("hi");
/// assert_eq!(server.expect_text(), "echo: hi");
/// server.close(CloseCode::GoingAway, "maintenance");
/// assert_eq!(server.expect_close(), (CloseCode::GoingAway, "maintenance".into()));
/// drop(server); // a server ends TCP after the closing handshake
/// reactor.run_until_idle();
/// assert_eq!(ws.state(), SocketState::Unconnected);
/// assert_eq!(ws.close_code(), CloseCode::GoingAway);
/// ```
pub struct Peer {
    end: FakeStream,
    role: Role,
    rx: RefCell<Vec<u8>>,
    request: RefCell<Option<ServerRequest>>,
    response: RefCell<Option<HandshakeResponse>>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("role", &self.role)
            .field("remote", &self.end.pipe.addrs[self.end.other()])
            .finish_non_exhaustive()
    }
}

impl Peer {
    fn new(end: FakeStream, role: Role) -> Peer {
        Peer {
            end,
            role,
            rx: RefCell::new(Vec::new()),
            request: RefCell::new(None),
            response: RefCell::new(None),
        }
    }

    /// The server's address: the one the library connected to, or for a
    /// client peer the address of the server it connected to.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// reactor.add_host("chat.example", "10.0.0.7".parse().unwrap());
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://chat.example:8080/").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// assert_eq!(server.addr(), "10.0.0.7:8080".parse().unwrap());
    /// ```
    pub fn addr(&self) -> SocketAddr {
        // addrs[1] is always the accepting side's address.
        self.end.pipe.addrs[1]
    }

    /// Completes the library's TCP connect.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// server.accept();
    /// reactor.run_until_idle();
    /// assert!(server.take_bytes().starts_with(b"GET / HTTP/1.1\r\n"));
    /// ```
    pub fn accept(&self) {
        if self.end.pipe.state.get() == ConnState::Connecting {
            self.end.pipe.state.set(ConnState::Established);
            self.end.notify_other();
        }
    }

    /// Fails the library's TCP connect with "connection refused".
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// reactor.next_connection().unwrap().refuse();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::ConnectionRefused);
    /// ```
    pub fn refuse(&self) {
        if self.end.pipe.state.get() == ConnState::Connecting {
            self.end.pipe.state.set(ConnState::Refused);
            self.end.notify_other();
        }
    }

    /// Limits how many bytes may be in flight toward each end (default
    /// unlimited), to test backpressure.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.set_window(100);
    /// ws.send_binary_message(&[0; 1000]);
    /// reactor.run_until_idle();
    /// assert!(ws.bytes_to_write() > 0); // the peer has not read yet
    /// assert_eq!(server.expect_binary().len(), 1000); // reading frees the window
    /// assert_eq!(ws.bytes_to_write(), 0);
    /// ```
    pub fn set_window(&self, bytes: usize) {
        self.end.pipe.window.set(bytes);
        self.end.notify_other();
    }

    /// Takes every byte the library wrote since the last call (frames not
    /// yet decoded by [`Peer::frames`] included). Does not run the loop.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_text_message("hi");
    /// reactor.run_until_idle();
    /// let bytes = server.take_bytes();
    /// assert_eq!(bytes.len(), 2 + 4 + 2); // header, mask key, payload
    /// assert!(server.take_bytes().is_empty());
    /// ```
    pub fn take_bytes(&self) -> Vec<u8> {
        let mut rx = std::mem::take(&mut *self.rx.borrow_mut());
        let mut q = self.end.pipe.bufs[self.end.side].borrow_mut();
        rx.extend(q.drain(..));
        drop(q);
        self.end.notify_other();
        rx
    }

    /// Moves what the library wrote into `rx`; false if there was nothing.
    fn fill_rx(&self) -> bool {
        let mut q = self.end.pipe.bufs[self.end.side].borrow_mut();
        if q.is_empty() {
            return false;
        }
        self.rx.borrow_mut().extend(q.drain(..));
        drop(q);
        self.end.notify_other();
        true
    }

    /// Runs the loop until idle (time does not move) and reads what the
    /// library wrote, again and again while reading frees room in a
    /// [window](Peer::set_window) the library was waiting for.
    fn settle(&self) {
        let ev = self.end.net.upgrade().and_then(|net| net.event_loop());
        loop {
            if let Some(ev) = &ev {
                run_until_idle(ev);
            }
            if !self.fill_rx() {
                break;
            }
        }
    }

    /// Writes raw bytes to the library.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.text_message_received().connect(|ws, text| {
    ///     ws.send_text_message(text);
    /// });
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.write(&[0x81, 0x02, b'h', b'i']); // an unmasked text frame "hi"
    /// assert_eq!(server.expect_text(), "hi");
    /// ```
    pub fn write(&self, bytes: &[u8]) {
        self.end.pipe.bufs[self.end.other()]
            .borrow_mut()
            .extend(bytes);
        self.end.notify_other();
    }

    /// Ends the peer's writing side (TCP FIN) without a close frame; the
    /// peer can still read.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, SocketError, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.shutdown();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::RemoteHostClosed);
    /// assert_eq!(ws.close_code(), CloseCode::AbnormalDisconnection);
    /// ```
    pub fn shutdown(&self) {
        self.end.pipe.shut[self.end.side].set(true);
        self.end.notify_other();
    }

    /// Resets the connection (TCP RST).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.reset();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::RemoteHostClosed);
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ```
    pub fn reset(&self) {
        self.end.pipe.reset[self.end.side].set(true);
        self.end.notify_other();
    }

    /// True once the library ended its writing side or closed the socket.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// assert!(!server.is_closed_by_library());
    /// ws.abort();
    /// reactor.run_until_idle();
    /// assert!(server.is_closed_by_library());
    /// ```
    pub fn is_closed_by_library(&self) -> bool {
        let o = self.end.other();
        self.end.pipe.shut[o].get() || self.end.pipe.closed[o].get()
    }

    /// True once the library dropped the socket altogether.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.abort();
    /// reactor.run_until_idle();
    /// assert!(server.is_released_by_library());
    /// ```
    pub fn is_released_by_library(&self) -> bool {
        self.end.pipe.closed[self.end.other()].get()
    }

    /// Reads the upgrade request the library sent (a peer playing a server).
    /// `Ok(None)` if it is not complete yet. Also kept in
    /// [`Peer::upgrade_request`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.add_request_header("Authorization", "Bearer t0k3n");
    /// ws.open("ws://127.0.0.1/feed").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// assert_eq!(server.read_handshake_request().unwrap(), None); // TCP not up yet
    /// server.accept();
    /// reactor.run_until_idle();
    /// let request = server.read_handshake_request().unwrap().unwrap();
    /// assert_eq!(request.target, "/feed");
    /// assert!(request.headers.contains(&("Authorization".into(), "Bearer t0k3n".into())));
    /// ```
    pub fn read_handshake_request(&self) -> Result<Option<ServerRequest>, HandshakeError> {
        self.fill_rx();
        let mut rx = self.rx.borrow_mut();
        match parse_request(&rx, MAX_HEADER_BLOCK) {
            Ok(Some(req)) => {
                rx.drain(..req.head_len);
                *self.request.borrow_mut() = Some(req.clone());
                Ok(Some(req))
            }
            Ok(None) => Ok(None),
            Err(rej) => Err(HandshakeError {
                kind: crate::protocol::handshake::HandshakeErrorKind::Malformed,
                message: rej.message,
            }),
        }
    }

    /// Reads the upgrade request and answers `101 Switching Protocols`
    /// with the right accept key (no subprotocol).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// server.accept();
    /// reactor.run_until_idle();
    /// server.accept_handshake().unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn accept_handshake(&self) -> Result<ServerRequest, HandshakeError> {
        self.accept_handshake_with(None)
    }

    /// Like [`Peer::accept_handshake`], choosing `subprotocol` (which must be
    /// one the client requested) in the response.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_requested_subprotocols(&["mqtt"]);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// server.accept();
    /// reactor.run_until_idle();
    /// server.accept_handshake_with(Some("mqtt")).unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.subprotocol(), "mqtt");
    /// ```
    pub fn accept_handshake_with(
        &self,
        subprotocol: Option<&str>,
    ) -> Result<ServerRequest, HandshakeError> {
        let req = self
            .read_handshake_request()?
            .ok_or_else(|| HandshakeError {
                kind: crate::protocol::handshake::HandshakeErrorKind::Malformed,
                message: "no complete upgrade request was written".into(),
            })?;
        let resp = accept_response(&req, subprotocol, "", std::time::SystemTime::UNIX_EPOCH)?;
        self.write(&resp);
        Ok(req)
    }

    /// The last upgrade request this peer read (a peer playing a server),
    /// with [`FakeReactor::accept_websocket`],
    /// [`Peer::accept_handshake`] or [`Peer::read_handshake_request`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::with_origin(reactor.event_loop(), "https://app.example");
    /// ws.open("ws://127.0.0.1/room/42").unwrap();
    /// let server = reactor.accept_websocket();
    /// let request = server.upgrade_request().unwrap();
    /// assert_eq!(request.target, "/room/42");
    /// assert_eq!(request.origin.as_deref(), Some("https://app.example"));
    /// ```
    pub fn upgrade_request(&self) -> Option<ServerRequest> {
        self.request.borrow().clone()
    }

    /// Writes an upgrade request for `target` (a peer playing a client),
    /// with a fixed key, `Host` set to the server's address and the extra
    /// `headers`. Read the answer with [`Peer::read_handshake_response`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// client.send_upgrade_request("/chat", &[("Origin", "https://app.example")]);
    /// reactor.run_until_idle();
    /// assert_eq!(client.read_handshake_response().unwrap().status, 101);
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.origin(), "https://app.example");
    /// ```
    pub fn send_upgrade_request(&self, target: &str, headers: &[(&str, &str)]) {
        let mut request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n",
            self.addr()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.write(request.as_bytes());
    }

    /// Reads the library server's answer to an upgrade request (a peer
    /// playing a client): its status and headers, once complete. Frames that
    /// follow stay for [`Peer::frames`]. Also kept in
    /// [`Peer::upgrade_response`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// assert_eq!(client.read_handshake_response(), None); // nothing asked yet
    /// client.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    /// reactor.run_until_idle();
    /// assert_eq!(client.read_handshake_response().unwrap().status, 400);
    /// ```
    pub fn read_handshake_response(&self) -> Option<HandshakeResponse> {
        self.fill_rx();
        let mut rx = self.rx.borrow_mut();
        let end = rx.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let status = match resp.parse(&rx[..end]) {
            Ok(httparse::Status::Complete(_)) => resp.code.unwrap_or(0),
            _ => 0,
        };
        let headers = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        rx.drain(..end);
        let response = HandshakeResponse { status, headers };
        *self.response.borrow_mut() = Some(response.clone());
        Some(response)
    }

    /// The last handshake response this peer read (a peer playing a
    /// client), with [`FakeReactor::connect_websocket`] or
    /// [`Peer::read_handshake_response`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "chat/1.0", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect_websocket("127.0.0.1:80".parse().unwrap(), "/");
    /// let response = client.upgrade_response().unwrap();
    /// assert_eq!(response.status, 101);
    /// assert_eq!(response.header("Upgrade"), Some("websocket"));
    /// ```
    pub fn upgrade_response(&self) -> Option<HandshakeResponse> {
        self.response.borrow().clone()
    }

    /// Writes one frame. A client peer masks it with a fixed key.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, WebSocket};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let got = Rc::new(RefCell::new(Vec::new()));
    /// let g = got.clone();
    /// ws.text_message_received().connect(move |_, text| g.borrow_mut().push(text.to_owned()));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_frame(false, OpCode::Text, b"hel"); // a fragmented message
    /// server.send_frame(true, OpCode::Continuation, b"lo");
    /// reactor.run_until_idle();
    /// assert_eq!(*got.borrow(), ["hello"]);
    /// ```
    pub fn send_frame(&self, fin: bool, opcode: OpCode, payload: &[u8]) {
        self.send_raw_frame(fin, 0, opcode, payload);
    }

    /// Writes one frame with the given RSV bits (to test refusal).
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, CloseCode, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_raw_frame(true, 0b100, OpCode::Text, b"compressed?"); // RSV1, not negotiated
    /// assert_eq!(server.expect_close().0, CloseCode::ProtocolError);
    /// ```
    pub fn send_raw_frame(&self, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) {
        let mask = (self.role == Role::Client).then_some([0x12, 0x34, 0x56, 0x78]);
        self.send_raw_frame_masked(fin, rsv, opcode, payload, mask);
    }

    /// Writes one frame masked with `mask` (or not masked), whatever the
    /// peer's role: the way to send a masked frame from a server or an
    /// unmasked one from a client.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, CloseCode, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = reactor.connect_websocket("127.0.0.1:80".parse().unwrap(), "/");
    /// let _socket = server.next_pending_connection().unwrap();
    /// client.send_raw_frame_masked(true, 0, OpCode::Text, b"hi", None); // clients must mask
    /// assert_eq!(client.expect_close().0, CloseCode::ProtocolError);
    /// ```
    pub fn send_raw_frame_masked(
        &self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut h);
        let mut bytes = h[..n].to_vec();
        let at = bytes.len();
        bytes.extend_from_slice(payload);
        if let Some(k) = mask {
            apply_mask(&mut bytes[at..], k, 0);
        }
        self.write(&bytes);
    }

    /// Writes only the header of a frame announcing `len` payload bytes (a
    /// client peer's header carries a mask key), to test limits that apply
    /// before the payload arrives.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, CloseCode, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_max_allowed_incoming_frame_size(1024);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_frame_header(true, OpCode::Binary, 1 << 30);
    /// assert_eq!(server.expect_close().0, CloseCode::TooMuchData);
    /// ```
    pub fn send_frame_header(&self, fin: bool, opcode: OpCode, len: u64) {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: (self.role == Role::Client).then_some([0x12, 0x34, 0x56, 0x78]),
            payload_len: len,
        };
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut h);
        self.write(&h[..n]);
    }

    /// Writes a text message in one frame.
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::WebSocket;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// let log = SignalLog::record(&ws);
    /// server.send_text("hello");
    /// reactor.run_until_idle();
    /// assert_eq!(log.take(), ["text_frame:hello:true", "text:hello"]);
    /// ```
    pub fn send_text(&self, text: &str) {
        self.send_frame(true, OpCode::Text, text.as_bytes());
    }

    /// Writes a binary message in one frame.
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::WebSocket;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// let log = SignalLog::record(&ws);
    /// server.send_binary(&[1, 2]);
    /// reactor.run_until_idle();
    /// assert_eq!(log.take(), ["binary_frame:0102:true", "binary:0102"]);
    /// ```
    pub fn send_binary(&self, data: &[u8]) {
        self.send_frame(true, OpCode::Binary, data);
    }

    /// Writes a ping (the library answers with a pong on its own).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_ping(b"are you there?");
    /// assert_eq!(server.expect_pong(), b"are you there?");
    /// ```
    pub fn send_ping(&self, payload: &[u8]) {
        self.send_frame(true, OpCode::Ping, payload);
    }

    /// Writes a pong, for example to answer a ping read with
    /// [`Peer::expect_ping`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let rtt = Rc::new(Cell::new(None));
    /// let r = rtt.clone();
    /// ws.pong().connect(move |_, elapsed, _| r.set(Some(elapsed)));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.ping(b"t");
    /// let payload = server.expect_ping();
    /// reactor.advance(Duration::from_millis(40));
    /// server.send_pong(&payload);
    /// reactor.run_until_idle();
    /// assert_eq!(rtt.get(), Some(Duration::from_millis(40)));
    /// ```
    pub fn send_pong(&self, payload: &[u8]) {
        self.send_frame(true, OpCode::Pong, payload);
    }

    /// Writes a close frame; `None` sends one without a status code.
    /// [`Peer::close`] is the usual way; this one also sends codes that may
    /// not be sent, to test refusal.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_close(None);
    /// assert_eq!(server.expect_close(), (CloseCode::MissingStatusCode, String::new()));
    /// assert_eq!(ws.close_code(), CloseCode::MissingStatusCode);
    /// ```
    pub fn send_close(&self, status: Option<(u16, &str)>) {
        let mut p = Vec::new();
        if let Some((code, reason)) = status {
            p.extend_from_slice(&code.to_be_bytes());
            p.extend_from_slice(reason.as_bytes());
        }
        self.send_frame(true, OpCode::Close, &p);
    }

    /// Starts the closing handshake: writes a close frame with `code` and
    /// `reason`. The library answers with its own close frame (read it with
    /// [`Peer::expect_close`]); `close_code()` and `close_reason()` give what
    /// the peer sent. Then TCP ends: a library server closes it at once; a
    /// library client waits for the server to close it (drop the peer or
    /// call [`Peer::shutdown`]), or for its close timeout. `disconnected`
    /// follows.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.close(CloseCode::Other(4000), "kicked");
    /// assert_eq!(server.expect_close().0, CloseCode::Other(4000));
    /// assert_eq!(ws.state(), SocketState::Closing); // a client lets the server end TCP
    /// server.shutdown();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// assert_eq!(ws.close_reason(), "kicked");
    /// ```
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.send_close(Some((code.code(), reason)));
    }

    /// Decodes and returns every whole frame the library wrote since the
    /// last call; bytes of an incomplete frame stay for the next call. Does
    /// not run the loop.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.set_outgoing_frame_size(4);
    /// ws.send_text_message("abcdef");
    /// ws.ping(b"");
    /// reactor.run_until_idle();
    /// let frames = server.frames();
    /// let kinds: Vec<_> = frames.iter().map(|f| (f.opcode, f.fin)).collect();
    /// assert_eq!(
    ///     kinds,
    ///     [(OpCode::Text, false), (OpCode::Continuation, true), (OpCode::Ping, true)]
    /// );
    /// assert!(frames.iter().all(|f| f.masked)); // a client masks every frame
    /// ```
    pub fn frames(&self) -> Vec<ReceivedFrame> {
        self.fill_rx();
        let mut rx = self.rx.borrow_mut();
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((frame, len)) = decode_frame(&rx[pos..]) {
            out.push(frame);
            pos += len;
        }
        rx.drain(..pos);
        out
    }

    /// What the library left unread, for panic messages.
    fn nothing_written(&self) -> String {
        let pending = self.rx.borrow().len();
        let mut s = if pending > 0 {
            format!("the library wrote only {pending} bytes of an incomplete frame")
        } else {
            "the library wrote nothing".to_owned()
        };
        if self.is_released_by_library() {
            s.push_str(" and closed the connection");
        } else if self.is_closed_by_library() {
            s.push_str(" and ended its side of the connection");
        }
        s.push_str(
            " (expect_* runs the loop but does not move the clock: \
             use FakeReactor::advance for what timers do)",
        );
        s
    }

    /// The next whole frame, or a panic naming `what` was expected.
    #[track_caller]
    fn next_frame_for(&self, what: &str) -> ReceivedFrame {
        let decoded = decode_frame(&self.rx.borrow());
        match decoded {
            Some((frame, len)) => {
                self.rx.borrow_mut().drain(..len);
                frame
            }
            None => panic!("expected {what}, but {}", self.nothing_written()),
        }
    }

    /// The next message of type `opcode`, its fragments joined.
    #[track_caller]
    fn expect_message(&self, opcode: OpCode, what: &str) -> Vec<u8> {
        self.settle();
        let first = self.next_frame_for(what);
        if first.opcode != opcode {
            panic!("expected {what}, got {}", first.describe());
        }
        let mut payload = first.payload;
        let mut fin = first.fin;
        while !fin {
            let next = self.next_frame_for(&format!("the rest of {what}"));
            if next.opcode != OpCode::Continuation {
                panic!(
                    "expected a continuation frame of {what}, got {}",
                    next.describe()
                );
            }
            payload.extend_from_slice(&next.payload);
            fin = next.fin;
        }
        payload
    }

    /// The next control frame of type `opcode`.
    #[track_caller]
    fn expect_control(&self, opcode: OpCode, what: &str) -> ReceivedFrame {
        self.settle();
        let frame = self.next_frame_for(what);
        if frame.opcode != opcode {
            panic!("expected {what}, got {}", frame.describe());
        }
        frame
    }

    /// Runs the loop until idle and returns the next frame the library
    /// wrote, whatever it is.
    ///
    /// # Panics
    ///
    /// If the library wrote no whole frame.
    ///
    /// ```
    /// use qwebsocket::{protocol::OpCode, testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_binary_message(b"\x00\x01");
    /// let frame = server.expect_frame();
    /// assert_eq!((frame.opcode, frame.fin, frame.masked), (OpCode::Binary, true, true));
    /// assert_eq!(frame.payload, [0, 1]);
    /// ```
    #[track_caller]
    pub fn expect_frame(&self) -> ReceivedFrame {
        self.settle();
        self.next_frame_for("a frame")
    }

    /// Runs the loop until idle and returns the next message the library
    /// sent, which must be a text message (its fragments are joined).
    ///
    /// # Panics
    ///
    /// If the library sent nothing, or something else first (the message
    /// says what).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_text_message("one");
    /// ws.send_text_message("two");
    /// assert_eq!(server.expect_text(), "one");
    /// assert_eq!(server.expect_text(), "two");
    /// ```
    ///
    /// ```should_panic
    /// # use qwebsocket::{testing::FakeReactor, WebSocket};
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # let server = reactor.accept_websocket();
    /// ws.send_binary_message(b"\x01");
    /// server.expect_text(); // panics: "expected a text message, got a Binary frame of 1 bytes [01]"
    /// ```
    #[track_caller]
    pub fn expect_text(&self) -> String {
        let payload = self.expect_message(OpCode::Text, "a text message");
        match String::from_utf8(payload) {
            Ok(text) => text,
            Err(e) => panic!("expected a text message, got one that is not UTF-8: {e}"),
        }
    }

    /// Runs the loop until idle and returns the next message the library
    /// sent, which must be a binary message (its fragments are joined).
    ///
    /// # Panics
    ///
    /// If the library sent nothing, or something else first.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_binary_message(&[0xca, 0xfe]);
    /// assert_eq!(server.expect_binary(), [0xca, 0xfe]);
    /// ```
    #[track_caller]
    pub fn expect_binary(&self) -> Vec<u8> {
        self.expect_message(OpCode::Binary, "a binary message")
    }

    /// Runs the loop until idle and returns the payload of the next frame,
    /// which must be a ping. Answer it with [`Peer::send_pong`], or do not,
    /// to test a pong timeout.
    ///
    /// # Panics
    ///
    /// If the library sent nothing, or something else first.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.ping(b"hb");
    /// assert_eq!(server.expect_ping(), b"hb");
    /// ```
    #[track_caller]
    pub fn expect_ping(&self) -> Vec<u8> {
        self.expect_control(OpCode::Ping, "a ping").payload
    }

    /// Runs the loop until idle and returns the payload of the next frame,
    /// which must be a pong.
    ///
    /// # Panics
    ///
    /// If the library sent nothing, or something else first.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_ping(b"42");
    /// assert_eq!(server.expect_pong(), b"42");
    /// ```
    #[track_caller]
    pub fn expect_pong(&self) -> Vec<u8> {
        self.expect_control(OpCode::Pong, "a pong").payload
    }

    /// Runs the loop until idle and returns the code and reason of the next
    /// frame, which must be a close frame (1005 `MissingStatusCode` if it
    /// has no code).
    ///
    /// # Panics
    ///
    /// If the library sent nothing, something else first, or a malformed
    /// close frame.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.close(CloseCode::Normal, "bye").unwrap();
    /// assert_eq!(server.expect_close(), (CloseCode::Normal, "bye".to_owned()));
    /// server.close(CloseCode::Normal, ""); // completes the closing handshake
    /// ```
    #[track_caller]
    pub fn expect_close(&self) -> (CloseCode, String) {
        let frame = self.expect_control(OpCode::Close, "a close frame");
        match frame.close_status() {
            Some(status) => status,
            None => panic!("expected a close frame, got {}", frame.describe()),
        }
    }

    /// Runs the loop until idle and checks that the library wrote nothing
    /// (not even part of a frame) since the last read.
    ///
    /// # Panics
    ///
    /// If it wrote something; the message describes it.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// reactor.advance(Duration::from_secs(60));
    /// server.expect_no_frame(); // no keepalive pings unless asked for
    /// ```
    #[track_caller]
    pub fn expect_no_frame(&self) {
        self.settle();
        let rx = self.rx.borrow();
        if rx.is_empty() {
            return;
        }
        match decode_frame(&rx) {
            Some((frame, _)) => panic!(
                "expected nothing, but the library sent {}",
                frame.describe()
            ),
            None => panic!(
                "expected nothing, but the library wrote {} bytes: [{}]",
                rx.len(),
                hex(&rx[..rx.len().min(64)])
            ),
        }
    }
}

/// Dropping a peer ends its side of the connection at once, as if the peer's
/// process had gone: the library reads the end of the stream and its writes
/// fail (see [`Peer`], "Ending the connection").
impl Drop for Peer {
    fn drop(&mut self) {
        self.end.pipe.closed[self.end.side].set(true);
        self.end.notify_other();
    }
}

/// Records every signal of a socket (or server) as short strings, in order:
/// the quickest way to assert on signal sequences in a test.
///
/// Entries: `state:Connecting`, `connected`, `disconnected`, `about_to_close`,
/// `read_channel_finished`, `error:RemoteHostClosed`, `text:<text>`,
/// `binary:<hex>`, `text_frame:<text>:<is_last>`, `binary_frame:<hex>:<is_last>`,
/// `pong:<elapsed ms>ms:<payload>`; for a server `new_connection`,
/// `server_error:<code>`, `accept_error:<kind>`, `closed`.
///
/// ```
/// use qwebsocket::testing::{FakeReactor, SignalLog};
/// use qwebsocket::WebSocket;
/// let reactor = FakeReactor::new();
/// let ws = WebSocket::new(reactor.event_loop());
/// let log = SignalLog::record(&ws);
/// ws.open("ws://127.0.0.1:1/").unwrap();
/// reactor.run_until_idle();
/// reactor.next_connection().unwrap().refuse();
/// reactor.run_until_idle();
/// assert_eq!(log.take(), ["state:Connecting", "state:Unconnected", "disconnected", "error:ConnectionRefused"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SignalLog {
    entries: Rc<RefCell<Vec<String>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SignalLog {
    fn push(&self, entry: String) {
        self.entries.borrow_mut().push(entry);
    }

    /// Connects a recording slot to every signal of `ws` except
    /// `bytes_written` (whose counts depend on the kernel's write sizes).
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::{CloseCode, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let log = SignalLog::record(&ws);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// server.send_text("hi");
    /// server.close(CloseCode::Normal, "");
    /// server.expect_close();
    /// drop(server);
    /// reactor.run_until_idle();
    /// assert_eq!(
    ///     log.take(),
    ///     [
    ///         "state:Connecting", "state:Connected", "connected",
    ///         "text_frame:hi:true", "text:hi",
    ///         "about_to_close", "state:Closing", "state:Unconnected", "disconnected",
    ///         "read_channel_finished",
    ///     ]
    /// );
    /// ```
    pub fn record(ws: &crate::WebSocket) -> SignalLog {
        let log = SignalLog::default();
        let l = log.clone();
        ws.state_changed()
            .connect(move |_, s| l.push(format!("state:{s:?}")));
        let l = log.clone();
        ws.connected().connect(move |_| l.push("connected".into()));
        let l = log.clone();
        ws.disconnected()
            .connect(move |_| l.push("disconnected".into()));
        let l = log.clone();
        ws.about_to_close()
            .connect(move |_| l.push("about_to_close".into()));
        let l = log.clone();
        ws.read_channel_finished()
            .connect(move |_| l.push("read_channel_finished".into()));
        let l = log.clone();
        ws.error_occurred()
            .connect(move |_, e| l.push(format!("error:{e:?}")));
        let l = log.clone();
        ws.text_message_received()
            .connect(move |_, t| l.push(format!("text:{t}")));
        let l = log.clone();
        ws.binary_message_received()
            .connect(move |_, b| l.push(format!("binary:{}", hex(b))));
        let l = log.clone();
        ws.text_frame_received()
            .connect(move |_, t, last| l.push(format!("text_frame:{t}:{last}")));
        let l = log.clone();
        ws.binary_frame_received()
            .connect(move |_, b, last| l.push(format!("binary_frame:{}:{last}", hex(b))));
        let l = log.clone();
        ws.proxy_authentication_required()
            .connect(move |_, proxy, auth| {
                l.push(format!(
                    "proxy_authentication_required:{}:{}",
                    proxy.address_text(),
                    auth.realm()
                ))
            });
        let l = log.clone();
        ws.pong().connect(move |_, elapsed, payload| {
            l.push(format!(
                "pong:{}ms:{}",
                elapsed.as_millis(),
                String::from_utf8_lossy(payload)
            ))
        });
        log
    }

    /// Connects a recording slot to every signal of `server`.
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::{SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// let log = SignalLog::record_server(&server);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// reactor.connect_websocket("127.0.0.1:80".parse().unwrap(), "/");
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// client.write(b"GET / HTTP/1.1\r\n\r\n"); // not an upgrade request: 400
    /// reactor.run_until_idle();
    /// server.close();
    /// reactor.run_until_idle();
    /// assert_eq!(log.take(), ["new_connection", "server_error:1002", "closed"]);
    /// ```
    pub fn record_server(server: &crate::WebSocketServer) -> SignalLog {
        let log = SignalLog::default();
        let l = log.clone();
        server
            .new_connection()
            .connect(move |_| l.push("new_connection".into()));
        let l = log.clone();
        server
            .server_error()
            .connect(move |_, code| l.push(format!("server_error:{}", code.code())));
        let l = log.clone();
        server
            .accept_error()
            .connect(move |_, e| l.push(format!("accept_error:{e:?}")));
        let l = log.clone();
        server.closed().connect(move |_| l.push("closed".into()));
        log
    }

    /// Empties the log and returns what it held.
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::WebSocket;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let log = SignalLog::record(&ws);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// assert_eq!(log.take(), ["state:Connecting"]);
    /// assert!(log.take().is_empty());
    /// ```
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.entries.borrow_mut())
    }

    /// A copy of what the log holds (the log keeps it).
    ///
    /// ```
    /// use qwebsocket::testing::{FakeReactor, SignalLog};
    /// use qwebsocket::WebSocket;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let log = SignalLog::record(&ws);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// assert_eq!(log.entries(), ["state:Connecting"]);
    /// assert_eq!(log.entries(), ["state:Connecting"]);
    /// ```
    pub fn entries(&self) -> Vec<String> {
        self.entries.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SocketError, SslMode, WebSocket, WebSocketServer};

    fn connected() -> (FakeReactor, WebSocket, Peer) {
        let reactor = FakeReactor::new();
        let ws = WebSocket::new(reactor.event_loop());
        ws.open("ws://127.0.0.1/").unwrap();
        let server = reactor.accept_websocket();
        (reactor, ws, server)
    }

    fn listening() -> (FakeReactor, WebSocketServer, SocketAddr) {
        let reactor = FakeReactor::new();
        let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
        server.listen(IpAddr::V4(Ipv4Addr::LOCALHOST), 80).unwrap();
        (reactor, server, "127.0.0.1:80".parse().unwrap())
    }

    #[test]
    fn dropping_a_server_peer_is_remote_host_closed_with_1006() {
        let (reactor, ws, server) = connected();
        drop(server);
        reactor.run_until_idle();
        assert_eq!(ws.error(), SocketError::RemoteHostClosed);
        assert_eq!(ws.close_code(), CloseCode::AbnormalDisconnection);
    }

    #[test]
    fn expect_text_joins_the_fragments_of_a_message() {
        let (_reactor, ws, server) = connected();
        ws.set_outgoing_frame_size(3);
        ws.send_text_message("fragmented");
        ws.send_binary_message(b"next");
        assert_eq!(server.expect_text(), "fragmented");
        assert_eq!(server.expect_binary(), b"next");
        server.expect_no_frame();
    }

    #[test]
    fn expect_text_reads_past_a_small_window() {
        let (_reactor, ws, server) = connected();
        server.set_window(10);
        let long = "x".repeat(1000);
        ws.send_text_message(&long);
        assert_eq!(server.expect_text(), long);
    }

    #[test]
    #[should_panic(expected = "expected a text message, got a Binary frame of 1 bytes [ff]")]
    fn expect_text_names_what_came_instead() {
        let (_reactor, ws, server) = connected();
        ws.send_binary_message(&[0xff]);
        server.expect_text();
    }

    #[test]
    #[should_panic(expected = "expected a close frame, got a Ping frame \"p\"")]
    fn expect_close_names_what_came_instead() {
        let (_reactor, ws, server) = connected();
        ws.ping(b"p");
        server.expect_close();
    }

    #[test]
    #[should_panic(expected = "expected a ping, but the library wrote nothing and closed")]
    fn expect_on_a_closed_connection_says_so() {
        let (_reactor, ws, server) = connected();
        ws.abort();
        server.expect_ping();
    }

    #[test]
    #[should_panic(expected = "expected nothing, but the library sent a Text frame \"oops\"")]
    fn expect_no_frame_names_the_frame() {
        let (_reactor, ws, server) = connected();
        ws.send_text_message("oops");
        server.expect_no_frame();
    }

    #[test]
    #[should_panic(expected = "expected a connection attempt, but no socket is connecting")]
    fn accept_websocket_without_a_connection_attempt_panics() {
        FakeReactor::new().accept_websocket();
    }

    #[test]
    #[should_panic(expected = "could not connect to 127.0.0.1:81")]
    fn connect_websocket_to_nothing_panics() {
        let (reactor, _server, _) = listening();
        reactor.connect_websocket("127.0.0.1:81".parse().unwrap(), "/");
    }

    #[test]
    #[should_panic(expected = "refused the upgrade request for \"/\": 403")]
    fn connect_websocket_refused_by_the_server_panics() {
        let (reactor, server, addr) = listening();
        server
            .origin_authentication_required()
            .connect(|_, auth| auth.set_allowed(false));
        reactor.connect_websocket_with(addr, "/", &[("Origin", "https://evil.example")]);
    }

    #[test]
    fn a_client_peer_reports_the_server_address() {
        let (reactor, _server, addr) = listening();
        let client = reactor.connect_websocket(addr, "/");
        assert_eq!(client.addr(), addr);
        assert_eq!(client.upgrade_response().unwrap().status, 101);
    }

    #[test]
    fn a_client_peer_masks_and_the_server_reads_it() {
        let (reactor, server, addr) = listening();
        let client = reactor.connect_websocket(addr, "/");
        let socket = server.next_pending_connection().unwrap();
        let got = Rc::new(RefCell::new(String::new()));
        let g = got.clone();
        socket
            .text_message_received()
            .connect(move |_, t| g.borrow_mut().push_str(t));
        client.send_text("hello");
        reactor.run_until_idle();
        assert_eq!(*got.borrow(), "hello");
        socket.close(CloseCode::Normal, "done").unwrap();
        assert_eq!(
            client.expect_close(),
            (CloseCode::Normal, "done".to_owned())
        );
        let frame = client.frames();
        assert!(frame.is_empty());
    }
}
