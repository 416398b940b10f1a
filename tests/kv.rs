//! The key-value contract through the host, run against every backend (SQLite
//! and a real redis-server): basic operations, persistence across a restart,
//! access-denied, exact parallel increments, exactly-one CAS create, size limits.

use testkit::{Host, HostConfig, Redis, TempDir};

/// Which backend a contract run uses.
enum Backend {
    Sqlite,
    Redis(Redis),
}

fn config(state: &TempDir, backend: &Backend) -> HostConfig {
    let cfg = HostConfig::contract(state.path());
    match backend {
        Backend::Sqlite => cfg,
        Backend::Redis(r) => {
            let rc = r.runtime_config(state.path());
            cfg.arg("--runtime-config-file").arg(rc.to_str().unwrap())
        }
    }
}

fn basic_operations(host: &Host) {
    assert_eq!(host.get("/kv/get?key=k1").status, 404);
    assert_eq!(host.req("PUT", "/kv/set?key=k1", b"v1").status, 200);
    assert_eq!(host.get("/kv/get?key=k1").text(), "v1");
    assert_eq!(host.get("/kv/exists?key=k1").text(), "true");
    assert_eq!(host.req("PUT", "/kv/set?key=k2", b"v2").status, 200);
    assert_eq!(host.get("/kv/keys").text(), "k1\nk2");
    // The same label through wasi:keyvalue is the same data.
    assert_eq!(host.get("/wasi-kv/get?key=k2").text(), "v2");
    assert_eq!(host.req("DELETE", "/kv/delete?key=k2", b"").status, 200);
    assert_eq!(host.get("/kv/exists?key=k2").text(), "false");
    assert_eq!(
        host.req("DELETE", "/kv/delete?key=never-there", b"").status,
        200
    );
}

fn access_denied(host: &Host) {
    let r = host.get("/kv/get?key=x&store=undeclared");
    assert_eq!((r.status, r.text().as_str()), (500, "access-denied"));
    let r = host.get("/wasi-kv/get?key=x&store=undeclared");
    assert_eq!((r.status, r.text().as_str()), (500, "access-denied"));
    // A component with no key_value_stores cannot open even `default`.
    let r = host.get("/hidden/kv/get?key=x");
    assert_eq!((r.status, r.text().as_str()), (500, "access-denied"));
}

fn parallel_increments(host: &Host) {
    let addr = host.addr.clone();
    std::thread::scope(|s| {
        for _ in 0..200 {
            let addr = addr.clone();
            s.spawn(move || {
                let r = testkit::request(
                    &addr,
                    "POST",
                    "/wasi-kv/increment?key=counter&delta=1",
                    &[],
                    b"",
                );
                assert_eq!(r.status, 200, "{}", r.text());
            });
        }
    });
    assert_eq!(
        host.req("POST", "/wasi-kv/increment?key=counter&delta=0", b"")
            .text(),
        "200"
    );
}

