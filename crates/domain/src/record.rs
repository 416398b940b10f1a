//! How the domain writes without losing updates on a store with no
//! transactions, and without trusting the store's answer to a write:
//!
//! - [`update`]: read-modify-write of a versioned JSON record by
//!   compare-and-swap on the exact bytes read, retried on conflict. Every
//!   value it writes carries a fresh write id (`"_w"`, the record's last
//!   [`KEPT_WRITE_IDS`]), so after a swap reported failed or erroring, the
//!   next read tells whether this request's write landed: one that did is a
//!   success (never applied twice), one that did not is retried from the
//!   state read. The record already exists, so this never swaps from absent.
//! - [`acquire`]: a claim on a name (a workspace id, an email, a key) that
//!   one request holds at a time, and that a later request takes over when
//!   its holder died or lost its answers, so no claim strands its name. The
//!   claim key is made to exist by an increment of 0 and then swapped: never
//!   a compare-and-swap from an absent key, which Spin's SQLite store turns
//!   into an upsert.
//! - [`ensure`]: a record that starts from a default (a list, a settings
//!   record) is written by the one request holding its claim, never on top
//!   of another request's update.
//! - Append-only data (messages, audit entries) goes to its own keys, ordered
//!   by an atomic counter, and is never rewritten. An increment whose answer
//!   was lost may have counted: readers of numbered sequences skip gaps. A
//!   write at such a key whose answer was lost is settled by one read
//!   ([`write_fresh`]), so a retry does not write the item at a second
//!   number.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::time::Millis;

use crate::error::{Error, Result};
use crate::store::Kv;

/// How many times [`update`] retries a lost compare-and-swap.
pub const MAX_CAS_RETRIES: usize = 1000;

/// How many times [`update`] retries a swap that failed with a store error
/// (and did not land) before it gives the error back.
pub const MAX_ERROR_RETRIES: usize = 3;

/// How many of its last write ids a record keeps in `"_w"`. A writer whose
/// swap's answer was lost reads the record right after; its id is still
/// there unless more than this many writers wrote on top in between.
pub const KEPT_WRITE_IDS: usize = 12;

/// The write ids stamped into a value, oldest first (none when the value
/// was never swapped). `"_w"` is the last field of the object ([`stamp`]
/// appends it), and the same characters inside a string value are escaped
/// (`\"_w\"`), so the last match is the field.
fn stamps_of(bytes: &[u8]) -> Vec<String> {
    const FIELD: &[u8] = b"\"_w\":[";
    let Some(at) = bytes.windows(FIELD.len()).rposition(|w| w == FIELD) else {
        return Vec::new();
    };
    let rest = &bytes[at + FIELD.len()..];
    let Some(end) = rest.iter().position(|b| *b == b']') else {
        return Vec::new();
    };
    std::str::from_utf8(&rest[..end])
        .unwrap_or_default()
        .split(',')
        .map(|id| id.trim().trim_matches('"').to_string())
        .filter(|id| !id.is_empty())
        .collect()
}

/// `value` (a serialized JSON object) with `"_w"`: the ids kept from `old`
/// and `id` last. Readers of the record ignore the field.
fn stamp(value: Vec<u8>, old: Option<&[u8]>, id: &str) -> Vec<u8> {
    stamp_keeping(value, old, id, KEPT_WRITE_IDS)
}

/// [`stamp`], keeping the last `kept` ids.
fn stamp_keeping(mut value: Vec<u8>, old: Option<&[u8]>, id: &str, kept: usize) -> Vec<u8> {
    let mut ids = old.map(stamps_of).unwrap_or_default();
    ids.push(id.to_string());
    let keep = ids.len().saturating_sub(kept);
    let list = serde_json::to_string(&ids[keep..]).unwrap_or_else(|_| "[]".into());
    debug_assert_eq!(value.last(), Some(&b'}'));
    value.pop();
    if value.len() > 1 {
        value.push(b',');
    }
    value.extend_from_slice(b"\"_w\":");
    value.extend_from_slice(list.as_bytes());
    value.push(b'}');
    value
}

/// Whether one of `mine` is among the write ids stamped into `bytes`.
fn landed(bytes: &[u8], mine: &[String]) -> bool {
    !mine.is_empty() && stamps_of(bytes).iter().any(|w| mine.contains(w))
}

