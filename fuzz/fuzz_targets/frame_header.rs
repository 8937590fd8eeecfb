//! The frame header decoder (`FrameHeader::parse`) on arbitrary bytes.
//!
//! Asserts: a parsed header takes no more bytes than given and exactly
//! `encoded_len()`; encoding it again gives the same bytes (minimal lengths
//! only); control frames are final and at most 125 bytes; RSV bits are only
//! the allowed ones; the length's top bit is clear; every shorter prefix of a
//! valid header asks for more bytes; every error is a 1002.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qwebsocket::CloseCode;
use qwebsocket::protocol::FrameHeader;

fuzz_target!(|data: &[u8]| {
    let Some((&allowed, buf)) = data.split_first() else {
        return;
    };
    let allowed = allowed & 7;
    match FrameHeader::parse(buf, allowed) {
        Ok(None) => {
            assert!(buf.len() < 14, "asked for more with {} bytes", buf.len());
        }
        Ok(Some((h, n))) => {
            assert!(n <= buf.len());
            assert_eq!(n, h.encoded_len());
            assert_eq!(h.rsv & !allowed, 0);
            assert_eq!(h.payload_len >> 63, 0);
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125);
            }
            let mut again = [0u8; 14];
            let m = h.encode(&mut again);
            assert_eq!(&again[..m], &buf[..n], "re-encoding differs");
            for k in 0..n {
                assert_eq!(
                    FrameHeader::parse(&buf[..k], allowed),
                    Ok(None),
                    "prefix {k}"
                );
            }
        }
        Err(e) => {
            assert_eq!(e.code, CloseCode::ProtocolError);
            assert!(!e.reason.is_empty());
        }
    }
});
