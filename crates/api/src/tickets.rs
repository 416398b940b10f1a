//! The `tickets` component: the general JSON API under `/api/v1/`:
//! workspaces, API keys, users, sign-in, tickets and their threads and
//! files, the inbox views, search, the staff directory, the audit ledger,
//! the outbox, live links and the OpenAPI document.

use crate::Env;
use crate::actor::{
    Actor, authenticate, cookie, require, session_cookie, ticket_queues, visible_ticket,
};
use crate::http::{
    MAX_JSON_BODY, Request, Response, conditional, cursor, etag, if_none_match, limit, segments,
    sha_hex,
};
use crate::mail::{logo_url, mail_branding};
use crate::serve::{ReadAhead, after_commit, attempt_step, audit, claim_holder, serve};
use crate::views::{api_key_json, message_json, team_name, ticket_json, user_json, user_name};
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::{ApiKeyId, TicketNo, UserId, WorkspaceId};
use domain::marks::{self, Seen};
use domain::model::{AuthorKind, Reader, Ticket};
use domain::record::update;
use domain::thread::{self, Author, Order, Scope};
use domain::time::rfc3339;
use domain::workspace::{self, Role, Settings, UserInput};
use domain::{auth, keys, token};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWorkspace {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    link: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTicket {
    subject: String,
    body: String,
    #[serde(default)]
    customer_id: Option<UserId>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    order: Option<domain::model::OrderDetails>,
}

/// Part of every entity tag this component answers with: change it when
/// the JSON of a tagged answer changes shape, so that no client keeps an
/// answer of the old shape through a `304`.
const TAG_GENERATION: &str = "1";

/// The `tickets` component: workspaces, keys, users, sessions, tickets.
pub fn handle_tickets(env: &mut Env, req: &Request) -> Response {
    serve(env, req, tickets)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailLogin {
    workspace: String,
    email: String,
}

/// `POST /auth/email-login`: the same answer whether or not the address (or
/// the workspace) exists; a link is emailed only when it does.
pub(crate) fn email_login(env: &mut Env, req: &Request) -> Result<Response> {
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
    let draft = domain::outbox::login_link(&mail_branding(env, &w)?, &user.name, &url);
    let mail = env.enqueue_mail(&ws, &user.email, draft)?;
    // The link is on its way: the answer stays what it is.
    let mut answer = answer;
    let audited = domain::audit::record(
        &env.ctx(&ws, &user.id.to_string(), ""),
        Event::LoginLinkEmailed,
        &user.id.to_string(),
        None,
    );
    after_commit(&mut answer.internal, "the audit entry", audited);
    answer.after.mail.push((ws, mail));
    Ok(answer)
}

/// The routes of the `tickets` component, one line each: the public ones
/// first, then, once the caller is authenticated, every other route under
/// `/api/v1/` that no other component takes. A documented path asked with
/// another method never gets here (`serve::wrong_method`).
pub(crate) fn tickets(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let m = req.method.as_str();
    // Unauthenticated endpoints first.
    match (m, segs.as_slice()) {
        ("POST", ["workspaces"]) => return create_workspace(env, req, rid),
        ("POST", ["auth", "login"]) => return login(env, req, rid),
        ("POST", ["auth", "email-login"]) => return email_login(env, req),
        ("GET", ["openapi.json"]) => return Ok(Response::json(200, &crate::openapi::document())),
        ("GET", ["workspaces", ws, "logo"]) => return public_logo(env, ws),
        ("GET", ["workspaces", ws, "brand.css"]) => return brand_css(env, ws),
        ("POST", ["auth", "logout"]) => {
            if let Some(s) = cookie(req, auth::SESSION_COOKIE) {
                auth::end_session(env.kv, &s)?;
            }
            return Ok(Response::json(200, &json!({"ok": true}))
                .with_header("set-cookie", &session_cookie("", 0)));
        }
        _ => {}
    }
    // A poll of a tagged answer reads what decides a 304 in one batch.
    let ahead = ReadAhead::new(env.kv, &poll_keys(req, &segs));
    let env = &mut env.through(&ahead);
    let actor = authenticate(env, req)?;
    match (m, segs.as_slice()) {
        ("GET", ["me"]) => me(&actor),
        ("GET", ["workspace"]) => get_workspace(env, &actor),
        ("PUT", ["workspace", "settings"]) => put_settings(env, &actor, req, rid),
        ("PATCH", ["workspace", "settings"]) => patch_settings(env, &actor, req, rid),
        ("PUT", ["workspace", "logo"]) => put_logo(env, &actor, req, rid),
        ("GET", ["audit"]) => workspace_audit(env, &actor, req),
        ("GET", ["tickets", no, "audit"]) => ticket_audit(env, &actor, req, no),
        ("GET", ["links"]) => live_links(env, &actor, req),
        ("GET", ["outbox"]) => outbox(env, &actor, req),
        ("GET", ["api-keys"]) => list_api_keys(env, &actor),
        ("POST", ["api-keys"]) => create_api_key(env, &actor, req, rid),
        ("POST", ["api-keys", id, "revoke"]) => revoke_api_key(env, &actor, rid, id),
        ("PUT", ["users"]) => put_user(env, &actor, req, rid),
        ("GET", ["users", id]) => get_user(env, &actor, id),
        ("POST", ["users", id, "login-links"]) => mint_login_link(env, &actor, rid, id),
        ("POST", ["tickets"]) => create_ticket(env, &actor, req, rid),
        ("GET", ["tickets"]) if req.query_param("scope").as_deref() == Some("delegated") => {
            delegated_tickets(env, &actor, req)
        }
        ("GET", ["tickets"]) => list_tickets(env, &actor, req),
        ("GET", ["inbox"]) => inbox(env, &actor, req),
        ("POST", ["inbox", "reindex"]) => reindex(env, &actor, rid),
        ("GET", ["search"]) => search(env, &actor, req),
        ("GET", ["staff"]) => staff_directory(env, &actor, req),
        ("GET", ["tickets", no]) => get_ticket(env, &actor, req, no),
        ("PUT", ["tickets", no, "order"]) => put_order(env, &actor, req, rid, no),
        ("GET", ["tickets", no, "messages", seq, "attachments", id]) => {
            message_file(env, &actor, no, seq, id)
        }
        ("GET", ["tickets", no, "thread"]) => ticket_thread(env, &actor, req, rid, no),
        ("GET" | "POST", ["tickets", no, "presence"]) => presence(env, &actor, req, no),
        _ => Err(Error::NoRoute),
    }
}

/// The keys a GET of a tagged answer reads first, known from the request
/// alone: the credential's record and the user acted as, then the ticket
/// (its thread's and its own marker, and for a thread the workspace, whose
/// team name the customer side sees) or the change markers of the lists
/// that may be asked (those of a user acted as included; for the inbox
/// also the workspace's queues and its lists' start hints, so a page's own
/// reads start at once); for presence
/// (asked every few seconds, GET or POST) the ticket and its presence
/// record. Read ahead in one batch, a `304` for an API key acting as a user
/// costs one store call. Nothing for other requests.
fn poll_keys(req: &Request, segs: &[&str]) -> Vec<String> {
    let presence = matches!(segs, ["tickets", _, "presence"]);
    if req.method != "GET" && !(req.method == "POST" && presence) {
        return Vec::new();
    }
    let Some((ws, mut keys, acting)) = crate::actor::credential_keys(req) else {
        return Vec::new();
    };
    match segs {
        ["tickets", no, "presence"] => match TicketNo::parse(no) {
            Ok(no) => keys.extend([keys::ticket(&ws, no), keys::presence(&ws, no)]),
            Err(_) => return Vec::new(),
        },
        ["tickets", no] => match TicketNo::parse(no) {
            Ok(no) => keys.push(keys::ticket(&ws, no)),
            Err(_) => return Vec::new(),
        },
        // The workspace too: the customer side's thread shows its team name.
        ["tickets", no, "thread"] => match TicketNo::parse(no) {
            Ok(no) => keys.extend([keys::ticket(&ws, no), keys::workspace(&ws)]),
            Err(_) => return Vec::new(),
        },
        ["inbox"] | ["tickets"] => {
            // The inbox's lists follow the workspace's queues.
            // and a page starts where the shared start hints say.
            if segs == ["inbox"] {
                keys.extend([keys::queues(&ws), keys::view_hints(&ws)]);
            }
            keys.push(keys::mark_tickets(&ws));
            if let Some(u) = &acting {
                keys.push(keys::mark_seen(&ws, u));
                keys.push(keys::mark_customer(&ws, u));
            }
        }
        _ => return Vec::new(),
    }
    keys
}

/// `GET /api/v1/me`.
fn me(actor: &Actor) -> Result<Response> {
    let ws = actor.ws().clone();
    match &actor {
        Actor::User { user, scope, .. } => Ok(Response::json(
            200,
            &json!({"workspace": ws, "user": user_json(user), "ticket_scope": scope.map(|n| n.0)}),
        )),
        Actor::Platform { key, .. } => Ok(Response::json(
            200,
            &json!({"workspace": ws, "api_key_id": key}),
        )),
    }
}

/// `GET /api/v1/workspace`.
fn get_workspace(env: &mut Env, actor: &Actor) -> Result<Response> {
    let ws = actor.ws().clone();
    let w = workspace::workspace(env.kv, &ws)?;
    let logo = workspace::logo_meta(env.kv, &ws)?;
    Ok(Response::json(
        200,
        &json!({"id": w.id, "name": w.name, "settings": w.settings, "logo": logo, "created_at": rfc3339(w.created_at)}),
    ))
}

/// `PUT /api/v1/workspace/settings`.
fn put_settings(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins change settings")?;
    let s = Settings::from_full_body(&req.json::<Value>(MAX_JSON_BODY)?)?;
    let w = workspace::set_settings(env.kv, &ws, s)?;
    let mut resp = Response::json(200, &json!({"settings": w.settings}));
    let audited = audit(env, actor, Event::SettingsChanged, ws.as_str(), None, rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `PATCH /api/v1/workspace/settings`.
fn patch_settings(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins change settings")?;
    let patch: Value = req.json(MAX_JSON_BODY)?;
    let w = workspace::patch_settings(env.kv, &ws, &patch)?;
    let mut resp = Response::json(200, &json!({"settings": w.settings}));
    let audited = audit(env, actor, Event::SettingsChanged, ws.as_str(), None, rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `PUT /api/v1/workspace/logo`.
fn put_logo(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
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
    let audited = audit(env, actor, Event::LogoChanged, &logo.etag, None, rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/audit`.
fn workspace_audit(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins read the audit ledger")?;
    audit_export(env, req, &ws, None)
}

/// `GET /api/v1/tickets/{no}/audit`.
fn ticket_audit(env: &mut Env, actor: &Actor, req: &Request, no: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(
        actor.is_staff_side(),
        "only staff read a ticket's audit trail",
    )?;
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
    audit_export(env, req, &ws, Some(t.no))
}

/// `GET /api/v1/links`.
fn live_links(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins review every live link")?;
    let (links, next) = domain::links::page(env.kv, &ws, cursor(req)?, limit(req)?, env.now)?;
    Ok(Response::json(
        200,
        &json!({"links": links, "next_cursor": next}),
    ))
}

/// `GET /api/v1/outbox`.
fn outbox(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins read the outbox")?;
    let (emails, next) =
        domain::outbox::page(env.kv, &ws, cursor(req)?, limit(req)?, &env.seal_key())?;
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

/// `GET /api/v1/api-keys`.
fn list_api_keys(env: &mut Env, actor: &Actor) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins manage API keys")?;
    Ok(Response::json(
        200,
        &json!({"api_keys": auth::list_api_keys(env.kv, &ws)?.iter().map(api_key_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/api-keys`.
fn create_api_key(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins manage API keys")?;
    let body: NewKey = req.json(MAX_JSON_BODY)?;
    let (r32, r16) = ((env.random)(), env.random16());
    let (key, secret) = auth::create_api_key(env.kv, &ws, &body.label, env.now, r32, r16)?;
    let mut resp = Response::json(
        201,
        &json!({"api_key": api_key_json(&key), "secret": secret}),
    )
    .with_secret();
    let audited = audit(env, actor, Event::ApiKeyCreated, key.id.as_str(), None, rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `POST /api/v1/api-keys/{id}/revoke`.
fn revoke_api_key(env: &mut Env, actor: &Actor, rid: &str, id: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(actor.is_admin_side(), "only admins manage API keys")?;
    auth::revoke_api_key(env.kv, &ws, &ApiKeyId::parse(id)?)?;
    let mut resp = Response::json(200, &json!({"revoked": id}));
    let audited = audit(env, actor, Event::ApiKeyRevoked, id, None, rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `PUT /api/v1/users`.
fn put_user(env: &mut Env, actor: &Actor, req: &Request, rid: &str) -> Result<Response> {
    let ws = actor.ws().clone();
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
        actor,
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

/// `GET /api/v1/users/{id}`.
fn get_user(env: &mut Env, actor: &Actor, id: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    let id = UserId::parse(id)?;
    if !actor.is_staff_side() && actor.user().map(|u| &u.id) != Some(&id) {
        return Err(Error::NotFound);
    }
    Ok(Response::json(
        200,
        &json!({"user": user_json(&workspace::user(env.kv, &ws, &id)?)}),
    ))
}

/// `POST /api/v1/users/{id}/login-links`.
fn mint_login_link(env: &mut Env, actor: &Actor, rid: &str, id: &str) -> Result<Response> {
    let ws = actor.ws().clone();
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
        actor,
        Event::LoginLinkMinted,
        user.id.as_str(),
        None,
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/tickets?scope=delegated`: the tickets delegated to the
/// calling customer. Its tag is made from the answer itself: no marker
/// follows exactly the tickets of one person's delegations (the
/// workspace's would tell a customer of every staff change anywhere), and
/// the list is short.
fn delegated_tickets(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    let u = actor
        .user()
        .ok_or_else(|| Error::bad("act_as_required", "delegated tickets belong to a person"))?;
    let limit = limit(req)?;
    let nos = domain::delegates::delegated_tickets(env.kv, &ws, &u.id, limit)?;
    let mut list = Vec::new();
    for no in nos {
        if let Ok(t) = thread::ticket(env.kv, &ws, no) {
            let mut v = ticket_json(&t, false);
            v["shared"] = json!(true);
            list.push(v);
        }
    }
    let answer = json!({"tickets": list, "next_cursor": null});
    let text = answer.to_string();
    let tag = etag(&["delegated", TAG_GENERATION, u.id.as_str(), &text]);
    if if_none_match(req, &tag) {
        return Ok(Response::not_modified(&tag));
    }
    Ok(Response::json(200, &answer).with_etag(&tag))
}

/// `GET /api/v1/tickets`.
fn list_tickets(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
    let scope = match actor.user() {
        Some(u) if !u.is_staff() => match &u.company {
            Some(c) if req.query_param("scope").as_deref() == Some("company") => {
                Scope::Company(c.clone())
            }
            _ => Scope::Customer(u.id.clone()),
        },
        _ => Scope::Workspace,
    };
    let (at, limit) = (cursor(req)?, limit(req)?);
    // The scope's marker, read before the list.
    let marker = match &scope {
        Scope::Workspace => keys::mark_tickets(&ws),
        Scope::Customer(c) => keys::mark_customer(&ws, c),
        Scope::Company(name) => keys::mark_company(&ws, &workspace::company_key(name)),
    };
    let markers = marks::read(env.kv, std::slice::from_ref(&marker))?;
    let staff = actor.is_staff_side();
    let (name, at_text, limit_text) = (actor.audit_name(), format!("{at:?}"), limit.to_string());
    let tag = etag(&[
        "tickets",
        TAG_GENERATION,
        &name,
        &marker,
        &markers[0],
        &at_text,
        &limit_text,
    ]);
    conditional(req, &tag, || {
        let (list, next) = thread::list(env.kv, &ws, &scope, at, limit)?;
        Ok(Response::json(
            200,
            &json!({
                "tickets": list.iter().map(|t| ticket_json(t, staff)).collect::<Vec<_>>(),
                "next_cursor": next,
            }),
        ))
    })
}

/// `GET /api/v1/staff`.
fn staff_directory(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let ws = actor.ws().clone();
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

/// `GET /api/v1/tickets/{no}`: tagged for staff by the ticket's version
/// (its record is its marker) and the reply domain its address is built on;
/// for the customer side by what they are shown of it, so that staff-only
/// activity never changes their tag.
fn get_ticket(env: &mut Env, actor: &Actor, req: &Request, no: &str) -> Result<Response> {
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
    let staff = actor.is_staff_side();
    let mut v = ticket_json(&t, staff);
    let seen = if staff {
        // Where email replies to this ticket go (the platform's own
        // ticket emails can use it as Reply-To).
        v["reply_address"] = json!(
            t.reply_ref
                .as_ref()
                .filter(|_| !env.reply_domain.is_empty())
                .map(|r| domain::inbound::reply_address(r, env.reply_domain))
        );
        format!("v{} {}", t.version, env.reply_domain)
    } else {
        // The customer side's tag is what they are shown.
        v.to_string()
    };
    let tag = etag(&[
        "ticket",
        TAG_GENERATION,
        &actor.audit_name(),
        &t.no.to_string(),
        &seen,
    ]);
    if if_none_match(req, &tag) {
        return Ok(Response::not_modified(&tag));
    }
    Ok(Response::json(200, &json!({"ticket": v})).with_etag(&tag))
}

/// `PUT /api/v1/tickets/{no}/order`.
fn put_order(env: &mut Env, actor: &Actor, req: &Request, rid: &str, no: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    require(
        actor.is_staff_side(),
        "order details come from the platform or staff",
    )?;
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
    let o: domain::model::OrderDetails = req.json(MAX_JSON_BODY)?;
    o.validate()?;
    let t = update(env.kv, &keys::ticket(&ws, t.no), |t: &mut Ticket| {
        t.order = Some(o.clone());
        Ok(())
    })?;
    // Staff see order details in their lists.
    let name = actor.audit_name();
    marks::ticket_changed(&env.ctx(&ws, &name, rid), &t, &[], Seen::Staff);
    let mut resp = Response::json(200, &json!({"ticket": ticket_json(&t, true)}));
    let audited = audit(
        env,
        actor,
        Event::OrderSet,
        &t.no.to_string(),
        Some(t.no),
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/tickets/{no}/messages/{seq}/attachments/{id}`.
fn message_file(env: &mut Env, actor: &Actor, no: &str, seq: &str, id: &str) -> Result<Response> {
    let ws = actor.ws().clone();
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
    crate::files::file_response(env, &ws, t.no, seq, id, &actor.reader())
}

/// `GET /api/v1/tickets/{no}/thread`.
fn ticket_thread(
    env: &mut Env,
    actor: &Actor,
    req: &Request,
    rid: &str,
    no: &str,
) -> Result<Response> {
    let ws = actor.ws().clone();
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
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
    let (at, limit) = (cursor(req)?, limit(req)?);
    let reader = actor.reader();
    // The team name shows only to the customer side (on unsigned staff
    // posts): staff pages need no workspace read.
    let team = if reader == Reader::Staff {
        String::new()
    } else {
        team_name(&workspace::workspace(env.kv, &ws)?)
    };
    // The ticket's record is the thread's marker (every post updates it,
    // after its message is written), read before the messages: staff's by
    // its version, the customer side's by its public posts and the time of
    // the last change they saw (which notes never move).
    let name = actor.audit_name();
    let moved = if reader == Reader::Staff {
        format!("v{}", t.version)
    } else {
        // And the time of the last change they saw (a status too), so a
        // page that shows the ticket beside its thread learns of it.
        format!("p{} {}", t.public_posts, t.public_updated_at())
    };
    let tag = etag(&[
        "thread",
        TAG_GENERATION,
        &domain::render::VERSION.to_string(),
        &name,
        &t.no.to_string(),
        &moved,
        &format!("{order:?} {at:?} {limit}"),
        &team,
    ]);
    if if_none_match(req, &tag) {
        return Ok(Response::not_modified(&tag));
    }
    let page = thread::page(&env.ctx(&ws, &name, rid), &t, &reader, order, at, limit)?;
    // A page held back by a message being written may change under the
    // same version: its tag is one the next request never computes, so
    // that request gets the page again.
    let tag = if page.waiting {
        etag(&[&tag, "waiting", &env.now.to_string()])
    } else {
        tag
    };
    Ok(Response::json(
        200,
        &json!({
            "messages": page.messages.iter().map(|m| message_json(m, &reader, &team)).collect::<Vec<_>>(),
            "next_cursor": page.next,
        }),
    )
    .with_etag(&tag))
}

/// The body of `POST /api/v1/tickets/{no}/presence` (none: not composing).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresenceBody {
    /// The caller is writing a reply.
    #[serde(default)]
    composing: bool,
}

/// Largest presence body.
const MAX_PRESENCE_BODY: usize = 1024;

/// `POST /api/v1/tickets/{no}/presence` (`{"composing": bool}`, or no
/// body): the calling staff member has the ticket open, for
/// [`domain::presence::TTL`]; `GET` the same path reads without writing.
/// Both answer the other staff with it open. Staff only (a person: an API
/// key acts as one to say it is looking).
fn presence(env: &mut Env, actor: &Actor, req: &Request, no: &str) -> Result<Response> {
    require(
        actor.is_staff_side(),
        "only staff see who else has a ticket open",
    )?;
    let ws = actor.ws().clone();
    let t = visible_ticket(env, actor, TicketNo::parse(no)?)?;
    let me = actor.user();
    let p = if req.method == "POST" {
        let body: PresenceBody = if req.body.is_empty() {
            PresenceBody::default()
        } else {
            // An object: serde would take `[]` for a struct too.
            match req.json::<Value>(MAX_PRESENCE_BODY)? {
                v @ Value::Object(_) => {
                    serde_json::from_value(v).map_err(domain::error::json_error)?
                }
                _ => {
                    return Err(Error::bad(
                        "invalid_json",
                        "the body must be a JSON object: {\"composing\": true or false}",
                    ));
                }
            }
        };
        let me = me.ok_or_else(|| {
            Error::bad(
                "act_as_required",
                format!(
                    "presence belongs to a person: send {} with a staff user id",
                    crate::actor::ACT_AS_HEADER
                ),
            )
        })?;
        domain::presence::record(env.kv, &ws, t.no, &me.id, &me.name, body.composing, env.now)?
    } else {
        domain::presence::read(env.kv, &ws, t.no)?
    };
    let viewers: Vec<Value> = p
        .others(me.map(|u| &u.id), env.now)
        .iter()
        .map(|v| {
            json!({
                "user_id": v.user, "name": v.name, "composing": v.composing,
                "seen_at": rfc3339(v.seen_at),
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &json!({"viewers": viewers, "ttl_seconds": domain::presence::TTL / 1000}),
    ))
}

/// `GET /api/v1/search?q=`: `#22` (or `22`) opens ticket 22; words match
/// subject, customer name and email (staff) and message text, within what
/// the searcher may see, most recent activity first.
pub(crate) fn search(env: &mut Env, actor: &Actor, req: &Request) -> Result<Response> {
    let q = req.query_param("q").unwrap_or_default();
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(Error::bad("invalid_query", "q must be 1 to 200 characters"));
    }
    let staff = actor.is_staff_side();
    let number = q.strip_prefix('#').unwrap_or(q);
    if let Ok(no) = TicketNo::parse(number)
        && number.bytes().all(|c| c.is_ascii_digit())
    {
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
    let scope = if staff {
        domain::search::Scope::All
    } else {
        domain::search::Scope::Public
    };
    let mut keep = |t: &Ticket| -> Result<bool> {
        match visible_ticket(env, actor, t.no) {
            Ok(_) => Ok(true),
            Err(Error::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let limit = limit(req)?;
    let found = domain::search::search(env.kv, actor.ws(), q, scope, limit, &mut keep)?;
    Ok(Response::json(
        200,
        &json!({"tickets": found.iter().map(|t| ticket_json(t, staff)).collect::<Vec<_>>(), "by_number": false}),
    ))
}

pub(crate) fn audit_export(
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
    let (entries, next) = domain::audit::page(env.kv, ws, ticket, after, limit, env.now)?;
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
            r.body = domain::audit::to_csv(&entries).into_bytes();
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

/// `GET /api/v1/workspaces/<ws>/logo`: public, since emails show it. A
/// workspace without a logo and a workspace that does not exist get the same
/// 404 (the logo is looked up directly, never the workspace).
pub(crate) fn public_logo(env: &Env, ws: &str) -> Result<Response> {
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

/// The request carries the deployment admin token (`Authorization: Bearer
/// <admin_token>`, compared in constant time); 401 otherwise, and always
/// when the deployment has none.
pub(crate) fn require_deployment_token(env: &Env, req: &Request) -> Result<()> {
    let given = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Error::Unauthenticated)?;
    if env.admin_token.is_empty() || !token::ct_eq(given.as_bytes(), env.admin_token.as_bytes()) {
        return Err(Error::Unauthenticated);
    }
    Ok(())
}

pub(crate) fn create_workspace(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    require_deployment_token(env, req)?;
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
    let audited = domain::audit::record(
        &env.ctx(&id, "deployment", rid),
        Event::WorkspaceCreated,
        id.as_str(),
        None,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

pub(crate) fn login(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
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
    let audited = domain::audit::record(
        &env.ctx(&ws, user_id.as_str(), rid),
        Event::SessionStarted,
        user_id.as_str(),
        None,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

pub(crate) fn create_ticket(
    env: &mut Env,
    actor: &Actor,
    req: &Request,
    rid: &str,
) -> Result<Response> {
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
        &env.ctx(ws, &actor.audit_name(), rid),
        thread::NewTicket {
            subject: &body.subject,
            customer: &customer,
            queue: &queue,
            author: &author,
            body: &body.body,
        },
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
    let name = actor.audit_name();
    if !env.reply_domain.is_empty() {
        // Every ticket has its reply address from the start (or from its
        // first email, when this fails).
        let r = (env.random)();
        let r = domain::inbound::reply_reference(&env.ctx(ws, &name, rid), t.no, r);
        after_commit(&mut internal, "the reply address", r);
    }
    if let Some(o) = body.order {
        let r = update(env.kv, &keys::ticket(ws, t.no), |t: &mut Ticket| {
            t.order = Some(o.clone());
            Ok(())
        });
        if let Some(updated) = after_commit(&mut internal, "storing the order details", r) {
            t = updated;
            marks::ticket_changed(&env.ctx(ws, &name, rid), &t, &[], Seen::Staff);
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

/// `GET /api/v1/workspaces/<ws>/brand.css`: the brand colour as a style
/// sheet, so pages under the strict CSP (no inline style) carry it.
///
/// An unknown (or malformed) workspace gets the default branding, with the
/// same status and headers as a known workspace that kept the defaults: the
/// answer does not tell which workspaces exist.
pub(super) fn brand_css(env: &Env, ws: &str) -> Result<Response> {
    let colour = match WorkspaceId::parse(ws) {
        Ok(id) => match workspace::workspace(env.kv, &id) {
            Ok(w) => w.settings.branding.brand_colour,
            Err(Error::NotFound) => workspace::Branding::default().brand_colour,
            Err(e) => return Err(e),
        },
        Err(_) => workspace::Branding::default().brand_colour,
    };
    // Validated as #rrggbb when saved.
    let css = format!(":root {{ --brand: {colour}; }}\n");
    let mut r = Response::json(200, &Value::Null);
    r.body = css.into_bytes();
    r.headers = vec![
        ("content-type".into(), "text/css; charset=utf-8".into()),
        ("cache-control".into(), "public, max-age=60".into()),
        ("x-content-type-options".into(), "nosniff".into()),
    ];
    Ok(r)
}

/// `POST /api/v1/inbox/reindex` (admins): give every ticket that has no
/// inbox entry yet (made before the inbox existed) the one its state says.
/// Walks the workspace's tickets once; for maintenance, not for requests.
pub(super) fn reindex(env: &mut Env, actor: &crate::actor::Actor, rid: &str) -> Result<Response> {
    require(actor.is_admin_side(), "only admins rebuild the inbox")?;
    let ws = actor.ws().clone();
    let name = actor.audit_name();
    let top = domain::record::read_counter(env.kv, &domain::keys::ticket_counter(&ws))?;
    let mut placed = 0;
    // Tickets found: a number whose ticket was never written (an increment
    // whose answer was lost, a create that failed) is no ticket.
    let mut tickets = 0;
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    for n in 1..=top {
        let no = TicketNo(n);
        let Some(mut t) =
            domain::record::read::<domain::model::Ticket>(env.kv, &domain::keys::ticket(&ws, no))?
        else {
            continue;
        };
        tickets += 1;
        if t.slot.is_none() && !t.deleted {
            // The entry dated from the ticket's last activity.
            let ctx = domain::ctx::Ctx {
                now: t.updated_at,
                ..env.ctx(&ws, &name, rid)
            };
            t = domain::inbox::change(&ctx, no, |_| Ok(()))?;
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
        domain::inbox::set_count(env.kv, &ws, list, *want)?;
    }
    // The counts are right again: every list's marker after them (this
    // also heals a marker a failed touch left behind).
    let mut touched = vec![keys::mark_tickets(&ws)];
    touched.extend(counts.keys().map(|l| keys::mark_list(&ws, l)));
    marks::touch_noted(
        &env.ctx(&ws, &name, rid),
        &touched,
        &format!("{}-reindex-{rid}", env.now),
    );
    let mut resp = Response::json(200, &json!({"tickets": tickets, "placed": placed}));
    let audited = audit(
        env,
        actor,
        Event::InboxReindexed,
        &format!("{placed} of {tickets}"),
        None,
        rid,
    );
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    Ok(resp)
}

/// `GET /api/v1/inbox?view=pending|working|resolved`: one page of a view
/// for the calling staff member, with the counts of all three and unread
/// markers per person. Tagged by the change markers of the lists it shows
/// (of the workspace for whoever sees every queue) and of the caller's read
/// marks, read first: a `304` reads nothing else.
pub(super) fn inbox(env: &mut Env, actor: &crate::actor::Actor, req: &Request) -> Result<Response> {
    require(actor.is_staff_side(), "the inbox is for staff")?;
    let ws = actor.ws().clone();
    let me = actor.user();
    let view = req.query_param("view").unwrap_or_else(|| "pending".into());
    let order = match view.as_str() {
        "pending" => domain::inbox::Order::OldestFirst,
        "working" => {
            if me.is_none() {
                return Err(Error::bad(
                    "act_as_required",
                    "Working on belongs to a person: act as a staff user",
                ));
            }
            domain::inbox::Order::NewestFirst
        }
        "resolved" => domain::inbox::Order::NewestFirst,
        v => {
            return Err(Error::bad(
                "invalid_query",
                format!("view {v:?} must be pending, working or resolved"),
            ));
        }
    };
    let cursor_text = req.query_param("cursor").unwrap_or_default();
    let cursor = req
        .query_param("cursor")
        .map(|c| domain::inbox::Cursor::decode(&c))
        .transpose()?;
    let limit = crate::http::limit(req)?;
    let own_queues = ticket_queues(me);
    // The lists of the three views: of the caller's queues, or (every
    // queue) of the workspace's (read ahead with the credential).
    let pending: Vec<String> = match own_queues {
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
    let lists = match view.as_str() {
        "pending" => &pending,
        "working" => &working,
        _ => &resolved,
    };
    // The markers first: of the caller's queues' lists and their own
    // Working on, or (every queue) of the workspace; and of their read
    // marks.
    let mut watched = match own_queues {
        Some(qs) => qs
            .iter()
            .flat_map(|q| [format!("pending/{q}"), format!("resolved/{q}")])
            .chain(me.map(|u| format!("working/{}", u.id)))
            .map(|l| keys::mark_list(&ws, &l))
            .collect(),
        None => vec![keys::mark_tickets(&ws)],
    };
    if let Some(u) = me {
        watched.push(keys::mark_seen(&ws, &u.id));
    }
    let markers = marks::read(env.kv, &watched)?;
    let (name, limit_text) = (actor.audit_name(), limit.to_string());
    let mut parts = vec![
        "inbox",
        TAG_GENERATION,
        &name,
        &view,
        &cursor_text,
        &limit_text,
    ];
    parts.extend(watched.iter().chain(&markers).map(String::as_str));
    // The lists shown, read with the markers (the workspace's queues): in
    // the tag, so an answer that paired new markers with the queues as
    // they were is tagged apart and fetched again at the next poll.
    parts.extend(pending.iter().map(String::as_str));
    conditional(req, &etag(&parts), || {
        // After the markers, in one batch, what the page reads first (the
        // lists' counters and, where the start hints read with the
        // credential place them, a window of their entries: see
        // `domain::inbox::Plan`), and the counts of the three views.
        let hints = domain::inbox::hints(env.kv, &ws)?;
        let plan = domain::inbox::plan(lists, order, cursor.as_ref(), limit, &hints);
        let mut first = plan.keys(&ws);
        first.extend(
            pending
                .iter()
                .chain(&working)
                .chain(&resolved)
                .map(|l| keys::view_count(&ws, l)),
        );
        let ahead = ReadAhead::new(env.kv, &first);
        let env = &mut env.through(&ahead);
        let (tickets, next) =
            domain::inbox::page_with(&env.ctx(&ws, &name, ""), &plan, me.map(|u| &u.id))?;
        // The assignees' names: the caller's own without a read (their
        // Working on), the others' in one batch read.
        let mut names: std::collections::HashMap<&domain::ids::UserId, String> =
            me.map(|u| (&u.id, u.name.clone())).into_iter().collect();
        let mut others: Vec<&domain::ids::UserId> = tickets
            .iter()
            .filter_map(|(t, _)| t.assignee.as_ref())
            .filter(|a| !names.contains_key(a))
            .collect();
        others.sort_by_key(|a| a.as_str());
        others.dedup();
        let users: Vec<String> = others.iter().map(|a| keys::user(&ws, a)).collect();
        let named = ReadAhead::new(env.kv, &users);
        let by_name = env.through(&named);
        for a in others {
            names.insert(a, user_name(&by_name, &ws, a));
        }
        let mut rows = Vec::new();
        for (t, seen) in &tickets {
            let mut v = ticket_json(t, true);
            if me.is_some() {
                v["unread"] = json!(domain::inbox::unread_after(t, *seen));
            }
            v["assignee_name"] = json!(t.assignee.as_ref().and_then(|a| names.get(a)));
            rows.push(v);
        }
        let sum = |lists: &[String]| -> Result<u64> {
            lists
                .iter()
                .map(|l| domain::inbox::count(env.kv, &ws, l))
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
    })
}
