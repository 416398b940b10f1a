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
use crate::record::{claim, read, read_counter, update, write, write_fresh};
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
pub(crate) fn start_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str) -> Result<u64> {
    Ok(read::<u64>(kv, &keys::view_hint(ws, list))?
        .unwrap_or(1)
        .max(1))
}

fn advance_hint(kv: &dyn Kv, ws: &WorkspaceId, list: &str, to: u64) -> Result<()> {
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
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let limit = limit.clamp(1, 100);
    // Next position to read per list, and how far each may go.
    let mut next: Vec<(String, u64, u64)> = Vec::new();
    for list in lists {
        let top = read_counter(kv, &keys::view_counter(ws, list))?;
        let from_cursor = cursor.and_then(|c| c.0.iter().find(|(l, _)| l == list).map(|(_, p)| *p));
        let pos = match (order, from_cursor) {
            (_, Some(p)) => p,
            (Order::OldestFirst, None) => start_hint(kv, ws, list)?,
            (Order::NewestFirst, None) => top,
        };
        next.push((list.clone(), pos, top));
    }
    let budget = limit * 4 + 16 * lists.len().max(1);
    let mut reads = 0;
    let mut out = Vec::new();
    // The head entry of each list (read ahead), for the merge.
    let mut heads: Vec<Option<(u64, Entry)>> = vec![None; next.len()];
    // Oldest first: how far the start hint may move. Only past a run of
    // entries that are dead and older than [`HINT_GRACE`] (an entry still
    // being moved into may look missing or dead for a moment), and of
    // missing numbers followed by such an entry, from where this read
    // started.
    let mut skippable: Vec<(bool, Option<u64>)> = vec![(true, None); next.len()];
    let exhausted = |order: Order, pos: u64, top: u64| match order {
        Order::OldestFirst => pos > top,
        Order::NewestFirst => pos == 0,
    };
    loop {
        // Fill heads.
        for (i, (list, pos, top)) in next.iter_mut().enumerate() {
            while heads[i].is_none() && !exhausted(order, *pos, *top) && reads < budget {
                reads += 1;
                let p = *pos;
                *pos = match order {
                    Order::OldestFirst => p + 1,
                    Order::NewestFirst => p - 1,
                };
                // A number handed out and not written (a move in flight, or
                // one whose increment's answer was lost: never written) is
                // passed over. The hint moves past it only with the run of
                // old, dead entries after it: an entry numbered later is
                // older than HINT_GRACE, so whoever took this number has
                // finished or died. With no entry after it here, the hint
                // stays before it.
                if let Some(e) = read::<Entry>(kv, &keys::view_entry(ws, list, p))? {
                    heads[i] = Some((p, e));
                }
            }
        }
        if out.len() >= limit || reads >= budget {
            break;
        }
        // Pick the oldest (or newest) head.
        let pick = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(p, e)| (i, *p, e.since)))
            .min_by_key(|(_, p, since)| match order {
                Order::OldestFirst => (*since, *p as i64),
                Order::NewestFirst => (-*since, -(*p as i64)),
            });
        let Some((i, p, _)) = pick else { break };
        let (_, e) = heads[i].take().ok_or(Error::NotFound)?;
        reads += 1;
        let live = read::<Ticket>(kv, &keys::ticket(ws, e.ticket))?.filter(|t| {
            t.slot
                .as_ref()
                .is_some_and(|s| s.list == next[i].0 && s.pos == p)
        });
        match live {
            Some(t) => {
                skippable[i].0 = false;
                out.push(t);
            }
            None if now - e.since >= HINT_GRACE && skippable[i].0 => skippable[i].1 = Some(p + 1),
            None => skippable[i].0 = false,
        }
    }
    if order == Order::OldestFirst {
        for (i, (list, _, _)) in next.iter().enumerate() {
            if let Some(to) = skippable[i].1 {
                advance_hint(kv, ws, list, to)?;
            }
        }
    }
    // Unread heads go back into the cursor (they were read ahead).
    let mut more = false;
    let mut c = Vec::new();
    for (i, (list, pos, top)) in next.iter().enumerate() {
        let resume = match (&heads[i], order) {
            (Some((p, _)), _) => *p,
            (None, _) => *pos,
        };
        if heads[i].is_some() || !exhausted(order, resume, *top) {
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
    Ok(t.last_seq > seen(kv, ws, user, t.no)?)
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
