//! Staff actions on a ticket: accept, return, transfer, read markers,
//! resolve, reopen, delete, purge; and the inbox views they move it between.

use crate::support::*;
use serde_json::json;

fn act(who: &str, t: u64, action: &str) -> Case {
    as_(who, &format!("POST /api/v1/tickets/{t}/{action}"))
}

#[test]
fn accept_return_and_transfer() {
    run(vec![
        act("sam", 2, "accept")
            .is(200)
            .at("/ticket/assignee_id", json!("$sam"))
            .at("/ticket/status", json!("open"))
            .at("/already_yours", json!(false)),
        act("sam", 2, "accept")
            .given(act("sam", 2, "accept").is(200))
            .is(200)
            .at("/already_yours", json!(true))
            .expect(Expect::Unchanged),
        act("pia", 2, "accept")
            .given(act("sam", 2, "accept").is(200))
            .refused(409, "conflict")
            .expect(Expect::Body("sam took ticket #2")),
        key("POST /api/v1/tickets/2/accept").refused(400, "act_as_required"),
        act("cara", 1, "accept").refused(403, "forbidden"),
        act("cara", 2, "accept").refused(404, "not_found"),
        // Staff of one queue act on that queue's tickets only.
        act("bo", 1, "accept").refused(403, "forbidden"),
        act("bo", 4, "accept").is(200),
        act("sam", 2, "return")
            .given(act("sam", 2, "accept").is(200))
            .is(200)
            .at("/ticket/assignee_id", json!(null)),
        act("sam", 2, "return").refused(409, "conflict"),
        act("sam", 2, "transfer")
            .json(json!({"to": "$pia", "note": "Yours now"}))
            .is(200)
            .at("/ticket/assignee_id", json!("$pia")),
        act("sam", 2, "transfer")
            .json(json!({"queue": "billing"}))
            .is(200)
            .at("/ticket/queue", json!("billing")),
        act("sam", 2, "transfer")
            .json(json!({"to": "$bo"}))
            .refused(400, "invalid_field"),
        act("sam", 2, "transfer")
            .json(json!({"to": "$cara"}))
            .refused(400, "invalid_field"),
        act("sam", 2, "transfer")
            .json(json!({"to": "u_abcdefghijkmnpqr"}))
            .refused(400, "unknown_user"),
        act("sam", 2, "transfer").refused(400, "missing_field"),
        act("sam", 2, "transfer")
            .json(json!({"to": "$pia", "if_version": 999}))
            .refused(409, "conflict"),
        // Read markers belong to a person.
        act("sam", 1, "read").is(200).at("/unread", json!(false)),
        act("sam", 1, "unread").is(200).at("/unread", json!(true)),
        key("POST /api/v1/tickets/1/read").refused(400, "act_as_required"),
        // The inbox views follow.
        as_("sam", "GET /api/v1/inbox?view=working")
            .given(act("sam", 2, "accept").is(200))
            .is(200)
            .expect(Expect::Pluck("/tickets", "number", json!([2])))
            .at("/counts/working", json!(1)),
        as_("sam", "GET /api/v1/inbox")
            .is(200)
            .at("/view", json!("pending"))
            .at("/counts/pending", json!(4)),
        as_("bo", "GET /api/v1/inbox").is(200).expect(Expect::Pluck(
            "/tickets",
            "number",
            json!([4]),
        )),
        key("GET /api/v1/inbox?view=working").refused(400, "act_as_required"),
        as_("sam", "GET /api/v1/inbox?view=sideways").refused(400, "invalid_query"),
        as_("cara", "GET /api/v1/inbox").refused(403, "forbidden"),
    ]);
}

#[test]
fn resolve_reopen_delete_purge() {
    run(vec![
        act("sam", 1, "resolve")
            .json(json!({"reason": "Delivered"}))
            .is(200)
            .at("/ticket/status", json!("resolved"))
            .at("/revoked/shares", json!([])),
        // Resolved tickets are reopened before anyone works them.
        act("sam", 1, "accept")
            .given(act("sam", 1, "resolve").is(200))
            .refused(409, "conflict"),
        act("sam", 1, "reopen")
            .given(act("sam", 1, "resolve").is(200))
            .is(200)
            .at("/ticket/status", json!("open")),
        act("sam", 1, "resolve")
            .json(json!({"reason": "x".repeat(501)}))
            .refused(400, "invalid_field"),
        act("sam", 1, "resolve")
            .json(json!({"reason": "two\nlines"}))
            .refused(400, "invalid_field"),
        act("cara", 1, "resolve").refused(403, "forbidden"),
        act("oz", 1, "resolve").refused(404, "not_found"),
        act("bo", 1, "resolve").refused(403, "forbidden"),
        act("bo", 4, "resolve").is(200),
        // With revoke-on-resolve, every outside link goes.
        act("sam", 1, "resolve")
            .given(
                as_("ada", "PATCH /api/v1/workspace/settings")
                    .json(json!({"revoke_on_resolve": true})),
            )
            .is(200)
            .at("/revoked/delegates", json!(["$dee"]))
            .at("/revoked/participants", json!(["$pat"]))
            .at("/revoked/shares", json!(["$share"])),
        // Deleting always revokes them, and the ticket is gone.
        act("ada", 1, "delete")
            .is(200)
            .at("/revoked/shares", json!(["$share"])),
        as_("sam", "GET /api/v1/tickets/1")
            .given(act("ada", 1, "delete").is(200))
            .refused(404, "not_found"),
        act("ada", 1, "purge")
            .given(act("ada", 1, "delete").is(200))
            .is(200)
            .at("/purged", json!(1))
            .at("/messages_removed", json!(3)),
        act("sam", 1, "purge")
            .given(act("ada", 1, "delete").is(200))
            .refused(403, "forbidden"),
        act("ada", 1, "purge").is(409).expect(Expect::Unchanged),
    ]);
}
