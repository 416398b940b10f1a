//! The pages in a real browser (Debian's headless Chromium via chromedriver):
//! staff and customer flows end to end, screenshots of each main page under
//! `target/test-output/screenshots/`, and no request to another origin.

use serde_json::json;

use testkit::root;
use testkit::webdriver::Browser;
use testkit::{World, json_of};

fn sign_in(b: &Browser, w: &World, user: &str) {
    let r = w.as_(
        None,
        "POST",
        &format!("/api/v1/users/{user}/login-links"),
        None,
    );
    let url = json_of(&r)["url"].as_str().unwrap().to_string();
    let link = url.split_once('#').unwrap().1;
    b.goto(&format!("http://{}/login#{link}", w.host.addr));
    b.click("#continue", "Continue");
    // Wait for the redirect to the signed-in page, so no later navigation races it.
    let t0 = std::time::Instant::now();
    while !(b.url().contains("/console") || b.url().contains("/my")) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(15),
            "sign-in did not redirect: {}",
            b.url()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    b.wait_for("#who", "");
}

#[test]
fn staff_and_customer_work_a_ticket_in_the_browser() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Browser parcel");
    let shots = root().join("target/test-output/screenshots");
    let b = Browser::start();

    // Staff: sign in by link, see Pending, open the ticket, note + reply.
    sign_in(&b, &w, &w.staff);
    b.wait_for("#tab-pending", "Pending");
    b.wait_for(".ticket-row", "Browser parcel");
    b.screenshot(&shots.join("console-pending.png"));
    b.click(".ticket-row", "Browser parcel");
    b.wait_for("#thread .msg", "first message");
    b.type_into(
        "#reply-body",
        "Checked the depot: parcel is there (internal)",
    );
    b.click("#send-internal", "Add internal note");
    b.wait_for("#thread .msg-internal", "parcel is there");
    b.type_into("#reply-body", "Good news, your parcel is on its way.");
    b.click("#send-public", "Send public reply");
    b.wait_for("#thread .msg-public", "on its way");
    b.screenshot(&shots.join("console-ticket.png"));
    b.resize(390, 844);
    b.wait_for("#thread .msg-public", "on its way");
    assert!(
        !b.overflows_horizontally(),
        "the console must fit a phone screen"
    );
    b.screenshot(&shots.join("console-phone.png"));
    b.resize(1280, 900);
    let origin = format!("http://{}", w.host.addr);
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );

    // Customer: sign in, sees the public reply and not the note, replies.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    sign_in(&b, &w, &w.cust_a);
    b.wait_for(".ticket-row", "Browser parcel");
    b.screenshot(&shots.join("dashboard.png"));
    b.click(".ticket-row", "Browser parcel");
    b.wait_for("#thread .msg", "on its way");
    assert!(
        !b.text().contains("parcel is there"),
        "the customer must not see the internal note"
    );
    b.type_into("#reply-body", "Thanks, I will wait for it.");
    b.click("#send-reply", "Send reply");
    b.wait_for("#thread .msg-by-customer", "I will wait");
    b.screenshot(&shots.join("dashboard-ticket.png"));
    // Phone width: one column, no sideways scrolling.
    b.resize(390, 844);
    b.wait_for("#thread .msg-by-customer", "I will wait");
    assert!(
        !b.overflows_horizontally(),
        "the dashboard must fit a phone screen"
    );
    b.screenshot(&shots.join("dashboard-phone.png"));
    b.resize(1280, 900);
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );

    // Staff again: the customer's reply, labelled as such.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    sign_in(&b, &w, &w.staff);
    b.wait_for(".ticket-row", "Browser parcel");
    b.goto(&format!("http://{}/console#{t}", w.host.addr));
    b.wait_for("#thread .msg-by-customer", "I will wait");
    let label = b.script(
        "return [...document.querySelectorAll('#thread .msg-by-customer')].pop().querySelector('.msg-head').innerText;",
        json!([]),
    );
    assert!(
        label.as_str().unwrap().contains("Customer")
            && label.as_str().unwrap().contains("Public reply"),
        "{label}"
    );

    // The outbox page (admin) and the sign-in page.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    b.screenshot(&shots.join("login.png"));
    sign_in(&b, &w, &w.admin);
    b.wait_for("#outbox-link", "Outbox");
    b.goto(&format!("http://{}/outbox", w.host.addr));
    b.wait_for("h1", "Outbox");
    b.wait_for("#emails li", "");
    b.screenshot(&shots.join("outbox.png"));
    b.goto(&format!("http://{}/links", w.host.addr));
    b.wait_for("#links td", "No live links.");

    // Settings: branding with a live preview, toggles, save.
    b.goto(&format!("http://{}/settings", w.host.addr));
    b.wait_for("legend", "Branding");
    b.type_into("#company_name", "Acme Shop");
    b.script(
        "const c = document.getElementById('brand_colour'); c.value = '#aa3300'; c.dispatchEvent(new Event('input'));",
        json!([]),
    );
    let preview = b.script(
        "return getComputedStyle(document.getElementById('preview-button')).backgroundColor;",
        json!([]),
    );
    assert_eq!(
        preview, "rgb(170, 51, 0)",
        "live preview of the brand colour"
    );
    b.wait_for("#preview-name", "Acme Shop");
    b.click("label", "Sign replies with the staff name");
    b.click("#save", "Save settings");
    b.wait_for("#status", "Settings saved.");
    b.screenshot(&shots.join("settings.png"));
    let saved = json_of(&w.as_(None, "GET", "/api/v1/workspace", None));
    assert_eq!(saved["settings"]["branding"]["company_name"], "Acme Shop");
    assert_eq!(saved["settings"]["branding"]["brand_colour"], "#aa3300");
    assert_eq!(saved["settings"]["sign_replies"], true);
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );
}

