//! Applying changes to schema `stock`, as role `bridge`. Every statement is idempotent by the source
//! row's own key (upsert or delete of the full row image), quantities are recomputed as sums from
//! the mirrored level rows (never patched with deltas), and the checkpoint moves in the same
//! transaction, fenced by the leader epoch. Used by both the snapshot and the binlog stream.

use crate::mapping::{Change, ItemRow, LevelRow, LookupRow, PictureRow, Role};
use crate::source::Position;
use anyhow::Context;
use contracts::StockChanged;
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::{PgConnection, Postgres, Transaction};

/// What one transaction's changes touched, for the recomputations and the notification.
#[derive(Debug, Default)]
pub struct Touched {
    /// Items whose shop-visible state may have changed (named in the notification).
    pub items: Named,
    /// Items whose quantity must be summed again: a level row of theirs changed, moved or went, or
    /// the item row is new. An item row rewritten with its levels unchanged keeps its sum.
    pub recount: Keys,
    /// SKUs whose duplicate flags must be worked out again: an item took, left or deleted one.
    /// An item row rewritten with the same SKU and the same deleted flag changes no flag.
    pub skus: Keys,
    /// Items whose primary picture must be worked out again from `stock.pictures`: a picture row
    /// of theirs changed, moved or went (only with a `[pictures]` mapping).
    pub pictures: Keys,
}

/// A set of keys in no particular order, each held once: a key already there is not copied
/// again (a batch names the same item for each of its level rows and in several sets).
#[derive(Debug, Default)]
pub struct Keys(FxHashSet<String>);

impl Keys {
    pub fn insert(&mut self, key: &str) {
        if !self.0.contains(key) {
            self.0.insert(key.to_owned());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The keys in order, for a statement: PostgreSQL then walks its indexes in order, from one
    /// page to the next, not back and forth across them.
    pub fn sorted(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.iter().collect();
        keys.sort_unstable();
        keys
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Past this many item keys a notification cannot name them all anyway (at least 4 bytes a key
/// against `contracts::stock::MAX_NOTIFY_PAYLOAD`).
pub const NAMED_MAX: usize = 2000;

/// The items a commit's notification names: past [`NAMED_MAX`] it says "all" instead, so a large
/// batch or transaction stops collecting them.
#[derive(Debug, Default)]
pub struct Named {
    keys: Keys,
    all: bool,
}

impl Named {
    pub fn insert(&mut self, key: &str) {
        if !self.all {
            self.keys.insert(key);
            if self.keys.len() > NAMED_MAX {
                self.all = true;
                self.keys.clear();
            }
        }
    }

    /// Whether more items changed than a notification names: it says "all".
    pub fn all(&self) -> bool {
        self.all
    }

    /// The items named (none once [`Named::all`]).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter()
    }
}

impl<'a> Extend<&'a str> for Named {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, keys: I) {
        keys.into_iter().for_each(|key| self.insert(key));
    }
}

impl<'a> Extend<&'a str> for Keys {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, keys: I) {
        keys.into_iter().for_each(|key| self.insert(key));
    }
}

impl Extend<String> for Keys {
    fn extend<I: IntoIterator<Item = String>>(&mut self, keys: I) {
        self.0.extend(keys);
    }
}

/// The fixed parts of an apply: which source tables the rows come from and the generation.
pub struct Target<'a> {
    pub items_table: &'a str,
    pub levels_table: &'a str,
    /// The pictures' source table, when the mapping keeps pictures in a table of their own.
    pub pictures_table: Option<&'a str>,
    pub generation: i64,
    /// ISO code of the mapped prices' currency.
    pub currency: &'static str,
    /// Whether levels at a location the bridge does not know yet count (no locations mapping: yes).
    pub unknown_location_sellable: bool,
    /// The zone the source's DATETIME values are local to (an IANA name PostgreSQL knows).
    pub time_zone: &'a str,
}

/// What the mirror held before a batch, for the rows the batch names: each item's SKU and deleted
/// flag, and the item each level row counted for. A SKU an item takes, leaves, or stops or starts
/// counting for may change duplicate flags; an item row seen for the first time needs its sum; a
/// level row that moves or goes lowers its old item's sum. Read before anything of the batch is
/// written, on the connection that applies it (or, for lanes, shared out over theirs: the bridge
/// is the only writer of these tables, fenced by its epoch).
#[derive(Debug, Default)]
pub struct Prior {
    /// Item key → (SKU, deleted), for the items of the batch the mirror has.
    pub items: FxHashMap<String, (Option<String>, bool)>,
    /// Level row key → the item it counts for, for the level rows of the batch the mirror has.
    pub level_items: FxHashMap<String, String>,
}

impl Prior {
    /// Reads what the mirror holds for the item and level rows `changes` name.
    pub async fn read(
        tx: &mut PgConnection,
        target: &Target<'_>,
        changes: &[(&str, &Change)],
    ) -> anyhow::Result<Self> {
        let (items, levels) = Self::keys(changes);
        Self::read_keys(tx, target, &items, &levels).await
    }

