//! Files on messages, as the API and the pages behind links handle them:
//! the form a post with files arrives in ([`read_form`]), a post with files
//! ([`post_with_files`]: checked, files stored, message posted, unused
//! files given back), and a message's file as a download for whoever may
//! see the message ([`file_response`]). The rules (limits, sniffed types,
//! safe names, chunks) are `domain::attachments`'.

use crate::Env;
use crate::http::{Request, Response};
use domain::attachments::{self, Attachment, Upload};
use domain::error::{Error, Result};
use domain::form::Form;
use domain::ids::{AttachmentId, MessageSeq, TicketNo, WorkspaceId};
use domain::keys;
use domain::model::{Message, Reader, Ticket, Visibility};
use domain::record::read;
use domain::thread::{self, Author, Extras};

/// Largest form body a post with files takes: the files of one message and
/// the text around them.
pub(crate) const MAX_FORM_BYTES: usize = attachments::MAX_TOTAL_BYTES + 256 * 1024;

/// The field file inputs are sent under, on every form that takes files.
pub(crate) const FILES_FIELD: &str = "files";

/// Read the form `req` posts (multipart with files under [`FILES_FIELD`],
/// or urlencoded), within [`MAX_FORM_BYTES`] (else 413).
pub(crate) fn read_form(req: &Request) -> Result<Form> {
    if req.body.len() > MAX_FORM_BYTES {
        return Err(Error::PayloadTooLarge(MAX_FORM_BYTES));
    }
    Form::parse(
        req.header("content-type").unwrap_or(""),
        &req.body,
        FILES_FIELD,
    )
}

/// A post with files (see [`post_with_files`]).
pub(crate) struct NewPost<'a> {
    /// Who writes.
    pub(crate) author: &'a Author,
    /// Who may read it.
    pub(crate) visibility: Visibility,
    /// Its Markdown text.
    pub(crate) body: &'a str,
    /// Its files, not stored yet.
    pub(crate) files: &'a [Upload],
    /// A share, a reservation (its `attachments` are the stored files).
    pub(crate) extras: Extras,
}

/// Post `new` to ticket `no` of `ws` as `actor` (the ledger's name) under
/// request `rid`, the one way a post with files is made: the author's
/// right to the visibility, the text and the files (limits, sniffed types)
/// are checked before anything is written, so a refused post writes
/// nothing; the files are stored under fresh ids before the message that
/// names them ([`thread::post_with`]); then the files the message does not
/// name are given back ([`attachments::settle`]: those of a refused post,
/// or of a retry whose message an earlier attempt wrote).
pub(crate) fn post_with_files(
    env: &mut Env,
    (ws, actor, rid): (&WorkspaceId, &str, &str),
    no: TicketNo,
    new: NewPost,
) -> Result<(Message, Ticket)> {
    let NewPost {
        author,
        visibility,
        body,
        files,
        mut extras,
    } = new;
    thread::check_author(author, visibility, extras.share.is_some())?;
    thread::check_body(body)?;
    attachments::check(files)?;
    let stored = if files.is_empty() {
        Vec::new()
    } else {
        let kv = env.kv;
        attachments::store(kv, ws, no, files, &mut || env.random16())?
    };
    extras.attachments = stored.clone();
    let posted = thread::post_with(
        &env.ctx(ws, actor, rid),
        no,
        author,
        visibility,
        body,
        extras,
    );
    // Best effort: what is left is unreferenced chunks, never a message
    // without its file.
    let _ = attachments::settle(
        env.kv,
        ws,
        no,
        &stored,
        posted.as_ref().map(|(m, _)| &m.attachments[..]),
    );
    posted
}

/// File `id` of message `seq` of ticket `no` for `reader` as a download
/// (404 when the reader may not see the message or there is no such file).
pub(crate) fn file_response(
    env: &Env,
    ws: &WorkspaceId,
    no: TicketNo,
    seq: &str,
    id: &str,
    reader: &Reader,
) -> Result<Response> {
    let seq = seq
        .parse::<u64>()
        .map(MessageSeq)
        .map_err(|_| Error::NotFound)?;
    let id = AttachmentId::parse(id).map_err(|_| Error::NotFound)?;
    let m: Message = read(env.kv, &keys::message(ws, no, seq))?.ok_or(Error::NotFound)?;
    if !m.visible_to(reader) {
        return Err(Error::NotFound);
    }
    let a: &Attachment = m
        .attachments
        .iter()
        .find(|a| a.id == id)
        .ok_or(Error::NotFound)?;
    let bytes = attachments::load(env.kv, ws, no, a)?;
    Ok(Response {
        status: 200,
        headers: vec![
            ("content-type".into(), a.content_type.clone()),
            (
                "content-disposition".into(),
                attachments::content_disposition(&a.name),
            ),
            ("x-content-type-options".into(), "nosniff".into()),
            ("cache-control".into(), "no-store".into()),
            ("referrer-policy".into(), "no-referrer".into()),
            ("x-robots-tag".into(), "noindex, nofollow".into()),
            (
                "content-security-policy".into(),
                "default-src 'none'; sandbox".into(),
            ),
        ],
        body: bytes,
        internal: None,
        secret: false,
        after: Default::default(),
    })
}
