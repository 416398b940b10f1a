//! The `shares` component: external collaborators (eDesk's flow).
//!
//! - Staff side, `/api/v1/tickets/<no>/shares[/<id>/(cancel|extend|reshare)]`:
//!   only the platform, admins and staff with the *external share*
//!   permission; everyone else gets 403 (404 when they cannot see the ticket).
//! - The collaborator's page, `/s/<link>`, rendered here with no script: GET
//!   shows the email check (or the thread, with a session) and changes
//!   nothing; POST sends a code, checks one, enters a re-share, or posts an
//!   external note (with files) through the one reply operation
//!   ([`thread::post_with`]); `/s/<link>/files/<seq>/<id>` downloads a file.
//!   Expired, cancelled, locked and unknown links answer one neutral page.

use crate::Env;
use crate::actor::{Actor, OnTicket, authenticate, require, visible_ticket};
use crate::http::{MAX_JSON_BODY, Request, Response, segments};
use crate::mail::mail_branding;
use crate::pages::{
    PAGE_MESSAGES, PageRequest, message_page, neutral_share_page, not_allowed_page, thread_page,
    thread_page_before, verify_page,
};
use crate::serve::{ReadAhead, after_commit, audit, serve};
use crate::views::{collaborator, masked, team_name};

use domain::form::Form;

use domain::error::{Error, Result};

use domain::events::Event;

use domain::ids::{ShareId, TicketNo, WorkspaceId};

use domain::keys;

use domain::model::{AuthorKind, Visibility};

use domain::record::Claim;

use domain::shares::{self, CodeRefusal, NewShare, Share, Sharer};

use domain::thread::{self, Author, Extras};

use domain::time::{Millis, rfc3339};

use domain::workspace::{self, Permission, Workspace};

use serde_json::{Value, json};

/// The `shares` component's entry point (API and pages).
pub fn handle_shares(env: &mut Env, req: &Request) -> Response {
    if let Some(rest) = req
        .path
        .strip_prefix("/s/")
        .or((req.path == "/s").then_some(""))
    {
        let resp = page_answer(page(env, req, rest));
        return crate::serve::with_after(env, resp);
    }
    serve(env, req, api)
}

/// What a share page answers for `r`: a store failure is a 503; every other
/// error the one neutral page.
pub(crate) fn page_answer(r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| match e {
        Error::Store(_) => Response::error(&e),
        _ => neutral_share_page(),
    })
}

/// The page answer `r`, with the failures of its best-effort ledger
/// entries (`audited`) noted for the log: they never change what the
/// collaborator sees.
pub(crate) fn noting<const N: usize>(
    audited: [Result<()>; N],
    r: Result<Response>,
) -> Result<Response> {
    if audited.iter().all(Result::is_ok) {
        return r;
    }
    let mut resp = page_answer(r);
    for a in audited {
        after_commit(&mut resp.internal, "the audit entry", a);
    }
    Ok(resp)
}

pub(crate) fn share_json(s: &Share, now: Millis) -> Value {
    json!({
        "id": s.id, "ticket": s.ticket.0, "email": s.email, "subject": s.subject, "note": s.note,
        "include_details": s.include_details, "can_reply": s.can_reply,
        "created_by": s.created_by, "created_by_name": s.created_by_name,
        "created_at": rfc3339(s.created_at), "expires_at": rfc3339(s.expires_at),
        "state": s.state(now), "verified_at": s.verified_at.map(rfc3339),
        "last_opened_at": s.last_opened_at.map(rfc3339), "cancelled_at": s.cancelled_at.map(rfc3339),
        "failed_codes": s.failures,
    })
}

/// The platform, admins, and staff holding the permission.
pub(crate) fn may_share(actor: &Actor) -> bool {
    actor
        .user()
        .is_none_or(|u| u.has(Permission::ExternalShare))
}

pub(crate) fn sharer(actor: &Actor, w: &Workspace) -> Sharer {
    Sharer {
        id: actor.audit_name(),
        name: actor
            .user()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| team_name(w)),
    }
}

