//! The `webhooks` component's API (admins): outbound endpoints under
//! `/api/v1/webhooks` — register (the secret is shown once), list, rotate,
//! enable, delete — their deliveries with redeliver, and the flushes that
//! retry what is due: per workspace (an API key) and for the whole
//! deployment (the deployment admin token; cron, or the host's
//! `--flush-webhooks-every`).

use crate::Env;
use crate::actor::{Actor, authenticate, require};
use crate::http::{MAX_JSON_BODY, Request, Response, cursor, limit, segments};
use crate::serve::{audit, serve};
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::EndpointId;
use domain::time::rfc3339;
use domain::webhooks::due as webhook_due;
use domain::webhooks::{self, Delivery, Endpoint};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEndpoint {
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
}

pub(crate) fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id, "url": e.url, "event_types": e.event_types,
        "disabled": e.disabled, "created_at": rfc3339(e.created_at),
        "secrets": e.secrets.iter().map(|s| json!({
            "created_at": rfc3339(s.created_at), "expires_at": s.expires_at.map(rfc3339),
        })).collect::<Vec<_>>(),
    })
}

pub(crate) fn delivery_json(d: &Delivery) -> Value {
    json!({
        "n": d.n, "event": d.event, "type": d.kind, "endpoint_id": d.endpoint, "state": d.state,
        "attempts": d.attempts, "next_attempt_at": d.next_at.map(rfc3339),
        "last_status": d.last_status, "last_error": d.last_error,
        "last_attempt_at": d.last_at.map(rfc3339), "created_at": rfc3339(d.created_at),
    })
}

/// The `webhooks` component's entry point: outbound webhooks, inbound
/// email hooks (`/hooks/...`) and the quarantine.
pub fn handle_webhooks(env: &mut Env, req: &Request) -> Response {
    if req.path.starts_with("/hooks/") {
        let resp = crate::inbound::hook(env, req);
        return crate::serve::with_after(env, resp);
    }
    if req.path.starts_with("/api/v1/quarantine") {
        return crate::inbound::handle_quarantine(env, req);
    }
    serve(env, req, api)
}

/// The routes of `/api/v1/webhooks/...` (admins), one line each; the inbound
/// set-up under `/api/v1/webhooks/inbound` is `inbound::setup`.
pub(crate) fn api(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let ["webhooks", rest @ ..] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if let ["inbound", more @ ..] = rest {
        return crate::inbound::setup(env, req, rid, more);
    }
    if let ("POST", ["deployment-flush"]) = (req.method.as_str(), rest) {
        return deployment_flush(env, req);
    }
    let known = matches!(
        (req.method.as_str(), rest),
        ("GET" | "POST", [])
            | ("GET", ["deliveries"])
            | ("POST", ["deliveries", _, "redeliver"])
            | ("POST", ["flush"])
            | ("POST", [_, "rotate" | "enable" | "delete"])
    );
    if !known {
        return Err(Error::NoRoute);
    }
    let actor = authenticate(env, req)?;
    require(actor.is_admin_side(), "only admins manage webhooks")?;
    match (req.method.as_str(), rest) {
        ("GET", []) => list_endpoints(env, &actor),
        ("POST", []) => create_endpoint(env, &actor, req, rid),
        ("GET", ["deliveries"]) => list_deliveries(env, &actor, req),
        ("POST", ["deliveries", n, "redeliver"]) => redeliver(env, &actor, rid, n),
        ("POST", ["flush"]) => flush(env, &actor),
        ("POST", [id, "rotate"]) => rotate_secret(env, &actor, rid, &EndpointId::parse(id)?),
        ("POST", [id, "enable"]) => enable_endpoint(env, &actor, rid, &EndpointId::parse(id)?),
        ("POST", [id, "delete"]) => delete_endpoint(env, &actor, rid, &EndpointId::parse(id)?),
        _ => Err(Error::NoRoute),
    }
}

/// `GET /api/v1/webhooks`: the endpoints and the event types.
fn list_endpoints(env: &mut Env, actor: &Actor) -> Result<Response> {
    let ws = actor.ws().clone();
    Ok(Response::json(
        200,
        &json!({
            "endpoints": webhooks::endpoints(env.kv, &ws)?.iter().map(endpoint_json).collect::<Vec<_>>(),
            "event_types": webhooks::event_types(),
        }),
    ))
}

