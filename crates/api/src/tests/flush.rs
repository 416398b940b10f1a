//! The webhook flushes over the deployment's due index: a retry or a
//! redelivery is found by the next flush however much history lies before
//! it (issue 22: one endpoint failing for a day stalled every newer
//! retry), one flush serves every workspace (the deployment admin token),
//! an attempt whose index write failed is found again, and repeated or
//! concurrent flushes send an event once.
use super::prelude::*;
use domain::after::Effects;
use domain::events::Event;
use domain::seal::SealKey;
use domain::store::{Fault, Faulty, MemKv, Op};
use domain::webhooks;

/// Receivers: an endpoint at this host always answers 500.
const FAILING: &str = "https://down.example/h";

struct World {
    kv: Faulty<MemKv>,
    now: Millis,
    n: u64,
    /// Each workspace's API key (`Bearer …`).
    keys: Vec<(WorkspaceId, String)>,
    /// Deliveries sent (workspace, delivery number, url), in order.
    sent: Vec<(WorkspaceId, u64, String)>,
    /// The next attempts answer 503 (the receiver is briefly down).
    down: usize,
}

impl World {
    fn new(kv: Faulty<MemKv>, workspaces: &[&str]) -> Self {
        kv.arm(false);
        let mut w = World {
            kv,
            now: 1_000_000_000,
            n: 0,
            keys: Vec::new(),
            sent: Vec::new(),
            down: 0,
        };
        for id in workspaces {
            let made = w.call(
                "POST",
                "/api/v1/workspaces",
                &format!("Bearer {ADMIN}"),
                &format!(r#"{{"id":"{id}","name":"{id}"}}"#),
            );
            assert_eq!(made.status, 201);
            let v: Value = serde_json::from_slice(&made.body).unwrap();
            let key = format!("Bearer {}", v["secret"].as_str().unwrap());
            w.keys.push((WorkspaceId::parse(id).unwrap(), key));
        }
        w
    }

    /// One request at the world's time; its after-response deliveries are
    /// attempted (as the platform does).
    fn call(&mut self, method: &str, path: &str, bearer: &str, body: &str) -> Response {
        let resp = self.call_only(method, path, bearer, body);
        self.attempt(&resp.after.deliver.clone());
        resp
    }

    /// One request whose after-response work is left to the caller.
    fn call_only(&mut self, method: &str, path: &str, bearer: &str, body: &str) -> Response {
        let mut n = self.n;
        let mut random = || {
            n += 1;
            let mut r = [0u8; 32];
            r[..8].copy_from_slice(&n.to_le_bytes());
            r[8] = 7;
            r
        };
        let after = Effects::default();
        let handler = if path.starts_with("/api/v1/webhooks") {
            handle_webhooks
        } else {
            handle_tickets
        };
        let mut env = env(&self.kv, self.now, &mut random, &after);
        let resp = handler(
            &mut env,
            &json_request(method, path, &[("authorization", bearer)], body),
        );
        self.n = n;
        resp
    }

    /// Attempt deliveries as the platform does after a response: the claim
    /// (`prepare`), then the outcome.
    fn attempt(&mut self, list: &[(WorkspaceId, u64)]) {
        let key = SealKey::derive(ADMIN);
        for (ws, n) in list {
            let Ok(Some(p)) = webhooks::prepare(&self.kv, ws, *n, self.now, &key, false) else {
                continue;
            };
            let status = if p.url == FAILING || self.down > 0 {
                self.down = self.down.saturating_sub(1);
                if p.url == FAILING { 500 } else { 503 }
            } else {
                200
            };
            self.sent.push((ws.clone(), *n, p.url.clone()));
            webhooks::record_attempt(&self.kv, ws, *n, self.now, Ok(status)).unwrap();
        }
    }

    fn endpoint(&mut self, ws: usize, url: &str, types: &[&str]) {
        let key = self.keys[ws].1.clone();
        let body = json!({"url": url, "event_types": types}).to_string();
        let r = self.call("POST", "/api/v1/webhooks", &key, &body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }

    /// An event in workspace `ws`, its deliveries attempted after it.
    fn event(&mut self, ws: usize, event: Event) -> Vec<u64> {
        let after = Effects::default();
        let id = self.keys[ws].0.clone();
        let ctx = domain::ctx::Ctx {
            kv: &self.kv,
            ws: &id,
            now: self.now,
            actor: "u_test",
            request_id: "r",
            after: &after,
        };
        let ds = webhooks::emit(&ctx, event, "t", None).unwrap();
        self.attempt(&after.take().deliver);
        ds
    }

    /// `POST /api/v1/webhooks/flush` with workspace `ws`'s key; the
    /// deliveries it hands out are attempted.
    fn flush(&mut self, ws: usize) -> (Value, Vec<(WorkspaceId, u64)>) {
        let key = self.keys[ws].1.clone();
        let r = self.call("POST", "/api/v1/webhooks/flush", &key, "");
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        (serde_json::from_slice(&r.body).unwrap(), r.after.deliver)
    }

    /// `POST /api/v1/webhooks/deployment-flush` with the deployment token;
    /// the hand-outs are not attempted yet.
    fn deployment_flush(&mut self) -> (Value, Vec<(WorkspaceId, u64)>) {
        let r = self.call_only(
            "POST",
            "/api/v1/webhooks/deployment-flush",
            &format!("Bearer {ADMIN}"),
            "",
        );
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        (serde_json::from_slice(&r.body).unwrap(), r.after.deliver)
    }

    fn delivery(&self, ws: usize, n: u64) -> webhooks::Delivery {
        webhooks::delivery(&self.kv, &self.keys[ws].0, n).unwrap()
    }
}

fn passing() -> Faulty<MemKv> {
    Faulty::new(MemKv::new(), |_, _, _| Fault::Pass)
}

/// Issue 22: an endpoint that keeps failing, then 600 later events (every
/// one delivered), with the flush running every 30 s as the host's
/// interval does. A delivery that then fails once, and a redelivery whose
/// first attempt fails, are both attempted by the next flush after their
/// retry is due (the old flush scanned 500 deliveries past the oldest
/// pending one and found neither for a day).
#[test]
fn a_failing_endpoint_never_stalls_newer_retries() {
    let mut w = World::new(passing(), &["acme"]);
    w.endpoint(0, FAILING, &["share.created"]);
    w.endpoint(0, "https://ok.example/h", &["ticket.created"]);
    let stuck = w.event(0, Event::ShareCreated)[0];
    assert_eq!(w.delivery(0, stuck).state, webhooks::DeliveryState::Pending);
    let mut last_flush = w.now;
    for _ in 0..600 {
        w.now += 500;
        w.event(0, Event::TicketCreated);
        if w.now - last_flush >= 30_000 {
            w.flush(0);
            last_flush = w.now;
        }
    }
    assert_eq!(
        w.delivery(0, stuck).state,
        webhooks::DeliveryState::Pending,
        "the failing endpoint's delivery is still being retried"
    );
    // A newer delivery fails once; a redelivery's first attempt fails.
    w.down = 1;
    let newer = w.event(0, Event::TicketCreated)[0];
    w.down = 1;
    let key = w.keys[0].1.clone();
    let r = w.call("POST", "/api/v1/webhooks/deliveries/5/redeliver", &key, "");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let again: Value = serde_json::from_slice(&r.body).unwrap();
    let again = again["delivery"]["n"].as_u64().unwrap();
    assert_eq!(w.delivery(0, newer).last_status, Some(503));
    assert_eq!(w.delivery(0, again).last_status, Some(503));
    w.now += webhooks::CLAIM_HOLD;
    let (answer, handed) = w.flush(0);
    let ws = w.keys[0].0.clone();
    assert!(handed.contains(&(ws.clone(), newer)), "{handed:?}");
    assert!(handed.contains(&(ws.clone(), again)), "{handed:?}");
    assert!(answer["attempting"].as_u64().unwrap() >= 2, "{answer}");
    for n in [newer, again] {
        assert_eq!(w.delivery(0, n).state, webhooks::DeliveryState::Succeeded);
    }
}

/// One flush with the deployment token serves every workspace; a repeated
/// flush hands nothing out twice, and one that hands the same deliveries
/// out again (their attempts had not run) still sends each once.
#[test]
fn one_deployment_flush_serves_every_workspace_and_sends_each_event_once() {
    let mut w = World::new(passing(), &["acme", "beta"]);
    w.endpoint(0, "https://a.example/h", &[]);
    w.endpoint(1, "https://b.example/h", &[]);
    w.down = 2;
    let a = w.event(0, Event::TicketCreated)[0];
    let b = w.event(1, Event::TicketCreated)[0];
    let (answer, _) = w.deployment_flush();
    assert_eq!(
        answer,
        json!({"attempting": 0, "expired": 0, "more": false})
    );
    w.now += webhooks::CLAIM_HOLD;
    let (answer, first) = w.deployment_flush();
    assert_eq!(answer["attempting"], 2, "{answer}");
    assert_eq!(answer["more"], false, "{answer}");
    let (acme, beta) = (w.keys[0].0.clone(), w.keys[1].0.clone());
    assert_eq!(first, vec![(acme.clone(), a), (beta.clone(), b)]);
    // Called again at once: the cursor moved past them, nothing twice.
    let (_, again) = w.deployment_flush();
    assert!(again.is_empty(), "{again:?}");
    // A minute later, the first call's attempts still not made (a slow or
    // dead instance): handed out again; the claim sends each once.
    w.now += 61_000;
    let (_, second) = w.deployment_flush();
    assert_eq!(second, first);
    w.attempt(&first);
    w.attempt(&second);
    assert_eq!(
        w.sent.iter().filter(|(_, n, _)| [a, b].contains(n)).count(),
        4,
        "one failed first attempt and one retry each"
    );
    for ws in [0, 1] {
        let d = w.delivery(ws, if ws == 0 { a } else { b });
        assert_eq!(
            (d.state, d.attempts),
            (webhooks::DeliveryState::Succeeded, 2)
        );
    }
    let (answer, _) = w.deployment_flush();
    assert_eq!(answer["attempting"], 0, "{answer}");
}

/// The deployment flush takes the deployment token only (an API key, a
/// wrong or missing token: 401 JSON), no body (a huge one: 413; any
/// other: 400), and only POST (405).
#[test]
fn the_deployment_flush_refuses_bad_requests() {
    let mut w = World::new(passing(), &["acme"]);
    let path = "/api/v1/webhooks/deployment-flush";
    let api_key = w.keys[0].1.clone();
    for bearer in [
        api_key.as_str(),
        "Bearer admin-token-for-tests-0124",
        "Bearer ",
        "",
    ] {
        let r = w.call("POST", path, bearer, "");
        assert_eq!(r.status, 401, "{bearer}");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error"].is_object() || v["error"].is_string(), "{v}");
    }
    let admin = format!("Bearer {ADMIN}");
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_eq!(w.call("POST", path, &admin, &huge).status, 413);
    assert_eq!(w.call("POST", path, &admin, "{}").status, 400);
    assert_eq!(w.call("GET", path, &admin, "").status, 405);
    // An empty deployment answers, repeatedly.
    for _ in 0..3 {
        assert_eq!(w.call("POST", path, &admin, "").status, 202);
    }
}

/// The index write of an attempt's next retry fails: that attempt is not
/// made (nothing is claimed unindexed), and a later flush finds the
/// delivery again through the re-check the flush wrote before moving on.
#[test]
fn an_attempt_whose_index_write_failed_is_found_again() {
    let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
        Op::Set(_) if key.starts_with(keys::WEBHOOK_DUE_PREFIX) => Fault::Before,
        _ => Fault::Pass,
    });
    let mut w = World::new(kv, &["acme"]);
    w.endpoint(0, "https://a.example/h", &[]);
    w.down = 1;
    let a = w.event(0, Event::TicketCreated)[0];
    w.now += 5 * 60_000;
    let (_, handed) = w.deployment_flush();
    assert_eq!(handed.len(), 1);
    w.kv.arm(true);
    w.attempt(&handed);
    w.kv.arm(false);
    let d = w.delivery(0, a);
    assert_eq!((d.state, d.attempts), (webhooks::DeliveryState::Pending, 1));
    // The cursor moved past the entry that handed it out.
    w.now += 2 * 60_000;
    let (_, handed) = w.deployment_flush();
    assert_eq!(handed, vec![(w.keys[0].0.clone(), a)]);
    w.attempt(&handed);
    assert_eq!(w.delivery(0, a).state, webhooks::DeliveryState::Succeeded);
}

