//! Ticket search without scanning tickets: an inverted index in the store.
//!
//! Each term (a lowercased word of 2 to 32 letters or digits) has a posting
//! list per scope — `all` (staff: subject, customer name and email, every
//! message) and `pub` (what the customer side may see: subject and public
//! messages) — appended to the first time a ticket mentions the term: the
//! posting is written before the term's mark on the ticket (`has`), so an
//! indexing that fails half-way is done again by the next text with that
//! word (a posting written twice is read once). A query reads the rarest
//! term's postings, newest first and within a budget, keeps the tickets that
//! have every other term too, and ranks them by their latest activity.
//!
//! Messages are indexed after the response that posted them (the post
//! leaves an [`Index`] in its request's after-response work, [`run`] does
//! it), so posting stays fast; a crash in between leaves that
//! message's words unsearchable, never anything wrong.

use crate::after::Index;
use crate::error::Result;
use crate::ids::{TicketNo, WorkspaceId};
use crate::keys;
use crate::model::Ticket;
use crate::record::{read, read_counter, write};
use crate::store::Kv;

/// Most distinct terms indexed per message.
pub const MAX_TERMS: usize = 200;
/// Words of a query that count.
pub const MAX_QUERY_TERMS: usize = 8;
/// Postings a query reads at most.
pub const QUERY_BUDGET: usize = 2_000;

/// The search terms of a text, in first-seen order, without repeats.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        let n = w.chars().count();
        if (2..=32).contains(&n) && !out.contains(&w) {
            out.push(w);
            if out.len() == MAX_TERMS {
                break;
            }
        }
    }
    out
}

/// Index words for a ticket: into `all`, and into `pub` when the customer
/// side may see them. Most words of a reply are on its ticket already, so
/// whether each term has this ticket is one batch read; only new terms are
/// appended to. The mark that a term has the ticket comes last, so a
/// failure before it leaves the term to be indexed again: never a ticket a
/// term cannot find. Two indexings of one new word at once may both append
/// (the search reads a ticket once).
pub fn index(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, text: &str, public: bool) -> Result<()> {
    let scopes: &[&str] = if public { &["all", "pub"] } else { &["all"] };
    let wanted: Vec<(&str, String)> = terms(text)
        .into_iter()
        .flat_map(|t| scopes.iter().map(move |s| (*s, t.clone())))
        .collect();
    let has: Vec<String> = wanted
        .iter()
        .map(|(scope, term)| keys::search_has(ws, scope, term, no))
        .collect();
    let present = kv.get_many(&has)?;
    for (((scope, term), has), present) in wanted.iter().zip(&has).zip(present) {
        if present.is_none() {
            let i = kv.increment(&keys::search_counter(ws, scope, term), 1)? as u64;
            write(kv, &keys::search_posting(ws, scope, term, i), &no)?;
            // Only its presence is read (an old mark is a claim's count).
            write(kv, has, &1)?;
        }
    }
    Ok(())
}

/// Index messages a request posted, after its response (its
/// [`crate::after::After::index`]); stops at the first failure.
pub fn run(kv: &dyn Kv, jobs: &[Index]) -> Result<()> {
    for job in jobs {
        index(kv, &job.ws, job.ticket, &job.text, job.public)?;
    }
    Ok(())
}

/// Which postings a searcher reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Staff: everything.
    All,
    /// The customer side: subjects and public messages.
    Public,
}

/// Tickets having every term of `query`, most recent activity first (at
/// most `limit`), before any visibility filter the caller applies; `keep`
/// decides which tickets the searcher may see.
pub fn search(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    query: &str,
    scope: Scope,
    limit: usize,
    keep: &mut dyn FnMut(&Ticket) -> Result<bool>,
) -> Result<Vec<Ticket>> {
    let scope = match scope {
        Scope::All => "all",
        Scope::Public => "pub",
    };
    // A handful of words narrows enough; more only multiplies the reads.
    let q: Vec<String> = terms(query).into_iter().take(MAX_QUERY_TERMS).collect();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    // The rarest term drives the scan.
    let mut counts = Vec::new();
    for t in &q {
        counts.push((
            read_counter(kv, &keys::search_counter(ws, scope, t))?,
            t.clone(),
        ));
    }
    counts.sort();
    let (n, rarest) = counts[0].clone();
    if n == 0 {
        return Ok(Vec::new());
    }
    let others: Vec<String> = counts[1..].iter().map(|(_, t)| t.clone()).collect();
    let mut found: Vec<Ticket> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut reads = 0;
    let mut i = n;
    while i >= 1 && reads < QUERY_BUDGET && found.len() < limit * 4 {
        reads += 1;
        if let Some(no) = read::<TicketNo>(kv, &keys::search_posting(ws, scope, &rarest, i))? {
            if seen.insert(no) {
                let mut all = true;
                for o in &others {
                    if kv.get(&keys::search_has(ws, scope, o, no))?.is_none() {
                        all = false;
                        break;
                    }
                }
                if all {
                    if let Some(t) = read::<Ticket>(kv, &keys::ticket(ws, no))? {
                        if !t.deleted && keep(&t)? {
                            found.push(t);
                        }
                    }
                }
            }
        }
        i -= 1;
    }
    found.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.no.0.cmp(&a.no.0)));
    found.truncate(limit);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_words_lowercased_once() {
        assert_eq!(
            terms("Parcel 42 lost, PARCEL late! a é-mail"),
            vec!["parcel", "42", "lost", "late", "mail"]
        );
    }
}
