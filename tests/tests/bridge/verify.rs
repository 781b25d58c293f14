//! `bridge verify`: 0 when the replica matches a consistent snapshot of the source, 1 with the
//! differing keys when it does not, 2 when it cannot tell.

use crate::support::{BridgeUnderTest, bridge_command, scratch_source};
use mysql_async::prelude::Queryable;
use tests::stack::{env, with_database};

#[tokio::test]
async fn verify_finds_no_drift_then_names_planted_drift() {
    // A scratch source that only this test writes to: on the shared one another test's change to
    // the same item would overwrite the planted drift before verify looks.
    let (server, source) = scratch_source().await;
    let mut root = server.root().await.unwrap();
    root.query_drop(
        "INSERT INTO legacy.items (id, sku, name, category_id, price) VALUES
           (1, 'V-1', 'Verify Hat', 1, '5.0000'), (2, 'V-2', 'Other Hat', 1, '6.0000');
         INSERT INTO legacy.stock_levels (item_id, location_id, quantity) VALUES (1, 1, 4), (2, 1, 9)",
    )
    .await
    .unwrap();
    let bridge = BridgeUnderTest::start_on(source).await;
    let (code, out) = bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("equal:"), "{out}");

    // Plant drift behind the bridge's back (as the superuser: no role may do this).
    let admin = sqlx::PgPool::connect(&with_database(&env("PG_ADMIN_URL"), &bridge.db.name))
        .await
        .unwrap();
    sqlx::query("UPDATE stock.items SET on_hand = on_hand + 1000 WHERE item_key = '1'")
        .execute(&admin)
        .await
        .unwrap();
    let (code, out) = bridge_command(&bridge, &bridge.source, "verify").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("item 1: ")),
        "names the drifting key: {out}"
    );
    admin.close().await;
    bridge.stop().await;
}

#[tokio::test]
async fn verify_that_cannot_decide_exits_2() {
    let bridge = BridgeUnderTest::start().await;
    let unreachable = crate::support::Source {
        url: "mysql://bridge:bridge-dev@127.0.0.1:1/legacy".into(),
        ..bridge.source.clone()
    };
    let (code, out) = bridge_command(&bridge, &unreachable, "verify").await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("verify failed"), "{out}");
    bridge.stop().await;
}
