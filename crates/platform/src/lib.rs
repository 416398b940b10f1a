//! What every Ticketshare component needs from the platform, in one place, so
//! components stay a few lines of glue:
//!
//! - [`SpinKv`]: the domain's [`Kv`] over Spin's `default` key-value store
//!   (`fermyon:spin/key-value` for plain operations, `wasi:keyvalue/atomics`
//!   for increment and compare-and-swap: the same data).
//! - [`serve_api`]: one API request through the pure handler (after the one
//!   cross-site request check, `api::refuse_cross_site`), the
//!   response sent before the work it carries for after it (mail to the
//!   provider, search indexing, webhook deliveries).
//! - [`now_ms`] and [`random`]: the clock and the OS random source, passed into
//!   the pure domain functions as arguments.

use domain::store::{Kv, StoreError, StoreResult};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wkv};

/// The `default` store, opened through both interfaces.
pub struct SpinKv {
    store: Store,
    bucket: wkv::Bucket,
}

impl SpinKv {
    /// Open the `default` store.
    pub fn open_default() -> StoreResult<Self> {
        let store = Store::open_default().map_err(|e| StoreError(format!("open: {e:?}")))?;
        let bucket = wkv::open("default").map_err(|e| StoreError(format!("open: {e:?}")))?;
        Ok(Self { store, bucket })
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.store
            .get(key)
            .map_err(|e| StoreError(format!("{e:?}")))
    }

    /// One `wasi:keyvalue/batch` call. The answer is matched by key, not by
    /// position: a host may leave absent keys out (Spin's does).
    fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if keys.len() < 2 {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        let found =
            batch::get_many(&self.bucket, keys).map_err(|e| StoreError(format!("{e:?}")))?;
        let mut by_key: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys.iter().map(|k| by_key.remove(k).flatten()).collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.store
            .set(key, value)
            .map_err(|e| StoreError(format!("{e:?}")))
    }

    /// One `wasi:keyvalue/batch` call (a single pair: a plain `set`).
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> StoreResult<()> {
        if pairs.len() < 2 {
            return pairs.iter().try_for_each(|(k, v)| self.set(k, v));
        }
        batch::set_many(&self.bucket, pairs).map_err(|e| StoreError(format!("{e:?}")))
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.store
            .delete(key)
            .map_err(|e| StoreError(format!("{e:?}")))
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| StoreError(format!("{e:?}")))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(|e| StoreError(format!("{e:?}")))?;
        let current = cas.current().map_err(|e| StoreError(format!("{e:?}")))?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(StoreError(format!("{e:?}"))),
        }
    }

    fn write_id(&self, _key: &str) -> u64 {
        u64::from_le_bytes(random::<8>())
    }
}

/// Run the pure handler on one request: open the store, build the
/// environment (clock, randomness, variables), log internal errors to stderr.
/// Returns the store too, for the work after the response the response
/// carries (`Response::after`).
fn run_api(
    req: &api::http::Request,
    handler: fn(&mut api::Env, &api::http::Request) -> api::http::Response,
) -> (Option<SpinKv>, api::http::Response) {
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => {
            eprintln!("cannot open the key-value store: {e}");
            return (
                None,
                api::http::Response::error(&domain::error::Error::Store(e)),
            );
        }
    };
    let admin_token = spin_sdk::variables::get("admin_token").unwrap_or_default();
    let public_origin = spin_sdk::variables::get("public_origin").unwrap_or_default();
    let reply_domain = spin_sdk::variables::get("reply_domain").unwrap_or_default();
    let mut random = random::<32>;
    let after = domain::after::Effects::default();
    let mut env = api::Env {
        kv: &kv,
        now: now_ms(),
        random: &mut random,
        admin_token: &admin_token,
        public_origin: &public_origin,
        allow_private_webhooks: allow_private_webhooks(),
        reply_domain: &reply_domain,
        after: &after,
    };
    // Cross-site request forgery is refused here, in one place for every
    // component, before the handler reads or writes anything.
    let resp = match api::refuse_cross_site(req, &public_origin) {
        Some(refused) => refused,
        None => handler(&mut env, req),
    };
    if let Some(detail) = &resp.internal {
        // Never a link token in the log: paths behind links are redacted.
        eprintln!(
            "internal error on {} {}: {detail}",
            req.method,
            domain::outbox::redact_links(&req.path)
        );
    }
    (Some(kv), resp)
}

