//! `bridge verify`: is the replica what the source says? Reads a consistent snapshot of the source
//! (through the same mapping as replication), waits until the replica's checkpoint has passed that
//! snapshot's position, and compares every item's mapped values. Keys that differ are checked again
//! against fresh snapshots (a change in flight makes a difference that goes away); only keys that
//! differ every time are drift. The picture an item shows is compared by its hash (the item row's
//! BLOB, or the primary row of a `[pictures]` table by the mapping's rule); not for deleted items,
//! whose pictures garbage collection may forget. Exit code: 0 equal, 1 drift, 2 error.

use crate::config::Flavour;
use crate::mapping::{Change, ItemRow, Mapping, PictureRow, Role};
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
    /// Hex SHA-256 of the picture shown; `None` for none (and for a deleted item).
    pub picture: Option<String>,
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
        let (mut items, mut levels, mut locations, mut pictures) = (
            HashMap::<String, ItemRow>::new(),
            Vec::new(),
            HashMap::new(),
            Vec::new(),
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
                Change::Picture {
                    key,
                    row: Some(row),
                } => pictures.push((key, row)),
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
        anyhow::Ok((items, levels, locations, pictures))
    };
    let (taken, (items, levels, locations, pictures)) = tokio::try_join!(read, collect)?;
    let primaries = primary_pictures(pictures);
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
            let picture = match row.image_sha256 {
                Some(in_the_row) => in_the_row,
                None => primaries.get(&key).cloned(),
            };
            let e = Expected {
                on_hand,
                deleted: row.deleted,
                price_minor: row.price_minor,
                sku: row.sku,
                name: row.name,
                picture: picture.filter(|_| !row.deleted),
            };
            (key, e)
        })
        .collect();
    Ok((position, expected))
}

/// Each item's primary picture among `[pictures]` rows: the lowest rank among the rows holding a
/// picture, then the shortest key, then the lowest (as the bridge works it out in PostgreSQL).
fn primary_pictures(rows: Vec<(String, PictureRow)>) -> HashMap<String, String> {
    // (rank, key length, key, hash): compared as a tuple, the lowest is the primary picture.
    let mut best: HashMap<String, (Vec<i64>, usize, String, String)> = HashMap::new();
    for (key, row) in rows {
        let Some(sha) = row.image_sha256 else {
            continue;
        };
        let candidate = (row.rank, key.len(), key, sha);
        let item = row.item_key.as_str();
        if best.get(item).is_none_or(|held| candidate < *held) {
            best.insert(item.to_owned(), candidate);
        }
    }
    best.into_iter()
        .map(|(item, (_, _, _, sha))| (item, sha))
        .collect()
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
        picture: Option<String>,
    }
    let rows: Vec<Replica> = sqlx::query_as(
        "SELECT i.item_key, i.on_hand, i.deleted, i.price_minor, i.sku, i.name,
                encode(p.source_sha256, 'hex') AS picture
         FROM stock.items i LEFT JOIN stock.images p USING (item_key)",
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
                picture: r.picture.filter(|_| !r.deleted),
            };
            (r.item_key, e)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::ItemKey;

    fn row(item: &str, sha: Option<&str>, rank: &[i64]) -> PictureRow {
        PictureRow {
            item_key: ItemKey::new(item.to_owned()),
            image_sha256: sha.map(str::to_owned),
            rank: rank.to_vec(),
        }
    }

    #[test]
    fn the_primary_picture_is_the_lowest_rank_holding_a_picture_then_the_lowest_key() {
        let rows = vec![
            ("10".to_owned(), row("1", Some("a"), &[0, 2])),
            ("11".to_owned(), row("1", Some("b"), &[0, 1])),
            ("12".to_owned(), row("1", None, &[-1, 0])),
            ("9".to_owned(), row("2", Some("c"), &[5])),
            ("100".to_owned(), row("2", Some("d"), &[5])),
            ("30".to_owned(), row("3", None, &[0])),
        ];
        let primaries = primary_pictures(rows);
        assert_eq!(primaries.get("1").map(String::as_str), Some("b"));
        assert_eq!(
            primaries.get("2").map(String::as_str),
            Some("c"),
            "9 before 100: shorter keys first"
        );
        assert_eq!(
            primaries.get("3"),
            None,
            "a row without a picture is never primary"
        );
    }
}
