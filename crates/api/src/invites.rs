//! The `invites` component: a ticket's delegates
//! (`/api/v1/tickets/:no/delegates/...`: invite, list, resend, revoke) and
//! participants (`/api/v1/tickets/:no/participants/...`: add, list, remove).

use crate::Env;
use crate::actor::{OnTicket, authenticate, require, visible_ticket};
use crate::http::{MAX_JSON_BODY, Request, Response, segments};
use crate::mail::{mail_branding, mail_participant};
use crate::serve::{after_commit, audit, serve};
use crate::views::{delegate_json, participant_json, team_name};
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::{TicketNo, UserId};
use domain::workspace;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDelegate {
    email: String,
    #[serde(default = "yes")]
    can_reply: bool,
}

pub(crate) fn yes() -> bool {
    true
}

/// The `invites` component: `/api/v1/tickets/<no>/delegates[/<user>/(resend|revoke)]`.
pub fn handle_invites(env: &mut Env, req: &Request) -> Response {
    serve(env, req, invites)
}

pub(crate) fn invites(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
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
    let on = OnTicket {
        actor: &actor,
        w: &w,
        t: &t,
        rid,
    };
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
            let list = domain::delegates::list(env.kv, &ws, t.no)?;
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
            send_invite(env, on, &body, Event::DelegateInvited)
        }
        ("POST", [user, "resend"]) => {
            require(
                may_manage,
                "customers may invite delegates only when the workspace allows it",
            )?;
            let id = UserId::parse(user)?;
            let d = domain::delegates::list(env.kv, &ws, t.no)?
                .into_iter()
                .find(|d| d.user == id)
                .ok_or(Error::NotFound)?;
            let again = NewDelegate {
                email: d.email,
                can_reply: d.can_reply,
            };
            send_invite(env, on, &again, Event::DelegateResent)
        }
        ("POST", [user, "revoke"]) => {
            require(
                may_manage,
                "customers may manage delegates only when the workspace allows it",
            )?;
            let id = UserId::parse(user)?;
            let d = domain::delegates::revoke(env.kv, &ws, t.no, &id, env.now)?;
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
        _ => Err(Error::NoRoute),
    }
}

/// Invite (or invite again) `invite.email` to ticket `t`: a fresh accept
/// link, emailed; recorded as `event`.
pub(crate) fn send_invite(
    env: &mut Env,
    on: OnTicket,
    invite: &NewDelegate,
    event: Event,
) -> Result<Response> {
    let OnTicket { actor, w, t, rid } = on;
    let NewDelegate { email, can_reply } = invite;
    let inviter = match actor.user() {
        Some(u) => u.name.clone(),
        None => team_name(w),
    };
    let r = (env.random)();
    let name = actor.audit_name();
    let ctx = env.ctx(&w.id, &name, rid);
    let (d, link) = domain::delegates::invite(&ctx, t.no, &inviter, email, *can_reply, r)?;
    let url = format!("{}/i/{link}", env.public_origin.trim_end_matches('/'));
    let draft = domain::outbox::invite(
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
    resp.after.mail.push((w.id.clone(), mail));
    let audited = domain::audit::record(&ctx, event, d.user.as_str(), Some(t.no));
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewParticipant {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    can_reply: bool,
}

/// `/api/v1/tickets/<no>/participants[/<id>/remove]` (staff side).
pub(crate) fn participants(
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
            let list = domain::participants::list(env.kv, &ws, t.no)?;
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
            let p = domain::participants::add(
                &env.ctx(&ws, &actor.audit_name(), rid),
                t.no,
                &who,
                domain::participants::NewParticipant {
                    email: &body.email,
                    name: body.name.as_deref(),
                    can_reply: body.can_reply,
                },
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
                resp.after.mail.push((ws, n));
            }
            Ok(resp)
        }
        ("POST", [id, "remove"]) => {
            let p = domain::participants::remove(env.kv, &ws, t.no, id)?;
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
        _ => Err(Error::NoRoute),
    }
}
