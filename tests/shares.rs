//! External shares (eDesk's flow) through the host: who may share, the
//! branded share email, the email check by one-time code, the scoped
//! collaborator session, external notes with files (never shown to the
//! customer), promotion to a public reply, the lifetime to the second with
//! the test clock, cancel, re-share, lockout, view-only shares, and the one
//! neutral page of every dead link.

use serde_json::{Value, json};

use testkit::fixtures::{Collab, code_for, email, now_ms, share, share_link};
use testkit::{Resp, request};
use testkit::{World, json_of};

fn count_emails(w: &World, to: &str, kind: &str) -> usize {
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == to && e["kind"] == kind)
        .count()
}

/// `POST .../shares/<id>/<action>` as the admin.
fn share_action(w: &World, t: u64, share: &Value, action: &str) -> Resp {
    w.as_(
        Some(&w.admin),
        "POST",
        &format!(
            "/api/v1/tickets/{t}/shares/{}/{action}",
            share["id"].as_str().unwrap()
        ),
        None,
    )
}

fn shares_of(w: &World, t: u64) -> Vec<Value> {
    let r = w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/shares"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)["shares"].as_array().unwrap().clone()
}

fn assert_link_headers(r: &Resp) {
    for (h, v) in [
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-robots-tag", "noindex, nofollow"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(r.header(h), Some(v), "{h}");
    }
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("http"),
        "{csp}"
    );
}

