//! The host's runtime contract beyond key-value: variables, environment and
//! files, the outbound allow-list, faults (trap, endless loop, memory cap),
//! start-up errors, and the test-only clock shift.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{HostConfig, TempDir, root};

#[test]
fn variables_env_and_files() {
    let state = TempDir::new("vars");
    let host = HostConfig::contract(state.path())
        .env("SPIN_VARIABLE_ORIGIN", "https://example.test")
        .start();
    let cases = [
        ("greeting", 200, "hello, world"), // default through a template
        ("url", 200, "https://example.test/api"), // environment override
        ("token", 200, "s3cret"),          // required, supplied
        ("undeclared", 404, "Error::Undefined(\"undeclared\")"), // not a component variable
        ("Bad-Name", 404, "Error::InvalidName(\"Bad-Name\")"),
    ];
    for (name, status, body) in cases {
        let r = host.get(&format!("/fault/variable?key={name}"));
        assert_eq!((r.status, r.text().as_str()), (status, body), "{name}");
    }
    assert_eq!(host.get("/fault/env?key=MODE").text(), "contract-test");
    let f = host.get("/fault/file?key=/data/note.txt");
    assert_eq!(f.status, 200);
    assert_eq!(f.text().trim(), "file contents for the contract test");
    assert_eq!(
        host.get("/fault/file?key=/etc/passwd").status,
        404,
        "only mounted files are visible"
    );
}

#[test]
fn missing_required_variable_is_a_clear_start_error() {
    let state = TempDir::new("varmiss");
    let mut cfg = HostConfig::contract(state.path());
    cfg.env.clear();
    let err = cfg.start_error();
    assert!(
        err.contains("secret_token") && err.contains("SPIN_VARIABLE_SECRET_TOKEN"),
        "{err}"
    );
}

#[test]
fn start_errors_name_the_problem() {
    let dir = TempDir::new("starterr");
    let wasm = |name: &str| {
        root()
            .join(format!("target/wasm32-wasip2/release/{name}.wasm"))
            .display()
            .to_string()
    };
    let cases = [
        (
            format!("spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"{}\"\n", wasm("unsupported")),
            "fermyon:spin/llm",
        ),
        (
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"missing.wasm\"\n[component.c.build]\ncommand = \"make it\"\n".to_string(),
            "make it",
        ),
        (
            format!("spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"{}\"\nsqlite_databases = [\"default\"]\n", wasm("hello")),
            "sqlite_databases",
        ),
        (
            format!("spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"{}\"\nkey_value_stores = [\"elsewhere\"]\n", wasm("hello")),
            "elsewhere",
        ),
    ];
    for (i, (manifest, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("spin{i}.toml"));
        std::fs::write(&path, manifest).unwrap();
        let mut cfg = HostConfig::app(dir.path());
        cfg.manifest = path;
        let err = cfg.start_error();
        assert!(err.contains(needle), "case {i}: {err}");
    }
}

#[test]
fn outbound_requests_only_to_allowed_hosts() {
    let state = TempDir::new("outbound");
    let host = HostConfig::contract(state.path()).start();
    let port = host.addr.rsplit(':').next().unwrap();
    // Allowed: http://localhost:* (the host's own health endpoint).
    let ok = host.get(&format!(
        "/fault/outbound?url=http://localhost:{port}/.well-known/spin/health"
    ));
    assert_eq!(
        (ok.status, ok.text().as_str()),
        (200, "upstream status 200")
    );
    // Not listed: the same server by IP, and an https host.
    for url in [
        format!("http://127.0.0.1:{port}/.well-known/spin/health"),
        "https://example.com/".to_string(),
    ] {
        let r = host.get(&format!("/fault/outbound?url={url}"));
        assert_eq!(r.status, 502, "{url}: {}", r.text());
        assert!(r.text().contains("refused"), "{}", r.text());
    }
}

