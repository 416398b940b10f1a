//! Every key-value key format, in one place. All keys start with the
//! workspace (`ws/<id>/`), so nothing can ever cross a workspace, except the
//! deployment-wide webhook due index (`deployment/webhooks/due/`), which
//! only the flush reads and whose entries name their workspace; variable
//! parts are typed ids or fixed-width numbers, so every key stays far below the
//! 255-byte limit.

use crate::ids::{MessageSeq, TicketNo, UserId, WorkspaceId};

/// Prefix of everything belonging to a workspace.
pub fn workspace_prefix(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/")
}

/// The workspace record (name, settings version).
pub fn workspace(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/meta")
}

/// Claim on a workspace id (`record::acquire`): held while the workspace
/// is created, finished once it is (a counter for workspaces created before).
pub fn workspace_claim(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/claim")
}

/// Claim on a normalised email (`record::acquire`) that makes one user per
/// email (a counter for users created before).
pub fn user_email_claim(ws: &WorkspaceId, email_hash: &str) -> String {
    format!("ws/{ws}/user-email-claim/{email_hash}")
}

/// Metadata of the uploaded logo (content type, etag of the current blob).
pub fn logo_meta(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/logo/meta")
}

/// One uploaded logo blob, by its content hash.
pub fn logo_blob(ws: &WorkspaceId, etag: &str) -> String {
    format!("ws/{ws}/logo/blob/{etag}")
}

/// The list of a workspace's API keys.
pub fn api_keys(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/api-keys")
}

/// A user record.
pub fn user(ws: &WorkspaceId, id: &UserId) -> String {
    format!("ws/{ws}/user/{id}")
}

/// Index from a normalised email (hashed, to bound the key length) to a user.
pub fn user_by_email(ws: &WorkspaceId, email_hash: &str) -> String {
    format!("ws/{ws}/user-email/{email_hash}")
}

/// A stored token hash, of any purpose (the hash is purpose-separated).
pub fn token(ws: &WorkspaceId, token_hash: &str) -> String {
    format!("ws/{ws}/tok/{token_hash}")
}

/// The per-workspace ticket counter.
pub fn ticket_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/ticket-counter")
}

/// A customer's ticket-list counter.
pub fn customer_ticket_counter(ws: &WorkspaceId, customer: &UserId) -> String {
    format!("ws/{ws}/cust/{customer}/n")
}

/// Entry `i` of a customer's ticket list.
pub fn customer_ticket(ws: &WorkspaceId, customer: &UserId, i: u64) -> String {
    format!("ws/{ws}/cust/{customer}/i/{i:012}")
}

/// A company's ticket-list counter (company name hashed).
pub fn company_ticket_counter(ws: &WorkspaceId, company_hash: &str) -> String {
    format!("ws/{ws}/co/{company_hash}/n")
}

/// Entry `i` of a company's ticket list.
pub fn company_ticket(ws: &WorkspaceId, company_hash: &str, i: u64) -> String {
    format!("ws/{ws}/co/{company_hash}/i/{i:012}")
}

/// Claim counter of one sign-in-email window for an address (throttle).
pub fn login_throttle(ws: &WorkspaceId, email_hash: &str, window: i64) -> String {
    format!("ws/{ws}/login-throttle/{email_hash}/{window}")
}

/// A ticket's delegates (one versioned record).
pub fn delegates(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/delegates", no.0)
}

/// Claim counter creating a ticket's delegate record.
pub fn delegates_claim(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/delegates-claim", no.0)
}

/// A ticket's participants (one versioned record).
pub fn participants(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/participants", no.0)
}

/// Claim counter creating a ticket's participant record.
pub fn participants_claim(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/participants-claim", no.0)
}

/// Which participant a personal link (by its hash) belongs to.
pub fn participant_link(ws: &WorkspaceId, token_hash: &str) -> String {
    format!("ws/{ws}/plink/{token_hash}")
}

/// The workspace's link index counter (every delegate invite and participant).
pub fn link_index_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/links/n")
}

/// Entry `i` of the workspace's link index.
pub fn link_index(ws: &WorkspaceId, i: u64) -> String {
    format!("ws/{ws}/links/i/{i:012}")
}

/// A customer's delegated-ticket list counter.
pub fn delegated_counter(ws: &WorkspaceId, user: &UserId) -> String {
    format!("ws/{ws}/deleg/{user}/n")
}

