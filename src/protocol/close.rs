//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

use super::ProtocolError;
use super::utf8;
use std::fmt;

/// A WebSocket close status code, named as in Qt's `QWebSocketProtocol::CloseCode`.
///
/// Codes without a name (application codes 3000–4999, IANA-registered 1012–1014, or
/// invalid values received from a peer) are kept in [`CloseCode::Other`].
///
/// ```
/// use qwebsocket::CloseCode;
/// assert_eq!(CloseCode::from(1000), CloseCode::Normal);
/// assert_eq!(CloseCode::from(4000), CloseCode::Other(4000));
/// assert_eq!(u16::from(CloseCode::GoingAway), 1001);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: normal closure.
    Normal,
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    GoingAway,
    /// 1002: the peer violated the protocol.
    ProtocolError,
    /// 1003: a message of a type the endpoint cannot accept.
    DatatypeNotSupported,
    /// 1004: reserved, never sent.
    Reserved1004,
    /// 1005: no status code was present in the close frame (never sent).
    MissingStatusCode,
    /// 1006: the connection was lost without a close frame (never sent).
    AbnormalDisconnection,
    /// 1007: a text message was not valid UTF-8.
    WrongDatatype,
    /// 1008: a message violated the endpoint's policy.
    PolicyViolated,
    /// 1009: a frame or message exceeded the size limit.
    TooMuchData,
    /// 1010: the client expected an extension the server did not negotiate.
    MissingExtension,
    /// 1011: the server met an unexpected condition.
    BadOperation,
    /// 1015: the TLS handshake failed (never sent).
    TlsHandshakeFailed,
    /// Any other code, such as application codes 3000–4999.
    Other(u16),
}

