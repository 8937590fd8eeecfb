//! [`WebSocketServer`]: Qt's `QWebSocketServer`.

use crate::SocketError;
use crate::event_loop::{EventLoop, IoHandler, LoopInner};
use crate::protocol::handshake::server::{
    Rejection, ServerRequest, choose_subprotocol, error_response,
};
use crate::protocol::{CloseCode, Role, SessionConfig};
use crate::signal::Signal;
use crate::socket::Shared;
use crate::transport::RegisteredListener;
use crate::websocket::{MAX_INCOMING_SIZE, WebSocket};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::Duration;

crate::signal_signature!(&WebSocketServer);
crate::signal_signature!(&WebSocketServer, CloseCode);
crate::signal_signature!(&WebSocketServer, SocketError);

/// Whether a server speaks `ws://` or `wss://` (Qt's `SslMode`).
///
/// ```
/// use qwebsocket::SslMode;
/// assert_ne!(SslMode::SecureMode, SslMode::NonSecureMode);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// `wss://` (TLS). Not supported yet: `listen` fails.
    SecureMode,
    /// `ws://` (plain TCP).
    NonSecureMode,
}

struct ServerInner {
    name: String,
    mode: SslMode,
    listener: Option<RegisteredListener>,
    pending: VecDeque<WebSocket>,
    max_pending: usize,
    handshake_timeout: Option<Duration>,
    supported_subprotocols: Vec<String>,
    error: CloseCode,
    error_string: String,
    config: SessionConfig,
    paused: bool,
}

#[derive(Default)]
struct ServerSignals {
    new_connection: Signal<dyn Fn(&WebSocketServer)>,
    server_error: Signal<dyn Fn(&WebSocketServer, CloseCode)>,
    accept_error: Signal<dyn Fn(&WebSocketServer, SocketError)>,
    closed: Signal<dyn Fn(&WebSocketServer)>,
}

pub(crate) struct ServerShared {
    ev: Weak<LoopInner>,
    st: RefCell<ServerInner>,
    sig: ServerSignals,
    self_weak: RefCell<Weak<ServerShared>>,
}

/// A WebSocket server: Qt's `QWebSocketServer`.
///
/// It listens on a TCP port, answers upgrade requests, and queues each
/// accepted [`WebSocket`] (already connected, in the server role) until
/// [`WebSocketServer::next_pending_connection`] takes it; `new_connection`
/// is emitted for each. A taken socket is yours, and the loop keeps it alive
/// while it is connected.
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
///
/// let ev = EventLoop::new()?;
/// let server = WebSocketServer::new(&ev, "echo", SslMode::NonSecureMode);
/// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
/// server.new_connection().connect(|server| {
///     while let Some(socket) = server.next_pending_connection() {
///         socket.text_message_received().connect(|ws, text| {
///             ws.send_text_message(text);
///         });
///     }
/// });
/// assert!(server.server_url().unwrap().as_str().starts_with("ws://127.0.0.1:"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct WebSocketServer {
    shared: Rc<ServerShared>,
}

impl fmt::Debug for WebSocketServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.st.borrow();
        f.debug_struct("WebSocketServer")
            .field("name", &st.name)
            .field(
                "listening",
                &st.listener.as_ref().and_then(|l| l.local_addr().ok()),
            )
            .field("pending", &st.pending.len())
            .finish_non_exhaustive()
    }
}

impl WebSocketServer {
    /// A server named `name` (sent as the `Server` header when not empty).
    pub fn new(ev: &EventLoop, name: &str, mode: SslMode) -> WebSocketServer {
        let shared = Rc::new(ServerShared {
            ev: Rc::downgrade(&ev.inner),
            st: RefCell::new(ServerInner {
                name: name.to_owned(),
                mode,
                listener: None,
                pending: VecDeque::new(),
                max_pending: 30,
                handshake_timeout: Some(Duration::from_secs(10)),
                supported_subprotocols: Vec::new(),
                error: CloseCode::Normal,
                error_string: String::new(),
                config: SessionConfig::default(),
                paused: false,
            }),
            sig: ServerSignals::default(),
            self_weak: RefCell::new(Weak::new()),
        });
        *shared.self_weak.borrow_mut() = Rc::downgrade(&shared);
        WebSocketServer { shared }
    }

