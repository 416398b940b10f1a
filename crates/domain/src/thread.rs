//! Tickets and their threads: create a ticket, post to its thread, read a page
//! of it. Messages go to their own keys numbered by an atomic per-ticket
//! counter, so concurrent posts never overwrite each other; the ticket record
//! changes only by compare-and-swap. Reading a page costs the same however
//! long the thread is.

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ids::{MessageSeq, TicketNo, WorkspaceId};
use crate::keys;
use crate::model::{
    AuthorKind, Message, Reader, Status, Ticket, Visibility, marks_staff_unseen, status_after_post,
};
use crate::record::{read, write_fresh};
use crate::store::Kv;
use crate::time::Millis;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest message source, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 50_000;
/// Largest page of a thread.
pub const MAX_PAGE: usize = 100;

/// Who is writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Author id, if any.
    pub id: Option<String>,
    /// Name shown with the message.
    pub name: String,
    /// Kind.
    pub kind: AuthorKind,
    /// Staff: whether the post is signed with the name.
    pub signed: bool,
}

fn check_subject(subject: &str) -> Result<String> {
    let s = subject.trim();
    if s.is_empty() {
        return Err(Error::bad("invalid_field", "subject must not be empty"));
    }
    if s.chars().count() > MAX_SUBJECT_CHARS {
        return Err(Error::bad(
            "invalid_field",
            format!("subject is longer than {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    // It goes into email subjects (invites, participant copies).
    if s.chars().any(crate::header::breaks_header) {
        return Err(Error::bad(
            "invalid_field",
            "subject must be one line of text",
        ));
    }
    Ok(s.to_string())
}

/// Largest stored form of one message (its record: source, formatted copy,
/// author, files), in bytes. Well inside the store's 1 MiB value limit, so
/// a page of messages stays a modest read; a body within
/// [`MAX_MESSAGE_BYTES`] can still render to more (deeply nested quotes,
/// many links), and such a post is refused before anything is written.
pub const MAX_STORED_MESSAGE_BYTES: usize = 256 * 1024;

/// Room kept in a stored message for everything but its text and its
/// formatted copy (author, share, up to [`crate::attachments::MAX_FILES`]
/// file references, numbers, times): a few KiB at most, given the limits on
/// names and files.
const MESSAGE_RESERVE_BYTES: usize = 16 * 1024;

/// Length of `value` encoded as JSON, without building the encoding.
fn encoded_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing to a counter cannot fail; a value that does not encode is
    // refused when it is written.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// The 400 for a message that would take `size` bytes where `limit` fit.
fn too_large(size: usize, limit: usize) -> Error {
    Error::bad(
        "message_too_large",
        format!(
            "the message with its formatted copy takes {size} bytes, more than the {limit} bytes ({} KiB) a message may take; shorten it",
            limit / 1024
        ),
    )
}

/// Check a message body and render it: not empty, within
/// [`MAX_MESSAGE_BYTES`], and its text with its formatted copy small enough
/// to store (within [`MAX_STORED_MESSAGE_BYTES`], leaving room for the rest
/// of the record). Returns the sanitised HTML.
fn checked_html(body: &str) -> Result<String> {
    if body.trim().is_empty() {
        return Err(Error::bad(
            "invalid_field",
            "message body must not be empty",
        ));
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Error::bad(
            "invalid_field",
            format!("message body is larger than {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    let html = crate::render::markdown(body);
    let size = encoded_len(body) + encoded_len(&html);
    let limit = MAX_STORED_MESSAGE_BYTES - MESSAGE_RESERVE_BYTES;
    if size > limit {
        return Err(too_large(size, limit));
    }
    Ok(html)
}

/// Check a message body before anything is written: not empty, within
/// [`MAX_MESSAGE_BYTES`], and small enough to store once rendered (see
/// [`MAX_STORED_MESSAGE_BYTES`]).
pub fn check_body(body: &str) -> Result<()> {
    checked_html(body).map(drop)
}

/// Create a ticket with its first message (public, by `author`).
///
/// The first message is written, then the ticket record: once the record
/// is written the ticket exists (the commit point), so what follows (list
/// entries, search terms, the inbox entry) cannot undo it. Its outcome is the third value: an error there is for
/// the caller to log (`POST /api/v1/inbox/reindex` places a ticket the inbox
/// missed), never to answer with, since a client's retry would create a
/// second ticket.
pub fn create_ticket(
    ctx: &Ctx,
    subject: &str,
    customer: &crate::workspace::User,
    queue: &str,
    author: &Author,
    body: &str,
) -> Result<(Ticket, Message, Result<()>)> {
    create_ticket_reserved(
        ctx,
        NewTicket {
            subject,
            customer,
            queue,
            author,
            body,
        },
        None,
    )
}

/// What [`create_ticket_reserved`] opens: the ticket's subject, customer
/// and queue, and its first message (public, by `author`).
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    /// The subject.
    pub subject: &'a str,
    /// The customer the ticket is for.
    pub customer: &'a crate::workspace::User,
    /// The queue it starts in.
    pub queue: &'a str,
    /// Who writes the first message.
    pub author: &'a Author,
    /// The first message's body.
    pub body: &'a str,
}

/// Store keys where an idempotent ticket creation keeps the numbers it
/// takes, so its retry completes that ticket instead of opening another.
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The ticket's number.
    pub ticket: String,
    /// Its first message's number.
    pub first_message: String,
}

/// [`create_ticket`], keeping its numbers at `reserved`: a retry of the
/// same request (its first attempt's answer lost) finds the ticket it
/// opened, or completes it, and never opens a second one.
pub fn create_ticket_reserved(
    ctx: &Ctx,
    new: NewTicket,
    reserved: Option<&Reserved>,
) -> Result<(Ticket, Message, Result<()>)> {
    let NewTicket {
        subject,
        customer,
        queue,
        author,
        body,
    } = new;
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let subject = check_subject(subject)?;
    let html = checked_html(body)?;
    // The first message, checked whole before the ticket's number is taken.
    let first = draft(
        now,
        author,
        Visibility::Public,
        body,
        html,
        Extras::default(),
    )?;
    let no = match reserved {
        None => TicketNo(kv.increment(&keys::ticket_counter(ws), 1)? as u64),
        Some(r) => match read::<u64>(kv, &r.ticket)? {
            Some(n) => TicketNo(n),
            None => {
                let no = TicketNo(kv.increment(&keys::ticket_counter(ws), 1)? as u64);
                write_fresh(kv, &r.ticket, &no.0)?;
                no
            }
        },
    };
    let ticket = Ticket {
        no,
        subject,
        customer: customer.id.clone(),
        company: customer.company.clone(),
        status: Status::Pending,
        assignee: None,
        queue: queue.to_string(),
        created_at: now,
        updated_at: now,
        staff_unseen: true,
        deleted: false,
        purged: false,
        last_seq: 0,
        // The first message, which is public.
        public_posts: 1,
        public_at: now,
        order: None,
        slot: None,
        reply_ref: None,
        uncounted: Vec::new(),
        version: 0,
    };
    // The first message, then the record: a ticket exists once both are
    // written. A failure before that leaves nothing a listing shows (a
    // ticket number or a message with no ticket is skipped), so the
    // client's retry is the only ticket; a write whose answer was lost is
    // settled by reading it back ([`write_fresh`]). The keys are fresh
    // from the counters: nobody else can be writing them.
    let message = match reserved {
        None => append(kv, ws, no, first)?,
        Some(r) => append_reserved(kv, ws, no, first, &r.first_message)?,
    };
    if reserved.is_some() {
        if let Some(there) = read::<Ticket>(kv, &keys::ticket(ws, no))? {
            // An earlier attempt of this request opened it (and nothing
            // after its record ran: that attempt failed on the record).
            let mut ticket = there;
            let settled = settle_new_ticket(ctx, customer, body, &message, &mut ticket);
            return Ok((ticket, message, settled));
        }
    }
    // Its empty delegate and participant lists before its record, so that
    // a first invitation only updates them (never a list made from an
    // absent key).
    write_fresh(
        kv,
        &keys::delegates(ws, no),
        &crate::model::Delegates::default(),
    )?;
    write_fresh(
        kv,
        &keys::participants(ws, no),
        &crate::model::Participants::default(),
    )?;
    write_fresh(kv, &keys::ticket(ws, no), &ticket)?;
    let mut ticket = ticket;
    let settled = settle_new_ticket(ctx, customer, body, &message, &mut ticket);
    Ok((ticket, message, settled))
}

/// What follows a new ticket's record: its customer's (and company's) list
/// entries, its search terms, its inbox entry (which touches the change
/// markers: [`crate::inbox::change`]). Reported beside the ticket, never
/// instead of it; when it fails before the inbox entry, the markers are
/// touched all the same (the ticket exists: the staff's list shows it).
fn settle_new_ticket(
    ctx: &Ctx,
    customer: &crate::workspace::User,
    body: &str,
    message: &Message,
    ticket: &mut Ticket,
) -> Result<()> {
    let placed = place_new_ticket(ctx, customer, body, message.seq, ticket);
    if placed.is_err() {
        crate::marks::ticket_changed(ctx, ticket, &[], crate::marks::Seen::Everyone);
    }
    placed
}

/// [`settle_new_ticket`]'s steps, for the ticket whose first message is
/// `first`.
fn place_new_ticket(
    ctx: &Ctx,
    customer: &crate::workspace::User,
    body: &str,
    first: MessageSeq,
    ticket: &mut Ticket,
) -> Result<()> {
    let (kv, ws) = (ctx.kv, ctx.ws);
    let no = ticket.no;
    // Append-only list entries so a customer's (and company's) tickets
    // are listed without scanning the workspace.
    let i = kv.increment(&keys::customer_ticket_counter(ws, &customer.id), 1)? as u64;
    write_fresh(kv, &keys::customer_ticket(ws, &customer.id, i), &no)?;
    if let Some(company) = &customer.company {
        let h = crate::workspace::company_key(company);
        let i = kv.increment(&keys::company_ticket_counter(ws, &h), 1)? as u64;
        write_fresh(kv, &keys::company_ticket(ws, &h, i), &no)?;
    }
    // Searchable: subject and first message by everyone who sees the
    // ticket; the customer's name and email by staff.
    crate::search::index(kv, ws, no, &format!("{} {body}", ticket.subject), true)?;
    crate::search::index(
        kv,
        ws,
        no,
        &format!("{} {}", customer.name, customer.email),
        false,
    )?;
    // Into the inbox (Pending of its queue).
    *ticket = crate::inbox::change(ctx, no, |t: &mut Ticket| {
        t.last_seq = t.last_seq.max(first.0);
        Ok(())
    })?;
    Ok(())
}

/// Read a ticket (deleted ones are not found).
pub fn ticket(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Ticket> {
    match read::<Ticket>(kv, &keys::ticket(ws, no))? {
        Some(t) if !t.deleted => Ok(t),
        _ => Err(Error::NotFound),
    }
}

/// What a post may carry beyond its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// The share an external note belongs to.
    pub share: Option<String>,
    /// Files, stored already (see [`crate::attachments::store`]).
    pub attachments: Vec<crate::attachments::Attachment>,
    /// The external note a public reply is promoted from.
    pub promoted_from: Option<MessageSeq>,
    /// A store key where this post keeps the number it takes (an
    /// idempotent request's step): a retry of the same request finds the
    /// number there and completes that message instead of posting again.
    pub reserved: Option<String>,
}

/// A message as it will be stored, not numbered yet; refused with a 400
/// when its record (counted with the longest number) would be larger than
/// [`MAX_STORED_MESSAGE_BYTES`], so a message that cannot be stored never
/// takes a number.
fn draft(
    now: Millis,
    author: &Author,
    visibility: Visibility,
    body: &str,
    html: String,
    extras: Extras,
) -> Result<Message> {
    let message = Message {
        seq: MessageSeq(u64::MAX),
        author_id: author.id.clone(),
        author_name: author.name.clone(),
        signed: author.signed,
        author_kind: author.kind,
        visibility,
        source: body.to_string(),
        html: Some((crate::render::VERSION, html)),
        share: extras.share,
        attachments: extras.attachments,
        promoted_from: extras.promoted_from,
        created_at: now,
    };
    let size = encoded_len(&message);
    if size > MAX_STORED_MESSAGE_BYTES {
        return Err(too_large(size, MAX_STORED_MESSAGE_BYTES));
    }
    Ok(message)
}

/// Number a [`draft`] from the ticket's counter and write it. A write whose
/// answer was lost may have landed: the key is fresh from the counter, so
/// one read tells, and a message that is there is written (an error would
/// have a retry post it twice). An error means it is not there as far as
/// that read could tell.
fn append(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, mut message: Message) -> Result<Message> {
    message.seq = MessageSeq(kv.increment(&keys::message_counter(ws, no), 1)? as u64);
    // A lost answer is settled by one read, so a retry never posts twice;
    // a number whose message was not written is a gap readers step over.
    write_fresh(kv, &keys::message(ws, no, message.seq), &message)?;
    Ok(message)
}

/// [`append`] at the number kept at `reserved` by an earlier attempt of the
/// same request, if any: the message found there is the one that attempt
/// wrote (its answer was lost), else it is written there now. A first
/// attempt keeps its number at `reserved` before writing the message, so
/// however the store answers, a request and its retries post one message.
fn append_reserved(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    mut message: Message,
    reserved: &str,
) -> Result<Message> {
    let seq = match read::<u64>(kv, reserved)? {
        Some(n) => MessageSeq(n),
        None => {
            let seq = MessageSeq(kv.increment(&keys::message_counter(ws, no), 1)? as u64);
            write_fresh(kv, reserved, &seq.0)?;
            seq
        }
    };
    let key = keys::message(ws, no, seq);
    if let Some(landed) = read::<Message>(kv, &key)? {
        return Ok(landed);
    }
    message.seq = seq;
    write_fresh(kv, &key, &message)?;
    Ok(message)
}

/// Post to a ticket's thread: the one path every writer goes through. Applies
/// the status table and returns the stored message and the updated ticket;
/// the message is indexed for search after the response (`ctx.after`).
pub fn post(
    ctx: &Ctx,
    no: TicketNo,
    author: &Author,
    visibility: Visibility,
    body: &str,
    share: Option<String>,
) -> Result<(Message, Ticket)> {
    let extras = Extras {
        share,
        ..Extras::default()
    };
    post_with(ctx, no, author, visibility, body, extras)
}

/// Whether `author` may write a message of `visibility` (`share`: it
/// comes through a share): internal notes are staff's (and the system's),
/// external notes a collaborator's through their share. [`post_with`]
/// checks it; a caller with files to store checks it first, so a refused
/// post writes nothing.
pub fn check_author(author: &Author, visibility: Visibility, share: bool) -> Result<()> {
    match visibility {
        Visibility::Internal if !matches!(author.kind, AuthorKind::Staff | AuthorKind::System) => {
            Err(Error::Forbidden("only staff write internal notes".into()))
        }
        Visibility::External if author.kind != AuthorKind::Collaborator => Err(Error::Forbidden(
            "external notes come from collaborators".into(),
        )),
        Visibility::External if !share => Err(Error::Forbidden(
            "an external note belongs to a share".into(),
        )),
        _ => Ok(()),
    }
}

/// [`post`] with files, a share or a promotion source.
pub fn post_with(
    ctx: &Ctx,
    no: TicketNo,
    author: &Author,
    visibility: Visibility,
    body: &str,
    extras: Extras,
) -> Result<(Message, Ticket)> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let html = checked_html(body)?;
    check_author(author, visibility, extras.share.is_some())?;
    let before = ticket(kv, ws, no)?;
    let reserved = extras.reserved.clone();
    let message = draft(now, author, visibility, body, html, extras)?;
    let message = match &reserved {
        Some(at) => append_reserved(kv, ws, no, message, at)?,
        None => append(kv, ws, no, message)?,
    };
    // Indexed for search after the response.
    ctx.after.index(crate::after::Index {
        ws: ws.clone(),
        ticket: no,
        text: body.to_string(),
        public: visibility == Visibility::Public,
    });
    // The message is the commit point: once it is written the post stands,
    // even if the ticket's summary cannot be updated right now (a later post
    // or state change brings it up to date).
    let ticket = match crate::inbox::change(ctx, no, |t: &mut Ticket| {
        t.status = status_after_post(t.status, author.kind, visibility);
        t.staff_unseen |= marks_staff_unseen(author.kind, visibility);
        t.updated_at = t.updated_at.max(now);
        t.last_seq = t.last_seq.max(message.seq.0);
        if visibility == Visibility::Public {
            t.public_posts += 1;
        }
        Ok(())
    }) {
        Ok(t) => t,
        // A post that keeps its number for its retry is done by the retry:
        // the message is found there and the summary brought up to date,
        // so readers (who page up to `last_seq`) see it.
        Err(e @ Error::Store(_)) if reserved.is_some() => return Err(e),
        // Otherwise never an error once the message is written: a client
        // would retry and post twice. The summary read before stands in
        // (a later post or state change brings it up to date).
        Err(_) => ticket(kv, ws, no).unwrap_or(before),
    };
    Ok((message, ticket))
}

/// Which end of the thread a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first; the cursor is the last seq seen.
    OldestFirst,
    /// Newest first; the cursor is the last seq seen.
    NewestFirst,
}

/// One page of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Messages the reader may see, in the requested order.
    pub messages: Vec<Message>,
    /// Cursor for the next page, if there may be more: always past the
    /// cursor given (never the same one), so following cursors ends.
    pub next: Option<u64>,
    /// The page met a message number handed out and not written yet that is
    /// recent ([`GAP_WAIT`]): the same ticket version may give another page
    /// soon (the message written, or the gap stepped over once old), so
    /// this page must not be taken as the ticket version's page for good.
    pub waiting: bool,
}

/// How long a missing message number holds back oldest-first readers.
pub const GAP_WAIT: Millis = 10_000;

/// Whether the gap at `seq` is recent: the next written message is younger
/// than [`GAP_WAIT`] (or there is none yet below `last`).
fn young_gap(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    seq: u64,
    last: u64,
    now: Millis,
) -> Result<bool> {
    for next in seq + 1..=last.min(seq + 64) {
        if let Some(m) = read::<Message>(kv, &keys::message(ws, no, MessageSeq(next)))? {
            return Ok(now - m.created_at < GAP_WAIT);
        }
    }
    Ok(false)
}

/// The message numbers a page of a thread whose last message is `last`
/// reads, in the order it reads them.
fn page_seqs(order: Order, cursor: Option<u64>, last: u64) -> Box<dyn Iterator<Item = u64>> {
    match order {
        Order::OldestFirst => Box::new(cursor.map_or(1, |c| c.saturating_add(1))..=last),
        Order::NewestFirst => Box::new((1..cursor.map_or(last + 1, |c| c.min(last + 1))).rev()),
    }
}

/// The keys [`page`] reads first for the same arguments (its first batch
/// read), known once the ticket is: to read them ahead with other keys in
/// one batch.
pub fn page_keys(
    ws: &WorkspaceId,
    t: &Ticket,
    order: Order,
    cursor: Option<u64>,
    limit: usize,
) -> Vec<String> {
    page_seqs(order, cursor, t.last_seq)
        .take(limit.clamp(1, MAX_PAGE))
        .map(|seq| keys::message(ws, t.no, MessageSeq(seq)))
        .collect()
}

/// Read one page of the thread of ticket `t` for `reader` (the ticket as
/// the caller already read it: its `last_seq` bounds the page). Fetches at
/// most a bounded number of message keys, whatever the thread's length, in
/// batch reads of the keys still needed.
pub fn page(
    ctx: &Ctx,
    t: &Ticket,
    reader: &Reader,
    order: Order,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let limit = limit.clamp(1, MAX_PAGE);
    let no = t.no;
    let last = t.last_seq;
    // Scan at most this many keys per page, so a reader who may see few
    // messages still gets a bounded page (possibly short, with a cursor).
    let budget = limit * 4 + 16;
    let mut seqs = page_seqs(order, cursor, last);
    let mut messages = Vec::new();
    let mut scanned = 0;
    let mut position = None;
    let mut waiting = false;
    while messages.len() < limit && scanned < budget {
        // As many keys as messages are still wanted: one round trip when
        // the reader may see everything.
        let batch: Vec<u64> = seqs
            .by_ref()
            .take((limit - messages.len()).min(budget - scanned))
            .collect();
        if batch.is_empty() {
            break;
        }
        let keys: Vec<String> = batch
            .iter()
            .map(|&seq| keys::message(ws, no, MessageSeq(seq)))
            .collect();
        let found = crate::record::read_many::<Message>(kv, &keys)?;
        for (seq, m) in batch.into_iter().zip(found) {
            if messages.len() == limit {
                break;
            }
            scanned += 1;
            position = Some(seq);
            match m {
                Some(m) => {
                    if m.visible_to(reader) {
                        messages.push(m);
                    }
                }
                // A number handed out but not written yet. Reading oldest
                // first, a reader following cursors must not step over a
                // post that is still being written: stop before it while it
                // is recent (the next message is younger than GAP_WAIT); a
                // gap left by a crash or a failed write is stepped over once
                // it is old. A cursor always advances: when nothing was
                // read before the gap, the page is the end for now (no
                // cursor), never the cursor it was given, which a reader
                // would follow in a loop; the reader asks again later from
                // the last message it has.
                None if order == Order::OldestFirst && young_gap(kv, ws, no, seq, last, now)? => {
                    let given = cursor.unwrap_or(0);
                    return Ok(Page {
                        messages,
                        next: (seq - 1 > given).then_some(seq - 1),
                        waiting: true,
                    });
                }
                // Newest first steps over it, but a message that lands
                // there later changes this page without a new version
                // when its poster could not update the ticket.
                None if !waiting => waiting = young_gap(kv, ws, no, seq, last, now)?,
                None => {}
            }
        }
    }
    let more = match (order, position) {
        (_, None) => false,
        (Order::OldestFirst, Some(p)) => p < last,
        (Order::NewestFirst, Some(p)) => p > 1,
    };
    Ok(Page {
        messages,
        next: if more { position } else { None },
        waiting,
    })
}

#[cfg(test)]
mod inbox_tests;
#[cfg(test)]
mod search_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    fn customer() -> Author {
        Author {
            id: Some("u_c".into()),
            name: "Cara".into(),
            kind: AuthorKind::Customer,
            signed: true,
        }
    }

    fn staff() -> Author {
        Author {
            id: Some("u_s".into()),
            name: "Sam".into(),
            kind: AuthorKind::Staff,
            signed: true,
        }
    }

    fn cara() -> crate::workspace::User {
        crate::workspace::User {
            id: crate::ids::UserId::new([1; 16]),
            email: "cara@x.com".into(),
            name: "Cara".into(),
            role: crate::workspace::Role::Customer,
            company: Some("Cara Co".into()),
            queues: vec![],
            permissions: vec![],
            created_at: 0,
            version: 0,
        }
    }

    fn new_ticket(kv: &MemKv) -> TicketNo {
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(kv, &ws(), 1),
            "Broken order",
            &cara(),
            "support",
            &customer(),
            "help",
        )
        .unwrap();
        t.no
    }

    #[test]
    fn numbers_and_status_flow() {
        let kv = MemKv::new();
        assert_eq!(new_ticket(&kv), TicketNo(1));
        let no = new_ticket(&kv);
        assert_eq!(no, TicketNo(2));
        let (_, t) = post(
            &crate::ctx::test_ctx!(&kv, &ws(), 5),
            no,
            &staff(),
            Visibility::Public,
            "on it",
            None,
        )
        .unwrap();
        assert_eq!(t.status, Status::AwaitingCustomer);
        let (_, t) = post(
            &crate::ctx::test_ctx!(&kv, &ws(), 6),
            no,
            &staff(),
            Visibility::Internal,
            "note",
            None,
        )
        .unwrap();
        assert_eq!(t.status, Status::AwaitingCustomer);
        let (_, t) = post(
            &crate::ctx::test_ctx!(&kv, &ws(), 7),
            no,
            &customer(),
            Visibility::Public,
            "thanks",
            None,
        )
        .unwrap();
        assert_eq!(
            (t.status, t.last_seq, t.updated_at),
            (Status::ClientReplied, 4, 7)
        );
    }

    #[test]
    fn bad_posts_write_nothing() {
        let kv = MemKv::new();
        let no = new_ticket(&kv);
        let before = kv.len();
        let cases = [
            (customer(), Visibility::Internal, "x", "forbidden"),
            (staff(), Visibility::External, "x", "forbidden"),
            (staff(), Visibility::Public, "   ", "invalid_field"),
        ];
        for (author, vis, body, code) in cases {
            assert_eq!(
                post(
                    &crate::ctx::test_ctx!(&kv, &ws(), 2),
                    no,
                    &author,
                    vis,
                    body,
                    None
                )
                .unwrap_err()
                .code(),
                code
            );
        }
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(
            post(
                &crate::ctx::test_ctx!(&kv, &ws(), 2),
                no,
                &staff(),
                Visibility::Public,
                &big,
                None
            )
            .is_err()
        );
        assert_eq!(
            post(
                &crate::ctx::test_ctx!(&kv, &ws(), 2),
                TicketNo(99),
                &staff(),
                Visibility::Public,
                "x",
                None
            )
            .unwrap_err(),
            Error::NotFound
        );
        assert_eq!(kv.len(), before, "nothing half-written");
        for bad in ["", "   ", "a\nb", &"s".repeat(201)] {
            assert!(
                create_ticket(
                    &crate::ctx::test_ctx!(&kv, &ws(), 1),
                    bad,
                    &cara(),
                    "q",
                    &customer(),
                    "x"
                )
                .is_err(),
                "{bad:?}"
            );
        }
    }

    /// Every message `reader` gets, following cursors page by page.
    fn all_pages(
        kv: &MemKv,
        no: TicketNo,
        reader: &Reader,
        order: Order,
        limit: usize,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let p = page(
                &crate::ctx::test_ctx!(kv, &ws(), 1_000_000),
                &ticket(kv, &ws(), no).unwrap(),
                reader,
                order,
                cursor,
                limit,
            )
            .unwrap();
            out.extend(p.messages);
            match p.next {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    #[test]
    fn pages_both_ways_and_hide_notes_from_customers() {
        let kv = MemKv::new();
        let no = new_ticket(&kv);
        for i in 0..30 {
            let vis = if i % 3 == 0 {
                Visibility::Internal
            } else {
                Visibility::Public
            };
            post(
                &crate::ctx::test_ctx!(&kv, &ws(), 10 + i),
                no,
                &staff(),
                vis,
                &format!("m{i}"),
                None,
            )
            .unwrap();
        }
        // Staff, oldest first, all 31 across pages of 10.
        let seen: Vec<u64> = all_pages(&kv, no, &Reader::Staff, Order::OldestFirst, 10)
            .iter()
            .map(|m| m.seq.0)
            .collect();
        assert_eq!(seen, (1..=31).collect::<Vec<_>>());
        // Customer, newest first: never a note.
        let msgs = all_pages(&kv, no, &Reader::CustomerSide, Order::NewestFirst, 7);
        assert!(msgs.iter().all(|m| m.visibility == Visibility::Public));
        let cust: Vec<u64> = msgs.iter().map(|m| m.seq.0).collect();
        assert_eq!(cust.len(), 21);
        assert!(cust.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn concurrent_posts_all_land_once_in_order() {
        let kv = MemKv::new();
        let no = new_ticket(&kv);
        std::thread::scope(|s| {
            for c in 0..8 {
                let kv = &kv;
                s.spawn(move || {
                    for i in 0..25 {
                        post(
                            &crate::ctx::test_ctx!(kv, &ws(), 100),
                            no,
                            &customer(),
                            Visibility::Public,
                            &format!("c{c}-{i}"),
                            None,
                        )
                        .unwrap();
                    }
                });
            }
        });
        let p = page(
            &crate::ctx::test_ctx!(&kv, &ws(), 1_000_000),
            &ticket(&kv, &ws(), no).unwrap(),
            &Reader::Staff,
            Order::OldestFirst,
            Some(1),
            100,
        )
        .unwrap();
        let p2 = page(
            &crate::ctx::test_ctx!(&kv, &ws(), 1_000_000),
            &ticket(&kv, &ws(), no).unwrap(),
            &Reader::Staff,
            Order::OldestFirst,
            p.next,
            100,
        )
        .unwrap();
        let mut bodies: Vec<String> = p
            .messages
            .iter()
            .chain(&p2.messages)
            .map(|m| m.source.clone())
            .collect();
        assert_eq!(bodies.len(), 200);
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 200, "each once");
        assert_eq!(ticket(&kv, &ws(), no).unwrap().last_seq, 201);
    }
}

/// Which tickets a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every ticket of the workspace (staff, platform).
    Workspace,
    /// One customer's tickets.
    Customer(crate::ids::UserId),
    /// A company's tickets (by company name).
    Company(String),
}

/// A page of tickets, newest first; the cursor is the last list position seen.
pub fn list(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    scope: &Scope,
    cursor: Option<u64>,
    limit: usize,
) -> Result<(Vec<Ticket>, Option<u64>)> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (counter, entry): (String, Box<dyn Fn(u64) -> Result<Option<TicketNo>>>) = match scope {
        Scope::Workspace => (
            keys::ticket_counter(ws),
            Box::new(|i| Ok(Some(TicketNo(i)))),
        ),
        Scope::Customer(c) => {
            let c = c.clone();
            let ws2 = ws.clone();
            (
                keys::customer_ticket_counter(ws, &c),
                Box::new(move |i| read(kv, &keys::customer_ticket(&ws2, &c, i))),
            )
        }
        Scope::Company(name) => {
            let h = crate::workspace::company_key(name);
            let ws2 = ws.clone();
            (
                keys::company_ticket_counter(ws, &h),
                Box::new(move |i| read(kv, &keys::company_ticket(&ws2, &h, i))),
            )
        }
    };
    let top = crate::record::read_counter(kv, &counter)?;
    let start = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let budget = limit * 4 + 16;
    let mut out = Vec::new();
    let mut pos = start;
    let mut scanned = 0;
    while pos >= 1 && out.len() < limit && scanned < budget {
        scanned += 1;
        if let Some(no) = entry(pos)? {
            if let Some(t) = read::<Ticket>(kv, &keys::ticket(ws, no))? {
                if !t.deleted {
                    out.push(t);
                }
            }
        }
        pos -= 1;
    }
    Ok((out, if pos >= 1 { Some(pos + 1) } else { None }))
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn readers_wait_for_a_young_gap_and_step_over_an_old_one() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let cust = crate::workspace::upsert_user(
            &kv,
            &ws,
            crate::workspace::UserInput {
                email: "c@x.com".into(),
                name: "C".into(),
                role: crate::workspace::Role::Customer,
                company: None,
                queues: vec![],
                permissions: vec![],
            },
            0,
            [1; 16],
        )
        .unwrap()
        .0;
        let a = Author {
            id: None,
            name: "C".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "s",
            &cust,
            "q",
            &a,
            "first",
        )
        .unwrap();
        // Message 2 is handed out but not written (in flight, or lost in a crash).
        kv.increment(&keys::message_counter(&ws, t.no), 1).unwrap();
        post(
            &crate::ctx::test_ctx!(&kv, &ws, 1_000),
            t.no,
            &a,
            Visibility::Public,
            "third",
            None,
        )
        .unwrap();
        let young = page(
            &crate::ctx::test_ctx!(&kv, &ws, 2_000),
            &ticket(&kv, &ws, t.no).unwrap(),
            &Reader::Staff,
            Order::OldestFirst,
            Some(1),
            10,
        )
        .unwrap();
        assert_eq!(
            (young.messages.len(), young.next),
            (0, None),
            "wait for #2: nothing more for now (never the cursor given)"
        );
        let old = page(
            &crate::ctx::test_ctx!(&kv, &ws, 1_000 + GAP_WAIT),
            &ticket(&kv, &ws, t.no).unwrap(),
            &Reader::Staff,
            Order::OldestFirst,
            Some(1),
            10,
        )
        .unwrap();
        assert_eq!(
            old.messages.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
            vec![3],
            "step over a dead gap"
        );
        let huge = page(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            &ticket(&kv, &ws, t.no).unwrap(),
            &Reader::Staff,
            Order::OldestFirst,
            Some(u64::MAX),
            10,
        )
        .unwrap();
        assert!(huge.messages.is_empty());
    }

    /// A number taken and never written right after the cursor (a post
    /// still being written, or one that failed) ends the page with no
    /// cursor, never with the cursor given: a reader following cursors
    /// stops instead of asking for the same page forever.
    #[test]
    fn a_young_gap_right_after_the_cursor_never_hands_the_cursor_back() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = fixture::ticket(&kv, &ws, "c@x.com", "s");
        let a = Author {
            id: None,
            name: "C".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        post(
            &crate::ctx::test_ctx!(&kv, &ws, 500),
            t.no,
            &a,
            Visibility::Public,
            "two",
            None,
        )
        .unwrap();
        // #3 taken, never written; #4 written just now.
        kv.increment(&keys::message_counter(&ws, t.no), 1).unwrap();
        post(
            &crate::ctx::test_ctx!(&kv, &ws, 1_000),
            t.no,
            &a,
            Visibility::Public,
            "four",
            None,
        )
        .unwrap();
        let t = ticket(&kv, &ws, t.no).unwrap();
        for cursor in [None, Some(0), Some(1), Some(2)] {
            let p = page(
                &crate::ctx::test_ctx!(&kv, &ws, 2_000),
                &t,
                &Reader::Staff,
                Order::OldestFirst,
                cursor,
                10,
            )
            .unwrap();
            assert!(
                p.next.is_none_or(|n| n > cursor.unwrap_or(0)),
                "cursor {cursor:?} -> next {:?}",
                p.next
            );
        }
        // Following cursors reads what is there before the gap, and stops.
        let mut cursor = None;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let p = page(
                &crate::ctx::test_ctx!(&kv, &ws, 2_000),
                &t,
                &Reader::Staff,
                Order::OldestFirst,
                cursor,
                1,
            )
            .unwrap();
            seen.extend(p.messages.iter().map(|m| m.seq.0));
            match p.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, vec![1, 2], "stops before the young gap");
        let at_gap = page(
            &crate::ctx::test_ctx!(&kv, &ws, 2_000),
            &t,
            &Reader::Staff,
            Order::OldestFirst,
            Some(2),
            10,
        )
        .unwrap();
        assert_eq!((at_gap.messages.len(), at_gap.next), (0, None));
        // Once the gap is old, the same cursor steps over it.
        let later = page(
            &crate::ctx::test_ctx!(&kv, &ws, 1_000 + GAP_WAIT),
            &t,
            &Reader::Staff,
            Order::OldestFirst,
            Some(2),
            10,
        )
        .unwrap();
        assert_eq!(
            later.messages.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
            vec![4]
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::store::MemKv;

    fn staff() -> Author {
        Author {
            id: Some("u_s".into()),
            name: "Sam".into(),
            kind: AuthorKind::Staff,
            signed: true,
        }
    }

    /// A body within the input limit that renders to more than a message
    /// may take (the 39 000 `>`) is a 400 naming the limit, and
    /// nothing is written: no message, no number taken, no ticket change.
    #[test]
    fn a_body_too_large_once_rendered_is_refused_before_its_number_is_taken() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = fixture::ticket(&kv, &ws, "c@x.com", "s");
        let before = kv.dump();
        let body = ">".repeat(39_000);
        assert!(body.len() <= MAX_MESSAGE_BYTES);
        let e = post(
            &crate::ctx::test_ctx!(&kv, &ws, 5),
            t.no,
            &staff(),
            Visibility::Public,
            &body,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                crate::error::Error::BadRequest {
                    code: "message_too_large",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.message().contains(&format!(
                "{} bytes",
                MAX_STORED_MESSAGE_BYTES - MESSAGE_RESERVE_BYTES
            )),
            "{}",
            e.message()
        );
        assert_eq!(check_body(&body).unwrap_err(), e);
        assert_eq!(kv.dump(), before, "nothing written, no number taken");
        // A new ticket with such a first message takes no ticket number.
        let cus = fixture::customer(&kv, &ws, "d@x.com", 2);
        let before = kv.dump();
        let e = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 5),
            "s",
            &cus,
            "q",
            &staff(),
            &body,
        )
        .unwrap_err();
        assert_eq!(e.code(), "message_too_large");
        assert_eq!(kv.dump(), before);
        // The next post takes the next number: no gap was left.
        let (m, _) = post(
            &crate::ctx::test_ctx!(&kv, &ws, 6),
            t.no,
            &staff(),
            Visibility::Public,
            "ok",
            None,
        )
        .unwrap();
        assert_eq!(m.seq.0, 2);
    }

    /// Whatever a body within the input limit renders to, the post is
    /// either refused with a 400 or stored: never a store error (the store
    /// takes values up to 1 MiB), and a stored message is within the limit.
    #[test]
    fn worst_case_bodies_are_stored_or_refused_never_a_store_error() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let t = fixture::ticket(&kv, &ws, "c@x.com", "s");
        let n = MAX_MESSAGE_BYTES;
        let bodies = [
            ">".repeat(n),
            ">".repeat(8_000),
            format!("{}{}", ">".repeat(7_000), "\"".repeat(n - 7_000)),
            "\"".repeat(n),
            "<".repeat(n),
            "\u{1}".repeat(n),
            "<http://a>".repeat(n / 10),
            "|a|b|\n|-|-|\n".to_string() + &"|a|b|\n".repeat((n - 20) / 6),
            "- a\n".repeat(n / 4),
            "x".repeat(n),
            "é".repeat(n / 2),
        ];
        let mut stored = 0;
        for body in &bodies {
            assert!(body.len() <= n);
            match post(
                &crate::ctx::test_ctx!(&kv, &ws, 5),
                t.no,
                &staff(),
                Visibility::Public,
                body,
                None,
            ) {
                Ok((m, _)) => {
                    stored += 1;
                    let bytes = kv.get(&keys::message(&ws, t.no, m.seq)).unwrap().unwrap();
                    assert!(bytes.len() <= MAX_STORED_MESSAGE_BYTES);
                }
                Err(e) => assert_eq!(e.code(), "message_too_large", "{e}"),
            }
        }
        assert!(stored >= 4, "ordinary large bodies are kept: {stored}");
    }
}

