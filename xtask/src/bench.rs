//! `cargo xtask bench`: qwebsocket next to a raw TCP ceiling and the Rust
//! peers, measured in one run on one machine (issue 7).
//!
//! Builds `bench/` (its own crate and lock file, in `target/bench`), checks it
//! (clippy -D warnings, its unit tests), then for every scenario starts each
//! echo server afresh, pinned to one core, and drives it with `loadgen`
//! pinned to another. The servers of one scenario run back to back, so the
//! ratios compare runs seconds apart. Then: each server's RSS per idle
//! connection, our client side (`qws_client_load` next to `loadgen`, both
//! against the bare `raw_tcp_echo --mode ws`), and the criterion
//! micro-benchmarks. Writes `target/bench/results.json`, `results.md` and
//! `cpu-per-message.svg`; a full run with no filter also writes the chart to
//! `docs/perf/`.

use crate::json::{self, Json};
use crate::proc::{self, Guard};
use crate::{Paths, cargo};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// An echo server of the comparison.
struct Server {
    /// Short name, used in filters and in results.json.
    key: &'static str,
    /// Name in tables and on the chart.
    label: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
    /// Bar colour on the chart.
    colour: &'static str,
}

const RAW: &str = "raw";
const QWS: &str = "qws";

/// The ceiling first, then us, then the peers.
const SERVERS: [Server; 5] = [
    Server {
        key: RAW,
        label: "raw TCP (ceiling)",
        bin: "raw_tcp_echo",
        args: &[],
        colour: "#9e9e9e",
    },
    Server {
        key: QWS,
        label: "qwebsocket",
        bin: "qws_echo",
        args: &[],
        colour: "#1565c0",
    },
    Server {
        key: "fastwebsockets",
        label: "fastwebsockets",
        bin: "fastwebsockets_echo",
        args: &[],
        colour: "#ef6c00",
    },
    Server {
        key: "tokio-tungstenite",
        label: "tokio-tungstenite",
        bin: "tokio_tungstenite_echo",
        args: &[],
        colour: "#2e7d32",
    },
    Server {
        key: "tungstenite",
        label: "tungstenite",
        bin: "tungstenite_echo",
        args: &[],
        colour: "#6a1b9a",
    },
];

#[derive(Clone, Copy, Debug)]
struct Scenario {
    size: usize,
    connections: usize,
    window: usize,
    text: bool,
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

impl Scenario {
    const fn new(size: usize, connections: usize, window: usize, text: bool) -> Scenario {
        Scenario {
            size,
            connections,
            window,
            text,
        }
    }

    /// `16B-c100-w1-bin`: size, connections, window (1 = closed loop), kind.
    fn name(&self) -> String {
        format!(
            "{}-c{}-w{}-{}",
            size_label(self.size),
            self.connections,
            self.window,
            if self.text { "text" } else { "bin" }
        )
    }

    fn loadgen_args(&self) -> Vec<String> {
        let mut a = vec![
            "--connections".to_string(),
            self.connections.to_string(),
            "--window".into(),
            self.window.to_string(),
            "--size".into(),
            self.size.to_string(),
        ];
        if self.text {
            a.push("--text".into());
        }
        a
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// The full matrix, pruned (see `docs/PERFORMANCE.md`): 16 B and 1 KiB at
/// every connection count and window, binary, plus text at 100 connections;
/// 64 KiB and 1 MiB closed loop at the connection counts that keep what is in
/// flight under ~100 MiB, one pipelined run on one connection, one text run.
fn full_matrix() -> Vec<Scenario> {
    let mut m = Vec::new();
    for size in [16, KIB] {
        for connections in [1, 100, 1000] {
            for window in [1, 32] {
                m.push(Scenario::new(size, connections, window, false));
            }
        }
        m.push(Scenario::new(size, 100, 1, true));
        m.push(Scenario::new(size, 100, 32, true));
    }
    for connections in [1, 100, 1000] {
        m.push(Scenario::new(64 * KIB, connections, 1, false));
    }
    m.push(Scenario::new(64 * KIB, 1, 32, false));
    m.push(Scenario::new(64 * KIB, 100, 1, true));
    m.push(Scenario::new(MIB, 1, 1, false));
    m.push(Scenario::new(MIB, 100, 1, false));
    m.push(Scenario::new(MIB, 1, 32, false));
    m.push(Scenario::new(MIB, 1, 1, true));
    // Ten thousand active connections on one loop thread.
    m.push(Scenario::new(16, 10_000, 1, false));
    m
}

/// Whether a server takes part in a scenario: a thread per connection
/// (tungstenite) is left out of the 10 000-connection run.
fn takes_part(server: &Server, sc: &Scenario) -> bool {
    !(server.key == "tungstenite" && sc.connections > 1000)
}

fn quick_matrix() -> Vec<Scenario> {
    vec![
        Scenario::new(16, 100, 1, false),
        Scenario::new(KIB, 100, 32, true),
        Scenario::new(64 * KIB, 1, 1, false),
    ]
}

/// Our client side: `qws_client_load` and `loadgen` against the same server.
fn client_scenarios(quick: bool) -> Vec<Scenario> {
    if quick {
        return vec![Scenario::new(KIB, 100, 1, false)];
    }
    vec![
        Scenario::new(16, 100, 1, false),
        Scenario::new(16, 100, 32, false),
        Scenario::new(KIB, 100, 1, true),
        Scenario::new(KIB, 100, 32, false),
        Scenario::new(64 * KIB, 1, 1, false),
        Scenario::new(MIB, 1, 1, false),
    ]
}

struct Options {
    quick: bool,
    filters: Vec<String>,
    warmup: f64,
    duration: f64,
    idle_connections: usize,
    micro: bool,
    repeat: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            quick: false,
            filters: Vec::new(),
            warmup: 0.5,
            duration: 2.0,
            idle_connections: 5000,
            micro: true,
            repeat: 1,
        };
        let mut duration = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--quick" => o.quick = true,
                "--filter" => o.filters.push(value("--filter")?),
                "--duration" => {
                    let v = value("--duration")?;
                    duration = Some(
                        v.parse::<f64>()
                            .ok()
                            .filter(|d| *d > 0.0)
                            .ok_or_else(|| format!("--duration {v}: expected seconds"))?,
                    );
                }
                "--no-micro" => o.micro = false,
                "--repeat" => {
                    let v = value("--repeat")?;
                    o.repeat = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--repeat {v}: expected a positive number"))?;
                }
                other => return Err(format!("unknown bench argument {other:?}")),
            }
        }
        if o.quick {
            o.warmup = 0.2;
            o.duration = 0.5;
            o.idle_connections = 1000;
            o.micro = false;
        }
        if let Some(d) = duration {
            o.duration = d;
            o.warmup = (d / 4.0).clamp(0.1, 0.5);
        }
        Ok(o)
    }

    /// Whether the item with this id (`matrix/qws/16B-c100-w1-bin`,
    /// `idle/qws`, `client/…`, `micro`) is selected.
    fn selected(&self, id: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| id.contains(f.as_str()))
    }
}

