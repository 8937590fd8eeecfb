//! Negotiating permessage-deflate (RFC 7692 §5, §7.1) in the opening handshake.
//!
//! * A client sends [`client_offer`] as its `Sec-WebSocket-Extensions` value
//!   and checks the server's answer with [`client_accept`].
//! * A server picks the first offer it can honour with [`server_accept`] and
//!   answers with the entry it returns.
//!
//! ```
//! use qwebsocket::protocol::handshake::deflate::{client_accept, client_offer, server_accept};
//! use qwebsocket::protocol::CompressionOptions;
//! let client = CompressionOptions { client_no_context_takeover: true, ..CompressionOptions::enabled() };
//! let offer = client_offer(&client);
//! assert_eq!(offer, "permessage-deflate; client_no_context_takeover; client_max_window_bits");
//!
//! let server = CompressionOptions { client_max_window_bits: Some(10), ..CompressionOptions::enabled() };
//! let (params, answer) = server_accept(&[offer], &server).unwrap();
//! assert_eq!(answer, "permessage-deflate; client_no_context_takeover; client_max_window_bits=10");
//!
//! let agreed = client_accept(&[answer.as_bytes()], &client).unwrap();
//! assert_eq!(agreed, Some(params));
//! assert_eq!(params.client_max_window_bits, 10);
//! ```

use super::{HandshakeError, HandshakeErrorKind, is_token, shown, trim_ows};
use crate::protocol::deflate::{CompressionOptions, DeflateParams, EXTENSION_NAME, clamp_bits};

/// One parameter of an extension entry: its name and its value, if any
/// (unquoted).
type Param = (String, Option<String>);

/// Splits `s` at `sep` where it is not inside a quoted string; the parts are
/// trimmed of spaces and tabs.
pub(super) fn split_unquoted(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            parts.push(trim_ows(s.get(start..i).unwrap_or_default()));
            start = i + 1;
        }
    }
    parts.push(trim_ows(s.get(start..).unwrap_or_default()));
    parts
}

/// The entries of `Sec-WebSocket-Extensions` values (comma-separated,
/// commas in quoted strings kept), trimmed, empty ones dropped.
///
/// ```
/// use qwebsocket::protocol::handshake::deflate::extension_entries;
/// let entries = extension_entries(&[b"a; x=\"1,2\", b", b" , c"]);
/// assert_eq!(entries, [&b"a; x=\"1,2\""[..], b"b", b"c"]);
/// ```
pub fn extension_entries<'a>(values: &[&'a [u8]]) -> Vec<&'a [u8]> {
    values
        .iter()
        .flat_map(|v| split_unquoted(v, b','))
        .filter(|e| !e.is_empty())
        .collect()
}

/// Parses one extension entry, `name; p1; p2=v; p3="v"`: its name and
/// parameters, values unquoted. `None` if it is not well formed (a name or
/// parameter that is not a token, an empty parameter, a bad quoted string).
///
/// ```
/// use qwebsocket::protocol::handshake::deflate::parse_extension;
/// let (name, params) = parse_extension(b"permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\"").unwrap();
/// assert_eq!(name, "permessage-deflate");
/// assert_eq!(params[0], ("client_max_window_bits".to_string(), None));
/// assert_eq!(params[1], ("server_max_window_bits".to_string(), Some("10".to_string())));
/// assert!(parse_extension(b"permessage-deflate;").is_none());
/// ```
pub fn parse_extension(entry: &[u8]) -> Option<(String, Vec<Param>)> {
    let mut parts = split_unquoted(entry, b';').into_iter();
    let name = parts.next()?;
    if !is_token(name) {
        return None;
    }
    let mut params = Vec::new();
    for part in parts {
        let (key, value) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let value = trim_ows(&part[eq + 1..]);
                (trim_ows(&part[..eq]), Some(unquote(value)?))
            }
            None => (part, None),
        };
        if !is_token(key) {
            return None;
        }
        params.push((String::from_utf8_lossy(key).into_owned(), value));
    }
    Some((String::from_utf8_lossy(name).into_owned(), params))
}

/// A parameter value: a token, or a quoted string whose content (escapes
/// resolved) is a token (RFC 7692 §5).
fn unquote(value: &[u8]) -> Option<String> {
    let inner: Vec<u8> = match value {
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut escaped = false;
            for &b in inner {
                if escaped {
                    out.push(b);
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    return None;
                } else {
                    out.push(b);
                }
            }
            if escaped {
                return None;
            }
            out
        }
        _ => value.to_vec(),
    };
    is_token(&inner).then(|| String::from_utf8_lossy(&inner).into_owned())
}

