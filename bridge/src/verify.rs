//! `bridge verify`: is the replica what the source says? Reads a consistent snapshot of the source
//! (through the same mapping as replication), waits until the replica's checkpoint has passed that
//! snapshot's position, and compares every item's mapped values. Keys that differ are checked again
//! against fresh snapshots (a change in flight makes a difference that goes away); only keys that
//! differ every time are drift. Exit code: 0 equal, 1 drift, 2 error.

use crate::config::Flavour;
use crate::mapping::{Change, ItemRow, Mapping, Role};
use crate::source::gtid::GtidState;
use crate::source::{self, Position};
use anyhow::Context;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Rounds of re-checking before a difference counts as drift.
const ROUNDS: usize = 4;
/// How long to wait for the replica to pass a snapshot's position.
const CATCH_UP: Duration = Duration::from_secs(120);

/// What is compared per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub on_hand: i64,
    pub deleted: bool,
    pub price_minor: Option<i64>,
    pub sku: Option<String>,
    pub name: String,
}

/// The outcome of a verification.
#[derive(Debug)]
pub enum Verdict {
    Equal { items: usize },
    Drift { keys: Vec<(String, String)> },
}

pub async fn verify(
    source: &mysql_async::Opts,
    flavour: Flavour,
    mapping: &Mapping,
    db: &PgPool,
) -> anyhow::Result<Verdict> {
    let mut suspects: Option<BTreeSet<String>> = None;
    let mut details = BTreeMap::new();
    for round in 0..ROUNDS {
        let (position, expected) = expected_state(source, flavour, mapping).await?;
        let items = expected.len();
        wait_for_checkpoint(db, &position).await?;
        let actual = replica_state(db).await?;
        let mut differing = BTreeSet::new();
        for key in expected.keys().chain(actual.keys()) {
            let want = expected.get(key);
            let got = actual.get(key);
            // A key the source no longer has must be a tombstone in the replica.
            let same = match (want, got) {
                (Some(w), Some(g)) => w == g,
                (None, Some(g)) => g.deleted,
                (Some(_), None) | (None, None) => false,
            };
            if !same {
                details.insert(key.clone(), format!("source {want:?}, replica {got:?}"));
                differing.insert(key.clone());
            }
        }
        let still = match suspects {
            None => differing,
            Some(previous) => previous.intersection(&differing).cloned().collect(),
        };
        tracing::info!(round, position = %position.label(), differing = still.len(), "verify round");
        if still.is_empty() {
            return Ok(Verdict::Equal { items });
        }
        suspects = Some(still);
    }
    let keys = suspects.unwrap_or_default().into_iter().map(|k| {
        let detail = details.get(&k).cloned().unwrap_or_default();
        (k, detail)
    });
    Ok(Verdict::Drift {
        keys: keys.collect(),
    })
}

/// The mapped state of every item in one consistent source snapshot.
async fn expected_state(
    source: &mysql_async::Opts,
    flavour: Flavour,
    mapping: &Mapping,
) -> anyhow::Result<(Position, HashMap<String, Expected>)> {
    let (tx, mut rx) = mpsc::channel::<Change>(4096);
    let roles = mapping.roles();
    let read = source::snapshot::read(source, flavour, mapping, &roles, tx);
    let collect = async {
        let (mut items, mut levels, mut locations) = (
            HashMap::<String, ItemRow>::new(),
            Vec::new(),
            HashMap::new(),
        );
        while let Some(change) = rx.recv().await {
            match change {
                Change::Item {
                    key,
                    row: Some(row),
                } => {
                    items.insert(key.as_str().to_owned(), row);
                }
                Change::Level { row: Some(row), .. } => levels.push(row),
                Change::Lookup {
                    role: Role::Locations,
                    key,
                    row: Some(row),
                } => {
                    locations.insert(key, row.flag.unwrap_or(false));
                }
                _ => {}
            }
        }
        anyhow::Ok((items, levels, locations))
    };
    let (taken, (items, levels, locations)) = tokio::try_join!(read, collect)?;
    // The replica must hold everything the copy holds before the two are compared.
    let position = taken.consistent_after;
    let mut sums: HashMap<String, i64> = HashMap::new();
    for level in levels {
        let sellable = match (&level.location_key, mapping.locations.is_some()) {
            (_, false) => true,
            (Some(loc), true) => locations.get(loc).copied().unwrap_or(false),
            (None, true) => false,
        };
        if sellable {
            *sums.entry(level.item_key.as_str().to_owned()).or_default() += level.quantity;
        }
    }
    let expected = items
        .into_iter()
        .map(|(key, row)| {
            let on_hand = sums
                .get(&key)
                .copied()
                .unwrap_or(0)
                .clamp(0, i64::from(i32::MAX));
            let e = Expected {
                on_hand,
                deleted: row.deleted,
                price_minor: row.price_minor,
                sku: row.sku,
                name: row.name,
            };
            (key, e)
        })
        .collect();
    Ok((position, expected))
}

async fn wait_for_checkpoint(db: &PgPool, target: &Position) -> anyhow::Result<()> {
    let started = Instant::now();
    let want = GtidState::parse(target.gtid.as_deref());
    loop {
        let row: Option<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT gtid, binlog_file, binlog_pos FROM stock.checkpoint WHERE snapshot_done",
        )
        .fetch_optional(db)
        .await?;
        if let Some((gtid, file, pos)) = row {
            let passed = match (&target.gtid, gtid) {
                (Some(_), Some(ours)) => want.ahead_of(&GtidState::parse(Some(&ours))).is_none(),
                _ => file.is_some_and(|f| {
                    (f.as_str(), pos.unwrap_or(0) as u64) >= (target.file.as_str(), target.pos)
                }),
            };
            if passed {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < CATCH_UP,
            "the replica did not reach {} within {CATCH_UP:?}",
            target.label()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn replica_state(db: &PgPool) -> anyhow::Result<HashMap<String, Expected>> {
    #[derive(sqlx::FromRow)]
    struct Replica {
        item_key: String,
        on_hand: i32,
        deleted: bool,
        price_minor: Option<i64>,
        sku: Option<String>,
        name: String,
    }
    let rows: Vec<Replica> = sqlx::query_as(
        "SELECT item_key, on_hand, deleted, price_minor, sku, name FROM stock.items",
    )
    .fetch_all(db)
    .await
    .context("read the replica")?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let e = Expected {
                on_hand: i64::from(r.on_hand),
                deleted: r.deleted,
                price_minor: r.price_minor,
                sku: r.sku,
                name: r.name,
            };
            (r.item_key, e)
        })
        .collect())
}
