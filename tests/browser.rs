//! A real browser as the peer: Debian's `chromium`, headless, loads a page
//! served on 127.0.0.1 whose script talks to our `WebSocketServer` over
//! `ws://` and `wss://`, then posts what it saw back as JSON. The test
//! asserts on that report and on what the servers saw (request headers,
//! every message byte for byte, pongs, close codes).
//!
//! The page (`tests/browser_page.html`) runs, for each scheme:
//!
//! 1. `/echo`: text and binary messages of several sizes (0, 125, 126, 127,
//!    64 KiB - 1, 64 KiB, 1 MiB, non-ASCII text), each echoed and compared
//!    byte for byte; then the page closes with 4001 and a reason.
//! 2. `/ctl`: a binary and a text message made by the server, two pings from
//!    the server (the browser answers them itself; the server reports each
//!    pong's payload and round trip back as text), then the server closes
//!    with 4002 and a reason.
//!
//! The browser runs with a fresh profile in a scratch directory, talks only
//! to 127.0.0.1, trusts the throwaway `wss://` certificate through
//! `--ignore-certificate-errors-spki-list` (that key alone), and is killed
//! with its whole process group when the test ends, however it ends. A
//! missing `chromium` is a failure that says to run `cargo xtask tools`.
//!
//! Run it alone: `cargo test --test browser`.

#[path = "common/certs.rs"]
mod certs;
#[path = "../xtask/src/json.rs"]
#[allow(dead_code)]
mod json;

use base64::Engine as _;
use json::Json;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CloseCode, CompressionOptions, SslMode, WebSocket, WebSocketServer};
use rcgen::PublicKeyData as _;
use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The whole run, browser start-up included, must end within this.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the page waits for any one answer before reporting a failure.
const PAGE_TIMEOUT_MS: u64 = 20_000;
/// What the servers send on `/ctl` when asked, and what the page expects.
const SERVER_BINARY: (usize, u32) = (200_000, 0x5eed_0001);
const NON_ASCII: &str = "héllo wörld — ✓ 𝄞 日本語 🙂 ";
const SERVER_TEXT_REPEAT: usize = 500;
/// The close each side starts.
const PAGE_CLOSE: (u16, &str) = (4001, "bye from the page ✓");
const SERVER_CLOSE: (u16, &str) = (4002, "bye from the server ✓");

// ----- the payloads ----------------------------------------------------------------

