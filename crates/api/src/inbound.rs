//! Inbound email through the `webhooks` component:
//!
//! - `POST /hooks/postmark/<workspace>` (basic-auth credentials in the URL)
//!   and `POST /hooks/mailgun/<workspace>` (signed form), each verified
//!   before the message is read;
//! - the message goes through the one reply path ([`thread::post`]) as the
//!   ticket's customer, a customer of the same company, or a participant;
//!   an unknown sender becomes a participant when *auto-add senders* is on,
//!   otherwise the message is held for staff (`/api/v1/quarantine`);
//! - admins set the providers up under `/api/v1/webhooks/inbound`.

use crate::Env;
use crate::actor::{Actor, authenticate, require};
use crate::http::{MAX_JSON_BODY, Request, Response, cursor, limit, segments};
use crate::mail::copy_participants;
use crate::replies::reply_sender;
use crate::serve::{ReadAhead, audit, serve};
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::WorkspaceId;
use domain::inbound::{self, Email, Held};
use domain::keys;
use domain::model::{AuthorKind, Visibility};
use domain::record::{self, Claim};
use domain::thread::{self, Author};
use domain::time::rfc3339;
use domain::workspace;
use serde::Deserialize;
use serde_json::{Value, json};

/// `/hooks/<provider>/<workspace>`: a provider's inbound webhook.
pub(super) fn hook(env: &mut Env, req: &Request) -> Response {
    crate::serve::wrong_method(req)
        .and_then(|()| receive(env, req))
        .unwrap_or_else(|e| Response::error(&e))
}

pub(crate) fn receive(env: &mut Env, req: &Request) -> Result<Response> {
    let rest = req.path.strip_prefix("/hooks/").ok_or(Error::NoRoute)?;
    let (provider, ws) = rest.split_once('/').ok_or(Error::NoRoute)?;
    if !matches!(provider, "postmark" | "mailgun") {
        return Err(Error::NoRoute);
    }
    if req.method != "POST" {
        // A documented hook asked otherwise got its 405 from the table
        // (`hook`); anything else here is no route.
        return Err(Error::NoRoute);
    }
    // This delivery holds its Mailgun token and its Message-ID while it
    // works (a redelivery takes over one that died); see `deliver`.
    let holder = domain::ids::encode_random(&env.random16());
    // An unknown workspace looks like wrong credentials.
    let ws = WorkspaceId::parse(ws).map_err(|_| Error::Unauthenticated)?;
    // What a delivery reads, in three batch reads: the workspace, its
    // inbound set-up and webhook endpoints (the audit entry's); once the
    // email is verified, its claim, route and sender
    // (`inbound::delivery_keys`); once claimed, its ticket and sender's
    // user record (`deliver`). Each is answered until
    // written (the claim and the ticket are checked, then
    // changed by compare-and-swap: a stale read only fails a swap, whose
    // retry reads the store).
    let first = [
        keys::workspace(&ws),
        keys::inbound_config(&ws),
        keys::webhook_endpoints(&ws),
        // The webhook due index's floor, read with the endpoints by emit.
        domain::webhooks::due::Floor::key(),
    ];
    let ahead = ReadAhead::repeating(env.kv, &first, &first);
    let env = &mut env.through(&ahead);
    // The ticket's change markers go in the audit entry's batch write.
    env.after.hold_markers();
    let w =
        workspace::workspace(env.kv, &ws).map_err(|e| e.unless_store(Error::Unauthenticated))?;
    let cfg = inbound::config(env.kv, &ws)?;
    if req.body.len() > inbound::MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(inbound::MAX_BODY_BYTES));
    }
    if provider == "postmark" {
        // Credentials first, on the raw request; the body is read after.
        inbound::verify_postmark(&cfg, req.header("authorization"))?;
        let ctype = req.header("content-type").unwrap_or("");
        if !ctype
            .split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        {
            return Err(Error::UnsupportedMediaType);
        }
        let email = inbound::parse_postmark(&req.body)?;
        ahead.also(&inbound::delivery_keys(&ws, &email));
        return deliver(env, &w, &email, &holder, &ahead);
    }
    let form = inbound::MailgunForm::parse(req.header("content-type").unwrap_or(""), &req.body)?;
    let token = inbound::verify_mailgun(
        &env.ctx(&ws, "", ""),
        &cfg,
        &env.seal_key(),
        &inbound::MailgunSignature {
            timestamp: form.get("timestamp"),
            token: form.get("token"),
            signature: form.get("signature"),
        },
        &holder,
    )?;
    // The token stays used once the delivery is done, or refused for good
    // (a malformed message); a failure gives it back, so the provider's
    // retry of the same delivery (same signature) is taken. Best effort: a
    // token left held is taken over after DELIVERY_TAKEOVER.
    let email = match form.email() {
        Ok(email) => email,
        Err(e) => {
            let _ = record::finish(env.kv, token);
            return Err(e);
        }
    };
    ahead.also(&inbound::delivery_keys(&ws, &email));
    let delivered = deliver(env, &w, &email, &holder, &ahead);
    match &delivered {
        Ok(_) => {
            let _ = record::finish(env.kv, token);
        }
        Err(_) => record::release(env.kv, token),
    }
    delivered
}

