//! The client side of the opening handshake: the upgrade request and the check of
//! the server's answer (RFC 6455 §4.1).
//!
//! ```
//! use qwebsocket::protocol::handshake::client::{ClientRequest, generate_key, parse_response};
//! use qwebsocket::protocol::handshake::{accept_key, MAX_HEADER_BLOCK};
//!
//! let url = url::Url::parse("ws://example.com/chat").unwrap();
//! let req = ClientRequest::from_url(&url, generate_key([7; 16])).unwrap();
//! let mut out = Vec::new();
//! req.encode(&mut out).unwrap();
//! assert!(out.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com:80\r\n"));
//!
//! let answer = format!(
//!     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!      Sec-WebSocket-Accept: {}\r\n\r\n",
//!     accept_key(req.key.as_bytes())
//! );
//! let resp = parse_response(answer.as_bytes(), &req, MAX_HEADER_BLOCK).unwrap().unwrap();
//! assert_eq!(resp.status, 101);
//! assert_eq!(resp.head_len, answer.len());
//! ```

use super::deflate;
use super::{
    HandshakeError, HandshakeErrorKind, MAX_HEADERS, accept_key, check_no_control, find_head_end,
    has_newline, has_token, is_token, list_elements, shown, trim_ows,
};
use crate::protocol::deflate::{CompressionOptions, DeflateParams};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The `Sec-WebSocket-Key` for 16 random bytes: their base64 form (24 characters).
///
/// ```
/// use qwebsocket::protocol::handshake::client::generate_key;
/// assert_eq!(generate_key([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
/// assert_eq!(generate_key(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
/// ```
pub fn generate_key(random: [u8; 16]) -> String {
    STANDARD.encode(random)
}

/// True if `name` may be sent as a subprotocol: a non-empty HTTP token, i.e. only
/// characters 0x21..=0x7E other than the separators `()<>@,;:\"/[]?={}`
/// (RFC 6455 §4.1 item 10).
///
/// Qt lets an empty name through (it then sends an empty list element); we drop it,
/// as the RFC asks for non-empty names.
///
/// ```
/// use qwebsocket::protocol::handshake::client::is_valid_subprotocol_name;
/// assert!(is_valid_subprotocol_name("chat.v2"));
/// assert!(!is_valid_subprotocol_name("bad proto"));
/// assert!(!is_valid_subprotocol_name("a,b"));
/// assert!(!is_valid_subprotocol_name(""));
/// ```
pub fn is_valid_subprotocol_name(name: &str) -> bool {
    is_token(name.as_bytes())
}

/// The upgrade request a client sends.
///
/// Build it with [`from_url`](Self::from_url), adjust the public fields, then
/// [`encode`](Self::encode) it.
///
/// ```
/// use qwebsocket::protocol::handshake::client::ClientRequest;
/// let url = url::Url::parse("wss://[::1]/a b?q=1#frag").unwrap();
/// let req = ClientRequest::from_url(&url, "dGhlIHNhbXBsZSBub25jZQ==".into()).unwrap();
/// assert_eq!(req.resource, "/a%20b?q=1");
/// assert_eq!(req.host, "[::1]:443");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// Path and `?query`, as they go on the request line, e.g. `/chat?x=1`.
    pub resource: String,
    /// The value of the `Host` header, e.g. `example.com:8080`.
    pub host: String,
    /// The `Sec-WebSocket-Key` (see [`generate_key`]).
    pub key: String,
    /// The `Origin` header, sent when `Some` and not empty.
    pub origin: Option<String>,
    /// The subprotocols asked for, in preference order.
    pub subprotocols: Vec<String>,
    /// Extra request headers, in order (see [`encode`](Self::encode) for the two
    /// that are treated specially).
    pub headers: Vec<(String, String)>,
    /// permessage-deflate to offer (when `Some` and enabled): sent as
    /// `Sec-WebSocket-Extensions` (see [`deflate::client_offer`]) and
    /// checked in the answer by [`parse_response`].
    pub compression: Option<CompressionOptions>,
}

impl ClientRequest {
    /// The request for a `ws://` or `wss://` URL.
    ///
    /// The fragment and any user info are dropped; the resource is the path as
    /// [`url::Url`] percent-encodes it (`/` if empty) plus `?query` when the URL
    /// has one. `Host` is the host and **always** the port, the scheme's default
    /// (80 or 443) when the URL has none, as Qt 6.12 sends it; an IPv6 address
    /// keeps its brackets.
    ///
    /// Errors ([`InvalidField`](HandshakeErrorKind::InvalidField)): another scheme
    /// ("Unsupported WebSocket scheme: http"), no host ("Invalid URL."), a CR or LF
    /// in the URL or the key, or a percent-encoded CRLF (`%0D%0A`) in the
    /// resource ("Invalid resource name.", Qt's check). The URL parser already
    /// drops raw tabs and newlines, so Qt's "URL contains CRLF" case ends up as
    /// the latter.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::client::ClientRequest;
    /// let url = url::Url::parse("ws://example.com:8080").unwrap();
    /// let req = ClientRequest::from_url(&url, "k".into()).unwrap();
    /// assert_eq!((req.resource.as_str(), req.host.as_str()), ("/", "example.com:8080"));
    ///
    /// let http = url::Url::parse("http://example.com/").unwrap();
    /// let err = ClientRequest::from_url(&http, "k".into()).unwrap_err();
    /// assert_eq!(err.message, "Unsupported WebSocket scheme: http");
    /// ```
    pub fn from_url(url: &url::Url, key: String) -> Result<ClientRequest, HandshakeError> {
        let default_port = match url.scheme() {
            "ws" => 80,
            "wss" => 443,
            other => {
                return Err(invalid(format!("Unsupported WebSocket scheme: {other}")));
            }
        };
        if has_newline(url.as_str()) {
            return Err(invalid("Invalid URL."));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h,
            _ => return Err(invalid("Invalid URL.")),
        };
        let port = url.port_or_known_default().unwrap_or(default_port);
        let mut resource = String::from(url.path());
        if resource.is_empty() {
            resource.push('/');
        }
        if let Some(query) = url.query() {
            resource.push('?');
            resource.push_str(query);
        }
        if resource.to_ascii_uppercase().contains("%0D%0A") {
            return Err(invalid("Invalid resource name."));
        }
        if has_newline(&key) {
            return Err(invalid(
                "The key contains newlines. Possible attack detected.",
            ));
        }
        Ok(ClientRequest {
            resource,
            host: format!("{host}:{port}"),
            key,
            origin: None,
            subprotocols: Vec::new(),
            headers: Vec::new(),
            compression: None,
        })
    }

