//! Outbound webhooks, Standard Webhooks v1: endpoints per workspace (URL,
//! event types, their own `whsec_` secrets, rotatable with both signatures
//! sent while the old one lasts), and durable delivery.
//!
//! Every event that has a webhook type ([`Event::webhook_type`]) is written
//! to the store, with one delivery record per subscribed endpoint, before any
//! delivery is tried ([`emit`], called by `audit::record`). The component
//! that handled the request then attempts the deliveries right after its
//! response ([`emit`] adds them to the request's `after` work); failures are retried on the
//! Standard Webhooks schedule whenever a flush runs: every pending
//! delivery is in the deployment's due index ([`due`]).
//! A 410 disables the endpoint. Sending is the platform's job: this module
//! prepares the signed request ([`prepare`]) and records the outcome
//! ([`record_attempt`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ids::{EndpointId, TicketNo, WorkspaceId};
use crate::keys;
use crate::record::{decode, read, read_counter, update, write_fresh};
use crate::seal::SealKey;
use crate::store::Kv;
use crate::time::{HOUR, Millis, rfc3339};
use crate::token;

pub mod due;

/// Delays before each attempt (the Standard Webhooks schedule): at once,
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then the delivery has failed.
/// A delay is counted from the previous attempt's claim and is at least
/// [`CLAIM_HOLD`] (so the second attempt comes after a minute, not 5 s).
pub const SCHEDULE: &[Millis] = &[
    0,
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * HOUR,
    5 * HOUR,
    10 * HOUR,
    10 * HOUR,
];
/// Largest payload sent.
pub const MAX_PAYLOAD_BYTES: usize = 20 * 1024;
/// Most endpoints per workspace.
pub const MAX_ENDPOINTS: usize = 20;
/// How long a rotated-out secret still signs (both signatures are sent).
pub const ROTATION_OVERLAP: Millis = 24 * HOUR;
/// Most deliveries one flush attempts.
pub const FLUSH_LIMIT: usize = 20;
/// The longest one attempt takes, from its claim to its outcome: the
/// platform sends each attempt with this overall limit (and connect,
/// first-byte and between-bytes timeouts within it) and counts an attempt
/// that reaches it as failed ("no answer").
pub const ATTEMPT_LIMIT: Millis = 20_000;
/// How long a claim holds a delivery: its next attempt is never due
/// sooner than this after the claim ([`prepare`]), so an attempt still
/// running (up to [`ATTEMPT_LIMIT`]) is never sent again beside itself by
/// a flush. Three times the limit: room for the claim's own store calls
/// and for hosts' clocks apart by up to 40 s.
pub const CLAIM_HOLD: Millis = 3 * ATTEMPT_LIMIT;
/// Longest URL.
pub const MAX_URL_CHARS: usize = 500;

/// Every webhook event type an endpoint may subscribe to.
pub fn event_types() -> Vec<&'static str> {
    let mut v: Vec<&str> = Event::ALL.iter().filter_map(|e| e.webhook_type()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A signing secret, sealed at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// `whsec_…`, sealed with the deployment key.
    pub sealed: String,
    /// When it was made.
    pub created_at: Millis,
    /// When it stops signing (set when a newer one replaces it).
    pub expires_at: Option<Millis>,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Id.
    pub id: EndpointId,
    /// Where events go.
    pub url: String,
    /// The types it wants; empty means every type.
    pub event_types: Vec<String>,
    /// Signing secrets, newest first.
    pub secrets: Vec<Secret>,
    /// Why it is disabled (e.g. the receiver answered 410), if it is.
    pub disabled: Option<String>,
    /// When it was registered.
    pub created_at: Millis,
}

impl Endpoint {
    /// Whether it receives events of type `ty`.
    pub fn wants(&self, ty: &str) -> bool {
        self.disabled.is_none()
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == ty))
    }

    /// The secrets that sign now (the newest, plus rotated ones still in
    /// their overlap), opened.
    pub fn signing_secrets(&self, key: &SealKey, now: Millis) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|e| now < e))
            .filter_map(|s| crate::seal::open(key, &s.sealed))
            .filter_map(|b| String::from_utf8(b).ok())
            .collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Endpoints {
    list: Vec<Endpoint>,
    version: u64,
}

crate::versioned!(Endpoints);

/// The workspace's endpoints.
pub fn endpoints(kv: &dyn Kv, ws: &WorkspaceId) -> Result<Vec<Endpoint>> {
    Ok(read::<Endpoints>(kv, &keys::webhook_endpoints(ws))?
        .map(|e| e.list)
        .unwrap_or_default())
}

/// The workspace's endpoints and the due index's [`due::Floor`], read in
/// one batch.
fn endpoints_and_floor(kv: &dyn Kv, ws: &WorkspaceId) -> Result<(Vec<Endpoint>, due::Floor)> {
    let key = keys::webhook_endpoints(ws);
    let mut got = kv.get_many(&[key.clone(), due::Floor::key()])?.into_iter();
    let list = decode::<Endpoints>(&key, got.next().flatten())?.map_or_else(Vec::new, |e| e.list);
    Ok((list, due::Floor::of(got.next().flatten())?))
}

/// Change the endpoint list by compare-and-swap. A workspace that never
/// had an endpoint has no list: the change sees an empty one and writes
/// nothing ([`create`] makes the list first, by [`ensure`]).
fn change<T>(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    mut f: impl FnMut(&mut Vec<Endpoint>) -> Result<T>,
) -> Result<T> {
    let key = keys::webhook_endpoints(ws);
    let mut out = None;
    match update(kv, &key, |e: &mut Endpoints| {
        out = Some(f(&mut e.list)?);
        Ok(())
    }) {
        Ok(_) => out.ok_or(Error::NotFound),
        Err(Error::NotFound) if out.is_none() && kv.get(&key)?.is_none() => f(&mut Vec::new()),
        Err(e) => Err(e),
    }
}

fn is_private_v4(o: [u8; 4]) -> bool {
    o[0] == 10
        || o[0] == 127
        || o[0] == 0
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || o[0] >= 224
}

