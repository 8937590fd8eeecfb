//! Programs from Debian that the tests need: `openssl` (test certificates,
//! `s_client` / `s_server`), `stunnel` (the TLS terminator in front of kosoku
//! for Autobahn over `wss://`), and the two real proxies of the proxy tests,
//! `tinyproxy` (HTTP CONNECT) and `microsocks` (SOCKS5), and `chromium`, the
//! real browser of `tests/browser.rs` (run headless). A missing one is
//! installed with `apt-get` (after `apt-get update`, once for all of them);
//! anything that stops that is an error, never a skipped test.
//!
//! No install may leave a daemon behind: tinyproxy comes from Debian's
//! `tinyproxy-bin` (the executable alone; the `tinyproxy` package would also
//! create a system user and start a service on port 8888), microsocks's
//! package has no service, and after `apt-get install` any process named like
//! one of the tools that was not running before is stopped, and said so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::proc;

/// A program and the Debian package that brings it.
pub struct Tool {
    /// Names to look for on PATH, preferred first.
    pub names: &'static [&'static str],
    pub package: &'static str,
    /// How to check that it runs.
    pub probe: Probe,
}

/// A short run that shows the program works, and the line it must print.
pub enum Probe {
    /// Arguments that make it print its version (and exit 0); how the line
    /// that names the version starts.
    Version {
        args: &'static [&'static str],
        prefix: &'static str,
    },
    /// For a program without a version option: arguments that make it print
    /// its usage, whatever its exit status, and how a line of that usage
    /// starts. The version shown is then the Debian package's.
    Usage {
        args: &'static [&'static str],
        prefix: &'static str,
    },
}

pub const OPENSSL: Tool = Tool {
    names: &["openssl"],
    package: "openssl",
    probe: Probe::Version {
        args: &["version"],
        prefix: "OpenSSL",
    },
};

/// Debian's `stunnel4` package installs `stunnel4` (and `stunnel`).
pub const STUNNEL: Tool = Tool {
    names: &["stunnel4", "stunnel"],
    package: "stunnel4",
    probe: Probe::Version {
        args: &["-version"],
        prefix: "stunnel",
    },
};

/// The HTTP proxy of the proxy tests. `tinyproxy-bin` is the executable
/// alone (the `tinyproxy` package depends on it and adds the system service).
pub const TINYPROXY: Tool = Tool {
    names: &["tinyproxy"],
    package: "tinyproxy-bin",
    probe: Probe::Version {
        args: &["-v"],
        prefix: "tinyproxy",
    },
};

/// The SOCKS5 proxy of the proxy tests. microsocks 1.0.3 has no version
/// option: `-h` (an unknown option to it) prints the usage and exits 1.
pub const MICROSOCKS: Tool = Tool {
    names: &["microsocks"],
    package: "microsocks",
    probe: Probe::Usage {
        args: &["-h"],
        prefix: "MicroSocks SOCKS5 Server",
    },
};

/// The real browser of `tests/browser.rs`, run headless. Debian's
/// `/usr/bin/chromium` is a launcher script; `--version` prints a line like
/// "Chromium 120.0.6099.224 built on Debian ...".
pub const CHROMIUM: Tool = Tool {
    names: &["chromium"],
    package: "chromium",
    probe: Probe::Version {
        args: &["--version"],
        prefix: "Chromium",
    },
};

/// Every tool the tests need.
pub const ALL: [&Tool; 5] = [&OPENSSL, &STUNNEL, &TINYPROXY, &MICROSOCKS, &CHROMIUM];

/// Where each tool is, installing the missing ones first.
pub fn ensure(tools: &[&Tool]) -> Result<Vec<PathBuf>, String> {
    let missing: Vec<&Tool> = tools
        .iter()
        .copied()
        .filter(|t| find(t).is_none())
        .collect();
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    let mut found = Vec::with_capacity(tools.len());
    for tool in tools {
        let path = find(tool).ok_or_else(|| {
            format!(
                "`apt-get install {}` succeeded but none of {:?} is on PATH",
                tool.package, tool.names
            )
        })?;
        let version = probe(&path, tool)?;
        println!("{}: {version}", path.display());
        found.push(path);
    }
    Ok(found)
}

/// The first of the tool's names found on PATH.
fn find(tool: &Tool) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    tool.names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs the tool's probe and returns the line naming its version (stunnel
/// prints it on stderr, after other lines), failing if it cannot run at all
/// or, for a usage probe, if it does not print its usage.
fn probe(path: &Path, tool: &Tool) -> Result<String, String> {
    let (args, prefix) = match tool.probe {
        Probe::Version { args, prefix } | Probe::Usage { args, prefix } => (args, prefix),
    };
    let output = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let line = text.lines().map(str::trim).find(|l| l.starts_with(prefix));
    match tool.probe {
        Probe::Version { .. } => Ok(line.unwrap_or("(no version printed)").to_string()),
        Probe::Usage { .. } => {
            if line.is_none() {
                return Err(format!(
                    "`{} {}` did not print its usage (a line starting {prefix:?}): {}",
                    path.display(),
                    args.join(" "),
                    text.trim()
                ));
            }
            Ok(format!(
                "runs (no version option; Debian package {} {})",
                tool.package,
                package_version(tool.package).unwrap_or_else(|| "of unknown version".into())
            ))
        }
    }
}

/// The installed version of a Debian package, if dpkg knows it.
fn package_version(package: &str) -> Option<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !version.is_empty()).then_some(version)
}

fn apt_install(tools: &[&Tool]) -> Result<(), String> {
    let packages: Vec<&str> = tools.iter().map(|t| t.package).collect();
    let list = packages.join(" ");
    if !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!(
            "{list} must be installed (the tests need them) and this machine has no apt-get: \
             install them by hand"
        ));
    }
    println!("missing: installing Debian's {list}");
    let names: Vec<&str> = tools.iter().flat_map(|t| t.names.iter().copied()).collect();
    let running_before = processes_named(&names);
    let noninteractive = |cmd: &mut Command| {
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
    };
    let mut update = Command::new("apt-get");
    update.args(["update"]);
    noninteractive(&mut update);
    proc::run(&mut update).map_err(|e| format!("cannot install {list}: {e}"))?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends"])
        .args(&packages);
    noninteractive(&mut install);
    let installed = proc::run(&mut install).map_err(|e| format!("cannot install {list}: {e}"));
    stop_started_daemons(&names, &running_before);
    installed
}

/// Stops what the install started: every process named like one of the
/// tools that was not running before it.
fn stop_started_daemons(names: &[&str], running_before: &BTreeSet<(u32, String)>) {
    for (pid, name) in processes_named(names).difference(running_before) {
        println!(
            "the install started {name} (pid {pid}), a system service the tests do not use: \
             stopping it"
        );
        proc::terminate(*pid);
    }
}

/// The live processes (pid, name) whose command name is one of `names`
/// (not zombies: those are dead, waiting for a parent to reap them).
fn processes_named(names: &[&str]) -> BTreeSet<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let comm = comm.trim_end();
            if !names.contains(&comm) {
                return None;
            }
            // The state follows the parenthesised name: "pid (comm) S ...".
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            (state != 'Z').then(|| (pid, comm.to_string()))
        })
        .collect()
}
