//! Participants (KB Support's flow) through the host: the feature toggle,
//! adding by customer or any email, personal links that open one ticket
//! only, participant replies labelled as such, reply validation by email,
//! copy-participants emails (one per participant), removal.

use serde_json::json;

use testkit::fixtures::{enable_participants, participant_link};
use testkit::request;
use testkit::{World, call, json_of};

fn emails_to(w: &World, to: &str) -> usize {
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == to)
        .count()
}

#[test]
fn guests_take_part_through_their_personal_link() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Participants ticket");
    let other = w.ticket(&w.cust_b, "Someone else's ticket");
    let add = |email: &str| {
        w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/participants"),
            Some(json!({"email": email})),
        )
    };
    let off = add("guest@outside.test");
    assert_eq!(
        off.status,
        403,
        "the feature is off by default: {}",
        off.text()
    );
    enable_participants(&w, false);
    let r = add("guest@outside.test");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(json_of(&r)["participant"]["guest"], true);
    assert_eq!(add("GUEST@outside.test").status, 409);
    let r = add("oz@else.test");
    assert_eq!(
        json_of(&r)["participant"]["guest"],
        false,
        "a customer account is linked"
    );
    let internal = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "staff only note", "visibility": "internal"})),
    );
    assert_eq!(internal.status, 201);

    let link = participant_link(&w, "guest@outside.test");
    let page = call(&w.host, "GET", &link, &[], None);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("Participants ticket") && html.contains("first message"),
        "{html}"
    );
    assert!(
        !html.contains("staff only note"),
        "participants never see notes"
    );
    assert!(!html.contains("Someone else"), "one ticket only");
    for (h, v) in [
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-robots-tag", "noindex, nofollow"),
    ] {
        assert_eq!(page.header(h), Some(v), "{h}");
    }
    // Reply through the page form.
    let r = request(
        &w.host.addr,
        "POST",
        &link,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"body=Hello+from+the+guest",
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let staff_view = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    let last = staff_view["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["author"]["kind"].as_str(), last["source"].as_str()),
        (Some("participant"), Some("Hello from the guest"))
    );
    let cust_view = json_of(&w.as_(
        Some(&w.cust_a),
        "GET",
        &format!("/api/v1/tickets/{t}/thread"),
        None,
    ));
    assert_eq!(
        cust_view["messages"].as_array().unwrap().last().unwrap()["author"]["kind"],
        "participant"
    );
    // The link does not reach another ticket however it is bent.
    let bent = link.replace("/p/", &format!("/api/v1/tickets/{other}/thread?link="));
    assert_eq!(call(&w.host, "GET", &bent, &[], None).status, 401);
    // Removal kills the link (same neutral page as any dead link).
    let pid = json_of(&w.as_(
        None,
        "GET",
        &format!("/api/v1/tickets/{t}/participants"),
        None,
    ))["participants"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/participants/{pid}/remove"),
            None
        )
        .status,
        200
    );
    let dead = call(&w.host, "GET", &link, &[], None);
    let unknown = call(
        &w.host,
        "GET",
        "/p/acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &[],
        None,
    );
    assert_eq!((dead.status, &dead.body), (404, &unknown.body));
}

#[test]
fn reply_validation_by_email() {
    let w = World::build(false);
    enable_participants(&w, false);
    let t = w.ticket(&w.cust_a, "Validation");
    w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants"),
        Some(json!({"email": "helper@outside.test"})),
    );
    let post = |from: &str| {
        w.as_(
            None,
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": format!("from {from}"), "from_email": from})),
        )
    };
    let cases = [
        ("cara@shop.test", 201, Some("customer")), // the ticket's customer
        ("cole@shop.test", 201, Some("customer")), // same company
        ("helper@outside.test", 201, Some("participant")),
        ("stranger@nowhere.test", 403, None),
        ("oz@else.test", 403, None), // a customer, but not of this ticket
    ];
    let before = json_of(&w.as_(
        None,
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100"),
        None,
    ))["messages"]
        .as_array()
        .unwrap()
        .len();
    for (from, status, kind) in cases {
        let r = post(from);
        assert_eq!(r.status, status, "{from}: {}", r.text());
        if let Some(k) = kind {
            assert_eq!(json_of(&r)["message"]["author"]["kind"], k, "{from}");
        } else {
            assert!(
                json_of(&r)["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("may not reply"),
                "{from}"
            );
        }
    }
    let after = json_of(&w.as_(
        None,
        "GET",
        &format!("/api/v1/tickets/{t}/thread?limit=100"),
        None,
    ))["messages"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before + 3, "refused replies write nothing");
}

