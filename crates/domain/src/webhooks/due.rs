//! The deployment-wide index of due webhook deliveries, by due time, so a
//! flush finds what is due at a bounded cost per call, whatever the history.
//!
//! The index is a sequence of minute buckets. Each bucket is append-only:
//! an atomic counter (`keys::webhook_due_counter`) numbers its entries, and
//! each entry (`keys::webhook_due_entry`) names a workspace and a delivery.
//! An entry is written *before* the delivery change it announces (a new
//! delivery, a redelivery, the next attempt scheduled by a claim), at the
//! bucket of the delivery's new wake time ([`wake`]), or at the cursor's
//! frontier ([`Floor`], read by the writer) when that is later. So every pending
//! delivery has an entry at or before its wake time's bucket (or at the frontier); an entry may
//! point at a delivery that is not written (its write failed), is done, or
//! has moved to a later wake time (a later entry covers it): such entries
//! are skipped.
//!
//! A cursor (`keys::webhook_due_cursor`: a bucket, how far each
//! bucket from it on is settled, and the frontier) says where unsettled entries start. [`flush`] reads from it: at most
//! [`MAX_BUCKETS`] bucket counters and [`MAX_ENTRIES`] entries per call,
//! each read as one batch, then the deliveries they name as one batch. It
//! moves the cursor over every bucket's settled entries, in order:
//!
//! - an entry whose delivery is done, or waits for a later bucket: settled;
//! - an entry whose delivery is due: handed out for an attempt, and a
//!   re-check entry is written one bucket later first, so a hand-out whose
//!   attempt never happens (the instance died) is found again;
//! - a missing entry (its counter increment landed, its write did not) or a
//!   missing delivery: settled once its bucket is before the aged frontier
//!   (a write may still be in flight before that);
//! - a delivery due later in the current minute: not settled yet;
//! - a due delivery of a workspace that had its [`PER_WORKSPACE`] share
//!   of this call's hand-outs: not settled yet (the next call hands it
//!   out), so one workspace never fills every call;
//! - an expiry past this call's limit, or a hand-out past it: the call
//!   stops there (`more`).
//!
//! A store error part-way still saves the cursor over what was settled
//! before it (then the error is returned), so a call cut short does not
//! leave that work to be redone.
//!
//! Writers' clocks are not trusted. The cursor publishes a *frontier* (a
//! bucket, `open`: the flushing host's current minute, and when it was
//! published, by that host's clock), and every writer appends at
//! `max(bucket(wake), open)` of the cursor it read ([`Floor`], read in a
//! batch the writer makes anyway). A flush *ages* the frontier once it has
//! stood [`GRACE`] (the flush's clock) and publishes a new one; the cursor
//! leaves only buckets before the aged frontier. A writer that appends at
//! bucket `b` read a frontier `<= b`, so it read the cursor before any
//! frontier past `b` was published, and the cursor leaves `b` only
//! [`GRACE`] after that: [`GRACE`] covers the time between a writer's read
//! of the cursor and its entry's write, whatever the writer's clock says
//! (a clock hours behind appends at the frontier; one ahead appends
//! later, which is only read later). Flushing hosts whose clocks differ by
//! `d` shorten that to `GRACE - d`. The cursor is changed by
//! compare-and-swap and only ever moves forward, so concurrent flushes and
//! lost answers never move it back; two flushes may hand out the same
//! delivery, and the claim in [`super::prepare`] lets one of them send it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Delivery, DeliveryState};
use crate::error::Result;
use crate::ids::WorkspaceId;
use crate::keys;
use crate::record::{counter_of, decode_ensured, ensure, read_ensured, update, write_fresh};
use crate::store::Kv;
use crate::time::{HOUR, Millis};

