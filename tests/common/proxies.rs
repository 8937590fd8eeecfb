//! Proxies on 127.0.0.1 for the proxy tests: real ones (tinyproxy for HTTP
//! CONNECT, microsocks for SOCKS5) run as child processes, and fake ones
//! (threads) that misbehave on purpose and record every byte they receive.
//!
//! Everything listens on an ephemeral port of 127.0.0.1 and is stopped when
//! dropped: real proxies are killed and reaped and their scratch directory
//! (configuration, log) removed; fake proxies' threads are unblocked and
//! joined. When a test panics, the real proxies print their output and log
//! to stderr as they stop, so the failure shows the proxy's side too.
//!
//! The programs are looked up on PATH. A missing one is a test failure that
//! says how to install it (`cargo xtask tools`), never a skipped test.
//!
//! Start a real proxy on the test's own thread and keep it there: the
//! kernel kills it when the thread that started it ends, so that a test
//! binary killed by Ctrl-C leaves no proxy behind.
//!
//! What the real proxies do, as verified with Debian bookworm's tinyproxy
//! 1.11.1 and microsocks 1.0.3 (asserted in `tests/proxy_harness.rs`, except
//! the unresolvable name, which would need a DNS server):
//!
//! - tinyproxy answers a CONNECT it carries out with
//!   `HTTP/1.0 200 Connection established` (HTTP/1.0, even to an HTTP/1.1
//!   request) and a `Proxy-agent` header; then bytes flow both ways.
//! - Without credentials when `BasicAuth` is configured:
//!   `HTTP/1.0 407 Proxy Authentication Required` with
//!   `Proxy-Authenticate: Basic realm="Tinyproxy"`. Wrong credentials get
//!   `HTTP/1.0 401 Unauthorized` with `WWW-Authenticate` instead (tinyproxy
//!   issue #532, fixed after 1.11 to answer 407). Credentials are checked
//!   before the port, so a disallowed port without credentials gets 407.
//! - A port not allowed by `ConnectPort`: `HTTP/1.1 403 Access violation`.
//!   A target that refuses the connection: `HTTP/1.1 500 Unable to connect`.
//! - Every refusal has `Connection: close`, an HTML body, no
//!   `Content-Length`, and tinyproxy closes the connection after it.
//! - microsocks answers a CONNECT it carried out with
//!   `05 00 00 01 00 00 00 00 00 00` (the bound address is always 0.0.0.0:0).
//!   It never refuses by rule (no reply 0x02): a closed target port gets
//!   0x05, a name it cannot resolve 0x01, a command other than CONNECT 0x07,
//!   an unknown address type 0x08; then it closes.
//! - With `-u`/`-P`, microsocks picks method 0x02 when offered (even next to
//!   0x00); a client offering only 0x00 gets `05 ff` and is closed. The
//!   RFC 1929 reply is `01 00` for the right user and password and `01 02`
//!   for wrong ones (then it closes); a client that skips the
//!   sub-negotiation and sends its request gets `01 01`.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use super::ScratchDir;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a real proxy may take to accept connections once started.
const START_DEADLINE: Duration = Duration::from_secs(5);
/// Ports tried before giving up when another process takes the free port
/// between our probe and the proxy's bind.
const PORT_ATTEMPTS: usize = 5;
const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

// ----- finding the programs -------------------------------------------------

/// The path of `program` on PATH. Panics, saying how to install it, when it
/// is not there: the proxy tests are never skipped.
pub fn find_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "{program} not found: run `cargo xtask tools` (or `cargo xtask test`), \
                 which installs it"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ----- ports ----------------------------------------------------------------