pub(crate) fn api(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    let ["tickets", no, "shares", rest @ ..] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if !matches!(
        (req.method.as_str(), rest),
        ("GET" | "POST", []) | ("POST", [_, "cancel" | "extend" | "reshare"])
    ) {
        return Err(Error::NoRoute);
    }
    let actor = authenticate(env, req)?;
    let ws = actor.ws().clone();
    let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
    require(
        actor.is_staff_side(),
        "only staff share tickets with external collaborators",
    )?;
    require(
        may_share(&actor),
        "sharing a ticket outside the team needs the external share permission",
    )?;
    let w = workspace::workspace(env.kv, &ws)?;
    let on = OnTicket {
        actor: &actor,
        w: &w,
        t: &t,
        rid,
    };
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let list = shares::list(env.kv, &ws, t.no)?;
            let mut internal = None;
            for s in &list {
                after_commit(&mut internal, "the audit entry", note_expiry(env, &ws, s));
            }
            let mut resp = Response::json(
                200,
                &json!({"shares": list.iter().map(|s| share_json(s, env.now)).collect::<Vec<_>>()}),
            );
            resp.internal = internal;
            Ok(resp)
        }
        ("POST", []) => {
            let input: NewShare = req.json(MAX_JSON_BODY)?;
            send_share(env, on, &input, Event::ShareCreated)
        }
        ("POST", [id, action]) => {
            let id = ShareId::parse(id)?;
            let s = shares::get(env.kv, &ws, &id)?;
            if s.ticket != t.no {
                return Err(Error::NotFound);
            }
            let (s, event) = match *action {
                "cancel" => (
                    shares::cancel(env.kv, &ws, &id, env.now)?,
                    Event::ShareCancelled,
                ),
                "extend" => (
                    shares::extend(env.kv, &ws, &id, w.settings.share_lifetime(), env.now)?,
                    Event::ShareExtended,
                ),
                _ => {
                    let input = NewShare {
                        email: s.email.clone(),
                        subject: s.subject.clone(),
                        note: s.note.clone(),
                        include_details: s.include_details,
                        can_reply: s.can_reply,
                    };
                    return send_share(env, on, &input, Event::ShareReshared);
                }
            };
            let mut resp = Response::json(200, &json!({"share": share_json(&s, env.now)}));
            let audited = audit(env, &actor, event, id.as_str(), Some(t.no), rid);
            after_commit(&mut resp.internal, "the audit entry", audited);
            Ok(resp)
        }
        _ => Err(Error::NoRoute),
    }
}

/// Record an expiry in the ledger the first time anyone sees it; the
/// entry's outcome, for the caller to note (the expiry is written).
pub(crate) fn note_expiry(env: &Env, ws: &WorkspaceId, s: &Share) -> Result<()> {
    if let Ok(true) = shares::note_expired(env.kv, ws, s, env.now) {
        let ctx = env.ctx(ws, "system", "");
        return domain::audit::record(&ctx, Event::ShareExpired, s.id.as_str(), Some(s.ticket));
    }
    Ok(())
}

