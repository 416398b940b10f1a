//! Tickets (create, list and its pages, order details), threads (pages,
//! order, visibility) and replies (public and internal, on someone's behalf).

use crate::support::*;
use serde_json::json;

#[test]
fn opening_tickets() {
    let new = json!({"subject": "Broken lid", "body": "It arrived broken."});
    run(vec![
        as_("cara", "POST /api/v1/tickets")
            .json(new.clone())
            .is(201)
            .at("/ticket/number", json!(5))
            .at("/ticket/customer_id", json!("$cara"))
            .at("/ticket/status", json!("pending"))
            .at("/message/seq", json!(1))
            .at("/message/author/kind", json!("customer")),
        session("cara_session", "POST /api/v1/tickets")
            .json(new.clone())
            .is(201)
            .at("/ticket/customer_id", json!("$cara")),
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "$oz"}))
            .refused(403, "forbidden"),
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "order": {"number": "A-1"}}))
            .refused(403, "forbidden"),
        key("POST /api/v1/tickets")
            .json(new.clone())
            .refused(400, "missing_field"),
        key("POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "$sam"}))
            .refused(400, "invalid_field"),
        key("POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "u_abcdefghijkmnpqr"}))
            .refused(400, "unknown_user"),
        // The platform on the customer's behalf; staff as themselves.
        key("POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "$oz"}))
            .is(201)
            .at("/message/author/kind", json!("customer"))
            .at("/ticket/queue", json!("support")),
        as_("sam", "POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "$oz", "queue": "billing",
                "order": {"number": "A-1", "total": "9.90 EUR"}}))
            .is(201)
            .at("/message/author/kind", json!("staff"))
            .at("/ticket/queue", json!("billing"))
            .at("/ticket/order/number", json!("A-1")),
        key("POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": "b", "customer_id": "$oz", "queue": "No Such Queue!"}))
            .is(400)
            .expect(Expect::Unchanged),
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": "", "body": "b"}))
            .refused(400, "invalid_field"),
        as_("cara", "POST /api/v1/tickets")
            .json(json!({"subject": "s", "body": ""}))
            .is(400)
            .expect(Expect::Unchanged),
        // Staff see where email replies go.
        as_("sam", "GET /api/v1/tickets/1")
            .is(200)
            .expect(Expect::Body("@reply.ts.test")),
        as_("sam", "GET /api/v1/tickets/abc").refused(400, "invalid_id"),
    ]);
}

#[test]
fn order_details_come_from_staff() {
    let order =
        json!({"number": "A-7", "items": [{"name": "Lid", "quantity": 2}], "total": "4.00 EUR"});
    run(vec![
        as_("sam", "PUT /api/v1/tickets/1/order")
            .json(order.clone())
            .is(200)
            .at("/ticket/order/number", json!("A-7")),
        as_("sam", "GET /api/v1/tickets/1")
            .given(as_("sam", "PUT /api/v1/tickets/1/order").json(order.clone()).is(200))
            .at("/ticket/order/items/0/name", json!("Lid")),
        as_("cara", "GET /api/v1/tickets/1")
            .given(as_("sam", "PUT /api/v1/tickets/1/order").json(order.clone()).is(200))
            .expect(Expect::NotBody("A-7")),
        as_("cara", "PUT /api/v1/tickets/1/order")
            .json(order.clone())
            .refused(403, "forbidden"),
        as_("sam", "PUT /api/v1/tickets/1/order")
            .json(json!({"number": "A-7", "items": [{"name": "Lid", "quantity": 2, "colour": "red"}]}))
            .refused(400, "unknown_field"),
        as_("sam", "PUT /api/v1/tickets/1/order")
            .json(json!({"number": "X", "fields": (0..50)
                .map(|i| (format!("f{i}"), json!("v".repeat(400))))
                .collect::<serde_json::Map<_, _>>()}))
            .is(400)
            .expect(Expect::Unchanged),
        as_("sam", "PUT /api/v1/tickets/99/order")
            .json(order)
            .refused(404, "not_found"),
    ]);
}

