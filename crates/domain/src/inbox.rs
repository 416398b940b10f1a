//! The staff inbox (seed 004): Pending (unassigned, unresolved, per queue,
//! oldest waiting first), Working on (assigned to one staff member,
//! newest first) and Resolved (newest first), with counts, per-staff unread
//! markers and cursor paging whose cost does not grow with the number of
//! tickets.
//!
//! Each view is a list: an append-only log of entries (`ticket`, `since`)
//! numbered by an atomic counter. A ticket record names the one entry it
//! currently occupies ([`Slot`]); an entry is live only while its ticket
//! still points at it. So a ticket is in exactly one view (or none, once
//! deleted) by construction, and moving it is one compare-and-swap of the
//! ticket after its new entry is written ([`change`]): a lost race leaves an
//! entry nobody points at, which readers skip. Oldest-first readers start
//! from a hint past the dead head of the log, moved forward as they go.

use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{TicketNo, UserId, WorkspaceId};
use crate::keys;
use crate::marks::{self, Seen};
use crate::model::{Move, Slot, Status, Ticket};
use crate::record::{claim, read, read_many, update, write, write_fresh};
use crate::store::Kv;
use crate::time::Millis;

/// The list a ticket belongs in, from its state (none once deleted).
pub fn list_for(t: &Ticket) -> Option<String> {
    if t.deleted {
        None
    } else if t.status == Status::Resolved {
        Some(format!("resolved/{}", t.queue))
    } else if let Some(u) = &t.assignee {
        Some(format!("working/{u}"))
    } else {
        Some(format!("pending/{}", t.queue))
    }
}

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    ticket: TicketNo,
    since: Millis,
}

/// How many of their last changes the count records remember (a move's
/// count is settled right after the move, or at the ticket's next change
/// when that failed; this many other moves of the same list may come in
/// between without a count changing twice).
const COUNT_IDS: usize = 32;

/// Change a ticket by compare-and-swap, keeping its inbox slot consistent
/// with its state: when the change moves it to another list, its new entry
/// is written first and the ticket swapped to point at it, with the move
/// noted on the ticket; then the counts follow, once per move whatever the
/// store answers ([`crate::record::tally_once`]), and the note is cleared.
/// A move whose counts could not follow (a failure, a request that died)
/// is settled by the ticket's next change. Last, after the data, the change
/// markers of the lists it was in and entered, of the workspace and (when
/// the change is one the customer side sees: [`Ticket::customer_side`]) of
/// its customer side are touched ([`crate::marks`]; a failure there is noted in
/// `ctx.after`, the change stands). The one way ticket state changes.
pub fn change(
    ctx: &Ctx,
    no: TicketNo,
    mut f: impl FnMut(&mut Ticket) -> Result<()>,
) -> Result<Ticket> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let mut unsettled = false;
    let mut seen = Seen::Staff;
    let changed = update(kv, &keys::ticket(ws, no), |t: &mut Ticket| {
        unsettled = !t.uncounted.is_empty();
        let before = t.slot.as_ref().map(|s| s.list.clone());
        let (side, shown) = (t.customer_side(), t.public_updated_at());
        f(t)?;
        // Whether the customer side sees this change: only then does the
        // time they are shown move and their markers change.
        seen = if t.customer_side() == side {
            Seen::Staff
        } else {
            Seen::Everyone
        };
        t.public_at = match seen {
            Seen::Everyone => now.max(shown),
            Seen::Staff => shown,
        };
        let after = list_for(t);
        if after == before && t.slot.is_some() == after.is_some() {
            return Ok(());
        }
        t.slot = match &after {
            Some(list) => {
                let pos = kv.increment(&keys::view_counter(ws, list), 1)? as u64;
                write_fresh(
                    kv,
                    &keys::view_entry(ws, list, pos),
                    &Entry {
                        ticket: no,
                        since: now,
                    },
                )?;
                Some(Slot {
                    list: list.clone(),
                    pos,
                })
            }
            None => None,
        };
        t.uncounted.push(Move {
            from: before,
            to: after,
            at: t.version + 1,
        });
        Ok(())
    });
    let t = match changed {
        Ok(t) => t,
        Err(e) => {
            // Refused (or failed): moves an earlier request left uncounted
            // are settled all the same, so counts never wait for the next
            // change that succeeds. When the store fails while settling
            // them, that failure is the answer (a 503 the client retries,
            // and the retry settles them), not the refusal: a refusal the
            // client would not retry must not leave a count behind.
            if unsettled {
                match crate::record::read::<Ticket>(kv, &keys::ticket(ws, no)) {
                    Ok(Some(t)) => {
                        let lists = lists_of(&t);
                        match settle_counts(kv, ws, t) {
                            Ok(t) => marks::ticket_changed(ctx, &t, &lists, Seen::Staff),
                            Err(failed @ Error::Store(_)) => return Err(failed),
                            Err(_) => {}
                        }
                    }
                    Ok(None) => {}
                    Err(failed) => return Err(failed),
                }
            }
            return Err(e);
        }
    };
    let lists = lists_of(&t);
    let settled = if t.uncounted.is_empty() {
        Ok(t.clone())
    } else {
        settle_counts(kv, ws, t.clone())
    };
    // The markers after the data (the counts too), even when the counts
    // could not follow: the ticket changed.
    marks::ticket_changed(ctx, settled.as_ref().unwrap_or(&t), &lists, seen);
    settled
}

