//! Integration tests: every module starts real `ticketshare-host` processes on
//! free ports and talks HTTP to them. Shared helpers live in `support`.

mod support;

mod api;
mod kv;
mod pages;
mod routing;
mod runtime;
