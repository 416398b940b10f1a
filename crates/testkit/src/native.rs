//! The API in process over a memory store (feature `native`): each request
//! goes to the component `spin.toml` routes it to and is answered by that
//! component's pure handler (`api::handle_*`), after the platform's
//! cross-site check, with the work done after a response (search indexing)
//! done at once. No host, no wasm, no socket: the seeding builder
//! ([`crate::seed`]) runs over it ([`Native`] is a [`Transport`]), and so do
//! the API's native tests and the fuzzing crate's world.

use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;

use api::Env;
use api::http::{Request, Response};
use domain::store::{Kv, MemKv};
use domain::time::Millis;
use serde_json::Value;

use crate::seed::Transport;

/// The deployment admin token of a native world.
pub const ADMIN_TOKEN: &str = "fuzz-admin-token-0123456789";

/// The time a native world starts at (2026-09-21).
pub const NOW: Millis = 1_790_000_000_000;

/// The public origin links are built from.
pub const PUBLIC_ORIGIN: &str = "https://ts.test";

/// The domain of tickets' reply addresses.
pub const REPLY_DOMAIN: &str = "reply.ts.test";

pub use api::routes::Handler;

/// The `n`-th value of the deterministic random source: the same world
/// every time it is built.
pub fn random_value(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 8 * 8)) as u8 ^ i as u8;
    }
    b
}

/// The API over a memory store, with a fixed clock (moved only by
/// [`Native::set_now`]) and a deterministic random source.
pub struct Native {
    kv: MemKv,
    now: Cell<Millis>,
    /// Random values drawn so far.
    drawn: Cell<u64>,
}

impl Default for Native {
    fn default() -> Self {
        Self::new()
    }
}

impl Native {
    /// An empty store at [`NOW`].
    pub fn new() -> Self {
        Native {
            kv: MemKv::new(),
            now: Cell::new(NOW),
            drawn: Cell::new(0),
        }
    }

    /// The store.
    pub fn kv(&self) -> &MemKv {
        &self.kv
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        self.now.get()
    }

    /// Move the clock.
    pub fn set_now(&self, now: Millis) {
        self.now.set(now);
    }

    /// One request answered by `handler` itself (no cross-site check), then
    /// the work queued for after its response.
    pub fn handle(&self, handler: Handler, req: &Request) -> Response {
        self.with_env(|env| handler(env, req))
    }

    /// One request as the platform serves it: the cross-site check
    /// (`api::refuse_cross_site`), then the component `spin.toml` routes
    /// the path to; `Err` when no API component serves the path.
    pub fn try_send(&self, req: &Request) -> Result<Response, String> {
        let handler = handler_for(&req.path)
            .ok_or_else(|| format!("no API component serves {}", req.path))?;
        Ok(match api::refuse_cross_site(req, PUBLIC_ORIGIN) {
            Some(refused) => refused,
            None => self.handle(handler, req),
        })
    }

    /// [`Native::try_send`] for a path an API component serves.
    pub fn send(&self, req: &Request) -> Response {
        self.try_send(req).unwrap_or_else(|e| panic!("{e}"))
    }

    fn with_env(&self, f: impl FnOnce(&mut Env) -> Response) -> Response {
        let drawn = &self.drawn;
        let mut random = || {
            drawn.set(drawn.get() + 1);
            random_value(drawn.get())
        };
        let mut env = Env {
            kv: &self.kv,
            now: self.now.get(),
            random: &mut random,
            admin_token: ADMIN_TOKEN,
            public_origin: PUBLIC_ORIGIN,
            allow_private_webhooks: false,
            reply_domain: REPLY_DOMAIN,
            after: &domain::after::Effects::default(),
        };
        let r = f(&mut env);
        // After the response, as the platform does: index what was posted
        // (`r.after`); webhook deliveries are not sent (nothing listens
        // here) and mail stays in the outbox.
        domain::search::run(&self.kv, &r.after.index).expect("indexing after a request");
        r
    }