/// The lists a change of `t` shows in besides the one it is in: those of
/// the moves not counted yet (the counts change after them too).
fn lists_of(t: &Ticket) -> Vec<String> {
    t.uncounted
        .iter()
        .flat_map(|m| m.from.iter().chain(&m.to).cloned())
        .collect()
}

/// Make the lists' counts follow the moves noted on `t`, then clear the
/// notes; returns the ticket as stored.
fn settle_counts(kv: &dyn Kv, ws: &WorkspaceId, t: Ticket) -> Result<Ticket> {
    for m in &t.uncounted {
        let id = format!("t{}v{}", t.no.0, m.at);
        if let Some(from) = &m.from {
            crate::record::tally_once(kv, &keys::view_count(ws, from), &id, -1, COUNT_IDS)?;
        }
        if let Some(to) = &m.to {
            crate::record::tally_once(kv, &keys::view_count(ws, to), &id, 1, COUNT_IDS)?;
        }
    }
    let done = t.uncounted;
    update(kv, &keys::ticket(ws, t.no), |t: &mut Ticket| {
        t.uncounted.retain(|m| !done.contains(m));
        Ok(())
    })
}

/// How many tickets a list holds.
pub fn count(kv: &dyn Kv, ws: &WorkspaceId, list: &str) -> Result<u64> {
    // A tally record, or a plain counter from before tallies; never below
    // zero here.
    let Some(b) = kv.get(&keys::view_count(ws, list))? else {
        return Ok(0);
    };
    Ok(crate::record::tally_value(&b).max(0) as u64)
}

/// Move a list's count to `want` (the reindex, after counting its
/// tickets).
pub fn set_count(kv: &dyn Kv, ws: &WorkspaceId, list: &str, want: i64) -> Result<()> {
    let have = count(kv, ws, list)? as i64;
    if have != want {
        let id = format!("reindex{:016x}", kv.write_id(&keys::view_count(ws, list)));
        crate::record::tally_once(kv, &keys::view_count(ws, list), &id, want - have, COUNT_IDS)?;
    }
    Ok(())
}

/// Which end a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first (Pending).
    OldestFirst,
    /// Newest first (Working on, Resolved).
    NewestFirst,
}

/// A page cursor: the next position to read in each list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub Vec<(String, u64)>);

impl Cursor {
    /// The text form (opaque to clients).
    pub fn encode(&self) -> String {
        crate::token::base64url(
            serde_json::to_string(&self.0)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// Parse the text form.
    pub fn decode(s: &str) -> Result<Cursor> {
        crate::token::base64url_decode(s)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .map(Cursor)
            .ok_or_else(|| Error::bad("invalid_query", "cursor is not valid"))
    }
}

/// How old a dead entry must be before readers skip it for good.
pub const HINT_GRACE: Millis = 60_000;

/// Where oldest-first readers of a list may start (every entry below is
/// dead); a hint, moved forward only.
#[cfg(test)]
pub(crate) fn start_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str) -> Result<u64> {
    Ok(read::<u64>(kv, &keys::view_hint(ws, list))?
        .unwrap_or(1)
        .max(1))
}

/// Whether a list read up to `pos` (the next position) has nothing more
/// below its counter's `top`.
fn exhausted(order: Order, pos: u64, top: u64) -> bool {
    match order {
        Order::OldestFirst => pos > top,
        Order::NewestFirst => pos == 0,
    }
}

/// The position read after `pos`.
fn step(order: Order, pos: u64) -> u64 {
    match order {
        Order::OldestFirst => pos + 1,
        Order::NewestFirst => pos - 1,
    }
}

/// Move list `list`'s hint forward to `to`: its own key, then the copy in
/// the shared record (best effort: a copy behind is still a safe start).
fn advance_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str, to: u64) -> Result<()> {
    advance_own_hint(kv, ws, list, to)?;
    let _ = share_hint(kv, ws, list, to);
    Ok(())
}

