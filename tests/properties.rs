//! Property tests of the sans-I/O protocol core (issue 8, item 2), with
//! proptest's default 256 cases per property:
//!
//! * frame headers and whole frames survive encode → decode, for every opcode,
//!   lengths on both sides of 125/126, 65535/65536, masked or not;
//! * close payloads survive encode → parse (reasons cut on a char boundary);
//! * a valid byte stream (many messages, fragmented, control frames between
//!   fragments, a close at the end) cut into reads of any sizes gives exactly
//!   the events and the output of one single read;
//! * masking is an involution and matches a byte-wise reference at any offset,
//!   alignment and split;
//! * the incremental UTF-8 validator agrees with `std::str::from_utf8` on every
//!   input and every split, failing exactly when the bytes so far can no longer
//!   begin a valid text.

use proptest::prelude::*;
use qwebsocket::CloseCode;
use qwebsocket::protocol::close::{encode_close_payload, parse_close_payload, truncate_reason};
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::session::{Data, MessageKind};
use qwebsocket::protocol::utf8::Utf8Validator;
use qwebsocket::protocol::{FrameHeader, OpCode, Role, Session, SessionConfig, SessionEvent};
use std::time::Instant;

// ----- strategies ----------------------------------------------------------------

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

/// Payload lengths around every boundary of the length encoding, and beyond.
fn any_length() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=130,
        120u64..=131,
        65_530u64..=65_541,
        Just(u64::from(u32::MAX)),
        65_536u64..(1u64 << 63),
    ]
}

fn any_header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..8,
        0..OPCODES.len(),
        any::<Option<[u8; 4]>>(),
        any_length(),
    )
        .prop_map(|(fin, rsv, op, mask, len)| {
            let opcode = OPCODES[op];
            let control = opcode.is_control();
            FrameHeader {
                fin: fin || control,
                rsv,
                opcode,
                mask,
                payload_len: if control { len % 126 } else { len },
            }
        })
}

/// Pieces of a byte stream likely to find UTF-8 bugs: whole characters of
/// every width, single bytes of any value, the classic invalid sequences
/// (surrogates, overlongs, beyond U+10FFFF, stray continuation bytes) and
/// characters cut short.
fn utf8_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<char>().prop_map(|c| c.to_string().into_bytes()),
        prop::collection::vec(0x20u8..0x7f, 0..8),
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            vec![0xed, 0xa0, 0x80],       // U+D800, a surrogate
            vec![0xed, 0xbf, 0xbf],       // U+DFFF
            vec![0xc0, 0xaf],             // overlong '/'
            vec![0xc1, 0xbf],             // overlong
            vec![0xe0, 0x80, 0xaf],       // overlong, 3 bytes
            vec![0xf0, 0x80, 0x80, 0xaf], // overlong, 4 bytes
            vec![0xf4, 0x90, 0x80, 0x80], // U+110000
            vec![0xf5, 0x80, 0x80, 0x80], // never a lead byte
            vec![0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF, valid
            vec![0xef, 0xbf, 0xbf],       // U+FFFF, valid
            vec![0x80],                   // continuation with no lead
            vec![0xfe],
            vec![0xff],
        ]),
        (any::<char>(), 0usize..4).prop_map(|(c, cut)| {
            let b = c.to_string().into_bytes();
            let n = cut.min(b.len().saturating_sub(1));
            b[..n].to_vec()
        }),
    ]
}

fn utf8_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(utf8_piece(), 0..24).prop_map(|v| v.concat())
}

/// Cut points for a stream of `len` bytes, from a list of read sizes.
fn cuts(len: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < len {
        let n = sizes.get(i).copied().unwrap_or(len).max(1).min(len - pos);
        out.push((pos, pos + n));
        pos += n;
        i += 1;
    }
    out
}

// ----- a reference reader ------------------------------------------------------

/// A session event with its bytes copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Frame {
        kind: MessageKind,
        frame: Vec<u8>,
        is_last: bool,
        message: Option<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseCode, Vec<u8>),
    Failed(CloseCode),
}

