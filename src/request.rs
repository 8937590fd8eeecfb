//! The opening request and its options: Qt's `QNetworkRequest` (as far as
//! a WebSocket uses it) and `QWebSocketHandshakeOptions`.

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
    /// A request for `url` with no extra headers.
    pub fn new(url: url::Url) -> Request {
        Request {
            url,
            headers: Vec::new(),
        }
    }

    /// Adds a header (kept in order; names as given).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header in place.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Every header, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header with this name (case-insensitive).
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
}

impl HandshakeOptions {
    /// No options.
    pub fn new() -> HandshakeOptions {
        HandshakeOptions::default()
    }

    /// The subprotocols to request, in order of preference.
    pub fn with_subprotocols(mut self, protocols: &[&str]) -> HandshakeOptions {
        self.subprotocols = protocols.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the subprotocols to request.
    pub fn set_subprotocols(&mut self, protocols: Vec<String>) {
        self.subprotocols = protocols;
    }

    /// The subprotocols.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
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
    /// The newest version: 13.
    pub const LATEST: Version = Version::V13;

    /// Parses a `Sec-WebSocket-Version` value as Qt's `versionFromString`.
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

    /// The number, or `None` for `Unknown`.
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
