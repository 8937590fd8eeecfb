//! The audit of QT-BEHAVIOUR.md sections 3 (open and the opening handshake),
//! 4 (signal order), 5 (data path) and 8 (server) against the code: each test
//! here covers a statement of the spec that no other test covered, or pins
//! down one of the deviations listed in docs/coming-from-qt.md. Sequences run
//! on the fake reactor; TLS and `handle_connection` need real sockets and run
//! on 127.0.0.1, every wait bounded.

mod common;

use common::*;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::protocol::OpCode;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::testing::FakeReactor;
use qwebsocket::{
    CloseCode, MaskGenerator, SocketError, SocketState, SslMode, WebSocket, WebSocketServer,
};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

// ----- helpers -----------------------------------------------------------------

/// Opens `URL`, answers the upgrade request with `response(key)` and returns
/// the log (emptied) and the socket's error string after the failure, having
/// checked the whole failed-handshake sequence (contract item 6, deviation 19).
fn failed_handshake(response: impl FnOnce(&str) -> String) -> String {
    fail_handshake(|_| {}, response).ws.error_string()
}

/// Lines of an HTTP head without the blank line.
fn lines(head: &str) -> Vec<String> {
    head.trim_end_matches("\r\n\r\n")
        .split("\r\n")
        .map(str::to_owned)
        .collect()
}

/// The longest a test waits on a real loop.
const LIMIT: Duration = Duration::from_secs(5);

// ===== 3.1 open() ===============================================================

/// 3.1 step 4: a percent-encoded CRLF in the path is refused inside `open()`
/// with "Invalid resource name.", no state change, nothing sent (Qt's
/// tst_invalidOpen rows 2-3 end up here).
#[test]
fn percent_encoded_crlf_in_the_path_is_an_invalid_resource_name() {
    let (reactor, ws, log) = client_socket();
    assert_eq!(
        ws.open("ws://server.test/a%0D%0Ab"),
        Err(SocketError::ConnectionRefused)
    );
    assert_eq!(take(&log), ["error:ConnectionRefused"]);
    assert_eq!(ws.error_string(), "Invalid resource name.");
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.resource_name(), "");
    reactor.run_until_idle();
    assert!(take(&log).is_empty());
    assert_eq!(reactor.pending_connections(), 0);

    // Deviation 37: the scheme is judged first (Qt looks at the resource first).
    assert_eq!(
        ws.open("http://server.test/a%0D%0Ab"),
        Err(SocketError::UnsupportedSocketOperation)
    );
    assert_eq!(ws.error_string(), "Unsupported WebSocket scheme: http");
}

/// Deviation 37: an `open()` refused at once (bad scheme, bad resource) leaves
/// the current connection as it is. Qt drops the current TCP connection first
/// for these two, without a signal, and keeps reporting `Connected`.
#[test]
fn open_refused_at_once_leaves_the_current_connection_alone() {
    let c = connected_client();
    assert_eq!(
        c.ws.open("http://server.test/"),
        Err(SocketError::UnsupportedSocketOperation)
    );
    assert_eq!(
        c.ws.open("ws://server.test/a%0D%0Ab"),
        Err(SocketError::ConnectionRefused)
    );
    assert_eq!(
        take(&c.log),
        [
            "error:UnsupportedSocketOperation",
            "error:ConnectionRefused"
        ]
    );
    assert_eq!(c.ws.state(), SocketState::Connected);
    assert!(c.ws.is_valid());
    c.reactor.run_until_idle();
    assert!(!c.peer.is_closed_by_library());
    assert_eq!(c.reactor.pending_connections(), 0, "no new connection");
    c.peer.send_text("still here");
    assert_eq!(c.ws.send_text_message("me too"), 6);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        ["text_frame:still here:true", "text:still here"]
    );
    assert_eq!(frames(&c.peer), ["Text:me too(masked)"]);
}

