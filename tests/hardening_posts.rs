//! Posts on the open internet (issue 16, items 5 and 14) through the host:
//! a body that renders too large to store is a 400 before anything is
//! written (no gap in the message numbers, no files left behind); paging
//! across a message number taken but never written always advances; work
//! after a written post never turns it into a 5xx or frees its
//! Idempotency-Key.

use serde_json::{Value, json};

use testkit::fixtures::{Collab, share, share_link};
use testkit::{World, json_of};

/// The example: within the 50 KB input limit, but renders (nested
/// quotes) to more than a message may take.
fn too_large_body() -> String {
    ">".repeat(39_000)
}

/// Replace the value of an existing key of the world's SQLite store: the
/// host is stopped (SIGKILL), the row updated with Python's sqlite3, and
/// the host started again on the same store.
fn set_raw(w: &mut World, key: &str, value: &[u8]) {
    w.host.kill_now();
    let db = w.state_dir().join("sqlite_key_value.db");
    let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nn=c.execute('update spin_key_value set value=? where key=?', (bytes.fromhex(sys.argv[3]), sys.argv[2])).rowcount\nc.commit()\nprint(n)",
        ])
        .arg(&db)
        .arg(key)
        .arg(&hex)
        .output()
        .expect("python3 with sqlite3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "{key} updated: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.restart_after_kill();
}

/// A page of ticket `t`'s thread as staff, oldest first.
fn thread_page(w: &World, t: u64, cursor: Option<u64>) -> Value {
    let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
    let r = w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100{q}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)
}

/// Every message number a reader following cursors gets; panics when a
/// cursor does not advance past the one given.
fn follow(w: &World, t: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = thread_page(w, t, cursor);
        seqs.extend(
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_u64() {
            None => return seqs,
            Some(next) => {
                assert!(
                    cursor.is_none_or(|c| next > c),
                    "cursor {cursor:?} answered with next_cursor {next}"
                );
                cursor = Some(next);
            }
        }
    }
    panic!("following cursors did not end: {seqs:?}");
}

fn reply(w: &World, t: u64, body: &str) -> testkit::Resp {
    w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({ "body": body })),
    )
}

#[test]
fn a_post_too_large_once_rendered_is_a_400_naming_the_limit_and_leaves_no_gap() {
    a_post_too_large_once_rendered_is_a_400_naming_the_limit_and_leaves_no_gap_on(false);
}

#[test]
fn a_post_too_large_once_rendered_is_a_400_naming_the_limit_and_leaves_no_gap_on_redis() {
    a_post_too_large_once_rendered_is_a_400_naming_the_limit_and_leaves_no_gap_on(true);
}

fn a_post_too_large_once_rendered_is_a_400_naming_the_limit_and_leaves_no_gap_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Quoting");
    let body = too_large_body();
    assert!(body.len() < 50_000, "within the input limit");
    for who in [&w.staff, &w.cust_a] {
        let r = w.as_(
            Some(who),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({ "body": body })),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        let e = json_of(&r)["error"].clone();
        assert_eq!(e["code"], "message_too_large", "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("240 KiB"),
            "names the limit: {e}"
        );
    }
    // A new ticket with such a first message is refused the same way and
    // takes no ticket number.
    let r = w.as_(
        Some(&w.cust_a),
        "POST",
        "/api/v1/tickets",
        Some(json!({"subject": "Big", "body": body})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(json_of(&r)["error"]["code"], "message_too_large");
    assert_eq!(w.ticket(&w.cust_a, "Next"), t + 1, "no ticket number taken");
    // Nothing was written: the next post takes the next number, and a
    // reader following cursors reads the thread to its end.
    let ok = reply(&w, t, "a normal reply");
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(json_of(&ok)["message"]["seq"], 2, "no number taken");
    assert_eq!(follow(&w, t), vec![1, 2]);
}

#[test]
fn paging_advances_across_a_number_taken_but_never_written() {
    let mut w = World::build_full(false, &[], &["--allow-clock-shift"]);
    let t = w.ticket(&w.cust_a, "Gap");
    assert_eq!(reply(&w, t, "two").status, 201);
    // A post that took number 3 and died before writing it (a crash, or a
    // write the store refused): the counter is at 3, message 3 is absent.
    set_raw(
        &mut w,
        &format!("ws/acme/t/{t:012}/msg-counter"),
        &3i64.to_le_bytes(),
    );
    let four = reply(&w, t, "four");
    assert_eq!(four.status, 201, "{}", four.text());
    assert_eq!(json_of(&four)["message"]["seq"], 4);
    // While the gap is young, readers stop before it (a post may still be
    // being written) but never get the cursor they gave back.
    let at_gap = thread_page(&w, t, Some(2));
    assert_eq!(at_gap["messages"], json!([]));
    assert_eq!(at_gap["next_cursor"], Value::Null, "{at_gap}");
    assert_eq!(follow(&w, t), vec![1, 2]);
    // Once the gap is old, the same cursor steps over it.
    w.shift_clock(11);
    let later = thread_page(&w, t, Some(2));
    assert_eq!(later["messages"][0]["seq"], 4, "{later}");
    assert_eq!(follow(&w, t), vec![1, 2, 4]);
}

#[test]
fn a_refused_share_reply_leaves_no_files_behind() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Parcel");
    share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Parcel?"}),
    );
    let link = share_link(&w, "dock@carrier.test");
    let mut c = Collab::new(&w, &link);
    assert_eq!(c.get().status, 200);
    c.verify("dock@carrier.test");
    let r = c.reply(&too_large_body(), &[("proof.txt", b"refused file")]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("240 KiB"), "{}", r.text());
    let ok = c.reply("Found it", &[("kept.txt", b"kept file")]);
    assert_eq!(ok.status, 303, "{}", ok.text());
    let chunks: Vec<String> = w
        .store_rows()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.contains("/att/"))
        .collect();
    assert_eq!(
        chunks.len(),
        1,
        "only the posted file is stored: {chunks:?}"
    );
}