    fn from_shared(shared: Rc<ServerShared>) -> WebSocketServer {
        WebSocketServer { shared }
    }

    /// Starts listening on `address:port` (port 0 picks a free one). On
    /// failure the error is also reported through `server_error` with 1006
    /// and [`WebSocketServer::error_string`].
    pub fn listen(&self, address: IpAddr, port: u16) -> Result<(), SocketError> {
        let Some(ev) = self.shared.event_loop() else {
            return Err(SocketError::Operation);
        };
        if self.shared.st.borrow().mode == SslMode::SecureMode {
            let msg = "Secure mode (wss://) is not supported yet.".to_owned();
            self.shared.set_error(CloseCode::AbnormalDisconnection, msg);
            return Err(SocketError::UnsupportedSocketOperation);
        }
        self.close_listener();
        let handler: Weak<dyn IoHandler> = Rc::downgrade(&self.shared) as Weak<dyn IoHandler>;
        match RegisteredListener::bind(&ev, SocketAddr::new(address, port), handler) {
            Ok(l) => {
                self.shared.st.borrow_mut().listener = Some(l);
                Ok(())
            }
            Err(e) => {
                let kind = SocketError::from_io(&e);
                self.shared
                    .set_error(CloseCode::AbnormalDisconnection, listen_error_text(&e));
                Err(kind)
            }
        }
    }

    fn close_listener(&self) {
        let l = self.shared.st.borrow_mut().listener.take();
        drop(l);
    }

    /// Stops listening and closes every queued (not yet taken) socket with
    /// 1001 "Server closed."; sockets already taken are not touched. `closed`
    /// is emitted on the next loop turn.
    pub fn close(&self) {
        self.close_listener();
        let pending: Vec<WebSocket> = self.shared.st.borrow_mut().pending.drain(..).collect();
        for ws in pending {
            ws.shared().taken_from_queue();
            let _ = ws.close(CloseCode::GoingAway, "Server closed.");
        }
        if let Some(ev) = self.shared.event_loop() {
            let weak = Rc::downgrade(&self.shared);
            ev.post(move |_| {
                if let Some(s) = weak.upgrade() {
                    let server = WebSocketServer::from_shared(s.clone());
                    s.sig.closed.emit(&server);
                }
            });
        }
    }

    /// True while listening.
    pub fn is_listening(&self) -> bool {
        self.shared.st.borrow().listener.is_some()
    }

    /// The address listened on.
    pub fn server_address(&self) -> Option<IpAddr> {
        self.local_addr().map(|a| a.ip())
    }

    /// The port listened on (0 when not listening).
    pub fn server_port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.shared
            .st
            .borrow()
            .listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// `ws://host:port` of the server, with an unspecified address replaced
    /// by the loopback one (as in Qt); `None` when not listening.
    pub fn server_url(&self) -> Option<url::Url> {
        let addr = self.local_addr()?;
        let ip = match addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        url::Url::parse(&format!("ws://{}", SocketAddr::new(ip, addr.port()))).ok()
    }

    /// The secure mode given to the constructor.
    pub fn secure_mode(&self) -> SslMode {
        self.shared.st.borrow().mode
    }

    /// The server's name.
    pub fn server_name(&self) -> String {
        self.shared.st.borrow().name.clone()
    }

    /// Sets the server's name (the `Server` header of the 101 response).
    pub fn set_server_name(&self, name: &str) {
        self.shared.st.borrow_mut().name = name.to_owned();
    }

