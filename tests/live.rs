//! A console that feels live, through the host (issue 19): the tagged
//! answers (`ETag`, `Cache-Control: private, no-cache`, `304` on a matching
//! `If-None-Match`) of the thread, the ticket, the ticket lists and the
//! inbox; presence between two staff signed in with sessions; and hostile
//! requests to both (garbage and huge `If-None-Match`, presence spam from
//! one user, malformed, oversized, slow and cross-site presence posts,
//! customers asking for presence).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use testkit::fixtures::{accept, invite_path, login_session, staff_user};
use testkit::raw::{read_until_closed, status_of};
use testkit::{Resp, World, json_of, request};

/// `GET path` as `user` (through the API key), with `If-None-Match: tag`.
fn get(w: &World, user: &str, path: &str, tag: Option<&str>) -> Resp {
    let b = w.bearer();
    let mut h = vec![("Authorization", b.as_str()), ("Ticketshare-Act-As", user)];
    if let Some(t) = tag {
        h.push(("If-None-Match", t));
    }
    request(&w.host.addr, "GET", path, &h, b"")
}

/// The answer's tag, checked: 200, strong and quoted, revalidated.
fn tag_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    let tag = r.header("etag").expect("an etag").to_string();
    assert!(tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'));
    tag
}

fn not_modified(r: &Resp, tag: &str) {
    assert_eq!(r.status, 304, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    assert_eq!(r.header("etag"), Some(tag));
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
}

fn reply(w: &World, user: &str, t: u64, text: &str) {
    let r = w.as_(
        Some(user),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({ "body": text })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn every_tagged_answer_round_trips_and_changes_with_a_reply() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Live");
    let thread = format!("/api/v1/tickets/{t}/thread");
    let ticket = format!("/api/v1/tickets/{t}");
    let cases = [
        (&w.staff, thread.clone()),
        (&w.cust_a, thread.clone()),
        (&w.staff, ticket.clone()),
        (&w.cust_a, ticket),
        (&w.staff, "/api/v1/inbox?view=pending".to_string()),
        (&w.staff, "/api/v1/tickets".to_string()),
        (&w.cust_a, "/api/v1/tickets".to_string()),
        (&w.cust_b, "/api/v1/tickets?scope=company".to_string()),
    ];
    let tags: Vec<String> = cases
        .iter()
        .map(|(who, path)| {
            let tag = tag_of(&get(&w, who, path, None));
            not_modified(&get(&w, who, path, Some(&tag)), &tag);
            not_modified(&get(&w, who, path, Some(&format!("\"x\", W/{tag}"))), &tag);
            tag
        })
        .collect();
    reply(&w, &w.cust_a, t, "Is it live?");
    for ((who, path), old) in cases.iter().zip(&tags) {
        let r = get(&w, who, path, Some(old));
        let new = tag_of(&r);
        assert_ne!(&new, old, "{path}");
        not_modified(&get(&w, who, path, Some(&new)), &new);
    }
    let r = get(&w, &w.cust_a, &thread, None);
    assert!(r.text().contains("Is it live?"));
}

#[test]
fn a_colleagues_accept_leaves_pending_on_the_other_staffs_next_poll() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Whose?");
    let sue = staff_user(&w, "sue@acme.test", &["support"]);
    let pending = "/api/v1/inbox?view=pending";
    let mut tags: Vec<(String, String)> = Vec::new();
    for who in [&w.staff, &sue] {
        let r = get(&w, who, pending, None);
        assert!(
            r.text().contains(&format!("\"number\":{t}")),
            "{}",
            r.text()
        );
        tags.push((who.clone(), tag_of(&r)));
    }
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/accept"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (who, tag) in &tags {
        let r = get(&w, who, pending, Some(tag));
        assert_eq!(r.status, 200, "the accept shows on the next poll");
        assert_eq!(json_of(&r)["tickets"], json!([]));
        assert_eq!(json_of(&r)["counts"]["pending"], 0);
    }
}

