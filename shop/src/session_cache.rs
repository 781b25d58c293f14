//! Each shop process's copy of the sessions its page views read, so that a page view with a
//! session costs no database round trip (docs/BENCHMARKS.md: that round trip was most of a session
//! page's cost).
//!
//! It stays true by three rules:
//! - **Every change notifies.** Triggers (migration `20261204000100_session_changed`) send the
//!   session's id hash on channel [`SESSION_CHANGED_CHANNEL`] whenever its token, account or basket
//!   changes, it ends, or a line of its basket changes — whichever process made the change. The
//!   shop's one shared listener (`live::listener`) drops that entry.
//! - **Nothing is served while nobody listens.** When the listener's connection drops the cache
//!   is emptied and bypassed until it is back (a notification could be missed meanwhile).
//! - **Reads only, and never a read that raced a change.** Only GET and HEAD are answered from
//!   here; a form post reads the database, and `session::forget_around_changes` drops the entry
//!   before it and again before its response leaves, so the page it redirects to shows its
//!   outcome without waiting for the notification. A row read before an invalidation is not stored
//!   after it.
//!
//! Entries also expire (setting `http.session_cache_secs`, 30 s by default), which bounds what a
//! lost notification could cost and keeps the database read's once-a-minute `last_seen_at` touch
//! going.

use crate::session::Session;
use moka::sync::Cache;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The channel the session triggers notify on, with the session's id hash in hex as payload.
pub const SESSION_CHANGED_CHANNEL: &str = "session_changed";
const CAPACITY: u64 = 100_000;

pub struct SessionCache {
    entries: Cache<Vec<u8>, Session>,
    /// False with a time to live of 0: nothing is kept.
    enabled: bool,
    listening: AtomicBool,
    /// Bumped by every invalidation: a row read before one is never stored after it.
    invalidations: AtomicU64,
}

/// Taken before a database read of a session, handed back to [`SessionCache::put`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    /// Entries live at most `time_to_live`; zero keeps nothing (every page view reads the
    /// database, as before the cache existed).
    pub fn new(time_to_live: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(time_to_live.max(Duration::from_secs(1)))
                .build(),
            enabled: !time_to_live.is_zero(),
            listening: AtomicBool::new(false),
            invalidations: AtomicU64::new(0),
        }
    }

    fn usable(&self) -> bool {
        self.enabled && self.listening.load(Ordering::SeqCst)
    }

    /// The cached session of `id_hash`, if the cache may be used now and holds it.
    pub fn get(&self, id_hash: &[u8]) -> Option<Session> {
        if !self.usable() {
            return None;
        }
        let hit = self.entries.get(id_hash);
        metrics::counter!(
            "shop_session_cache_total",
            "outcome" => if hit.is_some() { "hit" } else { "miss" }
        )
        .increment(1);
        hit
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.invalidations.load(Ordering::SeqCst))
    }

    /// Stores a session read from the database after `ticket` was taken, unless an invalidation
    /// came in between (its row may be older than the change notified).
    pub fn put(&self, ticket: Ticket, session: &Session) {
        if !self.usable() || self.invalidations.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        self.entries
            .insert(session.id_hash.clone(), session.clone());
        // An invalidation between the check and the insert may have run before the insert: undo.
        if self.invalidations.load(Ordering::SeqCst) != ticket.0 {
            self.entries.invalidate(&session.id_hash);
        }
    }

    /// Drops one session (a notification, or a form post about to change it).
    pub fn invalidate(&self, id_hash: &[u8]) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(id_hash);
    }

    /// A notification's payload: the id hash in hex; anything else drops everything.
    pub fn apply(&self, payload: &str) {
        match hex::decode(payload.trim()) {
            Ok(id_hash) if id_hash.len() == 32 => self.invalidate(&id_hash),
            _ => {
                tracing::warn!(
                    payload_len = payload.len(),
                    "unreadable session notification: session cache emptied"
                );
                self.invalidate_all();
            }
        }
    }

    fn invalidate_all(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// The shared listener connected (`true`) or lost its connection (`false`). Either way the
    /// cache is emptied: changes may have gone unseen.
    pub fn set_listening(&self, listening: bool) {
        if !listening {
            self.listening.store(false, Ordering::SeqCst);
        }
        self.invalidate_all();
        if listening {
            self.listening.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(byte: u8, units: i64) -> Session {
        Session {
            id_hash: vec![byte; 32],
            csrf_token: "t".into(),
            basket_id: Some(1),
            basket_units: units,
            account: None,
        }
    }

    #[test]
    fn nothing_is_kept_while_nobody_listens_or_when_switched_off() {
        let cache = SessionCache::new(Duration::from_secs(30));
        cache.put(cache.ticket(), &session(1, 2));
        assert!(cache.get(&[1; 32]).is_none(), "not listening yet");
        cache.set_listening(true);
        cache.put(cache.ticket(), &session(1, 2));
        assert_eq!(cache.get(&[1; 32]).map(|s| s.basket_units), Some(2));
        cache.set_listening(false);
        assert!(
            cache.get(&[1; 32]).is_none(),
            "emptied when the listener dropped"
        );
        let off = SessionCache::new(Duration::ZERO);
        off.set_listening(true);
        off.put(off.ticket(), &session(1, 2));
        assert!(off.get(&[1; 32]).is_none());
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_stored() {
        let cache = SessionCache::new(Duration::from_secs(30));
        cache.set_listening(true);
        let before = cache.ticket();
        cache.apply(&hex::encode([1u8; 32]));
        cache.put(before, &session(1, 2));
        assert!(cache.get(&[1; 32]).is_none());
        cache.put(cache.ticket(), &session(1, 3));
        assert_eq!(cache.get(&[1; 32]).map(|s| s.basket_units), Some(3));
        cache.apply(&hex::encode([1u8; 32]));
        assert!(
            cache.get(&[1; 32]).is_none(),
            "the notified session is dropped"
        );
    }

    #[test]
    fn an_unreadable_notification_drops_everything() {
        let cache = SessionCache::new(Duration::from_secs(30));
        cache.set_listening(true);
        cache.put(cache.ticket(), &session(1, 2));
        cache.put(cache.ticket(), &session(2, 2));
        cache.apply("not hex");
        assert!(cache.get(&[1; 32]).is_none() && cache.get(&[2; 32]).is_none());
    }
}
