//! Runs the self-contained examples as a user would (`cargo run --example`),
//! from the release build: each must exit 0 within a hard time limit and
//! print what shows that it did its job.

use crate::Paths;
use crate::proc::{self, Guard};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The feature the `calloop` example needs; `cargo xtask test` builds the
/// examples with it.
pub const FEATURES: &str = "calloop";

/// One example run.
struct Run {
    name: &'static str,
    args: &'static [&'static str],
    /// Written to the example's stdin, which is then closed; `None`: no stdin.
    stdin: Option<&'static str>,
    /// Lines of stdout that must appear (each checked as a substring).
    expect: &'static [&'static str],
}

const RUNS: [Run; 6] = [
    Run {
        name: "echo",
        args: &[],
        stdin: None,
        expect: &["client: pong", "done"],
    },
    Run {
        name: "poll_loop",
        args: &[],
        stdin: Some("hello\nfrom the\npoll loop\n"),
        expect: &["echo: hello", "echo: from the", "echo: poll loop"],
    },
    Run {
        name: "calloop",
        args: &[],
        stdin: None,
        expect: &["calloop: tick 3", "qwebsocket: echo: tick 3", "done:"],
    },
    Run {
        name: "reconnect",
        args: &[],
        stdin: None,
        expect: &["could not connect; retry", "no pong within", "done"],
    },
    Run {
        name: "worker_thread",
        args: &[],
        stdin: None,
        expect: &["done: 148933 primes"],
    },
    Run {
        name: "multi_loop_server",
        args: &[],
        stdin: None,
        expect: &["loop-0:", "messages/s"],
    },
];

/// The names, for messages.
pub fn names() -> String {
    RUNS.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

/// How long one example may take (they need a few seconds at most).
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs every example in turn; fails at the first that does not exit 0 in
/// time or does not print what it should.
pub fn run_all(paths: &Paths) -> Result<(), String> {
    for run in &RUNS {
        run_one(paths, run)?;
    }
    Ok(())
}

fn run_one(paths: &Paths, run: &Run) -> Result<(), String> {
    let binary = paths.examples.join(run.name);
    let mut cmd = Command::new(&binary);
    cmd.args(run.args)
        .current_dir(&paths.root)
        .stdin(if run.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let line = proc::describe(&cmd);
    match run.stdin {
        Some(input) => println!("$ printf {input:?} | {line}"),
        None => println!("$ {line}"),
    }
    let started = Instant::now();
    let mut child = Guard::spawn(run.name, &mut cmd)?;
    if let (Some(input), Some(mut stdin)) = (run.stdin, child.take_stdin()) {
        // Small enough for the pipe's buffer; dropping `stdin` is the EOF.
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("cannot write to {}'s stdin: {e}", run.name))?;
    }
    let stdout = child.take_stdout().expect("stdout is piped");
    let name = run.name;
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("  {name}| {line}");
            seen.push(line);
        }
        seen
    });
    let status = child.wait_until(started + LIMIT);
    let Some(status) = status else {
        child.kill();
        return Err(format!("`{line}` did not exit within {}s", LIMIT.as_secs()));
    };
    let seen = reader.join().map_err(|_| "the output reader panicked")?;
    proc::check_status(&line, status)?;
    for wanted in run.expect {
        if !seen.iter().any(|l| l.contains(wanted)) {
            return Err(format!("`{line}` exited 0 but never printed {wanted:?}"));
        }
    }
    println!(
        "  {} passed in {:.1}s",
        run.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
