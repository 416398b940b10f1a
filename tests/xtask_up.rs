//! `cargo xtask up` with `CARGO_TARGET_DIR` set: the host and the components
//! are run from the target dir cargo was given, not the checkout's
//! `target/`.
//!
//! The given dir is a symbolic link to the real target dir, so cargo finds
//! everything built and the check takes seconds; the link's own path is what
//! xtask must use (the host binary, and a copy of `spin.toml` whose sources
//! name the link).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::{TempDir, root};

/// `cargo xtask up`'s process group, ended on drop.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn xtask_up_runs_the_app_from_cargo_target_dir() {
    testkit::host::ensure_built();
    let tmp = TempDir::new("targetdir");
    let elsewhere = tmp.path().join("elsewhere");
    std::os::unix::fs::symlink(testkit::target_dir(), &elsewhere).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(root())
        .args(["xtask", "up", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(tmp.path().join("state"))
        .arg("--wasm-cache-dir")
        .arg(testkit::host::cache_dir())
        .env("CARGO_TARGET_DIR", &elsewhere)
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, _) in std::env::vars() {
        if testkit::host::is_package_var(&k) {
            c.env_remove(k);
        }
    }
    let mut up = Group(c.spawn().expect("run cargo xtask up"));
    let stderr = up.0.stderr.take().unwrap();
    let err_lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut addr = None;
    let mut lines = BufReader::new(up.0.stdout.take().unwrap()).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(a) = line.strip_prefix("Serving http://") {
            addr = Some(a.trim().to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let Some(addr) = addr else {
        drop(up);
        panic!(
            "xtask up did not serve:\n{}",
            err_lines.join().unwrap().join("\n")
        );
    };
    testkit::host::wait_for(&addr, "/api/v1/openapi.json", Duration::from_secs(120)).unwrap();
    let openapi = testkit::request(&addr, "GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(openapi.status, 200);
    assert_eq!(testkit::request(&addr, "GET", "/", &[], b"").status, 200);
    drop(up);
    // The host it ran, and the manifest it ran it on, are in `elsewhere`.
    let echoed = err_lines.join().unwrap().join("\n");
    let host = format!(
        "\"{}\"",
        elsewhere.join("release/ticketshare-host").display()
    );
    let manifest = elsewhere.join("manifests/spin.toml");
    assert!(echoed.contains(&host), "{echoed}");
    assert!(
        echoed.contains(&format!("\"--from\" \"{}\"", manifest.display())),
        "{echoed}"
    );
    let copy = std::fs::read_to_string(&manifest).unwrap();
    let pages = elsewhere.join("wasm32-wasip2/release/pages.wasm");
    assert!(
        copy.contains(&format!("source = \"{}\"", pages.display())),
        "{copy}"
    );
}
