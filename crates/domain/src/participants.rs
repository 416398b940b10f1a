//! Participants (KB Support's flow): anyone, by email, added to one ticket by
//! staff. Each gets personal ticket links (a fresh one in every email) that
//! open that ticket's public thread and a reply form, and nothing else.
//! Removing a participant kills all their links at once.

use crate::auth::TokenRecord;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{TicketNo, WorkspaceId, encode_random};
use crate::keys;
/// The records live in `model` (a ticket is created with its empty list).
pub use crate::model::{Participant, Participants};
use crate::record::{ensure, read, read_ensured, update, write};
use crate::store::Kv;
use crate::time::Millis;
use crate::token::{self, Purpose};
use crate::workspace::{self, Role};

/// Current participants of a ticket (removed ones included, marked).
pub fn list(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Vec<Participant>> {
    Ok(
        read_ensured::<Participants>(kv, &keys::participants(ws, no))?
            .unwrap_or_default()
            .list,
    )
}

/// The active participant with this email, if any.
pub fn by_email(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    email: &str,
) -> Result<Option<Participant>> {
    let e = workspace::normalise_email(email)?;
    Ok(list(kv, ws, no)?
        .into_iter()
        .find(|p| p.email == e && !p.removed))
}

/// Who [`add`] adds: their email, the name to show, and whether they may
/// reply.
#[derive(Debug, Clone, Copy)]
pub struct NewParticipant<'a> {
    /// Their email (any address; normalised).
    pub email: &'a str,
    /// The name to show, if given.
    pub name: Option<&'a str>,
    /// They may reply (not only read).
    pub can_reply: bool,
}

/// Add a participant (any email; a customer account is linked when one
/// exists). Adding an active participant again is a conflict.
///
/// The list entry is the commit point (it makes the participant's links
/// work); the live-links index is written before it, so a failure at any
/// step leaves nothing half-done and a retry adds them (an index entry whose
/// participant never landed names nobody and shows nothing). The ticket's
/// list is written empty with the ticket; one created before that gets it
/// here ([`ensure`]: never stranded by an add that died half-way, unlike the
/// claim it replaces, whose key is no longer read).
pub fn add(
    ctx: &Ctx,
    no: TicketNo,
    added_by: &str,
    new: NewParticipant,
    random: [u8; 16],
) -> Result<Participant> {
    let NewParticipant {
        email,
        name,
        can_reply,
    } = new;
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    crate::thread::ticket(kv, ws, no)?;
    let email = workspace::normalise_email(email)?;
    let user = workspace::user_by_email(kv, ws, &email)?.filter(|u| u.role == Role::Customer);
    if let Some(n) = name {
        crate::header::check_header_field("name", n.trim())?;
    }
    let name = match (name.map(str::trim).filter(|n| !n.is_empty()), &user) {
        (Some(n), _) if n.chars().count() <= 100 => n.to_string(),
        (Some(_), _) => {
            return Err(Error::bad(
                "invalid_field",
                "name must be at most 100 characters",
            ));
        }
        (None, Some(u)) => u.name.clone(),
        (None, None) => email.split('@').next().unwrap_or("guest").to_string(),
    };
    let key = keys::participants(ws, no);
    let before = match read_ensured::<Participants>(kv, &key)? {
        Some(l) => l,
        None => {
            ensure(kv, &key, &Participants::default())?;
            Participants::default()
        }
    };
    let taken = |l: &Participants| l.list.iter().any(|x| x.email == email && !x.removed);
    let conflict = || Error::Conflict("this address already takes part in the ticket".into());
    if taken(&before) {
        return Err(conflict());
    }
    let p = Participant {
        id: format!("p_{}", encode_random(&random)),
        email: email.clone(),
        name,
        user: user.map(|u| u.id),
        can_reply,
        added_by: added_by.to_string(),
        added_at: now,
        removed: false,
    };
    crate::link_index::index(kv, ws, crate::link_index::Kind::Participant, no, &p.id)?;
    update(kv, &key, |l: &mut Participants| {
        if taken(l) {
            return Err(conflict());
        }
        l.list.push(p.clone());
        Ok(())
    })?;
    Ok(p)
}

/// Remove a participant: every link of theirs stops working.
pub fn remove(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, id: &str) -> Result<Participant> {
    if read_ensured::<Participants>(kv, &keys::participants(ws, no))?.is_none() {
        return Err(Error::NotFound);
    }
    let updated = update(kv, &keys::participants(ws, no), |l: &mut Participants| {
        let p = l
            .list
            .iter_mut()
            .find(|p| p.id == id && !p.removed)
            .ok_or(Error::NotFound)?;
        p.removed = true;
        Ok(())
    })?;
    updated
        .list
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(Error::NotFound)
}

