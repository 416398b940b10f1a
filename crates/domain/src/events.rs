//! Every event the product records, in one place. Each one is written to the
//! audit ledger under its [`Event::name`]; the ones a platform needs to stay
//! in step with also carry a [`Event::webhook_type`], which the webhooks
//! component delivers (so adding an event here is all it takes to publish it).

/// Declares the enum, its ledger names and [`Event::ALL`] from one table, so
/// the three never drift apart.
macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// Something that happened in a workspace.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Event {
            $($(#[$doc])* $variant,)+
        }

        impl Event {
            /// The name in the audit ledger.
            pub fn name(self) -> &'static str {
                match self {
                    $(Event::$variant => $name,)+
                }
            }

            /// Every event, for documentation and tests.
            pub const ALL: &'static [Event] = &[$(Event::$variant,)+];
        }
    };
}

events! {
    /// A workspace was created (deployment admin).
    WorkspaceCreated => "workspace.created",
    /// Settings were replaced (PUT) or changed (PATCH).
    SettingsChanged => "settings.changed",
    /// The logo was replaced.
    LogoChanged => "settings.logo_changed",
    /// An API key was created.
    ApiKeyCreated => "api_key.created",
    /// An API key was revoked.
    ApiKeyRevoked => "api_key.revoked",
    /// A user was created.
    UserCreated => "user.created",
    /// A user was updated.
    UserUpdated => "user.updated",
    /// A login link was minted for a user.
    LoginLinkMinted => "login_link.minted",
    /// A login link was emailed.
    LoginLinkEmailed => "login_link.emailed",
    /// A session started from a login link.
    SessionStarted => "session.started",
    /// A ticket was opened.
    TicketCreated => "ticket.created",
    /// Order details were set on a ticket.
    OrderSet => "ticket.order_set",
    /// A message was posted to a thread.
    MessagePosted => "message.posted",
    /// A staff member accepted a pending ticket.
    TicketAssigned => "ticket.assigned",
    /// A ticket was transferred to another staff member and/or queue.
    TicketTransferred => "ticket.transferred",
    /// A ticket was returned to Pending.
    TicketReturned => "ticket.returned",
    /// An admin rebuilt the inbox entries of older tickets.
    InboxReindexed => "inbox.reindexed",
    /// A ticket was resolved.
    TicketResolved => "ticket.resolved",
    /// A resolved ticket was reopened.
    TicketReopened => "ticket.reopened",
    /// A ticket was deleted (soft); every link of it revoked.
    TicketDeleted => "ticket.deleted",
    /// An admin purged a deleted ticket's messages.
    TicketPurged => "ticket.purged",
    /// A customer was invited as a delegate.
    DelegateInvited => "delegate.invited",
    /// A delegate invite was sent again (the old link dies).
    DelegateResent => "delegate.resent",
    /// A delegate invite link was opened (GET; changes nothing else).
    DelegateLinkOpened => "delegate.link_opened",
    /// A delegate accepted.
    DelegateAccepted => "delegate.accepted",
    /// A delegate was revoked.
    DelegateRevoked => "delegate.revoked",
    /// A participant was added.
    ParticipantAdded => "participant.added",
    /// A participant was removed.
    ParticipantRemoved => "participant.removed",
    /// A participant opened their personal link.
    ParticipantLinkOpened => "participant.link_opened",
    /// A participant replied through their personal link.
    ParticipantReplied => "participant.replied",
    /// A ticket was shared with an external collaborator.
    ShareCreated => "share.created",
    /// A share was sent again as a new link (the old one cancelled).
    ShareReshared => "share.reshared",
    /// The share email with the personal link was stored for sending.
    ShareEmailSent => "share.email_sent",
    /// A share link was opened (GET; changes nothing else).
    ShareLinkOpened => "share.link_opened",
    /// A one-time code was emailed to the collaborator.
    ShareCodeSent => "share.code_sent",
    /// The collaborator verified their email (by code, or carried over).
    ShareVerified => "share.verified",
    /// A wrong, expired or used code was tried.
    ShareCodeFailed => "share.code_failed",
    /// Too many wrong codes: the share is locked.
    ShareLocked => "share.locked",
    /// The collaborator posted an external note.
    ShareReplied => "share.replied",
    /// A share's lifetime was extended.
    ShareExtended => "share.extended",
    /// A share reached the end of its lifetime (recorded once, when next seen).
    ShareExpired => "share.expired",
    /// An external share was cancelled.
    ShareCancelled => "share.cancelled",
    /// Staff promoted an external note to a public reply.
    NotePromoted => "note.promoted",
    /// A webhook endpoint was registered.
    WebhookCreated => "webhook.created",
    /// A webhook endpoint's secret was rotated.
    WebhookRotated => "webhook.rotated",
    /// A disabled webhook endpoint was turned back on.
    WebhookEnabled => "webhook.enabled",
    /// A webhook endpoint was deleted.
    WebhookDeleted => "webhook.deleted",
    /// Inbound email was set up for a provider.
    InboundConfigured => "inbound.configured",
    /// An inbound email was held for review (unknown sender or ticket).
    EmailHeld => "email.held",
    /// Staff approved a held email (it was posted).
    HeldApproved => "email.approved",
    /// Staff discarded a held email.
    HeldDiscarded => "email.discarded",
}

impl Event {
    /// The webhook event type a platform receives for it, if any (several
    /// ledger entries may share one type: every post is `message.posted`).
    pub fn webhook_type(self) -> Option<&'static str> {
        use Event::*;
        match self {
            TicketCreated => Some("ticket.created"),
            MessagePosted | ParticipantReplied | ShareReplied => Some("message.posted"),
            TicketResolved | TicketReopened => Some("ticket.status_changed"),
            TicketDeleted => Some("ticket.deleted"),
            TicketAssigned => Some("ticket.assigned"),
            TicketTransferred => Some("ticket.transferred"),
            TicketReturned => Some("ticket.returned"),
            DelegateInvited | DelegateResent => Some("delegate.invited"),
            DelegateAccepted => Some("delegate.accepted"),
            DelegateRevoked => Some("delegate.revoked"),
            ParticipantAdded => Some("participant.added"),
            ParticipantRemoved => Some("participant.removed"),
            ShareCreated | ShareReshared => Some("share.created"),
            ShareVerified => Some("share.verified"),
            ShareCancelled => Some("share.cancelled"),
            ShareExpired => Some("share.expired"),
            NotePromoted => Some("note.promoted"),
            WorkspaceCreated
            | SettingsChanged
            | LogoChanged
            | ApiKeyCreated
            | ApiKeyRevoked
            | UserCreated
            | UserUpdated
            | LoginLinkMinted
            | LoginLinkEmailed
            | SessionStarted
            | OrderSet
            | DelegateLinkOpened
            | ParticipantLinkOpened
            | ShareEmailSent
            | ShareLinkOpened
            | ShareCodeSent
            | ShareCodeFailed
            | ShareLocked
            | ShareExtended
            | WebhookCreated
            | WebhookRotated
            | WebhookEnabled
            | WebhookDeleted
            | InboundConfigured
            | EmailHeld
            | HeldApproved
            | HeldDiscarded
            | InboxReindexed
            | TicketPurged => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.name()).collect();
        assert!(names.iter().all(|n| n.contains('.')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }
}
