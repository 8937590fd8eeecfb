//! Child processes: streamed steps, guarded background processes that are
//! killed on every exit path, hard timeouts, and reading a readiness line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Renders a command line for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        text.push(' ');
        if arg.is_empty() || arg.contains([' ', '*', '"', '\'']) {
            text.push('\'');
            text.push_str(&arg);
            text.push('\'');
        } else {
            text.push_str(&arg);
        }
    }
    text
}

/// Runs `cmd` in the foreground with inherited stdio, so its output streams
/// straight to ours, and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let line = describe(cmd);
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    check_status(&line, status)
}

pub fn check_status(line: &str, status: ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}

#[cfg(target_os = "linux")]
mod sys {
    unsafe extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
        fn kill(pid: std::ffi::c_int, sig: std::ffi::c_int) -> std::ffi::c_int;
    }

    const PR_SET_PDEATHSIG: std::ffi::c_int = 1;
    pub const SIGINT: std::ffi::c_int = 2;
    pub const SIGTERM: std::ffi::c_int = 15;
    const SIGKILL: std::ffi::c_ulong = 9;

    /// Makes the kernel kill the child if xtask itself dies (even by SIGKILL),
    /// so no server outlives an interrupted run.
    pub fn die_with_parent(cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
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

    pub fn signal(pid: u32, sig: std::ffi::c_int) {
        if let Ok(pid) = std::ffi::c_int::try_from(pid) {
            // SAFETY: plain system call on a pid we spawned and have not reaped.
            unsafe {
                kill(pid, sig);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
    pub fn die_with_parent(_cmd: &mut std::process::Command) {}
    pub fn signal(_pid: u32, _sig: i32) {}
}

/// Asks process `pid` (one we did not spawn, so not ours to reap) to exit.
pub fn terminate(pid: u32) {
    sys::signal(pid, sys::SIGTERM);
}

/// A background child that is killed and reaped when dropped.
pub struct Guard {
    name: String,
    child: Option<Child>,
}

impl Guard {
    /// Spawns `cmd` (configure its stdio first) as a guarded background child.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Guard, String> {
        sys::die_with_parent(cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("could not start {name} (`{}`): {e}", describe(cmd)))?;
        Ok(Guard {
            name: name.to_string(),
            child: Some(child),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until drop")
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child().stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child().stdout.take()
    }

    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child().stderr.take()
    }

    /// The exit status if the child has already exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    /// Waits for the child to exit by itself until `deadline`; `None` on timeout
    /// (the child is left running: dropping the guard kills it).
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Sends SIGINT (a Python program then runs its cleanup, e.g. pytest's
    /// fixture teardown), waits up to `grace`, then kills.
    pub fn interrupt_then_kill(&mut self, grace: Duration) {
        if self.try_wait().is_none() {
            sys::signal(self.child().id(), sys::SIGINT);
            let _ = self.wait_until(Instant::now() + grace);
        }
        self.kill();
    }

    /// Kills the child (if still running) and reaps it.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
        self.child = None;
    }
}

/// Reads lines from `reader` on a background thread, appending every line to
/// `log`. Returns a receiver that yields the first line for which `select`
/// returns `Some`, or disconnects if the stream ends first.
pub fn watch_lines<T: Send + 'static>(
    reader: impl Read + Send + 'static,
    mut log: File,
    select: impl Fn(&str) -> Option<T> + Send + 'static,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut found = false;
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let _ = log.write_all(&line);
            let _ = log.flush();
            if !found {
                let text = String::from_utf8_lossy(&line);
                if let Some(value) = select(text.trim_end()) {
                    found = true;
                    let _ = tx.send(value);
                }
            }
        }
    });
    rx
}

/// Waits for the value a `watch_lines` thread selects, failing with a useful
/// message on timeout or when the process ends without printing it.
pub fn await_line<T>(
    rx: &mpsc::Receiver<T>,
    guard: &mut Guard,
    what: &str,
    timeout: Duration,
    log: &Path,
) -> Result<T, String> {
    match rx.recv_timeout(timeout) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            print_tail(log, 20);
            Err(format!(
                "{} did not print {what} within {}s (output in {})",
                guard.name(),
                timeout.as_secs(),
                log.display()
            ))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = guard
                .wait_until(Instant::now() + Duration::from_secs(2))
                .map_or_else(
                    || "closed its output".to_string(),
                    |s| format!("exited ({s})"),
                );
            print_tail(log, 20);
            Err(format!(
                "{} {status} before printing {what} (output in {})",
                guard.name(),
                log.display()
            ))
        }
    }
}

/// Opens (truncating) a log file for a child's output.
pub fn log_file(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// A `Stdio` that appends to the same log file.
pub fn log_stdio(file: &File) -> Result<Stdio, String> {
    file.try_clone()
        .map(Stdio::from)
        .map_err(|e| format!("cannot duplicate log file handle: {e}"))
}

/// Prints the last `n` lines of a log file, for failure reports.
pub fn print_tail(path: &Path, n: usize) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        eprintln!("--- {} is empty ---", path.display());
        return;
    }
    let from = lines.len().saturating_sub(n);
    eprintln!(
        "--- last {} lines of {} ---",
        lines.len() - from,
        path.display()
    );
    for line in &lines[from..] {
        eprintln!("{line}");
    }
    eprintln!("---");
}
