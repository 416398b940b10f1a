//! A console that polls: the tagged answers (`ETag`, `304` on a matching
//! `If-None-Match`) change exactly when what they show changes, a `304`
//! is decided from the change markers without reading the data, the
//! markers are touched after the data (a failed touch is only noted), and
//! presence shows the other staff with a ticket open.
use std::cell::{Cell, RefCell};

use super::prelude::*;
use domain::store::{MemKv, StoreError, StoreResult};

/// A memory store that logs every call (`get k`, `set k`, `cas k`...; a
/// batch as one line per key) and, when told to, fails the writes of
/// change markers.
#[derive(Default)]
struct Logged {
    inner: MemKv,
    log: RefCell<Vec<String>>,
    fail_marks: Cell<bool>,
}

impl Logged {
    fn note(&self, op: &str, key: &str) {
        self.log.borrow_mut().push(format!("{op} {key}"));
    }

    /// The calls made by `f`.
    fn calls(&self, f: impl FnOnce()) -> Vec<String> {
        self.log.borrow_mut().clear();
        f();
        self.log.borrow().clone()
    }
}

impl Kv for Logged {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.note("get", key);
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        for k in keys {
            self.note("get_many", k);
        }
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.set_many(&[(key.to_string(), value.to_vec())])
    }
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> StoreResult<()> {
        for (k, v) in pairs {
            self.note("set", k);
            if self.fail_marks.get() && k.contains("/mark/") {
                return Err(StoreError("the store went away".into()));
            }
            self.inner.set(k, v)?;
        }
        Ok(())
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.note("delete", key);
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.note("increment", key);
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        self.note("cas", key);
        self.inner.compare_and_swap(key, old, new)
    }
    fn write_id(&self, key: &str) -> u64 {
        self.inner.write_id(key)
    }
}

