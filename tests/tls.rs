//! wss:// end to end on loopback (127.0.0.1 only): certificates made at test
//! time, our TLS server and client, a bare rustls server that watches what
//! reaches it, and Qt's SSL error model.
//!
//! Every wait is bounded by `LIMIT` (and threads by their own deadline), so
//! no test can hang.

mod common;

use common::certs::{self, Ca, Leaf};
use common::spin;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::{
    Certificate, PeerVerifyMode, SslConfiguration, SslError, SslErrorKind, SslProtocol,
};
use qwebsocket::{PauseMode, SocketError, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any single wait may last.
const LIMIT: Duration = Duration::from_secs(5);

// ----- running the loop ------------------------------------------------------

/// Runs `ev` for `d`, so that the other end of a connection can react.
fn settle(ev: &EventLoop, d: Duration) {
    spin(ev, d, || false);
}

// ----- what happened ---------------------------------------------------------

/// A signal seen on a client socket or a server.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    PeerVerifyError(SslError),
    SslErrors(Vec<SslError>),
    Connected,
    Error(SocketError, String),
    Echo(String),
}

fn finished(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Echo(_) | Event::Error(..)))
}

fn echoes(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Echo(_)))
        .count()
}

/// `kinds`, each about `cert`.
fn errors_about(kinds: &[SslErrorKind], cert: &Certificate) -> Vec<SslError> {
    kinds
        .iter()
        .map(|k| SslError::new(*k, Some(cert.clone())))
        .collect()
}

/// What a client reports when `errors` were found and not ignored:
/// `peer_verify_error` once for each, then `ssl_errors`, then the failure
/// with the first error's text.
fn refused(errors: &[SslError]) -> Vec<Event> {
    let mut events: Vec<Event> = errors
        .iter()
        .map(|e| Event::PeerVerifyError(e.clone()))
        .collect();
    events.push(Event::SslErrors(errors.to_vec()));
    events.push(Event::Error(
        SocketError::SslHandshakeFailed,
        errors[0].error_string(),
    ));
    events
}

/// What a client reports when `errors` were found and ignored (or none were
/// found): the same reports, then the connection and the echo of "hi".
fn accepted(errors: &[SslError]) -> Vec<Event> {
    let mut events: Vec<Event> = errors
        .iter()
        .map(|e| Event::PeerVerifyError(e.clone()))
        .collect();
    if !errors.is_empty() {
        events.push(Event::SslErrors(errors.to_vec()));
    }
    events.push(Event::Connected);
    events.push(Event::Echo("hi".into()));
    events
}

// ----- our server ------------------------------------------------------------

/// A secure echo server on 127.0.0.1.
struct Server {
    server: WebSocketServer,
    /// How many connections were upgraded.
    upgrades: Rc<Cell<usize>>,
    /// The server's own `peer_verify_error` and `ssl_errors`, in order.
    events: Rc<RefCell<Vec<Event>>>,
    /// The upgraded sockets.
    sockets: Rc<RefCell<Vec<WebSocket>>>,
}

impl Server {
    fn port(&self) -> u16 {
        self.server.server_port()
    }

    fn url(&self, host: &str) -> String {
        format!("wss://{host}:{}/", self.port())
    }
}

fn start_server(ev: &EventLoop, config: SslConfiguration) -> Server {
    let server = WebSocketServer::new(ev, "tls echo", SslMode::SecureMode);
    server.set_ssl_configuration(config);
    server
        .listen("127.0.0.1".parse().unwrap(), 0)
        .unwrap_or_else(|e| panic!("listen: {e:?}: {}", server.error_string()));
    let upgrades = Rc::new(Cell::new(0));
    let events = Rc::new(RefCell::new(Vec::new()));
    let sockets = Rc::new(RefCell::new(Vec::new()));
    let (u, s) = (upgrades.clone(), sockets.clone());
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            u.set(u.get() + 1);
            ws.text_message_received().connect(|ws, t| {
                ws.send_text_message(t);
            });
            s.borrow_mut().push(ws);
        }
    });
    let e = events.clone();
    server
        .peer_verify_error()
        .connect(move |_, error| e.borrow_mut().push(Event::PeerVerifyError(error.clone())));
    let e = events.clone();
    server
        .ssl_errors()
        .connect(move |_, errors| e.borrow_mut().push(Event::SslErrors(errors.to_vec())));
    Server {
        server,
        upgrades,
        events,
        sockets,
    }
}

fn secure_server(ev: &EventLoop, leaf: &Leaf) -> Server {
    start_server(ev, leaf.server_config())
}

// ----- our client ------------------------------------------------------------

/// A client socket recording its TLS signals; it sends "hi" once connected.
struct Client {
    ws: WebSocket,
    events: Rc<RefCell<Vec<Event>>>,
}

impl Client {
    fn new(ev: &EventLoop, config: SslConfiguration) -> Client {
        let ws = WebSocket::new(ev);
        ws.set_ssl_configuration(config);
        let events = Rc::new(RefCell::new(Vec::new()));
        let e = events.clone();
        ws.peer_verify_error()
            .connect(move |_, error| e.borrow_mut().push(Event::PeerVerifyError(error.clone())));
        let e = events.clone();
        ws.ssl_errors()
            .connect(move |_, errors| e.borrow_mut().push(Event::SslErrors(errors.to_vec())));
        let e = events.clone();
        ws.connected().connect(move |ws| {
            e.borrow_mut().push(Event::Connected);
            ws.send_text_message("hi");
        });
        let e = events.clone();
        ws.text_message_received()
            .connect(move |_, t| e.borrow_mut().push(Event::Echo(t.to_owned())));
        let e = events.clone();
        ws.error_occurred()
            .connect(move |ws, error| e.borrow_mut().push(Event::Error(error, ws.error_string())));
        Client { ws, events }
    }

    fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    fn start(&self, url: &str) {
        self.events.borrow_mut().clear();
        self.ws.open(url).unwrap();
    }

    /// Runs until the echo or a failure (or `LIMIT`); returns what happened.
    fn wait(&self, ev: &EventLoop) -> Vec<Event> {
        spin(ev, LIMIT, || finished(&self.events.borrow()));
        self.events()
    }

    fn open(&self, ev: &EventLoop, url: &str) -> Vec<Event> {
        self.start(url);
        self.wait(ev)
    }

