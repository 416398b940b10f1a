//! Workspaces (tenants), their settings, and users.
//!
//! A workspace is created with the deployment admin token; everything else in
//! it hangs off `ws/<id>/`. Users are upserted by the platform by email (unique
//! per workspace once normalised).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::{UserId, WorkspaceId};
use crate::keys;
use crate::record::{CLAIM_STALE, Claim, acquire, finish, read, release, update, write};
use crate::store::Kv;
use crate::time::{HOUR, Millis};

/// Branding used in emails and pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Company name shown in emails and on pages.
    #[serde(default)]
    pub company_name: String,
    /// Logo URL (https) or empty.
    #[serde(default)]
    pub logo_url: String,
    /// Where the logo links to (https) or empty.
    #[serde(default)]
    pub logo_link: String,
    /// Brand colour as `#rrggbb`.
    #[serde(default = "default_colour")]
    pub brand_colour: String,
}

fn default_colour() -> String {
    "#2f5bd3".into()
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            company_name: String::new(),
            logo_url: String::new(),
            logo_link: String::new(),
            brand_colour: default_colour(),
        }
    }
}

/// Workspace settings (admin-only changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Branding.
    #[serde(default)]
    pub branding: Branding,
    /// Participants feature on.
    #[serde(default)]
    pub participants_enabled: bool,
    /// Email each participant on updates.
    #[serde(default)]
    pub copy_participants: bool,
    /// Unknown email senders become participants instead of quarantine.
    #[serde(default)]
    pub auto_add_senders: bool,
    /// Customers may invite delegates.
    #[serde(default)]
    pub customers_may_invite: bool,
    /// Share link lifetime in hours.
    #[serde(default = "default_share_hours")]
    pub share_link_hours: u32,
    /// Show the staff name on replies.
    #[serde(default)]
    pub sign_replies: bool,
    /// Revoke every external link when a ticket is resolved.
    #[serde(default)]
    pub revoke_on_resolve: bool,
}

fn default_share_hours() -> u32 {
    72
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            branding: Branding::default(),
            participants_enabled: false,
            copy_participants: false,
            auto_add_senders: false,
            customers_may_invite: false,
            share_link_hours: default_share_hours(),
            sign_replies: false,
            revoke_on_resolve: false,
        }
    }
}

impl Settings {
    /// Validate every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let b = &self.branding;
        if b.company_name.chars().count() > 100 {
            return Err(Error::bad(
                "invalid_field",
                "branding.company_name is longer than 100 characters",
            ));
        }
        // It goes into email subjects ("Sign in to <company>").
        crate::header::check_header_field("branding.company_name", &b.company_name)?;
        for (name, url) in [
            ("branding.logo_url", &b.logo_url),
            ("branding.logo_link", &b.logo_link),
        ] {
            if !url.is_empty()
                && (!url.starts_with("https://")
                    || url.len() > 500
                    || url
                        .chars()
                        .any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>'))
            {
                return Err(Error::bad(
                    "invalid_field",
                    format!("{name} must be an https:// URL of at most 500 characters"),
                ));
            }
        }
        let c = b.brand_colour.as_bytes();
        if !(c.len() == 7 && c[0] == b'#' && c[1..].iter().all(u8::is_ascii_hexdigit)) {
            return Err(Error::bad(
                "invalid_field",
                "branding.brand_colour must be a hex colour like #2f5bd3",
            ));
        }
        if !(1..=24 * 90).contains(&self.share_link_hours) {
            return Err(Error::bad(
                "invalid_field",
                "share_link_hours must be between 1 and 2160",
            ));
        }
        Ok(())
    }

    /// Share link lifetime in milliseconds.
    pub fn share_lifetime(&self) -> Millis {
        i64::from(self.share_link_hours) * HOUR
    }

    /// The settings a `PUT` body gives: every setting must be there (a
    /// replacement that left one out would silently reset it to its
    /// default), none unknown. The 400 names every missing field, dotted
    /// (`branding.logo_url`). Not validated yet.
    pub fn from_full_body(body: &Value) -> Result<Settings> {
        let settings: Settings =
            serde_json::from_value(body.clone()).map_err(crate::error::json_error)?;
        let mut missing = Vec::new();
        let all = serde_json::to_value(Settings::default()).map_err(unserialisable)?;
        missing_fields(&all, body, "", &mut missing);
        if !missing.is_empty() {
            return Err(Error::bad(
                "missing_field",
                format!(
                    "missing {}: PUT replaces every setting, so send them all (GET /api/v1/workspace shows the current ones), or PATCH only the ones to change",
                    missing.join(", ")
                ),
            ));
        }
        Ok(settings)
    }

    /// These settings with a `PATCH` body merged in (RFC 7396 JSON merge
    /// patch): fields present replace the current ones, objects merge field
    /// by field, `null` puts a setting back to its default, absent fields
    /// keep their value. Unknown fields and wrong types are refused. Not
    /// validated yet.
    pub fn merged(&self, patch: &Value) -> Result<Settings> {
        if !patch.is_object() {
            return Err(Error::bad(
                "invalid_field",
                "a settings PATCH is a JSON object of the settings to change",
            ));
        }
        let mut current = serde_json::to_value(self).map_err(unserialisable)?;
        merge_patch(&mut current, patch);
        serde_json::from_value(current).map_err(crate::error::json_error)
    }
}

