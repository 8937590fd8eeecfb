//! The `wscat` example, run as a person or a script would: a `wscat listen`
//! child and `wscat connect` children talking over 127.0.0.1, driven through
//! their stdin and judged by their stdout, stderr and exit status.
//!
//! The example binary is (re)built once per run with `cargo build --example
//! wscat` (`cargo test --test wscat` alone does not build examples). Every
//! wait is bounded by `LIMIT`, and every child is killed when its guard is
//! dropped, on success and on panic alike.

#[path = "common/certs.rs"]
mod certs;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any single wait may last.
const LIMIT: Duration = Duration::from_secs(15);

// ----- the binary -------------------------------------------------------------------

/// The variables cargo sets for the tests it runs (a `*` ends a prefix).
const CARGO_SET: [&str; 8] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_*",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// The path of the `wscat` example binary, built (or found up to date) once.
fn wscat_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // This test runs as <target>/<profile>/deps/wscat-<hash>; the examples
        // of the same profile are in <target>/<profile>/examples.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in <target>/<profile>/deps");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug");
        let binary = profile_dir
            .join("examples")
            .join(format!("wscat{}", std::env::consts::EXE_SUFFIX));
        // Cargo sets CARGO for the tests it runs: build the example with the
        // same profile, so the test never runs a stale binary.
        if let Some(cargo) = std::env::var_os("CARGO").filter(|c| !c.is_empty()) {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
            let cargo_profile = if profile == "debug" { "dev" } else { profile };
            let target_dir = profile_dir.parent().expect("<target>/<profile>");
            let mut build = Command::new(cargo);
            // Drop what cargo set for this test process (CARGO_MANIFEST_DIR,
            // CARGO_PKG_NAME…): build scripts that watch such variables
            // would otherwise see a change and rebuild for nothing.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if CARGO_SET.iter().any(|set| match set.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == *set,
                }) {
                    build.env_remove(&*name);
                }
            }
            let out = build
                .args(["build", "--quiet", "--example", "wscat", "--profile"])
                .arg(cargo_profile)
                .arg("--manifest-path")
                .arg(&manifest)
                .arg("--target-dir")
                .arg(target_dir)
                .output()
                .expect("run cargo build --example wscat");
            assert!(
                out.status.success(),
                "cargo build --example wscat failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            binary.is_file(),
            "the wscat example is not built at {}: run `cargo build --example wscat` \
             (or the whole `cargo test`) first",
            binary.display()
        );
        binary
    })
}

// ----- a running wscat ---------------------------------------------------------------

