//! The pages in a real browser (Debian's headless Chromium via chromedriver):
//! staff and customer flows end to end, screenshots of each main page under
//! `<target dir>/test-output/screenshots/`, no request to another origin, no
//! error in the browser's console; the pages updating themselves while two
//! people work one ticket in two browsers; the keyboard, the help dialog,
//! drafts, relative times and the labels of every control.

use std::time::{Duration, Instant};

use serde_json::json;

use testkit::webdriver::{Browser, keys};
use testkit::{World, json_of};

/// Every form control of the page with no accessible name (no label, no
/// `aria-label`/`aria-labelledby`, no text of its own), as `tag#id`.
const UNLABELLED: &str = "return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((e) => e.type !== 'hidden' && !e.closest('[hidden]') && !e.closest('template'))
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
    && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map((e) => `${e.tagName.toLowerCase()}#${e.id}`);";

/// Check that the page has a label on every control and nothing in the
/// browser's console (`page` names it in the failure).
fn page_is_clean(b: &Browser, page: &str) {
    let unlabelled = b.script(UNLABELLED, json!([]));
    assert_eq!(unlabelled, json!([]), "controls without a label on {page}");
    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
}

fn sign_out(b: &Browser) {
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
}

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
    let shots = testkit::target_dir().join("test-output/screenshots");
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
    sign_out(&b);
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
    sign_out(&b);
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
    sign_out(&b);
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
    sign_out(&b);
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
    // Staff resolve, then reopen, while the page of the invitation is open
    // (it lists nothing but this ticket: only its thread poll can tell):
    // each status shows by itself, in the state line and the row.
    for (action, status) in [("resolve", "Resolved"), ("reopen", "Open")] {
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/{action}"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let changed = Instant::now();
        shows_within(
            &b,
            "#ticket-meta .status",
            status,
            changed,
            Duration::from_secs(4),
        );
        b.wait_for("#shared-list .ticket-row .status", status);
    }
    // Staff resolve, reopen, then delete behind a confirmation: the
    // delegate's access ends with it.
    sign_out(&b);
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

/// A file for a browser to upload, under `<target dir>/test-output/`.
fn test_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = testkit::target_dir().join("test-output");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn root_shot(b: &Browser, name: &str) {
    b.screenshot(
        &testkit::target_dir()
            .join("test-output/screenshots")
            .join(name),
    );
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
    sign_out(&b);
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
    let pdf = test_file("proof-of-delivery.pdf", b"%PDF-1.4\nproof\n%%EOF");
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
    sign_out(&b);
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

    // More rows than a poll covers (100): the rows loaded with "Load more"
    // stay when a poll brings the first page again, and one that left the
    // view goes.
    let bulk: Vec<u64> = (0..101)
        .map(|i| w.ticket(&w.cust_b, &format!("Bulk {i:03}")))
        .collect();
    b.reload();
    b.wait_for(".ticket-row", "Bulk 048");
    b.click("#more", "Load more");
    b.wait_for(".ticket-row", "Bulk 098");
    b.click("#more", "Load more");
    b.wait_for(".ticket-row", "Bulk 100");
    let rows = "return document.querySelectorAll('.ticket-row').length;";
    assert_eq!(b.script(rows, json!([])), json!(102));
    accept_as(&w, &w.staff, bulk[0]);
    b.script(
        "document.dispatchEvent(new Event('visibilitychange'));",
        json!([]),
    );
    b.wait_until(
        "the accepted row left, the rest stayed",
        10,
        "const rows = [...document.querySelectorAll('.ticket-row')]; \
         return rows.length === 101 && !rows.some((r) => r.textContent.includes('Bulk 000')) \
           && rows.at(-1).textContent.includes('Bulk 100');",
        json!([]),
    );
    assert_eq!(
        b.script("return document.getElementById('more').hidden;", json!([])),
        json!(true),
        "every row is shown: nothing more to load"
    );
}

