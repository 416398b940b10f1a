//! Inbound email: the providers' webhooks (Postmark's JSON behind basic
//! auth credentials in the URL; Mailgun's form with a `timestamp`/`token`/
//! `signature` HMAC), each verified before its body is parsed; routing a
//! message to its ticket by the per-ticket reply address
//! (`reply+<reference>@<reply domain>`, unguessable) or by the
//! `In-Reply-To`/`References` headers of our own outgoing mail; stripping
//! quoted history and signatures; duplicate deliveries (same Message-ID)
//! posted once, and a delivery that failed or died taken over by the
//! provider's retry; and the quarantine where mail from an address that is
//! not on the ticket waits for staff.

use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{TicketNo, WorkspaceId, encode_random};
use crate::keys;
use crate::record::{Claim, Lease, acquire_after_claim, read, read_counter, update, write};
use crate::seal::SealKey;
use crate::store::Kv;
use crate::time::Millis;
use crate::token;

/// Largest inbound webhook body (mail with attachments, base64 in JSON).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How far a Mailgun timestamp may be from our clock.
pub const MAX_SKEW: Millis = 300_000;
/// How long a delivery holds its Message-ID (and Mailgun token) before a
/// redelivery may take it over: longer than any request runs, so only a
/// delivery that died (or lost the store's answers) is taken over.
pub const DELIVERY_TAKEOVER: Millis = 60_000;
/// Longest text kept from a message, in bytes.
pub const MAX_TEXT_BYTES: usize = crate::thread::MAX_MESSAGE_BYTES;

/// A workspace's inbound settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// SHA-256 (hex) of the Postmark basic-auth password.
    pub postmark_hash: Option<String>,
    /// The Mailgun webhook signing key, sealed.
    pub mailgun_key: Option<String>,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Config);

/// The workspace's inbound settings (defaults when never set).
pub fn config(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Config> {
    Ok(read(kv, &keys::inbound_config(ws))?.unwrap_or_default())
}

fn change_config(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    f: impl FnMut(&mut Config) -> Result<()>,
) -> Result<Config> {
    let key = keys::inbound_config(ws);
    crate::record::ensure(kv, &key, &Config::default())?;
    update(kv, &key, f)
}

/// The user name in Postmark's credentials.
pub const POSTMARK_USER: &str = "inbound";

/// New Postmark credentials: returns the password (put it in the webhook
/// URL; only its hash is kept).
pub fn set_postmark(kv: &dyn Kv, ws: &WorkspaceId, random: [u8; 32]) -> Result<String> {
    let password = token::new_token(random);
    let hash = sha_hex(password.as_bytes());
    change_config(kv, ws, |c| {
        c.postmark_hash = Some(hash.clone());
        Ok(())
    })?;
    Ok(password)
}

/// Store Mailgun's signing key (sealed: it is needed to check signatures).
pub fn set_mailgun(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    signing_key: &str,
    key: &SealKey,
    random: [u8; 32],
) -> Result<()> {
    let k = signing_key.trim();
    if k.len() < 16 || k.len() > 200 || !k.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(Error::bad(
            "invalid_field",
            "signing_key: the Mailgun webhook signing key (16-200 visible characters)",
        ));
    }
    let sealed = crate::seal::seal(key, random, k.as_bytes());
    change_config(kv, ws, |c| {
        c.mailgun_key = Some(sealed.clone());
        Ok(())
    })?;
    Ok(())
}

fn sha_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::token::hex(&Sha256::digest(b))
}

/// Check Postmark's basic-auth header against the stored credentials, in
/// constant time (lengths first). Any failure is `Unauthenticated`.
pub fn verify_postmark(cfg: &Config, authorization: Option<&str>) -> Result<()> {
    let stored = cfg.postmark_hash.as_deref().ok_or(Error::Unauthenticated)?;
    let b64 = authorization
        .and_then(|a| a.strip_prefix("Basic "))
        .ok_or(Error::Unauthenticated)?;
    let decoded = token::base64_std_decode(b64.trim()).ok_or(Error::Unauthenticated)?;
    let text = String::from_utf8(decoded).map_err(|_| Error::Unauthenticated)?;
    let (user, password) = text.split_once(':').ok_or(Error::Unauthenticated)?;
    let user_ok = token::ct_eq(user.as_bytes(), POSTMARK_USER.as_bytes());
    let pass_ok = token::ct_eq(sha_hex(password.as_bytes()).as_bytes(), stored.as_bytes());
    if user_ok & pass_ok {
        Ok(())
    } else {
        Err(Error::Unauthenticated)
    }
}