/// Share (or share again): a new link with a fresh lifetime, emailed; the
/// collaborator's earlier live links to this ticket are cancelled, so each
/// collaborator holds one live link per ticket.
pub(crate) fn send_share(
    env: &mut Env,
    on: OnTicket,
    input: &NewShare,
    event: Event,
) -> Result<Response> {
    let OnTicket { actor, w, t, rid } = on;
    let by = sharer(actor, w);
    let (r32, r16) = ((env.random)(), env.random16());
    let name = actor.audit_name();
    let ctx = env.ctx(&w.id, &name, rid);
    let (share, link) = shares::create(
        &ctx,
        t.no,
        &by,
        input,
        shares::NewLink {
            lifetime: w.settings.share_lifetime(),
            random_token: r32,
            random_id: r16,
        },
    )?;
    let replaced = shares::cancel_older(env.kv, &w.id, &share, env.now)?;
    let url = format!("{}/s/{link}", env.public_origin.trim_end_matches('/'));
    let draft = domain::outbox::share(
        &mail_branding(env, w)?,
        &by.name,
        &share.subject,
        &share.note,
        &url,
        &rfc3339(share.expires_at),
    );
    // The commit point: the link is on its way. A failure before it is an
    // error, and a retry shares again (cancelling the link nobody
    // received); after it, the share stands (a retry would send a second
    // email and cancel the first link).
    let mail = env.enqueue_mail(&w.id, &share.email, draft)?;
    let mut resp = Response::json(
        201,
        &json!({"share": share_json(&share, env.now), "replaced": replaced}),
    );
    resp.after.mail.push((w.id.clone(), mail));
    let audited = audit(env, actor, event, share.id.as_str(), Some(t.no), rid);
    after_commit(&mut resp.internal, "the audit entry", audited);
    for old in &replaced {
        let audited = audit(
            env,
            actor,
            Event::ShareCancelled,
            old.as_str(),
            Some(t.no),
            rid,
        );
        after_commit(&mut resp.internal, "the audit entry", audited);
    }
    let audited = audit(
        env,
        actor,
        Event::ShareEmailSent,
        share.id.as_str(),
        Some(t.no),
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    if share.carried_over {
        let audited = audit(
            env,
            actor,
            Event::ShareVerified,
            share.id.as_str(),
            Some(t.no),
            rid,
        );
        after_commit(&mut resp.internal, "the audit entry", audited);
    }
    Ok(resp)
}

/// The cookie holding a collaborator's session on one share (one per share,
/// so a collaborator may hold several).
pub(crate) fn cookie_name(id: &ShareId) -> String {
    format!("{COOKIE_PREFIX}{id}")
}

/// What the name of a share's session cookie starts with (its share id
/// follows).
const COOKIE_PREFIX: &str = "__Host-ts_share_";

pub(crate) fn share_cookie(id: &ShareId, value: &str, max_age_secs: i64) -> String {
    format!(
        "{}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        cookie_name(id),
        max_age_secs.max(0)
    )
}

pub(crate) fn has_session(env: &Env, req: &Request, ws: &WorkspaceId, s: &Share) -> Result<bool> {
    match crate::actor::cookie(req, &cookie_name(&s.id)) {
        Some(c) => shares::session_valid(env.kv, ws, s, &c, env.now),
        None => Ok(false),
    }
}

/// A ledger entry by the collaborator of share `s`; best effort on the
/// pages: its outcome is for the caller to note ([`noting`]).
pub(crate) fn record(env: &Env, ws: &WorkspaceId, s: &Share, event: Event) -> Result<()> {
    let ctx = env.ctx(ws, s.id.as_str(), "");
    domain::audit::record(&ctx, event, s.id.as_str(), Some(s.ticket))
}

/// The form a share page posts: a multipart body (with files) only from
/// someone holding a session; without one it stands for an attempt to
/// reply, which meets the email check.
fn page_form(req: &Request, session: bool) -> Result<Form> {
    if !session && Form::is_multipart(req.header("content-type").unwrap_or("")) {
        return Ok(Form {
            fields: vec![("action".into(), "reply".into())],
            files: Vec::new(),
        });
    }
    crate::files::read_form(req)
}

pub(crate) fn page(env: &mut Env, req: &Request, rest: &str) -> Result<Response> {
    let (link, file) = match rest.split_once('/') {
        None => (rest, None),
        Some((link, f)) => (link, Some(f)),
    };
    // What the page reads first, in one batch (`page_keys`).
    let ahead = ReadAhead::new(env.kv, &page_keys(req, link));
    let env = &mut env.through(&ahead);
    // One lookup for live and dead links alike.
    let (ws, share) = shares::find_link(env.kv, link)?;
    let ticket = match thread::ticket(env.kv, &ws, share.ticket) {
        Ok(t) if share.live(env.now) => t,
        _ => {
            let noted = note_expiry(env, &ws, &share);
            return noting([noted], Err(Error::NotFound));
        }
    };
    if let Some(f) = file {
        return download(env, req, &ws, &share, f);
    }
    let session = has_session(env, req, &ws, &share)?;
    match req.method.as_str() {
        "GET" | "HEAD" => {
            if session {
                let before = req
                    .query_param("before")
                    .and_then(|b| b.parse::<u64>().ok());
                // What the page reads once the ticket is known, in one
                // batch: the customer (when the details are shown) and,
                // unless the client may hold the page already (a 304 reads
                // no message), the page's messages.
                let if_none_match = req.header("if-none-match");
                let mut then = Vec::new();
                if share.include_details {
                    then.push(keys::user(&ws, &ticket.customer));
                }
                if if_none_match.is_none() {
                    then.extend(thread::page_keys(
                        &ws,
                        &ticket,
                        thread::Order::NewestFirst,
                        before,
                        PAGE_MESSAGES,
                    ));
                }
                let asked = PageRequest {
                    notice: "",
                    status: 200,
                    before,
                    ticket: Some(ticket),
                    if_none_match,
                };
                let then = ReadAhead::new(env.kv, &then);
                let mut r = thread_page_before(&mut env.through(&then), link, &ws, &share, asked)?;
                // "Last opened", to the minute: no write on every view, and
                // none for a 304 (the page's own poll: nothing was opened).
                if r.status != 304
                    && share
                        .last_opened_at
                        .is_none_or(|t| env.now - t >= TOUCH_EVERY)
                {
                    shares::touch(env.kv, &ws, &share.id, env.now)?;
                }
                // The cookie follows the share's current lifetime (Extend).
                if let Some(c) = crate::actor::cookie(req, &cookie_name(&share.id)) {
                    r.headers.push((
                        "set-cookie".into(),
                        share_cookie(&share.id, &c, (share.expires_at - env.now) / 1000),
                    ));
                }
                Ok(r)
            } else {
                // Opening is recorded (never the link itself), once a minute
                // at most, so link scanners cannot flood the ledger; nothing
                // else changes.
                let minute = env.now.div_euclid(60_000);
                // One key per share for its whole life: the minute last
                // recorded, advanced by compare-and-swap.
                let key = keys::share_opened(&ws, &share.id);
                let audited = match domain::record::advance_minute(env.kv, &key, minute)? {
                    true => record(env, &ws, &share, Event::ShareLinkOpened),
                    false => Ok(()),
                };
                noting([audited], verify_page(env, &ws, &share, "", 200))
            }
        }
        "POST" => {
            // Files are read only from someone holding a session.
            let form = match page_form(req, session) {
                Ok(f) => f,
                Err(e) if session => {
                    return thread_page(
                        env,
                        link,
                        &ws,
                        &share,
                        &e.message(),
                        crate::http::status(&e),
                    );
                }
                Err(e) => {
                    return verify_page(env, &ws, &share, &e.message(), crate::http::status(&e));
                }
            };
            match (form.get("action").unwrap_or(""), session) {
                ("reply", true) => reply(env, link, &ws, &share, &form),
                ("send_code", false) => send_code(env, &ws, &share),
                ("verify", false) => verify(
                    env,
                    link,
                    &ws,
                    &share,
                    form.get("code").unwrap_or(""),
                    form.get("once"),
                ),
                ("continue", false) => {
                    match shares::enter_without_code(env.kv, &ws, &share.id, env.now) {
                        Ok(s) => signed_in(env, link, &ws, &s),
                        Err(Error::Forbidden(m)) => verify_page(env, &ws, &share, &m, 403),
                        Err(e) => Err(e),
                    }
                }
                // A session that ended (or never was) meets the email check.
                ("reply", false) => verify_page(
                    env,
                    &ws,
                    &share,
                    "Confirm your email address first; your reply was not sent.",
                    401,
                ),
                (_, true) => Ok(redirect(link)),
                _ => verify_page(env, &ws, &share, "Use the buttons on this page.", 400),
            }
        }
        other => Ok(not_allowed_page(other, "Use the forms on the page.")),
    }
}

/// The most share cookies of one request whose share and session a page
/// reads ahead (a browser holds one per share it opened; the rest are read
/// when needed, as any key).
const READ_AHEAD_COOKIES: usize = 4;

/// The keys a share page reads first, known from the request alone: the
/// link's record, the workspace and its logo, and for each share cookie
/// the request carries (up to [`READ_AHEAD_COOKIES`]) the share its name
/// names and its session's record. Read ahead in one batch, a page with
/// a session costs that batch, the ticket, and the batch of its messages;
/// every check is made as before, on what was read (a cookie naming
/// another share than the link's only read its keys ahead for nothing).
fn page_keys(req: &Request, link: &str) -> Vec<String> {
    let Some((ws, link_key)) = shares::link_key(link) else {
        return Vec::new();
    };
    let mut out = vec![link_key, keys::workspace(&ws), keys::logo_meta(&ws)];
    let cookies = req.header("cookie").unwrap_or("").split(';');
    let named = cookies.filter_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        let id = ShareId::parse(k.strip_prefix(COOKIE_PREFIX)?).ok()?;
        Some((id, shares::session_key(&ws, v)?))
    });
    for (id, session) in named.take(READ_AHEAD_COOKIES) {
        out.extend([keys::share(&ws, &id), session]);
    }
    out
}

