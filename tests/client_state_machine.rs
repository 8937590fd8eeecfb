//! The client state machine on the fake reactor: connect, every handshake
//! failure, close from either side, close timeout, abort, protocol errors,
//! ping/pong timing and re-entrant slots. No real socket, no sleeping: time
//! moves only with `reactor.advance(d)`.

mod common;

use common::*;
use qwebsocket::protocol::OpCode;
use qwebsocket::{CloseCode, SocketError, SocketState, WebSocket};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ===== opening ================================================================

#[test]
fn open_emits_connecting_synchronously_then_connects_after_101() {
    let (reactor, ws, log) = client_socket();
    assert_eq!(ws.state(), SocketState::Unconnected);
    ws.open(URL).unwrap();
    assert_eq!(
        take(&log),
        ["state:Connecting"],
        "Connecting is emitted inside open()"
    );
    assert_eq!(ws.state(), SocketState::Connecting);

    let peer = pending_tcp(&reactor);
    assert!(
        take(&log).is_empty(),
        "nothing happens before the TCP connect completes"
    );
    let request = accept_tcp(&reactor, &peer);
    assert_eq!(
        ws.state(),
        SocketState::Connecting,
        "still Connecting until the 101"
    );
    assert!(take(&log).is_empty());

    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer.write(switching_protocols(&key, &[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(take(&log), ["state:Connected", "connected"]);
    assert_eq!(ws.state(), SocketState::Connected);
    assert!(ws.is_valid());
    assert_eq!(ws.error(), SocketError::Unknown);
    assert_eq!(ws.error_string(), "");
    assert_eq!(ws.close_code(), CloseCode::Normal);
    assert_eq!(ws.subprotocol(), "");
    assert_eq!(ws.peer_name(), HOST);
    assert_eq!(ws.peer_port(), 8080);
    assert_eq!(ws.resource_name(), "/chat?room=1");
    assert!(
        peer.frames().is_empty(),
        "a client sends no frame on its own"
    );
}

#[test]
fn upgrade_request_is_well_formed_in_qt_order() {
    let (reactor, ws, _log) = client_socket();
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let lines: Vec<&str> = request.trim_end_matches("\r\n\r\n").split("\r\n").collect();
    let key = header(&request, "Sec-WebSocket-Key").unwrap();
    assert_eq!(
        lines,
        [
            "GET /chat?room=1 HTTP/1.1",
            "Host: server.test:8080",
            "Upgrade: websocket",
            "Connection: Upgrade",
            &format!("Sec-WebSocket-Key: {key}"),
            "Sec-WebSocket-Version: 13",
        ]
    );
    // 16 random bytes in base64.
    assert_eq!(key.len(), 24, "key {key:?}");
    assert!(key.ends_with("=="), "key {key:?}");
}

#[test]
fn upgrade_request_host_carries_default_port_and_options() {
    let reactor = qwebsocket::testing::FakeReactor::new();
    reactor.add_host(HOST, "10.0.0.7".parse().unwrap());
    let ws = WebSocket::with_origin(reactor.event_loop(), "http://origin.test");
    ws.set_requested_subprotocols(&["chat.v2", "chat"]);
    ws.add_request_header("X-Test", "1");
    ws.open("ws://server.test").unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let lines: Vec<&str> = request.trim_end_matches("\r\n\r\n").split("\r\n").collect();
    let key = header(&request, "Sec-WebSocket-Key").unwrap();
    assert_eq!(
        lines,
        [
            "GET / HTTP/1.1",
            "Host: server.test:80",
            "Upgrade: websocket",
            "Connection: Upgrade",
            &format!("Sec-WebSocket-Key: {key}"),
            "Origin: http://origin.test",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: chat.v2, chat",
            "X-Test: 1",
        ]
    );
}

#[test]
fn each_open_uses_a_fresh_key() {
    let (reactor, ws, _log) = client_socket();
    ws.open(URL).unwrap();
    let peer1 = pending_tcp(&reactor);
    let first = accept_tcp(&reactor, &peer1);
    ws.open(URL).unwrap();
    let peer2 = pending_tcp(&reactor);
    let second = accept_tcp(&reactor, &peer2);
    assert_ne!(
        header(&first, "Sec-WebSocket-Key"),
        header(&second, "Sec-WebSocket-Key")
    );
}

#[test]
fn unknown_host_gives_unconnected_disconnected_then_host_not_found() {
    let reactor = qwebsocket::testing::FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let log = record(&ws);
    ws.open("ws://nowhere.test/").unwrap();
    assert_eq!(take(&log), ["state:Connecting"]);
    reactor.run_until_idle();
    assert_eq!(
        take(&log),
        ["state:Unconnected", "disconnected", "error:HostNotFound"]
    );
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::HostNotFound);
    assert_eq!(ws.error_string(), "Host not found");
    assert!(
        reactor.next_connection().is_none(),
        "no TCP connect was tried"
    );
    assert_eq!(reactor.event_loop().live_connections(), 0);
}

#[test]
fn refused_tcp_connect_gives_unconnected_disconnected_then_connection_refused() {
    let (reactor, ws, log) = client_socket();
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    peer.refuse();
    reactor.run_until_idle();
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "state:Unconnected",
            "disconnected",
            "error:ConnectionRefused"
        ]
    );
    assert_eq!(ws.error(), SocketError::ConnectionRefused);
    assert_eq!(ws.error_string(), "Connection refused");
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
}

#[test]
fn ip_literal_needs_no_host_entry() {
    let reactor = qwebsocket::testing::FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.open("ws://127.0.0.1:9000/").unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    assert_eq!(header(&request, "Host"), Some("127.0.0.1:9000"));
}

fn assert_refused_synchronously(url: &str, kind: SocketError, message: &str) {
    let (reactor, ws, log) = client_socket();
    assert_eq!(ws.open(url), Err(kind), "open({url:?})");
    assert_eq!(
        take(&log),
        [format!("error:{kind:?}")],
        "only error_occurred, synchronously, for {url:?}"
    );
    assert_eq!(
        ws.error_string(),
        message,
        "error_string() after open({url:?})"
    );
    assert_eq!(ws.state(), SocketState::Unconnected);
    reactor.run_until_idle();
    assert!(
        take(&log).is_empty(),
        "nothing follows on the loop for {url:?}"
    );
    assert!(
        reactor.next_connection().is_none(),
        "no connect for {url:?}"
    );
}

// Regression (fixed): before the fix, open() refused synchronously emits error_occurred(kind) and sets
// error_string(), but error() stays Unknown (src/websocket.rs, refuse_open:
// only `st.error_string` is set, `st.error` is not).
#[test]
fn synchronous_open_failure_sets_error_to_the_emitted_kind() {
    for (url, kind) in [
        ("not a url", SocketError::ConnectionRefused),
        (
            "http://server.test/",
            SocketError::UnsupportedSocketOperation,
        ),
    ] {
        let (_reactor, ws, log) = client_socket();
        assert_eq!(ws.open(url), Err(kind));
        assert_eq!(take(&log), [format!("error:{kind:?}")]);
        assert_eq!(
            ws.error(),
            kind,
            "error() must report the kind error_occurred just emitted for open({url:?})"
        );
    }
}

#[test]
fn invalid_url_is_refused_synchronously_without_state_change() {
    assert_refused_synchronously("not a url", SocketError::ConnectionRefused, "Invalid URL.");
    assert_refused_synchronously("ws://", SocketError::ConnectionRefused, "Invalid URL.");
}

#[test]
fn unsupported_scheme_is_refused_synchronously() {
    assert_refused_synchronously(
        "http://server.test/",
        SocketError::UnsupportedSocketOperation,
        "Unsupported WebSocket scheme: http",
    );
}

#[test]
fn wss_starts_with_a_tls_client_hello_and_never_sends_http_in_clear() {
    let (reactor, ws, log) = client_socket();
    reactor.add_host("server.test", "127.0.0.1".parse().unwrap());
    ws.open("wss://server.test/").unwrap();
    assert_eq!(take(&log), ["state:Connecting"]);
    reactor.run_until_idle();
    let peer = reactor.next_connection().expect("a TCP connect");
    peer.accept();
    reactor.run_until_idle();
    let bytes = peer.take_bytes();
    assert_eq!(bytes.first(), Some(&0x16), "a TLS handshake record first");
    assert!(
        !bytes.windows(4).any(|w| w == b"GET "),
        "no upgrade request in clear"
    );
    assert_eq!(ws.state(), SocketState::Connecting);
}

