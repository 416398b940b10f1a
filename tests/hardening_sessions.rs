//! Sessions on the open internet (issue 16): the right share code sent
//! twice is harmless.

use serde_json::json;

use crate::api::{World, json_of};
use crate::support::{Resp, request};

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
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Double click");
    crate::shares::share(
        &w,
        t,
        json!({"email": "dock@carrier.test", "subject": "Where is it?"}),
    );
    let link = crate::shares::share_link(&w, "dock@carrier.test");
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
    let code = crate::shares::code_for(&w, "dock@carrier.test");
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
