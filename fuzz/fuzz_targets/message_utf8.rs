//! Message assembly with UTF-8 validation: a server `Session` fed a
//! well-formed sequence of masked data frames (fragmented messages with pings
//! between fragments) whose payloads are arbitrary bytes, in arbitrary reads.
//!
//! Asserts, against `std::str::from_utf8` of each whole message: a valid text
//! message is delivered exactly, an invalid one fails the session with 1007
//! (and the close frame queued carries 1007) and nothing after it is
//! delivered; every text frame delivered is valid UTF-8 on its own and the
//! frames of a message add up to the message; binary messages are delivered
//! as sent; every ping is answered.
#![no_main]

use fuzzkit::{Event, Input, decode_frames, encode_frame, pump};
use libfuzzer_sys::fuzz_target;
use qwebsocket::CloseCode;
use qwebsocket::protocol::session::{CloseState, MessageKind};
use qwebsocket::protocol::{Role, Session, SessionConfig};
use std::time::Instant;

struct Message {
    text: bool,
    bytes: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut wire = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut pings = Vec::new();
    let count = input.u8() % 8;
    for _ in 0..count {
        let text = !input.u8().is_multiple_of(4);
        let fragments = 1 + input.u8() % 4;
        let mut bytes = Vec::new();
        for f in 0..fragments {
            let payload = input.bytes(200);
            let key = [input.u8(), input.u8(), input.u8(), input.u8()];
            let opcode = match (f, text) {
                (0, true) => 1,
                (0, false) => 2,
                _ => 0,
            };
            wire.extend(encode_frame(
                f + 1 == fragments,
                0,
                opcode,
                Some(key),
                payload,
            ));
            bytes.extend_from_slice(payload);
            if input.u8().is_multiple_of(5) {
                let p = input.bytes(8).to_vec();
                wire.extend(encode_frame(true, 0, 9, Some(key), &p));
                pings.push((messages.len(), p));
            }
        }
        messages.push(Message { text, bytes });
    }

    let now = Instant::now();
    let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = (usize::from(input.u8()) + 1).min(wire.len() - pos);
        events.extend(pump(&mut s, &mut buf, &wire[pos..pos + n], now));
        pos += n;
    }

    // Walk the events against the messages.
    let mut expected = messages.iter();
    let mut current = expected.next();
    let mut frames_text: Vec<u8> = Vec::new();
    let mut pings_seen = Vec::new();
    let mut failed = false;
    for ev in events {
        assert!(!failed, "event after a failure");
        match ev {
            Event::Frame {
                kind,
                frame,
                is_last,
                message,
            } => {
                let m = current.expect("a message beyond those sent");
                assert_eq!(kind == MessageKind::Text, m.text);
                if m.text {
                    assert!(std::str::from_utf8(&frame).is_ok(), "frame text not UTF-8");
                }
                frames_text.extend_from_slice(&frame);
                if is_last {
                    let whole = message.expect("last frame carries the message");
                    assert_eq!(whole, m.bytes);
                    assert_eq!(frames_text, m.bytes, "frames do not add up to the message");
                    if m.text {
                        assert!(
                            std::str::from_utf8(&whole).is_ok(),
                            "invalid text delivered"
                        );
                    }
                    frames_text.clear();
                    current = expected.next();
                } else {
                    assert!(message.is_none());
                }
            }
            Event::Ping(p) => pings_seen.push(p),
            Event::Failed(e) => {
                let m = current.expect("failure after the last message");
                assert!(m.text, "binary message failed: {e}");
                assert!(
                    std::str::from_utf8(&m.bytes).is_err(),
                    "valid text refused: {e}"
                );
                assert_eq!(e.code, CloseCode::WrongDatatype);
                assert_eq!(s.close_state(), CloseState::Failed);
                assert_eq!(s.sent_close().map(|c| c.0), Some(CloseCode::WrongDatatype));
                failed = true;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    if !failed {
        assert!(current.is_none(), "a message was not delivered");
        for m in &messages {
            if m.text {
                assert!(
                    std::str::from_utf8(&m.bytes).is_ok(),
                    "invalid text accepted"
                );
            }
        }
        let sent: Vec<Vec<u8>> = pings.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(pings_seen, sent);
    }
    // Everything the server wrote is a valid unmasked frame: pongs, then
    // the 1007 close if it failed.
    let (frames, used) = decode_frames(s.pending_output(), false);
    assert_eq!(used, s.pending_output().len());
    let pongs: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.opcode == 10)
        .map(|f| &f.payload)
        .collect();
    assert_eq!(pongs.len(), pings_seen.len());
    if failed {
        let last = frames.last().expect("a close frame");
        assert_eq!(last.opcode, 8);
        assert_eq!(fuzzkit::check_close_payload(&last.payload), Some(1007));
    }
});
