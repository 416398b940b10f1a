//! The server-rendered pages behind links (no script, a strict CSP:
//! [`LINK_PAGE_CSP`]): their common frame, the dead-link page, and the thread
//! as the participant and share pages show it.

use crate::Env;
use crate::http::Response;
use crate::views::{collaborator, masked, team_name};
use domain::attachments;
use domain::ctx::Ctx;
use domain::error::{Error, Result};
use domain::ids::{TicketNo, WorkspaceId};
use domain::model::{AuthorKind, Message, Reader, Ticket, Visibility};
use domain::outbox::{escape, escape_into};
use domain::shares::{self, Share};
use domain::thread::{self, Order};
use domain::time::{Millis, rfc3339};
use domain::workspace::{self, Workspace};
use std::fmt::Write as _;

/// The Content-Security-Policy of pages behind links: our own origin only.
pub const LINK_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers of every page behind a link.
pub(crate) fn link_page(status: u16, html: String) -> Response {
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
        body: html.into_bytes(),
        internal: None,
        secret: false,
        after: Default::default(),
    }
}

pub(crate) fn page_html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>{} · Ticketshare</title><link rel=\"stylesheet\" href=\"/app.css\"></head><body><header class=\"bar\"><span class=\"brand\">Ticketshare</span></header><main class=\"page\">{body}</main></body></html>",
        domain::outbox::escape(title)
    )
}

/// The one page every unusable link shows (accepted, revoked, expired or
/// unknown alike): same status, same bytes.
pub fn dead_link_page() -> Response {
    link_page(
        404,
        page_html(
            "Link not available",
            "<h1>This link is not available</h1><p>It may have been used already, expired or been withdrawn. Ask the person who sent it for a new one.</p>",
        ),
    )
}

/// Every message of a thread `reader` may see, oldest first, each rendered
/// by `render`, for the pages behind links (stops short of the 1 MiB page).
pub(crate) fn whole_thread_html(
    ctx: &Ctx,
    no: TicketNo,
    reader: &Reader,
    render: impl Fn(&Message) -> String,
) -> Result<String> {
    let mut html = String::new();
    let mut cursor = None;
    let t = thread::ticket(ctx.kv, ctx.ws, no)?;
    loop {
        let page = thread::page(
            ctx,
            &t,
            reader,
            Order::OldestFirst,
            cursor,
            thread::MAX_PAGE,
        )?;
        for m in &page.messages {
            html.push_str(&render(m));
        }
        match page.next {
            // Only forward: a cursor that does not advance past the one
            // given would repeat this page forever (the thread guarantees
            // it never does; this loop does not rely on it).
            Some(c) if html.len() < 900_000 && cursor.is_none_or(|given| c > given) => {
                cursor = Some(c)
            }
            _ => return Ok(html),
        }
    }
}

/// The one page every unusable share link shows (expired, cancelled,
/// locked or unknown alike): same status, same bytes.
pub fn neutral_share_page() -> Response {
    link_page(
        404,
        page_html(
            "Link no longer valid",
            "<h1>This link is no longer valid</h1><p>This link is no longer valid; ask the sender to share the ticket again.</p>",
        ),
    )
}

/// A page behind a share link in the workspace's branding: its logo (when
/// uploaded: same origin, so the strict CSP holds), company name and colour.
pub(crate) fn branded_html(env: &Env, w: &Workspace, title: &str, body: &str) -> Result<String> {
    let name = if w.settings.branding.company_name.is_empty() {
        escape(&w.name)
    } else {
        escape(&w.settings.branding.company_name)
    };
    let logo = if workspace::logo(env.kv, &w.id)?.is_some() {
        format!(
            "<img class=\"brand-logo\" src=\"/api/v1/workspaces/{}/logo\" alt=\"\">",
            w.id
        )
    } else {
        String::new()
    };
    Ok(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>{} \u{b7} {name}</title><link rel=\"stylesheet\" href=\"/app.css\"><link rel=\"stylesheet\" href=\"/api/v1/workspaces/{}/brand.css\"></head><body><header class=\"bar\"><span class=\"brand\">{logo}{name}</span></header><main class=\"page\">{body}</main></body></html>",
        escape(title),
        w.id
    ))
}

/// `2026-12-04 22:08 UTC`: a readable, unambiguous time for the pages.
pub(crate) fn readable(ms: Millis) -> String {
    let mut out = String::with_capacity(20);
    push_readable(&mut out, &rfc3339(ms));
    out
}

