//! Schema changes on a watched table (issue 3, item 9), on scratch MariaDB servers: an added
//! column is harmless; a mapped column dropped, renamed or changed to a type that does not convert
//! stops that table only — its items are not sellable, the other tables stream on, `bridge status`
//! and `bridge_stopped_tables` show it, a restart keeps it stopped — and the way back is a fitting
//! table (or mapping) plus `bridge snapshot --table X`, after which `verify` finds no drift. A
//! stopped categories lookup leaves items sellable (it only names them) and says so; a column
//! dropped while the bridge was away stops its table when the bridge starts, not the bridge.
//! (A statement-logged change stopping its table is tested in `resume.rs`.)

use crate::resume::{on_hand, streaming_scratch};
use crate::support::{BridgeUnderTest, WAIT, bridge_command, metric, wait_until};
use mysql_async::prelude::Queryable;
use std::time::Duration;

/// Whether the shop may sell the item (`stock.stock_available`, as the shop reads it).
pub(crate) async fn sellable(bridge: &BridgeUnderTest, key: u64) -> Option<bool> {
    sqlx::query_scalar::<_, Option<bool>>(
        "SELECT sellable FROM stock.stock_available WHERE item_key = $1",
    )
    .bind(key.to_string())
    .fetch_optional(&bridge.shop)
    .await
    .unwrap()
    .flatten()
}

pub(crate) async fn price(bridge: &BridgeUnderTest, key: u64) -> Option<i64> {
    sqlx::query_scalar::<_, Option<i64>>("SELECT price_minor FROM stock.items WHERE item_key = $1")
        .bind(key.to_string())
        .fetch_optional(&bridge.shop)
        .await
        .unwrap()
        .flatten()
}

