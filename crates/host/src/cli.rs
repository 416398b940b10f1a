//! The command line of `ticketshare-host`, parsed by `clap`.
//!
//! `ticketshare-host up` takes `spin up`'s flags with `spin up`'s meaning
//! wherever the host has the feature (`--from`, `--listen` and
//! `SPIN_HTTP_LISTEN_ADDR`, `--runtime-config-file` and `RUNTIME_CONFIG_FILE`,
//! `--state-dir`, `--variable`, `--max-instance-memory` and
//! `SPIN_MAX_INSTANCE_MEMORY`, `--request-timeout`, `--log-dir` and
//! `SPIN_LOG_DIR`, `--truncate-logs`, `--follow`, `--quiet`). The host's own extras
//! have names Spin does not use, so a flag never means two things.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

pub use crate::logs::LogFormat;
use crate::stdio::{Follow, StdioOptions};

/// The memory cap per instance unless `--max-instance-memory` says otherwise.
pub const DEFAULT_MAX_INSTANCE_MEMORY: usize = 128 * 1024 * 1024;

/// The seed of `--simulate-store-faults` unless one is given: fixed, so two
/// runs of the same test fail the same calls.
pub const DEFAULT_FAULT_SEED: u64 = 17;

const HOST_HEADING: &str = "Host options (ticketshare-host only)";
const TEST_HEADING: &str = "Testing options (never in production)";

/// A Spin-compatible host for Ticketshare: runs spin.toml apps on wasmtime.
#[derive(Debug, Parser)]
#[command(name = "ticketshare-host", version, arg_required_else_help = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: HostCommand,
}

/// The host's commands.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Start the Spin application
    Up(UpArgs),
}