    /// The subprotocols the request asks for, as [`encode`](Self::encode) sends
    /// them: the valid names of [`subprotocols`](Self::subprotocols), then the
    /// comma-separated, trimmed entries of extra `Sec-WebSocket-Protocol`
    /// headers; invalid names (see [`is_valid_subprotocol_name`]) and duplicates
    /// are left out. [`parse_response`] accepts only a protocol from this list.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::client::ClientRequest;
    /// let url = url::Url::parse("ws://h/").unwrap();
    /// let mut req = ClientRequest::from_url(&url, "k".into()).unwrap();
    /// req.subprotocols = vec!["opt1".into(), "opt2".into(), "bad proto".into()];
    /// req.headers.push(("Sec-WebSocket-Protocol".into(), "hdrproto, opt1".into()));
    /// assert_eq!(req.requested_subprotocols(), ["opt1", "opt2", "hdrproto"]);
    /// ```
    pub fn requested_subprotocols(&self) -> Vec<String> {
        let from_headers = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
            .flat_map(|(_, value)| value.split(','))
            .map(|s| s.trim_matches([' ', '\t']));
        let mut list: Vec<String> = Vec::new();
        for name in self
            .subprotocols
            .iter()
            .map(String::as_str)
            .chain(from_headers)
        {
            if is_valid_subprotocol_name(name) && !list.iter().any(|p| p == name) {
                list.push(name.to_owned());
            }
        }
        list
    }

    /// Appends the request to `out`, in Qt 6.12's header order:
    ///
    /// ```text
    /// GET <resource> HTTP/1.1
    /// Host: <host>
    /// Upgrade: websocket
    /// Connection: Upgrade
    /// Sec-WebSocket-Key: <key>
    /// Origin: <origin>                  (if set and not empty)
    /// Sec-WebSocket-Version: 13
    /// Sec-WebSocket-Protocol: a, b      (if at least one valid name)
    /// Sec-WebSocket-Extensions: permessage-deflate; ...   (if compression is enabled)
    /// <extra headers, in order>
    /// <empty line>
    /// ```
    ///
    /// Two extra headers are not sent as they are (names compared
    /// case-insensitively): `Host` replaces the host (the last one wins; it is not
    /// sent twice), and the entries of `Sec-WebSocket-Protocol` join the protocol
    /// list (see [`requested_subprotocols`](Self::requested_subprotocols)). Other
    /// extra headers go out as given, even one that repeats a header of the
    /// request (like Qt). Header names keep the case they are given in: Qt 6.12
    /// lower-cases them, a quirk not worth copying since names are
    /// case-insensitive anyway.
    ///
    /// Nothing is written on error ([`InvalidField`](HandshakeErrorKind::InvalidField)):
    /// a CR or LF in the resource, host, key, origin or any extra header name or
    /// value (Qt's "… contains newlines. Possible attack detected."), any other
    /// control character but the tab there, NUL included ("… contains the
    /// control character 0x00. Possible attack detected."), an extra
    /// header name that is not an HTTP token, or an empty resource or host, or
    /// one with spaces or control characters.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::client::ClientRequest;
    /// let url = url::Url::parse("ws://h:1/").unwrap();
    /// let mut req = ClientRequest::from_url(&url, "dGhlIHNhbXBsZSBub25jZQ==".into()).unwrap();
    /// req.origin = Some("http://o".into());
    /// let mut out = Vec::new();
    /// req.encode(&mut out).unwrap();
    /// assert_eq!(
    ///     String::from_utf8(out).unwrap(),
    ///     "GET / HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://o\r\n\
    ///      Sec-WebSocket-Version: 13\r\n\r\n"
    /// );
    ///
    /// req.origin = Some("http://o\r\nX-Evil: 1".into());
    /// let mut out = Vec::new();
    /// assert!(req.encode(&mut out).is_err());
    /// assert!(out.is_empty());
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), HandshakeError> {
        self.check()?;
        let host = self
            .headers
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case("Host"))
            .map_or(self.host.as_str(), |(_, value)| value.as_str());
        if !is_plain_field(host) {
            return Err(invalid("Invalid host name."));
        }
        let protocols = self.requested_subprotocols();

        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.resource.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let mut line = |name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        line("Host", host);
        line("Upgrade", "websocket");
        line("Connection", "Upgrade");
        line("Sec-WebSocket-Key", &self.key);
        if let Some(origin) = self.origin.as_deref().filter(|o| !o.is_empty()) {
            line("Origin", origin);
        }
        line("Sec-WebSocket-Version", "13");
        if !protocols.is_empty() {
            line("Sec-WebSocket-Protocol", &protocols.join(", "));
        }
        if let Some(c) = self.compression.as_ref().filter(|c| c.enabled) {
            line("Sec-WebSocket-Extensions", &deflate::client_offer(c));
        }
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("Host")
                || name.eq_ignore_ascii_case("Sec-WebSocket-Protocol")
            {
                continue;
            }
            line(name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Every check of [`encode`](Self::encode) that does not depend on the
    /// effective host.
    fn check(&self) -> Result<(), HandshakeError> {
        if has_newline(&self.resource) {
            return Err(invalid(
                "The resource name contains newlines. Possible attack detected.",
            ));
        }
        if !is_plain_field(&self.resource) {
            return Err(invalid("Invalid resource name."));
        }
        if has_newline(&self.host) {
            return Err(invalid(
                "The hostname contains newlines. Possible attack detected.",
            ));
        }
        if has_newline(&self.key) {
            return Err(invalid(
                "The key contains newlines. Possible attack detected.",
            ));
        }
        if self.origin.as_deref().is_some_and(has_newline) {
            return Err(invalid(
                "The origin contains newlines. Possible attack detected.",
            ));
        }
        // NUL and the other control characters: not newlines, as harmful.
        check_no_control("hostname", &self.host)?;
        check_no_control("key", &self.key)?;
        check_no_control("origin", self.origin.as_deref().unwrap_or_default())?;
        for (name, value) in &self.headers {
            if has_newline(name) || has_newline(value) {
                return Err(invalid(
                    "A request header contains newlines. Possible attack detected.",
                ));
            }
            check_no_control("request header", name)?;
            check_no_control("request header", value)?;
            if !is_token(name.as_bytes()) {
                return Err(invalid(format!(
                    "Invalid request header name: {}",
                    shown(name.as_bytes())
                )));
            }
        }
        Ok(())
    }
}