/// 3.1 step 6: `connectToHost` with port 80 for ws and 443 for wss when the URL
/// names none.
#[test]
fn default_ports_are_80_for_ws_and_443_for_wss() {
    for (url, port) in [("ws://server.test/", 80), ("wss://server.test/", 443)] {
        let (reactor, ws, _log) = client_socket();
        ws.open(url).unwrap();
        let peer = pending_tcp(&reactor);
        assert_eq!(peer.addr().port(), port, "{url}");
        peer.accept();
        reactor.run_until_idle();
        assert_eq!(ws.peer_port(), port, "{url}");
    }
}

// ===== 3.2 the request ===========================================================

/// 3.2 / Appendix A: request headers that repeat `Origin`, `Upgrade` or
/// `Sec-WebSocket-Version` are sent in addition to Qt's own lines, after them
/// (names kept as given: deviation 22).
#[test]
fn extra_headers_repeating_handshake_headers_are_sent_in_addition() {
    let reactor = FakeReactor::new();
    reactor.add_host(HOST, "10.0.0.7".parse().unwrap());
    let ws = WebSocket::with_origin(reactor.event_loop(), "http://o.test");
    ws.add_request_header("Origin", "http://extra.test");
    ws.add_request_header("Upgrade", "websocket");
    ws.add_request_header("Sec-WebSocket-Version", "13");
    ws.open("ws://server.test:8080/").unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    assert_eq!(
        lines(&request),
        [
            "GET / HTTP/1.1".to_owned(),
            "Host: server.test:8080".into(),
            "Upgrade: websocket".into(),
            "Connection: Upgrade".into(),
            format!("Sec-WebSocket-Key: {key}"),
            "Origin: http://o.test".into(),
            "Sec-WebSocket-Version: 13".into(),
            "Origin: http://extra.test".into(),
            "Upgrade: websocket".into(),
            "Sec-WebSocket-Version: 13".into(),
        ]
    );
}

