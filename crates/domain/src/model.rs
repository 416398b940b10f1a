//! The stored records: tickets and their thread messages, the tickets'
//! delegate and participant lists (changed by [`crate::delegates`] and
//! [`crate::participants`]), with the rules that belong to the data itself
//! (status effects of a post, who may see a message).

use serde::{Deserialize, Serialize};

use crate::ids::{MessageSeq, TicketNo, UserId};
use crate::time::Millis;

/// A ticket's customer-facing status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New, nobody has answered yet.
    Pending,
    /// Being worked on.
    Open,
    /// The customer (or someone on their side) wrote last.
    ClientReplied,
    /// Staff answered; waiting for the customer.
    AwaitingCustomer,
    /// Done.
    Resolved,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    /// An admin or staff member.
    Staff,
    /// The ticket's customer (or a customer of the same company).
    Customer,
    /// A delegate who accepted an invite.
    Delegate,
    /// A participant (by personal link or email).
    Participant,
    /// An external collaborator on a share link.
    Collaborator,
    /// The system (hand-offs, status events).
    System,
}

impl AuthorKind {
    /// The name it has in JSON (`staff`, `customer`...), for CSS classes.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Staff => "staff",
            AuthorKind::Customer => "customer",
            AuthorKind::Delegate => "delegate",
            AuthorKind::Participant => "participant",
            AuthorKind::Collaborator => "collaborator",
            AuthorKind::System => "system",
        }
    }
}

/// Who may read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone on the ticket, customer included.
    Public,
    /// Staff only.
    Internal,
    /// Staff and the collaborator who wrote it; never the customer.
    External,
}

/// The kind of reader a thread is rendered for. Decides visibility once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// Admin or staff: everything.
    Staff,
    /// Customer, delegate or participant: public messages only.
    CustomerSide,
    /// An external collaborator: public messages and their own notes (of
    /// the share they came through and of earlier shares of the ticket to
    /// the same address).
    Collaborator {
        /// The collaborator's shares of this ticket.
        shares: Vec<String>,
    },
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Position in the thread.
    pub seq: MessageSeq,
    /// Author id (user id, participant email hash, share id…), if any.
    pub author_id: Option<String>,
    /// The author's own name (staff see it always).
    pub author_name: String,
    /// Whether a staff author signed it (the *Sign* setting when posted);
    /// unsigned staff posts show the team name to the customer side.
    #[serde(default = "yes")]
    pub signed: bool,
    /// Author kind.
    pub author_kind: AuthorKind,
    /// Visibility.
    pub visibility: Visibility,
    /// The Markdown source as written.
    pub source: String,
    /// `source` rendered when posted, with the renderer version that did it
    /// (read through [`Message::body_html`], which renders again when the
    /// version is older or absent, so a renderer fix reaches old messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<(u32, String)>,
    /// Which share an external note belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// Files attached to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachments::Attachment>,
    /// The external note this public reply was promoted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<MessageSeq>,
    /// When it was posted.
    pub created_at: Millis,
}

fn yes() -> bool {
    true
}

impl Message {
    /// The message's sanitised HTML: kept from when it was posted, or
    /// rendered now when the renderer changed since.
    pub fn body_html(&self) -> std::borrow::Cow<'_, str> {
        match &self.html {
            Some((v, h)) if *v == crate::render::VERSION => std::borrow::Cow::Borrowed(h),
            _ => std::borrow::Cow::Owned(crate::render::markdown(&self.source)),
        }
    }

    /// The name shown to `reader`: staff always see who wrote it; the
    /// customer side sees `team` for unsigned staff posts.
    pub fn display_name<'a>(&'a self, reader: &Reader, team: &'a str) -> &'a str {
        if self.author_kind == AuthorKind::Staff && !self.signed && *reader != Reader::Staff {
            team
        } else {
            &self.author_name
        }
    }

    /// Whether `reader` may see this message.
    pub fn visible_to(&self, reader: &Reader) -> bool {
        match (reader, self.visibility) {
            (Reader::Staff, _) => true,
            (_, Visibility::Public) => true,
            (Reader::CustomerSide, _) => false,
            (Reader::Collaborator { shares }, Visibility::External) => {
                self.share.as_ref().is_some_and(|s| shares.contains(s))
            }
            (Reader::Collaborator { .. }, Visibility::Internal) => false,
        }
    }
}

/// Order details supplied by the platform; staff see them beside the
/// customer's details; external shares reveal them only when the agent ticks
/// the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDetails {
    /// The store's order number.
    pub number: String,
    /// Line items.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// Order total, as text with its currency (e.g. "49.90 EUR").
    #[serde(default)]
    pub total: Option<String>,
    /// Shipping address lines.
    #[serde(default)]
    pub shipping_address: Vec<String>,
    /// Free-form fields.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    /// Product name.
    pub name: String,
    /// Quantity.
    pub quantity: u32,
    /// Line amount, as text with its currency.
    #[serde(default)]
    pub amount: Option<String>,
}

