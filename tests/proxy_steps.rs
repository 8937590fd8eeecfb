//! Proxies on the fake reactor, byte for byte: the CONNECT request and the
//! SOCKS5 exchange as the proxy sees them, the upgrade inside the tunnel,
//! credentials asked for and retried once, and each failure with its error,
//! its message and Qt's signal order. No real socket, no sleeping.

mod common;

use common::*;
use qwebsocket::proxy::{Proxy, ProxyType};
use qwebsocket::testing::{FakeReactor, Peer};
use qwebsocket::{SocketError, SocketState, WebSocket};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

const PROXY_HOST: &str = "proxy.test";
const PROXY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 99);

/// A reactor where only the proxy's name resolves (not the server's, so a
/// lookup of the server's name from the client would fail the test), and a
/// recorded socket set to use `proxy`.
fn proxied(proxy: Proxy) -> (FakeReactor, WebSocket, Log) {
    let reactor = FakeReactor::new();
    reactor.add_host(PROXY_HOST, IpAddr::V4(PROXY_IP));
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_proxy(proxy);
    let log = record(&ws);
    (reactor, ws, log)
}

/// Takes the socket's pending TCP connection, which must go to the proxy.
fn proxy_connection(reactor: &FakeReactor, port: u16) -> Peer {
    let peer = pending_tcp(reactor);
    assert_eq!(
        peer.addr(),
        (PROXY_IP, port).into(),
        "connects to the proxy"
    );
    peer
}

/// Completes the TCP connect and returns what the socket sent.
fn accept(reactor: &FakeReactor, peer: &Peer) -> Vec<u8> {
    peer.accept();
    reactor.run_until_idle();
    peer.take_bytes()
}

/// Writes the proxy's reply and returns what the socket sent next.
fn reply(reactor: &FakeReactor, peer: &Peer, bytes: &[u8]) -> Vec<u8> {
    peer.write(bytes);
    reactor.run_until_idle();
    peer.take_bytes()
}

/// Answers an upgrade request and checks the socket is connected.
fn finish_upgrade(reactor: &FakeReactor, peer: &Peer, request: &[u8], ws: &WebSocket) {
    let request = String::from_utf8(request.to_vec()).unwrap();
    assert!(request.starts_with("GET /chat HTTP/1.1\r\n"), "{request}");
    assert_eq!(header(&request, "Host"), Some("chat.example:8080"));
    let key = header(&request, "Sec-WebSocket-Key").unwrap();
    peer.write(switching_protocols(key, &[]).as_bytes());
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
}

const URL: &str = "ws://chat.example:8080/chat";
const CONNECT: &[u8] = b"CONNECT chat.example:8080 HTTP/1.1\r\nHost: chat.example:8080\r\n\r\n";

// ===== HTTP CONNECT ============================================================

#[test]
fn http_connect_tunnel_then_upgrade_inside_it() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    assert_eq!(accept(&reactor, &peer), CONNECT);
    assert_eq!(
        take(&log),
        ["state:Connecting"],
        "nothing else before the reply"
    );
    let request = reply(
        &reactor,
        &peer,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
    );
    finish_upgrade(&reactor, &peer, &request, &ws);
    assert_eq!(take(&log), ["state:Connected", "connected"]);
    assert_eq!(
        ws.peer_name(),
        "chat.example",
        "the server's name, not the proxy's"
    );
    ws.send_text_message("through");
    reactor.run_until_idle();
    assert_eq!(peer.frames()[0].text(), Some("through"));
    peer.send_text("back");
    reactor.run_until_idle();
    assert_eq!(take(&log), ["text_frame:back:true", "text:back"]);
}

