//! The JSON body rules every endpoint shares (content type, size, unknown
//! fields), and `Idempotency-Key` (replay, another body, a refusal that does
//! not use up its key).

use crate::support::*;
use serde_json::json;

#[test]
fn json_bodies_are_strict_in_every_component() {
    let big = format!("{{\"body\": \"{}\"}}", "x".repeat(70 * 1024));
    let mut cases = Vec::new();
    for (who, line) in [
        ("cara", "POST /api/v1/tickets"),
        ("sam", "POST /api/v1/tickets/1/replies"),
        ("sam", "POST /api/v1/tickets/1/delegates"),
        ("sam", "POST /api/v1/tickets/1/participants"),
        ("pia", "POST /api/v1/tickets/1/shares"),
        ("ada", "POST /api/v1/webhooks"),
        ("ada", "PUT /api/v1/users"),
        ("ada", "PATCH /api/v1/workspace/settings"),
        ("ada", "PUT /api/v1/webhooks/inbound/mailgun"),
        ("sam", "POST /api/v1/tickets/1/resolve"),
        ("sam", "POST /api/v1/tickets/1/transfer"),
    ] {
        cases.push(
            as_(who, line)
                .body("text/plain", b"{}")
                .refused(415, "unsupported_media_type"),
        );
        cases.push(
            as_(who, line)
                .json(json!({"no_such_field": 1}))
                .refused(400, "unknown_field"),
        );
        cases.push(
            as_(who, line)
                .body("application/json", big.as_bytes())
                .refused(413, "payload_too_large"),
        );
        cases.push(
            as_(who, line)
                .body("application/json", b"{")
                .refused(400, "invalid_json"),
        );
    }
    // No content type at all is not JSON either.
    cases.push(
        as_("cara", "POST /api/v1/tickets")
            .raw(br#"{"subject": "s", "body": "b"}"#)
            .refused(415, "unsupported_media_type"),
    );
    // A charset parameter is fine.
    cases.push(
        as_("cara", "POST /api/v1/tickets")
            .body(
                "application/json; charset=utf-8",
                br#"{"subject": "s", "body": "b"}"#,
            )
            .is(201),
    );
    cases.push(
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": "no body"}))
            .refused(400, "missing_field"),
    );
    cases.push(
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": 3, "body": "b"}))
            .refused(400, "invalid_field"),
    );
    // A settings PUT names every setting.
    cases.push(
        as_("ada", "PUT /api/v1/workspace/settings")
            .json(json!({"sign_replies": true}))
            .is(400)
            .expect(Expect::Body("participants_enabled"))
            .expect(Expect::Unchanged),
    );
    run(cases);
}

#[test]
fn idempotency_keys_replay_or_refuse() {
    let post = |body: &str| {
        as_("sam", "POST /api/v1/tickets/1/replies")
            .header("idempotency-key", "k-1")
            .json(json!({"body": body}))
    };
    run(vec![
        // The same key and body: the first answer again, nothing posted twice.
        post("Once only")
            .given(post("Once only").is(201).keep("seq", "/message/seq"))
            .is(201)
            .expect(Expect::Header("idempotent-replayed", "true"))
            .at("/message/seq", json!(4))
            .expect(Expect::Unchanged),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .given(post("Once only").is(201))
            .given(post("Once only").is(201))
            .is(200)
            .expect(Expect::Len("/messages", 4)),
        // The same key with another body.
        post("Something else")
            .given(post("Once only").is(201))
            .refused(422, "unprocessable"),
        // Keys are the caller's: another caller's same key runs.
        as_("pia", "POST /api/v1/tickets/1/replies")
            .header("idempotency-key", "k-1")
            .json(json!({"body": "Once only"}))
            .given(post("Once only").is(201))
            .is(201)
            .expect(Expect::NoHeader("idempotent-replayed"))
            .at("/message/seq", json!(5)),
        // A refusal does not use up its key.
        post("Fixed")
            .given(
                as_("sam", "POST /api/v1/tickets/1/replies")
                    .header("idempotency-key", "k-1")
                    .json(json!({"body": "x", "oops": 1}))
                    .is(400),
            )
            .is(201)
            .expect(Expect::NoHeader("idempotent-replayed")),
        // A first answer holding a secret is not replayed.
        key("POST /api/v1/api-keys")
            .header("idempotency-key", "key-1")
            .json(json!({"label": "ci"}))
            .given(
                key("POST /api/v1/api-keys")
                    .header("idempotency-key", "key-1")
                    .json(json!({"label": "ci"}))
                    .is(201),
            )
            .refused(409, "conflict")
            .expect(Expect::NotBody("tsk_")),
        as_("sam", "POST /api/v1/tickets/1/replies")
            .header("idempotency-key", "")
            .json(json!({"body": "x"}))
            .refused(400, "invalid_header"),
        as_("sam", "POST /api/v1/tickets/1/replies")
            .header("idempotency-key", &"k".repeat(256))
            .json(json!({"body": "x"}))
            .refused(400, "invalid_header"),
        as_("sam", "POST /api/v1/tickets/1/replies")
            .header("idempotency-key", "with space")
            .json(json!({"body": "x"}))
            .refused(400, "invalid_header"),
        // Every answer carries a request id.
        key("GET /api/v1/me").expect(Expect::HeaderHas("x-request-id", "")),
    ]);
}
