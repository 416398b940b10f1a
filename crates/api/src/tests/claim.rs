//! Claims on work that one request does at a time (an inbound Message-ID and
//! Mailgun token, a collaborator's reply form, a note's promotion): a
//! request that failed, died or lost the store's answers after claiming
//! never strands the work. The provider's redelivery, or sending the same
//! form again, completes it, and never twice.

use serde_json::json;

use super::prelude::*;
use domain::store::{Fault, Faulty, MemKv, Op};

const MAILGUN_KEY: &str = "key-0123456789abcdef";
/// The clock of the tests (a Mailgun timestamp, in seconds, is this / 1000).
const NOW: Millis = 1_800_000_000_000;
/// How long a claim is held before another request may take it over
/// (`inbound::DELIVERY_TAKEOVER`, the share page's `FORM_TAKEOVER`).
const TAKEOVER_FOR_TESTS: Millis = 60_000;

/// A workspace `acme` with a customer's ticket 1, Postmark and Mailgun set
/// up, and a collaborator's verified share of the ticket; writes fault by
/// `rule` once armed.
struct World {
    kv: Faulty<MemKv>,
    n: u8,
    now: Millis,
    bearer: String,
    postmark: String,
    reply_to: String,
    share: String,
    cookie: String,
}

impl World {
    fn new(rule: fn(&dyn Kv, &str, Op<'_>) -> Fault) -> Self {
        let kv = Faulty::new(MemKv::new(), rule);
        kv.arm(false);
        let mut w = World {
            kv,
            n: 0,
            now: NOW,
            bearer: String::new(),
            postmark: String::new(),
            reply_to: String::new(),
            share: String::new(),
            cookie: String::new(),
        };
        let admin = format!("Bearer {ADMIN}");
        let made = w.json(
            handle_tickets,
            "POST",
            "/api/v1/workspaces",
            &admin,
            r#"{"id":"acme","name":"Acme"}"#,
        );
        assert_eq!(made.status, 201);
        w.bearer = format!("Bearer {}", body(&made)["secret"].as_str().unwrap());
        let bearer = w.bearer.clone();
        let cus = w.json(
            handle_tickets,
            "PUT",
            "/api/v1/users",
            &bearer,
            r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
        );
        let cus = body(&cus)["user"]["id"].as_str().unwrap().to_string();
        let t = w.json(
            handle_tickets,
            "POST",
            "/api/v1/tickets",
            &bearer,
            &json!({"customer_id": cus, "subject": "Late", "body": "where is it"}).to_string(),
        );
        assert_eq!(t.status, 201);
        let pm = w.json(
            handle_webhooks,
            "POST",
            "/api/v1/webhooks/inbound/postmark",
            &bearer,
            "",
        );
        assert_eq!(pm.status, 201);
        w.postmark = body(&pm)["password"].as_str().unwrap().to_string();
        let mg = w.json(
            handle_webhooks,
            "PUT",
            "/api/v1/webhooks/inbound/mailgun",
            &bearer,
            &json!({ "signing_key": MAILGUN_KEY }).to_string(),
        );
        assert_eq!(mg.status, 200);
        let r = super::reply_reference(&w.kv, &w.ws());
        w.reply_to = format!("reply+{r}@mail.acme.test");
        // A collaborator with a live session on a share of ticket 1.
        let sharer = domain::shares::Sharer {
            id: "platform".into(),
            name: "Acme".into(),
        };
        let input = domain::shares::NewShare {
            email: "sup@parts.test".into(),
            subject: "Parts".into(),
            note: String::new(),
            include_details: false,
            can_reply: true,
        };
        let ws = w.ws();
        let ctx = domain::ctx::Ctx {
            kv: &w.kv,
            ws: &ws,
            now: NOW,
            actor: "test",
            request_id: "test",
            after: &Default::default(),
        };
        let (share, link) = domain::shares::create(
            &ctx,
            TicketNo(1),
            &sharer,
            &input,
            domain::shares::NewLink {
                lifetime: 30 * domain::time::HOUR,
                random_token: [7; 32],
                random_id: [7; 16],
            },
        )
        .unwrap();
        let code = domain::shares::issue_code(&w.kv, &w.ws(), &share, NOW, [8; 32]).unwrap();
        let share = domain::shares::verify_code(&w.kv, &w.ws(), &share.id, &code, None, NOW)
            .unwrap()
            .unwrap();
        let session = domain::shares::start_session(&w.kv, &w.ws(), &share, NOW, [10; 32]).unwrap();
        w.share = link;
        w.cookie = format!("__Host-ts_share_{}={session}", share.id);
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
        let mut env = env(&self.kv, self.now, &mut random, &after);
        let resp = f(&mut env, &request(method, path, headers, body));
        self.n = n;
        resp
    }

    fn json(
        &mut self,
        f: fn(&mut Env, &Request) -> Response,
        method: &str,
        path: &str,
        bearer: &str,
        body: &str,
    ) -> Response {
        let headers = [
            ("authorization", bearer),
            ("content-type", "application/json"),
        ];
        self.call(f, method, path, &headers, body)
    }

    /// The customer's reply by email, delivered by Postmark.
    fn postmark(&mut self, message_id: &str) -> Response {
        let auth = format!(
            "Basic {}",
            domain::token::base64_std(
                format!("{}:{}", domain::inbound::POSTMARK_USER, self.postmark).as_bytes()
            )
        );
        let mail = json!({
            "From": "cus@x.test", "FromFull": {"Email": "cus@x.test", "Name": "Cus"},
            "To": self.reply_to, "ToFull": [{"Email": self.reply_to}],
            "Subject": "Re: Late", "MessageID": "pm", "TextBody": "It came, thanks",
            "Headers": [{"Name": "Message-ID", "Value": format!("<{message_id}>")}],
        })
        .to_string();
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        self.call(
            handle_webhooks,
            "POST",
            "/hooks/postmark/acme",
            &headers,
            &mail,
        )
    }

    /// The customer's reply by email, delivered by Mailgun with `token`
    /// (a redelivery carries the same signature).
    fn mailgun(&mut self, token: &str, message_id: &str) -> Response {
        let ts = (NOW / 1000).to_string();
        let signature = domain::token::hex(&domain::token::hmac_sha256(
            MAILGUN_KEY.as_bytes(),
            format!("{ts}{token}").as_bytes(),
        ));
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let form = format!(
            "sender={}&from={}&recipient={}&subject=Re&body-plain={}&Message-Id={}&timestamp={ts}&token={token}&signature={signature}",
            enc("cus@x.test"),
            enc("Cus <cus@x.test>"),
            enc(&self.reply_to),
            enc("It came, thanks"),
            enc(&format!("<{message_id}>")),
        );
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.call(
            handle_webhooks,
            "POST",
            "/hooks/mailgun/acme",
            &headers,
            &form,
        )
    }

    /// The collaborator sends the reply form rendered with `once`.
    fn share_reply(&mut self, once: &str, text: &str) -> Response {
        let cookie = self.cookie.clone();
        let headers = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let path = format!("/s/{}", self.share);
        let form = format!("action=reply&once={once}&body={text}");
        self.call(handle_shares, "POST", &path, &headers, &form)
    }

    /// Staff promote external note `seq` to a public reply.
    fn promote(&mut self, seq: u64) -> Response {
        let bearer = self.bearer.clone();
        let path = format!("/api/v1/tickets/1/messages/{seq}/promote");
        self.json(handle_replies, "POST", &path, &bearer, "")
    }

    /// The sources of ticket 1's messages, in order.
    fn thread(&self) -> Vec<String> {
        let mut keys = self.kv.inner.keys_with_prefix("ws/acme/t/000000000001/m/");
        keys.sort();
        keys.iter()
            .filter_map(|k| domain::record::read::<Message>(&self.kv.inner, k).unwrap())
            .map(|m| m.source)
            .collect()
    }

    /// How many messages of ticket 1 read `text`.
    fn posted(&self, text: &str) -> usize {
        self.thread().iter().filter(|s| *s == text).count()
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn show(r: &Response) -> String {
    format!(
        "{} {} {:?}",
        r.status,
        String::from_utf8_lossy(&r.body),
        r.internal
    )
}

const MAILED: &str = "It came, thanks";

/// A message's post fails, and so does giving its claim back: the claim is
/// left held, as by a delivery that died. Redeliveries meet a 409 (the
/// provider retries) until the claim is stale, then one posts it, once.
#[test]
fn a_delivery_that_died_holding_its_message_id_is_taken_over() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/m/") => Fault::Before,
        // Giving the claim back: a delete before claims had holders, a
        // swap to no holder now.
        Op::Delete if key.contains("/received-id/") => Fault::Before,
        Op::Swap(v) if key.contains("/received-id/") && contains(v, br#""holder":"""#) => {
            Fault::Before
        }
        _ => Fault::Pass,
    });
    let first = w.postmark("m1@x.test");
    assert!(first.status >= 500, "{}", show(&first));
    w.kv.arm(false);
    let soon = w.postmark("m1@x.test");
    assert_eq!(soon.status, 409, "still held: {}", show(&soon));
    assert_eq!(w.posted(MAILED), 0);
    w.now += TAKEOVER_FOR_TESTS;
    let later = w.postmark("m1@x.test");
    assert_eq!(later.status, 201, "{}", show(&later));
    let again = w.postmark("m1@x.test");
    assert_eq!(again.status, 200, "{}", show(&again));
    assert_eq!(body(&again)["duplicate"], true);
    assert_eq!(w.posted(MAILED), 1);
}