/// Milliseconds of an RFC 3339 UTC time as the API writes it.
fn rfc3339_ms(s: &str) -> i64 {
    let (y, m, d) = (&s[0..4], &s[5..7], &s[8..10]);
    let (y, m, d): (i64, i64, i64) = (y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap());
    let (hh, mm, ss): (i64, i64, i64) = (
        s[11..13].parse().unwrap(),
        s[14..16].parse().unwrap(),
        s[17..19].parse().unwrap(),
    );
    let ms: i64 = if s.as_bytes()[19] == b'.' {
        s[20..23].parse().unwrap()
    } else {
        0
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms
}

/// Set the host's clock so that it reads `target` ms (to the second, rounded
/// as asked).
fn clock_at(w: &World, target: i64, round_up: bool) {
    let diff = target - now_ms();
    let secs = if round_up {
        diff.div_euclid(1000) + 1
    } else {
        diff.div_euclid(1000)
    };
    w.shift_clock(secs);
}

#[test]
fn a_collaborator_verifies_reads_and_replies_with_external_notes() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Parcel 42 lost");
    let other = w.ticket(&w.cust_b, "Other ticket");
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"branding": {"company_name": "Acme Shop", "brand_colour": "#aa3300"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    w.as_(
        Some(&w.staff),
        "PUT",
        &format!("/api/v1/tickets/{t}/order"),
        Some(json!({"number": "SO-4242", "total": "49.90 EUR"})),
    );
    let note = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "internal: customer is VIP", "visibility": "internal"})),
    );
    assert_eq!(note.status, 201);

    // Who may share: staff without the permission, customers, other
    // workspaces get nothing and create nothing.
    let body = json!({"email": "Dock@Carrier.test", "subject": "Where is parcel 42?", "note": "Please check **depot B** and reply here."});
    let path = format!("/api/v1/tickets/{t}/shares");
    let denied = w.as_(Some(&w.staff), "POST", &path, Some(body.clone()));
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(w.as_(Some(&w.staff), "GET", &path, None).status, 403);
    assert_eq!(
        w.as_(Some(&w.cust_a), "POST", &path, Some(body.clone()))
            .status,
        403
    );
    assert_eq!(
        w.as_(Some(&w.outsider), "POST", &path, Some(body.clone()))
            .status,
        404
    );
    for bad in [
        json!({"email": "nope", "subject": "s"}),
        json!({"email": "a@b.test", "subject": ""}),
        json!({"email": "a@b.test", "subject": "s", "extra": 1}),
        json!({"email": "a@b.test"}),
    ] {
        let r = w.as_(Some(&w.admin), "POST", &path, Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(json_of(&r)["error"]["code"].is_string());
    }
    assert!(
        shares_of(&w, t).is_empty(),
        "no share from a refused request"
    );
    // A staff member given the permission may share.
    let r = w.as_(
        None,
        "PUT",
        "/api/v1/users",
        Some(json!({"email": "sam@acme.test", "name": "sam", "role": "staff", "permissions": ["external_share"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w.as_(Some(&w.staff), "POST", &path, Some(body.clone()));
    assert_eq!(r.status, 201, "{}", r.text());
    let s = json_of(&r)["share"].clone();
    assert_eq!(s["state"], "awaiting_verification");
    assert_eq!(s["email"], "dock@carrier.test");
    assert_eq!(s["include_details"], false, "off by default");
    assert_eq!(s["can_reply"], true, "on by default");
    let created = rfc3339_ms(s["created_at"].as_str().unwrap());
    let expires = rfc3339_ms(s["expires_at"].as_str().unwrap());
    assert_eq!(expires - created, 72 * 3600 * 1000, "72 hours by default");

    // The branded email with the personal link.
    let mail = email(&w, "dock@carrier.test", "share_link");
    assert_eq!(mail["subject"], "Where is parcel 42?");
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains("background:#aa3300") && html.contains("Acme Shop"),
        "{html}"
    );
    assert!(mail["text"].as_str().unwrap().contains("depot B"));
    let link = share_link(&w, "dock@carrier.test");
    assert!(link.starts_with("/s/acme."));
    let token = link.rsplit('.').next().unwrap().to_string();

    // GET shows the email check and changes nothing, however often.
    let mut c = Collab::new(&w, &link);
    for _ in 0..3 {
        let page = c.get();
        assert_eq!(page.status, 200);
        assert_link_headers(&page);
        assert!(page.header("set-cookie").is_none());
        let html = page.text();
        assert!(
            html.contains("Confirm your email") && html.contains("d***@carrier.test"),
            "{html}"
        );
        assert!(
            !html.contains("first message"),
            "no thread before verifying"
        );
        assert!(
            html.contains("Acme Shop") && html.contains("/api/v1/workspaces/acme/brand.css"),
            "the page carries the workspace's branding"
        );
    }
    let css = request(
        &w.host.addr,
        "GET",
        "/api/v1/workspaces/acme/brand.css",
        &[],
        b"",
    );
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.text().contains("--brand: #aa3300"), "{}", css.text());
    assert_eq!(count_emails(&w, "dock@carrier.test", "share_code"), 0);
    assert_eq!(shares_of(&w, t)[0]["state"], "awaiting_verification");

    // A code; a second one within a minute is refused; a wrong one counted.
    assert_eq!(c.form("action=send_code").status, 200);
    let again = c.form("action=send_code");
    assert_eq!(again.status, 429);
    assert!(again.header("retry-after").is_some());
    assert_eq!(count_emails(&w, "dock@carrier.test", "share_code"), 1);
    let code = code_for(&w, "dock@carrier.test");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = c.form(&format!("action=verify&code={wrong}"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("4 tries left"), "{}", r.text());
    assert!(r.header("set-cookie").is_none());
    let r = c.form(&format!("action=verify&code={code}"));
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().to_string();
    let name = format!("__Host-ts_share_{}=", s["id"].as_str().unwrap());
    assert!(cookie.starts_with(&name), "{cookie}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let session_token = c
        .cookie
        .clone()
        .unwrap()
        .rsplit('.')
        .next()
        .unwrap()
        .to_string();

    // The thread: public messages and the agent's note; no internal note,
    // no customer or order details (not ticked).
    let page = c.get();
    assert_eq!(page.status, 200);
    assert_link_headers(&page);
    let html = page.text();
    assert!(html.contains("first message"), "{html}");
    assert!(
        html.contains("<strong>depot B</strong>"),
        "the note, rendered"
    );
    assert!(!html.contains("VIP"), "never an internal note");
    assert!(
        !html.contains("cara@shop.test") && !html.contains("SO-4242"),
        "no details unless ticked"
    );
    assert!(!html.contains("Other ticket"));
    assert!(html.contains("id=\"send-note\""), "can reply");

    // An external note with formatting, a link and a file.
    let pdf = b"%PDF-1.4\nproof of delivery\n%%EOF";
    let r = c.reply(
        "Found it at **depot B**, see [tracking](https://track.example/42)",
        &[("pod.pdf", pdf)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let refused = c.reply(
        "an executable",
        &[("run.exe", b"MZ\x90\x00\x03\x00\x00\x00")],
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("may be attached"));
    // The same rendered form sent twice (double click) posts once.
    let once = "dUpLiCaTe-SuBmIt-0123456789";
    assert_eq!(c.reply_with("Sent twice?", &[], Some(once)).status, 303);
    assert_eq!(c.reply_with("Sent twice?", &[], Some(once)).status, 303);
    assert_eq!(c.get().text().matches("Sent twice?").count(), 1);
    // Too large a form: 413, nothing posted; files without a session: refused.
    let huge = vec![b'a'; 13 * 1024 * 1024];
    let r = c.reply("too big", &[("big.txt", &huge)]);
    assert_eq!(r.status, 413, "{}", r.text().len());
    let stranger = Collab::new(&w, &link);
    let r = stranger.reply_with("no session", &[("a.txt", b"hi")], None);
    assert_eq!(r.status, 401);
    let html = c.get().text();
    assert!(!html.contains("too big") && !html.contains("no session"));
    assert!(
        html.contains("<strong>depot B</strong>, see <a href=\"https://track.example/42\""),
        "{html}"
    );
    assert!(html.contains("Your note: staff only"));
    let file_href = html
        .split("href=\"")
        .find(|s| s.contains("/files/"))
        .map(|s| s.split('"').next().unwrap().to_string())
        .expect("a file link");
    let f = c.fetch(&file_href);
    assert_eq!(f.status, 200);
    assert_eq!(f.body, pdf);
    assert_eq!(f.header("content-type"), Some("application/pdf"));
    assert!(
        f.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"pod.pdf\"")
    );
    assert_eq!(f.header("x-content-type-options"), Some("nosniff"));
    let anon = request(&w.host.addr, "GET", &file_href, &[], b"");
    assert_eq!(anon.status, 404, "files need the session");

    // Staff see it as an external note from the collaborator, with the file.
    let staff_thread = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    let m = staff_thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"].as_str().unwrap().starts_with("Found it"))
        .unwrap();
    assert_eq!(m["visibility"], "external");
    assert_eq!(m["author"]["kind"], "collaborator");
    assert_eq!(m["author"]["name"], "dock@carrier.test");
    assert_eq!(m["share_id"], s["id"]);
    let att = &m["attachments"][0];
    assert_eq!(att["name"], "pod.pdf");
    let seq = m["seq"].as_u64().unwrap();
    let att_path = format!(
        "/api/v1/tickets/{t}/messages/{seq}/attachments/{}",
        att["id"].as_str().unwrap()
    );
    let f = w.as_(Some(&w.staff), "GET", &att_path, None);
    assert_eq!(f.status, 200);
    assert_eq!(f.body, pdf);
    assert!(
        f.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );

    // Another collaborator on the same ticket never sees it (nor its file).
    share(
        &w,
        t,
        json!({"email": "rival@carrier.test", "subject": "Second opinion"}),
    );
    let mut rival = Collab::new(&w, &share_link(&w, "rival@carrier.test"));
    rival.verify("rival@carrier.test");
    let html = rival.get().text();
    assert!(
        html.contains("first message") && !html.contains("Found it"),
        "{html}"
    );
    let rival_file = file_href.replace(&link, &rival.link);
    assert_eq!(rival.fetch(&rival_file).status, 404);

    // The customer never sees it: not in the thread, not the file, not by email.
    let cust = json_of(&w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    assert!(!cust.to_string().contains("depot B"), "{cust}");
    assert_eq!(w.as_(Some(&w.cust_a), "GET", &att_path, None).status, 404);
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    for e in outbox["emails"].as_array().unwrap() {
        if e["to"] != "dock@carrier.test" {
            assert!(!e.to_string().contains("Found it"), "{e}");
        }
    }

    // Staff promote the note: now a public reply the customer sees, file too.
    let promote = format!("/api/v1/tickets/{t}/messages/{seq}/promote");
    assert_eq!(w.as_(Some(&w.cust_a), "POST", &promote, None).status, 403);
    let r = w.as_(Some(&w.staff), "POST", &promote, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let public = json_of(&r)["message"].clone();
    assert_eq!(public["visibility"], "public");
    assert_eq!(public["promoted_from"], seq);
    assert_eq!(
        w.as_(Some(&w.staff), "POST", &promote, None).status,
        409,
        "once"
    );
    let cust = json_of(&w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    assert!(cust.to_string().contains("depot B"));
    let pub_seq = public["seq"].as_u64().unwrap();
    let pub_att = format!(
        "/api/v1/tickets/{t}/messages/{pub_seq}/attachments/{}",
        att["id"].as_str().unwrap()
    );
    assert_eq!(w.as_(Some(&w.cust_a), "GET", &pub_att, None).body, pdf);
    let first_seq = 1;
    let not_external = format!("/api/v1/tickets/{t}/messages/{first_seq}/promote");
    assert_eq!(
        w.as_(Some(&w.staff), "POST", &not_external, None).status,
        409
    );

    // The collaborator's session reaches nothing else: no staff API, no
    // other ticket, not under the staff session cookie's name either.
    let share_cookie = c.cookie.clone().unwrap();
    let as_session = format!(
        "__Host-ts_session={}",
        share_cookie.split_once('=').unwrap().1
    );
    for cookie in [share_cookie.as_str(), as_session.as_str()] {
        for (m, p) in [
            ("GET", "/api/v1/tickets".to_string()),
            ("GET", format!("/api/v1/tickets/{t}/thread")),
            ("GET", format!("/api/v1/tickets/{other}/thread")),
            ("POST", format!("/api/v1/tickets/{t}/resolve")),
            ("POST", format!("/api/v1/tickets/{t}/delete")),
            ("GET", format!("/api/v1/tickets/{t}/shares")),
            ("GET", "/api/v1/me".to_string()),
        ] {
            let r = request(&w.host.addr, m, &p, &[("Cookie", cookie)], b"");
            assert_eq!(r.status, 401, "{m} {p} with {cookie}: {}", r.text());
        }
    }
    // Another share (another ticket) does not take this session.
    share(
        &w,
        other,
        json!({"email": "dock@carrier.test", "subject": "Other parcel"}),
    );
    let other_link = share_link(&w, "dock@carrier.test");
    let mut c2 = Collab::new(&w, &other_link);
    c2.cookie = Some(share_cookie.clone());
    let page = c2.get();
    assert!(
        page.text().contains("Email me a code") && !page.text().contains("Continue to the ticket"),
        "verifying on one ticket does not open another without a code"
    );
    assert!(!page.text().contains("first message") && !page.text().contains("Parcel 42"));

    // Shares list, audit ledger, and no usable secret in the store.
    let list = shares_of(&w, t);
    assert_eq!(list[0]["state"], "active");
    assert!(list[0]["last_opened_at"].is_string());
    let audit = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/audit"), None));
    let actions = testkit::actions(&audit);
    for a in [
        "share.created",
        "share.email_sent",
        "share.link_opened",
        "share.code_sent",
        "share.code_failed",
        "share.verified",
        "share.replied",
        "note.promoted",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        !audit.to_string().contains(&token),
        "no token in the ledger"
    );
    assert!(w.keys_holding(&token).is_empty(), "share token in clear");
    assert!(
        w.keys_holding(&session_token).is_empty(),
        "session token in clear"
    );
}

#[test]
fn lifetime_cancel_reshare_and_lockout_to_the_second() {
    let w = World::build_full(false, &[], &["--allow-clock-shift"]);
    let t = w.ticket(&w.cust_a, "Clocked parcel");
    let s = share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Parcel?"}),
    );
    let link = share_link(&w, "dock@carrier.test");
    let mut c = Collab::new(&w, &link);
    c.verify("dock@carrier.test");
    let expires = rfc3339_ms(s["expires_at"].as_str().unwrap());

    // 72 h − 1 s: works; 72 h + 1 s: the neutral page, for reading and posting.
    clock_at(&w, expires - 1000, false);
    let page = c.get();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("first message"));
    assert_eq!(c.reply("Checked the depot just in time", &[]).status, 303);
    clock_at(&w, expires + 1000, true);
    let dead = c.get();
    assert_eq!(dead.status, 404);
    assert_link_headers(&dead);
    assert!(
        dead.text()
            .contains("This link is no longer valid; ask the sender to share the ticket again")
    );
    assert_eq!(c.reply("late", &[]).status, 404);
    let list = shares_of(&w, t);
    assert_eq!(list[0]["state"], "expired");
    let extend = share_action(&w, t, &s, "extend");
    assert_eq!(
        extend.status, 409,
        "an expired share is shared again, not extended"
    );

    // Re-share after expiry: a new link, no code for the same collaborator
    // (one browser), a code for a second browser and for another address.
    let r = share_action(&w, t, &s, "reshare");
    assert_eq!(r.status, 201, "{}", r.text());
    let again = json_of(&r)["share"].clone();
    assert_eq!(again["state"], "active");
    let link2 = share_link(&w, "dock@carrier.test");
    assert_ne!(link2, link);
    let mut c2 = Collab::new(&w, &link2);
    let page = c2.get();
    assert!(
        page.text().contains("Continue to the ticket"),
        "{}",
        page.text()
    );
    let codes_before = count_emails(&w, "dock@carrier.test", "share_code");
    let r = c2.form("action=continue");
    assert_eq!(r.status, 303, "{}", r.text());
    let html = c2.get().text();
    assert!(html.contains("first message"));
    assert!(
        html.contains("Checked the depot just in time"),
        "a re-shared collaborator keeps their own earlier notes"
    );
    assert_eq!(
        count_emails(&w, "dock@carrier.test", "share_code"),
        codes_before,
        "no code"
    );
    let mut second_browser = Collab::new(&w, &link2);
    let page = second_browser.get();
    assert!(
        !page.text().contains("Continue to the ticket") && page.text().contains("Email me a code")
    );
    assert_eq!(second_browser.form("action=continue").status, 403);
    share(
        &w,
        t,
        json!({"email": "new@carrier.test", "subject": "Parcel?"}),
    );
    let mut c3 = Collab::new(&w, &share_link(&w, "new@carrier.test"));
    assert!(c3.get().text().contains("Email me a code"));
    assert_eq!(c3.form("action=continue").status, 403);

    // The code dies after 10 minutes: at 10 min + 1 s it is refused.
    assert_eq!(c3.form("action=send_code").status, 200);
    let code = code_for(&w, "new@carrier.test");
    let sent = rfc3339_ms(
        email(&w, "new@carrier.test", "share_code")["created_at"]
            .as_str()
            .unwrap(),
    );
    clock_at(&w, sent + 10 * 60_000 + 1000, true);
    let late = c3.form(&format!("action=verify&code={code}"));
    assert_eq!(late.status, 400, "{}", late.text());

    // Lockout: the fifth wrong code locks; the next try (even the right
    // code) meets the neutral page.
    share(
        &w,
        t,
        json!({"email": "lock@carrier.test", "subject": "Parcel?"}),
    );
    let mut c4 = Collab::new(&w, &share_link(&w, "lock@carrier.test"));
    assert_eq!(c4.form("action=send_code").status, 200);
    let code = code_for(&w, "lock@carrier.test");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in [4, 3, 2, 1] {
        let r = c4.form(&format!("action=verify&code={wrong}"));
        assert_eq!(r.status, 400);
        assert!(
            r.text().contains(&format!("{left} tr")),
            "{left}: {}",
            r.text()
        );
    }
    let fifth = c4.form(&format!("action=verify&code={wrong}"));
    assert_eq!(fifth.status, 404, "locked");
    let sixth = c4.form(&format!("action=verify&code={code}"));
    assert_eq!(sixth.status, 404);
    assert!(sixth.header("set-cookie").is_none());
    let locked = shares_of(&w, t)
        .into_iter()
        .find(|s| s["email"] == "lock@carrier.test")
        .unwrap();
    assert_eq!(locked["state"], "locked");

    // Cancel: the very next request is refused.
    let r = share_action(&w, t, &again, "cancel");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["share"]["state"], "cancelled");
    let cancelled = c2.get();
    assert_eq!(cancelled.status, 404);
    let r = share_action(&w, t, &again, "cancel");
    assert_eq!(r.status, 409);

    // Every dead link looks the same: expired, cancelled, locked, unknown.
    let unknown = Collab::new(&w, "/s/acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").get();
    let garbage = Collab::new(&w, "/s/not-a-link").get();
    let locked_page = c4.get();
    let expired = Collab::new(&w, &link).get();
    for r in [
        &cancelled,
        &unknown,
        &garbage,
        &locked_page,
        &expired,
        &fifth,
        &sixth,
    ] {
        assert_eq!(r.status, 404);
        assert_eq!(r.body, dead.body, "byte-identical");
    }
    let audit = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/audit"), None));
    let text = audit.to_string();
    assert_eq!(
        text.matches("share.expired").count(),
        1,
        "expiry recorded once"
    );
    for a in ["share.reshared", "share.cancelled", "share.locked"] {
        assert!(text.contains(a), "{a}");
    }
}

#[test]
fn view_only_shares_details_and_tickets_that_end() {
    let w = World::build_full(false, &[], &["--access-log"]);
    let t = w.ticket(&w.cust_a, "Details parcel");
    w.as_(
        Some(&w.staff),
        "PUT",
        &format!("/api/v1/tickets/{t}/order"),
        Some(json!({"number": "SO-777", "items": [{"name": "Coffee", "quantity": 2}], "shipping_address": ["1 Dock Road"]})),
    );
    share(
        &w,
        t,
        json!({"email": "view@carrier.test", "subject": "Look only", "include_details": true, "can_reply": false}),
    );
    let mut c = Collab::new(&w, &share_link(&w, "view@carrier.test"));
    c.verify("view@carrier.test");
    let html = c.get().text();
    assert!(
        html.contains("SO-777") && html.contains("cara@shop.test") && html.contains("1 Dock Road"),
        "{html}"
    );
    assert!(html.contains("id=\"view-only\"") && !html.contains("id=\"send-note\""));
    let r = c.reply("let me post anyway", &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    let thread = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/thread"), None));
    assert_eq!(
        thread["messages"].as_array().unwrap().len(),
        1,
        "nothing posted"
    );
    // Bad form input: a clear refusal, nothing written.
    let r = request(
        &w.host.addr,
        "POST",
        &c.link,
        &[
            ("Content-Type", "multipart/form-data"),
            ("Cookie", c.cookie.as_deref().unwrap()),
        ],
        b"garbage",
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // A long thread: the newest messages, earlier ones a link away.
    for i in 0..55 {
        let r = w.as_(
            Some(&w.cust_a),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": format!("numbered reply {i}")})),
        );
        assert_eq!(r.status, 201);
    }
    let html = c.get().text();
    assert!(html.contains("numbered reply 54") && !html.contains("first message"));
    // Following "earlier" links walks back to the first message, each page
    // a bounded one.
    let mut html = html;
    let mut pages = 1;
    while !html.contains("first message") {
        let older = html
            .split("id=\"older\" href=\"")
            .nth(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .expect("a link to earlier messages");
        html = c.fetch(&older).text();
        assert!(!html.contains("numbered reply 54"), "{html}");
        pages += 1;
        assert!(pages < 10);
    }
    assert!(pages >= 3, "56 messages take several pages: {pages}");

    // The access log names routes, never a link or a session token.
    let token = c.link.rsplit('.').next().unwrap().to_string();
    let session = c
        .cookie
        .as_deref()
        .unwrap()
        .rsplit('.')
        .next()
        .unwrap()
        .to_string();
    let log = w.host.stderr();
    assert!(log.contains("/s/..."), "the access log is on: {log}");
    assert!(!log.contains(&token) && !log.contains(&session), "{log}");

    // Resolving with *revoke on resolve* ends the share; so does deleting.
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"revoke_on_resolve": true})),
    );
    assert_eq!(r.status, 200);
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/resolve"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r)["revoked"]["shares"].as_array().unwrap().len(),
        1
    );
    assert_eq!(c.get().status, 404);
    let t2 = w.ticket(&w.cust_a, "Deleted parcel");
    share(
        &w,
        t2,
        json!({"email": "gone@carrier.test", "subject": "Soon gone"}),
    );
    let mut c2 = Collab::new(&w, &share_link(&w, "gone@carrier.test"));
    c2.verify("gone@carrier.test");
    assert_eq!(c2.get().status, 200);
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t2}/delete"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(c2.get().status, 404);
    assert_eq!(c2.reply("after delete", &[]).status, 404);
}
