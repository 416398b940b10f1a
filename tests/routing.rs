//! Routing precedence and Spin's request headers, as a table of cases; the
//! well-known endpoints; 404 with an empty body when nothing matches.

use testkit::{HostConfig, TempDir};

fn header_map(body: &str) -> std::collections::BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn precedence_and_headers_table() {
    let dir = TempDir::new("routing");
    let host = HostConfig::contract(dir.path()).start();
    // (path, matched route, component route, path info, params)
    let cases: &[(&str, &str, &str, &str, &[(&str, &str)])] = &[
        ("/", "/...", "", "/", &[]),
        ("/anything/else?q=1", "/...", "", "/anything/else", &[]),
        ("/route/exact", "/route/exact", "/route/exact", "", &[]),
        (
            "/route/other",
            "/route/:a",
            "/route/:a",
            "",
            &[("a", "other")],
        ),
        (
            "/route/x/y",
            "/route/:a/:b",
            "/route/:a/:b",
            "",
            &[("a", "x"), ("b", "y")],
        ),
        (
            "/route/fixed/y",
            "/route/fixed/...",
            "/route/fixed",
            "/y",
            &[],
        ),
        (
            "/route/x/tail",
            "/route/:a/tail/...",
            "/route/:a/tail",
            "",
            &[("a", "x")],
        ),
        (
            "/route/x/tail/1/2",
            "/route/:a/tail/...",
            "/route/:a/tail",
            "/1/2",
            &[("a", "x")],
        ),
        (
            "/route/fixed/tail/z",
            "/route/fixed/...",
            "/route/fixed",
            "/tail/z",
            &[],
        ),
        ("/route/x/y/z", "/...", "", "/route/x/y/z", &[]),
    ];
    for (path, matched, comp_route, info, params) in cases {
        let r = host.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let h = header_map(&r.text());
        assert_eq!(
            h.get("spin-matched-route").map(String::as_str),
            Some(*matched),
            "{path}"
        );
        assert_eq!(
            h.get("spin-raw-component-route").map(String::as_str),
            Some(*matched),
            "{path}"
        );
        assert_eq!(
            h.get("spin-component-route").map(String::as_str),
            Some(*comp_route),
            "{path}"
        );
        assert_eq!(
            h.get("spin-path-info").map(String::as_str),
            Some(*info),
            "{path}"
        );
        assert_eq!(
            h.get("spin-base-path").map(String::as_str),
            Some("/"),
            "{path}"
        );
        assert_eq!(
            h.get("spin-full-url").cloned(),
            Some(format!("http://{}{path}", host.addr)),
            "{path}"
        );
        assert!(
            h.get("spin-client-addr")
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
            "{path}"
        );
        let got: Vec<(String, String)> = h
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("spin-path-match-")
                    .map(|n| (n.to_string(), v.clone()))
            })
            .collect();
        let want: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "{path}");
    }
}

#[test]
fn well_known_and_not_found() {
    let dir = TempDir::new("wellknown");
    let host = HostConfig::contract(dir.path()).start();
    let health = host.get("/.well-known/spin/health");
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let info = host.get("/.well-known/spin/info");
    assert_eq!(info.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(v["application"], "contract");
    // The rest of the reserved space never reaches the app (which has a catch-all).
    let reserved = host.get("/.well-known/spin/other");
    assert_eq!((reserved.status, reserved.body.len()), (404, 0));

    // An app with no catch-all: unmatched paths are 404 with an empty body.
    let app = TempDir::new("nf");
    let manifest = app.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"nf\"\n[[trigger.http]]\nroute = \"/only\"\ncomponent = \"c\"\n[component.c]\nsource = \"{}\"\n",
            testkit::wasm("hello").display()
        ),
    )
    .unwrap();
    let mut cfg = HostConfig::app(app.path());
    cfg.manifest = manifest;
    let h = cfg.start();
    let r = h.get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    assert_eq!(h.get("/only").status, 200);
}
