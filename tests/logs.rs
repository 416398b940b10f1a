//! The host's logs as an operator sees them: component output kept per
//! component in `<state-dir>/logs/` and printed as `spin up` prints it
//! (`--log-dir`, `--follow`, `--quiet`), `RUST_LOG` showing the runtime's
//! own events, and an access log (text or JSON) that never holds a link
//! token, a query string, a credential or a cookie.

use std::path::Path;
use std::time::Duration;

use testkit::{HostConfig, TempDir, eventually, request};

/// What the contract component's panic writes to its stderr.
const PANIC: &str = "deliberate trap for the host's fault test";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Make the contract component write a line to its stderr (a panic, which
/// the host answers with a 500).
fn trap(host: &testkit::Host) {
    assert_eq!(host.get("/fault/trap").status, 500);
}

#[test]
fn component_stderr_lands_in_its_log_file_and_on_the_terminal() {
    let state = TempDir::new("logs-stderr");
    let host = HostConfig::contract(state.path()).start();
    let logs = state.path().join("logs");
    trap(&host);
    let file = logs.join("contract_stderr.txt");
    assert!(
        eventually(Duration::from_secs(5), || read(&file).contains(PANIC)),
        "{}: {:?}",
        file.display(),
        read(&file)
    );
    assert!(
        eventually(Duration::from_secs(5), || host.stderr().contains(PANIC)),
        "followed by default: {}",
        host.stderr()
    );
    // One file per component and stream, as `spin up` names them.
    for f in [
        "contract_stdout.txt",
        "hidden_stdout.txt",
        "hidden_stderr.txt",
    ] {
        assert!(logs.join(f).is_file(), "{f}");
    }
    assert_eq!(read(&logs.join("hidden_stderr.txt")), "");
    assert!(
        host.stderr().contains(&format!(
            "Logging component stdio to \"{}/\"",
            logs.display()
        )),
        "{}",
        host.stderr()
    );
    // A restart appends; --truncate-logs empties the files first.
    drop(host);
    let host = HostConfig::contract(state.path()).start();
    trap(&host);
    assert!(eventually(Duration::from_secs(5), || read(&file)
        .matches(PANIC)
        .count()
        == 2));
    drop(host);
    let host = HostConfig::contract(state.path())
        .arg("--truncate-logs")
        .start();
    assert_eq!(read(&file), "", "truncated at start");
    drop(host);
}

#[test]
fn quiet_and_follow_choose_what_reaches_the_terminal() {
    for flags in [&["-q"][..], &["--follow", "hidden"]] {
        let state = TempDir::new("logs-quiet");
        let mut cfg = HostConfig::contract(state.path());
        for f in flags {
            cfg = cfg.arg(f);
        }
        let host = cfg.start();
        trap(&host);
        let file = state.path().join("logs/contract_stderr.txt");
        assert!(
            eventually(Duration::from_secs(5), || read(&file).contains(PANIC)),
            "{flags:?}: still kept on disk"
        );
        let log = host.terminate();
        assert!(
            log.contains("error in component"),
            "{flags:?}: the host's own log stays: {log}"
        );
        assert!(!log.contains(PANIC), "{flags:?}: not printed: {log}");
    }
}

#[test]
fn an_empty_log_dir_keeps_nothing_on_disk() {
    let state = TempDir::new("logs-none");
    let host = HostConfig::contract(state.path())
        .arg("--log-dir")
        .arg("")
        .start();
    trap(&host);
    assert!(eventually(Duration::from_secs(5), || host
        .stderr()
        .contains(PANIC)));
    let log = host.terminate();
    assert!(!log.contains("Logging component stdio"), "{log}");
    assert!(!state.path().join("logs").exists());
    let written: Vec<_> = walk(state.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rust_log_shows_the_runtime_s_own_events() {
    let state = TempDir::new("logs-rustlog");
    let host = HostConfig::contract(state.path())
        .env("RUST_LOG", "debug")
        .start();
    assert_eq!(host.get("/kv/get?key=none").status, 404);
    let log = host.terminate();
    assert!(
        log.lines().any(|l| l.contains(" DEBUG wasmtime")),
        "a wasmtime event: {}",
        &log[..log.len().min(4000)]
    );
    // By default: the host's events from info, its dependencies' from warn.
    let host = HostConfig::contract(state.path()).start();
    assert_eq!(host.get("/kv/get?key=none").status, 404);
    let log = host.terminate();
    assert!(!log.contains("DEBUG"), "{log}");
    assert!(
        log.contains(" WARN host::app: no [outbound_networking]"),
        "{log}"
    );
}

#[test]
fn the_access_log_never_holds_a_link_token_a_query_or_a_credential() {
    let token = "Zm9vYmFyLWxpbmstdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZg";
    let state = TempDir::new("logs-access");
    let host = HostConfig::app(state.path())
        .arg("--access-log")
        .arg("--host-log-format")
        .arg("json")
        .start();
    let secret_headers = [
        ("Authorization", "Bearer AUTH-SECRET-123"),
        ("Cookie", "__Host-ts_session=COOKIE-SECRET-456"),
    ];
    let paths = [
        format!("/p/{token}?code=QUERY-SECRET"),
        format!("/s/{token}.abc"),
        format!("/s/{token}/files/3/f1"),
        format!("/i/{token}"),
        "/api/v1/tickets/42/thread?key=QUERY-SECRET".to_string(),
        "/.well-known/spin/health".to_string(),
    ];
    for p in &paths {
        request(&host.addr, "GET", p, &secret_headers, b"");
    }
    let lines = || -> Vec<serde_json::Value> {
        host.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("method").is_some())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(5), || lines().len() == paths.len()),
        "one line per request: {}",
        host.stderr()
    );
    let log = host.stderr();
    for secret in [
        token,
        "QUERY-SECRET",
        "AUTH-SECRET",
        "COOKIE-SECRET",
        "code=",
    ] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
    let got: Vec<(String, String, String)> = lines()
        .iter()
        .map(|v| {
            for field in ["time", "status", "bytes", "duration_ms"] {
                assert!(v.get(field).is_some(), "{field}: {v}");
            }
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            (s("path"), s("component"), s("route"))
        })
        .collect();
    let want = [
        ("/p/…", "accept", "/p/..."),
        ("/s/…", "shares", "/s/..."),
        ("/s/…/files/3/…", "shares", "/s/..."),
        ("/i/…", "accept", "/i/:link"),
        ("/api/v1/tickets/42/thread", "tickets", "/api/v1/..."),
        ("/.well-known/spin/health", "-", "-"),
    ];
    for (path, component, route) in want {
        assert!(
            got.contains(&(path.into(), component.into(), route.into())),
            "{path} {component} {route} in {got:?}"
        );
    }
}
