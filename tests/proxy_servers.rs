//! qwebsocket end to end through real proxies (issue #5): a client
//! `WebSocket` reaches a qwebsocket `WebSocketServer` (ws:// and wss://)
//! through tinyproxy (HTTP CONNECT, with and without Basic authentication)
//! and microsocks (SOCKS5, with and without username/password), and through
//! fake proxies (`tests/common/proxies.rs`) for what the real ones never do.
//! The examples `proxy` and `wscat` are run as processes through both.
//!
//! Everything listens on 127.0.0.1. The client always connects to
//! `localhost`, so the name goes through the proxy, and for wss:// the
//! certificate is for `localhost` only, signed by a CA that the client
//! trusts alone. The client and the server run on one `EventLoop` on the
//! test's thread (a thread of its own for the server that `wscat` talks to);
//! every wait is bounded by `LIMIT` and asserts, so no test can hang.

mod common;

use common::certs::Ca;
use common::examples::{Running, example_binary};
use common::proxies::{
    FakeProxy, Microsocks, MicrosocksOptions, Step, Tinyproxy, TinyproxyOptions,
    free_port_not_listening,
};
use common::spin;
use qwebsocket::event_loop::{EventLoop, Handle};
use qwebsocket::proxy::{Proxy, ProxyType};
use qwebsocket::ssl::{SslConfiguration, SslErrorKind};
use qwebsocket::{CloseCode, SocketError, SocketState, SslMode, WebSocket, WebSocketServer};
use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any single wait may last.
const LIMIT: Duration = Duration::from_secs(5);
/// The longest a child process (an example) may run.
const PROCESS_LIMIT: Duration = Duration::from_secs(15);
/// The credentials the authenticating proxies accept.
const USER: &str = "ann";
const PASSWORD: &str = "s3cret";
/// What the clients say before closing.
const BYE: &str = "bye through the proxy";

// ----- running the loop -------------------------------------------------------

/// Polls `done` (something another process writes) until it holds; panics
/// saying `what` after `LIMIT`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "not within {LIMIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ----- the target: a qwebsocket echo server -----------------------------------

/// An echo server (text and binary) on 127.0.0.1, recording what its
/// upgraded sockets saw.
struct Target {
    server: WebSocketServer,
    scheme: &'static str,
    /// What a client needs to trust the server (for wss://).
    client_tls: SslConfiguration,
    /// The peer port of each upgraded connection (the proxy's, when proxied).
    peers: Rc<RefCell<Vec<u16>>>,
    /// Close code and reason of each server-side socket as it disconnected.
    closes: Rc<RefCell<Vec<(u16, String)>>>,
    sockets: Rc<RefCell<Vec<WebSocket>>>,
}

impl Target {
    /// A ws:// echo server.
    fn ws(ev: &EventLoop) -> Target {
        Target::start(ev, None, SslConfiguration::default())
    }

    /// A wss:// echo server presenting a certificate for `localhost` only,
    /// signed by a fresh CA that the client configuration trusts alone.
    fn wss(ev: &EventLoop) -> Target {
        Target::wss_for(ev, &["localhost"])
    }

    /// A wss:// echo server presenting a certificate for `names`.
    fn wss_for(ev: &EventLoop, names: &[&str]) -> Target {
        let ca = Ca::new("qwebsocket proxy test CA");
        let leaf = ca.leaf(names);
        let server = leaf.server_config();
        let mut client = SslConfiguration::default();
        client.add_ca_certificates_pem(ca.pem.as_bytes()).unwrap();
        client.set_use_default_roots(false);
        Target::start(ev, Some(server), client)
    }

    fn start(
        ev: &EventLoop,
        tls: Option<SslConfiguration>,
        client_tls: SslConfiguration,
    ) -> Target {
        let (mode, scheme) = match tls {
            Some(_) => (SslMode::SecureMode, "wss"),
            None => (SslMode::NonSecureMode, "ws"),
        };
        let server = WebSocketServer::new(ev, "proxy test echo", mode);
        if let Some(config) = tls {
            server.set_ssl_configuration(config);
        }
        server
            .listen(Ipv4Addr::LOCALHOST.into(), 0)
            .unwrap_or_else(|e| panic!("listen: {e:?}: {}", server.error_string()));
        let peers = Rc::new(RefCell::new(Vec::new()));
        let closes = Rc::new(RefCell::new(Vec::new()));
        let sockets = Rc::new(RefCell::new(Vec::new()));
        let (p, c, s) = (peers.clone(), closes.clone(), sockets.clone());
        server.new_connection().connect(move |server| {
            while let Some(ws) = server.next_pending_connection() {
                p.borrow_mut().push(ws.peer_port());
                ws.text_message_received().connect(|ws, text| {
                    ws.send_text_message(text);
                });
                ws.binary_message_received().connect(|ws, data| {
                    ws.send_binary_message(data);
                });
                let c = c.clone();
                ws.disconnected().connect(move |ws| {
                    c.borrow_mut()
                        .push((ws.close_code().code(), ws.close_reason()));
                });
                s.borrow_mut().push(ws);
            }
        });
        Target {
            server,
            scheme,
            client_tls,
            peers,
            closes,
            sockets,
        }
    }

    fn port(&self) -> u16 {
        self.server.server_port()
    }