/// Settings always serialise (plain strings, numbers and booleans); should
/// that ever change, it is our fault, not the caller's.
fn unserialisable(e: serde_json::Error) -> Error {
    Error::Store(crate::store::StoreError(format!("settings: {e}")))
}

/// Every field of `template` (an object, recursively) that `body` lacks,
/// as dotted paths under `prefix`. A field of `body` that is not an object
/// where `template` has one is left to the type check.
fn missing_fields(template: &Value, body: &Value, prefix: &str, out: &mut Vec<String>) {
    let (Some(want), Some(have)) = (template.as_object(), body.as_object()) else {
        return;
    };
    for (name, sub) in want {
        let path = format!("{prefix}{name}");
        match have.get(name) {
            None => out.push(path),
            Some(given) => missing_fields(sub, given, &format!("{path}."), out),
        }
    }
}

/// RFC 7396: merge `patch` into `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (name, value) in fields {
            if value.is_null() {
                t.remove(name);
            } else {
                merge_patch(t.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A workspace record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Id (slug).
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Settings.
    pub settings: Settings,
    /// Creation time.
    pub created_at: Millis,
    /// CAS guard.
    pub version: u64,
}

/// A workspace as [`create_workspace_as`] made it.
#[derive(Debug)]
pub struct Created {
    /// The workspace.
    pub workspace: Workspace,
    /// Its new API key and the key's secret (shown once), when asked for.
    pub key: Option<(crate::auth::ApiKey, String)>,
    /// Marking the creation finished failed after the workspace was made:
    /// for the log, never an error (a later request finds it made).
    pub unfinished: Option<Error>,
}

/// Create a workspace (no API key); `Conflict` if the id is taken.
pub fn create_workspace(
    kv: &dyn Kv,
    id: &WorkspaceId,
    name: &str,
    now: Millis,
) -> Result<Workspace> {
    let holder = format!("{:016x}", kv.write_id(&keys::workspace_claim(id)));
    create_workspace_as(kv, id, name, now, &holder, None).map(|c| c.workspace)
}

/// Create a workspace and, with `key_random`, its first API key;
/// `Conflict` if the id is taken or another request is creating it.
///
/// The id is claimed for `holder` ([`acquire`]); the API key list and the
/// key are written next, and the workspace record last: it is the commit
/// point, after which the claim is marked finished. A failure before it
/// releases the claim (a key written by then has a secret nobody saw), so
/// the next request creates the workspace. A request that dies holding the
/// claim is taken over by a request with the same `holder` (its retry, by
/// Idempotency-Key) at once, and by any after [`CLAIM_STALE`]; when it died
/// after the record, the taker completes the creation with a fresh key.
pub fn create_workspace_as(
    kv: &dyn Kv,
    id: &WorkspaceId,
    name: &str,
    now: Millis,
    holder: &str,
    key_random: Option<([u8; 32], [u8; 16])>,
) -> Result<Created> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad(
            "invalid_field",
            "name must be 1 to 100 characters",
        ));
    }
    crate::header::check_header_field("name", name)?;
    let claim_key = keys::workspace_claim(id);
    let key = keys::workspace(id);
    let taken = || Error::Conflict(format!("workspace {id} already exists"));
    // A workspace created before claims had holders: its claim is a counter.
    if kv.get(&key)?.is_some() && !is_claim_record(kv.get(&claim_key)?) {
        return Err(taken());
    }
    let lease = match acquire(kv, &claim_key, holder, now, CLAIM_STALE)? {
        Claim::Held(lease) => lease,
        Claim::Done => return Err(taken()),
        Claim::Busy => {
            return Err(Error::Conflict(format!(
                "workspace {id} is being created by another request; try again"
            )));
        }
    };
    let made = (|| {
        // A record here was written by a creation that died before
        // finishing: completed, with a fresh key.
        let existing = read::<Workspace>(kv, &key)?;
        let list = keys::api_keys(id);
        if kv.get(&list)?.is_none() {
            // A list a dead creation left is kept: its keys stay listed.
            write(kv, &list, &crate::auth::ApiKeyList::default())?;
        }
        let new_key = key_random
            .map(|(r32, r16)| crate::auth::create_api_key(kv, id, "initial", now, r32, r16))
            .transpose()?;
        let ws = match existing {
            Some(ws) => ws,
            None => {
                let ws = Workspace {
                    id: id.clone(),
                    name: name.to_string(),
                    settings: Settings::default(),
                    created_at: now,
                    version: 0,
                };
                write_settled(kv, &key, &ws)?;
                ws
            }
        };
        Ok((ws, new_key))
    })();
    match made {
        Ok((workspace, key)) => Ok(Created {
            workspace,
            key,
            unfinished: finish(kv, lease).err(),
        }),
        Err(e) => {
            // Whoever comes next reads the workspace record first.
            release(kv, lease);
            Err(e)
        }
    }
}