#[test]
fn copy_participants_emails_each_participant_separately() {
    let w = World::build(false);
    enable_participants(&w, true);
    let t = w.ticket(&w.cust_a, "Copies");
    for e in ["p1@x.test", "p2@x.test", "p3@x.test"] {
        assert_eq!(
            w.as_(
                Some(&w.staff),
                "POST",
                &format!("/api/v1/tickets/{t}/participants"),
                Some(json!({"email": e}))
            )
            .status,
            201
        );
    }
    let before: Vec<usize> = ["p1@x.test", "p2@x.test", "p3@x.test"]
        .iter()
        .map(|e| emails_to(&w, e))
        .collect();
    assert_eq!(before, vec![1, 1, 1], "one welcome email each");
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "Update for everyone"})),
    );
    assert_eq!(r.status, 201);
    let note = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "internal", "visibility": "internal"})),
    );
    assert_eq!(note.status, 201);
    let after: Vec<usize> = ["p1@x.test", "p2@x.test", "p3@x.test"]
        .iter()
        .map(|e| emails_to(&w, e))
        .collect();
    assert_eq!(
        after,
        vec![2, 2, 2],
        "one email per participant per public update, none for notes"
    );
    // Each email has its own link, and the links differ.
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    let mut links: Vec<String> = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "participant_link")
        .map(|e| {
            e["text"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .find(|s| s.contains("/p/"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        outbox["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["to"].as_str().unwrap().contains(',')),
        "never a shared list"
    );
    let n = links.len();
    links.sort();
    links.dedup();
    assert_eq!(links.len(), n, "every email carries its own link");
    // A participant replying through their page notifies the others, not themselves.
    let link = participant_link(&w, "p1@x.test");
    let r = request(
        &w.host.addr,
        "POST",
        &link,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"body=p1+says+hi",
    );
    assert_eq!(r.status, 303);
    let counts: Vec<usize> = ["p1@x.test", "p2@x.test", "p3@x.test"]
        .iter()
        .map(|e| emails_to(&w, e))
        .collect();
    assert_eq!(counts, vec![2, 3, 3]);
}

#[test]
fn admins_see_every_live_link_and_revoke_from_there() {
    let w = World::build(false);
    enable_participants(&w, false);
    let t1 = w.ticket(&w.cust_a, "One");
    let t2 = w.ticket(&w.cust_b, "Two");
    for (t, email) in [(t1, "oz@else.test")] {
        assert_eq!(
            w.as_(
                Some(&w.staff),
                "POST",
                &format!("/api/v1/tickets/{t}/delegates"),
                Some(json!({"email": email}))
            )
            .status,
            201
        );
    }
    for (t, email) in [(t1, "g1@x.test"), (t2, "g2@x.test"), (t2, "g3@x.test")] {
        assert_eq!(
            w.as_(
                Some(&w.staff),
                "POST",
                &format!("/api/v1/tickets/{t}/participants"),
                Some(json!({"email": email}))
            )
            .status,
            201
        );
    }
    let links = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/links", None));
    let all = links["links"].as_array().unwrap();
    assert_eq!(all.len(), 4, "{links}");
    assert!(
        all.iter()
            .any(|l| l["kind"] == "delegate" && l["state"] == "invited" && l["ticket"] == t1)
    );
    // Revoke and remove from the list's ids.
    let g3 = all.iter().find(|l| l["email"] == "g3@x.test").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.as_(
            Some(&w.admin),
            "POST",
            &format!("/api/v1/tickets/{t2}/participants/{g3}/remove"),
            None
        )
        .status,
        200
    );
    let oz = all.iter().find(|l| l["kind"] == "delegate").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.as_(
            Some(&w.admin),
            "POST",
            &format!("/api/v1/tickets/{t1}/delegates/{oz}/revoke"),
            None
        )
        .status,
        200
    );
    let after = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/links", None));
    let emails: Vec<&str> = after["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["g2@x.test", "g1@x.test"]);
    assert_eq!(
        w.as_(Some(&w.staff), "GET", "/api/v1/links", None).status,
        403
    );
}
