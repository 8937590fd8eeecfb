//! The per-connection state machine shared by client and server sockets.
//!
//! [`Shared`] is what a [`WebSocket`](crate::WebSocket) handle points to. It
//! owns the transport, the read buffer and the protocol [`Session`], and turns
//! readiness, timers and API calls into protocol calls and signals. Rules:
//!
//! * no `RefCell` borrow is held while a signal is emitted, so every slot may
//!   call back into any socket;
//! * every signal is emitted from a fresh strong handle, so a slot may drop
//!   the last user handle safely;
//! * an open connection is owned by its event loop (the loop's live set) until
//!   it is unconnected again; then only user handles keep it.

use crate::SocketError;
use crate::event_loop::{self, EventLoop, IoHandler, LoopInner, TimerId};
use crate::protocol::handshake::client::{ClientRequest, generate_key, parse_response};
pub(crate) use crate::protocol::handshake::server::parse_request as parse_server_head;
use crate::protocol::handshake::server::{
    ServerRequest, accept_response_with_extensions, error_response, parse_request,
};
use crate::protocol::session::{CloseState, Data, MessageKind, SendError};
use crate::protocol::{CloseCode, Role, Session, SessionConfig, SessionEvent};
use crate::server::ServerShared;
use crate::transport::{self, Stream, Transport};
use crate::websocket::{SocketState, WebSocket};
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use crate::ssl::{SslConfiguration, SslError};
use crate::websocket::PauseMode;
use std::time::{Duration, Instant};

mod signals;
pub(crate) use signals::Signals;

/// Bytes read per readiness event before yielding to other connections.
const READ_BUDGET: usize = 1 << 20;
/// Smallest read.
const READ_CHUNK: usize = 16 * 1024;
/// An unprocessed tail at most this long is moved out of the loop's read
/// buffer into one of the connection's own, so that the read buffer can go
/// back to the loop.
const KEEP_TAIL: usize = 4 * 1024;
/// Messages at least this large are written to the socket when sent, from
/// the caller's buffer (no copy), rather than corked until the loop's turn
/// ends; smaller ones are batched.
const DIRECT_WRITE: usize = 64 * 1024;
/// How long a proxy may take, from the start of `open` to an open tunnel.
pub(crate) const DEFAULT_PROXY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Resolving,
    Connecting,
    /// Client: connected to a proxy, opening the tunnel to the server.
    ProxyTunnel,
    /// Client: the TLS handshake runs.
    TlsHandshake,
    /// Client: TLS errors were found and not ignored, in pause mode: waiting
    /// for `resume()`.
    SslPaused,
    ClientHandshake,
    ServerHandshake,
    /// Waiting for the application to take the socket from the server queue.
    Pending,
    Open,
    /// The closing handshake is over (or failed): write what is queued, end
    /// our side if we should, and wait for the peer's end of stream.
    Draining,
}

pub(crate) struct Inner {
    pub(crate) role: Role,
    phase: Phase,
    pub(crate) state: SocketState,
    generation: u64,
    transport: Option<Transport>,
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// Handshake bytes (request or response) to write before any frame.
    pre: Vec<u8>,
    pub(crate) session: Option<Session>,
    pub(crate) request: Option<Box<ClientRequest>>,
    /// Server side: the client's request head as received (one allocation;
    /// parsed again when `request()` asks for its headers).
    pub(crate) server_head: Option<Box<[u8]>>,
    /// Server side: the connection came over TLS (for `request_url()`).
    server_secure: bool,
    /// Server side: the local address the request came to (for a request
    /// without `Host`, in `request_url()`).
    server_local: Option<SocketAddr>,
    /// Boxed: a server-side socket never has one.
    pub(crate) url: Option<Box<url::Url>>,
    pub(crate) origin: String,
    pub(crate) extra_headers: Vec<(String, String)>,
    pub(crate) requested_subprotocols: Vec<String>,
    /// Client: the permessage-deflate options to offer (boxed: most sockets
    /// never compress).
    pub(crate) compression: Option<Box<crate::protocol::CompressionOptions>>,
    pub(crate) subprotocol: Option<String>,
    /// The limits and timeouts while no session holds them (a session
    /// holds its own); `None` means the defaults. See [`Inner::config`].
    config: Option<Box<SessionConfig>>,
    pub(crate) outgoing_frame_size: usize,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) error: SocketError,
    pub(crate) error_string: String,
    pub(crate) close_code: CloseCode,
    pub(crate) close_reason: String,
    last_ping: Instant,
    deadline: Option<Instant>,
    timer: Option<(TimerId, Instant)>,
    flush_posted: bool,
    shut_down: bool,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) peer_name: String,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    server: Weak<ServerShared>,
    live_key: Option<u64>,
    about_to_close_sent: bool,
    /// The TLS configuration (`set_ssl_configuration`, and the session's
    /// details after a handshake); `None` is the default, for the many
    /// sockets that never use TLS.
    pub(crate) ssl_config: Option<Box<SslConfiguration>>,
    /// The TLS client configuration and name for this attempt (wss only).
    /// Boxed: most sockets are not TLS clients.
    #[allow(clippy::type_complexity)]
    tls_client: Option<
        Box<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
    >,
    /// Certificate problems recorded by the verifier during this handshake.
    ssl_found: Option<Arc<Mutex<Vec<SslError>>>>,
    /// The problems reported by the last `ssl_errors`.
    pub(crate) ssl_reported: Vec<SslError>,
    pub(crate) ignore_all_ssl: bool,
    pub(crate) ignore_ssl_list: Vec<SslError>,
    pub(crate) pause_mode: PauseMode,
    pub(crate) continue_interrupted: bool,
    /// A 401 was answered with credentials already (one retry only).
    pub(crate) auth_tried: bool,
    /// The read buffer is the loop's, kept across turns for a partial frame
    /// (counted by the loop, which bounds how many connections may).
    rbuf_held: bool,
    /// Bytes written straight from `send` since the last `bytes_written`.
    written_direct: u64,
    /// Reading stopped by the application (TCP pushes back on the peer).
    pub(crate) reading_paused: bool,
    /// Bytes read per readiness event at most (0: the default budget).
    pub(crate) read_buffer_size: usize,
    /// Sends are refused while this many bytes wait to be written.
    pub(crate) send_queue_limit: Option<usize>,
    pub(crate) mask_generator: Option<Rc<RefCell<Box<dyn crate::websocket::MaskGenerator>>>>,
    /// Proxy settings and state: boxed and made on first use, since most
    /// sockets never use a proxy.
    pub(crate) proxying: Option<Box<Proxying>>,
}

/// A socket's proxy settings, and the tunnel of the current `open`.
pub(crate) struct Proxying {
    /// The proxy setting (`set_proxy`).
    pub(crate) setting: crate::proxy::Proxy,
    /// How long the proxy may take to open the tunnel (`set_proxy_timeout`).
    pub(crate) timeout: Option<Duration>,
    /// The proxy this `open` goes through (credentials included), if any.
    pub(crate) via: Option<crate::proxy::Proxy>,
    /// The tunnel being opened through `via`.
    tunnel: Option<crate::proxy::tunnel::Tunnel>,
    /// When the tunnel must be open.
    deadline: Option<Instant>,
    /// The proxy asked for credentials once already during this `open`.
    pub(crate) auth_tried: bool,
}

impl Default for Proxying {
    fn default() -> Proxying {
        Proxying {
            setting: crate::proxy::Proxy::default(),
            timeout: Some(DEFAULT_PROXY_TIMEOUT),
            via: None,
            tunnel: None,
            deadline: None,
            auth_tried: false,
        }
    }
}

impl Inner {
    /// The limits and timeouts: the session's while there is one.
    pub(crate) fn config(&self) -> &SessionConfig {
        match (&self.session, &self.config) {
            (Some(s), _) => s.config(),
            (None, Some(c)) => c,
            (None, None) => &SessionConfig::DEFAULT,
        }
    }

    /// Changes the limits and timeouts, in the session too.
    pub(crate) fn update_config(&mut self, f: impl FnOnce(&mut SessionConfig)) {
        match &mut self.session {
            Some(s) => {
                let mut c = s.config().clone();
                f(&mut c);
                s.set_config(c);
            }
            None => f(self.config.get_or_insert_with(Box::default)),
        }
    }

    /// A new session with the configured limits and timeouts (which it
    /// holds from then on).
    fn new_session(&mut self, role: Role, now: Instant) -> Session {
        let config = self.config.take().map_or(SessionConfig::DEFAULT, |c| *c);
        Session::new(role, config, now)
    }

    /// Drops the session, keeping its limits and timeouts for the next one.
    fn drop_session(&mut self) {
        if let Some(s) = self.session.take() {
            let c = s.config();
            self.config = (*c != SessionConfig::DEFAULT).then(|| Box::new(c.clone()));
        }
    }

    /// The proxy settings, made on first use.
    pub(crate) fn proxying(&mut self) -> &mut Proxying {
        self.proxying.get_or_insert_with(Box::default)
    }

    /// The proxy the current `open` goes through.
    pub(crate) fn via(&self) -> Option<&crate::proxy::Proxy> {
        self.proxying.as_ref().and_then(|p| p.via.as_ref())
    }

    /// The TLS configuration (the default one when none was set).
    pub(crate) fn ssl_config(&self) -> std::borrow::Cow<'_, SslConfiguration> {
        match &self.ssl_config {
            Some(c) => std::borrow::Cow::Borrowed(c),
            None => std::borrow::Cow::Owned(SslConfiguration::default()),
        }
    }

    /// The URL of the last `open` (client), or rebuilt from the request the
    /// client sent (server side).
    pub(crate) fn request_url(&self) -> Option<url::Url> {
        if let Some(url) = &self.url {
            return Some(url.as_ref().clone());
        }
        let head = self.server_head.as_deref()?;
        let req = parse_request(head, head.len() + 1).ok()??;
        server_side_url(&req, self.server_local, self.server_secure)
    }

    fn proxy_deadline(&self) -> Option<Instant> {
        self.proxying.as_ref().and_then(|p| p.deadline)
    }
}