/// A port of 127.0.0.1 that was free a moment ago (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind((LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// An address of 127.0.0.1 where nothing listens (a port that was free a
/// moment ago): a connection to it is refused. For "the proxy is not
/// running".
pub fn free_port_not_listening() -> SocketAddr {
    SocketAddr::from((LOCALHOST, free_port()))
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

// ----- a real proxy process -------------------------------------------------

/// Makes the kernel kill the child when the thread that spawned it ends
/// (PR_SET_PDEATHSIG follows the thread, not the process): a test binary
/// killed by Ctrl-C or a timeout leaves no proxy behind. The proxies are
/// therefore started on the test's own thread, never on a helper thread.
#[cfg(target_os = "linux")]
fn die_with_parent_thread(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    unsafe extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
    }
    const PR_SET_PDEATHSIG: std::ffi::c_int = 1;
    const SIGKILL: std::ffi::c_ulong = 9;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the forked process; it is all the closure does.
    unsafe {
        cmd.pre_exec(|| {
            if prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent_thread(_cmd: &mut Command) {}

/// A proxy child process listening on 127.0.0.1: killed, reaped and its
/// scratch directory removed when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    /// The child's stdout and stderr.
    output: PathBuf,
    /// Its own log file, if it writes one.
    log: Option<PathBuf>,
    /// Holds the files above; removed after the child is gone (fields drop
    /// after `Drop::drop` ran). `None` only once taken for a retry.
    dir: Option<ScratchDir>,
}

enum Startup {
    Listening,
    Exited(ExitStatus),
    TimedOut,
}

impl Daemon {
    /// Starts the command `command(port)` makes on free ports until one
    /// accepts connections. A child that exits printing `port_taken` had its
    /// port taken in the meantime and is tried again on another one; any
    /// other exit, or no listening within `START_DEADLINE`, panics with what
    /// the child printed and logged.
    fn start(
        name: &'static str,
        mut dir: ScratchDir,
        log: Option<PathBuf>,
        port_taken: &str,
        mut command: impl FnMut(u16) -> Command,
    ) -> Daemon {
        let output = dir.join("output");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let addr = SocketAddr::from((LOCALHOST, port));
            let out = File::create(&output).expect("create the output file");
            let mut cmd = command(port);
            cmd.stdin(Stdio::null())
                .stdout(out.try_clone().expect("clone a file handle"))
                .stderr(out);
            die_with_parent_thread(&mut cmd);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
            let mut daemon = Daemon {
                name,
                child,
                addr,
                output: output.clone(),
                log: log.clone(),
                dir: Some(dir),
            };
            match daemon.wait_listening() {
                Startup::Listening => return daemon,
                Startup::Exited(status) => {
                    let printed = read_lossy(&daemon.output);
                    if printed.contains(port_taken) && attempt < PORT_ATTEMPTS {
                        dir = daemon.into_dir();
                        continue;
                    }
                    let diagnostics = daemon.diagnostics();
                    drop(daemon.into_dir());
                    panic!(
                        "{name} exited ({status}) instead of listening on {addr}\n{diagnostics}"
                    );
                }
                Startup::TimedOut => {
                    let diagnostics = daemon.diagnostics();
                    drop(daemon.into_dir());
                    panic!(
                        "{name} did not accept connections on {addr} within \
                         {START_DEADLINE:?}\n{diagnostics}"
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Polls a TCP connect until it succeeds while the child still runs.
    fn wait_listening(&mut self) -> Startup {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Startup::Exited(status);
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                // The child answered, unless it exited meanwhile (its bind
                // failed: whoever took the port answered).
                return match self.child.try_wait() {
                    Ok(Some(status)) => Startup::Exited(status),
                    _ => Startup::Listening,
                };
            }
            if Instant::now() >= deadline {
                return Startup::TimedOut;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the child and keeps only the scratch directory (for a retry).
    fn into_dir(mut self) -> ScratchDir {
        self.stop();
        self.dir
            .take()
            .expect("the scratch directory is taken once")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the child printed and logged, for failure messages.
    fn diagnostics(&self) -> String {
        let mut text = format!("--- {} output ---\n{}", self.name, read_lossy(&self.output));
        if let Some(log) = &self.log {
            let _ = write!(text, "--- {} log ---\n{}", self.name, read_lossy(log));
        }
        text
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "{} on {} was stopped by a failing test\n{}",
                self.name,
                self.addr,
                self.diagnostics()
            );
        }
    }
}

// ----- tinyproxy --------------------------------------------------------------

/// What the tinyproxy of a test allows. The default: no authentication,
/// CONNECT to every port, clients from 127.0.0.1 only.
#[derive(Clone, Debug, Default)]
pub struct TinyproxyOptions {
    basic_auth: Option<(String, String)>,
    connect_ports: Vec<u16>,
}

impl TinyproxyOptions {
    /// Requires `Proxy-Authorization: Basic` with these credentials
    /// (`BasicAuth`). tinyproxy 1.11 only parses letters, digits, `-`, `.`
    /// and `_` in them: anything else panics here rather than make tinyproxy
    /// refuse its configuration.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        for token in [user, password] {
            assert!(
                !token.is_empty()
                    && token
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
                "tinyproxy 1.11's BasicAuth takes only [A-Za-z0-9._-]+, not {token:?} \
                 (use a FakeProxy to test other credentials)"
            );
        }
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Allows CONNECT only to these ports (`ConnectPort`); a CONNECT to
    /// another gets `403 Access violation`. A single 0 disables CONNECT.
    pub fn connect_ports(mut self, ports: &[u16]) -> Self {
        self.connect_ports = ports.to_vec();
        self
    }

    fn config(&self, port: u16, log: &Path) -> String {
        // As root, tinyproxy only warns without `User`: it keeps running as
        // root, which a test proxy on 127.0.0.1 may.
        let mut conf = format!(
            "Port {port}\n\
             Listen 127.0.0.1\n\
             Timeout 30\n\
             MaxClients 64\n\
             LogFile \"{}\"\n\
             LogLevel Info\n\
             Allow 127.0.0.1\n",
            log.display()
        );
        if let Some((user, password)) = &self.basic_auth {
            let _ = writeln!(conf, "BasicAuth {user} {password}");
        }
        for port in &self.connect_ports {
            let _ = writeln!(conf, "ConnectPort {port}");
        }
        conf
    }
}

/// A tinyproxy (HTTP proxy, CONNECT) on 127.0.0.1, in the foreground, with a
/// configuration file of its own; stopped when dropped.
pub struct Tinyproxy {
    daemon: Daemon,
    options: TinyproxyOptions,
}

impl Tinyproxy {
    /// Starts tinyproxy on a free port of 127.0.0.1 and waits until it
    /// accepts connections (panicking with its log if it does not).
    pub fn start(options: TinyproxyOptions) -> Tinyproxy {
        let program = find_program("tinyproxy");
        let dir = ScratchDir::new("tinyproxy");
        let config = dir.join("tinyproxy.conf");
        let log = dir.join("tinyproxy.log");
        let daemon = Daemon::start(
            "tinyproxy",
            dir,
            Some(log.clone()),
            "Could not create listening sockets",
            |port| {
                std::fs::write(&config, options.config(port, &log)).expect("write tinyproxy.conf");
                let mut cmd = Command::new(&program);
                cmd.arg("-d").arg("-c").arg(&config);
                cmd
            },
        );
        Tinyproxy { daemon, options }
    }

    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.daemon.addr
    }

    pub fn port(&self) -> u16 {
        self.daemon.addr.port()
    }

    /// The options it was started with.
    pub fn options(&self) -> &TinyproxyOptions {
        &self.options
    }

    /// Its log so far (one `CONNECT` line per connection and request, the
    /// reason of each refusal). The first connection, closed before any
    /// request, is the fixture's own readiness check.
    pub fn log(&self) -> String {
        self.daemon
            .log
            .as_deref()
            .map(read_lossy)
            .unwrap_or_default()
    }

    /// Where the log is (removed, with the configuration, when dropped).
    pub fn log_path(&self) -> PathBuf {
        self.daemon.log.clone().expect("tinyproxy logs to a file")
    }

    /// The process id (reaped when dropped).
    pub fn pid(&self) -> u32 {
        self.daemon.child.id()
    }
}

impl std::fmt::Debug for Tinyproxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tinyproxy")
            .field("addr", &self.daemon.addr)
            .field("options", &self.options)
            .finish()
    }
}

// ----- microsocks -------------------------------------------------------------

/// What the microsocks of a test requires. The default: no authentication
/// (method 0x00).
#[derive(Clone, Debug, Default)]
pub struct MicrosocksOptions {
    auth: Option<(String, String)>,
}

impl MicrosocksOptions {
    /// Requires RFC 1929 username/password authentication (method 0x02) with
    /// these credentials (`-u user -P password`).
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        assert!(
            !user.is_empty() && user.len() <= 255 && password.len() <= 255,
            "RFC 1929 user names are 1 to 255 bytes, passwords at most 255"
        );
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }
}

/// A microsocks (SOCKS5 proxy) on 127.0.0.1; stopped when dropped.
pub struct Microsocks {
    daemon: Daemon,
    options: MicrosocksOptions,
}

impl Microsocks {
    /// Starts microsocks on a free port of 127.0.0.1 and waits until it
    /// accepts connections (panicking with its output if it does not).
    pub fn start(options: MicrosocksOptions) -> Microsocks {
        let program = find_program("microsocks");
        let daemon = Daemon::start(
            "microsocks",
            ScratchDir::new("microsocks"),
            None,
            "Address already in use",
            |port| {
                let mut cmd = Command::new(&program);
                cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
                if let Some((user, password)) = &options.auth {
                    cmd.args(["-u", user, "-P", password]);
                }
                cmd
            },
        );
        Microsocks { daemon, options }
    }

    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.daemon.addr
    }

    pub fn port(&self) -> u16 {
        self.daemon.addr.port()
    }

    /// The options it was started with.
    pub fn options(&self) -> &MicrosocksOptions {
        &self.options
    }

    /// What it printed so far (a `client[N] 127.0.0.1: connected to HOST:PORT`
    /// line per CONNECT it carried out).
    pub fn output(&self) -> String {
        read_lossy(&self.daemon.output)
    }

    /// The process id (reaped when dropped).
    pub fn pid(&self) -> u32 {
        self.daemon.child.id()
    }
}

impl std::fmt::Debug for Microsocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microsocks")
            .field("addr", &self.daemon.addr)
            .field("options", &self.options)
            .finish()
    }
}

