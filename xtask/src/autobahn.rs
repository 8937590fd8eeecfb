//! The Autobahn conformance suite, run by kosoku against our examples:
//! `autobahn_server` (kosoku is the fuzzing client) and `autobahn_client`
//! (kosoku is the fuzzing server), over `ws://` and over `wss://`. kosoku
//! speaks only `ws://`, so for `wss://` a stunnel sits between the two and
//! terminates TLS (see `tls_terminator`). Results are compared with
//! `tests/autobahn/expected-results.json`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Paths;
use crate::json::{self, Json};
use crate::proc::{self, Guard};
use crate::tools;
use crate::venv::Venv;

/// Compression cases left out over `wss://`. The `ws://` sides run every
/// permessage-deflate case (12.*, 13.*: 216 cases, 7-8 minutes on the
/// client side, whose cases cannot run in parallel); over TLS the
/// compression code is the same, so the `-wss` sides run one data set with
/// the default offer (12.1.*), the default parameters (13.1.*) and the
/// several-offers negotiation (13.7.*), which keeps the whole suite near
/// 20 minutes.
const EXCLUDED_OVER_TLS: [&str; 9] = [
    "12.2.*", "12.3.*", "12.4.*", "12.5.*", "13.2.*", "13.3.*", "13.4.*", "13.5.*", "13.6.*",
];

/// The cases left out of a side's run.
fn excluded(side: Side) -> &'static [&'static str] {
    if side.is_tls() {
        &EXCLUDED_OVER_TLS
    } else {
        &[]
    }
}

/// Hard limit for one side, unless `QWS_AUTOBAHN_TIMEOUT_SECS` says otherwise
/// (the client side with every compression case takes about 9 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a program may take to print its readiness line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long kosoku's fuzzing server may take to write its report and exit
/// once the client under test has finished.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);
/// The agent name `autobahn_client` reports.
const CLIENT_AGENT: &str = "qwebsocket";

/// Which of our examples kosoku tests, and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `autobahn_server` over `ws://`.
    Server,
    /// `autobahn_client` over `ws://`.
    Client,
    /// `autobahn_server --tls` behind a stunnel in client mode.
    ServerWss,
    /// `autobahn_client wss://...` to a stunnel in server mode.
    ClientWss,
}

impl Side {
    /// Every side, in the order they run and are recorded.
    pub const ALL: [Side; 4] = [Side::Server, Side::Client, Side::ServerWss, Side::ClientWss];

    pub fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
            Side::ServerWss => "server-wss",
            Side::ClientWss => "client-wss",
        }
    }

    pub fn from_name(name: &str) -> Option<Side> {
        Side::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Our server under test (kosoku is the fuzzing client).
    pub fn is_server(self) -> bool {
        matches!(self, Side::Server | Side::ServerWss)
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Side::ServerWss | Side::ClientWss)
    }

    fn index(self) -> usize {
        self as usize
    }
}

pub struct Options {
    /// kosoku's `-p` in fuzzingclient mode (server side only).
    pub parallelism: u32,
    pub timeout: Duration,
}

impl Options {
    pub fn from_env() -> Result<Options, String> {
        let timeout = match std::env::var("QWS_AUTOBAHN_TIMEOUT_SECS") {
            Ok(v) => Duration::from_secs(
                v.parse()
                    .map_err(|_| format!("QWS_AUTOBAHN_TIMEOUT_SECS={v:?} is not a number"))?,
            ),
            Err(_) => DEFAULT_TIMEOUT,
        };
        Ok(Options {
            // Server-side cases run two at a time: the 216 compression
            // cases take about 3.5 minutes so instead of 7.
            parallelism: 2,
            timeout,
        })
    }
}

/// Verdicts from best to worst. Anything else (kosoku's `ERROR`) ranks below.
const VERDICTS: [&str; 5] = [
    "OK",
    "NON-STRICT",
    "INFORMATIONAL",
    "UNIMPLEMENTED",
    "FAILED",
];

fn rank(verdict: &str) -> usize {
    VERDICTS
        .iter()
        .position(|v| *v == verdict)
        .map_or(0, |i| VERDICTS.len() - i)
}

/// A case's verdict: its `behavior`, lowered when the closing handshake
/// went wrong (`behaviorClose`), the way Autobahn's report colours it:
/// an unclean or failed close counts as FAILED, a wrong close code or a
/// TCP drop by the client as NON-STRICT.
pub fn verdict(behavior: &str, behavior_close: &str) -> String {
    let cap = match behavior_close {
        _ if behavior == "UNIMPLEMENTED" => None,
        "OK" | "INFORMATIONAL" => None,
        "WRONG CODE" | "FAILED BY CLIENT" => Some("NON-STRICT"),
        _ => Some("FAILED"),
    };
    match cap {
        Some(cap) if rank(cap) < rank(behavior) => cap.to_string(),
        _ => behavior.to_string(),
    }
}

