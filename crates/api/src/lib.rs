//! Ticketshare's HTTP layer: pure functions from a [`http::Request`] to a
//! [`http::Response`] over the rules in `domain`. One module per component
//! (the component of the same name serves its `handle_*`), plus:
//!
//! - [`actor`]: who is calling (API key, act-as, session) and what they may see;
//! - [`serve`]: the wrapper every handler runs in (request id, method check,
//!   `Idempotency-Key`, the store an attempt writes through, the
//!   after-response work moved into [`http::Response::after`]);
//! - [`views`]: the JSON shapes of the API; [`pages`]: the server-rendered
//!   link pages; [`mail`]: emails sent from handlers; [`files`]: the forms
//!   posts with files arrive in, their storing and downloads;
//! - [`routes`]: the one table of components, their handlers and routes;
//!   [`openapi`]: the endpoints and the OpenAPI document built from them;
//! - [`http`]: the plain request and response values, and the one place an
//!   error becomes a status.
//!
//! Every request is authenticated first ([`actor::authenticate`]) and checked
//! against its workspace, the ticket and the actor's role; whatever the
//! caller may not see answers 404, exactly like something that does not exist.

pub mod accept;
pub mod actor;
pub mod files;
pub mod http;
pub mod inbound;
pub mod invites;
pub mod mail;
pub mod openapi;
pub mod pages;
pub mod replies;
pub mod routes;
pub mod serve;
pub mod shares;
pub mod tickets;
pub mod transfer;
pub mod views;
pub mod webhooks;

#[cfg(test)]
mod tests;

pub use accept::handle_accept;
pub use actor::refuse_cross_site;
pub use invites::handle_invites;
pub use replies::handle_replies;
pub use shares::handle_shares;
pub use tickets::handle_tickets;
pub use transfer::handle_transfer;
pub use webhooks::handle_webhooks;

use domain::after::Effects;
use domain::ctx::Ctx;
use domain::error::Result;
use domain::ids::WorkspaceId;
use domain::store::Kv;
use domain::time::Millis;

/// Everything an API call needs from the outside, passed in.
pub struct Env<'a> {
    /// The store.
    pub kv: &'a dyn Kv,
    /// Current time.
    pub now: Millis,
    /// Fresh 32-byte values from the OS random source.
    pub random: &'a mut dyn FnMut() -> [u8; 32],
    /// The deployment admin token (creates workspaces); empty disables it.
    pub admin_token: &'a str,
    /// Public origin links are built from (never the Host header).
    pub public_origin: &'a str,
    /// Webhook endpoints may be private, loopback or link-local addresses
    /// (local development and tests only).
    pub allow_private_webhooks: bool,
    /// The domain of tickets' reply addresses (`reply+<ref>@<domain>`),
    /// which the inbound mail provider forwards to `/hooks/...`.
    pub reply_domain: &'a str,
    /// Where the request's rules leave work for after the response
    /// (indexing, webhook deliveries); the handler moves it into
    /// [`http::Response::after`].
    pub after: &'a Effects,
}

impl<'a> Env<'a> {
    /// The context the rules run in for this request: its store, time and
    /// after-response work, with `ws`, the acting `actor` (as the ledger
    /// names them) and the request id.
    pub(crate) fn ctx<'c>(
        &self,
        ws: &'c WorkspaceId,
        actor: &'c str,
        request_id: &'c str,
    ) -> Ctx<'c>
    where
        'a: 'c,
    {
        Ctx {
            kv: self.kv,
            ws,
            now: self.now,
            actor,
            request_id,
            after: self.after,
        }
    }

    /// The same request acting through another store (one whose writes
    /// carry an attempt's ids, one that has read ahead).
    pub(crate) fn through<'b>(&'b mut self, kv: &'b dyn Kv) -> Env<'b> {
        Env {
            kv,
            now: self.now,
            random: &mut *self.random,
            admin_token: self.admin_token,
            public_origin: self.public_origin,
            allow_private_webhooks: self.allow_private_webhooks,
            reply_domain: self.reply_domain,
            after: self.after,
        }
    }

    pub(crate) fn request_id(&mut self) -> String {
        let r = (self.random)();
        domain::token::hex(&r[..8])
    }

    /// The key stored emails are sealed with (from the deployment secret).
    pub(crate) fn seal_key(&self) -> domain::seal::SealKey {
        domain::seal::SealKey::derive(self.admin_token)
    }

    /// Store an email for one recipient (body sealed); returns its number.
    pub(crate) fn enqueue_mail(
        &mut self,
        ws: &WorkspaceId,
        to: &str,
        draft: domain::outbox::Draft,
    ) -> Result<u64> {
        let r = (self.random)();
        // Storing an email names no actor nor request id.
        let ctx = self.ctx(ws, "", "");
        Ok(domain::outbox::enqueue(&ctx, to, draft, &self.seal_key(), r)?.n)
    }

    pub(crate) fn random16(&mut self) -> [u8; 16] {
        let r = (self.random)();
        let mut out = [0; 16];
        out.copy_from_slice(&r[..16]);
        out
    }
}