/// Section 4, successful connect: `bytes_written` reports the request bytes
/// while still `Connecting`, before `Connected`; afterwards it counts frame
/// bytes with their header (and mask).
#[test]
fn bytes_written_reports_the_request_while_connecting() {
    let (reactor, ws, _log) = client_socket();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    ws.state_changed()
        .connect(move |_, st| s.borrow_mut().push(format!("state:{st:?}")));
    let s = seen.clone();
    ws.bytes_written()
        .connect(move |_, n| s.borrow_mut().push(format!("bytes_written:{n}")));
    let s = seen.clone();
    ws.connected()
        .connect(move |_| s.borrow_mut().push("connected".into()));
    ws.open(URL).unwrap();
    let peer = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &peer);
    let key = header(&request, "Sec-WebSocket-Key").unwrap().to_owned();
    peer.write(switching_protocols(&key, &[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(
        *seen.borrow(),
        [
            "state:Connecting".to_owned(),
            format!("bytes_written:{}", request.len()),
            "state:Connected".into(),
            "connected".into(),
        ]
    );
    seen.borrow_mut().clear();
    assert_eq!(ws.send_text_message("hi"), 2);
    reactor.run_until_idle();
    assert_eq!(*seen.borrow(), ["bytes_written:8"], "2 + 4 (mask) + 2");
}

/// Deviation 45: on wss, `bytes_written` counts the WebSocket bytes handed to
/// TLS (the upgrade request, then each frame with its header), as
/// `bytes_to_write()` does; Qt forwards `encryptedBytesWritten` (TLS records,
/// the ClientHello included).
#[test]
fn bytes_written_on_wss_counts_websocket_bytes_not_tls_records() {
    let ev = EventLoop::new().unwrap();
    let ca = certs::Ca::new("Audit CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let server = wss_server(&ev, &leaf);
    let port = server.server_port();

    let ws = WebSocket::new(&ev);
    let mut config = SslConfiguration::default();
    config.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    ws.set_ssl_configuration(config);
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    ws.bytes_written()
        .connect(move |_, n| s.borrow_mut().push(format!("bytes_written:{n}")));
    let s = seen.clone();
    ws.connected()
        .connect(move |_| s.borrow_mut().push("connected".into()));
    ws.open(&format!("wss://127.0.0.1:{port}/")).unwrap();
    assert!(spin(&ev, LIMIT, || ws.state() == SocketState::Connected));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "k".repeat(24)
    );
    assert_eq!(
        *seen.borrow(),
        [
            format!("bytes_written:{}", request.len()),
            "connected".into()
        ]
    );
    seen.borrow_mut().clear();
    assert_eq!(ws.send_text_message("hi"), 2);
    assert!(spin(&ev, LIMIT, || !seen.borrow().is_empty()));
    assert_eq!(*seen.borrow(), ["bytes_written:8"]);
}

// ===== 3.3 the response ==========================================================

/// 3.3: the `Sec-WebSocket-Version` of a 101 is not looked at.
#[test]
fn version_header_in_a_101_is_ignored() {
    let (reactor, ws, log) = client_socket();
    open_and_answer(&reactor, &ws, |key| {
        switching_protocols(key, &["Sec-WebSocket-Version: 8"])
    });
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
}

/// 3.3, header block unparsable: "Parsing handshake request header failed".
#[test]
fn unparsable_response_headers_fail_the_handshake() {
    let msg = failed_handshake(|_| {
        "HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n".to_owned()
    });
    assert_eq!(msg, "Parsing handshake request header failed");
}

/// 3.3, no CRLFCRLF within 819204 bytes: "Header is too large", and (deviation
/// 19) the connection ends, where Qt stays `Connecting` with TCP open.
#[test]
fn response_head_over_the_limit_fails_and_disconnects() {
    let msg = failed_handshake(|_| {
        let mut s = "HTTP/1.1 101 Switching Protocols\r\n".to_owned();
        let line = format!("X-Pad: {}\r\n", "a".repeat(8000));
        for _ in 0..110 {
            s.push_str(&line);
        }
        s
    });
    assert_eq!(msg, "Header is too large");
}

/// Deviation 38: the status is judged before the subprotocol, so a 403 that
/// names a protocol never requested is reported as a 403 (Qt reports the
/// protocol). Error strings drop Qt's `QWebSocketPrivate::processHandshake: `
/// prefix.
#[test]
fn a_refused_status_is_reported_before_an_unrequested_subprotocol() {
    let msg = failed_handshake(|_| {
        "HTTP/1.1 403 Access Forbidden\r\nSec-WebSocket-Protocol: chat\r\n\r\n".to_owned()
    });
    assert_eq!(msg, "Unhandled http status code: 403 (Access Forbidden).");
}

/// Deviation 38: a 400 that is not about the version is reported with its
/// status like any other (Qt: "Unknown error condition encountered. Aborting
/// connection.").
#[test]
fn status_400_without_a_version_problem_is_reported_with_its_status() {
    let msg = failed_handshake(|_| {
        "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned()
    });
    assert_eq!(msg, "Unhandled http status code: 400 (Bad Request).");
}

// ===== 3.4 HTTP 401 ===============================================================

/// 3.4: a challenge that is not Basic fails at once with Qt's words, one
/// error and two state changes; the slot is not asked.
#[test]
fn a_401_with_an_unsupported_challenge_fails_with_one_error() {
    let (reactor, ws, log) = client_socket();
    let asked = Rc::new(Cell::new(0));
    let a = asked.clone();
    ws.authentication_required()
        .connect(move |_, _| a.set(a.get() + 1));
    open_and_answer(&reactor, &ws, |_| {
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"x\", nonce=\"1\"\r\n\
          Content-Length: 0\r\n\r\n"
    });
    assert_eq!(take(&log), HANDSHAKE_FAILED);
    assert_eq!(
        ws.error_string(),
        "Unsupported WWW-Authenticate challenge(s) encountered."
    );
    assert_eq!(asked.get(), 0);
    assert_eq!(reactor.pending_connections(), 0, "no retry");
}

/// Deviation 39: the retry after a 401 goes over a new connection, and there
/// is one retry per `open()`: when the URL's credentials are refused, the
/// `authentication_required` slot is not asked (Qt asks it then).
#[test]
fn after_url_credentials_are_refused_the_slot_is_not_asked() {
    const CHALLENGE: &[u8] =
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n";
    let (reactor, ws, log) = client_socket();
    let asked = Rc::new(Cell::new(0));
    let a = asked.clone();
    ws.authentication_required().connect(move |_, auth| {
        a.set(a.get() + 1);
        auth.set_user("slot");
        auth.set_password("pw");
    });
    ws.open("ws://ann:wrong@server.test/").unwrap();
    let first = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &first);
    assert_eq!(header(&request, "Authorization"), None);
    first.write(CHALLENGE);
    reactor.run_until_idle();
    assert!(
        first.is_closed_by_library(),
        "the retry is a new connection"
    );
    let second = pending_tcp(&reactor);
    let request = accept_tcp(&reactor, &second);
    assert_eq!(
        header(&request, "Authorization"),
        Some("Basic YW5uOndyb25n"),
        "base64(ann:wrong)"
    );
    second.write(CHALLENGE);
    reactor.run_until_idle();
    assert_eq!(asked.get(), 0);
    assert_eq!(
        take(&log),
        HANDSHAKE_FAILED,
        "the state stays Connecting through the retry"
    );
    assert_eq!(ws.error_string(), "Host requires authentication");
    assert_eq!(reactor.pending_connections(), 0);
}

// ===== 4. signal order ============================================================

/// Section 4, `close()` right after `open()` (TCP not up yet): Qt reports
/// UnfinishedSocketOperationError; we drop the attempt without an error
/// (deviation 8): about_to_close, Unconnected, disconnected,
/// read_channel_finished, all before `close()` returns.
#[test]
fn close_right_after_open_drops_the_attempt_without_an_error() {
    let (reactor, ws, log) = client_socket();
    ws.open(URL).unwrap();
    ws.close(CloseCode::Normal, "").unwrap();
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "about_to_close",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    reactor.run_until_idle();
    assert!(take(&log).is_empty());
    assert_eq!(reactor.pending_connections(), 0, "no TCP connect");
    assert_eq!(ws.error(), SocketError::Unknown);
    assert_eq!(reactor.event_loop().live_connections(), 0);
}

/// Section 4, TLS failure not ignored: peer_verify_error, ssl_errors, then
/// error_occurred(SslHandshakeFailed) with the first error's text, then
/// Unconnected, disconnected, read_channel_finished; no about_to_close.
#[test]
fn tls_failure_reports_the_error_before_unconnected_and_no_about_to_close() {
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["127.0.0.1"]);
    let server = wss_server(&ev, &leaf);

    let ws = WebSocket::new(&ev);
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    ws.state_changed()
        .connect(move |_, st| s.borrow_mut().push(format!("state:{st:?}")));
    let s = seen.clone();
    ws.peer_verify_error().connect(move |_, e| {
        s.borrow_mut()
            .push(format!("peer_verify_error:{:?}", e.kind()))
    });
    let s = seen.clone();
    let first = Rc::new(RefCell::new(String::new()));
    let f = first.clone();
    ws.ssl_errors().connect(move |_, errors| {
        let kinds: Vec<_> = errors.iter().map(|e| e.kind()).collect();
        s.borrow_mut().push(format!("ssl_errors:{kinds:?}"));
        *f.borrow_mut() = errors[0].error_string();
    });
    let s = seen.clone();
    ws.error_occurred()
        .connect(move |_, e| s.borrow_mut().push(format!("error:{e:?}")));
    let s = seen.clone();
    ws.about_to_close()
        .connect(move |_| s.borrow_mut().push("about_to_close".into()));
    let s = seen.clone();
    ws.disconnected()
        .connect(move |_| s.borrow_mut().push("disconnected".into()));
    let s = seen.clone();
    ws.read_channel_finished()
        .connect(move |_| s.borrow_mut().push("read_channel_finished".into()));
    ws.open(&format!("wss://127.0.0.1:{}/", server.server_port()))
        .unwrap();
    assert!(spin(&ev, LIMIT, || ws.state() == SocketState::Unconnected));
    assert_eq!(
        *seen.borrow(),
        [
            "state:Connecting",
            "peer_verify_error:SelfSignedCertificate",
            "ssl_errors:[SelfSignedCertificate]",
            "error:SslHandshakeFailed",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
    assert!(!first.borrow().is_empty());
    assert_eq!(ws.error_string(), *first.borrow(), "the first error's text");
}

// ===== 5.1 frame parsing order ====================================================

/// 5.1: the header checks run in Qt's order and the first failure names the
/// close reason: RSV before the opcode, the opcode before the control-frame
/// rules, the size of a control frame before its FIN bit, RSV before the
/// masking direction (ours, deviation 12), and the frame size limit (1009)
/// before the continuation rule of 5.2.
#[test]
fn the_first_failing_header_check_names_the_close_reason() {
    let rows: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "RSV1 and reserved opcode 3",
            vec![0xc3, 0x00],
            1002,
            "Rsv field is non-zero",
        ),
        (
            "reserved opcode 0xB announcing 200 bytes",
            vec![0x8b, 126, 0, 200],
            1002,
            "Used reserved opcode",
        ),
        (
            "ping without FIN announcing 200 bytes",
            vec![0x09, 126, 0, 200],
            1002,
            "Control frame is larger than 125 bytes",
        ),
        (
            "masked frame from a server with RSV2",
            raw_frame(true, 0b010, OpCode::Text, Some([1, 2, 3, 4]), b"hi"),
            1002,
            "Rsv field is non-zero",
        ),
        (
            "continuation without a start, over the frame limit",
            frame_header(true, 0, OpCode::Continuation, None, 20),
            1009,
            "Maximum framesize exceeded.",
        ),
    ];
    for (what, bytes, code, reason) in rows {
        let c = connected_client();
        c.ws.set_max_allowed_incoming_frame_size(10);
        c.peer.write(&bytes);
        c.reactor.run_until_idle();
        assert_eq!(
            take(&c.log),
            ["error:Protocol", "about_to_close", "state:Closing"],
            "{what}"
        );
        assert_eq!(
            frames(&c.peer),
            [format!("Close:{code}:{reason}(masked)")],
            "{what}"
        );
        assert_eq!(c.ws.error_string(), reason, "{what}");
        assert_close_code(&c.ws, code, reason);
    }
}

