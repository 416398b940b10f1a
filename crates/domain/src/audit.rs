//! The audit ledger: append-only entries per workspace, with a per-ticket
//! index, each on its own key numbered by an atomic counter. Never rewritten.
//! Admins export it as JSON or CSV.

use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::error::Result;
use crate::events::Event;
use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::record::{read, read_counter, to_json, write_fresh_many};
use crate::store::Kv;
use crate::time::{Millis, rfc3339};

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the workspace ledger.
    pub n: u64,
    /// When.
    pub at: Millis,
    /// Who (user id, `platform:<key id>`, `deployment`, or a link holder).
    pub actor: String,
    /// What happened, e.g. `ticket.created`, `message.posted`.
    pub action: String,
    /// What it happened to (ids, never secrets).
    pub target: String,
    /// The ticket, if any.
    pub ticket: Option<TicketNo>,
    /// The request that did it.
    pub request_id: String,
}

/// Append an entry to the workspace ledger (and the ticket's index), by
/// `ctx`'s actor at its time and request; webhook deliveries it creates go
/// to `ctx.after`.
pub fn record(ctx: &Ctx, event: Event, target: &str, ticket: Option<TicketNo>) -> Result<()> {
    let (kv, ws) = (ctx.kv, ctx.ws);
    let n = kv.increment(&keys::audit_counter(ws), 1)? as u64;
    let e = Entry {
        n,
        at: ctx.now,
        actor: ctx.actor.into(),
        action: event.name().into(),
        target: target.into(),
        ticket,
        request_id: ctx.request_id.into(),
    };
    // Both numbers first, then one batch write (the store's batch is not
    // promised atomic; any prefix of it is harmless): the entry, then the
    // ticket's index entry that points at it, then the change markers the
    // request held for this batch (`Effects::hold_markers`; their data,
    // the ticket, is written before this). A prefix leaves numbers without
    // entries: gaps, which readers step over (`page`), as a request that
    // died between two writes leaves.
    let mut pairs = vec![(keys::audit_entry(ws, n), to_json(&e)?)];
    let index = match ticket {
        Some(t) => match kv.increment(&keys::ticket_audit_counter(ws, t), 1) {
            Ok(i) => Some((keys::ticket_audit_entry(ws, t, i as u64), to_json(&n)?)),
            Err(failed) => {
                // The entry is written all the same (the ledger has it).
                write_fresh_many(kv, &pairs)?;
                return Err(failed.into());
            }
        },
        None => None,
    };
    pairs.extend(index);
    let held = ctx.after.take_held();
    let markers = !held.is_empty();
    pairs.extend(held);
    if let Err(e) = write_fresh_many(kv, &pairs) {
        if markers {
            // The held writes shared the batch's fate: the markers are
            // noted as such; a claim's done mark is made sure of by its
            // holder (`Effects::was_held_lost`).
            ctx.after.note("touching the change markers", e.clone());
            ctx.after.held_lost();
        }
        return Err(e);
    }
    // Events with a webhook type are stored for delivery here, so the ledger
    // and the webhooks never disagree on what happened.
    crate::webhooks::emit(ctx, event, target, ticket)?;
    Ok(())
}

/// How long a number handed out but not written holds back readers of the
/// ledger (see [`page`]). An entry's time is its request's, which may have
/// started a whole request timeout (30 s by default) before the entry took
/// its number, so the wait is longer than a thread's
/// ([`crate::thread::GAP_WAIT`]).
pub const GAP_WAIT: Millis = 60_000;

