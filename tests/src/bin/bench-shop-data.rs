//! `bench-shop-data`: the shop benchmarks' dataset. Writes `--items` generated hats (ids from
//! 8,000,000,000,001 up, far above the demo's) into the legacy MariaDB in one transaction, spread
//! over the existing categories, with stock at location 1 (every 7th hat low, every 11th out of
//! stock); the bridge replicates them like any staff change. Running it again rewrites the same
//! rows; `--remove` marks them deleted (as staff delete an item), so the demo is as it was. Runs against the local stack (`eval "$(deploy/local/env)"` first). Method and figures:
//! docs/BENCHMARKS.md ("Shop").

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::path::Path;
use tests::bench::HAT_STYLES;
use tests::stack::env;

/// The first generated id; the bench reads it too.
const FIRST_ID: u64 = 8_000_000_000_001;

#[derive(Parser)]
struct Args {
    /// Generated hats.
    #[arg(long, default_value_t = 1000)]
    items: u64,
    /// Mark the generated hats deleted instead.
    #[arg(long)]
    remove: bool,
}

const COLOURS: [&str; 8] = [
    "Black", "Tweed", "Scarlet", "Olive", "Navy", "Mustard", "Plum", "Striped",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ca = env("LEGACY_MYSQL_CA");
    let opts = tests::legacy::connect::opts(&env("LEGACY_MYSQL_APP_URL"), Some(Path::new(&ca)))?;
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .context("connect to the legacy MariaDB")?;
    let categories: Vec<u32> = conn.query("SELECT id FROM categories ORDER BY id").await?;
    anyhow::ensure!(
        !categories.is_empty(),
        "the legacy database has no categories"
    );
    if args.remove {
        conn.exec_drop(
            "UPDATE items SET is_deleted = 1 WHERE id BETWEEN ? AND ?",
            (FIRST_ID, FIRST_ID + args.items - 1),
        )
        .await?;
        println!("{} generated hats marked deleted", args.items);
        return Ok(());
    }
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    for n in 0..args.items {
        let id = FIRST_ID + n;
        let i = usize::try_from(n)?;
        let name = format!(
            "{} {} No. {}",
            COLOURS[i % COLOURS.len()],
            HAT_STYLES[(i / COLOURS.len()) % HAT_STYLES.len()],
            n + 1
        );
        let price = format!("{}.{:02}", 9 + (n * 37) % 80, (n * 13) % 100);
        let quantity: i32 = if n % 11 == 0 {
            0
        } else if n % 7 == 0 {
            3
        } else {
            40
        };
        tx.exec_drop(
            "INSERT INTO items (id, sku, name, description, category_id, price, vat_included) \
             VALUES (?, ?, ?, 'A generated hat for the shop benchmarks.', ?, ?, 1) \
             ON DUPLICATE KEY UPDATE name = VALUES(name), price = VALUES(price), is_deleted = 0",
            (
                id,
                format!("FH-BENCH-{:04}", n + 1),
                &name,
                categories[i % categories.len()],
                &price,
            ),
        )
        .await?;
        tx.exec_drop(
            "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, ?) \
             ON DUPLICATE KEY UPDATE quantity = VALUES(quantity)",
            (id, quantity),
        )
        .await?;
    }
    tx.commit().await?;
    conn.disconnect().await?;
    println!(
        "{} generated hats written (ids {FIRST_ID}..={})",
        args.items,
        FIRST_ID + args.items - 1
    );
    Ok(())
}