/// How often a view updates a share's "last opened".
pub(crate) const TOUCH_EVERY: Millis = 60_000;

/// How long a submitted reply form (or a promotion) is held by the request
/// posting it before another may take it over: longer than any request
/// runs, so only one that died is taken over.
pub(crate) const FORM_TAKEOVER: Millis = 60_000;

pub(crate) fn redirect(link: &str) -> Response {
    let mut r = message_page(303, "Opening", "Opening the ticket…");
    r.headers.push(("location".into(), format!("/s/{link}")));
    r
}

pub(crate) fn send_code(env: &mut Env, ws: &WorkspaceId, share: &Share) -> Result<Response> {
    match shares::issue_code(env.kv, ws, share, env.now, (env.random)()) {
        Ok(code) => {
            let w = workspace::workspace(env.kv, ws)?;
            let draft = domain::outbox::share_code(&mail_branding(env, &w)?, &code);
            let mail = env.enqueue_mail(ws, &share.email, draft)?;
            // The code is on its way: the page says so even when the share
            // cannot be read again (it is shown as it was).
            let mut internal = None;
            let audited = record(env, ws, share, Event::ShareCodeSent);
            after_commit(&mut internal, "the audit entry", audited);
            let read = shares::get(env.kv, ws, &share.id);
            let fresh = after_commit(&mut internal, "reading the share again", read)
                .unwrap_or_else(|| share.clone());
            let mut r = verify_page(
                env,
                ws,
                &fresh,
                &format!(
                    "We sent a 6-digit code to {}. It works once, for 10 minutes.",
                    masked(&share.email)
                ),
                200,
            )?;
            r.after.mail.push((ws.clone(), mail));
            r.internal = internal.or(r.internal);
            Ok(r)
        }
        Err(Error::RateLimited(secs)) => verify_page(
            env,
            ws,
            share,
            &format!("A code was sent a moment ago. You can ask for another in {secs} s."),
            429,
        )
        .map(|r| r.with_header("retry-after", &secs.to_string())),
        Err(e) => Err(e),
    }
}

