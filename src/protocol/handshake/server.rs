//! The server side of the opening handshake: checking the upgrade request and
//! writing the answer (RFC 6455 §4.2).
//!
//! ```
//! use qwebsocket::protocol::handshake::server::{accept_response, choose_subprotocol, parse_request};
//! use qwebsocket::protocol::handshake::MAX_HEADER_BLOCK;
//!
//! let request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
//! let req = parse_request(request, MAX_HEADER_BLOCK).unwrap().unwrap();
//! let chosen = choose_subprotocol(&req.subprotocols, &["chat".to_string()]);
//! let answer = accept_response(&req, chosen, "", std::time::SystemTime::now()).unwrap();
//! assert!(answer.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! ```

use super::{
    HandshakeError, HandshakeErrorKind, MAX_HEADERS, accept_key, check_no_control, control_char,
    find_head_end, has_newline, has_token, is_token, list_elements, shown, trim_ows,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::{SystemTime, UNIX_EPOCH};

/// A valid upgrade request, as [`parse_request`] found it.
///
/// ```
/// use qwebsocket::protocol::handshake::server::parse_request;
/// let request = b"GET /chat?x=1 HTTP/1.1\r\nHost: h:8080\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nOrigin: http://o\r\n\r\n";
/// let req = parse_request(request, 4096).unwrap().unwrap();
/// assert_eq!(req.target, "/chat?x=1");
/// assert_eq!(req.host, "h:8080");
/// assert_eq!(req.origin.as_deref(), Some("http://o"));
/// assert_eq!(req.head_len, request.len());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRequest {
    /// The request-target as sent, e.g. `/chat?x=1` (or an absolute URL).
    pub target: String,
    /// The `Host` header, or the authority of an absolute target.
    pub host: String,
    /// The `Sec-WebSocket-Key` (checked: base64 of 16 bytes).
    pub key: String,
    /// The `Origin` header, if any (the first one).
    pub origin: Option<String>,
    /// The subprotocols the client asks for, in its order: the trimmed entries
    /// of every `Sec-WebSocket-Protocol` line, merged.
    pub subprotocols: Vec<String>,
    /// The extension entries the client offers, raw (parameters included), in
    /// its order; [`deflate::server_accept`](super::deflate::server_accept)
    /// picks a permessage-deflate one when the server enables compression.
    pub extensions: Vec<String>,
    /// Every header, in order, names as sent, values as lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// Length of the HTTP head including its blank line: frames may follow it.
    pub head_len: usize,
}

/// What a server sends when the request is not a valid upgrade, and why.
///
/// ```
/// use qwebsocket::protocol::handshake::server::parse_request;
/// let rejection = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 4096).unwrap_err();
/// assert_eq!(rejection.status, 400);
/// assert!(rejection.response.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
/// assert_eq!(rejection.message, "Missing or invalid Upgrade header (websocket required).");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status of the answer (400 or 426).
    pub status: u16,
    /// The full answer to write before closing the connection.
    pub response: Vec<u8>,
    /// A readable reason, for logs and the server's error string.
    pub message: String,
}