/// Contract item 15: the default limits are 16 MiB per frame and 64 MiB per
/// message, on client and server-side sockets alike; a header announcing one
/// byte more than the frame limit fails with 1009 before any payload; Qt's
/// maxima can still be set.
#[test]
fn default_size_limits_are_16_and_64_mib() {
    let c = connected_client();
    assert_eq!(c.ws.max_allowed_incoming_frame_size(), 16 << 20);
    assert_eq!(c.ws.max_allowed_incoming_message_size(), 64 << 20);
    let (reactor, server, addr, _slog) = listening_server();
    let up = upgrade(&reactor, &server, addr);
    assert_eq!(up.ws.max_allowed_incoming_frame_size(), 16 << 20);
    assert_eq!(up.ws.max_allowed_incoming_message_size(), 64 << 20);

    c.peer
        .write(&frame_header(true, 0, OpCode::Binary, None, (16 << 20) + 1));
    c.reactor.run_until_idle();
    assert_eq!(
        frames(&c.peer),
        ["Close:1009:Maximum framesize exceeded.(masked)"]
    );

    let fresh = WebSocket::new(c.reactor.event_loop());
    fresh.set_max_allowed_incoming_frame_size(qwebsocket::MAX_INCOMING_SIZE);
    fresh.set_max_allowed_incoming_message_size(qwebsocket::MAX_INCOMING_SIZE);
    assert_eq!(fresh.max_allowed_incoming_frame_size(), 2_147_483_646);
    assert_eq!(fresh.max_allowed_incoming_message_size(), 2_147_483_646);
}

