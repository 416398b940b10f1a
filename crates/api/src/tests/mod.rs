//! Native tests of the handlers over an in-memory store: what a request
//! does when the store fails, races or loses its answers, and the rules
//! every handler shares.

mod after_commit;
mod claim;
mod commit;
mod creation_claim;
mod cross_site;
mod escaping;
mod transfer;

/// What the tests see: every handler module's items, as they were when the
/// API was one module.
mod prelude {
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