/// Whether a claim key holds a claim record ([`acquire`]), not the counter
/// claims were before they had holders.
fn is_claim_record(bytes: Option<Vec<u8>>) -> bool {
    bytes.is_some_and(|b| serde_json::from_slice::<serde_json::Map<String, Value>>(&b).is_ok())
}

/// Write a record only this request writes (it holds the record's claim);
/// a write whose answer was lost counts when a read finds it.
fn write_settled<T>(kv: &dyn Kv, key: &str, value: &T) -> Result<()>
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq,
{
    match write(kv, key, value) {
        Ok(()) => Ok(()),
        Err(e) => match read::<T>(kv, key) {
            Ok(Some(v)) if &v == value => Ok(()),
            _ => Err(e),
        },
    }
}

/// Read a workspace.
pub fn workspace(kv: &dyn Kv, id: &WorkspaceId) -> Result<Workspace> {
    read(kv, &keys::workspace(id))?.ok_or(Error::NotFound)
}

/// Replace the settings (validated first; nothing written when invalid).
pub fn set_settings(kv: &dyn Kv, id: &WorkspaceId, settings: Settings) -> Result<Workspace> {
    settings.validate()?;
    update(kv, &keys::workspace(id), |w: &mut Workspace| {
        w.settings = settings.clone();
        Ok(())
    })
}

/// Change some settings: `patch` (see [`Settings::merged`]) is merged into
/// the settings as they are inside the compare-and-swap, so concurrent
/// patches of different fields both take effect. Validated; nothing written
/// when invalid.
pub fn patch_settings(kv: &dyn Kv, id: &WorkspaceId, patch: &Value) -> Result<Workspace> {
    update(kv, &keys::workspace(id), |w: &mut Workspace| {
        let settings = w.settings.merged(patch)?;
        settings.validate()?;
        w.settings = settings;
        Ok(())
    })
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in the workspace, every permission.
    Admin,
    /// Works tickets.
    Staff,
    /// A store customer.
    Customer,
}

/// Staff permissions beyond the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// May share tickets with external collaborators.
    ExternalShare,
}

/// A user record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Customer's company, if any.
    pub company: Option<String>,
    /// Staff queues.
    pub queues: Vec<String>,
    /// Staff permissions.
    pub permissions: Vec<Permission>,
    /// Creation time.
    pub created_at: Millis,
    /// CAS guard.
    pub version: u64,
}

impl User {
    /// Whether the user holds a permission (admins hold all).
    pub fn has(&self, p: Permission) -> bool {
        self.role == Role::Admin || (self.role == Role::Staff && self.permissions.contains(&p))
    }

    /// Admin or staff.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Staff)
    }
}

/// Check a queue name: 1-40 letters, digits, `-` or `_`.
pub fn check_queue(q: &str) -> Result<()> {
    let ok = (1..=40).contains(&q.len())
        && q.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::bad(
            "invalid_field",
            format!("queue {q:?} must be 1-40 letters, digits, '-' or '_'"),
        ))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Queues {
    list: Vec<String>,
    version: u64,
}

crate::versioned!(Queues);

/// Every queue a ticket of the workspace has been in (admins' Pending
/// covers them all).
pub fn queues(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Vec<String>> {
    Ok(read::<Queues>(kv, &keys::queues(ws))?
        .map(|q| q.list)
        .unwrap_or_default())
}

/// Remember a queue (once).
pub fn note_queue(kv: &dyn Kv, ws: &WorkspaceId, q: &str) -> Result<()> {
    check_queue(q)?;
    if queues(kv, ws)?.iter().any(|x| x == q) {
        return Ok(());
    }
    let key = keys::queues(ws);
    crate::record::ensure(kv, &key, &Queues::default())?;
    update(kv, &key, |r: &mut Queues| {
        if !r.list.iter().any(|x| x == q) && r.list.len() < 2000 {
            r.list.push(q.to_string());
        }
        Ok(())
    })
    .map(|_| ())
}

/// The one normal form of a company name (trimmed, lowercased), used both to
/// list a company's tickets and to check access to one.
pub fn company_key(name: &str) -> String {
    email_hash(&name.trim().to_lowercase())
}

/// Whether a user of company `a` and a ticket of company `b` belong to the
/// same company (customers of a ticket's company see it). No company is no
/// match.
pub fn same_company(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if company_key(a) == company_key(b))
}

/// Normalise an email address (trim, lowercase) and check its shape.
pub fn normalise_email(email: &str) -> Result<String> {
    let e = email.trim().to_ascii_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.contains("..")
                && e.chars()
                    .all(|c| c.is_ascii_graphic() && c != '<' && c != '>' && c != '"' && c != ',')
                && domain.chars().filter(|c| *c == '@').count() == 0
        });
    if valid {
        Ok(e)
    } else {
        Err(Error::bad(
            "invalid_field",
            format!("{email:?} is not a valid email address"),
        ))
    }
}

/// Hash of a normalised email, used in keys.
pub fn email_hash(normalised: &str) -> String {
    crate::token::hex(&Sha256::digest(normalised.as_bytes()))
}

