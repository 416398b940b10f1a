//! `cargo xtask fuzz [--runs N] [TARGET...]`: every cargo-fuzz target in
//! `fuzz/` (the checks of `crates/fuzzing`) for a fixed number of
//! executions, starting from the seeds and the kept regressions (and
//! `fuzz/<target>.dict`, libFuzzer's dictionary, where there is one).
//!
//! cargo-fuzz is installed with cargo into `<target dir>/tools` when missing; the
//! targets build on the pinned stable toolchain (`RUSTC_BOOTSTRAP=1` for the
//! coverage flags libFuzzer needs) into `<target dir>/fuzz`, with debug assertions
//! and without a sanitizer (the code under test is safe Rust: a panic is the
//! failure we look for). A crashing input is copied to
//! `fuzz/regressions/<target>/`, where the test suite replays it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::root;

const TARGETS: &[&str] = &[
    "manifest",
    "routes",
    "requests",
    "tokens",
    "signatures",
    "inbound",
    "markdown",
];

/// One target's figures.
struct Outcome {
    target: &'static str,
    runs: u64,
    secs: f64,
    coverage: u64,
    corpus: u64,
    crash: Option<PathBuf>,
}

/// Run the fuzz targets.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask fuzz [--runs N] [TARGET...]";
    let mut runs: u64 = 100_000;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or(usage)?
            }
            t => match TARGETS.iter().find(|x| **x == t) {
                Some(t) => chosen.push(*t),
                None => return Err(format!("unknown target {t:?}; targets: {TARGETS:?}")),
            },
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }
    let cargo_fuzz = crate::setup::cargo_tool("cargo-fuzz", None, "cargo-fuzz")?;
    let fuzz_dir = root().join("fuzz");
    let target_dir = testkit::target_dir().join("fuzz");
    let mut outcomes = Vec::new();
    for target in chosen {
        let corpus = target_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        let regressions = fuzz_dir.join("regressions").join(target);
        let artifacts = target_dir.join("artifacts").join(target);
        let _ = std::fs::remove_dir_all(&artifacts);
        std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&cargo_fuzz);
        cmd.current_dir(root())
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--fuzz-dir"])
            .arg(&fuzz_dir)
            .args(["--sanitizer", "none", "--debug-assertions", "--target-dir"])
            .arg(&target_dir)
            .arg(target)
            .arg(&corpus)
            .arg(fuzz_dir.join("seeds").join(target));
        if regressions.is_dir() {
            cmd.arg(&regressions);
        }
        cmd.arg("--");
        let dict = fuzz_dir.join(format!("{target}.dict"));
        if dict.exists() {
            cmd.arg(format!("-dict={}", dict.display()));
        }
        cmd.arg(format!("-runs={runs}"))
            .arg("-timeout=10")
            .arg("-rss_limit_mb=4096")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped());
        eprintln!("fuzz: {target}, {runs} runs");
        let t0 = Instant::now();
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let secs = t0.elapsed().as_secs_f64();
        let err = String::from_utf8_lossy(&out.stderr);
        let stat = |name: &str| -> u64 {
            err.lines()
                .filter_map(|l| l.strip_prefix(name))
                .filter_map(|v| v.trim_start_matches(':').trim().parse().ok())
                .next_back()
                .unwrap_or(0)
        };
        let coverage = err
            .lines()
            .filter_map(|l| l.split_once(" cov: "))
            .filter_map(|(_, r)| r.split_whitespace().next()?.parse().ok())
            .next_back()
            .unwrap_or(0);
        let crash = std::fs::read_dir(&artifacts)
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path()).next());
        if let Some(c) = &crash {
            std::fs::create_dir_all(&regressions).map_err(|e| e.to_string())?;
            let kept = regressions.join(c.file_name().unwrap());
            std::fs::copy(c, &kept).map_err(|e| e.to_string())?;
            eprintln!("{err}");
            eprintln!(
                "fuzz: {target} failed; the input is kept as {}",
                kept.display()
            );
        } else if !out.status.success() {
            return Err(format!("cargo fuzz run {target} failed:\n{err}"));
        }
        outcomes.push(Outcome {
            target,
            runs: stat("stat::number_of_executed_units"),
            secs,
            coverage,
            corpus: std::fs::read_dir(&corpus)
                .map(|d| d.count() as u64)
                .unwrap_or(0),
            crash,
        });
    }
    println!(
        "\n| target | executions | seconds (with build) | coverage (edges) | corpus | result |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for o in &outcomes {
        println!(
            "| {} | {} | {:.0} | {} | {} | {} |",
            o.target,
            o.runs,
            o.secs,
            o.coverage,
            o.corpus,
            if o.crash.is_some() {
                "CRASH (kept)"
            } else {
                "ok"
            }
        );
    }
    if outcomes.iter().any(|o| o.crash.is_some()) {
        return Err("a fuzz target failed; see fuzz/regressions/".into());
    }
    Ok(())
}