#[test]
fn crlf_in_url_is_refused_synchronously() {
    assert_refused_synchronously(
        "ws://server.test/a\r\nX-Evil: 1",
        SocketError::ConnectionRefused,
        "Invalid URL.",
    );
}

#[test]
fn crlf_in_extra_request_header_is_refused_synchronously() {
    let (reactor, ws, log) = client_socket();
    ws.add_request_header("X-Test", "a\r\nX-Evil: 1");
    assert_eq!(ws.open(URL), Err(SocketError::ConnectionRefused));
    assert_eq!(take(&log), ["error:ConnectionRefused"]);
    assert!(
        ws.error_string().contains("newline"),
        "readable error: {:?}",
        ws.error_string()
    );
    assert_eq!(ws.state(), SocketState::Unconnected);
    reactor.run_until_idle();
    assert!(take(&log).is_empty());
    assert!(reactor.next_connection().is_none());
}

#[test]
fn crlf_in_origin_is_refused_synchronously() {
    let reactor = qwebsocket::testing::FakeReactor::new();
    reactor.add_host(HOST, "10.0.0.7".parse().unwrap());
    let ws = WebSocket::with_origin(reactor.event_loop(), "http://o\r\nX-Evil: 1");
    let log = record(&ws);
    assert_eq!(ws.open(URL), Err(SocketError::ConnectionRefused));
    assert_eq!(take(&log), ["error:ConnectionRefused"]);
    assert!(
        ws.error_string().contains("newline"),
        "readable error: {:?}",
        ws.error_string()
    );
    assert_eq!(ws.state(), SocketState::Unconnected);
    reactor.run_until_idle();
    assert!(reactor.next_connection().is_none());
}

// ----- handshake failures ------------------------------------------------------

/// Opens, answers the request with `response(key)` and checks Qt's HEAD
/// sequence for a failed handshake; returns the socket's error string.
fn handshake_failure(
    configure: impl FnOnce(&WebSocket),
    response: impl FnOnce(&str) -> String,
) -> String {
    let Client {
        reactor,
        ws,
        log: _log,
        peer,
    } = fail_handshake(configure, response);
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::ConnectionRefused);
    assert!(
        peer.frames().is_empty(),
        "no frame after a failed handshake"
    );
    reactor.run_until_idle();
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
    ws.error_string()
}

#[test]
fn handshake_status_403_fails_with_connection_refused() {
    let msg = handshake_failure(|_| {}, |_| "HTTP/1.1 403 Forbidden\r\n\r\n".into());
    assert_eq!(msg, "Unhandled http status code: 403 (Forbidden).");
}

#[test]
fn handshake_400_with_other_version_reports_unsupported_version() {
    let msg = handshake_failure(
        |_| {},
        |_| "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 8\r\n\r\n".into(),
    );
    assert_eq!(
        msg,
        "Handshake: Server requests a version that we don't support: 8."
    );
}

#[test]
fn handshake_wrong_accept_key_fails() {
    let msg = handshake_failure(
        |_| {},
        |_| switching_protocols("AAAAAAAAAAAAAAAAAAAAAA==", &[]),
    );
    assert!(
        msg.starts_with("Accept-Key received from server ") && msg.contains("does not match"),
        "{msg}"
    );
}

#[test]
fn handshake_missing_accept_key_fails() {
    let msg = handshake_failure(
        |_| {},
        |_| {
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .into()
        },
    );
    assert!(
        msg.starts_with("Invalid parameter encountered during protocol upgrade"),
        "{msg}"
    );
}

#[test]
fn handshake_missing_upgrade_header_fails() {
    let msg = handshake_failure(
        |_| {},
        |key| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                accept_for(key)
            )
        },
    );
    assert!(
        msg.starts_with("Invalid parameter encountered during protocol upgrade"),
        "{msg}"
    );
}

#[test]
fn handshake_unrequested_subprotocol_fails_and_closes_tcp() {
    let msg = handshake_failure(
        |ws| ws.set_requested_subprotocols(&["chat"]),
        |key| switching_protocols(key, &["Sec-WebSocket-Protocol: superchat"]),
    );
    assert_eq!(
        msg,
        "WebSocket server has chosen protocol superchat which has not been requested"
    );
}

#[test]
fn handshake_subprotocol_without_any_requested_fails() {
    let msg = handshake_failure(
        |_| {},
        |key| switching_protocols(key, &["Sec-WebSocket-Protocol: chat"]),
    );
    assert!(
        msg.contains("chat") && msg.contains("not been requested"),
        "{msg}"
    );
}

#[test]
fn handshake_unrequested_extension_fails() {
    let msg = handshake_failure(
        |_| {},
        |key| switching_protocols(key, &["Sec-WebSocket-Extensions: permessage-deflate"]),
    );
    assert_eq!(
        msg,
        "WebSocket server has chosen extension permessage-deflate which has not been requested"
    );
}

#[test]
fn handshake_http_1_0_fails() {
    let msg = handshake_failure(
        |_| {},
        |key| switching_protocols(key, &[]).replacen("HTTP/1.1", "HTTP/1.0", 1),
    );
    assert!(
        msg.starts_with("Invalid parameter encountered during protocol upgrade")
            && msg.contains("version: 1.0"),
        "{msg}"
    );
}

#[test]
fn handshake_garbage_status_line_fails() {
    let msg = handshake_failure(|_| {}, |_| "SSH-2.0-OpenSSH\r\n\r\n".into());
    assert_eq!(msg, "Read handshake request status failed");
}

#[test]
fn handshake_accepts_connection_token_list_and_requested_subprotocol() {
    let (reactor, ws, log) = client_socket();
    ws.set_requested_subprotocols(&["chat", "superchat"]);
    open_and_answer(&reactor, &ws, |key| {
        format!(
            "HTTP/1.1 101 Whatever\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
             sec-websocket-accept: {}\r\nSec-WebSocket-Protocol: superchat\r\n\r\n",
            accept_for(key)
        )
    });
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
    assert_eq!(ws.subprotocol(), "superchat");
}

#[test]
fn handshake_response_split_across_writes_connects_once_complete() {
    let (reactor, ws, log) = client_socket();
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    let response = switching_protocols(&key, &[]);
    take(&log);
    for b in response.as_bytes() {
        assert_eq!(ws.state(), SocketState::Connecting);
        peer.write(&[*b]);
        reactor.run_until_idle();
    }
    assert_eq!(take(&log), ["state:Connected", "connected"]);
}

#[test]
fn handshake_timeout_when_server_never_answers_gives_socket_timeout() {
    let (reactor, ws, log) = client_socket();
    assert_eq!(ws.handshake_timeout(), Some(secs(10)));
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    accept_tcp(&reactor, &peer);
    take(&log);
    reactor.advance(secs(10) - MS);
    assert!(take(&log).is_empty(), "not before 10 s");
    assert_eq!(ws.state(), SocketState::Connecting);
    reactor.advance(MS);
    assert_eq!(
        take(&log),
        [
            "state:Unconnected",
            "disconnected",
            "read_channel_finished",
            "error:SocketTimeout"
        ]
    );
    assert_eq!(ws.error(), SocketError::SocketTimeout);
    assert!(!ws.error_string().is_empty());
    assert!(peer.is_closed_by_library());
    reactor.run_until_idle();
    assert_eq!(reactor.event_loop().live_connections(), 0);
}

#[test]
fn handshake_timeout_also_covers_a_tcp_connect_that_never_completes() {
    let (reactor, ws, log) = client_socket();
    ws.set_handshake_timeout(Some(secs(2)));
    ws.open(URL).unwrap();
    let _peer = pending_tcp(&reactor);
    take(&log);
    reactor.advance(secs(2));
    assert_eq!(
        take(&log),
        [
            "state:Unconnected",
            "disconnected",
            "read_channel_finished",
            "error:SocketTimeout"
        ]
    );
    assert_eq!(ws.state(), SocketState::Unconnected);
}

#[test]
fn handshake_timeout_none_waits_forever() {
    let (reactor, ws, log) = client_socket();
    ws.set_handshake_timeout(None);
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    accept_tcp(&reactor, &peer);
    take(&log);
    reactor.advance(secs(3600));
    assert!(take(&log).is_empty());
    assert_eq!(ws.state(), SocketState::Connecting);
}

