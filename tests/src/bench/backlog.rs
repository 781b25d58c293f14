//! The stated catch-up backlog (the research anchor's mix): row changes written into a scratch
//! legacy source as fast as it takes them, by K connections that each own the items whose id is
//! congruent to theirs mod K, so no two connections touch one row (no lock waits or deadlocks by
//! design; one the server reports anyway is retried, and counted). Transactions carry 1–10 row
//! changes (uniform, mean 5.5); each change is, with these odds:
//! - 70 %: a level row's quantity set (`UPDATE stock_levels SET quantity = ? WHERE id = ?`), now
//!   and then below zero, as in the legacy data;
//! - 20 %: an item's other columns (`UPDATE items SET price = ?, name = ? WHERE id = ?`), prices
//!   with two decimals;
//! - 10 %: a level row deleted (its (item, location) pair freed) or inserted at a free pair, half
//!   each.
//!
//! Planning ([`Share::plan`]) uses only the connection's seeded generator and its own memory of
//! its rows, and inserted rows get ids of the connection's own, so one seed on one dataset writes
//! the same row changes every time (only the interleaving of the connections differs). Running the
//! plan against the server is [`write`]'s job; it must not be used on the stack's legacy database.

use super::HAT_STYLES;
use crate::legacy::catalog::LOCATIONS;
use crate::scratch_mariadb::ScratchMariaDb;
use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Row changes per transaction: uniform in 1..=MAX_ROWS.
pub const MAX_ROWS: usize = 10;
/// Out of 100: quantity updates, then updates of other item columns; the rest inserts and deletes.
const QUANTITY_ODDS: u32 = 70;
const ITEM_ODDS: u32 = 20;
/// A deadlock or lock wait retried this often before the writer gives up.
const ATTEMPTS: u32 = 10;

const COLOURS: [&str; 8] = [
    "Black", "Tweed", "Scarlet", "Olive", "Navy", "Mustard", "Plum", "Striped",
];

/// What to write.
#[derive(Clone, Copy, Debug)]
pub struct Stated {
    /// Row changes in all.
    pub changes: u64,
    /// Connections writing at once (each owns the items `id mod writers` = its number).
    pub writers: usize,
    pub seed: u64,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    /// Row changes the server reported (rows affected).
    pub rows: u64,
    /// Row changes planned (`rows` should equal it: every planned change alters its row).
    pub planned: u64,
    pub transactions: u64,
    /// Transactions the server rolled back (deadlock or lock wait) and that were run again.
    pub retries: u64,
    pub elapsed: Duration,
    /// Binlog bytes written meanwhile (`SHOW BINARY LOGS` sizes after minus before).
    pub binlog_bytes: u64,
}

/// One row change of the backlog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Quantity {
        level: i64,
        quantity: i32,
    },
    Item {
        item: u64,
        /// In pence: written with two decimals.
        price: i64,
        name: String,
    },
    Insert {
        level: i64,
        item: u64,
        location: u32,
        quantity: i32,
    },
    Delete {
        level: i64,
    },
}

/// A `stock_levels` row as a writer remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub id: i64,
    pub item: u64,
    pub location: u32,
    pub quantity: i32,
}

/// One writer's part of the source: its items, its level rows, the (item, location) pairs free for
/// an insert, and the ids it gives inserted rows.
pub struct Share {
    items: Vec<u64>,
    levels: Vec<Level>,
    free: Vec<(u64, u32)>,
    next_id: i64,
    id_step: i64,
    renamed: u64,
    rng: ChaCha8Rng,
}

impl Share {
    /// `items` and `levels` in a stable order (by id); inserted rows get ids `first_id`,
    /// `first_id + id_step`, …; the generator is `seed`'s stream `stream`.
    pub fn new(
        items: Vec<u64>,
        levels: Vec<Level>,
        (first_id, id_step): (i64, i64),
        (seed, stream): (u64, u64),
    ) -> Self {
        let used: BTreeSet<(u64, u32)> = levels.iter().map(|l| (l.item, l.location)).collect();
        let free = items
            .iter()
            .flat_map(|&item| LOCATIONS.iter().map(move |l| (item, l.id)))
            .filter(|pair| !used.contains(pair))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self {
            items,
            levels,
            free,
            next_id: first_id,
            id_step,
            renamed: 0,
            rng,
        }
    }

    /// The next transaction: 1..=[`MAX_ROWS`] row changes (uniform), at most `limit`. The share's
    /// memory is updated as if it committed.
    pub fn plan(&mut self, limit: usize) -> Vec<Change> {
        let size = self.rng.random_range(1..=MAX_ROWS).min(limit);
        (0..size).map(|_| self.change()).collect()
    }