fn bytes_of(s: &mut Session, d: Data, input: &[u8]) -> Vec<u8> {
    match d {
        Data::Input(r) => input[r].to_vec(),
        Data::Scratch => s.frame_scratch().to_vec(),
        Data::Message => s.take_message(),
        Data::Inflated(r) => s.message_buffer()[r].to_vec(),
    }
}

/// Feeds `wire` to a fresh session of `role` in reads cut by `sizes`, keeping
/// unconsumed bytes as the socket layer does. Returns the events and what the
/// session queued.
fn read_all(role: Role, wire: &[u8], sizes: &[usize]) -> (Vec<Ev>, Vec<u8>) {
    let now = Instant::now();
    let mut s = Session::new(role, SessionConfig::default(), now);
    // Fixed masking keys so that two readers' outputs can be compared.
    let mut n = 0u8;
    s.set_mask_source(Some(Box::new(move || {
        n = n.wrapping_add(1);
        [n, 0x5a, n, 0xa5]
    })));
    let mut buf = Vec::new();
    let mut events = Vec::new();
    for (a, b) in cuts(wire.len(), sizes) {
        buf.extend_from_slice(&wire[a..b]);
        loop {
            let (used, ev) = s.read_event(&mut buf, now);
            assert!(used <= buf.len());
            let Some(ev) = ev else {
                buf.drain(..used);
                break;
            };
            let ev = match ev {
                SessionEvent::Frame {
                    kind,
                    frame,
                    is_last,
                    message,
                } => {
                    let frame = bytes_of(&mut s, frame, &buf);
                    let message = message.map(|m| bytes_of(&mut s, m, &buf));
                    Ev::Frame {
                        kind,
                        frame,
                        is_last,
                        message,
                    }
                }
                SessionEvent::Ping(r) => Ev::Ping(buf[r].to_vec()),
                SessionEvent::Pong(r) => Ev::Pong(buf[r].to_vec()),
                SessionEvent::CloseReceived { code, reason } => {
                    Ev::Close(code, buf[reason].to_vec())
                }
                SessionEvent::Failed(e) => Ev::Failed(e.code),
                other => panic!("a read gave {other:?}"),
            };
            buf.drain(..used);
            events.push(ev);
        }
    }
    (events, s.pending_output().to_vec())
}

/// One thing a peer sends.
#[derive(Clone, Debug)]
enum Send {
    /// A message in fragments of the given size, a ping after fragment `ping`.
    Message {
        text: bool,
        body: Vec<u8>,
        frame_size: usize,
        ping: Option<usize>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn any_send() -> impl Strategy<Value = Send> {
    prop_oneof![
        4 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..400), 1usize..200, any::<Option<usize>>())
            .prop_map(|(text, body, frame_size, ping)| {
                let body = if text { String::from_utf8_lossy(&body).into_owned().into_bytes() } else { body };
                Send::Message { text, body, frame_size, ping: ping.map(|p| p % 4) }
            }),
        1 => prop::collection::vec(any::<u8>(), 0..126).prop_map(Send::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..126).prop_map(Send::Pong),
    ]
}