/// Append [`readable`] of a time already in RFC 3339 (`2026-12-04T22:08:…`).
pub(crate) fn push_readable(out: &mut String, rfc3339: &str) {
    out.push_str(&rfc3339[..10]);
    out.push(' ');
    out.push_str(&rfc3339[11..16]);
    out.push_str(" UTC");
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
    let notice = notice_html(notice, status);
    let action = if shares::may_enter_without_code(share, env.now) {
        "<p>You confirmed this address before, so no code is needed.</p><form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"continue\"><button type=\"submit\" class=\"primary\" id=\"continue\">Continue to the ticket</button></form>".to_string()
    } else {
        format!(
            "<form method=\"post\" class=\"inline-form\"><input type=\"hidden\" name=\"action\" value=\"send_code\"><button type=\"submit\" class=\"secondary\" id=\"send-code\">Email me a code</button></form><form method=\"post\" class=\"reply\"><input type=\"hidden\" name=\"action\" value=\"verify\"><input type=\"hidden\" name=\"once\" value=\"{once}\"><label for=\"code\">6-digit code</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" autocomplete=\"one-time-code\" required><button type=\"submit\" class=\"primary\" id=\"verify\">Verify</button></form>",
            // The same form sent twice (a double click) is one browser: a
            // repeat of its right code is harmless.
            once = domain::token::base64url(&(env.random)()[..16]),
        )
    };
    let body = format!(
        "<h1>Confirm your email to open this ticket</h1><p>{by} at {team} shared ticket {no} with {email}: \u{201c}{subject}\u{201d}. To keep it private, we check that you can read mail sent to that address.</p>{notice}{action}<p class=\"muted\">This link is personal and works until {until}.</p>",
        by = escape(&share.created_by_name),
        team = escape(&team_name(&w)),
        no = escape(&t.no.to_string()),
        subject = escape(&share.subject),
        email = escape(&masked(&share.email)),
        until = escape(&readable(share.expires_at)),
    );
    Ok(link_page(
        status,
        branded_html(env, &w, "Confirm your email", &body)?,
    ))
}

pub(crate) fn notice_html(notice: &str, status: u16) -> String {
    if notice.is_empty() {
        String::new()
    } else if status < 300 {
        format!("<p class=\"notice\" role=\"status\">{}</p>", escape(notice))
    } else {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(notice))
    }
}

pub(crate) fn kind_label(k: AuthorKind) -> &'static str {
    match k {
        AuthorKind::Staff => "Staff",
        AuthorKind::Customer => "Customer",
        AuthorKind::Delegate => "Delegate",
        AuthorKind::Participant => "Participant",
        AuthorKind::Collaborator => "You",
        AuthorKind::System => "System",
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
    thread_page_before(env, link, ws, share, (notice, status), None, None)
}

/// Messages a share page shows at once (newest; earlier ones a link away),
/// so a long thread costs the same as a short one.
pub(crate) const PAGE_MESSAGES: usize = 20;

/// [`thread_page`] showing the messages before `before` (a message number);
/// `ticket` is the share's ticket when the caller has just read it; the
/// page shows `notice` and answers with its status.
pub(crate) fn thread_page_before(
    env: &mut Env,
    link: &str,
    ws: &WorkspaceId,
    share: &Share,
    (notice, status): (&str, u16),
    before: Option<u64>,
    ticket: Option<Ticket>,
) -> Result<Response> {
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
    let mut html = match page.next {
        Some(n) => format!(
            "<p class=\"older\"><a id=\"older\" href=\"/s/{link}?before={n}\">Show earlier messages</a></p>"
        ),
        None => String::new(),
    };
    for m in page.messages.iter().rev() {
        message_html(&mut html, m, &reader, &team, link);
    }
    if before.is_some() {
        html.push_str(&format!(
            "<p class=\"older\"><a href=\"/s/{link}\">Back to the latest messages</a></p>"
        ));
    }
    let note = if share.note.is_empty() {
        String::new()
    } else {
        format!(
            "<section class=\"share-note\" aria-labelledby=\"note-title\"><h2 id=\"note-title\">Note from {}</h2>{}</section>",
            escape(&share.created_by_name),
            domain::render::markdown(&share.note)
        )
    };
    let details = if share.include_details {
        details_html(env, ws, &t)?
    } else {
        String::new()
    };
    let form = if share.can_reply {
        format!(
            "<form method=\"post\" enctype=\"multipart/form-data\" class=\"reply\"><input type=\"hidden\" name=\"action\" value=\"reply\"><input type=\"hidden\" name=\"once\" value=\"{once}\"><label for=\"body\">Your reply to the team</label><textarea id=\"body\" name=\"body\" rows=\"5\" required></textarea><p class=\"muted\">Markdown works: **bold**, *italic*, lists and links. Your reply goes to the support team only; the customer does not see it.</p><label for=\"files\">Attach files (up to {} files, {} MiB each: images, PDF, text, CSV, ZIP or Office)</label><input id=\"files\" name=\"files\" type=\"file\" multiple>{}<button type=\"submit\" class=\"primary\" id=\"send-note\">Send to the team</button></form>",
            attachments::MAX_FILES,
            attachments::MAX_FILE_BYTES / (1024 * 1024),
            notice_html(notice, status),
            once = domain::token::base64url(&(env.random)()[..16]),
        )
    } else {
        format!(
            "{}<p class=\"muted\" id=\"view-only\">You can read this ticket; replies are not enabled for this share.</p>",
            notice_html(notice, status)
        )
    };
    let body = format!(
        "<h1>{}</h1><p class=\"meta\">Ticket {} \u{b7} shared with you ({}) by {} of {} \u{b7} this link works until {}</p>{note}{details}<div class=\"thread\" id=\"thread\">{html}</div>{form}",
        escape(&share.subject),
        escape(&t.no.to_string()),
        escape(&share.email),
        escape(&share.created_by_name),
        escape(&team),
        escape(&readable(share.expires_at)),
    );
    Ok(link_page(
        status,
        branded_html(env, &w, &share.subject, &body)?,
    ))
}

