//! [`WebSocket`]: Qt's `QWebSocket`, client and server side.

use crate::SocketError;
use crate::event_loop::EventLoop;
use crate::protocol::session::{MessageKind, SendError};
use crate::protocol::{CloseCode, Role};
use crate::signal::Signal;
use crate::socket::{Shared, build_request};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use crate::proxy::Proxy;
use crate::request::{HandshakeOptions, Request, Version};
use crate::ssl::{SslAlert, SslConfiguration, SslError};
use std::time::Duration;

/// Sends are refused while this many bytes wait to be written (16 MiB),
/// unless changed with [`WebSocket::set_send_queue_limit`].
///
/// ```
/// use qwebsocket::{testing::FakeReactor, WebSocket, DEFAULT_SEND_QUEUE_LIMIT};
/// assert_eq!(DEFAULT_SEND_QUEUE_LIMIT, 16 * 1024 * 1024);
/// let reactor = FakeReactor::new();
/// let ws = WebSocket::new(reactor.event_loop());
/// assert_eq!(ws.send_queue_limit(), Some(DEFAULT_SEND_QUEUE_LIMIT));
/// ```
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 16 << 20;

/// Produces masking keys for the frames a client sends (Qt's
/// `QMaskGenerator`). The default draws from the operating system's
/// random generator; replace it only to reproduce traffic in tests.
///
/// ```
/// use qwebsocket::MaskGenerator;
/// struct Fixed;
/// impl MaskGenerator for Fixed {
///     fn next_mask(&mut self) -> u32 { 0x37fa213d }
/// }
/// assert_eq!(Fixed.next_mask(), 0x37fa213d);
/// ```
pub trait MaskGenerator {
    /// Called once when the generator is installed with
    /// [`WebSocket::set_mask_generator`], before any key is drawn; false if
    /// it could not be seeded (it is used anyway; the failure is logged).
    /// The default does nothing and returns true.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, MaskGenerator, WebSocket};
    /// struct Seeded(u32);
    /// impl MaskGenerator for Seeded {
    ///     fn seed(&mut self) -> bool {
    ///         self.0 = 0x0102_0304; // e.g. from a recorded session
    ///         true
    ///     }
    ///     fn next_mask(&mut self) -> u32 {
    ///         self.0
    ///     }
    /// }
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_mask_generator(Some(Box::new(Seeded(0))));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_binary_message(&[0, 0, 0, 0]);
    /// reactor.run_until_idle();
    /// assert_eq!(server.take_bytes(), [0x82, 0x84, 1, 2, 3, 4, 1, 2, 3, 4]); // zeros masked
    /// ```
    fn seed(&mut self) -> bool {
        true
    }

    /// The next 32-bit masking key, drawn once per frame; applied most
    /// significant byte first. A key of 0 still sets the mask bit (RFC 6455
    /// requires masking; Qt sends such frames unmasked).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, MaskGenerator, WebSocket};
    /// struct Rfc6455Example;
    /// impl MaskGenerator for Rfc6455Example {
    ///     fn next_mask(&mut self) -> u32 {
    ///         0x37fa_213d
    ///     }
    /// }
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_mask_generator(Some(Box::new(Rfc6455Example)));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// let server = reactor.accept_websocket();
    /// ws.send_text_message("Hello");
    /// reactor.run_until_idle();
    /// // The masked "Hello" of RFC 6455, section 5.7.
    /// assert_eq!(
    ///     server.take_bytes(),
    ///     [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    /// );
    /// ```
    fn next_mask(&mut self) -> u32;
}

/// Qt's default outgoing frame size: 512 KiB (524288 bytes).
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, WebSocket, DEFAULT_OUTGOING_FRAME_SIZE};
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// assert_eq!(ws.outgoing_frame_size(), DEFAULT_OUTGOING_FRAME_SIZE);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const DEFAULT_OUTGOING_FRAME_SIZE: usize = 524_288;

/// The largest outgoing frame size that can be set (Qt: `INT_MAX - 1`).
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, WebSocket, DEFAULT_OUTGOING_FRAME_SIZE};
/// use qwebsocket::MAX_OUTGOING_FRAME_SIZE;
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// ws.set_outgoing_frame_size(MAX_OUTGOING_FRAME_SIZE + 1); // refused
/// assert_eq!(ws.outgoing_frame_size(), DEFAULT_OUTGOING_FRAME_SIZE);
/// ws.set_outgoing_frame_size(MAX_OUTGOING_FRAME_SIZE);
/// assert_eq!(ws.outgoing_frame_size(), MAX_OUTGOING_FRAME_SIZE);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const MAX_OUTGOING_FRAME_SIZE: usize = 2_147_483_646;

/// The largest incoming frame or message limit that can be set (Qt: `INT_MAX - 1`,
/// the value of Qt's static `maxIncomingFrameSize()` and `maxIncomingMessageSize()`).
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, WebSocket, MAX_INCOMING_SIZE};
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// ws.set_max_allowed_incoming_message_size(MAX_INCOMING_SIZE + 1); // refused
/// assert_eq!(ws.max_allowed_incoming_message_size(), 64 << 20);
/// ws.set_max_allowed_incoming_message_size(MAX_INCOMING_SIZE);
/// assert_eq!(ws.max_allowed_incoming_message_size(), MAX_INCOMING_SIZE);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const MAX_INCOMING_SIZE: u64 = 2_147_483_646;

/// When a socket stops to let the application decide (Qt's
/// `QAbstractSocket::PauseMode`).
///
/// ```
/// use qwebsocket::PauseMode;
/// assert_eq!(PauseMode::default(), PauseMode::PauseNever);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PauseMode {
    /// Never pause: TLS errors not ignored in the `ssl_errors` slot end the
    /// connection at once.
    #[default]
    PauseNever,
    /// After `ssl_errors`, wait (in `Connecting`) for [`WebSocket::resume`]
    /// if the errors were not ignored.
    PauseOnSslErrors,
}

/// The state of a WebSocket, as Qt's `QAbstractSocket::SocketState` values
/// that a `QWebSocket` takes.
///
/// It is the WebSocket's state, not the TCP connection's: the host lookup,
/// the TCP connect and the opening handshake are all `Connecting`, and
/// `Connected` starts with the server's `101` answer. `Closing` starts as soon
/// as a close frame is sent or received (Qt 6.12 stays `Connected` until the
/// closing handshake is over).
///
/// ```
/// use qwebsocket::SocketState;
/// assert_eq!(SocketState::Connected.qt_value(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketState {
    /// Not connected.
    Unconnected,
    /// Looking up the host, connecting, or in the opening handshake.
    Connecting,
    /// The opening handshake succeeded: messages flow.
    Connected,
    /// The closing handshake has started.
    Closing,
}

impl SocketState {
    /// Qt's numeric value (Unconnected 0, Connecting 2, Connected 3, Closing 6).
    ///
    /// ```
    /// use qwebsocket::SocketState::*;
    /// let values = [Unconnected, Connecting, Connected, Closing].map(|s| s.qt_value());
    /// assert_eq!(values, [0, 2, 3, 6]);
    /// ```
    pub fn qt_value(self) -> i32 {
        match self {
            SocketState::Unconnected => 0,
            SocketState::Connecting => 2,
            SocketState::Connected => 3,
            SocketState::Closing => 6,
        }
    }
}

/// A WebSocket connection: Qt's `QWebSocket`.
///
/// A `WebSocket` is a cheap handle (clone it freely) to one connection's
/// state on one [`EventLoop`]. It emits signals; connect closures to them.
/// Every slot receives the socket as its first argument, so it need not
/// capture a handle (which would keep the socket alive in a cycle).
///
/// While a connection is open, the event loop keeps the socket alive even if
/// you drop every handle; once it is unconnected, the last handle frees it.
///
/// ```no_run
/// use qwebsocket::{event_loop::EventLoop, WebSocket};
///
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// ws.connected().connect(|ws| {
///     ws.send_text_message("Hello, world");
/// });
/// ws.text_message_received().connect(|ws, text| {
///     println!("{text}");
///     ws.close(qwebsocket::CloseCode::Normal, "done").unwrap();
/// });
/// ws.disconnected().connect(|ws| ws.event_loop().unwrap().quit());
/// ws.open("ws://127.0.0.1:8080/")?;
/// ev.run();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WebSocket {
    shared: Rc<Shared>,
}

/// A weak handle to a [`WebSocket`], for capturing in slots of other objects.
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, WebSocket};
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// let weak = ws.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(ws);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct WeakWebSocket {
    shared: Weak<Shared>,
}

impl WeakWebSocket {
    /// The socket, if it still exists: some handle holds it, or its connection
    /// is open (the loop keeps open connections alive).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// let weak = ws.downgrade();
    /// ev.add_timer(Duration::ZERO, move |ev| {
    ///     // The socket was dropped before the timer fired: nothing to do.
    ///     assert!(weak.upgrade().is_none());
    ///     ev.quit();
    /// });
    /// drop(ws);
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn upgrade(&self) -> Option<WebSocket> {
        self.shared.upgrade().map(WebSocket::from_shared)
    }
}

impl fmt::Debug for WeakWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakWebSocket")
    }
}

impl PartialEq for WebSocket {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for WebSocket {}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.st.borrow();
        f.debug_struct("WebSocket")
            .field("role", &st.role)
            .field("state", &st.state)
            .field("url", &st.request_url().map(String::from))
            .field("peer", &st.peer)
            .finish_non_exhaustive()
    }
}

/// Why a `close()` was refused.
///
/// ```
/// use qwebsocket::{event_loop::EventLoop, CloseCode, WebSocket};
/// let ev = EventLoop::new()?;
/// let ws = WebSocket::new(&ev);
/// assert!(ws.close(CloseCode::AbnormalDisconnection, "").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub type CloseError = SendError;