#[test]
fn close_while_handshaking_drops_the_connection_without_a_close_frame() {
    let (reactor, ws, log) = client_socket();
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    accept_tcp(&reactor, &peer);
    take(&log);
    ws.close(CloseCode::Normal, "never mind").unwrap();
    assert_eq!(
        take(&log),
        [
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    reactor.run_until_idle();
    assert!(
        peer.take_bytes().is_empty(),
        "nothing written after the request"
    );
    assert!(peer.is_closed_by_library());
    assert_eq!(ws.state(), SocketState::Unconnected);
}

#[test]
fn frames_in_the_same_write_as_the_101_are_delivered() {
    let (reactor, ws, log) = client_socket();
    let peer = open_and_answer(&reactor, &ws, |key| {
        let mut bytes = switching_protocols(key, &[]).into_bytes();
        bytes.extend(raw_frame(true, 0, OpCode::Text, None, b"early"));
        bytes.extend(raw_frame(true, 0, OpCode::Ping, None, b"p"));
        bytes
    });
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "state:Connected",
            "connected",
            "text_frame:early:true",
            "text:early"
        ]
    );
    assert_eq!(frames(&peer), ["Pong:p(masked)"]);
}

// ===== data ====================================================================

#[test]
fn send_before_connected_returns_zero_and_writes_nothing() {
    let (reactor, ws, _log) = client_socket();
    assert_eq!(ws.send_text_message("x"), 0);
    ws.open(URL).unwrap();
    assert_eq!(ws.send_text_message("x"), 0);
    assert_eq!(ws.send_binary_message(b"x"), 0);
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    assert!(request.starts_with("GET "));
    assert_eq!(ws.send_text_message("x"), 0, "still handshaking");
    reactor.run_until_idle();
    assert!(peer.take_bytes().is_empty());
}

#[test]
fn text_and_binary_messages_are_delivered_in_order() {
    let c = connected_client();
    c.peer.send_text("hello");
    c.peer.send_binary(&[1, 2, 3]);
    c.peer.send_text("");
    c.peer.send_binary(&[]);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:hello:true",
            "text:hello",
            "binary_frame:010203:true",
            "binary:010203",
            "text_frame::true",
            "text:",
            "binary_frame::true",
            "binary:",
        ]
    );
}

#[test]
fn large_message_arriving_in_pieces_is_delivered_once_whole() {
    let c = connected_client();
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let bytes = raw_frame(true, 0, OpCode::Binary, None, &payload);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    c.ws.binary_message_received()
        .connect(move |_, b| g.borrow_mut().push(b.to_vec()));
    for chunk in bytes.chunks(9_999) {
        c.peer.write(chunk);
        c.reactor.run_until_idle();
    }
    assert_eq!(got.borrow().len(), 1);
    assert_eq!(got.borrow()[0], payload);
}

#[test]
fn fragmented_text_emits_each_frame_then_the_message() {
    let c = connected_client();
    c.peer.send_frame(false, OpCode::Text, b"hel");
    c.peer.send_frame(false, OpCode::Continuation, b"");
    c.peer.send_frame(true, OpCode::Continuation, b"lo");
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:hel:false",
            "text_frame::false",
            "text_frame:lo:true",
            "text:hello"
        ]
    );
}

#[test]
fn fragmented_binary_emits_each_frame_then_the_message() {
    let c = connected_client();
    c.peer.send_frame(false, OpCode::Binary, &[1]);
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["binary_frame:01:false"]);
    c.peer.send_frame(true, OpCode::Continuation, &[2, 3]);
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["binary_frame:0203:true", "binary:010203"]);
}

#[test]
fn utf8_code_point_split_across_frames_is_delivered_whole() {
    let c = connected_client();
    // "café!" = 63 61 66 c3 a9 21, split inside "é".
    c.peer.send_frame(false, OpCode::Text, b"caf\xc3");
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["text_frame:caf:false"]);
    c.peer.send_frame(true, OpCode::Continuation, b"\xa9!");
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["text_frame:é!:true", "text:café!"]);
    assert_eq!(c.ws.state(), SocketState::Connected);
    assert!(c.peer.frames().is_empty(), "no close frame");
}

#[test]
fn four_byte_code_point_split_over_three_frames_is_delivered_whole() {
    let c = connected_client();
    // U+1F600 = f0 9f 98 80
    c.peer.send_frame(false, OpCode::Text, b"a\xf0");
    c.peer.send_frame(false, OpCode::Continuation, b"\x9f\x98");
    c.peer.send_frame(true, OpCode::Continuation, b"\x80b");
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:a:false",
            "text_frame::false",
            "text_frame:\u{1f600}b:true",
            "text:a\u{1f600}b"
        ]
    );
}

#[test]
fn control_frames_interleaved_in_a_fragmented_message_are_handled_at_once() {
    let c = connected_client();
    c.ws.ping(b"mine");
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Ping:mine(masked)"]);
    c.peer.send_frame(false, OpCode::Text, b"one ");
    c.peer.send_ping(b"p1");
    c.peer.send_frame(false, OpCode::Continuation, b"two ");
    c.peer.send_pong(b"mine");
    c.peer.send_frame(true, OpCode::Continuation, b"three");
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:one :false",
            "text_frame:two :false",
            "pong:0ms:mine",
            "text_frame:three:true",
            "text:one two three"
        ]
    );
    assert_eq!(frames(&c.peer), ["Pong:p1(masked)"]);
}

#[test]
fn ping_from_peer_is_answered_with_a_masked_pong_with_the_same_payload() {
    let c = connected_client();
    c.peer.send_ping(b"abc");
    c.peer.send_ping(b"");
    c.reactor.run_until_idle();
    let got = c.peer.frames();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].opcode, OpCode::Pong);
    assert!(got[0].masked, "a client masks its pong");
    assert_eq!(got[0].payload, b"abc");
    assert_eq!(describe(&got[1]), "Pong:(masked)");
    assert!(take(&c.log).is_empty(), "a ping emits no signal");
}

#[test]
fn ping_pong_elapsed_is_measured_on_the_fake_clock() {
    let c = connected_client();
    assert!(c.ws.ping(b"abc"));
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Ping:abc(masked)"]);
    c.reactor.advance(Duration::from_millis(250));
    c.peer.send_pong(b"abc");
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["pong:250ms:abc"]);

    // A second round measures from the second ping.
    c.reactor.advance(secs(1));
    assert!(c.ws.ping(b"x"));
    c.reactor.advance(Duration::from_millis(12));
    c.peer.send_pong(b"x");
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["pong:12ms:x"]);
}

#[test]
fn ping_payload_is_cut_to_125_bytes() {
    let c = connected_client();
    assert!(c.ws.ping(&[b'z'; 200]));
    c.reactor.run_until_idle();
    let got = c.peer.frames();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, vec![b'z'; 125]);
}

#[test]
fn ping_before_connect_returns_false_and_writes_nothing() {
    let (reactor, ws, log) = client_socket();
    assert!(!ws.ping(b"x"), "unconnected");
    ws.open(URL).unwrap();
    assert!(!ws.ping(b"x"), "connecting");
    let peer = pending_tcp(&reactor);
    peer.accept();
    assert!(!ws.ping(b"x"), "TCP up, handshake not done");
    reactor.run_until_idle();
    let bytes = peer.take_bytes();
    let text = String::from_utf8(bytes).expect("only the request was written");
    assert!(text.starts_with("GET /chat?room=1 HTTP/1.1\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "nothing after the request: {text:?}"
    );
    let key = header(&text, "Sec-WebSocket-Key").unwrap().to_owned();
    peer.write(switching_protocols(&key, &[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
    assert!(peer.frames().is_empty());
}

#[test]
fn every_client_frame_is_masked() {
    let c = connected_client();
    c.ws.set_outgoing_frame_size(4);
    assert_eq!(c.ws.send_text_message("hello world"), 11);
    assert_eq!(c.ws.send_binary_message(&[9; 5]), 5);
    assert!(c.ws.ping(b"p"));
    c.peer.send_ping(b"q");
    c.reactor.run_until_idle();
    c.ws.close(CloseCode::Normal, "bye").unwrap();
    c.reactor.run_until_idle();
    let got = c.peer.frames();
    assert!(got.iter().all(|f| f.masked), "{got:?}");
    let described: Vec<String> = got.iter().map(describe).collect();
    assert_eq!(
        described,
        [
            "Text:hell(more)(masked)",
            "Continuation:o wo(more)(masked)",
            "Continuation:rld(masked)",
            "Binary:09090909(more)(masked)",
            "Continuation:\t(masked)",
            "Ping:p(masked)",
            "Pong:q(masked)",
            "Close:1000:bye(masked)",
        ]
    );
}

#[test]
fn outgoing_frame_size_zero_is_refused_and_keeps_the_old_value() {
    let c = connected_client();
    c.ws.set_outgoing_frame_size(3);
    c.ws.set_outgoing_frame_size(0);
    assert_eq!(c.ws.outgoing_frame_size(), 3);
    c.ws.send_text_message("abcd");
    c.reactor.run_until_idle();
    assert_eq!(
        frames(&c.peer),
        ["Text:abc(more)(masked)", "Continuation:d(masked)"]
    );
}

// ===== closing =================================================================

#[test]
fn local_close_sends_close_frame_and_ends_after_peer_echo_and_fin() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "bye").unwrap();
    assert_eq!(
        take(&c.log),
        ["about_to_close", "state:Closing"],
        "synchronous"
    );
    assert_eq!(c.ws.state(), SocketState::Closing);
    assert!(!c.ws.is_valid());
    assert_close_code(&c.ws, 1000, "bye");
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1000:bye(masked)"]);
    assert!(
        !c.peer.is_closed_by_library(),
        "the client waits for the echo"
    );
    assert_eq!(
        c.ws.send_text_message("late"),
        0,
        "no data after our close frame"
    );

    c.peer.send_close(Some((1000, "bye")));
    c.reactor.run_until_idle();
    assert!(
        take(&c.log).is_empty(),
        "still waiting for the server to end TCP"
    );
    assert!(c.peer.frames().is_empty(), "the echo is not echoed");

    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    assert!(c.peer.is_released_by_library());
    assert_close_code(&c.ws, 1000, "bye");
    assert_eq!(
        c.ws.error(),
        SocketError::Unknown,
        "a clean close is no error"
    );
}

#[test]
fn local_close_keeps_local_code_and_reason_when_peer_answers_differently() {
    let c = connected_client();
    c.ws.close(CloseCode::Other(4000), "app").unwrap();
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:4000:app(masked)"]);
    c.peer.send_close(Some((1001, "other")));
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "about_to_close",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_close_code(&c.ws, 4000, "app");
}

#[test]
fn messages_and_pings_still_arrive_while_waiting_for_the_close_echo() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1000:(masked)"]);
    take(&c.log);
    c.peer.send_text("in flight");
    c.peer.send_ping(b"p");
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["text_frame:in flight:true", "text:in flight"]
    );
    // RFC 6455 5.5.2: a pong is due "unless it already received a Close frame";
    // after sending our close frame nothing more may be sent (5.5.1).
    assert!(c.peer.frames().is_empty(), "no frame after our close frame");
}

