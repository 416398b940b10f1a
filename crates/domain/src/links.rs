//! The workspace-wide list of every live link holder: delegates (invited or
//! accepted), participants and external shares (awaiting verification or
//! active), across tickets, for admins to review and
//! revoke. An append-only index ([`crate::link_index`], written when someone is
//! first invited or added, before the record that makes their link work) read against each
//! ticket's current records, so revoked and removed entries, and entries
//! whose invitation never landed, drop out without rewriting the index.

use serde::Serialize;

use crate::error::Result;
use crate::ids::WorkspaceId;
use crate::keys;
use crate::link_index::{Entry, Kind};
use crate::record::{read, read_counter};
use crate::store::Kv;

/// One live link holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Live {
    /// Delegate or participant.
    pub kind: Kind,
    /// The ticket.
    pub ticket: u64,
    /// User id (delegates) or participant id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// `invited`, `accepted` (delegates), `active` (participants), or the
    /// share's state.
    pub state: String,
    /// Whether they may reply.
    pub can_reply: bool,
}

/// A page of live link holders, newest first; the cursor is the last index
/// position seen. Scans at most `limit * 4 + 16` index entries per page.
pub fn page(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    cursor: Option<u64>,
    limit: usize,
    now: crate::time::Millis,
) -> Result<(Vec<Live>, Option<u64>)> {
    let top = read_counter(kv, &keys::link_index_counter(ws))?;
    let mut pos = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut scanned = 0;
    while pos >= 1 && out.len() < limit && scanned < limit * 4 + 16 {
        scanned += 1;
        if let Some(e) = read::<Entry>(kv, &keys::link_index(ws, pos))? {
            // An invitation retried after a failure may have indexed its
            // delegate twice.
            let first = seen.insert((e.kind, e.ticket, e.id.clone()));
            if first && crate::thread::ticket(kv, ws, e.ticket).is_ok() {
                match e.kind {
                    Kind::Delegate => {
                        if let Some(d) = crate::delegates::list(kv, ws, e.ticket)?
                            .into_iter()
                            .find(|d| d.user.as_str() == e.id)
                        {
                            if d.status != crate::delegates::DelegateStatus::Revoked {
                                out.push(Live {
                                    kind: e.kind,
                                    ticket: e.ticket.0,
                                    id: e.id.clone(),
                                    name: d.name,
                                    email: d.email,
                                    state: serde_json::to_value(d.status)
                                        .ok()
                                        .and_then(|v| v.as_str().map(str::to_string))
                                        .unwrap_or_default(),
                                    can_reply: d.can_reply,
                                });
                            }
                        }
                    }
                    Kind::Share => {
                        let share = crate::ids::ShareId::parse(&e.id)
                            .and_then(|id| crate::shares::get(kv, ws, &id));
                        if let Some(s) = share.ok().filter(|s| s.live(now)) {
                            out.push(Live {
                                kind: e.kind,
                                ticket: e.ticket.0,
                                id: e.id.clone(),
                                name: s.email.clone(),
                                email: s.email.clone(),
                                state: serde_json::to_value(s.state(now))
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default(),
                                can_reply: s.can_reply,
                            });
                        }
                    }
                    Kind::Participant => {
                        if let Some(p) = crate::participants::list(kv, ws, e.ticket)?
                            .into_iter()
                            .find(|p| p.id == e.id && !p.removed)
                        {
                            out.push(Live {
                                kind: e.kind,
                                ticket: e.ticket.0,
                                id: e.id.clone(),
                                name: p.name,
                                email: p.email,
                                state: "active".into(),
                                can_reply: p.can_reply,
                            });
                        }
                    }
                }
            }
        }
        pos -= 1;
    }
    Ok((out, (pos >= 1).then_some(pos + 1)))
}

/// The live list after an invitation or an add that failed half-way and was
/// done again (the tests of `delegates` and `participants` that read it).
#[cfg(test)]
mod tests {
    mod delegates {
        use crate::delegates::tests::{setup, without_list};
        use crate::delegates::{accept, delegated_tickets, invite, list};
        use crate::store::Kv;

        /// Which write call of an invitation faults, and how (set per test run).
        static STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);
        static HOW: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

        fn nth_write_faults(_: &dyn Kv, _: &str, op: crate::store::Op<'_>) -> crate::store::Fault {
            use crate::store::{Fault, Op};
            use std::sync::atomic::Ordering::SeqCst;
            if CALLS.fetch_add(1, SeqCst) != STEP.load(SeqCst) {
                return Fault::Pass;
            }
            match (HOW.load(SeqCst), op) {
                (0, _) => Fault::Before,
                (1, _) => Fault::After,
                (_, Op::Swap(_)) => Fault::SwapDenied,
                _ => Fault::After,
            }
        }

