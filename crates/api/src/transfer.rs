//! The `transfer` component: staff actions on a ticket's ownership and state
//! under `/api/v1/tickets/<no>/(accept|transfer|return|resolve|reopen|delete|read|unread)`.
//! Each is a POST (with the usual `Idempotency-Key`), changes the ticket by
//! compare-and-swap through `inbox::change` (so its view follows), revokes
//! outside links where the rules say so, and writes the audit ledger (and
//! so the webhooks). The inbox views themselves (`GET /api/v1/inbox`) are
//! read here too, for the `tickets` component.

use crate::Env;
use crate::actor::{authenticate, require, ticket_queues};
use crate::http::{MAX_JSON_BODY, Request, Response, segments};
use crate::serve::{audit, serve};
use crate::views::ticket_json;
use crate::views::user_name;

use domain::error::{Error, Result};

use domain::events::Event;

use domain::ids::TicketNo;

use domain::lifecycle::{self, Revoked};

use domain::model::Status;

use domain::workspace;

use serde::Deserialize;

use serde_json::json;

/// Optional body of every action.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    /// Why (kept in the audit ledger).
    #[serde(default)]
    reason: Option<String>,
}

/// Longest reason, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 500;

pub(crate) fn body(req: &Request) -> Result<ActionBody> {
    if req.body.is_empty() {
        return Ok(ActionBody::default());
    }
    let b: ActionBody = req.json(MAX_JSON_BODY)?;
    if let Some(r) = &b.reason {
        if r.chars().count() > MAX_REASON_CHARS {
            return Err(Error::bad(
                "invalid_field",
                format!("reason is longer than {MAX_REASON_CHARS} characters"),
            ));
        }
        if r.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(Error::bad(
                "invalid_field",
                "reason must be one line of plain text",
            ));
        }
    }
    Ok(b)
}

/// Unicode bidirectional controls, which could disguise text in the ledger.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

pub(crate) fn revoked_json(r: &Revoked) -> serde_json::Value {
    json!({
        "delegates": r.delegates.iter().map(|d| d.user.as_str()).collect::<Vec<_>>(),
        "participants": r.participants.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        "shares": r.shares.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
    })
}

/// The `transfer` component's entry point.
pub fn handle_transfer(env: &mut Env, req: &Request) -> Response {
    serve(env, req, transfer)
}

pub(crate) fn transfer(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let ["tickets", no, action] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if !matches!(
        *action,
        "resolve"
            | "reopen"
            | "delete"
            | "purge"
            | "accept"
            | "transfer"
            | "return"
            | "read"
            | "unread"
    ) {
        return Err(Error::NoRoute);
    }
    if req.method != "POST" {
        return Err(Error::NoRoute);
    }
    let actor = authenticate(env, req)?;
    let no = TicketNo::parse(no)?;
    if matches!(
        *action,
        "accept" | "transfer" | "return" | "read" | "unread"
    ) {
        return ownership(env, &actor, req, rid, no, action);
    }
    if *action == "purge" {
        // Deleted tickets are not visible: admins reach them by number.
        require(actor.is_admin_side(), "only admins purge deleted tickets")?;
        let removed = lifecycle::purge(env.kv, actor.ws(), no, env.now)?;
        let mut resp = Response::json(200, &json!({"purged": no.0, "messages_removed": removed}));
        let audited = audit(
            env,
            &actor,
            Event::TicketPurged,
            &format!("{no}: {removed} messages"),
            Some(no),
            rid,
        );
        crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
        return Ok(resp);
    }
    let ws = actor.ws().clone();
    // Customers get the same answer as for a ticket that does not exist when
    // they cannot see it, and a refusal when they can.
    let current = crate::actor::visible_ticket(env, &actor, no)?;
    require(
        actor.is_staff_side(),
        "only staff resolve, reopen or delete tickets",
    )?;
    require(
        may_act(&actor, &current),
        "staff act on tickets of their own queues",
    )?;
    let reason = body(req)?.reason.unwrap_or_default();
    let target = if reason.is_empty() {
        no.to_string()
    } else {
        format!("{no}: {}", reason.trim())
    };
    let name = actor.audit_name();
    let ctx = env.ctx(&ws, &name, rid);
    let (t, revoked, event) = match *action {
        "resolve" => {
            let w = workspace::workspace(env.kv, &ws)?;
            let (t, r) = lifecycle::resolve(&ctx, no, w.settings.revoke_on_resolve)?;
            (t, r, Event::TicketResolved)
        }
        "reopen" => (
            lifecycle::reopen(&ctx, no)?,
            Revoked::default(),
            Event::TicketReopened,
        ),
        _ => {
            let (t, r) = lifecycle::delete(&ctx, no)?;
            (t, r, Event::TicketDeleted)
        }
    };
    // The change is made: it stands, whatever fails after it.
    let mut resp = Response::json(
        200,
        &json!({"ticket": ticket_json(&t, true), "revoked": revoked_json(&revoked)}),
    );
    let audited = audit(env, &actor, event, &target, Some(no), rid);
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    for d in &revoked.delegates {
        let audited = audit(
            env,
            &actor,
            Event::DelegateRevoked,
            d.user.as_str(),
            Some(no),
            rid,
        );
        crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    }
    for p in &revoked.participants {
        let audited = audit(env, &actor, Event::ParticipantRemoved, &p.id, Some(no), rid);
        crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    }
    for s in &revoked.shares {
        let audited = audit(
            env,
            &actor,
            Event::ShareCancelled,
            s.id.as_str(),
            Some(no),
            rid,
        );
        crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    }
    Ok(resp)
}

