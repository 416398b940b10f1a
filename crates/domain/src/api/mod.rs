//! The JSON API under `/api/v1/`, as pure functions from a [`Request`] to a
//! [`Response`]. The `tickets` component serves [`handle_tickets`]; the
//! `replies` component serves [`handle_replies`], the one path for posting to
//! a thread.
//!
//! Every request is authenticated first ([`authenticate`]) and checked against
//! its workspace, the ticket and the actor's role; whatever the caller may not
//! see answers 404, exactly like something that does not exist.

#[cfg(test)]
mod claim_tests;
mod inbound;
mod shares;
mod transfer;
mod webhooks;

pub use shares::{handle_shares, neutral_share_page};
pub use transfer::handle_transfer;
pub use webhooks::handle_webhooks;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::http::{MAX_JSON_BODY, Request, Response};
use crate::ids::{ApiKeyId, TicketNo, UserId, WorkspaceId};
use crate::keys;
use crate::model::{AuthorKind, Message, Reader, Ticket, Visibility};
use crate::record::{self, Claim, update};
use crate::store::Kv;
use crate::thread::{self, Author, Order, Scope};
use crate::time::{Millis, rfc3339};
use crate::token;
use crate::workspace::{self, Role, Settings, User, UserInput};

/// Everything an API call needs from the outside, passed in.
pub struct Env<'a> {
    /// The store.
    pub kv: &'a dyn Kv,
    /// Current time.
    pub now: Millis,
    /// Fresh 32-byte values from the OS random source.
    pub random: &'a mut dyn FnMut() -> [u8; 32],
    /// The deployment admin token (creates workspaces); empty disables it.
    pub admin_token: &'a str,
    /// Public origin links are built from (never the Host header).
    pub public_origin: &'a str,
    /// Webhook endpoints may be private, loopback or link-local addresses
    /// (local development and tests only).
    pub allow_private_webhooks: bool,
    /// The domain of tickets' reply addresses (`reply+<ref>@<domain>`),
    /// which the inbound mail provider forwards to `/hooks/...`.
    pub reply_domain: &'a str,
}

impl Env<'_> {
    fn request_id(&mut self) -> String {
        let r = (self.random)();
        crate::token::hex(&r[..8])
    }

    /// The key stored emails are sealed with (from the deployment secret).
    fn seal_key(&self) -> crate::seal::SealKey {
        crate::seal::SealKey::derive(self.admin_token)
    }

    /// Store an email for one recipient (body sealed); returns its number.
    fn enqueue_mail(
        &mut self,
        ws: &WorkspaceId,
        to: &str,
        draft: crate::outbox::Draft,
    ) -> Result<u64> {
        let r = (self.random)();
        Ok(crate::outbox::enqueue(self.kv, ws, self.now, to, draft, &self.seal_key(), r)?.n)
    }

    fn random16(&mut self) -> [u8; 16] {
        let r = (self.random)();
        let mut out = [0; 16];
        out.copy_from_slice(&r[..16]);
        out
    }
}

/// Header naming the user an API key acts as.
pub const ACT_AS_HEADER: &str = "ticketshare-act-as";

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The platform backend with an API key, not acting as anyone.
    Platform {
        /// Workspace of the key.
        ws: WorkspaceId,
        /// The key.
        key: ApiKeyId,
    },
    /// A person: through a session, or the platform acting as them.
    User {
        /// Workspace.
        ws: WorkspaceId,
        /// The user.
        user: Box<User>,
        /// The one ticket a session from an invitation reaches; `None` for
        /// the whole account (a login-link session, or the platform acting).
        scope: Option<TicketNo>,
    },
}

impl Actor {
    /// The actor's workspace.
    pub fn ws(&self) -> &WorkspaceId {
        match self {
            Actor::Platform { ws, .. } | Actor::User { ws, .. } => ws,
        }
    }

    fn user(&self) -> Option<&User> {
        match self {
            Actor::User { user, .. } => Some(user),
            Actor::Platform { .. } => None,
        }
    }

    /// The one ticket the actor's session reaches, if it is so limited.
    fn scope(&self) -> Option<TicketNo> {
        match self {
            Actor::User { scope, .. } => *scope,
            Actor::Platform { .. } => None,
        }
    }

    /// Platform, admin or staff: sees every ticket of the workspace.
    fn is_staff_side(&self) -> bool {
        self.user().is_none_or(User::is_staff)
    }

    /// Platform or admin: manages the workspace.
    fn is_admin_side(&self) -> bool {
        self.user().is_none_or(|u| u.role == Role::Admin)
    }

    /// How the actor appears in the audit ledger.
    fn audit_name(&self) -> String {
        match self {
            Actor::Platform { key, .. } => format!("platform:{key}"),
            Actor::User { user, .. } => user.id.to_string(),
        }
    }

    fn reader(&self) -> Reader {
        if self.is_staff_side() {
            Reader::Staff
        } else {
            Reader::CustomerSide
        }
    }
}

fn cookie(req: &Request, name: &str) -> Option<String> {
    req.header("cookie")?.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Identify the caller from `Authorization: Bearer tsk_…` (optionally with
/// the act-as header) or the session cookie.
pub fn authenticate(env: &Env, req: &Request) -> Result<Actor> {
    if let Some(authz) = req.header("authorization") {
        let secret = authz
            .strip_prefix("Bearer ")
            .ok_or(Error::Unauthenticated)?
            .trim();
        let (ws, key) = auth::authenticate_api_key(env.kv, secret, env.now)?;
        return match req.header(ACT_AS_HEADER) {
            None => Ok(Actor::Platform { ws, key }),
            Some(id) => {
                let id = UserId::parse(id.trim()).map_err(|_| {
                    Error::bad("invalid_id", format!("{ACT_AS_HEADER} must name a user id"))
                })?;
                let user = workspace::user(env.kv, &ws, &id).map_err(|e| {
                    e.unless_store(Error::bad(
                        "unknown_user",
                        format!("{ACT_AS_HEADER}: no such user in this workspace"),
                    ))
                })?;
                Ok(Actor::User {
                    ws,
                    user: Box::new(user),
                    scope: None,
                })
            }
        };
    }
    let cookie_value = cookie(req, auth::SESSION_COOKIE).ok_or(Error::Unauthenticated)?;
    let session = auth::session_user(env.kv, &cookie_value, env.now)?;
    if let Some(no) = session.ticket {
        if !reachable_in_scope(req, no) {
            return Err(Error::NotFound);
        }
    }
    let user = workspace::user(env.kv, &session.ws, &session.user)
        .map_err(|e| e.unless_store(Error::Unauthenticated))?;
    Ok(Actor::User {
        ws: session.ws,
        user: Box::new(user),
        scope: session.ticket,
    })
}

/// What a session from an invitation reaches: who is signed in, and its one
/// ticket (the ticket, its public thread and files, replies). Everything
/// else answers 404, as for a ticket the caller may not see; the rest of the
/// account needs a login link.
fn reachable_in_scope(req: &Request, no: TicketNo) -> bool {
    let Some(segs) = segments(&req.path) else {
        return false;
    };
    let this = |n: &str| TicketNo::parse(n).is_ok_and(|n| n == no);
    match (req.method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["me"]) => true,
        ("GET" | "HEAD", ["tickets", n] | ["tickets", n, "thread"]) => this(n),
        ("GET" | "HEAD", ["tickets", n, "messages", _, "attachments", _]) => this(n),
        ("POST", ["tickets", n, "replies"]) => this(n),
        _ => false,
    }
}

/// Whether an HTTP method changes something (anything but GET, HEAD and
/// OPTIONS).
fn unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Whether `origin` (an `Origin` header) is the configured public origin.
fn is_public_origin(origin: &str, public_origin: &str) -> bool {
    let public = public_origin.trim().trim_end_matches('/');
    !public.is_empty() && origin.trim().eq_ignore_ascii_case(public)
}

/// The one rule against cross-site request forgery, applied by the platform
/// to every request before any component sees it: a change (any method but
/// GET, HEAD, OPTIONS) that the browser authenticates by itself (it carries
/// cookies) or that a page behind a link posts (`/i/`, `/p/`, `/s/`: their
/// forms sign people in and post replies) must come from this site's own
/// pages: `Sec-Fetch-Site: same-origin` (or `none`, typed by the user), or
/// an `Origin` equal to the configured public origin. Anything else is 403
/// `cross_site_request`, before anything is read or written. Requests with a
/// bearer API key are not affected: no browser sends one by itself.
pub fn refuse_cross_site(req: &Request, public_origin: &str) -> Option<Response> {
    if !unsafe_method(&req.method) {
        return None;
    }
    if req
        .header("authorization")
        .is_some_and(|a| a.trim_start().starts_with("Bearer "))
    {
        return None;
    }
    let ambient = req.header("cookie").is_some_and(|c| !c.trim().is_empty());
    let link_page = ["/i/", "/p/", "/s/"]
        .iter()
        .any(|p| req.path.starts_with(p));
    if !ambient && !link_page {
        return None;
    }
    let same_site_fetch = req.header("sec-fetch-site").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "same-origin" | "none"
        )
    });
    let same_origin = req
        .header("origin")
        .is_some_and(|o| is_public_origin(o, public_origin));
    if same_site_fetch || same_origin {
        return None;
    }
    let mut r = Response::error(&Error::CrossSite);
    r.headers
        .push(("referrer-policy".into(), "no-referrer".into()));
    r.headers
        .push(("x-robots-tag".into(), "noindex, nofollow".into()));
    Some(r)
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "email": u.email, "name": u.name, "role": u.role,
        "company": u.company, "queues": u.queues, "permissions": u.permissions,
        "created_at": rfc3339(u.created_at),
    })
}

fn ticket_json(t: &Ticket, for_staff: bool) -> Value {
    let mut v = json!({
        "number": t.no.0, "ref": t.no.to_string(), "subject": t.subject, "status": t.status,
        "customer_id": t.customer, "created_at": rfc3339(t.created_at), "updated_at": rfc3339(t.updated_at),
    });
    if for_staff {
        v["order"] = json!(t.order);
        v["assignee_id"] = json!(t.assignee);
        v["queue"] = json!(t.queue);
        v["unread"] = json!(t.staff_unseen);
        v["version"] = json!(t.version);
    }
    v
}