/// Remove every participant of a ticket (one compare-and-swap of the list).
/// Returns those it removed.
pub fn remove_all(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Vec<Participant>> {
    if read_ensured::<Participants>(kv, &keys::participants(ws, no))?.is_none() {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    update(kv, &keys::participants(ws, no), |l: &mut Participants| {
        removed.clear();
        for p in l.list.iter_mut().filter(|p| !p.removed) {
            p.removed = true;
            removed.push(p.clone());
        }
        Ok(())
    })?;
    Ok(removed)
}

/// Issue a personal ticket link for a participant (`<ws>.<token>`).
pub fn issue_link(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    p: &Participant,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    let tok = token::new_token(random);
    write(
        kv,
        &keys::token(ws, &token::hash(Purpose::Participant, &tok)),
        &TokenRecord {
            purpose: "participant".into(),
            user: None,
            key_id: None,
            created_at: now,
            expires_at: None,
            used: false,
            revoked: false,
            ticket: Some(no),
            version: 0,
        },
    )?;
    // The record names the participant through a second key so removal is
    // checked live on every use.
    write(
        kv,
        &keys::participant_link(ws, &token::hash(Purpose::Participant, &tok)),
        &p.id,
    )?;
    Ok(format!("{ws}.{tok}"))
}

/// Resolve a personal link to its workspace, ticket (as just read) and
/// (active) participant. Removed participants, deleted tickets and unknown
/// links are `NotFound`.
pub fn resolve(
    kv: &dyn Kv,
    link: &str,
) -> Result<(WorkspaceId, crate::model::Ticket, Participant)> {
    let (ws, tok) = link.rsplit_once('.').ok_or(Error::NotFound)?;
    if !token::well_formed(tok) {
        return Err(Error::NotFound);
    }
    let ws = WorkspaceId::parse(ws).map_err(|_| Error::NotFound)?;
    let hash = token::hash(Purpose::Participant, tok);
    let rec: TokenRecord = read(kv, &keys::token(&ws, &hash))?.ok_or(Error::NotFound)?;
    if rec.purpose != "participant" || rec.revoked {
        return Err(Error::NotFound);
    }
    let no = rec.ticket.ok_or(Error::NotFound)?;
    let pid: String = read(kv, &keys::participant_link(&ws, &hash))?.ok_or(Error::NotFound)?;
    let t = crate::thread::ticket(kv, &ws, no)?;
    let p = list(kv, &ws, no)?
        .into_iter()
        .find(|p| p.id == pid && !p.removed)
        .ok_or(Error::NotFound)?;
    Ok((ws, t, p))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::AuthorKind;
    use crate::store::MemKv;
    use crate::thread::{Author, create_ticket};
    use crate::workspace::{UserInput, upsert_user};

    pub(crate) fn world() -> (MemKv, WorkspaceId, TicketNo) {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let owner = upsert_user(
            &kv,
            &ws,
            UserInput {
                email: "o@x.com".into(),
                name: "O".into(),
                role: Role::Customer,
                company: None,
                queues: vec![],
                permissions: vec![],
            },
            0,
            [1; 16],
        )
        .unwrap()
        .0;
        let a = Author {
            id: None,
            name: "O".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "s",
            &owner,
            "q",
            &a,
            "hi",
        )
        .unwrap();
        (kv, ws, t.no)
    }

    /// A ticket from before lists were written with it, whose first add
    /// claimed the list and died before writing it.
    pub(crate) fn without_list(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) {
        kv.delete(&keys::participants(ws, no)).unwrap();
        kv.increment(&keys::participants_claim(ws, no), 1).unwrap();
    }

    #[test]
    fn a_ticket_from_before_gets_its_list_from_its_next_add() {
        let (kv, ws, no) = world();
        without_list(&kv, &ws, no);
        assert!(list(&kv, &ws, no).unwrap().is_empty());
        let p = add(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            no,
            "staff",
            NewParticipant {
                email: "g@y.com",
                name: None,
                can_reply: true,
            },
            [2; 16],
        )
        .unwrap();
        let link = issue_link(&kv, &ws, no, &p, 1, [4; 32]).unwrap();
        assert_eq!(resolve(&kv, &link).unwrap().2.id, p.id);
    }

    #[test]
    fn add_link_remove() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let owner = upsert_user(
            &kv,
            &ws,
            UserInput {
                email: "o@x.com".into(),
                name: "O".into(),
                role: Role::Customer,
                company: None,
                queues: vec![],
                permissions: vec![],
            },
            0,
            [1; 16],
        )
        .unwrap()
        .0;
        let a = Author {
            id: None,
            name: "O".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "s",
            &owner,
            "q",
            &a,
            "hi",
        )
        .unwrap();
        let p = add(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            t.no,
            "staff",
            NewParticipant {
                email: "Guest@Y.com",
                name: None,
                can_reply: true,
            },
            [2; 16],
        )
        .unwrap();
        assert_eq!(
            (p.email.as_str(), p.name.as_str(), p.user.is_none()),
            ("guest@y.com", "guest", true)
        );
        assert_eq!(
            add(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                t.no,
                "staff",
                NewParticipant {
                    email: "guest@y.com",
                    name: None,
                    can_reply: true
                },
                [3; 16]
            )
            .unwrap_err()
            .code(),
            "conflict"
        );
        let l1 = issue_link(&kv, &ws, t.no, &p, 1, [4; 32]).unwrap();
        let l2 = issue_link(&kv, &ws, t.no, &p, 2, [5; 32]).unwrap();
        assert_eq!(resolve(&kv, &l1).unwrap().2.id, p.id);
        assert!(resolve(&kv, &l2).is_ok());
        assert!(by_email(&kv, &ws, t.no, "GUEST@y.com").unwrap().is_some());
        remove(&kv, &ws, t.no, &p.id).unwrap();
        assert_eq!(resolve(&kv, &l1).unwrap_err(), Error::NotFound);
        assert_eq!(resolve(&kv, &l2).unwrap_err(), Error::NotFound);
        assert!(by_email(&kv, &ws, t.no, "guest@y.com").unwrap().is_none());
        assert!(
            add(
                &crate::ctx::test_ctx!(&kv, &ws, 3),
                t.no,
                "staff",
                NewParticipant {
                    email: "guest@y.com",
                    name: None,
                    can_reply: true
                },
                [6; 16]
            )
            .is_ok(),
            "can be added again"
        );
    }
}
