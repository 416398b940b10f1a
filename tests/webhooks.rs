//! Outbound webhooks through the host: endpoints (admins only, strict
//! input), Standard Webhooks v1 signatures checked by the official
//! `standardwebhooks` library from PyPI, retries after the receiver was
//! down (with the test clock), 410 disables the endpoint, redirects are not
//! followed, redeliver, rotation (both signatures), private destinations
//! refused by default.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use testkit::receiver::{Got, Receiver};
use testkit::{World, json_of, root};

/// Verify a request with the official Standard Webhooks library.
fn verified_by_the_official_library(g: &Got, secret: &str) -> bool {
    let headers = json!({
        "webhook-id": g.header("webhook-id"),
        "webhook-timestamp": g.header("webhook-timestamp"),
        "webhook-signature": g.header("webhook-signature"),
    });
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json\nfrom standardwebhooks.webhooks import Webhook\nWebhook(sys.argv[1]).verify(sys.argv[2], json.loads(sys.argv[3]))\nprint('verified')",
        ])
        .arg(secret)
        .arg(&g.body)
        .arg(headers.to_string())
        .output()
        .expect("python3 with standardwebhooks (cargo xtask test installs it)");
    String::from_utf8_lossy(&out.stdout).contains("verified")
}

fn register(w: &World, url: &str, types: Value) -> (String, String) {
    let r = w.as_(
        Some(&w.admin),
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": url, "event_types": types})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = json_of(&r);
    (
        v["endpoint"]["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

fn deliveries(w: &World) -> Vec<Value> {
    let r = w.as_(Some(&w.admin), "GET", "/api/v1/webhooks/deliveries", None);
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)["deliveries"].as_array().unwrap().clone()
}

fn flush(w: &World) -> u64 {
    let r = w.as_(None, "POST", "/api/v1/webhooks/flush", None);
    assert_eq!(r.status, 202, "{}", r.text());
    json_of(&r)["attempting"].as_u64().unwrap()
}

#[test]
fn signed_events_reach_a_receiver_and_are_retried_until_they_land() {
    let w = World::build_full(false, &[], &["--allow-clock-shift"]);
    let rx = Receiver::start();

    // Only admins register; bad input is refused and creates nothing.
    let path = "/api/v1/webhooks";
    let body = json!({"url": rx.url});
    assert_eq!(
        w.as_(Some(&w.staff), "POST", path, Some(body.clone()))
            .status,
        403
    );
    for bad in [
        json!({"url": rx.url, "extra": 1}),
        json!({"url": "ftp://example.com"}),
        json!({"url": rx.url, "event_types": ["no.such.type"]}),
        json!({"event_types": []}),
    ] {
        let r = w.as_(Some(&w.admin), "POST", path, Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let list = json_of(&w.as_(Some(&w.admin), "GET", path, None));
    assert!(list["endpoints"].as_array().unwrap().is_empty());
    assert!(
        list["event_types"]
            .as_array()
            .unwrap()
            .contains(&json!("message.posted"))
    );
    let (id, secret) = register(&w, &rx.url, json!([]));
    assert!(secret.starts_with("whsec_"));
    let list = json_of(&w.as_(Some(&w.admin), "GET", path, None));
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );

    // An event: stored, delivered right after the response, signed.
    let t = w.ticket(&w.cust_a, "Hooked ticket");
    let got = rx.wait_for(1);
    let g = &got[0];
    assert_eq!(g.path, "/hook");
    assert!(g.header("webhook-id").starts_with("msg_"));
    assert!(g.header("webhook-signature").starts_with("v1,"));
    let payload: Value = serde_json::from_str(&g.body).unwrap();
    assert_eq!(payload["type"], "ticket.created");
    assert_eq!(payload["data"]["ticket"], t);
    assert!(g.body.len() < 20 * 1024);
    assert!(verified_by_the_official_library(g, &secret));
    assert!(
        !verified_by_the_official_library(g, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "the check can fail"
    );
    let d = &deliveries(&w)[0];
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_u64()),
        (Some("succeeded"), Some(1))
    );

    // The receiver is down: the attempt fails and waits for its retry.
    rx.status.store(503, Ordering::SeqCst);
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        Some(json!({"body": "a reply while the receiver is down"})),
    );
    assert_eq!(r.status, 201);
    rx.wait_for(2);
    std::thread::sleep(Duration::from_millis(200));
    let d = deliveries(&w)[0].clone();
    assert_eq!(d["state"], "pending");
    assert_eq!(d["last_status"], 503);
    assert_eq!(flush(&w), 0, "not due before its retry time");
    rx.status.store(200, Ordering::SeqCst);
    w.shift_clock(10);
    assert_eq!(flush(&w), 1);
    let got = rx.wait_for(3);
    assert_eq!(
        got[2].header("webhook-id"),
        got[1].header("webhook-id"),
        "a retry keeps its id"
    );
    assert!(verified_by_the_official_library(&got[2], &secret));
    std::thread::sleep(Duration::from_millis(200));
    let d = deliveries(&w)[0].clone();
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );

    // Redirects are not followed: a 3xx is a failed attempt.
    rx.status.store(302, Ordering::SeqCst);
    w.ticket(&w.cust_b, "Redirected");
    rx.wait_for(4);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 4, "nothing went to the Location");
    assert_eq!(deliveries(&w)[0]["last_status"], 302);

    // Redeliver sends a delivery again.
    rx.status.store(200, Ordering::SeqCst);
    let n = deliveries(&w)[0]["n"].as_u64().unwrap();
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/webhooks/deliveries/{n}/redeliver"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    rx.wait_for(5);

    // Rotation: both secrets sign for a while; the official library accepts
    // the delivery with either.
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/webhooks/{id}/rotate"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let new_secret = json_of(&r)["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    w.ticket(&w.cust_a, "After rotation");
    let got = rx.wait_for(6);
    let g = &got[5];
    assert_eq!(g.header("webhook-signature").matches("v1,").count(), 2);
    assert!(verified_by_the_official_library(g, &new_secret));
    assert!(verified_by_the_official_library(g, &secret));

    // 410 Gone disables the endpoint: nothing more is sent to it.
    rx.status.store(410, Ordering::SeqCst);
    w.ticket(&w.cust_a, "Gone");
    rx.wait_for(7);
    std::thread::sleep(Duration::from_millis(300));
    let list = json_of(&w.as_(Some(&w.admin), "GET", path, None));
    assert!(
        list["endpoints"][0]["disabled"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    w.ticket(&w.cust_a, "Not sent");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 7);
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/webhooks/{id}/enable"),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(json_of(&r)["endpoint"]["disabled"].is_null());
    let audit = json_of(&w.as_(None, "GET", "/api/v1/audit", None));
    let actions = testkit::actions(&audit);
    for a in ["webhook.created", "webhook.rotated", "webhook.enabled"] {
        assert!(actions.contains(&a), "{a}");
    }
}

#[test]
fn endpoints_filter_event_types_and_private_destinations_are_refused_by_default() {
    let w = World::build_with(false, &[("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS", "false")]);
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
    ] {
        let r = w.as_(
            Some(&w.admin),
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": url})),
        );
        assert_eq!(r.status, 400, "{url}: {}", r.text());
    }
    let r = w.as_(
        Some(&w.admin),
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": "https://hooks.example.com/x", "event_types": ["share.created"]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Events it does not want make no deliveries.
    w.ticket(&w.cust_a, "Not a share");
    assert!(deliveries(&w).is_empty());
    let id = json_of(&r)["endpoint"]["id"].as_str().unwrap().to_string();
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/webhooks/{id}/delete"),
        None,
    );
    assert_eq!(r.status, 200);
    let list = json_of(&w.as_(Some(&w.admin), "GET", "/api/v1/webhooks", None));
    assert!(list["endpoints"].as_array().unwrap().is_empty());
}