/// Entry `i` of a customer's delegated-ticket list.
pub fn delegated_ticket(ws: &WorkspaceId, user: &UserId, i: u64) -> String {
    format!("ws/{ws}/deleg/{user}/i/{i:012}")
}

/// The workspace audit ledger's counter.
pub fn audit_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/audit/n")
}

/// Entry `n` of the workspace audit ledger.
pub fn audit_entry(ws: &WorkspaceId, n: u64) -> String {
    format!("ws/{ws}/audit/i/{n:012}")
}

/// A ticket's audit index counter.
pub fn ticket_audit_counter(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/audit/n", no.0)
}

/// Entry `i` of a ticket's audit index (holds a ledger position).
pub fn ticket_audit_entry(ws: &WorkspaceId, no: TicketNo, i: u64) -> String {
    format!("ws/{ws}/t/{:012}/audit/i/{i:012}", no.0)
}

/// The outbox counter.
pub fn mail_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/mail/n")
}

/// Email `n` of the outbox.
pub fn mail(ws: &WorkspaceId, n: u64) -> String {
    format!("ws/{ws}/mail/i/{n:012}")
}

/// A stored idempotent response (actor and key hashed together).
pub fn idempotency(ws: &WorkspaceId, hash: &str) -> String {
    format!("ws/{ws}/idem/{hash}")
}

/// What one step of an idempotent request reserved (e.g. the number of the
/// message it posts), kept for its retry.
pub fn idempotency_step(ws: &WorkspaceId, hash: &str) -> String {
    format!("ws/{ws}/idem-step/{hash}")
}

/// Claim of an idempotency key (`record::acquire`).
pub fn idempotency_claim(ws: &WorkspaceId, hash: &str) -> String {
    format!("ws/{ws}/idem-claim/{hash}")
}

/// A ticket's versioned record.
pub fn ticket(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}", no.0)
}

/// A ticket's message counter.
pub fn message_counter(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/msg-counter", no.0)
}

/// One message of a ticket's thread.
pub fn message(ws: &WorkspaceId, no: TicketNo, seq: MessageSeq) -> String {
    format!("ws/{ws}/t/{:012}/m/{:012}", no.0, seq.0)
}

/// An external share's versioned record.
pub fn share(ws: &WorkspaceId, id: &crate::ids::ShareId) -> String {
    format!("ws/{ws}/share/{id}")
}

/// Which share a link (by its token hash) opens; written once.
pub fn share_link(ws: &WorkspaceId, token_hash: &str) -> String {
    format!("ws/{ws}/share-link/{token_hash}")
}

/// Number of shares ever made of a ticket.
pub fn ticket_share_counter(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/share-counter", no.0)
}

/// The `i`-th share of a ticket (its id).
pub fn ticket_share(ws: &WorkspaceId, no: TicketNo, i: u64) -> String {
    format!("ws/{ws}/t/{:012}/share/{i:08}", no.0)
}

/// A collaborator address that has proven it reads its mail for a ticket
/// (re-shares of that ticket to it skip verification).
pub fn verified_collaborator(ws: &WorkspaceId, no: TicketNo, email_hash: &str) -> String {
    format!("ws/{ws}/t/{:012}/collab/{email_hash}", no.0)
}

/// When an address was last sent a share code (versioned record).
pub fn code_sent(ws: &WorkspaceId, email_hash: &str) -> String {
    format!("ws/{ws}/code-sent/{email_hash}")
}

/// Claim of the first [`code_sent`] record of an address.
pub fn code_sent_claim(ws: &WorkspaceId, email_hash: &str) -> String {
    format!("ws/{ws}/code-sent-claim/{email_hash}")
}

/// The minute (since the epoch) in which a share's link-opened entry was
/// last recorded: one key per share for its whole life, advanced by
/// compare-and-swap ([`crate::record::advance_minute`]).
pub fn share_opened(ws: &WorkspaceId, id: &crate::ids::ShareId) -> String {
    format!("ws/{ws}/share/{id}/opened")
}

/// The minute (since the epoch) in which the opening of a personal link of
/// `holder` (a delegate's user id or a participant's id) on a ticket was
/// last recorded in the audit ledger: one key per holder and ticket,
/// advanced by compare-and-swap ([`crate::record::advance_minute`]).
pub fn link_opened(ws: &WorkspaceId, no: TicketNo, holder: &str) -> String {
    format!("ws/{ws}/t/{:012}/opened/{holder}", no.0)
}