    /// The URL by name, so that the proxy resolves `localhost`.
    fn url(&self) -> String {
        format!("{}://localhost:{}/echo", self.scheme, self.port())
    }

    /// How many connections were upgraded.
    fn upgrades(&self) -> usize {
        self.peers.borrow().len()
    }
}

// ----- the client ------------------------------------------------------------------

/// A client socket recording its signals as short strings (`state:…`,
/// `connected`, `disconnected`, `error:…`, `proxy_authentication_required:
/// HOST:PORT:REALM`, `ssl_errors:…`), and the messages it received apart.
struct Client {
    ws: WebSocket,
    log: Rc<RefCell<Vec<String>>>,
    texts: Rc<RefCell<Vec<String>>>,
    binaries: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl Client {
    /// A client trusting `target`'s CA, set to `proxy` (`None`: left at the
    /// default proxy).
    fn new(ev: &EventLoop, target: &Target, proxy: Option<Proxy>) -> Client {
        let ws = WebSocket::new(ev);
        ws.set_ssl_configuration(target.client_tls.clone());
        if let Some(proxy) = proxy {
            ws.set_proxy(proxy);
        }
        let log = Rc::new(RefCell::new(Vec::new()));
        let texts = Rc::new(RefCell::new(Vec::new()));
        let binaries = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        ws.state_changed()
            .connect(move |_, s| l.borrow_mut().push(format!("state:{s:?}")));
        let l = log.clone();
        ws.connected()
            .connect(move |_| l.borrow_mut().push("connected".into()));
        let l = log.clone();
        ws.disconnected()
            .connect(move |_| l.borrow_mut().push("disconnected".into()));
        let l = log.clone();
        ws.error_occurred()
            .connect(move |_, e| l.borrow_mut().push(format!("error:{e:?}")));
        let l = log.clone();
        ws.proxy_authentication_required()
            .connect(move |_, proxy, auth| {
                l.borrow_mut().push(format!(
                    "proxy_authentication_required:{}:{}:{}",
                    proxy.host_name(),
                    proxy.port(),
                    auth.realm()
                ));
            });
        let l = log.clone();
        ws.ssl_errors().connect(move |_, errors| {
            let kinds: Vec<String> = errors.iter().map(|e| format!("{:?}", e.kind())).collect();
            l.borrow_mut()
                .push(format!("ssl_errors:{}", kinds.join(",")));
        });
        let t = texts.clone();
        ws.text_message_received()
            .connect(move |_, text| t.borrow_mut().push(text.to_owned()));
        let b = binaries.clone();
        ws.binary_message_received()
            .connect(move |_, data| b.borrow_mut().push(data.to_vec()));
        Client {
            ws,
            log,
            texts,
            binaries,
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    fn has(&self, prefix: &str) -> bool {
        self.log.borrow().iter().any(|e| e.starts_with(prefix))
    }

    /// Fills in these credentials whenever the proxy asks; returns how many
    /// times it asked.
    fn answer_credentials(&self, user: &str, password: &str) -> Rc<Cell<usize>> {
        let asked = Rc::new(Cell::new(0));
        let (a, user, password) = (asked.clone(), user.to_owned(), password.to_owned());
        self.ws
            .proxy_authentication_required()
            .connect(move |_, _, auth| {
                a.set(a.get() + 1);
                auth.set_user(&user);
                auth.set_password(&password);
            });
        asked
    }

    /// Opens `url` and runs until connected; panics with the error if it
    /// fails or takes longer than `LIMIT`.
    fn connect(&self, ev: &EventLoop, url: &str) {
        self.ws.open(url).unwrap();
        let finished = spin(ev, LIMIT, || self.has("connected") || self.has("error:"));
        assert!(
            finished && self.ws.state() == SocketState::Connected,
            "not connected to {url} within {LIMIT:?}: {:?}: {:?} (signals {:?})",
            self.ws.error(),
            self.ws.error_string(),
            self.log()
        );
    }

    /// Opens `url` and runs until the failure; checks the error, that its
    /// text has each of `quotes`, Qt's signal order (Connecting, then
    /// Unconnected, disconnected, error_occurred; with what `between` says
    /// came in the middle), and that nothing is left open. Returns the text.
    fn fails(
        &self,
        ev: &EventLoop,
        url: &str,
        kind: SocketError,
        between: &[String],
        quotes: &[&str],
    ) -> String {
        self.ws.open(url).unwrap();
        assert!(
            spin(ev, LIMIT, || self.has("error:")),
            "no error within {LIMIT:?} (signals {:?})",
            self.log()
        );
        let text = self.ws.error_string();
        assert_eq!(self.ws.error(), kind, "{text}");
        for quote in quotes {
            assert!(text.contains(quote), "{text:?} lacks {quote:?}");
        }
        let mut expected = vec!["state:Connecting".to_owned()];
        expected.extend_from_slice(between);
        expected.extend([
            "state:Unconnected".to_owned(),
            "disconnected".to_owned(),
            format!("error:{kind:?}"),
        ]);
        assert_eq!(self.log(), expected, "{text}");
        assert_eq!(self.ws.state(), SocketState::Unconnected);
        assert_eq!(ev.live_connections(), 0, "nothing is left open");
        text
    }

    /// `fails` with no signal between Connecting and Unconnected, and no
    /// quote asked for (the caller checks the whole text).
    fn fails_at_once(&self, ev: &EventLoop, url: &str, kind: SocketError) -> String {
        self.fails(ev, url, kind, &[], &[])
    }

    /// Sends a text and a binary message and waits for both echoes.
    fn echo_round_trip(&self, ev: &EventLoop) {
        let text = "hello through the proxy ✓";
        let data = [0u8, 1, 2, 0x7f, 0x80, 0xff];
        self.ws.send_text_message(text);
        self.ws.send_binary_message(&data);
        assert!(
            spin(ev, LIMIT, || !self.texts.borrow().is_empty()
                && !self.binaries.borrow().is_empty()),
            "no echoes within {LIMIT:?} (signals {:?})",
            self.log()
        );
        assert_eq!(*self.texts.borrow(), [text]);
        assert_eq!(*self.binaries.borrow(), [data.to_vec()]);
        self.texts.borrow_mut().clear();
        self.binaries.borrow_mut().clear();
    }

    /// Closes with 1000 and `BYE`; both sides see the code and the reason.
    fn close_cleanly(&self, ev: &EventLoop, target: &Target) {
        let before = target.closes.borrow().len();
        self.ws.close(CloseCode::Normal, BYE).unwrap();
        assert!(
            spin(ev, LIMIT, || self.has("disconnected")
                && target.closes.borrow().len() > before),
            "the closing handshake did not finish within {LIMIT:?} (signals {:?})",
            self.log()
        );
        assert_eq!(
            target.closes.borrow()[before],
            (1000, BYE.to_owned()),
            "what the server saw"
        );
        assert_eq!(
            (self.ws.close_code(), self.ws.close_reason().as_str()),
            (CloseCode::Normal, BYE),
            "what the client saw"
        );
        assert!(!self.has("error:"), "{:?}", self.log());
    }

    /// The server closes with 4000 and a reason; both sides see them.
    fn closed_by_server(&self, ev: &EventLoop, target: &Target) {
        let before = target.closes.borrow().len();
        let socket = target.sockets.borrow().last().cloned().expect("upgraded");
        socket.close(CloseCode::from(4000), "server bye").unwrap();
        assert!(
            spin(ev, LIMIT, || self.has("disconnected")
                && target.closes.borrow().len() > before),
            "the closing handshake did not finish within {LIMIT:?} (signals {:?})",
            self.log()
        );
        assert_eq!(
            (self.ws.close_code().code(), self.ws.close_reason().as_str()),
            (4000, "server bye"),
            "what the client saw"
        );
        assert_eq!(
            target.closes.borrow()[before],
            (4000, "server bye".to_owned()),
            "what the server saw"
        );
        assert!(!self.has("error:"), "{:?}", self.log());
    }
}

/// Who starts the closing handshake.
#[derive(Clone, Copy)]
enum Closer {
    Client,
    Server,
}

/// Connects through `proxy`, echoes a text and a binary message, closes
/// cleanly; the server saw the connection come from the proxy.
fn echo_through(ev: &EventLoop, target: &Target, proxy: Proxy) {
    echo_through_closed_by(ev, target, proxy, Closer::Client);
}

fn echo_through_closed_by(ev: &EventLoop, target: &Target, proxy: Proxy, closer: Closer) {
    let client = Client::new(ev, target, Some(proxy));
    client.connect(ev, &target.url());
    assert_eq!(
        client.log(),
        ["state:Connecting", "state:Connected", "connected"]
    );
    assert_eq!(client.ws.peer_name(), "localhost", "the server's name");
    assert_ne!(
        target.peers.borrow().last(),
        Some(&client.ws.local_port()),
        "the server's peer is the proxy, not the client"
    );
    client.echo_round_trip(ev);
    match closer {
        Closer::Client => client.close_cleanly(ev, target),
        Closer::Server => client.closed_by_server(ev, target),
    }
}

/// 16 MiB in one binary message, there and back, byte for byte.
fn big_echo_through(ev: &EventLoop, target: &Target, proxy: Proxy) {
    let client = Client::new(ev, target, Some(proxy));
    client.connect(ev, &target.url());
    let data: Vec<u8> = (0..16usize << 20)
        .map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8)
        .collect();
    client.ws.send_binary_message(&data);
    assert!(
        spin(ev, Duration::from_secs(15), || !client
            .binaries
            .borrow()
            .is_empty()),
        "16 MiB did not come back within 15 s (signals {:?})",
        client.log()
    );
    let echoed = client.binaries.borrow_mut().remove(0);
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "the 16 MiB echo differs");
    client.close_cleanly(ev, target);
}

// ----- the real proxies ----------------------------------------------------------

/// A real proxy of a test: tinyproxy or microsocks.
enum Real {
    Tiny(Tinyproxy),
    Micro(Microsocks),
}

impl Real {
    fn tinyproxy() -> Real {
        Real::Tiny(Tinyproxy::start(TinyproxyOptions::default()))
    }