/// A `wscat` child process: its stdin, its stdout as lines, its stderr as
/// text. Dropping it kills the process.
struct Wscat {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line so far, for failure messages.
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Wscat {
    fn start(name: &str, args: &[&str]) -> Wscat {
        let mut child = Command::new(wscat_binary())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wscat");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = channel();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Wscat {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Writes one line to its stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write {line:?}: {e}", self.name));
    }

    /// Closes its stdin (end of input).
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line.
    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "{}: no output line within {LIMIT:?}; so far: {:#?}\nstderr: {}",
                self.name,
                self.seen,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{}: stdout ended; so far: {:#?}\nstderr: {}",
                self.name,
                self.seen,
                self.stderr()
            ),
        }
    }

    /// The next stdout line, which must be `expected`.
    fn expect(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(
            line,
            expected,
            "{}: unexpected line; so far: {:#?}\nstderr: {}",
            self.name,
            self.seen,
            self.stderr()
        );
    }

    /// The next stdout line, which must satisfy `check` (described by `what`).
    fn expect_that(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let line = self.next_line();
        assert!(
            check(&line),
            "{}: expected {what}, got {line:?}; so far: {:#?}\nstderr: {}",
            self.name,
            self.seen,
            self.stderr()
        );
        line
    }

    /// The stdout lines up to its end (the process is expected to exit).
    fn rest(&mut self) -> Vec<String> {
        let deadline = Instant::now() + LIMIT;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    rest.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: stdout still open after {LIMIT:?}; so far: {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Waits for the process to exit, and for its output to be read.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for wscat") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {LIMIT:?}; output: {:#?}\nstderr: {}",
                self.name,
                self.seen,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Wscat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `wscat listen` on 127.0.0.1, a free port, and the URL it printed.
fn listen(args: &[&str]) -> (Wscat, String) {
    let mut all = vec!["listen", "--port", "0"];
    all.extend_from_slice(args);
    let mut server = Wscat::start("server", &all);
    let first = server.next_line();
    let url = if all.contains(&"--json") {
        let value = parse_json(&first);
        assert_eq!(value.get("signal"), Some(&Json::Str("listening".into())));
        match value.get("args") {
            Some(Json::Arr(args)) => match args.as_slice() {
                [Json::Str(url)] => url.clone(),
                other => panic!("listening args: {other:?}"),
            },
            other => panic!("listening args: {other:?}"),
        }
    } else {
        first
            .strip_prefix("listening: ")
            .unwrap_or_else(|| panic!("the first line is not `listening: `: {first:?}"))
            .to_owned()
    };
    (server, url)
}

/// The port of a URL such as `ws://127.0.0.1:PORT`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().expect("a port")
}

/// `line` is `<ADDRESS>:<PORT> <rest>` with a loopback address.
fn from_client(line: &str, rest: &str) -> bool {
    line.split_once(' ')
        .is_some_and(|(peer, r)| peer.starts_with("127.0.0.1:") && r == rest)
}

// ----- a minimal JSON reader ---------------------------------------------------------

/// Just enough JSON to check wscat's lines: objects keep their key order.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct JsonReader<'a> {
    s: &'a [u8],
    at: usize,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && b" \t\r\n".contains(&self.s[self.at]) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let Json::Str(key) = self.value()? else {
                        return Err(format!("a key must be a string, at byte {}", self.at));
                    };
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.at)),
                    }
                }
            }
            Some(b'"') => {
                self.at += 1;
                let mut out = String::new();
                loop {
                    let rest =
                        std::str::from_utf8(&self.s[self.at..]).map_err(|e| e.to_string())?;
                    let c = rest.chars().next().ok_or("an unterminated string")?;
                    self.at += c.len_utf8();
                    match c {
                        '"' => return Ok(Json::Str(out)),
                        '\\' => {
                            let e = *self.s.get(self.at).ok_or("a cut escape")?;
                            self.at += 1;
                            out.push(match e {
                                b'"' => '"',
                                b'\\' => '\\',
                                b'/' => '/',
                                b'n' => '\n',
                                b'r' => '\r',
                                b't' => '\t',
                                b'b' => '\u{8}',
                                b'f' => '\u{c}',
                                b'u' => {
                                    let hex =
                                        self.s.get(self.at..self.at + 4).ok_or("a cut \\u")?;
                                    self.at += 4;
                                    let n =
                                        u32::from_str_radix(std::str::from_utf8(hex).unwrap(), 16)
                                            .map_err(|e| e.to_string())?;
                                    char::from_u32(n).ok_or("a surrogate \\u escape")?
                                }
                                other => return Err(format!("bad escape \\{}", other as char)),
                            });
                        }
                        c if (c as u32) < 0x20 => return Err("a raw control character".into()),
                        c => out.push(c),
                    }
                }
            }
            Some(b't') if self.s[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(Json::Null)
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self.at < self.s.len() && b"-+.eE0123456789".contains(&self.s[self.at]) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap();
                text.parse()
                    .map(Json::Num)
                    .map_err(|_| format!("bad number {text:?}"))
            }
            _ => Err(format!("unexpected input at byte {}", self.at)),
        }
    }
}