/// Largest order record, serialised.
pub const MAX_ORDER_BYTES: usize = 16 * 1024;

impl OrderDetails {
    /// Check sizes; errors name the field.
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        if self.number.trim().is_empty() || self.number.len() > 100 {
            return Err(Error::bad(
                "invalid_field",
                "order.number must be 1 to 100 characters",
            ));
        }
        if self.items.len() > 200 || self.fields.len() > 50 || self.shipping_address.len() > 10 {
            return Err(Error::bad(
                "invalid_field",
                "order has too many items, fields or address lines",
            ));
        }
        let size = serde_json::to_vec(self)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_ORDER_BYTES {
            return Err(Error::bad(
                "invalid_field",
                format!("order details are larger than {MAX_ORDER_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

/// Where a ticket sits in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The list (`pending/<queue>`, `working/<user>`, `resolved/<queue>`).
    pub list: String,
    /// Its entry's position in that list.
    pub pos: u64,
}

/// A ticket's move from one list to another (or into or out of the
/// inbox), as its record keeps it until the lists' counts have followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The list it left.
    #[serde(default)]
    pub from: Option<String>,
    /// The list it entered.
    #[serde(default)]
    pub to: Option<String>,
    /// The ticket's version the move made.
    pub at: u64,
}

/// A ticket's versioned record (messages live on their own keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Number within the workspace.
    pub no: TicketNo,
    /// Subject line.
    pub subject: String,
    /// The customer the ticket belongs to.
    pub customer: UserId,
    /// The customer's company when the ticket was opened (company members
    /// may see it).
    #[serde(default)]
    pub company: Option<String>,
    /// Customer-facing status.
    pub status: Status,
    /// Staff member working on it.
    pub assignee: Option<UserId>,
    /// Queue it sits in.
    pub queue: String,
    /// Creation time.
    pub created_at: Millis,
    /// Last activity (post or state change).
    pub updated_at: Millis,
    /// Staff have unseen activity (e.g. an internal note or a customer post).
    pub staff_unseen: bool,
    /// Soft-deleted: hidden everywhere, kept for the audit ledger.
    pub deleted: bool,
    /// Purged after deletion: its messages are gone from the store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purged: bool,
    /// Highest message number known to be written (readers page up to it).
    pub last_seq: u64,
    /// Public messages posted, counted as each post's summary update lands
    /// (once per post, whatever order posts land in): what the customer
    /// side's view of the thread changes with. The pages behind links
    /// derive their ETags from it, never from `last_seq` or `version`,
    /// which internal and external notes move too (records from before it
    /// was kept count from 0, which changes as well with the next public
    /// post).
    #[serde(default)]
    pub public_posts: u64,
    /// When the customer side last saw the ticket change (a public post, a
    /// status, the subject: [`Ticket::customer_side`]): the `updated_at`
    /// they are shown, so staff-only activity (notes, an accept, order
    /// details) never shows to them, not even as a time. 0 on records from
    /// before it was kept: `updated_at` stands in until their next change.
    #[serde(default)]
    pub public_at: Millis,
    /// Order details from the platform, if any.
    #[serde(default)]
    pub order: Option<OrderDetails>,
    /// Its entry in the inbox (the one list it is in); `None` when deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
    /// The unguessable reference of its reply address, once one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_ref: Option<String>,
    /// Moves between inbox lists whose counts are not settled yet
    /// (`inbox::change` settles them, once each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncounted: Vec<Move>,
    /// Incremented on every change (compare-and-swap guard).
    pub version: u64,
}

/// What the customer side sees of a ticket besides its messages' text:
/// when this changes, the change is theirs to see ([`Ticket::public_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSide {
    subject: String,
    status: Status,
    customer: UserId,
    company: Option<String>,
    deleted: bool,
    public_posts: u64,
}

impl Ticket {
    /// What the customer side sees of this ticket (its status, subject,
    /// public posts...), to tell their changes from staff-only ones.
    pub fn customer_side(&self) -> CustomerSide {
        CustomerSide {
            subject: self.subject.clone(),
            status: self.status,
            customer: self.customer.clone(),
            company: self.company.clone(),
            deleted: self.deleted,
            public_posts: self.public_posts,
        }
    }