#[cfg(test)]
mod commit_point_tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    /// Once the first message is written the ticket exists: a failure after
    /// it is reported beside the ticket, never instead of it (an error here
    /// would make a client's retry create a second ticket).
    #[test]
    fn a_failure_after_the_first_message_is_reported_not_returned() {
        // The store goes away right after the first message of a new
        // ticket is written: its list counters fail.
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Increment if key.contains("/cust/") => Fault::Before,
            _ => Fault::Pass,
        });
        let ws = WorkspaceId::parse("acme").unwrap();
        let cus = fixture::customer(&kv.inner, &ws, "c@x.com", 1);
        let author = Author {
            id: Some(cus.id.to_string()),
            name: cus.name.clone(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, m, settled) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws, 0),
            "Late",
            &cus,
            "q",
            &author,
            "where is it",
        )
        .unwrap();
        assert!(settled.is_err());
        assert_eq!((t.no.0, m.seq.0), (1, 1));
        assert_eq!(ticket(&kv, &ws, t.no).unwrap().subject, "Late");
    }

    /// A message write that lands and loses its answer is a post, not an
    /// error (a retry would post it twice); one that never landed is an
    /// error and leaves no message.
    #[test]
    fn a_message_write_whose_answer_is_lost_is_settled_by_one_read() {
        for (fault, posted) in [(Fault::After, true), (Fault::Before, false)] {
            let kv = Faulty::new(
                MemKv::new(),
                match fault {
                    Fault::After => |_: &dyn Kv, key: &str, op: Op<'_>| match op {
                        Op::Set(_) if key.contains("/m/") => Fault::After,
                        _ => Fault::Pass,
                    },
                    _ => |_: &dyn Kv, key: &str, op: Op<'_>| match op {
                        Op::Set(_) if key.contains("/m/") => Fault::Before,
                        _ => Fault::Pass,
                    },
                },
            );
            let ws = WorkspaceId::parse("acme").unwrap();
            kv.arm(false);
            let t = fixture::ticket(&kv, &ws, "c@x.com", "Late");
            kv.arm(true);
            let author = Author {
                id: None,
                name: "Sam".into(),
                kind: AuthorKind::Staff,
                signed: true,
            };
            let r = post(
                &crate::ctx::test_ctx!(&kv, &ws, 5),
                t.no,
                &author,
                Visibility::Public,
                "On its way",
                None,
            );
            assert_eq!(r.is_ok(), posted, "{fault:?}: {r:?}");
            let stored = kv
                .inner
                .keys_with_prefix("ws/")
                .iter()
                .filter(|k| k.contains("/m/"))
                .count();
            assert_eq!(stored, if posted { 2 } else { 1 }, "{fault:?}");
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use crate::store::{Fault, Faulty, MemKv, Op};

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    fn author(cus: &crate::workspace::User) -> Author {
        Author {
            id: Some(cus.id.to_string()),
            name: cus.name.clone(),
            kind: AuthorKind::Customer,
            signed: true,
        }
    }

    fn listed(kv: &dyn Kv) -> Vec<(u64, String)> {
        let (page, next) = list(kv, &ws(), &Scope::Workspace, None, 100).unwrap();
        assert!(next.is_none());
        page.into_iter().map(|t| (t.no.0, t.subject)).collect()
    }

    /// A new ticket whose first message cannot be written is an error the
    /// client retries: the failed attempt leaves no ticket in the listing
    /// (its number is a gap), so the ticket is listed once.
    #[test]
    fn a_new_ticket_whose_first_message_fails_is_listed_once_after_the_retry() {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/m/") => Fault::Before,
            _ => Fault::Pass,
        });
        kv.arm(false);
        let cus = fixture::customer(&kv, &ws(), "c@x.com", 1);
        kv.arm(true);
        let a = author(&cus);
        assert!(
            create_ticket(
                &crate::ctx::test_ctx!(&kv, &ws(), 0),
                "Late",
                &cus,
                "q",
                &a,
                "where"
            )
            .is_err()
        );
        kv.arm(false);
        let (t, _, settled) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws(), 1),
            "Late",
            &cus,
            "q",
            &a,
            "where",
        )
        .unwrap();
        settled.unwrap();
        assert_eq!(t.no, TicketNo(2), "number 1 is a gap");
        assert_eq!(listed(&kv), vec![(2, "Late".to_string())]);
        assert_eq!(
            ticket(&kv, &ws(), TicketNo(1)).unwrap_err(),
            Error::NotFound
        );
    }

    /// A message (or a new ticket's record) whose write landed but whose
    /// answer was lost is a success: the post is not an error a client
    /// would retry, so it is written once.
    #[test]
    fn writes_whose_answer_is_lost_are_posted_once() {
        let kv = Faulty::new(MemKv::new(), |_, key, op| match op {
            Op::Set(_) if key.contains("/t/") => Fault::After,
            _ => Fault::Pass,
        });
        kv.arm(false);
        let cus = fixture::customer(&kv, &ws(), "c@x.com", 1);
        let a = author(&cus);
        kv.arm(true);
        let (t, m, _) = create_ticket(
            &crate::ctx::test_ctx!(&kv, &ws(), 0),
            "Late",
            &cus,
            "q",
            &a,
            "where",
        )
        .unwrap();
        assert_eq!((t.no.0, m.seq.0), (1, 1));
        let (m, _) = post(
            &crate::ctx::test_ctx!(&kv, &ws(), 5),
            t.no,
            &a,
            Visibility::Public,
            "again",
            None,
        )
        .unwrap();
        assert_eq!(m.seq.0, 2);
        kv.arm(false);
        assert_eq!(listed(&kv), vec![(1, "Late".to_string())]);
        let t = ticket(&kv, &ws(), t.no).unwrap();
        let p = page(
            &crate::ctx::test_ctx!(&kv, &ws(), 5),
            &t,
            &Reader::Staff,
            Order::OldestFirst,
            None,
            10,
        )
        .unwrap();
        let bodies: Vec<&str> = p.messages.iter().map(|m| m.source.as_str()).collect();
        assert_eq!((bodies, p.next), (vec!["where", "again"], None));
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;
    use crate::store::MemKv;
    use crate::workspace::{Role, UserInput, upsert_user};

    #[test]
    fn lists_by_scope_newest_first() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mk = |email: &str, company: Option<&str>, r: u8| {
            upsert_user(
                &kv,
                &ws,
                UserInput {
                    email: email.into(),
                    name: "N".into(),
                    role: Role::Customer,
                    company: company.map(str::to_string),
                    queues: vec![],
                    permissions: vec![],
                },
                0,
                [r; 16],
            )
            .unwrap()
            .0
        };
        let a = mk("a@x.com", Some("Co"), 1);
        let b = mk("b@x.com", Some("co "), 2);
        let c = mk("c@x.com", None, 3);
        let author = Author {
            id: None,
            name: "x".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        for (i, who) in [&a, &b, &c, &a, &b, &a].iter().enumerate() {
            let (_, _, settled) = create_ticket(
                &crate::ctx::test_ctx!(&kv, &ws, i as i64),
                &format!("t{i}"),
                who,
                "q",
                &author,
                "b",
            )
            .unwrap();
            settled.unwrap();
        }
        let nos = |scope: Scope, limit| {
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = list(&kv, &ws, &scope, cursor, limit).unwrap();
                all.extend(page.iter().map(|t| t.no.0));
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            all
        };
        assert_eq!(nos(Scope::Workspace, 4), vec![6, 5, 4, 3, 2, 1]);
        assert_eq!(nos(Scope::Customer(a.id.clone()), 2), vec![6, 4, 1]);
        assert_eq!(nos(Scope::Company("CO".into()), 10), vec![6, 5, 4, 2, 1]);
        assert_eq!(nos(Scope::Customer(c.id.clone()), 10), vec![3]);
    }
}

