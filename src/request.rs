//! The opening request and its options: Qt's `QNetworkRequest` (as far as
//! a WebSocket uses it) and `QWebSocketHandshakeOptions`.

use crate::protocol::CompressionOptions;

/// A URL and the headers to send with its upgrade request, in order.
///
/// ```
/// use qwebsocket::Request;
/// let r = Request::new("ws://example.com/chat".parse().unwrap())
///     .with_header("Authorization", "Bearer abc")
///     .with_header("X-Trace", "1");
/// assert_eq!(r.header("authorization"), Some("Bearer abc"));
/// assert_eq!(r.headers().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    url: url::Url,
    headers: Vec<(String, String)>,
}

impl Request {
    /// A request for `url` with no extra headers. The socket adds the
    /// headers of the upgrade itself (`Host`, `Upgrade`, `Sec-WebSocket-Key`…)
    /// when it opens; a `Request` holds only what you add.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let r = Request::new("ws://example.com/chat".parse().unwrap());
    /// assert_eq!(r.url().path(), "/chat");
    /// assert!(r.headers().is_empty());
    /// ```
    pub fn new(url: url::Url) -> Request {
        Request {
            url,
            headers: Vec::new(),
        }
    }

    /// Adds a header and returns the request, for chaining. Headers are sent
    /// after the socket's own, in the order added and with names as given; a
    /// name set again replaces the first ([`Request::set_header`]; use
    /// [`Request::append_header`] to send one twice). A `Host` header replaces the URL's
    /// host, and `Sec-WebSocket-Protocol` is ignored (use
    /// [`HandshakeOptions`]). A name or value with CR or LF makes `open` fail.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::{Request, WebSocket};
    /// let request = Request::new("ws://127.0.0.1/feed".parse().unwrap())
    ///     .with_header("Authorization", "Bearer t0k3n")
    ///     .with_header("X-Client", "docs");
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.open_request(&request).unwrap();
    /// let server = reactor.accept_websocket();
    /// let sent = server.upgrade_request().unwrap().headers;
    /// // After the socket's own headers, in the order added.
    /// assert_eq!(sent[0].0, "Host");
    /// assert_eq!(sent[sent.len() - 2..], [
    ///     ("Authorization".to_owned(), "Bearer t0k3n".to_owned()),
    ///     ("X-Client".to_owned(), "docs".to_owned()),
    /// ]);
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.set_header(name, value);
        self
    }

    /// Sets a header (Qt's `QNetworkRequest::setRawHeader`): a header of the
    /// same name (compared without case) is replaced, in its place; otherwise
    /// the header is added at the end. Use [`Request::append_header`] for a
    /// header that is sent more than once.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let mut r = Request::new("ws://example.com/".parse().unwrap());
    /// r.set_header("X-Token", "old");
    /// r.set_header("X-Client", "docs");
    /// r.set_header("x-token", "new");
    /// assert_eq!(r.headers().len(), 2);
    /// assert_eq!(r.header("X-Token"), Some("new"));
    /// assert_eq!(r.headers()[0].0, "x-token"); // in the first one's place
    /// ```
    pub fn set_header(&mut self, name: &str, value: &str) {
        let mut found = false;
        self.headers.retain_mut(|(n, v)| {
            if !n.eq_ignore_ascii_case(name) {
                return true;
            }
            if found {
                return false; // a later duplicate goes
            }
            found = true;
            *n = name.to_owned();
            *v = value.to_owned();
            true
        });
        if !found {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Adds a header at the end, keeping any of the same name: both are
    /// sent, in order, and [`Request::header`] returns the first.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let mut r = Request::new("ws://example.com/".parse().unwrap());
    /// r.append_header("Cookie", "a=1");
    /// r.append_header("Cookie", "b=2");
    /// assert_eq!(r.headers().len(), 2);
    /// assert_eq!(r.header("cookie"), Some("a=1"));
    /// ```
    pub fn append_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The URL (`ws://` or `wss://`), as parsed by the `url` crate.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let r = Request::new("wss://example.com:8443/chat?room=1".parse().unwrap());
    /// assert_eq!(r.url().scheme(), "wss");
    /// assert_eq!(r.url().port(), Some(8443));
    /// assert_eq!(r.url().query(), Some("room=1"));
    /// ```
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Every header added, in order, as `(name, value)` pairs.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let r = Request::new("ws://example.com/".parse().unwrap())
    ///     .with_header("X-A", "1")
    ///     .with_header("X-B", "2");
    /// let names: Vec<&str> = r.headers().iter().map(|(n, _)| n.as_str()).collect();
    /// assert_eq!(names, ["X-A", "X-B"]);
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header with this name (compared without
    /// regard to ASCII case), or `None`.
    ///
    /// ```
    /// use qwebsocket::Request;
    /// let r = Request::new("ws://example.com/".parse().unwrap()).with_header("X-Trace", "7");
    /// assert_eq!(r.header("x-trace"), Some("7"));
    /// assert_eq!(r.header("X-Other"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Options of the opening handshake (Qt's `QWebSocketHandshakeOptions`).
///
/// ```
/// use qwebsocket::HandshakeOptions;
/// let o = HandshakeOptions::new().with_subprotocols(&["chat.v2", "chat"]);
/// assert_eq!(o.subprotocols(), ["chat.v2", "chat"]);
/// assert_eq!(HandshakeOptions::default(), HandshakeOptions::new());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeOptions {
    subprotocols: Vec<String>,
    compression: Option<CompressionOptions>,
}

impl HandshakeOptions {
    /// No options: no subprotocol is requested. The same as
    /// `HandshakeOptions::default()`.
    ///
    /// ```
    /// use qwebsocket::HandshakeOptions;
    /// assert!(HandshakeOptions::new().subprotocols().is_empty());
    /// ```
    pub fn new() -> HandshakeOptions {
        HandshakeOptions::default()
    }

    /// Sets the subprotocols to request (`Sec-WebSocket-Protocol`), in order
    /// of preference, replacing any set before; returns the options, for
    /// chaining. The server picks one, or none.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::{HandshakeOptions, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let options = HandshakeOptions::new().with_subprotocols(&["chat.v2", "chat"]);
    /// ws.open_with_options("ws://127.0.0.1/", &options).unwrap();
    /// let server = reactor.accept_websocket_with(Some("chat"));
    /// assert_eq!(server.upgrade_request().unwrap().subprotocols, ["chat.v2", "chat"]);
    /// assert_eq!(ws.subprotocol(), "chat");
    /// ```
    pub fn with_subprotocols(mut self, protocols: &[&str]) -> HandshakeOptions {
        self.subprotocols = protocols.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the subprotocols to request, in order of preference, replacing
    /// any set before (an empty list requests none).
    ///
    /// ```
    /// use qwebsocket::HandshakeOptions;
    /// let mut o = HandshakeOptions::new().with_subprotocols(&["old"]);
    /// o.set_subprotocols(vec!["mqtt".to_owned(), "mqttv3.1".to_owned()]);
    /// assert_eq!(o.subprotocols(), ["mqtt", "mqttv3.1"]);
    /// ```
    pub fn set_subprotocols(&mut self, protocols: Vec<String>) {
        self.subprotocols = protocols;
    }

    /// The subprotocols to request, in order of preference (empty by
    /// default).
    ///
    /// ```
    /// use qwebsocket::HandshakeOptions;
    /// let o = HandshakeOptions::new().with_subprotocols(&["graphql-ws"]);
    /// assert_eq!(o.subprotocols(), ["graphql-ws"]);
    /// ```
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// Offers permessage-deflate (RFC 7692) with `options` (beyond Qt, which
    /// speaks no extension); returns the options, for chaining. Off unless
    /// set. The server may decline: then the connection is uncompressed, and
    /// [`WebSocket::compression`](crate::WebSocket::compression) says `None`.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::{CompressionOptions, HandshakeOptions, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let options = HandshakeOptions::new().with_compression(CompressionOptions::enabled());
    /// ws.open_with_options("ws://127.0.0.1/", &options).unwrap();
    /// let server = reactor.accept_websocket();
    /// let offer = server.upgrade_request().unwrap().extensions;
    /// assert_eq!(offer, ["permessage-deflate; client_max_window_bits"]);
    /// ```
    pub fn with_compression(mut self, options: CompressionOptions) -> HandshakeOptions {
        self.compression = Some(options);
        self
    }

    /// The permessage-deflate options to offer, if set (and enabled).
    ///
    /// ```
    /// use qwebsocket::{CompressionOptions, HandshakeOptions};
    /// assert_eq!(HandshakeOptions::new().compression(), None);
    /// let o = HandshakeOptions::new().with_compression(CompressionOptions::enabled());
    /// assert!(o.compression().unwrap().enabled);
    /// ```
    pub fn compression(&self) -> Option<&CompressionOptions> {
        self.compression.as_ref().filter(|c| c.enabled)
    }
}

/// The WebSocket protocol version (Qt's `QWebSocketProtocol::Version`).
/// Only 13 is spoken.
///
/// ```
/// use qwebsocket::Version;
/// assert_eq!(Version::from_string("13"), Version::V13);
/// assert_eq!(Version::from_string("12"), Version::Unknown);
/// assert_eq!(Version::LATEST.number(), Some(13));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Not a version this crate knows.
    Unknown,
    /// hixie-76 / hybi-00.
    V0,
    /// hybi-04.
    V4,
    /// hybi-05.
    V5,
    /// hybi-06.
    V6,
    /// hybi-07.
    V7,
    /// hybi-08.
    V8,
    /// RFC 6455.
    V13,
}

impl Version {
    /// The newest version: 13 (RFC 6455), the only one this crate speaks.
    ///
    /// ```
    /// use qwebsocket::Version;
    /// assert_eq!(Version::LATEST, Version::V13);
    /// ```
    pub const LATEST: Version = Version::V13;

    /// Parses a `Sec-WebSocket-Version` value as Qt's `versionFromString`:
    /// the exact decimal number of a known version, anything else (spaces
    /// included) is [`Version::Unknown`].
    ///
    /// ```
    /// use qwebsocket::Version;
    /// assert_eq!(Version::from_string("13"), Version::V13);
    /// assert_eq!(Version::from_string("8"), Version::V8);
    /// assert_eq!(Version::from_string(" 13"), Version::Unknown);
    /// assert_eq!(Version::from_string("99"), Version::Unknown);
    /// ```
    pub fn from_string(s: &str) -> Version {
        match s {
            "0" => Version::V0,
            "4" => Version::V4,
            "5" => Version::V5,
            "6" => Version::V6,
            "7" => Version::V7,
            "8" => Version::V8,
            "13" => Version::V13,
            _ => Version::Unknown,
        }
    }

    /// The version number as sent in `Sec-WebSocket-Version`, or `None` for
    /// [`Version::Unknown`]. The inverse of [`Version::from_string`].
    ///
    /// ```
    /// use qwebsocket::Version;
    /// assert_eq!(Version::V13.number(), Some(13));
    /// assert_eq!(Version::Unknown.number(), None);
    /// let v = Version::V7;
    /// assert_eq!(Version::from_string(&v.number().unwrap().to_string()), v);
    /// ```
    pub fn number(self) -> Option<u8> {
        Some(match self {
            Version::Unknown => return None,
            Version::V0 => 0,
            Version::V4 => 4,
            Version::V5 => 5,
            Version::V6 => 6,
            Version::V7 => 7,
            Version::V8 => 8,
            Version::V13 => 13,
        })
    }
}

/// Credentials asked for by a server's `401` (Qt's `QAuthenticator`, as the
/// `authentication_required` signal passes it). Fill in the user and
/// password in the slot to retry once with HTTP Basic authentication.
///
/// ```
/// use qwebsocket::Authenticator;
/// let a = Authenticator::new("chat");
/// a.set_user("ann");
/// a.set_password("secret");
/// assert_eq!((a.realm(), a.user().as_str(), a.password().as_str()), ("chat", "ann", "secret"));
/// ```
#[derive(Debug, Default)]
pub struct Authenticator {
    realm: String,
    user: std::cell::RefCell<String>,
    password: std::cell::RefCell<String>,
}

impl Authenticator {
    /// An authenticator for `realm` with no user and no password. The socket
    /// makes one when a server (`401`) or a proxy (`407`) asks for
    /// credentials; make your own to test a slot.
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("chat");
    /// assert_eq!(a.realm(), "chat");
    /// assert!(!a.is_filled());
    /// ```
    pub fn new(realm: &str) -> Authenticator {
        Authenticator {
            realm: realm.to_owned(),
            ..Authenticator::default()
        }
    }

    /// The realm of the server's challenge (`WWW-Authenticate: Basic
    /// realm="..."`); empty when the challenge named none.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use qwebsocket::WebSocket;
    /// use std::{cell::RefCell, rc::Rc};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let realm = Rc::new(RefCell::new(String::new()));
    /// let r = realm.clone();
    /// ws.authentication_required().connect(move |_, auth| *r.borrow_mut() = auth.realm().to_owned());
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// reactor.run_until_idle();
    /// let server = reactor.next_connection().unwrap();
    /// server.accept();
    /// reactor.run_until_idle();
    /// server.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"staff\"\r\nContent-Length: 0\r\n\r\n");
    /// reactor.run_until_idle();
    /// assert_eq!(*realm.borrow(), "staff");
    /// ```
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The user name (empty until set).
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("");
    /// assert_eq!(a.user(), "");
    /// a.set_user("ann");
    /// assert_eq!(a.user(), "ann");
    /// ```
    pub fn user(&self) -> String {
        self.user.borrow().clone()
    }

    /// Sets the user name. It takes `&self`, so that a slot can fill in the
    /// authenticator it is passed by reference.
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("chat");
    /// a.set_user("ann");
    /// assert!(a.is_filled());
    /// ```
    pub fn set_user(&self, user: &str) {
        *self.user.borrow_mut() = user.to_owned();
    }

    /// The password (empty until set).
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("chat");
    /// assert_eq!(a.password(), "");
    /// a.set_password("secret");
    /// assert_eq!(a.password(), "secret");
    /// ```
    pub fn password(&self) -> String {
        self.password.borrow().clone()
    }

    /// Sets the password (through `&self`, like [`Authenticator::set_user`]).
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("chat");
    /// a.set_password("secret");
    /// assert_eq!((a.user().as_str(), a.password().as_str()), ("", "secret"));
    /// ```
    pub fn set_password(&self, password: &str) {
        *self.password.borrow_mut() = password.to_owned();
    }

    /// True once a user or a password is set (not empty). When the slot of
    /// `authentication_required` (or `proxy_authentication_required`) returns,
    /// a filled authenticator makes the socket retry with these credentials;
    /// an unfilled one makes it give up.
    ///
    /// ```
    /// use qwebsocket::Authenticator;
    /// let a = Authenticator::new("chat");
    /// assert!(!a.is_filled());
    /// a.set_password("secret");
    /// assert!(a.is_filled());
    /// a.set_password("");
    /// assert!(!a.is_filled());
    /// ```
    pub fn is_filled(&self) -> bool {
        !self.user.borrow().is_empty() || !self.password.borrow().is_empty()
    }
}

/// The `Authorization` value for HTTP Basic authentication.
pub(crate) fn basic_authorization(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The realm of a `Basic realm="..."` challenge, found in an error message.
pub(crate) fn realm_of(challenge: &str) -> String {
    challenge
        .split_once("realm=")
        .map(|(_, r)| {
            r.trim_start_matches('"')
                .split('"')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default()
}
