//! Outages under load: PostgreSQL stopped for 60 s, then the legacy MariaDB unreachable for 10 s,
//! while stock staff keep changing stock. The bridge's connections go through proxies the test
//! cuts (new connections refused, open ones dropped — for PostgreSQL after the server has ended
//! the bridge's sessions itself, as a shutdown does), so the servers other tests share are
//! untouched. Afterwards the replica catches up with zero drift, and the bridge's memory stayed
//! bounded throughout.

use crate::support::{BridgeUnderTest, Source, bridge_command, scratch_source, wait_until};
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::cut_proxy::CutProxy;
use tests::stack::env;

const ITEMS: u64 = 5;

/// `host:port` of a URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

/// The bridge process's resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn on_hand(bridge: &BridgeUnderTest) -> BTreeMap<u64, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT item_key, on_hand_raw FROM stock.items WHERE NOT deleted ORDER BY item_key",
    )
    .fetch_all(&bridge.shop)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(k, q)| (k.parse().unwrap(), q))
        .collect()
}

#[tokio::test]
async fn postgres_stopped_and_mariadb_unreachable_under_load_end_with_zero_drift() {
    let (server, direct) = scratch_source().await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    for id in 1..=ITEMS {
        root.exec_drop(
            "INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, 'Outage Hat', 1, '5.0000')",
            (id, format!("O-{id}")),
        )
        .await
        .unwrap();
        root.exec_drop(
            "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, 0)",
            (id,),
        )
        .await
        .unwrap();
    }
    let mariadb = CutProxy::start(&host_port(&direct.url)).await.unwrap();
    let postgres = CutProxy::start(&host_port(&env("SHOP_DATABASE_URL")))
        .await
        .unwrap();
    let source = Source {
        url: direct.url.replace(
            &host_port(&direct.url),
            &format!("127.0.0.1:{}", mariadb.port),
        ),
        ..direct.clone()
    };
    let pg_port = postgres.port;
    let mut bridge = BridgeUnderTest::start_custom(source.clone(), move |db| {
        let url = db.url("bridge");
        let proxied = url.replace(&host_port(&url), &format!("127.0.0.1:{pg_port}"));
        vec![("FUNNYHAT_TARGET__URL".to_owned(), proxied)]
    })
    .await;
    let pid = bridge.process.child.id().unwrap();

    // Stock staff: about 20 transactions a second, each setting one item's quantity.
    let written = Arc::new(Mutex::new(BTreeMap::<u64, i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let staff = tokio::spawn({
        let written = written.clone();
        let stop = stop.clone();
        let mut conn = server.root().await.unwrap();
        async move {
            conn.query_drop("USE legacy").await.unwrap();
            let mut n: i64 = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let id = u64::try_from(n).unwrap() % ITEMS + 1;
                conn.exec_drop(
                    "UPDATE stock_levels SET quantity = ? WHERE item_id = ? AND location_id = 1",
                    (n, id),
                )
                .await
                .unwrap();
                written.lock().unwrap().insert(id, n);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            n
        }
    });
    let mut peak = rss_mib(pid);
    let watch = |secs: u64| {
        let bridge_pid = pid;
        async move {
            let mut peak: f64 = 0.0;
            for _ in 0..secs {
                tokio::time::sleep(Duration::from_secs(1)).await;
                peak = peak.max(rss_mib(bridge_pid));
            }
            peak
        }
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // PostgreSQL stopped for 60 s, as its clients see a fast shutdown: every open session ends with
    // "terminating connection due to administrator command" (57P01), and new connections are
    // refused. The bridge retries with backoff and keeps its place.
    postgres.refuse_new();
    let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = $1 AND usename = 'bridge'",
    )
    .bind(&bridge.db.name)
    .fetch_one(&admin)
    .await
    .unwrap();
    admin.close().await;
    assert!(ended > 0, "the bridge had sessions to end");
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.cut();
    peak = peak.max(watch(60).await);
    postgres.restore();
    let caught_up = |what: &'static str| {
        let written = written.clone();
        let bridge = &bridge;
        async move {
            wait_until(what, || async {
                let expected = written.lock().unwrap().clone();
                on_hand(bridge).await == expected
            })
            .await;
        }
    };
    caught_up("caught up after PostgreSQL came back").await;

    // The legacy MariaDB unreachable for 10 s.
    mariadb.cut();
    peak = peak.max(watch(10).await);
    mariadb.restore();
    caught_up("caught up after MariaDB came back").await;

    stop.store(true, Ordering::SeqCst);
    let transactions = staff.await.unwrap();
    caught_up("caught up with the last change").await;
    assert!(transactions > 500, "{transactions} staff transactions");
    let (code, out) = bridge_command(&bridge, &source, "verify").await;
    assert_eq!(code, 0, "verify: {out}");
    assert!(out.contains("equal"), "{out}");
    // Bounded: the reader's channel holds at most 1,024 transactions while the target is away.
    assert!(peak > 0.0 && peak < 150.0, "peak RSS {peak:.1} MiB");
    let log = bridge.log_tail(400);
    assert!(
        log.contains("replication interrupted"),
        "the outage was seen"
    );
    bridge.stop().await;
}

#[tokio::test]
async fn a_restart_of_the_legacy_mariadb_is_followed_into_its_new_binlog() {
    let (mut server, source) = scratch_source().await;
    let bridge = BridgeUnderTest::start_on(source.clone()).await;
    let mut expected = BTreeMap::new();
    let mut n: i64 = 0;
    let mut write = |conn: mysql_async::Conn, rounds: i64| {
        let mut conn = conn;
        let start = n;
        n += rounds;
        let mut done = Vec::new();
        async move {
            conn.query_drop("USE legacy").await.unwrap();
            for k in start..start + rounds {
                let id = u64::try_from(k).unwrap() % ITEMS + 1;
                conn.exec_drop(
                    "INSERT INTO items (id, sku, name, category_id, price) VALUES (?, ?, 'Restart Hat', 1, '5.0000')
                     ON DUPLICATE KEY UPDATE price = '5.0000'",
                    (id, format!("R-{id}")),
                )
                .await
                .unwrap();
                conn.exec_drop(
                    "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, ?)
                     ON DUPLICATE KEY UPDATE quantity = VALUES(quantity)",
                    (id, k),
                )
                .await
                .unwrap();
                done.push((id, k));
            }
            conn.disconnect().await.ok();
            done
        }
    };
    expected.extend(write(server.root().await.unwrap(), 40).await);
    let before: Option<String> = {
        let mut root = server.root().await.unwrap();
        let row: Option<mysql_async::Row> = root.query_first("SHOW MASTER STATUS").await.unwrap();
        row.and_then(|r| r.get(0))
    };
    server.restart().await.unwrap();
    expected.extend(write(server.root().await.unwrap(), 40).await);
    let after: Option<String> = {
        let mut root = server.root().await.unwrap();
        let row: Option<mysql_async::Row> = root.query_first("SHOW MASTER STATUS").await.unwrap();
        row.and_then(|r| r.get(0))
    };
    assert_ne!(before, after, "a restarted server writes a new binlog file");
    wait_until("caught up after the restart", || async {
        on_hand(&bridge).await == expected
    })
    .await;
    let (code, out) = bridge_command(&bridge, &source, "verify").await;
    assert_eq!(code, 0, "verify: {out}");
    bridge.stop().await;
}
