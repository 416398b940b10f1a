//! Replies with files (issue 19) through the host: `POST
//! /api/v1/tickets/<no>/replies` as `multipart/form-data` from staff (an
//! internal note) and from a customer's browser session (a public reply),
//! who may download each file, files and forms refused with a JSON error
//! and nothing written, one message per Idempotency-Key, and the form
//! refused when another site posts it with the session cookie.

use serde_json::Value;

use testkit::fixtures::{add_participant, enable_participants, login_session};
use testkit::seed::multipart;
use testkit::{Resp, World, json_of, request, request_exact};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000IHDR-a-picture";

/// `POST /api/v1/tickets/<t>/replies` with this form body, the API key
/// acting as `user`, and more headers.
fn post(w: &World, t: u64, user: &str, ct: &str, body: &[u8], more: &[(&str, &str)]) -> Resp {
    let bearer = w.bearer();
    let mut h = vec![
        ("Authorization", bearer.as_str()),
        ("Ticketshare-Act-As", user),
        ("Content-Type", ct),
    ];
    h.extend_from_slice(more);
    request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        &h,
        body,
    )
}

/// A reply form with `fields` and `files` as `user`.
fn reply(w: &World, t: u64, user: &str, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Resp {
    let (ct, b) = multipart(fields, files);
    post(w, t, user, &ct, &b, &[])
}

/// File `id` of message `seq` of ticket `t`, downloaded as `user`.
fn download(w: &World, t: u64, user: &str, seq: &Value, id: &Value) -> Resp {
    w.as_(
        Some(user),
        "GET",
        &format!(
            "/api/v1/tickets/{t}/messages/{seq}/attachments/{}",
            id.as_str().unwrap()
        ),
        None,
    )
}

fn thread(w: &World, t: u64) -> Vec<Value> {
    let r = w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100"),
        None,
    );
    json_of(&r)["messages"].as_array().unwrap().clone()
}

