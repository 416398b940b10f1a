//! The live pages behind links (issue 19) through the host: a
//! participant's page and a collaborator's share page answer with an ETag
//! made from what their reader sees, so it changes with a public reply and
//! never with an internal note or another collaborator's note; a matching
//! `If-None-Match` answers 304; hostile `If-None-Match` values change
//! nothing; the CSP lets the pages' own script (`/link-live.js`) run and
//! fetch from this origin only; participants reply with files and download
//! the thread's files under their link.

use serde_json::{Value, json};

use testkit::fixtures::{Collab, add_participant, enable_participants, share, share_link};
use testkit::seed::multipart;
use testkit::{Resp, World, json_of, request};

fn get(w: &World, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(&w.host.addr, "GET", path, headers, b"")
}

fn etag_of(r: &Resp) -> String {
    let tag = r.header("etag").expect("an ETag").to_string();
    assert!(
        tag.len() == 34
            && tag.starts_with('"')
            && tag.ends_with('"')
            && tag[1..33].bytes().all(|b| b.is_ascii_hexdigit()),
        "a strong, quoted hex tag: {tag}"
    );
    tag
}

/// A reply by `user` to ticket `t` (`visibility`: public or internal).
fn reply(w: &World, t: u64, user: &str, text: &str, visibility: &str) {
    let r = w.as_(
        Some(user),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": text, "visibility": visibility})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// What a live page must carry: its CSP lets its own script run and fetch
/// from this origin only; one script element, ours; the page's ETag for
/// the script; the announcing region; the hint for readers without scripts.
fn assert_live(page: &Resp, etag: &str) {
    let csp = page.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(
        !csp.contains("unsafe") && !csp.contains("http") && !csp.contains('*'),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = page.text();
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains("<script src=\"/link-live.js\" defer></script>"));
    assert!(html.contains(&format!("data-etag=\"{}\"", etag.replace('"', "&quot;"))));
    assert!(html.contains("aria-live=\"polite\""));
    assert!(html.contains("<noscript>") && html.contains("Reload the page to see new replies."));
    assert!(!html.contains("http-equiv"), "no automatic reload");
}

/// The status of the page asked with `If-None-Match: value`.
fn status_with(w: &World, path: &str, value: &str) -> u16 {
    get(w, path, &[("If-None-Match", value)]).status
}

#[test]
fn the_participant_page_changes_with_what_the_participant_sees_only() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Live lamp");
    enable_participants(&w, false);
    let link = add_participant(&w, t, "guest@outside.test");

    let page = get(&w, &link, &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    let first = etag_of(&page);
    assert_live(&page, &first);
    // The same page again: the same tag (nothing in it is per rendering).
    assert_eq!(etag_of(&get(&w, &link, &[])), first);

    // Asked with its tag: 304, with the tag and the page's headers, no body.
    let same = get(&w, &link, &[("If-None-Match", &first)]);
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    assert_eq!(same.header("etag"), Some(first.as_str()));
    assert_eq!(same.header("cache-control"), Some("no-store"));
    assert!(same.header("content-security-policy").is_some());
    let head = request(
        &w.host.addr,
        "HEAD",
        &link,
        &[("If-None-Match", &first)],
        b"",
    );
    assert_eq!(head.status, 304);

    // What the participant does not see changes nothing: an internal note,
    // a collaborator's external note.
    reply(&w, t, &w.staff, "Internal: refund approved", "internal");
    share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Lamp"}),
    );
    let mut collab = Collab::new(&w, &share_link(&w, "dock@carrier.test"));
    collab.verify("dock@carrier.test");
    assert_eq!(collab.reply("Depot has it", &[]).status, 303);
    assert_eq!(
        status_with(&w, &link, &first),
        304,
        "hidden activity must not show in the participant's ETag"
    );

    // A public reply does.
    reply(&w, t, &w.staff, "Your lamp ships today", "public");
    let changed = get(&w, &link, &[("If-None-Match", &first)]);
    assert_eq!(changed.status, 200);
    let second = etag_of(&changed);
    assert_ne!(second, first);
    let html = changed.text();
    assert!(html.contains("Your lamp ships today"));
    assert!(!html.contains("refund approved") && !html.contains("Depot has it"));
    assert_eq!(status_with(&w, &link, &second), 304);

    // Hostile or odd If-None-Match values: a full page or a 304, never more.
    let flood = format!("{}{second}", "\"0000\", ".repeat(2_000));
    let weak = format!("W/{second}");
    let unquoted = second.trim_matches('"').to_string();
    for (value, status) in [
        ("", 200),
        ("\"\"", 200),
        ("W/", 200),
        (",,,", 200),
        ("garbage", 200),
        (first.as_str(), 200),
        (unquoted.as_str(), 200),
        ("*", 304),
        (weak.as_str(), 304),
        // Past the longest value looked at (8 KiB): the full page.
        (flood.as_str(), 200),
    ] {
        assert_eq!(status_with(&w, &link, value), status, "{value:.60}");
    }
    // A dead link answers as any dead link, whatever the tag.
    let bent = format!("{link}x");
    let dead = get(&w, &bent, &[("If-None-Match", "*")]);
    assert_eq!(dead.status, 404);
    assert!(dead.header("etag").is_none());
}

#[test]
fn the_share_page_changes_with_what_the_collaborator_sees_only() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Live parcel");
    share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Parcel"}),
    );
    let mut dock = Collab::new(&w, &share_link(&w, "dock@carrier.test"));
    dock.verify("dock@carrier.test");
    share(
        &w,
        t,
        json!({"email": "van@other.test", "subject": "Parcel"}),
    );
    let mut van = Collab::new(&w, &share_link(&w, "van@other.test"));
    van.verify("van@other.test");

    let page = dock.get();
    assert_eq!(page.status, 200, "{}", page.text());
    let first = etag_of(&page);
    assert_live(&page, &first);
    // The form's one-time value differs per rendering; the tag does not.
    assert_eq!(etag_of(&dock.get()), first);
    assert_eq!(dock.get_with(&[("If-None-Match", &first)]).status, 304);

    // Hidden from this collaborator: an internal note, another
    // collaborator's note.
    reply(&w, t, &w.staff, "Internal: carrier is slow", "internal");
    assert_eq!(van.reply("Van note", &[]).status, 303);
    let r = dock.get_with(&[("If-None-Match", &first)]);
    assert_eq!(r.status, 304, "hidden activity must not show in the ETag");

    // Seen: a public reply, and the collaborator's own note.
    reply(&w, t, &w.staff, "Public: parcel found", "public");
    let r = dock.get_with(&[("If-None-Match", &first)]);
    assert_eq!(r.status, 200);
    let second = etag_of(&r);
    assert_ne!(second, first);
    assert!(r.text().contains("parcel found") && !r.text().contains("Van note"));
    assert_eq!(dock.reply("Dock note", &[]).status, 303);
    let r = dock.get_with(&[("If-None-Match", &second)]);
    assert_eq!(r.status, 200, "the collaborator's own note shows");
    assert!(r.text().contains("Dock note"));
    let third = etag_of(&r);
    assert_eq!(dock.get_with(&[("If-None-Match", &third)]).status, 304);

    // Extending the link changes the date the page shows, so its tag.
    let id = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/shares"), None))["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "dock@carrier.test" && s["state"] == "active")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .unwrap();
    let ext = w.as_(
        None,
        "POST",
        &format!("/api/v1/tickets/{t}/shares/{id}/extend"),
        None,
    );
    assert_eq!(ext.status, 200, "{}", ext.text());
    assert_eq!(dock.get_with(&[("If-None-Match", &third)]).status, 200);

    // Older messages are not live: no script there.
    let before = dock.fetch(&format!("{}?before=3", dock.link));
    assert_eq!(before.status, 200);
    assert!(!before.text().contains("<script"));
    // Without the session, the email check: no tag, no 304.
    let stranger = Collab::new(&w, &dock.link);
    let check = stranger.get_with(&[("If-None-Match", "*")]);
    assert_eq!(check.status, 200);
    assert!(check.header("etag").is_none());
    assert!(check.text().contains("Confirm your email"));
}

