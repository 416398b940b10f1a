//! Sessions on the open internet (issue 16): an invitation reaches its one
//! ticket, never the whole account; changes made with the browser's cookies,
//! and the forms of the pages behind links, are refused when they come from
//! another site; the right share code sent twice is harmless.

use serde_json::{Value, json};

use testkit::fixtures::{accept, as_cookie, customer, invite_path, login_session};
use testkit::{Resp, request, request_exact};
use testkit::{World, json_of};

/// The configured public origin of the test hosts (spin.toml's default).
const PUBLIC_ORIGIN: &str = "http://127.0.0.1:3000";
/// A sibling subdomain: same site as far as `SameSite=Lax` goes, another
/// origin all the same.
const SIBLING: &str = "https://evil.127.0.0.1.nip.io";

/// `method path` with a cookie, from the page at `origin` (an `Origin`
/// header and no `Sec-Fetch-Site`, as an older browser sends it).
fn from_origin(
    w: &World,
    origin: &str,
    cookie: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut h = vec![("Cookie", cookie), ("Origin", origin)];
    if !text.is_empty() {
        h.push(("Content-Type", "application/json"));
    }
    request(&w.host.addr, method, path, &h, text.as_bytes())
}

fn assert_cross_site_refusal(r: &Resp) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        json_of(r)["error"]["code"],
        "cross_site_request",
        "{}",
        r.text()
    );
    assert!(r.header("set-cookie").is_none());
}

fn thread_text(w: &World, t: u64) -> String {
    w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100"),
        None,
    )
    .text()
}

fn invite(w: &World, t: u64, email: &str) -> String {
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates"),
        Some(json!({ "email": email })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    invite_path(w, email)
}

#[test]
fn an_invitation_reaches_its_one_ticket_never_the_whole_account() {
    an_invitation_reaches_its_one_ticket_never_the_whole_account_on(false);
}

#[test]
fn an_invitation_reaches_its_one_ticket_never_the_whole_account_on_redis() {
    an_invitation_reaches_its_one_ticket_never_the_whole_account_on(true);
}

fn an_invitation_reaches_its_one_ticket_never_the_whole_account_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Coffee blend survey");
    let own = w.ticket(&w.outsider, "Oz's private order");
    let path = invite(&w, t, "oz@else.test");
    let (r, cookie) = accept(&w, &path);
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/my#{t}").as_str()))
    );
    let invited = cookie.expect("accepting opens the ticket on this device");

    // That ticket: read it, its thread, reply to it.
    let me = as_cookie(&w, &invited, "GET", "/api/v1/me", None);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(json_of(&me)["ticket_scope"], t);
    assert_eq!(json_of(&me)["user"]["id"], w.outsider.as_str());
    let tk = format!("/api/v1/tickets/{t}");
    assert_eq!(as_cookie(&w, &invited, "GET", &tk, None).status, 200);
    let thread = as_cookie(&w, &invited, "GET", &format!("{tk}/thread"), None);
    assert!(thread.text().contains("first message"), "{}", thread.text());
    let post = as_cookie(
        &w,
        &invited,
        "POST",
        &format!("{tk}/replies"),
        Some(json!({"body": "Delegate answer"})),
    );
    assert_eq!(post.status, 201, "{}", post.text());
    assert_eq!(json_of(&post)["message"]["author"]["kind"], "delegate");

    // Nothing else of the account: 404, as for a ticket one may not see.
    let o = format!("/api/v1/tickets/{own}");
    for (m, p, body) in [
        ("GET", o.clone(), None),
        ("GET", format!("{o}/thread"), None),
        (
            "POST",
            format!("{o}/replies"),
            Some(json!({"body": "as the account"})),
        ),
        ("GET", "/api/v1/tickets".into(), None),
        ("GET", "/api/v1/tickets?scope=delegated".into(), None),
        ("GET", "/api/v1/search?q=private".into(), None),
        (
            "POST",
            "/api/v1/tickets".into(),
            Some(json!({"subject": "Opened with an invite", "body": "x"})),
        ),
        ("GET", format!("/api/v1/users/{}", w.outsider), None),
        ("GET", format!("{tk}/delegates"), None),
    ] {
        let r = as_cookie(&w, &invited, m, &p, body);
        assert_eq!(r.status, 404, "{m} {p}: {}", r.text());
    }
    assert!(!thread_text(&w, own).contains("as the account"));
    let theirs = json_of(&w.as_(Some(&w.outsider), "GET", "/api/v1/tickets", None));
    assert_eq!(
        theirs["tickets"].as_array().unwrap().len(),
        1,
        "no ticket opened through the invitation: {theirs}"
    );

    // Signing in with a login link opens the account, the shared ticket on
    // its dashboard.
    let full = login_session(&w, &w.outsider);
    assert_eq!(as_cookie(&w, &full, "GET", &o, None).status, 200);
    let me = json_of(&as_cookie(&w, &full, "GET", "/api/v1/me", None));
    assert_eq!(me["ticket_scope"], Value::Null);
    let shared = json_of(&as_cookie(
        &w,
        &full,
        "GET",
        "/api/v1/tickets?scope=delegated",
        None,
    ));
    assert_eq!(shared["tickets"][0]["number"], t);
    assert_eq!(shared["tickets"][0]["shared"], true);

    // A browser already signed in to that account keeps its session when it
    // accepts another invitation.
    let t2 = w.ticket(&w.cust_b, "Second survey");
    let path2 = invite(&w, t2, "oz@else.test");
    let r = request(
        &w.host.addr,
        "POST",
        &path2,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &full),
        ],
        b"",
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(r.header("set-cookie").is_none(), "the session is kept");
    for n in [own, t2] {
        let p = format!("/api/v1/tickets/{n}");
        assert_eq!(as_cookie(&w, &full, "GET", &p, None).status, 200);
    }

    // Revoking ends the invitation's session on the very next request.
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates/{}/revoke", w.outsider),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(as_cookie(&w, &invited, "GET", &tk, None).status, 404);
}

