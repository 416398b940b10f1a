//! The inbox's tests over whole tickets: made by [`crate::thread::create_ticket`],
//! which puts a ticket in the inbox, so they live above both.

use crate::ids::{TicketNo, UserId, WorkspaceId};
use crate::inbox::*;
use crate::keys;
use crate::model::{Status, Ticket};
use crate::record::read;
use crate::store::Kv;
use crate::store::MemKv;
use crate::thread::fixture;
use crate::time::HOUR;
use crate::time::Millis;

#[test]
fn a_ticket_is_in_exactly_one_list_and_pages_skip_dead_entries() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let at_hour = crate::ctx::test_ctx!(&kv, &ws, HOUR);
    let nos: Vec<TicketNo> = (0..6)
        .map(|i| fixture::ticket(&kv, &ws, &format!("c{i}@x.test"), "T").no)
        .collect();
    let pending = vec!["pending/general".to_string()];
    let (p, c) = page(&at_hour, &pending, Order::OldestFirst, None, 4).unwrap();
    assert_eq!(p.iter().map(|t| t.no).collect::<Vec<_>>(), nos[..4]);
    let (p2, c2) = page(&at_hour, &pending, Order::OldestFirst, c.as_ref(), 4).unwrap();
    assert_eq!(p2.iter().map(|t| t.no).collect::<Vec<_>>(), nos[4..]);
    assert!(c2.is_none());
    assert_eq!(count(&kv, &ws, "pending/general").unwrap(), 6);
    // Accept two: they leave Pending for Working on.
    let u = UserId::new([9; 16]);
    for no in &nos[..2] {
        change(&crate::ctx::test_ctx!(&kv, &ws, 10), *no, |t| {
            t.assignee = Some(u.clone());
            Ok(())
        })
        .unwrap();
    }
    let working = vec![format!("working/{u}")];
    let (w, _) = page(&at_hour, &working, Order::NewestFirst, None, 10).unwrap();
    assert_eq!(
        w.iter().map(|t| t.no).collect::<Vec<_>>(),
        vec![nos[1], nos[0]]
    );
    let (p, _) = page(&at_hour, &pending, Order::OldestFirst, None, 10).unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p[0].no, nos[2]);
    assert_eq!(count(&kv, &ws, "pending/general").unwrap(), 4);
    assert_eq!(count(&kv, &ws, &working[0]).unwrap(), 2);
    // The hint moved past the dead head.
    assert_eq!(start_hint(&kv, &ws, "pending/general").unwrap(), 3);
    // Resolve and reopen; delete leaves every list.
    change(&crate::ctx::test_ctx!(&kv, &ws, 11), nos[0], |t| {
        t.status = Status::Resolved;
        Ok(())
    })
    .unwrap();
    let t = change(&crate::ctx::test_ctx!(&kv, &ws, 12), nos[2], |t| {
        t.deleted = true;
        Ok(())
    })
    .unwrap();
    assert!(t.slot.is_none());
    let (r, _) = page(
        &at_hour,
        &["resolved/general".into()],
        Order::NewestFirst,
        None,
        10,
    )
    .unwrap();
    assert_eq!(r.len(), 1);
    let (p, _) = page(&at_hour, &pending, Order::OldestFirst, None, 10).unwrap();
    assert_eq!(p.len(), 3);
    // Every ticket is in the list its state says, and in no other.
    let lists = [
        pending[0].clone(),
        working[0].clone(),
        "resolved/general".to_string(),
    ];
    for no in &nos {
        let t: Ticket = read(&kv, &keys::ticket(&ws, *no)).unwrap().unwrap();
        let mut found = 0;
        for l in &lists {
            let order = if l.starts_with("pending") {
                Order::OldestFirst
            } else {
                Order::NewestFirst
            };
            let (p, _) = page(&at_hour, &[l.clone()], order, None, 100).unwrap();
            found += p.iter().filter(|x| x.no == *no).count();
        }
        assert_eq!(found, usize::from(!t.deleted), "ticket {no}");
    }
}