/// Waits until `bridge_stopped_tables{table="…"}` on the bridge's `/metrics` reads `value`.
async fn wait_for_gauge(bridge: &mut BridgeUnderTest, table: &str, value: f64) {
    let name = format!("bridge_stopped_tables{{table=\"{table}\"}}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = bridge.metrics().await;
        if metric(&page, &name) == Some(value) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {name} = {value}; /metrics:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the bridge's "mapped table stopped" line and checks it names `table` and `words`.
async fn wait_for_stop(bridge: &mut BridgeUnderTest, table: &str, words: &[&str]) {
    let stopped = bridge
        .process
        .wait_for_log("mapped table stopped", WAIT)
        .await
        .unwrap();
    assert_eq!(stopped["table"], table, "{stopped}");
    let reason = stopped["reason"].as_str().unwrap_or_default();
    assert!(words.iter().all(|w| reason.contains(w)), "{stopped}");
}

/// `bridge snapshot --table X` must succeed, then nothing may differ from the source.
async fn snapshot_table_and_verify(bridge: &BridgeUnderTest, table: &str) {
    let (code, out) =
        bridge_command(bridge, &bridge.source, &format!("snapshot --table {table}")).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("switched in"), "{out}");
    let (code, out) = bridge_command(bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "verify after the table snapshot: {out}");
}

#[tokio::test]
async fn a_dropped_level_column_stops_only_that_table_until_it_is_snapshotted_again() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    // An added column is harmless: mapped columns are found by name.
    root.query_drop("ALTER TABLE items ADD COLUMN colour VARCHAR(20) NULL")
        .await
        .unwrap();
    root.query_drop("UPDATE items SET price = '11.0000', colour = 'red' WHERE id = 1")
        .await
        .unwrap();
    wait_until("the price after an added column", || async {
        price(&bridge, 1).await == Some(1100)
    })
    .await;
    assert_eq!(sellable(&bridge, 1).await, Some(true));

    // A mapped column dropped: the next row event of stock_levels lacks it.
    root.query_drop(
        "ALTER TABLE stock_levels DROP INDEX uq_stock_levels_item_location,
             DROP INDEX idx_stock_levels_location, DROP COLUMN location_id",
    )
    .await
    .unwrap();
    root.query_drop("UPDATE stock_levels SET quantity = 7 WHERE item_id = 1")
        .await
        .unwrap();
    wait_for_stop(
        &mut bridge,
        "stock_levels",
        &["location_id", "dropped or renamed"],
    )
    .await;
    wait_until("item 1 no longer sellable", || async {
        sellable(&bridge, 1).await == Some(false)
    })
    .await;
    assert_eq!(
        on_hand(&bridge, 1).await,
        Some(4),
        "the change was not applied"
    );
    wait_for_gauge(&mut bridge, "stock_levels", 1.0).await;
    let (code, status) = bridge_command(&bridge, &bridge.source, "status").await;
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("stopped tables: 1")
            && status.contains("stock_levels (levels): stopped at")
            && status.contains("location_id")
            && status.contains("not sellable")
            && status.contains("bridge snapshot --table stock_levels"),
        "{status}"
    );
    // The other tables go on.
    root.query_drop("UPDATE items SET price = '12.5000' WHERE id = 1")
        .await
        .unwrap();
    wait_until("a price change on the items table", || async {
        price(&bridge, 1).await == Some(1250)
    })
    .await;

    // A restart keeps the table stopped, and streams the rest (no exit, no loop).
    bridge.halt().await;
    let source = bridge.source.clone();
    bridge.resume_on(source);
    bridge
        .process
        .wait_for_log("binlog stream started", WAIT)
        .await
        .unwrap();
    root.query_drop("UPDATE items SET price = '13.0000' WHERE id = 1")
        .await
        .unwrap();
    wait_until("a price change after the restart", || async {
        price(&bridge, 1).await == Some(1300)
    })
    .await;
    assert_eq!(sellable(&bridge, 1).await, Some(false));
    wait_for_gauge(&mut bridge, "stock_levels", 1.0).await;

    // Refused while the table still does not fit.
    let (code, out) =
        bridge_command(&bridge, &bridge.source, "snapshot --table stock_levels").await;
    assert_eq!(code, 15, "{out}");
    assert!(
        out.contains("still does not fit") && out.contains("location_id"),
        "{out}"
    );

    // The column back, then the table alone loaded again: everything sellable, no drift.
    root.query_drop(
        "ALTER TABLE stock_levels ADD COLUMN location_id INT UNSIGNED NOT NULL DEFAULT 1",
    )
    .await
    .unwrap();
    snapshot_table_and_verify(&bridge, "stock_levels").await;
    assert_eq!(on_hand(&bridge, 1).await, Some(7));
    assert_eq!(sellable(&bridge, 1).await, Some(true));
    wait_for_gauge(&mut bridge, "stock_levels", 0.0).await;
    // And it streams again.
    root.query_drop("UPDATE stock_levels SET quantity = 3 WHERE item_id = 1")
        .await
        .unwrap();
    wait_until("levels stream again", || async {
        on_hand(&bridge, 1).await == Some(3)
    })
    .await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_renamed_item_column_stops_the_items_table_and_levels_go_on() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    root.query_drop("ALTER TABLE items RENAME COLUMN name TO title")
        .await
        .unwrap();
    root.query_drop("UPDATE items SET title = 'Renamed Hat', price = '5.0000' WHERE id = 1")
        .await
        .unwrap();
    wait_for_stop(&mut bridge, "items", &["items.name", "dropped or renamed"]).await;
    wait_until("item 1 no longer sellable", || async {
        sellable(&bridge, 1).await == Some(false)
    })
    .await;
    assert_ne!(price(&bridge, 1).await, Some(500), "not applied");
    // The levels table goes on.
    root.query_drop("UPDATE stock_levels SET quantity = 6 WHERE item_id = 1")
        .await
        .unwrap();
    wait_until("a level change", || async {
        on_hand(&bridge, 1).await == Some(6)
    })
    .await;
    wait_for_gauge(&mut bridge, "items", 1.0).await;
    let (code, status) = bridge_command(&bridge, &bridge.source, "status").await;
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("items (items): stopped at")
            && status.contains("bridge snapshot --table items"),
        "{status}"
    );

    root.query_drop("ALTER TABLE items RENAME COLUMN title TO name")
        .await
        .unwrap();
    snapshot_table_and_verify(&bridge, "items").await;
    assert_eq!(price(&bridge, 1).await, Some(500));
    assert_eq!(sellable(&bridge, 1).await, Some(true));
    bridge.stop().await;
}

