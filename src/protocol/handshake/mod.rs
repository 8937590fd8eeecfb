//! The opening handshake (RFC 6455 §4): the HTTP/1.1 upgrade request and its answer.
//!
//! Sans-I/O like the rest of [`protocol`](crate::protocol): the functions here take
//! bytes and return bytes or parsed values; they never read a socket or a clock.
//!
//! * [`client`] builds the upgrade request ([`client::ClientRequest`]) and checks
//!   the server's answer ([`client::parse_response`]).
//! * [`server`] checks an upgrade request ([`server::parse_request`]), picks a
//!   subprotocol and writes the `101 Switching Protocols` answer or an HTTP error.
//!
//! * [`deflate`] negotiates permessage-deflate (RFC 7692).
//!
//! Both sides first wait for the end of the HTTP head (`\r\n\r\n`, see
//! [`find_head_end`]) and refuse a head longer than a limit (Qt's 819204 bytes by
//! default, [`MAX_HEADER_BLOCK`]) before looking at a single header, so peer input
//! never makes them allocate more than that limit.

pub mod client;
pub mod deflate;
pub mod server;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use std::fmt;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
///
/// ```
/// use qwebsocket::protocol::handshake::WEBSOCKET_GUID;
/// assert_eq!(WEBSOCKET_GUID.len(), 36);
/// ```
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Qt's limit for an HTTP head that has not ended yet: more than this many bytes
/// without `\r\n\r\n` fails the handshake (100 lines of 8192 bytes plus the blank
/// line). It is the default limit of both sides.
///
/// ```
/// use qwebsocket::protocol::handshake::MAX_HEADER_BLOCK;
/// assert_eq!(MAX_HEADER_BLOCK, 819_204);
/// ```
pub const MAX_HEADER_BLOCK: usize = 8192 * 100 + 4;

/// The most header lines a handshake head may have (Qt's `MAX_HEADERLINES`); one
/// more fails the handshake.
///
/// ```
/// use qwebsocket::protocol::handshake::MAX_HEADERS;
/// assert_eq!(MAX_HEADERS, 100);
/// ```
pub const MAX_HEADERS: usize = 100;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`:
/// base64(SHA-1(key ++ [`WEBSOCKET_GUID`])).
///
/// ```
/// use qwebsocket::protocol::handshake::accept_key;
/// // RFC 6455 §1.3
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// A failed opening handshake.
///
/// `message` is what the socket's `error_string()` shows; it uses Qt's wording
/// where Qt has one.
///
/// ```
/// use qwebsocket::protocol::handshake::{HandshakeError, HandshakeErrorKind};
/// let e = HandshakeError::new(HandshakeErrorKind::TooLarge, "Header is too large");
/// assert_eq!(e.to_string(), "Header is too large");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// What went wrong, for programs.
    pub kind: HandshakeErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

