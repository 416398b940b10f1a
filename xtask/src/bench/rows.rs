//! The rows: each app in its own host, each row at every connection level,
//! with the host's CPU time per request.

use std::time::Instant;

use serde_json::json;
use testkit::http::Client;
use testkit::root;

use super::load::{Load, Traffic, borrow, own, wrk};
use super::seeding::{prepare_inbound, prepare_invites, seed};
use super::server::{Opts, Runtime, Server};

/// The measured rows of one runtime: name → figures at each level.
pub type Rows = Vec<(&'static str, Vec<Load>)>;

/// Measure every row on `runtime`.
pub fn measure(o: &Opts, runtime: Runtime) -> Result<Rows, String> {
    let apps = root().join("tests/apps");
    let tag = if runtime == Runtime::Ours {
        "ours"
    } else {
        "spin"
    };
    let mut rows: Rows = Vec::new();
    let mut run = |name: &'static str,
                   srv: &Server,
                   traffic: &mut dyn FnMut(u32) -> Result<Traffic, String>|
     -> Result<(), String> {
        if name != "hello (floor)" && o.only.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            return Ok(());
        }
        let mut loads = Vec::new();
        for &conns in &o.levels {
            let t = traffic(conns)?;
            let (c0, t0) = (srv.cpu_secs(), Instant::now());
            let mut load = wrk(&srv.addr, &t, conns, o.secs, &o.tmp)?;
            let wall = t0.elapsed().as_secs_f64();
            load.cpu_us = match (c0, srv.cpu_secs()) {
                (Some(a), Some(b)) => Some((b - a) / (load.rps * wall) * 1e6),
                _ => None,
            };
            loads.push(load);
        }
        eprintln!(
            "{tag}: {name}: {}",
            loads
                .iter()
                .map(|l| format!("{:.0}", l.rps))
                .collect::<Vec<_>>()
                .join(" / ")
                + &loads[0]
                    .store_calls
                    .map_or(String::new(), |n| format!(" ({n:.1} store calls/request)"))
        );
        rows.push((name, loads));
        Ok(())
    };
    {
        let (hello, _) = o.start(
            runtime,
            &apps.join("hello/spin.toml"),
            &format!("{tag}-hello"),
            "/",
        )?;
        run("hello (floor)", &hello, &mut |_| Ok(Traffic::get("/", &[])))?;
    }
    {
        let (kv, _) = o.start(
            runtime,
            &apps.join("contract/spin.toml"),
            &format!("{tag}-kv"),
            "/health-probe",
        )?;
        Client::new(&kv.addr).send("PUT", "/kv/set?key=bench", &[], b"value")?;
        run("key-value get", &kv, &mut |_| {
            Ok(Traffic::get("/kv/get?key=bench", &[]))
        })?;
    }
    let (app, _) = o.start(
        runtime,
        &root().join("spin.toml"),
        &format!("{tag}-app"),
        "/",
    )?;
    let addr = app.addr.as_str();
    let s = seed(addr, 10, 2, 1)?;
    let staff_h = [
        ("Authorization", s.key.as_str()),
        ("Ticketshare-Act-As", s.staff.as_str()),
    ];
    // What any request to the app costs before its own work: the app's
    // largest component answering from one read (the brand style sheet).
    run("app baseline (one read: brand.css)", &app, &mut |_| {
        Ok(Traffic::get("/api/v1/workspaces/bench/brand.css", &[]))
    })?;
    run("share page (valid link, verified)", &app, &mut |_| {
        Ok(Traffic::get(&s.share_link, &[("Cookie", &s.share_cookie)]))
    })?;
    run("thread page (API, 10 messages)", &app, &mut |_| {
        Ok(Traffic::get("/api/v1/tickets/2/thread?limit=25", &staff_h))
    })?;
    run("Pending view (API)", &app, &mut |_| {
        Ok(Traffic::get(
            "/api/v1/inbox?view=pending&limit=25",
            &staff_h,
        ))
    })?;
    // A poll that finds nothing new: the same two requests with the tag
    // they answer with (a 304, decided from the change markers alone).
    run("thread 304 (If-None-Match, unchanged)", &app, &mut |_| {
        let path = "/api/v1/tickets/2/thread?limit=25";
        Ok(Traffic::get(path, &borrow(&tagged(addr, path, &staff_h)?)))
    })?;
    run("Pending 304 (If-None-Match, unchanged)", &app, &mut |_| {
        let path = "/api/v1/inbox?view=pending&limit=25";
        Ok(Traffic::get(path, &borrow(&tagged(addr, path, &staff_h)?)))
    })?;
    run("reply post", &app, &mut |_| {
        Ok(Traffic::Fixed {
            method: "POST",
            path: "/api/v1/tickets/1/replies".into(),
            headers: own(&[
                ("Authorization", &s.key),
                ("Ticketshare-Act-As", &s.customer),
                ("Content-Type", "application/json"),
            ]),
            body: json!({"body": "A benchmark reply with a few words in it"}).to_string(),
        })
    })?;
    run("invite accept (fresh invites)", &app, &mut |conns| {
        Ok(Traffic::OncePaths(prepare_invites(
            &s,
            o.invites,
            &format!("{tag}{conns}"),
        )?))
    })?;
    let (hook, basic, to) = prepare_inbound(&s)?;
    run("inbound email webhook (Postmark)", &app, &mut |conns| {
        let body = json!({
            "From": "cus@bench.test", "FromFull": {"Email": "cus@bench.test", "Name": "Bench Customer"},
            "To": to, "ToFull": [{"Email": to}], "Subject": "Re: Inbound bench",
            "MessageID": "pm-bench", "TextBody": "Thanks, the parcel arrived today.", "StrippedTextReply": "",
            "Headers": [{"Name": "Message-ID", "Value": "<MSGID@mail.bench.test>"}], "Attachments": [],
        })
        .to_string();
        let (pre, post) = body.split_once("MSGID").unwrap();
        Ok(Traffic::Numbered {
            path: hook.clone(),
            headers: own(&[
                ("Authorization", &basic),
                ("Content-Type", "application/json"),
            ]),
            pre: format!("{pre}{tag}-{conns}-"),
            post: post.to_string(),
        })
    })?;
    Ok(rows)
}

/// `headers` with the `If-None-Match` that makes `GET path` answer 304: the
/// tag a first GET answers with, checked to give a 304.
fn tagged(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Vec<(String, String)>, String> {
    let c = Client::new(addr);
    let first = c.send("GET", path, headers, b"")?;
    let tag = first
        .header("etag")
        .ok_or_else(|| format!("GET {path} answers {} without an etag", first.status))?
        .to_string();
    let mut with = own(headers);
    with.push(("If-None-Match".into(), tag));
    let again = c.send("GET", path, &borrow(&with), b"")?;
    if again.status != 304 {
        return Err(format!(
            "GET {path} with its own tag answers {}: {}",
            again.status,
            again.text()
        ));
    }
    Ok(with)
}