#[test]
fn close_timeout_drops_the_connection_when_peer_never_answers() {
    let c = connected_client();
    c.ws.close(CloseCode::GoingAway, "leaving").unwrap();
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1001:leaving(masked)"]);
    take(&c.log);
    c.reactor.advance(secs(3) - MS);
    assert!(take(&c.log).is_empty(), "not before 3 s");
    assert_eq!(c.ws.state(), SocketState::Closing);
    c.reactor.advance(MS);
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert!(c.peer.is_released_by_library());
    assert_close_code(&c.ws, 1001, "leaving");
}

#[test]
fn close_timeout_is_configurable() {
    let c = connected_client();
    c.ws.set_close_timeout(Duration::from_millis(500));
    c.ws.close(CloseCode::Normal, "").unwrap();
    take(&c.log);
    c.reactor.advance(Duration::from_millis(500));
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
}

#[test]
fn after_the_echo_the_client_waits_for_the_server_fin_at_most_the_close_timeout() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.reactor.advance(secs(1));
    c.peer.send_close(Some((1000, "")));
    c.reactor.run_until_idle();
    take(&c.log);
    assert!(
        !c.peer.is_closed_by_library(),
        "a client lets the server end TCP first"
    );
    c.reactor.advance(secs(3) - MS);
    assert!(take(&c.log).is_empty());
    c.reactor.advance(MS);
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert!(c.peer.is_released_by_library());
}

#[test]
fn close_with_an_unsendable_code_is_refused_and_sends_nothing() {
    let c = connected_client();
    for n in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            c.ws.close(code(n), "x"),
            Err(qwebsocket::CloseError::InvalidCloseCode),
            "close({n})"
        );
    }
    assert_eq!(
        c.ws.close(CloseCode::MissingStatusCode, ""),
        Err(qwebsocket::CloseError::InvalidCloseCode)
    );
    assert_eq!(
        c.ws.close(CloseCode::AbnormalDisconnection, ""),
        Err(qwebsocket::CloseError::InvalidCloseCode)
    );
    c.reactor.run_until_idle();
    assert!(c.peer.frames().is_empty());
    assert!(take(&c.log).is_empty());
    assert_eq!(c.ws.state(), SocketState::Connected);
    assert_close_code(&c.ws, 1000, "");
    // Still usable afterwards.
    assert_eq!(c.ws.send_text_message("ok"), 2);
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Text:ok(masked)"]);
}

#[test]
fn close_reason_longer_than_123_bytes_is_cut_on_a_char_boundary() {
    let c = connected_client();
    let long = "é".repeat(70); // 140 bytes; 61 whole characters fit in 123 bytes
    c.ws.close(CloseCode::Normal, &long).unwrap();
    c.reactor.run_until_idle();
    let got = c.peer.frames();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.len(), 2 + 122);
    let (code, reason) = got[0].close_status().unwrap();
    assert_eq!(code, CloseCode::Normal);
    assert_eq!(reason, "é".repeat(61));
    assert_eq!(c.ws.close_reason(), "é".repeat(61));
}

#[test]
fn second_close_is_a_no_op() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "first").unwrap();
    assert_eq!(c.ws.close(CloseCode::GoingAway, "second"), Ok(()));
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1000:first(masked)"]);
    assert_eq!(take(&c.log), ["about_to_close", "state:Closing"]);
    assert_close_code(&c.ws, 1000, "first");
}

#[test]
fn close_on_an_unconnected_socket_does_nothing() {
    let (reactor, ws, log) = client_socket();
    assert_eq!(ws.close(CloseCode::Normal, ""), Ok(()));
    reactor.run_until_idle();
    assert!(take(&log).is_empty());
    assert_eq!(ws.state(), SocketState::Unconnected);
}

#[test]
fn peer_close_with_code_and_reason_is_echoed_and_reported() {
    let c = connected_client();
    c.peer.send_close(Some((1001, "bye")));
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["about_to_close", "state:Closing"]);
    assert_eq!(frames(&c.peer), ["Close:1001:bye(masked)"]);
    assert_close_code(&c.ws, 1001, "bye");
    assert!(!c.peer.is_closed_by_library(), "the server ends TCP first");
    assert_eq!(c.ws.send_text_message("late"), 0);

    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert_eq!(c.ws.error(), SocketError::Unknown);
    assert!(c.peer.is_released_by_library());
}

#[test]
fn peer_close_without_status_is_echoed_empty_and_reports_1005() {
    let c = connected_client();
    c.peer.send_close(None);
    c.reactor.run_until_idle();
    let got = c.peer.frames();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].opcode, OpCode::Close);
    assert!(
        got[0].payload.is_empty(),
        "echoed empty: {:?}",
        got[0].payload
    );
    assert!(got[0].masked);
    assert_eq!(c.ws.close_code(), CloseCode::MissingStatusCode);
    assert_eq!(c.ws.close_reason(), "");
    assert_eq!(take(&c.log), ["about_to_close", "state:Closing"]);
}

#[test]
fn bytes_after_the_peer_close_frame_are_ignored() {
    let c = connected_client();
    let mut bytes = raw_frame(true, 0, OpCode::Close, None, &close_payload(1000, b""));
    bytes.extend(raw_frame(true, 0, OpCode::Text, None, b"after"));
    bytes.extend(raw_frame(true, 0, OpCode::Ping, None, b"p"));
    c.peer.write(&bytes);
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["about_to_close", "state:Closing"]);
    assert_eq!(frames(&c.peer), ["Close:1000:(masked)"]);
}

#[test]
fn peer_fin_without_close_frame_reports_remote_host_closed_and_1006() {
    let c = connected_client();
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "error:RemoteHostClosed",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_eq!(c.ws.error(), SocketError::RemoteHostClosed);
    assert_eq!(c.ws.error_string(), "The remote host closed the connection");
    assert_eq!(c.ws.close_code(), CloseCode::AbnormalDisconnection);
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    assert!(c.peer.is_released_by_library());
    c.reactor.run_until_idle();
    assert_eq!(c.reactor.event_loop().live_connections(), 0);
}

#[test]
fn peer_reset_reports_remote_host_closed() {
    let c = connected_client();
    c.peer.reset();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "error:RemoteHostClosed",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_eq!(c.ws.error(), SocketError::RemoteHostClosed);
    assert_eq!(c.ws.close_code(), CloseCode::AbnormalDisconnection);
}