impl HandshakeError {
    /// Builds an error from its kind and message.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::{HandshakeError, HandshakeErrorKind};
    /// let e = HandshakeError::new(HandshakeErrorKind::BadAccept, "wrong key");
    /// assert_eq!(e.kind, HandshakeErrorKind::BadAccept);
    /// assert_eq!(e.message, "wrong key");
    /// ```
    pub fn new(kind: HandshakeErrorKind, message: impl Into<String>) -> Self {
        HandshakeError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {}

/// The kinds of [`HandshakeError`].
///
/// ```
/// use qwebsocket::protocol::handshake::HandshakeErrorKind;
/// assert_ne!(HandshakeErrorKind::BadStatus, HandshakeErrorKind::BadUpgrade);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeErrorKind {
    /// The HTTP head could not be parsed (bad status line, bad header line, …).
    Malformed,
    /// The head is longer than the limit, or has more than [`MAX_HEADERS`] lines.
    TooLarge,
    /// The server answered with another status than `101`, or not with HTTP/1.1.
    BadStatus,
    /// The `Upgrade` or `Connection` header of a `101` answer is wrong.
    BadUpgrade,
    /// `Sec-WebSocket-Accept` is missing, repeated or does not match the key.
    BadAccept,
    /// The server chose a subprotocol the client did not ask for (or several).
    UnrequestedSubprotocol,
    /// The server answered with an extension the client did not offer.
    UnrequestedExtension,
    /// The server's permessage-deflate answer is malformed or does not fit
    /// the client's offer (RFC 7692 §7.1: the client fails the connection).
    BadExtension,
    /// The server does not speak version 13 of the protocol.
    UnsupportedVersion,
    /// A field we were asked to send is invalid: a CR or LF in it (header
    /// injection), a header name that is not a token, a URL we cannot use, …
    InvalidField,
    /// `401 Unauthorized` with a `Basic` challenge: the client may retry
    /// with credentials.
    AuthenticationRequired,
    /// `401 Unauthorized` with no challenge the client supports.
    UnsupportedAuthentication,
}

/// Finds the end of an HTTP head, the blank line `\r\n\r\n`.
///
/// Returns `Ok(Some(len))` with the length of the head including the blank line,
/// `Ok(None)` while it is incomplete, and an error of kind
/// [`TooLarge`](HandshakeErrorKind::TooLarge) ("Header is too large", Qt's words)
/// as soon as `buf` holds more than `max` bytes without it. A head is never longer
/// than `max`: only the first `max` bytes are searched.
///
/// This scans the whole buffer; a caller that receives the head in many small
/// pieces should use [`find_head_end_from`] or [`HeadScanner`] instead, so that the
/// total work stays linear.
///
/// ```
/// use qwebsocket::protocol::handshake::find_head_end;
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n", 100).unwrap(), None);
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nframes", 100).unwrap(), Some(18));
/// assert!(find_head_end(b"GET / HTTP/1.1\r\nX: yyyy", 10).is_err());
/// ```
pub fn find_head_end(buf: &[u8], max: usize) -> Result<Option<usize>, HandshakeError> {
    find_head_end_from(buf, max, 0)
}

/// [`find_head_end`] that starts looking near `scan_from`: pass the length the
/// buffer had on the previous call (the bytes before it are known not to hold the
/// end; the last three of them are looked at again in case the blank line was
/// split). The buffer must only have grown at its end since then.
///
/// ```
/// use qwebsocket::protocol::handshake::find_head_end_from;
/// let mut buf = b"GET / HTTP/1.1\r\n\r".to_vec();
/// assert_eq!(find_head_end_from(&buf, 100, 0).unwrap(), None);
/// let seen = buf.len();
/// buf.extend_from_slice(b"\n");
/// assert_eq!(find_head_end_from(&buf, 100, seen).unwrap(), Some(18));
/// ```
pub fn find_head_end_from(
    buf: &[u8],
    max: usize,
    scan_from: usize,
) -> Result<Option<usize>, HandshakeError> {
    let window = buf.get(..max).unwrap_or(buf);
    let start = scan_from.saturating_sub(3).min(window.len());
    let rest = window.get(start..).unwrap_or_default();
    if let Some(pos) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        return Ok(Some(start + pos + 4));
    }
    if buf.len() > max {
        return Err(too_large());
    }
    Ok(None)
}

/// Remembers how much of a growing buffer [`find_head_end_from`] has already
/// searched, so a head that arrives byte by byte is scanned once in total.
///
/// ```
/// use qwebsocket::protocol::handshake::HeadScanner;
/// let mut scanner = HeadScanner::new(100);
/// let mut buf = Vec::new();
/// for &b in b"HTTP/1.1 101 Switching Protocols\r\n" {
///     buf.push(b);
///     assert_eq!(scanner.scan(&buf).unwrap(), None);
/// }
/// buf.extend_from_slice(b"\r\n");
/// assert_eq!(scanner.scan(&buf).unwrap(), Some(36));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadScanner {
    max: usize,
    scanned: usize,
    found: Option<usize>,
}

