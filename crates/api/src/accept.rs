//! The `accept` component: the pages behind invitation links (`/i/<link>`:
//! show, accept) and participants' personal pages (`/p/<link>`: the public
//! thread and a reply form).

use crate::Env;
use crate::actor::{cookie, session_cookie};
use crate::http::{Request, Response, form_field};
use crate::mail::copy_participants;
use crate::pages::{dead_link_page, link_page, page_html, whole_thread_html};
use crate::serve::{after_commit, with_after};
use crate::views::team_name;
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::{TicketNo, WorkspaceId};
use domain::model::{AuthorKind, Reader, Visibility};
use domain::thread::{self, Author};
use domain::time::rfc3339;
use domain::workspace;
use domain::{auth, keys};

/// Record that `holder` (a delegate's user id or a participant's id) opened
/// their link to ticket `no`, at most once a minute per holder and ticket
/// (as share pages do), so crawlers and link scanners cannot grow the ledger
/// without bound; the throttle itself is one key per holder and ticket for
/// the link's whole life (the minute last recorded, advanced by
/// compare-and-swap). Best effort: a failed record never fails the page (it
/// is noted in `internal`, for the log), and an uncertain swap records
/// nothing.
pub(crate) fn note_link_opened(
    env: &Env,
    internal: &mut Option<String>,
    ws: &WorkspaceId,
    no: TicketNo,
    holder: &str,
    event: Event,
) {
    let minute = env.now.div_euclid(60_000);
    let key = keys::link_opened(ws, no, holder);
    if domain::record::advance_minute(env.kv, &key, minute).unwrap_or(false) {
        let audited = domain::audit::record(&env.ctx(ws, holder, ""), event, holder, Some(no));
        after_commit(internal, "the audit entry of the opened link", audited);
    }
}

/// The `accept` component: `GET /i/<link>` shows the invite (changes
/// nothing); `POST /i/<link>` accepts it, starts a session that reaches that
/// one ticket only (read its public thread, reply), and sends them to it.
/// `/p/<link>` is a participant's personal ticket page (public thread and
/// reply form).
pub fn handle_accept(env: &mut Env, req: &Request) -> Response {
    let resp = accept(env, req).unwrap_or_else(|e| match e {
        Error::Store(_) => Response::error(&e),
        _ => dead_link_page(),
    });
    with_after(env, resp)
}

pub(crate) fn accept(env: &mut Env, req: &Request) -> Result<Response> {
    if let Some(link) = req.path.strip_prefix("/p/").filter(|l| !l.contains('/')) {
        return match req.method.as_str() {
            "GET" | "HEAD" | "POST" => participant_page(env, req, link),
            _ => Ok(link_page(
                405,
                page_html("Not allowed", "<p>Use the form on the page.</p>"),
            )),
        };
    }
    let link = req
        .path
        .strip_prefix("/i/")
        .filter(|l| !l.contains('/'))
        .ok_or(Error::NotFound)?;
    match req.method.as_str() {
        "GET" | "HEAD" => {
            let (ws, no, d) = domain::delegates::peek(env.kv, link, env.now)?;
            // Opening a link is recorded (never the link itself), nothing else changes.
            let mut internal = None;
            note_link_opened(
                env,
                &mut internal,
                &ws,
                no,
                d.user.as_str(),
                Event::DelegateLinkOpened,
            );
            let t = thread::ticket(env.kv, &ws, no)?;
            let w = workspace::workspace(env.kv, &ws)?;
            let esc = domain::outbox::escape;
            let body = format!(
                "<h1>You are invited to a support ticket</h1><p>{} invited you, {}, to follow and reply to ticket <strong>{} {}</strong> at {}.</p><form method=\"post\"><button type=\"submit\" class=\"primary\">Accept the invitation</button></form><p class=\"muted\">Accepting opens this ticket for {} on this device; your other tickets stay behind your usual sign-in.</p>",
                esc(&d.invited_by),
                esc(&d.name),
                esc(&t.no.to_string()),
                esc(&t.subject),
                esc(&team_name(&w)),
                esc(&d.email)
            );
            let mut resp = link_page(200, page_html("Invitation", &body));
            resp.internal = internal;
            Ok(resp)
        }
        "POST" => {
            let (ws, no, d) = domain::delegates::accept(env.kv, link, env.now)?;
            // The link reaches its one ticket: the session it starts is
            // limited to it (the whole account needs a login link). A
            // browser already signed in to that account keeps its session.
            let signed_in = cookie(req, auth::SESSION_COOKIE)
                .and_then(|c| auth::session_user(env.kv, &c, env.now).ok())
                .is_some_and(|s| s.ws == ws && s.user == d.user && s.ticket.is_none());
            // The link is used up: the invitation stands whatever fails
            // from here, and the answer says so (a retry would only meet a
            // dead link).
            let mut internal = None;
            let session = if signed_in {
                None
            } else {
                let r = (env.random)();
                let started = auth::create_ticket_session(env.kv, &ws, &d.user, no, env.now, r);
                after_commit(&mut internal, "starting the invitation's session", started)
            };
            let audited = domain::audit::record(
                &env.ctx(&ws, d.user.as_str(), ""),
                Event::DelegateAccepted,
                d.user.as_str(),
                Some(no),
            );
            after_commit(&mut internal, "the audit entry", audited);
            let mut resp = if signed_in || session.is_some() {
                let mut r = link_page(
                    303,
                    page_html("Accepted", "<p>Accepted. Opening the ticket…</p>"),
                );
                r.headers.push(("location".into(), format!("/my#{}", no.0)));
                r
            } else {
                link_page(
                    200,
                    page_html(
                        "Accepted",
                        "<p>Accepted. <a href=\"/login\">Sign in</a> with your email to open the ticket.</p>",
                    ),
                )
            };
            if let Some(session) = session {
                resp.headers.push((
                    "set-cookie".into(),
                    session_cookie(&session, auth::SESSION_LIFETIME / 1000),
                ));
            }
            resp.internal = internal;
            Ok(resp)
        }
        _ => Ok(link_page(
            405,
            page_html(
                "Not allowed",
                "<p>Use the button on the invitation page.</p>",
            ),
        )),
    }
}

