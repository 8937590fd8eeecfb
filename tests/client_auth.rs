//! HTTP 401 with Basic authentication, as Qt 6.12 does it, on the fake reactor.

use qwebsocket::testing::{FakeReactor, Peer, SignalLog};
use qwebsocket::{SocketError, SocketState, WebSocket};

const CHALLENGE: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\nContent-Length: 0\r\n\r\n";

fn connect(reactor: &FakeReactor) -> Peer {
    reactor.run_until_idle();
    let peer = reactor.next_connection().expect("a connection attempt");
    peer.accept();
    reactor.run_until_idle();
    peer
}

/// Answers the next request with 401 and returns its Authorization header.
fn challenge(reactor: &FakeReactor) -> Option<String> {
    let peer = connect(reactor);
    let req = peer.read_handshake_request().unwrap().expect("a request");
    peer.write(CHALLENGE);
    reactor.run_until_idle();
    header(&req.headers, "authorization")
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

#[test]
fn credentials_in_the_url_are_sent_after_a_401_and_not_before() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let log = SignalLog::record(&ws);
    ws.open("ws://ann:s%3Dcret@127.0.0.1/chat").unwrap();
    assert_eq!(
        challenge(&reactor),
        None,
        "no credentials before the challenge"
    );
    let peer = connect(&reactor);
    let req = peer.accept_handshake().unwrap();
    // base64("ann:s=cret")
    assert_eq!(
        header(&req.headers, "authorization").as_deref(),
        Some("Basic YW5uOnM9Y3JldA==")
    );
    reactor.run_until_idle();
    assert_eq!(
        log.take(),
        ["state:Connecting", "state:Connected", "connected"]
    );
    assert_eq!(
        ws.request_url().unwrap().username(),
        "",
        "user info is dropped once used"
    );
}

#[test]
fn the_authentication_required_slot_supplies_credentials() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.authentication_required().connect(|_, auth| {
        assert_eq!(auth.realm(), "chat");
        auth.set_user("bob");
        auth.set_password("pw");
    });
    ws.open("ws://127.0.0.1/").unwrap();
    challenge(&reactor);
    let peer = connect(&reactor);
    let req = peer.accept_handshake().unwrap();
    assert_eq!(
        header(&req.headers, "authorization").as_deref(),
        Some("Basic Ym9iOnB3")
    );
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
}

#[test]
fn without_credentials_a_401_fails_with_one_error() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let log = SignalLog::record(&ws);
    ws.open("ws://127.0.0.1/").unwrap();
    challenge(&reactor);
    assert_eq!(
        log.take(),
        [
            "state:Connecting",
            "error:ConnectionRefused",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
    assert_eq!(ws.error_string(), "Host requires authentication");
}

#[test]
fn a_second_401_is_not_retried_again() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.open("ws://u:p@127.0.0.1/").unwrap();
    challenge(&reactor);
    assert!(challenge(&reactor).is_some());
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::ConnectionRefused);
    assert_eq!(reactor.pending_connections(), 0, "no third attempt");
}
