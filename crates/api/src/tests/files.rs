//! Replies with files: `POST /api/v1/tickets/<no>/replies` as
//! `multipart/form-data` (the text fields of the JSON body, files under
//! `files`) by staff and customers, read by the JSON body's rules and the
//! share page's file rules; what each reader may download; refusals that
//! write nothing; a retry whose first attempt's answer was lost.

use super::prelude::*;
use domain::store::{Fault, Faulty, MemKv, Op};
use testkit::seed::multipart;

const NOW: Millis = 1_800_000_000_000;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000IHDR-a-picture";

/// Workspace `acme` with staff, customer `cus` (company Shop) and her
/// ticket 1, a colleague `col` of the same company and an outsider.
struct World {
    kv: Faulty<MemKv>,
    n: u64,
    bearer: String,
    staff: String,
    cus: String,
    col: String,
    outsider: String,
}

impl World {
    fn new() -> Self {
        Self::with_faults(|_, _, _| Fault::Pass)
    }

    /// The world on a store that faults by `rule` once armed.
    fn with_faults(rule: fn(&dyn Kv, &str, Op<'_>) -> Fault) -> Self {
        let kv = Faulty::new(MemKv::new(), rule);
        kv.arm(false);
        let mut w = World {
            kv,
            n: 0,
            bearer: String::new(),
            staff: String::new(),
            cus: String::new(),
            col: String::new(),
            outsider: String::new(),
        };
        let made = w.send(
            handle_tickets,
            json_request(
                "POST",
                "/api/v1/workspaces",
                &[("authorization", &format!("Bearer {ADMIN}"))],
                r#"{"id":"acme","name":"Acme"}"#,
            ),
        );
        w.bearer = format!("Bearer {}", body(&made)["secret"].as_str().unwrap());
        let user = |w: &mut World, email: &str, role: &str, company: Option<&str>| {
            let b = json!({"email": email, "name": email, "role": role, "company": company});
            let r = w.api(None, "PUT", "/api/v1/users", &b.to_string());
            assert_eq!(r.status, 201, "{}", text(&r));
            body(&r)["user"]["id"].as_str().unwrap().to_string()
        };
        w.staff = user(&mut w, "sam@acme.test", "staff", None);
        w.cus = user(&mut w, "cus@shop.test", "customer", Some("Shop"));
        w.col = user(&mut w, "col@shop.test", "customer", Some("Shop"));
        w.outsider = user(&mut w, "oz@else.test", "customer", None);
        let cus = w.cus.clone();
        let t = w.api(
            Some(&cus),
            "POST",
            "/api/v1/tickets",
            r#"{"subject":"Broken lamp","body":"It arrived broken"}"#,
        );
        assert_eq!(t.status, 201, "{}", text(&t));
        w.kv.arm(true);
        w
    }

    fn send(&mut self, f: fn(&mut Env, &Request) -> Response, req: Request) -> Response {
        let mut n = self.n;
        let mut random = || {
            n += 1;
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&n.to_le_bytes());
            b[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            b
        };
        let after = domain::after::Effects::default();
        let mut env = env(&self.kv, NOW, &mut random, &after);
        let r = f(&mut env, &req);
        self.n = n;
        r
    }

    /// A JSON call with the API key, acting as `user` when given.
    fn api(&mut self, user: Option<&str>, method: &str, path: &str, body: &str) -> Response {
        let bearer = self.bearer.clone();
        let mut h = vec![("authorization", bearer.as_str())];
        if let Some(u) = user {
            h.push(("ticketshare-act-as", u));
        }
        let req = if body.is_empty() {
            request(method, path, &h, "")
        } else {
            json_request(method, path, &h, body)
        };
        self.send(handle_tickets, req)
    }

    /// `POST /api/v1/tickets/1/replies` as `user` with this content type
    /// and body (and more headers).
    fn post(&mut self, user: &str, ctype: &str, body: Vec<u8>, more: &[(&str, &str)]) -> Response {
        let bearer = self.bearer.clone();
        let mut h = vec![
            ("authorization", bearer.as_str()),
            ("ticketshare-act-as", user),
            ("content-type", ctype),
        ];
        h.extend_from_slice(more);
        let mut req = request("POST", "/api/v1/tickets/1/replies", &h, "");
        req.body = body;
        self.send(handle_replies, req)
    }

    /// A reply with files, as a browser's form sends it.
    fn reply(&mut self, user: &str, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Response {
        let (ct, b) = multipart(fields, files);
        self.post(user, &ct, b, &[])
    }

    /// Download file `id` of message `seq` of ticket 1 as `user`.
    fn download(&mut self, user: &str, seq: u64, id: &str) -> Response {
        let path = format!("/api/v1/tickets/1/messages/{seq}/attachments/{id}");
        self.api(Some(user), "GET", &path, "")
    }

    fn thread(&mut self, user: &str) -> Vec<Value> {
        let r = self.api(Some(user), "GET", "/api/v1/tickets/1/thread", "");
        assert_eq!(r.status, 200, "{}", text(&r));
        body(&r)["messages"].as_array().unwrap().clone()
    }

    /// How many file chunks and messages the store holds.
    fn stored(&self) -> (usize, usize) {
        let keys = self.kv.inner.keys_with_prefix("ws/");
        (
            keys.iter().filter(|k| k.contains("/att/")).count(),
            keys.iter().filter(|k| k.contains("/m/")).count(),
        )
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The error code of a JSON error answer.
fn code(r: &Response) -> String {
    body(r)["error"]["code"].as_str().unwrap_or("").to_string()
}

#[test]
fn staff_note_a_file_only_staff_can_download() {
    let mut w = World::new();
    let staff = w.staff.clone();
    let r = w.reply(
        &staff,
        &[("body", "Photo from the depot"), ("visibility", "internal")],
        &[("depot.png", PNG)],
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let m = &body(&r)["message"];
    assert_eq!(m["visibility"], "internal");
    let a = &m["attachments"][0];
    assert_eq!(
        (&a["name"], &a["content_type"], &a["size"]),
        (&json!("depot.png"), &json!("image/png"), &json!(PNG.len()))
    );
    let (seq, id) = (m["seq"].as_u64().unwrap(), a["id"].as_str().unwrap());
    let got = w.download(&staff, seq, id);
    assert_eq!((got.status, &got.body[..]), (200, PNG));
    let cus = w.cus.clone();
    assert_eq!(w.download(&cus, seq, id).status, 404, "a note is staff's");
    assert!(
        w.thread(&cus).iter().all(|m| m["seq"] != seq),
        "nor is it listed"
    );
}

#[test]
fn a_customer_file_reaches_staff_and_the_company_but_no_one_else() {
    let mut w = World::new();
    let cus = w.cus.clone();
    // The default visibility is public, as in JSON.
    let r = w.reply(
        &cus,
        &[("body", "Here is the **receipt**")],
        &[
            ("receipt.pdf", b"%PDF-1.4 receipt"),
            ("notes.csv", b"a,b\n1,2"),
        ],
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let m = body(&r)["message"].clone();
    assert_eq!(m["visibility"], "public");
    assert_eq!(m["author"]["kind"], "customer");
    assert!(
        m["body_html"]
            .as_str()
            .unwrap()
            .contains("<strong>receipt</strong>")
    );
    let ids: Vec<String> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let seq = m["seq"].as_u64().unwrap();
    let (staff, col, outsider) = (w.staff.clone(), w.col.clone(), w.outsider.clone());
    let got = w.download(&staff, seq, &ids[0]);
    assert_eq!((got.status, &got.body[..]), (200, &b"%PDF-1.4 receipt"[..]));
    assert_eq!(
        got.headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str()),
        Some("application/pdf")
    );
    assert_eq!(w.download(&col, seq, &ids[1]).status, 200, "same company");
    assert_eq!(w.download(&outsider, seq, &ids[0]).status, 404);
    // Staff see the message with its files in the thread.
    let listed = w.thread(&staff);
    assert_eq!(
        listed.last().unwrap()["attachments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn bad_files_and_bad_forms_are_refused_with_json_and_write_nothing() {
    let mut w = World::new();
    let cus = w.cus.clone();
    let staff = w.staff.clone();
    let before = w.stored();
    let six: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("{i}.txt"), b"x".to_vec()))
        .collect();
    let six: Vec<(&str, &[u8])> = six.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let big = vec![b'a'; domain::attachments::MAX_FILE_BYTES + 1];
    let (form_ct, ok_form) = multipart(&[("body", "hi")], &[("a.txt", b"x")]);
    let cases: Vec<(&str, Response, u16, &str)> = vec![
        (
            "a program",
            w.reply(
                &cus,
                &[("body", "see")],
                &[("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00")],
            ),
            400,
            "unsupported_file_type",
        ),
        (
            "too many files",
            w.reply(&cus, &[("body", "see")], &six),
            400,
            "too_many_files",
        ),
        (
            "a file too large",
            w.reply(&cus, &[("body", "see")], &[("big.txt", &big)]),
            400,
            "file_too_large",
        ),
        (
            "an empty file",
            w.reply(&cus, &[("body", "see")], &[("empty.txt", b"")]),
            400,
            "invalid_file",
        ),
        (
            "a body larger than any form",
            w.post(
                &cus,
                &form_ct,
                vec![b'a'; crate::files::MAX_FORM_BYTES + 1],
                &[],
            ),
            413,
            "payload_too_large",
        ),
        (
            "no boundary",
            w.post(&cus, "multipart/form-data", ok_form.clone(), &[]),
            400,
            "invalid_form",
        ),
        (
            "another boundary",
            w.post(
                &cus,
                "multipart/form-data; boundary=Other",
                ok_form.clone(),
                &[],
            ),
            400,
            "invalid_form",
        ),
        (
            "cut short",
            w.post(&cus, &form_ct, ok_form[..ok_form.len() / 2].to_vec(), &[]),
            400,
            "invalid_form",
        ),
        (
            "no body field",
            w.reply(&cus, &[("visibility", "public")], &[("a.txt", b"x")]),
            400,
            "missing_field",
        ),
        (
            "an unknown field",
            w.reply(&cus, &[("body", "hi"), ("colour", "red")], &[]),
            400,
            "unknown_field",
        ),
        (
            "a field twice",
            w.reply(&cus, &[("body", "hi"), ("body", "again")], &[]),
            400,
            "invalid_field",
        ),
        (
            "no such visibility",
            w.reply(&cus, &[("body", "hi"), ("visibility", "secret")], &[]),
            400,
            "invalid_field",
        ),
        (
            "an empty body",
            w.reply(&cus, &[("body", "   ")], &[("a.txt", b"x")]),
            400,
            "invalid_field",
        ),
        (
            "a customer's internal note",
            w.reply(
                &cus,
                &[("body", "psst"), ("visibility", "internal")],
                &[("a.txt", b"x")],
            ),
            403,
            "forbidden",
        ),
        (
            "an external note from staff",
            w.reply(
                &staff,
                &[("body", "x"), ("visibility", "external")],
                &[("a.txt", b"x")],
            ),
            403,
            "forbidden",
        ),
    ];
    for (what, r, status, want) in cases {
        assert_eq!(
            (r.status, code(&r).as_str()),
            (status, want),
            "{what}: {}",
            text(&r)
        );
        assert_eq!(w.stored(), before, "{what} wrote nothing");
    }
    // A file under another field name is not silently dropped.
    let (ct, b) = multipart(&[("body", "hi")], &[("a.txt", b"x")]);
    let renamed = String::from_utf8(b)
        .unwrap()
        .replace("name=\"files\"", "name=\"upload\"");
    let r = w.post(&cus, &ct, renamed.into_bytes(), &[]);
    assert_eq!((r.status, code(&r).as_str()), (400, "unknown_field"));
    // Neither is a text field that is not UTF-8.
    let (ct, b) = multipart(&[("body", "hi")], &[]);
    let bad = [&b[..b.len() - 40], b"\xff\xfe", &b[b.len() - 40..]].concat();
    let r = w.post(&cus, &ct, bad, &[]);
    assert_eq!(r.status, 400, "{}", text(&r));
    assert_eq!(w.stored(), before);
}

#[test]
fn markup_is_kept_as_text_under_a_text_name() {
    let mut w = World::new();
    let cus = w.cus.clone();
    let r = w.reply(
        &cus,
        &[("body", "the page I saw")],
        &[("invoice.html", b"<script>alert(1)</script>")],
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let a = &body(&r)["message"]["attachments"][0];
    assert_eq!(
        (&a["name"], &a["content_type"]),
        (&json!("invoice.txt"), &json!("text/plain"))
    );
}

#[test]
fn the_same_idempotency_key_posts_one_message() {
    let mut w = World::new();
    let cus = w.cus.clone();
    let (ct, b) = multipart(&[("body", "once only")], &[("a.txt", b"proof")]);
    let key = [("idempotency-key", "reply-with-file-1")];
    let first = w.post(&cus, &ct, b.clone(), &key);
    let again = w.post(&cus, &ct, b.clone(), &key);
    assert_eq!((first.status, again.status), (201, 201), "{}", text(&again));
    assert_eq!(body(&first)["message"], body(&again)["message"]);
    assert!(
        again
            .headers
            .iter()
            .any(|(k, v)| k == "idempotent-replayed" && v == "true")
    );
    let cus = w.cus.clone();
    let posted: Vec<Value> = w
        .thread(&cus)
        .into_iter()
        .filter(|m| m["source"] == "once only")
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(w.stored().0, 1, "one file stored, once");
    // A client sends the form again under another boundary (curl -F and a
    // browser's FormData pick a new one each time): the same request.
    let retry = String::from_utf8(b.clone())
        .unwrap()
        .replace("----tsBoundary7MA4YWxk", "other-boundary-42");
    let ct2 = ct.replace("----tsBoundary7MA4YWxk", "other-boundary-42");
    let third = w.post(&cus, &ct2, retry.into_bytes(), &key);
    assert_eq!(third.status, 201, "{}", text(&third));
    assert_eq!(body(&third)["message"], body(&first)["message"]);
    // Other contents under the same key are another request: refused.
    let (ct3, other) = multipart(&[("body", "once only")], &[("a.txt", b"other")]);
    let r = w.post(&cus, &ct3, other, &key);
    assert_eq!(r.status, 422, "{}", text(&r));
    assert_eq!(w.stored().0, 1);
}

/// The first attempt writes its message and files, then the store fails on
/// the ticket's summary (503); the retry with the same Idempotency-Key
/// finds that message and completes it, and the files it stored again
/// (under new ids) are deleted: nothing is posted twice, no message lacks
/// a file, no chunk is left that no message names.
#[test]
fn a_retry_after_a_lost_answer_keeps_the_first_files_only() {
    fn summary_fails_once(kv: &dyn Kv, key: &str, op: Op<'_>) -> Fault {
        // Every try of the first request's swap (it tries again after an
        // error), then none.
        let tries = domain::record::MAX_ERROR_RETRIES as i64 + 1;
        match op {
            Op::Swap(_)
                if key == "ws/acme/t/000000000001"
                    && kv.increment("ws/acme/test-tripped", 1).unwrap_or(0) <= tries =>
            {
                Fault::Before
            }
            _ => Fault::Pass,
        }
    }
    let mut w = World::with_faults(summary_fails_once);
    let cus = w.cus.clone();
    let (ct, b) = multipart(&[("body", "with a file")], &[("a.txt", b"proof")]);
    let key = [("idempotency-key", "retry-1")];
    let first = w.post(&cus, &ct, b.clone(), &key);
    assert_eq!(first.status, 503, "{}", text(&first));
    let again = w.post(&cus, &ct, b, &key);
    assert_eq!(again.status, 201, "{}", text(&again));
    let m = body(&again)["message"].clone();
    let staff = w.staff.clone();
    let posted: Vec<Value> = w
        .thread(&staff)
        .into_iter()
        .filter(|m| m["source"] == "with a file")
        .collect();
    assert_eq!(posted.len(), 1, "posted once");
    let id = m["attachments"][0]["id"].as_str().unwrap();
    let got = w.download(&staff, m["seq"].as_u64().unwrap(), id);
    assert_eq!((got.status, &got.body[..]), (200, &b"proof"[..]));
    let chunks = w.kv.inner.keys_with_prefix("ws/acme/");
    let chunks: Vec<&String> = chunks.iter().filter(|k| k.contains("/att/")).collect();
    assert_eq!(chunks.len(), 1, "only the message's own file: {chunks:?}");
    assert!(chunks[0].contains(id));
}

#[test]
fn a_cross_site_form_with_the_session_cookie_is_refused() {
    let (ct, b) = multipart(&[("body", "forged")], &[("a.txt", b"x")]);
    let mut req = request(
        "POST",
        "/api/v1/tickets/1/replies",
        &[
            ("content-type", ct.as_str()),
            ("cookie", "__Host-ts_session=acme.x"),
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        "",
    );
    req.body = b;
    let refused = refuse_cross_site(&req, "https://ts.test").expect("refused");
    assert_eq!(refused.status, 403);
    let v: Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(v["error"]["code"], "cross_site_request");
    // From the site's own page it goes through.
    req.headers
        .retain(|(k, _)| k != "origin" && k != "sec-fetch-site");
    req.headers
        .push(("sec-fetch-site".into(), "same-origin".into()));
    assert!(refuse_cross_site(&req, "https://ts.test").is_none());
}
