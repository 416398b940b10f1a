//! The tables: the full report (printed and written to
//! `bench/results/<date>.md`) and `--quick`'s table.

use std::fmt::Write as _;
use std::time::Duration;

use testkit::root;

use super::charts;
use super::load::Load;
use super::rows::{Rows, measure};
use super::scale::Scale;
use super::server::{Opts, Runtime};
use super::{INVITES_PER_LEVEL, LATENCY_MS, LEVELS, sh};
use crate::setup::COMPONENTS;

/// Everything one full run measured.
pub struct Results {
    /// Seconds per row and level.
    pub secs: u32,
    /// On Redis rather than SQLite.
    pub redis: bool,
    /// Whole run, seconds.
    pub elapsed_secs: f64,
    /// Our host's rows.
    pub ours: Rows,
    /// Our host's rows at one connection with [`LATENCY_MS`] per store call.
    pub latency: Rows,
    /// The hello floor under `wasmtime serve`, at each level.
    pub theirs: Vec<Load>,
    /// The rows under `spin up`, where it is on PATH.
    pub spin: Option<Rows>,
    /// The scale pairs.
    pub scale_rows: Scale,
    /// Cold start with an empty compile cache.
    pub cold: Duration,
    /// Cold start with a warm compile cache.
    pub warm: Duration,
}

