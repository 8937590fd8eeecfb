//! `cargo xtask`: the project's test driver.
//!
//! `cargo xtask test` is the one command that checks everything; `.ci/run`
//! runs exactly it. See `cargo xtask help`.

mod autobahn;
mod bench;
mod examples;
mod fuzz;
mod json;
mod proc;
mod soak;
mod tools;
mod venv;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use autobahn::Side;
use proc::Guard;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test                  run every check, in order, stopping at the first failure:
                        fmt, clippy (all features), cargo deny (licenses, bans, sources of
                        the workspace and bench/; cargo-deny installed with cargo install
                        when missing; advisories need GitHub, out of reach), test tools
                        (openssl, stunnel4, tinyproxy, microsocks, chromium: installed with
                        apt-get when missing),
                        cargo test, doc (all features), release examples (with the
                        calloop feature), running the demo examples (echo, poll_loop fed
                        three lines on stdin, calloop, reconnect, worker_thread,
                        multi_loop_server: each must exit 0 within 60 s), fuzz smoke
                        (every fuzz target for 15 s, two at a time), Python venv,
                        Autobahn server side, client side, both again over wss://
                        (through stunnel), interop (pytest: Python websockets and ssl,
                        openssl s_client / s_server)
  fuzz [--minutes N | --seconds N] [--jobs N] [--nice] [TARGET...]
                        run the cargo-fuzz targets of fuzz/ (all by default: frame_header,
                        message_utf8, client_handshake, server_handshake, proxy_reply,
                        session, websocket_client, websocket_server) for N minutes (default
                        1) or seconds each, --jobs of them at once (default 1), --nice at
                        nice 19; installs cargo-fuzz when missing (cargo install --locked),
                        builds with RUSTC_BOOTSTRAP=1, starts from fuzz/corpus/TARGET and
                        grows target/fuzz/corpus/TARGET; prints executions, exec/s, cov
                        and ft per target (also target/fuzz/summary.md) and fails on any
                        crash, naming the reproducer under target/fuzz/artifacts/
  examples              build the release examples and run the demo examples only
  autobahn [SIDE...] [--update [--no-run | --runs N]] [-p N]
                        run the Autobahn suite with kosoku and compare with
                        tests/autobahn/expected-results.json; SIDE is server, client,
                        server-wss, client-wss, ws (the first two), wss (the last two)
                        or all (the default);
                        --update rewrites those sides in that file from the results instead,
                        --no-run takes the latest reports in target/autobahn/ as they are,
                        --runs N runs each side N times and records each case's worst
                        verdict (a few cases are timing-dependent: --runs 3 is advised),
                        -p N runs N server-side cases in parallel (default 1)
  interop [PYTEST_ARGS...]
                        run the interop tests (tests/interop) with Python websockets
                        and ssl, and the openssl command (installed when missing)
  bench [--quick] [--filter TEXT]... [--duration SECS] [--repeat N] [--no-micro]
                        build bench/ (own crate, target/bench; clippy -D warnings and its
                        unit tests first) and measure qwebsocket's echo server next to a
                        raw TCP ceiling, fastwebsockets, tokio-tungstenite and tungstenite,
                        server and load generator pinned to different cores: server CPU
                        time per message, messages/s, p50/p99 latency, RSS per idle
                        connection, our client side, and the criterion micro-benchmarks;
                        writes target/bench/results.{json,md} and cpu-per-message.svg (a
                        full run without filters also docs/perf/cpu-per-message.svg);
                        --quick: a small subset in about a minute (CI smoke test);
                        --repeat N: N interleaved rounds, the median run is reported;
                        --filter keeps the runs whose id contains TEXT
                        (matrix/SERVER/SCENARIO, idle/SERVER, client/SCENARIO, micro;
                        SERVER is raw, qws, fastwebsockets, tokio-tungstenite or
                        tungstenite; SCENARIO like 16B-c100-w1-bin); see docs/PERFORMANCE.md
  soak [--minutes N]    (not in CI) N minutes (default 1) of everything at once against one
                        server loop on 127.0.0.1, from a release build: 100 echo clients
                        (round trips timed), a churn of connects and closes, quick faults
                        (RST/FIN mid-handshake and mid-frame, 2^63 lengths, endless
                        continuations, bad UTF-8, unmasked frames, reserved opcodes, bad
                        requests) and slow ones (slowloris on the handshake and on a frame,
                        unanswered closes, ping floods that never read); each fault checks
                        its outcome. Prints and writes target/soak/summary.md; fails on any
                        unexpected outcome or leftover connection or descriptor
  deny                  the cargo deny step of test alone
  tools                 install the test tools that are missing (openssl, stunnel4,
                        tinyproxy from tinyproxy-bin, microsocks, chromium; with apt-get,
                        starting no service) and check that each runs
  venv                  create or refresh target/venv only

