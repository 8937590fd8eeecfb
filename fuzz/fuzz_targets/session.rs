//! A whole sans-I/O session, client or server (the first byte chooses), after
//! the handshake: the input is a script that interleaves peer bytes (well-formed
//! frames, wrongly masked frames, reserved opcodes, raw bytes) delivered in
//! arbitrary reads with our own sends, pings, closes, partial writes and the
//! passing of time, under small limits.
//!
//! Asserts: consumed never exceeds input and every event range lies in it; no
//! frame or message beyond the limits is delivered; text is valid UTF-8; a
//! failure carries a failure close code and, if the session was open, the
//! close frame queued carries that code; once finished nothing more is read;
//! sends after the closing handshake started are refused; every byte we write
//! is a valid frame (masked with a non-zero key iff we are the client), with
//! at most one close frame, last, carrying a sendable code.
#![no_main]

use fuzzkit::{Event, Input, check_close_payload, decode_frames, encode_frame, failure_code, pump};
use libfuzzer_sys::fuzz_target;
use qwebsocket::CloseCode;
use qwebsocket::protocol::session::{CloseState, MessageKind, SendError};
use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
use std::time::{Duration, Instant};

const OPCODES: [u8; 8] = [0, 1, 2, 8, 9, 10, 3, 11];
const CODES: [u16; 8] = [1000, 1001, 1005, 1006, 1011, 3000, 4999, 999];