/// The state behind a [`WebSocket`] handle.
pub(crate) struct Shared {
    pub(crate) ev: Weak<LoopInner>,
    pub(crate) st: RefCell<Inner>,
    pub(crate) sig: Signals,
    self_weak: RefCell<Weak<Shared>>,
    reading: Cell<bool>,
}

/// A signal to emit once no borrow is held.
enum Emit {
    State(SocketState),
    Connected,
    Disconnected,
    AboutToClose,
    ReadChannelFinished,
    Error(SocketError),
    BytesWritten(u64),
    /// `peer_verify_error` for each, then `ssl_errors`.
    SslErrors(Vec<SslError>),
    /// TLS alerts: (sent, alert) for `alert_sent` / `alert_received`.
    Alerts(Vec<(bool, crate::ssl::SslAlert)>),
}

impl Shared {
    pub(crate) fn new(ev: &EventLoop, role: Role) -> Rc<Shared> {
        let now = ev.now();
        let shared = Rc::new(Shared {
            ev: Rc::downgrade(&ev.inner),
            st: RefCell::new(Inner {
                role,
                phase: Phase::Idle,
                state: SocketState::Unconnected,
                generation: 0,
                transport: None,
                rbuf: Vec::new(),
                rbuf_held: false,
                written_direct: 0,
                rpos: 0,
                rend: 0,
                pre: Vec::new(),
                session: None,
                request: None,
                server_head: None,
                server_secure: false,
                server_local: None,
                url: None,
                origin: String::new(),
                extra_headers: Vec::new(),
                requested_subprotocols: Vec::new(),
                compression: None,
                subprotocol: None,
                config: None,
                outgoing_frame_size: crate::websocket::DEFAULT_OUTGOING_FRAME_SIZE,
                handshake_timeout: Some(Duration::from_secs(10)),
                error: SocketError::Unknown,
                error_string: String::new(),
                close_code: CloseCode::Normal,
                close_reason: String::new(),
                last_ping: now,
                deadline: None,
                timer: None,
                flush_posted: false,
                shut_down: false,
                peer: None,
                local: None,
                peer_name: String::new(),
                addrs: Vec::new(),
                next_addr: 0,
                server: Weak::new(),
                live_key: None,
                about_to_close_sent: false,
                ssl_config: None,
                tls_client: None,
                ssl_found: None,
                ssl_reported: Vec::new(),
                ignore_all_ssl: false,
                ignore_ssl_list: Vec::new(),
                pause_mode: PauseMode::PauseNever,
                continue_interrupted: false,
                auth_tried: false,
                reading_paused: false,
                read_buffer_size: 0,
                send_queue_limit: Some(crate::websocket::DEFAULT_SEND_QUEUE_LIMIT),
                mask_generator: None,
                proxying: None,
            }),
            sig: Signals::default(),
            self_weak: RefCell::new(Weak::new()),
            reading: Cell::new(false),
        });
        *shared.self_weak.borrow_mut() = Rc::downgrade(&shared);
        shared
    }

    pub(crate) fn event_loop(&self) -> Option<EventLoop> {
        self.ev.upgrade().map(|inner| EventLoop { inner })
    }

    fn handle(self: &Rc<Self>) -> WebSocket {
        WebSocket::from_shared(self.clone())
    }

    fn weak(&self) -> Weak<Shared> {
        self.self_weak.borrow().clone()
    }

    fn emit_all(self: &Rc<Self>, emits: Vec<Emit>) {
        if emits.is_empty() {
            return;
        }
        let ws = self.handle();
        let generation = self.st.borrow().generation;
        for e in emits {
            // A slot reset or reopened the connection: the rest of this batch
            // describes a connection that is gone.
            if self.st.borrow().generation != generation {
                break;
            }
            match e {
                Emit::State(s) => self.sig.state_changed.emit(&ws, s),
                Emit::Connected => self.sig.connected.emit(&ws),
                Emit::Disconnected => self.sig.disconnected.emit(&ws),
                Emit::AboutToClose => self.sig.about_to_close.emit(&ws),
                Emit::ReadChannelFinished => self.sig.read_channel_finished.emit(&ws),
                Emit::Error(e) => self.sig.error_occurred.emit(&ws, e),
                Emit::BytesWritten(n) => self.sig.bytes_written.emit(&ws, n),
                Emit::SslErrors(errors) => {
                    for e in &errors {
                        if self.st.borrow().generation != generation {
                            return;
                        }
                        self.sig.peer_verify_error.emit(&ws, e);
                    }
                    if self.st.borrow().generation != generation {
                        return;
                    }
                    self.sig.ssl_errors.emit(&ws, &errors);
                }
                Emit::Alerts(alerts) => {
                    for (sent, alert) in &alerts {
                        if *sent {
                            self.sig.alert_sent.emit(&ws, alert);
                        } else {
                            self.sig.alert_received.emit(&ws, alert);
                        }
                    }
                }
            }
        }
    }

    // ----- liveness ---------------------------------------------------------

    fn keep_alive(self: &Rc<Self>, st: &mut Inner) {
        if st.live_key.is_none() {
            if let Some(ev) = self.event_loop() {
                st.live_key = Some(ev.keep_alive(self.clone()));
            }
        }
    }

    fn release_alive(&self, st: &mut Inner) {
        if let Some(key) = st.live_key.take() {
            if let Some(ev) = self.event_loop() {
                // Dropped on the next loop turn, never while a method of ours runs.
                ev.release_alive(key);
            }
        }
    }

    // ----- opening (client) ---------------------------------------------------