/// Parses one line as a JSON object `{"signal": "...", "args": [...], ...}`.
fn parse_json(line: &str) -> Json {
    assert!(
        line.starts_with("{\"signal\": "),
        "not a wscat JSON line: {line:?}"
    );
    let mut reader = JsonReader {
        s: line.as_bytes(),
        at: 0,
    };
    let value = reader
        .value()
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {line:?}"));
    reader.ws();
    assert_eq!(
        reader.at,
        line.len(),
        "trailing bytes after the object: {line:?}"
    );
    let Json::Obj(fields) = &value else {
        panic!("not an object: {line:?}")
    };
    assert!(
        matches!(fields.as_slice(), [(s, Json::Str(_)), (a, Json::Arr(_)), ..] if s == "signal" && a == "args"),
        "expected signal and args first: {line:?}"
    );
    value
}

/// A JSON line's signal and arguments.
fn signal_and_args(line: &str) -> (String, Vec<Json>) {
    let value = parse_json(line);
    match (value.get("signal"), value.get("args")) {
        (Some(Json::Str(s)), Some(Json::Arr(a))) => (s.clone(), a.clone()),
        _ => unreachable!("checked by parse_json"),
    }
}

// ----- files for the TLS tests -------------------------------------------------------

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wscat-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a temporary file");
        path.to_str().expect("a UTF-8 temporary path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, and a `wscat listen --echo` serving wss:// with a certificate for
/// `localhost` that the CA signed.
struct TlsServer {
    _dir: TempDir,
    ca_pem: String,
    /// Kept running while the test lasts.
    _server: Wscat,
    port: u16,
}

fn tls_server() -> TlsServer {
    let dir = TempDir::new();
    let ca = certs::Ca::new("wscat test CA");
    let leaf = ca.leaf(&["localhost"]);
    let ca_pem = dir.write("ca.pem", &ca.pem);
    let chain = dir.write("server.pem", &leaf.chain_pem);
    let key = dir.write("server.key", &leaf.key_pem);
    let (server, url) = listen(&["--echo", "--cert", &chain, "--key", &key]);
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let port = port_of(&url);
    TlsServer {
        _dir: dir,
        ca_pem,
        _server: server,
        port,
    }
}

/// Sends "hi", expects the echo, closes and expects a clean exit.
fn echo_and_close(client: &mut Wscat) {
    client.send("hi");
    client.expect("text: hi");
    client.send("/close");
    client.expect("disconnected: 1000 \"\"");
    assert!(client.wait().success(), "stderr: {}", client.stderr());
}

// ----- the tests ---------------------------------------------------------------------

#[test]
fn echo_session_ends_with_the_requested_close() {
    let (mut server, url) = listen(&["--echo"]);
    let mut client = Wscat::start("client", &["connect", &url]);
    client.expect("connected");
    server.expect_that("a client's connected line", |l| {
        from_client(l, "connected: /")
    });

    client.send("hello");
    client.expect("text: hello");
    client.send("/binary 5");
    client.expect("binary: 5 bytes");
    client.send("/ping x");
    client.expect_that("a pong line for \"x\"", |l| {
        l.strip_prefix("pong: ")
            .and_then(|r| r.strip_suffix(" ms \"x\""))
            .is_some_and(|ms| ms.parse::<f64>().is_ok_and(|ms| ms >= 0.0))
    });
    client.send("//not a command");
    client.expect("text: /not a command");
    client.send("/close 4000 bye");
    client.expect("disconnected: 4000 \"bye\"");
    let status = client.wait();
    assert_eq!(status.code(), Some(0), "stderr: {}", client.stderr());
    assert_eq!(
        client.rest(),
        Vec::<String>::new(),
        "nothing after disconnected"
    );

    // The server printed the same conversation, each line under the client's address.
    for expected in [
        "text: hello",
        "binary: 5 bytes",
        "text: /not a command",
        "disconnected: 4000 \"bye\"",
    ] {
        server.expect_that(expected, |l| from_client(l, expected));
    }
}

#[test]
fn end_of_input_closes_with_1000() {
    let (_server, url) = listen(&["--echo"]);
    let mut client = Wscat::start("client", &["connect", &url]);
    // Sent before the connection is up: kept, then sent once connected.
    client.send("early");
    client.close_stdin();
    client.expect("connected");
    // The close follows the text at once; the echo may come before the close
    // frame or not at all, but the close is always a clean 1000.
    let rest = client.rest();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("disconnected: 1000 \"\"")
    );
    assert!(
        rest.len() <= 2 && (rest.len() == 1 || rest[0] == "text: early"),
        "{rest:?}"
    );
    assert_eq!(client.wait().code(), Some(0), "stderr: {}", client.stderr());
}