fn check_timer(s: &Session, ev: &SessionEvent) {
    match ev {
        SessionEvent::IncompleteTimeout => {
            assert!(matches!(s.close_state(), CloseState::CloseSent { .. }));
            assert_eq!(s.sent_close().map(|c| c.0), Some(CloseCode::GoingAway));
        }
        SessionEvent::KeepaliveTimeout => {
            assert_eq!(s.close_state(), CloseState::Failed);
            assert_eq!(s.sent_close().map(|c| c.0), Some(CloseCode::BadOperation));
        }
        SessionEvent::CloseTimeout => assert_eq!(s.close_state(), CloseState::Failed),
        SessionEvent::KeepalivePing => assert_eq!(s.close_state(), CloseState::Open),
        other => panic!("timer gave {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let role = if input.bool() {
        Role::Client
    } else {
        Role::Server
    };
    let config = SessionConfig {
        max_frame_size: 512,
        max_message_size: 1024,
        incomplete_timeout: Some(Duration::from_secs(1)),
        close_timeout: Duration::from_secs(2),
        keepalive_interval: input.bool().then_some(Duration::from_secs(3)),
        keepalive_timeout: Duration::from_secs(1),
        ..SessionConfig::default()
    };
    let start = Instant::now();
    let mut now = start;
    let mut s = Session::new(role, config.clone(), now);
    let peer_mask = |key: [u8; 4]| (role == Role::Server).then_some(key);
    let mut wire: Vec<u8> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut written: Vec<u8> = Vec::new();

    let mut steps = 0;
    while !input.is_empty() && steps < 200 {
        steps += 1;
        let was_open = s.close_state() == CloseState::Open;
        let was_finished = s.is_finished();
        match input.u8() % 10 {
            0 => wire.extend_from_slice(input.bytes(40)),
            1 | 2 => {
                let b = input.u8();
                let opcode = OPCODES[usize::from(b % 8)];
                let fin = b & 0x10 == 0;
                let rsv = if b & 0xe0 == 0xe0 { 1 } else { 0 };
                let wrong = b & 0x08 != 0 && input.u8().is_multiple_of(8);
                let key = [input.u8() | 1, input.u8(), input.u8(), input.u8()];
                let payload = input.bytes(600);
                let mask = if wrong {
                    if role == Role::Server {
                        None
                    } else {
                        Some(key)
                    }
                } else {
                    peer_mask(key)
                };
                wire.extend(encode_frame(fin, rsv, opcode, mask, payload));
            }
            3 | 4 => {
                let n = (usize::from(input.u8()) + 1).min(wire.len());
                let chunk: Vec<u8> = wire.drain(..n).collect();
                let events = pump(&mut s, &mut buf, &chunk, now);
                if was_finished {
                    assert!(events.is_empty(), "finished session read {events:?}");
                }
                let mut open = was_open;
                for ev in events {
                    match ev {
                        Event::Frame {
                            kind,
                            frame,
                            message,
                            ..
                        } => {
                            assert!(frame.len() as u64 <= config.max_frame_size);
                            if kind == MessageKind::Text {
                                assert!(std::str::from_utf8(&frame).is_ok());
                            }
                            if let Some(m) = message {
                                assert!(m.len() as u64 <= config.max_message_size);
                                if kind == MessageKind::Text {
                                    assert!(std::str::from_utf8(&m).is_ok());
                                }
                            }
                        }
                        Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
                        Event::Close(code, reason) => {
                            assert!(code == CloseCode::MissingStatusCode || code.is_sendable());
                            assert!(std::str::from_utf8(&reason).is_ok());
                            assert_eq!(s.close_state(), CloseState::Closed);
                            open = false;
                        }
                        Event::Failed(e) => {
                            assert!(failure_code(e.code), "failure with {:?}", e.code);
                            assert!(!e.reason.is_empty());
                            assert_eq!(s.close_state(), CloseState::Failed);
                            if open {
                                assert_eq!(s.sent_close().map(|c| c.0), Some(e.code));
                            }
                            open = false;
                        }
                        Event::Timer(t) => panic!("read gave {t}"),
                    }
                }
            }
            5 => {
                let text = input.bool();
                let bytes = input.bytes(300);
                let frame_size = usize::from(input.u8()) + 1;
                let r = if text {
                    let t = String::from_utf8_lossy(bytes);
                    s.send_message(MessageKind::Text, t.as_bytes(), frame_size)
                } else {
                    s.send_message(MessageKind::Binary, bytes, frame_size)
                };
                assert_eq!(r.is_ok(), was_open, "{r:?}");
            }
            6 => {
                let r = s.send_ping(input.bytes(200));
                assert_eq!(r.is_ok(), was_open);
                if let Ok(n) = r {
                    assert!(n <= 125);
                }
            }
            7 => {
                let code = CloseCode::from(CODES[usize::from(input.u8() % 8)]);
                let reason = String::from_utf8_lossy(input.bytes(200)).into_owned();
                match s.close(code, &reason, now) {
                    Ok(()) => {
                        assert!(was_open && code.is_sendable());
                        assert!(matches!(s.close_state(), CloseState::CloseSent { .. }));
                    }
                    Err(SendError::InvalidCloseCode) => assert!(!code.is_sendable()),
                    Err(SendError::Closing) => assert!(!was_open),
                }
            }
            8 => {
                now += Duration::from_millis(u64::from(input.u8()) * 40);
                if let Some(ev) = s.on_timeout(now) {
                    check_timer(&s, &ev);
                }
            }
            _ => {
                let n = usize::from(input.u16()) % (s.queued() + 1);
                written.extend_from_slice(&s.pending_output()[..n]);
                s.consume_output(n);
            }
        }
    }
    // Everything written, then what is still queued: valid frames only.
    written.extend_from_slice(s.pending_output());
    let (frames, used) = decode_frames(&written, role == Role::Client);
    assert_eq!(used, written.len(), "a partial frame was queued");
    let closes: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].opcode == 8)
        .collect();
    assert!(closes.len() <= 1, "{} close frames written", closes.len());
    if let Some(&i) = closes.first() {
        assert_eq!(i + 1, frames.len(), "frames written after the close frame");
        let code = check_close_payload(&frames[i].payload);
        assert_eq!(
            code,
            s.sent_close()
                .map(|c| c.0.code())
                .filter(|_| code.is_some())
        );
    }
});
