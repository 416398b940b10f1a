//! The one test kit of Ticketshare (dev only), used by the integration
//! tests (`tests/`), `cargo xtask` (demo seeding, bench, conformance) and,
//! for its seeding builder and the API in process (`native`), the fuzzing
//! crate and the `api` crate's tests:
//!
//! - [`host`]: build once, start `ticketshare-host` on a free port with a
//!   temporary state dir ([`host::HostConfig`], [`host::Host`]);
//! - [`target`]: where cargo put what it built (`CARGO_TARGET_DIR` and
//!   friends honoured), and manifests that run from there;
//! - [`redis`]: the one Redis launcher (a private `redis-server`);
//! - [`http`]: the one HTTP client, on `ureq`; [`raw`]: a raw-socket client
//!   for the few tests that need exact bytes on the wire;
//! - [`seed`]: the one seeded-world builder, over any transport; [`spec`]:
//!   the OpenAPI walk's paths and credentials;
//!   `native` (feature `native`): the API in process over a memory store,
//!   one such transport;
//! - [`world`]: the tests' world (a host with workspace `acme` seeded);
//!   [`fixtures`], [`scenarios`], [`receiver`]: what several test modules
//!   share; [`webdriver`]: a minimal WebDriver client for the browser tests.

#![warn(missing_docs)]

#[cfg(feature = "native")]
pub mod native;
pub mod seed;
pub mod spec;

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
pub mod target;
#[cfg(feature = "host")]
pub mod webdriver;
#[cfg(feature = "host")]
pub mod world;

#[cfg(feature = "host")]
pub use host::{ADMIN_TOKEN, Host, HostConfig, eventually, root};
#[cfg(feature = "host")]
pub use http::{Resp, request, request_exact, try_request};
#[cfg(feature = "host")]
pub use http::{client_tries, request_as_a_retrying_client, try_request_exact};
#[cfg(feature = "host")]
pub use redis::Redis;
#[cfg(feature = "host")]
pub use scratch::TempDir;
#[cfg(feature = "host")]
pub use target::{host_binary, target_dir, wasm};
#[cfg(feature = "host")]
pub use world::{World, actions, call, json_of};
