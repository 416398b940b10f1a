//! The host's runtime contract beyond key-value: variables, environment and
//! files, the outbound allow-list, faults (trap, endless loop, memory cap),
//! start-up errors, the test-only clock shift and the test-only simulated
//! store faults (`--simulate-store-faults`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::{ADMIN_TOKEN, HostConfig, TempDir, request};

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

/// `--variable` feeds the same application variables as `SPIN_VARIABLE_*`,
/// wins over them (as in Spin), and reads `@file.toml` and `key=@file`.
#[test]
fn variable_flags_reach_components_and_win_over_the_environment() {
    let state = TempDir::new("varflag");
    let vars = state.path().join("vars.toml");
    std::fs::write(&vars, "greeting = \"hi\"\n").unwrap();
    let secret = state.path().join("secret.txt");
    std::fs::write(&secret, "from-a-file").unwrap();
    let mut cfg = HostConfig::contract(state.path())
        .env("SPIN_VARIABLE_ORIGIN", "https://env.test")
        .arg("--variable")
        .arg("origin=https://flag.test")
        .arg("--variable")
        .arg(&format!("@{}", vars.display()))
        .arg("--variable")
        .arg(&format!("secret_token=@{}", secret.display()));
    // The required variable comes from the flag only.
    cfg.env.retain(|(k, _)| k != "SPIN_VARIABLE_SECRET_TOKEN");
    let host = cfg.start();
    for (name, body) in [
        ("greeting", "hi, world"),
        ("url", "https://flag.test/api"),
        ("token", "from-a-file"),
    ] {
        let r = host.get(&format!("/fault/variable?key={name}"));
        assert_eq!((r.status, r.text().as_str()), (200, body), "{name}");
    }
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
    let wasm = |name: &str| testkit::wasm(name).display().to_string();
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
        std::thread::spawn(move || testkit::request(&addr, "GET", "/fault/loop", &[], b""));
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
        .arg("--max-instance-memory")
        .arg(&(32 << 20).to_string())
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

fn guest_now(host: &testkit::Host) -> i64 {
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
fn access_log_redacts_paths_and_never_prints_queries() {
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
    // `<time> <method> <path> <status> <bytes> <ms>ms <component> <route>`,
    // the token-like segments redacted.
    assert!(log.contains(" GET /route/… 200 "), "{log}");
    assert!(log.contains(" contract /route/:a\n"), "{log}");
    assert!(log.contains(" GET /route/a/tail/… 200 "), "{log}");
    assert!(log.contains(" contract /route/:a/tail/...\n"), "{log}");
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

#[test]
fn simulated_store_faults_refuse_bad_values_at_start() {
    let state = TempDir::new("faultflags");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--simulate-store-faults", "1.5"],
            "not a fraction from 0 to 1",
        ),
        (
            &["--simulate-store-faults", "-0.1"],
            "not a fraction from 0 to 1",
        ),
        (
            &["--simulate-store-faults", "NaN"],
            "not a fraction from 0 to 1",
        ),
        (
            &["--simulate-store-faults", "ten%"],
            "not a fraction from 0 to 1",
        ),
        (
            &[
                "--simulate-store-faults",
                "0.1",
                "--simulate-store-faults-seed",
                "-1",
            ],
            "not a whole number",
        ),
        (
            &["--simulate-store-faults-seed", "5"],
            "required arguments were not provided:\n  --simulate-store-faults <RATE>",
        ),
    ];
    for (args, needle) in cases {
        let mut cfg = HostConfig::contract(state.path());
        cfg.args.extend(args.iter().map(|a| a.to_string()));
        let err = cfg.start_error();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Every guest store call fails at rate 1: reads before reaching the store,
/// writes either before (nothing written) or after (written, reply lost).
#[test]
fn simulated_store_faults_fail_before_or_after_writing_and_the_host_keeps_serving() {
    let state = TempDir::new("storefaults");
    let host = HostConfig::contract(state.path())
        .arg("--simulate-store-faults")
        .arg("1.0")
        .env("RUST_LOG", "info,host::faults=debug")
        .start();
    for i in 0..40 {
        let r = host.req("PUT", &format!("/kv/set?key=set-{i}"), b"v");
        // The guest sees a store error (`Error::Other`), not a trap.
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(
            r.text().starts_with("other: store ") && r.text().contains("simulated"),
            "{}",
            r.text()
        );
    }
    for path in [
        "/kv/get?key=set-0",
        "/kv/exists?key=set-0",
        "/kv/keys",
        "/wasi-kv/get?key=set-0",
    ] {
        let r = host.get(path);
        assert_eq!(r.status, 500, "{path}");
        assert!(
            r.text().starts_with("other: store unavailable"),
            "reads fail before: {path}: {}",
            r.text()
        );
    }
    let r = host.req("POST", "/wasi-kv/increment?key=counter", b"");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(host.get("/.well-known/spin/health").status, 200);
    assert_eq!(host.get("/fault/now").status, 200, "still serving");

    let log = host.terminate();
    let lost = log
        .matches("simulated store fault: set on `default`: ReplyLost")
        .count();
    let before = log
        .matches("simulated store fault: set on `default`: Before")
        .count();
    assert_eq!(lost + before, 40, "{log}");
    assert!(lost > 0 && before > 0, "both kinds: {log}");
    assert!(
        log.contains("simulated store faults: 45 of 45 guest store calls failed"),
        "summary on shutdown: {log}"
    );
    assert!(!log.contains("error in component"), "no trap: {log}");

    // The same store without faults: exactly the sets whose reply was lost
    // were written.
    let host = HostConfig::contract(state.path()).start();
    let keys = host.get("/kv/keys").text();
    let written: Vec<&str> = keys.lines().filter(|k| k.starts_with("set-")).collect();
    assert_eq!(written.len(), lost, "{keys}");
}

/// A compare-and-swap may also fail the way Spin 4.0.2's Redis store does:
/// written, then reported as `CasFailed`.
#[test]
fn simulated_swap_faults_include_cas_failed_after_writing() {
    let state = TempDir::new("swapfaults");
    let host = HostConfig::contract(state.path())
        .arg("--simulate-store-faults")
        .arg("0.5")
        .arg("--simulate-store-faults-seed")
        .arg("3")
        .start();
    // Every key is fresh, so without faults each create would be a 201.
    let outcomes: Vec<(u16, String)> = (0..60)
        .map(|i| {
            let r = host.req(
                "POST",
                &format!("/wasi-kv/create?key=c{i}"),
                format!("w{i}").as_bytes(),
            );
            (r.status, r.text())
        })
        .collect();
    assert_eq!(host.get("/.well-known/spin/health").status, 200);
    host.kill();
    let host = HostConfig::contract(state.path()).start();
    let (mut created, mut cas_failed, mut lost, mut before) = (0, 0, 0, 0);
    for (i, (status, text)) in outcomes.iter().enumerate() {
        let stored = host.get(&format!("/kv/get?key=c{i}"));
        let written = stored.status == 200;
        if written {
            assert_eq!(stored.text(), format!("w{i}"));
        }
        match (status, written) {
            (201, true) => created += 1,
            // Only the injected fault reports CasFailed for a fresh key, and
            // it wrote first.
            (409, true) => {
                assert_eq!(text, "lost the race");
                cas_failed += 1
            }
            (500, true) => lost += 1,
            (500, false) => before += 1,
            other => panic!("c{i}: {other:?} ({text})"),
        }
    }
    assert!(
        created > 0 && cas_failed > 0 && lost > 0 && before > 0,
        "created {created}, CasFailed after writing {cas_failed}, reply lost {lost}, failed before {before}"
    );
}

#[test]
fn simulated_store_faults_at_rate_zero_change_nothing() {
    let state = TempDir::new("nofaults");
    let host = HostConfig::contract(state.path())
        .arg("--simulate-store-faults")
        .arg("0")
        .env("RUST_LOG", "info,host::faults=debug")
        .start();
    assert_eq!(host.req("PUT", "/kv/set?key=a", b"1").status, 200);
    assert_eq!(host.get("/kv/get?key=a").text(), "1");
    assert_eq!(host.get("/wasi-kv/get?key=a").text(), "1");
    assert_eq!(host.get("/kv/exists?key=a").text(), "true");
    assert_eq!(host.req("POST", "/wasi-kv/create?key=b", b"x").status, 201);
    assert_eq!(host.req("POST", "/wasi-kv/create?key=b", b"y").status, 409);
    assert_eq!(host.req("POST", "/wasi-kv/append?key=b", b"z").text(), "0");
    assert_eq!(
        host.req("POST", "/wasi-kv/increment?key=n&delta=5", b"")
            .text(),
        "5"
    );
    assert_eq!(host.req("DELETE", "/kv/delete?key=a", b"").status, 200);
    assert_eq!(host.get("/kv/keys").text(), "b\nn");
    let log = host.terminate();
    assert!(!log.contains("simulated"), "{log}");
}

/// The real app answers a store failure with its own 5xx JSON error.
#[test]
fn simulated_store_faults_reach_the_app_as_json_errors() {
    let state = TempDir::new("appfaults");
    let host = HostConfig::app(state.path())
        .arg("--simulate-store-faults")
        .arg("1")
        .start();
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for id in ["acme", "globex"] {
        let r = request(
            &host.addr,
            "POST",
            "/api/v1/workspaces",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"id": "{id}", "name": "{id}"}}"#).as_bytes(),
        );
        assert!(r.status >= 500, "{}: {}", r.status, r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    assert_eq!(host.get("/.well-known/spin/health").status, 200);
    let log = host.stderr();
    assert!(!log.contains("error in component"), "no trap: {log}");
}
