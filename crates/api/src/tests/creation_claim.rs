//! `POST /api/v1/workspaces` and `PUT /api/v1/users` claim a name (a
//! workspace id, an email): a creation that fails or dies is completed
//! by its retry (same Idempotency-Key) at once, or by any request after
//! the stale time, and concurrent creations have one winner, whatever
//! the store answers.
use super::prelude::*;
use domain::record::CLAIM_STALE;
use domain::store::{Fault, Faulty, MemKv, Op, die_at, spin_redis};
use std::panic::{AssertUnwindSafe, catch_unwind};

const T: Millis = 1_000_000;

fn call(
    kv: &dyn Kv,
    now: Millis,
    seed: u8,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut n = 0u8;
    let mut random = move || {
        n = n.wrapping_add(1);
        let mut r = [n; 32];
        r[0] = seed;
        r
    };
    let after = domain::after::Effects::default();
    let mut env = env(kv, now, &mut random, &after);
    handle_tickets(&mut env, &json_request(method, path, headers, body))
}

/// `POST /api/v1/workspaces` for `acme`, with an Idempotency-Key or not.
fn create(kv: &dyn Kv, now: Millis, seed: u8, idem: Option<&str>) -> Response {
    let admin = format!("Bearer {ADMIN}");
    let mut headers = vec![("authorization", admin.as_str())];
    if let Some(k) = idem {
        headers.push(("idempotency-key", k));
    }
    call(
        kv,
        now,
        seed,
        "POST",
        "/api/v1/workspaces",
        &headers,
        r#"{"id":"acme","name":"Acme"}"#,
    )
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The workspace a 201 created works with the key it returned.
fn works(kv: &dyn Kv, made: &Response) {
    assert_eq!(made.status, 201, "{}", text(made));
    let v: Value = serde_json::from_slice(&made.body).unwrap();
    let bearer = format!("Bearer {}", v["secret"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let r = call(kv, T, 90, "GET", "/api/v1/workspace", &auth, "");
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = call(
        kv,
        T,
        91,
        "PUT",
        "/api/v1/users",
        &auth,
        r#"{"email":"ada@acme.test","name":"Ada","role":"admin"}"#,
    );
    assert!(r.status == 201 || r.status == 200, "{}", text(&r));
}

/// Runs a creation that dies (its instance traps) where [`die_at`] says.
fn dies(kv: &dyn Kv, idem: Option<&str>) {
    let r = catch_unwind(AssertUnwindSafe(|| create(kv, T, 1, idem)));
    assert!(r.is_err(), "the first attempt died");
}

#[test]
fn on_spin_redis_a_workspace_creation_that_died_after_its_claim_is_completed_by_its_retry_at_once()
{
    let kv = spin_redis();
    die_at("/api-keys", 1);
    dies(&kv, Some("k-1"));
    // Another creation waits for the one in progress...
    assert_eq!(create(&kv, T, 2, None).status, 409);
    assert_eq!(create(&kv, T, 3, Some("k-2")).status, 409);
    // ...while its retry completes it at once.
    let made = create(&kv, T + 1, 4, Some("k-1"));
    works(&kv, &made);
    // Done: the id is taken for good, for the retry too.
    for (seed, idem) in [(5, None), (6, Some("k-1"))] {
        let r = create(&kv, T + 10 * CLAIM_STALE, seed, idem);
        assert_eq!(r.status, 409);
        assert!(text(&r).contains("already exists"), "{}", text(&r));
    }
}

#[test]
fn on_spin_redis_a_workspace_creation_that_died_is_taken_over_by_any_creation_after_a_minute() {
    let kv = spin_redis();
    die_at("/meta", 1);
    dies(&kv, None);
    assert_eq!(create(&kv, T + CLAIM_STALE - 1, 2, None).status, 409);
    works(&kv, &create(&kv, T + CLAIM_STALE, 3, None));
    assert_eq!(create(&kv, T + 2 * CLAIM_STALE, 4, None).status, 409);
}

#[test]
fn on_spin_redis_a_workspace_creation_that_died_after_its_record_is_completed_with_a_fresh_key() {
    let kv = spin_redis();
    // The claim's third write (after the increment that makes it exist
    // and the swap that takes it) marks it finished: the record is there.
    die_at("/claim", 3);
    dies(&kv, Some("k-1"));
    let ws = WorkspaceId::parse("acme").unwrap();
    assert!(workspace::workspace(&kv, &ws).is_ok());
    let made = create(&kv, T + 1, 2, Some("k-1"));
    works(&kv, &made);
    // The dead attempt's key (its secret never shown) stays listed.
    assert_eq!(auth::list_api_keys(&kv, &ws).unwrap().len(), 2);
    assert_eq!(create(&kv, T + 2, 3, Some("k-1")).status, 409);
}

#[test]
fn a_workspace_whose_record_write_lost_its_answer_is_created() {
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Set(_) if key.ends_with("/meta") => Fault::After,
        _ => Fault::Pass,
    });
    works(&kv, &create(&kv, T, 1, None));
    assert_eq!(create(&kv, T + 1, 2, None).status, 409);
}

#[test]
fn workspaces_claimed_by_the_old_counter_stay_taken_and_ids_it_stranded_are_free() {
    let kv = MemKv::new();
    // Created before claims had holders: a counter and the record.
    let ws = WorkspaceId::parse("acme").unwrap();
    kv.increment(&keys::workspace_claim(&ws), 1).unwrap();
    domain::record::write(
        &kv,
        &keys::workspace(&ws),
        &workspace::Workspace {
            id: ws.clone(),
            name: "Acme".into(),
            settings: Settings::default(),
            created_at: 0,
            version: 0,
        },
    )
    .unwrap();
    let r = create(&kv, T, 1, None);
    assert_eq!(r.status, 409);
    assert!(text(&r).contains("already exists"), "{}", text(&r));
    // A claim the old code took and then died: the id is free again.
    let kv = MemKv::new();
    kv.increment(&keys::workspace_claim(&ws), 3).unwrap();
    works(&kv, &create(&kv, T, 2, None));
}

#[test]
fn concurrent_workspace_creations_have_one_winner_even_when_a_claim_answer_is_lost() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static LOST: AtomicBool = AtomicBool::new(false);
    // Every swap is written and reported failed, and the first write
    // to the claim loses its answer.
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        _ if key.ends_with("/claim") && !LOST.swap(true, Ordering::SeqCst) => Fault::After,
        Op::Swap(_) => Fault::SwapDenied,
        _ => Fault::Pass,
    });
    let answers: Vec<Response> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8u8)
            .map(|i| {
                let kv = &kv;
                s.spawn(move || {
                    // A client retries what failed (5xx).
                    let mut r = create(kv, T, 10 * i, None);
                    for k in 1..5 {
                        if r.status < 500 {
                            break;
                        }
                        r = create(kv, T, 10 * i + k, None);
                    }
                    r
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&Response> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(text).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|r| r.status == 201 || r.status == 409));
    works(&kv, won[0]);
}

#[test]
fn on_spin_redis_a_user_creation_that_died_is_completed_by_its_retry_at_once() {
    let kv = MemKv::new();
    let made = create(&kv, T, 1, None);
    assert_eq!(made.status, 201);
    let v: Value = serde_json::from_slice(&made.body).unwrap();
    let bearer = format!("Bearer {}", v["secret"].as_str().unwrap());
    let kv = {
        let redis = spin_redis();
        for (k, v) in kv.dump() {
            redis.inner.set(&k, &v).unwrap();
        }
        redis
    };
    let put = |seed: u8, now: Millis, idem: Option<&str>| {
        let mut h = vec![("authorization", bearer.as_str())];
        if let Some(k) = idem {
            h.push(("idempotency-key", k));
        }
        call(
            &kv,
            now,
            seed,
            "PUT",
            "/api/v1/users",
            &h,
            r#"{"email":"sam@acme.test","name":"Sam","role":"staff"}"#,
        )
    };
    die_at("/user/", 1);
    assert!(catch_unwind(AssertUnwindSafe(|| put(2, T, Some("u-1")))).is_err());
    assert_eq!(put(3, T, None).status, 409, "in progress");
    let r = put(4, T + 1, Some("u-1"));
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = serde_json::from_slice::<Value>(&r.body).unwrap()["user"]["id"].clone();
    let r = put(5, T + 2, None);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["user"]["id"],
        id
    );
}
