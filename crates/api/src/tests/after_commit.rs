//! A change that is written stays a success when what follows it (its
//! audit entry and the webhooks queued with it, an email) fails: the
//! answer is a 2xx with the failure in `internal`, and a retry with the
//! same Idempotency-Key replays it instead of doing it twice.
use super::prelude::*;
use domain::store::{Fault, Faulty, MemKv, Op};

/// A store whose audit ledger cannot be written once it is armed.
fn audit_fails() -> Faulty<MemKv> {
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Delete => Fault::Pass,
        _ if key.contains("/audit/") => Fault::Before,
        _ => Fault::Pass,
    });
    kv.arm(false);
    kv
}

/// A workspace `acme` with a customer's ticket 1 and a staff member,
/// participants on and Postmark set up; calls go through the
/// components' entry points.
struct World {
    kv: Faulty<MemKv>,
    n: u8,
    bearer: String,
    staff: String,
    postmark: String,
}

impl World {
    /// Post `mail` (a Postmark inbound payload) to the workspace's hook,
    /// with its Basic credentials.
    fn postmark_mail(&mut self, mail: &str) -> Response {
        let auth = format!(
            "Basic {}",
            domain::token::base64_std(
                format!("{}:{}", domain::inbound::POSTMARK_USER, self.postmark).as_bytes()
            )
        );
        self.call(
            handle_webhooks,
            "POST",
            "/hooks/postmark/acme",
            &[("authorization", &auth)],
            mail,
        )
    }

    fn new() -> Self {
        Self::with(audit_fails())
    }

    /// The world on `kv`, armed once it is set up (unless armed
    /// before: then the whole setup runs under its rule too).
    fn with(kv: Faulty<MemKv>) -> Self {
        let mut w = World {
            kv,
            n: 0,
            bearer: String::new(),
            staff: String::new(),
            postmark: String::new(),
        };
        let made = w.call(
            handle_tickets,
            "POST",
            "/api/v1/workspaces",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            r#"{"id":"acme","name":"Acme"}"#,
        );
        assert_eq!(made.status, 201);
        w.bearer = format!("Bearer {}", body(&made)["secret"].as_str().unwrap());
        let cus = w.api(
            handle_tickets,
            "PUT",
            "/api/v1/users",
            r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
        );
        let cus = body(&cus)["user"]["id"].as_str().unwrap().to_string();
        w.api(
            handle_tickets,
            "PUT",
            "/api/v1/users",
            r#"{"email":"dee@y.test","name":"Dee","role":"customer"}"#,
        );
        let staff = w.api(
            handle_tickets,
            "PUT",
            "/api/v1/users",
            r#"{"email":"sam@acme.test","name":"Sam","role":"staff"}"#,
        );
        w.staff = body(&staff)["user"]["id"].as_str().unwrap().to_string();
        let t = w.api(
            handle_tickets,
            "POST",
            "/api/v1/tickets",
            &json!({"customer_id": cus, "subject": "Late", "body": "where is it"}).to_string(),
        );
        assert_eq!(t.status, 201);
        let on = w.api(
            handle_tickets,
            "PATCH",
            "/api/v1/workspace/settings",
            r#"{"participants_enabled":true}"#,
        );
        assert_eq!(on.status, 200);
        let pm = w.api(
            handle_webhooks,
            "POST",
            "/api/v1/webhooks/inbound/postmark",
            "",
        );
        assert_eq!(pm.status, 201, "{}", String::from_utf8_lossy(&pm.body));
        w.postmark = body(&pm)["password"].as_str().unwrap().to_string();
        w.kv.arm(true);
        w
    }

    fn ws(&self) -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    fn call(
        &mut self,
        f: fn(&mut Env, &Request) -> Response,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut n = self.n;
        let mut random = || {
            n = n.wrapping_add(1);
            [n; 32]
        };
        let after = domain::after::Effects::default();
        let mut env = env(&self.kv, 1_000_000, &mut random, &after);
        let resp = f(&mut env, &json_request(method, path, headers, body));
        self.n = n;
        resp
    }