#[test]
fn http_reply_split_into_single_bytes_and_followed_by_the_101() {
    let (reactor, ws, _log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    accept(&reactor, &peer);
    for &b in b"HTTP/1.0 200 OK\r\nProxy-agent: test\r\n\r" {
        assert!(reply(&reactor, &peer, &[b]).is_empty());
    }
    let request = reply(&reactor, &peer, b"\n");
    assert!(request.starts_with(b"GET /chat"));
    assert_eq!(ws.state(), SocketState::Connecting);
}

#[test]
fn http_credentials_of_the_proxy_are_sent_at_once() {
    let proxy = Proxy::http(PROXY_HOST, 3128).with_credentials("ann", "s3cret");
    let (reactor, ws, log) = proxied(proxy);
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    assert_eq!(
        String::from_utf8(accept(&reactor, &peer)).unwrap(),
        "CONNECT chat.example:8080 HTTP/1.1\r\nHost: chat.example:8080\r\n\
         Proxy-Authorization: Basic YW5uOnMzY3JldA==\r\n\r\n"
    );
    let request = reply(&reactor, &peer, b"HTTP/1.1 200 OK\r\n\r\n");
    finish_upgrade(&reactor, &peer, &request, &ws);
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
}

#[test]
fn http_407_asks_the_slot_and_retries_once_on_a_new_connection() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.proxy_authentication_required()
        .connect(|_, proxy, auth| {
            assert_eq!(proxy.kind(), ProxyType::HttpProxy);
            auth.set_user("ann");
            auth.set_password("pw");
        });
    ws.open(URL).unwrap();
    let first = proxy_connection(&reactor, 3128);
    assert_eq!(accept(&reactor, &first), CONNECT);
    reply(
        &reactor,
        &first,
        b"HTTP/1.1 407 Proxy Authentication Required\r\n\
          Proxy-Authenticate: Basic realm=\"Office\"\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(
        first.is_closed_by_library(),
        "the refused connection is dropped"
    );
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "proxy_authentication_required:proxy.test:3128:Office"
        ],
        "the state stays Connecting during the retry"
    );
    let second = proxy_connection(&reactor, 3128);
    let sent = String::from_utf8(accept(&reactor, &second)).unwrap();
    assert_eq!(
        header(&sent, "Proxy-Authorization"),
        Some("Basic YW5uOnB3"),
        "{sent}"
    );
    let request = reply(&reactor, &second, b"HTTP/1.1 200 OK\r\n\r\n");
    finish_upgrade(&reactor, &second, &request, &ws);
    assert_eq!(take(&log), ["state:Connected", "connected"]);
    assert_eq!(ws.proxy().user(), "", "the setting itself is not changed");
}

#[test]
fn http_407_twice_fails_with_the_status_line() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    let asked = Rc::new(Cell::new(0));
    let a = asked.clone();
    ws.proxy_authentication_required()
        .connect(move |_, _, auth| {
            a.set(a.get() + 1);
            auth.set_user("ann");
            auth.set_password("wrong");
        });
    ws.open(URL).unwrap();
    let denied = b"HTTP/1.1 407 Denied\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n";
    for _ in 0..2 {
        let peer = proxy_connection(&reactor, 3128);
        accept(&reactor, &peer);
        reply(&reactor, &peer, denied);
    }
    assert_eq!(asked.get(), 1, "asked once per open");
    assert_eq!(reactor.pending_connections(), 0, "no third attempt");
    assert_eq!(ws.error(), SocketError::ProxyAuthenticationRequired);
    assert_eq!(
        ws.error_string(),
        "HTTP proxy proxy.test:3128: the credentials were refused (HTTP/1.1 407 Denied)"
    );
    assert_eq!(
        &take(&log)[2..],
        [
            "state:Unconnected",
            "disconnected",
            "error:ProxyAuthenticationRequired"
        ]
    );
}

#[test]
fn http_407_without_a_slot_fails_at_once() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    accept(&reactor, &peer);
    reply(&reactor, &peer, b"HTTP/1.1 407 Auth\r\n\r\n");
    assert_eq!(ws.error(), SocketError::ProxyAuthenticationRequired);
    assert_eq!(
        ws.error_string(),
        "HTTP proxy proxy.test:3128: authentication required (HTTP/1.1 407 Auth)"
    );
    assert_eq!(reactor.pending_connections(), 0);
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "proxy_authentication_required:proxy.test:3128:",
            "state:Unconnected",
            "disconnected",
            "error:ProxyAuthenticationRequired"
        ]
    );
}

#[test]
fn http_refusals_and_garbage_have_their_own_errors() {
    let cases: [(&[u8], SocketError, &str); 4] = [
        (
            b"HTTP/1.1 403 Filtered\r\n\r\n",
            SocketError::ProxyConnectionRefused,
            "HTTP proxy proxy.test:3128: refused the tunnel to chat.example:8080: HTTP/1.1 403 Filtered",
        ),
        (
            b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
            SocketError::ProxyProtocol,
            "HTTP proxy proxy.test:3128: unexpected reply to CONNECT chat.example:8080: HTTP/1.1 502 Bad Gateway",
        ),
        (
            b"\x05\x00",
            SocketError::ProxyProtocol,
            "HTTP proxy proxy.test:3128: not an HTTP reply (invalid HTTP version): \"\\x05\\x00\"",
        ),
        (
            b"HTTP/1.1 503 Service Unavailable\r\n\r\n",
            SocketError::ConnectionRefused,
            "HTTP proxy proxy.test:3128: could not connect to chat.example:8080: HTTP/1.1 503 Service Unavailable",
        ),
    ];
    for (answer, kind, text) in cases {
        let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
        ws.open(URL).unwrap();
        let peer = proxy_connection(&reactor, 3128);
        accept(&reactor, &peer);
        reply(&reactor, &peer, answer);
        assert_eq!((ws.error(), ws.error_string()), (kind, text.to_owned()));
        assert_eq!(
            take(&log),
            [
                "state:Connecting".to_owned(),
                "state:Unconnected".into(),
                "disconnected".into(),
                format!("error:{kind:?}")
            ]
        );
        assert!(peer.is_closed_by_library());
    }
}