    fn tinyproxy_with_auth() -> Real {
        Real::Tiny(Tinyproxy::start(
            TinyproxyOptions::default().basic_auth(USER, PASSWORD),
        ))
    }

    fn microsocks() -> Real {
        Real::Micro(Microsocks::start(MicrosocksOptions::default()))
    }

    fn microsocks_with_auth() -> Real {
        Real::Micro(Microsocks::start(
            MicrosocksOptions::default().auth(USER, PASSWORD),
        ))
    }

    fn port(&self) -> u16 {
        match self {
            Real::Tiny(p) => p.port(),
            Real::Micro(p) => p.port(),
        }
    }

    /// The proxy setting for it, without credentials.
    fn proxy(&self) -> Proxy {
        match self {
            Real::Tiny(p) => Proxy::http("127.0.0.1", p.port()),
            Real::Micro(p) => Proxy::socks5("127.0.0.1", p.port()),
        }
    }

    /// Its URL for the examples (`user:password@` when given).
    fn url(&self, credentials: Option<(&str, &str)>) -> String {
        let scheme = match self {
            Real::Tiny(_) => "http",
            Real::Micro(_) => "socks5h",
        };
        let auth = credentials.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
        format!("{scheme}://{auth}127.0.0.1:{}", self.port())
    }

