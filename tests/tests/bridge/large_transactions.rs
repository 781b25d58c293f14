//! Source transactions too large for one batch (a stock-take that rewrites every level row, a bulk
//! import), on scratch MariaDB servers: applied in parts inside one open PostgreSQL transaction and
//! committed with the checkpoint at the source's commit, so a reader of PostgreSQL sees all of it or
//! none of it, the change log holds it once, and a crash halfway (the process aborted with
//! the first part applied) loses and doubles nothing.
//! A rolled-back transaction that also wrote a non-transactional (MyISAM) table applies nothing.

use crate::resume::{on_hand, streaming_scratch};
use crate::support::{BridgeUnderTest, WAIT, seq, wait_until};
use mysql_async::prelude::Queryable;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// More row changes than the reader hands over in one part (4,096), several times over.
const ITEMS: u64 = 6_000;
const LARGE: &str =
    "a large source transaction: applying it in parts in one open PostgreSQL transaction";

/// A bulk import of [`ITEMS`] items (ids from 101)…
fn bulk_items() -> String {
    format!(
        "INSERT INTO items (id, sku, name, category_id, price)
         SELECT 100 + seq, CONCAT('BULK-', seq), 'Bulk Hat', 1, '5.0000' FROM seq_1_to_{ITEMS}"
    )
}

/// … and one level row of 1 for each.
fn bulk_levels() -> String {
    format!(
        "INSERT INTO stock_levels (item_id, location_id, quantity)
         SELECT 100 + seq, 1, 1 FROM seq_1_to_{ITEMS}"
    )
}

/// (items, Σ on_hand) as a reader of the shop's database sees them at one moment.
async fn totals(bridge: &BridgeUnderTest) -> (i64, i64) {
    totals_in(&bridge.shop).await
}

async fn totals_in(shop: &sqlx::PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), COALESCE(sum(on_hand), 0)::bigint FROM stock.items WHERE NOT deleted",
    )
    .fetch_one(shop)
    .await
    .unwrap()
}