    /// True when a connection waits in the queue.
    pub fn has_pending_connections(&self) -> bool {
        !self.shared.st.borrow().pending.is_empty()
    }

    /// Takes the oldest queued connection. Messages that arrived with its
    /// upgrade request are delivered on the next loop turn, after you had
    /// the chance to connect slots.
    pub fn next_pending_connection(&self) -> Option<WebSocket> {
        let ws = self.shared.st.borrow_mut().pending.pop_front()?;
        ws.shared().taken_from_queue();
        Some(ws)
    }

    /// How many upgraded connections may wait in the queue; more are answered
    /// `503 Service Unavailable`. Default 30.
    pub fn set_max_pending_connections(&self, n: usize) {
        self.shared.st.borrow_mut().max_pending = n;
    }

    /// The queue limit.
    pub fn max_pending_connections(&self) -> usize {
        self.shared.st.borrow().max_pending
    }

    /// How long a client may take to send its upgrade request; `None` waits
    /// forever. Default 10 s. A client that takes longer is disconnected
    /// without a response.
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.shared.st.borrow_mut().handshake_timeout = timeout;
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.st.borrow().handshake_timeout
    }

    /// The subprotocols this server speaks; the first of the client's list
    /// found here is chosen.
    pub fn set_supported_subprotocols(&self, protocols: &[&str]) {
        self.shared.st.borrow_mut().supported_subprotocols =
            protocols.iter().map(|s| s.to_string()).collect();
    }

    /// The subprotocols this server speaks.
    pub fn supported_subprotocols(&self) -> Vec<String> {
        self.shared.st.borrow().supported_subprotocols.clone()
    }

    /// The WebSocket versions spoken: only 13.
    pub fn supported_versions(&self) -> &'static [u32] {
        &[13]
    }

    /// Stops accepting new TCP connections (they wait in the kernel's backlog).
    pub fn pause_accepting(&self) {
        self.shared.st.borrow_mut().paused = true;
    }

    /// Accepts again after [`WebSocketServer::pause_accepting`].
    pub fn resume_accepting(&self) {
        self.shared.st.borrow_mut().paused = false;
        if let Some(ev) = self.shared.event_loop() {
            let weak = Rc::downgrade(&self.shared);
            ev.post(move |ev| {
                if let Some(s) = weak.upgrade() {
                    s.ready(ev, true, false);
                }
            });
        }
    }

    /// The largest frame accepted sockets take (see
    /// [`WebSocket::set_max_allowed_incoming_frame_size`]).
    pub fn set_max_allowed_incoming_frame_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.shared.st.borrow_mut().config.max_frame_size = size;
        }
    }

    /// The largest message accepted sockets take.
    pub fn set_max_allowed_incoming_message_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.shared.st.borrow_mut().config.max_message_size = size;
        }
    }

    /// The last error as a close code (1000 before any).
    pub fn error(&self) -> CloseCode {
        self.shared.st.borrow().error
    }

    /// The last error's description.
    pub fn error_string(&self) -> String {
        self.shared.st.borrow().error_string.clone()
    }

    /// Emitted when an upgraded connection was queued.
    pub fn new_connection(&self) -> &Signal<dyn Fn(&WebSocketServer)> {
        &self.shared.sig.new_connection
    }

    /// Emitted with a close code when something went wrong (a bad upgrade
    /// request, a full queue, a failed listen).
    pub fn server_error(&self) -> &Signal<dyn Fn(&WebSocketServer, CloseCode)> {
        &self.shared.sig.server_error
    }

    /// Emitted when accepting a TCP connection failed.
    pub fn accept_error(&self) -> &Signal<dyn Fn(&WebSocketServer, SocketError)> {
        &self.shared.sig.accept_error
    }

    /// Emitted (on the next loop turn) after [`WebSocketServer::close`].
    pub fn closed(&self) -> &Signal<dyn Fn(&WebSocketServer)> {
        &self.shared.sig.closed
    }
}