/// Whether a URL host names a private, loopback or link-local destination
/// (literal addresses and local names; a public name is checked by the
/// host's resolver only).
pub fn private_host(host: &str) -> bool {
    let bracketed = host.starts_with('[');
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if h.is_empty()
        || h == "localhost"
        || h.ends_with(".localhost")
        || h.ends_with(".local")
        || h.ends_with(".internal")
        || h.ends_with(".home.arpa")
    {
        return true;
    }
    if let Ok(v6) = h.parse::<std::net::Ipv6Addr>() {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return is_private_v4(v4.octets());
        }
        let s = v6.segments();
        return v6.is_loopback()
            || v6.is_unspecified()
            || s[..6] == [0; 6] // IPv4-compatible ::a.b.c.d
            || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64
            || (s[0] & 0xfe00) == 0xfc00
            || (s[0] & 0xffc0) == 0xfe80
            || (s[0] & 0xff00) == 0xff00;
    }
    if bracketed {
        // Brackets hold IPv6 only; anything else (zone ids, junk) is refused.
        return true;
    }
    if let Ok(v4) = h.parse::<std::net::Ipv4Addr>() {
        return is_private_v4(v4.octets());
    }
    // Numeric forms resolvers accept (`2130706433`, `0x7f.1`, `0177.0.0.1`):
    // every dot-separated part a decimal, octal or 0x-hex number. Refused,
    // since a public service has a name or a plain dotted address.
    h.split('.').all(|p| {
        !p.is_empty()
            && (p.bytes().all(|c| c.is_ascii_digit())
                || p.strip_prefix("0x")
                    .is_some_and(|x| x.bytes().all(|c| c.is_ascii_hexdigit())))
    })
}