/// Serve one request of `component` (its entry in `api::routes`, the one
/// table of components, handlers and routes) through the response
/// outparam: the response is sent and closed first, then the work it carries for after it
/// (`Response::after`) is done: the emails it stored are handed to the mail
/// provider, the messages it posted indexed for search, its webhook
/// deliveries attempted. So the answer's timing never depends on whether
/// mail was sent (e.g. whether an address has an account).
pub async fn serve_api(
    req: spin_sdk::http::IncomingRequest,
    out: spin_sdk::http::ResponseOutparam,
    component: api::routes::Component,
) {
    use futures::SinkExt;
    let handler = component.handler;
    let path_and_query = req.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((&path_and_query, ""));
    let mut dreq = api::http::Request {
        method: req.method().to_string().to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        headers: req
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
    };
    let (kv, resp) = match req.into_body().await {
        Ok(body) => {
            dreq.body = body;
            run_api(&dreq, handler)
        }
        Err(e) => (
            None,
            api::http::Response::error(&domain::error::Error::bad(
                "unreadable_body",
                format!("{e:?}"),
            )),
        ),
    };
    let headers: Vec<(String, Vec<u8>)> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = spin_sdk::http::Fields::from_list(&headers)
        .unwrap_or_else(|_| spin_sdk::http::Fields::new());
    let outgoing = spin_sdk::http::OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(resp.status);
    let mut body = outgoing.take_body();
    out.set(outgoing);
    let sent = body.send(resp.body.clone()).await;
    let _ = body.flush().await;
    let _ = body.close().await;
    drop(body);
    if let Err(e) = sent {
        eprintln!("writing the response failed: {e:?}");
    }
    if let Some(kv) = kv {
        let after = &resp.after;
        for (ws, n) in &after.mail {
            deliver(&kv, ws, *n).await;
        }
        if let Err(e) = domain::search::run(&kv, &after.index) {
            eprintln!("indexing posted messages for search failed: {e}");
        }
        for (ws, n) in &after.deliver {
            deliver_webhook(&kv, ws, *n).await;
        }
    }
}

/// The `allow_private_webhooks` variable (`true` only for development).
fn allow_private_webhooks() -> bool {
    spin_sdk::variables::get("allow_private_webhooks").is_ok_and(|v| v.trim() == "true")
}

/// Attempt one webhook delivery (Standard Webhooks v1, signed by the
/// domain); the outcome is recorded on it. Redirects are never followed
/// (`wasi:http` does not follow them): a 3xx is a failed attempt.
pub async fn deliver_webhook(kv: &SpinKv, ws: &domain::ids::WorkspaceId, n: u64) {
    let key =
        domain::seal::SealKey::derive(&spin_sdk::variables::get("admin_token").unwrap_or_default());
    let prepared =
        match domain::webhooks::prepare(kv, ws, n, now_ms(), &key, allow_private_webhooks()) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                eprintln!("webhook delivery {n}: cannot prepare it: {e}");
                return;
            }
        };
    let outcome = send_limited(&prepared);
    if let Err(e) = domain::webhooks::record_attempt(kv, ws, n, now_ms(), outcome) {
        eprintln!("webhook delivery {n}: cannot record the attempt: {e}");
    }
}

