//! A real `WebSocket` client on the fake reactor (`qwebsocket::testing`): the
//! socket layer, the state machine, the timers and the signals, with a scripted
//! server that answers the upgrade (correctly, with fuzzed extra headers, or
//! with arbitrary bytes) and then sends arbitrary bytes or frames in arbitrary
//! pieces, while the script also sends, pings, closes, half-closes, resets and
//! moves the clock.
//!
//! Asserts (besides no panic): every error signal has an `error_string()`,
//! `disconnected` fires at most once and in the Unconnected state, no message
//! beyond the limits reaches a slot, everything the client writes after its
//! request is valid masked frames with at most one close frame, last; and
//! after `close()` and 60 s of fake time the socket is Unconnected.
#![no_main]

use fuzzkit::{Input, check_written, encode_frame, watch};
use libfuzzer_sys::fuzz_target;
use qwebsocket::protocol::handshake::accept_key;
use qwebsocket::testing::FakeReactor;
use qwebsocket::{CloseCode, SocketState, WebSocket};
use std::time::Duration;

const OPCODES: [u8; 8] = [0, 1, 2, 8, 9, 10, 3, 11];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_max_allowed_incoming_frame_size(512);
    ws.set_max_allowed_incoming_message_size(1024);
    ws.set_requested_subprotocols(&["chat"]);
    let seen = watch(&ws, 1024);
    ws.open("ws://127.0.0.1:8080/chat").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().expect("a connection attempt");
    peer.accept();
    reactor.run_until_idle();
    match input.u8() % 4 {
        0 | 1 => {
            peer.accept_handshake().expect("a valid request");
        }
        2 => {
            let req = peer
                .read_handshake_request()
                .ok()
                .flatten()
                .expect("a request");
            let mut head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
                accept_key(req.key.as_bytes())
            )
            .into_bytes();
            head.extend_from_slice(input.bytes(200));
            head.extend_from_slice(b"\r\n\r\n");
            peer.write(&head);
        }
        _ => {
            let _ = peer.read_handshake_request();
            peer.write(input.bytes(300));
        }
    }
    reactor.run_until_idle();
    let mut written = peer.take_bytes();
    let mut gone = false;
    let mut steps = 0;
    while !input.is_empty() && steps < 100 {
        steps += 1;
        match input.u8() % 12 {
            0 => peer.write(input.bytes(64)),
            1 | 2 => {
                let b = input.u8();
                let payload = input.bytes(700);
                let mask = (b & 0x08 != 0 && b & 0x04 != 0).then_some([1, 2, 3, 4]);
                let rsv = if b & 0xe0 == 0xe0 { 2 } else { 0 };
                let frame = encode_frame(
                    b & 0x10 == 0,
                    rsv,
                    OPCODES[usize::from(b % 8)],
                    mask,
                    payload,
                );
                // Delivered in two writes so that reads split it anywhere.
                let cut = usize::from(input.u8()).min(frame.len());
                peer.write(&frame[..cut]);
                reactor.run_until_idle();
                peer.write(&frame[cut..]);
            }
            3 | 4 => {
                reactor.run_until_idle();
            }
            5 => reactor.advance(Duration::from_millis(u64::from(input.u8()) * 30)),
            6 => {
                let bytes = input.bytes(300);
                if input.bool() {
                    ws.send_text_message(&String::from_utf8_lossy(bytes));
                } else {
                    ws.send_binary_message(bytes);
                }
            }
            7 => {
                ws.ping(input.bytes(130));
            }
            8 => {
                let code =
                    CloseCode::from([1000, 1001, 1005, 3000, 1011][usize::from(input.u8() % 5)]);
                let _ = ws.close(code, &String::from_utf8_lossy(input.bytes(130)));
            }
            9 if !gone => {
                gone = true;
                if input.bool() {
                    peer.shutdown()
                } else {
                    peer.reset()
                }
            }
            10 => ws.abort(),
            _ => written.extend(peer.take_bytes()),
        }
    }
    let _ = ws.close(CloseCode::Normal, "done");
    for _ in 0..60 {
        reactor.advance(Duration::from_secs(1));
        written.extend(peer.take_bytes());
    }
    assert_eq!(
        ws.state(),
        SocketState::Unconnected,
        "still {:?} after close and 60 s",
        ws.state()
    );
    let seen = seen.borrow();
    assert!(seen.disconnected <= 1);
    if seen.connected > 0 {
        assert_eq!(seen.disconnected, 1, "connected but never disconnected");
        check_written(&written, true);
    }
});