/// Process a verified email once per Message-ID: a duplicate of one posted
/// or held is a no-op 200; one being processed by another delivery right
/// now is a 409 (the provider retries); otherwise this delivery holds the
/// Message-ID while it posts or holds the message, then marks it done. A
/// failure releases it for the provider's retry, and a delivery that died
/// holding it is taken over [`inbound::DELIVERY_TAKEOVER`] later, so no mail
/// is lost to a claim. The written message (or held entry) is the commit
/// point: marking the Message-ID done after it is best effort, reported
/// beside the answer.
pub(crate) fn deliver(
    env: &mut Env,
    w: &workspace::Workspace,
    email: &Email,
    holder: &str,
    ahead: &ReadAhead,
) -> Result<Response> {
    let lease = match inbound::claim_delivery(env.kv, &w.id, &email.message_id, holder, env.now)? {
        Claim::Held(lease) => lease,
        Claim::Done => {
            return Ok(Response::json(
                200,
                &json!({"duplicate": true, "message": "this Message-ID was received already"}),
            ));
        }
        Claim::Busy => {
            return Err(Error::Conflict(
                "this Message-ID is being processed by another delivery; try again later".into(),
            ));
        }
    };
    // Claimed: the ticket, its participants and the sender's user in one
    // batch read, each answered until written (read after the claim, so
    // the ticket's compare-and-swap starts from a recent read). Best
    // effort: a failed read leaves each to be read when needed.
    if let Ok(next) = inbound::ticket_keys(ahead, &w.id, email) {
        ahead.also(&next);
    }
    // Marking the Message-ID done waits for the commit point, then goes
    // first among the held writes of the batch written after it (after
    // the audit entry and its index: see
    // `audit::record`), so it costs no round trip of its own; any prefix
    // of that batch is harmless (the message is written before it).
    // Without holding, or when it could not be made, the claim is
    // finished by compare-and-swap as before.
    let done_key = match record::finished_write(env.kv, &lease) {
        Ok(pair) => {
            let key = pair.0.clone();
            env.after.await_commit(pair);
            Some(key)
        }
        Err(_) => None,
    };
    match file(env, w, email) {
        Ok(mut resp) => {
            // Finished by compare-and-swap when the done mark was not
            // written in the audit batch: never made, still waiting, still
            // held (no batch took it), or in a batch that failed (it may be
            // missing; if it landed after all, the swap fails harmlessly).
            // A claim left held but not done would let a later redelivery
            // take it over and post the mail twice.
            let still_held = done_key.as_ref().is_some_and(|k| env.after.unhold(k));
            if env.after.take_pending().is_some()
                || done_key.is_none()
                || still_held
                || env.after.was_held_lost()
            {
                let done = record::finish(env.kv, lease);
                crate::serve::after_commit(&mut resp.internal, "marking the Message-ID done", done);
            }
            Ok(resp)
        }
        Err(e) => {
            // Nothing was posted or held (each is written last, and a lost
            // answer to that write is settled by a read): the retry may.
            env.after.take_pending();
            if let Some(key) = &done_key {
                env.after.unhold(key);
            }
            record::release(env.kv, lease);
            Err(e)
        }
    }
}

