//! Delegates (Upmind's flow) through the host: invite by email, accept from
//! the emailed link, read and post through the one reply path, revoke; links
//! are single use and every dead link looks the same.

use serde_json::json;

use testkit::fixtures::{accept, as_cookie, customer, invite_path};
use testkit::{Resp, request};
use testkit::{World, call, json_of};

#[test]
fn coffee_survey_scenario() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Special coffee blend survey");
    let buyers: Vec<(String, String)> = (1..=3)
        .map(|i| {
            let email = format!("buyer{i}@coffee.test");
            let id = customer(&w, &email);
            (email, id)
        })
        .collect();
    for (email, _) in &buyers {
        let r = w.as_(
            Some(&w.admin),
            "POST",
            &format!("/api/v1/tickets/{t}/delegates"),
            Some(json!({"email": email})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(json_of(&r)["delegate"]["status"], "invited");
    }
    let mut sessions = Vec::new();
    for (i, (email, _)) in buyers.iter().enumerate() {
        let path = invite_path(&w, email);
        // Opening the link changes nothing.
        let page = call(&w.host, "GET", &path, &[], None);
        assert_eq!(page.status, 200);
        assert!(
            page.text().contains("Special coffee blend survey") && page.text().contains("ada"),
            "{}",
            page.text()
        );
        for (h, v) in [
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            ("x-robots-tag", "noindex, nofollow"),
        ] {
            assert_eq!(page.header(h), Some(v), "{h}");
        }
        let (r, cookie) = accept(&w, &path);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some(format!("/my#{t}").as_str()))
        );
        let cookie = cookie.expect("accepting signs the delegate in");
        let post = as_cookie(
            &w,
            &cookie,
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": format!("Survey answer {i}")})),
        );
        assert_eq!(post.status, 201, "{}", post.text());
        assert_eq!(json_of(&post)["message"]["author"]["kind"], "delegate");
        sessions.push(cookie);
    }
    // Every delegate sees every post; the ticket reads Client replied. The
    // dashboard (signed in to the whole account) lists the shared ticket;
    // the invitation's own session reaches only that ticket.
    for (cookie, (_, id)) in sessions.iter().zip(&buyers) {
        let thread = as_cookie(
            &w,
            cookie,
            "GET",
            &format!("/api/v1/tickets/{t}/thread"),
            None,
        );
        let text = thread.text();
        assert!(
            (0..3).all(|i| text.contains(&format!("Survey answer {i}"))),
            "{text}"
        );
        assert_eq!(
            as_cookie(&w, cookie, "GET", "/api/v1/tickets?scope=delegated", None).status,
            404
        );
        let shared = json_of(&w.as_(Some(id), "GET", "/api/v1/tickets?scope=delegated", None));
        assert_eq!(shared["tickets"][0]["number"], t);
        assert_eq!(shared["tickets"][0]["shared"], true);
    }
    let ticket = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}"), None));
    assert_eq!(ticket["ticket"]["status"], "client_replied");
    let list = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/delegates"),
        None,
    ));
    assert!(
        list["delegates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "accepted")
    );
    // Revoke one: the very next read and post fail.
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates/{}/revoke", buyers[0].1),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        as_cookie(
            &w,
            &sessions[0],
            "GET",
            &format!("/api/v1/tickets/{t}"),
            None
        )
        .status,
        404
    );
    assert_eq!(
        as_cookie(
            &w,
            &sessions[0],
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": "x"}))
        )
        .status,
        404
    );
    assert_eq!(
        as_cookie(
            &w,
            &sessions[1],
            "GET",
            &format!("/api/v1/tickets/{t}"),
            None
        )
        .status,
        200,
        "others keep access"
    );
    // The ledger has the lifecycle.
    let trail =
        json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/audit"), None)).to_string();
    for action in [
        "delegate.invited",
        "delegate.link_opened",
        "delegate.accepted",
        "delegate.revoked",
    ] {
        assert!(trail.contains(action), "{action}");
    }
}

#[test]
fn links_are_single_use_and_dead_links_all_look_the_same() {
    let w = World::build_full(false, &[], &["--allow-clock-shift"]);
    let t = w.ticket(&w.cust_a, "Links");
    let ids: Vec<String> = (0..4)
        .map(|i| customer(&w, &format!("d{i}@x.test")))
        .collect();
    let invite = |i: usize| {
        let r = w.as_(
            Some(&w.staff),
            "POST",
            &format!("/api/v1/tickets/{t}/delegates"),
            Some(json!({"email": format!("d{i}@x.test")})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        invite_path(&w, &format!("d{i}@x.test"))
    };
    // GET never accepts.
    let p0 = invite(0);
    for _ in 0..3 {
        assert_eq!(call(&w.host, "GET", &p0, &[], None).status, 200);
    }
    let d = json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}/delegates"), None));
    assert_eq!(d["delegates"][0]["status"], "invited");
    // 100 parallel accepts of one link: exactly one succeeds.
    let addr = w.host.addr.clone();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..100)
            .map(|_| {
                let (addr, p0) = (addr.clone(), p0.clone());
                s.spawn(move || request(&addr, "POST", &p0, &[], b"").status)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    // Dead links: accepted (p0), revoked (p1), expired (p2), unknown.
    let p1 = invite(1);
    w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/delegates/{}/revoke", ids[1]),
        None,
    );
    let p2 = invite(2);
    let unknown = "/i/acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
    let garbage = "/i/not-a-link".to_string();
    let shift = request(
        &w.host.addr,
        "POST",
        "/.well-known/ticketshare/clock",
        &[("Content-Type", "application/json")],
        br#"{"offset_seconds": 691200}"#,
    );
    assert_eq!(shift.status, 200);
    let pages: Vec<Resp> = [&p0, &p1, &p2, &unknown, &garbage]
        .iter()
        .map(|p| call(&w.host, "GET", p, &[], None))
        .collect();
    let posts: Vec<Resp> = [&p0, &p1, &p2, &unknown, &garbage]
        .iter()
        .map(|p| request(&w.host.addr, "POST", p, &[], b""))
        .collect();
    for r in pages.iter().chain(&posts) {
        assert_eq!(r.status, 404);
        assert_eq!(r.body, pages[0].body, "byte-identical");
        assert!(r.header("set-cookie").is_none());
    }
}
