//! Outbound webhook endpoints (admins), inbound email set-up and the
//! provider hooks' refusals, and the platform's cross-site rule.

use crate::support::*;
use serde_json::json;

#[test]
fn endpoints() {
    let create = |url: &str| key("POST /api/v1/webhooks").json(json!({"url": url}));
    run(vec![
        key("GET /api/v1/webhooks")
            .is(200)
            .expect(Expect::Pluck("/endpoints", "id", json!(["$endpoint"])))
            .expect(Expect::NotBody("whsec_")),
        as_("sam", "GET /api/v1/webhooks").refused(403, "forbidden"),
        as_("cara", "POST /api/v1/webhooks/$endpoint/rotate").refused(403, "forbidden"),
        create("https://hooks.partner.test/in")
            .is(201)
            .at("/endpoint/url", json!("https://hooks.partner.test/in"))
            .expect(Expect::Body("\"secret\":\"whsec_")),
        key("POST /api/v1/webhooks")
            .json(
                json!({"url": "https://hooks.partner.test/in", "event_types": ["ticket.created"]}),
            )
            .is(201)
            .at("/endpoint/event_types", json!(["ticket.created"])),
        key("POST /api/v1/webhooks")
            .json(json!({"url": "https://hooks.partner.test/in", "event_types": ["no.such.event"]}))
            .is(400)
            .expect(Expect::Unchanged),
        create("http://hooks.partner.test/in")
            .is(400)
            .expect(Expect::Unchanged),
        create("https://10.0.0.1/in")
            .is(400)
            .expect(Expect::Unchanged),
        create("https://127.0.0.1/in")
            .is(400)
            .expect(Expect::Unchanged),
        create("not a url").is(400).expect(Expect::Unchanged),
        key("POST /api/v1/webhooks/$endpoint/rotate")
            .is(200)
            .at("/endpoint/id", json!("$endpoint"))
            .expect(Expect::Len("/endpoint/secrets", 2))
            .expect(Expect::Body("\"secret\":\"whsec_")),
        key("POST /api/v1/webhooks/$endpoint/enable")
            .is(200)
            .at("/endpoint/disabled", json!(null)),
        key("POST /api/v1/webhooks/$endpoint/delete")
            .is(200)
            .at("/deleted", json!("$endpoint")),
        key("GET /api/v1/webhooks")
            .given(key("POST /api/v1/webhooks/$endpoint/delete").is(200))
            .expect(Expect::Len("/endpoints", 0)),
        key("POST /api/v1/webhooks/wh_abcdefghijkmnpqr/rotate").refused(404, "not_found"),
        key("POST /api/v1/webhooks/not-an-id/enable")
            .is(400)
            .expect(Expect::Unchanged),
        // Deliveries: the seeded events reached the endpoint's queue.
        key("GET /api/v1/webhooks/deliveries")
            .is(200)
            .expect(Expect::Len("/deliveries", 0)),
        key("GET /api/v1/webhooks/deliveries?endpoint=$endpoint")
            .given(
                key("POST /api/v1/tickets/1/replies")
                    .json(json!({"body": "By mail", "from_email": "cole@shop.test"})),
            )
            .is(200)
            .expect(Expect::Pluck(
                "/deliveries",
                "endpoint_id",
                json!(["$endpoint"]),
            )),
        key("POST /api/v1/webhooks/deliveries/x/redeliver").refused(400, "invalid_id"),
        key("POST /api/v1/webhooks/deliveries/999/redeliver").refused(404, "not_found"),
        key("POST /api/v1/webhooks/flush")
            .is(202)
            .at("/attempting", json!(0)),
        as_("sam", "POST /api/v1/webhooks/flush").refused(403, "forbidden"),
    ]);
}