/// The signature fields of a Mailgun delivery (its form's `timestamp`,
/// `token` and `signature`).
#[derive(Debug, Clone, Copy)]
pub struct MailgunSignature<'a> {
    /// Seconds since the Unix epoch, as sent.
    pub timestamp: &'a str,
    /// The delivery's random token (used once).
    pub token: &'a str,
    /// Hex HMAC-SHA256 of `timestamp + token`.
    pub signature: &'a str,
}

/// Check Mailgun's signature: hex HMAC-SHA256 of `timestamp + token` with
/// the signing key, the timestamp within ±[`MAX_SKEW`], and each token
/// used once (a replay is refused). The token is held by this delivery
/// (`holder`, fresh per request): the caller [`crate::record::finish`]es
/// the lease when the delivery is done (posted, held, or refused for good)
/// and [`crate::record::release`]s it when it failed, so the provider's
/// retry (the same signature) is taken; one that died is taken over after
/// [`DELIVERY_TAKEOVER`].
pub fn verify_mailgun(
    ctx: &Ctx,
    cfg: &Config,
    key: &SealKey,
    signed: &MailgunSignature,
    holder: &str,
) -> Result<Lease> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let MailgunSignature {
        timestamp,
        token: tok,
        signature,
    } = *signed;
    let sealed = cfg.mailgun_key.as_deref().ok_or(Error::Unauthenticated)?;
    let signing = crate::seal::open(key, sealed).ok_or(Error::Unauthenticated)?;
    if tok.is_empty() || tok.len() > 200 || signature.len() != 64 {
        return Err(Error::Unauthenticated);
    }
    let mac = token::hmac_sha256(&signing, format!("{timestamp}{tok}").as_bytes());
    let expected: String = crate::token::hex(&mac);
    if !token::ct_eq(
        expected.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(Error::Unauthenticated);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Error::Unauthenticated)?;
    if (now - ts * 1000).abs() > MAX_SKEW {
        return Err(Error::bad(
            "stale_timestamp",
            "the signature's timestamp is more than 300 s from our clock",
        ));
    }
    let token_key = keys::mailgun_token(ws, &sha_hex(tok.as_bytes()));
    match acquire_after_claim(kv, &token_key, holder, now, DELIVERY_TAKEOVER)? {
        Claim::Held(lease) => Ok(lease),
        Claim::Done => Err(Error::Conflict(
            "this signature token was used already (a replay)".into(),
        )),
        Claim::Busy => Err(Error::Conflict(
            "a delivery with this signature token is being processed; try again later".into(),
        )),
    }
}

/// A received email, from either provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Email {
    /// Sender address.
    pub from: String,
    /// Sender name, if given.
    pub from_name: String,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// The new text (quoted history and signature removed).
    pub text: String,
    /// The Message-ID header (or the provider's id).
    pub message_id: String,
    /// Message ids from `In-Reply-To` and `References`.
    pub references: Vec<String>,
    /// The provider found the sender forged (SPF or DKIM failed).
    pub unverified_sender: bool,
    /// An automatic message (out-of-office, bounce, list mail).
    pub automatic: bool,
}

/// Whether SPF or DKIM verdicts say the sender is forged.
fn failed_verdict(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    v.starts_with("fail") || v.starts_with("softfail")
}

/// Whether `Auto-Submitted` / `Precedence` mark an automatic message.
fn automatic_headers(auto_submitted: &str, precedence: &str) -> bool {
    let a = auto_submitted.trim().to_ascii_lowercase();
    let p = precedence.trim().to_ascii_lowercase();
    (!a.is_empty() && a != "no") || matches!(p.as_str(), "bulk" | "junk" | "list" | "auto_reply")
}

fn ids_in(header: &str) -> Vec<String> {
    header
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .filter(|s| !s.is_empty() && s.contains('@'))
        .collect()
}

