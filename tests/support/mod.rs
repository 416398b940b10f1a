//! Shared helpers: build the artifacts once, start a host on a free port with a
//! temporary state dir, start a private redis-server, and a tiny HTTP client.

#![allow(dead_code)]

pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build the host and the components once per test run (a no-op when
/// `cargo xtask test` already built them), so a bare `cargo test` works too.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("TICKETSHARE_PREBUILT").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // `cargo xtask build` knows the component list (one place).
        {
            let args = ["xtask", "build"];
            let mut cmd = Command::new(&cargo);
            cmd.current_dir(root()).args(args);
            // Per-package variables of the test binary would make build
            // scripts that track them (ring's CARGO_MANIFEST_DIR) rerun.
            for (k, _) in std::env::vars() {
                if k.starts_with("CARGO_PKG_")
                    || k == "CARGO_MANIFEST_DIR"
                    || k == "CARGO_MANIFEST_PATH"
                    || k == "CARGO_CRATE_NAME"
                    || k == "CARGO_PRIMARY_PACKAGE"
                    || k == "CARGO_TARGET_TMPDIR"
                {
                    cmd.env_remove(k);
                }
            }
            let ok = cmd.status().expect("run cargo").success();
            assert!(ok, "cargo {args:?} failed");
        }
    });
}

/// The compile cache shared by every test host (keyed by content, so safe).
pub fn cache_dir() -> PathBuf {
    root().join("target/test-compile-cache")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Make one.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ts-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
    /// Extra flags.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// [`request`] to this host acts as a retrying client
    /// ([`request_as_a_retrying_client`]); for hosts whose store faults.
    pub retrying_client: bool,
}

impl HostConfig {
    /// The contract test app with a state dir.
    pub fn contract(state: &Path) -> Self {
        Self {
            manifest: root().join("tests/apps/contract/spin.toml"),
            state_dir: state.to_path_buf(),
            args: vec!["--request-timeout".into(), "2".into()],
            env: vec![("SPIN_VARIABLE_SECRET_TOKEN".into(), "s3cret".into())],
            retrying_client: false,
        }
    }

    /// The real application.
    pub fn app(state: &Path) -> Self {
        Self {
            manifest: root().join("spin.toml"),
            state_dir: state.to_path_buf(),
            args: vec![],
            env: vec![
                ("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
                // Test receivers listen on loopback.
                ("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS".into(), "true".into()),
            ],
            retrying_client: false,
        }
    }

    /// Add flags.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
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
        let mut c = Command::new(root().join("target/release/ticketshare-host"));
        c.arg("up")
            .arg("--from")
            .arg(&self.manifest)
            .args(["--listen", "127.0.0.1:0", "--cache-dir"])
            .arg(cache_dir())
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
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn host");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let err_buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
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
            let line = line.unwrap();
            if let Some(a) = line.strip_prefix("Serving http://") {
                addr = Some(a.trim().to_string());
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let Some(addr) = addr else {
            let status = child.wait().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "host did not start ({status}); stderr:\n{}",
                err_buf.lock().unwrap()
            );
        };
        if self.retrying_client {
            FAULTY_HOSTS.lock().unwrap().push(addr.clone());
        }
        Host {
            child,
            addr,
            stderr: err_buf,
            stderr_reader: Some(stderr_reader),
        }
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
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
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

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection; `None` when the server is
/// not there or the connection breaks before a response (a killed host).
///
/// Sent as a browser on the app's own pages sends it: `Sec-Fetch-Site:
/// same-origin`, unless the test gives `Sec-Fetch-Site` or `Origin` itself
/// (cross-site requests are refused; see [`request_exact`] to send no such
/// header at all).
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    let given = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sec-fetch-site") || k.eq_ignore_ascii_case("origin"));
    let mut all = headers.to_vec();
    if !given {
        all.push(("Sec-Fetch-Site", "same-origin"));
    }
    try_request_exact(addr, method, path, &all, body)
}

/// [`try_request`] with exactly the given headers (no `Sec-Fetch-Site`
/// added).
pub fn try_request_exact(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if raw.windows(4).any(|w| w == b"\r\n\r\n") {
        Some(parse_response(&raw))
    } else {
        None
    }
}

/// One HTTP/1.1 request on a fresh connection (panics when no response
/// comes; a server may answer, e.g. 413, before the whole body is written).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    if faulty(addr) {
        return request_as_a_retrying_client(addr, method, path, headers, body);
    }
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|| panic!("no response from {addr} to {method} {path}"))
}

