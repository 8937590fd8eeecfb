//! Shared pieces of the benchmark binaries (`cargo xtask bench`, issue 7):
//! argument parsing, `/proc` readings, a latency histogram, a JSON writer,
//! test payloads and the few bytes of the upgrade handshake that the load
//! generator and the bare servers need.
//!
//! Nothing here is measured itself: it runs before and after the measured
//! window, or (the histogram, the payload check) costs a few nanoseconds per
//! message in the load generator, never in a server.

pub mod args;
pub mod hist;
pub mod json;
pub mod payload;
pub mod sys;
pub mod upgrade;

use std::io::Write;

/// Prints the line `ready PORT PID` that `cargo xtask bench` waits for (the
/// PID is whose CPU time and memory it reads).
pub fn print_ready(port: u16) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {port} {}", std::process::id());
    let _ = out.flush();
}