/// Post a verified email to its ticket, or hold it.
pub(crate) fn file(env: &mut Env, w: &workspace::Workspace, email: &Email) -> Result<Response> {
    let ws = &w.id;
    let held = |env: &mut Env, ticket, reason: &str| -> Result<Response> {
        let h = inbound::hold(env.kv, ws, email, ticket, reason, env.now)?;
        env.after.committed();
        // Held: that stands (an error would free the delivery, and the
        // provider's retry would hold it twice).
        let mut resp = Response::json(202, &json!({"held": h.n, "reason": reason}));
        let audited = domain::audit::record(
            &env.ctx(ws, &format!("email:{}", h.from), ""),
            Event::EmailHeld,
            &format!("{}: {reason}", h.n),
            ticket,
        );
        crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
        Ok(resp)
    };
    let Some(no) = inbound::route(env.kv, ws, email)? else {
        return held(env, None, "no ticket found for this message");
    };
    let Ok(t) = thread::ticket(env.kv, ws, no) else {
        return held(env, None, "the ticket it answers is gone");
    };
    if email.automatic {
        return held(
            env,
            Some(no),
            "an automatic message (auto-reply or list mail)",
        );
    }
    if email.unverified_sender {
        return held(
            env,
            Some(no),
            "the provider could not verify the sender (SPF or DKIM failed)",
        );
    }
    if email.text.trim().is_empty() {
        return held(env, Some(no), "the message has no new text");
    }
    // Refused by the reply path (too large once formatted): staff read it
    // in the quarantine rather than the provider getting a 400 and the
    // message being lost.
    if let Err(Error::BadRequest { message, .. }) = thread::check_body(&email.text) {
        return held(env, Some(no), &format!("it cannot be posted: {message}"));
    }
    // A sender added as a participant stays added: a failure recording it
    // is reported beside the post.
    let mut added_note = None;
    let author = match reply_sender(env, w, &t, &email.from) {
        Ok(a) => a,
        // Someone whose access was removed, revoked or is view only is never
        // added back by email: staff decide.
        Err(Error::Forbidden(_)) if had_access(env, w, no, &email.from)? => {
            return held(
                env,
                Some(no),
                "the sender's access to this ticket was removed or is view only",
            );
        }
        Err(Error::Forbidden(_))
            if w.settings.auto_add_senders && w.settings.participants_enabled =>
        {
            let r16 = env.random16();
            let name = (!email.from_name.is_empty()).then_some(email.from_name.as_str());
            let p = domain::participants::add(
                &env.ctx(ws, &format!("email:{}", email.from), ""),
                no,
                "email",
                domain::participants::NewParticipant {
                    email: &email.from,
                    name,
                    can_reply: true,
                },
                r16,
            )?;
            let audited = domain::audit::record(
                &env.ctx(ws, &format!("email:{}", p.email), ""),
                Event::ParticipantAdded,
                &p.id,
                Some(no),
            );
            crate::serve::after_commit(
                &mut added_note,
                "the audit entry of the added sender",
                audited,
            );
            Author {
                id: Some(p.id.clone()),
                name: p.name.clone(),
                kind: AuthorKind::Participant,
                signed: true,
            }
        }
        Err(Error::Forbidden(_)) => return held(env, Some(no), "the sender is not on the ticket"),
        Err(e) => return Err(e),
    };
    let mut resp = post(
        env,
        w,
        &t,
        &author,
        &email.text,
        &format!("email:{}", email.from),
    )?;
    if let Some(note) = added_note {
        resp.internal = Some(match resp.internal.take() {
            Some(after) => format!("{note}; {after}"),
            None => note,
        });
    }
    Ok(resp)
}

/// Whether an address is (or was) a participant or delegate of the ticket.
pub(crate) fn had_access(
    env: &Env,
    w: &workspace::Workspace,
    no: domain::ids::TicketNo,
    email: &str,
) -> Result<bool> {
    let email = workspace::normalise_email(email)?;
    Ok(domain::participants::list(env.kv, &w.id, no)?
        .iter()
        .any(|p| p.email == email)
        || domain::delegates::list(env.kv, &w.id, no)?
            .iter()
            .any(|d| d.email == email))
}

