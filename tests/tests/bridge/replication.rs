//! Snapshot, streaming and exactly-once, as the shop would read them from schema `stock`.

use crate::support::{BridgeUnderTest, Source, fresh_item_id, seq, stockapp, wait_until};
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

/// Simulator transactions for about 100,000 row changes (1.7 rows each on average).
const CRASH_TEST_TRANSACTIONS: u64 = 60_000;

#[tokio::test]
async fn crashes_at_random_moments_and_at_crash_points_lose_and_double_nothing() {
    // The simulator writes to a scratch copy of the demo: on the shared source its changes would
    // land in the middle of other tests' assertions.
    let (server, source) = crate::support::scratch_source().await;
    let staff = server
        .create_user("staff", "staff-dev", &["GRANT ALL ON legacy.* TO {user}"])
        .await
        .unwrap();
    tests::legacy::load::load(&tests::legacy::load::LoadOptions {
        url: staff.clone(),
        seed: 42,
        force: true,
        ca: None,
    })
    .await
    .unwrap();
    let mut bridge = BridgeUnderTest::start_on(source).await;
    let simulator = tokio::spawn(simulate::run(
        SimulateOptions {
            url: staff.clone(),
            ca: None,
            seed: rand::random(),
            rate: "2000/s".parse::<Rate>().unwrap(),
            duration: None,
            count: Some(CRASH_TEST_TRANSACTIONS),
            max_in_flight: 16,
        },
        std::future::pending::<()>(),
    ));
    // Beside the simulator, a clerk who starts a change and thinks better of it, over and over:
    // a rolled-back transaction never reaches the binlog, so nothing of it may arrive. It also
    // keeps changes flowing, so an armed bridge always reaches its crash point.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clerk = tokio::spawn(roll_back_until(staff, done.clone()));

    // Three kinds of crash in turn until the simulator is through: aborted inside an open
    // transaction with a batch applied, aborted just after a commit, killed at a random moment.
    let mut crashes = 0;
    bridge.crash().await;
    while !simulator.is_finished() || crashes < 3 {
        match crashes % 3 {
            0 => bridge.restart_armed(&format!("mid-batch:{}", rand::random_range(1..=40))),
            1 => bridge.restart_armed(&format!("after-commit:{}", rand::random_range(1..=40))),
            _ => bridge.restart().await,
        }
        if crashes % 3 == 2 {
            tokio::time::sleep(Duration::from_millis(rand::random_range(200..2000))).await;
            bridge.crash().await;
        } else {
            bridge.crashed_at_its_point().await;
        }
        crashes += 1;
    }
    let summary = simulator.await.unwrap().unwrap();
    assert!(
        summary.committed() > CRASH_TEST_TRANSACTIONS * 9 / 10,
        "the simulator ran: {summary:?}"
    );
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let rolled_back = clerk.await.unwrap();
    assert!(rolled_back > 0, "the clerk rolled changes back");

    bridge.restart().await;
    let (code, out) = crate::support::bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "after {crashes} crashes: {out}");
    assert_no_drift(&mut bridge, &format!("after {crashes} crashes")).await;
    assert_exactly_once(&bridge).await;
    let rows: i64 =
        sqlx::query_scalar("SELECT COALESCE(sum(rows), 0)::bigint FROM stock.change_log")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    assert!(
        rows >= 90_000,
        "about 100,000 row changes went through, not {rows}"
    );
    bridge.stop().await;
}

