//! The checks behind `cargo xtask fuzz`, as plain functions over bytes.
//!
//! Each `fuzz/fuzz_targets/<name>.rs` calls the function of the same name
//! here; a check panics when the code under test breaks a rule (a panic of
//! its own, a 5xx, an error that is not JSON, unsafe HTML...). Every input
//! that once failed is kept under `fuzz/regressions/<name>/` and replayed by
//! this crate's tests, so the suite holds the fix without a fuzzer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use api::http::Request;
use domain::store::MemKv;
use serde_json::json;

/// Every check, by target name.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("manifest", manifest),
    ("routes", routes),
    ("requests", requests),
    ("tokens", tokens),
    ("signatures", signatures),
    ("inbound", inbound),
    ("markdown", markdown),
];

/// `spin.toml` and runtime-config text: parsing never panics; a manifest
/// that parses has routes that parse again to the same canonical form.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = spinfile::manifest::Manifest::parse(text, Path::new("/app")) {
        for t in &m.http_triggers {
            if let spinfile::manifest::TriggerRoute::Public(p) = &t.route {
                let again = spinfile::router::RoutePattern::parse(p.raw())
                    .expect("a route that parsed once parses again");
                assert_eq!(again.canonical(), p.canonical());
            }
        }
    }
    let _ = spinfile::runtime_config::parse(text, Path::new("/app"), Path::new("/state"));
    if let Ok(t) = spinfile::variables::Template::parse(text) {
        let values: BTreeMap<String, String> = t
            .references()
            .map(|r| (r.to_string(), "v".into()))
            .collect();
        t.render(&values)
            .expect("a template renders with every reference set");
    }
    let _ = spinfile::outbound::AllowedHost::parse(text);
}

/// Route patterns (first line, space separated) and request paths (the
/// other lines): a match names a pattern that exists and its path info is
/// the tail of the path.
pub fn routes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let patterns: Vec<_> = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .filter_map(|p| spinfile::router::RoutePattern::parse(p).ok())
        .collect();
    let n = patterns.len();
    let router = spinfile::router::Router::new(patterns);
    for path in lines {
        if let Some(m) = router.route(path) {
            assert!(m.index < n);
            assert!(
                m.path_info.is_empty() || path.ends_with(m.path_info.trim_start_matches('/')),
                "path info {:?} is not the tail of {path:?}",
                m.path_info
            );
        }
    }
}

use testkit::native::{ADMIN_TOKEN, NOW, Native, Snapshot, body_json, handler_for};

/// The seeded world every request runs against.
pub struct World {
    snapshot: Snapshot,
    /// Replacements for `$NAME` markers in fuzz inputs.
    pub vars: Vec<(&'static str, String)>,
}

/// Build (once) a workspace with an admin, staff, a customer, a ticket with
/// a reply, a share, and Postmark inbound set up, with the test kit's
/// seeding builder (`testkit::seed`).
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        use testkit::seed::{User, Workspace, link_in};
        let native = Native::new();
        let seeded = (|| -> Result<Vec<(&'static str, String)>, String> {
            let ws = Workspace::create(&native, ADMIN_TOKEN, "fz", "Fuzz")?;
            let user = |email: &str, role: &str| {
                let perms: &[&str] = if role == "staff" {
                    &["external_share"]
                } else {
                    &[]
                };
                ws.user(&User {
                    permissions: perms,
                    ..User::new(email, role)
                })
                .map(|(id, _)| id)
            };
            let customer = user("cus@fz.test", "customer")?;
            let staff = user("sam@fz.test", "staff")?;
            let admin_user = user("ada@fz.test", "admin")?;
            ws.ticket(&customer, "Parcel", "Where is **it**?")?;
            ws.reply(&staff, 1, &json!({"body": "On its way."}))?;
            ws.share(1, "dock@carrier.test", "Parcel")?;
            let basic = ws.postmark_inbound()?;
            let share = link_in(&ws.outbox("")?["emails"], "/s/")
                .map(|l| l.trim_start_matches("/s/").to_string())
                .unwrap_or_default();
            let reply_to = ws.reply_address(&staff, 1)?;
            let vars = vec![
                ("$KEY", ws.key.clone()),
                ("$CUSTOMER", customer),
                ("$STAFF", staff),
                ("$ADMIN", admin_user),
                ("$SHARE", share),
                ("$POSTMARK", basic.trim_start_matches("Basic ").to_string()),
                ("$REPLYTO", reply_to),
            ];
            Ok(vars)
        })();
        let vars = seeded.unwrap_or_else(|e| panic!("seeding: {e}"));
        World {
            snapshot: native.snapshot(),
            vars,
        }
    })
}

impl World {
    /// A fresh store holding the seeded world.
    pub fn store(&self) -> MemKv {
        self.snapshot.store()
    }

    /// The API in process over a fresh copy of the seeded world.
    pub fn native(&self) -> Native {
        self.snapshot.native()
    }
}

