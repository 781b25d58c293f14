//! Resuming: by file+position as well as by GTID, refusing a source that is not the checkpoint's,
//! and a fresh snapshot when the binlog at the checkpoint has been purged. The last two run on
//! scratch MariaDB servers (never the shared one).

use crate::support::{
    BridgeUnderTest, Source, WAIT, bridge_command, fresh_item_id, scratch_source, stockapp,
    wait_until,
};
use mysql_async::prelude::Queryable;
use tests::scratch_mariadb::ScratchMariaDb;

pub(crate) async fn on_hand(bridge: &BridgeUnderTest, key: u64) -> Option<i32> {
    sqlx::query_scalar("SELECT on_hand FROM stock.items WHERE item_key = $1 AND NOT deleted")
        .bind(key.to_string())
        .fetch_optional(&bridge.shop)
        .await
        .unwrap()
}

/// Adds an item with `quantity` in the main warehouse through `conn`.
pub(crate) async fn add_item(conn: &mut impl Queryable, id: u64, quantity: i32) {
    conn.exec_drop("INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, 'Resume Hat', 1, '9.9900')", (id, format!("R-{id}")))
        .await
        .unwrap();
    conn.exec_drop(
        "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, ?)",
        (id, quantity),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn resuming_by_file_and_position_works_too() {
    let mut bridge = BridgeUnderTest::start_on(Source {
        resume: "position",
        ..Source::shared()
    })
    .await;
    let mut app = stockapp().await;
    let (a, b) = (fresh_item_id(), fresh_item_id());
    add_item(&mut app, a, 2).await;
    wait_until("first item", || async {
        on_hand(&bridge, a).await == Some(2)
    })
    .await;
    bridge.crash_and_restart().await;
    add_item(&mut app, b, 3).await;
    wait_until("second item after the restart", || async {
        on_hand(&bridge, b).await == Some(3)
    })
    .await;
    for id in [a, b] {
        app.exec_drop("DELETE FROM stock_levels WHERE item_id = ?", (id,))
            .await
            .unwrap();
        app.exec_drop("DELETE FROM items WHERE id = ?", (id,))
            .await
            .unwrap();
    }
    bridge.stop().await;
}

/// A scratch source with a bridge that has snapshotted it and streamed item 1 (4 on hand), and a
/// root connection on its `legacy` schema.
/// Keep the server binding alive (`_server`, not `_`): dropping it stops the scratch server.
pub(crate) async fn streaming_scratch()
-> (ScratchMariaDb, Source, BridgeUnderTest, mysql_async::Conn) {
    let (server, source) = scratch_source().await;
    let bridge = BridgeUnderTest::start_on(source.clone()).await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    add_item(&mut root, 1, 4).await;
    wait_until("streamed", || async {
        on_hand(&bridge, 1).await == Some(4)
    })
    .await;
    (server, source, bridge, root)
}

#[tokio::test]
async fn a_purged_binlog_means_a_fresh_snapshot() {
    let (server, source, mut bridge, mut root) = streaming_scratch().await;

    // While the bridge is away, more changes, then the binlog holding them is purged.
    bridge.halt().await;
    add_item(&mut root, 2, 5).await;
    root.query_drop("FLUSH BINARY LOGS").await.unwrap();
    let current: (String, u64) = root
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .map(|r: mysql_async::Row| (r.get::<String, _>(0).unwrap(), r.get::<u64, _>(1).unwrap()))
        .unwrap();
    // PURGE cannot be prepared; the name is the server's own binlog file name.
    assert!(
        current
            .0
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    );
    // MariaDB keeps a file a replica's dump thread still reads (the halted bridge's thread lingers
    // until its next write fails): purge once no dump thread is left, and check it happened.
    wait_until("no binlog dump thread left on the scratch server", || async {
        let dumps: Option<i64> = server
            .root()
            .await
            .unwrap()
            .query_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
            .await
            .unwrap();
        dumps == Some(0)
    })
    .await;
    // The purge only takes files the binlog checkpoint has passed: retry until it did.
    wait_until("the older binlog is purged", || async {
        let mut root = server.root().await.unwrap();
        root.query_drop(format!("PURGE BINARY LOGS TO '{}'", current.0))
            .await
            .unwrap();
        let first: Option<mysql_async::Row> = root.query_first("SHOW BINARY LOGS").await.unwrap();
        first.and_then(|r| r.get::<String, _>(0)) == Some(current.0.clone())
    })
    .await;

    bridge.resume_on(Source {
        resume: "position",
        ..source
    });
    bridge
        .process
        .wait_for_log(
            "the binlog at the checkpoint is no longer on the source: taking a fresh snapshot",
            WAIT,
        )
        .await
        .unwrap();
    bridge
        .process
        .wait_for_log("snapshot switched in", WAIT)
        .await
        .unwrap();
    wait_until(
        "the change made while away arrives through the new snapshot",
        || async { on_hand(&bridge, 2).await == Some(5) },
    )
    .await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_different_server_behind_the_checkpoint_is_refused() {
    let (first, source) = scratch_source().await;
    let mut bridge = BridgeUnderTest::start_on(source).await;
    let mut root = first.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    for id in 1..=5 {
        add_item(&mut root, id, 1).await;
    }
    wait_until("streamed", || async {
        on_hand(&bridge, 5).await == Some(1)
    })
    .await;

    // A fresh server (a new data directory) has far fewer transactions than the checkpoint saw.
    let (_second, other) = scratch_source().await;
    bridge.halt().await;
    bridge.resume_on(other);
    let status = tokio::time::timeout(WAIT, bridge.process.child.wait())
        .await
        .expect("the bridge exits")
        .unwrap();
    // The exit can be seen before the reader has the last lines: read the output to its end.
    let log = bridge.process.log_to_end().await.join("\n");
    assert_eq!(status.code(), Some(16), "{log}");
    assert!(
        log.contains("not the server the checkpoint came from")
            && log.contains("behind the checkpoint"),
        "{log}"
    );
    // Nothing was written from the wrong server.
    assert_eq!(on_hand(&bridge, 5).await, Some(1));
    bridge.discard().await;
}

#[tokio::test]
async fn truncate_and_a_rename_swap_are_followed_by_a_fresh_snapshot_of_that_table() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    // TRUNCATE writes no row events: only a fresh snapshot shows the levels are gone. It is a
    // snapshot of that table alone: the items table is not copied again.
    root.query_drop("TRUNCATE TABLE stock_levels")
        .await
        .unwrap();
    let replaced = bridge
        .process
        .wait_for_log(
            "a mapped table was replaced on the source: taking a fresh snapshot of it",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(replaced["tables"], "[\"stock_levels\"]", "{replaced}");
    assert!(
        replaced["reason"]
            .as_str()
            .is_some_and(|r| r.contains("TRUNCATE")),
        "{replaced}"
    );
    let switched = bridge
        .process
        .wait_for_log("table snapshot switched in", WAIT)
        .await
        .unwrap();
    assert_eq!(switched["tables"], "[\"stock_levels\"]", "{switched}");
    wait_until("no stock after the truncate", || async {
        on_hand(&bridge, 1).await == Some(0)
    })
    .await;
    // The items were not reloaded, and the truncate's own statement is not met again on the
    // way: the item still streams, and the bridge took no second snapshot.
    root.query_drop("UPDATE items SET price = 12.50 WHERE id = 1")
        .await
        .unwrap();
    wait_until("the item streams on after the table snapshot", || async {
        crate::schema_changes::price(&bridge, 1).await == Some(1250)
    })
    .await;
    let whole = bridge
        .process
        .drain()
        .iter()
        .filter(|l| l.contains("\"snapshot switched in\""))
        .count();
    assert_eq!(
        whole,
        1,
        "only the first snapshot copies every table:\n{}",
        bridge.process.log.join("\n")
    );

    // An online schema change swaps a rebuilt copy in under the mapped name.
    root.query_drop(
        "CREATE TABLE stock_levels_new LIKE stock_levels;
         INSERT INTO stock_levels_new (item_id, location_id, quantity) VALUES (1, 1, 9);
         RENAME TABLE stock_levels TO stock_levels_old, stock_levels_new TO stock_levels",
    )
    .await
    .unwrap();
    wait_until("the swapped-in table's stock", || async {
        on_hand(&bridge, 1).await == Some(9)
    })
    .await;
    // And streaming goes on from the new table.
    root.query_drop("UPDATE stock_levels SET quantity = 2 WHERE item_id = 1")
        .await
        .unwrap();
    wait_until("streams again after the swap", || async {
        on_hand(&bridge, 1).await == Some(2)
    })
    .await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_change_logged_as_a_statement_stops_its_table_instead_of_being_skipped() {
    let (_server, _source, mut bridge, mut root) = streaming_scratch().await;

    // One session switches to statement-based logging: its UPDATE reaches the binlog as SQL text.
    root.query_drop("SET SESSION binlog_format = 'STATEMENT'")
        .await
        .unwrap();
    root.query_drop("UPDATE stock_levels SET quantity = 1 WHERE item_id = 1")
        .await
        .unwrap();
    root.query_drop("SET SESSION binlog_format = 'ROW'")
        .await
        .unwrap();
    let stopped = bridge
        .process
        .wait_for_log("mapped table stopped", WAIT)
        .await
        .unwrap();
    assert_eq!(stopped["table"], "stock_levels", "{stopped}");
    let reason = stopped["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("logged as a statement") && reason.contains("binlog_format=ROW"),
        "{stopped}"
    );
    // Nothing is skipped silently: the table is stopped, its items are not sellable, and
    // `bridge status` says so with the fix; the other tables go on.
    wait_until("item 1 no longer sellable", || async {
        crate::schema_changes::sellable(&bridge, 1).await == Some(false)
    })
    .await;
    assert_eq!(on_hand(&bridge, 1).await, Some(4), "nothing half-applied");
    let (code, status) = bridge_command(&bridge, &bridge.source, "status").await;
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("stopped tables: 1")
            && status.contains("logged as a statement")
            && status.contains("bridge snapshot --table stock_levels"),
        "{status}"
    );
    root.query_drop("UPDATE items SET price = '12.3400' WHERE id = 1")
        .await
        .unwrap();
    wait_until("the price change still arrives", || async {
        crate::schema_changes::price(&bridge, 1).await == Some(1234)
    })
    .await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_killed_binlog_connection_is_reopened_and_nothing_is_lost() {
    let (_server, _source, bridge, mut root) = streaming_scratch().await;

    // The source ends the replica's connection (a failover, a network cut, an operator's KILL).
    let dump: Option<u64> = root
        .query_first(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
        )
        .await
        .unwrap();
    root.query_drop(format!(
        "KILL {}",
        dump.expect("the bridge's binlog dump thread")
    ))
    .await
    .unwrap();
    add_item(&mut root, 2, 7).await;
    wait_until("the change after the cut arrives", || async {
        on_hand(&bridge, 2).await == Some(7)
    })
    .await;
    let positions: Vec<String> = sqlx::query_scalar("SELECT position FROM stock.change_log")
        .fetch_all(&bridge.shop)
        .await
        .unwrap();
    let unique: std::collections::BTreeSet<&String> = positions.iter().collect();
    assert_eq!(
        unique.len(),
        positions.len(),
        "no transaction applied twice across the reconnect"
    );
    bridge.stop().await;
}

#[tokio::test]
async fn a_corrupted_binlog_event_is_refused_not_applied() {
    let (server, source) = scratch_source().await;
    let mut bridge = BridgeUnderTest::start_on(source.clone()).await;
    bridge.halt().await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    root.query_drop("INSERT INTO items (id, sku, name, category_id, price) VALUES (1, 'CRC-1', 'CRCPROBE', 1, '1.0000')")
        .await
        .unwrap();
    let (file, _): (String, u64) = root
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .map(|r: mysql_async::Row| (r.get::<String, _>(0).unwrap(), r.get::<u64, _>(1).unwrap()))
        .unwrap();
    root.query_drop("FLUSH BINARY LOGS").await.unwrap();

    // Flip one letter of the row's bytes on disk: the event's CRC32 no longer matches.
    let path = server.data_dir().join(&file);
    let bytes = std::fs::read(&path).unwrap();
    // The last occurrence is the row image (the first is the statement's text in an annotation
    // event, which the server does not send to replicas).
    let at = bytes
        .windows(8)
        .rposition(|w| w == b"CRCPROBE")
        .expect("the row is in the binlog");
    let mut corrupted = bytes.clone();
    corrupted[at + 7] = b'F';
    std::fs::write(&path, corrupted).unwrap();

    bridge.resume_on(Source {
        resume: "position",
        ..source
    });
    let line = bridge
        .process
        .wait_for_log("replication interrupted", WAIT)
        .await
        .unwrap();
    assert!(
        line["error"]
            .as_str()
            .unwrap_or_default()
            .contains("CRC32 mismatch"),
        "{line}"
    );
    assert_eq!(
        on_hand(&bridge, 1).await,
        None,
        "the corrupted event was not applied"
    );
    bridge.stop().await;
}

/// Waits (bounded) until `replica` has applied everything `primary` has logged.
async fn replica_caught_up(primary: &ScratchMariaDb, replica: &ScratchMariaDb) {
    wait_until("the replica caught up", || async {
        let mut p = primary.root().await.unwrap();
        let mut r = replica.root().await.unwrap();
        let head: Option<String> = p.query_first("SELECT @@gtid_binlog_pos").await.unwrap();
        let applied: Option<String> = r.query_first("SELECT @@gtid_slave_pos").await.unwrap();
        p.disconnect().await.ok();
        r.disconnect().await.ok();
        head.is_some() && head == applied
    })
    .await;
}

#[tokio::test]
async fn a_failover_to_a_promoted_replica_is_followed_by_gtid_and_refused_by_position() {
    let (primary, source) = scratch_source().await;
    primary
        .create_user(
            "repl",
            "repl-dev",
            &["GRANT REPLICATION SLAVE ON *.* TO {user}"],
        )
        .await
        .unwrap();
    let replica_args: Vec<&str> = tests::scratch_mariadb::ROW_BINLOG
        .into_iter()
        .chain(["--log-slave-updates", "--server-id=2"])
        .collect();
    let replica = ScratchMariaDb::start(&replica_args).await.unwrap();
    let mut replica_root = replica.root().await.unwrap();
    // From the primary's first event: the schema, the bridge user and every row arrive.
    replica_root
        .query_drop(format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
             MASTER_PASSWORD='repl-dev', MASTER_USE_GTID=slave_pos",
            primary.port
        ))
        .await
        .unwrap();
    replica_root.query_drop("START SLAVE").await.unwrap();

    let mut bridge = BridgeUnderTest::start_on(source.clone()).await;
    let mut app = primary.root().await.unwrap();
    app.query_drop("USE legacy").await.unwrap();
    add_item(&mut app, 1, 4).await;
    add_item(&mut app, 2, 5).await;
    wait_until("streamed from the primary", || async {
        on_hand(&bridge, 2).await == Some(5)
    })
    .await;

    // The primary is lost; the replica, caught up, is promoted and takes the writes.
    replica_caught_up(&primary, &replica).await;
    bridge.halt().await;
    replica_root.query_drop("STOP SLAVE").await.unwrap();
    replica_root.query_drop("USE legacy").await.unwrap();
    add_item(&mut replica_root, 3, 6).await;
    replica_root
        .exec_drop(
            "UPDATE stock_levels SET quantity = 1 WHERE item_id = ?",
            (1u64,),
        )
        .await
        .unwrap();
    let promoted = |resume| Source {
        url: source.url.replace(
            &format!(":{}/", primary.port),
            &format!(":{}/", replica.port),
        ),
        tls: false,
        resume,
    };

    // By file and position the promoted replica is refused: its binlog of the same name is its own.
    let (code, out) = bridge_command(&bridge, &promoted("position"), "run").await;
    assert_eq!(code, 16, "{out}");
    assert!(out.contains("positions are per server"), "{out}");

    // By GTID the bridge follows it: nothing lost, nothing doubled.
    bridge.resume_on(promoted("gtid"));
    wait_until("streamed from the promoted replica", || async {
        on_hand(&bridge, 3).await == Some(6) && on_hand(&bridge, 1).await == Some(1)
    })
    .await;
    let (code, out) = bridge_command(&bridge, &promoted("gtid"), "verify").await;
    assert_eq!(code, 0, "{out}");
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.change_log")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT position) FROM stock.change_log")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert_eq!(logged, distinct, "no transaction applied twice");
    bridge.stop().await;
}