fn message_json(m: &Message, reader: &Reader, team: &str) -> Value {
    let mut v = json!({
        "seq": m.seq.0,
        "author": { "name": m.display_name(reader, team), "kind": m.author_kind },
        "visibility": m.visibility,
        "body_html": m.body_html(),
        "source": m.source,
        "attachments": m.attachments.iter().map(|a| json!({
            "id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(m.created_at),
    });
    if *reader == Reader::Staff {
        v["share_id"] = json!(m.share);
        v["promoted_from"] = json!(m.promoted_from.map(|s| s.0));
    }
    v
}

/// The name unsigned staff posts show to the customer side.
fn team_name(w: &workspace::Workspace) -> String {
    if w.settings.branding.company_name.is_empty() {
        "Support team".to_string()
    } else {
        format!("{} team", w.settings.branding.company_name)
    }
}

fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api/v1")?;
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

fn method_not_allowed(allowed: &str) -> Result<Response> {
    Ok(Response::json(
        405,
        &json!({"error": {"code": "method_not_allowed", "message": format!("use {allowed}")}}),
    )
    .with_header("allow", allowed))
}

/// A ticket the actor may see, or NotFound.
fn visible_ticket(env: &Env, actor: &Actor, no: TicketNo) -> Result<Ticket> {
    if actor.scope().is_some_and(|s| s != no) {
        return Err(Error::NotFound);
    }
    let t = thread::ticket(env.kv, actor.ws(), no)?;
    if actor.is_staff_side() {
        return Ok(t);
    }
    let u = actor.user().ok_or(Error::NotFound)?;
    let same_company = workspace::same_company(u.company.as_deref(), t.company.as_deref());
    if t.customer == u.id
        || same_company
        || crate::delegates::active(env.kv, actor.ws(), no, &u.id)?.is_some()
    {
        Ok(t)
    } else {
        Err(Error::NotFound)
    }
}

/// How a customer-side user relates to a ticket they can see.
fn customer_kind(env: &Env, ws: &WorkspaceId, t: &Ticket, u: &User) -> Result<(AuthorKind, bool)> {
    let same_company = workspace::same_company(u.company.as_deref(), t.company.as_deref());
    if t.customer == u.id || same_company {
        return Ok((AuthorKind::Customer, true));
    }
    match crate::delegates::active(env.kv, ws, t.no, &u.id)? {
        Some(d) => Ok((AuthorKind::Delegate, d.can_reply)),
        None => Err(Error::NotFound),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWorkspace {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    link: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTicket {
    subject: String,
    body: String,
    #[serde(default)]
    customer_id: Option<UserId>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    order: Option<crate::model::OrderDetails>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReply {
    body: String,
    #[serde(default = "public")]
    visibility: Visibility,
    /// The platform posting on behalf of an email address (e.g. mail it
    /// received): accepted from the ticket's customer, a customer of the
    /// same company, or a participant of the ticket.
    #[serde(default)]
    from_email: Option<String>,
}

fn public() -> Visibility {
    Visibility::Public
}

fn session_cookie(value: &str, max_age_secs: i64) -> String {
    format!(
        "{}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}",
        auth::SESSION_COOKIE
    )
}

fn limit(req: &Request) -> Result<usize> {
    match req.query_param("limit") {
        None => Ok(25),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=thread::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::bad(
                    "invalid_query",
                    format!("limit must be 1 to {}", thread::MAX_PAGE),
                )
            }),
    }
}

fn cursor(req: &Request) -> Result<Option<u64>> {
    match req.query_param("cursor") {
        None => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::bad("invalid_query", "cursor is not valid")),
    }
}

/// The `tickets` component: workspaces, keys, users, sessions, tickets.
pub fn handle_tickets(env: &mut Env, req: &Request) -> Response {
    serve(env, req, tickets)
}

type Handler = fn(&mut Env, &Request, &str) -> Result<Response>;

/// Common wrapper: a request id on every response, and `Idempotency-Key` on
/// every authenticated POST (same key and body: the first successful
/// response replayed; same key, other body: 422; still running: 409; a
/// refused request does not use up its key).
fn serve(env: &mut Env, req: &Request, f: Handler) -> Response {
    let rid = env.request_id();
    if let Some(r) = wrong_method(req) {
        return r.with_header("x-request-id", &rid);
    }
    let resp: Response = match req.header("idempotency-key") {
        Some(key) if req.method == "POST" => idempotent(env, req, key, &rid, f).into(),
        _ => f(env, req, &rid).into(),
    };
    resp.with_header("x-request-id", &rid)
}

/// A documented path asked with a method it does not serve answers 405
/// with exactly the documented methods in `Allow`, before anything else is
/// looked at (one answer for every route, from the OpenAPI table).
pub(super) fn wrong_method(req: &Request) -> Option<Response> {
    let methods = crate::openapi::methods_for(&req.path);
    if methods.is_empty() || methods.contains(&req.method.as_str()) {
        return None;
    }
    let allow = methods.join(", ");
    Some(
        Response::json(
            405,
            &json!({"error": {"code": "method_not_allowed", "message": format!("{} is not served here; use {allow}", req.method)}}),
        )
        .with_header("allow", &allow),
    )
}

/// What an idempotency key holds: the request's body hash and, once done,
/// the response (never one carrying a secret).
#[derive(serde::Serialize, Deserialize)]
struct Stored {
    body_hash: String,
    /// Set while the first request runs; a stale one may be taken over.
    #[serde(default)]
    pending_since: Option<Millis>,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    body: String,
    /// The response held a secret; it is not replayed.
    #[serde(default)]
    secret: bool,
    /// The response was too large to keep; it is not replayed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    too_large: bool,
}

/// Largest idempotency record kept with its response for replay (the
/// store's value limit); a larger response is remembered as done only.
const MAX_REPLAY_RECORD_BYTES: usize = crate::store::MAX_VALUE_BYTES;

/// How long a request may hold its idempotency key before a retry may take
/// it over (the first one is presumed dead).
const IDEMPOTENCY_TAKEOVER: Millis = 60_000;

fn sha_hex(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    crate::token::hex(&h.finalize())
}

/// The hash naming one logical request: the caller, the path and its
/// Idempotency-Key (and, for [`attempt_step`], its body).
fn attempt_hash(actor: &Actor, req: &Request, key: &str) -> String {
    sha_hex(&[
        actor.audit_name().as_bytes(),
        req.path.as_bytes(),
        key.as_bytes(),
    ])
}

/// Where a step of an idempotent request keeps what it reserved (a message
/// number), so the request's retry with the same Idempotency-Key and body
/// finds it and completes that step instead of doing it again. `None`
/// without an Idempotency-Key.
fn attempt_step(actor: &Actor, req: &Request, step: &str) -> Option<String> {
    let key = req.header("idempotency-key")?;
    let hash = sha_hex(&[
        attempt_hash(actor, req, key).as_bytes(),
        &req.body,
        step.as_bytes(),
    ]);
    Some(keys::idempotency_step(actor.ws(), &hash))
}

/// The store as one attempt of an idempotent request sees it: its write ids
/// are derived from the request (its caller, path, Idempotency-Key and
/// body), the key and their order on that key, so every attempt of the
/// request stamps its n-th change of a record with the same id, and `record::update` skips a change an earlier
/// attempt made before its answer was lost.
struct AttemptKv<'a> {
    inner: &'a dyn Kv,
    attempt: String,
    /// How many writes this attempt made to each key so far.
    writes: std::cell::RefCell<std::collections::HashMap<String, u64>>,
}

impl Kv for AttemptKv<'_> {
    fn get(&self, key: &str) -> crate::store::StoreResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[String]) -> crate::store::StoreResult<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> crate::store::StoreResult<()> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> crate::store::StoreResult<()> {
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> crate::store::StoreResult<i64> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> crate::store::StoreResult<bool> {
        self.inner.compare_and_swap(key, expected, new)
    }
    fn write_id(&self, key: &str) -> u64 {
        let mut writes = self.writes.borrow_mut();
        let n = writes.entry(key.to_string()).or_insert(0);
        let h = sha_hex(&[self.attempt.as_bytes(), key.as_bytes(), &n.to_le_bytes()]);
        *n += 1;
        u64::from_str_radix(&h[..16], 16).unwrap_or(*n)
    }
}

/// The answer an idempotency record gives by itself: a replay, or a refusal
/// (another body: 422; done with a secret or too large: 409). `None` while
/// nothing is done (the claim decides then).
fn finished(env: &Env, record_key: &str, body_hash: &str) -> Result<Option<Response>> {
    let Some(bytes) = env.kv.get(record_key)? else {
        return Ok(None);
    };
    let stored: Stored = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))?;
    if stored.body_hash != body_hash {
        return Err(Error::Unprocessable(
            "this Idempotency-Key was used with a different body".into(),
        ));
    }
    if stored.pending_since.is_some() {
        return Ok(None);
    }
    if stored.secret {
        return Err(Error::Conflict(
            "this request was already done; its response held a secret that is shown only once"
                .into(),
        ));
    }
    if stored.too_large {
        return Err(Error::Conflict(
            "this request was already done; its response was too large to keep for replay".into(),
        ));
    }
    let value: Value = serde_json::from_str(&stored.body).unwrap_or(Value::Null);
    Ok(Some(
        Response::json(stored.status, &value).with_header("idempotent-replayed", "true"),
    ))
}

