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
use std::time::Duration;

/// Qt's default outgoing frame size: 512 KiB.
pub const DEFAULT_OUTGOING_FRAME_SIZE: usize = 524_288;

/// The largest outgoing frame size that can be set (Qt: `INT_MAX - 1`).
pub const MAX_OUTGOING_FRAME_SIZE: usize = 2_147_483_646;

/// The largest incoming frame or message limit that can be set (Qt: `INT_MAX - 1`).
pub const MAX_INCOMING_SIZE: u64 = 2_147_483_646;

/// The state of a WebSocket, as Qt's `QAbstractSocket::SocketState` values
/// that a `QWebSocket` takes.
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
    /// The socket, if it still exists.
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
            .field("url", &st.url.as_ref().map(|u| u.as_str()))
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

    /// A weak handle that does not keep the socket alive.
    pub fn downgrade(&self) -> WeakWebSocket {
        WeakWebSocket {
            shared: Rc::downgrade(&self.shared),
        }
    }

    /// The loop this socket lives on, if it still exists.
    pub fn event_loop(&self) -> Option<EventLoop> {
        self.shared.event_loop()
    }

    // ----- opening --------------------------------------------------------------

    /// Opens a connection to a `ws://` URL.
    ///
    /// Errors found at once (an invalid URL, an unsupported scheme, CR/LF in
    /// the URL or the origin) are returned *and* emitted through
    /// `error_occurred` before `open` returns, as in Qt; the state does not
    /// change. Otherwise the state becomes `Connecting` (with
    /// `state_changed`, synchronously) and the rest happens on the loop:
    /// `connected` on success, or `disconnected` followed by
    /// `error_occurred` on failure. A previous connection is dropped without
    /// a close frame and without signals.
    ///
    /// `wss://` is not supported yet and fails with
    /// [`SocketError::UnsupportedSocketOperation`].
    pub fn open(&self, url: &str) -> Result<(), SocketError> {
        let parsed = match url::Url::parse(url) {
            Ok(u) if !url.contains(['\r', '\n']) => u,
            _ => return self.refuse_open(SocketError::ConnectionRefused, "Invalid URL.".into()),
        };
        self.open_url(parsed)
    }

    /// Like [`WebSocket::open`], with a parsed URL.
    pub fn open_url(&self, url: url::Url) -> Result<(), SocketError> {
        match url.scheme() {
            "ws" => {}
            "wss" => {
                return self.refuse_open(
                    SocketError::UnsupportedSocketOperation,
                    "SSL Sockets are not supported yet: wss:// comes with TLS support.".into(),
                );
            }
            other => {
                return self.refuse_open(
                    SocketError::UnsupportedSocketOperation,
                    format!("Unsupported WebSocket scheme: {other}"),
                );
            }
        }
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
            )
        };
        match request {
            Ok(req) => {
                self.shared.start_client(url, req);
                Ok(())
            }
            Err(msg) => self.refuse_open(SocketError::ConnectionRefused, msg),
        }
    }

    fn refuse_open(&self, kind: SocketError, message: String) -> Result<(), SocketError> {
        {
            let mut st = self.shared.st.borrow_mut();
            st.error_string = message;
        }
        self.shared.sig.error_occurred.emit(self, kind);
        Err(kind)
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
    pub fn requested_subprotocols(&self) -> Vec<String> {
        self.shared.st.borrow().requested_subprotocols.clone()
    }

    /// Adds a header to send with the next upgrade request (after Qt's own).
    pub fn add_request_header(&self, name: &str, value: &str) {
        self.shared
            .st
            .borrow_mut()
            .extra_headers
            .push((name.to_owned(), value.to_owned()));
    }

    /// How long the client waits from `open()` to the server's `101`
    /// (lookup, connect and handshake); `None` waits forever. Default 10 s.
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.shared.st.borrow_mut().handshake_timeout = timeout;
    }

    /// The client handshake timeout.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.st.borrow().handshake_timeout
    }

    // ----- sending ----------------------------------------------------------------

    /// Sends a text message; returns the payload bytes queued (its UTF-8
    /// length), or 0 when not connected. Frames leave when control returns to
    /// the loop (or on [`WebSocket::flush`]).
    pub fn send_text_message(&self, text: &str) -> usize {
        self.shared.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message; returns the payload bytes queued, or 0 when
    /// not connected.
    pub fn send_binary_message(&self, data: &[u8]) -> usize {
        self.shared.send(MessageKind::Binary, data)
    }

    /// Sends a ping with `payload` (cut to 125 bytes). The `pong` signal
    /// reports the answer with the time elapsed. Returns false, sending
    /// nothing, when the socket is not connected.
    pub fn ping(&self, payload: &[u8]) -> bool {
        self.shared.ping(payload)
    }

    /// Writes as much of the queued output as the socket takes now; true if
    /// anything was written.
    pub fn flush(&self) -> bool {
        self.shared.flush_now()
    }

    /// Bytes queued and not yet written to the socket (headers included).
    pub fn bytes_to_write(&self) -> usize {
        self.shared.queued_bytes()
    }

    // ----- closing ------------------------------------------------------------------

    /// Starts the closing handshake with `code` and `reason` (cut to 123 bytes
    /// on a character boundary). The state becomes `Closing`; when the peer's
    /// close frame arrives (or after the close timeout) the connection ends
    /// with `disconnected`. Codes that may not be sent on the wire (1005,
    /// 1006, 1015, below 1000, 1016–2999, 5000 and up) are refused. Closing a
    /// socket that is still connecting drops the connection; closing an
    /// unconnected or closing one does nothing.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), CloseError> {
        self.shared.close(code, reason)
    }

    /// Drops the connection at once, without a closing handshake. Queued
    /// output is discarded.
    pub fn abort(&self) {
        self.shared.abort_with(None, false);
    }

    /// The code of the close frame this side sent (its own, or the echo of
    /// the peer's), 1006 after a connection lost without one; 1000 before.
    pub fn close_code(&self) -> CloseCode {
        self.shared.st.borrow().close_code
    }

    /// The reason that went with [`WebSocket::close_code`].
    pub fn close_reason(&self) -> String {
        self.shared.st.borrow().close_reason.clone()
    }

    // ----- state ------------------------------------------------------------------------

    /// The WebSocket state.
    pub fn state(&self) -> SocketState {
        self.shared.st.borrow().state
    }

    /// True when connected (the opening handshake succeeded and the closing
    /// one has not started).
    pub fn is_valid(&self) -> bool {
        self.state() == SocketState::Connected
    }

    /// The last error's kind ([`SocketError::Unknown`] before any).
    pub fn error(&self) -> SocketError {
        self.shared.st.borrow().error
    }

    /// A readable description of the last error (empty before any).
    pub fn error_string(&self) -> String {
        self.shared.st.borrow().error_string.clone()
    }

    /// The origin sent (client) or received (server side).
    pub fn origin(&self) -> String {
        self.shared.st.borrow().origin.clone()
    }

    /// The subprotocol the server chose (empty if none).
    pub fn subprotocol(&self) -> String {
        self.shared
            .st
            .borrow()
            .subprotocol
            .clone()
            .unwrap_or_default()
    }

    /// The URL opened (client) or requested (server side, rebuilt from `Host`).
    pub fn request_url(&self) -> Option<url::Url> {
        self.shared.st.borrow().url.clone()
    }

    /// The path and query of the request URL, e.g. `/chat?room=1`.
    pub fn resource_name(&self) -> String {
        let st = self.shared.st.borrow();
        if let Some(req) = &st.request {
            return req.resource.clone();
        }
        if let Some(req) = &st.server_request {
            return req.target.clone();
        }
        String::new()
    }

    /// The peer's address, once connected.
    pub fn peer_address(&self) -> Option<IpAddr> {
        self.shared.st.borrow().peer.map(|a| a.ip())
    }

    /// The peer's port (0 when not connected).
    pub fn peer_port(&self) -> u16 {
        self.shared.st.borrow().peer.map_or(0, |a| a.port())
    }

    /// The host name given to `open()` (empty on the server side).
    pub fn peer_name(&self) -> String {
        self.shared.st.borrow().peer_name.clone()
    }

    /// The local address of the connection.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.shared.st.borrow().local.map(|a| a.ip())
    }

    /// The local port (0 when not connected).
    pub fn local_port(&self) -> u16 {
        self.shared.st.borrow().local.map_or(0, |a| a.port())
    }

    /// The peer's socket address.
    pub fn peer_socket_addr(&self) -> Option<SocketAddr> {
        self.shared.st.borrow().peer
    }

    // ----- limits -------------------------------------------------------------------------

    /// Sets the largest frame accepted from the peer; a larger one closes the
    /// connection with 1009 before its payload is buffered. Values above
    /// [`MAX_INCOMING_SIZE`] are ignored (the old value is kept), as in Qt.
    pub fn set_max_allowed_incoming_frame_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.update_config(|c| c.max_frame_size = size);
        }
    }

    /// The largest frame accepted (default 16 MiB).
    pub fn max_allowed_incoming_frame_size(&self) -> u64 {
        self.shared.st.borrow().config.max_frame_size
    }

    /// Sets the largest message accepted; values above
    /// [`MAX_INCOMING_SIZE`] are ignored.
    pub fn set_max_allowed_incoming_message_size(&self, size: u64) {
        if size <= MAX_INCOMING_SIZE {
            self.update_config(|c| c.max_message_size = size);
        }
    }

    /// The largest message accepted (default 64 MiB).
    pub fn max_allowed_incoming_message_size(&self) -> u64 {
        self.shared.st.borrow().config.max_message_size
    }

    /// Sets the frame size outgoing messages are split into. 0 and values
    /// above [`MAX_OUTGOING_FRAME_SIZE`] are refused (old value kept).
    pub fn set_outgoing_frame_size(&self, size: usize) {
        if (1..=MAX_OUTGOING_FRAME_SIZE).contains(&size) {
            self.shared.st.borrow_mut().outgoing_frame_size = size;
        }
    }

    /// The outgoing frame size (default 524288).
    pub fn outgoing_frame_size(&self) -> usize {
        self.shared.st.borrow().outgoing_frame_size
    }

    /// How long the socket waits for the peer's close frame, and then for the
    /// end of the TCP stream. Default 3 s.
    pub fn set_close_timeout(&self, timeout: Duration) {
        self.update_config(|c| c.close_timeout = timeout);
    }

    /// How long a frame or fragmented message may stay incomplete with no
    /// byte received before the socket closes with 1001 (Qt: 5 s); `None`
    /// disables it.
    pub fn set_incomplete_frame_timeout(&self, timeout: Option<Duration>) {
        self.update_config(|c| c.incomplete_timeout = timeout);
    }

    fn update_config(&self, f: impl FnOnce(&mut crate::protocol::SessionConfig)) {
        let mut st = self.shared.st.borrow_mut();
        f(&mut st.config);
        let config = st.config.clone();
        if let Some(s) = st.session.as_mut() {
            s.set_config(config);
        }
    }

    // ----- signals ------------------------------------------------------------------------

    /// Emitted when the opening handshake succeeded.
    pub fn connected(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.connected
    }

    /// Emitted when the socket became unconnected after having been
    /// connecting or connected.
    pub fn disconnected(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.disconnected
    }

    /// Emitted with the new state on every change.
    pub fn state_changed(&self) -> &Signal<dyn Fn(&WebSocket, SocketState)> {
        &self.shared.sig.state_changed
    }

    /// Emitted once when the socket is about to close.
    pub fn about_to_close(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.about_to_close
    }

    /// Emitted when no more data will be read (after `disconnected`).
    pub fn read_channel_finished(&self) -> &Signal<dyn Fn(&WebSocket)> {
        &self.shared.sig.read_channel_finished
    }

    /// Emitted with the error's kind; [`WebSocket::error_string`] says more.
    pub fn error_occurred(&self) -> &Signal<dyn Fn(&WebSocket, SocketError)> {
        &self.shared.sig.error_occurred
    }

    /// Emitted with each whole text message. The `&str` borrows the
    /// socket's buffer: copy it to keep it.
    pub fn text_message_received(&self) -> &Signal<dyn Fn(&WebSocket, &str)> {
        &self.shared.sig.text_message_received
    }

    /// Emitted with each whole binary message.
    pub fn binary_message_received(&self) -> &Signal<dyn Fn(&WebSocket, &[u8])> {
        &self.shared.sig.binary_message_received
    }

    /// Emitted with each text frame and whether it is the message's last.
    /// A code point split across frames is delivered with the frame that
    /// finishes it.
    pub fn text_frame_received(&self) -> &Signal<dyn Fn(&WebSocket, &str, bool)> {
        &self.shared.sig.text_frame_received
    }

    /// Emitted with each binary frame and whether it is the message's last.
    pub fn binary_frame_received(&self) -> &Signal<dyn Fn(&WebSocket, &[u8], bool)> {
        &self.shared.sig.binary_frame_received
    }

    /// Emitted when a pong arrives, with the time since the last `ping()`
    /// (measured on the loop's clock) and the pong's payload.
    pub fn pong(&self) -> &Signal<dyn Fn(&WebSocket, Duration, &[u8])> {
        &self.shared.sig.pong
    }

    /// Emitted with the number of bytes written to the transport.
    pub fn bytes_written(&self) -> &Signal<dyn Fn(&WebSocket, u64)> {
        &self.shared.sig.bytes_written
    }
}