/// Orders case ids numerically: 1.2.10 after 1.2.9.
pub fn case_key(id: &str) -> Vec<u64> {
    id.split('.')
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub behavior: String,
    pub behavior_close: String,
    pub verdict: String,
    report_file: Option<String>,
}

pub struct Report {
    pub side: Side,
    pub dir: PathBuf,
    pub cases: Vec<Case>,
}

impl Report {
    fn find(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// Folds a later run of the same side in, keeping each case's worst
    /// verdict, so that a case that only passes sometimes is recorded at
    /// the level it always reaches.
    pub fn merge_worst(&mut self, later: Report) {
        for case in later.cases {
            match self.cases.iter_mut().find(|c| c.id == case.id) {
                Some(mine) if rank(&case.verdict) < rank(&mine.verdict) => {
                    println!(
                        "autobahn {}: {} varies between runs: {} and {}",
                        self.side.name(),
                        case.id,
                        mine.verdict,
                        case.verdict
                    );
                    *mine = case;
                }
                Some(mine) if rank(&case.verdict) > rank(&mine.verdict) => println!(
                    "autobahn {}: {} varies between runs: {} and {}",
                    self.side.name(),
                    case.id,
                    mine.verdict,
                    case.verdict
                ),
                Some(_) => {}
                None => self.cases.push(case),
            }
        }
        self.cases.sort_by_key(|c| case_key(&c.id));
        self.dir = later.dir;
    }

    /// `autobahn server: 290 OK, 8 NON-STRICT, 3 INFORMATIONAL, 0 UNIMPLEMENTED, 0 FAILED (301 cases)`
    pub fn summary(&self) -> String {
        let mut counts = [0usize; VERDICTS.len()];
        for case in &self.cases {
            let i = VERDICTS
                .iter()
                .position(|v| *v == case.verdict)
                .unwrap_or(VERDICTS.len() - 1);
            counts[i] += 1;
        }
        let mut text = format!("autobahn {}: ", self.side.name());
        for (i, (verdict, count)) in VERDICTS.iter().zip(counts).enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{count} {verdict}");
        }
        let _ = write!(text, " ({} cases)", self.cases.len());
        text
    }

    /// The case's description and kosoku's explanation, from its own report
    /// file, as indented lines.
    fn details(&self, case: &Case) -> String {
        let mut text = String::new();
        let Some(json) = case
            .report_file
            .as_ref()
            .and_then(|file| std::fs::read_to_string(self.dir.join(file)).ok())
            .and_then(|t| json::parse(&t).ok())
        else {
            return text;
        };
        for key in ["description", "result", "resultClose"] {
            if let Some(value) = json.get(key).and_then(Json::as_str) {
                let _ = write!(text, "\n      {key}: {}", value.trim());
            }
        }
        text
    }
}

/// Reads kosoku's `index.json`: `{agent: {case_id: {behavior, behaviorClose, ...}}}`.
pub fn read_report(side: Side, dir: &Path) -> Result<Report, String> {
    let index = dir.join("index.json");
    let text = std::fs::read_to_string(&index)
        .map_err(|e| format!("cannot read kosoku's report {}: {e}", index.display()))?;
    let json = json::parse(&text).map_err(|e| format!("{}: {e}", index.display()))?;
    let agents = json
        .as_object()
        .ok_or_else(|| format!("{}: expected an object of agents", index.display()))?;
    let (agent, cases) = match agents {
        [] => return Err(format!("{}: the report has no agent", index.display())),
        [one] => one,
        many => many
            .iter()
            .find(|(name, _)| !side.is_server() && name == CLIENT_AGENT)
            .ok_or_else(|| {
                let names: Vec<_> = many.iter().map(|(n, _)| n.as_str()).collect();
                format!("{}: several agents {names:?}", index.display())
            })?,
    };
    let entries = cases
        .as_object()
        .ok_or_else(|| format!("{}: agent {agent:?} is not an object", index.display()))?;
    let mut report = Report {
        side,
        dir: dir.to_path_buf(),
        cases: Vec::with_capacity(entries.len()),
    };
    for (id, entry) in entries {
        let field = |key: &str| entry.get(key).and_then(Json::as_str).map(str::to_string);
        let behavior = field("behavior")
            .ok_or_else(|| format!("{}: case {id} has no behavior", index.display()))?;
        let behavior_close = field("behaviorClose").unwrap_or_else(|| "OK".to_string());
        report.cases.push(Case {
            id: id.clone(),
            verdict: verdict(&behavior, &behavior_close),
            behavior,
            behavior_close,
            report_file: field("reportfile"),
        });
    }
    report.cases.sort_by_key(|c| case_key(&c.id));
    if !side.is_server() && agent != CLIENT_AGENT {
        println!("note: the client report's agent is {agent:?}, not {CLIENT_AGENT:?}");
    }
    Ok(report)
}

