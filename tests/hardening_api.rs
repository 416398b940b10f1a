//! API answers that must not mislead or lose data (issue 16, found by an
//! end-to-end replay): a settings `PUT` that leaves fields out is refused
//! (and `PATCH` merges), a customer of the ticket's company is no delegate,
//! API keys' times are RFC 3339 like every other, and accepting a ticket you
//! already hold says so.

use serde_json::{Value, json};

use testkit::{World, actions, json_of};

fn settings(w: &World) -> Value {
    let r = w.as_(None, "GET", "/api/v1/workspace", None);
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)["settings"].clone()
}

fn audit_actions(w: &World) -> Vec<String> {
    let r = w.as_(None, "GET", "/api/v1/audit?limit=500", None);
    assert_eq!(r.status, 200, "{}", r.text());
    actions(&json_of(&r))
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn count(list: &[String], action: &str) -> usize {
    list.iter().filter(|a| *a == action).count()
}

/// Whether `s` looks like the API's RFC 3339 times (`2026-11-22T03:35:15.123Z`).
fn is_rfc3339(s: &Value) -> bool {
    let Some(s) = s.as_str() else {
        return false;
    };
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

#[test]
fn a_settings_put_must_name_every_field_and_patch_merges() {
    a_settings_put_must_name_every_field_and_patch_merges_on(false);
}

#[test]
fn a_settings_put_must_name_every_field_and_patch_merges_on_redis() {
    a_settings_put_must_name_every_field_and_patch_merges_on(true);
}

fn a_settings_put_must_name_every_field_and_patch_merges_on(redis: bool) {
    let w = World::build(redis);
    let admin = Some(w.admin.as_str());
    let path = "/api/v1/workspace/settings";
    // PATCH changes what it names and keeps everything else.
    let r = w.as_(
        admin,
        "PATCH",
        path,
        Some(json!({"branding": {"company_name": "Acme Shop", "brand_colour": "#aa3300"}, "share_link_hours": 24})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w.as_(admin, "PATCH", path, Some(json!({"sign_replies": true})));
    assert_eq!(r.status, 200, "{}", r.text());
    let s = settings(&w);
    assert_eq!(s["branding"]["company_name"], "Acme Shop");
    assert_eq!(s["branding"]["brand_colour"], "#aa3300");
    assert_eq!(s["share_link_hours"], 24);
    assert_eq!(s["sign_replies"], true);
    assert_eq!(
        json_of(&r)["settings"],
        s,
        "the answer shows the merged settings"
    );

    // A PUT that leaves fields out would reset them: refused, naming them,
    // and nothing changes.
    let before_audit = audit_actions(&w);
    let r = w.as_(
        admin,
        "PUT",
        path,
        Some(json!({"participants_enabled": true, "branding": {"company_name": "Acme"}})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &json_of(&r)["error"];
    assert_eq!(e["code"], "missing_field");
    let msg = e["message"].as_str().unwrap();
    for field in [
        "branding.logo_url",
        "branding.logo_link",
        "branding.brand_colour",
        "share_link_hours",
        "sign_replies",
        "copy_participants",
        "auto_add_senders",
        "customers_may_invite",
        "revoke_on_resolve",
    ] {
        assert!(msg.contains(field), "{field} not named: {msg}");
    }
    assert!(
        !msg.contains("participants_enabled") && !msg.contains("company_name"),
        "only missing fields are named: {msg}"
    );
    assert_eq!(settings(&w), s, "a refused PUT changes nothing");
    assert_eq!(audit_actions(&w), before_audit, "nor the ledger");

    // A full PUT replaces everything.
    let mut full = s.clone();
    full["branding"]["logo_link"] = json!("https://acme.test/");
    full["share_link_hours"] = json!(48);
    let r = w.as_(admin, "PUT", path, Some(full.clone()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(settings(&w), full);

    // A bad PATCH writes nothing; null puts a setting back to its default.
    let r = w.as_(
        admin,
        "PATCH",
        path,
        Some(json!({"sign_replies": false, "branding": {"brand_colour": "red"}})),
    );
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].as_str()),
        (400, Some("invalid_field")),
        "{}",
        r.text()
    );
    let r = w.as_(admin, "PATCH", path, Some(json!({"colour": "#000000"})));
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].as_str()),
        (400, Some("unknown_field")),
        "{}",
        r.text()
    );
    assert_eq!(settings(&w), full, "refused patches change nothing");
    let r = w.as_(
        admin,
        "PATCH",
        path,
        Some(json!({"share_link_hours": null})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(settings(&w)["share_link_hours"], 72);
    assert_eq!(settings(&w)["branding"]["logo_link"], "https://acme.test/");
    // Only admins patch.
    let r = w.as_(
        Some(&w.staff),
        "PATCH",
        path,
        Some(json!({"sign_replies": false})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
}

#[test]
fn api_key_and_outbox_times_are_rfc3339_like_every_other() {
    let w = World::build(false);
    let r = w.as_(
        None,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"label": "ci"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = json_of(&r)["api_key"].clone();
    assert!(is_rfc3339(&created["created_at"]), "{created}");
    assert!(created.get("token_hash").is_none(), "{created}");
    let r = w.as_(None, "GET", "/api/v1/api-keys", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let keys = json_of(&r)["api_keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in &keys {
        assert!(is_rfc3339(&k["created_at"]), "{k}");
        assert!(k["id"].is_string() && k["prefix"].is_string(), "{k}");
        assert_eq!(k["revoked"], false);
    }
    assert_eq!(keys[1], created, "listed as it was shown at creation");
    // The workspace's first key, shown when the workspace is made.
    let r = testkit::call(
        &w.host,
        "POST",
        "/api/v1/workspaces",
        &[("Authorization", &format!("Bearer {}", testkit::ADMIN_TOKEN))],
        Some(json!({"id": "initech", "name": "Initech"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let first = &json_of(&r)["api_key"];
    assert!(is_rfc3339(&first["created_at"]), "{first}");
    // The workspace's own time, and the outbox's, are RFC 3339 too.
    let ws = json_of(&w.as_(None, "GET", "/api/v1/workspace", None));
    assert!(is_rfc3339(&ws["created_at"]), "{ws}");
    let r = testkit::call(
        &w.host,
        "POST",
        "/api/v1/auth/email-login",
        &[],
        Some(json!({"workspace": "acme", "email": "cara@shop.test"})),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    let emails = outbox["emails"].as_array().unwrap();
    assert!(!emails.is_empty(), "{outbox}");
    for e in emails {
        assert!(is_rfc3339(&e["created_at"]), "{}", e["created_at"]);
    }
}

#[test]
fn accepting_a_ticket_you_hold_says_it_was_already_yours() {
    accepting_a_ticket_you_hold_says_it_was_already_yours_on(false);
}

#[test]
fn accepting_a_ticket_you_hold_says_it_was_already_yours_on_redis() {
    accepting_a_ticket_you_hold_says_it_was_already_yours_on(true);
}

fn accepting_a_ticket_you_hold_says_it_was_already_yours_on(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Mine twice");
    let accept = || {
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/accept"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        json_of(&r)
    };
    let first = accept();
    assert_eq!(first["already_yours"], false, "{first}");
    assert_eq!(first["ticket"]["assignee_id"], w.staff.as_str());
    let ledger = audit_actions(&w);
    let again = accept();
    assert_eq!(again["already_yours"], true, "{again}");
    assert_eq!(
        again["ticket"], first["ticket"],
        "nothing changed: same version, same times"
    );
    assert_eq!(
        count(&audit_actions(&w), "ticket.assigned"),
        count(&ledger, "ticket.assigned"),
        "no second assignment in the ledger (nor a webhook)"
    );
    // Someone else still learns who has it.
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/accept"),
        None,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("sam took ticket"), "{}", r.text());
}