/// Addresses of hosts started with `--simulate-store-faults`.
static FAULTY_HOSTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn faulty(addr: &str) -> bool {
    FAULTY_HOSTS.lock().unwrap().iter().any(|a| a == addr)
}

/// Tries before a retrying client gives up on a request.
pub const CLIENT_TRIES: usize = 200;

/// [`request`] to a host whose store fails at random, as the app tells
/// clients to behave: a POST carries an Idempotency-Key (its own, or a
/// fresh one), and an answer that the store did not answer (503
/// `store_unavailable`) or that the same request is still in progress (409)
/// is retried with the same key until it comes back otherwise. Returns the
/// final answer, and counts the tries (see [`client_tries`]).
pub fn request_as_a_retrying_client(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let own = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));
    let key = format!(
        "retrying-client-{}-{}",
        std::process::id(),
        KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut all = headers.to_vec();
    if method == "POST" && !own {
        all.push(("Idempotency-Key", &key));
    }
    let mut last = String::new();
    for _ in 0..CLIENT_TRIES {
        TRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = try_request(addr, method, path, &all, body)
            .unwrap_or_else(|| panic!("no response from {addr} to {method} {path}"));
        let again = r.status == 503 || (r.status == 409 && r.text().contains("still in progress"));
        if std::env::var_os("TICKETSHARE_TRACE_RETRIES").is_some() {
            eprintln!(
                "retrying client: {method} {path} -> {} {}",
                r.status,
                r.text().chars().take(120).collect::<String>()
            );
        }
        assert!(
            r.status < 500 || r.status == 503,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        if !again {
            return r;
        }
        last = format!("{} {}", r.status, r.text());
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{method} {path}: still failing after {CLIENT_TRIES} tries; last: {last}");
}

static TRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Requests sent so far by retrying clients (tries, not logical requests).
pub fn client_tries() -> u64 {
    TRIES.load(std::sync::atomic::Ordering::Relaxed)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut cur = &rest[..];
        loop {
            let nl = cur.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&cur[..nl]).trim(), 16).unwrap();
            cur = &cur[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&cur[..size]);
            cur = &cur[size + 2..];
        }
        rest = out;
    }
    Resp {
        status,
        headers,
        body: rest,
    }
}

/// A private redis-server on a free port, stopped on drop. Panics (never skips)
/// when redis-server is missing: `cargo xtask test` installs it.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:port`.
    pub url: String,
    _dir: TempDir,
}

impl Redis {
    /// Start one.
    pub fn start() -> Redis {
        let dir = TempDir::new("redis");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required for these tests: run `cargo xtask test`, which installs it");
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        loop {
            if let Ok(mut s) = TcpStream::connect(&addr) {
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    break;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            url: format!("redis://{addr}"),
            _dir: dir,
        }
    }

    /// A runtime-config file pointing the `default` store at this Redis.
    pub fn runtime_config(&self, dir: &Path) -> PathBuf {
        let p = dir.join("runtime-config.toml");
        std::fs::write(
            &p,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                self.url
            ),
        )
        .unwrap();
        p
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request with exactly the given headers: no `Sec-Fetch-Site` added,
/// as a client that is not a browser, or an old one, sends it.
pub fn request_exact(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    try_request_exact(addr, method, path, headers, body)
        .unwrap_or_else(|| panic!("no response from {addr} to {method} {path}"))
}