/// `tests/autobahn/expected-results.json`: `{"server": {case: verdict},
/// "client": {...}, "server-wss": {...}, "client-wss": {...}}`.
#[derive(Default, Clone)]
pub struct Expected {
    sides: [Option<Vec<(String, String)>>; Side::ALL.len()],
}

impl Expected {
    pub fn side(&self, side: Side) -> Option<&[(String, String)]> {
        self.sides[side.index()].as_deref()
    }

    fn set(&mut self, side: Side, cases: Vec<(String, String)>) {
        self.sides[side.index()] = Some(cases);
    }

    pub fn load(path: &Path) -> Result<Option<Expected>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let json = json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut expected = Expected::default();
        for side in Side::ALL {
            let Some(cases) = json.get(side.name()) else {
                continue;
            };
            let members = cases.as_object().ok_or_else(|| {
                format!("{}: \"{}\" must be an object", path.display(), side.name())
            })?;
            let mut list = Vec::with_capacity(members.len());
            for (id, value) in members {
                let verdict = value.as_str().ok_or_else(|| {
                    format!(
                        "{}: {} case {id} must be a string",
                        path.display(),
                        side.name()
                    )
                })?;
                list.push((id.clone(), verdict.to_string()));
            }
            expected.set(side, list);
        }
        Ok(Some(expected))
    }

    pub fn render(&self) -> String {
        let mut out = String::from("{");
        let mut first_side = true;
        for side in Side::ALL {
            let Some(cases) = self.side(side) else {
                continue;
            };
            out.push_str(if first_side { "\n  " } else { ",\n  " });
            first_side = false;
            json::write_string(&mut out, side.name());
            out.push_str(": {");
            for (i, (id, verdict)) in cases.iter().enumerate() {
                out.push_str(if i == 0 { "\n    " } else { ",\n    " });
                json::write_string(&mut out, id);
                out.push_str(": ");
                json::write_string(&mut out, verdict);
            }
            out.push_str(if cases.is_empty() { "}" } else { "\n  }" });
        }
        out.push_str("\n}\n");
        out
    }
}

pub struct Change<'a> {
    pub id: String,
    pub expected: String,
    /// `None`: the case is missing from the report.
    pub now: Option<&'a Case>,
}

pub struct Comparison<'a> {
    pub regressions: Vec<Change<'a>>,
    pub improvements: Vec<Change<'a>>,
    /// Cases in the report that the expected file does not list.
    pub new_cases: Vec<&'a Case>,
}

pub fn compare<'a>(expected: &[(String, String)], report: &'a Report) -> Comparison<'a> {
    let mut cmp = Comparison {
        regressions: Vec::new(),
        improvements: Vec::new(),
        new_cases: Vec::new(),
    };
    for (id, want) in expected {
        let now = report.find(id);
        let change = Change {
            id: id.clone(),
            expected: want.clone(),
            now,
        };
        match now {
            None => cmp.regressions.push(change),
            Some(case) if rank(&case.verdict) < rank(want) => cmp.regressions.push(change),
            Some(case) if rank(&case.verdict) > rank(want) => cmp.improvements.push(change),
            Some(_) => {}
        }
    }
    for case in &report.cases {
        if !expected.iter().any(|(id, _)| *id == case.id) {
            cmp.new_cases.push(case);
        }
    }
    cmp
}

fn count_cases(n: usize) -> String {
    if n == 1 {
        "1 case".to_string()
    } else {
        format!("{n} cases")
    }
}