// ===== 5.2 message assembly =======================================================

/// 5.2: zero-length data frames are delivered (an empty frame and an empty
/// message), also as the first fragment of a message.
#[test]
fn empty_messages_and_empty_fragments_are_delivered() {
    let c = connected_client();
    c.peer.send_text("");
    c.peer.send_binary(&[]);
    c.peer.send_frame(false, OpCode::Text, b"");
    c.peer.send_frame(true, OpCode::Continuation, b"ab");
    c.peer.send_frame(false, OpCode::Binary, &[7]);
    c.peer.send_frame(true, OpCode::Continuation, &[]);
    c.reactor.run_until_idle();
    assert_eq!(
        take(&c.log),
        [
            "text_frame::true",
            "text:",
            "binary_frame::true",
            "binary:",
            "text_frame::false",
            "text_frame:ab:true",
            "text:ab",
            "binary_frame:07:false",
            "binary_frame::true",
            "binary:07"
        ]
    );
    assert!(c.peer.frames().is_empty(), "data frames are not answered");
}

/// 5.2: a pong is reported whether or not it answers a ping, with its own
/// payload; without any `ping()` the time is counted from the socket's
/// creation (Qt: from construction).
#[test]
fn an_unsolicited_pong_reports_the_time_since_the_socket_was_made() {
    let (reactor, ws, log) = client_socket();
    reactor.advance(Duration::from_millis(101));
    let peer = open_and_answer(&reactor, &ws, |key| switching_protocols(key, &[]));
    take(&log);
    peer.send_pong(b"unasked");
    reactor.run_until_idle();
    assert_eq!(take(&log), ["pong:101ms:unasked"]);
    assert!(peer.frames().is_empty(), "a pong is not answered");

    // After a ping the time counts from it, whatever the pong carries.
    reactor.advance(Duration::from_millis(40));
    assert!(ws.ping(b"mine"));
    reactor.advance(Duration::from_millis(7));
    peer.send_pong(b"other");
    reactor.run_until_idle();
    assert_eq!(take(&log), ["pong:7ms:other"]);
}

