//! TLS alerts and the interrupted handshake, on loopback.

mod common;

use common::certs::{self, Ca};
use common::wss_server;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CloseCode, SocketError, SslMode, WebSocket, WebSocketServer};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn server(ev: &EventLoop, leaf: &certs::Leaf) -> WebSocketServer {
    let server = wss_server(ev, leaf);
    server.new_connection().connect(|server| {
        while let Some(s) = server.next_pending_connection() {
            s.text_message_received().connect(|ws, t| {
                ws.close(CloseCode::Normal, t).unwrap();
            });
        }
    });
    server
}

fn log_alerts(ws: &WebSocket) -> Rc<RefCell<Vec<String>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    ws.alert_sent().connect(move |_, a| {
        l.borrow_mut()
            .push(format!("sent:{:?}:{}", a.level, a.description))
    });
    let l = log.clone();
    ws.alert_received().connect(move |_, a| {
        l.borrow_mut()
            .push(format!("received:{:?}:{}", a.level, a.description))
    });
    let l = log.clone();
    ws.error_occurred().connect(move |ws, e| {
        l.borrow_mut().push(format!("error:{e:?}"));
        ws.event_loop().unwrap().quit();
    });
    let l = log.clone();
    ws.disconnected().connect(move |ws| {
        l.borrow_mut().push("disconnected".into());
        ws.event_loop().unwrap().quit();
    });
    log
}

fn run(ev: &EventLoop) {
    let t = ev.add_timer(Duration::from_secs(10), |ev| ev.quit());
    ev.run();
    ev.cancel_timer(t);
}

#[test]
fn closing_a_wss_connection_reports_close_notify_received() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Alert CA");
    let srv = server(&ev, &ca.leaf(&["127.0.0.1"]));
    let ws = WebSocket::new(&ev);
    let mut config = SslConfiguration::default();
    config.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    ws.set_ssl_configuration(config);
    let log = log_alerts(&ws);
    ws.connected().connect(|ws| {
        ws.send_text_message("bye");
    });
    ws.open(&format!("wss://127.0.0.1:{}/", srv.server_port()))
        .unwrap();
    run(&ev);
    let log = log.borrow().clone();
    // The server closes the WebSocket and then ends its TLS session.
    assert!(
        log.contains(&"received:Warning:CloseNotify".to_string()),
        "{log:?}"
    );
    // Then ours goes out, reported after disconnected as Qt does.
    assert_eq!(
        log[log.len() - 2..],
        ["disconnected", "sent:Warning:CloseNotify"],
        "{log:?}"
    );
    assert_eq!(ws.close_code(), CloseCode::Normal);
}

#[test]
fn a_server_refusing_our_protocol_version_is_reported_with_its_alert() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Alert CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let srv = WebSocketServer::new(&ev, "", SslMode::SecureMode);
    let mut config = leaf.server_config();
    config.set_protocol(qwebsocket::ssl::SslProtocol::TlsV1_3);
    srv.set_ssl_configuration(config);
    srv.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    let ws = WebSocket::new(&ev);
    let mut config = SslConfiguration::default();
    config.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    config.set_protocol(qwebsocket::ssl::SslProtocol::TlsV1_2);
    ws.set_ssl_configuration(config);
    let log = log_alerts(&ws);
    ws.open(&format!("wss://127.0.0.1:{}/", srv.server_port()))
        .unwrap();
    run(&ev);
    let log = log.borrow().clone();
    assert!(
        log.iter().any(|e| e.starts_with("received:Fatal:")),
        "the server's fatal alert is reported: {log:?}"
    );
    assert!(
        log.contains(&"error:SslHandshakeFailed".to_string()),
        "{log:?}"
    );
    assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
}

#[test]
fn interrupted_handshake_fails_unless_the_slot_continues() {
    for go_on in [false, true] {
        let ev = EventLoop::new().unwrap();
        let srv = server(&ev, &certs::self_signed(&["127.0.0.1"]));
        let ws = WebSocket::new(&ev);
        let mut config = SslConfiguration::default();
        config.set_handshake_must_interrupt_on_error(true);
        ws.set_ssl_configuration(config);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        ws.handshake_interrupted_on_error().connect(move |ws, e| {
            s.borrow_mut().push(e.kind());
            if go_on {
                ws.continue_interrupted_handshake();
            }
        });
        ws.ssl_errors().connect(|ws, _| ws.ignore_ssl_errors());
        let connected = Rc::new(RefCell::new(false));
        let c = connected.clone();
        ws.connected().connect(move |ws| {
            *c.borrow_mut() = true;
            ws.event_loop().unwrap().quit();
        });
        let _log = log_alerts(&ws);
        ws.open(&format!("wss://127.0.0.1:{}/", srv.server_port()))
            .unwrap();
        run(&ev);
        assert_eq!(
            *seen.borrow(),
            [qwebsocket::ssl::SslErrorKind::SelfSignedCertificate]
        );
        assert_eq!(*connected.borrow(), go_on);
        if !go_on {
            assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
        }
    }
}

/// Qt's order (spec section 4): a local close on wss ends with
/// `read_channel_finished` and then `alert_sent(Warning, CloseNotify)`.
#[test]
fn a_local_close_on_wss_reports_our_close_notify_last() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Alert CA");
    let srv = wss_server(&ev, &ca.leaf(&["127.0.0.1"]));
    let keep = Rc::new(RefCell::new(Vec::new()));
    let k = keep.clone();
    srv.new_connection().connect(move |server| {
        while let Some(s) = server.next_pending_connection() {
            k.borrow_mut().push(s);
        }
    });
    let ws = WebSocket::new(&ev);
    let mut config = SslConfiguration::default();
    config.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    ws.set_ssl_configuration(config);
    let log = log_alerts(&ws);
    let l = log.clone();
    ws.read_channel_finished()
        .connect(move |_| l.borrow_mut().push("read_channel_finished".into()));
    ws.connected()
        .connect(|ws| ws.close(CloseCode::Normal, "done").unwrap());
    ws.open(&format!("wss://127.0.0.1:{}/", srv.server_port()))
        .unwrap();
    run(&ev);
    let log = log.borrow().clone();
    assert_eq!(
        log.iter()
            .filter(|e| *e == "sent:Warning:CloseNotify")
            .count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log[log.len() - 3..],
        [
            "disconnected",
            "read_channel_finished",
            "sent:Warning:CloseNotify"
        ],
        "{log:?}"
    );
}

/// A certificate refused after the TLS handshake: the error first, then
/// `disconnected`, `read_channel_finished`, and our `close_notify`.
#[test]
fn a_refused_certificate_ends_with_our_close_notify() {
    let ev = EventLoop::new().unwrap();
    let trusted = Ca::new("Trusted CA");
    let other = Ca::new("Other CA");
    let srv = server(&ev, &other.leaf(&["127.0.0.1"]));
    let ws = WebSocket::new(&ev);
    let mut config = SslConfiguration::default();
    config.set_use_default_roots(false);
    config
        .add_ca_certificates_pem(trusted.pem.as_bytes())
        .unwrap();
    ws.set_ssl_configuration(config);
    let log = log_alerts(&ws);
    let l = log.clone();
    ws.read_channel_finished()
        .connect(move |_| l.borrow_mut().push("read_channel_finished".into()));
    ws.open(&format!("wss://127.0.0.1:{}/", srv.server_port()))
        .unwrap();
    run(&ev);
    let log = log.borrow().clone();
    assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
    assert_eq!(
        log,
        [
            "error:SslHandshakeFailed",
            "disconnected",
            "read_channel_finished",
            "sent:Warning:CloseNotify"
        ]
    );
}
