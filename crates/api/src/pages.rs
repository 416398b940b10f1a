//! The server-rendered pages behind links (a strict CSP: [`LINK_PAGE_CSP`],
//! no inline script): a delegate's invitation, a participant's ticket page,
//! a collaborator's share page (its email check and its thread), the pages
//! every dead link shows, their common frame, and the one thread renderer
//! the participant and share pages share. Every HTML page the API answers
//! with is built here; handlers pick a page and pass it their values.
//!
//! The participant page and the share page's thread are *live*: they carry
//! a strong ETag made from what their reader sees ([`participant_etag`],
//! [`share_etag`]: the ticket's count of public posts, never its version
//! or last message number, which internal and external notes move too; the
//! link's own record; the team's name and branding; never the form's
//! per-render `once` value), answer a matching `If-None-Match` with 304
//! before reading the thread ([`not_modified`]), and load `/link-live.js`
//! (served by the `pages` component), which polls them with it and
//! replaces only the thread.
//!
//! Every page is a `maud` template: an interpolated value is escaped,
//! whatever it holds. The only HTML taken as it is comes from the domain's
//! Markdown renderer ([`domain::render`]), which sanitises what it writes
//! (each such use says so).

use crate::Env;
use crate::http::Response;
use crate::views::{collaborator, masked, team_name};
use domain::attachments;
use domain::ctx::Ctx;
use domain::error::{Error, Result};
use domain::ids::WorkspaceId;
use domain::model::{AuthorKind, Delegate, Message, Participant, Reader, Ticket, Visibility};
use domain::shares::{self, Share};
use domain::thread::{self, Order};
use domain::time::{Millis, rfc3339};
use domain::workspace::{self, Workspace};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The Content-Security-Policy of pages behind links: our own origin only;
/// scripts only from files of this origin (`/link-live.js`), fetching only
/// from it.
pub const LINK_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The script of the live pages, served by the `pages` component from
/// `static/`.
pub const LIVE_SCRIPT: &str = "/link-live.js";

/// What changes the markup of the live pages for the same data (bump it
/// with their templates), so their ETags change with a new release.
const LIVE_MARKUP_VERSION: &str = "live-1";

/// A strong ETag (`"<32 hex>"`) of a live page from `parts`, the values it
/// shows.
fn live_etag(parts: &[&[u8]]) -> String {
    let version = domain::render::VERSION.to_le_bytes();
    let mut all: Vec<&[u8]> = vec![b"link page", LIVE_MARKUP_VERSION.as_bytes(), &version];
    all.extend_from_slice(parts);
    crate::http::etag_of_bytes(&all)
}

/// The 304 of a live page: its headers (security ones included) and ETag,
/// no body.
pub(crate) fn not_modified_page(etag: &str) -> Response {
    let mut r = link_page(304, html! {});
    r.body.clear();
    r.headers.retain(|(k, _)| k != "content-type");
    r.with_header("etag", etag)
}

/// Headers of every page behind a link.
fn link_page(status: u16, html: Markup) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
            ("referrer-policy".into(), "no-referrer".into()),
            ("x-robots-tag".into(), "noindex, nofollow".into()),
            ("x-content-type-options".into(), "nosniff".into()),
            ("x-frame-options".into(), "DENY".into()),
            ("content-security-policy".into(), LINK_PAGE_CSP.into()),
        ],
        body: html.into_string().into_bytes(),
        internal: None,
        secret: false,
        after: Default::default(),
    }
}

/// The layout of every page: `<title>` is `title · site`, `brand_css` the
/// workspace whose brand stylesheet applies (if any), `brand` the bar's
/// content.
fn layout(
    title: &str,
    site: &str,
    brand_css: Option<&WorkspaceId>,
    brand: Markup,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " \u{b7} " (site) }
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/app.css";
                @if let Some(ws) = brand_css {
                    link rel="stylesheet" href={ "/api/v1/workspaces/" (ws) "/brand.css" };
                }
            }
            body {
                header class="bar" {
                    span class="brand" { (brand) }
                }
                main class="page" { (body) }
            }
        }
    }
}

/// A page in Ticketshare's own colours.
fn page_html(title: &str, body: Markup) -> Markup {
    layout(title, "Ticketshare", None, html! { "Ticketshare" }, body)
}