/// A page of the ledger, oldest first from `cursor` (exclusive); returns the
/// entries and the cursor for the next page.
///
/// An increment whose answer was lost may have counted, so a number can be
/// missing for good; a number can also be missing for a moment (its entry
/// is being written). Readers following cursors must not step over the
/// second: the page stops before a missing number while it is recent (the
/// next entry there is younger than [`GAP_WAIT`], or none is there yet) and
/// steps over it once it is old. Every cursor advances: when nothing was
/// read before such a gap, the page ends with no cursor, never the cursor
/// it was given; the reader asks again later from the last entry it has.
pub fn page(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    ticket: Option<TicketNo>,
    cursor: u64,
    limit: usize,
    now: Millis,
) -> Result<(Vec<Entry>, Option<u64>)> {
    let top = match ticket {
        None => read_counter(kv, &keys::audit_counter(ws))?,
        Some(t) => read_counter(kv, &keys::ticket_audit_counter(ws, t))?,
    };
    // The entry at a position of the ledger or of the ticket's index.
    let at = |pos: u64| -> Result<Option<Entry>> {
        let n = match ticket {
            None => Some(pos),
            Some(t) => read::<u64>(kv, &keys::ticket_audit_entry(ws, t, pos))?,
        };
        match n {
            Some(n) => read::<Entry>(kv, &keys::audit_entry(ws, n)),
            None => Ok(None),
        }
    };
    // Whether the gap at `pos` is recent: the next entry is younger than
    // GAP_WAIT, or there is none yet up to the counter (its number may
    // still be being written). A long run of missing numbers is old.
    let young_gap = |pos: u64| -> Result<bool> {
        let end = top.min(pos + 64);
        for next in pos + 1..=end {
            if let Some(e) = at(next)? {
                return Ok(now - e.at < GAP_WAIT);
            }
        }
        Ok(end == top)
    };
    let mut out = Vec::new();
    let mut pos = cursor;
    while pos < top && out.len() < limit {
        match at(pos + 1)? {
            Some(e) => out.push(e),
            None if young_gap(pos + 1)? => {
                return Ok((out, (pos > cursor).then_some(pos)));
            }
            None => {}
        }
        pos += 1;
    }
    Ok((out, (pos < top).then_some(pos)))
}

