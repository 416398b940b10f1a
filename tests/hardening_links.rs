//! Issue 16 hardening of links, files, emails and public branding through
//! the host: saved file names carry the extension of the sniffed type;
//! opening `/i/` and `/p/` links is recorded at most once a minute; no
//! control character reaches an email header; `brand.css` and the logo do
//! not tell which workspaces exist; promoting an external note takes the
//! *external share* permission.

use serde_json::{Value, json};

use testkit::fixtures::{Collab, share, share_link};
use testkit::{Resp, request};
use testkit::{World, json_of};

/// The ticket's audit entries whose action is `action`.
fn audit_count(w: &World, t: u64, action: &str) -> usize {
    let audit = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/audit"), None));
    testkit::actions(&audit)
        .into_iter()
        .filter(|a| *a == action)
        .count()
}

/// Shift the host's clock (from the wall clock) so that it reads about
/// `second` seconds into a minute, `minutes` whole minutes ahead.
fn clock_into_minute(w: &World, minutes: i64, second: i64) {
    let now_s = testkit::fixtures::now_ms().div_euclid(1000);
    let to_next = 60 - now_s.rem_euclid(60);
    w.shift_clock(to_next + second + 60 * minutes);
}

/// A ticket with a verified collaborator who posted an external note with
/// `files`; returns the ticket, the collaborator's browser and the note.
fn external_note<'a>(w: &'a World, files: &[(&str, &[u8])]) -> (u64, Collab<'a>, Value) {
    let t = w.ticket(&w.cust_a, "Parcel 42 lost");
    share(
        w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Where is parcel 42?"}),
    );
    let mut c = Collab::new(w, &share_link(w, "dock@carrier.test"));
    c.verify("dock@carrier.test");
    let r = c.reply("Found it, see the files", files);
    assert_eq!(r.status, 303, "{}", r.text());
    let thread = json_of(&w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    let note = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["visibility"] == "external")
        .cloned()
        .expect("the external note");
    (t, c, note)
}

#[test]
fn saved_file_names_carry_the_extension_of_the_sniffed_type() {
    saved_file_names_carry_the_extension_of_the_sniffed_type_on(false);
}

#[test]
fn saved_file_names_carry_the_extension_of_the_sniffed_type_on_redis() {
    saved_file_names_carry_the_extension_of_the_sniffed_type_on(true);
}

fn saved_file_names_carry_the_extension_of_the_sniffed_type_on(redis: bool) {
    let w = World::build(redis);
    let html: &[u8] = b"<html><script>alert(document.cookie)</script></html>";
    let svg: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
    let bat: &[u8] = b"@echo off\r\ndel /q C:\\*\r\n";
    let pdf: &[u8] = b"%PDF-1.4\nproof\n%%EOF";
    let (t, c, note) = external_note(
        &w,
        &[
            ("invoice.html", html),
            ("logo.svg", svg),
            ("update.bat", bat),
            ("proof.pdf", pdf),
        ],
    );
    let atts = note["attachments"].as_array().unwrap();
    let names: Vec<&str> = atts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["invoice.txt", "logo.txt", "update.txt", "proof.pdf"],
        "each saved name ends in its sniffed type's extension"
    );
    let seq = note["seq"].as_u64().unwrap();
    for (a, (bytes, ctype, name)) in atts.iter().zip([
        (html, "text/plain", "invoice.txt"),
        (svg, "text/plain", "logo.txt"),
        (bat, "text/plain", "update.txt"),
        (pdf, "application/pdf", "proof.pdf"),
    ]) {
        let path = format!(
            "/api/v1/tickets/{t}/messages/{seq}/attachments/{}",
            a["id"].as_str().unwrap()
        );
        let f = w.as_(Some(&w.admin), "GET", &path, None);
        assert_eq!(f.status, 200, "{}", f.text());
        assert_eq!(f.body, bytes, "the bytes are kept as sent");
        assert!(
            f.header("content-type").unwrap().starts_with(ctype),
            "{name}: {:?}",
            f.header("content-type")
        );
        let cd = f.header("content-disposition").unwrap();
        assert!(
            cd.starts_with(&format!("attachment; filename=\"{name}\"")),
            "{cd}"
        );
    }
    // The collaborator's own page links the files under the same names.
    let page = c.get().text();
    for name in ["invoice.txt", "logo.txt", "update.txt", "proof.pdf"] {
        assert!(page.contains(name), "{name} on the page");
    }
    for name in ["invoice.html", "logo.svg", "update.bat"] {
        assert!(!page.contains(name), "{name} is not offered");
    }
}