/// The claim of a Message-ID lands and its answer is lost (or, a swap,
/// lands and is denied): the delivery fails or goes on, and a redelivery
/// completes it; the message is posted once either way.
#[test]
fn a_message_id_claim_whose_answer_was_lost_strands_nothing() {
    for rule in [
        (|_: &dyn Kv, key: &str, op: Op<'_>| match op {
            Op::Increment if key.contains("/received-id/") => Fault::After,
            _ => Fault::Pass,
        }) as fn(&dyn Kv, &str, Op<'_>) -> Fault,
        |_, key, op| match op {
            Op::Swap(_) if key.contains("/received-id/") => Fault::SwapDenied,
            _ => Fault::Pass,
        },
        |_, key, op| match op {
            Op::Swap(_) if key.contains("/received-id/") => Fault::After,
            _ => Fault::Pass,
        },
    ] {
        let mut w = World::new(rule);
        let first = w.postmark("m2@x.test");
        w.kv.arm(false);
        let again = w.postmark("m2@x.test");
        assert!(
            matches!((first.status, again.status), (201, 200) | (500.., 201)),
            "{} / {}",
            show(&first),
            show(&again)
        );
        assert_eq!(w.posted(MAILED), 1, "{} / {}", show(&first), show(&again));
    }
}

/// The message's write lands and its answer is lost: one read settles it,
/// so the delivery is a success and a redelivery a duplicate (an error
/// would have the provider deliver it again, and post it twice).
#[test]
fn a_delivery_whose_post_lost_its_answer_posts_once() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/m/") => Fault::After,
        _ => Fault::Pass,
    });
    let first = w.postmark("m3@x.test");
    assert_eq!(first.status, 201, "{}", show(&first));
    let again = w.postmark("m3@x.test");
    assert_eq!(again.status, 200, "{}", show(&again));
    assert_eq!(w.posted(MAILED), 1);
}

