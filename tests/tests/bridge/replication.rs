//! Snapshot, streaming and exactly-once, as the shop would read them from schema `stock`.

use crate::support::{BridgeUnderTest, admin, fresh_item_id, seq, stockapp, wait_until};
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::time::Duration;
use tests::legacy::simulate::{self, Rate, SimulateOptions};

/// Location ids of the demo: 1 is the main warehouse (for sale), 4 is RETURNS (not for sale).
const MAIN: u32 = 1;
const SHOP_FLOOR: u32 = 2;
const RETURNS: u32 = 4;

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Item {
    on_hand: i32,
    on_hand_raw: i64,
    deleted: bool,
    sellable: bool,
}

async fn item(bridge: &BridgeUnderTest, key: u64) -> Option<Item> {
    sqlx::query_as(
        "SELECT on_hand, on_hand_raw, deleted, sellable FROM stock.items WHERE item_key = $1",
    )
    .bind(key.to_string())
    .fetch_optional(&bridge.shop)
    .await
    .unwrap()
}

async fn wait_for_item(
    bridge: &BridgeUnderTest,
    key: u64,
    what: &str,
    want: impl Fn(&Option<Item>) -> bool,
) {
    wait_until(&format!("item {key}: {what}"), || async {
        want(&item(bridge, key).await)
    })
    .await;
}

async fn insert_item(app: &mut impl Queryable, id: u64, sku: &str) {
    app.exec_drop(
        "INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, 'Test Trilby', 1, '12.5000')",
        (id, sku),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_snapshot_carries_every_trap_of_the_demo() {
    let mut bridge = BridgeUnderTest::start().await;
    let big = item(&bridge, 9_223_372_036_854_775_817)
        .await
        .expect("the key above 2^63 is replicated");
    assert!(!big.deleted);

    let quarantined: Vec<(String, bool)> = sqlx::query_as(
        "SELECT quarantine_reason, sellable FROM stock.items WHERE quarantine_reason IS NOT NULL",
    )
    .fetch_all(&bridge.shop)
    .await
    .unwrap();
    assert!(
        quarantined
            .iter()
            .any(|(reason, sellable)| reason.contains("19.9950")
                && reason.contains("snapshot")
                && !sellable),
        "the sub-penny price is quarantined with where it was seen: {quarantined:?}"
    );
    let duplicates: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock.items WHERE duplicate_sku AND NOT sellable")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    assert!(
        duplicates >= 2,
        "both items sharing a SKU are flagged and not sellable"
    );
    let script: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stock.items WHERE name LIKE '%<script>alert(1)</script>'",
    )
    .fetch_one(&bridge.shop)
    .await
    .unwrap();
    assert_eq!(
        script, 1,
        "names are stored as typed; escaping is the shop's job"
    );
    let emoji: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.items WHERE name LIKE '%🎉%'")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert!(emoji >= 1);

    // Every item's quantity is the clamped sum of its sellable levels, as the source says (other
    // tests write to the source meanwhile, so compare until both sides rest at the same state).
    assert_no_drift(&mut bridge, "after the snapshot").await;
    bridge.stop().await;
}

