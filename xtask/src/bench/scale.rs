//! The scale runs: the same three pages with 100 vs N records.

use std::time::Instant;

use testkit::root;

use super::load::{Load, Traffic, wrk};
use super::seeding::seed;
use super::server::{Opts, Runtime};

/// Small/large pairs at 16 connections: (name, small, large).
pub type Scale = Vec<(String, Load, Load)>;

/// Each scale pair in fresh hosts: share page, thread page and Pending
/// view with a small and a large store.
pub fn measure_scale(o: &Opts) -> Result<Scale, String> {
    let n = o.scale;
    let mut sizes = Vec::new();
    for (label, messages, tickets, links) in [("small", 10, 100, 100), ("large", 10_000, n, n)] {
        let (srv, _) = o.start(
            Runtime::Ours,
            &root().join("spin.toml"),
            &format!("scale-{label}"),
            "/",
        )?;
        let t0 = Instant::now();
        let s = seed(&srv.addr, messages, tickets, links)?;
        eprintln!(
            "scale {label}: seeded in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        let staff_h = [
            ("Authorization", s.key.as_str()),
            ("Ticketshare-Act-As", s.staff.as_str()),
        ];
        let mut loads = Vec::new();
        for t in [
            Traffic::get(&s.share_link, &[("Cookie", &s.share_cookie)]),
            Traffic::get("/api/v1/tickets/2/thread?limit=10", &staff_h),
            Traffic::get("/api/v1/inbox?view=pending&limit=25", &staff_h),
        ] {
            loads.push(wrk(&srv.addr, &t, 16, o.secs, &o.tmp)?);
        }
        sizes.push(loads);
    }
    let names = [
        format!("share page: 100 vs {n} share links"),
        "thread page (API, a page of 10): 10 vs 10000 messages".to_string(),
        format!("Pending view: 100 vs {n} tickets"),
    ];
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, sizes[0][i], sizes[1][i]))
        .collect())
}
