//! Delegates (invitations and their pages), participants (and their
//! personal pages), external shares (and the collaborator's page): who may
//! make them, whom, and what a dead link answers.

use crate::support::*;
use serde_json::json;

const SAME: [(&str, &str); 1] = [("sec-fetch-site", "same-origin")];

#[test]
fn delegates() {
    let invite = |who: &str, t: u64, email: &str| {
        as_(who, &format!("POST /api/v1/tickets/{t}/delegates")).json(json!({"email": email}))
    };
    run(vec![
        invite("sam", 2, "dee@else.test")
            .is(201)
            .at("/delegate/user_id", json!("$dee"))
            .at("/delegate/status", json!("invited"))
            .at("/delegate/can_reply", json!(true)),
        key("POST /api/v1/tickets/2/delegates")
            .json(json!({"email": "dee@else.test", "can_reply": false}))
            .is(201)
            .at("/delegate/can_reply", json!(false)),
        // Customers invite only when the workspace allows it.
        invite("cara", 1, "oz@else.test").refused(403, "forbidden"),
        invite("cara", 1, "oz@else.test")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"customers_may_invite": true})),
            )
            .is(201),
        // ...their own tickets only, even then.
        invite("cole", 1, "oz@else.test")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"customers_may_invite": true})),
            )
            .refused(403, "forbidden"),
        // Whoever sees the ticket as a customer already cannot be invited.
        invite("sam", 1, "cole@shop.test")
            .refused(409, "conflict")
            .expect(Expect::Body("already sees")),
        key("POST /api/v1/tickets/1/delegates")
            .json(json!({"email": "cara@shop.test"}))
            .refused(409, "conflict")
            .expect(Expect::Body("already sees")),
        invite("cara", 1, "COLE@shop.test")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"customers_may_invite": true})),
            )
            .refused(409, "conflict")
            .expect(Expect::Body("already sees")),
        // Delegates are customers of the workspace.
        invite("sam", 1, "sam@acme.test").refused(400, "not_a_customer"),
        invite("sam", 1, "stranger@nowhere.test").refused(400, "not_a_customer"),
        invite("oz", 1, "dee@else.test").refused(404, "not_found"),
        as_("sam", "GET /api/v1/tickets/1/delegates")
            .is(200)
            .expect(Expect::Pluck("/delegates", "status", json!(["accepted"]))),
        as_("cara", "GET /api/v1/tickets/1/delegates")
            .is(200)
            .expect(Expect::Len("/delegates", 1)),
        as_("cole", "GET /api/v1/tickets/1/delegates").refused(403, "forbidden"),
        as_("sam", "POST /api/v1/tickets/1/delegates/$dee/revoke")
            .is(200)
            .at("/delegate/status", json!("revoked")),
        as_("cara", "POST /api/v1/tickets/1/delegates/$dee/revoke").refused(403, "forbidden"),
        as_("sam", "POST /api/v1/tickets/3/delegates/$oz/resend")
            .is(201)
            .at("/delegate/status", json!("invited")),
        as_("sam", "POST /api/v1/tickets/1/delegates/$oz/resend").refused(404, "not_found"),
    ]);
}

#[test]
fn invitation_pages() {
    run(vec![
        anon("GET $oz_invite")
            .is(200)
            .expect(Expect::HeaderHas("content-type", "text/html"))
            .expect(Expect::Body("Invoice copy"))
            .expect(Expect::Body("Accept the invitation")),
        call("POST $oz_invite", &SAME)
            .is(303)
            .expect(Expect::Header("location", "/my#3"))
            .expect(Expect::HeaderHas("set-cookie", "__Host-ts_session=")),
        // Used once: then one dead-link page, like any unknown link.
        call("POST $oz_invite", &SAME)
            .given(call("POST $oz_invite", &SAME).is(303))
            .is(404)
            .expect(Expect::Body("This link is not available")),
        anon("GET /i/acme.not-a-link")
            .is(404)
            .expect(Expect::Body("This link is not available")),
        // A revoked invitation is dead too.
        anon("GET $oz_invite")
            .given(key("POST /api/v1/tickets/3/delegates/$oz/revoke").is(200))
            .is(404)
            .expect(Expect::Body("This link is not available")),
        // The session an invitation starts reaches its ticket only.
        call("GET /api/v1/me", &[("cookie", "__Host-ts_session=$s")])
            .given(call("POST $oz_invite", &SAME).is(303).keep_cookie("s"))
            .at("/ticket_scope", json!(3)),
    ]);
}

#[test]
fn participants() {
    let add = |who: &str, email: &str| {
        as_(who, "POST /api/v1/tickets/1/participants").json(json!({"email": email}))
    };
    run(vec![
        as_("sam", "GET /api/v1/tickets/1/participants")
            .is(200)
            .expect(Expect::Pluck(
                "/participants",
                "email",
                json!(["pat@outside.test"]),
            )),
        as_("cara", "GET /api/v1/tickets/1/participants").refused(403, "forbidden"),
        add("sam", "quinn@outside.test")
            .is(201)
            .at("/participant/guest", json!(true))
            .at("/participant/can_reply", json!(true)),
        add("sam", "oz@else.test")
            .is(201)
            .at("/participant/customer_id", json!("$oz")),
        add("sam", "pat@outside.test").refused(409, "conflict"),
        add("cara", "quinn@outside.test").refused(403, "forbidden"),
        add("sam", "not an email").is(400).expect(Expect::Unchanged),
        add("sam", "quinn@outside.test")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"participants_enabled": false})),
            )
            .refused(403, "forbidden"),
        as_("sam", "POST /api/v1/tickets/1/participants/$pat/remove")
            .is(200)
            .at("/participant/removed", json!(true)),
        as_("sam", "GET /api/v1/tickets/1/participants")
            .given(as_("sam", "POST /api/v1/tickets/1/participants/$pat/remove").is(200))
            .expect(Expect::Len("/participants", 0)),
        as_(
            "sam",
            "POST /api/v1/tickets/1/participants/u_abcdefghijkmnpqr/remove",
        )
        .refused(404, "not_found"),
    ]);
}

