//! wss:// end to end on loopback: certificates made at test time, our TLS
//! server and client, and Qt's SSL error model.

mod common;

use common::certs::{self, Ca, Leaf};
use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::{SslConfiguration, SslError, SslErrorKind};
use qwebsocket::{PauseMode, SocketError, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A secure echo server with `leaf` as its identity; counts upgrades.
fn secure_server(ev: &EventLoop, leaf: &Leaf) -> (WebSocketServer, Rc<RefCell<usize>>) {
    let server = WebSocketServer::new(ev, "tls echo", SslMode::SecureMode);
    let mut config = SslConfiguration::default();
    config
        .set_local_certificate_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap();
    server.set_ssl_configuration(config);
    server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let upgrades = Rc::new(RefCell::new(0));
    let u = upgrades.clone();
    server.new_connection().connect(move |server| {
        while let Some(s) = server.next_pending_connection() {
            *u.borrow_mut() += 1;
            s.text_message_received().connect(|ws, t| {
                ws.send_text_message(t);
            });
        }
    });
    (server, upgrades)
}

#[derive(Clone, Debug)]
struct Outcome {
    echoed: Option<String>,
    ssl_errors: Vec<SslErrorKind>,
    error: Option<SocketError>,
    error_string: String,
}

/// Opens `url` with `config`, sends "hi", and runs until the echo or a failure.
fn run_client(
    ev: &EventLoop,
    url: &str,
    config: SslConfiguration,
    setup: impl FnOnce(&WebSocket),
) -> (WebSocket, Outcome) {
    let ws = WebSocket::new(ev);
    ws.set_ssl_configuration(config);
    let out = Rc::new(RefCell::new(Outcome {
        echoed: None,
        ssl_errors: Vec::new(),
        error: None,
        error_string: String::new(),
    }));
    let o = out.clone();
    ws.ssl_errors().connect(move |_, errors| {
        o.borrow_mut().ssl_errors = errors.iter().map(|e| e.kind()).collect()
    });
    ws.connected().connect(|ws| {
        ws.send_text_message("hi");
    });
    let o = out.clone();
    ws.text_message_received().connect(move |ws, t| {
        o.borrow_mut().echoed = Some(t.to_owned());
        ws.event_loop().unwrap().quit();
    });
    let o = out.clone();
    ws.error_occurred().connect(move |ws, e| {
        let mut o = o.borrow_mut();
        o.error = Some(e);
        o.error_string = ws.error_string();
        ws.event_loop().unwrap().quit();
    });
    setup(&ws);
    ws.open(url).unwrap();
    let timer = ev.add_timer(Duration::from_secs(10), |ev| ev.quit());
    ev.run();
    ev.cancel_timer(timer);
    let out = out.borrow().clone();
    (ws, out)
}

fn trusting(ca: &Ca) -> SslConfiguration {
    let mut c = SslConfiguration::default();
    c.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    c
}

fn url_of(server: &WebSocketServer, host: &str) -> String {
    format!("wss://{host}:{}/", server.server_port())
}

#[test]
fn valid_chain_from_a_private_ca_connects_and_reports_the_session() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");
    let (server, upgrades) = secure_server(&ev, &ca.leaf(&["localhost", "127.0.0.1"]));
    for host in ["localhost", "127.0.0.1"] {
        let (ws, out) = run_client(&ev, &url_of(&server, host), trusting(&ca), |_| {});
        assert_eq!(
            out.echoed.as_deref(),
            Some("hi"),
            "{host}: {}",
            out.error_string
        );
        assert!(out.ssl_errors.is_empty());
        let cfg = ws.ssl_configuration();
        assert_eq!(cfg.peer_certificate_chain().len(), 1);
        assert!(
            cfg.session_protocol().is_some_and(|p| p.contains("TLS")),
            "{:?}",
            cfg.session_protocol()
        );
        assert!(cfg.session_cipher().is_some());
        assert_eq!(ws.state(), SocketState::Connected);
    }
    assert_eq!(*upgrades.borrow(), 2);
}

#[test]
fn self_signed_certificate_is_refused_by_default_and_no_upgrade_reaches_the_server() {
    let ev = EventLoop::new().unwrap();
    let (server, upgrades) = secure_server(&ev, &certs::self_signed(&["localhost"]));
    let (ws, out) = run_client(
        &ev,
        &url_of(&server, "localhost"),
        SslConfiguration::default(),
        |_| {},
    );
    assert_eq!(out.ssl_errors, [SslErrorKind::SelfSignedCertificate]);
    assert_eq!(out.error, Some(SocketError::SslHandshakeFailed));
    assert_eq!(out.echoed, None);
    assert_eq!(ws.state(), SocketState::Unconnected);
    // Let the server notice the connection ending: it never saw an upgrade request.
    ev.add_timer(Duration::from_millis(100), |ev| ev.quit());
    ev.run();
    assert_eq!(*upgrades.borrow(), 0);
}

#[test]
fn self_signed_certificate_ignored_in_the_slot_connects() {
    let ev = EventLoop::new().unwrap();
    let (server, _) = secure_server(&ev, &certs::self_signed(&["localhost"]));
    let (_, out) = run_client(
        &ev,
        &url_of(&server, "localhost"),
        SslConfiguration::default(),
        |ws| {
            ws.ssl_errors().connect(|ws, _| ws.ignore_ssl_errors());
        },
    );
    assert_eq!(out.echoed.as_deref(), Some("hi"));
}

#[test]
fn wrong_host_name_is_only_ignored_by_ignoring_that_kind() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");
    let (server, _) = secure_server(&ev, &ca.leaf(&["example.com"]));
    let url = url_of(&server, "127.0.0.1");
    let (_, out) = run_client(&ev, &url, trusting(&ca), |ws| {
        ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::SelfSignedCertificate, None)]);
    });
    assert_eq!(out.ssl_errors, [SslErrorKind::HostNameMismatch]);
    assert_eq!(out.error, Some(SocketError::SslHandshakeFailed));
    let (_, out) = run_client(&ev, &url, trusting(&ca), |ws| {
        ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::HostNameMismatch, None)]);
    });
    assert_eq!(out.echoed.as_deref(), Some("hi"), "{}", out.error_string);
}

#[test]
fn pause_mode_waits_for_resume_after_ignoring() {
    let ev = EventLoop::new().unwrap();
    let (server, _) = secure_server(&ev, &certs::self_signed(&["localhost"]));
    let (_, out) = run_client(
        &ev,
        &url_of(&server, "localhost"),
        SslConfiguration::default(),
        |ws| {
            ws.set_pause_mode(PauseMode::PauseOnSslErrors);
            ws.ssl_errors().connect(|ws, _| {
                assert_eq!(ws.state(), SocketState::Connecting);
                let ev = ws.event_loop().unwrap();
                let weak = ws.downgrade();
                // Decide later, outside the slot.
                ev.add_timer(Duration::from_millis(20), move |_| {
                    let ws = weak.upgrade().unwrap();
                    assert_eq!(ws.state(), SocketState::Connecting);
                    ws.ignore_ssl_errors();
                    ws.resume();
                });
            });
        },
    );
    assert_eq!(out.echoed.as_deref(), Some("hi"), "{}", out.error_string);
}
