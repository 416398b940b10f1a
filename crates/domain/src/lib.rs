//! Ticketshare's domain logic.
//!
//! Pure: every operation takes the store ([`store::Kv`]), the current time and
//! fresh random bytes as arguments (a request's operations take them as one
//! [`ctx::Ctx`]) and does no I/O of its own, so it runs the same inside a Spin
//! component and in native unit tests (with [`store::MemKv`]). It keeps no
//! state between calls: work for after a response is data
//! ([`after::After`]), collected in the [`after::Effects`] a request hands in.
//!
//! Invariants (see ARCHITECTURE.md): only [`keys`] formats store keys; every
//! key starts with the workspace; ids have their own types ([`ids`]); one error
//! enum ([`error::Error`]), whose HTTP status only the `api` crate chooses;
//! no HTTP types here.

pub mod after;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod ctx;
pub mod delegates;
pub mod error;
pub mod events;
pub mod form;
pub mod header;
pub mod ids;
pub mod inbound;
pub mod inbox;
pub mod keys;
pub mod lifecycle;
pub mod link_index;
pub mod links;
pub mod marks;
pub mod model;
pub mod outbox;
pub mod participants;
pub mod presence;
pub mod record;
pub mod render;
pub mod seal;
pub mod search;
pub mod shares;
pub mod store;
pub mod thread;
pub mod time;
pub mod token;
pub mod webhooks;
pub mod workspace;
