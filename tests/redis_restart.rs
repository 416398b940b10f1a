//! The app on a durable Redis (`appendfsync always`: an acknowledged write is
//! on disk) that is killed with SIGKILL and started again on the same port
//! and data while writers post replies: requests during the outage fail
//! with a 503 and never hang, requests after it succeed again within a
//! bounded time, and every acknowledged reply is in the store afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::http::Client;
use testkit::{Redis, World};

/// Threads posting replies, each on a ticket of its own.
const WRITERS: usize = 4;
/// Load before the kill.
const BEFORE: Duration = Duration::from_millis(1500);
/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_millis(1000);
/// Load after Redis is back.
const AFTER: Duration = Duration::from_millis(3000);
/// Requests started this long after Redis is back must all succeed.
const RECOVERY_BOUND: Duration = Duration::from_millis(1500);
/// No request may take longer (the host's waits on Redis are bounded).
const SLOWEST: Duration = Duration::from_secs(5);

/// One reply post: when it started and ended (since the start of the
/// load), its status (0: no answer), its marker and the seq it was given.
struct Post {
    ticket: u64,
    start: Duration,
    end: Duration,
    status: u16,
    marker: String,
    seq: Option<u64>,
    body: String,
}

#[test]
fn redis_restart_under_load_fails_cleanly_recovers_and_loses_nothing() {
    let mut w = World::build_on_redis(Redis::start_durable());
    let tickets: Vec<u64> = (0..WRITERS)
        .map(|i| w.ticket(&w.cust_a, &format!("restart {i}")))
        .collect();
    let (addr, bearer, staff) = (w.host.addr.clone(), w.bearer(), w.staff.clone());
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (posts, killed, back) = std::thread::scope(|s| {
        let writers: Vec<_> = tickets
            .iter()
            .enumerate()
            .map(|(n, &t)| {
                let (addr, bearer, staff, stop) = (&addr, &bearer, &staff, &stop);
                s.spawn(move || {
                    let client = Client::with(addr, 1, Duration::from_secs(10));
                    let path = format!("/api/v1/tickets/{t}/replies");
                    let headers = [
                        ("Authorization", bearer.as_str()),
                        ("Ticketshare-Act-As", staff.as_str()),
                        ("Content-Type", "application/json"),
                    ];
                    let mut out = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        // A dot after the number: no marker is a prefix of another.
                        let marker = format!("m.{n}.{i}.");
                        let body = json!({"body": format!("reply {marker}")}).to_string();
                        let start = t0.elapsed();
                        let r = client.request("POST", &path, &headers, body.as_bytes());
                        let end = t0.elapsed();
                        let (status, seq, body) = match r {
                            Ok(r) => (
                                r.status,
                                r.json()["message"]["seq"].as_u64(),
                                r.text().chars().take(200).collect(),
                            ),
                            Err(e) => (0, None, e),
                        };
                        out.push(Post {
                            ticket: t,
                            start,
                            end,
                            status,
                            marker,
                            seq,
                            body,
                        });
                        if status != 201 {
                            // As a client does after a 503: a short pause.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        i += 1;
                    }
                    out
                })
            })
            .collect();
        std::thread::sleep(BEFORE);
        let redis = w.redis().unwrap();
        let killed = t0.elapsed();
        redis.kill();
        std::thread::sleep(OUTAGE);
        redis.restart();
        let back = t0.elapsed();
        std::thread::sleep(AFTER);
        stop.store(true, Ordering::Relaxed);
        let posts: Vec<Post> = writers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (posts, killed, back)
    });

    // Every answer is a 201 or a 503 (JSON, naming the problem); none is
    // missing and none is slow.
    for p in &posts {
        assert!(
            p.status == 201 || p.status == 503,
            "{} {}: {}",
            p.marker,
            p.status,
            p.body
        );
        if p.status == 503 {
            let v: serde_json::Value = serde_json::from_str(&p.body).unwrap_or_default();
            assert!(
                v["error"].is_object() || v["error"].is_string(),
                "{}",
                p.body
            );
        }
        assert!(
            p.end - p.start < SLOWEST,
            "{} took {:?}",
            p.marker,
            p.end - p.start
        );
    }
    let failed: Vec<&Post> = posts.iter().filter(|p| p.status != 201).collect();
    // Before the kill everything succeeds; while Redis is down nothing does.
    assert!(
        posts
            .iter()
            .filter(|p| p.end < killed)
            .all(|p| p.status == 201),
        "a post failed before Redis was killed"
    );
    let during: Vec<&Post> = posts
        .iter()
        .filter(|p| p.start > killed && p.end < back)
        .collect();
    assert!(
        during.len() >= WRITERS,
        "requests went on during the outage: {}",
        during.len()
    );
    assert!(
        during.iter().all(|p| p.status == 503),
        "a post was acknowledged while Redis was down"
    );
    // After it, every request succeeds again within a bounded time.
    let late: Vec<&Post> = posts
        .iter()
        .filter(|p| p.start > back + RECOVERY_BOUND)
        .collect();
    assert!(late.len() >= 10, "too few requests after recovery");
    assert!(
        late.iter().all(|p| p.status == 201),
        "a post failed more than {RECOVERY_BOUND:?} after Redis was back"
    );
    let recovered = failed
        .iter()
        .map(|p| p.end)
        .max()
        .unwrap_or(back)
        .saturating_sub(back);

    // Every acknowledged reply is in the store that came back.
    let acked: Vec<&Post> = posts.iter().filter(|p| p.status == 201).collect();
    let keys: Vec<String> = acked
        .iter()
        .map(|p| format!("ws/acme/t/{:012}/m/{:012}", p.ticket, p.seq.unwrap()))
        .collect();
    let stored = w.redis().unwrap().values(&keys);
    let lost: Vec<&str> = acked
        .iter()
        .filter(|p| !stored.contains(&p.marker))
        .map(|p| p.marker.as_str())
        .collect();
    eprintln!(
        "redis restart: {} reply posts from {WRITERS} threads, {} acknowledged; Redis down {:?}; \
         {} failed (503) around the outage, slowest answer {:?}; last failure ended {:?} after \
         Redis was back; acknowledged replies lost: {}",
        posts.len(),
        acked.len(),
        back - killed,
        failed.len(),
        posts.iter().map(|p| p.end - p.start).max().unwrap(),
        recovered,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged replies lost: {lost:?}");
}