/// Post through the one reply path. The written message is the commit
/// point: nothing after it turns the post into an error (a provider would
/// retry and post twice).
pub(crate) fn post(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &domain::model::Ticket,
    author: &Author,
    text: &str,
    actor: &str,
) -> Result<Response> {
    let ctx = env.ctx(&w.id, actor, "");
    let (msg, ticket) = thread::post(&ctx, t.no, author, Visibility::Public, text, None)?;
    // Posted: a write waiting for this (the Message-ID marked done) joins
    // the audit entry's batch.
    env.after.committed();
    let mut resp = Response::json(
        201,
        &json!({"posted": {"ticket": t.no.0, "seq": msg.seq.0, "author": author.name, "kind": author.kind}}),
    );
    let audited = domain::audit::record(
        &ctx,
        Event::MessagePosted,
        &format!("{}/{}", t.no, msg.seq.0),
        Some(t.no),
    );
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    let except = (author.kind == AuthorKind::Participant)
        .then(|| author.id.clone())
        .flatten();
    let copied = copy_participants(env, w, &ticket, &msg, except.as_deref());
    resp.after.mail =
        crate::serve::after_commit(&mut resp.internal, "copying participants", copied)
            .unwrap_or_default();
    Ok(resp)
}

pub(crate) fn held_json(h: &Held) -> Value {
    json!({
        "n": h.n, "ticket": h.ticket.map(|t| t.0), "from": h.from, "from_name": h.from_name,
        "subject": h.subject, "text": h.text, "reason": h.reason, "state": h.state,
        "received_at": rfc3339(h.received_at), "decided_by": h.decided_by,
        "decided_at": h.decided_at.map(rfc3339),
    })
}

/// `/api/v1/quarantine[/<n>/(approve|discard)]` (staff).
pub(super) fn handle_quarantine(env: &mut Env, req: &Request) -> Response {
    serve(env, req, quarantine)
}

pub(crate) fn quarantine(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let ["quarantine", rest @ ..] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if !matches!(
        (req.method.as_str(), rest),
        ("GET", []) | ("POST", [_, "approve" | "discard"])
    ) {
        return Err(Error::NoRoute);
    }
    let actor = authenticate(env, req)?;
    require(actor.is_staff_side(), "only staff review held email")?;
    let ws = actor.ws().clone();
    match rest {
        [] => {
            let (list, next) = inbound::quarantine(env.kv, &ws, cursor(req)?, limit(req)?)?;
            Ok(Response::json(
                200,
                &json!({"held": list.iter().map(held_json).collect::<Vec<_>>(), "next_cursor": next}),
            ))
        }
        [n, action] => {
            let n = n.parse::<u64>().map_err(|_| {
                Error::bad("invalid_id", format!("{n:?} is not a held message number"))
            })?;
            let approve = *action == "approve";
            let before = inbound::held(env.kv, &ws, n)?;
            if approve && before.state == inbound::HeldState::Held {
                // Everything the post needs is checked before anything changes.
                let t = before.ticket.ok_or_else(|| {
                    Error::Conflict("no ticket was found for this message; discard it".into())
                })?;
                thread::ticket(env.kv, &ws, t).map_err(|e| {
                    e.unless_store(Error::Conflict("its ticket is gone; discard it".into()))
                })?;
                thread::check_body(&before.text).map_err(|e| {
                    Error::Conflict(format!(
                        "the message cannot be posted ({}); discard it",
                        e.message()
                    ))
                })?;
            }
            let h = inbound::decide(env.kv, &ws, n, approve, &actor.audit_name(), env.now)?;
            if !approve {
                let mut resp = Response::json(200, &json!({"held": held_json(&h)}));
                let audited = audit(
                    env,
                    &actor,
                    Event::HeldDiscarded,
                    &n.to_string(),
                    h.ticket,
                    rid,
                );
                crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
                return Ok(resp);
            }
            match approve_post(env, &actor, &h) {
                Ok(mut resp) => {
                    let audited = audit(
                        env,
                        &actor,
                        Event::HeldApproved,
                        &n.to_string(),
                        h.ticket,
                        rid,
                    );
                    crate::serve::after_commit(
                        &mut resp.internal,
                        "the approval's audit entry",
                        audited,
                    );
                    Ok(resp)
                }
                Err(e) => {
                    // Not posted: the message waits for a decision again.
                    inbound::undecide(env.kv, &ws, n)?;
                    Err(e)
                }
            }
        }
        _ => Err(Error::NoRoute),
    }
}

