//! The tests' world: a host of the real app (SQLite or a private Redis,
//! optionally with store faults) with workspace `acme` (an admin, staff,
//! two customers of one company and an outsider) and a second workspace for
//! cross-tenant checks, seeded by [`crate::seed`].

use serde_json::Value;

use crate::host::{ADMIN_TOKEN, Host, HostConfig};
use crate::http::{Client, Resp, request};
use crate::redis::Redis;
use crate::scratch::TempDir;
use crate::seed::{User, Workspace};

/// A workspace with an admin, two staff, two customers of one company and an
/// outsider customer; plus a second workspace for cross-tenant checks.
pub struct World {
    /// The host serving the app.
    pub host: Host,
    /// `acme`'s API key.
    pub key: String,
    /// The admin's user id.
    pub admin: String,
    /// A staff member's user id.
    pub staff: String,
    /// Customer A (Shop Ltd).
    pub cust_a: String,
    /// Customer B (Shop Ltd).
    pub cust_b: String,
    /// A customer of no company.
    pub outsider: String,
    /// The API key of the second workspace, `globex`.
    pub other_key: String,
    /// The store fails at random (`World::build_faulty`).
    pub faulty: bool,
    /// How the host was started, to start it again on the same store.
    cfg: HostConfig,
    _state: TempDir,
    _redis: Option<Redis>,
}

/// One request with `auth` headers and a JSON body.
pub fn call(
    host: &Host,
    method: &str,
    path: &str,
    auth: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut headers: Vec<(&str, &str)> = auth.to_vec();
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    if !text.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    request(&host.addr, method, path, &headers, text.as_bytes())
}

/// The `action` of every entry of an audit export.
pub fn actions(audit: &Value) -> Vec<&str> {
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// The body of `r` as JSON (panics, with the answer, when it is not).
pub fn json_of(r: &Resp) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON ({}): {}", r.status, r.text()))
}