impl HeadScanner {
    /// A scanner for a head of at most `max` bytes, at the start of a buffer.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::{HeadScanner, MAX_HEADER_BLOCK};
    /// let scanner = HeadScanner::new(MAX_HEADER_BLOCK);
    /// assert_eq!(scanner.max(), MAX_HEADER_BLOCK);
    /// ```
    pub fn new(max: usize) -> Self {
        HeadScanner {
            max,
            scanned: 0,
            found: None,
        }
    }

    /// The limit given to [`new`](Self::new).
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::HeadScanner;
    /// assert_eq!(HeadScanner::new(42).max(), 42);
    /// ```
    pub fn max(&self) -> usize {
        self.max
    }

    /// Looks for the end of the head in `buf`, which must be the buffer of the
    /// previous call with bytes appended. Same results as [`find_head_end`];
    /// once the end is found it is returned again without a search.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::HeadScanner;
    /// let mut scanner = HeadScanner::new(8);
    /// assert_eq!(scanner.scan(b"12345678").unwrap(), None);
    /// assert!(scanner.scan(b"123456789").is_err());
    /// ```
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        if self.found.is_some() {
            return Ok(self.found);
        }
        let found = find_head_end_from(buf, self.max, self.scanned)?;
        self.scanned = buf.len().min(self.max);
        self.found = found;
        Ok(found)
    }

    /// Starts over, for a new buffer.
    ///
    /// ```
    /// use qwebsocket::protocol::handshake::HeadScanner;
    /// let mut scanner = HeadScanner::new(100);
    /// scanner.scan(b"HTTP/1.1 101 OK\r\n").unwrap();
    /// scanner.reset();
    /// assert_eq!(scanner.scan(b"\r\n").unwrap(), None);
    /// ```
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.found = None;
    }
}

fn too_large() -> HandshakeError {
    HandshakeError::new(HandshakeErrorKind::TooLarge, "Header is too large")
}