#[test]
fn keyboard_help_drafts_and_relative_times_in_the_console() {
    let w = World::build(false);
    let first = w.ticket(&w.cust_a, "Keyboard one");
    w.ticket(&w.cust_a, "Keyboard two");
    let b = Browser::start();
    let origin = format!("http://{}", w.host.addr);
    sign_in(&b, &w, &w.staff);
    b.wait_for(".ticket-row", "Keyboard two");
    let icon = b.script(
        "return document.querySelector('link[rel=icon]').href;",
        json!([]),
    );
    assert_eq!(icon, json!(format!("{origin}/favicon.svg")));
    let svg = testkit::request(&w.host.addr, "GET", "/favicon.svg", &[], b"");
    assert_eq!(
        (svg.status, svg.header("content-type")),
        (200, Some("image/svg+xml"))
    );
    // Only the parts that announce something are live regions.
    let live = b.script(
        "return [...document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log]')].map((e) => e.id);",
        json!([]),
    );
    assert!(
        !live
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "ticket-list" || id == "ticket"),
        "{live}"
    );

    // Tabs: arrows, Home and End move the selection; only the selected
    // tab is in the Tab order; the panel is labelled by it.
    b.script("document.getElementById('tab-pending').focus();", json!([]));
    let tabs = "return [...document.querySelectorAll('[role=tab]')].map((t) => \
        [t.id, t.getAttribute('aria-selected'), t.tabIndex, t.getAttribute('aria-controls')]) \
        .concat([[document.activeElement.id, document.getElementById('inbox-panel').getAttribute('aria-labelledby')]]);";
    let expect = |selected: &str| {
        let mut v: Vec<serde_json::Value> = ["tab-pending", "tab-working", "tab-resolved"]
            .iter()
            .map(|t| {
                let on = *t == selected;
                json!([t, on.to_string(), if on { 0 } else { -1 }, "inbox-panel"])
            })
            .collect();
        v.push(json!([selected, selected]));
        json!(v)
    };
    b.press(keys::RIGHT);
    assert_eq!(b.script(tabs, json!([])), expect("tab-working"));
    b.press(keys::END);
    assert_eq!(b.script(tabs, json!([])), expect("tab-resolved"));
    b.press(keys::RIGHT);
    assert_eq!(b.script(tabs, json!([])), expect("tab-pending"));
    b.press(keys::LEFT);
    b.press(keys::HOME);
    assert_eq!(b.script(tabs, json!([])), expect("tab-pending"));
    b.wait_for(".ticket-row", "Keyboard two");

    // `?` opens the help: a labelled modal dialog holding the focus; Esc
    // closes it and the focus goes back to the tab.
    b.press("?");
    b.wait_until(
        "the help dialog is open",
        5,
        "return document.getElementById('help').open;",
        json!([]),
    );
    assert_eq!(b.focused(), "help-close");
    let label = b.script(
        "const d = document.getElementById('help'); \
         return document.getElementById(d.getAttribute('aria-labelledby')).textContent;",
        json!([]),
    );
    assert_eq!(label, "Keyboard shortcuts");
    for key in ["j", "k", "Enter", "r", "/", "Ctrl+Enter", "Esc", "?"] {
        b.wait_for("#help kbd", key);
    }
    b.press(keys::TAB);
    let inside = b.script(
        "return document.getElementById('help').contains(document.activeElement) \
           || document.activeElement === document.body;",
        json!([]),
    );
    assert_eq!(
        inside,
        json!(true),
        "focus left the dialog: {}",
        b.focused()
    );
    b.press("j");
    assert!(
        b.script("return document.getElementById('help').open;", json!([])) == json!(true),
        "a shortcut under the dialog ran"
    );
    root_shot(&b, "console-help.png");
    b.press(keys::ESCAPE);
    b.wait_until(
        "the help dialog is closed",
        5,
        "return !document.getElementById('help').open;",
        json!([]),
    );
    assert_eq!(b.focused(), "tab-pending");

    // j/k move in the list, Enter opens, r goes to the reply box; letters
    // typed there are text, not shortcuts; the draft survives a reload.
    b.press("j");
    b.press("j");
    b.press("k");
    assert!(b.focused().contains("Keyboard one"), "{}", b.focused());
    b.press(keys::ENTER);
    b.wait_for("#ticket h2", "Keyboard one");
    assert!(b.url().ends_with(&format!("#{first}")), "{}", b.url());
    b.wait_for("#thread .msg", "first message");
    let bar = b.script(
        "return document.getElementById('ticket-actions').innerText;",
        json!([]),
    );
    assert!(!bar.as_str().unwrap().contains("null"), "{bar}");
    b.press("r");
    assert_eq!(b.focused(), "reply-body");
    b.press("just kidding: j, k, r and / are text here");
    root_shot(&b, "console-draft.png");
    b.script("window.beforeReload = true;", json!([]));
    b.reload();
    b.wait_for("#thread .msg", "first message");
    assert_eq!(
        b.script("return window.beforeReload ?? null;", json!([])),
        json!(null),
        "a new document"
    );
    let draft = b.script(
        "return document.getElementById('reply-body').value;",
        json!([]),
    );
    assert_eq!(draft, "just kidding: j, k, r and / are text here");

    // Relative times, with the exact time on hover, moving on by themselves.
    let time = b.script(
        "const t = document.querySelector('#thread time'); \
         return [t.textContent, t.getAttribute('datetime'), t.title];",
        json!([]),
    );
    assert_eq!(time[0], "just now", "{time}");
    assert!(time[1].as_str().unwrap().ends_with('Z'), "{time}");
    assert!(time[2].as_str().unwrap().len() > 10, "{time}");
    b.script(
        "const real = Date.now; Date.now = () => real() + 3 * 60000; \
         document.dispatchEvent(new Event('visibilitychange'));",
        json!([]),
    );
    b.wait_for("#thread time", "3 min ago");
    b.wait_for(".ticket-row time", "3 min ago");

    // Ctrl+Enter sends the public reply, Ctrl+Shift+Enter the note; the
    // draft is gone once sent.
    b.press("r");
    b.chord(&[keys::CONTROL], keys::ENTER);
    b.wait_for("#thread .msg-public", "just kidding");
    let sent = b.script(
        "return [...document.querySelectorAll('#thread .msg-public .msg-body')].pop().innerText.trim();",
        json!([]),
    );
    assert_eq!(sent, "just kidding: j, k, r and / are text here");
    let left = b.script(
        "return [document.getElementById('reply-body').value, Object.keys(localStorage).length];",
        json!([]),
    );
    assert_eq!(left, json!(["", 0]));
    b.press("Only for the team");
    b.chord(&[keys::CONTROL, keys::SHIFT], keys::ENTER);
    b.wait_for("#thread .msg-internal", "Only for the team");
    b.press("Sent with Command");
    b.chord(&[keys::META], keys::ENTER);
    b.wait_for("#thread .msg-public", "Sent with Command");
    // What the reader wrote is read: no unread dot on the open ticket.
    b.wait_until(
        "the open ticket is not unread",
        5,
        "const row = document.querySelector('.ticket-row[aria-current=true]'); \
         return row !== null && !row.classList.contains('unread');",
        json!([]),
    );
    root_shot(&b, "console-keyboard-sent.png");

    // Hidden (another tab in front), the page asks nothing; shown again,
    // it asks at once. Absence takes time to show: one thread interval.
    b.script(
        "window.seen = {}; window.addEventListener('visibilitychange', \
           () => { window.seen[document.visibilityState] = performance.now(); }, true);",
        json!([]),
    );
    let back = b.open_tab();
    w.as_(
        Some(&w.cust_a),
        "POST",
        &format!("/api/v1/tickets/{first}/replies"),
        Some(json!({"body": "Sent while nobody looked"})),
    );
    std::thread::sleep(Duration::from_millis(4500));
    b.switch_to(&back);
    let shown = Instant::now();
    shows_within(
        &b,
        "#thread .msg",
        "Sent while nobody looked",
        shown,
        Duration::ZERO,
    );
    let asked = b.script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/') \
           && e.startTime > window.seen.hidden && e.startTime < window.seen.visible).map((e) => e.name);",
        json!([]),
    );
    assert_eq!(asked, json!([]), "requests while hidden");

    // The network fails: the page says so and waits longer (double the
    // thread's 4 s at least); it recovers by itself.
    b.script(
        "window.offline = true; const real = window.fetch; \
         window.fetch = (url, init) => window.offline && String(url).includes('/api/v1/') \
           ? Promise.reject(new TypeError('network down')) : real(url, init);",
        json!([]),
    );
    b.wait_for("#live-status", "Not updating (network down)");
    let wait = b.script(
        "return Number(/trying again in (\\d+) s/.exec(document.getElementById('live-status').textContent)[1]);",
        json!([]),
    );
    assert!(wait.as_u64().unwrap() >= 8, "no back-off: {}", b.text());
    root_shot(&b, "console-offline.png");
    b.script("window.offline = false;", json!([]));
    comes_back(&b);
    // A request that never ends times out (20 s, shortened here) and counts
    // as a failure: the loop goes on instead of waiting for it for ever.
    b.script(
        "window.stalled = true; const real = window.fetch; const later = window.later = window.setTimeout; \
         window.setTimeout = (f, ms, ...rest) => later(f, ms === 20000 ? 200 : ms, ...rest); \
         window.fetch = (url, init) => window.stalled && String(url).includes('/api/v1/') \
           ? new Promise((_, fail) => init?.signal?.addEventListener('abort', () => fail(init.signal.reason))) \
           : real(url, init);",
        json!([]),
    );
    b.wait_for("#live-status", "Not updating (no answer within 20 s)");
    b.script(
        "window.stalled = false; window.setTimeout = window.later;",
        json!([]),
    );
    comes_back(&b);

    // `/` goes to search (from outside a field); Esc leaves a confirmation.
    b.script("document.activeElement.blur();", json!([]));
    b.press("/");
    assert_eq!(b.focused(), "search");
    b.script("document.getElementById('delete').focus();", json!([]));
    b.press(keys::ENTER);
    b.wait_for("#confirm-delete", "Yes, delete");
    b.press(keys::ESCAPE);
    b.wait_for("#delete", "Delete");
    assert_eq!(b.focused(), "delete");
    b.click("#transfer", "Transfer");
    b.wait_for("#transfer-to option", "nobody");
    page_is_clean(&b, "the console");
    b.press(keys::ESCAPE);
    b.wait_for("#transfer", "Transfer");

    // The session ends behind the page's back (signed out elsewhere): the
    // next poll's 401 stops every loop (shown again, the page asks
    // nothing), the drafts leave the browser (the text stays on screen),
    // and the page says so with a link to sign in.
    b.type_into("#reply-body", "A draft for nobody");
    let drafts = "return Object.keys(localStorage).filter((k) => k.startsWith('ticketshare:draft:')).length;";
    assert_eq!(b.script(drafts, json!([])), json!(1));
    b.script_async(
        "const done = arguments[0]; \
         fetch('/api/v1/auth/logout', { method: 'POST', credentials: 'same-origin' }).then(() => done());",
        json!([]),
    );
    b.wait_for("#live-status", "You are signed out");
    b.wait_for("#live-status a[href='/login']", "Sign in again");
    assert_eq!(b.script(drafts, json!([])), json!(0));
    b.type_into("#reply-body", ", still");
    assert_eq!(
        b.script(drafts, json!([])),
        json!(0),
        "no draft kept after the end"
    );
    assert_eq!(
        b.script(
            "return document.getElementById('reply-body').value;",
            json!([])
        ),
        json!("A draft for nobody, still")
    );
    b.script(
        "performance.clearResourceTimings(); document.dispatchEvent(new Event('visibilitychange'));",
        json!([]),
    );
    std::thread::sleep(Duration::from_millis(700));
    let asked = b.script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/')).map((e) => e.name);",
        json!([]),
    );
    assert_eq!(asked, json!([]), "requests after the session ended");
    let logged = b.console_errors();
    assert!(
        !logged.is_empty()
            && logged
                .iter()
                .all(|e| e.contains("/api/v1/") && e.contains("401")),
        "only the ended session's 401s: {logged:#?}"
    );
    root_shot(&b, "console-signed-out.png");
    b.click("#sign-in-again", "Sign in again");
    b.wait_for("h1", "Sign in");

    // Every page: labelled controls, a favicon, no console errors.
    page_is_clean(&b, "the sign-in page");
    b.goto(&format!("{origin}/"));
    b.wait_for("h1", "Bring outside people");
    page_is_clean(&b, "the home page");
    sign_in(&b, &w, &w.cust_a);
    b.wait_for(".ticket-row", "Keyboard one");
    b.click(".ticket-row", "Keyboard one");
    b.wait_for("#thread .msg", "Sent with Command");
    page_is_clean(&b, "the dashboard");
    sign_out(&b);
    sign_in(&b, &w, &w.admin);
    b.wait_for(".ticket-row", "Keyboard");
    for (path, loaded, text) in [
        ("/settings", "#settings legend", "Branding"),
        ("/outbox", "#emails li", ""),
        ("/links", "#links td", ""),
        ("/webhooks", "#deliveries td", ""),
        ("/quarantine", "#held li", "Nothing is held."),
    ] {
        b.goto(&format!("{origin}{path}"));
        b.wait_for(loaded, text);
        page_is_clean(&b, path);
    }
}

