//! Who sees what: customers their own tickets (and their company's),
//! staff and admins the workspace, a delegate's invitation session one
//! ticket; whatever the caller may not see answers 404, like nothing there.

use crate::support::*;
use serde_json::json;

#[test]
fn customers_see_their_own_and_their_companys_tickets() {
    run(vec![
        as_("cara", "GET /api/v1/tickets/1")
            .is(200)
            .at("/ticket/subject", json!("Parcel late"))
            // Staff-only fields stay with staff.
            .expect(Expect::NotBody("assignee_id"))
            .expect(Expect::NotBody("reply_address")),
        as_("cara", "GET /api/v1/tickets/3").is(200),
        as_("cara", "GET /api/v1/tickets/2").refused(404, "not_found"),
        as_("cara", "GET /api/v1/tickets/2/thread").refused(404, "not_found"),
        as_("cara", "GET /api/v1/tickets/99").refused(404, "not_found"),
        as_("cara", "GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([1]))),
        as_("cara", "GET /api/v1/tickets?scope=company")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([3, 1])))
            .expect(Expect::NotBody("\"queue\"")),
        // A delegate's own list holds their own tickets only.
        as_("dee", "GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Len("/tickets", 0)),
        as_("oz", "GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([4, 2]))),
        // Of no company: scope=company is their own tickets.
        as_("oz", "GET /api/v1/tickets?scope=company")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([4, 2]))),
        session("cara_session", "GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([1]))),
        as_("cara", "GET /api/v1/users/$cara").is(200),
        as_("cara", "GET /api/v1/users/$oz").refused(404, "not_found"),
        as_("cara", "GET /api/v1/search?q=refund")
            .is(200)
            .expect(Expect::Len("/tickets", 0)),
        as_("cara", "GET /api/v1/search?q=%232")
            .is(200)
            .at("/by_number", json!(true))
            .expect(Expect::Len("/tickets", 0)),
        as_("oz", "GET /api/v1/search?q=%232")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([2]))),
    ]);
}

#[test]
fn staff_and_admins_see_the_workspace() {
    run(vec![
        as_("sam", "GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([4, 3, 2, 1]))),
        key("GET /api/v1/tickets")
            .is(200)
            .expect(Expect::Len("/tickets", 4)),
        key("GET /api/v1/tickets/1").is(200),
        as_("ada", "GET /api/v1/tickets/1").is(200),
        key("GET /api/v1/tickets/999").refused(404, "not_found"),
        as_("ada", "GET /api/v1/api-keys").is(200),
        as_("sam", "PUT /api/v1/workspace/settings")
            .json(json!({"sign_replies": true}))
            .refused(403, "forbidden"),
        as_("cara", "PUT /api/v1/users")
            .json(json!({"email": "n@x.test", "name": "N", "role": "customer"}))
            .refused(403, "forbidden"),
        as_("sam", "GET /api/v1/tickets/2")
            .is(200)
            .at("/ticket/queue", json!("support"))
            .at("/ticket/assignee_id", json!(null)),
        as_("sam", "GET /api/v1/users/$oz").is(200),
        as_("sam", "GET /api/v1/search?q=refund")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([2]))),
        as_("sam", "GET /api/v1/staff")
            .is(200)
            .expect(Expect::Len("/staff", 4))
            .expect(Expect::Body("billing")),
        as_("cara", "GET /api/v1/staff").refused(403, "forbidden"),
        // Admin-only reads.
        as_("ada", "GET /api/v1/audit").is(200),
        as_("sam", "GET /api/v1/audit").refused(403, "forbidden"),
        as_("cara", "GET /api/v1/audit").refused(403, "forbidden"),
        as_("ada", "GET /api/v1/outbox").is(200),
        as_("sam", "GET /api/v1/outbox").refused(403, "forbidden"),
        as_("sam", "GET /api/v1/links").refused(403, "forbidden"),
        as_("sam", "GET /api/v1/api-keys").refused(403, "forbidden"),
        key("GET /api/v1/api-keys")
            .is(200)
            .expect(Expect::Len("/api_keys", 2))
            .expect(Expect::NotBody("secret")),
        // A ticket's audit trail: staff only.
        as_("sam", "GET /api/v1/tickets/1/audit").is(200),
        as_("cara", "GET /api/v1/tickets/1/audit").refused(403, "forbidden"),
        // Settings: admins only.
        as_("sam", "PATCH /api/v1/workspace/settings")
            .json(json!({"sign_replies": true}))
            .refused(403, "forbidden"),
        as_("cara", "PUT /api/v1/workspace/settings")
            .json(json!({}))
            .refused(403, "forbidden"),
        as_("ada", "PATCH /api/v1/workspace/settings")
            .json(json!({"sign_replies": true}))
            .is(200)
            .at("/settings/sign_replies", json!(true))
            .at("/settings/participants_enabled", json!(true)),
        as_("cara", "GET /api/v1/workspace")
            .is(200)
            .at("/id", json!("acme")),
        // Users: the platform and admins.
        as_("sam", "PUT /api/v1/users")
            .json(json!({"email": "x@y.test", "name": "X", "role": "customer"}))
            .refused(403, "forbidden"),
        key("PUT /api/v1/users")
            .json(json!({"email": "new@y.test", "name": "New", "role": "customer"}))
            .is(201)
            .at("/user/email", json!("new@y.test")),
        key("PUT /api/v1/users")
            .json(json!({"email": "OZ@else.test", "name": "Oz", "role": "customer"}))
            .is(200)
            .at("/user/id", json!("$oz")),
        as_("sam", "POST /api/v1/users/$oz/login-links").refused(403, "forbidden"),
    ]);
}

