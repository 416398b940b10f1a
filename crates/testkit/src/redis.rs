//! The one Redis launcher: a private `redis-server` on a free port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scratch::{TempDir, free_port};

/// A private redis-server on a free port, stopped on drop: without
/// persistence ([`Redis::start`]), or durable ([`Redis::start_durable`]:
/// every acknowledged write is on disk) and restartable.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:port`.
    pub url: String,
    port: u16,
    durable: bool,
    dir: TempDir,
}

impl Redis {
    /// Start one. Panics (never skips) when redis-server is missing:
    /// `cargo xtask test` installs it.
    pub fn start() -> Redis {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start one; `Err` when redis-server is missing or does not answer.
    pub fn try_start() -> Result<Redis, String> {
        Self::launch(TempDir::new("redis"), free_port(), false)
    }

    /// Start one that writes every write to its append-only file and syncs
    /// it before answering (`appendfsync always`): a write it acknowledged
    /// survives [`Redis::kill`] and [`Redis::restart`].
    pub fn start_durable() -> Redis {
        Self::launch(TempDir::new("redis"), free_port(), true).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Kill the server at once (SIGKILL: no shutdown, no final save).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the server again on the same port and data directory (after
    /// [`Redis::kill`]); returns once it answers PING (its data loaded).
    pub fn restart(&mut self) {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, TempDir::new("redis-unused"));
        let again = Self::launch(dir, self.port, self.durable).unwrap_or_else(|e| panic!("{e}"));
        *self = again;
    }

    /// The values at `keys`, each as text on a line of its own (an empty
    /// line for an absent key), read with `redis-cli`.
    pub fn values(&self, keys: &[String]) -> String {
        let mut cli = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli comes with redis-server");
        let mut input = cli.stdin.take().unwrap();
        // Keys of the app have no spaces or quotes.
        let commands: String = keys.iter().map(|k| format!("GET \"{k}\"\n")).collect();
        // Written from a thread while the answers are read: redis-cli blocks
        // on a full stdout pipe, and writing every command first would then
        // block this side on a full stdin pipe.
        let writer = std::thread::spawn(move || {
            input.write_all(commands.as_bytes()).unwrap();
        });
        let out = cli.wait_with_output().unwrap();
        writer.join().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn launch(dir: TempDir, port: u16, durable: bool) -> Result<Redis, String> {
        let persistence: &[&str] = if durable {
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]
        } else {
            &["--save", "", "--appendonly", "no"]
        };
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(persistence)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("redis-server is required ({e}): run `cargo xtask test`, which installs it")
            })?;
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
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Redis {
            child,
            url: format!("redis://{addr}"),
            port,
            durable,
            dir,
        })
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