/// Another tab in front of the page, then the page again: it polls at once
/// (shown again), and its notice of a failure goes once that works.
fn comes_back(b: &Browser) {
    let back = b.open_tab();
    b.switch_to(&back);
    b.wait_until(
        "the page updates again",
        5,
        "return document.getElementById('live-status').hidden;",
        json!([]),
    );
}

/// A staff member accepts ticket `t` (through the API, acting as them).
fn accept_as(w: &World, user: &str, t: u64) {
    let r = w.as_(
        Some(user),
        "POST",
        &format!("/api/v1/tickets/{t}/accept"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Wait until `css` shows `text` in `b`, and check it came within the
/// page's poll `interval` (plus the time to fetch and draw it) of `since`,
/// when the change was made elsewhere: no reload, no waiting for more.
fn shows_within(b: &Browser, css: &str, text: &str, since: Instant, interval: Duration) {
    b.wait_for(css, text);
    let took = since.elapsed();
    assert!(
        took <= interval + Duration::from_millis(2500),
        "{css} showed {text:?} {took:?} after the change; the poll interval is {interval:?}"
    );
}

#[test]
fn two_browsers_see_each_others_changes_without_a_reload() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Live parcel");
    let other = w.ticket(&w.cust_b, "Waiting elsewhere");
    let sue = testkit::fixtures::staff_user(&w, "sue@acme.test", &[]);
    let origin = format!("http://{}", w.host.addr);
    let (thread_poll, inbox_poll, presence_poll) = (
        Duration::from_secs(4),
        Duration::from_secs(8),
        Duration::from_secs(10),
    );
    let (staff, customer) = (Browser::start(), Browser::start());
    sign_in(&staff, &w, &w.staff);
    sign_in(&customer, &w, &w.cust_a);
    staff.wait_for(".ticket-row", "Waiting elsewhere");
    staff.goto(&format!("{origin}/console#{t}"));
    staff.wait_for("#thread .msg", "first message");
    staff.script("window.sameDocument = true;", json!([]));
    customer.click(".ticket-row", "Live parcel");
    customer.wait_for("#thread .msg", "first message");
    // A colleague (sue, through the API) opens the same ticket; the waits
    // for changes that take a while to show overlap the steps after them.
    let presence = |composing: bool| {
        let r = w.as_(
            Some(&sue),
            "POST",
            &format!("/api/v1/tickets/{t}/presence"),
            Some(json!({ "composing": composing })),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        json_of(&r)
    };
    presence(false);
    let sue_looks = Instant::now();

    // The customer replies: the staff thread shows it, no reload.
    customer.type_into("#reply-body", "Is there any news on my parcel?");
    customer.chord(&[keys::CONTROL], keys::ENTER);
    customer.wait_for("#thread .msg-by-customer", "any news");
    let sent = Instant::now();
    shows_within(
        &staff,
        "#thread .msg-by-customer",
        "any news",
        sent,
        thread_poll,
    );
    staff.wait_for(".meta .status", "Client replied");
    root_shot(&staff, "live-staff-sees-customer.png");

    // Staff answer: the customer's thread and status follow.
    staff.type_into("#reply-body", "It left the depot this morning.");
    staff.click("#send-public", "Send public reply");
    staff.wait_for("#thread .msg-public", "left the depot");
    let sent = Instant::now();
    shows_within(
        &customer,
        "#thread .msg-by-staff",
        "left the depot",
        sent,
        thread_poll,
    );
    customer.wait_for("#ticket-meta .status", "Awaiting customer");
    customer.wait_for(".ticket-row .status", "Awaiting customer");
    root_shot(&customer, "live-customer-sees-staff.png");

    // Presence: sam sees sue looking, then writing.
    shows_within(
        &staff,
        "#presence",
        "sue is viewing",
        sue_looks,
        presence_poll,
    );
    presence(true);
    let sue_writes = Instant::now();
    // Meanwhile sue accepts the other ticket: it leaves sam's Pending list.
    staff.wait_for("#count-pending", "2");
    accept_as(&w, &sue, other);
    let accepted = Instant::now();

    // Files both ways (multipart replies): listed with the message, and
    // downloadable by the other side; a refused type is said plainly and
    // leaves the text and the files in place.
    let pdf = test_file("receipt.pdf", b"%PDF-1.4\nreceipt\n%%EOF");
    let png = test_file("label.png", b"\x89PNG\r\n\x1a\nlabel");
    let exe = test_file("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00");
    customer.type_into("#reply-body", "This is not a receipt");
    customer.type_into("#reply-files", exe.to_str().unwrap());
    customer.wait_for("#reply-file-list li", "tool.exe");
    customer.click("#send-reply", "Send reply");
    customer.wait_for("#reply-status.error", "only images");
    root_shot(&customer, "live-file-refused.png");
    // The refusal itself is the one error the browser logs here.
    let logged = customer.console_errors();
    assert!(
        logged.len() == 1 && logged[0].contains("/replies") && logged[0].contains("400"),
        "{logged:#?}"
    );
    let kept = customer.script(
        "return [document.getElementById('reply-body').value, document.querySelectorAll('#reply-file-list li').length];",
        json!([]),
    );
    assert_eq!(kept, json!(["This is not a receipt", 1]));
    customer.click("#reply-file-list button", "Remove");
    customer.script(
        "document.getElementById('reply-body').value = '';",
        json!([]),
    );
    customer.type_into("#reply-body", "Here is the receipt");
    customer.type_into("#reply-files", pdf.to_str().unwrap());
    customer.wait_for("#reply-file-list li", "receipt.pdf");
    // The answer to the post is lost (it was made): sent again, the same
    // Idempotency-Key makes the server answer with that post, not make a
    // second one.
    customer.script(
        "window.keysSent = []; window.loseAnswer = true; const real = window.fetch; \
         window.fetch = async (url, init) => { \
           if (!String(url).endsWith('/replies')) return real(url, init); \
           window.keysSent.push(init.headers['idempotency-key']); \
           const r = await real(url, init); \
           if (window.loseAnswer) { window.loseAnswer = false; throw new TypeError('connection reset'); } \
           return r; };",
        json!([]),
    );
    customer.click("#send-reply", "Send reply");
    customer.wait_for("#reply-status.error", "connection reset");
    customer.click("#send-reply", "Send reply");
    customer.wait_for("#thread .msg-by-customer .files a", "receipt.pdf");
    let keys_sent = customer.script("return window.keysSent;", json!([]));
    assert!(
        keys_sent[0].is_string() && keys_sent[0] == keys_sent[1],
        "{keys_sent}"
    );
    let posts = customer.script_async(
        "const [t, done] = arguments; \
         fetch(`/api/v1/tickets/${t}/thread?limit=100`).then((r) => r.json()).then((p) => \
           done(p.messages.filter((m) => m.body_html.includes('Here is the receipt')).length));",
        json!([t]),
    );
    assert_eq!(posts, json!(1), "the reply was posted once");
    let sent = Instant::now();
    shows_within(
        &staff,
        "#thread .msg-by-customer .files a",
        "receipt.pdf",
        sent,
        thread_poll,
    );
    let download = "const [css, done] = arguments; \
        const a = [...document.querySelectorAll(css)].pop(); \
        fetch(a.href).then(async (r) => done([r.status, await r.text()]));";
    assert_eq!(
        staff.script_async(download, json!(["#thread .files a"])),
        json!([200, "%PDF-1.4\nreceipt\n%%EOF"])
    );
    staff.type_into("#reply-body", "Thanks, and here is your label.");
    staff.type_into("#reply-files", png.to_str().unwrap());
    staff.click("#send-public", "Send public reply");
    staff.wait_for("#thread .msg-public .files a", "label.png");
    let sent = Instant::now();
    shows_within(
        &customer,
        "#thread .msg-by-staff .files a",
        "label.png",
        sent,
        thread_poll,
    );
    assert_eq!(
        customer.script_async(download, json!(["#thread .files a"]))[0],
        json!(200)
    );
    root_shot(&customer, "live-files.png");

    // Back to sue: sam sees her writing, and the ticket she accepted is
    // gone from sam's Pending.
    shows_within(
        &staff,
        "#presence",
        "sue is typing…",
        sue_writes,
        presence_poll,
    );
    staff.script(
        "document.getElementById('presence').scrollIntoView({ block: 'center' });",
        json!([]),
    );
    root_shot(&staff, "live-presence.png");
    staff.wait_until(
        "the accepted ticket left Pending",
        15,
        "return ![...document.querySelectorAll('.ticket-row')].some((r) => r.textContent.includes('Waiting elsewhere'));",
        json!([]),
    );
    assert!(
        accepted.elapsed() <= inbox_poll + Duration::from_millis(2500),
        "{:?}",
        accepted.elapsed()
    );
    staff.wait_for("#count-pending", "1");
    root_shot(&staff, "live-accepted-elsewhere.png");

    // A colleague posts while this reader is writing: sue sees sam writing
    // at once (sam's page says so without waiting for its next beat); sam
    // gets a notice to review before sending, the half-written reply
    // untouched.
    staff.type_into("#reply-body", "Half-written answer");
    let sees_sam_writing = || {
        presence(true)["viewers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["user_id"] == json!(w.staff) && v["name"] == "sam" && v["composing"] == true)
    };
    let t0 = Instant::now();
    while !sees_sam_writing() {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "sue does not see sam writing: {}",
            presence(true)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let note = w.as_(
        Some(&sue),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "I am calling the carrier now", "visibility": "internal"})),
    );
    assert_eq!(note.status, 201, "{}", note.text());
    let sent = Instant::now();
    shows_within(
        &staff,
        "#collision",
        "sue added a note while you were writing",
        sent,
        thread_poll,
    );
    staff.wait_for("#collision", "review before sending");
    staff.wait_for("#thread .msg-internal", "calling the carrier");
    let draft = staff.script(
        "return document.getElementById('reply-body').value;",
        json!([]),
    );
    assert_eq!(draft, "Half-written answer");
    root_shot(&staff, "live-collision.png");
    staff.click("#send-internal", "Add internal note");
    staff.wait_for("#thread .msg-internal", "Half-written answer");
    staff.wait_until(
        "the notice is gone once sent",
        5,
        "return document.getElementById('collision').textContent === '';",
        json!([]),
    );

    // A reader who scrolled up keeps their place: a "N new" button instead.
    for i in 0..8 {
        w.as_(
            Some(&w.cust_a),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": format!("Filler line {i}\n\nto make the thread scroll")})),
        );
    }
    staff.wait_for("#thread .msg", "Filler line 7");
    staff.script(
        "document.getElementById('thread').scrollTop = 0;",
        json!([]),
    );
    w.as_(
        Some(&w.cust_a),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "One more thing"})),
    );
    let sent = Instant::now();
    shows_within(&staff, "#new-pill", "1 new", sent, thread_poll);
    let top = staff.script(
        "return document.getElementById('thread').scrollTop;",
        json!([]),
    );
    assert_eq!(top, json!(0), "the reader's place was kept");
    root_shot(&staff, "live-new-pill.png");
    staff.click("#new-pill", "1 new");
    staff.wait_until(
        "the thread is at its end",
        5,
        "const t = document.getElementById('thread'); \
         return t.scrollHeight - t.scrollTop - t.clientHeight < 32 \
           && document.getElementById('new-pill').hidden;",
        json!([]),
    );

    // Sue accepts the open ticket itself: Accept gives way to its owner.
    accept_as(&w, &sue, t);
    let accepted = Instant::now();
    shows_within(&staff, "#assignee", "with sue", accepted, thread_poll);
    staff.wait_for("#ticket-actions", "Return");
    assert!(
        staff
            .script(
                "return document.getElementById('accept') === null;",
                json!([])
            )
            .as_bool()
            .unwrap()
    );
    assert_eq!(
        staff.script("return window.sameDocument ?? null;", json!([])),
        json!(true),
        "everything above happened without a reload"
    );
    for (b, page) in [(&staff, "the console"), (&customer, "the dashboard")] {
        page_is_clean(b, page);
    }

    // Deleted elsewhere: both pages say so, and stop asking.
    let deleted = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/delete"),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let gone = Instant::now();
    shows_within(
        &staff,
        "#ticket",
        "is no longer available here",
        gone,
        thread_poll,
    );
    shows_within(
        &customer,
        "#ticket",
        "This ticket is no longer available.",
        gone,
        thread_poll,
    );
    for b in [&staff, &customer] {
        let logged = b.console_errors();
        assert!(
            !logged.is_empty()
                && logged
                    .iter()
                    .all(|e| e.contains(&format!("/api/v1/tickets/{t}")) && e.contains("404")),
            "only the vanished ticket's 404s: {logged:#?}"
        );
    }
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
    // The reply is sent as usual, and the page shows it; a double click
    // posts it once (the button is disabled on the first).
    let disabled = b.script(
        "const send = document.getElementById('send-reply'); send.click(); \
         const off = send.disabled; send.click(); return off;",
        json!([]),
    );
    assert_eq!(disabled, json!(true), "the button is disabled once sent");
    b.wait_for("#thread .msg-by-participant", "lamp base is");
    let posted = b.script(
        "return [...document.querySelectorAll('#thread .msg-by-participant')] \
           .filter((m) => m.textContent.includes('lamp base is')).length;",
        json!([]),
    );
    assert_eq!(posted, json!(1), "the reply was posted once");
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