/// Claim of one rendering of a share page's reply form (a second submit
/// of the same form posts nothing).
pub fn share_form_once(ws: &WorkspaceId, id: &crate::ids::ShareId, once: &str) -> String {
    format!("ws/{ws}/share/{id}/once/{once}")
}

/// One chunk (`i` from 0) of an attachment of a ticket's message; chunks
/// stay well inside the store's 1 MiB value limit.
pub fn attachment_chunk(
    ws: &WorkspaceId,
    no: TicketNo,
    id: &crate::ids::AttachmentId,
    i: u32,
) -> String {
    format!("ws/{ws}/t/{:012}/att/{id}/{i:04}", no.0)
}

/// Claim that an external note was promoted to a public reply (once).
pub fn promoted(ws: &WorkspaceId, no: TicketNo, seq: MessageSeq) -> String {
    format!("ws/{ws}/t/{:012}/promoted/{:012}", no.0, seq.0)
}

/// The workspace's webhook endpoints (one versioned record).
pub fn webhook_endpoints(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/webhooks/endpoints")
}

/// Number of webhook events ever stored.
pub fn webhook_event_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/webhooks/event-counter")
}

/// The `n`-th webhook event.
pub fn webhook_event(ws: &WorkspaceId, n: u64) -> String {
    format!("ws/{ws}/webhooks/event/{n:012}")
}

/// Number of webhook deliveries ever created.
pub fn webhook_delivery_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/webhooks/delivery-counter")
}

/// The `n`-th delivery (one event to one endpoint).
pub fn webhook_delivery(ws: &WorkspaceId, n: u64) -> String {
    format!("ws/{ws}/webhooks/delivery/{n:012}")
}

/// Prefix of the deployment-wide webhook due index: the one place keys
/// are not under a workspace (each entry names its workspace; only the
/// deployment flush reads it, with the deployment secret).
pub const WEBHOOK_DUE_PREFIX: &str = "deployment/webhooks/due/";

/// How many entries the due index's `bucket` (a minute number) has had
/// (an atomic counter).
pub fn webhook_due_counter(bucket: i64) -> String {
    format!("{WEBHOOK_DUE_PREFIX}{bucket:012}/n")
}

/// Entry `i` of the due index's `bucket`: a workspace and delivery number.
pub fn webhook_due_entry(bucket: i64, i: u64) -> String {
    format!("{WEBHOOK_DUE_PREFIX}{bucket:012}/{i:012}")
}

/// The due index's cursor: every entry before it is settled.
pub fn webhook_due_cursor() -> String {
    format!("{WEBHOOK_DUE_PREFIX}cursor")
}

/// A workspace's inbound email settings (versioned record).
pub fn inbound_config(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/inbound/config")
}

/// Claim of a Mailgun signature token (replays are refused).
pub fn mailgun_token(ws: &WorkspaceId, token_hash: &str) -> String {
    format!("ws/{ws}/inbound/mailgun-token/{token_hash}")
}

/// Which ticket a reply reference (by hash) belongs to.
pub fn reply_ref(ws: &WorkspaceId, ref_hash: &str) -> String {
    format!("ws/{ws}/inbound/reply-ref/{ref_hash}")
}

/// Which ticket an email we sent (by Message-ID hash) was about.
pub fn mail_message_id(ws: &WorkspaceId, id_hash: &str) -> String {
    format!("ws/{ws}/inbound/sent-id/{id_hash}")
}

/// Claim of a received Message-ID (duplicates post once).
pub fn inbound_message_id(ws: &WorkspaceId, id_hash: &str) -> String {
    format!("ws/{ws}/inbound/received-id/{id_hash}")
}

/// Number of messages ever held for review.
pub fn quarantine_counter(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/inbound/quarantine-counter")
}

/// The `n`-th held message.
pub fn quarantine(ws: &WorkspaceId, n: u64) -> String {
    format!("ws/{ws}/inbound/quarantine/{n:012}")
}

/// Number of entries ever written to an inbox list (`pending/<queue>`,
/// `working/<user>`, `resolved`).
pub fn view_counter(ws: &WorkspaceId, list: &str) -> String {
    format!("ws/{ws}/inbox/{list}/counter")
}

/// The `pos`-th entry of an inbox list.
pub fn view_entry(ws: &WorkspaceId, list: &str, pos: u64) -> String {
    format!("ws/{ws}/inbox/{list}/e/{pos:012}")
}

