//! What one measurement sends and how: wrk from a separate process with a
//! Lua script, or our own keep-alive client for a fixed set of requests.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use testkit::http::Client;

/// wrk's figures for one run.
#[derive(Clone, Copy)]
pub struct Load {
    /// Requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Server CPU time per request, in microseconds (where measured).
    pub cpu_us: Option<f64>,
    /// Key-value calls per request, as our host reports them
    /// (`x-ticketshare-store-calls`, `--report-store-calls`): from one
    /// request of the row, or the mean over a fixed set; `None` where the
    /// server does not report them.
    pub store_calls: Option<f64>,
}

/// The response header our host reports a request's store calls in.
pub const STORE_CALLS_HEADER: &str = "x-ticketshare-store-calls";

/// The store calls a response reports, if it does.
fn store_calls(r: &testkit::http::Resp) -> Option<f64> {
    r.header(STORE_CALLS_HEADER)?.parse().ok()
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
pub enum Traffic {
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
    /// A GET with these headers.
    pub fn get(path: &str, headers: &[(&str, &str)]) -> Traffic {
        Traffic::Fixed {
            method: "GET",
            path: path.into(),
            headers: own(headers),
            body: String::new(),
        }
    }
}

/// Owned copies of borrowed headers.
pub fn own(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Borrowed views of owned headers.
pub fn borrow(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Requests the probe sends: the first may cost more than the rest (the
/// first write of a kind on a fresh ticket), so the store calls are the
/// mean of the others.
const PROBES: u32 = 4;

/// Send requests of the traffic and check they succeed, so a row that would
/// only measure errors says why before the load starts; returns the mean
/// store calls of all but the first, as the host reports them. Numbered
/// bodies are sent with the ids `probe0`, `probe1`...
fn probe(addr: &str, traffic: &Traffic) -> Result<Option<f64>, String> {
    let c = Client::new(addr);
    let mut calls = Vec::new();
    for i in 0..PROBES {
        let (method, path, headers, body) = match traffic {
            Traffic::Fixed {
                method,
                path,
                headers,
                body,
            } => (*method, path, headers, body.clone()),
            Traffic::Numbered {
                path,
                headers,
                pre,
                post,
            } => ("POST", path, headers, format!("{pre}probe{i}{post}")),
            Traffic::OncePaths(_) => return Ok(None),
        };
        let r = c.send(method, path, &borrow(headers), body.as_bytes())?;
        if r.status >= 400 {
            return Err(format!(
                "{method} {path} answers {}: {}",
                r.status,
                r.text()
            ));
        }
        calls.extend(store_calls(&r).filter(|_| i > 0));
    }
    Ok(mean(&calls))
}

/// The mean, if there is anything to average.
fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// POST every path once over `conns` keep-alive connections (a path each
/// at a time, from a shared queue); each must answer 2xx or 3xx. The
/// figures are wall time over the whole set and each request's latency.
fn once_load(addr: &str, paths: &[String], conns: u32) -> Result<Load, String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let c = Client::keep_alive(addr, conns as usize);
    let t0 = Instant::now();
    let results: Vec<Result<(Vec<f64>, Vec<f64>), String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                sc.spawn(|| {
                    let mut lat = Vec::new();
                    let mut calls = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = paths.get(i) else {
                            return Ok((lat, calls));
                        };
                        let t = Instant::now();
                        let r = c.send(
                            "POST",
                            p,
                            &[
                                ("Content-Type", "application/x-www-form-urlencoded"),
                                // As the invitation page's form, from this site.
                                ("Sec-Fetch-Site", "same-origin"),
                            ],
                            b"",
                        )?;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        calls.extend(store_calls(&r));
                        if r.status >= 400 {
                            return Err(format!("POST {p} answered {}: {}", r.status, r.text()));
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut calls = Vec::new();
    for r in results {
        let (l, c) = r?;
        all.extend(l);
        calls.extend(c);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Load {
        cpu_us: None,
        store_calls: mean(&calls),
        rps: all.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// Run wrk against `addr` with `conns` connections for `secs`.
pub fn wrk(
    addr: &str,
    traffic: &Traffic,
    conns: u32,
    secs: u32,
    tmp: &Path,
) -> Result<Load, String> {
    let store_calls = probe(addr, traffic)?;
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
        store_calls,
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