#[test]
fn signed_replies_and_the_team_name() {
    let signed = as_("ada", "PATCH /api/v1/workspace/settings").json(json!({
        "sign_replies": true,
        "branding": {"company_name": "Acme", "brand_colour": "#aa0000"},
    }));
    let reply = as_("sam", "POST /api/v1/tickets/1/replies").json(json!({"body": "signed"}));
    run(vec![
        as_("ada", "PATCH /api/v1/workspace/settings")
            .json(json!({"branding": {"brand_colour": "red"}}))
            .refused(400, "invalid_field"),
        // Unsigned posts show the team to the customer side, signed ones
        // the person; staff always see who replied.
        as_("cara", "GET /api/v1/tickets/1/thread")
            .given(signed.clone())
            .given(reply.clone())
            .expect(Expect::Pluck(
                "/messages",
                "author",
                json!([
                    {"name": "cara", "kind": "customer"},
                    {"name": "Acme team", "kind": "staff"},
                    {"name": "sam", "kind": "staff"},
                ]),
            )),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .given(signed)
            .given(reply)
            .expect(Expect::Pluck(
                "/messages",
                "author",
                json!([
                    {"name": "cara", "kind": "customer"},
                    {"name": "sam", "kind": "staff"},
                    {"name": "sam", "kind": "staff"},
                    {"name": "sam", "kind": "staff"},
                ]),
            )),
    ]);
}

#[test]
fn lists_and_threads_page() {
    run(vec![
        key("GET /api/v1/tickets?limit=3")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([4, 3, 2])))
            .expect(Expect::HeaderHas("content-type", "application/json")),
        key("GET /api/v1/tickets?limit=3&cursor=$next")
            .given(key("GET /api/v1/tickets?limit=3").keep("next", "/next_cursor"))
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([1])))
            .at("/next_cursor", json!(null)),
        key("GET /api/v1/tickets?limit=0").refused(400, "invalid_query"),
        key("GET /api/v1/tickets?limit=1000").refused(400, "invalid_query"),
        key("GET /api/v1/tickets?limit=two").refused(400, "invalid_query"),
        key("GET /api/v1/tickets?cursor=x").refused(400, "invalid_query"),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .is(200)
            .expect(Expect::Pluck("/messages", "seq", json!([1, 2, 3])))
            .expect(Expect::Pluck(
                "/messages",
                "visibility",
                json!(["public", "public", "internal"]),
            )),
        as_("sam", "GET /api/v1/tickets/1/thread?limit=2")
            .is(200)
            .expect(Expect::Pluck("/messages", "seq", json!([1, 2]))),
        as_("sam", "GET /api/v1/tickets/1/thread?limit=2&cursor=$next")
            .given(as_("sam", "GET /api/v1/tickets/1/thread?limit=2").keep("next", "/next_cursor"))
            .is(200)
            .expect(Expect::Pluck("/messages", "seq", json!([3])))
            .at("/next_cursor", json!(null)),
        as_("sam", "GET /api/v1/tickets/1/thread?order=newest")
            .is(200)
            .expect(Expect::Pluck("/messages", "seq", json!([3, 2, 1]))),
        as_("sam", "GET /api/v1/tickets/1/thread?order=sideways").refused(400, "invalid_query"),
        as_("sam", "GET /api/v1/tickets/1/thread?limit=0").refused(400, "invalid_query"),
        // The customer side never sees internal notes.
        as_("cara", "GET /api/v1/tickets/1/thread")
            .is(200)
            .expect(Expect::Pluck("/messages", "seq", json!([1, 2])))
            .expect(Expect::NotBody("Courier says")),
        as_("cole", "GET /api/v1/tickets/1/thread")
            .is(200)
            .expect(Expect::Len("/messages", 2)),
    ]);
}

