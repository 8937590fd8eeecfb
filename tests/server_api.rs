//! Server API beyond the basics: origin authentication, adopting connections.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::testing::{FakeReactor, SignalLog};
use qwebsocket::{SslMode, WebSocket, WebSocketServer};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n";

fn fake_server(reactor: &FakeReactor) -> (WebSocketServer, SocketAddr) {
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    let addr = server.server_socket_addr().unwrap();
    (server, addr)
}

#[test]
fn refused_origin_gets_403_and_server_error_1008() {
    let reactor = FakeReactor::new();
    let (server, addr) = fake_server(&reactor);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    server
        .origin_authentication_required()
        .connect(move |_, auth| {
            s.borrow_mut().push(auth.origin().to_owned());
            auth.set_allowed(auth.origin() == "https://app.example");
        });
    let log = SignalLog::record_server(&server);
    let client = reactor.connect(addr).unwrap();
    client.write(REQUEST.as_bytes());
    reactor.run_until_idle();
    let response = client.read_handshake_response().expect("an HTTP answer");
    assert_eq!(response.status, 403);
    assert_eq!(*seen.borrow(), ["https://evil.example"]);
    assert_eq!(log.take(), ["server_error:1008"]);
    assert!(!server.has_pending_connections());
    assert_eq!(server.error_string(), "Access forbidden.");
}

#[test]
fn allowed_origin_is_upgraded_and_reported_by_the_socket() {
    let reactor = FakeReactor::new();
    let (server, addr) = fake_server(&reactor);
    server.origin_authentication_required().connect(|_, auth| {
        auth.set_allowed(auth.origin() == "https://evil.example");
    });
    let client = reactor.connect(addr).unwrap();
    client.write(REQUEST.as_bytes());
    reactor.run_until_idle();
    assert_eq!(client.read_handshake_response().unwrap().status, 101);
    let socket = server.next_pending_connection().unwrap();
    assert_eq!(socket.origin(), "https://evil.example");
    assert_eq!(socket.resource_name(), "/chat");
    assert_eq!(
        socket.request().header("origin"),
        Some("https://evil.example")
    );
}

#[test]
fn handle_connection_upgrades_a_connection_accepted_elsewhere() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    server.new_connection().connect(|server| {
        while let Some(s) = server.next_pending_connection() {
            s.text_message_received().connect(|ws, t| {
                ws.send_text_message(&t.to_uppercase());
            });
        }
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = WebSocket::new(&ev);
    client.connected().connect(|ws| {
        ws.send_text_message("adopted");
    });
    let got = Rc::new(RefCell::new(String::new()));
    let g = got.clone();
    client.text_message_received().connect(move |ws, t| {
        *g.borrow_mut() = t.to_owned();
        ws.event_loop().unwrap().quit();
    });
    client.open(&format!("ws://127.0.0.1:{port}/")).unwrap();
    // Accept on the side, as an application with its own listener would,
    // while the loop runs the client's connect.
    listener.set_nonblocking(true).unwrap();
    let accepted = loop {
        ev.process_events(Some(Duration::from_millis(10))).unwrap();
        if let Ok((s, _)) = listener.accept() {
            break s;
        }
    };
    accepted.set_nonblocking(false).unwrap();
    server.handle_connection(accepted).unwrap();
    ev.add_timer(Duration::from_secs(10), |ev| ev.quit());
    ev.run();
    assert_eq!(*got.borrow(), "ADOPTED");
}

/// Runs an echo exchange against `server` at `url`; returns the echo.
fn echo_once(ev: &EventLoop, server: &WebSocketServer, url: &str) -> String {
    server.new_connection().connect(|server| {
        while let Some(s) = server.next_pending_connection() {
            s.text_message_received().connect(|ws, t| {
                ws.send_text_message(t);
            });
        }
    });
    let client = WebSocket::new(ev);
    client.connected().connect(|ws| {
        ws.send_text_message("over there");
    });
    let got = Rc::new(RefCell::new(String::new()));
    let g = got.clone();
    client.text_message_received().connect(move |ws, t| {
        *g.borrow_mut() = t.to_owned();
        ws.event_loop().unwrap().quit();
    });
    client
        .error_occurred()
        .connect(|ws, _| ws.event_loop().unwrap().quit());
    client.open(url).unwrap();
    let t = ev.add_timer(Duration::from_secs(10), |ev| ev.quit());
    ev.run();
    ev.cancel_timer(t);
    got.take()
}

#[test]
fn a_server_listens_on_ipv6_loopback() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    server.listen("::1".parse().unwrap(), 0).unwrap();
    let url = server.server_url().unwrap();
    assert!(url.as_str().starts_with("ws://[::1]:"), "{url}");
    assert_eq!(echo_once(&ev, &server, url.as_str()), "over there");
}

#[test]
fn a_server_serves_a_listener_made_elsewhere() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    server.set_listener(listener).unwrap();
    assert!(server.is_listening());
    assert_eq!(
        echo_once(&ev, &server, &format!("ws://127.0.0.1:{port}/")),
        "over there"
    );
}

#[test]
fn pause_accepting_holds_new_clients_until_resume() {
    let reactor = FakeReactor::new();
    let (server, addr) = fake_server(&reactor);
    server.pause_accepting();
    let client = reactor.connect(addr).unwrap();
    client.write(REQUEST.as_bytes());
    reactor.run_until_idle();
    assert!(
        client.read_handshake_response().is_none(),
        "not accepted while paused"
    );
    assert!(!server.has_pending_connections());
    server.resume_accepting();
    reactor.run_until_idle();
    assert_eq!(
        client.read_handshake_response().map(|r| r.status),
        Some(101)
    );
    assert!(server.has_pending_connections());
}

/// The listen backlog is applied: with none accepted yet, the kernel
/// completes as many connections as the backlog allows (plus one) and drops
/// the SYNs of the others (they would be retried a second later).
#[test]
fn listen_backlog_size_bounds_the_connections_waiting_to_be_accepted() {
    use std::time::Duration;
    let ev = qwebsocket::event_loop::EventLoop::new().unwrap();
    let count_completed = |backlog: u32, tries: usize| {
        let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
        server.set_listen_backlog_size(backlog);
        server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
        let addr = server.server_socket_addr().unwrap();
        // The loop does not run: nothing is accepted meanwhile.
        let mut streams = Vec::new();
        for _ in 0..tries {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => streams.push(s),
                Err(_) => break,
            }
        }
        streams.len()
    };
    let small = count_completed(8, 40);
    assert!(
        small <= 9 + 1,
        "{small} connections completed with a backlog of 8"
    );
    assert_eq!(
        count_completed(1024, 300),
        300,
        "the default backlog holds a burst of 300"
    );
}
