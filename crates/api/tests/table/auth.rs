//! Who is calling: API keys, act-as, sessions, the deployment token.

use crate::support::*;
use serde_json::json;

#[test]
fn credentials() {
    run(vec![
        anon("GET /api/v1/me").refused(401, "unauthenticated"),
        call(
            "GET /api/v1/me",
            &[("authorization", "Bearer tsk_acme.wrong")],
        )
        .refused(401, "unauthenticated"),
        call("GET /api/v1/me", &[("authorization", "Basic $key")]).refused(401, "unauthenticated"),
        call(
            "GET /api/v1/me",
            &[("authorization", "Bearer $admin_token")],
        )
        .refused(401, "unauthenticated"),
        key("GET /api/v1/me")
            .is(200)
            .at("/workspace", json!("acme"))
            .expect(Expect::Body("api_key_id")),
        as_("cara", "GET /api/v1/me")
            .is(200)
            .at("/user/id", json!("$cara"))
            .at("/ticket_scope", json!(null)),
        call(
            "GET /api/v1/me",
            &[
                ("authorization", "Bearer $key"),
                ("ticketshare-act-as", "u_abcdefghijkmnpqr"),
            ],
        )
        .refused(400, "unknown_user"),
        call(
            "GET /api/v1/me",
            &[
                ("authorization", "Bearer $key"),
                ("ticketshare-act-as", "not an id"),
            ],
        )
        .refused(400, "invalid_id"),
        call(
            "GET /api/v1/me",
            &[
                ("authorization", "Bearer $key"),
                ("ticketshare-act-as", "u_not-an-id"),
            ],
        )
        .refused(400, "invalid_id"),
        // A user of another workspace is unknown here.
        call(
            "GET /api/v1/me",
            &[
                ("authorization", "Bearer $key"),
                ("ticketshare-act-as", "$gus"),
            ],
        )
        .refused(400, "unknown_user"),
        call("GET /api/v1/me", &[("authorization", "Bearer $globex_key")])
            .is(200)
            .at("/workspace", json!("globex")),
        // A revoked key no longer opens anything.
        call("GET /api/v1/me", &[("authorization", "Bearer $fresh")])
            .given(
                key("POST /api/v1/api-keys")
                    .json(json!({"label": "short-lived"}))
                    .is(201)
                    .keep("fresh", "/secret")
                    .keep("fresh_id", "/api_key/id"),
            )
            .given(key("POST /api/v1/api-keys/$fresh_id/revoke").is(200))
            .refused(401, "unauthenticated"),
    ]);
}

#[test]
fn sessions() {
    run(vec![
        session("cara_session", "GET /api/v1/me")
            .is(200)
            .at("/user/id", json!("$cara"))
            .at("/ticket_scope", json!(null)),
        call(
            "GET /api/v1/me",
            &[("cookie", "__Host-ts_session=acme.bogus")],
        )
        .refused(401, "unauthenticated"),
        // Another cookie is no session.
        call("GET /api/v1/me", &[("cookie", "theme=dark")]).refused(401, "unauthenticated"),
        session("dee_session", "GET /api/v1/me")
            .is(200)
            .at("/user/id", json!("$dee"))
            .at("/ticket_scope", json!(1)),
        session("cara_session", "POST /api/v1/auth/logout")
            .is(200)
            .expect(Expect::HeaderHas("set-cookie", "Max-Age=0")),
        session("cara_session", "GET /api/v1/me")
            .given(session("cara_session", "POST /api/v1/auth/logout").is(200))
            .refused(401, "unauthenticated"),
        // A login link works once.
        anon("POST /api/v1/auth/login")
            .json(json!({"link": "$link"}))
            .is(200)
            .at("/user/id", json!("$oz"))
            .expect(Expect::HeaderHas("set-cookie", "__Host-ts_session="))
            .expect(Expect::HeaderHas(
                "set-cookie",
                "Path=/; Secure; HttpOnly; SameSite=Lax",
            ))
            .expect(Expect::HeaderLacks("set-cookie", "Domain"))
            .given(login_link("oz")),
        anon("POST /api/v1/auth/login")
            .json(json!({"link": "$link"}))
            .given(login_link("oz"))
            .given(
                anon("POST /api/v1/auth/login")
                    .json(json!({"link": "$link"}))
                    .is(200),
            )
            .refused(404, "not_found"),
        anon("POST /api/v1/auth/login")
            .json(json!({"link": "acme.nothing-like-a-link"}))
            .refused(404, "not_found"),
        // The same answer whether the address has an account or not.
        anon("POST /api/v1/auth/email-login")
            .json(json!({"workspace": "acme", "email": "nobody@else.test"}))
            .is(202)
            .at("/ok", json!(true))
            .expect(Expect::Unchanged),
        anon("POST /api/v1/auth/email-login")
            .json(json!({"workspace": "acme", "email": "cara@shop.test"}))
            .is(202)
            .at("/ok", json!(true)),
    ]);
}

