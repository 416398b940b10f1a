//! `ticketshare-host up`: serve a Spin application, with flags mirroring `spin up`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use host::app::{App, LoadOptions};
use host::kv::FaultSettings;
use host::server::{ServeOptions, Server};

const USAGE: &str = "\
Usage: ticketshare-host up [OPTIONS]

Serve a Spin application (spin.toml, manifest v2) locally.

Options:
  -f, --from <PATH>                 spin.toml, or a directory holding one [default: spin.toml]
      --listen <ADDR>               address to listen on [default: 127.0.0.1:3000]
      --runtime-config-file <PATH>  Spin runtime config (key-value stores,
                                    [outbound_networking] block_networks)
      --state-dir <DIR>             state directory [default: .spin next to spin.toml]
      --cache-dir <DIR>             compiled-component cache [default: $TICKETSHARE_CACHE_DIR or ~/.cache/ticketshare-host]
      --request-timeout <SECS>      per-request deadline in seconds [default: 30]
      --max-memory-mb <MB>          memory cap per instance [default: 128]
      --max-in-flight <N>           requests served at once [default: 256]
      --max-body-mb <MB>            largest request body accepted [default: 16]
      --header-read-timeout <SECS>  longest wait for a request head, and for the next
                                    request on an idle kept-alive connection [default: 10]
      --max-connections <N>         open connections at once; a newcomer replaces the
                                    longest-idle one, or gets 503 if all are busy [default: 1024]
      --access-log                  print one line per request (route pattern only)
      --allow-clock-shift           TESTS ONLY: enable POST /.well-known/ticketshare/clock
      --simulate-store-faults <RATE>
                                    TESTS ONLY: fail this fraction (0 to 1, e.g. 0.1) of the
                                    components' key-value calls on purpose: before the call
                                    (nothing done), or after a write (reply lost; a swap
                                    that wrote may report CasFailed) [default: off]
      --simulate-store-faults-seed <N>
                                    TESTS ONLY: seed of those faults, so a run can be
                                    repeated [default: 17]; TICKETSHARE_LOG=debug prints
                                    one line per fault
  -h, --help                        print this help
";

struct Args {
    from: PathBuf,
    listen: SocketAddr,
    runtime_config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    request_timeout: Duration,
    max_memory_mb: usize,
    max_in_flight: usize,
    max_body_mb: u64,
    header_timeout: Duration,
    max_connections: usize,
    access_log: bool,
    allow_clock_shift: bool,
    simulate_store_faults: Option<f64>,
    simulate_store_faults_seed: Option<u64>,
}

/// The seed of `--simulate-store-faults` unless one is given: fixed, so two
/// runs of the same test fail the same calls.
const DEFAULT_FAULT_SEED: u64 = 17;

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("up") => {}
        Some("-h" | "--help") | None => {
            print!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
    let mut a = Args {
        from: PathBuf::from("spin.toml"),
        listen: "127.0.0.1:3000".parse()?,
        runtime_config: None,
        state_dir: None,
        cache_dir: None,
        request_timeout: Duration::from_secs(30),
        max_memory_mb: 128,
        max_in_flight: 256,
        max_body_mb: 16,
        header_timeout: Duration::from_secs(10),
        max_connections: 1024,
        access_log: false,
        allow_clock_shift: false,
        simulate_store_faults: None,
        simulate_store_faults_seed: None,
    };
    while let Some(flag) = it.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = |name: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .with_context(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-f" | "--from" => a.from = value("--from")?.into(),
            "--listen" => {
                let v = value("--listen")?;
                a.listen = v
                    .parse()
                    .with_context(|| format!("--listen: invalid address {v:?}"))?;
            }
            "--runtime-config-file" => {
                a.runtime_config = Some(value("--runtime-config-file")?.into())
            }
            "--state-dir" => a.state_dir = Some(value("--state-dir")?.into()),
            "--cache-dir" => a.cache_dir = Some(value("--cache-dir")?.into()),
            "--request-timeout" => a.request_timeout = seconds("--request-timeout", value)?,
            "--header-read-timeout" => a.header_timeout = seconds("--header-read-timeout", value)?,
            "--max-connections" => {
                a.max_connections = value("--max-connections")?
                    .parse()
                    .context("--max-connections")?
            }
            "--max-memory-mb" => {
                a.max_memory_mb = value("--max-memory-mb")?
                    .parse()
                    .context("--max-memory-mb")?
            }
            "--max-in-flight" => {
                a.max_in_flight = value("--max-in-flight")?
                    .parse()
                    .context("--max-in-flight")?
            }
            "--max-body-mb" => {
                a.max_body_mb = value("--max-body-mb")?.parse().context("--max-body-mb")?
            }
            "--access-log" => a.access_log = true,
            "--allow-clock-shift" => a.allow_clock_shift = true,
            "--simulate-store-faults" => {
                let v = value("--simulate-store-faults")?;
                let rate = v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r));
                let Some(rate) = rate else {
                    bail!(
                        "--simulate-store-faults: {v:?} is not a fraction from 0 to 1 (e.g. 0.1)"
                    );
                };
                a.simulate_store_faults = Some(rate);
            }
            "--simulate-store-faults-seed" => {
                let v = value("--simulate-store-faults-seed")?;
                a.simulate_store_faults_seed = Some(v.parse().with_context(|| {
                    format!(
                        "--simulate-store-faults-seed: {v:?} is not a whole number from 0 to {}",
                        u64::MAX
                    )
                })?);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    if a.max_in_flight == 0 || a.max_memory_mb == 0 || a.max_connections == 0 {
        bail!("--max-in-flight, --max-memory-mb and --max-connections must be positive");
    }
    if a.simulate_store_faults_seed.is_some() && a.simulate_store_faults.is_none() {
        bail!("--simulate-store-faults-seed needs --simulate-store-faults <RATE>");
    }
    Ok(a)
}