/// `ticketshare-host up`: the flags of `spin up` the host implements, then its own.
#[derive(Debug, Args)]
// A flag given twice takes its last value (`cargo xtask up --listen …`
// overrides xtask's own `--listen`); `--variable` accumulates.
#[command(about = "Start the Spin application", args_override_self = true)]
pub struct UpArgs {
    /// The application to run: a manifest (spin.toml) file or a directory
    /// containing a spin.toml file. If omitted, it defaults to "spin.toml".
    #[arg(short = 'f', long = "from", value_name = "APPLICATION", default_value = "spin.toml",
        value_parser = clap::builder::PathBufValueParser::new())]
    pub from: PathBuf,

    /// IP address and port to listen on
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", value_name = "ADDRESS",
        default_value = "127.0.0.1:3000", value_parser = parse_listen_addr)]
    pub listen: SocketAddr,

    /// Configuration file for key-value stores and outbound networking
    ///
    /// Spin's format: `[key_value_store.<label>]` (SQLite with a path, or
    /// Redis) and `[outbound_networking] block_networks`.
    #[arg(long, env = "RUNTIME_CONFIG_FILE", value_name = "RUNTIME_CONFIG_FILE",
        value_parser = clap::builder::PathBufValueParser::new())]
    pub runtime_config_file: Option<PathBuf>,

    /// Set the application state directory path. This is used in the
    /// default location of the key-value store. Defaults to `.spin/`
    /// relative to the `spin.toml` file.
    #[arg(long, value_name = "STATE_DIR",
        value_parser = clap::builder::PathBufValueParser::new())]
    pub state_dir: Option<PathBuf>,

    /// Variable(s) to be passed to the app
    ///
    /// A single key-value pair can be passed as `key=value`, or `key=@file` to
    /// read the value from a text file. Alternatively, any number of key-value
    /// pairs may be passed via a JSON or TOML file using the syntax `@file.json`
    /// or `@file.toml`. A value given here wins over `SPIN_VARIABLE_<KEY>`.
    ///
    /// This option may be repeated. If the same key is specified multiple
    /// times the last value will be used.
    #[arg(long, value_name = "KEY=VALUE | KEY=@FILE | @FILE.json | @FILE.toml",
        value_parser = parse_variable_source)]
    pub variable: Vec<VariableSource>,

    /// Sets the maximum memory allocation limit for an instance in bytes
    /// (default 134217728: 128 MiB)
    #[arg(long, env = "SPIN_MAX_INSTANCE_MEMORY", value_name = "BYTES",
        value_parser = parse_positive_usize, allow_negative_numbers = true)]
    pub max_instance_memory: Option<usize>,

    /// Request timeout to enforce
    ///
    /// A request's body must arrive and a slot come free within it (408 /
    /// 503 otherwise), and the component then runs for at most as long, its
    /// outgoing requests included.
    ///
    /// A number with no suffix or with an `s` suffix is interpreted as
    /// seconds; other accepted suffixes are `ms`, `us` (or `μs`) and `ns`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration,
        allow_negative_numbers = true)]
    pub request_timeout: Duration,

    /// Log directory for the stdout and stderr of components. Setting to
    /// the empty string disables logging to disk.
    ///
    /// Defaults to `logs/` in the state directory; each component appends
    /// to `<component-id>_stdout.txt` and `<component-id>_stderr.txt`.
    #[arg(short = 'L', long = "log-dir", env = "SPIN_LOG_DIR", value_name = "APP_LOG_DIR",
        value_parser = parse_any_path)]
    pub log_dir: Option<PathBuf>,

    /// If set, the host truncates the log files before starting the
    /// application.
    #[arg(long)]
    pub truncate_logs: bool,

    /// Print output to stdout/stderr only for given component(s)
    ///
    /// Component output goes to the host's stderr; without --follow, every
    /// component's does. This option may be repeated.
    #[arg(long = "follow", value_name = "COMPONENT", conflicts_with = "quiet")]
    pub follow: Vec<String>,

    /// Silence all component output to stdout/stderr
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Compiled-code (Wasm) cache directory (default
    /// ~/.cache/ticketshare-host)
    ///
    /// Not Spin's `--cache-dir`, its registry cache, which this host does not
    /// have.
    #[arg(long, env = "TICKETSHARE_CACHE_DIR", value_name = "DIR",
        help_heading = HOST_HEADING, value_parser = clap::builder::PathBufValueParser::new())]
    pub wasm_cache_dir: Option<PathBuf>,

    /// Requests served at once
    #[arg(long, value_name = "N", default_value_t = 256, help_heading = HOST_HEADING,
        value_parser = parse_positive_usize, allow_negative_numbers = true)]
    pub max_in_flight: usize,

    /// Largest request body accepted, in MiB
    ///
    /// Counted as the body arrives, chunked or not: 413 as soon as it is
    /// passed.
    #[arg(long, value_name = "MB", default_value_t = 16, help_heading = HOST_HEADING,
        value_parser = clap::value_parser!(u64).range(1..=4096), allow_negative_numbers = true)]
    pub max_body_mb: u64,

    /// Longest wait for a request head or an idle connection's next request
    ///
    /// Same units as --request-timeout.
    #[arg(long, value_name = "DURATION", default_value = "10s", help_heading = HOST_HEADING,
        value_parser = parse_duration, allow_negative_numbers = true)]
    pub header_read_timeout: Duration,

    /// Open connections at once
    ///
    /// At the bound a newcomer replaces the longest-idle connection, or gets
    /// 503 if every one is serving a request.
    #[arg(long, value_name = "N", default_value_t = 1024, help_heading = HOST_HEADING,
        value_parser = parse_positive_usize, allow_negative_numbers = true)]
    pub max_connections: usize,

    /// Run the deployment's webhook retry flush on this interval (off by
    /// default)
    ///
    /// POSTs /api/v1/webhooks/deployment-flush to this host's own listener
    /// with the admin_token variable, and again at once while it answers
    /// "more". Same units as --request-timeout.
    #[arg(long, value_name = "DURATION", help_heading = HOST_HEADING,
        value_parser = parse_duration, allow_negative_numbers = true)]
    pub flush_webhooks_every: Option<Duration>,

    /// Print one line per request (on stderr)
    ///
    /// Time, method, path, status, body bytes, duration, component and
    /// route; tokens in the path are redacted (`/p/…`), the query string and
    /// headers are never written.
    #[arg(long, help_heading = HOST_HEADING)]
    pub access_log: bool,

    /// Format of the host's own log lines (its events and the access log):
    /// text, or one JSON object a line
    ///
    /// Which events are written follows RUST_LOG (default: `info` for the
    /// host, `warn` for its dependencies). Component output is not affected.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text,
        help_heading = HOST_HEADING)]
    pub host_log_format: LogFormat,

    /// Enable POST /.well-known/ticketshare/clock
    #[arg(long, help_heading = TEST_HEADING)]
    pub allow_clock_shift: bool,

    /// Fail this fraction (0 to 1) of the components' key-value calls
    ///
    /// On purpose, picked by a seeded generator: before the call (nothing
    /// done), or after a write (reply lost; a swap that wrote may report
    /// CasFailed).
    #[arg(long, value_name = "RATE", help_heading = TEST_HEADING, value_parser = parse_rate,
        allow_negative_numbers = true)]
    pub simulate_store_faults: Option<f64>,

    /// Seed of those faults, so a run repeats (default 17)
    ///
    /// RUST_LOG=info,host::faults=debug prints one line per fault.
    #[arg(long, value_name = "N", help_heading = TEST_HEADING,
        requires = "simulate_store_faults", value_parser = parse_seed,
        allow_negative_numbers = true)]
    pub simulate_store_faults_seed: Option<u64>,

    /// Make each component key-value call wait MS milliseconds (benchmarks only)
    ///
    /// Every guest call (single, batch, atomic) waits this long before it is
    /// served, as a remote store's round trip would; the host's own calls
    /// never wait. Implies --report-store-calls. Up to 10000.
    #[arg(long, value_name = "MS", help_heading = TEST_HEADING,
        value_parser = parse_latency_ms, allow_negative_numbers = true)]
    pub simulate_store_latency_ms: Option<u64>,

    /// Send x-ticketshare-store-calls: N on component responses (benchmarks only)
    ///
    /// N: the key-value calls the component made before its response head,
    /// one per call (a batch counts one).
    #[arg(long, help_heading = TEST_HEADING)]
    pub report_store_calls: bool,

    /// The host's old name for the memory cap, in MiB; use
    /// --max-instance-memory (bytes) instead.
    #[arg(long, value_name = "MB", hide = true, conflicts_with = "max_instance_memory",
        value_parser = parse_positive_usize, allow_negative_numbers = true)]
    pub max_memory_mb: Option<usize>,

    /// Spin's registry cache; refused with a pointer to --wasm-cache-dir so
    /// the host's old flag of that name never silently changes meaning.
    #[arg(long, value_name = "DIR", hide = true, value_parser = refuse_cache_dir)]
    pub cache_dir: Option<PathBuf>,
}

