//! The bench's workspace, seeded with the test kit's builder
//! (`testkit::seed`) over keep-alive connections: what the rows send.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::http::Client;
use testkit::seed::{User, Workspace, link_in};

use super::ADMIN_TOKEN;

/// A seeded workspace on one server: what the rows need to send.
pub struct Seeded {
    /// The seeding builder on workspace `bench` (keep-alive client).
    pub ws: Workspace<Client>,
    /// `Bearer <API key>`.
    pub key: String,
    /// The customer's user id.
    pub customer: String,
    /// The staff member's user id.
    pub staff: String,
    /// The verified share's `/s/...` path.
    pub share_link: String,
    /// The cookie of the verified collaborator.
    pub share_cookie: String,
}

/// Run `f(i)` for every `i` in `0..n` on `threads` threads at once (the
/// builder's client keeps a connection each); the first error stops the run.
/// While it runs, every second, a line on stderr says how many of `what`
/// are done and at what rate; a run over a second ends with its total.
pub fn parallel<F>(what: &str, threads: usize, n: u64, f: F) -> Result<(), String>
where
    F: Fn(u64) -> Result<(), String> + Sync,
{
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let failed = std::sync::Mutex::new(None::<String>);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        if failed.lock().unwrap().is_some() {
                            return;
                        }
                        let i = next.fetch_add(1, Relaxed);
                        if i >= n {
                            return;
                        }
                        if let Err(e) = f(i) {
                            *failed.lock().unwrap() = Some(e);
                            return;
                        }
                        done.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect();
        let reporter = s.spawn(|| {
            let mut tick = 1;
            loop {
                let due = t0 + Duration::from_secs(tick);
                while !finished.load(Relaxed) && Instant::now() < due {
                    std::thread::park_timeout(due.saturating_duration_since(Instant::now()));
                }
                if finished.load(Relaxed) {
                    return;
                }
                eprintln!("{}", progress(what, done.load(Relaxed), n, t0.elapsed()));
                tick += 1;
            }
        });
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Relaxed);
        reporter.thread().unpark();
    });
    if t0.elapsed() >= Duration::from_secs(1) {
        eprintln!("{}", progress(what, done.load(Relaxed), n, t0.elapsed()));
    }
    match failed.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One progress line: `seeding messages: 1200 of 9999 (602/s, 2.0 s)`.
fn progress(what: &str, done: u64, n: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    format!("seeding {what}: {done} of {n} ({rate:.0}/s, {secs:.1} s)")
}

