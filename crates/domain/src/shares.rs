//! External shares (eDesk's flow): staff with the *external share*
//! permission send one collaborator a personal link to one ticket. The
//! collaborator proves they read that mailbox with a one-time code, then holds
//! a session scoped to that share (read the public thread, post external
//! notes). Links expire with the workspace's share lifetime, checked on every
//! request; cancelling ends the link and every session on it at once.
//!
//! One-time codes: 6 digits, 10 minutes, single use; wrong tries are counted
//! on the share (so re-sending a code does not reset them) and the share
//! locks after [`MAX_CODE_FAILURES`]; codes go to an address at most once per
//! [`CODE_RESEND_INTERVAL`]. A re-share to an address that verified before
//! skips the code.

use serde::{Deserialize, Serialize};

use crate::auth::TokenRecord;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{ShareId, TicketNo, WorkspaceId};
use crate::keys;
use crate::record::{claim, read, read_counter, update, write};
use crate::store::Kv;
use crate::time::Millis;
use crate::token::{self, Purpose};
use crate::workspace;

/// How long a one-time code is valid.
pub const CODE_LIFETIME: Millis = 10 * 60_000;
/// Wrong codes a share tolerates before it locks.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Least time between two codes to one address.
pub const CODE_RESEND_INTERVAL: Millis = 60_000;
/// Longest subject and note, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest explanatory note, in characters.
pub const MAX_NOTE_CHARS: usize = 5_000;

/// Where a share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    /// Link sent; the collaborator has not verified their email yet.
    AwaitingVerification,
    /// Verified: the collaborator reads (and may reply).
    Active,
    /// Too many wrong codes: staff must share again.
    Locked,
    /// Past its lifetime.
    Expired,
    /// Cancelled by staff (or by deleting / resolving the ticket).
    Cancelled,
}

/// The current one-time code of a share (hash only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// Purpose-separated hash of share id and code.
    pub hash: String,
    /// When it stops working.
    pub expires_at: Millis,
    /// Used already.
    pub used: bool,
    /// When it was used (a repeat soon after is harmless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<Millis>,
    /// Hash of the one-time field of the form that used it: the same form
    /// sent again (a double click) is the same browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// One share of a ticket with one collaborator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Id.
    pub id: ShareId,
    /// The ticket.
    pub ticket: TicketNo,
    /// The collaborator's normalised email.
    pub email: String,
    /// Subject of the share email.
    pub subject: String,
    /// The agent's explanatory note to the collaborator (never shown to the
    /// customer).
    pub note: String,
    /// Customer and order details are shown to the collaborator.
    pub include_details: bool,
    /// The collaborator may post external notes (otherwise view only).
    pub can_reply: bool,
    /// Who shared (user id or `platform:<key>`).
    pub created_by: String,
    /// Their display name.
    pub created_by_name: String,
    /// When.
    pub created_at: Millis,
    /// When the link stops working.
    pub expires_at: Millis,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Millis>,
    /// When the collaborator's email was verified for this share (by code,
    /// or carried over from an earlier share to the same address).
    pub verified_at: Option<Millis>,
    /// Last time the link was opened.
    pub last_opened_at: Option<Millis>,
    /// Wrong codes so far (survives re-sending).
    pub failures: u32,
    /// The current one-time code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// Position among the ticket's shares (1 = first); newer shares to the
    /// same address replace older ones.
    #[serde(default)]
    pub seq: u64,
    /// Earlier shares of the ticket to the same address: the collaborator
    /// keeps reading their own notes made through them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<ShareId>,
    /// Verified because the address had verified for this ticket before
    /// (a re-share).
    #[serde(default)]
    pub carried_over: bool,
    /// The one entry without a code that a carried-over verification allows
    /// has been used (further browsers prove the mailbox with a code).
    #[serde(default)]
    pub entered: bool,
    /// The expiry has been recorded in the audit ledger.
    #[serde(default)]
    pub expiry_noted: bool,
    /// External notes posted through this share, counted after each is
    /// written, so the share page's ETag follows the collaborator's own
    /// notes, which the ticket's count of public posts does not.
    #[serde(default)]
    pub notes: u64,
    /// Hash of the link token; never sent to clients.
    pub link_hash: String,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Share);

impl Share {
    /// The state at `now`.
    pub fn state(&self, now: Millis) -> ShareState {
        if self.cancelled_at.is_some() {
            ShareState::Cancelled
        } else if now >= self.expires_at {
            ShareState::Expired
        } else if self.failures >= MAX_CODE_FAILURES {
            // Verified or not: five wrong codes on a link end it (and its
            // sessions); staff share again.
            ShareState::Locked
        } else if self.verified_at.is_some() {
            ShareState::Active
        } else {
            ShareState::AwaitingVerification
        }
    }

    /// Whether the link still opens something (a page to verify, or the
    /// thread).
    pub fn live(&self, now: Millis) -> bool {
        matches!(
            self.state(now),
            ShareState::AwaitingVerification | ShareState::Active
        )
    }
}

