//! How the domain writes without losing updates on a store with no
//! transactions:
//!
//! - [`create_unique`]: claim a key with an atomic increment (only the first
//!   claimer sees 1), then write it. No compare-and-swap from an absent key,
//!   which some Spin stores get wrong.
//! - [`update`]: read-modify-write of a versioned JSON record by
//!   compare-and-swap on the exact bytes read, retried on conflict. The
//!   record already exists, so this never CASes from absent.
//! - Append-only data (messages, audit entries) goes to its own keys, ordered
//!   by an atomic counter, and is never rewritten.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::store::Kv;

/// How many times [`update`] retries a lost compare-and-swap.
pub const MAX_CAS_RETRIES: usize = 1000;

/// A record with a version that every update increments.
pub trait Versioned {
    /// Current version.
    fn version(&self) -> u64;
    /// Set the version.
    fn set_version(&mut self, v: u64);
}

/// Implement [`Versioned`] for record types with a `version: u64` field.
#[macro_export]
macro_rules! versioned {
    ($($t:ty),+ $(,)?) => {
        $(impl $crate::record::Versioned for $t {
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, v: u64) {
                self.version = v;
            }
        })+
    };
}

/// Read and decode a JSON record.
pub fn read<T: DeserializeOwned>(kv: &dyn Kv, key: &str) -> Result<Option<T>> {
    decode(key, kv.get(key)?)
}

/// Read and decode the JSON records at `keys` in one batch read, in order.
pub fn read_many<T: DeserializeOwned>(kv: &dyn Kv, keys: &[String]) -> Result<Vec<Option<T>>> {
    kv.get_many(keys)?
        .into_iter()
        .zip(keys)
        .map(|(v, key)| decode(key, v))
        .collect()
}

/// Decode the value read at `key`; a value that does not decode is a
/// store error naming the key.
fn decode<T: DeserializeOwned>(key: &str, value: Option<Vec<u8>>) -> Result<Option<T>> {
    match value {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Store(crate::store::StoreError(format!(
                "corrupt record {key}: {e}"
            )))
        }),
    }
}

/// Write a JSON record unconditionally (for keys nobody else can be writing:
/// fresh counter-numbered keys, or keys won by [`claim`]).
pub fn write<T: Serialize>(kv: &dyn Kv, key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
    kv.set(key, &bytes)?;
    Ok(())
}

/// Read a counter written by `increment` without changing it. Backends
/// store counters differently (8 little-endian bytes in Spin's SQLite store,
/// decimal text in Redis); both are read. Absent is 0.
pub fn read_counter(kv: &dyn Kv, key: &str) -> Result<u64> {
    let Some(bytes) = kv.get(key)? else {
        return Ok(0);
    };
    if let Ok(arr) = <[u8; 8]>::try_from(bytes.as_slice()) {
        if let Ok(text) = std::str::from_utf8(&arr) {
            if let Ok(n) = text.trim().parse::<u64>() {
                return Ok(n);
            }
        }
        return Ok(i64::from_le_bytes(arr).max(0) as u64);
    }
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::Store(crate::store::StoreError(format!("corrupt counter {key}"))))
}

/// Claim a name once and for all: true only for the first caller, ever (until
/// the claim key is deleted).
pub fn claim(kv: &dyn Kv, claim_key: &str) -> Result<bool> {
    Ok(kv.increment(claim_key, 1)? == 1)
}

/// Advance the minute stored at `key` to `minute` by compare-and-swap: true
/// only for the one caller whose swap moved it forward (false when it
/// already reads `minute` or later, or another writer got there first). It
/// keeps one small key for the whole life of what it guards, however many
/// minutes pass. A store error, including a swap whose outcome is unknown,
/// is returned: callers then record nothing, so there are never two records
/// in one minute.
pub fn advance_minute(kv: &dyn Kv, key: &str, minute: i64) -> Result<bool> {
    let old = kv.get(key)?;
    if let Some(bytes) = &old {
        let last = std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok());
        // A corrupt value is replaced (it only throttles an audit entry).
        if last.is_some_and(|last| last >= minute) {
            return Ok(false);
        }
    }
    Ok(kv.compare_and_swap(key, old.as_deref(), minute.to_string().as_bytes())?)
}

/// Create `key` with `value` if nobody claimed it before; `Conflict` otherwise.
pub fn create_unique<T: Serialize>(
    kv: &dyn Kv,
    claim_key: &str,
    key: &str,
    value: &T,
    what: &str,
) -> Result<()> {
    if !claim(kv, claim_key)? {
        return Err(Error::Conflict(format!("{what} already exists")));
    }
    write(kv, key, value)
}

