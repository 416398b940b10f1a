//! The key-value store as the domain sees it, and an in-memory implementation
//! that behaves like the real backends (compare-and-swap, increment, limits).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Longest key a store accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 255;
/// Largest value a store accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Largest value the app writes on purpose, in bytes: the managed Spin
/// platforms' "1 MB" value limit (Fermyon Cloud, Akamai Functions) read
/// the strict way, as 1 000 000 bytes (README "Managed Spin platforms").
pub const PORTABLE_VALUE_BYTES: usize = 1_000_000;

/// A failure of the store itself (not of the domain rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store error: {}", self.0)
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The operations the domain needs from a key-value store. Implemented over
/// Spin's key-value + `wasi:keyvalue` atomics in components, and by [`MemKv`].
pub trait Kv {
    /// Value at `key`, if any.
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Values at `keys`, in the same order. One round trip to the store
    /// where the backend has a batch read; by default one `get` per key.
    fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Set `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()>;
    /// Set every pair, in order: one round trip to the store where the
    /// backend has a batch write, by default one `set` per pair. Not
    /// atomic: on an error, any of the pairs may or may not be written.
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> StoreResult<()> {
        pairs.iter().try_for_each(|(k, v)| self.set(k, v))
    }
    /// Remove `key` (no error when absent).
    fn delete(&self, key: &str) -> StoreResult<()>;
    /// Atomically add `delta` to the counter at `key` and return the new value.
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64>;
    /// Atomically replace `key`'s value with `new` if it is still `expected`
    /// (`None`: still absent); whether it did.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8])
    -> StoreResult<bool>;
    /// A number no other write to this store carries (fresh randomness in
    /// components, a counter in [`MemKv`]): stamped into the values written
    /// by compare-and-swap, so a writer can tell whether its own write
    /// landed when the store's answer was lost (`record::update`).
    fn write_id(&self, key: &str) -> u64;
}

fn check(key: &str, value: Option<&[u8]>) -> StoreResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError(format!(
            "key of {} bytes exceeds {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if let Some(v) = value {
        if v.len() > MAX_VALUE_BYTES {
            return Err(StoreError(format!(
                "value of {} bytes exceeds {MAX_VALUE_BYTES}",
                v.len()
            )));
        }
    }
    Ok(())
}

/// An in-memory store for tests, with the real stores' semantics and limits.
#[derive(Default)]
pub struct MemKv {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key with the given prefix, sorted (for tests and assertions).
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.map
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Every key and value (for assertions over the whole store).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        self.map
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Kv for MemKv {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check(key, None)?;
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check(key, Some(value))?;
        self.map
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check(key, None)?;
        self.map.lock().unwrap().remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        check(key, None)?;
        let mut map = self.map.lock().unwrap();
        let current = match map.get(key) {
            None => 0,
            Some(v) => i64::from_le_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError("not a counter".into()))?,
            ),
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StoreError("counter overflow".into()))?;
        map.insert(key.to_string(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        check(key, Some(new))?;
        let mut map = self.map.lock().unwrap();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_string(), new.to_vec());
        Ok(true)
    }

    fn write_id(&self, _key: &str) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_store_behaves_like_the_real_ones() {
        let s = MemKv::new();
        assert!(s.compare_and_swap("a", None, b"1").unwrap());
        assert!(!s.compare_and_swap("a", None, b"2").unwrap());
        assert!(s.compare_and_swap("a", Some(b"1"), b"2").unwrap());
        assert_eq!(s.get("a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.increment("n", 3).unwrap(), 3);
        assert_eq!(s.increment("n", 2).unwrap(), 5);
        assert!(s.set(&"k".repeat(256), b"").is_err());
        assert!(s.set("big", &vec![0; MAX_VALUE_BYTES + 1]).is_err());
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap(), None);
    }
}

impl<T: Kv + ?Sized> Kv for &T {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        (**self).get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        (**self).set(key, value)
    }
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> StoreResult<()> {
        (**self).set_many(pairs)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        (**self).delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        (**self).increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        (**self).compare_and_swap(key, expected, new)
    }
    fn write_id(&self, key: &str) -> u64 {
        (**self).write_id(key)
    }
}

/// One call, as a [`Faulty`] store's rule sees it (reads only on a store
/// made with [`Faulty::with_reads`]; batch reads always pass).
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// `get`.
    Get,
    /// `set` with this value.
    Set(&'a [u8]),
    /// `delete`.
    Delete,
    /// `increment`.
    Increment,
    /// `compare_and_swap` to this value.
    Swap(&'a [u8]),
}

/// What a [`Faulty`] store does with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve it.
    Pass,
    /// Fail it without serving it (the store could not be reached).
    Before,
    /// Serve it, then report a failure (the reply was lost: the caller
    /// cannot tell "written" from "not written").
    After,
    /// Serve a compare-and-swap, then answer that it did not happen (Spin
    /// 4.0.2's Redis store does this with every swap); other calls are
    /// served.
    SwapDenied,
}

/// A store for tests of failure paths: it serves every call from `inner`,
/// except the writes its rule faults while `armed`. The rule sees the inner
/// store, so it can also act as another writer would (a race).
pub struct Faulty<S> {
    /// The store that serves the calls.
    pub inner: S,
    armed: std::sync::atomic::AtomicBool,
    rule: fn(&dyn Kv, &str, Op<'_>) -> Fault,
    reads: bool,
}

impl<S: Kv> Faulty<S> {
    /// Serve from `inner`, faulting what `rule` picks (armed from the start).
    pub fn new(inner: S, rule: fn(&dyn Kv, &str, Op<'_>) -> Fault) -> Self {
        Self {
            inner,
            armed: std::sync::atomic::AtomicBool::new(true),
            rule,
            reads: false,
        }
    }

    /// [`Faulty::new`] whose rule sees single reads too ([`Op::Get`]).
    pub fn with_reads(inner: S, rule: fn(&dyn Kv, &str, Op<'_>) -> Fault) -> Self {
        Self {
            reads: true,
            ..Self::new(inner, rule)
        }
    }

    /// Whether the rule applies (tests set up state first, then arm it).
    pub fn arm(&self, on: bool) {
        self.armed.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn fault(&self, key: &str, op: Op<'_>) -> Fault {
        if self.armed.load(std::sync::atomic::Ordering::Relaxed) {
            (self.rule)(&self.inner, key, op)
        } else {
            Fault::Pass
        }
    }

    fn run<T>(
        &self,
        key: &str,
        op: Op<'_>,
        call: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        Self::apply(self.fault(key, op), call)
    }

    fn apply<T>(fault: Fault, call: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        match fault {
            Fault::Pass | Fault::SwapDenied => call(),
            Fault::Before => Err(StoreError("store went away".into())),
            Fault::After => {
                call()?;
                Err(StoreError("reply lost".into()))
            }
        }
    }
}

impl<S: Kv> Kv for Faulty<S> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        if self.reads {
            return self.run(key, Op::Get, || self.inner.get(key));
        }
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.run(key, Op::Set(value), || self.inner.set(key, value))
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.run(key, Op::Delete, || self.inner.delete(key))
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.run(key, Op::Increment, || self.inner.increment(key, delta))
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        match self.fault(key, Op::Swap(new)) {
            Fault::SwapDenied => {
                self.inner.compare_and_swap(key, expected, new)?;
                Ok(false)
            }
            fault => Self::apply(fault, || self.inner.compare_and_swap(key, expected, new)),
        }
    }
    fn write_id(&self, key: &str) -> u64 {
        self.inner.write_id(key)
    }
}

/// The other request of [`racing_first_write`]: the key it races on and
/// what it does.
#[cfg(any(test, feature = "testing"))]
type Racer = Option<(String, Box<dyn FnOnce(&dyn Kv)>)>;

#[cfg(any(test, feature = "testing"))]
thread_local! {
    static RACER: std::cell::RefCell<Racer> = const { std::cell::RefCell::new(None) };
    static OVERWRITTEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A store for tests of records created from a default: the first time a
/// request writes `key` plainly while it is missing, another request runs
/// `other` on the store just before (both found the record missing).
/// [`overwritten`] tells whether that plain write then landed on a record
/// `other` had made. Per test thread.
#[cfg(any(test, feature = "testing"))]
pub fn racing_first_write(key: &str, other: impl FnOnce(&dyn Kv) + 'static) -> Faulty<MemKv> {
    RACER.with(|r| *r.borrow_mut() = Some((key.to_string(), Box::new(other))));
    OVERWRITTEN.with(|o| o.set(false));
    Faulty::new(MemKv::new(), |inner, key, op| {
        if matches!(op, Op::Set(_)) && matches!(inner.get(key), Ok(None)) {
            let other = RACER.with(|r| {
                let mut r = r.borrow_mut();
                match r.as_ref() {
                    Some((k, _)) if k == key => r.take().map(|(_, f)| f),
                    _ => None,
                }
            });
            if let Some(other) = other {
                other(inner);
                if matches!(inner.get(key), Ok(Some(_))) {
                    OVERWRITTEN.with(|o| o.set(true));
                }
            }
        }
        Fault::Pass
    })
}

/// Whether the write [`racing_first_write`] watched landed on another
/// request's record.
#[cfg(any(test, feature = "testing"))]
pub fn overwritten() -> bool {
    OVERWRITTEN.with(|o| o.get())
}

#[cfg(any(test, feature = "testing"))]
thread_local! {
    static DEATH: std::cell::Cell<Option<(&'static str, u32)>> = const { std::cell::Cell::new(None) };
}

/// A store for tests that behaves like Spin 4.0.2's Redis store (every
/// compare-and-swap is written and reported failed), on which a request
/// dies (its instance traps: here, a panic) where [`die_at`] says.
#[cfg(any(test, feature = "testing"))]
pub fn spin_redis() -> Faulty<MemKv> {
    Faulty::new(MemKv::new(), |_, key, op| {
        let dies = DEATH.with(|d| match d.get() {
            Some((part, n)) if key.contains(part) => {
                d.set((n > 1).then_some((part, n - 1)));
                n <= 1
            }
            _ => false,
        });
        if dies {
            panic!("the request died writing {key}");
        }
        match op {
            Op::Swap(_) => Fault::SwapDenied,
            _ => Fault::Pass,
        }
    })
}

/// The request on a [`spin_redis`] store dies at its `nth` write (1: the
/// first) to a key containing `part`, once. Per test thread.
#[cfg(any(test, feature = "testing"))]
pub fn die_at(part: &'static str, nth: u32) {
    DEATH.with(|d| d.set(Some((part, nth))));
}