/// The page behind a participant's personal link: that ticket's public
/// thread and a reply form, nothing else.
pub(crate) fn participant_page(env: &mut Env, req: &Request, link: &str) -> Result<Response> {
    let (ws, no, p) = domain::participants::resolve(env.kv, link)?;
    let w = workspace::workspace(env.kv, &ws)?;
    if !w.settings.participants_enabled {
        return Err(Error::NotFound);
    }
    let mut t = thread::ticket(env.kv, &ws, no)?;
    // A refused reply: shown above the form, and the page's status.
    let mut refused: Option<Error> = None;
    let mut internal = None;
    let ctx = env.ctx(&ws, &p.id, "");
    if req.method != "POST" {
        note_link_opened(
            env,
            &mut internal,
            &ws,
            no,
            &p.id,
            Event::ParticipantLinkOpened,
        );
    }
    if req.method == "POST" {
        if !p.can_reply {
            return Err(Error::NotFound);
        }
        let body = form_field(&req.body, "body").unwrap_or_default();
        let author = Author {
            id: Some(p.id.clone()),
            name: p.name.clone(),
            kind: AuthorKind::Participant,
            signed: true,
        };
        match thread::post(&ctx, no, &author, Visibility::Public, &body, None) {
            Ok((_, ticket)) => {
                t = ticket;
                let mut resp = link_page(303, page_html("Sent", "<p>Reply sent.</p>"));
                resp.headers.push(("location".into(), format!("/p/{link}")));
                let audited =
                    domain::audit::record(&ctx, Event::ParticipantReplied, &p.id, Some(no));
                after_commit(&mut resp.internal, "the audit entry", audited);
                let copied = copy_participants(env, &w, &t, &p.name, Some(&p.id));
                resp.after.mail = after_commit(&mut resp.internal, "copying participants", copied)
                    .unwrap_or_default();
                return Ok(resp);
            }
            Err(e @ Error::BadRequest { .. }) => refused = Some(e),
            Err(e) => return Err(e),
        }
    }
    let esc = domain::outbox::escape;
    let reader = Reader::CustomerSide;
    let team = team_name(&w);
    let thread_html = whole_thread_html(&ctx, no, &reader, |m| {
        format!(
            "<article class=\"msg msg-public msg-by-{kind}\"><header class=\"msg-head\"><span class=\"msg-author\">{name}</span><span class=\"badge kind-{kind}\">{label}</span><time>{at}</time></header><div class=\"msg-body\">{body}</div></article>",
            kind = m.author_kind.as_str(),
            name = esc(m.display_name(&reader, &team)),
            label = match m.author_kind {
                AuthorKind::Staff => "Staff",
                AuthorKind::Customer => "Customer",
                AuthorKind::Delegate => "Delegate",
                AuthorKind::Participant => "Participant",
                AuthorKind::Collaborator => "Collaborator",
                AuthorKind::System => "System",
            },
            at = esc(&rfc3339(m.created_at)),
            body = m.body_html(),
        )
    })?;
    let form = if p.can_reply {
        format!(
            "<form method=\"post\" class=\"reply\"><label for=\"body\">Your reply</label><textarea id=\"body\" name=\"body\" rows=\"5\" required></textarea>{}<button type=\"submit\" class=\"primary\">Send reply</button></form>",
            match &refused {
                None => String::new(),
                Some(e) => format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    esc(&e.message())
                ),
            }
        )
    } else {
        "<p class=\"muted\">You can read this ticket; replies are not enabled for you.</p>"
            .to_string()
    };
    let body = format!(
        "<h1>{} {}</h1><p class=\"meta\">You take part in this ticket as {} ({}).</p><div class=\"thread\">{thread_html}</div>{form}",
        esc(&t.no.to_string()),
        esc(&t.subject),
        esc(&p.name),
        esc(&p.email)
    );
    let status = refused.as_ref().map_or(200, crate::http::status);
    let mut resp = link_page(status, page_html(&t.subject, &body));
    resp.internal = internal;
    Ok(resp)
}
