//! Work a request leaves for after its response: emails to hand to the
//! provider, messages to index for search, webhook deliveries to attempt.
//!
//! Rules add to an [`Effects`] collector they are handed explicitly (in a
//! [`crate::ctx::Ctx`]); the API layer puts what was collected into its
//! response as an [`After`], and the platform (or a native caller) does it
//! once the response is sent. Nothing is kept anywhere else: no state
//! outlives the request that made it.

use std::cell::RefCell;

use crate::error::Error;
use crate::ids::{TicketNo, WorkspaceId};

/// What must happen after a response is sent, in this order: mail, then
/// indexing, then webhook deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct After {
    /// Emails stored in the outbox, for the mail provider (workspace,
    /// outbox position).
    pub mail: Vec<(WorkspaceId, u64)>,
    /// Messages to index for search ([`crate::search::run`]).
    pub index: Vec<Index>,
    /// Webhook deliveries to attempt (workspace, delivery number).
    pub deliver: Vec<(WorkspaceId, u64)>,
}

impl After {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.mail.is_empty() && self.index.is_empty() && self.deliver.is_empty()
    }

    /// Add `other`'s work after this one's, list by list.
    pub fn extend(&mut self, other: After) {
        self.mail.extend(other.mail);
        self.index.extend(other.index);
        self.deliver.extend(other.deliver);
    }
}

/// A message's text to index for search after the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Its workspace.
    pub ws: WorkspaceId,
    /// Its ticket.
    pub ticket: TicketNo,
    /// The text.
    pub text: String,
    /// Whether the customer side may see it (indexed into `pub` too).
    pub public: bool,
}

/// The collector a request's rules add their after-response work to. It is
/// created per request and handed down explicitly; [`Effects::take`] empties
/// it into the response. It also keeps the failures of work done after a
/// commit point that must not change the answer ([`Effects::note`]: a
/// change marker that could not be touched), for the response's log line.
#[derive(Debug, Default)]
pub struct Effects {
    work: RefCell<After>,
    notes: RefCell<Vec<(String, Error)>>,
    /// Change-marker writes held for a later batch ([`Effects::hold_markers`]).
    held: RefCell<Option<Vec<(String, Vec<u8>)>>>,
    /// A write waiting for the request's commit point ([`Effects::await_commit`]).
    pending: RefCell<Option<(String, Vec<u8>)>>,
    /// A batch that carried held writes failed (or may have been applied
    /// partly): a write waiting for the commit point may not have landed.
    held_lost: std::cell::Cell<bool>,
}

impl Effects {
    /// Index a message's text after the response.
    pub fn index(&self, job: Index) {
        self.work.borrow_mut().index.push(job);
    }

    /// Attempt a webhook delivery after the response.
    pub fn deliver(&self, ws: &WorkspaceId, n: u64) {
        self.work.borrow_mut().deliver.push((ws.clone(), n));
    }

    /// Everything collected so far; the collector is left empty.
    pub fn take(&self) -> After {
        std::mem::take(&mut *self.work.borrow_mut())
    }

    /// Keep the failure `e` of `what`, done after the request's change was
    /// written: the answer stays what the change makes it, and the API
    /// layer puts the failure in the response's log details.
    pub fn note(&self, what: &str, e: Error) {
        self.notes.borrow_mut().push((what.to_string(), e));
    }

    /// From now on, hold the change-marker writes of this request
    /// ([`crate::marks::touch_noted`]) instead of writing them at once, so
    /// they go to the store in the batch of a later write of the same
    /// request ([`Effects::take_held`]: the audit entry's) and cost no round
    /// trip of their own. Markers are written after the data they stand
    /// for in any case; what is still held when the request ends is
    /// written then (the API layer's `with_after`, [`Effects::release`]).
    /// For requests that end that way only.
    pub fn hold_markers(&self) {
        let mut held = self.held.borrow_mut();
        if held.is_none() {
            *held = Some(Vec::new());
        }
    }

    /// Hold `pairs` when [`Effects::hold_markers`] is on (true), else
    /// leave them to the caller to write now (false). A key held twice
    /// keeps its later value, in its first place.
    pub fn hold(&self, pairs: &[(String, Vec<u8>)]) -> bool {
        let mut held = self.held.borrow_mut();
        let Some(held) = held.as_mut() else {
            return false;
        };
        for (k, v) in pairs {
            match held.iter_mut().find(|(h, _)| h == k) {
                Some(there) => there.1 = v.clone(),
                None => held.push((k.clone(), v.clone())),
            }
        }
        true
    }

    /// Hold `pair` before every write held so far (when
    /// [`Effects::hold_markers`] is on; else it is handed back, for the
    /// caller to write): a record saying the request's work is done goes
    /// first in the batch, before the markers.
    fn hold_first(&self, pair: (String, Vec<u8>)) -> Result<(), (String, Vec<u8>)> {
        let mut held = self.held.borrow_mut();
        let Some(held) = held.as_mut() else {
            return Err(pair);
        };
        held.retain(|(k, _)| *k != pair.0);
        held.insert(0, pair);
        Ok(())
    }

    /// Keep `pair` (a record that the request's work is done) until the
    /// request reaches its commit point ([`Effects::committed`]), which
    /// holds it first in the batch written after it.
    pub fn await_commit(&self, pair: (String, Vec<u8>)) {
        *self.pending.borrow_mut() = Some(pair);
    }

    /// The request's commit point is written (a message posted, a message
    /// held): the write waiting for it ([`Effects::await_commit`]) is held
    /// first in the next batch, when holding is on; else it keeps waiting
    /// for the caller ([`Effects::take_pending`]).
    pub fn committed(&self) {
        let Some(pair) = self.pending.borrow_mut().take() else {
            return;
        };
        if let Err(pair) = self.hold_first(pair) {
            *self.pending.borrow_mut() = Some(pair);
        }
    }

    /// The write still waiting for the commit point (not held), if any.
    pub fn take_pending(&self) -> Option<(String, Vec<u8>)> {
        self.pending.borrow_mut().take()
    }

    /// Drop the held write at `key`, if any (its work failed after all).
    /// Whether it was held.
    pub fn unhold(&self, key: &str) -> bool {
        let mut held = self.held.borrow_mut();
        let Some(held) = held.as_mut() else {
            return false;
        };
        let before = held.len();
        held.retain(|(k, _)| k != key);
        held.len() != before
    }

    /// A batch carrying held writes ([`Effects::take_held`]) failed: any of
    /// them may be missing, so whoever held one must make sure of it.
    pub fn held_lost(&self) {
        self.held_lost.set(true);
    }

    /// Whether a batch carrying held writes failed ([`Effects::held_lost`]).
    pub fn was_held_lost(&self) -> bool {
        self.held_lost.get()
    }

    /// The writes held so far, to add at the end of a batch; holding goes
    /// on for later ones.
    pub fn take_held(&self) -> Vec<(String, Vec<u8>)> {
        self.held
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The writes held so far, for the caller to write now; holding stops.
    pub fn release(&self) -> Vec<(String, Vec<u8>)> {
        self.held.borrow_mut().take().unwrap_or_default()
    }

    /// The failures noted so far; the list is left empty.
    pub fn take_notes(&self) -> Vec<(String, Error)> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}