#[test]
fn the_start_hint_never_skips_an_entry_that_may_still_be_moving() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let a = fixture::ticket(&kv, &ws, "a@x.test", "A");
    let b = fixture::ticket(&kv, &ws, "b@x.test", "B");
    let pending = vec!["pending/general".to_string()];
    // a moves out at 1 000: its entry is dead, but young.
    change(&crate::ctx::test_ctx!(&kv, &ws, 1_000), a.no, |t| {
        t.assignee = Some(UserId::new([3; 16]));
        Ok(())
    })
    .unwrap();
    let (p, _) = page(
        &crate::ctx::test_ctx!(&kv, &ws, 1_000),
        &pending,
        Order::OldestFirst,
        None,
        10,
    )
    .unwrap();
    assert_eq!(p.iter().map(|t| t.no).collect::<Vec<_>>(), vec![b.no]);
    assert_eq!(
        start_hint(&kv, &ws, "pending/general").unwrap(),
        1,
        "a dead entry of age 0 is not skipped yet"
    );
    // Entry 1 was written at 0 (a's creation): after the grace it is.
    let (_, _) = page(
        &crate::ctx::test_ctx!(&kv, &ws, HINT_GRACE),
        &pending,
        Order::OldestFirst,
        None,
        10,
    )
    .unwrap();
    assert_eq!(start_hint(&kv, &ws, "pending/general").unwrap(), 2);
    // A number handed out but not written (a move in flight) stops it.
    kv.increment(&keys::view_counter(&ws, "pending/general"), 1)
        .unwrap();
    let c = fixture::ticket(&kv, &ws, "c@x.test", "C");
    change(
        &crate::ctx::test_ctx!(&kv, &ws, 2 * HINT_GRACE),
        b.no,
        |t| {
            t.assignee = Some(UserId::new([3; 16]));
            Ok(())
        },
    )
    .unwrap();
    let (p, _) = page(
        &crate::ctx::test_ctx!(&kv, &ws, 10 * HINT_GRACE),
        &pending,
        Order::OldestFirst,
        None,
        10,
    )
    .unwrap();
    assert_eq!(p.iter().map(|t| t.no).collect::<Vec<_>>(), vec![c.no]);
    assert_eq!(
        start_hint(&kv, &ws, "pending/general").unwrap(),
        3,
        "stops before the missing entry"
    );
}

/// A list number whose increment's answer was lost is never written:
/// the start hint moves past it with the old dead entries after it (so
/// the dead head does not grow behind it forever), but never past one
/// that may still be being written (the entry after it is young).
#[test]
fn the_start_hint_moves_past_an_old_gap_and_stops_at_a_young_one() {
    use crate::store::{Fault, Faulty, Op};
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Increment if key.ends_with("/inbox/pending/general/counter") => Fault::After,
        _ => Fault::Pass,
    });
    kv.arm(false);
    let ws = WorkspaceId::parse("acme").unwrap();
    let at_hour = crate::ctx::test_ctx!(&kv, &ws, HOUR);
    let pending = vec!["pending/general".to_string()];
    let hint = || start_hint(&kv, &ws, "pending/general").unwrap();
    let accept = |no: TicketNo, at: Millis| {
        change(&crate::ctx::test_ctx!(&kv, &ws, at), no, |t| {
            t.assignee = Some(UserId::new([3; 16]));
            Ok(())
        })
        .unwrap()
    };
    let a = fixture::ticket(&kv, &ws, "a@x.test", "A");
    // b takes entry 2 and gets an error: a gap forever (b stays out of
    // the inbox until a reindex).
    kv.arm(true);
    let cus = fixture::customer(&kv.inner, &ws, "b@x.test", 2);
    let author = crate::thread::Author {
        id: None,
        name: "B".into(),
        kind: crate::model::AuthorKind::Customer,
        signed: true,
    };
    let (b, _, settled) = crate::thread::create_ticket(
        &crate::ctx::test_ctx!(&kv, &ws, 0),
        "B",
        &cus,
        "general",
        &author,
        "hi",
    )
    .unwrap();
    assert!(settled.is_err() && b.slot.is_none());
    kv.arm(false);
    let c = fixture::ticket(&kv, &ws, "c@x.test", "C");
    let d = fixture::ticket(&kv, &ws, "d@x.test", "D");
    // a and c leave Pending; their entries are dead, and old at HOUR.
    accept(a.no, 10);
    accept(c.no, 10);
    let (p, _) = page(&at_hour, &pending, Order::OldestFirst, None, 10).unwrap();
    assert_eq!(p.iter().map(|t| t.no).collect::<Vec<_>>(), vec![d.no]);
    assert_eq!(hint(), 4, "past 1 (dead), 2 (old gap), 3 (dead)");
    // Entry 5 taken at HOUR and never written (e's increment lost);
    // entry 6 (f) written at HOUR and dead: the gap is young until
    // entry 6 is HINT_GRACE old, and the hint waits before it.
    kv.arm(true);
    let cus = fixture::customer(&kv.inner, &ws, "e@x.test", 5);
    let (_, _, settled) =
        crate::thread::create_ticket(&at_hour, "E", &cus, "general", &author, "hi").unwrap();
    assert!(settled.is_err());
    kv.arm(false);
    accept(d.no, HOUR);
    let cus = fixture::customer(&kv.inner, &ws, "f@x.test", 6);
    let (f, _, settled) =
        crate::thread::create_ticket(&at_hour, "F", &cus, "general", &author, "hi").unwrap();
    settled.unwrap();
    assert_eq!(f.slot.as_ref().map(|s| s.pos), Some(6));
    accept(f.no, HOUR);
    let (p, _) = page(
        &crate::ctx::test_ctx!(&kv, &ws, HOUR + 1_000),
        &pending,
        Order::OldestFirst,
        None,
        10,
    )
    .unwrap();
    assert!(p.is_empty());
    assert_eq!(hint(), 5, "past 4 (dead, old), not the young gap at 5");
    let (p, _) = page(
        &crate::ctx::test_ctx!(&kv, &ws, HOUR + HINT_GRACE),
        &pending,
        Order::OldestFirst,
        None,
        10,
    )
    .unwrap();
    assert!(p.is_empty());
    assert_eq!(hint(), 7, "past the gap once it is old");
}