// ----- fake proxies -----------------------------------------------------------

/// One step of a fake proxy's script, on its one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reads exactly these bytes. Anything else (or the client closing
    /// first) fails the script: the connection is closed at once and the
    /// failure reported by `FakeProxy::wait_done` and when the fake is
    /// dropped.
    Expect(Vec<u8>),
    /// Reads exactly this many bytes, whatever they are.
    Read(usize),
    /// Reads once: whatever the client sent first (at least one byte).
    ReadChunk,
    /// Reads up to and including the blank line that ends an HTTP head.
    ReadHttpHead,
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Keeps the connection open, reading (and recording) without ever
    /// answering, until the client closes it or the fake is dropped.
    Hold,
}

impl Step {
    pub fn expect(bytes: impl AsRef<[u8]>) -> Step {
        Step::Expect(bytes.as_ref().to_vec())
    }

    pub fn write(bytes: impl AsRef<[u8]>) -> Step {
        Step::Write(bytes.as_ref().to_vec())
    }
}

#[derive(Default)]
struct FakeState {
    /// Set by the owner when it drops the fake.
    stopping: bool,
    /// The accepted connection (a handle to shut it down from the owner).
    stream: Option<TcpStream>,
    accepted: bool,
    received: Vec<u8>,
    failure: Option<String>,
    /// The connection is over (or was never made, when stopping).
    done: bool,
}