/// What the platform sends to create or update a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Email (the identity).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Customer's company.
    #[serde(default)]
    pub company: Option<String>,
    /// Staff queues.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Staff permissions.
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// Find a user by email.
pub fn user_by_email(kv: &dyn Kv, ws: &WorkspaceId, email: &str) -> Result<Option<User>> {
    let e = normalise_email(email)?;
    let Some(id) = read::<UserId>(kv, &keys::user_by_email(ws, &email_hash(&e)))? else {
        return Ok(None);
    };
    read(kv, &keys::user(ws, &id))
}

/// Read a user.
pub fn user(kv: &dyn Kv, ws: &WorkspaceId, id: &UserId) -> Result<User> {
    read(kv, &keys::user(ws, id))?.ok_or(Error::NotFound)
}

/// Create or update a user by email. Returns the user and whether it was new.
pub fn upsert_user(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    input: UserInput,
    now: Millis,
    random: [u8; 16],
) -> Result<(User, bool)> {
    upsert_user_as(kv, ws, input, now, &crate::token::hex(&random))
}

/// Create or update a user by email. Returns the user and whether it was
/// new.
///
/// A new email is claimed for `holder` ([`acquire`]); the user record is
/// written next and the email index last: it is the commit point, after
/// which the claim is marked finished. A failure before it releases the
/// claim. A request that dies holding the claim is taken over by a request
/// with the same `holder` (its retry) at once, and by any after
/// [`CLAIM_STALE`]; the new user's id comes from the holder and the email,
/// so a retry, or a duplicate racing with the same holder, makes the same
/// user, never a second one.
pub fn upsert_user_as(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    input: UserInput,
    now: Millis,
    holder: &str,
) -> Result<(User, bool)> {
    let email = normalise_email(&input.email)?;
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad(
            "invalid_field",
            "name must be 1 to 100 characters",
        ));
    }
    // Names greet people in emails and name inviters and sharers.
    crate::header::check_header_field("name", &name)?;
    if input.role == Role::Customer && (!input.queues.is_empty() || !input.permissions.is_empty()) {
        return Err(Error::bad(
            "invalid_field",
            "customers have no queues or permissions",
        ));
    }
    for q in &input.queues {
        check_queue(q)?;
    }
    if let Some(c) = &input.company {
        if c.trim().is_empty() || c.chars().count() > 100 {
            return Err(Error::bad(
                "invalid_field",
                "company must be 1 to 100 characters",
            ));
        }
        crate::header::check_header_field("company", c)?;
    }
    let hash = email_hash(&email);
    let index = keys::user_by_email(ws, &hash);
    let apply = |u: &mut User| {
        u.name = name.clone();
        u.role = input.role;
        u.company = input.company.clone();
        u.queues = input.queues.clone();
        u.permissions = input.permissions.clone();
    };
    // An existing user: update by CAS.
    let existing = |id: UserId| {
        let u = update(kv, &keys::user(ws, &id), |u: &mut User| {
            apply(u);
            Ok(())
        })?;
        sync_staff(kv, ws, &u)?;
        Ok((u, false))
    };
    let claim_key = keys::user_email_claim(ws, &hash);
    for _ in 0..crate::record::MAX_CAS_RETRIES {
        if let Some(id) = read::<UserId>(kv, &index)? {
            return existing(id);
        }
        let lease = match acquire(kv, &claim_key, holder, now, CLAIM_STALE)? {
            Claim::Held(lease) => lease,
            // Another request is creating it: wait for its index entry.
            Claim::Busy | Claim::Done => continue,
        };
        let made = (|| {
            // An index entry written by a holder that died before
            // finishing stands.
            if let Some(id) = read::<UserId>(kv, &index)? {
                return Ok(Err(id));
            }
            let mut u = User {
                id: new_user_id(holder, &hash),
                email: email.clone(),
                name: String::new(),
                role: input.role,
                company: None,
                queues: vec![],
                permissions: vec![],
                created_at: now,
                version: 0,
            };
            apply(&mut u);
            write_settled(kv, &keys::user(ws, &u.id), &u)?;
            write_settled(kv, &index, &u.id)?;
            Ok(Ok(u))
        })();
        return match made {
            Ok(Ok(u)) => {
                let _ = finish(kv, lease);
                sync_staff(kv, ws, &u)?;
                Ok((u, true))
            }
            Ok(Err(id)) => {
                let _ = finish(kv, lease);
                existing(id)
            }
            Err(e) => {
                // Whoever comes next reads the index first.
                release(kv, lease);
                Err(e)
            }
        };
    }
    Err(Error::Conflict(
        "this email is being created by another request; try again".into(),
    ))
}

