//! Emails sent from handlers: branding (an uploaded logo wins), a ticket's
//! mail headers, and copies of a post to the ticket's participants.

use crate::Env;
use domain::error::Result;
use domain::ids::WorkspaceId;
use domain::model::{Message, Reader, Ticket};
use domain::workspace;

/// Where mail clients fetch the uploaded logo.
pub(crate) fn logo_url(env: &Env, ws: &WorkspaceId) -> String {
    format!(
        "{}/api/v1/workspaces/{ws}/logo",
        env.public_origin.trim_end_matches('/')
    )
}

/// Branding for emails: an uploaded logo wins over a logo URL.
pub(crate) fn mail_branding(env: &Env, w: &workspace::Workspace) -> Result<workspace::Branding> {
    let mut b = w.settings.branding.clone();
    if workspace::logo(env.kv, &w.id)?.is_some() {
        b.logo_url = logo_url(env, &w.id);
    }
    Ok(b)
}

/// Email one participant a fresh personal link; returns the outbox position.
pub(crate) fn mail_participant(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    p: &domain::participants::Participant,
    subject: &str,
    line: &str,
) -> Result<u64> {
    let r = (env.random)();
    let link = domain::participants::issue_link(env.kv, &w.id, t.no, p, env.now, r)?;
    let url = format!("{}/p/{link}", env.public_origin.trim_end_matches('/'));
    let mut draft =
        domain::outbox::participant(&mail_branding(env, w)?, &p.name, subject, line, &url);
    ticket_mail_headers(env, w, t, &mut draft)?;
    env.enqueue_mail(&w.id, &p.email, draft)
}

/// Make replies to an email about a ticket come back to it: the ticket's
/// reply address as Reply-To, and a Message-ID remembered for the
/// `In-Reply-To` of replies that lose the address.
pub(crate) fn ticket_mail_headers(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    draft: &mut domain::outbox::Draft,
) -> Result<()> {
    if env.reply_domain.is_empty() {
        return Ok(());
    }
    let r = (env.random)();
    let reference = domain::inbound::reply_reference(&env.ctx(&w.id, "", ""), t.no, r)?;
    draft.reply_to = Some(domain::inbound::reply_address(&reference, env.reply_domain));
    let id = format!(
        "t{}.{}@{}",
        t.no.0,
        domain::ids::encode_random(&env.random16()),
        env.reply_domain
    );
    domain::inbound::remember_message_id(env.kv, &w.id, &id, t.no)?;
    draft.message_id = Some(id);
    Ok(())
}

/// *Copy participants*: after public message `msg`, each active
/// participant other than `except` (the author, when a participant) gets
/// their own email with their own link, naming the author as the customer
/// side sees them and the files attached, if any.
pub(crate) fn copy_participants(
    env: &mut Env,
    w: &workspace::Workspace,
    t: &Ticket,
    msg: &Message,
    except: Option<&str>,
) -> Result<Vec<(WorkspaceId, u64)>> {
    if !w.settings.copy_participants || !w.settings.participants_enabled {
        return Ok(Vec::new());
    }
    let team = crate::views::team_name(w);
    let author = msg.display_name(&Reader::CustomerSide, &team);
    let files = match msg.attachments.len() {
        0 => String::new(),
        1 => " with 1 file attached".to_string(),
        n => format!(" with {n} files attached"),
    };
    let line = format!(
        "{author} replied{files} on ticket {} \u{201c}{}\u{201d}.",
        t.no, t.subject
    );
    let mut out = Vec::new();
    for p in domain::participants::list(env.kv, &w.id, t.no)? {
        if p.removed || Some(p.id.as_str()) == except {
            continue;
        }
        out.push((
            w.id.clone(),
            mail_participant(
                env,
                w,
                t,
                &p,
                &format!("New reply on ticket {}", t.no),
                &line,
            )?,
        ));
    }
    Ok(out)
}