    /// How many CONNECTs to `localhost:port` it logged (tinyproxy: each
    /// request, carried out or refused; microsocks: each one carried out).
    fn connects_to(&self, port: u16) -> usize {
        match self {
            Real::Tiny(p) => p
                .log()
                .lines()
                .filter(|l| l.contains("Request (file descriptor"))
                .filter(|l| l.contains(&format!("CONNECT localhost:{port} ")))
                .count(),
            Real::Micro(p) => p
                .output()
                .lines()
                .filter(|l| l.ends_with(&format!("connected to localhost:{port}")))
                .count(),
        }
    }

    /// What the proxy says when asked for credentials it did not get: the
    /// realm of the signal, and the error's text.
    fn auth_required(&self) -> (&'static str, &'static str) {
        match self {
            Real::Tiny(_) => (
                "Tinyproxy",
                "authentication required (HTTP/1.0 407 Proxy Authentication Required)",
            ),
            Real::Micro(_) => (
                "",
                "authentication required (username/password, method 0x02)",
            ),
        }
    }

    /// The error's text when it refused credentials.
    fn credentials_refused(&self) -> &'static str {
        match self {
            // tinyproxy 1.11 answers 401 to wrong credentials (its bug #532).
            Real::Tiny(_) => "the credentials were refused (HTTP/1.0 401 Unauthorized)",
            Real::Micro(_) => "the credentials were refused (status 0x02)",
        }
    }

    /// `HTTP proxy 127.0.0.1:PORT` or `SOCKS5 proxy …`, as messages name it.
    fn label(&self, port: u16) -> String {
        match self {
            Real::Tiny(_) => format!("HTTP proxy 127.0.0.1:{port}"),
            Real::Micro(_) => format!("SOCKS5 proxy 127.0.0.1:{port}"),
        }
    }
}

/// A TCP relay on 127.0.0.1 in front of `upstream` that counts the
/// connections it relays: how many attempts a client made at a real proxy
/// that logs nothing about the ones it refused (microsocks). Stopped and
/// joined when dropped.
struct Relay {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (c, s, st, t) = (
            count.clone(),
            stopping.clone(),
            streams.clone(),
            threads.clone(),
        );
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
                    continue;
                };
                let mut streams = st.lock().unwrap();
                let mut threads = t.lock().unwrap();
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    threads.push(std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    }));
                }
                streams.extend([client, server]);
            }
        });
        Relay {
            addr,
            count,
            stopping,
            streams,
            threads,
            acceptor: Some(acceptor),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections it accepted.
    fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for thread in self.threads.lock().unwrap().drain(..) {
            let _ = thread.join();
        }
    }
}

// ===== echo round trips and a clean close ===========================================

/// Through `proxy` to a ws:// and a wss:// echo server, each closed once by
/// the client and once by the server; returns the two servers.
fn echo_to_ws_and_wss(ev: &EventLoop, proxy: &Real) -> (Target, Target) {
    let (ws, wss) = (Target::ws(ev), Target::wss(ev));
    for closer in [Closer::Client, Closer::Server] {
        echo_through_closed_by(ev, &ws, proxy.proxy(), closer);
        echo_through_closed_by(ev, &wss, proxy.proxy(), closer);
    }
    (ws, wss)
}

#[test]
fn tinyproxy_ws_and_wss_echo_and_close_cleanly() {
    let ev = EventLoop::new().unwrap();
    let proxy = Real::tinyproxy();
    let (ws, wss) = echo_to_ws_and_wss(&ev, &proxy);
    assert_eq!(proxy.connects_to(ws.port()), 2, "one CONNECT each");
    assert_eq!(proxy.connects_to(wss.port()), 2, "one CONNECT each");
}

#[test]
fn microsocks_ws_and_wss_echo_and_close_cleanly() {
    let ev = EventLoop::new().unwrap();
    let proxy = Real::microsocks();
    let (ws, wss) = echo_to_ws_and_wss(&ev, &proxy);
    assert!(
        spin(&ev, LIMIT, || proxy.connects_to(ws.port()) == 2
            && proxy.connects_to(wss.port()) == 2),
        "microsocks resolved localhost for each"
    );
}

#[test]
fn sixteen_mib_through_tinyproxy() {
    let ev = EventLoop::new().unwrap();
    let proxy = Real::tinyproxy();
    big_echo_through(&ev, &Target::ws(&ev), proxy.proxy());
    let auth = Real::tinyproxy_with_auth();
    let with = auth.proxy().with_credentials(USER, PASSWORD);
    big_echo_through(&ev, &Target::wss(&ev), with);
}

