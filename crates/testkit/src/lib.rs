//! The one test kit of Ticketshare (dev only), used by the integration
//! tests (`tests/`), `cargo xtask` (demo seeding, bench, conformance) and,
//! for its seeding builder alone, the fuzzing crate:
//!
//! - [`host`]: build once, start `ticketshare-host` on a free port with a
//!   temporary state dir ([`host::HostConfig`], [`host::Host`]);
//! - [`redis`]: the one Redis launcher (a private `redis-server`);
//! - [`http`]: the one HTTP client, on `ureq`; [`raw`]: a raw-socket client
//!   for the few tests that need exact bytes on the wire;
//! - [`seed`]: the one seeded-world builder, over any transport;
//! - [`world`]: the tests' world (a host with workspace `acme` seeded);
//!   [`fixtures`], [`scenarios`], [`receiver`]: what several test modules
//!   share; [`webdriver`]: a minimal WebDriver client for the browser tests.

#![warn(missing_docs)]

pub mod seed;

#[cfg(feature = "host")]
pub mod fixtures;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "host")]
pub mod http;
#[cfg(feature = "host")]
pub mod raw;
#[cfg(feature = "host")]
pub mod receiver;
#[cfg(feature = "host")]
pub mod redis;
#[cfg(feature = "host")]
pub mod scenarios;
#[cfg(feature = "host")]
pub mod scratch;
#[cfg(feature = "host")]
pub mod webdriver;
#[cfg(feature = "host")]
pub mod world;

#[cfg(feature = "host")]
pub use host::{ADMIN_TOKEN, Host, HostConfig, root};
#[cfg(feature = "host")]
pub use http::{Resp, request, request_exact, try_request};
#[cfg(feature = "host")]
pub use http::{client_tries, request_as_a_retrying_client, try_request_exact};
#[cfg(feature = "host")]
pub use redis::Redis;
#[cfg(feature = "host")]
pub use scratch::TempDir;
#[cfg(feature = "host")]
pub use world::{World, actions, call, json_of};