fn print_changes(report: &Report, changes: &[Change<'_>]) {
    for change in changes {
        match change.now {
            None => println!(
                "  {}: {} -> missing from the report",
                change.id, change.expected
            ),
            Some(case) => println!(
                "  {}: {} -> {} (behavior {}, behaviorClose {}){}",
                change.id,
                change.expected,
                case.verdict,
                case.behavior,
                case.behavior_close,
                report.details(case)
            ),
        }
    }
}

fn print_new(report: &Report, new_cases: &[&Case]) {
    if new_cases.is_empty() {
        return;
    }
    let ids: Vec<&str> = new_cases.iter().map(|c| c.id.as_str()).collect();
    println!(
        "autobahn {}: {} not in the expected results yet: {}",
        report.side.name(),
        count_cases(ids.len()),
        ids.join(" ")
    );
}

fn expected_path(paths: &Paths) -> PathBuf {
    paths
        .root
        .join("tests")
        .join("autobahn")
        .join("expected-results.json")
}

/// Prints the summary and fails on any case worse than the committed
/// expectation, or missing.
pub fn check(paths: &Paths, report: &Report) -> Result<(), String> {
    println!("{}", report.summary());
    println!(
        "autobahn {}: report at {}",
        report.side.name(),
        report.dir.join("index.html").display()
    );
    let path = expected_path(paths);
    let hint = "run `cargo xtask autobahn --update` to record the current results \
                (or `cargo xtask autobahn --update --no-run` to take the reports just written), \
                review and commit the file";
    let expected =
        Expected::load(&path)?.ok_or_else(|| format!("{} is missing: {hint}", path.display()))?;
    let cases = expected.side(report.side).ok_or_else(|| {
        format!(
            "{} has no \"{}\" results: {hint}",
            path.display(),
            report.side.name()
        )
    })?;
    let cmp = compare(cases, report);
    let side = report.side.name();
    if !cmp.improvements.is_empty() {
        println!(
            "autobahn {side}: {} better than expected (record with `cargo xtask autobahn --update`):",
            count_cases(cmp.improvements.len())
        );
        print_changes(report, &cmp.improvements);
    }
    print_new(report, &cmp.new_cases);
    if cmp.regressions.is_empty() {
        println!("autobahn {side}: no regressions against {}", path.display());
        return Ok(());
    }
    println!(
        "autobahn {side}: {} REGRESSED (expected -> now):",
        count_cases(cmp.regressions.len())
    );
    print_changes(report, &cmp.regressions);
    Err(format!(
        "autobahn {side}: {} worse than {} (details above; reports in {})",
        count_cases(cmp.regressions.len()),
        path.display(),
        report.dir.display()
    ))
}

/// Rewrites the expected results for the given reports' sides, keeping the
/// other side as committed, and prints what changed.
pub fn update(paths: &Paths, reports: &[Report]) -> Result<(), String> {
    let path = expected_path(paths);
    let old = Expected::load(&path)?.unwrap_or_default();
    let mut new = old.clone();
    for report in reports {
        println!("{}", report.summary());
        let side = report.side.name();
        match old.side(report.side) {
            None => println!("autobahn {side}: no previous expectations; recording all cases"),
            Some(previous) => {
                let cmp = compare(previous, report);
                if cmp.improvements.is_empty() {
                    println!("autobahn {side}: no case improved");
                } else {
                    println!(
                        "autobahn {side}: {} improved:",
                        count_cases(cmp.improvements.len())
                    );
                    print_changes(report, &cmp.improvements);
                }
                if !cmp.regressions.is_empty() {
                    println!(
                        "autobahn {side}: WARNING: {} got worse and will be recorded as they are now:",
                        count_cases(cmp.regressions.len())
                    );
                    print_changes(report, &cmp.regressions);
                }
                print_new(report, &cmp.new_cases);
            }
        }
        new.set(
            report.side,
            report
                .cases
                .iter()
                .map(|c| (c.id.clone(), c.verdict.clone()))
                .collect(),
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&path, new.render())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

pub fn report_dir(paths: &Paths, side: Side) -> PathBuf {
    paths.target.join("autobahn").join(side.name())
}

fn example(paths: &Paths, name: &str) -> Result<PathBuf, String> {
    let path = paths.examples.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} does not exist: `cargo build --release --examples` must build the `{name}` example",
            path.display()
        ))
    }
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// kosoku exits 1 when some case did not pass; the comparison with the
/// expected results decides about those. Anything else is a crash.
fn check_kosoku_exit(status: std::process::ExitStatus, log: &Path) -> Result<(), String> {
    match status.code() {
        Some(0 | 1) => Ok(()),
        _ => {
            proc::print_tail(log, 30);
            Err(format!(
                "kosoku failed ({status}); its output is in {}",
                log.display()
            ))
        }
    }
}