#[test]
fn sixteen_mib_through_microsocks() {
    let ev = EventLoop::new().unwrap();
    let proxy = Real::microsocks();
    big_echo_through(&ev, &Target::wss(&ev), proxy.proxy());
    let auth = Real::microsocks_with_auth();
    let with = auth.proxy().with_credentials(USER, PASSWORD);
    big_echo_through(&ev, &Target::ws(&ev), with);
}

#[test]
fn tls_inside_the_tunnel_is_checked_against_the_server_name_not_the_proxy() {
    let ev = EventLoop::new().unwrap();
    for proxy in [Real::tinyproxy(), Real::microsocks()] {
        // A certificate for 127.0.0.1, the proxy's host, not for localhost.
        let target = Target::wss_for(&ev, &["127.0.0.1"]);
        let client = Client::new(&ev, &target, Some(proxy.proxy()));
        client.ws.open(&target.url()).unwrap();
        assert!(
            spin(&ev, LIMIT, || client.has("disconnected")),
            "no failure within {LIMIT:?}: {:?}",
            client.log()
        );
        assert_eq!(
            client.ws.error(),
            SocketError::SslHandshakeFailed,
            "{}",
            client.ws.error_string()
        );
        // The order of a failed TLS handshake, as without a proxy
        // (tests/qt_spec_audit.rs).
        assert_eq!(
            client.log(),
            [
                "state:Connecting".to_owned(),
                format!("ssl_errors:{:?}", SslErrorKind::HostNameMismatch),
                "error:SslHandshakeFailed".into(),
                "state:Unconnected".into(),
                "disconnected".into(),
            ]
        );
        // The server's side goes once the proxy passes the close on.
        assert!(
            spin(&ev, LIMIT, || ev.live_connections() == 0),
            "{} connections still open",
            ev.live_connections()
        );
        assert_eq!(target.upgrades(), 0, "nothing reached the WebSocket layer");
        assert_eq!(
            proxy.connects_to(target.port()),
            1,
            "the tunnel itself was opened"
        );
    }
}

// ===== credentials ===========================================================================

#[test]
fn credentials_in_the_proxy_setting_are_used_at_once() {
    let ev = EventLoop::new().unwrap();
    let (ws, wss) = (Target::ws(&ev), Target::wss(&ev));
    for proxy in [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()] {
        let with = proxy.proxy().with_credentials(USER, PASSWORD);
        echo_through(&ev, &ws, with.clone());
        echo_through(&ev, &wss, with);
    }
}

#[test]
fn credentials_asked_for_are_filled_by_the_slot_and_retried_once() {
    let ev = EventLoop::new().unwrap();
    let target = Target::wss(&ev);
    for proxy in [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()] {
        let client = Client::new(&ev, &target, Some(proxy.proxy()));
        let asked = client.answer_credentials(USER, PASSWORD);
        client.connect(&ev, &target.url());
        let (realm, _) = proxy.auth_required();
        assert_eq!(
            client.log(),
            [
                "state:Connecting".to_owned(),
                format!(
                    "proxy_authentication_required:127.0.0.1:{}:{realm}",
                    proxy.port()
                ),
                "state:Connected".into(),
                "connected".into()
            ]
        );
        assert_eq!(asked.get(), 1);
        assert_eq!(client.ws.proxy().user(), "", "the setting is not changed");
        client.echo_round_trip(&ev);
        client.close_cleanly(&ev, &target);
        // The next open asks again: the setting still has no credentials.
        client.log.borrow_mut().clear();
        client.connect(&ev, &target.url());
        assert_eq!(asked.get(), 2, "asked once per open");
        client.echo_round_trip(&ev);
        client.close_cleanly(&ev, &target);
    }
}

#[test]
fn credentials_asked_for_without_a_slot_fail_with_proxy_authentication_required() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    for proxy in [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()] {
        let upgrades = target.upgrades();
        let client = Client::new(&ev, &target, Some(proxy.proxy()));
        let (realm, what) = proxy.auth_required();
        let text = client.fails(
            &ev,
            &target.url(),
            SocketError::ProxyAuthenticationRequired,
            &[format!(
                "proxy_authentication_required:127.0.0.1:{}:{realm}",
                proxy.port()
            )],
            &[&proxy.label(proxy.port()), what],
        );
        assert_eq!(text, format!("{}: {what}", proxy.label(proxy.port())));
        assert_eq!(target.upgrades(), upgrades, "nothing reached the server");
        // The same socket opens again once the setting has credentials.
        client
            .ws
            .set_proxy(proxy.proxy().with_credentials(USER, PASSWORD));
        client.log.borrow_mut().clear();
        client.connect(&ev, &target.url());
        assert_eq!(
            client.log(),
            ["state:Connecting", "state:Connected", "connected"]
        );
        assert_eq!(
            client.ws.error(),
            SocketError::ProxyAuthenticationRequired,
            "the last error stays (WebSocket::error's documentation)"
        );
        client.echo_round_trip(&ev);
        client.close_cleanly(&ev, &target);
    }
}