fn csv_field(s: &str) -> String {
    // Quote every field; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Entries as CSV with a header line.
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = String::from("n,at,actor,action,target,ticket,request_id\n");
    for e in entries {
        let row = [
            e.n.to_string(),
            rfc3339(e.at),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            e.ticket.map(|t| t.0.to_string()).unwrap_or_default(),
            e.request_id.clone(),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn ledger_pages_and_exports() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        for i in 0..5 {
            let t = (i % 2 == 0).then_some(TicketNo(7));
            let ctx = Ctx {
                kv: &kv,
                ws: &ws,
                now: i,
                actor: "u_x",
                request_id: "req",
                after: &Default::default(),
            };
            record(&ctx, Event::MessagePosted, &format!("m{i}"), t).unwrap();
        }
        let (all, next) = page(&kv, &ws, None, 0, 3, 0).unwrap();
        assert_eq!((all.len(), next), (3, Some(3)));
        let (rest, next) = page(&kv, &ws, None, 3, 3, 0).unwrap();
        assert_eq!((rest.len(), next), (2, None));
        let (t7, _) = page(&kv, &ws, Some(TicketNo(7)), 0, 10, 0).unwrap();
        assert_eq!(t7.iter().map(|e| e.n).collect::<Vec<_>>(), vec![1, 3, 5]);
        let csv = to_csv(&t7[..1]);
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.contains("\"message.posted\""));
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
    }
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use crate::events::Event;
    use crate::store::{Fault, Faulty, MemKv, Op};

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    /// A store where, while armed, the ledger's counter counts but its
    /// answer is lost.
    fn faulty() -> Faulty<MemKv> {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Increment if key.ends_with("/audit/n") && !key.contains("/t/") => Fault::After,
            _ => Fault::Pass,
        });
        kv.arm(false);
        kv
    }

    fn rec(kv: &dyn Kv, at: Millis, target: &str, t: Option<TicketNo>) -> Result<()> {
        let ws = ws();
        let ctx = Ctx {
            kv,
            ws: &ws,
            now: at,
            actor: "u_x",
            request_id: "r",
            after: &Default::default(),
        };
        record(&ctx, Event::MessagePosted, target, t)
    }

    /// Every entry a reader gets following cursors from `cursor`, at `now`.
    fn follow(kv: &dyn Kv, t: Option<TicketNo>, cursor: u64, now: Millis) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = cursor;
        for _ in 0..100 {
            let (page, next) = page(kv, &ws(), t, cursor, 1, now).unwrap();
            out.extend(page.into_iter().map(|e| e.target));
            match next {
                Some(n) => {
                    assert!(n > cursor, "cursor {cursor} -> {n}");
                    cursor = n;
                }
                None => return out,
            }
        }
        panic!("cursors never ended: {out:?}");
    }

    /// An entry whose number was taken (the increment's answer lost) is a
    /// gap: while it may still be written, readers stop before it (a
    /// follower never steps over a slow write), and once it is old they
    /// step over it; everything else is listed once, in order.
    #[test]
    fn the_ledger_waits_for_a_recent_gap_and_steps_over_an_old_one() {
        let kv = faulty();
        rec(&kv, 0, "a", None).unwrap();
        kv.arm(true);
        assert!(
            rec(&kv, 500, "lost", None).is_err(),
            "number 2 taken, no entry"
        );
        kv.arm(false);
        rec(&kv, 1_000, "c", None).unwrap();
        assert_eq!(read_counter(&kv, &keys::audit_counter(&ws())).unwrap(), 3);
        // Recent: the page stops before #2, and never hands back its cursor.
        assert_eq!(page(&kv, &ws(), None, 0, 10, 2_000).unwrap().1, Some(1));
        assert_eq!(
            page(&kv, &ws(), None, 1, 10, 2_000).unwrap(),
            (vec![], None)
        );
        assert_eq!(follow(&kv, None, 0, 2_000), vec!["a"]);
        // A slow write that lands is read in its place, after the ones before.
        let late = Faulty::new(MemKv::new(), |_, _, _| Fault::Pass);
        for (k, v) in kv.inner.dump() {
            late.inner.set(&k, &v).unwrap();
        }
        let slow = Entry {
            n: 2,
            at: 500,
            actor: "u_x".into(),
            action: "message.posted".into(),
            target: "b".into(),
            ticket: None,
            request_id: "r".into(),
        };
        crate::record::write_fresh(&late, &keys::audit_entry(&ws(), 2), &slow).unwrap();
        assert_eq!(follow(&late, None, 1, 2_000), vec!["b", "c"]);
        // Never written: stepped over once old.
        assert_eq!(follow(&kv, None, 1, 1_000 + GAP_WAIT), vec!["c"]);
        assert_eq!(follow(&kv, None, 0, 1_000 + GAP_WAIT), vec!["a", "c"]);
        let (all, next) = page(&kv, &ws(), None, 0, 10, 1_000 + GAP_WAIT).unwrap();
        assert_eq!(
            (all.iter().map(|e| e.n).collect::<Vec<_>>(), next),
            (vec![1, 3], None)
        );
    }

    /// A number at the top with nothing after it may be an entry being
    /// written: readers stop before it, however old the entries before.
    #[test]
    fn a_gap_at_the_top_waits_for_the_next_entry() {
        let kv = faulty();
        rec(&kv, 0, "a", None).unwrap();
        kv.arm(true);
        assert!(rec(&kv, 0, "lost", None).is_err());
        kv.arm(false);
        let later = 10 * GAP_WAIT;
        assert_eq!(follow(&kv, None, 0, later), vec!["a"]);
        assert_eq!(
            page(&kv, &ws(), None, 1, 10, later).unwrap(),
            (vec![], None)
        );
        rec(&kv, later, "c", None).unwrap();
        assert_eq!(follow(&kv, None, 1, later), Vec::<String>::new());
        assert_eq!(follow(&kv, None, 1, later + GAP_WAIT), vec!["c"]);
    }

    /// A ticket's trail with an index entry that was never written lists
    /// the others once, in order, and moves past the gap once it is old.
    #[test]
    fn a_tickets_trail_steps_over_an_old_gap_in_its_index() {
        // While armed, a ticket index entry cannot be written.
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/t/") => Fault::Before,
            _ => Fault::Pass,
        });
        kv.arm(false);
        let t = Some(TicketNo(7));
        rec(&kv, 0, "a", t).unwrap();
        kv.inner
            .increment(&keys::ticket_audit_counter(&ws(), TicketNo(7)), 1)
            .unwrap();
        rec(&kv, 1_000, "c", t).unwrap();
        rec(&kv, 1_000, "other", Some(TicketNo(8))).unwrap();
        assert_eq!(follow(&kv, t, 0, 2_000), vec!["a"]);
        assert_eq!(follow(&kv, t, 0, 1_000 + GAP_WAIT), vec!["a", "c"]);
        // The ledger has every entry: its ticket index failing loses none.
        kv.arm(true);
        rec(&kv, 2_000, "d", t).unwrap_err();
        kv.arm(false);
        assert_eq!(
            follow(&kv, None, 0, 2_000 + GAP_WAIT),
            vec!["a", "c", "other", "d"]
        );
    }
}
