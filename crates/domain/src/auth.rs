//! Credentials: workspace API keys, browser sessions and single-use login
//! links. Every secret is a 256-bit token; only its purpose-separated hash is
//! stored (`keys::token`). The workspace is part of every credential's text so
//! a lookup never needs to search across workspaces.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, TicketNo, UserId, WorkspaceId};
use crate::keys;
use crate::record::{read, update, write};
use crate::store::Kv;
use crate::time::{HOUR, Millis};
use crate::token::{self, Purpose};

/// How long a browser session lasts.
pub const SESSION_LIFETIME: Millis = 7 * 24 * HOUR;
/// How long a login link stays valid.
pub const LOGIN_LINK_LIFETIME: Millis = HOUR / 4;
/// Name of the session cookie (`__Host-`: Secure, Path=/, no Domain).
pub const SESSION_COOKIE: &str = "__Host-ts_session";

/// What a stored token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The purpose it was issued for.
    pub purpose: String,
    /// The user it belongs to (sessions, login links).
    pub user: Option<UserId>,
    /// The API key it belongs to.
    pub key_id: Option<ApiKeyId>,
    /// Issue time.
    pub created_at: Millis,
    /// Expiry, if any.
    pub expires_at: Option<Millis>,
    /// Single-use tokens: consumed.
    pub used: bool,
    /// Revoked (API keys, logged-out sessions).
    pub revoked: bool,
    /// The ticket a link is for (invite links), or the one ticket a session
    /// reaches (sessions from an invitation).
    #[serde(default)]
    pub ticket: Option<crate::ids::TicketNo>,
    /// CAS guard.
    pub version: u64,
}

impl TokenRecord {
    fn live(&self, purpose: Purpose, now: Millis) -> bool {
        self.purpose == purpose_name(purpose)
            && !self.used
            && !self.revoked
            && self.expires_at.is_none_or(|e| now < e)
    }
}

fn purpose_name(p: Purpose) -> String {
    format!("{p:?}").to_ascii_lowercase()
}

/// Split `<workspace>.<token>` (the text form of sessions, login links and,
/// after the `tsk_` prefix, API keys).
fn split(credential: &str) -> Result<(WorkspaceId, &str)> {
    let (ws, tok) = credential.rsplit_once('.').ok_or(Error::Unauthenticated)?;
    if !token::well_formed(tok) {
        return Err(Error::Unauthenticated);
    }
    Ok((
        WorkspaceId::parse(ws).map_err(|_| Error::Unauthenticated)?,
        tok,
    ))
}

fn issue(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    purpose: Purpose,
    rec: TokenRecord,
    random: [u8; 32],
) -> Result<String> {
    let tok = token::new_token(random);
    write(kv, &keys::token(ws, &token::hash(purpose, &tok)), &rec)?;
    Ok(format!("{ws}.{tok}"))
}

fn lookup(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    purpose: Purpose,
    tok: &str,
) -> Result<(String, TokenRecord)> {
    let key = keys::token(ws, &token::hash(purpose, tok));
    let rec: TokenRecord = read(kv, &key)?.ok_or(Error::Unauthenticated)?;
    Ok((key, rec))
}

/// An API key's public description (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// Free label.
    pub label: String,
    /// Creation time.
    pub created_at: Millis,
    /// Revoked keys stop working at once.
    pub revoked: bool,
    /// Hash of the secret (to revoke it); never sent.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub token_hash: String,
}

/// The list of a workspace's API keys (one versioned record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApiKeyList {
    /// Keys, oldest first.
    pub keys: Vec<ApiKey>,
    /// CAS guard.
    pub version: u64,
}

/// Create an API key. Returns its description and the secret
/// (`tsk_<workspace>.<token>`), which is never stored.
pub fn create_api_key(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    label: &str,
    now: Millis,
    random: [u8; 32],
    id_random: [u8; 16],
) -> Result<(ApiKey, String)> {
    if label.chars().count() > 100 {
        return Err(Error::bad(
            "invalid_field",
            "label is longer than 100 characters",
        ));
    }
    let id = ApiKeyId::new(id_random);
    let tok = token::new_token(random);
    let secret = format!("tsk_{ws}.{tok}");
    let key = ApiKey {
        id: id.clone(),
        prefix: secret.chars().take(ws.as_str().len() + 9).collect(),
        label: label.to_string(),
        created_at: now,
        revoked: false,
        token_hash: token::hash(Purpose::ApiKey, &tok),
    };
    // Listed first, working second: a key that works is always listed (and
    // so revocable). The list exists from the workspace's creation on; a
    // missing workspace is NotFound.
    update(kv, &keys::api_keys(ws), |l: &mut ApiKeyList| {
        l.keys.push(key.clone());
        Ok(())
    })?;
    write(
        kv,
        &keys::token(ws, &key.token_hash),
        &TokenRecord {
            purpose: purpose_name(Purpose::ApiKey),
            user: None,
            key_id: Some(id),
            created_at: now,
            expires_at: None,
            used: false,
            revoked: false,
            ticket: None,
            version: 0,
        },
    )?;
    let mut shown = key;
    shown.token_hash.clear();
    Ok((shown, secret))
}