impl CloseCode {
    /// The numeric value of the code.
    ///
    /// ```
    /// use qwebsocket::CloseCode;
    /// assert_eq!(CloseCode::TooMuchData.code(), 1009);
    /// ```
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::DatatypeNotSupported => 1003,
            CloseCode::Reserved1004 => 1004,
            CloseCode::MissingStatusCode => 1005,
            CloseCode::AbnormalDisconnection => 1006,
            CloseCode::WrongDatatype => 1007,
            CloseCode::PolicyViolated => 1008,
            CloseCode::TooMuchData => 1009,
            CloseCode::MissingExtension => 1010,
            CloseCode::BadOperation => 1011,
            CloseCode::TlsHandshakeFailed => 1015,
            CloseCode::Other(c) => c,
        }
    }

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// Valid: 1000–1003, 1007–1014 (1012–1014 are registered with IANA since
    /// RFC 6455) and 3000–4999. Everything else (1004–1006, 1015, 1016–2999,
    /// below 1000, 5000 and above) is refused when received and when sent.
    ///
    /// ```
    /// use qwebsocket::CloseCode;
    /// assert!(CloseCode::Normal.is_sendable());
    /// assert!(CloseCode::Other(3000).is_sendable());
    /// assert!(!CloseCode::MissingStatusCode.is_sendable());
    /// assert!(!CloseCode::Other(2999).is_sendable());
    /// ```
    pub fn is_sendable(self) -> bool {
        matches!(self.code(), 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::GoingAway,
            1002 => CloseCode::ProtocolError,
            1003 => CloseCode::DatatypeNotSupported,
            1004 => CloseCode::Reserved1004,
            1005 => CloseCode::MissingStatusCode,
            1006 => CloseCode::AbnormalDisconnection,
            1007 => CloseCode::WrongDatatype,
            1008 => CloseCode::PolicyViolated,
            1009 => CloseCode::TooMuchData,
            1010 => CloseCode::MissingExtension,
            1011 => CloseCode::BadOperation,
            1015 => CloseCode::TlsHandshakeFailed,
            other => CloseCode::Other(other),
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.code()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The largest close reason that fits a control frame: 125 bytes minus the
/// 2-byte code. Longer reasons are cut to it, on a character boundary.
///
/// ```
/// use qwebsocket::protocol::close::{encode_close_payload, MAX_REASON_LEN};
/// use qwebsocket::protocol::frame::MAX_CONTROL_PAYLOAD;
/// use qwebsocket::CloseCode;
/// assert_eq!(MAX_REASON_LEN, MAX_CONTROL_PAYLOAD - 2);
/// let mut payload = Vec::new();
/// encode_close_payload(Some((CloseCode::Normal, &"x".repeat(500))), &mut payload);
/// assert_eq!(payload.len(), 2 + MAX_REASON_LEN);
/// ```
pub const MAX_REASON_LEN: usize = 123;

/// Parses the payload of a received close frame.
///
/// An empty payload gives `(MissingStatusCode, "")` (RFC 6455 §7.1.5: 1005 is
/// reported locally); a 1-byte payload, an invalid code or a reason that is
/// not UTF-8 give the [`ProtocolError`] to close with.
///
/// ```
/// use qwebsocket::protocol::close::parse_close_payload;
/// use qwebsocket::CloseCode;
/// assert_eq!(parse_close_payload(&[0x03, 0xe8, b'o', b'k']).unwrap(), (CloseCode::Normal, "ok"));
/// assert_eq!(parse_close_payload(&[]).unwrap(), (CloseCode::MissingStatusCode, ""));
/// assert!(parse_close_payload(&[0x03]).is_err());
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<(CloseCode, &str), ProtocolError> {
    match payload {
        [] => Ok((CloseCode::MissingStatusCode, "")),
        [_] => Err(ProtocolError::new(
            CloseCode::ProtocolError,
            "Payload of close frame is too small.",
        )),
        [hi, lo, reason @ ..] => {
            let code = CloseCode::from(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::new(
                    CloseCode::ProtocolError,
                    format!("Invalid close code {} detected.", code.code()),
                ));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| utf8::invalid_utf8_error())?;
            Ok((code, reason))
        }
    }
}

/// Cuts `reason` to at most [`MAX_REASON_LEN`] bytes on a character boundary.
///
/// ```
/// use qwebsocket::protocol::close::truncate_reason;
/// let long = "é".repeat(100); // 200 bytes
/// let cut = truncate_reason(&long);
/// assert_eq!(cut.len(), 122);
/// assert!(cut.chars().all(|c| c == 'é'));
/// ```
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Writes a close payload (code and reason, reason cut as by [`truncate_reason`]).
///
/// `None` gives an empty payload (a close frame without status code).
///
/// ```
/// use qwebsocket::protocol::close::encode_close_payload;
/// use qwebsocket::CloseCode;
/// let mut out = Vec::new();
/// encode_close_payload(Some((CloseCode::GoingAway, "bye")), &mut out);
/// assert_eq!(out, [0x03, 0xe9, b'b', b'y', b'e']);
/// ```
pub fn encode_close_payload(close: Option<(CloseCode, &str)>, out: &mut Vec<u8>) {
    if let Some((code, reason)) = close {
        out.extend_from_slice(&code.code().to_be_bytes());
        out.extend_from_slice(truncate_reason(reason).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_u16() {
        for c in 0..=u16::MAX {
            assert_eq!(CloseCode::from(c).code(), c);
        }
    }

    #[test]
    fn sendable_codes_match_rfc_and_iana() {
        let valid: Vec<u16> = (0..=u16::MAX)
            .filter(|c| CloseCode::from(*c).is_sendable())
            .collect();
        assert_eq!(valid.len(), 4 + 8 + 2000);
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode::from(c).is_sendable(), "{c}");
        }
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(CloseCode::from(c).is_sendable(), "{c}");
        }
    }

    #[test]
    fn one_byte_close_payload_is_a_protocol_error() {
        let e = parse_close_payload(&[3]).unwrap_err();
        assert_eq!(e.code, CloseCode::ProtocolError);
    }

    #[test]
    fn invalid_code_names_the_code_received() {
        let e = parse_close_payload(&[0x03, 0xed]).unwrap_err();
        assert_eq!(e.code, CloseCode::ProtocolError);
        assert_eq!(e.reason, "Invalid close code 1005 detected.");
    }

    #[test]
    fn invalid_utf8_reason_is_1007() {
        let e = parse_close_payload(&[0x03, 0xe8, 0xff]).unwrap_err();
        assert_eq!(e.code, CloseCode::WrongDatatype);
    }

    #[test]
    fn truncation_keeps_short_reasons_and_cuts_on_char_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let s = format!("{}€", "a".repeat(121)); // 121 + 3 bytes
        assert_eq!(truncate_reason(&s), "a".repeat(121));
    }
}