/// Append one message of the share page to `out`.
pub(crate) fn message_html(out: &mut String, m: &Message, reader: &Reader, team: &str, link: &str) {
    let kind = m.author_kind.as_str();
    out.push_str("<article class=\"msg msg-");
    out.push_str(if m.visibility == Visibility::Public {
        "public"
    } else {
        "external"
    });
    out.push_str(" msg-by-");
    out.push_str(kind);
    out.push_str("\"><header class=\"msg-head\"><span class=\"msg-author\">");
    escape_into(out, m.display_name(reader, team));
    out.push_str("</span><span class=\"badge kind-");
    out.push_str(kind);
    out.push_str("\">");
    out.push_str(kind_label(m.author_kind));
    out.push_str("</span>");
    if m.visibility == Visibility::External {
        out.push_str("<span class=\"badge vis-external\">Your note: staff only</span>");
    }
    let iso = rfc3339(m.created_at);
    out.push_str("<time datetime=\"");
    out.push_str(&iso);
    out.push_str("\">");
    push_readable(out, &iso);
    out.push_str("</time></header><div class=\"msg-body\">");
    out.push_str(&m.body_html());
    out.push_str("</div>");
    if !m.attachments.is_empty() {
        out.push_str("<ul class=\"files\">");
        for a in &m.attachments {
            let _ = write!(
                out,
                "<li><a href=\"/s/{link}/files/{}/{}\">{}</a> <span class=\"muted\">{}</span></li>",
                m.seq.0,
                a.id,
                escape(&a.name),
                escape(&human_size(a.size))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</article>");
}

pub(crate) fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.0} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// Customer and order details, for shares that include them.
pub(crate) fn details_html(env: &Env, ws: &WorkspaceId, t: &Ticket) -> Result<String> {
    let c = match workspace::user(env.kv, ws, &t.customer) {
        Ok(u) => Some(u),
        Err(Error::Store(e)) => return Err(Error::Store(e)),
        Err(_) => None,
    };
    let mut rows = String::new();
    let mut row = |k: &str, v: &str| {
        rows.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)));
    };
    if let Some(c) = &c {
        row("Customer", &c.name);
        row("Email", &c.email);
        if let Some(co) = &c.company {
            row("Company", co);
        }
    }
    if let Some(o) = &t.order {
        row("Order", &o.number);
        for i in &o.items {
            let line = match &i.amount {
                Some(a) => format!("{} \u{d7} {} ({a})", i.quantity, i.name),
                None => format!("{} \u{d7} {}", i.quantity, i.name),
            };
            row("Item", &line);
        }
        if let Some(total) = &o.total {
            row("Total", total);
        }
        if !o.shipping_address.is_empty() {
            row("Ship to", &o.shipping_address.join(", "));
        }
        for (k, v) in &o.fields {
            row(k, v);
        }
    }
    Ok(format!(
        "<section class=\"share-details\" id=\"details\" aria-labelledby=\"details-title\"><h2 id=\"details-title\">Customer and order</h2><dl class=\"order\">{rows}</dl></section>"
    ))
}