/// Send a prepared webhook attempt within
/// [`domain::webhooks::ATTEMPT_LIMIT`] overall: the request carries
/// connect, first-byte and between-bytes timeouts (which the host
/// enforces), and this side gives up when the limit passes (dropping the
/// request cancels it), so the attempt is over before its claim
/// ([`domain::webhooks::CLAIM_HOLD`]) lets another one start. Only the
/// status is read (never the body). The answer: the status, or why none
/// came.
fn send_limited(p: &domain::webhooks::Prepared) -> Result<u16, String> {
    use spin_sdk::wit::wasi::http0_2_0::{outgoing_handler, types as h};
    let limit_ms = domain::webhooks::ATTEMPT_LIMIT as u64;
    let ns = |ms: u64| ms * 1_000_000;
    let deadline = wasi::clocks::monotonic_clock::subscribe_duration(ns(limit_ms));
    let timed_out = || format!("no answer within {} s", limit_ms / 1000);
    // Wait for `p` or the deadline; `false` when the deadline came first.
    let wait = |p: &wasi::io::poll::Pollable| {
        wasi::io::poll::poll(&[p, &deadline]);
        !deadline.ready() || p.ready()
    };
    let (scheme, rest) = p.url.split_once("://").ok_or("the url has no scheme")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let mut fields: Vec<(String, Vec<u8>)> = p
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    // A length, not chunks: some receivers refuse chunked requests.
    fields.push((
        "content-length".into(),
        p.body.len().to_string().into_bytes(),
    ));
    let headers = h::Fields::from_list(&fields).map_err(|e| format!("headers: {e:?}"))?;
    let req = h::OutgoingRequest::new(headers);
    let _ = req.set_method(&h::Method::Post);
    let _ = req.set_scheme(Some(&if scheme == "http" {
        h::Scheme::Http
    } else {
        h::Scheme::Https
    }));
    req.set_authority(Some(authority))
        .map_err(|()| "invalid authority".to_string())?;
    req.set_path_with_query(Some(&path))
        .map_err(|()| "invalid path".to_string())?;
    let body = req.body().map_err(|()| "no request body".to_string())?;
    let options = h::RequestOptions::new();
    let _ = options.set_connect_timeout(Some(ns(5_000)));
    let _ = options.set_first_byte_timeout(Some(ns(limit_ms)));
    let _ = options.set_between_bytes_timeout(Some(ns(5_000)));
    let future = outgoing_handler::handle(req, Some(options)).map_err(|e| format!("{e}"))?;
    {
        let stream = body.write().map_err(|()| "no request body".to_string())?;
        let mut rest = p.body.as_bytes();
        while !rest.is_empty() {
            let room = stream.check_write().map_err(|e| format!("{e:?}"))?;
            if room == 0 {
                if !wait(&stream.subscribe()) {
                    return Err(timed_out());
                }
                continue;
            }
            let n = (room as usize).min(rest.len());
            stream.write(&rest[..n]).map_err(|e| format!("{e:?}"))?;
            rest = &rest[n..];
        }
        stream.flush().map_err(|e| format!("{e:?}"))?;
        while stream.check_write().map_err(|e| format!("{e:?}"))? == 0 {
            if !wait(&stream.subscribe()) {
                return Err(timed_out());
            }
        }
    }
    h::OutgoingBody::finish(body, None).map_err(|e| format!("{e}"))?;
    loop {
        if let Some(answer) = future.get() {
            return match answer {
                Ok(Ok(resp)) => Ok(resp.status()),
                Ok(Err(e)) => Err(format!("{e}")),
                Err(()) => Err("the answer was taken already".into()),
            };
        }
        if !wait(&future.subscribe()) {
            return Err(timed_out());
        }
    }
}

/// Hand one stored email to the configured provider (`mail_provider`):
/// `outbox` (default) sends nothing; `postmark` calls Postmark's HTTP API at
/// `postmark_origin` (which `allowed_outbound_hosts` must list). The outcome
/// is recorded on the email; a failure never fails the request that sent it.
pub async fn deliver(kv: &SpinKv, ws: &domain::ids::WorkspaceId, n: u64) {
    let provider = spin_sdk::variables::get("mail_provider").unwrap_or_else(|_| "outbox".into());
    if provider != "postmark" {
        return;
    }
    let key =
        domain::seal::SealKey::derive(&spin_sdk::variables::get("admin_token").unwrap_or_default());
    let Ok(email) = domain::outbox::get(kv, ws, n, &key) else {
        return;
    };
    if email.unreadable {
        // Sealed under another deployment secret: never send an empty email.
        let detail = "the stored body cannot be opened with this deployment's secret";
        eprintln!("mail {n}: {detail}");
        let _ = domain::outbox::mark(kv, ws, n, domain::outbox::Delivery::Failed, detail, &key);
        return;
    }
    let origin = spin_sdk::variables::get("postmark_origin").unwrap_or_default();
    let token = spin_sdk::variables::get("postmark_token").unwrap_or_default();
    let from = spin_sdk::variables::get("mail_from").unwrap_or_default();
    let body = domain::outbox::postmark_body(&email, &from).to_string();
    let req = spin_sdk::http::Request::builder()
        .method(spin_sdk::http::Method::Post)
        .uri(format!("{}/email", origin.trim_end_matches('/')))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .header("x-postmark-server-token", token)
        .body(body)
        .build();
    let (state, detail) = match spin_sdk::http::send::<_, spin_sdk::http::Response>(req).await {
        Ok(r) if (200..300).contains(r.status()) => (
            domain::outbox::Delivery::Sent,
            String::from_utf8_lossy(r.body()).into_owned(),
        ),
        Ok(r) => (
            domain::outbox::Delivery::Failed,
            format!(
                "status {}: {}",
                r.status(),
                String::from_utf8_lossy(r.body())
            ),
        ),
        Err(e) => (domain::outbox::Delivery::Failed, format!("{e}")),
    };
    if state == domain::outbox::Delivery::Failed {
        eprintln!("mail {n} to the provider failed: {detail}");
    }
    if let Err(e) = domain::outbox::mark(kv, ws, n, state, &detail, &key) {
        eprintln!("cannot record the delivery of mail {n}: {e}");
    }
}

/// Milliseconds since the Unix epoch, from the wall clock the host provides.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `N` bytes from the OS random source (`wasi:random`).
pub fn random<const N: usize>() -> [u8; N] {
    let bytes = wasip2::random::random::get_random_bytes(N as u64);
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}
