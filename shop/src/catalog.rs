//! The catalogue as pages see it: replica data behind a `moka` cache, and the lag guard.
//!
//! The cache holds catalogue data only (hats, lists of hats, categories): nothing of a visitor's,
//! no rendered page. It is kept honest by the shared `LISTEN stock_changed` connection
//! (`live::listener`), which calls [`Catalogue::apply`] for every notification and
//! [`Catalogue::set_listening`] when the connection is lost or back:
//! - while nobody listens, nothing is served from or put into the cache (a change could go unseen);
//! - every entry remembers the change counter at the moment its load *started*; an entry that began
//!   loading before the last change of its key (or before the last flush) is thrown away when read,
//!   so a load racing a notification can never leave an old value behind;
//! - lists and categories are dropped on any change: a renamed or re-categorised hat moves between
//!   lists, and the notification does not say which field changed.
//!
//! Freshness (`stock.freshness`) is read at most once a second: staleness grows by itself between
//! notifications, so it is re-read, never invalidated.

use crate::db::catalog::{self as queries, Card, Category, Product};
use crate::domain::search::SearchQuery;
use crate::domain::stock::{Lag, LagLimits, StockWording};
use contracts::StockChanged;
use moka::future::Cache;
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A safety net only: entries are dropped by notifications, this bounds the damage of a listener
/// that is connected but silently deaf (a half-open TCP connection).
const MAX_ENTRY_AGE: Duration = Duration::from_secs(600);
/// How old a freshness reading may be.
const FRESHNESS_READ_EVERY: Duration = Duration::from_secs(1);
/// Cards held by all cached lists together (a list weighs its number of cards).
const MAX_CACHED_CARDS: u64 = 200_000;
const MAX_CACHED_PRODUCTS: u64 = 20_000;

/// Which list of hats.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListKey {
    All,
    /// By the category's name as the replica holds it.
    Category(String),
    Search(SearchQuery),
}

/// A category as the navigation shows it, with a URL slug made from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryLink {
    pub name: String,
    pub slug: String,
    pub hats: i64,
}

/// Settings the catalogue reads once.
#[derive(Clone, Copy, Debug)]
pub struct CatalogueSettings {
    pub page_size: usize,
    pub low_stock_threshold: i32,
    pub lag: LagLimits,
    /// `false`: nothing is cached, every read goes to the replica (for benchmarks).
    pub cache: bool,
}

struct Entry<V> {
    /// The change counter when the load began.
    started: u64,
    value: Arc<V>,
}

impl<V> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Self {
            started: self.started,
            value: Arc::clone(&self.value),
        }
    }
}

#[derive(Clone, Copy)]
struct FreshnessReading {
    staleness: Option<Duration>,
    read_at: Instant,
}

/// Change counters: which cached entries may still be used.
#[derive(Default)]
struct Validity {
    /// Bumped by every notification and every flush.
    counter: AtomicU64,
    /// Counter value of the last flush: older entries are void.
    flushed: AtomicU64,
    /// Counter value of the last change of any kind: older lists are void.
    any_change: AtomicU64,
    /// Counter value of the last change per item key, since the last flush.
    touched: Mutex<HashMap<String, u64>>,
    /// Whether the shared listener is connected (and so whether the cache may be used).
    listening: AtomicBool,
}

pub struct Catalogue {
    db: PgPool,
    settings: CatalogueSettings,
    products: Cache<String, Entry<Option<Product>>>,
    lists: Cache<ListKey, Entry<Vec<Card>>>,
    categories: Cache<(), Entry<Vec<CategoryLink>>>,
    freshness: Mutex<Option<FreshnessReading>>,
    validity: Validity,
}