/// Polls `totals` until told to stop; returns every distinct reading.
fn watch(
    bridge: &BridgeUnderTest,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<(i64, i64)>> {
    let shop = bridge.shop.clone();
    tokio::spawn(async move {
        let mut seen = BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            seen.insert(totals_in(&shop).await);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        seen
    })
}

/// The change log's row count for the source transaction with this GTID.
async fn logged_rows(bridge: &BridgeUnderTest, gtid: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT rows::bigint FROM stock.change_log WHERE position = $1")
        .bind(gtid)
        .fetch_all(&bridge.shop)
        .await
        .unwrap()
}

async fn last_gtid(root: &mut mysql_async::Conn) -> String {
    root.query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_large_transaction_is_seen_whole_or_not_at_all_and_logged_once() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;
    // Item 1 (4 on hand) is there already.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(&bridge, stop.clone());
    let mut listener = sqlx::postgres::PgListener::connect_with(&bridge.shop)
        .await
        .unwrap();
    listener
        .listen(contracts::stock::STOCK_CHANGED_CHANNEL)
        .await
        .unwrap();

    // One bulk import: 6,000 items and their levels (12,000 row changes) in one transaction.
    root.query_drop(format!(
        "START TRANSACTION; {}; {}; COMMIT",
        bulk_items(),
        bulk_levels()
    ))
    .await
    .unwrap();
    let import = last_gtid(&mut root).await;
    let total = ITEMS as i64 + 1;
    wait_until("the import is applied", || async {
        totals(&bridge).await == (total, ITEMS as i64 + 4)
    })
    .await;
    // 6,000 keys do not fit a notification: the shop is told everything may have changed.
    let told = tokio::time::timeout(WAIT, listener.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(told.payload(), r#"{"all":true}"#);
    // A stock-take that rewrites every level row.
    root.query_drop("UPDATE stock_levels SET quantity = quantity + 1")
        .await
        .unwrap();
    let stock_take = last_gtid(&mut root).await;
    wait_until("the stock-take is applied", || async {
        totals(&bridge).await == (total, 2 * ITEMS as i64 + 5)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.await.unwrap();
    let expected: BTreeSet<(i64, i64)> = [
        (1, 4),
        (total, ITEMS as i64 + 4),
        (total, 2 * ITEMS as i64 + 5),
    ]
    .into();
    assert!(
        seen.is_subset(&expected),
        "a reader saw part of a transaction: {:?}",
        seen.difference(&expected).take(5).collect::<Vec<_>>()
    );
    assert!(
        bridge.process.drain().iter().any(|l| l.contains(LARGE)),
        "not applied in parts"
    );
    assert_eq!(
        logged_rows(&bridge, &import).await,
        [2 * ITEMS as i64],
        "the import is one change-log row with all its row changes"
    );
    assert_eq!(logged_rows(&bridge, &stock_take).await, [ITEMS as i64 + 1]);
    bridge.stop().await;
}

#[tokio::test]
async fn a_crash_inside_a_large_transaction_loses_and_doubles_nothing() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;
    root.query_drop(format!("{}; {}", bulk_items(), bulk_levels()))
        .await
        .unwrap();
    let before = (ITEMS as i64 + 1, ITEMS as i64 + 4);
    wait_until("the import is applied", || async {
        totals(&bridge).await == before
    })
    .await;
    // Armed to abort as soon as the first part of the next large transaction is applied: the
    // open PostgreSQL transaction dies with it.
    bridge.halt().await;
    bridge.restart_armed("mid-large-transaction:1");
    root.query_drop("UPDATE stock_levels SET quantity = 7")
        .await
        .unwrap();
    let stock_take = last_gtid(&mut root).await;
    bridge.crashed_at_its_point().await;
    assert!(bridge.process.has_logged(LARGE), "it was applying parts");
    bridge.restart().await;
    let after = (ITEMS as i64 + 1, 7 * (ITEMS as i64 + 1));
    wait_until("the stock-take is applied after the restart", || async {
        totals(&bridge).await == after
    })
    .await;
    assert_eq!(
        logged_rows(&bridge, &stock_take).await,
        [ITEMS as i64 + 1],
        "applied once, whole"
    );
    // No transaction missing from the change log (each position is unique there).
    let positions: Vec<String> = sqlx::query_scalar("SELECT position FROM stock.change_log")
        .fetch_all(&bridge.shop)
        .await
        .unwrap();
    let seqs: BTreeSet<u64> = positions.iter().map(|p| seq(p)).collect();
    let (first, last) = (seqs.first().unwrap(), seqs.last().unwrap());
    assert_eq!(
        seqs.len() as u64,
        last - first + 1,
        "a source transaction is missing between {first} and {last}"
    );
    bridge.stop().await;
}

#[tokio::test]
async fn a_rolled_back_transaction_that_also_wrote_a_myisam_table_applies_nothing() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;
    // A legacy PHP app's MyISAM table, written in the same transaction as stock and rolled back:
    // MariaDB logs the MyISAM write on its own (it cannot be undone) and drops the rest.
    root.query_drop("CREATE TABLE audit_trail (id INT NOT NULL, note VARCHAR(40)) ENGINE=MyISAM")
        .await
        .unwrap();
    root.query_drop(format!(
        "START TRANSACTION;
         UPDATE stock_levels SET quantity = 99 WHERE item_id = 1;
         {};
         INSERT INTO audit_trail VALUES (1, 'bulk import');
         ROLLBACK",
        bulk_items()
    ))
    .await
    .unwrap();
    let audit = last_gtid(&mut root).await;
    // Then an ordinary change, which must stream as usual.
    crate::resume::add_item(&mut root, 2, 5).await;
    wait_until("the next change streams", || async {
        on_hand(&bridge, 2).await == Some(5)
    })
    .await;
    assert_eq!(
        on_hand(&bridge, 1).await,
        Some(4),
        "a rolled-back change applied"
    );
    assert_eq!(totals(&bridge).await, (2, 9), "rolled-back items applied");
    assert_eq!(
        logged_rows(&bridge, &audit).await,
        [0],
        "only the MyISAM write was committed: one transaction, no mapped rows"
    );
    assert!(
        !bridge.process.drain().iter().any(|l| l.contains(LARGE)),
        "{}",
        bridge.log_tail(20)
    );
    bridge.stop().await;
}