/// A window size value: 8 to 15, decimal, no leading zero.
fn window_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// The permessage-deflate parameters of one entry, checked.
#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: named without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Checks the parameters of a permessage-deflate entry: known names, each
/// at most once, with valid values. The error says what is wrong.
fn check_params(params: &[Param]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        if seen.contains(&name.as_str()) {
            return Err(format!("duplicate parameter {}", shown(name.as_bytes())));
        }
        seen.push(name);
        let bad_value = || format!("invalid value for {name}");
        match (name.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => {
                p.server_max_window_bits = Some(window_bits(v).ok_or_else(bad_value)?);
            }
            ("client_max_window_bits", None) => p.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                p.client_max_window_bits = Some(Some(window_bits(v).ok_or_else(bad_value)?));
            }
            (
                "server_no_context_takeover"
                | "client_no_context_takeover"
                | "server_max_window_bits",
                _,
            ) => return Err(bad_value()),
            _ => {
                return Err(format!("unknown parameter {}", shown(name.as_bytes())));
            }
        }
    }
    Ok(p)
}

/// The `Sec-WebSocket-Extensions` value a client sends for `options`: one
/// permessage-deflate offer, with `client_max_window_bits` always (bare when
/// the options name no window: we can honour any the server asks for).
///
/// ```
/// use qwebsocket::protocol::handshake::deflate::client_offer;
/// use qwebsocket::protocol::CompressionOptions;
/// let o = CompressionOptions {
///     server_no_context_takeover: true,
///     server_max_window_bits: Some(10),
///     ..CompressionOptions::enabled()
/// };
/// assert_eq!(
///     client_offer(&o),
///     "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits"
/// );
/// ```
pub fn client_offer(options: &CompressionOptions) -> String {
    let mut s = String::from(EXTENSION_NAME);
    if options.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if options.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = options.server_max_window_bits {
        s.push_str(&format!("; server_max_window_bits={}", clamp_bits(bits)));
    }
    match options.client_max_window_bits {
        Some(bits) => s.push_str(&format!("; client_max_window_bits={}", clamp_bits(bits))),
        None => s.push_str("; client_max_window_bits"),
    }
    s
}

/// The server's choice among the client's extension entries (in the
/// client's order of preference): the first permessage-deflate offer that is
/// well formed, with the parameters agreed and the entry to answer with.
/// `None` when compression is off, or no offer is acceptable (unknown,
/// repeated or invalid parameters decline that offer, RFC 7692 §5.1); the
/// connection then goes on uncompressed.
///
/// Every valid offer can be honoured: flags are merged (ours or the
/// client's), each window is the smaller of the two named, and a client
/// window is only limited if the client offered `client_max_window_bits`.
///
/// ```
/// use qwebsocket::protocol::handshake::deflate::server_accept;
/// use qwebsocket::protocol::CompressionOptions;
/// let on = CompressionOptions::enabled();
/// let offers = [
///     "x-webkit-deflate-frame".to_string(),
///     "permessage-deflate; server_max_window_bits=7".to_string(), // invalid: declined
///     "permessage-deflate; server_max_window_bits=10".to_string(),
///     "permessage-deflate".to_string(),
/// ];
/// let (params, answer) = server_accept(&offers, &on).unwrap();
/// assert_eq!(params.server_max_window_bits, 10);
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
/// assert!(server_accept(&offers, &CompressionOptions::default()).is_none());
/// ```
pub fn server_accept(
    offers: &[String],
    options: &CompressionOptions,
) -> Option<(DeflateParams, String)> {
    if !options.enabled {
        return None;
    }
    offers.iter().find_map(|offer| {
        let (name, params) = parse_extension(offer.as_bytes())?;
        if name != EXTENSION_NAME {
            return None;
        }
        let p = check_params(&params).ok()?;
        let mut agreed = DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover
                || options.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover
                || options.client_no_context_takeover,
            ..DeflateParams::default()
        };
        let mut answer = String::from(EXTENSION_NAME);
        if agreed.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if agreed.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        let ours = options.server_max_window_bits.map(clamp_bits);
        match (p.server_max_window_bits, ours) {
            (None, None) => {}
            (offered, ours) => {
                let bits = offered.unwrap_or(15).min(ours.unwrap_or(15));
                agreed.server_max_window_bits = bits;
                // Answered whenever offered (RFC 7692 §7.1.2.1), else if below 15.
                if offered.is_some() || bits < 15 {
                    answer.push_str(&format!("; server_max_window_bits={bits}"));
                }
            }
        }
        if let Some(offered) = p.client_max_window_bits {
            let bits = offered
                .unwrap_or(15)
                .min(options.client_max_window_bits.map_or(15, clamp_bits));
            agreed.client_max_window_bits = bits;
            if bits < 15 {
                answer.push_str(&format!("; client_max_window_bits={bits}"));
            }
        }
        Some((agreed, answer))
    })
}