/// Print the full report and write it to `bench/results/`.
pub fn write(res: &Results) -> Result<(), String> {
    let Results {
        secs,
        redis,
        elapsed_secs,
        ours,
        latency,
        theirs,
        spin,
        scale_rows,
        cold,
        warm,
    } = res;
    let (secs, redis) = (*secs, *redis);
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
        elapsed_secs
    );
    let floor = &ours[0].1;
    let _ = writeln!(
        r,
        "| request | 1 conn req/s | p50 ms | p99 ms | 16 conns req/s | p50 ms | p99 ms | 64 conns req/s | p50 ms | p99 ms | ratio to hello at 16 | host CPU µs/request at 16 | store calls/request | p50 ms at 1 conn, {LATENCY_MS} ms per store call | target |"
    );
    let _ = writeln!(
        r,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let mut line = |name: &str, loads: &[Load], target: &str| {
        let _ = write!(r, "| {name} |");
        for l in loads {
            let _ = write!(r, " {:.0} | {:.2} | {:.2} |", l.rps, l.p50_ms, l.p99_ms);
        }
        let _ = writeln!(
            r,
            " {:.2}x | {} | {} | {} | {target} |",
            loads[1].rps / floor[1].rps,
            loads[1].cpu_us.map_or("–".into(), |c| format!("{c:.0}")),
            calls_cell(&loads[0]),
            latency_cell(latency, name),
        );
    };
    for (name, loads) in ours.iter() {
        let target = match *name {
            "share page (valid link, verified)" => ">= 0.5x, p99 <= 5 ms",
            "reply post" => ">= 0.25x, p99 <= 5 ms",
            "thread 304 (If-None-Match, unchanged)" | "Pending 304 (If-None-Match, unchanged)" => {
                ">= the app baseline's ratio"
            }
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
    match spin {
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
    for (name, a, b) in scale_rows.iter() {
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
        let p = testkit::wasm(comp);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let _ = writeln!(r, "| {comp} | {:.0} |", size as f64 / 1024.0);
    }
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let stem = format!("{date}{}", if redis { "-redis" } else { "" });
    // The charts, beside the table and linked from it.
    let store = if redis { "Redis" } else { "SQLite" };
    let rows: Vec<(&str, charts::Lines)> = ours
        .iter()
        .enumerate()
        .map(|(i, (name, loads))| {
            let mut lines: charts::Lines = vec![("ours", &loads[..])];
            if let Some((_, l)) = spin.as_ref().and_then(|s| s.get(i)) {
                lines.push(("spin up", &l[..]));
            }
            if i == 0 {
                lines.push(("wasmtime serve", &theirs[..]));
            }
            (*name, lines)
        })
        .collect();
    charts::by_connections(
        &dir.join(format!("{stem}.svg")),
        &format!("Ticketshare bench {date} ({store}): each row by connections"),
        &LEVELS,
        &rows,
    )?;
    let names: Vec<String> = scale_rows.iter().map(|(n, _, _)| n.clone()).collect();
    charts::bars(
        &dir.join(format!("{stem}-scale.svg")),
        &format!("Scale {date} ({store}, 16 connections): small vs large store"),
        &names,
        &[
            ("small", scale_rows.iter().map(|(_, a, _)| *a).collect()),
            ("large", scale_rows.iter().map(|(_, _, b)| *b).collect()),
        ],
    )?;
    let _ = writeln!(
        r,
        "\n![Each row by connections]({stem}.svg)\n\n![Scale: small vs large]({stem}-scale.svg)"
    );
    println!("{r}");
    let file = dir.join(format!("{stem}.md"));
    std::fs::write(&file, r).map_err(|e| e.to_string())?;
    println!(
        "written to {} with {stem}.svg and {stem}-scale.svg",
        file.display()
    );
    Ok(())
}

/// A row's store calls per request, as the host reported them.
fn calls_cell(l: &Load) -> String {
    match l.store_calls {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n:.1}"),
        None => "–".into(),
    }
}

/// The p50 of the row `name` in the simulated-latency pass.
fn latency_cell(latency: &Rows, name: &str) -> String {
    latency
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("–".into(), |(_, l)| format!("{:.2}", l[0].p50_ms))
}

/// `--quick`: every row of our host at 16 connections only (no wasmtime
/// serve, Spin, scale or cold-start runs): the loop to check a change by,
/// with each row's store calls per request, and with `--latency-ms MS` its
/// p50 at one connection in a host whose store calls each wait MS ms.
/// Printed, and written to `bench/results/<date>-quick.md` with its chart
/// `<date>-quick.svg` (`-redis-quick` on Redis).
pub fn quick_table(o: &Opts, latency_ms: Option<u32>) -> Result<(), String> {
    let rows = measure(o, Runtime::Ours)?;
    let latency = match latency_ms {
        Some(ms) => measure(&o.with_latency(ms), Runtime::Ours)?,
        None => Vec::new(),
    };
    let floor = rows[0].1[0].rps;
    let n = o.levels[0];
    let date = sh("date +%Y-%m-%d");
    let store = if o.redis { "Redis" } else { "SQLite" };
    let stem = format!("{date}{}-quick", if o.redis { "-redis" } else { "" });
    let mut r = String::new();
    let _ = writeln!(
        r,
        "# Quick benchmark ({date})\n\n`cargo xtask bench --quick{}{}`: our host only, {} s per row at {n} connections; {} cores ({}), {}. Store: {store}.\n",
        if o.redis { " --redis" } else { "" },
        latency_ms.map_or(String::new(), |ms| format!(" --latency-ms {ms}")),
        o.secs,
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs"),
        sh("uname -sr"),
    );
    let _ = writeln!(
        r,
        "| request ({n} connections) | req/s | p50 ms | p99 ms | ratio to hello | host CPU µs/request | store calls/request |{}\n|---|---:|---:|---:|---:|---:|---:|{}",
        latency_ms.map_or(String::new(), |ms| format!(
            " p50 ms at 1 conn, {ms} ms per store call |"
        )),
        if latency_ms.is_some() { "---:|" } else { "" }
    );
    for (name, loads) in &rows {
        let l = &loads[0];
        let _ = write!(
            r,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2}x | {} | {} |",
            l.rps,
            l.p50_ms,
            l.p99_ms,
            l.rps / floor,
            l.cpu_us.map_or("?".into(), |c| format!("{c:.0}")),
            calls_cell(l),
        );
        if latency_ms.is_some() {
            let _ = write!(r, " {} |", latency_cell(&latency, name));
        }
        let _ = writeln!(r);
    }
    let dir = root().join("bench/results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let names: Vec<String> = rows.iter().map(|(n, _)| n.to_string()).collect();
    let label = format!("ours, {n} connections");
    charts::bars(
        &dir.join(format!("{stem}.svg")),
        &format!("Quick bench {date} ({store}): each row at {n} connections"),
        &names,
        &[(label.as_str(), rows.iter().map(|(_, l)| l[0]).collect())],
    )?;
    let _ = writeln!(r, "\n![Each row at {n} connections]({stem}.svg)");
    print!("{r}");
    let file = dir.join(format!("{stem}.md"));
    std::fs::write(&file, r).map_err(|e| e.to_string())?;
    println!("written to {} with {stem}.svg", file.display());
    Ok(())
}
