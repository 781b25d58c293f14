//! Runs one planned job as one transaction, with the statements the PHP app issues: the item row
//! is read `FOR UPDATE` first (so two screens on one item queue rather than deadlock), levels are
//! upserted with `ON DUPLICATE KEY UPDATE`, new ids come from `id_sequences`. Returns what was done;
//! deciding whether to retry is the caller's business.

use mysql_async::{Pool, TxOpts, Value, prelude::Queryable};
use time::PrimitiveDateTime;

use super::plan::{Job, Kind, PriceChange, SavedItem, sku};
use crate::legacy::{
    catalog::{LOCATIONS, MAIN},
    pictures::Picture,
};

/// What a committed transaction did.
#[derive(Debug)]
pub struct Applied {
    /// Usually the job's kind; another when the job found nothing to act on (a move from an item
    /// with no stock becomes goods received).
    pub kind: Kind,
    pub new_id: Option<u64>,
    pub saved: Option<Box<SavedItem>>,
}

impl Applied {
    fn did(kind: Kind) -> Self {
        Self {
            kind,
            new_id: None,
            saved: None,
        }
    }
}

/// The quantity booked in when a job falls back to goods received.
const FALLBACK_DELIVERY: i32 = 12;

const UPSERT_ADD: &str = "INSERT INTO stock_levels (item_id, location_id, quantity, updated_at) \
     VALUES (?, ?, ?, NOW(6)) \
     ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), updated_at = NOW(6)";

const UPSERT_SET: &str = "INSERT INTO stock_levels (item_id, location_id, quantity, updated_at) \
     VALUES (?, ?, ?, NOW(6)) \
     ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), updated_at = NOW(6)";

const INSERT_ITEM: &str = "INSERT INTO items (id, sku, name, description, category_id, price, vat_included, \
     image, image_mime, supplier_note, is_deleted, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NOW(6))";

const INSERT_NEW_ITEM: &str = "INSERT INTO items (id, sku, name, description, category_id, price, vat_included, \
     image, image_mime, supplier_note, is_deleted, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NOW(6), NOW(6))";

type SavedRow = (
    String,
    String,
    Option<String>,
    Option<u32>,
    String,
    bool,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    PrimitiveDateTime,
);