/// The id of a user created by `holder` for the email with this hash.
fn new_user_id(holder: &str, email_hash: &str) -> UserId {
    let digest = Sha256::new()
        .chain_update(b"ticketshare user id\0")
        .chain_update(holder.as_bytes())
        .chain_update(b"\0")
        .chain_update(email_hash.as_bytes())
        .finalize();
    let mut random = [0; 16];
    random.copy_from_slice(&digest[..16]);
    UserId::new(random)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Staff {
    ids: Vec<UserId>,
    version: u64,
}

crate::versioned!(Staff);

/// Keep the staff directory in step with a user's role (called after
/// every upsert; repeating it is harmless).
fn sync_staff(kv: &dyn Kv, ws: &WorkspaceId, u: &User) -> Result<()> {
    let key = keys::staff(ws);
    let listed = read::<Staff>(kv, &key)?.is_some_and(|s| s.ids.contains(&u.id));
    if listed == u.is_staff() {
        return Ok(());
    }
    crate::record::ensure(kv, &key, &Staff::default())?;
    update(kv, &key, |s: &mut Staff| {
        s.ids.retain(|i| i != &u.id);
        if u.is_staff() {
            s.ids.push(u.id.clone());
        }
        Ok(())
    })
    .map(|_| ())
}

/// Admins and staff of the workspace whose name or email contains `q`
/// (case-insensitive; empty: all), by name.
pub fn staff(kv: &dyn Kv, ws: &WorkspaceId, q: &str) -> Result<Vec<User>> {
    let q = q.trim().to_lowercase();
    let ids = read::<Staff>(kv, &keys::staff(ws))?
        .map(|s| s.ids)
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        if let Ok(u) = user(kv, ws, &id) {
            if u.is_staff()
                && (q.is_empty() || u.name.to_lowercase().contains(&q) || u.email.contains(&q))
            {
                out.push(u);
            }
        }
    }
    out.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
    Ok(out)
}