    /// What the store holds now, with the clock and the random source, to
    /// start any number of worlds from.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            rows: self.kv.dump(),
            now: self.now.get(),
            drawn: self.drawn.get(),
        }
    }
}

/// A native world as it was at [`Native::snapshot`].
#[derive(Clone)]
pub struct Snapshot {
    rows: Vec<(String, Vec<u8>)>,
    now: Millis,
    drawn: u64,
}

impl Snapshot {
    /// A fresh store holding the snapshot's keys.
    pub fn store(&self) -> MemKv {
        let kv = MemKv::new();
        for (k, v) in &self.rows {
            kv.set(k, v).expect("a key the store held before");
        }
        kv
    }

    /// A world that goes on from the snapshot (its own store; the random
    /// source continues where it was, so nothing drawn later repeats a
    /// value the snapshot's world used).
    pub fn native(&self) -> Native {
        Native {
            kv: self.store(),
            now: Cell::new(self.now),
            drawn: Cell::new(self.drawn),
        }
    }
}

impl Transport for Native {
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let r = self.try_send(&json_request(method, path, headers, body))?;
        Ok((r.status, body_json(&r)))
    }
}

/// A request: `target` is the path with an optional `?query`; header names
/// are lower-cased, as the platform gives them.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request {
        method: method.to_ascii_uppercase(),
        path: path.into(),
        query: query.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

/// [`request`] with a JSON body (and its content type), when given.
pub fn json_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Request {
    let mut h = headers.to_vec();
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    let text = body.map(Value::to_string).unwrap_or_default();
    request(method, target, &h, text.as_bytes())
}

/// The body of `r` as JSON (`Null` when it is not JSON).
pub fn body_json(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// The API component serving `path`, from `spin.toml`'s own routes;
/// `None` for the static pages (and anything else no API component serves).
pub fn handler_for(path: &str) -> Option<Handler> {
    static ROUTES: OnceLock<(spinfile::router::Router, Vec<String>)> = OnceLock::new();
    let (router, components) = ROUTES.get_or_init(|| {
        let m = spinfile::manifest::Manifest::parse(
            include_str!("../../../spin.toml"),
            Path::new("/app"),
        )
        .expect("spin.toml parses");
        let mut pats = Vec::new();
        let mut comps = Vec::new();
        for t in &m.http_triggers {
            if let spinfile::manifest::TriggerRoute::Public(p) = &t.route {
                pats.push(p.clone());
                comps.push(t.component.clone());
            }
        }
        (spinfile::router::Router::new(pats), comps)
    });
    let m = router.route(path)?;
    api::routes::handler(&components[m.index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_toml_routes_each_path_to_its_component() {
        let is =
            |path: &str, h: Handler| handler_for(path).is_some_and(|f| std::ptr::fn_addr_eq(f, h));
        assert!(is("/api/v1/tickets", api::handle_tickets));
        assert!(is("/api/v1/tickets/3/replies", api::handle_replies));
        assert!(is("/api/v1/tickets/3/delegates", api::handle_invites));
        assert!(is("/api/v1/tickets/3/accept", api::handle_transfer));
        assert!(is("/s/abc", api::handle_shares));
        assert!(is("/hooks/postmark/acme", api::handle_webhooks));
        assert!(is("/i/abc", api::handle_accept));
        assert!(handler_for("/index.html").is_none());
    }

    #[test]
    fn a_snapshot_goes_on_without_repeating_random_values() {
        let n = Native::new();
        let r = n.send(&json_request(
            "POST",
            "/api/v1/workspaces",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            Some(&serde_json::json!({"id": "acme", "name": "Acme"})),
        ));
        assert_eq!(r.status, 201);
        let snap = n.snapshot();
        let (a, b) = (snap.native(), snap.native());
        assert_eq!(a.kv().dump(), n.kv().dump());
        assert_eq!(a.drawn.get(), n.drawn.get());
        a.kv().set("x", b"1").unwrap();
        assert_ne!(a.kv().dump(), b.kv().dump(), "each world has its own store");
    }
}