#[test]
fn inbound_set_up_and_hook_refusals() {
    let postmark = |auth: &str, ctype: &str, body: &[u8]| {
        call("POST /hooks/postmark/acme", &[("authorization", auth)]).body(ctype, body)
    };
    let mail = json!({
        "From": "cara@shop.test", "To": "support@acme.test", "Subject": "Hello",
        "TextBody": "Where is it?", "MessageID": "m-1",
    })
    .to_string();
    let to_ticket = json!({
        "From": "cara@shop.test", "To": "$reply", "Subject": "Re: Parcel late",
        "TextBody": "Still waiting.", "MessageID": "m-2",
    })
    .to_string();
    run(vec![
        key("GET /api/v1/webhooks/inbound")
            .is(200)
            .at("/postmark/configured", json!(true))
            .at("/mailgun/configured", json!(false))
            .at(
                "/postmark/url",
                json!("https://ts.test/hooks/postmark/acme"),
            ),
        as_("sam", "GET /api/v1/webhooks/inbound").refused(403, "forbidden"),
        key("POST /api/v1/webhooks/inbound/postmark")
            .is(201)
            .at("/username", json!("inbound")),
        key("PUT /api/v1/webhooks/inbound/mailgun")
            .json(json!({"signing_key": "key-0123456789abcdef0123456789abcdef"}))
            .is(200)
            .at("/mailgun/configured", json!(true)),
        // The hook: credentials first, then the body.
        anon("POST /hooks/postmark/acme")
            .body("application/json", mail.as_bytes())
            .refused(401, "unauthenticated"),
        postmark(
            "Basic aW5ib3VuZDp3cm9uZw==",
            "application/json",
            mail.as_bytes(),
        )
        .refused(401, "unauthenticated"),
        call(
            "POST /hooks/postmark/nowhere",
            &[("authorization", "$postmark")],
        )
        .body("application/json", mail.as_bytes())
        .refused(401, "unauthenticated"),
        call(
            "POST /hooks/postmark/globex",
            &[("authorization", "$postmark")],
        )
        .body("application/json", mail.as_bytes())
        .refused(401, "unauthenticated"),
        postmark("$postmark", "text/plain", mail.as_bytes()).refused(415, "unsupported_media_type"),
        postmark(
            "$postmark",
            "application/json",
            &vec![b' '; 11 * 1024 * 1024],
        )
        .refused(413, "payload_too_large"),
        postmark("$postmark", "application/json", b"{\"From\": ")
            .is(400)
            .expect(Expect::Unchanged),
        // Mailgun is not set up in this world: nothing verifies.
        call("POST /hooks/mailgun/acme", &[])
            .body(
                "application/x-www-form-urlencoded",
                b"timestamp=1790000000&token=t&signature=00",
            )
            .is(401)
            .expect(Expect::Unchanged),
        // The right credentials: mail for no ticket is held for review...
        postmark("$postmark", "application/json", mail.as_bytes())
            .is(202)
            .at("/held", json!(1)),
        key("GET /api/v1/quarantine")
            .given(postmark("$postmark", "application/json", mail.as_bytes()).is(202))
            .is(200)
            .expect(Expect::Len("/held", 1)),
        // ...mail to a ticket's reply address from its customer is posted,
        // once.
        postmark("$postmark", "application/json", to_ticket.as_bytes())
            .given(as_("sam", "GET /api/v1/tickets/1").keep("reply", "/ticket/reply_address"))
            .is(201)
            .at("/posted/seq", json!(4))
            .at("/posted/kind", json!("customer")),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .given(as_("sam", "GET /api/v1/tickets/1").keep("reply", "/ticket/reply_address"))
            .given(postmark("$postmark", "application/json", to_ticket.as_bytes()).is(201))
            // The provider's retry of the same message: a no-op 200.
            .given(postmark("$postmark", "application/json", to_ticket.as_bytes()).is(200))
            .expect(Expect::Pluck("/messages", "seq", json!([1, 2, 3, 4]))),
    ]);
}

#[test]
fn changes_made_with_cookies_must_come_from_this_site() {
    let cookie = [("cookie", "__Host-ts_session=$cara_session")];
    let new = json!({"subject": "s", "body": "b"});
    run(vec![
        call("POST /api/v1/tickets", &cookie)
            .json(new.clone())
            .refused(403, "cross_site_request")
            .expect(Expect::Header("referrer-policy", "no-referrer")),
        call("POST /api/v1/tickets", &cookie)
            .header("origin", "https://evil.test")
            .json(new.clone())
            .refused(403, "cross_site_request"),
        call("POST /api/v1/tickets", &cookie)
            .header("sec-fetch-site", "cross-site")
            .json(new.clone())
            .refused(403, "cross_site_request"),
        call("POST /api/v1/tickets", &cookie)
            .header("origin", "https://ts.test")
            .json(new.clone())
            .is(201),
        call("POST /api/v1/tickets", &cookie)
            .header("sec-fetch-site", "same-origin")
            .json(new.clone())
            .is(201),
        call("POST /api/v1/auth/logout", &cookie).refused(403, "cross_site_request"),
        // Reads are not changes.
        call("GET /api/v1/tickets", &cookie).is(200),
        // A bearer key is no ambient credential.
        key("POST /api/v1/tickets/1/replies")
            .header("cookie", "__Host-ts_session=$cara_session")
            .header("ticketshare-act-as", "$cara")
            .json(json!({"body": "fine"}))
            .is(201),
        // The forms behind links, even without cookies.
        anon("POST $oz_invite").refused(403, "cross_site_request"),
        anon("POST $pat_link")
            .body("application/x-www-form-urlencoded", b"body=hi")
            .refused(403, "cross_site_request"),
        anon("POST $share_link")
            .body("application/x-www-form-urlencoded", b"action=send_code")
            .refused(403, "cross_site_request"),
        // Provider hooks carry no cookies: untouched.
        anon("POST /hooks/postmark/acme")
            .body("application/json", b"{}")
            .refused(401, "unauthenticated"),
    ]);
}
