//! `cargo xtask bench-host`: measure the host against its nearest peer in one run.
//!
//! - the hello component (plain wasi:http) under our host and under
//!   `wasmtime serve -S cli -O pooling-allocator` (wasmtime-cli 48.0.8, installed
//!   with cargo when missing), 16 connections, wrk;
//! - one key-value get through our host (contract component), 16 connections;
//! - the `pages` index, 16 connections;
//! - the app's own requests on a seeded workspace: a collaborator's share
//!   page (valid link, verified session), a ticket's thread (API), the
//!   Pending view, and posting a reply; each as a ratio to hello;
//! - cold start to first response with an empty and with a warm compile cache;
//! - the size of each component.
//!
//! Nothing here asserts a time: it measures and writes `bench/results/<date>-host.md`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::seed::raw;
use crate::{COMPONENTS, build, ensure_debian, root};

const WASMTIME_VERSION: &str = "48.0.8";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1)?.parse().ok()
}

fn put(addr: &str, path: &str, body: &str) {
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

/// Start our host and wait for its "Serving" line; returns the process, the
/// address and the time to the first successful response of `probe`.
fn start_host(
    manifest: &Path,
    cache: &Path,
    state: &Path,
    probe: &str,
) -> Result<(Proc, String, Duration), String> {
    let t0 = Instant::now();
    let mut child = Command::new(root().join("target/release/ticketshare-host"))
        .args(["up", "--from"])
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0", "--cache-dir"])
        .arg(cache)
        .arg("--state-dir")
        .arg(state)
        .env("SPIN_VARIABLE_SECRET_TOKEN", "bench-only")
        .env("SPIN_VARIABLE_ADMIN_TOKEN", "bench-only-admin-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start host: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let mut addr = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(a) = line.strip_prefix("Serving http://") {
            addr = Some(a.trim().to_string());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let addr = addr.ok_or("host exited before serving")?;
    while get(&addr, probe) != Some(200) {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err("host never answered".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((proc, addr, t0.elapsed()))
}

/// wrk's figures for one run.
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn parse_latency(s: &str) -> f64 {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mul
}

fn wrk(url: &str, conns: u32, secs: u32) -> Result<Load, String> {
    wrk_with(url, conns, secs, &[], None)
}

/// wrk with extra headers, and optionally a Lua script (for POSTs).
fn wrk_with(
    url: &str,
    conns: u32,
    secs: u32,
    headers: &[String],
    script: Option<&Path>,
) -> Result<Load, String> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(sc) = script {
        cmd.arg("-s").arg(sc);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut load = Load {
        rps: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
    };
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            load.rps = v.trim().parse().unwrap_or(f64::NAN);
        } else if let Some(v) = l.strip_prefix("50%") {
            load.p50_ms = parse_latency(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            load.p99_ms = parse_latency(v);
        }
        if l.contains("Non-2xx") {
            return Err(format!("wrk saw error responses for {url}:\n{text}"));
        }
    }
    if load.rps.is_nan() {
        return Err(format!("could not read wrk output:\n{text}"));
    }
    Ok(load)
}

fn ensure_wasmtime() -> Result<PathBuf, String> {
    let local = root().join("target/tools/bin/wasmtime");
    if local.exists() {
        return Ok(local);
    }
    eprintln!("installing wasmtime-cli {WASMTIME_VERSION} with cargo (one-time, several minutes)");
    let status = crate::cargo()
        .args([
            "install",
            "wasmtime-cli",
            "--version",
            WASMTIME_VERSION,
            "--locked",
            "--root",
        ])
        .arg(root().join("target/tools"))
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo install wasmtime-cli failed".into());
    }
    Ok(local)
}

/// Run the host benchmark.
pub fn bench_host(args: &[String]) -> Result<(), String> {
    let secs: u32 = match args {
        [flag, v] if flag == "--duration" => v.parse().map_err(|_| "--duration takes seconds")?,
        [] => 10,
        _ => return Err("usage: cargo xtask bench-host [--duration SECS]".into()),
    };
    ensure_debian("wrk", "wrk")?;
    build()?;
    let wasmtime = ensure_wasmtime()?;
    let tmp = root().join("target/bench-host");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let apps = root().join("tests/apps");
    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    let machine = Command::new("sh")
        .args(["-c", "echo \"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB\""])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    line(format!("# Host benchmark ({})\n", chrono_like_date()));
    line(format!(
        "Machine: {machine}. Load: wrk -t2, {secs} s per row, loopback. Host and load generator share the cores.\n"
    ));

    // Cold start: empty cache, then warm cache.
    let cache = tmp.join("cache");
    let (p, _, cold) = start_host(
        &root().join("spin.toml"),
        &cache,
        &tmp.join("state-cold"),
        "/",
    )?;
    drop(p);
    let (p, _, warm) = start_host(
        &root().join("spin.toml"),
        &cache,
        &tmp.join("state-warm"),
        "/",
    )?;
    drop(p);

    // Hello: our host vs wasmtime serve.
    let (hello_host, hello_addr, _) = start_host(
        &apps.join("hello/spin.toml"),
        &cache,
        &tmp.join("state-hello"),
        "/",
    )?;
    let ours = wrk(&format!("http://{hello_addr}/"), 16, secs)?;
    drop(hello_host);
    let port = free_port();
    let hello_wasm = root().join("target/wasm32-wasip2/release/hello.wasm");
    let ws = Proc(
        Command::new(&wasmtime)
            .args([
                "serve",
                "-S",
                "cli",
                "-O",
                "pooling-allocator",
                "--addr",
                &format!("127.0.0.1:{port}"),
            ])
            .arg(&hello_wasm)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start wasmtime serve: {e}"))?,
    );
    let waddr = format!("127.0.0.1:{port}");
    let t0 = Instant::now();
    while get(&waddr, "/") != Some(200) {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err("wasmtime serve never answered".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let theirs = wrk(&format!("http://{waddr}/"), 16, secs)?;
    drop(ws);

    // Key-value get and the pages index through our host.
    let (c, caddr, _) = start_host(
        &apps.join("contract/spin.toml"),
        &cache,
        &tmp.join("state-kv"),
        "/health-probe",
    )?;
    put(&caddr, "/kv/set?key=bench", "value");
    let kv = wrk(&format!("http://{caddr}/kv/get?key=bench"), 16, secs)?;
    drop(c);
    let (pg, paddr, _) = start_host(
        &root().join("spin.toml"),
        &cache,
        &tmp.join("state-pages"),
        "/",
    )?;
    let pages = wrk(&format!("http://{paddr}/"), 16, secs)?;
    let app = app_rows(&paddr, secs, &tmp)?;
    drop(pg);

    line("| request (16 connections) | requests/s | p50 ms | p99 ms |".into());
    line("|---|---:|---:|---:|".into());
    for (name, l) in [
        ("hello, ticketshare-host", &ours),
        ("hello, wasmtime serve -S cli -O pooling-allocator", &theirs),
        ("key-value get, ticketshare-host", &kv),
        ("pages index, ticketshare-host", &pages),
    ] {
        line(format!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            l.rps, l.p50_ms, l.p99_ms
        ));
    }
    for (name, l) in &app {
        line(format!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            l.rps, l.p50_ms, l.p99_ms
        ));
    }
    line("\n| request | ratio to hello (requests/s) | target |".into());
    line("|---|---:|---|".into());
    for (name, l) in &app {
        let target = match *name {
            "share page (verified session), ticketshare-host" => ">= 0.5x, p99 <= 5 ms",
            "reply post, ticketshare-host" => ">= 0.25x, p99 <= 5 ms",
            _ => "",
        };
        line(format!("| {name} | {:.2}x | {target} |", l.rps / ours.rps));
    }
    line(format!(
        "\nOur host / wasmtime serve (hello, requests/s): {:.2}x (target >= 0.9x)",
        ours.rps / theirs.rps
    ));
    line(format!(
        "Key-value get p99 at 16 connections: {:.2} ms (target <= 5 ms)",
        kv.p99_ms
    ));
    line(format!(
        "Cold start to first response (spin.toml): empty compile cache {} ms, warm cache {} ms",
        cold.as_millis(),
        warm.as_millis()
    ));
    line("\n| component | wasm size (KiB) |".into());
    line("|---|---:|".into());
    for comp in COMPONENTS {
        let p = root().join(format!("target/wasm32-wasip2/release/{comp}.wasm"));
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        line(format!("| {comp} | {:.0} |", size as f64 / 1024.0));
    }
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("{}-host.md", chrono_like_date()));
    std::fs::write(&file, report).map_err(|e| e.to_string())?;
    println!("\nwritten to {}", file.display());
    Ok(())
}

/// Seed a workspace (customer, staff, a ticket with 10 messages, a share
/// verified by its code) and measure the app's own requests.
fn app_rows(addr: &str, secs: u32, tmp: &Path) -> Result<Vec<(&'static str, Load)>, String> {
    use serde_json::{Value, json};
    let js = |(st, _, b): (u16, String, String)| -> Result<Value, String> {
        if st >= 400 {
            return Err(format!("seeding the benchmark failed: {st} {b}"));
        }
        Ok(serde_json::from_str(&b).unwrap_or(Value::Null))
    };
    let admin = "Bearer bench-only-admin-token";
    let ct = ("Content-Type", "application/json");
    let v = js(raw(
        addr,
        "POST",
        "/api/v1/workspaces",
        &[("Authorization", admin), ct],
        &json!({"id": "bench", "name": "Bench"}).to_string(),
    )?)?;
    let key = format!("Bearer {}", v["secret"].as_str().unwrap_or_default());
    let auth = ("Authorization", key.as_str());
    let user = |email: &str, role: &str| -> Result<String, String> {
        let v = js(raw(
            addr,
            "PUT",
            "/api/v1/users",
            &[auth, ct],
            &json!({"email": email, "name": email, "role": role}).to_string(),
        )?)?;
        Ok(v["user"]["id"].as_str().unwrap_or_default().to_string())
    };
    let cus = user("cus@bench.test", "customer")?;
    let staff = user("sam@bench.test", "staff")?;
    let as_cus = ("Ticketshare-Act-As", cus.as_str());
    js(raw(
        addr,
        "POST",
        "/api/v1/tickets",
        &[auth, as_cus, ct],
        &json!({"subject": "Bench ticket", "body": "Where is my parcel?"}).to_string(),
    )?)?;
    for i in 0..9 {
        js(raw(
            addr,
            "POST",
            "/api/v1/tickets/1/replies",
            &[auth, as_cus, ct],
            &json!({"body": format!("Reply {i} with **some** text")}).to_string(),
        )?)?;
    }
    let read_outbox = || js(raw(addr, "GET", "/api/v1/outbox", &[auth], "")?);
    js(raw(
        addr,
        "POST",
        "/api/v1/tickets/1/shares",
        &[auth, ct],
        &json!({"email": "dock@carrier.test", "subject": "Bench share"}).to_string(),
    )?)?;
    let outbox = read_outbox()?;
    let text = outbox["emails"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let link = text
        .split_whitespace()
        .find_map(|w| w.split_once("/s/").map(|(_, l)| format!("/s/{l}")))
        .ok_or("no share link in the outbox")?;
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    raw(addr, "POST", &link, &[form], "action=send_code")?;
    let outbox = read_outbox()?;
    let subject = outbox["emails"][0]["subject"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = subject.rsplit(' ').next().unwrap_or_default().to_string();
    let (st, head, _) = raw(
        addr,
        "POST",
        &link,
        &[form],
        &format!("action=verify&code={code}"),
    )?;
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .ok_or(format!("verifying the share failed ({st})"))?
        .to_string();
    let base = format!("http://{addr}");
    let share = wrk_with(
        &format!("{base}{link}"),
        16,
        secs,
        &[format!("Cookie: {cookie}")],
        None,
    )?;
    let staff_h = vec![
        format!("Authorization: {key}"),
        format!("Ticketshare-Act-As: {staff}"),
    ];
    let thread = wrk_with(
        &format!("{base}/api/v1/tickets/1/thread?limit=25"),
        16,
        secs,
        &staff_h,
        None,
    )?;
    let pending = wrk_with(
        &format!("{base}/api/v1/inbox?view=pending&limit=25"),
        16,
        secs,
        &staff_h,
        None,
    )?;
    let script = tmp.join("reply.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"body\": \"A benchmark reply with a few words in it\"}}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"{key}\"\nwrk.headers[\"Ticketshare-Act-As\"] = \"{cus}\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let reply = wrk_with(
        &format!("{base}/api/v1/tickets/1/replies"),
        16,
        secs,
        &[],
        Some(&script),
    )?;
    Ok(vec![
        ("share page (verified session), ticketshare-host", share),
        ("thread page (API, 25 messages), ticketshare-host", thread),
        ("Pending view (API), ticketshare-host", pending),
        ("reply post, ticketshare-host", reply),
    ])
}

fn chrono_like_date() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "undated".into())
}