    /// [`Prior::read`] on several connections at once, each reading its share of the keys: a
    /// large batch's read then takes as many cores as there are connections. Each connection
    /// must be at a point after the last commit that could have changed these rows (any
    /// transaction begun after it: the bridge is the only writer of these tables).
    pub async fn read_on(
        connections: &mut [sqlx::Transaction<'static, Postgres>],
        target: &Target<'_>,
        changes: &[(&str, &Change)],
    ) -> anyhow::Result<Self> {
        let (items, levels) = Self::keys(changes);
        let share = |keys: &[&str], n: usize| keys.len().div_ceil(n).max(1);
        let (item_share, level_share) = (
            share(&items, connections.len()),
            share(&levels, connections.len()),
        );
        let parts =
            futures::future::try_join_all(connections.iter_mut().enumerate().map(|(i, tx)| {
                let items = items.chunks(item_share).nth(i).unwrap_or_default();
                let levels = levels.chunks(level_share).nth(i).unwrap_or_default();
                async move { Self::read_keys(tx, target, items, levels).await }
            }))
            .await?;
        let mut prior = Self::default();
        for part in parts {
            prior.items.extend(part.items);
            prior.level_items.extend(part.level_items);
        }
        Ok(prior)
    }

    /// The item keys and level row keys `changes` name, each once and in order.
    fn keys<'a>(changes: &[(&str, &'a Change)]) -> (Vec<&'a str>, Vec<&'a str>) {
        let (mut items, mut levels) = (vec![], vec![]);
        for (_, change) in changes {
            match change {
                Change::Item { key, .. } => items.push(key.as_str()),
                Change::Level { key, .. } => levels.push(key.as_str()),
                Change::Picture { .. } | Change::Lookup { .. } => {}
            }
        }
        for keys in [&mut items, &mut levels] {
            keys.sort_unstable();
            keys.dedup();
        }
        (items, levels)
    }

    async fn read_keys(
        tx: &mut PgConnection,
        target: &Target<'_>,
        items: &[&str],
        levels: &[&str],
    ) -> anyhow::Result<Self> {
        let mut prior = Self::default();
        if !items.is_empty() {
            prior.items = sqlx::query_as::<_, (String, Option<String>, bool)>(
                "SELECT item_key, sku, deleted FROM stock.items WHERE item_key = ANY($1)",
            )
            .bind(items)
            .fetch_all(&mut *tx)
            .await
            .context("the items before the batch")?
            .into_iter()
            .map(|(key, sku, deleted)| (key, (sku, deleted)))
            .collect();
        }
        if !levels.is_empty() {
            prior.level_items = sqlx::query_as::<_, (String, String)>(
                "SELECT row_key, item_key FROM stock.levels WHERE source_table = $1 AND row_key = ANY($2)",
            )
            .bind(target.levels_table)
            .bind(levels)
            .fetch_all(&mut *tx)
            .await
            .context("the level rows before the batch")?
            .into_iter()
            .collect();
        }
        Ok(prior)
    }
}

/// Applies a batch of changes inside `tx`, set-based: one statement per table and kind of change.
/// Every change is a full row image (or a delete) by the source row's key, so within a batch the
/// last change of a key is its final state; lookups go first so items and levels resolve against
/// them. `at` of each change is the source position it came from.
pub async fn apply_changes(
    tx: &mut PgConnection,
    target: &Target<'_>,
    changes: &[(&str, &Change)],
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let prior = Prior::read(tx, target, changes).await?;
    apply_after(tx, target, changes, &prior, touched).await
}