fn listen_error_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "The bound address is already in use".into(),
        io::ErrorKind::AddrNotAvailable => "The address is not available".into(),
        io::ErrorKind::PermissionDenied => "The address is protected".into(),
        _ => e.to_string(),
    }
}

impl ServerShared {
    fn event_loop(&self) -> Option<EventLoop> {
        self.ev.upgrade().map(|inner| EventLoop { inner })
    }

    fn handle(&self) -> Option<WebSocketServer> {
        self.self_weak
            .borrow()
            .upgrade()
            .map(WebSocketServer::from_shared)
    }

    fn set_error(&self, code: CloseCode, message: String) {
        {
            let mut st = self.st.borrow_mut();
            st.error = code;
            st.error_string = message;
        }
        if let Some(server) = self.handle() {
            self.sig.server_error.emit(&server, code);
        }
    }

    /// An invalid upgrade request was answered with an HTTP error.
    pub(crate) fn report_rejection(&self, rejection: &Rejection) {
        let code = if rejection.status == 400 && rejection.message.contains("too large") {
            CloseCode::TooMuchData
        } else {
            CloseCode::ProtocolError
        };
        self.set_error(code, rejection.message.clone());
    }

    /// Accept or refuse a valid upgrade request: Ok(subprotocol, server name)
    /// or the HTTP response to send instead.
    pub(crate) fn decide(&self, req: &ServerRequest) -> Result<(Option<String>, String), Vec<u8>> {
        let (full, subprotocol, name) = {
            let st = self.st.borrow();
            (
                st.pending.len() >= st.max_pending,
                choose_subprotocol(&req.subprotocols, &st.supported_subprotocols)
                    .map(str::to_owned),
                st.name.clone(),
            )
        };
        if full {
            self.set_error(
                CloseCode::AbnormalDisconnection,
                "Too many pending connections.".into(),
            );
            return Err(error_response(503, &[("Retry-After", "1")]));
        }
        Ok((subprotocol, name))
    }

    /// A socket finished its upgrade: queue it and tell the application.
    pub(crate) fn enqueue(&self, ws: WebSocket) {
        self.st.borrow_mut().pending.push_back(ws);
        if let Some(server) = self.handle() {
            self.sig.new_connection.emit(&server);
        }
    }
}

impl IoHandler for ServerShared {
    fn ready(self: Rc<Self>, ev: &EventLoop, readable: bool, _writable: bool) {
        if !readable {
            return;
        }
        loop {
            let accepted = {
                let st = self.st.borrow();
                if st.paused {
                    return;
                }
                match st.listener.as_ref() {
                    Some(l) => l.accept(),
                    None => return,
                }
            };
            match accepted {
                Ok((stream, _addr)) => {
                    let (timeout, config) = {
                        let st = self.st.borrow();
                        (st.handshake_timeout, st.config.clone())
                    };
                    let shared = Shared::new(ev, Role::Server);
                    if let Err(e) =
                        shared.start_server(ev, stream, Rc::downgrade(&self), timeout, config)
                    {
                        log::warn!("could not register an accepted connection: {e}");
                    }
                    // The socket reads its request when the loop reports it readable.
                    let weak = Rc::downgrade(&shared);
                    ev.post(move |ev| {
                        if let Some(s) = weak.upgrade() {
                            s.ready(ev, true, true);
                        }
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = SocketError::from_io(&e);
                    if let Some(server) = self.handle() {
                        self.sig.accept_error.emit(&server, kind);
                    }
                    return;
                }
            }
        }
    }
}

impl Drop for ServerShared {
    fn drop(&mut self) {
        let pending: Vec<WebSocket> = self.st.get_mut().pending.drain(..).collect();
        for ws in pending {
            ws.shared().taken_from_queue();
            let _ = ws.close(CloseCode::GoingAway, "Server closed.");
        }
    }
}
