//! A ticket's state beyond posting: resolve, reopen and (soft) delete, and
//! the revocation of every outside link of a ticket that deleting (always)
//! and resolving (when the workspace says so) bring with them.
//!
//! State changes are compare-and-swap updates of the ticket's versioned
//! record. Deleting revokes the links before it marks the ticket deleted, and
//! resolving repeats the revocation when repeated, so a retry after a crash
//! in between finishes the job.

use crate::ctx::Ctx;
use crate::delegates::{self, Delegate};
use crate::error::{Error, Result};
use crate::ids::{TicketNo, WorkspaceId};
use crate::model::{Status, Ticket};
use crate::participants::{self, Participant};
use crate::store::Kv;
use crate::time::Millis;

/// The links a revocation ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Delegates revoked (invited or accepted before).
    pub delegates: Vec<Delegate>,
    /// Participants removed.
    pub participants: Vec<Participant>,
    /// External shares cancelled.
    pub shares: Vec<crate::shares::Share>,
}

impl Revoked {
    /// How many link holders lost access.
    pub fn count(&self) -> usize {
        self.delegates.len() + self.participants.len() + self.shares.len()
    }
}

/// Revoke every delegate, remove every participant and cancel every external
/// share of a ticket: from the next request none of their links, sessions on
/// it or posts work.
pub fn revoke_links(ctx: &Ctx, no: TicketNo) -> Result<Revoked> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    Ok(Revoked {
        delegates: delegates::revoke_all(kv, ws, no, now)?,
        participants: participants::remove_all(kv, ws, no)?,
        shares: crate::shares::cancel_all(kv, ws, no, now)?,
    })
}

fn change(ctx: &Ctx, no: TicketNo, f: impl FnMut(&mut Ticket) -> Result<()>) -> Result<Ticket> {
    let mut f = f;
    crate::inbox::change(ctx, no, |t: &mut Ticket| {
        if t.deleted {
            return Err(Error::NotFound);
        }
        f(t)
    })
}

/// Resolve a ticket. With `revoke` (the workspace's *revoke on resolve*
/// setting) every outside link of it is revoked too. Resolving a resolved
/// ticket changes nothing but repeats the revocation.
pub fn resolve(ctx: &Ctx, no: TicketNo, revoke: bool) -> Result<(Ticket, Revoked)> {
    let now = ctx.now;
    let t = change(ctx, no, |t| {
        if t.status != Status::Resolved {
            t.status = Status::Resolved;
            t.updated_at = now;
        }
        Ok(())
    })?;
    let revoked = if revoke {
        revoke_links(ctx, no)?
    } else {
        Revoked::default()
    };
    Ok((t, revoked))
}

/// Reopen a resolved ticket (status *open*). Links revoked on resolve stay
/// revoked: staff invite again if they want them back.
pub fn reopen(ctx: &Ctx, no: TicketNo) -> Result<Ticket> {
    let now = ctx.now;
    change(ctx, no, |t| {
        if t.status != Status::Resolved {
            return Err(Error::Conflict(format!("ticket {} is not resolved", t.no)));
        }
        t.status = Status::Open;
        t.updated_at = now;
        Ok(())
    })
}

/// Delete a ticket (soft: hidden everywhere, kept for the audit ledger) and
/// revoke every outside link of it. Deleting a deleted ticket is `NotFound`.
pub fn delete(ctx: &Ctx, no: TicketNo) -> Result<(Ticket, Revoked)> {
    let now = ctx.now;
    // Links first: a retry after a failure half-way finds the ticket still
    // there and revokes the rest; a link added in between dies with the
    // deleted flag (every link checks its ticket).
    crate::thread::ticket(ctx.kv, ctx.ws, no)?;
    let revoked = revoke_links(ctx, no)?;
    let t = change(ctx, no, |t| {
        t.deleted = true;
        t.updated_at = now;
        Ok(())
    })?;
    Ok((t, revoked))
}