/// `POST /api/v1/webhooks`: a new endpoint, with its signing secret (shown
/// once).
fn create_endpoint(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    let body: NewEndpoint = req.json(MAX_JSON_BODY)?;
    let (r32, r16) = ((env.random)(), env.random16());
    let fresh = webhooks::Fresh {
        secret: r32,
        seal: (env.random)(),
        id: r16,
    };
    let name = actor.audit_name();
    let (ep, secret) = webhooks::create(
        &env.ctx(&ws, &name, rid),
        body.url.trim(),
        &body.event_types,
        fresh,
        &env.seal_key(),
        env.allow_private_webhooks,
    )?;
    let mut resp = Response::json(
        201,
        &json!({"endpoint": endpoint_json(&ep), "secret": secret}),
    )
    .with_secret();
    let audited = audit(
        env,
        actor,
        Event::WebhookCreated,
        &format!("{} {}", ep.id, ep.url),
        None,
        rid,
    );
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/webhooks/deliveries`: deliveries, newest first (optionally
/// of one endpoint).
fn list_deliveries(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    let endpoint = req
        .query_param("endpoint")
        .map(|e| EndpointId::parse(&e))
        .transpose()?;
    let (list, next) =
        webhooks::deliveries(env.kv, &ws, endpoint.as_ref(), cursor(req)?, limit(req)?)?;
    Ok(Response::json(
        200,
        &json!({"deliveries": list.iter().map(delivery_json).collect::<Vec<_>>(), "next_cursor": next}),
    ))
}

/// `POST /api/v1/webhooks/deliveries/{delivery_no}/redeliver`: the same
/// event again, as a new delivery.
fn redeliver(env: &mut Env, actor: &Actor, rid: &str, n: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    let n = n
        .parse::<u64>()
        .map_err(|_| Error::bad("invalid_id", format!("{n:?} is not a delivery number")))?;
    webhooks::delivery(env.kv, &ws, n)?;
    let name = actor.audit_name();
    let d = webhooks::redeliver(&env.ctx(&ws, &name, rid), n)?;
    Ok(Response::json(202, &json!({"delivery": delivery_json(&d)})))
}

/// One step of the deployment's due index: its due deliveries (every
/// workspace's: a due delivery is due whoever asks), attempted after the
/// response; each attempt claims its delivery first, so repeated and
/// concurrent flushes send an event once.
fn flush_step(env: &mut Env) -> Result<webhook_due::Flushed> {
    let found = webhook_due::flush(env.kv, env.now, webhooks::FLUSH_LIMIT)?;
    for (ws, n) in &found.due {
        env.after.deliver(ws, *n);
    }
    Ok(found)
}

/// `POST /api/v1/webhooks/flush`: a flush step (at most
/// [`webhooks::FLUSH_LIMIT`] deliveries, the deployment's due index read
/// at a bounded cost); answers how many of them are this workspace's.
fn flush(env: &mut Env, actor: &Actor) -> Result<Response> {
    let ws = actor.ws().clone();
    let found = flush_step(env)?;
    let mine = found.due.iter().filter(|(w, _)| *w == ws).count();
    Ok(Response::json(202, &json!({"attempting": mine})))
}

/// `POST /api/v1/webhooks/deployment-flush` (the deployment admin token,
/// no body): a flush step over every workspace. Answers 202 with
/// `attempting` (deliveries attempted after the response), `expired`
/// (failed: their last attempt never answered) and `more` (call again
/// now: due work may remain past this call's bounds).
fn deployment_flush(env: &mut Env, req: &Request) -> Result<Response> {
    crate::tickets::require_deployment_token(env, req)?;
    if !req.body.is_empty() {
        if req.body.len() > MAX_JSON_BODY {
            return Err(Error::PayloadTooLarge(MAX_JSON_BODY));
        }
        return Err(Error::bad("invalid_body", "this request takes no body"));
    }
    let found = flush_step(env)?;
    Ok(Response::json(
        202,
        &json!({"attempting": found.due.len(), "expired": found.expired, "more": found.more}),
    ))
}

/// `POST /api/v1/webhooks/{endpoint_id}/rotate`: a new signing secret
/// (shown once; the old one keeps signing for a day).
fn rotate_secret(env: &mut Env, actor: &Actor, rid: &str, id: &EndpointId) -> Result<Response> {
    let ws = actor.ws().clone();
    let r = (env.random)();
    let name = actor.audit_name();
    let secret = webhooks::rotate(
        &env.ctx(&ws, &name, rid),
        id,
        r,
        (env.random)(),
        &env.seal_key(),
    )?;
    // The new secret is written: the answer (its only copy)
    // stands; when the endpoint cannot be read back, it names
    // the endpoint by id only.
    let mut internal = None;
    let audited = audit(env, actor, Event::WebhookRotated, id.as_str(), None, rid);
    crate::serve::after_commit(&mut internal, "the audit entry", audited);
    let read = webhooks::endpoints(env.kv, &ws).and_then(|list| {
        list.into_iter()
            .find(|e| e.id == *id)
            .ok_or(Error::NotFound)
    });
    let endpoint = crate::serve::after_commit(&mut internal, "reading the endpoint", read)
        .map_or_else(|| json!({"id": id}), |ep| endpoint_json(&ep));
    let mut resp =
        Response::json(200, &json!({"endpoint": endpoint, "secret": secret})).with_secret();
    resp.internal = internal;
    Ok(resp)
}

/// `POST /api/v1/webhooks/{endpoint_id}/enable`: deliveries resume.
fn enable_endpoint(env: &mut Env, actor: &Actor, rid: &str, id: &EndpointId) -> Result<Response> {
    let ws = actor.ws().clone();
    let ep = webhooks::enable(env.kv, &ws, id)?;
    let mut resp = Response::json(200, &json!({"endpoint": endpoint_json(&ep)}));
    let audited = audit(env, actor, Event::WebhookEnabled, id.as_str(), None, rid);
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `POST /api/v1/webhooks/{endpoint_id}/delete`: the endpoint is removed.
fn delete_endpoint(env: &mut Env, actor: &Actor, rid: &str, id: &EndpointId) -> Result<Response> {
    let ws = actor.ws().clone();
    let ep = webhooks::remove(env.kv, &ws, id)?;
    let mut resp = Response::json(200, &json!({"deleted": ep.id}));
    let audited = audit(env, actor, Event::WebhookDeleted, id.as_str(), None, rid);
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}
