//! [`WebSocketServer`]: Qt's `QWebSocketServer`.

use crate::SocketError;
use crate::event_loop::{EventLoop, IoHandler, LoopInner};
use crate::protocol::handshake::deflate::server_accept;
use crate::protocol::handshake::server::{
    Rejection, ServerRequest, choose_subprotocol, error_response,
};
use crate::protocol::{CloseCode, CompressionOptions, DeflateParams, Role, SessionConfig};
use crate::proxy::ProxyType;
use crate::signal::Signal;
use crate::socket::Shared;
use crate::ssl::{SslConfiguration, SslError};
use crate::transport::RegisteredListener;
use crate::websocket::{MAX_INCOMING_SIZE, WebSocket};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

crate::signal_signature!(&WebSocketServer);
crate::signal_signature!(&WebSocketServer, CloseCode);
crate::signal_signature!(&WebSocketServer, SocketError);
crate::signal_signature!(&WebSocketServer, &[SslError]);
crate::signal_signature!(&WebSocketServer, &SslError);
crate::signal_signature!(&WebSocketServer, &CorsAuthenticator);

/// Lets the application accept or refuse a client by its `Origin` (Qt's
/// `QWebSocketCorsAuthenticator`). Allowed unless a slot refuses it; a
/// refused client gets `403 Forbidden`.
///
/// ```
/// use qwebsocket::CorsAuthenticator;
/// let auth = CorsAuthenticator::new("https://example.com");
/// assert!(auth.allowed());
/// auth.set_allowed(false);
/// assert!(!auth.allowed());
/// assert_eq!(auth.origin(), "https://example.com");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsAuthenticator {
    origin: String,
    allowed: std::cell::Cell<bool>,
}

impl CorsAuthenticator {
    /// An authenticator for `origin`, allowed by default. The server makes
    /// one for each upgrade request that has an `Origin` header and passes it
    /// to `origin_authentication_required`; make your own to test a slot.
    ///
    /// ```
    /// use qwebsocket::CorsAuthenticator;
    /// let auth = CorsAuthenticator::new("https://app.example");
    /// assert_eq!(auth.origin(), "https://app.example");
    /// assert!(auth.allowed());
    /// ```
    pub fn new(origin: &str) -> CorsAuthenticator {
        CorsAuthenticator {
            origin: origin.to_owned(),
            allowed: std::cell::Cell::new(true),
        }
    }

    /// The client's `Origin` header, as sent (a browser sends the scheme,
    /// host and port of the page, e.g. `https://app.example`).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// server.origin_authentication_required().connect(move |_, auth| {
    ///     s.borrow_mut().push(auth.origin().to_owned());
    /// });
    /// reactor.connect_websocket_with("127.0.0.1:80".parse().unwrap(), "/", &[("Origin", "https://app.example")]);
    /// assert_eq!(*seen.borrow(), ["https://app.example"]);
    /// ```
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the client is accepted: true unless a slot called
    /// `set_allowed(false)`.
    ///
    /// ```
    /// use qwebsocket::CorsAuthenticator;
    /// let auth = CorsAuthenticator::new("null"); // a page opened from a file
    /// assert!(auth.allowed());
    /// ```
    pub fn allowed(&self) -> bool {
        self.allowed.get()
    }

    /// Accepts (true) or refuses (false) the client. It takes `&self`, so
    /// that a slot can decide on the authenticator it is passed; the last
    /// call wins. A refused client is answered `403 Forbidden` and the
    /// server reports 1008 ([`CloseCode::PolicyViolated`]).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// server.origin_authentication_required().connect(|_, auth| {
    ///     auth.set_allowed(auth.origin() == "https://app.example");
    /// });
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// client.send_upgrade_request("/", &[("Origin", "https://evil.example")]);
    /// reactor.run_until_idle();
    /// assert_eq!(client.read_handshake_response().unwrap().status, 403);
    /// assert_eq!(server.error(), CloseCode::PolicyViolated);
    /// assert!(!server.has_pending_connections());
    /// ```
    pub fn set_allowed(&self, allowed: bool) {
        self.allowed.set(allowed);
    }
}

/// Whether a server speaks `ws://` or `wss://` (Qt's `SslMode`).
///
/// ```
/// use qwebsocket::SslMode;
/// assert_ne!(SslMode::SecureMode, SslMode::NonSecureMode);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// `wss://` (TLS), with the certificate and key of
    /// [`WebSocketServer::set_ssl_configuration`].
    SecureMode,
    /// `ws://` (plain TCP).
    NonSecureMode,
}

/// What the server decided for an upgrade: the subprotocol, the `Server`
/// name, and permessage-deflate (the parameters, the answer entry and the
/// options) if accepted.
pub(crate) type Decision = (
    Option<String>,
    String,
    Option<(DeflateParams, String, CompressionOptions)>,
);

struct ServerInner {
    name: String,
    mode: SslMode,
    listener: Option<RegisteredListener>,
    pending: VecDeque<WebSocket>,
    max_pending: usize,
    handshake_timeout: Option<Duration>,
    supported_subprotocols: Vec<String>,
    /// permessage-deflate to accept (off by default, as in Qt).
    compression: Option<Box<CompressionOptions>>,
    error: CloseCode,
    error_string: String,
    config: SessionConfig,
    paused: bool,
    ssl_config: SslConfiguration,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// `close()` was called (and no `listen()` since).
    closed: bool,
    proxy: crate::proxy::Proxy,
    listen_backlog: i32,
}

