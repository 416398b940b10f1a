//! The `replies` component: `POST /api/v1/tickets/:no/replies`, the one
//! route every writer posts through (`thread::post_with`), and the promotion
//! of a collaborator's external note to a public reply.

use crate::Env;
use crate::actor::{ACT_AS_HEADER, Actor, authenticate, customer_kind, require, visible_ticket};
use crate::files::NewPost;
use crate::http::{MAX_JSON_BODY, Request, Response, segments};
use crate::mail::copy_participants;
use crate::serve::{ReadAhead, after_commit, attempt_step, audit, serve};
use crate::shares::{FORM_TAKEOVER, may_share};
use crate::views::{message_json, team_name, ticket_json};
use domain::attachments::Upload;
use domain::error::{Error, Result};
use domain::events::Event;
use domain::form::Form;
use domain::ids::{MessageSeq, TicketNo};
use domain::keys;
use domain::model::{AuthorKind, Message, Reader, Ticket, Visibility};
use domain::record::{Claim, read};
use domain::thread::{self, Author, Extras};
use domain::workspace::{self, Role};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewReply {
    body: String,
    #[serde(default = "public")]
    visibility: Visibility,
    /// The platform posting on behalf of an email address (e.g. mail it
    /// received): accepted from the ticket's customer, a customer of the
    /// same company, or a participant of the ticket.
    #[serde(default)]
    from_email: Option<String>,
}

pub(crate) fn public() -> Visibility {
    Visibility::Public
}

/// The `replies` component: `POST /api/v1/tickets/<no>/replies`, the one path
/// every writer's post goes through.
pub fn handle_replies(env: &mut Env, req: &Request) -> Response {
    serve(env, req, replies)
}

pub(crate) fn replies(env: &mut Env, req: &Request, rid: &str) -> Result<Response> {
    let segs = segments(&req.path).ok_or(Error::NoRoute)?;
    if let ["tickets", no, "messages", seq, "promote"] = segs.as_slice() {
        if req.method != "POST" {
            return Err(Error::NoRoute);
        }
        let actor = authenticate(env, req)?;
        let t = visible_ticket(env, &actor, TicketNo::parse(no)?)?;
        return promote(env, &actor, &t, seq, rid);
    }
    let ["tickets", no, "replies"] = segs.as_slice() else {
        return Err(Error::NoRoute);
    };
    if req.method != "POST" {
        return Err(Error::NoRoute);
    }
    let no = TicketNo::parse(no);
    // What the post reads, known from the request, in one batch read; the
    // ticket is answered from it until the post changes it (its check,
    // then its compare-and-swap: a stale read only fails the swap, whose
    // retry reads the store).
    let (ahead_keys, ticket_key) = match &no {
        Ok(no) => reply_keys(req, *no),
        Err(_) => Default::default(),
    };
    let ahead = ReadAhead::repeating(env.kv, &ahead_keys, &ticket_key);
    let env = &mut env.through(&ahead);
    // The ticket's change markers go in the audit entry's batch write.
    env.after.hold_markers();
    let actor = authenticate(env, req)?;
    let name = actor.audit_name();
    let t = visible_ticket(env, &actor, no?)?;
    let (body, files) = read_reply(req)?;
    let ws = workspace::workspace(env.kv, actor.ws())?;
    // Who posts, and how the answer shows the message (staff see all).
    let (author, reader, for_staff) = match (&body.from_email, actor.user()) {
        (Some(_), Some(_)) => {
            return Err(Error::bad(
                "invalid_field",
                "from_email is for the platform posting on someone's behalf, not with act-as",
            ));
        }
        (Some(email), None) => {
            let author = reply_sender(env, &ws, &t, email)?;
            if body.visibility != Visibility::Public {
                return Err(Error::bad(
                    "invalid_field",
                    "replies on someone's behalf are public",
                ));
            }
            (author, Reader::Staff, true)
        }
        (None, None) => {
            return Err(Error::bad(
                "act_as_required",
                format!("post as a person: send {ACT_AS_HEADER} with a user id"),
            ));
        }
        (None, Some(user)) if user.is_staff() => (
            Author {
                id: Some(user.id.to_string()),
                name: user.name.clone(),
                kind: AuthorKind::Staff,
                signed: ws.settings.sign_replies,
            },
            actor.reader(),
            true,
        ),
        (None, Some(user)) => {
            let (kind, can_reply) = customer_kind(env, actor.ws(), &t, user)?;
            if !can_reply {
                return Err(Error::Forbidden("this invite is view only".into()));
            }
            let author = Author {
                id: Some(user.id.to_string()),
                name: user.name.clone(),
                kind,
                signed: true,
            };
            (author, actor.reader(), false)
        }
    };
    let (msg, ticket) = crate::files::post_with_files(
        env,
        (actor.ws(), &name, rid),
        t.no,
        NewPost {
            author: &author,
            visibility: body.visibility,
            body: &body.body,
            files: &files,
            extras: thread::Extras {
                reserved: attempt_step(&actor, req, "message"),
                ..thread::Extras::default()
            },
        },
    )?;
    // The message is written: the post stands, whatever fails after it.
    let mut resp = Response::json(
        201,
        &json!({"message": message_json(&msg, &reader, &team_name(&ws)), "ticket": ticket_json(&ticket, for_staff)}),
    );
    let audited = audit(
        env,
        &actor,
        Event::MessagePosted,
        &format!("{}/{}", t.no, msg.seq.0),
        Some(t.no),
        rid,
    );
    after_commit(&mut resp.internal, "the audit entry", audited);
    if msg.visibility == Visibility::Public {
        // A participant posting (by email) is not copied on their own post.
        let except = (author.kind == AuthorKind::Participant)
            .then(|| author.id.clone())
            .flatten();
        let copied = copy_participants(env, &ws, &ticket, &msg, except.as_deref());
        resp.after.mail =
            after_commit(&mut resp.internal, "copying participants", copied).unwrap_or_default();
    }
    Ok(resp)
}

