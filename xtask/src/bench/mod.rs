//! `cargo xtask bench [--duration SECS] [--redis] [--scale N] [--quick [--only ROW]]`: the
//! performance targets of the brief, measured in one run.
//!
//! - A release build; each app runs in its own `ticketshare-host` process
//!   (SQLite store, or with `--redis` a private redis-server per host),
//!   access log off; load from wrk in a separate process, on loopback.
//! - Rows, each at 1, 16 and 64 connections: the hello component (the floor,
//!   plain wasi:http), one key-value get (contract component), the app's
//!   baseline (its largest component answering from one read), a verified
//!   collaborator's share page, a ticket's thread page (API), the Pending
//!   view, reply posting, invite accept (3000 fresh invitations prepared
//!   beforehand, each accepted once: a fixed number of requests, so this
//!   row is driven by our own keep-alive client rather than wrk, which runs
//!   for a fixed time) and the inbound email webhook (Postmark, a new
//!   Message-ID per request). Each as a ratio to hello in the same run.
//! - The hello floor also under `wasmtime serve -S cli -O pooling-allocator`
//!   (wasmtime-cli of the host's wasmtime version, installed with cargo when
//!   missing); where `spin` is on PATH, every row under `spin up` too.
//! - Scale: share page with 100 vs N share links, thread page with 10 vs
//!   10 000 messages, Pending view with 100 vs N tickets (N = `--scale`,
//!   100 000 by default), each in a fresh host, with the large/small ratio.
//! - Cold start to first response with an empty and a warm compile cache,
//!   and the size of each component.
//!
//! Nothing here asserts a time: it measures, prints, and writes
//! `bench/results/<date>.md` with a description of the machine.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::seed::{Client, parallel};
use crate::{COMPONENTS, build, ensure_debian, have, root};

const WASMTIME_VERSION: &str = "48.0.8";
const ADMIN_TOKEN: &str = "bench-only-admin-token";
/// Connection counts every row is measured at.
const LEVELS: [u32; 3] = [1, 16, 64];
/// Invites accepted per connection level.
const INVITES_PER_LEVEL: u64 = 3000;

/// A child process killed on drop.
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