#[tokio::test]
async fn a_quantity_that_no_longer_converts_stops_the_levels_table() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    root.query_drop("ALTER TABLE stock_levels MODIFY quantity VARCHAR(20) NOT NULL DEFAULT '0'")
        .await
        .unwrap();
    root.query_drop("UPDATE stock_levels SET quantity = 'lots' WHERE item_id = 1")
        .await
        .unwrap();
    wait_for_stop(
        &mut bridge,
        "stock_levels",
        &["quantity", "does not convert"],
    )
    .await;
    wait_until("item 1 no longer sellable", || async {
        sellable(&bridge, 1).await == Some(false)
    })
    .await;
    assert_eq!(on_hand(&bridge, 1).await, Some(4), "not counted as 0");

    root.query_drop("UPDATE stock_levels SET quantity = '2' WHERE item_id = 1")
        .await
        .unwrap();
    root.query_drop("ALTER TABLE stock_levels MODIFY quantity INT NOT NULL DEFAULT 0")
        .await
        .unwrap();
    snapshot_table_and_verify(&bridge, "stock_levels").await;
    assert_eq!(on_hand(&bridge, 1).await, Some(2));
    assert_eq!(sellable(&bridge, 1).await, Some(true));
    bridge.stop().await;
}

#[tokio::test]
async fn a_stopped_categories_lookup_leaves_items_sellable_and_says_so() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    root.query_drop("ALTER TABLE categories RENAME COLUMN name TO label")
        .await
        .unwrap();
    root.query_drop("UPDATE categories SET label = 'Toppers' WHERE id = 1")
        .await
        .unwrap();
    wait_for_stop(
        &mut bridge,
        "categories",
        &["categories.name", "dropped or renamed"],
    )
    .await;
    wait_for_gauge(&mut bridge, "categories", 1.0).await;
    // Categories only name things: the items stay sellable, and status says their names may lag.
    assert_eq!(sellable(&bridge, 1).await, Some(true));
    let (code, status) = bridge_command(&bridge, &bridge.source, "status").await;
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("categories (categories): stopped at")
            && status.contains("items stay sellable")
            && status.contains("bridge snapshot --table categories"),
        "{status}"
    );

    root.query_drop("ALTER TABLE categories RENAME COLUMN label TO name")
        .await
        .unwrap();
    snapshot_table_and_verify(&bridge, "categories").await;
    let category: Option<String> =
        sqlx::query_scalar("SELECT category FROM stock.stock_available WHERE item_key = '1'")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    assert_eq!(category.as_deref(), Some("Toppers"));
    wait_for_gauge(&mut bridge, "categories", 0.0).await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_column_dropped_while_the_bridge_was_away_stops_its_table_at_start() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    bridge.halt().await;
    root.query_drop("ALTER TABLE items DROP COLUMN vat_included")
        .await
        .unwrap();
    let source = bridge.source.clone();
    bridge.resume_on(source);
    // Not exit 15 (that would stop every table, and loop under a supervisor): the items table
    // alone is stopped, at the checkpoint, and the levels stream on.
    wait_for_stop(&mut bridge, "items", &["vat_included", "session started"]).await;
    root.query_drop("UPDATE stock_levels SET quantity = 8 WHERE item_id = 1")
        .await
        .unwrap();
    wait_until("a level change after the start", || async {
        on_hand(&bridge, 1).await == Some(8)
    })
    .await;
    assert_eq!(sellable(&bridge, 1).await, Some(false));
    wait_for_gauge(&mut bridge, "items", 1.0).await;
    bridge.stop().await;
}
