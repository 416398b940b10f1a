//! `ticketshare-host` as a process: exit codes, `--version`, and the
//! environment fallbacks `spin up` has (read by clap from the real
//! environment, so they are checked on a child process). None of these needs
//! a compiled component: each run stops before the first one is loaded.

use std::path::PathBuf;
use std::process::{Command, Output};

fn host(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ticketshare-host"));
    c.args(args);
    for k in [
        "SPIN_HTTP_LISTEN_ADDR",
        "RUNTIME_CONFIG_FILE",
        "SPIN_MAX_INSTANCE_MEMORY",
        "TICKETSHARE_CACHE_DIR",
        "SPIN_VARIABLE_SECRET_TOKEN",
        "SPIN_LOG_DIR",
        "RUST_LOG",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().expect("the host binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The contract test app's manifest: its `secret_token` variable is required.
fn contract() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/apps/contract/spin.toml")
        .display()
        .to_string()
}

/// `up` of the contract app with a state dir, then `extra` flags.
fn up_contract(state: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let app = contract();
    let mut args = vec!["up", "--from", &app, "--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    host(&args, env)
}

#[test]
fn version_prints_name_and_version() {
    for flag in ["--version", "-V"] {
        let o = host(&[flag], &[]);
        assert!(o.status.success(), "{flag}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            out.trim(),
            format!("ticketshare-host {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn unknown_flags_and_bad_values_exit_2_with_a_message() {
    let o = host(&["up", "--no-such-flag"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unexpected argument '--no-such-flag'"),
        "{}",
        stderr(&o)
    );
    // The host's old `--cache-dir` is Spin's registry cache: refused, with
    // the flag to use instead.
    let o = host(&["up", "--cache-dir", "/tmp/x"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--wasm-cache-dir"), "{}", stderr(&o));
    // Close to a real flag: clap suggests it.
    let o = host(&["up", "--listne", "127.0.0.1:0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--listen"), "{}", stderr(&o));
}

#[test]
fn help_reads_like_spin_up() {
    let o = host(&["up", "--help"], &[]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.starts_with("Start the Spin application"), "{help}");
    for flag in [
        "-f, --from <APPLICATION>",
        "--listen <ADDRESS>",
        "SPIN_HTTP_LISTEN_ADDR",
        "--runtime-config-file <RUNTIME_CONFIG_FILE>",
        "--state-dir <STATE_DIR>",
        "--variable <KEY=VALUE",
        "--max-instance-memory <BYTES>",
        "--request-timeout <DURATION>",
        "--wasm-cache-dir <DIR>",
        "--access-log",
        "-L, --log-dir <APP_LOG_DIR>",
        "SPIN_LOG_DIR",
        "--truncate-logs",
        "--follow <COMPONENT>",
        "-q, --quiet",
        "--host-log-format <FORMAT>",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn listen_and_memory_fall_back_to_spin_environment_variables() {
    let o = host(&["up"], &[("SPIN_HTTP_LISTEN_ADDR", "not-an-address")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'not-an-address' for '--listen"),
        "{}",
        stderr(&o)
    );
    let o = host(&["up"], &[("SPIN_MAX_INSTANCE_MEMORY", "lots")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'lots' for '--max-instance-memory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runtime_config_file_falls_back_to_its_environment_variable() {
    let state = std::env::temp_dir().join(format!("host-cli-{}", std::process::id()));
    let missing = "/nonexistent/ticketshare/rc.toml";
    let o = up_contract(
        &state,
        &["--variable", "secret_token=from-the-flag"],
        &[("RUNTIME_CONFIG_FILE", missing)],
    );
    assert_eq!(o.status.code(), Some(1));
    // The required variable was supplied by --variable; the run stopped at
    // the runtime config named only in the environment.
    assert!(
        stderr(&o).contains(&format!("cannot read runtime config {missing}")),
        "{}",
        stderr(&o)
    );
    // Without the flag the same run stops earlier, naming both ways to set it.
    let o = up_contract(&state, &[], &[("RUNTIME_CONFIG_FILE", missing)]);
    let err = stderr(&o);
    assert!(
        err.contains("SPIN_VARIABLE_SECRET_TOKEN") && err.contains("--variable secret_token="),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn benchmark_flags_parse_and_are_listed_as_testing_options() {
    let o = host(&["up", "--help"], &[]);
    let help = String::from_utf8_lossy(&o.stdout);
    let testing = help
        .split_once("Testing options")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no testing section in:\n{help}"));
    for flag in ["--simulate-store-latency-ms <MS>", "--report-store-calls"] {
        assert!(testing.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(testing.contains("benchmarks only"), "{help}");
    // A good value parses: the run goes on to the (missing) runtime config.
    let missing = "/nonexistent/ticketshare/rc.toml";
    let state = std::env::temp_dir().join(format!("host-cli-bench-{}", std::process::id()));
    for args in [
        &["--simulate-store-latency-ms", "2"][..],
        &["--report-store-calls"],
    ] {
        let env = [
            ("RUNTIME_CONFIG_FILE", missing),
            ("SPIN_VARIABLE_SECRET_TOKEN", "x"),
        ];
        let o = up_contract(&state, args, &env);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(missing), "{}", stderr(&o));
    }
    let _ = std::fs::remove_dir_all(&state);
    for bad in ["-1", "2ms", "10001"] {
        let o = host(&["up", "--simulate-store-latency-ms", bad], &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&o).contains("--simulate-store-latency-ms"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn log_flags_are_checked_like_spin_up() {
    // --quiet and --follow contradict each other; a format is text or json.
    for args in [
        &["up", "-q", "--follow", "contract"][..],
        &["up", "--host-log-format", "yaml"],
        &["up", "--follow"],
    ] {
        let o = host(args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    // A followed component the app does not have: refused at start with
    // the list of those it has, before anything is compiled or written.
    let state = std::env::temp_dir().join(format!("host-cli-follow-{}", std::process::id()));
    let o = up_contract(
        &state,
        &["--follow", "contract", "--follow", "nope"],
        &[("SPIN_VARIABLE_SECRET_TOKEN", "x")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("do not exist in the application:\n  - nope\n")
            && err.contains("  - contract\n  - hidden"),
        "{err}"
    );
    assert!(!state.join("logs").exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&state);
}
