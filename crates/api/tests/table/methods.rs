//! Every documented path asked with a method it does not serve: 405 with
//! exactly its methods in `Allow`, from whichever component serves it, before
//! anything else is looked at (no credentials needed). Paths nobody serves:
//! 404 `no_route`.

use crate::support::*;

/// Every documented path (parameters filled) and its `Allow`.
const ALLOW: &[(&str, &str)] = &[
    ("/api/v1/workspaces", "POST"),
    ("/api/v1/auth/login", "POST"),
    ("/api/v1/auth/email-login", "POST"),
    ("/api/v1/auth/logout", "POST"),
    ("/api/v1/me", "GET"),
    ("/api/v1/workspace", "GET"),
    ("/api/v1/workspace/settings", "PUT, PATCH"),
    ("/api/v1/workspace/logo", "PUT"),
    ("/api/v1/workspaces/acme/logo", "GET"),
    ("/api/v1/workspaces/acme/brand.css", "GET"),
    ("/api/v1/api-keys", "GET, POST"),
    ("/api/v1/api-keys/$spare_key/revoke", "POST"),
    ("/api/v1/users", "PUT"),
    ("/api/v1/users/$oz", "GET"),
    ("/api/v1/users/$oz/login-links", "POST"),
    ("/api/v1/tickets", "POST, GET"),
    ("/api/v1/tickets/1", "GET"),
    ("/api/v1/tickets/1/order", "PUT"),
    ("/api/v1/tickets/1/thread", "GET"),
    ("/api/v1/tickets/1/presence", "POST, GET"),
    ("/api/v1/tickets/1/replies", "POST"),
    ("/api/v1/tickets/1/delegates", "GET, POST"),
    ("/api/v1/tickets/1/delegates/$dee/resend", "POST"),
    ("/api/v1/tickets/1/delegates/$dee/revoke", "POST"),
    ("/api/v1/tickets/1/participants", "GET, POST"),
    ("/api/v1/tickets/1/participants/$pat/remove", "POST"),
    ("/api/v1/tickets/1/resolve", "POST"),
    ("/api/v1/tickets/1/reopen", "POST"),
    ("/api/v1/tickets/1/delete", "POST"),
    ("/api/v1/tickets/1/shares", "GET, POST"),
    ("/api/v1/tickets/1/shares/$share/cancel", "POST"),
    ("/api/v1/tickets/1/shares/$share/extend", "POST"),
    ("/api/v1/tickets/1/shares/$share/reshare", "POST"),
    ("/api/v1/tickets/1/messages/2/promote", "POST"),
    (
        "/api/v1/tickets/1/messages/1/attachments/att_abcdefghijkmnpqr",
        "GET",
    ),
    ("/api/v1/inbox", "GET"),
    ("/api/v1/inbox/reindex", "POST"),
    ("/api/v1/search", "GET"),
    ("/api/v1/staff", "GET"),
    ("/api/v1/tickets/1/accept", "POST"),
    ("/api/v1/tickets/1/transfer", "POST"),
    ("/api/v1/tickets/1/return", "POST"),
    ("/api/v1/tickets/1/read", "POST"),
    ("/api/v1/tickets/1/unread", "POST"),
    ("/api/v1/tickets/1/purge", "POST"),
    ("/api/v1/tickets/1/audit", "GET"),
    ("/api/v1/audit", "GET"),
    ("/api/v1/links", "GET"),
    ("/api/v1/outbox", "GET"),
    ("/api/v1/webhooks", "GET, POST"),
    ("/api/v1/webhooks/$endpoint/rotate", "POST"),
    ("/api/v1/webhooks/$endpoint/enable", "POST"),
    ("/api/v1/webhooks/$endpoint/delete", "POST"),
    ("/api/v1/webhooks/deliveries", "GET"),
    ("/api/v1/webhooks/deliveries/1/redeliver", "POST"),
    ("/api/v1/webhooks/flush", "POST"),
    ("/api/v1/webhooks/deployment-flush", "POST"),
    ("/api/v1/webhooks/inbound", "GET"),
    ("/api/v1/webhooks/inbound/postmark", "POST"),
    ("/api/v1/webhooks/inbound/mailgun", "PUT"),
    ("/api/v1/quarantine", "GET"),
    ("/api/v1/quarantine/1/approve", "POST"),
    ("/api/v1/quarantine/1/discard", "POST"),
    ("/hooks/postmark/acme", "POST"),
    ("/hooks/mailgun/acme", "POST"),
    ("/api/v1/openapi.json", "GET"),
];