/// What staff fill in to share a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// The collaborator's email.
    pub email: String,
    /// Subject of the email.
    pub subject: String,
    /// Explanatory note for the collaborator.
    #[serde(default)]
    pub note: String,
    /// Show customer and order details (off by default).
    #[serde(default)]
    pub include_details: bool,
    /// The collaborator may reply (on by default).
    #[serde(default = "yes")]
    pub can_reply: bool,
}

fn yes() -> bool {
    true
}

fn check_text(what: &str, s: &str, max: usize, required: bool, one_line: bool) -> Result<String> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(Error::bad(
            "invalid_field",
            format!("{what} must not be empty"),
        ));
    }
    if t.chars().count() > max {
        return Err(Error::bad(
            "invalid_field",
            format!("{what} is longer than {max} characters"),
        ));
    }
    // One-line fields (the subject) become email subjects: no control
    // character nor line separator at all.
    let refused = |c: char| {
        if one_line {
            crate::header::breaks_header(c)
        } else {
            c.is_control() && !matches!(c, '\n' | '\r' | '\t')
        }
    };
    if t.chars().any(refused) {
        return Err(Error::bad(
            "invalid_field",
            format!("{what} contains control characters"),
        ));
    }
    Ok(t.to_string())
}

/// Who is sharing.
#[derive(Debug, Clone)]
pub struct Sharer {
    /// Audit name (user id or `platform:<key>`).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The personal link a new share is issued with: how long it works and
/// fresh random bytes for its token and the share's id.
#[derive(Debug, Clone, Copy)]
pub struct NewLink {
    /// How long the link works (from the workspace settings).
    pub lifetime: Millis,
    /// Fresh bytes for the link's token.
    pub random_token: [u8; 32],
    /// Fresh bytes for the share's id.
    pub random_id: [u8; 16],
}

/// Share a ticket: stores the share and returns it with the personal link
/// credential (`<ws>.<token>`, shown once). `lifetime` comes from the
/// workspace settings. An address that verified before is trusted at once.
pub fn create(
    ctx: &Ctx,
    no: TicketNo,
    by: &Sharer,
    input: &NewShare,
    link: NewLink,
) -> Result<(Share, String)> {
    let NewLink {
        lifetime,
        random_token,
        random_id,
    } = link;
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    crate::thread::ticket(kv, ws, no)?;
    let email = workspace::normalise_email(&input.email)?;
    let subject = check_text("subject", &input.subject, MAX_SUBJECT_CHARS, true, true)?;
    let note = check_text("note", &input.note, MAX_NOTE_CHARS, false, false)?;
    let verified_before = read::<Millis>(
        kv,
        &keys::verified_collaborator(ws, no, &workspace::email_hash(&email)),
    )?;
    let earlier = list(kv, ws, no)?
        .into_iter()
        .filter(|s| s.email == email)
        .map(|s| s.id)
        .collect();
    let tok = token::new_token(random_token);
    let link_hash = token::hash(Purpose::Share, &tok);
    let share = Share {
        id: ShareId::new(random_id),
        ticket: no,
        email,
        subject,
        note,
        include_details: input.include_details,
        can_reply: input.can_reply,
        created_by: by.id.clone(),
        created_by_name: by.name.clone(),
        created_at: now,
        expires_at: now + lifetime,
        cancelled_at: None,
        verified_at: verified_before.map(|_| now),
        last_opened_at: None,
        failures: 0,
        code: None,
        seq: 0,
        earlier,
        carried_over: verified_before.is_some(),
        entered: false,
        expiry_noted: false,
        notes: 0,
        link_hash: link_hash.clone(),
        version: 0,
    };
    // Fresh random keys: nobody else can be writing them. The record comes
    // first, so a link never points at nothing; the list entry last (a
    // number handed out and never written is skipped by readers).
    let mut share = share;
    share.seq = kv.increment(&keys::ticket_share_counter(ws, no), 1)? as u64;
    write(kv, &keys::share(ws, &share.id), &share)?;
    write(kv, &keys::share_link(ws, &link_hash), &share.id)?;
    write(kv, &keys::ticket_share(ws, no, share.seq), &share.id)?;
    crate::link_index::index(
        kv,
        ws,
        crate::link_index::Kind::Share,
        no,
        share.id.as_str(),
    )?;
    Ok((share, format!("{ws}.{tok}")))
}

/// Read a share of a workspace.
pub fn get(kv: &dyn Kv, ws: &WorkspaceId, id: &ShareId) -> Result<Share> {
    read(kv, &keys::share(ws, id))?.ok_or(Error::NotFound)
}

/// The shares of a ticket, newest first.
pub fn list(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Vec<Share>> {
    let top = read_counter(kv, &keys::ticket_share_counter(ws, no))?;
    let mut out = Vec::new();
    for i in (1..=top).rev() {
        if let Some(id) = read::<ShareId>(kv, &keys::ticket_share(ws, no, i))? {
            out.push(get(kv, ws, &id)?);
        }
    }
    Ok(out)
}

/// The share a link belongs to, whatever its state (for recording an
/// expiry); unknown and malformed links are `NotFound`.
pub fn find_link(kv: &dyn Kv, link: &str) -> Result<(WorkspaceId, Share)> {
    let (ws, hash) = link_hash(link).ok_or(Error::NotFound)?;
    let id: ShareId = read(kv, &keys::share_link(&ws, &hash))?.ok_or(Error::NotFound)?;
    let share = get(kv, &ws, &id)?;
    if !token::ct_eq(share.link_hash.as_bytes(), hash.as_bytes()) {
        return Err(Error::NotFound);
    }
    Ok((ws, share))
}

/// The workspace a link (`<ws>.<token>`) names and its token's hash
/// (what its record's key and its share's `link_hash` hold); `None` for a
/// malformed link.
fn link_hash(link: &str) -> Option<(WorkspaceId, String)> {
    let (ws, tok) = link.rsplit_once('.')?;
    if !token::well_formed(tok) {
        return None;
    }
    let ws = WorkspaceId::parse(ws).ok()?;
    Some((ws, token::hash(Purpose::Share, tok)))
}

/// The workspace of a link and the key [`find_link`] reads first, known
/// from the link alone (to read it ahead with other keys in one batch);
/// `None` for a malformed link.
pub fn link_key(link: &str) -> Option<(WorkspaceId, String)> {
    let (ws, hash) = link_hash(link)?;
    let key = keys::share_link(&ws, &hash);
    Some((ws, key))
}

/// The key of the session record a collaborator's session cookie value
/// (`<ws>.<token>`) names in workspace `ws` (what [`session_valid`] reads);
/// `None` when the cookie is of another workspace or malformed.
pub fn session_key(ws: &WorkspaceId, cookie: &str) -> Option<String> {
    let (cws, tok) = cookie.rsplit_once('.')?;
    if cws != ws.as_str() || !token::well_formed(tok) {
        return None;
    }
    Some(keys::token(ws, &token::hash(Purpose::ShareSession, tok)))
}

/// The share a link opens, if it is live and its ticket exists. Expired,
/// cancelled, locked and unknown links are all `NotFound`.
pub fn open_link(kv: &dyn Kv, link: &str, now: Millis) -> Result<(WorkspaceId, Share)> {
    let (ws, share) = find_link(kv, link)?;
    if !share.live(now) {
        return Err(Error::NotFound);
    }
    crate::thread::ticket(kv, &ws, share.ticket)?;
    Ok((ws, share))
}

/// Record once that a share has expired; true for the one call that did
/// (the caller writes the ledger entry).
pub fn note_expired(kv: &dyn Kv, ws: &WorkspaceId, share: &Share, now: Millis) -> Result<bool> {
    if share.state(now) != ShareState::Expired || share.expiry_noted {
        return Ok(false);
    }
    let mut fresh = false;
    update(kv, &keys::share(ws, &share.id), |s: &mut Share| {
        fresh = s.state(now) == ShareState::Expired && !s.expiry_noted;
        if fresh {
            s.expiry_noted = true;
        }
        Ok(())
    })?;
    Ok(fresh)
}

/// A re-shared collaborator (verified before) enters once without a code:
/// the first browser to press *Continue*. Later browsers get a code.
/// `Forbidden` when no such entry is left.
pub fn enter_without_code(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    id: &ShareId,
    now: Millis,
) -> Result<Share> {
    update(kv, &keys::share(ws, id), |s: &mut Share| {
        match s.state(now) {
            ShareState::Active if s.carried_over && !s.entered => {
                s.entered = true;
                Ok(())
            }
            ShareState::Active | ShareState::AwaitingVerification => Err(Error::Forbidden(
                "confirm your email address with a code".into(),
            )),
            _ => Err(Error::NotFound),
        }
    })
}

/// Whether a browser may enter this share without a code right now.
pub fn may_enter_without_code(share: &Share, now: Millis) -> bool {
    share.state(now) == ShareState::Active && share.carried_over && !share.entered
}

/// Note that the link was opened (the "last opened" column).
pub fn touch(kv: &dyn Kv, ws: &WorkspaceId, id: &ShareId, now: Millis) -> Result<Share> {
    update(kv, &keys::share(ws, id), |s: &mut Share| {
        s.last_opened_at = Some(now);
        Ok(())
    })
}

/// Count an external note posted through share `id` (after the note is
/// written; a failure leaves the share page's ETag behind until the next
/// change).
pub fn note_posted(kv: &dyn Kv, ws: &WorkspaceId, id: &ShareId) -> Result<Share> {
    update(kv, &keys::share(ws, id), |s: &mut Share| {
        s.notes += 1;
        Ok(())
    })
}

fn code_hash(id: &ShareId, code: &str) -> String {
    token::hash(Purpose::ShareCode, &format!("{id}:{code}"))
}

/// A 6-digit code from fresh random bytes (uniform: rejection sampling).
fn six_digits(random: [u8; 32]) -> String {
    for c in random.chunks(4) {
        let n = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        // Largest multiple of 1 000 000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
    // Eight rejections in a row: practically impossible; still a valid code.
    format!(
        "{:06}",
        u32::from_le_bytes([random[0], random[1], random[2], random[3]]) % 1_000_000
    )
}

/// Issue a new one-time code for a share awaiting verification; returns the
/// code (to email, never stored in clear). One code per address per
/// [`CODE_RESEND_INTERVAL`]: `RateLimited` otherwise. The wrong-try count
/// carries over.
pub fn issue_code(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    share: &Share,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    let may_get_code = |s: &Share| {
        matches!(
            s.state(now),
            ShareState::AwaitingVerification | ShareState::Active
        ) && s.failures < MAX_CODE_FAILURES
    };
    if !may_get_code(share) {
        return Err(Error::NotFound);
    }
    // Strictly one code per share per interval (inside the share's CAS, so
    // nothing to repair after a crash), and one per address per window.
    resend_allowed(share, now)?;
    throttle_code(kv, ws, &share.email, now)?;
    let code = six_digits(random);
    let hash = code_hash(&share.id, &code);
    update(kv, &keys::share(ws, &share.id), |s: &mut Share| {
        if !may_get_code(s) {
            return Err(Error::NotFound);
        }
        resend_allowed(s, now)?;
        s.code = Some(Code {
            hash: hash.clone(),
            expires_at: now + CODE_LIFETIME,
            used: false,
            used_at: None,
            used_by: None,
        });
        Ok(())
    })?;
    Ok(code)
}

/// A share gets a new code at least [`CODE_RESEND_INTERVAL`] after its last.
fn resend_allowed(share: &Share, now: Millis) -> Result<()> {
    let Some(c) = &share.code else {
        return Ok(());
    };
    let wait = c.expires_at - CODE_LIFETIME + CODE_RESEND_INTERVAL - now;
    if wait > 0 {
        Err(Error::RateLimited((wait as u64).div_ceil(1000)))
    } else {
        Ok(())
    }
}

/// When an address was last sent a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CodeSent {
    last: Millis,
    version: u64,
}

crate::versioned!(CodeSent);

/// At most one code per address per [`CODE_RESEND_INTERVAL`], whichever
/// share it is for: the time of the last code, moved by compare-and-swap
/// (the first record of an address is claimed, never swapped from absent).
fn throttle_code(kv: &dyn Kv, ws: &WorkspaceId, email: &str, now: Millis) -> Result<()> {
    let h = workspace::email_hash(email);
    let key = keys::code_sent(ws, &h);
    let first = CodeSent {
        last: now,
        version: 0,
    };
    if claim(kv, &keys::code_sent_claim(ws, &h))? {
        return write(kv, &key, &first);
    }
    if read::<CodeSent>(kv, &key)?.is_none() {
        // The first claimer died before writing: its claim stands for a code.
        return write(kv, &key, &first);
    }
    update(kv, &key, |r: &mut CodeSent| {
        let wait = r.last + CODE_RESEND_INTERVAL - now;
        if wait > 0 {
            return Err(Error::RateLimited((wait as u64).div_ceil(1000)));
        }
        r.last = now;
        Ok(())
    })
    .map(|_| ())
}

/// How long after a code is used a repeat of it is harmless (a double
/// click on Verify, a second tab): neither counted as a wrong try nor, from
/// another form, a way in.
pub const CODE_REPEAT_WINDOW: Millis = 60_000;

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Wrong (or expired, or used) code; this many tries are left.
    Wrong {
        /// Tries left before the share locks.
        left: u32,
    },
    /// The code that was just used, from another form (another tab or
    /// browser): not counted as a wrong try, and no way in either.
    JustUsed,
    /// Too many wrong tries: the share is locked.
    Locked,
}

/// Hash of a form's one-time field (`once`), as kept on a used code.
fn form_hash(id: &ShareId, once: &str) -> String {
    token::hash(Purpose::ShareCode, &format!("{id}:form:{once}"))
}

/// Check a one-time code. Right: the share is verified and the address is
/// remembered (re-shares skip the code); returns the share. Wrong: the
/// failure is counted (on the share, so re-sending does not reset it).
///
/// `once` is the one-time field of the form the code came from. The code
/// that was just used (within [`CODE_REPEAT_WINDOW`]) sent again is
/// harmless: from the same form (a double click, whose first answer the
/// browser may never have seen) it verifies again, so the browser gets its
/// session; from any other form it is [`CodeRefusal::JustUsed`]. Neither
/// counts as a wrong try.
pub fn verify_code(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    id: &ShareId,
    code: &str,
    once: Option<&str>,
    now: Millis,
) -> Result<std::result::Result<Share, CodeRefusal>> {
    let code = code.trim();
    let well_formed = code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit());
    let attempt = code_hash(id, code);
    let form = once
        .filter(|o| !o.is_empty() && o.len() <= 64)
        .map(|o| form_hash(id, o));
    let mut outcome = None;
    let share = update(kv, &keys::share(ws, id), |s: &mut Share| {
        // A verified share still needs a right code: each new browser proves
        // it reads the mailbox.
        match s.state(now) {
            ShareState::Expired | ShareState::Cancelled => return Err(Error::NotFound),
            _ if s.failures >= MAX_CODE_FAILURES => {
                outcome = Some(Err(CodeRefusal::Locked));
                return Ok(());
            }
            _ => {}
        }
        let right = well_formed
            && s.code.as_ref().is_some_and(|c| {
                !c.used && now < c.expires_at && token::ct_eq(c.hash.as_bytes(), attempt.as_bytes())
            });
        let repeat = well_formed
            && s.code.as_ref().is_some_and(|c| {
                c.used
                    && c.used_at.is_some_and(|u| now - u < CODE_REPEAT_WINDOW)
                    && token::ct_eq(c.hash.as_bytes(), attempt.as_bytes())
            });
        if right {
            if let Some(c) = s.code.as_mut() {
                c.used = true;
                c.used_at = Some(now);
                c.used_by = form.clone();
            }
            s.verified_at = s.verified_at.or(Some(now));
            outcome = Some(Ok(()));
        } else if repeat {
            let same_form = match (&form, s.code.as_ref().and_then(|c| c.used_by.as_ref())) {
                (Some(f), Some(by)) => token::ct_eq(f.as_bytes(), by.as_bytes()),
                _ => false,
            };
            outcome = Some(if same_form {
                Ok(())
            } else {
                Err(CodeRefusal::JustUsed)
            });
        } else {
            s.failures += 1;
            outcome = Some(if s.failures >= MAX_CODE_FAILURES {
                Err(CodeRefusal::Locked)
            } else {
                Err(CodeRefusal::Wrong {
                    left: MAX_CODE_FAILURES - s.failures,
                })
            });
        }
        Ok(())
    })?;
    match outcome {
        Some(Ok(())) => {
            write(
                kv,
                &keys::verified_collaborator(
                    ws,
                    share.ticket,
                    &workspace::email_hash(&share.email),
                ),
                &now,
            )?;
            Ok(Ok(share))
        }
        Some(Err(r)) => Ok(Err(r)),
        None => Err(Error::NotFound),
    }
}