/// A flush's cost does not grow with history: the store calls of one
/// flush call with 10 and with 10 000 settled deliveries behind the cursor.
#[test]
fn a_flush_costs_the_same_whatever_the_history() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let calls_of = |history: usize| {
        let kv = Faulty::with_reads(MemKv::new(), |_, _, _| {
            CALLS.fetch_add(1, Ordering::Relaxed);
            Fault::Pass
        });
        let mut w = World::new(kv, &["acme"]);
        w.endpoint(0, "https://a.example/h", &[]);
        for _ in 0..history {
            w.now += 100;
            w.event(0, Event::TicketCreated);
        }
        // The history is settled (each flush call moves over at most 500).
        w.now += 10 * 60_000;
        while w.deployment_flush().0["more"] == true {}
        w.down = 1;
        w.event(0, Event::TicketCreated);
        w.now += webhooks::CLAIM_HOLD;
        w.kv.arm(true);
        CALLS.store(0, Ordering::Relaxed);
        let (answer, _) = w.deployment_flush();
        assert_eq!(answer["attempting"], 1, "{answer}");
        CALLS.load(Ordering::Relaxed)
    };
    let (small, large) = (calls_of(10), calls_of(10_000));
    println!("store calls per flush call: {small} (10 deliveries), {large} (10 000 deliveries)");
    assert_eq!(small, large);
}