/// The two cores the runs are pinned to: the server's and the load
/// generator's (none on a one-core machine).
#[derive(Clone, Copy)]
struct Cores {
    server: Option<usize>,
    load: Option<usize>,
}

fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
    else {
        return Vec::new();
    };
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let mut ends = part.split('-').map(|n| n.trim().parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => cpus.push(a),
            (Some(Ok(a)), Some(Ok(b))) => cpus.extend(a..=b),
            _ => {}
        }
    }
    cpus
}

fn choose_cores() -> Cores {
    let cpus = allowed_cpus();
    if cpus.len() >= 2 {
        // The load generator on the first core, the server on the last.
        Cores {
            load: Some(cpus[0]),
            server: Some(cpus[cpus.len() - 1]),
        }
    } else {
        Cores {
            server: None,
            load: None,
        }
    }
}

#[cfg(target_os = "linux")]
fn pin(cmd: &mut Command, cpu: Option<usize>) {
    use std::os::unix::process::CommandExt;
    unsafe extern "C" {
        fn sched_setaffinity(
            pid: std::ffi::c_int,
            size: usize,
            mask: *const u64,
        ) -> std::ffi::c_int;
    }
    let Some(cpu) = cpu.filter(|c| *c < 1024) else {
        return;
    };
    let mut mask = [0u64; 16];
    mask[cpu / 64] |= 1 << (cpu % 64);
    // SAFETY: sched_setaffinity is a plain system call on the forked child
    // itself (pid 0), reading the mask copied into the closure; the child
    // and every thread it starts later inherit it.
    unsafe {
        cmd.pre_exec(move || {
            if sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cmd: &mut Command, _cpu: Option<usize>) {}

/// Everything a run needs to know.
struct Bench<'a> {
    root: &'a Path,
    bin_dir: PathBuf,
    out_dir: PathBuf,
    log_dir: PathBuf,
    opts: Options,
    cores: Cores,
}

/// A started echo server.
struct Running {
    guard: Guard,
    port: u16,
    pid: u32,
}

impl Bench<'_> {
    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn start_server(&self, bin: &str, args: &[&str], tag: &str) -> Result<Running, String> {
        let log_path = self.log_dir.join(format!("{tag}.log"));
        let log = proc::log_file(&log_path)?;
        let mut cmd = Command::new(self.bin(bin));
        cmd.args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(proc::log_stdio(&log)?);
        pin(&mut cmd, self.cores.server);
        let mut guard = Guard::spawn(bin, &mut cmd)?;
        let stdout = guard.take_stdout().expect("piped stdout");
        let rx = proc::watch_lines(stdout, log, |line| {
            let mut words = line.strip_prefix("ready ")?.split_whitespace();
            let port = words.next()?.parse::<u16>().ok()?;
            let pid = words.next()?.parse::<u32>().ok()?;
            Some((port, pid))
        });
        let (port, pid) = proc::await_line(
            &rx,
            &mut guard,
            "`ready PORT PID`",
            READY_TIMEOUT,
            &log_path,
        )?;
        Ok(Running { guard, port, pid })
    }

    /// Runs a load binary to completion and parses its JSON line.
    fn run_load(&self, bin: &str, args: &[String], tag: &str) -> Result<Json, String> {
        let log_path = self.log_dir.join(format!("{tag}.log"));
        let log = proc::log_file(&log_path)?;
        let mut cmd = Command::new(self.bin(bin));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(proc::log_stdio(&log)?);
        pin(&mut cmd, self.cores.load);
        let mut guard = Guard::spawn(bin, &mut cmd)?;
        let mut stdout = guard.take_stdout().expect("piped stdout");
        // One line of JSON: the pipe holds it until the process exits.
        let limit = Duration::from_secs_f64(self.opts.warmup + self.opts.duration) * 2
            + Duration::from_secs(90);
        let Some(status) = guard.wait_until(Instant::now() + limit) else {
            return Err(format!("{bin} did not finish within {}s", limit.as_secs()));
        };
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        if !status.success() {
            proc::print_tail(&log_path, 5);
            return Err(format!(
                "{bin} failed ({status}), see {}",
                log_path.display()
            ));
        }
        json::parse(text.trim()).map_err(|e| format!("{bin} printed {text:?}: {e}"))
    }

    fn common_args(&self, port: u16, pid: u32) -> Vec<String> {
        vec![
            "--port".into(),
            port.to_string(),
            "--server-pid".into(),
            pid.to_string(),
            "--warmup".into(),
            self.opts.warmup.to_string(),
            "--duration".into(),
            self.opts.duration.to_string(),
        ]
    }
}

/// One measured run.
struct Record {
    section: &'static str,
    scenario: String,
    who: String,
    /// Which of the `--repeat` rounds (0 for the first).
    round: usize,
    result: Result<Json, String>,
}

fn num(j: &Json, path: &[&str]) -> Option<f64> {
    let mut v = j;
    for k in path {
        v = v.get(k)?;
    }
    match v {
        Json::Number(n) => Some(*n),
        _ => None,
    }
}

/// A run's result, unless it failed or saw errors.
fn good(r: &Record) -> Option<&Json> {
    let j = r.result.as_ref().ok()?;
    (num(j, &["errors"]) == Some(0.0)).then_some(j)
}

pub fn command(paths: &Paths, args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let bench_target = paths.target.join("bench");
    let manifest = paths.root.join("bench").join("Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    let with_target = |cmd: &mut Command| {
        cmd.env("CARGO_TARGET_DIR", &bench_target);
    };

    println!("\n==> bench: clippy -D warnings and unit tests of bench/");
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--manifest-path",
        &manifest,
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    with_target(&mut clippy);
    proc::run(&mut clippy)?;
    let mut test = cargo();
    test.args([
        "test",
        "--release",
        "--quiet",
        "--manifest-path",
        &manifest,
        "--lib",
        "--bins",
    ]);
    with_target(&mut test);
    proc::run(&mut test)?;

    println!("\n==> bench: build (release)");
    let mut build = cargo();
    build.args(["build", "--release", "--manifest-path", &manifest, "--bins"]);
    with_target(&mut build);
    proc::run(&mut build)?;
    let built = started.elapsed();

    let out_dir = bench_target.clone();
    let log_dir = out_dir.join("logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let cores = choose_cores();
    let bench = Bench {
        root: &paths.root,
        bin_dir: bench_target.join("release"),
        out_dir,
        log_dir,
        opts,
        cores,
    };
    let machine = machine_info(cores);
    println!("\n==> bench: {machine}");
    if cores.server.is_none() {
        println!("warning: fewer than two cores: server and load generator are not pinned");
    }

    let mut records = Vec::new();
    run_matrix(&bench, &mut records)?;
    run_idle(&bench, &mut records)?;
    run_client(&bench, &mut records)?;
    let micro = if bench.opts.micro && bench.opts.selected("micro") {
        run_micro(&bench, &manifest, &bench_target)?
    } else {
        Vec::new()
    };

    let report = Report {
        machine: &machine,
        opts: &bench.opts,
        cores,
        records: &records,
        micro: &micro,
        elapsed: started.elapsed(),
        build: built,
    };
    let markdown = report.markdown();
    println!("\n{markdown}");
    let results = bench.out_dir.join("results.json");
    write(&results, &report.json())?;
    write(&bench.out_dir.join("results.md"), &markdown)?;
    let svg = report.svg();
    write(&bench.out_dir.join("cpu-per-message.svg"), &svg)?;
    let full = !bench.opts.quick && bench.opts.filters.is_empty();
    if full {
        let dir = bench.root.join("docs").join("perf");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        write(&dir.join("cpu-per-message.svg"), &svg)?;
        println!("chart: docs/perf/cpu-per-message.svg");
    }
    println!(
        "results: {} (and results.md, cpu-per-message.svg beside it)",
        results.display()
    );
    println!("bench: took {:.0}s", started.elapsed().as_secs_f64());
    let failed = records.iter().filter(|r| good(r).is_none()).count();
    if failed > 0 {
        return Err(format!(
            "{failed} run(s) failed or saw errors (see the tables and {})",
            bench.log_dir.display()
        ));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run_matrix(bench: &Bench<'_>, records: &mut Vec<Record>) -> Result<(), String> {
    let matrix = if bench.opts.quick {
        quick_matrix()
    } else {
        full_matrix()
    };
    let mut plan = Vec::new();
    for sc in &matrix {
        let name = sc.name();
        let servers: Vec<&Server> = SERVERS
            .iter()
            .filter(|s| bench.opts.selected(&format!("matrix/{}/{name}", s.key)))
            .filter(|s| takes_part(s, sc))
            .collect();
        if servers.is_empty() {
            continue;
        }
        // The ceiling runs whenever anything of the scenario does: ratios need it.
        let mut list: Vec<&Server> = vec![&SERVERS[0]];
        list.extend(servers.into_iter().filter(|s| s.key != RAW));
        plan.push((*sc, name, list));
    }
    let rounds = bench.opts.repeat;
    let total: usize = plan.iter().map(|(_, _, l)| l.len()).sum::<usize>() * rounds;
    let mut n = 0;
    for (sc, name, servers) in plan {
        // Rounds interleaved: every server of the scenario, then again.
        for round in 0..rounds {
            for server in &servers {
                n += 1;
                print!("[{n}/{total}] {name} {:<18} ", server.key);
                let tag = format!("{name}-{}-{round}", server.key);
                let result = run_one(bench, server, &sc, &tag);
                println!("{}", summary(&result));
                records.push(Record {
                    section: "matrix",
                    scenario: name.clone(),
                    who: server.key.to_string(),
                    round,
                    result,
                });
            }
        }
    }
    Ok(())
}

fn run_one(bench: &Bench<'_>, server: &Server, sc: &Scenario, tag: &str) -> Result<Json, String> {
    let srv = bench.start_server(server.bin, server.args, &format!("{tag}-server"))?;
    let mut args = bench.common_args(srv.port, srv.pid);
    args.extend(sc.loadgen_args());
    if server.key == RAW {
        args.push("--raw".into());
    }
    let result = bench.run_load("loadgen", &args, &format!("{tag}-loadgen"));
    drop(srv.guard);
    result
}

fn summary(r: &Result<Json, String>) -> String {
    match r {
        Err(e) => format!("FAILED: {e}"),
        Ok(j) => {
            let mut s = String::new();
            if let Some(v) = num(j, &["server_cpu_us_per_msg"]) {
                let _ = write!(s, "{v:8.2} µs CPU/msg  ");
            }
            if let Some(v) = num(j, &["messages_per_s"]) {
                let _ = write!(s, "{:>9} msg/s  ", human(v));
            }
            if let Some(v) = num(j, &["latency_us", "p99"]) {
                let _ = write!(s, "p99 {}  ", micros(v));
            }
            if let Some(v) = num(j, &["server_rss_bytes_per_conn"]) {
                let _ = write!(s, "{v:.0} B/idle connection  ");
            }
            if let Some(v) = num(j, &["client_rss_bytes_per_conn"]) {
                let _ = write!(s, "{v:.0} B/idle connection (client)  ");
            }
            if let Some(v) = num(j, &["client_cpu_us_per_msg"]) {
                let _ = write!(s, "client {v:.2} µs CPU/msg  ");
            }
            match num(j, &["errors"]) {
                Some(e) if e > 0.0 => {
                    let first = j.get("first_error").and_then(Json::as_str).unwrap_or("");
                    let _ = write!(s, "ERRORS {e}: {first}");
                }
                _ => {}
            }
            s
        }
    }
}

fn run_idle(bench: &Bench<'_>, records: &mut Vec<Record>) -> Result<(), String> {
    let n = bench.opts.idle_connections;
    let servers: Vec<&Server> = SERVERS
        .iter()
        .filter(|s| bench.opts.selected(&format!("idle/{}", s.key)))
        .collect();
    let name = format!("idle-{n}");
    for server in servers {
        print!("[idle] {n} connections {:<18} ", server.key);
        let tag = format!("{name}-{}", server.key);
        let result = (|| {
            let srv = bench.start_server(server.bin, server.args, &format!("{tag}-server"))?;
            let mut args = vec![
                "--port".to_string(),
                srv.port.to_string(),
                "--server-pid".into(),
                srv.pid.to_string(),
                "--idle".into(),
                "--connections".into(),
                n.to_string(),
                "--size".into(),
                "1024".into(),
                "--settle".into(),
                "1".into(),
            ];
            if server.key == RAW {
                args.push("--raw".into());
            }
            bench.run_load("loadgen", &args, &format!("{tag}-loadgen"))
        })();
        println!("{}", summary(&result));
        records.push(Record {
            section: "idle",
            scenario: name.clone(),
            who: server.key.to_string(),
            round: 0,
            result,
        });
    }
    Ok(())
}

fn run_client(bench: &Bench<'_>, records: &mut Vec<Record>) -> Result<(), String> {
    for sc in client_scenarios(bench.opts.quick) {
        let name = sc.name();
        if !bench.opts.selected(&format!("client/{name}")) {
            continue;
        }
        for (who, bin) in [("loadgen", "loadgen"), ("qws_client", "qws_client_load")] {
            print!("[client] {name} {who:<12} ");
            let tag = format!("client-{name}-{who}");
            let result = (|| {
                let srv = bench.start_server(
                    "raw_tcp_echo",
                    &["--mode", "ws"],
                    &format!("{tag}-server"),
                )?;
                let mut args = bench.common_args(srv.port, srv.pid);
                args.extend(sc.loadgen_args());
                bench.run_load(bin, &args, &tag)
            })();
            println!("{}", summary(&result));
            records.push(Record {
                section: "client",
                scenario: name.clone(),
                who: who.into(),
                round: 0,
                result,
            });
        }
    }
    let n = bench.opts.idle_connections;
    if bench.opts.selected("client/idle") {
        print!("[client] {n} idle connections qws_client ");
        let result = (|| {
            let srv =
                bench.start_server("raw_tcp_echo", &["--mode", "ws"], "client-idle-server")?;
            let args: Vec<String> = [
                "--port",
                &srv.port.to_string(),
                "--idle",
                "--connections",
                &n.to_string(),
                "--size",
                "1024",
                "--settle",
                "1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            bench.run_load("qws_client_load", &args, "client-idle")
        })();
        println!("{}", summary(&result));
        records.push(Record {
            section: "client-idle",
            scenario: format!("idle-{n}"),
            who: "qws_client".into(),
            round: 0,
            result,
        });
    }
    Ok(())
}

/// One criterion result.
struct Micro {
    id: String,
    ns: f64,
    bytes: Option<f64>,
}

fn run_micro(bench: &Bench<'_>, manifest: &str, target: &Path) -> Result<Vec<Micro>, String> {
    println!("\n==> bench: criterion micro-benchmarks (bench/benches/protocol.rs)");
    let dir = target.join("criterion");
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--quiet",
        "--manifest-path",
        manifest,
        "--bench",
        "protocol",
        "--",
        "--warm-up-time",
        "0.5",
        "--measurement-time",
        "1.5",
        "--noplot",
        "--quiet",
    ])
    .env("CARGO_TARGET_DIR", target);
    pin(&mut cmd, bench.cores.server);
    proc::run(&mut cmd)?;
    let mut found = Vec::new();
    collect_micro(&dir, &mut found);
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn collect_micro(dir: &Path, out: &mut Vec<Micro>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let read = |f: &str| {
                std::fs::read_to_string(path.join(f))
                    .ok()
                    .and_then(|t| json::parse(&t).ok())
            };
            if let (Some(b), Some(e)) = (read("benchmark.json"), read("estimates.json")) {
                let id = b.get("full_id").and_then(Json::as_str).map(String::from);
                if let (Some(id), Some(ns)) = (id, num(&e, &["median", "point_estimate"])) {
                    out.push(Micro {
                        id,
                        ns,
                        bytes: num(&b, &["throughput", "Bytes"]),
                    });
                }
            }
        } else {
            collect_micro(&path, out);
        }
    }
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The machine, in one line.
struct Machine {
    cpu: String,
    nproc: usize,
    kernel: String,
    os: String,
    rustc: String,
    commit: String,
    date: String,
    loadavg: String,
    pinning: String,
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} × {}, {}, Linux {}, {}, commit {}, {}; load average at start {}; {}",
            self.nproc,
            self.cpu,
            self.os,
            self.kernel,
            self.rustc,
            self.commit,
            self.date,
            self.loadavg,
            self.pinning
        )
    }
}

