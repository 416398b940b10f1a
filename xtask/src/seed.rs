//! Seeding for `cargo xtask up`: on an empty store, a demo workspace (an
//! admin, two staff, two customers of one company, a few tickets); on every
//! start, the API key and fresh login links printed so a newcomer can use the
//! app at once. The demo API key is kept in `.spin/demo.json` (the store only
//! holds its hash).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// One HTTP/1.1 request; returns status and JSON body (Null when not JSON).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut h = headers.to_vec();
    if body.is_some() {
        h.push(("Content-Type", "application/json"));
    }
    let (status, _, body) = raw(addr, method, path, &h, &text)?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// One request on a fresh connection: status, response head, body (chunks
/// joined).
pub(crate) fn raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, head.to_string(), body))
}

pub(crate) fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Seed (when needed) and print how to get in.
pub fn seed_and_print(
    addr: &str,
    admin_token: &str,
    state: &std::path::Path,
    origin: &str,
) -> Result<(), String> {
    let file = state.join("demo.json");
    let mut demo: Value = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let key_works = |demo: &Value| -> bool {
        demo["api_key"].as_str().is_some_and(|k| {
            http(
                addr,
                "GET",
                "/api/v1/me",
                &[("Authorization", &format!("Bearer {k}"))],
                None,
            )
            .is_ok_and(|(s, _)| s == 200)
        })
    };
    if !key_works(&demo) {
        let (status, body) = http(
            addr,
            "POST",
            "/api/v1/workspaces",
            &[("Authorization", &format!("Bearer {admin_token}"))],
            Some(&json!({"id": "demo", "name": "Demo Store"})),
        )?;
        if status == 409 {
            println!(
                "The store already has a `demo` workspace whose API key is not in {}; remove .spin/ to start afresh.",
                file.display()
            );
            return Ok(());
        }
        if status != 201 {
            return Err(format!("cannot create the demo workspace: {status} {body}"));
        }
        let key = body["secret"].as_str().unwrap_or_default().to_string();
        let auth = format!("Bearer {key}");
        let mut users = serde_json::Map::new();
        for (email, name, role, company, perms) in [
            ("ada@demo.test", "Ada Admin", "admin", None, vec![]),
            (
                "sam@demo.test",
                "Sam Staff",
                "staff",
                None,
                vec!["external_share"],
            ),
            ("sky@demo.test", "Sky Staff", "staff", None, vec![]),
            (
                "cara@shop.test",
                "Cara Customer",
                "customer",
                Some("Shop Ltd"),
                vec![],
            ),
            (
                "cole@shop.test",
                "Cole Customer",
                "customer",
                Some("Shop Ltd"),
                vec![],
            ),
            ("bea@coffee.test", "Bea Buyer", "customer", None, vec![]),
            ("ben@coffee.test", "Ben Buyer", "customer", None, vec![]),
            ("bo@coffee.test", "Bo Buyer", "customer", None, vec![]),
        ] {
            let (s, b) = http(
                addr,
                "PUT",
                "/api/v1/users",
                &[("Authorization", &auth)],
                Some(
                    &json!({"email": email, "name": name, "role": role, "company": company, "permissions": perms,
                    "queues": if role == "staff" { vec!["support"] } else { vec![] }}),
                ),
            )?;
            if s >= 300 {
                return Err(format!("cannot create user {email}: {s} {b}"));
            }
            users.insert(name.to_string(), b["user"]["id"].clone());
        }
        let cara = users["Cara Customer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let cole = users["Cole Customer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let sam = users["Sam Staff"].as_str().unwrap_or_default().to_string();
        for (who, subject, body) in [
            (
                &cara,
                "My parcel has not arrived",
                "Order SO-1001 was due on Monday. Can you check with the carrier?",
            ),
            (
                &cole,
                "Wrong size delivered",
                "I ordered **M** and received **L**. How do I exchange it?",
            ),
            (
                &cara,
                "Invoice address",
                "Please put our company name on the invoice.",
            ),
            (
                &cara,
                "Special coffee blend survey",
                "We would love feedback from everyone who bought the special blend.",
            ),
        ] {
            let (s, b) = http(
                addr,
                "POST",
                "/api/v1/tickets",
                &[("Authorization", &auth), ("Ticketshare-Act-As", who)],
                Some(&json!({"subject": subject, "body": body})),
            )?;
            if s != 201 {
                return Err(format!("cannot create a demo ticket: {s} {b}"));
            }
        }
        let _ = http(
            addr,
            "POST",
            "/api/v1/tickets/1/replies",
            &[("Authorization", &auth), ("Ticketshare-Act-As", &sam)],
            Some(
                &json!({"body": "Thanks Cara, I have asked the carrier and will get back to you today."}),
            ),
        );
        let _ = http(
            addr,
            "POST",
            "/api/v1/tickets/1/replies",
            &[("Authorization", &auth), ("Ticketshare-Act-As", &sam)],
            Some(
                &json!({"body": "Carrier says the parcel is at the depot.", "visibility": "internal"}),
            ),
        );
        demo = json!({"workspace": "demo", "api_key": key, "users": users});
        std::fs::create_dir_all(state).map_err(|e| e.to_string())?;
        std::fs::write(&file, serde_json::to_string_pretty(&demo).unwrap())
            .map_err(|e| e.to_string())?;
        println!(
            "Seeded the demo workspace `demo` (details in {}).",
            file.display()
        );
    }
    let key = demo["api_key"].as_str().unwrap_or_default();
    println!("\nDemo workspace: demo");
    println!("API key (platform): {key}");
    println!("  curl -H 'Authorization: Bearer {key}' {origin}/api/v1/tickets");
    println!("Login links (single use, 15 minutes):");
    if let Some(users) = demo["users"].as_object() {
        for (name, id) in users {
            let id = id.as_str().unwrap_or_default();
            if let Ok((201, b)) = http(
                addr,
                "POST",
                &format!("/api/v1/users/{id}/login-links"),
                &[("Authorization", &format!("Bearer {key}"))],
                None,
            ) {
                println!("  {name:<14} {}", b["url"].as_str().unwrap_or_default());
            }
        }
    }
    println!();
    Ok(())
}

/// A keep-alive HTTP/1.1 connection, for seeding many records quickly.
pub(crate) struct Client {
    addr: String,
    stream: std::io::BufReader<TcpStream>,
}

impl Client {
    /// Connect to `addr` (`host:port`).
    pub(crate) fn connect(addr: &str) -> Result<Client, String> {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        Ok(Client {
            addr: addr.to_string(),
            stream: std::io::BufReader::new(s),
        })
    }

    /// One request; returns status and body. Fails on a connection error
    /// (the caller decides what a 4xx or 5xx means).
    pub(crate) fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String), String> {
        use std::io::BufRead;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        let w = self.stream.get_mut();
        w.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("malformed status line {line:?}"))?;
        let (mut length, mut chunked, mut close) = (0usize, false, false);
        loop {
            line.clear();
            self.stream
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(line.trim(), 16).map_err(|e| e.to_string())?;
                let mut chunk = vec![0; n + 2];
                self.stream
                    .read_exact(&mut chunk)
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(length, 0);
            self.stream
                .read_exact(&mut out)
                .map_err(|e| e.to_string())?;
        }
        if close {
            *self = Client::connect(&self.addr)?;
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    /// A request that must succeed (2xx); returns the JSON body.
    pub(crate) fn ok(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<Value, String> {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut h = headers.to_vec();
        if !text.is_empty() {
            h.push(("Content-Type", "application/json"));
        }
        let (status, b) = self.call(method, path, &h, &text)?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path}: {status} {b}"));
        }
        Ok(serde_json::from_str(&b).unwrap_or(Value::Null))
    }
}

/// Run `f(client, i)` for every `i` in `0..n` over `conns` keep-alive
/// connections in parallel; the first error stops the run.
pub(crate) fn parallel<F>(addr: &str, conns: usize, n: u64, f: F) -> Result<(), String>
where
    F: Fn(&mut Client, u64) -> Result<(), String> + Sync,
{
    let next = std::sync::atomic::AtomicU64::new(0);
    let failed = std::sync::Mutex::new(None::<String>);
    std::thread::scope(|s| {
        for _ in 0..conns {
            s.spawn(|| {
                let mut c = match Client::connect(addr) {
                    Ok(c) => c,
                    Err(e) => {
                        *failed.lock().unwrap() = Some(e);
                        return;
                    }
                };
                loop {
                    if failed.lock().unwrap().is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    if let Err(e) = f(&mut c, i) {
                        *failed.lock().unwrap() = Some(e);
                        return;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