/// A page whose body is one paragraph, in Ticketshare's own colours.
pub(crate) fn message_page(status: u16, title: &str, paragraph: &str) -> Response {
    link_page(status, page_html(title, html! { p { (paragraph) } }))
}

/// The methods every page behind a link is served with.
pub(crate) const LINK_PAGE_METHODS: &str = "GET, HEAD, POST";

/// A page behind a link asked with a method it is not served with: the
/// status and `Allow` of [`Error::MethodNotAllowed`], as every API route
/// answers it, with a page saying what to use instead.
pub(crate) fn not_allowed_page(method: &str, hint: &str) -> Response {
    let e = Error::MethodNotAllowed {
        method: method.into(),
        allow: LINK_PAGE_METHODS.into(),
    };
    message_page(crate::http::status(&e), "Not allowed", hint)
        .with_header("allow", LINK_PAGE_METHODS)
}

/// The one page every unusable link shows (accepted, revoked, expired or
/// unknown alike): same status, same bytes.
pub fn dead_link_page() -> Response {
    link_page(
        404,
        page_html(
            "Link not available",
            html! {
                h1 { "This link is not available" }
                p { "It may have been used already, expired or been withdrawn. Ask the person who sent it for a new one." }
            },
        ),
    )
}

/// The one page every unusable share link shows (expired, cancelled,
/// locked or unknown alike): same status, same bytes.
pub fn neutral_share_page() -> Response {
    link_page(
        404,
        page_html(
            "Link no longer valid",
            html! {
                h1 { "This link is no longer valid" }
                p { "This link is no longer valid; ask the sender to share the ticket again." }
            },
        ),
    )
}

/// The name a share page's bar shows: the branding's company name, else
/// the workspace's.
fn brand_name(w: &Workspace) -> &str {
    if w.settings.branding.company_name.is_empty() {
        &w.name
    } else {
        &w.settings.branding.company_name
    }
}

/// A page behind a share link in the workspace's branding: its logo (when
/// uploaded, `logo`: same origin, so the strict CSP holds), company name and
/// colour.
fn branded_html(w: &Workspace, logo: bool, title: &str, body: Markup) -> Markup {
    let name = brand_name(w);
    let brand = html! {
        @if logo {
            img class="brand-logo" src={ "/api/v1/workspaces/" (w.id) "/logo" } alt="";
        }
        (name)
    };
    layout(title, name, Some(&w.id), brand, body)
}

/// Whether workspace `ws` has an uploaded logo: its metadata, one read
/// (read ahead with a share page's first batch). The metadata is written
/// after the bytes it names, and a replaced logo's bytes are removed only
/// after the new metadata, so metadata found names a logo the logo route
/// serves; the bytes are not read here.
fn has_logo(env: &Env, ws: &WorkspaceId) -> Result<bool> {
    Ok(workspace::logo_meta(env.kv, ws)?.is_some())
}

/// The page behind a delegate's invitation link (changes nothing).
pub(crate) fn invitation_page(d: &Delegate, t: &Ticket, team: &str) -> Response {
    let body = html! {
        h1 { "You are invited to a support ticket" }
        p {
            (d.invited_by) " invited you, " (d.name) ", to follow and reply to ticket "
            strong { (t.no) " " (t.subject) } " at " (team) "."
        }
        form method="post" {
            button type="submit" class="primary" { "Accept the invitation" }
        }
        p class="muted" {
            "Accepting opens this ticket for " (d.email)
            " on this device; your other tickets stay behind your usual sign-in."
        }
    };
    link_page(200, page_html("Invitation", body))
}

/// An accepted invitation whose browser holds no session for it: the
/// login link opens the ticket.
pub(crate) fn accepted_sign_in_page() -> Response {
    let body = html! {
        p { "Accepted. " a href="/login" { "Sign in" } " with your email to open the ticket." }
    };
    link_page(200, page_html("Accepted", body))
}

