//! The workspace-wide list of every live link holder: delegates (invited or
//! accepted), participants and external shares (awaiting verification or
//! active), across tickets, for admins to review and
//! revoke. An append-only index (written when someone is first invited or
//! added, before the record that makes their link work) read against each
//! ticket's current records, so revoked and removed entries, and entries
//! whose invitation never landed, drop out without rewriting the index.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::record::{read, read_counter, write_fresh};
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

#[derive(Serialize, Deserialize)]
struct Entry {
    kind: Kind,
    ticket: TicketNo,
    /// User id (delegates) or participant id.
    id: String,
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

/// One live link holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Live {
    /// Delegate or participant.
    pub kind: Kind,
    /// The ticket.
    pub ticket: u64,
    /// User id (delegates) or participant id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// `invited`, `accepted` (delegates), `active` (participants), or the
    /// share's state.
    pub state: String,
    /// Whether they may reply.
    pub can_reply: bool,
}

/// A page of live link holders, newest first; the cursor is the last index
/// position seen. Scans at most `limit * 4 + 16` index entries per page.
pub fn page(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    cursor: Option<u64>,
    limit: usize,
    now: crate::time::Millis,
) -> Result<(Vec<Live>, Option<u64>)> {
    let top = read_counter(kv, &keys::link_index_counter(ws))?;
    let mut pos = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut scanned = 0;
    while pos >= 1 && out.len() < limit && scanned < limit * 4 + 16 {
        scanned += 1;
        if let Some(e) = read::<Entry>(kv, &keys::link_index(ws, pos))? {
            // An invitation retried after a failure may have indexed its
            // delegate twice.
            let first = seen.insert((e.kind, e.ticket, e.id.clone()));
            if first && crate::thread::ticket(kv, ws, e.ticket).is_ok() {
                match e.kind {
                    Kind::Delegate => {
                        if let Some(d) = crate::delegates::list(kv, ws, e.ticket)?
                            .into_iter()
                            .find(|d| d.user.as_str() == e.id)
                        {
                            if d.status != crate::delegates::DelegateStatus::Revoked {
                                out.push(Live {
                                    kind: e.kind,
                                    ticket: e.ticket.0,
                                    id: e.id.clone(),
                                    name: d.name,
                                    email: d.email,
                                    state: serde_json::to_value(d.status)
                                        .ok()
                                        .and_then(|v| v.as_str().map(str::to_string))
                                        .unwrap_or_default(),
                                    can_reply: d.can_reply,
                                });
                            }
                        }
                    }
                    Kind::Share => {
                        let share = crate::ids::ShareId::parse(&e.id)
                            .and_then(|id| crate::shares::get(kv, ws, &id));
                        if let Some(s) = share.ok().filter(|s| s.live(now)) {
                            out.push(Live {
                                kind: e.kind,
                                ticket: e.ticket.0,
                                id: e.id.clone(),
                                name: s.email.clone(),
                                email: s.email.clone(),
                                state: serde_json::to_value(s.state(now))
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default(),
                                can_reply: s.can_reply,
                            });
                        }
                    }
                    Kind::Participant => {
                        if let Some(p) = crate::participants::list(kv, ws, e.ticket)?
                            .into_iter()
                            .find(|p| p.id == e.id && !p.removed)
                        {
                            out.push(Live {
                                kind: e.kind,
                                ticket: e.ticket.0,
                                id: e.id.clone(),
                                name: p.name,
                                email: p.email,
                                state: "active".into(),
                                can_reply: p.can_reply,
                            });
                        }
                    }
                }
            }
        }
        pos -= 1;
    }
    Ok((out, (pos >= 1).then_some(pos + 1)))
}
