//! Who has a ticket open (the collision warning): staff with a ticket open
//! say so every few seconds, and each sees the others, and whether they are
//! writing a reply.
//!
//! One versioned record per ticket ([`crate::keys::presence`]) holds the
//! viewers, each with the time they were last seen; an entry lives
//! [`TTL`] after that and is pruned at the next write. A viewer whose
//! `composing` did not change is written at most once per [`REFRESH`]: a
//! page that asks more often costs one read. The rules ([`Presence`]) are
//! pure, with the time passed in.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{TicketNo, UserId, WorkspaceId};
use crate::keys;
use crate::record::{ensure, read_ensured, update};
use crate::store::Kv;
use crate::time::Millis;

/// How long an entry lives after its viewer was last seen.
pub const TTL: Millis = 30_000;

/// The shortest time between two writes of one viewer whose `composing`
/// did not change: with the console's beat every 10 s, every other beat
/// writes (3 writes a minute per viewer), and an entry is renewed 10 s
/// before it would end.
pub const REFRESH: Millis = 15_000;

/// The most viewers a ticket's record keeps (the most recently seen).
pub const MAX_VIEWERS: usize = 50;

/// One staff member with the ticket open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// Who.
    pub user: UserId,
    /// Their name, as shown to the others.
    pub name: String,
    /// Whether they are writing a reply.
    pub composing: bool,
    /// When they were last seen.
    pub seen_at: Millis,
}

/// Who has a ticket open (one versioned record per ticket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The viewers, expired ones included until the next write.
    pub viewers: Vec<Viewer>,
    /// CAS guard.
    pub version: u64,
}

crate::versioned!(Presence);

/// Whether an entry seen at `seen_at` still lives at `now`.
fn live(seen_at: Millis, now: Millis) -> bool {
    now - seen_at < TTL
}

impl Presence {
    /// Whether `user` saying `composing` at `now` must be written: they are
    /// not there (or expired), `composing` changed, or their entry was
    /// written [`REFRESH`] ago or more (or in the future: a clock that
    /// moved back).
    pub fn needs_write(&self, user: &UserId, composing: bool, now: Millis) -> bool {
        match self.viewers.iter().find(|v| &v.user == user) {
            Some(v) => {
                !live(v.seen_at, now)
                    || v.composing != composing
                    || now - v.seen_at >= REFRESH
                    || v.seen_at > now
            }
            None => true,
        }
    }

    /// Record `user` (shown as `name`) at `now`, and drop expired entries;
    /// at most [`MAX_VIEWERS`] are kept, the most recently seen.
    pub fn apply(&mut self, user: &UserId, name: &str, composing: bool, now: Millis) {
        self.viewers
            .retain(|v| &v.user != user && live(v.seen_at, now) && v.seen_at <= now);
        self.viewers.push(Viewer {
            user: user.clone(),
            name: name.to_string(),
            composing,
            seen_at: now,
        });
        self.viewers.sort_by_key(|v| std::cmp::Reverse(v.seen_at));
        self.viewers.truncate(MAX_VIEWERS);
    }

    /// The live viewers at `now` other than `me`, most recently seen first.
    pub fn others(&self, me: Option<&UserId>, now: Millis) -> Vec<&Viewer> {
        let mut out: Vec<&Viewer> = self
            .viewers
            .iter()
            .filter(|v| Some(&v.user) != me && live(v.seen_at, now))
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.seen_at));
        out
    }
}

/// Who has ticket `no` open, as stored (nobody yet: empty). Writes nothing.
pub fn read(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo) -> Result<Presence> {
    Ok(read_ensured(kv, &keys::presence(ws, no))?.unwrap_or_default())
}