/// The ETag of a participant's page (`/p/<link>`) as it is when it shows
/// every public message of ticket `t`: the ticket's number, subject and
/// count of public posts, the participant as the page names them (and
/// whether they may reply), and the team name unsigned replies carry.
/// Internal and external notes leave it as it is.
pub(crate) fn participant_etag(w: &Workspace, t: &Ticket, p: &Participant) -> String {
    live_etag(&[
        b"p",
        w.id.as_str().as_bytes(),
        &t.no.0.to_le_bytes(),
        t.subject.as_bytes(),
        &t.public_posts.to_le_bytes(),
        p.id.as_bytes(),
        p.name.as_bytes(),
        p.email.as_bytes(),
        &[u8::from(p.can_reply)],
        team_name(w).as_bytes(),
    ])
}

/// The page behind a participant's personal link `link`: ticket `t`'s
/// public thread (files downloadable under the link) and, when `p` may
/// reply, a reply form (text and files) with `refused` (why the reply just
/// posted was refused, if it was) above its button. Live: its ETag is
/// [`participant_etag`], or, while a message is still being written (the
/// thread stops before it), one no request matches, so the next poll
/// renders it again.
pub(crate) fn participant_page(
    ctx: &Ctx,
    link: &str,
    w: &Workspace,
    t: &Ticket,
    p: &Participant,
    refused: Option<&Error>,
) -> Result<Response> {
    let reader = Reader::CustomerSide;
    let team = team_name(w);
    let view = ThreadView {
        reader: &reader,
        team: &team,
        page: LinkPage::Participant { link },
    };
    let (messages, cut) = whole_thread(ctx, t, &view)?;
    let complete = cut || messages.len() as u64 >= t.public_posts;
    let etag = if complete {
        participant_etag(w, t, p)
    } else {
        live_etag(&[b"partial", &(messages.len() as u64).to_le_bytes()])
    };
    let status = refused.map_or(200, crate::http::status);
    let refusal = refused.map(Error::message).unwrap_or_default();
    let body = html! {
        h1 { (t.no) " " (t.subject) }
        p class="meta" { "You take part in this ticket as " (p.name) " (" (p.email) ")." }
        (live_thread(&etag, html! { @for m in &messages { (m) } }))
        @if p.can_reply {
            form method="post" enctype="multipart/form-data" class="reply" {
                label for="body" { "Your reply" }
                textarea id="body" name="body" rows="5" required {}
                (files_input())
                (notice_html(&refusal, status))
                button type="submit" class="primary" id="send-reply" { "Send reply" }
            }
        } @else {
            p class="muted" { "You can read this ticket; replies are not enabled for you." }
        }
    };
    Ok(link_page(status, page_html(&t.subject, body)).with_header("etag", &etag))
}

/// The thread of a live page (`div#thread`, holding `inner`) with its ETag
/// for the page's script ([`LIVE_SCRIPT`]), the region that announces new
/// messages, what readers without scripts are told (to reload: the page
/// never reloads by itself, which would lose a half-written reply), and the
/// script.
fn live_thread(etag: &str, inner: Markup) -> Markup {
    html! {
        div class="thread" id="thread" data-live="" data-etag=(etag) { (inner) }
        p id="live-status" class="sr-only" role="status" aria-live="polite" {}
        noscript {
            p class="muted" id="reload-hint" { "Reload the page to see new replies." }
        }
        script src=(LIVE_SCRIPT) defer {}
    }
}

/// The file input of a reply form, with its limits.
fn files_input() -> Markup {
    html! {
        label for="files" {
            "Attach files (up to " (attachments::MAX_FILES) " files, "
            (attachments::MAX_FILE_BYTES / (1024 * 1024))
            " MiB each: images, PDF, text, CSV, ZIP or Office)"
        }
        input id="files" name=(crate::files::FILES_FIELD) type="file" multiple;
    }
}

/// Which page behind a link shows a thread: what differs between them.
#[derive(Clone, Copy)]
enum LinkPage<'a> {
    /// A participant's page (`/p/<link>`): times as RFC 3339, collaborators
    /// named as such.
    Participant {
        /// The participant's link the files are downloaded under.
        link: &'a str,
    },
    /// A collaborator's share page (`/s/<link>`): readable times, the
    /// collaborator's own notes marked as theirs.
    Share {
        /// The share link the files are downloaded under.
        link: &'a str,
    },
}

