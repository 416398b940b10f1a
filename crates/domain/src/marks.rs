//! Change markers: "has anything changed since I last looked?" in one
//! read, so a poll that finds nothing new costs next to nothing.
//!
//! A marker is a small key whose value every change to what it covers
//! replaces with a value no other change writes (the time, the ticket and
//! the ticket's version after the change: [`ticket_value`]). A reader reads
//! the markers its answer depends on (one batch read), makes its entity tag
//! from them, and answers `304` when that is the tag the client holds,
//! without reading the data.
//!
//! Which markers ([`crate::keys`]):
//!
//! - `mark/tickets`: every change to any ticket of the workspace (the
//!   staff's ticket list, the inbox of whoever sees every queue);
//! - `mark/list/<list>`: every change to a ticket in an inbox list and every
//!   move into or out of it ([`crate::inbox::change`]);
//! - `mark/cust/<user>`, `mark/co/<company>`: every change to a ticket of
//!   that customer or company (their ticket lists);
//! - `mark/seen/<user>`: that staff member's read / unread marks.
//!
//! A ticket's own record is the marker of its thread and of itself: its
//! `version` changes with every update. What an answer shows from elsewhere
//! is in its tag directly (the team name the customer side sees, the
//! caller's queues); one thing is left out on purpose: a staff member's
//! name shown as a row's assignee in the inbox follows a rename at the
//! list's next change (a rename would otherwise touch every list).
//!
//! The order is what makes a tag safe: **writers touch markers after the
//! data write; readers read markers before the data**. A reader that sees
//! a new marker therefore finds the data it stands for, and a reader that
//! pairs old markers with newer data only answers a tag that changes again
//! at the next poll: it never keeps old data under a new tag.
//!
//! A touch that fails after its change was written does not undo the change
//! nor turn it into an error a client would retry (and apply twice): it is
//! noted ([`crate::after::Effects::note`]) for the response's log line.
//! Until the next change of the same lists touches the marker again (or
//! `POST /api/v1/inbox/reindex`, which touches every list it counts), a
//! reader holding the old tag may be told nothing changed.

use crate::ctx::Ctx;
use crate::error::Result;
use crate::ids::{TicketNo, UserId, WorkspaceId};
use crate::keys;
use crate::model::Ticket;
use crate::store::Kv;
use crate::time::Millis;

/// Who sees a change of a ticket in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Everyone who lists the ticket: staff, its customer and company (a
    /// status, a subject, a public post: [`Ticket::customer_side`]).
    Everyone,
    /// Staff only (notes, an assignee, order details, the version, the
    /// reply address).
    Staff,
}

/// The markers a change of ticket `t` (as it stands after the change)
/// touches: the workspace's, those of the inbox list it is in and of
/// `lists` (others it was in or entered) and, when the customer side sees
/// the change, its customer's and company's.
pub fn ticket_keys(ws: &WorkspaceId, t: &Ticket, lists: &[String], seen: Seen) -> Vec<String> {
    let mut out = vec![keys::mark_tickets(ws)];
    for list in t.slot.iter().map(|s| &s.list).chain(lists) {
        let key = keys::mark_list(ws, list);
        if !out.contains(&key) {
            out.push(key);
        }
    }
    if seen == Seen::Everyone {
        out.push(keys::mark_customer(ws, &t.customer));
        if let Some(company) = &t.company {
            out.push(keys::mark_company(
                ws,
                &crate::workspace::company_key(company),
            ));
        }
    }
    out
}

/// The value a change of ticket `t` (as it stands after the change) writes:
/// no other change writes it, since versions only grow.
pub fn ticket_value(now: Millis, t: &Ticket) -> String {
    format!("{now}-t{}-v{}", t.no.0, t.version)
}

/// Write `value` to every marker at `keys`: one batch write.
pub fn touch(kv: &dyn Kv, keys: &[String], value: &str) -> Result<()> {
    let pairs: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.clone(), value.as_bytes().to_vec()))
        .collect();
    Ok(kv.set_many(&pairs)?)
}

