//! Load scenarios run both on a healthy host and on one whose store fails
//! at random (`tests/faults.rs`): each checks its own invariants.

use serde_json::json;

use crate::fixtures::{staff_user, view};
use crate::host::Host;
use crate::http::request;
use crate::scratch::TempDir;
use crate::world::{World, json_of};

/// Every message of a thread as (source, seq), following cursors with pages of 100.
pub fn whole_thread(w: &World, t: u64, order: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let mut p = format!("/api/v1/tickets/{t}/thread?limit=100&order={order}");
        if let Some(c) = cursor {
            p.push_str(&format!("&cursor={c}"));
        }
        let page = json_of(&w.as_(None, "GET", &p, None));
        for m in page["messages"].as_array().unwrap() {
            out.push((
                m["source"].as_str().unwrap().to_string(),
                m["seq"].as_u64().unwrap(),
            ));
        }
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// [`thousand_replies`] in a given world; returns how many were sent.
pub fn thousand_replies_in(w: World, hosts: usize) -> usize {
    let t = w.ticket(&w.cust_a, "Busy ticket");
    // Further host processes on the same Redis store: clients alternate.
    let more: Vec<(Host, TempDir)> = (1..hosts).map(|_| w.second_host()).collect();
    let addrs: Vec<String> = std::iter::once(w.host.addr.clone())
        .chain(more.iter().map(|(h, _)| h.addr.clone()))
        .collect();
    let b = w.bearer();
    let acked: Vec<(String, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..50)
            .map(|c| {
                let (addr, b, who) = (
                    addrs[c % addrs.len()].clone(),
                    b.clone(),
                    if c % 2 == 0 {
                        w.staff.clone()
                    } else {
                        w.cust_a.clone()
                    },
                );
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..20 {
                        let text = format!("client{c}-reply{i}");
                        let body = json!({"body": text}).to_string();
                        let r = request(
                            &addr,
                            "POST",
                            &format!("/api/v1/tickets/{t}/replies"),
                            &[
                                ("Authorization", &b),
                                ("Ticketshare-Act-As", &who),
                                ("Content-Type", "application/json"),
                            ],
                            body.as_bytes(),
                        );
                        if r.status == 201 {
                            let seq = json_of(&r)["message"]["seq"].as_u64().unwrap();
                            mine.push((text, seq));
                        } else {
                            panic!("reply refused: {} {}", r.status, r.text());
                        }
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(acked.len(), 1000);
    if w.faulty {
        // Lost increments leave gaps, which readers wait on for a while
        // (thread::GAP_WAIT) before stepping over them.
        w.shift_clock(60);
    }
    let stored = whole_thread(&w, t, "oldest");
    assert_eq!(stored.len(), 1001, "first message + 1000 replies");
    let stored_replies: std::collections::HashMap<&str, u64> = stored
        .iter()
        .skip(1)
        .map(|(s, q)| (s.as_str(), *q))
        .collect();
    assert_eq!(stored_replies.len(), 1000, "each once");
    for (text, seq) in &acked {
        assert_eq!(
            stored_replies.get(text.as_str()),
            Some(seq),
            "{text} acknowledged as #{seq}"
        );
    }
    assert!(
        stored.windows(2).all(|p| p[0].1 < p[1].1),
        "one consistent order"
    );
    // Each client's own replies appear in the order it sent them.
    for c in 0..50 {
        let mine: Vec<u64> = (0..20)
            .map(|i| stored_replies[format!("client{c}-reply{i}").as_str()])
            .collect();
        assert!(mine.windows(2).all(|p| p[0] < p[1]), "client {c}");
    }
    acked.len()
}

/// 8 clients × 25 random accepts, returns, transfers, resolves and reopens
/// on 10 tickets among 5 staff; then every ticket is in exactly one view,
/// the one its record says, and every count is right.
pub fn random_actions_in(w: World) {
    let staff: Vec<String> = (0..5)
        .map(|i| staff_user(&w, &format!("r{i}@acme.test"), &[]))
        .collect();
    let tickets: Vec<u64> = (0..10)
        .map(|i| w.ticket(&w.cust_a, &format!("Random {i}")))
        .collect();
    let b = w.bearer();
    std::thread::scope(|s| {
        for c in 0..8u64 {
            let (addr, b, staff, tickets) = (
                w.host.addr.clone(),
                b.clone(),
                staff.clone(),
                tickets.clone(),
            );
            s.spawn(move || {
                // A small deterministic generator per client.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (c + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for _ in 0..25 {
                    let t = tickets[(next() % tickets.len() as u64) as usize];
                    let who = &staff[(next() % staff.len() as u64) as usize];
                    let (action, body) = match next() % 6 {
                        0 | 1 => ("accept", String::new()),
                        2 => ("return", String::new()),
                        3 => {
                            let to = &staff[(next() % staff.len() as u64) as usize];
                            ("transfer", json!({"to": to}).to_string())
                        }
                        4 => ("resolve", String::new()),
                        _ => ("reopen", String::new()),
                    };
                    let mut h = vec![
                        ("Authorization", b.as_str()),
                        ("Ticketshare-Act-As", who.as_str()),
                    ];
                    if !body.is_empty() {
                        h.push(("Content-Type", "application/json"));
                    }
                    let r = request(
                        &addr,
                        "POST",
                        &format!("/api/v1/tickets/{t}/{action}"),
                        &h,
                        body.as_bytes(),
                    );
                    assert!(
                        matches!(r.status, 200 | 409),
                        "{action}: {} {}",
                        r.status,
                        r.text()
                    );
                }
            });
        }
    });
    // Collect every view and compare with the tickets themselves.
    let (pending, counts) = view(&w, &w.admin, "pending");
    let (resolved, _) = view(&w, &w.admin, "resolved");
    let mut seen: Vec<(u64, String)> = pending
        .iter()
        .map(|n| (*n, "pending".to_string()))
        .collect();
    seen.extend(resolved.iter().map(|n| (*n, "resolved".to_string())));
    let mut working_total = 0;
    for s in &staff {
        let (mine, c) = view(&w, s, "working");
        assert_eq!(
            c["working"].as_u64().unwrap() as usize,
            mine.len(),
            "working count of {s}"
        );
        working_total += mine.len();
        seen.extend(mine.iter().map(|n| (*n, format!("working/{s}"))));
    }
    assert_eq!(counts["pending"].as_u64().unwrap() as usize, pending.len());
    assert_eq!(
        counts["resolved"].as_u64().unwrap() as usize,
        resolved.len()
    );
    assert_eq!(
        pending.len() + resolved.len() + working_total,
        tickets.len(),
        "{seen:?}"
    );
    for t in &tickets {
        let here: Vec<&(u64, String)> = seen.iter().filter(|(n, _)| n == t).collect();
        assert_eq!(here.len(), 1, "ticket {t} in {here:?}");
        let tk =
            json_of(&w.as_(None, "GET", &format!("/api/v1/tickets/{t}"), None))["ticket"].clone();
        let expected = if tk["status"] == "resolved" {
            "resolved".to_string()
        } else if let Some(a) = tk["assignee_id"].as_str() {
            format!("working/{a}")
        } else {
            "pending".to_string()
        };
        assert_eq!(here[0].1, expected, "ticket {t}: {tk}");
    }
}