#[test]
fn workspaces_stay_apart() {
    run(vec![
        call(
            "GET /api/v1/tickets",
            &[("authorization", "Bearer $globex_key")],
        )
        .is(200)
        .expect(Expect::Pluck(
            "/tickets",
            "subject",
            json!(["Globex's own"]),
        )),
        call(
            "GET /api/v1/tickets/2",
            &[("authorization", "Bearer $globex_key")],
        )
        .refused(404, "not_found"),
        call(
            "GET /api/v1/users/$cara",
            &[("authorization", "Bearer $globex_key")],
        )
        .refused(404, "not_found"),
        call(
            "GET /api/v1/tickets/1/shares",
            &[("authorization", "Bearer $globex_key")],
        )
        .is(200)
        .expect(Expect::Len("/shares", 0)),
        call(
            "GET /api/v1/webhooks",
            &[("authorization", "Bearer $globex_key")],
        )
        .is(200)
        .expect(Expect::Len("/endpoints", 0)),
    ]);
}

#[test]
fn an_invitation_session_reaches_its_one_ticket() {
    run(vec![
        session("dee_session", "GET /api/v1/tickets/1").is(200),
        session("dee_session", "GET /api/v1/tickets/1/thread")
            .is(200)
            .expect(Expect::Len("/messages", 2)),
        session("dee_session", "POST /api/v1/tickets/1/replies")
            .json(json!({"body": "Delegate here."}))
            .is(201)
            .at("/message/author/kind", json!("delegate")),
        session("dee_session", "GET /api/v1/tickets/3").refused(404, "not_found"),
        session("dee_session", "GET /api/v1/tickets").refused(404, "not_found"),
        session("dee_session", "GET /api/v1/search?q=parcel").refused(404, "not_found"),
        session("dee_session", "GET /api/v1/tickets/1/delegates").refused(404, "not_found"),
        session("dee_session", "POST /api/v1/tickets")
            .json(json!({"subject": "Mine", "body": "new"}))
            .refused(404, "not_found"),
        // The same person acting through the platform sees their delegated
        // tickets.
        as_("dee", "GET /api/v1/tickets?scope=delegated")
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([1]))),
        // Revoked: the session reaches nothing.
        session("dee_session", "GET /api/v1/tickets/1")
            .given(key("POST /api/v1/tickets/1/delegates/$dee/revoke").is(200))
            .refused(404, "not_found"),
    ]);
}