/// Everything one run of one side needs.
struct Run<'a> {
    paths: &'a Paths,
    venv: &'a Venv,
    side: Side,
    /// `target/autobahn`: logs.
    base: &'a Path,
    /// The report directory.
    dir: &'a Path,
    opts: &'a Options,
    deadline: Instant,
    tls: Option<&'a TlsSetup>,
}

impl Run<'_> {
    fn log_path(&self, program: &str) -> PathBuf {
        self.base
            .join(format!("{}-{program}.log", self.side.name()))
    }
}

/// Runs one side and reads its report.
pub fn run(paths: &Paths, venv: &Venv, side: Side, opts: &Options) -> Result<Report, String> {
    let base = paths.target.join("autobahn");
    let dir = report_dir(paths, side);
    fresh_dir(&dir)?;
    let tls = match side.is_tls() {
        true => Some(TlsSetup::prepare(paths, venv)?),
        false => None,
    };
    let started = Instant::now();
    let run = Run {
        paths,
        venv,
        side,
        base: &base,
        dir: &dir,
        opts,
        deadline: started + opts.timeout,
        tls: tls.as_ref(),
    };
    if side.is_server() {
        run_server_side(&run)?;
    } else {
        run_client_side(&run)?;
    }
    println!(
        "autobahn {}: suite ran in {:.1}s",
        side.name(),
        started.elapsed().as_secs_f64()
    );
    read_report(side, &dir).inspect_err(|_| {
        proc::print_tail(&run.log_path("kosoku"), 30);
    })
}

fn timeout_error(what: &str, limit: Duration, logs: &[&Path]) -> String {
    for log in logs {
        proc::print_tail(log, 20);
    }
    format!(
        "{what} did not finish within the hard limit of {}s (set QWS_AUTOBAHN_TIMEOUT_SECS to change it)",
        limit.as_secs()
    )
}

fn kosoku_command(venv: &Venv) -> Command {
    let mut cmd = Command::new(venv.kosoku());
    // kosoku's Python writes its failure list to stderr: keep it unbuffered
    // and in order with stdout inside the log.
    cmd.env("PYTHONUNBUFFERED", "1").stdin(Stdio::null());
    cmd
}

