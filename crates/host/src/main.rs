//! `ticketshare-host up`: serve a Spin application, with flags mirroring `spin up`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use host::app::{App, LoadOptions};
use host::cli::{Cli, DEFAULT_FAULT_SEED, HostCommand, default_wasm_cache_dir};
use host::kv::FaultSettings;
use host::server::{ServeOptions, Server};

fn main() {
    // Usage errors (unknown flag, bad value) print clap's message and exit 2;
    // `--help` and `--version` print and exit 0.
    let HostCommand::Up(args) = Cli::parse().command;
    host::logs::init(args.host_log_format);
    if let Err(e) = real_main(args) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(args: host::cli::UpArgs) -> Result<()> {
    let started = Instant::now();
    host::cli::check(&args)?;
    let variables = args.variables()?;
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
    let stdio = args.stdio(&state_dir);
    let load = LoadOptions {
        manifest,
        stdio,
        state_dir,
        runtime_config: args.runtime_config_file.clone(),
        cache_dir: args
            .wasm_cache_dir
            .clone()
            .unwrap_or_else(default_wasm_cache_dir),
        max_memory: args.max_memory(),
        variables,
        max_instances,
        simulate_store_faults: args.simulate_store_faults.map(|rate| FaultSettings {
            rate,
            seed: args
                .simulate_store_faults_seed
                .unwrap_or(DEFAULT_FAULT_SEED),
        }),
        simulate_store_latency: args
            .simulate_store_latency_ms
            .map(std::time::Duration::from_millis),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = App::load(&load, |k| std::env::var(k).ok()).await?;
        if let Some(dir) = &load.stdio.log_dir {
            // As `spin up` says it (its stderr), before "Serving".
            host::logs::note(&format!(
                "Logging component stdio to \"{}\"",
                dir.join("").display()
            ));
        }
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
        let flusher = args
            .flush_webhooks_every
            .map(|every| host::flusher::Flusher::new(&app, addr, every))
            .transpose()?;
        let hits = app.cache_hits;
        let faults = app.stores.faults().cloned();
        let total = app.components.len();
        let server = Server::new(
            app,
            ServeOptions {
                request_timeout: args.request_timeout,
                max_memory: args.max_memory(),
                max_in_flight: args.max_in_flight,
                access_log: args.access_log.then_some(args.host_log_format),
                allow_clock_shift: args.allow_clock_shift,
                max_body: args.max_body_mb * 1024 * 1024,
                header_timeout: args.header_read_timeout,
                max_connections: args.max_connections,
                report_store_calls: args.reports_store_calls(),
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
        if let Some(ms) = args.simulate_store_latency_ms {
            let _ = writeln!(
                out,
                "WARNING: simulated store latency is enabled (benchmarks only): {ms} ms per key-value call"
            );
        }
        let _ = out.flush();
        drop(out);
        if let Some(flusher) = flusher {
            tokio::spawn(flusher.run());
        }
        let Some(faults) = faults else {
            return server.serve(listener).await;
        };
        tokio::select! {
            r = server.serve(listener) => r,
            status = stop_signal() => {
                tracing::info!("simulated store faults: {}", faults.counts());
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
