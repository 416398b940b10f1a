//! The open connections of a server, bounded. At the bound a new connection
//! takes the place of the one that has been idle longest (no request in
//! progress: a silent client, half a request head, or a kept-alive
//! connection between requests), so clients that only open connections can
//! churn idle ones but never lock newcomers out. Only when every connection
//! is serving a request is a newcomer refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// The table of open connections.
pub struct Connections {
    limit: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    /// Requests in progress (head in, response not yet handed over).
    busy: usize,
    /// Since when it has had no request in progress.
    idle_since: Instant,
    /// Closes the connection when sent to (or dropped).
    close: oneshot::Sender<()>,
}

/// One open connection's place in the table; it leaves the table on drop.
pub struct Slot {
    conns: Arc<Connections>,
    id: u64,
}

/// Fires when a connection is evicted to make room for a newcomer.
pub type Evicted = oneshot::Receiver<()>;

/// A request in progress on a connection; the connection is idle again
/// when every such guard is dropped.
pub struct Busy {
    conns: Arc<Connections>,
    id: u64,
}

impl Connections {
    /// A table for at most `limit` connections.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            table: Mutex::new(Table::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit a new connection, evicting the longest-idle one at the bound;
    /// `None` when every open connection is serving a request.
    pub fn admit(self: &Arc<Self>) -> Option<(Slot, Evicted)> {
        let mut t = self.lock();
        if t.open.len() >= self.limit {
            let victim = t
                .open
                .iter()
                .filter(|(_, e)| e.busy == 0)
                .min_by_key(|(_, e)| e.idle_since)
                .map(|(id, _)| *id)?;
            if let Some(e) = t.open.remove(&victim) {
                let _ = e.close.send(());
            }
        }
        let id = t.next;
        t.next += 1;
        let (close, evicted) = oneshot::channel();
        t.open.insert(
            id,
            Entry {
                busy: 0,
                idle_since: Instant::now(),
                close,
            },
        );
        Some((
            Slot {
                conns: self.clone(),
                id,
            },
            evicted,
        ))
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Slot {
    /// Mark a request in progress on this connection.
    pub fn busy(&self) -> Busy {
        if let Some(e) = self.conns.lock().open.get_mut(&self.id) {
            e.busy += 1;
        }
        Busy {
            conns: self.conns.clone(),
            id: self.id,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns.lock().open.remove(&self.id);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = self.conns.lock().open.get_mut(&self.id) {
            e.busy = e.busy.saturating_sub(1);
            if e.busy == 0 {
                e.idle_since = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let c = Connections::new(2);
        let (a, mut a_out) = c.admit().unwrap();
        let (b, _b_out) = c.admit().unwrap();
        let busy_b = b.busy();
        // Full: the idle one (a) goes for the newcomer.
        let (n, mut n_out) = c.admit().unwrap();
        assert!(a_out.try_recv().is_ok(), "a was evicted");
        drop(a);
        assert_eq!(c.len(), 2);
        // Both busy: a newcomer is refused.
        let busy_n = n.busy();
        assert!(c.admit().is_none());
        // A request ends: its connection is idle again and may make room.
        drop(busy_n);
        let (_m, _m_out) = c.admit().unwrap();
        assert!(n_out.try_recv().is_ok());
        drop(busy_b);
        drop(b);
        assert!(c.len() <= 2);
    }
}