#[test]
fn work_after_a_written_post_failing_never_makes_it_a_5xx_or_a_double_post() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Copies");
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"participants_enabled": true, "copy_participants": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants"),
        Some(json!({"email": "pat@guest.test"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Copying participants after the post now fails (its record cannot be
    // read), as a store failure after the write would.
    set_raw(
        &mut w,
        &format!("ws/acme/t/{t:012}/participants"),
        b"not a record",
    );
    let b = w.bearer();
    let post = || {
        testkit::request(
            &w.host.addr,
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            &[
                ("Authorization", b.as_str()),
                ("Ticketshare-Act-As", w.staff.as_str()),
                ("Idempotency-Key", "reply-once-1"),
                ("Content-Type", "application/json"),
            ],
            json!({"body": "posted once"}).to_string().as_bytes(),
        )
    };
    let first = post();
    assert_eq!(first.status, 201, "the post is written: {}", first.text());
    assert_eq!(json_of(&first)["message"]["seq"], 2);
    // The client's retry replays the answer; it does not post again.
    let retry = post();
    assert_eq!(retry.status, 201, "{}", retry.text());
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let sources: Vec<String> = thread_page(&w, t, None)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources, vec!["first message", "posted once"]);
    assert!(
        w.host.stderr().contains("copying participants failed"),
        "the failure is logged: {}",
        w.host.stderr()
    );
}

#[test]
fn an_email_too_large_once_rendered_waits_for_staff_instead_of_failing() {
    an_email_too_large_once_rendered_waits_for_staff_instead_of_failing_on(false);
}

#[test]
fn an_email_too_large_once_rendered_waits_for_staff_instead_of_failing_on_redis() {
    an_email_too_large_once_rendered_waits_for_staff_instead_of_failing_on(true);
}

fn an_email_too_large_once_rendered_waits_for_staff_instead_of_failing_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Links");
    let (_, auth) = testkit::fixtures::postmark_url_parts(&w);
    let to = testkit::fixtures::reply_address(&w, t);
    // 49 KB of links: within the text limit, far over a message once
    // formatted.
    let text = "<http://a.test> ".repeat(3_000);
    let r = testkit::fixtures::pm(
        &w,
        &auth,
        "cara@shop.test",
        &to,
        "big@shop.test",
        &text,
        json!([]),
    );
    assert_eq!(r.status, 202, "held, not lost: {}", r.text());
    let reason = json_of(&r)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("240 KiB"), "{reason}");
    assert_eq!(follow(&w, t), vec![1], "nothing posted");
    let held = json_of(&w.as_(Some(&w.staff), "GET", "/api/v1/quarantine", None));
    let n = held["held"][0]["n"].as_u64().unwrap();
    let approve = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/quarantine/{n}/approve"),
        None,
    );
    assert_eq!(approve.status, 409, "{}", approve.text());
    assert!(approve.text().contains("240 KiB"), "{}", approve.text());
    assert_eq!(follow(&w, t), vec![1]);
}

/// The largest messages a customer may post, a full page of them at once
/// (the console reads 100): the page loads. (With messages up to the
/// store's 1 MiB, this read ran the component out of memory: a 500 any
/// customer could cause on their own ticket.)
#[test]
fn a_full_page_of_the_largest_messages_still_loads() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Big thread");
    let post = |body: &str| {
        w.as_(
            Some(&w.cust_a),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({ "body": body })),
        )
    };
    // The largest body of links that is still accepted.
    let mut k = 3_000;
    let body = loop {
        let body = "<http://a.test> ".repeat(k);
        let r = post(&body);
        if r.status == 201 {
            break body;
        }
        assert_eq!(r.status, 400, "{}", r.text());
        k -= 50;
    };
    for _ in 0..99 {
        assert_eq!(post(&body).status, 201);
    }
    let r = w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100&order=newest"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["messages"].as_array().unwrap().len(), 100);
}

#[test]
fn a_participant_reply_too_large_once_rendered_is_a_400_page_and_posts_nothing() {
    a_participant_reply_too_large_once_rendered_is_a_400_page_and_posts_nothing_on(false);
}

#[test]
fn a_participant_reply_too_large_once_rendered_is_a_400_page_and_posts_nothing_on_redis() {
    a_participant_reply_too_large_once_rendered_is_a_400_page_and_posts_nothing_on(true);
}

fn a_participant_reply_too_large_once_rendered_is_a_400_page_and_posts_nothing_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Guests");
    testkit::fixtures::enable_participants(&w, false);
    let link = testkit::fixtures::add_participant(&w, t, "guest@outside.test");
    let form = format!("body={}", "%3E".repeat(39_000));
    let r = testkit::request(
        &w.host.addr,
        "POST",
        &link,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("240 KiB"), "the page names the limit");
    assert_eq!(follow(&w, t), vec![1], "nothing posted");
}
