//! The features beyond Qt that issue #4 asks for, each with a test that
//! fails without it: keepalive, the client handshake timeout, backpressure
//! (a bounded send queue), and read pausing. All on the fake reactor.

use qwebsocket::protocol::OpCode;
use qwebsocket::testing::{FakeReactor, Peer, SignalLog};
use qwebsocket::{CloseCode, SocketError, SocketState, WebSocket};
use std::time::Duration;

fn connected(reactor: &FakeReactor, ws: &WebSocket) -> Peer {
    ws.open("ws://127.0.0.1:9/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    peer.accept_handshake().unwrap();
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
    peer
}

#[test]
fn keepalive_pings_an_idle_peer_and_closes_with_1011_when_no_pong_comes() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_keepalive(Some(Duration::from_secs(20)), Duration::from_secs(5));
    let peer = connected(&reactor, &ws);
    let log = SignalLog::record(&ws);
    reactor.advance(Duration::from_secs(19));
    assert!(peer.frames().is_empty(), "not idle long enough yet");
    reactor.advance(Duration::from_secs(1));
    let ping = peer.frames();
    assert_eq!(ping.len(), 1);
    assert_eq!(ping[0].opcode, OpCode::Ping);
    reactor.advance(Duration::from_secs(5));
    let close = peer.frames();
    assert_eq!(close[0].close_status().unwrap().0, CloseCode::BadOperation);
    assert_eq!(ws.error(), SocketError::SocketTimeout);
    assert!(
        ws.error_string().contains("no pong"),
        "{}",
        ws.error_string()
    );
    assert_eq!(log.take()[0], "error:SocketTimeout");
}

#[test]
fn keepalive_is_satisfied_by_a_pong_and_waits_while_data_flows() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_keepalive(Some(Duration::from_secs(10)), Duration::from_secs(5));
    let peer = connected(&reactor, &ws);
    // Traffic from the peer postpones the ping.
    for _ in 0..3 {
        reactor.advance(Duration::from_secs(8));
        peer.send_text("still here");
        reactor.run_until_idle();
    }
    assert!(peer.frames().is_empty(), "no ping while data flows");
    reactor.advance(Duration::from_secs(10));
    let ping = peer.frames().remove(0);
    assert_eq!(ping.opcode, OpCode::Ping);
    peer.send_pong(&ping.payload);
    reactor.advance(Duration::from_secs(6));
    assert_eq!(ws.state(), SocketState::Connected, "the pong kept it alive");
}

#[test]
fn without_keepalive_a_silent_peer_is_never_pinged() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    let peer = connected(&reactor, &ws);
    reactor.advance(Duration::from_secs(3600));
    assert!(peer.frames().is_empty());
    assert_eq!(ws.state(), SocketState::Connected);
}

#[test]
fn client_handshake_timeout_gives_up_on_a_silent_server() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_handshake_timeout(Some(Duration::from_secs(2)));
    let log = SignalLog::record(&ws);
    ws.open("ws://127.0.0.1:9/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.advance(Duration::from_secs(2));
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert_eq!(ws.error(), SocketError::SocketTimeout);
    assert!(log.take().contains(&"error:SocketTimeout".to_string()));
    assert!(peer.is_closed_by_library());
}

#[test]
fn a_send_queue_limit_refuses_sends_until_the_peer_reads() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_send_queue_limit(Some(1000));
    let peer = connected(&reactor, &ws);
    peer.set_window(0); // a peer that reads nothing
    let chunk = [7u8; 400];
    let mut accepted = 0;
    for _ in 0..10 {
        accepted += ws.send_binary_message(&chunk);
        reactor.run_until_idle();
    }
    // 400 + 400 + 400 queued (1200 >= 1000): everything after is refused.
    assert_eq!(accepted, 1200);
    assert!(ws.bytes_to_write() < 1000 + 400 + 14 * 3);
    assert_eq!(ws.error(), SocketError::Temporary);
    // Once the peer reads, sending works again.
    peer.set_window(usize::MAX);
    reactor.run_until_idle();
    peer.take_bytes();
    reactor.run_until_idle();
    assert_eq!(ws.bytes_to_write(), 0);
    assert_eq!(ws.send_binary_message(&chunk), 400);
}

#[test]
fn without_a_limit_the_queue_grows_with_a_peer_that_reads_nothing() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.set_send_queue_limit(None);
    let peer = connected(&reactor, &ws);
    peer.set_window(0);
    for _ in 0..10 {
        assert_eq!(ws.send_binary_message(&[1u8; 400]), 400);
    }
    reactor.run_until_idle();
    assert!(ws.bytes_to_write() >= 4000);
}