/// [`apply_changes`] with what the mirror held before already read: `prior` must cover every item
/// and level row `changes` name, read after the last commit that could have changed them.
pub async fn apply_after(
    tx: &mut PgConnection,
    target: &Target<'_>,
    changes: &[(&str, &Change)],
    prior: &Prior,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let mut items: FxHashMap<&str, (&str, Option<&ItemRow>)> = FxHashMap::default();
    let mut levels: FxHashMap<&str, (&str, Option<&LevelRow>)> = FxHashMap::default();
    let mut lookups: FxHashMap<(&'static str, &str), (&str, Option<&LookupRow>)> =
        FxHashMap::default();
    let mut pictures: FxHashMap<&str, (&str, Option<&PictureRow>)> = FxHashMap::default();
    for &(at, change) in changes {
        match change {
            Change::Item { key, row } => {
                items.insert(key.as_str(), (at, row.as_ref()));
            }
            Change::Level { key, row } => {
                levels.insert(key.as_str(), (at, row.as_ref()));
            }
            Change::Picture { key, row } => {
                pictures.insert(key.as_str(), (at, row.as_ref()));
            }
            Change::Lookup { role, key, row } => {
                lookups.insert((role.lookup_name(), key.as_str()), (at, row.as_ref()));
            }
        }
    }
    apply_lookups(tx, target.generation, &lookups, touched).await?;
    apply_items(tx, target, &items, &prior.items, touched).await?;
    apply_levels(tx, target, &levels, &prior.level_items, touched).await?;
    apply_picture_rows(tx, target, &pictures, touched).await
}

/// A batch's rows by key, in order (see [`Keys::sorted`]).
fn by_key<'m, V>(rows: &'m FxHashMap<&'m str, V>) -> Vec<(&'m &'m str, &'m V)> {
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_unstable_by_key(|(key, _)| **key);
    rows
}

async fn apply_lookups(
    tx: &mut PgConnection,
    generation: i64,
    lookups: &FxHashMap<(&'static str, &str), (&str, Option<&LookupRow>)>,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    if lookups.is_empty() {
        return Ok(());
    }
    let (mut tables, mut keys, mut labels, mut flags, mut ats) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut gone_tables, mut gone_keys) = (vec![], vec![]);
    for ((table, key), (at, row)) in lookups {
        match row {
            Some(row) => {
                tables.push(*table);
                keys.push(*key);
                labels.push(row.label.as_deref());
                flags.push(row.flag);
                ats.push(*at);
            }
            None => {
                gone_tables.push(*table);
                gone_keys.push(*key);
            }
        }
    }
    sqlx::query(
        "INSERT INTO stock.lookups (source_table, row_key, label, flag, generation, changed_at)
         SELECT t.s, t.k, t.l, t.f, $5, t.a FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $6::text[]) AS t(s, k, l, f, a)
         ON CONFLICT (source_table, row_key) DO UPDATE SET label = EXCLUDED.label, flag = EXCLUDED.flag,
             generation = EXCLUDED.generation, changed_at = EXCLUDED.changed_at",
    )
    .bind(&tables)
    .bind(&keys)
    .bind(&labels)
    .bind(&flags)
    .bind(generation)
    .bind(&ats)
    .execute(&mut *tx)
    .await
    .context("upsert lookups")?;
    sqlx::query("DELETE FROM stock.lookups WHERE (source_table, row_key) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))")
        .bind(&gone_tables)
        .bind(&gone_keys)
        .execute(&mut *tx)
        .await
        .context("delete lookups")?;
    // Dependents follow in the same transaction: a renamed category renames its items' category,
    // a location that stops being for sale stops counting (an unknown location does not count).
    let changed = |name: &str| -> Vec<&str> {
        lookups
            .keys()
            .filter(|(t, _)| *t == name)
            .map(|(_, k)| *k)
            .collect()
    };
    let renamed: Vec<String> = sqlx::query_scalar(
        "UPDATE stock.items i SET category = x.label, updated_at = now()
         FROM (SELECT k, l.label FROM UNNEST($1::text[]) AS k
               LEFT JOIN stock.lookups l ON l.source_table = 'categories' AND l.row_key = k) x
         WHERE i.category_key = x.k AND i.category IS DISTINCT FROM x.label RETURNING i.item_key",
    )
    .bind(changed(Role::Categories.lookup_name()))
    .fetch_all(&mut *tx)
    .await?;
    let moved: Vec<String> = sqlx::query_scalar(
        "UPDATE stock.levels v SET sellable = x.flag
         FROM (SELECT k, COALESCE(l.flag, false) AS flag FROM UNNEST($1::text[]) AS k
               LEFT JOIN stock.lookups l ON l.source_table = 'locations' AND l.row_key = k) x
         WHERE v.location_key = x.k AND v.sellable <> x.flag RETURNING v.item_key",
    )
    .bind(changed(Role::Locations.lookup_name()))
    .fetch_all(&mut *tx)
    .await?;
    touched.items.extend(renamed.iter().map(String::as_str));
    touched.items.extend(moved.iter().map(String::as_str));
    touched.recount.extend(moved);
    Ok(())
}