/// `DELETE` (which no route serves) on every path, and for one-method paths
/// the other common method too, with no credentials and with the admin's.
#[test]
fn a_wrong_method_is_405_with_the_routes_allow() {
    let mut cases = Vec::new();
    for (path, allow) in ALLOW {
        let mut wrong = vec!["DELETE"];
        match *allow {
            "GET" => wrong.push("POST"),
            "POST" | "PUT" => wrong.push("GET"),
            _ => {}
        }
        for m in wrong {
            let line = format!("{m} {path}");
            cases.push(
                anon(&line)
                    .refused(405, "method_not_allowed")
                    .expect(Expect::Header("allow", allow)),
            );
            cases.push(
                as_("ada", &line)
                    .refused(405, "method_not_allowed")
                    .expect(Expect::Header("allow", allow)),
            );
        }
    }
    assert!(cases.len() > 200);
    run(cases);
}

/// The table above names every documented route.
#[test]
fn every_documented_route_has_its_405_case() {
    let w = world();
    for r in api::openapi::ROUTES {
        let filled = testkit::spec::fill_path(r.path, 1, "k", "u");
        let covered = ALLOW.iter().any(|(p, allow)| {
            let p = w.fill(p, &[]);
            let same_shape = p.split('/').count() == filled.split('/').count()
                && p.split('/').zip(filled.split('/')).all(|(a, b)| {
                    a == b
                        || !a
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.')
                });
            same_shape && allow.split(", ").any(|m| m == r.method)
        });
        assert!(covered, "{} {} has no 405 case", r.method, r.path);
    }
}

#[test]
fn paths_nobody_serves_are_404_no_route() {
    run(vec![
        key("GET /api/v1/nope").refused(404, "no_route"),
        key("POST /api/v1/nope/deeper").refused(404, "no_route"),
        key("GET /api/v1/webhooks/nope/x/y").refused(404, "no_route"),
        key("POST /api/v1/tickets/1/delegates/$dee/nope").refused(404, "no_route"),
        key("POST /api/v1/tickets/1/participants/$pat/nope").refused(404, "no_route"),
        key("POST /api/v1/tickets/1/shares/$share/nope").refused(404, "no_route"),
        key("GET /api/v1/quarantine/1/nope").refused(404, "no_route"),
        anon("POST /hooks/sendgrid/acme").refused(404, "no_route"),
        // Unauthenticated first where the component authenticates first.
        anon("GET /api/v1/nope").refused(401, "unauthenticated"),
    ]);
}

/// A path under `/api/v1/tickets/...` (or `/users/...`, `/workspace/...`)
/// that no route serves, asked by an authenticated caller, answers 404
/// `no_route`, as in every other component (it once answered 405 with
/// `Allow: GET, POST, PUT`, methods the path does not serve).
#[test]
fn an_unknown_path_under_a_ticket_is_404_no_route() {
    run(vec![
        key("GET /api/v1/tickets/1/nope").refused(404, "no_route"),
        key("GET /api/v1/tickets/1/replies/extra").refused(404, "no_route"),
        key("GET /api/v1/users/$oz/nope").refused(404, "no_route"),
        key("GET /api/v1/workspace/nope").refused(404, "no_route"),
    ]);
}

#[test]
fn link_pages_answer_a_wrong_method_with_a_page() {
    let same = [("sec-fetch-site", "same-origin")];
    run(vec![
        call("DELETE $oz_invite", &same)
            .is(405)
            .expect(Expect::HeaderHas("content-type", "text/html"))
            .expect(Expect::Unchanged),
        call("PUT $pat_link", &same)
            .is(405)
            .expect(Expect::HeaderHas("content-type", "text/html"))
            .expect(Expect::Unchanged),
    ]);
}

/// The pages behind links are served with GET, HEAD and POST; any other
/// method answers 405 with that `Allow`, as an HTML page saying what to use,
/// and changes nothing (a link that works, and one that does not). From
/// this site's own pages: from another, the cross-site rule refuses first.
#[test]
fn link_pages_refuse_other_methods_with_allow() {
    let not_allowed = |line: &str| {
        anon(line)
            .header("sec-fetch-site", "same-origin")
            .is(405)
            .expect(Expect::Header("allow", "GET, HEAD, POST"))
            .expect(Expect::HeaderHas("content-type", "text/html"))
            .expect(Expect::Body("Not allowed"))
            .expect(Expect::Unchanged)
    };
    run(vec![
        not_allowed("PUT $oz_invite"),
        not_allowed("DELETE $pat_link"),
        not_allowed("PATCH $share_link"),
        not_allowed("PUT /p/acme.not-a-link"),
    ]);
}
