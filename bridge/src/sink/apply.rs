//! Applying changes to schema `stock`, as role `bridge`. Every statement is idempotent by the source
//! row's own key (upsert or delete of the full row image), quantities are recomputed as sums from
//! the mirrored level rows (never patched with deltas), and the checkpoint moves in the same
//! transaction, fenced by the leader epoch. Used by both the snapshot and the binlog stream.

use crate::mapping::{Change, ItemRow, LevelRow, LookupRow, Role};
use crate::source::Position;
use anyhow::Context;
use contracts::{ItemKey, StockChanged};
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::BTreeSet;

/// What one transaction's changes touched, for the recomputations and the notification.
#[derive(Debug, Default)]
pub struct Touched {
    pub items: BTreeSet<String>,
    pub skus: BTreeSet<String>,
}

impl Touched {
    fn item(&mut self, key: Option<String>) {
        self.items.extend(key);
    }
    fn sku(&mut self, sku: Option<String>) {
        self.skus.extend(sku);
    }
}

/// The fixed parts of an apply: which source tables the rows come from and the generation.
pub struct Target<'a> {
    pub items_table: &'a str,
    pub levels_table: &'a str,
    pub generation: i64,
    /// ISO code of the mapped prices' currency.
    pub currency: &'static str,
    /// Whether levels at a location the bridge does not know yet count (no locations mapping: yes).
    pub unknown_location_sellable: bool,
}

/// Applies one change inside `tx`.
pub async fn apply_change(
    tx: &mut PgConnection,
    target: &Target<'_>,
    change: &Change,
    at: &str,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    match change {
        Change::Item {
            key,
            row: Some(row),
        } => upsert_item(tx, target, key, row, at, touched).await,
        Change::Item { key, row: None } => {
            let sku: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE stock.items SET deleted = true, changed_at = $2, updated_at = now() WHERE item_key = $1 RETURNING sku",
            )
            .bind(key.as_str())
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            touched.item(Some(key.as_str().to_owned()));
            touched.sku(sku.flatten());
            Ok(())
        }
        Change::Level {
            key,
            row: Some(row),
        } => upsert_level(tx, target, key, row, at, touched).await,
        Change::Level { key, row: None } => {
            let old: Option<String> = sqlx::query_scalar("DELETE FROM stock.levels WHERE source_table = $1 AND row_key = $2 RETURNING item_key")
                .bind(target.levels_table)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            touched.item(old);
            Ok(())
        }
        Change::Lookup { role, key, row } => {
            apply_lookup(tx, *role, key, row.as_ref(), at, target.generation, touched).await
        }
    }
}

async fn upsert_item(
    tx: &mut PgConnection,
    target: &Target<'_>,
    key: &ItemKey,
    row: &ItemRow,
    at: &str,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let quarantine = row
        .quarantine
        .as_ref()
        .map(|reason| format!("at {at}: {reason}"));
    if quarantine.is_some() {
        metrics::counter!("bridge_rows_quarantined_total", "table" => target.items_table.to_owned()).increment(1);
    }
    let old_sku: Option<Option<String>> = sqlx::query_scalar(
        "WITH old AS (SELECT sku FROM stock.items WHERE item_key = $1)
         INSERT INTO stock.items (item_key, source_table, sku, name, description, category_key, category,
                                  price_minor, currency, price_includes_vat, deleted, quarantine_reason,
                                  generation, changed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6,
                 (SELECT label FROM stock.lookups WHERE source_table = 'categories' AND row_key = $6),
                 $7, $8, $9, $10, $11, $12, $13, now())
         ON CONFLICT (item_key) DO UPDATE SET
             source_table = EXCLUDED.source_table, sku = EXCLUDED.sku, name = EXCLUDED.name,
             description = EXCLUDED.description, category_key = EXCLUDED.category_key,
             category = EXCLUDED.category, price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency,
             price_includes_vat = EXCLUDED.price_includes_vat, deleted = EXCLUDED.deleted,
             quarantine_reason = EXCLUDED.quarantine_reason, generation = EXCLUDED.generation,
             changed_at = EXCLUDED.changed_at, updated_at = now()
         RETURNING (SELECT sku FROM old)",
    )
    .bind(key.as_str())
    .bind(target.items_table)
    .bind(&row.sku)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.category_key)
    .bind(row.price_minor)
    .bind(target.currency)
    .bind(row.price_includes_vat)
    .bind(row.deleted)
    .bind(&quarantine)
    .bind(target.generation)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await
    .with_context(|| format!("upsert item {key} at {at}"))?;
    touched.item(Some(key.as_str().to_owned()));
    touched.sku(old_sku.flatten());
    touched.sku(row.sku.clone());
    Ok(())
}

