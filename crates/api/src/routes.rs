//! The one table of who serves what: each API component of `spin.toml`, the
//! handler it runs and the trigger routes Spin sends to it. The endpoints
//! themselves (method, path, summary) are [`crate::openapi::ROUTES`]; which
//! component serves an endpoint follows from these trigger routes, exactly as
//! Spin routes a request.
//!
//! Checked by this module's tests: `spin.toml` has exactly these triggers
//! for these components, each component's adapter serves its own entry
//! (`api::routes::TICKETS`...), every documented endpoint reaches a component
//! whose handler serves it, every other method on it answers 405 with the
//! documented methods in `Allow`, and ARCHITECTURE.md's line for each
//! component names all its routes.

use crate::Env;
use crate::http::{Request, Response};

/// A component's entry point: one request in, one response out.
pub type Handler = fn(&mut Env, &Request) -> Response;

/// One API component of `spin.toml`.
#[derive(Clone, Copy)]
pub struct Component {
    /// The component's id in `spin.toml` (`[component.<name>]`).
    pub name: &'static str,
    /// The handler its `#[http_component]` runs.
    pub handler: Handler,
    /// Its `[[trigger.http]]` routes, in Spin's syntax.
    pub routes: &'static [&'static str],
}

/// The `tickets` component.
pub const TICKETS: Component = Component {
    name: "tickets",
    handler: crate::tickets::handle_tickets,
    routes: &["/api/v1/..."],
};

/// The `replies` component.
pub const REPLIES: Component = Component {
    name: "replies",
    handler: crate::replies::handle_replies,
    routes: &[
        "/api/v1/tickets/:no/replies",
        "/api/v1/tickets/:no/messages/:seq/promote",
    ],
};

/// The `invites` component.
pub const INVITES: Component = Component {
    name: "invites",
    handler: crate::invites::handle_invites,
    routes: &[
        "/api/v1/tickets/:no/delegates/...",
        "/api/v1/tickets/:no/participants/...",
    ],
};

/// The `accept` component.
pub const ACCEPT: Component = Component {
    name: "accept",
    handler: crate::accept::handle_accept,
    routes: &["/i/:link", "/p/..."],
};

/// The `transfer` component.
pub const TRANSFER: Component = Component {
    name: "transfer",
    handler: crate::transfer::handle_transfer,
    routes: &[
        "/api/v1/tickets/:no/resolve",
        "/api/v1/tickets/:no/reopen",
        "/api/v1/tickets/:no/delete",
        "/api/v1/tickets/:no/accept",
        "/api/v1/tickets/:no/transfer",
        "/api/v1/tickets/:no/return",
        "/api/v1/tickets/:no/read",
        "/api/v1/tickets/:no/unread",
        "/api/v1/tickets/:no/purge",
    ],
};

/// The `shares` component.
pub const SHARES: Component = Component {
    name: "shares",
    handler: crate::shares::handle_shares,
    routes: &["/api/v1/tickets/:no/shares/...", "/s/..."],
};

/// The `webhooks` component.
pub const WEBHOOKS: Component = Component {
    name: "webhooks",
    handler: crate::webhooks::handle_webhooks,
    routes: &[
        "/api/v1/webhooks/...",
        "/api/v1/quarantine/...",
        "/hooks/...",
    ],
};

/// Every API component, its handler and its routes. Each adapter serves
/// its own entry (`platform::serve_api(req, out, api::routes::TICKETS)`), so
/// a component links only its own handler.
pub const COMPONENTS: &[Component] = &[
    TICKETS, REPLIES, INVITES, ACCEPT, TRANSFER, SHARES, WEBHOOKS,
];

/// The components of `spin.toml` that are not API components.
pub const OTHER_COMPONENTS: &[&str] = &["pages"];

