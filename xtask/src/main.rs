//! `cargo xtask <task>`: build, run, test and bench Ticketshare.
//!
//! - `build`: every component (release, wasm32-wasip2) and the host (release).
//! - `up`:    build, then serve `spin.toml` on http://127.0.0.1:3000 with the
//!            SQLite store under `.spin/`. Extra arguments go to the host.
//! - `test`:  install what the tests need when missing (redis-server,
//!            chromium, chromium-driver from Debian), build,
//!            run every test.
//! - `bench`: the brief's performance targets measured in one run: every
//!            row at 1/16/64 connections as a ratio to the hello floor, our
//!            host against `wasmtime serve`, and the scale runs, with wrk
//!            (see `bench.rs`).
//! - `fuzz`:  every cargo-fuzz target for a fixed number of executions; a
//!            crashing input is kept as a regression (see `fuzz.rs`).
//! - `conformance`: Schemathesis against the OpenAPI document on a running
//!            host (see `bench.rs`).
//! - `cycles`: each crate's module cycles (none allowed; `--graph` also
//!            lists every module's dependencies; see `cycles.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod cycles;
mod fuzz;
mod seed;

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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// A `cargo` command in the workspace root, without the per-package
/// variables `cargo run` gave us: build scripts (ring's) track
/// `CARGO_MANIFEST_DIR`, and inheriting it would rebuild them every time.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    for (k, _) in std::env::vars() {
        if is_package_var(&k) {
            c.env_remove(k);
        }
    }
    c
}

fn is_package_var(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || matches!(
            k,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
        )
}

fn run(mut cmd: Command) -> Result<(), String> {
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
fn ensure_wasm_target() -> Result<(), String> {
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

/// A program installed with `cargo install` into `target/tools` (once; the
/// build cache keeps it): returns its path.
pub fn cargo_tool(krate: &str, version: Option<&str>, bin: &str) -> Result<PathBuf, String> {
    let local = root().join("target/tools/bin").join(bin);
    if local.exists() {
        return Ok(local);
    }
    eprintln!("installing {krate} with cargo (one-time, can take minutes)");
    let mut c = cargo();
    c.args(["install", krate, "--locked", "--root"])
        .arg(root().join("target/tools"));
    if let Some(v) = version {
        c.args(["--version", v]);
    }
    run(c)?;
    Ok(local)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Install Debian packages when their program is missing.
fn ensure_debian(program: &str, package: &str) -> Result<(), String> {
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
fn ensure_python_module(module: &str, package: &str) -> Result<(), String> {
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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Every 30 s, what cron would do in a deployment: retry the demo
/// workspace's webhook deliveries that are due.
fn flush_webhooks_periodically(addr: String) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(30));
            let key = std::fs::read_to_string(root().join(".spin/demo.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["api_key"].as_str().map(str::to_string));
            if let Some(key) = key {
                let _ = seed::http(
                    &addr,
                    "POST",
                    "/api/v1/webhooks/flush",
                    &[("Authorization", &format!("Bearer {key}"))],
                    None,
                );
            }
        }
    });
}

fn up(extra: &[String]) -> Result<(), String> {
    build()?;
    // `--allow-private-webhooks` (ours, not the host's): deliveries to
    // receivers on this machine or its network, for trying
    // samples/webhook-receiver.py. Without it the app runs as deployed, with
    // runtime-config/default.toml blocking private networks for every
    // outbound connection.
    let private = extra.iter().any(|a| a == "--allow-private-webhooks");
    // `cargo xtask up -- --flag` passes the `--` through: not a host flag.
    let extra: Vec<&String> = extra
        .iter()
        .filter(|a| *a != "--allow-private-webhooks" && *a != "--")
        .collect();
    let own_config = extra.iter().any(|a| a.starts_with("--runtime-config-file"));
    let mut c = Command::new(root().join("target/release/ticketshare-host"));
    c.current_dir(root())
        .args(["up", "--from", "spin.toml", "--listen", "127.0.0.1:3000"]);
    if !private && !own_config {
        c.args(["--runtime-config-file", "runtime-config/default.toml"]);
    }
    c.args(extra);
    if private {
        eprintln!(
            "Private networks are reachable by webhooks (--allow-private-webhooks): development only"
        );
        c.env("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS", "true");
    }
    if std::env::var_os("SPIN_VARIABLE_ADMIN_TOKEN").is_none() {
        // A local deployment token, kept in the state dir so it survives restarts.
        let path = root().join(".spin/admin-token");
        let token = match std::fs::read_to_string(&path) {
            Ok(t) if t.trim().len() >= 32 => t.trim().to_string(),
            _ => {
                let mut bytes = [0u8; 24];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
                    .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
                let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                std::fs::create_dir_all(root().join(".spin")).map_err(|e| e.to_string())?;
                std::fs::write(&path, &t).map_err(|e| e.to_string())?;
                t
            }
        };
        eprintln!(
            "Deployment admin token (create workspaces with it): {token}  [stored in .spin/admin-token]"
        );
        c.env("SPIN_VARIABLE_ADMIN_TOKEN", &token);
    }
    let admin_token = std::env::var("SPIN_VARIABLE_ADMIN_TOKEN")
        .ok()
        .or_else(|| {
            std::fs::read_to_string(root().join(".spin/admin-token"))
                .ok()
                .map(|t| t.trim().to_string())
        })
        .unwrap_or_default();
    let origin = std::env::var("SPIN_VARIABLE_PUBLIC_ORIGIN")
        .unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    // Serve, wait for the listener, seed/print, then stay in the foreground.
    c.stdout(std::process::Stdio::piped());
    eprintln!("$ {c:?}");
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start the host: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        println!("{line}");
        if let Some(a) = line.strip_prefix("Serving http://") {
            addr = Some(a.trim().to_string());
        }
        if line.starts_with("Ready in") {
            break;
        }
    }
    let printer =
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| println!("{l}")));
    match addr {
        Some(addr) => {
            if let Err(e) =
                seed::seed_and_print(&addr, &admin_token, &root().join(".spin"), &origin)
            {
                eprintln!("seeding the demo workspace failed: {e}");
            }
            flush_webhooks_periodically(addr);
        }
        None => eprintln!("the host did not start"),
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = printer.join();
    if status.success() {
        Ok(())
    } else {
        Err(format!("the host exited with {status}"))
    }
}

fn test(extra: &[String]) -> Result<(), String> {
    ensure_debian("redis-server", "redis-server")?;
    ensure_debian("chromium", "chromium")?;
    ensure_debian("chromedriver", "chromium-driver")?;
    ensure_python_module("standardwebhooks", "standardwebhooks")?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    build()?;
    let mut c = cargo();
    c.args([
        "test",
        "--release",
        "-p",
        "host",
        "-p",
        "assets",
        "-p",
        "domain",
        "-p",
        "api",
        "-p",
        "spinfile",
        "-p",
        "fuzzing",
        "-p",
        "tests",
        "-p",
        "xtask",
    ])
    .args(extra);
    c.env("TICKETSHARE_PREBUILT", "1");
    run(c)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "build" => build(),
        "up" => up(rest),
        "test" => test(rest),
        "bench" => bench::bench(rest),
        "fuzz" => fuzz::fuzz(rest),
        "conformance" => bench::conformance(rest),
        "cycles" => cycles::cycles(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <build | up [--allow-private-webhooks] [host args] | test [cargo test args] | bench [--duration SECS] [--redis] [--scale N] | fuzz [--runs N] [TARGET...] | conformance [--examples N] | cycles [--graph]>"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