async fn apply_items(
    tx: &mut PgConnection,
    target: &Target<'_>,
    items: &FxHashMap<&str, (&str, Option<&ItemRow>)>,
    before: &FxHashMap<String, (Option<String>, bool)>,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut up = ItemColumns::default();
    let (mut gone, mut gone_at) = (vec![], vec![]);
    for (key, (at, row)) in by_key(items) {
        let was = before.get(*key);
        match row {
            Some(row) => {
                if row.quarantine.is_some() {
                    metrics::counter!("bridge_rows_quarantined_total", "table" => target.items_table.to_owned()).increment(1);
                }
                up.push(key, at, row);
                match was {
                    None => {
                        touched.recount.insert(key);
                        touched.skus.extend(row.sku.as_deref());
                    }
                    Some((sku, deleted)) if *sku != row.sku || *deleted != row.deleted => {
                        touched.skus.extend(sku.as_deref());
                        touched.skus.extend(row.sku.as_deref());
                    }
                    Some(_) => {}
                }
            }
            None => {
                gone.push(*key);
                gone_at.push(*at);
                if let Some((sku, false)) = was {
                    touched.skus.extend(sku.as_deref());
                }
            }
        }
    }
    sqlx::query(
        "INSERT INTO stock.items (item_key, source_table, sku, name, description, category_key, category,
                                  price_minor, currency, price_includes_vat, deleted, quarantine_reason,
                                  generation, changed_at, updated_at, source_updated_at)
         SELECT t.k, $11, t.sku, t.name, t.descr, t.cat, c.label,
                t.price, $12, t.vat, t.del, t.q, $13, t.at, now(), t.u::timestamp AT TIME ZONE $15
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::bool[],
                     $8::bool[], $9::text[], $10::text[], $14::text[]) AS t(k, sku, name, descr, cat, price, vat, del, q, at, u)
         -- A join, not a subquery per row, as for the levels' locations.
         LEFT JOIN stock.lookups c ON c.source_table = 'categories' AND c.row_key = t.cat
         ON CONFLICT (item_key) DO UPDATE SET
             source_table = EXCLUDED.source_table, sku = EXCLUDED.sku, name = EXCLUDED.name,
             description = EXCLUDED.description, category_key = EXCLUDED.category_key,
             category = EXCLUDED.category, price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency,
             price_includes_vat = EXCLUDED.price_includes_vat, deleted = EXCLUDED.deleted,
             quarantine_reason = EXCLUDED.quarantine_reason, generation = EXCLUDED.generation,
             changed_at = EXCLUDED.changed_at, updated_at = now(),
             source_updated_at = EXCLUDED.source_updated_at",
    )
    .bind(&up.keys)
    .bind(&up.skus)
    .bind(&up.names)
    .bind(&up.descriptions)
    .bind(&up.categories)
    .bind(&up.prices)
    .bind(&up.vat)
    .bind(&up.deleted)
    .bind(&up.quarantine)
    .bind(&up.ats)
    .bind(target.items_table)
    .bind(target.currency)
    .bind(target.generation)
    .bind(&up.updated)
    .bind(target.time_zone)
    .execute(&mut *tx)
    .await
    .context("upsert items")?;
    record_pictures(tx, &up.pictures).await?;
    // A hard delete is a tombstone: orders refer to the item, and the key may come back.
    sqlx::query(
        "UPDATE stock.items i SET deleted = true, changed_at = t.at, updated_at = now()
         FROM UNNEST($1::text[], $2::text[]) AS t(k, at) WHERE i.item_key = t.k",
    )
    .bind(&gone)
    .bind(&gone_at)
    .execute(&mut *tx)
    .await
    .context("tombstone items")?;
    touched.items.extend(items.keys().copied());
    Ok(())
}

