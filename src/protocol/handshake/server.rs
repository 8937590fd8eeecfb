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
    HandshakeError, HandshakeErrorKind, MAX_HEADERS, accept_key, find_head_end, has_newline,
    has_token, is_token, list_elements, shown, trim_ows,
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
    /// The extension entries the client offers, raw (parameters included); we
    /// accept none of them.
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
                return Err(bad_request(format!(
                    "Invalid Host header {}.",
                    shown(host)
                )));
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
        if literal.is_empty() || literal.contains(&b'[') || after.contains(&b']') {
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
    let mut entries = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b',' && !in_quotes {
            entries.push(trim_ows(value.get(start..i).unwrap_or_default()));
            start = i + 1;
        }
    }
    entries.push(trim_ows(value.get(start..).unwrap_or_default()));
    entries.retain(|e| !e.is_empty());
    entries
}

/// The subprotocol to answer with: the first entry of the **client's** list
/// that `supported` holds (case-sensitive), as Qt chooses.
///
/// ```
/// use qwebsocket::protocol::handshake::server::choose_subprotocol;
/// let client = ["superchat".to_string(), "chat".to_string()];
/// let server = ["chat".to_string(), "superchat".to_string()];
/// assert_eq!(choose_subprotocol(&client, &server), Some("superchat"));
/// assert_eq!(choose_subprotocol(&client, &["Chat".to_string()]), None);
/// ```
pub fn choose_subprotocol<'a>(requested: &'a [String], supported: &[String]) -> Option<&'a str> {
    requested
        .iter()
        .find(|p| supported.contains(p))
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
/// attack detected."; a `subprotocol` the client did not ask for (RFC 6455
/// §4.2.2: the client would fail the connection) is refused too. Qt writes a
/// broken mixed 101/400 answer in the newline case; the caller should instead
/// send `error_response(400, &[])`.
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
/// 426 Upgrade Required, 503 Service Unavailable, anything else "Error". An
/// extra header whose name or value holds a CR or LF is left out. (Qt's own
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
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in extra_headers {
        if has_newline(name) || has_newline(value) {
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
