//! Delegates (Upmind's flow): customers of the workspace invited to one
//! ticket by email. Invited until they use their personal accept link (single
//! use, 7 days), then Accepted: they read the public thread and post public
//! replies. Revoking takes effect on the very next request and kills any
//! pending link.
//!
//! A ticket's delegates are one versioned record (changed by compare-and-swap),
//! written empty with the ticket; each delegate's tickets are an append-only
//! list for their dashboard.

use crate::auth::TokenRecord;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{TicketNo, UserId, WorkspaceId};
use crate::keys;
/// The records live in `model` (a ticket is created with its empty list).
pub use crate::model::{Delegate, DelegateStatus, Delegates};
use crate::record::{ensure, read, read_counter, read_ensured, update, write};
use crate::store::Kv;
use crate::time::{HOUR, Millis};
use crate::token::{self, Purpose};
use crate::workspace::{self, Role, User};

/// How long an invite link stays valid.
pub const INVITE_LIFETIME: Millis = 7 * 24 * HOUR;

/// The delegates of a ticket (an empty list when none was ever invited).
pub fn list(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Vec<Delegate>> {
    Ok(read_ensured::<Delegates>(kv, &keys::delegates(ws, no))?
        .unwrap_or_default()
        .list)
}

/// The accepted delegate entry of `user` on a ticket, if any.
pub fn active(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    user: &UserId,
) -> Result<Option<Delegate>> {
    Ok(list(kv, ws, no)?
        .into_iter()
        .find(|d| &d.user == user && d.status == DelegateStatus::Accepted))
}

/// The ticket's delegate list as it stands. A ticket gets its empty list
/// when it is created ([`crate::thread::create_ticket`]); one created before
/// that has none until its first invitation makes it ([`ensure`]: never
/// stranded by an invitation that died half-way, unlike the claim it
/// replaces, whose key is no longer read).
fn current(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Delegates> {
    let key = keys::delegates(ws, no);
    if let Some(d) = read_ensured::<Delegates>(kv, &key)? {
        return Ok(d);
    }
    ensure(kv, &key, &Delegates::default())?;
    Ok(read_ensured::<Delegates>(kv, &key)?.unwrap_or_default())
}

/// Invite a customer (by email) to a ticket. Returns the delegate and the
/// personal accept link credential (`<ws>.<token>`), shown once.
pub fn invite(
    ctx: &Ctx,
    no: TicketNo,
    inviter: &str,
    email: &str,
    can_reply: bool,
    random: [u8; 32],
) -> Result<(Delegate, String)> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let t = crate::thread::ticket(kv, ws, no)?;
    let invitee: User = workspace::user_by_email(kv, ws, email)?
        .filter(|u| u.role == Role::Customer)
        .ok_or_else(|| {
            Error::bad(
                "not_a_customer",
                "delegates must have a customer account in this workspace",
            )
        })?;
    // Who sees the ticket as its customer gains nothing from being a
    // delegate (and revoking them would take nothing away).
    if invitee.id == t.customer {
        return Err(Error::Conflict(format!(
            "{} is the ticket's customer and already sees it",
            invitee.email
        )));
    }
    if workspace::same_company(invitee.company.as_deref(), t.company.as_deref()) {
        return Err(Error::Conflict(format!(
            "{} is a customer of {}, the ticket's company, and already sees the ticket",
            invitee.email,
            invitee.company.as_deref().unwrap_or_default()
        )));
    }
    let before = current(kv, ws, no)?;
    if before
        .list
        .iter()
        .any(|x| x.user == invitee.id && x.status == DelegateStatus::Accepted)
    {
        return Err(Error::Conflict(
            "this customer is already a delegate of the ticket".into(),
        ));
    }
    // Everything that names the invitation is written before the list
    // entry that makes its link work, so a failure at any step leaves
    // nothing half-usable and a retry (a new link) completes it: the
    // dashboard entry and the live-links index for a first invitation
    // (read against the list, so one whose entry never lands shows
    // nothing; readers skip repeats), then the link's token (dead until an
    // entry carries its hash: `peek` and `accept` require that).
    if !before.list.iter().any(|x| x.user == invitee.id) {
        let i = kv.increment(&keys::delegated_counter(ws, &invitee.id), 1)? as u64;
        write(kv, &keys::delegated_ticket(ws, &invitee.id, i), &no)?;
        crate::link_index::index(
            kv,
            ws,
            crate::link_index::Kind::Delegate,
            no,
            invitee.id.as_str(),
        )?;
    }
    let tok = token::new_token(random);
    let link_hash = token::hash(Purpose::Invite, &tok);
    write(
        kv,
        &keys::token(ws, &link_hash),
        &TokenRecord {
            purpose: "invite".into(),
            user: Some(invitee.id.clone()),
            key_id: None,
            created_at: now,
            expires_at: Some(now + INVITE_LIFETIME),
            used: false,
            revoked: false,
            version: 0,
            ticket: Some(no),
        },
    )?;
    // A re-invited delegate's previous link stops working: `peek` and
    // `accept` require the link's hash to be the entry's current one.
    let updated = update(kv, &keys::delegates(ws, no), |d: &mut Delegates| {
        let entry = Delegate {
            user: invitee.id.clone(),
            email: invitee.email.clone(),
            name: invitee.name.clone(),
            status: DelegateStatus::Invited,
            can_reply,
            invited_by: inviter.to_string(),
            invited_at: now,
            accepted_at: None,
            revoked_at: None,
            link_hash: link_hash.clone(),
        };
        match d.list.iter_mut().find(|x| x.user == invitee.id) {
            Some(x) if x.status == DelegateStatus::Accepted => {
                return Err(Error::Conflict(
                    "this customer is already a delegate of the ticket".into(),
                ));
            }
            Some(x) => *x = entry,
            None => d.list.push(entry),
        }
        Ok(())
    })?;
    let d = updated
        .list
        .into_iter()
        .find(|x| x.user == invitee.id)
        .ok_or(Error::NotFound)?;
    Ok((d, format!("{ws}.{tok}")))
}

/// What an invite link leads to (for the page a GET shows; changes nothing).
/// A link works while its delegate entry is invited with its hash: the
/// entry is what [`accept`] changes, once, so an acceptance that failed
/// before that change can be done again.
pub fn peek(kv: &dyn Kv, link: &str, now: Millis) -> Result<(WorkspaceId, TicketNo, Delegate)> {
    let (ws, key) = link_token_key(link).ok_or(Error::NotFound)?;
    let hash = token_hash(link);
    let rec: TokenRecord = read(kv, &key)?.ok_or(Error::NotFound)?;
    let no = rec.ticket.ok_or(Error::NotFound)?;
    if rec.purpose != "invite" || rec.revoked || rec.expires_at.is_some_and(|e| now >= e) {
        return Err(Error::NotFound);
    }
    crate::thread::ticket(kv, &ws, no)?;
    let d = list(kv, &ws, no)?
        .into_iter()
        .find(|d| d.link_hash == hash && d.status == DelegateStatus::Invited)
        .ok_or(Error::NotFound)?;
    Ok((ws, no, d))
}

/// The workspace and the key of the token record behind an invitation
/// `link` (`None`: not a well-formed link), for [`peek`] and for callers
/// that read it ahead with other keys.
pub fn link_token_key(link: &str) -> Option<(WorkspaceId, String)> {
    let (ws, tok) = link.rsplit_once('.')?;
    if !token::well_formed(tok) {
        return None;
    }
    let ws = WorkspaceId::parse(ws).ok()?;
    let key = keys::token(&ws, &token::hash(Purpose::Invite, tok));
    Some((ws, key))
}

/// The token hash a delegate entry names for `link`.
fn token_hash(link: &str) -> String {
    let tok = link.rsplit_once('.').map(|(_, t)| t).unwrap_or_default();
    token::hash(Purpose::Invite, tok)
}

/// What [`peek`] reads after the token record (`token`, as read): the
/// ticket's record and its delegate list, to read ahead in one batch.
pub fn link_ticket_keys(ws: &WorkspaceId, token: &TokenRecord) -> Vec<String> {
    token
        .ticket
        .map(|no| vec![keys::ticket(ws, no), keys::delegates(ws, no)])
        .unwrap_or_default()
}

/// Accept an invite: exactly one use of a link succeeds (the one whose swap
/// of the delegate entry from invited to accepted lands); used, revoked,
/// replaced, expired and unknown links are all `NotFound`. The entry is
/// the one record of the use: the token record is left as it is (every
/// revocation changes the entry first, and [`peek`] reads the token's
/// revocation and expiry), so the use is one compare-and-swap, which
/// either lands or leaves the link working for another try.
pub fn accept(kv: &dyn Kv, link: &str, now: Millis) -> Result<(WorkspaceId, TicketNo, Delegate)> {
    let (ws, no, _) = peek(kv, link, now)?;
    let hash = token_hash(link);
    let updated = update(kv, &keys::delegates(&ws, no), |d: &mut Delegates| {
        let x = d
            .list
            .iter_mut()
            .find(|x| x.link_hash == hash && x.status == DelegateStatus::Invited)
            .ok_or(Error::NotFound)?;
        x.status = DelegateStatus::Accepted;
        x.accepted_at = Some(now);
        Ok(())
    })?;
    let d = updated
        .list
        .into_iter()
        .find(|x| x.link_hash == hash)
        .ok_or(Error::NotFound)?;
    Ok((ws, no, d))
}

/// Revoke a delegate: reading, posting and any pending link stop at once.
pub fn revoke(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    user: &UserId,
    now: Millis,
) -> Result<Delegate> {
    if read_ensured::<Delegates>(kv, &keys::delegates(ws, no))?.is_none() {
        return Err(Error::NotFound);
    }
    let mut hash = String::new();
    let updated = update(kv, &keys::delegates(ws, no), |d: &mut Delegates| {
        let x = d
            .list
            .iter_mut()
            .find(|x| &x.user == user)
            .ok_or(Error::NotFound)?;
        x.status = DelegateStatus::Revoked;
        x.revoked_at = Some(now);
        hash = x.link_hash.clone();
        Ok(())
    })?;
    kill_link(kv, ws, &hash)?;
    updated
        .list
        .into_iter()
        .find(|x| &x.user == user)
        .ok_or(Error::NotFound)
}

/// Revoke every delegate of a ticket that is not revoked yet (one
/// compare-and-swap of the list, then their pending links). Returns those it
/// revoked.
pub fn revoke_all(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    now: Millis,
) -> Result<Vec<Delegate>> {
    if read_ensured::<Delegates>(kv, &keys::delegates(ws, no))?.is_none() {
        return Ok(Vec::new());
    }
    let mut revoked = Vec::new();
    update(kv, &keys::delegates(ws, no), |d: &mut Delegates| {
        revoked.clear();
        for x in d
            .list
            .iter_mut()
            .filter(|x| x.status != DelegateStatus::Revoked)
        {
            x.status = DelegateStatus::Revoked;
            x.revoked_at = Some(now);
            revoked.push(x.clone());
        }
        Ok(())
    })?;
    for x in &revoked {
        kill_link(kv, ws, &x.link_hash)?;
    }
    Ok(revoked)
}

fn kill_link(kv: &dyn Kv, ws: &WorkspaceId, hash: &str) -> Result<()> {
    if hash.is_empty() {
        return Ok(());
    }
    let key = keys::token(ws, hash);
    if kv.get(&key)?.is_some() {
        update(kv, &key, |r: &mut TokenRecord| {
            r.revoked = true;
            Ok(())
        })?;
    }
    Ok(())
}

/// The tickets a customer is (or was) a delegate of, newest invitation first
/// (callers check the current status per ticket).
pub fn delegated_tickets(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    user: &UserId,
    limit: usize,
) -> Result<Vec<TicketNo>> {
    let top = read_counter(kv, &keys::delegated_counter(ws, user))?;
    let mut out = Vec::new();
    let mut i = top;
    while i >= 1 && out.len() < limit {
        if let Some(no) = read::<TicketNo>(kv, &keys::delegated_ticket(ws, user, i))? {
            // An invitation retried after a failure may have listed the
            // ticket twice.
            if !out.contains(&no) && active(kv, ws, no, user)?.is_some() {
                out.push(no);
            }
        }
        i -= 1;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::AuthorKind;
    use crate::store::MemKv;
    use crate::thread::{Author, create_ticket};
    use crate::workspace::{UserInput, upsert_user};

    pub(crate) fn setup() -> (MemKv, WorkspaceId, TicketNo, User, User) {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mk = |email: &str, role: Role, r: u8| {
            upsert_user(
                &kv,
                &ws,
                UserInput {
                    email: email.into(),
                    name: email.into(),
                    role,
                    company: None,
                    queues: vec![],
                    permissions: vec![],
                },
                0,
                [r; 16],
            )
            .unwrap()
            .0
        };
        let owner = mk("owner@x.com", Role::Customer, 1);
        let friend = mk("friend@x.com", Role::Customer, 2);
        mk("staff@x.com", Role::Staff, 3);
        let a = Author {
            id: None,
            name: "o".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "Coffee",
            &owner,
            "q",
            &a,
            "hi",
        )
        .unwrap();
        (kv, ws, t.no, owner, friend)
    }

    #[test]
    fn invite_accept_revoke() {
        let (kv, ws, no, owner, friend) = setup();
        assert_eq!(
            invite(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                no,
                "admin",
                "staff@x.com",
                true,
                [1; 32]
            )
            .unwrap_err()
            .code(),
            "not_a_customer"
        );
        assert_eq!(
            invite(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                no,
                "admin",
                "nobody@x.com",
                true,
                [1; 32]
            )
            .unwrap_err()
            .code(),
            "not_a_customer"
        );
        assert_eq!(
            invite(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                no,
                "admin",
                &owner.email,
                true,
                [1; 32]
            )
            .unwrap_err()
            .code(),
            "conflict"
        );
        let (d, link) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "admin",
            "FRIEND@x.com",
            true,
            [2; 32],
        )
        .unwrap();
        assert_eq!(d.status, DelegateStatus::Invited);
        assert!(peek(&kv, &link, 2).is_ok());
        assert!(
            active(&kv, &ws, no, &friend.id).unwrap().is_none(),
            "peeking accepts nothing"
        );
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..20)
                .map(|_| s.spawn(|| accept(&kv, &link, 3).is_ok() as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
        assert!(active(&kv, &ws, no, &friend.id).unwrap().is_some());
        assert_eq!(
            delegated_tickets(&kv, &ws, &friend.id, 10).unwrap(),
            vec![no]
        );
        revoke(&kv, &ws, no, &friend.id, 4).unwrap();
        assert!(active(&kv, &ws, no, &friend.id).unwrap().is_none());
        assert!(
            delegated_tickets(&kv, &ws, &friend.id, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_customer_of_the_tickets_company_is_no_delegate() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mk = |email: &str, company: Option<&str>, r: u8| {
            upsert_user(
                &kv,
                &ws,
                UserInput {
                    email: email.into(),
                    name: email.into(),
                    role: Role::Customer,
                    company: company.map(str::to_string),
                    queues: vec![],
                    permissions: vec![],
                },
                0,
                [r; 16],
            )
            .unwrap()
            .0
        };
        let owner = mk("owner@shop.com", Some("Shop Ltd"), 1);
        mk("colleague@shop.com", Some(" shop ltd "), 2);
        mk("other@else.com", Some("Else Inc"), 3);
        let a = Author {
            id: None,
            name: "o".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "Coffee",
            &owner,
            "q",
            &a,
            "hi",
        )
        .unwrap();
        let e = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            t.no,
            "admin",
            "colleague@shop.com",
            true,
            [5; 32],
        )
        .unwrap_err();
        assert!(matches!(e, crate::error::Error::Conflict(_)), "{e}");
        assert!(e.message().contains("already sees the ticket"), "{e}");
        assert!(list(&kv, &ws, t.no).unwrap().is_empty(), "nothing written");
        assert!(
            invite(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                t.no,
                "admin",
                "other@else.com",
                true,
                [6; 32]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_ticket_has_its_empty_lists_from_its_creation() {
        let (kv, ws, no, _, friend) = setup();
        let raw = |key: &str| kv.get(key).unwrap().expect("written with the ticket");
        let d: Delegates = serde_json::from_slice(&raw(&keys::delegates(&ws, no))).unwrap();
        let p: crate::participants::Participants =
            serde_json::from_slice(&raw(&keys::participants(&ws, no))).unwrap();
        assert!(d.list.is_empty() && p.list.is_empty());
        // The first invitation updates the list; no claim is taken.
        invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "admin",
            &friend.email,
            true,
            [2; 32],
        )
        .unwrap();
        assert_eq!(kv.get(&keys::delegates_claim(&ws, no)).unwrap(), None);
        assert_eq!(list(&kv, &ws, no).unwrap().len(), 1);
    }

    /// A ticket from before lists were written with it, whose first
    /// invitation claimed the list and died before writing it.
    pub(crate) fn without_list(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) {
        kv.delete(&keys::delegates(ws, no)).unwrap();
        kv.increment(&keys::delegates_claim(ws, no), 1).unwrap();
    }

    #[test]
    fn a_ticket_from_before_gets_its_list_from_its_next_invitation() {
        let (kv, ws, no, _, friend) = setup();
        without_list(&kv, &ws, no);
        assert!(list(&kv, &ws, no).unwrap().is_empty());
        let (_, link) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "admin",
            &friend.email,
            true,
            [2; 32],
        )
        .unwrap();
        accept(&kv, &link, 2).unwrap();
        assert!(active(&kv, &ws, no, &friend.id).unwrap().is_some());
    }

    /// An acceptance whose delegate entry cannot be changed (the store
    /// fails) is an error, and the link still works: using it again
    /// accepts, once.
    #[test]
    fn an_acceptance_that_failed_after_using_its_token_is_done_by_using_the_link_again() {
        let (mem, ws, no, _, friend) = setup();
        let kv = crate::store::Faulty::new(mem, |_, key, op| match op {
            crate::store::Op::Swap(_) if key.ends_with("/delegates") => crate::store::Fault::Before,
            _ => crate::store::Fault::Pass,
        });
        kv.arm(false);
        let (_, link) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "admin",
            &friend.email,
            true,
            [2; 32],
        )
        .unwrap();
        kv.arm(true);
        assert!(accept(&kv, &link, 2).is_err());
        assert!(active(&kv, &ws, no, &friend.id).unwrap().is_none());
        kv.arm(false);
        assert!(peek(&kv, &link, 3).is_ok(), "the link still works");
        accept(&kv, &link, 3).unwrap();
        assert!(active(&kv, &ws, no, &friend.id).unwrap().is_some());
        assert_eq!(accept(&kv, &link, 4).unwrap_err(), Error::NotFound);
        assert_eq!(peek(&kv, &link, 4).unwrap_err(), Error::NotFound);
    }

    #[test]
    fn revoke_and_reinvite_kill_pending_links_and_expiry_applies() {
        let (kv, ws, no, _, friend) = setup();
        let (_, first) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "admin",
            &friend.email,
            true,
            [2; 32],
        )
        .unwrap();
        let (_, second) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 2),
            no,
            "admin",
            &friend.email,
            true,
            [3; 32],
        )
        .unwrap();
        assert_eq!(
            accept(&kv, &first, 3).unwrap_err(),
            Error::NotFound,
            "a resend replaces the old link"
        );
        revoke(&kv, &ws, no, &friend.id, 4).unwrap();
        assert_eq!(
            accept(&kv, &second, 5).unwrap_err(),
            Error::NotFound,
            "revoked before use"
        );
        let (_, third) = invite(
            &crate::ctx::test_ctx!(&kv, &ws, 10),
            no,
            "admin",
            &friend.email,
            true,
            [4; 32],
        )
        .unwrap();
        assert_eq!(
            accept(&kv, &third, 10 + INVITE_LIFETIME).unwrap_err(),
            Error::NotFound,
            "expired"
        );
        assert!(accept(&kv, &third, 11).is_ok());
        assert_eq!(
            invite(
                &crate::ctx::test_ctx!(&kv, &ws, 12),
                no,
                "admin",
                &friend.email,
                true,
                [5; 32]
            )
            .unwrap_err()
            .code(),
            "conflict"
        );
    }
}
