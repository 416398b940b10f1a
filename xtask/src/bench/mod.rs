//! `cargo xtask bench [--duration SECS] [--redis] [--scale N] [--quick [--only ROW] [--connections N] [--latency-ms MS]]`: the
//! performance targets of the brief, measured in one run.
//!
//! - A release build; each app runs in its own `ticketshare-host` process
//!   (SQLite store, or with `--redis` a private redis-server per host),
//!   access log off; load from wrk in a separate process, on loopback.
//! - Rows, each at 1, 16 and 64 connections: the hello component (the floor,
//!   plain wasi:http), one key-value get (contract component), the app's
//!   baseline (its largest component answering from one read), a verified
//!   collaborator's share page, a ticket's thread page (API), the Pending
//!   view, the same two polled with the tag they answered with (a `304`
//!   from the change markers: "thread 304", "Pending 304"), reply posting, invite accept (3000 fresh invitations prepared
//!   beforehand, each accepted once: a fixed number of requests, so this
//!   row is driven by our own keep-alive client rather than wrk, which runs
//!   for a fixed time) and the inbound email webhook (Postmark, a new
//!   Message-ID per request). Each as a ratio to hello in the same run.
//! - Per row, the key-value calls one request makes (our host reports them
//!   in `x-ticketshare-store-calls` with `--report-store-calls`), and, as a
//!   user of a remote store feels it, the p50 at one connection in a second
//!   host whose every store call waits 2 ms (`--simulate-store-latency-ms
//!   2`; in `--quick` only with `--latency-ms MS`, that many ms).
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
//! `bench/results/<date>.md` with a description of the machine and SVG
//! charts beside it (`charts.rs`); `--quick` writes `<date>-quick.md` and
//! its chart.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::host::wait_for;
use testkit::root;
use testkit::scratch::free_port;

use crate::setup::{build, cargo_tool, ensure_debian, have};

mod charts;
mod load;
mod report;
mod rows;
mod scale;
pub mod seeding;
pub mod server;

use load::{Traffic, wrk};
use rows::measure;
use scale::measure_scale;
use server::{Opts, Proc, Runtime};

const WASMTIME_VERSION: &str = "48.0.8";
pub const ADMIN_TOKEN: &str = "bench-only-admin-token";
/// Connection counts every row is measured at.
const LEVELS: [u32; 3] = [1, 16, 64];
/// Invites accepted per connection level.
const INVITES_PER_LEVEL: u64 = 3000;
/// The simulated store round trip of the full run's latency column, in ms.
const LATENCY_MS: u32 = 2;

/// The trimmed stdout of a shell command (empty when it fails).
pub fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Run the benchmark.
pub fn bench(args: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask bench [--duration SECS] [--redis] [--scale N] [--quick [--only ROW] [--connections N] [--latency-ms MS]]";
    let mut secs = 5;
    let mut redis = false;
    let mut quick = false;
    let mut only = None;
    let mut quick_conns = 16;
    let mut scale = 100_000;
    let mut quick_latency = None;
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
            "--connections" => {
                quick_conns = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or(usage)?
            }
            "--latency-ms" => {
                quick_latency = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .filter(|ms| (1..=1000).contains(ms))
                        .ok_or(usage)?,
                )
            }
            _ => return Err(usage.into()),
        }
    }
    ensure_debian("wrk", "wrk")?;
    if redis {
        ensure_debian("redis-server", "redis-server")?;
    }
    build()?;
    testkit::host::assume_built();
    let tmp = testkit::target_dir().join("bench");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let o = Opts {
        secs,
        levels: if quick {
            vec![quick_conns]
        } else {
            LEVELS.to_vec()
        },
        only: if quick { only } else { None },
        redis,
        scale,
        cache: tmp.join("cache"),
        tmp: tmp.clone(),
        invites: INVITES_PER_LEVEL,
        latency_ms: None,
    };
    if quick {
        return report::quick_table(&o, quick_latency);
    }
    let wasmtime = cargo_tool("wasmtime-cli", Some(WASMTIME_VERSION), "wasmtime")?;
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
                .arg(testkit::wasm("hello"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start wasmtime serve: {e}"))?,
        );
        wait_for(&waddr, "/", Duration::from_secs(120))
            .map_err(|e| format!("wasmtime serve: {e}"))?;
        for conns in LEVELS {
            theirs.push(wrk(&waddr, &Traffic::get("/", &[]), conns, secs, &tmp)?);
        }
    }
    let ours = measure(&o, Runtime::Ours)?;
    let latency = measure(&o.with_latency(LATENCY_MS), Runtime::Ours)?;
    let spin = if have("spin") {
        Some(measure(&o, Runtime::Spin)?)
    } else {
        None
    };
    let scale_rows = measure_scale(&o)?;
    report::write(&report::Results {
        secs,
        redis,
        elapsed_secs: started.elapsed().as_secs_f64(),
        ours,
        latency,
        theirs,
        spin,
        scale_rows,
        cold,
        warm,
    })
}