impl Rejection {
    fn new(status: u16, extra_headers: &[(&str, &str)], message: impl Into<String>) -> Self {
        Rejection {
            status,
            response: error_response(status, extra_headers),
            message: message.into(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> Rejection {
    Rejection::new(400, &[], message)
}

const VERSION_HEADER: (&str, &str) = ("Sec-WebSocket-Version", "13");

/// Parses and checks an upgrade request (RFC 6455 §4.2.1).
///
/// Returns `Ok(None)` while the head is incomplete. A head that goes past
/// `max_head` bytes without its blank line is refused with 400 and the message
/// "Header is too large." (Qt's words; Qt itself only closes the connection).
///
/// A request is valid when it has, in the order checked:
///
/// * a parsable head with at most [`MAX_HEADERS`] header lines;
/// * method `GET` and version HTTP/1.1 (HTTP/1.0 is refused; the parser knows no
///   later HTTP/1.x, so anything else is refused as malformed);
/// * an origin-form (`/…`) or absolute (`ws://host/…`) request-target;
/// * exactly one valid `Host` header (`host[:port]`, IPv6 in brackets, no user
///   info), or none with an absolute target, whose authority is then the host;
/// * an `Upgrade` token list holding `websocket` and a `Connection` token list
///   holding `upgrade` (case-insensitive);
/// * a `Sec-WebSocket-Version` list holding `13` (`8, 13` is fine, as in Qt);
/// * exactly one `Sec-WebSocket-Key` that is the base64 form of 16 bytes (Qt does
///   not check this; the RFC asks for it).
///
/// A missing version, or a list of numbers without 13, is answered with
/// `426 Upgrade Required` and `Sec-WebSocket-Version: 13`; a version list that is
/// not numbers gets `400 Bad Request` with that header too; every other failure
/// a plain `400 Bad Request` (see [`error_response`] for the bytes). Qt 6.12
/// sends no answer at all for most of these: our contract chose the RFC.
///
/// ```
/// use qwebsocket::protocol::handshake::server::parse_request;
/// let request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
/// assert_eq!(parse_request(&request[..20], 4096), Ok(None));
/// let rejection = parse_request(request, 4096).unwrap_err();
/// assert_eq!(rejection.status, 426);
/// assert_eq!(
///     rejection.response,
///     b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\
///       Content-Length: 0\r\nConnection: close\r\n\r\n"
/// );
/// ```
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Option<ServerRequest>, Rejection> {
    let head_len = match find_head_end(buf, max_head) {
        Ok(Some(len)) => len,
        Ok(None) => return Ok(None),
        Err(_) => return Err(bad_request("Header is too large.")),
    };
    let head = buf.get(..head_len).unwrap_or(buf);
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut storage);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad_request("Malformed HTTP request.")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(bad_request(format!(
                "Too many header lines (at most {MAX_HEADERS})."
            )));
        }
        Err(e) => return Err(bad_request(format!("Malformed HTTP request: {e}."))),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(bad_request("Malformed HTTP request."));
    };
    if method != "GET" {
        return Err(bad_request(format!(
            "Invalid request method {} (GET required).",
            shown(method.as_bytes())
        )));
    }
    if minor != 1 {
        return Err(bad_request(format!(
            "Unsupported HTTP version 1.{minor} (HTTP/1.1 required)."
        )));
    }
    let headers: &[httparse::Header<'_>] = parsed.headers;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| trim_ows(h.value))
    };

    let absolute_authority = if target.starts_with('/') {
        None
    } else {
        match absolute_target_authority(target) {
            Some(authority) => Some(authority),
            None => {
                return Err(bad_request(format!(
                    "Invalid request target {}.",
                    shown(target.as_bytes())
                )));
            }
        }
    };
    let hosts: Vec<&[u8]> = values("Host").collect();
    let host = match (hosts.as_slice(), absolute_authority) {
        ([], Some(authority)) => authority.as_bytes(),
        ([], None) => return Err(bad_request("Missing Host header.")),
        ([host], authority) => {
            if !is_valid_authority(host) {
                return Err(bad_request(format!("Invalid Host header {}.", shown(host))));
            }
            authority.map_or(*host, str::as_bytes)
        }
        _ => return Err(bad_request("More than one Host header.")),
    };

    if !has_token(values("Upgrade"), "websocket") {
        return Err(bad_request(
            "Missing or invalid Upgrade header (websocket required).",
        ));
    }
    if !has_token(values("Connection"), "upgrade") {
        return Err(bad_request(
            "Missing or invalid Connection header (upgrade required).",
        ));
    }

    let versions: Vec<&[u8]> = list_elements(values("Sec-WebSocket-Version")).collect();
    if versions.is_empty() {
        return Err(Rejection::new(
            426,
            &[VERSION_HEADER],
            "Missing Sec-WebSocket-Version header.",
        ));
    }
    if !versions
        .iter()
        .all(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit))
    {
        return Err(Rejection::new(
            400,
            &[VERSION_HEADER],
            format!(
                "Invalid Sec-WebSocket-Version header {}.",
                shown(&versions.join(&b", "[..]))
            ),
        ));
    }
    if !versions.iter().any(|v| *v == b"13") {
        return Err(Rejection::new(
            426,
            &[VERSION_HEADER],
            format!(
                "Unsupported WebSocket version {} (13 required).",
                shown(&versions.join(&b", "[..]))
            ),
        ));
    }

    let keys: Vec<&[u8]> = values("Sec-WebSocket-Key").collect();
    let key = match keys.as_slice() {
        [] => return Err(bad_request("Missing Sec-WebSocket-Key header.")),
        [key] => *key,
        _ => return Err(bad_request("More than one Sec-WebSocket-Key header.")),
    };
    // 16 bytes are 24 base64 characters: check the length before decoding.
    let key_ok = key.len() == 24 && STANDARD.decode(key).is_ok_and(|k| k.len() == 16);
    if !key_ok {
        return Err(bad_request(format!(
            "Invalid Sec-WebSocket-Key header {} (base64 of 16 bytes required).",
            shown(key)
        )));
    }

    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Some(ServerRequest {
        target: target.to_owned(),
        host: lossy(host),
        key: lossy(key),
        origin: values("Origin").next().map(lossy),
        subprotocols: list_elements(values("Sec-WebSocket-Protocol"))
            .map(lossy)
            .collect(),
        extensions: values("Sec-WebSocket-Extensions")
            .flat_map(split_extension_list)
            .map(lossy)
            .collect(),
        headers: headers
            .iter()
            .map(|h| (h.name.to_owned(), lossy(h.value)))
            .collect(),
        head_len,
    }))
}