pub(crate) fn verify(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    share: &Share,
    code: &str,
    once: Option<&str>,
) -> Result<Response> {
    match shares::verify_code(env.kv, ws, &share.id, code, once, env.now)? {
        Ok(s) => {
            let audited = record(env, ws, &s, Event::ShareVerified);
            noting([audited], signed_in(env, link, ws, &s))
        }
        Err(CodeRefusal::Wrong { left }) => {
            let audited = record(env, ws, share, Event::ShareCodeFailed);
            let fresh = shares::get(env.kv, ws, &share.id);
            let page = fresh.and_then(|fresh| {
                verify_page(
                    env,
                    ws,
                    &fresh,
                    &format!(
                        "That code is not right, or it has expired. {left} {} left.",
                        if left == 1 { "try" } else { "tries" }
                    ),
                    400,
                )
            });
            noting([audited], page)
        }
        Err(CodeRefusal::JustUsed) => {
            let fresh = shares::get(env.kv, ws, &share.id)?;
            let used = Error::Conflict(
                "This code was just used. If you entered it in another tab, reload this page to open the ticket; otherwise ask for a new code.".into(),
            );
            verify_page(env, ws, &fresh, &used.message(), crate::http::status(&used))
        }
        Err(CodeRefusal::Locked) => {
            let failed = record(env, ws, share, Event::ShareCodeFailed);
            let locked = record(env, ws, share, Event::ShareLocked);
            noting([failed, locked], Err(Error::NotFound))
        }
    }
}