/// Record that `user` (shown as `name`) has ticket `no` open at `now`,
/// writing only when [`Presence::needs_write`] says so (one read
/// otherwise); returns the record as it stands.
pub fn record(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    user: &UserId,
    name: &str,
    composing: bool,
    now: Millis,
) -> Result<Presence> {
    let key = keys::presence(ws, no);
    match read_ensured::<Presence>(kv, &key)? {
        Some(p) if !p.needs_write(user, composing, now) => return Ok(p),
        Some(_) => {}
        None => ensure(kv, &key, &Presence::default())?,
    }
    update(kv, &key, |p: &mut Presence| {
        p.apply(user, name, composing, now);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    /// A distinct user id for each `n` (ids take 5 bits of each byte).
    fn u(n: u8) -> UserId {
        let mut b = [0; 16];
        b[0] = n % 32;
        b[1] = n / 32;
        UserId::new(b)
    }

    #[test]
    fn a_viewer_is_written_again_only_when_something_changed_or_refresh_passed() {
        let mut p = Presence::default();
        assert!(p.needs_write(&u(1), false, 0), "not there yet");
        p.apply(&u(1), "Ann", false, 1_000);
        let cases = [
            (false, 1_000, false),
            (false, 1_000 + REFRESH - 1, false),
            (true, 1_001, true),
            (false, 1_000 + REFRESH, true),
            (false, 1_000 + TTL, true),
            (false, 999, true),
        ];
        for (composing, now, want) in cases {
            assert_eq!(
                p.needs_write(&u(1), composing, now),
                want,
                "composing {composing} at {now}"
            );
        }
        assert!(p.needs_write(&u(2), false, 1_000), "another viewer");
    }

    #[test]
    fn others_are_live_viewers_but_the_caller_newest_first() {
        let mut p = Presence::default();
        p.apply(&u(1), "Ann", false, 0);
        p.apply(&u(2), "Bob", true, 10_000);
        p.apply(&u(3), "Cy", false, 20_000);
        let names = |v: Vec<&Viewer>| v.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(p.others(Some(&u(3)), 20_000)), ["Bob", "Ann"]);
        assert_eq!(names(p.others(None, TTL + 5_000)), ["Cy", "Bob"]);
        assert_eq!(names(p.others(Some(&u(2)), TTL + 10_000)), ["Cy"]);
        // A write prunes what expired; one viewer is one entry.
        p.apply(&u(2), "Bob", false, TTL + 15_000);
        assert_eq!(p.viewers.len(), 2);
        assert!(!p.viewers.iter().find(|v| v.user == u(2)).unwrap().composing);
    }

    #[test]
    fn the_record_keeps_the_most_recent_viewers() {
        let mut p = Presence::default();
        for i in 0..(MAX_VIEWERS as u8 + 10) {
            p.apply(&u(i), "x", false, 1_000 + i64::from(i));
        }
        assert_eq!(p.viewers.len(), MAX_VIEWERS);
        assert!(p.viewers.iter().all(|v| v.seen_at >= 1_010));
    }

    #[test]
    fn record_writes_once_per_refresh_and_reads_write_nothing() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let no = TicketNo(1);
        assert!(read(&kv, &ws, no).unwrap().viewers.is_empty());
        assert_eq!(kv.len(), 0, "a read writes nothing");
        let version = |kv: &MemKv| read(kv, &ws, no).unwrap().version;
        record(&kv, &ws, no, &u(1), "Ann", false, 1_000).unwrap();
        let v1 = version(&kv);
        for t in 1_000..1_000 + REFRESH {
            if t % 500 == 0 {
                record(&kv, &ws, no, &u(1), "Ann", false, t).unwrap();
            }
        }
        assert_eq!(version(&kv), v1, "no write within the refresh time");
        let p = record(&kv, &ws, no, &u(1), "Ann", true, 1_100).unwrap();
        assert_eq!(version(&kv), v1 + 1, "composing changed: written at once");
        assert!(p.viewers[0].composing);
        record(&kv, &ws, no, &u(2), "Bob", false, 1_200).unwrap();
        let p = read(&kv, &ws, no).unwrap();
        assert_eq!(p.others(Some(&u(2)), 1_300)[0].name, "Ann");
    }
}
