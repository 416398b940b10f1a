//! Integration tests: every module starts real `ticketshare-host` processes on
//! free ports and talks HTTP to them. Everything modules share (hosts, Redis,
//! the HTTP client, the seeded world, fixtures) comes from the `testkit`
//! crate; no module exports to another.

mod api;
mod browser;
mod deploy;
mod faults;
mod hardening_api;
mod hardening_host;
mod hardening_links;
mod hardening_posts;
mod hardening_sessions;
mod inbound;
mod inbox;
mod invites;
mod kv;
mod lifecycle;
mod live;
mod live_pages;
mod logs;
mod pages;
mod participants;
mod readme;
mod redis_restart;
mod reply_files;
mod routing;
mod runtime;
mod shares;
mod sweep;
mod webhooks;
mod xtask_up;
