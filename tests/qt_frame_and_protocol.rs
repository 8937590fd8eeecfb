//! Qt's `tst_websocketframe` and `tst_websocketprotocol`
//! (tests/auto/websockets/websocketframe, websocketprotocol), with Qt's data,
//! against `FrameHeader`, `OpCode`, `CloseCode`, `Version`, the masking
//! function, and a `WebSocket` for the masking key order on the wire.
//!
//! Qt's `QWebSocketFrame` is a whole frame with a validity flag and a close
//! code. Here a frame header is parsed by `FrameHeader::parse` (which says
//! "need more bytes" with `Ok(None)` and gives the 1002 reason on a violation)
//! and the limits and timeouts live in the `Session`; so a Qt row about an
//! incomplete frame (Qt: invalid, 1001 "Waiting for more data from socket.")
//! becomes "the parser waits, and the session's idle timeout closes with 1001".

use qwebsocket::protocol::frame::FrameHeader;
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::{OpCode, Role, Session, SessionConfig, SessionEvent};
use qwebsocket::{CloseCode, MaskGenerator, Version};
use std::time::{Duration, Instant};

mod common;

// ===== tst_websocketprotocol =====================================================

/// tst_validMasks: key 0x12345678, applied most significant byte first.
#[test]
fn masks_follow_qt_test_vectors() {
    let key = 0x1234_5678u32.to_be_bytes();
    let rows: [(&[u8], &[u8]); 4] = [
        (b"", b""),
        (
            b"abcdefgh",
            &[0x73, 0x56, 0x35, 0x1C, 0x77, 0x52, 0x31, 0x10],
        ),
        (
            b"abcdefghi",
            &[0x73, 0x56, 0x35, 0x1C, 0x77, 0x52, 0x31, 0x10, 0x7B],
        ),
        // Qt's "UTF-8 payload" row: "∫∂ƒ©øØ" converted to Latin-1, where the
        // first three characters become '?'.
        (
            &[0x3F, 0x3F, 0x3F, 0xA9, 0xF8, 0xD8],
            &[0x2D, 0x0B, 0x69, 0xD1, 0xEA, 0xEC],
        ),
    ];
    for (input, masked) in rows {
        let mut buf = input.to_vec();
        apply_mask(&mut buf, key, 0);
        assert_eq!(buf, masked, "{input:x?}");
        apply_mask(&mut buf, key, 0);
        assert_eq!(buf, input, "masking twice gives the input back");
    }
}

/// The same vector through a client socket: a `MaskGenerator` returning
/// 0x12345678 puts the key on the wire as 12 34 56 78 and masks the payload
/// as Qt's `mask()` does.
#[test]
fn mask_generator_keys_go_on_the_wire_most_significant_byte_first() {
    struct Fixed;
    impl MaskGenerator for Fixed {
        fn next_mask(&mut self) -> u32 {
            0x1234_5678
        }
    }
    let c = common::connected_client();
    c.ws.set_mask_generator(Some(Box::new(Fixed)));
    assert_eq!(c.ws.send_binary_message(b"abcdefgh"), 8);
    c.reactor.run_until_idle();
    assert_eq!(
        c.peer.take_bytes(),
        [
            0x82, 0x88, 0x12, 0x34, 0x56, 0x78, 0x73, 0x56, 0x35, 0x1C, 0x77, 0x52, 0x31, 0x10
        ]
    );
}

/// The masking keys of 1000 pings sent by a client session.
fn mask_series() -> Vec<[u8; 4]> {
    let now = Instant::now();
    let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    for _ in 0..1000 {
        s.send_ping(b"").unwrap();
    }
    let out = s.pending_output();
    assert_eq!(out.len(), 1000 * 6);
    out.chunks(6)
        .map(|f| {
            assert_eq!(&f[..2], [0x89, 0x80], "an empty masked ping");
            [f[2], f[3], f[4], f[5]]
        })
        .collect()
}

/// tst_defaultmaskgenerator: two series of 1000 masks from the default
/// generator differ, and no mask is 0 (Qt re-draws a 0). (Fresh keys per
/// frame: tests/protocol_session.rs::client_masks_every_frame_with_a_fresh_
/// nonzero_key.)
#[test]
fn default_mask_series_differ() {
    let a = mask_series();
    let b = mask_series();
    assert_ne!(a, b);
    assert!(a.iter().chain(&b).all(|k| *k != [0; 4]));
}

/// tst_opCodes: 0, 1, 2, 8, 9 and A are opcodes; 3-7 and B-F are reserved.
#[test]
fn reserved_opcodes_follow_qt() {
    let known = [
        (0x0, OpCode::Continuation),
        (0x1, OpCode::Text),
        (0x2, OpCode::Binary),
        (0x8, OpCode::Close),
        (0x9, OpCode::Ping),
        (0xA, OpCode::Pong),
    ];
    for (v, op) in known {
        assert_eq!(OpCode::from_u8(v), Some(op));
        assert_eq!(op.as_u8(), v);
    }
    for v in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(OpCode::from_u8(v), None, "opcode {v:X} is reserved");
    }
}