/// Check an endpoint URL: `https://` (or `http://` where private
/// destinations are allowed), a host, no credentials, no fragment;
/// private, loopback and link-local destinations only when allowed.
pub fn check_url(url: &str, allow_private: bool) -> Result<()> {
    let bad = |m: &str| Err(Error::bad("invalid_url", format!("url: {m}")));
    if url.chars().count() > MAX_URL_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return bad(&format!("at most {MAX_URL_CHARS} characters, no spaces"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("must start with https://");
    };
    match scheme {
        "https" => {}
        "http" if allow_private => {}
        _ => return bad("must start with https://"),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.contains('#') {
        return bad("must not have a fragment");
    }
    if authority.contains('@') {
        return bad("must not carry credentials");
    }
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => {
            if p.parse::<u16>().is_err() {
                return bad("invalid port");
            }
            h
        }
        _ => authority,
    };
    if host.is_empty() {
        return bad("needs a host");
    }
    if !allow_private && private_host(host) {
        return Err(Error::bad(
            "private_destination",
            "url: private, loopback and link-local destinations are refused (a deployment may allow them for development with allow_private_webhooks)",
        ));
    }
    Ok(())
}

fn check_types(types: &[String]) -> Result<Vec<String>> {
    let known = event_types();
    let mut out = Vec::new();
    for t in types {
        if !known.contains(&t.as_str()) {
            return Err(Error::bad(
                "invalid_field",
                format!(
                    "event_types: unknown type {t:?}; known: {}",
                    known.join(", ")
                ),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn new_secret(random: [u8; 32]) -> String {
    format!("whsec_{}", token::base64_std(&random[..24]))
}

/// Fresh random values a new endpoint is made from.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    /// Its first secret.
    pub secret: [u8; 32],
    /// The nonce sealing that secret.
    pub seal: [u8; 32],
    /// Its id.
    pub id: [u8; 16],
}

/// Register an endpoint (`ctx`: store, workspace, time); returns it and its
/// first secret (shown once).
pub fn create(
    ctx: &Ctx,
    url: &str,
    types: &[String],
    fresh: Fresh,
    key: &SealKey,
    allow_private: bool,
) -> Result<(Endpoint, String)> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let Fresh {
        secret: random,
        seal: seal_random,
        id: random_id,
    } = fresh;
    check_url(url, allow_private)?;
    let types = check_types(types)?;
    // The seal's nonce is stored in clear: never the secret's own bytes.
    let secret = new_secret(random);
    let ep = Endpoint {
        id: EndpointId::new(random_id),
        url: url.to_string(),
        event_types: types,
        secrets: vec![Secret {
            sealed: crate::seal::seal(key, seal_random, secret.as_bytes()),
            created_at: now,
            expires_at: None,
        }],
        disabled: None,
        created_at: now,
    };
    crate::record::ensure(kv, &keys::webhook_endpoints(ws), &Endpoints::default())?;
    change(kv, ws, |list| {
        if list.len() >= MAX_ENDPOINTS {
            return Err(Error::Conflict(format!(
                "a workspace has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        list.push(ep.clone());
        Ok(())
    })?;
    Ok((ep, secret))
}

/// Rotate an endpoint's secret: the new one signs from now; the old one
/// also signs for [`ROTATION_OVERLAP`]. Returns the new secret (shown once).
pub fn rotate(
    ctx: &Ctx,
    id: &EndpointId,
    random: [u8; 32],
    seal_random: [u8; 32],
    key: &SealKey,
) -> Result<String> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let secret = new_secret(random);
    let sealed = crate::seal::seal(key, seal_random, secret.as_bytes());
    change(kv, ws, |list| {
        let ep = list
            .iter_mut()
            .find(|e| &e.id == id)
            .ok_or(Error::NotFound)?;
        for s in &mut ep.secrets {
            s.expires_at = Some(
                s.expires_at
                    .unwrap_or(now + ROTATION_OVERLAP)
                    .min(now + ROTATION_OVERLAP),
            );
        }
        ep.secrets.retain(|s| s.expires_at.is_none_or(|e| now < e));
        ep.secrets.insert(
            0,
            Secret {
                sealed: sealed.clone(),
                created_at: now,
                expires_at: None,
            },
        );
        Ok(())
    })?;
    Ok(secret)
}

/// Remove an endpoint (its pending deliveries are dropped when next due).
pub fn remove(kv: &dyn Kv, ws: &WorkspaceId, id: &EndpointId) -> Result<Endpoint> {
    change(kv, ws, |list| {
        let i = list
            .iter()
            .position(|e| &e.id == id)
            .ok_or(Error::NotFound)?;
        Ok(list.remove(i))
    })
}

/// Turn a disabled endpoint back on.
pub fn enable(kv: &dyn Kv, ws: &WorkspaceId, id: &EndpointId) -> Result<Endpoint> {
    change(kv, ws, |list| {
        let ep = list
            .iter_mut()
            .find(|e| &e.id == id)
            .ok_or(Error::NotFound)?;
        ep.disabled = None;
        Ok(ep.clone())
    })
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the workspace's event log.
    pub n: u64,
    /// The `webhook-id` (the same for every attempt and endpoint).
    pub id: String,
    /// Webhook type.
    pub kind: String,
    /// When it happened.
    pub at: Millis,
    /// The JSON payload sent.
    pub payload: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Out of attempts, refused (410, private destination) or its endpoint
    /// is gone.
    Failed,
}

/// One event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Position in the workspace's delivery log.
    pub n: u64,
    /// The event.
    pub event: u64,
    /// The event's type (for listing without reading the event).
    pub kind: String,
    /// The endpoint.
    pub endpoint: EndpointId,
    /// State.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_at: Option<Millis>,
    /// Last answer's status, if any.
    pub last_status: Option<u16>,
    /// Last failure, if any.
    pub last_error: Option<String>,
    /// When it was last tried.
    pub last_at: Option<Millis>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Millis,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Delivery);

/// Store `event` for every endpoint that wants it (nothing when none does),
/// by `ctx`'s actor at its time; each delivery is attempted after the
/// response (`ctx.after`). Called for every ledger entry. Returns the
/// deliveries.
pub fn emit(ctx: &Ctx, event: Event, target: &str, ticket: Option<TicketNo>) -> Result<Vec<u64>> {
    let (kv, ws, now, actor) = (ctx.kv, ctx.ws, ctx.now, ctx.actor);
    let Some(kind) = event.webhook_type() else {
        return Ok(Vec::new());
    };
    // The due index's floor comes in the same batch as the endpoints.
    let (list, floor) = endpoints_and_floor(kv, ws)?;
    let wanting: Vec<Endpoint> = list.into_iter().filter(|e| e.wants(kind)).collect();
    if wanting.is_empty() {
        return Ok(Vec::new());
    }
    let n = kv.increment(&keys::webhook_event_counter(ws), 1)? as u64;
    let mut target = target.to_string();
    if target.len() > 2_000 {
        let mut cut = 2_000;
        while !target.is_char_boundary(cut) {
            cut -= 1;
        }
        target.truncate(cut);
    }
    let payload = json!({
        "type": kind,
        "timestamp": rfc3339(now),
        "data": {
            "workspace": ws, "event": event.name(), "ticket": ticket.map(|t| t.0),
            "target": target, "actor": actor,
        },
    })
    .to_string();
    let stored = StoredEvent {
        n,
        id: format!("msg_{ws}_{n}"),
        kind: kind.to_string(),
        at: now,
        payload,
    };
    write_fresh(kv, &keys::webhook_event(ws, n), &stored)?;
    let mut out = Vec::new();
    for ep in wanting {
        let d = kv.increment(&keys::webhook_delivery_counter(ws), 1)? as u64;
        // Indexed before it is written: a delivery never exists unindexed.
        due::add(kv, ws, d, now, floor)?;
        write_fresh(
            kv,
            &keys::webhook_delivery(ws, d),
            &Delivery {
                n: d,
                event: n,
                kind: kind.to_string(),
                endpoint: ep.id.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_at: Some(now),
                last_status: None,
                last_error: None,
                last_at: None,
                created_at: now,
                version: 0,
            },
        )?;
        ctx.after.deliver(ws, d);
        out.push(d);
    }
    Ok(out)
}

/// Read a delivery.
pub fn delivery(kv: &dyn Kv, ws: &WorkspaceId, n: u64) -> Result<Delivery> {
    read(kv, &keys::webhook_delivery(ws, n))?.ok_or(Error::NotFound)
}

/// Deliveries newest first (optionally of one endpoint); the cursor is the
/// last position seen. Scans at most `limit * 4 + 16` records per page.
pub fn deliveries(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    endpoint: Option<&EndpointId>,
    cursor: Option<u64>,
    limit: usize,
) -> Result<(Vec<Delivery>, Option<u64>)> {
    let top = read_counter(kv, &keys::webhook_delivery_counter(ws))?;
    let mut pos = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let mut out = Vec::new();
    let mut scanned = 0;
    while pos >= 1 && out.len() < limit && scanned < limit * 4 + 16 {
        scanned += 1;
        if let Some(d) = read::<Delivery>(kv, &keys::webhook_delivery(ws, pos))? {
            if endpoint.is_none_or(|e| &d.endpoint == e) {
                out.push(d);
            }
        }
        pos -= 1;
    }
    Ok((out, (pos >= 1).then_some(pos + 1)))
}

/// A signed request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Destination.
    pub url: String,
    /// Headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`,
    /// `content-type`, `user-agent`).
    pub headers: Vec<(String, String)>,
    /// JSON payload.
    pub body: String,
}

/// The Standard Webhooks signature header value for `secrets`: one
/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret, spaces
/// between.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &str) -> String {
    let content = format!("{id}.{timestamp}.{body}");
    secrets
        .iter()
        .filter_map(|s| token::base64_std_decode(s.strip_prefix("whsec_").unwrap_or(s)))
        .map(|k| {
            format!(
                "v1,{}",
                token::base64_std(&token::hmac_sha256(&k, content.as_bytes()))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prepare delivery `n` for an attempt now; `None` (and the delivery marked
/// failed) when it cannot be sent: its endpoint is gone or disabled, or the
/// destination is private where that is not allowed. Also `None` when the
/// delivery is not pending.
pub fn prepare(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    n: u64,
    now: Millis,
    key: &SealKey,
    allow_private: bool,
) -> Result<Option<Prepared>> {
    // The delivery, its workspace's endpoints and the due index's floor,
    // in one batch.
    let (dkey, ekey) = (keys::webhook_delivery(ws, n), keys::webhook_endpoints(ws));
    let mut got = kv
        .get_many(&[dkey.clone(), ekey.clone(), due::Floor::key()])?
        .into_iter();
    let d: Delivery = decode(&dkey, got.next().flatten())?.ok_or(Error::NotFound)?;
    let list = decode::<Endpoints>(&ekey, got.next().flatten())?.map_or_else(Vec::new, |e| e.list);
    let floor = due::Floor::of(got.next().flatten())?;
    if d.state != DeliveryState::Pending || d.next_at.is_none_or(|t| t > now) {
        return Ok(None);
    }
    let ep = list.into_iter().find(|e| e.id == d.endpoint);
    let refusal = match &ep {
        None => Some("the endpoint was removed".to_string()),
        Some(e) if e.disabled.is_some() => Some(format!(
            "the endpoint is disabled: {}",
            e.disabled.clone().unwrap_or_default()
        )),
        Some(e) => check_url(&e.url, allow_private).err().map(|e| e.message()),
    };
    if let Some(why) = refusal {
        fail(kv, ws, n, now, why)?;
        return Ok(None);
    }
    let ep = ep.ok_or(Error::NotFound)?;
    let ev: StoredEvent = read(kv, &keys::webhook_event(ws, d.event))?.ok_or(Error::NotFound)?;
    let next_attempt = d.attempts + 1;
    let secrets = ep.signing_secrets(key, now);
    if secrets.is_empty() {
        fail(kv, ws, n, now, "no readable signing secret (the deployment secret changed): rotate the endpoint's secret".into())?;
        return Ok(None);
    }
    // The attempt is counted (and the next one scheduled) before it is
    // sent: a receiver that never answers still uses up an attempt, and two
    // flushes at once cannot both send it. The new wake time is indexed
    // first (the next attempt, or when a silent last attempt is failed), so
    // the delivery is found then whatever happens to this attempt.
    // Never sooner than CLAIM_HOLD: this attempt may run until its limit.
    let next = SCHEDULE
        .get(d.attempts as usize + 1)
        .map_or(now + due::ANSWER_WAIT, |delay| now + delay.max(&CLAIM_HOLD));
    due::add(kv, ws, n, next, floor)?;
    let mut mine = false;
    update(kv, &keys::webhook_delivery(ws, n), |d: &mut Delivery| {
        // Another attempt counted since the read: its claim, not ours.
        mine = d.state == DeliveryState::Pending
            && d.next_at.is_some_and(|t| t <= now)
            && d.attempts + 1 == next_attempt;
        if mine {
            d.attempts += 1;
            d.last_at = Some(now);
            d.next_at = SCHEDULE
                .get(d.attempts as usize)
                .map(|delay| now + delay.max(&CLAIM_HOLD));
        }
        Ok(())
    })?;
    if !mine {
        return Ok(None);
    }
    let ts = now.div_euclid(1000);
    let mut body = ev.payload;
    if body.len() > MAX_PAYLOAD_BYTES {
        body = json!({"type": ev.kind, "timestamp": rfc3339(ev.at), "data": {"workspace": ws, "truncated": true}}).to_string();
    }
    Ok(Some(Prepared {
        url: ep.url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "Ticketshare-Webhooks/1".into()),
            ("webhook-id".into(), ev.id.clone()),
            ("webhook-timestamp".into(), ts.to_string()),
            (
                "webhook-signature".into(),
                signature(&secrets, &ev.id, ts, &body),
            ),
        ],
        body,
    }))
}

/// Fail delivery `n` for good, `why` as its last error (no status: no
/// receiver answered), no further attempt scheduled.
fn fail(kv: &dyn Kv, ws: &WorkspaceId, n: u64, now: Millis, why: String) -> Result<Delivery> {
    update(kv, &keys::webhook_delivery(ws, n), |d: &mut Delivery| {
        d.state = DeliveryState::Failed;
        d.next_at = None;
        d.last_status = None;
        d.last_error = Some(why.clone());
        d.last_at = Some(now);
        Ok(())
    })
}

/// Fail delivery `n` whose last attempt was sent and never reported back
/// (the flush calls this [`due::ANSWER_WAIT`] after it). A
/// delivery that is no longer in that state is left alone.
pub fn fail_unanswered(kv: &dyn Kv, ws: &WorkspaceId, n: u64, now: Millis) -> Result<()> {
    update(kv, &keys::webhook_delivery(ws, n), |d: &mut Delivery| {
        if d.state == DeliveryState::Pending
            && d.next_at.is_none()
            && d.last_at.is_some_and(|t| now - t >= due::ANSWER_WAIT)
        {
            d.state = DeliveryState::Failed;
            d.last_status = None;
            d.last_error = Some("no answer to the last attempt".into());
            d.last_at = Some(now);
        }
        Ok(())
    })
    .map(drop)
}

/// Record an attempt's outcome: the status the receiver answered, or why
/// no answer came. 2xx succeeds; 410 fails it and disables the endpoint;
/// anything else leaves the retry [`prepare`] scheduled or, past the
/// schedule, fails.
pub fn record_attempt(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    n: u64,
    now: Millis,
    outcome: std::result::Result<u16, String>,
) -> Result<Delivery> {
    let d = update(kv, &keys::webhook_delivery(ws, n), |d: &mut Delivery| {
        if d.state != DeliveryState::Pending {
            return Ok(());
        }
        d.last_at = Some(now);
        match &outcome {
            Ok(s) if (200..300).contains(s) => {
                d.state = DeliveryState::Succeeded;
                d.next_at = None;
                d.last_status = Some(*s);
                d.last_error = None;
            }
            Ok(410) => {
                d.state = DeliveryState::Failed;
                d.next_at = None;
                d.last_status = Some(410);
                d.last_error = Some("410 Gone: the endpoint was disabled".into());
            }
            other => {
                let (status, error) = match other {
                    Ok(s) => (Some(*s), format!("answered {s}")),
                    Err(e) => (None, e.clone()),
                };
                d.last_status = status;
                d.last_error = Some(error);
                if d.next_at.is_none() {
                    d.state = DeliveryState::Failed;
                }
            }
        }
        Ok(())
    })?;
    if d.last_status == Some(410) && d.state == DeliveryState::Failed {
        let id = d.endpoint.clone();
        change(kv, ws, |list| {
            if let Some(ep) = list.iter_mut().find(|e| e.id == id) {
                ep.disabled = Some(format!(
                    "the receiver answered 410 Gone at {}",
                    rfc3339(now)
                ));
            }
            Ok(())
        })?;
    }
    Ok(d)
}

/// Send a delivery's event to its endpoint again, now, as a new delivery
/// (a fresh series of attempts, indexed as due now), attempted after the response (`ctx.after`).
/// Returns the new delivery.
pub fn redeliver(ctx: &Ctx, n: u64) -> Result<Delivery> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let key = keys::webhook_delivery(ws, n);
    let mut got = kv.get_many(&[key.clone(), due::Floor::key()])?.into_iter();
    let old: Delivery = decode(&key, got.next().flatten())?.ok_or(Error::NotFound)?;
    let floor = due::Floor::of(got.next().flatten())?;
    let m = kv.increment(&keys::webhook_delivery_counter(ws), 1)? as u64;
    let d = Delivery {
        n: m,
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: Some(now),
        last_status: None,
        last_error: None,
        last_at: None,
        created_at: now,
        version: 0,
        ..old
    };
    // Indexed before it is written; a lost answer is settled by one read:
    // an admin's retry of an error would send the event a second time.
    due::add(kv, ws, m, now, floor)?;
    write_fresh(kv, &keys::webhook_delivery(ws, m), &d)?;
    ctx.after.deliver(ws, m);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::after::Effects;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// A request's context at `now` whose after-response work goes to `after`.
    fn ctx<'a>(kv: &'a dyn Kv, ws: &'a WorkspaceId, now: Millis, after: &'a Effects) -> Ctx<'a> {
        Ctx {
            kv,
            ws,
            now,
            actor: "u_x",
            request_id: "r",
            after,
        }
    }

    /// [`super::emit`] by `actor` at `now`.
    fn emit(
        kv: &dyn Kv,
        ws: &WorkspaceId,
        now: Millis,
        actor: &str,
        event: Event,
        target: &str,
        ticket: Option<TicketNo>,
    ) -> Result<Vec<u64>> {
        let after = Effects::default();
        super::emit(
            &ctx(kv, ws, now, &after).with_actor(actor),
            event,
            target,
            ticket,
        )
    }

    fn setup() -> (MemKv, WorkspaceId, SealKey) {
        (
            MemKv::new(),
            WorkspaceId::parse("acme").unwrap(),
            SealKey::derive("deployment"),
        )
    }

    #[test]
    fn urls_are_checked_and_private_destinations_refused_by_default() {
        for ok in [
            "https://hooks.example.com/x",
            "https://example.com:8443/a?b=c",
            "https://cafe.be/x",
            "https://dead.beef.example/",
            "https://1password.com/",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https://127.0.0.1/x",
            "https://localhost:3000/",
            "https://10.1.2.3/",
            "https://192.168.0.10/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://example.com/#frag",
            "https:///nohost",
            "https://localhost./",
            "https://metadata.google.internal./x",
            "https://[::127.0.0.1]/",
            "https://[fe80::1%25eth0]/",
            "https://[64:ff9b::7f00:1]/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let sig = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn events_are_stored_before_delivery_and_retried_on_the_schedule() {
        let (kv, ws, key) = setup();
        // No endpoint: nothing is stored.
        assert!(
            emit(
                &kv,
                &ws,
                0,
                "u_x",
                Event::TicketCreated,
                "#1",
                Some(TicketNo(1))
            )
            .unwrap()
            .is_empty()
        );
        let (ep, secret) = create(
            &ctx(&kv, &ws, 0, &Effects::default()),
            "http://127.0.0.1:1/h",
            &[],
            Fresh {
                secret: [1; 32],
                seal: [101; 32],
                id: [1; 16],
            },
            &key,
            true,
        )
        .unwrap();
        assert!(secret.starts_with("whsec_"));
        let (only, _) = create(
            &ctx(&kv, &ws, 0, &Effects::default()),
            "http://127.0.0.1:2/h",
            &["share.created".into()],
            Fresh {
                secret: [2; 32],
                seal: [102; 32],
                id: [2; 16],
            },
            &key,
            true,
        )
        .unwrap();
        assert!(
            create(
                &ctx(&kv, &ws, 0, &Effects::default()),
                "https://x.test",
                &["nope".into()],
                Fresh {
                    secret: [3; 32],
                    seal: [103; 32],
                    id: [3; 16],
                },
                &key,
                true,
            )
            .is_err()
        );
        let after = Effects::default();
        let ds = super::emit(
            &ctx(&kv, &ws, 10, &after),
            Event::TicketCreated,
            "#1",
            Some(TicketNo(1)),
        )
        .unwrap();
        assert_eq!(ds.len(), 1, "only the endpoint that wants every type");
        assert_eq!(after.take().deliver, vec![(ws.clone(), ds[0])]);
        let p = prepare(&kv, &ws, ds[0], 10, &key, true).unwrap().unwrap();
        assert_eq!(p.url, ep.url);
        let header = |k: &str| p.headers.iter().find(|(h, _)| h == k).unwrap().1.clone();
        assert_eq!(
            header("webhook-signature"),
            signature(&[secret.clone()], &header("webhook-id"), 0, &p.body)
        );
        let v: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(v["type"], "ticket.created");
        // Only one attempt at a time: a second preparer gets nothing.
        assert!(prepare(&kv, &ws, ds[0], 10, &key, true).unwrap().is_none());
        // Down receiver: retried on the schedule; flush finds it when due.
        let d = record_attempt(&kv, &ws, ds[0], 10, Err("connection refused".into())).unwrap();
        assert_eq!(
            (d.state, d.next_at),
            (DeliveryState::Pending, Some(10 + CLAIM_HOLD))
        );
        let retry = 10 + CLAIM_HOLD;
        assert!(due(&kv, &ws, retry - 1).unwrap().is_empty());
        assert_eq!(due(&kv, &ws, retry).unwrap(), ds);
        assert!(
            prepare(&kv, &ws, ds[0], retry, &key, true)
                .unwrap()
                .is_some()
        );
        let d = record_attempt(&kv, &ws, ds[0], retry, Ok(200)).unwrap();
        assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 2));
        assert!(due(&kv, &ws, retry + 1_000).unwrap().is_empty());
        // Out of attempts: failed.
        let ds = emit(&kv, &ws, 20, "u_x", Event::ShareCreated, "sh", None).unwrap();
        assert_eq!(ds.len(), 2);
        let mut t = 20;
        for _ in 0..SCHEDULE.len() {
            assert!(prepare(&kv, &ws, ds[0], t, &key, true).unwrap().is_some());
            let d = record_attempt(&kv, &ws, ds[0], t, Ok(500)).unwrap();
            t = d.next_at.unwrap_or(t);
        }
        let d = delivery(&kv, &ws, ds[0]).unwrap();
        assert_eq!(
            (d.state, d.attempts),
            (DeliveryState::Failed, SCHEDULE.len() as u32)
        );
        // 410 disables the endpoint; nothing more goes to it.
        assert!(prepare(&kv, &ws, ds[1], 30, &key, true).unwrap().is_some());
        let d = record_attempt(&kv, &ws, ds[1], 30, Ok(410)).unwrap();
        assert_eq!(d.state, DeliveryState::Failed);
        let eps = endpoints(&kv, &ws).unwrap();
        assert!(
            eps.iter()
                .find(|e| e.id == only.id)
                .unwrap()
                .disabled
                .is_some()
        );
        assert_eq!(
            emit(&kv, &ws, 40, "u_x", Event::ShareCreated, "sh", None)
                .unwrap()
                .len(),
            1
        );
        // Redeliver queues the event again as a new delivery.
        let again = redeliver(&ctx(&kv, &ws, 50, &after), ds[0]).unwrap();
        assert!(again.n > ds[0] && again.event == delivery(&kv, &ws, ds[0]).unwrap().event);
        assert_eq!(after.take().deliver, vec![(ws.clone(), again.n)]);
        assert!(due(&kv, &ws, 50).unwrap().contains(&again.n));
    }

    /// An endpoint for every event type, at a private address (tests).
    fn endpoint(kv: &dyn Kv, ws: &WorkspaceId, key: &SealKey) {
        create(
            &ctx(kv, ws, 0, &Effects::default()),
            "http://127.0.0.1:1/h",
            &[],
            Fresh {
                secret: [1; 32],
                seal: [101; 32],
                id: [1; 16],
            },
            key,
            true,
        )
        .unwrap();
    }

    fn succeed(kv: &dyn Kv, ws: &WorkspaceId, n: u64, now: Millis, key: &SealKey) {
        assert!(prepare(kv, ws, n, now, key, true).unwrap().is_some());
        record_attempt(kv, ws, n, now, Ok(200)).unwrap();
    }

    /// The flush steps at `now` until nothing more is due (at most 10):
    /// what they hand out of `ws`.
    fn due(kv: &dyn Kv, ws: &WorkspaceId, now: Millis) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for _ in 0..10 {
            let step = due::flush(kv, now, FLUSH_LIMIT)?;
            out.extend(step.due.iter().filter(|(w, _)| w == ws).map(|(_, n)| *n));
            if !step.more {
                break;
            }
        }
        Ok(out)
    }

    /// A delivery number taken and never written (the increment's answer
    /// lost): the flush finds nothing due and its cursor passes it; the
    /// listing shows every other delivery once,
    /// newest first, across pages.
    #[test]
    fn the_flush_and_the_listing_step_over_a_delivery_never_written() {
        let (inner, ws, key) = setup();
        let kv = Faulty::new(inner, |_, key, op| match op {
            Op::Increment if key.ends_with("/webhooks/delivery-counter") => Fault::After,
            _ => Fault::Pass,
        });
        kv.arm(false);
        endpoint(&kv, &ws, &key);
        let first = emit(&kv, &ws, 0, "u", Event::TicketCreated, "#1", None).unwrap();
        kv.arm(true);
        assert!(emit(&kv, &ws, 0, "u", Event::TicketCreated, "#2", None).is_err());
        kv.arm(false);
        let third = emit(&kv, &ws, 1_000, "u", Event::TicketCreated, "#3", None).unwrap();
        assert_eq!((first[0], third[0]), (1, 3), "number 2 is a gap");
        succeed(&kv, &ws, 1, 1_000, &key);
        succeed(&kv, &ws, 3, 1_000, &key);
        assert!(due(&kv, &ws, 2_000).unwrap().is_empty());
        // The index never had number 2 (its increment failed before it
        // was indexed); the cursor stays before the recent bucket until a
        // frontier past it has stood GRACE, then passes its settled entries.
        assert!(due::cursor(&kv).unwrap().unwrap().0 <= 0);
        assert!(due(&kv, &ws, 181_000).unwrap().is_empty());
        assert!(due::cursor(&kv).unwrap().unwrap().0 <= 0);
        assert!(due(&kv, &ws, 302_000).unwrap().is_empty());
        assert_eq!(due::cursor(&kv).unwrap(), Some((3, 0)));
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = deliveries(&kv, &ws, None, cursor, 1).unwrap();
            seen.extend(page.iter().map(|d| d.n));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, vec![3, 1]);
    }

    /// A redelivery whose write landed but whose answer was lost is a
    /// success: the admin does not retry it into a second redelivery.
    #[test]
    fn a_redelivery_whose_answer_is_lost_is_made_once() {
        let (inner, ws, key) = setup();
        let kv = Faulty::new(inner, |_, key, op| match op {
            Op::Set(_) if key.contains("/webhooks/delivery/") => Fault::After,
            _ => Fault::Pass,
        });
        kv.arm(false);
        endpoint(&kv, &ws, &key);
        let ds = emit(&kv, &ws, 0, "u", Event::TicketCreated, "#1", None).unwrap();
        kv.arm(true);
        // An error is what an admin retries; a success is final.
        let mut tries = 0;
        while redeliver(&ctx(&kv, &ws, 10, &Effects::default()), ds[0]).is_err() && tries < 2 {
            tries += 1;
        }
        kv.arm(false);
        let (all, _) = deliveries(&kv, &ws, None, None, 10).unwrap();
        assert_eq!(all.iter().map(|d| d.n).collect::<Vec<_>>(), vec![2, 1]);
    }

    fn make(kv: &dyn Kv, n: u8) -> Result<(Endpoint, String)> {
        let (_, ws, key) = setup();
        create(
            &ctx(kv, &ws, 0, &Effects::default()),
            &format!("http://127.0.0.1:{n}/h"),
            &[],
            Fresh {
                secret: [n; 32],
                seal: [n + 100; 32],
                id: [n; 16],
            },
            &key,
            true,
        )
    }

    #[test]
    fn the_endpoint_list_is_never_written_over_a_concurrent_change() {
        let (_, ws, _) = setup();
        let added = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = added.clone();
        let kv = crate::store::racing_first_write(&keys::webhook_endpoints(&ws), move |inner| {
            flag.set(make(inner, 2).is_ok());
        });
        let (mine, _) = make(&kv, 1).unwrap();
        assert!(!crate::store::overwritten());
        let listed: Vec<EndpointId> = endpoints(&kv, &ws)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert!(listed.contains(&mine.id), "{listed:?}");
        assert_eq!(listed.len(), 1 + usize::from(added.get()), "{listed:?}");
        // Changes to a list that was never made change nothing.
        let (empty, ws, _) = setup();
        assert_eq!(remove(&empty, &ws, &mine.id).unwrap_err(), Error::NotFound);
        assert!(empty.is_empty());
    }

    thread_local! {
        static RACED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Two flushes read the cursor; the later one (in time) moves it far
    /// first: the earlier one's swap never moves it back.
    #[test]
    fn a_flush_never_moves_the_cursor_back() {
        let (inner, ws, key) = setup();
        RACED.with(|r| r.set(false));
        let kv = Faulty::new(inner, |inner, k, op| {
            if matches!(op, Op::Swap(_))
                && k == keys::webhook_due_cursor()
                && matches!(inner.get(k), Ok(Some(v)) if v.first() == Some(&b'{'))
                && !RACED.with(|r| r.replace(true))
            {
                // Twice: its frontier stands GRACE, then the cursor moves.
                due::flush(inner, 100 * HOUR, FLUSH_LIMIT).unwrap();
                due::flush(inner, 100 * HOUR + due::GRACE, FLUSH_LIMIT).unwrap();
            }
            Fault::Pass
        });
        kv.arm(false);
        make(&kv, 1).unwrap();
        let ds = emit(&kv, &ws, 10, "u_x", Event::TicketCreated, "#1", None).unwrap();
        prepare(&kv, &ws, ds[0], 10, &key, true).unwrap().unwrap();
        record_attempt(&kv, &ws, ds[0], 10, Ok(200)).unwrap();
        assert!(due(&kv, &ws, 10 * 60_000).unwrap().is_empty());
        kv.arm(true);
        assert!(due(&kv, &ws, 20 * 60_000).unwrap().is_empty());
        assert!(RACED.with(|r| r.get()), "the other flush ran");
        let (bucket, _) = due::cursor(&kv).unwrap().unwrap();
        assert!(bucket > 1_000, "the cursor went back to {bucket}");
    }

    /// Review of issue 22: a request on a host whose clock is an hour
    /// behind the flushing host's makes a due delivery. It is appended at
    /// the cursor's frontier, not in the bucket of its own clock (which the
    /// cursor left long ago), so the next flushes hand it out.
    #[test]
    fn a_delivery_written_by_a_host_whose_clock_is_behind_is_found() {
        let (kv, ws, key) = setup();
        endpoint(&kv, &ws, &key);
        let t = 10 * HOUR;
        // The flushing host flushes every 30 s for ten minutes.
        for i in 0..20 {
            due(&kv, &ws, t + i * 30_000).unwrap();
        }
        let t = t + 10 * 60_000;
        let (cursor, _) = due::cursor(&kv).unwrap().unwrap();
        assert!(cursor > due::bucket(t - HOUR), "the cursor moved on");
        let ds = emit(&kv, &ws, t - HOUR, "u", Event::TicketCreated, "#1", None).unwrap();
        let mut found = Vec::new();
        for i in 0..10 {
            found.extend(due(&kv, &ws, t + i * 30_000).unwrap());
        }
        assert!(found.contains(&ds[0]), "{found:?}");
    }

    /// A writer reads the cursor, then stalls for just under GRACE while
    /// the flushing host flushes every 10 s, then appends its entry (its
    /// clock an hour behind): the cursor has not left the bucket it appends
    /// to, so the delivery is found.
    #[test]
    fn a_writer_slow_between_reading_the_cursor_and_appending_is_found() {
        let (inner, ws, key) = setup();
        const T: Millis = 10 * HOUR;
        let t = T;
        RACED.with(|r| r.set(false));
        let kv = Faulty::new(inner, |inner, k, op| {
            if matches!(op, Op::Increment)
                && k.starts_with(keys::WEBHOOK_DUE_PREFIX)
                && !RACED.with(|r| r.replace(true))
            {
                for i in 0..12 {
                    due::flush(inner, T + i * 10_000, FLUSH_LIMIT).unwrap();
                }
            }
            Fault::Pass
        });
        kv.arm(false);
        endpoint(&kv, &ws, &key);
        for i in 0..30 {
            due(&kv, &ws, t - 10 * 60_000 + i * 20_000).unwrap();
        }
        kv.arm(true);
        let ds = emit(&kv, &ws, t - HOUR, "u", Event::TicketCreated, "#1", None).unwrap();
        assert!(RACED.with(|r| r.get()), "the flushes ran");
        kv.arm(false);
        let mut found = Vec::new();
        for i in 12..30 {
            found.extend(due(&kv, &ws, t + i * 10_000).unwrap());
        }
        assert!(found.contains(&ds[0]), "{found:?}");
    }

    /// Review of issue 22: while an attempt may still be running (up to
    /// its ATTEMPT_LIMIT), no flush prepares the same event again (the
    /// second attempt was due 5 s after the claim, and a flush then sent
    /// the same webhook-id beside the first).
    #[test]
    fn an_attempt_that_may_still_run_is_never_sent_again_beside_it() {
        let (kv, ws, key) = setup();
        endpoint(&kv, &ws, &key);
        let ds = emit(&kv, &ws, 0, "u", Event::TicketCreated, "#1", None).unwrap();
        assert!(prepare(&kv, &ws, ds[0], 0, &key, true).unwrap().is_some());
        // No answer yet: flushes every second until the attempt's limit.
        for t in (1_000..=ATTEMPT_LIMIT).step_by(1_000) {
            for n in due(&kv, &ws, t).unwrap() {
                let again = prepare(&kv, &ws, n, t, &key, true).unwrap();
                assert!(again.is_none(), "delivery {n} sent again at {t} ms");
            }
            let again = prepare(&kv, &ws, ds[0], t, &key, true).unwrap();
            assert!(again.is_none(), "sent again at {t} ms");
        }
        assert!(CLAIM_HOLD >= ATTEMPT_LIMIT);
    }

    /// Deliveries whose last attempt never answered, 30 of them made
    /// (every attempt failing) up to their last attempt.
    fn unanswered(kv: &dyn Kv, ws: &WorkspaceId, key: &SealKey) -> Millis {
        endpoint(kv, ws, key);
        let ds: Vec<u64> = (0..30)
            .flat_map(|_| emit(kv, ws, 0, "u", Event::TicketCreated, "#1", None).unwrap())
            .collect();
        let mut t = 0;
        for attempt in 1..=SCHEDULE.len() {
            for n in &ds {
                assert!(prepare(kv, ws, *n, t, key, true).unwrap().is_some());
                if attempt < SCHEDULE.len() {
                    record_attempt(kv, ws, *n, t, Ok(500)).unwrap();
                }
            }
            t = delivery(kv, ws, ds[0]).unwrap().next_at.unwrap_or(t);
        }
        t + due::ANSWER_WAIT
    }

    /// Review of issue 22: expiries are capped per call like hand-outs
    /// (30 unanswered last attempts: at most FLUSH_LIMIT failed per call,
    /// `more` until all are).
    #[test]
    fn expiries_are_capped_per_call() {
        let (kv, ws, key) = setup();
        let t = unanswered(&kv, &ws, &key);
        let first = due::flush(&kv, t, FLUSH_LIMIT).unwrap();
        assert_eq!((first.expired, first.more), (FLUSH_LIMIT, true));
        let second = due::flush(&kv, t, FLUSH_LIMIT).unwrap();
        assert_eq!(second.expired, 30 - FLUSH_LIMIT);
        let (all, _) = deliveries(&kv, &ws, None, None, 50).unwrap();
        assert!(all.iter().all(|d| d.state == DeliveryState::Failed));
    }

    thread_local! {
        static SWAPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A flush call cut short by a store error part-way through its
    /// expiries still saves the cursor over the ones it settled: the next
    /// call reads only the rest.
    #[test]
    fn a_flush_cut_short_keeps_what_it_settled() {
        let (inner, ws, key) = setup();
        SWAPS.with(|c| c.set(0));
        let kv = Faulty::new(inner, |_, k, op| match op {
            // From the 6th expiry's swap on, every swap fails.
            Op::Swap(_) if k.contains("/webhooks/delivery/") => {
                if SWAPS.with(|c| c.replace(c.get() + 1)) >= 5 {
                    Fault::Before
                } else {
                    Fault::Pass
                }
            }
            _ => Fault::Pass,
        });
        kv.arm(false);
        let t = unanswered(&kv, &ws, &key);
        let before = due::cursor(&kv).unwrap();
        SWAPS.with(|c| c.set(0));
        kv.arm(true);
        assert!(due::flush(&kv, t, FLUSH_LIMIT).is_err());
        kv.arm(false);
        assert_ne!(due::cursor(&kv).unwrap(), before, "the cursor moved");
        let next = due::flush(&kv, t, FLUSH_LIMIT).unwrap();
        assert!(next.scanned <= 30 - 5, "read again: {}", next.scanned);
        let (all, _) = deliveries(&kv, &ws, None, None, 50).unwrap();
        let failed = all
            .iter()
            .filter(|d| d.state == DeliveryState::Failed)
            .count();
        assert_eq!(failed, 5 + next.expired);
    }

    #[test]
    fn rotation_signs_with_both_secrets_for_a_day() {
        let (kv, ws, key) = setup();
        let (ep, old) = create(
            &ctx(&kv, &ws, 0, &Effects::default()),
            "https://hooks.example.com/",
            &[],
            Fresh {
                secret: [1; 32],
                seal: [101; 32],
                id: [1; 16],
            },
            &key,
            false,
        )
        .unwrap();
        let new = rotate(
            &ctx(&kv, &ws, 1_000, &Effects::default()),
            &ep.id,
            [2; 32],
            [9; 32],
            &key,
        )
        .unwrap();
        // No secret sits in the store in any encoding (the seal's nonce is
        // stored in clear, so it must never be the secret's bytes).
        for secret in [&old, &new] {
            let raw = token::base64_std_decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
            for (k, v) in kv.dump() {
                let v = String::from_utf8_lossy(&v).to_string();
                assert!(
                    !v.contains(&token::base64url(&raw)) && !v.contains(secret.as_str()),
                    "{k} holds a webhook secret"
                );
            }
        }
        assert_ne!(old, new);
        let ep = endpoints(&kv, &ws).unwrap().remove(0);
        assert_eq!(
            ep.signing_secrets(&key, 2_000),
            vec![new.clone(), old.clone()]
        );
        assert_eq!(
            ep.signing_secrets(&key, 1_000 + ROTATION_OVERLAP),
            vec![new.clone()]
        );
        assert_eq!(
            signature(&[new, old], "m", 1, "{}").matches("v1,").count(),
            2
        );
        remove(&kv, &ws, &ep.id).unwrap();
        assert!(endpoints(&kv, &ws).unwrap().is_empty());
    }
}