async fn upsert_level(
    tx: &mut PgConnection,
    target: &Target<'_>,
    key: &str,
    row: &LevelRow,
    at: &str,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let old_item: Option<Option<String>> = sqlx::query_scalar(
        "WITH old AS (SELECT item_key FROM stock.levels WHERE source_table = $1 AND row_key = $2)
         INSERT INTO stock.levels (source_table, row_key, item_key, location_key, sellable, quantity, changed_at, generation)
         VALUES ($1, $2, $3, $4,
                 COALESCE((SELECT flag FROM stock.lookups WHERE source_table = 'locations' AND row_key = $4), $5),
                 $6, $7, $8)
         ON CONFLICT (source_table, row_key) DO UPDATE SET
             item_key = EXCLUDED.item_key, location_key = EXCLUDED.location_key, sellable = EXCLUDED.sellable,
             quantity = EXCLUDED.quantity, changed_at = EXCLUDED.changed_at, generation = EXCLUDED.generation
         RETURNING (SELECT item_key FROM old)",
    )
    .bind(target.levels_table)
    .bind(key)
    .bind(row.item_key.as_str())
    .bind(&row.location_key)
    .bind(target.unknown_location_sellable)
    .bind(row.quantity)
    .bind(at)
    .bind(target.generation)
    .fetch_optional(&mut *tx)
    .await
    .with_context(|| format!("upsert level {key} at {at}"))?;
    touched.item(old_item.flatten());
    touched.item(Some(row.item_key.as_str().to_owned()));
    Ok(())
}

