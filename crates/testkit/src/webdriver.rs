//! A minimal W3C WebDriver client for Debian's chromedriver + headless
//! Chromium: enough to navigate, find, click, type, read text, run a script
//! and take screenshots. No browser is downloaded: `cargo xtask test` installs
//! Debian's `chromium` and `chromium-driver` when they are missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::Client;

/// The viewport of the README's screenshots (`cargo xtask screenshots`),
/// in CSS pixels and PNG pixels (the headless browser's device pixel ratio
/// is 1).
pub const README_VIEWPORT: (u32, u32) = (1280, 800);

/// The README's screenshots, by file name under `docs/screenshots/`, in the
/// order `cargo xtask screenshots` takes them: the console inbox, a ticket
/// open in the console, a share page after the email check.
pub const README_SHOTS: [&str; 3] = ["console-inbox.png", "console-ticket.png", "share-page.png"];

/// A running chromedriver with one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: crate::scratch::TempDir,
}

/// One request to chromedriver (which answers on keep-alive connections
/// whatever the client asks; the kit's client reads by Content-Length).
fn send(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let r = Client::with(addr, 0, Duration::from_secs(120))
        .send(method, path, &[("Content-Type", "application/json")], body)
        .unwrap_or_else(|e| panic!("chromedriver: {e}"));
    (r.status, r.body)
}

fn call(addr: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    try_call(addr, method, path, body).unwrap_or_else(|e| panic!("{e}"))
}