#[derive(Default)]
struct ServerSignals {
    new_connection: Signal<dyn Fn(&WebSocketServer)>,
    server_error: Signal<dyn Fn(&WebSocketServer, CloseCode)>,
    accept_error: Signal<dyn Fn(&WebSocketServer, SocketError)>,
    closed: Signal<dyn Fn(&WebSocketServer)>,
    ssl_errors: Signal<dyn Fn(&WebSocketServer, &[SslError])>,
    peer_verify_error: Signal<dyn Fn(&WebSocketServer, &SslError)>,
    handshake_interrupted_on_error: Signal<dyn Fn(&WebSocketServer, &SslError)>,
    origin_authentication_required: Signal<dyn Fn(&WebSocketServer, &CorsAuthenticator)>,
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
    /// A server named `name` (sent as the `Server` header when not empty), not
    /// listening yet.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "chat", SslMode::NonSecureMode);
    /// assert_eq!(server.server_name(), "chat");
    /// assert!(!server.is_listening());
    /// assert_eq!(server.server_url(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
                compression: None,
                error: CloseCode::Normal,
                error_string: String::new(),
                config: SessionConfig::default(),
                paused: false,
                ssl_config: SslConfiguration::default(),
                tls: None,
                closed: false,
                proxy: crate::proxy::Proxy::default(),
                listen_backlog: 1024,
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

    /// Starts listening on `address:port` (port 0 picks a free one). A
    /// previous listener is closed first, even if the new one then fails to
    /// bind. On failure the error is also recorded
    /// ([`WebSocketServer::error`] is 1006, [`WebSocketServer::error_string`]
    /// says why) and `server_error` is emitted. A server in
    /// [`SslMode::SecureMode`] needs a certificate and key in its
    /// [`WebSocketServer::set_ssl_configuration`] first
    /// ([`SocketError::SslInvalidUserData`] otherwise).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, CloseCode, SocketError, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let first = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// first.listen("127.0.0.1".parse().unwrap(), 8080).unwrap();
    /// let second = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// let result = second.listen("127.0.0.1".parse().unwrap(), 8080);
    /// assert_eq!(result, Err(SocketError::AddressInUse));
    /// assert_eq!(second.error(), CloseCode::AbnormalDisconnection);
    /// assert_eq!(second.error_string(), "The bound address is already in use");
    /// ```
    pub fn listen(&self, address: IpAddr, port: u16) -> Result<(), SocketError> {
        let Some(ev) = self.shared.event_loop() else {
            return Err(SocketError::Operation);
        };
        let proxied = matches!(
            self.shared.st.borrow().proxy.kind(),
            ProxyType::HttpProxy | ProxyType::Socks5Proxy
        );
        if proxied {
            self.shared.set_error(
                CloseCode::AbnormalDisconnection,
                "Listening through a proxy is not supported: HTTP proxies cannot accept \
                 connections, and SOCKS5 BIND is not implemented"
                    .into(),
            );
            return Err(SocketError::UnsupportedSocketOperation);
        }
        if self.shared.st.borrow().mode == SslMode::SecureMode {
            let built = self.shared.st.borrow().ssl_config.server_config();
            match built {
                Ok(config) => self.shared.st.borrow_mut().tls = Some(config),
                Err(e) => {
                    self.shared
                        .set_error(CloseCode::AbnormalDisconnection, e.to_string());
                    return Err(SocketError::SslInvalidUserData);
                }
            }
        }
        self.close_listener();
        let handler: Weak<dyn IoHandler> = Rc::downgrade(&self.shared) as Weak<dyn IoHandler>;
        let backlog = self.shared.st.borrow().listen_backlog;
        match RegisteredListener::bind(&ev, SocketAddr::new(address, port), backlog, handler) {
            Ok(l) => {
                let mut st = self.shared.st.borrow_mut();
                st.listener = Some(l);
                st.closed = false;
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

    /// Sets the proxy to listen through (Qt's `setProxy`). Only direct
    /// listening is supported: [`ProxyType::NoProxy`] and
    /// [`ProxyType::DefaultProxy`] (the default; the loop's application proxy
    /// is for outgoing connections and does not apply to listening) listen
    /// directly, and with an HTTP or SOCKS5 proxy [`WebSocketServer::listen`]
    /// fails with [`SocketError::UnsupportedSocketOperation`].
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// use qwebsocket::{event_loop::EventLoop, SocketError, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.proxy().kind(), ProxyType::DefaultProxy);
    /// server.set_proxy(Proxy::socks5("127.0.0.1", 1080));
    /// let refused = server.listen("127.0.0.1".parse().unwrap(), 0);
    /// assert_eq!(refused, Err(SocketError::UnsupportedSocketOperation));
    /// server.set_proxy(Proxy::no_proxy());
    /// assert!(server.listen("127.0.0.1".parse().unwrap(), 0).is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_proxy(&self, proxy: crate::proxy::Proxy) {
        self.shared.st.borrow_mut().proxy = proxy;
    }

    /// The proxy setting (see [`WebSocketServer::set_proxy`]):
    /// [`ProxyType::DefaultProxy`] until one is set.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert_eq!(server.proxy().kind(), ProxyType::DefaultProxy);
    /// server.set_proxy(Proxy::no_proxy());
    /// assert_eq!(server.proxy().kind(), ProxyType::NoProxy);
    /// ```
    pub fn proxy(&self) -> crate::proxy::Proxy {
        self.shared.st.borrow().proxy.clone()
    }

    /// Sets how many connections may wait in the kernel to be accepted
    /// (`listen(2)`'s backlog, Qt's `QTcpServer::setListenBacklogSize`), for
    /// the next [`WebSocketServer::listen`]. Default 1024 (Qt: 50): a burst
    /// of clients beyond the backlog waits a second or more for SYN retries.
    /// The kernel caps it at `net.core.somaxconn`.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.listen_backlog_size(), 1024);
    /// server.set_listen_backlog_size(4096);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert_eq!(server.listen_backlog_size(), 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_listen_backlog_size(&self, size: u32) {
        self.shared.st.borrow_mut().listen_backlog = size.min(i32::MAX as u32) as i32;
    }

    /// The backlog the next `listen` uses (see
    /// [`WebSocketServer::set_listen_backlog_size`]); 1024 by default.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert_eq!(server.listen_backlog_size(), 1024);
    /// server.set_listen_backlog_size(u32::MAX); // kept within what listen(2) takes
    /// assert_eq!(server.listen_backlog_size(), i32::MAX as u32);
    /// ```
    pub fn listen_backlog_size(&self) -> u32 {
        self.shared.st.borrow().listen_backlog as u32
    }

    fn close_listener(&self) {
        let l = self.shared.st.borrow_mut().listener.take();
        drop(l);
    }

    /// Listens on a socket made elsewhere: inherited from a parent process
    /// or bound with options of your choosing (Qt's `setSocketDescriptor`,
    /// made safe: the listener is handed over, not a raw descriptor).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = listener.local_addr()?.port();
    /// server.set_listener(listener)?;
    /// assert_eq!(server.server_port(), port);
    /// assert!(server.socket_descriptor().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_listener(&self, listener: std::net::TcpListener) -> io::Result<()> {
        let ev = self
            .shared
            .event_loop()
            .ok_or(io::ErrorKind::NotConnected)?;
        if self.shared.st.borrow().mode == SslMode::SecureMode {
            let built = self.shared.st.borrow().ssl_config.server_config();
            let config =
                built.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            self.shared.st.borrow_mut().tls = Some(config);
        }
        self.close_listener();
        let handler: Weak<dyn IoHandler> = Rc::downgrade(&self.shared) as Weak<dyn IoHandler>;
        let l = RegisteredListener::adopt_std(&ev, listener, handler)?;
        let mut st = self.shared.st.borrow_mut();
        st.listener = Some(l);
        st.closed = false;
        Ok(())
    }

