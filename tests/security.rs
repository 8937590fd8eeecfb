//! The security review of issue 8, one test (or a few) per point, mostly on
//! the fake reactor: masking keys, header injection, the accept key, what
//! the server refuses, the default limits, TLS verification.
//! docs/RELIABILITY.md ("Security review") maps each point to its test.

mod common;

use qwebsocket::event_loop::EventLoop;
use qwebsocket::protocol::FrameHeader;
use qwebsocket::protocol::handshake::{MAX_HEADER_BLOCK, accept_key};
use qwebsocket::testing::{FakeReactor, Peer, SignalLog};
use qwebsocket::{
    CloseCode, DEFAULT_SEND_QUEUE_LIMIT, HandshakeOptions, MaskGenerator, Request, SocketError,
    SocketState, SslMode, WebSocket, WebSocketServer,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A client connected to a fake server peer.
fn connected(reactor: &FakeReactor) -> (WebSocket, Peer) {
    let ws = WebSocket::new(reactor.event_loop());
    ws.open("ws://127.0.0.1/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    peer.accept_handshake().unwrap();
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
    (ws, peer)
}

/// The masking keys of every frame in `bytes` (client frames).
fn mask_keys(bytes: &[u8]) -> Vec<[u8; 4]> {
    let mut keys = Vec::new();
    let mut at = 0;
    while let Ok(Some((h, n))) = FrameHeader::parse(&bytes[at..], 0) {
        keys.push(h.mask.expect("a client masks every frame"));
        at += n + h.payload_len as usize;
    }
    assert_eq!(at, bytes.len(), "whole frames");
    keys
}

// ----- masking keys ------------------------------------------------------------------

/// 10 000 frames: the keys look like the output of a CSPRNG. 32-bit random
/// keys collide by chance (birthday bound: 10 000 keys give one repeated
/// pair with probability 1.2 %), so up to 3 repeats are allowed (4 or more:
/// probability below 1e-8); a counter, a constant or a reused pattern
/// repeats thousands of times or is sequential.
#[test]
fn masking_keys_are_random_never_sequential_nor_reused() {
    let reactor = FakeReactor::new();
    let (ws, peer) = connected(&reactor);
    let mut keys = Vec::new();
    for i in 0..10_000u32 {
        ws.send_binary_message(&i.to_be_bytes());
        if i % 500 == 499 {
            reactor.run_until_idle();
            keys.extend(mask_keys(&peer.take_bytes()));
        }
    }
    assert_eq!(keys.len(), 10_000);
    let distinct: HashSet<[u8; 4]> = keys.iter().copied().collect();
    assert!(
        keys.len() - distinct.len() <= 3,
        "{} repeated keys",
        keys.len() - distinct.len()
    );
    assert!(!distinct.contains(&[0; 4]), "no all-zero key");
    let values: Vec<u32> = keys.iter().map(|k| u32::from_be_bytes(*k)).collect();
    let steps: HashSet<u32> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(steps.len() > 9_900, "no constant step between keys");
    // Every bit position is set about half the time (binomial, n = 10 000:
    // 5 000 ± 300 is more than 6 standard deviations).
    for bit in 0..32 {
        let ones = values.iter().filter(|v| *v >> bit & 1 == 1).count();
        assert!(
            (4_700..=5_300).contains(&ones),
            "bit {bit} set {ones} times in 10 000 keys"
        );
    }
}

struct Counter(u32);

impl MaskGenerator for Counter {
    fn next_mask(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// The only way to choose keys is `set_mask_generator`; `None` brings the
/// random keys back.
#[test]
fn mask_generator_override_is_the_only_way_and_can_be_undone() {
    let reactor = FakeReactor::new();
    let (ws, peer) = connected(&reactor);
    assert!(!ws.has_mask_generator());
    ws.set_mask_generator(Some(Box::new(Counter(0))));
    assert!(ws.has_mask_generator());
    for _ in 0..3 {
        ws.send_text_message("x");
    }
    reactor.run_until_idle();
    let keys = mask_keys(&peer.take_bytes());
    assert_eq!(keys, [[0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 3]]);
    ws.set_mask_generator(None);
    assert!(!ws.has_mask_generator());
    for _ in 0..100 {
        ws.send_text_message("x");
    }
    reactor.run_until_idle();
    let keys = mask_keys(&peer.take_bytes());
    let small = keys.iter().filter(|k| k[..3] == [0, 0, 0]).count();
    assert!(small <= 1, "random again: {keys:?}");
}

// ----- header injection: client side -------------------------------------------------

/// Opening fails at once: nothing is connected, so nothing is sent; the
/// error string.
#[track_caller]
fn refused_before_sending(
    open: impl FnOnce(&EventLoop) -> (WebSocket, Result<(), SocketError>),
) -> String {
    let reactor = FakeReactor::new();
    let (ws, result) = open(reactor.event_loop());
    reactor.run_until_idle();
    assert!(result.is_err(), "open must fail");
    assert!(
        reactor.next_connection().is_none(),
        "no connection was even attempted"
    );
    assert_ne!(ws.state(), SocketState::Connected);
    let text = ws.error_string();
    assert!(!text.is_empty());
    text
}

#[test]
fn client_refuses_cr_lf_nul_and_control_characters_in_every_request_field() {
    for bad in [
        "\r\nX-Evil: 1",
        "\n",
        "\r",
        "\0",
        "a\0b",
        "\x07",
        "\x1b[0m",
        "\x7f",
    ] {
        let text = refused_before_sending(|ev| {
            let ws = WebSocket::with_origin(ev, &format!("http://o{bad}"));
            let r = ws.open("ws://127.0.0.1/");
            (ws, r)
        });
        assert!(
            text.contains("Possible attack detected"),
            "origin {bad:?}: {text}"
        );
        let text = refused_before_sending(|ev| {
            let ws = WebSocket::new(ev);
            ws.add_request_header("X-Token", &format!("t{bad}"));
            let r = ws.open("ws://127.0.0.1/");
            (ws, r)
        });
        assert!(
            text.contains("Possible attack detected"),
            "value {bad:?}: {text}"
        );
        let text = refused_before_sending(|ev| {
            let ws = WebSocket::new(ev);
            let request = Request::new("ws://127.0.0.1/".parse().unwrap())
                .with_header(&format!("X{bad}"), "v");
            let r = ws.open_request(&request);
            (ws, r)
        });
        assert!(
            text.contains("Possible attack detected")
                || text.starts_with("Invalid request header name"),
            "name {bad:?}: {text}"
        );
    }
    // A tab is allowed in a header value (RFC 7230 field-value).
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let request = Request::new("ws://127.0.0.1/".parse().unwrap()).with_header("X-Tab", "a\tb");
    ws.open_request(&request).unwrap();
}

#[test]
fn client_error_names_the_control_character() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::with_origin(reactor.event_loop(), "http://o\0.example");
    assert!(ws.open("ws://127.0.0.1/").is_err());
    assert_eq!(
        ws.error_string(),
        "The origin contains the control character 0x00. Possible attack detected."
    );
    let ws = WebSocket::new(reactor.event_loop());
    ws.add_request_header("X-Token", "a\0b");
    assert!(ws.open("ws://127.0.0.1/").is_err());
    assert_eq!(
        ws.error_string(),
        "The request header contains the control character 0x00. Possible attack detected."
    );
    reactor.run_until_idle();
    assert!(reactor.next_connection().is_none());
}

#[test]
fn client_never_sends_a_control_character_in_the_url_resource_or_subprotocols() {
    // The URL parser percent-encodes control characters in the path and
    // query: they reach the wire encoded, never raw.
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.open("ws://127.0.0.1/a\0b?q=\x01x").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    let head = peer.take_bytes();
    let line = head.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(line, b"GET /a%00b?q=%01x HTTP/1.1\r");
    assert!(!head.contains(&0), "no NUL on the wire");

    // A subprotocol name that is not an HTTP token (NUL, CR/LF, control
    // characters) is left out of the request, as Qt does; the valid ones go.
    let ws = WebSocket::new(reactor.event_loop());
    let options =
        HandshakeOptions::new().with_subprotocols(&["good", "ev\0il", "x\r\ny: 1", "b\x07"]);
    ws.open_with_options("ws://127.0.0.1/", &options).unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    let head = peer.take_bytes();
    assert!(!head.iter().any(|&b| b < 0x20 && b != b'\r' && b != b'\n'));
    let text = String::from_utf8(head).unwrap();
    assert!(text.contains("Sec-WebSocket-Protocol: good\r\n"), "{text}");
    assert!(!text.contains("y: 1"));
}

// ----- header injection: server side -------------------------------------------------

fn fake_server(reactor: &FakeReactor, name: &str) -> WebSocketServer {
    let server = WebSocketServer::new(reactor.event_loop(), name, SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    server
}

#[test]
fn server_refuses_to_send_a_control_character_in_its_name() {
    for (name, text) in [
        (
            "srv\r\nX-Evil: 1",
            "One of the headers contains a newline. Possible attack detected.",
        ),
        (
            "srv\0",
            "The server name contains the control character 0x00. Possible attack detected.",
        ),
        (
            "srv\x1b",
            "The server name contains the control character 0x1B. Possible attack detected.",
        ),
    ] {
        let reactor = FakeReactor::new();
        let server = fake_server(&reactor, name);
        let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
        client.send_upgrade_request("/", &[]);
        reactor.run_until_idle();
        let response = client.read_handshake_response().unwrap();
        assert_eq!(response.status, 500, "{name:?}");
        assert!(!server.has_pending_connections());
        assert_eq!(server.error_string(), text);
        assert!(response.headers.iter().all(|(n, _)| n != "X-Evil"));
    }
}

#[test]
fn server_never_picks_a_supported_subprotocol_holding_a_control_character() {
    let reactor = FakeReactor::new();
    let server = fake_server(&reactor, "");
    server.set_supported_subprotocols(&["ev\0il", "ok"]);
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.send_upgrade_request("/", &[("Sec-WebSocket-Protocol", "ev\0il, ok")]);
    reactor.run_until_idle();
    let response = client.read_handshake_response().unwrap();
    // The request's own list is refused (a NUL in a header value)...
    assert_eq!(response.status, 400);
    // ...and a clean request gets the clean protocol only.
    let client = reactor.connect_websocket_with(
        "127.0.0.1:80".parse().unwrap(),
        "/",
        &[("Sec-WebSocket-Protocol", "ok")],
    );
    assert_eq!(
        client
            .upgrade_response()
            .unwrap()
            .header("Sec-WebSocket-Protocol"),
        Some("ok")
    );
}

#[test]
fn error_responses_leave_out_extra_headers_with_control_characters() {
    use qwebsocket::protocol::handshake::server::error_response;
    let out = error_response(
        503,
        &[
            ("Retry-After", "1"),
            ("X-A", "a\0b"),
            ("X\x01", "v"),
            ("X-B", "b\r\nX-C: c"),
        ],
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

// ----- Sec-WebSocket-Accept --------------------------------------------------------

/// The client's handshake fails for an answer with this accept header block.
fn client_given(accept_lines: impl FnOnce(&str) -> String) -> WebSocket {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let log = SignalLog::record(&ws);
    ws.open("ws://127.0.0.1/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    let request = peer.read_handshake_request().unwrap().unwrap();
    let good = accept_key(request.key.as_bytes());
    let lines = accept_lines(&good);
    peer.write(
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{lines}\r\n")
            .as_bytes(),
    );
    reactor.run_until_idle();
    assert!(!log.entries().contains(&"connected".to_owned()));
    ws
}

#[test]
fn sec_websocket_accept_is_always_verified() {
    for (what, lines) in [
        (
            "wrong",
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n".to_owned(),
        ),
        ("missing", String::new()),
        ("empty", "Sec-WebSocket-Accept: \r\n".to_owned()),
    ] {
        let ws = client_given(|_| lines.clone());
        assert_eq!(ws.state(), SocketState::Unconnected, "{what}");
        assert_eq!(ws.error(), SocketError::ConnectionRefused, "{what}");
        assert!(!ws.error_string().is_empty(), "{what}");
    }
    // Twice, even with the right value both times or once.
    for twice in [
        |good: &str| format!("Sec-WebSocket-Accept: {good}\r\nSec-WebSocket-Accept: {good}\r\n"),
        |good: &str| format!("Sec-WebSocket-Accept: {good}\r\nSec-WebSocket-Accept: AAAA\r\n"),
    ] {
        let ws = client_given(twice);
        assert_eq!(ws.state(), SocketState::Unconnected, "duplicated");
        assert_eq!(ws.error(), SocketError::ConnectionRefused, "duplicated");
    }
    // The right one connects (the checks above are not refusing everything).
    let reactor = FakeReactor::new();
    let (ws, _peer) = connected(&reactor);
    assert_eq!(ws.error(), SocketError::Unknown);
}

// ----- what the server refuses -------------------------------------------------------

/// Sends `request` to a fake server; the response's status and headers,
/// and whether an upgrade happened.
fn server_answer(request: &str) -> (u16, Vec<(String, String)>, bool) {
    let reactor = FakeReactor::new();
    let server = fake_server(&reactor, "");
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.write(request.as_bytes());
    reactor.run_until_idle();
    let response = client
        .read_handshake_response()
        .unwrap_or_else(|| panic!("no answer to {request:?}"));
    (
        response.status,
        response.headers,
        server.has_pending_connections(),
    )
}

const GOOD: &str = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn server_refuses_bad_upgrade_requests_with_the_right_status() {
    let (status, _, upgraded) = server_answer(GOOD);
    assert_eq!((status, upgraded), (101, true), "the good request");
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(&str, String, u16)> = vec![
        ("missing key", GOOD.replace(key, ""), 400),
        (
            "duplicated key",
            GOOD.replace(key, &format!("{key}{key}")),
            400,
        ),
        (
            "two keys in one line",
            GOOD.replace(
                key,
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==\r\n",
            ),
            400,
        ),
        (
            "key of 15 bytes",
            GOOD.replace(key, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"),
            400,
        ),
        (
            "key of 17 bytes",
            GOOD.replace(key, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n"),
            400,
        ),
        (
            "key not base64",
            GOOD.replace(key, "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"),
            400,
        ),
        ("POST", GOOD.replacen("GET", "POST", 1), 400),
        ("HTTP/1.0", GOOD.replacen("HTTP/1.1", "HTTP/1.0", 1), 400),
        (
            "no Upgrade",
            GOOD.replace("Upgrade: websocket\r\n", ""),
            400,
        ),
        (
            "Upgrade not websocket",
            GOOD.replace("Upgrade: websocket", "Upgrade: h2c"),
            400,
        ),
        (
            "no Connection",
            GOOD.replace("Connection: Upgrade\r\n", ""),
            400,
        ),
        (
            "Connection without the upgrade token",
            GOOD.replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
        ),
    ];
    for (what, request, want) in cases {
        let (status, _, upgraded) = server_answer(&request);
        assert_eq!(status, want, "{what}");
        assert!(!upgraded, "{what}: no upgrade");
    }
    for version in ["8", "12", "14", ""] {
        let request = GOOD.replace(
            "Sec-WebSocket-Version: 13",
            &format!("Sec-WebSocket-Version: {version}"),
        );
        let (status, headers, upgraded) = server_answer(&request);
        assert!(!upgraded, "version {version:?}");
        assert!(
            status == 426 || status == 400,
            "version {version:?}: {status}"
        );
        if status == 426 {
            assert!(
                headers
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case("Sec-WebSocket-Version") && v == "13"),
                "426 names the version: {headers:?}"
            );
        }
    }
    // A version the server does not speak: 426 with the one it does.
    let (status, headers, _) = server_answer(&GOOD.replace("Version: 13", "Version: 8"));
    assert_eq!(status, 426);
    assert!(headers.contains(&("Sec-WebSocket-Version".to_owned(), "13".to_owned())));
}

// ----- default limits -------------------------------------------------------------------

#[test]
fn default_limits_are_safe_and_each_is_configurable() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    assert_eq!(ws.max_allowed_incoming_frame_size(), 16 << 20);
    assert_eq!(ws.max_allowed_incoming_message_size(), 64 << 20);
    assert_eq!(ws.max_handshake_size(), MAX_HEADER_BLOCK);
    assert_eq!(MAX_HEADER_BLOCK, 819_204);
    assert_eq!(ws.send_queue_limit(), Some(DEFAULT_SEND_QUEUE_LIMIT));
    assert_eq!(DEFAULT_SEND_QUEUE_LIMIT, 16 << 20);
    assert_eq!(ws.handshake_timeout(), Some(Duration::from_secs(10)));
    let server = fake_server(&reactor, "");
    assert_eq!(server.max_handshake_size(), MAX_HEADER_BLOCK);
    assert_eq!(server.max_pending_connections(), 30);
    assert_eq!(server.handshake_timeout(), Some(Duration::from_secs(10)));
}

#[test]
fn frame_size_limit_is_enforced_with_1009() {
    let reactor = FakeReactor::new();
    let (ws, peer) = connected(&reactor);
    ws.set_max_allowed_incoming_frame_size(1000);
    peer.send_frame(true, qwebsocket::protocol::OpCode::Binary, &[1; 1000]);
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
    peer.send_frame_header(true, qwebsocket::protocol::OpCode::Binary, 1001);
    reactor.run_until_idle();
    assert_eq!(peer.expect_close().0, CloseCode::TooMuchData);
    assert_eq!(ws.error_string(), "Maximum framesize exceeded.");
}

#[test]
fn message_size_limit_is_enforced_with_1009() {
    use qwebsocket::protocol::OpCode;
    let reactor = FakeReactor::new();
    let (ws, peer) = connected(&reactor);
    ws.set_max_allowed_incoming_message_size(1000);
    peer.send_frame(false, OpCode::Binary, &[1; 600]);
    peer.send_frame(true, OpCode::Continuation, &[1; 401]);
    reactor.run_until_idle();
    assert_eq!(peer.expect_close().0, CloseCode::TooMuchData);
    assert_eq!(ws.error_string(), "Received message is too big.");
}

#[test]
fn handshake_size_limit_is_enforced_on_both_sides() {
    // Server: a head longer than the limit is refused before it ends.
    let reactor = FakeReactor::new();
    let server = fake_server(&reactor, "");
    server.set_max_handshake_size(2048);
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.write(GOOD.trim_end().as_bytes());
    client.write(format!("\r\nCookie: {}", "c".repeat(4096)).as_bytes());
    reactor.run_until_idle();
    let response = client.read_handshake_response().unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(server.error(), CloseCode::TooMuchData);
    assert!(!server.has_pending_connections());
    // Within the limit: upgraded.
    let client = reactor.connect_websocket_with(
        "127.0.0.1:80".parse().unwrap(),
        "/",
        &[("Cookie", &"c".repeat(1000))],
    );
    assert_eq!(client.upgrade_response().unwrap().status, 101);

    // Client: a response head longer than its limit fails the connection.
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_max_handshake_size(2048);
    ws.open("ws://127.0.0.1:81/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    peer.write(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nX: {}",
            "y".repeat(4096)
        )
        .as_bytes(),
    );
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::ConnectionRefused);
}

#[test]
fn send_queue_limit_is_enforced() {
    let reactor = FakeReactor::new();
    let (ws, peer) = connected(&reactor);
    ws.set_send_queue_limit(Some(4096));
    peer.set_window(0);
    let mut accepted = 0;
    for _ in 0..100 {
        if ws.send_binary_message(&[0; 1000]) > 0 {
            accepted += 1;
        }
    }
    // Accepted while under the limit: 5 messages of 1004 bytes pass 4096.
    assert_eq!(accepted, 5);
    assert_eq!(ws.error(), SocketError::Temporary);
    assert!(ws.bytes_to_write() < 4096 + 1004);
    peer.set_window(usize::MAX);
    reactor.run_until_idle();
    assert_eq!(ws.bytes_to_write(), 0);
    assert!(ws.send_binary_message(&[0; 1000]) > 0, "accepted again");
}

// ----- TLS verification --------------------------------------------------------------

#[test]
fn tls_verification_is_on_by_default() {
    use common::certs;
    use qwebsocket::ssl::SslConfiguration;
    let leaf = certs::self_signed(&["127.0.0.1"]);
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::SecureMode);
    let mut config = SslConfiguration::default();
    config
        .set_local_certificate_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap();
    server.set_ssl_configuration(config);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let url = format!("wss://127.0.0.1:{}/", server.server_port());
    let run = |ws: &WebSocket| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && !matches!(ws.state(), SocketState::Connected)
            && !(ws.state() == SocketState::Unconnected && ws.error() != SocketError::Unknown)
        {
            ev.process_events(Some(Duration::from_millis(5))).unwrap();
        }
    };

    // Default configuration: the self-signed certificate is not trusted.
    let ws = WebSocket::new(&ev);
    let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let e = errors.clone();
    ws.ssl_errors()
        .connect(move |_, list| e.borrow_mut().extend(list.iter().cloned()));
    ws.open(&url).unwrap();
    run(&ws);
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
    assert!(!errors.borrow().is_empty(), "ssl_errors emitted");
    assert!(
        !server.has_pending_connections(),
        "no upgrade reached the server"
    );

    // Ignored explicitly: it connects.
    let ws = WebSocket::new(&ev);
    ws.ignore_ssl_errors();
    ws.open(&url).unwrap();
    run(&ws);
    assert_eq!(ws.state(), SocketState::Connected);
}
