//! The crate's examples run as processes: each built (or found up to date)
//! once per test binary with the test's own profile, and a guard that
//! collects a child's stdout lines and stderr and kills it when dropped.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The variables cargo sets for the tests it runs (a `*` ends a prefix):
/// removed from the build's environment, since build scripts that watch
/// them would otherwise see a change and rebuild for nothing.
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

/// The path of example `name`, built with `cargo build --example` with the
/// profile of the running test (so never a stale binary) the first time it
/// is asked for. Without `CARGO` in the environment (the test binary run by
/// hand), the binary must already be there.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    // Held while building: two tests never run cargo at once.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(name) {
        return path.clone();
    }
    // The test runs as <target>/<profile>/deps/<test>-<hash>; the examples
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
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if let Some(cargo) = std::env::var_os("CARGO").filter(|c| !c.is_empty()) {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let cargo_profile = if profile == "debug" { "dev" } else { profile };
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let mut build = Command::new(cargo);
        for (var, _) in std::env::vars_os() {
            let var = var.to_string_lossy();
            if CARGO_SET.iter().any(|set| match set.strip_suffix('*') {
                Some(prefix) => var.starts_with(prefix),
                None => var == *set,
            }) {
                build.env_remove(&*var);
            }
        }
        let out = build
            .args(["build", "--quiet", "--example", name, "--profile"])
            .arg(cargo_profile)
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target_dir)
            .output()
            .unwrap_or_else(|e| panic!("run cargo build --example {name}: {e}"));
        assert!(
            out.status.success(),
            "cargo build --example {name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        binary.is_file(),
        "the {name} example is not built at {}: run `cargo build --example {name}` \
         (or the whole `cargo test`) first",
        binary.display()
    );
    built
        .get_or_insert_with(HashMap::new)
        .insert(name.to_owned(), binary.clone());
    binary
}

/// A running child with piped stdin, stdout (read as lines) and stderr
/// (collected). Every wait is bounded by its `limit`; dropping it kills and
/// reaps the process.
pub struct Running {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line read so far, for failure messages.
    seen: Vec<String>,
    /// How many of `seen` were already returned (`next_line`, `expect_line`,
    /// `rest`…); `wait` may collect lines that no one has asked for yet.
    taken: usize,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    limit: Duration,
}

impl Running {
    /// Starts `cmd` (its stdio are replaced by pipes); `name` is for messages.
    pub fn start(name: &str, mut cmd: Command, limit: Duration) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
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
        Running {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            taken: 0,
            stderr,
            readers: vec![out_reader, err_reader],
            limit,
        }
    }

    /// Writes one line to its stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write {line:?}: {e}", self.name));
    }

    /// Closes its stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every stdout line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The next stdout line not yet returned, read within `deadline` if
    /// `wait` did not already collect it.
    fn take(&mut self, deadline: Instant) -> Result<String, RecvTimeoutError> {
        if self.taken == self.seen.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left)?;
            self.seen.push(line);
        }
        self.taken += 1;
        Ok(self.seen[self.taken - 1].clone())
    }

    /// Panics saying that no line with `what` came, and why.
    fn no_line(&self, what: &str, why: RecvTimeoutError) -> ! {
        panic!(
            "{}: no line with {what} ({}); stdout so far: {:#?}\nstderr: {}",
            self.name,
            match why {
                RecvTimeoutError::Timeout => "timed out",
                RecvTimeoutError::Disconnected => "stdout ended",
            },
            self.seen,
            self.stderr()
        )
    }

    /// Reads stdout lines until one satisfies `check` (described by `what`)
    /// and returns it; panics when stdout ends or `limit` passes first.
    pub fn expect_line(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.limit;
        loop {
            match self.take(deadline) {
                Ok(line) if check(&line) => return line,
                Ok(_) => {}
                Err(e) => self.no_line(what, e),
            }
        }
    }

    /// The next stdout line; panics when stdout ends or `limit` passes first.
    pub fn next_line(&mut self) -> String {
        match self.take(Instant::now() + self.limit) {
            Ok(line) => line,
            Err(e) => self.no_line("anything", e),
        }
    }

    /// The next stdout line, which must be `expected`.
    pub fn expect(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(
            line,
            expected,
            "{}: unexpected line; stdout so far: {:#?}\nstderr: {}",
            self.name,
            self.seen,
            self.stderr()
        );
    }

    /// The next stdout line, which must satisfy `check` (described by
    /// `what`); unlike `expect_line`, no line is skipped.
    pub fn expect_that(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let line = self.next_line();
        assert!(
            check(&line),
            "{}: expected {what}, got {line:?}; stdout so far: {:#?}\nstderr: {}",
            self.name,
            self.seen,
            self.stderr()
        );
        line
    }

    /// The stdout lines not yet returned, up to the end of stdout (the
    /// process is expected to exit); panics if stdout is still open after
    /// `limit`.
    pub fn rest(&mut self) -> Vec<String> {
        let deadline = Instant::now() + self.limit;
        let mut rest = Vec::new();
        loop {
            match self.take(deadline) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: stdout still open after {:?}; so far: {:#?}",
                    self.name, self.limit, self.seen
                ),
            }
        }
    }

    /// Waits for the process to exit and its output to be read; returns its
    /// status. Panics if it still runs after `limit`.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + self.limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                while let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {:?}; stdout: {:#?}\nstderr: {}",
                self.name,
                self.limit,
                self.seen,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