#[test]
fn queues_merge_oldest_first_and_unread_is_per_person() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let at_hour = crate::ctx::test_ctx!(&kv, &ws, HOUR);
    let a = fixture::ticket(&kv, &ws, "a@x.test", "A");
    let b = fixture::ticket(&kv, &ws, "b@x.test", "B");
    change(&crate::ctx::test_ctx!(&kv, &ws, 5), a.no, |t| {
        t.queue = "billing".into();
        Ok(())
    })
    .unwrap();
    let lists = vec!["pending/general".to_string(), "pending/billing".to_string()];
    let (p, _) = page(&at_hour, &lists, Order::OldestFirst, None, 10).unwrap();
    assert_eq!(
        p.iter().map(|t| t.no).collect::<Vec<_>>(),
        vec![b.no, a.no],
        "b waited longer in its list"
    );
    let u1 = UserId::new([1; 16]);
    let u2 = UserId::new([2; 16]);
    assert!(unread(&kv, &ws, &u1, &b).unwrap());
    mark(&crate::ctx::test_ctx!(&kv, &ws, 0), &u1, &b, true).unwrap();
    assert!(!unread(&kv, &ws, &u1, &b).unwrap());
    assert!(unread(&kv, &ws, &u2, &b).unwrap());
    mark(&crate::ctx::test_ctx!(&kv, &ws, 0), &u1, &b, false).unwrap();
    assert!(unread(&kv, &ws, &u1, &b).unwrap());
    let c = Cursor(vec![("pending/general".into(), 3)]);
    assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    assert!(Cursor::decode("!!").is_err());
}

/// A move whose counts could not follow is settled by the ticket's next
/// change, even a refused one; when the store fails while settling, the
/// refusal is answered as that store failure (a client retries a 503, not a
/// 409), so no count is left behind by an answer nobody retries.
#[test]
fn a_refused_change_settles_counts_or_answers_the_store_failure() {
    use crate::error::Error;
    use crate::store::{Fault, Faulty, Op};
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Swap(_) | Op::Set(_) | Op::Increment if key.ends_with("/count") => Fault::Before,
        _ => Fault::Pass,
    });
    kv.arm(false);
    let ws = WorkspaceId::parse("acme").unwrap();
    let no = fixture::ticket(&kv, &ws, "c@x.test", "T").no;
    let u = UserId::new([9; 16]);
    let working = format!("working/{u}");
    // The accept lands; its counts cannot follow.
    kv.arm(true);
    let accepted = change(&crate::ctx::test_ctx!(&kv, &ws, 10), no, |t| {
        t.assignee = Some(u.clone());
        Ok(())
    });
    assert!(matches!(accepted, Err(Error::Store(_))), "{accepted:?}");
    let refuse =
        |_: &mut Ticket| -> crate::error::Result<()> { Err(Error::Conflict("taken".into())) };
    // Refused while the counts still cannot be written: the store failure
    // is the answer.
    assert!(matches!(
        change(&crate::ctx::test_ctx!(&kv, &ws, 20), no, refuse),
        Err(Error::Store(_))
    ));
    // Refused once the store works: the refusal, and the counts follow.
    kv.arm(false);
    assert!(matches!(
        change(&crate::ctx::test_ctx!(&kv, &ws, 30), no, refuse),
        Err(Error::Conflict(_))
    ));
    assert_eq!(count(&kv, &ws, "pending/general").unwrap(), 0);
    assert_eq!(count(&kv, &ws, &working).unwrap(), 1);
    let t: Ticket = read(&kv, &keys::ticket(&ws, no)).unwrap().unwrap();
    assert!(t.uncounted.is_empty());
}

