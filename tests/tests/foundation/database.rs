//! The shop database's roles keep each program to its side: `bridge` writes schema `stock` only,
//! `shop` only reads it, and neither touches the migrator's bookkeeping.

use tests::stack::ShopDatabase;

async fn denied(pool: &sqlx::PgPool, sql: &str) -> bool {
    match sqlx::query(sql).execute(pool).await {
        Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some("42501"),
        Err(e) => panic!("{sql}: unexpected error {e}"),
        Ok(_) => false,
    }
}

const INSERT_ITEM: &str = "INSERT INTO stock.items (item_key, source_table, currency, generation, changed_at) \
                           VALUES ('1', 'items', 'GBP', 1, '0-1-1')";

#[tokio::test]
async fn each_role_is_refused_on_the_others_tables() {
    let db = ShopDatabase::create().await.unwrap();
    let bridge = db.connect("bridge").await.unwrap();
    let shop = db.connect("shop").await.unwrap();

    // The bridge writes its own tables...
    sqlx::query(INSERT_ITEM)
        .execute(&bridge)
        .await
        .expect("bridge may write stock.items");
    sqlx::query("UPDATE stock.items SET on_hand = 3 WHERE item_key = '1'")
        .execute(&bridge)
        .await
        .unwrap();
    // ...and the shop may read them, never write them.
    let on_hand: i32 = sqlx::query_scalar("SELECT on_hand FROM stock.items WHERE item_key = '1'")
        .fetch_one(&shop)
        .await
        .unwrap();
    assert_eq!(on_hand, 3);
    assert!(
        denied(&shop, "UPDATE stock.items SET on_hand = 99").await,
        "shop must not write stock.items"
    );
    assert!(
        denied(&shop, "DELETE FROM stock.checkpoint").await,
        "shop must not write the checkpoint"
    );
    assert!(
        denied(&shop, "CREATE TABLE stock.sneaky (x int)").await,
        "shop must not create in stock"
    );

    // The bridge has no business in the shop's schema or the migrator's bookkeeping.
    assert!(denied(&bridge, "CREATE TABLE shop.sneaky (x int)").await);
    assert!(
        denied(&bridge, "SELECT 1 FROM shop.nothing_here").await,
        "bridge must not even see schema shop"
    );
    assert!(denied(&bridge, "SELECT * FROM public._sqlx_migrations").await);
    assert!(denied(&shop, "DELETE FROM public._sqlx_migrations").await);
    assert!(denied(&bridge, "CREATE TABLE public.sneaky (x int)").await);
    assert!(
        denied(&bridge, "DROP TABLE stock.items").await,
        "only the owner (migrator) may drop"
    );

    bridge.close().await;
    shop.close().await;
    db.drop_now().await.unwrap();
}

#[tokio::test]
async fn freshness_is_unknown_until_a_snapshot_completes() {
    let db = ShopDatabase::create().await.unwrap();
    let bridge = db.connect("bridge").await.unwrap();
    let shop = db.connect("shop").await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.freshness")
        .fetch_one(&shop)
        .await
        .unwrap();
    assert_eq!(
        rows, 0,
        "no checkpoint yet: readers must treat the replica as past the hard limit"
    );
    sqlx::query("INSERT INTO stock.checkpoint (epoch, leader, source_server, snapshot_done, caught_up_at) VALUES (1, 'b1', 's', false, now())")
        .execute(&bridge)
        .await
        .unwrap();
    let staleness: Option<f64> =
        sqlx::query_scalar("SELECT extract(epoch FROM staleness)::float8 FROM stock.freshness")
            .fetch_one(&shop)
            .await
            .unwrap();
    assert_eq!(staleness, None, "a snapshot in progress counts as stale");
    sqlx::query("UPDATE stock.checkpoint SET snapshot_done = true")
        .execute(&bridge)
        .await
        .unwrap();
    let staleness: Option<f64> =
        sqlx::query_scalar("SELECT extract(epoch FROM staleness)::float8 FROM stock.freshness")
            .fetch_one(&shop)
            .await
            .unwrap();
    assert!(
        staleness.is_some_and(|s| (0.0..60.0).contains(&s)),
        "{staleness:?}"
    );
    bridge.close().await;
    shop.close().await;
    db.drop_now().await.unwrap();
}