fn parallel_cas_creates(host: &Host) {
    let addr = host.addr.clone();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let addr = addr.clone();
                s.spawn(move || {
                    testkit::request(
                        &addr,
                        "POST",
                        "/wasi-kv/create?key=once",
                        &[],
                        format!("w{i}").as_bytes(),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    let winner = host.get("/kv/get?key=once").text();
    assert!(winner.starts_with('w'), "{winner}");
}

fn cas_retry_loop(host: &Host) {
    let addr = host.addr.clone();
    std::thread::scope(|s| {
        for _ in 0..20 {
            let addr = addr.clone();
            s.spawn(move || {
                let r = testkit::request(&addr, "POST", "/wasi-kv/append?key=log", &[], b"x");
                assert_eq!(r.status, 200, "{}", r.text());
            });
        }
    });
    assert_eq!(
        host.get("/kv/get?key=log").text(),
        "x".repeat(20),
        "no append may be lost"
    );
}

fn size_limits(host: &Host) {
    let long_key = "k".repeat(256);
    let r = host.req("PUT", &format!("/kv/set?key={long_key}"), b"v");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("255"), "{}", r.text());
    let ok_key = "k".repeat(255);
    assert_eq!(
        host.req("PUT", &format!("/kv/set?key={ok_key}"), b"v")
            .status,
        200
    );
    let big = vec![b'a'; 1024 * 1024 + 1];
    let r = host.req("PUT", "/kv/set?key=big", &big);
    assert_eq!(r.status, 500);
    assert!(r.text().contains("limit"), "{}", r.text());
    assert_eq!(
        host.req("PUT", "/kv/set?key=big", &big[..1024 * 1024])
            .status,
        200
    );
    assert_eq!(host.get("/kv/get?key=big").body.len(), 1024 * 1024);
}

fn contract(backend: Backend) {
    let state = TempDir::new("kv");
    let cfg = config(&state, &backend);
    let host = cfg.start();
    basic_operations(&host);
    access_denied(&host);
    parallel_increments(&host);
    parallel_cas_creates(&host);
    cas_retry_loop(&host);
    size_limits(&host);
    // Persistence across a restart (a hard kill, not a clean shutdown).
    host.kill();
    let host = cfg.start();
    assert_eq!(host.get("/kv/get?key=k1").text(), "v1");
    assert_eq!(
        host.req("POST", "/wasi-kv/increment?key=counter&delta=1", b"")
            .text(),
        "201"
    );
}

#[test]
fn contract_on_sqlite() {
    contract(Backend::Sqlite);
}

#[test]
fn contract_on_redis() {
    contract(Backend::Redis(Redis::start()));
}

#[test]
fn sqlite_file_uses_spins_table() {
    let state = TempDir::new("kvfile");
    let host = HostConfig::contract(state.path()).start();
    assert_eq!(host.req("PUT", "/kv/set?key=shape", b"v").status, 200);
    drop(host);
    let db = state.path().join("sqlite_key_value.db");
    assert!(
        db.exists(),
        "default store lives at <state-dir>/sqlite_key_value.db"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('pragma journal_mode').fetchone()[0]); print(c.execute(\"select store, key, value from spin_key_value where key='shape'\").fetchone())"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wal"), "{text}");
    assert!(text.contains("('default', 'shape', b'v')"), "{text}");
}

#[test]
fn a_second_host_on_the_same_sqlite_file_is_refused() {
    let state = TempDir::new("kvlock");
    let host = HostConfig::contract(state.path()).start();
    assert_eq!(host.req("PUT", "/kv/set?key=k", b"v").status, 200);
    let err = HostConfig::contract(state.path()).start_error();
    assert!(
        err.contains("is another host using this state directory?"),
        "{err}"
    );
    // The first one is unaffected, and once it is gone the file opens.
    assert_eq!(host.get("/kv/get?key=k").status, 200);
    drop(host);
    let again = HostConfig::contract(state.path()).start();
    assert_eq!(again.get("/kv/get?key=k").text(), "v");
}

/// The benchmark-only testing flags: `--simulate-store-latency-ms` makes
/// each of a component's store calls wait, and (like
/// `--report-store-calls`) each response says how many calls it made; a host
/// without them sends no such header.
#[test]
fn simulated_store_latency_delays_each_reported_call() {
    const HEADER: &str = "x-ticketshare-store-calls";
    let state = TempDir::new("kvlatency");
    let plain = HostConfig::contract(state.path()).start();
    assert_eq!(plain.req("PUT", "/kv/set?key=k", b"v").status, 200);
    let r = plain.get("/kv/get?key=k");
    assert_eq!(r.text(), "v");
    assert_eq!(r.header(HEADER), None, "production responses are unchanged");
    drop(plain);

    let counted = HostConfig::contract(state.path())
        .arg("--report-store-calls")
        .start();
    let r = counted.get("/kv/get?key=k");
    assert_eq!((r.text().as_str(), r.header(HEADER)), ("v", Some("1")));
    drop(counted);

    let slow = HostConfig::contract(state.path())
        .arg("--simulate-store-latency-ms")
        .arg("20")
        .start();
    for (method, path, at_least) in [
        ("GET", "/kv/get?key=k", 1),
        // A compare-and-swap handle reads, then the swap writes.
        ("POST", "/wasi-kv/create?key=fresh", 2),
        ("POST", "/wasi-kv/increment?key=n&delta=1", 1),
    ] {
        let t = std::time::Instant::now();
        let r = slow.req(method, path, b"");
        let took = t.elapsed();
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text());
        let calls: u32 = r
            .header(HEADER)
            .unwrap_or_else(|| panic!("{path}: no {HEADER}"))
            .parse()
            .unwrap();
        assert!(calls >= at_least, "{path}: {calls} calls");
        assert!(
            took >= std::time::Duration::from_millis(20) * calls,
            "{path}: {calls} calls in {took:?}"
        );
    }
}