// ===== SOCKS5 ==================================================================

#[test]
fn socks5_exchange_byte_for_byte_with_the_name_resolved_by_the_proxy() {
    let (reactor, ws, log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 1080);
    assert_eq!(
        accept(&reactor, &peer),
        [5, 2, 0, 2],
        "greeting: no auth, user/password"
    );
    let request = reply(&reactor, &peer, &[5, 0]);
    let mut expected = vec![5, 1, 0, 3, 12];
    expected.extend_from_slice(b"chat.example");
    expected.extend_from_slice(&8080u16.to_be_bytes());
    assert_eq!(
        request, expected,
        "CONNECT to the name, for the proxy to resolve"
    );
    let upgrade = reply(&reactor, &peer, &[5, 0, 0, 1, 10, 0, 0, 99, 0x9c, 0x40]);
    finish_upgrade(&reactor, &peer, &upgrade, &ws);
    assert_eq!(
        take(&log),
        ["state:Connecting", "state:Connected", "connected"]
    );
}

#[test]
fn socks5_to_an_ipv6_literal_uses_address_type_4() {
    let (reactor, ws, _log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
    ws.open("ws://[2001:db8::5]:9000/").unwrap();
    let peer = proxy_connection(&reactor, 1080);
    accept(&reactor, &peer);
    let request = reply(&reactor, &peer, &[5, 0]);
    let mut expected = vec![5, 1, 0, 4];
    expected.extend_from_slice(
        &"2001:db8::5"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    expected.extend_from_slice(&9000u16.to_be_bytes());
    assert_eq!(request, expected);
}

#[test]
fn socks5_username_password_from_the_slot_on_a_new_connection() {
    let (reactor, ws, log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
    ws.proxy_authentication_required().connect(|_, _, auth| {
        auth.set_user("ann");
        auth.set_password("pw");
    });
    ws.open(URL).unwrap();
    let first = proxy_connection(&reactor, 1080);
    accept(&reactor, &first);
    assert!(
        reply(&reactor, &first, &[5, 2]).is_empty(),
        "nothing sent without credentials"
    );
    assert!(first.is_closed_by_library());
    let second = proxy_connection(&reactor, 1080);
    assert_eq!(accept(&reactor, &second), [5, 2, 0, 2]);
    assert_eq!(
        reply(&reactor, &second, &[5, 2]),
        [1, 3, b'a', b'n', b'n', 2, b'p', b'w'],
        "RFC 1929 sub-negotiation"
    );
    let request = reply(&reactor, &second, &[1, 0]);
    assert_eq!(request[..4], [5, 1, 0, 3]);
    let upgrade = reply(&reactor, &second, &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    finish_upgrade(&reactor, &second, &upgrade, &ws);
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "proxy_authentication_required:proxy.test:1080:",
            "state:Connected",
            "connected"
        ]
    );
}

#[test]
fn socks5_refused_credentials_without_a_slot_fail() {
    let proxy = Proxy::socks5(PROXY_HOST, 1080).with_credentials("ann", "bad");
    let (reactor, ws, _log) = proxied(proxy);
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 1080);
    accept(&reactor, &peer);
    reply(&reactor, &peer, &[5, 2]);
    reply(&reactor, &peer, &[1, 1]);
    assert_eq!(ws.error(), SocketError::ProxyAuthenticationRequired);
    assert_eq!(
        ws.error_string(),
        "SOCKS5 proxy proxy.test:1080: the credentials were refused (status 0x01)"
    );
}

#[test]
fn socks5_reply_codes_have_their_own_errors() {
    for (code, kind, what) in [
        (
            2u8,
            SocketError::ProxyConnectionRefused,
            "connection not allowed by ruleset",
        ),
        (4, SocketError::HostNotFound, "host unreachable"),
        (5, SocketError::ConnectionRefused, "connection refused"),
    ] {
        let (reactor, ws, _log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
        ws.open(URL).unwrap();
        let peer = proxy_connection(&reactor, 1080);
        accept(&reactor, &peer);
        reply(&reactor, &peer, &[5, 0]);
        reply(&reactor, &peer, &[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ws.error(), kind);
        assert_eq!(
            ws.error_string(),
            format!("SOCKS5 proxy proxy.test:1080: chat.example:8080: {what} (reply 0x{code:02x})")
        );
        assert_eq!(ws.state(), SocketState::Unconnected);
    }
}

// ===== failures on the way to the proxy ========================================

#[test]
fn proxy_host_that_does_not_resolve_is_proxy_not_found() {
    let (reactor, ws, log) = proxied(Proxy::http("nowhere.test", 3128));
    ws.open(URL).unwrap();
    reactor.run_until_idle();
    assert_eq!(ws.error(), SocketError::ProxyNotFound);
    assert_eq!(
        ws.error_string(),
        "HTTP proxy nowhere.test:3128: host not found"
    );
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "state:Unconnected",
            "disconnected",
            "error:ProxyNotFound"
        ]
    );
}

#[test]
fn proxy_refusing_tcp_is_proxy_connection_refused() {
    let (reactor, ws, _log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
    ws.open(URL).unwrap();
    proxy_connection(&reactor, 1080).refuse();
    reactor.run_until_idle();
    assert_eq!(ws.error(), SocketError::ProxyConnectionRefused);
    assert_eq!(
        ws.error_string(),
        "SOCKS5 proxy proxy.test:1080: connection refused"
    );
}

#[test]
fn proxy_closing_mid_tunnel_is_proxy_connection_closed() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    accept(&reactor, &peer);
    peer.write(b"HTTP/1.1 200 Conn");
    peer.shutdown();
    reactor.run_until_idle();
    assert_eq!(ws.error(), SocketError::ProxyConnectionClosed);
    assert!(
        ws.error_string().starts_with(
            "HTTP proxy proxy.test:3128: closed the connection before the tunnel was open"
        ),
        "{}",
        ws.error_string()
    );
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "state:Unconnected",
            "disconnected",
            "error:ProxyConnectionClosed"
        ]
    );
}

