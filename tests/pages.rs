//! The real application's `pages` component, served from `static/` by the host
//! exactly as `cargo xtask up` runs it.

use testkit::{HostConfig, TempDir, request};

#[test]
fn index_and_assets() {
    let state = TempDir::new("pages");
    let host = HostConfig::app(state.path()).start();
    let index = host.get("/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(index.text().contains("Ticketshare"));
    let csp = index.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));

    let css = host.get("/app.css");
    assert_eq!(
        (css.status, css.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );

    let etag = index.header("etag").unwrap().to_string();
    let again = request(&host.addr, "GET", "/", &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);

    assert_eq!(host.get("/no-such-page.css").status, 404);
    assert_eq!(host.get("/../Cargo.toml").status, 404);
    assert_eq!(host.req("POST", "/", b"x").status, 405);
}
