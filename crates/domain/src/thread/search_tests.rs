//! Search's tests over whole tickets: made by [`crate::thread::create_ticket`],
//! which indexes a ticket, so they live above both.

use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::model::Ticket;
use crate::search::*;
use crate::store::{Kv, MemKv};
use crate::thread::fixture;

mod gap_tests {
    use super::*;

    /// A posting number taken and never written (an increment whose answer
    /// was lost) is skipped: every other ticket with the term is found,
    /// once.
    #[test]
    fn a_posting_never_written_is_skipped() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let a = fixture::ticket(&kv, &ws, "a@x.test", "Blue");
        let b = fixture::ticket(&kv, &ws, "b@x.test", "Red");
        index(&kv, &ws, a.no, "parcel", true).unwrap();
        kv.increment(&keys::search_counter(&ws, "all", "parcel"), 1)
            .unwrap();
        index(&kv, &ws, b.no, "parcel parcel", true).unwrap();
        index(&kv, &ws, a.no, "parcel again", true).unwrap();
        kv.increment(&keys::search_counter(&ws, "all", "parcel"), 1)
            .unwrap();
        let mut all = |_: &Ticket| Ok(true);
        let mut found: Vec<TicketNo> = search(&kv, &ws, "parcel", Scope::All, 10, &mut all)
            .unwrap()
            .iter()
            .map(|t| t.no)
            .collect();
        found.sort();
        assert_eq!(found, vec![a.no, b.no]);
    }
}

static STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);
static HOW: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn nth_write_faults(_: &dyn Kv, _: &str, _: crate::store::Op<'_>) -> crate::store::Fault {
    use std::sync::atomic::Ordering::SeqCst;
    if CALLS.fetch_add(1, SeqCst) != STEP.load(SeqCst) {
        return crate::store::Fault::Pass;
    }
    if HOW.load(SeqCst) == 0 {
        crate::store::Fault::Before
    } else {
        crate::store::Fault::After
    }
}

/// Indexing that fails at any write (before or after it lands) is done
/// by the next text with the word: the ticket is found by it, once.
#[test]
fn an_indexing_that_fails_half_way_is_done_again() {
    use std::sync::atomic::Ordering::SeqCst;
    for how in 0..2 {
        for step in 0..6 {
            let mem = MemKv::new();
            let ws = WorkspaceId::parse("acme").unwrap();
            let a = fixture::ticket(&mem, &ws, "a@x.test", "Parcel");
            let kv = crate::store::Faulty::new(mem, nth_write_faults);
            HOW.store(how, SeqCst);
            STEP.store(step, SeqCst);
            CALLS.store(0, SeqCst);
            let first = index(&kv, &ws, a.no, "courier", true);
            kv.arm(false);
            index(&kv, &ws, a.no, "the courier again", true).unwrap();
            let case = format!("fault {how} at write {step}: {first:?}");
            for scope in [Scope::All, Scope::Public] {
                let found = search(&kv, &ws, "courier", scope, 10, &mut |_| Ok(true)).unwrap();
                let nos: Vec<_> = found.iter().map(|t| t.no).collect();
                assert_eq!(nos, vec![a.no], "{case}");
            }
            // Once marked, the word is not indexed again.
            let marked = kv.inner.dump().len();
            index(&kv, &ws, a.no, "courier", true).unwrap();
            assert_eq!(kv.inner.dump().len(), marked, "{case}");
        }
    }
}

#[test]
fn every_term_must_match_and_the_public_scope_hides_notes() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let a = fixture::ticket(&kv, &ws, "a@x.test", "Blue parcel");
    let b = fixture::ticket(&kv, &ws, "b@x.test", "Red parcel");
    index(&kv, &ws, a.no, "Blue parcel", true).unwrap();
    index(&kv, &ws, b.no, "Red parcel", true).unwrap();
    index(&kv, &ws, b.no, "courier refund secret", false).unwrap();
    let mut all = |_: &Ticket| Ok(true);
    let nos = |v: Vec<Ticket>| v.iter().map(|t| t.no).collect::<Vec<_>>();
    assert_eq!(
        nos(search(&kv, &ws, "parcel", Scope::All, 10, &mut all).unwrap()).len(),
        2
    );
    assert_eq!(
        nos(search(&kv, &ws, "BLUE parcel", Scope::All, 10, &mut all).unwrap()),
        vec![a.no]
    );
    assert_eq!(
        nos(search(&kv, &ws, "refund", Scope::All, 10, &mut all).unwrap()),
        vec![b.no]
    );
    assert!(
        search(&kv, &ws, "refund", Scope::Public, 10, &mut all)
            .unwrap()
            .is_empty(),
        "internal words stay internal"
    );
    assert!(
        search(&kv, &ws, "green", Scope::All, 10, &mut all)
            .unwrap()
            .is_empty()
    );
    let mut only_a = |t: &Ticket| Ok(t.no == a.no);
    assert_eq!(
        nos(search(&kv, &ws, "parcel", Scope::All, 10, &mut only_a).unwrap()),
        vec![a.no]
    );
}