/// Width of a bucket.
pub const BUCKET_MS: Millis = 60_000;
/// How long a published frontier stands (by the flushing host's clock)
/// before the cursor may leave the buckets before it: the longest a
/// writer may take from reading the cursor ([`Floor`]) to writing its
/// entry.
pub const GRACE: Millis = 2 * 60_000;
/// Where a first flush starts (no cursor yet): farther back than the whole
/// retry schedule.
pub const START_BACK: Millis = 48 * HOUR;
/// Most bucket counters one flush reads (one batch): enough for a first
/// flush's [`START_BACK`] in one call. A cursor that fell farther behind
/// (no flush for days) catches up over several calls (`more`).
pub const MAX_BUCKETS: usize = 3_000;
/// Most entries one flush reads (one batch, then one batch of deliveries).
pub const MAX_ENTRIES: usize = 500;
/// Most deliveries of one workspace one flush call hands out: a workspace
/// with many failing endpoints never fills a whole call; its other due
/// entries wait (unsettled, the cursor stays before them) for the next.
pub const PER_WORKSPACE: usize = 5;
/// How long a pending delivery whose last attempt was sent may wait for
/// its outcome before it is failed ("no answer").
pub const ANSWER_WAIT: Millis = HOUR;

/// The bucket of a time.
pub fn bucket(at: Millis) -> i64 {
    at.div_euclid(BUCKET_MS)
}

/// When a pending delivery next needs the flush: its next attempt, or,
/// after its last attempt was sent, the time it is failed for want of an
/// answer. `None` for a delivery that is done.
pub fn wake(d: &Delivery) -> Option<Millis> {
    if d.state != DeliveryState::Pending {
        return None;
    }
    d.next_at.or(d.last_at.map(|t| t + ANSWER_WAIT))
}

/// One entry of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    ws: WorkspaceId,
    n: u64,
}

/// The first bucket a writer may append to: the cursor's frontier, as the
/// writer read it (in a batch it makes anyway, at [`Floor::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor(i64);

impl Floor {
    /// The key a writer reads its floor at (the cursor).
    pub fn key() -> String {
        keys::webhook_due_cursor()
    }

    /// The floor in the value read at [`Floor::key`]; no cursor yet (no
    /// flush has run): the writer's own bucket stands.
    pub fn of(value: Option<Vec<u8>>) -> Result<Floor> {
        let cursor: Option<Cursor> = decode_ensured(&Self::key(), value)?;
        Ok(Floor(cursor.map_or(i64::MIN, |c| c.open)))
    }

    /// The floor read from the store on its own (one call; writers that
    /// read other keys fold [`Floor::key`] into that batch instead).
    pub fn read(kv: &dyn Kv) -> Result<Floor> {
        Floor::of(kv.get(&Self::key())?)
    }
}

/// Announce that delivery `n` of `ws` needs the flush at `at`, appended at
/// `at`'s bucket or the writer's `floor`, whichever is later. Called
/// before the delivery is written with that wake time; an error means the
/// caller must not write it (the entry may exist: it is skipped later).
pub fn add(kv: &dyn Kv, ws: &WorkspaceId, n: u64, at: Millis, floor: Floor) -> Result<()> {
    let b = bucket(at).max(floor.0);
    let i = kv.increment(&keys::webhook_due_counter(b), 1)? as u64;
    write_fresh(
        kv,
        &keys::webhook_due_entry(b, i),
        &Entry { ws: ws.clone(), n },
    )
}

/// Where unsettled entries start: every bucket before `bucket` is settled,
/// and of `bucket` and the buckets after it, the first `settled[b]`
/// entries (the ones after an unsettled entry wait for it). Also the
/// frontier writers append at or after (`open`, published at `open_at`),
/// and the last frontier that stood [`GRACE`] (`aged`): `bucket <= aged
/// <= open`. A cursor written before the frontier existed reads them as
/// 0: it leaves no bucket until a frontier has aged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    bucket: i64,
    #[serde(default)]
    settled: BTreeMap<i64, u64>,
    #[serde(default)]
    open: i64,
    #[serde(default)]
    open_at: Millis,
    #[serde(default)]
    aged: i64,
    version: u64,
}

crate::versioned!(Cursor);

/// Most buckets whose settled entries the cursor remembers past its own
/// bucket (normally the few within [`GRACE`]); forgetting one only means
/// reading its settled entries again.
const MAX_REMEMBERED: usize = 64;

impl Cursor {
    /// Entries of bucket `b` already settled.
    fn through(&self, b: i64) -> u64 {
        if b < self.bucket {
            return u64::MAX;
        }
        self.settled.get(&b).copied().unwrap_or(0)
    }