environment:
  QWS_PYTHON                 interpreter that creates the venv (default python3)
  QWS_AUTOBAHN_TIMEOUT_SECS  hard limit per Autobahn side (default 480)
  QWS_INTEROP_TIMEOUT_SECS   hard limit for the interop tests (default 600)
  QWS_EXAMPLES_DIR           where the built examples are (default target/release/examples)
  QWS_INTEROP_PEER           command line to test instead of the interop_peer example
";

/// How long `cargo xtask test` runs each fuzz target.
const FUZZ_SMOKE: Duration = Duration::from_secs(15);

const DEFAULT_INTEROP_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Where things are.
pub struct Paths {
    pub root: PathBuf,
    pub target: PathBuf,
    pub examples: PathBuf,
}

impl Paths {
    fn discover() -> Paths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives inside the workspace")
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let examples = match std::env::var_os("QWS_EXAMPLES_DIR") {
            Some(dir) => root.join(dir),
            None => target.join("release").join("examples"),
        };
        Paths {
            root,
            target,
            examples,
        }
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.stdin(Stdio::null());
    cmd
}

fn run_cargo(args: &[&str]) -> Result<(), String> {
    proc::run(cargo().args(args))
}

fn build_examples() -> Result<(), String> {
    run_cargo(&[
        "build",
        "--release",
        "--examples",
        "--features",
        examples::FEATURES,
    ])
}

/// The cargo-deny release CI installs (from crates.io) when it is missing.
const CARGO_DENY: &str = "cargo-deny@0.20.2";

/// `cargo deny check licenses bans sources` (deny.toml) on the workspace and
/// on bench/; cargo-deny is installed first when missing. Advisories are
/// not checked: their database is a GitHub repository, out of reach of the
/// project's machines (see deny.toml).
fn cargo_deny() -> Result<(), String> {
    let present = cargo()
        .args(["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        run_cargo(&["install", "--locked", CARGO_DENY])?;
    }
    run_cargo(&["deny", "check", "licenses", "bans", "sources"])?;
    run_cargo(&[
        "deny",
        "--manifest-path",
        "bench/Cargo.toml",
        "--config",
        "deny.toml",
        "check",
        "licenses",
        "bans",
        "sources",
    ])
}

fn test_tools() -> Result<(), String> {
    tools::ensure(&tools::ALL).map(|_| ())
}

fn run_interop(paths: &Paths, venv: &venv::Venv, extra: &[String]) -> Result<(), String> {
    let timeout = match std::env::var("QWS_INTEROP_TIMEOUT_SECS") {
        Ok(v) => Duration::from_secs(
            v.parse()
                .map_err(|_| format!("QWS_INTEROP_TIMEOUT_SECS={v:?} is not a number"))?,
        ),
        Err(_) => DEFAULT_INTEROP_TIMEOUT,
    };
    let mut cmd = Command::new(venv.python());
    cmd.args(["-m", "pytest", "tests/interop", "-q"])
        .args(extra)
        .current_dir(&paths.root)
        .env("QWS_EXAMPLES_DIR", &paths.examples)
        .stdin(Stdio::null());
    let line = proc::describe(&cmd);
    println!("$ {line}");
    let mut pytest = Guard::spawn("pytest", &mut cmd)?;
    match pytest.wait_until(Instant::now() + timeout) {
        Some(status) => proc::check_status(&line, status),
        None => {
            // SIGINT lets pytest run fixture teardown, which stops the peers.
            pytest.interrupt_then_kill(Duration::from_secs(15));
            Err(format!(
                "the interop tests did not finish within {}s (set QWS_INTEROP_TIMEOUT_SECS to change it)",
                timeout.as_secs()
            ))
        }
    }
}

fn run_autobahn_side(
    paths: &Paths,
    venv: &venv::Venv,
    side: Side,
    opts: &autobahn::Options,
) -> Result<(), String> {
    let report = autobahn::run(paths, venv, side, opts)?;
    autobahn::check(paths, &report)
}

type Step<'a> = (String, Box<dyn FnMut() -> Result<(), String> + 'a>);