    /// Runs until `ssl_errors` was emitted (or `LIMIT`).
    fn wait_for_ssl_errors(&self, ev: &EventLoop) {
        spin(ev, LIMIT, || {
            self.events
                .borrow()
                .iter()
                .any(|e| matches!(e, Event::SslErrors(_) | Event::Error(..)))
        });
    }
}

/// A client configuration trusting `ca` (besides the default roots).
fn trusting(ca: &Ca) -> SslConfiguration {
    let mut c = SslConfiguration::default();
    c.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
    c
}

/// A client configuration trusting only `ca`.
fn trusting_only(ca: &Ca) -> SslConfiguration {
    let mut c = trusting(ca);
    c.set_use_default_roots(false);
    c
}

// ----- a bare TLS server that watches what reaches it --------------------------

/// A rustls server outside our library, on a std thread: it completes the
/// TLS handshake with one client and records every plaintext byte it
/// receives, until the client goes away (or its own deadline). Optionally
/// it answers the upgrade request and sends a text message "hi", so that
/// the client sees what it sees with our echo server.
struct Spy {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    handshake_done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spy {
    fn start(leaf: &Leaf, answer_upgrade: bool) -> Spy {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(leaf.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handshake_done = Arc::new(AtomicBool::new(false));
        let (r, h) = (received.clone(), handshake_done.clone());
        let thread = std::thread::spawn(move || {
            spy_serve(listener, Arc::new(config), answer_upgrade, &r, &h)
        });
        Spy {
            port,
            received,
            handshake_done,
            thread: Some(thread),
        }
    }

    fn url(&self, host: &str) -> String {
        format!("wss://{host}:{}/", self.port)
    }

    fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    fn handshake_done(&self) -> bool {
        self.handshake_done.load(Ordering::SeqCst)
    }

    /// Runs `ev` until the spy's client went away; returns every plaintext
    /// byte it received.
    fn finish(mut self, ev: &EventLoop) -> Vec<u8> {
        let thread = self.thread.take().unwrap();
        assert!(
            spin(ev, LIMIT, || thread.is_finished()),
            "the spy server still has its client"
        );
        thread.join().unwrap();
        self.received()
    }
}

fn spy_serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    answer_upgrade: bool,
    received: &Mutex<Vec<u8>>,
    handshake_done: &AtomicBool,
) {
    let deadline = Instant::now() + LIMIT;
    listener.set_nonblocking(true).unwrap();
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => return,
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut conn = rustls::ServerConnection::new(config).unwrap();
    let mut answered = false;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        while conn.wants_write() {
            if conn.write_tls(&mut stream).is_err() {
                return;
            }
        }
        match conn.read_tls(&mut stream) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        if conn.process_new_packets().is_err() {
            let _ = conn.write_tls(&mut stream);
            return;
        }
        if !conn.is_handshaking() {
            handshake_done.store(true, Ordering::SeqCst);
        }
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => return, // close_notify
                Ok(n) => received.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(_) => break, // nothing more for now (or the end without close_notify)
            }
        }
        if answer_upgrade && !answered {
            let text = String::from_utf8_lossy(&received.lock().unwrap()).into_owned();
            if text.contains("\r\n\r\n") {
                let key = common::header(&text, "Sec-WebSocket-Key").unwrap_or_default();
                let mut reply = common::switching_protocols(key, &[]).into_bytes();
                // And at once a text frame "hi", as if it echoed the client's.
                reply.extend_from_slice(b"\x81\x02hi");
                conn.writer().write_all(&reply).unwrap();
                answered = true;
            }
        }
    }
}