/// The certificates and the stunnel binary of the runs over `wss://`.
struct TlsSetup {
    stunnel: PathBuf,
    /// `target/autobahn-tls`: certificates and stunnel configurations.
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsSetup {
    /// Installs openssl and stunnel if missing, and makes a fresh private CA
    /// and a server certificate for 127.0.0.1 signed by it, with the same
    /// generator as the interop tests (`tests/interop/tlscerts.py`).
    fn prepare(paths: &Paths, venv: &Venv) -> Result<TlsSetup, String> {
        let found = tools::ensure(&[&tools::OPENSSL, &tools::STUNNEL])?;
        let dir = paths.target.join("autobahn-tls");
        fresh_dir(&dir)?;
        let script = paths.root.join("tests").join("interop").join("tlscerts.py");
        proc::run(
            Command::new(venv.python())
                .arg(&script)
                .arg(&dir)
                .env("QWS_OPENSSL", &found[0])
                .stdin(Stdio::null()),
        )
        .map_err(|e| format!("making the test certificates failed: {e}"))?;
        Ok(TlsSetup {
            stunnel: found[1].clone(),
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            dir,
        })
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released), for
/// stunnel, which cannot tell which port it got for port 0.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// What stunnel prints (at level info) once its listening socket is bound
/// ("Configuration successful" comes before the bind).
const STUNNEL_READY: &str = "Accepting new connections";

/// Starts a stunnel in the foreground that accepts on a free port of
/// 127.0.0.1 and forwards to `connect_port`, and returns it with that port.
/// Server side: stunnel is a TLS client (plain from kosoku, TLS to our
/// server, whose certificate it verifies against the test CA and
/// 127.0.0.1). Client side: stunnel is a TLS server with the test
/// certificate (TLS from our client, plain to kosoku).
fn tls_terminator(
    run: &Run<'_>,
    tls: &TlsSetup,
    connect_port: u16,
) -> Result<(Guard, u16), String> {
    let accept_port = free_port()?;
    let service = match run.side.is_server() {
        true => format!(
            "; kosoku fuzzingclient (ws://) -> stunnel, TLS client -> autobahn_server --tls (wss://)\n\
             client = yes\n\
             CAfile = {ca}\n\
             verifyChain = yes\n\
             checkIP = 127.0.0.1\n",
            ca = tls.ca.display()
        ),
        false => format!(
            "; autobahn_client (wss://) -> stunnel, TLS server -> kosoku fuzzingserver (ws://)\n\
             cert = {cert}\n\
             key = {key}\n",
            cert = tls.cert.display(),
            key = tls.key.display()
        ),
    };
    let config = format!(
        "; Written by `cargo xtask autobahn` for the {side} side over wss://.\n\
         foreground = yes\n\
         pid =\n\
         syslog = no\n\
         debug = info\n\
         \n\
         [{side}]\n\
         accept = 127.0.0.1:{accept_port}\n\
         connect = 127.0.0.1:{connect_port}\n\
         {service}",
        side = run.side.name()
    );
    let config_path = tls.dir.join(format!("stunnel-{}.conf", run.side.name()));
    std::fs::write(&config_path, config)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;

    let log_path = run.log_path("stunnel");
    let log = proc::log_file(&log_path)?;
    let mut cmd = Command::new(&tls.stunnel);
    cmd.arg(&config_path)
        .stdin(Stdio::null())
        .stdout(proc::log_stdio(&log)?)
        .stderr(Stdio::piped());
    println!("$ {}", proc::describe(&cmd));
    let mut stunnel = Guard::spawn("stunnel", &mut cmd)?;
    let stderr = stunnel.take_stderr().expect("piped stderr");
    let rx = proc::watch_lines(stderr, log, |line| {
        line.contains(STUNNEL_READY).then_some(())
    });
    proc::await_line(
        &rx,
        &mut stunnel,
        &format!("{STUNNEL_READY:?}"),
        READY_TIMEOUT,
        &log_path,
    )?;
    Ok((stunnel, accept_port))
}

fn run_server_side(run: &Run<'_>) -> Result<(), String> {
    let server_log_path = run.log_path("autobahn_server");
    let server_log = proc::log_file(&server_log_path)?;
    let mut cmd = Command::new(example(run.paths, "autobahn_server")?);
    cmd.args(["--port", "0"]);
    if let Some(tls) = run.tls {
        cmd.arg("--tls").arg(&tls.cert).arg(&tls.key);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(proc::log_stdio(&server_log)?);
    println!("$ {}", proc::describe(&cmd));
    let mut server = Guard::spawn("autobahn_server", &mut cmd)?;
    let stdout = server.take_stdout().expect("piped stdout");
    let rx = proc::watch_lines(stdout, server_log, |line| {
        line.strip_prefix("LISTENING ")
            .and_then(|port| port.trim().parse::<u16>().ok())
    });
    let mut port = proc::await_line(
        &rx,
        &mut server,
        "`LISTENING <port>`",
        READY_TIMEOUT,
        &server_log_path,
    )?;
    let mut stunnel = None;
    if let Some(tls) = run.tls {
        let (guard, accept_port) = tls_terminator(run, tls, port)?;
        stunnel = Some(guard);
        port = accept_port;
    }

    let kosoku_log_path = run.log_path("kosoku");
    let kosoku_log = proc::log_file(&kosoku_log_path)?;
    let mut cmd = kosoku_command(run.venv);
    cmd.args(["-m", "fuzzingclient", &format!("127.0.0.1:{port}")]);
    for pattern in excluded(run.side) {
        cmd.args(["-x", pattern]);
    }
    cmd.args(["-p", &run.opts.parallelism.to_string()])
        .arg("-o")
        .arg(run.dir)
        .stdout(proc::log_stdio(&kosoku_log)?)
        .stderr(Stdio::from(kosoku_log));
    println!("$ {}", proc::describe(&cmd));
    let mut kosoku = Guard::spawn("kosoku", &mut cmd)?;
    let Some(status) = kosoku.wait_until(run.deadline) else {
        return Err(timeout_error(
            &format!("the {}-side suite", run.side.name()),
            run.opts.timeout,
            &[&kosoku_log_path, &server_log_path],
        ));
    };
    check_kosoku_exit(status, &kosoku_log_path)?;
    if let Some(status) = server.try_wait() {
        proc::print_tail(&server_log_path, 30);
        return Err(format!(
            "autobahn_server exited during the suite ({status}); its output is in {}",
            server_log_path.display()
        ));
    }
    if let Some(status) = stunnel.as_mut().and_then(Guard::try_wait) {
        let log = run.log_path("stunnel");
        proc::print_tail(&log, 30);
        return Err(format!(
            "stunnel exited during the suite ({status}); its output is in {}",
            log.display()
        ));
    }
    Ok(())
}

fn run_client_side(run: &Run<'_>) -> Result<(), String> {
    let client = example(run.paths, "autobahn_client")?;
    let kosoku_log_path = run.log_path("kosoku");
    let kosoku_log = proc::log_file(&kosoku_log_path)?;
    let mut cmd = kosoku_command(run.venv);
    cmd.args(["-m", "fuzzingserver", "127.0.0.1:0"]);
    for pattern in excluded(run.side) {
        cmd.args(["-x", pattern]);
    }
    cmd.arg("-o")
        .arg(run.dir)
        .stdout(proc::log_stdio(&kosoku_log)?)
        .stderr(Stdio::piped());
    println!("$ {}", proc::describe(&cmd));
    let mut kosoku = Guard::spawn("kosoku", &mut cmd)?;
    let stderr = kosoku.take_stderr().expect("piped stderr");
    // kosoku announces `fuzzingserver listening on ws://127.0.0.1:PORT` on
    // stderr once it accepts connections.
    let rx = proc::watch_lines(stderr, kosoku_log, |line| {
        let address = line.strip_prefix("fuzzingserver listening on ws://")?;
        let (_, port) = address.trim().rsplit_once(':')?;
        port.parse::<u16>().ok()
    });
    let port = proc::await_line(
        &rx,
        &mut kosoku,
        "its listening address",
        READY_TIMEOUT,
        &kosoku_log_path,
    )?;

    let client_log_path = run.log_path("autobahn_client");
    let client_log = proc::log_file(&client_log_path)?;
    let mut cmd = Command::new(client);
    // Dropped (killed) when this function returns, after kosoku is done.
    let mut _stunnel = None;
    match run.tls {
        Some(tls) => {
            let (guard, accept_port) = tls_terminator(run, tls, port)?;
            _stunnel = Some(guard);
            cmd.arg(format!("wss://127.0.0.1:{accept_port}"))
                .arg("--ca")
                .arg(&tls.ca);
        }
        None => {
            cmd.arg(format!("ws://127.0.0.1:{port}"));
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(proc::log_stdio(&client_log)?)
        .stderr(Stdio::from(client_log));
    println!("$ {}", proc::describe(&cmd));
    let mut client = Guard::spawn("autobahn_client", &mut cmd)?;
    let Some(status) = client.wait_until(run.deadline) else {
        return Err(timeout_error(
            &format!("the {}-side suite", run.side.name()),
            run.opts.timeout,
            &[&client_log_path, &kosoku_log_path],
        ));
    };
    if !status.success() {
        proc::print_tail(&client_log_path, 30);
        return Err(format!(
            "autobahn_client failed ({status}); its output is in {}",
            client_log_path.display()
        ));
    }
    // After updateReports, kosoku writes the report and exits by itself.
    let waited = Instant::now();
    let Some(status) = kosoku.wait_until(run.deadline.min(waited + REPORT_TIMEOUT)) else {
        proc::print_tail(&kosoku_log_path, 20);
        return Err(format!(
            "kosoku's fuzzing server did not finish within {}s after autobahn_client exited: \
             did the client run every case and then call updateReports?",
            waited.elapsed().as_secs()
        ));
    };
    check_kosoku_exit(status, &kosoku_log_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, verdict: &str) -> Case {
        Case {
            id: id.into(),
            behavior: verdict.into(),
            behavior_close: "OK".into(),
            verdict: verdict.into(),
            report_file: None,
        }
    }

    #[test]
    fn close_behaviour_lowers_the_verdict() {
        assert_eq!(verdict("OK", "OK"), "OK");
        assert_eq!(verdict("OK", "INFORMATIONAL"), "OK");
        assert_eq!(verdict("OK", "WRONG CODE"), "NON-STRICT");
        assert_eq!(verdict("OK", "FAILED BY CLIENT"), "NON-STRICT");
        assert_eq!(verdict("OK", "UNCLEAN"), "FAILED");
        assert_eq!(verdict("INFORMATIONAL", "WRONG CODE"), "INFORMATIONAL");
        assert_eq!(verdict("NON-STRICT", "FAILED"), "FAILED");
        assert_eq!(verdict("UNIMPLEMENTED", "FAILED"), "UNIMPLEMENTED");
        assert_eq!(verdict("ERROR", "OK"), "ERROR");
    }

    #[test]
    fn ranks_verdicts() {
        let order = [
            "OK",
            "NON-STRICT",
            "INFORMATIONAL",
            "UNIMPLEMENTED",
            "FAILED",
            "ERROR",
        ];
        for pair in order.windows(2) {
            assert!(rank(pair[0]) > rank(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn compares_with_expected_results() {
        let report = Report {
            side: Side::Server,
            dir: PathBuf::new(),
            cases: vec![
                case("1.1.1", "OK"),
                case("1.1.2", "NON-STRICT"),
                case("1.1.3", "OK"),
                case("1.1.4", "INFORMATIONAL"),
                case("1.1.5", "OK"),
            ],
        };
        let expected: Vec<(String, String)> = [
            ("1.1.1", "OK"),
            ("1.1.2", "OK"),
            ("1.1.3", "FAILED"),
            ("1.1.4", "INFORMATIONAL"),
            ("1.1.9", "OK"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let cmp = compare(&expected, &report);
        let ids = |changes: &[Change<'_>]| changes.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&cmp.regressions), ["1.1.2", "1.1.9"]);
        assert!(cmp.regressions[1].now.is_none());
        assert_eq!(ids(&cmp.improvements), ["1.1.3"]);
        assert_eq!(cmp.new_cases.len(), 1);
        assert_eq!(cmp.new_cases[0].id, "1.1.5");
    }

    #[test]
    fn merging_runs_keeps_the_worst_verdict() {
        let mut first = Report {
            side: Side::Server,
            dir: PathBuf::new(),
            cases: vec![
                case("1.1.1", "OK"),
                case("3.4", "OK"),
                case("5.15", "NON-STRICT"),
            ],
        };
        let second = Report {
            side: Side::Server,
            dir: PathBuf::new(),
            cases: vec![
                case("1.1.1", "OK"),
                case("3.4", "NON-STRICT"),
                case("5.15", "OK"),
            ],
        };
        first.merge_worst(second);
        let verdicts: Vec<_> = first.cases.iter().map(|c| c.verdict.as_str()).collect();
        assert_eq!(verdicts, ["OK", "NON-STRICT", "NON-STRICT"]);
    }

    #[test]
    fn summary_counts_each_verdict() {
        let report = Report {
            side: Side::Client,
            dir: PathBuf::new(),
            cases: vec![
                case("1.1.1", "OK"),
                case("1.1.2", "OK"),
                case("2.1", "INFORMATIONAL"),
                case("3.1", "ERROR"),
            ],
        };
        assert_eq!(
            report.summary(),
            "autobahn client: 2 OK, 0 NON-STRICT, 1 INFORMATIONAL, 0 UNIMPLEMENTED, 1 FAILED (4 cases)"
        );
    }

    #[test]
    fn expected_file_round_trips() {
        let mut expected = Expected::default();
        expected.set(
            Side::Server,
            vec![
                ("1.1.1".into(), "OK".into()),
                ("7.1.6".into(), "INFORMATIONAL".into()),
            ],
        );
        expected.set(Side::ClientWss, vec![("2.1".into(), "OK".into())]);
        expected.set(Side::Client, vec![("1.1.1".into(), "NON-STRICT".into())]);
        let text = expected.render();
        // Sides in the order of Side::ALL, whatever order they were set in;
        // a side without results (server-wss) is left out.
        assert_eq!(
            text,
            "{\n  \"server\": {\n    \"1.1.1\": \"OK\",\n    \"7.1.6\": \"INFORMATIONAL\"\n  },\n  \
             \"client\": {\n    \"1.1.1\": \"NON-STRICT\"\n  },\n  \
             \"client-wss\": {\n    \"2.1\": \"OK\"\n  }\n}\n"
        );
        let dir = std::env::temp_dir().join(format!("xtask-expected-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("expected.json");
        std::fs::write(&path, &text).unwrap();
        let loaded = Expected::load(&path).unwrap().unwrap();
        assert_eq!(loaded.render(), text);
        assert!(Expected::load(&dir.join("missing.json")).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sides_by_name() {
        for side in Side::ALL {
            assert_eq!(Side::from_name(side.name()), Some(side));
        }
        assert_eq!(Side::from_name("wss"), None);
        let servers: Vec<_> = Side::ALL.into_iter().filter(|s| s.is_server()).collect();
        assert_eq!(servers, [Side::Server, Side::ServerWss]);
        let tls: Vec<_> = Side::ALL.into_iter().filter(|s| s.is_tls()).collect();
        assert_eq!(tls, [Side::ServerWss, Side::ClientWss]);
    }

    #[test]
    fn sorts_case_ids_numerically() {
        let mut ids = vec!["1.2.10", "10.1.1", "1.2.9", "2.1", "1.1.1"];
        ids.sort_by_key(|id| case_key(id));
        assert_eq!(ids, ["1.1.1", "1.2.9", "1.2.10", "2.1", "10.1.1"]);
    }
}