/// The authority of an absolute request-target (`ws://host:port/path`), if the
/// target is one with an http, https, ws or wss scheme and a valid authority.
fn absolute_target_authority(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if !["http", "https", "ws", "wss"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    is_valid_authority(authority.as_bytes()).then_some(authority)
}

/// True if `s` is `host[:port]` without user info: visible ASCII, an IPv6
/// address in balanced brackets, a port of digits only.
fn is_valid_authority(s: &[u8]) -> bool {
    if s.is_empty()
        || !s
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && !b"@/?#\\,\"<>{}|^`".contains(&b))
    {
        return false;
    }
    let port = if let Some(inner) = s.strip_prefix(b"[") {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return false;
        };
        let (literal, after) = inner.split_at(close);
        let after = after.get(1..).unwrap_or_default();
        let is_ipv6 =
            std::str::from_utf8(literal).is_ok_and(|l| l.parse::<std::net::Ipv6Addr>().is_ok());
        if !is_ipv6 || after.contains(&b']') {
            return false;
        }
        match after {
            [] => return true,
            [b':', port @ ..] => port,
            _ => return false,
        }
    } else {
        if s.contains(&b'[') || s.contains(&b']') {
            return false;
        }
        match s.iter().position(|&b| b == b':') {
            None => return true,
            Some(colon) => {
                if colon == 0 {
                    return false;
                }
                s.get(colon + 1..).unwrap_or_default()
            }
        }
    };
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// Splits a `Sec-WebSocket-Extensions` value at the commas that are not inside
/// a quoted string; entries are trimmed, empty ones dropped.
fn split_extension_list(value: &[u8]) -> Vec<&[u8]> {
    let mut entries = super::deflate::split_unquoted(value, b',');
    entries.retain(|e| !e.is_empty());
    entries
}

/// The subprotocol to answer with: the first entry of the **client's** list
/// that `supported` holds (case-sensitive), as Qt chooses. Only a name that
/// may be sent is chosen (an HTTP token, RFC 6455 §4.1): a supported name
/// such as `"bad name"` is skipped, so that [`accept_response`] never refuses
/// the choice.
///
/// ```
/// use qwebsocket::protocol::handshake::server::choose_subprotocol;
/// let client = ["superchat".to_string(), "chat".to_string()];
/// let server = ["chat".to_string(), "superchat".to_string()];
/// assert_eq!(choose_subprotocol(&client, &server), Some("superchat"));
/// assert_eq!(choose_subprotocol(&client, &["Chat".to_string()]), None);
/// let odd = ["a b".to_string()];
/// assert_eq!(choose_subprotocol(&odd, &odd), None);
/// ```
pub fn choose_subprotocol<'a>(requested: &'a [String], supported: &[String]) -> Option<&'a str> {
    requested
        .iter()
        .find(|p| is_token(p.as_bytes()) && supported.contains(p))
        .map(String::as_str)
}

/// The `101 Switching Protocols` answer to `req`, in Qt 6.12's header order:
///
/// ```text
/// HTTP/1.1 101 Switching Protocols
/// Upgrade: websocket
/// Connection: Upgrade
/// Sec-WebSocket-Accept: <accept_key(key)>
/// Sec-WebSocket-Protocol: <subprotocol>        (if any)
/// Server: <server_name>                        (if not empty)
/// Access-Control-Allow-Credentials: false
/// Access-Control-Allow-Methods: GET
/// Access-Control-Allow-Headers: content-type
/// Access-Control-Allow-Origin: <origin, or * without one>
/// Date: <http_date(now)>
/// <empty line>
/// ```
///
/// Errors ([`InvalidField`](HandshakeErrorKind::InvalidField)): a CR or LF in
/// `server_name` (or in the request's key or origin, which a parsed request
/// cannot have) gives Qt's "One of the headers contains a newline. Possible
/// attack detected."; another control character there, NUL included, gives
/// "The server name contains the control character 0x00. Possible attack
/// detected."; a `subprotocol` the client did not ask for (RFC 6455
/// §4.2.2: the client would fail the connection) is refused too. Qt writes a
/// broken mixed 101/400 answer in the newline case; the caller should instead
/// send `error_response(500, &[])` (the fault is the server's).
///
/// ```
/// use qwebsocket::protocol::handshake::server::{accept_response, parse_request};
/// use std::time::{Duration, UNIX_EPOCH};
/// let request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let req = parse_request(request, 4096).unwrap().unwrap();
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// let answer = accept_response(&req, None, "", now).unwrap();
/// assert_eq!(
///     String::from_utf8(answer).unwrap(),
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///      Access-Control-Allow-Credentials: false\r\nAccess-Control-Allow-Methods: GET\r\n\
///      Access-Control-Allow-Headers: content-type\r\nAccess-Control-Allow-Origin: *\r\n\
///      Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
/// );
/// assert!(accept_response(&req, None, "evil\r\nX: 1", now).is_err());
/// ```
pub fn accept_response(
    req: &ServerRequest,
    subprotocol: Option<&str>,
    server_name: &str,
    now: SystemTime,
) -> Result<Vec<u8>, HandshakeError> {
    accept_response_with_extensions(req, subprotocol, None, server_name, now)
}