#[test]
fn stdin_lines_of_the_server_reach_every_client() {
    let (mut server, url) = listen(&["--subprotocol", "chat"]);
    let mut one = Wscat::start("one", &["connect", &url, "--origin", "https://o.example"]);
    one.expect("connected");
    server.expect_that("the first client", |l| {
        from_client(l, "connected: / origin \"https://o.example\"")
    });
    let chat_url = format!("{url}/room?id=1");
    let mut two = Wscat::start(
        "two",
        &[
            "connect",
            &chat_url,
            "--subprotocol",
            "superchat",
            "-s",
            "chat",
        ],
    );
    two.expect("connected: subprotocol \"chat\"");
    server.expect_that("the second client", |l| {
        from_client(l, "connected: /room?id=1 subprotocol \"chat\"")
    });

    server.send("to everyone");
    one.expect("text: to everyone");
    two.expect("text: to everyone");
    server.send("/binary 3");
    one.expect("binary: 3 bytes");
    two.expect("binary: 3 bytes");
    server.send("/close 4001 server done");
    one.expect("disconnected: 4001 \"server done\"");
    two.expect("disconnected: 4001 \"server done\"");
    assert_eq!(one.wait().code(), Some(0), "stderr: {}", one.stderr());
    assert_eq!(two.wait().code(), Some(0), "stderr: {}", two.stderr());
}

#[test]
fn json_output_is_one_object_per_line() {
    let (mut server, url) = listen(&["--echo", "--json"]);
    let mut client = Wscat::start("client", &["connect", &url, "--json"]);
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(
        (signal.as_str(), args),
        ("connected", vec![Json::Str(String::new())])
    );

    // Quotes, backslashes and a tab survive the trip through JSON.
    let tricky = "say \"hi\" \\ then\ttab, ünïcödé";
    client.send(tricky);
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(
        (signal.as_str(), args),
        ("text", vec![Json::Str(tricky.into())])
    );

    client.send("/binary 4");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "binary");
    assert_eq!(args, [Json::Num(4.0), Json::Str("00010203".into())]);

    client.send("/ping p");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "pong");
    assert!(
        matches!(args.as_slice(), [Json::Num(ms), Json::Str(p)] if *ms >= 0.0 && p == "p"),
        "{args:?}"
    );

    client.send("/close 4002 json \"done\"");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "disconnected");
    assert_eq!(args, [Json::Num(4002.0), Json::Str("json \"done\"".into())]);
    assert_eq!(client.wait().code(), Some(0), "stderr: {}", client.stderr());

    // The server's lines carry the client's address in "peer".
    let mut signals = Vec::new();
    while signals.last().map(String::as_str) != Some("disconnected") {
        let line = server.next_line();
        let value = parse_json(&line);
        let Some(Json::Str(peer)) = value.get("peer") else {
            panic!("no peer in {line:?}")
        };
        assert!(peer.starts_with("127.0.0.1:"), "{line}");
        signals.push(signal_and_args(&line).0);
    }
    assert_eq!(signals, ["connected", "text", "binary", "disconnected"]);
}

#[test]
fn connecting_to_a_closed_port_fails() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again here
    let mut client = Wscat::start("client", &["connect", &format!("ws://127.0.0.1:{port}/")]);
    client.close_stdin();
    let out = client.rest();
    let status = client.wait();
    assert!(!status.success(), "exit status {status:?}; output {out:?}");
    let stderr = client.stderr();
    assert!(stderr.contains("ConnectionRefused"), "stderr: {stderr}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("error: ConnectionRefused: ")),
        "{out:?}"
    );
}

