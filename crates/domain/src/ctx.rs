//! The request a rule runs in: the store, the workspace, the time, who acts
//! and under which request id, and where work for after the response goes.
//! One value instead of the same five arguments on every operation.

use crate::after::Effects;
use crate::ids::WorkspaceId;
use crate::store::Kv;
use crate::time::Millis;

/// What an operation needs from the request it serves.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The store.
    pub kv: &'a dyn Kv,
    /// The workspace every key of the operation is under.
    pub ws: &'a WorkspaceId,
    /// The request's time.
    pub now: Millis,
    /// Who acts, as the audit ledger names them (user id,
    /// `platform:<key id>`, a link holder).
    pub actor: &'a str,
    /// The request's id (in the ledger beside each entry).
    pub request_id: &'a str,
    /// Where the operation leaves work for after the response.
    pub after: &'a Effects,
}

impl<'a> Ctx<'a> {
    /// The same request acting through another store (e.g. one whose
    /// writes carry an attempt's ids).
    pub fn with_kv(self, kv: &'a dyn Kv) -> Self {
        Self { kv, ..self }
    }

    /// The same request under another actor name.
    pub fn with_actor(self, actor: &'a str) -> Self {
        Self { actor, ..self }
    }
}

/// A [`Ctx`] for tests: `test_ctx!(kv, ws, now)`, acting as `test` under request
/// id `test`, its after-response work dropped.
#[cfg(test)]
macro_rules! test_ctx {
    ($kv:expr, $ws:expr, $now:expr) => {
        $crate::ctx::Ctx {
            kv: $kv,
            ws: $ws,
            now: $now,
            actor: "test",
            request_id: "test",
            after: &$crate::after::Effects::default(),
        }
    };
}
#[cfg(test)]
pub(crate) use test_ctx;