#[test]
fn replies() {
    let reply =
        |who: &str, body: serde_json::Value| as_(who, "POST /api/v1/tickets/1/replies").json(body);
    run(vec![
        reply("cara", json!({"body": "Thanks!"}))
            .is(201)
            .at("/message/seq", json!(4))
            .at("/message/author/kind", json!("customer"))
            .at("/message/visibility", json!("public")),
        // A customer of the ticket's company replies as a customer.
        reply("cole", json!({"body": "Me too."}))
            .is(201)
            .at("/message/author/kind", json!("customer")),
        reply("oz", json!({"body": "Not mine."})).refused(404, "not_found"),
        reply("sam", json!({"body": "Looking.", "visibility": "internal"}))
            .is(201)
            .at("/message/visibility", json!("internal")),
        as_("cara", "GET /api/v1/tickets/1/thread")
            .given(reply("sam", json!({"body": "Secret note", "visibility": "internal"})).is(201))
            .expect(Expect::NotBody("Secret note"))
            .expect(Expect::Len("/messages", 2)),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .given(reply("sam", json!({"body": "Secret note", "visibility": "internal"})).is(201))
            .expect(Expect::Body("Secret note")),
        reply("cara", json!({"body": "sneaky", "visibility": "internal"}))
            .is(403)
            .expect(Expect::Unchanged),
        reply("sam", json!({"body": "x", "visibility": "secret"})).refused(400, "invalid_field"),
        reply("sam", json!({"body": ""})).is(400).expect(Expect::Unchanged),
        // Staff posting moves the ticket on (the status table).
        as_("sam", "GET /api/v1/tickets/2")
            .given(as_("sam", "POST /api/v1/tickets/2/replies").json(json!({"body": "On it."})).is(201))
            .at("/ticket/status", json!("awaiting_customer")),
        // Internal notes leave the status as it is; a colleague of the
        // customer's company replying is the client replying.
        as_("sam", "POST /api/v1/tickets/1/replies")
            .json(json!({"body": "x", "visibility": "internal"}))
            .given(as_("sam", "POST /api/v1/tickets/1/replies").json(json!({"body": "x"})))
            .is(201)
            .at("/ticket/status", json!("awaiting_customer")),
        reply("cole", json!({"body": "x"}))
            .given(as_("sam", "POST /api/v1/tickets/1/replies").json(json!({"body": "x"})))
            .is(201)
            .at("/ticket/status", json!("client_replied")),
        // The platform must act as someone, or post for an email address.
        key("POST /api/v1/tickets/1/replies")
            .json(json!({"body": "Who am I?"}))
            .refused(400, "act_as_required"),
        key("POST /api/v1/tickets/1/replies")
            .json(json!({"body": "By mail", "from_email": "pat@outside.test"}))
            .is(201)
            .at("/message/author/kind", json!("participant")),
        key("POST /api/v1/tickets/1/replies")
            .json(json!({"body": "By mail", "from_email": "COLE@shop.test"}))
            .is(201)
            .at("/message/author/kind", json!("customer")),
        key("POST /api/v1/tickets/1/replies")
            .json(json!({"body": "By mail", "from_email": "stranger@else.test"}))
            .is(403)
            .expect(Expect::Unchanged),
        key("POST /api/v1/tickets/1/replies")
            .json(json!({"body": "By mail", "from_email": "pat@outside.test", "visibility": "internal"}))
            .refused(400, "invalid_field"),
        reply("sam", json!({"body": "x", "from_email": "pat@outside.test"}))
            .refused(400, "invalid_field"),
    ]);
}

/// Presence (who else has a ticket open): staff only, a person's, a JSON
/// object or no body; a GET writes nothing.
#[test]
fn presence_is_for_staff() {
    let composing = json!({"composing": true});
    run(vec![
        as_("sam", "POST /api/v1/tickets/1/presence")
            .json(composing.clone())
            .is(200)
            .at("/viewers", json!([]))
            .at("/ttl_seconds", json!(30)),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .is(200)
            .at("/viewers", json!([])),
        as_("bo", "POST /api/v1/tickets/1/presence")
            .given(
                as_("sam", "POST /api/v1/tickets/1/presence")
                    .json(composing.clone())
                    .is(200),
            )
            .is(200)
            .at("/viewers/0/user_id", json!("$sam"))
            .at("/viewers/0/composing", json!(true)),
        key("GET /api/v1/tickets/1/presence")
            .given(as_("sam", "POST /api/v1/tickets/1/presence").is(200))
            .is(200)
            .at("/viewers/0/name", json!("sam"))
            .expect(Expect::Unchanged),
        as_("sam", "GET /api/v1/tickets/1/presence")
            .is(200)
            .expect(Expect::Unchanged),
        as_("cara", "POST /api/v1/tickets/1/presence").refused(403, "forbidden"),
        as_("cara", "GET /api/v1/tickets/1/presence").refused(403, "forbidden"),
        as_("dee", "GET /api/v1/tickets/1/presence").refused(403, "forbidden"),
        session("cara_session", "POST /api/v1/tickets/1/presence").refused(403, "forbidden"),
        session("dee_session", "POST /api/v1/tickets/1/presence").refused(403, "forbidden"),
        as_("sam", "POST /api/v1/tickets/99/presence").refused(404, "not_found"),
        as_("sam", "POST /api/v1/tickets/x/presence")
            .is(400)
            .expect(Expect::Unchanged),
        key("POST /api/v1/tickets/1/presence").refused(400, "act_as_required"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .json(json!({"composing": "yes"}))
            .refused(400, "invalid_field"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .json(json!({"composing": true, "who": "me"}))
            .refused(400, "unknown_field"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .json(json!([true]))
            .refused(400, "invalid_json"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .body("application/json", b"{\"composing\":")
            .refused(400, "invalid_json"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .body("text/plain", b"composing")
            .refused(415, "unsupported_media_type"),
        as_("sam", "POST /api/v1/tickets/1/presence")
            .json(json!({"composing": "x".repeat(2_000)}))
            .refused(413, "payload_too_large"),
    ]);
}
