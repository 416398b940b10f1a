//! A Spin-compatible local host for Ticketshare.
//!
//! It runs a `spin.toml` (manifest v2, HTTP triggers) the way `spin up` does:
//! same routing and request headers, same key-value and variables interfaces,
//! same SQLite file format; Redis for stores shared between processes. See
//! `ARCHITECTURE.md` at the repository root for the request path and invariants.

pub mod app;
pub mod cli;
pub mod clock;
pub mod conns;
pub mod egress;
pub mod files;
pub mod flusher;
pub mod kv;
pub mod logs;
pub mod server;
pub mod stall;
pub mod state;
pub mod stdio;

pub use spinfile::{manifest, outbound, router, runtime_config, variables};