fn addresses(s: &str) -> Vec<String> {
    s.split(',')
        .filter_map(|a| {
            let a = a.trim();
            let a = match (a.rfind('<'), a.rfind('>')) {
                (Some(i), Some(j)) if i < j => &a[i + 1..j],
                _ => a,
            };
            crate::workspace::normalise_email(a).ok()
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PmHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PmAddress {
    email: String,
    #[serde(default)]
    name: String,
}

/// Postmark's inbound JSON (only the fields we use; the rest is ignored, as
/// Postmark adds fields over time).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Postmark {
    #[serde(default)]
    from: String,
    from_full: Option<PmAddress>,
    #[serde(default)]
    to: String,
    #[serde(default)]
    to_full: Vec<PmAddress>,
    #[serde(default)]
    cc_full: Vec<PmAddress>,
    #[serde(default)]
    original_recipient: String,
    #[serde(default)]
    subject: String,
    #[serde(rename = "MessageID", default)]
    message_id: String,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    stripped_text_reply: String,
    #[serde(default)]
    headers: Vec<PmHeader>,
}

/// Parse Postmark's inbound JSON (call after [`verify_postmark`]).
pub fn parse_postmark(body: &[u8]) -> Result<Email> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let p: Postmark = serde_json::from_slice(body).map_err(crate::error::json_error)?;
    let header = |n: &str| {
        p.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n))
            .map(|h| h.value.clone())
            .unwrap_or_default()
    };
    let (from, from_name) = match &p.from_full {
        Some(a) => (a.email.clone(), a.name.clone()),
        None => (p.from.clone(), String::new()),
    };
    let mut to: Vec<String> = p
        .to_full
        .iter()
        .chain(&p.cc_full)
        .filter_map(|a| crate::workspace::normalise_email(&a.email).ok())
        .collect();
    to.extend(addresses(&p.to));
    to.extend(addresses(&p.original_recipient));
    let mut references = ids_in(&header("In-Reply-To"));
    references.extend(ids_in(&header("References")));
    let message_id = ids_in(&header("Message-ID"))
        .into_iter()
        .next()
        .unwrap_or(p.message_id.clone());
    let text = if p.stripped_text_reply.trim().is_empty() {
        strip_quoted(&p.text_body)
    } else {
        strip_quoted(&p.stripped_text_reply)
    };
    let unverified_sender = failed_verdict(&header("Received-SPF"))
        || header("Authentication-Results")
            .to_ascii_lowercase()
            .contains("dkim=fail");
    let automatic = automatic_headers(&header("Auto-Submitted"), &header("Precedence"));
    finish(Email {
        from,
        from_name,
        to,
        subject: p.subject,
        text,
        message_id,
        references,
        unverified_sender,
        automatic,
    })
}

fn finish(mut e: Email) -> Result<Email> {
    e.from = crate::workspace::normalise_email(&e.from)
        .map_err(|_| Error::bad("invalid_field", "the sender address is not valid"))?;
    if e.message_id.trim().is_empty() {
        return Err(Error::bad("missing_field", "the message has no Message-ID"));
    }
    if e.message_id.len() > 500 {
        return Err(Error::bad("invalid_field", "Message-ID is too long"));
    }
    if e.text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !e.text.is_char_boundary(cut) {
            cut -= 1;
        }
        e.text.truncate(cut);
    }
    // Both may reach email headers (a ticket's subject, a participant's
    // name): nothing that breaks a header line is kept.
    e.subject = e
        .subject
        .chars()
        .filter(|c| !crate::header::breaks_header(*c))
        .take(200)
        .collect();
    e.from_name = e
        .from_name
        .chars()
        .filter(|c| !crate::header::breaks_header(*c))
        .take(100)
        .collect();
    e.to.dedup();
    Ok(e)
}

/// The fields of a Mailgun form (multipart or urlencoded).
pub struct MailgunForm {
    fields: Vec<(String, String)>,
}

impl MailgunForm {
    /// Read the form fields (files are ignored).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<MailgunForm> {
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
        }
        let lower = content_type.to_ascii_lowercase();
        let fields = if lower.starts_with("multipart/form-data") {
            crate::attachments::parse_multipart(content_type, body)?
                .into_iter()
                .filter(|p| p.filename.is_none())
                .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
                .collect()
        } else if lower.starts_with("application/x-www-form-urlencoded") {
            crate::form::pairs(body)
        } else {
            return Err(Error::UnsupportedMediaType);
        };
        Ok(MailgunForm { fields })
    }

    /// A field's value (first occurrence).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The email it carries (call after [`verify_mailgun`]).
    pub fn email(&self) -> Result<Email> {
        let from_field = if self.get("sender").is_empty() {
            self.get("from")
        } else {
            self.get("sender")
        };
        let from = addresses(from_field).into_iter().next().unwrap_or_default();
        let from_name = self
            .get("from")
            .split('<')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_string();
        let mut to = addresses(self.get("recipient"));
        to.extend(addresses(self.get("To")));
        let mut references = ids_in(self.get("In-Reply-To"));
        references.extend(ids_in(self.get("References")));
        let message_id = ids_in(self.get("Message-Id"))
            .into_iter()
            .next()
            .unwrap_or_default();
        let stripped = self.get("stripped-text");
        let text = strip_quoted(if stripped.trim().is_empty() {
            self.get("body-plain")
        } else {
            stripped
        });
        let unverified_sender = failed_verdict(self.get("X-Mailgun-Spf"))
            || failed_verdict(self.get("X-Mailgun-Dkim-Check-Result"));
        let automatic = automatic_headers(self.get("Auto-Submitted"), self.get("Precedence"));
        finish(Email {
            from,
            from_name,
            to,
            subject: self.get("subject").to_string(),
            text,
            message_id,
            references,
            unverified_sender,
            automatic,
        })
    }
}

