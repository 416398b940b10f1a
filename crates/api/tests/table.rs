//! Table-driven native tests of the API: each case is a request, the status
//! it must get and a property of its answer, run against a fresh copy of a
//! seeded world over a memory store (`support::world`), through the
//! component `spin.toml` routes it to, after the platform's cross-site
//! check — no host. What only a host can show (the wire, the runtime, real
//! stores, concurrency) stays in the HTTP suite (`tests/`).

mod support;

mod table {
    pub mod auth;
    pub mod bodies;
    pub mod links;
    pub mod methods;
    pub mod sweep;
    pub mod tickets;
    pub mod transfer;
    pub mod visibility;
    pub mod webhooks;
}