impl LinkPage<'_> {
    /// Where file `id` of message `seq` downloads from on this page.
    fn file_href(&self, seq: u64, id: &str) -> String {
        match self {
            LinkPage::Participant { link } => format!("/p/{link}/files/{seq}/{id}"),
            LinkPage::Share { link } => format!("/s/{link}/files/{seq}/{id}"),
        }
    }
}

/// The one thread renderer of the pages behind links: each message as its
/// `reader` may see it on `page`, unsigned staff replies signed `team`.
struct ThreadView<'a> {
    /// Who reads the page.
    reader: &'a Reader,
    /// The name unsigned staff replies are shown under.
    team: &'a str,
    /// The page the thread is on.
    page: LinkPage<'a>,
}

impl ThreadView<'_> {
    /// One message.
    fn message(&self, m: &Message) -> Markup {
        let kind = m.author_kind.as_str();
        let visibility = if m.visibility == Visibility::Public {
            "public"
        } else {
            "external"
        };
        let at = rfc3339(m.created_at);
        html! {
            article class={ "msg msg-" (visibility) " msg-by-" (kind) } data-seq=(m.seq.0) {
                header class="msg-head" {
                    span class="msg-author" { (m.display_name(self.reader, self.team)) }
                    span class={ "badge kind-" (kind) } { (self.kind_label(m.author_kind)) }
                    @if m.visibility == Visibility::External {
                        span class="badge vis-external" { "Your note: staff only" }
                    }
                    @match self.page {
                        LinkPage::Participant { .. } => time { (at) },
                        LinkPage::Share { .. } => time datetime=(at) { (readable_rfc3339(&at)) },
                    }
                }
                div class="msg-body" {
                    // Markdown rendered and sanitised by the domain
                    // (`domain::render`, kept with the message): the one
                    // HTML a thread shows as it is.
                    (PreEscaped(m.body_html()))
                }
                @if !m.attachments.is_empty() {
                    ul class="files" {
                        @for a in &m.attachments {
                            li {
                                a href=(self.page.file_href(m.seq.0, a.id.as_str())) { (a.name) }
                                " "
                                span class="muted" { (human_size(a.size)) }
                            }
                        }
                    }
                }
            }
        }
    }

    fn kind_label(&self, k: AuthorKind) -> &'static str {
        match (k, self.page) {
            (AuthorKind::Staff, _) => "Staff",
            (AuthorKind::Customer, _) => "Customer",
            (AuthorKind::Delegate, _) => "Delegate",
            (AuthorKind::Participant, _) => "Participant",
            (AuthorKind::Collaborator, LinkPage::Participant { .. }) => "Collaborator",
            (AuthorKind::Collaborator, LinkPage::Share { .. }) => "You",
            (AuthorKind::System, _) => "System",
        }
    }
}

/// Every message of ticket `t`'s thread `view`'s reader may see, oldest first, each
/// rendered by `view`, and whether they were cut short of the 1 MiB page
/// (the rest is not shown).
fn whole_thread(ctx: &Ctx, t: &Ticket, view: &ThreadView) -> Result<(Vec<Markup>, bool)> {
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut cursor = None;
    loop {
        let page = thread::page(
            ctx,
            t,
            view.reader,
            Order::OldestFirst,
            cursor,
            thread::MAX_PAGE,
        )?;
        for m in &page.messages {
            let html = view.message(m);
            bytes += html.0.len();
            out.push(html);
        }
        match page.next {
            // Only forward: a cursor that does not advance past the one
            // given would repeat this page forever (the thread guarantees
            // it never does; this loop does not rely on it).
            Some(c) if cursor.is_none_or(|given| c > given) => {
                if bytes >= 900_000 {
                    return Ok((out, true));
                }
                cursor = Some(c);
            }
            _ => return Ok((out, false)),
        }
    }
}

/// `2026-12-04 22:08 UTC`: a readable, unambiguous time for the pages.
fn readable(ms: Millis) -> String {
    readable_rfc3339(&rfc3339(ms))
}

/// [`readable`] of a time already in RFC 3339 (`2026-12-04T22:08:…`).
fn readable_rfc3339(rfc3339: &str) -> String {
    format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
}