/// True if `s` is non-empty and has no space or control character (a resource or
/// a host).
fn is_plain_field(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c == ' ' || c.is_control())
}

fn invalid(message: impl Into<String>) -> HandshakeError {
    HandshakeError::new(HandshakeErrorKind::InvalidField, message)
}

/// The server's accepted answer to a [`ClientRequest`].
///
/// ```
/// use qwebsocket::protocol::handshake::client::{ClientRequest, parse_response};
/// use qwebsocket::protocol::handshake::accept_key;
/// let url = url::Url::parse("ws://h/").unwrap();
/// let mut req = ClientRequest::from_url(&url, "dGhlIHNhbXBsZSBub25jZQ==".into()).unwrap();
/// req.subprotocols = vec!["chat".into()];
/// let answer = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
///     accept_key(req.key.as_bytes())
/// );
/// let resp = parse_response(answer.as_bytes(), &req, 4096).unwrap().unwrap();
/// assert_eq!(resp.reason, "Switching Protocols");
/// assert_eq!(resp.subprotocol.as_deref(), Some("chat"));
/// assert_eq!(resp.headers[0], ("Upgrade".to_string(), b"websocket".to_vec()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    /// The status code, always 101 in a successful answer.
    pub status: u16,
    /// The reason phrase (empty if missing or not ASCII).
    pub reason: String,
    /// Every header, in order, names as sent, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters, if the server accepted the offer.
    pub compression: Option<DeflateParams>,
    /// Length of the HTTP head including its blank line: frames may follow it.
    pub head_len: usize,
}