/// The page's generator (`bytesOf` in the page): xorshift32, one byte a step.
fn bytes_of(size: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The page's `asciiOf`: lower-case letters from the same generator.
fn ascii_of(size: usize, seed: u32) -> String {
    bytes_of(size, seed)
        .into_iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

/// One message of the echo plan.
#[derive(Clone, Debug)]
enum Planned {
    Ascii(usize, u32),
    Literal(&'static str, usize),
    Binary(usize, u32),
}

#[derive(Clone, PartialEq, Eq)]
enum Message {
    Text(String),
    Binary(Vec<u8>),
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sizes, not megabytes of payload, in assertion messages.
        match self {
            Message::Text(t) if t.len() <= 64 => write!(f, "Text({t:?})"),
            Message::Text(t) => {
                let start: String = t.chars().take(16).collect();
                write!(f, "Text({} bytes, {start:?}...)", t.len())
            }
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl Planned {
    fn message(&self) -> Message {
        match *self {
            Planned::Ascii(size, seed) => Message::Text(ascii_of(size, seed)),
            Planned::Literal(text, repeat) => Message::Text(text.repeat(repeat)),
            Planned::Binary(size, seed) => Message::Binary(bytes_of(size, seed)),
        }
    }

    fn json(&self) -> String {
        match *self {
            Planned::Ascii(size, seed) => {
                format!(r#"{{"kind":"ascii","size":{size},"seed":{seed}}}"#)
            }
            Planned::Literal(text, repeat) => {
                let mut s = String::from(r#"{"kind":"literal","text":"#);
                json::write_string(&mut s, text);
                s.push_str(&format!(r#","repeat":{repeat}}}"#));
                s
            }
            Planned::Binary(size, seed) => {
                format!(r#"{{"kind":"binary","size":{size},"seed":{seed}}}"#)
            }
        }
    }
}

/// What the page sends on `/echo`, in order: the frame length edges (125 is
/// the largest 7-bit length, 126 the smallest 16-bit one, 64 KiB the
/// smallest 64-bit one), non-ASCII text, and 1 MiB, which our server sends
/// back in two frames (its outgoing frame size is 512 KiB).
fn echo_plan() -> Vec<Planned> {
    let mut plan = Vec::new();
    for (i, size) in [0, 125, 126, 65_536].into_iter().enumerate() {
        plan.push(Planned::Ascii(size, 0x1000 + i as u32));
    }
    plan.push(Planned::Literal(NON_ASCII, 1));
    plan.push(Planned::Literal(NON_ASCII, 3_000));
    for (i, size) in [0, 1, 125, 126, 127, 65_535, 65_536, 1 << 20]
        .into_iter()
        .enumerate()
    {
        plan.push(Planned::Binary(size, 0x2000 + i as u32));
    }
    plan
}

/// The pings the servers send on `/ctl`: text, and 125 binary bytes (the
/// largest control frame payload).
fn ping_payloads() -> Vec<Vec<u8>> {
    vec![b"qwebsocket ping".to_vec(), bytes_of(125, 0x3000)]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ----- what the servers saw ----------------------------------------------------------

/// One upgraded connection as the server saw it.
#[derive(Debug, Default)]
struct Seen {
    resource: String,
    scheme: String,
    origin: Option<String>,
    user_agent: Option<String>,
    extensions_offer: Option<String>,
    /// What the server agreed to (`WebSocket::compression`).
    compression: Option<String>,
    messages: Vec<Message>,
    /// Each pong: its payload and round trip.
    pongs: Vec<(Vec<u8>, Duration)>,
    /// `close_code()` and `close_reason()` when `disconnected` fired.
    closed: Option<(u16, String)>,
    errors: Vec<String>,
}

type SeenList = Rc<RefCell<Vec<Rc<RefCell<Seen>>>>>;

struct ServerSide {
    server: WebSocketServer,
    seen: SeenList,
    /// Keeps the upgraded sockets alive.
    _sockets: Rc<RefCell<Vec<WebSocket>>>,
}

/// Builds and starts one test server on 127.0.0.1 (an ephemeral port).
/// This is the one place where the servers are made, for `ws://` and
/// `wss://` alike.
///
/// permessage-deflate is on: the browser offers it, and every connection
/// must negotiate it (checked on both ends).
fn start_server(ev: &EventLoop, ssl: Option<SslConfiguration>) -> ServerSide {
    let mode = match ssl {
        Some(_) => SslMode::SecureMode,
        None => SslMode::NonSecureMode,
    };
    let server = WebSocketServer::new(ev, "browser test", mode);
    server.set_compression(CompressionOptions::enabled());
    if let Some(config) = ssl {
        server.set_ssl_configuration(config);
    }
    server
        .listen(Ipv4Addr::LOCALHOST.into(), 0)
        .unwrap_or_else(|e| panic!("listen: {e:?}: {}", server.error_string()));
    let seen: SeenList = Rc::default();
    let sockets: Rc<RefCell<Vec<WebSocket>>> = Rc::default();
    let (list, keep) = (seen.clone(), sockets.clone());
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            list.borrow_mut().push(watch(&ws));
            keep.borrow_mut().push(ws);
        }
    });
    ServerSide {
        server,
        seen,
        _sockets: sockets,
    }
}

/// Records what `ws` sees and answers it: `/echo` echoes every message,
/// `/ctl` obeys the page's commands.
fn watch(ws: &WebSocket) -> Rc<RefCell<Seen>> {
    let request = ws.request();
    let header = |name: &str| request.header(name).map(str::to_string);
    let seen = Rc::new(RefCell::new(Seen {
        resource: ws.resource_name(),
        scheme: ws
            .request_url()
            .map(|u| u.scheme().to_string())
            .unwrap_or_default(),
        origin: header("Origin"),
        user_agent: header("User-Agent"),
        extensions_offer: header("Sec-WebSocket-Extensions"),
        compression: ws.compression().map(|c| c.to_string()),
        ..Seen::default()
    }));
    let echo = seen.borrow().resource == "/echo";

    let s = seen.clone();
    ws.text_message_received().connect(move |ws, text| {
        s.borrow_mut().messages.push(Message::Text(text.into()));
        if echo {
            ws.send_text_message(text);
        } else {
            obey(ws, text, &s);
        }
    });
    let s = seen.clone();
    ws.binary_message_received().connect(move |ws, data| {
        s.borrow_mut().messages.push(Message::Binary(data.into()));
        if echo {
            ws.send_binary_message(data);
        }
    });
    let s = seen.clone();
    ws.pong().connect(move |ws, rtt, payload| {
        let n = {
            let mut seen = s.borrow_mut();
            seen.pongs.push((payload.to_vec(), rtt));
            seen.pongs.len() - 1
        };
        ws.send_text_message(&format!("pong {n} {} {}", hex(payload), rtt.as_micros()));
    });
    let s = seen.clone();
    ws.disconnected().connect(move |ws| {
        s.borrow_mut().closed = Some((ws.close_code().code(), ws.close_reason()));
    });
    let s = seen.clone();
    ws.error_occurred().connect(move |ws, e| {
        s.borrow_mut()
            .errors
            .push(format!("{e:?}: {}", ws.error_string()));
    });
    seen
}

/// The `/ctl` commands.
fn obey(ws: &WebSocket, command: &str, seen: &Rc<RefCell<Seen>>) {
    match command.split_once(' ').unwrap_or((command, "")) {
        ("send-binary", "") => {
            ws.send_binary_message(&bytes_of(SERVER_BINARY.0, SERVER_BINARY.1));
        }
        ("send-text", "") => {
            ws.send_text_message(&NON_ASCII.repeat(SERVER_TEXT_REPEAT));
        }
        ("ping", n) => {
            let payload = n
                .parse::<usize>()
                .ok()
                .and_then(|n| ping_payloads().get(n).cloned());
            match payload {
                Some(p) => assert!(ws.ping(&p), "ping not sent"),
                None => seen.borrow_mut().errors.push(format!("bad ping {n:?}")),
            }
        }
        ("close", "") => ws
            .close(CloseCode::Other(SERVER_CLOSE.0), SERVER_CLOSE.1)
            .expect("close"),
        _ => seen
            .borrow_mut()
            .errors
            .push(format!("unknown command {command:?}")),
    }
}

// ----- the page and its HTTP server ----------------------------------------------------

/// A tiny HTTP/1.1 responder on 127.0.0.1: `GET /` serves the page,
/// `POST /report` hands the body to the test, anything else is a 404. One
/// request per connection. Stopped and joined when dropped.
struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    fn start(page: String, reports: Sender<String>) -> PageServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = answer(stream, &page, &reports) {
                            eprintln!("page server: {e}");
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("page server accept: {e}"),
                }
            }
        });
        PageServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request from `stream` and answers it.
fn answer(mut stream: TcpStream, page: &str, reports: &Sender<String>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(()); // closed before a whole request: nothing to answer
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head over 64 KiB"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let respond = |stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)
    };
    match (method, target) {
        ("GET", "/") => respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            page.as_bytes(),
        ),
        ("POST", "/report") => {
            if length > 16 << 20 {
                return Err(std::io::Error::other("report over 16 MiB"));
            }
            let mut body = buf[head_end..].to_vec();
            while body.len() < length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::Error::other("report cut short"));
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
            let _ = reports.send(String::from_utf8_lossy(&body).into_owned());
            respond(&mut stream, "204 No Content", "text/plain", b"")
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n"),
    }
}

/// The page with its plan: where to connect and what to send and expect.
fn page(ws_port: u16, wss_port: u16) -> String {
    let messages: Vec<String> = echo_plan().iter().map(Planned::json).collect();
    let mut text = String::new();
    json::write_string(&mut text, NON_ASCII);
    let mut page_reason = String::new();
    json::write_string(&mut page_reason, PAGE_CLOSE.1);
    let plan = format!(
        r#"{{"targets":[{{"name":"ws","url":"ws://127.0.0.1:{ws_port}"}},{{"name":"wss","url":"wss://127.0.0.1:{wss_port}"}}],"messages":[{}],"serverBinary":{{"size":{},"seed":{}}},"serverText":{{"text":{text},"repeat":{SERVER_TEXT_REPEAT}}},"pings":{},"pageClose":{{"code":{},"reason":{page_reason}}},"timeoutMs":{PAGE_TIMEOUT_MS}}}"#,
        messages.join(","),
        SERVER_BINARY.0,
        SERVER_BINARY.1,
        ping_payloads().len(),
        PAGE_CLOSE.0,
    );
    let template = include_str!("browser_page.html");
    assert!(template.contains("/*PLAN*/null"));
    template.replace("/*PLAN*/null", &plan)
}

// ----- the browser ---------------------------------------------------------------------

/// A scratch directory under the system's temporary directory, removed with
/// everything in it when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        let base = std::env::temp_dir();
        for n in 0.. {
            let dir = base.join(format!("qws-browser-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return ScratchDir(dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", dir.display()),
            }
        }
        unreachable!()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Headless chromium in its own process group: the group is killed, the
/// browser reaped and its scratch directory (profile, HOME, log) removed
/// when dropped. If the test panicked, the browser's output is printed.
struct Browser {
    child: Child,
    log: PathBuf,
    /// The HOME it runs with, in the scratch directory: marks its processes.
    home: PathBuf,
    /// Dropped after `drop` ran, once the processes are gone.
    _dir: ScratchDir,
}

/// The path of `chromium`, or a failure saying how to install it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found: run `cargo xtask tools` (or `cargo xtask test`), which \
                 installs Debian's chromium; this test is never skipped"
            )
        })
}