#[test]
fn opening_invite_and_participant_links_is_recorded_at_most_once_a_minute() {
    opening_invite_and_participant_links_is_recorded_at_most_once_a_minute_on(false);
}

#[test]
fn opening_invite_and_participant_links_is_recorded_at_most_once_a_minute_on_redis() {
    opening_invite_and_participant_links_is_recorded_at_most_once_a_minute_on(true);
}

fn opening_invite_and_participant_links_is_recorded_at_most_once_a_minute_on(redis: bool) {
    let mut w = World::build_full(redis, &[], &["--allow-clock-shift"]);
    let t = w.ticket(&w.cust_a, "Opened links");
    testkit::fixtures::customer(&w, "friend@shop.test");
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates"),
        Some(json!({"email": "friend@shop.test"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let invite = testkit::fixtures::invite_path(&w, "friend@shop.test");
    testkit::fixtures::enable_participants(&w, false);
    let personal = testkit::fixtures::add_participant(&w, t, "guest@outside.test");

    // A crawler opening both links again and again within one minute: one
    // entry each.
    clock_into_minute(&w, 0, 5);
    for _ in 0..6 {
        for path in [&invite, &personal] {
            for method in ["GET", "HEAD"] {
                let r = request(&w.host.addr, method, path, &[], b"");
                assert_eq!(r.status, 200, "{method} {path}");
            }
        }
    }
    assert_eq!(audit_count(&w, t, "delegate.link_opened"), 1);
    assert_eq!(audit_count(&w, t, "participant.link_opened"), 1);
    // The next minute records the opening again, once.
    clock_into_minute(&w, 1, 5);
    for _ in 0..3 {
        for path in [&invite, &personal] {
            assert_eq!(request(&w.host.addr, "GET", path, &[], b"").status, 200);
        }
    }
    assert_eq!(audit_count(&w, t, "delegate.link_opened"), 2);
    assert_eq!(audit_count(&w, t, "participant.link_opened"), 2);
    // The participant page's own poll (it sends the tag it holds, here an
    // outdated one, so the page comes whole) a minute later is not an
    // opening.
    clock_into_minute(&w, 2, 5);
    let poll = request(
        &w.host.addr,
        "GET",
        &personal,
        &[("If-None-Match", "\"0000\"")],
        b"",
    );
    assert_eq!(poll.status, 200);
    assert_eq!(audit_count(&w, t, "participant.link_opened"), 2);
    // A share link too; then every kind opened again and again over several
    // minutes: one entry per minute each, and the throttle stays one key per
    // link holder for the link's whole life (not one per minute).
    share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Opened links"}),
    );
    let shared = share_link(&w, "dock@carrier.test");
    for minute in 2..6 {
        clock_into_minute(&w, minute, 5);
        for _ in 0..3 {
            for path in [&invite, &personal, &shared] {
                assert_eq!(request(&w.host.addr, "GET", path, &[], b"").status, 200);
            }
        }
    }
    assert_eq!(audit_count(&w, t, "delegate.link_opened"), 6);
    assert_eq!(audit_count(&w, t, "participant.link_opened"), 6);
    assert_eq!(audit_count(&w, t, "share.link_opened"), 4);
    if !redis {
        let opened: Vec<String> = w
            .store_rows()
            .into_iter()
            .map(|(k, _)| k)
            // (The search index holds the subject's word "opened" too.)
            .filter(|k| k.contains("/opened") && !k.contains("/search/"))
            .collect();
        assert_eq!(opened.len(), 3, "one key per link holder: {opened:?}");
    }
    // Still only GETs: the invite is not accepted by opening it.
    let d = json_of(&w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/delegates"),
        None,
    ));
    assert_eq!(d["delegates"][0]["status"], "invited", "{d}");
}

/// Assert a refused request: 400 with a JSON error naming `field`.
fn assert_refused(r: &Resp, field: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text());
    let e = json_of(r);
    assert_eq!(e["error"]["code"], "invalid_field", "{what}: {e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains(field),
        "{what}: the message names {field}: {e}"
    );
}