/// [`touch`] after a change that is written: a failure is noted in
/// `ctx.after`, never returned (see the module's notes for what heals it).
pub fn touch_noted(ctx: &Ctx, keys: &[String], value: &str) {
    let pairs: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.clone(), value.as_bytes().to_vec()))
        .collect();
    // Held for a later batch of the same request (after this data write
    // still): see `Effects::hold_markers`.
    if ctx.after.hold(&pairs) {
        return;
    }
    if let Err(e) = touch(ctx.kv, keys, value) {
        ctx.after.note("touching the change markers", e);
    }
}

/// Ticket `t` changed (it stands as given): touch its markers.
pub fn ticket_changed(ctx: &Ctx, t: &Ticket, lists: &[String], seen: Seen) {
    touch_noted(
        ctx,
        &ticket_keys(ctx.ws, t, lists, seen),
        &ticket_value(ctx.now, t),
    );
}

/// Staff member `user` marked ticket `no` read (up to message `seq`) or
/// unread: touch their marker.
pub fn seen_changed(ctx: &Ctx, user: &UserId, no: TicketNo, seq: u64, read: bool) {
    let value = format!(
        "{}-t{}-s{seq}-{}",
        ctx.now,
        no.0,
        if read { "r" } else { "u" }
    );
    touch_noted(ctx, &[keys::mark_seen(ctx.ws, user)], &value);
}

/// The markers at `keys`, in one batch read (never touched: empty).
pub fn read(kv: &dyn Kv, keys: &[String]) -> Result<Vec<String>> {
    Ok(kv
        .get_many(keys)?
        .into_iter()
        .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map(Option::unwrap_or_default)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// Ticket 1 of a customer, in Pending of `support`, at version 3.
    fn ticket() -> Ticket {
        Ticket {
            no: TicketNo(1),
            subject: "Help".into(),
            customer: UserId::new([1; 16]),
            company: None,
            status: crate::model::Status::Pending,
            assignee: None,
            queue: "support".into(),
            created_at: 0,
            updated_at: 0,
            staff_unseen: true,
            deleted: false,
            purged: false,
            last_seq: 1,
            public_posts: 1,
            public_at: 0,
            order: None,
            slot: None,
            reply_ref: None,
            uncounted: Vec::new(),
            version: 3,
        }
    }

    #[test]
    fn a_ticket_change_touches_the_workspace_its_lists_and_its_customer_side() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mut t = ticket();
        t.company = Some("Cara Co".into());
        touch(&kv, &[keys::mark_tickets(&ws)], "before").unwrap();
        let lists = ["pending/support".to_string(), "pending/support".to_string()];
        let all = ticket_keys(&ws, &t, &lists, Seen::Everyone);
        assert_eq!(
            all,
            [
                keys::mark_tickets(&ws),
                keys::mark_list(&ws, "pending/support"),
                keys::mark_customer(&ws, &t.customer),
                keys::mark_company(&ws, &crate::workspace::company_key("Cara Co")),
            ]
        );
        let staff = ticket_keys(&ws, &t, &lists, Seen::Staff);
        assert_eq!(staff, all[..2]);
        let before = read(&kv, &all).unwrap();
        assert_eq!(before[3], "", "never touched: empty");
        ticket_changed(
            &crate::ctx::test_ctx!(&kv, &ws, 5),
            &t,
            &lists,
            Seen::Everyone,
        );
        let after = read(&kv, &all).unwrap();
        assert!(after.iter().all(|v| v == &ticket_value(5, &t)));
        assert!(before.iter().zip(&after).all(|(b, a)| b != a));
        t.version += 1;
        assert_ne!(ticket_value(5, &t), after[0], "unique per change");
    }

    #[test]
    fn a_failed_touch_is_noted_not_returned() {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/mark/") => Fault::Before,
            _ => Fault::Pass,
        });
        let ws = WorkspaceId::parse("acme").unwrap();
        let after = crate::after::Effects::default();
        let ctx = crate::ctx::Ctx {
            kv: &kv,
            ws: &ws,
            now: 1,
            actor: "test",
            request_id: "test",
            after: &after,
        };
        seen_changed(&ctx, &UserId::new([1; 16]), TicketNo(1), 3, true);
        let notes = after.take_notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].0, "touching the change markers");
    }
}