/// Seed workspace `bench`: a customer, a staff member, ticket 1 with 10
/// messages and a share link verified by its emailed code, ticket 2 with
/// `messages` messages, then `tickets` tickets in all and `links` share links
/// in all (spread 100 to a ticket).
pub fn seed(addr: &str, messages: u64, tickets: u64, links: u64) -> Result<Seeded, String> {
    let client = Client::keep_alive(addr, 8);
    let ws = Workspace::create(client.clone(), ADMIN_TOKEN, "bench", "Bench")?;
    let key = ws.auth();
    let (customer, _) = ws.user(&User::new("cus@bench.test", "customer"))?;
    let (staff, _) = ws.user(&User::new("sam@bench.test", "staff"))?;
    let post_ticket = |i: u64| {
        ws.ticket(
            &customer,
            &format!("Bench ticket {i}"),
            &format!("Where is my parcel number {i}?"),
        )
        .map(drop)
        .map_err(String::from)
    };
    post_ticket(1)?;
    post_ticket(2)?;
    let reply = |t: u64, i: u64| {
        ws.reply(
            &customer,
            t,
            &json!({"body": format!("Reply {i} with **some** text about the parcel")}),
        )
        .map(drop)
        .map_err(String::from)
    };
    for i in 0..9 {
        reply(1, i)?;
    }
    parallel("messages", 4, messages.saturating_sub(1), |i| reply(2, i))?;
    // The verified share on ticket 1.
    ws.share(1, "dock@carrier.test", "Bench share")?;
    let share_link = link_in(&ws.newest_email()?, "/s/").ok_or("no share link in the outbox")?;
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    // The share page's forms, as a browser on this site sends them.
    let same = ("Sec-Fetch-Site", "same-origin");
    client.send("POST", &share_link, &[form, same], b"action=send_code")?;
    let subject = ws.newest_email()?["subject"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = subject.rsplit(' ').next().unwrap_or_default().to_string();
    let r = client.send(
        "POST",
        &share_link,
        &[form, same],
        format!("action=verify&code={code}").as_bytes(),
    )?;
    let share_cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .ok_or(format!("verifying the share failed ({})", r.status))?
        .to_string();
    // The rest of the tickets, then the rest of the links on tickets 3...
    parallel("tickets", 4, tickets.saturating_sub(2), |i| {
        post_ticket(i + 3)
    })?;
    let ticket_count = tickets.max(3);
    parallel("share links", 4, links.saturating_sub(1), |i| {
        let t = 3 + (i / 100) % (ticket_count - 2);
        ws.share(t, &format!("partner{i}@carrier.test"), "Bench share")
            .map(drop)
            .map_err(String::from)
    })?;
    Ok(Seeded {
        ws,
        key,
        customer,
        staff,
        share_link,
        share_cookie,
    })
}

/// Prepare `n` fresh delegate invitations (10 customers, one invitation
/// each per ticket, on new tickets); returns their `/i/<link>` paths, those
/// of one ticket spread apart.
pub fn prepare_invites(s: &Seeded, n: u64, label: &str) -> Result<Vec<String>, String> {
    let ws = &s.ws;
    // Ten invitations per ticket: accepts of one ticket's invitations meet
    // on its delegate list (a compare-and-swap each, retried when another
    // accept got in first), which is rare in use; a hundred per ticket, as
    // this once had, measured those retries more than the accept.
    let guests = 10.min(n.max(1));
    for g in 0..guests {
        let email = format!("guest{g}-{label}@bench.test");
        let name = format!("Guest {g}");
        ws.user(&User {
            name: &name,
            ..User::new(&email, "customer")
        })?;
    }
    let mut tickets = Vec::new();
    for i in 0..n.div_ceil(guests) {
        tickets.push(ws.ticket(
            &s.customer,
            &format!("Invite bench {label} {i}"),
            "Please look at this together.",
        )?);
    }
    parallel("invitations", 4, n, |i| {
        let t = tickets[(i / guests) as usize];
        let g = i % guests;
        // The first invitations of a fresh ticket may meet while its
        // delegate list is created: a 409 that asks to try again.
        let mut attempt = 0;
        loop {
            let r = ws.ok(
                Some(&s.staff),
                "POST",
                &format!("/api/v1/tickets/{t}/delegates"),
                Some(&json!({"email": format!("guest{g}-{label}@bench.test")})),
            );
            match r {
                Err(e) if e.status == 409 && attempt < 20 => attempt += 1,
                r => return r.map(drop).map_err(String::from),
            }
        }
    })?;
    // The invitation links, newest first, from the outbox.
    let mut paths = Vec::new();
    let mut cursor = String::new();
    while (paths.len() as u64) < n {
        let v = ws.outbox(&format!("?limit=100{cursor}"))?;
        for e in v["emails"].as_array().into_iter().flatten() {
            if let Some(p) = link_in(e, "/i/") {
                paths.push(p);
            }
        }
        match v["next_cursor"].as_u64() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    if (paths.len() as u64) < n {
        return Err(format!(
            "only {} of {n} invitations in the outbox",
            paths.len()
        ));
    }
    paths.truncate(n as usize);
    // The outbox lists a ticket's invitations together; interleave them so
    // consecutive accepts are of different tickets.
    let per = guests as usize;
    let spread = (0..per)
        .flat_map(|r| paths.iter().skip(r).step_by(per).cloned())
        .collect();
    Ok(spread)
}

/// Set up Postmark inbound on the workspace; returns the hook path, its
/// Authorization header, and the reply address of a fresh ticket.
pub fn prepare_inbound(s: &Seeded) -> Result<(String, String, String), String> {
    let ws = &s.ws;
    let basic = ws.postmark_inbound()?;
    let no = ws.ticket(&s.customer, "Inbound bench", "Replies arrive by email.")?;
    let to = ws.reply_address(&s.staff, no)?;
    if to.is_empty() {
        return Err("no reply address on the ticket".into());
    }
    Ok(("/hooks/postmark/bench".into(), basic, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_the_count_and_the_rate() {
        assert_eq!(
            progress("messages", 1200, 9999, Duration::from_secs(2)),
            "seeding messages: 1200 of 9999 (600/s, 2.0 s)"
        );
    }

    #[test]
    fn parallel_does_each_once_and_stops_at_the_first_error() {
        let seen = std::sync::Mutex::new(Vec::new());
        parallel("items", 3, 50, |i| {
            seen.lock().unwrap().push(i);
            Ok(())
        })
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        let r = parallel("items", 2, 1000, |i| {
            if i == 5 { Err("five".into()) } else { Ok(()) }
        });
        assert_eq!(r, Err("five".to_string()));
    }
}