/// Start a collaborator session on a verified share; returns the cookie
/// value (`<ws>.<token>`). It ends when the share expires or is cancelled.
pub fn start_session(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    share: &Share,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    if share.state(now) != ShareState::Active {
        return Err(Error::NotFound);
    }
    let tok = token::new_token(random);
    write(
        kv,
        &keys::token(ws, &token::hash(Purpose::ShareSession, &tok)),
        &TokenRecord {
            purpose: format!("share-session:{}", share.id),
            user: None,
            key_id: None,
            created_at: now,
            expires_at: Some(share.expires_at),
            used: false,
            revoked: false,
            ticket: Some(share.ticket),
            version: 0,
        },
    )?;
    Ok(format!("{ws}.{tok}"))
}

/// Whether a session cookie is a live session on exactly this share.
pub fn session_valid(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    share: &Share,
    cookie: &str,
    now: Millis,
) -> Result<bool> {
    let Some(key) = session_key(ws, cookie) else {
        return Ok(false);
    };
    let rec: Option<TokenRecord> = read(kv, &key)?;
    // The share's current lifetime bounds the session (extending a share
    // extends its sessions; cancelling ends them).
    Ok(rec.is_some_and(|r| {
        token::ct_eq(
            r.purpose.as_bytes(),
            format!("share-session:{}", share.id).as_bytes(),
        ) && !r.revoked
    }) && share.state(now) == ShareState::Active)
}