/// A rustls client trusting nothing (so not our server): its handshake
/// fails, it sends its alert and goes away. Returns its error.
fn untrusting_tls_client(port: u16) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let result = loop {
        match conn.complete_io(&mut stream) {
            Ok(_) if conn.is_handshaking() => {}
            Ok(_) => break "the handshake succeeded".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    // Send the alert, if it is still queued.
    let _ = conn.write_tls(&mut stream);
    result
}

// ----- the certificate cases -------------------------------------------------

/// A server certificate and what a client is expected to find wrong with it.
struct Case {
    name: &'static str,
    /// What the server presents.
    leaf: Leaf,
    /// The host in the URL.
    host: &'static str,
    /// The client's trust.
    trust: SslConfiguration,
    /// The errors expected, in order (each about the leaf).
    kinds: Vec<SslErrorKind>,
}

/// The whole error model for one case: refused by default; accepted only
/// when exactly those errors are ignored (before `open()`, in the slot, all
/// of them or the list); handled in pause mode with `resume()`.
fn check_case(case: Case) {
    let ev = EventLoop::new().unwrap();
    let server = secure_server(&ev, &case.leaf);
    let url = server.url(case.host);
    let name = case.name;
    let leaf = Certificate::from_der(case.leaf.der.clone());
    let errors = errors_about(&case.kinds, &leaf);
    let mut upgrades = 0;
    let client = || Client::new(&ev, case.trust.clone());
    let list = |kinds: &[SslErrorKind], cert: Option<&Certificate>| -> Vec<SslError> {
        kinds
            .iter()
            .map(|k| SslError::new(*k, cert.cloned()))
            .collect()
    };

    // Refused by default, with Qt's reports.
    let c = client();
    assert_eq!(c.open(&ev, &url), refused(&errors), "{name}: by default");
    assert_eq!(c.ws.state(), SocketState::Unconnected, "{name}");
    assert_eq!(c.ws.error(), SocketError::SslHandshakeFailed, "{name}");
    assert_eq!(c.ws.error_string(), errors[0].error_string(), "{name}");

    // Exactly those kinds ignored before open(): accepted.
    let c = client();
    c.ws.ignore_ssl_errors_list(&list(&case.kinds, None));
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: exact kinds ignored"
    );
    assert_eq!(c.ws.state(), SocketState::Connected, "{name}");
    upgrades += 1;

    // Every other kind ignored: refused.
    let others: Vec<SslErrorKind> = SslErrorKind::ALL
        .into_iter()
        .filter(|k| !case.kinds.contains(k))
        .collect();
    let c = client();
    c.ws.ignore_ssl_errors_list(&list(&others, None));
    assert_eq!(
        c.open(&ev, &url),
        refused(&errors),
        "{name}: other kinds ignored"
    );

    // Only a part of them ignored: refused.
    for skip in 0..case.kinds.len() {
        let mut part = case.kinds.clone();
        part.remove(skip);
        let c = client();
        c.ws.ignore_ssl_errors_list(&list(&part, None));
        assert_eq!(
            c.open(&ev, &url),
            refused(&errors),
            "{name}: only {part:?} ignored"
        );
    }

    // Ignored for the leaf: accepted; for another certificate: refused.
    let c = client();
    c.ws.ignore_ssl_errors_list(&list(&case.kinds, Some(&leaf)));
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: ignored for the leaf"
    );
    upgrades += 1;
    let other = Certificate::from_der(certs::self_signed(&["localhost"]).der);
    let c = client();
    c.ws.ignore_ssl_errors_list(&list(&case.kinds, Some(&other)));
    assert_eq!(
        c.open(&ev, &url),
        refused(&errors),
        "{name}: ignored for another certificate"
    );

    // ignore_ssl_errors() in the slot: accepted. The slot sees the session.
    let c = client();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    c.ws.ssl_errors().connect(move |ws, _| {
        let config = ws.ssl_configuration();
        *s.borrow_mut() = Some((
            config.session_cipher().is_some(),
            config.peer_certificate_chain().first().cloned(),
            ws.state(),
        ));
        ws.ignore_ssl_errors();
    });
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: ignore_ssl_errors() in the slot"
    );
    assert_eq!(
        seen.borrow().clone(),
        Some((true, Some(leaf.clone()), SocketState::Connecting)),
        "{name}: in the ssl_errors slot: (cipher known, peer leaf, state)"
    );
    upgrades += 1;

    // ignore_ssl_errors_list() in the slot: accepted.
    let c = client();
    let ignore = list(&case.kinds, None);
    c.ws.ssl_errors()
        .connect(move |ws, _| ws.ignore_ssl_errors_list(&ignore));
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: ignore_ssl_errors_list() in the slot"
    );
    upgrades += 1;

    // ignore_ssl_errors() before open(): accepted (documented; Qt loses it).
    let c = client();
    c.ws.ignore_ssl_errors();
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: ignore_ssl_errors() before open()"
    );
    upgrades += 1;

    // Pause mode: paused in Connecting with nothing upgraded; ignoring and
    // resuming later connects.
    let c = client();
    c.ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    c.start(&url);
    c.wait_for_ssl_errors(&ev);
    settle(&ev, Duration::from_millis(30));
    let mut so_far = refused(&errors);
    so_far.pop();
    assert_eq!(c.events(), so_far, "{name}: paused");
    assert_eq!(c.ws.state(), SocketState::Connecting, "{name}: paused");
    assert_eq!(
        server.upgrades.get(),
        upgrades,
        "{name}: upgraded while paused"
    );
    c.ws.ignore_ssl_errors();
    c.ws.resume();
    assert_eq!(
        c.wait(&ev),
        accepted(&errors),
        "{name}: ignored and resumed"
    );
    upgrades += 1;

    // Pause mode, resumed without ignoring: refused.
    let c = client();
    c.ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    c.start(&url);
    c.wait_for_ssl_errors(&ev);
    settle(&ev, Duration::from_millis(10));
    assert_eq!(c.ws.state(), SocketState::Connecting, "{name}: paused");
    c.ws.resume();
    assert_eq!(
        c.wait(&ev),
        refused(&errors),
        "{name}: resumed without ignoring"
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected, "{name}");

    // Pause mode, the errors ignored beforehand: no pause at all.
    let c = client();
    c.ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    c.ws.ignore_ssl_errors_list(&list(&case.kinds, None));
    assert_eq!(
        c.open(&ev, &url),
        accepted(&errors),
        "{name}: pause mode, ignored beforehand"
    );
    upgrades += 1;

    settle(&ev, Duration::from_millis(20));
    assert_eq!(
        server.upgrades.get(),
        upgrades,
        "{name}: upgrades seen by the server"
    );
}

#[test]
fn self_signed_certificate() {
    check_case(Case {
        name: "self-signed",
        leaf: certs::self_signed(&["localhost"]),
        host: "localhost",
        trust: SslConfiguration::default(),
        kinds: vec![SslErrorKind::SelfSignedCertificate],
    });
}

#[test]
fn expired_certificate() {
    let ca = Ca::new("Test CA");
    check_case(Case {
        name: "expired",
        leaf: ca.leaf_with(&["localhost"], certs::expired),
        host: "localhost",
        trust: trusting(&ca),
        kinds: vec![SslErrorKind::CertificateExpired],
    });
}

#[test]
fn certificate_not_yet_valid() {
    let ca = Ca::new("Test CA");
    check_case(Case {
        name: "not yet valid",
        leaf: ca.leaf_with(&["localhost"], certs::not_yet_valid),
        host: "localhost",
        trust: trusting(&ca),
        kinds: vec![SslErrorKind::CertificateNotYetValid],
    });
}

#[test]
fn wrong_host_name() {
    let ca = Ca::new("Test CA");
    check_case(Case {
        name: "wrong host name",
        leaf: ca.leaf(&["example.com"]),
        host: "localhost",
        trust: trusting(&ca),
        kinds: vec![SslErrorKind::HostNameMismatch],
    });
}

#[test]
fn unknown_ca() {
    let ca = Ca::new("Trusted CA");
    let unknown = Ca::new("Unknown CA");
    check_case(Case {
        name: "unknown CA",
        leaf: unknown.leaf(&["localhost"]),
        host: "localhost",
        trust: trusting(&ca),
        kinds: vec![SslErrorKind::UnableToGetLocalIssuerCertificate],
    });
}

#[test]
fn intermediate_missing() {
    let root = Ca::new("Root CA");
    let intermediate = root.intermediate("Intermediate CA");
    check_case(Case {
        name: "intermediate missing",
        leaf: intermediate.leaf(&["localhost"]),
        host: "localhost",
        trust: trusting(&root),
        kinds: vec![SslErrorKind::UnableToGetLocalIssuerCertificate],
    });
}

#[test]
fn untrusted_root_sent_in_the_chain() {
    // OpenSSL's X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, which Qt reports as
    // SelfSignedCertificateInChain. (Qt attaches the root there, the
    // certificate at the error's depth; this crate attaches the leaf.)
    let unknown = Ca::new("Unknown CA");
    check_case(Case {
        name: "untrusted root in the chain",
        leaf: unknown.leaf(&["localhost"]).with_chain(&unknown.pem),
        host: "localhost",
        trust: SslConfiguration::default(),
        kinds: vec![SslErrorKind::SelfSignedCertificateInChain],
    });
}