/// The email check: send a code, enter it (or continue, for a re-share to
/// an address that verified before).
pub(crate) fn verify_page(
    env: &mut Env,
    ws: &WorkspaceId,
    share: &Share,
    notice: &str,
    status: u16,
) -> Result<Response> {
    let w = workspace::workspace(env.kv, ws)?;
    let t = thread::ticket(env.kv, ws, share.ticket)?;
    // The same form sent twice (a double click) is one browser: a repeat of
    // its right code is harmless.
    let once = (!shares::may_enter_without_code(share, env.now))
        .then(|| domain::token::base64url(&(env.random)()[..16]));
    let body = html! {
        h1 { "Confirm your email to open this ticket" }
        p {
            (share.created_by_name) " at " (team_name(&w)) " shared ticket " (t.no)
            " with " (masked(&share.email)) ": \u{201c}" (share.subject)
            "\u{201d}. To keep it private, we check that you can read mail sent to that address."
        }
        (notice_html(notice, status))
        @if let Some(once) = once {
            form method="post" class="inline-form" {
                input type="hidden" name="action" value="send_code";
                button type="submit" class="secondary" id="send-code" { "Email me a code" }
            }
            form method="post" class="reply" {
                input type="hidden" name="action" value="verify";
                input type="hidden" name="once" value=(once);
                label for="code" { "6-digit code" }
                input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6"
                    autocomplete="one-time-code" required;
                button type="submit" class="primary" id="verify" { "Verify" }
            }
        } @else {
            p { "You confirmed this address before, so no code is needed." }
            form method="post" {
                input type="hidden" name="action" value="continue";
                button type="submit" class="primary" id="continue" { "Continue to the ticket" }
            }
        }
        p class="muted" { "This link is personal and works until " (readable(share.expires_at)) "." }
    };
    let logo = has_logo(env, ws)?;
    Ok(link_page(
        status,
        branded_html(&w, logo, "Confirm your email", body),
    ))
}

/// What a page says about the last request: a notice for a success
/// (`status` below 300), an alert otherwise; nothing when `notice` is empty.
fn notice_html(notice: &str, status: u16) -> Markup {
    html! {
        @if notice.is_empty() {
        } @else if status < 300 {
            p class="notice" role="status" { (notice) }
        } @else {
            p class="error" role="alert" { (notice) }
        }
    }
}

/// The thread as the collaborator sees it: the agent's note, customer and
/// order details only when included, the public thread and this share's own
/// external notes (never internal notes or other collaborators' notes).
pub(crate) fn thread_page(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    share: &Share,
    notice: &str,
    status: u16,
) -> Result<Response> {
    let asked = PageRequest {
        notice,
        status,
        before: None,
        ticket: None,
        if_none_match: None,
    };
    thread_page_before(env, link, ws, share, asked)
}

/// Messages a share page shows at once (newest; earlier ones a link away),
/// so a long thread costs the same as a short one.
pub(crate) const PAGE_MESSAGES: usize = 20;

/// What a share's thread page is asked for (see [`thread_page_before`]).
pub(crate) struct PageRequest<'a> {
    /// Shown above the thread (nothing when empty).
    pub(crate) notice: &'a str,
    /// The answer's status (a notice below 300, an alert otherwise).
    pub(crate) status: u16,
    /// Show the messages before this message number (the newest when `None`).
    pub(crate) before: Option<u64>,
    /// The share's ticket, when the caller has just read it.
    pub(crate) ticket: Option<Ticket>,
    /// The request's `If-None-Match`: a match answers 304 before the
    /// thread is read.
    pub(crate) if_none_match: Option<&'a str>,
}

