//! `cargo xtask screenshots [--out DIR]`: the README's pictures, taken
//! from the running app. A host on a temporary state dir, the demo
//! workspace of `cargo xtask up` (see `seed.rs`), a share of ticket #1 by
//! Sam Staff, then headless Chromium (the test kit's WebDriver client) at a
//! fixed 1280x800 viewport: Sam's console inbox, ticket #1 open, and the
//! share page as the collaborator sees it after confirming their email with
//! the code. PNGs go to `docs/screenshots/` (or `DIR`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::webdriver::{Browser, README_SHOTS as SHOTS, README_VIEWPORT as VIEWPORT, png_size};
use testkit::{ADMIN_TOKEN, HostConfig, TempDir, root, seed::link_in};

use crate::seed;
use crate::setup::build;

/// The collaborator the demo ticket is shared with.
const SUPPLIER: &str = "dock@carrier.test";

/// Take the screenshots (`--out DIR` replaces `docs/screenshots/`).
pub fn screenshots(args: &[String]) -> Result<(), String> {
    let out = match args {
        [] => root().join("docs/screenshots"),
        [flag, dir] if flag == "--out" => std::path::absolute(dir).map_err(|e| e.to_string())?,
        _ => return Err("usage: cargo xtask screenshots [--out DIR]".into()),
    };
    build()?;
    testkit::host::assume_built();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let state = TempDir::new("screenshots");
    let host = HostConfig::app(state.path()).try_start()?;
    let demo = seed::seed(&host.addr, ADMIN_TOKEN, state.path())?
        .ok_or("a fresh store already had a demo workspace")?;
    let origin = format!("http://{}", host.addr);
    let ws = seed::open(&host.addr, demo["api_key"].as_str().unwrap_or_default());
    let user = |name: &str| demo["users"][name].as_str().unwrap_or_default().to_string();
    let sam = user("Sam Staff");
    // Sam shares ticket #1 (the late parcel) with the carrier's depot.
    ws.ok(
        Some(&sam),
        "POST",
        "/api/v1/tickets/1/shares",
        Some(&json!({
            "email": SUPPLIER,
            "subject": "Parcel SO-1001: is it at your depot?",
            "note": "Cara's parcel was due on Monday. Could you check **depot B** and reply here?",
        })),
    )
    .map_err(|e| e.to_string())?;
    let share = link_in(
        &ws.outbox("?limit=20").map_err(|e| e.to_string())?["emails"],
        "/s/",
    )
    .ok_or("no share link in the outbox")?;

    let b = Browser::start();
    b.set_viewport(VIEWPORT.0, VIEWPORT.1);
    let shot = |name: &str| -> Result<PathBuf, String> {
        // Let fonts and the last poll settle.
        std::thread::sleep(Duration::from_millis(300));
        let path = out.join(name);
        std::fs::write(&path, b.screenshot_png())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };

    // Sam's console: the Pending inbox, then ticket #1 with its thread.
    let login = ws
        .ok(
            None,
            "POST",
            &format!("/api/v1/users/{sam}/login-links"),
            None,
        )
        .map_err(|e| e.to_string())?;
    let fragment = login["url"]
        .as_str()
        .and_then(|u| u.split_once('#'))
        .map(|(_, f)| f.to_string())
        .ok_or("a login link without a fragment")?;
    b.goto(&format!("{origin}/login#{fragment}"));
    b.click("#continue", "Continue");
    wait_until(&b, "the console opens", || b.url().contains("/console"))?;
    b.wait_for("#who", "");
    b.wait_for(".ticket-row", "Special coffee blend survey");
    b.wait_for(".ticket-row", "My parcel has not arrived");
    let inbox = shot(SHOTS[0])?;
    b.click(".ticket-row", "My parcel has not arrived");
    b.wait_for("#thread .msg", "depot");
    b.wait_for(".share-list li", SUPPLIER);
    let ticket = shot(SHOTS[1])?;

    // The collaborator: sign Sam out, open the share link, confirm the
    // email with the code from the outbox, and the thread opens.
    b.click("#logout", "Sign out");
    b.wait_for("h1", "Sign in");
    b.goto(&format!("{origin}{share}"));
    b.wait_for("h1", "Confirm your email");
    b.click("#send-code", "Email me a code");
    b.wait_for(".notice", "6-digit code");
    let code = code_in(&ws.outbox("?limit=20").map_err(|e| e.to_string())?)
        .ok_or("no code email in the outbox")?;
    b.type_into("#code", &code);
    b.click("#verify", "Verify");
    b.wait_for("#thread .msg", "Order SO-1001");
    b.wait_for(".share-note", "depot B");
    let page = shot(SHOTS[2])?;

    for path in [inbox, ticket, page] {
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let (w, h) = png_size(&bytes)?;
        if (w, h) != VIEWPORT {
            return Err(format!("{}: {w}x{h}, not {VIEWPORT:?}", path.display()));
        }
        println!(
            "{}: {w}x{h}, {} KB",
            path.strip_prefix(root()).unwrap_or(&path).display(),
            bytes.len() / 1024
        );
    }
    Ok(())
}

/// Poll `done` for up to 15 s.
fn wait_until(b: &Browser, what: &str, done: impl Fn() -> bool) -> Result<(), String> {
    let t0 = Instant::now();
    while !done() {
        if t0.elapsed() > Duration::from_secs(15) {
            return Err(format!("timed out waiting until {what} (at {})", b.url()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The 6-digit code of the newest code email to the collaborator in an
/// outbox page.
fn code_in(outbox: &Value) -> Option<String> {
    outbox["emails"]
        .as_array()?
        .iter()
        .filter(|e| e["to"] == SUPPLIER && e["kind"] == "share_code")
        .find_map(|e| {
            let text = e["text"].as_str()?;
            let (_, rest) = text.split_once("Your code is ")?;
            rest.get(..6).map(str::to_string)
        })
}