// ===== 5.3 sending ================================================================

/// 5.3: a message is split into frames of the outgoing frame size, first
/// Text/Binary then Continuation, FIN on the last, each with its own mask;
/// `bytes_to_write()` counts headers, keys and payload (29 for "hello world"
/// in frames of 4); the return value is the UTF-8 payload length; an empty
/// message returns 0 yet sends one empty frame; nothing leaves before control
/// returns to the loop.
#[test]
fn sending_splits_counts_and_queues_like_qt() {
    let c = connected_client();
    c.ws.set_outgoing_frame_size(4);
    assert_eq!(c.ws.send_text_message("hello world"), 11);
    assert_eq!(c.ws.bytes_to_write(), 29);
    assert!(c.peer.take_bytes().is_empty(), "nothing written yet");
    c.reactor.run_until_idle();
    assert_eq!(c.ws.bytes_to_write(), 0);
    assert_eq!(
        frames(&c.peer),
        [
            "Text:hell(more)(masked)",
            "Continuation:o wo(more)(masked)",
            "Continuation:rld(masked)"
        ]
    );

    c.ws.set_outgoing_frame_size(1 << 20);
    assert_eq!(c.ws.send_text_message("éé"), 4);
    assert_eq!(c.ws.send_text_message(""), 0);
    assert_eq!(c.ws.send_binary_message(&[]), 0);
    c.reactor.run_until_idle();
    assert_eq!(
        frames(&c.peer),
        ["Text:éé(masked)", "Text:(masked)", "Binary:(masked)"]
    );
}