/// What a reply post reads, known from the request alone: the credential's
/// record and the user acted as, the ticket, the workspace (the author's
/// signature, the team name), its webhook endpoints and the webhook due
/// index's floor (the audit entry's deliveries) and the ticket's participants (copied on a public post);
/// and the ticket's key. Nothing without a well-formed
/// credential.
fn reply_keys(req: &Request, no: TicketNo) -> (Vec<String>, Vec<String>) {
    let Some((ws, mut read, _)) = crate::actor::credential_keys(req) else {
        return (Vec::new(), Vec::new());
    };
    let ticket = keys::ticket(&ws, no);
    read.extend([
        ticket.clone(),
        keys::workspace(&ws),
        keys::webhook_endpoints(&ws),
        // The webhook due index's floor, read with the endpoints by emit.
        domain::webhooks::due::Floor::key(),
        keys::participants(&ws, no),
    ]);
    (read, vec![ticket])
}

/// The reply a request posts: its JSON body (`NewReply`, at most
/// [`MAX_JSON_BODY`]), or a `multipart/form-data` form with the same fields
/// as text (`body`, `visibility`, `from_email`; each once, nothing else)
/// and its files under `files` (at most `files::MAX_FORM_BYTES`), read by
/// the same rules as the JSON.
fn read_reply(req: &Request) -> Result<(NewReply, Vec<Upload>)> {
    if !Form::is_multipart(req.header("content-type").unwrap_or("")) {
        return Ok((req.json(MAX_JSON_BODY)?, Vec::new()));
    }
    let form = crate::files::read_form(req)?;
    let mut fields = serde_json::Map::new();
    for (k, v) in form.fields {
        if fields.insert(k.clone(), v.into()).is_some() {
            return Err(Error::bad(
                "invalid_field",
                format!("{k} is sent more than once"),
            ));
        }
    }
    let reply = serde_json::from_value(fields.into()).map_err(domain::error::json_error)?;
    Ok((reply, form.files))
}

/// Reply validation (seed 002): who may reply to a ticket by email address.
pub(crate) fn reply_sender(
    env: &Env,
    w: &workspace::Workspace,
    t: &Ticket,
    email: &str,
) -> Result<Author> {
    let email = workspace::normalise_email(email)?;
    if let Some(u) = workspace::user_by_email(env.kv, &w.id, &email)?
        && u.role == Role::Customer
        && let Ok((kind, can_reply)) = customer_kind(env, &w.id, t, &u)
    {
        if !can_reply {
            return Err(Error::Forbidden(format!(
                "{email} may read this ticket but not reply"
            )));
        }
        return Ok(Author {
            id: Some(u.id.to_string()),
            name: u.name.clone(),
            kind,
            signed: true,
        });
    }
    if w.settings.participants_enabled
        && let Some(p) = domain::participants::by_email(env.kv, &w.id, t.no, &email)?
    {
        if !p.can_reply {
            return Err(Error::Forbidden(format!(
                "{email} may read this ticket but not reply"
            )));
        }
        return Ok(Author {
            id: Some(p.id.clone()),
            name: p.name.clone(),
            kind: AuthorKind::Participant,
            signed: true,
        });
    }
    Err(Error::Forbidden(format!(
        "{email} may not reply to this ticket: it is not the ticket's customer, a customer of the same company, or a participant"
    )))
}