/// The new part of a reply: everything before the quoted history (`On …
/// wrote:`, `-----Original Message-----`, `From: …` headers, `>` lines)
/// and before the signature (`-- `).
pub fn strip_quoted(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out: Vec<&str> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        let wrote = (t.starts_with("On ") || t.starts_with("Le ") || t.starts_with("Am "))
            && (t.ends_with("wrote:")
                || t.ends_with("a écrit :")
                || t.ends_with("schrieb:")
                || (next.ends_with("wrote:") && !next.starts_with('>')));
        if wrote
            || t.starts_with("-----Original Message-----")
            || t.starts_with("________________________________")
            || (t.starts_with("From:") && (next.starts_with("Sent:") || next.starts_with("Date:")))
            || *line == "-- "
            || t == "--"
            || t.starts_with('>')
        {
            break;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

/// A ticket's unguessable reply reference (made on first use: a change
/// staff see, so its change markers are touched, [`crate::marks`]).
pub fn reply_reference(ctx: &crate::ctx::Ctx, no: TicketNo, random: [u8; 32]) -> Result<String> {
    let (kv, ws) = (ctx.kv, ctx.ws);
    if let Some(r) = crate::thread::ticket(kv, ws, no)?.reply_ref {
        return Ok(r);
    }
    let fresh = encode_random(&random);
    let mut chosen = String::new();
    let t = update(kv, &keys::ticket(ws, no), |t: &mut crate::model::Ticket| {
        if t.reply_ref.is_none() {
            t.reply_ref = Some(fresh.clone());
        }
        chosen = t.reply_ref.clone().unwrap_or_default();
        Ok(())
    })?;
    crate::marks::ticket_changed(ctx, &t, &[], crate::marks::Seen::Staff);
    // Written once per reference; the same bytes if two requests race.
    write(kv, &keys::reply_ref(ws, &sha_hex(chosen.as_bytes())), &no)?;
    Ok(chosen)
}

/// The reply address of a reference.
pub fn reply_address(reference: &str, domain: &str) -> String {
    format!("reply+{reference}@{domain}")
}

/// Remember the Message-ID of an email we sent about a ticket, so replies
/// that only carry `In-Reply-To`/`References` find their ticket.
pub fn remember_message_id(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    message_id: &str,
    no: TicketNo,
) -> Result<()> {
    let id = message_id.trim_start_matches('<').trim_end_matches('>');
    write(kv, &keys::mail_message_id(ws, &sha_hex(id.as_bytes())), &no)
}

/// The ticket an email is for: a reply address first, then the headers.
pub fn route(kv: &dyn Kv, ws: &WorkspaceId, e: &Email) -> Result<Option<TicketNo>> {
    for to in &e.to {
        let local = to.split('@').next().unwrap_or("");
        if let Some(r) = local.strip_prefix("reply+") {
            if let Some(no) = read::<TicketNo>(kv, &keys::reply_ref(ws, &sha_hex(r.as_bytes())))? {
                return Ok(Some(no));
            }
        }
    }
    for id in &e.references {
        if let Some(no) = read::<TicketNo>(kv, &keys::mail_message_id(ws, &sha_hex(id.as_bytes())))?
        {
            return Ok(Some(no));
        }
    }
    Ok(None)
}

/// Most keys [`delivery_keys`] names (an email may list many addresses
/// and references; the rest are read when [`route`] gets to them).
pub const MAX_DELIVERY_KEYS: usize = 16;

/// What a delivery of `e` reads once it is verified, known from the email
/// alone, to read ahead in one batch: its Message-ID's claim, what
/// [`route`] looks up (reply addresses, then references), and the sender's
/// user by address.
pub fn delivery_keys(ws: &WorkspaceId, e: &Email) -> Vec<String> {
    let mut out = vec![keys::inbound_message_id(
        ws,
        &sha_hex(e.message_id.as_bytes()),
    )];
    if let Ok(from) = crate::workspace::normalise_email(&e.from) {
        out.push(keys::user_by_email(
            ws,
            &crate::workspace::email_hash(&from),
        ));
    }
    let refs = e.to.iter().filter_map(|to| {
        let local = to.split('@').next().unwrap_or("");
        local
            .strip_prefix("reply+")
            .map(|r| keys::reply_ref(ws, &sha_hex(r.as_bytes())))
    });
    let ids = e
        .references
        .iter()
        .map(|id| keys::mail_message_id(ws, &sha_hex(id.as_bytes())));
    out.extend(refs.chain(ids).take(MAX_DELIVERY_KEYS - out.len()));
    out
}

/// What a delivery of `e` reads next, known once [`delivery_keys`] are
/// read (through `kv`): the ticket [`route`] finds, its participants (a
/// sender may be one; a post is copied to them) and the sender's user
/// record. Nothing when no ticket is found.
pub fn ticket_keys(kv: &dyn Kv, ws: &WorkspaceId, e: &Email) -> Result<Vec<String>> {
    let Some(no) = route(kv, ws, e)? else {
        return Ok(Vec::new());
    };
    let mut out = vec![keys::ticket(ws, no), keys::participants(ws, no)];
    if let Ok(from) = crate::workspace::normalise_email(&e.from)
        && let Some(id) = read::<crate::ids::UserId>(
            kv,
            &keys::user_by_email(ws, &crate::workspace::email_hash(&from)),
        )?
    {
        out.push(keys::user(ws, &id));
    }
    Ok(out)
}

/// Claim the processing of a Message-ID for this delivery (`holder`, fresh
/// per request): [`Claim::Held`] for the one delivery that processes it
/// now, which [`crate::record::finish`]es it once the message is posted or
/// held (later deliveries are [`Claim::Done`]: duplicates) or
/// [`crate::record::release`]s it when it failed, so the provider's retry
/// processes it. A delivery that died holding it is taken over by one
/// arriving [`DELIVERY_TAKEOVER`] later; until then others are
/// [`Claim::Busy`]. A Message-ID claimed before claims had holders is done.
pub fn claim_delivery(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    message_id: &str,
    holder: &str,
    now: Millis,
) -> Result<Claim> {
    acquire_after_claim(
        kv,
        &keys::inbound_message_id(ws, &sha_hex(message_id.as_bytes())),
        holder,
        now,
        DELIVERY_TAKEOVER,
    )
}

/// Where a held message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// Waiting for staff.
    Held,
    /// Posted by staff.
    Approved,
    /// Dropped by staff.
    Discarded,
}

/// A message held for review: its sender is not on the ticket, or no
/// ticket was found for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Position in the quarantine.
    pub n: u64,
    /// The ticket it was addressed to, if one was found.
    pub ticket: Option<TicketNo>,
    /// Sender.
    pub from: String,
    /// Sender name.
    pub from_name: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub text: String,
    /// Message-ID.
    pub message_id: String,
    /// Why it was held.
    pub reason: String,
    /// When it arrived.
    pub received_at: Millis,
    /// State.
    pub state: HeldState,
    /// Who decided, and when.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Millis>,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Held);

/// Hold a message for review.
pub fn hold(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    e: &Email,
    ticket: Option<TicketNo>,
    reason: &str,
    now: Millis,
) -> Result<Held> {
    let n = kv.increment(&keys::quarantine_counter(ws), 1)? as u64;
    let h = Held {
        n,
        ticket,
        from: e.from.clone(),
        from_name: e.from_name.clone(),
        subject: e.subject.clone(),
        text: e.text.clone(),
        message_id: e.message_id.clone(),
        reason: reason.to_string(),
        received_at: now,
        state: HeldState::Held,
        decided_by: None,
        decided_at: None,
        version: 0,
    };
    // A lost answer is settled by one read: an error here frees the
    // delivery, and the provider's retry would hold the message twice.
    crate::record::write_fresh(kv, &keys::quarantine(ws, n), &h)?;
    Ok(h)
}

/// A held message.
pub fn held(kv: &dyn Kv, ws: &WorkspaceId, n: u64) -> Result<Held> {
    read(kv, &keys::quarantine(ws, n))?.ok_or(Error::NotFound)
}

/// Held messages, newest first; the cursor is the last position seen.
pub fn quarantine(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<(Vec<Held>, Option<u64>)> {
    let top = read_counter(kv, &keys::quarantine_counter(ws))?;
    let mut pos = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let mut out = Vec::new();
    while pos >= 1 && out.len() < limit {
        if let Some(h) = read::<Held>(kv, &keys::quarantine(ws, pos))? {
            out.push(h);
        }
        pos -= 1;
    }
    Ok((out, (pos >= 1).then_some(pos + 1)))
}

/// Decide a held message (once): `Conflict` when decided already.
pub fn decide(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    n: u64,
    approve: bool,
    by: &str,
    now: Millis,
) -> Result<Held> {
    update(kv, &keys::quarantine(ws, n), |h: &mut Held| {
        if h.state != HeldState::Held {
            return Err(Error::Conflict(format!(
                "this message was {} already",
                if h.state == HeldState::Approved {
                    "approved"
                } else {
                    "discarded"
                }
            )));
        }
        if approve && h.ticket.is_none() {
            return Err(Error::Conflict("no ticket was found for this message; discard it or ask the sender to reply to a ticket email".into()));
        }
        h.state = if approve {
            HeldState::Approved
        } else {
            HeldState::Discarded
        };
        h.decided_by = Some(by.to_string());
        h.decided_at = Some(now);
        Ok(())
    })
}

/// Put an approved message back to held (its post failed).
pub fn undecide(kv: &dyn Kv, ws: &WorkspaceId, n: u64) -> Result<Held> {
    update(kv, &keys::quarantine(ws, n), |h: &mut Held| {
        h.state = HeldState::Held;
        h.decided_by = None;
        h.decided_at = None;
        Ok(())
    })
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// Numbers of the quarantine never written (the counter's answer lost)
    /// are skipped; a held message whose write landed but whose answer was
    /// lost is held once, not again by the provider's retry.
    #[test]
    fn the_quarantine_skips_gaps_and_a_lost_answer_is_held_once() {
        let ws = WorkspaceId::parse("acme").unwrap();
        // The second message's write lands, its answer is lost; the
        // fourth's counter counts (from 3), its answer is lost.
        let kv = Faulty::new(MemKv::new(), |inner, key, op| match op {
            Op::Set(_) if key.ends_with("/quarantine/000000000002") => Fault::After,
            Op::Increment if crate::record::read_counter(inner, key).unwrap() == 3 => Fault::After,
            _ => Fault::Pass,
        });
        for from in ["a@x.com", "b@x.com", "c@x.com", "d@x.com"] {
            let e = Email {
                from: from.into(),
                message_id: format!("{from}-1"),
                ..Email::default()
            };
            // An error is retried (as the provider does), a success is final.
            for _ in 0..3 {
                if hold(&kv, &ws, &e, None, "unknown", 0).is_ok() {
                    break;
                }
            }
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = quarantine(&kv, &ws, cursor, 1).unwrap();
            seen.extend(page.into_iter().map(|h| (h.n, h.from)));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        let want = [
            (5, "d@x.com"),
            (3, "c@x.com"),
            (2, "b@x.com"),
            (1, "a@x.com"),
        ];
        assert_eq!(seen, want.map(|(n, f)| (n, f.to_string())).to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn the_inbound_settings_are_never_written_over_a_concurrent_change() {
        let set = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = set.clone();
        let ws = WorkspaceId::parse("acme").unwrap();
        let key = SealKey::derive("deployment");
        let theirs = key.clone();
        let kv = crate::store::racing_first_write(&keys::inbound_config(&ws), move |inner| {
            let ws = WorkspaceId::parse("acme").unwrap();
            let r = set_mailgun(inner, &ws, "key-0123456789abcdef", &theirs, [4; 32]);
            flag.set(r.is_ok());
        });
        set_postmark(&kv, &ws, [3; 32]).unwrap();
        assert!(!crate::store::overwritten());
        let cfg = config(&kv, &ws).unwrap();
        assert!(cfg.postmark_hash.is_some());
        assert!(!set.get() || cfg.mailgun_key.is_some(), "{cfg:?}");
    }

    #[test]
    fn quoted_history_and_signatures_are_stripped() {
        let cases = [
            (
                "Thanks, got it.\n\nOn Tue, 1 Dec 2026 at 10:00, Support <s@x> wrote:\n> old text",
                "Thanks, got it.",
            ),
            ("Fine\r\n-- \r\nJane\r\nCEO", "Fine"),
            ("Yes\n\n-----Original Message-----\nFrom: a", "Yes"),
            ("See below\nFrom: Support\nSent: Monday\nold", "See below"),
            ("Line one\nLine two\n> quoted", "Line one\nLine two"),
            (
                "On Monday the parcel came.\nAll good.",
                "On Monday the parcel came.\nAll good.",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(strip_quoted(input), want, "{input:?}");
        }
        assert_eq!(strip_quoted("Hi\nOn Mon, Ann <a@b>\nwrote:\n> x"), "Hi");
    }

    #[test]
    fn postmark_credentials_and_payloads() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        assert_eq!(
            verify_postmark(&config(&kv, &ws).unwrap(), Some("Basic aW5ib3VuZDp4")),
            Err(Error::Unauthenticated)
        );
        let pw = set_postmark(&kv, &ws, [3; 32]).unwrap();
        let cfg = config(&kv, &ws).unwrap();
        let good = format!(
            "Basic {}",
            token::base64_std(format!("inbound:{pw}").as_bytes())
        );
        assert!(verify_postmark(&cfg, Some(&good)).is_ok());
        for bad in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some("Basic aW5ib3VuZDp4"),
        ] {
            assert_eq!(verify_postmark(&cfg, bad), Err(Error::Unauthenticated));
        }
        let body = br#"{"FromFull":{"Email":"Cara@Shop.test","Name":"Cara"},"ToFull":[{"Email":"reply+abc@reply.test"}],
            "Subject":"Re: parcel","TextBody":"Arrived!\n\nOn Mon, Support wrote:\n> x","MessageID":"pm-1",
            "Headers":[{"Name":"Message-ID","Value":"<m1@mail.shop.test>"},{"Name":"In-Reply-To","Value":"<t1@ours>"}],"Unknown":1}"#;
        let e = parse_postmark(body).unwrap();
        assert_eq!(
            (e.from.as_str(), e.text.as_str(), e.message_id.as_str()),
            ("cara@shop.test", "Arrived!", "m1@mail.shop.test")
        );
        assert_eq!(e.to, vec!["reply+abc@reply.test"]);
        assert_eq!(e.references, vec!["t1@ours"]);
        assert!(parse_postmark(b"{not json").is_err());
        assert!(parse_postmark(br#"{"From":"nobody","MessageID":"x"}"#).is_err());
    }

    #[test]
    fn mailgun_signatures_timestamps_and_replays() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let key = SealKey::derive("deployment");
        set_mailgun(&kv, &ws, "key-0123456789abcdef", &key, [4; 32]).unwrap();
        let cfg = config(&kv, &ws).unwrap();
        let sign = |ts: &str, tok: &str| -> String {
            crate::token::hex(&token::hmac_sha256(
                b"key-0123456789abcdef",
                format!("{ts}{tok}").as_bytes(),
            ))
        };
        let now = 1_800_000_000_000;
        let ts = "1800000000";
        let first = verify_mailgun(
            &crate::ctx::test_ctx!(&kv, &ws, now),
            &cfg,
            &key,
            &MailgunSignature {
                timestamp: ts,
                token: "tok1",
                signature: &sign(ts, "tok1"),
            },
            "a",
        );
        crate::record::finish(&kv, first.unwrap()).unwrap();
        assert!(
            matches!(
                verify_mailgun(
                    &crate::ctx::test_ctx!(&kv, &ws, now),
                    &cfg,
                    &key,
                    &MailgunSignature {
                        timestamp: ts,
                        token: "tok1",
                        signature: &sign(ts, "tok1")
                    },
                    "b"
                ),
                Err(Error::Conflict(_))
            ),
            "replay"
        );
        assert!(matches!(
            verify_mailgun(
                &crate::ctx::test_ctx!(&kv, &ws, now),
                &cfg,
                &key,
                &MailgunSignature {
                    timestamp: ts,
                    token: "tok2",
                    signature: &sign(ts, "other")
                },
                "c"
            ),
            Err(Error::Unauthenticated)
        ));
        // Stale and future timestamps (400 s off) are refused.
        for (ts, tok) in [("1799999600", "tok3"), ("1800000400", "tok4")] {
            assert!(matches!(
                verify_mailgun(
                    &crate::ctx::test_ctx!(&kv, &ws, now),
                    &cfg,
                    &key,
                    &MailgunSignature {
                        timestamp: ts,
                        token: tok,
                        signature: &sign(ts, tok)
                    },
                    "d"
                ),
                Err(Error::BadRequest { .. })
            ));
        }
        // A token whose delivery failed is given back: the retry takes it;
        // one held by a delivery that died is taken over after a while.
        let failed = verify_mailgun(
            &crate::ctx::test_ctx!(&kv, &ws, now),
            &cfg,
            &key,
            &MailgunSignature {
                timestamp: ts,
                token: "tok5",
                signature: &sign(ts, "tok5"),
            },
            "e",
        );
        crate::record::release(&kv, failed.unwrap());
        let died = verify_mailgun(
            &crate::ctx::test_ctx!(&kv, &ws, now),
            &cfg,
            &key,
            &MailgunSignature {
                timestamp: ts,
                token: "tok5",
                signature: &sign(ts, "tok5"),
            },
            "f",
        );
        assert!(died.is_ok());
        assert!(matches!(
            verify_mailgun(
                &crate::ctx::test_ctx!(&kv, &ws, now + 1),
                &cfg,
                &key,
                &MailgunSignature {
                    timestamp: ts,
                    token: "tok5",
                    signature: &sign(ts, "tok5")
                },
                "g"
            ),
            Err(Error::Conflict(_))
        ));
        let later = now + DELIVERY_TAKEOVER;
        assert!(
            verify_mailgun(
                &crate::ctx::test_ctx!(&kv, &ws, later),
                &cfg,
                &key,
                &MailgunSignature {
                    timestamp: ts,
                    token: "tok5",
                    signature: &sign(ts, "tok5")
                },
                "g"
            )
            .is_ok()
        );
        let form = MailgunForm::parse(
            "application/x-www-form-urlencoded",
            b"sender=bo%40coffee.test&from=Bo+%3Cbo%40coffee.test%3E&recipient=reply%2Bzz%40r.test&subject=Hi&body-plain=New+text%0A%0AOn+Mon%2C+X+wrote%3A%0A%3E+old&Message-Id=%3Cmg1%40coffee.test%3E&timestamp=1&token=t&signature=s",
        )
        .unwrap();
        let e = form.email().unwrap();
        assert_eq!(
            (e.from.as_str(), e.from_name.as_str(), e.text.as_str()),
            ("bo@coffee.test", "Bo", "New text")
        );
        assert_eq!(e.message_id, "mg1@coffee.test");
        assert_eq!(form.get("token"), "t");
    }

    #[test]
    fn routing_by_reply_address_and_headers_and_the_quarantine() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = crate::thread::fixture::ticket(&kv, &ws, "cus@x.test", "Parcel");
        let r = reply_reference(&crate::ctx::test_ctx!(&kv, &ws, 0), t.no, [5; 32]).unwrap();
        assert_eq!(
            reply_reference(&crate::ctx::test_ctx!(&kv, &ws, 0), t.no, [6; 32]).unwrap(),
            r,
            "one per ticket"
        );
        let mut e = Email {
            from: "cus@x.test".into(),
            message_id: "m@x".into(),
            ..Default::default()
        };
        assert_eq!(route(&kv, &ws, &e).unwrap(), None);
        e.to = vec![reply_address(&r, "reply.test")];
        assert_eq!(route(&kv, &ws, &e).unwrap(), Some(t.no));
        e.to = vec!["reply+guess@reply.test".into()];
        e.references = vec!["t1.5@ours".into()];
        remember_message_id(&kv, &ws, "<t1.5@ours>", t.no).unwrap();
        assert_eq!(route(&kv, &ws, &e).unwrap(), Some(t.no));
        let Claim::Held(lease) = claim_delivery(&kv, &ws, "m@x", "a", 0).unwrap() else {
            panic!("the first delivery holds it")
        };
        crate::record::finish(&kv, lease).unwrap();
        assert!(matches!(
            claim_delivery(&kv, &ws, "m@x", "b", 1).unwrap(),
            Claim::Done
        ));
        let h = hold(&kv, &ws, &e, Some(t.no), "unknown sender", 1).unwrap();
        assert_eq!(
            decide(&kv, &ws, h.n, true, "u_x", 2).unwrap().state,
            HeldState::Approved
        );
        assert!(matches!(
            decide(&kv, &ws, h.n, false, "u_x", 3),
            Err(Error::Conflict(_))
        ));
        let (list, _) = quarantine(&kv, &ws, None, 10).unwrap();
        assert_eq!(list.len(), 1);
    }
}