#[test]
fn trap_gives_500_and_the_host_stays_up() {
    let state = TempDir::new("trap");
    let host = HostConfig::contract(state.path()).start();
    let r = host.get("/fault/trap");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "Internal Server Error",
        "details never reach the client"
    );
    assert_eq!(
        host.get("/kv/get?key=none").status,
        404,
        "next request is served"
    );
    assert!(
        eventually(|| host.stderr().contains("deliberate trap")),
        "details go to stderr: {}",
        host.stderr()
    );
}

#[test]
fn endless_loop_is_stopped_at_the_deadline() {
    let state = TempDir::new("loop");
    let host = HostConfig::contract(state.path()).start(); // --request-timeout 2
    let addr = host.addr.clone();
    let t0 = Instant::now();
    let looping =
        std::thread::spawn(move || crate::support::request(&addr, "GET", "/fault/loop", &[], b""));
    // While it loops, other requests are still served: this one finishes
    // before the looping request has been stopped.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(host.get("/fault/now").status, 200);
    assert!(
        !looping.is_finished(),
        "a looping guest must not starve others"
    );
    let r = looping.join().unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, 500);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "stopped after {took:?}"
    );
    assert_eq!(host.get("/fault/now").status, 200);
}

#[test]
fn memory_cap_per_instance() {
    let state = TempDir::new("mem");
    let host = HostConfig::contract(state.path())
        .arg("--max-memory-mb")
        .arg("32")
        .start();
    assert_eq!(host.get("/fault/alloc?mb=8").status, 200);
    assert_eq!(host.get("/fault/alloc?mb=64").status, 500, "over the cap");
    assert_eq!(
        host.get("/fault/alloc?mb=8").status,
        200,
        "host still serves"
    );
}

/// Poll `f` for up to 10 seconds.
fn eventually(f: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn guest_now(host: &crate::support::Host) -> i64 {
    host.get("/fault/now").text().parse().unwrap()
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn clock_shift_only_when_enabled() {
    let state = TempDir::new("clock");
    let host = HostConfig::contract(state.path()).start();
    let _ = host.req(
        "POST",
        "/.well-known/ticketshare/clock",
        br#"{"offset_seconds": 259200}"#,
    );
    assert!(
        (guest_now(&host) - real_now()).abs() < 5,
        "refused unless enabled"
    );

    let state2 = TempDir::new("clock2");
    let host = HostConfig::contract(state2.path())
        .arg("--allow-clock-shift")
        .start();
    let bad = host.req("POST", "/.well-known/ticketshare/clock", b"{\"offset\": 1}");
    assert_eq!(bad.status, 400);
    let r = host.req(
        "POST",
        "/.well-known/ticketshare/clock",
        br#"{"offset_seconds": 259200}"#,
    );
    assert_eq!(r.status, 200);
    assert!(
        (guest_now(&host) - real_now() - 259200).abs() < 5,
        "components see the shifted clock"
    );
}

#[test]
fn access_log_prints_route_patterns_never_paths_or_queries() {
    let state = TempDir::new("accesslog");
    let host = HostConfig::contract(state.path())
        .arg("--access-log")
        .start();
    assert_eq!(
        host.get("/route/tok-SECRET-1?code=QUERY-SECRET").status,
        200
    );
    assert_eq!(host.get("/route/a/tail/tok-SECRET-2").status, 200);
    assert!(eventually(|| host.stderr().contains("/route/:a/tail/...")));
    let log = host.stderr();
    assert!(log.contains("GET /route/:a 200"), "{log}");
    assert!(log.contains("GET /route/:a/tail/... 200"), "{log}");
    assert!(!log.contains("SECRET"), "tokens leaked into the log: {log}");
}

#[test]
fn oversize_bodies_get_a_json_413_before_reaching_a_component() {
    let state = TempDir::new("bodylimit");
    let host = HostConfig::contract(state.path())
        .arg("--max-body-mb")
        .arg("1")
        .start();
    // Declare the size and send nothing more: the host answers from the
    // headers alone, without reading (or waiting for) the body.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&host.addr).unwrap();
    write!(s, "PUT /kv/set?key=big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 1024 * 1024 + 1).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"code\":\"payload_too_large\""), "{raw}");
    assert_eq!(host.get("/kv/get?key=big").status, 404, "nothing written");
}