#[test]
fn a_delegates_list_changes_when_they_accept_and_when_they_are_revoked() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Shared");
    let list = "/api/v1/tickets?scope=delegated";
    let before = tag_of(&get(&w, &w.outsider, list, None));
    not_modified(&get(&w, &w.outsider, list, Some(&before)), &before);
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates"),
        Some(json!({"email": "oz@else.test"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (r, _) = accept(&w, &invite_path(&w, "oz@else.test"));
    assert!(r.status < 400, "{}", r.text());
    let r = get(&w, &w.outsider, list, Some(&before));
    assert_eq!(json_of(&r)["tickets"][0]["number"], t);
    let shared = tag_of(&r);
    not_modified(&get(&w, &w.outsider, list, Some(&shared)), &shared);
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates/{}/revoke", w.outsider),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&w, &w.outsider, list, Some(&shared));
    assert_eq!(json_of(&r)["tickets"], json!([]));
}

/// Presence for a ticket, as the browser of session `cookie` asks for it.
fn presence(w: &World, cookie: &str, t: u64, method: &str, body: &[u8]) -> Resp {
    let mut h = vec![("Cookie", cookie), ("Sec-Fetch-Site", "same-origin")];
    if !body.is_empty() {
        h.push(("Content-Type", "application/json"));
    }
    request(
        &w.host.addr,
        method,
        &format!("/api/v1/tickets/{t}/presence"),
        &h,
        body,
    )
}

fn viewers(r: &Resp) -> Vec<(String, bool)> {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(r)["ttl_seconds"], 30);
    json_of(r)["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v["seen_at"].as_str().is_some_and(|s| s.ends_with('Z')));
            (
                v["name"].as_str().unwrap().to_string(),
                v["composing"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn two_staff_see_each_other_and_customers_are_refused() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Together");
    let sue = staff_user(&w, "sue@acme.test", &[]);
    let (sam_s, sue_s) = (login_session(&w, &w.staff), login_session(&w, &sue));
    assert_eq!(viewers(&presence(&w, &sam_s, t, "POST", b"")), []);
    let r = presence(&w, &sue_s, t, "POST", br#"{"composing":true}"#);
    assert_eq!(viewers(&r), [("sam".to_string(), false)]);
    let r = presence(&w, &sam_s, t, "GET", b"");
    assert_eq!(viewers(&r), [("sue".to_string(), true)]);
    assert_eq!(
        json_of(&r)["viewers"][0]["user_id"],
        json!(sue),
        "{}",
        r.text()
    );
    // Not on another ticket.
    let other = w.ticket(&w.cust_b, "Elsewhere");
    assert_eq!(viewers(&presence(&w, &sam_s, other, "GET", b"")), []);
    // A customer, signed in or through the API: 403 with a JSON error.
    let cara = login_session(&w, &w.cust_a);
    for r in [
        presence(&w, &cara, t, "POST", b""),
        presence(&w, &cara, t, "GET", b""),
        w.as_(
            Some(&w.cust_a),
            "POST",
            &format!("/api/v1/tickets/{t}/presence"),
            None,
        ),
    ] {
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(json_of(&r)["error"]["code"], "forbidden");
    }
    // Another workspace's key: the ticket does not exist there.
    let other_key = format!("Bearer {}", w.other_key);
    let r = request(
        &w.host.addr,
        "GET",
        &format!("/api/v1/tickets/{t}/presence"),
        &[("Authorization", &other_key)],
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // From another site with the session cookie: refused before anything.
    let r = request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{t}/presence"),
        &[("Cookie", &sam_s), ("Origin", "https://evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(json_of(&r)["error"]["code"], "cross_site_request");
}

#[test]
fn malformed_and_oversized_presence_posts_are_json_400s() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Bad bodies");
    let sam = login_session(&w, &w.staff);
    let huge = format!("{{\"composing\":\"{}\"}}", "x".repeat(4_000));
    let cases: [(&[u8], u16, &str); 7] = [
        (b"{\"composing\":", 400, "invalid_json"),
        (b"not json", 400, "invalid_json"),
        (b"[true]", 400, "invalid_json"),
        (b"{\"composing\":\"yes\"}", 400, "invalid_field"),
        (
            b"{\"composing\":true,\"as\":\"admin\"}",
            400,
            "unknown_field",
        ),
        (b"{\"composing\":null}", 400, "invalid_field"),
        (huge.as_bytes(), 413, "payload_too_large"),
    ];
    for (body, status, code) in cases {
        let r = presence(&w, &sam, t, "POST", body);
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(body));
        assert_eq!(json_of(&r)["error"]["code"], code, "{}", r.text());
    }
    let r = request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{t}/presence"),
        &[
            ("Cookie", &sam),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", "text/plain"),
        ],
        b"composing",
    );
    assert_eq!(r.status, 415);
    assert_eq!(json_of(&r)["error"]["code"], "unsupported_media_type");
    // Nothing of it was recorded.
    let sue = staff_user(&w, "sue@acme.test", &[]);
    assert_eq!(
        viewers(&get(
            &w,
            &sue,
            &format!("/api/v1/tickets/{t}/presence"),
            None
        )),
        []
    );
}

/// The stored version of a ticket's presence record: how many writes it took.
fn presence_writes(w: &mut World) -> u64 {
    let rows = w.store_rows();
    rows.iter()
        .find(|(k, _)| k.ends_with("/presence"))
        .and_then(|(_, v)| serde_json::from_slice::<Value>(v).ok())
        .and_then(|v| v["version"].as_u64())
        .unwrap_or(0)
}

#[test]
fn presence_spam_from_one_user_is_answered_and_barely_written() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Spam");
    let sam = login_session(&w, &w.staff);
    let started = Instant::now();
    // 200 posts, 8 at a time, composing unchanged.
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (w, sam) = (&w, &sam);
            s.spawn(move || {
                for _ in 0..25 {
                    let r = presence(w, sam, t, "POST", br#"{"composing":false}"#);
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            });
        }
    });
    let windows = started.elapsed().as_secs() / 5 + 1;
    let writes = presence_writes(&mut w);
    assert!(
        (1..=windows + 1).contains(&writes),
        "{writes} writes in {:?}",
        started.elapsed()
    );
    eprintln!(
        "live: 200 presence posts in {:.1} s took {writes} writes",
        started.elapsed().as_secs_f64()
    );
    // One entry for the one user, seen by someone else.
    let sue = staff_user(&w, "sue@acme.test", &[]);
    let r = get(&w, &sue, &format!("/api/v1/tickets/{t}/presence"), None);
    assert_eq!(viewers(&r), [("sam".to_string(), false)]);
}

#[test]
fn garbage_and_huge_if_none_match_never_break_an_answer() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Tags");
    let path = format!("/api/v1/tickets/{t}/thread");
    let tag = tag_of(&get(&w, &w.staff, &path, None));
    let long = |n: usize| format!("{tag}, {}", "\"0123456789abcdef\", ".repeat(n));
    let cases = [
        "garbage".to_string(),
        "\"unterminated".to_string(),
        "W/".to_string(),
        format!("{tag}junk"),
        format!("\"a\" b {tag}"),
        ",,,,".to_string(),
        long(500),   // about 10 KiB: past what is looked at
        long(3_000), // about 60 KiB
    ];
    for header in &cases {
        let r = get(&w, &w.staff, &path, Some(header));
        // The host may refuse a head that large; never a 5xx.
        assert!(
            r.status == 200 || r.status == 400 || r.status == 431,
            "{} for {} bytes",
            r.status,
            header.len()
        );
        if r.status == 200 {
            assert_eq!(r.header("etag"), Some(tag.as_str()));
        }
    }
    // Bytes that are not printable ASCII: the host refuses the head (400).
    let mut raw = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTicketshare-Act-As: {}\r\nIf-None-Match: \"",
        w.bearer(),
        w.staff
    )
    .into_bytes();
    raw.extend_from_slice(b"\xff\xfe\"\r\nConnection: close\r\n\r\n");
    let mut s = TcpStream::connect(&w.host.addr).unwrap();
    s.write_all(&raw).unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(10));
    let status = status_of(&answer).unwrap_or(0);
    assert!((400..500).contains(&status), "{status}");
    // The host still serves, and the tag still matches.
    not_modified(&get(&w, &w.staff, &path, Some(&tag)), &tag);
    assert!(!w.host.stderr().contains("error in component"));
}

#[test]
fn a_slow_presence_post_times_out_and_holds_nothing_up() {
    let w = World::build_full(false, &[], &["--request-timeout", "2"]);
    let t = w.ticket(&w.cust_a, "Slow");
    let sam = login_session(&w, &w.staff);
    let head = format!(
        "POST /api/v1/tickets/{t}/presence HTTP/1.1\r\nHost: x\r\nCookie: {sam}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{{\"comp"
    );
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&w.host.addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    // Meanwhile presence is answered at once.
    let t0 = Instant::now();
    assert_eq!(presence(&w, &sam, t, "POST", b"").status, 200);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    for s in &mut slow {
        let (answer, _) = read_until_closed(s, Duration::from_secs(6));
        assert_eq!(
            status_of(&answer),
            Some(408),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}