/// List a workspace's API keys (prefixes only).
pub fn list_api_keys(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Vec<ApiKey>> {
    let list: ApiKeyList = read(kv, &keys::api_keys(ws))?.unwrap_or_default();
    Ok(list
        .keys
        .into_iter()
        .map(|mut k| {
            k.token_hash.clear();
            k
        })
        .collect())
}

/// Revoke an API key: it stops working on the very next request.
pub fn revoke_api_key(kv: &dyn Kv, ws: &WorkspaceId, id: &ApiKeyId) -> Result<()> {
    let mut hash = None;
    update(kv, &keys::api_keys(ws), |l: &mut ApiKeyList| {
        let k = l
            .keys
            .iter_mut()
            .find(|k| &k.id == id)
            .ok_or(Error::NotFound)?;
        k.revoked = true;
        hash = Some(k.token_hash.clone());
        Ok(())
    })?;
    let hash = hash.ok_or(Error::NotFound)?;
    update(kv, &keys::token(ws, &hash), |r: &mut TokenRecord| {
        r.revoked = true;
        Ok(())
    })?;
    Ok(())
}

/// Check an API key (`tsk_<workspace>.<token>`); returns its workspace and id.
pub fn authenticate_api_key(
    kv: &dyn Kv,
    secret: &str,
    now: Millis,
) -> Result<(WorkspaceId, ApiKeyId)> {
    let cred = secret.strip_prefix("tsk_").ok_or(Error::Unauthenticated)?;
    let (ws, tok) = split(cred)?;
    let (_, rec) = lookup(kv, &ws, Purpose::ApiKey, tok)?;
    if !rec.live(Purpose::ApiKey, now) {
        return Err(Error::Unauthenticated);
    }
    Ok((ws, rec.key_id.ok_or(Error::Unauthenticated)?))
}

/// The workspace of an API key secret (`tsk_<workspace>.<token>`) and the
/// key of its record, which [`authenticate_api_key`] reads: for reading it
/// ahead, with other keys, in one batch. `None` when it is not well formed.
pub fn api_key_record(secret: &str) -> Option<(WorkspaceId, String)> {
    let (ws, tok) = split(secret.strip_prefix("tsk_")?).ok()?;
    let key = keys::token(&ws, &token::hash(Purpose::ApiKey, tok));
    Some((ws, key))
}

/// The workspace of a session cookie's value and the key of its record,
/// which [`session_user`] reads (see [`api_key_record`]).
pub fn session_record(cookie: &str) -> Option<(WorkspaceId, String)> {
    let (ws, tok) = split(cookie).ok()?;
    let key = keys::token(&ws, &token::hash(Purpose::Session, tok));
    Some((ws, key))
}

/// Start a browser session for a user; returns the cookie value.
pub fn create_session(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    user: &UserId,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    start_session(kv, ws, user, None, now, random)
}

/// Start a browser session that reaches one ticket only (an accepted
/// invitation: the link holder reads and replies to that ticket, nothing
/// else of the account); returns the cookie value.
pub fn create_ticket_session(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    user: &UserId,
    ticket: TicketNo,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    start_session(kv, ws, user, Some(ticket), now, random)
}

fn start_session(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    user: &UserId,
    ticket: Option<TicketNo>,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    issue(
        kv,
        ws,
        Purpose::Session,
        TokenRecord {
            purpose: purpose_name(Purpose::Session),
            user: Some(user.clone()),
            key_id: None,
            created_at: now,
            expires_at: Some(now + SESSION_LIFETIME),
            used: false,
            revoked: false,
            ticket,
            version: 0,
        },
        random,
    )
}

/// Who a live session cookie belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The workspace.
    pub ws: WorkspaceId,
    /// The user.
    pub user: UserId,
    /// The one ticket the session reaches (a session from an invitation);
    /// `None` for a session from a login link (the whole account).
    pub ticket: Option<TicketNo>,
}

/// The session behind a cookie value.
pub fn session_user(kv: &dyn Kv, cookie: &str, now: Millis) -> Result<Session> {
    let (ws, tok) = split(cookie)?;
    let (_, rec) = lookup(kv, &ws, Purpose::Session, tok)?;
    if !rec.live(Purpose::Session, now) {
        return Err(Error::Unauthenticated);
    }
    Ok(Session {
        ws,
        user: rec.user.ok_or(Error::Unauthenticated)?,
        ticket: rec.ticket,
    })
}

/// End a session (logout); unknown sessions are fine.
pub fn end_session(kv: &dyn Kv, cookie: &str) -> Result<()> {
    let Ok((ws, tok)) = split(cookie) else {
        return Ok(());
    };
    kv.delete(&keys::token(&ws, &token::hash(Purpose::Session, tok)))?;
    Ok(())
}