/// Staff act on tickets of their queues; admins (and the platform) on all.
pub(crate) fn may_act(actor: &crate::actor::Actor, t: &domain::model::Ticket) -> bool {
    actor.is_staff_side()
        && ticket_queues(actor.user()).is_none_or(|qs| {
            qs.contains(&t.queue) || t.assignee.as_ref() == actor.user().map(|u| &u.id)
        })
}

/// Accept, return and transfer work on a ticket as it is inside the swap:
/// there, of the actor's queues, and not resolved.
pub(crate) fn workable(actor: &crate::actor::Actor, t: &domain::model::Ticket) -> Result<()> {
    if t.deleted {
        return Err(Error::NotFound);
    }
    if !may_act(actor, t) {
        return Err(Error::Forbidden(
            "staff act on tickets of their own queues".into(),
        ));
    }
    if t.status == Status::Resolved {
        return Err(Error::Conflict(format!(
            "ticket {} is resolved; reopen it first",
            t.no
        )));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    /// The staff member who takes it over.
    #[serde(default)]
    to: Option<domain::ids::UserId>,
    /// The queue it moves to.
    #[serde(default)]
    queue: Option<String>,
    /// A hand-off note, shown in the thread as an internal event.
    #[serde(default)]
    note: Option<String>,
    /// Refuse (409) unless the ticket is still at this version (what the
    /// caller saw): of many concurrent transfers exactly one wins.
    #[serde(default)]
    if_version: Option<u64>,
}

pub(crate) fn check_line(what: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(Error::bad(
            "invalid_field",
            format!("{what} is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    if t.chars()
        .any(|c| (c.is_control() && c != '\n') || is_bidi_control(c))
    {
        return Err(Error::bad(
            "invalid_field",
            format!("{what} must be plain text"),
        ));
    }
    Ok(t.to_string())
}

/// Accept, transfer, return, mark read / unread.
pub(crate) fn ownership(
    env: &mut Env,
    actor: &crate::actor::Actor,
    req: &Request,
    rid: &str,
    no: TicketNo,
    action: &str,
) -> Result<Response> {
    let ws = actor.ws().clone();
    let t = crate::actor::visible_ticket(env, actor, no)?;
    require(actor.is_staff_side(), "only staff work the inbox")?;
    let me = actor.user().cloned();
    let need_me = || {
        me.clone().ok_or_else(|| {
            Error::bad(
                "act_as_required",
                format!(
                    "{action} is done by a person: send {} with a staff user id",
                    crate::actor::ACT_AS_HEADER
                ),
            )
        })
    };
    match action {
        "read" | "unread" => {
            let me = need_me()?;
            let name = actor.audit_name();
            domain::inbox::mark(&env.ctx(&ws, &name, rid), &me.id, &t, action == "read")?;
            return Ok(Response::json(
                200,
                &json!({"ticket": t.no.0, "unread": action == "unread"}),
            ));
        }
        _ => {}
    }
    require(
        may_act(actor, &t),
        "staff act on tickets of their own queues",
    )?;
    let who = actor
        .user()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "The platform".into());
    let (t, event, note) = match action {
        "accept" => {
            let me = need_me()?;
            let mut taken_by = None;
            // A ticket the caller already holds is left as it is (nothing
            // written, no event); the answer says so.
            let mut already_mine = None;
            let t = domain::inbox::change(&env.ctx(&ws, &actor.audit_name(), rid), no, |t| {
                workable(actor, t)?;
                match &t.assignee {
                    Some(a) if *a == me.id => {
                        already_mine = Some(t.clone());
                        return Err(Error::Conflict(String::new()));
                    }
                    Some(a) => {
                        taken_by = Some(a.clone());
                        return Err(Error::Conflict(String::new()));
                    }
                    None => {
                        t.assignee = Some(me.id.clone());
                        if t.status == Status::Pending {
                            t.status = Status::Open;
                        }
                        t.updated_at = env.now;
                    }
                }
                Ok(())
            });
            let t = match (t, already_mine, &taken_by) {
                (Err(Error::Conflict(_)), Some(mine), _) => {
                    return Ok(Response::json(
                        200,
                        &json!({"ticket": ticket_json(&mine, true), "already_yours": true}),
                    ));
                }
                (Err(Error::Conflict(_)), None, Some(a)) => {
                    return Err(Error::Conflict(format!(
                        "{} took ticket {no} already",
                        user_name(env, &ws, a)
                    )));
                }
                (t, _, _) => t?,
            };
            (t, Event::TicketAssigned, None)
        }
        "return" => {
            let body: ActionBody = body(req)?;
            let reason = body.reason.unwrap_or_default();
            let mut from = None;
            let t = domain::inbox::change(&env.ctx(&ws, &actor.audit_name(), rid), no, |t| {
                workable(actor, t)?;
                from = t.assignee.take();
                if from.is_none() {
                    return Err(Error::Conflict(format!(
                        "ticket {} is not assigned to anyone",
                        t.no
                    )));
                }
                t.updated_at = env.now;
                Ok(())
            })?;
            let from = from.map(|a| user_name(env, &ws, &a)).unwrap_or_default();
            let text = if reason.trim().is_empty() {
                format!("{who} returned the ticket to Pending (it was with {from}).")
            } else {
                format!(
                    "{who} returned the ticket to Pending (it was with {from}): {}",
                    reason.trim()
                )
            };
            (t, Event::TicketReturned, Some(text))
        }
        _ => {
            let b: TransferBody = if req.body.is_empty() {
                TransferBody::default()
            } else {
                req.json(MAX_JSON_BODY)?
            };
            if b.to.is_none() && b.queue.is_none() {
                return Err(Error::bad(
                    "missing_field",
                    "name the staff member (to) and/or the queue",
                ));
            }
            let note = b
                .note
                .as_deref()
                .map(|n| check_line("note", n))
                .transpose()?
                .unwrap_or_default();
            let target = match &b.to {
                Some(id) => {
                    let u = workspace::user(env.kv, &ws, id).map_err(|e| {
                        e.unless_store(Error::bad(
                            "unknown_user",
                            "to: no such user in this workspace",
                        ))
                    })?;
                    if !u.is_staff() {
                        return Err(Error::bad(
                            "invalid_field",
                            "to: tickets go to staff members",
                        ));
                    }
                    Some(u)
                }
                None => None,
            };
            if let Some(q) = &b.queue {
                workspace::check_queue(q)?;
            }
            // The receiver must work the queue it lands in (checked again
            // inside the swap, against the ticket as it is then).
            let works = |u: &workspace::User, q: &str| {
                u.role != workspace::Role::Staff
                    || u.queues.is_empty()
                    || u.queues.iter().any(|x| x == q)
            };
            if let Some(u) = &target {
                let q = b.queue.clone().unwrap_or_else(|| t.queue.clone());
                if !works(u, &q) {
                    return Err(Error::bad(
                        "invalid_field",
                        format!("to: {} does not work the {q} queue", u.name),
                    ));
                }
            }
            if let Some(q) = &b.queue {
                workspace::note_queue(env.kv, &ws, q)?;
            }
            let t = domain::inbox::change(&env.ctx(&ws, &actor.audit_name(), rid), no, |t| {
                workable(actor, t)?;
                if let Some(u) = &target {
                    let q = b.queue.clone().unwrap_or_else(|| t.queue.clone());
                    if !works(u, &q) {
                        return Err(Error::Conflict(format!(
                            "{} does not work the {q} queue",
                            u.name
                        )));
                    }
                }
                if b.if_version.is_some_and(|v| v != t.version) {
                    return Err(Error::Conflict(format!(
                        "ticket {} changed since you opened it; reload and try again",
                        t.no
                    )));
                }
                if let Some(q) = &b.queue {
                    t.queue = q.clone();
                }
                t.assignee = target.as_ref().map(|u| u.id.clone());
                t.updated_at = env.now;
                Ok(())
            })?;
            let dest = match &target {
                Some(u) => format!("{} (queue {})", u.name, t.queue),
                None => format!("the {} queue", t.queue),
            };
            let text = if note.is_empty() {
                format!("{who} transferred the ticket to {dest}.")
            } else {
                format!("{who} transferred the ticket to {dest}: {note}")
            };
            (t, Event::TicketTransferred, Some(text))
        }
    };
    // The change is made: it stands, whatever fails after it (a retry
    // would be refused or move the ticket twice).
    let mut answer = json!({"ticket": ticket_json(&t, true)});
    if action == "accept" {
        answer["already_yours"] = json!(false);
    }
    let mut resp = Response::json(200, &answer);
    if let Some(text) = note {
        let author = domain::thread::Author {
            id: actor.user().map(|u| u.id.to_string()),
            name: who.clone(),
            kind: domain::model::AuthorKind::System,
            signed: true,
        };
        let posted = domain::thread::post(
            &env.ctx(&ws, &actor.audit_name(), rid),
            no,
            &author,
            domain::model::Visibility::Internal,
            &text,
            None,
        );
        crate::serve::after_commit(&mut resp.internal, "the hand-off note", posted);
    }
    let audited = audit(env, actor, event, &no.to_string(), Some(no), rid);
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}