/// Records each item's picture by hash — `(item key, hex SHA-256 or None for "no picture", source
/// position)` — a picture that changed (or is new) becomes `pending` and gets an image job, in this
/// same transaction. A picture that rides along unchanged (a price update rewrites the whole row)
/// changes nothing.
async fn record_pictures(
    tx: &mut PgConnection,
    pictures: &[(&str, Option<&str>, &str)],
) -> anyhow::Result<()> {
    if pictures.is_empty() {
        return Ok(());
    }
    let (keys, hashes, ats): (Vec<&str>, Vec<Option<&str>>, Vec<&str>) =
        pictures.iter().copied().fold(
            (vec![], vec![], vec![]),
            |(mut k, mut h, mut a), (key, hash, at)| {
                k.push(key);
                h.push(hash);
                a.push(at);
                (k, h, a)
            },
        );
    sqlx::query(
        "WITH incoming AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(k, sha, at)),
         changed AS (
             INSERT INTO stock.images (item_key, status, source_sha256, updated_at)
             SELECT k, (CASE WHEN sha IS NULL THEN 'none' ELSE 'pending' END)::stock.image_status, decode(sha, 'hex'), now()
             FROM incoming
             -- A picture riding along unchanged is left alone, not even locked (the upsert's own
             -- WHERE would still lock and so write its row).
             WHERE NOT EXISTS (SELECT 1 FROM stock.images x
                               WHERE x.item_key = incoming.k AND x.source_sha256 IS NOT DISTINCT FROM decode(incoming.sha, 'hex'))
             ON CONFLICT (item_key) DO UPDATE SET status = EXCLUDED.status, source_sha256 = EXCLUDED.source_sha256,
                 error = NULL, updated_at = now()
             WHERE stock.images.source_sha256 IS DISTINCT FROM EXCLUDED.source_sha256
             RETURNING item_key, encode(source_sha256, 'hex') AS sha)
         INSERT INTO stock.image_jobs (item_key, source_sha256, changed_at)
         SELECT c.item_key, c.sha, i.at FROM changed c JOIN incoming i ON i.k = c.item_key WHERE c.sha IS NOT NULL",
    )
    .bind(&keys)
    .bind(&hashes)
    .bind(&ats)
    .execute(&mut *tx)
    .await
    .context("pictures and image jobs")?;
    Ok(())
}

/// Mirrors picture rows (`[pictures]`) by their key; the items they belonged to and belong to now
/// get their primary picture worked out again by [`recompute`].
async fn apply_picture_rows(
    tx: &mut PgConnection,
    target: &Target<'_>,
    pictures: &FxHashMap<&str, (&str, Option<&PictureRow>)>,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    let Some(table) = target.pictures_table else {
        return Ok(());
    };
    if pictures.is_empty() {
        return Ok(());
    }
    let all: Vec<&str> = pictures.keys().copied().collect();
    let old_items: Vec<String> = sqlx::query_scalar(
        "SELECT item_key FROM stock.pictures WHERE source_table = $1 AND row_key = ANY($2)",
    )
    .bind(table)
    .bind(&all)
    .fetch_all(&mut *tx)
    .await?;
    touched.items.extend(old_items.iter().map(String::as_str));
    touched.pictures.extend(old_items);
    let (mut keys, mut item_keys, mut hashes, mut ranks, mut ats) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut gone = vec![];
    for (key, (at, row)) in pictures {
        match row {
            Some(row) => {
                keys.push(*key);
                item_keys.push(row.item_key.as_str());
                hashes.push(row.image_sha256.as_deref());
                // One array per row would need a 2-D array of equal lengths: every row has the
                // mapping's number of order columns, so it is one; passed as text and parsed.
                ranks.push(format!(
                    "{{{}}}",
                    row.rank
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ));
                ats.push(*at);
                touched.pictures.insert(row.item_key.as_str());
                touched.items.insert(row.item_key.as_str());
            }
            None => gone.push(*key),
        }
    }
    sqlx::query(
        "INSERT INTO stock.pictures (source_table, row_key, item_key, source_sha256, rank, generation, changed_at)
         SELECT $6, t.k, t.item, decode(t.sha, 'hex'), t.r::bigint[], $7, t.at
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, item, sha, r, at)
         ON CONFLICT (source_table, row_key) DO UPDATE SET
             item_key = EXCLUDED.item_key, source_sha256 = EXCLUDED.source_sha256, rank = EXCLUDED.rank,
             generation = EXCLUDED.generation, changed_at = EXCLUDED.changed_at",
    )
    .bind(&keys)
    .bind(&item_keys)
    .bind(&hashes)
    .bind(&ranks)
    .bind(&ats)
    .bind(table)
    .bind(target.generation)
    .execute(&mut *tx)
    .await
    .context("upsert pictures")?;
    if !gone.is_empty() {
        sqlx::query("DELETE FROM stock.pictures WHERE source_table = $1 AND row_key = ANY($2)")
            .bind(table)
            .bind(&gone)
            .execute(&mut *tx)
            .await
            .context("delete pictures")?;
    }
    Ok(())
}