pub(crate) fn signed_in(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    s: &Share,
) -> Result<Response> {
    let cookie = shares::start_session(env.kv, ws, s, env.now, (env.random)())?;
    let mut r = redirect(link);
    r.headers.push((
        "set-cookie".into(),
        share_cookie(&s.id, &cookie, (s.expires_at - env.now) / 1000),
    ));
    Ok(r)
}

pub(crate) fn reply(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    share: &Share,
    form: &Form,
) -> Result<Response> {
    if !share.can_reply {
        return thread_page(
            env,
            link,
            ws,
            share,
            "This share is view only: replies are not enabled.",
            403,
        );
    }
    // A second submit of the same rendered form (double click, reload)
    // posts nothing: the form's once-claim is held while this request posts
    // and done once the reply is written. A submit that failed gives it
    // back, and one that died is taken over after FORM_TAKEOVER, so sending
    // the same form again after an error posts the reply, once.
    let once = form.get("once").filter(|o| {
        (16..=64).contains(&o.len())
            && o.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    });
    let once_key = once.map(|once| keys::share_form_once(ws, &share.id, once));
    let mut lease = match &once_key {
        Some(key) => {
            let holder = domain::ids::encode_random(&env.random16());
            match domain::record::acquire_after_claim(env.kv, key, &holder, env.now, FORM_TAKEOVER)?
            {
                Claim::Held(lease) => Some(lease),
                // Posted already, or being posted by the first submit.
                Claim::Done | Claim::Busy => return Ok(redirect(link)),
            }
        }
        None => None,
    };
    // A reply that is not posted gives its form back (sending it again may
    // post); a refused one leaves nothing behind, not its files either
    // (`attachments::settle`).
    let mut release = |kv: &dyn domain::store::Kv| {
        if let Some(l) = lease.take() {
            domain::record::release(kv, l);
        }
    };
    let body = form.get("body").unwrap_or("").to_string();
    let author = Author {
        id: Some(share.id.to_string()),
        name: share.email.clone(),
        kind: AuthorKind::Collaborator,
        signed: true,
    };
    let posted = crate::files::post_with_files(
        env,
        (ws, share.id.as_str(), ""),
        share.ticket,
        crate::files::NewPost {
            author: &author,
            visibility: Visibility::External,
            body: &body,
            files: &form.files,
            extras: Extras {
                share: Some(share.id.to_string()),
                ..Extras::default()
            },
        },
    );
    // Not posted: a refusal wrote nothing (its files are given back), and a
    // store failure's message is not there as far as a read could tell (a
    // lost answer to its write is settled by that read; its files stay, in
    // case the message that names them landed unseen).
    if let Err(e) = posted {
        // The form is given back either way.
        release(env.kv);
        return match e {
            Error::BadRequest { .. } => {
                thread_page(env, link, ws, share, &e.message(), crate::http::status(&e))
            }
            e => Err(e),
        };
    }
    // The reply is written: the form is done (best effort: one left held
    // redirects until FORM_TAKEOVER), and the share page's ETag follows it.
    if let Some(l) = lease.take() {
        let _ = domain::record::finish(env.kv, l);
    }
    let mut r = redirect(link);
    let counted = shares::note_posted(env.kv, ws, &share.id);
    after_commit(&mut r.internal, "counting the note on its share", counted);
    let audited = record(env, ws, share, Event::ShareReplied);
    after_commit(&mut r.internal, "the audit entry", audited);
    Ok(r)
}

/// `GET /s/<link>/files/<seq>/<id>`: a file of a message this collaborator
/// may see, with a live session only.
pub(crate) fn download(
    env: &Env,
    req: &Request,
    ws: &WorkspaceId,
    share: &Share,
    rest: &str,
) -> Result<Response> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") || !has_session(env, req, ws, share)? {
        return Err(Error::NotFound);
    }
    let ["files", seq, id] = rest.split('/').collect::<Vec<_>>()[..] else {
        return Err(Error::NotFound);
    };
    let reader = collaborator(share);
    crate::files::file_response(env, ws, share.ticket, seq, id, &reader)
}