/// What a session of `role` writes for `sends`, then a close 1000 if `close`.
fn write_all(role: Role, sends: &[Send], close: bool) -> Vec<u8> {
    let now = Instant::now();
    let mut s = Session::new(role, SessionConfig::default(), now);
    for send in sends {
        match send {
            Send::Message {
                text,
                body,
                frame_size,
                ping,
            } => {
                let kind = if *text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let chunks: Vec<&[u8]> = if body.is_empty() {
                    vec![&[]]
                } else {
                    body.chunks(*frame_size).collect()
                };
                for (i, c) in chunks.iter().enumerate() {
                    s.send_frame(kind, i == 0, i + 1 == chunks.len(), c)
                        .unwrap();
                    if *ping == Some(i) {
                        s.send_ping(b"between").unwrap();
                    }
                }
            }
            Send::Ping(p) => {
                s.send_ping(p).unwrap();
            }
            Send::Pong(p) => {
                s.send_pong(p).unwrap();
            }
        }
    }
    if close {
        s.close(CloseCode::Normal, "done", now).unwrap();
    }
    s.pending_output().to_vec()
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

// ----- the properties ----------------------------------------------------------

proptest! {
    #[test]
    fn frame_header_encode_parse_round_trip(h in any_header(), tail in prop::collection::vec(any::<u8>(), 0..4)) {
        let mut buf = [0u8; 14];
        let n = h.encode(&mut buf);
        prop_assert_eq!(n, h.encoded_len());
        let expect_len = match h.payload_len { 0..=125 => 2, 126..=65_535 => 4, _ => 10 }
            + if h.mask.is_some() { 4 } else { 0 };
        prop_assert_eq!(n, expect_len);
        let mut bytes = buf[..n].to_vec();
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(FrameHeader::parse(&bytes, 7), Ok(Some((h, n))));
        for k in 0..n {
            prop_assert_eq!(FrameHeader::parse(&bytes[..k], 7), Ok(None));
        }
    }

    #[test]
    fn whole_frames_round_trip_through_sessions(
        role in prop::sample::select(vec![Role::Client, Role::Server]),
        text in any::<bool>(),
        len in prop_oneof![0usize..=130, 65_533usize..=65_538],
        seed in any::<u8>(),
    ) {
        // A message of `len` bytes written by `role` and read by its peer.
        let body: Vec<u8> = (0..len).map(|i| if text { b'a' + (i as u8 ^ seed) % 26 } else { i as u8 ^ seed }).collect();
        let kind = if text { MessageKind::Text } else { MessageKind::Binary };
        let now = Instant::now();
        let mut w = Session::new(role, SessionConfig::default(), now);
        w.send_message(kind, &body, usize::MAX).unwrap();
        let wire = w.pending_output().to_vec();
        let (h, hl) = FrameHeader::parse(&wire, 0).unwrap().unwrap();
        prop_assert_eq!(h.payload_len, len as u64);
        prop_assert_eq!(h.mask.is_some(), role == Role::Client);
        prop_assert_eq!(wire.len(), hl + len);
        let (events, _) = read_all(other(role), &wire, &[]);
        prop_assert_eq!(events, vec![Ev::Frame { kind, frame: body.clone(), is_last: true, message: Some(body) }]);
    }

    #[test]
    fn close_payload_round_trip(code in prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999], reason in prop::collection::vec(any::<char>(), 0..80).prop_map(String::from_iter)) {
        let code = CloseCode::from(code);
        let mut out = Vec::new();
        encode_close_payload(Some((code, &reason)), &mut out);
        prop_assert!(out.len() <= 125);
        let (c, r) = parse_close_payload(&out).unwrap();
        prop_assert_eq!(c, code);
        prop_assert_eq!(r, truncate_reason(&reason));
        prop_assert!(reason.starts_with(r));
    }

    #[test]
    fn any_split_of_a_stream_gives_the_same_events(
        writer in prop::sample::select(vec![Role::Client, Role::Server]),
        sends in prop::collection::vec(any_send(), 1..8),
        close in any::<bool>(),
        sizes in prop::collection::vec(1usize..300, 0..64),
    ) {
        let wire = write_all(writer, &sends, close);
        let (whole, out_whole) = read_all(other(writer), &wire, &[]);
        let (split, out_split) = read_all(other(writer), &wire, &sizes);
        let (bytewise, out_bytewise) = read_all(other(writer), &wire, &[1; 4096]);
        prop_assert!(!whole.iter().any(|e| matches!(e, Ev::Failed(_))), "{:?}", whole);
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(&out_split, &out_whole);
        if wire.len() <= 4096 {
            prop_assert_eq!(&bytewise, &whole);
            prop_assert_eq!(&out_bytewise, &out_whole);
        }
        // And the events are what was sent.
        let messages: Vec<Vec<u8>> = whole.iter().filter_map(|e| match e {
            Ev::Frame { message: Some(m), .. } => Some(m.clone()),
            _ => None,
        }).collect();
        let sent: Vec<Vec<u8>> = sends.iter().filter_map(|s| match s {
            Send::Message { body, .. } => Some(body.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(messages, sent);
        prop_assert_eq!(matches!(whole.last(), Some(Ev::Close(CloseCode::Normal, r)) if r == b"done"), close);
    }

    #[test]
    fn masking_is_an_involution_matching_a_bytewise_reference(
        data in prop::collection::vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        offset in 0usize..16,
        align in 0usize..8,
        sizes in prop::collection::vec(0usize..40, 0..12),
    ) {
        // `align` shifts the slice inside a buffer so every pointer alignment
        // of the word-at-a-time path is taken.
        let mut storage = vec![0u8; align + data.len()];
        storage[align..].copy_from_slice(&data);
        let buf = &mut storage[align..];
        apply_mask(buf, key, offset);
        let reference: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[(offset + i) % 4]).collect();
        prop_assert_eq!(&buf[..], &reference[..]);
        // Unmasking in pieces, carrying the offset, gives the data back.
        let mut pos = 0;
        for &n in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            let n = n.min(buf.len() - pos);
            apply_mask(&mut buf[pos..pos + n], key, offset + pos);
            pos += n;
        }
        prop_assert_eq!(&buf[..], &data[..]);
    }

    #[test]
    fn utf8_validator_agrees_with_std_on_every_split(
        bytes in utf8_bytes(),
        sizes in prop::collection::vec(0usize..7, 0..32),
    ) {
        let mut v = Utf8Validator::new();
        let mut fed = 0;
        let mut failed = false;
        let pieces = cuts(bytes.len(), &sizes);
        for (a, b) in pieces {
            let piece = &bytes[a..b];
            let r = v.feed(piece);
            fed = b;
            // Valid so far means: std accepts the prefix, or rejects it only
            // because it ends in the middle of a character.
            let std = std::str::from_utf8(&bytes[..fed]);
            let prefix_ok = match std {
                Ok(_) => true,
                Err(e) => e.error_len().is_none(),
            };
            match r {
                Ok(finished) => {
                    prop_assert!(prefix_ok, "accepted {:02x?}", &bytes[..fed]);
                    prop_assert!(finished <= piece.len());
                    prop_assert_eq!(v.is_complete(), std.is_ok());
                    let valid_up_to = std.err().map_or(fed, |e| e.valid_up_to());
                    prop_assert_eq!(v.pending(), &bytes[valid_up_to..fed]);
                }
                Err(e) => {
                    prop_assert!(!prefix_ok, "refused {:02x?}", &bytes[..fed]);
                    prop_assert_eq!(e.code, CloseCode::WrongDatatype);
                    failed = true;
                    break;
                }
            }
        }
        let whole_ok = std::str::from_utf8(&bytes).is_ok();
        prop_assert_eq!(!failed && v.is_complete(), whole_ok);
        if !failed {
            prop_assert_eq!(fed, bytes.len());
        }
    }
}

#[test]
fn utf8_validator_agrees_with_std_on_every_two_byte_input_and_split() {
    // Exhaustive where it is cheap: all 65 536 two-byte inputs, whole and cut
    // in the middle, after every possible one-byte context.
    for lead in [None, Some(0xe2u8), Some(0xf0)] {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let mut bytes = lead.map(|l| vec![l]).unwrap_or_default();
                bytes.extend([a, b]);
                let std = std::str::from_utf8(&bytes);
                for cut in 0..=bytes.len() {
                    let mut v = Utf8Validator::new();
                    let ok = v.feed(&bytes[..cut]).is_ok() && v.feed(&bytes[cut..]).is_ok();
                    let expect_ok = match std {
                        Ok(_) => true,
                        Err(e) => e.error_len().is_none(),
                    };
                    assert_eq!(ok, expect_ok, "{bytes:02x?} cut at {cut}");
                    if ok {
                        assert_eq!(v.is_complete(), std.is_ok(), "{bytes:02x?}");
                    }
                }
            }
        }
    }
}