/// Cancel a share: its link and sessions stop at the next request.
pub fn cancel(kv: &dyn Kv, ws: &WorkspaceId, id: &ShareId, now: Millis) -> Result<Share> {
    let mut fresh = false;
    let s = cancel_once(kv, ws, id, now, &mut fresh)?;
    if fresh {
        Ok(s)
    } else {
        Err(Error::Conflict("the share is already cancelled".into()))
    }
}

/// Cancel the shares of a ticket to `email` older than `newer` (a share
/// just made to that address): each collaborator keeps one live link per
/// ticket, however many re-shares race. Returns those this call cancelled.
pub fn cancel_older(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    newer: &Share,
    now: Millis,
) -> Result<Vec<ShareId>> {
    let mut out = Vec::new();
    for s in list(kv, ws, newer.ticket)? {
        if s.email == newer.email && s.seq < newer.seq && s.cancelled_at.is_none() {
            let mut fresh = false;
            cancel_once(kv, ws, &s.id, now, &mut fresh)?;
            if fresh {
                out.push(s.id);
            }
        }
    }
    Ok(out)
}

/// Cancel unless cancelled already; `fresh` says whether this call did it.
fn cancel_once(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    id: &ShareId,
    now: Millis,
    fresh: &mut bool,
) -> Result<Share> {
    update(kv, &keys::share(ws, id), |s: &mut Share| {
        *fresh = s.cancelled_at.is_none();
        if *fresh {
            s.cancelled_at = Some(now);
        }
        Ok(())
    })
}