/// `--flush-webhooks-every`: the host retries what is due by itself (no
/// flush call from outside), through the deployment flush with the
/// `admin_token` it resolved.
#[test]
fn the_host_flushes_on_its_interval_when_asked() {
    let w = World::build_full(
        false,
        &[],
        &["--allow-clock-shift", "--flush-webhooks-every", "300ms"],
    );
    let rx = Receiver::start();
    register(&w, &rx.url, json!([]));
    rx.status.store(503, Ordering::SeqCst);
    w.ticket(&w.cust_a, "Retried by the host");
    rx.wait_for(1);
    rx.status.store(200, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(rx.count(), 1, "not due before its retry time");
    w.shift_clock(10);
    let got = rx.wait_for(2);
    assert_eq!(
        got[1].header("webhook-id"),
        got[0].header("webhook-id"),
        "the retry of the same event"
    );
    std::thread::sleep(Duration::from_millis(300));
    let d = deliveries(&w)[0].clone();
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );
}

/// The deployment flush over HTTP: the deployment token only, no body, and
/// repeated calls answer the same shape.
#[test]
fn the_deployment_flush_over_http() {
    let w = World::build(false);
    let path = "/api/v1/webhooks/deployment-flush";
    let bearer = w.bearer();
    let admin = format!("Bearer {}", testkit::ADMIN_TOKEN);
    let post = |auth: &str, body: &[u8]| {
        testkit::http::request(&w.host.addr, "POST", path, &[("Authorization", auth)], body)
    };
    for auth in [bearer.as_str(), "Bearer nope", ""] {
        let r = post(auth, b"");
        assert_eq!(r.status, 401, "{auth}: {}", r.text());
        assert!(r.text().contains("unauthenticated"), "{}", r.text());
    }
    assert_eq!(post(&admin, &vec![b'x'; 2 * 1024 * 1024]).status, 413);
    for _ in 0..3 {
        let r = post(&admin, b"");
        assert_eq!(r.status, 202, "{}", r.text());
        let v: Value = serde_json::from_str(&r.text()).unwrap();
        assert_eq!(v["more"], false, "{v}");
        assert_eq!(v["attempting"], 0, "{v}");
    }
}

