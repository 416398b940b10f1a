//! Native tests of the handlers over an in-memory store: what a request
//! does when the store fails, races or loses its answers, and the rules
//! every handler shares.

mod after_commit;
mod claim;
mod commit;
mod creation_claim;
mod cross_site;
mod escaping;
mod files;
mod flush;
mod live;
mod transfer;

use domain::after::Effects;
use domain::store::Kv;
use domain::time::Millis;

use crate::Env;
use crate::http::Request;

/// The deployment token (`admin_token`) of the native tests.
pub(crate) const ADMIN: &str = "admin-token-for-tests-0123";

/// The `Env` every native test runs in: `kv` at `now`, drawing from
/// `random`, collecting into `after`, with the tests' variables.
pub(crate) fn env<'a>(
    kv: &'a dyn Kv,
    now: Millis,
    random: &'a mut dyn FnMut() -> [u8; 32],
    after: &'a Effects,
) -> Env<'a> {
    Env {
        kv,
        now,
        random,
        admin_token: ADMIN,
        public_origin: "https://ts.test",
        allow_private_webhooks: false,
        reply_domain: "",
        after,
    }
}

/// A request with these headers and body.
pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The same with `content-type: application/json`.
pub(crate) fn json_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request {
    let mut r = request(method, path, headers, body);
    r.headers
        .push(("content-type".into(), "application/json".into()));
    r
}

/// Ticket 1's reply reference (made now if it has none).
pub(crate) fn reply_reference(kv: &dyn Kv, ws: &domain::ids::WorkspaceId) -> String {
    let ctx = domain::ctx::Ctx {
        kv,
        ws,
        now: 0,
        actor: "test",
        request_id: "test",
        after: &Effects::default(),
    };
    domain::inbound::reply_reference(&ctx, domain::ids::TicketNo(1), [9; 32]).unwrap()
}

/// What the tests see: every handler module's items, as they were when the
/// API was one module.
mod prelude {
    pub(crate) use super::{ADMIN, env, json_request, request};
    pub(crate) use crate::Env;
    pub(crate) use crate::actor::*;
    pub(crate) use crate::http::*;
    pub(crate) use crate::invites::*;
    pub(crate) use crate::replies::*;
    pub(crate) use crate::serve::*;
    pub(crate) use crate::tickets::*;
    pub(crate) use crate::{handle_shares, handle_transfer, handle_webhooks};
    pub(crate) use domain::auth;
    pub(crate) use domain::error::Result;
    pub(crate) use domain::ids::{TicketNo, WorkspaceId};
    pub(crate) use domain::keys;
    pub(crate) use domain::model::{Message, Reader};
    pub(crate) use domain::record::update;
    pub(crate) use domain::store::Kv;
    pub(crate) use domain::thread::{self, Order};
    pub(crate) use domain::time::Millis;
    pub(crate) use domain::workspace::{self, Settings};
    pub(crate) use serde_json::{Value, json};
}