    /// A call with the workspace's API key (and `extra` headers).
    fn api_with(
        &mut self,
        f: fn(&mut Env, &Request) -> Response,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let bearer = self.bearer.clone();
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        self.call(f, method, path, &headers, body)
    }

    fn api(
        &mut self,
        f: fn(&mut Env, &Request) -> Response,
        method: &str,
        path: &str,
        body: &str,
    ) -> Response {
        self.api_with(f, method, path, &[], body)
    }

    /// Emails in the outbox so far.
    fn mails(&self) -> u64 {
        domain::record::read_counter(&self.kv, &keys::mail_counter(&self.ws())).unwrap()
    }

    /// `POST` twice with one Idempotency-Key; checks the first answer
    /// is `status` with the audit failure noted, and the second replays
    /// it. Returns the first.
    fn twice(
        &mut self,
        f: fn(&mut Env, &Request) -> Response,
        path: &str,
        extra: &[(&str, &str)],
        body: &str,
        status: u16,
    ) -> Response {
        let mut headers = vec![("idempotency-key", "k-1")];
        headers.extend_from_slice(extra);
        let first = self.api_with(f, "POST", path, &headers, body);
        assert_eq!(
            first.status,
            status,
            "{} {:?}",
            String::from_utf8_lossy(&first.body),
            first.internal
        );
        assert!(
            first
                .internal
                .as_deref()
                .is_some_and(|i| i.contains("audit entry")),
            "{:?}",
            first.internal
        );
        let mails = self.mails();
        let again = self.api_with(f, "POST", path, &headers, body);
        assert_eq!(again.status, status, "{:?}", again.internal);
        assert!(
            again
                .headers
                .iter()
                .any(|(k, v)| k == "idempotent-replayed" && v == "true"),
            "the retry ran again: {}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(again.body, first.body);
        assert_eq!(self.mails(), mails, "the retry sent email again");
        first
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Messages of ticket 1 whose record contains `text`.
fn posted(w: &World, text: &str) -> usize {
    posted_on(w, 1, text)
}

/// Messages of ticket `no` whose record contains `text`.
fn posted_on(w: &World, no: u64, text: &str) -> usize {
    let prefix = format!("ws/acme/t/{no:012}/m/");
    w.kv.inner
        .dump()
        .iter()
        .filter(|(k, v)| k.starts_with(&prefix) && String::from_utf8_lossy(v).contains(text))
        .count()
}

#[test]
fn a_reply_whose_store_answer_was_lost_is_posted_once_by_its_retry() {
    let rules: [fn(&dyn Kv, &str, Op<'_>) -> Fault; 4] = [
        // The message is written and the reply to that write is lost.
        |_, key, op| match op {
            Op::Set(_) if key.contains("/m/") => Fault::After,
            _ => Fault::Pass,
        },
        // The number is taken and kept, the message never written.
        |_, key, op| match op {
            Op::Set(_) if key.contains("/m/") => Fault::Before,
            _ => Fault::Pass,
        },
        // The number's increment counted, its answer lost.
        |_, key, op| match op {
            Op::Increment if key.ends_with("/msg-counter") => Fault::After,
            _ => Fault::Pass,
        },
        // The message is written, the ticket's summary cannot be: the
        // retry brings it up to date, so readers see the message.
        |_, key, op| match op {
            Op::Swap(_) if key == "ws/acme/t/000000000001" => Fault::Before,
            _ => Fault::Pass,
        },
    ];
    for (i, rule) in rules.into_iter().enumerate() {
        let kv = Faulty::new(MemKv::new(), rule);
        kv.arm(false);
        let mut w = World::with(kv);
        let staff = w.staff.clone();
        let headers = [("idempotency-key", "r-1"), (ACT_AS_HEADER, staff.as_str())];
        let text = format!("parcel found, case {i}");
        let post = json!({ "body": text }).to_string();
        let path = "/api/v1/tickets/1/replies";
        let first = w.api_with(handle_replies, "POST", path, &headers, &post);
        if first.status == 503 {
            assert_eq!(body(&first)["error"]["code"], "store_unavailable");
            assert!(first.headers.iter().any(|(k, _)| k == "retry-after"));
        }
        w.kv.arm(false);
        let again = w.api_with(handle_replies, "POST", path, &headers, &post);
        assert_eq!(
            again.status,
            201,
            "case {i}: {}",
            String::from_utf8_lossy(&again.body)
        );
        let third = w.api_with(handle_replies, "POST", path, &headers, &post);
        assert_eq!(third.status, 201);
        assert_eq!(third.body, again.body, "case {i}: replayed");
        assert_eq!(posted(&w, &text), 1, "case {i}: posted once");
        if i == 2 {
            // The lost increment left a gap before it, which readers
            // wait on for `thread::GAP_WAIT` (its own tests).
            continue;
        }
        let thread = w.api_with(
            handle_tickets,
            "GET",
            "/api/v1/tickets/1/thread",
            &[(ACT_AS_HEADER, staff.as_str())],
            "",
        );
        let shown = body(&thread)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["source"] == text.as_str())
            .count();
        assert_eq!(shown, 1, "case {i}: the thread shows it once");
    }
}

#[test]
fn a_new_ticket_whose_answer_was_lost_is_opened_once_by_its_retry() {
    use std::sync::atomic::{AtomicU8, Ordering};
    static STAGE: AtomicU8 = AtomicU8::new(0);
    fn ticket_record(key: &str) -> bool {
        key.strip_prefix("ws/acme/t/")
            .is_some_and(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
    }
    // The ticket's record is written and the answer lost; reading it
    // back fails too, so the request cannot tell and answers 503.
    let kv = Faulty::with_reads(MemKv::new(), |_, key, op| {
        if !ticket_record(key) {
            return Fault::Pass;
        }
        match op {
            Op::Set(_)
                if STAGE
                    .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok() =>
            {
                Fault::After
            }
            Op::Get
                if STAGE
                    .compare_exchange(1, 2, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok() =>
            {
                Fault::Before
            }
            _ => Fault::Pass,
        }
    });
    kv.arm(false);
    let mut w = World::with(kv);
    let cus = body(&w.api(
        handle_tickets,
        "PUT",
        "/api/v1/users",
        r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
    ))["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let open = json!({"customer_id": cus, "subject": "Broken", "body": "it broke"}).to_string();
    let headers = [("idempotency-key", "t-1")];
    let first = w.api_with(handle_tickets, "POST", "/api/v1/tickets", &headers, &open);
    assert_eq!(
        first.status,
        503,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = w.api_with(handle_tickets, "POST", "/api/v1/tickets", &headers, &open);
    assert_eq!(
        again.status,
        201,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(body(&again)["ticket"]["number"], 2);
    let records =
        w.kv.inner
            .dump()
            .iter()
            .filter(|(k, _)| ticket_record(k))
            .count();
    assert_eq!(records, 2, "the setup's ticket and this one, once");
    // Listed once, with its first message once.
    let list = w.api(handle_tickets, "GET", "/api/v1/tickets", "");
    let listed = body(&list)["tickets"].as_array().unwrap().len();
    assert_eq!(listed, 2, "{}", String::from_utf8_lossy(&list.body));
    assert_eq!(posted_on(&w, 2, "it broke"), 1);
}

#[test]
fn a_retry_of_an_idempotent_request_does_not_redo_a_change_it_made() {
    let kv = MemKv::new();
    let key = keys::ticket(&WorkspaceId::parse("acme").unwrap(), TicketNo(9));
    domain::record::write(&kv, &key, &json!({"n": 0, "version": 0})).unwrap();
    #[derive(serde::Serialize, serde::Deserialize)]
    struct N {
        n: u64,
        version: u64,
    }
    domain::versioned!(N);
    let attempt = |which: &str| AttemptKv {
        inner: &kv,
        attempt: which.to_string(),
        writes: Default::default(),
    };
    let bump = |kv: &dyn Kv| {
        update(kv, &key, |r: &mut N| {
            r.n += 1;
            Ok(())
        })
        .unwrap()
        .n
    };
    // The first attempt's change landed (its answer was lost); its
    // retry, with the same request's ids, finds it and changes nothing.
    assert_eq!(bump(&attempt("request-1")), 1);
    assert_eq!(bump(&attempt("request-1")), 1);
    // Another request changes it.
    assert_eq!(bump(&attempt("request-2")), 2);
    assert_eq!(bump(&kv), 3);
    assert_eq!(bump(&kv), 4);
}

#[test]
fn the_whole_app_works_when_every_swap_is_reported_failed_after_writing() {
    // Spin 4.0.2's Redis store: every compare-and-swap writes, then
    // answers CasFailed.
    let kv = Faulty::new(MemKv::new(), |_, _, op| match op {
        Op::Swap(_) => Fault::SwapDenied,
        _ => Fault::Pass,
    });
    let mut w = World::with(kv);
    let staff = w.staff.clone();
    let r = w.api_with(
        handle_replies,
        "POST",
        "/api/v1/tickets/1/replies",
        &[(ACT_AS_HEADER, staff.as_str())],
        r#"{"body":"on its way"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["ticket"]["status"], "awaiting_customer");
    let again = w.api(handle_tickets, "GET", "/api/v1/tickets/1", "");
    assert_eq!(again.status, 200);
    assert_eq!(body(&again)["ticket"]["status"], "awaiting_customer");
    assert_eq!(posted(&w, "on its way"), 1);
}

#[test]
fn a_delegate_invite_whose_audit_entry_fails_stands_and_replays() {
    let mut w = World::new();
    let before = w.mails();
    let r = w.twice(
        handle_invites,
        "/api/v1/tickets/1/delegates",
        &[],
        r#"{"email":"dee@y.test"}"#,
        201,
    );
    assert_eq!(r.after.mail.len(), 1);
    assert_eq!(w.mails(), before + 1);
    let list = domain::delegates::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].email, "dee@y.test");
}

#[test]
fn a_participant_added_whose_audit_entry_fails_stands_and_replays() {
    let mut w = World::new();
    let before = w.mails();
    let r = w.twice(
        handle_invites,
        "/api/v1/tickets/1/participants",
        &[],
        r#"{"email":"pat@z.test"}"#,
        201,
    );
    // The participant's email still went out.
    assert_eq!(r.after.mail.len(), 1);
    assert_eq!(w.mails(), before + 1);
    let list = domain::participants::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].email, "pat@z.test");
}

#[test]
fn a_share_whose_audit_entries_fail_stands_and_replays() {
    let mut w = World::new();
    let before = w.mails();
    let r = w.twice(
        handle_shares,
        "/api/v1/tickets/1/shares",
        &[],
        r#"{"email":"sup@parts.test","subject":"Parts","note":"Please check"}"#,
        201,
    );
    assert_eq!(r.after.mail.len(), 1);
    assert_eq!(w.mails(), before + 1);
    let list = domain::shares::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(body(&r)["share"]["id"], json!(list[0].id));
}

#[test]
fn a_resolve_whose_audit_entry_fails_stands_and_replays() {
    let mut w = World::new();
    let staff = w.staff.clone();
    w.twice(
        handle_transfer,
        "/api/v1/tickets/1/resolve",
        &[(ACT_AS_HEADER, &staff)],
        "",
        200,
    );
    let t = thread::ticket(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    assert_eq!(t.status, domain::model::Status::Resolved);
}

/// A login link is used up when it is taken: the sign-in it gives
/// stands when its audit entry fails (the link would be dead for a retry).
#[test]
fn a_login_whose_audit_entry_fails_still_signs_in() {
    let mut w = World::new();
    w.kv.arm(false);
    let staff = w.staff.clone();
    let minted = w.api(
        handle_tickets,
        "POST",
        &format!("/api/v1/users/{staff}/login-links"),
        "",
    );
    assert_eq!(minted.status, 201);
    let url = body(&minted)["url"].as_str().unwrap().to_string();
    let link = url.split_once('#').unwrap().1.to_string();
    w.kv.arm(true);
    let r = w.call(
        handle_tickets,
        "POST",
        "/api/v1/auth/login",
        &[],
        &json!({ "link": link }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.internal
            .as_deref()
            .is_some_and(|i| i.contains("audit entry")),
        "{:?}",
        r.internal
    );
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    let session = cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap();
    let me = auth::session_user(&w.kv, &session, 1_000_000).unwrap();
    assert_eq!(me.user.as_str(), staff);
}

/// Inbound mail has no Idempotency-Key: the provider retries the same
/// Message-ID, which must meet the delivery already taken.
#[test]
fn held_inbound_mail_whose_audit_entry_fails_is_held_once() {
    let mut w = World::new();
    let auth = format!(
        "Basic {}",
        domain::token::base64_std(
            format!("{}:{}", domain::inbound::POSTMARK_USER, w.postmark).as_bytes()
        )
    );
    let mail = json!({
        "From": "who@else.test", "FromFull": {"Email": "who@else.test", "Name": "Who"},
        "To": "support@acme.test", "ToFull": [{"Email": "support@acme.test"}],
        "Subject": "Hello", "MessageID": "pm-1", "TextBody": "Is anyone there?",
        "Headers": [{"Name": "Message-ID", "Value": "<m1@else.test>"}],
    })
    .to_string();
    let first = w.call(
        handle_webhooks,
        "POST",
        "/hooks/postmark/acme",
        &[("authorization", &auth)],
        &mail,
    );
    assert_eq!(
        first.status,
        202,
        "{} {:?}",
        String::from_utf8_lossy(&first.body),
        first.internal
    );
    assert!(
        first
            .internal
            .as_deref()
            .is_some_and(|i| i.contains("audit entry")),
        "{:?}",
        first.internal
    );
    let again = w.call(
        handle_webhooks,
        "POST",
        "/hooks/postmark/acme",
        &[("authorization", &auth)],
        &mail,
    );
    assert_eq!(again.status, 200);
    assert_eq!(body(&again)["duplicate"], true);
    let (held, _) = domain::inbound::quarantine(&w.kv, &w.ws(), None, 10).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].from, "who@else.test");
}

/// A sender added as a participant by their email is added once and
/// their message posted once, though no audit entry can be written.
#[test]
fn an_auto_added_sender_whose_audit_entries_fail_is_posted_once() {
    let mut w = World::new();
    w.kv.arm(false);
    let on = w.api(
        handle_tickets,
        "PATCH",
        "/api/v1/workspace/settings",
        r#"{"auto_add_senders":true}"#,
    );
    assert_eq!(on.status, 200);
    w.kv.arm(true);
    let r = super::reply_reference(&w.kv, &w.ws());
    let to = format!("reply+{r}@mail.acme.test");
    let mail = json!({
        "From": "new@else.test", "FromFull": {"Email": "new@else.test", "Name": "New"},
        "To": to, "ToFull": [{"Email": to}],
        "Subject": "Re: Late", "MessageID": "pm-2", "TextBody": "I can help",
        "Headers": [{"Name": "Message-ID", "Value": "<m2@else.test>"}],
    })
    .to_string();
    let send = |w: &mut World| w.postmark_mail(&mail);
    let first = send(&mut w);
    assert_eq!(
        first.status,
        201,
        "{} {:?}",
        String::from_utf8_lossy(&first.body),
        first.internal
    );
    assert!(
        first
            .internal
            .as_deref()
            .is_some_and(|i| i.contains("the audit entry of the added sender")),
        "{:?}",
        first.internal
    );
    let again = send(&mut w);
    assert_eq!(again.status, 200);
    assert_eq!(body(&again)["duplicate"], true);
    let list = domain::participants::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].email, "new@else.test");
    let t = thread::ticket(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    let ws = w.ws();
    let ctx = domain::ctx::Ctx {
        kv: &w.kv,
        ws: &ws,
        now: 1_000_000,
        actor: "test",
        request_id: "test",
        after: &Default::default(),
    };
    let page = thread::page(&ctx, &t, &Reader::Staff, Order::OldestFirst, None, 50).unwrap();
    let authors: Vec<_> = page
        .messages
        .iter()
        .map(|m| m.author_name.clone())
        .collect();
    assert_eq!(authors, ["Cus", "New"]);
}

/// Work after the response is data the response carries (nothing is kept
/// anywhere else): a post's text to index and the webhook delivery its
/// ledger entry created; the webhook flush's due deliveries; a refused
/// request carries nothing.
#[test]
fn after_response_work_is_carried_by_the_response() {
    let kv = Faulty::new(MemKv::new(), |_, _, _| Fault::Pass);
    let mut w = World::with(kv);
    let staff = w.staff.clone();
    let ep = w.api(
        handle_webhooks,
        "POST",
        "/api/v1/webhooks",
        r#"{"url":"https://hooks.example.com/x","event_types":["message.posted"]}"#,
    );
    assert_eq!(ep.status, 201, "{}", String::from_utf8_lossy(&ep.body));
    let r = w.api_with(
        handle_replies,
        "POST",
        "/api/v1/tickets/1/replies",
        &[(ACT_AS_HEADER, staff.as_str())],
        r#"{"body":"parcel found"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let index: Vec<_> = r
        .after
        .index
        .iter()
        .map(|j| (j.ticket, j.text.as_str(), j.public))
        .collect();
    assert_eq!(index, vec![(TicketNo(1), "parcel found", true)]);
    assert_eq!(r.after.deliver.len(), 1, "{:?}", r.after);
    let flush = w.api(handle_webhooks, "POST", "/api/v1/webhooks/flush", "");
    assert_eq!(flush.status, 202);
    assert_eq!(
        flush.after.deliver, r.after.deliver,
        "the pending delivery again"
    );
    let refused = w.api_with(
        handle_replies,
        "POST",
        "/api/v1/tickets/1/replies",
        &[(ACT_AS_HEADER, staff.as_str())],
        r#"{"body":"   "}"#,
    );
    assert_eq!(refused.status, 400);
    assert!(refused.after.is_empty(), "{:?}", refused.after);
}

/// A posted email whose audit batch fails (the numbers were taken, the
/// batch that also carries the Message-ID's done mark is refused): the
/// claim is still finished, so the provider's redelivery is a duplicate,
/// never a second post (a claim left held but not done was taken over
/// after its stale time and posted again).
#[test]
fn a_posted_email_whose_audit_batch_fails_still_finishes_its_claim() {
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Set(_) if key.contains("/audit/") => Fault::Before,
        _ => Fault::Pass,
    });
    kv.arm(false);
    let mut w = World::with(kv);
    w.kv.arm(true);
    let r = super::reply_reference(&w.kv, &w.ws());
    let to = format!("reply+{r}@mail.acme.test");
    let mail = json!({
        "From": "cus@x.test", "FromFull": {"Email": "cus@x.test", "Name": "Cus"},
        "To": to, "ToFull": [{"Email": to}],
        "Subject": "Re: Late", "MessageID": "pm-3", "TextBody": "Any news?",
        "Headers": [{"Name": "Message-ID", "Value": "<m3@x.test>"}],
    })
    .to_string();
    let send = |w: &mut World| w.postmark_mail(&mail);
    let first = send(&mut w);
    assert_eq!(
        first.status,
        201,
        "{} {:?}",
        String::from_utf8_lossy(&first.body),
        first.internal
    );
    let again = send(&mut w);
    assert_eq!(
        again.status,
        200,
        "{} {:?}",
        String::from_utf8_lossy(&again.body),
        again.internal
    );
    assert_eq!(body(&again)["duplicate"], true);
    let t = thread::ticket(&w.kv, &w.ws(), TicketNo(1)).unwrap();
    let ws = w.ws();
    let ctx = domain::ctx::Ctx {
        kv: &w.kv,
        ws: &ws,
        now: 1_000_000,
        actor: "test",
        request_id: "test",
        after: &Default::default(),
    };
    let page = thread::page(&ctx, &t, &Reader::Staff, Order::OldestFirst, None, 50).unwrap();
    let posts = page
        .messages
        .iter()
        .filter(|m| m.source.contains("Any news?"))
        .count();
    assert_eq!(posts, 1);
}