    fn change(&mut self) -> Change {
        let roll = self.rng.random_range(0..100);
        if roll < QUANTITY_ODDS && !self.levels.is_empty() {
            let n = self.rng.random_range(0..self.levels.len());
            let level = &mut self.levels[n];
            let mut quantity = self.rng.random_range(-5..=60);
            if quantity == level.quantity {
                quantity += 1;
            }
            level.quantity = quantity;
            Change::Quantity {
                level: level.id,
                quantity,
            }
        } else if roll < QUANTITY_ODDS + ITEM_ODDS
            || (self.levels.is_empty() && self.free.is_empty())
        {
            let item = self.items[self.rng.random_range(0..self.items.len())];
            self.renamed += 1;
            // The revision number makes every name new, so the row always changes.
            Change::Item {
                item,
                price: self.rng.random_range(500..=15_000),
                name: format!(
                    "{} {} No. {item} (rev. {})",
                    COLOURS[self.rng.random_range(0..COLOURS.len())],
                    HAT_STYLES[self.rng.random_range(0..HAT_STYLES.len())],
                    self.renamed
                ),
            }
        } else if self.free.is_empty() || (!self.levels.is_empty() && self.rng.random_bool(0.5)) {
            let n = self.rng.random_range(0..self.levels.len());
            let gone = self.levels.swap_remove(n);
            self.free.push((gone.item, gone.location));
            Change::Delete { level: gone.id }
        } else {
            let n = self.rng.random_range(0..self.free.len());
            let (item, location) = self.free.swap_remove(n);
            let level = Level {
                id: self.next_id,
                item,
                location,
                quantity: self.rng.random_range(-5..=60),
            };
            self.next_id += self.id_step;
            self.levels.push(level);
            Change::Insert {
                level: level.id,
                item,
                location,
                quantity: level.quantity,
            }
        }
    }
}

/// Writes `stated`'s backlog into `server`'s `legacy` database (made by
/// [`super::dataset::legacy_source`]), `stated.writers` connections at once.
pub async fn write(server: &ScratchMariaDb, stated: &Stated) -> anyhow::Result<Written> {
    anyhow::ensure!(stated.writers > 0, "at least one writer");
    let mut root = legacy_conn(server).await?;
    let before = binlog_bytes(&mut root).await?;
    let items: Vec<u64> = root.query("SELECT id FROM items ORDER BY id").await?;
    let levels: Vec<(i64, u64, u32, i32)> = root
        .query("SELECT id, item_id, location_id, quantity FROM stock_levels ORDER BY id")
        .await?;
    let first_id = levels.iter().map(|l| l.0).max().unwrap_or(0) + 1;
    let k = stated.writers as u64;
    let mut writers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for w in 0..k {
        let share = Share::new(
            items.iter().copied().filter(|i| i % k == w).collect(),
            levels
                .iter()
                .filter(|l| l.1 % k == w)
                .map(|&(id, item, location, quantity)| Level {
                    id,
                    item,
                    location,
                    quantity,
                })
                .collect(),
            (first_id + w as i64, k as i64),
            (stated.seed, w),
        );
        let changes = stated.changes / k + u64::from(w < stated.changes % k);
        let conn = legacy_conn(server).await?;
        writers.spawn(write_share(conn, share, changes));
    }
    let mut written = Written::default();
    while let Some(done) = writers.join_next().await {
        let part = done??;
        written.rows += part.rows;
        written.planned += part.planned;
        written.transactions += part.transactions;
        written.retries += part.retries;
    }
    written.elapsed = started.elapsed();
    written.binlog_bytes = binlog_bytes(&mut root).await?.saturating_sub(before);
    root.disconnect().await.ok();
    Ok(written)
}

/// One writer: transactions from `share` until `changes` row changes are written.
async fn write_share(mut conn: Conn, mut share: Share, changes: u64) -> anyhow::Result<Written> {
    let mut written = Written::default();
    while written.planned < changes {
        let limit = usize::try_from(changes - written.planned).unwrap_or(MAX_ROWS);
        let changes = share.plan(limit);
        let mut attempt = 1;
        let rows = loop {
            match commit(&mut conn, &changes).await {
                Ok(rows) => break rows,
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    attempt += 1;
                    written.retries += 1;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("backlog transaction {changes:?}"));
                }
            }
        };
        written.rows += rows;
        written.planned += changes.len() as u64;
        written.transactions += 1;
    }
    conn.disconnect().await.ok();
    Ok(written)
}

/// Runs `changes` in one transaction; returns the rows affected.
async fn commit(conn: &mut Conn, changes: &[Change]) -> Result<u64, mysql_async::Error> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let mut rows = 0;
    for change in changes {
        match change {
            Change::Quantity { level, quantity } => {
                tx.exec_drop(
                    "UPDATE stock_levels SET quantity = ? WHERE id = ?",
                    (quantity, level),
                )
                .await?;
            }
            Change::Item { item, price, name } => {
                let price = format!("{}.{:02}", price / 100, price % 100);
                tx.exec_drop(
                    "UPDATE items SET price = ?, name = ? WHERE id = ?",
                    (price, name, item),
                )
                .await?;
            }
            Change::Insert {
                level,
                item,
                location,
                quantity,
            } => {
                tx.exec_drop(
                    "INSERT INTO stock_levels (id, item_id, location_id, quantity) \
                     VALUES (?, ?, ?, ?)",
                    (level, item, location, quantity),
                )
                .await?;
            }
            Change::Delete { level } => {
                tx.exec_drop("DELETE FROM stock_levels WHERE id = ?", (level,))
                    .await?;
            }
        }
        rows += tx.affected_rows();
    }
    tx.commit().await?;
    Ok(rows)
}

