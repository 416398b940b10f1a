//! What every task needs: the component list, `cargo` in the workspace
//! root, the build, and installing missing tools (Debian packages, PyPI
//! modules, cargo-installed programs).

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::root;

/// Every component crate, built for wasm32-wasip2.
pub const COMPONENTS: &[&str] = &[
    "pages",
    "tickets",
    "replies",
    "invites",
    "accept",
    "transfer",
    "shares",
    "webhooks",
    "contract",
    "hello",
    "unsupported",
];

/// A `cargo` command in the workspace root, without the per-package
/// variables `cargo run` gave us: build scripts (ring's) track
/// `CARGO_MANIFEST_DIR`, and inheriting it would rebuild them every time.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    for (k, _) in std::env::vars() {
        if testkit::host::is_package_var(&k) {
            c.env_remove(k);
        }
    }
    c
}

/// Run `cmd`, echoing it; `Err` when it fails.
pub fn run(mut cmd: Command) -> Result<(), String> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Make sure the active toolchain has the `wasm32-wasip2` standard library.
///
/// rustup installs the targets of `rust-toolchain.toml` only when it installs
/// the toolchain itself; a machine whose pinned toolchain was already there
/// (or is a link to another one) lacks the target, so add it here.
pub fn ensure_wasm_target() -> Result<(), String> {
    let out = Command::new("rustc")
        .current_dir(root())
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip2/lib")
        .is_dir()
    {
        return Ok(());
    }
    eprintln!("the wasm32-wasip2 target is missing from {sysroot}: adding it with rustup");
    let mut c = Command::new("rustup");
    c.current_dir(root())
        .args(["target", "add", "wasm32-wasip2"]);
    run(c)
}

/// Build every component and the host.
pub fn build() -> Result<(), String> {
    ensure_wasm_target()?;
    let mut c = cargo();
    c.args(["build", "--release", "--target", "wasm32-wasip2"]);
    for comp in COMPONENTS {
        c.args(["-p", comp]);
    }
    run(c)?;
    let mut h = cargo();
    h.args(["build", "--release", "-p", "host"]);
    run(h)
}

/// A program installed with `cargo install` into `<target dir>/tools` (once; the
/// build cache keeps it): returns its path.
pub fn cargo_tool(krate: &str, version: Option<&str>, bin: &str) -> Result<PathBuf, String> {
    let local = testkit::target_dir().join("tools/bin").join(bin);
    if local.exists() {
        return Ok(local);
    }
    eprintln!("installing {krate} with cargo (one-time, can take minutes)");
    let mut c = cargo();
    c.args(["install", krate, "--locked", "--root"])
        .arg(testkit::target_dir().join("tools"));
    if let Some(v) = version {
        c.args(["--version", v]);
    }
    run(c)?;
    Ok(local)
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Install Debian packages when their program is missing.
pub fn ensure_debian(program: &str, package: &str) -> Result<(), String> {
    if have(program) {
        return Ok(());
    }
    eprintln!("{program} is missing: installing Debian package {package}");
    let sudo = if have("sudo") && !is_root() {
        "sudo "
    } else {
        ""
    };
    run({
        let mut c = Command::new("sh");
        c.args([
            "-c",
            &format!("{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq {package}"),
        ]);
        c
    })?;
    if have(program) {
        Ok(())
    } else {
        Err(format!(
            "{program} still missing after installing {package}"
        ))
    }
}

/// Install a PyPI package when `python3` cannot import its module (the
/// webhook tests check our signatures with the official library).
pub fn ensure_python_module(module: &str, package: &str) -> Result<(), String> {
    let have = |m: &str| {
        Command::new("python3")
            .args(["-c", &format!("import {m}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have(module) {
        return Ok(());
    }
    eprintln!("python module {module} is missing: installing {package} from PyPI");
    let mut c = Command::new("python3");
    c.args(["-m", "pip", "install", "--quiet", package]);
    run(c)?;
    if have(module) {
        Ok(())
    } else {
        Err(format!(
            "python3 still cannot import {module} after installing {package}"
        ))
    }
}

/// Whether we run as root (no sudo needed).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