/// Works out the primary picture of `items` (`None`: every item with a picture row or a recorded
/// picture, after a snapshot of the pictures table) from `stock.pictures` and records it: the first
/// row holding a picture by rank, then by key (shorter first, so numeric keys go in numeric order).
async fn recompute_primary_pictures(
    tx: &mut PgConnection,
    table: &str,
    items: Option<&[&str]>,
) -> anyhow::Result<()> {
    let primaries: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT k, p.sha, p.changed_at
         FROM (SELECT unnest($2::text[]) AS k WHERE $2::text[] IS NOT NULL
               UNION SELECT item_key FROM stock.pictures WHERE $2::text[] IS NULL AND source_table = $1
               UNION SELECT item_key FROM stock.images WHERE $2::text[] IS NULL) AS keys
         LEFT JOIN LATERAL (
             SELECT encode(source_sha256, 'hex') AS sha, changed_at FROM stock.pictures
             WHERE source_table = $1 AND item_key = keys.k AND source_sha256 IS NOT NULL
             ORDER BY rank, length(row_key), row_key COLLATE \"C\" LIMIT 1) p ON true",
    )
    .bind(table)
    .bind(items)
    .fetch_all(&mut *tx)
    .await
    .context("primary pictures")?;
    let recorded: Vec<(&str, Option<&str>, &str)> = primaries
        .iter()
        .map(|(key, sha, at)| (key.as_str(), sha.as_deref(), at.as_deref().unwrap_or("-")))
        .collect();
    record_pictures(tx, &recorded).await
}

/// Item upserts as one array per column, for `UNNEST`.
#[derive(Default)]
struct ItemColumns<'a> {
    keys: Vec<&'a str>,
    skus: Vec<Option<&'a str>>,
    names: Vec<&'a str>,
    descriptions: Vec<Option<&'a str>>,
    categories: Vec<Option<&'a str>>,
    prices: Vec<Option<i64>>,
    vat: Vec<bool>,
    deleted: Vec<bool>,
    quarantine: Vec<Option<String>>,
    ats: Vec<&'a str>,
    updated: Vec<Option<&'a str>>,
    /// (item key, hex SHA-256 or None for "no picture", position) where the mapping has pictures.
    pictures: Vec<(&'a str, Option<&'a str>, &'a str)>,
}

impl<'a> ItemColumns<'a> {
    fn push(&mut self, key: &'a str, at: &'a str, row: &'a ItemRow) {
        self.keys.push(key);
        self.skus.push(row.sku.as_deref());
        self.names.push(&row.name);
        self.descriptions.push(row.description.as_deref());
        self.categories.push(row.category_key.as_deref());
        self.prices.push(row.price_minor);
        self.vat.push(row.price_includes_vat);
        self.deleted.push(row.deleted);
        self.quarantine.push(
            row.quarantine
                .as_ref()
                .map(|reason| format!("at {at}: {reason}")),
        );
        self.ats.push(at);
        self.updated.push(row.source_updated_at.as_deref());
        if let Some(hash) = &row.image_sha256 {
            self.pictures.push((key, hash.as_deref(), at));
        }
    }
}

async fn apply_levels(
    tx: &mut PgConnection,
    target: &Target<'_>,
    levels: &FxHashMap<&str, (&str, Option<&LevelRow>)>,
    before: &FxHashMap<String, String>,
    touched: &mut Touched,
) -> anyhow::Result<()> {
    if levels.is_empty() {
        return Ok(());
    }
    // The items the rows counted for before: a row that moves or goes lowers their sum.
    let old_items = levels
        .keys()
        .filter_map(|key| before.get(*key))
        .map(String::as_str);
    touched.recount.extend(old_items.clone());
    touched.items.extend(old_items);
    let (mut keys, mut item_keys, mut locations, mut quantities, mut ats) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut gone = vec![];
    for (key, (at, row)) in by_key(levels) {
        match row {
            Some(row) => {
                keys.push(*key);
                item_keys.push(row.item_key.as_str());
                locations.push(row.location_key.as_deref());
                quantities.push(row.quantity);
                ats.push(*at);
                touched.recount.insert(row.item_key.as_str());
                touched.items.insert(row.item_key.as_str());
            }
            None => gone.push(*key),
        }
    }
    sqlx::query(
        "INSERT INTO stock.levels (source_table, row_key, item_key, location_key, sellable, quantity, changed_at, generation)
         SELECT $6, t.k, t.item, t.loc, COALESCE(l.flag, $7), t.q, t.at, $8
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[]) AS t(k, item, loc, q, at)
         -- A join, not a subquery per row: the few locations are hashed once per statement.
         LEFT JOIN stock.lookups l ON l.source_table = 'locations' AND l.row_key = t.loc
         ON CONFLICT (source_table, row_key) DO UPDATE SET
             item_key = EXCLUDED.item_key, location_key = EXCLUDED.location_key, sellable = EXCLUDED.sellable,
             quantity = EXCLUDED.quantity, changed_at = EXCLUDED.changed_at, generation = EXCLUDED.generation",
    )
    .bind(&keys)
    .bind(&item_keys)
    .bind(&locations)
    .bind(&quantities)
    .bind(&ats)
    .bind(target.levels_table)
    .bind(target.unknown_location_sellable)
    .bind(target.generation)
    .execute(&mut *tx)
    .await
    .context("upsert levels")?;
    if !gone.is_empty() {
        sqlx::query("DELETE FROM stock.levels WHERE source_table = $1 AND row_key = ANY($2)")
            .bind(target.levels_table)
            .bind(&gone)
            .execute(&mut *tx)
            .await
            .context("delete levels")?;
    }
    Ok(())
}