fn test(paths: &Paths) -> Result<(), String> {
    let opts = autobahn::Options::from_env()?;
    let venv = std::cell::OnceCell::new();
    let venv_ref = &venv;
    let need_venv = || {
        venv_ref
            .get()
            .ok_or_else(|| "the Python venv step did not run".to_string())
    };
    let build_title = format!(
        "cargo build --release --examples --features {}",
        examples::FEATURES
    );
    let run_title = format!(
        "run the examples ({}) from the release build, each within {}s",
        examples::names(),
        examples::LIMIT.as_secs()
    );
    let mut steps: Vec<Step<'_>> = vec![
        (
            "cargo fmt --all --check, and of bench/ and fuzz/ (not workspace members)".into(),
            Box::new(|| {
                run_cargo(&["fmt", "--all", "--check"])?;
                for manifest in ["bench/Cargo.toml", "fuzz/Cargo.toml"] {
                    run_cargo(&["fmt", "--manifest-path", manifest, "--all", "--check"])?;
                }
                Ok(())
            }),
        ),
        (
            "cargo clippy --workspace --all-targets --all-features -- -D warnings, and of fuzz/"
                .into(),
            Box::new(|| {
                run_cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--all-features",
                    "--",
                    "-D",
                    "warnings",
                ])?;
                run_cargo(&[
                    "clippy",
                    "--manifest-path",
                    "fuzz/Cargo.toml",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
            }),
        ),
        (
            "cargo deny check licenses bans sources (workspace and bench/; \
             cargo install --locked cargo-deny when missing)"
                .into(),
            Box::new(cargo_deny),
        ),
        (
            // Before cargo test: the proxy tests run tinyproxy and microsocks,
            // the browser test chromium.
            "test tools (openssl, stunnel4, tinyproxy, microsocks, chromium: apt-get install \
             when missing)"
                .into(),
            Box::new(test_tools),
        ),
        (
            "cargo test --workspace".into(),
            Box::new(|| run_cargo(&["test", "--workspace"])),
        ),
        (
            "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --all-features".into(),
            Box::new(|| {
                proc::run(
                    cargo()
                        .args(["doc", "--no-deps", "--all-features"])
                        .env("RUSTDOCFLAGS", "-D warnings"),
                )
            }),
        ),
        (build_title, Box::new(build_examples)),
        (run_title, Box::new(|| examples::run_all(paths))),
        (
            format!(
                "fuzz smoke: every cargo-fuzz target for {}s, two at a time",
                FUZZ_SMOKE.as_secs()
            ),
            Box::new(|| {
                fuzz::run(
                    paths,
                    &fuzz::Options {
                        per_target: FUZZ_SMOKE,
                        jobs: 2,
                        nice: false,
                        targets: fuzz::TARGETS.iter().map(|(t, _)| *t).collect(),
                    },
                )
            }),
        ),
        (
            "Python venv (target/venv, tests/requirements.txt)".into(),
            Box::new(|| {
                let v = venv::ensure(paths)?;
                let _ = venv_ref.set(v);
                Ok(())
            }),
        ),
        (
            "Autobahn, server side (kosoku fuzzingclient -> autobahn_server)".into(),
            Box::new(|| run_autobahn_side(paths, need_venv()?, Side::Server, &opts)),
        ),
        (
            "Autobahn, client side (autobahn_client -> kosoku fuzzingserver)".into(),
            Box::new(|| run_autobahn_side(paths, need_venv()?, Side::Client, &opts)),
        ),
        (
            "Autobahn over wss, server side \
             (kosoku fuzzingclient -> stunnel -> autobahn_server --tls)"
                .into(),
            Box::new(|| run_autobahn_side(paths, need_venv()?, Side::ServerWss, &opts)),
        ),
        (
            "Autobahn over wss, client side \
             (autobahn_client wss:// -> stunnel -> kosoku fuzzingserver)"
                .into(),
            Box::new(|| run_autobahn_side(paths, need_venv()?, Side::ClientWss, &opts)),
        ),
        (
            "interop with Python websockets, ssl and openssl (pytest tests/interop)".into(),
            Box::new(|| run_interop(paths, need_venv()?, &[])),
        ),
    ];
    let total = steps.len();
    let started = Instant::now();
    for (i, (title, step)) in steps.iter_mut().enumerate() {
        let n = i + 1;
        println!("\n==> xtask test [{n}/{total}] {title}");
        let step_started = Instant::now();
        if let Err(e) = step() {
            return Err(format!("step {n}/{total} ({title}) failed: {e}"));
        }
        println!(
            "==> [{n}/{total}] passed in {:.1}s",
            step_started.elapsed().as_secs_f64()
        );
    }
    println!("\nxtask test: took {:.0}s", started.elapsed().as_secs_f64());
    println!("xtask test: all {total} steps passed");
    Ok(())
}

