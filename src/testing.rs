//! The fake reactor: drive real sockets and servers with no network and no
//! sleeping.
//!
//! A [`FakeReactor`] gives you an [`EventLoop`] whose clock moves only when
//! you say so and whose network is in memory. A [`WebSocket`](crate::WebSocket)
//! or [`WebSocketServer`](crate::WebSocketServer) created on it is the real
//! one, state machine and all; only the bytes and the time are scripted. On
//! the other end of each connection is a [`Peer`] that your test plays: it
//! reads what the library wrote, writes bytes or whole frames, closes or
//! resets the connection.
//!
//! ```
//! use qwebsocket::testing::FakeReactor;
//! use qwebsocket::{SocketState, WebSocket};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! let reactor = FakeReactor::new();
//! let ws = WebSocket::new(reactor.event_loop());
//! let got = Rc::new(RefCell::new(Vec::new()));
//! let g = got.clone();
//! ws.text_message_received().connect(move |_, text| g.borrow_mut().push(text.to_owned()));
//! reactor.add_host("chat.example", "127.0.0.1".parse().unwrap());
//! ws.open("ws://chat.example/room").unwrap();
//! reactor.run_until_idle();
//!
//! let server = reactor.next_connection().expect("the socket connected");
//! server.accept();
//! reactor.run_until_idle();
//! let request = server.accept_handshake().unwrap();
//! assert_eq!(request.target, "/room");
//! reactor.run_until_idle();
//! assert_eq!(ws.state(), SocketState::Connected);
//!
//! server.send_text("hello");
//! reactor.run_until_idle();
//! assert_eq!(*got.borrow(), ["hello"]);
//! ```

use crate::event_loop::{EventLoop, LoopInner};
use crate::protocol::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use crate::protocol::handshake::server::{ServerRequest, accept_response, parse_request};
use crate::protocol::handshake::{HandshakeError, MAX_HEADER_BLOCK};
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

/// A deterministic stand-in for the network and the clock.
///
/// See the [module documentation](self) for a whole test.
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

    /// The loop to create sockets and servers on.
    pub fn event_loop(&self) -> &EventLoop {
        &self.ev
    }

    /// The fake clock's current time.
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
        let mut total = 0;
        for _ in 0..100_000 {
            let ran = self.ev.run_ready_work();
            if ran == 0 {
                return total;
            }
            total += ran;
        }
        panic!("the fake reactor never became idle: something re-posts itself forever");
    }

    /// Moves the clock forward by `by`, firing every timer that falls due on
    /// the way (in order, each at its own deadline) and running until idle.
    ///
    /// ```
    /// use std::time::Duration;
    /// let reactor = qwebsocket::testing::FakeReactor::new();
    /// let start = reactor.now();
    /// reactor.advance(Duration::from_secs(3));
    /// assert_eq!(reactor.now() - start, Duration::from_secs(3));
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

    /// How many connections the library opened that no test took yet.
    pub fn pending_connections(&self) -> usize {
        self.net.pending.borrow().len()
    }

    /// The oldest connection the library opened that no test took yet, still
    /// connecting: call [`Peer::accept`] or [`Peer::refuse`] on it.
    pub fn next_connection(&self) -> Option<Peer> {
        let (pipe, _) = self.net.pending.borrow_mut().pop_front()?;
        Some(Peer {
            end: FakeStream {
                pipe,
                side: 1,
                net: Rc::downgrade(&self.net),
            },
            role: Role::Server,
            rx: RefCell::new(Vec::new()),
        })
    }

    /// Connects to a server listening on the fake network at `addr`, as a
    /// client whose frames are masked. The server sees a connection from an
    /// ephemeral port on 127.0.0.1.
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
        Ok(Peer {
            end: FakeStream {
                pipe,
                side: 0,
                net: Rc::downgrade(&self.net),
            },
            role: Role::Client,
            rx: RefCell::new(Vec::new()),
        })
    }
}

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
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// For a close frame: its code (1005 if empty) and reason.
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
}

/// The test's end of a fake connection.
///
/// A peer taken with [`FakeReactor::next_connection`] plays a server (its
/// frames are not masked); one made with [`FakeReactor::connect`] plays a
/// client (its frames are masked with a fixed key).
pub struct Peer {
    end: FakeStream,
    role: Role,
    rx: RefCell<Vec<u8>>,
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
    /// The address the library connected to (or, for a client peer, the
    /// server's address).
    pub fn addr(&self) -> SocketAddr {
        self.end.pipe.addrs[self.end.side]
    }

    /// Completes the library's TCP connect.
    pub fn accept(&self) {
        if self.end.pipe.state.get() == ConnState::Connecting {
            self.end.pipe.state.set(ConnState::Established);
            self.end.notify_other();
        }
    }

    /// Fails the library's TCP connect with "connection refused".
    pub fn refuse(&self) {
        if self.end.pipe.state.get() == ConnState::Connecting {
            self.end.pipe.state.set(ConnState::Refused);
            self.end.notify_other();
        }
    }

    /// Limits how many bytes may be in flight toward each end (default
    /// unlimited), to test backpressure.
    pub fn set_window(&self, bytes: usize) {
        self.end.pipe.window.set(bytes);
        self.end.notify_other();
    }