#[test]
fn unknown_ca_with_its_intermediate_sent() {
    // Regression (fixed): before the fix, the server sends leaf + intermediate and the root is unknown:
    // OpenSSL (and so Qt) says X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    // = UnableToGetLocalIssuerCertificate. `chain_errors` (src/ssl.rs, the
    // `root_in_chain` check) takes the last certificate sent as a root
    // without checking that it is self-signed, and says
    // SelfSignedCertificateInChain although no self-signed certificate was sent.
    let root = Ca::new("Unknown root");
    let intermediate = root.intermediate("Intermediate of the unknown root");
    check_case(Case {
        name: "unknown CA, intermediate sent",
        leaf: intermediate
            .leaf(&["localhost"])
            .with_chain(&intermediate.pem),
        host: "localhost",
        trust: SslConfiguration::default(),
        kinds: vec![SslErrorKind::UnableToGetLocalIssuerCertificate],
    });
}

#[test]
fn wrong_host_name_and_expired() {
    let ca = Ca::new("Test CA");
    check_case(Case {
        name: "wrong host name, expired",
        leaf: ca.leaf_with(&["example.com"], certs::expired),
        host: "localhost",
        trust: trusting(&ca),
        kinds: vec![
            SslErrorKind::HostNameMismatch,
            SslErrorKind::CertificateExpired,
        ],
    });
}

#[test]
fn self_signed_for_another_host() {
    check_case(Case {
        name: "self-signed, wrong host name",
        leaf: certs::self_signed(&["example.com"]),
        host: "localhost",
        trust: SslConfiguration::default(),
        kinds: vec![
            SslErrorKind::HostNameMismatch,
            SslErrorKind::SelfSignedCertificate,
        ],
    });
}

#[test]
fn self_signed_and_expired() {
    // Regression (fixed): before the fix, an expired (or not yet valid) leaf hides every trust error.
    // `chain_errors` (src/ssl.rs) first verifies against the roots; webpki
    // checks the leaf's dates before looking for its issuer, so the error
    // is CertExpired, not UnknownIssuer, and the function pushes
    // CertificateExpired and returns without SelfSignedCertificate. Qt
    // (OpenSSL, collecting every error) reports both.
    check_case(Case {
        name: "self-signed, expired",
        leaf: certs::self_signed_with(&["localhost"], certs::expired),
        host: "localhost",
        trust: SslConfiguration::default(),
        kinds: vec![
            SslErrorKind::SelfSignedCertificate,
            SslErrorKind::CertificateExpired,
        ],
    });
}

#[test]
fn ignoring_expiry_never_accepts_an_untrusted_certificate() {
    // Regression (fixed; security), same cause as `self_signed_and_expired`: the trust
    // error of an expired or not yet valid leaf is not reported, so an
    // application that ignores only CertificateExpired (say, for its own
    // CA's stale certificate) accepts an expired certificate from anyone.
    let ev = EventLoop::new().unwrap();
    let own = Ca::new("Own CA");
    let attacker = Ca::new("Attacker CA");
    let leaves = [
        (
            "self-signed",
            certs::self_signed_with(&["localhost"], certs::expired),
        ),
        (
            "unknown CA",
            attacker.leaf_with(&["localhost"], certs::expired),
        ),
    ];
    for (what, leaf) in leaves {
        let server = secure_server(&ev, &leaf);
        let c = Client::new(&ev, trusting(&own));
        c.ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::CertificateExpired, None)]);
        let events = c.open(&ev, &server.url("localhost"));
        let kinds: Vec<SslErrorKind> = events
            .iter()
            .filter_map(|e| match e {
                Event::SslErrors(list) => Some(list.iter().map(SslError::kind)),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(
            matches!(
                events.last(),
                Some(Event::Error(SocketError::SslHandshakeFailed, _))
            ),
            "{what}, expired: accepted by ignoring CertificateExpired alone \
             (ssl_errors reported only {kinds:?}, no trust error)"
        );
    }
    // For this test's own CA, ignoring the expiry is enough.
    let server = secure_server(&ev, &own.leaf_with(&["localhost"], certs::expired));
    let c = Client::new(&ev, trusting(&own));
    c.ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::CertificateExpired, None)]);
    assert_eq!(
        c.open(&ev, &server.url("localhost")).last(),
        Some(&Event::Echo("hi".into()))
    );
}

// ----- valid chains, trust stores, names --------------------------------------

/// Connects a fresh client to `url`; returns it and what it reported.
fn connect(ev: &EventLoop, url: &str, config: SslConfiguration) -> (Client, Vec<Event>) {
    let c = Client::new(ev, config);
    let events = c.open(ev, url);
    (c, events)
}

#[test]
fn valid_chain_from_a_private_ca_connects() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");
    let server = secure_server(&ev, &ca.leaf(&["localhost", "127.0.0.1"]));
    for host in ["localhost", "127.0.0.1"] {
        let (c, events) = connect(&ev, &server.url(host), trusting(&ca));
        assert_eq!(events, accepted(&[]), "{host}");
        assert_eq!(c.ws.state(), SocketState::Connected, "{host}");
    }
    settle(&ev, Duration::from_millis(20));
    assert_eq!(server.upgrades.get(), 2);
    assert!(server.events.borrow().is_empty());
}

#[test]
fn chain_with_an_intermediate_is_valid_when_the_root_is_trusted() {
    let ev = EventLoop::new().unwrap();
    let root = Ca::new("Root CA");
    let intermediate = root.intermediate("Intermediate CA");
    let leaf = intermediate
        .leaf(&["localhost"])
        .with_chain(&intermediate.pem);
    let server = secure_server(&ev, &leaf);
    let (_, events) = connect(&ev, &server.url("localhost"), trusting_only(&root));
    assert_eq!(events, accepted(&[]));
}

