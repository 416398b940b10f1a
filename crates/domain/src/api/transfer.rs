//! The `transfer` component: staff actions on a ticket's ownership and state
//! under `/api/v1/tickets/<no>/(accept|transfer|return|resolve|reopen|delete|read|unread)`.
//! Each is a POST (with the usual `Idempotency-Key`), changes the ticket by
//! compare-and-swap through `inbox::change` (so its view follows), revokes
//! outside links where the rules say so, and writes the audit ledger (and
//! so the webhooks). The inbox views themselves (`GET /api/v1/inbox`) are
//! read here too, for the `tickets` component.

use serde::Deserialize;
use serde_json::json;

use super::{Env, audit, authenticate, method_not_allowed, require, segments, serve, ticket_json};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::http::{MAX_JSON_BODY, Request, Response};
use crate::ids::TicketNo;
use crate::lifecycle::{self, Revoked};
use crate::model::Status;
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
        return method_not_allowed("POST");
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
        super::after_commit(&mut resp.internal, "the audit entry", audited);
        return Ok(resp);
    }
    let ws = actor.ws().clone();
    // Customers get the same answer as for a ticket that does not exist when
    // they cannot see it, and a refusal when they can.
    let current = super::visible_ticket(env, &actor, no)?;
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
    // The change is made: it stands, whatever fails after it.
    let mut resp = Response::json(
        200,
        &json!({"ticket": ticket_json(&t, true), "revoked": revoked_json(&revoked)}),
    );
    let audited = audit(env, &actor, event, &target, Some(no), rid);
    super::after_commit(&mut resp.internal, "the audit entry", audited);
    for d in &revoked.delegates {
        let audited = audit(
            env,
            &actor,
            Event::DelegateRevoked,
            d.user.as_str(),
            Some(no),
            rid,
        );
        super::after_commit(&mut resp.internal, "the audit entry", audited);
    }
    for p in &revoked.participants {
        let audited = audit(env, &actor, Event::ParticipantRemoved, &p.id, Some(no), rid);
        super::after_commit(&mut resp.internal, "the audit entry", audited);
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
        super::after_commit(&mut resp.internal, "the audit entry", audited);
    }
    Ok(resp)
}

fn ticket_queues(u: Option<&workspace::User>) -> Option<&[String]> {
    match u {
        Some(u) if u.role == workspace::Role::Staff && !u.queues.is_empty() => Some(&u.queues),
        // Admins, the platform, and staff in no queue in particular: all.
        _ => None,
    }
}

/// Staff act on tickets of their queues; admins (and the platform) on all.
fn may_act(actor: &super::Actor, t: &crate::model::Ticket) -> bool {
    actor.is_staff_side()
        && ticket_queues(actor.user()).is_none_or(|qs| {
            qs.contains(&t.queue) || t.assignee.as_ref() == actor.user().map(|u| &u.id)
        })
}