    /// This cursor moved forward to `other`'s positions where they are
    /// further (never back).
    fn merge(&mut self, other: &Cursor) {
        self.bucket = self.bucket.max(other.bucket);
        // The later frontier, with its own publication time (the later
        // one when both published the same bucket: it ages later).
        if (other.open, other.open_at) > (self.open, self.open_at) {
            self.open = other.open;
            self.open_at = other.open_at;
        }
        self.aged = self.aged.max(other.aged);
        for (b, t) in &other.settled {
            let at = self.settled.entry(*b).or_insert(0);
            *at = (*at).max(*t);
        }
        let first = self.bucket;
        self.settled.retain(|b, _| *b >= first);
        while self.settled.len() > MAX_REMEMBERED {
            self.settled.pop_last();
        }
    }
}

/// What one flush call found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Due deliveries to attempt (workspace, number), oldest due first.
    pub due: Vec<(WorkspaceId, u64)>,
    /// Deliveries failed because their last attempt never reported back.
    pub expired: usize,
    /// Whether due work may remain beyond this call's bounds: call again.
    pub more: bool,
    /// Index entries read.
    pub scanned: usize,
}

/// One flush step over the whole deployment at `now`: at most `limit` due
/// deliveries handed out, at most [`PER_WORKSPACE`] of them of one
/// workspace, and at most `limit` [`Flushed::expired`] ones failed, reading
/// at most [`MAX_BUCKETS`] counters and [`MAX_ENTRIES`] entries; the cursor
/// moves over what is settled. The caller attempts [`Flushed::due`] (each
/// attempt claims its delivery first).
pub fn flush(kv: &dyn Kv, now: Millis, limit: usize) -> Result<Flushed> {
    let key = keys::webhook_due_cursor();
    let start = read_ensured::<Cursor>(kv, &key)?.unwrap_or(Cursor {
        bucket: bucket(now - START_BACK),
        open: bucket(now - START_BACK),
        open_at: Millis::MIN,
        aged: bucket(now - START_BACK),
        ..Cursor::default()
    });
    // Up to the frontier even when this host's clock is behind the one
    // that published it: writers append there.
    let last = bucket(now).max(start.open);
    // The frontier ages once it has stood GRACE; a new one is published.
    let mut frontier = Cursor {
        bucket: start.bucket,
        open: start.open,
        open_at: start.open_at,
        aged: start.aged,
        ..Cursor::default()
    };
    if now.saturating_sub(start.open_at) >= GRACE {
        frontier.aged = start.aged.max(start.open);
        if bucket(now) > start.open {
            frontier.open = bucket(now);
            frontier.open_at = now;
        }
    }
    // A bucket the cursor may leave: every writer that may still append
    // to it read the cursor more than GRACE ago.
    let closed = |b: i64| b < frontier.aged;
    let span = (last - start.bucket + 1).clamp(0, MAX_BUCKETS as i64);
    let buckets: Vec<i64> = (start.bucket..start.bucket + span).collect();
    let counter_keys: Vec<String> = buckets
        .iter()
        .map(|b| keys::webhook_due_counter(*b))
        .collect();
    let counts: Vec<u64> = kv
        .get_many(&counter_keys)?
        .iter()
        .map(|v| v.as_deref().and_then(counter_of).unwrap_or(0))
        .collect();
    let mut out = Flushed {
        more: start.bucket + span <= last,
        ..Flushed::default()
    };
    // The entries to read, in order, within the bound.
    let mut refs: Vec<(i64, u64)> = Vec::new();
    'read: for (b, count) in buckets.iter().zip(&counts) {
        for i in start.through(*b).saturating_add(1)..=*count {
            if refs.len() == MAX_ENTRIES {
                out.more = true;
                break 'read;
            }
            refs.push((*b, i));
        }
    }
    out.scanned = refs.len();
    let entry_keys: Vec<String> = refs
        .iter()
        .map(|(b, i)| keys::webhook_due_entry(*b, *i))
        .collect();
    // What does not decode (never written so) is skipped like a missing
    // record, rather than stopping every flush after it.
    let entries: Vec<Option<Entry>> = kv
        .get_many(&entry_keys)?
        .into_iter()
        .map(|v| v.and_then(|b| serde_json::from_slice(&b).ok()))
        .collect();
    let delivery_keys: Vec<String> = entries
        .iter()
        .flatten()
        .map(|e| keys::webhook_delivery(&e.ws, e.n))
        .collect();
    let mut deliveries = kv
        .get_many(&delivery_keys)?
        .into_iter()
        .map(|v| v.and_then(|b| serde_json::from_slice::<Delivery>(&b).ok()));

    let mut moved = frontier.clone();
    // Whether every bucket so far is closed and settled.
    let mut leaving = true;
    let mut handed = HashSet::new();
    let mut per_ws: HashMap<WorkspaceId, usize> = HashMap::new();
    // A store error part-way: the cursor still moves over what was
    // settled before it, so the next call does not redo that work.
    let mut failure = None;
    let mut refs = refs.into_iter().zip(entries).peekable();
    'buckets: for (b, count) in buckets.iter().zip(&counts) {
        let b = *b;
        // Whether every entry of this bucket so far is settled.
        let mut prefix = true;
        let mut read_all = true;
        for i in start.through(b).saturating_add(1)..=*count {
            let Some(((rb, ri), entry)) = refs.next() else {
                read_all = false;
                break;
            };
            debug_assert_eq!((rb, ri), (b, i));
            let delivery = match &entry {
                Some(_) => deliveries.next().flatten(),
                None => None,
            };
            let settled = match (entry, delivery) {
                (Some(e), Some(d)) => match wake(&d) {
                    // Done, or a later entry covers it.
                    None => true,
                    Some(w) if bucket(w) > b => true,
                    Some(w) if w > now => false,
                    Some(_) if handed.contains(&(e.ws.clone(), e.n)) => true,
                    Some(_) if d.next_at.is_none() => {
                        if out.expired >= limit {
                            out.more = true;
                            break 'buckets;
                        }
                        if let Err(err) = super::fail_unanswered(kv, &e.ws, e.n, now) {
                            failure = Some(err);
                            break 'buckets;
                        }
                        out.expired += 1;
                        true
                    }
                    Some(_) if handed.len() >= limit => {
                        out.more = true;
                        break 'buckets;
                    }
                    // This workspace had its share of this call: the entry
                    // waits (unsettled) for the next call.
                    Some(_) if per_ws.get(&e.ws).copied().unwrap_or(0) >= PER_WORKSPACE => {
                        out.more = true;
                        false
                    }
                    Some(_) => {
                        // Before the cursor moves over it: found again one
                        // bucket on if this hand-out's attempt never
                        // happens. Behind an unsettled entry, it is read
                        // again anyway.
                        if prefix
                            && let Err(err) =
                                add(kv, &e.ws, e.n, now + BUCKET_MS, Floor(moved.open))
                        {
                            failure = Some(err);
                            break 'buckets;
                        }
                        handed.insert((e.ws.clone(), e.n));
                        *per_ws.entry(e.ws.clone()).or_insert(0) += 1;
                        out.due.push((e.ws, e.n));
                        prefix
                    }
                },
                // Not written (yet?): settled once no write can be in flight.
                _ => closed(b),
            };
            prefix &= settled;
            if prefix {
                moved.settled.insert(b, i);
            }
        }
        leaving &= prefix && read_all && closed(b);
        if leaving {
            moved.bucket = b + 1;
        }
        if !read_all {
            break;
        }
    }
    let mut next = start.clone();
    next.merge(&moved);
    if next != start {
        ensure(kv, &key, &start)?;
        update(kv, &key, |c: &mut Cursor| {
            c.merge(&moved);
            Ok(())
        })?;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(out),
    }
}

/// Where the cursor stands (its bucket, and how many of that bucket's
/// entries are settled), if it was made.
pub fn cursor(kv: &dyn Kv) -> Result<Option<(i64, u64)>> {
    Ok(read_ensured::<Cursor>(kv, &keys::webhook_due_cursor())?
        .map(|c| (c.bucket, c.through(c.bucket))))
}
