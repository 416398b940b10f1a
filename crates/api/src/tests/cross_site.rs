use super::prelude::*;

const ORIGIN: &str = "https://tickets.example";

fn refused(r: &Request) -> bool {
    refuse_cross_site(r, ORIGIN).is_some()
}

#[test]
fn cookie_changes_must_come_from_this_site() {
    let c = ("cookie", "__Host-ts_session=acme.x");
    let purge = "/api/v1/tickets/1/purge";
    for (headers, bad) in [
        (vec![c], true),
        (vec![c, ("origin", "https://evil.tickets.example")], true),
        (vec![c, ("origin", "null")], true),
        (vec![c, ("sec-fetch-site", "same-site")], true),
        (vec![c, ("sec-fetch-site", "cross-site")], true),
        (vec![c, ("sec-fetch-site", "same-origin")], false),
        (vec![c, ("sec-fetch-site", "none")], false),
        (vec![c, ("origin", ORIGIN)], false),
        (vec![c, ("origin", "HTTPS://Tickets.Example")], false),
        (
            vec![c, ("origin", "null"), ("sec-fetch-site", "same-origin")],
            false,
        ),
        // A bearer key is no ambient credential.
        (vec![c, ("authorization", "Bearer tsk_acme.x")], false),
        // Nothing the browser adds by itself: nothing to forge.
        (vec![], false),
    ] {
        assert_eq!(
            refused(&request("POST", purge, &headers, "")),
            bad,
            "{headers:?}"
        );
    }
    for m in ["PUT", "PATCH", "DELETE"] {
        assert!(refused(&request(m, purge, &[c], "")), "{m}");
    }
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(!refused(&request(m, purge, &[c], "")), "{m}");
    }
    let r = refuse_cross_site(&request("POST", purge, &[c], ""), ORIGIN).unwrap();
    assert_eq!(r.status, 403);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "cross_site_request");
}

#[test]
fn link_page_forms_must_come_from_this_site_even_without_cookies() {
    for path in ["/i/acme.x", "/p/acme.x", "/s/acme.x"] {
        assert!(refused(&request("POST", path, &[], "")), "{path}");
        assert!(
            !refused(&request(
                "POST",
                path,
                &[("sec-fetch-site", "same-origin")],
                ""
            )),
            "{path}"
        );
        assert!(!refused(&request("GET", path, &[], "")), "{path}");
    }
    // Inbound webhooks carry no cookies: untouched.
    assert!(!refused(&request("POST", "/hooks/postmark/acme", &[], "")));
}

#[test]
fn invitation_sessions_reach_one_ticket() {
    let no = TicketNo(7);
    for (m, p, ok) in [
        ("GET", "/api/v1/me", true),
        ("GET", "/api/v1/tickets/7", true),
        ("GET", "/api/v1/tickets/7/thread", true),
        ("POST", "/api/v1/tickets/7/replies", true),
        ("GET", "/api/v1/tickets/7/messages/2/attachments/x", true),
        ("GET", "/api/v1/tickets/8", false),
        ("POST", "/api/v1/tickets/8/replies", false),
        ("GET", "/api/v1/tickets", false),
        ("POST", "/api/v1/tickets", false),
        ("GET", "/api/v1/search", false),
        ("GET", "/api/v1/tickets/7/delegates", false),
        ("POST", "/api/v1/tickets/7/delete", false),
        ("PUT", "/api/v1/users", false),
    ] {
        assert_eq!(
            reachable_in_scope(&request(m, p, &[], ""), no),
            ok,
            "{m} {p}"
        );
    }
}