/// Accept, return and transfer work on a ticket as it is inside the swap:
/// there, of the actor's queues, and not resolved.
fn workable(actor: &super::Actor, t: &crate::model::Ticket) -> Result<()> {
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
struct TransferBody {
    /// The staff member who takes it over.
    #[serde(default)]
    to: Option<crate::ids::UserId>,
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

fn check_line(what: &str, text: &str) -> Result<String> {
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

fn user_name(env: &Env, ws: &crate::ids::WorkspaceId, id: &crate::ids::UserId) -> String {
    workspace::user(env.kv, ws, id)
        .map(|u| u.name)
        .unwrap_or_else(|_| id.to_string())
}

/// Accept, transfer, return, mark read / unread.
fn ownership(
    env: &mut Env,
    actor: &super::Actor,
    req: &Request,
    rid: &str,
    no: TicketNo,
    action: &str,
) -> Result<Response> {
    let ws = actor.ws().clone();
    let t = super::visible_ticket(env, actor, no)?;
    require(actor.is_staff_side(), "only staff work the inbox")?;
    let me = actor.user().cloned();
    let need_me = || {
        me.clone().ok_or_else(|| {
            Error::bad(
                "act_as_required",
                format!(
                    "{action} is done by a person: send {} with a staff user id",
                    super::ACT_AS_HEADER
                ),
            )
        })
    };
    match action {
        "read" | "unread" => {
            let me = need_me()?;
            crate::inbox::mark(env.kv, &ws, &me.id, &t, action == "read")?;
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
            let t = crate::inbox::change(env.kv, &ws, no, env.now, |t| {
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
            let t = crate::inbox::change(env.kv, &ws, no, env.now, |t| {
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
            let t = crate::inbox::change(env.kv, &ws, no, env.now, |t| {
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
        let author = crate::thread::Author {
            id: actor.user().map(|u| u.id.to_string()),
            name: who.clone(),
            kind: crate::model::AuthorKind::System,
            signed: true,
        };
        let posted = crate::thread::post(
            env.kv,
            &ws,
            no,
            env.now,
            &author,
            crate::model::Visibility::Internal,
            &text,
            None,
        );
        super::after_commit(&mut resp.internal, "the hand-off note", posted);
    }
    let audited = audit(env, actor, event, &no.to_string(), Some(no), rid);
    super::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `POST /api/v1/inbox/reindex` (admins): give every ticket that has no
/// inbox entry yet (made before the inbox existed) the one its state says.
/// Walks the workspace's tickets once; for maintenance, not for requests.
pub(super) fn reindex(env: &mut Env, actor: &super::Actor, rid: &str) -> Result<Response> {
    require(actor.is_admin_side(), "only admins rebuild the inbox")?;
    let ws = actor.ws().clone();
    let top = crate::record::read_counter(env.kv, &crate::keys::ticket_counter(&ws))?;
    let mut placed = 0;
    // Tickets found: a number whose ticket was never written (an increment
    // whose answer was lost, a create that failed) is no ticket.
    let mut tickets = 0;
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    for n in 1..=top {
        let no = TicketNo(n);
        let Some(mut t) =
            crate::record::read::<crate::model::Ticket>(env.kv, &crate::keys::ticket(&ws, no))?
        else {
            continue;
        };
        tickets += 1;
        if t.slot.is_none() && !t.deleted {
            t = crate::inbox::change(env.kv, &ws, no, t.updated_at, |_| Ok(()))?;
            workspace::note_queue(env.kv, &ws, &t.queue)?;
            placed += 1;
        }
        if let Some(slot) = &t.slot {
            *counts.entry(slot.list.clone()).or_default() += 1;
        }
    }
    // Counts follow moves by one; a crash between a move and its count
    // leaves one off. Set each list's count to what the tickets say (best
    // run while nobody works the inbox).
    for q in workspace::queues(env.kv, &ws)? {
        counts.entry(format!("pending/{q}")).or_default();
        counts.entry(format!("resolved/{q}")).or_default();
    }
    for u in workspace::staff(env.kv, &ws, "")? {
        counts.entry(format!("working/{}", u.id)).or_default();
    }
    for (list, want) in &counts {
        crate::inbox::set_count(env.kv, &ws, list, *want)?;
    }
    let mut resp = Response::json(200, &json!({"tickets": tickets, "placed": placed}));
    let audited = audit(
        env,
        actor,
        Event::InboxReindexed,
        &format!("{placed} of {tickets}"),
        None,
        rid,
    );
    super::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/inbox?view=pending|working|resolved`: one page of a view
/// for the calling staff member, with the counts of all three and unread
/// markers per person.
pub(super) fn inbox(env: &mut Env, actor: &super::Actor, req: &Request) -> Result<Response> {
    require(actor.is_staff_side(), "the inbox is for staff")?;
    let ws = actor.ws().clone();
    let me = actor.user();
    let pending: Vec<String> = match ticket_queues(me) {
        Some(qs) => qs.iter().map(|q| format!("pending/{q}")).collect(),
        None => {
            let mut qs = workspace::queues(env.kv, &ws)?;
            if qs.is_empty() {
                qs.push("support".into());
            }
            qs.iter().map(|q| format!("pending/{q}")).collect()
        }
    };
    let working: Vec<String> = me
        .map(|u| format!("working/{}", u.id))
        .into_iter()
        .collect();
    let resolved: Vec<String> = pending
        .iter()
        .map(|l| l.replacen("pending/", "resolved/", 1))
        .collect();
    let view = req.query_param("view").unwrap_or_else(|| "pending".into());
    let (lists, order) = match view.as_str() {
        "pending" => (&pending, crate::inbox::Order::OldestFirst),
        "working" => {
            if me.is_none() {
                return Err(Error::bad(
                    "act_as_required",
                    "Working on belongs to a person: act as a staff user",
                ));
            }
            (&working, crate::inbox::Order::NewestFirst)
        }
        "resolved" => (&resolved, crate::inbox::Order::NewestFirst),
        v => {
            return Err(Error::bad(
                "invalid_query",
                format!("view {v:?} must be pending, working or resolved"),
            ));
        }
    };
    let cursor = req
        .query_param("cursor")
        .map(|c| crate::inbox::Cursor::decode(&c))
        .transpose()?;
    let limit = super::limit(req)?;
    let (tickets, next) =
        crate::inbox::page(env.kv, &ws, lists, order, cursor.as_ref(), limit, env.now)?;
    let mut rows = Vec::new();
    for t in &tickets {
        let mut v = ticket_json(t, true);
        if let Some(u) = me {
            v["unread"] = json!(crate::inbox::unread(env.kv, &ws, &u.id, t)?);
        }
        v["assignee_name"] = json!(t.assignee.as_ref().map(|a| user_name(env, &ws, a)));
        rows.push(v);
    }
    let sum = |lists: &[String]| -> Result<u64> {
        lists
            .iter()
            .map(|l| crate::inbox::count(env.kv, &ws, l))
            .sum()
    };
    Ok(Response::json(
        200,
        &json!({
            "view": view,
            "tickets": rows,
            "next_cursor": next.map(|c| c.encode()),
            "counts": {"pending": sum(&pending)?, "working": sum(&working)?, "resolved": sum(&resolved)?},
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::WorkspaceId;
    use crate::store::{Kv, MemKv};

    fn call(kv: &MemKv, method: &str, path: &str, auth: &str, body: &str) -> Response {
        let mut n = 0u8;
        let mut random = move || {
            n = n.wrapping_add(1);
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
        let req = Request {
            method: method.into(),
            path: path.into(),
            headers: vec![
                ("authorization".into(), auth.into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: body.as_bytes().to_vec(),
            ..Default::default()
        };
        super::super::handle_tickets(&mut env, &req)
    }

    fn json_of(r: &Response) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    /// A ticket number taken and never written is no ticket: the reindex
    /// counts the tickets it found, not the numbers handed out.
    #[test]
    fn the_reindex_counts_tickets_not_numbers() {
        let kv = MemKv::new();
        let made = call(
            &kv,
            "POST",
            "/api/v1/workspaces",
            "Bearer admin-token-for-tests-0123",
            r#"{"id":"acme","name":"Acme"}"#,
        );
        assert_eq!(made.status, 201);
        let bearer = format!("Bearer {}", json_of(&made)["secret"].as_str().unwrap());
        let cus = call(
            &kv,
            "PUT",
            "/api/v1/users",
            &bearer,
            r#"{"email":"cus@x.test","name":"Cus","role":"customer"}"#,
        );
        let cus = json_of(&cus)["user"]["id"].as_str().unwrap().to_string();
        let ws = WorkspaceId::parse("acme").unwrap();
        let new_ticket = || {
            let body = json!({"customer_id": cus, "subject": "S", "body": "b"}).to_string();
            let t = call(&kv, "POST", "/api/v1/tickets", &bearer, &body);
            assert_eq!(t.status, 201, "{}", String::from_utf8_lossy(&t.body));
        };
        new_ticket();
        // Number 2 handed out, its ticket never written.
        kv.increment(&crate::keys::ticket_counter(&ws), 1).unwrap();
        new_ticket();
        let r = call(&kv, "POST", "/api/v1/inbox/reindex", &bearer, "");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(json_of(&r), json!({"tickets": 2, "placed": 0}));
    }
}
