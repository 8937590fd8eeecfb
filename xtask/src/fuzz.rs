//! `cargo xtask fuzz`: builds the cargo-fuzz targets of `fuzz/` and runs each
//! for a fixed time with libFuzzer, from the committed seed corpus plus a
//! working corpus under `target/fuzz/`, then reports executions, coverage and
//! crashes per target.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Paths;
use crate::proc::{self, Guard};

/// Every target in `fuzz/fuzz_targets/`, with the dictionary it uses.
pub const TARGETS: [(&str, Option<&str>); 9] = [
    ("frame_header", Some("frames.dict")),
    ("message_utf8", Some("frames.dict")),
    ("client_handshake", Some("http.dict")),
    ("server_handshake", Some("http.dict")),
    ("proxy_reply", Some("http.dict")),
    ("session", Some("frames.dict")),
    ("websocket_client", Some("frames.dict")),
    ("websocket_server", Some("http.dict")),
    ("deflate", Some("frames.dict")),
];

/// What one run is asked to do.
pub struct Options {
    pub per_target: Duration,
    pub jobs: usize,
    pub nice: bool,
    pub targets: Vec<&'static str>,
}

impl Options {
    /// Parses `[--minutes N | --seconds N] [--jobs N] [--nice] [TARGET...]`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options {
            per_target: Duration::from_secs(60),
            jobs: 1,
            nice: false,
            targets: Vec::new(),
        };
        let mut args = args.iter();
        let number = |flag: &str, v: Option<&String>| -> Result<u64, String> {
            let v = v.ok_or_else(|| format!("{flag} needs a number"))?;
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag} {v}: expected a positive number"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--minutes" => {
                    opts.per_target = Duration::from_secs(60 * number(arg, args.next())?)
                }
                "--seconds" => opts.per_target = Duration::from_secs(number(arg, args.next())?),
                "--jobs" | "-j" => opts.jobs = number(arg, args.next())? as usize,
                "--nice" => opts.nice = true,
                name => {
                    let (t, _) = TARGETS
                        .iter()
                        .find(|(t, _)| *t == name)
                        .ok_or_else(|| format!("unknown fuzz target or option {name:?}"))?;
                    if !opts.targets.contains(t) {
                        opts.targets.push(t);
                    }
                }
            }
        }
        if opts.targets.is_empty() {
            opts.targets = TARGETS.iter().map(|(t, _)| *t).collect();
        }
        Ok(opts)
    }
}

/// libFuzzer's figures for one target.
#[derive(Default, Debug)]
struct Outcome {
    target: String,
    wall: Duration,
    execs: Option<u64>,
    exec_per_sec: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus_files: usize,
    corpus_bytes: u64,
    peak_rss_mb: Option<u64>,
    /// `None` when the run was clean; otherwise what went wrong.
    failure: Option<String>,
}