#[test]
fn peer_fin_while_waiting_for_the_close_echo_reports_remote_host_closed_and_1006() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.reactor.run_until_idle();
    take(&c.log);
    c.peer.shutdown();
    c.reactor.run_until_idle();
    // No close frame was received: RFC 6455 7.1.5 makes that 1006.
    assert_eq!(
        take(&c.log),
        [
            "error:RemoteHostClosed",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    assert_eq!(c.ws.close_code(), CloseCode::AbnormalDisconnection);
}

#[test]
fn abort_while_connected_discards_queued_output_and_disconnects_synchronously() {
    let c = connected_client();
    assert_eq!(c.ws.send_text_message("queued"), 6);
    c.ws.abort();
    assert_eq!(
        take(&c.log),
        [
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ],
        "synchronous, without Closing"
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    c.reactor.run_until_idle();
    assert!(
        c.peer.take_bytes().is_empty(),
        "nothing written after abort"
    );
    assert!(c.peer.is_released_by_library());
    c.ws.abort();
    assert!(take(&c.log).is_empty(), "a second abort does nothing");
    assert_eq!(c.reactor.event_loop().live_connections(), 0);
    assert_eq!(c.reactor.event_loop().registered_sources(), 0);
}

#[test]
fn abort_while_closing_emits_about_to_close_only_once() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.ws.abort();
    assert_eq!(
        take(&c.log),
        [
            "about_to_close",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
}

// ===== protocol errors =========================================================

/// Sends `bytes` to a connected client and checks the failure: the close
/// frame with `code`/`reason`, error_occurred(Protocol) then Closing, the
/// client ending its write side, then the end once the server ends TCP.
fn protocol_error(setup: impl FnOnce(&WebSocket), bytes: &[u8], code: u16, reason: &str) {
    let c = connected_client();
    setup(&c.ws);
    c.peer.write(bytes);
    c.reactor.run_until_idle();
    assert_protocol_failure(&c, code, reason);
}

fn assert_protocol_failure(c: &Client, code: u16, reason: &str) {
    let log = take(&c.log);
    let start = log
        .iter()
        .position(|e| e == "error:Protocol")
        .unwrap_or_else(|| panic!("no error:Protocol in {log:?}"));
    assert_eq!(
        log[start..],
        ["error:Protocol", "about_to_close", "state:Closing"],
        "whole log: {log:?}"
    );
    assert_eq!(c.ws.error(), SocketError::Protocol);
    assert_eq!(c.ws.error_string(), reason);
    assert_close_code(&c.ws, code, reason);
    assert_eq!(frames(&c.peer), [format!("Close:{code}:{reason}(masked)")]);
    assert!(
        c.peer.is_closed_by_library(),
        "after failing, the client ends its write side"
    );
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
}

#[test]
fn masked_frame_from_server_closes_with_1002() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0, OpCode::Text, Some([1, 2, 3, 4]), b"hi"),
        1002,
        "Received a masked frame from a server.",
    );
}

#[test]
fn rsv_bit_closes_with_1002() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0b100, OpCode::Text, None, b"hi"),
        1002,
        "Rsv field is non-zero",
    );
}

#[test]
fn reserved_opcode_closes_with_1002() {
    protocol_error(|_| {}, &[0x83, 0x00], 1002, "Used reserved opcode");
    protocol_error(|_| {}, &[0x8b, 0x00], 1002, "Used reserved opcode");
}

#[test]
fn fragmented_control_frame_closes_with_1002() {
    protocol_error(
        |_| {},
        &raw_frame(false, 0, OpCode::Ping, None, b"p"),
        1002,
        "Control frames cannot be fragmented",
    );
}

#[test]
fn control_frame_over_125_bytes_closes_with_1002() {
    // The header alone is enough to fail.
    protocol_error(
        |_| {},
        &frame_header(true, 0, OpCode::Ping, None, 126),
        1002,
        "Control frame is larger than 125 bytes",
    );
}

#[test]
fn non_minimal_length_closes_with_1002() {
    protocol_error(
        |_| {},
        &[0x82, 126, 0, 5, 1, 2, 3, 4, 5],
        1002,
        "Lengths smaller than 126 must be expressed as one byte.",
    );
}

#[test]
fn continuation_without_a_start_closes_with_1002() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0, OpCode::Continuation, None, b"x"),
        1002,
        "Received Continuation frame, while there is nothing to continue.",
    );
}

#[test]
fn new_data_frame_during_a_fragmented_message_closes_with_1002() {
    let mut bytes = raw_frame(false, 0, OpCode::Text, None, b"one");
    bytes.extend(raw_frame(true, 0, OpCode::Binary, None, b"two"));
    protocol_error(
        |_| {},
        &bytes,
        1002,
        "All data frames after the initial data frame must have opcode 0 (continuation).",
    );
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0, OpCode::Text, None, b"ab\xff"),
        1007,
        "Invalid UTF-8 code encountered.",
    );
}

#[test]
fn truncated_code_point_at_the_end_of_a_message_closes_with_1007() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0, OpCode::Text, None, b"caf\xc3"),
        1007,
        "Invalid UTF-8 code encountered.",
    );
}

#[test]
fn invalid_utf8_in_the_first_fragment_fails_before_the_second_arrives() {
    let c = connected_client();
    c.peer.send_frame(false, OpCode::Text, b"ok\xc0\xafmore");
    c.reactor.run_until_idle();
    assert_eq!(
        c.ws.error(),
        SocketError::Protocol,
        "failed on the first fragment"
    );
    assert_protocol_failure(&c, 1007, "Invalid UTF-8 code encountered.");
}

#[test]
fn invalid_utf8_fails_fast_inside_an_incomplete_frame() {
    let c = connected_client();
    // A 100-byte text frame of which only the header and a bad byte arrived.
    let mut bytes = frame_header(true, 0, OpCode::Text, None, 100);
    bytes.extend_from_slice(b"ab\xff");
    c.peer.write(&bytes);
    c.reactor.run_until_idle();
    assert_protocol_failure(&c, 1007, "Invalid UTF-8 code encountered.");
}

#[test]
fn frame_over_the_frame_limit_closes_with_1009_before_its_payload_arrives() {
    let c = connected_client();
    c.ws.set_max_allowed_incoming_frame_size(1000);
    assert_eq!(c.ws.max_allowed_incoming_frame_size(), 1000);
    c.peer
        .write(&frame_header(true, 0, OpCode::Binary, None, 1001));
    c.reactor.run_until_idle();
    assert_protocol_failure(&c, 1009, "Maximum framesize exceeded.");
}

#[test]
fn frame_at_the_frame_limit_is_accepted() {
    let c = connected_client();
    c.ws.set_max_allowed_incoming_frame_size(4);
    c.peer.send_binary(&[1, 2, 3, 4]);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["binary_frame:01020304:true", "binary:01020304"]
    );
}

#[test]
fn message_over_the_message_limit_across_fragments_closes_with_1009() {
    let c = connected_client();
    c.ws.set_max_allowed_incoming_message_size(10);
    c.peer.send_frame(false, OpCode::Binary, &[0; 6]);
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["binary_frame:000000000000:false"]);
    // Only the header of the second fragment: 6 + 5 > 10.
    c.peer
        .write(&frame_header(true, 0, OpCode::Continuation, None, 5));
    c.reactor.run_until_idle();
    assert_protocol_failure(&c, 1009, "Received message is too big.");
}

#[test]
fn invalid_close_code_from_peer_closes_with_1002() {
    for n in [999u16, 1004, 1005, 1006, 1015, 2999, 5000] {
        protocol_error(
            |_| {},
            &raw_frame(true, 0, OpCode::Close, None, &close_payload(n, b"")),
            1002,
            &format!("Invalid close code {n} detected."),
        );
    }
}

#[test]
fn valid_application_close_codes_from_peer_are_echoed() {
    for n in [1011u16, 1012, 1014, 3000, 4999] {
        let c = connected_client();
        c.peer.send_close(Some((n, "r")));
        c.reactor.run_until_idle();
        assert_eq!(
            frames(&c.peer),
            [format!("Close:{n}:r(masked)")],
            "code {n}"
        );
        assert_close_code(&c.ws, n, "r");
    }
}

#[test]
fn one_byte_close_payload_closes_with_1002() {
    protocol_error(
        |_| {},
        &raw_frame(true, 0, OpCode::Close, None, &[0x03]),
        1002,
        "Payload of close frame is too small.",
    );
}

#[test]
fn close_reason_not_utf8_closes_with_1007() {
    protocol_error(
        |_| {},
        &raw_frame(
            true,
            0,
            OpCode::Close,
            None,
            &close_payload(1000, b"\xff\xfe"),
        ),
        1007,
        "Invalid UTF-8 code encountered.",
    );
}