        /// Every write of a first invitation (a ticket with its list, and one
        /// from before without) failing before or after it lands, or a swap
        /// denied after it lands: the invitation's answer is an error or its
        /// link, and inviting again completes it, once: the link works, the
        /// delegate's dashboard and the live-links list name the ticket once.
        #[test]
        fn an_invitation_that_fails_at_any_step_is_completed_by_inviting_again() {
            use std::sync::atomic::Ordering::SeqCst;
            for legacy in [false, true] {
                for how in 0..3 {
                    for step in 0..12 {
                        let (mem, ws, no, _, friend) = setup();
                        if legacy {
                            without_list(&mem, &ws, no);
                        }
                        let kv = crate::store::Faulty::new(mem, nth_write_faults);
                        HOW.store(how, SeqCst);
                        STEP.store(step, SeqCst);
                        CALLS.store(0, SeqCst);
                        let first = invite(
                            &crate::ctx::test_ctx!(&kv, &ws, 1),
                            no,
                            "admin",
                            &friend.email,
                            true,
                            [2; 32],
                        );
                        kv.arm(false);
                        let case =
                            format!("legacy {legacy}, fault {how} at write {step}: {first:?}");
                        let link = match first {
                            Ok((_, link)) => link,
                            Err(_) => {
                                invite(
                                    &crate::ctx::test_ctx!(&kv, &ws, 2),
                                    no,
                                    "admin",
                                    &friend.email,
                                    true,
                                    [3; 32],
                                )
                                .unwrap_or_else(|e| panic!("{case}: the retry failed: {e}"))
                                .1
                            }
                        };
                        accept(&kv, &link, 3).unwrap_or_else(|e| panic!("{case}: {e}"));
                        assert_eq!(list(&kv, &ws, no).unwrap().len(), 1, "{case}");
                        assert_eq!(
                            delegated_tickets(&kv, &ws, &friend.id, 10).unwrap(),
                            vec![no],
                            "{case}"
                        );
                        let (live, _) = crate::links::page(&kv, &ws, None, 10, 3).unwrap();
                        assert_eq!(live.len(), 1, "{case}: {live:?}");
                        assert_eq!(live[0].id, friend.id.as_str(), "{case}");
                    }
                }
            }
        }
    }

    mod participants {
        use crate::participants::tests::{without_list, world};
        use crate::participants::{add, issue_link, list, resolve};
        use crate::store::Kv;

        static STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);
        static HOW: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

        fn nth_write_faults(_: &dyn Kv, _: &str, op: crate::store::Op<'_>) -> crate::store::Fault {
            use crate::store::{Fault, Op};
            use std::sync::atomic::Ordering::SeqCst;
            if CALLS.fetch_add(1, SeqCst) != STEP.load(SeqCst) {
                return Fault::Pass;
            }
            match (HOW.load(SeqCst), op) {
                (0, _) => Fault::Before,
                (1, _) => Fault::After,
                (_, Op::Swap(_)) => Fault::SwapDenied,
                _ => Fault::After,
            }
        }

        /// Every write of an add (a ticket with its list, and one from before
        /// without) failing before or after it lands, or a swap denied after it
        /// lands: adding again, when the first answer was an error, completes
        /// it, once: listed once, in the live-links list once, links working.
        #[test]
        fn an_add_that_fails_at_any_step_is_completed_by_adding_again() {
            use std::sync::atomic::Ordering::SeqCst;
            for legacy in [false, true] {
                for how in 0..3 {
                    for step in 0..8 {
                        let (mem, ws, no) = world();
                        if legacy {
                            without_list(&mem, &ws, no);
                        }
                        let kv = crate::store::Faulty::new(mem, nth_write_faults);
                        HOW.store(how, SeqCst);
                        STEP.store(step, SeqCst);
                        CALLS.store(0, SeqCst);
                        let first = add(
                            &crate::ctx::test_ctx!(&kv, &ws, 1),
                            no,
                            "staff",
                            crate::participants::NewParticipant {
                                email: "g@y.com",
                                name: None,
                                can_reply: true,
                            },
                            [2; 16],
                        );
                        kv.arm(false);
                        let case =
                            format!("legacy {legacy}, fault {how} at write {step}: {first:?}");
                        let p = match first {
                            Ok(p) => p,
                            Err(_) => add(
                                &crate::ctx::test_ctx!(&kv, &ws, 2),
                                no,
                                "staff",
                                crate::participants::NewParticipant {
                                    email: "g@y.com",
                                    name: None,
                                    can_reply: true,
                                },
                                [3; 16],
                            )
                            .unwrap_or_else(|e| panic!("{case}: adding again failed: {e}")),
                        };
                        assert_eq!(list(&kv, &ws, no).unwrap(), vec![p.clone()], "{case}");
                        let (live, _) = crate::links::page(&kv, &ws, None, 10, 3).unwrap();
                        assert_eq!(live.len(), 1, "{case}: {live:?}");
                        assert_eq!(live[0].id, p.id, "{case}");
                        let link = issue_link(&kv, &ws, no, &p, 3, [4; 32]).unwrap();
                        assert_eq!(resolve(&kv, &link).unwrap().2.id, p.id, "{case}");
                    }
                }
            }
        }
    }
}