/// True if `b` may appear in an HTTP token (RFC 7230 `tchar`): 0x21..0x7E minus
/// the separators `()<>@,;:\"/[]?={}`.
fn is_tchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// True if `s` is a non-empty HTTP token.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// True if `s` holds a CR or an LF.
fn has_newline(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// The first byte of `s` that an HTTP header field may not hold (RFC 7230
/// §3.2: visible characters, spaces and tabs): NUL, CR, LF, DEL and every
/// other control character but the tab.
fn control_char(s: &str) -> Option<u8> {
    s.bytes().find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// An `InvalidField` error if `s`, the `what` of a handshake, holds a
/// control character: `"The origin contains the control character 0x00.
/// Possible attack detected."`.
fn check_no_control(what: &str, s: &str) -> Result<(), HandshakeError> {
    match control_char(s) {
        Some(b) => Err(HandshakeError::new(
            HandshakeErrorKind::InvalidField,
            format!(
                "The {what} contains the control character 0x{b:02X}. Possible attack detected."
            ),
        )),
        None => Ok(()),
    }
}

/// Trims spaces and tabs (HTTP optional whitespace) from both ends.
fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// The trimmed, non-empty elements of comma-separated header values.
fn list_elements<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// True if one of the comma-separated values holds `token` (ASCII case-insensitive).
fn has_token<'a>(values: impl Iterator<Item = &'a [u8]>, token: &str) -> bool {
    list_elements(values).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// Peer bytes made printable for an error message: lossy UTF-8, control
/// characters dropped, at most 100 characters.
fn shown(bytes: &[u8]) -> String {
    const LIMIT: usize = 100;
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (n, c) in text.chars().filter(|c| !c.is_control()).enumerate() {
        if n == LIMIT {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn head_end_is_found_after_the_blank_line() {
        let buf = b"HTTP/1.1 101 OK\r\nA: b\r\n\r\n\x81\x00";
        assert_eq!(find_head_end(buf, 1000), Ok(Some(buf.len() - 2)));
    }

    #[test]
    fn head_end_is_none_while_incomplete() {
        for buf in [&b""[..], b"\r", b"\r\n", b"\r\n\r", b"GET / HTTP/1.1\r\n\r"] {
            assert_eq!(find_head_end(buf, 1000), Ok(None));
        }
    }

    #[test]
    fn head_of_exactly_max_bytes_is_accepted() {
        let buf = b"ab\r\n\r\n";
        assert_eq!(find_head_end(buf, 6), Ok(Some(6)));
        assert_eq!(find_head_end(b"ab\r\n\r", 6), Ok(None));
        assert_eq!(find_head_end(b"abc\r\n\r", 6), Ok(None));
    }

    #[test]
    fn more_than_max_bytes_without_blank_line_is_too_large() {
        let err = find_head_end(b"abc\r\n\r\n", 6).unwrap_err();
        assert_eq!(err.kind, HandshakeErrorKind::TooLarge);
        assert_eq!(err.message, "Header is too large");
        let err = find_head_end(&[b'x'; 7], 6).unwrap_err();
        assert_eq!(err.kind, HandshakeErrorKind::TooLarge);
    }

    #[test]
    fn default_limit_accepts_819204_bytes_and_refuses_one_more() {
        let mut buf = vec![b'x'; MAX_HEADER_BLOCK - 4];
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            find_head_end(&buf, MAX_HEADER_BLOCK),
            Ok(Some(MAX_HEADER_BLOCK))
        );
        let buf = vec![b'x'; MAX_HEADER_BLOCK + 1];
        assert!(find_head_end(&buf, MAX_HEADER_BLOCK).is_err());
        assert_eq!(
            find_head_end(&buf[..MAX_HEADER_BLOCK], MAX_HEADER_BLOCK),
            Ok(None)
        );
    }

    #[test]
    fn scan_from_finds_a_blank_line_split_across_calls() {
        let full = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest";
        let end = full.len() - 4;
        for split in 0..=full.len() {
            let first = find_head_end_from(&full[..split], 1000, 0).unwrap();
            if split >= end {
                assert_eq!(first, Some(end));
            } else {
                // The first call found nothing: the second may skip what it saw.
                assert_eq!(first, None);
                let second = find_head_end_from(full, 1000, split).unwrap();
                assert_eq!(second, Some(end), "split at {split}");
            }
        }
    }

    #[test]
    fn head_scanner_fed_byte_by_byte_finds_the_end_once_complete() {
        let full = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81";
        let mut scanner = HeadScanner::new(1000);
        for n in 1..=full.len() {
            let found = scanner.scan(&full[..n]).unwrap();
            if n < full.len() - 1 {
                assert_eq!(found, None, "at {n}");
            } else {
                assert_eq!(found, Some(full.len() - 1));
            }
        }
    }

    #[test]
    fn head_scanner_reports_too_large_past_its_limit() {
        let mut scanner = HeadScanner::new(4);
        assert_eq!(scanner.scan(b"abcd"), Ok(None));
        assert_eq!(
            scanner.scan(b"abcde").unwrap_err().kind,
            HandshakeErrorKind::TooLarge
        );
    }

    #[test]
    fn token_lists_are_split_trimmed_and_compared_case_insensitively() {
        let values: [&[u8]; 2] = [b"keep-alive , Upgrade", b"\tclose"];
        assert!(has_token(values.iter().copied(), "upgrade"));
        assert!(has_token(values.iter().copied(), "CLOSE"));
        assert!(!has_token(values.iter().copied(), "keep"));
        let empty: [&[u8]; 1] = [b" , ,"];
        assert_eq!(list_elements(empty.iter().copied()).count(), 0);
    }

    #[test]
    fn tokens_exclude_separators_controls_and_non_ascii() {
        assert!(is_token(b"chat.v2-x_y~!#$%&'*+^`|"));
        for bad in [
            &b""[..],
            b"a b",
            b"a,b",
            b"a/b",
            b"a\tb",
            b"\x7f",
            b"\xc3\xa9",
            b"{x}",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn shown_peer_text_is_cut_and_has_no_controls() {
        assert_eq!(shown(b"a\x00b\x1bc"), "abc");
        assert_eq!(shown(b"\xff"), "\u{fffd}");
        let long = shown(&[b'x'; 500]);
        assert_eq!(long.chars().count(), 101);
        assert!(long.ends_with('…'));
    }
}