#[test]
fn no_message_is_delivered_after_a_protocol_error_even_if_the_peer_keeps_sending() {
    let c = connected_client();
    let mut bytes = raw_frame(true, 0, OpCode::Text, None, b"before");
    bytes.extend(raw_frame(true, 0b010, OpCode::Text, None, b"bad"));
    bytes.extend(raw_frame(true, 0, OpCode::Text, None, b"after1"));
    c.peer.write(&bytes);
    c.reactor.run_until_idle();
    c.peer.send_text("after2");
    c.peer.send_ping(b"p");
    c.peer.send_close(Some((1000, "")));
    c.reactor.run_until_idle();
    let log = take(&c.log);
    assert_eq!(
        log,
        [
            "text_frame:before:true",
            "text:before",
            "error:Protocol",
            "about_to_close",
            "state:Closing"
        ]
    );
    assert_eq!(
        frames(&c.peer),
        ["Close:1002:Rsv field is non-zero(masked)"]
    );
    assert_close_code(&c.ws, 1002, "Rsv field is non-zero");
}

#[test]
fn protocol_error_without_the_server_ending_tcp_ends_after_the_close_timeout() {
    let c = connected_client();
    c.peer.write(&[0x83, 0x00]);
    c.reactor.run_until_idle();
    take(&c.log);
    c.reactor.advance(secs(3) - MS);
    assert_eq!(c.ws.state(), SocketState::Closing);
    c.reactor.advance(MS);
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert!(c.peer.is_released_by_library());
}

// ----- incomplete frame timeout ----------------------------------------------

#[test]
fn incomplete_frame_timeout_closes_with_1001_and_reports_socket_timeout() {
    let c = connected_client();
    let frame = raw_frame(true, 0, OpCode::Text, None, b"half a frame");
    c.peer.write(&frame[..6]);
    c.reactor.run_until_idle();
    c.reactor.advance(secs(5) - MS);
    assert!(take(&c.log).is_empty(), "not before 5 s");
    assert!(c.peer.frames().is_empty());
    c.reactor.advance(MS);
    assert_eq!(
        take(&c.log),
        ["error:SocketTimeout", "about_to_close", "state:Closing"]
    );
    assert_eq!(c.ws.error(), SocketError::SocketTimeout);
    assert_eq!(
        c.ws.error_string(),
        "Timeout when reading data from socket."
    );
    assert_close_code(&c.ws, 1001, "Timeout when reading data from socket.");
    assert_eq!(
        frames(&c.peer),
        ["Close:1001:Timeout when reading data from socket.(masked)"]
    );
    // The peer never answers: the close timeout ends it.
    c.reactor.advance(secs(3));
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
    assert!(c.peer.is_released_by_library());
}

// Regression (fixed): before the fix, after the incomplete-frame timeout the session forgets the partial
// frame and the fragmented message (src/protocol/session.rs, on_timeout:
// `self.incoming = None; self.message_kind = None;`) but the socket keeps the
// partial frame's bytes in its read buffer (src/socket/mod.rs, read_one_event
// only advances rpos past whole frames). When the peer completes the frame (it
// must, before it can send its close frame), the bytes are parsed again from
// the frame's first byte, now without the message they continue: the client
// reports a protocol error (1002, "Received Continuation frame, while there is
// nothing to continue.") that the peer never made, and overwrites
// close_code() 1001 with it. (Server side, the re-parse also unmasks bytes a
// second time: see server_state_machine.rs.)
#[test]
fn peer_completing_a_timed_out_fragment_is_not_reported_as_a_protocol_error() {
    let c = connected_client();
    c.peer.send_frame(false, OpCode::Text, b"part");
    let rest = raw_frame(true, 0, OpCode::Continuation, None, b" two");
    c.peer.write(&rest[..3]);
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["text_frame:part:false"]);
    c.reactor.advance(secs(5));
    assert_eq!(
        take(&c.log),
        ["error:SocketTimeout", "about_to_close", "state:Closing"]
    );
    assert_eq!(
        frames(&c.peer),
        ["Close:1001:Timeout when reading data from socket.(masked)"]
    );
    // The peer finishes its frame, then answers our close.
    c.peer.write(&rest[3..]);
    c.peer.send_close(Some((1001, "")));
    c.reactor.run_until_idle();
    let log = take(&c.log);
    assert!(
        !log.contains(&"error:Protocol".to_string()),
        "the peer broke no rule, yet the client reports {:?} ({:?}); log {log:?}",
        c.ws.error(),
        c.ws.error_string()
    );
    assert_close_code(&c.ws, 1001, "Timeout when reading data from socket.");
}

#[test]
fn incomplete_frame_timer_restarts_on_every_byte() {
    let c = connected_client();
    let frame = raw_frame(true, 0, OpCode::Text, None, b"slow");
    c.peer.write(&frame[..1]);
    c.reactor.run_until_idle();
    for i in 1..frame.len() {
        c.reactor.advance(secs(4));
        assert_eq!(c.ws.state(), SocketState::Connected, "after byte {i}");
        c.peer.write(&frame[i..i + 1]);
        c.reactor.run_until_idle();
    }
    assert_eq!(take(&c.log), ["text_frame:slow:true", "text:slow"]);
    c.reactor.advance(secs(60));
    assert!(
        take(&c.log).is_empty(),
        "no timer while nothing is incomplete"
    );
    assert!(c.peer.frames().is_empty());
}

#[test]
fn incomplete_fragmented_message_times_out_too() {
    let c = connected_client();
    c.peer.send_frame(false, OpCode::Text, b"part");
    c.reactor.run_until_idle();
    assert_eq!(take(&c.log), ["text_frame:part:false"]);
    c.reactor.advance(secs(4));
    c.peer.send_ping(b"keep");
    c.reactor.run_until_idle();
    c.reactor.advance(secs(4));
    assert!(take(&c.log).is_empty(), "the ping restarted the timer");
    c.reactor.advance(secs(1));
    assert_eq!(
        take(&c.log),
        ["error:SocketTimeout", "about_to_close", "state:Closing"]
    );
    assert_eq!(
        frames(&c.peer),
        [
            "Pong:keep(masked)",
            "Close:1001:Timeout when reading data from socket.(masked)"
        ]
    );
}

#[test]
fn incomplete_frame_timeout_can_be_disabled() {
    let c = connected_client();
    c.ws.set_incomplete_frame_timeout(None);
    c.peer.write(&[0x81]);
    c.reactor.advance(secs(600));
    assert!(take(&c.log).is_empty());
    assert_eq!(c.ws.state(), SocketState::Connected);
}

#[test]
fn idle_connection_has_no_timeout() {
    let c = connected_client();
    c.reactor.advance(secs(3600));
    assert!(take(&c.log).is_empty());
    assert!(c.peer.frames().is_empty());
    assert_eq!(c.ws.state(), SocketState::Connected);
}

// ===== re-entrant slots ========================================================

fn three_pipelined(c: &Client) {
    c.peer.send_text("one");
    c.peer.send_text("two");
    c.peer.send_text("three");
}

#[test]
fn slot_calling_abort_inside_text_message_stops_delivery_without_panic() {
    let c = connected_client();
    c.ws.text_message_received().connect(|ws, t| {
        if t == "one" {
            ws.abort();
        }
    });
    three_pipelined(&c);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:one:true",
            "text:one",
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert!(c.peer.take_bytes().is_empty());
    assert!(c.peer.is_released_by_library());
}

#[test]
fn slot_calling_close_inside_text_message_keeps_reading_until_the_echo() {
    let c = connected_client();
    c.ws.text_message_received().connect(|ws, t| {
        if t == "one" {
            ws.close(CloseCode::Normal, "enough").unwrap();
        }
    });
    three_pipelined(&c);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame:one:true",
            "text:one",
            "about_to_close",
            "state:Closing",
            "text_frame:two:true",
            "text:two",
            "text_frame:three:true",
            "text:three"
        ]
    );
    assert_eq!(frames(&c.peer), ["Close:1000:enough(masked)"]);
    c.peer.send_close(Some((1000, "enough")));
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["state:Unconnected", "disconnected", "read_channel_finished"]
    );
}

