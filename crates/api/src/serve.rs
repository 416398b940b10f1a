//! The wrapper every API request runs in (`serve`): a request id, the
//! method check against the documented routes (`wrong_method`: a wrong
//! method is `Error::MethodNotAllowed`), `Idempotency-Key` (claim, replay,
//! the store an attempt writes through: `AttemptKv`), the work after the
//! response collected into it (`with_after`), and `after_commit`, the rule
//! for work after a handler's commit point.

use crate::Env;

use crate::actor::{Actor, authenticate};
use crate::http::{Request, Response, sha_hex};

use domain::error::{Error, Result};

use domain::events::Event;

use domain::ids::TicketNo;

use domain::keys;

use domain::record::{self, Claim};

use domain::store::Kv;

use domain::time::Millis;

use serde::Deserialize;

use serde_json::Value;

pub(crate) type Handler = fn(&mut Env, &Request, &str) -> Result<Response>;

/// Common wrapper: a request id on every response, and `Idempotency-Key` on
/// every authenticated POST (same key and body: the first successful
/// response replayed; same key, other body: 422; still running: 409; a
/// refused request does not use up its key). The work the request's rules
/// left for after the response (`env.after`: indexing, webhook deliveries)
/// goes into the response, whatever its status, after the emails the
/// handler put there.
pub(crate) fn serve(env: &mut Env, req: &Request, f: Handler) -> Response {
    let rid = env.request_id();
    if let Err(e) = wrong_method(req) {
        return Response::error(&e).with_header("x-request-id", &rid);
    }
    let resp: Response = match req.header("idempotency-key") {
        Some(key) if req.method == "POST" => idempotent(env, req, key, &rid, f).into(),
        _ => f(env, req, &rid).into(),
    };
    with_after(env, resp).with_header("x-request-id", &rid)
}

/// `resp` carrying the work the request's rules left for after the
/// response (`env.after`), after what the handler put there itself, and
/// the failures they noted after a commit point in `internal`: every entry
/// point ends here, whatever the status.
pub(crate) fn with_after(env: &Env, mut resp: Response) -> Response {
    // Change markers a handler held for a later batch and did not write
    // there (`Effects::hold_markers`): written now, after all its data.
    let held = env.after.release();
    if !held.is_empty() {
        let touched = env.kv.set_many(&held).map_err(Error::from);
        after_commit(&mut resp.internal, "touching the change markers", touched);
    }
    resp.after.extend(env.after.take());
    // Failures the rules noted after their commit point (a change marker
    // not touched): in the log details, the answer unchanged.
    for (what, e) in env.after.take_notes() {
        after_commit::<()>(&mut resp.internal, &what, Err(e));
    }
    resp
}

/// A documented path asked with a method it does not serve answers 405
/// with exactly the documented methods in `Allow`, before anything else is
/// looked at (one answer for every route, from the OpenAPI table).
pub(crate) fn wrong_method(req: &Request) -> Result<()> {
    let methods = crate::openapi::methods_for(&req.path);
    if methods.is_empty() || methods.contains(&req.method.as_str()) {
        return Ok(());
    }
    Err(Error::MethodNotAllowed {
        method: req.method.clone(),
        allow: methods.join(", "),
    })
}