/// Parses and checks the server's answer to `req`.
///
/// Returns `Ok(None)` while the head is incomplete; at most `max_head` bytes are
/// waited for, then it fails with [`TooLarge`](HandshakeErrorKind::TooLarge)
/// ("Header is too large"). On success the returned
/// [`head_len`](ClientResponse::head_len) is the number of bytes consumed: frames
/// may follow in the same buffer. The whole buffer is searched for the blank line
/// on every call; a caller that reads the head in many small pieces can wait for
/// a [`HeadScanner`](super::HeadScanner) to find it before calling this.
///
/// Checks (RFC 6455 §4.1 and our contract), in order, with their error kind and
/// message:
///
/// * a parsable head of at most [`MAX_HEADERS`] header lines (Qt's "Read
///   handshake request status failed" / "Parsing handshake request header
///   failed"; kind `Malformed`, or `TooLarge` for too many lines);
/// * status `101`, else: a `400` whose `Sec-WebSocket-Version` lacks 13 is
///   `UnsupportedVersion` ("Handshake: Server requests a version that we don't
///   support: 8."), anything else `BadStatus` ("Unhandled http status code: 403
///   (Forbidden).", with the server's reason phrase);
/// * HTTP/1.1 exactly (`HTTP/1.0 101` is refused, `BadStatus`), an `Upgrade`
///   token list holding `websocket` and a `Connection` token list holding
///   `upgrade` (case-insensitive, so `keep-alive, Upgrade` is fine;
///   `BadUpgrade`), and a `Sec-WebSocket-Accept` header (`BadAccept`), all with
///   Qt's "Invalid parameter encountered during protocol upgrade: Accept-key
///   size: 28, version: 1.1, upgrade: websocket, connection: close";
/// * exactly one `Sec-WebSocket-Accept`, equal to [`accept_key`] of `req.key`
///   (`BadAccept`, "Accept-Key received from server X does not match the client
///   key Y." where, as in Qt's source, Y is the accept value expected for our key);
/// * at most one `Sec-WebSocket-Protocol` value, one of
///   [`req.requested_subprotocols()`](ClientRequest::requested_subprotocols)
///   (`UnrequestedSubprotocol`, "WebSocket server has chosen protocol X which has
///   not been requested"); an empty value counts as none;
/// * no `Sec-WebSocket-Extensions` with a non-empty value unless the request
///   offered permessage-deflate (`UnrequestedExtension`; Qt ignores this
///   header, our contract refuses it); if it did, an answer that
///   [`deflate::client_accept`] takes (`UnrequestedExtension` or
///   `BadExtension`).
///
/// Unlike Qt, the status code is looked at before the subprotocol, so a `403`
/// is reported as such whatever else the answer holds. The reason phrase and
/// the case of header names are not checked.
///
/// ```
/// use qwebsocket::protocol::handshake::client::{ClientRequest, parse_response};
/// use qwebsocket::protocol::handshake::HandshakeErrorKind;
/// let url = url::Url::parse("ws://h/").unwrap();
/// let req = ClientRequest::from_url(&url, "dGhlIHNhbXBsZSBub25jZQ==".into()).unwrap();
/// assert_eq!(parse_response(b"HTTP/1.1 403 Forbidden\r\n", &req, 4096), Ok(None));
/// let err = parse_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", &req, 4096).unwrap_err();
/// assert_eq!(err.kind, HandshakeErrorKind::BadStatus);
/// assert_eq!(err.message, "Unhandled http status code: 403 (Forbidden).");
/// ```
pub fn parse_response(
    buf: &[u8],
    req: &ClientRequest,
    max_head: usize,
) -> Result<Option<ClientResponse>, HandshakeError> {
    let Some(head_len) = find_head_end(buf, max_head)? else {
        return Ok(None);
    };
    let head = buf.get(..head_len).unwrap_or(buf);
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut storage);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(malformed("Parsing handshake request header failed"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::new(
                HandshakeErrorKind::TooLarge,
                "Parsing handshake request header failed",
            ));
        }
        Err(httparse::Error::Version | httparse::Error::Status) => {
            return Err(malformed("Read handshake request status failed"));
        }
        Err(_) => return Err(malformed("Parsing handshake request header failed")),
    }
    let (Some(minor), Some(status)) = (parsed.version, parsed.code) else {
        return Err(malformed("Read handshake request status failed"));
    };
    let reason = parsed.reason.unwrap_or_default();
    let headers: &[httparse::Header<'_>] = parsed.headers;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| trim_ows(h.value))
    };
    let joined = |name: &'static str| {
        let all: Vec<&[u8]> = values(name).collect();
        shown(&all.join(&b", "[..]))
    };

    if status != 101 {
        if status == 401 {
            let basic = values("WWW-Authenticate")
                .find(|v| v.len() >= 5 && v[..5].eq_ignore_ascii_case(b"basic"));
            return Err(match basic {
                Some(challenge) => HandshakeError::new(
                    HandshakeErrorKind::AuthenticationRequired,
                    format!("Host requires authentication: {}", shown(challenge)),
                ),
                None => HandshakeError::new(
                    HandshakeErrorKind::UnsupportedAuthentication,
                    "Unsupported WWW-Authenticate challenge(s) encountered.",
                ),
            });
        }
        if status == 400 {
            let versions: Vec<&[u8]> = list_elements(values("Sec-WebSocket-Version")).collect();
            if !versions.is_empty() && !versions.iter().any(|v| *v == b"13") {
                return Err(HandshakeError::new(
                    HandshakeErrorKind::UnsupportedVersion,
                    format!(
                        "Handshake: Server requests a version that we don't support: {}.",
                        shown(&versions.join(&b", "[..]))
                    ),
                ));
            }
        }
        return Err(HandshakeError::new(
            HandshakeErrorKind::BadStatus,
            format!(
                "Unhandled http status code: {status} ({}).",
                shown(reason.as_bytes())
            ),
        ));
    }

    let accepts: Vec<&[u8]> = values("Sec-WebSocket-Accept").collect();
    let upgrade_error = |kind| {
        HandshakeError::new(
            kind,
            format!(
                "Invalid parameter encountered during protocol upgrade: Accept-key size: {}, \
                 version: 1.{minor}, upgrade: {}, connection: {}",
                accepts.first().map_or(0, |a| a.len()),
                joined("Upgrade"),
                joined("Connection"),
            ),
        )
    };
    if minor != 1 {
        return Err(upgrade_error(HandshakeErrorKind::BadStatus));
    }
    if !has_token(values("Upgrade"), "websocket") || !has_token(values("Connection"), "upgrade") {
        return Err(upgrade_error(HandshakeErrorKind::BadUpgrade));
    }
    let expected = accept_key(req.key.as_bytes());
    match accepts.as_slice() {
        [] | [[]] => return Err(upgrade_error(HandshakeErrorKind::BadAccept)),
        [accept] if *accept == expected.as_bytes() => {}
        [accept] => {
            return Err(HandshakeError::new(
                HandshakeErrorKind::BadAccept,
                format!(
                    "Accept-Key received from server {} does not match the client key {expected}.",
                    shown(accept)
                ),
            ));
        }
        _ => {
            return Err(HandshakeError::new(
                HandshakeErrorKind::BadAccept,
                format!(
                    "More than one Accept-Key received from server: {}.",
                    joined("Sec-WebSocket-Accept")
                ),
            ));
        }
    }

    let chosen: Vec<&[u8]> = list_elements(values("Sec-WebSocket-Protocol")).collect();
    let subprotocol = match chosen.as_slice() {
        [] => None,
        [one] => {
            let requested = req.requested_subprotocols();
            match requested.into_iter().find(|p| p.as_bytes() == *one) {
                Some(p) => Some(p),
                None => return Err(unrequested_protocol(&shown(one))),
            }
        }
        _ => return Err(unrequested_protocol(&joined("Sec-WebSocket-Protocol"))),
    };

    let extensions: Vec<&[u8]> = values("Sec-WebSocket-Extensions").collect();
    let offered = req.compression.clone().unwrap_or_default();
    let compression = deflate::client_accept(&extensions, &offered)?;

    Ok(Some(ClientResponse {
        status,
        reason: reason.to_owned(),
        headers: headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        subprotocol,
        compression,
        head_len,
    }))
}

fn malformed(message: &str) -> HandshakeError {
    HandshakeError::new(HandshakeErrorKind::Malformed, message)
}