fn wait_for(addr: &str, probe: &str, what: &str) -> Result<(), String> {
    let t0 = Instant::now();
    while get(addr, probe) != Some(200) {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(format!("{what} never answered {probe}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// A private redis-server (for `--redis`), one per host so hosts never share
/// keys.
fn start_redis(dir: &Path) -> Result<(Proc, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let port = free_port();
    let p = Proc(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?,
    );
    let t0 = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"PING\r\n");
            let mut buf = [0u8; 7];
            if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                break;
            }
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = dir.join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok((p, config))
}

/// One running server: our host (with its Redis, if any) or `spin up`.
struct Server {
    addr: String,
    procs: Vec<Proc>,
}

impl Server {
    /// CPU time (user + system, seconds) the server process has used so
    /// far, from /proc; the host (or `spin`) is the last process started.
    fn cpu_secs(&self) -> Option<f64> {
        let pid = self.procs.last()?.0.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        let hz = HZ.get_or_init(|| sh("getconf CLK_TCK").parse().unwrap_or(100.0));
        Some(ticks / hz)
    }
}

/// Where the rows run.
#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Ours,
    Spin,
}

/// The options of one run.
struct Opts {
    secs: u32,
    /// Connection counts each row is measured at.
    levels: Vec<u32>,
    /// `--only`: the rows whose name contains this (and the floor).
    only: Option<String>,
    redis: bool,
    scale: u64,
    tmp: PathBuf,
    cache: PathBuf,
}

impl Opts {
    /// Start `manifest` in a fresh state directory named `name`; returns the
    /// server and the time to the first 200 on `probe`.
    fn start(
        &self,
        runtime: Runtime,
        manifest: &Path,
        name: &str,
        probe: &str,
    ) -> Result<(Server, Duration), String> {
        let state = self.tmp.join(format!("state-{name}"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        let mut procs = Vec::new();
        let t0 = Instant::now();
        let addr = match runtime {
            Runtime::Ours => {
                let mut cmd = Command::new(root().join("target/release/ticketshare-host"));
                cmd.args(["up", "--from"])
                    .arg(manifest)
                    .args(["--listen", "127.0.0.1:0", "--cache-dir"])
                    .arg(&self.cache)
                    .arg("--state-dir")
                    .arg(&state);
                if self.redis {
                    let (r, config) = start_redis(&state.join("redis"))?;
                    procs.push(r);
                    cmd.arg("--runtime-config-file").arg(config);
                }
                let t0 = Instant::now();
                let mut child = cmd
                    .env("SPIN_VARIABLE_SECRET_TOKEN", "bench-only")
                    .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("cannot start host: {e}"))?;
                let stdout = child.stdout.take().unwrap();
                procs.push(Proc(child));
                let mut lines = BufReader::new(stdout).lines();
                let mut addr = None;
                for line in lines.by_ref() {
                    let line = line.map_err(|e| e.to_string())?;
                    if let Some(a) = line.strip_prefix("Serving http://") {
                        addr = Some(a.trim().to_string());
                        break;
                    }
                }
                std::thread::spawn(move || lines.for_each(drop));
                let addr = addr.ok_or("host exited before serving")?;
                wait_for(&addr, probe, "the host")?;
                return Ok((Server { addr, procs }, t0.elapsed()));
            }
            Runtime::Spin => {
                let port = free_port();
                let addr = format!("127.0.0.1:{port}");
                procs.push(Proc(
                    Command::new("spin")
                        .args(["up", "--from"])
                        .arg(manifest)
                        .args(["--listen", &addr, "--state-dir"])
                        .arg(&state)
                        .env("SPIN_VARIABLE_SECRET_TOKEN", "bench-only")
                        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .map_err(|e| format!("cannot start spin up: {e}"))?,
                ));
                wait_for(&addr, probe, "spin up")?;
                addr
            }
        };
        Ok((Server { addr, procs }, t0.elapsed()))
    }
}

/// wrk's figures for one run.
#[derive(Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Server CPU time per request, in microseconds (where measured).
    cpu_us: Option<f64>,
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

/// A Lua string literal (long brackets, so nothing needs escaping).
fn lua_str(s: &str) -> String {
    let mut eq = String::from("==");
    while s.contains(&format!("]{eq}]")) {
        eq.push('=');
    }
    format!("[{eq}[{s}]{eq}]")
}

fn lua_headers(headers: &[(&str, &str)]) -> String {
    let mut t = String::from("{");
    for (k, v) in headers {
        let _ = write!(t, "[ {} ] = {}, ", lua_str(k), lua_str(v));
    }
    t.push('}');
    t
}

/// What one measurement sends.
enum Traffic {
    /// The same request every time.
    Fixed {
        method: &'static str,
        path: String,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A JSON body with a fresh id per request: `pre` + thread-count + `post`.
    Numbered {
        path: String,
        headers: Vec<(String, String)>,
        pre: String,
        post: String,
    },
    /// Each path POSTed once (an empty form), so the run is a fixed number
    /// of requests: driven by [`once_load`], since wrk runs for a fixed time.
    OncePaths(Vec<String>),
}

impl Traffic {
    fn get(path: &str, headers: &[(&str, &str)]) -> Traffic {
        Traffic::Fixed {
            method: "GET",
            path: path.into(),
            headers: own(headers),
            body: String::new(),
        }
    }
}

fn own(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn borrow(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Send a fixed request once and check it succeeds, so a row that would
/// only measure errors says why before the load starts.
fn probe(addr: &str, traffic: &Traffic) -> Result<(), String> {
    if let Traffic::Fixed {
        method,
        path,
        headers,
        body,
    } = traffic
    {
        let (status, _, text) = crate::seed::raw(addr, method, path, &borrow(headers), body)?;
        if status >= 400 {
            return Err(format!("{method} {path} answers {status}: {text}"));
        }
    }
    Ok(())
}

/// POST every path once over `conns` keep-alive connections (a path each
/// at a time, from a shared queue); each must answer 2xx or 3xx. The
/// figures are wall time over the whole set and each request's latency.
fn once_load(addr: &str, paths: &[String], conns: u32) -> Result<Load, String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                sc.spawn(|| {
                    let mut c = Client::connect(addr)?;
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = paths.get(i) else {
                            return Ok(lat);
                        };
                        let t = Instant::now();
                        let (status, body) = c.call(
                            "POST",
                            p,
                            &[
                                ("Content-Type", "application/x-www-form-urlencoded"),
                                // As the invitation page's form, from this site.
                                ("Sec-Fetch-Site", "same-origin"),
                            ],
                            "",
                        )?;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        if status >= 400 {
                            return Err(format!("POST {p} answered {status}: {body}"));
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Load {
        cpu_us: None,
        rps: all.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// Run wrk against `addr` with `conns` connections for `secs`.
fn wrk(addr: &str, traffic: &Traffic, conns: u32, secs: u32, tmp: &Path) -> Result<Load, String> {
    probe(addr, traffic)?;
    let threads = conns.min(2);
    let (path, script, secs, allowed_errors) = match traffic {
        Traffic::Fixed {
            method,
            path,
            headers,
            body,
        } => {
            let mut s = format!("wrk.method = {}\n", lua_str(method));
            if !body.is_empty() {
                let _ = writeln!(s, "wrk.body = {}", lua_str(body));
            }
            for (k, v) in headers {
                // A space after `[`: `[[` would open a long string.
                let _ = writeln!(s, "wrk.headers[ {} ] = {}", lua_str(k), lua_str(v));
            }
            (path.clone(), s, secs, 0)
        }
        Traffic::Numbered {
            path,
            headers,
            pre,
            post,
        } => {
            let s = format!(
                "threads = 0\nfunction setup(thread) threads = threads + 1; thread:set(\"tid\", threads) end\n\
                 n = 0\nlocal headers = {}\nlocal pre, post, path = {}, {}, {}\n\
                 function request()\n  n = n + 1\n  return wrk.format(\"POST\", path, headers, pre .. tid .. \"-\" .. n .. post)\nend\n",
                lua_headers(&borrow(headers)),
                lua_str(pre),
                lua_str(post),
                lua_str(path)
            );
            (path.clone(), s, secs, 0)
        }
        Traffic::OncePaths(paths) => return once_load(addr, paths, conns),
    };
    let script_file = tmp.join("load.lua");
    std::fs::write(&script_file, script).map_err(|e| e.to_string())?;
    let out = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(&script_file)
        .arg(format!("http://{addr}{path}"))
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut load = Load {
        rps: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        cpu_us: None,
    };
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            load.rps = v.trim().parse().unwrap_or(f64::NAN);
        } else if let Some(v) = l.strip_prefix("50%") {
            load.p50_ms = parse_latency(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            load.p99_ms = parse_latency(v);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            let n: u64 = v.trim().parse().unwrap_or(u64::MAX);
            if n > allowed_errors {
                return Err(format!(
                    "wrk saw {n} error responses on {addr}{path}:\n{text}"
                ));
            }
        } else if l.starts_with("Socket errors:") && l.contains("timeout") {
            eprintln!("note: {l} ({addr}{path}, {conns} connections)");
        }
    }
    if load.rps.is_nan() {
        return Err(format!(
            "could not read wrk output:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(load)
}

/// A seeded workspace on one server: what the rows need to send.
struct Seeded {
    key: String,
    customer: String,
    staff: String,
    share_link: String,
    share_cookie: String,
}

impl Seeded {
    fn api_auth(&self) -> (&'static str, &str) {
        ("Authorization", &self.key)
    }
}

fn json_body(v: &Value) -> String {
    v.to_string()
}

/// Seed workspace `bench`: a customer, a staff member, ticket 1 with 10
/// messages and a share link verified by its emailed code, ticket 2 with
/// `messages` messages, then `tickets` tickets in all and `links` share links
/// in all (spread 100 to a ticket).
fn seed(addr: &str, messages: u64, tickets: u64, links: u64) -> Result<Seeded, String> {
    let mut c = Client::connect(addr)?;
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let v = c.ok(
        "POST",
        "/api/v1/workspaces",
        &[("Authorization", &admin)],
        &json!({"id": "bench", "name": "Bench"}),
    )?;
    let key = format!("Bearer {}", v["secret"].as_str().unwrap_or_default());
    let auth = ("Authorization", key.as_str());
    let user = |c: &mut Client, email: &str, role: &str| -> Result<String, String> {
        let v = c.ok(
            "PUT",
            "/api/v1/users",
            &[auth],
            &json!({"email": email, "name": email, "role": role}),
        )?;
        Ok(v["user"]["id"].as_str().unwrap_or_default().to_string())
    };
    let customer = user(&mut c, "cus@bench.test", "customer")?;
    let staff = user(&mut c, "sam@bench.test", "staff")?;
    let as_cus = [auth, ("Ticketshare-Act-As", customer.as_str())];
    let post_ticket = |c: &mut Client, i: u64| {
        c.ok(
            "POST",
            "/api/v1/tickets",
            &as_cus,
            &json!({"subject": format!("Bench ticket {i}"), "body": format!("Where is my parcel number {i}?")}),
        )
        .map(drop)
    };
    post_ticket(&mut c, 1)?;
    post_ticket(&mut c, 2)?;
    let reply = |c: &mut Client, t: u64, i: u64| {
        c.ok(
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            &as_cus,
            &json!({"body": format!("Reply {i} with **some** text about the parcel")}),
        )
        .map(drop)
    };
    for i in 0..9 {
        reply(&mut c, 1, i)?;
    }
    let t0 = Instant::now();
    parallel(addr, 4, messages.saturating_sub(1), |c, i| reply(c, 2, i))?;
    if messages > 100 {
        eprintln!(
            "seeded {messages} messages in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    // The verified share on ticket 1.
    c.ok(
        "POST",
        "/api/v1/tickets/1/shares",
        &[auth],
        &json!({"email": "dock@carrier.test", "subject": "Bench share"}),
    )?;
    let newest_email = |c: &mut Client| -> Result<Value, String> {
        let v = c.ok("GET", "/api/v1/outbox?limit=1", &[auth], &Value::Null)?;
        Ok(v["emails"][0].clone())
    };
    let text = newest_email(&mut c)?["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let share_link = text
        .split_whitespace()
        .find_map(|w| w.split_once("/s/").map(|(_, l)| format!("/s/{l}")))
        .ok_or("no share link in the outbox")?;
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    // The share page's forms, as a browser on this site sends them.
    let same = ("Sec-Fetch-Site", "same-origin");
    c.call("POST", &share_link, &[form, same], "action=send_code")?;
    let subject = newest_email(&mut c)?["subject"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = subject.rsplit(' ').next().unwrap_or_default().to_string();
    let (st, head, _) = crate::seed::raw(
        addr,
        "POST",
        &share_link,
        &[form, same],
        &format!("action=verify&code={code}"),
    )?;
    let share_cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .ok_or(format!("verifying the share failed ({st})"))?
        .to_string();
    // The rest of the tickets, then the rest of the links on tickets 3...
    let t0 = Instant::now();
    parallel(addr, 4, tickets.saturating_sub(2), |c, i| {
        post_ticket(c, i + 3)
    })?;
    if tickets > 1000 {
        eprintln!(
            "seeded {tickets} tickets in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    let t0 = Instant::now();
    let ticket_count = tickets.max(3);
    parallel(addr, 4, links.saturating_sub(1), |c, i| {
        let t = 3 + (i / 100) % (ticket_count - 2);
        c.ok(
            "POST",
            &format!("/api/v1/tickets/{t}/shares"),
            &[auth],
            &json!({"email": format!("partner{i}@carrier.test"), "subject": "Bench share"}),
        )
        .map(drop)
    })?;
    if links > 1000 {
        eprintln!(
            "seeded {links} share links in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(Seeded {
        key,
        customer,
        staff,
        share_link,
        share_cookie,
    })
}

/// Prepare `n` fresh delegate invitations (10 customers, one invitation
/// each per ticket, on new tickets); returns their `/i/<link>` paths, those
/// of one ticket spread apart.
fn prepare_invites(addr: &str, s: &Seeded, n: u64, label: &str) -> Result<Vec<String>, String> {
    let auth = s.api_auth();
    // Ten invitations per ticket: accepts of one ticket's invitations meet
    // on its delegate list (a compare-and-swap each, retried when another
    // accept got in first), which is rare in use; a hundred per ticket, as
    // this once had, measured those retries more than the accept.
    let guests = 10.min(n.max(1));
    let mut c = Client::connect(addr)?;
    for g in 0..guests {
        c.ok(
            "PUT",
            "/api/v1/users",
            &[auth],
            &json!({"email": format!("guest{g}-{label}@bench.test"), "name": format!("Guest {g}"), "role": "customer"}),
        )?;
    }
    let as_cus = [auth, ("Ticketshare-Act-As", s.customer.as_str())];
    let mut tickets = Vec::new();
    for i in 0..n.div_ceil(guests) {
        let v = c.ok(
            "POST",
            "/api/v1/tickets",
            &as_cus,
            &json!({"subject": format!("Invite bench {label} {i}"), "body": "Please look at this together."}),
        )?;
        tickets.push(v["ticket"]["number"].as_u64().ok_or("no ticket number")?);
    }
    parallel(addr, 4, n, |c, i| {
        let t = tickets[(i / guests) as usize];
        let g = i % guests;
        // The first invitations of a fresh ticket may meet while its
        // delegate list is created: a 409 that asks to try again.
        let mut attempt = 0;
        loop {
            let r = c.ok(
                "POST",
                &format!("/api/v1/tickets/{t}/delegates"),
                &[auth, ("Ticketshare-Act-As", s.staff.as_str())],
                &json!({"email": format!("guest{g}-{label}@bench.test")}),
            );
            match r {
                Err(e) if e.contains(": 409 ") && attempt < 20 => attempt += 1,
                r => return r.map(drop),
            }
        }
    })?;
    // The invitation links, newest first, from the outbox.
    let mut paths = Vec::new();
    let mut cursor = String::new();
    while (paths.len() as u64) < n {
        let v = c.ok(
            "GET",
            &format!("/api/v1/outbox?limit=100{cursor}"),
            &[auth],
            &Value::Null,
        )?;
        for e in v["emails"].as_array().into_iter().flatten() {
            if let Some(p) = e["text"]
                .as_str()
                .and_then(|t| t.split_whitespace().find_map(|w| w.split_once("/i/")))
                .map(|(_, l)| format!("/i/{l}"))
            {
                paths.push(p);
            }
        }
        match v["next_cursor"].as_u64() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    if (paths.len() as u64) < n {
        return Err(format!(
            "only {} of {n} invitations in the outbox",
            paths.len()
        ));
    }
    paths.truncate(n as usize);
    // The outbox lists a ticket's invitations together; interleave them so
    // consecutive accepts are of different tickets.
    let per = guests as usize;
    let spread = (0..per)
        .flat_map(|r| paths.iter().skip(r).step_by(per).cloned())
        .collect();
    Ok(spread)
}

/// Set up Postmark inbound on the workspace; returns the hook path, its
/// Authorization header, and the reply address of a fresh ticket.
fn prepare_inbound(addr: &str, s: &Seeded) -> Result<(String, String, String), String> {
    let mut c = Client::connect(addr)?;
    let auth = s.api_auth();
    let v = c.ok(
        "POST",
        "/api/v1/webhooks/inbound/postmark",
        &[auth],
        &Value::Null,
    )?;
    let password = v["password"].as_str().unwrap_or_default();
    let basic = format!("Basic {}", base64(&format!("inbound:{password}")));
    let t = c.ok(
        "POST",
        "/api/v1/tickets",
        &[auth, ("Ticketshare-Act-As", &s.customer)],
        &json!({"subject": "Inbound bench", "body": "Replies arrive by email."}),
    )?;
    let no = t["ticket"]["number"].as_u64().unwrap_or(0);
    let v = c.ok(
        "GET",
        &format!("/api/v1/tickets/{no}"),
        &[auth, ("Ticketshare-Act-As", &s.staff)],
        &Value::Null,
    )?;
    let to = v["ticket"]["reply_address"]
        .as_str()
        .ok_or("no reply address on the ticket")?
        .to_string();
    Ok(("/hooks/postmark/bench".into(), basic, to))
}

fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The measured rows of one runtime: name → figures at each level.
type Rows = Vec<(&'static str, Vec<Load>)>;

/// Measure every row on `runtime`.
fn measure(o: &Opts, runtime: Runtime) -> Result<Rows, String> {
    let apps = root().join("tests/apps");
    let tag = if runtime == Runtime::Ours {
        "ours"
    } else {
        "spin"
    };
    let mut rows: Rows = Vec::new();
    let mut run = |name: &'static str,
                   srv: &Server,
                   traffic: &mut dyn FnMut(u32) -> Result<Traffic, String>|
     -> Result<(), String> {
        if name != "hello (floor)" && o.only.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            return Ok(());
        }
        let mut loads = Vec::new();
        for &conns in &o.levels {
            let t = traffic(conns)?;
            let (c0, t0) = (srv.cpu_secs(), Instant::now());
            let mut load = wrk(&srv.addr, &t, conns, o.secs, &o.tmp)?;
            let wall = t0.elapsed().as_secs_f64();
            load.cpu_us = match (c0, srv.cpu_secs()) {
                (Some(a), Some(b)) => Some((b - a) / (load.rps * wall) * 1e6),
                _ => None,
            };
            loads.push(load);
        }
        eprintln!(
            "{tag}: {name}: {}",
            loads
                .iter()
                .map(|l| format!("{:.0}", l.rps))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        rows.push((name, loads));
        Ok(())
    };
    {
        let (hello, _) = o.start(
            runtime,
            &apps.join("hello/spin.toml"),
            &format!("{tag}-hello"),
            "/",
        )?;
        run("hello (floor)", &hello, &mut |_| Ok(Traffic::get("/", &[])))?;
    }
    {
        let (kv, _) = o.start(
            runtime,
            &apps.join("contract/spin.toml"),
            &format!("{tag}-kv"),
            "/health-probe",
        )?;
        crate::seed::raw(&kv.addr, "PUT", "/kv/set?key=bench", &[], "value")?;
        run("key-value get", &kv, &mut |_| {
            Ok(Traffic::get("/kv/get?key=bench", &[]))
        })?;
    }
    let (app, _) = o.start(
        runtime,
        &root().join("spin.toml"),
        &format!("{tag}-app"),
        "/",
    )?;
    let addr = app.addr.as_str();
    let s = seed(&addr, 10, 2, 1)?;
    let staff_h = [
        ("Authorization", s.key.as_str()),
        ("Ticketshare-Act-As", s.staff.as_str()),
    ];
    // What any request to the app costs before its own work: the app's
    // largest component answering from one read (the brand style sheet).
    run("app baseline (one read: brand.css)", &app, &mut |_| {
        Ok(Traffic::get("/api/v1/workspaces/bench/brand.css", &[]))
    })?;
    run("share page (valid link, verified)", &app, &mut |_| {
        Ok(Traffic::get(&s.share_link, &[("Cookie", &s.share_cookie)]))
    })?;
    run("thread page (API, 10 messages)", &app, &mut |_| {
        Ok(Traffic::get("/api/v1/tickets/2/thread?limit=25", &staff_h))
    })?;
    run("Pending view (API)", &app, &mut |_| {
        Ok(Traffic::get(
            "/api/v1/inbox?view=pending&limit=25",
            &staff_h,
        ))
    })?;
    run("reply post", &app, &mut |_| {
        Ok(Traffic::Fixed {
            method: "POST",
            path: "/api/v1/tickets/1/replies".into(),
            headers: own(&[
                ("Authorization", &s.key),
                ("Ticketshare-Act-As", &s.customer),
                ("Content-Type", "application/json"),
            ]),
            body: json_body(&json!({"body": "A benchmark reply with a few words in it"})),
        })
    })?;
    run("invite accept (fresh invites)", &app, &mut |conns| {
        Ok(Traffic::OncePaths(prepare_invites(
            &addr,
            &s,
            INVITES_PER_LEVEL,
            &format!("{tag}{conns}"),
        )?))
    })?;
    let (hook, basic, to) = prepare_inbound(&addr, &s)?;
    run("inbound email webhook (Postmark)", &app, &mut |conns| {
        let body = json!({
            "From": "cus@bench.test", "FromFull": {"Email": "cus@bench.test", "Name": "Bench Customer"},
            "To": to, "ToFull": [{"Email": to}], "Subject": "Re: Inbound bench",
            "MessageID": "pm-bench", "TextBody": "Thanks, the parcel arrived today.", "StrippedTextReply": "",
            "Headers": [{"Name": "Message-ID", "Value": "<MSGID@mail.bench.test>"}], "Attachments": [],
        })
        .to_string();
        let (pre, post) = body.split_once("MSGID").unwrap();
        Ok(Traffic::Numbered {
            path: hook.clone(),
            headers: own(&[
                ("Authorization", &basic),
                ("Content-Type", "application/json"),
            ]),
            pre: format!("{pre}{tag}-{conns}-"),
            post: post.to_string(),
        })
    })?;
    Ok(rows)
}

/// Small/large pairs at 16 connections: (name, small, large).
type Scale = Vec<(String, Load, Load)>;

fn measure_scale(o: &Opts) -> Result<Scale, String> {
    let n = o.scale;
    let mut sizes = Vec::new();
    for (label, messages, tickets, links) in [("small", 10, 100, 100), ("large", 10_000, n, n)] {
        let (srv, _) = o.start(
            Runtime::Ours,
            &root().join("spin.toml"),
            &format!("scale-{label}"),
            "/",
        )?;
        let t0 = Instant::now();
        let s = seed(&srv.addr, messages, tickets, links)?;
        eprintln!(
            "scale {label}: seeded in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        let staff_h = [
            ("Authorization", s.key.as_str()),
            ("Ticketshare-Act-As", s.staff.as_str()),
        ];
        let mut loads = Vec::new();
        for t in [
            Traffic::get(&s.share_link, &[("Cookie", &s.share_cookie)]),
            Traffic::get("/api/v1/tickets/2/thread?limit=10", &staff_h),
            Traffic::get("/api/v1/inbox?view=pending&limit=25", &staff_h),
        ] {
            loads.push(wrk(&srv.addr, &t, 16, o.secs, &o.tmp)?);
        }
        sizes.push(loads);
    }
    let names = [
        format!("share page: 100 vs {n} share links"),
        "thread page (API, a page of 10): 10 vs 10000 messages".to_string(),
        format!("Pending view: 100 vs {n} tickets"),
    ];
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, sizes[0][i], sizes[1][i]))
        .collect())
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Run the benchmark.
pub fn bench(args: &[String]) -> Result<(), String> {
    let usage =
        "usage: cargo xtask bench [--duration SECS] [--redis] [--scale N] [--quick [--only ROW]]";
    let mut secs = 5;
    let mut redis = false;
    let mut quick = false;
    let mut only = None;
    let mut scale = 100_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--duration" => {
                secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|s| *s > 0)
                    .ok_or(usage)?
            }
            "--scale" => {
                scale = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|s| *s >= 100)
                    .ok_or(usage)?
            }
            "--redis" => redis = true,
            "--quick" => quick = true,
            "--only" => only = Some(it.next().ok_or(usage)?.clone()),
            _ => return Err(usage.into()),
        }
    }
    ensure_debian("wrk", "wrk")?;
    if redis {
        ensure_debian("redis-server", "redis-server")?;
    }
    build()?;
    let tmp = root().join("target/bench");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let o = Opts {
        secs,
        levels: if quick { vec![16] } else { LEVELS.to_vec() },
        only: if quick { only } else { None },
        redis,
        scale,
        cache: tmp.join("cache"),
        tmp: tmp.clone(),
    };
    if quick {
        return quick_table(&o);
    }
    let wasmtime = crate::cargo_tool("wasmtime-cli", Some(WASMTIME_VERSION), "wasmtime")?;
    let started = Instant::now();

    // Cold start: empty cache, then warm cache.
    let (_, cold) = o.start(Runtime::Ours, &root().join("spin.toml"), "cold", "/")?;
    let (_, warm) = o.start(Runtime::Ours, &root().join("spin.toml"), "warm", "/")?;

    // The floor under wasmtime serve.
    let port = free_port();
    let waddr = format!("127.0.0.1:{port}");
    let mut theirs = Vec::new();
    {
        let _ws = Proc(
            Command::new(&wasmtime)
                .args([
                    "serve",
                    "-S",
                    "cli",
                    "-O",
                    "pooling-allocator",
                    "--addr",
                    &waddr,
                ])
                .arg(root().join("target/wasm32-wasip2/release/hello.wasm"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start wasmtime serve: {e}"))?,
        );
        wait_for(&waddr, "/", "wasmtime serve")?;
        for conns in LEVELS {
            theirs.push(wrk(&waddr, &Traffic::get("/", &[]), conns, secs, &tmp)?);
        }
    }
    let ours = measure(&o, Runtime::Ours)?;
    let spin = if have("spin") {
        Some(measure(&o, Runtime::Spin)?)
    } else {
        None
    };
    let scale_rows = measure_scale(&o)?;

    // The report.
    let mut r = String::new();
    let date = sh("date +%Y-%m-%d");
    let _ = writeln!(r, "# Benchmark ({date})\n");
    let _ = writeln!(
        r,
        "Machine: {} cores ({}), {} GiB, {}; {}. Store: {}. Load: {}, {secs} s per row and level (invite accept: {INVITES_PER_LEVEL} fresh invitations per level), loopback; host and load generator share the cores. Whole run: {:.0} s.\n",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs"),
        sh("free -g | awk '/Mem:/{print $2}'"),
        sh("uname -sr"),
        sh("rustc --version"),
        if redis {
            "Redis (a private redis-server per host)"
        } else {
            "SQLite (the embedded default)"
        },
        sh("wrk --version 2>&1 | head -1 | cut -d' ' -f1-2"),
        started.elapsed().as_secs_f64()
    );
    let floor = &ours[0].1;
    let _ = writeln!(
        r,
        "| request | 1 conn req/s | p50 ms | p99 ms | 16 conns req/s | p50 ms | p99 ms | 64 conns req/s | p50 ms | p99 ms | ratio to hello at 16 | host CPU µs/request at 16 | target |"
    );
    let _ = writeln!(
        r,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let mut line = |name: &str, loads: &[Load], target: &str| {
        let _ = write!(r, "| {name} |");
        for l in loads {
            let _ = write!(r, " {:.0} | {:.2} | {:.2} |", l.rps, l.p50_ms, l.p99_ms);
        }
        let _ = writeln!(
            r,
            " {:.2}x | {} | {target} |",
            loads[1].rps / floor[1].rps,
            loads[1].cpu_us.map_or("–".into(), |c| format!("{c:.0}"))
        );
    };
    for (name, loads) in &ours {
        let target = match *name {
            "share page (valid link, verified)" => ">= 0.5x, p99 <= 5 ms",
            "reply post" => ">= 0.25x, p99 <= 5 ms",
            _ => "",
        };
        line(name, loads, target);
    }
    line("hello under wasmtime serve", &theirs, "");
    let _ = writeln!(r, "\nOur host / wasmtime serve, hello requests/s:");
    for (i, conns) in LEVELS.iter().enumerate() {
        let _ = writeln!(
            r,
            "- {conns} connection(s): {:.2}x (target >= 0.9x)",
            floor[i].rps / theirs[i].rps
        );
    }
    match &spin {
        Some(spin) => {
            let _ = writeln!(
                r,
                "\n| request | ours / spin up, requests/s at 1 / 16 / 64 |\n|---|---|"
            );
            for ((name, a), (_, b)) in ours.iter().zip(spin) {
                let ratios: Vec<String> = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| format!("{:.2}x", x.rps / y.rps))
                    .collect();
                let _ = writeln!(r, "| {name} | {} |", ratios.join(" / "));
            }
        }
        None => {
            let _ = writeln!(r, "\nNo `spin` on PATH: the Spin comparison was not run.");
        }
    }
    let _ = writeln!(
        r,
        "\n| scale (16 connections) | small req/s | p50 ms | p99 ms | large req/s | p50 ms | p99 ms | small/large (req/s) | large/small (p50) | target |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (name, a, b) in &scale_rows {
        let _ = writeln!(
            r,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2}x | {:.2}x | <= 1.5x |",
            a.rps,
            a.p50_ms,
            a.p99_ms,
            b.rps,
            b.p50_ms,
            b.p99_ms,
            a.rps / b.rps,
            b.p50_ms / a.p50_ms
        );
    }
    let _ = writeln!(
        r,
        "\nCold start to first response (spin.toml): empty compile cache {} ms, warm cache {} ms",
        cold.as_millis(),
        warm.as_millis()
    );
    let _ = writeln!(r, "\n| component | wasm size (KiB) |\n|---|---:|");
    for comp in COMPONENTS {
        let p = root().join(format!("target/wasm32-wasip2/release/{comp}.wasm"));
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let _ = writeln!(r, "| {comp} | {:.0} |", size as f64 / 1024.0);
    }
    println!("{r}");
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("{date}{}.md", if redis { "-redis" } else { "" }));
    std::fs::write(&file, r).map_err(|e| e.to_string())?;
    println!("written to {}", file.display());
    Ok(())
}

/// `--quick`: every row of our host at 16 connections only, printed and
/// not written (no wasmtime serve, Spin, scale or cold-start runs): the
/// loop to check a change by.
fn quick_table(o: &Opts) -> Result<(), String> {
    let rows = measure(o, Runtime::Ours)?;
    let floor = rows[0].1[0].rps;
    println!(
        "| request (16 connections) | req/s | p50 ms | p99 ms | ratio to hello | host CPU µs/request |\n|---|---:|---:|---:|---:|---:|"
    );
    for (name, loads) in &rows {
        let l = &loads[0];
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2}x | {} |",
            l.rps,
            l.p50_ms,
            l.p99_ms,
            l.rps / floor,
            l.cpu_us.map_or("?".into(), |c| format!("{c:.0}"))
        );
    }
    Ok(())
}

/// `cargo xtask conformance [--examples N]`: Schemathesis against
/// `/api/v1/openapi.json` on a release host with a seeded workspace (as the
/// platform's API key), every check but `positive_data_acceptance` (the
/// document's request bodies are still generic objects, so a schema-valid
/// body is not yet a valid one). Fails on any finding: a server error, a
/// status, content type, header or body that breaks the document, an
/// invalid request accepted, a wrong method answered other than 405.
pub fn conformance(args: &[String]) -> Result<(), String> {
    let examples = match args {
        [] => 30,
        [flag, n] if flag == "--examples" => n.parse().map_err(|_| "--examples takes a number")?,
        _ => return Err("usage: cargo xtask conformance [--examples N]".into()),
    };
    crate::ensure_python_module("schemathesis", "schemathesis")?;
    build()?;
    let tmp = root().join("target/conformance");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let o = Opts {
        secs: 1,
        levels: vec![16],
        only: None,
        redis: false,
        scale: 100,
        cache: root().join("target/bench/cache"),
        tmp: tmp.clone(),
    };
    let (srv, _) = o.start(Runtime::Ours, &root().join("spin.toml"), "conformance", "/")?;
    let s = seed(&srv.addr, 10, 3, 2)?;
    let base = format!("http://{}", srv.addr);
    let status = Command::new("schemathesis")
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
        ])
        .args(["-H", &format!("Authorization: {}", s.key)])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args([
            "-n",
            &examples.to_string(),
            "--seed",
            "1",
            "--report",
            "junit",
        ])
        .arg("--report-dir")
        .arg(&tmp)
        .status()
        .map_err(|e| format!("cannot run schemathesis: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "schemathesis found problems (report in {})",
            tmp.display()
        ))
    }
}
