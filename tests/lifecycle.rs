//! A ticket's lifecycle through the host (`transfer` component): resolve,
//! reopen and delete, and what they do to the ticket's outside links; and
//! that no link token sits in the store in clear.

use serde_json::{Value, json};

use testkit::fixtures::{accept, as_cookie, customer, invite_path};
use testkit::fixtures::{enable_participants, participant_link};
use testkit::{World, call, json_of};

/// A ticket with one accepted delegate (returns their session), one pending
/// invite and one guest participant; returns the links too.
struct Linked {
    t: u64,
    delegate_cookie: String,
    pending_invite: String,
    participant_link: String,
}

fn linked_ticket(w: &World, subject: &str, n: &str) -> Linked {
    let t = w.ticket(&w.cust_a, subject);
    let accepted = format!("acc{n}@buyers.test");
    let pending = format!("pend{n}@buyers.test");
    let guest = format!("guest{n}@supplier.test");
    for email in [&accepted, &pending] {
        customer(w, email);
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/delegates"),
            Some(json!({"email": email})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (r, cookie) = accept(w, &invite_path(w, &accepted));
    assert_eq!(r.status, 303, "{}", r.text());
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants"),
        Some(json!({"email": guest})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    Linked {
        t,
        delegate_cookie: cookie.expect("accepting signs in"),
        pending_invite: invite_path(w, &pending),
        participant_link: participant_link(w, &guest),
    }
}

fn action(w: &World, user: &str, t: u64, what: &str, body: Option<Value>) -> testkit::Resp {
    w.as_(
        Some(user),
        "POST",
        &format!("/api/v1/tickets/{t}/{what}"),
        body,
    )
}

/// Status and body of an unknown link of the same kind, to compare against.
fn dead(w: &World, path: &str) -> (u16, Vec<u8>) {
    let r = call(&w.host, "GET", path, &[], None);
    (r.status, r.body)
}

fn links_work(w: &World, l: &Linked) -> [bool; 3] {
    let read = as_cookie(
        w,
        &l.delegate_cookie,
        "GET",
        &format!("/api/v1/tickets/{}/thread", l.t),
        None,
    );
    [
        read.status == 200,
        call(&w.host, "GET", &l.pending_invite, &[], None).status == 200,
        call(&w.host, "GET", &l.participant_link, &[], None).status == 200,
    ]
}

#[test]
fn deleting_a_ticket_revokes_every_link_at_once() {
    let w = World::build(false);
    enable_participants(&w, false);
    let l = linked_ticket(&w, "To be deleted", "d");
    assert_eq!(links_work(&w, &l), [true, true, true]);
    // Customers may see the ticket but not delete it; outsiders do not see it.
    assert_eq!(action(&w, &w.cust_a, l.t, "delete", None).status, 403);
    assert_eq!(action(&w, &w.outsider, l.t, "delete", None).status, 404);
    // Bad input: unknown field, oversize reason, wrong method.
    let bad = action(&w, &w.staff, l.t, "delete", Some(json!({"why": "x"})));
    assert_eq!(bad.status, 400, "{}", bad.text());
    let long = action(
        &w,
        &w.staff,
        l.t,
        "delete",
        Some(json!({"reason": "x".repeat(501)})),
    );
    assert_eq!(long.status, 400, "{}", long.text());
    for disguised in ["two\nlines", "spam\u{202E}maps"] {
        let r = action(
            &w,
            &w.staff,
            l.t,
            "delete",
            Some(json!({ "reason": disguised })),
        );
        assert_eq!(r.status, 400, "{disguised:?}: {}", r.text());
    }
    assert_eq!(
        w.as_(
            Some(&w.staff),
            "GET",
            &format!("/api/v1/tickets/{}/delete", l.t),
            None
        )
        .status,
        405
    );
    assert_eq!(
        links_work(&w, &l),
        [true, true, true],
        "refusals wrote nothing"
    );

    let r = action(&w, &w.staff, l.t, "delete", Some(json!({"reason": "spam"})));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json_of(&r);
    assert_eq!(body["revoked"]["delegates"].as_array().unwrap().len(), 2);
    assert_eq!(body["revoked"]["participants"].as_array().unwrap().len(), 1);
    assert_eq!(links_work(&w, &l), [false, false, false]);
    // Dead links look exactly like unknown ones.
    let unknown_i = format!("/i/acme.{}", "A".repeat(43));
    let unknown_p = format!("/p/acme.{}", "A".repeat(43));
    let i = call(&w.host, "GET", &l.pending_invite, &[], None);
    assert_eq!((i.status, i.body), dead(&w, &unknown_i));
    let p = call(&w.host, "GET", &l.participant_link, &[], None);
    assert_eq!((p.status, p.body), dead(&w, &unknown_p));
    // The delegate can neither read nor post; staff no longer find it.
    let post = as_cookie(
        &w,
        &l.delegate_cookie,
        "POST",
        &format!("/api/v1/tickets/{}/replies", l.t),
        Some(json!({"body": "still here?"})),
    );
    assert_eq!(post.status, 404);
    let gone = w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{}", l.t),
        None,
    );
    assert_eq!(gone.status, 404);
    assert_eq!(action(&w, &w.staff, l.t, "delete", None).status, 404);
    // Nothing of it is left in the live-links list; the ledger keeps it all.
    let links = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/links", None));
    assert_eq!(links["links"].as_array().unwrap().len(), 0, "{links}");
    let ledger = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/audit", None));
    let actions: Vec<(&str, &str)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert!(
        actions.contains(&("ticket.deleted", &format!("#{}: spam", l.t))),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|(a, _)| *a == "delegate.revoked")
            .count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|(a, _)| *a == "participant.removed")
            .count(),
        1
    );
}