impl Browser {
    fn launch(url: &str, spki_sha256: &str) -> Browser {
        let program = chromium();
        let dir = ScratchDir::new();
        let (profile, home, log) = (dir.0.join("profile"), dir.0.join("home"), dir.0.join("log"));
        std::fs::create_dir(&home).unwrap();
        let output = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(program);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Trusts the test's throwaway leaf (its public key), nothing else.
        .arg(format!(
            "--ignore-certificate-errors-spki-list={spki_sha256}"
        ))
        .arg(url)
        // Nothing written to the real home directory.
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output);
        own_group_dying_with_thread(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
        Browser {
            child,
            log,
            home,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// The child leads a process group of its own (so that the browser's
/// helper processes can be killed with it) and is killed by the kernel when
/// the thread that started it ends (a test binary killed mid-run leaves no
/// browser behind).
fn own_group_dying_with_thread(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the forked process; it is all the closure does.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The live processes whose environment has `HOME=home`: the browser and
/// every helper it started (some, like the crash handler, leave its process
/// group), since `home` is the test's own scratch directory.
fn processes_with_home(home: &std::path::Path) -> Vec<libc::pid_t> {
    let mut marker = b"HOME=".to_vec();
    marker.extend_from_slice(home.as_os_str().as_encoded_bytes());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            // A zombie's environment reads empty: only live ones match.
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .any(|var| var == marker.as_slice())
                .then_some(pid)
        })
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (set up in `own_group_dying_with_thread`), no other.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        // Then whatever the browser started outside its group; bounded.
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_with_home(&self.home);
            if left.is_empty() || Instant::now() >= until {
                break;
            }
            for pid in left {
                // SAFETY: kill(2) on a process this test started (it carries
                // the test's scratch HOME); no memory is involved.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if std::thread::panicking() {
            eprintln!("----- chromium's output -----\n{}", self.output());
        }
    }
}

// ----- the certificate ---------------------------------------------------------------

/// A throwaway CA and a leaf for 127.0.0.1 made now: the server's
/// configuration and the base64 SHA-256 of the leaf's SubjectPublicKeyInfo
/// (what `--ignore-certificate-errors-spki-list` takes).
fn throwaway_tls() -> (SslConfiguration, String) {
    let ca = certs::Ca::new("qwebsocket browser test CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let config = leaf.server_config();
    let key = rcgen::KeyPair::from_pem(&leaf.key_pem).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
    let spki = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    (config, spki)
}

// ----- reading the report --------------------------------------------------------------

fn field<'a>(value: &'a Json, key: &str) -> &'a Json {
    value
        .get(key)
        .unwrap_or_else(|| panic!("the report has no {key:?} in {value:?}"))
}