/// Checks the server's `Sec-WebSocket-Extensions` values against what the
/// client offered for `options`: `Ok(None)` if the server answered none
/// (compression declined), the parameters if it accepted, and an error
/// ([`UnrequestedExtension`](HandshakeErrorKind::UnrequestedExtension) or
/// [`BadExtension`](HandshakeErrorKind::BadExtension)) if the answer is one the client must fail the connection for
/// (RFC 7692 §7.1): another extension or several, an unknown, repeated or
/// invalid parameter, `client_max_window_bits` above the value offered, or
/// an answer that does not take a request of the offer
/// (`server_no_context_takeover`, `server_max_window_bits`) into account.
///
/// ```
/// use qwebsocket::protocol::handshake::deflate::client_accept;
/// use qwebsocket::protocol::CompressionOptions;
/// let on = CompressionOptions::enabled();
/// assert_eq!(client_accept(&[], &on), Ok(None));
/// let p = client_accept(&[b"permessage-deflate; client_max_window_bits=9"], &on).unwrap().unwrap();
/// assert_eq!(p.client_max_window_bits, 9);
/// let err = client_accept(&[b"permessage-deflate; foo"], &on).unwrap_err();
/// assert_eq!(err.message, "Invalid permessage-deflate answer from the server: unknown parameter foo");
/// ```
pub fn client_accept(
    values: &[&[u8]],
    options: &CompressionOptions,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let entries = extension_entries(values);
    let shown_all = || shown(&entries.join(&b", "[..]));
    let unrequested = || {
        HandshakeError::new(
            HandshakeErrorKind::UnrequestedExtension,
            format!(
                "WebSocket server has chosen extension {} which has not been requested",
                shown_all()
            ),
        )
    };
    let entry = match entries.as_slice() {
        [] => return Ok(None),
        [one] if options.enabled => *one,
        _ => return Err(unrequested()),
    };
    let invalid = |why: String| {
        HandshakeError::new(
            HandshakeErrorKind::BadExtension,
            format!("Invalid permessage-deflate answer from the server: {why}"),
        )
    };
    let (name, params) = parse_extension(entry).ok_or_else(|| invalid(shown(entry)))?;
    if name != EXTENSION_NAME {
        return Err(unrequested());
    }
    let p = check_params(&params).map_err(invalid)?;
    if options.server_no_context_takeover && !p.server_no_context_takeover {
        return Err(invalid(
            "server_no_context_takeover was requested and not accepted".into(),
        ));
    }
    let mut agreed = DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover
            || options.client_no_context_takeover,
        ..DeflateParams::default()
    };
    match (
        options.server_max_window_bits.map(clamp_bits),
        p.server_max_window_bits,
    ) {
        (Some(_), None) => {
            return Err(invalid(
                "server_max_window_bits was requested and not accepted".into(),
            ));
        }
        (Some(asked), Some(got)) if got > asked => {
            return Err(invalid(format!(
                "server_max_window_bits={got} is larger than the {asked} requested"
            )));
        }
        (_, Some(got)) => agreed.server_max_window_bits = got,
        (None, None) => {}
    }
    let offered = options.client_max_window_bits.map_or(15, clamp_bits);
    match p.client_max_window_bits {
        Some(None) => return Err(invalid("client_max_window_bits has no value".into())),
        Some(Some(got)) if got > offered => {
            return Err(invalid(format!(
                "client_max_window_bits={got} is larger than the {offered} offered"
            )));
        }
        Some(Some(got)) => agreed.client_max_window_bits = got,
        None => agreed.client_max_window_bits = offered,
    }
    Ok(Some(agreed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> CompressionOptions {
        CompressionOptions::enabled()
    }

    fn accept(offers: &[&str], options: &CompressionOptions) -> Option<(DeflateParams, String)> {
        let offers: Vec<String> = offers.iter().map(|s| s.to_string()).collect();
        server_accept(&offers, options)
    }

    #[test]
    fn browser_offer_is_accepted_with_a_plain_answer() {
        let (p, answer) = accept(&["permessage-deflate; client_max_window_bits"], &on()).unwrap();
        assert_eq!(p, DeflateParams::default());
        assert_eq!(answer, "permessage-deflate");
    }

    #[test]
    fn offers_with_unknown_duplicate_or_invalid_parameters_are_declined() {
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate;",
            "permessage-deflate; a b",
            "x-webkit-deflate-frame",
        ] {
            assert!(accept(&[bad], &on()).is_none(), "{bad}");
        }
    }

    #[test]
    fn first_acceptable_offer_wins() {
        let (p, answer) = accept(
            &[
                "permessage-deflate; bogus",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate",
            ],
            &on(),
        )
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!(
            answer,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let (p, answer) = accept(
            &["permessage-deflate; server_max_window_bits=\"9\"; client_max_window_bits=\"12\""],
            &on(),
        )
        .unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (9, 12)
        );
        assert_eq!(
            answer,
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=12"
        );
    }

    #[test]
    fn server_window_offered_as_15_is_answered() {
        let (p, answer) =
            accept(&["permessage-deflate; server_max_window_bits=15"], &on()).unwrap();
        assert_eq!(p.server_max_window_bits, 15);
        assert_eq!(answer, "permessage-deflate; server_max_window_bits=15");
    }

    #[test]
    fn server_options_are_imposed_where_the_rfc_lets_them() {
        let strict = CompressionOptions {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(9),
            ..on()
        };
        let (p, answer) = accept(&["permessage-deflate; client_max_window_bits"], &strict).unwrap();
        assert_eq!(
            answer,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9"
        );
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (10, 9)
        );
        // Without client_max_window_bits in the offer, the client's window cannot be limited.
        let (p, answer) = accept(&["permessage-deflate"], &strict).unwrap();
        assert_eq!(p.client_max_window_bits, 15);
        assert!(!answer.contains("client_max_window_bits"));
    }

    #[test]
    fn client_offer_names_every_option() {
        let o = CompressionOptions {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(3),
            client_max_window_bits: Some(12),
            ..on()
        };
        assert_eq!(
            client_offer(&o),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=8; client_max_window_bits=12"
        );
    }

    fn check(answer: &str, options: &CompressionOptions) -> Result<Option<DeflateParams>, String> {
        client_accept(&[answer.as_bytes()], options).map_err(|e| e.message)
    }

    #[test]
    fn client_accepts_every_valid_answer_to_its_offer() {
        let p = check(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=8",
            &on(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            p,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 8,
            }
        );
        assert_eq!(
            check("PerMessage-Deflate", &on()).unwrap_err(),
            "WebSocket server has chosen extension PerMessage-Deflate which has not been requested"
        );
    }

    #[test]
    fn client_fails_on_answers_it_did_not_offer() {
        let cases: [(&str, CompressionOptions, &str); 8] = [
            ("x-foo", on(), "which has not been requested"),
            (
                "permessage-deflate, permessage-deflate",
                on(),
                "which has not been requested",
            ),
            (
                "permessage-deflate",
                CompressionOptions::default(),
                "which has not been requested",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                on(),
                "client_max_window_bits has no value",
            ),
            (
                "permessage-deflate; server_max_window_bits=20",
                on(),
                "invalid value for server_max_window_bits",
            ),
            (
                "permessage-deflate",
                CompressionOptions {
                    server_no_context_takeover: true,
                    ..on()
                },
                "server_no_context_takeover was requested and not accepted",
            ),
            (
                "permessage-deflate; server_max_window_bits=12",
                CompressionOptions {
                    server_max_window_bits: Some(10),
                    ..on()
                },
                "server_max_window_bits=12 is larger than the 10 requested",
            ),
            (
                "permessage-deflate; client_max_window_bits=12",
                CompressionOptions {
                    client_max_window_bits: Some(10),
                    ..on()
                },
                "client_max_window_bits=12 is larger than the 10 offered",
            ),
        ];
        for (answer, options, expected) in cases {
            let err = check(answer, &options).unwrap_err();
            assert!(err.contains(expected), "{answer}: {err}");
        }
    }

    #[test]
    fn client_offer_and_server_answer_agree_for_every_combination() {
        for bits in [None, Some(8), Some(12), Some(15)] {
            for flags in 0..4 {
                let client = CompressionOptions {
                    server_no_context_takeover: flags & 1 != 0,
                    client_no_context_takeover: flags & 2 != 0,
                    server_max_window_bits: bits,
                    client_max_window_bits: bits,
                    ..on()
                };
                let server = CompressionOptions {
                    client_max_window_bits: Some(11),
                    ..on()
                };
                let (params, answer) = accept(&[&client_offer(&client)], &server).unwrap();
                assert_eq!(check(&answer, &client), Ok(Some(params)), "{answer}");
            }
        }
    }
}