#[tokio::test]
async fn each_kind_of_change_reaches_the_replica() {
    let bridge = BridgeUnderTest::start().await;
    let mut app = stockapp().await;
    let (x, y, z) = (fresh_item_id(), fresh_item_id(), fresh_item_id());

    // Goods in at two locations in one transaction; RETURNS does not count.
    let mut tx = app.start_transaction(Default::default()).await.unwrap();
    insert_item(&mut tx, x, &format!("T-{x}")).await;
    tx.exec_drop(
        "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, ?, 5), (?, ?, 7)",
        (x, MAIN, x, RETURNS),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    wait_for_item(&bridge, x, "5 on hand", |i| {
        i.as_ref().is_some_and(|i| i.on_hand == 5 && i.sellable)
    })
    .await;

    // A correction below zero: the raw sum is kept for staff, the sellable number clamps at 0.
    app.exec_drop(
        "UPDATE stock_levels SET quantity = -9 WHERE item_id = ? AND location_id = ?",
        (x, MAIN),
    )
    .await
    .unwrap();
    wait_for_item(&bridge, x, "clamped at 0", |i| {
        i.as_ref()
            .is_some_and(|i| i.on_hand == 0 && i.on_hand_raw == -9)
    })
    .await;

    // A level row arriving before its item counts once the item exists.
    app.exec_drop(
        "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, ?, 3)",
        (z, SHOP_FLOOR),
    )
    .await
    .unwrap();
    insert_item(&mut app, z, &format!("T-{z}")).await;
    wait_for_item(&bridge, z, "3 on hand", |i| {
        i.as_ref().is_some_and(|i| i.on_hand == 3)
    })
    .await;

    // A level row moving from one item to another changes both.
    insert_item(&mut app, y, &format!("T-{y}")).await;
    app.exec_drop(
        "UPDATE stock_levels SET item_id = ?, quantity = 4 WHERE item_id = ? AND location_id = ?",
        (y, x, MAIN),
    )
    .await
    .unwrap();
    wait_for_item(&bridge, y, "4 moved in", |i| {
        i.as_ref().is_some_and(|i| i.on_hand == 4)
    })
    .await;
    wait_for_item(&bridge, x, "nothing left for sale", |i| {
        i.as_ref()
            .is_some_and(|i| i.on_hand == 0 && i.on_hand_raw == 0)
    })
    .await;

    // A deleted level row stops counting.
    app.exec_drop("DELETE FROM stock_levels WHERE item_id = ?", (z,))
        .await
        .unwrap();
    wait_for_item(&bridge, z, "0 after its level row went", |i| {
        i.as_ref().is_some_and(|i| i.on_hand == 0)
    })
    .await;

    // Soft delete and undelete.
    app.exec_drop("UPDATE items SET is_deleted = 1 WHERE id = ?", (y,))
        .await
        .unwrap();
    wait_for_item(&bridge, y, "soft-deleted", |i| {
        i.as_ref().is_some_and(|i| i.deleted && !i.sellable)
    })
    .await;
    app.exec_drop("UPDATE items SET is_deleted = 0 WHERE id = ?", (y,))
        .await
        .unwrap();
    wait_for_item(&bridge, y, "undeleted", |i| {
        i.as_ref()
            .is_some_and(|i| !i.deleted && i.sellable && i.on_hand == 4)
    })
    .await;

    // Hard delete leaves a tombstone (orders refer to it); re-inserting the key revives it.
    app.exec_drop("DELETE FROM items WHERE id = ?", (x,))
        .await
        .unwrap();
    wait_for_item(&bridge, x, "tombstone", |i| {
        i.as_ref().is_some_and(|i| i.deleted)
    })
    .await;
    insert_item(&mut app, x, &format!("T-{x}")).await;
    wait_for_item(&bridge, x, "revived", |i| {
        i.as_ref().is_some_and(|i| !i.deleted && i.sellable)
    })
    .await;

    // A SKU shared by two live items makes both unsellable until it is unique again.
    app.exec_drop(
        "UPDATE items SET sku = ? WHERE id = ?",
        (format!("T-{x}"), y),
    )
    .await
    .unwrap();
    wait_for_item(&bridge, x, "duplicate SKU", |i| {
        i.as_ref().is_some_and(|i| !i.sellable)
    })
    .await;
    app.exec_drop(
        "UPDATE items SET sku = ? WHERE id = ?",
        (format!("T-{y}"), y),
    )
    .await
    .unwrap();
    wait_for_item(&bridge, x, "unique again", |i| {
        i.as_ref().is_some_and(|i| i.sellable)
    })
    .await;

    for id in [x, y, z] {
        app.exec_drop("DELETE FROM stock_levels WHERE item_id = ?", (id,))
            .await
            .unwrap();
        app.exec_drop("DELETE FROM items WHERE id = ?", (id,))
            .await
            .unwrap();
    }
    bridge.caught_up().await;
    assert_exactly_once(&bridge).await;
    bridge.stop().await;
}

#[tokio::test]
async fn kill_minus_nine_mid_stream_loses_and_doubles_nothing() {
    let mut bridge = BridgeUnderTest::start().await;
    let simulator = tokio::spawn(simulate::run(
        SimulateOptions {
            url: tests::stack::env("LEGACY_MYSQL_APP_URL"),
            ca: Some(tests::stack::env("LEGACY_MYSQL_CA").into()),
            seed: rand::random(),
            rate: "150/s".parse::<Rate>().unwrap(),
            duration: None,
            count: Some(900),
            max_in_flight: 8,
        },
        std::future::pending::<()>(),
    ));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        bridge.crash_and_restart().await;
    }
    let summary = simulator.await.unwrap().unwrap();
    assert!(summary.committed() > 800, "the simulator ran: {summary:?}");
    assert_no_drift(&mut bridge, "after three kill -9").await;
    assert_exactly_once(&bridge).await;
    bridge.stop().await;
}

