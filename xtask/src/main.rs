//! `cargo xtask <task>`: build, run, test and bench Ticketshare.
//!
//! - `build`: every component (release, wasm32-wasip2) and the host (release).
//! - `up`:    build, then serve `spin.toml` on http://127.0.0.1:3000 with the
//!            SQLite store under `.spin/`. Extra arguments go to the host.
//! - `test`:  install what the tests need when missing (redis-server,
//!            chromium, chromium-driver from Debian), build,
//!            run every test.
//! - `bench`: the brief's performance targets measured in one run: every
//!            row at 1/16/64 connections as a ratio to the hello floor, our
//!            host against `wasmtime serve`, and the scale runs, with wrk
//!            (see `bench/`).
//! - `fuzz`:  every cargo-fuzz target for a fixed number of executions; a
//!            crashing input is kept as a regression (see `fuzz.rs`).
//! - `conformance`: Schemathesis against the OpenAPI document on a running
//!            host (see `conformance.rs`).
//! - `cycles`: each crate's module cycles (none allowed; `--graph` also
//!            lists every module's dependencies; see `cycles.rs`).
//! - `screenshots`: the README's pictures of the console and a share page,
//!            taken from the demo workspace in headless Chromium
//!            (`docs/screenshots/`; see `screenshots.rs`).

use std::process::ExitCode;

mod bench;
mod conformance;
mod cycles;
mod fuzz;
mod screenshots;
mod seed;
mod setup;
mod test;
mod up;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "build" => setup::build(),
        "up" => up::up(rest),
        "test" => test::test(rest),
        "bench" => bench::bench(rest),
        "fuzz" => fuzz::fuzz(rest),
        "conformance" => conformance::conformance(rest),
        "cycles" => cycles::cycles(rest),
        "screenshots" => screenshots::screenshots(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <build | up [--allow-private-webhooks] [host args] | test [cargo test args] | bench [--duration SECS] [--redis] [--scale N] | fuzz [--runs N] [TARGET...] | conformance [--examples N] | cycles [--graph] | screenshots [--out DIR]>"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