/// Apply `f` to the record at `key` and store it with its version bumped,
/// by compare-and-swap; retried when another writer got there first. `f` may
/// refuse with an error, which is returned and writes nothing. Returns the
/// stored record.
pub fn update<T, F>(kv: &dyn Kv, key: &str, mut f: F) -> Result<T>
where
    T: Serialize + DeserializeOwned + Versioned,
    F: FnMut(&mut T) -> Result<()>,
{
    for _ in 0..MAX_CAS_RETRIES {
        let Some(old_bytes) = kv.get(key)? else {
            return Err(Error::NotFound);
        };
        let mut value: T = serde_json::from_slice(&old_bytes).map_err(|e| {
            Error::Store(crate::store::StoreError(format!(
                "corrupt record {key}: {e}"
            )))
        })?;
        f(&mut value)?;
        value.set_version(value.version() + 1);
        let new_bytes = serde_json::to_vec(&value)
            .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
        if kv.compare_and_swap(key, Some(&old_bytes), &new_bytes)? {
            return Ok(value);
        }
    }
    Err(Error::Conflict(
        "too many concurrent changes; try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// A store whose swaps land but are reported failed (an uncertain outcome).
    fn lost_swap_reply() -> Faulty<MemKv> {
        Faulty::new(MemKv::new(), |_, _, op| match op {
            Op::Swap(_) => Fault::After,
            _ => Fault::Pass,
        })
    }

    #[test]
    fn advance_minute_wins_once_a_minute_on_one_key() {
        let kv = MemKv::new();
        assert!(advance_minute(&kv, "k", 7).unwrap());
        assert!(!advance_minute(&kv, "k", 7).unwrap());
        // A late request from an earlier minute does not move it back.
        assert!(!advance_minute(&kv, "k", 6).unwrap());
        for m in 8..200 {
            assert!(advance_minute(&kv, "k", m).unwrap());
            assert!(!advance_minute(&kv, "k", m).unwrap());
        }
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"199"[..]));
    }

    /// A store where another request advances the minute between our read
    /// and our swap.
    fn racing() -> Faulty<MemKv> {
        Faulty::new(MemKv::new(), |inner, key, op| {
            if let Op::Swap(new) = op {
                inner.set(key, new).unwrap();
            }
            Fault::Pass
        })
    }

    #[test]
    fn advance_minute_loses_when_another_writer_swapped_first() {
        let kv = racing();
        kv.set("k", b"5").unwrap();
        assert!(!advance_minute(&kv, "k", 6).unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"6"[..]));
    }

    #[test]
    fn advance_minute_with_an_uncertain_swap_is_an_error_and_the_minute_stays_taken() {
        let kv = lost_swap_reply();
        assert!(advance_minute(&kv, "k", 3).is_err());
        // The swap landed: the retry in the same minute records nothing.
        assert!(!advance_minute(&kv, "k", 3).unwrap());
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Counter {
        n: u64,
        version: u64,
    }

    impl Versioned for Counter {
        fn version(&self) -> u64 {
            self.version
        }
        fn set_version(&mut self, v: u64) {
            self.version = v;
        }
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let kv = MemKv::new();
        write(&kv, "c", &Counter { n: 0, version: 0 }).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100 {
                        update(&kv, "c", |c: &mut Counter| {
                            c.n += 1;
                            Ok(())
                        })
                        .unwrap();
                    }
                });
            }
        });
        let c: Counter = read(&kv, "c").unwrap().unwrap();
        assert_eq!((c.n, c.version), (800, 800));
    }

    #[test]
    fn refused_updates_write_nothing_and_missing_records_are_not_found() {
        let kv = MemKv::new();
        write(&kv, "c", &Counter { n: 1, version: 0 }).unwrap();
        let r = update(&kv, "c", |_: &mut Counter| {
            Err(Error::Conflict("no".into()))
        });
        assert!(matches!(r, Err(Error::Conflict(_))));
        assert_eq!(
            read::<Counter>(&kv, "c").unwrap().unwrap(),
            Counter { n: 1, version: 0 }
        );
        assert_eq!(
            update(&kv, "absent", |_: &mut Counter| Ok(())).unwrap_err(),
            Error::NotFound
        );
    }

    #[test]
    fn counters_read_in_both_encodings() {
        let kv = MemKv::new();
        assert_eq!(read_counter(&kv, "n").unwrap(), 0);
        kv.increment("n", 300).unwrap();
        assert_eq!(read_counter(&kv, "n").unwrap(), 300);
        kv.set("r", b"12345").unwrap();
        assert_eq!(read_counter(&kv, "r").unwrap(), 12345);
        kv.set("r8", b"12345678").unwrap();
        assert_eq!(read_counter(&kv, "r8").unwrap(), 12345678);
    }

    #[test]
    fn claims_are_exclusive() {
        let kv = MemKv::new();
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|_| s.spawn(|| claim(&kv, "claim/x").unwrap() as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
        assert!(create_unique(&kv, "claim/x", "x", &1, "thing").is_err());
    }
}
