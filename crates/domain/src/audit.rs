//! The audit ledger: append-only entries per workspace, with a per-ticket
//! index, each on its own key numbered by an atomic counter. Never rewritten.
//! Admins export it as JSON or CSV.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::record::{read, read_counter, write};
use crate::store::Kv;
use crate::time::{Millis, rfc3339};

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the workspace ledger.
    pub n: u64,
    /// When.
    pub at: Millis,
    /// Who (user id, `platform:<key id>`, `deployment`, or a link holder).
    pub actor: String,
    /// What happened, e.g. `ticket.created`, `message.posted`.
    pub action: String,
    /// What it happened to (ids, never secrets).
    pub target: String,
    /// The ticket, if any.
    pub ticket: Option<TicketNo>,
    /// The request that did it.
    pub request_id: String,
}

/// Append an entry to the workspace ledger (and the ticket's index).
#[allow(clippy::too_many_arguments)]
pub fn record(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    at: Millis,
    actor: &str,
    event: crate::events::Event,
    target: &str,
    ticket: Option<TicketNo>,
    request_id: &str,
) -> Result<()> {
    let n = kv.increment(&keys::audit_counter(ws), 1)? as u64;
    let e = Entry {
        n,
        at,
        actor: actor.into(),
        action: event.name().into(),
        target: target.into(),
        ticket,
        request_id: request_id.into(),
    };
    write(kv, &keys::audit_entry(ws, n), &e)?;
    if let Some(t) = ticket {
        let i = kv.increment(&keys::ticket_audit_counter(ws, t), 1)? as u64;
        write(kv, &keys::ticket_audit_entry(ws, t, i), &n)?;
    }
    // Events with a webhook type are stored for delivery here, so the ledger
    // and the webhooks never disagree on what happened.
    crate::webhooks::emit(kv, ws, at, actor, event, target, ticket)?;
    Ok(())
}

/// A page of the ledger, oldest first from `cursor` (exclusive); returns the
/// entries and the cursor for the next page.
pub fn page(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    ticket: Option<TicketNo>,
    cursor: u64,
    limit: usize,
) -> Result<(Vec<Entry>, Option<u64>)> {
    let top = match ticket {
        None => read_counter(kv, &keys::audit_counter(ws))?,
        Some(t) => read_counter(kv, &keys::ticket_audit_counter(ws, t))?,
    };
    let mut out = Vec::new();
    let mut pos = cursor;
    while pos < top && out.len() < limit {
        pos += 1;
        let n = match ticket {
            None => Some(pos),
            Some(t) => read::<u64>(kv, &keys::ticket_audit_entry(ws, t, pos))?,
        };
        if let Some(n) = n {
            if let Some(e) = read::<Entry>(kv, &keys::audit_entry(ws, n))? {
                out.push(e);
            }
        }
    }
    Ok((out, (pos < top).then_some(pos)))
}

fn csv_field(s: &str) -> String {
    // Quote every field; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Entries as CSV with a header line.
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = String::from("n,at,actor,action,target,ticket,request_id\n");
    for e in entries {
        let row = [
            e.n.to_string(),
            rfc3339(e.at),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            e.ticket.map(|t| t.0.to_string()).unwrap_or_default(),
            e.request_id.clone(),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn ledger_pages_and_exports() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        for i in 0..5 {
            let t = (i % 2 == 0).then_some(TicketNo(7));
            record(
                &kv,
                &ws,
                i,
                "u_x",
                crate::events::Event::MessagePosted,
                &format!("m{i}"),
                t,
                "req",
            )
            .unwrap();
        }
        let (all, next) = page(&kv, &ws, None, 0, 3).unwrap();
        assert_eq!((all.len(), next), (3, Some(3)));
        let (rest, next) = page(&kv, &ws, None, 3, 3).unwrap();
        assert_eq!((rest.len(), next), (2, None));
        let (t7, _) = page(&kv, &ws, Some(TicketNo(7)), 0, 10).unwrap();
        assert_eq!(t7.iter().map(|e| e.n).collect::<Vec<_>>(), vec![1, 3, 5]);
        let csv = to_csv(&t7[..1]);
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.contains("\"message.posted\""));
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
    }
}