/// What an idempotency key holds: the request's body hash and, once done,
/// the response (never one carrying a secret).
#[derive(serde::Serialize, Deserialize)]
pub(crate) struct Stored {
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
/// largest value the app writes, within every platform's value limit); a
/// larger response is remembered as done only.
pub(crate) const MAX_REPLAY_RECORD_BYTES: usize = domain::store::PORTABLE_VALUE_BYTES;

/// How long a request may hold its idempotency key before a retry may take
/// it over (the first one is presumed dead).
pub(crate) const IDEMPOTENCY_TAKEOVER: Millis = 60_000;

/// What names the body of `req` for its `Idempotency-Key`
/// ([`idempotent`], [`attempt_step`]): the
/// SHA-256 of its bytes, or, for a `multipart/form-data` body, of its parts
/// (names, file names, bytes) without the boundary, which a client picks
/// afresh on every try (`curl -F`, a browser's `FormData`), so a retry of
/// the same form is the same request. A form that does not parse is named
/// by its bytes (the handler refuses it).
pub(crate) fn body_digest(req: &Request) -> String {
    let ctype = req.header("content-type").unwrap_or("");
    let parts = if domain::form::Form::is_multipart(ctype) {
        domain::attachments::parse_multipart_ref(ctype, &req.body).ok()
    } else {
        None
    };
    let Some(parts) = parts else {
        return sha_hex(&[&req.body]);
    };
    let mut all: Vec<&[u8]> = vec![b"multipart/form-data"];
    for p in &parts {
        all.push(p.name.as_bytes());
        all.push(p.filename.as_deref().map_or(&b"\0field"[..], str::as_bytes));
        all.push(p.data);
    }
    sha_hex(&all)
}

/// The hash naming one logical request: the caller, the path and its
/// Idempotency-Key (and, for [`attempt_step`], its body).
pub(crate) fn attempt_hash(actor: &Actor, req: &Request, key: &str) -> String {
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
pub(crate) fn attempt_step(actor: &Actor, req: &Request, step: &str) -> Option<String> {
    let key = req.header("idempotency-key")?;
    let hash = sha_hex(&[
        attempt_hash(actor, req, key).as_bytes(),
        body_digest(req).as_bytes(),
        step.as_bytes(),
    ]);
    Some(keys::idempotency_step(actor.ws(), &hash))
}

/// The store as one attempt of an idempotent request sees it: its write ids
/// are derived from the request (its caller, path, Idempotency-Key and
/// body), the key and their order on that key, so every attempt of the
/// request stamps its n-th change of a record with the same id, and `record::update` skips a change an earlier
/// attempt made before its answer was lost.
pub(crate) struct AttemptKv<'a> {
    pub(crate) inner: &'a dyn Kv,
    pub(crate) attempt: String,
    /// How many writes this attempt made to each key so far.
    pub(crate) writes: std::cell::RefCell<std::collections::HashMap<String, u64>>,
}

impl Kv for AttemptKv<'_> {
    fn get(&self, key: &str) -> domain::store::StoreResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[String]) -> domain::store::StoreResult<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> domain::store::StoreResult<()> {
        self.inner.set(key, value)
    }
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> domain::store::StoreResult<()> {
        self.inner.set_many(pairs)
    }
    fn delete(&self, key: &str) -> domain::store::StoreResult<()> {
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> domain::store::StoreResult<i64> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> domain::store::StoreResult<bool> {
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

/// The store as a request sees it once it has read some keys ahead, in one
/// batch read: each of those keys is answered once from that read (the
/// first read of it, as if made then), every other read and every later
/// one from the store. A write to a key drops what was read ahead of it.
/// So a request whose first reads are known in advance (the credential, the
/// user acted as, a ticket, change markers) makes them in one round trip.
///
/// Keys read ahead with [`ReadAhead::also`] (or named in
/// [`ReadAhead::repeating`]) are answered from that read every time until
/// the request writes them (a snapshot): a record a request checks, then
/// changes by compare-and-swap, is read once. A stale snapshot only makes
/// that swap fail, and the swap's retry reads the store.
pub(crate) struct ReadAhead<'a> {
    inner: &'a dyn Kv,
    ahead: std::cell::RefCell<std::collections::HashMap<String, Option<Vec<u8>>>>,
    /// Keys answered from `ahead` until written, not once.
    repeat: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl<'a> ReadAhead<'a> {
    /// Read `keys` ahead from `inner`. When that read fails nothing is
    /// read ahead: each read then meets the store's failure itself.
    pub(crate) fn new(inner: &'a dyn Kv, keys: &[String]) -> Self {
        let ahead = match keys {
            [] => Default::default(),
            keys => match inner.get_many(keys) {
                Ok(values) => keys.iter().cloned().zip(values).collect(),
                Err(_) => Default::default(),
            },
        };
        Self {
            inner,
            ahead: std::cell::RefCell::new(ahead),
            repeat: Default::default(),
        }
    }

    /// [`ReadAhead::new`] whose keys in `repeat` are answered until written.
    pub(crate) fn repeating(inner: &'a dyn Kv, keys: &[String], repeat: &[String]) -> Self {
        let ahead = Self::new(inner, keys);
        ahead.repeat.borrow_mut().extend(
            repeat
                .iter()
                .filter(|k| ahead.ahead.borrow().contains_key(*k))
                .cloned(),
        );
        ahead
    }

    /// Read `keys` ahead too, in one more batch read, each answered until
    /// written (keys whose later reads depend on a first one: a token,
    /// then its ticket's records). When that read fails nothing more is
    /// read ahead.
    pub(crate) fn also(&self, keys: &[String]) {
        let keys: Vec<String> = keys
            .iter()
            .filter(|k| !self.ahead.borrow().contains_key(*k))
            .cloned()
            .collect();
        if keys.is_empty() {
            return;
        }
        if let Ok(values) = self.inner.get_many(&keys) {
            self.repeat.borrow_mut().extend(keys.iter().cloned());
            self.ahead.borrow_mut().extend(keys.into_iter().zip(values));
        }
    }

    /// The value read ahead at `key` (`None`: nothing read ahead there).
    fn take(&self, key: &str) -> Option<Option<Vec<u8>>> {
        if self.repeat.borrow().contains(key) {
            return self.ahead.borrow().get(key).cloned();
        }
        self.ahead.borrow_mut().remove(key)
    }

    fn forget(&self, key: &str) {
        self.ahead.borrow_mut().remove(key);
        self.repeat.borrow_mut().remove(key);
    }
}

impl Kv for ReadAhead<'_> {
    fn get(&self, key: &str) -> domain::store::StoreResult<Option<Vec<u8>>> {
        match self.take(key) {
            Some(v) => Ok(v),
            None => self.inner.get(key),
        }
    }
    fn get_many(&self, keys: &[String]) -> domain::store::StoreResult<Vec<Option<Vec<u8>>>> {
        let mut found: Vec<Option<Option<Vec<u8>>>> = keys.iter().map(|k| self.take(k)).collect();
        let rest: Vec<String> = keys
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if !rest.is_empty() {
            let mut read = self.inner.get_many(&rest)?.into_iter();
            for f in found.iter_mut().filter(|f| f.is_none()) {
                *f = Some(read.next().flatten());
            }
        }
        Ok(found.into_iter().map(Option::flatten).collect())
    }
    fn set(&self, key: &str, value: &[u8]) -> domain::store::StoreResult<()> {
        self.forget(key);
        self.inner.set(key, value)
    }
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> domain::store::StoreResult<()> {
        for (k, _) in pairs {
            self.forget(k);
        }
        self.inner.set_many(pairs)
    }
    fn delete(&self, key: &str) -> domain::store::StoreResult<()> {
        self.forget(key);
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> domain::store::StoreResult<i64> {
        self.forget(key);
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> domain::store::StoreResult<bool> {
        self.forget(key);
        self.inner.compare_and_swap(key, expected, new)
    }
    fn write_id(&self, key: &str) -> u64 {
        self.inner.write_id(key)
    }
}

/// The answer an idempotency record gives by itself: a replay, or a refusal
/// (another body: 422; done with a secret or too large: 409). `None` while
/// nothing is done (the claim decides then).
pub(crate) fn finished(env: &Env, record_key: &str, body_hash: &str) -> Result<Option<Response>> {
    let Some(bytes) = env.kv.get(record_key)? else {
        return Ok(None);
    };
    let stored: Stored = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Store(domain::store::StoreError(e.to_string())))?;
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

pub(crate) fn idempotent(
    env: &mut Env,
    req: &Request,
    key: &str,
    rid: &str,
    f: Handler,
) -> Result<Response> {
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
    let body_hash = body_digest(req);
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
    let resp: Response = { f(&mut env.through(&attempt), req, rid).into() };
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
        .map_err(|e| Error::Store(domain::store::StoreError(e.to_string())))
        .and_then(|b| Ok(env.kv.set(&record_key, &b)?))
        .and_then(|()| record::finish(env.kv, lease));
    let mut resp = resp;
    after_commit(&mut resp.internal, "keeping the response for replay", kept);
    Ok(resp)
}

pub(crate) fn audit(
    env: &Env,
    actor: &Actor,
    event: Event,
    target: &str,
    ticket: Option<TicketNo>,
    rid: &str,
) -> Result<()> {
    let name = actor.audit_name();
    domain::audit::record(&env.ctx(actor.ws(), &name, rid), event, target, ticket)
}

/// Work after a request's change is written (its commit point: a post, an
/// invitation or share emailed, a participant added, a ticket moved, a
/// setting saved) never turns the change into an error: the client would
/// retry and do it twice (an error also frees its Idempotency-Key). That
/// work is the audit entry and the webhooks queued with it, copies to
/// participants, an email after an add, reading back what was written. A
/// failure is added to `internal` (a response's details for the log), and
/// the response still says the change was made; `None` then.
pub(crate) fn after_commit<T>(
    internal: &mut Option<String>,
    what: &str,
    r: Result<T>,
) -> Option<T> {
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

/// Who holds the claim a creating request takes on a name
/// ([`domain::record::acquire`]): derived from its Idempotency-Key when it
/// has one (with the caller, path and body, as [`idempotent`] scopes keys),
/// so that its retry takes the claim back at once and completes the
/// creation; a fresh random one otherwise.
pub(crate) fn claim_holder(env: &mut Env, req: &Request, caller: &str) -> String {
    match req.header("idempotency-key") {
        Some(key) => sha_hex(&[
            b"claim holder",
            caller.as_bytes(),
            req.path.as_bytes(),
            key.as_bytes(),
            &req.body,
        ]),
        None => domain::token::hex(&env.random16()),
    }
}