impl UpArgs {
    /// Whether responses carry `x-ticketshare-store-calls`
    /// (`--report-store-calls`, or implied by `--simulate-store-latency-ms`).
    pub fn reports_store_calls(&self) -> bool {
        self.report_store_calls || self.simulate_store_latency_ms.is_some()
    }

    /// Where component output goes: `--log-dir` (default `<state_dir>/logs`,
    /// none when empty), `--follow`, `--quiet` and `--truncate-logs`.
    pub fn stdio(&self, state_dir: &std::path::Path) -> StdioOptions {
        let log_dir = match &self.log_dir {
            Some(d) if d.as_os_str().is_empty() => None,
            Some(d) => Some(d.clone()),
            None => Some(state_dir.join("logs")),
        };
        let follow = if self.quiet {
            Follow::None
        } else if self.follow.is_empty() {
            Follow::All
        } else {
            Follow::Named(self.follow.iter().cloned().collect())
        };
        StdioOptions {
            log_dir,
            follow,
            truncate: self.truncate_logs,
        }
    }

    /// The memory cap per instance, in bytes.
    pub fn max_memory(&self) -> usize {
        match (self.max_instance_memory, self.max_memory_mb) {
            (Some(bytes), _) => bytes,
            (None, Some(mb)) => mb.saturating_mul(1024 * 1024),
            (None, None) => DEFAULT_MAX_INSTANCE_MEMORY,
        }
    }