#[test]
fn staff_invites_a_delegate_who_accepts_from_the_email() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Coffee blend");
    let b = Browser::start();
    sign_in(&b, &w, &w.staff);
    b.goto(&format!("http://{}/console#{t}", w.host.addr));
    b.wait_for("#delegates-title", "Delegates");
    b.type_into("#delegate-email", "oz@else.test");
    b.click("#invite-delegate", "Send invitation");
    b.wait_for(".delegate-list li", "Invited");
    // The invitation page from the email (outbox), then Accept.
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    let text = outbox["emails"][0]["text"].as_str().unwrap().to_string();
    let url = text.split_whitespace().find(|s| s.contains("/i/")).unwrap();
    let path = format!("/i/{}", url.split("/i/").nth(1).unwrap());
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    b.goto(&format!("http://{}{path}", w.host.addr));
    b.wait_for("h1", "You are invited");
    root_shot(&b, "invitation.png");
    b.click("button", "Accept the invitation");
    b.wait_for("#thread .msg", "first message");
    b.wait_for("#shared-list .ticket-row", "Coffee blend");
    b.type_into("#reply-body", "Delegate here, the blend was great.");
    b.click("#send-reply", "Send reply");
    b.wait_for("#thread .msg-by-delegate", "blend was great");
    root_shot(&b, "delegate-dashboard.png");
    // Staff resolve, reopen, then delete behind a confirmation: the
    // delegate's access ends with it.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    sign_in(&b, &w, &w.staff);
    b.goto(&format!("http://{}/console#{t}", w.host.addr));
    b.click("#resolve", "Resolve");
    b.wait_for(".meta .status", "Resolved");
    b.click("#reopen", "Reopen");
    b.wait_for("#resolve", "Resolve");
    b.click("#delete", "Delete");
    b.wait_for(
        ".ticket-actions",
        "every delegate, participant and external share link stops working",
    );
    root_shot(&b, "console-delete-confirm.png");
    b.click("#confirm-delete", "Yes, delete");
    b.wait_for("#ticket", "was deleted");
    let ticket = w.as_(Some(&w.staff), "GET", &format!("/api/v1/tickets/{t}"), None);
    assert_eq!(ticket.status, 404);
    let delegates = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/links", None));
    assert_eq!(
        delegates["links"].as_array().unwrap().len(),
        0,
        "{delegates}"
    );
}

fn root_shot(b: &Browser, name: &str) {
    b.screenshot(&root().join("target/test-output/screenshots").join(name));
}