/// The ETag of a share's thread page: the share as the page shows it (its
/// subject, note, address, sharer, end, what it allows, and the count of
/// the collaborator's own notes), the ticket's number and count of public
/// posts, the workspace's name, team name and logo, the customer and order
/// details when included (`details`), and which messages (`before`).
/// Internal notes, other collaborators' notes and the form's per-render
/// `once` value leave it as it is.
fn share_etag(
    w: &Workspace,
    logo: bool,
    share: &Share,
    t: &Ticket,
    details: &[(&str, String)],
    before: Option<u64>,
) -> String {
    let mut parts: Vec<&[u8]> = Vec::new();
    let numbers = [
        share.expires_at.to_le_bytes(),
        share.notes.to_le_bytes(),
        t.no.0.to_le_bytes(),
        t.public_posts.to_le_bytes(),
        before.map_or(0, |b| b.wrapping_add(1)).to_le_bytes(),
    ];
    let flags = [
        u8::from(share.include_details),
        u8::from(share.can_reply),
        u8::from(logo),
    ];
    let team = team_name(w);
    parts.extend([
        &b"s"[..],
        w.id.as_str().as_bytes(),
        share.id.as_str().as_bytes(),
        share.subject.as_bytes(),
        share.note.as_bytes(),
        share.email.as_bytes(),
        share.created_by_name.as_bytes(),
        brand_name(w).as_bytes(),
        team.as_bytes(),
        &flags,
    ]);
    for n in &numbers {
        parts.push(n);
    }
    for (k, v) in details {
        parts.push(k.as_bytes());
        parts.push(v.as_bytes());
    }
    live_etag(&parts)
}

/// [`thread_page`] showing the messages before `asked.before` (a message
/// number; the newest, live, when `None`); `asked.ticket` is the share's
/// ticket when the caller has just read it; the page shows `asked.notice`
/// and answers with its status, or 304 when `asked.if_none_match` names
/// its ETag ([`share_etag`]).
pub(crate) fn thread_page_before(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    share: &Share,
    asked: PageRequest,
) -> Result<Response> {
    let PageRequest {
        notice,
        status,
        before,
        ticket,
        if_none_match,
    } = asked;
    let w = workspace::workspace(env.kv, ws)?;
    let t = match ticket {
        Some(t) => t,
        None => thread::ticket(env.kv, ws, share.ticket)?,
    };
    let logo = has_logo(env, ws)?;
    let details = if share.include_details {
        Some(details_rows(env, ws, &t)?)
    } else {
        None
    };
    let etag = share_etag(
        &w,
        logo,
        share,
        &t,
        details.as_deref().unwrap_or(&[]),
        before,
    );
    if crate::http::names_tag(if_none_match, &etag) {
        return Ok(not_modified_page(&etag));
    }
    let reader = collaborator(share);
    let team = team_name(&w);
    let ctx = env.ctx(ws, share.id.as_str(), "");
    let page = thread::page(
        &ctx,
        &t,
        &reader,
        thread::Order::NewestFirst,
        before,
        PAGE_MESSAGES,
    )?;
    let view = ThreadView {
        reader: &reader,
        team: &team,
        page: LinkPage::Share { link },
    };
    let once = share
        .can_reply
        .then(|| domain::token::base64url(&(env.random)()[..16]));
    let messages = html! {
        @if let Some(n) = page.next {
            p class="older" {
                a id="older" href={ "/s/" (link) "?before=" (n) } { "Show earlier messages" }
            }
        }
        @for m in page.messages.iter().rev() { (view.message(m)) }
        @if before.is_some() {
            p class="older" {
                a href={ "/s/" (link) } { "Back to the latest messages" }
            }
        }
    };
    let body = html! {
        h1 { (share.subject) }
        p class="meta" {
            "Ticket " (t.no) " \u{b7} shared with you (" (share.email) ") by "
            (share.created_by_name) " of " (team) " \u{b7} this link works until "
            (readable(share.expires_at))
        }
        @if !share.note.is_empty() {
            section class="share-note" aria-labelledby="note-title" {
                h2 id="note-title" { "Note from " (share.created_by_name) }
                // Markdown rendered and sanitised by the domain
                // (`domain::render`), as a message's body is.
                (PreEscaped(domain::render::markdown(&share.note)))
            }
        }
        @if let Some(rows) = &details { (details_html(rows)) }
        @if before.is_none() {
            (live_thread(&etag, messages))
        } @else {
            div class="thread" id="thread" { (messages) }
        }
        @if let Some(once) = once {
            form method="post" enctype="multipart/form-data" class="reply" {
                input type="hidden" name="action" value="reply";
                input type="hidden" name="once" value=(once);
                label for="body" { "Your reply to the team" }
                textarea id="body" name="body" rows="5" required {}
                p class="muted" {
                    "Markdown works: **bold**, *italic*, lists and links. Your reply goes to "
                    "the support team only; the customer does not see it."
                }
                (files_input())
                (notice_html(notice, status))
                button type="submit" class="primary" id="send-note" { "Send to the team" }
            }
        } @else {
            (notice_html(notice, status))
            p class="muted" id="view-only" {
                "You can read this ticket; replies are not enabled for this share."
            }
        }
    };
    Ok(link_page(status, branded_html(&w, logo, &share.subject, body)).with_header("etag", &etag))
}