/// Recomputes `on_hand` (clamped sum of sellable levels, raw sum kept) and duplicate-SKU flags for
/// what the changes touched.
pub async fn recompute(
    tx: &mut PgConnection,
    target: &Target<'_>,
    touched: &Touched,
) -> anyhow::Result<()> {
    if let Some(table) = target.pictures_table
        && !touched.pictures.is_empty()
    {
        let items = touched.pictures.sorted();
        recompute_primary_pictures(tx, table, Some(&items)).await?;
    }
    let items = touched.recount.sorted();
    if !items.is_empty() {
        sqlx::query(
        // Each item's rows found through `levels_item`, not by hashing the whole table: the work
        // follows the batch, not the catalogue's size (a join here read every level row per batch).
        "WITH s AS MATERIALIZED (
             SELECT k AS item_key, r.raw FROM unnest($1::text[]) AS k,
             LATERAL (SELECT COALESCE(SUM(l.quantity) FILTER (WHERE l.sellable), 0)::bigint AS raw
                      FROM stock.levels l WHERE l.item_key = k) r)
         UPDATE stock.items i SET on_hand_raw = s.raw, on_hand = GREATEST(0, LEAST(s.raw, 2147483647))::integer, updated_at = now()
         FROM s WHERE i.item_key = s.item_key AND i.on_hand_raw IS DISTINCT FROM s.raw",
        )
        .bind(&items)
        .execute(&mut *tx)
        .await?;
    }
    let skus = touched.skus.sorted();
    if skus.is_empty() {
        return Ok(());
    }
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
    log_and_move(tx, epoch, &[], Some(at), None, None).await
}

/// Records each applied source transaction (unique by position: a double apply fails loudly),
/// moves the checkpoint to `at` (`None`: it stays, the transactions are committed ahead of it),
/// sets the list of transactions committed ahead of it to `ahead` (`None`: left as it is), all
/// fenced by `epoch`, and queues `notify` for the commit — one statement, so one round trip of the
/// batch's few.
pub async fn log_and_move(
    tx: &mut PgConnection,
    epoch: i64,
    transactions: &[(&str, usize)],
    at: Option<&Position>,
    ahead: Option<&[&str]>,
    notify: Option<&StockChanged>,
) -> anyhow::Result<()> {
    let (positions, rows): (Vec<&str>, Vec<i32>) =
        transactions.iter().map(|&(p, n)| (p, n as i32)).unzip();
    // Data-modifying CTEs always run; the notification is an output column, so it runs too.
    let (moved, _notified): (i64, Option<String>) = sqlx::query_as(
        "WITH logged AS (
             INSERT INTO stock.change_log (position, rows)
             SELECT * FROM UNNEST($1::text[], $2::int4[])),
         moved AS (
             UPDATE stock.checkpoint SET
                 gtid = CASE WHEN $9 THEN $4 ELSE gtid END,
                 binlog_file = CASE WHEN $9 THEN $5 ELSE binlog_file END,
                 binlog_pos = CASE WHEN $9 THEN $6 ELSE binlog_pos END,
                 updated_at = CASE WHEN $9 THEN now() ELSE updated_at END,
                 applied_ahead = COALESCE($10::text[], applied_ahead)
             WHERE epoch = $3 RETURNING 1)
         SELECT (SELECT count(*) FROM moved),
                (CASE WHEN $8::text IS NOT NULL THEN pg_notify($7, $8) END)::text",
    )
    .bind(&positions)
    .bind(&rows)
    .bind(epoch)
    .bind(at.and_then(|at| at.gtid.as_deref()))
    .bind(at.map(|at| at.file.as_str()))
    .bind(at.map(|at| at.pos as i64))
    .bind(contracts::stock::STOCK_CHANGED_CHANNEL)
    .bind(notify.map(StockChanged::to_json))
    .bind(at.is_some())
    .bind(ahead)
    .fetch_one(&mut *tx)
    .await
    .with_context(|| {
        format!(
            "change log for {} transaction(s) from {:?} and the checkpoint at {}",
            positions.len(),
            positions.first(),
            at.map_or_else(|| "(where it was)".to_owned(), Position::label)
        )
    })?;
    anyhow::ensure!(
        moved == 1,
        "epoch {epoch} is no longer the leader's: stepping down"
    );
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