/// How many tickets an inbox list holds.
pub fn view_count(ws: &WorkspaceId, list: &str) -> String {
    format!("ws/{ws}/inbox/{list}/count")
}

/// Where oldest-first readers of an inbox list may start.
pub fn view_hint(ws: &WorkspaceId, list: &str) -> String {
    format!("ws/{ws}/inbox/{list}/hint")
}

/// The start hints of a workspace's oldest-first inbox lists in one
/// record (a copy of each list's [`view_hint`], read ahead with the
/// credential).
pub fn view_hints(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/inbox-hints")
}

/// Claim of the first [`view_hint`] record of a list.
pub fn view_hint_claim(ws: &WorkspaceId, list: &str) -> String {
    format!("ws/{ws}/inbox/{list}/hint-claim")
}

/// Number of postings of a search term (`scope`: `all` or `pub`).
pub fn search_counter(ws: &WorkspaceId, scope: &str, term: &str) -> String {
    format!("ws/{ws}/search/{scope}/{term}/n")
}

/// The `i`-th posting (a ticket number) of a search term.
pub fn search_posting(ws: &WorkspaceId, scope: &str, term: &str, i: u64) -> String {
    format!("ws/{ws}/search/{scope}/{term}/p/{i:012}")
}

/// Claim that a ticket has a search term (its posting is written once).
pub fn search_has(ws: &WorkspaceId, scope: &str, term: &str, no: TicketNo) -> String {
    format!("ws/{ws}/search/{scope}/{term}/t/{:012}", no.0)
}

/// The staff directory: ids of the workspace's admins and staff.
pub fn staff(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/staff")
}

/// The queues tickets of the workspace have been in (versioned record).
pub fn queues(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/queues")
}

/// The message number a staff member has seen a ticket up to.
pub fn seen(ws: &WorkspaceId, user: &UserId, no: TicketNo) -> String {
    format!("ws/{ws}/seen/{user}/{:012}", no.0)
}

/// Change marker touched after every change to any ticket of the
/// workspace (the staff's ticket list, the delegated lists, the inbox of
/// whoever sees every queue): see [`crate::marks`].
pub fn mark_tickets(ws: &WorkspaceId) -> String {
    format!("ws/{ws}/mark/tickets")
}

/// Change marker of one inbox list (`pending/<queue>`, `working/<user>`,
/// `resolved/<queue>`): touched after every change to a ticket in it and
/// every move into or out of it.
pub fn mark_list(ws: &WorkspaceId, list: &str) -> String {
    format!("ws/{ws}/mark/list/{list}")
}

/// Change marker of a customer's ticket list: touched after every change
/// to a ticket of theirs.
pub fn mark_customer(ws: &WorkspaceId, customer: &UserId) -> String {
    format!("ws/{ws}/mark/cust/{customer}")
}

/// Change marker of a company's ticket list (company name hashed, as in
/// [`company_ticket`]).
pub fn mark_company(ws: &WorkspaceId, company_hash: &str) -> String {
    format!("ws/{ws}/mark/co/{company_hash}")
}

/// Change marker of a staff member's read / unread marks ([`seen`]).
pub fn mark_seen(ws: &WorkspaceId, user: &UserId) -> String {
    format!("ws/{ws}/mark/seen/{user}")
}