#[test]
fn the_accept_form_cannot_be_posted_from_another_site() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Login CSRF");
    let d = customer(&w, "dee@x.test");
    let path = invite(&w, t, "dee@x.test");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    for r in [
        request(
            &w.host.addr,
            "POST",
            &path,
            &[form, ("Origin", SIBLING)],
            b"",
        ),
        request(
            &w.host.addr,
            "POST",
            &path,
            &[form, ("Origin", "null"), ("Sec-Fetch-Site", "cross-site")],
            b"",
        ),
        request(
            &w.host.addr,
            "POST",
            &path,
            &[form, ("Sec-Fetch-Site", "same-site")],
            b"",
        ),
        request_exact(&w.host.addr, "POST", &path, &[form], b""),
    ] {
        assert_cross_site_refusal(&r);
    }
    let list = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/delegates"),
        None,
    ));
    assert_eq!(list["delegates"][0]["user_id"], d.as_str());
    assert_eq!(
        list["delegates"][0]["status"], "invited",
        "nothing accepted"
    );
    // From the invitation page itself: accepted.
    let r = request(
        &w.host.addr,
        "POST",
        &path,
        &[form, ("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
        b"",
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(r.header("set-cookie").is_some());
}

#[test]
fn cookie_changes_from_another_site_are_refused() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Delete me not");
    let admin = login_session(&w, &w.admin);
    let tk = format!("/api/v1/tickets/{t}");

    // A page on a sibling subdomain, with the admin's cookie.
    for (m, p, body) in [
        ("POST", format!("{tk}/delete"), None),
        ("POST", format!("{tk}/purge"), None),
        (
            "POST",
            format!("{tk}/replies"),
            Some(json!({"body": "forged reply"})),
        ),
        (
            "PUT",
            "/api/v1/workspace/settings".to_string(),
            Some(json!({"customers_may_invite": true})),
        ),
        ("POST", "/api/v1/auth/logout".to_string(), None),
    ] {
        assert_cross_site_refusal(&from_origin(&w, SIBLING, &admin, m, &p, body));
    }
    let h = [("Cookie", admin.as_str())];
    let sfs_same_site = [("Cookie", admin.as_str()), ("Sec-Fetch-Site", "same-site")];
    for r in [
        request(
            &w.host.addr,
            "POST",
            &format!("{tk}/delete"),
            &sfs_same_site,
            b"",
        ),
        // No Origin and no Sec-Fetch-Site at all.
        request_exact(&w.host.addr, "POST", &format!("{tk}/delete"), &h, b""),
    ] {
        assert_cross_site_refusal(&r);
    }
    // Nothing changed: the ticket is there, the thread unchanged, the
    // setting as it was, the session alive.
    assert_eq!(as_cookie(&w, &admin, "GET", &tk, None).status, 200);
    assert!(!thread_text(&w, t).contains("forged reply"));
    let ws = json_of(&w.as_(None, "GET", "/api/v1/workspace", None));
    assert_eq!(ws["settings"]["customers_may_invite"], false);

    // A bearer key is no ambient credential: the Origin does not matter.
    let b = w.bearer();
    let r = request(
        &w.host.addr,
        "POST",
        &format!("{tk}/replies"),
        &[
            ("Authorization", &b),
            ("Ticketshare-Act-As", &w.staff),
            ("Origin", SIBLING),
            ("Content-Type", "application/json"),
        ],
        br#"{"body":"from the platform"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // The app's own pages: Origin the public origin, or Sec-Fetch-Site
    // same-origin (with Origin null, as under Referrer-Policy no-referrer).
    let r = from_origin(
        &w,
        PUBLIC_ORIGIN,
        &admin,
        "POST",
        &format!("{tk}/replies"),
        Some(json!({"body": "from the console"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request(
        &w.host.addr,
        "POST",
        &format!("{tk}/delete"),
        &[
            ("Cookie", &admin),
            ("Origin", "null"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn share_page_forms_from_another_site_are_refused() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Parcel lost");
    testkit::fixtures::share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Where is it?"}),
    );
    let link = testkit::fixtures::share_link(&w, "dock@carrier.test");
    let mut c = testkit::fixtures::Collab::new(&w, &link);
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    // Without a session: asking for a code from another site.
    let r = request(
        &w.host.addr,
        "POST",
        &link,
        &[form, ("Origin", SIBLING)],
        b"action=send_code",
    );
    assert_cross_site_refusal(&r);
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None)).to_string();
    assert!(!outbox.contains("share_code"), "no code was sent");
    c.verify("dock@carrier.test");
    let cookie = c.cookie.clone().unwrap();
    // With the collaborator's session: a reply from another site.
    for r in [
        request(
            &w.host.addr,
            "POST",
            &link,
            &[form, ("Cookie", &cookie), ("Origin", SIBLING)],
            b"action=reply&body=forged+note",
        ),
        request(
            &w.host.addr,
            "POST",
            &link,
            &[form, ("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")],
            b"action=reply&body=forged+note",
        ),
    ] {
        assert_cross_site_refusal(&r);
    }
    assert!(!thread_text(&w, t).contains("forged note"));
    // The page's own form still works.
    assert_eq!(c.reply("A real note", &[]).status, 303);
    assert!(thread_text(&w, t).contains("A real note"));
}

#[test]
fn participant_page_forms_from_another_site_are_refused() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Guests welcome");
    testkit::fixtures::enable_participants(&w, false);
    let link = testkit::fixtures::add_participant(&w, t, "guest@outside.test");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    for r in [
        request(
            &w.host.addr,
            "POST",
            &link,
            &[form, ("Origin", SIBLING)],
            b"body=forged+reply",
        ),
        request_exact(&w.host.addr, "POST", &link, &[form], b"body=forged+reply"),
    ] {
        assert_cross_site_refusal(&r);
    }
    assert!(!thread_text(&w, t).contains("forged reply"));
    let r = request(
        &w.host.addr,
        "POST",
        &link,
        &[form, ("Origin", PUBLIC_ORIGIN)],
        b"body=a+real+reply",
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(thread_text(&w, t).contains("a real reply"));
}

/// The share's state and wrong-code count, as staff see them.
fn share_state(w: &World, t: u64, email: &str) -> (String, u64) {
    let list = json_of(&w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/shares"),
        None,
    ));
    let s = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == email)
        .unwrap()
        .clone();
    (
        s["state"].as_str().unwrap().to_string(),
        s["failed_codes"].as_u64().unwrap(),
    )
}

#[test]
fn the_right_code_sent_twice_does_not_lock_the_share() {
    the_right_code_sent_twice_does_not_lock_the_share_on(false);
}

#[test]
fn the_right_code_sent_twice_does_not_lock_the_share_on_redis() {
    the_right_code_sent_twice_does_not_lock_the_share_on(true);
}

fn the_right_code_sent_twice_does_not_lock_the_share_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Double click");
    testkit::fixtures::share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Where is it?"}),
    );
    let link = testkit::fixtures::share_link(&w, "dock@carrier.test");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let sent = request(&w.host.addr, "POST", &link, &[form], b"action=send_code");
    assert_eq!(sent.status, 200, "{}", sent.text());
    // The verify form's one-time field, as the browser would send it.
    let once = sent
        .text()
        .split("name=\"once\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the verify form carries a one-time field")
        .to_string();
    let code = testkit::fixtures::code_for(&w, "dock@carrier.test");
    let body = format!("action=verify&code={code}&once={once}");
    // Verify clicked six times at once: more than the five wrong tries that
    // lock a share, were repeats counted.
    let addr = w.host.addr.clone();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                let (addr, link, body) = (addr.clone(), link.clone(), body.clone());
                s.spawn(move || request(&addr, "POST", &link, &[form], body.as_bytes()))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut cookies = Vec::new();
    for r in &answers {
        assert_eq!(r.status, 303, "{}", r.text());
        cookies.push(
            r.header("set-cookie")
                .expect("whichever answer the browser keeps signs it in")
                .split(';')
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        share_state(&w, t, "dock@carrier.test"),
        ("active".into(), 0)
    );
    for c in &cookies {
        let page = request(&w.host.addr, "GET", &link, &[("Cookie", c)], b"");
        assert_eq!(page.status, 200);
        assert!(page.text().contains("first message"), "{}", page.text());
    }
    // Another tab's form (another one-time field, or none) sending the code
    // just used: no wrong try, and no way in.
    for other in [
        format!("action=verify&code={code}&once=another-tab-0123456789"),
        format!("action=verify&code={code}"),
    ] {
        let r = request(&w.host.addr, "POST", &link, &[form], other.as_bytes());
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(r.header("set-cookie").is_none());
        assert!(r.text().contains("just used"), "{}", r.text());
    }
    assert_eq!(
        share_state(&w, t, "dock@carrier.test"),
        ("active".into(), 0)
    );
    let page = request(&w.host.addr, "GET", &link, &[("Cookie", &cookies[0])], b"");
    assert_eq!(page.status, 200, "the session it started goes on");
    // A wrong code still counts.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = request(
        &w.host.addr,
        "POST",
        &link,
        &[form],
        format!("action=verify&code={wrong}&once={once}").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        share_state(&w, t, "dock@carrier.test"),
        ("active".into(), 1)
    );
}