#[test]
fn staff_share_a_ticket_and_the_collaborator_replies_with_a_file() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Supplier parcel");
    let b = Browser::start();
    let origin = format!("http://{}", w.host.addr);

    // Staff side: the share form in the ticket, the share listed.
    sign_in(&b, &w, &w.admin);
    b.goto(&format!("{origin}/console#{t}"));
    b.wait_for("#shares-title", "External shares");
    b.click("#share-open", "Share externally");
    b.type_into("#share-email", "dock@carrier.test");
    b.type_into("#share-note", "Please check **depot B** for this parcel.");
    let details = b.script(
        "return document.getElementById('share-details').checked;",
        json!([]),
    );
    let reply = b.script(
        "return document.getElementById('share-can-reply').checked;",
        json!([]),
    );
    assert_eq!((details, reply), (json!(false), json!(true)), "defaults");
    b.click("#share-send", "Share ticket");
    b.wait_for(".share-list li", "Awaiting verification");
    root_shot(&b, "console-shares.png");

    // The collaborator: the link from the email, a code from the outbox.
    let link = testkit::fixtures::share_link(&w, "dock@carrier.test");
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    b.goto(&format!("{origin}{link}"));
    b.wait_for("h1", "Confirm your email");
    root_shot(&b, "share-verify.png");
    b.click("#send-code", "Email me a code");
    b.wait_for(".notice", "We sent a 6-digit code");
    let code = testkit::fixtures::code_for(&w, "dock@carrier.test");
    b.type_into("#code", &code);
    b.click("#verify", "Verify");
    b.wait_for("#thread .msg", "first message");
    b.wait_for(".share-note", "depot B");
    let dir = root().join("target/test-output");
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("proof-of-delivery.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\nproof\n%%EOF").unwrap();
    b.type_into("#body", "Found it at **depot B**.");
    b.type_into("#files", pdf.to_str().unwrap());
    b.click("#send-note", "Send to the team");
    b.wait_for("#thread .msg-external", "Found it at depot B");
    b.wait_for("#thread .msg-external .files a", "proof-of-delivery.pdf");
    root_shot(&b, "share-thread.png");
    b.resize(390, 844);
    assert!(
        !b.overflows_horizontally(),
        "the share page must fit a phone"
    );
    b.resize(1280, 900);
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );

    // Staff see the external note with its file and promote it.
    sign_in(&b, &w, &w.admin);
    b.goto(&format!("{origin}/console#{t}"));
    b.wait_for("#thread .msg-external", "Found it");
    b.wait_for("#thread .msg-external .files a", "proof-of-delivery.pdf");
    b.wait_for(".share-list li", "Active");
    b.click(".promote", "Promote to public reply");
    b.wait_for("#thread .msg-public", "Found it");
    b.wait_for("#thread .msg-external", "Promoted to a public reply.");
    root_shot(&b, "console-promoted.png");
    // Cancel: the collaborator's next request meets the neutral page.
    b.click(".share-list button", "Cancel");
    b.wait_for(".share-list li", "Cancelled");
    b.goto(&format!("{origin}{link}"));
    b.wait_for("h1", "This link is no longer valid");
}

#[test]
fn admins_watch_webhook_deliveries_and_staff_review_held_email() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Before the hook");
    let rx = testkit::receiver::Receiver::start();
    let b = Browser::start();
    let origin = format!("http://{}", w.host.addr);
    sign_in(&b, &w, &w.admin);
    b.click("#webhooks-link", "Webhooks");
    b.wait_for("h1", "Webhooks");
    b.type_into("#endpoint-url", &rx.url);
    b.click("#add", "Add endpoint");
    b.wait_for("#secret", "whsec_");
    b.wait_for("#endpoints li", "Active");
    // An event reaches the receiver, and the page shows the delivery.
    w.ticket(&w.cust_a, "Hooked in the browser");
    rx.wait_for(1);
    b.goto(&format!("{origin}/webhooks"));
    b.wait_for("#deliveries tr", "succeeded");
    b.wait_for("#deliveries tr", "ticket.created");
    // Inbound: Postmark credentials from the page; a stranger's email is held.
    b.click("#postmark-setup", "Create credentials");
    b.wait_for("#secret", "/hooks/postmark/acme");
    root_shot(&b, "webhooks.png");
    let url = b
        .script(
            "return document.getElementById('secret-value').textContent;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    let password = url
        .split("inbound:")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let auth = testkit::seed::basic_auth("inbound", password);
    let to = json_of(&w.as_(Some(&w.staff), "GET", &format!("/api/v1/tickets/{t}"), None))
        ["ticket"]["reply_address"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"From": "stranger@else.test", "ToFull": [{"Email": to}], "Subject": "Hello?",
        "MessageID": "x", "TextBody": "A stranger writes in", "Headers": [{"Name": "Message-ID", "Value": "<s1@else.test>"}]});
    let r = testkit::request(
        &w.host.addr,
        "POST",
        "/hooks/postmark/acme",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    b.goto(&format!("{origin}/console"));
    b.click("#quarantine-link", "Held email");
    b.wait_for(".held", "stranger@else.test");
    root_shot(&b, "quarantine.png");
    b.click(".approve", "Approve and post");
    b.wait_for("#status", "Posted to ticket");
    b.wait_for(".held", "approved");
    b.goto(&format!("{origin}/console#{t}"));
    b.wait_for("#thread .msg", "A stranger writes in");
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );
}