fn idempotent(env: &mut Env, req: &Request, key: &str, rid: &str, f: Handler) -> Result<Response> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(Error::bad(
            "invalid_header",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    // Keys are scoped to the caller; unauthenticated calls just run.
    let Ok(actor) = authenticate(env, req) else {
        return f(env, req, rid);
    };
    let ws = actor.ws().clone();
    let hash = attempt_hash(&actor, req, key);
    let body_hash = sha_hex(&[&req.body]);
    let record_key = keys::idempotency(&ws, &hash);
    let claim_key = keys::idempotency_claim(&ws, &hash);
    if let Some(done) = finished(env, &record_key, &body_hash)? {
        return Ok(done);
    }
    // One attempt runs at a time. One that ended without finishing (a
    // refusal, or a store that did not answer) released the claim, so its
    // retry runs at once; one that died is taken over after a minute.
    let holder = env.request_id();
    let lease = match record::acquire(env.kv, &claim_key, &holder, env.now, IDEMPOTENCY_TAKEOVER)? {
        Claim::Held(lease) => lease,
        Claim::Busy => {
            return Err(Error::Conflict(
                "a request with this Idempotency-Key is still in progress".into(),
            ));
        }
        Claim::Done => {
            return match finished(env, &record_key, &body_hash)? {
                Some(done) => Ok(done),
                None => Err(Error::Conflict("this request was already done".into())),
            };
        }
    };
    // The attempt's writes carry ids of its own, the same in every attempt
    // of this request: a retry finds what an attempt whose answer was lost
    // changed already, and does not change it again.
    let attempt = AttemptKv {
        inner: env.kv,
        attempt: sha_hex(&[hash.as_bytes(), body_hash.as_bytes()]),
        writes: Default::default(),
    };
    let resp: Response = {
        let mut env = Env {
            kv: &attempt,
            now: env.now,
            random: &mut *env.random,
            admin_token: env.admin_token,
            public_origin: env.public_origin,
            allow_private_webhooks: env.allow_private_webhooks,
            reply_domain: env.reply_domain,
        };
        f(&mut env, req, rid).into()
    };
    if !(200..300).contains(&resp.status) {
        // Only a success is kept for replay. A refusal changed nothing (no
        // partial writes), so it leaves nothing behind either: a transient
        // one (409, 429) may be retried, and a corrected request may reuse
        // the key. A 503 may have made its change: steps that must not run
        // twice keep what they reserved (`attempt_step`), and its writes
        // carry the request's own ids (`AttemptKv`), so the retry completes
        // them once. The claim is given up (a refusal's is removed) so the
        // retry runs at once.
        if resp.status >= 500 {
            record::release(env.kv, lease);
        } else {
            let _ = env.kv.delete(&claim_key);
        }
        return Ok(resp);
    }
    // The request's change is written: its answer is a success whatever
    // happens to the record kept for replay.
    let mut stored = Stored {
        body_hash,
        pending_since: None,
        status: resp.status,
        body: if resp.secret {
            String::new()
        } else {
            String::from_utf8_lossy(&resp.body).into_owned()
        },
        secret: resp.secret,
        too_large: false,
    };
    let bytes = match serde_json::to_vec(&stored) {
        Ok(b) if b.len() <= MAX_REPLAY_RECORD_BYTES => Ok(b),
        // Too large to keep for replay: kept as done, without the body.
        _ => {
            stored.body = String::new();
            stored.too_large = true;
            serde_json::to_vec(&stored)
        }
    };
    // Kept, then the claim marked done. When that fails the claim stays
    // held (a retry gets 409, then takes it over after
    // IDEMPOTENCY_TAKEOVER); once the record is kept, it answers.
    let kept = bytes
        .map_err(|e| Error::Store(crate::store::StoreError(e.to_string())))
        .and_then(|b| Ok(env.kv.set(&record_key, &b)?))
        .and_then(|()| record::finish(env.kv, lease));
    let mut resp = resp;
    after_commit(&mut resp.internal, "keeping the response for replay", kept);
    Ok(resp)
}

fn audit(
    env: &Env,
    actor: &Actor,
    event: Event,
    target: &str,
    ticket: Option<TicketNo>,
    rid: &str,
) -> Result<()> {
    crate::audit::record(
        env.kv,
        actor.ws(),
        env.now,
        &actor.audit_name(),
        event,
        target,
        ticket,
        rid,
    )
}

/// Work after a request's change is written (its commit point: a post, an
/// invitation or share emailed, a participant added, a ticket moved, a
/// setting saved) never turns the change into an error: the client would
/// retry and do it twice (an error also frees its Idempotency-Key). That
/// work is the audit entry and the webhooks queued with it, copies to
/// participants, an email after an add, reading back what was written. A
/// failure is added to `internal` (a response's details for the log), and
/// the response still says the change was made; `None` then.
fn after_commit<T>(internal: &mut Option<String>, what: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let line = format!("{what} failed after the request's change was written: {e}");
            *internal = Some(match internal.take() {
                Some(before) => format!("{before}; {line}"),
                None => line,
            });
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailLogin {
    workspace: String,
    email: String,
}

/// `POST /auth/email-login`: the same answer whether or not the address (or
/// the workspace) exists; a link is emailed only when it does.
fn email_login(env: &mut Env, req: &Request) -> Result<Response> {
    let body: EmailLogin = req.json(MAX_JSON_BODY)?;
    let answer = Response::json(
        202,
        &json!({"ok": true, "message": "If that address has an account, a sign-in link is on its way."}),
    );
    let Ok(ws) = WorkspaceId::parse(body.workspace.trim()) else {
        return Ok(answer);
    };
    let Ok(w) = workspace::workspace(env.kv, &ws) else {
        return Ok(answer);
    };
    let Ok(Some(user)) = workspace::user_by_email(env.kv, &ws, &body.email) else {
        return Ok(answer);
    };
    if !auth::may_email_login(env.kv, &ws, &workspace::email_hash(&user.email), env.now)? {
        return Ok(answer);
    }
    let r = (env.random)();
    let link = auth::mint_login(env.kv, &ws, &user.id, env.now, r)?;
    let url = format!("{}/login#{link}", env.public_origin.trim_end_matches('/'));
    let draft = crate::outbox::login_link(&mail_branding(env, &w)?, &user.name, &url);
    let mail = env.enqueue_mail(&ws, &user.email, draft)?;
    // The link is on its way: the answer stays what it is.
    let mut answer = answer;
    let audited = crate::audit::record(
        env.kv,
        &ws,
        env.now,
        &user.id.to_string(),
        Event::LoginLinkEmailed,
        &user.id.to_string(),
        None,
        "",
    );
    after_commit(&mut answer.internal, "the audit entry", audited);
    answer.mail.push((ws, mail));
    Ok(answer)
}

fn tickets(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let m = req.method.as_str();
    // Unauthenticated endpoints first.
    match (m, segs.as_slice()) {
        ("POST", ["workspaces"]) => return create_workspace(env, req, rid),
        (_, ["workspaces"]) => return method_not_allowed("POST"),
        ("POST", ["auth", "login"]) => return login(env, req, rid),
        ("POST", ["auth", "email-login"]) => return email_login(env, req),
        ("GET", ["openapi.json"]) => return Ok(Response::json(200, &crate::openapi::document())),
        ("GET", ["workspaces", ws, "logo"]) => return public_logo(env, ws),
        ("GET", ["workspaces", ws, "brand.css"]) => return shares::brand_css(env, ws),
        ("POST", ["auth", "logout"]) => {
            if let Some(s) = cookie(req, auth::SESSION_COOKIE) {
                auth::end_session(env.kv, &s)?;
            }
            return Ok(Response::json(200, &json!({"ok": true}))
                .with_header("set-cookie", &session_cookie("", 0)));
        }
        _ => {}
    }
    let actor = authenticate(env, req)?;
    let ws = actor.ws().clone();
    match (m, segs.as_slice()) {
        ("GET", ["me"]) => match &actor {
            Actor::User { user, scope, .. } => Ok(Response::json(
                200,
                &json!({"workspace": ws, "user": user_json(user), "ticket_scope": scope.map(|n| n.0)}),
            )),
            Actor::Platform { key, .. } => Ok(Response::json(
                200,
                &json!({"workspace": ws, "api_key_id": key}),
            )),
        },
        ("GET", ["workspace"]) => {
            let w = workspace::workspace(env.kv, &ws)?;
            Ok(Response::json(
                200,
                &json!({"id": w.id, "name": w.name, "settings": w.settings, "created_at": rfc3339(w.created_at)}),
            ))
        }
        ("PUT", ["workspace", "settings"]) => {
            require(actor.is_admin_side(), "only admins change settings")?;
            let s = Settings::from_full_body(&req.json::<Value>(MAX_JSON_BODY)?)?;
            let w = workspace::set_settings(env.kv, &ws, s)?;
            let mut resp = Response::json(200, &json!({"settings": w.settings}));
            let audited = audit(env, &actor, Event::SettingsChanged, ws.as_str(), None, rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("PATCH", ["workspace", "settings"]) => {
            require(actor.is_admin_side(), "only admins change settings")?;
            let patch: Value = req.json(MAX_JSON_BODY)?;
            let w = workspace::patch_settings(env.kv, &ws, &patch)?;
            let mut resp = Response::json(200, &json!({"settings": w.settings}));
            let audited = audit(env, &actor, Event::SettingsChanged, ws.as_str(), None, rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("PUT", ["workspace", "logo"]) => {
            require(actor.is_admin_side(), "only admins change the branding")?;
            let ctype = req
                .header("content-type")
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let logo = workspace::set_logo(env.kv, &ws, &ctype, &req.body)?;
            let mut resp = Response::json(200, &json!({"logo": logo, "url": logo_url(env, &ws)}));
            let audited = audit(env, &actor, Event::LogoChanged, &logo.etag, None, rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("GET", ["audit"]) => {
            require(actor.is_admin_side(), "only admins read the audit ledger")?;
            audit_export(env, req, &ws, None)
        }
        ("GET", ["tickets", no, "audit"]) => {
            require(
                actor.is_staff_side(),
                "only staff read a ticket's audit trail",
            )?;
            let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
            audit_export(env, req, &ws, Some(t.no))
        }
        ("GET", ["links"]) => {
            require(actor.is_admin_side(), "only admins review every live link")?;
            let (links, next) =
                crate::links::page(env.kv, &ws, cursor(req)?, limit(req)?, env.now)?;
            Ok(Response::json(
                200,
                &json!({"links": links, "next_cursor": next}),
            ))
        }
        ("GET", ["outbox"]) => {
            require(actor.is_admin_side(), "only admins read the outbox")?;
            let (emails, next) =
                crate::outbox::page(env.kv, &ws, cursor(req)?, limit(req)?, &env.seal_key())?;
            // Times in RFC 3339, like every other time the API shows.
            let emails: Vec<Value> = emails
                .iter()
                .map(|e| {
                    let mut v = json!(e);
                    v["created_at"] = json!(rfc3339(e.created_at));
                    v
                })
                .collect();
            Ok(Response::json(
                200,
                &json!({"emails": emails, "next_cursor": next}),
            ))
        }
        ("GET", ["api-keys"]) => {
            require(actor.is_admin_side(), "only admins manage API keys")?;
            Ok(Response::json(
                200,
                &json!({"api_keys": auth::list_api_keys(env.kv, &ws)?.iter().map(api_key_json).collect::<Vec<_>>()}),
            ))
        }
        ("POST", ["api-keys"]) => {
            require(actor.is_admin_side(), "only admins manage API keys")?;
            let body: NewKey = req.json(MAX_JSON_BODY)?;
            let (r32, r16) = ((env.random)(), env.random16());
            let (key, secret) = auth::create_api_key(env.kv, &ws, &body.label, env.now, r32, r16)?;
            let mut resp = Response::json(
                201,
                &json!({"api_key": api_key_json(&key), "secret": secret}),
            )
            .with_secret();
            let audited = audit(
                env,
                &actor,
                Event::ApiKeyCreated,
                key.id.as_str(),
                None,
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("POST", ["api-keys", id, "revoke"]) => {
            require(actor.is_admin_side(), "only admins manage API keys")?;
            auth::revoke_api_key(env.kv, &ws, &ApiKeyId::parse(id)?)?;
            let mut resp = Response::json(200, &json!({"revoked": id}));
            let audited = audit(env, &actor, Event::ApiKeyRevoked, id, None, rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("PUT", ["users"]) => {
            require(
                actor.is_admin_side(),
                "only the platform or admins manage users",
            )?;
            let input: UserInput = req.json(MAX_JSON_BODY)?;
            // An upsert is the same change however often it is sent: its
            // holder is the request itself, so a retry of one whose attempt
            // died takes its claim back at once (and makes the same user).
            let holder = match req.header("idempotency-key") {
                Some(_) => claim_holder(env, req, &actor.audit_name()),
                None => sha_hex(&[
                    actor.audit_name().as_bytes(),
                    req.path.as_bytes(),
                    &req.body,
                ]),
            };
            let (u, created) = workspace::upsert_user_as(env.kv, &ws, input, env.now, &holder)?;
            let mut resp = Response::json(
                if created { 201 } else { 200 },
                &json!({"user": user_json(&u)}),
            );
            let audited = audit(
                env,
                &actor,
                if created {
                    Event::UserCreated
                } else {
                    Event::UserUpdated
                },
                u.id.as_str(),
                None,
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("GET", ["users", id]) => {
            let id = UserId::parse(id)?;
            if !actor.is_staff_side() && actor.user().map(|u| &u.id) != Some(&id) {
                return Err(Error::NotFound);
            }
            Ok(Response::json(
                200,
                &json!({"user": user_json(&workspace::user(env.kv, &ws, &id)?)}),
            ))
        }
        ("POST", ["users", id, "login-links"]) => {
            require(
                actor.is_admin_side(),
                "only the platform or admins mint login links",
            )?;
            let user = workspace::user(env.kv, &ws, &UserId::parse(id)?)?;
            let r = (env.random)();
            let link = auth::mint_login(env.kv, &ws, &user.id, env.now, r)?;
            let mut resp = Response::json(
                201,
                &json!({
                    "url": format!("{}/login#{link}", env.public_origin.trim_end_matches('/')),
                    "expires_at": rfc3339(env.now + auth::LOGIN_LINK_LIFETIME),
                }),
            )
            .with_secret();
            let audited = audit(
                env,
                &actor,
                Event::LoginLinkMinted,
                user.id.as_str(),
                None,
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("POST", ["tickets"]) => create_ticket(env, &actor, req, rid),
        ("GET", ["tickets"]) if req.query_param("scope").as_deref() == Some("delegated") => {
            let u = actor.user().ok_or_else(|| {
                Error::bad("act_as_required", "delegated tickets belong to a person")
            })?;
            let nos = crate::delegates::delegated_tickets(env.kv, &ws, &u.id, limit(req)?)?;
            let mut list = Vec::new();
            for no in nos {
                if let Ok(t) = thread::ticket(env.kv, &ws, no) {
                    let mut v = ticket_json(&t, false);
                    v["shared"] = json!(true);
                    list.push(v);
                }
            }
            Ok(Response::json(
                200,
                &json!({"tickets": list, "next_cursor": null}),
            ))
        }
        ("GET", ["tickets"]) => {
            let scope = match actor.user() {
                Some(u) if !u.is_staff() => match &u.company {
                    Some(c) if req.query_param("scope").as_deref() == Some("company") => {
                        Scope::Company(c.clone())
                    }
                    _ => Scope::Customer(u.id.clone()),
                },
                _ => Scope::Workspace,
            };
            let (list, next) = thread::list(env.kv, &ws, &scope, cursor(req)?, limit(req)?)?;
            let staff = actor.is_staff_side();
            Ok(Response::json(
                200,
                &json!({
                    "tickets": list.iter().map(|t| ticket_json(t, staff)).collect::<Vec<_>>(),
                    "next_cursor": next,
                }),
            ))
        }
        ("GET", ["inbox"]) => transfer::inbox(env, &actor, req),
        ("POST", ["inbox", "reindex"]) => transfer::reindex(env, &actor, rid),
        ("GET", ["search"]) => search(env, &actor, req),
        ("GET", ["staff"]) => {
            require(actor.is_staff_side(), "only staff look up staff")?;
            let q = req.query_param("q").unwrap_or_default();
            let list = workspace::staff(env.kv, &ws, &q)?;
            Ok(Response::json(
                200,
                &json!({
                    "staff": list.iter().map(|u| json!({"id": u.id, "name": u.name, "email": u.email, "role": u.role, "queues": u.queues})).collect::<Vec<_>>(),
                    "queues": workspace::queues(env.kv, &ws)?,
                }),
            ))
        }
        ("GET", ["tickets", no]) => {
            let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
            let mut v = ticket_json(&t, actor.is_staff_side());
            if actor.is_staff_side() {
                // Where email replies to this ticket go (the platform's own
                // ticket emails can use it as Reply-To).
                v["reply_address"] = json!(
                    t.reply_ref
                        .as_ref()
                        .filter(|_| !env.reply_domain.is_empty())
                        .map(|r| crate::inbound::reply_address(r, env.reply_domain))
                );
            }
            Ok(Response::json(200, &json!({"ticket": v})))
        }
        ("PUT", ["tickets", no, "order"]) => {
            require(
                actor.is_staff_side(),
                "order details come from the platform or staff",
            )?;
            let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
            let o: crate::model::OrderDetails = req.json(MAX_JSON_BODY)?;
            o.validate()?;
            let t = update(env.kv, &keys::ticket(&ws, t.no), |t: &mut Ticket| {
                t.order = Some(o.clone());
                Ok(())
            })?;
            let mut resp = Response::json(200, &json!({"ticket": ticket_json(&t, true)}));
            let audited = audit(
                env,
                &actor,
                Event::OrderSet,
                &t.no.to_string(),
                Some(t.no),
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        ("GET", ["tickets", no, "messages", seq, "attachments", id]) => {
            let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
            shares::file_response(env, &ws, t.no, seq, id, &actor.reader())
        }
        ("GET", ["tickets", no, "thread"]) => {
            let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
            let order = match req.query_param("order").as_deref() {
                None | Some("oldest") => Order::OldestFirst,
                Some("newest") => Order::NewestFirst,
                Some(o) => {
                    return Err(Error::bad(
                        "invalid_query",
                        format!("order {o:?} must be oldest or newest"),
                    ));
                }
            };
            let reader = actor.reader();
            let page = thread::page(
                env.kv,
                &ws,
                &t,
                &reader,
                order,
                cursor(req)?,
                limit(req)?,
                env.now,
            )?;
            let team = team_name(&workspace::workspace(env.kv, &ws)?);
            Ok(Response::json(
                200,
                &json!({
                    "messages": page.messages.iter().map(|m| message_json(m, &reader, &team)).collect::<Vec<_>>(),
                    "next_cursor": page.next,
                }),
            ))
        }
        (
            _,
            ["me"]
            | ["workspace", ..]
            | ["workspaces", ..]
            | ["api-keys", ..]
            | ["users", ..]
            | ["tickets", ..]
            | ["audit"]
            | ["outbox"]
            | ["inbox", ..]
            | ["search"]
            | ["staff"]
            | ["links"],
        ) => method_not_allowed("GET, POST, PUT"),
        _ => Err(Error::NoRoute),
    }
}

/// `GET /api/v1/search?q=`: `#22` (or `22`) opens ticket 22; words match
/// subject, customer name and email (staff) and message text, within what
/// the searcher may see, most recent activity first.
fn search(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let q = req.query_param("q").unwrap_or_default();
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(Error::bad("invalid_query", "q must be 1 to 200 characters"));
    }
    let staff = actor.is_staff_side();
    let number = q.strip_prefix('#').unwrap_or(q);
    if let Ok(no) = TicketNo::parse(number) {
        if number.bytes().all(|c| c.is_ascii_digit()) {
            let hits = match visible_ticket(env, actor, no) {
                Ok(t) => vec![ticket_json(&t, staff)],
                Err(Error::NotFound) => Vec::new(),
                Err(e) => return Err(e),
            };
            return Ok(Response::json(
                200,
                &json!({"tickets": hits, "by_number": true}),
            ));
        }
    }
    let scope = if staff {
        crate::search::Scope::All
    } else {
        crate::search::Scope::Public
    };
    let mut keep = |t: &Ticket| -> Result<bool> {
        match visible_ticket(env, actor, t.no) {
            Ok(_) => Ok(true),
            Err(Error::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let limit = limit(req)?;
    let found = crate::search::search(env.kv, actor.ws(), q, scope, limit, &mut keep)?;
    Ok(Response::json(
        200,
        &json!({"tickets": found.iter().map(|t| ticket_json(t, staff)).collect::<Vec<_>>(), "by_number": false}),
    ))
}

fn audit_export(
    env: &Env,
    req: &Request,
    ws: &WorkspaceId,
    ticket: Option<TicketNo>,
) -> Result<Response> {
    let after = cursor(req)?.unwrap_or(0);
    let limit = match req.query_param("limit") {
        None => 1000,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=5000).contains(n))
            .ok_or_else(|| Error::bad("invalid_query", "limit must be 1 to 5000"))?,
    };
    let (entries, next) = crate::audit::page(env.kv, ws, ticket, after, limit, env.now)?;
    match req.query_param("format").as_deref() {
        None | Some("json") => Ok(Response::json(
            200,
            &json!({
                "entries": entries.iter().map(|e| json!({
                    "n": e.n, "at": rfc3339(e.at), "actor": e.actor, "action": e.action,
                    "target": e.target, "ticket": e.ticket.map(|t| t.0), "request_id": e.request_id,
                })).collect::<Vec<_>>(),
                "next_cursor": next,
            }),
        )),
        Some("csv") => {
            let mut r = Response::json(200, &Value::Null);
            r.body = crate::audit::to_csv(&entries).into_bytes();
            r.headers.retain(|(k, _)| k != "content-type");
            r.headers
                .push(("content-type".into(), "text/csv; charset=utf-8".into()));
            r.headers.push((
                "content-disposition".into(),
                "attachment; filename=\"audit.csv\"".into(),
            ));
            if let Some(n) = next {
                r.headers.push(("x-next-cursor".into(), n.to_string()));
            }
            Ok(r)
        }
        Some(f) => Err(Error::bad(
            "invalid_query",
            format!("format {f:?} must be json or csv"),
        )),
    }
}

/// Where mail clients fetch the uploaded logo.
fn logo_url(env: &Env, ws: &WorkspaceId) -> String {
    format!(
        "{}/api/v1/workspaces/{ws}/logo",
        env.public_origin.trim_end_matches('/')
    )
}

/// `GET /api/v1/workspaces/<ws>/logo`: public, since emails show it. A
/// workspace without a logo and a workspace that does not exist get the same
/// 404 (the logo is looked up directly, never the workspace).
fn public_logo(env: &Env, ws: &str) -> Result<Response> {
    let ws = WorkspaceId::parse(ws).map_err(|_| Error::NotFound)?;
    let (meta, bytes) = workspace::logo(env.kv, &ws)?.ok_or(Error::NotFound)?;
    let mut r = Response::json(200, &Value::Null);
    r.body = bytes;
    r.headers = vec![
        ("content-type".into(), meta.content_type),
        ("cache-control".into(), "public, max-age=300".into()),
        ("etag".into(), format!("\"{}\"", meta.etag)),
        ("x-content-type-options".into(), "nosniff".into()),
        (
            "content-security-policy".into(),
            "default-src 'none'".into(),
        ),
    ];
    Ok(r)
}

/// Branding for emails: an uploaded logo wins over a logo URL.
fn mail_branding(env: &Env, w: &workspace::Workspace) -> Result<workspace::Branding> {
    let mut b = w.settings.branding.clone();
    if workspace::logo(env.kv, &w.id)?.is_some() {
        b.logo_url = logo_url(env, &w.id);
    }
    Ok(b)
}

fn require(ok: bool, why: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Forbidden(why.into()))
    }
}

/// Who holds the claim a creating request takes on a name
/// ([`crate::record::acquire`]): derived from its Idempotency-Key when it
/// has one (with the caller, path and body, as [`idempotent`] scopes keys),
/// so that its retry takes the claim back at once and completes the
/// creation; a fresh random one otherwise.
fn claim_holder(env: &mut Env, req: &Request, caller: &str) -> String {
    match req.header("idempotency-key") {
        Some(key) => sha_hex(&[
            b"claim holder",
            caller.as_bytes(),
            req.path.as_bytes(),
            key.as_bytes(),
            &req.body,
        ]),
        None => crate::token::hex(&env.random16()),
    }
}

fn create_workspace(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let given = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Error::Unauthenticated)?;
    if env.admin_token.is_empty() || !token::ct_eq(given.as_bytes(), env.admin_token.as_bytes()) {
        return Err(Error::Unauthenticated);
    }
    let body: NewWorkspace = req.json(MAX_JSON_BODY)?;
    let id = WorkspaceId::parse(&body.id)?;
    let holder = claim_holder(env, req, "deployment");
    let key_random = ((env.random)(), env.random16());
    let made = workspace::create_workspace_as(
        env.kv,
        &id,
        &body.name,
        env.now,
        &holder,
        Some(key_random),
    )?;
    let w = made.workspace;
    let (key, secret) = made.key.ok_or(Error::NotFound)?;
    // The workspace and its key exist: the answer (which holds the key's
    // only copy) stands whatever fails after.
    let mut resp = Response::json(
        201,
        &json!({
            "workspace": {"id": w.id, "name": w.name, "settings": w.settings},
            "api_key": api_key_json(&key), "secret": secret,
        }),
    );
    if let Some(e) = made.unfinished {
        after_commit::<()>(&mut resp.internal, "marking the creation finished", Err(e));
    }
    let audited = crate::audit::record(
        env.kv,
        &id,
        env.now,
        "deployment",
        Event::WorkspaceCreated,
        id.as_str(),
        None,
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

fn login(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let body: LoginBody = req.json(MAX_JSON_BODY)?;
    let (ws, user_id) = auth::consume_login(env.kv, &body.link, env.now)?;
    let user = workspace::user(env.kv, &ws, &user_id)?;
    let r = (env.random)();
    let session = auth::create_session(env.kv, &ws, &user_id, env.now, r)?;
    // The link is used up and the session made: the answer stands.
    let mut resp = Response::json(200, &json!({"workspace": ws, "user": user_json(&user)}))
        .with_header(
            "set-cookie",
            &session_cookie(&session, auth::SESSION_LIFETIME / 1000),
        );
    let audited = crate::audit::record(
        env.kv,
        &ws,
        env.now,
        user_id.as_str(),
        Event::SessionStarted,
        user_id.as_str(),
        None,
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

fn create_ticket(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let body: NewTicket = req.json(MAX_JSON_BODY)?;
    let ws = actor.ws();
    let (customer, author) = match actor.user() {
        Some(u) if u.role == Role::Customer => {
            if body.customer_id.as_ref().is_some_and(|c| c != &u.id) {
                return Err(Error::Forbidden(
                    "customers open tickets for themselves".into(),
                ));
            }
            (
                u.clone(),
                Author {
                    id: Some(u.id.to_string()),
                    name: u.name.clone(),
                    kind: AuthorKind::Customer,
                    signed: true,
                },
            )
        }
        staff_or_platform => {
            let cid = body.customer_id.clone().ok_or_else(|| {
                Error::bad(
                    "missing_field",
                    "customer_id: name the customer the ticket is for",
                )
            })?;
            let c = workspace::user(env.kv, ws, &cid).map_err(|e| {
                e.unless_store(Error::bad(
                    "unknown_user",
                    "customer_id: no such user in this workspace",
                ))
            })?;
            if c.role != Role::Customer {
                return Err(Error::bad(
                    "invalid_field",
                    "customer_id must name a customer",
                ));
            }
            let author = match staff_or_platform {
                Some(s) => Author {
                    id: Some(s.id.to_string()),
                    name: s.name.clone(),
                    kind: AuthorKind::Staff,
                    signed: true,
                },
                // The platform on the customer's behalf.
                None => Author {
                    id: Some(c.id.to_string()),
                    name: c.name.clone(),
                    kind: AuthorKind::Customer,
                    signed: true,
                },
            };
            (c, author)
        }
    };
    let queue = body.queue.unwrap_or_else(|| "support".into());
    workspace::check_queue(&queue)?;
    workspace::note_queue(env.kv, ws, &queue)?;
    if let Some(o) = &body.order {
        if actor.user().is_some_and(|u| u.role == Role::Customer) {
            return Err(Error::Forbidden(
                "order details come from the platform or staff".into(),
            ));
        }
        o.validate()?;
    }
    let reserved =
        attempt_step(actor, req, "ticket").zip(attempt_step(actor, req, "first-message"));
    let (mut t, first, settled) = thread::create_ticket_reserved(
        env.kv,
        ws,
        env.now,
        &body.subject,
        &customer,
        &queue,
        &author,
        &body.body,
        reserved
            .map(|(ticket, first_message)| thread::Reserved {
                ticket,
                first_message,
            })
            .as_ref(),
    )?;
    // The ticket and its first message are written: the post stands,
    // whatever fails after it (the answer shows what the ticket holds).
    let mut internal = None;
    after_commit(
        &mut internal,
        "the ticket's lists, search terms or inbox entry",
        settled,
    );
    if !env.reply_domain.is_empty() {
        // Every ticket has its reply address from the start (or from its
        // first email, when this fails).
        let r = crate::inbound::reply_reference(env.kv, ws, t.no, (env.random)());
        after_commit(&mut internal, "the reply address", r);
    }
    if let Some(o) = body.order {
        let r = update(env.kv, &keys::ticket(ws, t.no), |t: &mut Ticket| {
            t.order = Some(o.clone());
            Ok(())
        });
        if let Some(updated) = after_commit(&mut internal, "storing the order details", r) {
            t = updated;
        }
    }
    let audited = audit(
        env,
        actor,
        Event::TicketCreated,
        &t.no.to_string(),
        Some(t.no),
        rid,
    );
    after_commit(&mut internal, "the audit entry", audited);
    let mut resp = Response::json(
        201,
        &json!({"ticket": ticket_json(&t, actor.is_staff_side()), "message": message_json(&first, &actor.reader(), "")}),
    );
    resp.internal = internal;
    Ok(resp)
}

/// The `replies` component: `POST /api/v1/tickets/<no>/replies`, the one path
/// every writer's post goes through.
pub fn handle_replies(env: &mut Env, req: &Request) -> Response {
    serve(env, req, replies)
}

fn replies(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    if let ["tickets", no, "messages", seq, "promote"] = segs.as_slice() {
        if req.method != "POST" {
            return method_not_allowed("POST");
        }
        let actor = authenticate(env, req)?;
        let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
        return shares::promote(env, &actor, &t, seq, rid);
    }
    let ["tickets", no, "replies"] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if req.method != "POST" {
        return method_not_allowed("POST");
    }
    let actor = authenticate(env, req)?;
    let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
    let body: NewReply = req.json(MAX_JSON_BODY)?;
    let ws = workspace::workspace(env.kv, actor.ws())?;
    if let Some(email) = &body.from_email {
        if actor.user().is_some() {
            return Err(Error::bad(
                "invalid_field",
                "from_email is for the platform posting on someone's behalf, not with act-as",
            ));
        }
        let author = reply_sender(env, &ws, &t, email)?;
        if body.visibility != Visibility::Public {
            return Err(Error::bad(
                "invalid_field",
                "replies on someone's behalf are public",
            ));
        }
        let (msg, ticket) = thread::post_with(
            env.kv,
            actor.ws(),
            t.no,
            env.now,
            &author,
            Visibility::Public,
            &body.body,
            thread::Extras {
                reserved: attempt_step(&actor, req, "message"),
                ..thread::Extras::default()
            },
        )?;
        let mut resp = Response::json(
            201,
            &json!({"message": message_json(&msg, &Reader::Staff, &team_name(&ws)), "ticket": ticket_json(&ticket, true)}),
        );
        let audited = audit(
            env,
            &actor,
            Event::MessagePosted,
            &format!("{}/{}", t.no, msg.seq.0),
            Some(t.no),
            rid,
        );
        after_commit(&mut resp.internal, "the audit entry", audited);
        let except = if author.kind == AuthorKind::Participant {
            author.id.clone()
        } else {
            None
        };
        let copied = copy_participants(env, &ws, &ticket, &author.name, except.as_deref());
        resp.mail =
            after_commit(&mut resp.internal, "copying participants", copied).unwrap_or_default();
        return Ok(resp);
    }
    let user = actor.user().ok_or_else(|| {
        Error::bad(
            "act_as_required",
            format!("post as a person: send {ACT_AS_HEADER} with a user id"),
        )
    })?;
    let author = if user.is_staff() {
        Author {
            id: Some(user.id.to_string()),
            name: user.name.clone(),
            kind: AuthorKind::Staff,
            signed: ws.settings.sign_replies,
        }
    } else {
        let (kind, can_reply) = customer_kind(env, actor.ws(), &t, user)?;
        if !can_reply {
            return Err(Error::Forbidden("this invite is view only".into()));
        }
        Author {
            id: Some(user.id.to_string()),
            name: user.name.clone(),
            kind,
            signed: true,
        }
    };
    let (msg, ticket) = thread::post_with(
        env.kv,
        actor.ws(),
        t.no,
        env.now,
        &author,
        body.visibility,
        &body.body,
        thread::Extras {
            reserved: attempt_step(&actor, req, "message"),
            ..thread::Extras::default()
        },
    )?;
    // The message is written: the post stands, whatever fails after it.
    let mut resp = Response::json(
        201,
        &json!({"message": message_json(&msg, &actor.reader(), &team_name(&ws)), "ticket": ticket_json(&ticket, user.is_staff())}),
    );
    let audited = audit(
        env,
        &actor,
        Event::MessagePosted,
        &format!("{}/{}", t.no, msg.seq.0),
        Some(t.no),
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    if msg.visibility == Visibility::Public {
        let copied = copy_participants(env, &ws, &ticket, &msg.author_name, None);
        resp.mail =
            after_commit(&mut resp.internal, "copying participants", copied).unwrap_or_default();
    }
    Ok(resp)
}

/// Reply validation (seed 002): who may reply to a ticket by email address.
fn reply_sender(env: &Env, w: &workspace::Workspace, t: &Ticket, email: &str) -> Result<Author> {
    let email = workspace::normalise_email(email)?;
    if let Some(u) = workspace::user_by_email(env.kv, &w.id, &email)? {
        if u.role == Role::Customer {
            if let Ok((kind, can_reply)) = customer_kind(env, &w.id, t, &u) {
                if !can_reply {
                    return Err(Error::Forbidden(format!(
                        "{email} may read this ticket but not reply"
                    )));
                }
                return Ok(Author {
                    id: Some(u.id.to_string()),
                    name: u.name.clone(),
                    kind,
                    signed: true,
                });
            }
        }
    }
    if w.settings.participants_enabled {
        if let Some(p) = crate::participants::by_email(env.kv, &w.id, t.no, &email)? {
            if !p.can_reply {
                return Err(Error::Forbidden(format!(
                    "{email} may read this ticket but not reply"
                )));
            }
            return Ok(Author {
                id: Some(p.id.clone()),
                name: p.name.clone(),
                kind: AuthorKind::Participant,
                signed: true,
            });
        }
    }
    Err(Error::Forbidden(format!(
        "{email} may not reply to this ticket: it is not the ticket's customer, a customer of the same company, or a participant"
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDelegate {
    email: String,
    #[serde(default = "yes")]
    can_reply: bool,
}

fn yes() -> bool {
    true
}

/// An API key as the API shows it (never its hash; times in RFC 3339).
fn api_key_json(k: &auth::ApiKey) -> Value {
    json!({
        "id": k.id, "prefix": k.prefix, "label": k.label,
        "created_at": rfc3339(k.created_at), "revoked": k.revoked,
    })
}

fn delegate_json(d: &crate::delegates::Delegate) -> Value {
    json!({
        "user_id": d.user, "email": d.email, "name": d.name, "status": d.status, "can_reply": d.can_reply,
        "invited_by": d.invited_by, "invited_at": rfc3339(d.invited_at),
        "accepted_at": d.accepted_at.map(rfc3339), "revoked_at": d.revoked_at.map(rfc3339),
    })
}

/// The `invites` component: `/api/v1/tickets/<no>/delegates[/<user>/(resend|revoke)]`.
pub fn handle_invites(env: &mut Env, req: &Request) -> Response {
    serve(env, req, invites)
}

fn invites(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    if let ["tickets", no, "participants", rest @ ..] = segs.as_slice() {
        return participants(env, req, rid, no, rest);
    }
    let ["tickets", no, "delegates", rest @ ..] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    let actor = authenticate(env, req)?;
    let ws = actor.ws().clone();
    let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
    let w = workspace::workspace(env.kv, &ws)?;
    // Staff side manage delegates; the ticket's own customer may when the
    // workspace allows customers to invite.
    let owner = actor.user().is_some_and(|u| u.id == t.customer);
    let may_manage = actor.is_staff_side() || (owner && w.settings.customers_may_invite);
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            require(
                actor.is_staff_side() || owner,
                "only staff and the ticket's customer see its delegates",
            )?;
            let list = crate::delegates::list(env.kv, &ws, t.no)?;
            Ok(Response::json(
                200,
                &json!({"delegates": list.iter().map(delegate_json).collect::<Vec<_>>()}),
            ))
        }
        ("POST", []) => {
            require(
                may_manage,
                "customers may invite delegates only when the workspace allows it",
            )?;
            let body: NewDelegate = req.json(MAX_JSON_BODY)?;
            send_invite(
                env,
                &actor,
                &w,
                &t,
                &body.email,
                body.can_reply,
                rid,
                Event::DelegateInvited,
            )
        }
        ("POST", [user, "resend"]) => {
            require(
                may_manage,
                "customers may invite delegates only when the workspace allows it",
            )?;
            let id = UserId::parse(user)?;
            let d = crate::delegates::list(env.kv, &ws, t.no)?
                .into_iter()
                .find(|d| d.user == id)
                .ok_or(Error::NotFound)?;
            send_invite(
                env,
                &actor,
                &w,
                &t,
                &d.email,
                d.can_reply,
                rid,
                Event::DelegateResent,
            )
        }
        ("POST", [user, "revoke"]) => {
            require(
                may_manage,
                "customers may manage delegates only when the workspace allows it",
            )?;
            let id = UserId::parse(user)?;
            let d = crate::delegates::revoke(env.kv, &ws, t.no, &id, env.now)?;
            let mut resp = Response::json(200, &json!({"delegate": delegate_json(&d)}));
            let audited = audit(
                env,
                &actor,
                Event::DelegateRevoked,
                id.as_str(),
                Some(t.no),
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        (_, [] | [_, "resend" | "revoke"]) => method_not_allowed("GET, POST"),
        _ => Err(Error::NoRoute),
    }
}

#[allow(clippy::too_many_arguments)]
fn send_invite(
    env: &mut Env,
    actor: &Actor,
    w: &workspace::Workspace,
    t: &Ticket,
    email: &str,
    can_reply: bool,
    rid: &str,
    event: Event,
) -> Result<Response> {
    let inviter = match actor.user() {
        Some(u) => u.name.clone(),
        None => team_name(w),
    };
    let r = (env.random)();
    let (d, link) =
        crate::delegates::invite(env.kv, &w.id, t.no, &inviter, email, can_reply, env.now, r)?;
    let url = format!("{}/i/{link}", env.public_origin.trim_end_matches('/'));
    let draft = crate::outbox::invite(
        &mail_branding(env, w)?,
        &d.name,
        &inviter,
        &t.no.to_string(),
        &t.subject,
        &url,
    );
    // The commit point: the invitation (with its link) is on its way. A
    // failure before it is an error, and a retry invites again, replacing
    // the link nobody received; after it, the invite stands (a retry would
    // send a second email and kill the first link).
    let mail = env.enqueue_mail(&w.id, &d.email, draft)?;
    let mut resp = Response::json(201, &json!({"delegate": delegate_json(&d)}));
    resp.mail.push((w.id.clone(), mail));
    let audited = audit(env, actor, event, d.user.as_str(), Some(t.no), rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// Headers of every page behind a link.
fn link_page(status: u16, html: String) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
            ("referrer-policy".into(), "no-referrer".into()),
            ("x-robots-tag".into(), "noindex, nofollow".into()),
            ("x-content-type-options".into(), "nosniff".into()),
            ("x-frame-options".into(), "DENY".into()),
            (
                "content-security-policy".into(),
                crate::LINK_PAGE_CSP.into(),
            ),
        ],
        body: html.into_bytes(),
        internal: None,
        secret: false,
        mail: Vec::new(),
    }
}

fn page_html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>{} · Ticketshare</title><link rel=\"stylesheet\" href=\"/app.css\"></head><body><header class=\"bar\"><span class=\"brand\">Ticketshare</span></header><main class=\"page\">{body}</main></body></html>",
        crate::outbox::escape(title)
    )
}

/// The one page every unusable link shows (accepted, revoked, expired or
/// unknown alike): same status, same bytes.
pub fn dead_link_page() -> Response {
    link_page(
        404,
        page_html(
            "Link not available",
            "<h1>This link is not available</h1><p>It may have been used already, expired or been withdrawn. Ask the person who sent it for a new one.</p>",
        ),
    )
}

/// Record that `holder` (a delegate's user id or a participant's id) opened
/// their link to ticket `no`, at most once a minute per holder and ticket
/// (as share pages do), so crawlers and link scanners cannot grow the ledger
/// without bound; the throttle itself is one key per holder and ticket for
/// the link's whole life (the minute last recorded, advanced by
/// compare-and-swap). Best effort: a failed record never fails the page, and
/// an uncertain swap records nothing.
fn note_link_opened(env: &Env, ws: &WorkspaceId, no: TicketNo, holder: &str, event: Event) {
    let minute = env.now.div_euclid(60_000);
    let key = keys::link_opened(ws, no, holder);
    if crate::record::advance_minute(env.kv, &key, minute).unwrap_or(false) {
        let _ = crate::audit::record(env.kv, ws, env.now, holder, event, holder, Some(no), "");
    }
}

/// The `accept` component: `GET /i/<link>` shows the invite (changes
/// nothing); `POST /i/<link>` accepts it, starts a session that reaches that
/// one ticket only (read its public thread, reply), and sends them to it.
/// `/p/<link>` is a participant's personal ticket page (public thread and
/// reply form).
pub fn handle_accept(env: &mut Env, req: &Request) -> Response {
    accept(env, req).unwrap_or_else(|e| match e {
        Error::Store(_) => Response::error(&e),
        _ => dead_link_page(),
    })
}

fn accept(env: &mut Env, req: &Request) -> Result<Response> {
    if let Some(link) = req.path.strip_prefix("/p/").filter(|l| !l.contains('/')) {
        return match req.method.as_str() {
            "GET" | "HEAD" | "POST" => participant_page(env, req, link),
            _ => Ok(link_page(
                405,
                page_html("Not allowed", "<p>Use the form on the page.</p>"),
            )),
        };
    }
    let link = req
        .path
        .strip_prefix("/i/")
        .filter(|l| !l.contains('/'))
        .ok_or(Error::NotFound)?;
    match req.method.as_str() {
        "GET" | "HEAD" => {
            let (ws, no, d) = crate::delegates::peek(env.kv, link, env.now)?;
            // Opening a link is recorded (never the link itself), nothing else changes.
            note_link_opened(env, &ws, no, d.user.as_str(), Event::DelegateLinkOpened);
            let t = thread::ticket(env.kv, &ws, no)?;
            let w = workspace::workspace(env.kv, &ws)?;
            let esc = crate::outbox::escape;
            let body = format!(
                "<h1>You are invited to a support ticket</h1><p>{} invited you, {}, to follow and reply to ticket <strong>{} {}</strong> at {}.</p><form method=\"post\"><button type=\"submit\" class=\"primary\">Accept the invitation</button></form><p class=\"muted\">Accepting opens this ticket for {} on this device; your other tickets stay behind your usual sign-in.</p>",
                esc(&d.invited_by),
                esc(&d.name),
                esc(&t.no.to_string()),
                esc(&t.subject),
                esc(&team_name(&w)),
                esc(&d.email)
            );
            Ok(link_page(200, page_html("Invitation", &body)))
        }
        "POST" => {
            let (ws, no, d) = crate::delegates::accept(env.kv, link, env.now)?;
            // The link reaches its one ticket: the session it starts is
            // limited to it (the whole account needs a login link). A
            // browser already signed in to that account keeps its session.
            let signed_in = cookie(req, auth::SESSION_COOKIE)
                .and_then(|c| auth::session_user(env.kv, &c, env.now).ok())
                .is_some_and(|s| s.ws == ws && s.user == d.user && s.ticket.is_none());
            // The link is used up: the invitation stands whatever fails
            // from here, and the answer says so (a retry would only meet a
            // dead link).
            let mut internal = None;
            let session = if signed_in {
                None
            } else {
                let r = (env.random)();
                let started = auth::create_ticket_session(env.kv, &ws, &d.user, no, env.now, r);
                after_commit(&mut internal, "starting the invitation's session", started)
            };
            let audited = crate::audit::record(
                env.kv,
                &ws,
                env.now,
                d.user.as_str(),
                Event::DelegateAccepted,
                d.user.as_str(),
                Some(no),
                "",
            );
            after_commit(&mut internal, "the audit entry", audited);
            let mut resp = if signed_in || session.is_some() {
                let mut r = link_page(
                    303,
                    page_html("Accepted", "<p>Accepted. Opening the ticket…</p>"),
                );
                r.headers.push(("location".into(), format!("/my#{}", no.0)));
                r
            } else {
                link_page(
                    200,
                    page_html(
                        "Accepted",
                        "<p>Accepted. <a href=\"/login\">Sign in</a> with your email to open the ticket.</p>",
                    ),
                )
            };
            if let Some(session) = session {
                resp.headers.push((
                    "set-cookie".into(),
                    session_cookie(&session, auth::SESSION_LIFETIME / 1000),
                ));
            }
            resp.internal = internal;
            Ok(resp)
        }
        _ => Ok(link_page(
            405,
            page_html(
                "Not allowed",
                "<p>Use the button on the invitation page.</p>",
            ),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewParticipant {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    can_reply: bool,
}

fn participant_json(p: &crate::participants::Participant) -> Value {
    json!({
        "id": p.id, "email": p.email, "name": p.name, "customer_id": p.user, "guest": p.user.is_none(),
        "can_reply": p.can_reply, "added_by": p.added_by, "added_at": rfc3339(p.added_at), "removed": p.removed,
    })
}

/// `/api/v1/tickets/<no>/participants[/<id>/remove]` (staff side).
fn participants(
    env: &mut Env,
    req: &Request,
    rid: &str,
    no: &str,
    rest: &[&str],
) -> Result<Response> {
    let actor = authenticate(env, req)?;
    let ws = actor.ws().clone();
    let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
    require(actor.is_staff_side(), "only staff manage participants")?;
    let w = workspace::workspace(env.kv, &ws)?;
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let list = crate::participants::list(env.kv, &ws, t.no)?;
            Ok(Response::json(
                200,
                &json!({"participants": list.iter().filter(|p| !p.removed).map(participant_json).collect::<Vec<_>>()}),
            ))
        }
        ("POST", []) => {
            require(
                w.settings.participants_enabled,
                "participants are turned off in this workspace's settings",
            )?;
            let body: NewParticipant = req.json(MAX_JSON_BODY)?;
            let who = actor
                .user()
                .map(|u| u.name.clone())
                .unwrap_or_else(|| team_name(&w));
            let r16 = env.random16();
            let p = crate::participants::add(
                env.kv,
                &ws,
                t.no,
                &who,
                &body.email,
                body.name.as_deref(),
                body.can_reply,
                env.now,
                r16,
            )?;
            // The participant is added: that stands whatever fails after
            // (a retry would be refused as a duplicate).
            let mut resp = Response::json(201, &json!({"participant": participant_json(&p)}));
            let audited = audit(env, &actor, Event::ParticipantAdded, &p.id, Some(t.no), rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            let heading = format!(
                "{who} added you to ticket {} \u{201c}{}\u{201d}.",
                t.no, t.subject
            );
            let mailed = mail_participant(env, &w, &t, &p, "You were added to a ticket", &heading);
            if let Some(n) = after_commit(&mut resp.internal, "emailing the participant", mailed) {
                resp.mail.push((ws, n));
            }
            Ok(resp)
        }
        ("POST", [id, "remove"]) => {
            let p = crate::participants::remove(env.kv, &ws, t.no, id)?;
            let mut resp = Response::json(200, &json!({"participant": participant_json(&p)}));
            let audited = audit(
                env,
                &actor,
                Event::ParticipantRemoved,
                &p.id,
                Some(t.no),
                rid,
            );
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        (_, [] | [_, "remove"]) => method_not_allowed("GET, POST"),
        _ => Err(Error::NoRoute),
    }
}

/// Email one participant a fresh personal link; returns the outbox position.
fn mail_participant(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    p: &crate::participants::Participant,
    subject: &str,
    line: &str,
) -> Result<u64> {
    let r = (env.random)();
    let link = crate::participants::issue_link(env.kv, &w.id, t.no, p, env.now, r)?;
    let url = format!("{}/p/{link}", env.public_origin.trim_end_matches('/'));
    let mut draft =
        crate::outbox::participant(&mail_branding(env, w)?, &p.name, subject, line, &url);
    ticket_mail_headers(env, w, t, &mut draft)?;
    env.enqueue_mail(&w.id, &p.email, draft)
}

/// Make replies to an email about a ticket come back to it: the ticket's
/// reply address as Reply-To, and a Message-ID remembered for the
/// `In-Reply-To` of replies that lose the address.
fn ticket_mail_headers(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    draft: &mut crate::outbox::Draft,
) -> Result<()> {
    if env.reply_domain.is_empty() {
        return Ok(());
    }
    let reference = crate::inbound::reply_reference(env.kv, &w.id, t.no, (env.random)())?;
    draft.reply_to = Some(crate::inbound::reply_address(&reference, env.reply_domain));
    let id = format!(
        "t{}.{}@{}",
        t.no.0,
        crate::ids::encode_random(&env.random16()),
        env.reply_domain
    );
    crate::inbound::remember_message_id(env.kv, &w.id, &id, t.no)?;
    draft.message_id = Some(id);
    Ok(())
}

/// *Copy participants*: after a public post, each active participant other
/// than the author gets their own email with their own link.
fn copy_participants(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    author: &str,
    except: Option<&str>,
) -> Result<Vec<(WorkspaceId, u64)>> {
    if !w.settings.copy_participants || !w.settings.participants_enabled {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for p in crate::participants::list(env.kv, &w.id, t.no)? {
        if p.removed || Some(p.id.as_str()) == except {
            continue;
        }
        let line = format!(
            "{author} replied on ticket {} \u{201c}{}\u{201d}.",
            t.no, t.subject
        );
        out.push((
            w.id.clone(),
            mail_participant(
                env,
                w,
                t,
                &p,
                &format!("New reply on ticket {}", t.no),
                &line,
            )?,
        ));
    }
    Ok(out)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let r = Request {
        query: String::from_utf8_lossy(body).into_owned(),
        ..Default::default()
    };
    r.query_param(name)
}

/// Every message of a thread `reader` may see, oldest first, each rendered
/// by `render`, for the pages behind links (stops short of the 1 MiB page).
fn whole_thread_html(
    env: &Env,
    ws: &WorkspaceId,
    no: TicketNo,
    reader: &Reader,
    render: impl Fn(&Message) -> String,
) -> Result<String> {
    let mut html = String::new();
    let mut cursor = None;
    let t = thread::ticket(env.kv, ws, no)?;
    loop {
        let page = thread::page(
            env.kv,
            ws,
            &t,
            reader,
            Order::OldestFirst,
            cursor,
            thread::MAX_PAGE,
            env.now,
        )?;
        for m in &page.messages {
            html.push_str(&render(m));
        }
        match page.next {
            // Only forward: a cursor that does not advance past the one
            // given would repeat this page forever (the thread guarantees
            // it never does; this loop does not rely on it).
            Some(c) if html.len() < 900_000 && cursor.is_none_or(|given| c > given) => {
                cursor = Some(c)
            }
            _ => return Ok(html),
        }
    }
}

/// The page behind a participant's personal link: that ticket's public
/// thread and a reply form, nothing else.
fn participant_page(env: &mut Env, req: &Request, link: &str) -> Result<Response> {
    let (ws, no, p) = crate::participants::resolve(env.kv, link)?;
    let w = workspace::workspace(env.kv, &ws)?;
    if !w.settings.participants_enabled {
        return Err(Error::NotFound);
    }
    let mut t = thread::ticket(env.kv, &ws, no)?;
    // A refused reply: shown above the form, and the page's status.
    let mut refused: Option<Error> = None;
    if req.method != "POST" {
        note_link_opened(env, &ws, no, &p.id, Event::ParticipantLinkOpened);
    }
    if req.method == "POST" {
        if !p.can_reply {
            return Err(Error::NotFound);
        }
        let body = form_field(&req.body, "body").unwrap_or_default();
        let author = Author {
            id: Some(p.id.clone()),
            name: p.name.clone(),
            kind: AuthorKind::Participant,
            signed: true,
        };
        match thread::post(
            env.kv,
            &ws,
            no,
            env.now,
            &author,
            Visibility::Public,
            &body,
            None,
        ) {
            Ok((_, ticket)) => {
                t = ticket;
                let mut resp = link_page(303, page_html("Sent", "<p>Reply sent.</p>"));
                resp.headers.push(("location".into(), format!("/p/{link}")));
                let audited = crate::audit::record(
                    env.kv,
                    &ws,
                    env.now,
                    &p.id,
                    Event::ParticipantReplied,
                    &p.id,
                    Some(no),
                    "",
                );
                after_commit(&mut resp.internal, "the audit entry", audited);
                let copied = copy_participants(env, &w, &t, &p.name, Some(&p.id));
                resp.mail = after_commit(&mut resp.internal, "copying participants", copied)
                    .unwrap_or_default();
                return Ok(resp);
            }
            Err(e @ Error::BadRequest { .. }) => refused = Some(e),
            Err(e) => return Err(e),
        }
    }
    let esc = crate::outbox::escape;
    let reader = Reader::CustomerSide;
    let team = team_name(&w);
    let thread_html = whole_thread_html(env, &ws, no, &reader, |m| {
        format!(
            "<article class=\"msg msg-public msg-by-{kind}\"><header class=\"msg-head\"><span class=\"msg-author\">{name}</span><span class=\"badge kind-{kind}\">{label}</span><time>{at}</time></header><div class=\"msg-body\">{body}</div></article>",
            kind = m.author_kind.as_str(),
            name = esc(m.display_name(&reader, &team)),
            label = match m.author_kind {
                AuthorKind::Staff => "Staff",
                AuthorKind::Customer => "Customer",
                AuthorKind::Delegate => "Delegate",
                AuthorKind::Participant => "Participant",
                AuthorKind::Collaborator => "Collaborator",
                AuthorKind::System => "System",
            },
            at = esc(&rfc3339(m.created_at)),
            body = m.body_html(),
        )
    })?;
    let form = if p.can_reply {
        format!(
            "<form method=\"post\" class=\"reply\"><label for=\"body\">Your reply</label><textarea id=\"body\" name=\"body\" rows=\"5\" required></textarea>{}<button type=\"submit\" class=\"primary\">Send reply</button></form>",
            match &refused {
                None => String::new(),
                Some(e) => format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    esc(&e.message())
                ),
            }
        )
    } else {
        "<p class=\"muted\">You can read this ticket; replies are not enabled for you.</p>"
            .to_string()
    };
    let body = format!(
        "<h1>{} {}</h1><p class=\"meta\">You take part in this ticket as {} ({}).</p><div class=\"thread\">{thread_html}</div>{form}",
        esc(&t.no.to_string()),
        esc(&t.subject),
        esc(&p.name),
        esc(&p.email)
    );
    let status = refused.as_ref().map_or(200, Error::status);
    Ok(link_page(status, page_html(&t.subject, &body)))
}

#[cfg(test)]
mod commit_tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// A store whose writes of finished idempotency records fail once it
    /// is armed (a store that goes away right after a post's write).
    fn flaky() -> Faulty<MemKv> {
        let kv = Faulty::new(MemKv::new(), |_, key, op| {
            let needle = b"\"pending_since\":null";
            match op {
                Op::Set(value)
                    if key.contains("/idem/")
                        && value.windows(needle.len()).any(|w| w == needle) =>
                {
                    Fault::Before
                }
                _ => Fault::Pass,
            }
        });
        kv.arm(false);
        kv
    }

    fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.push(("content-type".into(), "application/json".into()));
        Request {
            method: method.into(),
            path: path.into(),
            headers,
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    /// A committed request whose answer is larger than a store value.
    fn big_post(_: &mut Env, _: &Request, _: &str) -> Result<Response> {
        Ok(Response::json(
            201,
            &json!({ "blob": "\"".repeat(600_000) }),
        ))
    }

    /// Runs `f` twice with one Idempotency-Key on a fresh workspace; with
    /// `fail`, the store refuses to keep the finished record.
    fn twice(kv: &Faulty<MemKv>, f: Handler, fail: bool) -> (Response, Response) {
        let mut n = 0u8;
        let mut random = move || {
            n += 1;
            [n; 32]
        };
        let mut env = Env {
            kv,
            now: 1_000_000,
            random: &mut random,
            admin_token: "admin-token-for-tests-0123",
            public_origin: "https://ts.test",
            allow_private_webhooks: false,
            reply_domain: "",
        };
        let made = handle_tickets(
            &mut env,
            &request(
                "POST",
                "/api/v1/workspaces",
                &[("authorization", "Bearer admin-token-for-tests-0123")],
                r#"{"id":"acme","name":"Acme"}"#,
            ),
        );
        assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
        let secret: Value = serde_json::from_slice(&made.body).unwrap();
        let bearer = format!("Bearer {}", secret["secret"].as_str().unwrap());
        let req = request(
            "POST",
            "/api/v1/tickets",
            &[("authorization", &bearer), ("idempotency-key", "k-1")],
            "{}",
        );
        kv.arm(fail);
        let first = serve(&mut env, &req, f);
        let again = serve(&mut env, &req, f);
        (first, again)
    }

    #[test]
    fn an_answer_too_large_to_keep_is_still_a_success_and_never_runs_twice() {
        let kv = flaky();
        let (first, again) = twice(&kv, big_post, false);
        assert_eq!(first.status, 201, "{:?}", first.internal);
        assert!(first.body.len() > crate::store::MAX_VALUE_BYTES);
        assert_eq!(again.status, 409);
        assert!(String::from_utf8_lossy(&again.body).contains("too large to keep"));
    }

    #[test]
    fn a_store_failure_keeping_the_answer_is_logged_not_a_5xx() {
        fn small_post(_: &mut Env, _: &Request, _: &str) -> Result<Response> {
            Ok(Response::json(201, &json!({ "posted": true })))
        }
        let kv = flaky();
        let (first, again) = twice(&kv, small_post, true);
        assert_eq!(first.status, 201);
        assert!(
            first
                .internal
                .as_deref()
                .is_some_and(|i| i.contains("keeping the response for replay")),
            "{:?}",
            first.internal
        );
        // The key stays held: a retry is refused, never run again.
        assert_eq!(again.status, 409);
    }
}

#[cfg(test)]
mod after_commit_tests {
    //! A change that is written stays a success when what follows it (its
    //! audit entry and the webhooks queued with it, an email) fails: the
    //! answer is a 2xx with the failure in `internal`, and a retry with the
    //! same Idempotency-Key replays it instead of doing it twice.
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// A store whose audit ledger cannot be written once it is armed.
    fn audit_fails() -> Faulty<MemKv> {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Delete => Fault::Pass,
            _ if key.contains("/audit/") => Fault::Before,
            _ => Fault::Pass,
        });
        kv.arm(false);
        kv
    }

    const ADMIN: &str = "admin-token-for-tests-0123";

    /// A workspace `acme` with a customer's ticket 1 and a staff member,
    /// participants on and Postmark set up; calls go through the
    /// components' entry points.
    struct World {
        kv: Faulty<MemKv>,
        n: u8,
        bearer: String,
        staff: String,
        postmark: String,
    }

    impl World {
        fn new() -> Self {
            Self::with(audit_fails())
        }

        /// The world on `kv`, armed once it is set up (unless armed
        /// before: then the whole setup runs under its rule too).
        fn with(kv: Faulty<MemKv>) -> Self {
            let mut w = World {
                kv,
                n: 0,
                bearer: String::new(),
                staff: String::new(),
                postmark: String::new(),
            };
            let made = w.call(
                handle_tickets,
                "POST",
                "/api/v1/workspaces",
                &[("authorization", &format!("Bearer {ADMIN}"))],
                r#"{"id":"acme","name":"Acme"}"#,
            );
            assert_eq!(made.status, 201);
            w.bearer = format!("Bearer {}", body(&made)["secret"].as_str().unwrap());
            let cus = w.api(
                handle_tickets,
                "PUT",
                "/api/v1/users",
                r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
            );
            let cus = body(&cus)["user"]["id"].as_str().unwrap().to_string();
            w.api(
                handle_tickets,
                "PUT",
                "/api/v1/users",
                r#"{"email":"dee@y.test","name":"Dee","role":"customer"}"#,
            );
            let staff = w.api(
                handle_tickets,
                "PUT",
                "/api/v1/users",
                r#"{"email":"sam@acme.test","name":"Sam","role":"staff"}"#,
            );
            w.staff = body(&staff)["user"]["id"].as_str().unwrap().to_string();
            let t = w.api(
                handle_tickets,
                "POST",
                "/api/v1/tickets",
                &json!({"customer_id": cus, "subject": "Late", "body": "where is it"}).to_string(),
            );
            assert_eq!(t.status, 201);
            let on = w.api(
                handle_tickets,
                "PATCH",
                "/api/v1/workspace/settings",
                r#"{"participants_enabled":true}"#,
            );
            assert_eq!(on.status, 200);
            let pm = w.api(
                handle_webhooks,
                "POST",
                "/api/v1/webhooks/inbound/postmark",
                "",
            );
            assert_eq!(pm.status, 201, "{}", String::from_utf8_lossy(&pm.body));
            w.postmark = body(&pm)["password"].as_str().unwrap().to_string();
            w.kv.arm(true);
            w
        }

        fn ws(&self) -> WorkspaceId {
            WorkspaceId::parse("acme").unwrap()
        }

        fn call(
            &mut self,
            f: fn(&mut Env, &Request) -> Response,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: &str,
        ) -> Response {
            let mut n = self.n;
            let mut random = || {
                n = n.wrapping_add(1);
                [n; 32]
            };
            let mut env = Env {
                kv: &self.kv,
                now: 1_000_000,
                random: &mut random,
                admin_token: ADMIN,
                public_origin: "https://ts.test",
                allow_private_webhooks: false,
                reply_domain: "",
            };
            let mut headers: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            headers.push(("content-type".into(), "application/json".into()));
            let req = Request {
                method: method.into(),
                path: path.into(),
                headers,
                body: body.as_bytes().to_vec(),
                ..Default::default()
            };
            let resp = f(&mut env, &req);
            self.n = n;
            resp
        }

        /// A call with the workspace's API key (and `extra` headers).
        fn api_with(
            &mut self,
            f: fn(&mut Env, &Request) -> Response,
            method: &str,
            path: &str,
            extra: &[(&str, &str)],
            body: &str,
        ) -> Response {
            let bearer = self.bearer.clone();
            let mut headers = vec![("authorization", bearer.as_str())];
            headers.extend_from_slice(extra);
            self.call(f, method, path, &headers, body)
        }

        fn api(
            &mut self,
            f: fn(&mut Env, &Request) -> Response,
            method: &str,
            path: &str,
            body: &str,
        ) -> Response {
            self.api_with(f, method, path, &[], body)
        }

        /// Emails in the outbox so far.
        fn mails(&self) -> u64 {
            crate::record::read_counter(&self.kv, &keys::mail_counter(&self.ws())).unwrap()
        }

        /// `POST` twice with one Idempotency-Key; checks the first answer
        /// is `status` with the audit failure noted, and the second replays
        /// it. Returns the first.
        fn twice(
            &mut self,
            f: fn(&mut Env, &Request) -> Response,
            path: &str,
            extra: &[(&str, &str)],
            body: &str,
            status: u16,
        ) -> Response {
            let mut headers = vec![("idempotency-key", "k-1")];
            headers.extend_from_slice(extra);
            let first = self.api_with(f, "POST", path, &headers, body);
            assert_eq!(
                first.status,
                status,
                "{} {:?}",
                String::from_utf8_lossy(&first.body),
                first.internal
            );
            assert!(
                first
                    .internal
                    .as_deref()
                    .is_some_and(|i| i.contains("audit entry")),
                "{:?}",
                first.internal
            );
            let mails = self.mails();
            let again = self.api_with(f, "POST", path, &headers, body);
            assert_eq!(again.status, status, "{:?}", again.internal);
            assert!(
                again
                    .headers
                    .iter()
                    .any(|(k, v)| k == "idempotent-replayed" && v == "true"),
                "the retry ran again: {}",
                String::from_utf8_lossy(&again.body)
            );
            assert_eq!(again.body, first.body);
            assert_eq!(self.mails(), mails, "the retry sent email again");
            first
        }
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Messages of ticket 1 whose record contains `text`.
    fn posted(w: &World, text: &str) -> usize {
        posted_on(w, 1, text)
    }

    /// Messages of ticket `no` whose record contains `text`.
    fn posted_on(w: &World, no: u64, text: &str) -> usize {
        let prefix = format!("ws/acme/t/{no:012}/m/");
        w.kv.inner
            .dump()
            .iter()
            .filter(|(k, v)| k.starts_with(&prefix) && String::from_utf8_lossy(v).contains(text))
            .count()
    }

    #[test]
    fn a_reply_whose_store_answer_was_lost_is_posted_once_by_its_retry() {
        let rules: [fn(&dyn Kv, &str, Op<'_>) -> Fault; 4] = [
            // The message is written and the reply to that write is lost.
            |_, key, op| match op {
                Op::Set(_) if key.contains("/m/") => Fault::After,
                _ => Fault::Pass,
            },
            // The number is taken and kept, the message never written.
            |_, key, op| match op {
                Op::Set(_) if key.contains("/m/") => Fault::Before,
                _ => Fault::Pass,
            },
            // The number's increment counted, its answer lost.
            |_, key, op| match op {
                Op::Increment if key.ends_with("/msg-counter") => Fault::After,
                _ => Fault::Pass,
            },
            // The message is written, the ticket's summary cannot be: the
            // retry brings it up to date, so readers see the message.
            |_, key, op| match op {
                Op::Swap(_) if key == "ws/acme/t/000000000001" => Fault::Before,
                _ => Fault::Pass,
            },
        ];
        for (i, rule) in rules.into_iter().enumerate() {
            let kv = Faulty::new(MemKv::new(), rule);
            kv.arm(false);
            let mut w = World::with(kv);
            let staff = w.staff.clone();
            let headers = [("idempotency-key", "r-1"), (ACT_AS_HEADER, staff.as_str())];
            let text = format!("parcel found, case {i}");
            let post = json!({ "body": text }).to_string();
            let path = "/api/v1/tickets/1/replies";
            let first = w.api_with(handle_replies, "POST", path, &headers, &post);
            if first.status == 503 {
                assert_eq!(body(&first)["error"]["code"], "store_unavailable");
                assert!(first.headers.iter().any(|(k, _)| k == "retry-after"));
            }
            w.kv.arm(false);
            let again = w.api_with(handle_replies, "POST", path, &headers, &post);
            assert_eq!(
                again.status,
                201,
                "case {i}: {}",
                String::from_utf8_lossy(&again.body)
            );
            let third = w.api_with(handle_replies, "POST", path, &headers, &post);
            assert_eq!(third.status, 201);
            assert_eq!(third.body, again.body, "case {i}: replayed");
            assert_eq!(posted(&w, &text), 1, "case {i}: posted once");
            if i == 2 {
                // The lost increment left a gap before it, which readers
                // wait on for `thread::GAP_WAIT` (its own tests).
                continue;
            }
            let thread = w.api_with(
                handle_tickets,
                "GET",
                "/api/v1/tickets/1/thread",
                &[(ACT_AS_HEADER, staff.as_str())],
                "",
            );
            let shown = body(&thread)["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["source"] == text.as_str())
                .count();
            assert_eq!(shown, 1, "case {i}: the thread shows it once");
        }
    }

    #[test]
    fn a_new_ticket_whose_answer_was_lost_is_opened_once_by_its_retry() {
        use std::sync::atomic::{AtomicU8, Ordering};
        static STAGE: AtomicU8 = AtomicU8::new(0);
        fn ticket_record(key: &str) -> bool {
            key.strip_prefix("ws/acme/t/")
                .is_some_and(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
        }
        // The ticket's record is written and the answer lost; reading it
        // back fails too, so the request cannot tell and answers 503.
        let kv = Faulty::with_reads(MemKv::new(), |_, key, op| {
            if !ticket_record(key) {
                return Fault::Pass;
            }
            match op {
                Op::Set(_)
                    if STAGE
                        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok() =>
                {
                    Fault::After
                }
                Op::Get
                    if STAGE
                        .compare_exchange(1, 2, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok() =>
                {
                    Fault::Before
                }
                _ => Fault::Pass,
            }
        });
        kv.arm(false);
        let mut w = World::with(kv);
        let cus = body(&w.api(
            handle_tickets,
            "PUT",
            "/api/v1/users",
            r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
        ))["user"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let open = json!({"customer_id": cus, "subject": "Broken", "body": "it broke"}).to_string();
        let headers = [("idempotency-key", "t-1")];
        let first = w.api_with(handle_tickets, "POST", "/api/v1/tickets", &headers, &open);
        assert_eq!(
            first.status,
            503,
            "{}",
            String::from_utf8_lossy(&first.body)
        );
        let again = w.api_with(handle_tickets, "POST", "/api/v1/tickets", &headers, &open);
        assert_eq!(
            again.status,
            201,
            "{}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(body(&again)["ticket"]["number"], 2);
        let records =
            w.kv.inner
                .dump()
                .iter()
                .filter(|(k, _)| ticket_record(k))
                .count();
        assert_eq!(records, 2, "the setup's ticket and this one, once");
        // Listed once, with its first message once.
        let list = w.api(handle_tickets, "GET", "/api/v1/tickets", "");
        let listed = body(&list)["tickets"].as_array().unwrap().len();
        assert_eq!(listed, 2, "{}", String::from_utf8_lossy(&list.body));
        assert_eq!(posted_on(&w, 2, "it broke"), 1);
    }

    #[test]
    fn a_retry_of_an_idempotent_request_does_not_redo_a_change_it_made() {
        let kv = MemKv::new();
        let key = keys::ticket(&WorkspaceId::parse("acme").unwrap(), TicketNo(9));
        crate::record::write(&kv, &key, &json!({"n": 0, "version": 0})).unwrap();
        #[derive(serde::Serialize, Deserialize)]
        struct N {
            n: u64,
            version: u64,
        }
        crate::versioned!(N);
        let attempt = |which: &str| AttemptKv {
            inner: &kv,
            attempt: which.to_string(),
            writes: Default::default(),
        };
        let bump = |kv: &dyn Kv| {
            update(kv, &key, |r: &mut N| {
                r.n += 1;
                Ok(())
            })
            .unwrap()
            .n
        };
        // The first attempt's change landed (its answer was lost); its
        // retry, with the same request's ids, finds it and changes nothing.
        assert_eq!(bump(&attempt("request-1")), 1);
        assert_eq!(bump(&attempt("request-1")), 1);
        // Another request changes it.
        assert_eq!(bump(&attempt("request-2")), 2);
        assert_eq!(bump(&kv), 3);
        assert_eq!(bump(&kv), 4);
    }

    #[test]
    fn the_whole_app_works_when_every_swap_is_reported_failed_after_writing() {
        // Spin 4.0.2's Redis store: every compare-and-swap writes, then
        // answers CasFailed.
        let kv = Faulty::new(MemKv::new(), |_, _, op| match op {
            Op::Swap(_) => Fault::SwapDenied,
            _ => Fault::Pass,
        });
        let mut w = World::with(kv);
        let staff = w.staff.clone();
        let r = w.api_with(
            handle_replies,
            "POST",
            "/api/v1/tickets/1/replies",
            &[(ACT_AS_HEADER, staff.as_str())],
            r#"{"body":"on its way"}"#,
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(body(&r)["ticket"]["status"], "awaiting_customer");
        let again = w.api(handle_tickets, "GET", "/api/v1/tickets/1", "");
        assert_eq!(again.status, 200);
        assert_eq!(body(&again)["ticket"]["status"], "awaiting_customer");
        assert_eq!(posted(&w, "on its way"), 1);
    }

    #[test]
    fn a_delegate_invite_whose_audit_entry_fails_stands_and_replays() {
        let mut w = World::new();
        let before = w.mails();
        let r = w.twice(
            handle_invites,
            "/api/v1/tickets/1/delegates",
            &[],
            r#"{"email":"dee@y.test"}"#,
            201,
        );
        assert_eq!(r.mail.len(), 1);
        assert_eq!(w.mails(), before + 1);
        let list = crate::delegates::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].email, "dee@y.test");
    }

    #[test]
    fn a_participant_added_whose_audit_entry_fails_stands_and_replays() {
        let mut w = World::new();
        let before = w.mails();
        let r = w.twice(
            handle_invites,
            "/api/v1/tickets/1/participants",
            &[],
            r#"{"email":"pat@z.test"}"#,
            201,
        );
        // The participant's email still went out.
        assert_eq!(r.mail.len(), 1);
        assert_eq!(w.mails(), before + 1);
        let list = crate::participants::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].email, "pat@z.test");
    }

    #[test]
    fn a_share_whose_audit_entries_fail_stands_and_replays() {
        let mut w = World::new();
        let before = w.mails();
        let r = w.twice(
            handle_shares,
            "/api/v1/tickets/1/shares",
            &[],
            r#"{"email":"sup@parts.test","subject":"Parts","note":"Please check"}"#,
            201,
        );
        assert_eq!(r.mail.len(), 1);
        assert_eq!(w.mails(), before + 1);
        let list = crate::shares::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(body(&r)["share"]["id"], json!(list[0].id));
    }

    #[test]
    fn a_resolve_whose_audit_entry_fails_stands_and_replays() {
        let mut w = World::new();
        let staff = w.staff.clone();
        w.twice(
            handle_transfer,
            "/api/v1/tickets/1/resolve",
            &[(ACT_AS_HEADER, &staff)],
            "",
            200,
        );
        let t = thread::ticket(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        assert_eq!(t.status, crate::model::Status::Resolved);
    }

    /// A login link is used up when it is taken: the sign-in it gives
    /// stands when its audit entry fails (the link would be dead for a retry).
    #[test]
    fn a_login_whose_audit_entry_fails_still_signs_in() {
        let mut w = World::new();
        w.kv.arm(false);
        let staff = w.staff.clone();
        let minted = w.api(
            handle_tickets,
            "POST",
            &format!("/api/v1/users/{staff}/login-links"),
            "",
        );
        assert_eq!(minted.status, 201);
        let url = body(&minted)["url"].as_str().unwrap().to_string();
        let link = url.split_once('#').unwrap().1.to_string();
        w.kv.arm(true);
        let r = w.call(
            handle_tickets,
            "POST",
            "/api/v1/auth/login",
            &[],
            &json!({ "link": link }).to_string(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            r.internal
                .as_deref()
                .is_some_and(|i| i.contains("audit entry")),
            "{:?}",
            r.internal
        );
        let cookie = r
            .headers
            .iter()
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .unwrap();
        let session = cookie
            .split(';')
            .next()
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_string())
            .unwrap();
        let me = auth::session_user(&w.kv, &session, 1_000_000).unwrap();
        assert_eq!(me.user.as_str(), staff);
    }

    /// Inbound mail has no Idempotency-Key: the provider retries the same
    /// Message-ID, which must meet the delivery already taken.
    #[test]
    fn held_inbound_mail_whose_audit_entry_fails_is_held_once() {
        let mut w = World::new();
        let auth = format!(
            "Basic {}",
            crate::token::base64_std(
                format!("{}:{}", crate::inbound::POSTMARK_USER, w.postmark).as_bytes()
            )
        );
        let mail = json!({
            "From": "who@else.test", "FromFull": {"Email": "who@else.test", "Name": "Who"},
            "To": "support@acme.test", "ToFull": [{"Email": "support@acme.test"}],
            "Subject": "Hello", "MessageID": "pm-1", "TextBody": "Is anyone there?",
            "Headers": [{"Name": "Message-ID", "Value": "<m1@else.test>"}],
        })
        .to_string();
        let first = w.call(
            handle_webhooks,
            "POST",
            "/hooks/postmark/acme",
            &[("authorization", &auth)],
            &mail,
        );
        assert_eq!(
            first.status,
            202,
            "{} {:?}",
            String::from_utf8_lossy(&first.body),
            first.internal
        );
        assert!(
            first
                .internal
                .as_deref()
                .is_some_and(|i| i.contains("audit entry")),
            "{:?}",
            first.internal
        );
        let again = w.call(
            handle_webhooks,
            "POST",
            "/hooks/postmark/acme",
            &[("authorization", &auth)],
            &mail,
        );
        assert_eq!(again.status, 200);
        assert_eq!(body(&again)["duplicate"], true);
        let (held, _) = crate::inbound::quarantine(&w.kv, &w.ws(), None, 10).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].from, "who@else.test");
    }

    /// A sender added as a participant by their email is added once and
    /// their message posted once, though no audit entry can be written.
    #[test]
    fn an_auto_added_sender_whose_audit_entries_fail_is_posted_once() {
        let mut w = World::new();
        w.kv.arm(false);
        let on = w.api(
            handle_tickets,
            "PATCH",
            "/api/v1/workspace/settings",
            r#"{"auto_add_senders":true}"#,
        );
        assert_eq!(on.status, 200);
        w.kv.arm(true);
        let r = crate::inbound::reply_reference(&w.kv, &w.ws(), TicketNo(1), [9; 32]).unwrap();
        let to = format!("reply+{r}@mail.acme.test");
        let auth = format!(
            "Basic {}",
            crate::token::base64_std(
                format!("{}:{}", crate::inbound::POSTMARK_USER, w.postmark).as_bytes()
            )
        );
        let mail = json!({
            "From": "new@else.test", "FromFull": {"Email": "new@else.test", "Name": "New"},
            "To": to, "ToFull": [{"Email": to}],
            "Subject": "Re: Late", "MessageID": "pm-2", "TextBody": "I can help",
            "Headers": [{"Name": "Message-ID", "Value": "<m2@else.test>"}],
        })
        .to_string();
        let send = |w: &mut World| {
            w.call(
                handle_webhooks,
                "POST",
                "/hooks/postmark/acme",
                &[("authorization", &auth)],
                &mail,
            )
        };
        let first = send(&mut w);
        assert_eq!(
            first.status,
            201,
            "{} {:?}",
            String::from_utf8_lossy(&first.body),
            first.internal
        );
        assert!(
            first
                .internal
                .as_deref()
                .is_some_and(|i| i.contains("the audit entry of the added sender")),
            "{:?}",
            first.internal
        );
        let again = send(&mut w);
        assert_eq!(again.status, 200);
        assert_eq!(body(&again)["duplicate"], true);
        let list = crate::participants::list(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].email, "new@else.test");
        let t = thread::ticket(&w.kv, &w.ws(), TicketNo(1)).unwrap();
        let page = thread::page(
            &w.kv,
            &w.ws(),
            &t,
            &Reader::Staff,
            Order::OldestFirst,
            None,
            50,
            1_000_000,
        )
        .unwrap();
        let authors: Vec<_> = page
            .messages
            .iter()
            .map(|m| m.author_name.clone())
            .collect();
        assert_eq!(authors, ["Cus", "New"]);
    }
}

#[cfg(test)]
mod cross_site_tests {
    use super::*;

    const ORIGIN: &str = "https://tickets.example";

    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn refused(r: &Request) -> bool {
        refuse_cross_site(r, ORIGIN).is_some()
    }

    #[test]
    fn cookie_changes_must_come_from_this_site() {
        let c = ("cookie", "__Host-ts_session=acme.x");
        let purge = "/api/v1/tickets/1/purge";
        for (headers, bad) in [
            (vec![c], true),
            (vec![c, ("origin", "https://evil.tickets.example")], true),
            (vec![c, ("origin", "null")], true),
            (vec![c, ("sec-fetch-site", "same-site")], true),
            (vec![c, ("sec-fetch-site", "cross-site")], true),
            (vec![c, ("sec-fetch-site", "same-origin")], false),
            (vec![c, ("sec-fetch-site", "none")], false),
            (vec![c, ("origin", ORIGIN)], false),
            (vec![c, ("origin", "HTTPS://Tickets.Example")], false),
            (
                vec![c, ("origin", "null"), ("sec-fetch-site", "same-origin")],
                false,
            ),
            // A bearer key is no ambient credential.
            (vec![c, ("authorization", "Bearer tsk_acme.x")], false),
            // Nothing the browser adds by itself: nothing to forge.
            (vec![], false),
        ] {
            assert_eq!(refused(&req("POST", purge, &headers)), bad, "{headers:?}");
        }
        for m in ["PUT", "PATCH", "DELETE"] {
            assert!(refused(&req(m, purge, &[c])), "{m}");
        }
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(!refused(&req(m, purge, &[c])), "{m}");
        }
        let r = refuse_cross_site(&req("POST", purge, &[c]), ORIGIN).unwrap();
        assert_eq!(r.status, 403);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["code"], "cross_site_request");
    }

    #[test]
    fn link_page_forms_must_come_from_this_site_even_without_cookies() {
        for path in ["/i/acme.x", "/p/acme.x", "/s/acme.x"] {
            assert!(refused(&req("POST", path, &[])), "{path}");
            assert!(
                !refused(&req("POST", path, &[("sec-fetch-site", "same-origin")])),
                "{path}"
            );
            assert!(!refused(&req("GET", path, &[])), "{path}");
        }
        // Inbound webhooks carry no cookies: untouched.
        assert!(!refused(&req("POST", "/hooks/postmark/acme", &[])));
    }

    #[test]
    fn invitation_sessions_reach_one_ticket() {
        let no = TicketNo(7);
        for (m, p, ok) in [
            ("GET", "/api/v1/me", true),
            ("GET", "/api/v1/tickets/7", true),
            ("GET", "/api/v1/tickets/7/thread", true),
            ("POST", "/api/v1/tickets/7/replies", true),
            ("GET", "/api/v1/tickets/7/messages/2/attachments/x", true),
            ("GET", "/api/v1/tickets/8", false),
            ("POST", "/api/v1/tickets/8/replies", false),
            ("GET", "/api/v1/tickets", false),
            ("POST", "/api/v1/tickets", false),
            ("GET", "/api/v1/search", false),
            ("GET", "/api/v1/tickets/7/delegates", false),
            ("POST", "/api/v1/tickets/7/delete", false),
            ("PUT", "/api/v1/users", false),
        ] {
            assert_eq!(reachable_in_scope(&req(m, p, &[]), no), ok, "{m} {p}");
        }
    }
}

#[cfg(test)]
mod creation_claim_tests {
    //! `POST /api/v1/workspaces` and `PUT /api/v1/users` claim a name (a
    //! workspace id, an email): a creation that fails or dies is completed
    //! by its retry (same Idempotency-Key) at once, or by any request after
    //! the stale time, and concurrent creations have one winner, whatever
    //! the store answers.
    use super::*;
    use crate::record::CLAIM_STALE;
    use crate::store::{Fault, Faulty, MemKv, Op, die_at, spin_redis};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    const ADMIN: &str = "admin-token-for-tests-0123";
    const T: Millis = 1_000_000;

    fn call(
        kv: &dyn Kv,
        now: Millis,
        seed: u8,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut n = 0u8;
        let mut random = move || {
            n = n.wrapping_add(1);
            let mut r = [n; 32];
            r[0] = seed;
            r
        };
        let mut env = Env {
            kv,
            now,
            random: &mut random,
            admin_token: ADMIN,
            public_origin: "https://ts.test",
            allow_private_webhooks: false,
            reply_domain: "",
        };
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.push(("content-type".into(), "application/json".into()));
        let req = Request {
            method: method.into(),
            path: path.into(),
            headers,
            body: body.as_bytes().to_vec(),
            ..Default::default()
        };
        handle_tickets(&mut env, &req)
    }

    /// `POST /api/v1/workspaces` for `acme`, with an Idempotency-Key or not.
    fn create(kv: &dyn Kv, now: Millis, seed: u8, idem: Option<&str>) -> Response {
        let admin = format!("Bearer {ADMIN}");
        let mut headers = vec![("authorization", admin.as_str())];
        if let Some(k) = idem {
            headers.push(("idempotency-key", k));
        }
        call(
            kv,
            now,
            seed,
            "POST",
            "/api/v1/workspaces",
            &headers,
            r#"{"id":"acme","name":"Acme"}"#,
        )
    }

    fn text(r: &Response) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// The workspace a 201 created works with the key it returned.
    fn works(kv: &dyn Kv, made: &Response) {
        assert_eq!(made.status, 201, "{}", text(made));
        let v: Value = serde_json::from_slice(&made.body).unwrap();
        let bearer = format!("Bearer {}", v["secret"].as_str().unwrap());
        let auth = [("authorization", bearer.as_str())];
        let r = call(kv, T, 90, "GET", "/api/v1/workspace", &auth, "");
        assert_eq!(r.status, 200, "{}", text(&r));
        let r = call(
            kv,
            T,
            91,
            "PUT",
            "/api/v1/users",
            &auth,
            r#"{"email":"ada@acme.test","name":"Ada","role":"admin"}"#,
        );
        assert!(r.status == 201 || r.status == 200, "{}", text(&r));
    }

    /// Runs a creation that dies (its instance traps) where [`die_at`] says.
    fn dies(kv: &dyn Kv, idem: Option<&str>) {
        let r = catch_unwind(AssertUnwindSafe(|| create(kv, T, 1, idem)));
        assert!(r.is_err(), "the first attempt died");
    }

    #[test]
    fn on_spin_redis_a_workspace_creation_that_died_after_its_claim_is_completed_by_its_retry_at_once()
     {
        let kv = spin_redis();
        die_at("/api-keys", 1);
        dies(&kv, Some("k-1"));
        // Another creation waits for the one in progress...
        assert_eq!(create(&kv, T, 2, None).status, 409);
        assert_eq!(create(&kv, T, 3, Some("k-2")).status, 409);
        // ...while its retry completes it at once.
        let made = create(&kv, T + 1, 4, Some("k-1"));
        works(&kv, &made);
        // Done: the id is taken for good, for the retry too.
        for (seed, idem) in [(5, None), (6, Some("k-1"))] {
            let r = create(&kv, T + 10 * CLAIM_STALE, seed, idem);
            assert_eq!(r.status, 409);
            assert!(text(&r).contains("already exists"), "{}", text(&r));
        }
    }

    #[test]
    fn on_spin_redis_a_workspace_creation_that_died_is_taken_over_by_any_creation_after_a_minute() {
        let kv = spin_redis();
        die_at("/meta", 1);
        dies(&kv, None);
        assert_eq!(create(&kv, T + CLAIM_STALE - 1, 2, None).status, 409);
        works(&kv, &create(&kv, T + CLAIM_STALE, 3, None));
        assert_eq!(create(&kv, T + 2 * CLAIM_STALE, 4, None).status, 409);
    }

    #[test]
    fn on_spin_redis_a_workspace_creation_that_died_after_its_record_is_completed_with_a_fresh_key()
    {
        let kv = spin_redis();
        // The claim's third write (after the increment that makes it exist
        // and the swap that takes it) marks it finished: the record is there.
        die_at("/claim", 3);
        dies(&kv, Some("k-1"));
        let ws = WorkspaceId::parse("acme").unwrap();
        assert!(workspace::workspace(&kv, &ws).is_ok());
        let made = create(&kv, T + 1, 2, Some("k-1"));
        works(&kv, &made);
        // The dead attempt's key (its secret never shown) stays listed.
        assert_eq!(auth::list_api_keys(&kv, &ws).unwrap().len(), 2);
        assert_eq!(create(&kv, T + 2, 3, Some("k-1")).status, 409);
    }

    #[test]
    fn a_workspace_whose_record_write_lost_its_answer_is_created() {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.ends_with("/meta") => Fault::After,
            _ => Fault::Pass,
        });
        works(&kv, &create(&kv, T, 1, None));
        assert_eq!(create(&kv, T + 1, 2, None).status, 409);
    }

    #[test]
    fn workspaces_claimed_by_the_old_counter_stay_taken_and_ids_it_stranded_are_free() {
        let kv = MemKv::new();
        // Created before claims had holders: a counter and the record.
        let ws = WorkspaceId::parse("acme").unwrap();
        kv.increment(&keys::workspace_claim(&ws), 1).unwrap();
        crate::record::write(
            &kv,
            &keys::workspace(&ws),
            &workspace::Workspace {
                id: ws.clone(),
                name: "Acme".into(),
                settings: Settings::default(),
                created_at: 0,
                version: 0,
            },
        )
        .unwrap();
        let r = create(&kv, T, 1, None);
        assert_eq!(r.status, 409);
        assert!(text(&r).contains("already exists"), "{}", text(&r));
        // A claim the old code took and then died: the id is free again.
        let kv = MemKv::new();
        kv.increment(&keys::workspace_claim(&ws), 3).unwrap();
        works(&kv, &create(&kv, T, 2, None));
    }

    #[test]
    fn concurrent_workspace_creations_have_one_winner_even_when_a_claim_answer_is_lost() {
        use std::sync::atomic::{AtomicBool, Ordering};
        static LOST: AtomicBool = AtomicBool::new(false);
        // Every swap is written and reported failed, and the first write
        // to the claim loses its answer.
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            _ if key.ends_with("/claim") && !LOST.swap(true, Ordering::SeqCst) => Fault::After,
            Op::Swap(_) => Fault::SwapDenied,
            _ => Fault::Pass,
        });
        let answers: Vec<Response> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8u8)
                .map(|i| {
                    let kv = &kv;
                    s.spawn(move || {
                        // A client retries what failed (5xx).
                        let mut r = create(kv, T, 10 * i, None);
                        for k in 1..5 {
                            if r.status < 500 {
                                break;
                            }
                            r = create(kv, T, 10 * i + k, None);
                        }
                        r
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<&Response> = answers.iter().filter(|r| r.status == 201).collect();
        assert_eq!(
            won.len(),
            1,
            "{:?}",
            answers.iter().map(text).collect::<Vec<_>>()
        );
        assert!(answers.iter().all(|r| r.status == 201 || r.status == 409));
        works(&kv, won[0]);
    }

    #[test]
    fn on_spin_redis_a_user_creation_that_died_is_completed_by_its_retry_at_once() {
        let kv = MemKv::new();
        let made = create(&kv, T, 1, None);
        assert_eq!(made.status, 201);
        let v: Value = serde_json::from_slice(&made.body).unwrap();
        let bearer = format!("Bearer {}", v["secret"].as_str().unwrap());
        let kv = {
            let redis = spin_redis();
            for (k, v) in kv.dump() {
                redis.inner.set(&k, &v).unwrap();
            }
            redis
        };
        let put = |seed: u8, now: Millis, idem: Option<&str>| {
            let mut h = vec![("authorization", bearer.as_str())];
            if let Some(k) = idem {
                h.push(("idempotency-key", k));
            }
            call(
                &kv,
                now,
                seed,
                "PUT",
                "/api/v1/users",
                &h,
                r#"{"email":"sam@acme.test","name":"Sam","role":"staff"}"#,
            )
        };
        die_at("/user/", 1);
        assert!(catch_unwind(AssertUnwindSafe(|| put(2, T, Some("u-1")))).is_err());
        assert_eq!(put(3, T, None).status, 409, "in progress");
        let r = put(4, T + 1, Some("u-1"));
        assert_eq!(r.status, 201, "{}", text(&r));
        let id = serde_json::from_slice::<Value>(&r.body).unwrap()["user"]["id"].clone();
        let r = put(5, T + 2, None);
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap()["user"]["id"],
            id
        );
    }
}
