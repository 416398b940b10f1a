//! The staff inbox through the host: Pending / Working on / Resolved with
//! counts and per-person unread markers; accept (20 at once: one winner),
//! transfer to a person and/or queue with a hand-off note (exclusive with
//! `if_version`), return, resolve and reopen; and 200 concurrent random
//! actions after which every ticket is in exactly the one view its state
//! says, with counts that match.

use serde_json::{Value, json};

use testkit::fixtures::{staff_user, view};
use testkit::request;
use testkit::scenarios::random_actions_in;
use testkit::{World, json_of};

fn act(w: &World, user: &str, t: u64, action: &str, body: Option<Value>) -> testkit::Resp {
    w.as_(
        Some(user),
        "POST",
        &format!("/api/v1/tickets/{t}/{action}"),
        body,
    )
}

#[test]
fn views_counts_accept_transfer_return() {
    let w = World::build(false);
    let sue = staff_user(&w, "sue@acme.test", &["billing"]);
    let t: Vec<u64> = (0..3)
        .map(|i| w.ticket(&w.cust_a, &format!("Inbox {i}")))
        .collect();
    let (pending, counts) = view(&w, &w.staff, "pending");
    assert_eq!(pending, t, "oldest waiting first");
    assert_eq!(counts, json!({"pending": 3, "working": 0, "resolved": 0}));
    assert_eq!(
        view(&w, &sue, "pending").0,
        Vec::<u64>::new(),
        "sue works billing only"
    );
    // The customer and other workspaces cannot act.
    assert_eq!(act(&w, &w.cust_a, t[0], "accept", None).status, 403);
    assert_eq!(
        w.as_(Some(&w.cust_a), "GET", "/api/v1/inbox", None).status,
        403
    );
    let other = format!("Bearer {}", w.other_key);
    let r = request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{}/accept", t[0]),
        &[("Authorization", &other)],
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        act(&w, &sue, t[0], "accept", None).status,
        403,
        "not sue's queue"
    );

    // Accept: 20 staff at once, exactly one wins; the others learn who.
    let many: Vec<String> = (0..20)
        .map(|i| staff_user(&w, &format!("s{i}@acme.test"), &[]))
        .collect();
    let b = w.bearer();
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = many
            .iter()
            .map(|u| {
                let (addr, b, u) = (w.host.addr.clone(), b.clone(), u.clone());
                let path = format!("/api/v1/tickets/{}/accept", t[0]);
                s.spawn(move || {
                    let r = request(
                        &addr,
                        "POST",
                        &path,
                        &[("Authorization", &b), ("Ticketshare-Act-As", &u)],
                        b"",
                    );
                    (r.status, r.text())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|(s, _)| *s == 409).count(), 19);
    let winner = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{}", t[0]), None))["ticket"]
        ["assignee_id"]
        .as_str()
        .unwrap()
        .to_string();
    let winner_name =
        json_of(&w.as_(None, "GET", &format!("/api/v1/users/{winner}"), None))["user"]["name"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s == 409)
            .all(|(_, b)| b.contains(&format!("{winner_name} took")))
    );
    assert_eq!(view(&w, &winner, "working").0, vec![t[0]]);
    let (pending, counts) = view(&w, &w.staff, "pending");
    assert_eq!(pending, t[1..]);
    assert_eq!(counts["pending"], 2);

    // Transfer to the billing queue with a note: sue sees it in Pending;
    // the note is an internal event the customer never sees.
    let r = act(
        &w,
        &winner,
        t[0],
        "transfer",
        Some(json!({"queue": "billing", "note": "Refund question"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(view(&w, &sue, "pending").0, vec![t[0]]);
    assert!(view(&w, &winner, "working").0.is_empty());
    let staff_thread = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{}/thread", t[0]),
        None,
    ));
    assert!(
        staff_thread
            .to_string()
            .contains("transferred the ticket to the billing queue: Refund question")
    );
    let cust_thread = json_of(&w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{}/thread", t[0]),
        None,
    ));
    assert!(!cust_thread.to_string().contains("Refund question"));
    // To a person: refused when they do not work the queue.
    let r = act(&w, &w.staff, t[1], "transfer", Some(json!({"to": sue})));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = act(
        &w,
        &w.staff,
        t[1],
        "transfer",
        Some(json!({"to": sue, "queue": "billing"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(view(&w, &sue, "working").0, vec![t[1]]);
    for bad in [
        json!({}),
        json!({"to": "u_nope"}),
        json!({"queue": "bad queue"}),
        json!({"to": w.cust_a}),
        json!({"queue": "x", "extra": 1}),
    ] {
        let r = act(&w, &w.staff, t[2], "transfer", Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    // Return: back to the queue's Pending.
    let r = act(
        &w,
        &sue,
        t[1],
        "return",
        Some(json!({"reason": "Out today"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        act(&w, &sue, t[1], "return", None).status,
        409,
        "not assigned any more"
    );
    assert_eq!(view(&w, &sue, "pending").0, vec![t[0], t[1]]);

    // Exclusive transfers: of ten with the same if_version, one wins.
    let version = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{}", t[2]), None))["ticket"]["version"]
        .as_u64()
        .unwrap();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = many[..10]
            .iter()
            .map(|u| {
                let (addr, b, u) = (w.host.addr.clone(), b.clone(), u.clone());
                let path = format!("/api/v1/tickets/{}/transfer", t[2]);
                let body = json!({"to": u, "if_version": version}).to_string();
                s.spawn(move || {
                    request(
                        &addr,
                        "POST",
                        &path,
                        &[
                            ("Authorization", &b),
                            ("Ticketshare-Act-As", &u),
                            ("Content-Type", "application/json"),
                        ],
                        body.as_bytes(),
                    )
                    .status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );

    // Unread per person; resolve and reopen move between views.
    let row = |user: &str, view_name: &str, no: u64| -> Value {
        let v = json_of(&w.as_(
            Some(user),
            "GET",
            &format!("/api/v1/inbox?view={view_name}"),
            None,
        ));
        v["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["number"] == no)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&sue, "pending", t[0])["unread"], true);
    assert_eq!(act(&w, &sue, t[0], "read", None).status, 200);
    assert_eq!(row(&sue, "pending", t[0])["unread"], false);
    assert_eq!(row(&w.admin, "pending", t[0])["unread"], true, "per person");
    assert_eq!(act(&w, &sue, t[0], "unread", None).status, 200);
    assert_eq!(row(&sue, "pending", t[0])["unread"], true);
    assert_eq!(act(&w, &sue, t[0], "resolve", None).status, 200);
    assert_eq!(view(&w, &sue, "resolved").0, vec![t[0]]);
    assert_eq!(act(&w, &sue, t[0], "accept", None).status, 409, "resolved");
    assert_eq!(act(&w, &sue, t[0], "reopen", None).status, 200);
    assert!(view(&w, &sue, "resolved").0.is_empty());
    assert!(view(&w, &sue, "pending").0.contains(&t[0]));
    let audit = json_of(&w.as_(None, "GET", "/api/v1/audit?limit=5000", None));
    let actions = testkit::actions(&audit);
    for a in ["ticket.assigned", "ticket.transferred", "ticket.returned"] {
        assert!(actions.contains(&a), "{a}");
    }
}

#[test]
fn after_200_concurrent_random_actions_each_ticket_is_in_exactly_one_view() {
    random_actions_in(World::build(false));
}

/// Search until `want` holds (messages are indexed right after the
/// response that posted them).
fn search_until(w: &World, user: &str, q: &str, want: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let t0 = std::time::Instant::now();
    loop {
        let r = w.as_(
            Some(user),
            "GET",
            &format!(
                "/api/v1/search?q={}",
                q.replace(' ', "+").replace('#', "%23")
            ),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let found: Vec<u64> = json_of(&r)["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_u64().unwrap())
            .collect();
        if want(&found) || t0.elapsed() > std::time::Duration::from_secs(3) {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn search_by_number_and_words_within_what_the_searcher_may_see() {
    let w = World::build(false);
    let a = w.ticket(&w.cust_a, "Blue kettle broken");
    let b = w.ticket(&w.outsider, "Blue teapot missing");
    let c = w.ticket(&w.cust_a, "Invoice question");
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{c}/replies"),
        Some(json!({"body": "Refund via courier arranged", "visibility": "internal"})),
    );
    assert_eq!(r.status, 201);
    // Activity is ranked by its millisecond: two requests in one millisecond
    // tie (and the higher number wins), so a's reply must come in a later one.
    std::thread::sleep(std::time::Duration::from_millis(3));
    let r = w.as_(
        Some(&w.cust_a),
        "POST",
        &format!("/api/v1/tickets/{a}/replies"),
        Some(json!({"body": "The kettle leaks near the handle"})),
    );
    assert_eq!(r.status, 201);
    // By number, with or without #; a customer only finds their own.
    assert_eq!(
        search_until(&w, &w.staff, &format!("#{b}"), |f| !f.is_empty()),
        vec![b]
    );
    assert_eq!(
        search_until(&w, &w.staff, &b.to_string(), |f| !f.is_empty()),
        vec![b]
    );
    assert!(search_until(&w, &w.cust_a, &format!("#{b}"), |_| true).is_empty());
    // Words: subject, message text, customer name (staff), most recent
    // activity first.
    assert_eq!(
        search_until(&w, &w.staff, "blue", |f| f.len() == 2),
        vec![a, b],
        "a's reply is its latest activity, after b was opened"
    );
    assert_eq!(
        search_until(&w, &w.staff, "leaks handle", |f| !f.is_empty()),
        vec![a]
    );
    assert_eq!(
        search_until(&w, &w.staff, "courier", |f| !f.is_empty()),
        vec![c]
    );
    assert_eq!(
        search_until(&w, &w.staff, "oz", |f| !f.is_empty()),
        vec![b],
        "by customer name"
    );
    assert_eq!(
        search_until(&w, &w.staff, "cara", |f| f.len() == 2),
        vec![a, c]
    );
    // The customer side: never another customer's ticket, never a note.
    assert_eq!(
        search_until(&w, &w.cust_a, "blue", |f| !f.is_empty()),
        vec![a]
    );
    assert!(search_until(&w, &w.cust_a, "courier", |_| true).is_empty());
    assert!(search_until(&w, &w.outsider, "kettle", |_| true).is_empty());
    let r = w.as_(Some(&w.staff), "GET", "/api/v1/search", None);
    assert_eq!(r.status, 400);
}

#[test]
fn admins_purge_deleted_tickets_and_the_ledger_keeps_them() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Secret purchase");
    let r = w.as_(
        Some(&w.cust_a),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "my card ends 4242"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        act(&w, &w.admin, t, "purge", None).status,
        409,
        "delete first"
    );
    assert_eq!(act(&w, &w.staff, t, "delete", None).status, 200);
    assert!(
        view(&w, &w.admin, "pending").0.is_empty(),
        "hidden from every view"
    );
    assert_eq!(act(&w, &w.staff, t, "purge", None).status, 403);
    let r = act(&w, &w.admin, t, "purge", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["messages_removed"], 2);
    assert!(
        w.keys_holding("card ends 4242").is_empty(),
        "the text is gone from the store"
    );
    // The workspace ledger keeps every entry of the ticket.
    let audit = json_of(&w.as_(None, "GET", "/api/v1/audit?limit=5000", None));
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ticket"] == t)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "ticket.created",
        "message.posted",
        "ticket.deleted",
        "ticket.purged",
    ] {
        assert!(actions.contains(&a), "{a}");
    }
}

#[test]
fn reindex_places_nothing_twice_and_keeps_counts_true() {
    let w = World::build(false);
    let t: Vec<u64> = (0..3)
        .map(|i| w.ticket(&w.cust_a, &format!("Re {i}")))
        .collect();
    assert_eq!(act(&w, &w.staff, t[0], "accept", None).status, 200);
    assert_eq!(
        w.as_(Some(&w.staff), "POST", "/api/v1/inbox/reindex", None)
            .status,
        403
    );
    let r = w.as_(Some(&w.admin), "POST", "/api/v1/inbox/reindex", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r)["placed"],
        0,
        "every ticket has its entry already"
    );
    let (pending, counts) = view(&w, &w.staff, "pending");
    assert_eq!(pending, t[1..]);
    assert_eq!(counts, json!({"pending": 2, "working": 1, "resolved": 0}));
}