/// Post an approved message as its sender (a participant of the ticket from
/// now on when the workspace has participants).
pub(crate) fn approve_post(env: &mut Env, actor: &Actor, h: &Held) -> Result<Response> {
    let ws = actor.ws().clone();
    let w = workspace::workspace(env.kv, &ws)?;
    let no = h.ticket.ok_or(Error::NotFound)?;
    let t = thread::ticket(env.kv, &ws, no)?;
    let author = match reply_sender(env, &w, &t, &h.from) {
        Ok(a) => a,
        Err(_) if w.settings.participants_enabled => {
            let r16 = env.random16();
            let name = (!h.from_name.is_empty()).then_some(h.from_name.as_str());
            let p = match domain::participants::add(
                &env.ctx(&ws, &actor.audit_name(), ""),
                no,
                &actor.audit_name(),
                domain::participants::NewParticipant {
                    email: &h.from,
                    name,
                    can_reply: true,
                },
                r16,
            ) {
                Ok(p) => p,
                Err(Error::Conflict(_)) => {
                    domain::participants::by_email(env.kv, &ws, no, &h.from)?
                        .ok_or(Error::NotFound)?
                }
                Err(e) => return Err(e),
            };
            Author {
                id: Some(p.id.clone()),
                name: p.name.clone(),
                kind: AuthorKind::Participant,
                signed: true,
            }
        }
        Err(_) => Author {
            id: Some(format!("email:{}", h.from)),
            name: if h.from_name.is_empty() {
                h.from.clone()
            } else {
                h.from_name.clone()
            },
            kind: AuthorKind::Participant,
            signed: true,
        },
    };
    let mut resp = post(env, &w, &t, &author, &h.text, &actor.audit_name())?;
    let mut v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    v["held"] = held_json(h);
    resp.body = v.to_string().into_bytes();
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailgunSetup {
    signing_key: String,
}

/// `/api/v1/webhooks/inbound[/(postmark|mailgun)]` (admins): provider set-up.
pub(super) fn setup(env: &mut Env, req: &Request, rid: &str, rest: &[&str]) -> Result<Response> {
    if !matches!(
        (req.method.as_str(), rest),
        ("GET", []) | ("POST", ["postmark"]) | ("PUT", ["mailgun"])
    ) {
        return Err(Error::NoRoute);
    }
    let actor = authenticate(env, req)?;
    require(actor.is_admin_side(), "only admins set up inbound email")?;
    let ws = actor.ws().clone();
    let origin = env.public_origin.trim_end_matches('/').to_string();
    let hook = |p: &str| format!("{origin}/hooks/{p}/{ws}");
    match rest {
        [] => {
            let cfg = inbound::config(env.kv, &ws)?;
            Ok(Response::json(
                200,
                &json!({
                    "reply_domain": env.reply_domain,
                    "postmark": {"configured": cfg.postmark_hash.is_some(), "url": hook("postmark")},
                    "mailgun": {"configured": cfg.mailgun_key.is_some(), "url": hook("mailgun")},
                }),
            ))
        }
        ["postmark"] => {
            let password = inbound::set_postmark(env.kv, &ws, (env.random)())?;
            let mut internal = None;
            let audited = audit(env, &actor, Event::InboundConfigured, "postmark", None, rid);
            crate::serve::after_commit(&mut internal, "the audit entry", audited);
            let url = match origin.split_once("://") {
                Some((scheme, host)) => format!(
                    "{scheme}://{}:{password}@{host}/hooks/postmark/{ws}",
                    inbound::POSTMARK_USER
                ),
                None => hook("postmark"),
            };
            let mut resp = Response::json(
                201,
                &json!({"url": url, "username": inbound::POSTMARK_USER, "password": password}),
            )
            .with_secret();
            resp.internal = internal;
            Ok(resp)
        }
        _ => {
            let body: MailgunSetup = req.json(MAX_JSON_BODY)?;
            let r = (env.random)();
            inbound::set_mailgun(env.kv, &ws, &body.signing_key, &env.seal_key(), r)?;
            let mut resp = Response::json(
                200,
                &json!({"mailgun": {"configured": true, "url": hook("mailgun")}}),
            );
            let audited = audit(env, &actor, Event::InboundConfigured, "mailgun", None, rid);
            crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
    }
}
