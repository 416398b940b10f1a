//! Inbound email through the host: Postmark (basic credentials) and Mailgun
//! (signed form) payloads, routing by the ticket's reply address and by
//! `In-Reply-To`, quoted history stripped, the sender rules (customer,
//! same company, participant), duplicate Message-IDs posted once, unknown
//! senders auto-added or held for review (approve, discard), bad
//! credentials, signatures, stale and future timestamps, replays, and
//! malformed or oversize bodies writing nothing.

use serde_json::json;

use testkit::fixtures::{pm, postmark_url_parts, reply_address};
use testkit::{Resp, request};
use testkit::{World, json_of};

fn hmac_hex(key: &str, msg: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys;print(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha256).hexdigest())",
        ])
        .arg(key)
        .arg(msg)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn thread_texts(w: &World, t: u64) -> Vec<(String, String)> {
    let v = json_of(&w.as_(
        None,
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100"),
        None,
    ));
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["author"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set_auto_add(w: &World, on: bool) {
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"participants_enabled": true, "auto_add_senders": on})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn postmark_mail_lands_in_its_ticket_once_and_strangers_wait_for_review() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Email ticket");
    let (path, auth) = postmark_url_parts(&w);
    set_auto_add(&w, false);
    let to = reply_address(&w, t);
    assert!(to.starts_with("reply+") && to.len() > 30, "{to}");
    let customer_view = json_of(&w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{t}"),
        None,
    ));
    assert!(
        customer_view["ticket"]["reply_address"].is_null(),
        "staff only"
    );

    // Bad credentials, wrong workspace, wrong type: refused, nothing posted.
    for bad in ["Basic aW5ib3VuZDp3cm9uZw==", "Bearer x", ""] {
        let r = pm(
            &w,
            bad,
            "cara@shop.test",
            &to,
            "m0@shop.test",
            "x",
            json!([]),
        );
        assert_eq!(r.status, 401, "{bad}: {}", r.text());
        assert_eq!(json_of(&r)["error"]["code"], "unauthenticated");
    }
    let r = request(
        &w.host.addr,
        "POST",
        "/hooks/postmark/globex",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 401, "another workspace's credentials do not work");
    let r = request(
        &w.host.addr,
        "POST",
        &path,
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"{}",
    );
    assert_eq!(r.status, 415);
    let r = request(
        &w.host.addr,
        "POST",
        &path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{not json",
    );
    assert_eq!(r.status, 400);
    let big = vec![b' '; 10 * 1024 * 1024 + 10];
    let r = request(
        &w.host.addr,
        "POST",
        &path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &big,
    );
    assert_eq!(r.status, 413);
    assert_eq!(thread_texts(&w, t).len(), 1);

    // The customer, by reply address: quoted history stripped; once.
    let text =
        "It arrived, thanks!\n\nOn Mon, 30 Nov 2026, Support wrote:\n> Your parcel is on its way";
    let r = pm(
        &w,
        &auth,
        "Cara@Shop.test",
        &to,
        "m1@shop.test",
        text,
        json!([]),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let again = pm(
        &w,
        &auth,
        "cara@shop.test",
        &to,
        "m1@shop.test",
        text,
        json!([]),
    );
    assert_eq!(
        (again.status, json_of(&again)["duplicate"].as_bool()),
        (200, Some(true))
    );
    let texts = thread_texts(&w, t);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[1], ("It arrived, thanks!".into(), "customer".into()));
    let ticket = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}"), None));
    assert_eq!(ticket["ticket"]["status"], "client_replied");

    // A colleague of the same company; a participant found by In-Reply-To.
    assert_eq!(
        pm(
            &w,
            &auth,
            "cole@shop.test",
            &to,
            "m2@shop.test",
            "Same here",
            json!([])
        )
        .status,
        201
    );
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants"),
        Some(json!({"email": "guest@outside.test"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    let mail = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "guest@outside.test")
        .unwrap()
        .clone();
    assert_eq!(
        mail["reply_to"],
        to.as_str(),
        "participant emails carry the reply address"
    );
    let their_id = mail["message_id"].as_str().unwrap().to_string();
    let r = pm(
        &w,
        &auth,
        "guest@outside.test",
        "support@acme.test",
        "m3@outside.test",
        "Replying from my phone",
        json!([{"Name": "In-Reply-To", "Value": format!("<{their_id}>")}]),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let texts = thread_texts(&w, t);
    assert_eq!(texts[2].1, "customer");
    assert_eq!(
        texts[3],
        ("Replying from my phone".into(), "participant".into())
    );

    // A stranger: held, not posted; approve posts it (once), discard drops.
    let r = pm(
        &w,
        &auth,
        "stranger@else.test",
        &to,
        "m4@else.test",
        "Let me in",
        json!([]),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let held = json_of(&r)["held"].as_u64().unwrap();
    let r = pm(
        &w,
        &auth,
        "another@else.test",
        &to,
        "m5@else.test",
        "Spam spam",
        json!([]),
    );
    let spam = json_of(&r)["held"].as_u64().unwrap();
    let r = pm(
        &w,
        &auth,
        "cara@shop.test",
        "reply+nonsense@x.test",
        "m6@shop.test",
        "Which ticket?",
        json!([]),
    );
    assert_eq!(r.status, 202);
    let orphan = json_of(&r)["held"].as_u64().unwrap();
    assert_eq!(thread_texts(&w, t).len(), 4, "nothing posted silently");
    let list = json_of(&w.as_(Some(&w.staff), "GET", "/api/v1/quarantine", None));
    assert_eq!(list["held"].as_array().unwrap().len(), 3);
    assert_eq!(
        w.as_(Some(&w.cust_a), "GET", "/api/v1/quarantine", None)
            .status,
        403
    );
    let approve = |n: u64| {
        w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/quarantine/{n}/approve"),
            None,
        )
    };
    let r = approve(held);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(approve(held).status, 409, "once");
    assert_eq!(approve(orphan).status, 409, "no ticket to post to");
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/quarantine/{spam}/discard"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["held"]["state"], "discarded");
    let texts = thread_texts(&w, t);
    assert_eq!(texts.len(), 5);
    assert_eq!(texts[4], ("Let me in".into(), "participant".into()));
    assert!(!texts.iter().any(|(s, _)| s.contains("Spam")));

    // Auto-add senders: a stranger becomes a participant and is posted.
    set_auto_add(&w, true);
    let r = pm(
        &w,
        &auth,
        "newbie@else.test",
        &to,
        "m7@else.test",
        "Hello from a newcomer",
        json!([]),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ps = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/participants"),
        None,
    ));
    assert!(ps.to_string().contains("newbie@else.test"));
    // Removed from the ticket: never added back by email, held instead.
    let newbie = ps["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "newbie@else.test")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants/{newbie}/remove"),
        None,
    );
    assert_eq!(r.status, 200);
    let r = pm(
        &w,
        &auth,
        "newbie@else.test",
        &to,
        "m8@else.test",
        "Back again",
        json!([]),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // Forged senders (the provider's SPF verdict) and auto-replies: held.
    let r = pm(
        &w,
        &auth,
        "cara@shop.test",
        &to,
        "m9@forged.test",
        "Send the refund elsewhere",
        json!([{"Name": "Received-SPF", "Value": "Fail (forged.test: domain does not designate sender)"}]),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let r = pm(
        &w,
        &auth,
        "cara@shop.test",
        &to,
        "m10@shop.test",
        "I am out of office",
        json!([{"Name": "Auto-Submitted", "Value": "auto-replied"}]),
    );
    assert_eq!(r.status, 202);
    // Only quoted text: held; approving it is refused and it stays held.
    let r = pm(
        &w,
        &auth,
        "cara@shop.test",
        &to,
        "m11@shop.test",
        "> only a quote",
        json!([]),
    );
    assert_eq!(r.status, 202);
    let empty = json_of(&r)["held"].as_u64().unwrap();
    assert_eq!(approve(empty).status, 409);
    let again = json_of(&w.as_(Some(&w.staff), "GET", "/api/v1/quarantine", None));
    let h = again["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["n"] == empty)
        .unwrap()
        .clone();
    assert_eq!(h["state"], "held");
    let texts = thread_texts(&w, t);
    for not_posted in ["Back again", "refund", "out of office", "only a quote"] {
        assert!(
            !texts.iter().any(|(s, _)| s.contains(not_posted)),
            "{not_posted}"
        );
    }
    let audit = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/audit"), None));
    let actions = testkit::actions(&audit);
    for a in [
        "email.held",
        "email.approved",
        "email.discarded",
        "participant.added",
        "message.posted",
    ] {
        assert!(actions.contains(&a), "{a}");
    }
}

#[test]
fn mailgun_signatures_timestamps_and_replays() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Mailgun ticket");
    let to = reply_address(&w, t);
    let key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    assert_eq!(
        w.as_(
            Some(&w.admin),
            "PUT",
            "/api/v1/webhooks/inbound/mailgun",
            Some(json!({"signing_key": "short"}))
        )
        .status,
        400
    );
    assert_eq!(
        w.as_(
            Some(&w.staff),
            "PUT",
            "/api/v1/webhooks/inbound/mailgun",
            Some(json!({"signing_key": key}))
        )
        .status,
        403
    );
    let r = w.as_(
        Some(&w.admin),
        "PUT",
        "/api/v1/webhooks/inbound/mailgun",
        Some(json!({"signing_key": key})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let setup = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/webhooks/inbound", None));
    assert_eq!(setup["mailgun"]["configured"], true);
    assert!(
        !setup.to_string().contains(key),
        "the key is never shown back"
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let send = |ts: i64, token: &str, sig: Option<String>, msg_id: &str, text: &str| -> Resp {
        let ts = ts.to_string();
        let sig = sig.unwrap_or_else(|| hmac_hex(key, &format!("{ts}{token}")));
        let body = format!(
            "sender={}&from={}&recipient={}&subject=Re&body-plain={}&Message-Id={}&timestamp={ts}&token={token}&signature={sig}",
            enc("cara@shop.test"),
            enc("Cara <cara@shop.test>"),
            enc(&to),
            enc(text),
            enc(&format!("<{msg_id}>")),
        );
        request(
            &w.host.addr,
            "POST",
            "/hooks/mailgun/acme",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    };
    let r = send(
        now,
        "tok-1",
        None,
        "g1@shop.test",
        "Through Mailgun\n-- \nCara",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let replay = send(now, "tok-1", None, "g1b@shop.test", "Replayed");
    assert_eq!(replay.status, 409, "{}", replay.text());
    let forged = send(now, "tok-2", Some("0".repeat(64)), "g2@shop.test", "Forged");
    assert_eq!(forged.status, 401);
    let stale = send(now - 400, "tok-3", None, "g3@shop.test", "Stale");
    assert_eq!(stale.status, 400, "{}", stale.text());
    let future = send(now + 400, "tok-4", None, "g4@shop.test", "Future");
    assert_eq!(future.status, 400);
    let r = request(
        &w.host.addr,
        "POST",
        "/hooks/mailgun/acme",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 415);
    let texts = thread_texts(&w, t);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[1].0, "Through Mailgun", "the signature is stripped");
}
