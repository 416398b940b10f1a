//! The bad-input sweep, natively: every route of the OpenAPI document,
//! called with a malformed body, a JSON array, an oversize body, the wrong
//! content type and a method it does not serve, each by a caller who may
//! use the route. Every answer is a 4xx whose JSON body names the problem,
//! and the store is exactly as it was.

use crate::support::world;
use testkit::native::{ADMIN_TOKEN, body_json, request};
use testkit::spec::{fill_path, spec_auth};

fn assert_json_4xx(r: &api::http::Response, what: &str) {
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        (400..500).contains(&r.status),
        "{what}: {} {text}",
        r.status
    );
    let v = body_json(r);
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{what}: {} {text}",
        r.status
    );
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json")),
        "{what}: {:?}",
        r.headers
    );
}

#[test]
fn every_route_refuses_bad_input_with_json_and_writes_nothing() {
    let w = world();
    let native = w.native();
    let doc = body_json(&native.send(&request("GET", "/api/v1/openapi.json", &[], b"")));
    let admin_token = format!("Bearer {ADMIN_TOKEN}");
    let bearer = format!("Bearer {}", w.var("key"));
    let (admin, cara, spare) = (w.var("ada"), w.var("cara"), w.var("spare_key"));
    let before = native.kv().dump();
    let oversize = format!("{{\"body\": \"{}\"}}", "x".repeat(100 * 1024));
    let mut sent = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = fill_path(path, 1, &spare, &cara);
        let ops = ops.as_object().expect("operations");
        for (method, op) in ops {
            let method = method.to_ascii_uppercase();
            if op.get("requestBody").is_none() {
                continue;
            }
            let headers = spec_auth(op, &admin_token, &bearer, &admin);
            let with = |ctype: &str, body: &[u8]| {
                let mut h = headers.clone();
                h.push(("Content-Type", ctype));
                native.send(&request(&method, &concrete, &h, body))
            };
            for (what, r) in [
                (
                    "malformed JSON",
                    with("application/json", b"{\"subject\": "),
                ),
                ("a JSON array", with("application/json", b"[1, 2, 3]")),
                (
                    "oversize body",
                    with("application/json", oversize.as_bytes()),
                ),
                ("wrong content type", with("text/plain", b"{}")),
            ] {
                assert_json_4xx(&r, &format!("{method} {concrete} with {what}"));
                sent += 1;
            }
        }
        let wrong = ["PATCH", "DELETE", "PUT", "POST", "GET"]
            .into_iter()
            .find(|m| !ops.contains_key(&m.to_ascii_lowercase()))
            .expect("a method the path does not serve");
        let r = native.send(&request(
            wrong,
            &concrete,
            &[("Authorization", &bearer), ("Ticketshare-Act-As", &admin)],
            b"",
        ));
        assert_json_4xx(&r, &format!("{wrong} {concrete}"));
        sent += 1;
    }
    assert!(sent >= 100, "{sent} bad requests sent");
    let after = native.kv().dump();
    let changed: Vec<&String> = after
        .iter()
        .filter(|kv| !before.contains(kv))
        .chain(before.iter().filter(|kv| !after.contains(kv)))
        .map(|(k, _)| k)
        .collect();
    assert!(
        changed.is_empty(),
        "{sent} refused requests changed the store: {changed:?}"
    );
}