#[test]
fn proxy_that_never_answers_times_out_with_its_own_error() {
    let (reactor, ws, _log) = proxied(Proxy::socks5(PROXY_HOST, 1080));
    ws.set_proxy_timeout(Some(Duration::from_secs(3)));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 1080);
    accept(&reactor, &peer);
    reactor.advance(Duration::from_millis(2999));
    assert_eq!(ws.state(), SocketState::Connecting);
    reactor.advance(Duration::from_millis(1));
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::ProxyConnectionTimeout);
    assert_eq!(
        ws.error_string(),
        "SOCKS5 proxy proxy.test:1080: no tunnel to the server within 3s"
    );
    assert!(peer.is_closed_by_library());
}

#[test]
fn proxy_timeout_stops_once_the_tunnel_is_open() {
    let (reactor, ws, _log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.set_proxy_timeout(Some(Duration::from_secs(3)));
    ws.set_handshake_timeout(Some(Duration::from_secs(10)));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    accept(&reactor, &peer);
    reactor.advance(Duration::from_secs(2));
    reply(&reactor, &peer, b"HTTP/1.1 200 OK\r\n\r\n");
    reactor.advance(Duration::from_secs(5));
    assert_eq!(
        ws.state(),
        SocketState::Connecting,
        "only the handshake timeout runs now"
    );
    reactor.advance(Duration::from_secs(3));
    assert_eq!(ws.error(), SocketError::SocketTimeout);
}

// ===== which proxy ==============================================================

#[test]
fn default_proxy_follows_the_application_proxy_and_no_proxy_bypasses_it() {
    let (reactor, ws, _log) = proxied(Proxy::default());
    reactor.add_host("chat.example", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
    reactor
        .event_loop()
        .set_application_proxy(Proxy::http(PROXY_HOST, 3128));
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    assert_eq!(accept(&reactor, &peer), CONNECT);
    ws.abort();
    reactor.run_until_idle();

    ws.set_proxy(Proxy::no_proxy());
    ws.open(URL).unwrap();
    let direct = pending_tcp(&reactor);
    assert_eq!(direct.addr(), (Ipv4Addr::new(10, 0, 0, 7), 8080).into());
}

#[test]
fn aborting_inside_the_credentials_slot_stops_everything() {
    let (reactor, ws, log) = proxied(Proxy::http(PROXY_HOST, 3128));
    ws.proxy_authentication_required().connect(|ws, _, auth| {
        auth.set_user("ann");
        ws.abort();
    });
    ws.open(URL).unwrap();
    let peer = proxy_connection(&reactor, 3128);
    accept(&reactor, &peer);
    reply(&reactor, &peer, b"HTTP/1.1 407 Auth\r\n\r\n");
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(reactor.pending_connections(), 0, "no retry after abort");
    assert_eq!(
        take(&log),
        [
            "state:Connecting",
            "proxy_authentication_required:proxy.test:3128:",
            "state:Unconnected",
            "disconnected",
            "read_channel_finished"
        ]
    );
}