fn machine_info(cores: Cores) -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default();
    let loadavg = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let pinning = match (cores.server, cores.load) {
        (Some(s), Some(l)) => format!("server pinned to CPU {s}, load generator to CPU {l}"),
        _ => "not pinned".into(),
    };
    Machine {
        cpu,
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        os,
        rustc: command_line("rustc", &["-V"]).unwrap_or_default(),
        commit: command_line("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default(),
        date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        loadavg,
        pinning,
    }
}

struct Report<'a> {
    machine: &'a Machine,
    opts: &'a Options,
    cores: Cores,
    records: &'a [Record],
    micro: &'a [Micro],
    elapsed: Duration,
    build: Duration,
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn nanos(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

impl Report<'_> {
    /// The run of `who` in a scenario; with `--repeat`, the one with the
    /// median server CPU per message among the runs without errors.
    fn find(&self, section: &str, scenario: &str, who: &str) -> Option<&Record> {
        let all: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.section == section && r.scenario == scenario && r.who == who)
            .collect();
        let key = |r: &&Record| good(r).and_then(|j| num(j, &["server_cpu_us_per_msg"]));
        let mut ok: Vec<&Record> = all.iter().copied().filter(|r| key(r).is_some()).collect();
        ok.sort_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        ok.get(ok.len() / 2).or(all.first()).copied()
    }

    fn scenarios(&self, section: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for r in self.records.iter().filter(|r| r.section == section) {
            if !seen.contains(&r.scenario) {
                seen.push(r.scenario.clone());
            }
        }
        seen
    }

    fn servers_present(&self) -> Vec<&'static Server> {
        SERVERS
            .iter()
            .filter(|s| {
                self.records
                    .iter()
                    .any(|r| r.section == "matrix" && r.who == s.key)
            })
            .collect()
    }

    fn cpu(&self, scenario: &str, who: &str) -> Option<f64> {
        self.find("matrix", scenario, who)
            .and_then(good)
            .and_then(|j| num(j, &["server_cpu_us_per_msg"]))
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let o = self.opts;
        let _ = writeln!(
            md,
            "Machine: {}.\n\nRun: {}{} s measured after {} s of warm-up per run; each server \
             started afresh for each run; the servers of a scenario run back to back{}. \
             Took {:.0} s ({:.0} s of builds and checks).\n",
            self.machine,
            if o.quick { "`--quick`, " } else { "" },
            o.duration,
            o.warmup,
            if o.repeat > 1 {
                format!(
                    ", {} rounds of them, and each cell is the round with the median CPU per message",
                    o.repeat
                )
            } else {
                String::new()
            },
            self.elapsed.as_secs_f64(),
            self.build.as_secs_f64()
        );
        if !o.filters.is_empty() {
            let _ = writeln!(md, "Filters: {}.\n", o.filters.join(", "));
        }
        let servers = self.servers_present();
        let scenarios = self.scenarios("matrix");
        if !scenarios.is_empty() {
            let _ = writeln!(
                md,
                "### Server CPU time per echoed message (µs), × the raw TCP ceiling\n\n\
                 Scenario: payload size, connections (c), messages in flight per connection \
                 (w1 = closed loop), binary or text.\n"
            );
            header_row(&mut md, "scenario", servers.iter().map(|s| s.label));
            for sc in &scenarios {
                let raw = self.cpu(sc, RAW);
                let cells = servers
                    .iter()
                    .map(|s| match self.find("matrix", sc, s.key) {
                        None => "".to_string(),
                        Some(r) => match (good(r), self.cpu(sc, s.key)) {
                            (None, _) => "failed".into(),
                            (_, None) => "?".into(),
                            (_, Some(v)) if s.key == RAW => format!("{v:.2}"),
                            (_, Some(v)) => match raw {
                                Some(raw) if raw > 0.0 => format!("{v:.2} ({:.2}×)", v / raw),
                                _ => format!("{v:.2}"),
                            },
                        },
                    });
                row(&mut md, sc, cells);
            }
            let _ = writeln!(
                md,
                "\n### Messages/s and p99 round trip\n\n\
                 † the load generator used more than 90 % of its core: the server may have had more to give.\n"
            );
            header_row(&mut md, "scenario", servers.iter().map(|s| s.label));
            for sc in &scenarios {
                let cells = servers.iter().map(|s| {
                    let Some(j) = self.find("matrix", sc, s.key).and_then(good) else {
                        return String::new();
                    };
                    let rate = num(j, &["messages_per_s"]).unwrap_or(0.0);
                    let p99 = num(j, &["latency_us", "p99"]).unwrap_or(0.0);
                    let busy = num(j, &["client_cpu_share"]).is_some_and(|s| s > 0.9);
                    format!(
                        "{}/s{}, {}",
                        human(rate),
                        if busy { " †" } else { "" },
                        micros(p99)
                    )
                });
                row(&mut md, sc, cells);
            }
            let peers: Vec<&Server> = servers
                .iter()
                .copied()
                .filter(|s| s.key != RAW && s.key != QWS)
                .collect();
            if servers.iter().any(|s| s.key == QWS) && !peers.is_empty() {
                let _ = writeln!(
                    md,
                    "\n### qwebsocket's CPU per message ÷ each peer's (below 1: qwebsocket spends less)\n"
                );
                header_row(
                    &mut md,
                    "scenario",
                    peers.iter().map(|s| s.label).collect::<Vec<_>>(),
                );
                for sc in &scenarios {
                    let ours = self.cpu(sc, QWS);
                    let cells = peers.iter().map(|p| match (ours, self.cpu(sc, p.key)) {
                        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                        _ => String::new(),
                    });
                    row(&mut md, sc, cells);
                }
            }
        }
        let idle: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.section == "idle")
            .collect();
        if !idle.is_empty() {
            let _ = writeln!(
                md,
                "\n### Server memory per idle connection\n\n\
                 RSS growth of the server after {} connections, each upgraded and \
                 idle after one 1 KiB echo, divided by their number.\n",
                self.opts.idle_connections
            );
            header_row(
                &mut md,
                "server",
                ["bytes per connection", "RSS before → after"],
            );
            for r in idle {
                let label = SERVERS
                    .iter()
                    .find(|s| s.key == r.who)
                    .map_or(r.who.as_str(), |s| s.label);
                let cells = match good(r) {
                    None => vec!["failed".to_string(), String::new()],
                    Some(j) => vec![
                        num(j, &["server_rss_bytes_per_conn"])
                            .map_or("?".into(), |v| format!("{v:.0}")),
                        format!(
                            "{} → {} KiB",
                            num(j, &["server_rss_before_kib"]).unwrap_or(0.0),
                            num(j, &["server_rss_after_kib"]).unwrap_or(0.0)
                        ),
                    ],
                };
                row(&mut md, label, cells);
            }
        }
        let clients = self.scenarios("client");
        if !clients.is_empty() {
            let _ = writeln!(
                md,
                "\n### Our client side: CPU per message of the client process\n\n\
                 `qws_client_load` (N qwebsocket `WebSocket`s on one `EventLoop`) and `loadgen` \
                 (pre-masked frames, the client-side ceiling), each against `raw_tcp_echo --mode ws`.\n"
            );
            header_row(
                &mut md,
                "scenario",
                [
                    "loadgen µs/msg",
                    "qwebsocket µs/msg",
                    "× loadgen",
                    "qwebsocket msg/s, p99",
                ],
            );
            for sc in &clients {
                let get = |who: &str| self.find("client", sc, who).and_then(good);
                let cpu = |j: Option<&Json>| j.and_then(|j| num(j, &["client_cpu_us_per_msg"]));
                let (l, q) = (cpu(get("loadgen")), cpu(get("qws_client")));
                let rate = get("qws_client").map_or(String::new(), |j| {
                    format!(
                        "{}/s, {}",
                        human(num(j, &["messages_per_s"]).unwrap_or(0.0)),
                        micros(num(j, &["latency_us", "p99"]).unwrap_or(0.0))
                    )
                });
                let f = |v: Option<f64>| v.map_or("failed".into(), |v| format!("{v:.2}"));
                let ratio = match (l, q) {
                    (Some(l), Some(q)) if l > 0.0 => format!("{:.2}×", q / l),
                    _ => String::new(),
                };
                row(&mut md, sc, [f(l), f(q), ratio, rate]);
            }
            if let Some(j) = self
                .records
                .iter()
                .find(|r| r.section == "client-idle")
                .and_then(good)
            {
                let _ = writeln!(
                    md,
                    "\nClient memory: {} bytes of RSS per idle qwebsocket client connection \
                     ({} connections).",
                    num(j, &["client_rss_bytes_per_conn"])
                        .map_or("?".into(), |v| format!("{v:.0}")),
                    self.opts.idle_connections
                );
            }
        }
        if !self.micro.is_empty() {
            let _ = writeln!(md, "\n### Micro-benchmarks (criterion, median)\n");
            header_row(&mut md, "benchmark", ["time", "throughput"]);
            for m in self.micro {
                let thr = m
                    .bytes
                    .map(|b| format!("{:.2} GiB/s", b / m.ns * 1e9 / (1u64 << 30) as f64))
                    .unwrap_or_default();
                row(&mut md, &m.id, [nanos(m.ns), thr]);
            }
        }
        let failures: Vec<&Record> = self.records.iter().filter(|r| good(r).is_none()).collect();
        if !failures.is_empty() {
            let _ = writeln!(md, "\n### Failed runs\n");
            for r in failures {
                let why = match &r.result {
                    Err(e) => e.clone(),
                    Ok(j) => format!(
                        "{} errors, first: {}",
                        num(j, &["errors"]).unwrap_or(0.0),
                        j.get("first_error").and_then(Json::as_str).unwrap_or("")
                    ),
                };
                let _ = writeln!(md, "- {} {} {}: {why}", r.section, r.scenario, r.who);
            }
        }
        md
    }

    fn json(&self) -> String {
        let mut s = String::from("{\n  \"machine\": {");
        let m = self.machine;
        let fields = [
            ("cpu", m.cpu.as_str()),
            ("kernel", &m.kernel),
            ("os", &m.os),
            ("rustc", &m.rustc),
            ("commit", &m.commit),
            ("date", &m.date),
            ("loadavg_at_start", &m.loadavg),
            ("pinning", &m.pinning),
        ];
        for (k, v) in fields {
            json::write_string(&mut s, k);
            s.push_str(": ");
            json::write_string(&mut s, v);
            s.push_str(", ");
        }
        let _ = write!(s, "\"nproc\": {}}},\n  \"config\": {{", m.nproc);
        let _ = write!(
            s,
            "\"quick\": {}, \"repeat\": {}, \"warmup_s\": {}, \"duration_s\": {}, \
             \"idle_connections\": {}, \"server_cpu\": {}, \"load_cpu\": {}, \"elapsed_s\": {:.1}, \
             \"filters\": [",
            self.opts.quick,
            self.opts.repeat,
            self.opts.warmup,
            self.opts.duration,
            self.opts.idle_connections,
            self.cores.server.map_or("null".into(), |c| c.to_string()),
            self.cores.load.map_or("null".into(), |c| c.to_string()),
            self.elapsed.as_secs_f64()
        );
        for (i, f) in self.opts.filters.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            json::write_string(&mut s, f);
        }
        s.push_str("]},\n  \"runs\": [");
        for (i, r) in self.records.iter().enumerate() {
            s.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
            let _ = write!(
                s,
                "\"section\": \"{}\", \"round\": {}, \"scenario\": ",
                r.section, r.round
            );
            json::write_string(&mut s, &r.scenario);
            s.push_str(", \"who\": ");
            json::write_string(&mut s, &r.who);
            match &r.result {
                Ok(j) => {
                    s.push_str(", \"result\": ");
                    write_json(&mut s, j);
                }
                Err(e) => {
                    s.push_str(", \"error\": ");
                    json::write_string(&mut s, e);
                }
            }
            s.push('}');
        }
        s.push_str("\n  ],\n  \"micro\": [");
        for (i, m) in self.micro.iter().enumerate() {
            s.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
            s.push_str("\"id\": ");
            json::write_string(&mut s, &m.id);
            let _ = write!(s, ", \"median_ns\": {}", m.ns);
            if let Some(b) = m.bytes {
                let _ = write!(s, ", \"bytes\": {b}");
            }
            s.push('}');
        }
        s.push_str("\n  ]\n}\n");
        s
    }

    /// Grouped bars of server CPU µs per message, one group per scenario, on
    /// a log scale.
    fn svg(&self) -> String {
        let servers = self.servers_present();
        let scenarios = self.scenarios("matrix");
        let values: Vec<Vec<Option<f64>>> = scenarios
            .iter()
            .map(|sc| servers.iter().map(|s| self.cpu(sc, s.key)).collect())
            .collect();
        let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3);
        let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
        let (d_lo, d_hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let bar = 9.0;
        let gap = 14.0;
        let group = servers.len().max(1) as f64 * bar + gap;
        let (left, right, top, bottom) = (70.0, 20.0, 104.0, 130.0);
        let plot_h = 340.0;
        let width = (left + right + group * scenarios.len().max(1) as f64).max(960.0);
        let height = top + plot_h + bottom;
        let y = |v: f64| {
            let t = (v.log10() - f64::from(d_lo)) / f64::from(d_hi - d_lo);
            top + plot_h * (1.0 - t)
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
        );
        let _ = writeln!(
            s,
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Server CPU time per \
             echoed message (µs, log scale; lower is better)</text>"
        );
        let m = self.machine;
        let lines = [
            format!(
                "{} × {}, {}, Linux {}, {}",
                m.nproc, m.cpu, m.os, m.kernel, m.rustc
            ),
            format!(
                "commit {}, {}, load average at start {}; {}",
                m.commit, m.date, m.loadavg, m.pinning
            ),
            format!(
                "cargo xtask bench{}: scenario = payload, connections (c), messages in flight \
                 per connection (w1 = closed loop), binary or text",
                if self.opts.quick { " --quick" } else { "" }
            ),
        ];
        for (i, line) in lines.iter().enumerate() {
            let mut text = String::new();
            xml_escape(&mut text, line);
            let _ = writeln!(
                s,
                "<text x=\"{left}\" y=\"{}\" fill=\"#555\">{text}</text>",
                40 + 15 * i
            );
        }
        // Legend.
        let mut lx = left;
        for srv in &servers {
            let _ = writeln!(
                s,
                "<rect x=\"{lx}\" y=\"84\" width=\"12\" height=\"12\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"94\">{}</text>",
                srv.colour,
                lx + 16.0,
                srv.label
            );
            lx += 24.0 + 7.0 * srv.label.len() as f64;
        }
        // Decades.
        for d in d_lo..=d_hi {
            let v = 10f64.powi(d);
            let yy = y(v);
            let label = if d >= 0 {
                format!("{v:.0}")
            } else {
                format!("{v:.*}", (-d) as usize)
            };
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
                width - right,
                left - 6.0,
                yy + 4.0
            );
        }
        let base = top + plot_h;
        for (gi, (sc, vals)) in scenarios.iter().zip(&values).enumerate() {
            let gx = left + gi as f64 * group + gap / 2.0;
            for (si, v) in vals.iter().enumerate() {
                let x = gx + si as f64 * bar;
                match v {
                    Some(v) => {
                        let yy = y(v.max(10f64.powi(d_lo)));
                        let _ = writeln!(
                            s,
                            "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                             fill=\"{}\"><title>{} {sc}: {v:.2} µs</title></rect>",
                            bar - 1.0,
                            (base - yy).max(0.5),
                            servers[si].colour,
                            servers[si].label
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#c00\">×</text>",
                            x,
                            base - 2.0
                        );
                    }
                }
            }
            let cx = gx + (group - gap) / 2.0;
            let _ = writeln!(
                s,
                "<text transform=\"translate({cx:.1},{:.1}) rotate(-45)\" text-anchor=\"end\">{sc}</text>",
                base + 14.0
            );
        }
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\" stroke=\"#333\"/>\n</svg>",
            width - right
        );
        s
    }
}