    /// Starts connecting to `url` with the request already validated.
    pub(crate) fn start_client(
        self: &Rc<Self>,
        url: url::Url,
        request: ClientRequest,
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
            Arc<Mutex<Vec<SslError>>>,
        )>,
    ) {
        let Some(ev) = self.event_loop() else { return };
        let host = url.host_str().unwrap_or_default().to_owned();
        let via = self.st.borrow().via().cloned();
        // Through a proxy, the name looked up is the proxy's.
        let (lookup_host, lookup_port) = match &via {
            Some(p) => (p.host_name().to_owned(), p.port()),
            None => (host.clone(), url.port_or_known_default().unwrap_or(80)),
        };
        let emits = {
            let mut st = self.st.borrow_mut();
            self.reset_connection(&mut st);
            st.role = Role::Client;
            st.url = Some(Box::new(url));
            st.request = Some(Box::new(request));
            st.peer_name = host.clone();
            match tls {
                Some((config, name, found)) => {
                    st.tls_client = Some(Box::new((config, name)));
                    st.ssl_found = Some(found);
                }
                None => st.tls_client = None,
            }
            st.ssl_reported.clear();
            st.phase = Phase::Resolving;
            st.deadline = st.handshake_timeout.map(|t| ev.now() + t);
            if via.is_some() {
                let now = ev.now();
                let p = st.proxying();
                p.deadline = p.timeout.map(|t| now + t);
            }
            self.keep_alive(&mut st);
            let mut emits = Vec::new();
            if st.state != SocketState::Connecting {
                st.state = SocketState::Connecting;
                emits.push(Emit::State(SocketState::Connecting));
            }
            emits
        };
        self.reschedule();
        let generation = self.st.borrow().generation;
        let weak = self.weak();
        event_loop::lookup(
            &ev,
            &lookup_host,
            lookup_port,
            Box::new(move |ev, result| {
                if let Some(s) = weak.upgrade() {
                    s.on_resolved(ev, generation, result);
                }
            }),
        );
        self.emit_all(emits);
    }

    fn reset_connection(&self, st: &mut Inner) {
        // Buffers lent to a slot that is running now are not given back.
        st.generation += 1;
        st.transport = None;
        self.return_read_buffer(st);
        st.drop_session();
        st.pre = Vec::new();
        st.shut_down = false;
        st.subprotocol = None;
        st.about_to_close_sent = false;
        st.deadline = None;
        st.addrs.clear();
        st.next_addr = 0;
        st.peer = None;
        st.local = None;
        if let Some(p) = st.proxying.as_mut() {
            p.tunnel = None;
            p.deadline = None;
        }
    }

    /// `HTTP proxy host:port` while a proxy is in use, for messages.
    fn proxy_label(st: &Inner) -> Option<String> {
        st.via().map(|p| {
            let kind = match p.kind() {
                crate::proxy::ProxyType::Socks5Proxy => "SOCKS5",
                _ => "HTTP",
            };
            format!("{kind} proxy {}", p.address_text())
        })
    }

    fn on_resolved(
        self: &Rc<Self>,
        ev: &EventLoop,
        generation: u64,
        result: event_loop::LookupResult,
    ) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation || st.phase != Phase::Resolving {
                return;
            }
            match result {
                Ok(addrs) if !addrs.is_empty() => {
                    st.addrs = addrs;
                    st.next_addr = 0;
                }
                _ => {
                    let (kind, text) = match Self::proxy_label(&st) {
                        Some(who) => (SocketError::ProxyNotFound, format!("{who}: host not found")),
                        None => (SocketError::HostNotFound, "Host not found".into()),
                    };
                    drop(st);
                    self.fail_connect(kind, text);
                    return;
                }
            }
        }
        self.connect_next(ev);
    }

    fn connect_next(self: &Rc<Self>, ev: &EventLoop) {
        loop {
            let addr = {
                let mut st = self.st.borrow_mut();
                match st.addrs.get(st.next_addr).copied() {
                    Some(a) => {
                        st.next_addr += 1;
                        a
                    }
                    None => break,
                }
            };
            let handler: Weak<dyn IoHandler> = self.weak();
            match Transport::connect(ev, addr, handler) {
                Ok(t) => {
                    let mut st = self.st.borrow_mut();
                    st.transport = Some(t);
                    st.phase = Phase::Connecting;
                    return;
                }
                Err(e) => log::debug!("connect to {addr} failed at once: {e}"),
            }
        }
        let (kind, text) = self.refused();
        self.fail_connect(kind, text);
    }

    /// The error for a refused TCP connection: the server's or the proxy's.
    fn refused(&self) -> (SocketError, String) {
        match Self::proxy_label(&self.st.borrow()) {
            Some(who) => (
                SocketError::ProxyConnectionRefused,
                format!("{who}: connection refused"),
            ),
            None => (SocketError::ConnectionRefused, "Connection refused".into()),
        }
    }

    /// A connect or lookup failed before the WebSocket was open: Qt's order is
    /// stateChanged(Unconnected), disconnected, errorOccurred.
    fn fail_connect(self: &Rc<Self>, error: SocketError, message: String) {
        let emits = {
            let mut st = self.st.borrow_mut();
            self.reset_connection(&mut st);
            st.phase = Phase::Idle;
            st.error = error;
            st.error_string = message;
            let mut emits = Vec::new();
            if st.state != SocketState::Unconnected {
                st.state = SocketState::Unconnected;
                emits.push(Emit::State(SocketState::Unconnected));
                emits.push(Emit::Disconnected);
            }
            emits.push(Emit::Error(error));
            self.release_alive(&mut st);
            emits
        };
        self.reschedule();
        self.emit_all(emits);
    }

    /// The TCP connection is up: queue the upgrade request.
    fn on_tcp_connected(self: &Rc<Self>) -> Result<(), (SocketError, String)> {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let Some(t) = st.transport.as_mut() else {
            return Ok(());
        };
        transport::set_nodelay(t.stream_ref());
        st.peer = t.stream_ref().peer_addr().ok();
        st.local = t.stream_ref().local_addr().ok();
        let via = st.proxying.as_ref().and_then(|p| p.via.as_ref());
        if let (Some(proxy), Some(url)) = (via, &st.url) {
            let host = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or(80);
            let tunnel = crate::proxy::tunnel::Tunnel::new(proxy, host, port, &mut st.pre)?;
            st.proxying().tunnel = Some(tunnel);
            st.phase = Phase::ProxyTunnel;
            return Ok(());
        }
        Self::begin_upgrade(st)
    }

    /// TCP (or the proxy tunnel) is up: start TLS or queue the upgrade request.
    fn begin_upgrade(st: &mut Inner) -> Result<(), (SocketError, String)> {
        let Some(t) = st.transport.as_mut() else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        if let Some(req) = &st.request {
            req.encode(&mut bytes)
                .map_err(|e| (SocketError::ConnectionRefused, e.message.clone()))?;
        }
        if let Some((config, name)) = st.tls_client.as_deref().cloned() {
            let conn = rustls::ClientConnection::new(config, name)
                .map_err(|e| (SocketError::SslInternal, format!("Cannot start TLS: {e}")))?;
            t.start_tls(rustls::Connection::Client(conn));
            st.pre = bytes;
            st.phase = Phase::TlsHandshake;
            return Ok(());
        }
        st.pre = bytes;
        st.phase = Phase::ClientHandshake;
        Ok(())
    }

    /// Ends the TLS session (`close_notify`) before the transport goes, and
    /// returns the alerts not reported yet. Qt reports that `close_notify`
    /// with `alert_sent` after `read_channel_finished`.
    fn closing_alerts(st: &mut Inner) -> Vec<(bool, crate::ssl::SslAlert)> {
        match st.transport.as_mut().and_then(|t| t.tls()) {
            Some(tls) => {
                tls.close_notify_once();
                std::mem::take(&mut tls.alerts)
            }
            None => Vec::new(),
        }
    }

    /// Emits the TLS alerts sent and received since the last call.
    fn emit_alerts(self: &Rc<Self>) {
        let alerts = {
            let mut st = self.st.borrow_mut();
            match st.transport.as_mut().and_then(|t| t.tls()) {
                Some(tls) if !tls.alerts.is_empty() => std::mem::take(&mut tls.alerts),
                _ => return,
            }
        };
        let ws = self.handle();
        for (sent, alert) in alerts {
            if sent {
                self.sig.alert_sent.emit(&ws, &alert);
            } else {
                self.sig.alert_received.emit(&ws, &alert);
            }
        }
    }

    /// Client: moves the TLS handshake on; once it is done, reports what was
    /// wrong with the server's certificate and decides whether to go on.
    fn drive_tls_client(self: &Rc<Self>) {
        let result = {
            let mut st = self.st.borrow_mut();
            match st.transport.as_mut().and_then(|t| t.tls()) {
                Some(tls) => tls.drive_handshake(),
                None => return,
            }
        };
        match result {
            Ok(false) => {}
            Err(e) => {
                self.emit_alerts();
                let msg = format!("TLS handshake failed: {e}");
                self.abort_with(Some((SocketError::SslHandshakeFailed, msg)), true);
            }
            Ok(true) => {
                let errors = {
                    let mut st = self.st.borrow_mut();
                    let st = &mut *st;
                    if let Some(tls) = st.transport.as_mut().and_then(|t| t.tls()) {
                        st.ssl_config
                            .get_or_insert_with(Box::default)
                            .record_session(&tls.conn);
                    }
                    let found = st
                        .ssl_found
                        .as_ref()
                        .and_then(|f| f.lock().ok().map(|mut f| std::mem::take(&mut *f)))
                        .unwrap_or_default();
                    st.ssl_reported = found.clone();
                    st.phase = Phase::SslPaused;
                    found
                };
                let interrupt = self
                    .st
                    .borrow()
                    .ssl_config()
                    .handshake_must_interrupt_on_error();
                if interrupt && !errors.is_empty() {
                    // Qt's interrupted handshake: each error stops it until the
                    // slot calls continue_interrupted_handshake().
                    let ws = self.handle();
                    for e in &errors {
                        self.st.borrow_mut().continue_interrupted = false;
                        let generation = self.st.borrow().generation;
                        self.sig.handshake_interrupted_on_error.emit(&ws, e);
                        if self.st.borrow().generation != generation {
                            return;
                        }
                        if !self.st.borrow().continue_interrupted {
                            let text = e.error_string();
                            self.abort_with(Some((SocketError::SslHandshakeFailed, text)), true);
                            return;
                        }
                    }
                }
                if !errors.is_empty() {
                    let generation = self.st.borrow().generation;
                    self.emit_all(vec![Emit::SslErrors(errors)]);
                    if self.st.borrow().generation != generation {
                        return; // a slot aborted or reopened
                    }
                }
                self.decide_on_ssl_errors(false);
            }
        }
    }

    /// Goes on if every reported error is ignored; otherwise pauses (pause
    /// mode, unless `resuming`) or fails. No WebSocket byte was sent yet.
    pub(crate) fn decide_on_ssl_errors(self: &Rc<Self>, resuming: bool) {
        let verdict = {
            let mut st = self.st.borrow_mut();
            if st.phase != Phase::SslPaused {
                return;
            }
            let ignored = st.ignore_all_ssl
                || st
                    .ssl_reported
                    .iter()
                    .all(|found| st.ignore_ssl_list.iter().any(|i| i.covers(found)));
            let strict = matches!(
                st.ssl_config().peer_verify_mode(),
                crate::ssl::PeerVerifyMode::VerifyPeer | crate::ssl::PeerVerifyMode::AutoVerifyPeer
            );
            if ignored || !strict || st.ssl_reported.is_empty() {
                st.ignore_all_ssl = false;
                st.phase = Phase::ClientHandshake;
                Ok(())
            } else if st.pause_mode == PauseMode::PauseOnSslErrors && !resuming {
                Err(None)
            } else {
                let text = st
                    .ssl_reported
                    .first()
                    .map(|e| e.error_string())
                    .unwrap_or_default();
                Err(Some(text))
            }
        };
        match verdict {
            Ok(()) => {
                self.flush_now();
                self.process_input();
            }
            Err(None) => {} // paused: resume() decides
            Err(Some(text)) => self.abort_with(Some((SocketError::SslHandshakeFailed, text)), true),
        }
    }

    /// `resume()`: after a pause on TLS errors, go on if they are now ignored.
    pub(crate) fn resume(self: &Rc<Self>) {
        self.decide_on_ssl_errors(true);
    }

    // ----- server side ---------------------------------------------------------

    /// Adopts an accepted stream as a server-side socket in handshake.
    pub(crate) fn start_server(
        self: &Rc<Self>,
        ev: &EventLoop,
        stream: Stream,
        server: Weak<ServerShared>,
        handshake_timeout: Option<Duration>,
        config: SessionConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<()> {
        let handler: Weak<dyn IoHandler> = self.weak();
        transport::set_nodelay(&stream);
        let peer = stream.peer_addr().ok();
        let local = stream.local_addr().ok();
        let mut t = Transport::adopt(ev, stream, handler)?;
        if let Some(config) = tls {
            let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            t.start_tls(rustls::Connection::Server(conn));
        }
        let mut st = self.st.borrow_mut();
        st.role = Role::Server;
        st.transport = Some(t);
        st.peer = peer;
        st.local = local;
        st.server = server;
        st.drop_session();
        st.config = (config != SessionConfig::DEFAULT).then(|| Box::new(config));
        st.phase = Phase::ServerHandshake;
        st.state = SocketState::Connecting;
        st.deadline = handshake_timeout.map(|t| ev.now() + t);
        self.keep_alive(&mut st);
        drop(st);
        self.reschedule();
        Ok(())
    }

    /// The application took the socket from the server's queue: start
    /// delivering what arrived with (or after) the upgrade request.
    pub(crate) fn taken_from_queue(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            if st.phase != Phase::Pending {
                return;
            }
            st.phase = Phase::Open;
        }
        let weak = self.weak();
        if let Some(ev) = self.event_loop() {
            ev.post(move |ev| {
                if let Some(s) = weak.upgrade() {
                    s.clone().ready(ev, true, true);
                }
            });
        }
    }

    // ----- I/O -------------------------------------------------------------------

    /// Reads what is available into the read buffer, borrowing one from the
    /// loop when the connection holds none. Stops at `WouldBlock`, at the end
    /// of the stream, after `budget` bytes, or when the buffer is full of
    /// complete frames (the caller processes them and reads again). Returns
    /// (bytes read, end of stream, error, stopped with more to read).
    fn fill(
        st: &mut Inner,
        pool: &LoopInner,
        budget: usize,
    ) -> (usize, bool, Option<io::Error>, bool) {
        if st.transport.is_none() {
            return (0, false, None, false);
        }
        if st.rbuf.len() < event_loop::READ_BUFFER {
            // No buffer, or a small tail kept while idle: read into a lent one.
            let mut buf = pool.take_read_buffer();
            let tail = st.rend - st.rpos;
            buf[..tail].copy_from_slice(&st.rbuf[st.rpos..st.rend]);
            st.rbuf = buf;
            st.rpos = 0;
            st.rend = tail;
        }
        let max_head = st.config().max_handshake_size;
        let mut total = 0;
        loop {
            let Some(t) = st.transport.as_mut() else {
                return (total, false, None, false);
            };
            if st.rpos == st.rend {
                st.rpos = 0;
                st.rend = 0;
            }
            // Before the upgrade, never hold more than the largest head allowed
            // (plus one byte, so that the parser can tell it is too large).
            if st.session.is_none() && st.rend - st.rpos > max_head {
                return (total, false, None, false);
            }
            if st.rend == st.rbuf.len() {
                if st.rpos > 0 {
                    st.rbuf.copy_within(st.rpos..st.rend, 0);
                    st.rend -= st.rpos;
                    st.rpos = 0;
                } else {
                    let needed = match &st.session {
                        Some(s) => s.bytes_needed(st.rend),
                        None => READ_CHUNK,
                    };
                    if needed == 0 {
                        return (total, false, None, true);
                    }
                    // One frame (or handshake head) larger than the buffer.
                    let grow = needed.clamp(READ_CHUNK, 1 << 20);
                    let want = st.rend + grow;
                    match pool.take_large_read_buffer(want) {
                        Some(mut larger) => {
                            larger[..st.rend].copy_from_slice(&st.rbuf[..st.rend]);
                            let old = std::mem::replace(&mut st.rbuf, larger);
                            pool.give_read_buffer(old);
                        }
                        None => st.rbuf.resize(want, 0),
                    }
                }
            }
            match t.stream().read(&mut st.rbuf[st.rend..]) {
                Ok(0) => return (total, true, None, false),
                Ok(n) => {
                    st.rend += n;
                    total += n;
                    if total >= budget {
                        return (total, false, None, true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (total, false, None, false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (total, false, Some(e), false),
            }
        }
    }

    /// After input was processed: the read buffer goes back to the loop when
    /// empty (a small unprocessed tail is kept in a buffer of its own), and
    /// so do the session's idle buffers.
    fn release_buffers(&self, st: &mut Inner) {
        let Some(pool) = self.ev.upgrade() else {
            return;
        };
        let left = st.rend - st.rpos;
        if st.rbuf.len() >= event_loop::READ_BUFFER {
            if left == 0 {
                self.return_read_buffer(st);
            } else if !st.rbuf_held && pool.hold_read_buffer() {
                // Part of a frame waits for more: keep the buffer (a bounded
                // number of connections per loop may), so that nothing is
                // copied or allocated.
                st.rbuf_held = true;
            } else if !st.rbuf_held && left <= KEEP_TAIL {
                // Too many holders: keep only the tail, in a buffer of its own.
                let tail = st.rbuf[st.rpos..st.rend].to_vec();
                pool.give_read_buffer(std::mem::replace(&mut st.rbuf, tail));
                st.rpos = 0;
                st.rend = left;
            }
        }
        self.release_output_buffers(st, &pool);
    }

    /// Gives the read buffer (if it is the loop's) back; the connection
    /// holds none after this.
    fn return_read_buffer(&self, st: &mut Inner) {
        let buf = std::mem::take(&mut st.rbuf);
        st.rpos = 0;
        st.rend = 0;
        let held = std::mem::replace(&mut st.rbuf_held, false);
        if let Some(pool) = self.ev.upgrade() {
            if held {
                pool.release_held_read_buffer();
            }
            pool.give_read_buffer(buf);
        }
    }

    fn release_output_buffers(&self, st: &mut Inner, pool: &LoopInner) {
        if let Some(session) = st.session.as_mut() {
            pool.reclaim_buffers(session);
        }
    }

    /// Gives the session an output buffer from the loop before it queues
    /// about `len` bytes: a pooled one if it has none, or a large pooled one
    /// for a large message if nothing is queued.
    fn supply_output(&self, st: &mut Inner, len: usize) {
        let (Some(session), Some(pool)) = (st.session.as_mut(), self.ev.upgrade()) else {
            return;
        };
        let offer = if session.output_capacity() == 0 {
            if len > event_loop::READ_BUFFER {
                pool.take_large_write_buffer(len)
                    .or_else(|| Some(pool.take_write_buffer()))
            } else {
                Some(pool.take_write_buffer())
            }
        } else if len > session.output_capacity() && session.queued() == 0 {
            pool.take_large_write_buffer(len)
        } else {
            None
        };
        if let Some(buf) = offer {
            if let Some(back) = session.supply_output_buffer(buf) {
                pool.give_write_buffer(back);
            }
        }
    }

    /// Writes queued bytes. Returns bytes written or an error.
    fn write_out(st: &mut Inner) -> io::Result<usize> {
        let mut total = 0;
        if let Some(tls) = st.transport.as_mut().and_then(|t| t.tls()) {
            tls.flush_tls()?;
        }
        // Nothing but TLS records goes out before the peer was accepted.
        if matches!(st.phase, Phase::TlsHandshake | Phase::SslPaused) {
            return Ok(total);
        }
        loop {
            let Some(t) = st.transport.as_mut() else {
                return Ok(total);
            };
            let session_out = st.session.as_ref().map_or(&[][..], |s| s.pending_output());
            if st.pre.is_empty() && session_out.is_empty() {
                return Ok(total);
            }
            let bufs = [IoSlice::new(&st.pre), IoSlice::new(session_out)];
            match t.stream().write_vectored(&bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    total += n;
                    let from_pre = n.min(st.pre.len());
                    if from_pre == st.pre.len() {
                        // The handshake is out: its buffer is not kept.
                        st.pre = Vec::new();
                    } else {
                        st.pre.drain(..from_pre);
                    }
                    n -= from_pre;
                    if n > 0 {
                        if let Some(s) = st.session.as_mut() {
                            s.consume_output(n);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// What the peer's own input made us queue (automatic pongs, the close
    /// echo) has reached the send queue limit: reading stops until writes
    /// drain it. The application's sends are bounded by refusal instead, so
    /// two peers sending large messages to each other never wait on each
    /// other.
    fn output_full(st: &Inner) -> bool {
        st.send_queue_limit.is_some_and(|limit| {
            st.session
                .as_ref()
                .is_some_and(|s| s.answers_queued() >= limit)
        })
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        let st = self.st.borrow();
        st.pre.len() + st.session.as_ref().map_or(0, |s| s.queued())
    }

    /// Writes now (outside of slots: from the loop, or `flush()`).
    pub(crate) fn flush_now(self: &Rc<Self>) -> bool {
        let (result, emits) = {
            let mut st = self.st.borrow_mut();
            st.flush_posted = false;
            let was_full = Self::output_full(&st);
            let r = Self::write_out(&mut st);
            if r.is_ok() {
                if let Some(pool) = self.ev.upgrade() {
                    self.release_output_buffers(&mut st, &pool);
                }
                if was_full && !Self::output_full(&st) {
                    // Reading stopped at the limit (back-pressure): go on.
                    if let Some(ev) = self.event_loop() {
                        let weak: Weak<dyn IoHandler> = self.weak();
                        ev.resume_reading(weak);
                    }
                }
            }
            let mut emits = Vec::new();
            if let Ok(n) = r {
                let n = n as u64 + std::mem::take(&mut st.written_direct);
                if n > 0 && self.sig.bytes_written.slot_count() > 0 {
                    emits.push(Emit::BytesWritten(n));
                }
            }
            (r, emits)
        };
        self.emit_all(emits);
        match result {
            Ok(n) => {
                self.after_io();
                n > 0
            }
            Err(e) => {
                let (kind, msg) = match SocketError::from_io(&e) {
                    SocketError::RemoteHostClosed => (
                        SocketError::RemoteHostClosed,
                        "The remote host closed the connection".to_owned(),
                    ),
                    _ => (
                        SocketError::Network,
                        format!("Error writing bytes to socket: {e}."),
                    ),
                };
                self.connection_lost(kind, msg);
                false
            }
        }
    }

    /// Schedules a write at the end of this loop turn (corking).
    pub(crate) fn schedule_flush(self: &Rc<Self>) {
        let mut st = self.st.borrow_mut();
        if st.flush_posted || st.transport.is_none() {
            return;
        }
        st.flush_posted = true;
        drop(st);
        if let Some(ev) = self.event_loop() {
            let weak: Weak<dyn event_loop::Flush> = self.weak();
            ev.defer_flush(weak);
        }
    }

    /// After reading or writing: move on in the draining phase and keep the
    /// timer in line.
    fn after_io(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            if st.phase == Phase::Open && st.session.as_ref().is_some_and(|s| s.is_finished()) {
                st.phase = Phase::Draining;
                let timeout = st.config().close_timeout;
                if let Some(ev) = self.event_loop() {
                    st.deadline = Some(ev.now() + timeout);
                }
            }
            if st.phase == Phase::Draining && !st.shut_down {
                let empty =
                    st.pre.is_empty() && st.session.as_ref().is_none_or(|s| s.queued() == 0);
                // The server ends TCP first; a client does only after failing.
                let failed = st
                    .session
                    .as_ref()
                    .is_some_and(|s| s.close_state() == CloseState::Failed)
                    || st.session.is_none();
                if empty && (st.role == Role::Server || failed) {
                    st.shut_down = true;
                    if let Some(t) = st.transport.as_mut() {
                        let _ = t.stream().shutdown_write();
                    }
                }
            }
        }
        self.emit_alerts();
        self.reschedule();
    }

    // ----- timers --------------------------------------------------------------

    /// Stops or restarts reading from the transport.
    pub(crate) fn set_reading_paused(self: &Rc<Self>, paused: bool) {
        let was = std::mem::replace(&mut self.st.borrow_mut().reading_paused, paused);
        if was && !paused {
            // Readiness is edge-triggered: look again now.
            let weak = self.weak();
            if let Some(ev) = self.event_loop() {
                ev.post(move |ev| {
                    if let Some(s) = weak.upgrade() {
                        s.ready(ev, true, false);
                    }
                });
            }
        }
    }

    /// Re-arms the timer after a configuration change.
    pub(crate) fn reschedule_timers(self: &Rc<Self>) {
        self.reschedule();
    }

    fn reschedule(self: &Rc<Self>) {
        let Some(ev) = self.event_loop() else { return };
        let mut st = self.st.borrow_mut();
        let session_deadline = match st.phase {
            Phase::Open | Phase::Pending => st.session.as_ref().and_then(|s| s.next_deadline()),
            _ => None,
        };
        let want = [st.deadline, session_deadline, st.proxy_deadline()]
            .into_iter()
            .flatten()
            .min();
        if st.timer.map(|(_, at)| at) == want {
            return;
        }
        if let Some((id, _)) = st.timer.take() {
            ev.cancel_timer(id);
        }
        if let Some(at) = want {
            let weak: Weak<dyn event_loop::OnTimer> = self.weak();
            let id = ev.add_target_timer(at, weak);
            st.timer = Some((id, at));
        }
    }

    fn timer_fired(self: &Rc<Self>, ev: &EventLoop) {
        let now = ev.now();
        let (phase, due, proxy_due) = {
            let st = self.st.borrow();
            (
                st.phase,
                st.deadline.is_some_and(|d| d <= now),
                st.proxy_deadline().is_some_and(|d| d <= now),
            )
        };
        match phase {
            Phase::Resolving | Phase::Connecting | Phase::ProxyTunnel if proxy_due => {
                let text = {
                    let st = self.st.borrow();
                    let who = Self::proxy_label(&st).unwrap_or_default();
                    let limit = st.proxying.as_ref().and_then(|p| p.timeout);
                    let limit = limit.unwrap_or_default();
                    format!("{who}: no tunnel to the server within {limit:?}")
                };
                self.abort_with(Some((SocketError::ProxyConnectionTimeout, text)), false);
            }
            Phase::Resolving
            | Phase::Connecting
            | Phase::ProxyTunnel
            | Phase::TlsHandshake
            | Phase::SslPaused
            | Phase::ClientHandshake
                if due =>
            {
                let what = match phase {
                    Phase::ClientHandshake => {
                        "The server did not complete the opening handshake in time."
                    }
                    _ => "Connection timed out",
                };
                self.abort_with(Some((SocketError::SocketTimeout, what.into())), false);
            }
            Phase::ServerHandshake if due => {
                // Qt closes silently; the socket was never visible to the application.
                self.drop_silently();
            }
            Phase::Draining if due => self.finish_disconnect(),
            Phase::Open | Phase::Pending => {
                let event = {
                    let mut st = self.st.borrow_mut();
                    self.supply_output(&mut st, 0);
                    st.session.as_mut().and_then(|s| s.on_timeout(now))
                };
                match event {
                    Some(SessionEvent::IncompleteTimeout) => {
                        {
                            let mut st = self.st.borrow_mut();
                            st.close_code = CloseCode::GoingAway;
                            st.close_reason = "Timeout when reading data from socket.".into();
                            st.error = SocketError::SocketTimeout;
                            st.error_string = st.close_reason.clone();
                        }
                        let emits = self.begin_closing();
                        let mut all = vec![Emit::Error(SocketError::SocketTimeout)];
                        all.extend(emits);
                        self.emit_all(all);
                        self.flush_now();
                    }
                    Some(SessionEvent::CloseTimeout) => {
                        // The peer never answered our close frame: drop the connection.
                        self.finish_disconnect();
                    }
                    Some(SessionEvent::KeepalivePing) => {
                        // Its pong's round trip is measured from here.
                        self.st.borrow_mut().last_ping = now;
                        self.reschedule();
                        self.flush_now();
                    }
                    Some(SessionEvent::KeepaliveTimeout) => {
                        {
                            let mut st = self.st.borrow_mut();
                            let st = &mut *st;
                            if let Some((code, reason)) =
                                st.session.as_ref().and_then(|s| s.sent_close())
                            {
                                st.close_code = code;
                                st.close_reason = reason.to_owned();
                            }
                            st.error = SocketError::SocketTimeout;
                            st.error_string = st.close_reason.clone();
                        }
                        let mut all = vec![Emit::Error(SocketError::SocketTimeout)];
                        all.extend(self.begin_closing());
                        self.emit_all(all);
                        self.flush_now();
                    }
                    _ => self.reschedule(),
                }
            }
            _ => self.reschedule(),
        }
    }

    // ----- reading ---------------------------------------------------------------

    fn on_readable(self: &Rc<Self>) {
        let Some(pool) = self.ev.upgrade() else {
            return;
        };
        let mut total = 0;
        loop {
            let (n, eof, err, full, budget) = {
                let mut st = self.st.borrow_mut();
                if st.phase == Phase::Pending || (st.reading_paused && st.phase == Phase::Open) {
                    break;
                }
                // Back-pressure: while the peer leaves our output (automatic
                // pongs included) at the send queue limit, it is not read
                // from either; writing below the limit reads again.
                if st.phase == Phase::Open && Self::output_full(&st) {
                    break;
                }
                let budget = match st.read_buffer_size {
                    0 => READ_BUDGET,
                    n => n,
                };
                let (n, eof, err, full) = Self::fill(&mut st, &pool, budget - total.min(budget));
                (n, eof, err, full, budget)
            };
            total += n;
            if n > 0 {
                if let Some(ev) = self.event_loop() {
                    if let Some(s) = self.st.borrow_mut().session.as_mut() {
                        s.note_received(ev.now());
                    }
                }
            }
            let generation = self.st.borrow().generation;
            self.process_input();
            if self.st.borrow().generation != generation {
                // The input ended this connection or started another (a retry
                // after 401): the end of stream read with it belongs to the old one.
                return;
            }
            if let Some(e) = err {
                self.emit_alerts();
                return self.read_failed(e);
            }
            if eof {
                self.emit_alerts();
                return self.on_eof();
            }
            if !full {
                break;
            }
            // The buffer was full: what fit is processed; read on, unless the
            // budget for this turn is spent (come back next turn:
            // edge-triggered readiness will not tell again) or nothing moved.
            let stuck = {
                let st = self.st.borrow();
                st.rpos == 0 && st.rend == st.rbuf.len() && st.rend > 0
            };
            if total >= budget || stuck {
                if let Some(ev) = self.event_loop() {
                    let weak: Weak<dyn IoHandler> = self.weak();
                    ev.resume_reading(weak);
                }
                break;
            }
        }
        self.emit_alerts();
    }

    /// A read failed: a TLS failure is judged (certificate problems on a
    /// server are reported by the server), anything else ends the connection.
    fn read_failed(self: &Rc<Self>, e: io::Error) {
        let tls_failure = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let phase = self.st.borrow().phase;
        let server = self.st.borrow().server.upgrade();
        let about_certificate = matches!(
            tls_failure,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        );
        if let (Some(tls), Phase::ServerHandshake, Some(server), true) =
            (tls_failure, phase, server, about_certificate)
        {
            let error = crate::ssl::SslError::from_tls_failure(tls);
            self.drop_silently();
            server.report_tls_failure(error);
            return;
        }
        let kind = SocketError::from_io(&e);
        let msg = match kind {
            SocketError::RemoteHostClosed => "The remote host closed the connection".to_owned(),
            _ => e.to_string(),
        };
        self.connection_lost(kind, msg);
    }

    fn on_eof(self: &Rc<Self>) {
        let phase = self.st.borrow().phase;
        match phase {
            Phase::Draining => self.finish_disconnect(),
            Phase::ServerHandshake => self.drop_silently(),
            // What came before the end is delivered once the socket is taken;
            // the end is read again then.
            Phase::Pending | Phase::Idle => {}
            _ => self.connection_lost(
                SocketError::RemoteHostClosed,
                "The remote host closed the connection".into(),
            ),
        }
    }

    /// Runs the protocol on buffered input, one event at a time, emitting each
    /// with no borrow held.
    pub(crate) fn process_input(self: &Rc<Self>) {
        if self.reading.replace(true) {
            return; // re-entered from a slot: the outer loop goes on
        }
        loop {
            let phase = self.st.borrow().phase;
            let progressed = match phase {
                Phase::ProxyTunnel => self.read_proxy_reply(),
                Phase::ClientHandshake => self.read_client_handshake(),
                Phase::ServerHandshake => self.read_server_handshake(),
                Phase::Open | Phase::Draining => self.read_one_event(),
                _ => false,
            };
            if !progressed {
                break;
            }
        }
        self.reading.set(false);
        self.flush_now();
        let mut st = self.st.borrow_mut();
        self.release_buffers(&mut st);
    }

    /// Feeds the proxy's reply to the tunnel; once it is open, the upgrade
    /// (or TLS) starts inside it.
    fn read_proxy_reply(self: &Rc<Self>) -> bool {
        use crate::proxy::tunnel::Progress;
        let progress = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let Some(tunnel) = st.proxying.as_mut().and_then(|p| p.tunnel.as_mut()) else {
                return false;
            };
            let (used, progress) = tunnel.feed(&st.rbuf[st.rpos..st.rend], &mut st.pre);
            st.rpos += used;
            progress
        };
        match progress {
            Progress::Pending => false,
            Progress::Open => {
                let started = {
                    let mut st = self.st.borrow_mut();
                    let p = st.proxying();
                    p.tunnel = None;
                    p.deadline = None;
                    if st.tls_client.is_some() && st.rpos != st.rend {
                        let who = Self::proxy_label(&st).unwrap_or_default();
                        Err((
                            SocketError::ProxyProtocol,
                            format!("{who}: sent data after its reply, before TLS started"),
                        ))
                    } else {
                        Self::begin_upgrade(&mut st)
                    }
                };
                self.reschedule();
                if let Err((kind, text)) = started {
                    self.abort_with(Some((kind, text)), true);
                    return false;
                }
                if self.st.borrow().phase == Phase::TlsHandshake {
                    // The ClientHello goes out on the next turn of the loop.
                    let weak = self.weak();
                    if let Some(ev) = self.event_loop() {
                        ev.post(move |ev| {
                            if let Some(s) = weak.upgrade() {
                                s.ready(ev, true, true);
                            }
                        });
                    }
                    return false;
                }
                true
            }
            Progress::AuthRequired { realm, message } => {
                self.retry_through_proxy(&realm, message);
                false
            }
            Progress::Failed(kind, text) => {
                self.fail_connect(kind, text);
                false
            }
        }
    }

    /// The proxy wants credentials: ask `proxy_authentication_required` once
    /// per `open`, and try again on a new connection with what the slot gave.
    fn retry_through_proxy(self: &Rc<Self>, realm: &str, message: String) {
        let (tried, proxy, url, request) = {
            let st = self.st.borrow();
            (
                st.proxying.as_ref().is_some_and(|p| p.auth_tried),
                st.via().cloned(),
                st.url.clone(),
                st.request.clone(),
            )
        };
        let (Some(mut proxy), Some(url), Some(request), false) = (proxy, url, request, tried)
        else {
            return self.fail_connect(SocketError::ProxyAuthenticationRequired, message);
        };
        self.st.borrow_mut().proxying().auth_tried = true;
        let auth = crate::Authenticator::new(realm);
        let generation = self.st.borrow().generation;
        self.sig
            .proxy_authentication_required
            .emit(&self.handle(), &proxy, &auth);
        if self.st.borrow().generation != generation {
            return; // a slot aborted or reopened
        }
        if !auth.is_filled() {
            return self.fail_connect(SocketError::ProxyAuthenticationRequired, message);
        }
        proxy.set_user(&auth.user());
        proxy.set_password(&auth.password());
        let tls = {
            let mut st = self.st.borrow_mut();
            st.proxying().via = Some(proxy);
            st.tls_client.clone().map(|b| {
                let (config, name) = *b;
                (config, name, st.ssl_found.clone().unwrap_or_default())
            })
        };
        self.start_client(*url, *request, tls);
    }

    fn read_client_handshake(self: &Rc<Self>) -> bool {
        let result = {
            let st = self.st.borrow();
            let Some(req) = st.request.as_ref() else {
                return false;
            };
            parse_response(
                &st.rbuf[st.rpos..st.rend],
                req,
                st.config().max_handshake_size,
            )
        };
        match result {
            Ok(None) => false,
            Err(e)
                if e.kind
                    == crate::protocol::handshake::HandshakeErrorKind::AuthenticationRequired =>
            {
                self.retry_with_credentials(&e.message);
                false
            }
            Err(e) => {
                self.abort_with(Some((SocketError::ConnectionRefused, e.message)), true);
                false
            }
            Ok(Some(resp)) => {
                let emits = {
                    let mut st = self.st.borrow_mut();
                    st.rpos += resp.head_len;
                    st.subprotocol = resp.subprotocol.clone();
                    let now = self.event_loop().map_or_else(Instant::now, |e| e.now());
                    let mut session = st.new_session(Role::Client, now);
                    session.set_mask_source(st.mask_generator.clone().map(mask_source));
                    let offered = st.request.as_ref().and_then(|r| r.compression.as_ref());
                    if let (Some(params), Some(options)) = (resp.compression, offered) {
                        session.set_compression(params, options);
                    }
                    st.session = Some(session);
                    st.phase = Phase::Open;
                    st.deadline = None;
                    st.state = SocketState::Connected;
                    vec![Emit::State(SocketState::Connected), Emit::Connected]
                };
                self.reschedule();
                self.emit_all(emits);
                true
            }
        }
    }

    /// A `401` with a Basic challenge: retry once, with the URL's user info
    /// or what an `authentication_required` slot filled in (Qt 6.12). The
    /// state stays `Connecting`; the retry is a new connection.
    fn retry_with_credentials(self: &Rc<Self>, challenge: &str) {
        let (tried, url) = {
            let st = self.st.borrow();
            (st.auth_tried, st.url.clone())
        };
        let Some(mut url) = url else { return };
        let fail = |s: &Rc<Self>| {
            let text = "Host requires authentication".to_owned();
            s.abort_with(Some((SocketError::ConnectionRefused, text)), true);
        };
        if tried {
            return fail(self);
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let credentials = if !url.username().is_empty() || url.password().is_some() {
            let c = (
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            );
            // Used once, then no longer part of the URL (as Qt does).
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(c)
        } else {
            let auth = crate::Authenticator::new(&crate::request::realm_of(challenge));
            let generation = self.st.borrow().generation;
            self.sig.authentication_required.emit(&self.handle(), &auth);
            if self.st.borrow().generation != generation {
                return; // a slot aborted or reopened
            }
            auth.is_filled().then(|| (auth.user(), auth.password()))
        };
        let Some((user, password)) = credentials else {
            return fail(self);
        };
        let request = {
            let st = self.st.borrow();
            let mut headers = st.extra_headers.clone();
            headers.push((
                "Authorization".to_owned(),
                crate::request::basic_authorization(&user, &password),
            ));
            build_request(
                &url,
                &st.origin,
                &st.requested_subprotocols,
                &headers,
                st.compression.as_deref(),
            )
        };
        let Ok(request) = request else {
            return fail(self);
        };
        let tls = {
            let st = self.st.borrow();
            st.tls_client.clone().map(|b| {
                let (config, name) = *b;
                (config, name, st.ssl_found.clone().unwrap_or_default())
            })
        };
        self.start_client(*url, request, tls);
        self.st.borrow_mut().auth_tried = true;
    }

    fn read_server_handshake(self: &Rc<Self>) -> bool {
        let result = {
            let st = self.st.borrow();
            parse_request(&st.rbuf[st.rpos..st.rend], st.config().max_handshake_size)
        };
        let server = self.st.borrow().server.upgrade();
        match result {
            Ok(None) => false,
            Err(rejection) => {
                if let Some(server) = &server {
                    server.report_rejection(&rejection);
                }
                self.reject(rejection.response);
                false
            }
            Ok(Some(req)) => {
                let Some(server) = server else {
                    self.drop_silently();
                    return false;
                };
                // TLS is up by now: note what was negotiated, and judge a
                // client certificate the server only asked for (QueryPeer).
                let peer_chain = {
                    let mut st = self.st.borrow_mut();
                    let st = &mut *st;
                    match st.transport.as_mut().and_then(|t| t.tls()) {
                        Some(tls) => {
                            st.ssl_config
                                .get_or_insert_with(Box::default)
                                .record_session(&tls.conn);
                            tls.conn.peer_certificates().map(|c| c.to_vec())
                        }
                        None => None,
                    }
                };
                if let Some(chain) = peer_chain {
                    server.judge_client_certificate(&chain);
                }
                let decision = server.decide(&req);
                match decision {
                    Err(response) => {
                        self.reject(response);
                        false
                    }
                    Ok((subprotocol, name, deflate)) => {
                        let now = std::time::SystemTime::now();
                        let answer = deflate.as_ref().map(|(_, answer, _)| answer.as_str());
                        let response = match accept_response_with_extensions(
                            &req,
                            subprotocol.as_deref(),
                            answer,
                            &name,
                            now,
                        ) {
                            Ok(r) => r,
                            Err(_) => {
                                self.reject(error_response(500, &[]));
                                return false;
                            }
                        };
                        let now = self.event_loop().map_or_else(Instant::now, |e| e.now());
                        {
                            let mut st = self.st.borrow_mut();
                            st.server_head = Some(st.rbuf[st.rpos..st.rpos + req.head_len].into());
                            st.rpos += req.head_len;
                            st.pre.extend_from_slice(&response);
                            st.subprotocol = subprotocol;
                            st.origin = req.origin.clone().unwrap_or_default();
                            st.requested_subprotocols = req.subprotocols.clone();
                            let secure = st.transport.as_mut().is_some_and(|t| t.tls().is_some());
                            // request_url() is rebuilt from the head when asked.
                            st.server_secure = secure;
                            st.server_local = st.local;
                            let mut session = st.new_session(Role::Server, now);
                            if let Some((params, _, options)) = &deflate {
                                session.set_compression(*params, options);
                            }
                            st.session = Some(session);
                            st.phase = Phase::Pending;
                            st.deadline = None;
                            st.state = SocketState::Connected;
                        }
                        self.reschedule();
                        self.flush_now();
                        server.enqueue(self.handle());
                        false
                    }
                }
            }
        }
    }

    /// Answers a bad upgrade request with an HTTP error, then closes.
    fn reject(self: &Rc<Self>, response: Vec<u8>) {
        {
            let mut st = self.st.borrow_mut();
            st.pre = response;
            st.phase = Phase::Draining;
            st.rpos = st.rend;
            if let Some(ev) = self.event_loop() {
                st.deadline = Some(ev.now() + Duration::from_secs(1));
            }
        }
        self.flush_now();
        self.after_io();
    }

    /// Handles one protocol event; false when more input is needed.
    fn read_one_event(self: &Rc<Self>) -> bool {
        let now = match self.event_loop() {
            Some(ev) => ev.now(),
            None => return false,
        };
        // Take the buffer out so that slots may use the socket freely.
        let (buf, base, used, event, generation) = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            if st.rpos == st.rend {
                return false;
            }
            self.supply_output(st, 0);
            let Some(session) = st.session.as_mut() else {
                return false;
            };
            let (rpos, rend) = (st.rpos, st.rend);
            let (used, event) = session.read_event(&mut st.rbuf[rpos..rend], now);
            let Some(event) = event else {
                st.rpos += used;
                return used > 0;
            };
            st.rpos += used;
            (
                std::mem::take(&mut st.rbuf),
                rpos,
                used,
                event,
                st.generation,
            )
        };
        let _ = used;
        let message = match &event {
            SessionEvent::Frame {
                message: Some(Data::Message),
                ..
            } => self
                .st
                .borrow_mut()
                .session
                .as_mut()
                .map(|s| s.take_message()),
            _ => None,
        };
        let scratch = match &event {
            SessionEvent::Frame {
                frame: Data::Scratch,
                ..
            } => self
                .st
                .borrow()
                .session
                .as_ref()
                .map(|s| s.frame_scratch().to_vec()),
            _ => None,
        };
        // A frame of a compressed message before its last: its inflated
        // bytes are copied out of the session only for frame slots.
        let inflated = match &event {
            SessionEvent::Frame {
                kind,
                frame: Data::Inflated(r),
                message: None,
                ..
            } if match kind {
                MessageKind::Text => self.sig.text_frame_received.slot_count() > 0,
                MessageKind::Binary => self.sig.binary_frame_received.slot_count() > 0,
            } =>
            {
                self.st
                    .borrow()
                    .session
                    .as_ref()
                    .and_then(|s| s.message_buffer().get(r.clone()).map(<[u8]>::to_vec))
            }
            _ => None,
        };
        let slice = |d: &Data| -> &[u8] {
            match d {
                Data::Input(r) => buf.get(base + r.start..base + r.end).unwrap_or(&[]),
                Data::Message => message.as_deref().unwrap_or(&[]),
                Data::Scratch => scratch.as_deref().unwrap_or(&[]),
                Data::Inflated(r) => match (&message, &inflated) {
                    (Some(m), _) => m.get(r.clone()).unwrap_or(&[]),
                    (None, Some(f)) => f,
                    (None, None) => &[],
                },
            }
        };
        let ws = self.handle();
        let mut keep_going = true;
        match &event {
            SessionEvent::Frame {
                kind,
                frame,
                is_last,
                message: msg,
            } => match kind {
                MessageKind::Text => {
                    if self.sig.text_frame_received.slot_count() > 0 {
                        // Validated by the session already; checked again (fast,
                        // with SIMD) to get a `&str` without unsafe code.
                        let text = simdutf8::basic::from_utf8(slice(frame)).unwrap_or_default();
                        self.sig.text_frame_received.emit(&ws, text, *is_last);
                    }
                    if let Some(m) = msg {
                        let text = simdutf8::basic::from_utf8(slice(m)).unwrap_or_default();
                        self.sig.text_message_received.emit(&ws, text);
                    }
                }
                MessageKind::Binary => {
                    if self.sig.binary_frame_received.slot_count() > 0 {
                        self.sig
                            .binary_frame_received
                            .emit(&ws, slice(frame), *is_last);
                    }
                    if let Some(m) = msg {
                        self.sig.binary_message_received.emit(&ws, slice(m));
                    }
                }
            },
            SessionEvent::Ping(_) => {}
            SessionEvent::Pong(r) => {
                let elapsed = now.saturating_duration_since(self.st.borrow().last_ping);
                let payload = buf.get(base + r.start..base + r.end).unwrap_or(&[]);
                self.sig.pong.emit(&ws, elapsed, payload);
            }
            SessionEvent::CloseReceived { code, reason } => {
                let reason = buf
                    .get(base + reason.start..base + reason.end)
                    .unwrap_or(&[]);
                let reason = String::from_utf8_lossy(reason).into_owned();
                let emits = {
                    let mut st = self.st.borrow_mut();
                    let we_started = st.state == SocketState::Closing;
                    if !we_started {
                        st.close_code = *code;
                        st.close_reason = reason;
                    }
                    drop(st);
                    self.begin_closing()
                };
                self.emit_all(emits);
                keep_going = false;
            }
            SessionEvent::Failed(e) => {
                {
                    let mut st = self.st.borrow_mut();
                    st.close_code = e.code;
                    st.close_reason = e.reason.to_string();
                    st.error = SocketError::Protocol;
                    st.error_string = e.reason.to_string();
                }
                let mut emits = vec![Emit::Error(SocketError::Protocol)];
                emits.extend(self.begin_closing());
                self.emit_all(emits);
                keep_going = false;
            }
            SessionEvent::IncompleteTimeout
            | SessionEvent::CloseTimeout
            | SessionEvent::KeepalivePing
            | SessionEvent::KeepaliveTimeout => {}
        }
        // Put the buffers back unless the connection was replaced meanwhile.
        let mut st = self.st.borrow_mut();
        if st.generation == generation && st.rbuf.is_empty() {
            st.rbuf = buf;
        }
        if let (Some(m), Some(s)) = (message, st.session.as_mut()) {
            s.restore_message_buffer(m);
        }
        drop(st);
        self.after_io();
        keep_going || self.st.borrow().phase == Phase::Open
    }

    /// Enters Closing: about_to_close (once per connection), then stateChanged(Closing).
    fn begin_closing(self: &Rc<Self>) -> Vec<Emit> {
        let mut st = self.st.borrow_mut();
        let mut emits = Vec::new();
        if !st.about_to_close_sent {
            st.about_to_close_sent = true;
            emits.push(Emit::AboutToClose);
        }
        if st.state == SocketState::Connected {
            st.state = SocketState::Closing;
            emits.push(Emit::State(SocketState::Closing));
        }
        emits
    }

    // ----- closing ---------------------------------------------------------------

    /// The application's close(code, reason).
    pub(crate) fn close(self: &Rc<Self>, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode);
        }
        let phase = self.st.borrow().phase;
        match phase {
            Phase::Idle | Phase::Draining => Ok(()),
            Phase::Open | Phase::Pending => {
                let now = self.event_loop().map_or_else(Instant::now, |e| e.now());
                let result = {
                    let mut st = self.st.borrow_mut();
                    let st = &mut *st;
                    self.supply_output(st, 0);
                    match st.session.as_mut() {
                        Some(s) => {
                            let r = s.close(code, reason, now);
                            if r.is_ok() {
                                if let Some((c, r)) = s.sent_close() {
                                    st.close_code = c;
                                    st.close_reason = r.to_owned();
                                }
                            }
                            r
                        }
                        None => Err(SendError::Closing),
                    }
                };
                match result {
                    Ok(()) => {
                        let emits = self.begin_closing();
                        self.reschedule();
                        self.schedule_flush();
                        self.emit_all(emits);
                        Ok(())
                    }
                    // Closing already: a second close() is a no-op, as in Qt.
                    Err(SendError::Closing) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => {
                // Not open yet: nothing to say to the peer. Qt still emits
                // about_to_close first.
                self.sig.about_to_close.emit(&self.handle());
                {
                    let mut st = self.st.borrow_mut();
                    st.close_code = code;
                    st.close_reason = crate::protocol::close::truncate_reason(reason).to_owned();
                }
                self.abort_with(None, false);
                Ok(())
            }
        }
    }

    /// Drops the connection at once. With `handshake_failure`, `error` is
    /// emitted first (Qt's order for a failed handshake); otherwise after
    /// `disconnected` (Qt's order for a failed connect).
    pub(crate) fn abort_with(
        self: &Rc<Self>,
        error: Option<(SocketError, String)>,
        handshake_failure: bool,
    ) {
        let emits = {
            let mut st = self.st.borrow_mut();
            if st.phase == Phase::Idle && st.transport.is_none() {
                return;
            }
            let was_open = matches!(st.phase, Phase::Open | Phase::Pending | Phase::Draining);
            let mut emits = Vec::new();
            if let Some((kind, msg)) = &error {
                st.error = *kind;
                st.error_string = msg.clone();
                if handshake_failure {
                    emits.push(Emit::Error(*kind));
                }
            }
            if was_open && !st.about_to_close_sent {
                st.about_to_close_sent = true;
                emits.push(Emit::AboutToClose);
            }
            let alerts = Self::closing_alerts(&mut st);
            self.reset_connection(&mut st);
            st.phase = Phase::Idle;
            if st.state != SocketState::Unconnected {
                st.state = SocketState::Unconnected;
                emits.push(Emit::State(SocketState::Unconnected));
                emits.push(Emit::Disconnected);
                emits.push(Emit::ReadChannelFinished);
            }
            if !alerts.is_empty() {
                emits.push(Emit::Alerts(alerts));
            }
            if let (Some((kind, _)), false) = (&error, handshake_failure) {
                emits.push(Emit::Error(*kind));
            }
            self.release_alive(&mut st);
            emits
        };
        self.reschedule();
        self.emit_all(emits);
    }

    /// The connection ended or broke without a closing handshake.
    fn connection_lost(self: &Rc<Self>, kind: SocketError, message: String) {
        let phase = self.st.borrow().phase;
        match phase {
            Phase::Idle => {}
            Phase::Draining => self.finish_disconnect(),
            Phase::ServerHandshake => self.drop_silently(),
            Phase::ProxyTunnel => {
                let who = Self::proxy_label(&self.st.borrow()).unwrap_or_default();
                let text =
                    format!("{who}: closed the connection before the tunnel was open ({message})");
                self.fail_connect(SocketError::ProxyConnectionClosed, text);
            }
            Phase::Resolving
            | Phase::Connecting
            | Phase::TlsHandshake
            | Phase::SslPaused
            | Phase::ClientHandshake => {
                self.fail_connect(kind, message);
            }
            Phase::Open | Phase::Pending => {
                let emits = {
                    let mut st = self.st.borrow_mut();
                    st.error = kind;
                    st.error_string = message;
                    st.close_code = CloseCode::AbnormalDisconnection;
                    st.close_reason.clear();
                    let alerts = Self::closing_alerts(&mut st);
                    self.reset_connection(&mut st);
                    st.phase = Phase::Idle;
                    let mut emits = vec![Emit::Error(kind)];
                    if st.state == SocketState::Connected {
                        emits.push(Emit::State(SocketState::Closing));
                    }
                    st.state = SocketState::Unconnected;
                    emits.push(Emit::State(SocketState::Unconnected));
                    emits.push(Emit::Disconnected);
                    emits.push(Emit::ReadChannelFinished);
                    if !alerts.is_empty() {
                        emits.push(Emit::Alerts(alerts));
                    }
                    self.release_alive(&mut st);
                    emits
                };
                self.reschedule();
                self.emit_all(emits);
            }
        }
    }

    /// The closing handshake is over and the peer ended TCP (or took too long).
    fn finish_disconnect(self: &Rc<Self>) {
        let emits = {
            let mut st = self.st.borrow_mut();
            if st.phase == Phase::Idle {
                return;
            }
            let alerts = Self::closing_alerts(&mut st);
            self.reset_connection(&mut st);
            st.phase = Phase::Idle;
            let mut emits = Vec::new();
            if st.state == SocketState::Connected {
                emits.push(Emit::State(SocketState::Closing));
            }
            if st.state != SocketState::Unconnected {
                st.state = SocketState::Unconnected;
                emits.push(Emit::State(SocketState::Unconnected));
                emits.push(Emit::Disconnected);
                emits.push(Emit::ReadChannelFinished);
            }
            if !alerts.is_empty() {
                emits.push(Emit::Alerts(alerts));
            }
            self.release_alive(&mut st);
            emits
        };
        self.reschedule();
        self.emit_all(emits);
    }

    /// Server side before the upgrade: close without telling anyone.
    fn drop_silently(self: &Rc<Self>) {
        let mut st = self.st.borrow_mut();
        self.reset_connection(&mut st);
        st.phase = Phase::Idle;
        st.state = SocketState::Unconnected;
        self.release_alive(&mut st);
        drop(st);
        self.reschedule();
    }

    // ----- sending -----------------------------------------------------------------

    pub(crate) fn send(self: &Rc<Self>, kind: MessageKind, payload: &[u8]) -> usize {
        let ok = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            if !matches!(st.phase, Phase::Open | Phase::Pending) {
                return 0;
            }
            let frame_size = st.outgoing_frame_size;
            let queued = st.pre.len() + st.session.as_ref().map_or(0, |s| s.queued());
            match st.send_queue_limit {
                Some(limit) if queued >= limit => {
                    st.error = SocketError::Temporary;
                    st.error_string = format!(
                        "Send refused: {queued} bytes wait to be written (limit {limit}); send again after bytes_written."
                    );
                    Err(())
                }
                _ if payload.len() >= DIRECT_WRITE && st.pre.is_empty() => {
                    // A large message goes to the socket at once, without a
                    // copy; only what the socket does not take is queued
                    // (into a buffer lent by the loop).
                    self.supply_output(st, payload.len() + 14);
                    let (Some(session), Some(t)) = (st.session.as_mut(), st.transport.as_mut())
                    else {
                        return 0;
                    };
                    let mut write =
                        |bufs: &[IoSlice<'_>]| t.stream().write_vectored(bufs).unwrap_or(0);
                    match session.send_message_through(kind, payload, frame_size, &mut write) {
                        Ok(n) => {
                            st.written_direct += n as u64;
                            Ok(true)
                        }
                        Err(_) => Ok(false),
                    }
                }
                _ => {
                    self.supply_output(st, payload.len() + 14);
                    Ok(st
                        .session
                        .as_mut()
                        .is_some_and(|s| s.send_message(kind, payload, frame_size).is_ok()))
                }
            }
        };
        let ok = match ok {
            Ok(ok) => ok,
            Err(()) => {
                self.emit_all(vec![Emit::Error(SocketError::Temporary)]);
                return 0;
            }
        };
        if !ok {
            return 0;
        }
        self.schedule_flush();
        payload.len()
    }

    pub(crate) fn ping(self: &Rc<Self>, payload: &[u8]) -> bool {
        let now = self.event_loop().map_or_else(Instant::now, |e| e.now());
        let ok = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            if !matches!(st.phase, Phase::Open | Phase::Pending) {
                return false;
            }
            st.last_ping = now;
            self.supply_output(st, 0);
            st.session
                .as_mut()
                .is_some_and(|s| s.send_ping(payload).is_ok())
        };
        if ok {
            self.schedule_flush();
        }
        ok
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.st.get_mut().rbuf_held {
            if let Some(pool) = self.ev.upgrade() {
                pool.release_held_read_buffer();
            }
        }
    }
}

impl event_loop::OnTimer for Shared {
    fn on_timer(self: Rc<Self>, ev: &EventLoop) {
        self.st.borrow_mut().timer = None;
        self.timer_fired(ev);
    }
}

impl event_loop::Flush for Shared {
    fn flush(self: Rc<Self>) {
        self.flush_now();
    }
}

impl IoHandler for Shared {
    fn ready(self: Rc<Self>, _ev: &EventLoop, readable: bool, writable: bool) {
        let phase = self.st.borrow().phase;
        if phase == Phase::Connecting {
            let status = {
                let st = self.st.borrow();
                st.transport.as_ref().map(|t| {
                    let s = t.stream_ref();
                    match s.take_error() {
                        Ok(Some(e)) | Err(e) => Err(e),
                        Ok(None) => Ok(s.is_connected()),
                    }
                })
            };
            match status {
                Some(Ok(true)) => {
                    if let Err((kind, msg)) = self.on_tcp_connected() {
                        self.abort_with(Some((kind, msg)), true);
                        return;
                    }
                }
                Some(Ok(false)) => return,
                Some(Err(e)) => {
                    log::debug!("connect failed: {e}");
                    self.st.borrow_mut().transport = None;
                    if let Some(ev) = self.event_loop() {
                        let more = {
                            let st = self.st.borrow();
                            st.next_addr < st.addrs.len()
                        };
                        if more {
                            self.connect_next(&ev);
                        } else {
                            let (kind, msg) = match SocketError::from_io(&e) {
                                SocketError::ConnectionRefused => self.refused(),
                                kind => (kind, e.to_string()),
                            };
                            self.fail_connect(kind, msg);
                        }
                    }
                    return;
                }
                None => return,
            }
        }
        if self.st.borrow().phase == Phase::TlsHandshake {
            self.drive_tls_client();
        }
        if matches!(
            self.st.borrow().phase,
            Phase::TlsHandshake | Phase::SslPaused
        ) {
            return;
        }
        if writable {
            self.flush_now();
        }
        if readable || writable {
            self.on_readable();
        }
        self.emit_alerts();
    }
}

/// Qt's server-side `request_url()`: the absolute URL rebuilt from Host.
fn server_side_url(
    req: &ServerRequest,
    local: Option<SocketAddr>,
    secure: bool,
) -> Option<url::Url> {
    let scheme = if secure { "wss" } else { "ws" };
    if let Some((_, rest)) = req.target.split_once("://") {
        // An absolute request target: keep its authority and path, with our scheme.
        return url::Url::parse(&format!("{scheme}://{rest}")).ok();
    }
    let host = if req.host.is_empty() {
        local.map(|a| a.to_string()).unwrap_or_default()
    } else {
        req.host.clone()
    };
    url::Url::parse(&format!("{scheme}://{}{}", host, req.target)).ok()
}

/// Builds the client request for `url`.
pub(crate) fn build_request(
    url: &url::Url,
    origin: &str,
    subprotocols: &[String],
    headers: &[(String, String)],
    compression: Option<&crate::protocol::CompressionOptions>,
) -> Result<ClientRequest, String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| format!("No randomness for the handshake key: {e}"))?;
    let mut req = ClientRequest::from_url(url, generate_key(random)).map_err(|e| e.message)?;
    if !origin.is_empty() {
        req.origin = Some(origin.to_owned());
    }
    req.subprotocols = subprotocols.to_vec();
    req.headers = headers.to_vec();
    req.compression = compression.filter(|c| c.enabled).cloned();
    // Validate now (CR/LF anywhere), so that open() can refuse synchronously.
    let mut scratch = Vec::new();
    req.encode(&mut scratch).map_err(|e| e.message)?;
    Ok(req)
}

/// Masking keys from the application's generator, most significant byte
/// first (as Qt applies a 32-bit mask).
pub(crate) fn mask_source(
    generator: Rc<RefCell<Box<dyn crate::websocket::MaskGenerator>>>,
) -> crate::protocol::session::MaskSource {
    Box::new(move || generator.borrow_mut().next_mask().to_be_bytes())
}
