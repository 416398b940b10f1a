//! The `accept` component: the pages behind invitation links (`/i/<link>`:
//! show, accept) and participants' personal pages (`/p/<link>`: the public
//! thread and a reply form).

use crate::Env;
use crate::actor::{cookie, session_cookie};
use crate::files::NewPost;
use crate::http::{Request, Response};
use crate::mail::copy_participants;
use crate::pages::{
    accepted_sign_in_page, dead_link_page, invitation_page, message_page, not_allowed_page,
};
use crate::serve::{ReadAhead, after_commit, with_after};
use crate::views::team_name;
use domain::error::{Error, Result};
use domain::events::Event;
use domain::ids::{TicketNo, WorkspaceId};
use domain::model::{AuthorKind, Participant, Reader, Ticket, Visibility};
use domain::thread::{self, Author, Extras};
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
    if let Some(rest) = req.path.strip_prefix("/p/") {
        return match (rest.split_once('/'), req.method.as_str()) {
            (None, "GET" | "HEAD" | "POST") => participant_page(env, req, rest),
            (None, other) => Ok(not_allowed_page(other, "Use the form on the page.")),
            (Some((link, file)), "GET" | "HEAD") => participant_file(env, link, file),
            (Some(_), _) => Err(Error::NotFound),
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
            let mut resp = invitation_page(&d, &t, &team_name(&w));
            resp.internal = internal;
            Ok(resp)
        }
        "POST" => {
            // What the acceptance reads, in two batch reads: the token's
            // record (and the workspace's webhook endpoints, for the audit
            // entry), then its ticket and delegate list. Each is answered
            // from there until written: the delegate list is checked, then
            // changed by compare-and-swap (a stale read only fails the
            // swap, whose retry reads the store).
            let ahead = match domain::delegates::link_token_key(link) {
                Some((ws, token)) => {
                    let first = [
                        token.clone(),
                        keys::webhook_endpoints(&ws),
                        domain::webhooks::due::Floor::key(),
                    ];
                    let ahead = ReadAhead::repeating(env.kv, &first, &first);
                    if let Ok(Some(rec)) = domain::record::read::<auth::TokenRecord>(&ahead, &token)
                    {
                        ahead.also(&domain::delegates::link_ticket_keys(&ws, &rec));
                    }
                    ahead
                }
                None => ReadAhead::new(env.kv, &[]),
            };
            let env = &mut env.through(&ahead);
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
                let mut r = message_page(303, "Accepted", "Accepted. Opening the ticket…");
                r.headers.push(("location".into(), format!("/my#{}", no.0)));
                r
            } else {
                accepted_sign_in_page()
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
        other => Ok(not_allowed_page(
            other,
            "Use the button on the invitation page.",
        )),
    }
}

/// The page behind a participant's personal link: that ticket's public
/// thread and a reply form (text and files), nothing else. GET and HEAD
/// answer 304 to an `If-None-Match` naming the page's ETag
/// ([`crate::pages::participant_etag`]: what the participant sees, never
/// what only staff see) before the thread is read; only a page sent whole
/// is recorded as the link opened, and only when it is not the page's own
/// poll (which sends the tag it holds).
pub(crate) fn participant_page(env: &mut Env, req: &Request, link: &str) -> Result<Response> {
    let (ws, t, p, w) = participant_link(env, link)?;
    if req.method == "POST" {
        return participant_reply(env, req, link, &w, &t, &p);
    }
    let etag = crate::pages::participant_etag(&w, &t, &p);
    if crate::http::if_none_match(req, &etag) {
        return Ok(crate::pages::not_modified_page(&etag));
    }
    let mut internal = None;
    // The page's own poll (it sends the tag it holds) is not an opening.
    if req.header("if-none-match").is_none() {
        note_link_opened(
            env,
            &mut internal,
            &ws,
            t.no,
            &p.id,
            Event::ParticipantLinkOpened,
        );
    }
    let ctx = env.ctx(&ws, &p.id, "");
    let mut resp = crate::pages::participant_page(&ctx, link, &w, &t, &p, None)?;
    resp.internal = internal;
    Ok(resp)
}

/// What a participant's link opens: its workspace, ticket, participant
/// and the workspace's record (participants on).
fn participant_link(
    env: &Env,
    link: &str,
) -> Result<(WorkspaceId, Ticket, Participant, workspace::Workspace)> {
    let (ws, t, p) = domain::participants::resolve(env.kv, link)?;
    let w = workspace::workspace(env.kv, &ws)?;
    if !w.settings.participants_enabled {
        return Err(Error::NotFound);
    }
    Ok((ws, t, p, w))
}

/// `POST /p/<link>`: the participant's reply (a public message, with files
/// when the form is multipart), then back to the page; a refused reply is
/// shown above the form, with its status.
fn participant_reply(
    env: &mut Env,
    req: &Request,
    link: &str,
    w: &workspace::Workspace,
    t: &Ticket,
    p: &Participant,
) -> Result<Response> {
    if !p.can_reply {
        return Err(Error::NotFound);
    }
    let author = Author {
        id: Some(p.id.clone()),
        name: p.name.clone(),
        kind: AuthorKind::Participant,
        signed: true,
    };
    let posted = crate::files::read_form(req).and_then(|form| {
        crate::files::post_with_files(
            env,
            (&w.id, &p.id, ""),
            t.no,
            NewPost {
                author: &author,
                visibility: Visibility::Public,
                body: form.get("body").unwrap_or_default(),
                files: &form.files,
                extras: Extras::default(),
            },
        )
    });
    let refused = match posted {
        Ok((msg, ticket)) => {
            let mut resp = message_page(303, "Sent", "Reply sent.");
            resp.headers.push(("location".into(), format!("/p/{link}")));
            let ctx = env.ctx(&w.id, &p.id, "");
            let audited = domain::audit::record(&ctx, Event::ParticipantReplied, &p.id, Some(t.no));
            after_commit(&mut resp.internal, "the audit entry", audited);
            let copied = copy_participants(env, w, &ticket, &msg, Some(&p.id));
            resp.after.mail = after_commit(&mut resp.internal, "copying participants", copied)
                .unwrap_or_default();
            return Ok(resp);
        }
        Err(
            e
            @ (Error::BadRequest { .. } | Error::PayloadTooLarge(_) | Error::UnsupportedMediaType),
        ) => e,
        Err(e) => return Err(e),
    };
    let ctx = env.ctx(&w.id, &p.id, "");
    crate::pages::participant_page(&ctx, link, w, t, p, Some(&refused))
}

/// `GET /p/<link>/files/<seq>/<id>`: a file of a public message of the
/// link's ticket (404 for anything else, as for a dead link).
fn participant_file(env: &mut Env, link: &str, file: &str) -> Result<Response> {
    let (ws, t, _, _) = participant_link(env, link)?;
    let ["files", seq, id] = file.split('/').collect::<Vec<_>>()[..] else {
        return Err(Error::NotFound);
    };
    crate::files::file_response(env, &ws, t.no, seq, id, &Reader::CustomerSide)
}