#[test]
fn control_characters_never_reach_email_headers() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Headers");
    testkit::fixtures::enable_participants(&w, false);
    let outbox_before = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None))["emails"]
        .as_array()
        .unwrap()
        .len();
    let breakers = [
        "\r\nBcc: victim@evil.test",
        "\n",
        "\r",
        "\0",
        "\t",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
    ];
    for b in breakers {
        let bad = format!("Acme{b}Shop");
        // The company name (the sign-in email's subject).
        let r = w.as_(
            Some(&w.admin),
            "PATCH",
            "/api/v1/workspace/settings",
            Some(json!({"branding": {"company_name": bad}})),
        );
        assert_refused(&r, "branding.company_name", &format!("company {b:?}"));
        // A user's name and company (greetings, inviter and sharer names).
        let r = w.as_(
            None,
            "PUT",
            "/api/v1/users",
            Some(json!({"email": "new@shop.test", "name": bad, "role": "customer"})),
        );
        assert_refused(&r, "name", &format!("user name {b:?}"));
        let r = w.as_(
            None,
            "PUT",
            "/api/v1/users",
            Some(json!({"email": "new@shop.test", "name": "New", "role": "customer", "company": bad})),
        );
        assert_refused(&r, "company", &format!("user company {b:?}"));
        // A ticket's subject (the invite email's subject).
        let r = w.as_(
            Some(&w.cust_a),
            "POST",
            "/api/v1/tickets",
            Some(json!({"subject": bad, "body": "hello"})),
        );
        assert_refused(&r, "subject", &format!("ticket subject {b:?}"));
        // A share's subject (the share email's subject).
        let r = w.as_(
            Some(&w.admin),
            "POST",
            &format!("/api/v1/tickets/{t}/shares"),
            Some(json!({"email": "dock@carrier.test", "subject": bad})),
        );
        assert_refused(&r, "subject", &format!("share subject {b:?}"));
        // A participant's name.
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/participants"),
            Some(json!({"email": "guest@outside.test", "name": bad})),
        );
        assert_refused(&r, "name", &format!("participant name {b:?}"));
        // A new workspace's name.
        let r = request(
            &w.host.addr,
            "POST",
            "/api/v1/workspaces",
            &[
                ("Authorization", &format!("Bearer {}", testkit::ADMIN_TOKEN)),
                ("Content-Type", "application/json"),
            ],
            json!({"id": "initech", "name": bad}).to_string().as_bytes(),
        );
        assert_refused(&r, "name", &format!("workspace name {b:?}"));
    }
    // Nothing of it was written or sent.
    let ws = json_of(&w.as_(None, "GET", "/api/v1/workspace", None));
    assert_eq!(ws["settings"]["branding"]["company_name"], "", "{ws}");
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    assert_eq!(outbox["emails"].as_array().unwrap().len(), outbox_before);
    let r = w.as_(
        None,
        "PUT",
        "/api/v1/users",
        Some(json!({"email": "new@shop.test", "name": "New", "role": "customer"})),
    );
    assert_eq!(
        r.status,
        201,
        "the refused user was never made: {}",
        r.text()
    );
    let r = w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/shares"),
        None,
    );
    assert_eq!(json_of(&r)["shares"], json!([]));
    let r = w.as_(
        Some(&w.admin),
        "GET",
        &format!("/api/v1/tickets/{t}/participants"),
        None,
    );
    assert_eq!(json_of(&r)["participants"], json!([]), "{}", r.text());
    let r = request(
        &w.host.addr,
        "POST",
        "/api/v1/workspaces",
        &[
            ("Authorization", &format!("Bearer {}", testkit::ADMIN_TOKEN)),
            ("Content-Type", "application/json"),
        ],
        json!({"id": "initech", "name": "Initech"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        r.status,
        201,
        "the refused workspace was never claimed: {}",
        r.text()
    );

    // One-line text with quotes and accents is fine, and the sign-in email's
    // subject carries it as given.
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"branding": {"company_name": "Zoë's \u{201c}Shop\u{201d}"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        &w.host.addr,
        "POST",
        "/api/v1/auth/email-login",
        &[("Content-Type", "application/json")],
        json!({"workspace": "acme", "email": "cara@shop.test"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    let mail = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "login_link")
        .expect("a sign-in email");
    assert_eq!(mail["subject"], "Sign in to Zoë's \u{201c}Shop\u{201d}");
}

/// Status, body and headers of a response, without the per-request ones.
fn shape(r: &Resp) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "x-request-id" | "date"))
        .cloned()
        .collect();
    h.sort();
    (r.status, r.body.clone(), h)
}

