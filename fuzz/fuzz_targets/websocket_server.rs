//! A real `WebSocketServer` on the fake reactor: a scripted client sends an
//! upgrade request (valid, valid with fuzzed extra header lines, or arbitrary
//! bytes), then arbitrary bytes or frames in arbitrary pieces, while the
//! script makes the accepted socket send, ping and close, half-closes or
//! resets the client, and moves the clock.
//!
//! Asserts (besides no panic): a connection is announced only after a valid
//! upgrade; every error signal has an `error_string()`; `disconnected` at most
//! once; no message beyond the limits; the server writes an HTTP head and then
//! only valid unmasked frames with at most one close frame, last; after
//! `close()` and 60 s of fake time the accepted socket is Unconnected and the
//! server holds no pending connection.
#![no_main]

use fuzzkit::{Input, Seen, check_written, encode_frame, watch};
use libfuzzer_sys::fuzz_target;
use qwebsocket::testing::FakeReactor;
use qwebsocket::{CloseCode, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

const OPCODES: [u8; 8] = [0, 1, 2, 8, 9, 10, 3, 11];
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n";

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.set_max_allowed_incoming_frame_size(512);
    server.set_max_allowed_incoming_message_size(1024);
    server.set_supported_subprotocols(&["chat"]);
    server
        .listen(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        .expect("listen");
    let addr = SocketAddr::new(server.server_address().unwrap(), server.server_port());
    let accepted: Rc<RefCell<Vec<(WebSocket, Rc<RefCell<Seen>>)>>> = Rc::default();
    let a = accepted.clone();
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            assert_eq!(ws.state(), SocketState::Connected);
            let seen = watch(&ws, 1024);
            a.borrow_mut().push((ws, seen));
        }
    });

    let peer = reactor.connect(addr).expect("connect");
    let valid = match input.u8() % 4 {
        0 | 1 => {
            let mut req = REQUEST.to_vec();
            req.extend_from_slice(b"\r\n");
            peer.write(&req);
            true
        }
        2 => {
            let mut req = REQUEST.to_vec();
            req.extend_from_slice(input.bytes(200));
            req.extend_from_slice(b"\r\n\r\n");
            peer.write(&req);
            false
        }
        _ => {
            peer.write(input.bytes(400));
            false
        }
    };
    reactor.run_until_idle();
    if valid {
        assert_eq!(
            accepted.borrow().len(),
            1,
            "a valid upgrade was not accepted"
        );
    }
    assert!(accepted.borrow().len() <= 1);
    let ws = || accepted.borrow().first().map(|(ws, _)| ws.clone());
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
                let unmasked = b & 0x08 != 0 && b & 0x04 != 0;
                let mask = (!unmasked).then_some([0x37, 0xfa, 0x21, b | 1]);
                let rsv = if b & 0xe0 == 0xe0 { 4 } else { 0 };
                let frame = encode_frame(
                    b & 0x10 == 0,
                    rsv,
                    OPCODES[usize::from(b % 8)],
                    mask,
                    payload,
                );
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
                let text = input.bool();
                if let Some(ws) = ws() {
                    if text {
                        ws.send_text_message(&String::from_utf8_lossy(bytes));
                    } else {
                        ws.send_binary_message(bytes);
                    }
                }
            }
            7 => {
                let p = input.bytes(130);
                if let Some(ws) = ws() {
                    ws.ping(p);
                }
            }
            8 => {
                let code =
                    CloseCode::from([1000, 1001, 1005, 3000, 1011][usize::from(input.u8() % 5)]);
                let reason = String::from_utf8_lossy(input.bytes(130)).into_owned();
                if let Some(ws) = ws() {
                    let _ = ws.close(code, &reason);
                }
            }
            9 if !gone => {
                gone = true;
                if input.bool() {
                    peer.shutdown()
                } else {
                    peer.reset()
                }
            }
            10 => {
                if let Some(ws) = ws() {
                    ws.abort();
                }
            }
            _ => written.extend(peer.take_bytes()),
        }
    }
    if let Some(ws) = ws() {
        let _ = ws.close(CloseCode::Normal, "done");
    }
    for _ in 0..60 {
        reactor.advance(Duration::from_secs(1));
        written.extend(peer.take_bytes());
    }
    assert!(!server.has_pending_connections());
    if let Some((ws, seen)) = accepted.borrow().first() {
        assert_eq!(
            ws.state(),
            SocketState::Unconnected,
            "still {:?} after close and 60 s",
            ws.state()
        );
        assert_eq!(
            seen.borrow().disconnected,
            1,
            "connected but never disconnected"
        );
        let end = written
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("the 101 response");
        assert!(written.starts_with(b"HTTP/1.1 101 "));
        check_written(&written[end + 4..], false);
    } else if !written.is_empty() {
        // A refusal: one HTTP error head, nothing else of WebSocket.
        assert!(
            written.starts_with(b"HTTP/1.1 4"),
            "{:?}",
            String::from_utf8_lossy(&written)
        );
    }
});
