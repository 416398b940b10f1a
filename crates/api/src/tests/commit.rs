use super::prelude::*;
use domain::store::{Fault, Faulty, MemKv, Op};

/// A store whose writes of finished idempotency records fail once it
/// is armed (a store that goes away right after a post's write).
fn flaky() -> Faulty<MemKv> {
    let kv = Faulty::new(MemKv::new(), |_, key, op| {
        let needle = b"\"pending_since\":null";
        match op {
            Op::Set(value)
                if key.contains("/idem/") && value.windows(needle.len()).any(|w| w == needle) =>
            {
                Fault::Before
            }
            _ => Fault::Pass,
        }
    });
    kv.arm(false);
    kv
}

/// A committed request whose answer is larger than a store value.
fn big_post(_: &mut Env, _: &Request, _: &str) -> Result<Response> {
    Ok(Response::json(
        201,
        &json!({ "blob": "\"".repeat(600_000) }),
    ))
}

/// Runs `f` twice with one Idempotency-Key on a fresh workspace; with
/// `fail`, the store refuses to keep the finished record.
fn twice(kv: &Faulty<MemKv>, f: Handler, fail: bool) -> (Response, Response) {
    let mut n = 0u8;
    let mut random = move || {
        n += 1;
        [n; 32]
    };
    let after = domain::after::Effects::default();
    let mut env = env(kv, 1_000_000, &mut random, &after);
    let made = handle_tickets(
        &mut env,
        &json_request(
            "POST",
            "/api/v1/workspaces",
            &[("authorization", "Bearer admin-token-for-tests-0123")],
            r#"{"id":"acme","name":"Acme"}"#,
        ),
    );
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let secret: Value = serde_json::from_slice(&made.body).unwrap();
    let bearer = format!("Bearer {}", secret["secret"].as_str().unwrap());
    let req = json_request(
        "POST",
        "/api/v1/tickets",
        &[("authorization", &bearer), ("idempotency-key", "k-1")],
        "{}",
    );
    kv.arm(fail);
    let first = serve(&mut env, &req, f);
    let again = serve(&mut env, &req, f);
    (first, again)
}

#[test]
fn an_answer_too_large_to_keep_is_still_a_success_and_never_runs_twice() {
    let kv = flaky();
    let (first, again) = twice(&kv, big_post, false);
    assert_eq!(first.status, 201, "{:?}", first.internal);
    assert!(first.body.len() > domain::store::MAX_VALUE_BYTES);
    assert_eq!(again.status, 409);
    assert!(String::from_utf8_lossy(&again.body).contains("too large to keep"));
}

/// A committed request whose answer fits a store value (1 MiB) but not the
/// managed platforms' 1 MB read as 10^6 bytes.
fn near_a_mebibyte_post(_: &mut Env, _: &Request, _: &str) -> Result<Response> {
    Ok(Response::json(
        201,
        &json!({ "blob": "a".repeat(1_010_000) }),
    ))
}

#[test]
fn an_answer_over_the_portable_value_size_is_not_kept_either() {
    let kv = flaky();
    let (first, again) = twice(&kv, near_a_mebibyte_post, false);
    assert_eq!(first.status, 201, "{:?}", first.internal);
    assert!(first.body.len() < domain::store::MAX_VALUE_BYTES);
    assert!(first.body.len() > domain::store::PORTABLE_VALUE_BYTES);
    assert_eq!(again.status, 409);
    assert!(String::from_utf8_lossy(&again.body).contains("too large to keep"));
}

#[test]
fn a_store_failure_keeping_the_answer_is_logged_not_a_5xx() {
    fn small_post(_: &mut Env, _: &Request, _: &str) -> Result<Response> {
        Ok(Response::json(201, &json!({ "posted": true })))
    }
    let kv = flaky();
    let (first, again) = twice(&kv, small_post, true);
    assert_eq!(first.status, 201);
    assert!(
        first
            .internal
            .as_deref()
            .is_some_and(|i| i.contains("keeping the response for replay")),
        "{:?}",
        first.internal
    );
    // The key stays held: a retry is refused, never run again.
    assert_eq!(again.status, 409);
}
