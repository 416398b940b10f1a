//! Who is calling and what they may see: [`Actor`] from an API key (acting
//! as a user or not) or a session cookie ([`authenticate`]), the one
//! cross-site rule ([`refuse_cross_site`]), and the checks every handler
//! shares (`visible_ticket`, `customer_kind`, `require`, `ticket_queues`).

use crate::Env;
use crate::http::{Request, Response, segments};
use domain::auth;
use domain::error::{Error, Result};
use domain::ids::{ApiKeyId, TicketNo, UserId, WorkspaceId};
use domain::model::{AuthorKind, Reader, Ticket};
use domain::thread;
use domain::workspace::{self, Role, User};

/// Header naming the user an API key acts as.
pub const ACT_AS_HEADER: &str = "ticketshare-act-as";

/// A call by `actor` on ticket `t` of workspace `w`, under request id
/// `rid`: what an operation answering it for someone needs to know.
#[derive(Clone, Copy)]
pub(crate) struct OnTicket<'a> {
    /// Who calls.
    pub(crate) actor: &'a Actor,
    /// The workspace.
    pub(crate) w: &'a workspace::Workspace,
    /// The ticket.
    pub(crate) t: &'a Ticket,
    /// The request's id.
    pub(crate) rid: &'a str,
}

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

    pub(crate) fn user(&self) -> Option<&User> {
        match self {
            Actor::User { user, .. } => Some(user),
            Actor::Platform { .. } => None,
        }
    }

    /// The one ticket the actor's session reaches, if it is so limited.
    pub(crate) fn scope(&self) -> Option<TicketNo> {
        match self {
            Actor::User { scope, .. } => *scope,
            Actor::Platform { .. } => None,
        }
    }

    /// Platform, admin or staff: sees every ticket of the workspace.
    pub(crate) fn is_staff_side(&self) -> bool {
        self.user().is_none_or(User::is_staff)
    }

    /// Platform or admin: manages the workspace.
    pub(crate) fn is_admin_side(&self) -> bool {
        self.user().is_none_or(|u| u.role == Role::Admin)
    }

    /// How the actor appears in the audit ledger.
    pub(crate) fn audit_name(&self) -> String {
        match self {
            Actor::Platform { key, .. } => format!("platform:{key}"),
            Actor::User { user, .. } => user.id.to_string(),
        }
    }

    pub(crate) fn reader(&self) -> Reader {
        if self.is_staff_side() {
            Reader::Staff
        } else {
            Reader::CustomerSide
        }
    }
}

pub(crate) fn cookie(req: &Request, name: &str) -> Option<String> {
    req.header("cookie")?.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// What [`authenticate`] will read first for `req`, to read it ahead with
/// other keys in one batch: the credential's workspace, its record's key,
/// and the user an API key acts as (`None`: no well-formed credential).
pub(crate) fn credential_keys(req: &Request) -> Option<(WorkspaceId, Vec<String>, Option<UserId>)> {
    if let Some(authz) = req.header("authorization") {
        let secret = authz.strip_prefix("Bearer ")?.trim();
        let (ws, record) = auth::api_key_record(secret)?;
        let acting = req
            .header(ACT_AS_HEADER)
            .and_then(|id| UserId::parse(id.trim()).ok());
        let mut keys = vec![record];
        keys.extend(acting.iter().map(|u| domain::keys::user(&ws, u)));
        return Some((ws, keys, acting));
    }
    let (ws, record) = auth::session_record(&cookie(req, auth::SESSION_COOKIE)?)?;
    Some((ws, vec![record], None))
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
    if let Some(no) = session.ticket
        && !reachable_in_scope(req, no)
    {
        return Err(Error::NotFound);
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
pub(crate) fn reachable_in_scope(req: &Request, no: TicketNo) -> bool {
    let Some(segs) = segments(&req.path) else {
        return false;
    };
    let this = |n: &str| TicketNo::parse(n).is_ok_and(|n| n == no);
    match (req.method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["me"]) => true,
        ("GET" | "HEAD", ["tickets", n] | ["tickets", n, "thread"]) => this(n),
        ("GET" | "HEAD", ["tickets", n, "messages", _, "attachments", _]) => this(n),
        ("POST", ["tickets", n, "replies"]) => this(n),
        // Refused by role (403), like for any customer, not hidden.
        ("GET" | "POST", ["tickets", n, "presence"]) => this(n),
        _ => false,
    }
}

/// Whether an HTTP method changes something (anything but GET, HEAD and
/// OPTIONS).
pub(crate) fn unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Whether `origin` (an `Origin` header) is the configured public origin.
pub(crate) fn is_public_origin(origin: &str, public_origin: &str) -> bool {
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

/// A ticket the actor may see, or NotFound.
pub(crate) fn visible_ticket(env: &Env, actor: &Actor, no: TicketNo) -> Result<Ticket> {
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
        || domain::delegates::active(env.kv, actor.ws(), no, &u.id)?.is_some()
    {
        Ok(t)
    } else {
        Err(Error::NotFound)
    }
}

/// How a customer-side user relates to a ticket they can see.
pub(crate) fn customer_kind(
    env: &Env,
    ws: &WorkspaceId,
    t: &Ticket,
    u: &User,
) -> Result<(AuthorKind, bool)> {
    let same_company = workspace::same_company(u.company.as_deref(), t.company.as_deref());
    if t.customer == u.id || same_company {
        return Ok((AuthorKind::Customer, true));
    }
    match domain::delegates::active(env.kv, ws, t.no, &u.id)? {
        Some(d) => Ok((AuthorKind::Delegate, d.can_reply)),
        None => Err(Error::NotFound),
    }
}

pub(crate) fn session_cookie(value: &str, max_age_secs: i64) -> String {
    format!(
        "{}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}",
        auth::SESSION_COOKIE
    )
}

pub(crate) fn require(ok: bool, why: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Forbidden(why.into()))
    }
}

pub(crate) fn ticket_queues(u: Option<&workspace::User>) -> Option<&[String]> {
    match u {
        Some(u) if u.role == workspace::Role::Staff && !u.queues.is_empty() => Some(&u.queues),
        // Admins, the platform, and staff in no queue in particular: all.
        _ => None,
    }
}
