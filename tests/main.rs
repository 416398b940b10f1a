//! Integration tests: every module starts real `ticketshare-host` processes on
//! free ports and talks HTTP to them. Shared helpers live in `support`.

mod support;

pub mod api;
mod browser;
mod faults;
mod hardening_api;
mod hardening_host;
mod hardening_links;
mod hardening_posts;
mod hardening_sessions;
pub mod inbound;
pub mod inbox;
pub mod invites;
mod kv;
mod lifecycle;
mod pages;
mod participants;
mod routing;
mod runtime;
pub mod shares;
mod sweep;
pub mod webhooks;
