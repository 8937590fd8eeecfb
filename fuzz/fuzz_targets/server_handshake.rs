//! The server's handshake request parser (`handshake::server::parse_request`)
//! on arbitrary bytes.
//!
//! Asserts: "need more" only while no complete head fits in the limit; an
//! accepted request has a head within the input and the limit, a key that is
//! base64 of 16 bytes, CR/LF/NUL-free fields, and the same answer from the
//! head alone; a rejection is a 400, 405 or 426 (or 431 for a large head)
//! whose response bytes start with that status line and end the head, with a
//! message.
#![no_main]

use fuzzkit::Input;
use libfuzzer_sys::fuzz_target;
use qwebsocket::protocol::handshake::server::parse_request;

fn clean(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

fn base64_16(key: &str) -> bool {
    let k = key.as_bytes();
    k.len() == 24
        && k.ends_with(b"==")
        && k[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max = 16 + usize::from(input.u16() % 8192);
    let buf = input.rest();
    match parse_request(buf, max) {
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
            assert!(r.head_len <= buf.len() && r.head_len <= max);
            assert!(buf[..r.head_len].ends_with(b"\r\n\r\n"));
            assert!(base64_16(&r.key), "bad key accepted: {:?}", r.key);
            assert!(
                r.target.starts_with('/') || r.target.contains("://"),
                "{:?}",
                r.target
            );
            assert!(clean(&r.target) && clean(&r.host) && clean(&r.key));
            assert!(r.subprotocols.iter().all(|p| clean(p) && !p.is_empty()));
            assert!(r.origin.as_deref().is_none_or(clean));
            assert_eq!(parse_request(&buf[..r.head_len], max), Ok(Some(r)));
        }
        Err(rej) => {
            assert!(
                matches!(rej.status, 400 | 405 | 426 | 431),
                "status {}",
                rej.status
            );
            let line = format!("HTTP/1.1 {} ", rej.status);
            assert!(rej.response.starts_with(line.as_bytes()));
            assert!(rej.response.ends_with(b"\r\n\r\n"));
            assert!(!rej.message.is_empty());
        }
    }
});
