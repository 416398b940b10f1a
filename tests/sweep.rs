//! The bad-input sweep: every route of the OpenAPI document, called with a
//! malformed body, an oversize body, the wrong content type and a method it
//! does not serve, each by a caller who may use the route. Every answer is a
//! 4xx whose JSON body names the problem, and the store is exactly as it
//! was (read from the host's SQLite file, the host stopped around it).

use std::collections::BTreeMap;

use serde_json::Value;

use testkit::ADMIN_TOKEN;
use testkit::fixtures::{fill_path, spec_auth, spec_world};
use testkit::{Resp, request};
use testkit::{call, json_of};

fn assert_json_4xx(r: &Resp, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: {} {}",
        r.status,
        r.text()
    );
    let v: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("{what}: {} without a JSON body: {}", r.status, r.text()));
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{what}: {}",
        r.text()
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{what}: content type {:?}",
        r.header("content-type")
    );
}

#[test]
fn every_route_refuses_bad_input_with_json_and_writes_nothing() {
    let (mut w, t, spare_id) = spec_world();
    let doc = json_of(&call(&w.host, "GET", "/api/v1/openapi.json", &[], None));
    let admin_token = format!("Bearer {ADMIN_TOKEN}");
    let bearer = w.bearer();
    let before: BTreeMap<String, Vec<u8>> = w.store_rows().into_iter().collect();
    assert!(
        before.len() > 10,
        "the store is readable: {} keys",
        before.len()
    );
    let oversize = format!("{{\"body\": \"{}\"}}", "x".repeat(100 * 1024));
    let mut sent = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = fill_path(path, t, &spare_id, &w.cust_a);
        let ops = ops.as_object().unwrap();
        for (method, op) in ops {
            let method = method.to_ascii_uppercase();
            let headers = spec_auth(op, &admin_token, &bearer, &w.admin);
            if op.get("requestBody").is_none() {
                continue;
            }
            let with = |ctype: &str, body: &[u8]| {
                let mut h = headers.clone();
                h.push(("Content-Type", ctype));
                request(&w.host.addr, &method, &concrete, &h, body)
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
        // A method the path does not serve.
        let wrong = ["PATCH", "DELETE", "PUT", "POST", "GET"]
            .into_iter()
            .find(|m| !ops.contains_key(&m.to_ascii_lowercase()))
            .unwrap();
        let r = request(
            &w.host.addr,
            wrong,
            &concrete,
            &[("Authorization", &bearer), ("Ticketshare-Act-As", &w.admin)],
            b"",
        );
        assert_json_4xx(&r, &format!("{wrong} {concrete}"));
        sent += 1;
    }
    assert!(sent >= 100, "{sent} bad requests sent");
    let after: BTreeMap<String, Vec<u8>> = w.store_rows().into_iter().collect();
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(before.keys().filter(|k| !after.contains_key(*k)))
        .collect();
    assert!(
        changed.is_empty(),
        "{sent} refused requests changed the store: {changed:?}"
    );
}