    /// Every `--variable`, read and merged in order (the last value of a key
    /// wins), keyed by variable name.
    pub fn variables(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for source in &self.variable {
            for (k, v) in source.read()? {
                spinfile::variables::validate_variable_name(&k)
                    .with_context(|| format!("--variable {k}"))?;
                out.insert(k, v);
            }
        }
        Ok(out)
    }
}

/// Where a `--variable` gets its value(s), as in Spin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableSource {
    /// `key=value`.
    Literal(String, String),
    /// `key=@file`: the file's content.
    FileContent(String, PathBuf),
    /// `@file.json`: an object of names to strings.
    JsonFile(PathBuf),
    /// `@file.toml`: a table of names to strings.
    TomlFile(PathBuf),
}

impl VariableSource {
    /// The pairs this source gives, reading its file if it has one.
    pub fn read(&self) -> Result<Vec<(String, String)>> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .with_context(|| format!("--variable: cannot read {}", p.display()))
        };
        Ok(match self {
            Self::Literal(k, v) => vec![(k.clone(), v.clone())],
            Self::FileContent(k, p) => vec![(k.clone(), read(p)?)],
            Self::JsonFile(p) => {
                let map: BTreeMap<String, String> =
                    serde_json::from_str(&read(p)?).with_context(|| {
                        format!(
                            "--variable: {} is not a JSON object of strings",
                            p.display()
                        )
                    })?;
                map.into_iter().collect()
            }
            Self::TomlFile(p) => {
                let map: BTreeMap<String, String> =
                    toml::from_str(&read(p)?).with_context(|| {
                        format!("--variable: {} is not a TOML table of strings", p.display())
                    })?;
                map.into_iter().collect()
            }
        })
    }
}

/// Parse `key=value`, `key=@file`, `@file.json` or `@file.toml`.
pub fn parse_variable_source(s: &str) -> Result<VariableSource, String> {
    if let Some(path) = s.strip_prefix('@') {
        let path = PathBuf::from(path);
        return match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Ok(VariableSource::JsonFile(path)),
            Some("toml") => Ok(VariableSource::TomlFile(path)),
            _ => Err("variable files must end in .json or .toml".into()),
        };
    }
    let Some((key, value)) = s.split_once('=') else {
        return Err("variables must be in the form 'key=value' or '@file'".into());
    };
    spinfile::variables::validate_variable_name(key).map_err(|e| e.to_string())?;
    Ok(match value.strip_prefix('@') {
        Some(path) => VariableSource::FileContent(key.into(), path.into()),
        None => VariableSource::Literal(key.into(), value.into()),
    })
}

/// An address to listen on, as Spin reads it: `IP:PORT` or `HOST:PORT`
/// (127.0.0.1 preferred when the name resolves to several).
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{e} (expected IP:PORT, e.g. 127.0.0.1:3000)"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.ip() == Ipv4Addr::LOCALHOST)
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "couldn't resolve address".into())
}

/// A positive duration: a number with no suffix or `s` is seconds (`30`,
/// `0.5`, `30s`); `ms`, `us`/`μs` and `ns` as in Spin.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("μs", 1e-6),
        ("ns", 1e-9),
        ("s", 1.0),
    ]
    .iter()
    .find_map(|(suffix, unit)| s.strip_suffix(suffix).map(|n| (n, *unit)))
    .unwrap_or((s, 1.0));
    let secs = number
        .trim()
        .parse::<f64>()
        .map(|n| n * unit)
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30, 2.5s, 500ms)"))?;
    // A positive number below a nanosecond is zero too (a zero interval
    // would stop the flusher with a panic, a zero timeout every request).
    if !(secs > 0.0 && secs < 1e9) || Duration::from_secs_f64(secs).is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A path, the empty one included (`--log-dir ""` turns logging to disk off).
fn parse_any_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

fn parse_positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number above zero")),
    }
}

fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("{s:?} is not a whole number from 0 to {}", u64::MAX))
}

/// The longest simulated store round trip, in milliseconds.
const MAX_SIMULATED_LATENCY_MS: u64 = 10_000;

fn parse_latency_ms(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_SIMULATED_LATENCY_MS)
        .ok_or_else(|| {
            format!(
                "{s:?} is not a whole number of milliseconds from 0 to {MAX_SIMULATED_LATENCY_MS}"
            )
        })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("{s:?} is not a fraction from 0 to 1 (e.g. 0.1)"))
}