/// A backlog large enough to be applied in lanes (bridge/src/sink/lanes.rs), and a crash after the
/// first lane's commit, before the last's: the first lane's transactions are in the shop ahead of
/// the checkpoint and listed as such; the next session passes over them, so nothing is lost or
/// applied twice.
#[tokio::test]
async fn a_crash_between_two_lanes_commits_loses_and_doubles_nothing() {
    const BACKLOG: u64 = 3000;
    let (server, source) = crate::support::scratch_source().await;
    let mut bridge = BridgeUnderTest::start_on(source).await;
    bridge.halt().await;
    // While the bridge is down, stock staff add hats one by one, each with its stock: a backlog of
    // source transactions that share nothing.
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    for chunk in (1..=BACKLOG).collect::<Vec<_>>().chunks(500) {
        let statements: String = chunk
            .iter()
            .map(|id| {
                format!(
                    "BEGIN; INSERT INTO items (id, sku, name, category_id, price)
                       VALUES ({id}, 'LANE-{id}', 'Lane Hat', 1, '9.5000');
                     INSERT INTO stock_levels (item_id, location_id, quantity) VALUES ({id}, 1, 2);
                     COMMIT;"
                )
            })
            .collect();
        root.query_drop(statements).await.unwrap();
    }

    bridge.restart_armed("between-lanes:1");
    bridge.crashed_at_its_point().await;
    let (ahead, at): (Vec<String>, String) =
        sqlx::query_as("SELECT applied_ahead, gtid FROM stock.checkpoint")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    let positions: Vec<String> = sqlx::query_scalar("SELECT position FROM stock.change_log")
        .fetch_all(&bridge.shop)
        .await
        .unwrap();
    let mut beyond: Vec<&String> = positions.iter().filter(|p| seq(p) > seq(&at)).collect();
    let mut listed: Vec<&String> = ahead.iter().collect();
    beyond.sort();
    listed.sort();
    assert!(
        !listed.is_empty(),
        "the first lane committed ahead of the checkpoint at {at}"
    );
    assert_eq!(
        beyond, listed,
        "the transactions logged beyond the checkpoint are those listed as ahead of it"
    );
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock.items WHERE sku LIKE 'LANE-%'")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    assert!(
        visible >= listed.len() as i64 && visible < BACKLOG as i64,
        "the first lane's hats are in the shop, not the last lane's: {visible} of {BACKLOG}"
    );
    // What the on-call engineer sees meanwhile.
    let (code, status) = crate::support::bridge_command(&bridge, &bridge.source, "status").await;
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains(&format!(
            "{} source transaction(s) committed ahead of the checkpoint",
            listed.len()
        )),
        "{status}"
    );

    bridge.restart().await;
    let (code, out) = crate::support::bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "verify after a crash between lanes: {out}");
    assert_exactly_once(&bridge).await;
    let (count, sum, ahead): (i64, i64, Vec<String>) = sqlx::query_as(
        "SELECT count(*), sum(on_hand)::bigint, (SELECT applied_ahead FROM stock.checkpoint)
         FROM stock.items WHERE sku LIKE 'LANE-%' AND sellable",
    )
    .fetch_one(&bridge.shop)
    .await
    .unwrap();
    assert_eq!(
        (count, sum, ahead),
        (BACKLOG as i64, 2 * BACKLOG as i64, vec![]),
        "every hat once, with its stock, and nothing left ahead of the checkpoint"
    );
    bridge.stop().await;
}

/// A batch large enough for lanes that will not split (here one source transaction of 2,400 row
/// changes, too small to come in parts) is applied whole, from the rows it read for the split.
#[tokio::test]
async fn a_large_batch_that_does_not_split_is_applied_whole() {
    let (server, source) = crate::support::scratch_source().await;
    let mut bridge = BridgeUnderTest::start_on(source).await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    root.query_drop(
        "BEGIN;
         INSERT INTO items (id, sku, name, category_id, price)
           SELECT seq, CONCAT('WHOLE-', seq), 'Whole Hat', 1, '8.2500' FROM seq_1_to_1200;
         INSERT INTO stock_levels (item_id, location_id, quantity) SELECT seq, 1, 4 FROM seq_1_to_1200;
         COMMIT",
    )
    .await
    .unwrap();
    let (code, out) = crate::support::bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "verify after a batch that did not split: {out}");
    let (count, sum): (i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(on_hand)::bigint FROM stock.items WHERE sku LIKE 'WHOLE-%' AND sellable",
    )
    .fetch_one(&bridge.shop)
    .await
    .unwrap();
    assert_eq!((count, sum), (1200, 4800), "every hat once, with its stock");
    let page = bridge.metrics().await;
    assert_eq!(
        crate::support::metric(&page, "bridge_batches_in_lanes_total").unwrap_or(0.0),
        0.0,
        "the batch was not split: {page}"
    );
    assert_exactly_once(&bridge).await;
    bridge.stop().await;
}