struct FakeShared {
    state: Mutex<FakeState>,
    changed: Condvar,
}

impl FakeShared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panicking fake thread must not hide what it recorded.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A misbehaving proxy on 127.0.0.1: a thread that accepts one connection,
/// plays its script on it, and records every byte the client sent. After the
/// script it half-closes (the client reads end of stream) and goes on
/// reading until the client closes, so that what the client sends after the
/// answer is recorded too (and closing never turns into a reset). Its
/// listener is closed after the one connection: another connect is refused.
///
/// Dropping it shuts the connection down and joins the thread, whatever the
/// script was doing: it never hangs a test. A script that failed panics the
/// test when the fake is dropped (unless the test is already panicking).
pub struct FakeProxy {
    addr: SocketAddr,
    shared: Arc<FakeShared>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProxy {
    /// Accepts, then half-closes at once: the client reads end of stream
    /// before any byte.
    pub fn closes_after_accept() -> FakeProxy {
        FakeProxy::script(Vec::new())
    }

    /// Accepts, reads and records, never writes; holds the connection until
    /// the client closes it or the fake is dropped.
    pub fn never_answers() -> FakeProxy {
        FakeProxy::script(vec![Step::Hold])
    }

    /// Reads what the client sends first (its greeting or request, or a part
    /// of it), writes `bytes`, then half-closes: for garbage answers, HTTP
    /// refusals (403, 407), SOCKS method or reply codes.
    pub fn replies(bytes: impl AsRef<[u8]>) -> FakeProxy {
        FakeProxy::script(vec![Step::ReadChunk, Step::write(bytes)])
    }

    /// Plays `steps` on the one connection it accepts, then half-closes
    /// (unless the last step is `Hold`).
    pub fn script(steps: Vec<Step>) -> FakeProxy {
        let listener = TcpListener::bind((LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(FakeShared {
            state: Mutex::new(FakeState::default()),
            changed: Condvar::new(),
        });
        let thread = thread::Builder::new()
            .name(format!("fake proxy {addr}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || serve_one(listener, &steps, &shared)
            })
            .expect("spawn a fake proxy thread");
        FakeProxy {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether a client connected.
    pub fn accepted(&self) -> bool {
        self.shared.lock().accepted
    }

    /// Every byte the client sent so far.
    pub fn received(&self) -> Vec<u8> {
        self.shared.lock().received.clone()
    }

    /// Waits until the connection is over (the script ran and the client
    /// closed) and returns every byte the client sent. Panics if that takes
    /// longer than `within` or if the script failed.
    pub fn wait_done(&self, within: Duration) -> Vec<u8> {
        let state = self.wait_over(within);
        if let Some(failure) = &state.failure {
            panic!("the fake proxy on {}: {failure}", self.addr);
        }
        state.received.clone()
    }

    /// Waits until the connection is over, like `wait_done`, and returns the
    /// script's failure, acknowledged: dropping the fake no longer panics for
    /// it. For tests of the fake itself.
    pub fn wait_failure(&self, within: Duration) -> Option<String> {
        self.wait_over(within).failure.take()
    }

    fn wait_over(&self, within: Duration) -> MutexGuard<'_, FakeState> {
        let deadline = Instant::now() + within;
        let mut state = self.shared.lock();
        while !state.done {
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "the fake proxy on {}'s connection was not over within {within:?} \
                     (accepted: {}, received: {:?})",
                    self.addr,
                    state.accepted,
                    String::from_utf8_lossy(&state.received)
                );
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state
    }
}

impl std::fmt::Debug for FakeProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stopping = true;
            if let Some(stream) = &state.stream {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        // Wakes the thread if it is still waiting in accept (refused, and
        // harmless, once the listener is closed).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let failure = self.shared.lock().failure.take();
        if let Some(failure) = failure {
            if !thread::panicking() {
                panic!("the fake proxy on {}: {failure}", self.addr);
            }
        }
    }
}

/// The fake proxy's thread: one connection, then done.
fn serve_one(listener: TcpListener, steps: &[Step], shared: &FakeShared) {
    let finish = |failure: Option<String>| {
        let mut state = shared.lock();
        if state.failure.is_none() {
            state.failure = failure;
        }
        state.done = true;
        shared.changed.notify_all();
    };
    let stream = match listener.accept() {
        Ok((stream, _)) => stream,
        Err(e) => return finish(Some(format!("accept failed: {e}"))),
    };
    drop(listener);
    {
        let mut state = shared.lock();
        if state.stopping {
            drop(state);
            return finish(None);
        }
        state.accepted = true;
        state.stream = stream.try_clone().ok();
        shared.changed.notify_all();
    }
    let mut conn = Conn { stream, shared };
    let failure = conn.play(steps).err();
    if failure.is_none() && steps.last() != Some(&Step::Hold) {
        let _ = conn.stream.shutdown(Shutdown::Write);
        conn.drain();
    }
    // Closes the connection: this handle and the owner's.
    drop(conn);
    shared.lock().stream = None;
    finish(failure);
}

/// The fake proxy's end of its connection, recording what it reads.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a FakeShared,
}

impl Conn<'_> {
    fn play(&mut self, steps: &[Step]) -> Result<(), String> {
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            match step {
                Step::Expect(expected) => {
                    let got = self.read_exact(expected.len());
                    if &got != expected {
                        return Err(format!(
                            "step {n}: expected {} ({:?}), the client sent {} ({:?}){}",
                            hex(expected),
                            String::from_utf8_lossy(expected),
                            hex(&got),
                            String::from_utf8_lossy(&got),
                            if got.len() < expected.len() {
                                " and closed"
                            } else {
                                ""
                            }
                        ));
                    }
                }
                Step::Read(len) => {
                    let got = self.read_exact(*len);
                    if got.len() < *len {
                        return Err(format!(
                            "step {n}: expected {len} bytes, the client sent {} ({}) and closed",
                            got.len(),
                            hex(&got)
                        ));
                    }
                }
                Step::ReadChunk => {
                    if self.read_some().is_empty() {
                        return Err(format!("step {n}: the client closed without sending"));
                    }
                }
                Step::ReadHttpHead => {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let got = self.read_exact(1);
                        if got.is_empty() {
                            return Err(format!(
                                "step {n}: the client closed before the end of an HTTP head: {:?}",
                                String::from_utf8_lossy(&head)
                            ));
                        }
                        head.extend_from_slice(&got);
                    }
                }
                Step::Write(bytes) => {
                    if let Err(e) = self.stream.write_all(bytes) {
                        return Err(format!("step {n}: writing {} failed: {e}", hex(bytes)));
                    }
                }
                Step::Hold => self.drain(),
            }
        }
        Ok(())
    }

    /// Reads `len` bytes, or fewer if the stream ends first.
    fn read_exact(&mut self, len: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(len);
        while got.len() < len {
            let mut buf = vec![0; len - got.len()];
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    self.record(&buf[..k]);
                    got.extend_from_slice(&buf[..k]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        got
    }

    /// One read: what is there (empty at the end of the stream).
    fn read_some(&mut self) -> Vec<u8> {
        let mut buf = [0; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(k) => {
                    self.record(&buf[..k]);
                    return buf[..k].to_vec();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Vec::new(),
            }
        }
    }

    /// Reads (recording) until the client closes or the owner stops us.
    fn drain(&mut self) {
        while !self.read_some().is_empty() {}
    }

    fn record(&self, bytes: &[u8]) {
        self.shared.lock().received.extend_from_slice(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ----- a target ---------------------------------------------------------------

/// A TCP echo server on 127.0.0.1 (any number of connections, each echoed
/// until the client closes): the target behind a proxy in tests that do not
/// need a WebSocket server. Stopped and joined when dropped.
pub struct EchoServer {
    addr: SocketAddr,
    shared: Arc<EchoShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct EchoShared {
    stopping: AtomicBool,
    /// Handles of the open connections (to shut them down), their threads.
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind((LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(EchoShared::default());
        let thread = thread::Builder::new()
            .name(format!("echo server {addr}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    for stream in listener.incoming() {
                        if shared.stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let Ok(handle) = stream.try_clone() else {
                            continue;
                        };
                        let echo = thread::spawn(move || echo(stream));
                        shared.connections.lock().unwrap().push((handle, echo));
                    }
                }
            })
            .expect("spawn the echo server thread");
        EchoServer {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.lock().unwrap().len()
    }
}

fn echo(mut stream: TcpStream) {
    let mut buf = [0; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let connections = std::mem::take(&mut *self.shared.connections.lock().unwrap());
        for (stream, thread) in connections {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}
