//! Pictures on the stock path: the bridge records each item's picture by hash and queues an image
//! job in the same transaction as the stock change, only when the picture really changed.

use crate::support::{BridgeUnderTest, admin, fresh_item_id, stockapp, wait_until};
use mysql_async::prelude::Queryable;

async fn jobs(bridge: &BridgeUnderTest, key: u64) -> Vec<String> {
    sqlx::query_scalar("SELECT source_sha256 FROM stock.image_jobs WHERE item_key = $1 ORDER BY id")
        .bind(key.to_string())
        .fetch_all(&bridge.shop)
        .await
        .unwrap()
}

async fn price(bridge: &BridgeUnderTest, key: u64) -> Option<i64> {
    sqlx::query_scalar::<_, Option<i64>>("SELECT price_minor FROM stock.items WHERE item_key = $1")
        .bind(key.to_string())
        .fetch_optional(&bridge.shop)
        .await
        .unwrap()
        .flatten()
}

async fn picture(bridge: &BridgeUnderTest, key: u64) -> Option<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT status::text, encode(source_sha256, 'hex') FROM stock.images WHERE item_key = $1",
    )
    .bind(key.to_string())
    .fetch_optional(&bridge.shop)
    .await
    .unwrap()
}

/// The source's own SHA-256 of an item's picture (the snapshot path asks the source the same way).
async fn source_hash(id: u64) -> String {
    let mut conn = admin().await;
    let hash: Option<String> = conn
        .exec_first(
            "SELECT SHA2(image, 256) FROM legacy.items WHERE id = ?",
            (id,),
        )
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    hash.expect("the item has a picture")
}

#[tokio::test]
async fn a_new_or_replaced_picture_queues_one_job_and_a_price_change_none() {
    let bridge = BridgeUnderTest::start().await;
    // The snapshot: an item without a picture is "none", not failed.
    let mut conn = admin().await;
    let without: u64 = conn
        .query_first("SELECT id FROM legacy.items WHERE image IS NULL ORDER BY id LIMIT 1")
        .await
        .unwrap()
        .unwrap();
    conn.disconnect().await.unwrap();
    assert_eq!(
        picture(&bridge, without).await.map(|p| p.0).as_deref(),
        Some("none")
    );

    let mut app = stockapp().await;
    let id = fresh_item_id();
    app.exec_drop(
        "INSERT INTO items (id, sku, name, category_id, price, image, image_mime) VALUES (?, ?, 'Picture Hat', 1, '7.0000', ?, 'image/jpeg')",
        (id, format!("P-{id}"), b"first picture bytes".to_vec()),
    )
    .await
    .unwrap();
    let first = source_hash(id).await;
    wait_until("the new picture is pending with a job", || async {
        jobs(&bridge, id).await == vec![first.clone()]
    })
    .await;
    assert_eq!(
        picture(&bridge, id).await,
        Some(("pending".into(), Some(first.clone()))),
        "binlog hash = source's SHA2"
    );

    // A price update rewrites the whole row, picture included: no new job.
    app.exec_drop("UPDATE items SET price = '8.0000' WHERE id = ?", (id,))
        .await
        .unwrap();
    wait_until("the price change arrives", || async {
        price(&bridge, id).await == Some(800)
    })
    .await;
    assert_eq!(
        jobs(&bridge, id).await,
        vec![first.clone()],
        "an unchanged picture is not queued again"
    );

    // A replaced picture is queued once more.
    app.exec_drop(
        "UPDATE items SET image = ? WHERE id = ?",
        (b"second picture bytes".to_vec(), id),
    )
    .await
    .unwrap();
    let second = source_hash(id).await;
    wait_until("the replaced picture is queued", || async {
        jobs(&bridge, id).await == vec![first.clone(), second.clone()]
    })
    .await;

    // A 20 MiB picture: one row event larger than MySQL's 16 MiB packet. It streams like any other
    // row, and a stock change right after it arrives too.
    let big: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    app.exec_drop("UPDATE items SET image = ? WHERE id = ?", (big, id))
        .await
        .unwrap();
    let third = source_hash(id).await;
    app.exec_drop("UPDATE items SET price = '9.0000' WHERE id = ?", (id,))
        .await
        .unwrap();
    wait_until(
        "the 20 MiB picture is queued and the price follows",
        || async {
            price(&bridge, id).await == Some(900) && jobs(&bridge, id).await.last() == Some(&third)
        },
    )
    .await;

    app.exec_drop("DELETE FROM items WHERE id = ?", (id,))
        .await
        .unwrap();
    bridge.stop().await;
}