#[test]
fn participants_reply_with_files_and_download_the_threads_files() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Files on the page");
    enable_participants(&w, false);
    let link = add_participant(&w, t, "guest@outside.test");
    let page = get(&w, &link, &[]).text();
    assert!(
        page.contains("enctype=\"multipart/form-data\"")
            && page.contains("name=\"files\" type=\"file\" multiple"),
        "{page}"
    );
    let (ct, body) = multipart(
        &[("body", "Photo of the damage")],
        &[("damage.png", b"\x89PNG\r\n\x1a\nrest")],
    );
    let r = request(&w.host.addr, "POST", &link, &[("Content-Type", &ct)], &body);
    assert_eq!(r.status, 303, "{}", r.text());
    // Staff see it with its file.
    let thread = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    let m: &Value = thread["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(m["author"]["kind"], "participant");
    let id = m["attachments"][0]["id"].as_str().unwrap();
    let seq = m["seq"].as_u64().unwrap();
    // The page lists it, downloadable under the participant's link.
    let file = format!("{link}/files/{seq}/{id}");
    assert!(
        get(&w, &link, &[])
            .text()
            .contains(&format!("href=\"{file}\""))
    );
    let got = get(&w, &file, &[]);
    assert_eq!(
        (got.status, &got.body[..], got.header("content-type")),
        (200, &b"\x89PNG\r\n\x1a\nrest"[..], Some("image/png"))
    );
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    // A staff note's file is not the participant's to download.
    let (ct, note) = multipart(
        &[("body", "staff only"), ("visibility", "internal")],
        &[("memo.txt", b"internal memo")],
    );
    let bearer = w.bearer();
    let r = request(
        &w.host.addr,
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        &[
            ("Authorization", &bearer),
            ("Ticketshare-Act-As", &w.staff),
            ("Content-Type", &ct),
        ],
        &note,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let n = json_of(&r)["message"].clone();
    let hidden = format!(
        "{link}/files/{}/{}",
        n["seq"],
        n["attachments"][0]["id"].as_str().unwrap()
    );
    for path in [
        hidden,
        format!("{link}/files/{seq}/att_nosuchfile000000"),
        format!("{link}/files/x/{id}"),
        format!("{link}/other"),
    ] {
        assert_eq!(get(&w, &path, &[]).status, 404, "{path}");
    }
    // A refused file is said on the page, and nothing is posted.
    let (ct, exe) = multipart(&[("body", "a program")], &[("run.exe", b"MZ\x90\x00")]);
    let r = request(&w.host.addr, "POST", &link, &[("Content-Type", &ct)], &exe);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("only images"), "{}", r.text());
    let after = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    assert!(
        after["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["source"] != "a program")
    );
}

#[test]
fn the_live_script_is_served_as_a_file_of_this_site() {
    let w = World::build(false);
    let js = get(&w, "/link-live.js", &[]);
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let text = js.text();
    for needed in ["If-None-Match", "DOMParser", "visibilitychange", "no-store"] {
        assert!(text.contains(needed), "{needed}");
    }
    for never in [
        "innerHTML",
        "outerHTML",
        "eval(",
        "new Function",
        "document.write",
    ] {
        assert!(!text.contains(never), "{never}");
    }
}