/// The recipes of the README's "Retries for the whole deployment": the
/// Kubernetes CronJob's script run as its container would (curl, sh)
/// against a host, and the Spin cron trigger app's manifest read (the
/// app's own `spin.toml` has no cron trigger, so stock `spin up` starts it).
#[test]
fn the_flush_recipes_run_and_parse() {
    let w = World::build(false);
    let path = root().join("deploy/webhook-flush-cronjob.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let job: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(job["kind"], "CronJob");
    let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let script = container["args"][0].as_str().unwrap();
    // curl is run through a stand-in that notes its command line (what
    // `ps` shows every process of the pod) and then runs the real one.
    let bin = testkit::TempDir::new("flush-cronjob");
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v curl"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let argv = bin.path().join("argv");
    let shim = bin.path().join("curl");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nexec '{real}' \"$@\"\n",
            argv.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&shim)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |token: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", &path)
            .env("TICKETSHARE_URL", format!("http://{}", w.host.addr))
            .env("ADMIN_TOKEN", token)
            .output()
            .unwrap()
    };
    let ok = run(testkit::ADMIN_TOKEN);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("\"more\":false"),
        "{ok:?}"
    );
    let seen = std::fs::read_to_string(&argv).unwrap();
    assert!(seen.contains("deployment-flush"), "curl ran: {seen}");
    assert!(
        !seen.contains(testkit::ADMIN_TOKEN),
        "the token is on curl's command line: {seen}"
    );
    assert!(!run("wrong").status.success(), "a refusal fails the job");
    // The README's cron line keeps the token off the command line too.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let cron: Vec<&str> = readme
        .lines()
        .filter(|l| l.contains("curl") && l.contains("deployment-flush"))
        .collect();
    assert!(!cron.is_empty());
    for line in cron {
        assert!(
            !line.contains("Bearer"),
            "a token on curl's command line: {line}"
        );
    }

    let app: toml::Table = toml::from_str(
        &std::fs::read_to_string(root().join("deploy/webhook-flush-cron/spin.toml")).unwrap(),
    )
    .unwrap();
    let cron = &app["trigger"]["cron"][0];
    assert_eq!(
        cron["cron_expression"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        7,
        "sec min hour day month weekday year"
    );
    let component = cron["component"].as_str().unwrap();
    assert!(app["component"].get(component).is_some());
    let ours: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).unwrap()).unwrap();
    assert!(ours["trigger"].get("cron").is_none());
}