/// Mint a single-use login link token (`<workspace>.<token>`) for a user.
pub fn mint_login(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    user: &UserId,
    now: Millis,
    random: [u8; 32],
) -> Result<String> {
    issue(
        kv,
        ws,
        Purpose::Login,
        TokenRecord {
            purpose: purpose_name(Purpose::Login),
            user: Some(user.clone()),
            key_id: None,
            created_at: now,
            expires_at: Some(now + LOGIN_LINK_LIFETIME),
            used: false,
            revoked: false,
            ticket: None,
            version: 0,
        },
        random,
    )
}

/// Check a login link without using it (for the page a GET shows).
pub fn peek_login(kv: &dyn Kv, link: &str, now: Millis) -> Result<(WorkspaceId, UserId)> {
    let (ws, tok) = split(link).map_err(|_| Error::NotFound)?;
    let (_, rec) =
        lookup(kv, &ws, Purpose::Login, tok).map_err(|e| e.unless_store(Error::NotFound))?;
    if !rec.live(Purpose::Login, now) {
        return Err(Error::NotFound);
    }
    Ok((ws, rec.user.ok_or(Error::NotFound)?))
}

/// Use a login link: exactly one caller succeeds, however many race; used,
/// expired and unknown links are all `NotFound`.
pub fn consume_login(kv: &dyn Kv, link: &str, now: Millis) -> Result<(WorkspaceId, UserId)> {
    let (ws, tok) = split(link).map_err(|_| Error::NotFound)?;
    let (key, _) =
        lookup(kv, &ws, Purpose::Login, tok).map_err(|e| e.unless_store(Error::NotFound))?;
    let rec = update(kv, &key, |r: &mut TokenRecord| {
        if !r.live(Purpose::Login, now) {
            return Err(Error::NotFound);
        }
        r.used = true;
        Ok(())
    })?;
    Ok((ws, rec.user.ok_or(Error::NotFound)?))
}

crate::versioned!(TokenRecord, ApiKeyList);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    #[test]
    fn sessions_and_purposes_are_separate() {
        let kv = MemKv::new();
        let u = UserId::new([1; 16]);
        let s = create_session(&kv, &ws(), &u, 0, [1; 32]).unwrap();
        assert_eq!(
            session_user(&kv, &s, 1).unwrap(),
            Session {
                ws: ws(),
                user: u.clone(),
                ticket: None
            }
        );
        let scoped = create_ticket_session(&kv, &ws(), &u, TicketNo(7), 0, [4; 32]).unwrap();
        assert_eq!(
            session_user(&kv, &scoped, 1).unwrap().ticket,
            Some(TicketNo(7))
        );
        assert!(session_user(&kv, &s, SESSION_LIFETIME).is_err(), "expired");
        assert!(
            consume_login(&kv, &s, 1).is_err(),
            "a session is not a login link"
        );
        end_session(&kv, &s).unwrap();
        assert!(session_user(&kv, &s, 1).is_err());
    }

    #[test]
    fn login_links_are_single_use_under_races() {
        let kv = MemKv::new();
        let u = UserId::new([1; 16]);
        let link = mint_login(&kv, &ws(), &u, 0, [2; 32]).unwrap();
        assert!(peek_login(&kv, &link, 1).is_ok());
        assert!(
            peek_login(&kv, &link, 1).is_ok(),
            "peeking consumes nothing"
        );
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..50)
                .map(|_| s.spawn(|| consume_login(&kv, &link, 1).is_ok() as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
        assert_eq!(consume_login(&kv, &link, 1).unwrap_err(), Error::NotFound);
        let late = mint_login(&kv, &ws(), &u, 0, [3; 32]).unwrap();
        assert_eq!(
            consume_login(&kv, &late, LOGIN_LINK_LIFETIME).unwrap_err(),
            Error::NotFound,
            "expired looks the same"
        );
    }
}

/// Least time between two sign-in emails to one address.
pub const EMAIL_LOGIN_INTERVAL: Millis = 60_000;

/// Whether a sign-in email may go to this address now: at most one per
/// [`EMAIL_LOGIN_INTERVAL`] window, decided by an atomic claim on the
/// window's key (nothing to repair if a request dies half-way).
pub fn may_email_login(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    email_hash: &str,
    now: Millis,
) -> Result<bool> {
    crate::record::claim(
        kv,
        &keys::login_throttle(ws, email_hash, now.div_euclid(EMAIL_LOGIN_INTERVAL)),
    )
}

#[cfg(test)]
mod throttle_tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn one_email_per_minute() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        assert!(may_email_login(&kv, &ws, "h", 0).unwrap());
        assert!(!may_email_login(&kv, &ws, "h", 59_999).unwrap());
        assert!(may_email_login(&kv, &ws, "h", 60_000).unwrap());
        assert!(may_email_login(&kv, &ws, "other", 60_001).unwrap());
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|_| s.spawn(|| may_email_login(&kv, &ws, "race", 5).unwrap() as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }
}