/// Purge a deleted ticket (admins): its messages and their files are
/// removed from the store; the ticket stays as a tombstone (number, dates,
/// "purged") so the audit ledger still names it. Repeating it is harmless.
/// Returns how many messages were removed. No list, thread or ticket answer
/// shows a deleted ticket, so no change marker is touched.
pub fn purge(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, now: Millis) -> Result<u64> {
    let t: Ticket =
        crate::record::read(kv, &crate::keys::ticket(ws, no))?.ok_or(Error::NotFound)?;
    if !t.deleted {
        return Err(Error::Conflict(format!(
            "ticket {no} is not deleted; delete it first"
        )));
    }
    let top =
        crate::record::read_counter(kv, &crate::keys::message_counter(ws, no))?.max(t.last_seq);
    let mut removed = 0;
    for seq in 1..=top {
        let key = crate::keys::message(ws, no, crate::ids::MessageSeq(seq));
        if let Some(m) = crate::record::read::<crate::model::Message>(kv, &key)? {
            for a in &m.attachments {
                for i in 0..a.chunks {
                    kv.delete(&crate::keys::attachment_chunk(ws, no, &a.id, i))?;
                }
            }
            kv.delete(&key)?;
            removed += 1;
        }
    }
    crate::record::update(kv, &crate::keys::ticket(ws, no), |t: &mut Ticket| {
        t.subject = "(purged)".into();
        t.order = None;
        t.purged = true;
        t.updated_at = now;
        Ok(())
    })?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegates::DelegateStatus;
    use crate::store::MemKv;
    use crate::thread::{self, fixture};

    fn setup() -> (MemKv, WorkspaceId, TicketNo, String, String) {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = fixture::ticket(&kv, &ws, "cus@x.test", "Help");
        fixture::customer(&kv, &ws, "del@x.test", 2);
        let (_, invite) = delegates::invite(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            t.no,
            "Ada",
            "del@x.test",
            true,
            [7; 32],
        )
        .unwrap();
        let p = participants::add(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            t.no,
            "Ada",
            participants::NewParticipant {
                email: "g@guest.test",
                name: None,
                can_reply: true,
            },
            [8; 16],
        )
        .unwrap();
        let plink = participants::issue_link(&kv, &ws, t.no, &p, 0, [9; 32]).unwrap();
        (kv, ws, t.no, invite, plink)
    }

    #[test]
    fn delete_hides_the_ticket_and_kills_every_link() {
        let (kv, ws, no, invite, plink) = setup();
        let (t, revoked) = delete(&crate::ctx::test_ctx!(&kv, &ws, 5), no).unwrap();
        assert!(t.deleted);
        assert_eq!(revoked.count(), 2);
        assert_eq!(thread::ticket(&kv, &ws, no).unwrap_err(), Error::NotFound);
        assert_eq!(
            delegates::peek(&kv, &invite, 6).unwrap_err(),
            Error::NotFound
        );
        assert_eq!(
            participants::resolve(&kv, &plink).unwrap_err(),
            Error::NotFound
        );
        assert!(
            delegates::list(&kv, &ws, no)
                .unwrap()
                .iter()
                .all(|d| d.status == DelegateStatus::Revoked)
        );
        assert_eq!(
            delete(&crate::ctx::test_ctx!(&kv, &ws, 7), no).unwrap_err(),
            Error::NotFound
        );
    }

    #[test]
    fn purge_removes_a_deleted_tickets_messages_and_keeps_a_tombstone() {
        let (kv, ws, no, _, _) = setup();
        assert!(matches!(purge(&kv, &ws, no, 1), Err(Error::Conflict(_))));
        delete(&crate::ctx::test_ctx!(&kv, &ws, 2), no).unwrap();
        assert_eq!(purge(&kv, &ws, no, 3).unwrap(), 1);
        assert_eq!(purge(&kv, &ws, no, 4).unwrap(), 0, "again: nothing left");
        let t: Ticket = crate::record::read(&kv, &crate::keys::ticket(&ws, no))
            .unwrap()
            .unwrap();
        assert!(t.purged && t.deleted && t.subject == "(purged)");
        assert!(
            kv.dump().iter().all(|(k, _)| !k.contains("/m/")),
            "no message left"
        );
    }

    #[test]
    fn resolve_revokes_only_when_asked_and_reopen_needs_resolved() {
        let (kv, ws, no, invite, plink) = setup();
        assert!(matches!(
            reopen(&crate::ctx::test_ctx!(&kv, &ws, 1), no),
            Err(Error::Conflict(_))
        ));
        let (t, revoked) = resolve(&crate::ctx::test_ctx!(&kv, &ws, 2), no, false).unwrap();
        assert_eq!(t.status, Status::Resolved);
        assert_eq!(revoked.count(), 0);
        assert!(delegates::peek(&kv, &invite, 3).is_ok());
        assert!(participants::resolve(&kv, &plink).is_ok());
        let t = reopen(&crate::ctx::test_ctx!(&kv, &ws, 4), no).unwrap();
        assert_eq!(t.status, Status::Open);
        let (_, revoked) = resolve(&crate::ctx::test_ctx!(&kv, &ws, 5), no, true).unwrap();
        assert_eq!(revoked.count(), 2);
        assert!(delegates::peek(&kv, &invite, 6).is_err());
        assert!(participants::resolve(&kv, &plink).is_err());
        // Repeating finds nothing left to revoke.
        assert_eq!(
            resolve(&crate::ctx::test_ctx!(&kv, &ws, 7), no, true)
                .unwrap()
                .1
                .count(),
            0
        );
    }
}