#[test]
fn slot_dropping_the_last_handle_inside_text_message_keeps_the_open_socket_alive() {
    let c = connected_client();
    let Client {
        reactor,
        ws,
        log,
        peer,
    } = c;
    let weak = ws.downgrade();
    let holder = Rc::new(RefCell::new(Some(ws)));
    let h = holder.clone();
    weak.upgrade()
        .unwrap()
        .text_message_received()
        .connect(move |_, _| drop(h.borrow_mut().take()));
    peer.send_text("one");
    peer.send_text("two");
    reactor.run_until_idle();
    assert!(holder.borrow().is_none(), "the slot dropped the handle");
    assert_eq!(
        take(&log),
        [
            "text_frame:one:true",
            "text:one",
            "text_frame:two:true",
            "text:two"
        ]
    );
    let ws = weak.upgrade().expect("an open socket is kept by the loop");
    assert_eq!(ws.state(), SocketState::Connected);
    drop(ws);
    peer.send_close(Some((1000, "")));
    peer.shutdown();
    reactor.run_until_idle();
    assert_eq!(
        take(&log),
        [
            "about_to_close",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert!(weak.upgrade().is_none(), "freed once unconnected");
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
}

#[test]
fn slot_calling_open_inside_text_message_drops_the_old_input() {
    let c = connected_client();
    c.ws.text_message_received().connect(|ws, t| {
        if t == "one" {
            ws.open(URL).unwrap();
        }
    });
    three_pipelined(&c);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["text_frame:one:true", "text:one", "state:Connecting"]
    );
    assert!(c.peer.is_released_by_library());
    let peer2 = c.reactor.next_connection().expect("a new connection");
    let request = accept_tcp(&c.reactor, &peer2);
    assert!(request.starts_with("GET /chat?room=1 HTTP/1.1\r\n"));
}

#[test]
fn echo_from_a_slot_is_written_once_control_returns_to_the_loop_in_one_write() {
    let c = connected_client();
    let writes = Rc::new(RefCell::new(Vec::new()));
    let w = writes.clone();
    c.ws.bytes_written()
        .connect(move |_, n| w.borrow_mut().push(n));
    let queued_in_slot = Rc::new(Cell::new(0usize));
    let q = queued_in_slot.clone();
    c.ws.text_message_received().connect(move |ws, t| {
        ws.send_text_message(&t.to_uppercase());
        q.set(ws.bytes_to_write());
    });
    three_pipelined(&c);
    c.reactor.run_until_idle();
    // Each reply: 2-byte header + 4-byte mask + payload.
    let expected = (6 + 3) + (6 + 3) + (6 + 5);
    assert_eq!(
        queued_in_slot.get(),
        expected,
        "nothing was written inside the slots"
    );
    assert_eq!(
        *writes.borrow(),
        [expected as u64],
        "one write for the three replies"
    );
    assert_eq!(c.ws.bytes_to_write(), 0);
    assert_eq!(
        frames(&c.peer),
        ["Text:ONE(masked)", "Text:TWO(masked)", "Text:THREE(masked)"]
    );
}

#[test]
fn slot_disconnecting_itself_is_not_called_again() {
    let c = connected_client();
    let calls = Rc::new(Cell::new(0));
    let k = calls.clone();
    let id = Rc::new(Cell::new(None));
    let i = id.clone();
    let slot = c.ws.text_message_received().connect(move |ws, _| {
        k.set(k.get() + 1);
        if let Some(id) = i.get() {
            ws.text_message_received().disconnect(id);
        }
    });
    id.set(Some(slot));
    three_pipelined(&c);
    c.reactor.run_until_idle();
    assert_eq!(calls.get(), 1);
}

// ===== reopening and lifetime =================================================

#[test]
fn open_again_while_connected_drops_the_old_connection_silently() {
    let c = connected_client();
    c.ws.send_text_message("unsent");
    c.ws.open(URL).unwrap();
    assert_eq!(
        take(&c.log),
        ["state:Connecting"],
        "no close, no disconnected for the old connection"
    );
    c.reactor.run_until_idle();
    assert!(
        c.peer.is_released_by_library(),
        "old TCP connection dropped"
    );
    assert!(
        c.peer.take_bytes().is_empty(),
        "no close frame, no queued data"
    );
    // The old peer's data no longer reaches the socket.
    c.peer.send_text("stale");
    let peer2 = c.reactor.next_connection().expect("a new TCP connection");
    let request = accept_tcp(&c.reactor, &peer2);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer2.write(switching_protocols(&key, &[]).as_bytes());
    peer2.send_text("fresh");
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "state:Connected",
            "connected",
            "text_frame:fresh:true",
            "text:fresh"
        ]
    );
    assert_eq!(c.reactor.event_loop().live_connections(), 1);
    assert_eq!(c.reactor.event_loop().registered_sources(), 1);
}