#[test]
fn wrong_credentials_twice_fail_without_a_third_attempt() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    for proxy in [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()] {
        // Through a relay that counts the connections to the proxy.
        let relay = Relay::start(proxy.port());
        let mut setting = proxy.proxy().with_credentials(USER, "wrong");
        setting.set_port(relay.port());
        let client = Client::new(&ev, &target, Some(setting));
        let asked = client.answer_credentials(USER, "wrong-again");
        // Refused credentials come without a realm (tinyproxy's 401 has no
        // Proxy-Authenticate; SOCKS5 has no realms).
        let text = client.fails(
            &ev,
            &target.url(),
            SocketError::ProxyAuthenticationRequired,
            &[format!(
                "proxy_authentication_required:127.0.0.1:{}:",
                relay.port()
            )],
            &[proxy.credentials_refused()],
        );
        assert_eq!(
            text,
            format!(
                "{}: {}",
                proxy.label(relay.port()),
                proxy.credentials_refused()
            )
        );
        assert_eq!(asked.get(), 1, "asked once per open");
        assert_eq!(relay.connections(), 2, "no third attempt");
        if let Real::Tiny(_) = proxy {
            assert_eq!(proxy.connects_to(target.port()), 2, "two requests logged");
        }
        assert_eq!(target.upgrades(), 0);
    }
}

// ===== failures ===============================================================================

/// Opens `ws://localhost:PORT/` through `proxy`, with nothing listening on
/// that port of 127.0.0.1, which must fail with `kind`; returns the port and
/// the error's text.
fn fails_to_reach_nowhere(proxy: &Real, kind: SocketError) -> (u16, String) {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let client = Client::new(&ev, &target, Some(proxy.proxy()));
    let port = free_port_not_listening().port();
    let text = client.fails_at_once(&ev, &format!("ws://localhost:{port}/"), kind);
    (port, text)
}

#[test]
fn a_proxy_that_is_not_listening_is_proxy_connection_refused() {
    let ev = EventLoop::new().unwrap();
    let port = free_port_not_listening().port();
    for (proxy, label) in [
        (Proxy::http("127.0.0.1", port), "HTTP"),
        (Proxy::socks5("127.0.0.1", port), "SOCKS5"),
    ] {
        let target = Target::ws(&ev);
        let client = Client::new(&ev, &target, Some(proxy));
        let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyConnectionRefused);
        assert_eq!(
            text,
            format!("{label} proxy 127.0.0.1:{port}: connection refused")
        );
    }
}

#[test]
fn tinyproxy_refusing_the_port_is_proxy_connection_refused() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let proxy = Tinyproxy::start(TinyproxyOptions::default().connect_ports(&[443]));
    let client = Client::new(&ev, &target, Some(Proxy::http("127.0.0.1", proxy.port())));
    let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyConnectionRefused);
    assert_eq!(
        text,
        format!(
            "HTTP proxy 127.0.0.1:{}: refused the tunnel to localhost:{}: \
             HTTP/1.1 403 Access violation",
            proxy.port(),
            target.port()
        )
    );
}

#[test]
fn tinyproxy_failing_to_reach_the_server_is_a_quoted_protocol_error() {
    let proxy = Real::tinyproxy();
    let (port, text) = fails_to_reach_nowhere(&proxy, SocketError::ProxyProtocol);
    assert_eq!(
        text,
        format!(
            "HTTP proxy 127.0.0.1:{}: unexpected reply to CONNECT localhost:{port}: \
             HTTP/1.1 500 Unable to connect",
            proxy.port()
        )
    );
}

#[test]
fn microsocks_to_a_closed_port_is_connection_refused() {
    let proxy = Real::microsocks();
    let (port, text) = fails_to_reach_nowhere(&proxy, SocketError::ConnectionRefused);
    assert_eq!(
        text,
        format!(
            "SOCKS5 proxy 127.0.0.1:{}: localhost:{port}: connection refused (reply 0x05)",
            proxy.port()
        )
    );
}

/// A fake SOCKS5 proxy that takes the client's greeting (no authentication
/// or username/password), picks no authentication, reads the CONNECT
/// request for `localhost:port` (address type 3) and answers `reply`.
fn socks_replying(port: u16, reply: &[u8]) -> FakeProxy {
    let mut request = vec![5, 1, 0, 3, 9];
    request.extend_from_slice(b"localhost");
    request.extend_from_slice(&port.to_be_bytes());
    FakeProxy::script(vec![
        Step::expect([5, 2, 0, 2]),
        Step::write([5, 0]),
        Step::expect(request),
        Step::write(reply),
    ])
}

#[test]
fn a_socks5_refusal_by_rule_is_proxy_connection_refused() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let fake = socks_replying(target.port(), &[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    let client = Client::new(&ev, &target, Some(Proxy::socks5("127.0.0.1", fake.port())));
    let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyConnectionRefused);
    assert_eq!(
        text,
        format!(
            "SOCKS5 proxy 127.0.0.1:{}: localhost:{}: connection not allowed by ruleset \
             (reply 0x02)",
            fake.port(),
            target.port()
        )
    );
    fake.wait_done(LIMIT);
}