#[test]
fn ssl_configuration_reports_the_peer_chain_and_the_session() {
    let ev = EventLoop::new().unwrap();
    let root = Ca::new("Root CA");
    let intermediate = root.intermediate("Intermediate CA");
    let leaf = intermediate
        .leaf(&["localhost"])
        .with_chain(&intermediate.pem);
    let server = secure_server(&ev, &leaf);
    let c = Client::new(&ev, trusting(&root));
    let before = c.ws.ssl_configuration();
    assert!(before.peer_certificate_chain().is_empty());
    assert_eq!(before.session_protocol(), None);
    assert_eq!(before.session_cipher(), None);
    assert_eq!(c.open(&ev, &server.url("localhost")), accepted(&[]));
    let config = c.ws.ssl_configuration();
    let chain: Vec<&[u8]> = config
        .peer_certificate_chain()
        .iter()
        .map(Certificate::der)
        .collect();
    assert_eq!(
        chain,
        [&leaf.der[..], &intermediate.der[..]],
        "leaf first, then the intermediate"
    );
    assert_eq!(config.session_protocol(), Some("TLSv1_3"));
    let cipher = config.session_cipher().unwrap_or_default();
    assert!(cipher.starts_with("TLS13_"), "{cipher:?}");
    // The settings the client made are still there.
    assert_eq!(config.ca_certificates(), trusting(&root).ca_certificates());
}

#[test]
fn default_roots_alone_refuse_a_private_ca() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Private CA");
    let leaf = ca.leaf(&["localhost"]);
    let cert = Certificate::from_der(leaf.der.clone());
    let server = secure_server(&ev, &leaf);
    let url = server.url("localhost");
    let unknown = errors_about(&[SslErrorKind::UnableToGetLocalIssuerCertificate], &cert);

    let (_, events) = connect(&ev, &url, SslConfiguration::default());
    assert_eq!(events, refused(&unknown), "default roots");

    let (_, events) = connect(&ev, &url, trusting_only(&ca));
    assert_eq!(events, accepted(&[]), "only the private CA");

    let mut nothing = SslConfiguration::default();
    nothing.set_use_default_roots(false);
    let (_, events) = connect(&ev, &url, nothing);
    assert_eq!(events, refused(&unknown), "no roots at all");

    let mut replaced = trusting(&ca);
    replaced.set_ca_certificates(Vec::new());
    let (_, events) = connect(&ev, &url, replaced);
    assert_eq!(events, refused(&unknown), "the private CA removed again");
}

#[test]
fn ip_address_urls_are_verified_against_ip_address_names() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");

    let ip_leaf = ca.leaf(&["127.0.0.1"]);
    let by_ip = secure_server(&ev, &ip_leaf);
    let ip_leaf = Certificate::from_der(ip_leaf.der.clone());
    let (_, events) = connect(&ev, &by_ip.url("127.0.0.1"), trusting(&ca));
    assert_eq!(events, accepted(&[]), "IP SAN, IP URL");
    let (_, events) = connect(&ev, &by_ip.url("localhost"), trusting(&ca));
    assert_eq!(
        events,
        refused(&errors_about(&[SslErrorKind::HostNameMismatch], &ip_leaf)),
        "IP SAN, host name URL"
    );

    let dns_leaf = ca.leaf(&["localhost"]);
    let dns_cert = Certificate::from_der(dns_leaf.der.clone());
    let by_name = secure_server(&ev, &dns_leaf);
    let (_, events) = connect(&ev, &by_name.url("127.0.0.1"), trusting(&ca));
    assert_eq!(
        events,
        refused(&errors_about(&[SslErrorKind::HostNameMismatch], &dns_cert)),
        "DNS SAN, IP URL"
    );

    let mut named = trusting(&ca);
    named.set_peer_verify_name(Some("localhost"));
    let (_, events) = connect(&ev, &by_name.url("127.0.0.1"), named);
    assert_eq!(events, accepted(&[]), "peer verify name");

    let mut misnamed = trusting(&ca);
    misnamed.set_peer_verify_name(Some("example.com"));
    let (_, events) = connect(&ev, &by_name.url("localhost"), misnamed);
    assert_eq!(
        events,
        refused(&errors_about(&[SslErrorKind::HostNameMismatch], &dns_cert)),
        "a peer verify name that does not match wins over the URL's host"
    );
}

#[test]
fn ignore_lists_last_and_ignoring_all_is_used_up() {
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["localhost"]);
    let errors = errors_about(
        &[SslErrorKind::SelfSignedCertificate],
        &Certificate::from_der(leaf.der.clone()),
    );
    let server = secure_server(&ev, &leaf);
    let url = server.url("localhost");

    // The list applies to every later handshake until replaced; an empty
    // list clears it.
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::SelfSignedCertificate, None)]);
    assert_eq!(c.open(&ev, &url), accepted(&errors), "first open");
    assert_eq!(c.open(&ev, &url), accepted(&errors), "second open");
    c.ws.ignore_ssl_errors_list(&[SslError::new(SslErrorKind::HostNameMismatch, None)]);
    assert_eq!(c.open(&ev, &url), refused(&errors), "list replaced");
    c.ws.ignore_ssl_errors_list(&[]);
    assert_eq!(c.open(&ev, &url), refused(&errors), "list cleared");

    // ignore_ssl_errors() before open() covers that handshake only.
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.ignore_ssl_errors();
    assert_eq!(c.open(&ev, &url), accepted(&errors), "ignored");
    assert_eq!(c.open(&ev, &url), refused(&errors), "used up");
}

#[test]
fn client_query_peer_and_verify_none_do_not_refuse() {
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["example.com"]);
    let cert = Certificate::from_der(leaf.der.clone());
    let server = secure_server(&ev, &leaf);
    let url = server.url("localhost");

    // QueryPeer: the errors are reported, never fatal (Qt's checkSslErrors).
    let mut query = SslConfiguration::default();
    query.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    let (_, events) = connect(&ev, &url, query);
    let found = errors_about(
        &[
            SslErrorKind::HostNameMismatch,
            SslErrorKind::SelfSignedCertificate,
        ],
        &cert,
    );
    assert_eq!(events, accepted(&found), "QueryPeer");

    // VerifyNone: nothing is checked.
    let mut none = SslConfiguration::default();
    none.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    let (_, events) = connect(&ev, &url, none);
    assert_eq!(events, accepted(&[]), "VerifyNone");
}

// ----- versions ----------------------------------------------------------------

fn with_protocol(mut config: SslConfiguration, protocol: SslProtocol) -> SslConfiguration {
    config.set_protocol(protocol);
    config
}