#[cfg(test)]
mod list_gap_tests {
    use super::*;
    use crate::store::MemKv;

    /// A customer's and a company's ticket lists, and the workspace's,
    /// with a number taken and never written (an increment whose answer
    /// was lost): every ticket is listed once, newest first, across pages.
    #[test]
    fn ticket_lists_skip_numbers_never_written() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mut cus = fixture::customer(&kv, &ws, "c@x.com", 1);
        cus.company = Some("Co".into());
        let author = Author {
            id: None,
            name: "C".into(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let mut made = Vec::new();
        for i in 0..4 {
            if i == 2 {
                kv.increment(&keys::ticket_counter(&ws), 1).unwrap();
                kv.increment(&keys::customer_ticket_counter(&ws, &cus.id), 1)
                    .unwrap();
                let h = crate::workspace::company_key("Co");
                kv.increment(&keys::company_ticket_counter(&ws, &h), 1)
                    .unwrap();
            }
            let (t, _, settled) = create_ticket(
                &crate::ctx::test_ctx!(&kv, &ws, i),
                "S",
                &cus,
                "q",
                &author,
                "b",
            )
            .unwrap();
            settled.unwrap();
            made.push(t.no.0);
        }
        assert_eq!(made, vec![1, 2, 4, 5]);
        for scope in [
            Scope::Workspace,
            Scope::Customer(cus.id.clone()),
            Scope::Company("co".into()),
        ] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = list(&kv, &ws, &scope, cursor, 1).unwrap();
                seen.extend(page.iter().map(|t| t.no.0));
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            assert_eq!(seen, vec![5, 4, 2, 1], "{scope:?}");
        }
    }
}

/// Test fixtures shared by the domain's unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::workspace::{Role, User, UserInput, upsert_user};

    /// A customer account (`r` seeds its id).
    pub fn customer(kv: &dyn Kv, ws: &WorkspaceId, email: &str, r: u8) -> User {
        let input = UserInput {
            email: email.into(),
            name: email.into(),
            role: Role::Customer,
            company: None,
            queues: vec![],
            permissions: vec![],
        };
        upsert_user(kv, ws, input, 0, [r; 16]).unwrap().0
    }

    /// A ticket opened at time 0 by a fresh customer `email`.
    pub fn ticket(kv: &dyn Kv, ws: &WorkspaceId, email: &str, subject: &str) -> Ticket {
        let cus = customer(kv, ws, email, 1);
        let author = Author {
            id: Some(cus.id.to_string()),
            name: cus.name.clone(),
            kind: AuthorKind::Customer,
            signed: true,
        };
        let (t, _, settled) = create_ticket(
            &crate::ctx::test_ctx!(kv, ws, 0),
            subject,
            &cus,
            "general",
            &author,
            "hi",
        )
        .unwrap();
        settled.unwrap();
        t
    }
}