    /// Takes every byte the library wrote since the last call (frames not
    /// yet decoded by [`Peer::frames`] included).
    pub fn take_bytes(&self) -> Vec<u8> {
        let mut rx = std::mem::take(&mut *self.rx.borrow_mut());
        let mut q = self.end.pipe.bufs[self.end.side].borrow_mut();
        rx.extend(q.drain(..));
        drop(q);
        self.end.notify_other();
        rx
    }

    fn fill_rx(&self) {
        let mut q = self.end.pipe.bufs[self.end.side].borrow_mut();
        if q.is_empty() {
            return;
        }
        self.rx.borrow_mut().extend(q.drain(..));
        drop(q);
        self.end.notify_other();
    }

    /// Writes raw bytes to the library.
    pub fn write(&self, bytes: &[u8]) {
        self.end.pipe.bufs[self.end.other()]
            .borrow_mut()
            .extend(bytes);
        self.end.notify_other();
    }

    /// Ends the peer's writing side (TCP FIN).
    pub fn shutdown(&self) {
        self.end.pipe.shut[self.end.side].set(true);
        self.end.notify_other();
    }

    /// Resets the connection (TCP RST).
    pub fn reset(&self) {
        self.end.pipe.reset[self.end.side].set(true);
        self.end.notify_other();
    }

    /// True once the library ended its writing side or closed the socket.
    pub fn is_closed_by_library(&self) -> bool {
        let o = self.end.other();
        self.end.pipe.shut[o].get() || self.end.pipe.closed[o].get()
    }

    /// True once the library dropped the socket altogether.
    pub fn is_released_by_library(&self) -> bool {
        self.end.pipe.closed[self.end.other()].get()
    }

    /// Reads the upgrade request the library sent (a peer playing a server).
    /// `Ok(None)` if it is not complete yet.
    pub fn read_handshake_request(&self) -> Result<Option<ServerRequest>, HandshakeError> {
        self.fill_rx();
        let mut rx = self.rx.borrow_mut();
        match parse_request(&rx, MAX_HEADER_BLOCK) {
            Ok(Some(req)) => {
                rx.drain(..req.head_len);
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
    pub fn accept_handshake(&self) -> Result<ServerRequest, HandshakeError> {
        self.accept_handshake_with(None)
    }

    /// Like [`Peer::accept_handshake`], choosing `subprotocol` (which must be
    /// one the client requested) in the response.
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

    /// Writes one frame. A client peer masks it with a fixed key.
    pub fn send_frame(&self, fin: bool, opcode: OpCode, payload: &[u8]) {
        self.send_raw_frame(fin, 0, opcode, payload);
    }

    /// Writes one frame with the given RSV bits (to test refusal).
    pub fn send_raw_frame(&self, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) {
        let mask = (self.role == Role::Client).then_some([0x12, 0x34, 0x56, 0x78]);
        self.send_raw_frame_masked(fin, rsv, opcode, payload, mask);
    }

    /// Writes one frame masked with `mask` (or not masked), whatever the
    /// peer's role: the way to send a masked frame from a server or an
    /// unmasked one from a client.
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

    /// Reads the library server's answer to an upgrade request (a peer
    /// playing a client): its status and headers, once complete. Frames that
    /// follow stay for [`Peer::frames`].
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
        Some(HandshakeResponse { status, headers })
    }

    /// Writes a text message in one frame.
    pub fn send_text(&self, text: &str) {
        self.send_frame(true, OpCode::Text, text.as_bytes());
    }

    /// Writes a binary message in one frame.
    pub fn send_binary(&self, data: &[u8]) {
        self.send_frame(true, OpCode::Binary, data);
    }

    /// Writes a ping.
    pub fn send_ping(&self, payload: &[u8]) {
        self.send_frame(true, OpCode::Ping, payload);
    }

    /// Writes a pong.
    pub fn send_pong(&self, payload: &[u8]) {
        self.send_frame(true, OpCode::Pong, payload);
    }

    /// Writes a close frame; `None` sends one without a status code.
    pub fn send_close(&self, status: Option<(u16, &str)>) {
        let mut p = Vec::new();
        if let Some((code, reason)) = status {
            p.extend_from_slice(&code.to_be_bytes());
            p.extend_from_slice(reason.as_bytes());
        }
        self.send_frame(true, OpCode::Close, &p);
    }

    /// Decodes and returns every whole frame the library wrote since the
    /// last call; bytes of an incomplete frame stay for the next call.
    pub fn frames(&self) -> Vec<ReceivedFrame> {
        self.fill_rx();
        let mut rx = self.rx.borrow_mut();
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(Some((h, hl))) = FrameHeader::parse(&rx[pos..], 0b111) {
            let Ok(len) = usize::try_from(h.payload_len) else {
                break;
            };
            if rx.len() - pos < hl + len {
                break;
            }
            let mut payload = rx[pos + hl..pos + hl + len].to_vec();
            if let Some(k) = h.mask {
                apply_mask(&mut payload, k, 0);
            }
            out.push(ReceivedFrame {
                fin: h.fin,
                rsv: h.rsv,
                opcode: h.opcode,
                masked: h.mask.is_some(),
                payload,
            });
            pos += hl + len;
        }
        rx.drain(..pos);
        out
    }
}

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
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.entries.borrow_mut())
    }

    /// A copy of what the log holds.
    pub fn entries(&self) -> Vec<String> {
        self.entries.borrow().clone()
    }
}