/// A held message's write lands and its answer is lost: one read settles
/// it, so the message is held once and a redelivery is a duplicate.
#[test]
fn a_held_message_whose_write_lost_its_answer_is_held_once() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/quarantine/") => Fault::After,
        _ => Fault::Pass,
    });
    // Not from the ticket's customer: held for staff.
    w.reply_to = "support@acme.test".into();
    let first = w.postmark("m5@x.test");
    assert_eq!(first.status, 202, "{}", show(&first));
    let again = w.postmark("m5@x.test");
    assert_eq!(again.status, 200, "{}", show(&again));
    let (held, _) = domain::inbound::quarantine(&w.kv, &w.ws(), None, 10).unwrap();
    assert_eq!(held.len(), 1);
}

/// A Mailgun delivery dies holding its token (the post fails, and so does
/// giving the token back): the redelivery, with the same signature, takes
/// the token over once it is stale, and posts the message once; a replay
/// after that is refused.
#[test]
fn a_mailgun_delivery_that_died_holding_its_token_is_taken_over() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/m/") => Fault::Before,
        Op::Delete => Fault::Before,
        Op::Swap(v) if contains(v, br#""holder":"""#) => Fault::Before,
        _ => Fault::Pass,
    });
    let first = w.mailgun("tok-1", "m4@x.test");
    assert!(first.status >= 500, "{}", show(&first));
    w.kv.arm(false);
    let soon = w.mailgun("tok-1", "m4@x.test");
    assert_eq!(soon.status, 409, "{}", show(&soon));
    w.now += TAKEOVER_FOR_TESTS;
    let later = w.mailgun("tok-1", "m4@x.test");
    assert_eq!(later.status, 201, "{}", show(&later));
    let replay = w.mailgun("tok-1", "m4@x.test");
    assert_eq!(replay.status, 409, "{}", show(&replay));
    assert_eq!(w.posted(MAILED), 1);
}

