//! The client's handshake response parser (`handshake::client::parse_response`)
//! on arbitrary bytes, for a request that offers two subprotocols.
//!
//! Asserts: "need more" only while no complete head fits in the limit; an
//! accepted response is a 101 whose head ends with CRLFCRLF within the input
//! and the limit, whose Sec-WebSocket-Accept matches the key, whose
//! subprotocol is one we offered; the result depends only on the head (the
//! same bytes cut right after it give the same answer); every error has a
//! message.
#![no_main]

use fuzzkit::Input;
use libfuzzer_sys::fuzz_target;
use qwebsocket::protocol::handshake::accept_key;
use qwebsocket::protocol::handshake::client::{ClientRequest, parse_response};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max = 16 + usize::from(input.u16() % 8192);
    let buf = input.rest();
    let url = qwebsocket::url::Url::parse("ws://example.com/chat").unwrap();
    let mut req = ClientRequest::from_url(&url, KEY.into()).unwrap();
    req.subprotocols = vec!["chat".into(), "v2.json".into()];
    match parse_response(buf, &req, max) {
        Ok(None) => {
            assert!(
                buf.len() <= max,
                "{} bytes over the limit {max} not refused",
                buf.len()
            );
            assert!(
                !buf.windows(4).any(|w| w == b"\r\n\r\n"),
                "a complete head was not parsed"
            );
        }
        Ok(Some(r)) => {
            assert_eq!(r.status, 101);
            assert!(r.head_len <= buf.len() && r.head_len <= max);
            assert!(buf[..r.head_len].ends_with(b"\r\n\r\n"));
            if let Some(p) = &r.subprotocol {
                assert!(req.subprotocols.contains(p), "unrequested subprotocol {p}");
            }
            let accept = r
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|(_, v)| v.clone())
                .expect("accepted without Sec-WebSocket-Accept");
            let expected = accept_key(KEY.as_bytes());
            assert_eq!(String::from_utf8_lossy(&accept).trim(), expected);
            assert_eq!(parse_response(&buf[..r.head_len], &req, max), Ok(Some(r)));
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
});