/// Parse a fuzz input as a request: `METHOD /path?query`, header lines,
/// a blank line, the body. `$KEY`, `$STAFF`... stand for the seeded
/// world's values.
pub fn parse_request(data: &[u8], vars: &[(&str, String)]) -> Option<Request> {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..split]);
    let mut body = data.get(split + 2..).unwrap_or_default().to_vec();
    let sub = |s: &str| {
        let mut s = s.to_string();
        for (k, v) in vars {
            s = s.replace(k, v);
        }
        s
    };
    if let Ok(b) = std::str::from_utf8(&body)
        && b.contains('$')
    {
        body = sub(b).into_bytes();
    }
    let mut lines = head.lines();
    let first = sub(lines.next()?);
    let (method, target) = first.split_once(' ')?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') || method.is_empty() {
        return None;
    }
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), sub(v.trim())))
        .collect();
    Some(Request {
        method: method.to_ascii_uppercase(),
        path: path.into(),
        query: query.into(),
        headers,
        body,
    })
}

/// Writes a failed request may still make: rate-limit and attempt counters,
/// and the once-a-minute record of a share link being opened.
fn allowed_on_failure(key: &str) -> bool {
    [
        "/login-throttle/",
        "/code-sent",
        "/share/",
        "/share-opened/",
        "/audit",
    ]
    .iter()
    .any(|p| key.contains(p))
}