    /// The time of the last change the customer side saw.
    pub fn public_updated_at(&self) -> Millis {
        if self.public_at == 0 {
            self.updated_at
        } else {
            self.public_at
        }
    }
}

/// The status table: how a post changes a ticket. The one place this rule
/// lives.
///
/// | post                                  | status after            |
/// |---------------------------------------|-------------------------|
/// | customer-side public post             | client replied          |
/// | staff public reply                    | awaiting customer       |
/// | internal or external note             | unchanged (resolved: unchanged) |
/// | any public post on a resolved ticket  | as above (reopens)      |
pub fn status_after_post(current: Status, kind: AuthorKind, visibility: Visibility) -> Status {
    match (visibility, kind) {
        (Visibility::Public, AuthorKind::Staff) => Status::AwaitingCustomer,
        (Visibility::Public, AuthorKind::System) => current,
        (Visibility::Public, _) => Status::ClientReplied,
        (Visibility::Internal | Visibility::External, _) => current,
    }
}

/// Whether a post leaves unseen activity for staff.
pub fn marks_staff_unseen(kind: AuthorKind, visibility: Visibility) -> bool {
    kind != AuthorKind::Staff || visibility != Visibility::Public
}

/// Where a delegate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegateStatus {
    /// Invite sent, not accepted yet.
    Invited,
    /// Accepted: may read and (with `can_reply`) post.
    Accepted,
    /// Revoked: nothing works any more.
    Revoked,
}

/// One delegate of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegate {
    /// The customer.
    pub user: UserId,
    /// Their email (for display).
    pub email: String,
    /// Their name (for display).
    pub name: String,
    /// Status.
    pub status: DelegateStatus,
    /// Whether they may post (otherwise view only).
    pub can_reply: bool,
    /// Who invited them.
    pub invited_by: String,
    /// When the current invite was sent.
    pub invited_at: Millis,
    /// When they accepted.
    pub accepted_at: Option<Millis>,
    /// When they were revoked.
    pub revoked_at: Option<Millis>,
    /// Hash of the current invite link (to kill it on revoke); never sent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub link_hash: String,
}

/// The delegates of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Delegates {
    /// Delegates, in invitation order.
    pub list: Vec<Delegate>,
    /// CAS guard.
    pub version: u64,
}

/// One participant of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Id within the ticket (`p_…`).
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The customer account behind the email, if any (else a guest).
    pub user: Option<UserId>,
    /// Whether they may reply (otherwise view only).
    pub can_reply: bool,
    /// Who added them.
    pub added_by: String,
    /// When.
    pub added_at: Millis,
    /// Removed participants' links are dead.
    pub removed: bool,
}

/// The participants of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Participants {
    /// In the order added.
    pub list: Vec<Participant>,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Ticket, Delegates, Participants);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_kind_names_are_their_json_names() {
        use AuthorKind::*;
        for k in [Staff, Customer, Delegate, Participant, Collaborator, System] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn status_table() {
        use AuthorKind::*;
        use Status::*;
        use Visibility::*;
        let cases = [
            (Pending, Customer, Public, ClientReplied),
            (AwaitingCustomer, Delegate, Public, ClientReplied),
            (Open, Participant, Public, ClientReplied),
            (Pending, Staff, Public, AwaitingCustomer),
            (ClientReplied, Staff, Public, AwaitingCustomer),
            (Open, Staff, Internal, Open),
            (ClientReplied, Collaborator, External, ClientReplied),
            (Resolved, Customer, Public, ClientReplied),
            (Resolved, Staff, Public, AwaitingCustomer),
            (Resolved, Staff, Internal, Resolved),
        ];
        for (from, kind, vis, to) in cases {
            assert_eq!(
                status_after_post(from, kind, vis),
                to,
                "{from:?} + {kind:?} {vis:?}"
            );
        }
    }

    #[test]
    fn customers_never_see_notes() {
        let msg = |visibility, share: Option<&str>| Message {
            seq: MessageSeq(1),
            author_id: None,
            author_name: "x".into(),
            signed: true,
            author_kind: AuthorKind::Staff,
            visibility,
            source: "x".into(),
            html: None,
            share: share.map(str::to_string),
            attachments: Vec::new(),
            promoted_from: None,
            created_at: 0,
        };
        let collab = Reader::Collaborator {
            shares: vec!["s0".into(), "s1".into()],
        };
        let other = Reader::Collaborator {
            shares: vec!["s2".into()],
        };
        let cases = [
            (msg(Visibility::Public, None), [true, true, true, true]),
            (msg(Visibility::Internal, None), [true, false, false, false]),
            (
                msg(Visibility::External, Some("s1")),
                [true, false, true, false],
            ),
        ];
        for (m, [staff, cust, c1, c2]) in cases {
            assert_eq!(m.visible_to(&Reader::Staff), staff);
            assert_eq!(m.visible_to(&Reader::CustomerSide), cust);
            assert_eq!(m.visible_to(&collab), c1);
            assert_eq!(m.visible_to(&other), c2);
        }
    }
}