/// Until `done`: a level row raised by a million and rolled back, then a real correction of one
/// (committed, so changes keep flowing). Returns how many were rolled back. Lock waits and
/// deadlocks with the simulator are stock staff's daily life: that round is simply skipped.
async fn roll_back_until(url: String, done: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u64 {
    let opts = tests::legacy::connect::opts(&url, None).unwrap();
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let mut rolled_back = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let round: Result<(), mysql_async::Error> = async {
            let mut tx = conn.start_transaction(Default::default()).await?;
            tx.query_drop(
                "UPDATE stock_levels SET quantity = quantity + 1000000 ORDER BY id LIMIT 1",
            )
            .await?;
            tx.rollback().await?;
            rolled_back += 1;
            conn.query_drop(
                "UPDATE stock_levels SET quantity = quantity + 1 ORDER BY id DESC LIMIT 1",
            )
            .await
        }
        .await;
        if let Err(e) = round {
            eprintln!("clerk round skipped: {e}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rolled_back
}

#[tokio::test]
async fn a_snapshot_killed_halfway_leaves_nothing_and_the_next_start_takes_it_whole() {
    let (server, source) = crate::support::scratch_source().await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    root.query_drop(
        "INSERT INTO items (id, sku, name, category_id, price)
           SELECT seq, CONCAT('SNAP-', seq), 'Snapshot Hat', 1, '7.5000' FROM seq_1_to_2000;
         INSERT INTO stock_levels (item_id, location_id, quantity)
           SELECT seq, 1, 3 FROM seq_1_to_2000",
    )
    .await
    .unwrap();
    // Stock staff hold the levels table: the snapshot copies the items, then waits for it.
    let mut locker = server.root().await.unwrap();
    locker.query_drop("USE legacy").await.unwrap();
    locker
        .query_drop("LOCK TABLES stock_levels WRITE")
        .await
        .unwrap();
    let mut bridge = BridgeUnderTest::launch(source, |_| Vec::new()).await;
    loop {
        let copied = bridge
            .process
            .wait_for_log("snapshot table copied", crate::support::WAIT)
            .await
            .unwrap();
        if copied["table"] == "items" {
            assert_eq!(copied["rows"], 2000, "{copied}");
            break;
        }
    }
    // Killed halfway: the copied items were never visible, and nothing of them is left.
    bridge.crash().await;
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.items")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    let checkpoints: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.checkpoint")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert_eq!(
        (items, checkpoints),
        (0, 0),
        "a half-loaded snapshot is visible"
    );

    locker.query_drop("UNLOCK TABLES").await.unwrap();
    bridge.restart().await;
    let (count, sum, generation): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(on_hand)::bigint, (SELECT generation FROM stock.checkpoint)
         FROM stock.items WHERE NOT deleted",
    )
    .fetch_one(&bridge.shop)
    .await
    .unwrap();
    assert_eq!(
        (count, sum, generation),
        (2000, 6000, 1),
        "the restart takes the snapshot whole, as the first one"
    );
    let (code, out) = crate::support::bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "verify after the restarted snapshot: {out}");
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
async fn source_quantities(bridge: &BridgeUnderTest) -> BTreeMap<String, (i64, bool)> {
    let mut conn = bridge.source.connect().await;
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

#[tokio::test]
async fn a_latin1_column_reads_the_same_by_snapshot_and_by_binlog() {
    let (_server, source) = crate::support::scratch_source().await;
    let mut root = _server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    // Many legacy schemas predate utf8mb4: the item names in latin1 (Windows-1252 in MySQL).
    root.query_drop(
        "ALTER TABLE items MODIFY name VARCHAR(255) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL",
    )
    .await
    .unwrap();
    let name = "Café Müller – €5 “Sonderpreis”";
    let insert =
        "INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, ?, 1, '5.0000')";
    root.exec_drop(insert, (1u64, "L-1", name)).await.unwrap();
    let bridge = BridgeUnderTest::start_on(source.clone()).await;
    root.exec_drop(insert, (2u64, "L-2", name)).await.unwrap();
    let names = || async {
        sqlx::query_scalar::<_, String>("SELECT name FROM stock.items ORDER BY item_key")
            .fetch_all(&bridge.shop)
            .await
            .unwrap()
    };
    wait_until("item 2 streamed", || async { names().await.len() == 2 }).await;
    assert_eq!(names().await, [name, name], "snapshot, then binlog");
    let quarantined: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock.items WHERE quarantine_reason IS NOT NULL")
            .fetch_one(&bridge.shop)
            .await
            .unwrap();
    assert_eq!(quarantined, 0);

    // A character set the bridge cannot read the same way on both paths is refused at start-up.
    root.query_drop("ALTER TABLE items MODIFY sku VARCHAR(64) CHARACTER SET cp1251 NOT NULL")
        .await
        .unwrap();
    let (code, out) = crate::support::bridge_command(&bridge, &source, "run").await;
    assert_eq!(code, 15, "{out}");
    assert!(
        out.contains("column legacy.items.sku is in character set cp1251"),
        "{out}"
    );
    bridge.stop().await;
}

#[tokio::test]
async fn datetimes_are_read_in_the_mappings_time_zone() {
    let (server, source) = crate::support::scratch_source().await;
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bridge/mappings/demo.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let london = dir.path().join("london.toml");
    std::fs::write(
        &london,
        demo.replace("time_zone = \"UTC\"", "time_zone = \"Europe/London\""),
    )
    .unwrap();
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    let insert = "INSERT INTO items (id, sku, name, category_id, price, updated_at) VALUES (?, ?, 'Clock Hat', 1, '5.0000', ?)";
    // Summer time in London (UTC+1), by the snapshot.
    root.exec_drop(insert, (1u64, "T-1", "2026-07-01 12:00:00.250000"))
        .await
        .unwrap();
    let bridge = BridgeUnderTest::start_with(
        source.clone(),
        vec![(
            "FUNNYHAT_SOURCE__MAPPING".to_owned(),
            london.display().to_string(),
        )],
    )
    .await;
    // Winter (UTC+0) and a zero date the old app wrote, by the binlog.
    root.exec_drop(insert, (2u64, "T-2", "2026-01-15 12:00:00"))
        .await
        .unwrap();
    root.query_drop("SET SESSION sql_mode = ''").await.unwrap();
    root.exec_drop(insert, (3u64, "T-3", "0000-00-00 00:00:00"))
        .await
        .unwrap();
    let read = || async {
        sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
            "SELECT item_key, to_char(source_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), quarantine_reason
             FROM stock.items ORDER BY item_key",
        )
        .fetch_all(&bridge.shop)
        .await
        .unwrap()
    };
    wait_until("three items", || async { read().await.len() == 3 }).await;
    assert_eq!(
        read().await,
        [
            ("1".into(), Some("2026-07-01 11:00:00.250".into()), None),
            ("2".into(), Some("2026-01-15 12:00:00.000".into()), None),
            ("3".into(), None, None),
        ]
    );

    // A zone PostgreSQL does not know stops the bridge at start-up with a clear line.
    let mars = dir.path().join("mars.toml");
    std::fs::write(
        &mars,
        demo.replace("time_zone = \"UTC\"", "time_zone = \"Mars/Olympus_Mons\""),
    )
    .unwrap();
    let (code, out) = crate::support::bridge_command_with(
        &bridge,
        "run",
        &[("FUNNYHAT_SOURCE__MAPPING", mars.to_str().unwrap())],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("source.time_zone = \"Mars/Olympus_Mons\" is not a time zone"),
        "{out}"
    );
    bridge.stop().await;
}

/// A differently shaped legacy schema, described by a mapping file only: the quantity in the item
/// row, a text key that is also the SKU, soft delete by `deleted_at`, no categories or locations.
const SHOP2_SCHEMA: &str = "
CREATE DATABASE shop2;
CREATE TABLE shop2.products (
  code VARCHAR(32) NOT NULL PRIMARY KEY,
  title VARCHAR(200) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  qty INT NULL,
  deleted_at DATETIME NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO shop2.products (code, title, price, qty) VALUES ('A', 'Alpine Hat', 12.50, 5), ('B', 'Bush Hat', 9.99, -2);
";

const SHOP2_MAPPING: &str = r#"
[source]
schema = "shop2"

[items]
table = "products"
key = "code"
sku = "code"
name = "title"
price = "price"
currency = "GBP"
rounding = "half_even"
quantity = "qty"
deleted = { column = "deleted_at", deleted_when = "not_null" }
"#;

#[tokio::test]
async fn a_differently_shaped_schema_needs_only_another_mapping_file() {
    let (server, source) = crate::support::scratch_source().await;
    let mut root = server.root().await.unwrap();
    root.query_drop(SHOP2_SCHEMA).await.unwrap();
    root.query_drop("GRANT SELECT ON shop2.* TO 'bridge'@'127.0.0.1'")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("shop2.toml");
    std::fs::write(&mapping, SHOP2_MAPPING).unwrap();
    let bridge = BridgeUnderTest::start_with(
        source.clone(),
        vec![(
            "FUNNYHAT_SOURCE__MAPPING".to_owned(),
            mapping.display().to_string(),
        )],
    )
    .await;
    let state = || async {
        sqlx::query_as::<_, (String, i32, i64, bool, Option<i64>)>(
            "SELECT item_key, on_hand, on_hand_raw, deleted, price_minor FROM stock.items ORDER BY item_key",
        )
        .fetch_all(&bridge.shop)
        .await
        .unwrap()
    };
    assert_eq!(
        state().await,
        [
            ("A".into(), 5, 5, false, Some(1250)),
            ("B".into(), 0, -2, false, Some(999)),
        ],
        "the snapshot"
    );

    root.query_drop(
        "UPDATE shop2.products SET qty = 3 WHERE code = 'A';
         INSERT INTO shop2.products (code, title, price, qty) VALUES ('C', 'Cloche', 20.00, 7);
         UPDATE shop2.products SET deleted_at = NOW() WHERE code = 'B';
         UPDATE shop2.products SET code = 'C2' WHERE code = 'C';
         UPDATE shop2.products SET qty = NULL WHERE code = 'A';",
    )
    .await
    .unwrap();
    // C is renamed C2 (a key change is a delete and an insert); whether C was seen first (then it
    // is a tombstone) depends on how the transactions were batched, so it is left out.
    let expected = [
        ("A".into(), 0, 0, false, Some(1250)),
        ("B".into(), 0, -2, true, Some(999)),
        ("C2".into(), 7, 7, false, Some(2000)),
    ];
    wait_until("the binlog changes", || async {
        let mut now = state().await;
        now.retain(|(key, _, _, deleted, _)| !(key == "C" && *deleted));
        now == expected
    })
    .await;
    let (code, out) = crate::support::bridge_command(&bridge, &source, "verify").await;
    assert_eq!(code, 0, "verify: {out}");
    bridge.stop().await;
}

/// The value of `var` in a running process's environment, as the system sees it.
fn environment_of(process: &tests::stack::Running, var: &str) -> Option<String> {
    let pid = process.child.id().expect("the process runs");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .strip_prefix(var)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_owned)
    })
}

/// glibc's mmap threshold, which keeps a large binlog event's freed buffers from staying resident
/// (docs/BENCHMARKS.md, "Bridge memory"): a bridge started without it runs with 1 MiB, and keeps
/// an operator's own value. Either way it replicates as before.
#[tokio::test]
async fn the_bridge_fixes_glibcs_mmap_threshold_for_itself_unless_told_otherwise() {
    const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
    let plain = BridgeUnderTest::start().await;
    // The tests' own environment, when it sets the variable, is an operator's value too.
    let expected = std::env::var(VAR).unwrap_or_else(|_| "1048576".to_owned());
    assert_eq!(environment_of(&plain.process, VAR), Some(expected));
    let told = BridgeUnderTest::start_with(
        Source::shared(),
        vec![(VAR.to_owned(), "2097152".to_owned())],
    )
    .await;
    assert_eq!(
        environment_of(&told.process, VAR).as_deref(),
        Some("2097152")
    );
    plain.stop().await;
    told.stop().await;
}
