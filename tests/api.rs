//! The JSON API of the real app (`tickets` and `replies` components) through
//! the host: workspaces, keys, users, login links and sessions, tickets,
//! threads, replies; permissions, bad input, and the lost-update test on
//! SQLite and Redis.

use serde_json::{Value, json};

use testkit::fixtures::{fill_path, spec_auth, spec_world};
use testkit::scenarios::{thousand_replies_in, whole_thread};
use testkit::{ADMIN_TOKEN, Resp, request};
use testkit::{World, actions, call, json_of};

/// Concurrent creations of one workspace id (claimed with a holder,
/// `record::acquire`): exactly one 201 with a working key, every other a
/// 409; the retries with their Idempotency-Keys too, once it is done.
fn concurrent_creations_of_one_workspace(redis: bool) {
    let w = World::build(redis);
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let addr = w.host.addr.clone();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (addr, admin) = (addr.clone(), admin.clone());
                s.spawn(move || {
                    let idem = format!("create-{i}");
                    let body = json!({"id": "initech", "name": "Initech"}).to_string();
                    request(
                        &addr,
                        "POST",
                        "/api/v1/workspaces",
                        &[
                            ("Authorization", &admin),
                            ("Idempotency-Key", &idem),
                            ("Content-Type", "application/json"),
                        ],
                        body.as_bytes(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&Resp> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(Resp::text).collect::<Vec<_>>()
    );
    assert!(
        answers.iter().all(|r| r.status == 201 || r.status == 409),
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, r.text()))
            .collect::<Vec<_>>()
    );
    let key = format!("Bearer {}", json_of(won[0])["secret"].as_str().unwrap());
    let r = call(
        &w.host,
        "GET",
        "/api/v1/workspace",
        &[("Authorization", &key)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["id"], "initech", "{}", r.text());
    for i in 0..8 {
        let idem = format!("create-{i}");
        let r = call(
            &w.host,
            "POST",
            "/api/v1/workspaces",
            &[("Authorization", &admin), ("Idempotency-Key", &idem)],
            Some(json!({"id": "initech", "name": "Initech"})),
        );
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(r.text().contains("already exists"), "{}", r.text());
    }
}

#[test]
fn concurrent_creations_of_one_workspace_have_one_winner() {
    concurrent_creations_of_one_workspace(false);
}

#[test]
fn concurrent_creations_of_one_workspace_have_one_winner_on_redis() {
    concurrent_creations_of_one_workspace(true);
}

#[test]
fn login_link_is_single_use_and_sets_a_strict_session_cookie() {
    let w = World::build(false);
    let r = w.as_(
        None,
        "POST",
        &format!("/api/v1/users/{}/login-links", w.cust_a),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let url = json_of(&r)["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:3000/login#acme."),
        "built from the configured origin: {url}"
    );
    let link = url.rsplit('#').next().unwrap().to_string();
    let addr = w.host.addr.clone();
    let results: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let (addr, link) = (addr.clone(), link.clone());
                s.spawn(move || {
                    let body = json!({"link": link}).to_string();
                    request(
                        &addr,
                        "POST",
                        "/api/v1/auth/login",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.status == 404)
    );
    let cookie = ok[0].header("set-cookie").unwrap();
    for attr in [
        "__Host-ts_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let me = call(&w.host, "GET", "/api/v1/me", &[("Cookie", &session)], None);
    assert_eq!(json_of(&me)["user"]["id"], w.cust_a.as_str());
    let out = call(
        &w.host,
        "POST",
        "/api/v1/auth/logout",
        &[("Cookie", &session)],
        None,
    );
    assert_eq!(out.status, 200);
    assert_eq!(
        call(&w.host, "GET", "/api/v1/me", &[("Cookie", &session)], None).status,
        401
    );
}

#[test]
fn who_sees_what_on_redis() {
    who_sees_what(true);
}

fn who_sees_what(redis: bool) {
    let w = World::build(redis);
    let t = w.ticket(&w.cust_a, "Parcel lost");
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "secret note", "visibility": "internal"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!("/api/v1/tickets/{t}");
    let thread = format!("/api/v1/tickets/{t}/thread");
    // (actor, method, path, expected status)
    let cases: Vec<(Option<&str>, &str, String, u16)> = vec![
        (None, "GET", path.clone(), 200),
        (Some(&w.admin), "GET", path.clone(), 200),
        (Some(&w.staff), "GET", path.clone(), 200),
        (Some(&w.cust_a), "GET", path.clone(), 200),
        (Some(&w.cust_b), "GET", path.clone(), 200), // same company
        (Some(&w.outsider), "GET", path.clone(), 404),
        (Some(&w.outsider), "GET", thread.clone(), 404),
        (Some(&w.outsider), "POST", format!("{path}/replies"), 404),
        (
            Some(&w.cust_a),
            "PUT",
            "/api/v1/workspace/settings".into(),
            403,
        ),
        (
            Some(&w.staff),
            "PUT",
            "/api/v1/workspace/settings".into(),
            403,
        ),
        (Some(&w.staff), "GET", "/api/v1/api-keys".into(), 403),
        (Some(&w.cust_a), "PUT", "/api/v1/users".into(), 403),
        (
            Some(&w.cust_a),
            "GET",
            format!("/api/v1/users/{}", w.cust_b),
            404,
        ),
        (
            Some(&w.cust_a),
            "GET",
            format!("/api/v1/users/{}", w.cust_a),
            200,
        ),
        (Some(&w.admin), "GET", "/api/v1/api-keys".into(), 200),
        (None, "GET", "/api/v1/tickets/999".into(), 404),
    ];
    for (actor, method, p, status) in cases {
        let body = (method != "GET").then(|| match p.as_str() {
            "/api/v1/workspace/settings" => json!({"sign_replies": true}),
            "/api/v1/users" => json!({"email": "n@x.test", "name": "N", "role": "customer"}),
            _ => json!({"body": "hi"}),
        });
        let r = w.as_(actor, method, &p, body);
        assert_eq!(r.status, status, "{actor:?} {method} {p}: {}", r.text());
    }
    // A customer's thread never holds the note; staff see it.
    let cust_thread = json_of(&w.as_(Some(&w.cust_a), "GET", &thread, None));
    assert!(!cust_thread.to_string().contains("secret note"));
    assert_eq!(cust_thread["messages"].as_array().unwrap().len(), 1);
    let staff_thread = json_of(&w.as_(Some(&w.staff), "GET", &thread, None));
    assert!(staff_thread.to_string().contains("secret note"));
    // Another workspace's key cannot see the ticket at all.
    let r = call(
        &w.host,
        "GET",
        &path,
        &[("Authorization", &format!("Bearer {}", w.other_key))],
        None,
    );
    assert_eq!(r.status, 404);
    // Listings: the outsider sees nothing; company scope shows colleagues' tickets.
    let mine = json_of(&w.as_(Some(&w.outsider), "GET", "/api/v1/tickets", None));
    assert_eq!(mine["tickets"].as_array().unwrap().len(), 0);
    let co = json_of(&w.as_(
        Some(&w.cust_b),
        "GET",
        "/api/v1/tickets?scope=company",
        None,
    ));
    assert_eq!(co["tickets"][0]["number"], t);
    assert!(
        co["tickets"][0].get("queue").is_none(),
        "staff-only fields hidden from customers"
    );
}

#[test]
fn thread_pages_over_2000_messages() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Long thread");
    let addr = w.host.addr.clone();
    let b = w.bearer();
    std::thread::scope(|s| {
        for k in 0..8 {
            let (addr, b, staff) = (addr.clone(), b.clone(), w.staff.clone());
            s.spawn(move || {
                for i in 0..250 {
                    let body = json!({"body": format!("m{k}-{i}")}).to_string();
                    let r = request(
                        &addr,
                        "POST",
                        &format!("/api/v1/tickets/{t}/replies"),
                        &[
                            ("Authorization", &b),
                            ("Ticketshare-Act-As", &staff),
                            ("Content-Type", "application/json"),
                        ],
                        body.as_bytes(),
                    );
                    assert_eq!(r.status, 201, "{}", r.text());
                }
            });
        }
    });
    let seqs: Vec<u64> = whole_thread(&w, t, "newest").iter().map(|m| m.1).collect();
    assert_eq!(seqs, (1..=2001).rev().collect::<Vec<_>>());
}

/// 50 clients × 20 replies on one ticket: every acknowledged reply is
/// present once, in one consistent order.
fn thousand_replies(redis: bool, hosts: usize) {
    thousand_replies_in(World::build(redis), hosts);
}

/// Killing the host (SIGKILL) in the middle of a write load loses no
/// acknowledged write and duplicates none.
#[test]
fn acknowledged_replies_survive_a_kill_during_load() {
    let mut w = World::build(false);
    let t = w.ticket(&w.cust_a, "Crash test");
    let addr = w.host.addr.clone();
    let b = w.bearer();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|c| {
                let (addr, b, who, stop) = (addr.clone(), b.clone(), w.cust_a.clone(), &stop);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        let text = format!("crash-c{c}-r{i}");
                        let body = json!({"body": text}).to_string();
                        let r = testkit::try_request(
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
                        match r {
                            Some(r) if r.status == 201 => mine.push(text),
                            Some(r) if r.status >= 500 => {}
                            Some(r) => panic!("refused: {} {}", r.status, r.text()),
                            None => break,
                        }
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        w.host.kill_now();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        acked.len() > 20,
        "the load ran: {} acknowledged",
        acked.len()
    );
    w.restart_after_kill();
    let stored = whole_thread(&w, t, "newest");
    for text in &acked {
        assert_eq!(
            stored.iter().filter(|(s, _)| s == text).count(),
            1,
            "{text} was acknowledged"
        );
    }
    let mut texts: Vec<&String> = stored.iter().map(|(s, _)| s).collect();
    let n = texts.len();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), n, "nothing twice");
    // The store still takes writes.
    let r = w.as_(
        Some(&w.cust_a),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "after the restart"})),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn thousand_concurrent_replies_on_sqlite() {
    thousand_replies(false, 1);
}

#[test]
fn thousand_concurrent_replies_on_redis() {
    thousand_replies(true, 1);
}

#[test]
fn thousand_concurrent_replies_through_two_hosts_on_one_redis() {
    thousand_replies(true, 2);
}

#[test]
fn idempotency_keys_replay_or_refuse() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Idempotent");
    let b = w.bearer();
    let post = |key: &str, body: &str| {
        request(
            &w.host.addr,
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            &[
                ("Authorization", &b),
                ("Ticketshare-Act-As", &w.staff),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            body.as_bytes(),
        )
    };
    let first = post("k-1", r#"{"body":"once"}"#);
    assert_eq!(first.status, 201);
    let again = post("k-1", r#"{"body":"once"}"#);
    // A response holding a secret is never stored for replay.
    let mint = |key: &str| {
        request(
            &w.host.addr,
            "POST",
            "/api/v1/api-keys",
            &[
                ("Authorization", &b),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            br#"{"label":"x"}"#,
        )
    };
    assert_eq!(mint("k-secret").status, 201);
    let replay = mint("k-secret");
    assert_eq!(replay.status, 409, "{}", replay.text());
    assert!(!replay.text().contains("tsk_"));
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        json_of(&again)["message"]["seq"],
        json_of(&first)["message"]["seq"]
    );
    let other = post("k-1", r#"{"body":"different"}"#);
    assert_eq!(
        (other.status, json_of(&other)["error"]["code"].as_str()),
        (422, Some("unprocessable"))
    );
    assert_eq!(post("", r#"{"body":"x"}"#).status, 400);
    // A refused request leaves its key unused: corrected, it goes through.
    assert_eq!(post("k-fix", r#"{"body":""}"#).status, 400);
    assert_eq!(post("k-fix", r#"{"body":"fixed"}"#).status, 201);
    // Parallel retries with one key: exactly one post lands.
    let addr = w.host.addr.clone();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let (addr, b, staff) = (addr.clone(), b.clone(), w.staff.clone());
                s.spawn(move || {
                    request(
                        &addr,
                        "POST",
                        &format!("/api/v1/tickets/{t}/replies"),
                        &[
                            ("Authorization", &b),
                            ("Ticketshare-Act-As", &staff),
                            ("Content-Type", "application/json"),
                            ("Idempotency-Key", "k-par"),
                        ],
                        br#"{"body":"parallel"}"#,
                    )
                    .status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let thread = whole_thread(&w, t, "oldest");
    assert_eq!(thread.iter().filter(|m| m.0 == "once").count(), 1);
    assert_eq!(thread.iter().filter(|m| m.0 == "parallel").count(), 1);
}

#[test]
fn audit_ledger_exports_json_and_csv() {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "Audited");
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "hi"})),
    );
    let rid = r.header("x-request-id").unwrap().to_string();
    let all = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/audit", None));
    let actions = actions(&all);
    for a in [
        "workspace.created",
        "user.created",
        "ticket.created",
        "message.posted",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let ticket_trail = json_of(&w.as_(
        Some(&w.staff),
        "GET",
        &format!("/api/v1/tickets/{t}/audit"),
        None,
    ));
    let trail = ticket_trail["entries"].as_array().unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1]["request_id"], rid.as_str());
    let csv = w.as_(None, "GET", "/api/v1/audit?format=csv", None);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.text()
            .starts_with("n,at,actor,action,target,ticket,request_id\n")
    );
    assert_eq!(
        w.as_(Some(&w.staff), "GET", "/api/v1/audit", None).status,
        403
    );
    assert_eq!(
        w.as_(
            Some(&w.cust_a),
            "GET",
            &format!("/api/v1/tickets/{t}/audit"),
            None
        )
        .status,
        403
    );
}

#[test]
fn email_login_answers_the_same_and_uses_the_outbox() {
    let w = World::build(false);
    let ask = |ws: &str, email: &str| {
        call(
            &w.host,
            "POST",
            "/api/v1/auth/email-login",
            &[],
            Some(json!({"workspace": ws, "email": email})),
        )
    };
    let known = ask("acme", "Cara@Shop.test");
    let unknown = ask("acme", "nobody@shop.test");
    let no_ws = ask("nope", "cara@shop.test");
    for r in [&unknown, &no_ws] {
        assert_eq!(
            (r.status, r.body.clone()),
            (known.status, known.body.clone()),
            "same answer"
        );
    }
    assert_eq!(known.status, 202);
    let again = ask("acme", "cara@shop.test");
    assert_eq!(
        (again.status, again.body.clone()),
        (known.status, known.body.clone()),
        "throttled, same answer"
    );
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    let emails = outbox["emails"].as_array().unwrap();
    assert_eq!(
        emails.len(),
        1,
        "only the known address got mail, and only once a minute"
    );
    assert_eq!(emails[0]["to"], "cara@shop.test");
    let text = emails[0]["text"].as_str().unwrap();
    let link = text.split("/login#").nth(1).unwrap().trim().to_string();
    let r = call(
        &w.host,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(json!({"link": link})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn openapi_document_matches_the_routes_served() {
    let (w, t, spare_id) = spec_world();
    let b = w.bearer();
    let png = b"\x89PNG\r\n\x1a\nfake-but-sniffable";
    let up = request(
        &w.host.addr,
        "PUT",
        "/api/v1/workspace/logo",
        &[("Authorization", &b), ("Content-Type", "image/png")],
        png,
    );
    assert_eq!(up.status, 200, "{}", up.text());
    let doc = json_of(&call(&w.host, "GET", "/api/v1/openapi.json", &[], None));
    assert_eq!(doc["openapi"], "3.1.0");
    let admin_token = format!("Bearer {ADMIN_TOKEN}");
    let bearer = w.bearer();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let concrete = fill_path(path, t, &spare_id, &w.cust_a);
            let headers = spec_auth(op, &admin_token, &bearer, &w.admin);
            let body = op.get("requestBody").map(|_| json!({}));
            let r = call(
                &w.host,
                &method.to_ascii_uppercase(),
                &concrete,
                &headers,
                body,
            );
            let code = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
            assert!(
                r.status != 405 && code.as_deref() != Some("no_route"),
                "{method} {concrete} is documented but not served: {} {}",
                r.status,
                r.text()
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
    // And an undocumented path is not served.
    let none = w.as_(None, "GET", "/api/v1/no-such-thing", None);
    assert_eq!(
        (none.status, json_of(&none)["error"]["code"].as_str()),
        (404, Some("no_route"))
    );
}

#[test]
fn postmark_delivery_against_a_local_stand_in() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let captured = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let len: Option<usize> = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        });
        let mut body = Vec::new();
        match len {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body).unwrap();
            }
            None => loop {
                // Chunked transfer encoding.
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            },
        }
        let reply = r#"{"To":"cara@shop.test","MessageID":"pm-123","ErrorCode":0,"Message":"OK"}"#;
        let mut stream = reader.into_inner();
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len()).unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    let w = World::build_with(
        false,
        &[
            ("SPIN_VARIABLE_MAIL_PROVIDER", "postmark"),
            ("SPIN_VARIABLE_POSTMARK_ORIGIN", &origin),
            ("SPIN_VARIABLE_POSTMARK_TOKEN", "pm-server-token"),
            ("SPIN_VARIABLE_MAIL_FROM", "Acme Support <help@acme.test>"),
        ],
    );
    let r = call(
        &w.host,
        "POST",
        "/api/v1/auth/email-login",
        &[],
        Some(json!({"workspace": "acme", "email": "cara@shop.test"})),
    );
    assert_eq!(r.status, 202);
    let (head, body) = captured.join().unwrap();
    assert!(head.starts_with("POST /email HTTP/1.1"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("x-postmark-server-token: pm-server-token"),
        "{head}"
    );
    assert!(
        lower.contains("accept: application/json")
            && lower.contains("content-type: application/json"),
        "{head}"
    );
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["To"], "cara@shop.test");
    assert_eq!(sent["From"], "Acme Support <help@acme.test>");
    assert!(sent["HtmlBody"].as_str().unwrap().contains("/login#acme."));
    assert!(sent["TextBody"].as_str().unwrap().contains("/login#acme."));
    // Delivery happens after the response: wait for it to be recorded.
    let mut outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    for _ in 0..100 {
        if outbox["emails"][0]["state"] == "sent" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    }
    assert_eq!(outbox["emails"][0]["state"], "sent");
    let kept = outbox["emails"][0]["text"].as_str().unwrap();
    assert!(
        kept.contains("/login#[redacted]") && !kept.contains("/login#acme."),
        "no usable token kept once sent: {kept}"
    );
    assert!(
        outbox["emails"][0]["provider_response"]
            .as_str()
            .unwrap()
            .contains("pm-123")
    );
}

#[test]
fn uploaded_logo_is_served_publicly_and_used_in_emails() {
    let w = World::build(false);
    let b = w.bearer();
    let png = b"\x89PNG\r\n\x1a\nlogo-bytes";
    let put = |who: &str, ctype: &str, body: &[u8]| {
        request(
            &w.host.addr,
            "PUT",
            "/api/v1/workspace/logo",
            &[
                ("Authorization", &b),
                ("Ticketshare-Act-As", who),
                ("Content-Type", ctype),
            ],
            body,
        )
    };
    assert_eq!(put(&w.staff, "image/png", png).status, 403);
    // The settings page asks `logo` whether there is one before showing it
    // (requesting a missing logo is a 404 in the browser's console).
    let logo = || json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/workspace", None))["logo"].clone();
    assert_eq!(logo(), Value::Null);
    assert_eq!(
        put(&w.admin, "image/svg+xml", b"<svg onload=alert(1)/>").status,
        415
    );
    assert_eq!(put(&w.admin, "image/png", b"not a png").status, 400);
    assert_eq!(
        put(&w.admin, "image/png", &vec![0u8; 300 * 1024]).status,
        413
    );
    assert_eq!(put(&w.admin, "image/png", png).status, 200);
    assert_eq!(
        (&logo()["content_type"], &logo()["size"]),
        (&json!("image/png"), &json!(png.len()))
    );
    let got = call(&w.host, "GET", "/api/v1/workspaces/acme/logo", &[], None);
    assert_eq!(
        (got.status, got.header("content-type")),
        (200, Some("image/png"))
    );
    assert_eq!(got.body, png.to_vec());
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        call(&w.host, "GET", "/api/v1/workspaces/globex/logo", &[], None).status,
        404
    );
    call(
        &w.host,
        "POST",
        "/api/v1/auth/email-login",
        &[],
        Some(json!({"workspace": "acme", "email": "cara@shop.test"})),
    );
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox", None));
    assert!(
        outbox["emails"][0]["html"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:3000/api/v1/workspaces/acme/logo")
    );
}