fn text<'a>(value: &'a Json, key: &str) -> &'a str {
    field(value, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string: {value:?}"))
}

fn number(value: &Json, key: &str) -> f64 {
    match field(value, key) {
        Json::Number(n) => *n,
        other => panic!("{key:?} is not a number: {other:?}"),
    }
}

fn array<'a>(value: &'a Json, key: &str) -> &'a [Json] {
    match field(value, key) {
        Json::Array(items) => items,
        other => panic!("{key:?} is not an array: {other:?}"),
    }
}

/// A close event the page reported, as (code, reason, wasClean).
fn close_event(value: &Json, key: &str) -> (u16, String, bool) {
    let c = field(value, key);
    let clean = matches!(field(c, "wasClean"), Json::Bool(true));
    (
        number(c, "code") as u16,
        text(c, "reason").to_string(),
        clean,
    )
}

// ----- the test ----------------------------------------------------------------------

/// Runs `ev` until `ready()` gives a value or the deadline passes.
fn spin_until<T>(
    ev: &EventLoop,
    deadline: Instant,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        if let Some(value) = ready() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let wait = (deadline - now).min(Duration::from_millis(10));
        ev.process_events(Some(wait)).unwrap();
    }
}

fn assert_no_difference(result: &Json, key: &str, what: &str) {
    assert!(
        matches!(field(result, key), Json::Null),
        "{what}: {:?}",
        field(result, key)
    );
}