fn autobahn_command(paths: &Paths, args: &[String]) -> Result<(), String> {
    let mut sides = Vec::new();
    let mut update = false;
    let mut no_run = false;
    let mut runs = 1u32;
    let mut opts = autobahn::Options::from_env()?;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "ws" => sides.extend([Side::Server, Side::Client]),
            "wss" => sides.extend([Side::ServerWss, Side::ClientWss]),
            "all" => sides.extend(Side::ALL),
            name if Side::from_name(name).is_some() => sides.extend(Side::from_name(name)),
            "--update" => update = true,
            "--no-run" => no_run = true,
            "--runs" => {
                let value = args.next().ok_or("--runs needs a number")?;
                runs = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs {value}: expected a positive number"))?;
            }
            "-p" | "--parallelism" => {
                let value = args.next().ok_or("-p needs a number")?;
                opts.parallelism = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("-p {value}: expected a positive number"))?;
            }
            other => return Err(format!("unknown autobahn argument {other:?}\n\n{USAGE}")),
        }
    }
    if sides.is_empty() {
        sides.extend(Side::ALL);
    }
    let mut seen = Vec::new();
    sides.retain(|s| {
        let first = !seen.contains(s);
        seen.push(*s);
        first
    });
    if (no_run || runs > 1) && !update {
        return Err("--no-run and --runs only make sense with --update".into());
    }
    if no_run && runs > 1 {
        return Err("--no-run reads the latest reports: it cannot take --runs".into());
    }

    let mut reports = Vec::new();
    if no_run {
        for &side in &sides {
            reports.push(autobahn::read_report(
                side,
                &autobahn::report_dir(paths, side),
            )?);
        }
    } else {
        build_examples()?;
        let venv = venv::ensure(paths)?;
        for &side in &sides {
            let mut merged: Option<autobahn::Report> = None;
            for run in 1..=runs {
                let of = if runs > 1 {
                    format!(" (run {run}/{runs})")
                } else {
                    String::new()
                };
                println!("\n==> Autobahn, {} side{of}", side.name());
                let report = autobahn::run(paths, &venv, side, &opts)?;
                if !update {
                    autobahn::check(paths, &report)?;
                }
                match merged.as_mut() {
                    Some(merged) => merged.merge_worst(report),
                    None => merged = Some(report),
                }
            }
            reports.extend(merged);
        }
    }
    if update {
        autobahn::update(paths, &reports)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths::discover();
    if let Err(e) = std::env::set_current_dir(&paths.root) {
        eprintln!("xtask: cannot enter {}: {e}", paths.root.display());
        return ExitCode::FAILURE;
    }
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match command {
        "test" if rest.is_empty() => test(&paths),
        "autobahn" => autobahn_command(&paths, rest),
        "bench" => bench::command(&paths, rest),
        "fuzz" => fuzz::command(&paths, rest),
        "interop" => build_examples()
            .and_then(|()| tools::ensure(&[&tools::OPENSSL]))
            .and_then(|_| venv::ensure(&paths))
            .and_then(|venv| run_interop(&paths, &venv, rest)),
        "examples" if rest.is_empty() => build_examples().and_then(|()| examples::run_all(&paths)),
        "tools" if rest.is_empty() => test_tools(),
        "deny" if rest.is_empty() => cargo_deny(),
        "soak" => soak::command(rest),
        "soak-run" => soak::run(&paths, rest),
        "venv" if rest.is_empty() => venv::ensure(&paths).map(|_| ()),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command {:?}\n\n{USAGE}", args.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask {command}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