async fn apply_lookup(
    tx: &mut PgConnection,
    role: Role,
    key: &str,
    row: Option<&LookupRow>,
    at: &str,
    generation: i64,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let name = role.lookup_name();
    match row {
        Some(row) => {
            sqlx::query(
                "INSERT INTO stock.lookups (source_table, row_key, label, flag, generation, changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (source_table, row_key) DO UPDATE SET label = EXCLUDED.label, flag = EXCLUDED.flag,
                     generation = EXCLUDED.generation, changed_at = EXCLUDED.changed_at",
            )
            .bind(name)
            .bind(key)
            .bind(&row.label)
            .bind(row.flag)
            .bind(generation)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM stock.lookups WHERE source_table = $1 AND row_key = $2")
                .bind(name)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
    }
    // Dependents follow in the same transaction: a renamed category renames its items' category,
    // a location that stops being for sale stops counting.
    let dependents: Vec<String> = match role {
        Role::Categories => sqlx::query_scalar(
            "UPDATE stock.items SET category = $2, updated_at = now() WHERE category_key = $1 AND category IS DISTINCT FROM $2 RETURNING item_key",
        )
        .bind(key)
        .bind(row.and_then(|r| r.label.as_deref()))
        .fetch_all(&mut *tx)
        .await?,
        Role::Locations => {
            let sellable = row.and_then(|r| r.flag).unwrap_or(false);
            sqlx::query_scalar("UPDATE stock.levels SET sellable = $2 WHERE location_key = $1 AND sellable <> $2 RETURNING item_key")
                .bind(key)
                .bind(sellable)
                .fetch_all(&mut *tx)
                .await?
        }
        Role::Items | Role::Levels => Vec::new(),
    };
    touched.items.extend(dependents);
    Ok(())
}

/// Recomputes `on_hand` (clamped sum of sellable levels, raw sum kept) and duplicate-SKU flags for
/// what the changes touched.
pub async fn recompute(tx: &mut PgConnection, touched: &Touched) -> anyhow::Result<()> {
    let items: Vec<&str> = touched.items.iter().map(String::as_str).collect();
    sqlx::query(
        "UPDATE stock.items i SET on_hand_raw = s.raw, on_hand = GREATEST(0, LEAST(s.raw, 2147483647))::integer, updated_at = now()
         FROM (SELECT k AS item_key, COALESCE(SUM(l.quantity) FILTER (WHERE l.sellable), 0)::bigint AS raw
               FROM unnest($1::text[]) AS k LEFT JOIN stock.levels l ON l.item_key = k GROUP BY k) s
         WHERE i.item_key = s.item_key AND i.on_hand_raw IS DISTINCT FROM s.raw",
    )
    .bind(&items)
    .execute(&mut *tx)
    .await?;
    let skus: Vec<&str> = touched.skus.iter().map(String::as_str).collect();
    recompute_duplicates(tx, Some(&skus)).await
}

/// Flags every live item whose SKU another live item shares (only among `skus` when given).
pub async fn recompute_duplicates(
    tx: &mut PgConnection,
    skus: Option<&[&str]>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE stock.items i SET duplicate_sku = d.dup, updated_at = now()
         FROM (SELECT item_key, (NOT deleted AND count(*) FILTER (WHERE NOT deleted) OVER (PARTITION BY sku) > 1) AS dup
               FROM stock.items WHERE sku IS NOT NULL AND ($1::text[] IS NULL OR sku = ANY($1))) d
         WHERE i.item_key = d.item_key AND i.duplicate_sku IS DISTINCT FROM d.dup",
    )
    .bind(skus)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves the checkpoint, fenced by `epoch`: a bridge that lost leadership cannot write.
pub async fn move_checkpoint(
    tx: &mut PgConnection,
    epoch: i64,
    at: &Position,
) -> anyhow::Result<()> {
    let updated = sqlx::query(
        "UPDATE stock.checkpoint SET gtid = $2, binlog_file = $3, binlog_pos = $4, updated_at = now() WHERE epoch = $1",
    )
    .bind(epoch)
    .bind(&at.gtid)
    .bind(&at.file)
    .bind(at.pos as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    anyhow::ensure!(
        updated == 1,
        "epoch {epoch} is no longer the leader's: stepping down"
    );
    Ok(())
}

/// Records one applied source transaction (unique by position: a double apply fails loudly).
pub async fn log_transaction(
    tx: &mut PgConnection,
    position: &str,
    rows: usize,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO stock.change_log (position, rows) VALUES ($1, $2)")
        .bind(position)
        .bind(rows as i32)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("change log for {position}"))?;
    Ok(())
}

pub async fn notify(
    tx: &mut Transaction<'_, Postgres>,
    payload: &StockChanged,
) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(contracts::stock::STOCK_CHANGED_CHANNEL)
        .bind(payload.to_json())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// After a snapshot: everything not seen in generation `generation` is gone from the source.
/// Items become tombstones; level and lookup rows are removed; every quantity and SKU flag is
/// recomputed.
pub async fn finish_snapshot(
    tx: &mut PgConnection,
    generation: i64,
    at: &str,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE stock.items SET deleted = true, changed_at = $2, updated_at = now() WHERE generation < $1 AND NOT deleted")
        .bind(generation)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM stock.levels WHERE generation < $1")
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM stock.lookups WHERE generation < $1")
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE stock.items i SET on_hand_raw = s.raw, on_hand = GREATEST(0, LEAST(s.raw, 2147483647))::integer, updated_at = now()
         FROM (SELECT i2.item_key, COALESCE(SUM(l.quantity) FILTER (WHERE l.sellable), 0)::bigint AS raw
               FROM stock.items i2 LEFT JOIN stock.levels l ON l.item_key = i2.item_key GROUP BY i2.item_key) s
         WHERE i.item_key = s.item_key AND i.on_hand_raw IS DISTINCT FROM s.raw",
    )
    .execute(&mut *tx)
    .await?;
    recompute_duplicates(tx, None).await
}