/// Escapes text for SVG.
fn xml_escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

fn header_row<S: AsRef<str>>(md: &mut String, first: &str, rest: impl IntoIterator<Item = S>) {
    let mut n = 1;
    md.push_str("| ");
    md.push_str(first);
    for c in rest {
        md.push_str(" | ");
        md.push_str(c.as_ref());
        n += 1;
    }
    md.push_str(" |\n|");
    for _ in 0..n {
        md.push_str("---|");
    }
    md.push('\n');
}

fn row<S: AsRef<str>>(md: &mut String, first: &str, rest: impl IntoIterator<Item = S>) {
    md.push_str("| ");
    md.push_str(first);
    for c in rest {
        md.push_str(" | ");
        md.push_str(c.as_ref());
    }
    md.push_str(" |\n");
}

/// Writes a parsed JSON value back as text.
fn write_json(out: &mut String, j: &Json) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) if n.is_finite() => {
            let _ = write!(out, "{n}");
        }
        Json::Number(_) => out.push_str("null"),
        Json::String(t) => json::write_string(out, t),
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, v);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_string(out, k);
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_and_matrix_size() {
        assert_eq!(Scenario::new(16, 100, 1, false).name(), "16B-c100-w1-bin");
        assert_eq!(Scenario::new(KIB, 1, 32, true).name(), "1KiB-c1-w32-text");
        assert_eq!(Scenario::new(MIB, 1, 1, false).name(), "1MiB-c1-w1-bin");
        let m = full_matrix();
        assert_eq!(m.len(), 26);
        // The 10 000-connection run leaves out the thread-per-connection server.
        let big = m
            .iter()
            .find(|s| s.connections == 10_000)
            .expect("a 10k run");
        let runs: Vec<&str> = SERVERS
            .iter()
            .filter(|s| takes_part(s, big))
            .map(|s| s.key)
            .collect();
        assert!(!runs.contains(&"tungstenite") && runs.contains(&QWS) && runs.contains(&RAW));
        // Nothing keeps more than ~100 MiB in flight per direction.
        assert!(
            m.iter()
                .all(|s| s.size * s.connections * s.window <= 100 * MIB)
        );
    }

    #[test]
    fn options_and_filters() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = Options::parse(&args("--quick --filter qws")).unwrap();
        assert!(o.quick && !o.micro);
        assert!(o.selected("matrix/qws/16B-c100-w1-bin"));
        assert!(!o.selected("matrix/tungstenite/16B-c100-w1-bin"));
        assert!(Options::parse(&args("--what")).is_err());
        assert!(Options::parse(&args("--duration 0")).is_err());
        let o = Options::parse(&args("--duration 4")).unwrap();
        assert_eq!((o.duration, o.warmup), (4.0, 0.5));
    }

    #[test]
    fn json_round_trip() {
        let text = r#"{"a":1.5,"b":[true,null,"x\"y"],"c":{"d":-2}}"#;
        let mut out = String::new();
        write_json(&mut out, &json::parse(text).unwrap());
        assert_eq!(out, text);
    }
}