/// Who has a ticket open (one versioned record per ticket, short-lived
/// entries: [`crate::presence`]).
pub fn presence(ws: &WorkspaceId, no: TicketNo) -> String {
    format!("ws/{ws}/t/{:012}/presence", no.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_workspace_prefixed_and_short() {
        let ws = WorkspaceId::parse(&"w".repeat(32)).unwrap();
        let u = UserId::new([0; 16]);
        let hash = "f".repeat(64);
        let all = [
            workspace(&ws),
            workspace_claim(&ws),
            api_keys(&ws),
            logo_meta(&ws),
            logo_blob(&ws, &hash),
            user_email_claim(&ws, &hash),
            user(&ws, &u),
            user_by_email(&ws, &hash),
            token(&ws, &hash),
            ticket_counter(&ws),
            audit_counter(&ws),
            delegates(&ws, TicketNo(1)),
            participants(&ws, TicketNo(1)),
            link_index_counter(&ws),
            link_index(&ws, 1),
            participants_claim(&ws, TicketNo(1)),
            participant_link(&ws, &hash),
            delegates_claim(&ws, TicketNo(1)),
            delegated_counter(&ws, &u),
            delegated_ticket(&ws, &u, 1),
            login_throttle(&ws, &hash, i64::MAX),
            audit_entry(&ws, 1),
            ticket_audit_counter(&ws, TicketNo(1)),
            ticket_audit_entry(&ws, TicketNo(1), 1),
            mail_counter(&ws),
            mail(&ws, 1),
            idempotency(&ws, &hash),
            idempotency_claim(&ws, &hash),
            idempotency_step(&ws, &hash),
            customer_ticket_counter(&ws, &u),
            customer_ticket(&ws, &u, 1),
            company_ticket_counter(&ws, &hash),
            company_ticket(&ws, &hash, 1),
            ticket(&ws, TicketNo(u64::MAX / 2)),
            message_counter(&ws, TicketNo(1)),
            message(&ws, TicketNo(1), MessageSeq(999_999_999_999)),
            share(&ws, &crate::ids::ShareId::new([0; 16])),
            share_link(&ws, &hash),
            ticket_share_counter(&ws, TicketNo(1)),
            ticket_share(&ws, TicketNo(1), 1),
            verified_collaborator(&ws, TicketNo(u64::MAX / 2), &hash),
            code_sent(&ws, &hash),
            code_sent_claim(&ws, &hash),
            share_opened(&ws, &crate::ids::ShareId::new([0; 16])),
            share_form_once(&ws, &crate::ids::ShareId::new([0; 16]), &"a".repeat(64)),
            link_opened(&ws, TicketNo(u64::MAX / 2), &"p".repeat(40)),
            link_opened(&ws, TicketNo(u64::MAX / 2), u.as_str()),
            view_counter(&ws, &format!("pending/{}", "q".repeat(40))),
            view_entry(&ws, &format!("working/{u}"), u64::MAX / 2),
            view_count(&ws, "resolved"),
            view_hint(&ws, &format!("pending/{}", "q".repeat(40))),
            view_hint_claim(&ws, &format!("pending/{}", "q".repeat(40))),
            seen(&ws, &u, TicketNo(u64::MAX / 2)),
            mark_tickets(&ws),
            mark_list(&ws, &format!("pending/{}", "q".repeat(40))),
            mark_list(&ws, &format!("working/{u}")),
            mark_customer(&ws, &u),
            mark_company(&ws, &hash),
            mark_seen(&ws, &u),
            presence(&ws, TicketNo(u64::MAX / 2)),
            queues(&ws),
            staff(&ws),
            search_counter(&ws, "all", &"\u{10FFFF}".repeat(32)),
            search_posting(&ws, "all", &"\u{10FFFF}".repeat(32), u64::MAX / 2),
            search_has(&ws, "pub", &"\u{10FFFF}".repeat(32), TicketNo(u64::MAX / 2)),
            inbound_config(&ws),
            mailgun_token(&ws, &hash),
            reply_ref(&ws, &hash),
            mail_message_id(&ws, &hash),
            inbound_message_id(&ws, &hash),
            quarantine_counter(&ws),
            quarantine(&ws, u64::MAX / 2),
            webhook_endpoints(&ws),
            webhook_event_counter(&ws),
            webhook_event(&ws, u64::MAX / 2),
            webhook_delivery_counter(&ws),
            webhook_delivery(&ws, u64::MAX / 2),
            attachment_chunk(
                &ws,
                TicketNo(u64::MAX / 2),
                &crate::ids::AttachmentId::new([0; 16]),
                9999,
            ),
        ];
        for k in all {
            assert!(k.starts_with(&workspace_prefix(&ws)), "{k}");
            assert!(k.len() <= 255, "{k}");
        }
    }

    /// The deployment's keys never fall under a workspace's prefix (no
    /// workspace id is `deployment/...`: ids have no `/`).
    #[test]
    fn deployment_keys_are_apart_and_short() {
        for k in [
            webhook_due_counter(i64::MAX / 2),
            webhook_due_entry(i64::MAX / 2, u64::MAX / 2),
            webhook_due_cursor(),
        ] {
            assert!(
                k.starts_with(WEBHOOK_DUE_PREFIX) && !k.starts_with("ws/"),
                "{k}"
            );
            assert!(k.len() <= 255, "{k}");
        }
    }
}