#[test]
fn resolving_revokes_links_only_when_the_workspace_says_so() {
    let w = World::build(false);
    enable_participants(&w, false);
    let l = linked_ticket(&w, "Resolve me", "r");
    // Only a resolved ticket reopens.
    assert_eq!(action(&w, &w.staff, l.t, "reopen", None).status, 409);
    let r = action(&w, &w.staff, l.t, "resolve", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["ticket"]["status"], "resolved");
    assert_eq!(links_work(&w, &l), [true, true, true]);
    let r = action(&w, &w.admin, l.t, "reopen", None);
    assert_eq!(json_of(&r)["ticket"]["status"], "open");

    // With the setting on, resolving ends every outside link.
    let s = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"participants_enabled": true, "revoke_on_resolve": true})),
    );
    assert_eq!(s.status, 200, "{}", s.text());
    let r = action(&w, &w.staff, l.t, "resolve", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r)["revoked"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(links_work(&w, &l), [false, false, false]);
    // The customer still sees their resolved ticket.
    let mine = w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{}", l.t),
        None,
    );
    assert_eq!(json_of(&mine)["ticket"]["status"], "resolved");
    // The same Idempotency-Key replays instead of acting twice.
    let key_call = |k: &str| {
        let b = w.bearer();
        testkit::request(
            &w.host.addr,
            "POST",
            &format!("/api/v1/tickets/{}/reopen", l.t),
            &[
                ("Authorization", &b),
                ("Ticketshare-Act-As", &w.staff),
                ("Idempotency-Key", k),
            ],
            b"",
        )
    };
    let first = key_call("reopen-1");
    let again = key_call("reopen-1");
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[test]
fn link_tokens_are_never_stored_in_clear() {
    let mut w = World::build(false);
    enable_participants(&w, false);
    let l = linked_ticket(&w, "Secrets", "s");
    // A sign-in link by email too.
    let r = call(
        &w.host,
        "POST",
        "/api/v1/auth/email-login",
        &[],
        Some(json!({"workspace": "acme", "email": "cara@shop.test"})),
    );
    assert_eq!(r.status, 202);
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    let mut tokens: Vec<String> = Vec::new();
    for e in outbox["emails"].as_array().unwrap() {
        let text = e["text"].as_str().unwrap();
        for marker in ["/i/acme.", "/p/acme.", "login#acme."] {
            for part in text.split(marker).skip(1) {
                tokens.push(part.chars().take(43).collect());
            }
        }
    }
    tokens.push(
        l.delegate_cookie
            .split("acme.")
            .nth(1)
            .unwrap()
            .chars()
            .take(43)
            .collect(),
    );
    assert!(tokens.len() >= 5, "{tokens:?}");
    for tok in &tokens {
        assert_eq!(tok.len(), 43, "{tok}");
        assert_eq!(w.keys_holding(tok), Vec::<String>::new(), "token {tok}");
    }
    // The scan itself works: a value we know is there is found.
    assert!(!w.keys_holding("cara@shop.test").is_empty());
    // The outbox still shows working links to admins.
    assert_eq!(
        call(&w.host, "GET", &l.participant_link, &[], None).status,
        200
    );
}
