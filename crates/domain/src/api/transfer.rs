//! The `transfer` component: staff actions on a ticket's state under
//! `/api/v1/tickets/<no>/(resolve|reopen|delete)`. Each is a POST (with the
//! usual `Idempotency-Key`), changes the ticket by compare-and-swap, revokes
//! outside links where the rules say so, and writes the audit ledger.

use serde::Deserialize;
use serde_json::json;

use super::{Env, audit, authenticate, method_not_allowed, require, segments, serve, ticket_json};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::http::{MAX_JSON_BODY, Request, Response};
use crate::ids::TicketNo;
use crate::lifecycle::{self, Revoked};
use crate::workspace;

/// Optional body of every action.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// Why (kept in the audit ledger).
    #[serde(default)]
    reason: Option<String>,
}

/// Longest reason, in characters.
const MAX_REASON_CHARS: usize = 500;

fn body(req: &Request) -> Result<ActionBody> {
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
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn revoked_json(r: &Revoked) -> serde_json::Value {
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

fn transfer(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let ["tickets", no, action] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if !matches!(*action, "resolve" | "reopen" | "delete") {
        return Err(Error::NoRoute);
    }
    if req.method != "POST" {
        return method_not_allowed("POST");
    }
    let actor = authenticate(env, req)?;
    let no = TicketNo::parse(no)?;
    let ws = actor.ws().clone();
    // Customers get the same answer as for a ticket that does not exist when
    // they cannot see it, and a refusal when they can.
    super::visible_ticket(env, &actor, no)?;
    require(
        actor.is_staff_side(),
        "only staff resolve, reopen or delete tickets",
    )?;
    let reason = body(req)?.reason.unwrap_or_default();
    let target = if reason.is_empty() {
        no.to_string()
    } else {
        format!("{no}: {}", reason.trim())
    };
    let (t, revoked, event) = match *action {
        "resolve" => {
            let w = workspace::workspace(env.kv, &ws)?;
            let (t, r) =
                lifecycle::resolve(env.kv, &ws, no, env.now, w.settings.revoke_on_resolve)?;
            (t, r, Event::TicketResolved)
        }
        "reopen" => (
            lifecycle::reopen(env.kv, &ws, no, env.now)?,
            Revoked::default(),
            Event::TicketReopened,
        ),
        _ => {
            let (t, r) = lifecycle::delete(env.kv, &ws, no, env.now)?;
            (t, r, Event::TicketDeleted)
        }
    };
    audit(env, &actor, event, &target, Some(no), rid)?;
    for d in &revoked.delegates {
        audit(
            env,
            &actor,
            Event::DelegateRevoked,
            d.user.as_str(),
            Some(no),
            rid,
        )?;
    }
    for p in &revoked.participants {
        audit(env, &actor, Event::ParticipantRemoved, &p.id, Some(no), rid)?;
    }
    for s in &revoked.shares {
        audit(
            env,
            &actor,
            Event::ShareCancelled,
            s.id.as_str(),
            Some(no),
            rid,
        )?;
    }
    Ok(Response::json(
        200,
        &json!({"ticket": ticket_json(&t, true), "revoked": revoked_json(&revoked)}),
    ))
}
