//! The inbox views and transfers, through the handlers over an in-memory store.

use super::prelude::*;
use domain::ids::WorkspaceId;
use domain::store::{Kv, MemKv};

fn call(kv: &MemKv, method: &str, path: &str, auth: &str, body: &str) -> Response {
    let mut n = 0u8;
    let mut random = move || {
        n = n.wrapping_add(1);
        [n; 32]
    };
    let after = domain::after::Effects::default();
    let mut env = env(kv, 1_000_000, &mut random, &after);
    crate::handle_tickets(
        &mut env,
        &json_request(method, path, &[("authorization", auth)], body),
    )
}

fn json_of(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// A ticket number taken and never written is no ticket: the reindex
/// counts the tickets it found, not the numbers handed out.
#[test]
fn the_reindex_counts_tickets_not_numbers() {
    let kv = MemKv::new();
    let made = call(
        &kv,
        "POST",
        "/api/v1/workspaces",
        "Bearer admin-token-for-tests-0123",
        r#"{"id":"acme","name":"Acme"}"#,
    );
    assert_eq!(made.status, 201);
    let bearer = format!("Bearer {}", json_of(&made)["secret"].as_str().unwrap());
    let cus = call(
        &kv,
        "PUT",
        "/api/v1/users",
        &bearer,
        r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
    );
    let cus = json_of(&cus)["user"]["id"].as_str().unwrap().to_string();
    let ws = WorkspaceId::parse("acme").unwrap();
    let new_ticket = || {
        let body = json!({"customer_id": cus, "subject": "S", "body": "b"}).to_string();
        let t = call(&kv, "POST", "/api/v1/tickets", &bearer, &body);
        assert_eq!(t.status, 201, "{}", String::from_utf8_lossy(&t.body));
    };
    new_ticket();
    // Number 2 handed out, its ticket never written.
    kv.increment(&domain::keys::ticket_counter(&ws), 1).unwrap();
    new_ticket();
    let r = call(&kv, "POST", "/api/v1/inbox/reindex", &bearer, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json_of(&r), json!({"tickets": 2, "placed": 0}));
}