/// Workspace `acme`: staff `sam` (every queue), `bo` and `kim` (queue
/// `support`), customers `cara` and `cole` of Shop Ltd; ticket 1 of
/// cara's in `support`. Every call is a millisecond after the one before.
struct World {
    kv: Logged,
    now: Cell<Millis>,
    bearer: String,
    sam: String,
    bo: String,
    kim: String,
    cara: String,
    cole: String,
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl World {
    fn new() -> Self {
        let mut w = World {
            kv: Logged::default(),
            now: Cell::new(1_000_000),
            bearer: String::new(),
            sam: String::new(),
            bo: String::new(),
            kim: String::new(),
            cara: String::new(),
            cole: String::new(),
        };
        let made = w.call(
            handle_tickets,
            request(
                "POST",
                "/api/v1/workspaces",
                &[("authorization", &format!("Bearer {ADMIN}"))],
                "",
            ),
            r#"{"id":"acme","name":"Acme"}"#,
        );
        w.bearer = format!("Bearer {}", body(&made)["secret"].as_str().unwrap());
        let user = |w: &World, email: &str, role: &str, extra: Value| {
            let mut u = json!({"email": email, "name": email.split('@').next(), "role": role});
            for (k, v) in extra.as_object().unwrap() {
                u[k] = v.clone();
            }
            let r = w.send(None, handle_tickets, "PUT", "/api/v1/users", "", &[], &u);
            body(&r)["user"]["id"].as_str().unwrap().to_string()
        };
        w.sam = user(&w, "sam@acme.test", "staff", json!({}));
        w.bo = user(&w, "bo@acme.test", "staff", json!({"queues": ["support"]}));
        w.kim = user(&w, "kim@acme.test", "staff", json!({"queues": ["support"]}));
        w.cara = user(
            &w,
            "cara@shop.test",
            "customer",
            json!({"company": "Shop Ltd"}),
        );
        w.cole = user(
            &w,
            "cole@shop.test",
            "customer",
            json!({"company": "Shop Ltd"}),
        );
        w.open(json!({"customer_id": w.cara, "subject": "Late parcel", "body": "where is it"}));
        w
    }

    /// The platform opens the ticket `json` describes.
    fn open(&self, json: Value) {
        let t = self.send(
            None,
            handle_tickets,
            "POST",
            "/api/v1/tickets",
            "",
            &[],
            &json,
        );
        assert_eq!(t.status, 201, "{}", body(&t));
    }

    /// `req` with `json` as its body, through `f`, a millisecond later.
    fn call(
        &self,
        f: fn(&mut Env, &Request) -> Response,
        mut req: Request,
        json: &str,
    ) -> Response {
        if !json.is_empty() {
            req.body = json.as_bytes().to_vec();
            req.headers
                .push(("content-type".into(), "application/json".into()));
        }
        self.now.set(self.now.get() + 1);
        let mut n = self.now.get() as u8;
        let mut random = move || {
            n = n.wrapping_add(1);
            [n; 32]
        };
        let after = domain::after::Effects::default();
        let mut env = env(&self.kv, self.now.get(), &mut random, &after);
        let resp = f(&mut env, &req);
        // The work after the response, as a component does it.
        domain::search::run(&self.kv, &resp.after.index).unwrap();
        resp
    }

    /// A request with the API key, acting as `who` (or nobody).
    fn send(
        &self,
        who: Option<&str>,
        f: fn(&mut Env, &Request) -> Response,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        json: &Value,
    ) -> Response {
        let mut headers = vec![("authorization", self.bearer.as_str())];
        if let Some(u) = who {
            headers.push(("ticketshare-act-as", u));
        }
        headers.extend_from_slice(extra);
        let mut req = request(method, path, &headers, "");
        req.query = query.into();
        let text = if json.is_null() {
            String::new()
        } else {
            json.to_string()
        };
        self.call(f, req, &text)
    }

    /// `GET path?query` as `who`, with `If-None-Match: tag` when given.
    fn get(&self, who: &str, path: &str, query: &str, tag: Option<&str>) -> Response {
        let extra: Vec<(&str, &str)> = tag.map(|t| ("if-none-match", t)).into_iter().collect();
        let r = self.send(
            Some(who),
            handle_tickets,
            "GET",
            path,
            query,
            &extra,
            &Value::Null,
        );
        assert!(
            matches!(r.status, 200 | 304),
            "{path}: {} {}",
            r.status,
            body(&r)
        );
        r
    }

    /// The status of `GET /api/v1/inbox?view=<view>` as `who` with
    /// `If-None-Match: tag`.
    fn inbox_status(&self, who: &str, view: &str, tag: &str) -> u16 {
        self.get(who, "/api/v1/inbox", &format!("view={view}"), Some(tag))
            .status
    }

    /// `who` replies on ticket 1.
    fn reply(&self, who: &str, text: &str) -> Response {
        let r = self.send(
            Some(who),
            crate::handle_replies,
            "POST",
            "/api/v1/tickets/1/replies",
            "",
            &[],
            &json!({"body": text}),
        );
        assert_eq!(r.status, 201, "{}", body(&r));
        r
    }

    /// `who` does `action` (accept, read...) on ticket 1.
    fn act(&self, who: &str, action: &str) -> Response {
        let r = self.send(
            Some(who),
            handle_transfer,
            "POST",
            &format!("/api/v1/tickets/1/{action}"),
            "",
            &[],
            &Value::Null,
        );
        assert_eq!(r.status, 200, "{action}: {}", body(&r));
        r
    }
}

/// The answer's tag, checked to be a strong quoted tag with the caching rule
/// of a tagged answer.
fn tag_of(r: &Response) -> String {
    let tag = header(r, "etag").expect("an etag").to_string();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
    assert_eq!(header(r, "cache-control"), Some("private, no-cache"));
    tag
}

/// `r` is a 304 for `tag`: no body, the same tag and caching rule.
fn not_modified(r: &Response, tag: &str) {
    assert_eq!(r.status, 304, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
    assert_eq!(tag_of(r), tag);
}

#[test]
fn a_post_changes_the_threads_tag_and_an_unchanged_thread_answers_304() {
    let w = World::new();
    let thread = "/api/v1/tickets/1/thread";
    for who in [&w.sam, &w.cara] {
        let first = w.get(who, thread, "", None);
        let tag = tag_of(&first);
        not_modified(&w.get(who, thread, "", Some(&tag)), &tag);
        // In a list, weakly compared, or `*`.
        let list = format!("\"other\", W/{tag}");
        not_modified(&w.get(who, thread, "", Some(&list)), &tag);
        not_modified(&w.get(who, thread, "", Some("*")), &tag);
        // Another query is another answer.
        let newest = w.get(who, thread, "order=newest", Some(&tag));
        assert_eq!(newest.status, 200);
        assert_ne!(tag_of(&newest), tag);
        let posted = w.reply(&w.bo, &format!("Posted for {who}"));
        assert_eq!(posted.status, 201);
        let again = w.get(who, thread, "", Some(&tag));
        assert_eq!(again.status, 200, "the old tag gets the new thread");
        assert!(
            body(&again)
                .to_string()
                .contains(&format!("Posted for {who}"))
        );
        let new = tag_of(&again);
        assert_ne!(new, tag);
        not_modified(&w.get(who, thread, "", Some(&new)), &new);
    }
    // Staff and customers never share a tag (they see other messages).
    let staff = tag_of(&w.get(&w.sam, thread, "", None));
    assert_ne!(staff, tag_of(&w.get(&w.cara, thread, "", None)));
    // The ticket itself.
    let t = w.get(&w.sam, "/api/v1/tickets/1", "", None);
    let tag = tag_of(&t);
    not_modified(&w.get(&w.sam, "/api/v1/tickets/1", "", Some(&tag)), &tag);
    w.reply(&w.cara, "Any news?");
    let t = w.get(&w.sam, "/api/v1/tickets/1", "", Some(&tag));
    assert_eq!(t.status, 200);
    assert_eq!(body(&t)["ticket"]["status"], "client_replied");
}

#[test]
fn a_colleagues_accept_changes_the_first_staffs_pending_tag() {
    // bo works the queue (per-list markers); sam sees every queue (the
    // workspace's marker).
    for first in ["bo", "sam"] {
        let w = World::new();
        let me = if first == "bo" { &w.bo } else { &w.sam };
        let pending = w.get(me, "/api/v1/inbox", "view=pending", None);
        assert_eq!(body(&pending)["tickets"][0]["number"], 1);
        assert_eq!(body(&pending)["counts"]["pending"], 1);
        let tag = tag_of(&pending);
        not_modified(
            &w.get(me, "/api/v1/inbox", "view=pending", Some(&tag)),
            &tag,
        );
        w.act(&w.kim, "accept");
        let after = w.get(me, "/api/v1/inbox", "view=pending", Some(&tag));
        assert_eq!(after.status, 200, "{first}: the accept shows");
        assert_eq!(body(&after)["tickets"], json!([]), "{first}");
        assert_eq!(body(&after)["counts"]["pending"], 0, "{first}");
        let new = tag_of(&after);
        not_modified(
            &w.get(me, "/api/v1/inbox", "view=pending", Some(&new)),
            &new,
        );
    }
}

#[test]
fn a_ticket_in_another_queue_leaves_a_queue_workers_tag_alone() {
    let w = World::new();
    let tag = tag_of(&w.get(&w.bo, "/api/v1/inbox", "view=pending", None));
    w.open(
        json!({"customer_id": w.cole, "subject": "Invoice", "body": "wrong", "queue": "billing"}),
    );
    assert_eq!(w.inbox_status(&w.bo, "pending", &tag), 304);
    // Whoever sees every queue sees it.
    let sam = tag_of(&w.get(&w.sam, "/api/v1/inbox", "view=pending", None));
    w.reply(&w.cole, "still wrong");
    assert_eq!(w.inbox_status(&w.sam, "pending", &sam), 200);
}

#[test]
fn marking_read_or_unread_changes_the_inbox_tag() {
    let w = World::new();
    w.act(&w.bo, "accept");
    let working = w.get(&w.bo, "/api/v1/inbox", "view=working", None);
    assert_eq!(body(&working)["tickets"][0]["unread"], true);
    let tag = tag_of(&working);
    w.act(&w.bo, "read");
    let read = w.get(&w.bo, "/api/v1/inbox", "view=working", Some(&tag));
    assert_eq!(read.status, 200);
    assert_eq!(body(&read)["tickets"][0]["unread"], false);
    let tag = tag_of(&read);
    // Another staff member's marks are theirs.
    w.act(&w.kim, "unread");
    assert_eq!(w.inbox_status(&w.bo, "working", &tag), 304);
    w.act(&w.bo, "unread");
    assert_eq!(w.inbox_status(&w.bo, "working", &tag), 200);
}

#[test]
fn a_customers_reply_changes_their_lists_tags() {
    let w = World::new();
    let mine = tag_of(&w.get(&w.cara, "/api/v1/tickets", "", None));
    let company = tag_of(&w.get(&w.cole, "/api/v1/tickets", "scope=company", None));
    let staff = tag_of(&w.get(&w.sam, "/api/v1/tickets", "", None));
    assert_ne!(mine, company);
    not_modified(&w.get(&w.cara, "/api/v1/tickets", "", Some(&mine)), &mine);
    w.reply(&w.cara, "Hello again");
    for (who, query, tag) in [
        (&w.cara, "", &mine),
        (&w.cole, "scope=company", &company),
        (&w.sam, "", &staff),
    ] {
        let r = w.get(who, "/api/v1/tickets", query, Some(tag));
        assert_eq!(r.status, 200, "{query}");
        assert_eq!(body(&r)["tickets"][0]["status"], "client_replied");
        assert_ne!(&tag_of(&r), tag);
    }
    // cole's own list (no ticket of theirs) did not change.
    let own = tag_of(&w.get(&w.cole, "/api/v1/tickets", "", None));
    w.reply(&w.sam, "On its way");
    not_modified(&w.get(&w.cole, "/api/v1/tickets", "", Some(&own)), &own);
}

#[test]
fn a_304_reads_no_list_ticket_or_message_keys() {
    let w = World::new();
    let data = |calls: &[String]| {
        calls
            .iter()
            .filter(|c| {
                !c.contains("/mark/")
                    && (c.contains("/inbox/")
                        || c.contains("/m/")
                        || c.contains("/cust/")
                        || c.contains("/co/")
                        || c.contains("/t/")
                        // The workspace's queues (the inbox's lists, in
                        // its tag) only in the batch read with the
                        // credential, never a read of their own.
                        || (c.contains("/queues") && !c.starts_with("get_many ")))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    for (who, path, query) in [
        (&w.sam, "/api/v1/inbox", "view=pending"),
        (&w.bo, "/api/v1/inbox", "view=resolved"),
        (&w.cara, "/api/v1/tickets", ""),
        (&w.cole, "/api/v1/tickets", "scope=company"),
        (&w.sam, "/api/v1/tickets", ""),
    ] {
        let tag = tag_of(&w.get(who, path, query, None));
        let calls = w.kv.calls(|| {
            not_modified(&w.get(who, path, query, Some(&tag)), &tag);
        });
        assert_eq!(data(&calls), Vec::<String>::new(), "{path}?{query}");
        assert!(
            calls.iter().all(|c| c.starts_with("get")),
            "a 304 writes nothing: {calls:#?}"
        );
    }
    // The thread's marker is its ticket, read once: no message.
    let tag = tag_of(&w.get(&w.sam, "/api/v1/tickets/1/thread", "", None));
    let calls = w.kv.calls(|| {
        not_modified(
            &w.get(&w.sam, "/api/v1/tickets/1/thread", "", Some(&tag)),
            &tag,
        );
    });
    let ticket = keys::ticket(&WorkspaceId::parse("acme").unwrap(), TicketNo(1));
    assert_eq!(data(&calls), [format!("get_many {ticket}")], "{calls:#?}");
}

#[test]
fn markers_are_touched_after_the_data() {
    let w = World::new();
    let ws = WorkspaceId::parse("acme").unwrap();
    let ticket = keys::ticket(&ws, TicketNo(1));
    let calls = w.kv.calls(|| {
        w.reply(&w.cara, "Order of writes");
    });
    let last = |what: &str| calls.iter().rposition(|c| c.starts_with(what));
    let first_mark = calls
        .iter()
        .position(|c| c.starts_with("set") && c.contains("/mark/"))
        .expect("markers touched");
    let message = last(&format!("set {ticket}/m/")).expect("the message written");
    let swap = last(&format!("cas {ticket}")).expect("the ticket swapped");
    assert!(message < first_mark && swap < first_mark, "{calls:#?}");
    for key in [
        keys::mark_tickets(&ws),
        keys::mark_list(&ws, "pending/support"),
        keys::mark_customer(&ws, &domain::ids::UserId::parse(&w.cara).unwrap()),
    ] {
        assert!(calls.contains(&format!("set {key}")), "{key}: {calls:#?}");
    }
    // Readers: the markers before the data.
    let calls = w.kv.calls(|| {
        w.get(&w.bo, "/api/v1/inbox", "view=pending", None);
    });
    let mark = calls.iter().position(|c| c.contains("/mark/")).unwrap();
    let entry = calls.iter().position(|c| c.contains("/inbox/")).unwrap();
    assert!(mark < entry, "{calls:#?}");
}

#[test]
fn a_failed_marker_touch_leaves_the_change_and_its_2xx_with_a_note() {
    let w = World::new();
    let tag = tag_of(&w.get(&w.cara, "/api/v1/tickets", "", None));
    w.kv.fail_marks.set(true);
    let posted = w.reply(&w.cara, "Marker store down");
    assert!(
        posted
            .internal
            .as_deref()
            .is_some_and(|i| i.contains("touching the change markers")),
        "{:?}",
        posted.internal
    );
    let read = w.act(&w.bo, "read");
    assert!(read.internal.is_some());
    w.kv.fail_marks.set(false);
    // The post is there (the thread's marker is the ticket itself).
    let thread = w.get(&w.cara, "/api/v1/tickets/1/thread", "", None);
    assert!(body(&thread).to_string().contains("Marker store down"));
    // The list's marker was not touched: the next change that touches it
    // brings the list up to date.
    not_modified(&w.get(&w.cara, "/api/v1/tickets", "", Some(&tag)), &tag);
    w.reply(&w.sam, "Back");
    assert_eq!(
        w.get(&w.cara, "/api/v1/tickets", "", Some(&tag)).status,
        200
    );
}

#[test]
fn if_none_match_that_is_not_a_list_of_tags_matches_nothing() {
    let w = World::new();
    let tag = tag_of(&w.get(&w.sam, "/api/v1/tickets/1/thread", "", None));
    let huge = format!("{tag}, {}", "\"x\", ".repeat(2_000));
    for garbage in [
        "",
        "garbage",
        "\"unterminated",
        "W/",
        "W/garbage",
        &tag[1..],
        &format!("{tag}x"),
        &format!("x{tag}"),
        &format!("\"a\" junk {tag}"),
        &huge,
        "\u{7f}\"",
    ] {
        let r = w.get(&w.sam, "/api/v1/tickets/1/thread", "", Some(garbage));
        assert_eq!(r.status, 200, "{garbage:?}");
        assert_eq!(tag_of(&r), tag);
    }
}

#[test]
fn presence_shows_the_other_staff_with_the_ticket_open() {
    let w = World::new();
    let post = |who: &str, json: &Value| {
        w.send(
            Some(who),
            handle_tickets,
            "POST",
            "/api/v1/tickets/1/presence",
            "",
            &[],
            json,
        )
    };
    let r = post(&w.bo, &Value::Null);
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(body(&r), json!({"viewers": [], "ttl_seconds": 30}));
    let r = post(&w.kim, &json!({"composing": true}));
    let viewers = &body(&r)["viewers"];
    assert_eq!(viewers.as_array().unwrap().len(), 1);
    assert_eq!(viewers[0]["user_id"], json!(w.bo));
    assert_eq!(viewers[0]["name"], "bo");
    assert_eq!(viewers[0]["composing"], false);
    let r = w.get(&w.bo, "/api/v1/tickets/1/presence", "", None);
    assert_eq!(body(&r)["viewers"][0]["name"], "kim");
    assert_eq!(body(&r)["viewers"][0]["composing"], true);
    // A refresh soon after, with nothing new, writes nothing; a GET never.
    let calls = w.kv.calls(|| {
        post(&w.bo, &json!({"composing": false}));
        w.get(&w.kim, "/api/v1/tickets/1/presence", "", None);
    });
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("/presence") && !c.starts_with("get")),
        "{calls:#?}"
    );
    // 30 s later nobody is left.
    w.now.set(w.now.get() + domain::presence::TTL);
    let r = w.get(&w.kim, "/api/v1/tickets/1/presence", "", None);
    assert_eq!(body(&r)["viewers"], json!([]));
    // Customers, and bad bodies.
    for (who, json, status, code) in [
        (&w.cara, json!({"composing": true}), 403, "forbidden"),
        (&w.bo, json!({"composing": "yes"}), 400, "invalid_field"),
        (
            &w.bo,
            json!({"composing": true, "x": 1}),
            400,
            "unknown_field",
        ),
        (&w.bo, json!([]), 400, "invalid_json"),
        (&w.bo, json!(true), 400, "invalid_json"),
    ] {
        let r = post(who, &json);
        assert_eq!(
            (r.status, body(&r)["error"]["code"].as_str()),
            (status, Some(code))
        );
    }
    let r = w.send(
        None,
        handle_tickets,
        "POST",
        "/api/v1/tickets/1/presence",
        "",
        &[],
        &Value::Null,
    );
    assert_eq!(body(&r)["error"]["code"], "act_as_required");
}

#[test]
fn a_store_read_ahead_answers_each_key_once_and_a_write_forgets_it() {
    let kv = Logged::default();
    for k in ["a", "b", "c"] {
        kv.inner.set(k, k.as_bytes()).unwrap();
    }
    let keys: Vec<String> = ["a", "b", "none"].map(String::from).to_vec();
    let calls = kv.calls(|| {
        let ahead = ReadAhead::new(&kv, &keys);
        assert_eq!(ahead.get("a").unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(ahead.get("none").unwrap(), None);
        ahead.set("b", b"B").unwrap();
        let many = ahead
            .get_many(&["c".to_string(), "b".to_string(), "a".to_string()])
            .unwrap();
        assert_eq!(
            many,
            [
                Some(b"c".to_vec()),
                Some(b"B".to_vec()),
                Some(b"a".to_vec())
            ]
        );
    });
    assert_eq!(
        calls,
        [
            "get_many a",
            "get_many b",
            "get_many none",
            "set b",
            "get_many c",
            "get_many b",
            "get_many a",
        ],
        "read ahead once; then the store (a write in between is seen)"
    );
}

#[test]
fn staff_only_activity_leaves_the_customer_sides_tags_and_times_alone() {
    let w = World::new();
    let paths = [
        ("/api/v1/tickets/1/thread", ""),
        ("/api/v1/tickets/1", ""),
        ("/api/v1/tickets", ""),
        ("/api/v1/tickets", "scope=company"),
        ("/api/v1/tickets", "scope=delegated"),
    ];
    let tags: Vec<String> = paths
        .iter()
        .map(|(p, q)| tag_of(&w.get(&w.cara, p, q, None)))
        .collect();
    let shown = |w: &World| {
        body(&w.get(&w.cara, "/api/v1/tickets/1", "", None))["ticket"]["updated_at"].clone()
    };
    let before = shown(&w);
    let staff_thread = tag_of(&w.get(&w.sam, "/api/v1/tickets/1/thread", "", None));
    // An internal note and read marks: staff see them, the customer side
    // does not (not as a new tag, not as a newer time). (An accept is
    // theirs to see: the status becomes open.)
    let note = w.send(
        Some(&w.sam),
        crate::handle_replies,
        "POST",
        "/api/v1/tickets/1/replies",
        "",
        &[],
        &json!({"body": "checking the depot", "visibility": "internal"}),
    );
    assert_eq!(note.status, 201, "{}", body(&note));
    w.act(&w.sam, "read");
    w.act(&w.sam, "unread");
    assert_eq!(
        w.get(&w.sam, "/api/v1/tickets/1/thread", "", Some(&staff_thread))
            .status,
        200
    );
    for ((p, q), tag) in paths.iter().zip(&tags) {
        not_modified(&w.get(&w.cara, p, q, Some(tag)), tag);
    }
    assert_eq!(shown(&w), before);
    // A public reply is theirs to see: every tag and the time move (but
    // the list of tickets delegated to cara, which has none).
    w.reply(&w.sam, "Found it, on its way");
    let (delegated, rest) = paths.split_last().unwrap();
    let (delegated_tag, rest_tags) = tags.split_last().unwrap();
    not_modified(
        &w.get(&w.cara, delegated.0, delegated.1, Some(delegated_tag)),
        delegated_tag,
    );
    for ((p, q), tag) in rest.iter().zip(rest_tags) {
        let r = w.get(&w.cara, p, q, Some(tag));
        assert_eq!(r.status, 200, "{p}");
        assert_ne!(&tag_of(&r), tag, "{p}");
    }
    assert_ne!(shown(&w), before);
}