/// tst_closeCodes: 0-999 invalid, 1000-1003 valid, 1004-1006 invalid,
/// 1007-1011 valid, 1013-2999 invalid, 3000-4999 valid (Qt's "5000", "6000"
/// and "7000" rows really test 1004; the real values are used here).
///
/// Qt treats 1012-1014 as invalid; they are valid here (registered with IANA:
/// docs/coming-from-qt.md, deviation 6), and so is 1012 which Qt's rows skip.
#[test]
fn close_code_validity_follows_the_rfc_and_iana() {
    let expect = |code: u16| {
        matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) || (1012..=1014).contains(&code) // deviation 6
    };
    for code in (0..5000).chain([5000, 6000, 7000, 65535]) {
        assert_eq!(
            CloseCode::from(code).is_sendable(),
            expect(code),
            "close code {code}"
        );
    }
}

/// tst_versionFromString.
#[test]
fn versions_from_strings_follow_qt() {
    let rows = [
        ("0", Version::V0),
        ("4", Version::V4),
        ("5", Version::V5),
        ("6", Version::V6),
        ("7", Version::V7),
        ("8", Version::V8),
        ("13", Version::V13),
        ("-1", Version::Unknown),
        ("1", Version::Unknown),
        ("2", Version::Unknown),
        ("3", Version::Unknown),
        ("9", Version::Unknown),
        ("10", Version::Unknown),
        ("11", Version::Unknown),
        ("12", Version::Unknown),
        ("abcd", Version::Unknown),
        ("1.6", Version::Unknown),
        ("", Version::Unknown),
    ];
    for (s, v) in rows {
        assert_eq!(Version::from_string(s), v, "{s:?}");
    }
    assert_eq!(Version::LATEST, Version::V13);
}

// ===== tst_websocketframe ==========================================================

/// An unmasked frame as Qt's `FrameHelper` writes it.
fn wire(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
    out
}

/// tst_initialization has no counterpart (there is no frame object before
/// parsing); its intent, "no data is no frame", is that an empty buffer asks
/// for more bytes.
#[test]
fn no_data_is_no_frame_yet() {
    assert_eq!(FrameHeader::parse(&[], 0), Ok(None));
}

/// tst_copyConstructorAndAssignment: a masked final binary frame "12345" with
/// mask 1234 parses with every field, and copies keep every field.
#[test]
fn frame_header_copies_keep_every_field() {
    let key = 1234u32.to_be_bytes();
    let bytes = wire(true, 0, 2, Some(key), b"12345");
    let (header, len) = FrameHeader::parse(&bytes, 0).unwrap().unwrap();
    assert_eq!(len, 6);
    assert_eq!(
        header,
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some(key),
            payload_len: 5
        }
    );
    let copy = header;
    let clone = Clone::clone(&copy);
    assert_eq!(copy, header);
    assert_eq!(clone, header);
    let mut payload = bytes[len..].to_vec();
    apply_mask(&mut payload, key, 0);
    assert_eq!(payload, b"12345");
}

/// tst_goodFrames: unmasked text, binary, close, ping, pong and continuation
/// frames (final and not) parse with their fields; control and data frames are
/// told apart.
#[test]
fn good_frames_parse_with_their_fields() {
    let hello = b"Hello world!";
    let rows: [(u8, bool, &[u8]); 10] = [
        (1, true, hello),
        (2, true, b"\x00\x01\x02\x03\x04"),
        (1, true, b""),
        (2, true, b""),
        (8, true, hello),
        (8, true, b""),
        (9, true, hello),
        (10, true, b""),
        (0, true, hello),
        (0, false, hello),
    ];
    for (op, fin, payload) in rows {
        let bytes = wire(fin, 0, op, None, payload);
        let (h, len) = FrameHeader::parse(&bytes, 0)
            .unwrap_or_else(|e| panic!("opcode {op}: {e}"))
            .expect("a whole header");
        assert_eq!(h.fin, fin);
        assert_eq!(h.rsv, 0);
        assert_eq!(h.mask, None);
        assert_eq!(h.opcode.as_u8(), op);
        assert_eq!(h.opcode.is_control(), op >= 8, "opcode {op}");
        assert_eq!(h.payload_len, payload.len() as u64);
        assert_eq!(&bytes[len..], payload);
    }
}