/// `1.5 MiB`, `12 KiB`, `300 bytes`.
fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.0} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// Customer and order details of ticket `t`, for shares that include
/// them: (label, value) rows.
fn details_rows<'t>(env: &Env, ws: &WorkspaceId, t: &'t Ticket) -> Result<Vec<(&'t str, String)>> {
    let c = match workspace::user(env.kv, ws, &t.customer) {
        Ok(u) => Some(u),
        Err(Error::Store(e)) => return Err(Error::Store(e)),
        Err(_) => None,
    };
    let mut rows: Vec<(&'t str, String)> = Vec::new();
    if let Some(c) = &c {
        rows.push(("Customer", c.name.clone()));
        rows.push(("Email", c.email.clone()));
        if let Some(co) = &c.company {
            rows.push(("Company", co.clone()));
        }
    }
    if let Some(o) = &t.order {
        rows.push(("Order", o.number.clone()));
        for i in &o.items {
            let line = match &i.amount {
                Some(a) => format!("{} \u{d7} {} ({a})", i.quantity, i.name),
                None => format!("{} \u{d7} {}", i.quantity, i.name),
            };
            rows.push(("Item", line));
        }
        if let Some(total) = &o.total {
            rows.push(("Total", total.clone()));
        }
        if !o.shipping_address.is_empty() {
            rows.push(("Ship to", o.shipping_address.join(", ")));
        }
        for (k, v) in &o.fields {
            rows.push((k, v.clone()));
        }
    }
    Ok(rows)
}

/// The customer and order details section of a share page.
fn details_html(rows: &[(&str, String)]) -> Markup {
    html! {
        section class="share-details" id="details" aria-labelledby="details-title" {
            h2 id="details-title" { "Customer and order" }
            dl class="order" {
                @for (k, v) in rows {
                    dt { (k) }
                    dd { (v) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_the_tag_or_nothing() {
        let tag = live_etag(&[b"x"]);
        let other = live_etag(&[b"y"]);
        let weak = format!("W/{tag}");
        let listed = format!("{other}, {tag}");
        let upper = tag.to_ascii_uppercase();
        let unquoted = tag.trim_matches('"').to_string();
        let flood = format!("{}{tag}", format!("{other},").repeat(5_000));
        let doubled = format!("{tag}{tag}");
        let stacked = format!("W/W/{tag}");
        for (value, matches) in [
            (None, false),
            (Some(tag.as_str()), true),
            (Some(weak.as_str()), true),
            (Some(listed.as_str()), true),
            (Some("*"), true),
            (Some(" * "), true),
            // Past the longest value looked at: the full page, never an error.
            (Some(flood.as_str()), false),
            (Some(""), false),
            (Some(",,, ,"), false),
            (Some("W/"), false),
            (Some("\""), false),
            (Some(other.as_str()), false),
            (Some(upper.as_str()), false),
            (Some(unquoted.as_str()), false),
            (Some(doubled.as_str()), false),
            (Some(stacked.as_str()), false),
            (Some("\u{0}\u{7f}\u{ffff}"), false),
        ] {
            assert_eq!(crate::http::names_tag(value, &tag), matches, "{value:?}");
        }
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
    }

    #[test]
    fn a_not_modified_answer_has_the_tag_and_the_page_headers_but_no_body() {
        let r = not_modified_page("\"t\"");
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        let h = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("etag"), Some("\"t\""));
        assert_eq!(h("cache-control"), Some("no-store"));
        assert_eq!(h("content-security-policy"), Some(LINK_PAGE_CSP));
        assert_eq!(h("content-type"), None);
    }
}