crate::versioned!(Workspace, User);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    /// API keys need their workspace: the auth module's keys, tested with
    /// the workspace that holds them.
    #[test]
    fn api_keys_work_until_revoked() {
        use crate::auth::{authenticate_api_key, create_api_key, list_api_keys, revoke_api_key};
        let ws = || WorkspaceId::parse("acme").unwrap();
        let kv = MemKv::new();
        assert_eq!(
            create_api_key(&kv, &ws(), "x", 1, [9; 32], [1; 16]).unwrap_err(),
            Error::NotFound,
            "no workspace"
        );
        create_workspace(&kv, &ws(), "Acme", 0).unwrap();
        let (key, secret) = create_api_key(&kv, &ws(), "backend", 1, [9; 32], [1; 16]).unwrap();
        assert!(secret.starts_with("tsk_acme."));
        assert_eq!(
            authenticate_api_key(&kv, &secret, 2).unwrap(),
            (ws(), key.id.clone())
        );
        let listed = list_api_keys(&kv, &ws()).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].token_hash.is_empty() && secret.starts_with(&listed[0].prefix));
        assert!(
            !serde_json::to_string(&listed)
                .unwrap()
                .contains(&secret[9..]),
            "secret never listed"
        );
        revoke_api_key(&kv, &ws(), &key.id).unwrap();
        assert_eq!(
            authenticate_api_key(&kv, &secret, 3).unwrap_err(),
            Error::Unauthenticated
        );
        for bad in [
            "",
            "tsk_",
            "tsk_acme.short",
            "acme.xxx",
            &secret.replace("acme", "other"),
        ] {
            assert!(authenticate_api_key(&kv, bad, 3).is_err(), "{bad}");
        }
    }

    fn input(email: &str, role: Role) -> UserInput {
        UserInput {
            email: email.into(),
            name: "Ann".into(),
            role,
            company: None,
            queues: vec![],
            permissions: vec![],
        }
    }

    #[test]
    fn partial_settings_take_defaults() {
        let s: Settings = serde_json::from_str(r#"{"customers_may_invite": true}"#).unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.branding.brand_colour, "#2f5bd3");
        assert_eq!(s.share_link_hours, 72);
    }

    #[test]
    fn a_full_settings_body_names_every_missing_field() {
        let mut full = serde_json::to_value(Settings::default()).unwrap();
        full["share_link_hours"] = 5.into();
        assert_eq!(Settings::from_full_body(&full).unwrap().share_link_hours, 5);
        let mut partial = full.clone();
        partial.as_object_mut().unwrap().remove("sign_replies");
        partial["branding"]
            .as_object_mut()
            .unwrap()
            .remove("logo_url");
        let e = Settings::from_full_body(&partial).unwrap_err();
        assert_eq!(e.code(), "missing_field");
        assert!(
            e.message().contains("branding.logo_url, sign_replies"),
            "{e}"
        );
        let e = Settings::from_full_body(&serde_json::json!({"sign_replies": true})).unwrap_err();
        for name in ["branding", "share_link_hours", "revoke_on_resolve"] {
            assert!(e.message().contains(name), "{e}");
        }
        assert!(!e.message().contains("sign_replies"), "{e}");
        full["nope"] = true.into();
        assert_eq!(
            Settings::from_full_body(&full).unwrap_err().code(),
            "unknown_field"
        );
    }

    #[test]
    fn a_settings_patch_merges() {
        let mut s = Settings::default();
        s.branding.company_name = "Acme".into();
        s.share_link_hours = 24;
        let p = s
            .merged(
                &serde_json::json!({"sign_replies": true, "branding": {"brand_colour": "#aa0000"}}),
            )
            .unwrap();
        assert!(p.sign_replies);
        assert_eq!(p.branding.brand_colour, "#aa0000");
        assert_eq!(p.branding.company_name, "Acme", "other branding kept");
        assert_eq!(p.share_link_hours, 24, "other settings kept");
        let p = s
            .merged(&serde_json::json!({"share_link_hours": null}))
            .unwrap();
        assert_eq!(p.share_link_hours, 72, "null is the default again");
        for (patch, code) in [
            (serde_json::json!({"nope": 1}), "unknown_field"),
            (
                serde_json::json!({"branding": {"nope": 1}}),
                "unknown_field",
            ),
            (serde_json::json!({"sign_replies": "yes"}), "invalid_field"),
            (serde_json::json!([1]), "invalid_field"),
        ] {
            assert_eq!(s.merged(&patch).unwrap_err().code(), code, "{patch}");
        }
        let kv = MemKv::new();
        let id = WorkspaceId::parse("acme").unwrap();
        create_workspace(&kv, &id, "Acme", 1).unwrap();
        patch_settings(&kv, &id, &serde_json::json!({"share_link_hours": 5})).unwrap();
        let bad = serde_json::json!({"sign_replies": true, "share_link_hours": 0});
        assert_eq!(
            patch_settings(&kv, &id, &bad).unwrap_err().code(),
            "invalid_field"
        );
        let w = workspace(&kv, &id).unwrap();
        assert_eq!(
            (w.settings.share_link_hours, w.settings.sign_replies),
            (5, false)
        );
    }

    #[test]
    fn workspaces_are_unique_and_settings_validated() {
        let kv = MemKv::new();
        let id = WorkspaceId::parse("acme").unwrap();
        create_workspace(&kv, &id, "Acme", 1).unwrap();
        assert_eq!(
            create_workspace(&kv, &id, "Again", 2).unwrap_err().code(),
            "conflict"
        );
        let mut s = Settings::default();
        s.branding.brand_colour = "red".into();
        assert!(set_settings(&kv, &id, s).is_err());
        assert_eq!(
            workspace(&kv, &id).unwrap().settings,
            Settings::default(),
            "nothing written"
        );
        let mut s = Settings::default();
        s.sign_replies = true;
        s.branding.logo_url = "https://cdn.example/logo.png".into();
        assert!(set_settings(&kv, &id, s).unwrap().settings.sign_replies);
        for bad in ["javascript:alert(1)", "http://x.example", "https://a b"] {
            let mut s = Settings::default();
            s.branding.logo_link = bad.into();
            assert!(s.validate().is_err(), "{bad}");
        }
        // The company name goes into email subjects: no control characters
        // nor line separators.
        for bad in ["Acme\r\nBcc: x@y.test", "Acme\0", "Acme\u{2028}Ltd", "A\tB"] {
            let mut s = Settings::default();
            s.branding.company_name = bad.into();
            let e = s.validate().unwrap_err();
            assert!(
                e.message().contains("branding.company_name"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn users_upsert_by_normalised_email() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let (a, new) =
            upsert_user(&kv, &ws, input("Ann@Example.com ", Role::Staff), 1, [1; 16]).unwrap();
        assert!(new);
        assert_eq!(a.email, "ann@example.com");
        let mut again = input("ann@example.COM", Role::Admin);
        again.name = "Ann B".into();
        let (b, new) = upsert_user(&kv, &ws, again, 2, [2; 16]).unwrap();
        assert!(!new);
        assert_eq!(
            (&b.id, b.role, b.name.as_str()),
            (&a.id, Role::Admin, "Ann B")
        );
        assert!(
            b.has(Permission::ExternalShare),
            "admins hold every permission"
        );
        for (name, company) in [
            ("Ann\r\nBcc: x@y.test", None),
            ("Ann\u{2029}B", None),
            ("Ann", Some("Shop\nLtd")),
        ] {
            let mut bad = input("new@example.com", Role::Customer);
            bad.name = name.into();
            bad.company = company.map(Into::into);
            let e = upsert_user(&kv, &ws, bad, 3, [4; 16]).unwrap_err();
            assert_eq!(e.code(), "invalid_field", "{name:?}");
            assert!(
                user_by_email(&kv, &ws, "new@example.com")
                    .unwrap()
                    .is_none()
            );
        }
        for bad in ["nope", "a@b", "@x.com", "a@.com", "a b@x.com"] {
            assert!(
                upsert_user(&kv, &ws, input(bad, Role::Customer), 3, [3; 16]).is_err(),
                "{bad}"
            );
        }
        let mut cust = input("c@x.com", Role::Customer);
        cust.permissions = vec![Permission::ExternalShare];
        assert!(upsert_user(&kv, &ws, cust, 3, [3; 16]).is_err());
    }

    #[test]
    fn concurrent_upserts_make_one_user() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let ids: Vec<UserId> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8u8)
                .map(|i| {
                    let kv = &kv;
                    let ws = &ws;
                    s.spawn(move || {
                        upsert_user(kv, ws, input("x@y.com", Role::Customer), 1, [i; 16])
                            .unwrap()
                            .0
                            .id
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }
}

#[cfg(test)]
mod claim_tests {
    //! Creating a user by email and the records that start from a default
    //! (queues, staff) complete, or are taken over by a later request,
    //! whatever the store answers; none strands its name.
    use super::*;
    use crate::store::{
        Fault, Faulty, MemKv, Op, die_at, overwritten, racing_first_write, spin_redis,
    };
    use std::cell::Cell;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::rc::Rc;

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    fn input(email: &str, role: Role) -> UserInput {
        UserInput {
            email: email.into(),
            name: "Ann".into(),
            role,
            company: None,
            queues: vec![],
            permissions: vec![],
        }
    }

    const T: Millis = 1_000_000;

    #[test]
    fn on_spin_redis_a_user_creation_that_died_is_completed_by_its_retry_at_once() {
        let kv = spin_redis();
        die_at("/user/", 1);
        let died = catch_unwind(AssertUnwindSafe(|| {
            upsert_user_as(&kv, &ws(), input("a@x.test", Role::Staff), T, "h1")
        }));
        assert!(died.is_err(), "the first attempt died after its claim");
        // Another request waits for the creation in progress...
        let e = upsert_user_as(&kv, &ws(), input("a@x.test", Role::Staff), T, "h2").unwrap_err();
        assert_eq!(e.code(), "conflict", "{e}");
        // ...while the first one's retry (same holder) completes it at once.
        let (u, new) =
            upsert_user_as(&kv, &ws(), input("a@x.test", Role::Staff), T + 1, "h1").unwrap();
        assert!(new);
        assert_eq!(
            user_by_email(&kv, &ws(), "a@x.test").unwrap(),
            Some(u.clone())
        );
        assert_eq!(staff(&kv, &ws(), "").unwrap(), vec![u.clone()]);
        let (again, new) =
            upsert_user_as(&kv, &ws(), input("a@x.test", Role::Staff), T + 2, "h2").unwrap();
        assert_eq!((again.id, new), (u.id, false));
    }

    #[test]
    fn on_spin_redis_a_user_creation_that_died_is_taken_over_after_a_minute() {
        let kv = spin_redis();
        die_at("/user-email/", 1);
        let died = catch_unwind(AssertUnwindSafe(|| {
            upsert_user_as(&kv, &ws(), input("a@x.test", Role::Customer), T, "h1")
        }));
        assert!(died.is_err());
        let busy = upsert_user_as(
            &kv,
            &ws(),
            input("a@x.test", Role::Customer),
            T + CLAIM_STALE - 1,
            "h2",
        );
        assert_eq!(busy.unwrap_err().code(), "conflict");
        let (u, new) = upsert_user_as(
            &kv,
            &ws(),
            input("a@x.test", Role::Customer),
            T + CLAIM_STALE,
            "h2",
        )
        .unwrap();
        assert!(new);
        assert_eq!(user_by_email(&kv, &ws(), "a@x.test").unwrap(), Some(u));
    }

    #[test]
    fn a_user_creation_whose_index_write_failed_or_lost_its_answer_leaves_one_user() {
        // The index write's answer is lost: it landed, so the user is made.
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/user-email/") => Fault::After,
            _ => Fault::Pass,
        });
        let (u, new) =
            upsert_user(&kv, &ws(), input("a@x.test", Role::Customer), T, [1; 16]).unwrap();
        assert!(new);
        let (again, new) =
            upsert_user(&kv, &ws(), input("a@x.test", Role::Customer), T, [2; 16]).unwrap();
        assert_eq!((&again.id, new), (&u.id, false));
        // The index write fails: nothing is made, and the next request,
        // at once, makes the user.
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/user-email/") => Fault::Before,
            _ => Fault::Pass,
        });
        assert!(upsert_user(&kv, &ws(), input("a@x.test", Role::Customer), T, [1; 16]).is_err());
        kv.arm(false);
        let (u, new) =
            upsert_user(&kv, &ws(), input("a@x.test", Role::Customer), T, [2; 16]).unwrap();
        assert!(new);
        assert_eq!(user_by_email(&kv, &ws(), "a@x.test").unwrap(), Some(u));
    }

    #[test]
    fn a_retry_racing_its_first_attempt_returns_the_same_user() {
        let hash = email_hash("a@x.test");
        let theirs: Rc<Cell<Option<UserId>>> = Rc::default();
        let seen = theirs.clone();
        let kv = racing_first_write(&keys::user_by_email(&ws(), &hash), move |inner| {
            let r = upsert_user_as(inner, &ws(), input("a@x.test", Role::Customer), T, "h1");
            seen.set(Some(r.unwrap().0.id));
        });
        let (u, new) =
            upsert_user_as(&kv, &ws(), input("a@x.test", Role::Customer), T, "h1").unwrap();
        assert!(new);
        assert_eq!(theirs.take(), Some(u.id.clone()), "one user, not two");
        assert_eq!(
            user_by_email(&kv, &ws(), "a@x.test").unwrap().unwrap().id,
            u.id
        );
    }

    #[test]
    fn the_staff_directory_is_never_written_over_a_concurrent_change() {
        let added = Rc::new(Cell::new(false));
        let flag = added.clone();
        let kv = racing_first_write(&keys::staff(&ws()), move |inner| {
            let r = upsert_user(inner, &ws(), input("a@x.test", Role::Staff), T, [1; 16]);
            flag.set(r.is_ok());
        });
        upsert_user(&kv, &ws(), input("b@x.test", Role::Staff), T, [2; 16]).unwrap();
        assert!(!overwritten());
        let listed: Vec<String> = staff(&kv, &ws(), "")
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert!(listed.contains(&"b@x.test".to_string()), "{listed:?}");
        if added.get() {
            assert!(listed.contains(&"a@x.test".to_string()), "{listed:?}");
        }
    }

    #[test]
    fn the_queue_list_is_never_written_over_a_concurrent_change() {
        let added = Rc::new(Cell::new(false));
        let flag = added.clone();
        let kv = racing_first_write(&keys::queues(&ws()), move |inner| {
            flag.set(note_queue(inner, &ws(), "theirs").is_ok());
        });
        note_queue(&kv, &ws(), "mine").unwrap();
        assert!(!overwritten());
        let listed = queues(&kv, &ws()).unwrap();
        assert!(listed.contains(&"mine".to_string()), "{listed:?}");
        if added.get() {
            assert!(listed.contains(&"theirs".to_string()), "{listed:?}");
        }
        note_queue(&kv, &ws(), "later").unwrap();
        assert_eq!(queues(&kv, &ws()).unwrap().len(), listed.len() + 1);
    }
}

/// Largest uploaded logo, in bytes.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The uploaded logo's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logo {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub content_type: String,
    /// Content hash (hex SHA-256), names the blob.
    pub etag: String,
    /// Size in bytes.
    pub size: usize,
}