/// [`accept_response`] with a `Sec-WebSocket-Extensions` answer (when
/// `Some`), the entry [`deflate::server_accept`](super::deflate::server_accept)
/// returned; it goes right after `Sec-WebSocket-Protocol`. A CR or LF in it is
/// refused like one in `server_name`.
///
/// ```
/// use qwebsocket::protocol::handshake::server::{accept_response_with_extensions, parse_request};
/// use std::time::UNIX_EPOCH;
/// let request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
/// let req = parse_request(request, 4096).unwrap().unwrap();
/// let answer = accept_response_with_extensions(&req, None, Some("permessage-deflate"), "", UNIX_EPOCH).unwrap();
/// let text = String::from_utf8(answer).unwrap();
/// assert!(text.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
/// ```
pub fn accept_response_with_extensions(
    req: &ServerRequest,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    server_name: &str,
    now: SystemTime,
) -> Result<Vec<u8>, HandshakeError> {
    if extensions.is_some_and(has_newline) {
        return Err(HandshakeError::new(
            HandshakeErrorKind::InvalidField,
            "One of the headers contains a newline. Possible attack detected.",
        ));
    }
    let origin = req.origin.as_deref().unwrap_or_default();
    if [server_name, origin, req.key.as_str()]
        .into_iter()
        .any(has_newline)
    {
        return Err(HandshakeError::new(
            HandshakeErrorKind::InvalidField,
            "One of the headers contains a newline. Possible attack detected.",
        ));
    }
    check_no_control("server name", server_name)?;
    check_no_control("origin", origin)?;
    if let Some(p) = subprotocol {
        if !is_token(p.as_bytes()) || !req.subprotocols.iter().any(|r| r == p) {
            return Err(HandshakeError::new(
                HandshakeErrorKind::InvalidField,
                format!(
                    "Subprotocol {} was not requested by the client.",
                    shown(p.as_bytes())
                ),
            ));
        }
    }

    let mut out = Vec::with_capacity(320);
    let mut line = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    line("Upgrade", "websocket");
    line("Connection", "Upgrade");
    line("Sec-WebSocket-Accept", &accept_key(req.key.as_bytes()));
    if let Some(p) = subprotocol {
        line("Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        line("Sec-WebSocket-Extensions", e);
    }
    if !server_name.is_empty() {
        line("Server", server_name);
    }
    line("Access-Control-Allow-Credentials", "false");
    line("Access-Control-Allow-Methods", "GET");
    line("Access-Control-Allow-Headers", "content-type");
    line(
        "Access-Control-Allow-Origin",
        if origin.is_empty() { "*" } else { origin },
    );
    line("Date", &http_date(now));
    out.extend_from_slice(b"\r\n");

    let mut response = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    response.append(&mut out);
    Ok(response)
}

/// An HTTP error answer that ends the connection:
///
/// ```text
/// HTTP/1.1 <status> <reason>
/// <extra headers, in order>
/// Content-Length: 0
/// Connection: close
/// <empty line>
/// ```
///
/// The reason phrase comes from the status: 400 Bad Request, 403 Forbidden,
/// 426 Upgrade Required, 500 Internal Server Error, 503 Service Unavailable,
/// anything else "Error". An
/// extra header whose name or value holds a CR, LF, NUL or other control character is left out. (Qt's own
/// origin refusal is `403 Access Forbidden` without headers; clients do not look
/// at the phrase.)
///
/// ```
/// use qwebsocket::protocol::handshake::server::error_response;
/// assert_eq!(
///     error_response(403, &[]),
///     b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
/// );
/// assert_eq!(
///     error_response(400, &[("Sec-WebSocket-Version", "13")]),
///     b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\
///       Content-Length: 0\r\nConnection: close\r\n\r\n"
/// );
/// ```
pub fn error_response(status: u16, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in extra_headers {
        // CR, LF, NUL or another control character: left out.
        if control_char(name).is_some() || control_char(value).is_some() {
            continue;
        }
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");
    out
}

/// `t` as an HTTP date (IMF-fixdate, RFC 7231 §7.1.1.1), always in GMT:
/// `Sun, 06 Nov 1994 08:49:37 GMT`. Sub-second parts are dropped; instants
/// before 1970 work too.
///
/// ```
/// use qwebsocket::protocol::handshake::server::http_date;
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn http_date(t: SystemTime) -> String {
    let secs: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            // Round towards the past: 0.5 s before the epoch is 23:59:59.
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let extra = i64::from(d.subsec_nanos() > 0);
            whole.saturating_add(extra).saturating_neg()
        }
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS
        .get(usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Sun");
    let month_name = MONTHS
        .get(usize::try_from(month - 1).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian (year, month 1..=12, day 1..=31) of a day counted
/// from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let mp = (5 * day_of_year + 2) / 153; // 0..=11, March = 0
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::MAX_HEADER_BLOCK;
    use std::time::Duration;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// A valid request with `extra` header lines added before the blank line.
    fn request(extra: &str) -> String {
        format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n"
        )
    }

    /// [`request`] with the header line starting with `name` removed.
    fn request_without(name: &str) -> String {
        request("")
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with(name))
            .collect()
    }

    fn parse(text: &str) -> Result<Option<ServerRequest>, Rejection> {
        parse_request(text.as_bytes(), MAX_HEADER_BLOCK)
    }

    fn rejected(text: &str) -> Rejection {
        parse(text).unwrap_err()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const BAD_REQUEST: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const UPGRADE_REQUIRED: &[u8] = b"HTTP/1.1 426 Upgrade Required\r\n\
        Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    fn assert_bad_request(text: &str, message: &str) {
        let r = rejected(text);
        assert_eq!(r.status, 400, "{text:?}");
        assert_eq!(r.response, BAD_REQUEST, "{text:?}");
        assert_eq!(r.message, message, "{text:?}");
    }

    #[test]
    fn valid_request_is_parsed() {
        let text = request(
            "Origin: http://example.com\r\nSec-WebSocket-Protocol: superchat, chat\r\n\
             X-Custom: v\r\nsec-websocket-protocol:  extra ,, chat2\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-y; a=\"1,2\"\r\n",
        );
        let req = parse(&text).unwrap().unwrap();
        assert_eq!(req.target, "/chat?x=1");
        assert_eq!(req.host, "example.com:8080");
        assert_eq!(req.key, KEY);
        assert_eq!(req.origin.as_deref(), Some("http://example.com"));
        assert_eq!(req.subprotocols, ["superchat", "chat", "extra", "chat2"]);
        assert_eq!(
            req.extensions,
            [
                "permessage-deflate; client_max_window_bits",
                "x-y; a=\"1,2\""
            ]
        );
        assert_eq!(req.headers.len(), 10);
        assert_eq!(
            req.headers[0],
            ("Host".to_string(), "example.com:8080".to_string())
        );
        assert_eq!(req.headers[7], ("X-Custom".to_string(), "v".to_string()));
        assert_eq!(req.headers[8].0, "sec-websocket-protocol");
        assert_eq!(req.head_len, text.len());
    }

    #[test]
    fn lower_case_names_token_lists_and_version_lists_are_accepted() {
        let text = format!(
            "GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
             sec-websocket-key:{KEY}\r\nsec-websocket-version: 8, 13\r\n\r\n"
        );
        let req = parse(&text).unwrap().unwrap();
        assert_eq!(req.host, "h");
        assert_eq!(req.origin, None);
        assert!(req.subprotocols.is_empty());
        assert!(req.extensions.is_empty());
    }

    #[test]
    fn absolute_target_without_host_takes_its_authority() {
        let text = request_without("Host").replace("/chat?x=1", "ws://example.com:9000/chat");
        let req = parse(&text).unwrap().unwrap();
        assert_eq!(req.target, "ws://example.com:9000/chat");
        assert_eq!(req.host, "example.com:9000");
        // With a Host header too, the target's authority wins (RFC 7230 §5.4).
        let text = request("").replace("/chat?x=1", "http://[::1]:1?q");
        assert_eq!(parse(&text).unwrap().unwrap().host, "[::1]:1");
    }

    #[test]
    fn frames_after_the_head_are_not_consumed() {
        let text = request("");
        let mut buf = text.clone().into_bytes();
        buf.extend_from_slice(b"\x81\x82abcd\x00\x00");
        let req = parse_request(&buf, MAX_HEADER_BLOCK).unwrap().unwrap();
        assert_eq!(req.head_len, text.len());
        assert_eq!(&buf[req.head_len..], b"\x81\x82abcd\x00\x00");
    }

    #[test]
    fn request_split_at_every_byte_is_incomplete_until_the_blank_line() {
        let text = request("Sec-WebSocket-Protocol: chat\r\n");
        let mut buf = text.clone().into_bytes();
        buf.push(0x81);
        let whole = parse_request(&buf, MAX_HEADER_BLOCK).unwrap().unwrap();
        for n in 0..buf.len() {
            let partial = parse_request(&buf[..n], MAX_HEADER_BLOCK);
            if n < text.len() {
                assert_eq!(partial, Ok(None), "at {n}");
            } else {
                assert_eq!(partial, Ok(Some(whole.clone())), "at {n}");
            }
        }
    }

    #[test]
    fn bad_request_response_bytes_are_exact() {
        let r = rejected(&request_without("Sec-WebSocket-Key"));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.response,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(r.message, "Missing Sec-WebSocket-Key header.");
    }

    #[test]
    fn missing_version_is_426_with_version_header() {
        let r = rejected(&request_without("Sec-WebSocket-Version"));
        assert_eq!(r.status, 426);
        assert_eq!(r.response, UPGRADE_REQUIRED);
        assert_eq!(r.message, "Missing Sec-WebSocket-Version header.");
        let r = rejected(&request("").replace("Version: 13", "Version: "));
        assert_eq!(r.status, 426);
    }

    #[test]
    fn unsupported_version_is_426_with_version_header() {
        for (version, shown) in [("8", "8"), ("7,8", "7, 8"), ("130", "130"), ("013", "013")] {
            let r = rejected(&request("").replace("Version: 13", &format!("Version: {version}")));
            assert_eq!(r.status, 426, "{version}");
            assert_eq!(r.response, UPGRADE_REQUIRED);
            assert_eq!(
                r.message,
                format!("Unsupported WebSocket version {shown} (13 required).")
            );
        }
    }

    #[test]
    fn non_numeric_version_is_400_with_version_header() {
        for version in ["abc", "13, x", "1.3"] {
            let r = rejected(&request("").replace("Version: 13", &format!("Version: {version}")));
            assert_eq!(r.status, 400, "{version}");
            assert_eq!(
                r.response,
                b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            assert!(
                r.message
                    .starts_with("Invalid Sec-WebSocket-Version header")
            );
        }
    }

    #[test]
    fn version_list_holding_13_is_accepted() {
        let text = request("Sec-WebSocket-Version: 8\r\n").replace("Version: 13", "Version: 7, 13");
        assert!(parse(&text).unwrap().is_some());
    }

    #[test]
    fn method_other_than_get_is_400() {
        assert_bad_request(
            &request("").replacen("GET", "POST", 1),
            "Invalid request method POST (GET required).",
        );
        assert_bad_request(
            &request("").replacen("GET", "get", 1),
            "Invalid request method get (GET required).",
        );
    }

    #[test]
    fn http_1_0_is_400() {
        assert_bad_request(
            &request("").replace("HTTP/1.1", "HTTP/1.0"),
            "Unsupported HTTP version 1.0 (HTTP/1.1 required).",
        );
    }

    #[test]
    fn unknown_http_version_is_400() {
        for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/a.1", "FTP/1.1"] {
            let r = rejected(&request("").replace("HTTP/1.1", version));
            assert_eq!(r.status, 400);
            assert_eq!(r.message, "Malformed HTTP request: invalid HTTP version.");
        }
    }

    #[test]
    fn missing_or_empty_host_is_400() {
        assert_bad_request(&request_without("Host"), "Missing Host header.");
        assert_bad_request(
            &request("").replace("Host: example.com:8080", "Host: "),
            "Invalid Host header .",
        );
    }

    #[test]
    fn invalid_host_is_400() {
        for host in [
            "abc:def@foo.com",
            "@foo.com",
            "foo.com/",
            "56:56:56]",
            "[::1",
            "[::1]x",
            "h:8a",
            ":80",
            "a b",
            "[]",
            "h:123456",
        ] {
            let r = rejected(&request("").replace("example.com:8080", host));
            assert_eq!(r.status, 400, "{host}");
            assert!(
                r.message.starts_with("Invalid Host header"),
                "{host}: {}",
                r.message
            );
        }
    }

    #[test]
    fn ip_future_literals_are_refused() {
        // RFC 3986 allows `[v7.1234]`, but no URL can be rebuilt from it for
        // request_url(): refused, like any other bracketed non-IPv6 text.
        let r = parse(&request("").replace("example.com:8080", "[v7.1234]")).unwrap_err();
        assert_eq!(r.status, 400);
    }

    #[test]
    fn valid_hosts_are_accepted() {
        for host in ["localhost:1234", "127.0.0.1", "[::1]", "[::1]:80", "h:"] {
            let req = parse(&request("").replace("example.com:8080", host)).unwrap();
            assert_eq!(req.unwrap().host, host);
        }
    }

    #[test]
    fn two_host_headers_are_400() {
        assert_bad_request(&request("Host: other\r\n"), "More than one Host header.");
    }

    #[test]
    fn invalid_request_target_is_400() {
        for target in ["*", "chat", "ftp://h/", "ws:///x", "ws://u@h/"] {
            let r = rejected(&request("").replace("/chat?x=1", target));
            assert_eq!(r.status, 400, "{target}");
            assert_eq!(r.message, format!("Invalid request target {target}."));
        }
    }

    #[test]
    fn missing_or_wrong_upgrade_is_400() {
        let message = "Missing or invalid Upgrade header (websocket required).";
        assert_bad_request(&request_without("Upgrade"), message);
        assert_bad_request(&request("").replace(": websocket", ": wabsocket"), message);
        assert_bad_request(
            &request("").replace(": websocket", ": websocket/13"),
            message,
        );
    }

    #[test]
    fn missing_or_wrong_connection_is_400() {
        let message = "Missing or invalid Connection header (upgrade required).";
        assert_bad_request(&request_without("Connection"), message);
        assert_bad_request(
            &request("").replace("Connection: Upgrade", "Connection: close"),
            message,
        );
    }

    #[test]
    fn missing_key_is_400() {
        assert_bad_request(
            &request_without("Sec-WebSocket-Key"),
            "Missing Sec-WebSocket-Key header.",
        );
    }

    #[test]
    fn key_that_is_not_16_bytes_of_base64_is_400() {
        for key in [
            "abc",                          // Qt accepts this one
            "AVDFBDDFF",                    // and this one (tst_handshakerequest)
            "AAAAAAAAAAAAAAAAAAAA",         // 15 bytes
            "AAAAAAAAAAAAAAAAAAAAAAA=",     // 17 bytes
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 21 bytes
            "AAAAAAAAAAAAAAAAAAAAA!==",     // not base64
            "AAAAAAAAAAAAAAAAAAAAAB==",     // non-canonical last bits
            "AAAAAAAAAAAAAAAAAAAAAA",       // no padding
        ] {
            let r = rejected(&request("").replace(KEY, key));
            assert_eq!(r.status, 400, "{key}");
            assert_eq!(r.response, BAD_REQUEST);
            assert_eq!(
                r.message,
                format!("Invalid Sec-WebSocket-Key header {key} (base64 of 16 bytes required).")
            );
        }
        let req = parse(&request("").replace(KEY, "AAAAAAAAAAAAAAAAAAAAAA==")).unwrap();
        assert!(req.is_some());
    }

    #[test]
    fn two_keys_are_400() {
        assert_bad_request(
            &request(&format!("Sec-WebSocket-Key: {KEY}\r\n")),
            "More than one Sec-WebSocket-Key header.",
        );
    }

    #[test]
    fn garbage_is_400() {
        for text in [
            "\x00\x00\x00\r\n\r\n",
            "GET\r\n\r\n",
            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        ] {
            let r = rejected(text);
            assert_eq!(r.status, 400, "{text:?}");
            assert_eq!(r.response, BAD_REQUEST);
            assert!(
                r.message.starts_with("Malformed HTTP request"),
                "{}",
                r.message
            );
        }
    }

    #[test]
    fn too_large_head_is_400() {
        let text = request(&format!("X: {}\r\n", "y".repeat(300)));
        assert!(
            parse_request(text.as_bytes(), text.len())
                .unwrap()
                .is_some()
        );
        let r = parse_request(text.as_bytes(), text.len() - 1).unwrap_err();
        assert_eq!(r.status, 400);
        assert_eq!(r.response, BAD_REQUEST);
        assert_eq!(r.message, "Header is too large.");
        let endless = vec![b'a'; MAX_HEADER_BLOCK + 1];
        assert_eq!(
            parse_request(&endless, MAX_HEADER_BLOCK)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_request(&endless[..MAX_HEADER_BLOCK], MAX_HEADER_BLOCK),
            Ok(None)
        );
    }

    #[test]
    fn more_than_100_header_lines_are_400() {
        let ok = request(&"X: y\r\n".repeat(MAX_HEADERS - 5));
        assert!(parse(&ok).unwrap().is_some());
        assert_bad_request(
            &request(&"X: y\r\n".repeat(MAX_HEADERS - 4)),
            "Too many header lines (at most 100).",
        );
    }

    #[test]
    fn choose_subprotocol_prefers_the_client_order() {
        // Qt's tst_protocols: client "superchat, chat", server [chat, superchat].
        let req = parse(&request("Sec-WebSocket-Protocol: superchat, chat\r\n"))
            .unwrap()
            .unwrap();
        let supported = ["chat".to_string(), "superchat".to_string()];
        assert_eq!(
            choose_subprotocol(&req.subprotocols, &supported),
            Some("superchat")
        );
    }

    #[test]
    fn choose_subprotocol_skips_names_that_are_not_tokens() {
        let requested: Vec<String> = ["a b", "x,y", "", "chat"].map(String::from).to_vec();
        assert_eq!(choose_subprotocol(&requested, &requested), Some("chat"));
        assert_eq!(choose_subprotocol(&requested[..3], &requested), None);
    }

    #[test]
    fn choose_subprotocol_is_case_sensitive_and_may_find_none() {
        let requested = ["Chat".to_string()];
        assert_eq!(choose_subprotocol(&requested, &["chat".to_string()]), None);
        assert_eq!(choose_subprotocol(&[], &["chat".to_string()]), None);
        assert_eq!(choose_subprotocol(&requested, &[]), None);
    }

    #[test]
    fn accept_response_bytes_are_exact() {
        let req = parse(&request(
            "Origin: http://example.com\r\nSec-WebSocket-Protocol: superchat, chat\r\n",
        ))
        .unwrap()
        .unwrap();
        let answer = accept_response(&req, Some("chat"), "Echo Server", at(784_111_777)).unwrap();
        assert_eq!(
            String::from_utf8(answer).unwrap(),
            format!(
                "HTTP/1.1 101 Switching Protocols\r\n\
                 Upgrade: websocket\r\n\
                 Connection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {ACCEPT}\r\n\
                 Sec-WebSocket-Protocol: chat\r\n\
                 Server: Echo Server\r\n\
                 Access-Control-Allow-Credentials: false\r\n\
                 Access-Control-Allow-Methods: GET\r\n\
                 Access-Control-Allow-Headers: content-type\r\n\
                 Access-Control-Allow-Origin: http://example.com\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 \r\n"
            )
        );
    }

    #[test]
    fn accept_response_without_origin_protocol_or_name() {
        let req = parse(&request("")).unwrap().unwrap();
        let answer = accept_response(&req, None, "", at(0)).unwrap();
        assert_eq!(
            String::from_utf8(answer).unwrap(),
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {ACCEPT}\r\nAccess-Control-Allow-Credentials: false\r\n\
                 Access-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: content-type\r\n\
                 Access-Control-Allow-Origin: *\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n"
            )
        );
    }

    #[test]
    fn accept_response_is_what_the_client_accepts() {
        use crate::protocol::handshake::client::{ClientRequest, parse_response};
        let url = url::Url::parse("ws://example.com:8080/chat?x=1").unwrap();
        let mut client = ClientRequest::from_url(&url, KEY.into()).unwrap();
        client.subprotocols = vec!["superchat".into(), "chat".into()];
        let mut wire = Vec::new();
        client.encode(&mut wire).unwrap();
        let req = parse_request(&wire, MAX_HEADER_BLOCK).unwrap().unwrap();
        assert_eq!(req.target, "/chat?x=1");
        let chosen = choose_subprotocol(&req.subprotocols, &["chat".to_string()]);
        let answer = accept_response(&req, chosen, "s", at(1)).unwrap();
        let resp = parse_response(&answer, &client, MAX_HEADER_BLOCK)
            .unwrap()
            .unwrap();
        assert_eq!(resp.subprotocol.as_deref(), Some("chat"));
    }

    #[test]
    fn newline_in_server_name_is_refused() {
        let req = parse(&request("")).unwrap().unwrap();
        for name in ["a\r\nX: 1", "a\n", "\r"] {
            let err = accept_response(&req, None, name, at(0)).unwrap_err();
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField);
            assert_eq!(
                err.message,
                "One of the headers contains a newline. Possible attack detected."
            );
        }
        let mut forged = req.clone();
        forged.origin = Some("o\r\nX: 1".into());
        assert!(accept_response(&forged, None, "", at(0)).is_err());
    }

    #[test]
    fn unrequested_or_invalid_subprotocol_is_refused() {
        let req = parse(&request("Sec-WebSocket-Protocol: chat\r\n"))
            .unwrap()
            .unwrap();
        for p in ["superchat", "Chat", "", "a\r\nb"] {
            let err = accept_response(&req, Some(p), "", at(0)).unwrap_err();
            assert_eq!(err.kind, HandshakeErrorKind::InvalidField, "{p:?}");
        }
    }

    #[test]
    fn error_response_reason_phrases() {
        for (status, line) in [
            (400, "HTTP/1.1 400 Bad Request\r\n"),
            (403, "HTTP/1.1 403 Forbidden\r\n"),
            (426, "HTTP/1.1 426 Upgrade Required\r\n"),
            (503, "HTTP/1.1 503 Service Unavailable\r\n"),
            (500, "HTTP/1.1 500 Internal Server Error\r\n"),
            (502, "HTTP/1.1 502 Error\r\n"),
        ] {
            let bytes = error_response(status, &[]);
            assert_eq!(
                bytes,
                format!("{line}Content-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()
            );
        }
    }

    #[test]
    fn error_response_keeps_extra_headers_in_order_and_drops_newlines() {
        let bytes = error_response(
            503,
            &[
                ("Retry-After", "5"),
                ("X-Bad", "a\r\nb"),
                ("X\n", "v"),
                ("X-Ok", "1"),
            ],
        );
        assert_eq!(
            bytes,
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nX-Ok: 1\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn http_date_of_known_instants() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(at(1_709_210_096)),
            "Thu, 29 Feb 2024 12:34:56 GMT"
        );
        assert_eq!(http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(
            http_date(at(4_107_628_799)),
            "Mon, 01 Mar 2100 23:59:59 GMT"
        );
        assert_eq!(
            http_date(at(2_147_483_648)),
            "Tue, 19 Jan 2038 03:14:08 GMT"
        );
    }

    #[test]
    fn http_date_drops_sub_seconds_and_handles_times_before_1970() {
        assert_eq!(
            http_date(at(784_111_777) + Duration::from_millis(999)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(1)),
            "Wed, 31 Dec 1969 23:59:59 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_millis(500)),
            "Wed, 31 Dec 1969 23:59:59 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(2_208_988_800)),
            "Mon, 01 Jan 1900 00:00:00 GMT"
        );
    }

    #[test]
    fn http_date_matches_a_day_by_day_count_for_400_years() {
        // Walk day by day from 1970 and compare with an independent count.
        let (mut year, mut month, mut day, mut weekday) = (1970_i64, 1_i64, 1_i64, 4_usize);
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for n in 0..146_097_u64 {
            let expected = format!(
                "{}, {day:02} {} {year} 00:00:00 GMT",
                names[weekday],
                months[(month - 1) as usize]
            );
            assert_eq!(http_date(at(n * 86_400)), expected);
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let len = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            weekday = (weekday + 1) % 7;
            day += 1;
            if day > len {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn extension_lists_split_outside_quotes_only() {
        assert_eq!(
            split_extension_list(b"a; x=\"1,\\\"2\", b ,, c"),
            [&b"a; x=\"1,\\\"2\""[..], b"b", b"c"]
        );
        assert!(split_extension_list(b" , ").is_empty());
    }

    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    #[test]
    fn mutated_requests_never_panic() {
        let base = request(
            "Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Extensions: x; y=\"1\"\r\n\
             Origin: http://o\r\n",
        )
        .into_bytes();
        let alphabet = b"\r\n :,;\"\\[]@\x00\xff\x80aZ1/\t";
        let mut state = 7;
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
            for max in [64, MAX_HEADER_BLOCK] {
                if let Ok(Some(req)) = parse_request(&buf, max) {
                    assert!(req.head_len <= max);
                    let _ = accept_response(&req, None, "", at(0));
                }
            }
        }
    }
}