#[test]
fn tls_versions() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.leaf(&["localhost"]);

    // Client 1.2 only, server 1.3 only: no common version.
    let only13 = start_server(
        &ev,
        with_protocol(leaf.server_config(), SslProtocol::TlsV1_3),
    );
    let (c, events) = connect(
        &ev,
        &only13.url("localhost"),
        with_protocol(trusting(&ca), SslProtocol::TlsV1_2),
    );
    assert!(
        matches!(&events[..], [Event::Error(SocketError::SslHandshakeFailed, text)] if !text.is_empty()),
        "1.2 against 1.3: {events:?}"
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);

    // And the other way round.
    let only12 = start_server(
        &ev,
        with_protocol(leaf.server_config(), SslProtocol::TlsV1_2),
    );
    let (_, events) = connect(
        &ev,
        &only12.url("localhost"),
        with_protocol(trusting(&ca), SslProtocol::TlsV1_3),
    );
    assert!(
        matches!(
            &events[..],
            [Event::Error(SocketError::SslHandshakeFailed, _)]
        ),
        "1.3 against 1.2: {events:?}"
    );

    // 1.2 on both sides.
    let (c, events) = connect(
        &ev,
        &only12.url("localhost"),
        with_protocol(trusting(&ca), SslProtocol::TlsV1_2),
    );
    assert_eq!(events, accepted(&[]), "1.2 on both sides");
    let config = c.ws.ssl_configuration();
    assert_eq!(config.session_protocol(), Some("TLSv1_2"));
    let cipher = config.session_cipher().unwrap_or_default();
    assert!(cipher.starts_with("TLS_ECDHE_"), "{cipher:?}");

    // A 1.2-only server still serves a default client, with 1.2.
    let (c, events) = connect(&ev, &only12.url("localhost"), trusting(&ca));
    assert_eq!(events, accepted(&[]));
    assert_eq!(c.ws.ssl_configuration().session_protocol(), Some("TLSv1_2"));

    // Defaults: TLS 1.3.
    let default = secure_server(&ev, &leaf);
    let (c, events) = connect(&ev, &default.url("localhost"), trusting(&ca));
    assert_eq!(events, accepted(&[]));
    assert_eq!(c.ws.ssl_configuration().session_protocol(), Some("TLSv1_3"));
}

// ----- mutual TLS ----------------------------------------------------------------

/// A server presenting `leaf` that asks clients for a certificate from
/// `client_ca` in `mode`.
fn mtls_server(ev: &EventLoop, leaf: &Leaf, client_ca: &Ca, mode: PeerVerifyMode) -> Server {
    let mut config = leaf.server_config();
    config.set_use_default_roots(false);
    config
        .add_ca_certificates_pem(client_ca.pem.as_bytes())
        .unwrap();
    config.set_peer_verify_mode(mode);
    start_server(ev, config)
}

/// A client configuration trusting `ca` and presenting `identity`.
fn with_identity(ca: &Ca, identity: &Leaf) -> SslConfiguration {
    let mut config = trusting(ca);
    config
        .set_local_certificate_pem(identity.chain_pem.as_bytes(), identity.key_pem.as_bytes())
        .unwrap();
    config
}