/// Check that `bytes` really are an image of the declared raster type (SVG is
/// refused: it can carry script).
pub fn sniff_logo(content_type: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(Error::PayloadTooLarge(MAX_LOGO_BYTES));
    }
    let ok = match content_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => return Err(Error::UnsupportedMediaType),
    };
    if !ok {
        return Err(Error::bad(
            "invalid_image",
            format!("the body is not a {content_type} image"),
        ));
    }
    Ok(())
}

/// Store an uploaded logo: the blob under its hash first, then the metadata
/// pointing at it, then the previous blob is removed.
pub fn set_logo(kv: &dyn Kv, ws: &WorkspaceId, content_type: &str, bytes: &[u8]) -> Result<Logo> {
    sniff_logo(content_type, bytes)?;
    workspace(kv, ws)?;
    let etag: String = crate::token::hex(&Sha256::digest(bytes));
    kv.set(&keys::logo_blob(ws, &etag), bytes)?;
    let previous = read::<Logo>(kv, &keys::logo_meta(ws))?;
    let logo = Logo {
        content_type: content_type.to_string(),
        etag,
        size: bytes.len(),
    };
    write(kv, &keys::logo_meta(ws), &logo)?;
    if let Some(p) = previous {
        if p.etag != logo.etag {
            kv.delete(&keys::logo_blob(ws, &p.etag))?;
        }
    }
    Ok(logo)
}

