//! Seeding for `cargo xtask up`: on an empty store, a demo workspace (an
//! admin, two staff, two customers of one company, a few tickets); on every
//! start, the API key and fresh login links printed so a newcomer can use the
//! app at once. The demo API key is kept in `.spin/demo.json` (the store only
//! holds its hash). Built with the test kit's seeding builder
//! (`testkit::seed`).

use serde_json::{Value, json};
use testkit::http::Client;
use testkit::seed::{User, Workspace};

/// Seed (when needed) and print how to get in.
pub fn seed_and_print(
    addr: &str,
    admin_token: &str,
    state: &std::path::Path,
    origin: &str,
) -> Result<(), String> {
    let Some(demo) = seed(addr, admin_token, state)? else {
        return Ok(());
    };
    print_access(addr, &demo, origin);
    Ok(())
}

/// The seeding builder on the demo workspace `demo`, with API key `key`.
pub fn open(addr: &str, key: &str) -> Workspace<Client> {
    Workspace {
        transport: Client::new(addr),
        id: "demo".into(),
        key: key.to_string(),
    }
}

/// Seed the demo workspace unless `<state>/demo.json` holds a key that
/// works; returns that file's content (`workspace`, `api_key`, `users`:
/// name to id), or `None` when the store has a `demo` workspace whose key
/// is lost (it says so).
pub fn seed(
    addr: &str,
    admin_token: &str,
    state: &std::path::Path,
) -> Result<Option<Value>, String> {
    let file = state.join("demo.json");
    let mut demo: Value = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let key_works = |demo: &Value| -> bool {
        demo["api_key"].as_str().is_some_and(|k| {
            open(addr, k)
                .call(None, "GET", "/api/v1/me", None)
                .is_ok_and(|(s, _)| s == 200)
        })
    };
    if !key_works(&demo) {
        let ws = match Workspace::create(Client::new(addr), admin_token, "demo", "Demo Store") {
            Ok(ws) => ws,
            Err(e) if e.status == 409 => {
                println!(
                    "The store already has a `demo` workspace whose API key is not in {}; remove .spin/ to start afresh.",
                    file.display()
                );
                return Ok(None);
            }
            Err(e) => return Err(format!("cannot create the demo workspace: {e}")),
        };
        let key = ws.key.clone();
        let mut users = serde_json::Map::new();
        for (email, name, role, company, permissions) in [
            ("ada@demo.test", "Ada Admin", "admin", None, &[][..]),
            (
                "sam@demo.test",
                "Sam Staff",
                "staff",
                None,
                &["external_share"][..],
            ),
            ("sky@demo.test", "Sky Staff", "staff", None, &[][..]),
            (
                "cara@shop.test",
                "Cara Customer",
                "customer",
                Some("Shop Ltd"),
                &[][..],
            ),
            (
                "cole@shop.test",
                "Cole Customer",
                "customer",
                Some("Shop Ltd"),
                &[][..],
            ),
            ("bea@coffee.test", "Bea Buyer", "customer", None, &[][..]),
            ("ben@coffee.test", "Ben Buyer", "customer", None, &[][..]),
            ("bo@coffee.test", "Bo Buyer", "customer", None, &[][..]),
        ] {
            let queues: &[&str] = if role == "staff" { &["support"] } else { &[] };
            let (id, _) = ws
                .user(&User {
                    email,
                    name,
                    role,
                    company,
                    permissions,
                    queues,
                })
                .map_err(|e| format!("cannot create user {email}: {e}"))?;
            users.insert(name.to_string(), Value::String(id));
        }
        let id = |name: &str| users[name].as_str().unwrap_or_default().to_string();
        let (cara, cole, sam) = (id("Cara Customer"), id("Cole Customer"), id("Sam Staff"));
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
            ws.ticket(who, subject, body)
                .map_err(|e| format!("cannot create a demo ticket: {e}"))?;
        }
        let _ = ws.reply(
            &sam,
            1,
            &json!({"body": "Thanks Cara, I have asked the carrier and will get back to you today."}),
        );
        let _ = ws.reply(
            &sam,
            1,
            &json!({"body": "Carrier says the parcel is at the depot.", "visibility": "internal"}),
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
    Ok(Some(demo))
}

/// Print the demo's API key and a fresh login link for each demo user.
fn print_access(addr: &str, demo: &Value, origin: &str) {
    let key = demo["api_key"].as_str().unwrap_or_default();
    println!("\nDemo workspace: demo");
    println!("API key (platform): {key}");
    println!("  curl -H 'Authorization: Bearer {key}' {origin}/api/v1/tickets");
    println!("Login links (single use, 15 minutes):");
    if let Some(users) = demo["users"].as_object() {
        for (name, id) in users {
            let id = id.as_str().unwrap_or_default();
            if let Ok((201, b)) = open(addr, key).call(
                None,
                "POST",
                &format!("/api/v1/users/{id}/login-links"),
                None,
            ) {
                println!("  {name:<14} {}", b["url"].as_str().unwrap_or_default());
            }
        }
    }
    println!();
}
