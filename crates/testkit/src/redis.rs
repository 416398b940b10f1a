//! The one Redis launcher: a private `redis-server` on a free port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scratch::{TempDir, free_port};

/// A private redis-server on a free port (no persistence), stopped on drop.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:port`.
    pub url: String,
    _dir: TempDir,
}

impl Redis {
    /// Start one. Panics (never skips) when redis-server is missing:
    /// `cargo xtask test` installs it.
    pub fn start() -> Redis {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start one; `Err` when redis-server is missing or does not answer.
    pub fn try_start() -> Result<Redis, String> {
        let dir = TempDir::new("redis");
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
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
            _dir: dir,
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