/// The uploaded logo's metadata, if any (one read; the bytes stay where they are).
pub fn logo_meta(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Option<Logo>> {
    read::<Logo>(kv, &keys::logo_meta(ws))
}

/// The uploaded logo and its bytes, if any.
pub fn logo(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Option<(Logo, Vec<u8>)>> {
    let Some(meta) = logo_meta(kv, ws)? else {
        return Ok(None);
    };
    Ok(kv.get(&keys::logo_blob(ws, &meta.etag))?.map(|b| (meta, b)))
}

#[cfg(test)]
mod logo_tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn logos_are_sniffed_and_replaced() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        create_workspace(&kv, &ws, "Acme", 0).unwrap();
        let png = b"\x89PNG\r\n\x1a\nrest-of-image".to_vec();
        assert_eq!(
            set_logo(&kv, &ws, "image/svg+xml", b"<svg/>")
                .unwrap_err()
                .code(),
            "unsupported_media_type"
        );
        assert_eq!(
            set_logo(&kv, &ws, "image/png", b"GIF89a...")
                .unwrap_err()
                .code(),
            "invalid_image"
        );
        assert_eq!(
            set_logo(&kv, &ws, "image/png", &vec![0; MAX_LOGO_BYTES + 1])
                .unwrap_err()
                .code(),
            "payload_too_large"
        );
        let first = set_logo(&kv, &ws, "image/png", &png).unwrap();
        let gif = b"GIF89a-another".to_vec();
        set_logo(&kv, &ws, "image/gif", &gif).unwrap();
        let (meta, bytes) = logo(&kv, &ws).unwrap().unwrap();
        assert_eq!((meta.content_type.as_str(), bytes), ("image/gif", gif));
        assert!(
            kv.get(&keys::logo_blob(&ws, &first.etag))
                .unwrap()
                .is_none(),
            "old blob removed"
        );
    }
}
