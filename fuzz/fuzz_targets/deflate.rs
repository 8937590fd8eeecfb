//! permessage-deflate (RFC 7692) in the sans-I/O session, with the
//! parameters chosen by the input.
//!
//! Part one: a client `Session` with compression negotiated reads frames
//! from the server whose payloads are arbitrary bytes (most of them not
//! DEFLATE at all), RSV1 on the first frame or not, fragmented, in arbitrary
//! reads. Asserts: nothing delivered is over the message limit (the inflater
//! is bounded while it runs); text is valid UTF-8; a failure carries 1002,
//! 1007 or 1009 and the close frame queued carries it; nothing is delivered
//! after a failure.
//!
//! Part two: round trips. Messages from the input are sent by one session
//! with compression and read by its peer with the same parameters, both
//! ways, in arbitrary reads: every message arrives exactly as sent, and each
//! side's output is valid frames (RSV1 only on a first data frame).
#![no_main]

use fuzzkit::{Event, Input, encode_frame, pump};
use libfuzzer_sys::fuzz_target;
use qwebsocket::CloseCode;
use qwebsocket::protocol::session::{CloseState, MessageKind};
use qwebsocket::protocol::{CompressionOptions, DeflateParams, Role, Session, SessionConfig};
use std::time::Instant;

const LIMIT: u64 = 4096;

fn params(input: &mut Input<'_>) -> (DeflateParams, CompressionOptions) {
    let flags = input.u8();
    let params = DeflateParams {
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 8 + input.u8() % 8,
        client_max_window_bits: 8 + input.u8() % 8,
    };
    let options = CompressionOptions {
        threshold: usize::from(input.u8() % 4) * 16,
        level: u32::from(input.u8() % 10),
        ..CompressionOptions::enabled()
    };
    (params, options)
}

fn session(role: Role, input: &mut Input<'_>, now: Instant) -> Session {
    let config = SessionConfig {
        max_frame_size: LIMIT,
        max_message_size: LIMIT,
        ..SessionConfig::default()
    };
    let mut s = Session::new(role, config, now);
    let (p, o) = params(input);
    s.set_compression(p, &o);
    s
}

/// Data frames a session wrote: RSV1 only on the first frame of a message.
fn check_rsv(bytes: &[u8], masked: bool) {
    let (frames, used) = fuzzkit::decode_compressed_frames(bytes, masked);
    assert_eq!(
        used,
        bytes.len(),
        "our output ends in the middle of a frame"
    );
    let mut first = true;
    for f in frames {
        if f.opcode >= 8 {
            assert_eq!(f.rsv, 0, "RSV on a control frame");
            continue;
        }
        if !first {
            assert_eq!(f.rsv, 0, "RSV1 on a continuation frame");
        }
        first = f.fin;
    }
}

fn round_trip(from: Role, input: &mut Input<'_>, now: Instant) {
    let mut tx = session(from, input, now);
    let mut rx = session(
        if from == Role::Client {
            Role::Server
        } else {
            Role::Client
        },
        input,
        now,
    );
    // Both ends agree on the same parameters (as after a handshake).
    let agreed = tx.compression().expect("negotiated");
    let options = CompressionOptions::enabled();
    rx.set_compression(agreed, &options);
    let mut sent = Vec::new();
    for _ in 0..input.u8() % 6 {
        let text = input.bool();
        let raw = input.bytes(700);
        let payload: Vec<u8> = if text {
            String::from_utf8_lossy(raw).into_owned().into_bytes()
        } else {
            raw.to_vec()
        };
        if payload.len() as u64 > LIMIT {
            continue;
        }
        let kind = if text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        let frame_size = 1 + usize::from(input.u8()) * 4;
        if tx.send_message(kind, &payload, frame_size).is_ok() {
            sent.push((kind, payload));
        }
    }
    let wire = tx.pending_output().to_vec();
    check_rsv(&wire, from == Role::Client);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = (usize::from(input.u8()) + 1).min(wire.len() - pos);
        for ev in pump(&mut rx, &mut buf, &wire[pos..pos + n], now) {
            match ev {
                Event::Frame {
                    kind,
                    message: Some(m),
                    ..
                } => got.push((kind, m)),
                Event::Frame { .. } => {}
                other => panic!("round trip gave {other:?}"),
            }
        }
        pos += n;
    }
    assert_eq!(got, sent, "messages changed on the way");
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let now = Instant::now();
    if input.bool() {
        let from = if input.bool() {
            Role::Client
        } else {
            Role::Server
        };
        round_trip(from, &mut input, now);
        return;
    }
    let mut s = session(Role::Client, &mut input, now);
    let mut wire = Vec::new();
    for _ in 0..input.u8() % 8 {
        let b = input.u8();
        let opcode = [0u8, 1, 2, 9][usize::from(b % 4)];
        let fin = b & 0x10 == 0;
        let rsv = if b & 0x20 != 0 { 0b100 } else { 0 };
        wire.extend(encode_frame(fin, rsv, opcode, None, input.bytes(300)));
    }
    let mut buf = Vec::new();
    let mut failed = false;
    let mut pos = 0;
    while pos < wire.len() {
        let n = (usize::from(input.u8()) + 1).min(wire.len() - pos);
        for ev in pump(&mut s, &mut buf, &wire[pos..pos + n], now) {
            assert!(!failed, "event after a failure: {ev:?}");
            match ev {
                Event::Frame {
                    kind,
                    frame,
                    message,
                    ..
                } => {
                    assert!(frame.len() as u64 <= LIMIT);
                    if kind == MessageKind::Text {
                        assert!(std::str::from_utf8(&frame).is_ok());
                    }
                    if let Some(m) = message {
                        assert!(m.len() as u64 <= LIMIT, "message of {} bytes", m.len());
                        if kind == MessageKind::Text {
                            assert!(std::str::from_utf8(&m).is_ok());
                        }
                    }
                }
                Event::Failed(e) => {
                    assert!(
                        matches!(
                            e.code,
                            CloseCode::ProtocolError
                                | CloseCode::WrongDatatype
                                | CloseCode::TooMuchData
                        ),
                        "failure with {:?}: {}",
                        e.code,
                        e.reason
                    );
                    assert_eq!(s.close_state(), CloseState::Failed);
                    assert_eq!(s.sent_close().map(|c| c.0), Some(e.code));
                    failed = true;
                }
                Event::Ping(_) | Event::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        pos += n;
    }
});
