//! The append-only index of link holders across the workspace: delegates,
//! participants and external shares each add an entry when someone is
//! first given a link (before the record that makes the link work); the
//! live list ([`crate::links`]) reads it against the current records.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::record::write_fresh;
use crate::store::Kv;

/// Which kind of link holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A delegate (customer invited to a ticket).
    Delegate,
    /// A participant (any email).
    Participant,
    /// An external collaborator's share link.
    Share,
}

/// One entry of the index: someone was given a link to a ticket.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    /// Which kind of holder.
    pub kind: Kind,
    /// The ticket.
    pub ticket: TicketNo,
    /// User id (delegates), participant id or share id.
    pub id: String,
}

/// Record a new link holder in the workspace index.
pub fn index(kv: &dyn Kv, ws: &WorkspaceId, kind: Kind, ticket: TicketNo, id: &str) -> Result<()> {
    let i = kv.increment(&keys::link_index_counter(ws), 1)? as u64;
    // A lost answer is settled by one read: an error fails the add, share
    // or invitation, and the client's retry would make a second one.
    write_fresh(
        kv,
        &keys::link_index(ws, i),
        &Entry {
            kind,
            ticket,
            id: id.to_string(),
        },
    )
}
