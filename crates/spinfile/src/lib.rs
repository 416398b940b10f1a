//! The Spin application description, parsed and validated: `spin.toml`
//! (manifest v2, HTTP triggers), the runtime-config file, route patterns and
//! the router, variable templates, and `allowed_outbound_hosts` patterns.
//!
//! Pure parsing and matching (reading a file by path is the only I/O), kept
//! apart from the host so the fuzz targets and tools use it without wasmtime.

pub mod manifest;
pub mod outbound;
pub mod router;
pub mod runtime_config;
pub mod variables;
