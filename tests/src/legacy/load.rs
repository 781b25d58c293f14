//! Loads the demo legacy database: runs `schema.sql`, draws the pictures and inserts every row in
//! one transaction that also records the seed in `app_settings`, so the data is either all there or
//! not there at all. Loading again is a no-op unless forced. Never run against a real shop.

use std::{
    fmt,
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use mysql_async::{Conn, TxOpts, Value, prelude::Queryable};

use super::{
    SCHEMA_SQL,
    catalog::{self, CATEGORIES, FIRST_NEW_ITEM_ID, ItemRow, LOCATIONS},
    connect,
    pictures::{self, Picture, PictureSpec},
};

/// What to load, and where.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// An admin URL of the `legacy` database (the schema is dropped and created).
    pub url: String,
    pub seed: u64,
    /// Drop the tables and load again even when the demo data is there.
    pub force: bool,
    /// Verify the server's certificate against this CA (TLS required).
    pub ca: Option<PathBuf>,
}

/// What [`load`] did.
#[derive(Debug)]
pub enum LoadOutcome {
    /// The demo data was there already (loaded with this seed); nothing was changed.
    AlreadyLoaded {
        seed: String,
    },
    Loaded(LoadSummary),
}

/// Counts and timings of a load, for the one-line summary.
#[derive(Debug)]
pub struct LoadSummary {
    pub seed: u64,
    pub items: usize,
    pub soft_deleted: usize,
    pub categories: usize,
    pub locations: usize,
    pub levels: usize,
    pub jpegs: usize,
    pub pngs: usize,
    pub picture_bytes: usize,
    pub largest_picture: usize,
    pub drawing: Duration,
    pub total: Duration,
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: f64 = 1024.0 * 1024.0;
        write!(
            f,
            "demo data loaded (seed {}): {} items ({} soft-deleted), {} categories, {} locations, {} stock levels, \
             {} pictures ({} JPEG, {} PNG, {:.1} MiB, largest {:.1} MiB) drawn in {:.1}s, loaded in {:.1}s",
            self.seed,
            self.items,
            self.soft_deleted,
            self.categories,
            self.locations,
            self.levels,
            self.jpegs + self.pngs,
            self.jpegs,
            self.pngs,
            self.picture_bytes as f64 / MIB,
            self.largest_picture as f64 / MIB,
            self.drawing.as_secs_f64(),
            self.total.as_secs_f64(),
        )
    }
}

/// Creates the schema and loads the demo data unless it is there already (see [`LoadOptions::force`]).
pub async fn load(options: &LoadOptions) -> anyhow::Result<LoadOutcome> {
    let started = Instant::now();
    let opts = connect::opts(&options.url, options.ca.as_deref())?;
    let mut conn = Conn::new(opts)
        .await
        .context("cannot connect to the legacy database")?;

    if !options.force
        && let Some(seed) = loaded_seed(&mut conn).await?
    {
        conn.disconnect().await?;
        return Ok(LoadOutcome::AlreadyLoaded { seed });
    }

    let rows = catalog::demo_rows(options.seed);
    let specs: Vec<PictureSpec> = rows.iter().filter_map(|row| row.picture).collect();
    let drawing = Instant::now();
    let pictures = tokio::task::spawn_blocking(move || render_all(&specs)).await??;
    let drawing = drawing.elapsed();

    let jpegs = pictures.iter().filter(|p| p.mime == "image/jpeg").count();
    let mut summary = LoadSummary {
        seed: options.seed,
        items: rows.len(),
        soft_deleted: rows.iter().filter(|r| r.is_deleted).count(),
        categories: CATEGORIES.len(),
        locations: LOCATIONS.len(),
        levels: rows.iter().map(|r| r.levels.len()).sum(),
        jpegs,
        pngs: pictures.len() - jpegs,
        picture_bytes: pictures.iter().map(|p| p.bytes.len()).sum(),
        largest_picture: pictures.iter().map(|p| p.bytes.len()).max().unwrap_or(0),
        drawing,
        total: Duration::ZERO,
    };

    // Also drops whatever a partial earlier load left behind. DDL commits on its own in MariaDB.
    conn.query_drop(SCHEMA_SQL)
        .await
        .context("cannot create the legacy schema")?;
    insert_all(&mut conn, options.seed, &rows, pictures).await?;
    conn.disconnect().await?;
    summary.total = started.elapsed();
    Ok(LoadOutcome::Loaded(summary))
}