/// The collaborator's reply fails before its message is written (a 5xx):
/// sending the same form again posts it, once.
#[test]
fn a_share_reply_that_failed_is_posted_by_sending_the_form_again() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/m/") => Fault::Before,
        _ => Fault::Pass,
    });
    let once = "form-0123456789abcdef";
    let first = w.share_reply(once, "Found+it");
    assert!(first.status >= 500, "{}", show(&first));
    w.kv.arm(false);
    let again = w.share_reply(once, "Found+it");
    assert_eq!(again.status, 303, "{}", show(&again));
    let twice = w.share_reply(once, "Found+it");
    assert_eq!(twice.status, 303, "{}", show(&twice));
    assert_eq!(w.posted("Found it"), 1);
}

/// The collaborator's reply dies holding its form (its post fails, and so
/// does giving the form back), or the form's claim loses its answer: the
/// same form sent again redirects while the claim may still be held, then
/// posts the reply, once.
#[test]
fn a_share_reply_that_died_holding_its_form_is_posted_later_once() {
    for rule in [
        (|_: &dyn Kv, key: &str, op: Op<'_>| match op {
            Op::Set(_) if key.contains("/m/") => Fault::Before,
            Op::Delete if key.contains("/once/") => Fault::Before,
            Op::Swap(v) if key.contains("/once/") && contains(v, br#""holder":"""#) => {
                Fault::Before
            }
            _ => Fault::Pass,
        }) as fn(&dyn Kv, &str, Op<'_>) -> Fault,
        |_, key, op| match op {
            Op::Increment if key.contains("/once/") => Fault::After,
            _ => Fault::Pass,
        },
    ] {
        let mut w = World::new(rule);
        let once = "form-fedcba9876543210";
        let first = w.share_reply(once, "Found+it");
        assert!(first.status >= 500, "{}", show(&first));
        w.kv.arm(false);
        let soon = w.share_reply(once, "Found+it");
        assert!(soon.status < 400, "{}", show(&soon));
        w.now += TAKEOVER_FOR_TESTS;
        let later = w.share_reply(once, "Found+it");
        assert_eq!(later.status, 303, "{}", show(&later));
        let again = w.share_reply(once, "Found+it");
        assert_eq!(again.status, 303, "{}", show(&again));
        assert_eq!(w.posted("Found it"), 1);
    }
}

/// A promotion dies holding its claim (the post fails, and so does giving
/// the claim back): a retry is refused while the claim may still be held,
/// then promotes the note, once.
#[test]
fn a_promotion_that_died_holding_its_claim_is_done_later_once() {
    let mut w = World::new(|_, key, op| match op {
        Op::Set(_) if key.contains("/m/") => Fault::Before,
        Op::Delete if key.contains("/promoted/") => Fault::Before,
        Op::Swap(v) if key.contains("/promoted/") && contains(v, br#""holder":"""#) => {
            Fault::Before
        }
        _ => Fault::Pass,
    });
    w.kv.arm(false);
    let note = w.share_reply("form-0000000000000001", "Use+part+B");
    assert_eq!(note.status, 303, "{}", show(&note));
    let seq = w.thread().len() as u64;
    w.kv.arm(true);
    let first = w.promote(seq);
    assert!(first.status >= 500, "{}", show(&first));
    w.kv.arm(false);
    let soon = w.promote(seq);
    assert_eq!(soon.status, 409, "{}", show(&soon));
    w.now += TAKEOVER_FOR_TESTS;
    let later = w.promote(seq);
    assert_eq!(later.status, 201, "{}", show(&later));
    let again = w.promote(seq);
    assert_eq!(again.status, 409, "{}", show(&again));
    assert_eq!(w.posted("Use part B"), 2, "the note and its one promotion");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