/// A WebDriver call; `Err` with the driver's answer when it refuses.
fn try_call(addr: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, bytes) = send(addr, method, path, text.as_bytes());
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status >= 400 {
        return Err(format!(
            "webdriver {method} {path} failed: {status} {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    Ok(v["value"].clone())
}

impl Browser {
    /// Start chromedriver on a free port and open a headless Chromium session.
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is required: run `cargo xtask test`, which installs chromium-driver",
            );
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = crate::scratch::TempDir::new("chrome");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let v = call(&addr, "POST", "/session", Some(caps));
        let session = v["sessionId"].as_str().expect("session id").to_string();
        Browser {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// Open a URL.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    /// Reload the page (a new document, unlike `goto` to the same URL
    /// with a fragment, which stays in the page).
    pub fn reload(&self) {
        self.cmd("POST", "/refresh", Some(json!({})));
    }

    /// Open a new tab and switch to it (the page left behind is hidden:
    /// `document.visibilityState` is "hidden"); returns the handle of the
    /// tab left, for [`Browser::switch_to`].
    pub fn open_tab(&self) -> String {
        let left = self.cmd("GET", "/window", None);
        let tab = self.cmd("POST", "/window/new", Some(json!({"type": "tab"})));
        self.switch_to(tab["handle"].as_str().expect("a window handle"));
        left.as_str().expect("a window handle").to_string()
    }

    /// Switch to the tab or window `handle` (it becomes visible).
    pub fn switch_to(&self, handle: &str) {
        self.cmd("POST", "/window", Some(json!({"handle": handle})));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Run a script and return its value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Run an asynchronous script (its last argument is the callback to
    /// call with the result) and return what it passed.
    pub fn script_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Wait until `css` matches an element whose text contains `text`
    /// (empty: any); returns its element id.
    pub fn wait_for(&self, css: &str, text: &str) -> String {
        let t0 = Instant::now();
        loop {
            let found = self.script(
                "const [css, text] = arguments; \
                 return [...document.querySelectorAll(css)].some(e => e.textContent.includes(text));",
                json!([css, text]),
            );
            if found == Value::Bool(true) {
                let els = self.cmd(
                    "POST",
                    "/elements",
                    Some(json!({"using": "css selector", "value": css})),
                );
                for e in els.as_array().unwrap() {
                    let id = e
                        .as_object()
                        .unwrap()
                        .values()
                        .next()
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string();
                    // The page may re-render between finding and reading an
                    // element (a stale element): look again.
                    let Ok(t) = try_call(
                        &self.addr,
                        "GET",
                        &format!("/session/{}/element/{id}/text", self.session),
                        None,
                    ) else {
                        continue;
                    };
                    if t.as_str().unwrap_or("").contains(text) {
                        return id;
                    }
                }
            }
            if t0.elapsed() > Duration::from_secs(15) {
                let body = self.script("return document.body.innerText;", json!([]));
                panic!("timed out waiting for {css:?} containing {text:?}; page text:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Click the element matching `css` (containing `text`).
    pub fn click(&self, css: &str, text: &str) {
        self.on_element(css, text, "click", json!({}));
    }

    /// Send `command` to the element matching `css` (containing `text`),
    /// finding it again when the page re-rendered it in between.
    fn on_element(&self, css: &str, text: &str, command: &str, body: Value) {
        let mut last = String::new();
        for _ in 0..50 {
            let id = self.wait_for(css, text);
            match try_call(
                &self.addr,
                "POST",
                &format!("/session/{}/element/{id}/{command}", self.session),
                Some(body.clone()),
            ) {
                Ok(_) => return,
                Err(e) if e.contains("stale element") => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{css:?} kept going stale: {last}");
    }

    /// Type into the element matching `css`.
    pub fn type_into(&self, css: &str, keys: &str) {
        self.on_element(css, "", "value", json!({"text": keys}));
    }

    /// Resize the window (CSS pixels).
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Make the page's viewport (what a screenshot shows) exactly `width` x
    /// `height` CSS pixels: resize the window, then correct by the
    /// difference between the window and its viewport.
    pub fn set_viewport(&self, width: u32, height: u32) {
        self.resize(width, height);
        let inner = self.script("return [window.innerWidth, window.innerHeight];", json!([]));
        let (w, h) = (
            inner[0].as_i64().unwrap_or(0),
            inner[1].as_i64().unwrap_or(0),
        );
        let (dw, dh) = (i64::from(width) - w, i64::from(height) - h);
        if (dw, dh) != (0, 0) {
            let fix = |size: u32, d: i64| u32::try_from(i64::from(size) + d).unwrap_or(size);
            self.resize(fix(width, dw), fix(height, dh));
        }
    }

    /// A PNG screenshot of the viewport (WebDriver's `GET
    /// /session/{id}/screenshot`), as bytes.
    pub fn screenshot_png(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        decode_base64(b64.as_str().unwrap())
    }

    /// Whether the page scrolls sideways (wider than the window).
    pub fn overflows_horizontally(&self) -> bool {
        self.script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            json!([]),
        ) == Value::Bool(true)
    }

    /// Visible text of the page.
    pub fn text(&self) -> String {
        self.script("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Origins of every resource the page loaded (for the same-origin check).
    pub fn resource_origins(&self) -> Vec<String> {
        let v = self.script(
            "return [location.origin, ...performance.getEntriesByType('resource').map(e => new URL(e.name).origin)];",
            json!([]),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect()
    }

    /// Press keys on whatever has focus, as a person would (WebDriver
    /// actions: each key down then up). Special keys are the WebDriver
    /// code points, e.g. [`keys::ENTER`]; see [`Browser::chord`] for keys
    /// held together.
    pub fn press(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.key_actions(actions);
    }

    /// Hold `held` (e.g. [`keys::CONTROL`]) while pressing `key`.
    pub fn chord(&self, held: &[&str], key: &str) {
        let mut actions: Vec<Value> = held
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k}))
            .collect();
        actions.push(json!({"type": "keyDown", "value": key}));
        actions.push(json!({"type": "keyUp", "value": key}));
        actions.extend(
            held.iter()
                .rev()
                .map(|k| json!({"type": "keyUp", "value": k})),
        );
        self.key_actions(actions);
    }

    fn key_actions(&self, actions: Vec<Value>) {
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// The focused element: its id, or its tag and text when it has none.
    pub fn focused(&self) -> String {
        self.script(
            "const e = document.activeElement; \
             return e ? (e.id || `${e.tagName.toLowerCase()}: ${e.textContent.trim()}`) : '';",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Wait until `script` (a function body) returns `true`, or panic with
    /// `what` and the page's text after `secs` seconds.
    pub fn wait_until(&self, what: &str, secs: u64, script: &str, args: Value) {
        let t0 = Instant::now();
        while self.script(script, args.clone()) != Value::Bool(true) {
            if t0.elapsed() > Duration::from_secs(secs) {
                panic!(
                    "timed out after {secs} s waiting until {what}; page text:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The browser console's errors since the last call (chromedriver's
    /// `browser` log, level SEVERE: uncaught exceptions, `console.error`,
    /// failed loads of the page's resources).
    pub fn console_errors(&self) -> Vec<String> {
        let v = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})));
        v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Save a PNG screenshot.
    pub fn screenshot(&self, path: &Path) {
        let bytes = self.screenshot_png();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            send(
                &self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                b"",
            )
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// WebDriver screenshots are standard base64 (the `base64` crate).
fn decode_base64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("a screenshot in base64")
}

/// The width and height of a PNG, after checking its structure: the
/// signature, `IHDR` first, every chunk's length inside the file, and
/// `IEND` last at the very end.
pub fn png_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let rest = bytes.strip_prefix(SIGNATURE).ok_or("not a PNG signature")?;
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let mut at = 0;
    let mut size = None;
    loop {
        let head = rest.get(at..at + 8).ok_or("a chunk header past the end")?;
        let (len, kind) = (be(&head[..4]) as usize, &head[4..8]);
        let data = rest
            .get(at + 8..at + 8 + len)
            .ok_or("a chunk longer than the file")?;
        rest.get(at + 8 + len..at + 12 + len)
            .ok_or("a chunk without its CRC")?;
        match (kind, size) {
            (b"IHDR", None) if len == 13 => size = Some((be(&data[..4]), be(&data[4..8]))),
            (b"IHDR", _) => return Err("a misplaced or malformed IHDR".into()),
            (_, None) => return Err("IHDR is not the first chunk".into()),
            (b"IEND", Some(s)) if at + 12 + len == rest.len() => return Ok(s),
            (b"IEND", _) => return Err("bytes after IEND".into()),
            _ => {}
        }
        at += 12 + len;
    }
}

/// WebDriver's code points for keys that are not characters.
pub mod keys {
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Escape.
    pub const ESCAPE: &str = "\u{E00C}";
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Shift (held in a chord).
    pub const SHIFT: &str = "\u{E008}";
    /// Control (held in a chord).
    pub const CONTROL: &str = "\u{E009}";
    /// Meta, the Command key on a Mac (held in a chord).
    pub const META: &str = "\u{E03D}";
    /// Home.
    pub const HOME: &str = "\u{E011}";
    /// End.
    pub const END: &str = "\u{E010}";
    /// Left arrow.
    pub const LEFT: &str = "\u{E012}";
    /// Right arrow.
    pub const RIGHT: &str = "\u{E014}";
}

#[cfg(test)]
mod tests {
    use super::png_size;

    /// A 1x1 PNG (with a zero CRC: the structure is what is checked).
    fn tiny(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            v.extend_from_slice(&(data.len() as u32).to_be_bytes());
            v.extend_from_slice(kind);
            v.extend_from_slice(data);
            v.extend_from_slice(&[0; 4]);
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &[1, 2, 3]);
        chunk(b"IEND", &[]);
        v
    }

    #[test]
    fn png_size_reads_the_header_and_refuses_broken_files() {
        let good = tiny(1280, 800);
        assert_eq!(png_size(&good), Ok((1280, 800)));
        assert!(png_size(&good[..good.len() - 1]).is_err(), "truncated");
        let mut extra = good.clone();
        extra.push(0);
        assert!(png_size(&extra).is_err(), "trailing bytes");
        assert!(png_size(b"GIF89a").is_err(), "not a PNG");
        let mut no_ihdr = good.clone();
        no_ihdr[12..16].copy_from_slice(b"IHDX");
        assert!(png_size(&no_ihdr).is_err(), "IHDR first");
    }
}