    /// The descriptor of the listening socket (Qt's `socketDescriptor`), for
    /// `getsockopt` and the like; the server still owns it. `None` when not
    /// listening, and on a fake reactor (which has no real sockets).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.socket_descriptor(), None);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert!(server.socket_descriptor().is_some_and(|fd| fd >= 0));
    /// server.close();
    /// assert_eq!(server.socket_descriptor(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn socket_descriptor(&self) -> Option<std::os::fd::RawFd> {
        self.shared
            .st
            .borrow()
            .listener
            .as_ref()
            .and_then(|l| l.raw_fd())
    }

    /// Stops listening and closes every queued (not yet taken) socket with
    /// 1001 "Server closed."; sockets already taken are not touched. `closed`
    /// is emitted on the next loop turn. Dropping the last handle of a server
    /// does the same, without `closed` (already taken sockets live on, unlike
    /// in Qt).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle(); // upgraded and queued, but nobody takes it
    /// server.close();
    /// assert!(!server.is_listening());
    /// reactor.run_until_idle();
    /// assert_eq!(client.close_code(), CloseCode::GoingAway);
    /// assert_eq!(client.close_reason(), "Server closed.");
    /// ```
    pub fn close(&self) {
        self.close_listener();
        self.shared.st.borrow_mut().closed = true;
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
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert!(!server.is_listening());
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert!(server.is_listening());
    /// server.close();
    /// assert!(!server.is_listening());
    /// ```
    pub fn is_listening(&self) -> bool {
        self.shared.st.borrow().listener.is_some()
    }

    /// The address listened on (`None` when not listening).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert_eq!(server.server_address(), None);
    /// server.listen("0.0.0.0".parse().unwrap(), 0).unwrap();
    /// assert_eq!(server.server_address(), Some("0.0.0.0".parse().unwrap()));
    /// ```
    pub fn server_address(&self) -> Option<IpAddr> {
        self.local_addr().map(|a| a.ip())
    }

    /// The port listened on (0 when not listening).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.server_port(), 0);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert_ne!(server.server_port(), 0); // the port the system picked
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn server_port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }

    /// The address and port listened on, together (`None` when not
    /// listening): what [`WebSocketServer::server_address`] and
    /// [`WebSocketServer::server_port`] give one by one, ready to connect
    /// to. An unspecified address (`0.0.0.0`, `::`) is returned as is;
    /// [`WebSocketServer::server_url`] replaces it with the loopback one.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert_eq!(server.server_socket_addr(), None);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap(); // any free port
    /// let addr = server.server_socket_addr().unwrap();
    /// assert_eq!(addr.port(), server.server_port());
    /// let client = reactor.connect_websocket(addr, "/"); // a client of the fake network
    /// assert_eq!(client.upgrade_response().unwrap().status, 101);
    /// ```
    pub fn server_socket_addr(&self) -> Option<SocketAddr> {
        self.local_addr()
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
    /// by the loopback one (as in Qt); `None` when not listening. Being a
    /// [`url::Url`], it prints with a `/` path.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("0.0.0.0".parse().unwrap(), 8080).unwrap();
    /// assert_eq!(server.server_url().unwrap().as_str(), "ws://127.0.0.1:8080/");
    /// ```
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
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.secure_mode(), SslMode::NonSecureMode);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn secure_mode(&self) -> SslMode {
        self.shared.st.borrow().mode
    }

    /// The server's name.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "echo/1.0", SslMode::NonSecureMode);
    /// assert_eq!(server.server_name(), "echo/1.0");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn server_name(&self) -> String {
        self.shared.st.borrow().name.clone()
    }

    /// Sets the server's name (the `Server` header of later 101 responses; no
    /// header when empty). A name with CR or LF makes every upgrade fail with
    /// `500` instead of being sent.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// server.set_server_name("chat/2.1");
    /// assert_eq!(server.server_name(), "chat/2.1");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_server_name(&self, name: &str) {
        self.shared.st.borrow_mut().name = name.to_owned();
    }

    /// True when a connection waits in the queue.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// assert!(!server.has_pending_connections());
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert!(server.has_pending_connections());
    /// ```
    pub fn has_pending_connections(&self) -> bool {
        !self.shared.st.borrow().pending.is_empty()
    }

    /// Takes the oldest queued connection (`None` when there is none); it is
    /// connected already. Messages that arrived with its upgrade request are
    /// delivered on the next loop turn, after you had the chance to connect
    /// slots (Qt loses them).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use std::{cell::RefCell, rc::Rc};
    /// let peer = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap(); // a raw client
    /// peer.write(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    /// peer.send_text("early"); // right behind the request, before any answer
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// let got = Rc::new(RefCell::new(String::new()));
    /// let g = got.clone();
    /// socket.text_message_received().connect(move |_, text| g.borrow_mut().push_str(text));
    /// reactor.run_until_idle();
    /// assert_eq!(*got.borrow(), "early");
    /// ```
    pub fn next_pending_connection(&self) -> Option<WebSocket> {
        let ws = self.shared.st.borrow_mut().pending.pop_front()?;
        ws.shared().taken_from_queue();
        Some(ws)
    }

    /// How many upgraded connections may wait in the queue; more are answered
    /// `503 Service Unavailable` (with `Retry-After: 1`) and `server_error`
    /// reports 1006 "Too many pending connections." (Qt closes them without an
    /// answer). Default 30.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use qwebsocket::SocketError;
    /// server.set_max_pending_connections(0);
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(client.error(), SocketError::ConnectionRefused);
    /// assert_eq!(client.error_string(), "Unhandled http status code: 503 (Service Unavailable).");
    /// ```
    pub fn set_max_pending_connections(&self, n: usize) {
        self.shared.st.borrow_mut().max_pending = n;
    }

    /// The queue limit.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.max_pending_connections(), 30);
    /// server.set_max_pending_connections(100);
    /// assert_eq!(server.max_pending_connections(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_pending_connections(&self) -> usize {
        self.shared.st.borrow().max_pending
    }

    /// How long a client may take to send its upgrade request; `None` waits
    /// forever. Default 10 s. A client that takes longer is disconnected
    /// without a response (as in Qt). Applies to connections accepted later.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use std::time::Duration;
    /// server.set_handshake_timeout(Some(Duration::from_secs(1)));
    /// let silent = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// reactor.advance(Duration::from_millis(999));
    /// assert!(!silent.is_closed_by_library());
    /// reactor.advance(Duration::from_millis(1));
    /// assert!(silent.is_closed_by_library());
    /// ```
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.shared.st.borrow_mut().handshake_timeout = timeout;
    }

    /// The handshake timeout.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.handshake_timeout(), Some(Duration::from_secs(10)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.st.borrow().handshake_timeout
    }

    /// The subprotocols this server speaks; the first of the client's list
    /// found here is chosen (the client's preference wins, as in Qt). A client
    /// asking only for others is still accepted, with no subprotocol.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// server.set_supported_subprotocols(&["chat", "superchat"]);
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.set_requested_subprotocols(&["superchat", "chat"]);
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(client.subprotocol(), "superchat");
    /// ```
    pub fn set_supported_subprotocols(&self, protocols: &[&str]) {
        self.shared.st.borrow_mut().supported_subprotocols =
            protocols.iter().map(|s| s.to_string()).collect();
    }

    /// The subprotocols this server speaks (none by default).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert!(server.supported_subprotocols().is_empty());
    /// server.set_supported_subprotocols(&["mqtt"]);
    /// assert_eq!(server.supported_subprotocols(), ["mqtt"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn supported_subprotocols(&self) -> Vec<String> {
        self.shared.st.borrow().supported_subprotocols.clone()
    }

    /// Accepts permessage-deflate (RFC 7692) from clients that offer it, with
    /// `options` (beyond Qt, which speaks no extension). Off by default, as
    /// in Qt: compression costs memory per connection (about 42 KiB to
    /// inflate, 313 KiB to compress, made when first used) and CPU, for less
    /// traffic. With `CompressionOptions::enabled()` the server accepts every
    /// valid offer, browsers' included. It applies to connections whose
    /// handshake ends after the call; [`WebSocket::compression`] tells what a
    /// connection agreed on.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{CompressionOptions, HandshakeOptions, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// server.set_compression(CompressionOptions::enabled());
    /// let client = WebSocket::new(reactor.event_loop());
    /// let options = HandshakeOptions::new().with_compression(CompressionOptions::enabled());
    /// client.open_with_options("ws://127.0.0.1/", &options).unwrap();
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.compression().unwrap().to_string(), "permessage-deflate");
    /// assert_eq!(client.compression(), socket.compression());
    /// ```
    pub fn set_compression(&self, options: CompressionOptions) {
        self.shared.st.borrow_mut().compression = options.enabled.then(|| Box::new(options));
    }

    /// The permessage-deflate options of [`WebSocketServer::set_compression`],
    /// if compression is on.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, CompressionOptions, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.compression(), None);
    /// server.set_compression(CompressionOptions { level: 6, ..CompressionOptions::enabled() });
    /// assert_eq!(server.compression().unwrap().level, 6);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn compression(&self) -> Option<CompressionOptions> {
        self.shared.st.borrow().compression.as_deref().cloned()
    }

    /// The WebSocket versions spoken: only 13. A request for another version is
    /// answered `426 Upgrade Required` with `Sec-WebSocket-Version: 13`.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// assert_eq!(server.supported_versions(), [13]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn supported_versions(&self) -> &'static [u32] {
        &[13]
    }

    /// Stops accepting new TCP connections (they wait in the kernel's backlog).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use qwebsocket::SocketState;
    /// server.pause_accepting();
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(client.state(), SocketState::Connecting); // nobody reads its request
    /// server.resume_accepting();
    /// reactor.run_until_idle();
    /// assert_eq!(client.state(), SocketState::Connected);
    /// ```
    pub fn pause_accepting(&self) {
        self.shared.st.borrow_mut().paused = true;
    }

    /// Accepts again after [`WebSocketServer::pause_accepting`], starting with
    /// the connections that waited.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// server.pause_accepting(); // e.g. while too many clients are connected
    /// server.resume_accepting();
    /// assert!(server.is_listening()); // it listened all along
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

    /// The largest frame that sockets accepted from now on take (see
    /// [`WebSocket::set_max_allowed_incoming_frame_size`]; default 16 MiB).
    /// Values above [`MAX_INCOMING_SIZE`] are ignored. Not in Qt's server.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// server.set_max_allowed_incoming_frame_size(64 * 1024);
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.max_allowed_incoming_frame_size(), 64 * 1024);
    /// ```
    pub fn set_max_allowed_incoming_frame_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.shared.st.borrow_mut().config.max_frame_size = size;
        }
    }

    /// The largest message that sockets accepted from now on take (see
    /// [`WebSocket::set_max_allowed_incoming_message_size`]; default 64 MiB).
    /// Values above [`MAX_INCOMING_SIZE`] are ignored. Not in Qt's server.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// server.set_max_allowed_incoming_message_size(1 << 20);
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.max_allowed_incoming_message_size(), 1 << 20);
    /// ```
    pub fn set_max_allowed_incoming_message_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.shared.st.borrow_mut().config.max_message_size = size;
        }
    }

    /// The largest upgrade request head accepted, in bytes; a longer one is
    /// refused (400, `error()` 1009) before it is all buffered. Default
    /// [`MAX_HEADER_BLOCK`](crate::protocol::handshake::MAX_HEADER_BLOCK)
    /// (Qt's 800 KiB); lower it to bound what a connection in its handshake
    /// may hold. Not in Qt's server.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::handshake::MAX_HEADER_BLOCK;
    /// assert_eq!(server.max_handshake_size(), MAX_HEADER_BLOCK);
    /// server.set_max_handshake_size(4096);
    /// let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// client.send_upgrade_request("/", &[("Cookie", &"x".repeat(5000))]);
    /// reactor.run_until_idle();
    /// assert_eq!(client.read_handshake_response().unwrap().status, 400);
    /// assert!(!server.has_pending_connections());
    /// ```
    pub fn set_max_handshake_size(&self, size: usize) {
        self.shared.st.borrow_mut().config.max_handshake_size = size;
    }

    /// The largest upgrade request head accepted (see
    /// [`set_max_handshake_size`](Self::set_max_handshake_size)).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// assert_eq!(server.max_handshake_size(), 819_204);
    /// ```
    pub fn max_handshake_size(&self) -> usize {
        self.shared.st.borrow().config.max_handshake_size
    }

    /// The last error as a close code ([`CloseCode::Normal`] before any):
    /// 1002 for an invalid upgrade request, 1009 for a request head that is too
    /// large, 1008 for an origin refused by `origin_authentication_required`,
    /// 1006 for a full queue or a failed `listen`. It stays until the
    /// next error (Qt 6.12 goes back to 1000 after an invalid request).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// assert_eq!(server.error(), CloseCode::Normal);
    /// let peer = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// peer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"); // not an upgrade
    /// reactor.run_until_idle();
    /// assert_eq!(server.error(), CloseCode::ProtocolError);
    /// assert!(peer.take_bytes().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    /// ```
    pub fn error(&self) -> CloseCode {
        self.shared.st.borrow().error
    }

    /// The last error's description (empty before any).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// let peer = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// peer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    /// reactor.run_until_idle();
    /// assert_eq!(server.error_string(), "Missing or invalid Upgrade header (websocket required).");
    /// ```
    pub fn error_string(&self) -> String {
        self.shared.st.borrow().error_string.clone()
    }

    /// Sets the TLS configuration of a secure server: its certificate chain
    /// and key, and whether and how clients present certificates. It applies
    /// from the next `listen()`; in `NonSecureMode` it is kept but unused.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, ssl::SslConfiguration, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "secure", SslMode::SecureMode);
    /// // Without a certificate a secure server cannot listen.
    /// server.set_ssl_configuration(SslConfiguration::default());
    /// assert!(server.listen("127.0.0.1".parse().unwrap(), 0).is_err());
    /// assert!(server.error_string().contains("certificate"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ssl_configuration(&self, config: SslConfiguration) {
        self.shared.st.borrow_mut().ssl_config = config;
    }

    /// The TLS configuration, as set with
    /// [`WebSocketServer::set_ssl_configuration`] (a default one until then).
    /// What a handshake negotiated is in the accepted socket's
    /// [`WebSocket::ssl_configuration`], not here.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// assert!(server.ssl_configuration().local_certificate_chain().is_empty());
    /// let mut tls = SslConfiguration::default();
    /// tls.set_local_certificate_pem(CERT, KEY).unwrap(); // the server's chain and key
    /// tls.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    /// server.set_ssl_configuration(tls);
    /// assert_eq!(server.ssl_configuration().local_certificate_chain().len(), 1);
    /// assert_eq!(server.ssl_configuration().peer_verify_mode(), PeerVerifyMode::QueryPeer);
    /// ```
    pub fn ssl_configuration(&self) -> SslConfiguration {
        self.shared.st.borrow().ssl_config.clone()
    }

    /// Emitted with the problems of a client's certificate, after
    /// `peer_verify_error` for each. With [`PeerVerifyMode::VerifyPeer`]
    /// the TLS handshake failed because of them (or for lack of a
    /// certificate): that client is dropped, no other connection is
    /// disturbed. With [`PeerVerifyMode::QueryPeer`] they are reported after
    /// the handshake and the client is accepted all the same.
    ///
    /// [`PeerVerifyMode::VerifyPeer`]: crate::ssl::PeerVerifyMode::VerifyPeer
    /// [`PeerVerifyMode::QueryPeer`]: crate::ssl::PeerVerifyMode::QueryPeer
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut tls = SslConfiguration::default();
    /// # tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # tls.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    /// # server.set_ssl_configuration(tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example on a fake network, with a self-signed
    /// // certificate (CERT, KEY), and asks clients for a certificate (QueryPeer).
    /// use qwebsocket::ssl::SslErrorKind;
    /// use std::{cell::RefCell, rc::Rc};
    /// let found = Rc::new(RefCell::new(Vec::new()));
    /// let f = found.clone();
    /// server.ssl_errors().connect(move |_, errors| {
    ///     f.borrow_mut().extend(errors.iter().map(|e| e.kind()));
    /// });
    /// // A client that trusts the server, and presents the same self-signed
    /// // certificate as its own, which the server does not trust.
    /// let client = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// client.set_ssl_configuration(tls);
    /// client.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(*found.borrow(), [SslErrorKind::SelfSignedCertificate]);
    /// assert!(server.has_pending_connections()); // QueryPeer only reports
    /// ```
    pub fn ssl_errors(&self) -> &Signal<dyn Fn(&WebSocketServer, &[SslError])> {
        &self.shared.sig.ssl_errors
    }

    /// Emitted, when the configuration has
    /// [`SslConfiguration::set_handshake_must_interrupt_on_error`] on, for a
    /// client certificate problem that stopped a TLS handshake, before
    /// `peer_verify_error` and `ssl_errors`. As in Qt, the server cannot go
    /// on with that handshake: the client is refused.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut tls = SslConfiguration::default();
    /// # tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # tls.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    /// # tls.set_handshake_must_interrupt_on_error(true);
    /// # server.set_ssl_configuration(tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example on a fake network, requires a client
    /// // certificate (VerifyPeer) and interrupts handshakes on errors.
    /// use qwebsocket::ssl::SslErrorKind;
    /// use qwebsocket::SocketState;
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// server.handshake_interrupted_on_error().connect(move |_, e| s.borrow_mut().push(e.kind()));
    /// let client = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap(); // trusts the server; no certificate of its own
    /// client.set_ssl_configuration(tls);
    /// client.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(*seen.borrow(), [SslErrorKind::NoPeerCertificate]);
    /// assert_eq!(client.state(), SocketState::Unconnected);
    /// ```
    pub fn handshake_interrupted_on_error(&self) -> &Signal<dyn Fn(&WebSocketServer, &SslError)> {
        &self.shared.sig.handshake_interrupted_on_error
    }

    /// Emitted for each problem with a client's certificate, before
    /// `ssl_errors` (which then reports all of them at once); see
    /// [`WebSocketServer::ssl_errors`] for when.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut tls = SslConfiguration::default();
    /// # tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # tls.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    /// # server.set_ssl_configuration(tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example on a fake network and requires a
    /// // client certificate (VerifyPeer).
    /// use qwebsocket::ssl::SslErrorKind;
    /// use qwebsocket::SocketState;
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// server.peer_verify_error().connect(move |_, e| s.borrow_mut().push(e.to_string()));
    /// let client = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap(); // no client certificate
    /// client.set_ssl_configuration(tls);
    /// client.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(*seen.borrow(), ["The peer did not present any certificate"]);
    /// assert_eq!(client.state(), SocketState::Unconnected); // refused
    /// ```
    pub fn peer_verify_error(&self) -> &Signal<dyn Fn(&WebSocketServer, &SslError)> {
        &self.shared.sig.peer_verify_error
    }

    /// Emitted for each upgrade request that carries an `Origin` header,
    /// before it is accepted: call `set_allowed(false)` on the authenticator
    /// to refuse the client with `403 Forbidden` (and `server_error(1008)`).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// server.origin_authentication_required().connect(|_, auth| {
    ///     auth.set_allowed(auth.origin() == "https://app.example");
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn origin_authentication_required(
        &self,
    ) -> &Signal<dyn Fn(&WebSocketServer, &CorsAuthenticator)> {
        &self.shared.sig.origin_authentication_required
    }

    /// Upgrades a TCP connection accepted elsewhere (Qt's
    /// `handleConnection`): the server reads its upgrade request and queues
    /// it like its own. No handshake timeout applies, as in Qt.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (accepted, _) = listener.accept()?;
    /// server.handle_connection(accepted)?;
    /// # drop(client);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle_connection(&self, stream: std::net::TcpStream) -> io::Result<()> {
        let ev = self
            .shared
            .event_loop()
            .ok_or(io::ErrorKind::NotConnected)?;
        if self.shared.st.borrow().mode == SslMode::SecureMode
            && self.shared.st.borrow().tls.is_none()
        {
            let built = self.shared.st.borrow().ssl_config.server_config();
            let config =
                built.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            self.shared.st.borrow_mut().tls = Some(config);
        }
        stream.set_nonblocking(true)?;
        let stream = crate::transport::Stream::Tcp(mio::net::TcpStream::from_std(stream));
        self.shared.adopt(&ev, stream, None)
    }

    /// Emitted when an upgraded connection was queued. Take it (and any other
    /// waiting) with [`WebSocketServer::next_pending_connection`].
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use std::{cell::RefCell, rc::Rc};
    /// let clients = Rc::new(RefCell::new(Vec::new()));
    /// let c = clients.clone();
    /// server.new_connection().connect(move |server| {
    ///     while let Some(socket) = server.next_pending_connection() {
    ///         c.borrow_mut().push(socket); // keep it, or connect its slots here
    ///     }
    /// });
    /// WebSocket::new(reactor.event_loop()).open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(clients.borrow().len(), 1);
    /// ```
    pub fn new_connection(&self) -> &Signal<dyn Fn(&WebSocketServer)> {
        &self.shared.sig.new_connection
    }

    /// Emitted with a close code when something went wrong (a bad upgrade
    /// request, which was answered with 400 or 426; a full queue, answered
    /// with 503; a failed listen). Emitted every time, where Qt skips a
    /// repetition of the same error.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use std::{cell::RefCell, rc::Rc};
    /// let errors = Rc::new(RefCell::new(Vec::new()));
    /// let e = errors.clone();
    /// server.server_error().connect(move |server, code| {
    ///     e.borrow_mut().push(format!("{}: {}", code.code(), server.error_string()))
    /// });
    /// let peer = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    /// peer.write(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    /// reactor.run_until_idle();
    /// assert_eq!(*errors.borrow(), ["1002: Unsupported WebSocket version 8 (13 required)."]);
    /// assert!(peer.take_bytes().starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
    /// ```
    pub fn server_error(&self) -> &Signal<dyn Fn(&WebSocketServer, CloseCode)> {
        &self.shared.sig.server_error
    }

    /// Emitted when accepting a TCP connection failed (for example when the
    /// process ran out of file descriptors). The server goes on listening.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// server.accept_error().connect(|_server, error| {
    ///     eprintln!("could not accept a connection: {error}");
    /// });
    /// assert_eq!(server.accept_error().slot_count(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept_error(&self) -> &Signal<dyn Fn(&WebSocketServer, SocketError)> {
        &self.shared.sig.accept_error
    }

    /// Emitted (on the next loop turn) after [`WebSocketServer::close`].
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::{SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// # server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// // `server` listens on 127.0.0.1:80 of a fake network (see `qwebsocket::testing`).
    /// use std::{cell::Cell, rc::Rc};
    /// let closed = Rc::new(Cell::new(false));
    /// let c = closed.clone();
    /// server.closed().connect(move |_| c.set(true));
    /// server.close();
    /// assert!(!closed.get()); // not yet: on the next loop turn
    /// reactor.run_until_idle();
    /// assert!(closed.get());
    /// ```
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
    /// or the HTTP response to send instead. In Qt's order: the pending queue
    /// first (a client refused for a full queue is never the subject of
    /// `origin_authentication_required`), then the origin, then the answer
    /// itself (a newline in the server name).
    pub(crate) fn decide(&self, req: &ServerRequest) -> Result<Decision, Vec<u8>> {
        let (closed, full, subprotocol, name, deflate) = {
            let st = self.st.borrow();
            let deflate = st.compression.as_deref().and_then(|options| {
                server_accept(&req.extensions, options)
                    .map(|(params, answer)| (params, answer, options.clone()))
            });
            (
                st.closed,
                st.pending.len() >= st.max_pending,
                choose_subprotocol(&req.subprotocols, &st.supported_subprotocols)
                    .map(str::to_owned),
                st.name.clone(),
                deflate,
            )
        };
        if closed {
            // The server was closed while this client was still in its handshake.
            return Err(error_response(503, &[]));
        }
        if full {
            self.set_error(
                CloseCode::AbnormalDisconnection,
                "Too many pending connections.".into(),
            );
            return Err(error_response(503, &[("Retry-After", "1")]));
        }
        {
            // As in Qt, for every upgrade (the origin is empty when not sent).
            let auth = CorsAuthenticator::new(req.origin.as_deref().unwrap_or_default());
            if let Some(server) = self.handle() {
                self.sig.origin_authentication_required.emit(&server, &auth);
            }
            if !auth.allowed() {
                self.set_error(CloseCode::PolicyViolated, "Access forbidden.".into());
                return Err(error_response(403, &[]));
            }
        }
        if name.contains(['\r', '\n']) {
            // Qt writes a broken mixed 101/400 answer here; the fault is ours.
            self.set_error(
                CloseCode::AbnormalDisconnection,
                "One of the headers contains a newline. Possible attack detected.".into(),
            );
            return Err(error_response(500, &[]));
        }
        if let Some(b) = name
            .bytes()
            .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            self.set_error(
                CloseCode::AbnormalDisconnection,
                format!(
                    "The server name contains the control character 0x{b:02X}. Possible attack detected."
                ),
            );
            return Err(error_response(500, &[]));
        }
        Ok((subprotocol, name, deflate))
    }

    fn adopt(
        self: &Rc<Self>,
        ev: &EventLoop,
        stream: crate::transport::Stream,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let (config, tls) = {
            let st = self.st.borrow();
            (st.config.clone(), st.tls.clone())
        };
        let shared = Shared::new(ev, Role::Server);
        shared.start_server(ev, stream, Rc::downgrade(self), timeout, config, tls)?;
        // The socket reads its request when the loop reports it readable.
        let weak = Rc::downgrade(&shared);
        ev.post(move |ev| {
            if let Some(s) = weak.upgrade() {
                s.ready(ev, true, true);
            }
        });
        Ok(())
    }

    /// After a TLS handshake in `QueryPeer` mode: report what is wrong with
    /// the client's certificate (the connection goes on).
    pub(crate) fn judge_client_certificate(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'static>],
    ) {
        let errors = {
            let st = self.st.borrow();
            if st.ssl_config.peer_verify_mode() != crate::ssl::PeerVerifyMode::QueryPeer {
                return;
            }
            crate::ssl::client_chain_errors(&st.ssl_config, chain)
        };
        if errors.is_empty() {
            return;
        }
        if let Some(server) = self.handle() {
            for e in &errors {
                self.sig.peer_verify_error.emit(&server, e);
            }
            self.sig.ssl_errors.emit(&server, &errors);
        }
    }

    /// A client's TLS handshake failed.
    pub(crate) fn report_tls_failure(&self, error: SslError) {
        if let Some(server) = self.handle() {
            if self
                .st
                .borrow()
                .ssl_config
                .handshake_must_interrupt_on_error()
            {
                self.sig
                    .handshake_interrupted_on_error
                    .emit(&server, &error);
            }
            self.sig.peer_verify_error.emit(&server, &error);
            self.sig
                .ssl_errors
                .emit(&server, std::slice::from_ref(&error));
        }
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
                    let timeout = self.st.borrow().handshake_timeout;
                    if let Err(e) = self.adopt(ev, stream, timeout) {
                        log::warn!("could not register an accepted connection: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = SocketError::from_io(&e);
                    if let Some(server) = self.handle() {
                        self.sig.accept_error.emit(&server, kind);
                    }
                    // Readiness is edge-triggered: try the backlog again soon
                    // (not at once, so that running out of descriptors cannot spin).
                    let weak = Rc::downgrade(&self);
                    ev.add_timer(Duration::from_millis(100), move |ev| {
                        if let Some(s) = weak.upgrade() {
                            s.ready(ev, true, false);
                        }
                    });
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
