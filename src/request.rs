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
    /// An empty authenticator for `realm`.
    pub fn new(realm: &str) -> Authenticator {
        Authenticator {
            realm: realm.to_owned(),
            ..Authenticator::default()
        }
    }

    /// The realm of the server's challenge (may be empty).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The user name.
    pub fn user(&self) -> String {
        self.user.borrow().clone()
    }

    /// Sets the user name.
    pub fn set_user(&self, user: &str) {
        *self.user.borrow_mut() = user.to_owned();
    }

    /// The password.
    pub fn password(&self) -> String {
        self.password.borrow().clone()
    }

    /// Sets the password.
    pub fn set_password(&self, password: &str) {
        *self.password.borrow_mut() = password.to_owned();
    }

    /// True once a user or a password was given.
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