fn cargo_fuzz(paths: &Paths) -> Command {
    let mut cmd = crate::cargo();
    cmd.arg("fuzz")
        .current_dir(&paths.root)
        // cargo-fuzz passes -Z flags (sanitizer, coverage) to rustc: let the
        // stable toolchain accept them.
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// Installs cargo-fuzz with `cargo install --locked` unless it answers.
pub fn ensure_cargo_fuzz(paths: &Paths) -> Result<(), String> {
    let present = cargo_fuzz(paths)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        println!("cargo-fuzz is missing: installing it");
        crate::run_cargo(&["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

/// The libFuzzer binary cargo-fuzz built for `target`.
fn binary(paths: &Paths, target: &str) -> Result<PathBuf, String> {
    let base = paths.root.join("fuzz").join("target");
    let entries = std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("release").join(target);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "no fuzz binary for {target} under {}",
        base.display()
    ))
}

fn dir_size(dir: &Path) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if let Ok(m) = entry.metadata()
                && m.is_file()
            {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

/// The number after `key` in `line` (`cov: 123`, `stat::x: 9`).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reads libFuzzer's log: the last status line's coverage, the final stats,
/// and the reproducer it wrote on a crash.
fn read_log(text: &str, out: &mut Outcome) -> Option<String> {
    let mut reproducer = None;
    for line in text.lines() {
        if line.starts_with('#') && line.contains("cov: ") {
            out.cov = number_after(line, "cov: ").or(out.cov);
            out.ft = number_after(line, "ft: ").or(out.ft);
            out.execs = line[1..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .or(out.execs);
        }
        if let Some(n) = number_after(line, "stat::number_of_executed_units:") {
            out.execs = Some(n);
        }
        if let Some(n) = number_after(line, "stat::average_exec_per_sec:") {
            out.exec_per_sec = Some(n);
        }
        if let Some(n) = number_after(line, "stat::peak_rss_mb:") {
            out.peak_rss_mb = Some(n);
        }
        if let Some(at) = line.find("Test unit written to ") {
            reproducer = Some(line[at + "Test unit written to ".len()..].trim().to_owned());
        }
    }
    reproducer
}

struct Running {
    target: &'static str,
    guard: Guard,
    started: Instant,
    log: PathBuf,
    corpus: PathBuf,
}

fn start(paths: &Paths, opts: &Options, target: &'static str) -> Result<Running, String> {
    let dict = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .and_then(|(_, d)| *d);
    let work = paths.target.join("fuzz");
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    let logs = work.join("logs");
    for d in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let bin = binary(paths, target)?;
    let mut cmd = if opts.nice {
        let mut c = Command::new("nice");
        c.args(["-n", "19"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    // The working corpus comes first: libFuzzer adds new inputs there and
    // never writes into the committed seeds.
    cmd.arg(&corpus)
        .arg(paths.root.join("fuzz").join("corpus").join(target))
        .arg(format!("-max_total_time={}", opts.per_target.as_secs()))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .current_dir(&paths.root)
        .stdin(Stdio::null());
    let file = proc::log_file(&log)?;
    cmd.stdout(proc::log_stdio(&file)?)
        .stderr(proc::log_stdio(&file)?);
    if let Some(d) = dict {
        cmd.arg(format!(
            "-dict={}",
            paths.root.join("fuzz/dict").join(d).display()
        ));
    }
    println!("$ {}", proc::describe(&cmd));
    let guard = Guard::spawn(target, &mut cmd)?;
    Ok(Running {
        target,
        guard,
        started: Instant::now(),
        log,
        corpus,
    })
}

fn finish(mut r: Running, status: Option<std::process::ExitStatus>) -> Outcome {
    let mut out = Outcome {
        target: r.target.to_owned(),
        wall: r.started.elapsed(),
        ..Outcome::default()
    };
    r.guard.kill();
    let text = std::fs::read_to_string(&r.log).unwrap_or_default();
    let reproducer = read_log(&text, &mut out);
    (out.corpus_files, out.corpus_bytes) = dir_size(&r.corpus);
    out.failure = match status {
        Some(s) if s.success() => None,
        Some(s) => Some(match reproducer {
            Some(path) => format!("crashed ({s}); reproducer: {path}"),
            None => format!("libFuzzer exited with {s}; see {}", r.log.display()),
        }),
        None => Some(format!(
            "did not stop within its time plus a minute; see {}",
            r.log.display()
        )),
    };
    if out.failure.is_some() {
        proc::print_tail(&r.log, 40);
    }
    out
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "?".into(), |n| n.to_string())
}

fn report(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "| target | wall time | executions | exec/s | cov | ft | corpus (files/bytes) | peak RSS MB | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        s.push_str(&format!(
            "| {} | {:.0} s | {} | {} | {} | {} | {}/{} | {} | {} |\n",
            o.target,
            o.wall.as_secs_f64(),
            show(o.execs),
            show(o.exec_per_sec),
            show(o.cov),
            show(o.ft),
            o.corpus_files,
            o.corpus_bytes,
            show(o.peak_rss_mb),
            o.failure.as_deref().unwrap_or("clean"),
        ));
    }
    s
}

/// `cargo xtask fuzz ...`: install, build, run, report; fails on any crash.
pub fn command(paths: &Paths, args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    run(paths, &opts)
}

pub fn run(paths: &Paths, opts: &Options) -> Result<(), String> {
    ensure_cargo_fuzz(paths)?;
    // cargo fuzz builds one target or all of them.
    if opts.targets.len() == TARGETS.len() {
        proc::run(cargo_fuzz(paths).arg("build"))?;
    } else {
        for t in &opts.targets {
            proc::run(cargo_fuzz(paths).args(["build", t]))?;
        }
    }

    let mut queue: std::collections::VecDeque<&'static str> =
        opts.targets.iter().copied().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut outcomes = Vec::new();
    let grace = Duration::from_secs(60);
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < opts.jobs.max(1)
            && let Some(t) = queue.pop_front()
        {
            running.push(start(paths, opts, t)?);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            let status = r.guard.try_wait();
            let overdue = r.started.elapsed() > opts.per_target + grace;
            if status.is_some() || overdue {
                let r = running.swap_remove(i);
                let o = finish(r, status);
                println!(
                    "fuzz {}: {} executions, cov {} ft {}, {}",
                    o.target,
                    show(o.execs),
                    show(o.cov),
                    show(o.ft),
                    o.failure.as_deref().unwrap_or("clean")
                );
                outcomes.push(o);
            } else {
                i += 1;
            }
        }
    }
    outcomes.sort_by_key(|o| {
        TARGETS
            .iter()
            .position(|(t, _)| *t == o.target)
            .unwrap_or(usize::MAX)
    });
    let table = report(&outcomes);
    println!("\n{table}");
    let summary = paths.target.join("fuzz").join("summary.md");
    std::fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("(also in {}; logs in target/fuzz/logs/)", summary.display());
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.failure.as_ref().map(|f| format!("{}: {f}", o.target)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found problems:\n  {}",
            failed.join("\n  ")
        ))
    }
}