#[test]
fn a_proxy_closing_mid_tunnel_is_proxy_connection_closed() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let http = FakeProxy::script(vec![
        Step::ReadHttpHead,
        Step::write("HTTP/1.1 200 Connection estab"),
    ]);
    let socks = socks_replying(target.port(), &[5, 0, 0]);
    for (proxy, label) in [
        (
            Proxy::http("127.0.0.1", http.port()),
            format!("HTTP proxy 127.0.0.1:{}", http.port()),
        ),
        (
            Proxy::socks5("127.0.0.1", socks.port()),
            format!("SOCKS5 proxy 127.0.0.1:{}", socks.port()),
        ),
    ] {
        let client = Client::new(&ev, &target, Some(proxy));
        let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyConnectionClosed);
        assert!(
            text.starts_with(&format!(
                "{label}: closed the connection before the tunnel was open"
            )),
            "{text}"
        );
    }
    http.wait_done(LIMIT);
    socks.wait_done(LIMIT);
    assert_eq!(target.upgrades(), 0);
}

#[test]
fn a_proxy_that_never_answers_times_out() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let http = FakeProxy::never_answers();
    let socks = FakeProxy::never_answers();
    for (proxy, label, fake) in [
        (Proxy::http("127.0.0.1", http.port()), "HTTP", &http),
        (Proxy::socks5("127.0.0.1", socks.port()), "SOCKS5", &socks),
    ] {
        let client = Client::new(&ev, &target, Some(proxy));
        client
            .ws
            .set_proxy_timeout(Some(Duration::from_millis(300)));
        let started = Instant::now();
        let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyConnectionTimeout);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(
            text,
            format!(
                "{label} proxy 127.0.0.1:{}: no tunnel to the server within 300ms",
                fake.port()
            )
        );
        // The fake saw the request and then the client going away.
        let received = fake.wait_done(LIMIT);
        assert!(!received.is_empty());
    }
}