/// The shared start hints are a copy ([`Hints`]): a page is the same from
/// a copy that is behind, missing, or not there at all (the list's own
/// hint is read then, and copied), and a page that moves a hint moves its
/// copy too.
#[test]
fn a_page_is_the_same_whatever_the_shared_hints_hold() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let at_hour = crate::ctx::test_ctx!(&kv, &ws, HOUR);
    let nos: Vec<TicketNo> = (0..8)
        .map(|i| fixture::ticket(&kv, &ws, &format!("c{i}@x.test"), "T").no)
        .collect();
    let u = UserId::new([9; 16]);
    for no in &nos[..3] {
        change(&crate::ctx::test_ctx!(&kv, &ws, 10), *no, |t| {
            t.assignee = Some(u.clone());
            Ok(())
        })
        .unwrap();
    }
    let pending = vec!["pending/general".to_string()];
    // Every page of two, following cursors.
    let pages = || {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (p, c) = page(&at_hour, &pending, Order::OldestFirst, cursor.as_ref(), 2).unwrap();
            all.extend(p.iter().map(|t| t.no));
            match c {
                Some(c) => cursor = Some(c),
                None => return all,
            }
        }
    };
    assert_eq!(pages(), nos[3..]);
    assert_eq!(start_hint(&kv, &ws, "pending/general").unwrap(), 4);
    assert_eq!(hints(&kv, &ws).unwrap().get("pending/general"), Some(4));
    let shared = keys::view_hints(&ws);
    // Behind (a copy that failed to follow): the same pages.
    let behind = br#"{"lists":{"pending/general":1},"version":7}"#;
    kv.set(&shared, behind).unwrap();
    assert_eq!(pages(), nos[3..]);
    // Without the list, or without the record: the own hint is read, and
    // copied.
    for without in [&br#"{"lists":{"pending/other":2},"version":7}"#[..], b""] {
        if without.is_empty() {
            kv.delete(&shared).unwrap();
        } else {
            kv.set(&shared, without).unwrap();
        }
        assert_eq!(pages(), nos[3..]);
        assert_eq!(hints(&kv, &ws).unwrap().get("pending/general"), Some(4));
    }
    // A later move of a ticket out of Pending moves both.
    change(&crate::ctx::test_ctx!(&kv, &ws, 10), nos[3], |t| {
        t.assignee = Some(u.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(pages(), nos[4..]);
    assert_eq!(start_hint(&kv, &ws, "pending/general").unwrap(), 5);
    assert_eq!(hints(&kv, &ws).unwrap().get("pending/general"), Some(5));
}

/// Many lists, each with more entries past its start than a page: the first
/// batch's windows leave the merge reads to take a page, and the cursor
/// moves (windows of a whole page each once used up the read budget, and
/// an admin's Pending view came back empty with the same cursor for ever).
#[test]
fn many_full_lists_still_fill_a_page_and_move_the_cursor() {
    let kv = MemKv::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let at_hour = crate::ctx::test_ctx!(&kv, &ws, HOUR);
    let queues = 12;
    for i in 0..queues * 30 {
        let no = fixture::ticket(&kv, &ws, &format!("c{i}@x.test"), "T").no;
        change(&crate::ctx::test_ctx!(&kv, &ws, 10), no, |t| {
            t.queue = format!("q{}", i % queues);
            Ok(())
        })
        .unwrap();
    }
    let lists: Vec<String> = (0..queues).map(|q| format!("pending/q{q}")).collect();
    // The first view writes the shared hints; the second starts from them.
    let mut cursor = None;
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..3 {
        let (p, c) = page(&at_hour, &lists, Order::OldestFirst, None, 25).unwrap();
        assert_eq!(p.len(), 25, "round {round}: a full page");
        cursor = c;
    }
    // Following cursors reaches every ticket once.
    let (first, mut next) = page(&at_hour, &lists, Order::OldestFirst, None, 25).unwrap();
    seen.extend(first.iter().map(|t| t.no));
    let mut pages = 1;
    while let Some(c) = next {
        let (p, n) = page(&at_hour, &lists, Order::OldestFirst, Some(&c), 25).unwrap();
        assert!(
            !p.is_empty(),
            "page {pages} is empty; its cursor would repeat"
        );
        assert_ne!(n.as_ref(), Some(&c), "the cursor moves");
        seen.extend(p.iter().map(|t| t.no));
        next = n;
        pages += 1;
        assert!(pages < 100, "pages never end");
    }
    assert!(cursor.is_some());
    assert_eq!(seen.len(), queues * 30);
}