/// A login link minted for `$user`, kept as `$link` (the fragment of the
/// URL the login page reads).
fn login_link(user: &str) -> Case {
    key(&format!("POST /api/v1/users/${user}/login-links"))
        .is(201)
        .keep_fragment("link", "/url")
}

#[test]
fn workspace_creation_needs_the_deployment_token() {
    let new = json!({"id": "x1", "name": "X"});
    run(vec![
        anon("POST /api/v1/workspaces")
            .json(new.clone())
            .refused(401, "unauthenticated"),
        call(
            "POST /api/v1/workspaces",
            &[("authorization", "Bearer wrong-token")],
        )
        .json(new.clone())
        .refused(401, "unauthenticated"),
        key("POST /api/v1/workspaces")
            .json(new.clone())
            .refused(401, "unauthenticated"),
        admin("POST /api/v1/workspaces")
            .json(json!({"id": "acme", "name": "Again"}))
            .refused(409, "conflict"),
        admin("POST /api/v1/workspaces")
            .json(json!({"id": "Bad Id", "name": "X"}))
            .is(400)
            .expect(Expect::Unchanged),
        admin("POST /api/v1/workspaces")
            .json(json!({"id": "x1", "name": "X", "extra": 1}))
            .refused(400, "unknown_field"),
        admin("POST /api/v1/workspaces")
            .json(new)
            .is(201)
            .at("/workspace/id", json!("x1"))
            .expect(Expect::Body("\"secret\":\"tsk_x1.")),
    ]);
}

#[test]
fn the_deployment_flush_needs_the_deployment_token() {
    let path = "POST /api/v1/webhooks/deployment-flush";
    run(vec![
        anon(path).refused(401, "unauthenticated"),
        call(path, &[("authorization", "Bearer wrong-token")]).refused(401, "unauthenticated"),
        key(path).refused(401, "unauthenticated"),
        admin(path).json(json!({})).refused(400, "invalid_body"),
        admin(path)
            .is(202)
            .at("/attempting", json!(0))
            .at("/more", json!(false)),
    ]);
}

fn admin(line: &str) -> Case {
    call(line, &[("authorization", "Bearer $admin_token")])
}

/// Every route a workspace's key or session opens: 401 without credentials
/// or with a forged session; another workspace's key never reaches this
/// workspace's user or ticket (404).
#[test]
fn every_workspace_route_needs_credentials_and_stays_in_its_workspace() {
    let mut cases = Vec::new();
    for r in api::openapi::ROUTES {
        if r.auth != api::openapi::Auth::Workspace {
            continue;
        }
        // Ticket 3: `globex` has a ticket 1 of its own.
        let path = r
            .path
            .replace("{key_id}", "key_abcdefghijkmnpqr")
            .replace("{user_id}", "$cara")
            .replace("{number}", "3");
        let line = format!("{} {path}", r.method);
        let with_body = |c: Case| if r.body { c.json(json!({})) } else { c };
        cases.push(with_body(anon(&line)).refused(401, "unauthenticated"));
        cases.push(
            with_body(call(
                &line,
                &[
                    ("cookie", "__Host-ts_session=acme.forged"),
                    ("sec-fetch-site", "same-origin"),
                ],
            ))
            .refused(401, "unauthenticated"),
        );
        if path.contains("$cara") || path.contains("/tickets/3") {
            cases.push(
                with_body(call(&line, &[("authorization", "Bearer $globex_key")]))
                    .refused(404, "not_found"),
            );
        }
    }
    assert!(cases.len() > 100, "{} cases", cases.len());
    run(cases);
}
