//! `cargo xtask conformance`: Schemathesis against the OpenAPI document on
//! a release host with the bench's seeded workspace.

use std::process::Command;

use testkit::root;

use crate::bench::seeding::seed;
use crate::bench::server::{Opts, Runtime};
use crate::setup::{build, ensure_python_module};

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
    ensure_python_module("schemathesis", "schemathesis")?;
    build()?;
    testkit::host::assume_built();
    let tmp = testkit::target_dir().join("conformance");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let o = Opts {
        secs: 1,
        levels: vec![16],
        only: None,
        redis: false,
        scale: 100,
        cache: testkit::target_dir().join("bench/cache"),
        tmp: tmp.clone(),
        invites: 0,
        latency_ms: None,
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