/// Runs `job` in one transaction on a connection from `pool`; `picture` is the job's rendered
/// picture, if it has one.
pub async fn apply(
    pool: &Pool,
    job: &Job,
    picture: Option<&Picture>,
) -> Result<Applied, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;

    // Every job on an existing item starts by locking it, as the app's edit screens do. An item
    // that is gone (deleted behind the simulator's back) makes the job a no-op.
    let target = match job {
        Job::NewItem(_) | Job::Reinserted { .. } => None,
        Job::GoodsReceived { item, .. }
        | Job::Move { item, .. }
        | Job::Correction { item, .. }
        | Job::LevelDeleted { item, .. }
        | Job::PriceChange { item, .. }
        | Job::ImageReplaced { item, .. }
        | Job::SoftDeleted { item }
        | Job::Undeleted { item }
        | Job::HardDeleted { item } => Some(*item),
    };
    if let Some(item) = target {
        let found: Option<u64> = tx
            .exec_first("SELECT id FROM items WHERE id = ? FOR UPDATE", (item,))
            .await?;
        if found.is_none() {
            tx.commit().await?;
            return Ok(Applied::did(job.kind()));
        }
    }

    let applied = match job {
        Job::GoodsReceived {
            item,
            location,
            quantity,
        } => {
            tx.exec_drop(UPSERT_ADD, (item, location, quantity)).await?;
            tx.exec_drop("UPDATE items SET updated_at = NOW(6) WHERE id = ?", (item,))
                .await?;
            Applied::did(Kind::GoodsReceived)
        }
        Job::Move {
            item,
            pick,
            to,
            share,
        } => {
            let stocked: Vec<(u32, i32)> = tx
                .exec(
                    "SELECT location_id, quantity FROM stock_levels WHERE item_id = ? AND quantity > 0 \
                     ORDER BY location_id FOR UPDATE",
                    (item,),
                )
                .await?;
            if stocked.is_empty() {
                tx.exec_drop(UPSERT_ADD, (item, MAIN, FALLBACK_DELIVERY))
                    .await?;
                Applied::did(Kind::GoodsReceived)
            } else {
                let (from, on_hand) = stocked[*pick as usize % stocked.len()];
                let to = if *to == from {
                    LOCATIONS[(from as usize) % LOCATIONS.len()].id
                } else {
                    *to
                };
                let moved = ((f64::from(on_hand) * share).round() as i32).clamp(1, on_hand);
                if moved == on_hand && pick % 2 == 1 {
                    // Location emptied: staff delete the row rather than leave a zero.
                    tx.exec_drop(
                        "DELETE FROM stock_levels WHERE item_id = ? AND location_id = ?",
                        (item, from),
                    )
                    .await?;
                } else {
                    tx.exec_drop(
                        "UPDATE stock_levels SET quantity = quantity - ?, updated_at = NOW(6) \
                         WHERE item_id = ? AND location_id = ?",
                        (moved, item, from),
                    )
                    .await?;
                }
                tx.exec_drop(UPSERT_ADD, (item, to, moved)).await?;
                Applied::did(Kind::Move)
            }
        }
        Job::Correction {
            item,
            location,
            quantity,
        } => {
            tx.exec_drop(UPSERT_SET, (item, location, quantity)).await?;
            Applied::did(Kind::Correction)
        }
        Job::LevelDeleted { item, pick } => {
            let rows: Vec<i32> = tx
                .exec(
                    "SELECT id FROM stock_levels WHERE item_id = ? ORDER BY id FOR UPDATE",
                    (item,),
                )
                .await?;
            if rows.is_empty() {
                tx.exec_drop(UPSERT_ADD, (item, MAIN, FALLBACK_DELIVERY))
                    .await?;
                Applied::did(Kind::GoodsReceived)
            } else {
                let id = rows[*pick as usize % rows.len()];
                tx.exec_drop("DELETE FROM stock_levels WHERE id = ?", (id,))
                    .await?;
                Applied::did(Kind::LevelDeleted)
            }
        }
        Job::NewItem(new) => {
            tx.query_drop("UPDATE id_sequences SET last_id = LAST_INSERT_ID(last_id + 1) WHERE name = 'items'")
                .await?;
            let id: u64 = tx
                .query_first("SELECT LAST_INSERT_ID()")
                .await?
                .unwrap_or_default();
            let params: Vec<Value> = vec![
                id.into(),
                sku(new.sku_prefix, id).into(),
                new.name.as_str().into(),
                new.description.as_deref().into(),
                new.category_id.into(),
                new.price.as_str().into(),
                true.into(),
                picture.map(|p| p.bytes.as_slice()).into(),
                picture.map(|p| p.mime).into(),
                Value::NULL,
            ];
            tx.exec_drop(INSERT_NEW_ITEM, params).await?;
            tx.exec_batch(
                UPSERT_SET,
                new.levels
                    .iter()
                    .map(|(location, quantity)| (id, location, quantity)),
            )
            .await?;
            Applied {
                kind: Kind::NewItem,
                new_id: Some(id),
                saved: None,
            }
        }
        Job::PriceChange { item, change } => {
            match change {
                PriceChange::SetTo(price) => {
                    tx.exec_drop("UPDATE items SET price = ?, updated_at = NOW(6) WHERE id = ?", (price, item))
                        .await?
                }
                PriceChange::Scale(factor) => {
                    tx.exec_drop(
                        "UPDATE items SET price = ROUND(price * CAST(? AS DECIMAL(6,4)), 2), updated_at = NOW(6) \
                         WHERE id = ?",
                        (factor, item),
                    )
                    .await?
                }
            }
            Applied::did(Kind::PriceChange)
        }
        Job::ImageReplaced { item, .. } => {
            let image: Value = picture.map(|p| p.bytes.as_slice()).into();
            let mime: Value = picture.map(|p| p.mime).into();
            tx.exec_drop(
                "UPDATE items SET image = ?, image_mime = ?, updated_at = NOW(6) WHERE id = ?",
                (image, mime, item),
            )
            .await?;
            Applied::did(Kind::ImageReplaced)
        }
        Job::SoftDeleted { item } | Job::Undeleted { item } => {
            let deleted = matches!(job, Job::SoftDeleted { .. });
            tx.exec_drop(
                "UPDATE items SET is_deleted = ?, updated_at = NOW(6) WHERE id = ?",
                (deleted, item),
            )
            .await?;
            Applied::did(job.kind())
        }
        Job::HardDeleted { item } => {
            let row: Option<SavedRow> = tx
                .exec_first(
                    "SELECT sku, name, description, category_id, price, vat_included, image, image_mime, \
                     supplier_note, created_at FROM items WHERE id = ?",
                    (item,),
                )
                .await?;
            tx.exec_drop("DELETE FROM stock_levels WHERE item_id = ?", (item,))
                .await?;
            tx.exec_drop("DELETE FROM items WHERE id = ?", (item,))
                .await?;
            let saved = row.map(|r| {
                Box::new(SavedItem {
                    id: *item,
                    sku: r.0,
                    name: r.1,
                    description: r.2,
                    category_id: r.3,
                    price: r.4,
                    vat_included: r.5,
                    image: r.6,
                    image_mime: r.7,
                    supplier_note: r.8,
                    created_at: r.9,
                })
            });
            Applied {
                kind: Kind::HardDeleted,
                new_id: None,
                saved,
            }
        }
        Job::Reinserted { saved, quantity } => {
            let params: Vec<Value> = vec![
                saved.id.into(),
                saved.sku.as_str().into(),
                saved.name.as_str().into(),
                saved.description.as_deref().into(),
                saved.category_id.into(),
                saved.price.as_str().into(),
                saved.vat_included.into(),
                saved.image.as_deref().into(),
                saved.image_mime.as_deref().into(),
                saved.supplier_note.as_deref().into(),
                saved.created_at.into(),
            ];
            tx.exec_drop(INSERT_ITEM, params).await?;
            tx.exec_drop(UPSERT_SET, (saved.id, MAIN, quantity)).await?;
            Applied::did(Kind::Reinserted)
        }
    };
    tx.commit().await?;
    Ok(applied)
}