/// A deadlock (1213) or lock wait timeout (1205): the transaction is worth running again.
fn retryable(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1213 || s.code == 1205)
}

async fn legacy_conn(server: &ScratchMariaDb) -> anyhow::Result<Conn> {
    let mut conn = server.root().await?;
    conn.query_drop("USE legacy").await?;
    Ok(conn)
}

/// The sizes of the server's binlog files, summed.
pub async fn binlog_bytes(conn: &mut Conn) -> anyhow::Result<u64> {
    let files: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    files
        .iter()
        .map(|f| f.get::<u64, _>(1).context("SHOW BINARY LOGS: File_size"))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Items 1..=n with three level rows each, every location but one (as the dataset).
    fn share(n: u64, seed: u64) -> Share {
        let items: Vec<u64> = (1..=n).collect();
        let mut levels = Vec::new();
        for &item in &items {
            for location in (1..=4).filter(|l| *l != 1 + (item % 4) as u32) {
                levels.push(Level {
                    id: levels.len() as i64 + 1,
                    item,
                    location,
                    quantity: 3,
                });
            }
        }
        Share::new(items, levels, (1_000_000, 1), (seed, 0))
    }

    #[test]
    fn a_seed_plans_the_same_backlog() {
        let (mut a, mut b) = (share(50, 7), share(50, 7));
        for _ in 0..500 {
            assert_eq!(a.plan(MAX_ROWS), b.plan(MAX_ROWS));
        }
        let mut c = share(50, 8);
        let differs = (0..20).any(|_| a.plan(MAX_ROWS) != c.plan(MAX_ROWS));
        assert!(differs, "another seed plans another backlog");
    }

    #[test]
    fn the_mix_and_transaction_sizes_are_the_stated_ones() {
        let mut s = share(200, 1);
        let (mut quantity, mut item, mut level_rows, mut transactions) = (0, 0, 0, 0);
        let mut sizes = BTreeMap::new();
        while quantity + item + level_rows < 200_000 {
            let t = s.plan(MAX_ROWS);
            *sizes.entry(t.len()).or_insert(0) += 1;
            transactions += 1;
            for change in t {
                match change {
                    Change::Quantity { .. } => quantity += 1,
                    Change::Item { price, .. } => {
                        assert!((500..=15_000).contains(&price));
                        item += 1;
                    }
                    Change::Insert { .. } | Change::Delete { .. } => level_rows += 1,
                }
            }
        }
        let all = f64::from(quantity + item + level_rows);
        let share_of = |n: i32| f64::from(n) / all;
        assert!((share_of(quantity) - 0.70).abs() < 0.01, "{quantity}");
        assert!((share_of(item) - 0.20).abs() < 0.01, "{item}");
        assert!((share_of(level_rows) - 0.10).abs() < 0.01, "{level_rows}");
        let mean = all / f64::from(transactions);
        assert!((mean - 5.5).abs() < 0.1, "mean size {mean}");
        assert_eq!(
            sizes.keys().copied().collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_change_alters_a_row_that_is_there_and_pairs_stay_unique() {
        let mut s = share(30, 3);
        let mut rows: BTreeMap<i64, (u64, u32, i32)> = s
            .levels
            .iter()
            .map(|l| (l.id, (l.item, l.location, l.quantity)))
            .collect();
        let mut names = BTreeSet::new();
        for _ in 0..5_000 {
            for change in s.plan(MAX_ROWS) {
                match change {
                    Change::Quantity { level, quantity } => {
                        let row = rows
                            .get_mut(&level)
                            .expect("an update of a row that is there");
                        assert_ne!(row.2, quantity, "the quantity changes");
                        row.2 = quantity;
                    }
                    Change::Item { item, name, .. } => {
                        assert!((1..=30).contains(&item));
                        assert!(names.insert(name), "every name is new");
                    }
                    Change::Insert {
                        level,
                        item,
                        location,
                        quantity,
                    } => {
                        assert!(
                            !rows.values().any(|r| (r.0, r.1) == (item, location)),
                            "an insert at a free pair"
                        );
                        assert!(rows.insert(level, (item, location, quantity)).is_none());
                    }
                    Change::Delete { level } => {
                        assert!(
                            rows.remove(&level).is_some(),
                            "a delete of a row that is there"
                        );
                    }
                }
            }
        }
        assert_eq!(
            rows.len() + s.free.len(),
            30 * 4,
            "each pair is a row or free"
        );
    }

    /// The short last transaction: a writer stops at exactly its number of changes.
    #[test]
    fn a_plan_keeps_to_its_limit() {
        let mut s = share(10, 2);
        for limit in 1..=MAX_ROWS {
            for _ in 0..50 {
                assert!(s.plan(limit).len() <= limit);
            }
        }
    }
}
