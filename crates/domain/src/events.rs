//! Every event the product records, in one place. Each one is written to the
//! audit ledger under its [`Event::name`]; the ones a platform needs to stay
//! in step with also carry a [`Event::webhook_type`], which the webhooks
//! component delivers (so adding an event here is all it takes to publish it).

/// Something that happened in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A workspace was created (deployment admin).
    WorkspaceCreated,
    /// Settings were replaced.
    SettingsChanged,
    /// The logo was replaced.
    LogoChanged,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// A user was created.
    UserCreated,
    /// A user was updated.
    UserUpdated,
    /// A login link was minted for a user.
    LoginLinkMinted,
    /// A login link was emailed.
    LoginLinkEmailed,
    /// A session started from a login link.
    SessionStarted,
    /// A ticket was opened.
    TicketCreated,
    /// Order details were set on a ticket.
    OrderSet,
    /// A message was posted to a thread.
    MessagePosted,
    /// A ticket was resolved.
    TicketResolved,
    /// A resolved ticket was reopened.
    TicketReopened,
    /// A ticket was deleted (soft); every link of it revoked.
    TicketDeleted,
    /// A customer was invited as a delegate.
    DelegateInvited,
    /// A delegate invite was sent again (the old link dies).
    DelegateResent,
    /// A delegate invite link was opened (GET; changes nothing else).
    DelegateLinkOpened,
    /// A delegate accepted.
    DelegateAccepted,
    /// A delegate was revoked.
    DelegateRevoked,
    /// A participant was added.
    ParticipantAdded,
    /// A participant was removed.
    ParticipantRemoved,
    /// A participant opened their personal link.
    ParticipantLinkOpened,
    /// A participant replied through their personal link.
    ParticipantReplied,
    /// An external share was cancelled.
    ShareCancelled,
}

impl Event {
    /// The name in the audit ledger.
    pub fn name(self) -> &'static str {
        use Event::*;
        match self {
            WorkspaceCreated => "workspace.created",
            SettingsChanged => "settings.changed",
            LogoChanged => "settings.logo_changed",
            ApiKeyCreated => "api_key.created",
            ApiKeyRevoked => "api_key.revoked",
            UserCreated => "user.created",
            UserUpdated => "user.updated",
            LoginLinkMinted => "login_link.minted",
            LoginLinkEmailed => "login_link.emailed",
            SessionStarted => "session.started",
            TicketCreated => "ticket.created",
            OrderSet => "ticket.order_set",
            MessagePosted => "message.posted",
            TicketResolved => "ticket.resolved",
            TicketReopened => "ticket.reopened",
            TicketDeleted => "ticket.deleted",
            DelegateInvited => "delegate.invited",
            DelegateResent => "delegate.resent",
            DelegateLinkOpened => "delegate.link_opened",
            DelegateAccepted => "delegate.accepted",
            DelegateRevoked => "delegate.revoked",
            ParticipantAdded => "participant.added",
            ParticipantRemoved => "participant.removed",
            ParticipantLinkOpened => "participant.link_opened",
            ParticipantReplied => "participant.replied",
            ShareCancelled => "share.cancelled",
        }
    }

    /// The webhook event type a platform receives for it, if any (several
    /// ledger entries may share one type: every post is `message.posted`).
    pub fn webhook_type(self) -> Option<&'static str> {
        use Event::*;
        match self {
            TicketCreated => Some("ticket.created"),
            MessagePosted | ParticipantReplied => Some("message.posted"),
            TicketResolved | TicketReopened => Some("ticket.status_changed"),
            TicketDeleted => Some("ticket.deleted"),
            DelegateInvited | DelegateResent => Some("delegate.invited"),
            DelegateAccepted => Some("delegate.accepted"),
            DelegateRevoked => Some("delegate.revoked"),
            ParticipantAdded => Some("participant.added"),
            ParticipantRemoved => Some("participant.removed"),
            ShareCancelled => Some("share.cancelled"),
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
            | ParticipantLinkOpened => None,
        }
    }

    /// Every event, for documentation and tests.
    pub const ALL: &'static [Event] = &[
        Event::WorkspaceCreated,
        Event::SettingsChanged,
        Event::LogoChanged,
        Event::ApiKeyCreated,
        Event::ApiKeyRevoked,
        Event::UserCreated,
        Event::UserUpdated,
        Event::LoginLinkMinted,
        Event::LoginLinkEmailed,
        Event::SessionStarted,
        Event::TicketCreated,
        Event::OrderSet,
        Event::MessagePosted,
        Event::TicketResolved,
        Event::TicketReopened,
        Event::TicketDeleted,
        Event::DelegateInvited,
        Event::DelegateResent,
        Event::DelegateLinkOpened,
        Event::DelegateAccepted,
        Event::DelegateRevoked,
        Event::ParticipantAdded,
        Event::ParticipantRemoved,
        Event::ParticipantLinkOpened,
        Event::ParticipantReplied,
        Event::ShareCancelled,
    ];
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