#[test]
fn staff_accept_transfer_and_return_in_the_console() {
    let w = World::build(false);
    let sue = testkit::fixtures::staff_user(&w, "sue@acme.test", &[]);
    w.ticket(&w.cust_a, "Queue work");
    let b = Browser::start();
    sign_in(&b, &w, &w.staff);
    b.wait_for("#count-pending", "1");
    b.click(".ticket-row", "Queue work");
    b.click("#accept", "Accept");
    b.wait_for("#assignee", "with sam");
    b.wait_for("#count-working", "1");
    b.click("#tab-working", "Working on");
    b.wait_for(".ticket-row", "Queue work");
    b.click("#transfer", "Transfer");
    b.type_into("#transfer-search", "sue");
    b.wait_for("#transfer-to option", "sue");
    b.script(
        "document.getElementById('transfer-to').value = arguments[0];",
        json!([sue]),
    );
    b.type_into("#transfer-note", "Sue knows this customer");
    root_shot(&b, "console-transfer.png");
    b.click("#confirm-transfer", "Transfer");
    b.wait_for("#assignee", "with sue");
    b.wait_for("#thread .msg-internal", "Sue knows this customer");
    b.wait_for("#count-working", "0");
    // Sue finds it in Working on and returns it to Pending.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    sign_in(&b, &w, &sue);
    b.click("#tab-working", "Working on");
    b.click(".ticket-row", "Queue work");
    b.click("#return", "Return");
    b.type_into("#return-reason", "Back from holiday next week");
    b.click("#confirm-return", "Return");
    b.wait_for("#assignee", "unassigned");
    b.wait_for("#thread .msg-internal", "Back from holiday next week");
    b.click("#tab-pending", "Pending");
    b.wait_for(".ticket-row", "Queue work");
    root_shot(&b, "console-returned.png");
}

#[test]
fn the_participant_page_shows_a_staff_reply_without_a_reload() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Live lamp");
    testkit::fixtures::enable_participants(&w, false);
    let link = testkit::fixtures::add_participant(&w, t, "guest@outside.test");
    let reply = |text: &str, visibility: &str| {
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": text, "visibility": visibility})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    };
    // A thread long enough to scroll.
    for i in 0..10 {
        reply(
            &format!("Update {i}: we are looking into it.\n\nMore on this tomorrow."),
            "public",
        );
    }
    let origin = format!("http://{}", w.host.addr);
    let b = Browser::start();
    b.resize(1024, 700);
    b.goto(&format!("{origin}{link}"));
    b.wait_for("#thread .msg", "Update 9");
    // The reader is writing at the bottom of the page.
    b.script(
        "window.scrollTo(0, document.body.scrollHeight); window.notReloaded = true;",
        json!([]),
    );
    b.type_into("#body", "Half-written: the lamp base is");
    let top = |b: &Browser| {
        b.script(
            "return document.getElementById('body').getBoundingClientRect().top;",
            json!([]),
        )
        .as_f64()
        .unwrap()
    };
    let before = top(&b);
    assert!(
        b.script("return window.scrollY;", json!([]))
            .as_f64()
            .unwrap()
            > 0.0,
        "the page scrolls"
    );
    // Staff write an internal note and a public reply through the API.
    reply("Internal: send a new base", "internal");
    reply("Your new lamp base ships today.", "public");
    let t0 = std::time::Instant::now();
    b.wait_for("#thread .msg-new", "ships today");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(12),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        b.script("return window.notReloaded === true;", json!([])),
        json!(true),
        "updated in place, not reloaded"
    );
    assert_eq!(
        b.script("return document.getElementById('body').value;", json!([])),
        json!("Half-written: the lamp base is"),
        "the half-written reply survives"
    );
    let after = top(&b);
    assert!(
        (after - before).abs() <= 2.0,
        "the reply box stays where the reader had it: {before} then {after}"
    );
    b.wait_for("#live-status", "1 new reply");
    assert!(!b.text().contains("send a new base"), "no internal note");
    root_shot(&b, "participant-live.png");
    assert!(
        b.resource_origins().iter().all(|o| *o == origin),
        "{:?}",
        b.resource_origins()
    );
    // The reply is sent as usual, and the page shows it.
    b.click("#send-reply", "Send reply");
    b.wait_for("#thread .msg-by-participant", "lamp base is");
    // Removing the participant kills the link: the page says so and stops.
    let pid = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/participants"),
        None,
    ))["participants"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants/{pid}/remove"),
        None,
    );
    assert!(r.status < 300, "{}", r.text());
    b.wait_for("#live-stopped", "This link is not available");
}
