//! Where the rows run: our host (SQLite, or a private Redis per host) from
//! the test kit's launcher, or `spin up`; its CPU time from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::host::{Host, HostConfig, wait_for};
use testkit::redis::Redis;
use testkit::scratch::free_port;

use super::{ADMIN_TOKEN, sh};

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One running server: our host (with its Redis, if any) or `spin up`.
pub struct Server {
    /// `127.0.0.1:port`.
    pub addr: String,
    host: Option<Host>,
    _redis: Option<Redis>,
    spin: Option<Proc>,
}

impl Server {
    /// CPU time (user + system, seconds) the server process has used so
    /// far, from /proc; the host (or `spin`) is the last process started.
    pub fn cpu_secs(&self) -> Option<f64> {
        let pid = match (&self.host, &self.spin) {
            (Some(h), _) => h.pid(),
            (None, Some(s)) => s.0.id(),
            (None, None) => return None,
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        let hz = HZ.get_or_init(|| sh("getconf CLK_TCK").parse().unwrap_or(100.0));
        Some(ticks / hz)
    }
}

/// Where the rows run.
#[derive(Clone, Copy, PartialEq)]
pub enum Runtime {
    /// `ticketshare-host`.
    Ours,
    /// `spin up`.
    Spin,
}

/// The options of one run.
#[derive(Clone)]
pub struct Opts {
    /// Seconds per row and level.
    pub secs: u32,
    /// Connection counts each row is measured at.
    pub levels: Vec<u32>,
    /// `--only`: the rows whose name contains this (and the floor).
    pub only: Option<String>,
    /// A private Redis per host instead of SQLite.
    pub redis: bool,
    /// N of the scale runs.
    pub scale: u64,
    /// Scratch dir (state dirs, wrk scripts).
    pub tmp: PathBuf,
    /// The hosts' compile cache.
    pub cache: PathBuf,
    /// Invitations accepted per connection level.
    pub invites: u64,
    /// Our host's simulated store round trip (`--simulate-store-latency-ms`).
    pub latency_ms: Option<u32>,
}

impl Opts {
    /// The options of the simulated-latency pass: `ms` per store call, one
    /// connection, and fewer invitations (each costs its round trips).
    pub fn with_latency(&self, ms: u32) -> Opts {
        Opts {
            levels: vec![1],
            invites: LATENCY_INVITES,
            latency_ms: Some(ms),
            tmp: self.tmp.join(format!("latency-{ms}ms")),
            ..self.clone()
        }
    }
}

/// Invitations accepted in the simulated-latency pass.
const LATENCY_INVITES: u64 = 200;

impl Opts {
    /// Start `manifest` in a fresh state directory named `name`; returns the
    /// server and the time to the first 200 on `probe`.
    pub fn start(
        &self,
        runtime: Runtime,
        manifest: &Path,
        name: &str,
        probe: &str,
    ) -> Result<(Server, Duration), String> {
        let state = self.tmp.join(format!("state-{name}"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let server = match runtime {
            Runtime::Ours => {
                let redis = if self.redis {
                    Some(Redis::try_start()?)
                } else {
                    None
                };
                // Every response says its store calls (bench rows read them).
                let mut cfg = HostConfig::new(manifest, &state)
                    .arg("--report-store-calls")
                    .cache(&self.cache)
                    .env("SPIN_VARIABLE_SECRET_TOKEN", "bench-only")
                    .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN);
                if let Some(r) = &redis {
                    cfg = cfg.redis(r);
                }
                if let Some(ms) = self.latency_ms {
                    cfg = cfg.arg("--simulate-store-latency-ms").arg(&ms.to_string());
                }
                let t0 = Instant::now();
                let host = cfg.try_start()?;
                host.wait_for(probe, Duration::from_secs(120))?;
                let addr = host.addr.clone();
                return Ok((
                    Server {
                        addr,
                        host: Some(host),
                        _redis: redis,
                        spin: None,
                    },
                    t0.elapsed(),
                ));
            }
            Runtime::Spin => {
                let port = free_port();
                let addr = format!("127.0.0.1:{port}");
                let manifest = testkit::target::runnable_manifest(manifest)?;
                let spin = Proc(
                    Command::new("spin")
                        .args(["up", "--from"])
                        .arg(manifest)
                        .args(["--listen", &addr, "--state-dir"])
                        .arg(&state)
                        .env("SPIN_VARIABLE_SECRET_TOKEN", "bench-only")
                        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .map_err(|e| format!("cannot start spin up: {e}"))?,
                );
                wait_for(&addr, probe, Duration::from_secs(120))
                    .map_err(|e| format!("spin up: {e}"))?;
                Server {
                    addr,
                    host: None,
                    _redis: None,
                    spin: Some(spin),
                }
            }
        };
        Ok((server, t0.elapsed()))
    }
}
