//! The Python virtual environment at `target/venv` with the pinned tools from
//! `tests/requirements.txt` (kosoku, websockets, pytest). It is reused while
//! its marker file records the same requirement list, and rebuilt otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Paths;
use crate::proc;

const MARKER: &str = "qwebsocket-requirements.txt";

pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin").join("python")
    }

    pub fn kosoku(&self) -> PathBuf {
        self.dir.join("bin").join("kosoku")
    }
}

/// The base interpreter used to create the venv: `$QWS_PYTHON` or `python3`.
fn base_python() -> String {
    std::env::var("QWS_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

pub fn ensure(paths: &Paths) -> Result<Venv, String> {
    let venv = Venv {
        dir: paths.target.join("venv"),
    };
    let requirements_path = paths.root.join("tests").join("requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|e| format!("cannot read {}: {e}", requirements_path.display()))?;
    let marker = venv.dir.join(MARKER);

    if std::fs::read_to_string(&marker).ok().as_deref() == Some(requirements.as_str())
        && usable(&venv)
    {
        println!(
            "reusing {} (requirements unchanged: {})",
            venv.dir.display(),
            pins(&requirements)
        );
        return Ok(venv);
    }

    if venv.dir.exists() {
        println!(
            "rebuilding {} (requirements changed or venv broken)",
            venv.dir.display()
        );
        std::fs::remove_dir_all(&venv.dir)
            .map_err(|e| format!("cannot remove {}: {e}", venv.dir.display()))?;
    }
    create(&venv.dir)?;
    proc::run(
        Command::new(venv.python())
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--progress-bar", "off", "-r"])
            .arg(&requirements_path),
    )
    .map_err(|e| format!("installing the Python test tools failed: {e}"))?;
    if !usable(&venv) {
        return Err(format!(
            "{} was installed but {} or its Python does not run",
            venv.dir.display(),
            venv.kosoku().display()
        ));
    }
    std::fs::write(&marker, &requirements)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    println!(
        "created {} with {}",
        venv.dir.display(),
        pins(&requirements)
    );
    Ok(venv)
}

/// The requirement lines, without comments, for messages.
fn pins(requirements: &str) -> String {
    requirements
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The venv works: its Python imports the tools and kosoku's script starts
/// (its shebang names the venv's absolute path, which breaks if it moved).
fn usable(venv: &Venv) -> bool {
    let quiet = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    quiet(Command::new(venv.python()).args(["-c", "import kosoku, websockets, pytest"]))
        && quiet(Command::new(venv.kosoku()).arg("--help"))
}

fn create(dir: &Path) -> Result<(), String> {
    let python = base_python();
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "venv"]).arg(dir);
    println!("$ {}", proc::describe(&cmd));
    let output = cmd.output().map_err(|e| {
        format!("cannot run `{python}` (set QWS_PYTHON to a Python 3 interpreter): {e}")
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprint!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    let _ = std::fs::remove_dir_all(dir);

    // Debian's own python3 ships `venv` without `ensurepip`, which lives in
    // the python3-venv package. Only that case is repaired automatically.
    let has_ensurepip = Command::new(&python)
        .args(["-c", "import ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_ensurepip || !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!("`{python} -m venv` failed ({})", output.status));
    }
    println!("ensurepip is missing: installing Debian's python3-venv");
    let install = || {
        proc::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "python3-venv"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        proc::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    proc::run(Command::new(&python).args(["-m", "venv"]).arg(dir))
        .map_err(|e| format!("creating the venv failed even with python3-venv: {e}"))
}