/// Review of issue 22: workspace A has 100 due deliveries (an endpoint
/// that keeps failing), B has one, behind them in the index. One
/// deployment flush hands out B's: A gets at most its per-workspace share
/// of the call, and its other entries wait for the next calls.
#[test]
fn one_workspace_never_fills_a_whole_flush() {
    let mut w = World::new(passing(), &["acme", "beta"]);
    w.endpoint(0, FAILING, &[]);
    w.endpoint(1, "https://b.example/h", &[]);
    for _ in 0..100 {
        w.event(0, Event::TicketCreated);
    }
    w.down = 1;
    let b = w.event(1, Event::TicketCreated)[0];
    assert_eq!(w.delivery(1, b).last_status, Some(503));
    w.now += webhooks::CLAIM_HOLD;
    let (answer, handed) = w.deployment_flush();
    let (acme, beta) = (w.keys[0].0.clone(), w.keys[1].0.clone());
    assert!(handed.contains(&(beta, b)), "{handed:?}");
    let of_a = handed.iter().filter(|(ws, _)| *ws == acme).count();
    assert_eq!(of_a, webhooks::due::PER_WORKSPACE, "{handed:?}");
    assert_eq!(answer["more"], true, "{answer}");
    // The skipped ones are handed out by the next calls, none lost.
    w.attempt(&handed);
    let mut all: std::collections::HashSet<u64> = handed
        .iter()
        .filter(|(ws, _)| *ws == acme)
        .map(|(_, n)| *n)
        .collect();
    for _ in 0..40 {
        let (answer, handed) = w.deployment_flush();
        all.extend(handed.iter().filter(|(ws, _)| *ws == acme).map(|(_, n)| *n));
        w.attempt(&handed);
        if answer["more"] == false {
            break;
        }
    }
    assert_eq!(all.len(), 100);
}
