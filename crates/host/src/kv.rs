//! Key-value backends behind `fermyon:spin/key-value` and `wasi:keyvalue`.
//!
//! Two backends, chosen per store label by the runtime config:
//! - SQLite (`type = "spin"`), using Spin's own table so the file is
//!   interchangeable with one written by `spin up`; WAL mode.
//! - Redis (`type = "redis"`), for several host processes sharing one store.
//!
//! Every write that can race is a single atomic step on the backend (a
//! conditional SQL statement, an immediate transaction, or a Lua script), so
//! compare-and-swap is exact even when the key is absent, across processes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Longest key accepted, in bytes (the hosted Spin platforms' limit).
pub const MAX_KEY_BYTES: usize = 255;
/// Largest value accepted, in bytes (the hosted Spin platforms' limit).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Errors the key-value interfaces report to guests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The label is not configured on this host.
    NoSuchStore,
    /// The component did not declare the label in `key_value_stores`.
    AccessDenied,
    /// Anything else, with a message (limits, I/O, backend errors).
    Other(String),
}

impl<E: std::fmt::Display> From<E> for KvError {
    fn from(e: E) -> Self {
        KvError::Other(e.to_string())
    }
}

/// Result of a key-value operation.
pub type KvResult<T> = std::result::Result<T, KvError>;

fn check_key(key: &str) -> KvResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::Other(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> KvResult<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::Other(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

/// All configured stores by label.
#[derive(Clone, Default)]
pub struct Stores {
    by_label: HashMap<String, Store>,
}

impl Stores {
    /// Register a store under a label.
    pub fn insert(&mut self, label: String, store: Store) {
        self.by_label.insert(label, store);
    }

    /// The store for a label, if configured.
    pub fn get(&self, label: &str) -> Option<&Store> {
        self.by_label.get(label)
    }

    /// Whether a label is configured.
    pub fn contains(&self, label: &str) -> bool {
        self.by_label.contains_key(label)
    }
}

/// One opened store: a backend plus the label's namespace in it.
#[derive(Clone)]
pub enum Store {
    /// A namespace (`store` column) in a SQLite file.
    Sqlite {
        /// The database.
        db: Arc<SqliteDb>,
        /// The label, used as the `store` column.
        name: Arc<str>,
    },
    /// A Redis database.
    Redis(RedisStore),
}

impl Store {
    /// Value of `key`, if present.
    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        check_key(key)?;
        match self {
            Store::Sqlite { db, name } => db.get(name, key),
            Store::Redis(r) => r.get(key).await,
        }
    }

    /// Values of `keys`, in order: one statement batch under one lock on
    /// SQLite, one `MGET` round trip on Redis.
    pub async fn get_many(&self, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        for k in keys {
            check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Store::Sqlite { db, name } => db.get_many(name, keys),
            Store::Redis(r) => r.get_many(keys).await,
        }
    }

    /// Set `key` to `value`.
    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        check_key(key)?;
        check_value(value)?;
        match self {
            Store::Sqlite { db, name } => db.set(name, key, value),
            Store::Redis(r) => r.set(key, value).await,
        }
    }

    /// Delete `key` (no error when absent).
    pub async fn delete(&self, key: &str) -> KvResult<()> {
        check_key(key)?;
        match self {
            Store::Sqlite { db, name } => db.delete(name, key),
            Store::Redis(r) => r.delete(key).await,
        }
    }

    /// Whether `key` is present.
    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        check_key(key)?;
        match self {
            Store::Sqlite { db, name } => db.exists(name, key),
            Store::Redis(r) => r.exists(key).await,
        }
    }

    /// Every key in the store.
    pub async fn keys(&self) -> KvResult<Vec<String>> {
        match self {
            Store::Sqlite { db, name } => db.keys(name),
            Store::Redis(r) => r.keys().await,
        }
    }

    /// Atomically add `delta` to the integer at `key` (absent counts as 0) and
    /// return the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        check_key(key)?;
        match self {
            Store::Sqlite { db, name } => db.increment(name, key, delta),
            Store::Redis(r) => r.increment(key, delta).await,
        }
    }

    /// Atomically set `key` to `new` only if its value is still `expected`
    /// (`None`: still absent). Returns whether the swap happened.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        check_key(key)?;
        check_value(new)?;
        match self {
            Store::Sqlite { db, name } => db.compare_and_swap(name, key, expected, new),
            Store::Redis(r) => r.compare_and_swap(key, expected, new).await,
        }
    }
}

/// The one statement that reads a value.
const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";

/// A SQLite key-value file on one connection.
pub struct SqliteDb {
    /// The one connection. It holds the file in SQLite's exclusive locking
    /// mode, so no operation pays for file locks (a WAL read otherwise takes
    /// and drops `fcntl` locks on every statement), and a second host
    /// process on the same file is refused at start instead of contending.
    conn: Mutex<Connection>,
}