fn unrequested_protocol(shown_name: &str) -> HandshakeError {
    HandshakeError::new(
        HandshakeErrorKind::UnrequestedSubprotocol,
        format!("WebSocket server has chosen protocol {shown_name} which has not been requested"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::MAX_HEADER_BLOCK;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn request(url: &str) -> ClientRequest {
        ClientRequest::from_url(&url::Url::parse(url).unwrap(), KEY.to_string()).unwrap()
    }

    fn encoded(req: &ClientRequest) -> String {
        let mut out = Vec::new();
        req.encode(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn encode_error(req: &ClientRequest) -> HandshakeError {
        let mut out = b"kept".to_vec();
        let err = req.encode(&mut out).unwrap_err();
        assert_eq!(out, b"kept", "nothing may be written on error");
        err
    }

    /// A valid 101 answer to a request with [`KEY`], with extra header lines.
    fn answer(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn parse(resp: &str, req: &ClientRequest) -> Result<Option<ClientResponse>, HandshakeError> {
        parse_response(resp.as_bytes(), req, MAX_HEADER_BLOCK)
    }

    fn parse_error(resp: &str, req: &ClientRequest) -> HandshakeError {
        parse(resp, req).unwrap_err()
    }

    #[test]
    fn generated_key_is_base64_of_the_16_bytes() {
        assert_eq!(generate_key(*b"the sample nonce"), KEY);
        assert_eq!(generate_key([0xff; 16]).len(), 24);
    }

    #[test]
    fn request_bytes_follow_qt_order_exactly() {
        let mut req = request("ws://example.com:8080/chat?room=1");
        req.origin = Some("http://example.com".into());
        req.subprotocols = vec!["chat".into(), "superchat".into()];
        req.headers = vec![
            ("X-Test".into(), "1".into()),
            ("Cookie".into(), "a=b; c=d".into()),
        ];
        assert_eq!(
            encoded(&req),
            "GET /chat?room=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             X-Test: 1\r\n\
             Cookie: a=b; c=d\r\n\
             \r\n"
        );
    }

    #[test]
    fn minimal_request_has_no_origin_and_no_protocol_header() {
        let mut req = request("ws://127.0.0.1:1234/");
        req.origin = Some(String::new());
        assert_eq!(
            encoded(&req),
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:1234\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn encode_appends_to_the_buffer() {
        let req = request("ws://h/");
        let mut out = b"before".to_vec();
        req.encode(&mut out).unwrap();
        assert!(out.starts_with(b"beforeGET / HTTP/1.1\r\n"));
    }

    #[test]
    fn host_has_explicit_port() {
        assert_eq!(request("ws://example.com:8080/").host, "example.com:8080");
        assert_eq!(request("wss://example.com:8443/").host, "example.com:8443");
    }

    #[test]
    fn host_has_default_port_when_url_has_none() {
        assert_eq!(request("ws://example.com/").host, "example.com:80");
        assert_eq!(request("wss://example.com").host, "example.com:443");
        // An explicit default port is still sent (url drops it, we add it back).
        assert_eq!(request("ws://example.com:80/").host, "example.com:80");
    }

    #[test]
    fn host_keeps_ipv6_brackets() {
        assert_eq!(request("ws://[::1]:9000/").host, "[::1]:9000");
        assert_eq!(request("wss://[2001:db8::1]/").host, "[2001:db8::1]:443");
    }

    #[test]
    fn scheme_is_case_insensitive_as_url_lowercases_it() {
        assert_eq!(request("WS://Example.COM/").host, "example.com:80");
    }

    #[test]
    fn fragment_and_user_info_are_dropped() {
        let req = request("ws://user:pw@h/path?q=1#frag");
        assert_eq!(req.resource, "/path?q=1");
        assert_eq!(req.host, "h:80");
        assert!(!encoded(&req).contains("frag"));
        assert!(!encoded(&req).contains("user"));
    }

    #[test]
    fn empty_path_becomes_slash() {
        assert_eq!(request("ws://h").resource, "/");
        assert_eq!(request("ws://h?x").resource, "/?x");
    }

    #[test]
    fn path_and_query_are_percent_encoded() {
        // Qt: open(ws://h:p/p a/th?x=1 2&y) gives /p%20a/th?x=1%202&y
        assert_eq!(
            request("ws://h:1/p a/th?x=1 2&y").resource,
            "/p%20a/th?x=1%202&y"
        );
        assert_eq!(request("ws://h/caf\u{e9}").resource, "/caf%C3%A9");
        assert_eq!(request("ws://h/a%2Fb").resource, "/a%2Fb");
    }

    #[test]
    fn from_url_refuses_other_schemes() {
        for (url, scheme) in [
            ("http://h/", "http"),
            ("ftp://h/", "ftp"),
            ("mailto:a@b", "mailto"),
        ] {
            let err =
                ClientRequest::from_url(&url::Url::parse(url).unwrap(), KEY.into()).unwrap_err();
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
            assert_eq!(
                err.message,
                format!("Unsupported WebSocket scheme: {scheme}")
            );
        }
    }

    #[test]
    fn from_url_refuses_percent_encoded_crlf_in_resource() {
        for url in ["ws://h/a%0D%0Ab", "ws://h/?q=%0d%0aX-Evil:%201"] {
            let err =
                ClientRequest::from_url(&url::Url::parse(url).unwrap(), KEY.into()).unwrap_err();
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
            assert_eq!(err.message, "Invalid resource name.");
        }
    }

    #[test]
    fn raw_newlines_in_url_text_never_reach_the_request() {
        // The URL parser removes raw CR, LF and tabs, so they cannot be injected.
        let req = request("ws://h/a\r\nX-Evil: 1");
        assert_eq!(req.resource, "/aX-Evil:%201");
        assert!(!encoded(&req).contains("\r\nX-Evil"));
    }

    #[test]
    fn from_url_refuses_newline_in_key() {
        let url = url::Url::parse("ws://h/").unwrap();
        let err = ClientRequest::from_url(&url, "abc\r\nX: y".into()).unwrap_err();
        assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
    }

    #[test]
    fn newline_in_resource_is_refused() {
        for bad in ["/a\r\nX: 1", "/a\n", "/a\r"] {
            let mut req = request("ws://h/");
            req.resource = bad.into();
            let err = encode_error(&req);
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
            assert_eq!(
                err.message,
                "The resource name contains newlines. Possible attack detected."
            );
        }
    }

    #[test]
    fn newline_in_host_is_refused() {
        let mut req = request("ws://h/");
        req.host = "h\r\nX: 1".into();
        assert_eq!(
            encode_error(&req).message,
            "The hostname contains newlines. Possible attack detected."
        );
    }

    #[test]
    fn newline_in_key_is_refused() {
        let mut req = request("ws://h/");
        req.key = "k\n".into();
        assert_eq!(
            encode_error(&req).message,
            "The key contains newlines. Possible attack detected."
        );
    }

    #[test]
    fn newline_in_origin_is_refused() {
        let mut req = request("ws://h/");
        req.origin = Some("http://o\r\nX: 1".into());
        assert_eq!(
            encode_error(&req).message,
            "The origin contains newlines. Possible attack detected."
        );
    }

    #[test]
    fn newline_in_extra_header_name_or_value_is_refused() {
        for (name, value) in [
            ("X-A\r\nX-B", "1"),
            ("X-A", "1\r\nX-B: 2"),
            ("X-A", "1\n"),
            ("Host", "h\r\n"),
            ("Sec-WebSocket-Protocol", "a\r\nb"),
        ] {
            let mut req = request("ws://h/");
            req.headers.push((name.into(), value.into()));
            let err = encode_error(&req);
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
            assert_eq!(
                err.message,
                "A request header contains newlines. Possible attack detected."
            );
        }
    }

    #[test]
    fn extra_header_name_must_be_a_token() {
        for name in ["", "X Y", "X:Y", "X\u{e9}"] {
            let mut req = request("ws://h/");
            req.headers.push((name.into(), "1".into()));
            assert_eq!(encode_error(&req).kind, HandshakeErrorKind::InvalidField);
        }
    }

    #[test]
    fn resource_and_host_with_spaces_or_empty_are_refused() {
        let mut req = request("ws://h/");
        req.resource = "/a b".into();
        assert_eq!(encode_error(&req).message, "Invalid resource name.");
        req.resource = String::new();
        assert_eq!(encode_error(&req).message, "Invalid resource name.");
        let mut req = request("ws://h/");
        req.host = String::new();
        assert_eq!(encode_error(&req).message, "Invalid host name.");
    }

    #[test]
    fn extra_header_names_keep_their_case() {
        let mut req = request("ws://h/");
        req.headers.push(("X-MiXeD".into(), "v".into()));
        assert!(encoded(&req).contains("\r\nX-MiXeD: v\r\n"));
    }

    #[test]
    fn extra_host_header_replaces_the_host_value() {
        let mut req = request("ws://h:1/");
        req.headers.push(("X-A".into(), "1".into()));
        req.headers.push(("host".into(), "virtual.example".into()));
        let text = encoded(&req);
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: virtual.example\r\nUpgrade:"));
        assert_eq!(text.matches("ost: ").count(), 1, "{text}");
        assert!(text.ends_with("Sec-WebSocket-Version: 13\r\nX-A: 1\r\n\r\n"));
    }

    #[test]
    fn invalid_subprotocol_names_are_dropped() {
        let mut req = request("ws://h/");
        req.subprotocols = ["a b", "ok", "", "x,y", "caf\u{e9}", "{x}", "\t"]
            .map(String::from)
            .to_vec();
        assert_eq!(req.requested_subprotocols(), ["ok"]);
        assert!(encoded(&req).contains("\r\nSec-WebSocket-Protocol: ok\r\n"));
    }

    #[test]
    fn protocol_header_is_omitted_when_no_name_is_valid() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["bad proto".into()];
        assert!(!encoded(&req).contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn protocol_header_entries_merge_after_the_options_without_duplicates() {
        // Qt's observed example: options {opt1, opt2, "bad proto"} plus a raw
        // header "hdrproto, opt1" give "opt1, opt2, hdrproto".
        let mut req = request("ws://h/");
        req.subprotocols = vec!["opt1".into(), "opt2".into(), "bad proto".into()];
        req.headers.push(("X-A".into(), "1".into()));
        req.headers
            .push(("sec-websocket-protocol".into(), "hdrproto, opt1,,".into()));
        req.headers
            .push(("Sec-WebSocket-Protocol".into(), " two ,hdrproto".into()));
        let text = encoded(&req);
        assert!(text.contains(
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: opt1, opt2, hdrproto, two\r\n\
             X-A: 1\r\n\r\n"
        ));
        assert_eq!(text.matches("rotocol").count(), 1, "{text}");
    }

    #[test]
    fn duplicate_subprotocol_options_are_sent_once() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["a".into(), "b".into(), "a".into()];
        assert_eq!(req.requested_subprotocols(), ["a", "b"]);
    }

    #[test]
    fn valid_response_is_accepted() {
        let req = request("ws://h/");
        let text = answer("");
        let resp = parse(&text, &req).unwrap().unwrap();
        assert_eq!(resp.status, 101);
        assert_eq!(resp.reason, "Switching Protocols");
        assert_eq!(resp.subprotocol, None);
        assert_eq!(resp.head_len, text.len());
        assert_eq!(resp.headers.len(), 3);
        assert_eq!(
            resp.headers[2],
            (
                "Sec-WebSocket-Accept".to_string(),
                ACCEPT.as_bytes().to_vec()
            )
        );
    }

    #[test]
    fn response_with_token_lists_and_mixed_case_is_accepted() {
        let req = request("ws://h/");
        let text = format!(
            "HTTP/1.1 101 Whatever\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n\
             sec-websocket-accept:{ACCEPT}  \r\n\r\n"
        );
        assert!(parse(&text, &req).unwrap().is_some());
        let text = format!(
            "HTTP/1.1 101 OK\r\nUpgrade: h2c, WEBSOCKET\r\nConnection: close\r\n\
             Connection: upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert!(parse(&text, &req).unwrap().is_some());
    }

    #[test]
    fn response_without_reason_phrase_is_accepted() {
        let req = request("ws://h/");
        let text = answer("").replace("101 Switching Protocols", "101");
        let resp = parse(&text, &req).unwrap().unwrap();
        assert_eq!(resp.reason, "");
    }

    #[test]
    fn frames_after_the_head_are_not_consumed() {
        let req = request("ws://h/");
        let head = answer("");
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(b"\x81\x02hi\x89\x00");
        let resp = parse_response(&buf, &req, MAX_HEADER_BLOCK)
            .unwrap()
            .unwrap();
        assert_eq!(resp.head_len, head.len());
        assert_eq!(&buf[resp.head_len..], b"\x81\x02hi\x89\x00");
    }

    #[test]
    fn response_split_at_every_byte_is_incomplete_until_the_blank_line() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["chat".into()];
        let head = answer("Sec-WebSocket-Protocol: chat\r\n");
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(b"\x81\x00");
        let whole = parse_response(&buf, &req, MAX_HEADER_BLOCK)
            .unwrap()
            .unwrap();
        for n in 0..buf.len() {
            let partial = parse_response(&buf[..n], &req, MAX_HEADER_BLOCK);
            if n < head.len() {
                assert_eq!(partial, Ok(None), "at {n}");
            } else {
                assert_eq!(partial.as_ref(), Ok(&Some(whole.clone())), "at {n}");
            }
        }
        assert_eq!(whole.head_len, head.len());
        assert_eq!(whole.subprotocol.as_deref(), Some("chat"));
    }

    #[test]
    fn failing_response_split_at_every_byte_fails_only_when_complete() {
        let req = request("ws://h/");
        let text = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        for n in 0..text.len() {
            assert_eq!(parse(&text[..n], &req), Ok(None), "at {n}");
        }
        assert_eq!(parse_error(text, &req).kind, HandshakeErrorKind::BadStatus);
    }

    #[test]
    fn status_401_with_basic_asks_for_authentication() {
        let req = request("ws://h/");
        let err = parse_error(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\n\r\n",
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::AuthenticationRequired);
        assert!(err.message.contains("realm=\"chat\""), "{}", err.message);
        let err = parse_error(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"x\"\r\n\r\n",
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::UnsupportedAuthentication);
    }

    #[test]
    fn other_status_is_bad_status_with_reason_phrase() {
        let req = request("ws://h/");
        let err = parse_error("HTTP/1.1 403 Forbidden\r\n\r\n", &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadStatus);
        assert_eq!(err.message, "Unhandled http status code: 403 (Forbidden).");
        let err = parse_error("HTTP/1.1 403 Access Forbidden\r\n\r\n", &req);
        assert_eq!(
            err.message,
            "Unhandled http status code: 403 (Access Forbidden)."
        );
        let err = parse_error("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n\r\n", &req);
        assert_eq!(err.message, "Unhandled http status code: 200 (OK).");
    }

    #[test]
    fn status_400_without_13_is_unsupported_version() {
        let req = request("ws://h/");
        let err = parse_error(
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 8\r\n\r\n",
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::UnsupportedVersion);
        assert_eq!(
            err.message,
            "Handshake: Server requests a version that we don't support: 8."
        );
        let err = parse_error(
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 8,7\r\n\
             Sec-WebSocket-Version: 0\r\n\r\n",
            &req,
        );
        assert_eq!(
            err.message,
            "Handshake: Server requests a version that we don't support: 8, 7, 0."
        );
    }

    #[test]
    fn status_400_listing_13_or_without_version_is_bad_status() {
        let req = request("ws://h/");
        for text in [
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 8, 13\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: \r\n\r\n",
        ] {
            let err = parse_error(text, &req);
            assert_eq!(err.kind, HandshakeErrorKind::BadStatus);
            assert_eq!(
                err.message,
                "Unhandled http status code: 400 (Bad Request)."
            );
        }
    }

    #[test]
    fn http_1_0_101_is_refused() {
        let req = request("ws://h/");
        let err = parse_error(&answer("").replace("HTTP/1.1", "HTTP/1.0"), &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadStatus);
        assert_eq!(
            err.message,
            "Invalid parameter encountered during protocol upgrade: Accept-key size: 28, \
             version: 1.0, upgrade: websocket, connection: Upgrade"
        );
    }

    #[test]
    fn http_2_status_line_is_malformed() {
        let req = request("ws://h/");
        let err = parse_error(&answer("").replace("HTTP/1.1", "HTTP/2.0"), &req);
        assert_eq!(err.kind, HandshakeErrorKind::Malformed);
        assert_eq!(err.message, "Read handshake request status failed");
    }

    #[test]
    fn missing_or_wrong_upgrade_is_bad_upgrade() {
        let req = request("ws://h/");
        let text = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        let err = parse_error(&text, &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadUpgrade);
        assert_eq!(
            err.message,
            "Invalid parameter encountered during protocol upgrade: Accept-key size: 28, \
             version: 1.1, upgrade: , connection: Upgrade"
        );
        let err = parse_error(&answer("").replace(": websocket", ": websockets"), &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadUpgrade);
    }

    #[test]
    fn missing_or_wrong_connection_is_bad_upgrade() {
        let req = request("ws://h/");
        let err = parse_error(
            &answer("").replace("Connection: Upgrade", "Connection: close"),
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::BadUpgrade);
        assert_eq!(
            err.message,
            "Invalid parameter encountered during protocol upgrade: Accept-key size: 28, \
             version: 1.1, upgrade: websocket, connection: close"
        );
        let err = parse_error(
            &answer("").replace("Connection: Upgrade", "X: Upgrade"),
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::BadUpgrade);
    }

    #[test]
    fn missing_accept_is_bad_accept() {
        let req = request("ws://h/");
        for accept in ["", "Sec-WebSocket-Accept: \r\n"] {
            let text = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\n{accept}\r\n"
            );
            let err = parse_error(&text, &req);
            assert_eq!(err.kind, HandshakeErrorKind::BadAccept);
            assert_eq!(
                err.message,
                "Invalid parameter encountered during protocol upgrade: Accept-key size: 0, \
                 version: 1.1, upgrade: websocket, connection: Upgrade"
            );
        }
    }

    #[test]
    fn wrong_accept_is_bad_accept_with_qt_message() {
        let mut req = request("ws://h/");
        req.key = generate_key([1; 16]);
        let expected = accept_key(req.key.as_bytes());
        let err = parse_error(&answer(""), &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadAccept);
        assert_eq!(
            err.message,
            format!(
                "Accept-Key received from server {ACCEPT} does not match the client key {expected}."
            )
        );
    }

    #[test]
    fn accept_compare_is_case_sensitive() {
        let req = request("ws://h/");
        let text = answer("").replace(ACCEPT, &ACCEPT.to_ascii_lowercase());
        assert_eq!(parse_error(&text, &req).kind, HandshakeErrorKind::BadAccept);
    }

    #[test]
    fn two_accept_headers_are_bad_accept() {
        let req = request("ws://h/");
        let err = parse_error(
            &answer(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::BadAccept);
        assert_eq!(
            err.message,
            format!("More than one Accept-Key received from server: {ACCEPT}, {ACCEPT}.")
        );
    }

    #[test]
    fn unrequested_subprotocol_is_refused() {
        let mut req = request("ws://h/");
        let err = parse_error(&answer("Sec-WebSocket-Protocol: chat\r\n"), &req);
        assert_eq!(err.kind, HandshakeErrorKind::UnrequestedSubprotocol);
        assert_eq!(
            err.message,
            "WebSocket server has chosen protocol chat which has not been requested"
        );
        req.subprotocols = vec!["Chat".into()];
        let err = parse_error(&answer("Sec-WebSocket-Protocol: chat\r\n"), &req);
        assert_eq!(err.kind, HandshakeErrorKind::UnrequestedSubprotocol);
    }

    #[test]
    fn more_than_one_subprotocol_is_refused() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["a".into(), "b".into()];
        for extra in [
            "Sec-WebSocket-Protocol: a, b\r\n",
            "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n",
        ] {
            let err = parse_error(&answer(extra), &req);
            assert_eq!(err.kind, HandshakeErrorKind::UnrequestedSubprotocol);
            assert_eq!(
                err.message,
                "WebSocket server has chosen protocol a, b which has not been requested"
            );
        }
    }

    #[test]
    fn subprotocol_from_merged_header_list_is_accepted() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["opt1".into()];
        req.headers
            .push(("Sec-WebSocket-Protocol".into(), "hdrproto".into()));
        let resp = parse(&answer("Sec-WebSocket-Protocol: hdrproto\r\n"), &req)
            .unwrap()
            .unwrap();
        assert_eq!(resp.subprotocol.as_deref(), Some("hdrproto"));
    }

    #[test]
    fn empty_subprotocol_header_means_none() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["chat".into()];
        let resp = parse(&answer("Sec-WebSocket-Protocol:\r\n"), &req)
            .unwrap()
            .unwrap();
        assert_eq!(resp.subprotocol, None);
    }

    #[test]
    fn unrequested_extension_is_refused() {
        let req = request("ws://h/");
        let err = parse_error(
            &answer("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            &req,
        );
        assert_eq!(err.kind, HandshakeErrorKind::UnrequestedExtension);
        assert_eq!(
            err.message,
            "WebSocket server has chosen extension permessage-deflate which has not been requested"
        );
        assert!(
            parse(&answer("Sec-WebSocket-Extensions: \r\n"), &req)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn unparsable_status_line_is_malformed() {
        let req = request("ws://h/");
        for text in [
            "HTTP/1.1 abc OK\r\n\r\n",
            "garbage\r\n\r\n",
            "HTTP/1.1 1010 X\r\n\r\n",
        ] {
            let err = parse_error(text, &req);
            assert_eq!(err.kind, HandshakeErrorKind::Malformed, "{text:?}");
            assert_eq!(err.message, "Read handshake request status failed");
        }
    }

    #[test]
    fn unparsable_header_line_is_malformed() {
        let req = request("ws://h/");
        for extra in [
            "NoColon\r\n",
            "Bad Name: x\r\n",
            " folded\r\n",
            "X: a\x01b\r\n",
        ] {
            let err = parse_error(&answer(extra), &req);
            assert_eq!(err.kind, HandshakeErrorKind::Malformed, "{extra:?}");
            assert_eq!(err.message, "Parsing handshake request header failed");
        }
    }

    #[test]
    fn more_than_100_header_lines_are_refused() {
        let req = request("ws://h/");
        let ok = answer(&"X: y\r\n".repeat(MAX_HEADERS - 3));
        assert!(parse(&ok, &req).unwrap().is_some());
        let err = parse_error(&answer(&"X: y\r\n".repeat(MAX_HEADERS - 2)), &req);
        assert_eq!(err.kind, HandshakeErrorKind::TooLarge);
        assert_eq!(err.message, "Parsing handshake request header failed");
    }

    #[test]
    fn too_large_head_is_refused() {
        let req = request("ws://h/");
        let text = answer(&format!("X: {}\r\n", "y".repeat(200)));
        assert!(
            parse_response(text.as_bytes(), &req, text.len())
                .unwrap()
                .is_some()
        );
        let err = parse_response(text.as_bytes(), &req, text.len() - 1).unwrap_err();
        assert_eq!(err.kind, HandshakeErrorKind::TooLarge);
        assert_eq!(err.message, "Header is too large");
        let endless = vec![b'x'; MAX_HEADER_BLOCK + 1];
        let err = parse_response(&endless, &req, MAX_HEADER_BLOCK).unwrap_err();
        assert_eq!(err.kind, HandshakeErrorKind::TooLarge);
    }

    #[test]
    fn long_peer_values_are_cut_in_messages() {
        let req = request("ws://h/");
        let text = answer("").replace(ACCEPT, &"A".repeat(10_000));
        let err = parse_error(&text, &req);
        assert_eq!(err.kind, HandshakeErrorKind::BadAccept);
        assert!(err.message.len() < 300, "{}", err.message);
    }

    /// A tiny deterministic generator, so the test needs no crate.
    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    #[test]
    fn mutated_responses_never_panic() {
        let mut req = request("ws://h/");
        req.subprotocols = vec!["chat".into()];
        let base =
            answer("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Version: 13\r\n").into_bytes();
        let alphabet = b"\r\n :,\x00\xff\x80aZ1/\t";
        let mut state = 42;
        for _ in 0..20_000 {
            let mut buf = base.clone();
            for _ in 0..(next(&mut state) % 6 + 1) {
                let pos = (next(&mut state) as usize) % (buf.len() + 1);
                let byte = alphabet[(next(&mut state) as usize) % alphabet.len()];
                match next(&mut state) % 3 {
                    0 if pos < buf.len() => buf[pos] = byte,
                    1 => buf.insert(pos, byte),
                    _ if pos < buf.len() => {
                        buf.remove(pos);
                    }
                    _ => {}
                }
            }
            let _ = parse_response(&buf, &req, 256);
            let _ = parse_response(&buf, &req, MAX_HEADER_BLOCK);
        }
    }
}