/// A fresh write id from the store for a write to `key`, as stamped.
fn fresh_id(kv: &dyn Kv, key: &str) -> String {
    format!("{:016x}", kv.write_id(key))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))
}

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
pub(crate) fn decode<T: DeserializeOwned>(key: &str, value: Option<Vec<u8>>) -> Result<Option<T>> {
    match value {
        None => Ok(None),
        // What `ensure` swaps from (an increment of 0) is no record yet.
        Some(bytes) if is_placeholder(&bytes) && serde_json::from_slice::<T>(&bytes).is_err() => {
            Ok(None)
        }
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

/// [`write`] a record at a key fresh from a counter (nobody else writes
/// it), settling a lost answer: when the write reports an error, one read
/// tells whether it landed. The same bytes there mean it did (a success, so
/// the caller's retry never writes the item again at a second number);
/// anything else returns the write's error, and the number stays a gap,
/// which readers of numbered sequences skip.
pub fn write_fresh<T: Serialize>(kv: &dyn Kv, key: &str, value: &T) -> Result<()> {
    let bytes = to_json(value)?;
    match kv.set(key, &bytes) {
        Ok(()) => Ok(()),
        Err(e) => match kv.get(key) {
            Ok(Some(there)) if there == bytes => Ok(()),
            _ => Err(Error::Store(e)),
        },
    }
}

/// [`write_fresh`] for several keys in one batch write, in the order
/// given. The batch is not promised atomic: callers order `pairs` so that
/// any prefix of them is harmless (data before what points at it). A
/// batch whose answer was lost is settled by one batch read: written when
/// every pair is there as given, else the write's error.
pub fn write_fresh_many(kv: &dyn Kv, pairs: &[(String, Vec<u8>)]) -> Result<()> {
    match kv.set_many(pairs) {
        Ok(()) => Ok(()),
        Err(e) => {
            let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
            match kv.get_many(&keys) {
                Ok(there)
                    if there
                        .iter()
                        .zip(pairs)
                        .all(|(t, (_, v))| t.as_deref() == Some(&v[..])) =>
                {
                    Ok(())
                }
                _ => Err(Error::Store(e)),
            }
        }
    }
}

/// Read a counter written by `increment` without changing it. Backends
/// store counters differently (8 little-endian bytes in Spin's SQLite store,
/// decimal text in Redis); both are read. Absent is 0.
pub fn read_counter(kv: &dyn Kv, key: &str) -> Result<u64> {
    let Some(bytes) = kv.get(key)? else {
        return Ok(0);
    };
    counter_value(&bytes)
        .ok_or_else(|| Error::Store(crate::store::StoreError(format!("corrupt counter {key}"))))
}

/// The number a counter's bytes hold (as read by a batch read), in either
/// backend's encoding; `None` when they are not a counter.
pub fn counter_of(bytes: &[u8]) -> Option<u64> {
    counter_value(bytes)
}

/// The number a counter's bytes hold, in either backend's encoding; `None`
/// when they are not a counter.
fn counter_value(bytes: &[u8]) -> Option<u64> {
    if let Ok(arr) = <[u8; 8]>::try_from(bytes) {
        if let Ok(text) = std::str::from_utf8(&arr)
            && let Ok(n) = text.trim().parse::<u64>()
        {
            return Some(n);
        }
        return Some(i64::from_le_bytes(arr).max(0) as u64);
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
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
/// minutes pass. The value is `minute:write-id`, so a swap whose answer was
/// lost is settled by one read: it landed (true) or it did not; when the
/// store cannot say, the error is returned and callers record nothing, so
/// there are never two records in one minute.
pub fn advance_minute(kv: &dyn Kv, key: &str, minute: i64) -> Result<bool> {
    let minute_of = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.split(':').next())
            .and_then(|t| t.trim().parse::<i64>().ok())
    };
    let mut old = kv.get(key)?;
    if old.is_none() {
        // Swap from present only: an increment of 0 makes the key exist.
        kv.increment(key, 0)?;
        old = kv.get(key)?;
    }
    // A counter or corrupt value is replaced (it only throttles an audit entry).
    if old
        .as_deref()
        .and_then(minute_of)
        .is_some_and(|last| last >= minute)
    {
        return Ok(false);
    }
    let new = format!("{minute}:{}", fresh_id(kv, key)).into_bytes();
    let answer = kv.compare_and_swap(key, old.as_deref(), &new);
    if let Ok(true) = answer {
        return Ok(true);
    }
    if kv.get(key)?.as_deref() == Some(&new[..]) {
        return Ok(true);
    }
    Ok(answer?)
}

/// Apply `f` to the record at `key` and store it with its version bumped,
/// by compare-and-swap; retried when another writer got there first. `f` may
/// refuse with an error, which is returned and writes nothing. Returns the
/// stored record.
///
/// The value is stamped with this change's write id. A swap reported
/// failed, or failing with a store error, may still have written (a lost
/// reply; Spin 4.0.2's Redis store reports every swap failed after writing
/// it): the next read finds the id when it did, and the update is then
/// done, once. A store error whose write did not land is retried from
/// that read, at most [`MAX_ERROR_RETRIES`] times.
pub fn update<T, F>(kv: &dyn Kv, key: &str, mut f: F) -> Result<T>
where
    T: Serialize + DeserializeOwned + Versioned,
    F: FnMut(&mut T) -> Result<()>,
{
    // One id for this change, whichever attempt lands. Found on the record
    // at any read, the change is there already: from a swap of this call
    // whose answer was lost, or from an earlier attempt of the same request
    // (an idempotent request's ids are its own, see `Kv::write_id`).
    let id = fresh_id(kv, key);
    swap_once(kv, key, &id, |old, landed| {
        let Some(old) = old else {
            return Err(Error::NotFound);
        };
        let mut value: T = serde_json::from_slice(old).map_err(|e| {
            Error::Store(crate::store::StoreError(format!(
                "corrupt record {key}: {e}"
            )))
        })?;
        if landed {
            return Ok(Step::Done(value));
        }
        f(&mut value)?;
        value.set_version(value.version() + 1);
        let new = stamp(to_json(&value)?, Some(old), &id);
        Ok(Step::Swap(new, value))
    })
}

/// One step of [`swap_once`].
enum Step<R> {
    /// Finished with this result.
    Done(R),
    /// Swap what was read for these bytes; this result when it lands.
    Swap(Vec<u8>, R),
    /// Read again.
    Again,
}

/// The compare-and-swap loop of [`update`] and [`tally_once`]: read `key`,
/// and let `step` decide from the value (and whether the change named `id`
/// is already on it) to finish, to swap, or to read again. A lost race is
/// retried from the next read; so is a swap that failed with a store error,
/// at most [`MAX_ERROR_RETRIES`] times, after which the error is returned
/// (uncertain: the caller answers 503 and a retry finds out).
fn swap_once<R>(
    kv: &dyn Kv,
    key: &str,
    id: &str,
    mut step: impl FnMut(Option<&[u8]>, bool) -> Result<Step<R>>,
) -> Result<R> {
    let mine = [id.to_string()];
    let mut errors = 0;
    for _ in 0..MAX_CAS_RETRIES {
        let old = kv.get(key)?;
        let landed = old.as_deref().is_some_and(|b| landed(b, &mine));
        let (new, result) = match step(old.as_deref(), landed)? {
            Step::Done(r) => return Ok(r),
            Step::Again => continue,
            Step::Swap(new, r) => (new, r),
        };
        match kv.compare_and_swap(key, old.as_deref(), &new) {
            Ok(true) => return Ok(result),
            Ok(false) => {}
            Err(e) => {
                errors += 1;
                if errors > MAX_ERROR_RETRIES {
                    return Err(Error::Store(e));
                }
            }
        }
    }
    Err(Error::Conflict(
        "too many concurrent changes; try again".into(),
    ))
}

/// Add `delta` to the tally at `key` once for the change named `id`, however
/// often it is asked and whatever the store answers: the tally is a JSON
/// record (`{"n": …}`) changed by compare-and-swap and stamped with the ids
/// of its last `kept` changes, so a change already counted is found there
/// and not counted again. A plain counter left at `key` (an `increment`'s
/// value, e.g. from before tallies) is taken as the starting number, and an
/// absent key is made to exist by an increment of 0 (never a swap from
/// absent). Returns the tally.
pub fn tally_once(kv: &dyn Kv, key: &str, id: &str, delta: i64, kept: usize) -> Result<i64> {
    #[derive(Serialize)]
    struct Tally {
        n: i64,
    }
    swap_once(kv, key, id, |old, landed| {
        let Some(old) = old else {
            // Swap from present only: an increment of 0 makes the key exist.
            kv.increment(key, 0)?;
            return Ok(Step::Again);
        };
        let n = tally_value(old);
        if landed {
            return Ok(Step::Done(n));
        }
        let new = stamp_keeping(to_json(&Tally { n: n + delta })?, Some(old), id, kept);
        Ok(Step::Swap(new, n + delta))
    })
}

/// The number a tally ([`tally_once`]) or a plain counter holds (0 when
/// neither).
pub fn tally_value(bytes: &[u8]) -> i64 {
    #[derive(Deserialize)]
    struct Tally {
        n: i64,
    }
    if let Ok(t) = serde_json::from_slice::<Tally>(bytes) {
        return t.n;
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok());
    match (text, <[u8; 8]>::try_from(bytes)) {
        (Some(n), _) => n,
        (None, Ok(arr)) => i64::from_le_bytes(arr),
        (None, Err(_)) => 0,
    }
}

/// The claim record [`acquire`] keeps at a claim key.
#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    /// Who holds it (empty: released).
    holder: String,
    /// When the holder took it.
    at: Millis,
    /// The work it guards is finished: the name is taken for good.
    #[serde(default)]
    done: bool,
}

/// What [`acquire`] found.
#[derive(Debug)]
pub enum Claim {
    /// This caller holds the claim now (fresh, released, taken over from a
    /// holder silent for the stale time, or already its own).
    Held(Lease),
    /// Another caller holds it and may still be working.
    Busy,
    /// The work it guards was finished ([`finish`]).
    Done,
}

/// A held claim (see [`acquire`]).
#[derive(Debug)]
pub struct Lease {
    key: String,
    /// The claim's bytes as this caller last wrote them.
    bytes: Vec<u8>,
}

/// Swap the claim at `key` from `old` to `record`; whether this call's
/// write is what the store holds afterwards (one read after a failed or
/// erroring swap tells).
fn swap_claim(kv: &dyn Kv, key: &str, old: &[u8], record: &ClaimRecord) -> Result<Option<Vec<u8>>> {
    let id = fresh_id(kv, key);
    let new = stamp(to_json(record)?, Some(old), &id);
    let answer = kv.compare_and_swap(key, Some(old), &new);
    if let Ok(true) = answer {
        return Ok(Some(new));
    }
    match kv.get(key)? {
        Some(now) if landed(&now, std::slice::from_ref(&id)) => Ok(Some(now)),
        _ => match answer {
            Err(e) => Err(Error::Store(e)),
            _ => Ok(None),
        },
    }
}

/// Claim the name at `key` for `holder`, at `now`. One caller holds a
/// claim at a time; a later caller takes it over when the claim was
/// released or its holder has been silent for `stale_after` (it died, or
/// lost the store's answers), and a caller with the same `holder` (a retry
/// of the same request, e.g. by its Idempotency-Key) takes it back at once.
/// The holder [`finish`]es it when the work it guards is done, or
/// [`release`]s it when that work failed and left nothing behind.
pub fn acquire(
    kv: &dyn Kv,
    key: &str,
    holder: &str,
    now: Millis,
    stale_after: Millis,
) -> Result<Claim> {
    for _ in 0..MAX_CAS_RETRIES {
        let Some(bytes) = kv.get(key)? else {
            // Make the key exist (a counter at 0, or whatever a racing
            // caller put there) so that the claim is a swap from present.
            kv.increment(key, 0)?;
            continue;
        };
        let current = serde_json::from_slice::<ClaimRecord>(&bytes).ok();
        if let Some(c) = &current {
            if c.done {
                return Ok(Claim::Done);
            }
            if !c.holder.is_empty() && c.holder != holder && now.saturating_sub(c.at) < stale_after
            {
                return Ok(Claim::Busy);
            }
        }
        // Free (a fresh counter, released, stale) or already ours.
        let record = ClaimRecord {
            holder: holder.to_string(),
            at: now,
            done: false,
        };
        if let Some(bytes) = swap_claim(kv, key, &bytes, &record)? {
            return Ok(Claim::Held(Lease {
                key: key.to_string(),
                bytes,
            }));
        }
    }
    Err(Error::Conflict(
        "too many concurrent changes; try again".into(),
    ))
}

/// Mark a held claim's work finished: the name stays taken for good. An
/// error leaves it held; a later caller with the same holder, or any after
/// the stale time, finds the work done and finishes it.
pub fn finish(kv: &dyn Kv, lease: Lease) -> Result<()> {
    let mut record: ClaimRecord = serde_json::from_slice(&lease.bytes)
        .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
    record.done = true;
    match swap_claim(kv, &lease.key, &lease.bytes, &record)? {
        Some(_) => Ok(()),
        // Someone took it over: this holder was too slow to count.
        None => Err(Error::Conflict(
            "another request took this over; try again".into(),
        )),
    }
}

/// The write that marks a held claim's work finished, for a caller that
/// writes it in a batch after that work (its key and bytes): what
/// [`finish`] swaps in, written plainly. A plain write is enough there: a
/// claim is only ever finished by a holder whose work is done, so a claim
/// another delivery took over meanwhile (this one was slow, not dead) is
/// finished rightly, and that one's own finish or release then fails,
/// leaving it finished.
pub fn finished_write(kv: &dyn Kv, lease: &Lease) -> Result<(String, Vec<u8>)> {
    let mut record: ClaimRecord = serde_json::from_slice(&lease.bytes)
        .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
    record.done = true;
    let id = fresh_id(kv, &lease.key);
    let bytes = stamp(to_json(&record)?, Some(&lease.bytes), &id);
    Ok((lease.key.clone(), bytes))
}

/// Give up a held claim whose work failed and left nothing behind, so the
/// next caller can take it at once. Best effort (a few tries): a claim that
/// cannot be released is taken over after the stale time.
pub fn release(kv: &dyn Kv, lease: Lease) {
    let free = ClaimRecord {
        holder: String::new(),
        at: 0,
        done: false,
    };
    // Tried a few times: a claim left held blocks its name until stale.
    for _ in 0..5 {
        if swap_claim(kv, &lease.key, &lease.bytes, &free).is_ok() {
            return;
        }
    }
}

/// [`acquire`] on a key that [`claim`] may have counted before claims had
/// holders: a count above 0 there took the name for good (its work done, or
/// stranded by a claimer that died, which cannot be told apart), so it is
/// [`Claim::Done`]; otherwise as [`acquire`].
pub fn acquire_after_claim(
    kv: &dyn Kv,
    key: &str,
    holder: &str,
    now: Millis,
    stale_after: Millis,
) -> Result<Claim> {
    if let Some(bytes) = kv.get(key)?
        && serde_json::from_slice::<ClaimRecord>(&bytes).is_err()
        && counter_value(&bytes).is_some_and(|n| n > 0)
    {
        return Ok(Claim::Done);
    }
    acquire(kv, key, holder, now, stale_after)
}

/// Whether `bytes` are what an increment of 0 leaves at an absent key (a
/// counter at 0, in either backend's encoding): the placeholder [`ensure`]
/// swaps from.
fn is_placeholder(bytes: &[u8]) -> bool {
    bytes == [0u8; 8] || bytes.trim_ascii() == b"0"
}

/// Make sure a record exists at `key`, writing `initial` when none does: for
/// records whose first value every creator writes alike (an empty list), so
/// any record found there is as good as this caller's. Never a swap from an
/// absent key: an increment of 0 makes the key exist (a placeholder that
/// [`read_ensured`] reads as absent), then one compare-and-swap replaces
/// it. A creator that dies in between leaves the placeholder for the next
/// one, and a swap whose answer was lost or denied is settled by the next
/// read; nothing strands the key.
pub fn ensure<T: Serialize>(kv: &dyn Kv, key: &str, initial: &T) -> Result<()> {
    let value = to_json(initial)?;
    let mut errors = 0;
    for _ in 0..MAX_CAS_RETRIES {
        let outcome = match kv.get(key)? {
            Some(bytes) if !is_placeholder(&bytes) => return Ok(()),
            Some(bytes) => kv.compare_and_swap(key, Some(&bytes), &value).map(drop),
            None => kv.increment(key, 0).map(drop),
        };
        if let Err(e) = outcome {
            errors += 1;
            if errors > MAX_ERROR_RETRIES {
                return Err(Error::Store(e));
            }
        }
    }
    Err(Error::Conflict(
        "too many concurrent changes; try again".into(),
    ))
}

/// Read a record that [`ensure`] may be making: its placeholder reads as
/// absent.
pub fn read_ensured<T: DeserializeOwned>(kv: &dyn Kv, key: &str) -> Result<Option<T>> {
    decode_ensured(key, kv.get(key)?)
}

/// Decode a value read (in a batch) at `key`, where [`ensure`] may be
/// making the record: its placeholder reads as absent.
pub(crate) fn decode_ensured<T: DeserializeOwned>(
    key: &str,
    value: Option<Vec<u8>>,
) -> Result<Option<T>> {
    match value {
        Some(bytes) if is_placeholder(&bytes) => Ok(None),
        value => decode(key, value),
    }
}

/// How long a claim's holder may stay silent before a later request takes
/// it over ([`acquire`]): a minute, as for an Idempotency-Key. A request
/// that has held a claim that long has ended (the host's request deadline
/// is 30 s) or lost its answers.
pub const CLAIM_STALE: Millis = 60_000;

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
        let last = kv.get("k").unwrap().unwrap();
        assert!(
            last.starts_with(b"199:"),
            "{}",
            String::from_utf8_lossy(&last)
        );
    }

    /// A store where another request advances the minute between our read
    /// and our swap.
    fn racing() -> Faulty<MemKv> {
        Faulty::new(MemKv::new(), |inner, key, op| {
            if let Op::Swap(new) = op {
                let minute = std::str::from_utf8(new).unwrap().split(':').next().unwrap();
                inner
                    .set(key, format!("{minute}:theirs").as_bytes())
                    .unwrap();
            }
            Fault::Pass
        })
    }

    #[test]
    fn advance_minute_loses_when_another_writer_swapped_first() {
        let kv = racing();
        kv.set("k", b"5").unwrap();
        assert!(!advance_minute(&kv, "k", 6).unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"6:theirs"[..]));
    }

    #[test]
    fn advance_minute_knows_its_own_swap_when_the_answer_is_lost() {
        let kv = lost_swap_reply();
        // The swap landed and was reported failed: one read settles it.
        assert!(advance_minute(&kv, "k", 3).unwrap());
        // The retry in the same minute records nothing.
        assert!(!advance_minute(&kv, "k", 3).unwrap());
        // A swap that never landed, with the store unable to say, is an error.
        let down = Faulty::new(MemKv::new(), |_, _, op| match op {
            Op::Swap(_) => Fault::Before,
            _ => Fault::Pass,
        });
        assert!(advance_minute(&down, "k", 3).is_err());
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

    /// Every third write call faults, in turn: it fails before writing, it
    /// writes and loses its reply, or (a swap) it writes and is denied.
    fn unreliable() -> Faulty<MemKv> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Faulty::new(MemKv::new(), |_, _, op| {
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match (n % 9, op) {
                (0, _) => Fault::Before,
                (3, _) => Fault::After,
                (6, Op::Swap(_)) => Fault::SwapDenied,
                _ => Fault::Pass,
            }
        })
    }

    #[test]
    fn updates_apply_once_whatever_the_store_answers() {
        // A swap that lands but is reported failed (Spin 4.0.2's Redis) or
        // erroring (a lost reply) counts once, never twice, never zero.
        for rule in [
            (|_: &dyn Kv, _: &str, op: Op<'_>| match op {
                Op::Swap(_) => Fault::SwapDenied,
                _ => Fault::Pass,
            }) as fn(&dyn Kv, &str, Op<'_>) -> Fault,
            |_, _, op| match op {
                Op::Swap(_) => Fault::After,
                _ => Fault::Pass,
            },
        ] {
            let kv = Faulty::new(MemKv::new(), rule);
            write(&kv, "c", &Counter { n: 0, version: 0 }).unwrap();
            for i in 1..=20 {
                let c = update(&kv, "c", |c: &mut Counter| {
                    c.n += 1;
                    Ok(())
                })
                .unwrap();
                assert_eq!((c.n, c.version), (i, i));
            }
            let c: Counter = read(&kv, "c").unwrap().unwrap();
            assert_eq!(c.n, 20);
            // The record keeps its last few write ids, no more.
            let stored = kv.get("c").unwrap().unwrap();
            assert_eq!(stamps_of(&stored).len(), KEPT_WRITE_IDS);
        }
    }

    #[test]
    fn write_ids_are_read_from_the_last_field_only() {
        let v = stamp(br#"{"name":"\"_w\":[\"x\"]"}"#.to_vec(), None, "ab12");
        assert_eq!(stamps_of(&v), vec!["ab12".to_string()]);
        let v2 = stamp(br#"{"n":1}"#.to_vec(), Some(&v), "cd34");
        assert_eq!(stamps_of(&v2), vec!["ab12".to_string(), "cd34".to_string()]);
        assert!(serde_json::from_slice::<serde_json::Value>(&v2).is_ok());
        assert_eq!(stamps_of(b"{}"), Vec::<String>::new());
        assert_eq!(
            stamp(b"{}".to_vec(), None, "e"),
            br#"{"_w":["e"]}"#.to_vec()
        );
    }

    #[test]
    fn concurrent_updates_on_an_unreliable_store_count_each_acknowledged_one_once() {
        let kv = unreliable();
        kv.arm(false);
        write(&kv, "c", &Counter { n: 0, version: 0 }).unwrap();
        kv.arm(true);
        let acknowledged: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut ok = 0;
                        for _ in 0..100 {
                            // A failed update is retried, as a client would.
                            for _ in 0..10 {
                                let r = update(&kv, "c", |c: &mut Counter| {
                                    c.n += 1;
                                    Ok(())
                                });
                                if r.is_ok() {
                                    ok += 1;
                                    break;
                                }
                            }
                        }
                        ok
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(acknowledged, 800);
        kv.arm(false);
        let c: Counter = read(&kv, "c").unwrap().unwrap();
        // Nothing counted twice; an update given up on with an error may
        // have counted once (its outcome was unknown to it).
        assert_eq!(c.n, c.version);
        assert!((800..=810).contains(&c.n), "{}", c.n);
    }

    #[test]
    fn claims_are_held_by_one_and_taken_over_when_released_or_stale() {
        let kv = MemKv::new();
        let Claim::Held(_) = acquire(&kv, "cl", "a", 1_000, 60_000).unwrap() else {
            panic!("the first caller holds it")
        };
        assert!(matches!(
            acquire(&kv, "cl", "b", 2_000, 60_000).unwrap(),
            Claim::Busy
        ));
        // The same holder (a retry of the same request) takes it back.
        let Claim::Held(a) = acquire(&kv, "cl", "a", 3_000, 60_000).unwrap() else {
            panic!("its own")
        };
        release(&kv, a);
        let Claim::Held(b) = acquire(&kv, "cl", "b", 4_000, 60_000).unwrap() else {
            panic!("released")
        };
        // b goes silent; after the stale time c takes over, and b's finish
        // is refused.
        assert!(matches!(
            acquire(&kv, "cl", "c", 63_999, 60_000).unwrap(),
            Claim::Busy
        ));
        let Claim::Held(c) = acquire(&kv, "cl", "c", 64_000, 60_000).unwrap() else {
            panic!("stale")
        };
        assert!(finish(&kv, b).is_err());
        finish(&kv, c).unwrap();
        assert!(matches!(
            acquire(&kv, "cl", "d", 999_999, 60_000).unwrap(),
            Claim::Done
        ));
    }

    #[test]
    fn a_claim_has_one_holder_among_racers_on_an_unreliable_store() {
        for round in 0..50 {
            let kv = unreliable();
            let key = format!("cl{round}");
            let holders: Vec<String> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..8)
                    .map(|i| {
                        let kv = &kv;
                        let key = &key;
                        s.spawn(move || {
                            let me = format!("h{i}");
                            for _ in 0..10 {
                                match acquire(kv, key, &me, 5, 60_000) {
                                    Ok(Claim::Held(_)) => return Some(me),
                                    Ok(_) => return None,
                                    Err(_) => continue,
                                }
                            }
                            None
                        })
                    })
                    .collect();
                hs.into_iter().filter_map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(holders.len(), 1, "round {round}: {holders:?}");
        }
    }

    #[test]
    fn ensure_makes_one_record_from_present_whatever_the_store_answers() {
        static SWAPS_FROM_ABSENT: std::sync::atomic::AtomicU64 =
            std::sync::atomic::AtomicU64::new(0);
        let kv = unreliable();
        let with_check = Faulty::new(&kv, |inner, key, op| {
            if matches!(op, Op::Swap(_)) && inner.get(key).unwrap().is_none() {
                SWAPS_FROM_ABSENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Fault::Pass
        });
        for i in 0..40 {
            let key = format!("list{i}");
            // A caller that fails is retried, as a client would.
            let made =
                (0..10).any(|_| ensure(&with_check, &key, &Counter { n: 0, version: 0 }).is_ok());
            assert!(made, "{key}");
            let c: Counter = read_ensured(&with_check, &key).unwrap().unwrap();
            assert_eq!(c, Counter { n: 0, version: 0 });
            // Made once: a second call changes nothing.
            kv.arm(false);
            let before = kv.get(&key).unwrap();
            ensure(&kv, &key, &Counter { n: 9, version: 9 }).unwrap();
            assert_eq!(kv.get(&key).unwrap(), before);
            kv.arm(true);
        }
        assert_eq!(
            SWAPS_FROM_ABSENT.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "never a swap from an absent key"
        );
    }

    #[test]
    fn a_placeholder_left_by_a_creator_that_died_reads_as_absent_and_is_made() {
        let kv = MemKv::new();
        // A creator made the key exist and died before its swap.
        kv.increment("l", 0).unwrap();
        assert_eq!(read_ensured::<Counter>(&kv, "l").unwrap(), None);
        ensure(&kv, "l", &Counter { n: 0, version: 0 }).unwrap();
        assert_eq!(
            read_ensured::<Counter>(&kv, "l").unwrap(),
            Some(Counter { n: 0, version: 0 })
        );
        // Redis keeps counters as decimal text.
        kv.set("r", b"0").unwrap();
        assert_eq!(read_ensured::<Counter>(&kv, "r").unwrap(), None);
    }

    #[test]
    fn a_name_claimed_before_claims_had_holders_is_done() {
        let kv = MemKv::new();
        assert!(claim(&kv, "old").unwrap());
        assert!(matches!(
            acquire_after_claim(&kv, "old", "a", 0, 60_000).unwrap(),
            Claim::Done
        ));
        // A placeholder (count 0) is free; a holder's claim is as acquire's.
        kv.increment("fresh", 0).unwrap();
        let Claim::Held(l) = acquire_after_claim(&kv, "fresh", "a", 0, 60_000).unwrap() else {
            panic!("free")
        };
        assert!(matches!(
            acquire_after_claim(&kv, "fresh", "b", 1, 60_000).unwrap(),
            Claim::Busy
        ));
        finish(&kv, l).unwrap();
        assert!(matches!(
            acquire_after_claim(&kv, "fresh", "b", 2, 60_000).unwrap(),
            Claim::Done
        ));
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
    }

    /// A write whose answer was lost is settled by one read: landed is a
    /// success, not landed is the error (the number stays a gap).
    #[test]
    fn write_fresh_settles_a_lost_answer() {
        let lost = Faulty::new(MemKv::new(), |_, _, op| match op {
            Op::Set(_) => Fault::After,
            _ => Fault::Pass,
        });
        assert!(lost.set("k", b"1").is_err(), "the plain write errs");
        write_fresh(&lost, "n/1", &"one").unwrap();
        assert_eq!(
            read::<String>(&lost, "n/1").unwrap().as_deref(),
            Some("one")
        );
        let down = Faulty::new(MemKv::new(), |_, _, op| match op {
            Op::Set(_) => Fault::Before,
            _ => Fault::Pass,
        });
        assert!(matches!(
            write_fresh(&down, "n/1", &"one"),
            Err(Error::Store(_))
        ));
        assert_eq!(down.get("n/1").unwrap(), None);
    }
}
