//! Start `ticketshare-host` on a free port: build once, a temporary state
//! dir, the app's or a test app's manifest, SQLite or a private Redis.

use std::io::{BufRead, BufReader};

use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};

use std::sync::{Arc, Mutex, OnceLock};

use std::time::{Duration, Instant};

use crate::http::{Client, Resp, mark_retrying, request};

pub use crate::target::root;

static BUILT: OnceLock<()> = OnceLock::new();

/// Say that the host and the components are built already (xtask builds
/// them itself before it starts hosts).
pub fn assume_built() {
    let _ = BUILT.set(());
}

/// Build the host and the components once per process (a no-op when
/// `TICKETSHARE_PREBUILT` is set, as `cargo xtask test` sets it), so a bare
/// `cargo test` works too.
pub fn ensure_built() {
    BUILT.get_or_init(|| {
        if std::env::var_os("TICKETSHARE_PREBUILT").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // `cargo xtask build` knows the component list (one place).
        let args = ["xtask", "build"];
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root()).args(args);
        // Per-package variables of the test binary would make build
        // scripts that track them (ring's CARGO_MANIFEST_DIR) rerun.
        for (k, _) in std::env::vars() {
            if is_package_var(&k) {
                cmd.env_remove(k);
            }
        }
        let ok = cmd.status().expect("run cargo").success();
        assert!(ok, "cargo {args:?} failed");
    });
}

/// Whether `k` is one of the variables cargo sets for one package (a
/// command started for the whole workspace must not inherit them).
pub fn is_package_var(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || k.starts_with("CARGO_BIN_")
        || matches!(
            k,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
        )
}

/// The compile cache shared by every test host (keyed by content, so safe),
/// in the target dir.
pub fn cache_dir() -> PathBuf {
    crate::target::target_dir().join("test-compile-cache")
}

/// Whether `f` holds within `limit`, polled every 20 ms (for what a host
/// writes from another thread or process: its stderr, its log files).
pub fn eventually(limit: Duration, f: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The deployment admin token test hosts of the real app run with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// How to start a host.
#[derive(Clone)]
pub struct HostConfig {
    /// Manifest path.
    pub manifest: PathBuf,
    /// State dir.
    pub state_dir: PathBuf,
    /// Compile cache dir ([`cache_dir`] unless set).
    pub cache_dir: PathBuf,
    /// Extra flags.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// [`request`] to this host acts as a retrying client
    /// ([`crate::http::request_as_a_retrying_client`]); for hosts whose
    /// store faults.
    pub retrying_client: bool,
}

impl HostConfig {
    /// Any manifest with a state dir, no flags and no variables.
    pub fn new(manifest: &Path, state: &Path) -> Self {
        Self {
            manifest: manifest.to_path_buf(),
            state_dir: state.to_path_buf(),
            cache_dir: cache_dir(),
            args: vec![],
            env: vec![],
            retrying_client: false,
        }
    }

    /// The contract test app with a state dir.
    pub fn contract(state: &Path) -> Self {
        Self::new(&root().join("tests/apps/contract/spin.toml"), state)
            .arg("--request-timeout")
            .arg("2")
            .env("SPIN_VARIABLE_SECRET_TOKEN", "s3cret")
    }

    /// The real application.
    pub fn app(state: &Path) -> Self {
        Self::new(&root().join("spin.toml"), state)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            // Test receivers listen on loopback.
            .env("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS", "true")
    }

    /// Add flags.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// Use this compile cache.
    pub fn cache(mut self, dir: &Path) -> Self {
        self.cache_dir = dir.to_path_buf();
        self
    }

    /// Keep the store in this Redis (a runtime-config file in the state
    /// dir points the `default` store at it).
    pub fn redis(self, redis: &crate::redis::Redis) -> Self {
        let rc = redis.runtime_config(&self.state_dir);
        self.arg("--runtime-config-file").arg(rc.to_str().unwrap())
    }

    /// Fail `rate` of the store calls at random (`seed`), and talk to the
    /// host as a retrying client does.
    pub fn store_faults(mut self, rate: f64, seed: u64) -> Self {
        self.args.extend([
            "--simulate-store-faults".into(),
            rate.to_string(),
            "--simulate-store-faults-seed".into(),
            seed.to_string(),
        ]);
        self.retrying_client = true;
        self
    }

    /// Add an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self) -> Command {
        ensure_built();
        let mut c = Command::new(crate::target::host_binary());
        let manifest =
            crate::target::runnable_manifest(&self.manifest).unwrap_or_else(|e| panic!("{e}"));
        c.arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", "127.0.0.1:0", "--wasm-cache-dir"])
            .arg(&self.cache_dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(&self.args)
            .env_remove("SPIN_VARIABLE_SECRET_TOKEN")
            .env_remove("SPIN_VARIABLE_ADMIN_TOKEN")
            .env_remove("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Start the host and wait until it serves.
    pub fn start(&self) -> Host {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start the host and wait until it serves; `Err` with its stderr when
    /// it exits instead.
    pub fn try_start(&self) -> Result<Host, String> {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the host: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let err_buf = Arc::new(Mutex::new(String::new()));
        let eb = err_buf.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eb.lock().unwrap().push_str(&line);
                eb.lock().unwrap().push('\n');
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("Serving http://") {
                addr = Some(a.trim().to_string());
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let Some(addr) = addr else {
            let status = child.wait().map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(100));
            return Err(format!(
                "host did not start ({status}); stderr:\n{}",
                err_buf.lock().unwrap()
            ));
        };
        if self.retrying_client {
            mark_retrying(&addr);
        }
        Ok(Host {
            child,
            addr,
            stderr: err_buf,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// Run the host expecting it to fail at start; returns its stderr.
    pub fn start_error(&self) -> String {
        let out = self.command().output().expect("run host");
        assert!(!out.status.success(), "host should have failed to start");
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

/// A running host process; killed on drop.
pub struct Host {
    child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Host {
    /// Send a request.
    pub fn req(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        request(&self.addr, method, path, &[], body)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path, b"")
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `probe` answers 200 (at most `limit`).
    pub fn wait_for(&self, probe: &str, limit: Duration) -> Result<(), String> {
        wait_for(&self.addr, probe, limit)
    }

    /// What the host wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stop the process with SIGTERM, as a person would, wait for it, and
    /// return everything it wrote to stderr.
    pub fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }

    /// Kill the process hard (SIGKILL) and wait.
    pub fn kill(mut self) {
        self.kill_now();
    }

    /// Kill the process hard (SIGKILL) and wait, in place.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `GET probe` on `addr` answers 200 (at most `limit`), for a
/// server started by other means (`spin up`, `wasmtime serve`).
pub fn wait_for(addr: &str, probe: &str, limit: Duration) -> Result<(), String> {
    let client = Client::with(addr, 0, Duration::from_secs(5));
    let t0 = Instant::now();
    while client.send("GET", probe, &[], b"").map(|r| r.status) != Ok(200) {
        if t0.elapsed() > limit {
            return Err(format!("{addr} never answered {probe} with 200"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