/// Waits until the replica's quantities rest at the source's (other tests write meanwhile); on
/// timeout, names the first keys that differ.
async fn assert_no_drift(bridge: &mut BridgeUnderTest, when: &str) {
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    loop {
        let (replica, source) = (
            replica_quantities(bridge).await,
            source_quantities(bridge).await,
        );
        if replica == source {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let differing: Vec<_> = source
                .iter()
                .filter(|(k, v)| replica.get(*k) != Some(*v))
                .take(5)
                .map(|(k, v)| format!("{k}: source {v:?}, replica {:?}", replica.get(k)))
                .collect();
            panic!(
                "drift {when}: {differing:?}\nbridge log tail:\n{}",
                bridge.log_tail(20)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The change log holds each source transaction since the snapshot exactly once: with one GTID
/// domain, its positions are a gap-free run of sequence numbers.
async fn assert_exactly_once(bridge: &BridgeUnderTest) {
    let positions: Vec<String> = sqlx::query_scalar("SELECT position FROM stock.change_log")
        .fetch_all(&bridge.shop)
        .await
        .unwrap();
    let mut seqs: Vec<u64> = positions.iter().map(|p| seq(p)).collect();
    seqs.sort_unstable();
    let before = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), before, "a source transaction was applied twice");
    if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
        assert_eq!(
            seqs.len() as u64,
            last - first + 1,
            "a source transaction is missing between {first} and {last}"
        );
    }
}

/// item key → (on_hand, deleted) as the replica has it, for keys the source still has.
async fn replica_quantities(bridge: &BridgeUnderTest) -> BTreeMap<String, (i64, bool)> {
    let rows: Vec<(String, i32, bool)> =
        sqlx::query_as("SELECT item_key, on_hand, deleted FROM stock.items")
            .fetch_all(&bridge.shop)
            .await
            .unwrap();
    let live: std::collections::BTreeSet<String> =
        source_quantities(bridge).await.into_keys().collect();
    rows.into_iter()
        .filter(|(k, _, _)| live.contains(k))
        .map(|(k, q, d)| (k, (i64::from(q), d)))
        .collect()
}

/// The same, computed from the legacy tables.
async fn source_quantities(_bridge: &BridgeUnderTest) -> BTreeMap<String, (i64, bool)> {
    let mut conn = admin().await;
    let rows: Vec<(u64, i64, u8)> = conn
        .query(
            "SELECT i.id, GREATEST(0, COALESCE(SUM(CASE WHEN l.sellable = 1 THEN s.quantity END), 0)), i.is_deleted
             FROM legacy.items i
             LEFT JOIN legacy.stock_levels s ON s.item_id = i.id
             LEFT JOIN legacy.locations l ON l.id = s.location_id
             GROUP BY i.id, i.is_deleted",
        )
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    rows.into_iter()
        .map(|(id, q, d)| (id.to_string(), (q, d == 1)))
        .collect()
}