impl Catalogue {
    pub fn new(db: PgPool, settings: CatalogueSettings) -> Self {
        Self {
            db,
            settings,
            products: Cache::builder()
                .max_capacity(MAX_CACHED_PRODUCTS)
                .time_to_live(MAX_ENTRY_AGE)
                .build(),
            lists: Cache::builder()
                .max_capacity(MAX_CACHED_CARDS)
                .weigher(|_, e: &Entry<Vec<Card>>| {
                    u32::try_from(e.value.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(1)
                })
                .time_to_live(MAX_ENTRY_AGE)
                .build(),
            categories: Cache::builder()
                .max_capacity(1)
                .time_to_live(MAX_ENTRY_AGE)
                .build(),
            freshness: Mutex::new(None),
            validity: Validity::default(),
        }
    }

    pub const fn settings(&self) -> &CatalogueSettings {
        &self.settings
    }

    /// One hat, tombstones and unsellable ones included; `None` for an unknown key.
    pub async fn product(&self, item_key: &str) -> anyhow::Result<Arc<Option<Product>>> {
        let v = &self.validity;
        self.cached(
            &self.products,
            item_key.to_owned(),
            || {
                let touched = v
                    .touched
                    .lock()
                    .map_or(0, |t| t.get(item_key).copied().unwrap_or(0));
                touched.max(v.flushed.load(Ordering::SeqCst))
            },
            || queries::product(&self.db, item_key),
        )
        .await
    }

    pub async fn list(&self, key: &ListKey) -> anyhow::Result<Arc<Vec<Card>>> {
        let v = &self.validity;
        self.cached(
            &self.lists,
            key.clone(),
            || v.any_change.load(Ordering::SeqCst),
            || async {
                match key {
                    ListKey::All => queries::all_hats(&self.db).await,
                    ListKey::Category(name) => queries::hats_in_category(&self.db, name).await,
                    ListKey::Search(query) => queries::search_hats(&self.db, query).await,
                }
            },
        )
        .await
    }

    /// Categories with sellable hats, with slugs that are unique among them.
    pub async fn categories(&self) -> anyhow::Result<Arc<Vec<CategoryLink>>> {
        let v = &self.validity;
        self.cached(
            &self.categories,
            (),
            || v.any_change.load(Ordering::SeqCst),
            || async { queries::categories(&self.db).await.map(with_slugs) },
        )
        .await
    }

    /// How the replica's staleness stands against the lag guard's limits, read at most once a
    /// second. Between readings the staleness is advanced by this process's monotonic clock: that
    /// measures an interval here, it does not compare two hosts' clocks.
    pub async fn lag(&self) -> anyhow::Result<Lag> {
        let recent = self
            .freshness
            .lock()
            .ok()
            .and_then(|r| *r)
            .filter(|r| r.read_at.elapsed() < FRESHNESS_READ_EVERY);
        let reading = match recent {
            Some(reading) => reading,
            None => {
                let read_at = Instant::now();
                let staleness = queries::staleness(&self.db).await?;
                let reading = FreshnessReading { staleness, read_at };
                if let Ok(mut slot) = self.freshness.lock() {
                    *slot = Some(reading);
                }
                reading
            }
        };
        let now = reading
            .staleness
            .map(|s| s.saturating_add(reading.read_at.elapsed()));
        Ok(self.settings.lag.classify(now))
    }

    /// The words for `available` units under the current lag.
    pub fn wording(&self, available: i32, lag: Lag) -> StockWording {
        StockWording::new(available, self.settings.low_stock_threshold, lag)
    }

    /// A notification from the bridge: drop what it touched (everything, for `{"all":true}`).
    pub async fn apply(&self, change: &StockChanged) {
        match change {
            StockChanged::All { .. } => self.flush(),
            StockChanged::Keys { keys, .. } => {
                let v = &self.validity;
                let now = v.counter.fetch_add(1, Ordering::SeqCst) + 1;
                if let Ok(mut touched) = v.touched.lock() {
                    for key in keys {
                        touched.insert(key.as_str().to_owned(), now);
                    }
                }
                v.any_change.store(now, Ordering::SeqCst);
                self.lists.invalidate_all();
                self.categories.invalidate_all();
                for key in keys {
                    self.products.invalidate(key.as_str()).await;
                }
            }
        }
    }

    /// The listener connected (`true`) or lost its connection (`false`). Either way the cache is
    /// emptied: while lost, changes go unseen; once back, anything cached before is suspect.
    pub fn set_listening(&self, listening: bool) {
        if !listening {
            self.validity.listening.store(false, Ordering::SeqCst);
        }
        self.flush();
        if listening {
            self.validity.listening.store(true, Ordering::SeqCst);
        }
    }

    fn flush(&self) {
        let v = &self.validity;
        let now = v.counter.fetch_add(1, Ordering::SeqCst) + 1;
        v.flushed.store(now, Ordering::SeqCst);
        v.any_change.store(now, Ordering::SeqCst);
        if let Ok(mut touched) = v.touched.lock() {
            touched.clear();
        }
        self.products.invalidate_all();
        self.lists.invalidate_all();
        self.categories.invalidate_all();
    }

    /// Through the cache when the listener is connected and the entry is newer than the last
    /// change that concerns it (`valid_from`); straight from the database otherwise.
    async fn cached<K, V, Fut>(
        &self,
        cache: &Cache<K, Entry<V>>,
        key: K,
        valid_from: impl Fn() -> u64,
        load: impl Fn() -> Fut,
    ) -> anyhow::Result<Arc<V>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
        Fut: Future<Output = sqlx::Result<V>>,
    {
        let v = &self.validity;
        // Twice at most: a second void entry means changes are racing us; then just read.
        for _ in 0..2 {
            if !self.settings.cache || !v.listening.load(Ordering::SeqCst) {
                break;
            }
            let entry = cache
                .try_get_with(key.clone(), async {
                    let started = v.counter.load(Ordering::SeqCst);
                    let value = load().await?;
                    Ok::<_, sqlx::Error>(Entry {
                        started,
                        value: Arc::new(value),
                    })
                })
                .await?;
            if entry.started >= valid_from() {
                return Ok(entry.value);
            }
            cache.invalidate(&key).await;
        }
        Ok(Arc::new(load().await?))
    }
}

/// URL slugs from category names: lower-case ASCII letters and digits joined by `-`; a name with
/// none gets `category`; clashes get `-2`, `-3`… in name order, so a slug is stable while the set of
/// categories is.
fn with_slugs(categories: Vec<Category>) -> Vec<CategoryLink> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    categories
        .into_iter()
        .map(|c| {
            let mut base = String::new();
            for ch in c.name.chars() {
                if ch.is_ascii_alphanumeric() {
                    base.push(ch.to_ascii_lowercase());
                } else if !base.is_empty() && !base.ends_with('-') {
                    base.push('-');
                }
            }
            let base = base.trim_end_matches('-');
            let base = if base.is_empty() { "category" } else { base };
            let n = seen.entry(base.to_owned()).or_insert(0);
            *n += 1;
            let slug = if *n == 1 {
                base.to_owned()
            } else {
                format!("{base}-{n}")
            };
            CategoryLink {
                name: c.name,
                slug,
                hats: c.hats,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str) -> Category {
        Category {
            name: name.to_owned(),
            hats: 1,
        }
    }

    #[test]
    fn slugs_are_readable_and_unique() {
        let links = with_slugs(vec![
            cat("Party & Novelty"),
            cat("party novelty"),
            cat("Costume & Fancy Dress"),
            cat("帽子"),
            cat(" Caps "),
        ]);
        let slugs: Vec<&str> = links.iter().map(|l| l.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "party-novelty",
                "party-novelty-2",
                "costume-fancy-dress",
                "category",
                "caps"
            ]
        );
    }
}