/// The seed recorded by a completed load, if there was one.
async fn loaded_seed(conn: &mut Conn) -> anyhow::Result<Option<String>> {
    let has_settings: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'app_settings'",
        )
        .await?;
    if has_settings != Some(1) {
        return Ok(None);
    }
    Ok(conn
        .exec_first(
            "SELECT value FROM app_settings WHERE name = ?",
            ("demo_seed",),
        )
        .await?)
}

/// Draws every picture on all cores; each spec carries its own seed, so the order of work does not
/// change the bytes. Returns them in the order of `specs`.
pub fn render_all(specs: &[PictureSpec]) -> anyhow::Result<Vec<Picture>> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let mut done: Vec<(usize, Picture)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<Vec<(usize, Picture)>> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(spec) = specs.get(i) else {
                            return Ok(mine);
                        };
                        mine.push((i, pictures::render(spec)?));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a picture worker panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, p)| p).collect())
}

async fn insert_all(
    conn: &mut Conn,
    seed: u64,
    rows: &[ItemRow],
    pictures: Vec<Picture>,
) -> anyhow::Result<()> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    tx.exec_batch(
        "INSERT INTO categories (id, name, slug) VALUES (?, ?, ?)",
        CATEGORIES.iter().map(|c| (c.id, c.name, c.slug)),
    )
    .await
    .context("categories")?;
    tx.exec_batch(
        "INSERT INTO locations (id, code, name, sellable) VALUES (?, ?, ?, ?)",
        LOCATIONS.iter().map(|l| (l.id, l.code, l.name, l.sellable)),
    )
    .await
    .context("locations")?;
    tx.exec_drop(
        "INSERT INTO id_sequences (name, last_id) VALUES ('items', ?)",
        (FIRST_NEW_ITEM_ID - 1,),
    )
    .await
    .context("id_sequences")?;

    let insert_item = tx
        .prep(
            "INSERT INTO items (id, sku, name, description, category_id, price, vat_included, image, image_mime, \
             supplier_note, is_deleted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .await?;
    let mut pictures = pictures.into_iter();
    for row in rows {
        let hat = row.hat;
        let picture = match row.picture {
            Some(_) => Some(pictures.next().context("fewer pictures than specs")?),
            None => None,
        };
        let (image, mime) = match picture {
            Some(p) => (Value::Bytes(p.bytes), Value::from(p.mime)),
            None => (Value::NULL, Value::NULL),
        };
        let params: Vec<Value> = vec![
            hat.id.into(),
            hat.sku.into(),
            hat.name.into(),
            hat.description.into(),
            hat.category_id.into(),
            hat.price.into(),
            hat.vat_included.into(),
            image,
            mime,
            hat.supplier_note.into(),
            row.is_deleted.into(),
            row.created_at.into(),
            row.updated_at.into(),
        ];
        tx.exec_drop(&insert_item, params)
            .await
            .with_context(|| format!("item {}", hat.id))?;
    }

    tx.exec_batch(
        "INSERT INTO stock_levels (item_id, location_id, quantity, updated_at) VALUES (?, ?, ?, ?)",
        rows.iter().flat_map(|row| {
            row.levels
                .iter()
                .map(|l| (row.hat.id, l.location_id, l.quantity, l.updated_at))
        }),
    )
    .await
    .context("stock_levels")?;
    tx.exec_batch(
        "INSERT INTO app_settings (name, value) VALUES (?, ?)",
        [
            ("currency", "GBP".to_owned()),
            ("vat_rate_percent", "20".to_owned()),
            ("demo_seed", seed.to_string()),
        ],
    )
    .await
    .context("app_settings")?;
    tx.commit().await.context("commit")?;
    Ok(())
}