impl World {
    /// Every key of the SQLite store with its value. The host holds its
    /// store locked while it runs, so it is stopped (SIGKILL: committed
    /// writes survive, as the crash test shows), the file read with Python's
    /// sqlite3, and the host started again on the same store.
    pub fn store_rows(&mut self) -> Vec<(String, Vec<u8>)> {
        self.host.kill_now();
        let db = self._state.path().join("sqlite_key_value.db");
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nfor k,v in c.execute('select key, value from spin_key_value order by key'):\n    print(k, bytes(v).hex())\nprint('--scanned--')",
            ])
            .arg(&db)
            .output()
            .expect("python3 with sqlite3");
        self.host = self.cfg.clone().start();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains("--scanned--"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .filter(|l| *l != "--scanned--")
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(k, hex)| {
                let bytes = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                (k.to_string(), bytes)
            })
            .collect()
    }

    /// Keys of the SQLite store whose value contains `needle` (see
    /// [`World::store_rows`]: the host restarts).
    pub fn keys_holding(&mut self, needle: &str) -> Vec<String> {
        self.store_rows()
            .into_iter()
            .filter(|(_, v)| v.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .map(|(k, _)| k)
            .collect()
    }

    /// Another host process on this world's Redis store (same variables),
    /// with a state dir of its own.
    pub fn second_host(&self) -> (Host, TempDir) {
        let redis = self
            ._redis
            .as_ref()
            .expect("a second host shares the world's Redis store");
        let state = TempDir::new("api-second");
        let rc = redis.runtime_config(state.path());
        let host = HostConfig::app(state.path())
            .arg("--runtime-config-file")
            .arg(rc.to_str().unwrap())
            .start();
        (host, state)
    }

    /// Kill this world's host with SIGKILL and start a new one on the same
    /// store (SQLite only).
    pub fn restart_after_kill(&mut self) {
        self.host.kill_now();
        self.host = self.cfg.clone().start();
    }

    /// Set the host's test clock `secs` ahead of the wall clock (the host
    /// must run with `--allow-clock-shift`).
    pub fn shift_clock(&self, secs: i64) {
        let r = request(
            &self.host.addr,
            "POST",
            "/.well-known/ticketshare/clock",
            &[("Content-Type", "application/json")],
            format!("{{\"offset_seconds\": {secs}}}").as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// `Bearer <acme's key>`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// The host's state directory (its SQLite store, when not on Redis).
    pub fn state_dir(&self) -> &std::path::Path {
        self._state.path()
    }

    /// Call as the platform, optionally acting as a user.
    pub fn as_(&self, user: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Resp {
        let b = self.bearer();
        let mut h = vec![("Authorization", b.as_str())];
        if let Some(u) = user {
            h.push(("Ticketshare-Act-As", u));
        }
        call(&self.host, method, path, &h, body)
    }

    /// The world on SQLite (`redis: false`) or a private Redis.
    pub fn build(redis: bool) -> World {
        Self::build_with(redis, &[])
    }

    /// [`World::build`] with extra environment for the host.
    pub fn build_with(redis: bool, env: &[(&str, &str)]) -> World {
        Self::build_full(redis, env, &[])
    }

    /// [`World::build`] with extra environment and flags for the host.
    pub fn build_full(redis: bool, env: &[(&str, &str)], args: &[&str]) -> World {
        Self::build_with_faults(redis.then(Redis::start), env, args, None)
    }

    /// The world on a host whose store fails `rate` of its calls at random
    /// (from `seed`), set up and driven by a retrying client (see
    /// `support::request_as_a_retrying_client`).
    pub fn build_faulty(redis: bool, rate: f64, seed: u64) -> World {
        Self::build_with_faults(redis.then(Redis::start), &[], &[], Some((rate, seed)))
    }

    /// The world on `redis` (e.g. [`Redis::start_durable`], to restart it
    /// under load through [`World::redis`]).
    pub fn build_on_redis(redis: Redis) -> World {
        Self::build_with_faults(Some(redis), &[], &[], None)
    }

    /// The world's Redis, when it has one.
    pub fn redis(&mut self) -> Option<&mut Redis> {
        self._redis.as_mut()
    }

    fn build_with_faults(
        redis: Option<Redis>,
        env: &[(&str, &str)],
        args: &[&str],
        faults: Option<(f64, u64)>,
    ) -> World {
        let state = TempDir::new("api");
        let mut cfg = HostConfig::app(state.path());
        if let Some((rate, seed)) = faults {
            cfg = cfg.store_faults(rate, seed).arg("--allow-clock-shift");
        }
        for a in args {
            cfg = cfg.arg(a);
        }
        for (k, v) in env {
            cfg = cfg.env(k, v);
        }
        if let Some(r) = &redis {
            let rc = r.runtime_config(state.path());
            cfg = cfg.arg("--runtime-config-file").arg(rc.to_str().unwrap());
        }
        let host = cfg.clone().start();
        let seeder = |id: &str| {
            Workspace::create(Client::new(&host.addr), ADMIN_TOKEN, id, id)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let ws = seeder("acme");
        let key = ws.key.clone();
        let other_key = seeder("globex").key;
        let user = |email: &str, role: &str, company: Option<&str>| {
            let u = User {
                name: email.split('@').next().unwrap(),
                company,
                ..User::new(email, role)
            };
            let (id, status) = ws.user(&u).unwrap_or_else(|e| panic!("{e}"));
            // Under faults a retried creation may find the user made.
            assert!(status == 201 || faults.is_some(), "{status}");
            id
        };
        let admin = user("ada@acme.test", "admin", None);
        let staff = user("sam@acme.test", "staff", None);
        let cust_a = user("cara@shop.test", "customer", Some("Shop Ltd"));
        let cust_b = user("cole@shop.test", "customer", Some("Shop Ltd"));
        let outsider = user("oz@else.test", "customer", None);
        World {
            host,
            key,
            admin,
            staff,
            cust_a,
            cust_b,
            outsider,
            other_key,
            faulty: faults.is_some(),
            cfg,
            _state: state,
            _redis: redis,
        }
    }

    /// Open a ticket as a customer; returns its number.
    pub fn ticket(&self, customer: &str, subject: &str) -> u64 {
        self.workspace()
            .ticket(customer, subject, "first message")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The seeding builder on this world's workspace `acme`.
    pub fn workspace(&self) -> Workspace<Client> {
        Workspace {
            transport: Client::new(&self.host.addr),
            id: "acme".into(),
            key: self.key.clone(),
        }
    }
}