#[test]
fn mutual_tls_verify_peer() {
    let ev = EventLoop::new().unwrap();
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let server = mtls_server(
        &ev,
        &server_ca.leaf(&["localhost"]),
        &client_ca,
        PeerVerifyMode::VerifyPeer,
    );
    let url = server.url("localhost");

    // No client certificate: the client fails, the server tells why.
    let (c, events) = connect(&ev, &url, trusting(&server_ca));
    // With TLS 1.3 the client has finished its handshake (and sent its
    // upgrade request, which the server drops) when the server's alert
    // arrives: it is read as a network error.
    assert!(
        matches!(&events[..], [Event::Error(SocketError::Network, text)] if text.contains("CertificateRequired")),
        "without a certificate: {events:?}"
    );
    assert_eq!(c.ws.state(), SocketState::Unconnected);
    settle(&ev, Duration::from_millis(20));
    let no_cert = SslError::new(SslErrorKind::NoPeerCertificate, None);
    assert_eq!(
        *server.events.borrow(),
        [
            Event::PeerVerifyError(no_cert.clone()),
            Event::SslErrors(vec![no_cert])
        ],
        "what the server reported"
    );
    assert_eq!(server.upgrades.get(), 0);
    server.events.borrow_mut().clear();

    // With TLS 1.2 the alert comes during the client's handshake.
    let (_, events) = connect(
        &ev,
        &url,
        with_protocol(trusting(&server_ca), SslProtocol::TlsV1_2),
    );
    assert!(
        matches!(
            &events[..],
            [Event::Error(SocketError::SslHandshakeFailed, _)]
        ),
        "TLS 1.2 without a certificate: {events:?}"
    );
    settle(&ev, Duration::from_millis(20));
    let no_cert = SslError::new(SslErrorKind::NoPeerCertificate, None);
    assert_eq!(
        *server.events.borrow(),
        [
            Event::PeerVerifyError(no_cert.clone()),
            Event::SslErrors(vec![no_cert])
        ],
        "what the server reported (TLS 1.2)"
    );
    server.events.borrow_mut().clear();

    // A certificate from another CA: refused too.
    let stranger = Ca::new("Stranger CA").leaf(&["client"]);
    let (_, events) = connect(&ev, &url, with_identity(&server_ca, &stranger));
    assert!(
        matches!(&events[..], [Event::Error(..)]),
        "with an unknown client certificate: {events:?}"
    );
    settle(&ev, Duration::from_millis(20));
    let kinds: Vec<Vec<SslErrorKind>> = server
        .events
        .borrow()
        .iter()
        .filter_map(|e| match e {
            Event::SslErrors(list) => Some(list.iter().map(SslError::kind).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [[SslErrorKind::UnableToGetLocalIssuerCertificate]],
        "server: {:?}",
        server.events.borrow()
    );
    assert_eq!(server.upgrades.get(), 0);
    server.events.borrow_mut().clear();

    // A certificate from the client CA: connected.
    let identity = client_ca.leaf(&["client"]);
    let (c, events) = connect(&ev, &url, with_identity(&server_ca, &identity));
    assert_eq!(events, accepted(&[]), "with a client certificate");
    assert_eq!(c.ws.state(), SocketState::Connected);
    assert_eq!(server.upgrades.get(), 1);
    assert!(server.events.borrow().is_empty());
}

#[test]
fn mutual_tls_server_socket_reports_the_client_certificate() {
    // Regression (fixed): before the fix, the server side never records the TLS session: an accepted
    // socket's ssl_configuration() has no peer chain, version or cipher
    // (`record_session` is only called in `drive_tls_client`,
    // src/socket/mod.rs). Qt's QWebSocket::sslConfiguration() on the server
    // side shows the client's certificate and the session.
    let ev = EventLoop::new().unwrap();
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let server = mtls_server(
        &ev,
        &server_ca.leaf(&["localhost"]),
        &client_ca,
        PeerVerifyMode::VerifyPeer,
    );
    let identity = client_ca.leaf(&["client"]);
    let (_, events) = connect(
        &ev,
        &server.url("localhost"),
        with_identity(&server_ca, &identity),
    );
    assert_eq!(events, accepted(&[]));
    let sockets = server.sockets.borrow();
    let config = sockets[0].ssl_configuration();
    let chain: Vec<&[u8]> = config
        .peer_certificate_chain()
        .iter()
        .map(Certificate::der)
        .collect();
    assert_eq!(
        chain,
        [&identity.der[..]],
        "the server-side socket's peer chain should be the client's certificate"
    );
    assert_eq!(
        config.session_protocol(),
        Some("TLSv1_3"),
        "the server-side socket's session protocol"
    );
}

#[test]
fn mutual_tls_query_peer_accepts_a_client_without_certificate() {
    let ev = EventLoop::new().unwrap();
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let server = mtls_server(
        &ev,
        &server_ca.leaf(&["localhost"]),
        &client_ca,
        PeerVerifyMode::QueryPeer,
    );
    let url = server.url("localhost");
    let (_, events) = connect(&ev, &url, trusting(&server_ca));
    assert_eq!(events, accepted(&[]), "without a certificate");
    let identity = client_ca.leaf(&["client"]);
    let (_, events) = connect(&ev, &url, with_identity(&server_ca, &identity));
    assert_eq!(events, accepted(&[]), "with a valid certificate");
    settle(&ev, Duration::from_millis(20));
    assert_eq!(server.upgrades.get(), 2);
    assert!(server.events.borrow().is_empty());
}

#[test]
fn mutual_tls_query_peer_reports_but_accepts_an_untrusted_client_certificate() {
    // Regression (fixed): before the fix, `PeerVerifyMode::QueryPeer` is documented (src/ssl.rs) as "the
    // certificate is requested and checked, but errors are only reported
    // through peer_verify_error, never fatal" (Qt: "does not require this
    // certificate to be valid"). The server builds a WebPkiClientVerifier
    // with `allow_unauthenticated()` (`server_config`, src/ssl.rs), which
    // only lets clients without a certificate through: one with an
    // untrusted certificate fails the handshake.
    let ev = EventLoop::new().unwrap();
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let server = mtls_server(
        &ev,
        &server_ca.leaf(&["localhost"]),
        &client_ca,
        PeerVerifyMode::QueryPeer,
    );
    let stranger = Ca::new("Stranger CA").leaf(&["client"]);
    let (_, events) = connect(
        &ev,
        &server.url("localhost"),
        with_identity(&server_ca, &stranger),
    );
    settle(&ev, Duration::from_millis(20));
    let server_events = server.events.borrow().clone();
    assert_eq!(
        events,
        accepted(&[]),
        "QueryPeer must accept a client whose certificate is untrusted (server reported {server_events:?})"
    );
    assert!(
        matches!(&server_events[..], [Event::PeerVerifyError(e), ..] if e.kind() == SslErrorKind::UnableToGetLocalIssuerCertificate),
        "the server reports the untrusted client certificate: {server_events:?}"
    );
}

// ----- the safety rule, watched from the server side ------------------------------

#[test]
fn no_websocket_byte_reaches_a_refused_server() {
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["127.0.0.1"]);
    let self_signed = [SslError::new(
        SslErrorKind::SelfSignedCertificate,
        Some(Certificate::from_der(leaf.der.clone())),
    )];

    // Not ignored.
    let spy = Spy::start(&leaf, true);
    let c = Client::new(&ev, SslConfiguration::default());
    assert_eq!(c.open(&ev, &spy.url("127.0.0.1")), refused(&self_signed));
    let handshake_done = spy.handshake_done.clone();
    assert_eq!(spy.finish(&ev), b"", "bytes reached a refused server");
    assert!(
        handshake_done.load(Ordering::SeqCst),
        "the TLS handshake completed: the bytes were held back by the socket"
    );

    // Ignoring another kind, or the right kind for another certificate.
    let other = Certificate::from_der(certs::self_signed(&["127.0.0.1"]).der);
    for ignore in [
        SslError::new(SslErrorKind::HostNameMismatch, None),
        SslError::new(SslErrorKind::SelfSignedCertificate, Some(other)),
    ] {
        let spy = Spy::start(&leaf, true);
        let c = Client::new(&ev, SslConfiguration::default());
        c.ws.ignore_ssl_errors_list(std::slice::from_ref(&ignore));
        assert_eq!(
            c.open(&ev, &spy.url("127.0.0.1")),
            refused(&self_signed),
            "{ignore:?}"
        );
        assert_eq!(spy.finish(&ev), b"", "bytes reached a refused server");
    }

    // Ignored in the slot: the upgrade request is the first thing sent.
    let spy = Spy::start(&leaf, true);
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.ssl_errors().connect(|ws, _| ws.ignore_ssl_errors());
    assert_eq!(c.open(&ev, &spy.url("127.0.0.1")), accepted(&self_signed));
    c.ws.abort();
    let received = spy.finish(&ev);
    assert!(
        received.starts_with(b"GET / HTTP/1.1\r\n"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn aborting_in_peer_verify_error_stops_everything() {
    // Qt: the application may abort from the peer_verify_error slot;
    // otherwise ssl_errors follows.
    // Regression (fixed): before the fix, after abort() in the first peer_verify_error slot, the socket
    // (now Unconnected) still emits peer_verify_error for the second error
    // and then ssl_errors: `emit_all`, arm `Emit::SslErrors`
    // (src/socket/mod.rs), emits them all without checking the generation
    // between slots. (No byte is sent: that part holds.)
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["example.com"]);
    let spy = Spy::start(&leaf, true);
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.peer_verify_error().connect(|ws, _| ws.abort());
    c.start(&spy.url("127.0.0.1"));
    assert!(spin(&ev, LIMIT, || c.ws.state() == SocketState::Unconnected));
    settle(&ev, Duration::from_millis(20));
    assert_eq!(
        c.events(),
        [Event::PeerVerifyError(SslError::new(
            SslErrorKind::HostNameMismatch,
            Some(Certificate::from_der(leaf.der.clone()))
        ))],
        "after abort() in the first peer_verify_error slot"
    );
    assert_eq!(spy.finish(&ev), b"", "bytes reached an aborted server");
}

#[test]
fn no_websocket_byte_reaches_a_server_while_paused() {
    let ev = EventLoop::new().unwrap();
    let leaf = certs::self_signed(&["127.0.0.1"]);
    let self_signed = [SslError::new(
        SslErrorKind::SelfSignedCertificate,
        Some(Certificate::from_der(leaf.der.clone())),
    )];

    // Paused, then ignored and resumed.
    let spy = Spy::start(&leaf, true);
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    c.start(&spy.url("127.0.0.1"));
    c.wait_for_ssl_errors(&ev);
    assert!(spin(&ev, LIMIT, || spy.handshake_done()));
    settle(&ev, Duration::from_millis(50));
    assert_eq!(c.ws.state(), SocketState::Connecting);
    assert_eq!(spy.received(), b"", "bytes sent while paused");
    c.ws.ignore_ssl_errors();
    c.ws.resume();
    assert_eq!(c.wait(&ev), accepted(&self_signed));
    c.ws.abort();
    assert!(spy.finish(&ev).starts_with(b"GET "));

    // Paused, then resumed without ignoring.
    let spy = Spy::start(&leaf, true);
    let c = Client::new(&ev, SslConfiguration::default());
    c.ws.set_pause_mode(PauseMode::PauseOnSslErrors);
    c.start(&spy.url("127.0.0.1"));
    c.wait_for_ssl_errors(&ev);
    settle(&ev, Duration::from_millis(20));
    c.ws.resume();
    assert_eq!(c.wait(&ev), refused(&self_signed));
    assert_eq!(spy.finish(&ev), b"", "bytes reached a refused server");
}

// ----- the server under failed handshakes --------------------------------------------

#[test]
fn a_failed_tls_handshake_on_the_server_disturbs_no_other_connection() {
    let ev = EventLoop::new().unwrap();
    let ca = Ca::new("Test CA");
    let server = secure_server(&ev, &ca.leaf(&["127.0.0.1"]));
    let port = server.port();
    let client = Client::new(&ev, trusting(&ca));
    client.start(&server.url("127.0.0.1"));
    assert!(spin(&ev, LIMIT, || echoes(&client.events.borrow()) == 1));

    // Plain TCP with bytes that are not TLS, and a TLS client that does
    // not trust the server.
    let garbage = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\x16\x03\x01\xff\xffgarbage")
            .unwrap();
        let mut answer = Vec::new();
        // The end (or a reset): the server dropped the connection; a
        // timeout: it kept it.
        match s.read_to_end(&mut answer) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(e)
            }
            _ => Ok(answer),
        }
    });
    let untrusting = std::thread::spawn(move || untrusting_tls_client(port));

    // The first connection keeps echoing the whole time.
    let mut sent = 1;
    while !(garbage.is_finished() && untrusting.is_finished()) || sent < 10 {
        assert!(sent < 200, "the other clients did not finish");
        client.ws.send_text_message(&format!("m{sent}"));
        sent += 1;
        assert!(
            spin(&ev, LIMIT, || echoes(&client.events.borrow()) == sent),
            "echo {sent} missing: {:?}",
            client.events()
        );
    }
    let garbage = garbage.join().unwrap();
    let untrusting = untrusting.join().unwrap();
    assert!(
        garbage.is_ok(),
        "the server kept the garbage connection: {garbage:?}"
    );
    assert!(
        untrusting.contains("UnknownIssuer") || untrusting.contains("issuer"),
        "{untrusting}"
    );
    client.ws.send_text_message("after");
    assert!(spin(&ev, LIMIT, || {
        client.events.borrow().last() == Some(&Event::Echo("after".into()))
    }));
    assert_eq!(client.ws.state(), SocketState::Connected);
    assert!(
        !client
            .events()
            .iter()
            .any(|e| matches!(e, Event::Error(..))),
        "{:?}",
        client.events()
    );
    assert_eq!(server.upgrades.get(), 1);
    assert_eq!(server.sockets.borrow()[0].state(), SocketState::Connected);
    // Regression (fixed): before the fix, neither failure was about a client certificate, and the
    // server's ssl_errors is documented as "a client's TLS handshake failed
    // because of its certificate (or lack of one)" (Qt's QSslServer emits
    // sslErrors only for verification errors). The server reports both as
    // [UnspecifiedError] with no certificate: `on_readable`
    // (src/socket/mod.rs) calls `report_tls_failure` for every rustls error
    // during the server handshake (InvalidMessage, AlertReceived, ...).
    assert_eq!(
        *server.events.borrow(),
        [],
        "server ssl_errors / peer_verify_error for a non-certificate failure"
    );
}

// ----- a secure server without identity --------------------------------------------------

#[test]
fn secure_server_without_certificate_cannot_listen() {
    let ev = EventLoop::new().unwrap();
    let server = WebSocketServer::new(&ev, "", SslMode::SecureMode);
    assert_eq!(
        server.listen("127.0.0.1".parse().unwrap(), 0),
        Err(SocketError::SslInvalidUserData)
    );
    assert!(!server.is_listening());
    let text = server.error_string();
    assert!(text.contains("certificate"), "{text:?}");

    // A PEM text without a certificate or a key is refused at once.
    let mut config = SslConfiguration::default();
    let key = certs::self_signed(&["localhost"]).key_pem;
    assert!(
        config
            .set_local_certificate_pem(b"", key.as_bytes())
            .is_err()
    );
    let chain = certs::self_signed(&["localhost"]).chain_pem;
    assert!(
        config
            .set_local_certificate_pem(chain.as_bytes(), b"no key")
            .is_err()
    );
    server.set_ssl_configuration(config);
    assert!(server.listen("127.0.0.1".parse().unwrap(), 0).is_err());

    // A non-secure server needs none.
    let plain = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    assert_eq!(plain.listen("127.0.0.1".parse().unwrap(), 0), Ok(()));
}