/// tst_invalidFrames: RSV bits, reserved opcodes, control frames of 126 bytes
/// or not final: 1002, with Qt's reasons.
#[test]
fn invalid_frames_fail_with_1002_and_qt_reasons() {
    let hello = b"Hello world!";
    let big = [b'a'; 126];
    let mut rows: Vec<(Vec<u8>, &str)> = Vec::new();
    for rsv in [0b100u8, 0b010, 0b001, 0b110, 0b101, 0b011] {
        rows.push((wire(true, rsv, 1, None, hello), "Rsv field is non-zero"));
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        rows.push((wire(true, 0, op, None, hello), "Used reserved opcode"));
    }
    for op in [8u8, 9, 10] {
        rows.push((
            wire(true, 0, op, None, &big),
            "Control frame is larger than 125 bytes",
        ));
        // Qt's non-final rows also carry 126 bytes; the size is checked first.
        rows.push((
            wire(false, 0, op, None, &big),
            "Control frame is larger than 125 bytes",
        ));
        rows.push((
            wire(false, 0, op, None, hello),
            "Control frames cannot be fragmented",
        ));
    }
    for (bytes, reason) in rows {
        let e = FrameHeader::parse(&bytes, 0).unwrap_err();
        assert_eq!(e.code, CloseCode::ProtocolError, "{bytes:x?}");
        assert_eq!(e.reason, reason, "{bytes:x?}");
    }
}

/// tst_malformedFrames, too little data: every cut of the 12-byte frame
/// "text, 10 × 'a'" is not a frame yet. Qt calls it invalid with 1001 at
/// once; here the parser waits (a cut inside the header) and the session's
/// idle timeout closes with 1001 (a cut inside the payload or the header).
#[test]
fn truncated_frames_wait_then_time_out_with_1001() {
    let whole = wire(true, 0, 1, None, &[b'a'; 10]);
    assert_eq!(whole.len(), 12);
    assert_eq!(FrameHeader::parse(&whole[..1], 0), Ok(None));
    for cut in 1..12 {
        let t0 = Instant::now();
        let config = SessionConfig {
            incomplete_timeout: Some(Duration::from_secs(5)),
            ..SessionConfig::default()
        };
        let mut s = Session::new(Role::Client, config, t0);
        let mut input = whole[..cut].to_vec();
        assert_eq!(s.read_event(&mut input, t0), (0, None), "cut {cut}");
        let deadline = s.next_deadline().expect("an incomplete frame is timed");
        assert_eq!(deadline, t0 + Duration::from_secs(5));
        assert_eq!(
            s.on_timeout(deadline),
            Some(SessionEvent::IncompleteTimeout)
        );
        assert_eq!(
            s.sent_close(),
            Some((
                CloseCode::GoingAway,
                "Timeout when reading data from socket."
            ))
        );
    }
}

/// tst_malformedFrames, too much data and invalid size fields: a 64-bit
/// length of maxFrameSize() + 1 fails with 1009 from the header alone; a
/// length with its most significant bit set, and lengths not in their
/// shortest form (64-bit 256 and 120, 16-bit 120), fail with 1002.
#[test]
fn malformed_length_fields_fail_at_once() {
    let with_len = |second: u8, ext: &[u8]| {
        let mut b = vec![0x81, second];
        b.extend_from_slice(ext);
        b
    };
    let rows = [
        (
            with_len(127, &(1u64 << 63).to_be_bytes()),
            "Highest bit of payload length is not 0.",
        ),
        (
            with_len(127, &256u64.to_be_bytes()),
            "Lengths smaller than 65536 (2^16) must be expressed as 2 bytes.",
        ),
        (
            with_len(126, &120u16.to_be_bytes()),
            "Lengths smaller than 126 must be expressed as one byte.",
        ),
        (
            with_len(127, &120u64.to_be_bytes()),
            "Lengths smaller than 65536 (2^16) must be expressed as 2 bytes.",
        ),
    ];
    for (bytes, reason) in rows {
        let e = FrameHeader::parse(&bytes, 0).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_ref()),
            (CloseCode::ProtocolError, reason)
        );
    }

    let too_big = with_len(127, &(qwebsocket::MAX_INCOMING_SIZE + 1).to_be_bytes());
    let t0 = Instant::now();
    let config = SessionConfig {
        max_frame_size: qwebsocket::MAX_INCOMING_SIZE,
        ..SessionConfig::default()
    };
    let mut s = Session::new(Role::Client, config, t0);
    let mut input = too_big.clone();
    match s.read_event(&mut input, t0) {
        (n, Some(SessionEvent::Failed(e))) => {
            assert_eq!(n, too_big.len());
            assert_eq!(e.code, CloseCode::TooMuchData);
            assert_eq!(e.reason, "Maximum framesize exceeded.");
        }
        other => panic!("expected 1009 from the header alone, got {other:?}"),
    }
}
