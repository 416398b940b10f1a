//! `cargo xtask test`: install what the tests need, check formatting,
//! build, and run every package's tests.

use crate::setup::{build, cargo, ensure_debian, ensure_python_module, run};

/// Install the tests' tools when missing, check formatting, build, then
/// `cargo test --release` over every package (extra arguments go to cargo).
pub fn test(extra: &[String]) -> Result<(), String> {
    ensure_debian("redis-server", "redis-server")?;
    ensure_debian("chromium", "chromium")?;
    ensure_debian("chromedriver", "chromium-driver")?;
    ensure_python_module("standardwebhooks", "standardwebhooks")?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    build()?;
    let mut c = cargo();
    c.args([
        "test",
        "--release",
        "-p",
        "host",
        "-p",
        "assets",
        "-p",
        "domain",
        "-p",
        "api",
        "-p",
        "spinfile",
        "-p",
        "fuzzing",
        "-p",
        "testkit",
        "-p",
        "tests",
        "-p",
        "xtask",
    ])
    .args(extra);
    c.env("TICKETSHARE_PREBUILT", "1");
    run(c)
}