impl WebSocket {
    /// A new, unconnected socket on `ev`, with no origin.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, CloseCode, SocketError, SocketState, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// assert_eq!(ws.error(), SocketError::Unknown);
    /// assert_eq!(ws.close_code(), CloseCode::Normal);
    /// assert_eq!(ws.origin(), "");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(ev: &EventLoop) -> WebSocket {
        WebSocket {
            shared: Shared::new(ev, Role::Client),
        }
    }

    /// A new socket whose upgrade requests carry `Origin: origin` (Qt's
    /// constructor argument).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::with_origin(&ev, "https://example.com");
    /// assert_eq!(ws.origin(), "https://example.com");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_origin(ev: &EventLoop, origin: &str) -> WebSocket {
        let ws = WebSocket::new(ev);
        ws.shared.st.borrow_mut().origin = origin.to_owned();
        ws
    }

    pub(crate) fn from_shared(shared: Rc<Shared>) -> WebSocket {
        WebSocket { shared }
    }

    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// A weak handle that does not keep the socket alive. Capture one in the
    /// slots of *other* objects; a slot of this socket's own signals gets the
    /// socket as its first argument and needs no handle at all.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocket, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// let monitor = WebSocket::new(&ev);
    /// let weak = monitor.downgrade();
    /// server.new_connection().connect(move |_server| {
    ///     if let Some(monitor) = weak.upgrade() {
    ///         monitor.send_text_message("a client arrived");
    ///     }
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn downgrade(&self) -> WeakWebSocket {
        WeakWebSocket {
            shared: Rc::downgrade(&self.shared),
        }
    }

    /// The loop this socket lives on, if it still exists. A socket does not keep
    /// its loop alive. Slots use it to quit the loop or to start timers.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.disconnected().connect(|ws| ws.event_loop().unwrap().quit());
    /// assert!(ws.event_loop().is_some());
    /// drop(ev);
    /// assert!(ws.event_loop().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn event_loop(&self) -> Option<EventLoop> {
        self.shared.event_loop()
    }

    // ----- opening --------------------------------------------------------------

    /// Opens a connection to a `ws://` URL.
    ///
    /// Errors found at once (an invalid URL, an unsupported scheme, CR/LF in
    /// the URL, the origin or a request header) are returned *and* emitted through
    /// `error_occurred` before `open` returns, as in Qt; the state does not
    /// change, and [`WebSocket::error`] and [`WebSocket::error_string`]
    /// report the failure. Otherwise the state becomes `Connecting` (with
    /// `state_changed`, synchronously) and the rest happens on the loop:
    /// `connected` on success, or `disconnected` followed by
    /// `error_occurred` on failure. A previous connection is dropped without
    /// a close frame, without `disconnected`.
    ///
    /// `wss://` runs TLS first, with [`WebSocket::ssl_configuration`]; see
    /// the [`ssl`](crate::ssl) module for the certificate error model.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.error_occurred().connect(|ws, e| eprintln!("{e:?}: {}", ws.error_string()));
    /// let refused = ws.open("http://example.com/"); // emits error_occurred, then returns
    /// assert_eq!(refused, Err(SocketError::UnsupportedSocketOperation));
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ws.open("ws://127.0.0.1:8080/chat").unwrap();
    /// assert_eq!(ws.state(), SocketState::Connecting); // the rest happens on the loop
    /// ```
    pub fn open(&self, url: &str) -> Result<(), SocketError> {
        let parsed = match url::Url::parse(url) {
            Ok(u) if !url.contains(['\r', '\n']) => u,
            _ => return self.refuse_open(SocketError::ConnectionRefused, "Invalid URL.".into()),
        };
        self.open_url(parsed)
    }

    /// Like [`WebSocket::open`], with a parsed URL.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let mut url = url::Url::parse("ws://127.0.0.1/search").unwrap();
    /// url.query_pairs_mut().append_pair("q", "a b");
    /// ws.open_url(url).unwrap();
    /// assert_eq!(ws.resource_name(), "/search?q=a+b");
    /// assert_eq!(ws.state(), SocketState::Connecting);
    /// ```
    pub fn open_url(&self, url: url::Url) -> Result<(), SocketError> {
        let secure = match url.scheme() {
            "ws" => false,
            "wss" => true,
            other => {
                return self.refuse_open(
                    SocketError::UnsupportedSocketOperation,
                    format!("Unsupported WebSocket scheme: {other}"),
                );
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return self.refuse_open(SocketError::ConnectionRefused, "Invalid URL.".into());
        }
        let request = {
            let st = self.shared.st.borrow();
            build_request(
                &url,
                &st.origin,
                &st.requested_subprotocols,
                &st.extra_headers,
                st.compression.as_deref(),
            )
        };
        let tls = if secure {
            let st = self.shared.st.borrow();
            let found = Arc::new(Mutex::new(Vec::new()));
            let host = url.host_str().unwrap_or_default();
            let ssl_config = st.ssl_config();
            let built = ssl_config.client_config(found.clone()).and_then(|config| {
                crate::ssl::server_name(&ssl_config, host).map(|name| (config, name))
            });
            drop(ssl_config);
            drop(st);
            match built {
                Ok((config, name)) => Some((config, name, found)),
                Err(e) => return self.refuse_open(SocketError::SslInvalidUserData, e.to_string()),
            }
        } else {
            None
        };
        match request {
            Ok(req) => {
                {
                    let mut st = self.shared.st.borrow_mut();
                    st.auth_tried = false;
                    let setting = st
                        .proxying
                        .as_ref()
                        .map_or_else(Proxy::default, |p| p.setting.clone());
                    let via = self
                        .shared
                        .event_loop()
                        .and_then(|ev| ev.effective_proxy(&setting, &url));
                    if via.is_some() || st.proxying.is_some() {
                        let p = st.proxying();
                        p.auth_tried = false;
                        p.via = via;
                    }
                }
                self.shared.start_client(url, req, tls);
                Ok(())
            }
            Err(msg) => self.refuse_open(SocketError::ConnectionRefused, msg),
        }
    }

    fn refuse_open(&self, kind: SocketError, message: String) -> Result<(), SocketError> {
        {
            let mut st = self.shared.st.borrow_mut();
            st.error = kind;
            st.error_string = message;
        }
        self.shared.sig.error_occurred.emit(self, kind);
        Err(kind)
    }

    /// Opens a connection with the URL and headers of `request` (Qt's
    /// `open(QNetworkRequest)`); the headers replace those added before.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, Request, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let request = Request::new("ws://127.0.0.1/feed".parse().unwrap()).with_header("X-Token", "t1");
    /// ws.open_request(&request).unwrap();
    /// assert_eq!(ws.request().header("x-token"), Some("t1"));
    /// ```
    pub fn open_request(&self, request: &Request) -> Result<(), SocketError> {
        self.shared.st.borrow_mut().extra_headers = request.headers().to_vec();
        self.open_url(request.url().clone())
    }

    /// Opens `url` with handshake options (Qt's `open(QUrl, QWebSocketHandshakeOptions)`).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, HandshakeOptions, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let options = HandshakeOptions::new().with_subprotocols(&["chat"]);
    /// ws.open_with_options("ws://127.0.0.1/", &options).unwrap();
    /// assert_eq!(ws.handshake_options(), options);
    /// ```
    pub fn open_with_options(
        &self,
        url: &str,
        options: &HandshakeOptions,
    ) -> Result<(), SocketError> {
        {
            let mut st = self.shared.st.borrow_mut();
            st.requested_subprotocols = options.subprotocols().to_vec();
            st.compression = options.compression().cloned().map(Box::new);
        }
        self.open(url)
    }

    /// Opens a connection with the URL and headers of `request` and the
    /// subprotocols of `options` (Qt's `open(QNetworkRequest,
    /// QWebSocketHandshakeOptions)`): [`WebSocket::open_request`] and
    /// [`WebSocket::open_with_options`] in one call. Fails as
    /// [`WebSocket::open`] does.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, HandshakeOptions, Request, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let request = Request::new("ws://127.0.0.1/feed".parse().unwrap()).with_header("X-Token", "t1");
    /// let options = HandshakeOptions::new().with_subprotocols(&["feed.v2", "feed.v1"]);
    /// ws.open_request_with_options(&request, &options).unwrap();
    /// let server = reactor.accept_websocket_with(Some("feed.v1"));
    /// let sent = server.upgrade_request().unwrap();
    /// assert_eq!(sent.target, "/feed");
    /// assert!(sent.headers.contains(&("X-Token".to_owned(), "t1".to_owned())));
    /// assert_eq!(sent.subprotocols, ["feed.v2", "feed.v1"]);
    /// assert_eq!(ws.subprotocol(), "feed.v1");
    /// ```
    pub fn open_request_with_options(
        &self,
        request: &Request,
        options: &HandshakeOptions,
    ) -> Result<(), SocketError> {
        {
            let mut st = self.shared.st.borrow_mut();
            st.requested_subprotocols = options.subprotocols().to_vec();
            st.compression = options.compression().cloned().map(Box::new);
        }
        self.open_request(request)
    }

    /// The request of the last `open` (client: its URL and the headers you
    /// added, not those the socket adds), or the request the client sent
    /// (server side: the absolute URL, built from the `Host` header and the
    /// request target, and every header as received). Before any, an empty
    /// request for `ws://invalid/`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 8080).unwrap();
    /// reactor.connect_websocket_with("127.0.0.1:8080".parse().unwrap(), "/chat?room=7", &[("X-Token", "t1")]);
    /// let socket = server.next_pending_connection().unwrap();
    /// let request = socket.request();
    /// assert_eq!(request.url().as_str(), "ws://127.0.0.1:8080/chat?room=7");
    /// assert_eq!(request.header("x-token"), Some("t1"));
    /// assert_eq!(request.header("Upgrade"), Some("websocket"));
    /// ```
    pub fn request(&self) -> Request {
        let st = self.shared.st.borrow();
        let url = st
            .request_url()
            .unwrap_or_else(|| url::Url::parse("ws://invalid/").expect("a valid constant URL"));
        let mut r = Request::new(url);
        match st.server_head.as_deref().map(server_request) {
            Some(req) => {
                for (n, v) in req.map(|req| req.headers).unwrap_or_default() {
                    r.append_header(&n, &v);
                }
            }
            None => {
                for (n, v) in &st.extra_headers {
                    r.append_header(n, v);
                }
            }
        }
        r
    }

    /// The handshake options of the last `open`, or of
    /// [`WebSocket::set_requested_subprotocols`] (server side: the
    /// subprotocols the client asked for, in its order, whichever was
    /// chosen).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.set_supported_subprotocols(&["chat"]);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// reactor.connect_websocket_with(
    ///     "127.0.0.1:80".parse().unwrap(), "/", &[("Sec-WebSocket-Protocol", "chat.v2, chat")]);
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.handshake_options().subprotocols(), ["chat.v2", "chat"]);
    /// assert_eq!(socket.subprotocol(), "chat");
    /// ```
    pub fn handshake_options(&self) -> HandshakeOptions {
        let mut o = HandshakeOptions::new();
        let st = self.shared.st.borrow();
        o.set_subprotocols(st.requested_subprotocols.clone());
        if let Some(c) = st.compression.as_deref() {
            o = o.with_compression(c.clone());
        }
        o
    }

    /// The permessage-deflate parameters this connection agreed on (RFC
    /// 7692), or `None` when it is not compressed: not offered
    /// ([`HandshakeOptions::with_compression`]), not accepted
    /// ([`WebSocketServer::set_compression`](crate::WebSocketServer::set_compression)),
    /// or not connected. Its `Display` is the extension entry the server
    /// answered with (parameters at their defaults left out).
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::{CompressionOptions, HandshakeOptions, SslMode, WebSocket, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.set_compression(CompressionOptions { server_no_context_takeover: true, ..CompressionOptions::enabled() });
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = WebSocket::new(reactor.event_loop());
    /// assert_eq!(client.compression(), None);
    /// let options = HandshakeOptions::new().with_compression(CompressionOptions::enabled());
    /// client.open_with_options("ws://127.0.0.1/", &options).unwrap();
    /// reactor.run_until_idle();
    /// let params = client.compression().unwrap();
    /// assert!(params.server_no_context_takeover);
    /// assert_eq!(params.to_string(), "permessage-deflate; server_no_context_takeover");
    /// ```
    pub fn compression(&self) -> Option<crate::protocol::DeflateParams> {
        self.shared
            .st
            .borrow()
            .session
            .as_ref()
            .and_then(|s| s.compression())
    }

    /// The protocol version: always 13 ([`Version::V13`], RFC 6455), the
    /// only one spoken, on both sides.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, Version, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.version(), Version::V13);
    /// assert_eq!(ws.version().number(), Some(13));
    /// ```
    pub fn version(&self) -> Version {
        Version::V13
    }

    /// Sets the subprotocols to request on the next [`WebSocket::open`], in
    /// order of preference (`Sec-WebSocket-Protocol`).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.set_requested_subprotocols(&["chat.v2", "chat"]);
    /// assert_eq!(ws.requested_subprotocols(), ["chat.v2", "chat"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_requested_subprotocols(&self, protocols: &[&str]) {
        self.shared.st.borrow_mut().requested_subprotocols =
            protocols.iter().map(|s| s.to_string()).collect();
    }

    /// The subprotocols requested (client) or offered by the client (server side).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.set_requested_subprotocols(&["chat.v2", "chat"]);
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.requested_subprotocols(), ["chat.v2", "chat"]);
    /// ```
    pub fn requested_subprotocols(&self) -> Vec<String> {
        self.shared.st.borrow().requested_subprotocols.clone()
    }

    /// Adds a header to send with the upgrade requests of later
    /// [`WebSocket::open`] calls, after the crate's own headers. The name is
    /// sent as given (Qt 6.12 lower-cases it). A `Host` header replaces the
    /// computed one; the entries of a `Sec-WebSocket-Protocol` header join the
    /// requested subprotocols. A CR or LF in the name or value makes `open()`
    /// fail. Headers accumulate: there is no way to remove one yet.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.add_request_header("Authorization", "Bearer abc");
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let peer = reactor.next_connection().unwrap();
    /// peer.accept();
    /// reactor.run_until_idle();
    /// let request = peer.accept_handshake().unwrap();
    /// assert!(request.headers.contains(&("Authorization".into(), "Bearer abc".into())));
    /// ```
    pub fn add_request_header(&self, name: &str, value: &str) {
        self.shared
            .st
            .borrow_mut()
            .extra_headers
            .push((name.to_owned(), value.to_owned()));
    }

    /// How long the client waits from `open()` to the server's `101`
    /// (lookup, connect and handshake); `None` waits forever. Default 10 s
    /// (Qt's client has no such timeout). When it expires the socket becomes
    /// unconnected and reports [`SocketError::SocketTimeout`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, SocketState, WebSocket};
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_handshake_timeout(Some(Duration::from_secs(2)));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.advance(Duration::from_secs(2)); // nobody answers the TCP connect
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// assert_eq!(ws.error(), SocketError::SocketTimeout);
    /// ```
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.shared.st.borrow_mut().handshake_timeout = timeout;
    }

    /// The client handshake timeout.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert_eq!(ws.handshake_timeout(), Some(Duration::from_secs(10)));
    /// ws.set_handshake_timeout(None);
    /// assert_eq!(ws.handshake_timeout(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.st.borrow().handshake_timeout
    }

    // ----- proxy -------------------------------------------------------------

    /// Sets the proxy for the next [`open`](WebSocket::open) (Qt's
    /// `setProxy`). The default, [`Proxy::default()`], is
    /// [`ProxyType::DefaultProxy`](crate::proxy::ProxyType::DefaultProxy): the
    /// loop's application proxy, or none. See [`crate::proxy`] for what is
    /// supported and how each failure is reported.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::WebSocket;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_proxy(Proxy::socks5("127.0.0.1", 1080));
    /// ws.open("ws://chat.example/").unwrap(); // the proxy resolves chat.example
    /// reactor.run_until_idle();
    /// let proxy = reactor.next_connection().unwrap();
    /// assert_eq!(proxy.addr().port(), 1080);
    /// proxy.accept();
    /// reactor.run_until_idle();
    /// assert_eq!(proxy.take_bytes(), [5, 2, 0, 2]); // SOCKS5: no auth or user/password
    /// ```
    pub fn set_proxy(&self, proxy: Proxy) {
        self.shared.st.borrow_mut().proxying().setting = proxy;
    }

    /// The proxy setting.
    ///
    /// ```
    /// use qwebsocket::proxy::ProxyType;
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert_eq!(ws.proxy().kind(), ProxyType::DefaultProxy);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn proxy(&self) -> Proxy {
        let st = self.shared.st.borrow();
        st.proxying
            .as_ref()
            .map_or_else(Proxy::default, |p| p.setting.clone())
    }

    /// Sets how long a proxy may take, from `open` until the tunnel to the
    /// server is open (looking up and connecting to the proxy included);
    /// after that the socket fails with
    /// [`SocketError::ProxyConnectionTimeout`]. `None` sets no limit of its
    /// own (the [handshake timeout](WebSocket::set_handshake_timeout) still
    /// applies). Default: 30 s.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::{SocketError, WebSocket};
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_proxy(Proxy::http("127.0.0.1", 3128));
    /// ws.set_proxy_timeout(Some(Duration::from_secs(2)));
    /// ws.open("ws://127.0.0.1:9000/").unwrap();
    /// reactor.run_until_idle();
    /// let proxy = reactor.next_connection().unwrap();
    /// proxy.accept(); // ... and never answers
    /// reactor.advance(Duration::from_secs(2));
    /// assert_eq!(ws.error(), SocketError::ProxyConnectionTimeout);
    /// ```
    pub fn set_proxy_timeout(&self, timeout: Option<Duration>) {
        self.shared.st.borrow_mut().proxying().timeout = timeout;
    }

    /// The proxy timeout (see [`WebSocket::set_proxy_timeout`]).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// assert_eq!(WebSocket::new(&ev).proxy_timeout(), Some(Duration::from_secs(30)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn proxy_timeout(&self) -> Option<Duration> {
        let st = self.shared.st.borrow();
        st.proxying
            .as_ref()
            .map_or(Some(crate::socket::DEFAULT_PROXY_TIMEOUT), |p| p.timeout)
    }

    /// Emitted when the proxy asks for credentials that the proxy setting
    /// does not have, or refuses those it has (HTTP `407`; SOCKS5 method
    /// 0x02, or a refused username/password): fill in the authenticator in
    /// the slot and the socket tries once more, on a new connection, with
    /// them (Qt's `proxyAuthenticationRequired`). It is emitted at most once
    /// per `open`; without credentials from the slot the socket fails with
    /// [`SocketError::ProxyAuthenticationRequired`]. The realm is the HTTP
    /// challenge's (empty for SOCKS5). The proxy passed is the one in use,
    /// with the user it tried.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.proxy_authentication_required().connect(|_ws, proxy, auth| {
    ///     eprintln!("{}:{} wants credentials for {:?}", proxy.host_name(), proxy.port(), auth.realm());
    ///     auth.set_user("ann");
    ///     auth.set_password("secret");
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn proxy_authentication_required(
        &self,
    ) -> &Signal<dyn Fn(&WebSocket, &Proxy, &crate::Authenticator)> {
        &self.shared.sig.proxy_authentication_required
    }

    // ----- TLS ---------------------------------------------------------------

    /// The TLS configuration used by the next `wss://` open; after a TLS
    /// handshake it also tells the peer's chain, version and cipher.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert!(ws.ssl_configuration().uses_default_roots());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ssl_configuration(&self) -> SslConfiguration {
        self.shared.st.borrow().ssl_config().into_owned()
    }

    /// Sets the TLS configuration for the next `wss://` open (trusted CAs,
    /// client certificate, verify mode, versions).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, ssl::SslConfiguration, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// let mut config = SslConfiguration::default();
    /// config.set_use_default_roots(false);
    /// ws.set_ssl_configuration(config);
    /// assert!(!ws.ssl_configuration().uses_default_roots());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ssl_configuration(&self, config: SslConfiguration) {
        self.shared.st.borrow_mut().ssl_config = Some(Box::new(config));
    }

    /// Ignores every TLS certificate error of the current handshake (call it
    /// in a slot of `ssl_errors`, or while paused) or, called before
    /// `open()`, of the next one. It is used up by the handshake it applies
    /// to. Only for tests and private networks: it accepts any server.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.ssl_errors().connect(|ws, errors| {
    ///     eprintln!("accepting a server with {} certificate problems", errors.len());
    ///     ws.ignore_ssl_errors();
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ignore_ssl_errors(&self) {
        self.shared.st.borrow_mut().ignore_all_ssl = true;
    }

    /// Ignores exactly these errors (same kind, and the same certificate
    /// when one is given), for every later handshake, replacing any list set
    /// before. Ignoring one kind never ignores another.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// use qwebsocket::ssl::{SslError, SslErrorKind};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// // A development server with a self-signed certificate for "localhost".
    /// ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::SelfSignedCertificate, None)]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ignore_ssl_errors_list(&self, errors: &[SslError]) {
        self.shared.st.borrow_mut().ignore_ssl_list = errors.to_vec();
    }

    /// Sets when the socket pauses (before `open()`).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, PauseMode, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    /// assert_eq!(ws.pause_mode(), PauseMode::PauseOnSslErrors);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_pause_mode(&self, mode: PauseMode) {
        self.shared.st.borrow_mut().pause_mode = mode;
    }

    /// The pause mode ([`PauseMode::PauseNever`] by default). With
    /// [`PauseMode::PauseOnSslErrors`], a connection whose TLS errors were
    /// not ignored in the `ssl_errors` slot waits in `Connecting` until
    /// [`WebSocket::resume`].
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{PauseMode, SocketState};
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.pause_mode(), PauseMode::PauseNever);
    /// ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    /// ws.open("wss://doc.example/").unwrap(); // does not trust the server
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connecting); // paused: ask the user, say
    /// ws.ignore_ssl_errors();
    /// ws.resume();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn pause_mode(&self) -> PauseMode {
        self.shared.st.borrow().pause_mode
    }

    /// Continues a connection paused on TLS errors: it goes on if the errors
    /// are ignored by now, and fails with `SslHandshakeFailed` otherwise.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.resume(); // not paused: nothing happens
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resume(&self) {
        self.shared.resume();
    }

    /// Lets an interrupted TLS handshake go on (call it in a slot of
    /// `handshake_interrupted_on_error`); see
    /// [`SslConfiguration::set_handshake_must_interrupt_on_error`].
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.handshake_interrupted_on_error().connect(|ws, error| {
    ///     eprintln!("going on despite: {error}");
    ///     ws.continue_interrupted_handshake();
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn continue_interrupted_handshake(&self) {
        self.shared.st.borrow_mut().continue_interrupted = true;
    }

    /// Emitted for each certificate error when the configuration asks the
    /// handshake to stop on errors
    /// ([`SslConfiguration::set_handshake_must_interrupt_on_error`]), before
    /// `peer_verify_error` and `ssl_errors`; the handshake fails unless the
    /// slot calls [`WebSocket::continue_interrupted_handshake`]. Going on
    /// still needs the errors ignored, as always.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::SslErrorKind;
    /// use qwebsocket::SocketState;
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.set_handshake_must_interrupt_on_error(true);
    /// ws.set_ssl_configuration(tls);
    /// ws.handshake_interrupted_on_error().connect(|ws, error| {
    ///     // A development server: go on past its self-signed certificate only.
    ///     if error.kind() == SslErrorKind::SelfSignedCertificate {
    ///         ws.ignore_ssl_errors();
    ///         ws.continue_interrupted_handshake();
    ///     }
    /// });
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn handshake_interrupted_on_error(&self) -> &Signal<dyn Fn(&WebSocket, &SslError)> {
        &self.shared.sig.handshake_interrupted_on_error
    }

    /// Emitted for each TLS alert this side sent, as far as rustls tells:
    /// `close_notify` when the connection ends (after `read_channel_finished`,
    /// as in Qt), and the fatal alert that goes with a failed handshake.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{ssl::SslAlert, CloseCode};
    /// use std::{cell::RefCell, rc::Rc};
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// ws.set_ssl_configuration(tls);
    /// let sent = Rc::new(RefCell::new(Vec::new()));
    /// let s = sent.clone();
    /// ws.alert_sent().connect(move |_, alert| s.borrow_mut().push(alert.clone()));
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// let _accepted = server.next_pending_connection().unwrap();
    /// ws.close(CloseCode::Normal, "bye").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(*sent.borrow(), [SslAlert::close_notify()]);
    /// ```
    pub fn alert_sent(&self) -> &Signal<dyn Fn(&WebSocket, &SslAlert)> {
        &self.shared.sig.alert_sent
    }

    /// Emitted for each TLS alert received from the peer (`close_notify`, or
    /// a fatal alert that ends the handshake).
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server_tls.set_peer_verify_mode(qwebsocket::ssl::PeerVerifyMode::VerifyPeer);
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// // It requires a client certificate, which this client does not have.
    /// use qwebsocket::ssl::AlertLevel;
    /// use std::{cell::RefCell, rc::Rc};
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// ws.set_ssl_configuration(tls);
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let r = received.clone();
    /// ws.alert_received().connect(move |_, alert| r.borrow_mut().push(alert.clone()));
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// let alert = received.borrow()[0].clone();
    /// assert_eq!((alert.level, alert.code, alert.description.as_str()), (AlertLevel::Fatal, 116, "CertificateRequired"));
    /// ```
    pub fn alert_received(&self) -> &Signal<dyn Fn(&WebSocket, &SslAlert)> {
        &self.shared.sig.alert_received
    }

    /// Emitted when the server answers `401` with a Basic challenge and the
    /// URL carried no user info: fill in the authenticator's user and
    /// password in the slot to retry once (Qt 6.12's `authenticationRequired`).
    /// Without them the socket fails with "Host requires authentication".
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.authentication_required().connect(|_, auth| {
    ///     auth.set_user("ann");
    ///     auth.set_password("secret");
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn authentication_required(&self) -> &Signal<dyn Fn(&WebSocket, &crate::Authenticator)> {
        &self.shared.sig.authentication_required
    }

    /// Emitted with every problem found with the server's certificate chain,
    /// after `peer_verify_error` for each and before any WebSocket byte is
    /// sent. Call [`WebSocket::ignore_ssl_errors`] in the slot to go on;
    /// otherwise the socket fails with `SslHandshakeFailed` (or pauses, see
    /// [`WebSocket::pause_mode`]). Not emitted when there is no problem.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::{Certificate, SslErrorKind};
    /// use qwebsocket::SocketState;
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let known = Certificate::from_pem(CERT).unwrap().remove(0); // pinned
    /// ws.ssl_errors().connect(move |ws, errors| {
    ///     let only_ours = errors.iter().all(|e| {
    ///         e.kind() == SslErrorKind::SelfSignedCertificate && e.certificate() == Some(&known)
    ///     });
    ///     if only_ours {
    ///         ws.ignore_ssl_errors();
    ///     }
    /// });
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn ssl_errors(&self) -> &Signal<dyn Fn(&WebSocket, &[SslError])> {
        &self.shared.sig.ssl_errors
    }

    /// Emitted once for each problem with the server's certificate, before
    /// `ssl_errors` (which then reports all of them at once): the host name
    /// first, then trust, then dates.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::ssl::SslConfiguration;
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::SslErrorKind;
    /// use std::{cell::RefCell, rc::Rc};
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let kinds = Rc::new(RefCell::new(Vec::new()));
    /// let k = kinds.clone();
    /// ws.peer_verify_error().connect(move |_, e| k.borrow_mut().push(e.kind()));
    /// ws.open("wss://10.0.0.1/").unwrap(); // an address the certificate does not name
    /// reactor.run_until_idle();
    /// assert_eq!(
    ///     *kinds.borrow(),
    ///     [SslErrorKind::HostNameMismatch, SslErrorKind::SelfSignedCertificate]
    /// );
    /// ```
    pub fn peer_verify_error(&self) -> &Signal<dyn Fn(&WebSocket, &SslError)> {
        &self.shared.sig.peer_verify_error
    }

    // ----- sending ----------------------------------------------------------------

    /// Sends a text message; returns the payload bytes queued (its UTF-8
    /// length), or 0 when not connected (also while `Connecting` and once
    /// `Closing`). The message is split into frames of
    /// [`WebSocket::outgoing_frame_size`] bytes. Frames leave when control
    /// returns to the loop (or on [`WebSocket::flush`]).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// assert_eq!(ws.send_text_message("héllo"), 6); // UTF-8 bytes
    /// reactor.run_until_idle(); // the frame leaves when control returns to the loop
    /// assert_eq!(peer.frames()[0].text(), Some("héllo"));
    /// ws.close(CloseCode::Normal, "").unwrap();
    /// assert_eq!(ws.send_text_message("too late"), 0);
    /// ```
    pub fn send_text_message(&self, text: &str) -> usize {
        self.shared.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message; returns the payload bytes queued, or 0 when
    /// not connected.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// assert_eq!(ws.send_binary_message(&[1, 2, 3]), 3);
    /// reactor.run_until_idle();
    /// let frame = &peer.frames()[0];
    /// assert_eq!(frame.opcode, OpCode::Binary);
    /// assert_eq!(frame.payload, [1, 2, 3]);
    /// assert!(frame.masked); // a client masks every frame
    /// ```
    pub fn send_binary_message(&self, data: &[u8]) -> usize {
        self.shared.send(MessageKind::Binary, data)
    }

    /// Sends a ping with `payload` (cut to 125 bytes). The `pong` signal
    /// reports the answer with the time elapsed. Returns false, sending
    /// nothing, when the socket is not connected (Qt sends the ping anyway,
    /// even in front of its upgrade request).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// let unconnected = WebSocket::new(reactor.event_loop());
    /// assert!(!unconnected.ping(b"hello"));
    /// assert!(ws.ping(b"hello"));
    /// reactor.run_until_idle();
    /// assert_eq!(peer.frames()[0].opcode, OpCode::Ping);
    /// ```
    pub fn ping(&self, payload: &[u8]) -> bool {
        self.shared.ping(payload)
    }

    /// Writes as much of the queued output as the socket takes now, without
    /// waiting for the loop; true if anything was written (Qt's `flush()`
    /// returns true when there is no socket; this one returns false).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// ws.send_text_message("now");
    /// assert!(ws.bytes_to_write() > 0);
    /// assert!(ws.flush());
    /// assert_eq!(ws.bytes_to_write(), 0);
    /// assert_eq!(peer.frames()[0].text(), Some("now"));
    /// ```
    pub fn flush(&self) -> bool {
        self.shared.flush_now()
    }

    /// Bytes queued and not yet written to the socket (frame headers and the
    /// upgrade request included). Sends are refused above
    /// [`WebSocket::send_queue_limit`]; a producer paces itself with this and
    /// the `bytes_written` signal.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_eq!(ws.bytes_to_write(), 0);
    /// ws.send_text_message("hi");
    /// assert_eq!(ws.bytes_to_write(), 8); // 2 header bytes, 4 of mask, 2 of payload
    /// reactor.run_until_idle();
    /// assert_eq!(ws.bytes_to_write(), 0);
    /// ```
    pub fn bytes_to_write(&self) -> usize {
        self.shared.queued_bytes()
    }

    // ----- closing ------------------------------------------------------------------

    /// Starts the closing handshake with `code` and `reason` (cut to 123 bytes
    /// on a character boundary). `about_to_close` and
    /// `state_changed(Closing)` are emitted before `close` returns; nothing can
    /// be sent any more. When the peer's close frame arrives (or after the
    /// close timeout) the connection ends with `disconnected`; a client also
    /// waits for the server to end TCP first (RFC 6455 §7.1.1), for at most the
    /// close timeout. Codes that may not be sent on the wire (1005, 1006, 1015,
    /// below 1000, 1016–2999, 5000 and up) are refused with
    /// [`SendError::InvalidCloseCode`](crate::protocol::session::SendError::InvalidCloseCode).
    /// Closing a socket that is still connecting drops the connection; closing
    /// an unconnected or closing one does nothing.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{CloseCode, SocketState};
    /// assert!(ws.close(CloseCode::AbnormalDisconnection, "").is_err()); // never sent
    /// ws.close(CloseCode::Normal, "bye").unwrap();
    /// assert_eq!(ws.state(), SocketState::Closing);
    /// reactor.run_until_idle();
    /// assert_eq!(peer.frames()[0].close_status(), Some((CloseCode::Normal, "bye".into())));
    /// peer.send_close(Some((1000, "bye"))); // the server answers...
    /// peer.shutdown(); // ...and ends TCP
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ```
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), CloseError> {
        self.shared.close(code, reason)
    }

    /// Drops the connection at once, without a closing handshake. Queued
    /// output is discarded. An open connection emits `about_to_close`, then
    /// `state_changed(Unconnected)`, `disconnected` and
    /// `read_channel_finished`, all before `abort` returns.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::SocketState;
    /// ws.send_text_message("never sent");
    /// ws.abort();
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// reactor.run_until_idle();
    /// assert!(peer.frames().is_empty()); // no message, no close frame
    /// assert!(peer.is_closed_by_library());
    /// ```
    pub fn abort(&self) {
        self.shared.abort_with(None, false);
    }

    /// The close code of the last connection: the code given to `close()` when
    /// this side closed first; the peer's when it did (1005,
    /// [`CloseCode::MissingStatusCode`], for a close frame without a code, which
    /// is echoed empty); the code of the error when the peer broke the protocol
    /// or a limit (1002, 1007, 1009…) or the incomplete-frame timeout fired
    /// (1001); 1006 when the connection was lost without a closing handshake
    /// (Qt leaves 1000). 1000 before any close; not reset by `open()`.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// assert_eq!(ws.close_code(), CloseCode::Normal);
    /// peer.send_close(None); // a close frame without a status code
    /// reactor.run_until_idle();
    /// assert_eq!(ws.close_code(), CloseCode::MissingStatusCode); // Qt says 1000
    /// assert!(peer.frames()[0].payload.is_empty()); // echoed empty
    /// ```
    pub fn close_code(&self) -> CloseCode {
        self.shared.st.borrow().close_code
    }

    /// The reason that went with [`WebSocket::close_code`] (for an error: the
    /// same text as [`WebSocket::error_string`]).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// peer.send_close(Some((1001, "going home")));
    /// reactor.run_until_idle();
    /// assert_eq!(ws.close_code(), CloseCode::GoingAway);
    /// assert_eq!(ws.close_reason(), "going home");
    /// ```
    pub fn close_reason(&self) -> String {
        self.shared.st.borrow().close_reason.clone()
    }

    // ----- state ------------------------------------------------------------------------

    /// The WebSocket state (see [`SocketState`]).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// assert_eq!(ws.state(), SocketState::Connecting);
    /// ws.abort();
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ```
    pub fn state(&self) -> SocketState {
        self.shared.st.borrow().state
    }

    /// True when connected (the opening handshake succeeded and the closing
    /// one has not started).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// assert!(ws.is_valid());
    /// ws.close(CloseCode::Normal, "").unwrap();
    /// assert!(!ws.is_valid()); // closing already
    /// ```
    pub fn is_valid(&self) -> bool {
        self.state() == SocketState::Connected
    }

    /// The last error's kind ([`SocketError::Unknown`] before any). Unlike Qt's
    /// `error()`, which only reflects the TCP socket, it also records
    /// WebSocket-level failures: a failed opening handshake, a timeout, a
    /// protocol violation by the peer ([`SocketError::Protocol`]). An error
    /// that [`WebSocket::open`] returns at once leaves it unchanged (as in Qt).
    /// It is not cleared by a new `open()`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.error(), SocketError::Unknown);
    /// ws.open("ws://nowhere.example/").unwrap(); // no such host on the fake network
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::HostNotFound);
    /// assert_eq!(ws.error_string(), "Host not found");
    /// ```
    pub fn error(&self) -> SocketError {
        self.shared.st.borrow().error
    }

    /// A readable description of the last error (empty before any; Qt reads
    /// "Unknown error" once a socket exists). For a protocol violation it is
    /// the reason sent in the close frame.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{protocol::OpCode, CloseCode, SocketError};
    /// peer.send_raw_frame(true, 0b100, OpCode::Text, b"x"); // an RSV bit, not negotiated
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::Protocol);
    /// assert_eq!(ws.error_string(), "Rsv field is non-zero");
    /// assert_eq!(ws.close_code(), CloseCode::ProtocolError);
    /// ```
    pub fn error_string(&self) -> String {
        self.shared.st.borrow().error_string.clone()
    }

    /// The origin sent (client) or received (server side; empty without an
    /// `Origin` header).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = WebSocket::with_origin(reactor.event_loop(), "https://app.example");
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let socket = server.next_pending_connection().unwrap();
    /// assert_eq!(socket.origin(), "https://app.example");
    /// ```
    pub fn origin(&self) -> String {
        self.shared.st.borrow().origin.clone()
    }

    /// The subprotocol the server chose (empty if none): the first of the
    /// client's list that the server supports.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// let reactor = FakeReactor::new();
    /// let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    /// server.set_supported_subprotocols(&["chat"]);
    /// server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    /// let client = WebSocket::new(reactor.event_loop());
    /// client.set_requested_subprotocols(&["superchat", "chat"]);
    /// client.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(client.subprotocol(), "chat");
    /// assert_eq!(server.next_pending_connection().unwrap().subprotocol(), "chat");
    /// ```
    pub fn subprotocol(&self) -> String {
        self.shared
            .st
            .borrow()
            .subprotocol
            .clone()
            .unwrap_or_default()
    }

    /// The URL opened (client) or requested (server side, rebuilt from `Host`
    /// and the request-target); `None` before.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.request_url(), None);
    /// ws.open("ws://127.0.0.1:8080/chat").unwrap();
    /// assert_eq!(ws.request_url().unwrap().as_str(), "ws://127.0.0.1:8080/chat");
    /// ```
    pub fn request_url(&self) -> Option<url::Url> {
        self.shared.st.borrow().request_url()
    }

    /// The path and query of the request, e.g. `/chat?room=1`, as sent on the
    /// request line (percent-encoded, `/` for an empty path; the fragment is
    /// dropped). On the server side it is the request-target as the client sent
    /// it (Qt gives the whole URL there). Empty before `open()`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.resource_name(), "");
    /// ws.open("ws://127.0.0.1/chat room?id=1#top").unwrap();
    /// assert_eq!(ws.resource_name(), "/chat%20room?id=1");
    /// ```
    pub fn resource_name(&self) -> String {
        let st = self.shared.st.borrow();
        if let Some(req) = &st.request {
            return req.resource.clone();
        }
        if let Some(head) = st.server_head.as_deref() {
            return server_request(head).map(|r| r.target).unwrap_or_default();
        }
        String::new()
    }

    /// The peer's address, once the TCP connection is up (`None` before and
    /// after).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_eq!(ws.peer_address(), Some("127.0.0.1".parse().unwrap()));
    /// ws.abort();
    /// assert_eq!(ws.peer_address(), None);
    /// ```
    pub fn peer_address(&self) -> Option<IpAddr> {
        self.shared.st.borrow().peer.map(|a| a.ip())
    }

    /// The peer's port (0 when not connected).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_eq!(ws.peer_port(), 80); // the default port of ws://
    /// ws.abort();
    /// assert_eq!(ws.peer_port(), 0);
    /// ```
    pub fn peer_port(&self) -> u16 {
        self.shared.st.borrow().peer.map_or(0, |a| a.port())
    }

    /// The host name given to `open()` (empty on the server side).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// reactor.add_host("chat.example", "127.0.0.1".parse().unwrap());
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open("ws://chat.example/").unwrap();
    /// assert_eq!(ws.peer_name(), "chat.example");
    /// ```
    pub fn peer_name(&self) -> String {
        self.shared.st.borrow().peer_name.clone()
    }

    /// The local address of the connection, once the TCP connection is up.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_eq!(ws.local_address(), Some("127.0.0.1".parse().unwrap()));
    /// ```
    pub fn local_address(&self) -> Option<IpAddr> {
        self.shared.st.borrow().local.map(|a| a.ip())
    }

    /// The local port (0 when not connected).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_ne!(ws.local_port(), 0);
    /// ws.abort();
    /// assert_eq!(ws.local_port(), 0);
    /// ```
    pub fn local_port(&self) -> u16 {
        self.shared.st.borrow().local.map_or(0, |a| a.port())
    }

    /// The peer's socket address (address and port together; not in Qt).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// assert_eq!(ws.peer_socket_addr(), Some("127.0.0.1:80".parse().unwrap()));
    /// ```
    pub fn peer_socket_addr(&self) -> Option<SocketAddr> {
        self.shared.st.borrow().peer
    }

    // ----- limits -------------------------------------------------------------------------

    /// Sets the largest frame accepted from the peer; a larger one closes the
    /// connection with 1009 as soon as its header arrives, before its payload
    /// is buffered. Values above [`MAX_INCOMING_SIZE`] are ignored (the old
    /// value is kept), as in Qt. Applies from the next frame on.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// ws.set_max_allowed_incoming_frame_size(4);
    /// peer.send_text("hello"); // 5 bytes
    /// reactor.run_until_idle();
    /// assert_eq!(ws.close_code(), CloseCode::TooMuchData);
    /// assert_eq!(ws.error_string(), "Maximum framesize exceeded.");
    /// ```
    pub fn set_max_allowed_incoming_frame_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.update_config(|c| c.max_frame_size = size);
        }
    }

    /// The largest frame accepted (default 16 MiB; Qt's default is 2 GiB,
    /// which let a peer exhaust memory: CVE-2018-21035).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert_eq!(ws.max_allowed_incoming_frame_size(), 16 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_allowed_incoming_frame_size(&self) -> u64 {
        self.shared.st.borrow().config().max_frame_size
    }

    /// Sets the largest message accepted (the sum of its frames); a message
    /// that would grow past it closes the connection with 1009. Values above
    /// [`MAX_INCOMING_SIZE`] are ignored.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{protocol::OpCode, CloseCode};
    /// ws.set_max_allowed_incoming_message_size(5);
    /// peer.send_frame(false, OpCode::Text, b"abc");
    /// peer.send_frame(true, OpCode::Continuation, b"def"); // 6 bytes in all
    /// reactor.run_until_idle();
    /// assert_eq!(ws.close_code(), CloseCode::TooMuchData);
    /// assert_eq!(ws.error_string(), "Received message is too big.");
    /// ```
    pub fn set_max_allowed_incoming_message_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.update_config(|c| c.max_message_size = size);
        }
    }

    /// The largest message accepted (default 64 MiB; Qt: 2 GiB).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// assert_eq!(ws.max_allowed_incoming_message_size(), 64 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_allowed_incoming_message_size(&self) -> u64 {
        self.shared.st.borrow().config().max_message_size
    }

    /// Sets the frame size outgoing messages are split into. 0 and values
    /// above [`MAX_OUTGOING_FRAME_SIZE`] are refused (old value kept); Qt
    /// accepts 0 and then crashes on the next send.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// ws.set_outgoing_frame_size(0); // refused
    /// assert_eq!(ws.outgoing_frame_size(), 524_288);
    /// ws.set_outgoing_frame_size(2);
    /// ws.send_text_message("abcde");
    /// reactor.run_until_idle();
    /// let frames: Vec<_> = peer.frames().iter().map(|f| (f.opcode, f.fin)).collect();
    /// assert_eq!(frames, [(OpCode::Text, false), (OpCode::Continuation, false),
    ///                     (OpCode::Continuation, true)]);
    /// ```
    pub fn set_outgoing_frame_size(&self, size: usize) {
        if (1..=MAX_OUTGOING_FRAME_SIZE).contains(&size) {
            self.shared.st.borrow_mut().outgoing_frame_size = size;
        }
    }

    /// The outgoing frame size (default 524288, [`DEFAULT_OUTGOING_FRAME_SIZE`]).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.set_outgoing_frame_size(4096);
    /// assert_eq!(ws.outgoing_frame_size(), 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn outgoing_frame_size(&self) -> usize {
        self.shared.st.borrow().outgoing_frame_size
    }

    /// How long the socket waits for the peer's close frame, and then for the
    /// end of the TCP stream. Default 3 s (as Qt 6.12). It is read when the
    /// wait starts: set it before `close()`.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{CloseCode, SocketState};
    /// use std::time::Duration;
    /// ws.set_close_timeout(Duration::from_secs(1));
    /// ws.close(CloseCode::Normal, "").unwrap();
    /// reactor.advance(Duration::from_millis(999)); // the server never answers
    /// assert_eq!(ws.state(), SocketState::Closing);
    /// reactor.advance(Duration::from_millis(1));
    /// assert_eq!(ws.state(), SocketState::Unconnected);
    /// ```
    pub fn set_close_timeout(&self, timeout: Duration) {
        self.update_config(|c| c.close_timeout = timeout);
    }

    /// How long a frame or fragmented message may stay incomplete with no
    /// byte received before the socket closes with 1001 "Timeout when reading
    /// data from socket." and emits `error_occurred(SocketTimeout)` (Qt: 5 s,
    /// fixed, and no error signal). Every byte received restarts it; `None`
    /// disables it. Like Qt, it starts with the first byte of a frame, so a
    /// partial header followed by silence times out too.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{CloseCode, SocketError};
    /// use std::time::Duration;
    /// ws.set_incomplete_frame_timeout(Some(Duration::from_secs(1)));
    /// peer.write(&[0x81, 0x05, b'h']); // a 5-byte text frame, 1 byte of it sent
    /// reactor.advance(Duration::from_secs(1));
    /// assert_eq!(ws.close_code(), CloseCode::GoingAway);
    /// assert_eq!(ws.error(), SocketError::SocketTimeout);
    /// ```
    pub fn set_incomplete_frame_timeout(&self, timeout: Option<Duration>) {
        self.update_config(|c| c.incomplete_timeout = timeout);
    }

    /// The largest handshake response head accepted from the server, in
    /// bytes (beyond Qt); a longer one fails the connection
    /// (`ConnectionRefused`) before it is all buffered. Default
    /// [`MAX_HEADER_BLOCK`](crate::protocol::handshake::MAX_HEADER_BLOCK)
    /// (Qt's 800 KiB).
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::MAX_HEADER_BLOCK;
    /// use qwebsocket::{testing::FakeReactor, SocketError, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.max_handshake_size(), MAX_HEADER_BLOCK);
    /// ws.set_max_handshake_size(1024);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let peer = reactor.next_connection().unwrap();
    /// peer.accept();
    /// reactor.run_until_idle();
    /// peer.write(format!("HTTP/1.1 101 OK\r\nX: {}\r\n", "y".repeat(2000)).as_bytes());
    /// reactor.run_until_idle();
    /// assert_eq!(ws.error(), SocketError::ConnectionRefused);
    /// ```
    pub fn set_max_handshake_size(&self, size: usize) {
        self.update_config(|c| c.max_handshake_size = size);
    }

    /// The largest handshake response head accepted (see
    /// [`set_max_handshake_size`](Self::set_max_handshake_size)).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.max_handshake_size(), 819_204);
    /// ```
    pub fn max_handshake_size(&self) -> usize {
        self.shared.st.borrow().config().max_handshake_size
    }

    /// How long one incoming frame may take from its first byte to its last
    /// (beyond Qt; default `None`: no limit). The incomplete-frame timeout
    /// restarts with every byte, so a peer that trickles a byte a second
    /// (slowloris) never trips it; this one does. Past it the socket closes
    /// with 1001 (`GoingAway`) and emits `error_occurred(SocketTimeout)`,
    /// as for an incomplete frame. Choose it from the largest frame you
    /// accept and the slowest link you serve.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::{CloseCode, SocketError};
    /// use std::time::Duration;
    /// ws.set_frame_timeout(Some(Duration::from_secs(3)));
    /// peer.write(&[0x81, 0x05]); // a 5-byte text frame begins
    /// for byte in b"hell" {
    ///     reactor.advance(Duration::from_millis(900)); // a byte every 0.9 s
    ///     peer.write(&[*byte]);
    ///     reactor.run_until_idle();
    /// }
    /// assert_eq!(ws.close_code(), CloseCode::GoingAway); // 3 s after the header
    /// assert_eq!(ws.error(), SocketError::SocketTimeout);
    /// ```
    pub fn set_frame_timeout(&self, timeout: Option<Duration>) {
        self.update_config(|c| c.frame_timeout = timeout);
        self.shared.reschedule_timers();
    }

    /// Keepalive (beyond Qt): after `interval` with nothing received, send
    /// a ping; if no pong comes within `timeout`, close with 1011 and emit
    /// `error_occurred(SocketTimeout)`. `None` turns it off (the default).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, WebSocket};
    /// use qwebsocket::protocol::OpCode;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
    /// ws.open("ws://127.0.0.1:9/").unwrap();
    /// reactor.run_until_idle();
    /// let peer = reactor.next_connection().unwrap();
    /// peer.accept();
    /// reactor.run_until_idle();
    /// peer.accept_handshake().unwrap();
    /// reactor.run_until_idle();
    /// reactor.advance(Duration::from_secs(30));
    /// assert_eq!(peer.frames()[0].opcode, OpCode::Ping); // idle for 30 s: a ping
    /// reactor.advance(Duration::from_secs(10));           // and no pong
    /// assert_eq!(ws.error(), SocketError::SocketTimeout);
    /// assert_eq!(peer.frames()[0].close_status().unwrap().0.code(), 1011);
    /// ```
    pub fn set_keepalive(&self, interval: Option<Duration>, timeout: Duration) {
        self.update_config(|c| {
            c.keepalive_interval = interval;
            c.keepalive_timeout = timeout;
        });
        self.shared.reschedule_timers();
    }

    /// The keepalive interval (`None`, the default: off); see
    /// [`WebSocket::set_keepalive`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.keepalive_interval(), None);
    /// ws.set_keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
    /// assert_eq!(ws.keepalive_interval(), Some(Duration::from_secs(30)));
    /// ```
    pub fn keepalive_interval(&self) -> Option<Duration> {
        self.shared.st.borrow().config().keepalive_interval
    }

    /// Backpressure (beyond Qt): sends are refused, returning 0 and
    /// emitting `error_occurred(Temporary)`, while `limit` bytes or more wait
    /// to be written. Wait for `bytes_written` (or check `bytes_to_write()`)
    /// and send again. `None` removes the limit (memory then grows with a
    /// slow peer). Default [`DEFAULT_SEND_QUEUE_LIMIT`].
    ///
    /// What the socket queues by itself in answer to the peer (pongs to its
    /// pings, the echo of its close) is bounded by the same limit: once that
    /// much is queued since the output was last empty, the socket stops
    /// reading from the peer until its output is written, so that a peer
    /// that pings and never reads cannot grow the queue without bound. The
    /// application's own sends never stop reading (they are refused
    /// instead), so two peers sending large messages to each other never
    /// wait on each other.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketError, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_send_queue_limit(Some(10));
    /// ws.open("ws://127.0.0.1:9/").unwrap();
    /// reactor.run_until_idle();
    /// let peer = reactor.next_connection().unwrap();
    /// peer.accept();
    /// reactor.run_until_idle();
    /// peer.accept_handshake().unwrap();
    /// reactor.run_until_idle();
    /// peer.set_window(0); // the peer reads nothing
    /// assert_eq!(ws.send_text_message("first message"), 13); // queue was empty
    /// assert_eq!(ws.send_text_message("second"), 0);         // 19 bytes wait: refused
    /// assert_eq!(ws.error(), SocketError::Temporary);
    /// ```
    pub fn set_send_queue_limit(&self, limit: Option<usize>) {
        self.shared.st.borrow_mut().send_queue_limit = limit;
    }

    /// The send queue limit in bytes (`None`: unlimited); default
    /// [`DEFAULT_SEND_QUEUE_LIMIT`].
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket, DEFAULT_SEND_QUEUE_LIMIT};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.send_queue_limit(), Some(DEFAULT_SEND_QUEUE_LIMIT));
    /// ws.set_send_queue_limit(None);
    /// assert_eq!(ws.send_queue_limit(), None);
    /// ```
    pub fn send_queue_limit(&self) -> Option<usize> {
        self.shared.st.borrow().send_queue_limit
    }

    /// Installs a generator of masking keys; `None` restores the default
    /// (random keys from the operating system). Applies from now on.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, MaskGenerator, WebSocket};
    /// struct Counter(u32);
    /// impl MaskGenerator for Counter {
    ///     fn next_mask(&mut self) -> u32 { self.0 += 1; self.0 }
    /// }
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.set_mask_generator(Some(Box::new(Counter(0))));
    /// assert!(ws.has_mask_generator());
    /// ws.set_mask_generator(None);
    /// assert!(!ws.has_mask_generator());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_mask_generator(&self, generator: Option<Box<dyn MaskGenerator>>) {
        let generator = generator.map(|mut g| {
            if !g.seed() {
                log::warn!("the mask generator could not be seeded");
            }
            Rc::new(std::cell::RefCell::new(g))
        });
        let mut st = self.shared.st.borrow_mut();
        st.mask_generator = generator.clone();
        if let Some(s) = st.session.as_mut() {
            s.set_mask_source(generator.map(crate::socket::mask_source));
        }
    }

    /// True when an application mask generator is installed (false by
    /// default: random keys from the operating system).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert!(!ws.has_mask_generator());
    /// ```
    pub fn has_mask_generator(&self) -> bool {
        self.shared.st.borrow().mask_generator.is_some()
    }

    /// Stops reading from the network (beyond Qt): no message is delivered
    /// and the kernel's buffers fill, so TCP makes the peer wait. Use it when
    /// the application cannot keep up; `set_reading_paused(false)` goes on
    /// where it stopped. Timeouts for incomplete frames still run.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let got = Rc::new(RefCell::new(Vec::new()));
    /// let g = got.clone();
    /// ws.text_message_received().connect(move |_, t| g.borrow_mut().push(t.to_owned()));
    /// ws.open("ws://127.0.0.1:9/").unwrap();
    /// reactor.run_until_idle();
    /// let peer = reactor.next_connection().unwrap();
    /// peer.accept();
    /// reactor.run_until_idle();
    /// peer.accept_handshake().unwrap();
    /// reactor.run_until_idle();
    /// ws.set_reading_paused(true);
    /// peer.send_text("later");
    /// reactor.run_until_idle();
    /// assert!(got.borrow().is_empty());
    /// ws.set_reading_paused(false);
    /// reactor.run_until_idle();
    /// assert_eq!(*got.borrow(), ["later"]);
    /// ```
    pub fn set_reading_paused(&self, paused: bool) {
        self.shared.set_reading_paused(paused);
    }

    /// True while reading is paused with [`WebSocket::set_reading_paused`]
    /// (false by default).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert!(!ws.is_reading_paused());
    /// ws.set_reading_paused(true);
    /// assert!(ws.is_reading_paused());
    /// ```
    pub fn is_reading_paused(&self) -> bool {
        self.shared.st.borrow().reading_paused
    }

    /// Limits how many bytes are read from the network in one turn of the
    /// loop (Qt's `setReadBufferSize`; 0, the default, means 1 MiB per turn).
    /// Smaller values share the loop more evenly between busy connections.
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, WebSocket};
    /// let ev = EventLoop::new()?;
    /// let ws = WebSocket::new(&ev);
    /// ws.set_read_buffer_size(64 * 1024);
    /// assert_eq!(ws.read_buffer_size(), 64 * 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_buffer_size(&self, size: usize) {
        self.shared.st.borrow_mut().read_buffer_size = size;
    }

    /// The most bytes read from the network in one turn of the loop, as set
    /// with [`WebSocket::set_read_buffer_size`]; 0 (the default) means 1 MiB.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(ws.read_buffer_size(), 0);
    /// ```
    pub fn read_buffer_size(&self) -> usize {
        self.shared.st.borrow().read_buffer_size
    }

    fn update_config(&self, f: impl FnOnce(&mut crate::protocol::SessionConfig)) {
        self.shared.st.borrow_mut().update_config(f);
    }

    // ----- signals ------------------------------------------------------------------------

    /// Emitted when the opening handshake succeeded, after
    /// `state_changed(Connected)`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.connected().connect(|ws| {
    ///     ws.send_text_message("hello");
    /// });
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// // ... `peer`, playing the server, accepts the connection and the upgrade ...
    /// peer.accept_handshake().unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(peer.frames()[0].text(), Some("hello"));
    /// ```
    pub fn connected(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.connected
    }

    /// Emitted when the socket became unconnected after having been
    /// connecting or connected. As in Qt, a connect that fails emits it too,
    /// before `error_occurred`.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// ws.disconnected().connect(move |_| l.borrow_mut().push("disconnected".to_string()));
    /// let l = log.clone();
    /// ws.error_occurred().connect(move |_, e| l.borrow_mut().push(format!("{e:?}")));
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// reactor.next_connection().unwrap().refuse();
    /// reactor.run_until_idle();
    /// assert_eq!(*log.borrow(), ["disconnected", "ConnectionRefused"]);
    /// ```
    pub fn disconnected(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.disconnected
    }

    /// Emitted with the new state on every change.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, SocketState, WebSocket};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let states = Rc::new(RefCell::new(Vec::new()));
    /// let s = states.clone();
    /// ws.state_changed().connect(move |_, state| s.borrow_mut().push(state));
    /// ws.open("ws://127.0.0.1/").unwrap(); // emits Connecting before returning
    /// ws.abort();
    /// assert_eq!(*states.borrow(), [SocketState::Connecting, SocketState::Unconnected]);
    /// ```
    pub fn state_changed(&self) -> &Signal<dyn Fn(&WebSocket, SocketState)> {
        &self.shared.sig.state_changed
    }

    /// Emitted once when the closing of an open connection starts: on
    /// `close()`, on the peer's close frame, on a protocol error or timeout, on
    /// `abort()`. Not emitted when the connection is lost without a closing
    /// handshake (as in Qt); Qt emits it twice on most other paths.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::CloseCode;
    /// use std::{cell::Cell, rc::Rc};
    /// let count = Rc::new(Cell::new(0));
    /// let c = count.clone();
    /// ws.about_to_close().connect(move |_| c.set(c.get() + 1));
    /// ws.close(CloseCode::Normal, "").unwrap(); // emitted here...
    /// peer.send_close(Some((1000, "")));
    /// peer.shutdown();
    /// reactor.run_until_idle(); // ...and not again when the connection ends
    /// assert_eq!(count.get(), 1);
    /// ```
    pub fn about_to_close(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.about_to_close
    }

    /// Emitted when no more data will be read: right after `disconnected`
    /// when an open connection ends.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use std::{cell::RefCell, rc::Rc};
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let o = order.clone();
    /// ws.disconnected().connect(move |_| o.borrow_mut().push("disconnected"));
    /// let o = order.clone();
    /// ws.read_channel_finished().connect(move |_| o.borrow_mut().push("finished"));
    /// peer.shutdown(); // the server ends TCP without a closing handshake
    /// reactor.run_until_idle();
    /// assert_eq!(*order.borrow(), ["disconnected", "finished"]);
    /// ```
    pub fn read_channel_finished(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.read_channel_finished
    }

    /// Emitted with the error's kind; [`WebSocket::error_string`] says more.
    /// Besides Qt's cases (a refused `open()`, a failed connect or handshake,
    /// a lost connection) it reports protocol violations by the peer
    /// ([`SocketError::Protocol`]) and timeouts ([`SocketError::SocketTimeout`]).
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// ws.error_occurred()
    ///     .connect(move |ws, e| s.borrow_mut().push(format!("{e:?}: {}", ws.error_string())));
    /// assert!(ws.open("ftp://example.com/").is_err());
    /// assert_eq!(*seen.borrow(), ["UnsupportedSocketOperation: Unsupported WebSocket scheme: ftp"]);
    /// ```
    pub fn error_occurred(&self) -> &Signal<dyn Fn(&WebSocket, SocketError)> {
        &self.shared.sig.error_occurred
    }

    /// Emitted with each whole text message (after the `text_frame_received`
    /// of its last frame). The `&str` borrows the socket's buffer: copy it to
    /// keep it.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// use std::{cell::RefCell, rc::Rc};
    /// let got = Rc::new(RefCell::new(Vec::new()));
    /// let g = got.clone();
    /// ws.text_message_received().connect(move |_, text| g.borrow_mut().push(text.to_owned()));
    /// peer.send_text("one");
    /// peer.send_frame(false, OpCode::Text, b"tw");
    /// peer.send_frame(true, OpCode::Continuation, b"o");
    /// reactor.run_until_idle();
    /// assert_eq!(*got.borrow(), ["one", "two"]);
    /// ```
    pub fn text_message_received(&self) -> &Signal<dyn Fn(&WebSocket, &str)> {
        &self.shared.sig.text_message_received
    }

    /// Emitted with each whole binary message. The slice borrows the socket's
    /// buffer.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// // An echo: the slot answers through the socket it is given.
    /// ws.binary_message_received().connect(|ws, data| {
    ///     ws.send_binary_message(data);
    /// });
    /// peer.send_binary(&[0xca, 0xfe]);
    /// reactor.run_until_idle();
    /// assert_eq!(peer.frames()[0].payload, [0xca, 0xfe]);
    /// ```
    pub fn binary_message_received(&self) -> &Signal<dyn Fn(&WebSocket, &[u8])> {
        &self.shared.sig.binary_message_received
    }

    /// Emitted with each text frame and whether it is the message's last.
    /// A code point split across frames is delivered with the frame that
    /// finishes it (Qt 6.4 to 6.11 failed such messages with 1007). With
    /// permessage-deflate, a frame carries the text its compressed bytes
    /// inflate to (whole characters only; it may be empty).
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// use std::{cell::RefCell, rc::Rc};
    /// let frames = Rc::new(RefCell::new(Vec::new()));
    /// let f = frames.clone();
    /// ws.text_frame_received()
    ///     .connect(move |_, text, last| f.borrow_mut().push((text.to_owned(), last)));
    /// peer.send_frame(false, OpCode::Text, b"caf\xc3"); // "é" is C3 A9
    /// peer.send_frame(true, OpCode::Continuation, b"\xa9!");
    /// reactor.run_until_idle();
    /// assert_eq!(*frames.borrow(), [("caf".to_owned(), false), ("é!".to_owned(), true)]);
    /// ```
    pub fn text_frame_received(&self) -> &Signal<dyn Fn(&WebSocket, &str, bool)> {
        &self.shared.sig.text_frame_received
    }

    /// Emitted with each binary frame and whether it is the message's last.
    /// With permessage-deflate, a frame carries the bytes its compressed
    /// bytes inflate to.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use qwebsocket::protocol::OpCode;
    /// use std::{cell::RefCell, rc::Rc};
    /// let frames = Rc::new(RefCell::new(Vec::new()));
    /// let f = frames.clone();
    /// ws.binary_frame_received()
    ///     .connect(move |_, data, last| f.borrow_mut().push((data.len(), last)));
    /// peer.send_frame(false, OpCode::Binary, &[0; 3]);
    /// peer.send_frame(true, OpCode::Continuation, &[0; 2]);
    /// reactor.run_until_idle();
    /// assert_eq!(*frames.borrow(), [(3, false), (2, true)]);
    /// ```
    pub fn binary_frame_received(&self) -> &Signal<dyn Fn(&WebSocket, &[u8], bool)> {
        &self.shared.sig.binary_frame_received
    }

    /// Emitted when a pong arrives, with the time since the last `ping()`
    /// (measured on the loop's clock; since the socket's creation if it never
    /// pinged) and the pong's payload. Unsolicited pongs are reported too, as
    /// in Qt. Pings from the peer are answered automatically, with no signal.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let rtt = Rc::new(Cell::new(None));
    /// let r = rtt.clone();
    /// ws.pong().connect(move |_, elapsed, payload| {
    ///     assert_eq!(payload, b"t1");
    ///     r.set(Some(elapsed));
    /// });
    /// ws.ping(b"t1");
    /// reactor.advance(Duration::from_millis(250)); // the fake clock moves 250 ms
    /// peer.send_pong(b"t1");
    /// reactor.run_until_idle();
    /// assert_eq!(rtt.get(), Some(Duration::from_millis(250)));
    /// ```
    pub fn pong(&self) -> &Signal<dyn Fn(&WebSocket, Duration, &[u8])> {
        &self.shared.sig.pong
    }

    /// Emitted with the number of bytes written to the transport (frame
    /// headers and the upgrade request included), once per write. Sends made
    /// during one turn of the loop are corked into one write.
    ///
    /// ```
    /// # use qwebsocket::testing::FakeReactor;
    /// # use qwebsocket::WebSocket;
    /// # let reactor = FakeReactor::new();
    /// # let ws = WebSocket::new(reactor.event_loop());
    /// # ws.open("ws://127.0.0.1/").unwrap();
    /// # reactor.run_until_idle();
    /// # let peer = reactor.next_connection().unwrap();
    /// # peer.accept();
    /// # reactor.run_until_idle();
    /// # peer.accept_handshake().unwrap();
    /// # reactor.run_until_idle();
    /// // `ws` is a connected client; `peer` plays the server (see `qwebsocket::testing`).
    /// use std::{cell::RefCell, rc::Rc};
    /// let writes = Rc::new(RefCell::new(Vec::new()));
    /// let w = writes.clone();
    /// ws.bytes_written().connect(move |_, n| w.borrow_mut().push(n));
    /// ws.send_text_message("hi"); // 8 bytes on the wire
    /// ws.send_text_message("there"); // 11 bytes
    /// reactor.run_until_idle();
    /// assert_eq!(*writes.borrow(), [19]); // one write for both
    /// ```
    pub fn bytes_written(&self) -> &Signal<dyn Fn(&WebSocket, u64)> {
        &self.shared.sig.bytes_written
    }
}

/// The request a server-side socket was opened with, parsed again from its
/// head (kept as received: one allocation rather than one per header).
fn server_request(head: &[u8]) -> Option<crate::protocol::handshake::server::ServerRequest> {
    crate::socket::parse_server_head(head, head.len() + 1)
        .ok()
        .flatten()
}
