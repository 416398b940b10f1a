//! The server-rendered pages behind links (no script, a strict CSP:
//! [`LINK_PAGE_CSP`]): a delegate's invitation, a participant's ticket page,
//! a collaborator's share page (its email check and its thread), the pages
//! every dead link shows, their common frame, and the one thread renderer
//! the participant and share pages share. Every HTML page the API answers
//! with is built here; handlers pick a page and pass it their values.
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
use domain::ids::{TicketNo, WorkspaceId};
use domain::model::{AuthorKind, Delegate, Message, Participant, Reader, Ticket, Visibility};
use domain::shares::{self, Share};
use domain::thread::{self, Order};
use domain::time::{Millis, rfc3339};
use domain::workspace::{self, Workspace};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The Content-Security-Policy of pages behind links: our own origin only.
pub const LINK_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

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

/// A page behind a share link in the workspace's branding: its logo (when
/// uploaded: same origin, so the strict CSP holds), company name and colour.
fn branded_html(env: &Env, w: &Workspace, title: &str, body: Markup) -> Result<Markup> {
    let name = if w.settings.branding.company_name.is_empty() {
        &w.name
    } else {
        &w.settings.branding.company_name
    };
    let logo = workspace::logo(env.kv, &w.id)?.is_some();
    let brand = html! {
        @if logo {
            img class="brand-logo" src={ "/api/v1/workspaces/" (w.id) "/logo" } alt="";
        }
        (name)
    };
    Ok(layout(title, name, Some(&w.id), brand, body))
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

/// The page behind a participant's personal link: ticket `t`'s public
/// thread and, when `p` may reply, a reply form with `refused` (why the
/// reply just posted was refused, if it was) above its button.
pub(crate) fn participant_page(
    ctx: &Ctx,
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
        page: LinkPage::Participant,
    };
    let messages = whole_thread(ctx, t.no, &view)?;
    let status = refused.map_or(200, crate::http::status);
    let refusal = refused.map(Error::message).unwrap_or_default();
    let body = html! {
        h1 { (t.no) " " (t.subject) }
        p class="meta" { "You take part in this ticket as " (p.name) " (" (p.email) ")." }
        div class="thread" {
            @for m in &messages { (m) }
        }
        @if p.can_reply {
            form method="post" class="reply" {
                label for="body" { "Your reply" }
                textarea id="body" name="body" rows="5" required {}
                (notice_html(&refusal, status))
                button type="submit" class="primary" { "Send reply" }
            }
        } @else {
            p class="muted" { "You can read this ticket; replies are not enabled for you." }
        }
    };
    Ok(link_page(status, page_html(&t.subject, body)))
}

/// Which page behind a link shows a thread: what differs between them.
#[derive(Clone, Copy)]
enum LinkPage<'a> {
    /// A participant's page (`/p/<link>`): times as RFC 3339, collaborators
    /// named as such, files not listed.
    Participant,
    /// A collaborator's share page (`/s/<link>`): readable times, the
    /// collaborator's own notes marked as theirs, files downloadable under
    /// the link.
    Share {
        /// The share link the files are downloaded under.
        link: &'a str,
    },
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
            article class={ "msg msg-" (visibility) " msg-by-" (kind) } {
                header class="msg-head" {
                    span class="msg-author" { (m.display_name(self.reader, self.team)) }
                    span class={ "badge kind-" (kind) } { (self.kind_label(m.author_kind)) }
                    @if m.visibility == Visibility::External {
                        span class="badge vis-external" { "Your note: staff only" }
                    }
                    @match self.page {
                        LinkPage::Participant => time { (at) },
                        LinkPage::Share { .. } => time datetime=(at) { (readable_rfc3339(&at)) },
                    }
                }
                div class="msg-body" {
                    // Markdown rendered and sanitised by the domain
                    // (`domain::render`, kept with the message): the one
                    // HTML a thread shows as it is.
                    (PreEscaped(m.body_html()))
                }
                @if let LinkPage::Share { link } = self.page {
                    @if !m.attachments.is_empty() {
                        ul class="files" {
                            @for a in &m.attachments {
                                li {
                                    a href={ "/s/" (link) "/files/" (m.seq.0) "/" (a.id) } { (a.name) }
                                    " "
                                    span class="muted" { (human_size(a.size)) }
                                }
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
            (AuthorKind::Collaborator, LinkPage::Participant) => "Collaborator",
            (AuthorKind::Collaborator, LinkPage::Share { .. }) => "You",
            (AuthorKind::System, _) => "System",
        }
    }
}

/// Every message of a thread `view`'s reader may see, oldest first, each
/// rendered by `view` (stops short of the 1 MiB page).
fn whole_thread(ctx: &Ctx, no: TicketNo, view: &ThreadView) -> Result<Vec<Markup>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut cursor = None;
    let t = thread::ticket(ctx.kv, ctx.ws, no)?;
    loop {
        let page = thread::page(
            ctx,
            &t,
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
            Some(c) if bytes < 900_000 && cursor.is_none_or(|given| c > given) => cursor = Some(c),
            _ => return Ok(out),
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
    Ok(link_page(
        status,
        branded_html(env, &w, "Confirm your email", body)?,
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
}

/// [`thread_page`] showing the messages before `asked.before` (a message
/// number); `asked.ticket` is the share's ticket when the caller has just
/// read it; the page shows `asked.notice` and answers with its status.
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
    } = asked;
    let w = workspace::workspace(env.kv, ws)?;
    let t = match ticket {
        Some(t) => t,
        None => thread::ticket(env.kv, ws, share.ticket)?,
    };
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
    let details = if share.include_details {
        Some(details_html(env, ws, &t)?)
    } else {
        None
    };
    let once = share
        .can_reply
        .then(|| domain::token::base64url(&(env.random)()[..16]));
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
        @if let Some(details) = details { (details) }
        div class="thread" id="thread" {
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
                label for="files" {
                    "Attach files (up to " (attachments::MAX_FILES) " files, "
                    (attachments::MAX_FILE_BYTES / (1024 * 1024))
                    " MiB each: images, PDF, text, CSV, ZIP or Office)"
                }
                input id="files" name="files" type="file" multiple;
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
    Ok(link_page(
        status,
        branded_html(env, &w, &share.subject, body)?,
    ))
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

/// Customer and order details, for shares that include them.
fn details_html(env: &Env, ws: &WorkspaceId, t: &Ticket) -> Result<Markup> {
    let c = match workspace::user(env.kv, ws, &t.customer) {
        Ok(u) => Some(u),
        Err(Error::Store(e)) => return Err(Error::Store(e)),
        Err(_) => None,
    };
    let mut rows: Vec<(&str, String)> = Vec::new();
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
    Ok(html! {
        section class="share-details" id="details" aria-labelledby="details-title" {
            h2 id="details-title" { "Customer and order" }
            dl class="order" {
                @for (k, v) in &rows {
                    dt { (k) }
                    dd { (v) }
                }
            }
        }
    })
}
