//! API answers that must not mislead or lose data (issue 16, found by an
//! end-to-end replay): a settings `PUT` that leaves fields out is refused
//! (and `PATCH` merges), a customer of the ticket's company is no delegate,
//! API keys' times are RFC 3339 like every other, and accepting a ticket you
//! already hold says so.

use serde_json::{Value, json};

use crate::api::{World, actions, json_of};

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

#[test]
fn a_settings_put_must_name_every_field_and_patch_merges() {
    let w = World::build(false);
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
fn a_customer_of_the_tickets_company_cannot_be_made_a_delegate() {
    let mut w = World::build(false);
    // cust_a and cust_b are customers of one company: cust_b already sees
    // cust_a's ticket.
    let t = w.ticket(&w.cust_a, "Company ticket");
    let invite = |w: &World, who: Option<&str>, email: &str| {
        w.as_(
            who,
            "POST",
            &format!("/api/v1/tickets/{t}/delegates"),
            Some(json!({"email": email})),
        )
    };
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"customers_may_invite": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let before = w.store_rows();
    for (who, email) in [
        (Some(w.staff.clone()), "cole@shop.test"),
        (Some(w.cust_a.clone()), "COLE@shop.test"),
        (None, "cara@shop.test"),
    ] {
        let r = invite(&w, who.as_deref(), email);
        assert_eq!(r.status, 409, "{email}: {}", r.text());
        let e = &json_of(&r)["error"];
        assert_eq!(e["code"], "conflict");
        assert!(
            e["message"].as_str().unwrap().contains("already sees"),
            "{}",
            r.text()
        );
    }
    assert_eq!(
        w.store_rows(),
        before,
        "refused invites write nothing (no list entry, link, email or ledger entry)"
    );
    // Someone outside the company still can be invited.
    let r = invite(&w, Some(&w.staff), "oz@else.test");
    assert_eq!(r.status, 201, "{}", r.text());
    let list = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/delegates"), None));
    let emails: Vec<&str> = list["delegates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["oz@else.test"]);
}