fn refuse_cache_dir(_: &str) -> Result<PathBuf, String> {
    Err(
        "--cache-dir is Spin's registry cache, which this host does not have; \
         the compiled-code cache is --wasm-cache-dir (or TICKETSHARE_CACHE_DIR)"
            .into(),
    )
}

/// The compiled-code cache when neither `--wasm-cache-dir` nor
/// `TICKETSHARE_CACHE_DIR` names one: `$XDG_CACHE_HOME/ticketshare-host`,
/// else `~/.cache/ticketshare-host`.
pub fn default_wasm_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("ticketshare-host");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("ticketshare-host"),
        None => std::env::temp_dir().join("ticketshare-host-cache"),
    }
}

/// Check settings that clap cannot express on its own.
pub fn check(args: &UpArgs) -> Result<()> {
    if args.max_memory() < 64 * 1024 {
        bail!(
            "--max-instance-memory: {} bytes is less than one Wasm page (65536)",
            args.max_memory()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn up(args: &[&str]) -> Result<UpArgs, clap::Error> {
        let argv = ["ticketshare-host", "up"].iter().chain(args);
        Cli::try_parse_from(argv).map(|c| match c.command {
            HostCommand::Up(a) => a,
        })
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn spin_up_flags_parse_with_spin_meaning() {
        let a = up(&[
            "-f",
            "app/spin.toml",
            "--listen",
            "127.0.0.1:0",
            "--runtime-config-file",
            "rc.toml",
            "--state-dir",
            "st",
            "--variable",
            "a=1",
            "--variable",
            "b=@b.txt",
            "--variable",
            "@vars.json",
            "--max-instance-memory",
            "33554432",
            "--request-timeout",
            "1500ms",
        ])
        .unwrap();
        assert_eq!(a.from, PathBuf::from("app/spin.toml"));
        assert_eq!(a.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(a.runtime_config_file, Some("rc.toml".into()));
        assert_eq!(a.state_dir, Some("st".into()));
        assert_eq!(
            a.variable,
            vec![
                VariableSource::Literal("a".into(), "1".into()),
                VariableSource::FileContent("b".into(), "b.txt".into()),
                VariableSource::JsonFile("vars.json".into()),
            ]
        );
        assert_eq!(a.max_memory(), 32 * 1024 * 1024);
        assert_eq!(a.request_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn a_repeated_flag_takes_its_last_value_and_variables_accumulate() {
        let a = up(&[
            "--listen",
            "127.0.0.1:3000",
            "--variable",
            "a=1",
            "--listen",
            "127.0.0.1:4000",
            "--variable",
            "b=2",
        ])
        .unwrap();
        assert_eq!(a.listen.port(), 4000);
        assert_eq!(a.variable.len(), 2);
    }

    #[test]
    fn defaults() {
        let a = up(&[]).unwrap();
        assert_eq!(a.from, PathBuf::from("spin.toml"));
        assert_eq!(a.max_memory(), DEFAULT_MAX_INSTANCE_MEMORY);
        assert_eq!(a.request_timeout, Duration::from_secs(30));
        assert_eq!(a.header_read_timeout, Duration::from_secs(10));
        assert_eq!((a.max_in_flight, a.max_connections), (256, 1024));
        assert_eq!(a.max_body_mb, 16);
        assert!(!a.access_log && a.simulate_store_faults.is_none());
        assert!(a.simulate_store_latency_ms.is_none() && !a.reports_store_calls());
        assert_eq!(a.host_log_format, LogFormat::Text);
        let stdio = a.stdio(std::path::Path::new("st"));
        assert_eq!(stdio.log_dir, Some(PathBuf::from("st/logs")));
        assert_eq!(stdio.follow, Follow::All);
        assert!(!stdio.truncate);
    }

    #[test]
    fn log_flags_parse_with_spin_meaning() {
        let st = std::path::Path::new("st");
        let a = up(&[
            "-L",
            "elsewhere",
            "--follow",
            "a",
            "--follow",
            "b",
            "--truncate-logs",
        ])
        .unwrap();
        let stdio = a.stdio(st);
        assert_eq!(stdio.log_dir, Some(PathBuf::from("elsewhere")));
        assert_eq!(
            stdio.follow,
            Follow::Named(["a".to_string(), "b".to_string()].into())
        );
        assert!(stdio.truncate);
        // The empty string turns logging to disk off.
        assert_eq!(up(&["--log-dir", ""]).unwrap().stdio(st).log_dir, None);
        assert_eq!(up(&["-q"]).unwrap().stdio(st).follow, Follow::None);
        assert_eq!(up(&["--quiet"]).unwrap().stdio(st).follow, Follow::None);
        assert!(up(&["-q", "--follow", "a"]).is_err());
        let a = up(&["--access-log", "--host-log-format", "json"]).unwrap();
        assert!(a.access_log);
        assert_eq!(a.host_log_format, LogFormat::Json);
        assert!(up(&["--host-log-format", "yaml"]).is_err());
    }

    #[test]
    fn the_old_memory_flag_is_a_hidden_mib_alias() {
        assert_eq!(
            up(&["--max-memory-mb", "32"]).unwrap().max_memory(),
            32 << 20
        );
        let both = up(&["--max-memory-mb", "32", "--max-instance-memory", "1"]);
        assert!(both.is_err());
        let help = Cli::command()
            .find_subcommand_mut("up")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(!help.contains("--max-memory-mb"), "{help}");
        assert!(help.contains("--max-instance-memory"), "{help}");
    }

    #[test]
    fn spin_cache_dir_is_refused_with_a_pointer() {
        let e = up(&["--cache-dir", "x"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("--wasm-cache-dir"), "{e}");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--listen", "nowhere"][..],
            &["--variable", "novalue"],
            &["--variable", "Bad-Name=1"],
            &["--variable", "@vars.yaml"],
            &["--request-timeout", "0"],
            &["--request-timeout", "1..8s"],
            &["--request-timeout", "1e-10"],
            &["--flush-webhooks-every", "0"],
            &["--flush-webhooks-every", "0.0000000001s"],
            &["--max-instance-memory", "-1"],
            &["--max-in-flight", "0"],
            &["--max-in-flight", "-1"],
            &["--simulate-store-faults", "2"],
            &["--simulate-store-faults-seed", "3"],
            &["--simulate-store-latency-ms", "-1"],
            &["--simulate-store-latency-ms", "2.5"],
            &["--simulate-store-latency-ms", "10001"],
            &["--no-such-flag"],
        ] {
            let e = up(args).expect_err(&format!("{args:?} must be refused"));
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn durations_read_like_spin() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert!(parse_duration("soon").is_err());
        // Below a nanosecond is zero, refused like "0".
        assert!(parse_duration("1e-10").is_err());
        assert!(parse_duration("0.1ns").is_err());
        assert_eq!(parse_duration("1ns"), Ok(Duration::from_nanos(1)));
    }

    #[test]
    fn variables_merge_in_order_from_every_source() {
        let dir = std::env::temp_dir().join(format!("cli-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("v.json"), r#"{"a": "json", "b": "json"}"#).unwrap();
        std::fs::write(dir.join("v.toml"), "c = \"toml\"\n").unwrap();
        std::fs::write(dir.join("d.txt"), "from a file").unwrap();
        let at = |f: &str| format!("@{}", dir.join(f).display());
        let a = up(&[
            "--variable",
            "a=first",
            "--variable",
            &at("v.json"),
            "--variable",
            &at("v.toml"),
            "--variable",
            &format!("d={}", at("d.txt")),
            "--variable",
            "b=last",
        ])
        .unwrap();
        let vars = a.variables().unwrap();
        let expect: BTreeMap<String, String> = [
            ("a", "json"),
            ("b", "last"),
            ("c", "toml"),
            ("d", "from a file"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, expect);
        std::fs::write(dir.join("bad.json"), r#"{"Bad-Name": "x"}"#).unwrap();
        let bad = up(&["--variable", &at("bad.json")]).unwrap();
        assert!(bad.variables().is_err(), "names from files are checked too");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