fn error_code(r: &Resp) -> String {
    json_of(r)["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn staff_and_customers_reply_with_files() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Broken lamp");
    enable_participants(&w, true);
    add_participant(&w, t, "guest@outside.test");
    // Staff: an internal note with a picture, for staff only.
    let r = reply(
        &w,
        t,
        &w.staff,
        &[("body", "Depot photo"), ("visibility", "internal")],
        &[("depot.png", PNG)],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let note = json_of(&r)["message"].clone();
    assert_eq!(note["visibility"], "internal");
    assert_eq!(note["attachments"][0]["content_type"], "image/png");
    let (seq, id) = (&note["seq"], &note["attachments"][0]["id"]);
    let got = download(&w, t, &w.staff, seq, id);
    assert_eq!((got.status, &got.body[..]), (200, PNG));
    assert_eq!(download(&w, t, &w.cust_a, seq, id).status, 404);

    // The customer, from her browser: a public reply with a receipt.
    let cookie = login_session(&w, &w.cust_a);
    let (ct, b) = multipart(
        &[("body", "Receipt attached")],
        &[("receipt.pdf", b"%PDF-1.4 receipt")],
    );
    let r = request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        &[
            ("Cookie", &cookie),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", &ct),
        ],
        &b,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let m = json_of(&r)["message"].clone();
    assert_eq!(
        (&m["visibility"], &m["author"]["kind"]),
        (&Value::from("public"), &Value::from("customer"))
    );
    let (seq, id) = (&m["seq"], &m["attachments"][0]["id"]);
    let got = download(&w, t, &w.staff, seq, id);
    assert_eq!(
        (got.status, &got.body[..], got.header("content-type")),
        (200, &b"%PDF-1.4 receipt"[..], Some("application/pdf"))
    );
    assert_eq!(
        download(&w, t, &w.cust_b, seq, id).status,
        200,
        "her company's"
    );
    assert_eq!(download(&w, t, &w.outsider, seq, id).status, 404);
    // The participant's copy says a file came with it (the note sent none).
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    let copies: Vec<&str> = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "guest@outside.test")
        .filter_map(|e| e["text"].as_str())
        .filter(|t| t.contains("replied"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(
        copies[0].contains("cara replied with 1 file attached on ticket"),
        "{}",
        copies[0]
    );
    // She downloads it with her session too.
    let own = request(
        &w.host.addr,
        "GET",
        &format!(
            "/api/v1/tickets/{t}/messages/{seq}/attachments/{}",
            id.as_str().unwrap()
        ),
        &[("Cookie", &cookie)],
        b"",
    );
    assert_eq!(own.status, 200);
}

#[test]
fn bad_files_and_forms_are_refused_with_json_and_write_nothing() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Refusals");
    let files_before = w
        .store_rows()
        .iter()
        .filter(|(k, _)| k.contains("/att/"))
        .count();
    let messages_before = thread(&w, t).len();
    let six: Vec<(String, Vec<u8>)> = (0..6).map(|i| (format!("{i}.txt"), vec![b'x'])).collect();
    let six: Vec<(&str, &[u8])> = six.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let (ct, ok) = multipart(&[("body", "hello")], &[("a.txt", b"x")]);
    let u = w.cust_a.clone();
    let cases: Vec<(&str, Resp, u16, &str)> = vec![
        (
            "a program",
            reply(
                &w,
                t,
                &u,
                &[("body", "x")],
                &[("setup.exe", b"MZ\x90\x00\x03")],
            ),
            400,
            "unsupported_file_type",
        ),
        (
            "too many files",
            reply(&w, t, &u, &[("body", "x")], &six),
            400,
            "too_many_files",
        ),
        (
            "a file too large",
            reply(&w, t, &u, &[("body", "x")], &[("big.txt", &big)]),
            400,
            "file_too_large",
        ),
        (
            "a form larger than any message's files",
            post(&w, t, &u, &ct, &vec![b'a'; 13 * 1024 * 1024], &[]),
            413,
            "payload_too_large",
        ),
        (
            "no boundary",
            post(&w, t, &u, "multipart/form-data", &ok, &[]),
            400,
            "invalid_form",
        ),
        (
            "a wrong boundary",
            post(&w, t, &u, "multipart/form-data; boundary=nope", &ok, &[]),
            400,
            "invalid_form",
        ),
        (
            "cut short",
            post(&w, t, &u, &ct, &ok[..ok.len() - 30], &[]),
            400,
            "invalid_form",
        ),
        (
            "an unknown field",
            reply(&w, t, &u, &[("body", "x"), ("cc", "all")], &[]),
            400,
            "unknown_field",
        ),
        (
            "a customer's internal note",
            reply(
                &w,
                t,
                &u,
                &[("body", "x"), ("visibility", "internal")],
                &[("a.txt", b"x")],
            ),
            403,
            "forbidden",
        ),
    ];
    for (what, r, status, code) in cases {
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(error_code(&r), code, "{what}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    }
    assert_eq!(thread(&w, t).len(), messages_before, "nothing posted");
    let files_after = w
        .store_rows()
        .iter()
        .filter(|(k, _)| k.contains("/att/"))
        .count();
    assert_eq!(files_after, files_before, "no file kept");
}

#[test]
fn one_idempotency_key_posts_one_message_with_its_files() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Twice");
    let (ct, b) = multipart(&[("body", "Sent twice")], &[("proof.txt", b"proof")]);
    let key = [("Idempotency-Key", "form-retry-1")];
    let first = post(&w, t, &w.cust_a, &ct, &b, &key);
    let again = post(&w, t, &w.cust_a, &ct, &b, &key);
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(json_of(&first)["message"], json_of(&again)["message"]);
    let posted = thread(&w, t)
        .into_iter()
        .filter(|m| m["source"] == "Sent twice")
        .count();
    assert_eq!(posted, 1);
    // Sent again as curl -F or a browser would, under a new boundary: the
    // same request, replayed.
    let b2 = String::from_utf8(b.clone())
        .unwrap()
        .replace("----tsBoundary7MA4YWxk", "curlBoundary0123");
    let ct2 = ct.replace("----tsBoundary7MA4YWxk", "curlBoundary0123");
    let third = post(&w, t, &w.cust_a, &ct2, b2.as_bytes(), &key);
    assert_eq!(third.status, 201, "{}", third.text());
    assert_eq!(json_of(&third)["message"], json_of(&first)["message"]);
    // The same key with another form is refused.
    let (ct2, b2) = multipart(&[("body", "Something else")], &[]);
    let other = post(&w, t, &w.cust_a, &ct2, &b2, &key);
    assert_eq!(other.status, 422, "{}", other.text());
}

#[test]
fn a_form_posted_from_another_site_with_the_session_cookie_is_refused() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Forged");
    let cookie = login_session(&w, &w.cust_a);
    let (ct, b) = multipart(&[("body", "forged reply")], &[("a.txt", b"x")]);
    let path = format!("/api/v1/tickets/{t}/replies");
    // What a form on another site makes the browser send (a "simple"
    // request: no preflight), with and without Sec-Fetch-Site.
    for extra in [
        vec![
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        vec![("Origin", "https://evil.example")],
        vec![("Sec-Fetch-Site", "same-site")],
        vec![("Origin", "null")],
        vec![],
    ] {
        let mut h = vec![("Cookie", cookie.as_str()), ("Content-Type", ct.as_str())];
        h.extend(extra.iter().copied());
        let r = request_exact(&w.host.addr, "POST", &path, &h, &b);
        assert_eq!(r.status, 403, "{extra:?}: {}", r.text());
        assert_eq!(error_code(&r), "cross_site_request", "{extra:?}");
    }
    assert!(
        thread(&w, t).iter().all(|m| m["source"] != "forged reply"),
        "nothing posted"
    );
}