/// `POST /api/v1/tickets/<no>/messages/<seq>/promote` (the `replies`
/// component): staff holding the *external share* permission (admins, the
/// platform) turn a collaborator's external note into a public reply, once;
/// the note itself stays as it was.
pub(super) fn promote(
    env: &mut Env,
    actor: &Actor,
    t: &Ticket,
    seq: &str,
    rid: &str,
) -> Result<Response> {
    require(actor.is_staff_side(), "only staff promote external notes")?;
    // Promoting publishes what a collaborator wrote: part of external
    // sharing, so it takes the same permission.
    require(
        may_share(actor),
        "promoting an external note needs the external share permission",
    )?;
    let ws = actor.ws().clone();
    let seq = MessageSeq(
        seq.parse::<u64>()
            .map_err(|_| Error::bad("invalid_id", format!("{seq:?} is not a message number")))?,
    );
    let note: Message = read(env.kv, &keys::message(&ws, t.no, seq))?.ok_or(Error::NotFound)?;
    if note.visibility != Visibility::External {
        return Err(Error::Conflict(
            "only external notes can be promoted to a public reply".into(),
        ));
    }
    let w = workspace::workspace(env.kv, &ws)?;
    let author = match actor.user() {
        Some(u) => Author {
            id: Some(u.id.to_string()),
            name: u.name.clone(),
            kind: AuthorKind::Staff,
            signed: w.settings.sign_replies,
        },
        None => Author {
            id: None,
            name: team_name(&w),
            kind: AuthorKind::Staff,
            signed: false,
        },
    };
    // Held while this request posts the reply, done once it is written; a
    // failure gives it back and a request that died is taken over after
    // FORM_TAKEOVER, so a retry promotes it, once.
    let claim_key = keys::promoted(&ws, t.no, seq);
    let holder = domain::ids::encode_random(&env.random16());
    let lease = match domain::record::acquire_after_claim(
        env.kv,
        &claim_key,
        &holder,
        env.now,
        FORM_TAKEOVER,
    )? {
        Claim::Held(lease) => lease,
        Claim::Done => {
            return Err(Error::Conflict(
                "this external note was promoted already".into(),
            ));
        }
        Claim::Busy => {
            return Err(Error::Conflict(
                "this external note is being promoted; try again in a minute".into(),
            ));
        }
    };
    let posted = thread::post_with(
        &env.ctx(&ws, &actor.audit_name(), rid),
        t.no,
        &author,
        Visibility::Public,
        &note.source,
        Extras {
            share: None,
            attachments: note.attachments.clone(),
            promoted_from: Some(seq),
            reserved: None,
        },
    );
    let (msg, ticket) = match posted {
        Ok(x) => x,
        Err(e) => {
            // Not posted (a lost answer to the message's write is settled
            // by a read): a retry may promote it.
            domain::record::release(env.kv, lease);
            return Err(e);
        }
    };
    let mut resp = Response::json(
        201,
        &json!({"message": crate::views::message_json(&msg, &Reader::Staff, &team_name(&w)), "ticket": crate::views::ticket_json(&ticket, true)}),
    );
    // The reply is written: the promotion stands, whatever fails after it.
    let done = domain::record::finish(env.kv, lease);
    crate::serve::after_commit(&mut resp.internal, "marking the note promoted", done);
    let audited = audit(
        env,
        actor,
        Event::NotePromoted,
        &format!("{}/{} -> {}", t.no, seq.0, msg.seq.0),
        Some(t.no),
        rid,
    );
    crate::serve::after_commit(&mut resp.internal, "the audit entry", audited);
    let copied = crate::mail::copy_participants(env, &w, &ticket, &msg, None);
    resp.after.mail =
        crate::serve::after_commit(&mut resp.internal, "copying participants", copied)
            .unwrap_or_default();
    Ok(resp)
}