/// Copy hint `to` of list `list` into the shared record ([`Hints`]) unless
/// it holds one as far already; no copy past [`MAX_SHARED_HINTS`] lists.
/// Made like every shared record: [`crate::record::ensure`], then
/// [`update`] by compare-and-swap.
fn share_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str, to: u64) -> Result<()> {
    let key = keys::view_hints(ws);
    // Nothing to write (the common case): one read.
    let done = |h: &Hints| {
        h.lists.get(list).is_some_and(|&have| have >= to)
            || (!h.lists.contains_key(list) && h.lists.len() >= MAX_SHARED_HINTS)
    };
    match crate::record::read_ensured::<Hints>(kv, &key)? {
        Some(h) if done(&h) => return Ok(()),
        Some(_) => {}
        None => crate::record::ensure(kv, &key, &Hints::default())?,
    }
    let changed = update(kv, &key, |h: &mut Hints| {
        if done(h) {
            // Another reader copied it meanwhile: nothing to write.
            return Err(Error::NotFound);
        }
        h.lists.insert(list.to_string(), to);
        Ok(())
    });
    match changed {
        Ok(_) | Err(Error::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

fn advance_own_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str, to: u64) -> Result<()> {
    let key = keys::view_hint(ws, list);
    if claim(kv, &keys::view_hint_claim(ws, list))? {
        return write(kv, &key, &to);
    }
    for _ in 0..8 {
        let Some(old) = kv.get(&key)? else {
            // The claimer has not written it yet: leave it to them.
            return Ok(());
        };
        let cur: u64 = serde_json::from_slice(&old).unwrap_or(1);
        if cur >= to {
            return Ok(());
        }
        let new = serde_json::to_vec(&to)
            .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
        if kv.compare_and_swap(&key, Some(&old), &new)? {
            return Ok(());
        }
    }
    Ok(())
}

/// One page of the lists merged (by the time tickets entered them), for a
/// view. Reads a bounded number of entries whatever the lists' lengths;
/// a page may come back short with a cursor.
pub fn page(
    ctx: &Ctx,
    lists: &[String],
    order: Order,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<(Vec<Ticket>, Option<Cursor>)> {
    let plan = plan(lists, order, cursor, limit, &hints(ctx.kv, ctx.ws)?);
    let (rows, next) = page_with(ctx, &plan, None)?;
    Ok((rows.into_iter().map(|(t, _)| t).collect(), next))
}

/// The start hints of the workspace's oldest-first lists in one record
/// ([`keys::view_hints`]), so a page knows where to start reading from a
/// read made with the credential. Each is a copy of the list's own hint
/// key ([`keys::view_hint`], still written first and read when the copy
/// lacks the list: lists from before the copy, or past
/// [`MAX_SHARED_HINTS`]). A hint is a position below which every entry
/// is dead for good (a move writes a new entry; a dead one never lives
/// again), so any value either key ever held is a safe place to start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hints {
    /// List name → hint.
    #[serde(default)]
    lists: std::collections::BTreeMap<String, u64>,
    /// CAS guard.
    #[serde(default)]
    version: u64,
}

crate::versioned!(Hints);

/// The most lists whose hints the shared record keeps (the rest read
/// their own key: one more round trip).
pub const MAX_SHARED_HINTS: usize = 256;

impl Hints {
    /// The hint kept for list `list`, if any.
    pub fn get(&self, list: &str) -> Option<u64> {
        self.lists.get(list).copied()
    }
}

/// The shared hints of workspace `ws` ([`Hints`]; none yet: empty).
pub fn hints(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Hints> {
    Ok(read::<Hints>(kv, &keys::view_hints(ws))?.unwrap_or_default())
}

/// What a page of `lists` reads, decided before reading it
/// ([`plan`]): its first batch read ([`Plan::keys`]), for the caller to
/// read ahead with other keys.
#[derive(Debug, Clone)]
pub struct Plan {
    lists: Vec<String>,
    order: Order,
    limit: usize,
    /// Where each list starts, when known without reading (from the cursor
    /// or the shared hints): a window of its entries is read in the first
    /// batch.
    starts: Vec<Option<u64>>,
    /// Lists whose start is their own hint key, read in the first batch
    /// (copied into the shared record afterwards).
    own_hint: Vec<bool>,
}

/// Plan a page of `lists` (see [`page_with`]) from the shared hints
/// (`hints`, read by the caller, or [`hints`]).
pub fn plan(
    lists: &[String],
    order: Order,
    cursor: Option<&Cursor>,
    limit: usize,
    hints: &Hints,
) -> Plan {
    let mut starts = Vec::new();
    let mut own_hint = Vec::new();
    for list in lists {
        let start = match (order, cursor_pos(cursor, list)) {
            (_, Some(p)) => Some(p),
            (Order::OldestFirst, None) => hints.lists.get(list).map(|h| (*h).max(1)),
            (Order::NewestFirst, None) => None,
        };
        own_hint.push(order == Order::OldestFirst && start.is_none());
        starts.push(start);
    }
    Plan {
        lists: lists.to_vec(),
        order,
        limit: limit.clamp(1, 100),
        starts,
        own_hint,
    }
}

/// The entries a page may read, whatever they hold (a page stops at it,
/// with what it has taken and a cursor past it).
fn read_budget(limit: usize, lists: usize) -> usize {
    limit * 4 + 16 * lists.max(1)
}

impl Plan {
    /// How long each list's first-batch window is: a page, or less when
    /// there are many lists, so that the windows together take at most half
    /// the read budget and the merge always has reads left to take entries
    /// (windows alone over the budget made an empty page with the same
    /// cursor, for ever).
    fn window_len(&self) -> usize {
        let lists = self.lists.len().max(1);
        let share = read_budget(self.limit, lists) / 2 / lists;
        self.limit.min(share).max(1)
    }

    /// The positions of list `i` read in the first batch: a window from
    /// its start.
    fn window(&self, i: usize) -> Vec<u64> {
        let len = self.window_len();
        match (self.starts[i], self.order) {
            (None, _) => Vec::new(),
            (Some(s), Order::OldestFirst) => {
                (0..len as u64).map_while(|k| s.checked_add(k)).collect()
            }
            (Some(s), Order::NewestFirst) => (1..=s).rev().take(len).collect(),
        }
    }

    /// The keys of the first batch read: each list's counter, the own hint
    /// of each list whose start is not known, and a window of entries of
    /// each list whose start is.
    pub fn keys(&self, ws: &WorkspaceId) -> Vec<String> {
        let mut out: Vec<String> = self
            .lists
            .iter()
            .map(|l| keys::view_counter(ws, l))
            .collect();
        for (i, list) in self.lists.iter().enumerate() {
            if self.own_hint[i] {
                out.push(keys::view_hint(ws, list));
            }
            out.extend(
                self.window(i)
                    .iter()
                    .map(|&p| keys::view_entry(ws, list, p)),
            );
        }
        out
    }
}

/// Where `cursor` resumes list `list`, if it names it.
fn cursor_pos(cursor: Option<&Cursor>, list: &str) -> Option<u64> {
    cursor.and_then(|c| c.0.iter().find(|(l, _)| l == list).map(|(_, p)| *p))
}

/// A ticket of a page and the message number the staff member asking has
/// seen it up to ([`page_with`]).
pub type Row = (Ticket, u64);

/// [`page`] as planned by `plan`, each ticket with the message number
/// staff member `seen_by` has seen it up to ([`seen`]; 0 without
/// `seen_by`). The reads are batched: the lists' counters with a window of
/// entries of each list whose start is known (or its own hint: [`Plan`])
/// in one batch; then, in rounds, a window of entries of each list that
/// needs one (as many as tickets are still wanted) in one batch, and the
/// tickets (with their seen marks) of the entries the merge takes next in
/// one more. A page whose entries are live costs two batch reads when the
/// starts are known, three otherwise.
pub fn page_with(
    ctx: &Ctx,
    plan: &Plan,
    seen_by: Option<&UserId>,
) -> Result<(Vec<Row>, Option<Cursor>)> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let (lists, order, limit) = (&plan.lists, plan.order, plan.limit);
    let first = plan.keys(ws);
    let values = match first.is_empty() {
        true => Vec::new(),
        false => kv.get_many(&first)?,
    };
    let mut read_first = first.iter().zip(values);
    let mut tops = Vec::new();
    for _ in lists {
        let (key, value) = read_first.next().ok_or(Error::NotFound)?;
        let top = match value {
            None => 0,
            Some(b) => crate::record::counter_of(&b).ok_or_else(|| {
                Error::Store(crate::store::StoreError(format!("corrupt counter {key}")))
            })?,
        };
        tops.push(top);
    }
    let budget = read_budget(limit, lists.len());
    let mut reads = 0;
    // The entries of each list read ahead and not yet taken, in reading
    // order. A number handed out and not written (a move in flight, or one
    // whose increment's answer was lost: never written) is passed over as
    // it is read. The hint moves past it only with the run of old, dead
    // entries after it: an entry numbered later is older than HINT_GRACE,
    // so whoever took this number has finished or died. With no entry
    // after it here, the hint stays before it.
    let mut ahead: Vec<std::collections::VecDeque<(u64, Entry)>> =
        vec![Default::default(); lists.len()];
    // Next position to read per list, and how far each may go.
    let mut next: Vec<(String, u64, u64)> = Vec::new();
    let mut own_hints = Vec::new();
    for (i, (list, top)) in lists.iter().zip(tops).enumerate() {
        let mut pos = match (order, plan.starts[i]) {
            (_, Some(p)) => p,
            (Order::OldestFirst, None) => {
                let (key, value) = read_first.next().ok_or(Error::NotFound)?;
                let h = crate::record::decode::<u64>(key, value)?
                    .unwrap_or(1)
                    .max(1);
                own_hints.push((list.clone(), h));
                h
            }
            (Order::NewestFirst, None) => top,
        };
        // The window read with the counters: what the counter covers is
        // taken (an entry past it is a move that started after this read,
        // left to the next).
        for p in plan.window(i) {
            let (key, value) = read_first.next().ok_or(Error::NotFound)?;
            if p != pos || exhausted(order, pos, top) {
                continue;
            }
            reads += 1;
            pos = step(order, pos);
            if let Some(e) = crate::record::decode::<Entry>(key, value)? {
                ahead[i].push_back((p, e));
            }
        }
        next.push((list.clone(), pos, top));
    }
    let mut out = Vec::new();
    // Oldest first: how far the start hint may move. Only past a run of
    // entries that are dead and older than [`HINT_GRACE`] (an entry still
    // being moved into may look missing or dead for a moment), and of
    // missing numbers followed by such an entry, from where this read
    // started.
    let mut skippable: Vec<(bool, Option<u64>)> = vec![(true, None); next.len()];
    loop {
        // A window of entries for each list with none read ahead: as many
        // as tickets are still wanted, all lists in one batch read.
        let wanted = limit - out.len();
        // At most a first-batch window per list per round, so that many
        // lists cannot spend the whole budget before anything is taken.
        let per_list = wanted.min(plan.window_len());
        let mut window: Vec<(usize, u64)> = Vec::new();
        for (i, (_, pos, top)) in next.iter_mut().enumerate() {
            let mut n = 0;
            while ahead[i].is_empty() && n < per_list && !exhausted(order, *pos, *top) {
                if reads >= budget {
                    break;
                }
                reads += 1;
                n += 1;
                window.push((i, *pos));
                *pos = step(order, *pos);
            }
        }
        if !window.is_empty() {
            let keys: Vec<String> = window
                .iter()
                .map(|&(i, p)| keys::view_entry(ws, &next[i].0, p))
                .collect();
            for (&(i, p), e) in window.iter().zip(read_many::<Entry>(kv, &keys)?) {
                if let Some(e) = e {
                    ahead[i].push_back((p, e));
                }
            }
        }
        if out.len() >= limit || reads >= budget {
            break;
        }
        // A list that may hold more and has nothing read ahead (its window
        // was all numbers not written) holds the merge until it has.
        let waiting = |ahead: &[std::collections::VecDeque<(u64, Entry)>]| {
            next.iter()
                .enumerate()
                .any(|(i, (_, pos, top))| ahead[i].is_empty() && !exhausted(order, *pos, *top))
        };
        if waiting(&ahead) {
            continue;
        }
        // The entries the merge takes next, oldest (or newest) first, for
        // as long as every list that may hold more has one read ahead.
        let mut taken: Vec<(usize, u64, Entry)> = Vec::new();
        while taken.len() < wanted && !waiting(&ahead) {
            let pick = ahead
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.front().map(|(p, e)| (i, *p, e.since)))
                .min_by_key(|(_, p, since)| match order {
                    Order::OldestFirst => (*since, *p as i64),
                    Order::NewestFirst => (-*since, -(*p as i64)),
                });
            let Some((i, _, _)) = pick else { break };
            let (p, e) = ahead[i].pop_front().ok_or(Error::NotFound)?;
            taken.push((i, p, e));
        }
        if taken.is_empty() {
            break;
        }
        // Their tickets (and seen marks) in one batch read.
        reads += taken.len();
        let mut nos: Vec<TicketNo> = taken.iter().map(|(_, _, e)| e.ticket).collect();
        nos.sort_by_key(|n| n.0);
        nos.dedup();
        let mut keys: Vec<String> = nos.iter().map(|no| keys::ticket(ws, *no)).collect();
        if let Some(u) = seen_by {
            keys.extend(nos.iter().map(|no| keys::seen(ws, u, *no)));
        }
        let values = kv.get_many(&keys)?;
        let mut tickets = std::collections::HashMap::new();
        for (k, (no, v)) in keys.iter().zip(nos.iter().zip(values.iter())) {
            tickets.insert(*no, crate::record::decode::<Ticket>(k, v.clone())?);
        }
        let mut marks = std::collections::HashMap::new();
        for (k, (no, v)) in keys[nos.len()..]
            .iter()
            .zip(nos.iter().zip(&values[nos.len()..]))
        {
            marks.insert(*no, crate::record::decode::<u64>(k, v.clone())?);
        }
        for (i, p, e) in taken {
            let live = tickets.get(&e.ticket).cloned().flatten().filter(|t| {
                t.slot
                    .as_ref()
                    .is_some_and(|s| s.list == next[i].0 && s.pos == p)
            });
            match live {
                Some(t) => {
                    skippable[i].0 = false;
                    let seen = marks.get(&t.no).copied().flatten().unwrap_or(0);
                    out.push((t, seen));
                }
                None if now - e.since >= HINT_GRACE && skippable[i].0 => {
                    skippable[i].1 = Some(p + 1)
                }
                None => skippable[i].0 = false,
            }
        }
    }
    if order == Order::OldestFirst {
        for (i, (list, _, _)) in next.iter().enumerate() {
            if let Some(to) = skippable[i].1 {
                advance_hint(kv, ws, list, to)?;
            }
        }
        // A list read from its own hint has its hint copied into the
        // shared record (once: later pages know where it starts with the
        // credential). Best effort: without the copy a page reads the
        // list's own hint, as before.
        for (list, h) in own_hints {
            if skippable
                .iter()
                .zip(&next)
                .all(|(s, n)| n.0 != list || s.1.is_none())
            {
                let _ = share_hint(kv, ws, &list, h);
            }
        }
    }
    // Entries read ahead and not taken go back into the cursor.
    let mut more = false;
    let mut c = Vec::new();
    for (i, (list, pos, top)) in next.iter().enumerate() {
        let resume = ahead[i].front().map_or(*pos, |(p, _)| *p);
        if !ahead[i].is_empty() || !exhausted(order, resume, *top) {
            more = true;
        }
        c.push((list.clone(), resume));
    }
    Ok((out, more.then_some(Cursor(c))))
}

/// The message number a staff member has seen a ticket up to.
pub fn seen(kv: &dyn Kv, ws: &WorkspaceId, user: &UserId, no: TicketNo) -> Result<u64> {
    Ok(read::<u64>(kv, &keys::seen(ws, user, no))?.unwrap_or(0))
}

/// Whether a ticket has activity this staff member has not seen.
pub fn unread(kv: &dyn Kv, ws: &WorkspaceId, user: &UserId, t: &Ticket) -> Result<bool> {
    Ok(unread_after(t, seen(kv, ws, user, t.no)?))
}

/// Whether ticket `t` has activity past message `seen` (what a staff
/// member has seen it up to: [`seen`], [`page_with`]).
pub fn unread_after(t: &Ticket, seen: u64) -> bool {
    t.last_seq > seen
}

/// Mark a ticket read (up to its last message) or unread, for one staff
/// member. The mark is that person's own key: nobody else writes it. Then
/// their change marker is touched ([`marks::seen_changed`]: a failure is
/// noted, the mark stands).
pub fn mark(ctx: &Ctx, user: &UserId, t: &Ticket, read_it: bool) -> Result<()> {
    let key = keys::seen(ctx.ws, user, t.no);
    if read_it {
        write(ctx.kv, &key, &t.last_seq)?;
    } else {
        ctx.kv.delete(&key)?;
    }
    marks::seen_changed(ctx, user, t.no, t.last_seq, read_it);
    Ok(())
}