/// One request through the component its route names, against the seeded
/// world: never a 5xx; on the API every error is JSON naming its code; a
/// refused API request (4xx but 429) leaves the store as it was.
pub fn requests(data: &[u8]) {
    let w = world();
    let Some(req) = parse_request(data, &w.vars) else {
        return;
    };
    let Some(handler) = handler_for(&req.path) else {
        return;
    };
    let native = w.native();
    let kv = native.kv();
    let before = kv.dump();
    let r = native.handle(handler, &req);
    assert!(
        (200..500).contains(&r.status),
        "{} {} answered {}: {}",
        req.method,
        req.path,
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let api = req.path.starts_with("/api/") || req.path.starts_with("/hooks/");
    if api && r.status >= 400 {
        let v = body_json(&r);
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{} {} answered {} without a JSON error: {}",
            req.method,
            req.path,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        if r.status != 429 {
            let after = kv.dump();
            let changed: Vec<&String> = after
                .iter()
                .filter(|kv| !before.contains(kv))
                .map(|(k, _)| k)
                .chain(
                    before
                        .iter()
                        .filter(|kv| !after.contains(kv))
                        .map(|(k, _)| k),
                )
                .filter(|k| !allowed_on_failure(k))
                .collect();
            assert!(
                changed.is_empty(),
                "{} {} answered {} but changed {changed:?}",
                req.method,
                req.path,
                r.status
            );
        }
    }
}

/// Tokens, ids and their encodings: parsing never panics, and what parses
/// prints in a form that parses back to the same value (`#11` is ticket 11).
pub fn tokens(data: &[u8]) {
    use domain::ids::*;
    let text = String::from_utf8_lossy(data);
    let _ = domain::token::well_formed(&text);
    if let Some(b) = domain::token::base64url_decode(&text) {
        assert_eq!(
            domain::token::base64url_decode(&domain::token::base64url(&b)),
            Some(b)
        );
    }
    if let Some(b) = domain::token::base64_std_decode(&text) {
        assert_eq!(
            domain::token::base64_std_decode(&domain::token::base64_std(&b)),
            Some(b)
        );
    }
    assert_eq!(
        domain::token::base64url_decode(&domain::token::base64url(data)).as_deref(),
        Some(data)
    );
    macro_rules! round {
        ($($t:ty),*) => {$(
            if let Ok(id) = <$t>::parse(&text) {
                assert_eq!(<$t>::parse(&id.to_string()).ok(), Some(id));
            }
        )*};
    }
    round!(WorkspaceId, UserId, ShareId, TicketNo);
    let req = Request {
        method: "GET".into(),
        path: "/api/v1/me".into(),
        headers: vec![
            ("cookie".into(), text.to_string()),
            ("authorization".into(), text.to_string()),
        ],
        ..Request::default()
    };
    let r = world().native().handle(api::handle_tickets, &req);
    assert!(r.status < 500, "a token or cookie gave {}", r.status);
}

/// Provider credentials: Postmark's basic header and Mailgun's signed
/// fields. Only the real credentials pass.
pub fn signatures(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (ts, tok, sig) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let w = world();
    let native = w.native();
    let kv = native.kv();
    let ws = domain::ids::WorkspaceId::parse("fz").unwrap();
    let cfg = domain::inbound::config(kv, &ws).unwrap();
    let real = &w.vars.iter().find(|(k, _)| *k == "$POSTMARK").unwrap().1;
    let header = format!("Basic {text}");
    assert_eq!(
        domain::inbound::verify_postmark(&cfg, Some(&header)).is_ok(),
        text.trim() == real,
        "postmark credentials {text:?}"
    );
    let key = domain::seal::SealKey::derive(ADMIN_TOKEN);
    assert!(
        domain::inbound::verify_mailgun(
            &domain::ctx::Ctx {
                kv,
                ws: &ws,
                now: NOW,
                actor: "fuzz",
                request_id: "fuzz",
                after: &domain::after::Effects::default(),
            },
            &cfg,
            &key,
            &domain::inbound::MailgunSignature {
                timestamp: ts,
                token: tok,
                signature: sig
            },
            "fuzz"
        )
        .is_err(),
        "mailgun is not configured in the world, so nothing verifies"
    );
    let form = format!("timestamp={ts}&token={tok}&signature={sig}");
    let req = Request {
        method: "POST".into(),
        path: "/hooks/mailgun/fz".into(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.into_bytes(),
        ..Request::default()
    };
    let r = native.handle(api::handle_webhooks, &req);
    assert!(
        (400..500).contains(&r.status),
        "mailgun hook gave {}",
        r.status
    );
}

/// Inbound email payloads: Postmark JSON, multipart forms and quoted
/// history never panic; the whole Postmark hook never answers 5xx.
pub fn inbound(data: &[u8]) {
    let _ = domain::inbound::parse_postmark(data);
    if let Ok(t) = std::str::from_utf8(data) {
        let stripped = domain::inbound::strip_quoted(t);
        assert!(stripped.len() <= t.len() + 1);
    }
    let (ct, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).to_string(),
            &data[i + 1..],
        ),
        None => (String::new(), data),
    };
    let _ = domain::attachments::parse_multipart(&ct, body);
    let w = world();
    let auth = format!(
        "Basic {}",
        w.vars.iter().find(|(k, _)| *k == "$POSTMARK").unwrap().1
    );
    let req = Request {
        method: "POST".into(),
        path: "/hooks/postmark/fz".into(),
        headers: vec![
            ("authorization".into(), auth),
            ("content-type".into(), "application/json".into()),
        ],
        body: data.to_vec(),
        ..Request::default()
    };
    let r = w.native().handle(api::handle_webhooks, &req);
    assert!(
        r.status < 500,
        "postmark hook gave {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// Tags the sanitiser may emit.
const SAFE_TAGS: &[&str] = &[
    "p",
    "em",
    "strong",
    "del",
    "a",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
];

/// The Markdown sanitiser: only safe tags, no event handlers, no script
/// URLs, links only to http, https and mailto.
pub fn markdown(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let html = domain::render::markdown(src);
    let mut rest = html.as_str();
    while let Some(i) = rest.find('<') {
        let tag = &rest[i + 1..];
        let end = tag
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag in {html:?}"));
        let inner = &tag[..end];
        let name = inner
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        assert!(
            SAFE_TAGS.contains(&name),
            "tag {name:?} in {html:?} from {src:?}"
        );
        let attrs = inner[name.len() + usize::from(inner.starts_with('/'))..].trim();
        let lower = attrs.to_ascii_lowercase();
        assert!(
            !lower.split_whitespace().any(|a| a.starts_with("on")),
            "event handler in {html:?}"
        );
        if let Some(h) = lower.find("href=\"") {
            let url = &lower[h + 6..];
            assert!(
                url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("mailto:"),
                "unsafe link {url:?} in {html:?}"
            );
        }
        assert!(!attrs.contains('<'), "markup inside a tag in {html:?}");
        rest = &tag[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input kept under `fuzz/regressions/<target>/` (and the seed
    /// corpus under `fuzz/seeds/<target>/`) passes its check.
    #[test]
    fn regressions_and_seeds_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut ran = 0;
        for (name, check) in TARGETS {
            for dir in ["regressions", "seeds"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for e in entries.flatten() {
                    let data = std::fs::read(e.path()).unwrap();
                    check(&data);
                    ran += 1;
                }
            }
        }
        assert!(
            ran > 0,
            "no seeds or regressions found under {}",
            root.display()
        );
    }

    #[test]
    fn the_world_answers_its_own_key() {
        let w = world();
        let req = parse_request(
            b"GET /api/v1/tickets/1\nauthorization: Bearer $KEY\nticketshare-act-as: $STAFF\n\n",
            &w.vars,
        )
        .unwrap();
        let r = w.native().handle(handler_for(&req.path).unwrap(), &req);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    #[test]
    fn a_5xx_or_a_non_json_error_fails_the_check() {
        // A request that is refused must carry a JSON error; this one does.
        requests(b"POST /api/v1/tickets\nauthorization: Bearer $KEY\ncontent-type: application/json\n\n{bad");
        let bad = std::panic::catch_unwind(|| markdown(b"<script>alert(1)</script>"));
        assert!(bad.is_ok(), "raw HTML is shown as text, so this passes");
        let r = std::panic::catch_unwind(|| {
            let html = "<script>";
            assert!(SAFE_TAGS.contains(&html.trim_matches(|c| c == '<' || c == '>')));
        });
        assert!(r.is_err(), "script is not a safe tag");
    }
}