impl SqliteDb {
    /// Open (creating if needed) the database at `path`, and lock it for
    /// this process.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let c = Connection::open(path)
            .with_context(|| format!("cannot open SQLite store {}", path.display()))?;
        c.busy_timeout(std::time::Duration::from_secs(2))?;
        c.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let setup = || -> rusqlite::Result<()> {
            c.pragma_update(None, "journal_mode", "WAL")?;
            // The first write takes the exclusive lock, held from now on.
            c.execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                 );
                 COMMIT;",
            )
        };
        setup().with_context(|| {
            format!(
                "cannot lock SQLite store {}: is another host using this state directory?",
                path.display()
            )
        })?;
        // A process crash cannot lose a committed transaction in WAL mode
        // with NORMAL sync; only an OS crash could drop the last commits.
        c.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Self {
            conn: Mutex::new(c),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> KvResult<T> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut c)?)
    }

    fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.with(|c| {
            c.prepare_cached(SELECT_VALUE)?
                .query_row(params![store, key], |r| r.get(0))
                .optional()
        })
    }

    fn get_many(&self, store: &str, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        self.with(|c| {
            let mut st = c.prepare_cached(SELECT_VALUE)?;
            keys.iter()
                .map(|k| st.query_row(params![store, k], |r| r.get(0)).optional())
                .collect()
        })
    }

    fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])
            .map(|_| ())
        })
    }

    fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])
                .map(|_| ())
        })
    }

    fn exists(&self, store: &str, key: &str) -> KvResult<bool> {
        self.with(|c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists(params![store, key])
        })
    }

    fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let rows = st.query_map(params![store], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let res = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached(SELECT_VALUE)?
                .query_row(params![store, key], |r| r.get(0))
                .optional()?;
            let current = match current {
                None => 0,
                Some(bytes) => match decode_counter(&bytes) {
                    Some(v) => v,
                    None => {
                        return Ok(Err(
                            "the value at this key is not an integer counter".to_string()
                        ));
                    }
                },
            };
            let Some(next) = current.checked_add(delta) else {
                return Ok(Err("counter overflow".to_string()));
            };
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, next.to_le_bytes().as_slice()])?;
            tx.commit()?;
            Ok(Ok(next))
        })?;
        res.map_err(KvError::Other)
    }

    fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        self.with(|c| {
            let changed = match expected {
                None => c
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO NOTHING",
                    )?
                    .execute(params![store, key, new])?,
                Some(old) => c
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?3 WHERE store = ?1 AND key = ?2 AND value = ?4",
                    )?
                    .execute(params![store, key, new, old])?,
            };
            Ok(changed == 1)
        })
    }
}

/// Counters written by `increment` are 8 little-endian bytes, as in Spin's
/// SQLite store; a decimal string (as Redis writes) is read too.
fn decode_counter(bytes: &[u8]) -> Option<i64> {
    if let Ok(arr) = <[u8; 8]>::try_from(bytes) {
        return Some(i64::from_le_bytes(arr));
    }
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// A Redis-backed store (one multiplexed connection, shared).
#[derive(Clone)]
pub struct RedisStore {
    conn: redis::aio::MultiplexedConnection,
    cas: Arc<redis::Script>,
}

const CAS_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
else
  if cur ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

impl RedisStore {
    /// Connect to `url` (`redis://host:port[/db]`).
    pub async fn connect(url: &str) -> Result<Self> {
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL {url:?}"))?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .with_context(|| format!("cannot connect to Redis at {url}"))?;
        Ok(Self {
            conn,
            cas: Arc::new(redis::Script::new(CAS_SCRIPT)),
        })
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn get_many(&self, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        // A one-key MGET still answers with a list.
        Ok(redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        Ok(redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let _: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn keys(&self) -> KvResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            out.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        Ok(redis::cmd("INCRBY")
            .arg(key)
            .arg(delta)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let mut inv = self.cas.key(key);
        match expected {
            None => inv.arg("0").arg(""),
            Some(old) => inv.arg("1").arg(old),
        };
        inv.arg(new);
        let n: i64 = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_contract() {
        let dir = std::env::temp_dir().join(format!("kv-test-{}", std::process::id()));
        let db = Arc::new(SqliteDb::open(&dir.join("kv.db")).unwrap());
        let s = Store::Sqlite {
            db: db.clone(),
            name: "default".into(),
        };
        let other = Store::Sqlite {
            db,
            name: "other".into(),
        };
        s.set("a", b"1").await.unwrap();
        assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            other.get("a").await.unwrap(),
            None,
            "labels are separate namespaces"
        );
        assert!(s.compare_and_swap("b", None, b"x").await.unwrap());
        assert!(!s.compare_and_swap("b", None, b"y").await.unwrap());
        assert!(!s.compare_and_swap("b", Some(b"z"), b"y").await.unwrap());
        assert!(s.compare_and_swap("b", Some(b"x"), b"y").await.unwrap());
        assert_eq!(s.increment("n", 5).await.unwrap(), 5);
        assert_eq!(s.increment("n", -2).await.unwrap(), 3);
        assert!(
            s.increment("a", 1).await.is_ok(),
            "decimal text counts as a counter"
        );
        assert_eq!(s.keys().await.unwrap(), ["a", "b", "n"]);
        assert!(s.set(&"k".repeat(256), b"").await.is_err());
        assert!(s.set("big", &vec![0; MAX_VALUE_BYTES + 1]).await.is_err());
        s.delete("a").await.unwrap();
        assert!(!s.exists("a").await.unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }
}