/// 5.1 / deviation 44: a mask generator that returns 0 still masks (the mask
/// bit is set and the key is 00 00 00 00); Qt sends such frames unmasked.
#[test]
fn a_zero_mask_key_still_sets_the_mask_bit() {
    struct Zero;
    impl MaskGenerator for Zero {
        fn next_mask(&mut self) -> u32 {
            0
        }
    }
    let c = connected_client();
    c.ws.set_mask_generator(Some(Box::new(Zero)));
    assert_eq!(c.ws.send_text_message("hi"), 2);
    c.reactor.run_until_idle();
    assert_eq!(c.peer.take_bytes(), [0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
}

// ===== 8. server ==================================================================

/// 8: Qt looks at the pending queue before anything else, so a client refused
/// for a full queue is never the subject of `origin_authentication_required`
/// (and a refused origin does not hide the full queue). We answer 503
/// (deviation 26) with server_error(1006).
#[test]
fn a_full_queue_refuses_without_asking_about_the_origin() {
    let (reactor, server, addr, slog) = listening_server();
    server.set_max_pending_connections(1);
    let asked = Rc::new(RefCell::new(Vec::<String>::new()));
    let a = asked.clone();
    server
        .origin_authentication_required()
        .connect(move |_, auth| {
            a.borrow_mut().push(auth.origin().to_owned());
            auth.set_allowed(auth.origin() != "http://refused.test");
        });
    let first = reactor.connect(addr).unwrap();
    first.write(upgrade_request(&["Origin: http://first.test"]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(take(&slog), ["new_connection"]);
    assert_eq!(*asked.borrow(), ["http://first.test"]);

    let second = reactor.connect(addr).unwrap();
    second.write(upgrade_request(&["Origin: http://refused.test"]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(*asked.borrow(), ["http://first.test"], "not asked again");
    assert_eq!(take(&slog), ["server_error:1006"]);
    assert_eq!(server.error_string(), "Too many pending connections.");
    let (head, _) = split_response(&second.take_bytes());
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(second.is_closed_by_library());
}

/// 8: dropping the server is `close()` without `closed` (Qt's destructor):
/// queued sockets get 1001 "Server closed.", and no signal comes.
#[test]
fn dropping_the_server_emits_no_closed() {
    let (reactor, server, addr, slog) = listening_server();
    let peer = reactor.connect(addr).unwrap();
    peer.write(upgrade_request(&[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(take(&slog), ["new_connection"]);
    split_response(&peer.take_bytes());
    drop(server);
    reactor.run_until_idle();
    assert!(take(&slog).is_empty(), "no closed from a dropped server");
    assert_eq!(frames(&peer), ["Close:1001:Server closed."]);
}

/// 8: a CR or LF in the server name (possible through `set_server_name`) is
/// caught when the answer is built, after the origin was asked about:
/// server_error(1006) with Qt's words, and no upgrade. Qt writes a broken
/// mixed 101/400 answer; we answer `500 Internal Server Error` (deviation 42).
#[test]
fn a_newline_in_the_server_name_is_server_error_1006() {
    let (reactor, server, addr, slog) = listening_server();
    server.set_server_name("evil\r\nX-Injected: 1");
    let asked = Rc::new(Cell::new(0));
    let a = asked.clone();
    server
        .origin_authentication_required()
        .connect(move |_, _| a.set(a.get() + 1));
    let peer = reactor.connect(addr).unwrap();
    peer.write(upgrade_request(&[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(asked.get(), 1);
    assert_eq!(take(&slog), ["server_error:1006"]);
    assert_eq!(server.error(), CloseCode::AbnormalDisconnection);
    assert_eq!(
        server.error_string(),
        "One of the headers contains a newline. Possible attack detected."
    );
    assert!(!server.has_pending_connections());
    let (head, rest) = split_response(&peer.take_bytes());
    assert_eq!(
        lines(&head),
        [
            "HTTP/1.1 500 Internal Server Error",
            "Content-Length: 0",
            "Connection: close"
        ]
    );
    assert!(rest.is_empty());
    assert!(!head.contains("X-Injected"));
    assert!(peer.is_closed_by_library());
}

/// Deviation 42: the whole request, version included, is checked before
/// `origin_authentication_required`: a version we do not speak is answered
/// 426 (deviation 25) without asking about the origin, even a refused one.
/// Qt asks first, then answers 400 (or 403 for the refused origin).
#[test]
fn an_unsupported_version_is_refused_before_the_origin_is_asked() {
    let (reactor, server, addr, slog) = listening_server();
    let asked = Rc::new(Cell::new(0));
    let a = asked.clone();
    server
        .origin_authentication_required()
        .connect(move |_, auth| {
            a.set(a.get() + 1);
            auth.set_allowed(false);
        });
    let peer = reactor.connect(addr).unwrap();
    let request = upgrade_request(&["Origin: http://refused.test"])
        .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    peer.write(request.as_bytes());
    reactor.run_until_idle();
    assert_eq!(asked.get(), 0);
    assert_eq!(take(&slog), ["server_error:1002"]);
    let (head, _) = split_response(&peer.take_bytes());
    assert_eq!(header(&head, "Sec-WebSocket-Version"), Some("13"));
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
}

/// 8: a request head over 819204 bytes without its blank line is
/// server_error(1009) "Header is too large." (we also answer 400: deviation 25).
#[test]
fn a_request_head_over_the_limit_reports_header_is_too_large() {
    let (reactor, server, addr, slog) = listening_server();
    let peer = reactor.connect(addr).unwrap();
    peer.write(b"GET / HTTP/1.1\r\n");
    let line = format!("X-Pad: {}\r\n", "b".repeat(8000));
    for _ in 0..110 {
        peer.write(line.as_bytes());
    }
    reactor.run_until_idle();
    assert_eq!(take(&slog), ["server_error:1009"]);
    assert_eq!(server.error_string(), "Header is too large.");
}

/// 8, subprotocol choice: the first name of the client's list the server
/// supports, but only a name that may be sent (an HTTP token): a supported
/// name with a space is skipped like an unsupported one, and the upgrade goes
/// on without it (it used to end in a bare 500).
#[test]
fn a_supported_subprotocol_that_is_not_a_token_is_not_chosen() {
    let (reactor, server, addr, slog) = listening_server();
    server.set_supported_subprotocols(&["bad name", "chat"]);
    for (offered, chosen) in [("bad name", None), ("bad name, chat", Some("chat"))] {
        let peer = reactor.connect(addr).unwrap();
        let line = format!("Sec-WebSocket-Protocol: {offered}");
        peer.write(upgrade_request(&[&line]).as_bytes());
        reactor.run_until_idle();
        let (head, _) = split_response(&peer.take_bytes());
        assert!(head.starts_with("HTTP/1.1 101 "), "{offered}: {head}");
        assert_eq!(header(&head, "Sec-WebSocket-Protocol"), chosen, "{offered}");
        assert_eq!(take(&slog), ["new_connection"], "{offered}");
        let ws = server.next_pending_connection().unwrap();
        assert_eq!(ws.subprotocol(), chosen.unwrap_or_default());
    }
}

/// Deviation 46: on a server-side socket, `resource_name()` is the
/// request-target and `request()` keeps the header names as the client sent
/// them; `request_url()` is the whole URL. Qt gives the whole URL as the
/// resource name and lower-cases the names.
#[test]
fn server_side_resource_name_is_the_target_and_header_names_keep_their_case() {
    let (reactor, server, addr, _slog) = listening_server();
    let peer = reactor.connect(addr).unwrap();
    let request = upgrade_request(&["X-Mixed-Case: 1"]).replace("GET /chat ", "GET /room/1?x=1 ");
    peer.write(request.as_bytes());
    reactor.run_until_idle();
    let ws = server.next_pending_connection().expect("upgraded");
    assert_eq!(ws.resource_name(), "/room/1?x=1");
    assert_eq!(
        ws.request_url().map(|u| u.to_string()).as_deref(),
        Some("ws://server.test/room/1?x=1")
    );
    let req = ws.request();
    let names: Vec<&str> = req.headers().iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-Mixed-Case"), "{names:?}");
    assert!(names.contains(&"Sec-WebSocket-Key"), "{names:?}");
}

/// 8: no handshake timer is started for a connection given with
/// `handle_connection` (Qt neither): it may stay silent longer than the
/// server's handshake timeout and still upgrade.
#[test]
fn handle_connection_starts_no_handshake_timer() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    server.set_handshake_timeout(Some(Duration::from_millis(50)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    server.handle_connection(accepted).unwrap();

    // Five times the timeout without a byte.
    let until = Instant::now() + Duration::from_millis(250);
    while Instant::now() < until {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
    }
    client.write_all(upgrade_request(&[]).as_bytes()).unwrap();
    assert!(spin(&ev, LIMIT, || server.has_pending_connections()));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).unwrap();
        assert_ne!(n, 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}
