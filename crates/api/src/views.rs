//! The JSON shapes of the API: users, tickets, messages, API keys,
//! delegates, participants, and the names shown to each reader.

use domain::auth;
use domain::model::{Message, Reader, Ticket};
use domain::time::rfc3339;
use domain::workspace::{self, User};
use serde_json::{Value, json};

pub(crate) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "email": u.email, "name": u.name, "role": u.role,
        "company": u.company, "queues": u.queues, "permissions": u.permissions,
        "created_at": rfc3339(u.created_at),
    })
}

pub(crate) fn ticket_json(t: &Ticket, for_staff: bool) -> Value {
    let mut v = json!({
        "number": t.no.0, "ref": t.no.to_string(), "subject": t.subject, "status": t.status,
        "customer_id": t.customer, "created_at": rfc3339(t.created_at),
        // The customer side's time moves only with what they see.
        "updated_at": rfc3339(if for_staff { t.updated_at } else { t.public_updated_at() }),
    });
    if for_staff {
        v["order"] = json!(t.order);
        v["assignee_id"] = json!(t.assignee);
        v["queue"] = json!(t.queue);
        v["unread"] = json!(t.staff_unseen);
        v["version"] = json!(t.version);
    }
    v
}

pub(crate) fn message_json(m: &Message, reader: &Reader, team: &str) -> Value {
    let mut v = json!({
        "seq": m.seq.0,
        "author": { "name": m.display_name(reader, team), "kind": m.author_kind },
        "visibility": m.visibility,
        "body_html": m.body_html(),
        "source": m.source,
        "attachments": m.attachments.iter().map(|a| json!({
            "id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(m.created_at),
    });
    if *reader == Reader::Staff {
        v["share_id"] = json!(m.share);
        v["promoted_from"] = json!(m.promoted_from.map(|s| s.0));
    }
    v
}

/// The name unsigned staff posts show to the customer side.
pub(crate) fn team_name(w: &workspace::Workspace) -> String {
    if w.settings.branding.company_name.is_empty() {
        "Support team".to_string()
    } else {
        format!("{} team", w.settings.branding.company_name)
    }
}

/// An API key as the API shows it (never its hash; times in RFC 3339).
pub(crate) fn api_key_json(k: &auth::ApiKey) -> Value {
    json!({
        "id": k.id, "prefix": k.prefix, "label": k.label,
        "created_at": rfc3339(k.created_at), "revoked": k.revoked,
    })
}

pub(crate) fn delegate_json(d: &domain::delegates::Delegate) -> Value {
    json!({
        "user_id": d.user, "email": d.email, "name": d.name, "status": d.status, "can_reply": d.can_reply,
        "invited_by": d.invited_by, "invited_at": rfc3339(d.invited_at),
        "accepted_at": d.accepted_at.map(rfc3339), "revoked_at": d.revoked_at.map(rfc3339),
    })
}

pub(crate) fn participant_json(p: &domain::participants::Participant) -> Value {
    json!({
        "id": p.id, "email": p.email, "name": p.name, "customer_id": p.user, "guest": p.user.is_none(),
        "can_reply": p.can_reply, "added_by": p.added_by, "added_at": rfc3339(p.added_at), "removed": p.removed,
    })
}

/// How the collaborator of `share` reads the ticket: public messages and
/// their own external notes, of this share and of earlier shares of the
/// ticket to the same address (a re-share keeps their history), never
/// another collaborator's.
pub(crate) fn collaborator(share: &domain::shares::Share) -> Reader {
    let mut shares: Vec<String> = share.earlier.iter().map(|s| s.to_string()).collect();
    shares.push(share.id.to_string());
    Reader::Collaborator { shares }
}

/// `d***@carrier.test`: enough to recognise one's own address.
pub(crate) fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "your address".into(),
    }
}

pub(crate) fn user_name(
    env: &crate::Env,
    ws: &domain::ids::WorkspaceId,
    id: &domain::ids::UserId,
) -> String {
    workspace::user(env.kv, ws, id)
        .map(|u| u.name)
        .unwrap_or_else(|_| id.to_string())
}