/// Which rows a snapshot replaced: `None` for everything (a full snapshot of every table), or
/// only the rows of the tables it loaded (a snapshot of one table, or a full one that left out a
/// table that no longer fits the mapping: that table's rows stay as they were, stale).
#[derive(Debug, Default)]
pub struct Reloaded<'a> {
    /// The item table (`stock.items.source_table`), when its rows were loaded.
    pub items: Option<&'a str>,
    /// The levels' source table (`stock.levels.source_table`), when its rows were loaded.
    pub levels: Option<&'a str>,
    /// The lookups loaded (`stock.lookups.source_table`: `categories`, `locations`).
    pub lookups: Vec<&'static str>,
}

/// After a snapshot: everything not seen in generation `generation` is gone from the source.
/// Items become tombstones; level and lookup rows are removed; every quantity and SKU flag is
/// recomputed. `only` limits this to the tables the snapshot loaded. `pictures`: the pictures
/// table, when the snapshot loaded it: its rows not seen are removed and every primary picture is
/// worked out again.
pub async fn finish_snapshot(
    tx: &mut PgConnection,
    generation: i64,
    at: &str,
    only: Option<&Reloaded<'_>>,
    pictures: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(table) = pictures {
        sqlx::query("DELETE FROM stock.pictures WHERE generation < $1 AND source_table = $2")
            .bind(generation)
            .bind(table)
            .execute(&mut *tx)
            .await?;
        recompute_primary_pictures(tx, table, None).await?;
    }
    let (items, levels, lookups) = match only {
        None => (true, None, None),
        Some(r) => (r.items.is_some(), r.levels, Some(r.lookups.clone())),
    };
    if items {
        sqlx::query("UPDATE stock.items SET deleted = true, changed_at = $2, updated_at = now() WHERE generation < $1 AND NOT deleted AND ($3::text IS NULL OR source_table = $3)")
            .bind(generation)
            .bind(at)
            .bind(only.and_then(|r| r.items))
            .execute(&mut *tx)
            .await?;
    }
    if only.is_none() || levels.is_some() {
        sqlx::query("DELETE FROM stock.levels WHERE generation < $1 AND ($2::text IS NULL OR source_table = $2)")
            .bind(generation)
            .bind(levels)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "DELETE FROM stock.lookups WHERE generation < $1 AND ($2::text[] IS NULL OR source_table = ANY($2))",
    )
    .bind(generation)
    .bind(&lookups)
    .execute(&mut *tx)
    .await?;
    // A lookup loaded on its own: what depends on it follows (items and levels were not reloaded).
    let reloaded = |name: &str| lookups.as_ref().is_some_and(|l| l.contains(&name));
    if reloaded(Role::Categories.lookup_name()) {
        sqlx::query(
            "UPDATE stock.items i SET category = l.label, updated_at = now()
             FROM stock.items i2 LEFT JOIN stock.lookups l ON l.source_table = 'categories' AND l.row_key = i2.category_key
             WHERE i.item_key = i2.item_key AND i.category_key IS NOT NULL AND i.category IS DISTINCT FROM l.label",
        )
        .execute(&mut *tx)
        .await?;
    }
    if reloaded(Role::Locations.lookup_name()) {
        sqlx::query(
            "UPDATE stock.levels v SET sellable = COALESCE(l.flag, false)
             FROM stock.levels v2 LEFT JOIN stock.lookups l ON l.source_table = 'locations' AND l.row_key = v2.location_key
             WHERE v.source_table = v2.source_table AND v.row_key = v2.row_key
               AND v.location_key IS NOT NULL AND v.sellable IS DISTINCT FROM COALESCE(l.flag, false)",
        )
        .execute(&mut *tx)
        .await?;
    }
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