#[test]
fn participant_pages() {
    run(vec![
        anon("GET $pat_link")
            .is(200)
            .expect(Expect::Body("Parcel late"))
            .expect(Expect::Body("It left the depot today."))
            .expect(Expect::NotBody("Courier says"))
            .expect(Expect::Body("Send reply")),
        call("POST $pat_link", &SAME)
            .body("application/x-www-form-urlencoded", b"body=From+Pat")
            .is(303)
            .expect(Expect::Header("location", "$pat_link")),
        as_("sam", "GET /api/v1/tickets/1/thread")
            .given(
                call("POST $pat_link", &SAME)
                    .body("application/x-www-form-urlencoded", b"body=From+Pat")
                    .is(303),
            )
            .expect(Expect::Body("From Pat")),
        // An empty reply is refused on the page itself.
        call("POST $pat_link", &SAME)
            .body("application/x-www-form-urlencoded", b"body=")
            .is(400)
            .expect(Expect::Body("role=\"alert\"")),
        anon("GET $pat_link")
            .given(as_("sam", "POST /api/v1/tickets/1/participants/$pat/remove").is(200))
            .is(404)
            .expect(Expect::Body("This link is not available")),
        anon("GET $pat_link")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"participants_enabled": false})),
            )
            .is(404),
        anon("GET /p/acme.not-a-link").is(404),
    ]);
}

#[test]
fn shares() {
    let share = |who: &str, t: u64| {
        as_(who, &format!("POST /api/v1/tickets/{t}/shares"))
            .json(json!({"email": "ext@partner.test", "subject": "Help"}))
    };
    run(vec![
        share("pia", 1)
            .is(201)
            .at("/share/email", json!("ext@partner.test"))
            .at("/share/state", json!("awaiting_verification"))
            .expect(Expect::Len("/replaced", 0)),
        share("ada", 1).is(201),
        key("POST /api/v1/tickets/1/shares")
            .json(json!({"email": "ext@partner.test", "subject": "Help"}))
            .is(201),
        // Staff need the permission; customers are refused (or never see it).
        share("sam", 1).refused(403, "forbidden"),
        share("cara", 1).refused(403, "forbidden"),
        share("oz", 1).refused(404, "not_found"),
        // One live link per collaborator and ticket.
        as_("pia", "POST /api/v1/tickets/1/shares")
            .json(json!({"email": "dock@carrier.test", "subject": "Again"}))
            .is(201)
            .at("/replaced", json!(["$share"])),
        as_("pia", "GET /api/v1/tickets/1/shares")
            .is(200)
            .expect(Expect::Pluck("/shares", "id", json!(["$share"]))),
        as_("sam", "GET /api/v1/tickets/1/shares").refused(403, "forbidden"),
        as_("pia", "POST /api/v1/tickets/1/shares/$share/cancel")
            .is(200)
            .at("/share/state", json!("cancelled")),
        as_("pia", "POST /api/v1/tickets/1/shares/$share/extend")
            .is(200)
            .at("/share/expires_at", json!("2026-09-24T14:13:20.000Z")),
        as_("pia", "POST /api/v1/tickets/1/shares/$share/reshare")
            .is(201)
            .at("/replaced", json!(["$share"])),
        // A share is reached through its own ticket only.
        as_("pia", "POST /api/v1/tickets/2/shares/$share/cancel").refused(404, "not_found"),
        as_(
            "pia",
            "POST /api/v1/tickets/1/shares/sh_abcdefghijkmnpqr/cancel",
        )
        .refused(404, "not_found"),
        share("pia", 99).refused(404, "not_found"),
        as_("pia", "POST /api/v1/tickets/1/shares")
            .json(json!({"email": "not an email", "subject": "Help"}))
            .is(400)
            .expect(Expect::Unchanged),
    ]);
}

#[test]
fn share_pages() {
    run(vec![
        anon("GET $share_link")
            .is(200)
            .expect(Expect::HeaderHas("content-type", "text/html"))
            .expect(Expect::Body("name=\"action\" value=\"send_code\""))
            .expect(Expect::NotBody("It left the depot today.")),
        call("POST $share_link", &SAME)
            .body("application/x-www-form-urlencoded", b"action=send_code")
            .is(200),
        // A reply without a session meets the email check.
        call("POST $share_link", &SAME)
            .body("application/x-www-form-urlencoded", b"action=reply&body=hi")
            .is(401)
            .expect(Expect::Unchanged),
        anon("GET $share_link")
            .given(as_("pia", "POST /api/v1/tickets/1/shares/$share/cancel").is(200))
            .is(404),
        anon("GET /s/acme.not-a-link").is(404),
        anon("GET /s/acme.not-a-link/files/1/att_abcdefghijkmnpqr").is(404),
    ]);
}