#[test]
fn open_again_after_a_failure_works() {
    let (reactor, ws, log) = client_socket();
    ws.open(URL).unwrap();
    pending_tcp(&reactor).refuse();
    reactor.run_until_idle();
    take(&log);
    ws.open(URL).unwrap();
    assert_eq!(take(&log), ["state:Connecting"]);
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer.write(switching_protocols(&key, &[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(take(&log), ["state:Connected", "connected"]);
    assert_close_code(&ws, 1000, "");
}

#[test]
fn closed_socket_whose_handles_are_dropped_is_freed() {
    let c = connected_client();
    let Client {
        reactor,
        ws,
        log,
        peer,
    } = c;
    assert_eq!(reactor.event_loop().live_connections(), 1);
    assert_eq!(reactor.event_loop().registered_sources(), 1);
    let weak = ws.downgrade();
    ws.close(CloseCode::Normal, "").unwrap();
    peer.send_close(Some((1000, "")));
    peer.shutdown();
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
    drop(ws);
    reactor.run_until_idle();
    assert!(
        weak.upgrade().is_none(),
        "nothing keeps a closed, dropped socket"
    );
    drop(log);
}

#[test]
fn dropping_every_handle_while_open_keeps_the_connection_until_it_ends() {
    let c = connected_client();
    let Client {
        reactor,
        ws,
        log,
        peer,
    } = c;
    let weak = ws.downgrade();
    drop(ws);
    reactor.run_until_idle();
    assert!(weak.upgrade().is_some(), "the loop owns an open connection");
    peer.send_text("still here");
    reactor.run_until_idle();
    assert_eq!(
        take(&log),
        ["text_frame:still here:true", "text:still here"]
    );
    peer.shutdown();
    reactor.run_until_idle();
    assert!(weak.upgrade().is_none());
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
}

#[test]
fn failed_connect_with_dropped_handle_is_freed() {
    let (reactor, ws, _log) = client_socket();
    ws.open(URL).unwrap();
    let weak = ws.downgrade();
    drop(ws);
    let peer = pending_tcp(&reactor);
    peer.refuse();
    reactor.run_until_idle();
    assert!(weak.upgrade().is_none());
    assert_eq!(reactor.event_loop().live_connections(), 0);
    assert_eq!(reactor.event_loop().registered_sources(), 0);
}

// ===== more re-entrancy and edge cases ========================================

#[test]
fn slot_sending_inside_connected_writes_right_after_the_handshake() {
    let (reactor, ws, log) = client_socket();
    ws.connected().connect(|ws| {
        assert_eq!(ws.send_text_message("hello"), 5);
    });
    let peer = open_and_answer(&reactor, &ws, |key| switching_protocols(key, &[]));
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
    assert_eq!(frames(&peer), ["Text:hello(masked)"]);
}

#[test]
fn slot_aborting_inside_connected_drops_frames_that_came_with_the_101() {
    let (reactor, ws, log) = client_socket();
    ws.connected().connect(|ws| ws.abort());
    let peer = open_and_answer(&reactor, &ws, |key| {
        let mut bytes = switching_protocols(key, &[]).into_bytes();
        bytes.extend(raw_frame(true, 0, OpCode::Text, None, b"early"));
        bytes
    });
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "state:Connected",
            "connected",
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert!(peer.take_bytes().is_empty());
}

#[test]
fn peer_close_followed_by_fin_in_the_same_turn_still_gets_the_echo() {
    let c = connected_client();
    c.peer.send_close(Some((1000, "done")));
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1000:done(masked)"]);
    assert_eq!(
        take(&c.log),
        [
            "about_to_close",
            "state:Closing",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_close_code(&c.ws, 1000, "done");
    assert_eq!(c.ws.error(), SocketError::Unknown);
}

#[test]
fn data_queued_before_close_goes_out_before_the_close_frame() {
    let c = connected_client();
    c.ws.send_text_message("last words");
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.reactor.run_until_idle();
    assert_eq!(
        frames(&c.peer),
        ["Text:last words(masked)", "Close:1000:(masked)"]
    );
}

#[test]
fn ping_while_closing_returns_false_and_sends_nothing() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    assert!(!c.ws.ping(b"late"));
    c.reactor.run_until_idle();
    assert_eq!(frames(&c.peer), ["Close:1000:(masked)"]);
}

#[test]
fn message_larger_than_one_read_budget_is_delivered_whole() {
    let c = connected_client();
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    c.peer.send_binary(&payload);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    c.ws.binary_message_received()
        .connect(move |_, b| g.borrow_mut().push(b.len()));
    c.reactor.run_until_idle();
    assert_eq!(*got.borrow(), [payload.len()]);
}

#[test]
fn no_timer_is_left_after_the_connection_ends() {
    let c = connected_client();
    c.ws.close(CloseCode::Normal, "").unwrap();
    c.reactor.run_until_idle();
    assert!(
        c.reactor.event_loop().next_timer_deadline().is_some(),
        "close timer"
    );
    c.peer.send_close(Some((1000, "")));
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    assert_eq!(c.reactor.event_loop().next_timer_deadline(), None);
}

#[test]
fn no_timer_is_left_after_a_failed_handshake() {
    let (reactor, ws, _log) = client_socket();
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    accept_tcp(&reactor, &peer);
    assert!(
        reactor.event_loop().next_timer_deadline().is_some(),
        "handshake timer"
    );
    peer.write(b"HTTP/1.1 404 Not Found\r\n\r\n");
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(reactor.event_loop().next_timer_deadline(), None);
}

/// The last `state:` entry of a log, if any.
fn last_state(log: &[String]) -> Option<&str> {
    log.iter().rev().find_map(|e| e.strip_prefix("state:"))
}

// Regression (fixed): before the fix, signals are computed as a batch and emitted after the state changed
// (src/socket/mod.rs, abort_with: `emits` holds Error, then State(Unconnected),
// Disconnected, ReadChannelFinished). A slot on error_occurred that reconnects
// (a common retry pattern) moves the socket to Connecting, and then the rest of
// the stale batch announces Unconnected/disconnected for the *new* attempt:
// state_changed's last value no longer matches state().
#[test]
fn reconnecting_from_error_slot_after_a_failed_handshake_leaves_consistent_signals() {
    let (reactor, ws, log) = client_socket();
    let retried = Rc::new(Cell::new(false));
    let r = retried.clone();
    ws.error_occurred().connect(move |ws, _| {
        if !r.replace(true) {
            ws.open(URL).unwrap();
        }
    });
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    accept_tcp(&reactor, &peer);
    peer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n");
    reactor.run_until_idle();
    assert!(retried.get());
    assert_eq!(
        ws.state(),
        SocketState::Connecting,
        "the retry is under way"
    );
    let log = take(&log);
    assert_eq!(
        last_state(&log),
        Some("Connecting"),
        "the last state_changed must match state(); log {log:?}"
    );
}

// Regression (fixed): before the fix, same batch problem on a lost connection (src/socket/mod.rs,
// connection_lost emits Error first, then Closing/Unconnected/disconnected).
#[test]
fn reconnecting_from_error_slot_after_remote_close_leaves_consistent_signals() {
    let c = connected_client();
    let retried = Rc::new(Cell::new(false));
    let r = retried.clone();
    c.ws.error_occurred().connect(move |ws, e| {
        if e == SocketError::RemoteHostClosed && !r.replace(true) {
            ws.open(URL).unwrap();
        }
    });
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert!(retried.get());
    assert_eq!(c.ws.state(), SocketState::Connecting);
    let log = take(&c.log);
    assert_eq!(
        last_state(&log),
        Some("Connecting"),
        "the last state_changed must match state(); log {log:?}"
    );
    // The new connection must still work.
    let peer2 = c.reactor.next_connection().expect("the retry connects");
    let request = accept_tcp(&c.reactor, &peer2);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer2.write(switching_protocols(&key, &[]).as_bytes());
    c.reactor.run_until_idle();
    assert_eq!(c.ws.state(), SocketState::Connected);
}

#[test]
fn reconnecting_from_disconnected_slot_works() {
    let c = connected_client();
    let retried = Rc::new(Cell::new(false));
    let r = retried.clone();
    c.ws.disconnected().connect(move |ws| {
        if !r.replace(true) {
            ws.open(URL).unwrap();
        }
    });
    c.peer.shutdown();
    c.reactor.run_until_idle();
    assert!(retried.get());
    assert_eq!(c.ws.state(), SocketState::Connecting);
    let peer2 = c.reactor.next_connection().expect("the retry connects");
    let request = accept_tcp(&c.reactor, &peer2);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer2.write(switching_protocols(&key, &[]).as_bytes());
    c.reactor.run_until_idle();
    assert_eq!(c.ws.state(), SocketState::Connected);
    assert_eq!(c.reactor.event_loop().live_connections(), 1);
}

// Regression (fixed): before the fix, close() emits about_to_close and then state_changed(Closing) from one
// batch (src/socket/mod.rs, Shared::close -> begin_closing -> emit_all). A slot
// on about_to_close that aborts (Qt code does this to skip the handshake)
// makes the socket Unconnected, and then the stale State(Closing) is emitted
// after disconnected: the log ends on Closing while state() is Unconnected.
#[test]
fn abort_inside_about_to_close_leaves_consistent_signals() {
    let c = connected_client();
    c.ws.about_to_close().connect(|ws| ws.abort());
    c.ws.close(CloseCode::Normal, "").unwrap();
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    let log = take(&c.log);
    assert_eq!(
        log,
        [
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ],
        "no state_changed(Closing) after disconnected"
    );
}

// Regression (fixed): before the fix, Qt 6.12 (QT-BEHAVIOUR.md, appendix A) and contract item 16: a partial
// frame, "even a single header byte", followed by silence is failed with 1001
// after 5 s. Here the timer only runs once a whole header was parsed
// (src/protocol/session.rs, next_deadline: `self.incoming.is_some() ||
// self.message_kind.is_some()`; `incoming` is set only after
// FrameHeader::parse succeeds), so a peer that stops inside a header holds the
// connection open forever.
#[test]
fn partial_frame_header_followed_by_silence_times_out_with_1001() {
    let c = connected_client();
    c.peer.write(&[0x81]);
    c.reactor.run_until_idle();
    c.reactor.advance(secs(5));
    assert_eq!(
        take(&c.log),
        ["error:SocketTimeout", "about_to_close", "state:Closing"],
        "one header byte then silence must fail with 1001 after 5 s"
    );
    assert_eq!(
        frames(&c.peer),
        ["Close:1001:Timeout when reading data from socket.(masked)"]
    );
}

// Regression (fixed): before the fix, same gap for an extended length that stops half-way (126 + 1 byte).
#[test]
fn partial_extended_length_followed_by_silence_times_out_with_1001() {
    let c = connected_client();
    c.peer.write(&[0x82, 126, 0x01]);
    c.reactor.advance(secs(5));
    assert_eq!(
        take(&c.log),
        ["error:SocketTimeout", "about_to_close", "state:Closing"],
        "a partial header then silence must fail with 1001 after 5 s"
    );
}

#[test]
fn output_blocked_by_a_full_window_is_written_as_the_peer_reads() {
    let c = connected_client();
    c.peer.set_window(16);
    let text = "x".repeat(1000);
    assert_eq!(c.ws.send_text_message(&text), 1000);
    c.reactor.run_until_idle();
    assert!(c.ws.bytes_to_write() > 0, "the window holds the rest back");
    let mut got = Vec::new();
    for _ in 0..1000 {
        got.extend(c.peer.take_bytes());
        c.reactor.run_until_idle();
        if c.ws.bytes_to_write() == 0 {
            got.extend(c.peer.take_bytes());
            break;
        }
    }
    assert_eq!(c.ws.bytes_to_write(), 0);
    let frames = decode_frames(&got);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].text(), Some(text.as_str()));
    assert!(frames[0].masked);
}

// Regression (fixed): before the fix, the same reset is reported as RemoteHostClosed when it is noticed on
// a read but as Network ("Error writing bytes to socket: ...") when output
// was queued, because flush_now hardcodes SocketError::Network
// (src/socket/mod.rs, Shared::flush_now: `self.connection_lost(SocketError::Network, ...)`)
// instead of mapping the io::Error with SocketError::from_io like on_readable does.
#[test]
fn peer_reset_while_output_is_queued_reports_remote_host_closed() {
    let c = connected_client();
    c.ws.send_text_message("into the void");
    c.peer.reset();
    c.reactor.run_until_idle();
    assert_eq!(
        c.ws.error(),
        SocketError::RemoteHostClosed,
        "a reset is a reset whether or not we had output queued ({:?})",
        c.ws.error_string()
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
}
