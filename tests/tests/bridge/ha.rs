//! Two bridges: the standby holds no binlog connection, takes over within 10 s when the leader is
//! paused (SIGSTOP), and the old leader, resumed, writes nothing: its epoch is fenced.

use crate::support::{BridgeUnderTest, WAIT, fresh_item_id, stockapp, wait_until};
use mysql_async::prelude::Queryable;
use std::time::Duration;

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test]
async fn a_paused_leader_is_replaced_and_fenced() {
    let mut bridge = BridgeUnderTest::start().await;
    let mut standby = bridge.spawn_second();
    standby
        .wait_for_log("another bridge leads; standing by", WAIT)
        .await
        .unwrap();

    let leader_pid = bridge.process.child.id().unwrap();
    signal(leader_pid, "-STOP");
    // The lease is 5 s and the standby looks every second: 10 s is the promise.
    standby
        .wait_for_log("leading", Duration::from_secs(10))
        .await
        .unwrap();
    standby
        .wait_for_log("binlog stream started", WAIT)
        .await
        .unwrap();

    let mut app = stockapp().await;
    let id = fresh_item_id();
    app.exec_drop("INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, 'HA Hat', 1, '5.0000')", (id, format!("HA-{id}")))
        .await
        .unwrap();
    app.exec_drop(
        "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, 6)",
        (id,),
    )
    .await
    .unwrap();
    wait_until("the new leader applies changes", || async {
        let on_hand: Option<i32> =
            sqlx::query_scalar("SELECT on_hand FROM stock.items WHERE item_key = $1")
                .bind(id.to_string())
                .fetch_optional(&bridge.shop)
                .await
                .unwrap();
        on_hand == Some(6)
    })
    .await;

    // The old leader wakes up: its next write is refused by the epoch, and it stops.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.change_log")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    signal(leader_pid, "-CONT");
    let status = tokio::time::timeout(WAIT, bridge.process.child.wait())
        .await
        .expect("the old leader exits")
        .unwrap();
    assert!(!status.success(), "a fenced leader exits with an error");
    let log = bridge.process.log_to_end().await.join("\n");
    assert!(log.contains("no longer the leader"), "{log}");
    let leader: String = sqlx::query_scalar("SELECT leader FROM stock.checkpoint")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert!(
        !leader.contains(&format!(":{leader_pid}:")),
        "the checkpoint names the new leader, not {leader_pid}: {leader}"
    );
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.change_log")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert!(after >= before);

    app.exec_drop("DELETE FROM stock_levels WHERE item_id = ?", (id,))
        .await
        .unwrap();
    app.exec_drop("DELETE FROM items WHERE id = ?", (id,))
        .await
        .unwrap();
    let status = standby.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(status.success());
    bridge.discard().await;
}

#[tokio::test]
async fn a_long_snapshot_keeps_the_lease_and_the_standby_waits() {
    let (server, source) = crate::support::scratch_source().await;
    let mut bridge = BridgeUnderTest::start_on(source).await;
    let mut standby = bridge.spawn_second();
    standby
        .wait_for_log("another bridge leads; standing by", WAIT)
        .await
        .unwrap();

    // A TRUNCATE of a mapped table means a fresh snapshot of it; that table is write-locked by
    // another session, so the snapshot waits — far longer than the 5 s lease.
    let mut locker = server.root().await.unwrap();
    locker.query_drop("USE legacy").await.unwrap();
    let mut root = server.root().await.unwrap();
    root.query_drop("TRUNCATE TABLE legacy.stock_levels")
        .await
        .unwrap();
    locker
        .query_drop("LOCK TABLES stock_levels WRITE")
        .await
        .unwrap();
    bridge
        .process
        .wait_for_log(
            "a mapped table was replaced on the source: taking a fresh snapshot of it",
            WAIT,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        !standby.has_logged("leading")
            && !standby.drain().iter().any(|l| l.contains("\"leading\"")),
        "the standby took over a leader busy with a snapshot:\n{}",
        standby.log.join("\n")
    );
    locker.query_drop("UNLOCK TABLES").await.unwrap();
    bridge
        .process
        .wait_for_log("table snapshot switched in", WAIT)
        .await
        .unwrap();
    let leader: String = sqlx::query_scalar("SELECT leader FROM stock.checkpoint")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    let pid = bridge.process.child.id().unwrap();
    assert!(
        leader.contains(&format!(":{pid}:")),
        "{leader}; leader's log:\n{}\nstandby's log:\n{}",
        bridge.log_tail(30),
        standby.drain().join("\n")
    );
    standby.terminate(Duration::from_secs(10)).await.unwrap();
    drop(locker);
    bridge.stop().await;
}