/// The handler of the API component named `name`.
pub fn handler(name: &str) -> Option<Handler> {
    COMPONENTS
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.handler)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use domain::store::MemKv;
    use serde_json::Value;

    use super::*;
    use crate::openapi::{ROUTES, methods_for};

    fn manifest() -> spinfile::manifest::Manifest {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
        spinfile::manifest::Manifest::parse(&text, &root).expect("spin.toml parses")
    }

    /// `spin.toml`'s public trigger routes, with their components.
    fn triggers() -> Vec<(spinfile::router::RoutePattern, String)> {
        manifest()
            .http_triggers
            .iter()
            .filter_map(|t| match &t.route {
                spinfile::manifest::TriggerRoute::Public(p) => {
                    Some((p.clone(), t.component.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn spin_toml_routes_are_the_table() {
        let in_manifest: BTreeSet<(String, String)> = triggers()
            .into_iter()
            .filter(|(_, c)| !OTHER_COMPONENTS.contains(&c.as_str()))
            .map(|(p, c)| (p.raw().to_string(), c))
            .collect();
        let in_table: BTreeSet<(String, String)> = COMPONENTS
            .iter()
            .flat_map(|c| c.routes.iter().map(|r| (r.to_string(), c.name.to_string())))
            .collect();
        assert_eq!(in_manifest, in_table);
        let components: BTreeSet<String> = manifest().components.keys().cloned().collect();
        let named: BTreeSet<String> = COMPONENTS
            .iter()
            .map(|c| c.name)
            .chain(OTHER_COMPONENTS.iter().copied())
            .map(str::to_string)
            .collect();
        assert_eq!(
            components, named,
            "every component of spin.toml is named here"
        );
    }

    /// A concrete path for a documented one (`{name}` → a value of its kind).
    fn concrete(path: &str) -> String {
        path.split('/')
            .map(|s| match s {
                "{number}" | "{seq}" | "{held_no}" | "{delivery_no}" => "1",
                "{workspace_id}" => "acme",
                "{user_id}" => "u_0123456789abcdef",
                s if s.starts_with('{') => "x0123456789abcdef",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn call(handler: Handler, method: &str, path: &str) -> Response {
        let kv = MemKv::new();
        let mut random = || [7u8; 32];
        let mut env = Env {
            kv: &kv,
            now: 1_800_000_000_000,
            random: &mut random,
            admin_token: "admin-token-for-tests-0123",
            public_origin: "https://support.example",
            allow_private_webhooks: false,
            reply_domain: "reply.example",
            after: &Default::default(),
        };
        let req = Request {
            method: method.into(),
            path: path.into(),
            ..Default::default()
        };
        handler(&mut env, &req)
    }

    fn code(r: &Response) -> Option<String> {
        serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
    }

    /// Spin's routing over `spin.toml`, then the component's handler: every
    /// documented endpoint is served by the component it reaches, and
    /// every other method answers 405 with exactly the documented methods.
    #[test]
    fn every_endpoint_reaches_a_handler_that_serves_it() {
        let (patterns, names): (Vec<_>, Vec<_>) = triggers().into_iter().unzip();
        let router = spinfile::router::Router::new(patterns);
        for route in ROUTES {
            let path = concrete(route.path);
            let m = router.route(&path).expect("every endpoint is routed");
            let name = &names[m.index];
            let handler = handler(name)
                .unwrap_or_else(|| panic!("{} reaches {name}, not an API component", route.path));
            let r = call(handler, route.method, &path);
            assert!(
                r.status != 405 && code(&r).as_deref() != Some("no_route"),
                "{} {path} reaches {name}, which does not serve it: {} {}",
                route.method,
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            let allow = methods_for(&path).join(", ");
            for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                if methods_for(&path).contains(&other) {
                    continue;
                }
                let r = call(handler, other, &path);
                assert_eq!(r.status, 405, "{other} {path}");
                assert_eq!(code(&r).as_deref(), Some("method_not_allowed"));
                let header = r.headers.iter().find(|(k, _)| k == "allow");
                assert_eq!(
                    header.map(|(_, v)| v.as_str()),
                    Some(allow.as_str()),
                    "{other} {path}"
                );
            }
        }
    }

    /// Each API component's adapter serves its own entry of the table
    /// (`api::routes::<NAME>`), so the handler the table names is the one
    /// that runs.
    #[test]
    fn every_adapter_serves_its_own_entry() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for c in COMPONENTS {
            let path = root.join("components").join(c.name).join("src/lib.rs");
            let code = std::fs::read_to_string(&path).expect("the adapter's source");
            let call = format!(
                "platform::serve_api(req, out, api::routes::{})",
                c.name.to_uppercase()
            );
            assert!(code.contains(&call), "{} must call {call}", path.display());
            assert_eq!(
                code.matches("serve_api(").count(),
                1,
                "{} serves one component",
                path.display()
            );
        }
    }

    /// ARCHITECTURE.md's line for each component names all its routes.
    #[test]
    fn the_code_map_names_every_route() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
        for c in COMPONENTS {
            let start = format!("- `{}`", c.name);
            let line: String = map
                .split("\n- ")
                .map(|item| format!("- {item}"))
                .find(|item| item.starts_with(&start))
                .unwrap_or_else(|| panic!("ARCHITECTURE.md has no line starting {start}"));
            for r in c.routes {
                assert!(
                    line.contains(&format!("`{r}`")),
                    "ARCHITECTURE.md's line for {} does not name `{r}`",
                    c.name
                );
            }
        }
    }
}