/// Extend a live share by a fresh lifetime from now. Cancelled, expired and
/// locked shares are not brought back: share again (a new link).
pub fn extend(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    id: &ShareId,
    lifetime: Millis,
    now: Millis,
) -> Result<Share> {
    update(kv, &keys::share(ws, id), |s: &mut Share| {
        if !s.live(now) {
            return Err(Error::Conflict(format!(
                "a share that is {} cannot be extended; share again",
                match s.state(now) {
                    ShareState::Cancelled => "cancelled",
                    ShareState::Expired => "expired",
                    _ => "locked",
                }
            )));
        }
        s.expires_at = now + lifetime;
        Ok(())
    })
}

/// Cancel every share of a ticket not cancelled yet, expired ones included
/// (deleting, or resolving when the workspace says so). Returns those it
/// cancelled.
pub fn cancel_all(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, now: Millis) -> Result<Vec<Share>> {
    let mut out = Vec::new();
    for s in list(kv, ws, no)? {
        if s.cancelled_at.is_none() {
            let mut fresh = false;
            let c = cancel_once(kv, ws, &s.id, now, &mut fresh)?;
            if fresh {
                out.push(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;
    use crate::time::HOUR;

    fn setup() -> (MemKv, WorkspaceId, TicketNo) {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = crate::thread::fixture::ticket(&kv, &ws, "cus@x.test", "Parcel lost");
        (kv, ws, t.no)
    }

    fn share(
        kv: &MemKv,
        ws: &WorkspaceId,
        no: TicketNo,
        email: &str,
        now: Millis,
        r: u8,
    ) -> (Share, String) {
        let by = Sharer {
            id: "u_x".into(),
            name: "Ada".into(),
        };
        let input = NewShare {
            email: email.into(),
            subject: "Where is parcel 42?".into(),
            note: "Please check the depot.".into(),
            include_details: false,
            can_reply: true,
        };
        create(
            &crate::ctx::test_ctx!(kv, ws, now),
            no,
            &by,
            &input,
            NewLink {
                lifetime: 72 * HOUR,
                random_token: [r; 32],
                random_id: [r; 16],
            },
        )
        .unwrap()
    }

    #[test]
    fn lifetime_is_enforced_to_the_millisecond() {
        let (kv, ws, no) = setup();
        let (s, link) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        assert_eq!(s.state(0), ShareState::AwaitingVerification);
        assert!(open_link(&kv, &link, 72 * HOUR - 1).is_ok());
        assert_eq!(
            open_link(&kv, &link, 72 * HOUR).unwrap_err(),
            Error::NotFound
        );
        assert_eq!(
            open_link(&kv, "acme.short", 0).unwrap_err(),
            Error::NotFound
        );
        extend(&kv, &ws, &s.id, 72 * HOUR, 70 * HOUR).unwrap();
        assert!(open_link(&kv, &link, 100 * HOUR).is_ok());
        cancel(&kv, &ws, &s.id, 101 * HOUR).unwrap();
        assert_eq!(
            open_link(&kv, &link, 101 * HOUR).unwrap_err(),
            Error::NotFound
        );
        assert!(matches!(
            extend(&kv, &ws, &s.id, HOUR, 102 * HOUR),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn codes_to_one_address_are_a_full_interval_apart_across_shares() {
        let (kv, ws, no) = setup();
        let (a, _) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        let t2 = crate::thread::fixture::ticket(&kv, &ws, "other@x.test", "Other");
        let (b, _) = share(&kv, &ws, t2.no, "dock@carrier.test", 0, 2);
        issue_code(&kv, &ws, &a, 59_999, [9; 32]).unwrap();
        // Another share, the next minute by the clock, 1 ms later: refused.
        assert_eq!(
            issue_code(&kv, &ws, &b, 60_000, [8; 32]).unwrap_err(),
            Error::RateLimited(60)
        );
        assert!(issue_code(&kv, &ws, &b, 119_999, [8; 32]).is_ok());
        // Verification carries over to re-shares of the same ticket only.
        let code = issue_code(&kv, &ws, &get(&kv, &ws, &a.id).unwrap(), 200_000, [7; 32]);
        verify_code(&kv, &ws, &a.id, &code.unwrap(), None, 200_001)
            .unwrap()
            .unwrap();
        let (same, _) = share(&kv, &ws, no, "dock@carrier.test", 200_002, 3);
        let (other, _) = share(&kv, &ws, t2.no, "dock@carrier.test", 200_002, 4);
        assert!(same.carried_over && !other.carried_over);
        // Each new share cancels the address's older ones on its ticket.
        assert_eq!(
            cancel_older(&kv, &ws, &same, 200_003).unwrap(),
            vec![a.id.clone()]
        );
        assert!(cancel_older(&kv, &ws, &same, 200_004).unwrap().is_empty());
        assert_eq!(get(&kv, &ws, &b.id).unwrap().cancelled_at, None);
    }

    #[test]
    fn wrong_codes_lock_a_verified_share_too() {
        let (kv, ws, no) = setup();
        let (s, _) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        let code = issue_code(&kv, &ws, &s, 0, [9; 32]).unwrap();
        let v = verify_code(&kv, &ws, &s.id, &code, None, 1)
            .unwrap()
            .unwrap();
        let cookie = start_session(&kv, &ws, &v, 2, [5; 32]).unwrap();
        for _ in 0..MAX_CODE_FAILURES {
            verify_code(&kv, &ws, &s.id, "999999x", None, 3)
                .unwrap()
                .unwrap_err();
        }
        let locked = get(&kv, &ws, &s.id).unwrap();
        assert_eq!(locked.state(4), ShareState::Locked);
        assert!(!session_valid(&kv, &ws, &locked, &cookie, 4).unwrap());
    }

    #[test]
    fn expiry_is_noted_once_and_expired_shares_are_not_extended() {
        let (kv, ws, no) = setup();
        let (s, link) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        assert!(!note_expired(&kv, &ws, &s, 72 * HOUR - 1).unwrap());
        let (_, seen) = find_link(&kv, &link).unwrap();
        assert!(note_expired(&kv, &ws, &seen, 72 * HOUR).unwrap());
        assert!(!note_expired(&kv, &ws, &seen, 72 * HOUR + 1).unwrap());
        assert!(matches!(
            extend(&kv, &ws, &s.id, HOUR, 72 * HOUR + 1),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn codes_verify_once_lock_after_five_and_survive_resends() {
        let (kv, ws, no) = setup();
        let (s, _) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        let code = issue_code(&kv, &ws, &s, 0, [9; 32]).unwrap();
        assert_eq!(code.len(), 6);
        // Throttled per address.
        assert!(matches!(
            issue_code(&kv, &ws, &s, 59_999, [8; 32]),
            Err(Error::RateLimited(_))
        ));
        // Expired code fails (10 min + 1 ms).
        let late = verify_code(&kv, &ws, &s.id, &code, None, CODE_LIFETIME + 1).unwrap();
        assert_eq!(late, Err(CodeRefusal::Wrong { left: 4 }));
        for left in [3, 2, 1] {
            assert_eq!(
                verify_code(&kv, &ws, &s.id, "000000x", None, 1).unwrap(),
                Err(CodeRefusal::Wrong { left })
            );
        }
        // A re-sent code does not reset the count: the fifth failure locks.
        let s2 = get(&kv, &ws, &s.id).unwrap();
        let code2 = issue_code(&kv, &ws, &s2, 60_000, [7; 32]).unwrap();
        let wrong = if code2 == "123456" {
            "654321"
        } else {
            "123456"
        };
        assert_eq!(
            verify_code(&kv, &ws, &s.id, wrong, None, 60_001).unwrap(),
            Err(CodeRefusal::Locked)
        );
        assert_eq!(
            verify_code(&kv, &ws, &s.id, &code2, None, 60_002).unwrap(),
            Err(CodeRefusal::Locked)
        );
        assert_eq!(
            get(&kv, &ws, &s.id).unwrap().state(60_003),
            ShareState::Locked
        );
    }

    #[test]
    fn the_right_code_sent_twice_from_one_form_is_harmless() {
        let (kv, ws, no) = setup();
        let (s, _) = share(&kv, &ws, no, "dock@carrier.test", 0, 1);
        let code = issue_code(&kv, &ws, &s, 0, [9; 32]).unwrap();
        let form = Some("form-nonce-0123456789abcdef");
        // A double click, and more: every repeat of the same form verifies
        // (each gets a session), none counts as a wrong try.
        let oks: usize = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    sc.spawn(|| {
                        verify_code(&kv, &ws, &s.id, &code, form, 5)
                            .unwrap()
                            .is_ok() as usize
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(oks, 8);
        let after = get(&kv, &ws, &s.id).unwrap();
        assert_eq!((after.failures, after.state(6)), (0, ShareState::Active));
        // Another form gets no way in with the used code.
        assert_eq!(
            verify_code(&kv, &ws, &s.id, &code, Some("another-form-0123456789"), 6).unwrap(),
            Err(CodeRefusal::JustUsed)
        );
        // The window closes: the same form's repeat is a wrong try again.
        assert_eq!(
            verify_code(&kv, &ws, &s.id, &code, form, 5 + CODE_REPEAT_WINDOW).unwrap(),
            Err(CodeRefusal::Wrong { left: 4 })
        );
    }

    #[test]
    fn verified_collaborators_get_scoped_sessions_and_skip_codes_on_reshare() {
        let (kv, ws, no) = setup();
        let (s, link) = share(&kv, &ws, no, "Dock@Carrier.test", 0, 1);
        let code = issue_code(&kv, &ws, &s, 0, [9; 32]).unwrap();
        assert!(
            start_session(&kv, &ws, &s, 1, [5; 32]).is_err(),
            "no session before verifying"
        );
        let v = verify_code(&kv, &ws, &s.id, &code, None, 2)
            .unwrap()
            .unwrap();
        assert_eq!(v.state(3), ShareState::Active);
        // Single use: the same code again is refused even now the share is
        // verified; a second browser asks for a code of its own. Right after
        // its use, a repeat from another form (a second tab) is no wrong
        // try; later it is one.
        assert_eq!(
            verify_code(&kv, &ws, &s.id, &code, None, 4).unwrap(),
            Err(CodeRefusal::JustUsed)
        );
        assert_eq!(get(&kv, &ws, &s.id).unwrap().failures, 0);
        assert_eq!(
            verify_code(&kv, &ws, &s.id, &code, None, 2 + CODE_REPEAT_WINDOW).unwrap(),
            Err(CodeRefusal::Wrong { left: 4 })
        );
        let v2 = get(&kv, &ws, &s.id).unwrap();
        assert!(matches!(
            issue_code(&kv, &ws, &v2, 30_000, [6; 32]),
            Err(Error::RateLimited(_))
        ));
        let code2 = issue_code(&kv, &ws, &v2, 60_000, [6; 32]).unwrap();
        assert!(
            verify_code(&kv, &ws, &s.id, &code2, None, 60_001)
                .unwrap()
                .is_ok()
        );
        let cookie = start_session(&kv, &ws, &v, 5, [5; 32]).unwrap();
        assert!(session_valid(&kv, &ws, &v, &cookie, 6).unwrap());
        // Not for another share of the same ticket, nor after expiry.
        let (other, _) = share(&kv, &ws, no, "else@carrier.test", 0, 2);
        assert!(!session_valid(&kv, &ws, &other, &cookie, 6).unwrap());
        assert!(!session_valid(&kv, &ws, &v, &cookie, 72 * HOUR).unwrap());
        // Extending the share extends its sessions.
        let longer = extend(&kv, &ws, &s.id, 72 * HOUR, HOUR).unwrap();
        assert!(session_valid(&kv, &ws, &longer, &cookie, 72 * HOUR).unwrap());
        // Cancel ends the session at once.
        let c = cancel(&kv, &ws, &s.id, 7).unwrap();
        assert!(!session_valid(&kv, &ws, &c, &cookie, 8).unwrap());
        assert!(open_link(&kv, &link, 8).is_err());
        // Re-share to the same address: verified at once; another address
        // still needs a code.
        let (again, _) = share(&kv, &ws, no, "dock@carrier.test", 100 * HOUR, 3);
        assert_eq!(again.state(100 * HOUR), ShareState::Active);
        assert!(again.carried_over && may_enter_without_code(&again, 100 * HOUR));
        // One browser enters without a code; the next proves the mailbox.
        let entered = enter_without_code(&kv, &ws, &again.id, 100 * HOUR).unwrap();
        assert!(!may_enter_without_code(&entered, 100 * HOUR));
        assert!(matches!(
            enter_without_code(&kv, &ws, &again.id, 100 * HOUR),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            enter_without_code(&kv, &ws, &other.id, 1),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(other.state(1), ShareState::AwaitingVerification);
        assert_eq!(list(&kv, &ws, no).unwrap().len(), 3);
        // Every share not cancelled yet is cancelled, expired ones too, so
        // none can be extended back to life.
        let cancelled = cancel_all(&kv, &ws, no, 100 * HOUR + 1).unwrap();
        assert_eq!(cancelled.len(), 2);
        assert!(matches!(
            extend(&kv, &ws, &other.id, HOUR, 100 * HOUR + 2),
            Err(Error::Conflict(_))
        ));
        assert!(cancel_all(&kv, &ws, no, 100 * HOUR + 3).unwrap().is_empty());
    }

    #[test]
    fn bad_input_is_refused_and_writes_nothing() {
        let (kv, ws, no) = setup();
        let before = kv.len();
        let by = Sharer {
            id: "u_x".into(),
            name: "Ada".into(),
        };
        for input in [
            NewShare {
                email: "not-an-email".into(),
                subject: "s".into(),
                note: String::new(),
                include_details: false,
                can_reply: true,
            },
            NewShare {
                email: "a@b.test".into(),
                subject: " ".into(),
                note: String::new(),
                include_details: false,
                can_reply: true,
            },
            NewShare {
                email: "a@b.test".into(),
                subject: "s\nt".into(),
                note: String::new(),
                include_details: false,
                can_reply: true,
            },
            NewShare {
                email: "a@b.test".into(),
                subject: "s\u{2028}Bcc: x@y.test".into(),
                note: String::new(),
                include_details: false,
                can_reply: true,
            },
            NewShare {
                email: "a@b.test".into(),
                subject: "s".into(),
                note: "x".repeat(MAX_NOTE_CHARS + 1),
                include_details: false,
                can_reply: true,
            },
        ] {
            assert!(matches!(
                create(
                    &crate::ctx::test_ctx!(&kv, &ws, 0),
                    no,
                    &by,
                    &input,
                    NewLink {
                        lifetime: HOUR,
                        random_token: [1; 32],
                        random_id: [1; 16]
                    }
                ),
                Err(Error::BadRequest { .. })
            ));
        }
        assert_eq!(kv.len(), before);
        let input = NewShare {
            email: "a@b.test".into(),
            subject: "s".into(),
            note: String::new(),
            include_details: false,
            can_reply: true,
        };
        assert_eq!(
            create(
                &crate::ctx::test_ctx!(&kv, &ws, 0),
                TicketNo(99),
                &by,
                &input,
                NewLink {
                    lifetime: HOUR,
                    random_token: [1; 32],
                    random_id: [1; 16]
                }
            )
            .unwrap_err(),
            Error::NotFound
        );
    }
}