#[test]
fn bad_arguments_get_a_usage_text() {
    for args in [
        &["connect"][..],
        &["listen"],
        &[
            "connect",
            "ws://127.0.0.1:1/",
            "--ignore-ssl-errors",
            "NoSuchKind",
        ],
        &["connect", "ws://127.0.0.1:1/", "--max-message-size", "lots"],
        &["connect", "ws://127.0.0.1:1/", "--cert", "only-a-cert.pem"],
        &["listen", "--port", "0", "--origin", "x"],
        &["frobnicate"],
    ] {
        let mut wscat = Wscat::start("wscat", args);
        let out = wscat.rest();
        let status = wscat.wait();
        assert_eq!(status.code(), Some(2), "{args:?}: {status:?}");
        assert!(out.is_empty(), "{args:?}: stdout {out:?}");
        let stderr = wscat.stderr();
        assert!(stderr.contains("usage:"), "{args:?}: stderr {stderr}");
    }
}

#[test]
fn tls_with_the_ca_connects() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    let mut client = Wscat::start("client", &["connect", &url, "--ca", &tls.ca_pem]);
    client.expect("connected");
    echo_and_close(&mut client);
}

#[test]
fn tls_without_the_ca_is_refused() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    let mut client = Wscat::start("client", &["connect", &url]);
    client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
    let rest = client.rest();
    let status = client.wait();
    assert!(!status.success(), "{status:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("error: SslHandshakeFailed: ")),
        "{rest:?}"
    );
    assert!(!rest.contains(&"connected".to_owned()), "{rest:?}");
    let stderr = client.stderr();
    assert!(stderr.contains("SslHandshakeFailed"), "stderr: {stderr}");

    // Ignoring another kind of error does not help.
    let mut client = Wscat::start(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "HostNameMismatch,SelfSignedCertificate",
        ],
    );
    client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
    client.rest();
    assert!(!client.wait().success());
}

#[test]
fn tls_with_the_error_ignored_connects() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    for ignore in ["UnableToGetLocalIssuerCertificate", "all"] {
        let mut client = Wscat::start("client", &["connect", &url, "--ignore-ssl-errors", ignore]);
        client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
        client.expect("connected");
        echo_and_close(&mut client);
    }
}

#[test]
fn tls_ignore_list_must_cover_every_error() {
    let tls = tls_server();
    // The certificate names localhost, not 127.0.0.1.
    let url = format!("wss://127.0.0.1:{}/", tls.port);
    // Both problems are reported, in the library's order.
    let both = |l: &str| {
        let mut kinds: Vec<&str> = l
            .strip_prefix("ssl_errors: ")
            .map_or(vec![], |k| k.split(',').collect());
        kinds.sort();
        kinds == ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"]
    };

    let mut client = Wscat::start(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "UnableToGetLocalIssuerCertificate",
        ],
    );
    client.expect_that("ssl_errors with both kinds", both);
    let rest = client.rest();
    assert!(!client.wait().success(), "{rest:?}");

    let mut client = Wscat::start("client", &["connect", &url, "--ca", &tls.ca_pem]);
    client.expect("ssl_errors: HostNameMismatch");
    let rest = client.rest();
    assert!(!client.wait().success(), "{rest:?}");

    let mut client = Wscat::start(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "HostNameMismatch,UnableToGetLocalIssuerCertificate",
        ],
    );
    client.expect_that("ssl_errors with both kinds", both);
    client.expect("connected");
    echo_and_close(&mut client);
}

#[test]
fn a_message_over_the_limit_ends_the_connection_with_1009() {
    let (mut server, url) = listen(&[]);
    let mut client = Wscat::start("client", &["connect", &url, "--max-message-size", "10"]);
    client.expect("connected");
    server.expect_that("the client", |l| from_client(l, "connected: /"));
    server.send("/binary 10");
    client.expect("binary: 10 bytes");
    server.send("/binary 11");
    let rest = client.rest();
    assert!(
        rest.iter().any(|l| l.starts_with("error: Protocol: ")),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.starts_with("disconnected: 1009 ")),
        "{rest:?}"
    );
    assert_eq!(client.wait().code(), Some(1));
    assert!(client.stderr().contains("Protocol"), "{}", client.stderr());
}