#[test]
fn garbage_from_a_proxy_is_a_protocol_error_quoting_it() {
    let ev = EventLoop::new().unwrap();
    let target = Target::ws(&ev);
    let http = FakeProxy::replies("SSH-2.0-OpenSSH_9.2p1\r\n");
    let socks_greeting = FakeProxy::replies("HTTP/1.1 400 Bad Request\r\n\r\n");
    let socks_reply = socks_replying(target.port(), &[4, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let cases = [
        (
            Proxy::http("127.0.0.1", http.port()),
            format!(
                "HTTP proxy 127.0.0.1:{}: not an HTTP reply (invalid HTTP version): \
                 \"SSH-2.0-OpenSSH_9.2p1\"",
                http.port()
            ),
        ),
        (
            Proxy::socks5("127.0.0.1", socks_greeting.port()),
            format!(
                "SOCKS5 proxy 127.0.0.1:{}: not a SOCKS5 reply (version byte 0x48): \
                 \"HTTP/1.1 400 Bad Request\"",
                socks_greeting.port()
            ),
        ),
        (
            Proxy::socks5("127.0.0.1", socks_reply.port()),
            format!(
                "SOCKS5 proxy 127.0.0.1:{}: bad reply version 0x04",
                socks_reply.port()
            ),
        ),
    ];
    for (proxy, expected) in cases {
        let client = Client::new(&ev, &target, Some(proxy));
        let text = client.fails_at_once(&ev, &target.url(), SocketError::ProxyProtocol);
        assert_eq!(text, expected);
    }
    for fake in [http, socks_greeting, socks_reply] {
        fake.wait_done(LIMIT);
    }
    assert_eq!(target.upgrades(), 0);
}

// ===== the application proxy ====================================================================

#[test]
fn the_application_proxy_is_used_by_default_and_no_proxy_bypasses_it() {
    for proxy in [Real::tinyproxy(), Real::microsocks()] {
        let ev = EventLoop::new().unwrap();
        let target = Target::ws(&ev);
        ev.set_application_proxy(proxy.proxy());

        // Left at the default proxy: through the application proxy.
        let client = Client::new(&ev, &target, None);
        assert_eq!(client.ws.proxy().kind(), ProxyType::DefaultProxy);
        client.connect(&ev, &target.url());
        assert!(
            spin(&ev, LIMIT, || proxy.connects_to(target.port()) == 1),
            "the proxy did not carry the connection"
        );
        assert_ne!(
            target.peers.borrow()[0],
            client.ws.local_port(),
            "the server's peer is the proxy"
        );
        client.echo_round_trip(&ev);
        client.close_cleanly(&ev, &target);

        // Proxy::no_proxy(): directly, the proxy sees nothing more.
        let direct = Client::new(&ev, &target, Some(Proxy::no_proxy()));
        direct.connect(&ev, &target.url());
        assert_eq!(
            target.peers.borrow()[1],
            direct.ws.local_port(),
            "the server's peer is the client itself"
        );
        direct.echo_round_trip(&ev);
        direct.close_cleanly(&ev, &target);
        assert_eq!(proxy.connects_to(target.port()), 1);
    }
}

// ===== the examples, as processes ===============================================================

/// Runs the proxy example through `plain` (ws:// and wss://) and through
/// `auth` with credentials in its URL (wss://).
fn run_proxy_example_through(plain: Real, auth: Real) {
    run_proxy_example(&plain.url(None), false);
    run_proxy_example(&plain.url(None), true);
    run_proxy_example(&auth.url(Some((USER, PASSWORD))), true);
}

/// Runs `examples/proxy PROXY_URL [--tls]`; it must exit 0 saying `done`.
fn run_proxy_example(proxy_url: &str, tls: bool) {
    let mut cmd = Command::new(example_binary("proxy"));
    cmd.arg(proxy_url);
    if tls {
        cmd.arg("--tls");
    }
    let name = format!("proxy {proxy_url}{}", if tls { " --tls" } else { "" });
    let mut run = Running::start(&name, cmd, PROCESS_LIMIT);
    let status = run.wait();
    assert!(
        status.success() && run.seen().iter().any(|l| l == "done"),
        "{name}: {status}; stdout: {:#?}\nstderr: {}",
        run.seen(),
        run.stderr()
    );
}

#[test]
fn example_proxy_through_tinyproxy() {
    run_proxy_example_through(Real::tinyproxy(), Real::tinyproxy_with_auth());
}

#[test]
fn example_proxy_through_microsocks() {
    run_proxy_example_through(Real::microsocks(), Real::microsocks_with_auth());
}

/// A ws:// echo server on a thread of its own (with its own loop), for the
/// processes to talk to while the test thread waits on them.
struct ServerThread {
    port: u16,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    fn start() -> ServerThread {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let ev = EventLoop::new().unwrap();
            let target = Target::ws(&ev);
            tx.send((target.port(), ev.handle())).unwrap();
            ev.run();
        });
        let (port, handle) = rx.recv_timeout(LIMIT).expect("the server thread started");
        ServerThread {
            port,
            handle,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ws://localhost:{}/", self.port)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.handle.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The variables that name proxies (`Proxy::system_proxy_for`).
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// `wscat connect URL ARGS…` with only the proxy variables of `env`, in a
/// session of its own (no controlling terminal: /dev/tty cannot be
/// opened), stdin a pipe.
fn wscat(url: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(example_binary("wscat"));
    cmd.args(["connect", url]).args(args);
    for var in PROXY_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    // SAFETY: setsid is async-signal-safe and is all the closure does.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let name = format!("wscat {args:?} {env:?}");
    Running::start(&name, cmd, PROCESS_LIMIT)
}

/// `wscat connect URL --proxy PROXY_URL`.
fn wscat_via(url: &str, proxy_url: &str) -> Running {
    wscat(url, &["--proxy", proxy_url], &[])
}

/// Sends a line, reads its echo, ends stdin; wscat closes and exits 0.
fn echo_and_exit(mut wscat: Running) {
    wscat.expect_line("connected", |l| l == "connected");
    wscat.send("hello via the proxy");
    wscat.expect_line("the echo", |l| l == "text: hello via the proxy");
    wscat.close_stdin();
    wscat.expect_line("the close", |l| l == "disconnected: 1000 \"\"");
    let status = wscat.wait();
    assert!(status.success(), "{status}; stderr: {}", wscat.stderr());
}

#[test]
fn wscat_connects_through_each_proxy() {
    let server = ServerThread::start();
    let plain = [Real::tinyproxy(), Real::microsocks()];
    let auth = [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()];
    let runs = plain
        .iter()
        .map(|p| p.url(None))
        .chain(auth.iter().map(|p| p.url(Some((USER, PASSWORD)))));
    for proxy_url in runs {
        echo_and_exit(wscat_via(&server.url(), &proxy_url));
    }
    for proxy in plain.iter().chain(&auth) {
        eventually("each proxy logged its CONNECT", || {
            proxy.connects_to(server.port) == 1
        });
    }
}

#[test]
fn wscat_uses_the_environment_proxy_unless_told_otherwise() {
    let server = ServerThread::start();
    let tiny = Real::tinyproxy();
    let micro = Real::microsocks();
    let (tiny_url, micro_url) = (tiny.url(None), micro.url(None));
    echo_and_exit(wscat(&server.url(), &[], &[("http_proxy", &tiny_url)]));
    echo_and_exit(wscat(&server.url(), &[], &[("all_proxy", &micro_url)]));
    // Directly: --no-proxy, or no_proxy naming the host.
    echo_and_exit(wscat(
        &server.url(),
        &["--no-proxy"],
        &[("http_proxy", &tiny_url)],
    ));
    echo_and_exit(wscat(
        &server.url(),
        &[],
        &[("http_proxy", &tiny_url), ("no_proxy", "localhost")],
    ));
    eventually("tinyproxy logged one CONNECT", || {
        tiny.connects_to(server.port) == 1
    });
    eventually("microsocks logged one CONNECT", || {
        micro.connects_to(server.port) == 1
    });
}

#[test]
fn wscat_without_credentials_and_without_a_terminal_fails() {
    let server = ServerThread::start();
    for proxy in [Real::tinyproxy_with_auth(), Real::microsocks_with_auth()] {
        let mut wscat = wscat_via(&server.url(), &proxy.url(None));
        let status = wscat.wait();
        let stderr = wscat.stderr();
        assert_eq!(status.code(), Some(1), "{status}; stderr: {stderr}");
        let (_, what) = proxy.auth_required();
        assert!(
            stderr.contains(&format!(
                "ProxyAuthenticationRequired: {}: {what}",
                proxy.label(proxy.port())
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains("none could be asked for"),
            "it tried the terminal: {stderr}"
        );
        assert!(
            !wscat.seen().iter().any(|l| l == "connected"),
            "{:?}",
            wscat.seen()
        );
    }
}