/// A positive duration in seconds (`2`, `0.5`, `30s`).
fn seconds(name: &str, value: impl FnOnce(&str) -> Result<String>) -> Result<Duration> {
    let v = value(name)?;
    let secs: f64 = v
        .trim_end_matches('s')
        .parse()
        .with_context(|| format!("{name}: {v:?}"))?;
    if !(secs > 0.0 && secs < 1e9) {
        bail!("{name} must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TICKETSHARE_CACHE_DIR") {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("ticketshare-host");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("ticketshare-host"),
        None => std::env::temp_dir().join("ticketshare-host-cache"),
    }
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let started = Instant::now();
    let args = parse_args()?;
    let manifest = if args.from.is_dir() {
        args.from.join("spin.toml")
    } else {
        args.from.clone()
    };
    let app_dir = manifest.parent().map(|p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    });
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| app_dir.unwrap_or_default().join(".spin"));
    let max_instances = (args.max_in_flight as u32 * 2).max(64);
    let load = LoadOptions {
        manifest,
        state_dir,
        runtime_config: args.runtime_config.clone(),
        cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
        max_memory: args.max_memory_mb * 1024 * 1024,
        max_instances,
        simulate_store_faults: args.simulate_store_faults.map(|rate| FaultSettings {
            rate,
            seed: args
                .simulate_store_faults_seed
                .unwrap_or(DEFAULT_FAULT_SEED),
            log: std::env::var("TICKETSHARE_LOG").is_ok_and(|v| v == "debug"),
        }),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = App::load(&load, |k| std::env::var(k).ok()).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let routes: Vec<String> = (0..app.targets.len())
            .map(|i| {
                format!(
                    "  {}: http://{addr}{}",
                    app.components[app.targets[i]].id,
                    app.route_pattern(i).raw()
                )
            })
            .collect();
        let hits = app.cache_hits;
        let faults = app.stores.faults().cloned();
        let total = app.components.len();
        let server = Server::new(
            app,
            ServeOptions {
                request_timeout: args.request_timeout,
                max_memory: args.max_memory_mb * 1024 * 1024,
                max_in_flight: args.max_in_flight,
                access_log: args.access_log,
                allow_clock_shift: args.allow_clock_shift,
                max_body: args.max_body_mb * 1024 * 1024,
                header_timeout: args.header_timeout,
                max_connections: args.max_connections,
            },
        );
        // Write errors (a closed pipe) must never take the server down.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Serving http://{addr}");
        let _ = writeln!(out, "Available Routes:");
        for r in routes {
            let _ = writeln!(out, "{r}");
        }
        let _ = writeln!(
            out,
            "Ready in {} ms ({hits} of {total} components from the compile cache)",
            started.elapsed().as_millis()
        );
        if args.allow_clock_shift {
            let _ = writeln!(out, "WARNING: clock shifting is enabled (tests only)");
        }
        if let Some(f) = &faults {
            let _ = writeln!(
                out,
                "WARNING: simulated store faults are enabled (tests only): rate {}, seed {}",
                f.rate(),
                f.seed()
            );
        }
        let _ = out.flush();
        drop(out);
        let Some(faults) = faults else {
            return server.serve(listener).await;
        };
        tokio::select! {
            r = server.serve(listener) => r,
            status = stop_signal() => {
                eprintln!("simulated store faults: {}", faults.counts());
                std::process::exit(status);
            }
        }
    })
}

/// Waits for SIGINT or SIGTERM; the exit status a process killed by it has.
async fn stop_signal() -> i32 {
    async fn interrupt() {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    }
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => return 128 + 15,
            _ = interrupt() => return 128 + 2,
        }
    }
    interrupt().await;
    128 + 2
}