#[test]
fn chromium_talks_to_our_servers_over_ws_and_wss() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let ev = EventLoop::new().unwrap();
    let plain = start_server(&ev, None);
    let (tls, spki) = throwaway_tls();
    let secure = start_server(&ev, Some(tls));
    let (report_tx, report_rx): (Sender<String>, Receiver<String>) = channel();
    let pages = PageServer::start(
        page(plain.server.server_port(), secure.server.server_port()),
        report_tx,
    );
    let origin = format!("http://127.0.0.1:{}", pages.port);
    let browser = Browser::launch(&format!("{origin}/"), &spki);

    // Until the page reports, then until every connection has ended on the
    // server (it should already have: the page reports after its last
    // `onclose`), a few seconds at most.
    let report = spin_until(&ev, deadline, || report_rx.try_recv().ok());
    let all_closed = |side: &ServerSide| {
        let seen = side.seen.borrow();
        seen.len() == 2 && seen.iter().all(|s| s.borrow().closed.is_some())
    };
    let grace = deadline.min(Instant::now() + Duration::from_secs(5));
    let finished = spin_until(&ev, grace, || {
        (all_closed(&plain) && all_closed(&secure)).then_some(())
    })
    .is_some();
    let elapsed = started.elapsed();
    drop(browser);
    drop(pages);
    let report = report.unwrap_or_else(|| {
        panic!(
            "no report from the page within {DEADLINE:?}; the servers saw: {:#?} {:#?}",
            plain.seen.borrow(),
            secure.seen.borrow()
        )
    });
    let report = json::parse(&report).unwrap_or_else(|e| panic!("report: {e}: {report}"));

    // ----- what the page reports -----
    assert!(
        matches!(field(&report, "error"), Json::Null),
        "the page failed: {}\nthe servers saw: {:#?} {:#?}",
        field(&report, "error").as_str().unwrap_or("?"),
        plain.seen.borrow(),
        secure.seen.borrow()
    );
    assert!(
        finished,
        "the page reported but not every connection closed on the server: {:#?} {:#?}",
        plain.seen.borrow(),
        secure.seen.borrow()
    );
    eprintln!("browser run: {elapsed:?} from launch to the last close");
    let user_agent = text(&report, "userAgent");
    assert!(user_agent.contains("Chrome/"), "{user_agent}");
    let results = array(&report, "results");
    let names: Vec<&str> = results.iter().map(|r| text(r, "name")).collect();
    assert_eq!(names, ["ws", "wss"]);
    let plan = echo_plan();
    for result in results {
        let name = text(result, "name");
        for key in ["echoExtensions", "ctlExtensions"] {
            let extensions = text(result, key);
            assert!(
                extensions.starts_with("permessage-deflate"),
                "{name} {key}: {extensions:?}"
            );
        }
        assert_eq!(text(result, "echoProtocol"), "", "{name}: no subprotocol");
        let echoes = array(result, "echoes");
        assert_eq!(echoes.len(), plan.len(), "{name}: {echoes:?}");
        for (echo, planned) in echoes.iter().zip(&plan) {
            let bytes = match planned.message() {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
            };
            assert_eq!(number(echo, "bytes") as usize, bytes, "{name}: {echo:?}");
            assert_no_difference(echo, "error", &format!("{name}: echo of {planned:?}"));
        }
        assert_no_difference(result, "serverBinary", &format!("{name}: server binary"));
        assert_no_difference(result, "serverText", &format!("{name}: server text"));
        let pongs: Vec<&str> = array(result, "pongs")
            .iter()
            .map(|p| p.as_str().expect("a pong report is text"))
            .collect();
        assert_eq!(pongs.len(), ping_payloads().len(), "{name}: {pongs:?}");
        for (i, (pong, payload)) in pongs.iter().zip(ping_payloads()).enumerate() {
            let prefix = format!("pong {i} {} ", hex(&payload));
            assert!(pong.starts_with(&prefix), "{name}: {pong:?}");
        }
        assert_eq!(
            close_event(result, "pageClose"),
            (PAGE_CLOSE.0, PAGE_CLOSE.1.to_string(), true),
            "{name}: onclose after the page's close"
        );
        assert_eq!(
            close_event(result, "serverClose"),
            (SERVER_CLOSE.0, SERVER_CLOSE.1.to_string(), true),
            "{name}: onclose after the server's close"
        );
    }

    // ----- what the servers saw -----
    let expected: Vec<Message> = plan.iter().map(Planned::message).collect();
    let commands: Vec<Message> = ["send-binary", "send-text", "ping 0", "ping 1", "close"]
        .into_iter()
        .map(|c| Message::Text(c.into()))
        .collect();
    for (side, scheme) in [(&plain, "ws"), (&secure, "wss")] {
        let seen = side.seen.borrow();
        let resources: Vec<String> = seen.iter().map(|s| s.borrow().resource.clone()).collect();
        assert_eq!(resources, ["/echo", "/ctl"], "{scheme}");
        for s in seen.iter() {
            let s = s.borrow();
            let what = format!("{scheme} {}", s.resource);
            assert_eq!(s.scheme, scheme, "{what}");
            assert_eq!(s.errors, Vec::<String>::new(), "{what}");
            assert_eq!(s.origin.as_deref(), Some(origin.as_str()), "{what}: Origin");
            assert_eq!(
                s.user_agent.as_deref(),
                Some(user_agent),
                "{what}: User-Agent is navigator.userAgent"
            );
            let offer = s.extensions_offer.as_deref().unwrap_or_default();
            assert!(
                offer.contains("permessage-deflate") && offer.contains("client_max_window_bits"),
                "{what}: the browser offers permessage-deflate: {offer:?}"
            );
            let agreed = s.compression.as_deref().unwrap_or_default();
            assert!(
                agreed.starts_with("permessage-deflate"),
                "{what}: the server agreed to compression: {agreed:?}"
            );
        }
        let echo = seen[0].borrow();
        assert_eq!(echo.messages, expected, "{scheme}: what the page sent");
        assert_eq!(
            echo.closed,
            Some((PAGE_CLOSE.0, PAGE_CLOSE.1.to_string())),
            "{scheme} /echo: the page's close code and reason"
        );
        assert!(echo.pongs.is_empty(), "{scheme} /echo: {:?}", echo.pongs);
        let ctl = seen[1].borrow();
        assert_eq!(ctl.messages, commands, "{scheme} /ctl");
        let payloads: Vec<Vec<u8>> = ctl.pongs.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(payloads, ping_payloads(), "{scheme}: pong payloads");
        for (_, rtt) in &ctl.pongs {
            assert!(
                *rtt > Duration::ZERO && *rtt < Duration::from_secs(5),
                "{scheme}: round trip {rtt:?}"
            );
        }
        eprintln!(
            "{scheme}: pong round trips {:?}",
            ctl.pongs.iter().map(|(_, rtt)| *rtt).collect::<Vec<_>>()
        );
        assert_eq!(
            ctl.closed,
            Some((SERVER_CLOSE.0, SERVER_CLOSE.1.to_string())),
            "{scheme} /ctl: close code and reason after the server's close"
        );
    }
}

/// The page's generator and ours agree (a known prefix), so a mismatch in
/// the browser test is a real one.
#[test]
fn payload_generator_is_xorshift32() {
    // xorshift32 from seed 1: 270369, 67634689, 2647435461 (low bytes).
    assert_eq!(bytes_of(3, 1), [0x21, 0x01, 0xc5]);
    assert_eq!(ascii_of(3, 1), "hbp");
}
