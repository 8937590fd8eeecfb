//! Programs from Debian that the TLS tests need: `openssl` (test
//! certificates, `s_client` / `s_server`) and `stunnel` (the TLS terminator in
//! front of kosoku for Autobahn over `wss://`). A missing one is installed
//! with `apt-get` (after `apt-get update`, once for all of them); anything
//! that stops that is an error, never a skipped test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::proc;

/// A program and the Debian package that brings it.
pub struct Tool {
    /// Names to look for on PATH, preferred first.
    pub names: &'static [&'static str],
    pub package: &'static str,
    /// Arguments that make it print its version (to check it runs).
    pub version_args: &'static [&'static str],
    /// How the line that names the version starts.
    pub version_prefix: &'static str,
}

pub const OPENSSL: Tool = Tool {
    names: &["openssl"],
    package: "openssl",
    version_args: &["version"],
    version_prefix: "OpenSSL",
};

/// Debian's `stunnel4` package installs `stunnel4` (and `stunnel`).
pub const STUNNEL: Tool = Tool {
    names: &["stunnel4", "stunnel"],
    package: "stunnel4",
    version_args: &["-version"],
    version_prefix: "stunnel",
};

/// Where each tool is, installing the missing ones first.
pub fn ensure(tools: &[&Tool]) -> Result<Vec<PathBuf>, String> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| find(t).is_none())
        .map(|t| t.package)
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
        let version = version(&path, tool)?;
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

/// The line the tool prints about its version (stunnel prints it on
/// stderr, after other lines), failing if it cannot run at all.
fn version(path: &Path, tool: &Tool) -> Result<String, String> {
    let output = Command::new(path)
        .args(tool.version_args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let mut lines = text.lines().map(str::trim);
    Ok(lines
        .find(|l| l.starts_with(tool.version_prefix))
        .unwrap_or("(no version printed)")
        .to_string())
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let list = packages.join(" ");
    if !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!(
            "{list} must be installed (the TLS tests need them) and this machine has no apt-get: \
             install them by hand"
        ));
    }
    println!("missing: installing Debian's {list}");
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
        .args(packages);
    noninteractive(&mut install);
    proc::run(&mut install).map_err(|e| format!("cannot install {list}: {e}"))
}