#[test]
fn brand_css_and_logo_do_not_tell_which_workspaces_exist() {
    let w = World::build(false);
    let get = |path: &str| request(&w.host.addr, "GET", path, &[], b"");
    // `acme` and `globex` exist with the default branding; the others do not
    // (one is not even a well-formed id).
    let known = get("/api/v1/workspaces/acme/brand.css");
    assert_eq!(known.status, 200, "{}", known.text());
    assert!(
        known.text().contains("--brand: #2f5bd3"),
        "{}",
        known.text()
    );
    for ws in ["globex", "nosuchshop", "Not_A-Valid..Id"] {
        let r = get(&format!("/api/v1/workspaces/{ws}/brand.css"));
        assert_eq!(shape(&r), shape(&known), "brand.css of {ws}: {}", r.text());
    }
    let known = get("/api/v1/workspaces/acme/logo");
    assert_eq!(known.status, 404);
    for ws in ["globex", "nosuchshop", "Not_A-Valid..Id"] {
        let r = get(&format!("/api/v1/workspaces/{ws}/logo"));
        assert_eq!(shape(&r), shape(&known), "logo of {ws}: {}", r.text());
    }
    // A workspace's own branding is still served.
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"branding": {"brand_colour": "#aa3300"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        get("/api/v1/workspaces/acme/brand.css")
            .text()
            .contains("--brand: #aa3300")
    );
    let png = b"\x89PNG\r\n\x1a\nrest-of-image".to_vec();
    let r = request(
        &w.host.addr,
        "PUT",
        "/api/v1/workspace/logo",
        &[
            ("Authorization", &w.bearer()),
            ("Ticketshare-Act-As", &w.admin),
            ("Content-Type", "image/png"),
        ],
        &png,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get("/api/v1/workspaces/acme/logo");
    assert_eq!((r.status, r.body), (200, png));
}

#[test]
fn promoting_an_external_note_needs_the_external_share_permission() {
    let w = World::build(false);
    let (t, _c, note) = external_note(&w, &[]);
    let seq = note["seq"].as_u64().unwrap();
    let promote = format!("/api/v1/tickets/{t}/messages/{seq}/promote");
    let public_count = |w: &World| {
        json_of(&w.as_(
            Some(&w.cust_a),
            "GET",
            &format!("/api/v1/tickets/{t}/thread"),
            None,
        ))["messages"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = public_count(&w);
    // Staff without the permission: refused, nothing posted, and the note
    // can still be promoted by someone who may.
    let r = w.as_(Some(&w.staff), "POST", &promote, None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(json_of(&r)["error"]["code"], "forbidden");
    assert!(
        json_of(&r)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("external share"),
        "{}",
        r.text()
    );
    assert_eq!(public_count(&w), before, "nothing reached the customer");
    assert_eq!(audit_count(&w, t, "note.promoted"), 0);
    // Given the permission, the same staff member may.
    let r = w.as_(
        None,
        "PUT",
        "/api/v1/users",
        Some(json!({"email": "sam@acme.test", "name": "sam", "role": "staff", "permissions": ["external_share"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w.as_(Some(&w.staff), "POST", &promote, None);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(public_count(&w), before + 1);
    // Admins and the platform hold it always (a second promotion is a 409,
    // not a 403).
    assert_eq!(w.as_(Some(&w.admin), "POST", &promote, None).status, 409);
    assert_eq!(w.as_(None, "POST", &promote, None).status, 409);
}
